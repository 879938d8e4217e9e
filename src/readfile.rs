//! The one way this binary reads a file: opened without blocking, refused
//! unless it is a regular file, and capped in size. A FIFO where a state,
//! spec or host file is expected would otherwise hang the caller forever
//! (containerd's contract is "never a hang"), and an endless or huge file
//! would take the device's memory.

use std::fs::File;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::{Error, Result};

/// Opens `path` for reading: O_NONBLOCK so that opening a FIFO returns at
/// once, O_NOFOLLOW when `nofollow` (a symlink is refused, by name), then
/// checks that what was opened is a regular file.
pub fn open(path: &Path, nofollow: bool) -> Result<File> {
    let flags = libc::O_NONBLOCK | libc::O_CLOEXEC | if nofollow { libc::O_NOFOLLOW } else { 0 };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
        .map_err(|e| open_error(path, &e, nofollow))?;
    check_regular(&file, path)?;
    Ok(file)
}

/// The error of a failed open; with O_NOFOLLOW, ELOOP means the last
/// component is a symlink, which is a refusal rather than a loop.
pub fn open_error(path: &Path, err: &std::io::Error, nofollow: bool) -> Error {
    if nofollow && err.raw_os_error() == Some(libc::ELOOP) {
        return Error::new(format!("{} is a symbolic link; refused", path.display()));
    }
    Error::io(format!("cannot open {}", path.display()), err)
}

/// Refuses an open file that is not a regular file, naming what it is.
pub fn check_regular(file: &File, path: &Path) -> Result<()> {
    let st = crate::sys::fstat(file.as_raw_fd())
        .map_err(|e| Error::io(format!("cannot read {}", path.display()), &e))?;
    match kind(st.st_mode) {
        None => Ok(()),
        Some(what) => Err(Error::new(format!(
            "{} is {what}, not a regular file",
            path.display()
        ))),
    }
}

/// What a file type is called in messages; None for a regular file.
fn kind(mode: libc::mode_t) -> Option<&'static str> {
    Some(match mode & libc::S_IFMT {
        libc::S_IFREG => return None,
        libc::S_IFIFO => "a fifo",
        libc::S_IFSOCK => "a socket",
        libc::S_IFDIR => "a directory",
        libc::S_IFCHR => "a character device",
        libc::S_IFBLK => "a block device",
        libc::S_IFLNK => "a symbolic link",
        _ => "of an unknown type",
    })
}

/// Reads the whole of `path`, at most `cap` bytes.
pub fn read(path: &Path, cap: u64, nofollow: bool) -> Result<Vec<u8>> {
    read_capped(open(path, nofollow)?, path, cap)
}

/// Reads the whole of a file its caller opened itself (so checked to be
/// regular here), at most `cap` bytes.
pub fn read_from(file: File, path: &Path, cap: u64) -> Result<Vec<u8>> {
    check_regular(&file, path)?;
    read_capped(file, path, cap)
}

/// Reads an open regular file, at most `cap` bytes.
fn read_capped(file: File, path: &Path, cap: u64) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(format!("cannot read {}", path.display()), &e))?;
    if bytes.len() as u64 > cap {
        return Err(Error::new(format!(
            "{} is larger than {cap} bytes",
            path.display()
        )));
    }
    Ok(bytes)
}

/// A small text file, such as a `/proc` entry; None when it cannot be read.
pub fn small(path: &str, cap: u64) -> Option<Vec<u8>> {
    read(Path::new(path), cap, false).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("ber-readfile-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_fifo_is_refused_at_once_by_name() {
        let dir = temp("fifo");
        let fifo = dir.join("state.json");
        let c = crate::sys::cstring(&fifo).unwrap();
        // SAFETY: c is a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = read(&fifo, 100, true).unwrap_err().msg;
        assert_eq!(
            err,
            format!("{} is a fifo, not a regular file", fifo.display())
        );
        let err = read(&dir, 100, false).unwrap_err().msg;
        assert!(err.ends_with("is a directory, not a regular file"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn symlinks_are_refused_when_asked_and_sizes_are_capped() {
        let dir = temp("cap");
        let file = dir.join("f");
        std::fs::write(&file, "12345").unwrap();
        std::os::unix::fs::symlink("f", dir.join("l")).unwrap();
        assert_eq!(read(&dir.join("l"), 5, false).unwrap(), b"12345");
        let err = read(&dir.join("l"), 5, true).unwrap_err().msg;
        assert!(err.ends_with("/l is a symbolic link; refused"), "{err}");
        let err = read(&file, 4, false).unwrap_err().msg;
        assert!(err.ends_with("/f is larger than 4 bytes"), "{err}");
        assert!(small("/proc/self/stat", 4096).is_some_and(|s| !s.is_empty()));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
