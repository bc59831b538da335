# dq: `make run` starts the gateway, `make test` runs every test, `make bench` compares dq with
# what it replaces. `make build` and `make install` only need what compiling needs
# (scripts/setup-build.sh: the toolchain, PHP's headers, libclang): they never install or start a
# server. `make run`, `make test` and `make bench` also run the test setup (scripts/setup.sh:
# Redis, RabbitMQ, MariaDB and the peer libraries installed, servers started when not answering).

SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)
CARGO ?= cargo
PHP ?= php
BUILD := build

.PHONY: all setup setup-build build run test test-scripts test-rust test-cluster test-php test-ui test-deb lint bench install deb header clean

all: build

setup-build:
	@bash scripts/setup-build.sh

setup: setup-build
	@bash scripts/setup.sh

# build/dq.so, build/libdq.so, build/dq-gateway (release). Files are replaced by rename, so a
# running PHP or gateway keeps its copy.
build: setup-build
	$(CARGO) build --release --locked -p dq-ext -p dq-capi -p dq-gateway
	@mkdir -p $(BUILD)
	@install -m 0755 target/release/libdq_php.so $(BUILD)/.dq.so.new && mv -f $(BUILD)/.dq.so.new $(BUILD)/dq.so
	@install -m 0755 target/release/libdq.so $(BUILD)/.libdq.so.new && mv -f $(BUILD)/.libdq.so.new $(BUILD)/libdq.so
	@install -m 0755 target/release/dq-gateway $(BUILD)/.dq-gateway.new && mv -f $(BUILD)/.dq-gateway.new $(BUILD)/dq-gateway
	@echo "built $(BUILD)/dq.so, $(BUILD)/libdq.so and $(BUILD)/dq-gateway"

run: setup build
	@bash scripts/try-it.sh
	exec $(BUILD)/dq-gateway

test: setup build test-scripts test-rust test-cluster test-php test-ui test-deb

# scripts/tests/*.sh: checks of the scripts themselves (the setup split).
test-scripts:
	@for t in scripts/tests/*.sh; do bash "$$t" || exit 1; done

# Includes the check that include/dq.h and include/dq_ffi.h match capi/src (`make header`).
test-rust:
	$(CARGO) test --release --locked --workspace

# The delay queue's and the workers' suites again on a private Redis Cluster (3 + 3 nodes).
test-cluster:
	@bash scripts/cluster-tests.sh

test-php:
	@bash scripts/php-tests.sh

# The admin UI in Debian's chromium (playwright-core); screenshots in target/ui-shots/.
test-ui:
	@bash scripts/ui-tests.sh

# The .deb installed into a fresh Debian root made with debootstrap (minutes: a download, then
# kept in target/deb-test/): only with DQ_TEST_DEB=1.
test-deb:
	@if [[ "$${DQ_TEST_DEB:-0}" == 1 ]]; then bash scripts/deb-test.sh; \
	else echo "test-deb: skipped (DQ_TEST_DEB=1 make test-deb installs the .deb into a debootstrap root)"; fi

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets --locked -- -D warnings

bench: setup build
	@bash bench/run.sh

# dq.so into PHP's extension dir, a commented dq.ini into PHP's conf.d (Debian: phpenmod).
install: build
	@bash scripts/install.sh $(BUILD)/dq.so

# build/dq_<version>_<arch>.deb and its -dbgsym (dpkg-deb; scripts/deb.sh says what is in it).
deb: build
	@bash scripts/deb.sh

# Regenerates include/dq.h and include/dq_ffi.h from capi/src with the pinned cbindgen.
header:
	DQ_UPDATE_HEADER=1 $(CARGO) test --release --locked -p dq-capi --test header

clean:
	$(CARGO) clean
	rm -rf $(BUILD)
