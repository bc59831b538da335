#!/usr/bin/env bash
# make deb: build/dq_<version>_<arch>.deb (dq.so enabled for every PHP SAPI, dq-gateway with its
# systemd unit, user and /etc/dq/dq-gateway.toml, libdq.so and its headers) and
# build/dq-dbgsym_<version>_<arch>.deb (their debug info, by build id). From the files `make build`
# made, with dpkg-deb: no Rust toolchain where it is installed, no server started here.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
for f in build/dq.so build/libdq.so build/dq-gateway; do
  [[ -f $f ]] || { echo "$f is missing: run make build" >&2; exit 1; }
done
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
ext_dir=$(php-config --extension-dir)
phpapi=$(php-config --phpapi)
php_version=$(php -r 'echo PHP_MAJOR_VERSION, ".", PHP_MINOR_VERSION;')

work=$(mktemp -d "${TMPDIR:-/tmp}/dq-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
pkg=$work/dq
dbg=$work/dbgsym
install -d "$pkg/DEBIAN" "$dbg/DEBIAN"

# Stripped files in the package, their debug info in dbgsym under /usr/lib/debug/.build-id.
strip_into() { # source destination mode
  local source=$1 dest=$2 mode=$3 id
  install -D -m "$mode" "$source" "$pkg$dest"
  id=$(readelf -n "$source" | sed -n 's/^ *Build ID: *//p')
  [[ -n $id ]] || { echo "$source has no build id" >&2; exit 1; }
  install -d "$dbg/usr/lib/debug/.build-id/${id:0:2}"
  objcopy --only-keep-debug --compress-debug-sections "$source" "$dbg/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug"
  chmod 0644 "$dbg/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug"
  objcopy --strip-debug --strip-unneeded --remove-section=.comment --remove-section=.note \
    --add-gnu-debuglink="$dbg/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug" "$pkg$dest"
}
strip_into build/dq.so "$ext_dir/dq.so" 0644
strip_into build/dq-gateway /usr/bin/dq-gateway 0755
strip_into build/libdq.so "/usr/lib/$multiarch/libdq.so" 0644

# The extension's settings, enabled by postinst with phpenmod (CLI, FPM and any other SAPI).
install -d "$pkg/etc/php/$php_version/mods-available"
{ echo "; priority=20"; cat ext/conf/dq.ini; } > "$pkg/etc/php/$php_version/mods-available/dq.ini"

# The gateway: its defaults as a file to edit, its environment, its unit.
install -d "$pkg/etc/dq" "$pkg/etc/default"
build/dq-gateway --print-config > "$pkg/etc/dq/dq-gateway.toml"
install -m 0644 packaging/deb/dq-gateway.default "$pkg/etc/default/dq-gateway"
install -D -m 0644 packaging/deb/dq-gateway.service "$pkg/lib/systemd/system/dq-gateway.service"

# The C ABI: headers and a pkg-config file.
install -D -m 0644 include/dq.h "$pkg/usr/include/dq/dq.h"
install -D -m 0644 include/dq_ffi.h "$pkg/usr/include/dq/dq_ffi.h"
install -d "$pkg/usr/lib/$multiarch/pkgconfig"
cat > "$pkg/usr/lib/$multiarch/pkgconfig/dq.pc" <<PC
prefix=/usr
libdir=\${prefix}/lib/$multiarch
includedir=\${prefix}/include/dq

Name: dq
Description: dq's C ABI: the delay queue, RabbitMQ, XA and the outbox
Version: $version
Libs: -L\${libdir} -ldq
Cflags: -I\${includedir}
PC

# The PHP stubs (for IDEs) and the FFI client, for reference next to the docs.
install -D -m 0644 ext/dq.stub.php "$pkg/usr/share/dq/dq.stub.php"
install -D -m 0644 examples/ffi/DqFfi.php "$pkg/usr/share/dq/DqFfi.php"
install -D -m 0644 README.md "$pkg/usr/share/doc/dq/README.md"
gzip -9n "$pkg/usr/share/doc/dq/README.md"
cat > "$pkg/usr/share/doc/dq/copyright" <<'COPYRIGHT'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: dq
Files: *
Copyright: the dq authors
License: see the source repository
COPYRIGHT
install -d "$dbg/usr/share/doc"
ln -s dq "$dbg/usr/share/doc/dq-dbgsym"

# Control files. Shared libraries from dpkg-shlibdeps (libc, libgcc), PHP's module API.
shlibs=$(cd "$work" && mkdir -p debian && : > debian/control && dpkg-shlibdeps -O -e"$pkg$ext_dir/dq.so" -e"$pkg/usr/bin/dq-gateway" -e"$pkg/usr/lib/$multiarch/libdq.so" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[[ -n $shlibs ]] || shlibs="libc6, libgcc-s1"
size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
cat > "$pkg/DEBIAN/control" <<CONTROL
Package: dq
Version: $version
Architecture: $arch
Maintainer: dq <dq@localhost>
Installed-Size: $size
Depends: $shlibs, phpapi-$phpapi, adduser
Recommends: php$php_version-cli | php$php_version-fpm
Suggests: redis-server, rabbitmq-server, mariadb-server
Section: php
Priority: optional
Description: delay queues, RabbitMQ and cross-database transactions for PHP
 dq.so: the PHP extension (Dq\\Client, Dq\\Producer, Dq\\Consumer, Dq\\Xa, Dq\\Outbox,
 Dq\\Inbox), enabled for the CLI and PHP-FPM. dq-gateway: the same over HTTP and the
 workers (timers, callbacks with retry ladders, subscriptions, the outbox relay, XA
 recovery, the admin UI), as the systemd service dq-gateway. libdq.so and
 /usr/include/dq: the C ABI, also for PHP's FFI.
CONTROL
find "$pkg/etc" -type f | sed "s|^$pkg||" | sort > "$pkg/DEBIAN/conffiles"
install -m 0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm "$pkg/DEBIAN/"
dsize=$(du -sk --exclude=DEBIAN "$dbg" | cut -f1)
cat > "$dbg/DEBIAN/control" <<CONTROL
Package: dq-dbgsym
Version: $version
Architecture: $arch
Maintainer: dq <dq@localhost>
Installed-Size: $dsize
Depends: dq (= $version)
Section: debug
Priority: optional
Description: debug symbols for dq
 The debug info of dq.so, dq-gateway and libdq.so, found by gdb through their build ids.
CONTROL

for tree in "$pkg" "$dbg"; do
  find "$tree" -type d -exec chmod 0755 {} +
done
mkdir -p build
deb=build/dq_${version}_${arch}.deb
ddeb=build/dq-dbgsym_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb.new" >/dev/null && mv -f "$deb.new" "$deb"
dpkg-deb --root-owner-group -Zxz --build "$dbg" "$ddeb.new" >/dev/null && mv -f "$ddeb.new" "$ddeb"
echo "built $deb ($(du -h "$deb" | cut -f1)) and $ddeb ($(du -h "$ddeb" | cut -f1))"
