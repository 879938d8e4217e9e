//! The `deactivate` hook a kernel-override extension leaves in its volume
//! (its create hook copies it there): run before the container is removed
//! for staleness, so the extension can undo what it did to the host.
//!
//! It runs exactly as the runtime's own hooks do (`hooks::run`): an
//! environment built from scratch, its own process group, a time limit.
//! Its output goes to the manager's stderr: stdout carries the report (or
//! the JSON document), which hook chatter must not break.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::engine::Container;
use crate::error::Result;
use crate::hooks::{self, Context, Sinks};
use crate::labels;
use crate::state::MountRecord;

use super::decide::volume_mounts;

pub const NAME: &str = "deactivate";

/// `<source>/deactivate` of each volume mount that has one, regular and
/// executable. One that is there but cannot be run is reported in `skipped`.
pub fn find(c: &Container, skipped: &mut Vec<String>) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    for m in volume_mounts(&c.mounts) {
        let path = Path::new(&m.source).join(NAME);
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if !meta.is_file() {
            skipped.push(format!("{} is not a regular file: not run", path.display()));
        } else if meta.permissions().mode() & 0o111 == 0 {
            skipped.push(format!("{} is not executable: not run", path.display()));
        } else {
            found.push((path, m.source.clone()));
        }
    }
    found
}

/// Runs the container's deactivate hooks in mount order; stops at the
/// first that fails, whose message (`deactivate failed (exit status 3):
/// <its last line>`) says the container must stay. `forward`: the hooks'
/// output goes to our stderr.
pub fn run(
    c: &Container,
    hooks_found: &[(PathBuf, String)],
    timeout: Duration,
    forward: bool,
) -> std::result::Result<(), String> {
    let ext_labels = labels::extension_labels(&c.labels);
    let mounts: Vec<MountRecord> = volume_mounts(&c.mounts)
        .map(|m| MountRecord {
            destination: m.destination.clone(),
            source: m.source.clone(),
        })
        .collect();
    let sink = forward.then_some(libc::STDERR_FILENO);
    let sinks = Sinks {
        stdout: sink,
        stderr: sink,
    };
    for (path, source) in hooks_found {
        let ctx = Context {
            id: &c.id,
            rootfs: Path::new(source),
            labels: &ext_labels,
            mounts: &mounts,
        };
        let result: Result<hooks::Finished> =
            hooks::run(NAME, path, &ctx, timeout, sinks, &mut |_| Ok(()));
        match result {
            Ok(f) if f.outcome.success() => {}
            Ok(f) => return Err(format!("deactivate failed {}", f.how(timeout))),
            Err(e) => return Err(format!("deactivate failed: {}", e.msg)),
        }
    }
    Ok(())
}
