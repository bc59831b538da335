#!/usr/bin/env bash
# make bench, deliveries: dq-gateway's workers delivering to a local callback receiver
# (bench/sink.rs, built here with rustc against std only), in one run, printed against targets.
#   1. throughput: 50,000 messages due at the same instant, deliveries/s at the receiver;
#   2. pull: the same kind of messages in a pull topic, reserved and acked by 1 and by 4 PHP
#      processes (bench/pull-worker.php), jobs/s against the push deliveries/s of part 1;
#   3. lateness: messages due at a steady 2,000/s and 10,000/s, arrival - due_at per message;
#   4. memory: 1,000,000 messages waiting, the gateway's RSS and Redis bytes per message.
# Messages are added beforehand with DqClient::addMany (fix_time), so adding is not measured.
# Each part has its own key prefix and gateway; keys and processes go away on any exit.
# Sizes: DQ_BENCH_DELIVERIES, DQ_BENCH_JOBS, DQ_BENCH_LATENESS_SECONDS, DQ_BENCH_WAITING. With DQ_BENCH_DUMP=DIR,
# every delivery's "arrival due_at" (unix seconds) is kept in DIR/{throughput,late2000,late10000}.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH=$HOME/.cargo/bin:$PATH
deliveries=${DQ_BENCH_DELIVERIES:-50000}
window=${DQ_BENCH_LATENESS_SECONDS:-10}
waiting=${DQ_BENCH_WAITING:-1000000}
jobs=${DQ_BENCH_JOBS:-20000}
export DQ_REDIS=${DQ_REDIS:-redis://127.0.0.1:6379/0}
redis=(redis-cli -u "$DQ_REDIS")

tmp=$(mktemp -d)
pids=()
prefixes=()
status=0
cleanup() {
  local pid
  for pid in "${pids[@]}"; do stop "$pid"; done
  for prefix in "${prefixes[@]}"; do drop_keys "$prefix"; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# Every key of the prefix (a handful per topic, however many messages they hold): UNLINK.
drop_keys() {
  "${redis[@]}" --scan --pattern "$1:*" | xargs -r -n 100 "${redis[@]}" unlink >/dev/null
}

# 1234567 as 1,234,567.
thousands() { sed ':a; s/\B[0-9]\{3\}\>/,&/; ta' <<<"$1"; }
# CPU seconds used so far by process $1 (user + system).
cpu_seconds() { awk -v tck="$(getconf CLK_TCK)" '{ printf "%.2f\n", ($14 + $15) / tck }' "/proc/$1/stat"; }
# CPU seconds used so far by Redis (all its clients).
redis_cpu() { "${redis[@]}" info cpu | awk -F: '/^used_cpu_(sys|user):/ { t += $2 } END { printf "%.2f\n", t }'; }
fail() {
  echo "  FAILED: $*"
  status=1
}

# The receiver: every delivery answered 200 on keep-alive connections, arrivals recorded.
start_sink
dump() {
  [[ -z ${DQ_BENCH_DUMP:-} ]] || { mkdir -p "$DQ_BENCH_DUMP" && sink_get "/_dump/$1" >"$DQ_BENCH_DUMP/$1.txt"; }
}

# A gateway (workers and HTTP) on a free port with key prefix $1; sets $gateway and $gw.
start_gateway() {
  local prefix=$1 port
  port=$(free_port)
  prefixes+=("$prefix")
  DQ_LISTEN=127.0.0.1:$port DQ_PREFIX=$prefix DQ_LOG=warn build/dq-gateway 2>>"$tmp/gateway.log" &
  gateway=$!
  pids+=("$gateway")
  gw=http://127.0.0.1:$port
  for _ in $(seq 100); do curl -fs "$gw/healthz" >/dev/null && return 0; sleep 0.1; done
  echo "dq-gateway did not start:" >&2
  cat "$tmp/gateway.log" >&2
  return 1
}
stop_gateway() {
  stop "$gateway"
  drop_keys "$1"
}
put_topic() {
  curl -fsS -X PUT "$gw/v1/topics/$1" -d "$2" >/dev/null
}
gateway_stats() {
  curl -fsS "$gw/v1/topics/$1/stats"
}

# Adds $3 messages to topic $2 under prefix $1, message i due at $4 + i / $5 (unix seconds).
# Prints "added started finished".
load() {
  php -n -d "extension=$root/build/dq.so" bench/delivery-load.php "$@"
}

# Waits until the sink got $2 deliveries of topic $1, or the unix time $3 passes, or nothing
# arrived for 15 s after the first due time $4 (a retry ladder would resume later). Polls
# five times a second without starting more than a curl, not to take CPU from the gateway.
wait_delivered() {
  local topic=$1 want=$2 deadline=${3%.*} due=${4%.*} count last=-1 quiet_since=${EPOCHSECONDS}
  while :; do
    count=$(sink_get "/_count/$topic") || {
      echo "the receiver stopped answering; giving up" >&2
      exit 1
    }
    ((count >= want)) && return 0
    if [[ $count != "$last" ]]; then
      last=$count
      quiet_since=$EPOCHSECONDS
    fi
    ((EPOCHSECONDS > deadline)) && return 1
    ((EPOCHSECONDS > due && EPOCHSECONDS - quiet_since > 15)) && return 1
    sleep 0.2
  done
}

# Waits until the topic has nothing delayed, ready or inflight (acks follow the sink's answer).
wait_settled() {
  for _ in $(seq 50); do
    gateway_stats "$1" | python3 -c 'import json,sys; s=json.load(sys.stdin); sys.exit(0 if s["delayed"]+s["ready"]+s["inflight"]==0 else 1)' && return 0
    sleep 0.1
  done
  return 1
}

# dq_messages_delivered_total{topic="$1"} from /metrics, or "not exported".
metric_delivered() {
  curl -fsS "$gw/metrics" | awk -v t="topic=\"$1\"" '
    /^dq_messages_delivered_total\{/ && index($0, t) { print $NF; found=1 }
    END { if (!found) print "not exported" }'
}

echo
echo "== dq-gateway workers: $(thousands "$deliveries") messages due at once, delivered to a local receiver"
start_gateway "dqbench-deliver-$$"
put_topic throughput "{\"callback\":\"$sink_url/notify\",\"timeout_ms\":5000}"
due=$(python3 -c "import time; print(f'{time.time() + 2 + $deliveries / 100000:.3f}')")
read -r added added_from added_to < <(load "dqbench-deliver-$$" throughput "$deliveries" "$due" 0)
cpu_before=$(cpu_seconds "$gateway")
redis_before=$(redis_cpu)
[[ $added == "$deliveries" ]] || fail "added $added of $deliveries"
if wait_delivered throughput "$deliveries" "$(python3 -c "print($due + 120)")" "$due"; then
  wait_settled throughput || fail "messages left in the queue: $(gateway_stats throughput)"
else
  fail "only $(sink_get /_count/throughput) of $deliveries delivered"
fi
sink_get /_stats/throughput >"$tmp/throughput.json"
dump throughput
gateway_stats throughput >"$tmp/throughput.stats"
metric_delivered throughput >"$tmp/throughput.metric"
cpu_after=$(cpu_seconds "$gateway")
redis_after=$(redis_cpu)
stop_gateway "dqbench-deliver-$$"
python3 - "$tmp" "$deliveries" "$due" "$added_to" "$cpu_before" "$cpu_after" "$redis_before" "$redis_after" <<'PY'
import json, sys
tmp, want, due, added_to = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
cpu = float(sys.argv[6]) - float(sys.argv[5])
redis_cpu = float(sys.argv[8]) - float(sys.argv[7])
s = json.load(open(f"{tmp}/throughput.json"))
q = json.load(open(f"{tmp}/throughput.stats"))
metric = open(f"{tmp}/throughput.metric").read().strip()
span = s["last"] - s["first"]
rate = (s["count"] - 1) / span if span > 0 else 0.0
print(f"  delivered {s['count']:,} ({s['unique']:,} ids, {s['retries']} retries) in {span:.2f} s,"
      f" first {(s['first'] - due) * 1000:.0f} ms after due, last {s['last'] - due:.2f} s after due")
print(f"  queue after: {q}; gateway metric delivered: {metric}")
if s["count"]:
    print(f"  CPU per delivery: gateway {cpu / s['count'] * 1e6:.0f} us ({cpu:.2f} s), Redis {redis_cpu / s['count'] * 1e6:.0f} us"
          f" ({redis_cpu:.2f} s, all its clients), over the whole wait")
if added_to > due:
    print(f"  WARNING: adding ended {(added_to - due) * 1000:.0f} ms after the due time; the figure includes it")
open(f"{tmp}/push.rate", "w").write(f"{rate} {(cpu + redis_cpu) / max(s['count'], 1)}")
print(f"\n  deliveries / target 5,000/s      = {rate / 5000:.2f}x  ({rate:,.0f} deliveries/s, first to last)")
print(f"  php-delayqueue                   = not run here (1 s buckets, 10 PHP consumer processes)")
PY

echo
echo "== pull workers: Dq\\Client::reserve + Dq\\Job::ack, $(thousands "$jobs") jobs due, against the push notifier above"
# The same messages as the push run, in a pull topic: PHP processes reserve and ack them until
# none is left. No gateway workers are needed (reserve moves due messages itself); the gateway
# only registers the topic.
prefix="dqbench-pull-$$"
start_gateway "$prefix"
put_topic pulled '{"mode":"pull","timeout_ms":60000}'
for procs in 1 4; do
  read -r added _ _ < <(load "$prefix" pulled "$jobs" "$(python3 -c 'import time; print(f"{time.time():.3f}")')" 0)
  [[ $added == "$jobs" ]] || fail "added $added of $jobs"
  redis_before=$(redis_cpu)
  workers=()
  for ((w = 0; w < procs; w++)); do
    php -n -d "extension=$root/build/dq.so" bench/pull-worker.php "$prefix" pulled >"$tmp/pull$procs.$w" &
    workers+=($!)
  done
  for pid in "${workers[@]}"; do wait "$pid" || fail "a pull worker failed"; done
  redis_after=$(redis_cpu)
  echo "$redis_before $redis_after" >"$tmp/pull$procs.redis"
  [[ $(gateway_stats pulled) == *'"ready":0,"inflight":0'* ]] || fail "jobs left: $(gateway_stats pulled)"
done
stop_gateway "$prefix"
python3 - "$tmp" <<'PY'
import glob, sys
tmp = sys.argv[1]
push_rate, push_cpu = map(float, open(f"{tmp}/push.rate").read().split())
for procs in (1, 4):
    rows = [list(map(float, open(f).read().split())) for f in sorted(glob.glob(f"{tmp}/pull{procs}.*")) if not f.endswith(".redis")]
    jobs = sum(r[0] for r in rows)
    first = min(r[1] for r in rows if r[0])
    last = max(r[2] for r in rows)
    php_cpu = sum(r[3] for r in rows)
    redis_before, redis_after = map(float, open(f"{tmp}/pull{procs}.redis").read().split())
    rate = (jobs - 1) / (last - first) if last > first else 0.0
    per_job = (php_cpu + redis_after - redis_before) / max(jobs, 1)
    print(f"  {procs} PHP process{'es' if procs > 1 else '  '}: {jobs:,.0f} jobs in {last - first:.2f} s = {rate:,.0f} jobs/s;"
          f" CPU per job {per_job * 1e6:.0f} us (PHP {php_cpu / max(jobs, 1) * 1e6:.0f} us, Redis {(redis_after - redis_before) / max(jobs, 1) * 1e6:.0f} us)")
    print(f"  pull ({procs}) / push notifier         = {rate / push_rate:.2f}x  (push {push_rate:,.0f} deliveries/s;"
          f" per job {1e6 / rate - 1e6 / push_rate:+.0f} us of wall time, CPU {(per_job - push_cpu) * 1e6:+.0f} us: two round trips"
          f" (reserve, ack) per job where the notifier leases in batches)")
PY

echo
echo "== dq-gateway workers: lateness (receiver arrival - due_at) of a steady stream, ${window} s per rate"
start_gateway "dqbench-lateness-$$"
for rate in 2000 10000; do
  count=$((rate * window))
  put_topic "late$rate" "{\"callback\":\"$sink_url/notify\",\"timeout_ms\":5000}"
  start=$(python3 -c "import time; print(f'{time.time() + 1.5 + $count / 100000:.3f}')")
  read -r added added_from added_to < <(load "dqbench-lateness-$$" "late$rate" "$count" "$start" "$rate")
  [[ $added == "$count" ]] || fail "added $added of $count"
  wait_delivered "late$rate" "$count" "$(python3 -c "print($start + $window + 120)")" "$start" ||
    fail "only $(sink_get "/_count/late$rate") of $count delivered at $rate/s"
  sink_get "/_stats/late$rate" >"$tmp/late$rate.json"
  dump "late$rate"
  echo "$start $added_to" >"$tmp/late$rate.load"
done
stop_gateway "dqbench-lateness-$$"
python3 - "$tmp" <<'PY'
import json, sys
tmp = sys.argv[1]
p99 = {}
for rate in (2000, 10000):
    s = json.load(open(f"{tmp}/late{rate}.json"))
    start, added_to = map(float, open(f"{tmp}/late{rate}.load").read().split())
    l = s["lateness_ms"]
    p99[rate] = l["p99"]
    print(f"  {rate:>6,}/s: {s['count']:,} delivered, lateness p50 {l['p50']:.1f} ms, p99 {l['p99']:.1f} ms,"
          f" max {l['max']:.1f} ms  (last arrival {s['last'] - start:.1f} s into the stream)")
    if added_to > start:
        print(f"          WARNING: adding ended {(added_to - start) * 1000:.0f} ms after the stream began")
floor = max(p99[2000], 1.0)
print(f"\n  p99 at 2,000/s / target 100 ms   = {p99[2000] / 100:.2f}x  (at most 1.00x; {p99[2000]:.1f} ms)")
print(f"  php-delayqueue floor / p99       = {1000 / floor:.0f}x  (1 s buckets: up to ~1 s late)")
print(f"  asynq forward interval / p99     = {5000 / floor:.0f}x  (5 s default)")
PY

echo
echo "== dq-gateway with $(thousands "$waiting") messages waiting (due in an hour, workers on)"
prefix="dqbench-memory-$$"
start_gateway "$prefix"
put_topic waiting '{"callback":"http://127.0.0.1:9/never"}'
sleep 0.5
rss_idle=$(awk '/VmRSS/ {print $2}' "/proc/$gateway/status")
used_before=$("${redis[@]}" info memory | awk -F: '/^used_memory:/ {print $2+0}')
due=$(python3 -c 'import time; print(f"{time.time() + 3600:.3f}")')
read -r added added_from added_to < <(load "$prefix" waiting "$waiting" "$due" 0 1000)
[[ $added == "$waiting" ]] || fail "added $added of $waiting"
sleep 2
[[ $(gateway_stats waiting) == *"\"delayed\":$waiting,"* ]] || fail "not all waiting: $(gateway_stats waiting)"
used_after=$("${redis[@]}" info memory | awk -F: '/^used_memory:/ {print $2+0}')
gateway_stats waiting >"$tmp/waiting.stats"
curl -fsS "$gw/metrics" >/dev/null
rss_waiting=$(awk '/VmRSS/ {print $2}' "/proc/$gateway/status")
rss_peak=$(awk '/VmHWM/ {print $2}' "/proc/$gateway/status")
key_bytes=0
for key in $("${redis[@]}" --scan --pattern "$prefix:*"); do
  key_bytes=$((key_bytes + $("${redis[@]}" memory usage "$key" samples 0)))
done
stop_gateway "$prefix"
python3 - "$tmp" "$waiting" "$rss_idle" "$rss_waiting" "$rss_peak" "$used_before" "$used_after" "$key_bytes" "$added_from" "$added_to" <<'PY'
import json, sys
tmp = sys.argv[1]
n, idle, rss, peak, before, after, keys = map(int, sys.argv[2:9])
added_from, added_to = map(float, sys.argv[9:11])
q = json.load(open(f"{tmp}/waiting.stats"))
print(f"  added {n:,} with addMany in {added_to - added_from:.1f} s; queue: {q}")
print(f"  gateway RSS while they wait      = {rss / 1024:.1f} MiB  (idle before adding {idle / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB)")
print(f"  Redis per waiting message        = {(after - before) / n:.0f} bytes  (used_memory after - before; other clients of this Redis add noise)")
print(f"  Redis per message, own keys      = {keys / n:.0f} bytes  (MEMORY USAGE of the prefix's keys)")
PY
if ((status)); then
  echo "  gateway log (last lines):"
  tail -n 20 "$tmp/gateway.log" | sed 's/^/    /'
fi
exit $status
