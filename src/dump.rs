//! `state-dump`: every entry in the runtime's state roots, what its state
//! says and what is really true, without ever waiting for a lock.
//!
//! - State files are replaced atomically, so they are read without locks.
//!   Whether a runtime command holds an entry's lock is learned from
//!   `/proc/locks`, which takes no lock at all.
//! - A broken entry (unreadable state, a leftover of an interrupted create,
//!   a bundle that is gone, ...) is reported, never fatal to the listing.
//! - `--prune` removes only what is provably dead, and takes each entry's
//!   lock with a non-blocking try before it touches it.

use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use miniserde::Serialize;

use crate::error::{Error, Result};
use crate::labels;
use crate::state::{self, real_status, Lock, Opened, Proxy, Record, Root};
use crate::sys;

/// Where containerd and Docker keep state roots for runtimes they drive
/// (a `*` matches one path component; roots that do not exist are skipped):
///
/// - containerd's runc shim: `<root>/<namespace>`, root `/run/containerd/runc`
///   unless the runtime's options name another;
/// - dockerd and balena-engine: `<exec-root>/runtime-<runtime name>/<namespace>`
///   (namespace `moby`), exec root `/run/docker` or `/var/run/balena-engine`.
///
/// `/var/run` is `/run` on most systems; a root reached twice is listed once.
pub const KNOWN_ROOTS: &[&str] = &[
    "/run/containerd/runc/*",
    "/run/docker/runtime-*/*",
    "/var/run/docker/runtime-*/*",
    "/run/balena-engine/runtime-*/*",
    "/var/run/balena-engine/runtime-*/*",
];

/// Leftovers without a state younger than this are left alone by `--prune`.
pub const PRUNE_GRACE_SECS: i64 = 60;

/// Prefix of the directories `create` builds before renaming them into place.
pub const CREATING_PREFIX: &str = ".creating-";

const TEMP_FILE: &str = "state.json.tmp";

/// The table fits a terminal this wide.
const WIDTH: usize = 80;

/// What to do, as the command line said.
pub struct Options {
    pub roots: Vec<PathBuf>,
    pub all_roots: bool,
    pub json: bool,
    pub prune: bool,
    pub ids: Vec<String>,
}

/// One directory entry of a state root, as found.
#[derive(Serialize)]
pub struct Entry {
    pub root: String,
    /// The directory's name: the container ID, or `.creating-…`.
    pub id: String,
    pub path: String,
    /// container, no-state, creating, unreadable, symlink, not-a-directory.
    pub kind: String,
    /// The status in state.json.
    #[serde(rename = "recordedStatus")]
    pub recorded_status: Option<String>,
    /// The status as it really is: created, running, stopped, creating or
    /// unknown.
    pub status: String,
    /// alive, zombie, gone, pid reused, none or unknown.
    pub proxy: String,
    pub pid: Option<i32>,
    #[serde(rename = "pidStartTime")]
    pub pid_start: Option<u64>,
    #[serde(rename = "hookPid")]
    pub hook_pid: Option<i32>,
    #[serde(rename = "hookAlive")]
    pub hook_alive: bool,
    pub created: Option<String>,
    #[serde(rename = "ageSeconds")]
    pub age_seconds: Option<i64>,
    pub bundle: Option<String>,
    #[serde(rename = "bundleExists")]
    pub bundle_exists: Option<bool>,
    pub class: Option<String>,
    #[serde(rename = "kernelVersion")]
    pub kernel_version: Option<String>,
    #[serde(rename = "kernelAbiId")]
    pub kernel_abi_id: Option<String>,
    #[serde(rename = "exitCode")]
    pub exit_code: Option<i32>,
    /// Someone (a runtime command) holds the entry's lock right now.
    pub locked: bool,
    /// A `state.json.tmp` is present.
    #[serde(rename = "tempFile")]
    pub temp_file: bool,
    pub broken: bool,
    pub problems: Vec<String>,
    pub pruned: bool,
}

#[derive(Serialize)]
pub struct RootReport {
    pub path: String,
    /// Why the root could not be read, if it could not.
    pub error: Option<String>,
    /// Entries listed from this root.
    pub entries: usize,
    /// Entries skipped because another runtime (runc, crun) owns them.
    #[serde(rename = "otherRuntime")]
    pub other_runtime: usize,
}

#[derive(Serialize)]
pub struct Report {
    pub roots: Vec<RootReport>,
    pub entries: Vec<Entry>,
    /// Entries (and roots) still broken after any pruning.
    pub broken: usize,
    /// Paths `--prune` removed.
    pub pruned: Vec<String>,
}

/// Runs the whole command; returns the exit code (1 if anything is broken).
pub fn run(o: &Options) -> Result<i32> {
    let (now, _) = crate::time::now();
    let mut report = Report {
        roots: Vec::new(),
        entries: Vec::new(),
        broken: 0,
        pruned: Vec::new(),
    };
    let mut matched = vec![false; o.ids.len()];
    for dir in roots_to_scan(o) {
        let mut rr = RootReport {
            path: dir.display().to_string(),
            error: None,
            entries: 0,
            other_runtime: 0,
        };
        match scan_root(&dir, now, &mut rr) {
            Ok(entries) => {
                for mut e in entries {
                    if !wanted(&e, &o.ids, &mut matched) {
                        continue;
                    }
                    if o.prune {
                        prune(&dir, &mut e, &mut report.pruned);
                    }
                    rr.entries += 1;
                    report.entries.push(e);
                }
            }
            Err(e) => rr.error = Some(e.msg),
        }
        report.roots.push(rr);
    }
    report.broken = report.entries.iter().filter(|e| e.broken).count()
        + report.roots.iter().filter(|r| r.error.is_some()).count();

    let text = if o.json {
        crate::json::pretty(&crate::json::to_string(&report)) + "\n"
    } else {
        render(&report)
    };
    emit(&text)?;
    if let Some(i) = matched.iter().position(|m| !m) {
        return Err(Error::new(format!("no entry matches \"{}\"", o.ids[i])));
    }
    Ok(i32::from(report.broken > 0))
}

/// Writes the listing to stdout. A reader that stops early (`| head`) is
/// not an error: the exit status still tells whether anything is broken.
fn emit(text: &str) -> Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::io("cannot write the listing", &e))
        }
        _ => Ok(()),
    }
}

/// The roots to list, each once: those given, else the default root; with
/// `--all-roots` also the default root and every known root that exists.
pub fn roots_to_scan(o: &Options) -> Vec<PathBuf> {
    let mut candidates = o.roots.clone();
    if o.roots.is_empty() || o.all_roots {
        candidates.push(state::default_root());
    }
    if o.all_roots {
        for pattern in KNOWN_ROOTS {
            candidates.extend(expand(pattern));
        }
    }
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for dir in candidates {
        let key = std::fs::metadata(&dir).ok().map(|m| (m.dev(), m.ino()));
        // An explicitly named root that does not exist is still shown.
        if key.is_none() && !o.roots.contains(&dir) {
            continue;
        }
        if key.is_some_and(|k| seen.contains(&k)) || out.contains(&dir) {
            continue;
        }
        seen.extend(key);
        out.push(dir);
    }
    out
}

/// Expands a pattern whose `*` components match any one directory name.
pub fn expand(pattern: &str) -> Vec<PathBuf> {
    let mut found = vec![PathBuf::from("/")];
    for part in pattern.split('/').filter(|p| !p.is_empty()) {
        let mut next = Vec::new();
        for dir in &found {
            if !part.contains('*') {
                next.push(dir.join(part));
                continue;
            }
            let Ok(list) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut names: Vec<String> = list
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| glob_match(part, n))
                .collect();
            crate::sys::sort_strings(&mut names);
            next.extend(names.into_iter().map(|n| dir.join(n)));
        }
        found = next;
    }
    found.into_iter().filter(|p| p.is_dir()).collect()
}

/// `a*b` against one name (one `*` at most; no `*` means equality).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((pre, post)) => {
            name.len() >= pre.len() + post.len()
                && name.starts_with(pre)
                && name.ends_with(post)
                && !name.starts_with('.')
        }
    }
}

/// Whether the entry is one the command line asked for: an exact ID, or a
/// prefix of one (the table shows IDs shortened to 12 characters).
fn wanted(e: &Entry, ids: &[String], matched: &mut [bool]) -> bool {
    if ids.is_empty() {
        return true;
    }
    let mut any = false;
    for (i, id) in ids.iter().enumerate() {
        if !id.is_empty() && e.id.starts_with(id.as_str()) {
            matched[i] = true;
            any = true;
        }
    }
    any
}

/// Reads every entry of one root.
fn scan_root(dir: &Path, now: i64, rr: &mut RootReport) -> Result<Vec<Entry>> {
    if std::fs::symlink_metadata(dir).is_err() {
        return Ok(Vec::new());
    }
    let root = Root::open(dir, false)?;
    let list = std::fs::read_dir(dir)
        .map_err(|e| Error::io(format!("cannot list {}", dir.display()), &e))?;
    let mut found: Vec<(String, std::fs::FileType)> = list
        .filter_map(|e| {
            let e = e.ok()?;
            Some((e.file_name().into_string().ok()?, e.file_type().ok()?))
        })
        .filter(|(name, _)| name.starts_with(CREATING_PREFIX) || state::validate_id(name).is_ok())
        .collect();
    crate::sys::sort_by(&mut found, |a, b| a.0 < b.0);
    // After the listing: a create seen in it holds its lock by now.
    let locks = held_locks();
    let mut out = Vec::with_capacity(found.len());
    for (name, ftype) in found {
        let mut e = blank(dir, &name);
        if ftype.is_symlink() {
            e.kind = "symlink".into();
            e.problems
                .push("a symlink where a directory should be".into());
        } else if !ftype.is_dir() {
            e.kind = "not-a-directory".into();
            e.problems.push("not a directory".into());
        } else {
            // Vanished since the listing (deleted meanwhile): not an entry.
            let Ok(meta) = std::fs::symlink_metadata(&e.path) else {
                continue;
            };
            e.locked = locks
                .binary_search(&lock_key(meta.dev(), meta.ino()))
                .is_ok();
            e.temp_file = std::fs::symlink_metadata(Path::new(&e.path).join(TEMP_FILE)).is_ok();
            let dir_age = now - meta.mtime();
            if name.starts_with(CREATING_PREFIX) {
                no_state(&mut e, "creating", dir_age);
            } else {
                match read_entry(&root, &name, &mut e, now) {
                    Read::Done => {}
                    Read::Gone => continue,
                    Read::Foreign => {
                        rr.other_runtime += 1;
                        continue;
                    }
                    Read::NoState => no_state(&mut e, "no-state", dir_age),
                }
            }
            if e.temp_file && !e.locked {
                e.problems
                    .push(format!("{TEMP_FILE} left over by an interrupted write"));
            }
        }
        e.broken = !e.problems.is_empty();
        out.push(e);
    }
    Ok(out)
}

enum Read {
    Done,
    Gone,
    Foreign,
    NoState,
}

fn blank(root: &Path, name: &str) -> Entry {
    Entry {
        root: root.display().to_string(),
        id: name.to_string(),
        path: root.join(name).display().to_string(),
        kind: "container".into(),
        recorded_status: None,
        status: "unknown".into(),
        proxy: "unknown".into(),
        pid: None,
        pid_start: None,
        hook_pid: None,
        hook_alive: false,
        created: None,
        age_seconds: None,
        bundle: None,
        bundle_exists: None,
        class: None,
        kernel_version: None,
        kernel_abi_id: None,
        exit_code: None,
        locked: false,
        temp_file: false,
        broken: false,
        problems: Vec::new(),
        pruned: false,
    }
}

/// A directory without a state: a create in progress while it is locked,
/// else a leftover.
fn no_state(e: &mut Entry, kind: &str, age: i64) {
    e.kind = kind.into();
    e.age_seconds = Some(age.max(0));
    if e.locked {
        e.status = "creating".into();
    } else if kind == "creating" {
        e.problems
            .push("left over by a create that never finished".into());
    } else {
        e.problems
            .push("no state.json: left over by an interrupted create".into());
    }
}

fn read_entry(root: &Root, id: &str, e: &mut Entry, now: i64) -> Read {
    let container = match root.open_container(id, Lock::None) {
        Ok(Opened::Found(c)) => c,
        Ok(_) => return Read::Gone,
        Err(err) => {
            e.kind = "unreadable".into();
            e.problems.push(relative(&err.msg, e));
            return Read::Done;
        }
    };
    let rec = match container.read() {
        Ok(Some(rec)) => rec,
        Ok(None) if has_foreign_files(&container.path) => return Read::Foreign,
        Ok(None) => return Read::NoState,
        Err(err) => {
            if is_foreign_state(&container.state_path()) {
                return Read::Foreign;
            }
            e.kind = "unreadable".into();
            e.problems.push(relative(&err.msg, e));
            return Read::Done;
        }
    };
    describe(e, &rec, now);
    Read::Done
}

/// An error message about a file in the entry, without the entry's path
/// (which the listing already shows).
fn relative(msg: &str, e: &Entry) -> String {
    msg.replace(&format!("{}/", e.path), "")
}

/// Fills an entry from a readable record.
fn describe(e: &mut Entry, rec: &Record, now: i64) {
    let proxy = Proxy::of(rec.pid, rec.pid_start, &rec.id);
    let hook_alive = rec.hook_alive();
    e.status = real_status(&rec.status, proxy == Proxy::Alive, hook_alive).into();
    e.recorded_status = Some(rec.status.clone());
    e.proxy = proxy.name().into();
    e.pid = Some(rec.pid);
    e.pid_start = Some(rec.pid_start);
    e.hook_pid = Some(rec.hook_pid);
    e.hook_alive = hook_alive;
    e.created = Some(rec.created.clone());
    e.age_seconds = crate::time::parse_rfc3339_secs(&rec.created).map(|t| (now - t).max(0));
    let exists = bundle_exists(&rec.bundle);
    e.bundle = Some(rec.bundle.clone());
    e.bundle_exists = Some(exists);
    e.class = rec.labels.get(labels::CLASS).cloned();
    e.kernel_version = rec.labels.get(labels::KERNEL_VERSION).cloned();
    e.kernel_abi_id = rec.labels.get(labels::KERNEL_ABI_ID).cloned();
    e.exit_code = Some(rec.exit_code);
    if rec.id != e.id {
        e.problems
            .push(format!("its state.json names container \"{}\"", rec.id));
    }
    if !exists {
        e.problems.push("bundle no longer exists".into());
    }
}

impl Proxy {
    /// Provably not the proxy any more: nothing will ever reap or signal it.
    fn dead(self) -> bool {
        matches!(self, Proxy::Gone | Proxy::Reused | Proxy::None)
    }
}

/// False only when the bundle is certainly gone (not on, say, EACCES).
fn bundle_exists(bundle: &str) -> bool {
    match std::fs::metadata(bundle) {
        Ok(_) => true,
        Err(e) => e.kind() != std::io::ErrorKind::NotFound || bundle.is_empty(),
    }
}

/// runc keeps `<root>/<id>/state.json` too, in its own format.
fn is_foreign_state(path: &Path) -> bool {
    crate::json::read_text(path, 4 << 20, true)
        .is_ok_and(|t| t.contains("\"init_process_pid\"") && !t.contains("\"pidStartTime\""))
}

/// crun keeps `status` and `config.json`: a directory holding files this
/// runtime never writes is not ours.
fn has_foreign_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|list| {
        list.flatten()
            .any(|e| e.file_name() != TEMP_FILE && e.file_name() != state::STATE_FILE)
    })
}

/// `/proc/locks` identifies a file as `MAJOR:MINOR:INODE` (hex, hex, decimal).
fn lock_key(dev: u64, ino: u64) -> (u64, u64, u64) {
    (
        u64::from(libc::major(dev)),
        u64::from(libc::minor(dev)),
        ino,
    )
}

/// Every file someone holds a lock on, read without taking one.
fn held_locks() -> Vec<(u64, u64, u64)> {
    std::fs::read_to_string("/proc/locks")
        .map(|t| parse_locks(&t))
        .unwrap_or_default()
}

/// Parses `/proc/locks` lines such as
/// `1: FLOCK  ADVISORY  WRITE 1234 fe:00:10020028 0 EOF`; waiters (`->`)
/// hold nothing and are skipped. Sorted, for binary search.
pub fn parse_locks(text: &str) -> Vec<(u64, u64, u64)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) == Some(&"->") {
            continue;
        }
        let Some(id) = fields.get(5) else { continue };
        let mut parts = id.split(':');
        let key = (|| {
            let major = u64::from_str_radix(parts.next()?, 16).ok()?;
            let minor = u64::from_str_radix(parts.next()?, 16).ok()?;
            let ino = parts.next()?.parse().ok()?;
            Some((major, minor, ino))
        })();
        out.extend(key);
    }
    crate::sys::sort_by(&mut out, |a, b| a < b);
    out.dedup();
    out
}

/// Removes the entry if it is provably dead, re-checking under its lock.
fn prune(dir: &Path, e: &mut Entry, pruned: &mut Vec<String>) {
    let dead_container = e.kind == "container"
        && e.bundle_exists == Some(false)
        && !e.hook_alive
        && Proxy::of(e.pid.unwrap_or(0), e.pid_start.unwrap_or(0), &e.id).dead();
    let leftover = matches!(e.kind.as_str(), "no-state" | "creating")
        && !e.locked
        && e.age_seconds.is_some_and(|a| a > PRUNE_GRACE_SECS);
    if !dead_container && !leftover {
        return;
    }
    let result = if e.kind == "creating" {
        remove_creating(dir, &e.id)
    } else {
        remove_entry(dir, &e.id, dead_container)
    };
    match result {
        Ok(true) => {
            e.pruned = true;
            e.broken = false;
            pruned.push(e.path.clone());
        }
        Ok(false) => {}
        Err(err) => {
            e.problems.push(format!("cannot prune: {}", err.msg));
            e.broken = true;
        }
    }
}

/// Removes `<root>/<id>` if, under its lock, it is still dead (or still has
/// no state). Ok(false) when it is locked or no longer qualifies.
fn remove_entry(dir: &Path, id: &str, had_state: bool) -> Result<bool> {
    let root = Root::open(dir, false)?;
    let c = match root.open_container(id, Lock::TryExclusive)? {
        Opened::Found(c) => c,
        Opened::Missing | Opened::Busy => return Ok(false),
    };
    let still_dead = match c.read() {
        Ok(Some(rec)) if had_state => {
            !rec.proxy_alive() && !rec.hook_alive() && !bundle_exists(&rec.bundle)
        }
        Ok(None) => !had_state,
        _ => false,
    };
    if !still_dead {
        return Ok(false);
    }
    c.remove()?;
    Ok(true)
}

/// Removes an unlocked `.creating-*` directory (create's temporary name,
/// which `Root` does not open).
fn remove_creating(dir: &Path, name: &str) -> Result<bool> {
    let fail = |e: std::io::Error| Error::io(format!("cannot remove {}/{name}", dir.display()), &e);
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;
    let root = sys::openat(libc::AT_FDCWD, &sys::cstring(dir)?, flags, 0).map_err(fail)?;
    let cname = sys::cstring(name)?;
    let fd = match sys::openat(root.as_raw_fd(), &cname, flags, 0) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(false),
        Err(e) => return Err(fail(e)),
    };
    match sys::flock(fd.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => return Ok(false),
        Err(e) => return Err(fail(e)),
    }
    // Still the directory we locked, not a new one under the same name?
    match (
        sys::lstatat(root.as_raw_fd(), &cname),
        sys::fstat(fd.as_raw_fd()),
    ) {
        (Ok(a), Ok(b)) if sys::same_file(&a, &b) => {}
        _ => return Ok(false),
    }
    if let Ok(list) = std::fs::read_dir(dir.join(name)) {
        for entry in list.flatten() {
            if let Ok(n) = sys::cstring(entry.file_name()) {
                let _ = sys::unlinkat(fd.as_raw_fd(), &n, 0);
            }
        }
    }
    sys::unlinkat(root.as_raw_fd(), &cname, libc::AT_REMOVEDIR).map_err(fail)?;
    let _ = sys::fsync(root.as_raw_fd());
    Ok(true)
}

/// The human form: per root a header line, an aligned table and, under each
/// entry, its bundle and its problems.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    for (i, root) in r.roots.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let entries: Vec<&Entry> = r.entries.iter().filter(|e| e.root == root.path).collect();
        out += &format!("root {}", root.path);
        if let Some(err) = &root.error {
            out += &format!(": {err}\n");
            continue;
        }
        match entries.len() {
            0 => out += ": no entries",
            1 => out += ": 1 entry",
            n => out += &format!(": {n} entries"),
        }
        if root.other_runtime > 0 {
            out += &format!(" ({} of other runtimes not shown)", root.other_runtime);
        }
        out.push('\n');
        if !entries.is_empty() {
            out += &entry_table(&entries);
        }
    }
    let removed: Vec<&Entry> = r.entries.iter().filter(|e| e.pruned).collect();
    if !removed.is_empty() {
        out.push('\n');
        for e in removed {
            out += &format!("pruned {}\n", e.path);
        }
    }
    if r.broken > 0 {
        out += &format!(
            "\n{} broken {}\n",
            r.broken,
            if r.broken == 1 { "entry" } else { "entries" }
        );
    }
    out
}

const HEADER: [&str; 7] = ["ID", "STATUS", "REAL", "PID", "AGE", "CLASS", "KERNEL"];

fn entry_table(entries: &[&Entry]) -> String {
    let mut rows: Vec<[String; 7]> = entries.iter().map(|e| row(e)).collect();
    // Everything but KERNEL has a bounded width; KERNEL gets what is left.
    let used: usize = (0..6)
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([HEADER[c].len()])
                .max()
                .unwrap_or(0)
                + 3
        })
        .sum();
    let budget = WIDTH.saturating_sub(used).max(HEADER[6].len());
    for r in &mut rows {
        r[6] = shorten_right(&r[6], budget);
    }
    let text = crate::runtime::query::table(&HEADER, &rows);
    let mut out = String::new();
    let mut lines = text.lines();
    if let Some(header) = lines.next() {
        out += header;
        out.push('\n');
    }
    for (line, e) in lines.zip(entries) {
        out += line;
        out.push('\n');
        out += &details(e);
    }
    out
}

fn row(e: &Entry) -> [String; 7] {
    let dash = || "-".to_string();
    let pid = match (e.pid, e.proxy.as_str()) {
        (Some(p), "alive") => p.to_string(),
        (Some(p), "pid reused") => format!("{p} reused"),
        (Some(p), state) if p > 0 => format!("{p} {state}"),
        _ => dash(),
    };
    let kernel = match (&e.kernel_version, &e.kernel_abi_id) {
        (Some(v), Some(a)) => format!("{v}/{a}"),
        (Some(v), None) => v.clone(),
        (None, Some(a)) => format!("-/{a}"),
        (None, None) => dash(),
    };
    let status = if e.pruned {
        "pruned".to_string()
    } else if e.broken && e.status == "unknown" {
        "broken".to_string()
    } else {
        e.status.clone()
    };
    [
        shorten_id(&e.id),
        e.recorded_status.clone().unwrap_or_else(dash),
        status,
        pid,
        e.age_seconds.map_or_else(dash, age),
        e.class
            .as_deref()
            .map_or_else(dash, |c| shorten_right(c, 10)),
        kernel,
    ]
}

/// The lines under an entry's row: its bundle and what is wrong with it.
fn details(e: &Entry) -> String {
    let mut out = String::new();
    if let Some(b) = &e.bundle {
        let suffix = if e.bundle_exists == Some(false) {
            " (missing)"
        } else {
            ""
        };
        let room = WIDTH - "  bundle ".len() - suffix.len();
        out += &format!("  bundle {}{suffix}\n", shorten_left(b, room));
    }
    if e.locked {
        out += "  locked by a runtime command in progress\n";
    }
    for p in &e.problems {
        out += &format!("  ! {}\n", shorten_right(p, WIDTH - 4));
    }
    out
}

/// `5s`, `3m`, `2h`, `4d`.
pub fn age(secs: i64) -> String {
    match secs.max(0) {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// The first 12 characters, as Docker shows IDs.
pub fn shorten_id(id: &str) -> String {
    id.chars().take(12).collect()
}

/// `...` and the end of `s`, in at most `max` characters.
pub fn shorten_left(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    let keep = max.saturating_sub(3);
    let tail: String = s.chars().skip(n - keep).collect();
    format!("...{tail}")
}

/// The start of `s` and `...`, in at most `max` characters.
pub fn shorten_right(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let head: String = s.chars().take(max.saturating_sub(3)).collect();
    format!("{head}...")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_use_the_largest_whole_unit() {
        assert_eq!(age(5), "5s");
        assert_eq!(age(59), "59s");
        assert_eq!(age(180), "3m");
        assert_eq!(age(7200), "2h");
        assert_eq!(age(4 * 86_400 + 5), "4d");
        assert_eq!(age(-3), "0s");
    }

    #[test]
    fn long_ids_and_paths_are_shortened_to_fit() {
        assert_eq!(shorten_id("0123456789abcdef"), "0123456789ab");
        assert_eq!(shorten_id("short"), "short");
        assert_eq!(shorten_left("/a/b/c", 10), "/a/b/c");
        assert_eq!(shorten_left("/run/containerd/x/bundle", 12), ".../x/bundle");
        assert_eq!(shorten_right("6.1.77-v8 abi 12345", 10), "6.1.77-...");
    }

    #[test]
    fn proc_locks_lines_give_device_and_inode_of_holders_only() {
        let text = "1: FLOCK  ADVISORY  WRITE 16072 fe:00:10020028 0 EOF\n\
                    2: -> FLOCK  ADVISORY  WRITE 16073 fe:01:77 0 EOF\n\
                    3: OFDLCK ADVISORY  READ -1 00:1a3:3 0 EOF\n\
                    garbage\n";
        let locks = parse_locks(text);
        assert!(locks.contains(&(0xfe, 0, 10020028)));
        assert!(!locks.contains(&(0xfe, 1, 77)));
        assert!(locks.contains(&(0, 0x1a3, 3)));
        assert_eq!(locks.len(), 2);
    }

    #[test]
    fn lock_keys_match_what_proc_locks_says_for_a_held_flock() {
        let dir = std::env::temp_dir().join(format!("ber-dump-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = std::fs::File::open(&dir).unwrap();
        sys::flock(f.as_raw_fd(), libc::LOCK_EX).unwrap();
        let meta = std::fs::metadata(&dir).unwrap();
        assert!(held_locks().contains(&lock_key(meta.dev(), meta.ino())));
        drop(f);
        assert!(!held_locks().contains(&lock_key(meta.dev(), meta.ino())));
        std::fs::remove_dir(&dir).unwrap();
    }

    #[test]
    fn globs_match_one_component() {
        assert!(glob_match("runtime-*", "runtime-runc"));
        assert!(!glob_match("runtime-*", "containerd"));
        assert!(glob_match("*", "moby"));
        assert!(!glob_match("*", ".hidden"));
        assert!(glob_match("moby", "moby"));
        assert!(expand("/proc/self/fd").len() == 1);
        assert!(expand("/nonexistent-ber/*").is_empty());
    }

    #[test]
    fn real_status_agrees_with_the_record() {
        assert_eq!(real_status("created", true, false), "created");
        assert_eq!(real_status("created", false, false), "stopped");
        assert_eq!(real_status("running", false, true), "running");
        assert_eq!(real_status("running", false, false), "stopped");
        assert_eq!(real_status("stopped", true, false), "stopped");
    }

    #[test]
    fn a_wrong_start_time_or_argument_means_the_pid_was_reused() {
        let me = sys::getpid();
        let start = crate::proc::stat(me).unwrap().start;
        let arg = std::env::args().nth(1).unwrap_or_default();
        assert!(Proxy::of(me, start, &arg) == Proxy::Alive);
        assert!(Proxy::of(me, start + 1, &arg) == Proxy::Reused);
        assert!(Proxy::of(me, start, "not-our-argument") == Proxy::Reused);
        assert!(Proxy::of(0, 0, "x") == Proxy::None);
    }
}
