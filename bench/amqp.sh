#!/usr/bin/env bash
# make bench, RabbitMQ: dq's Dq\Producer against php-amqplib and pecl amqp, in one run, printed
# as ratios against targets (RabbitMQ on 127.0.0.1:5672, guest; php-amqplib in /usr/share/php).
#   A. per-request pattern, a confirm per message, 1 and N processes (bench/amqp-publish.php);
#   B. long-lived loop, a confirm per message, and publishBatch (bench/amqp-publish.php);
#   C. memory: RSS after 10,000 and 100,000 publishes (bench/amqp-memory.php).
# Every measurement runs in a vhost of its own, deleted afterwards; on any exit the vhosts of
# this run and its worker processes are gone. ~2 minutes with the defaults.
# Sizes: DQ_BENCH_AMQP_ROUNDS (3), DQ_BENCH_AMQP_SECONDS (2, per contender and round),
# DQ_BENCH_AMQP_PROCESSES (8), DQ_BENCH_AMQP_MESSAGES (100000, for C).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
rounds=${DQ_BENCH_AMQP_ROUNDS:-3}
seconds=${DQ_BENCH_AMQP_SECONDS:-2}
processes=${DQ_BENCH_AMQP_PROCESSES:-8}
messages=${DQ_BENCH_AMQP_MESSAGES:-100000}

[[ -f build/dq.so ]] || { echo "build/dq.so is missing: run make build" >&2; exit 1; }
[[ -f /usr/share/php/PhpAmqpLib/autoload.php ]] || { echo "php-amqplib is missing (package php-amqplib)" >&2; exit 1; }
ext_dir=$(php-config --extension-dir)
[[ -f $ext_dir/amqp.so ]] || { echo "pecl amqp is missing (package php-amqp)" >&2; exit 1; }

# No php.ini: dq.so and the peers only (igbinary before redis, which needs it; php-amqplib
# wants sockets and mbstring; pcntl and posix when they are not built in).
php_flags=(-n -d "extension=$root/build/dq.so")
for ext in igbinary redis amqp sockets mbstring pcntl posix; do
  [[ -f $ext_dir/$ext.so ]] && php_flags+=(-d "extension=$ext")
done
export DQ_BENCH_PHP_FLAGS
DQ_BENCH_PHP_FLAGS=$(printf '%s\n' "${php_flags[@]}")
export DQ_BENCH_RUN=dqbench-amqp-$$

pids=()
cleanup() {
  local pid child
  for pid in "${pids[@]}"; do
    # The PHP coordinator and its workers (its children, by pid) on ctrl-c or an error.
    for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do kill -9 "$child" 2>/dev/null || true; done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rabbitmqctl -q list_vhosts 2>/dev/null | { grep "^$DQ_BENCH_RUN-" || true; } | while read -r vhost; do
    rabbitmqctl -q delete_vhost "$vhost" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runs php with the flags above in the background (so that the trap can stop it), waits for it.
run_php() {
  php "${php_flags[@]}" "$@" &
  pids=("$!")
  wait "${pids[0]}"
}

echo "== RabbitMQ: Dq\\Producer vs php-amqplib $(php -n -r 'require "/usr/share/php/PhpAmqpLib/Package.php"; echo PhpAmqpLib\Package::VERSION;') and pecl amqp $(php -n -d extension=amqp -r 'echo phpversion("amqp");') (RabbitMQ $(rabbitmqctl -q version 2>/dev/null || echo '?'), 127.0.0.1:5672)"
run_php bench/amqp-publish.php "$rounds" "$seconds" "$processes"

echo
echo "== RabbitMQ: memory of a PHP process publishing with dq"
run_php bench/amqp-memory.php "$messages"
