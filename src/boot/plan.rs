//! The planner: from the disk alone, which container is the hostapp, which
//! extensions go over it in which order, which are skipped and why, and the
//! exact layer list of the one overlay. Changes nothing.

use std::cell::OnceCell;
use std::fs;
use std::path::{Path, PathBuf};

use super::layout::{container_layers, plain_name, quoted};
use super::record::Record;
use super::{Method, Paths};
use crate::claims::{self, Verdict};
use crate::error::{Error, Result};
use crate::hostfs::host_lookup;
use crate::labels::{
    self, CLASS, KERNEL_ABI_ID, LEGACY_HOST_EXTENSION, OVERRIDE, PREFIX, REQUIRED_CLASS,
};

/// overlayfs stacks at most this many lower layers (OVL_MAX_STACK).
pub const MAX_LAYERS: usize = 500;

/// The command line is one line; cap what is read anyway.
const MAX_CMDLINE: u64 = 64 << 10;
const MAX_OS_RELEASE: u64 = 64 << 10;
/// A kernel's Module.symvers is 1 to 2 MB; a bigger one would only stall
/// the boot while it is hashed.
pub const MAX_SYMVERS: u64 = 16 << 20;

/// The file on the data partition whose absence means a purge is pending.
pub const RESET_FILE: &str = "remove_me_to_reset";

pub struct Extension {
    pub id: String,
    pub name: String,
    pub image: String,
    /// `io.balena.image.override=N`: a kernel override, above the hostapp.
    pub priority: Option<u32>,
    /// Recognised by `io.balena.features.host-extension`.
    pub legacy: bool,
    pub layers: Vec<PathBuf>,
}

pub struct Skip {
    pub id: String,
    pub name: String,
    pub reason: String,
}

pub struct Plan {
    pub hostapp_id: String,
    pub hostapp_layers: Vec<PathBuf>,
    /// The switch that turned extensions off (`balena.nohostext`, ...) and
    /// why, for the console.
    pub disabled: Option<(&'static str, String)>,
    /// In mount order, top first: overrides, then plain extensions.
    pub extensions: Vec<Extension>,
    pub skipped: Vec<Skip>,
    pub method: Method,
}

impl Plan {
    /// Every layer once, leftmost on top: overrides, the hostapp, plain
    /// extensions. A plain extension is below every hostapp layer, so it can
    /// add files but never hide one of the hostapp's.
    pub fn lowerdir(&self) -> Vec<&Path> {
        let mut out: Vec<&Path> = Vec::new();
        for overrides in [true, false] {
            if !overrides {
                out.extend(self.hostapp_layers.iter().map(PathBuf::as_path));
            }
            for e in &self.extensions {
                if e.priority.is_some() == overrides {
                    out.extend(e.layers.iter().map(PathBuf::as_path));
                }
            }
        }
        // Containers of one image share its layers, and overlayfs refuses
        // a directory twice ("conflicting lowerdir path"). The last place
        // is kept: there it is still below every layer that was built on it.
        let mut i = 0;
        while i < out.len() {
            let here = out[i].as_os_str();
            if out[i + 1..].iter().any(|l| l.as_os_str() == here) {
                out.remove(i);
            } else {
                i += 1;
            }
        }
        out
    }
}

/// Plans the boot. Fails only when the hostapp itself cannot be planned;
/// every problem of an extension is a [`Skip`].
pub fn plan(p: &Paths) -> Result<Plan> {
    // Without the command line, a balena.nohostext meant to rescue a
    // device cannot be seen: no extensions then.
    let (cmdline, unread) = match crate::json::read_text(&p.cmdline, MAX_CMDLINE, false) {
        Ok(text) => (text, None),
        Err(e) => (
            String::new(),
            Some((
                "cmdline",
                format!("cannot read the kernel command line: {}", e.msg),
            )),
        ),
    };
    let release = match &p.kernel_release {
        Some(r) => r.clone(),
        None => crate::sys::kernel_release()?,
    };
    let (hostapp_id, hostapp_layers) = hostapp(&p.sysroot)?;
    let mut plan = Plan {
        hostapp_id,
        hostapp_layers,
        disabled: unread.or_else(|| disabled_by(&cmdline, &p.data_root)),
        extensions: Vec::new(),
        skipped: Vec::new(),
        method: Method::for_release(&release),
    };
    if plan.disabled.is_some() {
        return Ok(plan);
    }
    let host_files = HostFiles::read(&plan.hostapp_layers);
    for (id, record) in extensions(&p.data_root, &mut plan.skipped) {
        let e = match admit(&p.data_root, &id, &record, &release, &cmdline, &host_files) {
            Ok(e) => e,
            Err(reason) => {
                plan.skipped.push(Skip {
                    name: record.name().to_string(),
                    id,
                    reason,
                });
                continue;
            }
        };
        plan.extensions.push(e);
    }
    order(&mut plan.extensions);
    fit(&mut plan);
    Ok(plan)
}

/// The hostapp's ID (the basename of `current`) and layers.
fn hostapp(sysroot: &Path) -> Result<(String, Vec<PathBuf>)> {
    let current = sysroot.join("current");
    let target = fs::read_link(&current).map_err(|e| {
        Error::io(
            format!(
                "no hostapp: {} is not a readable symlink",
                current.display()
            ),
            &e,
        )
    })?;
    let id = target
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| plain_name(n))
        .ok_or_else(|| {
            Error::new(format!(
                "no hostapp: {} points to \"{}\", not a container",
                current.display(),
                target.display()
            ))
        })?
        .to_string();
    let layers = container_layers(&sysroot.join("balena"), &id)
        .map_err(|why| Error::new(format!("hostapp {}: {why}", short_id(&id))))?;
    Ok((id, layers))
}

/// Why extensions are off for this boot, if they are.
fn disabled_by(cmdline: &str, data_root: &Path) -> Option<(&'static str, String)> {
    for word in ["balena.nohostext", "mobynit.no_overlays", "emergency"] {
        let on = cmdline
            .split_whitespace()
            .any(|w| w == word || w.strip_prefix(word).is_some_and(|r| r.starts_with('=')));
        if on {
            return Some((word, format!("{word} on the kernel command line")));
        }
    }
    // An unmounted data partition would otherwise read as a pending reset.
    if fs::symlink_metadata(data_root).is_err() {
        return Some((
            "data-root",
            format!("no data root at {}", data_root.display()),
        ));
    }
    let reset = data_root.parent().unwrap_or(data_root).join(RESET_FILE);
    if fs::symlink_metadata(&reset).is_err() {
        return Some((
            RESET_FILE,
            format!("no {} (a data reset is pending)", reset.display()),
        ));
    }
    None
}

/// Every container of the data root that is an extension, by ID. Records
/// that cannot be read are skipped here, with the reason.
fn extensions(data_root: &Path, skipped: &mut Vec<Skip>) -> Vec<(String, Record)> {
    let dir = data_root.join("containers");
    let mut ids: Vec<String> = match fs::read_dir(&dir) {
        Ok(entries) => entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|id| plain_name(id))
            .collect(),
        // No containers yet: nothing to say. Anything else (an engine's
        // data root read without root) is said, not taken for "none".
        Err(e) => {
            if e.kind() != std::io::ErrorKind::NotFound {
                skipped.push(Skip {
                    id: String::new(),
                    name: String::new(),
                    reason: Error::io(format!("cannot list {}", dir.display()), &e).msg,
                });
            }
            Vec::new()
        }
    };
    // Directory order differs from disk to disk: skips are listed by ID.
    crate::sys::sort_strings(&mut ids);
    let mut out = Vec::new();
    for id in ids {
        match Record::read(&dir.join(&id).join("config.v2.json")) {
            Ok(r) => {
                if r.label(CLASS) == Some(REQUIRED_CLASS)
                    || r.label(LEGACY_HOST_EXTENSION).is_some()
                {
                    out.push((id, r));
                }
            }
            // Not knowing whether it is an extension is reported: it might be.
            Err(reason) => skipped.push(Skip {
                id,
                name: String::new(),
                reason,
            }),
        }
    }
    out
}

/// The hostapp's files the claims compare against.
struct HostFiles<'a> {
    layers: &'a [PathBuf],
    /// Hashed when a claim first needs it.
    symvers: OnceCell<Option<(String, String)>>,
    os_release: Option<String>,
}

impl HostFiles<'_> {
    fn read(layers: &[PathBuf]) -> HostFiles<'_> {
        let os_release = ["/etc/os-release", "/usr/lib/os-release"]
            .iter()
            .find_map(|f| layer_file(layers, f))
            .and_then(|p| crate::json::read_text(&p, MAX_OS_RELEASE, true).ok());
        HostFiles {
            layers,
            symvers: OnceCell::new(),
            os_release,
        }
    }

    fn symvers(&self, release: &str) -> Option<(String, String)> {
        self.symvers
            .get_or_init(|| symvers(self.layers, release))
            .clone()
    }
}

/// The SHA-256 of `lib/modules/<release>/Module.symvers` in `layers`, and
/// where it was.
fn symvers(layers: &[PathBuf], release: &str) -> Option<(String, String)> {
    let abs = claims::symvers_abs(release);
    let path = layer_file(layers, &abs).or_else(|| layer_file(layers, &format!("/usr{abs}")))?;
    if fs::metadata(&path).ok()?.len() > MAX_SYMVERS {
        return None;
    }
    let sha = crate::sha256::of_file(&path).ok()?;
    Some((sha, path.display().to_string()))
}

/// The topmost regular file `abs` in `layers`, symlinks resolved inside
/// each layer only.
fn layer_file(layers: &[PathBuf], abs: &str) -> Option<PathBuf> {
    for layer in layers {
        if let Some((path, meta)) = host_lookup(layer, abs, true) {
            return meta.is_file().then_some(path);
        }
    }
    None
}

/// One extension container's verdict: its place in the overlay, or why it
/// has none.
fn admit(
    data_root: &Path,
    id: &str,
    r: &Record,
    release: &str,
    cmdline: &str,
    host: &HostFiles,
) -> std::result::Result<Extension, String> {
    if let Some(why) = r.not_installed() {
        return Err(why);
    }
    let priority = match r.label(OVERRIDE) {
        None => None,
        Some(v) => Some(
            v.trim()
                .parse::<u32>()
                .map_err(|_| format!("override priority \"{}\" is not a number", quoted(v)))?,
        ),
    };
    let layers = container_layers(data_root, id)?;
    // An extension that ships the kernel's modules carries the kernel's
    // identity too: with no balena_kernel_abi= on the command line, its
    // own Module.symvers is what its kernel-abi-id is about.
    let labels = r.labels().map(labels::extension_labels).unwrap_or_default();
    // Hashed only for a claim that needs it: a boot reads what it must.
    let symvers = if labels.contains_key(KERNEL_ABI_ID) {
        symvers(&layers, release).or_else(|| host.symvers(release))
    } else {
        None
    };
    let facts = claims::boot_host(release, cmdline, symvers, host.os_release.as_deref());
    for c in claims::check(&labels, &facts) {
        let what = c.label.strip_prefix(PREFIX).unwrap_or(c.label);
        match c.verdict {
            Verdict::Holds => {}
            Verdict::Fails => return Err(format!("{what} does not hold: {}", c.note)),
            Verdict::Doubt => return Err(format!("{what} cannot be decided: {}", c.note)),
        }
    }
    Ok(Extension {
        id: id.to_string(),
        name: r.name().to_string(),
        image: r.image().to_string(),
        priority,
        legacy: r.label(LEGACY_HOST_EXTENSION).is_some(),
        layers,
    })
}

/// Overrides first, by ascending priority then name (the leftmost, lowest
/// priority, ends up on top, as balenaOS orders them); then plain
/// extensions by name, then ID: two boots of one disk agree.
fn order(v: &mut [Extension]) {
    crate::sys::sort_by(v, |a, b| match (a.priority, b.priority) {
        (Some(x), Some(y)) if x != y => x < y,
        (Some(_), None) => true,
        (None, Some(_)) => false,
        _ => (&a.name, &a.id) < (&b.name, &b.id),
    });
}

/// Drops extensions, lowest first, until the layers fit one overlay with
/// the plan's method; each drop is reported.
fn fit(plan: &mut Plan) {
    let page = crate::sys::page_size();
    while !plan.extensions.is_empty() {
        let n = plan.lowerdir().len();
        let Err(why) = plan.method.fits(n, page) else {
            return;
        };
        let e = plan.extensions.pop().expect("not empty");
        plan.skipped.push(Skip {
            id: e.id,
            name: e.name,
            reason: format!("does not fit one overlay: {why}"),
        });
    }
}

/// The first 12 characters of an ID, as the engine shows it.
pub fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}
