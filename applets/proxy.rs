//! applet: proxy
//! names: proxy balena-extension-proxy
//! summary: the stand-in process containerd tracks between create and start
//!
//! An extension runs no long-lived process, but containerd's shim needs a
//! PID to watch: it learns that the container exited only by reaping this
//! process. The proxy keeps the container's stdio, holds nothing else, and
//! waits for a signal:
//!
//! - SIGUSR1 queued by `start` (sigqueue): exit with the value it carries,
//!   the start hook's verdict, which the engine shows as `Exited (N)`;
//! - SIGTERM or SIGINT (`docker stop`): exit 0;
//! - anything else that can be blocked is ignored.
//!
//! `create` starts it with every signal blocked and a pipe on fd 3: its own
//! PID arriving there means "the state names you, stay"; EOF means create
//! died first and nobody will ever signal this proxy through the state, so
//! exit.

use std::ffi::OsString;

use crate::error::Result;
use crate::{proc, sys};

pub const USAGE: &str = "\
Usage: balena-extension-proxy ID ROOT

Started by `balena-extension-runtime create`; not meant to be run by hand.
Waits for the start signal (SIGUSR1 with an exit code) or SIGTERM/SIGINT.
";

/// The descriptor `create` passes the go-ahead pipe on.
const GO_FD: i32 = 3;

pub fn main(_args: Vec<OsString>) -> Result<i32> {
    let all = sys::full_sigset();
    sys::set_sigmask(libc::SIG_SETMASK, &all);

    // The go-ahead is the proxy's own PID, which nothing but create can
    // know: a descriptor 3 inherited from elsewhere (a jobserver pipe, when
    // run by hand) is not mistaken for it.
    let mut go = [0u8; 4];
    let released =
        matches!(sys::read(GO_FD, &mut go), Ok(4)) && i32::from_ne_bytes(go) == sys::getpid();
    // Only the container's stdio stays open (the shim leaks its own socket
    // into create, and so into us, as fd 3).
    sys::close_from(GO_FD);
    if !released {
        return Ok(1);
    }
    // Starting up touched much of the binary; waiting needs a few pages.
    sys::drop_clean_file_pages();
    loop {
        // SAFETY: `info` is written by sigwaitinfo before it is read.
        let (sig, info) = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            (libc::sigwaitinfo(&all, &mut info), info)
        };
        match sig {
            libc::SIGUSR1 => {
                if let Some(code) = proc::queued_value(&info) {
                    return Ok(code & 0xff);
                }
            }
            libc::SIGTERM | libc::SIGINT => return Ok(0),
            _ => {}
        }
    }
}
