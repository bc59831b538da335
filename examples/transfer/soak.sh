#!/usr/bin/env bash
# The transfer example under fire: DQ_SOAK_TRANSFERS transfers (default 1000) from several
# accounts, by DQ_SOAK_CLIENTS processes (default 2) over about DQ_SOAK_SECONDS (default 20),
# while the relay (dq-gateway) and the credit workers (DQ_SOAK_WORKERS, default 2) are
# SIGKILLed at random moments, DQ_SOAK_KILLS times each (default 5), and started again, and
# DQ_SOAK_COPIES credit messages (default one in 20) are published a second time. Then
# it waits until the outbox is relayed and the queue is empty, prints both balances and their
# total, and exits non-zero unless money was conserved: the total is what it was, and every
# transfer committed in bank1 was credited in bank2 exactly once.
#   bash examples/transfer/soak.sh     (after make build; MariaDB root@127.0.0.1:3306, RabbitMQ
#                                       guest@127.0.0.1 with rabbitmqctl, Redis)
# Everything it makes is named DQ_SOAK_NAME (default dqsoak_<pid>_<random>): the databases
# <name>_bank1 and <name>_bank2, the RabbitMQ vhost <name>, the gateway's prefix <name>; all
# removed at the end (DQ_SOAK_KEEP=1 keeps the databases). DQ_SOAK_TIMEOUT (default 300)
# bounds the whole run in seconds.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
transfers=${DQ_SOAK_TRANSFERS:-1000}
clients=${DQ_SOAK_CLIENTS:-2}
seconds=${DQ_SOAK_SECONDS:-20}
workers=${DQ_SOAK_WORKERS:-2}
kills=${DQ_SOAK_KILLS:-5}
copies=${DQ_SOAK_COPIES:-$((transfers / 20))}
limit=${DQ_SOAK_TIMEOUT:-300}
name=${DQ_SOAK_NAME:-dqsoak_$$_$RANDOM}
for n in "$transfers" "$clients" "$seconds" "$workers" "$kills" "$copies" "$limit"; do
  [[ $n =~ ^[0-9]+$ ]] || { echo "soak.sh: $n is not a whole number" >&2; exit 2; }
done
((clients >= 1 && workers >= 1 && seconds >= 1 && transfers >= clients)) || { echo "soak.sh: at least one client, one worker, one second and a transfer per client" >&2; exit 2; }
[[ $name =~ ^[A-Za-z0-9_]{1,40}$ ]] || { echo "soak.sh: DQ_SOAK_NAME must be 1 to 40 of A-Z a-z 0-9 _" >&2; exit 2; }

mysql=(mariadb -uroot -h127.0.0.1 -P3306)
php=(php -d "extension=$root/build/dq.so")
amqp="amqp://guest:guest@127.0.0.1:5672/$name"
deadline=$((SECONDS + limit))
tmp=$(mktemp -d "${TMPDIR:-/tmp}/$name.XXXXXX")
made_vhost=no
gateway_pid=
worker_pids=()
load_pids=()

# Whatever happens: every process this script started is killed, the vhost and (unless kept)
# the databases dropped, the logs shown if it failed.
# shellcheck disable=SC2317  # run by the trap
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  for pid in $gateway_pid "${worker_pids[@]}" "${load_pids[@]}"; do
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [[ $made_vhost == yes ]]; then
    rabbitmqctl -q delete_vhost "$name" >/dev/null 2>&1 || true
  fi
  if [[ ${DQ_SOAK_KEEP:-} != 1 ]]; then
    "${mysql[@]}" -e "DROP DATABASE IF EXISTS \`${name}_bank1\`; DROP DATABASE IF EXISTS \`${name}_bank2\`" || true
  fi
  if ((status != 0)); then
    for log in "$tmp"/*.log; do
      [[ -s $log ]] || continue
      echo "--- last lines of $(basename "$log")" >&2
      tail -n 5 "$log" >&2
    done
  fi
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
  echo "soak.sh: $*" >&2
  exit 1
}
in_time() {
  ((SECONDS < deadline)) || fail "not done within DQ_SOAK_TIMEOUT=$limit s"
}
# Sleeps $1 milliseconds.
nap() {
  sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"
}
sql() { # database, query: the value
  "${mysql[@]}" -N "${name}_$1" -e "$2"
}
queued() { # queue: its messages, ready and unacknowledged
  rabbitmqctl -q list_queues -p "$name" --no-table-headers name messages | awk -v q="$1" '$1 == q { print $2 }'
}

start_gateway() {
  DQ_AMQP=$amqp DQ_PREFIX=$name "$root/build/dq-gateway" --config "$tmp/gateway.toml" --workers-only >>"$tmp/gateway.log" 2>&1 &
  gateway_pid=$!
}
start_worker() { # slot
  "${php[@]}" "$here/worker.php" >>"$tmp/worker-$1.log" 2>&1 &
  worker_pids[$1]=$!
}
kill_hard() {
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
# Starts again whatever ended without being killed here (it should not: counted and shown).
ended=0
supervise() {
  if ! kill -0 "$gateway_pid" 2>/dev/null; then
    wait "$gateway_pid" 2>/dev/null || true
    ended=$((ended + 1))
    start_gateway
  fi
  for i in "${!worker_pids[@]}"; do
    if ! kill -0 "${worker_pids[i]}" 2>/dev/null; then
      wait "${worker_pids[i]}" 2>/dev/null || true
      ended=$((ended + 1))
      start_worker "$i"
    fi
  done
}

echo "soak $name: $transfers transfers by $clients clients over $seconds s; $kills SIGKILLs of the gateway and $kills of the $workers workers; $copies copies"

# Databases and their tables, the payers' money in bank1.
for db in bank1 bank2; do
  "${mysql[@]}" -e "CREATE DATABASE \`${name}_$db\`"
done
"${mysql[@]}" "${name}_bank1" -e "$(sed -n '/^-- db_bank1/,/^-- db_bank2/p' "$here/schema.sql")"
"${mysql[@]}" "${name}_bank2" -e "$(sed -n '/^-- db_bank2/,$p' "$here/schema.sql")"
sql bank1 "INSERT INTO account VALUES ('alice', 25000.00), ('bob', 25000.00), ('carol', 25000.00), ('dave', 25000.00), ('erin', 40.00)"
sql bank2 "INSERT INTO account VALUES ('frank', 0.00), ('grace', 0.00), ('heidi', 0.00), ('ivan', 0.00)"
initial=$("${mysql[@]}" -N -e "SELECT CAST(((SELECT SUM(balance) FROM \`${name}_bank1\`.account) + (SELECT SUM(balance) FROM \`${name}_bank2\`.account)) * 100 AS SIGNED)")
sed "s#/db_bank#/${name}_bank#" "$here/gateway.toml" >"$tmp/gateway.toml"
"$root/build/dq-gateway" --config "$tmp/gateway.toml" migrate >"$tmp/migrate.log" 2>&1 || fail "dq-gateway migrate failed"

# A vhost of its own, the exchange and queues in it.
rabbitmqctl -q add_vhost "$name" >/dev/null
made_vhost=yes
rabbitmqctl -q set_permissions -p "$name" guest '.*' '.*' '.*' >/dev/null
export DQ_TRANSFER_AMQP=$amqp
export DQ_TRANSFER_BANK1="mysql://root@127.0.0.1:3306/${name}_bank1" DQ_TRANSFER_BANK2="mysql://root@127.0.0.1:3306/${name}_bank2"
"${php[@]}" "$here/topology.php" >/dev/null

start_gateway
for ((i = 0; i < workers; i++)); do
  start_worker "$i"
done
started=$SECONDS
for ((c = 0; c < clients; c++)); do
  share=$((transfers / clients + (c < transfers % clients ? 1 : 0)))
  timeout "$limit" "${php[@]}" "$here/soak-load.php" "$share" "$seconds" >"$tmp/load-$c.out" 2>"$tmp/load-$c.log" &
  load_pids+=($!)
done
timeout "$limit" "${php[@]}" "$here/soak-copies.php" "$copies" "$seconds" >"$tmp/copies.out" 2>"$tmp/copies.log" &
load_pids+=($!)

# The kills, at random moments spread over the load: about one every
# seconds / (2 * kills + 1), each followed by a random pause before the restart.
gateway_kills=0 worker_kills=0
step=$((seconds * 1000 / (2 * kills + 1)))
while ((gateway_kills < kills || worker_kills < kills)); do
  in_time
  nap $((step / 2 + RANDOM % (step + 1)))
  supervise
  if ((worker_kills >= kills || (gateway_kills < kills && RANDOM % 2 == 0))); then
    kill_hard "$gateway_pid"
    gateway_kills=$((gateway_kills + 1))
    nap $((RANDOM % 300))   # rows pile up meanwhile
    start_gateway
  else
    i=$((RANDOM % workers))
    kill_hard "${worker_pids[i]}"
    worker_kills=$((worker_kills + 1))
    nap $((RANDOM % 300))
    start_worker "$i"
  fi
done

load_failed=0
for pid in "${load_pids[@]}"; do
  while kill -0 "$pid" 2>/dev/null; do
    in_time
    supervise
    sleep 0.2
  done
  wait "$pid" || load_failed=1
done
load_pids=()
sent=0 refused=0 failed=0
for ((c = 0; c < clients; c++)); do
  read -r s r f < <(sed 's/[a-z]*=//g' "$tmp/load-$c.out") || true
  sent=$((sent + ${s:-0})) refused=$((refused + ${r:-0})) failed=$((failed + ${f:-0}))
done
published=$(sed 's/copies=//' "$tmp/copies.out")
echo "transfers: $sent sent, $refused refused (insufficient funds), $failed failed, in $((SECONDS - started)) s; copies published: $published"
echo "kills: gateway $gateway_kills, workers $worker_kills; ended on their own: $ended"

# Drained: nothing unsent, every transfer credited, nothing left in the queue.
drain_started=$SECONDS
drained=no
while ((SECONDS - drain_started < 60)); do
  in_time
  supervise
  left=$("${mysql[@]}" -N -e "SELECT (SELECT COUNT(*) FROM \`${name}_bank1\`.dq_outbox WHERE sent_at IS NULL) + (SELECT COUNT(*) FROM \`${name}_bank1\`.transfer) - (SELECT COUNT(DISTINCT transfer_id) FROM \`${name}_bank2\`.credit)")
  if ((left == 0)) && [[ $(queued transfer.credit) == 0 ]]; then
    drained=yes
    break
  fi
  sleep 0.5
done
echo "drained: $drained, $((SECONDS - drain_started)) s after the last transfer"

# A clean stop: SIGTERM, 10 s at most each.
for pid in "${worker_pids[@]}" "$gateway_pid"; do
  kill -TERM "$pid" 2>/dev/null || true
done
for pid in "${worker_pids[@]}" "$gateway_pid"; do
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill_hard "$pid"
done
worker_pids=() gateway_pid=

skipped=$(cat "$tmp"/worker-*.log | grep -c 'copy skipped' || true)
rejected=$(cat "$tmp"/worker-*.log | grep -c 'rejected:' || true)
echo "queues: transfer.credit $(queued transfer.credit), transfer.credit.failed $(queued transfer.credit.failed); copies skipped by the inbox: $skipped (published on purpose: ${published:-0}), rejected: $rejected"
status=0
"${php[@]}" "$here/soak-check.php" "$initial" || status=1
[[ $drained == yes && $load_failed == 0 && $skipped -ge ${published:-0} && $(queued transfer.credit) == 0 && $(queued transfer.credit.failed) == 0 ]] || status=1
exit "$status"
