//! Mounting a plan's layers as one read-only overlayfs: flat (the layer
//! directories themselves, stacking depth 1), through the new mount API's
//! `lowerdir+` where the kernel has it, else through mount(2) with short
//! relative names for the layers.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::Method;
use crate::error::{Error, Result};
use crate::sys::{self, cstring};

/// Where the classic mount names its layers: each is an open descriptor,
/// and `lowerdir=3:4:5` resolves against this directory. Shorter than any
/// path (and than overlay2's own 26-character `l/` links), and nothing is
/// written anywhere.
const FD_DIR: &std::ffi::CStr = c"/proc/self/fd";

/// The first descriptor the layers get (after stdin, stdout, stderr).
const FIRST_FD: usize = 3;

/// Bytes of `lowerdir=` for `n` layers named by descriptor numbers from
/// [`FIRST_FD`] on; the kernel copies at most a page, NUL included.
pub fn short_links_len(n: usize) -> usize {
    let digits: usize = (FIRST_FD..FIRST_FD + n)
        .map(|fd| fd.to_string().len())
        .sum();
    "lowerdir=".len() + digits + n.saturating_sub(1)
}

/// Mounts `layers` (leftmost on top) read-only at `target`, both absolute
/// (the classic mount runs in `/proc/self/fd`). Returns the
/// method that did it: when `lowerdir+` fails for any reason, the classic
/// mount decides. Kernels before 6.8 refuse `lowerdir+` at the first layer
/// (6.5 to 6.7) or only when the superblock is created (6.1's legacy
/// option buffer takes any key), and a kernel without the new mount API
/// answers ENOSYS: every one of those ends in the short links.
pub fn mount(layers: &[&Path], method: Method, target: &Path) -> Result<Method> {
    let t = cstring(target)?;
    if method == Method::LowerdirPlus && lowerdir_plus(layers, &t).is_ok() {
        return Ok(method);
    }
    short_links(layers, &t)
        .map_err(|e| e.context(format!("cannot mount at {}", target.display())))?;
    Ok(Method::ShortLinks)
}

/// The new mount API, one layer at a time. Nothing is attached unless
/// every step succeeded (a context or a detached mount closes with its fd).
fn lowerdir_plus(layers: &[&Path], target: &std::ffi::CStr) -> io::Result<()> {
    let fs = sys::fsopen(c"overlay")?;
    sys::fsconfig_string(&fs, c"source", c"overlay")?;
    for layer in layers {
        let c = cstring(layer).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        sys::fsconfig_string(&fs, c"lowerdir+", &c)?;
    }
    sys::fs_create_and_attach(&fs, target)
}

fn short_links(layers: &[&Path], target: &std::ffi::CStr) -> Result<()> {
    let mut fds: Vec<File> = Vec::with_capacity(layers.len());
    let mut opts = String::from("lowerdir=");
    for layer in layers {
        let f =
            open_path(layer).map_err(|e| Error::io(format!("layer {}", layer.display()), &e))?;
        if !fds.is_empty() {
            opts.push(':');
        }
        opts += &f.as_raw_fd().to_string();
        fds.push(f);
    }
    let page = sys::page_size();
    if opts.len() >= page {
        return Err(Error::new(format!(
            "{} layers need {} bytes of mount options, the page holds {}",
            layers.len(),
            opts.len(),
            page - 1
        )));
    }
    let here = open_path(Path::new("."))
        .map_err(|e| Error::io("cannot open the working directory", &e))?;
    sys::chdir(FD_DIR).map_err(|e| Error::io("the classic overlay mount needs /proc", &e))?;
    let r = sys::mount(
        c"overlay",
        target,
        Some(c"overlay"),
        libc::MS_RDONLY,
        Some(&cstring(&opts)?),
    );
    let back = sys::fchdir(here.as_raw_fd());
    r.map_err(|e| Error::io(format!("overlay of {} layers", layers.len()), &e))?;
    back.map_err(|e| Error::io("cannot return to the working directory", &e))
}

/// A directory held by an O_PATH descriptor, never through a symlink.
fn open_path(p: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(p)
}

#[cfg(test)]
mod tests {
    #[test]
    fn short_links_count_every_digit_and_separator() {
        assert_eq!(super::short_links_len(1), "lowerdir=3".len());
        assert_eq!(super::short_links_len(8), "lowerdir=3:4:5:6:7:8:9:10".len());
    }
}
