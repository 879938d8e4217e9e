//! The overlay budget: the `lowerdir=` mount option of every extension the
//! state root knows, plus this one, must fit in one page.

use std::fs;
use std::path::Path;

use super::{Budget, Findings};
use crate::state::{Lock, Opened, Root};

/// Length of one `lowerdir=` entry: overlayfs wants `:`, `,` and `\` escaped.
fn escaped_len(path: &str) -> u64 {
    path.chars()
        .map(|ch| {
            let n = ch.len_utf8() as u64;
            if matches!(ch, ':' | ',' | '\\') {
                n + 1
            } else {
                n
            }
        })
        .sum()
}

/// Mount option bytes for `paths` as one `lowerdir=a:b:...`.
fn lowerdir_len(paths: &[String]) -> u64 {
    let sum: u64 = paths.iter().map(|p| escaped_len(p)).sum();
    "lowerdir=".len() as u64 + sum + paths.len().saturating_sub(1) as u64
}

pub(super) fn budget(state_root: &Path, rootfs: &Path, page: u64, f: &mut Findings) -> Budget {
    let mut dirs: Vec<String> = Vec::new();
    if fs::symlink_metadata(state_root).is_ok() {
        match Root::open(state_root, false).and_then(|r| {
            let mut found = Vec::new();
            for id in r.ids()? {
                if let Ok(Opened::Found(c)) = r.open_container(&id, Lock::None) {
                    if let Ok(Some(rec)) = c.read() {
                        found.push(rec.rootfs);
                    }
                }
            }
            Ok(found)
        }) {
            Ok(found) => dirs = found,
            Err(e) => f.warnings.push(format!(
                "the overlay budget counts only this extension: {}",
                e.msg
            )),
        }
    }
    let this = rootfs.display().to_string();
    if !dirs.contains(&this) {
        dirs.push(this);
    }
    let used = lowerdir_len(&dirs);
    let n = dirs.len() as u64;
    let avg = (used - "lowerdir=".len() as u64).div_ceil(n.max(1));
    // The kernel copies at most one page of mount data, NUL included.
    let fits = used < page;
    let more_fit = if fits {
        (page - 1 - used) / (avg + 1)
    } else {
        0
    };
    if !fits {
        f.incompatible.push(format!(
            "the overlay mount options for {n} extensions need {used} bytes, more than the \
             page size ({page}): the mount would fail"
        ));
    }
    Budget {
        extensions: n,
        bytes: used,
        page_size: page,
        fits,
        more_fit,
        lowerdirs: dirs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_lowerdir_options_with_escapes() {
        let dirs = vec!["/a".to_string(), "/b:c".to_string()];
        assert_eq!(lowerdir_len(&dirs), "lowerdir=/a:/b\\:c".len() as u64);
    }
}
