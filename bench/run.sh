#!/usr/bin/env bash
# make bench: dq against what it replaces, in one run, printed as ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
ext_dir=$(php-config --extension-dir)
php_ext=(-d "extension=$root/build/dq.so")
for ext in igbinary redis curl; do
  [[ -f $ext_dir/$ext.so ]] && php_ext+=(-d "extension=$ext")
done

echo "== Dq\\Client::add vs phpredis (one PHP process, Redis on 127.0.0.1:6379)"
php -n "${php_ext[@]}" bench/php-add.php "${DQ_BENCH_MESSAGES:-20000}" "${DQ_BENCH_ROUNDS:-5}"

if [[ -f $ext_dir/ffi.so ]]; then
  echo
  echo "== DqFfi\\Client::add (libdq.so through FFI) vs Dq\\Client::add (dq.so)"
  php -n -d extension=ffi -d ffi.enable=1 "${php_ext[@]}" -d extension=posix \
    bench/ffi-add.php "${DQ_BENCH_MESSAGES:-20000}" "${DQ_BENCH_ROUNDS:-5}"
fi

echo
echo "== dq-gateway POST /v1/topics/{t}/messages, keep-alive (wrk -t2 -c64)"
prefix="dqbench-$$"
log=$(mktemp)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DQ_LISTEN=127.0.0.1:$port DQ_PREFIX=$prefix DQ_LOG=warn build/dq-gateway 2>"$log" &
gateway=$!
cleanup() {
  kill "$gateway" 2>/dev/null || true
  wait "$gateway" 2>/dev/null || true
  redis-cli --scan --pattern "$prefix:*" | xargs -r redis-cli del >/dev/null
  rm -f "$log"
}
trap cleanup EXIT
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
curl -fs -X PUT "http://127.0.0.1:$port/v1/topics/bench" -d '{"callback":"http://127.0.0.1:9/x","status":"paused"}' >/dev/null
out=$(wrk -t2 -c64 -d"${DQ_BENCH_SECONDS:-10}"s -s bench/post.lua "http://127.0.0.1:$port/v1/topics/bench/messages")
echo "$out" | sed 's/^/  /'
rate=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
rss=$(awk '/VmHWM/ {print $2}' "/proc/$gateway/status")
stored=$(curl -fs "http://127.0.0.1:$port/v1/topics/bench/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["delayed"])')
python3 - "$rate" "$rss" "$stored" <<'PY'
import sys
rate, rss_kib, stored = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
print(f"\n  gateway adds / target 15k req/s  = {rate / 15000:.1f}x  ({rate:,.0f} req/s)")
print(f"  gateway / php-delayqueue         = {rate / 2400:.0f}x  (its published 2,400 adds/s on 8 cores)")
print(f"  messages stored                  = {stored:,}")
print(f"  gateway peak RSS                 = {rss_kib / 1024:.1f} MiB")
PY

# Deliveries (bench/workers.sh), after this gateway and its keys are gone: its paused topic
# would otherwise have the wrk messages moved to ready while the workers are measured.
cleanup
trap - EXIT
echo
bash bench/amqp.sh   # RabbitMQ: Dq\Producer against php-amqplib and pecl amqp
echo
echo "== Dq\\Xa vs hand-written PDO XA: transfers between two databases (MariaDB on 127.0.0.1:3306)"
php -n "${php_ext[@]}" -d extension=mysqlnd -d extension=pdo -d extension=pdo_mysql \
  bench/xa.php "${DQ_BENCH_XA_SECONDS:-3}" "${DQ_BENCH_XA_ROUNDS:-2}"
echo
echo "== Dq\\Outbox: the row in the caller's transaction, the relay, commit-to-queue lag (MariaDB, RabbitMQ)"
php -n "${php_ext[@]}" -d extension=mysqlnd -d extension=pdo -d extension=pdo_mysql -d extension=posix \
  -d extension=sockets -d extension=mbstring \
  bench/outbox.php "${DQ_BENCH_OUTBOX_ROWS:-50000}" "${DQ_BENCH_OUTBOX_LAG_SECONDS:-10}"
echo
bash bench/workers.sh
echo
bash bench/subscriptions.sh   # RabbitMQ to HTTP: [[subscription]] against the PHP consumer daemon
echo
bash bench/operator.sh   # the admin UI's reads with 1,000 topics and 100,000 dead letters
echo
bash bench/cluster.sh   # one Redis against a 3-master Redis Cluster; 1, 2, 4 gateways
