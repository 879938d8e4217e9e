//! Thin, safe wrappers over the libc calls the runtime needs. Every `unsafe`
//! block in the crate that is not about a process (see `proc`) lives here.

use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use crate::error::{Error, Result};

/// A C string from a path or argument; interior NULs are refused.
pub fn cstring(s: impl AsRef<OsStr>) -> Result<CString> {
    let bytes = s.as_ref().as_bytes();
    CString::new(bytes).map_err(|_| {
        Error::new(format!(
            "\"{}\" contains a NUL byte",
            String::from_utf8_lossy(bytes)
        ))
    })
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Sorts `v` in place so that no element is `less` than one before it (not
/// stable). A heapsort: a few hundred bytes of code per use, where each use
/// of the standard library's sorts costs kilobytes.
pub fn sort_by<T>(v: &mut [T], less: impl Fn(&T, &T) -> bool) {
    let sift = |v: &mut [T], mut node: usize| loop {
        let mut child = 2 * node + 1;
        if child >= v.len() {
            break;
        }
        if child + 1 < v.len() && less(&v[child], &v[child + 1]) {
            child += 1;
        }
        if !less(&v[node], &v[child]) {
            break;
        }
        v.swap(node, child);
        node = child;
    };
    for i in (0..v.len() / 2).rev() {
        sift(v, i);
    }
    for end in (1..v.len()).rev() {
        v.swap(0, end);
        sift(&mut v[..end], 0);
    }
}

/// Sorts strings bytewise, as `sort()` would.
pub fn sort_strings(v: &mut [String]) {
    sort_by(v, |a, b| a < b)
}

/// Retries a call that failed with EINTR.
pub fn retry<T: Copy + PartialOrd + Default>(mut f: impl FnMut() -> T) -> io::Result<T> {
    loop {
        let r = f();
        if r >= T::default() {
            return Ok(r);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

pub fn empty_sigset() -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the zeroed set it is given.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        set
    }
}

pub fn full_sigset() -> libc::sigset_t {
    // SAFETY: sigfillset initialises the zeroed set it is given.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        set
    }
}

pub fn sigset_of(signals: &[libc::c_int]) -> libc::sigset_t {
    let mut set = empty_sigset();
    for &s in signals {
        // SAFETY: `set` is initialised; an invalid number only returns EINVAL.
        unsafe { libc::sigaddset(&mut set, s) };
    }
    set
}

/// Replaces the calling thread's signal mask; returns the old one.
pub fn set_sigmask(how: libc::c_int, set: &libc::sigset_t) -> libc::sigset_t {
    let mut old = empty_sigset();
    // SAFETY: both pointers refer to valid sigset_t values.
    unsafe { libc::pthread_sigmask(how, set, &mut old) };
    old
}

/// A pipe whose ends are close-on-exec.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 succeeded, so both descriptors are open and ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

pub fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own, with integer arguments.
    unsafe {
        let flags = check(libc::fcntl(fd, libc::F_GETFL))?;
        check(libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK))?;
    }
    Ok(())
}

/// `read(2)` into `buf`, retrying EINTR.
pub fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the buffer is valid for writes of its length.
    retry(|| unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) }).map(|n| n as usize)
}

/// Writes all of `buf`, retrying EINTR and short writes.
pub fn write_all(fd: RawFd, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: the buffer is valid for reads of its length.
        let n = retry(|| unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) })? as usize;
        buf = &buf[n..];
    }
    Ok(())
}

/// Takes (or, with LOCK_NB, tries to take) an flock on `fd`.
pub fn flock(fd: RawFd, op: libc::c_int) -> io::Result<()> {
    // SAFETY: flock takes a descriptor and flags only.
    retry(|| unsafe { libc::flock(fd, op) }).map(|_| ())
}

/// `openat(2)` relative to a directory descriptor.
pub fn openat(
    dir: RawFd,
    name: &CStr,
    flags: libc::c_int,
    mode: libc::mode_t,
) -> io::Result<OwnedFd> {
    // SAFETY: `name` is NUL-terminated; the mode is passed as the variadic argument.
    let fd = retry(|| unsafe {
        libc::openat(
            dir,
            name.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    })?;
    // SAFETY: openat succeeded, so the descriptor is open and ours.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn mkdirat(dir: RawFd, name: &CStr, mode: libc::mode_t) -> io::Result<()> {
    // SAFETY: `name` is NUL-terminated.
    check(unsafe { libc::mkdirat(dir, name.as_ptr(), mode) }).map(|_| ())
}

pub fn unlinkat(dir: RawFd, name: &CStr, flags: libc::c_int) -> io::Result<()> {
    // SAFETY: `name` is NUL-terminated.
    check(unsafe { libc::unlinkat(dir, name.as_ptr(), flags) }).map(|_| ())
}

pub fn renameat(dir: RawFd, from: &CStr, to: &CStr) -> io::Result<()> {
    // SAFETY: both names are NUL-terminated.
    check(unsafe { libc::renameat(dir, from.as_ptr(), dir, to.as_ptr()) }).map(|_| ())
}

/// Renames without replacing an existing `to` (EEXIST instead).
///
/// The raw system call, not libc's wrapper: musl (as Rust bundles it) has
/// no `renameat2` symbol, and the wrapper adds nothing.
pub fn rename_noreplace(dir: RawFd, from: &CStr, to: &CStr) -> io::Result<()> {
    // SAFETY: both names are NUL-terminated; every argument is passed with
    // the width the system call expects (int descriptors, pointers, unsigned
    // flags).
    let r = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            dir,
            from.as_ptr(),
            dir,
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    check(r as libc::c_int).map(|_| ())
}

pub fn fsync(fd: RawFd) -> io::Result<()> {
    // SAFETY: fsync takes a descriptor only.
    retry(|| unsafe { libc::fsync(fd) }).map(|_| ())
}

pub fn fstat(fd: RawFd) -> io::Result<libc::stat> {
    // SAFETY: `st` is written by fstat before it is read.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        check(libc::fstat(fd, &mut st))?;
        Ok(st)
    }
}

/// `fstatat` without following a final symlink.
pub fn lstatat(dir: RawFd, name: &CStr) -> io::Result<libc::stat> {
    // SAFETY: `name` is NUL-terminated; `st` is written before it is read.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        check(libc::fstatat(
            dir,
            name.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW,
        ))?;
        Ok(st)
    }
}

/// Same file: device and inode are equal.
pub fn same_file(a: &libc::stat, b: &libc::stat) -> bool {
    a.st_dev == b.st_dev && a.st_ino == b.st_ino
}

pub fn dup(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC takes an integer argument.
    let new = check(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) })?;
    // SAFETY: fcntl succeeded, so the descriptor is open and ours.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Closes every descriptor from `first` up (close_range, with a loop for
/// kernels older than 5.9).
pub fn close_from(first: RawFd) {
    // SAFETY: close_range only closes descriptors; no memory is involved.
    if unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            0,
        )
    } == 0
    {
        return;
    }
    // SAFETY: getrlimit writes the struct it is given.
    let max = unsafe {
        let mut rl: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl);
        rl.rlim_cur.min(65_536) as RawFd
    };
    for fd in first..max {
        // SAFETY: closing a descriptor number, open or not, is harmless here.
        unsafe { libc::close(fd) };
    }
}

/// For a child that outlives the command that forked it: a session of its
/// own (signals to the caller's group miss it), stdio on /dev/null, and
/// every inherited descriptor closed. Descriptors this program opened are
/// all close-on-exec; ones without the flag came from the caller (the shim
/// reads our stdout and stderr to EOF, so holding them would hang it).
pub fn detach_from_caller() {
    // SAFETY: setsid, open, dup2 and close take plain values and a
    // NUL-terminated path; nothing else refers to descriptors 0..=2.
    unsafe {
        libc::setsid();
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        if null >= 0 {
            for fd in 0..=2 {
                libc::dup2(null, fd);
            }
            libc::close(null);
        }
    }
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<RawFd> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    for fd in fds.into_iter().filter(|&fd| fd > 2) {
        // SAFETY: F_GETFD and close take plain values; an fd that is not
        // open (read_dir's own, already closed) just fails.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 && flags & libc::FD_CLOEXEC == 0 {
                libc::close(fd);
            }
        }
    }
}

/// Drops this process's resident pages of file mappings that it never
/// wrote to (its own code and constants). They are clean copies of the
/// file, read back on use, so nothing changes but the resident set: a
/// process that will only wait gives back what starting up touched. A
/// mapping with any private dirty page (data, or relocations made before
/// it was made read-only) is left alone: dropping those would lose writes.
pub fn drop_clean_file_pages() {
    // Collect first, drop last: code run after the madvise calls faults
    // its pages back in, so as little as possible runs after them.
    let mut ranges = [(0usize, 0usize); 16];
    let mut count = 0;
    {
        let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
            return;
        };
        let mut clean: Option<(usize, usize)> = None;
        for line in smaps.lines().chain(std::iter::once("0-0 end")) {
            let mut fields = line.split_ascii_whitespace();
            let first = fields.next().unwrap_or("");
            if let Some((start, end)) = first.split_once('-') {
                // A new mapping: the previous one is clean if it still counts.
                if let Some(range) = clean.take() {
                    if count < ranges.len() {
                        ranges[count] = range;
                        count += 1;
                    }
                }
                let perms = fields.next().unwrap_or("");
                let path = fields.nth(3).unwrap_or("");
                if path.starts_with('/') && !perms.contains('w') {
                    if let (Ok(s), Ok(e)) = (
                        usize::from_str_radix(start, 16),
                        usize::from_str_radix(end, 16),
                    ) {
                        clean = Some((s, e));
                    }
                }
            } else if matches!(first, "Private_Dirty:" | "Anonymous:") && fields.next() != Some("0")
            {
                clean = None;
            }
        }
    }
    for &(start, end) in &ranges[..count] {
        // SAFETY: a file mapping of this process with no private dirty
        // page: dropping its pages loses nothing.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
    }
}

pub fn getpid() -> libc::pid_t {
    // SAFETY: getpid cannot fail.
    unsafe { libc::getpid() }
}

pub fn getuid() -> libc::uid_t {
    // SAFETY: getuid cannot fail.
    unsafe { libc::getuid() }
}

/// A `signalfd` for the given signals (which the caller has blocked).
pub fn signalfd(set: &libc::sigset_t) -> io::Result<OwnedFd> {
    // SAFETY: `set` is a valid sigset; -1 asks for a new descriptor.
    let fd = check(unsafe { libc::signalfd(-1, set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) })?;
    // SAFETY: signalfd succeeded, so the descriptor is open and ours.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Drains a non-blocking signalfd.
pub fn drain_signalfd(fd: &OwnedFd) {
    let mut buf = [0u8; std::mem::size_of::<libc::signalfd_siginfo>() * 4];
    while matches!(read(fd.as_raw_fd(), &mut buf), Ok(n) if n > 0) {}
}

/// `poll(2)` on `fds` for at most `timeout_ms` (-1: no limit).
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: libc::c_int) -> io::Result<usize> {
    // SAFETY: the slice is valid for `fds.len()` pollfd entries.
    let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    if r < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok(0);
        }
        return Err(err);
    }
    Ok(r as usize)
}

/// The system's page size: the kernel's cap on mount option data.
pub fn page_size() -> usize {
    // SAFETY: sysconf takes an integer name only.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as usize
    } else {
        4096
    }
}

/// Clock ticks per second, to turn /proc start times into seconds.
pub fn clock_ticks() -> u64 {
    // SAFETY: sysconf takes an integer name only.
    let n = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if n > 0 {
        n as u64
    } else {
        100
    }
}

/// The running kernel's release (`uname -r`).
pub fn kernel_release() -> Result<String> {
    // SAFETY: utsname is plain bytes; uname fills it.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, writable utsname.
    if unsafe { libc::uname(&mut u) } < 0 {
        return Err(Error::io("uname", &io::Error::last_os_error()));
    }
    let bytes: Vec<u8> = u
        .release
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

// ---- mounts and roots, for extension-mount ----------------------------

/// `fsopen(2)`: a filesystem context for `fstype`.
pub fn fsopen(fstype: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: a NUL-terminated name and flags; the fd returned is ours.
    let fd = unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), libc::FSOPEN_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `fsconfig(2)` with FSCONFIG_SET_STRING.
pub fn fsconfig_string(fs: &OwnedFd, key: &CStr, value: &CStr) -> io::Result<()> {
    // SAFETY: two NUL-terminated strings the call only reads.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            libc::FSCONFIG_SET_STRING,
            key.as_ptr(),
            value.as_ptr(),
            0 as libc::c_int,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `fsconfig(2)` FSCONFIG_CMD_CREATE, then `fsmount(2)` read-only, then
/// `move_mount(2)` onto `target`.
pub fn fs_create_and_attach(fs: &OwnedFd, target: &CStr) -> io::Result<()> {
    let null = std::ptr::null::<libc::c_char>();
    // SAFETY: a command with no key or value.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            libc::FSCONFIG_CMD_CREATE,
            null,
            null,
            0 as libc::c_int,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: integers only; the attribute is MOUNT_ATTR_RDONLY (it fits
    // the unsigned int the call takes).
    let m = unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            fs.as_raw_fd(),
            libc::FSMOUNT_CLOEXEC,
            libc::MOUNT_ATTR_RDONLY as libc::c_uint,
        )
    };
    if m < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this fd and nothing else owns it.
    let mnt = unsafe { OwnedFd::from_raw_fd(m as RawFd) };
    // SAFETY: an empty path with MOVE_MOUNT_F_EMPTY_PATH means the fd
    // itself; the target is a NUL-terminated path.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mnt.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            libc::MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `mount(2)`; `fstype` and `data` may be absent (a move, a bind).
pub fn mount(
    source: &CStr,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> io::Result<()> {
    let ptr = |c: Option<&CStr>| c.map_or(std::ptr::null(), CStr::as_ptr);
    // SAFETY: NUL-terminated strings or NULL, which mount(2) accepts for
    // the type and the data.
    let r = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            ptr(fstype),
            flags,
            ptr(data).cast(),
        )
    };
    check(r).map(drop)
}

pub fn umount(target: &CStr, flags: libc::c_int) -> io::Result<()> {
    // SAFETY: a NUL-terminated path.
    check(unsafe { libc::umount2(target.as_ptr(), flags) }).map(drop)
}

pub fn chdir(path: &CStr) -> io::Result<()> {
    // SAFETY: a NUL-terminated path.
    check(unsafe { libc::chdir(path.as_ptr()) }).map(drop)
}

pub fn fchdir(fd: RawFd) -> io::Result<()> {
    // SAFETY: an fd number; a bad one is EBADF.
    check(unsafe { libc::fchdir(fd) }).map(drop)
}

pub fn chroot(path: &CStr) -> io::Result<()> {
    // SAFETY: a NUL-terminated path.
    check(unsafe { libc::chroot(path.as_ptr()) }).map(drop)
}

/// `pivot_root(2)` (no libc wrapper on every libc).
pub fn pivot_root(new_root: &CStr, put_old: &CStr) -> io::Result<()> {
    // SAFETY: two NUL-terminated paths.
    let r = unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The filesystem type (`f_type`) of what `path` is on.
pub fn fs_type(path: &CStr) -> io::Result<u64> {
    // SAFETY: statfs is plain data; the call fills it.
    let mut s: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a valid, writable statfs.
    check(unsafe { libc::statfs(path.as_ptr(), &mut s) })?;
    // f_type is signed on some targets; the magic numbers are below 2^32.
    Ok(s.f_type as u64 & 0xffff_ffff)
}

/// `execv(2)`: returns only on failure.
pub fn execv(program: &CStr, args: &[CString]) -> io::Error {
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    // SAFETY: a NUL-terminated path and a NULL-terminated array of
    // NUL-terminated strings, all alive for the call.
    unsafe { libc::execv(program.as_ptr(), argv.as_ptr()) };
    io::Error::last_os_error()
}

#[cfg(test)]
mod tests {
    #[test]
    fn sort_by_orders_like_the_standard_sort() {
        let mut seed = 7u32;
        for n in [0, 1, 2, 3, 10, 257] {
            let mut v: Vec<String> = (0..n)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    format!("{}", seed % 97)
                })
                .collect();
            let mut want = v.clone();
            want.sort();
            super::sort_strings(&mut v);
            assert_eq!(v, want);
        }
    }

    #[test]
    fn rename_noreplace_renames_but_never_replaces() {
        use std::os::fd::AsRawFd;
        let dir = std::env::temp_dir().join(format!("ber-rename-{}", super::getpid()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("a")).unwrap();
        std::fs::create_dir_all(dir.join("c")).unwrap();
        let fd = std::fs::File::open(&dir).unwrap();
        let (a, b, c) = (c"a", c"b", c"c");
        super::rename_noreplace(fd.as_raw_fd(), a, b).unwrap();
        assert!(dir.join("b").is_dir() && !dir.join("a").exists());
        let err = super::rename_noreplace(fd.as_raw_fd(), b, c).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EEXIST));
        assert!(dir.join("b").is_dir());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
