# Shared by scripts/setup-build.sh and scripts/setup.sh (sourced, not run).

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

# Installs those of the given Debian packages that are not installed yet; prints nothing when
# all are. `apt-get update` first when there are no package lists, or when a package was not found.
install_missing() {
  local installed missing=() p apt_log
  installed=$(dpkg-query -W -f='${Package} ${Status}\n' "$@" 2>/dev/null || true)
  for p in "$@"; do
    [[ $'\n'$installed$'\n' == *$'\n'"$p install ok installed"$'\n'* ]] || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
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
}
