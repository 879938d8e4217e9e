#![allow(dead_code)]

//! The fuzz targets' bodies, shared by the libFuzzer binaries in
//! `fuzz_targets/` (`make fuzz`) and by the deterministic replay in
//! `tests/fuzz_replay.rs` (part of `cargo test`, so of `make test`).
//!
//! Each takes arbitrary bytes, must never panic, and checks what the
//! runtime relies on when the input is accepted.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;

use balena_extension_runtime::applets::runtime::{self, Command, Parsed};
use balena_extension_runtime::boot::{layout, record::Record};
use balena_extension_runtime::engine::{self, http};
use balena_extension_runtime::{hooks, json, labels, signals, spec, state};

/// The names of the targets, as directories under `fuzz/corpus/`.
pub type Target = fn(&[u8]);

pub const TARGETS: &[(&str, Target)] = &[
    ("config_json", config_json),
    ("state_json", state_json),
    ("labels_env", labels_env),
    ("signal", signal),
    ("runtime_args", runtime_args),
    ("engine_response", engine_response),
    ("boot_record", boot_record),
];

/// config.json as `create` reads it: text (the reader refuses non-UTF-8
/// before parsing), then the spec, its version, its labels and its rootfs.
pub fn config_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/nonexistent-bundle/config.json");
    let Ok(spec) = json::parse::<spec::Spec>(text, path, "an OCI runtime spec") else {
        return;
    };
    let _ = spec::check_version(spec.oci_version.as_deref().unwrap_or(""));
    if let Some(ann) = &spec.annotations {
        let found = labels::extension_labels(ann);
        assert!(found.keys().all(|k| k.starts_with(labels::PREFIX)));
        let _ = labels::validate(&found);
    }
    // In a bundle that does not exist, a relative root.path cannot
    // resolve; an absolute one (OCI allows it) resolves to an absolute path.
    let relative = spec
        .root
        .as_ref()
        .map_or(true, |r| !r.path.starts_with('/'));
    if let Ok(p) = spec::rootfs(Path::new("/nonexistent-bundle"), &spec) {
        assert!(!relative && p.is_absolute(), "rootfs {}", p.display());
    }
}

/// state.json as every command after `create` reads it. An accepted record
/// prints back to JSON that parses to the same record.
pub fn state_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/nonexistent-root/id/state.json");
    let Ok(rec) = json::parse::<state::Record>(text, path, "a container state") else {
        return;
    };
    let once = json::to_string(&rec);
    let again: state::Record =
        json::parse(&once, path, "a container state").expect("a written record reads back");
    assert_eq!(
        json::to_string(&again),
        once,
        "the record survives a round trip"
    );
    let pretty = json::pretty(&once);
    assert!(
        miniserde::json::from_str::<miniserde::json::Value>(&pretty).is_ok(),
        "pretty output is JSON: {pretty}"
    );
    let _ = state::validate_id(&rec.id);
}

/// Labels and mounts as they become the hooks' environment: labels that
/// pass validation give `NAME=value` entries with a clean name and no
/// control character; env names are always `[A-Z0-9_]`.
pub fn labels_env(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\n');
    let mut labels = BTreeMap::new();
    labels.insert(labels::CLASS.to_string(), "overlay".to_string());
    let mut mounts = Vec::new();
    while let (Some(k), Some(v)) = (parts.next(), parts.next()) {
        let env = labels::env_name(k);
        assert!(env.starts_with("EXTENSION_IMAGE_"));
        assert!(env
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'));
        let vol = labels::volume_env_name(k);
        assert!(vol
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'));
        if k.starts_with('/') {
            mounts.push(state::MountRecord {
                destination: k.to_string(),
                source: v.to_string(),
            });
        } else {
            labels.insert(format!("{}{k}", labels::PREFIX), v.to_string());
        }
    }
    if labels::validate(&labels).is_err() {
        return;
    }
    let ctx = hooks::Context {
        id: "fuzz",
        rootfs: Path::new("/nonexistent-rootfs"),
        labels: &labels,
        mounts: &mounts,
    };
    let Ok(env) = hooks::environment(&ctx) else {
        return;
    };
    for entry in &env {
        let entry = entry.to_str().expect("environment entries are UTF-8");
        let (name, value) = entry.split_once('=').expect("NAME=value");
        assert!(!name.is_empty() && !name.contains(['=', '\0']), "{entry:?}");
        if name.starts_with("EXTENSION_IMAGE_") {
            assert!(!value.chars().any(char::is_control), "{entry:?}");
        }
    }
}

/// Signals as `kill` accepts them: an accepted signal is a real one, and
/// its name, when it has one, parses back to it.
pub fn signal(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(sig) = signals::parse(text) else {
        return;
    };
    assert!(sig > 0 && sig <= libc::SIGRTMAX(), "{text:?} gave {sig}");
    // Signals glibc keeps for itself (32, 33) have a number but no name.
    let name = signals::name(sig);
    if name.starts_with("SIG") {
        assert_eq!(signals::parse(&name).ok(), Some(sig), "{text:?} -> {name}");
    }
}

/// The runtime applet's command line, split on NUL bytes, parsed without
/// running anything.
pub fn runtime_args(data: &[u8]) {
    let args: Vec<OsString> = data
        .split(|&b| b == 0)
        .map(|a| OsString::from_vec(a.to_vec()))
        .collect();
    let Ok(Parsed::Run(inv)) = runtime::parse(args) else {
        return;
    };
    if let Ok(Command::Kill(_, sig)) = inv.command {
        assert!(sig > 0 && sig <= libc::SIGRTMAX());
    }
}

/// An engine's answer as the manager reads it: the HTTP framing, then the
/// body as each call's JSON, and as an error answer. A body never exceeds
/// the cap, and reading the same bytes one at a time from a stream (as
/// from the socket) gives the same result as parsing them whole.
pub fn engine_response(data: &[u8]) {
    let whole = http::parse_response(data);
    let mut trickle = Trickle(data);
    let streamed = http::read_response(&mut trickle, std::time::Duration::ZERO);
    let resp = match (whole, streamed) {
        (Ok(a), Ok(b)) => {
            assert_eq!(
                (a.status, &a.reason, &a.body),
                (b.status, &b.reason, &b.body)
            );
            a
        }
        (Err(a), Err(b)) => {
            assert_eq!(a.msg, b.msg);
            return;
        }
        (a, b) => panic!("parsed whole: {}, streamed: {}", a.is_ok(), b.is_ok()),
    };
    assert!(resp.body.len() <= http::MAX_RESPONSE);
    assert!((100..600).contains(&resp.status));
    let e = engine::answer_error("GET /v1.40/x", &resp);
    assert!(e.msg.starts_with("engine: GET /v1.40/x: "));
    let body = &resp.body;
    if let Ok(list) = engine::parse_containers(body) {
        let _ = list
            .iter()
            .map(|c| c.id.len() + c.state.len())
            .sum::<usize>();
    }
    if let Ok(c) = engine::parse_container(body) {
        let _ = c.mounts.iter().map(|m| m.name.len()).sum::<usize>() + c.labels.len();
    }
    let _ = engine::parse_images(body);
    let _ = engine::parse_volumes(body);
}

/// One byte per read.
struct Trickle<'a>(&'a [u8]);

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match (self.0.split_first(), buf.first_mut()) {
            (Some((&b, rest)), Some(dst)) => {
                *dst = b;
                self.0 = rest;
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

/// What `extension-mount` reads at boot: the engine's `config.v2.json`
/// (before the first NUL byte), then overlay2's layer metadata (after it:
/// `lower` entries separated by `:`, each also tried as an `l/` link's
/// text). Whatever is accepted can never name a path outside the store.
pub fn boot_record(data: &[u8]) {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    if let Ok(text) = std::str::from_utf8(&data[..split]) {
        let path = Path::new("/nonexistent-root/containers/id/config.v2.json");
        if let Ok(r) = Record::parse(text, path) {
            let raw = r.name.as_deref().unwrap_or("");
            assert!(raw.ends_with(r.name()) && raw.len() - r.name().len() <= 1);
            if let Some(why) = r.not_installed() {
                assert!(!why.is_empty() && !why.contains('\n'), "{why}");
            }
            let _ = (r.image(), r.label(labels::CLASS));
        }
    }
    let Some(meta) = data.get(split + 1..) else {
        return;
    };
    let Ok(text) = std::str::from_utf8(meta) else {
        return;
    };
    for entry in text.trim().split(':') {
        for name in [layout::lower_entry(entry), layout::link_dir(entry)]
            .into_iter()
            .flatten()
        {
            assert!(
                !name.is_empty() && !name.contains('/') && !name.starts_with('.'),
                "{entry} gave {name}"
            );
        }
    }
    let q = layout::quoted(text);
    assert!(!q.contains('\n') && q.chars().count() <= 61);
}
