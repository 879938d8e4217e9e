//! The next boot, as `extension-mount` will plan it from this host's disk:
//! how many extensions go over the hostapp, and what happens to this one.
//! The same planner as the boot itself, so the answer is the boot's.

use std::path::Path;

use super::NextBoot;
use crate::boot::plan::plan;
use crate::boot::Paths;

/// Plans the next boot from the disk under `host_root` (`sysroot` and
/// `data_root` as given, else balenaOS's places there), for `id` (the
/// target's engine container ID, when it is one).
pub(super) fn next_boot(
    host_root: &Path,
    sysroot: Option<&Path>,
    data_root: Option<&Path>,
    release: Option<&str>,
    id: Option<&str>,
) -> NextBoot {
    let under = |p: &str| host_root.join(p.trim_start_matches('/'));
    let paths = Paths {
        sysroot: sysroot.map_or_else(|| under(crate::boot::DEFAULT_SYSROOT), Path::to_path_buf),
        data_root: data_root
            .map_or_else(|| under(crate::boot::DEFAULT_DATA_ROOT), Path::to_path_buf),
        cmdline: under(crate::boot::DEFAULT_CMDLINE),
        kernel_release: release.map(str::to_string),
    };
    let mut nb = NextBoot {
        error: None,
        disabled_by: None,
        extensions: 0,
        skipped: 0,
        layers: 0,
        method: None,
        this: None,
    };
    let p = match plan(&paths) {
        Ok(p) => p,
        Err(e) => {
            nb.error = Some(e.msg);
            return nb;
        }
    };
    nb.disabled_by = p.disabled.as_ref().map(|d| d.0.to_string());
    nb.extensions = p.extensions.len() as u64;
    nb.skipped = p.skipped.len() as u64;
    nb.layers = p.lowerdir().len() as u64;
    nb.method = Some(p.method.name().to_string());
    if let Some(id) = id {
        if p.extensions.iter().any(|e| e.id == id) {
            nb.this = Some("overlaid".into());
        } else if let Some(s) = p.skipped.iter().find(|s| s.id == id) {
            nb.this = Some(format!("skipped: {}", s.reason));
        }
    }
    nb
}
