//! `state-dump`: listing state roots with live, stopped, stale, reused-PID
//! and broken entries, in both output forms, and `--prune`.

mod common;

use common::*;
use std::fs;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use miniserde::json::{Number, Object, Value};
use miniserde::Deserialize;

const LABELS: &str = "\"io.balena.image.class\":\"overlay\",\
    \"io.balena.image.kernel-version\":\"6.1.77\",\"io.balena.image.kernel-abi-id\":\"abi7\"";

fn dump(args: &[&str]) -> Output {
    dump_env(args, &[])
}

fn dump_env(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut c = Command::new(binary());
    c.arg("state-dump").args(args).stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// A process's start time, as /proc/PID/stat field 22.
fn start_time(pid: i32) -> u64 {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    s[s.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .nth(19)
        .unwrap()
        .parse()
        .unwrap()
}

fn process_state(pid: i32) -> char {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    s.rfind(')')
        .and_then(|i| s[i + 2..].chars().next())
        .unwrap_or('?')
}

/// A PID that belonged to a process which has exited and been reaped.
fn dead_pid() -> i32 {
    let mut c = Command::new("true").spawn().unwrap();
    let pid = c.id() as i32;
    c.wait().unwrap();
    pid
}

/// An flock held on a directory until dropped, as a runtime command holds
/// a container's lock.
struct Held {
    _file: fs::File,
}

fn hold_lock(dir: &Path) -> Held {
    let f = fs::File::open(dir).unwrap();
    // SAFETY: flock on a descriptor we own.
    let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    assert_eq!(r, 0, "cannot lock {}", dir.display());
    Held { _file: f }
}

fn set_age(path: &Path, secs: u64) {
    fs::File::open(path)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(secs))
        .unwrap();
}

/// A state root with one real container (created by the runtime, its proxy
/// alive) and synthetic entries derived from its state.json.
struct Fixture {
    t: TempDir,
    rt: Runtime,
    root: PathBuf,
    /// The live container's bundle.
    bundle: PathBuf,
    /// A bundle directory that stays, for synthetic entries.
    kept: PathBuf,
    template: Object,
    live_pid: i32,
    children: Vec<Child>,
}

impl Fixture {
    fn new(tag: &str) -> Fixture {
        let t = TempDir::new(tag);
        let rt = Runtime::new(t.path());
        let bundle = common::bundle(t.path(), LABELS);
        let c = rt.create(&bundle, "live", &[]);
        assert!(c.ok, "create failed: {}", c.stderr);
        let live_pid = c.pid.expect("pid file");
        let root = rt.root.clone();
        let text = fs::read_to_string(root.join("live/state.json")).unwrap();
        let template: Object = miniserde::json::from_str(&text).unwrap();
        let kept = t.join("kept-bundle");
        fs::create_dir(&kept).unwrap();
        Fixture {
            t,
            rt,
            root,
            bundle,
            kept,
            template,
            live_pid,
            children: Vec::new(),
        }
    }

    fn root(&self) -> &str {
        self.root.to_str().unwrap()
    }

    /// Writes `<root>/<id>/state.json` like the live one, with these fields.
    fn entry(&self, id: &str, status: &str, pid: i32, start: u64, bundle: &Path) -> PathBuf {
        let mut rec = self.template.clone();
        rec.insert("id".into(), Value::String(id.into()));
        rec.insert("status".into(), Value::String(status.into()));
        rec.insert("pid".into(), Value::Number(Number::I64(pid.into())));
        rec.insert("pidStartTime".into(), Value::Number(Number::U64(start)));
        rec.insert(
            "bundle".into(),
            Value::String(bundle.to_str().unwrap().into()),
        );
        let dir = self.root.join(id);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("state.json"), miniserde::json::to_string(&rec)).unwrap();
        dir
    }

    /// A live process that is not the proxy (`sleep`), killed at the end.
    fn sleeper(&mut self) -> i32 {
        let c = Command::new("sleep").arg("60").spawn().unwrap();
        let pid = c.id() as i32;
        self.children.push(c);
        pid
    }

    /// A child that has exited but is not reaped: a zombie.
    fn zombie(&mut self) -> (i32, u64) {
        let c = Command::new("sleep").arg("0.2").spawn().unwrap();
        let pid = c.id() as i32;
        let start = start_time(pid);
        self.children.push(c);
        assert!(eventually(10, || process_state(pid) == 'Z'));
        (pid, start)
    }

    /// live, stopped, stale, reused and zombie entries: all sound.
    fn sound(&mut self) {
        self.entry("stopped", "stopped", 0, 0, &self.kept);
        self.entry("stale", "created", dead_pid(), 12345, &self.kept);
        let sleeper = self.sleeper();
        self.entry(
            "reused",
            "created",
            sleeper,
            start_time(sleeper) + 1,
            &self.kept,
        );
        let (zpid, zstart) = self.zombie();
        self.entry("zombie", "created", zpid, zstart, &self.kept);
    }

    /// corrupt JSON, a leftover temp file, an empty directory, a missing
    /// bundle, a symlink and an unfinished create.
    fn broken(&self) {
        let dir = self.root.join("corrupt");
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join("state.json"),
            "{\"ociVersion\":\"1.0.2\",\"id\":\"corr",
        )
        .unwrap();
        let dir = self.entry("tmpleft", "stopped", 0, 0, &self.kept);
        fs::write(dir.join("state.json.tmp"), "{\"ociVer").unwrap();
        fs::create_dir_all(self.root.join("empty")).unwrap();
        self.entry("nobundle", "stopped", 0, 0, &self.t.join("gone"));
        std::os::unix::fs::symlink(self.t.path(), self.root.join("link")).unwrap();
        fs::create_dir_all(self.root.join(".creating-1-2")).unwrap();
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        // SAFETY: kill and waitpid on the proxy, orphaned to us (subreaper).
        unsafe {
            libc::kill(self.live_pid, libc::SIGKILL);
            libc::waitpid(self.live_pid, std::ptr::null_mut(), 0);
        }
    }
}

/// The table row of `id` and the detail lines under it.
fn section<'a>(out: &'a str, id: &str) -> Vec<&'a str> {
    let mut lines = out
        .lines()
        .skip_while(|l| !l.starts_with(&format!("{id} ")));
    let mut found: Vec<&str> = lines.next().into_iter().collect();
    assert!(!found.is_empty(), "no row for {id} in:\n{out}");
    found.extend(lines.take_while(|l| l.starts_with("  ")));
    found
}

fn cells(line: &str) -> Vec<&str> {
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

#[test]
fn table_shows_recorded_and_real_status_of_sound_entries_and_exits_0() {
    let mut f = Fixture::new("dump-sound");
    f.sound();
    let o = dump(&["--root", f.root()]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    assert!(out.starts_with(&format!("root {}\n", f.root())), "{out}");
    assert!(out.ends_with("\n5 entries\n"), "{out}");
    assert_eq!(
        cells(out.lines().nth(1).unwrap()),
        ["ID", "STATUS", "REAL", "PID", "AGE", "CLASS", "KERNEL"]
    );

    let live = section(&out, "live");
    let c = cells(live[0]);
    assert_eq!(
        c[..4],
        ["live", "created", "created", &f.live_pid.to_string()]
    );
    assert!(
        c[4].ends_with('s'),
        "a fresh container's age is in seconds: {}",
        c[4]
    );
    assert_eq!(c[5..], ["overlay", "6.1.77/abi7"]);
    assert_eq!(live[1], format!("  bundle {}", f.bundle.display()));

    assert_eq!(
        cells(section(&out, "stopped")[0])[1..4],
        ["stopped", "stopped", "-"]
    );
    let stale = cells(section(&out, "stale")[0]);
    assert_eq!(stale[1..3], ["created", "stopped"]);
    assert!(stale[3].ends_with(" gone"), "{}", stale[3]);
    let reused = cells(section(&out, "reused")[0]);
    assert_eq!(reused[1..3], ["created", "stopped"]);
    assert!(reused[3].ends_with(" reused"), "{}", reused[3]);
    let zombie = cells(section(&out, "zombie")[0]);
    assert_eq!(zombie[1..3], ["created", "stopped"]);
    assert!(zombie[3].ends_with(" zombie"), "{}", zombie[3]);
    assert!(!out.contains("broken"), "{out}");
}

#[test]
fn broken_entries_are_reported_not_fatal_and_exit_1() {
    let mut f = Fixture::new("dump-broken");
    f.sound();
    f.broken();
    let o = dump(&["--root", f.root()]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{}", stderr(&o));
    assert!(
        stderr(&o).is_empty(),
        "findings go to stdout: {}",
        stderr(&o)
    );
    assert!(out.contains("\n11 entries\n"), "{out}");
    let corrupt = section(&out, "corrupt");
    assert_eq!(cells(corrupt[0])[1..3], ["-", "broken"]);
    assert_eq!(
        corrupt[1],
        "  ! state.json is not valid JSON (truncated or corrupt)"
    );
    assert_eq!(
        section(&out, "tmpleft")[2],
        "  ! state.json.tmp left over by an interrupted write"
    );
    assert_eq!(
        section(&out, "empty")[1],
        "  ! no state.json: left over by an interrupted create"
    );
    let nobundle = section(&out, "nobundle");
    assert!(nobundle[1].ends_with("/gone (missing)"), "{}", nobundle[1]);
    assert_eq!(nobundle[2], "  ! bundle no longer exists");
    assert_eq!(
        section(&out, "link")[1],
        "  ! a symlink where a directory should be"
    );
    assert_eq!(
        section(&out, ".creating-1-")[1],
        "  ! left over by a create that never finished"
    );
    assert!(out.ends_with("\n6 broken entries\n"), "{out}");
    // The sound ones are still listed in full.
    assert_eq!(cells(section(&out, "live")[0])[2], "created");
}

#[test]
fn table_fits_80_columns_with_long_ids_and_bundle_paths() {
    let f = Fixture::new("dump-wide");
    let id = "0123456789abcdef".repeat(4);
    let deep =
        f.t.join(&("long-directory-name/".repeat(7) + "long-directory-name"));
    fs::create_dir_all(&deep).unwrap();
    f.entry(&id, "stopped", 0, 0, &deep);
    let o = dump(&["--root", f.root()]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    for line in out.lines() {
        assert!(line.chars().count() <= 80, "wider than 80: {line}");
    }
    let rows = section(&out, "0123456789ab");
    assert!(!out.contains(&id), "IDs are shortened like Docker's: {out}");
    assert!(rows[1].starts_with("  bundle ...") && rows[1].ends_with("long-directory-name"));
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Doc {
    roots: Vec<RootDoc>,
    entries: Vec<EntryDoc>,
    broken: u64,
    pruned: Vec<String>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct RootDoc {
    path: String,
    error: Option<String>,
    entries: u64,
    #[serde(rename = "otherRuntime")]
    other_runtime: u64,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct EntryDoc {
    root: String,
    id: String,
    path: String,
    kind: String,
    #[serde(rename = "recordedStatus")]
    recorded_status: Option<String>,
    status: String,
    proxy: String,
    pid: Option<i32>,
    #[serde(rename = "pidStartTime")]
    pid_start: Option<u64>,
    #[serde(rename = "ageSeconds")]
    age_seconds: Option<i64>,
    bundle: Option<String>,
    #[serde(rename = "bundleExists")]
    bundle_exists: Option<bool>,
    class: Option<String>,
    #[serde(rename = "kernelVersion")]
    kernel_version: Option<String>,
    #[serde(rename = "kernelAbiId")]
    kernel_abi_id: Option<String>,
    locked: bool,
    #[serde(rename = "tempFile")]
    temp_file: bool,
    broken: bool,
    problems: Vec<String>,
    pruned: bool,
}

fn parse_doc(o: &Output) -> Doc {
    miniserde::json::from_str(&stdout(o))
        .unwrap_or_else(|_| panic!("not a state-dump document:\n{}", stdout(o)))
}

fn find<'a>(doc: &'a Doc, id: &str) -> &'a EntryDoc {
    doc.entries
        .iter()
        .find(|e| e.id == id)
        .unwrap_or_else(|| panic!("no entry {id}"))
}

/// The documented field names, in order: the document is an interface.
const ENTRY_FIELDS: &[&str] = &[
    "root",
    "id",
    "path",
    "kind",
    "recordedStatus",
    "status",
    "proxy",
    "pid",
    "pidStartTime",
    "hookPid",
    "hookAlive",
    "created",
    "ageSeconds",
    "bundle",
    "bundleExists",
    "class",
    "kernelVersion",
    "kernelAbiId",
    "exitCode",
    "locked",
    "tempFile",
    "broken",
    "problems",
    "pruned",
];

#[test]
fn json_document_has_stable_fields_and_the_same_verdicts() {
    let mut f = Fixture::new("dump-json");
    f.sound();
    f.broken();
    let o = dump(&["--root", f.root(), "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o);
    assert!(
        text.starts_with("{\n  \"entries\": [\n    {\n      \"root\": "),
        "pretty-printed: {text}"
    );
    let doc = parse_doc(&o);
    assert_eq!(doc.roots.len(), 1);
    assert_eq!(doc.roots[0].path, f.root());
    assert!(doc.roots[0].error.is_none());
    assert_eq!(doc.roots[0].entries, 11);
    assert_eq!(doc.roots[0].other_runtime, 0);
    assert_eq!(doc.broken, 6);
    assert!(doc.pruned.is_empty());

    let live = find(&doc, "live");
    assert_eq!(live.root, f.root());
    assert_eq!(live.path, format!("{}/live", f.root()));
    assert_eq!(live.kind, "container");
    assert_eq!(live.recorded_status.as_deref(), Some("created"));
    assert_eq!(
        (live.status.as_str(), live.proxy.as_str()),
        ("created", "alive")
    );
    assert_eq!(live.pid, Some(f.live_pid));
    assert_eq!(live.pid_start, Some(start_time(f.live_pid)));
    assert!(live.age_seconds.is_some_and(|a| (0..600).contains(&a)));
    assert_eq!(live.bundle.as_deref(), f.bundle.to_str());
    assert_eq!(live.bundle_exists, Some(true));
    assert_eq!(live.class.as_deref(), Some("overlay"));
    assert_eq!(live.kernel_version.as_deref(), Some("6.1.77"));
    assert_eq!(live.kernel_abi_id.as_deref(), Some("abi7"));
    assert!(!live.broken && !live.locked && !live.temp_file && !live.pruned);
    assert!(live.problems.is_empty());

    for (id, proxy) in [
        ("stale", "gone"),
        ("reused", "pid reused"),
        ("zombie", "zombie"),
    ] {
        let e = find(&doc, id);
        assert_eq!(
            (e.status.as_str(), e.proxy.as_str()),
            ("stopped", proxy),
            "{id}"
        );
        assert!(
            !e.broken,
            "{id}: a stopped container awaiting delete is sound"
        );
    }
    assert_eq!(find(&doc, "stopped").proxy, "none");
    for (id, kind) in [
        ("corrupt", "unreadable"),
        ("tmpleft", "container"),
        ("empty", "no-state"),
        ("nobundle", "container"),
        ("link", "symlink"),
        (".creating-1-2", "creating"),
    ] {
        let e = find(&doc, id);
        assert_eq!(e.kind, kind, "{id}");
        assert!(e.broken && !e.problems.is_empty(), "{id} is broken");
    }
    assert!(find(&doc, "tmpleft").temp_file);
    assert_eq!(find(&doc, "nobundle").bundle_exists, Some(false));
    let corrupt = find(&doc, "corrupt");
    assert_eq!((corrupt.status.as_str(), corrupt.pid), ("unknown", None));

    let raw: Object = miniserde::json::from_str(&text).unwrap();
    let Some(Value::Array(entries)) = raw.get("entries") else {
        panic!("no entries array")
    };
    for e in entries {
        let Value::Object(e) = e else {
            panic!("entry is not an object")
        };
        let keys: Vec<&str> = e.keys().map(String::as_str).collect();
        let mut want = ENTRY_FIELDS.to_vec();
        want.sort();
        assert_eq!(keys, want, "every entry has every field, null when unknown");
    }
    let first = &text[text.find("\"entries\": [").unwrap()..];
    let rendered: Vec<usize> = ENTRY_FIELDS
        .iter()
        .map(|k| first.find(&format!("\"{k}\": ")).unwrap())
        .collect();
    assert!(
        rendered.windows(2).all(|w| w[0] < w[1]),
        "fields in documented order"
    );
}

#[test]
fn prune_removes_only_provably_dead_entries() {
    let mut f = Fixture::new("dump-prune");
    let gone = f.t.join("gone");
    f.entry("stale-gone", "created", dead_pid(), 12345, &gone);
    let sleeper = f.sleeper();
    f.entry(
        "reused-gone",
        "running",
        sleeper,
        start_time(sleeper) + 1,
        &gone,
    );
    f.entry("stopped-gone", "stopped", 0, 0, &gone);
    f.entry("stale-kept", "created", dead_pid(), 12345, &f.kept);
    let (zpid, zstart) = f.zombie();
    f.entry("zombie-gone", "created", zpid, zstart, &gone);
    let locked = f.entry("locked-gone", "stopped", 0, 0, &gone);
    f.broken();
    fs::remove_dir_all(f.root.join("link")).ok();
    fs::remove_file(f.root.join("link")).ok();
    fs::create_dir(f.root.join("old-empty")).unwrap();
    set_age(&f.root.join("old-empty"), 120);
    set_age(&f.root.join(".creating-1-2"), 120);
    let busy_creating = f.root.join(".creating-3-4");
    fs::create_dir(&busy_creating).unwrap();
    set_age(&busy_creating, 120);
    let _held = (hold_lock(&locked), hold_lock(&busy_creating));
    // The live container loses its bundle: still never pruned.
    fs::remove_dir_all(&f.bundle).unwrap();

    let o = dump(&["--root", f.root(), "--prune"]);
    let out = stdout(&o);
    let removed = [
        "stale-gone",
        "reused-gone",
        "stopped-gone",
        "nobundle",
        "old-empty",
        ".creating-1-2",
    ];
    for id in removed {
        assert!(!f.root.join(id).exists(), "{id} pruned:\n{out}");
        assert!(
            out.contains(&format!("\npruned {}/{id}\n", f.root())),
            "prints what it removed: {id}\n{out}"
        );
    }
    for id in [
        "live",
        "stale-kept",
        "zombie-gone",
        "locked-gone",
        "corrupt",
        "tmpleft",
        "empty",
        ".creating-3-4",
    ] {
        assert!(f.root.join(id).exists(), "{id} kept:\n{out}");
    }
    assert_eq!(out.matches("\npruned ").count(), removed.len(), "{out}");
    assert!(
        f.rt.status("live") == "created",
        "the live container is untouched"
    );
    // Still broken: live, zombie-gone and locked-gone (bundles gone),
    // corrupt, tmpleft, empty.
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.ends_with("\n6 broken entries\n"), "{out}");

    let o = dump(&["--root", f.root(), "--prune", "--json"]);
    let doc = parse_doc(&o);
    assert!(doc.pruned.is_empty(), "nothing more to prune");
    assert!(find(&doc, "locked-gone").locked);
    assert_eq!(find(&doc, ".creating-3-4").status, "creating");
}

#[test]
fn prune_with_ids_touches_only_those() {
    let f = Fixture::new("dump-prune-ids");
    let gone = f.t.join("gone");
    f.entry("dead-a", "stopped", 0, 0, &gone);
    f.entry("dead-b", "stopped", 0, 0, &gone);
    let o = dump(&["--root", f.root(), "--prune", "dead-a"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(!f.root.join("dead-a").exists());
    assert!(f.root.join("dead-b").exists());
}

#[test]
fn a_held_lock_never_blocks_the_listing() {
    let f = Fixture::new("dump-lock");
    fs::create_dir(f.root.join("empty")).unwrap();
    let _held = (
        hold_lock(&f.root.join("live")),
        hold_lock(&f.root.join("empty")),
    );
    let start = Instant::now();
    let mut child = Command::new(binary())
        .args(["state-dump", "--root", f.root()])
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let done = eventually(10, || child.try_wait().unwrap().is_some());
    if !done {
        let _ = child.kill();
    }
    let o = child.wait_with_output().unwrap();
    assert!(done, "state-dump waited for a lock");
    assert!(start.elapsed() < bound(Duration::from_secs(10)));
    let out = stdout(&o);
    assert_eq!(
        o.status.code(),
        Some(0),
        "a create in progress is not broken: {out}"
    );
    assert!(section(&out, "live").contains(&"  locked by a runtime command in progress"));
    assert_eq!(cells(section(&out, "empty")[0])[2], "creating");
}

#[test]
fn ids_select_entries_by_id_or_prefix_and_unknown_ones_fail() {
    let mut f = Fixture::new("dump-ids");
    f.sound();
    let o = dump(&["--root", f.root(), "live"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        out.ends_with("\n1 entry\n") && out.contains("\nlive "),
        "{out}"
    );
    assert!(!out.contains("\nstopped "), "{out}");

    let o = dump(&["--root", f.root(), "--json", "st", "reused"]);
    let doc = parse_doc(&o);
    let mut ids: Vec<&str> = doc.entries.iter().map(|e| e.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["reused", "stale", "stopped"]);

    let o = dump(&["--root", f.root(), "live", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "state-dump: no entry matches \"nope\"\n");
}

#[test]
fn runs_under_its_own_name_and_refuses_bad_usage_with_2() {
    let f = Fixture::new("dump-name");
    let bin = f.t.join("bin");
    fs::create_dir(&bin).unwrap();
    install(&bin);
    let o = run(&bin.join("state-dump"), &["--root", f.root()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("\nlive "), "{}", stdout(&o));

    let o = run(&bin.join("state-dump"), &["--bogus"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).starts_with("state-dump: "), "{}", stderr(&o));
    let o = run(&bin.join("state-dump"), &["--root"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&bin.join("state-dump"), &["--help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).starts_with("Usage: state-dump"));
}

#[test]
fn all_roots_adds_the_default_root_and_labels_entries_with_their_root() {
    let f = Fixture::new("dump-roots");
    let xdg = f.t.join("xdg");
    let default = xdg.join("balena-extension-runtime");
    fs::create_dir_all(default.join("other")).unwrap();
    fs::write(
        default.join("other/state.json"),
        fs::read(f.root.join("live/state.json")).unwrap(),
    )
    .unwrap();
    let env = [("XDG_RUNTIME_DIR", xdg.as_path())];

    let o = dump_env(&["--json"], &env);
    let doc = parse_doc(&o);
    assert_eq!(doc.roots.len(), 1, "without options: the default root only");
    assert_eq!(doc.roots[0].path, default.to_str().unwrap());
    assert_eq!(
        find(&doc, "other").problems,
        ["its state.json names container \"live\""]
    );

    let o = dump_env(&["--all-roots", "--json", "--root", f.root()], &env);
    let doc = parse_doc(&o);
    let paths: Vec<&str> = doc.roots.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths[..2], [f.root(), default.to_str().unwrap()]);
    assert_eq!(find(&doc, "live").root, f.root());
    assert_eq!(find(&doc, "other").root, default.to_str().unwrap());

    let o = dump_env(&["--all-roots", "--root", f.root()], &env);
    let out = stdout(&o);
    // One block per root, each ending with its count.
    let first = format!("root {}\n", f.root());
    let second = format!("\n1 entry\n\nroot {}\n", default.display());
    assert!(out.starts_with(&first), "{out}");
    assert!(out.contains(&second), "{out}");
    assert!(out.ends_with("\n1 entry\n\n1 broken entry\n"), "{out}");
}

#[test]
fn other_runtimes_entries_are_skipped_not_broken() {
    let f = Fixture::new("dump-foreign");
    let runc = f.root.join("runcbox");
    fs::create_dir(&runc).unwrap();
    fs::write(
        runc.join("state.json"),
        "{\"id\":\"runcbox\",\"init_process_pid\":1,\"init_process_start\":2,\"config\":{}}",
    )
    .unwrap();
    let crun = f.root.join("crunbox");
    fs::create_dir(&crun).unwrap();
    fs::write(crun.join("status"), "{}").unwrap();
    let o = dump(&["--root", f.root(), "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let doc = parse_doc(&o);
    assert_eq!(doc.roots[0].other_runtime, 2);
    assert_eq!(doc.entries.len(), 1);
    let o = dump(&["--root", f.root(), "--prune"]);
    assert!(stdout(&o).contains("(2 of other runtimes not shown)"));
    assert!(runc.exists() && crun.exists());
}

#[test]
fn a_missing_or_unusable_root_is_reported() {
    let t = TempDir::new("dump-noroot");
    let missing = t.join("missing");
    let o = dump(&["--root", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        stdout(&o),
        format!("root {}: no entries\n", missing.display())
    );

    let open = t.join("open");
    fs::create_dir(&open).unwrap();
    fs::set_permissions(&open, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let o = dump(&["--root", open.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let doc = parse_doc(&o);
    assert!(doc.roots[0]
        .error
        .as_deref()
        .unwrap()
        .contains("writable by everyone"));
}

#[test]
fn a_thousand_entries_are_all_listed() {
    let t = TempDir::new("dump-many");
    let root = t.join("root");
    let bundle = common::bundle(t.path(), LABELS);
    fs::create_dir(&root).unwrap();
    for i in 0..1000 {
        let id = format!("c{i:04}");
        fs::create_dir(root.join(&id)).unwrap();
        fs::write(
            root.join(&id).join("state.json"),
            format!(
                "{{\"ociVersion\":\"1.0.2\",\"id\":\"{id}\",\"status\":\"created\",\"pid\":{},\
                 \"pidStartTime\":1,\"bundle\":\"{}\",\"rootfs\":\"\",\
                 \"created\":\"2026-01-01T00:00:00.000000000Z\",\"owner\":\"\",\"annotations\":{{}},\
                 \"labels\":{{{LABELS}}},\"labelSource\":\"annotations\",\"mounts\":[],\"exitCode\":0,\
                 \"hookPid\":0,\"hookStartTime\":0,\"deleteHookStarted\":false}}",
                i + 2,
                bundle.display()
            ),
        )
        .unwrap();
    }
    let o = dump(&["--root", root.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(parse_doc(&o).entries.len(), 1000);
    let o = dump(&["--root", root.to_str().unwrap()]);
    let out = stdout(&o);
    // Heading, column titles, a row and a bundle line per entry, the count.
    assert_eq!(out.lines().count(), 1 + 1 + 2000 + 1);
    assert!(out.ends_with("\n1000 entries\n"));
}

#[test]
fn a_reader_that_stops_early_does_not_crash_it() {
    let t = TempDir::new("dump-pipe");
    let root = t.join("root");
    fs::create_dir(&root).unwrap();
    for i in 0..2000 {
        fs::create_dir(root.join(format!("leftover-{i:04}"))).unwrap();
    }
    let mut child = Command::new(binary())
        .args(["state-dump", "--root", root.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert_eq!(&first[..5], b"root ");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
}
