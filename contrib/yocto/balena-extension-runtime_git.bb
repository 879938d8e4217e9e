# An example recipe: balena-extension-runtime built from this repository for
# the machine's target, with the image's own glibc and std (dynamically
# linked: the image provides both, so the static musl build of `make dist` is
# not needed here).
#
# What a layer adjusts:
#   - SRC_URI/SRCREV: where the repository is mirrored, and the commit to
#     build (pin one; AUTOREV makes builds unrepeatable).
#   - LIC_FILES_CHKSUM: it checksums the `license` line of Cargo.toml; a
#     change above that line moves it (bitbake says so, with the new md5).
#   - balena-extension-runtime-crates.inc: regenerate it when Cargo.lock
#     changes (`bitbake -c update_crates balena-extension-runtime`).
#   - Rust: the recipe needs rustc and cargo 1.80 or newer (Cargo.toml's
#     rust-version; Yocto 5.0 "scarthgap" ships 1.75: add a newer Rust from
#     a mixin layer there, or use a later release).
#   - Yocto older than 4.2 has no cargo-update-recipe-crates class: drop it
#     from `inherit` and keep the .inc up to date by hand.
#   - How balena-engine learns the runtime (`--add-runtime
#     extension=/usr/bin/balena-extension-runtime` on its command line) is
#     the engine recipe's business, not this one's.

SUMMARY = "OCI runtime for balenaOS hostapp extensions"
DESCRIPTION = "A runc-compatible OCI runtime that installs and removes hostapp \
extensions through their hooks, with the extension proxy, extension-inspect, \
state-dump, balena-extension-manager and extension-mount applets in the same binary."
HOMEPAGE = "https://github.com/balena-os/balena-extension-runtime"
LICENSE = "Apache-2.0"
LIC_FILES_CHKSUM = "file://Cargo.toml;beginline=11;endline=11;md5=2507bd5f0713f05419cd2f22fa06fe62"

SRC_URI = "git://github.com/balena-os/balena-extension-runtime.git;protocol=https;branch=main"
SRCREV = "${AUTOREV}"
PV = "0.1.0+git${SRCPV}"
S = "${WORKDIR}/git"

# lexopt, libc and miniserde, what they pull in, and the tests' crates.
require balena-extension-runtime-crates.inc

inherit cargo cargo-update-recipe-crates systemd

# `--version` names the commit; build.rs asks git, or takes it from here.
export BUILD_COMMIT = "${@d.getVar('SRCREV')[:12]}"

# The release profile of Cargo.toml applies (opt-level "z", LTO, panic
# abort, stripped). Only the binary is wanted, not the examples or tests.
CARGO_BUILD_FLAGS:append = " --bin balena-extension-runtime"

# Applet names: the binary chooses what to run by the name it was called by.
# extension-mount is PID 1 of the initramfs at boot (README, "On a device
# image"): the initramfs image adds this package's binary and that link.
APPLET_LINKS = "balena-extension-proxy extension-inspect state-dump balena-extension-manager \
    extension-mount balena-extension-mount"

do_install:append() {
    for link in ${APPLET_LINKS}; do
        ln -sf balena-extension-runtime ${D}${bindir}/$link
    done
    install -d ${D}${systemd_system_unitdir}
    install -m 0644 ${S}/contrib/systemd/balena-extension-manager.service \
        ${D}${systemd_system_unitdir}/
    # The OS update's commit hook: `cleanup --stale-os` once the new OS runs.
    install -d ${D}${sysconfdir}/hostapp-update-hooks.d
    install -m 0755 ${S}/contrib/hostapp-update/70-balena-extension-manager \
        ${D}${sysconfdir}/hostapp-update-hooks.d/
}

# The oneshot unit that runs `balena-extension-manager cleanup` at boot.
SYSTEMD_SERVICE:${PN} = "balena-extension-manager.service"
SYSTEMD_AUTO_ENABLE = "enable"

FILES:${PN} += " \
    ${systemd_system_unitdir}/balena-extension-manager.service \
    ${sysconfdir}/hostapp-update-hooks.d/70-balena-extension-manager \
"
