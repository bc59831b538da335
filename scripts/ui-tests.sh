#!/usr/bin/env bash
# Browser tests of the admin UI (ui-tests/run.mjs: Debian's chromium driven by playwright-core,
# both installed by scripts/setup.sh). Starts everything the tests need and removes it afterwards:
# a private build/dq-gateway serving /ui/ (its own prefix, RabbitMQ vhost and MariaDB databases,
# a token and a read-only token), a second one on the same prefix without a token (the UI's
# no-sign-in banner), and the HTTP endpoint their topics deliver to (ui-tests/sink.py).
# Screenshots go to target/ui-shots/. gateway/ui/dev/proxy.py serves the UI's files from the
# tree in front of a gateway, for working on the UI without rebuilding.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

die() { echo "ui-tests: $*" >&2; exit 1; }
[[ -x build/dq-gateway ]] || die "build/dq-gateway is missing: run make build"
[[ -x /usr/bin/chromium ]] || die "/usr/bin/chromium is missing: run scripts/setup.sh"
[[ -d ui-tests/node_modules/playwright-core ]] || die "ui-tests/node_modules is missing: run scripts/setup.sh"

run_id="dqui$$$(printf '%04x' $RANDOM)"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dq-ui-tests.XXXXXX")
pids=()
vhost=""
dbs=()
xa_xid=""

cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  redis-cli -h 127.0.0.1 --scan --pattern "$run_id:*" 2>/dev/null |
    xargs -r -n 500 redis-cli -h 127.0.0.1 del >/dev/null 2>&1 || true
  [[ -z $vhost ]] || rabbitmqctl -q delete_vhost "$vhost" >/dev/null 2>&1 || true
  # A prepared branch the tests did not settle holds its locks: DROP DATABASE would wait for ever.
  [[ -z $xa_xid ]] || mariadb -uroot -h127.0.0.1 -e "XA ROLLBACK $xa_xid" >/dev/null 2>&1 || true
  for db in "${dbs[@]}"; do mariadb -uroot -h127.0.0.1 -e "DROP DATABASE IF EXISTS \`$db\`" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() { # url, what, log
  for ((i = 0; i < 100; i++)); do
    curl -s -o /dev/null "$1" && return 0
    sleep 0.1
  done
  tail -n 30 "$3" >&2 || true
  die "$2 did not answer at $1 within 10 s"
}

token=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
readonly_token=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
gw_port=$(free_port)
sink_port=$(free_port)
noauth_port=$(free_port)

vhost=$run_id
rabbitmqctl -q add_vhost "$vhost" >/dev/null
rabbitmqctl -q set_permissions -p "$vhost" guest '.*' '.*' '.*' >/dev/null
dbs=("${run_id}_dq" "${run_id}_app")
mariadb -uroot -h127.0.0.1 -e "CREATE DATABASE \`${run_id}_app\`"

cat >"$tmp/gateway.toml" <<EOF
listen = "127.0.0.1:$gw_port"
prefix = "$run_id"
token = "$token"
ui_readonly_token = "$readonly_token"
amqp = "amqp://guest:guest@127.0.0.1:5672/$vhost"
mysql = "mysql://root@127.0.0.1:3306/${run_id}_dq"
log_summary_interval = 3600.0
[workers]
xa_timeout = 3600.0
[databases]
app = "mysql://root@127.0.0.1:3306/${run_id}_app"
[outbox]
databases = ["app"]
EOF
env -u DQ_TOKEN -u DQ_PREFIX -u DQ_LISTEN -u DQ_AMQP -u DQ_MYSQL -u DQ_REDIS \
  build/dq-gateway --config "$tmp/gateway.toml" migrate >"$tmp/migrate.log" 2>&1 ||
  { cat "$tmp/migrate.log" >&2; die "dq-gateway migrate failed"; }
# An XA transaction in doubt for the XA page: a branch left prepared in `app`, as a coordinator
# that died after XA PREPARE leaves it; its id is one of the gateway's decision log (dq, the FNV-1a
# tag of the log's server and database, the start in hex ms, 64 random bits: core/src/xa/xid.rs).
xa_id=$(python3 -c '
import os, sys, time
tag = 0x811C9DC5
for b in ("127.0.0.1:3306/" + sys.argv[1]).encode():
    tag = ((tag ^ b) * 0x01000193) & 0xFFFFFFFF
print("dq%08x%012x%016x" % (tag, int(time.time() * 1000), int.from_bytes(os.urandom(8), "big")))
' "${run_id}_dq")
hex() { python3 -c 'import sys; print(sys.argv[1].encode().hex())' "$1"; }
xa_xid="X'$(hex "$xa_id")',X'$(hex app)',$((0x6471))"
mariadb -uroot -h127.0.0.1 "${run_id}_app" -e "CREATE TABLE ui_note (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(64));
  XA START $xa_xid; INSERT INTO ui_note (note) VALUES ('left prepared'); XA END $xa_xid; XA PREPARE $xa_xid"
env -u DQ_TOKEN -u DQ_PREFIX -u DQ_LISTEN -u DQ_AMQP -u DQ_MYSQL -u DQ_REDIS DQ_LOG=warn \
  build/dq-gateway --config "$tmp/gateway.toml" >"$tmp/gateway.log" 2>&1 &
pids+=($!)
python3 ui-tests/sink.py "$sink_port" >"$tmp/sink.log" 2>&1 &
pids+=($!)
# The same gateway as one without a token serves it (on loopback): no sign-in, a banner.
sed -e "s/^listen = .*/listen = \"127.0.0.1:$noauth_port\"/" -e '/^token = /d' -e '/^ui_readonly_token = /d' \
  "$tmp/gateway.toml" >"$tmp/gateway-noauth.toml"
env -u DQ_TOKEN -u DQ_PREFIX -u DQ_LISTEN -u DQ_AMQP -u DQ_MYSQL -u DQ_REDIS DQ_LOG=warn \
  build/dq-gateway --config "$tmp/gateway-noauth.toml" --no-workers >"$tmp/gateway-noauth.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$gw_port/healthz" "dq-gateway" "$tmp/gateway.log"
wait_http "http://127.0.0.1:$noauth_port/healthz" "dq-gateway (no token)" "$tmp/gateway-noauth.log"

status=0
DQ_UI_URL="http://127.0.0.1:$gw_port" DQ_UI_TOKEN=$token DQ_UI_READONLY_TOKEN=$readonly_token DQ_UI_XA_ID=$xa_id \
  DQ_UI_NOAUTH_URL="http://127.0.0.1:$noauth_port" DQ_UI_SINK="http://127.0.0.1:$sink_port" DQ_UI_SHOTS="$root/target/ui-shots" \
  node --test-reporter=spec ui-tests/run.mjs || status=$?
if ((status)); then
  echo "----- gateway log (last lines) -----" >&2
  tail -n 30 "$tmp/gateway.log" >&2 || true
fi
exit $status
