//! A disk as extension-mount finds it at boot, laid out the way dockerd's
//! overlay2 driver leaves it: the hostapp's data root under `sys/balena`
//! (`sys/current` names its container), the data partition's under
//! `data/docker` beside `remove_me_to_reset`, and a kernel command line.
//! The planner's unit tests, tests/extension_mount.rs and the boot bench
//! all write their disks with it.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

/// The state of a container that started and exited 0: installed.
pub const OK: &str =
    r#"{"Running":false,"ExitCode":0,"Error":"","StartedAt":"2026-01-01T00:00:00Z"}"#;

/// Lays out a disk in `dir`: `cmdline`, the data partition with its reset
/// file, and the hostapp container `hostapp` with `images` image layers.
/// Returns the diffs of the hostapp's lower layers, as [`container`].
pub fn disk(dir: &Path, images: usize) -> Vec<PathBuf> {
    fs::create_dir_all(dir.join("data/docker")).unwrap();
    fs::write(dir.join("data/remove_me_to_reset"), "").unwrap();
    fs::write(dir.join("cmdline"), "console=ttyS0 root=/dev/vda2\n").unwrap();
    let host = dir.join("sys/balena");
    let lowers = container(&host, "hostapp", "hostapp", "null", OK, images);
    symlink(
        "/mnt/sysroot/active/balena/containers/hostapp",
        dir.join("sys/current"),
    )
    .unwrap();
    lowers
}

/// The options that point extension-mount at the disk in `dir`, on a
/// 6.1.0 kernel.
pub fn args(dir: &Path) -> Vec<String> {
    let p = |s: &str| dir.join(s).display().to_string();
    vec![
        "--sysroot".into(),
        p("sys"),
        "--data-root".into(),
        p("data/docker"),
        "--cmdline".into(),
        p("cmdline"),
        "--kernel-release".into(),
        "6.1.0".into(),
    ]
}

/// Container `id` in the data root `root`: its config.v2.json (`labels` and
/// `state` are JSON), and its own layer over its `-init` layer and `images`
/// image layers, each of those linked from `l/`. Returns the diffs of those
/// lower layers, `-init` first.
pub fn container(
    root: &Path,
    id: &str,
    name: &str,
    labels: &str,
    state: &str,
    images: usize,
) -> Vec<PathBuf> {
    let o = root.join("overlay2");
    fs::create_dir_all(o.join("l")).unwrap();
    let mut dirs = vec![format!("{id}-init")];
    dirs.extend((0..images).map(|i| format!("{id}-img{i}")));
    let mut lower = Vec::new();
    for dir in &dirs {
        fs::create_dir_all(o.join(dir).join("diff")).unwrap();
        symlink(format!("../{dir}/diff"), o.join("l").join(short(dir))).unwrap();
        lower.push(format!("l/{}", short(dir)));
    }
    fs::create_dir_all(o.join(id).join("diff")).unwrap();
    fs::write(o.join(id).join("lower"), lower.join(":")).unwrap();
    let m = root.join("image/overlay2/layerdb/mounts").join(id);
    fs::create_dir_all(&m).unwrap();
    fs::write(m.join("mount-id"), id).unwrap();
    let c = root.join("containers").join(id);
    fs::create_dir_all(&c).unwrap();
    let rec = format!(
        r#"{{"ID":"{id}","Name":"/{name}","State":{state},"Config":{{"Image":"{name}:1","Labels":{labels}}}}}"#
    );
    fs::write(c.join("config.v2.json"), rec).unwrap();
    dirs.iter().map(|d| o.join(d).join("diff")).collect()
}

/// The `l/` link of layer directory `dir`: 26 characters, as the engine's,
/// from the directory's letters and digits in upper case, padded with 0s
/// or cut in the middle.
pub fn short(dir: &str) -> String {
    let s: Vec<char> = dir
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if s.len() <= 26 {
        format!("{:0>26}", String::from_iter(s))
    } else {
        s[..13].iter().chain(&s[s.len() - 13..]).collect()
    }
}

/// The diff of image layer `i` of container `id` (0 is the top one).
pub fn image(root: &Path, id: &str, i: usize) -> PathBuf {
    root.join("overlay2")
        .join(format!("{id}-img{i}"))
        .join("diff")
}

/// Writes `body` at `rel` in the top image layer of container `id`.
pub fn file(root: &Path, id: &str, rel: &str, body: &str) {
    let p = image(root, id, 0).join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, body).unwrap();
}
