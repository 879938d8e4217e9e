#!/bin/sh
# `make size`: the shipped binary's size against its budgets.
#
#   tests/tools/size.sh TARGET STATIC_BINARY
#
# STATIC_BINARY is what `make build` produced (static glibc, stripped). This
# script builds the same sources again dynamically linked against the system
# glibc (what a Yocto recipe ships) in target/dynamic, prints both sizes and
# the biggest contributors (cargo-bloat), and fails when a budget is exceeded
# or the shipped binary carries what it must not: serde, serde_json or regex
# (oci-spec belongs to the tests), or glibc's NSS (getpw*, getaddrinfo,
# home_dir make a static glibc binary load libnss_*.so at run time).
set -eu

TARGET=$1
STATIC=$2
CARGO=${CARGO:-cargo}
STATIC_BUDGET=1258291  # 1.2 MiB
DYNAMIC_BUDGET=409600  # 400 KiB
fail=0

# The dynamic build: no static RUSTFLAGS (only the link flags), its own
# target directory so that the two builds never invalidate each other.
RUSTFLAGS="${DYNAMIC_RUSTFLAGS:-}" $CARGO build --release --locked --target "$TARGET" --target-dir target/dynamic
DYNAMIC=target/dynamic/$TARGET/release/balena-extension-runtime

size_of() { stat -c %s "$1"; }

check() { # name size budget
    if [ "$2" -le "$3" ]; then verdict=PASS; else verdict=FAIL; fail=1; fi
    printf '%-8s %-34s %8d bytes (%4d KiB)   budget %8d   %s\n' \
        "$verdict" "$1" "$2" $(($2 / 1024)) "$3" "$4"
}

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
nss=$(strings -a "$STATIC" | grep -E 'nsswitch\.conf|libnss_|_nss_%s' | sort -u | tr '\n' ' ' || true)
if [ -n "$nss" ]; then
    echo "FAIL     the static binary links glibc's NSS (found: $nss)"
    echo "         look for getpw*, getgr*, getaddrinfo, home_dir in the sources"
    fail=1
else
    echo "PASS     no glibc NSS in the static binary (no nsswitch.conf, no libnss_*)"
fi

echo
echo "== sizes (stripped, $TARGET)"
check static "$(size_of "$STATIC")" $STATIC_BUDGET "$STATIC"
check dynamic "$(size_of "$DYNAMIC")" $DYNAMIC_BUDGET "$DYNAMIC"
# std as the toolchain ships it keeps its backtrace symbolizer (gimli,
# addr2line, miniz_oxide, rustc-demangle) reachable from the default panic
# hook, whatever the panic strategy: only a std built from source without it
# (-Z build-std with panic_immediate_abort, or a Yocto libstd-rs without the
# "backtrace" feature) drops it. Its share shows what such a build saves.
SYMBOLS=target/bloat/$TARGET/release/balena-extension-runtime
if [ -f "$SYMBOLS" ]; then
    symbolizer=$(nm -S -C "$SYMBOLS" 2>/dev/null |
        grep -E ' [tTrRdD] .*(gimli|addr2line|backtrace|miniz_oxide|rustc_demangle|symbolize)' |
        { sum=0; while read -r _ size _; do sum=$((sum + 0x$size)); done; echo $sum; })
    printf 'INFO     %-34s %8d bytes (%4d KiB)   in each build\n' \
        "std's backtrace symbolizer" "$symbolizer" $((symbolizer / 1024))
    rest=$(($(size_of "$DYNAMIC") - symbolizer))
    printf 'INFO     %-34s %8d bytes (%4d KiB)   budget %8d\n' \
        "dynamic without the symbolizer" $rest $((rest / 1024)) $DYNAMIC_BUDGET
fi
[ "$(file -b "$STATIC" | grep -c 'statically linked')" = 1 ] || {
    echo "FAIL     $STATIC is not statically linked"
    fail=1
}
exit $fail
