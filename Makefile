# balena-extension-runtime — build, test and measure.
#
#   make build   static, stripped binary and applet symlinks in dist/
#                (ARCH=... or TARGET=...: another architecture, in dist/ARCH/)
#   make dist    every architecture, each in dist/ARCH/ with a .sha256
#   make demo    a whole lifecycle of the example extension
#   make test    every round: unit, tests/, ARM under qemu, fuzz, msrv, e2e, boot
#                (installs what they need, as root; ROUNDS=... for some)
#   make e2e     real containerd + Docker (root, Debian's packages)
#   make boot    a real boot of a disk dockerd wrote, under qemu (root)
#   make size    binary sizes against the budgets
#   make bench   lifecycle latency and memory against the floor
#   make msrv    the binary built with the oldest Rust supported (rust-version)
#   make fuzz    cargo-fuzz on every fuzz target (FUZZ_SECONDS each)

CARGO   ?= cargo

# ---- architectures and the shipped build ---------------------------------
# The shipped binary of every architecture: static musl, std compiled from
# source (README, "Architectures", has the measurements behind the choice).
#
#   make build                  the host's architecture, into dist/
#   make build ARCH=armv7       that architecture, into dist/armv7/
#   make build TARGET=TRIPLE    any Rust target (dist/ARCH/ when TRIPLE is an
#                               architecture's shipped one, else dist/TRIPLE/)
#   make dist                   every architecture, each with a .sha256
#
# Per architecture: its Rust target, the gcc driver that links it (with
# rustup's lld; Debian's bfd ld rejects --icf=all), and whether rustup
# publishes a std for it (STD=prebuilt). armv7 and armv6 musl have no
# published std, nor rustup's musl start files and libc.a: those come from
# Debian's musl-dev of armhf and armel. armv6 is soft-float (Debian's armel
# musl; no ARMv6 hard-float musl is packaged): a static binary calls no
# library, so it runs on hard-float systems (Raspberry Pi Zero/1) all the same.
ARCHS := x86_64 aarch64 armv7 armv6 i686
TRIPLE_x86_64  := x86_64-unknown-linux-musl
TRIPLE_aarch64 := aarch64-unknown-linux-musl
TRIPLE_armv7   := armv7-unknown-linux-musleabihf
TRIPLE_armv6   := arm-unknown-linux-musleabi
TRIPLE_i686    := i686-unknown-linux-musl
PREBUILT_STD_ARCHS := x86_64 aarch64 i686
MUSL_DEB_armv7 := armhf
MUSL_DEB_armv6 := armel

HOST_TRIPLE := $(shell rustc -vV | sed -n 's/^host: //p')
HOST_ARCH   := $(shell uname -m | sed 's/^armv7.*/armv7/; s/^armv6.*/armv6/; s/^i[3-6]86$$/i686/')
# BUILD_ARCH: the architecture built (empty for a TARGET that is none of
# them); OUT_NAME: its directory under dist/ (empty: dist/ itself).
ifneq ($(TARGET),)
BUILD_ARCH := $(firstword $(foreach a,$(ARCHS),$(if $(filter $(TARGET),$(TRIPLE_$(a))),$(a))))
OUT_NAME := $(if $(BUILD_ARCH),$(BUILD_ARCH),$(TARGET))
else ifeq ($(origin ARCH),undefined)
BUILD_ARCH := $(HOST_ARCH)
OUT_NAME :=
TARGET := $(TRIPLE_$(HOST_ARCH))
else
BUILD_ARCH := $(ARCH)
OUT_NAME := $(ARCH)
TARGET := $(TRIPLE_$(ARCH))
endif
ifeq ($(TARGET),)
$(error ARCH must be one of $(ARCHS), not "$(BUILD_ARCH)")
endif
# gcc driver of the target: Debian's names (the host's own is one of them).
GCC_PREFIX := $(strip \
	$(if $(filter x86_64-%,$(TARGET)),x86_64-linux-gnu, \
	$(if $(filter aarch64-%,$(TARGET)),aarch64-linux-gnu, \
	$(if $(filter i686-% i586-%,$(TARGET)),i686-linux-gnu, \
	$(if $(filter arm%hf,$(TARGET)),arm-linux-gnueabihf, \
	$(if $(filter arm%,$(TARGET)),arm-linux-gnueabi))))))
GCC := $(if $(GCC_PREFIX),$(GCC_PREFIX)-gcc,cc)
TARGET_ENV := $(shell echo '$(TARGET)' | tr a-z.- A-Z__)
MUSL_DEB := $(if $(BUILD_ARCH),$(MUSL_DEB_$(BUILD_ARCH)))

DIST    := dist
OUT     := $(DIST)$(if $(OUT_NAME),/$(OUT_NAME))
BIN     := balena-extension-runtime
LINKS   := balena-extension-proxy extension-inspect state-dump balena-extension-manager \
           extension-mount balena-extension-mount

# STD=source (the default) compiles std from its sources (the toolchain's
# rust-src component, added on demand) with the release profile and without
# its backtrace symbolizer, which the prebuilt std links into every binary
# through the default panic hook (~165 KB). A panic still prints its
# message, only no backtrace. This is how a Yocto build gets std too (the
# libstd-rs recipe compiles it, with RUSTC_BOOTSTRAP as here, to pass the
# -Z flags to stable cargo). STD=prebuilt links the std the toolchain ships
# (not for armv7 and armv6 musl, which have none).
STD     ?= source
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
# No unwind tables: with panic = "abort" nothing unwinds, and a panic still
# prints its message and aborts; only its backtrace loses its frames (mere
# addresses in a stripped binary anyway). Saves ~130 KB static, ~76 KB
# dynamic.
NO_UNWIND_LD := $(CURDIR)/target/no-unwind-tables.ld
SYSROOT    := $(shell rustc --print sysroot)
# rustup's lld behind the gcc driver: bfd ld has no --icf.
LLD_RUSTFLAGS := -C link-arg=-B$(SYSROOT)/lib/rustlib/$(HOST_TRIPLE)/bin/gcc-ld -C link-arg=-fuse-ld=lld
LINK_RUSTFLAGS := $(LLD_RUSTFLAGS) -C link-arg=-Wl,--icf=all -C link-arg=-Wl,-T,$(NO_UNWIND_LD)
# Panic locations name source files. std's are /rustc/COMMIT/... as the
# toolchain ships them, but rustc rewrites them to the local copy once
# rust-src is installed, and the crates' name the cargo home: unmapped, the
# binary would change with the build host. These maps keep it the same.
RUST_COMMIT := $(shell rustc -vV | sed -n 's/^commit-hash: //p')
CARGO_HOME ?= $(HOME)/.cargo
REMAP_RUSTFLAGS := --remap-path-prefix=$(SYSROOT)/lib/rustlib/src/rust=/rustc/$(RUST_COMMIT) \
	--remap-path-prefix=$(CARGO_HOME)/registry/src=/crates
# LLVM's inliner with no size allowance at all (opt-level "z" still gives it
# a little, and LTO makes every small std helper a candidate): ~4 KB static.
CODEGEN_RUSTFLAGS := -C llvm-args=-inline-threshold=0 -C llvm-args=-inlinehint-threshold=0 $(REMAP_RUSTFLAGS)
# Static (musl, or glibc with +crt-static). Plain "static" (not static-pie)
# relocation saves ~48 KB.
# musl with std from source: no unwinder. An empty libunwind.a comes first
# in the library search path, src/main.rs (stub_unwinder) answers the two
# calls std makes, and ARM's unwind tables go too: ~56 KB on x86_64. (The
# prebuilt std unwinds, so it keeps its unwinder; glibc builds keep gcc's.)
# armv7 and armv6: target/musl-crt/TRIPLE has Debian's musl start files and
# libc.a (tests/tools/toolchain.sh links them there).
NO_UNWINDER := $(CURDIR)/target/no-unwinder
NO_ARM_UNWIND_LD := $(CURDIR)/target/no-arm-unwind-tables.ld
# Builds with std from source: the machine outliner, and panics without
# their source location (the message stays): -17.7 KB on x86_64, the room
# extension-mount takes. No Debug formatting either (-3.8 KB): nothing the
# binary prints uses it (messages quote values with Display, and text.rs
# escapes them); only a panic's Debug payload would be empty, and the few
# panics left unwrap Options, which have none.
SOURCE_STD_RUSTFLAGS := -C llvm-args=-enable-machine-outliner=always -Z location-detail=none -Z fmt-debug=none
MUSL_RUSTFLAGS := $(if $(MUSL_DEB),-L native=$(CURDIR)/target/musl-crt/$(TARGET))
ifneq ($(findstring -musl,$(TARGET)),)
ifeq ($(STD),source)
MUSL_RUSTFLAGS += --cfg stub_unwinder -L native=$(NO_UNWINDER) -C link-arg=-Wl,-T,$(NO_ARM_UNWIND_LD) \
	$(SOURCE_STD_RUSTFLAGS)
else
# The prebuilt std keeps its unwinder and symbolizer; LLVM's machine
# outliner (with LTO it reaches std's bitcode too) keeps x86_64 under its
# 640 KiB: -18 KB.
MUSL_RUSTFLAGS += -C llvm-args=-enable-machine-outliner=always
endif
endif
STATIC_RUSTFLAGS := -C target-feature=+crt-static -C relocation-model=static $(CODEGEN_RUSTFLAGS) $(LINK_RUSTFLAGS) \
	$(MUSL_RUSTFLAGS)
BUILD_ENV := CARGO_TARGET_$(TARGET_ENV)_LINKER=$(GCC) RUSTFLAGS="$(STATIC_RUSTFLAGS)" $(STD_ENV)

.PHONY: all compile build dist print-target print-binary demo test unit test-cross test-cross-all e2e boot size bench msrv fuzz fuzz-ci lint clean

all: build

# compile: the release binary in $(RELEASE), nothing copied.
compile: $(NO_UNWIND_LD) $(NO_ARM_UNWIND_LD) $(NO_UNWINDER)/libunwind.a
	@sh tests/tools/toolchain.sh $(TARGET) $(STD) $(GCC) $(MUSL_DEB)
	$(BUILD_ENV) $(CARGO) build --release --locked --target $(TARGET) --target-dir $(TARGET_DIR) $(STD_FLAGS)

build: compile
	mkdir -p $(OUT)
	cp $(RELEASE)/$(BIN) $(OUT)/$(BIN).tmp && mv $(OUT)/$(BIN).tmp $(OUT)/$(BIN)
	for l in $(LINKS); do ln -sfn $(BIN) $(OUT)/$$l; done

# Every architecture's shipped binary, with its checksum (sha256sum -c).
dist:
	for a in $(ARCHS); do $(MAKE) --no-print-directory build ARCH=$$a STD=source || exit 1; done
	for a in $(ARCHS); do (cd $(DIST)/$$a && sha256sum $(BIN) > $(BIN).sha256) || exit 1; done

# For scripts: the Rust target and binary of ARCH/TARGET and STD.
print-target:
	@echo $(TARGET)
print-binary:
	@echo $(RELEASE)/$(BIN)

$(NO_UNWIND_LD): Makefile
	mkdir -p $(@D)
	printf 'SECTIONS {\n  /DISCARD/ : { *(.eh_frame) *(.eh_frame_hdr) }\n}\nINSERT AFTER .text;\n' > $@

# ARM's own unwind tables, for the builds without an unwinder (~8 KB on
# armv7; gcc's unwinder, in glibc builds, needs them).
$(NO_ARM_UNWIND_LD): Makefile
	mkdir -p $(@D)
	printf 'SECTIONS {\n  /DISCARD/ : { *(.ARM.exidx*) *(.ARM.extab*) }\n}\nINSERT AFTER .text;\n' > $@

$(NO_UNWINDER)/libunwind.a:
	mkdir -p $(@D)
	printf '!<arch>\n' > $@

demo: build
	sh examples/demo.sh $(DIST)/$(BIN)

# make test: every round, each after tests/tools/install.sh has made sure
# the machine has what it needs (as root it installs what is missing; else
# it names the packages and the one command that installs them, and fails).
# ROUNDS="..." runs only some, e.g. make test ROUNDS="unit cross" needs no
# root. E2E_REQUIRED=1 (CI): the e2e target of `cargo test` may never skip.
ROUNDS ?= unit cross fuzz msrv e2e boot
ROUND_unit  := unit
ROUND_cross := test-cross-all
ROUND_fuzz  := fuzz-ci
ROUND_msrv  := msrv
ROUND_e2e   := e2e
ROUND_boot  := boot
test:
	@sh tests/tools/install.sh $(patsubst boot,$(BOOT_ROUNDS),$(ROUNDS))
	@for r in $(foreach r,$(ROUNDS),$(or $(ROUND_$(r)),$(error ROUNDS: unknown round "$(r)"))); do \
		t=$$(date +%s); echo "==== make $$r"; $(MAKE) --no-print-directory $$r || exit 1; \
		echo "==== make $$r: passed in $$(($$(date +%s) - t)) s"; done

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
TC_TRIPLE := $(TC_TRIPLE_$(ARCH))
TC_TRIPLE_VAR := $(shell echo '$(TC_TRIPLE)' | tr a-z- A-Z_)
CROSS_BIN   ?= $(CURDIR)/$(DIST)/$(ARCH)/$(BIN)
CROSS_BUILD ?= yes
# Every integration test file (tests/*.rs), not the e2e target nor the
# library's unit tests again.
TEST_FILES := $(patsubst tests/%.rs,--test %,$(wildcard tests/*.rs))

test-cross:
	@[ -n "$(TC_TRIPLE)" ] || { echo "test-cross: ARCH must be one of $(TEST_ARCHS), not \"$(ARCH)\""; exit 1; }
	@sh tests/tools/toolchain.sh $(TC_TRIPLE) prebuilt $(TC_CC_$(ARCH))-gcc
	@missing=""; for d in qemu-user-static binfmt-support; do \
		dpkg -s $$d >/dev/null 2>&1 || missing="$$missing $$d"; done; \
	[ -z "$$missing" ] || { echo "test-cross: needs Debian's$$missing (sh tests/tools/install.sh cross, as root)"; exit 1; }
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
FUZZ_TARGETS    := config_json state_json labels_env signal runtime_args engine_response boot_record
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

# The real boot (root): the e2e harness's engine writes a disk, Debian's
# kernel boots it under qemu with extension-mount --init, on each of
# BOOT_ARCHS (e2e/boot.rs, e2e/qemu.rs; README, "Testing"). What it needs
# (qemu, Debian's kernels) comes from tests/tools/install.sh, which touches
# nothing when all is there; each guest runs its architecture's shipped
# binary (dist/, dist/aarch64/).
BOOT_ARCHS ?= x86_64 aarch64
BOOT_ROUNDS := $(if $(filter x86_64,$(BOOT_ARCHS)),boot) $(if $(filter aarch64,$(BOOT_ARCHS)),boot-arm64)
boot: build
	sh tests/tools/install.sh $(BOOT_ROUNDS)
	$(foreach a,$(filter-out $(HOST_ARCH),$(BOOT_ARCHS)),$(MAKE) --no-print-directory build ARCH=$(a) &&) true
	E2E_BOOT=1 BOOT_ARCHS="$(BOOT_ARCHS)" bash e2e/run.sh s18_boot

# Every architecture's shipped binary (400 KiB) and prebuilt-std build
# (704 KiB), and the host's dynamic glibc build (400 KiB); SIZE_GLIBC=1 adds
# the static glibc builds. tests/tools/size.sh says what each row is.
size:
	MAKE="$(MAKE)" CARGO="$(CARGO)" PREBUILT_STD_ARCHS="$(PREBUILT_STD_ARCHS)" HOST_TRIPLE=$(HOST_TRIPLE) \
		DYNAMIC_RUSTFLAGS="$(CODEGEN_RUSTFLAGS) $(LINK_RUSTFLAGS)" DYNAMIC_SOURCE_RUSTFLAGS="$(SOURCE_STD_RUSTFLAGS)" \
		sh tests/tools/size.sh $(ARCHS)

# Latency and memory of the shipped build's lifecycle against a floor, and
# side by side with BENCH_REF: by default the static glibc build with the
# prebuilt std (what `make build` shipped before musl), built here; a path
# to another runtime, or BENCH_REF= (empty) for none. BENCH_N, BENCH_STRICT.
# The bench itself is a host program.
BENCH_REF ?= glibc
GLIBC_REF := $(CURDIR)/target/$(HOST_TRIPLE)/release/$(BIN)
bench: build
	$(if $(filter glibc,$(BENCH_REF)),$(MAKE) --no-print-directory compile TARGET=$(HOST_TRIPLE) STD=prebuilt)
	BENCH_REF="$(if $(filter glibc,$(BENCH_REF)),$(GLIBC_REF),$(BENCH_REF))" \
		$(CARGO) bench --locked --bench lifecycle -- $(CURDIR)/$(OUT)/$(BIN)
	$(CARGO) bench --locked --bench boot -- $(CURDIR)/$(OUT)/$(BIN)

# The binary built with the oldest Rust Cargo.toml's rust-version claims
# (a minimal toolchain, installed by rustup when missing; ~1 min in CI).
MSRV := $(shell sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
msrv:
	@rustup run $(MSRV) rustc --version >/dev/null 2>&1 || rustup toolchain install $(MSRV) --profile minimal
	$(CARGO) +$(MSRV) build --release --locked --bin $(BIN) --target-dir target/msrv

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

clean:
	$(CARGO) clean
	rm -rf $(DIST)
