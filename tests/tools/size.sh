#!/bin/sh
# `make size`: the binary's size against its budgets.
#
#   tests/tools/size.sh TARGET
#
# Builds the release binary four ways: statically linked (what `make build`
# ships) and dynamically linked against the system glibc (what a Yocto recipe
# ships), each with the standard library the toolchain ships (STD=prebuilt)
# and with std compiled from source without its backtrace symbolizer
# (STD=source; see the Makefile). It prints the sizes and the biggest
# contributors (cargo-bloat), and fails when a budget is exceeded or the
# binary carries what it must not: serde, serde_json or regex (oci-spec
# belongs to the tests), or glibc's NSS (getpw*, getaddrinfo, home_dir make a
# static glibc binary load libnss_*.so at run time).
#
# Budgets: every static build 1.2 MiB; the dynamic build 400 KiB with std
# from source. The prebuilt std's dynamic build is reported, not checked: the
# symbolizer that std links in alone takes ~40% of it, and no flag of ours
# removes it.
set -eu

TARGET=$1
CARGO=${CARGO:-cargo}
STATIC_BUDGET=1258291  # 1.2 MiB
DYNAMIC_BUDGET=409600  # 400 KiB
BIN=balena-extension-runtime
fail=0

# build DIR STD RUSTFLAGS: one build in its own target directory, so that
# the four never invalidate each other. DIR target is `make build`'s own.
build() {
    if [ "$2" = source ]; then
        RUSTC_BOOTSTRAP=1 RUSTFLAGS="$3" $CARGO build --release --locked --target "$TARGET" \
            --target-dir "$1" -Z build-std=std,panic_abort -Z build-std-features=
    else
        RUSTFLAGS="$3" $CARGO build --release --locked --target "$TARGET" --target-dir "$1"
    fi
}

size_of() { stat -c %s "$1"; }

report() { # verdict name size budget-or-note path
    printf '%-8s %-34s %8d bytes (%4d KiB)   %-16s %s\n' \
        "$1" "$2" "$3" $(($3 / 1024)) "$4" "$5"
}

check() { # name binary budget
    size=$(size_of "$2")
    if [ "$size" -le "$3" ]; then verdict=PASS; else verdict=FAIL; fail=1; fi
    report $verdict "$1" "$size" "budget $3" "$2"
}

STATIC=target/$TARGET/release/$BIN
DYNAMIC=target/dynamic/$TARGET/release/$BIN
STATIC_SRC=target/std-source/$TARGET/release/$BIN
DYNAMIC_SRC=target/dynamic-std-source/$TARGET/release/$BIN

build target prebuilt "${STATIC_RUSTFLAGS:-}"
build target/dynamic prebuilt "${DYNAMIC_RUSTFLAGS:-}"
# std's sources come with the toolchain's rust-src component.
have_src=yes
if [ ! -d "$(rustc --print sysroot)/lib/rustlib/src/rust/library/std" ]; then
    rustup component add rust-src || have_src=no
fi
if [ $have_src = yes ]; then
    build target/std-source source "${STATIC_RUSTFLAGS:-}"
    build target/dynamic-std-source source "${DYNAMIC_RUSTFLAGS:-}"
fi

echo
echo "== contributors (cargo bloat, static build with symbols, target/bloat; [Unknown] is glibc)"
if ! command -v cargo-bloat >/dev/null 2>&1; then
    $CARGO install cargo-bloat --locked || echo "cargo-bloat could not be installed: contributors skipped"
fi
if command -v cargo-bloat >/dev/null 2>&1; then
    # Same flags as `make build`, but unstripped: bloat needs the symbols.
    export RUSTFLAGS="${STATIC_RUSTFLAGS:-}"
    CARGO_PROFILE_RELEASE_STRIP=false $CARGO bloat --release --locked --target "$TARGET" \
        --target-dir target/bloat --crates -n 10 2>/dev/null || true
    echo
    CARGO_PROFILE_RELEASE_STRIP=false $CARGO bloat --release --locked --target "$TARGET" \
        --target-dir target/bloat --filter balena_extension_runtime -n 25 2>/dev/null || true
    unset RUSTFLAGS
fi

echo
echo "== what the shipped binary must not carry"
banned=$($CARGO tree --locked -e normal --target "$TARGET" --prefix none -f '{p}' |
    awk '{print $1}' | grep -xE 'serde|serde_json|serde_derive|regex|regex-syntax|regex-automata' |
    sort -u | tr '\n' ' ' || true)
if [ -n "$banned" ]; then
    echo "FAIL     dependencies of the binary include: $banned"
    fail=1
else
    echo "PASS     no serde, serde_json or regex among the binary's dependencies"
fi
# Stripping removes symbol names but not the strings NSS needs at run time:
# the module name pattern and the configuration file it reads.
nss=$(cat "$STATIC" "$STATIC_SRC" 2>/dev/null | strings -a | grep -E 'nsswitch\.conf|libnss_|_nss_%s' | sort -u | tr '\n' ' ' || true)
if [ -n "$nss" ]; then
    echo "FAIL     a static build links glibc's NSS (found: $nss)"
    echo "         look for getpw*, getgr*, getaddrinfo, home_dir in the sources"
    fail=1
else
    echo "PASS     no glibc NSS in the static builds (no nsswitch.conf, no libnss_*)"
fi

echo
echo "== sizes (stripped, $TARGET)"
check "static, prebuilt std (make build)" "$STATIC" $STATIC_BUDGET
if [ $have_src = yes ]; then
    check "static, std from source" "$STATIC_SRC" $STATIC_BUDGET
    check "dynamic, std from source" "$DYNAMIC_SRC" $DYNAMIC_BUDGET
else
    echo "FAIL     std from source: the rust-src component could not be added"
    fail=1
fi
# std as the toolchain ships it keeps its backtrace symbolizer (gimli,
# addr2line, miniz_oxide, rustc-demangle) reachable from the default panic
# hook, whatever the panic strategy; its share, counted from the symbols of
# the unstripped build, is what building std from source saves.
report INFO "dynamic, prebuilt std" "$(size_of "$DYNAMIC")" "not checked" "$DYNAMIC"
SYMBOLS=target/bloat/$TARGET/release/$BIN
if [ -f "$SYMBOLS" ]; then
    symbolizer=$(nm -S -C "$SYMBOLS" 2>/dev/null |
        grep -E ' [tTrRdD] .*(gimli|addr2line|backtrace|miniz_oxide|rustc_demangle|symbolize)' |
        { sum=0; while read -r _ size _; do sum=$((sum + 0x$size)); done; echo $sum; })
    report INFO "  of which std's symbolizer" "$symbolizer" "" ""
fi
for b in "$STATIC" "$STATIC_SRC"; do
    [ -f "$b" ] || continue
    [ "$(file -b "$b" | grep -c 'statically linked')" = 1 ] || {
        echo "FAIL     $b is not statically linked"
        fail=1
    }
done
exit $fail
