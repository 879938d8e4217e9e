//! `state-dump`: every entry in the runtime's state roots, what its state
//! says and what is really true, without ever waiting for a lock.
//!
//! - State files are replaced atomically, so they are read without locks.
//!   Whether a runtime command holds an entry's lock is learned from
//!   `/proc/locks`, which takes no lock at all.
//! - A broken entry (unreadable state, a leftover of an interrupted create,
//!   a bundle that is gone, ...) is reported, never fatal to the listing.
//! - `--prune` removes only what is provably dead, and takes each entry's
//!   lock with a non-blocking try before it touches it.
//! - Each entry is written out as soon as it is read and then dropped, so
//!   memory does not grow with the number of entries in a root.
//!
//! `scan` reads a root, `prune` removes dead entries, `listing` writes the
//! table or the JSON document.

mod listing;
mod prune;
mod scan;

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::state;

pub use scan::parse_locks;

/// Where containerd and Docker keep state roots for runtimes they drive
/// (a `*` matches one path component; roots that do not exist are skipped):
///
/// - containerd's runc shim: `<root>/<namespace>`, root `/run/containerd/runc`
///   unless the runtime's options name another;
/// - dockerd and balena-engine: `<exec-root>/runtime-<runtime name>/<namespace>`
///   (namespace `moby`), exec root `/run/docker` or `/var/run/balena-engine`.
///
/// `/var/run` is `/run` on most systems; a root reached twice is listed once.
pub const KNOWN_ROOTS: &[&str] = &[
    "/run/containerd/runc/*",
    "/run/docker/runtime-*/*",
    "/var/run/docker/runtime-*/*",
    "/run/balena-engine/runtime-*/*",
    "/var/run/balena-engine/runtime-*/*",
];

/// Leftovers without a state younger than this are left alone by `--prune`.
pub const PRUNE_GRACE_SECS: i64 = 60;

/// Prefix of the directories `create` builds before renaming them into place.
pub const CREATING_PREFIX: &str = ".creating-";

/// What to do, as the command line said.
pub struct Options {
    pub roots: Vec<PathBuf>,
    pub all_roots: bool,
    pub json: bool,
    pub prune: bool,
    pub ids: Vec<String>,
}

/// Runs the whole command; returns the exit code (1 if anything is broken).
pub fn run(o: &Options) -> Result<i32> {
    let (now, _) = crate::time::now();
    let mut out = listing::Listing::new(o.json);
    let mut matched = vec![false; o.ids.len()];
    let mut broken = 0;
    let mut pruned = Vec::new();
    for dir in roots_to_scan(o) {
        out.begin_root(&dir.display().to_string());
        let scanned = scan::scan_root(&dir, now, |mut e| {
            if !wanted(&e, &o.ids, &mut matched) {
                return;
            }
            if o.prune {
                prune::prune(&dir, &mut e);
            }
            if e.pruned {
                pruned.push(e.path.clone());
            }
            broken += usize::from(e.broken);
            out.entry(&e);
        });
        let (error, other_runtime) = match scanned {
            Ok(others) => (None, others),
            Err(e) => (Some(e.msg), 0),
        };
        broken += usize::from(error.is_some());
        out.end_root(error, other_runtime);
    }
    out.finish(broken, pruned)?;
    if let Some(i) = matched.iter().position(|m| !m) {
        return Err(Error::new(format!("no entry matches \"{}\"", o.ids[i])));
    }
    Ok(i32::from(broken > 0))
}

/// The roots to list, each once: those given, else the default root; with
/// `--all-roots` also the default root and every known root that exists.
pub fn roots_to_scan(o: &Options) -> Vec<PathBuf> {
    let mut candidates = o.roots.clone();
    if o.roots.is_empty() || o.all_roots {
        candidates.push(state::default_root());
    }
    if o.all_roots {
        for pattern in KNOWN_ROOTS {
            candidates.extend(expand(pattern));
        }
    }
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for dir in candidates {
        let key = std::fs::metadata(&dir).ok().map(|m| (m.dev(), m.ino()));
        // An explicitly named root that does not exist is still shown.
        if key.is_none() && !o.roots.contains(&dir) {
            continue;
        }
        if key.is_some_and(|k| seen.contains(&k)) || out.contains(&dir) {
            continue;
        }
        seen.extend(key);
        out.push(dir);
    }
    out
}

/// Expands a pattern whose `*` components match any one directory name.
pub fn expand(pattern: &str) -> Vec<PathBuf> {
    let mut found = vec![PathBuf::from("/")];
    for part in pattern.split('/').filter(|p| !p.is_empty()) {
        let mut next = Vec::new();
        for dir in &found {
            if !part.contains('*') {
                next.push(dir.join(part));
                continue;
            }
            let Ok(list) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut names: Vec<String> = list
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| component_matches(part, n))
                .collect();
            crate::sys::sort_strings(&mut names);
            next.extend(names.into_iter().map(|n| dir.join(n)));
        }
        found = next;
    }
    found.into_iter().filter(|p| p.is_dir()).collect()
}

/// A path component against a pattern component, as a shell expands it:
/// a `*` does not match a leading `.`.
fn component_matches(pattern: &str, name: &str) -> bool {
    crate::glob::matches(pattern, name) && (pattern.starts_with('.') || !name.starts_with('.'))
}

/// Whether the entry is one the command line asked for: an exact ID, or a
/// prefix of one (the table shows IDs shortened to 12 characters).
fn wanted(e: &scan::Entry, ids: &[String], matched: &mut [bool]) -> bool {
    if ids.is_empty() {
        return true;
    }
    let mut any = false;
    for (i, id) in ids.iter().enumerate() {
        if !id.is_empty() && e.id.starts_with(id.as_str()) {
            matched[i] = true;
            any = true;
        }
    }
    any
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_one_component() {
        assert!(component_matches("runtime-*", "runtime-runc"));
        assert!(!component_matches("runtime-*", "containerd"));
        assert!(component_matches("*", "moby"));
        assert!(!component_matches("*", ".hidden"));
        assert!(component_matches("moby", "moby"));
        assert!(expand("/proc/self/fd").len() == 1);
        assert!(expand("/nonexistent-ber/*").is_empty());
    }

    #[test]
    fn ids_select_by_prefix_and_record_what_they_matched() {
        let e = |id: &str| scan::Entry::blank(std::path::Path::new("/r"), id);
        let ids = vec!["abc".to_string(), "zz".to_string()];
        let mut matched = vec![false; 2];
        assert!(wanted(&e("abcdef"), &ids, &mut matched));
        assert!(!wanted(&e("xyz"), &ids, &mut matched));
        assert_eq!(matched, [true, false]);
        assert!(wanted(&e("anything"), &[], &mut []));
    }
}
