#!/usr/bin/env bash
# make bench, scale-out: one Redis server against a Redis Cluster of 3 masters (both private to
# this run, on loopback, without persistence or replicas), and 1, 2 and 4 gateways on the
# cluster, in one run:
#   1. adds/s: POST /v1/topics/{t}/messages, wrk with 64 connections spread over the gateways;
#   2. deliveries/s: DQ_BENCH_CLUSTER_DELIVERIES messages due at once, pushed to bench/sink.rs;
#   3. memory: bytes per waiting message (used_memory of every master, before and after
#      DQ_BENCH_CLUSTER_WAITING delayed adds).
# On one small machine every node and gateway share the same cores: the figures show what the
# cluster costs, not what it gains on machines of their own (see the README's Scale-out).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH=$HOME/.cargo/bin:$PATH
seconds=${DQ_BENCH_SECONDS:-10}
deliveries=${DQ_BENCH_CLUSTER_DELIVERIES:-30000}
waiting=${DQ_BENCH_CLUSTER_WAITING:-200000}

tmp=$(mktemp -d)
pids=()
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cleanup() {
  local pid
  for pid in "${pids[@]}"; do stop "$pid"; done
  bash scripts/redis-cluster.sh stop "$tmp/cluster" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

single_port=$(free_port)
redis-server --port "$single_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
  --dir "$tmp" >"$tmp/single.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do redis-cli -p "$single_port" ping >/dev/null 2>&1 && break; sleep 0.05; done
single=redis://127.0.0.1:$single_port/0
cluster=$(bash scripts/redis-cluster.sh start "$tmp/cluster" 3 0)
start_sink

# Starts $2 gateways on Redis $1 with prefix $3: sets `gws` (their URLs) and `gw_pids`.
start_gateways() {
  local redis=$1 count=$2 prefix=$3 port i
  gws=()
  gw_pids=()
  for ((i = 0; i < count; i++)); do
    port=$(free_port)
    DQ_REDIS=$redis DQ_LISTEN=127.0.0.1:$port DQ_PREFIX=$prefix DQ_LOG=warn \
      build/dq-gateway 2>>"$tmp/gateway.log" &
    pids+=($!)
    gw_pids+=($!)
    gws+=("http://127.0.0.1:$port")
  done
  for url in "${gws[@]}"; do
    for _ in $(seq 100); do curl -fs "$url/healthz" >/dev/null && break; sleep 0.1; done
  done
}
stop_gateways() {
  local pid
  for pid in "${gw_pids[@]}"; do stop "$pid"; done
}

# adds/s over all gateways of `gws` (topic $1): one wrk each, 64 connections in all.
adds() {
  local topic=$1 n=${#gws[@]} i out=() rate=0
  for ((i = 0; i < n; i++)); do
    DQ_WRK_TAG="g$i-" wrk -t1 -c$((64 / n)) -d"${seconds}s" -s bench/post.lua \
      "${gws[$i]}/v1/topics/$topic/messages" >"$tmp/wrk.$i" 2>&1 &
    out+=($!)
  done
  for i in "${out[@]}"; do wait "$i"; done
  for ((i = 0; i < n; i++)); do
    rate=$(awk -v r="$rate" '/Requests\/sec/ { r += $2 } END { print r }' "$tmp/wrk.$i")
  done
  echo "$rate"
}

# deliveries/s: $2 messages of topic $1 (prefix $3, Redis $4) due at once, through `gws`.
delivered() {
  local topic=$1 count=$2 prefix=$3 redis=$4 due
  curl -fsS -X PUT "${gws[0]}/v1/topics/$topic" -d "{\"callback\":\"$sink_url/notify\",\"timeout_ms\":5000}" >/dev/null
  due=$(python3 -c "import time; print(f'{time.time() + 2 + $count / 50000:.3f}')")
  DQ_REDIS=$redis php -n -d "extension=$root/build/dq.so" bench/delivery-load.php "$prefix" "$topic" "$count" "$due" 0 >/dev/null
  for _ in $(seq 600); do
    (($(sink_get "/_count/$topic") >= count)) && break
    sleep 0.2
  done
  sink_get "/_stats/$topic" | python3 -c '
import json, sys
s = json.load(sys.stdin)
due, count = float(sys.argv[1]), int(sys.argv[2])
last = s["last"]
print(0 if s["count"] < count else round(count / max(last - due, 0.001)))' "$due" "$count"
}

# used_memory summed over the masters of Redis $1 (one server, or a cluster URL).
memory() {
  local ports
  if [[ $1 == redis+cluster://* ]]; then
    ports=$(head -n 3 "$tmp/cluster/ports")
  else
    ports=$single_port
  fi
  for port in $ports; do redis-cli -p "$port" info memory | awk -F: '/^used_memory:/ { print $2 }'; done |
    awk '{ t += $1 } END { print t }'
}

# Bytes per waiting message on Redis $1: $waiting delayed messages added (prefix $2).
per_message() {
  local redis=$1 prefix=$2 before after far
  before=$(memory "$redis")
  far=$(python3 -c 'import time; print(f"{time.time() + 86400:.3f}")')
  DQ_REDIS=$redis php -n -d "extension=$root/build/dq.so" bench/delivery-load.php "$prefix" waiting "$waiting" "$far" 1000 >/dev/null
  after=$(memory "$redis")
  echo $(((after - before) / waiting))
}

echo "== scale-out: one Redis vs a 3-master Redis Cluster; 1, 2, 4 gateways on the cluster (all on this machine)"
results=()
run=0
for setup in "single 1" "cluster 1" "cluster 2" "cluster 4"; do
  read -r kind n <<<"$setup"
  redis=$single
  [[ $kind == cluster ]] && redis=$cluster
  run=$((run + 1))
  prefix=dqbench-cluster-$$-$run
  start_gateways "$redis" "$n" "$prefix"
  curl -fsS -X PUT "${gws[0]}/v1/topics/bench" -d '{"callback":"http://127.0.0.1:9/x","status":"paused"}' >/dev/null
  sleep 0.5
  add_rate=$(adds bench)
  delivery_rate=$(delivered "go$run" "$deliveries" "$prefix" "$redis")
  bytes=-
  if ((n == 1)); then
    curl -fsS -X PUT "${gws[0]}/v1/topics/waiting" -d '{"callback":"http://127.0.0.1:9/x"}' >/dev/null
    bytes=$(per_message "$redis" "$prefix")
  fi
  stop_gateways
  printf '  %-8s %d gateway(s): %8.0f adds/s  %7s deliveries/s  %5s bytes per waiting message\n' \
    "$kind" "$n" "$add_rate" "$delivery_rate" "$bytes"
  results+=("$kind $n $add_rate $delivery_rate $bytes")
done
python3 - "${results[@]}" <<'PY'
import sys
rows = [r.split() for r in sys.argv[1:]]
base_add, base_del = float(rows[0][2]), float(rows[0][3]) or 1.0
print()
for kind, n, add, dlv, mem in rows[1:]:
    print(f"  {kind} with {n} gateway(s) / one Redis, 1 gateway: adds {float(add) / base_add:.2f}x, deliveries {float(dlv) / base_del:.2f}x")
print(f"  bytes per waiting message, cluster / one Redis = {float(rows[1][4]) / float(rows[0][4]):.2f}x ({rows[1][4]} vs {rows[0][4]})")
PY
