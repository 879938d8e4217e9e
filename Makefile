# balena-extension-runtime — build, test and measure.
#
#   make build   static, stripped binary and applet symlinks in dist/
#                (STD=source: std compiled from source, smaller; see README)
#   make demo    a whole lifecycle of the example extension
#   make test    unit tests, tests/ (the real binary), and e2e/ when possible
#   make e2e     real containerd + Docker (root, Debian's packages)
#   make size    binary sizes against the budgets
#   make bench   lifecycle latency and memory against the floor
#   make fuzz    cargo-fuzz on every fuzz target (FUZZ_SECONDS each)

CARGO   ?= cargo
TARGET  ?= $(shell rustc -vV | sed -n 's/^host: //p')
# STD=prebuilt links the standard library the toolchain ships. STD=source
# compiles std from its sources (the toolchain's rust-src component, added
# on demand) with the release profile and without its backtrace symbolizer,
# which the prebuilt std links into every binary through the default panic
# hook (~165 KB). A panic still prints its message, only no backtrace. This
# is how a Yocto build gets std too (the libstd-rs recipe compiles it, with
# RUSTC_BOOTSTRAP as here, to pass the -Z flags to stable cargo).
STD     ?= prebuilt
ifeq ($(STD),source)
STD_ENV   := RUSTC_BOOTSTRAP=1
STD_FLAGS := -Z build-std=std,panic_abort -Z build-std-features=
TARGET_DIR := target/std-source
else ifeq ($(STD),prebuilt)
STD_ENV   :=
STD_FLAGS :=
TARGET_DIR := target
else
$(error STD must be prebuilt or source, not "$(STD)")
endif
RELEASE := $(TARGET_DIR)/$(TARGET)/release
DIST    := dist
BIN     := balena-extension-runtime
LINKS   := balena-extension-proxy extension-inspect state-dump balena-extension-manager
# No unwind tables: with panic = "abort" nothing unwinds, and a panic still
# prints its message and aborts; only its backtrace loses its frames (mere
# addresses in a stripped binary anyway). Saves ~130 KB static, ~76 KB dynamic.
NO_UNWIND_LD := $(CURDIR)/target/no-unwind.ld
LINK_RUSTFLAGS := -C link-arg=-Wl,--icf=all -C link-arg=-Wl,-T,$(NO_UNWIND_LD)
# Panic locations name source files. std's are /rustc/COMMIT/... as the
# toolchain ships them, but rustc rewrites them to the local copy once
# rust-src is installed, and the crates' name the cargo home: unmapped, the
# binary would change with the build host. These maps keep it the same.
SYSROOT    := $(shell rustc --print sysroot)
RUST_COMMIT := $(shell rustc -vV | sed -n 's/^commit-hash: //p')
CARGO_HOME ?= $(HOME)/.cargo
REMAP_RUSTFLAGS := --remap-path-prefix=$(SYSROOT)/lib/rustlib/src/rust=/rustc/$(RUST_COMMIT) \
	--remap-path-prefix=$(CARGO_HOME)/registry/src=/crates
# LLVM's inliner with no size allowance at all (opt-level "z" still gives it
# a little, and LTO makes every small std helper a candidate): ~4 KB static.
CODEGEN_RUSTFLAGS := -C llvm-args=-inline-threshold=0 -C llvm-args=-inlinehint-threshold=0 $(REMAP_RUSTFLAGS)
# Static glibc. Plain "static" (not static-pie) relocation saves ~48 KB.
STATIC_RUSTFLAGS := -C target-feature=+crt-static -C relocation-model=static $(CODEGEN_RUSTFLAGS) $(LINK_RUSTFLAGS)

.PHONY: all build std-prebuilt std-source demo test unit test-cross test-cross-all e2e size bench fuzz fuzz-ci lint clean

all: build

build: $(NO_UNWIND_LD) std-$(STD)
	RUSTFLAGS="$(STATIC_RUSTFLAGS)" $(STD_ENV) $(CARGO) build --release --locked --target $(TARGET) \
		--target-dir $(TARGET_DIR) $(STD_FLAGS)
	mkdir -p $(DIST)
	cp $(RELEASE)/$(BIN) $(DIST)/$(BIN).tmp && mv $(DIST)/$(BIN).tmp $(DIST)/$(BIN)
	for l in $(LINKS); do ln -sfn $(BIN) $(DIST)/$$l; done

std-prebuilt:

std-source:
	@[ -d "$$(rustc --print sysroot)/lib/rustlib/src/rust/library/std" ] || rustup component add rust-src

$(NO_UNWIND_LD):
	mkdir -p $(@D)
	printf 'SECTIONS {\n  /DISCARD/ : { *(.eh_frame) *(.eh_frame_hdr) }\n}\nINSERT AFTER .text;\n' > $@

demo: build
	sh examples/demo.sh $(DIST)/$(BIN)

# The e2e tests need root and the daemons; CI (.ci/run) installs them and
# sets E2E_REQUIRED=1 so that they can never be skipped there. The whole
# suite runs on armv7 and aarch64 too (test-cross, below).
test: unit test-cross-all fuzz-ci
	@if [ "$$(id -u)" = 0 ] && command -v dockerd >/dev/null && command -v containerd >/dev/null; then \
		$(MAKE) e2e; \
	elif [ -n "$$E2E_REQUIRED" ]; then \
		echo "e2e: root, dockerd and containerd are required (E2E_REQUIRED is set)"; exit 1; \
	else \
		echo "e2e: skipped (needs root, dockerd and containerd: see README)"; \
	fi

# The e2e test target is part of `cargo test` too; here it has no daemons,
# so it must be allowed to skip even when CI requires e2e (make e2e).
# tests/ drive the shipped binary, exactly as `make build` leaves it.
unit: build
	E2E_REQUIRED= BER_TEST_BINARY=$(CURDIR)/$(DIST)/$(BIN) $(CARGO) test --locked

# ---- Tests on other architectures ----------------------------------------
# make test-cross ARCH=armv7|aarch64:
#  1. the library's unit tests, cross-compiled for the architecture (its
#     glibc triple: every one has a prebuilt std) and run under qemu-user;
#  2. tests/ -- the harness stays native -- driving that architecture's
#     shipped binary (make build ARCH=...), which the kernel runs under
#     qemu-user through binfmt_misc, and so every process it starts (the
#     proxy, state-dump, ...). The harness itself must stay native: it is
#     the shim's subreaper, and qemu-user refuses PR_SET_CHILD_SUBREAPER to
#     an emulated process.
# CROSS_BIN= tests another binary instead (CROSS_BUILD=no: no build first).
TEST_ARCHS := armv7 aarch64
TC_TRIPLE_armv7   := armv7-unknown-linux-gnueabihf
TC_TRIPLE_aarch64 := aarch64-unknown-linux-gnu
TC_CC_armv7       := arm-linux-gnueabihf
TC_CC_aarch64     := aarch64-linux-gnu
TC_QEMU_armv7     := arm
TC_QEMU_aarch64   := aarch64
TC_DEBS_armv7     := gcc-arm-linux-gnueabihf libc6-dev-armhf-cross
TC_DEBS_aarch64   := gcc-aarch64-linux-gnu libc6-dev-arm64-cross
TC_TRIPLE := $(TC_TRIPLE_$(ARCH))
TC_TRIPLE_VAR := $(shell echo '$(TC_TRIPLE)' | tr a-z- A-Z_)
CROSS_BIN   ?= $(CURDIR)/$(DIST)/$(ARCH)/$(BIN)
CROSS_BUILD ?= yes
# Every integration test file (tests/*.rs), not the e2e target nor the
# library's unit tests again.
TEST_FILES := $(patsubst tests/%.rs,--test %,$(wildcard tests/*.rs))

test-cross:
	@[ -n "$(TC_TRIPLE)" ] || { echo "test-cross: ARCH must be one of $(TEST_ARCHS), not \"$(ARCH)\""; exit 1; }
	@missing=""; for d in $(TC_DEBS_$(ARCH)) qemu-user-static binfmt-support; do \
		dpkg -s $$d >/dev/null 2>&1 || missing="$$missing $$d"; done; \
	[ -z "$$missing" ] || { echo "test-cross: needs Debian's$$missing (apt-get install, or .ci/run)"; exit 1; }
	@rustup target list --installed | grep -qx '$(TC_TRIPLE)' || rustup target add $(TC_TRIPLE)
	@[ -e /proc/sys/fs/binfmt_misc/qemu-$(TC_QEMU_$(ARCH)) ] || update-binfmts --enable qemu-$(TC_QEMU_$(ARCH)) || \
		{ echo "test-cross: binfmt_misc does not run $(ARCH) programs (update-binfmts --enable qemu-$(TC_QEMU_$(ARCH)), as root)"; exit 1; }
	CARGO_TARGET_$(TC_TRIPLE_VAR)_LINKER=$(TC_CC_$(ARCH))-gcc \
	CARGO_TARGET_$(TC_TRIPLE_VAR)_RUNNER="qemu-$(TC_QEMU_$(ARCH))-static -L /usr/$(TC_CC_$(ARCH))" \
		$(CARGO) test --locked --lib --target $(TC_TRIPLE)
	@if [ "$(CROSS_BUILD)" = yes ]; then $(MAKE) --no-print-directory build ARCH=$(ARCH); fi
	@[ -x "$(CROSS_BIN)" ] || { echo "test-cross: no binary at $(CROSS_BIN)"; exit 1; }
	E2E_REQUIRED= BER_TEST_BINARY=$(CROSS_BIN) $(CARGO) test --locked --no-fail-fast $(TEST_FILES)

test-cross-all:
	for a in $(TEST_ARCHS); do $(MAKE) --no-print-directory test-cross ARCH=$$a || exit 1; done

# Fuzzing with cargo-fuzz (libFuzzer) on the stable toolchain: RUSTC_BOOTSTRAP
# lets it pass its nightly flags. New inputs go to fuzz/runs/ (not committed);
# the seeds are fuzz/corpus/<target>/. -a keeps overflow checks on.
FUZZ_TARGETS    := config_json state_json labels_env signal runtime_args engine_response
FUZZ_SECONDS    ?= 300
FUZZ_CI_SECONDS ?= 12

fuzz:
	@command -v cargo-fuzz >/dev/null || { echo "fuzz: needs cargo-fuzz (cargo install cargo-fuzz --locked)"; exit 1; }
	for t in $(FUZZ_TARGETS); do \
		mkdir -p fuzz/runs/$$t && \
		(cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run -O -a $$t runs/$$t corpus/$$t -- \
			-max_total_time=$(FUZZ_SECONDS) -print_final_stats=1) || exit 1; \
	done

# Bounded, for make test. Without cargo-fuzz, `make unit` already ran every
# target over its corpus and generated inputs (tests/fuzz_replay.rs).
fuzz-ci:
	@if command -v cargo-fuzz >/dev/null; then \
		$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(FUZZ_CI_SECONDS); \
	else \
		echo "fuzz-ci: cargo-fuzz not installed; tests/fuzz_replay.rs ran the targets instead"; \
	fi

e2e: build
	bash e2e/run.sh

# Builds the binary both ways (static, dynamic) with both standard libraries
# and fails over budget (tests/tools/size.sh says which build each checks).
size: $(NO_UNWIND_LD)
	CARGO="$(CARGO)" STATIC_RUSTFLAGS="$(STATIC_RUSTFLAGS)" DYNAMIC_RUSTFLAGS="$(CODEGEN_RUSTFLAGS) $(LINK_RUSTFLAGS)" sh tests/tools/size.sh $(TARGET)

# Latency and memory of the lifecycle against a floor; BENCH_N, BENCH_REF.
bench: build
	RUSTFLAGS="$(STATIC_RUSTFLAGS)" $(CARGO) bench --locked --target $(TARGET) --bench lifecycle -- $(CURDIR)/$(DIST)/$(BIN)

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

clean:
	$(CARGO) clean
	rm -rf $(DIST)
