//! What TARGET names: an OCI bundle, a bare rootfs, a container in the
//! runtime's state root, or a Docker / balena-engine container (labels from
//! its `config.v2.json`, files from the engine's overlay2 layer store).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::files::View;
use crate::error::{Error, IoContext, Result};
use crate::labels;
use crate::spec;
use crate::state::{self, Lock, Opened, Root};

pub const BUNDLE: &str = "bundle";
pub const ROOTFS: &str = "rootfs";
pub const CONTAINER: &str = "container";
pub const ENGINE: &str = "engine";

pub struct Target {
    /// bundle, rootfs, container or engine.
    pub kind: &'static str,
    pub id: Option<String>,
    /// The rootfs path the runtime would get (and the overlay would list).
    pub rootfs: PathBuf,
    /// Where its files are read from.
    pub view: View,
    /// All labels found, not only `io.balena.image.*`.
    pub labels: BTreeMap<String, String>,
    pub label_source: String,
}

pub fn resolve(target: &OsStr, state_root: &Path, docker_root: &Path) -> Result<Target> {
    let path = Path::new(target);
    if path.is_dir() {
        let dir = path
            .canonicalize()
            .ctx(|| format!("cannot resolve {}", path.display()))?;
        return if dir.join("config.json").exists() {
            bundle(&dir, docker_root)
        } else {
            Ok(Target {
                kind: ROOTFS,
                id: None,
                rootfs: dir.clone(),
                view: View { layers: vec![dir] },
                labels: BTreeMap::new(),
                label_source: "none (a bare rootfs has no labels; pass --label)".to_string(),
            })
        };
    }
    if let Some(id) = target.to_str().filter(|t| state::validate_id(t).is_ok()) {
        if let Some(t) = runtime_container(id, state_root)? {
            return Ok(t);
        }
        if let Some(t) = engine_container(id, docker_root)? {
            return Ok(t);
        }
    }
    Err(Error::usage(format!(
        "\"{}\" is not a directory, a container in {} or an engine container in {}",
        path.display(),
        state_root.display(),
        docker_root.join("containers").display()
    )))
}

fn bundle(dir: &Path, docker_root: &Path) -> Result<Target> {
    let spec = spec::load(dir)?;
    let rootfs = spec::rootfs(dir, &spec)?;
    let mut all = spec.annotations.clone().unwrap_or_default();
    let mut source = "annotations".to_string();
    // Docker keeps image labels only in its own record; containerd names
    // the bundle directory after the container.
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if labels::extension_labels(&all).is_empty() && state::validate_id(&name).is_ok() {
        if let Some(engine) = labels::from_engine(docker_root, &name)? {
            all.extend(engine);
            source = record_path(docker_root, &name).display().to_string();
        }
    }
    Ok(Target {
        kind: BUNDLE,
        id: None,
        rootfs: rootfs.clone(),
        view: View {
            layers: vec![rootfs],
        },
        labels: all,
        label_source: source,
    })
}

fn record_path(docker_root: &Path, id: &str) -> PathBuf {
    docker_root
        .join("containers")
        .join(id)
        .join("config.v2.json")
}

fn runtime_container(id: &str, state_root: &Path) -> Result<Option<Target>> {
    if fs::symlink_metadata(state_root).is_err() {
        return Ok(None);
    }
    let root = Root::open(state_root, false)?;
    let Opened::Found(c) = root.open_container(id, Lock::None)? else {
        return Ok(None);
    };
    let Some(rec) = c.read()? else {
        return Ok(None);
    };
    let rootfs = PathBuf::from(&rec.rootfs);
    Ok(Some(Target {
        kind: CONTAINER,
        id: Some(rec.id),
        rootfs: rootfs.clone(),
        view: View {
            layers: vec![rootfs],
        },
        labels: rec.labels,
        label_source: format!("runtime state ({})", rec.label_source),
    }))
}

/// An engine container by full ID or unique ID prefix.
fn engine_container(id: &str, docker_root: &Path) -> Result<Option<Target>> {
    let containers = docker_root.join("containers");
    let full = if containers.join(id).is_dir() {
        id.to_string()
    } else {
        let Ok(entries) = fs::read_dir(&containers) else {
            return Ok(None);
        };
        let mut found: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with(id))
            .collect();
        match found.len() {
            0 => return Ok(None),
            1 => found.remove(0),
            n => {
                return Err(Error::usage(format!(
                    "\"{id}\" matches {n} engine containers in {}; give more of the ID",
                    containers.display()
                )))
            }
        }
    };
    let Some(all) = labels::from_engine(docker_root, &full)? else {
        return Ok(None);
    };
    let (rootfs, layers) = engine_layers(docker_root, &full)?;
    Ok(Some(Target {
        kind: ENGINE,
        id: Some(full.clone()),
        rootfs,
        view: View { layers },
        labels: all,
        label_source: record_path(docker_root, &full).display().to_string(),
    }))
}

/// The container's overlay2 directories: `merged` when it is mounted, else
/// its own `diff` over the image layers its `lower` file lists. Returns the
/// `merged` path (what the runtime's rootfs would be) and the layers.
pub fn engine_layers(docker_root: &Path, id: &str) -> Result<(PathBuf, Vec<PathBuf>)> {
    let mount_id_path = docker_root
        .join("image/overlay2/layerdb/mounts")
        .join(id)
        .join("mount-id");
    let mount_id = crate::json::read_text(&mount_id_path, 4096, false)
        .map_err(|e| e.context(format!("engine container \"{id}\" has no overlay2 layer")))?
        .trim()
        .to_string();
    if mount_id.is_empty() || mount_id.contains('/') || mount_id.starts_with('.') {
        return Err(Error::new(format!(
            "{} holds \"{mount_id}\", not a layer name",
            mount_id_path.display()
        )));
    }
    let store = docker_root.join("overlay2");
    let layer = store.join(&mount_id);
    let merged = layer.join("merged");
    let layer_dev = fs::metadata(&layer)
        .ctx(|| format!("layer of engine container \"{id}\": {}", layer.display()))?
        .dev();
    if fs::metadata(&merged).is_ok_and(|m| m.is_dir() && m.dev() != layer_dev) {
        return Ok((merged.clone(), vec![merged]));
    }
    let mut layers = vec![layer.join("diff")];
    let lower_path = layer.join("lower");
    if let Ok(lower) = crate::json::read_text(&lower_path, 1 << 20, false) {
        let real_store = store.canonicalize().unwrap_or_else(|_| store.clone());
        for short in lower.trim().split(':').filter(|s| !s.is_empty()) {
            let link = store.join(short);
            let real = link
                .canonicalize()
                .ctx(|| format!("lower layer {} of {}", link.display(), lower_path.display()))?;
            if short.contains("..") || !real.starts_with(&real_store) {
                return Err(Error::new(format!(
                    "lower layer \"{short}\" in {} leaves {}",
                    lower_path.display(),
                    store.display()
                )));
            }
            layers.push(real);
        }
    }
    Ok((merged, layers))
}
