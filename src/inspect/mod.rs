//! `extension-inspect`: is this a valid extension, will it work on this
//! host, and what will it change? Everything is gathered into one
//! [`Report`], which is printed as an aligned text report or as JSON.
//!
//! Nothing here changes the host or the extension: it reads labels, files
//! and a few host facts (`/proc`, `/etc/os-release`, `Module.symvers`).

pub mod files;
pub mod glob;
pub mod render;
pub mod sha256;
pub mod target;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::hooks;
use crate::json::{array, Obj};
use crate::labels::{self, Labels};
use crate::state::{Lock, Opened, Root};
use files::{host_lookup, Exec, View};

/// Bumped when a field of the JSON document changes meaning or goes away.
pub const SCHEMA: u32 = 1;

/// Shadowed paths listed one by one; the counts cover all of them.
pub const MAX_SHADOWS: usize = 4096;

pub const OK: &str = "ok";
pub const INVALID: &str = "invalid";
pub const MISSING: &str = "missing";
pub const PASSED: &str = "passed to hooks";
pub const LEGACY: &str = "legacy";
pub const COMPATIBLE: &str = "compatible";
pub const INCOMPATIBLE: &str = "incompatible";
pub const NO_CLAIM: &str = "no claim";
pub const UNKNOWN: &str = "unknown";
pub const ABSENT: &str = "absent";

pub struct Options {
    pub target: String,
    pub host_root: PathBuf,
    pub docker_root: PathBuf,
    pub state_root: PathBuf,
    /// `--label KEY=VALUE`, added to (and overriding) what was found.
    pub labels: Vec<(String, String)>,
}

pub struct Report {
    pub schema: u32,
    pub target: String,
    pub kind: String,
    pub id: Option<String>,
    pub rootfs: String,
    pub layers: Vec<String>,
    pub label_source: String,
    pub valid: bool,
    pub compatible: bool,
    pub labels: Vec<LabelCheck>,
    pub host: Host,
    pub checks: Vec<Check>,
    pub hooks: Vec<HookCheck>,
    pub content: Content,
    pub shadows: Shadows,
    pub overlay: Budget,
    pub problems: Vec<String>,
    pub warnings: Vec<String>,
}

pub struct LabelCheck {
    pub name: String,
    pub value: Option<String>,
    pub status: String,
    pub note: String,
}

pub struct Host {
    pub root: String,
    pub kernel_release: Option<String>,
    pub kernel_version: Option<String>,
    pub module_symvers: Option<String>,
    pub module_symvers_sha256: Option<String>,
    pub os_version: Option<String>,
    pub nohostext: bool,
    pub page_size: u64,
}

pub struct Check {
    pub name: String,
    pub label: String,
    pub status: String,
    pub extension: Option<String>,
    pub host: Option<String>,
}

pub struct HookCheck {
    pub name: String,
    pub path: Option<String>,
    pub status: String,
    pub executable: bool,
    pub interpreter: Option<String>,
    pub interpreter_found: Option<bool>,
}

#[derive(Default)]
pub struct Content {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub other: u64,
    pub whiteouts: u64,
    pub bytes: u64,
}

pub struct Shadows {
    pub count: u64,
    pub dangerous: u64,
    pub truncated: bool,
    pub paths: Vec<Shadow>,
}

pub struct Shadow {
    pub path: String,
    pub kind: String,
    pub host_kind: String,
    pub dangerous: bool,
    pub reason: Option<String>,
}

pub struct Budget {
    pub extensions: u64,
    pub bytes: u64,
    pub page_size: u64,
    pub fits: bool,
    pub more_fit: u64,
    pub lowerdirs: Vec<String>,
}

/// Problems make the exit status 1; warnings do not.
struct Findings {
    invalid: Vec<String>,
    incompatible: Vec<String>,
    warnings: Vec<String>,
}

pub fn inspect(o: &Options) -> Result<Report> {
    let t = target::resolve(&o.target, &o.state_root, &o.docker_root)?;
    let mut all = t.labels.clone();
    let mut label_source = t.label_source.clone();
    if !o.labels.is_empty() {
        for (k, v) in &o.labels {
            all.insert(k.clone(), v.clone());
        }
        label_source = if t.labels.is_empty() {
            "command line".to_string()
        } else {
            format!("{label_source} and the command line")
        };
    }
    let mut f = Findings {
        invalid: Vec::new(),
        incompatible: Vec::new(),
        warnings: Vec::new(),
    };
    let label_checks = check_labels(&all, &mut f);
    let ext = labels::extension_labels(&all);
    let host = host_facts(&o.host_root);
    let checks = check_compat(&ext, &host, &mut f);
    let hooks = check_hooks(&t.view, &o.host_root, &mut f);
    let own = own_path(&o.host_root);
    let (content, shadows) = check_content(&t.view, &o.host_root, own.as_deref(), &mut f);
    let overlay = budget(&o.state_root, &t.rootfs, host.page_size, &mut f);
    let valid = f.invalid.is_empty();
    let compatible = f.incompatible.is_empty();
    let mut problems = f.invalid;
    problems.extend(f.incompatible);
    Ok(Report {
        schema: SCHEMA,
        target: o.target.clone(),
        kind: t.kind.to_string(),
        id: t.id,
        rootfs: t.rootfs.display().to_string(),
        layers: t
            .view
            .layers
            .iter()
            .map(|l| l.display().to_string())
            .collect(),
        label_source,
        valid,
        compatible,
        labels: label_checks,
        host,
        checks,
        hooks,
        content,
        shadows,
        overlay,
        problems,
        warnings: f.warnings,
    })
}

impl Report {
    /// The `--json` document, fields in the order they are declared.
    pub fn json(&self) -> String {
        let h = &self.host;
        let c = &self.content;
        let s = &self.shadows;
        let b = &self.overlay;
        let labels = array(self.labels.iter().map(|l| {
            Obj::default()
                .str("name", &l.name)
                .opt("value", l.value.as_deref())
                .str("status", &l.status)
                .str("note", &l.note)
                .end()
        }));
        let host = Obj::default()
            .str("root", &h.root)
            .opt("kernelRelease", h.kernel_release.as_deref())
            .opt("kernelVersion", h.kernel_version.as_deref())
            .opt("moduleSymvers", h.module_symvers.as_deref())
            .opt("moduleSymversSha256", h.module_symvers_sha256.as_deref())
            .opt("osVersion", h.os_version.as_deref())
            .bool("nohostext", h.nohostext)
            .uint("pageSize", h.page_size)
            .end();
        let checks = array(self.checks.iter().map(|k| {
            Obj::default()
                .str("name", &k.name)
                .str("label", &k.label)
                .str("status", &k.status)
                .opt("extension", k.extension.as_deref())
                .opt("host", k.host.as_deref())
                .end()
        }));
        let hooks = array(self.hooks.iter().map(|k| {
            Obj::default()
                .str("name", &k.name)
                .opt("path", k.path.as_deref())
                .str("status", &k.status)
                .bool("executable", k.executable)
                .opt("interpreter", k.interpreter.as_deref())
                .opt_bool("interpreterFound", k.interpreter_found)
                .end()
        }));
        let content = Obj::default()
            .uint("files", c.files)
            .uint("dirs", c.dirs)
            .uint("symlinks", c.symlinks)
            .uint("other", c.other)
            .uint("whiteouts", c.whiteouts)
            .uint("bytes", c.bytes)
            .end();
        let paths = array(s.paths.iter().map(|p| {
            Obj::default()
                .str("path", &p.path)
                .str("type", &p.kind)
                .str("hostType", &p.host_kind)
                .bool("dangerous", p.dangerous)
                .opt("reason", p.reason.as_deref())
                .end()
        }));
        let shadows = Obj::default()
            .uint("count", s.count)
            .uint("dangerous", s.dangerous)
            .bool("truncated", s.truncated)
            .raw("paths", &paths)
            .end();
        let overlay = Obj::default()
            .uint("extensions", b.extensions)
            .uint("bytes", b.bytes)
            .uint("pageSize", b.page_size)
            .bool("fits", b.fits)
            .uint("moreFit", b.more_fit)
            .strs("lowerdirs", &b.lowerdirs)
            .end();
        Obj::default()
            .uint("schema", self.schema.into())
            .str("target", &self.target)
            .str("kind", &self.kind)
            .opt("id", self.id.as_deref())
            .str("rootfs", &self.rootfs)
            .strs("layers", &self.layers)
            .str("labelSource", &self.label_source)
            .bool("valid", self.valid)
            .bool("compatible", self.compatible)
            .raw("labels", &labels)
            .raw("host", &host)
            .raw("checks", &checks)
            .raw("hooks", &hooks)
            .raw("content", &content)
            .raw("shadows", &shadows)
            .raw("overlay", &overlay)
            .strs("problems", &self.problems)
            .strs("warnings", &self.warnings)
            .end()
    }
}

/// The part of a label name after `io.balena.image.`.
pub fn short_label(name: &str) -> &str {
    name.strip_prefix(labels::PREFIX).unwrap_or(name)
}

fn check_labels(all: &BTreeMap<String, String>, f: &mut Findings) -> Vec<LabelCheck> {
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

/// Reads a small host file; None when it is missing or unreadable.
fn host_text(host: &Path, abs: &str) -> Option<String> {
    let (path, _) = host_lookup(host, abs, true)?;
    crate::json::read_text(&path, 1 << 20, false).ok()
}

fn host_facts(host: &Path) -> Host {
    let release = host_text(host, "/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let version = release.as_deref().map(kernel_version);
    let mut symvers = None;
    let mut sha = None;
    if let Some(r) = &release {
        let abs = format!("/lib/modules/{r}/Module.symvers");
        if let Some((path, _)) = host_lookup(host, &abs, true) {
            sha = fs::File::open(&path)
                .ok()
                .and_then(|f| sha256::hex_of(f).ok());
            symvers = Some(path.display().to_string());
        }
    }
    let os_release =
        host_text(host, "/etc/os-release").or_else(|| host_text(host, "/usr/lib/os-release"));
    let os_version = os_release
        .as_deref()
        .and_then(|t| os_release_field(t, "VERSION_ID"));
    let nohostext = host_text(host, "/proc/cmdline").is_some_and(|c| has_nohostext(&c));
    Host {
        root: host.display().to_string(),
        kernel_release: release.clone(),
        kernel_version: version,
        module_symvers: symvers,
        module_symvers_sha256: sha,
        os_version,
        nohostext,
        page_size: crate::sys::page_size() as u64,
    }
}

/// A kernel release up to its first `-` or `+`: `5.15.92-v8` → `5.15.92`.
pub fn kernel_version(release: &str) -> String {
    release
        .split(['-', '+'])
        .next()
        .unwrap_or(release)
        .to_string()
}

/// A field of an os-release file, unquoted.
pub fn os_release_field(text: &str, field: &str) -> Option<String> {
    for line in text.lines() {
        let Some((k, v)) = line.trim().split_once('=') else {
            continue;
        };
        if k.trim() != field {
            continue;
        }
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(v);
        return Some(v.to_string());
    }
    None
}

/// Whether the kernel command line turns host extensions off.
pub fn has_nohostext(cmdline: &str) -> bool {
    cmdline
        .split_whitespace()
        .any(|w| w == "balena.nohostext" || w.starts_with("balena.nohostext="))
}

/// `sha256:ABC…` → `abc…`.
pub fn abi_digest(label: &str) -> String {
    let v = label.trim();
    let v = v
        .strip_prefix("sha256:")
        .or_else(|| v.strip_prefix("SHA256:"))
        .unwrap_or(v);
    v.to_ascii_lowercase()
}

fn check_compat(ext: &Labels, host: &Host, f: &mut Findings) -> Vec<Check> {
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

fn check_hooks(view: &View, host: &Path, f: &mut Findings) -> Vec<HookCheck> {
    let mut out = Vec::new();
    for name in hooks::ALL {
        let mut h = HookCheck {
            name: name.to_string(),
            path: None,
            status: ABSENT.to_string(),
            executable: false,
            interpreter: None,
            interpreter_found: None,
        };
        let Some((path, _)) = view.lookup(&format!("hooks/{name}")) else {
            out.push(h);
            continue;
        };
        h.path = Some(path.display().to_string());
        let shown = format!("hook {name} ({})", path.display());
        let meta = match fs::metadata(&path) {
            Ok(m) => m,
            Err(e) => {
                h.status = "unreadable".into();
                f.invalid
                    .push(format!("{shown}: {}", crate::error::describe(&e)));
                out.push(h);
                continue;
            }
        };
        if !meta.is_file() {
            h.status = "not a file".into();
            f.invalid.push(format!("{shown} is not a regular file"));
            out.push(h);
            continue;
        }
        h.executable = meta.permissions().mode() & 0o111 != 0;
        if !h.executable {
            h.status = "not executable".into();
            f.invalid
                .push(format!("{shown} is not executable (chmod +x it)"));
        }
        match files::exec_kind(&path) {
            Ok(Exec::Script(interp, arg)) => {
                let (shown_interp, found) = script_interpreter(host, &interp, arg.as_deref());
                h.interpreter = Some(shown_interp.clone());
                h.interpreter_found = Some(found);
                if !found {
                    f.incompatible.push(format!(
                        "{shown} needs {shown_interp}, which this host does not have"
                    ));
                    if h.executable {
                        h.status = "no interpreter".into();
                    }
                }
            }
            Ok(Exec::Elf(Some(loader))) => {
                let found = host_executable(host, &loader);
                h.interpreter = Some(loader.clone());
                h.interpreter_found = Some(found);
                if !found {
                    f.incompatible.push(format!(
                        "{shown} is a program for the loader {loader}, which this host does not have"
                    ));
                    if h.executable {
                        h.status = "no interpreter".into();
                    }
                }
            }
            Ok(Exec::Elf(None)) => {}
            Ok(Exec::Unknown) => {
                if h.executable {
                    h.status = "no #! line".into();
                }
                f.invalid.push(format!(
                    "{shown} has no #! line and is not an ELF program: it cannot be run"
                ));
            }
            Err(e) => {
                h.status = "unreadable".into();
                f.invalid
                    .push(format!("{shown}: {}", crate::error::describe(&e)));
            }
        }
        if h.status == ABSENT {
            h.status = OK.into();
        }
        out.push(h);
    }
    out
}

/// The interpreter as shown, and whether the host has it. `#!/usr/bin/env X`
/// also needs X in the hooks' PATH.
fn script_interpreter(host: &Path, interp: &str, arg: Option<&str>) -> (String, bool) {
    if interp.is_empty() || !interp.starts_with('/') {
        return (format!("\"{interp}\" (not an absolute path)"), false);
    }
    if !host_executable(host, interp) {
        return (interp.to_string(), false);
    }
    let program = arg
        .and_then(|a| a.split_whitespace().find(|w| !w.starts_with('-')))
        .filter(|_| interp.rsplit('/').next() == Some("env"));
    match program {
        Some(p) if p.contains('/') => (format!("{interp} {p}"), host_executable(host, p)),
        Some(p) => {
            let found = hooks::PATH
                .split(':')
                .any(|dir| host_executable(host, &format!("{dir}/{p}")));
            (format!("{interp} {p}"), found)
        }
        None => (interp.to_string(), true),
    }
}

fn host_executable(host: &Path, abs: &str) -> bool {
    abs.starts_with('/')
        && host_lookup(host, abs, true)
            .is_some_and(|(_, m)| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// This program's path on the host, if it lives inside the host root.
fn own_path(host: &Path) -> Option<String> {
    let exe = std::env::current_exe().ok()?.canonicalize().ok()?;
    let host = host.canonicalize().ok()?;
    let rel = exe.strip_prefix(&host).ok()?;
    Some(format!("/{}", rel.display()))
}

/// Host paths an extension must not replace, and why.
const ESSENTIAL: &[(&str, &str)] = &[
    ("/etc/os-release", "os-release identifies the OS"),
    ("/usr/lib/os-release", "os-release identifies the OS"),
    ("/lib/ld-linux*", "the dynamic loader"),
    ("/lib64/ld-linux*", "the dynamic loader"),
    ("/lib/ld-musl*", "the dynamic loader"),
    ("/usr/lib/ld-linux*", "the dynamic loader"),
    ("/usr/lib64/ld-linux*", "the dynamic loader"),
    ("/bin/sh", "the shell"),
    ("/sbin/init", "init"),
    ("/lib/systemd/systemd", "init"),
    ("/usr/lib/systemd/systemd", "init"),
    ("/boot", "boot files"),
    ("/boot/*", "boot files"),
    ("/usr/bin/balena-engine*", "the container engine"),
    ("/usr/bin/docker*", "the container engine"),
    ("/usr/bin/balena-extension-*", "this runtime"),
];

/// Why replacing `path` would break the host, if it would: it is essential,
/// or (when it replaces a directory) holds something essential.
pub fn danger(path: &str, hides_dir: bool, own: Option<&str>) -> Option<String> {
    if own == Some(path) {
        return Some("this runtime".to_string());
    }
    for (pattern, why) in ESSENTIAL {
        if glob::matches(pattern, path) {
            return Some(why.to_string());
        }
        if hides_dir
            && pattern.len() > path.len()
            && pattern.starts_with(path)
            && pattern.as_bytes()[path.len()] == b'/'
        {
            return Some(format!("hides {why}"));
        }
    }
    if hides_dir {
        if let Some(own) = own {
            if own.starts_with(path) && own.as_bytes().get(path.len()) == Some(&b'/') {
                return Some("hides this runtime".to_string());
            }
        }
    }
    None
}

fn kind_of(m: &fs::Metadata) -> &'static str {
    let t = m.file_type();
    if files::is_whiteout(m) {
        "whiteout"
    } else if t.is_dir() {
        "dir"
    } else if t.is_symlink() {
        "symlink"
    } else if t.is_file() {
        "file"
    } else {
        "special"
    }
}

fn check_content(
    view: &View,
    host: &Path,
    own: Option<&str>,
    f: &mut Findings,
) -> (Content, Shadows) {
    let mut c = Content::default();
    let mut s = Shadows {
        count: 0,
        dangerous: 0,
        truncated: false,
        paths: Vec::new(),
    };
    // Directories the host does not have (or has as a non-directory): what
    // is below them is new and needs no lookup.
    // Kept sorted, for binary search.
    let mut fresh: Vec<String> = Vec::new();
    let mark_fresh = |fresh: &mut Vec<String>, path: &str| {
        if let Err(i) = fresh.binary_search_by(|p| p.as_str().cmp(path)) {
            fresh.insert(i, path.to_string());
        }
    };
    view.walk(&mut |e| {
        let m = e.meta;
        if e.whiteout {
            c.whiteouts += 1;
        } else if m.is_dir() {
            c.dirs += 1;
        } else if m.file_type().is_symlink() {
            c.symlinks += 1;
        } else if m.is_file() {
            c.files += 1;
            c.bytes += m.len();
        } else {
            c.other += 1;
        }
        if e.path == "/hooks" || e.path.starts_with("/hooks/") {
            return;
        }
        let parent = &e.path[..e.path.rfind('/').unwrap_or(0)];
        let parent_fresh = fresh.binary_search_by(|p| p.as_str().cmp(parent)).is_ok();
        let host_meta = if parent_fresh {
            None
        } else {
            host_lookup(host, e.path, false).map(|(_, hm)| hm)
        };
        let Some(hm) = host_meta else {
            if m.is_dir() && !e.whiteout {
                mark_fresh(&mut fresh, e.path);
            }
            return;
        };
        if m.is_dir() && !e.whiteout {
            if hm.is_dir() {
                return; // Directories merge.
            }
            mark_fresh(&mut fresh, e.path);
        }
        let reason = danger(e.path, hm.is_dir(), own);
        s.count += 1;
        if reason.is_some() {
            s.dangerous += 1;
            let verb = if e.whiteout { "deletes" } else { "shadows" };
            f.incompatible.push(format!(
                "the extension {verb} {} ({})",
                e.path,
                reason.as_deref().unwrap_or("")
            ));
        }
        if s.paths.len() < MAX_SHADOWS {
            s.paths.push(Shadow {
                path: e.path.to_string(),
                kind: kind_of(m).to_string(),
                host_kind: kind_of(&hm).to_string(),
                dangerous: reason.is_some(),
                reason,
            });
        } else {
            s.truncated = true;
        }
    });
    (c, s)
}

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
pub fn lowerdir_len(paths: &[String]) -> u64 {
    let sum: u64 = paths.iter().map(|p| escaped_len(p)).sum();
    "lowerdir=".len() as u64 + sum + paths.len().saturating_sub(1) as u64
}

fn budget(state_root: &Path, rootfs: &Path, page: u64, f: &mut Findings) -> Budget {
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
    fn kernel_versions_stop_at_the_local_version() {
        assert_eq!(kernel_version("5.15.92-v8"), "5.15.92");
        assert_eq!(kernel_version("6.1.0+"), "6.1.0");
        assert_eq!(kernel_version("6.1.0"), "6.1.0");
    }

    #[test]
    fn reads_os_release_fields_quoted_or_not() {
        let t = "NAME=\"balenaOS\"\nVERSION_ID=\"2.113.18\"\nID=balena-os\n";
        assert_eq!(
            os_release_field(t, "VERSION_ID").as_deref(),
            Some("2.113.18")
        );
        assert_eq!(os_release_field(t, "ID").as_deref(), Some("balena-os"));
        assert_eq!(
            os_release_field("VERSION_ID='6.0'", "VERSION_ID").as_deref(),
            Some("6.0")
        );
        assert_eq!(os_release_field(t, "VERSION"), None);
    }

    #[test]
    fn finds_nohostext_as_a_whole_word_only() {
        assert!(has_nohostext("root=/dev/x balena.nohostext quiet\n"));
        assert!(has_nohostext("balena.nohostext=1"));
        assert!(!has_nohostext("root=/dev/x balena.nohostextra"));
    }

    #[test]
    fn abi_ids_compare_with_or_without_a_prefix() {
        assert_eq!(abi_digest("sha256:ABCD"), "abcd");
        assert_eq!(abi_digest(" abcd "), "abcd");
    }

    #[test]
    fn flags_essential_paths_and_directories_hiding_them() {
        assert!(danger("/etc/os-release", false, None).is_some());
        assert!(danger("/lib/ld-linux-aarch64.so.1", false, None).is_some());
        assert!(danger("/boot/config.txt", false, None).is_some());
        assert!(danger("/usr/bin/dockerd", false, None).is_some());
        assert!(danger("/usr/bin/foo", false, None).is_none());
        // A symlink replacing the host's /lib directory hides its loader.
        assert!(danger("/lib", true, None).is_some());
        assert!(danger("/lib", false, None).is_none());
        assert!(danger("/opt/ber", false, Some("/opt/ber")).is_some());
        assert!(danger("/opt", true, Some("/opt/ber")).is_some());
    }

    #[test]
    fn measures_lowerdir_options_with_escapes() {
        let dirs = vec!["/a".to_string(), "/b:c".to_string()];
        assert_eq!(lowerdir_len(&dirs), "lowerdir=/a:/b\\:c".len() as u64);
    }
}
