#!/usr/bin/env bash
# What the tests, `make run` and `make bench` need on top of the build (scripts/setup-build.sh,
# which make runs first): the servers (Redis, RabbitMQ, MariaDB), each started when it does not
# answer, and the Debian packages the tests use (the peer libraries dq is compared with:
# phpredis, pecl amqp, php-amqplib, PDO MySQL (php8.2-mysql), PDO SQLite (a non-MySQL PDO for
# the outbox's refusal); php-fpm, wrk, valgrind, cgi-fcgi;
# supervisor, whose supervisord the worker example's test runs privately, never the system's;
# the frameworks the queue drivers are tested with: Laravel (php-laravel-framework, php8.2-intl)
# and Symfony Messenger; composer, for the dq/dq package's test; debootstrap, for the .deb's
# install test, scripts/deb-test.sh, which `make test` runs with DQ_TEST_DEB=1),
# a Python venv with the OpenAPI tools (schemathesis, openapi-spec-validator), and for the admin
# UI's browser tests (scripts/ui-tests.sh) Debian's chromium with playwright-core from npm into
# ui-tests/node_modules (as ui-tests/package-lock.json pins it; no browser is downloaded). Changes no
# database user: the tests log in to MariaDB as root without a password (as Debian's server
# lets root do over TCP on a fresh machine) and create and drop databases of their own.
# Idempotent: prints nothing and takes a few hundredths of a second when everything is in
# place; otherwise prints one short "setup: ..." line per action it takes.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib-setup.sh"

TEST_PACKAGES=(
  php8.2-fpm php8.2-curl php8.2-mbstring php8.2-redis php8.2-amqp php8.2-opcache php8.2-mysql
  php8.2-sqlite3 php8.2-intl
  php-amqplib php-laravel-framework php-symfony-messenger composer debootstrap
  redis-server rabbitmq-server mariadb-server wrk libfcgi-bin valgrind supervisor python3-venv
  chromium
)
# gateway/tests/it/schemathesis.rs runs these from $DQ_VENV (the test looks in the same place).
PY_TOOLS=(schemathesis==4.32.5 openapi-spec-validator==0.9.0 aiosmtpd==1.4.6)
DQ_VENV=${DQ_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/dq/venv}
AMQPLIB_AUTOLOAD=/usr/share/php/PhpAmqpLib/autoload.php
REDIS_LOG=/var/log/redis/ci.log
MARIADB_START_LOG=/var/log/mysql/ci-start.log # written by start-stop-daemon
# Logs that this shell itself redirects into (so must be writable by us).
if [[ $EUID -eq 0 ]]; then
  RABBIT_START_LOG=/var/log/rabbitmq/ci-start.log
  MARIADB_INIT_LOG=/var/log/mysql/ci-init.log
else
  RABBIT_START_LOG=${TMPDIR:-/tmp}/dq-setup-rabbitmq.log
  MARIADB_INIT_LOG=${TMPDIR:-/tmp}/dq-setup-mariadb-init.log
fi

# Print the last lines of the given log files (those that exist) to stderr.
show_logs() {
  local f
  for f in "$@"; do
    if as_root test -s "$f" 2>/dev/null; then
      echo "----- last lines of $f -----" >&2
      as_root tail -n 30 "$f" >&2 || true
    fi
  done
}

port_open() { timeout 1 bash -c "</dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# ---------------------------------------------------------------- packages
install_missing "${TEST_PACKAGES[@]}"

# ---------------------------------------------------------------- Python tools
# A stamp names what is installed: a change of PY_TOOLS installs again, nothing else is asked.
if [[ $(cat "$DQ_VENV/.dq-tools" 2>/dev/null) != "${PY_TOOLS[*]}" ]]; then
  say "installing ${PY_TOOLS[*]} into $DQ_VENV ..."
  pip_log=$(mktemp /tmp/dq-setup-pip.XXXXXX)
  { /usr/bin/python3 -m venv "$DQ_VENV" &&
    "$DQ_VENV/bin/pip" install -q --disable-pip-version-check "${PY_TOOLS[@]}"; } >>"$pip_log" 2>&1 || {
    tail -n 20 "$pip_log" >&2
    die "installing ${PY_TOOLS[*]} into $DQ_VENV failed (full log: $pip_log)"
  }
  printf '%s\n' "${PY_TOOLS[*]}" >"$DQ_VENV/.dq-tools"
  rm -f "$pip_log"
fi

# ---------------------------------------------------------------- browser tests' npm packages
# A copy of the lock file in node_modules says what is installed: a changed lock installs again.
UI_TESTS=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/ui-tests
if ! cmp -s "$UI_TESTS/package-lock.json" "$UI_TESTS/node_modules/.dq-package-lock.json"; then
  command -v npm >/dev/null 2>&1 || install_missing nodejs npm
  say "installing ui-tests' npm packages (playwright-core) ..."
  npm_log=$(mktemp /tmp/dq-setup-npm.XXXXXX)
  (cd "$UI_TESTS" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error) >>"$npm_log" 2>&1 || {
    tail -n 20 "$npm_log" >&2
    die "npm ci in $UI_TESTS failed (full log: $npm_log)"
  }
  cp "$UI_TESTS/package-lock.json" "$UI_TESTS/node_modules/.dq-package-lock.json"
  rm -f "$npm_log"
fi

# ---------------------------------------------------------------- Redis
if ! port_open 6379; then
  say "starting redis-server"
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
    --appendonly no --dir /var/lib/redis --logfile "$REDIS_LOG" >/dev/null ||
    { show_logs "$REDIS_LOG"; die "redis-server failed to start"; }
  for ((i = 0; i < 100; i++)); do # ~20 s
    [[ $(redis-cli -h 127.0.0.1 ping 2>/dev/null) == PONG ]] && break
    sleep 0.2
  done
  [[ $(redis-cli -h 127.0.0.1 ping 2>/dev/null) == PONG ]] ||
    { show_logs "$REDIS_LOG"; die "Redis did not come up on 127.0.0.1:6379 within 20 s"; }
fi

# ---------------------------------------------------------------- RabbitMQ
if ! port_open 5672; then
  if as_root rabbitmqctl -q -t 5 ping >/dev/null 2>&1; then
    # Erlang node is alive but the AMQP listener is not (still booting, or the
    # app was stopped with stop_app): make sure the app is started.
    say "starting RabbitMQ app (node already running)"
    as_root rabbitmqctl -q start_app >>"$RABBIT_START_LOG" 2>&1 || true
  else
    say "starting rabbitmq-server"
    as_root mkdir -p /var/log/rabbitmq
    as_root rabbitmq-server -detached >>"$RABBIT_START_LOG" 2>&1 ||
      { show_logs "$RABBIT_START_LOG"; die "rabbitmq-server -detached failed"; }
  fi
  rabbit_fail() {
    show_logs "$RABBIT_START_LOG" /var/log/rabbitmq/startup_err /var/log/rabbitmq/startup_log \
      /var/log/rabbitmq/rabbit@*.log
    die "$1"
  }
  deadline=$((SECONDS + 60))
  until port_open 5672; do
    ((SECONDS < deadline)) || rabbit_fail "RabbitMQ did not open 127.0.0.1:5672 within 60 s"
    sleep 0.5
  done
  left=$((deadline - SECONDS))
  ((left >= 5)) || left=5
  as_root rabbitmqctl -q -t "$left" await_startup >/dev/null 2>&1 ||
    rabbit_fail "RabbitMQ is listening but 'rabbitmqctl await_startup' failed (is rabbitmqctl usable?)"
fi

# ---------------------------------------------------------------- MariaDB
mariadb_fail() { show_logs "$MARIADB_START_LOG" /var/log/mysql/error.log; die "$1"; }
start_mariadb() {
  as_root start-stop-daemon --start --oknodo --quiet --background \
    --output "$MARIADB_START_LOG" --exec /usr/sbin/mariadbd -- --user=mysql
}

if ! port_open 3306; then
  say "starting mariadbd"
  as_root mkdir -p /run/mysqld /var/log/mysql
  as_root chown mysql:mysql /run/mysqld /var/log/mysql
  if ! as_root test -d /var/lib/mysql/mysql; then
    say "initialising MariaDB data directory"
    as_root mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db \
      >>"$MARIADB_INIT_LOG" 2>&1 || mariadb_fail "mariadb-install-db failed (see $MARIADB_INIT_LOG)"
  fi
  start_mariadb || mariadb_fail "start-stop-daemon failed to start mariadbd"
  # mariadbd only starts listening on TCP once it is ready for connections (a port check
  # needs no login, so no database user is assumed or changed).
  for ((i = 0; i < 80; i++)); do # ~20 s
    port_open 3306 && break
    # mariadbd may still have been shutting down when we tried: retry (no-op
    # while a mariadbd process exists).
    if ((i % 8 == 7)); then start_mariadb || true; fi
    sleep 0.25
  done
  port_open 3306 || mariadb_fail "MariaDB did not come up on 127.0.0.1:3306 within 20 s"
fi

# ---------------------------------------------------------------- PHP
php_mods=$(php -m 2>/dev/null) || die "'php -m' failed"
for m in redis amqp; do
  [[ $'\n'$php_mods$'\n' == *$'\n'"$m"$'\n'* ]] ||
    die "PHP extension '$m' is not loaded by the CLI (php -m); try: phpenmod -s cli $m"
done
[[ -f $AMQPLIB_AUTOLOAD ]] || die "$AMQPLIB_AUTOLOAD not found (package php-amqplib)"
compgen -G '/usr/lib/php/*/build/run-tests.php' >/dev/null ||
  die "PHP's run-tests.php not found under /usr/lib/php/*/build (package php8.2-dev)"
