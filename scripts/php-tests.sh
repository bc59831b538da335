#!/usr/bin/env bash
# Runs php-tests/*.phpt with PHP's own run-tests.php against build/dq.so, without php.ini (-n),
# loading only the peer extensions the tests use. Extra arguments: test files to run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
run_tests=$(compgen -G '/usr/lib/php/*/build/run-tests.php' | head -n1)
[[ -n $run_tests ]] || { echo "run-tests.php not found (package php8.2-dev)" >&2; exit 1; }
[[ -f build/dq.so ]] || { echo "build/dq.so is missing: run make build" >&2; exit 1; }
php=$(command -v php)
ext_dir=$(php-config --extension-dir)
peers=()
for ext in igbinary redis amqp curl pcntl posix sockets mysqlnd pdo pdo_mysql sqlite3 pdo_sqlite; do
  [[ -f $ext_dir/$ext.so ]] && peers+=(-d "extension=$ext")
done
export NO_INTERACTION=1 TEST_PHP_EXECUTABLE=$php DQ_ROOT=$root REPORT_EXIT_STATUS=1
# A test gets 180 s (run-tests' default is 60): php-tests/121 runs a RabbitMQ cluster through
# two node restarts in about 55 s alone, more under make test's load.
common=(-q -n --show-diff -j2 --set-timeout 180 "${peers[@]}" -d date.timezone=UTC)
# Named tests or directories (default: all): those of php-tests/ffi run without dq.so, the
# others with it.
(($# > 0)) || set -- php-tests
ffi=() ext=()
for t in "$@"; do
  case ${t%/} in
    php-tests) ext+=(php-tests/*.phpt) ffi+=(php-tests/ffi) ;;
    php-tests/ffi | */php-tests/ffi | php-tests/ffi/* | */php-tests/ffi/*) ffi+=("$t") ;;
    *) ext+=("$t") ;;
  esac
done
status=0
# A dq.so that PHP refuses to load would make every test "skip" (its EXTENSIONS section): fail.
if ((${#ext[@]})) && ! "$php" -n -d "extension=$root/build/dq.so" -r 'exit(extension_loaded("dq") ? 0 : 1);'; then
  echo "build/dq.so does not load into $php (see the error above)" >&2
  exit 1
fi
if ((${#ext[@]})); then
  "$php" "$run_tests" "${common[@]}" -d "extension=$root/build/dq.so" "${ext[@]}" || status=1
fi
# The FFI client's tests: libdq.so through FFI, the extension not loaded.
if ((${#ffi[@]})) && [[ -f $ext_dir/ffi.so ]]; then
  [[ -f build/libdq.so ]] || { echo "build/libdq.so is missing: run make build" >&2; exit 1; }
  "$php" "$run_tests" "${common[@]}" -d extension=ffi -d ffi.enable=1 "${ffi[@]}" || status=1
fi
exit $status
