#!/usr/bin/env bash
# Creates the example's databases (dropped first if they exist) and RabbitMQ objects, starts the relay (dq-gateway) and a
# credit worker, sends four transfers (one refused, one retried), waits for the credits and
# shows both banks; then stops the gateway and the worker.
#   bash examples/transfer/run.sh     (after make build; MariaDB root@127.0.0.1:3306, RabbitMQ, Redis)
# DQ_TRANSFER_PREFIX names the databases (<prefix>bank1, <prefix>bank2; default db_),
# DQ_TRANSFER_AMQP the RabbitMQ URL (default guest@127.0.0.1, vhost /), DQ_PREFIX the gateway's
# namespace in Redis (default dq-transfer-example).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
prefix=${DQ_TRANSFER_PREFIX:-db_}
amqp=${DQ_TRANSFER_AMQP:-amqp://guest:guest@127.0.0.1:5672/%2f}
export DQ_PREFIX=${DQ_PREFIX:-dq-transfer-example}
mysql=(mariadb -uroot -h127.0.0.1 -P3306)
php=(php -d "extension=$root/build/dq.so")

tmp=$(mktemp -d)
pids=()
stop() {
  # SIGTERM: the worker finishes the message in hand, the relay its round; both bounded.
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  pids=()
}
trap 'stop; rm -rf "$tmp"' EXIT

for db in bank1 bank2; do
  "${mysql[@]}" -e "DROP DATABASE IF EXISTS \`${prefix}$db\`; CREATE DATABASE \`${prefix}$db\`"
done
"${mysql[@]}" "${prefix}bank1" -e "$(sed -n '/^-- db_bank1/,/^-- db_bank2/p' "$here/schema.sql")"
"${mysql[@]}" "${prefix}bank2" -e "$(sed -n '/^-- db_bank2/,$p' "$here/schema.sql")"
"${mysql[@]}" "${prefix}bank1" -e "INSERT INTO account VALUES ('alice', 1000.00), ('bob', 20.00)"
"${mysql[@]}" "${prefix}bank2" -e "INSERT INTO account VALUES ('frank', 0.00)"

# The gateway's configuration: gateway.toml with this run's database names.
sed "s#/db_bank#/${prefix}bank#" "$here/gateway.toml" >"$tmp/gateway.toml"
export DQ_AMQP=$amqp DQ_TRANSFER_AMQP=$amqp
export DQ_TRANSFER_BANK1="mysql://root@127.0.0.1:3306/${prefix}bank1" DQ_TRANSFER_BANK2="mysql://root@127.0.0.1:3306/${prefix}bank2"
if ! "$root/build/dq-gateway" --config "$tmp/gateway.toml" migrate >"$tmp/migrate.log" 2>&1; then
  cat "$tmp/migrate.log" >&2
  exit 1
fi
grep -o 'databases\.[a-z0-9]*.*' "$tmp/migrate.log" | grep -v ' INFO ' | sed "s#${prefix}#<prefix>#"
"${php[@]}" "$here/topology.php"

"$root/build/dq-gateway" --config "$tmp/gateway.toml" --workers-only >"$tmp/gateway.log" 2>&1 &
pids+=($!)
"${php[@]}" "$here/worker.php" >"$tmp/worker.log" 2>&1 &
pids+=($!)

"${php[@]}" "$here/transfer.php" alice frank 100.00
"${php[@]}" "$here/transfer.php" alice grace 250.50
"${php[@]}" "$here/transfer.php" bob frank 30.00
"${php[@]}" "$here/transfer.php" alice frank 5.00 00000000-0000-4000-8000-000000000042
"${php[@]}" "$here/transfer.php" alice frank 5.00 00000000-0000-4000-8000-000000000042

# Three transfers committed: wait (30 s at most) until bank2 has credited them.
for _ in $(seq 300); do
  credited=$("${mysql[@]}" -N "${prefix}bank2" -e "SELECT COUNT(*) FROM credit")
  ((credited >= 3)) && break
  sleep 0.1
done
echo "bank1:"
"${mysql[@]}" --table "${prefix}bank1" -e "SELECT id, balance FROM account ORDER BY id"
echo "bank2:"
"${mysql[@]}" --table "${prefix}bank2" -e "SELECT id, balance FROM account ORDER BY id"
echo "sent by the relay: $("${mysql[@]}" -N "${prefix}bank1" -e "SELECT COUNT(*) FROM dq_outbox WHERE sent_at IS NOT NULL"), credited: $credited"
stop
echo "the worker said:"
sed 's/^\[[0-9]*\] /  /' "$tmp/worker.log"
