//! The labels: each one checked for form, then the extension's claims
//! (kernel version, kernel ABI, OS version) checked against the host.

use std::collections::BTreeMap;

use super::host::abi_digest;
use super::{
    Check, Findings, Host, LabelCheck, COMPATIBLE, INCOMPATIBLE, INVALID, LEGACY, MISSING,
    NO_CLAIM, OK, PASSED, UNKNOWN,
};
use crate::glob;
use crate::labels::{self, Labels};

/// The part of a label name after `io.balena.image.`.
pub(super) fn short_label(name: &str) -> &str {
    name.strip_prefix(labels::PREFIX).unwrap_or(name)
}

pub(super) fn check_labels(all: &BTreeMap<String, String>, f: &mut Findings) -> Vec<LabelCheck> {
    let mut out = Vec::new();
    let mut row = |name: &str, value: Option<&str>, status: &str, note: String| {
        out.push(LabelCheck {
            name: name.to_string(),
            value: value.map(str::to_string),
            status: status.to_string(),
            note,
        })
    };
    let legacy = all.contains_key(labels::LEGACY_HOST_EXTENSION);
    if !all.contains_key(labels::CLASS) {
        let mut msg = format!(
            "missing label {}={}: not a hostapp extension",
            labels::CLASS,
            labels::REQUIRED_CLASS
        );
        if legacy {
            msg += &format!(
                " (it is a legacy host extension, {}: balenaOS overlays those at boot)",
                labels::LEGACY_HOST_EXTENSION
            );
        }
        row(labels::CLASS, None, MISSING, msg.clone());
        f.invalid.push(msg);
    }
    for (key, value) in all {
        let is_ext = key.starts_with(labels::PREFIX);
        if !is_ext && key != labels::LEGACY_HOST_EXTENSION {
            continue;
        }
        let bad = |note: String, f: &mut Findings| {
            f.invalid.push(format!("label {key}: {note}"));
            note
        };
        let (status, note) = if let Some(c) = value.chars().find(|c| c.is_control()) {
            let note = format!("control character U+{:04X} in the value", c as u32);
            (INVALID, bad(note, f))
        } else if key.chars().any(|c| c.is_control() || c == '=') {
            (
                INVALID,
                bad("control character or '=' in the name".into(), f),
            )
        } else {
            match key.as_str() {
                labels::CLASS if value == labels::REQUIRED_CLASS => {
                    (OK, "a hostapp extension".to_string())
                }
                labels::CLASS => {
                    let note = format!(
                        "is \"{value}\", expected \"{}\": not a hostapp extension",
                        labels::REQUIRED_CLASS
                    );
                    (INVALID, bad(note, f))
                }
                labels::KERNEL_VERSION if labels::is_kernel_version(value) => {
                    (OK, "checked against the running kernel".to_string())
                }
                labels::KERNEL_VERSION => {
                    let note = format!("is \"{value}\", expected MAJOR.MINOR.PATCH (e.g. 5.15.92)");
                    (INVALID, bad(note, f))
                }
                labels::REQUIRES_REBOOT => match labels::parse_bool(value) {
                    Some(true) => (OK, "the host must reboot to apply it".to_string()),
                    Some(false) => (OK, "applied without a reboot".to_string()),
                    None => {
                        let note = format!("is \"{value}\", expected true or false");
                        (INVALID, bad(note, f))
                    }
                },
                labels::KERNEL_ABI_ID => (
                    OK,
                    "checked against the sha256 of Module.symvers".to_string(),
                ),
                labels::OS_VERSION => (OK, "checked against VERSION_ID".to_string()),
                labels::LEGACY_HOST_EXTENSION => {
                    let note = "legacy: balenaOS overlays such images at boot; \
                                this runtime does not handle them"
                        .to_string();
                    if all.contains_key(labels::CLASS) {
                        f.warnings.push(format!(
                            "label {key} is set too: balenaOS would also overlay this image at boot"
                        ));
                    }
                    (LEGACY, note)
                }
                _ => (
                    PASSED,
                    format!("passed to hooks as {}", labels::env_name(key)),
                ),
            }
        };
        row(key, Some(value), status, note);
    }
    // The runtime's own check must agree: whatever `create` refuses is
    // invalid here too.
    if f.invalid.is_empty() {
        if let Err(e) = labels::validate(&labels::extension_labels(all)) {
            f.invalid.push(e.msg);
        }
    }
    out
}

pub(super) fn check_compat(ext: &Labels, host: &Host, f: &mut Findings) -> Vec<Check> {
    let mut out = Vec::new();
    let mut check = |label: &str,
                     host_value: Option<String>,
                     host_missing: &str,
                     test: &dyn Fn(&str, &str) -> Option<bool>,
                     f: &mut Findings| {
        let claim = ext.get(label).cloned();
        let status = match (&claim, &host_value) {
            (None, _) => NO_CLAIM,
            (Some(c), Some(h)) => match test(c, h) {
                Some(true) => COMPATIBLE,
                Some(false) => {
                    f.incompatible.push(format!(
                        "label {label} is \"{c}\" but this host has \"{h}\""
                    ));
                    INCOMPATIBLE
                }
                // The label itself is malformed: reported with the labels.
                None => INVALID,
            },
            (Some(_), None) => {
                f.warnings
                    .push(format!("cannot check {label}: {host_missing}"));
                UNKNOWN
            }
        };
        out.push(Check {
            name: short_label(label).to_string(),
            label: label.to_string(),
            status: status.to_string(),
            extension: claim,
            host: host_value,
        });
    };
    let release_file = format!(
        "{}/proc/sys/kernel/osrelease",
        host.root.trim_end_matches('/')
    );
    check(
        labels::KERNEL_VERSION,
        host.kernel_version.clone(),
        &format!("cannot read the kernel release from {release_file}"),
        &|c, h| labels::is_kernel_version(c).then(|| c == h),
        f,
    );
    let symvers_missing = match &host.kernel_release {
        Some(r) => format!(
            "no readable {}/lib/modules/{r}/Module.symvers",
            host.root.trim_end_matches('/')
        ),
        None => format!("cannot read the kernel release from {release_file}"),
    };
    check(
        labels::KERNEL_ABI_ID,
        host.module_symvers_sha256
            .as_ref()
            .map(|s| format!("sha256:{s}")),
        &symvers_missing,
        &|c, h| Some(abi_digest(c) == abi_digest(h)),
        f,
    );
    check(
        labels::OS_VERSION,
        host.os_version.clone(),
        "no VERSION_ID in the host's /etc/os-release",
        &|c, h| Some(glob::matches_any(c, h)),
        f,
    );
    if host.nohostext {
        f.warnings.push(
            "balena.nohostext is on the kernel command line: balenaOS will not overlay \
             extensions at boot"
                .to_string(),
        );
    }
    out
}
