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
for ext in igbinary redis amqp curl pcntl posix sockets; do
  [[ -f $ext_dir/$ext.so ]] && peers+=(-d "extension=$ext")
done
export NO_INTERACTION=1 TEST_PHP_EXECUTABLE=$php DQ_ROOT=$root REPORT_EXIT_STATUS=1
(($# > 0)) || set -- php-tests
exec "$php" "$run_tests" -q -n --show-diff -j2 \
  -d "extension=$root/build/dq.so" "${peers[@]}" -d date.timezone=UTC "$@"
