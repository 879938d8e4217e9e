// No std `main` shim: its runtime set-up finds the main thread's stack for
// the stack-overflow handler with pthread_getattr_np, which drags glibc's
// scanf, strtod and locale machinery into a static binary (~130 KB). The
// set-up that matters here is done by hand below; argv still comes through
// std::env (glibc hands it to std before main).
// (Test builds keep the harness's own main.)
#![cfg_attr(not(test), no_main)]

#[cfg(not(test))]
#[no_mangle]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    // Like std's start-up: a closed 0, 1 or 2 is opened on /dev/null, so that
    // no file opened later can become stdout; and SIGPIPE is ignored, so that
    // writes to a closed pipe fail with EPIPE rather than kill us.
    for fd in 0..3 {
        // SAFETY: fcntl(F_GETFD) only reads the descriptor's flags.
        let closed = unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::EBADF);
        // SAFETY: open of a constant NUL-terminated path; it takes the lowest
        // free descriptor, which is `fd`.
        if closed && unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) } == -1 {
            std::process::abort();
        }
    }
    // SAFETY: setting a signal disposition to SIG_IGN.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(balena_extension_runtime::dispatch::run(args));
}

// The unwinder, in the release builds of the musl targets: std links one
// (LLVM's libunwind from rustup, gcc's for Debian's musl) only so that a
// panic can capture a backtrace (RUST_BACKTRACE). With panic = "abort"
// nothing unwinds, and the release link discards the unwind tables, so a walk
// would stop at the first frame anyway. The Makefile links an empty
// libunwind.a there and sets `stub_unwinder`; these two, the only unwinder
// functions the binary calls, end every walk at once. That keeps ~50 KB of
// dead unwinder (and the printf it reports errors with) out of the binary.
// A panic still prints its message and aborts.
#[cfg(all(not(test), stub_unwinder))]
mod stub_unwinder {
    use std::ffi::c_void;

    /// `_URC_END_OF_STACK`, in the generic and the ARM EHABI unwinder alike.
    const END_OF_STACK: libc::c_int = 5;

    #[no_mangle]
    extern "C" fn _Unwind_Backtrace(_trace: *mut c_void, _arg: *mut c_void) -> libc::c_int {
        END_OF_STACK
    }

    #[no_mangle]
    extern "C" fn _Unwind_GetIP(_context: *mut c_void) -> libc::uintptr_t {
        0
    }
}
