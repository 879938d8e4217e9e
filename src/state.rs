//! The runtime's state on disk: `<root>/<id>/state.json`.
//!
//! - Writes are crash-safe: temp file, fsync, rename, fsync of the directory.
//!   A reader sees the old state or the new one, never half of one.
//! - Commands on one ID are serialised by an `flock` on its directory.
//!   `create` builds and locks the directory under a temporary name and
//!   renames it into place without replacing anything, so two creates of one
//!   ID cannot both win and no one ever sees an unlocked, empty directory.
//! - Nothing is opened through a symlink: the container directory and its
//!   files are reached with `openat(..., O_NOFOLLOW)` from the root.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use miniserde::{Deserialize, Serialize};

use crate::error::{describe, Error, Result};
use crate::sys;

pub const CREATED: &str = "created";
pub const RUNNING: &str = "running";
pub const STOPPED: &str = "stopped";

pub const STATE_FILE: &str = "state.json";
const TEMP_FILE: &str = "state.json.tmp";
/// `create` builds a container's directory as `.creating-<id>`.
const RESERVATION: &str = ".creating-";
const MAX_STATE_BYTES: u64 = 1 << 20;
/// The longest ID `create` accepts: a directory name is at most NAME_MAX
/// (255) bytes, and the reservation's adds its prefix. Any longer ID can
/// never exist, so every other command answers for it as for any unknown ID.
pub const MAX_ID_BYTES: usize = 255 - RESERVATION.len();

/// Everything later commands need, recorded by `create`: `start`, `kill`
/// and `delete` never read config.json again.
#[derive(Serialize, Deserialize, Clone)]
pub struct Record {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    /// As recorded; see [`Record::live_status`] for the truth.
    pub status: String,
    /// The proxy's PID.
    pub pid: i32,
    /// The proxy's start time (clock ticks since boot), its identity.
    #[serde(rename = "pidStartTime")]
    pub pid_start: u64,
    pub bundle: String,
    pub rootfs: String,
    pub created: String,
    pub owner: String,
    pub annotations: BTreeMap<String, String>,
    /// The `io.balena.image.*` labels, wherever they were found.
    pub labels: BTreeMap<String, String>,
    /// Where they were found: "annotations" or the engine record's path.
    #[serde(rename = "labelSource")]
    pub label_source: String,
    pub mounts: Vec<MountRecord>,
    /// The start hook's verdict, once stopped.
    #[serde(rename = "exitCode")]
    pub exit_code: i32,
    /// The start hook while it runs (its process group leader).
    #[serde(rename = "hookPid")]
    pub hook_pid: i32,
    #[serde(rename = "hookStartTime")]
    pub hook_start: u64,
    /// Set before the delete hook runs, so it runs at most once.
    #[serde(rename = "deleteHookStarted")]
    pub delete_hook_started: bool,
    /// The pid file create was asked for: delete clears what a create
    /// killed while writing it left (its temp file).
    #[serde(rename = "pidFile")]
    pub pid_file: Option<String>,
    /// The state root as the proxy got it (its ROOT argument), part of its
    /// identity. None in a state written before it was recorded.
    #[serde(rename = "proxyRoot")]
    pub proxy_root: Option<String>,
}

#[derive(Serialize, Deserialize, Clone)]
pub struct MountRecord {
    pub destination: String,
    pub source: String,
}

impl Record {
    /// The proxy still runs: same PID, same start time, same ID and root
    /// arguments.
    pub fn proxy_alive(&self) -> bool {
        self.proxy() == Proxy::Alive
    }

    /// What became of the recorded proxy.
    pub fn proxy(&self) -> Proxy {
        Proxy::of(
            self.pid,
            self.pid_start,
            &self.id,
            self.proxy_root.as_deref(),
        )
    }

    /// Signals the proxy, unless it is gone or its PID is someone else's
    /// (then false).
    pub fn signal_proxy(&self, sig: libc::c_int, value: Option<i32>) -> Result<bool> {
        crate::proc::signal(self.pid, &|| self.proxy_alive(), sig, value).map_err(|e| {
            let what = format!(
                "container \"{}\": cannot signal the proxy (pid {})",
                self.id, self.pid
            );
            Error::io(what, &e)
        })
    }

    pub fn hook_alive(&self) -> bool {
        self.hook_pid > 0 && crate::proc::is_alive(self.hook_pid, self.hook_start)
    }

    /// The status as it really is (see [`real_status`]).
    pub fn live_status(&self) -> &'static str {
        real_status(&self.status, self.proxy_alive(), self.hook_alive())
    }
}

/// What became of a recorded proxy.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Proxy {
    Alive,
    /// Exited, not yet reaped by its parent (the shim).
    Zombie,
    Gone,
    /// The PID now belongs to another process (another start time, or not
    /// `balena-extension-proxy ID ROOT`).
    Reused,
    /// No PID recorded.
    None,
}

impl Proxy {
    /// The proxy's identity is its PID, its start time (which has only
    /// clock-tick resolution) and its ID and root arguments (see
    /// [`crate::proc::is_proxy_of`]); this also tells why a recorded proxy
    /// is not alive.
    pub fn of(pid: i32, start: u64, id: &str, root: Option<&str>) -> Proxy {
        if pid <= 0 {
            return Proxy::None;
        }
        match crate::proc::stat(pid) {
            None => Proxy::Gone,
            Some(s) if s.start != start => Proxy::Reused,
            Some(s) if s.state == b'Z' || s.state == b'X' => Proxy::Zombie,
            Some(_) if !crate::proc::is_proxy_of(pid, id, root) => Proxy::Reused,
            Some(_) => Proxy::Alive,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Proxy::Alive => "alive",
            Proxy::Zombie => "zombie",
            Proxy::Gone => "gone",
            Proxy::Reused => "pid reused",
            Proxy::None => "none",
        }
    }
}

/// The status as it really is: a `created` container whose proxy is gone
/// (exited, zombie, or its PID reused) is `stopped`; a `running` one is
/// running while its start hook or its proxy is.
pub fn real_status(recorded: &str, proxy_alive: bool, hook_alive: bool) -> &'static str {
    match recorded {
        CREATED if proxy_alive => CREATED,
        RUNNING if hook_alive || proxy_alive => RUNNING,
        _ => STOPPED,
    }
}

/// Container IDs as runc accepts them: they become directory names. Their
/// length is `create`'s to bound (`MAX_ID_BYTES`): a longer one is merely
/// unknown to every other command.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.as_bytes()[0].is_ascii_alphanumeric()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
    if ok {
        return Ok(());
    }
    let shown: String = id.chars().take(80).flat_map(char::escape_default).collect();
    let why = if id.is_empty() {
        "is empty"
    } else {
        "must match [A-Za-z0-9][A-Za-z0-9_.-]*"
    };
    Err(Error::new(format!(
        "invalid container id \"{shown}\": it {why}"
    )))
}

/// An ID for a new container: valid, and short enough for its directory.
pub fn validate_new_id(id: &str) -> Result<()> {
    validate_id(id)?;
    if id.len() > MAX_ID_BYTES {
        return Err(too_long(id));
    }
    Ok(())
}

/// The default state root: `$XDG_RUNTIME_DIR/balena-extension-runtime`, else
/// `/run/balena-extension-runtime`.
pub fn default_root() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => Path::new(&dir).join("balena-extension-runtime"),
        _ => PathBuf::from("/run/balena-extension-runtime"),
    }
}

/// An open state root.
pub struct Root {
    pub dir: PathBuf,
    fd: OwnedFd,
}

/// How to open a container's directory.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    /// Read only; atomic writes make a lock unnecessary.
    None,
    /// Wait for the per-container lock.
    Exclusive,
    /// Take the lock only if it is free (else `Busy`).
    TryExclusive,
}

pub enum Opened<'r> {
    Found(Container<'r>),
    Missing,
    Busy,
}

impl Root {
    /// Opens the root, creating it (mode 0700) when `create` is set. A root
    /// that is a symlink or writable by everyone is refused: anyone could
    /// then plant state for the runtime to act on.
    pub fn open(dir: &Path, create: bool) -> Result<Root> {
        if create && std::fs::symlink_metadata(dir).is_err() {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| {
                    Error::io(format!("cannot create state root {}", dir.display()), &e)
                })?;
        }
        let path = sys::cstring(dir)?;
        let fd = sys::openat(
            libc::AT_FDCWD,
            &path,
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        )
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) | Some(libc::ENOTDIR) => Error::new(format!(
                "state root {} is not a directory (or is a symlink)",
                dir.display()
            )),
            _ => Error::io(format!("cannot open state root {}", dir.display()), &e),
        })?;
        let st = sys::fstat(fd.as_raw_fd()).map_err(|e| Error::io(dir.display(), &e))?;
        if st.st_mode & 0o002 != 0 {
            return Err(Error::new(format!(
                "state root {} is writable by everyone; refusing to use it",
                dir.display()
            )));
        }
        Ok(Root {
            dir: dir.to_path_buf(),
            fd,
        })
    }

    /// The IDs with a directory in this root, sorted.
    pub fn ids(&self) -> Result<Vec<String>> {
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| Error::io(format!("cannot list {}", self.dir.display()), &e))?;
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| validate_id(name).is_ok())
            .collect();
        sys::sort_strings(&mut ids);
        Ok(ids)
    }

    fn open_dir(&self, name: &CString) -> std::io::Result<OwnedFd> {
        sys::openat(
            self.fd.as_raw_fd(),
            name,
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        )
    }

    /// Opens an existing container's directory.
    pub fn open_container(&self, id: &str, lock: Lock) -> Result<Opened<'_>> {
        validate_id(id)?;
        if id.len() > MAX_ID_BYTES {
            return Ok(Opened::Missing);
        }
        let name = sys::cstring(id)?;
        let fd = match self.open_dir(&name) {
            Ok(fd) => fd,
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOENT) | Some(libc::ENAMETOOLONG)
                ) =>
            {
                return Ok(Opened::Missing)
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENOTDIR)) => {
                return Err(Error::new(format!(
                    "state directory {} is not a directory (or is a symlink); refusing it",
                    self.dir.join(id).display()
                )))
            }
            Err(e) => {
                return Err(Error::io(
                    format!("cannot open {}", self.dir.join(id).display()),
                    &e,
                ))
            }
        };
        match lock {
            Lock::None => {}
            Lock::Exclusive => sys::flock(fd.as_raw_fd(), libc::LOCK_EX)
                .map_err(|e| Error::io(format!("cannot lock container \"{id}\""), &e))?,
            Lock::TryExclusive => match sys::flock(fd.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => return Ok(Opened::Busy),
                Err(e) => return Err(Error::io(format!("cannot lock container \"{id}\""), &e)),
            },
        }
        // While we waited for the lock, a delete may have removed the
        // directory (and a create made a new one): only the one still in
        // place counts.
        if lock != Lock::None && !self.still_linked(&name, &fd) {
            return Ok(Opened::Missing);
        }
        Ok(Opened::Found(Container {
            id: id.to_string(),
            path: self.dir.join(id),
            dir: fd,
            root: self,
        }))
    }

    fn still_linked(&self, name: &CString, fd: &OwnedFd) -> bool {
        match (
            sys::lstatat(self.fd.as_raw_fd(), name),
            sys::fstat(fd.as_raw_fd()),
        ) {
            (Ok(a), Ok(b)) => sys::same_file(&a, &b),
            _ => false,
        }
    }

    /// Takes the reservation `.creating-<id>` (the directory create builds
    /// a container in before renaming it into place), locked. An existing
    /// one whose lock is free was left by a create that was killed: it is
    /// taken over. One that is locked belongs to a create in progress.
    fn take_reservation(&self, name: &CString) -> std::io::Result<Option<OwnedFd>> {
        let root = self.fd.as_raw_fd();
        match sys::mkdirat(root, name, 0o700) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
            Err(e) => return Err(e),
        }
        let fd = match self.open_dir(name) {
            Ok(fd) => fd,
            // Another create took it and renamed it into place meanwhile.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
            Err(e) => return Err(e),
        };
        match sys::flock(fd.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) {
            Ok(()) if self.still_linked(name, &fd) => Ok(Some(fd)),
            Ok(()) => Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes the reservation of `id` if a killed create left it (its lock
    /// is free). Constant time: nothing else in the root is looked at.
    pub fn remove_stale_reservation(&self, id: &str) {
        let Ok(name) = sys::cstring(format!("{RESERVATION}{id}")) else {
            return;
        };
        if let Ok(fd) = self.open_dir(&name) {
            if sys::flock(fd.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB).is_ok()
                && self.still_linked(&name, &fd)
            {
                let _ = sys::unlinkat(self.fd.as_raw_fd(), &name, libc::AT_REMOVEDIR);
            }
        }
    }

    /// Creates a new container directory, locked, or fails with runc's
    /// "container with id exists" if the ID is taken.
    pub fn reserve(&self, id: &str) -> Result<Container<'_>> {
        validate_new_id(id)?;
        let name = sys::cstring(id)?;
        let exists = || Error::new(format!("container with id exists: {id}"));
        let temp = sys::cstring(format!("{RESERVATION}{id}"))?;
        let root = self.fd.as_raw_fd();
        let cannot = |e: std::io::Error| {
            Error::io(
                format!(
                    "cannot create state for container \"{id}\" in {}",
                    self.dir.display()
                ),
                &e,
            )
        };
        let fd = match self.take_reservation(&temp) {
            Ok(Some(fd)) => fd,
            Ok(None) => return Err(exists()),
            Err(e) if e.raw_os_error() == Some(libc::ENAMETOOLONG) => return Err(too_long(id)),
            Err(e) => return Err(cannot(e)),
        };
        match sys::rename_noreplace(root, &temp, &name) {
            Ok(()) => {}
            Err(e) => {
                let _ = sys::unlinkat(root, &temp, libc::AT_REMOVEDIR);
                return match e.raw_os_error() {
                    Some(libc::EEXIST) | Some(libc::ENOTEMPTY) => Err(exists()),
                    // No RENAME_NOREPLACE on this filesystem: mkdir is atomic
                    // too, with a window before the lock that create closes
                    // by holding the lock for all of its work.
                    Some(libc::EINVAL) | Some(libc::ENOSYS) => {
                        match sys::mkdirat(root, &name, 0o700) {
                            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                                return Err(exists())
                            }
                            Err(e) => return Err(cannot(e)),
                            Ok(()) => {}
                        }
                        match self.open_container(id, Lock::Exclusive)? {
                            Opened::Found(c) => Ok(c),
                            _ => Err(exists()),
                        }
                    }
                    Some(libc::ENAMETOOLONG) => Err(too_long(id)),
                    _ => Err(cannot(e)),
                };
            }
        }
        Ok(Container {
            id: id.to_string(),
            path: self.dir.join(id),
            dir: fd,
            root: self,
        })
    }
}

fn too_long(id: &str) -> Error {
    Error::new(format!(
        "container id is {} bytes long: at most {MAX_ID_BYTES} fit a state directory's name",
        id.len()
    ))
}

/// An open (and usually locked) container directory. The lock is released
/// when this is dropped or the process exits.
pub struct Container<'r> {
    pub id: String,
    pub path: PathBuf,
    dir: OwnedFd,
    root: &'r Root,
}

impl Container<'_> {
    pub fn state_path(&self) -> PathBuf {
        self.path.join(STATE_FILE)
    }

    /// The record, or None when the directory holds none (a create that
    /// was killed before it wrote one).
    pub fn read(&self) -> Result<Option<Record>> {
        let name = sys::cstring(STATE_FILE)?;
        let path = self.state_path();
        let file = match sys::openat(
            self.dir.as_raw_fd(),
            &name,
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK,
            0,
        ) {
            Ok(fd) => std::fs::File::from(fd),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                return Err(Error::new(format!(
                    "{} is a symlink; refusing it",
                    path.display()
                )))
            }
            Err(e) => return Err(Error::io(format!("cannot open {}", path.display()), &e)),
        };
        let text = crate::json::read_text_from(file, &path, MAX_STATE_BYTES)?;
        let record: Record = crate::json::parse(&text, &path, "a container state")?;
        Ok(Some(record))
    }

    /// Replaces the record atomically and durably.
    pub fn write(&self, record: &Record) -> Result<()> {
        let text = crate::json::to_string(record);
        let dir = self.dir.as_raw_fd();
        let temp = sys::cstring(TEMP_FILE)?;
        let target = sys::cstring(STATE_FILE)?;
        let fail = |e: std::io::Error| {
            Error::new(format!(
                "cannot write {}: {}",
                self.state_path().display(),
                describe(&e)
            ))
        };
        let fd = sys::openat(
            dir,
            &temp,
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_NOFOLLOW,
            0o600,
        )
        .map_err(fail)?;
        let written = sys::write_all(fd.as_raw_fd(), text.as_bytes())
            .and_then(|_| sys::fsync(fd.as_raw_fd()));
        drop(fd);
        if let Err(e) = written.and_then(|_| sys::renameat(dir, &temp, &target)) {
            let _ = sys::unlinkat(dir, &temp, 0);
            return Err(fail(e));
        }
        sys::fsync(dir).map_err(fail)
    }

    /// Removes the directory and what is in it (state, leftover temp files).
    pub fn remove(self) -> Result<()> {
        let dir = self.dir.as_raw_fd();
        if let Ok(entries) = std::fs::read_dir(&self.path) {
            for entry in entries.flatten() {
                if let Ok(name) = sys::cstring(entry.file_name()) {
                    let _ = sys::unlinkat(dir, &name, 0);
                }
            }
        }
        let name = sys::cstring(&self.id)?;
        sys::unlinkat(self.root.fd.as_raw_fd(), &name, libc::AT_REMOVEDIR)
            .map_err(|e| Error::io(format!("cannot remove {}", self.path.display()), &e))?;
        let _ = sys::fsync(self.root.fd.as_raw_fd());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_runc_style_ids_and_refuses_the_rest() {
        // Length is create's to refuse (reserve), not the syntax's.
        for ok in [
            "a",
            "abc-1.2_3",
            &"f".repeat(64),
            &"x".repeat(4 * MAX_ID_BYTES),
        ] {
            assert!(validate_id(ok).is_ok(), "{ok}");
        }
        assert_eq!(MAX_ID_BYTES, 245);
        for bad in [
            "", ".", "..", "-a", "a/b", "../x", "a\0b", "a\nb", "a b", "é",
        ] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
        let msg = validate_id("a\nb").err().unwrap().msg;
        assert_eq!(
            msg,
            "invalid container id \"a\\nb\": it must match [A-Za-z0-9][A-Za-z0-9_.-]*"
        );
    }
}
