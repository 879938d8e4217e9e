//! One manager at a time: an `flock` on a lock file that names its holder
//! while it holds it (the PID is cleared on release; one left by a killed
//! run is named only if `/proc/locks` says that process still holds it).
//!
//! The lock belongs to the open file description, so it goes away with the
//! process however it ends. The file itself is never deleted: a waiter may
//! have it open, and a new file at the same path would let a third manager
//! lock a different inode while the first still runs.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, IoContext, Result};
use crate::sys;

/// Where balenaOS's manager keeps its lock (`/run` is a tmpfs).
pub const DEFAULT_PATH: &str = "/run/balena-extension-manager.lock";

/// How long a second manager waits by default.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(60);

/// How often a waiter tries again.
const POLL: Duration = Duration::from_millis(100);

/// Held until dropped (or the process ends).
pub struct Lock {
    file: File,
}

impl Drop for Lock {
    /// The PID goes before the lock does: a finished run names nobody.
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
    }
}

/// Takes the lock, waiting at most `wait`, then writes our PID into it.
pub fn acquire(path: &Path, wait: Duration) -> Result<Lock> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        // O_NONBLOCK: opening a device or fifo returns at once; it changes
        // nothing on a regular file.
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            // O_NOFOLLOW's refusal, not a loop.
            Some(libc::ELOOP) => Error::new(format!(
                "lock file {} is a symbolic link; refused",
                path.display()
            )),
            _ => Error::io(format!("cannot open lock file {}", path.display()), &e),
        })?;
    // A fifo (or device) there would block the holder's PID being read.
    crate::readfile::check_regular(&file, path)?;
    let deadline = Instant::now() + wait;
    loop {
        match sys::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) {
            Ok(()) => break,
            Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => {}
            Err(e) => return Err(Error::io(format!("cannot lock {}", path.display()), &e)),
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::new(format!(
                "{} holds {}; gave up after {}s",
                holder(&file),
                path.display(),
                wait.as_secs()
            )));
        }
        std::thread::sleep(left.min(POLL));
    }
    let pid = format!("{}\n", sys::getpid());
    file.set_len(0)
        .and_then(|()| file.write_all_at(pid.as_bytes(), 0))
        .ctx(|| format!("cannot write lock file {}", path.display()))?;
    Ok(Lock { file })
}

/// "another manager (pid 1234)", from what the holder wrote, if that
/// process holds the lock now (not a PID a killed run left behind).
fn holder(file: &File) -> String {
    let mut text = String::new();
    let _ = file.take(32).read_to_string(&mut text);
    match text.trim().parse::<u32>() {
        Ok(pid) if holds(file, pid) => format!("another manager (pid {pid})"),
        _ => "another manager".to_string(),
    }
}

/// True when `/proc/locks` lists a lock of `pid` on `file`'s inode, as
/// `1: FLOCK  ADVISORY  WRITE PID MAJOR:MINOR:INODE 0 EOF` (hex, hex,
/// decimal); a waiter's line has `->` and holds nothing.
fn holds(file: &File, pid: u32) -> bool {
    let Ok(st) = sys::fstat(file.as_raw_fd()) else {
        return false;
    };
    let needle = format!(
        " {pid} {:02x}:{:02x}:{} ",
        libc::major(st.st_dev),
        libc::minor(st.st_dev),
        st.st_ino
    );
    let locks = crate::readfile::small("/proc/locks", 16 << 20).unwrap_or_default();
    String::from_utf8_lossy(&locks)
        .lines()
        .any(|line| !line.contains("->") && line.contains(&needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("ber-lock-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_second_locker_waits_then_names_the_holder() {
        let dir = temp("second");
        let path = dir.join("manager.lock");
        let first = acquire(&path, Duration::ZERO).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("{}\n", std::process::id()));
        // flock locks belong to the open file description: a second open
        // in this same process conflicts with the first.
        let err = acquire(&path, Duration::from_millis(250)).err().unwrap();
        assert_eq!(
            err.msg,
            format!(
                "another manager (pid {}) holds {}; gave up after 0s",
                std::process::id(),
                path.display()
            )
        );
        drop(first);
        assert_eq!(std::fs::read(&path).unwrap(), b"", "no PID once released");
        // Another test thread that forks while the lock is open gives its
        // child a copy of the descriptor until the child's exec closes it
        // (O_CLOEXEC); under qemu-user that window is long enough to see.
        let again = acquire(&path, Duration::from_secs(10));
        assert!(again.is_ok(), "the lock is free once its holder is gone");
        assert!(path.exists(), "the lock file is never deleted");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_directory_is_a_clear_error() {
        let dir = temp("missing");
        let path = dir.join("nope/manager.lock");
        let err = acquire(&path, Duration::ZERO).err().unwrap();
        assert_eq!(
            err.msg,
            format!(
                "cannot open lock file {}: no such file or directory",
                path.display()
            )
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_holder_that_wrote_no_pid_is_still_named() {
        let dir = temp("nopid");
        let path = dir.join("manager.lock");
        let first = acquire(&path, Duration::ZERO).unwrap();
        std::fs::write(&path, "").unwrap();
        let err = acquire(&path, Duration::ZERO).err().unwrap();
        assert!(err.msg.starts_with("another manager holds "), "{}", err.msg);
        drop(first);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_lock_file_that_is_no_regular_file_is_refused_at_once() {
        let dir = temp("fifo");
        let path = dir.join("manager.lock");
        let c = sys::cstring(&path).unwrap();
        // SAFETY: c is a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // Something holds a lock on it: a waiter that gives up must not
        // then block reading the holder's PID from the fifo.
        let held = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        sys::flock(held.as_raw_fd(), libc::LOCK_EX).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let p = path.clone();
        std::thread::spawn(move || {
            let _ = tx.send(acquire(&p, Duration::ZERO).err().map(|e| e.msg));
        });
        let err = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("acquire hung");
        assert_eq!(
            err.unwrap(),
            format!("{} is a fifo, not a regular file", path.display())
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
