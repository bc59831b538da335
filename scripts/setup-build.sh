#!/usr/bin/env bash
# What building dq needs (`make build`, `make install`, and before the test setup): the Rust
# toolchain, and the Debian packages to compile the extension (PHP's headers and php-config,
# libclang for bindgen, a C compiler and linker). Never installs or starts a server.
# Idempotent: prints nothing and takes a few hundredths of a second when all is in place;
# otherwise one short "setup: ..." line per action.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib-setup.sh"

BUILD_PACKAGES=(php8.2-cli php8.2-dev libclang-dev gcc libc6-dev)

if ! command -v cargo >/dev/null 2>&1; then
  if [[ -x ${HOME:-/root}/.cargo/bin/cargo ]]; then
    die "cargo is not on PATH (it is in ${HOME:-/root}/.cargo/bin: run '. \"\$HOME/.cargo/env\"' or add that directory to PATH)"
  fi
  die "cargo not found: install the Rust toolchain with rustup (it cannot be installed offline by this script)"
fi

install_missing "${BUILD_PACKAGES[@]}"
command -v php-config >/dev/null 2>&1 || die "php-config not found (package php8.2-dev)"
