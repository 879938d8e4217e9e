//! The host as the report shows it: the facts the claims are checked
//! against ([`crate::claims::read_host`]), plus what only the report needs.

use std::path::Path;

use super::Host;
use crate::claims;
use crate::sha256;

pub(super) fn describe(root: &Path, facts: claims::Host) -> Host {
    let symvers = facts
        .kernel_release
        .as_deref()
        .and_then(|r| claims::symvers_path(root, r));
    // Already hashed when it is the kernel's ABI identity.
    let from_cmdline = facts.kernel_abi_source.as_deref() == Some(claims::ABI_FROM_CMDLINE);
    let symvers_sha = if from_cmdline || facts.kernel_abi.is_none() {
        symvers.as_deref().and_then(|p| sha256::of_file(p).ok())
    } else {
        facts.kernel_abi.clone()
    };
    Host {
        root: root.display().to_string(),
        kernel_release: facts.kernel_release,
        kernel_version: facts.kernel_version,
        kernel_abi: facts.kernel_abi,
        kernel_abi_source: facts.kernel_abi_source,
        module_symvers: symvers.map(|p| p.display().to_string()),
        module_symvers_sha256: symvers_sha,
        os_version: facts.os_version,
        nohostext: facts.nohostext,
        page_size: crate::sys::page_size() as u64,
    }
}
