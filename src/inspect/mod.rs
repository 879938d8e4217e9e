//! `extension-inspect`: is this a valid extension, will it work on this
//! host, and what will it change? Everything is gathered into one
//! [`Report`], which is printed as an aligned text report or as JSON.
//!
//! Nothing here changes the host or the extension: it reads labels, files
//! and a few host facts (`/proc`, `/etc/os-release`, `Module.symvers`).
//!
//! `target` finds what TARGET names and `files` reads it; `host` describes
//! the host facts [`crate::claims`] reads; `compat` checks the labels and
//! shows what [`crate::claims`] decides about their claims; `hooks` checks
//! the hooks, `content` what the files would shadow, `nextboot` what the
//! next boot's overlay does with it; `render` prints the report.

mod compat;
mod content;
pub mod files;
mod hooks;
mod host;
mod nextboot;
pub mod render;
pub mod target;

use std::path::PathBuf;

use crate::error::Result;
use crate::json::{array, Obj};
use crate::labels;

/// Bumped when a field of the JSON document changes meaning or goes away.
pub const SCHEMA: u32 = 2;

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
    pub target: std::ffi::OsString,
    pub host_root: PathBuf,
    pub docker_root: PathBuf,
    pub state_root: PathBuf,
    /// `--label KEY=VALUE`, added to (and overriding) what was found.
    pub labels: Vec<(String, String)>,
    /// For the next-boot section: the hostapp partition and the data
    /// partition's data root (balenaOS's places under host_root if None).
    pub sysroot: Option<PathBuf>,
    pub data_root: Option<PathBuf>,
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
    pub next_boot: NextBoot,
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
    pub kernel_abi: Option<String>,
    pub kernel_abi_source: Option<String>,
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

/// What `extension-mount` will do at the next boot, from this host's disk.
pub struct NextBoot {
    /// Why no boot could be planned (no hostapp there), if so.
    pub error: Option<String>,
    /// The switch that turns extensions off, if one does.
    pub disabled_by: Option<String>,
    pub extensions: u64,
    pub skipped: u64,
    pub layers: u64,
    pub method: Option<String>,
    /// "overlaid" or "skipped: <reason>" when the target is a container of
    /// the data partition.
    pub this: Option<String>,
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
    let label_checks = compat::check_labels(&all, &mut f);
    let ext = labels::extension_labels(&all);
    let facts = crate::claims::read_host(&o.host_root);
    let checks = compat::check_compat(&ext, &facts, &mut f);
    let host = host::describe(&o.host_root, facts);
    let hooks = hooks::check_hooks(&t.view, &o.host_root, &mut f);
    let own = content::own_path(&o.host_root);
    let (content, shadows) = content::check_content(&t.view, &o.host_root, own.as_deref(), &mut f);
    let next_boot = nextboot::next_boot(
        &o.host_root,
        o.sysroot.as_deref(),
        o.data_root.as_deref(),
        host.kernel_release.as_deref(),
        t.id.as_deref(),
    );
    if let Some(why) = next_boot
        .this
        .as_deref()
        .and_then(|t| t.strip_prefix("skipped: "))
    {
        f.warnings
            .push(format!("the next boot will not overlay it: {why}"));
    }
    let valid = f.invalid.is_empty();
    let compatible = f.incompatible.is_empty();
    let mut problems = f.invalid;
    problems.extend(f.incompatible);
    Ok(Report {
        schema: SCHEMA,
        target: o.target.to_string_lossy().into_owned(),
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
        next_boot,
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
        let b = &self.next_boot;
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
            .opt("kernelAbi", h.kernel_abi.as_deref())
            .opt("kernelAbiSource", h.kernel_abi_source.as_deref())
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
        let next_boot = Obj::default()
            .opt("error", b.error.as_deref())
            .opt("disabledBy", b.disabled_by.as_deref())
            .uint("extensions", b.extensions)
            .uint("skipped", b.skipped)
            .uint("layers", b.layers)
            .opt("method", b.method.as_deref())
            .opt("this", b.this.as_deref())
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
            .raw("nextBoot", &next_boot)
            .strs("problems", &self.problems)
            .strs("warnings", &self.warnings)
            .end()
    }
}
