//! The labels: each one checked for form, then the extension's claims
//! (kernel version, kernel ABI, OS version) against the host, as
//! [`crate::claims`] decides them for the manager too.

use std::collections::BTreeMap;

use super::{
    Check, Findings, LabelCheck, COMPATIBLE, INCOMPATIBLE, INVALID, LEGACY, MISSING, NO_CLAIM, OK,
    PASSED, UNKNOWN,
};
use crate::claims::{self, Verdict};
use crate::labels::{self, Labels};

/// The part of a label name after `io.balena.image.`.
pub(super) fn short_label(name: &str) -> &str {
    name.strip_prefix(labels::PREFIX).unwrap_or(name)
}

/// The note for a value of the wrong form.
fn expected(value: &str, what: &str) -> String {
    format!("is \"{value}\", expected {what}")
}

/// A store name: letters, digits, `-`, `_`, `.`.
fn is_word(v: &str) -> bool {
    !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
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
        let known = key.starts_with(labels::PREFIX)
            || key == labels::LEGACY_HOST_EXTENSION
            || key == labels::UPDATE_REQUIRES_REBOOT;
        if !known {
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
                    let note = expected(value, "MAJOR.MINOR.PATCH (e.g. 5.15.92)");
                    (INVALID, bad(note, f))
                }
                labels::REQUIRES_REBOOT => match labels::parse_bool(value) {
                    Some(true) => (OK, "the host must reboot to apply it".to_string()),
                    Some(false) => (OK, "applied without a reboot".to_string()),
                    None => {
                        let note = expected(value, "true or false");
                        (INVALID, bad(note, f))
                    }
                },
                labels::KERNEL_ABI_ID if claims::well_formed(key, value) => (
                    OK,
                    "checked against the running kernel's abi (balena_kernel_abi= \
                     on /proc/cmdline, else the sha256 of Module.symvers)"
                        .to_string(),
                ),
                labels::KERNEL_ABI_ID => {
                    let note = expected(value, "a sha256: 64 hex digits, optionally after sha256:");
                    (INVALID, bad(note, f))
                }
                labels::OS_VERSION if claims::well_formed(key, value) => {
                    (OK, "checked against VERSION_ID".to_string())
                }
                labels::OS_VERSION => {
                    let note = expected(value, "comma-separated globs (e.g. 2.113.*)");
                    (INVALID, bad(note, f))
                }
                labels::UPDATE_REQUIRES_REBOOT => match labels::parse_bool(value) {
                    Some(true) => (
                        OK,
                        "read by balenaOS updates: the host must reboot to apply it".to_string(),
                    ),
                    Some(false) => (
                        OK,
                        "read by balenaOS updates: applied without a reboot".to_string(),
                    ),
                    None => {
                        let note = expected(value, "true or false");
                        (INVALID, bad(note, f))
                    }
                },
                labels::STORE if is_word(value) => {
                    let note = if value == "data" {
                        "the engine keeps the image on the data partition".to_string()
                    } else {
                        format!("the engine keeps the image in its \"{value}\" store")
                    };
                    (OK, note)
                }
                labels::STORE => {
                    let note = expected(value, "a store name (e.g. data)");
                    (INVALID, bad(note, f))
                }
                labels::OVERRIDE => match value.parse::<u32>() {
                    Ok(n) if value.bytes().all(|b| b.is_ascii_digit()) => (
                        OK,
                        format!(
                            "a kernel-override extension, priority {n}: its create hook \
                             copies a deactivate script into its /boot volume, which \
                             manager cleanup runs before removing it"
                        ),
                    ),
                    _ => {
                        // All digits and still no u32: say it is too large,
                        // not that it is no integer.
                        let what = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit())
                        {
                            "an override priority of at most 4294967295"
                        } else {
                            "a non-negative integer (the override priority)"
                        };
                        (INVALID, bad(expected(value, what), f))
                    }
                },
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

pub(super) fn check_compat(ext: &Labels, host: &claims::Host, f: &mut Findings) -> Vec<Check> {
    let decided = claims::check(ext, host);
    let abi = host.kernel_abi.as_ref().map(|a| {
        if a.is_empty() {
            a.clone()
        } else {
            format!("sha256:{a}")
        }
    });
    let mut out = Vec::new();
    for (label, host_value) in [
        (labels::KERNEL_VERSION, host.kernel_version.clone()),
        (labels::KERNEL_ABI_ID, abi),
        (labels::OS_VERSION, host.os_version.clone()),
    ] {
        let claim = decided.iter().find(|c| c.label == label);
        let status = match claim {
            None => NO_CLAIM,
            Some(c) => match c.verdict {
                Verdict::Holds => COMPATIBLE,
                Verdict::Fails => {
                    let mut msg = format!(
                        "label {label} is \"{}\" but this host has \"{}\"",
                        c.value,
                        host_value.as_deref().unwrap_or_default()
                    );
                    if label == labels::KERNEL_ABI_ID {
                        if let Some(source) = &host.kernel_abi_source {
                            msg += &format!(" ({source})");
                        }
                    }
                    f.incompatible.push(msg);
                    INCOMPATIBLE
                }
                // The label itself is malformed: reported with the labels.
                Verdict::Doubt if !claims::well_formed(label, &c.value) => INVALID,
                Verdict::Doubt => {
                    f.warnings.push(format!("cannot check {label}: {}", c.note));
                    UNKNOWN
                }
            },
        };
        out.push(Check {
            name: short_label(label).to_string(),
            label: label.to_string(),
            status: status.to_string(),
            extension: claim.map(|c| c.value.clone()),
            host: host_value,
        });
    }
    if host.nohostext {
        f.warnings.push(
            "balena.nohostext is on the kernel command line: balenaOS will not overlay \
             extensions at boot"
                .to_string(),
        );
    }
    out
}
