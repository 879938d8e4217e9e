//! An extension's claims about the host it is for — kernel version, kernel
//! ABI, OS version — and whether each holds on this host. One module
//! decides it for both `extension-inspect` and `manager cleanup --stale-os`.
//!
//! INTERFACE SKELETON: being written.

use std::collections::BTreeMap;
use std::path::Path;

/// What the host is, read under a root (`/` on a device).
pub struct Host {
    /// `/proc/sys/kernel/osrelease`, trimmed.
    pub kernel_release: Option<String>,
    /// Its M.m.p part.
    pub kernel_version: Option<String>,
    /// The running kernel's identity: `balena_kernel_abi=` on /proc/cmdline,
    /// else the SHA-256 of `/lib/modules/<release>/Module.symvers`.
    pub kernel_abi: Option<String>,
    /// Where `kernel_abi` came from, for people: "balena_kernel_abi= on
    /// /proc/cmdline" or the Module.symvers path.
    pub kernel_abi_source: Option<String>,
    /// `VERSION_ID` of os-release.
    pub os_version: Option<String>,
    /// `balena.nohostext` on /proc/cmdline.
    pub nohostext: bool,
}

pub fn read_host(root: &Path) -> Host {
    let _ = root;
    Host {
        kernel_release: None,
        kernel_version: None,
        kernel_abi: None,
        kernel_abi_source: None,
        os_version: None,
        nohostext: false,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The claim holds on this host.
    Holds,
    /// The claim is well-formed and does not hold: the extension is stale.
    Fails,
    /// The label is malformed, or the host value cannot be read: never act
    /// on it (keep, and warn).
    Doubt,
}

/// One claim an extension makes (only labels that are present).
pub struct Claim {
    /// The full label name.
    pub label: &'static str,
    pub value: String,
    pub verdict: Verdict,
    /// Why, with the values compared: "5.15.92 is not the running 6.1.0".
    pub note: String,
}

/// The claims among `labels` (kernel-version, kernel-abi-id, os-version),
/// each checked against `host`. An absent label is no claim: not listed.
pub fn check(labels: &BTreeMap<String, String>, host: &Host) -> Vec<Claim> {
    let _ = (labels, host);
    Vec::new()
}
