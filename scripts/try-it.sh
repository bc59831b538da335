#!/usr/bin/env bash
# Printed by `make run` before the gateway starts: how to try it from another terminal.
root=$(cd "$(dirname "$0")/.." && pwd)
cat <<TEXT

dq-gateway is starting on http://127.0.0.1:8088 (built-in defaults; \`build/dq-gateway --print-config\`
shows them; DQ_LISTEN, DQ_REDIS, DQ_PREFIX, DQ_TOKEN override them). Ctrl-C stops it.

Try it from another terminal:

  # register a topic (where due messages will be delivered)
  curl -X PUT localhost:8088/v1/topics/pay.notify -d '{"callback":"http://127.0.0.1:9000/notify","retry":[1,3,5,15,30]}'

  # schedule a message 60 s from now, read it back, count, remove
  curl -X POST localhost:8088/v1/topics/pay.notify/messages -d '{"id":"order-42","body":{"amount":99.5},"delay":60}'
  curl localhost:8088/v1/topics/pay.notify/messages/order-42
  curl localhost:8088/v1/topics/pay.notify/stats
  curl -X DELETE localhost:8088/v1/topics/pay.notify/messages/order-42

  # the same from PHP, with the extension built in build/dq.so
  php -d extension=$root/build/dq.so -r '
    \$dq = new DqClient();
    \$dq->add("pay.notify", ["id" => "order-43", "body" => ["amount" => 10], "delay" => 30]);
    var_dump(\$dq->get("pay.notify", "order-43"));'

  curl localhost:8088/healthz; curl localhost:8088/metrics

TEXT
