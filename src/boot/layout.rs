//! The engine's overlay2 layout on disk, read without trusting it: which
//! directories hold a container's layers, top first.
//!
//! `<root>/image/overlay2/layerdb/mounts/<id>/mount-id` names the
//! container's layer `<root>/overlay2/<mount-id>/`: its `diff/` is the top,
//! and its `lower` file lists the layers below as `l/<short>` links, each of
//! which the engine made as `../<dir>/diff`. A link is read, never followed:
//! anything but that exact shape, a component that is a symlink, or a
//! missing `diff/` refuses the container, so no path outside the data root
//! can reach a mount.

use std::fs;
use std::path::{Path, PathBuf};

use crate::json::read_text;

/// `mount-id` holds one name; `lower` a few hundred layers at most.
const MAX_MOUNT_ID: u64 = 256;
const MAX_LOWER: u64 = 64 << 10;

/// The layer directories of container `id` in the data root `root`, top
/// first; the `-init` layer (the engine's own files: /etc/hosts and the
/// like) is left out, as balenaOS does. The error is the reason, one line.
pub fn container_layers(root: &Path, id: &str) -> Result<Vec<PathBuf>, String> {
    if !plain_name(id) {
        return Err(format!("\"{id}\" is not a container id"));
    }
    let id_file = root
        .join("image/overlay2/layerdb/mounts")
        .join(id)
        .join("mount-id");
    let mount_id = read_text(&id_file, MAX_MOUNT_ID, true).map_err(|e| e.msg)?;
    let mount_id = mount_id.trim();
    if !plain_name(mount_id) {
        return Err(format!(
            "{} holds \"{}\", not a layer name",
            id_file.display(),
            quoted(mount_id)
        ));
    }
    // Every layer path goes through the store: a symlinked store would
    // take them all outside the data root.
    let store = root.join("overlay2");
    real_dirs(&[&store])?;
    let mut layers = vec![diff_dir(&store, mount_id)?];
    let lower_file = store.join(mount_id).join("lower");
    // A layer with no parent has no `lower` file.
    if fs::symlink_metadata(&lower_file).is_err() {
        return Ok(layers);
    }
    let lower = read_text(&lower_file, MAX_LOWER, true).map_err(|e| e.msg)?;
    for entry in lower.trim().split(':') {
        let dir = link_target(&store, entry)
            .map_err(|why| format!("{}: \"{}\" {why}", lower_file.display(), quoted(entry)))?;
        if dir.ends_with("-init") {
            continue;
        }
        layers.push(diff_dir(&store, &dir)?);
    }
    Ok(layers)
}

/// The layer directory an `l/<short>` entry names, from the link's text:
/// `../<dir>/diff` gives `<dir>`.
fn link_target(store: &Path, entry: &str) -> Result<String, &'static str> {
    let short = lower_entry(entry).ok_or("is not an l/<name> link")?;
    let link = store.join("l").join(short);
    let meta = fs::symlink_metadata(&link).map_err(|_| "is missing")?;
    if !meta.file_type().is_symlink() {
        return Err("is not a symlink");
    }
    let target = fs::read_link(&link).map_err(|_| "cannot be read")?;
    target
        .to_str()
        .and_then(link_dir)
        .map(str::to_string)
        .ok_or("does not point to ../<layer>/diff")
}

/// The short link name of a `lower` entry `l/<short>`.
pub fn lower_entry(entry: &str) -> Option<&str> {
    entry.strip_prefix("l/").filter(|s| plain_name(s))
}

/// The layer directory an `l/` link's text `../<dir>/diff` names.
pub fn link_dir(text: &str) -> Option<&str> {
    text.strip_prefix("../")
        .and_then(|t| t.strip_suffix("/diff"))
        .filter(|d| plain_name(d))
}

/// `<store>/<dir>/diff`, when both are real directories (not symlinks).
fn diff_dir(store: &Path, dir: &str) -> Result<PathBuf, String> {
    let layer = store.join(dir);
    let diff = layer.join("diff");
    real_dirs(&[&layer, &diff])?;
    Ok(diff)
}

/// Each of `dirs` is a directory itself, not a symlink to one.
fn real_dirs(dirs: &[&Path]) -> Result<(), String> {
    for p in dirs {
        match fs::symlink_metadata(p) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(format!("{} is not a directory", p.display())),
            Err(_) => return Err(format!("{} is missing", p.display())),
        }
    }
    Ok(())
}

/// One path component the engine could have written: no `/`, not `.` or
/// `..`, nothing hidden, no control characters, not absurdly long.
pub fn plain_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && !s.starts_with('.')
        && !s
            .bytes()
            .any(|b| b == b'/' || b == b':' || b == b',' || b < b' ')
}

/// A hostile value quoted in a reason: one line, cut.
pub fn quoted(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(60)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    pub struct Store(pub PathBuf);

    impl Drop for Store {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn store(tag: &str) -> Store {
        let d = std::env::temp_dir().join(format!("ber-layout-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(d.join("overlay2/l")).unwrap();
        Store(d)
    }

    fn layer(root: &Path, dir: &str, short: &str) {
        fs::create_dir_all(root.join("overlay2").join(dir).join("diff")).unwrap();
        symlink(
            format!("../{dir}/diff"),
            root.join("overlay2/l").join(short),
        )
        .unwrap();
    }

    fn container(root: &Path, id: &str, mount_id: &str, lower: &str) {
        let m = root.join("image/overlay2/layerdb/mounts").join(id);
        fs::create_dir_all(&m).unwrap();
        fs::write(m.join("mount-id"), mount_id).unwrap();
        fs::create_dir_all(root.join("overlay2").join(mount_id).join("diff")).unwrap();
        fs::write(root.join("overlay2").join(mount_id).join("lower"), lower).unwrap();
    }

    #[test]
    fn lists_the_diff_then_the_lower_layers_without_init() {
        let s = store("ok");
        let r = &s.0;
        layer(r, "c1-init", "I");
        layer(r, "img2", "B");
        layer(r, "img1", "A");
        container(r, "c1", "c1", "l/I:l/B:l/A\n");
        let got = container_layers(r, "c1").unwrap();
        let o = r.join("overlay2");
        assert_eq!(
            got,
            [o.join("c1/diff"), o.join("img2/diff"), o.join("img1/diff")]
        );
    }

    #[test]
    fn refuses_links_and_names_that_leave_the_store() {
        let s = store("hostile");
        let r = &s.0;
        layer(r, "img1", "A");
        fs::create_dir_all(r.join("outside/diff")).unwrap();
        symlink("../../outside/diff", r.join("overlay2/l/OUT")).unwrap();
        symlink("LOOP", r.join("overlay2/l/LOOP")).unwrap();
        symlink("/etc", r.join("overlay2/l/ABS")).unwrap();
        for (lower, want) in [
            ("l/OUT", "does not point to ../<layer>/diff"),
            ("l/LOOP", "does not point to ../<layer>/diff"),
            ("l/ABS", "does not point to ../<layer>/diff"),
            ("../outside/diff", "is not an l/<name> link"),
            ("l/../img1", "is not an l/<name> link"),
            ("l/MISSING", "is missing"),
            ("l/A:", "is not an l/<name> link"),
        ] {
            container(r, "c", "c", lower);
            let err = container_layers(r, "c").unwrap_err();
            assert!(err.ends_with(want), "{lower}: {err}");
        }
        container(r, "d", "../img1", "l/A");
        assert!(container_layers(r, "d")
            .unwrap_err()
            .contains("not a layer name"));
        assert!(container_layers(r, "../d").is_err());
        assert!(container_layers(r, "nothere").is_err());
    }

    #[test]
    fn an_overlay2_store_that_is_a_symlink_refuses_the_container() {
        let s = store("storelink");
        let r = &s.0;
        let outside = r.join("outside");
        fs::create_dir_all(outside.join("c/diff")).unwrap();
        fs::create_dir_all(r.join("image/overlay2/layerdb/mounts/c")).unwrap();
        fs::write(r.join("image/overlay2/layerdb/mounts/c/mount-id"), "c").unwrap();
        fs::remove_dir_all(r.join("overlay2")).unwrap();
        symlink(&outside, r.join("overlay2")).unwrap();
        let err = container_layers(r, "c").unwrap_err();
        assert!(err.ends_with("overlay2 is not a directory"), "{err}");
    }

    #[test]
    fn a_missing_or_symlinked_diff_refuses_the_container() {
        let s = store("diff");
        let r = &s.0;
        layer(r, "img1", "A");
        fs::remove_dir(r.join("overlay2/img1/diff")).unwrap();
        container(r, "c", "c", "l/A");
        assert!(container_layers(r, "c")
            .unwrap_err()
            .ends_with("is missing"));
        symlink("/", r.join("overlay2/img1/diff")).unwrap();
        assert!(container_layers(r, "c")
            .unwrap_err()
            .ends_with("is not a directory"));
    }
}
