#!/usr/bin/env bash
# The delay queue over HTTP with curl: register a topic, schedule, read, count, remove.
# Usage: DQ_URL=http://127.0.0.1:8088 [DQ_TOKEN=...] examples/curl/delay-queue.sh
set -euo pipefail
url=${DQ_URL:-http://127.0.0.1:8088}
auth=()
[[ -n ${DQ_TOKEN:-} ]] && auth=(-H "Authorization: Bearer $DQ_TOKEN")
call() { curl -sS --fail-with-body "${auth[@]}" -H 'Content-Type: application/json' "$@"; echo; }

echo "# register topic pay.notify: deliveries go to the merchant's callback, retried 1/3/5/15/30 s"
call -X PUT "$url/v1/topics/pay.notify" \
  -d '{"callback":"http://127.0.0.1:9000/notify","method":"POST","retry":[1,3,5,15,30],"timeout_ms":3000}'

echo "# schedule a notification 60 s from now (or \"fix_time\":\"2026-12-01 10:00:00\")"
call -X POST "$url/v1/topics/pay.notify/messages" \
  -d '{"id":"order-1001","body":{"order":1001,"amount":"99.50","status":"paid"},"delay":60}'

echo "# read it back"
call "$url/v1/topics/pay.notify/messages/order-1001"

echo "# counts per state"
call "$url/v1/topics/pay.notify/stats"

echo "# the merchant was notified some other way: cancel it"
call -X DELETE "$url/v1/topics/pay.notify/messages/order-1001"
echo "# gone: 404"
curl -sS "${auth[@]}" -o /dev/null -w '%{http_code}\n' "$url/v1/topics/pay.notify/messages/order-1001"
