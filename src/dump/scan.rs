//! Reading a state root: one `Entry` per directory entry, with what its
//! state says and what is really true, without taking any lock.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use miniserde::Serialize;

use super::CREATING_PREFIX;
use crate::error::{Error, Result};
use crate::labels;
use crate::state::{self, real_status, Lock, Opened, Proxy, Record, Root};
use crate::sys;

/// What an interrupted atomic write leaves behind.
pub const TEMP_FILE: &str = "state.json.tmp";

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

/// Reads the entries of one root in name order and hands each to `found`
/// as soon as it is read. Returns how many entries belong to other runtimes
/// (skipped); fails only when the root itself cannot be used.
pub fn scan_root(dir: &Path, now: i64, mut found: impl FnMut(Entry)) -> Result<usize> {
    if std::fs::symlink_metadata(dir).is_err() {
        return Ok(0);
    }
    let root = Root::open(dir, false)?;
    let list = std::fs::read_dir(dir)
        .map_err(|e| Error::io(format!("cannot list {}", dir.display()), &e))?;
    let mut names: Vec<(String, std::fs::FileType)> = list
        .filter_map(|e| {
            let e = e.ok()?;
            Some((e.file_name().into_string().ok()?, e.file_type().ok()?))
        })
        .filter(|(name, _)| name.starts_with(CREATING_PREFIX) || state::validate_id(name).is_ok())
        .collect();
    sys::sort_by(&mut names, |a, b| a.0 < b.0);
    // After the listing: a create seen in it holds its lock by now.
    let locks = held_locks();
    let mut others = 0;
    for (name, ftype) in names {
        let mut e = Entry::blank(dir, &name);
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
                        others += 1;
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
        found(e);
    }
    Ok(others)
}

enum Read {
    Done,
    Gone,
    Foreign,
    NoState,
}

impl Entry {
    /// An entry known only by its root and name, before anything is read.
    pub fn blank(root: &Path, name: &str) -> Entry {
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
    let proxy = rec.proxy();
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

/// False only when the bundle is certainly gone (not on, say, EACCES).
pub fn bundle_exists(bundle: &str) -> bool {
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
    crate::readfile::small("/proc/locks", 16 << 20)
        .map(|t| parse_locks(&String::from_utf8_lossy(&t)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

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
        // Bounded: a child another test thread forks holds the descriptor
        // (and so the lock) until it execs, which takes longer under qemu.
        let released = (0..500).any(|_| {
            let held = held_locks().contains(&lock_key(meta.dev(), meta.ino()));
            if held {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            !held
        });
        assert!(released, "the lock outlived its descriptor");
        std::fs::remove_dir(&dir).unwrap();
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
        use std::os::unix::process::CommandExt;
        // A stand-in whose command line is a proxy's: `sh` runs the script
        // `c1` (in its directory) with the argument "/run/ber", and waits.
        let dir = std::env::temp_dir().join(format!("ber-proxy-of-{}", sys::getpid()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("c1"), "read line\n").unwrap();
        let mut child = std::process::Command::new("/bin/sh")
            .arg0("balena-extension-proxy")
            .args(["c1", "/run/ber"])
            .current_dir(&dir)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        // Spawning can return before the exec (qemu-user runs vfork as a
        // fork): wait, bounded, for the stand-in's own command line.
        let execd = (0..1000).any(|_| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let done = cmdline.starts_with(b"balena-extension-proxy\0");
            if !done {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            done
        });
        assert!(execd, "the stand-in never ran");
        let start = crate::proc::stat(pid).unwrap().start;
        let root = Some("/run/ber");
        assert!(Proxy::of(pid, start, "c1", root) == Proxy::Alive);
        assert!(Proxy::of(pid, start, "c1", None) == Proxy::Alive);
        assert!(Proxy::of(pid, start + 1, "c1", root) == Proxy::Reused);
        assert!(Proxy::of(pid, start, "c2", root) == Proxy::Reused);
        assert!(Proxy::of(pid, start, "c1", Some("/run/other")) == Proxy::Reused);
        let me = sys::getpid();
        let my_start = crate::proc::stat(me).unwrap().start;
        assert!(Proxy::of(me, my_start, "c1", None) == Proxy::Reused);
        assert!(Proxy::of(0, 0, "x", None) == Proxy::None);
        drop(child.stdin.take());
        child.wait().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
