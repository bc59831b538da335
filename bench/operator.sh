#!/usr/bin/env bash
# make bench, the operator's side: with 1,000 topics and 100,000 dead letters in one of them,
# how long the gateway takes to answer what the admin UI asks (server time: curl's
# time_starttransfer - time_pretransfer on loopback), against the issue's 300 ms bound:
#   - the dashboard's GET /v1/overview (every topic's counts, subscriptions, health);
#   - GET /v1/topics (the topics page);
#   - a dead-letter page: the first 100, the last 100 (offset 99,900), and a filtered one (text
#     found in a body: every letter read).
# Dead letters are made the real way: 100,000 messages added with DqClient::addMany, delivered
# to a callback that refuses connections, with no retry. Sizes: DQ_BENCH_TOPICS,
# DQ_BENCH_DEAD, DQ_BENCH_SAMPLES. Keys and processes go away on any exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
topics=${DQ_BENCH_TOPICS:-1000}
dead=${DQ_BENCH_DEAD:-100000}
samples=${DQ_BENCH_SAMPLES:-20}
export DQ_REDIS=${DQ_REDIS:-redis://127.0.0.1:6379/0}
redis=(redis-cli -u "$DQ_REDIS")
tmp=$(mktemp -d)
pids=()
prefix="dqbench-op-$$"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cleanup() {
  local pid
  for pid in "${pids[@]}"; do stop "$pid"; done
  "${redis[@]}" --scan --pattern "$prefix:*" | xargs -r -n 100 "${redis[@]}" unlink >/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== The admin UI's reads with $topics topics and $dead dead letters (server time, bound 300 ms)"
port=$(free_port)
cat >"$tmp/gateway.toml" <<TOML
[workers]
dead_keep = $((dead * 2))
concurrency = 256
topic_concurrency = 256
TOML
DQ_LISTEN=127.0.0.1:$port DQ_PREFIX=$prefix DQ_LOG=warn build/dq-gateway --config "$tmp/gateway.toml" 2>>"$tmp/gateway.log" &
pids+=($!)
gw=http://127.0.0.1:$port
for _ in $(seq 100); do curl -fs "$gw/healthz" >/dev/null && break; sleep 0.1; done
curl -fs "$gw/healthz" >/dev/null || { cat "$tmp/gateway.log" >&2; exit 1; }

# The topics (curl reads the list of requests from a file: one process for all of them).
for i in $(seq 2 "$topics"); do
  printf -- '-X PUT\n-s\n-o /dev/null\n-d {"callback":"http://127.0.0.1:9/t%d","status":"paused"}\nurl = "%s/v1/topics/bench.t%04d"\nnext\n' "$i" "$gw" "$i"
done >"$tmp/put.cfg"
sed -i '$d' "$tmp/put.cfg"
curl -sS -K "$tmp/put.cfg"
curl -fsS -X PUT "$gw/v1/topics/bench.dead" \
  -d '{"callback":"http://127.0.0.1:9/refused","retry":[],"timeout_ms":1000}' >/dev/null
registered=$(curl -fsS "$gw/v1/topics" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["topics"]))')

# The dead letters.
started=$EPOCHREALTIME
php -n -d "extension=$root/build/dq.so" bench/delivery-load.php "$prefix" bench.dead "$dead" 0 0 >/dev/null
for _ in $(seq 1200); do
  n=$(curl -fsS "$gw/v1/topics/bench.dead/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["dead"])')
  ((n >= dead)) && break
  sleep 0.5
done
printf "  %s topics registered; %s dead letters made in %.0f s\n" "$registered" "$n" \
  "$(echo "$EPOCHREALTIME - $started" | bc)"

# Median and slowest server time of $samples requests of $2 (after one warm-up), in ms.
measure() {
  local label=$1 url=$2 times
  curl -fsS -o /dev/null "$gw$url"
  times=$(for _ in $(seq "$samples"); do
    curl -fsS -o /dev/null -w '%{time_pretransfer} %{time_starttransfer}\n' "$gw$url"
  done | awk '{ printf "%.3f\n", ($2 - $1) * 1000 }' | sort -n)
  python3 - "$label" "$times" <<'PY'
import sys
label, times = sys.argv[1], [float(t) for t in sys.argv[2].split()]
median = times[len(times) // 2]
slowest = times[-1]
print(f"  {label:<44} median {median:7.1f} ms, slowest {slowest:7.1f} ms"
      f"  = {median / 300:.2f}x of the 300 ms bound{'' if slowest <= 300 else '  OVER THE BOUND'}")
PY
}
measure "dashboard: GET /v1/overview" "/v1/overview"
measure "topics page: GET /v1/topics" "/v1/topics"
measure "dead letters, first page (100)" "/v1/topics/bench.dead/dead?limit=100"
measure "dead letters, last page (offset $((dead - 100)))" "/v1/topics/bench.dead/dead?offset=$((dead - 100))&limit=100"
measure "dead letters, filtered (?q=, all $dead read)" "/v1/topics/bench.dead/dead?q=m$((dead / 2))x&limit=100"
measure "dead letters, by status (?status=none)" "/v1/topics/bench.dead/dead?status=none&limit=100"
