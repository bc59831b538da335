#!/usr/bin/env bash
# The payment-notify ladder, live: a gateway with its workers, a merchant endpoint that fails
# three times, one notification added from PHP, and the timeline of its deliveries.
# Usage: examples/ladder/run.sh [GATEWAY_PORT]   (default: a free port; needs make build, Redis)
# shellcheck disable=SC2016  # PHP code in single quotes
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
prefix=dq-ladder-$$                          # keys of this run only, removed at the end
secret=ladder-secret
id=pay-1001
free_port() { php -n -r '$s = stream_socket_server("tcp://127.0.0.1:0"); echo explode(":", stream_socket_get_name($s, false))[1];'; }
gw=http://127.0.0.1:${1:-$(free_port)}
sink=http://127.0.0.1:$(free_port)
tmp=$(mktemp -d)
pids=()

cleanup() {
  set +e
  ((${#pids[@]})) && kill "${pids[@]}" 2>/dev/null && wait "${pids[@]}" 2>/dev/null
  redis-cli --scan --pattern "$prefix:*" | xargs -r redis-cli del >/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# Waits until process $1 says $3 in its log $2.
wait_for() {
  for _ in $(seq 100); do
    grep -qF "$3" "$2" && return
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  echo "it did not start:" >&2; cat "$2" >&2; exit 1
}
api() { curl -sS -H 'Content-Type: application/json' "$@"; }

# The gateway, workers on, in its own prefix (a clean environment: no DQ_TOKEN, DQ_REDIS from the shell).
env -i PATH="$PATH" DQ_PREFIX="$prefix" DQ_LISTEN="${gw#http://}" DQ_LOG=info \
  "$root/build/dq-gateway" >"$tmp/gateway.log" 2>&1 &
pids+=($!)
# The merchant.
DQ_LADDER_SECRET=$secret DQ_LADDER_LOG="$tmp/sink.log" \
  php -S "${sink#http://}" "$here/sink.php" >"$tmp/sink.out" 2>&1 &
pids+=($!)
wait_for "${pids[0]}" "$tmp/gateway.log" "listening on $gw"
wait_for "${pids[1]}" "$tmp/sink.out" "Server ($sink) started"
echo "gateway $gw (prefix $prefix, workers on), merchant $sink/notify"

echo "register pay.notify:"
api --fail-with-body -X PUT "$gw/v1/topics/pay.notify" \
  -d "{\"callback\":\"$sink/notify\",\"retry\":[1,3,5,15,30],\"timeout_ms\":3000,\"secret\":\"$secret\"}"
echo

# What the shop's PHP does when an order is paid: notify the merchant now.
added=$(php -n -d extension="$root/build/dq.so" -d dq.prefix="$prefix" -r '
  $t = microtime(true);
  (new DqClient())->add("pay.notify", ["id" => $argv[1], "body" => ["order" => 1001, "amount" => "99.50", "status" => "paid"], "delay" => 0]);
  printf("%.3f", $t);' "$id")
echo "added $id with DqClient at $(date -d "@$added" +%T.%3N)"

# Wait until the message is delivered (then it is gone: 404) or dead, at most ~15 s.
for _ in $(seq 150); do
  code=$(curl -s -o "$tmp/message.json" -w '%{http_code}' "$gw/v1/topics/pay.notify/messages/$id" || true)
  if ((code == 404)); then state=delivered; break; fi
  state=$(sed -n 's/.*"state":"\([a-z]*\)".*/\1/p' "$tmp/message.json")
  [[ $state == dead ]] && break
  sleep 0.1
done

echo "timeline (from the add):"
awk -v t0="$added" '{
  sub(/attempt=/, "", $3); sub(/answered=/, "", $5)
  gap = prev ? sprintf("waited %.2f s", $1 - prev) : ""
  printf "  attempt %s  %+6.2f s  %-14s  answered %s (%s)\n", $3, $1 - t0, gap, $5, $4
  prev = $1 }' "$tmp/sink.log"
case $state in
  delivered) echo "final state: delivered (the 200 removed it: GET .../messages/$id is 404)" ;;
  dead) echo "final state: dead letter: $(cat "$tmp/message.json")" ;;
  *) echo "final state: still ${state:-unknown} after 15 s" ;;
esac
echo "stats: $(api "$gw/v1/topics/pay.notify/stats")"
