#!/usr/bin/env bash
# make install: copies dq.so into PHP's extension directory and a commented dq.ini into PHP's
# configuration (Debian: /etc/php/X.Y/mods-available + phpenmod, so CLI and FPM both load it).
set -euo pipefail
cd "$(dirname "$0")/.."
so=${1:-build/dq.so}
ext_dir=$(php-config --extension-dir)
install -m 0644 "$so" "$ext_dir/.dq.so.new"
mv -f "$ext_dir/.dq.so.new" "$ext_dir/dq.so"
echo "installed $ext_dir/dq.so"
version=$(php -r 'echo PHP_MAJOR_VERSION, ".", PHP_MINOR_VERSION;')
if command -v phpenmod >/dev/null 2>&1 && [[ -d /etc/php/$version/mods-available ]]; then
  [[ -f /etc/php/$version/mods-available/dq.ini ]] || install -m 0644 ext/conf/dq.ini "/etc/php/$version/mods-available/dq.ini"
  phpenmod -v "$version" dq
  echo "enabled with phpenmod: /etc/php/$version/mods-available/dq.ini (restart php-fpm to load it there)"
else
  scan_dir=$(php --ini | sed -n 's/^Scan for additional .ini files in: //p')
  [[ -n $scan_dir && $scan_dir != "(none)" ]] || { echo "no conf.d directory: add extension=dq.so to php.ini" >&2; exit 1; }
  [[ -f $scan_dir/dq.ini ]] || install -m 0644 ext/conf/dq.ini "$scan_dir/dq.ini"
  echo "configured $scan_dir/dq.ini"
fi
php -r 'exit(extension_loaded("dq") ? 0 : 1);' && php --ri dq | head -3
