//! The parts of an OCI bundle's `config.json` an extension needs. Unknown
//! fields are ignored; the ones read here must have the right types.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use miniserde::Deserialize;

use crate::error::{Error, Result};

/// config.json files written by engines are a few kilobytes; anything past
/// this is not a bundle we should hold in memory.
pub const MAX_CONFIG_BYTES: u64 = 4 << 20;

#[derive(Deserialize)]
pub struct Spec {
    #[serde(rename = "ociVersion")]
    pub oci_version: Option<String>,
    pub root: Option<Root>,
    pub annotations: Option<BTreeMap<String, String>>,
    pub mounts: Option<Vec<Mount>>,
    /// OCI lifecycle hooks; only looked at to say they are not run.
    pub hooks: Option<crate::json::Any>,
}

#[derive(Deserialize)]
pub struct Root {
    pub path: String,
}

#[derive(Deserialize)]
pub struct Mount {
    pub destination: String,
    pub source: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub options: Option<Vec<String>>,
}

impl Mount {
    /// A bind mount: a host path made visible in the container, which is
    /// what a volume is. (proc, sysfs, tmpfs and the like are not.)
    pub fn is_bind(&self) -> bool {
        self.kind.as_deref() == Some("bind")
            || self
                .options
                .iter()
                .flatten()
                .any(|o| o == "bind" || o == "rbind")
    }
}

/// Reads `<bundle>/config.json`.
pub fn load(bundle: &Path) -> Result<Spec> {
    let path = bundle.join("config.json");
    let spec: Spec = crate::json::read(&path, MAX_CONFIG_BYTES, "an OCI runtime spec")?;
    check_version(spec.oci_version.as_deref().unwrap_or(""))
        .map_err(|e| e.context(path.display()))?;
    Ok(spec)
}

/// Accepts any 1.x semantic version (`1.0.2-dev`, `1.1.0+build`).
pub fn check_version(v: &str) -> Result<()> {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    let numeric = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if parts.len() == 3 && parts[0] == "1" && parts.iter().all(numeric) {
        Ok(())
    } else if v.is_empty() {
        Err(Error::new("ociVersion is missing"))
    } else {
        Err(Error::new(format!(
            "unsupported ociVersion \"{v}\" (expected 1.x.y)"
        )))
    }
}

/// The rootfs as an absolute path. A relative `root.path` is resolved
/// against the bundle and, symlinks included, must stay inside it.
pub fn rootfs(bundle: &Path, spec: &Spec) -> Result<PathBuf> {
    let raw = spec
        .root
        .as_ref()
        .map(|r| r.path.as_str())
        .unwrap_or("rootfs");
    if raw.is_empty() {
        return Err(Error::new("root.path in config.json is empty"));
    }
    let path = if Path::new(raw).is_absolute() {
        PathBuf::from(raw)
    } else {
        if Path::new(raw)
            .components()
            .any(|c| c == Component::ParentDir)
        {
            return Err(Error::new(format!(
                "root.path \"{raw}\" leaves the bundle {}",
                bundle.display()
            )));
        }
        let joined = bundle.join(raw);
        let real = joined
            .canonicalize()
            .map_err(|e| Error::io(format!("rootfs {}", joined.display()), &e))?;
        if !real.starts_with(bundle) {
            return Err(Error::new(format!(
                "root.path \"{raw}\" leaves the bundle {} (it resolves to {})",
                bundle.display(),
                real.display()
            )));
        }
        real
    };
    match std::fs::metadata(&path) {
        Ok(m) if m.is_dir() => Ok(path),
        Ok(_) => Err(Error::new(format!(
            "rootfs {} is not a directory",
            path.display()
        ))),
        Err(e) => Err(Error::io(format!("rootfs {}", path.display()), &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_1_x_semantic_versions() {
        for ok in ["1.0.0", "1.0.2-dev", "1.1.0+build.5", "1.2.10"] {
            assert!(check_version(ok).is_ok(), "{ok}");
        }
        for bad in ["", "2.0.0", "1.0", "1.x.0", "v1.0.0", "1.0.0.0", "0.9.0"] {
            assert!(check_version(bad).is_err(), "{bad}");
        }
    }
}
