#!/usr/bin/env bash
# `make build` and `make install` never install or start a server, nor touch a database's users;
# `make test` and `make run` set the test machine up (servers, peer libraries) quietly.
#
# Runs the scripts that `make -n build install` shows, with PATH shims that record every call to
# apt-get, the servers and their control tools, and with dpkg-query saying that nothing is
# installed (so the scripts ask apt-get for everything they would ever install). scripts/install.sh
# (which copies dq.so into PHP's directories) is read, not run. Then runs the test setup as
# `make test` does, with every service up: it must do nothing and print nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
unset MAKEFLAGS MFLAGS MAKELEVEL # run from `make test`: the make below is a fresh one

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dq-setup-split.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log=$tmp/calls
: >"$log"
failures=0
fail() {
  echo "setup-split: FAIL: $*" >&2
  failures=$((failures + 1))
}

# Servers, their control tools and package managers: a call to any of these is recorded.
servers=(redis-server rabbitmq-server mariadbd mysqld mysqld_safe mariadb-install-db
  mysql_install_db start-stop-daemon service systemctl invoke-rc.d)
controls=(redis-cli rabbitmqctl rabbitmq-plugins mariadb mysql mariadb-admin mysqladmin)
shims=$tmp/shims
mkdir "$shims"
shim() { # name, exit status
  printf '#!/bin/sh\nprintf "%%s\\n" "%s $*" >>"%s"\nexit %d\n' "$1" "$log" "$2" >"$shims/$1"
  chmod +x "$shims/$1"
}
for tool in "${servers[@]}"; do shim "$tool" 0; done
# Clients fail, as if no server answered: a script that needs one goes on to start it.
for tool in "${controls[@]}"; do shim "$tool" 1; done
shim apt-get 0
shim apt 0
# Nothing is installed: the scripts list every package they want.
# (DQ_REAL_DPKG=1: the real one, everything installed as on this machine.)
printf '#!/bin/sh\n[ -n "$DQ_REAL_DPKG" ] && exec /usr/bin/dpkg-query "$@"\nexit 1\n' >"$shims/dpkg-query"
printf '#!/bin/sh\nexec "$@"\n' >"$shims/sudo"
chmod +x "$shims/dpkg-query" "$shims/sudo"

# ---------------------------------------------------------------- make build install
plan=$(make -n --no-print-directory build install 2>&1) || {
  fail "make -n build install failed: $plan"
  plan=
}
mapfile -t scripts < <(grep -oE 'scripts/[A-Za-z0-9_./-]+\.sh' <<<"$plan" | awk '!seen[$0]++')
((${#scripts[@]})) || fail "make -n build install runs no script of scripts/ (expected the build setup)"
for word in "${servers[@]}" "${controls[@]}"; do
  grep -qwF -- "$word" <<<"$plan" && fail "make -n build install names $word"
done

server_package='(-server$|fpm|^(mariadb|mysql|redis|rabbitmq))'
for script in "${scripts[@]}"; do
  if [[ $script == scripts/install.sh ]]; then
    for word in apt-get "${servers[@]}" "${controls[@]}"; do
      grep -qwF -- "$word" "$script" && fail "$script (run by make install) calls $word"
    done
    continue
  fi
  : >"$log"
  out=$(PATH="$shims:$PATH" bash "$script" 2>&1) || fail "$script failed with everything shimmed: $out"
  while read -r tool args; do
    case $tool in
      apt-get | apt)
        [[ $args == *install* ]] || continue
        for p in $args; do
          [[ $p == -* || $p == install ]] && continue
          [[ $p =~ $server_package ]] && fail "$script (run by make build/install) installs the server package $p"
        done
        [[ " $args " == *" php8.2-dev "* ]] || fail "$script does not install php8.2-dev (shims not reached?): apt-get $args"
        ;;
      *) fail "$script (run by make build/install) reached $tool $args" ;;
    esac
  done <"$log"
  grep -qE '^apt(-get)? .*install' "$log" || fail "$script called no apt-get install although nothing is installed"
  # Everything in place (the real dpkg-query): quiet, nothing reached.
  : >"$log"
  out=$(PATH="$shims:$PATH" DQ_REAL_DPKG=1 bash "$script" 2>&1) || fail "$script failed with everything in place: $out"
  [[ -z $out ]] || fail "$script printed something with everything in place: $out"
  [[ -s $log ]] && fail "$script reached, with everything in place:"$'\n'"$(cat "$log")"
done

# ---------------------------------------------------------------- the test setup
for target in test run; do
  # (Not piped into grep -q: make would get SIGPIPE, and pipefail would call that a failure.)
  targets=$(make -n --no-print-directory "$target" 2>&1) || fail "make -n $target failed: $targets"
  grep -qF scripts/setup.sh <<<"$targets" || fail "make $target does not run the test setup (scripts/setup.sh)"
done
# Nothing outside the test setup may change a database's users, and not even it changes root's.
if grep -nE 'ALTER +USER|CREATE +USER|GRANT +|SET +PASSWORD|IDENTIFIED +(BY|VIA|WITH)' Makefile scripts/*.sh >"$tmp/sql"; then
  fail "a script changes database users:"$'\n'"$(cat "$tmp/sql")"
fi
# As `make test` runs it, everything in place (its packages installed, every service up):
# quiet, and nothing reached but the real dpkg-query.
: >"$log"
started=$SECONDS
out=$(PATH="$shims:$PATH" DQ_REAL_DPKG=1 bash scripts/setup.sh 2>&1) || fail "scripts/setup.sh failed with everything in place: $out"
[[ -z $out ]] || fail "scripts/setup.sh printed something with everything in place: $out"
[[ -s $log ]] && fail "scripts/setup.sh reached, with everything in place:"$'\n'"$(cat "$log")"
((SECONDS - started <= 5)) || fail "scripts/setup.sh took $((SECONDS - started)) s with everything in place"

if ((failures)); then
  echo "setup-split: $failures failure(s)" >&2
  exit 1
fi
echo "setup-split: ok (make build/install run ${scripts[*]}: no server, no user change; the test setup is quiet)"
