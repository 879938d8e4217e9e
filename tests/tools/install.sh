#!/bin/sh
# What the rounds of `make test` need from outside the repository, installed
# when missing. `make test` calls it with its rounds before running them;
# call it yourself to set up a machine ahead of time.
#
#   tests/tools/install.sh [--check] ROUND...
#
#   cross   Debian's qemu-user and binfmt_misc support, the ARM cross
#           compilers and C libraries, and armhf's musl (make test-cross)
#   e2e     containerd, dockerd and runc, and the tools the harness uses
#           (make e2e); needs root to run
#   boot    qemu-system-x86, busybox-static, kmod, cpio, e2fsprogs, and
#           Debian's amd64 kernel unpacked (make boot); needs root to run
#   boot-arm64  the same for an aarch64 guest: qemu-system-arm and Debian's
#           arm64 kernel
#   unit, fuzz, msrv   nothing from Debian: accepted and skipped (the Rust
#           targets and toolchains they need come through rustup, on demand,
#           from tests/tools/toolchain.sh and `make msrv`)
#
#   --check  only say what is missing (exit 1 if anything is), install nothing
#
# Everything is checked first, locally: a machine that has it all is never
# touched and needs no network. Otherwise, as root, one `apt-get update` and
# one `apt-get install` bring the missing packages. Without root it prints
# what is missing and the one command that installs it, and fails.
#
# A kernel is unpacked, not installed (`apt-get download` + `dpkg -x`), into
# target/kernel/ARCH/ (override: KERNEL_DIR): root/ is the package's tree
# (root/boot/vmlinuz-RELEASE, root/lib/modules/RELEASE/), release holds
# RELEASE, and vmlinuz links to the image.
set -eu

repo=$(cd "$(dirname "$0")/../.." && pwd)
kernel_dir=${KERNEL_DIR:-$repo/target/kernel}

check_only=no
if [ "${1:-}" = --check ]; then
    check_only=yes
    shift
fi

packages=""   # Debian packages the rounds need
kernels=""    # Debian architectures whose kernel the rounds boot
needs_root="" # rounds that only run as root
foreign=""    # Debian architectures to add for multiarch packages
for round in "$@"; do
    case $round in
    cross)
        packages="$packages qemu-user-static binfmt-support gcc
            gcc-arm-linux-gnueabihf libc6-dev-armhf-cross musl-dev:armhf
            gcc-aarch64-linux-gnu libc6-dev-arm64-cross"
        foreign="$foreign armhf"
        ;;
    e2e)
        packages="$packages containerd docker.io runc iproute2 util-linux
            tar e2fsprogs ca-certificates"
        needs_root="$needs_root e2e"
        ;;
    boot)
        packages="$packages qemu-system-x86 busybox-static kmod cpio e2fsprogs"
        kernels="$kernels amd64"
        needs_root="$needs_root boot"
        ;;
    boot-arm64)
        packages="$packages qemu-system-arm busybox-static kmod cpio e2fsprogs"
        kernels="$kernels arm64"
        foreign="$foreign arm64"
        needs_root="$needs_root boot-arm64"
        ;;
    unit | fuzz | msrv) ;;
    *)
        echo "install: unknown round \"$round\" (cross, e2e, boot, boot-arm64, unit, fuzz, msrv)" >&2
        exit 2
        ;;
    esac
done

installed() {
    dpkg-query -W -f '${Status}' "$1" 2>/dev/null | grep -q ' installed$'
}

missing_packages=""
for p in $packages; do
    case " $missing_packages " in *" $p "*) continue ;; esac
    installed "$p" || missing_packages="$missing_packages $p"
done
missing_kernels=""
for k in $kernels; do
    [ -f "$kernel_dir/$k/release" ] && [ -e "$kernel_dir/$k/vmlinuz" ] ||
        missing_kernels="$missing_kernels $k"
done

# Rounds that run only as root fail without it whatever is installed: say
# so first, once (`sudo make test` installs what is missing too), rather
# than send the user to install packages and fail again.
if [ "$check_only" = no ] && [ -n "$needs_root" ] && [ "$(id -u)" != 0 ]; then
    echo "install: the rounds$needs_root run only as root (they start daemons and mount):" \
        "run \`sudo make test\`, or leave them out: make test ROUNDS=\"unit cross fuzz msrv\"" >&2
    exit 1
fi

if [ -z "$missing_packages$missing_kernels" ]; then
    exit 0
fi

if [ "$check_only" = yes ] || [ "$(id -u)" != 0 ]; then
    {
        printf 'install: the test rounds "%s" need' "$*"
        [ -z "$missing_packages" ] || printf ' the Debian packages%s' "$missing_packages"
        [ -z "$missing_packages" ] || [ -z "$missing_kernels" ] || printf ' and'
        [ -z "$missing_kernels" ] || printf " Debian's kernel for%s (unpacked under %s)" "$missing_kernels" "$kernel_dir"
        printf '; install them as root with: sudo sh tests/tools/install.sh %s' "$*"
        printf ' (`make test` run as root installs them itself)\n'
    } >&2
    exit 1
fi

started=$(date +%s)
export DEBIAN_FRONTEND=noninteractive
# Wait for another apt or dpkg run (an unattended upgrade) rather than fail.
apt_get() {
    apt-get -q -o DPkg::Lock::Timeout=600 "$@" >&2
}
# DPkg::Lock::Timeout covers dpkg's lock only: `apt-get update` fails at
# once when another run holds the package lists' lock. Wait for that one
# too, as long (600 s, tried every 5 s).
apt_update() {
    tries=0
    while ! out=$(apt_get update 2>&1); do
        case $out in
        *"Could not get lock"*) ;;
        *)
            printf '%s\n' "$out" >&2
            return 1
            ;;
        esac
        tries=$((tries + 1))
        if [ "$tries" -gt 120 ]; then
            printf '%s\n' "$out" >&2
            return 1
        fi
        [ "$tries" -gt 1 ] ||
            echo "install: another apt run holds the package lists; waiting (at most 600 s)" >&2
        sleep 5
    done
    printf '%s\n' "$out" >&2
}
for arch in $foreign; do
    dpkg --print-foreign-architectures | grep -qx "$arch" || dpkg --add-architecture "$arch"
done
echo "install: updating Debian's package lists" >&2
apt_update
if [ -n "$missing_packages" ]; then
    echo "install: installing$missing_packages" >&2
    # shellcheck disable=SC2086 # a list of package names
    apt_get install -y --no-install-recommends $missing_packages
fi

# kernel ARCH: Debian's current kernel for ARCH, unpacked. linux-image-ARCH
# is a metapackage; the image is the versioned package it depends on.
for arch in $missing_kernels; do
    image=$(apt-cache depends "linux-image-$arch:$arch" 2>/dev/null |
        sed -n 's/^ *Depends: \(linux-image-[0-9][^ :]*\).*/\1/p' | head -n 1)
    [ -n "$image" ] || {
        echo "install: cannot resolve linux-image-$arch to a kernel package" >&2
        exit 1
    }
    dir=$kernel_dir/$arch
    rm -rf "$dir.tmp"
    mkdir -p "$dir.tmp/root"
    echo "install: unpacking $image ($arch) into $dir" >&2
    (cd "$dir.tmp" && apt_get -o APT::Sandbox::User=root download "$image:$arch")
    dpkg -x "$dir.tmp"/*.deb "$dir.tmp/root"
    rm -f "$dir.tmp"/*.deb
    release=$(ls "$dir.tmp/root/lib/modules")
    [ -f "$dir.tmp/root/boot/vmlinuz-$release" ] || {
        echo "install: $image has no boot/vmlinuz-$release" >&2
        exit 1
    }
    echo "$release" >"$dir.tmp/release"
    ln -s "root/boot/vmlinuz-$release" "$dir.tmp/vmlinuz"
    rm -rf "$dir"
    mv "$dir.tmp" "$dir"
done
echo "install: done in $(($(date +%s) - started)) s" >&2
