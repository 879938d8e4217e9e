#!/bin/sh
# What a build for one target needs, installed when missing (`make build`
# calls it before cargo; `make test-cross` for the glibc triples its unit
# tests are built for).
#
#   tests/tools/toolchain.sh TRIPLE STD GCC [MUSL_DEB_ARCH]
#
#   TRIPLE         the Rust target triple
#   STD            prebuilt (the target's std from rustup) or source (std
#                  compiled from rust-src; the target's std is still added
#                  when it is published, for musl's start files and libc.a)
#   GCC            the C compiler driver cargo links with (it runs rustup's
#                  lld); Debian's cross compiler when not the host's
#   MUSL_DEB_ARCH  for musl targets whose std rustup does not publish, the
#                  Debian architecture whose musl-dev provides crt1.o and
#                  libc.a (armhf, armel); they are linked from
#                  target/musl-crt/TRIPLE/ with the cross gcc's crtbegin.o
#                  and crtend.o
#
# Debian packages are installed with apt-get only when missing and only as
# root; otherwise the script names the package and fails. Each rustup target
# is added by a call of its own (a failing one rolls back the whole call).
set -eu

triple=$1
std=$2
gcc=$3
musl_arch=${4:-}

# missing PACKAGE...: install as root, or say what to install.
missing() {
    if [ "$(id -u)" != 0 ]; then
        echo "toolchain: $triple needs the Debian package(s) $*: apt-get install $*" >&2
        exit 1
    fi
    echo "toolchain: installing $*" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2 || {
        # A stale or empty package list is the usual cause.
        apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q --no-install-recommends "$@" >&2
    }
}

sysroot=$(rustc --print sysroot)

# The target's std: required for STD=prebuilt; for std from source only its
# musl start files and libc.a are used, when rustup publishes them.
if [ ! -d "$sysroot/lib/rustlib/$triple/lib" ]; then
    if [ "$std" = prebuilt ] || [ -z "$musl_arch" ]; then
        rustup target add "$triple" >&2 || {
            [ "$std" = source ] || {
                echo "toolchain: rustup has no std for $triple; build it from source (STD=source)" >&2
                exit 1
            }
        }
    fi
fi
if [ "$std" = source ] && [ ! -d "$sysroot/lib/rustlib/src/rust/library/std" ]; then
    rustup component add rust-src >&2
fi

# The linker driver, and with it (for glibc targets) the target's C library.
if ! command -v "$gcc" >/dev/null 2>&1; then
    missing "gcc-$(echo "${gcc%-gcc}" | tr _ -)"
fi
case $triple in
*-gnu*)
    # gcc-*-cross only recommends the C library it links against.
    if [ "$("$gcc" -print-file-name=libc.a)" = libc.a ]; then
        case ${gcc%-gcc} in
        aarch64-linux-gnu) missing libc6-dev-arm64-cross ;;
        arm-linux-gnueabihf) missing libc6-dev-armhf-cross ;;
        arm-linux-gnueabi) missing libc6-dev-armel-cross ;;
        i686-linux-gnu) missing libc6-dev-i386-cross ;;
        *) missing libc6-dev ;;
        esac
    fi
    ;;
esac

[ -n "$musl_arch" ] || exit 0

# musl from Debian for an architecture rustup has no musl std for.
case $musl_arch in
armhf) musl_dir=/usr/lib/arm-linux-musleabihf ;;
armel) musl_dir=/usr/lib/arm-linux-musleabi ;;
*) echo "toolchain: no musl layout known for Debian architecture $musl_arch" >&2; exit 1 ;;
esac
if [ ! -f "$musl_dir/libc.a" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "toolchain: $triple needs musl-dev:$musl_arch: dpkg --add-architecture $musl_arch && apt-get update && apt-get install musl-dev:$musl_arch" >&2
        exit 1
    fi
    if ! dpkg --print-foreign-architectures | grep -qx "$musl_arch"; then
        dpkg --add-architecture "$musl_arch"
        apt-get update -q >&2
    fi
    missing "musl-dev:$musl_arch"
fi
crt=target/musl-crt/$triple
mkdir -p "$crt"
for f in crt1.o crti.o crtn.o libc.a; do
    ln -sfn "$musl_dir/$f" "$crt/$f"
done
for f in crtbegin.o crtend.o; do
    ln -sfn "$("$gcc" -print-file-name=$f)" "$crt/$f"
done
