//! Paths on a host filesystem mounted at a root (`/` on a device, a
//! directory in tests or for a mounted hostapp): symlinks are resolved
//! inside that root, never towards the real one.

use std::ffi::OsString;
use std::fs::{self, Metadata};
use std::path::{Component, Path, PathBuf};

/// Symlinks followed while resolving one path, as the kernel allows.
const MAX_HOPS: usize = 40;

/// Looks up the absolute path `abs` on the host filesystem mounted at
/// `host`, following symlinks (absolute ones relative to `host`, not to
/// the real root). The last component is followed only with `follow_last`.
/// Returns where it really is and its `lstat`, or None if it does not
/// exist.
pub fn host_lookup(host: &Path, abs: &str, follow_last: bool) -> Option<(PathBuf, Metadata)> {
    host_lookup_path(host, Path::new(abs), follow_last)
}

/// [`host_lookup`] of a path as bytes: a name that is not UTF-8 is looked
/// up as it is.
pub fn host_lookup_path(host: &Path, abs: &Path, follow_last: bool) -> Option<(PathBuf, Metadata)> {
    let mut todo: Vec<OsString> = Vec::new();
    push_components(&mut todo, abs);
    let mut cur: Vec<OsString> = Vec::new();
    let mut hops = 0;
    let mut last: Option<Metadata> = None;
    while let Some(name) = todo.pop() {
        if name == ".." {
            cur.pop();
            last = None;
            continue;
        }
        let mut path = host.to_path_buf();
        path.extend(&cur);
        path.push(&name);
        let meta = fs::symlink_metadata(&path).ok()?;
        if meta.file_type().is_symlink() && (follow_last || !todo.is_empty()) {
            hops += 1;
            if hops > MAX_HOPS {
                return None;
            }
            let target = fs::read_link(&path).ok()?;
            if target.is_absolute() {
                cur.clear();
            }
            push_components(&mut todo, &target);
            last = None;
            continue;
        }
        cur.push(name);
        last = Some(meta);
    }
    let meta = match last {
        Some(m) => m,
        None => fs::symlink_metadata(host.join(cur.iter().collect::<PathBuf>())).ok()?,
    };
    let mut path = host.to_path_buf();
    path.extend(&cur);
    Some((path, meta))
}

/// Pushes the normal components of `p` so that they pop in order ("." is
/// dropped, ".." kept).
fn push_components(todo: &mut Vec<OsString>, p: &Path) {
    let parts: Vec<OsString> = p
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect();
    todo.extend(parts.into_iter().rev());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn temp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ber-hostfs-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn resolves_absolute_symlinks_inside_the_host_root() {
        let host = temp("resolve");
        fs::create_dir_all(host.join("usr/bin")).unwrap();
        fs::write(host.join("usr/bin/busybox"), "").unwrap();
        symlink("/usr/bin", host.join("bin")).unwrap();
        symlink("busybox", host.join("usr/bin/sh")).unwrap();
        let (p, m) = host_lookup(&host, "/bin/sh", true).unwrap();
        assert_eq!(p, host.join("usr/bin/busybox"));
        assert!(m.is_file());
        let (p, m) = host_lookup(&host, "/bin/sh", false).unwrap();
        assert_eq!(p, host.join("usr/bin/sh"));
        assert!(m.file_type().is_symlink());
        assert!(host_lookup(&host, "/bin/bash", true).is_none());
        symlink("/loop", host.join("loop")).unwrap();
        assert!(host_lookup(&host, "/loop", true).is_none());
        fs::remove_dir_all(&host).unwrap();
    }
}
