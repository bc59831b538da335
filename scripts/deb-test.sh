#!/usr/bin/env bash
# The .deb installed on a fresh Debian: a root made with debootstrap (Debian's php8.2 from the same
# mirror as this machine), the package installed there with dpkg, then: the extension loaded by
# the CLI and by PHP-FPM (php -m, php --ri dq), the gateway started from the package's unit
# command line as its user against this machine's Redis (same network), a message added from PHP
# in that root read back over the gateway's HTTP API, libdq.so through PHP's FFI with the
# installed header, and removal and purge leaving nothing of it. Minutes: `make test` runs it
# only with DQ_TEST_DEB=1. The debootstrap root is kept in target/deb-test/ for the next run
# (DQ_DEB_TEST_FRESH=1 makes a new one).
set -euo pipefail
# (grep -c, not grep -q, after a pipe: -q stops reading, the writer gets SIGPIPE, pipefail fails.)
cd "$(dirname "$0")/.."
root_dir=$PWD
[[ $(id -u) -eq 0 ]] || { echo "deb-test: needs root (debootstrap, chroot)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "deb-test: debootstrap is missing (scripts/setup.sh installs it)" >&2; exit 1; }
bash scripts/deb.sh
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
deb=$root_dir/build/dq_${version}_$(dpkg --print-architecture).deb

suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)
[[ -n $mirror ]] || mirror=$(awk '$1 == "deb" && $3 !~ /security/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
mirror=${mirror:-http://deb.debian.org/debian}
cache=target/deb-test/$suite-php.tar
work=$(mktemp -d "${TMPDIR:-/tmp}/dq-deb-test.XXXXXX")
chroot_dir=$work/root
prefix=dqdeb-$$-$RANDOM
gateway_pid=
cleanup() {
  [[ -n $gateway_pid ]] && kill "$gateway_pid" 2>/dev/null && wait "$gateway_pid" 2>/dev/null
  mountpoint -q "$chroot_dir/proc" && umount "$chroot_dir/proc"
  redis-cli --scan --pattern "$prefix:*" 2>/dev/null | xargs -r redis-cli del >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
step() { printf 'deb-test: %s\n' "$*"; }

if [[ ! -f $cache || ${DQ_DEB_TEST_FRESH:-0} == 1 ]]; then
  step "debootstrap $suite from $mirror (a minute or two)"
  mkdir -p target/deb-test
  debootstrap --variant=minbase \
    --include=php8.2-cli,php8.2-fpm,php-common,adduser,curl,ca-certificates,init-system-helpers \
    "$suite" "$work/fresh" "$mirror" > target/deb-test/debootstrap.log 2>&1 ||
    { tail -20 target/deb-test/debootstrap.log >&2; exit 1; }
  tar -C "$work/fresh" -cf "$cache.new" . && mv -f "$cache.new" "$cache"
  rm -rf "$work/fresh"
fi
mkdir -p "$chroot_dir"
tar -C "$chroot_dir" -xf "$cache"
mount -t proc proc "$chroot_dir/proc"
in_root() { chroot "$chroot_dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"; }

step "no Rust toolchain there: $(in_root sh -c 'command -v cargo rustc || echo none')"
cp "$deb" "$chroot_dir/tmp/dq.deb"
step "dpkg -i $(basename "$deb")"
in_root dpkg -i /tmp/dq.deb
in_root dpkg -s dq | grep -c '^Status: install ok installed' > /dev/null || { echo "deb-test: dq is not installed" >&2; exit 1; }

step "the extension, CLI and FPM"
in_root php -m | grep -cx dq > /dev/null || { echo "deb-test: php -m does not list dq" >&2; in_root php -m >&2; exit 1; }
in_root php --ri dq > "$work/ri.txt"
grep -E '^(dq support|Version)' "$work/ri.txt" | sed 's/^/  /'
in_root php-fpm8.2 -m | grep -cx dq > /dev/null || { echo "deb-test: php-fpm8.2 -m does not list dq" >&2; exit 1; }
[[ -L $chroot_dir/etc/php/8.2/cli/conf.d/20-dq.ini && -L $chroot_dir/etc/php/8.2/fpm/conf.d/20-dq.ini ]] ||
  { echo "deb-test: conf.d links missing" >&2; ls -l "$chroot_dir"/etc/php/8.2/*/conf.d/ >&2; exit 1; }

step "the service: user, unit, config"
in_root getent passwd dq | grep -c ':/nonexistent:' > /dev/null || { echo "deb-test: no system user dq" >&2; exit 1; }
unit=$chroot_dir/lib/systemd/system/dq-gateway.service
grep -q '^ExecStart=/usr/bin/dq-gateway --config /etc/dq/dq-gateway.toml$' "$unit"
grep -q '^User=dq$' "$unit" && grep -q '^LimitNOFILE=' "$unit" && grep -q '^Restart=on-failure$' "$unit"
[[ -L $chroot_dir/etc/systemd/system/multi-user.target.wants/dq-gateway.service ]] ||
  { echo "deb-test: the unit is not enabled" >&2; exit 1; }
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify --root="$chroot_dir" dq-gateway.service 2>&1 | grep -v 'Failed to connect\|No such file' || true
fi

step "the gateway as the unit starts it (user dq, /etc/dq/dq-gateway.toml), on this machine's Redis"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
chroot --userspec=dq:dq "$chroot_dir" /usr/bin/env -i PATH=/usr/bin:/bin DQ_LISTEN="127.0.0.1:$port" DQ_PREFIX="$prefix" \
  /usr/bin/dq-gateway --config /etc/dq/dq-gateway.toml > "$work/gateway.log" 2>&1 &
gateway_pid=$!
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$port/healthz" > "$work/health.json" 2>/dev/null && break
  kill -0 "$gateway_pid" 2>/dev/null || { cat "$work/gateway.log" >&2; exit 1; }
  sleep 0.1
done
grep -q '"status"' "$work/health.json" || { echo "deb-test: no /healthz" >&2; cat "$work/gateway.log" >&2; exit 1; }
step "/healthz: $(head -c 120 "$work/health.json")"
curl -fsS -X PUT "http://127.0.0.1:$port/v1/topics/orders" -H 'Content-Type: application/json' \
  -d '{"mode": "pull"}' > /dev/null
in_root php -r '
  $dq = new Dq\Client(["prefix" => $argv[1]]);
  $dq->add("orders", ["id" => "o-1", "body" => ["from" => "the package"], "delay" => 60]);
' "$prefix"
curl -fsS "http://127.0.0.1:$port/v1/topics/orders/messages/o-1" | grep -c '"from":"the package"' > /dev/null ||
  { echo "deb-test: the message added in the root is not seen over HTTP" >&2; exit 1; }
step "a message added by dq.so in that root, read over the gateway's API"

step "libdq.so through PHP's FFI with /usr/include/dq/dq_ffi.h"
if in_root php -m | grep -cx FFI > /dev/null; then
  in_root php -d ffi.enable=1 -r '
    require "/usr/share/dq/DqFfi.php";
    $dq = new DqFfi\Client(["prefix" => $argv[1]]);
    echo json_encode($dq->get("orders", "o-1")["body"]), "\n";
  ' "$prefix" | grep -c 'the package' > /dev/null || { echo "deb-test: FFI client failed" >&2; exit 1; }
else
  step "(php8.2-cli there has no FFI: skipped)"
fi

kill -TERM "$gateway_pid"
wait "$gateway_pid" || { echo "deb-test: the gateway did not stop cleanly on SIGTERM" >&2; cat "$work/gateway.log" >&2; exit 1; }
gateway_pid=

step "dpkg -r: the extension disabled; dpkg -P: its configuration gone"
in_root dpkg -r dq > /dev/null
in_root php -m | grep -cx dq > /dev/null && { echo "deb-test: dq still loaded after dpkg -r" >&2; exit 1; }
[[ -f $chroot_dir/etc/dq/dq-gateway.toml ]] || { echo "deb-test: dpkg -r removed a conffile" >&2; exit 1; }
in_root dpkg -P dq > /dev/null
[[ ! -e $chroot_dir/etc/dq && ! -e $chroot_dir/usr/bin/dq-gateway && ! -e $chroot_dir/etc/php/8.2/mods-available/dq.ini ]] ||
  { echo "deb-test: files left after purge" >&2; exit 1; }
step "passed"
