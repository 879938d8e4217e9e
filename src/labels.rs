//! Extension labels (`io.balena.image.*`): where they come from, what makes
//! them valid, and how they become hook environment variables.

use std::collections::BTreeMap;
use std::path::Path;

use miniserde::Deserialize;

use crate::error::{Error, Result};

pub type Labels = BTreeMap<String, String>;

pub const PREFIX: &str = "io.balena.image.";
pub const CLASS: &str = "io.balena.image.class";
pub const REQUIRED_CLASS: &str = "overlay";
pub const REQUIRES_REBOOT: &str = "io.balena.image.requires-reboot";
pub const KERNEL_VERSION: &str = "io.balena.image.kernel-version";
pub const KERNEL_ABI_ID: &str = "io.balena.image.kernel-abi-id";
pub const OS_VERSION: &str = "io.balena.image.os-version";
/// Where the engine keeps the image: `data` is the data partition.
pub const STORE: &str = "io.balena.image.store";
/// A kernel-override extension; the value is its priority.
pub const OVERRIDE: &str = "io.balena.image.override";
/// Read by balenaOS updates; note the `io.balena.update.` prefix, not
/// [`PREFIX`]: it is no extension label and never reaches hooks.
pub const UPDATE_REQUIRES_REBOOT: &str = "io.balena.update.requires-reboot";
/// The older mechanism: such images are overlaid at boot by the OS itself.
pub const LEGACY_HOST_EXTENSION: &str = "io.balena.features.host-extension";

/// Where Docker and balena-engine keep their state by default.
pub const DEFAULT_DOCKER_ROOT: &str = "/var/lib/docker";

/// The engine's container records are small; cap what is read.
const MAX_RECORD_BYTES: u64 = 8 << 20;

/// The `io.balena.image.*` entries of a label or annotation map.
pub fn extension_labels(all: &BTreeMap<String, String>) -> Labels {
    // Inserted one by one: collecting into a map sorts first, and pulls a
    // whole stable sort into the binary.
    let mut out = Labels::new();
    for (k, v) in all {
        if k.starts_with(PREFIX) {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

#[derive(Deserialize)]
struct EngineRecord {
    #[serde(rename = "Config")]
    config: Option<EngineConfig>,
}

#[derive(Deserialize)]
struct EngineConfig {
    #[serde(rename = "Labels")]
    labels: Option<BTreeMap<String, String>>,
}

/// Labels from Docker's / balena-engine's own record of the container,
/// `<docker_root>/containers/<id>/config.v2.json`: these engines do not copy
/// image labels into the OCI annotations. None when there is no record.
pub fn from_engine(docker_root: &Path, id: &str) -> Result<Option<BTreeMap<String, String>>> {
    let path = docker_root
        .join("containers")
        .join(id)
        .join("config.v2.json");
    if !path.exists() {
        return Ok(None);
    }
    let record: EngineRecord = crate::json::read(&path, MAX_RECORD_BYTES, "a container record")?;
    Ok(Some(
        record.config.and_then(|c| c.labels).unwrap_or_default(),
    ))
}

/// Checks what the runtime relies on: the class, and the shape of the
/// labels it knows. Values become environment variables, so control
/// characters (newlines, NUL) are refused.
pub fn validate(labels: &Labels) -> Result<()> {
    match labels.get(CLASS).map(String::as_str) {
        Some(REQUIRED_CLASS) => {}
        Some(other) => {
            return Err(Error::new(format!(
            "label {CLASS} is \"{other}\", expected \"{REQUIRED_CLASS}\": not a hostapp extension"
        )))
        }
        None => {
            return Err(Error::new(format!(
                "missing label {CLASS}={REQUIRED_CLASS}: not a hostapp extension"
            )))
        }
    }
    for (key, value) in labels {
        if let Some(c) = value.chars().find(|c| c.is_control()) {
            return Err(Error::new(format!(
                "label {key} has a control character (U+{:04X}) in its value",
                c as u32
            )));
        }
        if key.chars().any(|c| c.is_control() || c == '=') {
            return Err(Error::new(format!(
                "label name \"{key}\" has a control character or '='"
            )));
        }
    }
    if let Some(v) = labels.get(KERNEL_VERSION) {
        if !is_kernel_version(v) {
            return Err(Error::new(format!(
                "label {KERNEL_VERSION} is \"{v}\", expected MAJOR.MINOR.PATCH (e.g. 5.15.92)"
            )));
        }
    }
    if let Some(v) = labels.get(REQUIRES_REBOOT) {
        if parse_bool(v).is_none() {
            return Err(Error::new(format!(
                "label {REQUIRES_REBOOT} is \"{v}\", expected true or false"
            )));
        }
    }
    Ok(())
}

/// `M.m.p`, three decimal numbers.
pub fn is_kernel_version(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 6 && p.bytes().all(|b| b.is_ascii_digit()))
}

pub fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

/// `io.balena.image.kernel-abi-id` → `EXTENSION_IMAGE_KERNEL_ABI_ID`.
pub fn env_name(label: &str) -> String {
    let name = label.strip_prefix(PREFIX).unwrap_or(label);
    format!("EXTENSION_IMAGE_{}", env_word(name))
}

/// A mount destination as an environment name:
/// `/data/my-vol` → `EXTENSION_VOLUME_DATA_MY_VOL`.
pub fn volume_env_name(destination: &str) -> String {
    format!(
        "EXTENSION_VOLUME_{}",
        env_word(destination.trim_matches('/'))
    )
}

/// Upper case; anything but ASCII letters and digits becomes `_`.
fn env_word(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn requires_the_overlay_class_and_names_what_was_found() {
        assert!(validate(&labels(&[(CLASS, "overlay")])).is_ok());
        let e = validate(&labels(&[(CLASS, "volume")])).err().unwrap();
        assert!(
            e.msg.contains("io.balena.image.class is \"volume\""),
            "{}",
            e.msg
        );
        let e = validate(&labels(&[])).err().unwrap();
        assert!(
            e.msg
                .contains("missing label io.balena.image.class=overlay"),
            "{}",
            e.msg
        );
    }

    #[test]
    fn checks_kernel_version_and_reboot_flag_shapes() {
        let ok = labels(&[
            (CLASS, "overlay"),
            (KERNEL_VERSION, "5.15.92"),
            (REQUIRES_REBOOT, "true"),
        ]);
        assert!(validate(&ok).is_ok());
        assert!(validate(&labels(&[(CLASS, "overlay"), (KERNEL_VERSION, "5.15")])).is_err());
        assert!(validate(&labels(&[(CLASS, "overlay"), (KERNEL_VERSION, "5.15.x")])).is_err());
        assert!(validate(&labels(&[(CLASS, "overlay"), (REQUIRES_REBOOT, "maybe")])).is_err());
    }

    #[test]
    fn refuses_control_characters_but_keeps_equals_signs() {
        assert!(validate(&labels(&[
            (CLASS, "overlay"),
            ("io.balena.image.x", "a\nb")
        ]))
        .is_err());
        assert!(validate(&labels(&[(CLASS, "overlay"), ("io.balena.image.x", "a=b")])).is_ok());
    }

    #[test]
    fn converts_labels_and_mounts_to_environment_names() {
        assert_eq!(
            env_name("io.balena.image.kernel-abi-id"),
            "EXTENSION_IMAGE_KERNEL_ABI_ID"
        );
        assert_eq!(
            env_name("io.balena.image.os.version"),
            "EXTENSION_IMAGE_OS_VERSION"
        );
        assert_eq!(
            volume_env_name("/data/my-vol"),
            "EXTENSION_VOLUME_DATA_MY_VOL"
        );
    }

    #[test]
    fn keeps_only_extension_labels() {
        let all = labels(&[
            (CLASS, "overlay"),
            ("com.docker.x", "1"),
            (LEGACY_HOST_EXTENSION, "1"),
        ]);
        let ext = extension_labels(&all);
        assert_eq!(ext.len(), 1);
    }
}
