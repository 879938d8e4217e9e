#!/bin/sh
# Debian's kernel for the boot test (e2e/boot.rs), downloaded and unpacked,
# never installed:
#
#   sh tests/tools/boot-kernel.sh ARCH DIR
#
# ARCH is x86_64 or aarch64. DIR receives `vmlinuz`, `release` (the kernel's
# release, e.g. 6.1.0-57-amd64) and `lib/modules/<release>/` with its
# modules.dep (`depmod -b`: the package ships none). A DIR that already
# holds all three is left as it is, so the download happens once.
set -eu

arch=${1:?usage: boot-kernel.sh ARCH DIR}
dir=${2:?usage: boot-kernel.sh ARCH DIR}
case "$arch" in
x86_64) deb_arch=amd64 ;;
aarch64) deb_arch=arm64 ;;
*)
    echo "boot-kernel: no Debian kernel for \"$arch\" (x86_64 or aarch64)" >&2
    exit 2
    ;;
esac

if [ -s "$dir/release" ] && [ -f "$dir/vmlinuz" ] &&
    [ -s "$dir/lib/modules/$(cat "$dir/release")/modules.dep" ]; then
    exit 0
fi
for tool in apt-get apt-cache dpkg depmod; do
    command -v "$tool" >/dev/null || {
        echo "boot-kernel: $tool not found (Debian's apt, dpkg and kmod)" >&2
        exit 1
    }
done

# A foreign architecture's packages are only listed once dpkg knows it.
if [ "$deb_arch" != "$(dpkg --print-architecture)" ] &&
    ! dpkg --print-foreign-architectures | grep -qx "$deb_arch"; then
    dpkg --add-architecture "$deb_arch"
    apt-get update -qq
fi
# linux-image-ARCH is a metapackage: its dependency names the real kernel.
meta=linux-image-$deb_arch:$deb_arch
pkg=$(apt-cache depends "$meta" 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\).*/\1/p' | head -n 1)
if [ -z "$pkg" ]; then
    apt-get update -qq
    pkg=$(apt-cache depends "$meta" | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\).*/\1/p' | head -n 1)
fi
[ -n "$pkg" ] || {
    echo "boot-kernel: $meta names no linux-image-<version> package" >&2
    exit 1
}
pkg=${pkg%%:*}

rm -rf "$dir.tmp"
mkdir -p "$dir.tmp/deb" "$dir.tmp/root"
(cd "$dir.tmp/deb" && apt-get download -q -o APT::Sandbox::User=root "$pkg:$deb_arch" >/dev/null)
dpkg -x "$dir.tmp/deb/"*.deb "$dir.tmp/root"
release=$(ls "$dir.tmp/root/lib/modules")
[ -n "$release" ] && [ -f "$dir.tmp/root/boot/vmlinuz-$release" ] || {
    echo "boot-kernel: $pkg holds no /boot/vmlinuz-<release> beside lib/modules/<release>" >&2
    exit 1
}
depmod -b "$dir.tmp/root" "$release"
mkdir -p "$dir.tmp/out/lib/modules"
mv "$dir.tmp/root/boot/vmlinuz-$release" "$dir.tmp/out/vmlinuz"
mv "$dir.tmp/root/lib/modules/$release" "$dir.tmp/out/lib/modules/"
echo "$release" >"$dir.tmp/out/release"
rm -rf "$dir"
mv "$dir.tmp/out" "$dir"
rm -rf "$dir.tmp"
echo "boot-kernel: $pkg ($release) in $dir" >&2
