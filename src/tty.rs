//! `--console-socket`: like runc, allocate a pseudo-terminal, hand its
//! master to whoever listens on the socket (containerd's shim, for
//! `docker run -t`) and keep the slave as the container's stdio. The shim
//! waits for that descriptor; without it `docker run -t` would hang.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use crate::error::{Error, Result};
use crate::sys;

pub struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
    pub name: String,
}

pub fn open_pty() -> Result<Pty> {
    let fail = |what: &str| {
        Error::io(
            format!("cannot allocate a terminal ({what})"),
            &crate::error::last_os_error(),
        )
    };
    // SAFETY: posix_openpt takes flags only.
    let master = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
    if master < 0 {
        return Err(fail("posix_openpt"));
    }
    // SAFETY: posix_openpt returned a descriptor we now own.
    let master = unsafe { OwnedFd::from_raw_fd(master) };
    let mut number: libc::c_uint = 0;
    // SAFETY: plain calls on our master; TIOCGPTN writes one unsigned int.
    // The number is read directly rather than through ptsname_r, whose
    // snprintf alone would bring musl's whole printf (~8 KB) into the binary.
    unsafe {
        if libc::grantpt(master.as_raw_fd()) < 0 || libc::unlockpt(master.as_raw_fd()) < 0 {
            return Err(fail("unlockpt"));
        }
        if libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut number) != 0 {
            return Err(fail("TIOCGPTN"));
        }
    }
    let name = format!("/dev/pts/{number}");
    let slave = sys::openat(
        libc::AT_FDCWD,
        &sys::cstring(&name)?,
        libc::O_RDWR | libc::O_NOCTTY,
        0,
    )
    .map_err(|e| Error::io(format!("cannot open {name}"), &e))?;
    Ok(Pty {
        master,
        slave,
        name,
    })
}

/// Sends `fd` over the unix socket at `path` (SCM_RIGHTS), with the
/// terminal's name as the message, as runc does.
pub fn send_fd(path: &Path, fd: &OwnedFd, name: &str) -> Result<()> {
    use std::os::unix::net::UnixStream;
    let fail = |e: &std::io::Error| Error::io(format!("console socket {}", path.display()), e);
    let stream = UnixStream::connect(path).map_err(|e| fail(&e))?;
    let raw = fd.as_raw_fd();
    let mut data = name.as_bytes().to_vec();
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // SAFETY: CMSG_SPACE is a pure computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) } as usize;
    let mut control = vec![0u8; space];
    // SAFETY: msghdr is plain data; every pointer set below refers to a live
    // buffer of the stated length, and CMSG_FIRSTHDR points into `control`.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as _;
        std::ptr::copy_nonoverlapping(
            (&raw as *const libc::c_int).cast::<u8>(),
            libc::CMSG_DATA(cmsg),
            std::mem::size_of::<libc::c_int>(),
        );
        if libc::sendmsg(stream.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) < 0 {
            return Err(fail(&crate::error::last_os_error()));
        }
    }
    Ok(())
}
