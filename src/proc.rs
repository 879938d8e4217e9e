//! Processes: starting them (fork + exec over libc), telling whether a PID
//! is still the process we started, and signalling it without ever hitting
//! a process that merely reuses its PID.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::error::{Error, Result};
use crate::sys;

/// What `/proc/PID/stat` says about a process.
pub struct Stat {
    /// R, S, D, Z (zombie), X (dead), ...
    pub state: u8,
    pub ppid: libc::pid_t,
    pub pgrp: libc::pid_t,
    /// Start time in clock ticks since boot: with the PID, a process's identity.
    pub start: u64,
}

pub fn stat(pid: libc::pid_t) -> Option<Stat> {
    if pid <= 0 {
        return None;
    }
    let bytes = crate::readfile::small(&format!("/proc/{pid}/stat"), 4096)?;
    parse_stat(&String::from_utf8_lossy(&bytes))
}

/// Parses a stat line. The command name (field 2) may hold spaces and
/// parentheses, so fields are counted from the last ')'.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state); starttime is field 22.
    Some(Stat {
        state: *fields.first()?.as_bytes().first()?,
        ppid: fields.get(1)?.parse().ok()?,
        pgrp: fields.get(2)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
    })
}

/// True while `pid` is the process that started at `start` and has not
/// exited (a zombie has exited: only its parent's wait is missing).
pub fn is_alive(pid: libc::pid_t, start: u64) -> bool {
    matches!(stat(pid), Some(s) if s.start == start && s.state != b'Z' && s.state != b'X')
}

/// The program name every proxy runs under (argv[0], or its basename).
pub const PROXY_NAME: &str = "balena-extension-proxy";

/// The container ID and state root a proxy's `/proc/PID/cmdline` names, or
/// None if it is not a proxy's command line. Natively that is
/// `NAME ID ROOT`. Under binfmt_misc with qemu-user (the "P" flag), the
/// kernel puts the emulator and the program's path first:
/// `INTERPRETER PATH NAME ID ROOT`. Both shapes are accepted exactly: NAME
/// is `balena-extension-proxy` or a path ending in it, and the emulator's
/// prefix is two absolute paths, nothing else.
pub fn proxy_args(cmdline: &[u8]) -> Option<(&[u8], &[u8])> {
    let body = cmdline.strip_suffix(&[0]).unwrap_or(cmdline);
    let args: Vec<&[u8]> = body.split(|&b| b == 0).collect();
    let own = match args.len() {
        3 => &args[..],
        5 if args[..2].iter().all(|a| a.starts_with(b"/")) => &args[2..],
        _ => return None,
    };
    let base = own[0].rsplit(|&b| b == b'/').next()?;
    (base == PROXY_NAME.as_bytes()).then_some((own[1], own[2]))
}

/// True if `pid` is a proxy started for container `id` in state root
/// `root` (the arguments create gave it; None: any root, for a state
/// recorded before the root was). With the start time, which has only
/// clock-tick resolution, this makes mistaking another process for it
/// practically impossible.
pub fn is_proxy_of(pid: libc::pid_t, id: &str, root: Option<&str>) -> bool {
    match cmdline(pid) {
        Some(cmdline) => matches!(proxy_args(&cmdline),
            Some((i, r)) if i == id.as_bytes() && root.map_or(true, |root| r == root.as_bytes())),
        None => false,
    }
}

/// A process's `/proc/PID/cmdline` (NUL-separated arguments); None when
/// it is gone. Capped: a command line past 64 KiB is none of ours.
pub fn cmdline(pid: libc::pid_t) -> Option<Vec<u8>> {
    crate::readfile::small(&format!("/proc/{pid}/cmdline"), 64 << 10)
}

/// Every live proxy of container `id` in state root `root`, found by its
/// arguments. Used only to recover when the state that named it is lost.
pub fn find_proxies(id: &str, root: &str) -> Vec<libc::pid_t> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<libc::pid_t>().ok())
        .filter(|&pid| is_proxy_of(pid, id, Some(root)))
        .collect()
}

/// `siginfo_t` as the kernel lays it out for a queued signal (SI_QUEUE):
/// signo, errno, code, then the union holding sender pid, uid and value.
/// `sigval` holds a pointer, so the union is pointer-aligned on every target.
#[repr(C)]
pub struct QueuedHeader {
    pub signo: libc::c_int,
    pub errno: libc::c_int,
    pub code: libc::c_int,
    pub rt: QueuedRt,
}

/// What pidfd_send_signal reads: the header, padded past the kernel's
/// 128-byte siginfo on every target.
#[repr(C)]
struct QueuedInfo {
    head: QueuedHeader,
    _pad: [u8; 128],
}

#[repr(C)]
pub struct QueuedRt {
    pub pid: libc::pid_t,
    pub uid: libc::uid_t,
    pub value: libc::sigval,
}

/// Reads the queued value out of a siginfo (for the proxy).
pub fn queued_value(info: &libc::siginfo_t) -> Option<i32> {
    // SAFETY: siginfo_t is at least as large as QueuedInfo's header, and for
    // SI_QUEUE the kernel fills exactly these fields.
    let q = unsafe { &*(info as *const libc::siginfo_t).cast::<QueuedHeader>() };
    (q.code == libc::SI_QUEUE).then_some(q.rt.value.sival_ptr as usize as i32)
}

/// Sends `sig` to `pid` if, and only if, `is_ours()` says it is still the
/// process we mean. With `value`, the signal is queued carrying it (the
/// proxy exits with it). Returns false when the process is gone or the PID
/// now belongs to someone else.
///
/// A pidfd pins the process between the identity check and the signal; on
/// kernels without pidfds (before 5.3) the window is the few microseconds
/// between reading /proc and kill().
pub fn signal(
    pid: libc::pid_t,
    is_ours: &dyn Fn() -> bool,
    sig: libc::c_int,
    value: Option<i32>,
) -> io::Result<bool> {
    if pid <= 0 {
        return Ok(false);
    }
    // SAFETY: pidfd_open takes a pid and flags only.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let pidfd = if fd >= 0 {
        // SAFETY: the syscall succeeded, so the descriptor is ours.
        Some(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
    } else {
        match io::Error::last_os_error().raw_os_error() {
            Some(libc::ESRCH) => return Ok(false),
            _ => None,
        }
    };
    if !is_ours() {
        return Ok(false);
    }
    let ret = match (&pidfd, value) {
        (Some(fd), value) => {
            let info = value.map(|v| queued_info(sig, v));
            let ptr = info
                .as_ref()
                .map_or(std::ptr::null(), |i| i as *const QueuedInfo);
            // SAFETY: the pidfd is open; `ptr` is null or a filled siginfo.
            unsafe {
                libc::syscall(libc::SYS_pidfd_send_signal, fd.as_raw_fd(), sig, ptr, 0)
                    as libc::c_int
            }
        }
        (None, Some(v)) => {
            let val = libc::sigval {
                sival_ptr: v as usize as *mut libc::c_void,
            };
            // SAFETY: sigqueue takes plain values.
            unsafe { libc::sigqueue(pid, sig, val) }
        }
        // SAFETY: kill takes plain values.
        (None, None) => unsafe { libc::kill(pid, sig) },
    };
    if ret < 0 {
        let err = io::Error::last_os_error();
        return if err.raw_os_error() == Some(libc::ESRCH) {
            Ok(false)
        } else {
            Err(err)
        };
    }
    Ok(true)
}

fn queued_info(sig: libc::c_int, value: i32) -> QueuedInfo {
    QueuedInfo {
        head: QueuedHeader {
            signo: sig,
            errno: 0,
            code: libc::SI_QUEUE,
            rt: QueuedRt {
                pid: sys::getpid(),
                uid: sys::getuid(),
                value: libc::sigval {
                    sival_ptr: value as usize as *mut libc::c_void,
                },
            },
        },
        _pad: [0; 128],
    }
}

/// Signals the process group led by `pid`, if `pid` is still the leader
/// that started at `start` (hooks run in their own group, so this reaches
/// whatever they started too).
pub fn signal_group(pid: libc::pid_t, start: u64, sig: libc::c_int) -> bool {
    match stat(pid) {
        Some(s) if s.start == start && s.pgrp == pid => {
            // SAFETY: kill takes plain values; the group was just verified.
            unsafe { libc::kill(-pid, sig) == 0 }
        }
        _ => false,
    }
}

/// fork(2): None in the child, the child's PID in the parent. Only for
/// this single-threaded program, where the child may go on running Rust.
pub fn fork() -> io::Result<Option<libc::pid_t>> {
    // SAFETY: the process is single-threaded, so the child inherits a
    // consistent heap and no lock held by another thread.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(None),
        pid => Ok(Some(pid)),
    }
}

/// How a child ended, as a shell (and Docker) reports it: its exit code,
/// or 128 + the signal that killed it.
pub fn exit_code(status: libc::c_int) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        255
    }
}

/// waitpid, retrying EINTR; with WNOHANG, None while the child runs.
pub fn wait(pid: libc::pid_t, flags: libc::c_int) -> io::Result<Option<libc::c_int>> {
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer.
    let r = sys::retry(|| unsafe { libc::waitpid(pid, &mut status, flags) })?;
    Ok(if r == 0 { None } else { Some(status) })
}

/// A forked child on its way to exec.
pub struct Started {
    pub pid: libc::pid_t,
    err_r: OwnedFd,
    program: String,
}

impl Started {
    /// Waits until the child has exec'd (its PID) or failed to (an error;
    /// the child is reaped).
    pub fn exec_result(self) -> Result<libc::pid_t> {
        let mut errno = [0u8; 4];
        let n = sys::read(self.err_r.as_raw_fd(), &mut errno).unwrap_or(0);
        if n == 4 {
            let _ = wait(self.pid, 0);
            let err = io::Error::from_raw_os_error(i32::from_ne_bytes(errno));
            return Err(Error::io(format!("cannot execute {}", self.program), &err));
        }
        Ok(self.pid)
    }
}

/// A program to start, with everything prepared before `fork` so the child
/// only makes async-signal-safe calls.
pub struct Spawn {
    pub program: CString,
    pub argv: Vec<CString>,
    pub env: Vec<CString>,
    pub cwd: Option<CString>,
    /// Descriptors that become 0, 1, 2 (and 3, ...) in the child, in order.
    /// Everything else is close-on-exec.
    pub fds: Vec<RawFd>,
    /// setsid(): a new session (and process group); else a new group only.
    pub new_session: bool,
    /// Make fd 0 the controlling terminal (after setsid).
    pub controlling_tty: bool,
    /// The child's signal mask across exec.
    pub sigmask: libc::sigset_t,
}

impl Spawn {
    pub fn new(program: CString, argv: Vec<CString>) -> Spawn {
        Spawn {
            program,
            argv,
            env: Vec::new(),
            cwd: None,
            fds: Vec::new(),
            new_session: false,
            controlling_tty: false,
            sigmask: sys::empty_sigset(),
        }
    }

    /// Forks and execs; returns the child's PID once exec has succeeded.
    /// A failed exec (missing interpreter, no permission) is an error here,
    /// reported through a close-on-exec pipe, not a mysterious exit 127.
    pub fn spawn(&self) -> Result<libc::pid_t> {
        self.start(None)?.exec_result()
    }

    /// Forks; the child execs at once, or with `gate` (the read and write
    /// ends of a pipe) only once a byte arrives there, and exits if the pipe
    /// closes empty. The caller can so record the child's PID before it runs
    /// anything: if the caller dies first, the child never runs.
    pub fn start(&self, gate: Option<(RawFd, RawFd)>) -> Result<Started> {
        let mut argv: Vec<*const libc::c_char> = self.argv.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        let mut envp: Vec<*const libc::c_char> = self.env.iter().map(|a| a.as_ptr()).collect();
        envp.push(std::ptr::null());
        let (err_r, err_w) = sys::pipe().map_err(|e| Error::io("cannot create a pipe", &e))?;

        // SAFETY: this process is single-threaded; the child below only
        // makes async-signal-safe calls on memory prepared before the fork.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(Error::io("cannot fork", &io::Error::last_os_error()));
        }
        if pid == 0 {
            // SAFETY: in the child; see above. Never returns.
            unsafe { self.child(&argv, &envp, err_w.as_raw_fd(), gate) }
        }
        drop(err_w);
        Ok(Started {
            pid,
            err_r,
            program: self.program.to_string_lossy().into_owned(),
        })
    }

    /// The child's half of `spawn`.
    unsafe fn child(
        &self,
        argv: &[*const libc::c_char],
        envp: &[*const libc::c_char],
        err_w: RawFd,
        gate: Option<(RawFd, RawFd)>,
    ) -> ! {
        let fail = |err_w: RawFd| -> ! {
            let errno = *libc::__errno_location();
            let bytes = errno.to_ne_bytes();
            libc::write(err_w, bytes.as_ptr().cast(), 4);
            libc::_exit(127)
        };
        // Move the error pipe and every source descriptor above the range
        // being filled, so filling 0..n never clobbers one still needed.
        let high = 64 + self.fds.len() as libc::c_int;
        let err_w = libc::fcntl(err_w, libc::F_DUPFD_CLOEXEC, high);
        if err_w < 0 {
            libc::_exit(127);
        }
        // The child's own copy of the write end would keep the gate from
        // ever closing empty.
        let gate = gate.map(|(read, write)| {
            libc::close(write);
            libc::fcntl(read, libc::F_DUPFD_CLOEXEC, high)
        });
        let mut moved = [0 as RawFd; 8];
        for (i, &fd) in self.fds.iter().enumerate().take(8) {
            moved[i] = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, high);
            if moved[i] < 0 {
                fail(err_w);
            }
        }
        for (i, &fd) in moved.iter().enumerate().take(self.fds.len().min(8)) {
            // dup2 clears close-on-exec on the target.
            if libc::dup2(fd, i as libc::c_int) < 0 {
                fail(err_w);
            }
        }
        if self.new_session {
            if libc::setsid() < 0 {
                fail(err_w);
            }
            if self.controlling_tty && libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                fail(err_w);
            }
        } else if libc::setpgid(0, 0) < 0 {
            fail(err_w);
        }
        // Rust ignores SIGPIPE; an ignored disposition survives exec.
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        if let Some(cwd) = &self.cwd {
            if libc::chdir(cwd.as_ptr()) < 0 {
                fail(err_w);
            }
        }
        if let Some(gate) = gate {
            let mut byte = 0u8;
            loop {
                match libc::read(gate, (&mut byte as *mut u8).cast(), 1) {
                    1 => break,
                    -1 if *libc::__errno_location() == libc::EINTR => continue,
                    _ => libc::_exit(127),
                }
            }
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &self.sigmask, std::ptr::null_mut());
        libc::execve(self.program.as_ptr(), argv.as_ptr(), envp.as_ptr());
        fail(err_w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_lines_with_awkward_command_names() {
        let line = "42 (a) b (c)) S 1 42 42 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 987654 0 0";
        let s = parse_stat(line).unwrap();
        assert_eq!(s.state, b'S');
        assert_eq!(s.ppid, 1);
        assert_eq!(s.pgrp, 42);
        assert_eq!(s.start, 987654);
        assert!(parse_stat("42 (x) S 1").is_none());
    }

    #[test]
    fn start_times_past_32_bits_parse() {
        // Clock ticks since boot exceed u32 after ~497 days at 100 Hz.
        let line = "7 (p) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5000000000 0 0";
        assert_eq!(parse_stat(line).unwrap().start, 5_000_000_000);
    }

    #[test]
    fn the_queued_siginfo_is_laid_out_as_libc_reads_it() {
        // What start writes (queued_info) is what libc's accessors read.
        let info = queued_info(libc::SIGUSR1, 0x7e);
        assert!(std::mem::size_of::<QueuedInfo>() >= std::mem::size_of::<libc::siginfo_t>());
        // SAFETY: QueuedInfo is at least as large as siginfo_t (checked
        // above) and is plain data.
        let si = unsafe { &*(&info as *const QueuedInfo).cast::<libc::siginfo_t>() };
        assert_eq!(si.si_signo, libc::SIGUSR1);
        assert_eq!(si.si_code, libc::SI_QUEUE);
        // SAFETY: for SI_QUEUE the union holds pid, uid and value.
        unsafe {
            assert_eq!(si.si_pid(), sys::getpid());
            assert_eq!(si.si_uid(), sys::getuid());
            assert_eq!(si.si_value().sival_ptr as usize, 0x7e);
        }
        assert_eq!(queued_value(si), Some(0x7e));
    }

    #[test]
    fn a_queued_signal_carries_its_value_through_the_kernel() {
        // Thread-directed, to this test's thread only, with the signal
        // blocked here: sigwaitinfo takes it, nothing else sees it.
        let sig = libc::SIGRTMIN() + 3;
        let mut set = sys::empty_sigset();
        // SAFETY: `set` is a valid sigset; the mask is this thread's own.
        unsafe {
            libc::sigaddset(&mut set, sig);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        }
        let info = queued_info(sig, 137);
        // SAFETY: `info` is a filled siginfo for this process's own thread.
        let r = unsafe {
            libc::syscall(
                libc::SYS_rt_tgsigqueueinfo,
                sys::getpid(),
                libc::gettid(),
                sig,
                &info as *const QueuedInfo,
            )
        };
        assert_eq!(r, 0, "{}", io::Error::last_os_error());
        // SAFETY: `got` is written by sigwaitinfo before it is read.
        let got = unsafe {
            let mut got: libc::siginfo_t = std::mem::zeroed();
            assert_eq!(libc::sigwaitinfo(&set, &mut got), sig);
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            got
        };
        assert_eq!(queued_value(&got), Some(137));
    }

    #[test]
    fn signal_reaches_a_child_through_its_pidfd_and_never_a_reaped_one() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as libc::pid_t;
        let start = stat(pid).unwrap().start;
        let ours = || is_alive(pid, start);
        // Someone else's process (by the check) is never signalled.
        assert!(!signal(pid, &|| false, libc::SIGTERM, None).unwrap());
        // A queued value travels with it (pidfd_send_signal with SI_QUEUE).
        assert!(signal(pid, &ours, libc::SIGUSR1, Some(3)).unwrap());
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGUSR1));
        assert!(!signal(pid, &ours, libc::SIGTERM, None).unwrap());
    }

    #[test]
    fn our_own_process_is_alive_and_a_wrong_start_time_is_not() {
        let me = sys::getpid();
        let start = stat(me).unwrap().start;
        assert!(is_alive(me, start));
        assert!(!is_alive(me, start + 1));
    }

    #[test]
    fn proxy_command_lines_native_and_under_qemu_binfmt() {
        let native = b"balena-extension-proxy\0c1\0/run/ber\0";
        assert!(proxy_args(native) == Some((&b"c1"[..], &b"/run/ber"[..])));
        let sibling = b"/usr/bin/balena-extension-proxy\0c1\0/run/ber\0";
        assert!(proxy_args(sibling) == Some((&b"c1"[..], &b"/run/ber"[..])));
        let emulated = b"/usr/libexec/qemu-binfmt/arm-binfmt-P\0/usr/bin/balena-extension-proxy\0\
                         /usr/bin/balena-extension-proxy\0c1\0/run/ber\0";
        assert!(proxy_args(emulated) == Some((&b"c1"[..], &b"/run/ber"[..])));
        let emulated_self =
            b"/usr/libexec/qemu-binfmt/aarch64-binfmt-P\0/x/balena-extension-runtime\0\
                              balena-extension-proxy\0c1\0/run/ber\0";
        assert!(proxy_args(emulated_self) == Some((&b"c1"[..], &b"/run/ber"[..])));
        for stranger in [
            &b"sleep\0c1\0/run/ber\0"[..],
            b"balena-extension-proxy\0c1\0",
            b"balena-extension-proxy\0c1\0/run/ber\0extra\0",
            b"x-balena-extension-proxy\0c1\0/run/ber\0",
            b"sh\0-c\0balena-extension-proxy\0c1\0/run/ber\0",
            b"/bin/qemu\0/bin/sh\0sh\0c1\0/run/ber\0",
            b"/q\0/p\0/q\0balena-extension-proxy\0c1\0/run/ber\0",
            b"",
        ] {
            assert!(
                proxy_args(stranger).is_none(),
                "{}",
                String::from_utf8_lossy(stranger)
            );
        }
    }

    #[test]
    fn exit_codes_follow_the_shell_convention() {
        assert_eq!(exit_code(7 << 8), 7);
        assert_eq!(exit_code(libc::SIGKILL), 128 + libc::SIGKILL);
    }
}
