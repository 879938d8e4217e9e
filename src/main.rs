// No std `main` shim: its runtime set-up finds the main thread's stack for
// the stack-overflow handler with pthread_getattr_np, which drags glibc's
// scanf, strtod and locale machinery into a static binary (~130 KB). The
// set-up that matters here is done by hand below, and the arguments are
// taken from main's own argc/argv (std::env::args_os() is empty without
// std's main on musl: only glibc passes argv to std's initialiser).
// (Test builds keep the harness's own main.)
#![cfg_attr(not(test), no_main)]

#[cfg(not(test))]
#[no_mangle]
extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
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
    // SAFETY: the C runtime passes argc and an argv of argc NUL-terminated
    // strings, which live for the whole process.
    let args = unsafe { arguments(argc, argv) };
    std::process::exit(balena_extension_runtime::dispatch::run(args));
}

/// The arguments as the kernel passed them, bytes unchanged.
///
/// # Safety
/// `argv` must hold `argc` pointers to NUL-terminated strings.
#[cfg(not(test))]
unsafe fn arguments(
    argc: libc::c_int,
    argv: *const *const libc::c_char,
) -> Vec<std::ffi::OsString> {
    use std::os::unix::ffi::OsStrExt;
    let count = if argv.is_null() {
        0
    } else {
        argc.max(0) as usize
    };
    (0..count)
        .map(|i| {
            // SAFETY: i < argc, so argv[i] is one of the strings (a null
            // entry, which a caller could force, is read as empty).
            let arg = unsafe { *argv.add(i) };
            if arg.is_null() {
                return std::ffi::OsString::new();
            }
            // SAFETY: a NUL-terminated string that outlives this copy.
            let bytes = unsafe { std::ffi::CStr::from_ptr(arg) }.to_bytes();
            std::ffi::OsStr::from_bytes(bytes).to_os_string()
        })
        .collect()
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
