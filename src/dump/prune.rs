//! `--prune`: removing entries that are provably dead, each re-checked under
//! a non-blocking try of its lock so that no runtime command is disturbed.

use std::os::fd::AsRawFd;
use std::path::Path;

use super::scan::{bundle_exists, Entry};
use super::PRUNE_GRACE_SECS;
use crate::error::{Error, Result};
use crate::state::{Lock, Opened, Proxy, Root};
use crate::sys;

impl Proxy {
    /// Provably not the proxy any more: nothing will ever reap or signal it.
    fn dead(self) -> bool {
        matches!(self, Proxy::Gone | Proxy::Reused | Proxy::None)
    }
}

/// Removes the entry if it is provably dead, re-checking under its lock.
pub fn prune(dir: &Path, e: &mut Entry) {
    let dead_container = e.kind == "container"
        && e.bundle_exists == Some(false)
        && !e.hook_alive
        // Any root here, so a proxy counts as alive rather than not; the
        // record's full identity is checked again under the lock.
        && Proxy::of(e.pid.unwrap_or(0), e.pid_start.unwrap_or(0), &e.id, None).dead();
    let leftover = matches!(e.kind.as_str(), "no-state" | "creating")
        && !e.locked
        && e.age_seconds.is_some_and(|a| a > PRUNE_GRACE_SECS);
    if !dead_container && !leftover {
        return;
    }
    let result = if e.kind == "creating" {
        remove_creating(dir, &e.id)
    } else {
        remove_entry(dir, &e.id, dead_container)
    };
    match result {
        Ok(true) => {
            e.pruned = true;
            e.broken = false;
        }
        Ok(false) => {}
        Err(err) => {
            e.problems.push(format!("cannot prune: {}", err.msg));
            e.broken = true;
        }
    }
}

/// Removes `<root>/<id>` if, under its lock, it is still dead (or still has
/// no state). Ok(false) when it is locked or no longer qualifies.
fn remove_entry(dir: &Path, id: &str, had_state: bool) -> Result<bool> {
    let root = Root::open(dir, false)?;
    let c = match root.open_container(id, Lock::TryExclusive)? {
        Opened::Found(c) => c,
        Opened::Missing | Opened::Busy => return Ok(false),
    };
    let still_dead = match c.read() {
        Ok(Some(rec)) if had_state => {
            !rec.proxy_alive() && !rec.hook_alive() && !bundle_exists(&rec.bundle)
        }
        Ok(None) => !had_state,
        _ => false,
    };
    if !still_dead {
        return Ok(false);
    }
    c.remove()?;
    Ok(true)
}

/// Removes an unlocked `.creating-*` directory (create's temporary name,
/// which `Root` does not open).
fn remove_creating(dir: &Path, name: &str) -> Result<bool> {
    let fail = |e: std::io::Error| Error::io(format!("cannot remove {}/{name}", dir.display()), &e);
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;
    let root = sys::openat(libc::AT_FDCWD, &sys::cstring(dir)?, flags, 0).map_err(fail)?;
    let cname = sys::cstring(name)?;
    let fd = match sys::openat(root.as_raw_fd(), &cname, flags, 0) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(false),
        Err(e) => return Err(fail(e)),
    };
    match sys::flock(fd.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => return Ok(false),
        Err(e) => return Err(fail(e)),
    }
    // Still the directory we locked, not a new one under the same name?
    match (
        sys::lstatat(root.as_raw_fd(), &cname),
        sys::fstat(fd.as_raw_fd()),
    ) {
        (Ok(a), Ok(b)) if sys::same_file(&a, &b) => {}
        _ => return Ok(false),
    }
    if let Ok(list) = std::fs::read_dir(dir.join(name)) {
        for entry in list.flatten() {
            if let Ok(n) = sys::cstring(entry.file_name()) {
                let _ = sys::unlinkat(fd.as_raw_fd(), &n, 0);
            }
        }
    }
    sys::unlinkat(root.as_raw_fd(), &cname, libc::AT_REMOVEDIR).map_err(fail)?;
    let _ = sys::fsync(root.as_raw_fd());
    Ok(true)
}
