#!/usr/bin/env bash
# Idempotent machine setup for dq: Debian packages, Redis, RabbitMQ, MariaDB.
# Called by `make run` / `make test` on every invocation: prints nothing and
# takes well under a second when everything is already in place; otherwise
# prints one short "setup: ..." line per action it takes.
set -euo pipefail

PACKAGES=(
  php8.2-cli php8.2-dev php8.2-fpm php8.2-curl php8.2-mbstring php8.2-redis
  php8.2-amqp php-amqplib libclang-dev redis-server rabbitmq-server
  mariadb-server wrk libfcgi-bin valgrind gcc php8.2-opcache
)
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

say() { echo "setup: $*"; }
die() { echo "setup: ERROR: $*" >&2; exit 1; }

# Run a command as root (directly, or through sudo when not root).
as_root() {
  if [[ $EUID -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

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

# ---------------------------------------------------------------- toolchain
if ! command -v cargo >/dev/null 2>&1; then
  if [[ -x ${HOME:-/root}/.cargo/bin/cargo ]]; then
    die "cargo is not on PATH (it is in ${HOME:-/root}/.cargo/bin: run '. \"\$HOME/.cargo/env\"' or add that directory to PATH)"
  fi
  die "cargo not found: install the Rust toolchain with rustup (it cannot be installed offline by this script)"
fi

# ---------------------------------------------------------------- packages
installed=$(dpkg-query -W -f='${Package} ${Status}\n' "${PACKAGES[@]}" 2>/dev/null || true)
missing=()
for p in "${PACKAGES[@]}"; do
  [[ $'\n'$installed$'\n' == *$'\n'"$p install ok installed"$'\n'* ]] || missing+=("$p")
done

if ((${#missing[@]})); then
  say "installing ${missing[*]} ..."
  apt_log=$(mktemp /tmp/dq-setup-apt.XXXXXX)
  apt_install() {
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
      --no-install-recommends -o DPkg::Lock::Timeout=120 "${missing[@]}" >>"$apt_log" 2>&1
  }
  apt_update() {
    say "running apt-get update ..."
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q \
      -o DPkg::Lock::Timeout=120 >>"$apt_log" 2>&1 || {
      tail -n 20 "$apt_log" >&2
      die "apt-get update failed (full log: $apt_log)"
    }
  }
  if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
    apt_update
  fi
  if ! apt_install; then
    if grep -qE 'Unable to locate package|has no installation candidate|Failed to fetch|404 +Not Found' "$apt_log"; then
      apt_update
      apt_install || {
        tail -n 20 "$apt_log" >&2
        die "apt-get install failed (full log: $apt_log)"
      }
    else
      tail -n 20 "$apt_log" >&2
      die "apt-get install failed (full log: $apt_log)"
    fi
  fi
  rm -f "$apt_log"
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
mariadb_tcp() { mariadb -uroot -h127.0.0.1 --connect-timeout=2 -Nse 'select 1' >/dev/null 2>&1; }
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
  # mariadbd only starts listening on TCP once it is ready for connections.
  # (Not `mariadb-admin ping`: it fails with "Host not allowed" until root's
  # authentication has been fixed below.)
  for ((i = 0; i < 80; i++)); do # ~20 s
    port_open 3306 && break
    # mariadbd may still have been shutting down when we tried: retry (no-op
    # while a mariadbd process exists).
    if ((i % 8 == 7)); then start_mariadb || true; fi
    sleep 0.25
  done
  port_open 3306 || mariadb_fail "MariaDB did not come up on 127.0.0.1:3306 within 20 s"
fi

# root with an empty password must work over TCP. A fresh install only lets
# root in through unix_socket auth: fix that through the socket.
if ! mariadb_tcp; then
  say "enabling passwordless root login over TCP in MariaDB"
  as_root mariadb -uroot --protocol=socket -e "
    ALTER USER root@localhost IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket;
    CREATE USER IF NOT EXISTS root@'127.0.0.1' IDENTIFIED BY '';
    GRANT ALL PRIVILEGES ON *.* TO root@'127.0.0.1' WITH GRANT OPTION;
    FLUSH PRIVILEGES;" >/dev/null 2>&1 ||
    mariadb_fail "cannot log in to MariaDB as root through the socket to fix root's authentication"
  mariadb_tcp || mariadb_fail "'mariadb -uroot -h127.0.0.1' still fails"
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
