#!/usr/bin/env bash
# make bench, subscriptions (issue 13): dq-gateway's [[subscription]] pushing a RabbitMQ queue to
# a local HTTP endpoint, against the PHP consumer daemon it replaces (bench/sub-daemon.php:
# php-amqplib, prefetch 10, curl on a keep-alive connection, ack on 2xx), in one run, all to the
# same receiver (bench/sink.rs, built here with rustc), printed against targets:
#   1. throughput: N ~100-byte messages in the queue before the consumer starts, messages/s at the
#      receiver and CPU per message: the gateway, 1 PHP process, 4 PHP processes, in turn for a
#      few rounds (a fresh queue and consumer each time), medians compared;
#   2. latency: 1,000 msg/s published steadily, receiver arrival - publish time per message:
#      the gateway, and the 4 PHP processes.
# Messages are published beforehand with Dq\Producer (bench/sub-publish.php). Everything runs in
# a RabbitMQ vhost and under a Redis key prefix of this run's own; on any exit both are gone,
# and so is every process started here. ~1 minute with the defaults.
# Sizes: DQ_BENCH_SUB_MESSAGES (20000), DQ_BENCH_SUB_ROUNDS (3), DQ_BENCH_SUB_LATENCY_SECONDS
# (10); the gateway's DQ_BENCH_SUB_CONCURRENCY (10, a subscription's default; prefetch twice
# that). With DQ_BENCH_DUMP=DIR, each latency message's "arrival published_at" (unix seconds) is
# kept in DIR/{gateway,php-4}-latency.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH=$HOME/.cargo/bin:$PATH
messages=${DQ_BENCH_SUB_MESSAGES:-20000}
rounds=${DQ_BENCH_SUB_ROUNDS:-3}
window=${DQ_BENCH_SUB_LATENCY_SECONDS:-10}
concurrency=${DQ_BENCH_SUB_CONCURRENCY:-10}
rate=1000
redis_url=${DQ_REDIS:-redis://127.0.0.1:6379/0}
amqplib=/usr/share/php/PhpAmqpLib/autoload.php

[[ -x build/dq-gateway && -f build/dq.so ]] || { echo "build/dq-gateway or build/dq.so is missing: run make build" >&2; exit 1; }
[[ -f $amqplib ]] || { echo "php-amqplib is missing (package php-amqplib)" >&2; exit 1; }

ext_dir=$(php-config --extension-dir)
publisher=(php -n -d "extension=$root/build/dq.so")
daemon=(php -n)
for ext in curl sockets mbstring pcntl posix; do
  [[ -f $ext_dir/$ext.so ]] && daemon+=(-d "extension=$ext")
done

run=dqbench-sub-$$
vhost=$run
amqp_url=amqp://guest:guest@127.0.0.1:5672/$vhost
tmp=$(mktemp -d)
pids=()
status=0
cleanup() {
  local pid
  for pid in "${pids[@]}"; do stop "$pid"; done
  rabbitmqctl -q delete_vhost "$vhost" >/dev/null 2>&1 || true
  redis-cli -u "$redis_url" --scan --pattern "$run:*" | xargs -r -n 100 redis-cli -u "$redis_url" unlink >/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

now() { python3 -c 'import time; print(f"{time.time():.6f}")'; }
# CPU clock ticks used so far by the processes given (user + system).
cpu_ticks() {
  local pid total=0
  for pid in "$@"; do
    [[ -r /proc/$pid/stat ]] && total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat")))
  done
  echo "$total"
}
fail() {
  echo "  FAILED: $*"
  status=1
}

rabbitmqctl -q add_vhost "$vhost" >/dev/null
rabbitmqctl -q set_permissions -p "$vhost" guest '.*' '.*' '.*' >/dev/null

# The receiver: every request answered 200 on keep-alive connections, counted per /s/NAME.
start_sink

# Publishes $2 messages to queue $1 (declared durable) before a consumer starts.
fill() {
  local published=0 seconds
  read -r published seconds < <("${publisher[@]}" bench/sub-publish.php fill "$amqp_url" "$1" "$2") || true
  [[ $published == "$2" ]] || fail "published $published of $2 to $1"
}

# Waits until the receiver counted $2 messages of subscription $1 while the processes $3...
# live; gives up after 120 s, or when nothing arrived for 15 s. Polls five times a second with
# one curl, not to take CPU from the consumers.
wait_received() {
  local name=$1 want=$2 count last=-1 quiet_since=$EPOCHSECONDS deadline=$((EPOCHSECONDS + 120)) pid
  shift 2
  while :; do
    count=$(sink_get "/_count/$name") || { echo "the receiver stopped answering; giving up" >&2; exit 1; }
    ((count >= want)) && return 0
    for pid in "$@"; do
      kill -0 "$pid" 2>/dev/null || { fail "a consumer of $name exited (pid $pid)"; return 1; }
    done
    if [[ $count != "$last" ]]; then
      last=$count
      quiet_since=$EPOCHSECONDS
    fi
    ((EPOCHSECONDS > deadline || EPOCHSECONDS - quiet_since > 15)) && {
      fail "only $count of $want messages of $name arrived"
      return 1
    }
    sleep 0.2
  done
}

# The PHP daemons: $1 processes consuming queue $2 for the receiver's /s/$3; sets $daemons once
# each says it is consuming.
start_daemons() {
  local procs=$1 queue=$2 name=$3 i
  daemons=()
  for ((i = 0; i < procs; i++)); do
    "${daemon[@]}" bench/sub-daemon.php "$vhost" "$queue" "$sink_url/s/$name" 10 >"$tmp/$name.$i.out" 2>"$tmp/$name.$i.err" &
    daemons+=($!)
    pids+=($!)
  done
}
daemons_consuming() {
  local name=$1 i ready
  for _ in $(seq 100); do
    ready=0
    for ((i = 0; i < ${#daemons[@]}; i++)); do
      [[ $(cat "$tmp/$name.$i.out") == consuming ]] && ready=$((ready + 1))
    done
    ((ready == ${#daemons[@]})) && return 0
    sleep 0.1
  done
  return 1
}
stop_daemons() {
  local pid
  for pid in "${daemons[@]}"; do stop "$pid"; done
}

# A gateway whose one subscription $1 consumes queue $2 for the receiver's /s/$1; sets
# $gateway and $gateway_url (it may not answer yet).
start_gateway() {
  local name=$1 queue=$2 port
  port=$(free_port)
  cat >"$tmp/$name.toml" <<TOML
listen = "127.0.0.1:$port"
redis = "$redis_url"
amqp = "$amqp_url"
prefix = "$run"
log = "info"

[[subscription]]
name = "$name"
queue = "$queue"
callback = "$sink_url/s/$name"
concurrency = $concurrency
TOML
  build/dq-gateway --config "$tmp/$name.toml" 2>>"$tmp/gateway.log" &
  gateway=$!
  pids+=("$gateway")
  gateway_url=http://127.0.0.1:$port
}
# The subscriptions' counters of the gateway's /metrics, kept for the summary.
keep_metrics() {
  curl -fsS "$gateway_url/metrics" | grep -E '^dq_subscription_(delivered|failed|dead)_total' >>"$tmp/gateway.metrics" || true
}

# Waits until queue $1 has a consumer (rabbitmqctl: about a second a look).
wait_consumer() {
  for _ in $(seq 20); do
    rabbitmqctl -q list_queues -p "$vhost" --no-table-headers name consumers |
      awk -v q="$1" '$1 == q && $2 > 0 { found = 1 } END { exit !found }' && return 0
    sleep 0.2
  done
  fail "nothing consumes $1"
  return 1
}

# Part 1 for one contender: its consumers (pids $3...) were started at $2 on a full queue;
# records "started cpu_ticks" in $tmp/$1.run once the receiver has all the messages.
measure() {
  local name=$1 started=$2
  shift 2
  wait_received "$name" "$messages" "$@" || true
  sleep 0.3 # the last acks
  echo "$started $(cpu_ticks "$@")" >"$tmp/$name.run"
  sink_get "/_stats/$name" >"$tmp/$name.json"
}

# One throughput run of contender $1 (gateway, php-1, php-4) in round $2.
throughput() {
  local name=$1-$2 started
  fill "bench.$name" "$messages"
  started=$(now)
  case $1 in
    gateway)
      start_gateway "$name" "bench.$name"
      measure "$name" "$started" "$gateway"
      keep_metrics
      stop "$gateway"
      ;;
    php-*)
      start_daemons "${1#php-}" "bench.$name" "$name"
      measure "$name" "$started" "${daemons[@]}"
      stop_daemons
      ;;
  esac
}

# Part 2 for contender $1: the stream published once it consumes, every message received.
latency() {
  local name=$1-latency behind
  fill "bench.$name" 0
  case $1 in
    gateway)
      start_gateway "$name" "bench.$name"
      wait_consumer "bench.$name" || { stop "$gateway"; return 0; }
      ;;
    php-4)
      start_daemons 4 "bench.$name" "$name"
      daemons_consuming "$name" || { fail "the PHP daemons did not start consuming"; stop_daemons; return 0; }
      ;;
  esac
  read -r _ _ behind < <("${publisher[@]}" bench/sub-publish.php stream "$amqp_url" "bench.$name" "$rate" "$window") ||
    fail "the stream to bench.$name was not published"
  echo "${behind:-0}" >"$tmp/$name.behind"
  if [[ $1 == gateway ]]; then
    wait_received "$name" $((rate * window)) "$gateway" || true
    keep_metrics
    stop "$gateway"
  else
    wait_received "$name" $((rate * window)) "${daemons[@]}" || true
    stop_daemons
  fi
  sink_get "/_stats/$name" >"$tmp/$name.json"
  [[ -z ${DQ_BENCH_DUMP:-} ]] || { mkdir -p "$DQ_BENCH_DUMP" && sink_get "/_dump/$name" >"$DQ_BENCH_DUMP/$name.txt"; }
}

echo
echo "== Subscriptions: a RabbitMQ queue pushed to a local HTTP endpoint, dq-gateway vs the PHP consumer daemon"
echo "   (php-amqplib $(php -n -r "require '$amqplib'; echo PhpAmqpLib\\Package::VERSION;" 2>/dev/null || echo '?'), prefetch 10,"\
  "curl keep-alive; RabbitMQ $(rabbitmqctl -q version 2>/dev/null || echo '?'); load average $(cut -d' ' -f1 /proc/loadavg) at the start)"

contenders=(gateway php-1 php-4)
for ((round = 0; round < rounds; round++)); do
  # A different contender goes first in each round.
  for ((i = 0; i < ${#contenders[@]}; i++)); do
    throughput "${contenders[(i + round) % ${#contenders[@]}]}" "$round"
  done
done
latency gateway
latency php-4

# Consumers gone, whatever they did not ack is back in its queue: every queue must be empty.
rabbitmqctl -q list_queues -p "$vhost" --no-table-headers name messages >"$tmp/queues" 2>&1 ||
  fail "rabbitmqctl list_queues: $(cat "$tmp/queues")"
awk '$2 != 0 { print }' "$tmp/queues" | while read -r queue left; do
  echo "  FAILED: $left messages left in $queue"
done | grep . && status=1

python3 - "$tmp" "$messages" "$rounds" "$concurrency" "$(getconf CLK_TCK)" "$rate" "$window" <<'PY'
import json, os, statistics, sys
tmp = sys.argv[1]
want, rounds, concurrency, tck, rate, window = map(int, sys.argv[2:8])
labels = {
    "gateway": f"dq-gateway, concurrency {concurrency}, prefetch {2 * concurrency}",
    "php-1": "PHP daemon, 1 process",
    "php-4": "PHP daemon, 4 processes",
}
print(f"\n  1. throughput: {want:,} persistent ~100-byte messages queued before the consumer starts; {rounds} rounds,")
print(f"     contenders in turn. msg/s from the first to the last arrival, median (min-max); seconds from the")
print(f"     consumer's start to the last arrival; CPU of the consumer processes from their start to the last ack")
rate_of, cpu_of = {}, {}
for name, label in labels.items():
    rates, cpus, walls = [], [], []
    for r in range(rounds):
        run = f"{tmp}/{name}-{r}"
        if not os.path.exists(f"{run}.json") or not os.path.exists(f"{run}.run"):
            print(f"  FAILED: {label}: round {r} has no result")
            continue
        s = json.load(open(f"{run}.json"))
        started, ticks = open(f"{run}.run").read().split()
        span = s["last"] - s["first"]
        rates.append((s["count"] - 1) / span if span > 0 else 0.0)
        cpus.append(int(ticks) / tck / max(s["count"], 1) * 1e6)
        walls.append(s["last"] - float(started) if s["count"] else 0.0)
        if s["unique"] < want or s["count"] > s["unique"]:
            print(f"  FAILED: {label}, round {r}: {s['unique']:,} of {want:,} messages, {s['count'] - s['unique']} twice")
    if not rates:
        rate_of[name], cpu_of[name] = 0.0, 0.0
        continue
    rate_of[name], cpu_of[name] = statistics.median(rates), statistics.median(cpus)
    print(f"  {label:<42} {rate_of[name]:>7,.0f} msg/s ({min(rates):,.0f}-{max(rates):,.0f});"
          f" {statistics.median(walls):5.2f} s from start; CPU {cpu_of[name]:4.0f} us/msg")

def ratio(a, b):
    return a / b if b else 0.0

gw = rate_of["gateway"]
r4 = ratio(gw, rate_of["php-4"])
print(f"\n  gateway / PHP daemon, 4 processes    = {r4:.2f}x  (target >= 1.0x)" + ("" if r4 >= 1.0 else "  << BELOW TARGET"))
print(f"  gateway / PHP daemon, 1 process      = {ratio(gw, rate_of['php-1']):.2f}x")
print(f"  CPU per message, gateway / 4 PHP     = {ratio(cpu_of['gateway'], cpu_of['php-4']):.2f}x"
      f"  ({cpu_of['gateway']:.0f} us against {cpu_of['php-4']:.0f} us; 1 PHP process {cpu_of['php-1']:.0f} us)")

print(f"\n  2. latency: {rate:,} msg/s published steadily, receiver arrival - publish time")
p99 = {}
for name, label in (("gateway", labels["gateway"]), ("php-4", labels["php-4"])):
    run = f"{tmp}/{name}-latency"
    if not os.path.exists(f"{run}.json"):
        print(f"  FAILED: {label}: no latency result")
        p99[name] = 0.0
        continue
    s = json.load(open(f"{run}.json"))
    l = s["lateness_ms"]
    p99[name] = l["p99"]
    behind = float(open(f"{run}.behind").read())
    print(f"  {label:<42} {s['count']:>7,} arrived; p50 {l['p50']:5.1f} ms, p90 {l['p90']:5.1f} ms,"
          f" p99 {l['p99']:5.1f} ms, max {l['max']:6.1f} ms  (publisher at most {behind:.0f} ms behind)")
    if s["unique"] < rate * window:
        print(f"  FAILED: {label}: {s['unique']:,} of {rate * window:,} messages arrived")
ratio99 = p99["gateway"] / 20
print(f"\n  gateway p99 / target 20 ms           = {ratio99:.2f}x  (at most 1.00x; {p99['gateway']:.1f} ms)"
      + ("" if ratio99 <= 1.0 else "  << ABOVE TARGET"))
print(f"  PHP daemon p99 / gateway p99         = {ratio(p99['php-4'], max(p99['gateway'], 0.1)):.2f}x")
load, cores = os.getloadavg()[0], os.cpu_count() or 1
if load > cores:
    print(f"  NOTE: load average {load:.1f} on {cores} cores at the end: other work on this machine competes"
          " with the consumers (the tails above suffer first)")
PY

# What the gateways said about their subscriptions, and anything they warned about (but that
# this Redis keeps nothing on disk, which is how the bench's Redis runs).
echo
echo "  gateway metrics: $(awk '{ sub(/^dq_subscription_/, ""); printf "%s ", $0 }' "$tmp/gateway.metrics")"
grep -E ' (WARN|ERROR) ' "$tmp/gateway.log" | grep -v 'keeps nothing on disk' >"$tmp/gateway.warnings" || true
if [[ -s $tmp/gateway.warnings ]]; then
  echo "  gateway log, warnings and errors:"
  tail -n 20 "$tmp/gateway.warnings" | sed 's/^/    /'
fi
if ((status)); then
  echo "  gateway log (last lines):"
  tail -n 20 "$tmp/gateway.log" | sed 's/^/    /'
fi
exit $status
