//! `start`: run the start hook, record the container as stopped with the
//! hook's verdict as its exit code, and release the proxy with that code.
//! An extension has nothing to keep running: a started extension stops.
//!
//! Like runc's, this `start` returns as soon as the container runs: the hook
//! runs in a detached child of this process. containerd's shim and the
//! engine hold their locks on the container for as long as `start` takes,
//! so a `start` that waited for a slow hook would block `docker kill`,
//! `docker inspect` and `docker rm -f` for as long.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::{load, open_root, Globals};
use crate::error::{Error, Result};
use crate::hooks::{self, Progress, Sinks};
use crate::state::{self, Container, Lock, Record};
use crate::{proc, sys};

pub fn start(g: &Globals, id: &str) -> Result<()> {
    let root = open_root(g, id)?;
    let (container, mut rec) = load(&root, id, Lock::Exclusive)?;
    match rec.live_status() {
        state::CREATED => {}
        state::RUNNING => {
            return Err(Error::new(format!(
                "container \"{id}\": cannot start an already running container"
            )))
        }
        _ => {
            return Err(Error::new(format!(
                "container \"{id}\": cannot start a container that has stopped"
            )))
        }
    }
    // Failing here leaves the container created, as it was.
    let hook = hooks::find(Path::new(&rec.rootfs), hooks::START)
        .map_err(|e| e.context(format!("container \"{id}\"")))?;
    let Some(hook) = hook else {
        return finish(&container, &mut rec, 0);
    };

    // The runner tells us through this pipe once the hook runs and the state
    // says so ("ok"), or why it could not start it.
    let (report_r, report_w) = sys::pipe().map_err(|e| Error::io("cannot create a pipe", &e))?;
    match proc::fork().map_err(|e| Error::io("cannot fork", &e))? {
        None => {
            drop(report_r);
            let code = run_detached(g, &container, rec, &hook, report_w);
            std::process::exit(code);
        }
        Some(_) => {
            drop(report_w);
            let mut report = Vec::new();
            let mut buf = [0u8; 512];
            while let Ok(n) = sys::read(report_r.as_raw_fd(), &mut buf) {
                if n == 0 {
                    break;
                }
                report.extend_from_slice(&buf[..n]);
            }
            match report.as_slice() {
                b"ok" => Ok(()),
                [] => Err(Error::new(format!(
                    "container \"{id}\": the start hook runner died"
                ))),
                msg => Err(Error::new(String::from_utf8_lossy(msg).into_owned())),
            }
        }
    }
}

/// The detached runner: runs the hook to its end, records the verdict and
/// releases the proxy. It keeps the container's lock (inherited with the
/// directory descriptor) until then, and nothing of the shim's: the shim
/// reads `start`'s stdout and stderr to EOF.
fn run_detached(
    g: &Globals,
    container: &Container,
    mut rec: Record,
    hook: &Path,
    report: OwnedFd,
) -> i32 {
    sys::detach_from_caller();
    let id = rec.id.clone();
    // The hook's output belongs to the container: write it where the
    // proxy's stdout and stderr go, so `docker logs` shows it.
    let out = open_proxy_stream(rec.pid, 1);
    let err = open_proxy_stream(rec.pid, 2);
    let sinks = Sinks {
        stdout: out.as_ref().map(|f| f.as_raw_fd()),
        stderr: err.as_ref().map(|f| f.as_raw_fd()),
    };
    let rootfs = PathBuf::from(&rec.rootfs);
    let labels = rec.labels.clone();
    let mounts = rec.mounts.clone();
    let ctx = hooks::Context {
        id: &id,
        rootfs: &rootfs,
        labels: &labels,
        mounts: &mounts,
    };
    let mut report = Some(report);
    // Record the hook so that `kill` (docker rm -f) can reach it; only
    // then may `start` return.
    let mut progress = |step| match step {
        Progress::Forked { pid, start } => {
            rec.status = state::RUNNING.to_string();
            rec.hook_pid = pid;
            rec.hook_start = start;
            container.write(&rec)
        }
        Progress::Running => {
            if let Some(fd) = report.take() {
                let _ = sys::write_all(fd.as_raw_fd(), b"ok");
            }
            Ok(())
        }
    };
    let done = match hooks::run(
        hooks::START,
        hook,
        &ctx,
        g.hook_timeout,
        sinks,
        &mut progress,
    ) {
        Ok(done) => done,
        Err(e) => {
            // The hook did not run (it could not be executed): the container
            // stays created, as before `start`.
            crate::log::error(&e.msg);
            if rec.status == state::RUNNING {
                rec.status = state::CREATED.to_string();
                rec.hook_pid = 0;
                rec.hook_start = 0;
                let _ = container.write(&rec);
            }
            if let Some(fd) = report.take() {
                let _ = sys::write_all(fd.as_raw_fd(), e.msg.as_bytes());
            }
            return 1;
        }
    };
    if !done.outcome.success() {
        crate::log::warn(&done.failure(&id, hooks::START, g.hook_timeout));
    }
    match finish(container, &mut rec, done.outcome.code()) {
        Ok(()) => 0,
        Err(e) => {
            crate::log::error(&e.msg);
            1
        }
    }
}

/// Records the container stopped with `code` and lets the proxy exit with it.
fn finish(container: &Container, rec: &mut Record, code: i32) -> Result<()> {
    let id = rec.id.clone();
    rec.status = state::STOPPED.to_string();
    rec.exit_code = code;
    rec.hook_pid = 0;
    rec.hook_start = 0;
    container.write(rec)?;
    let released = rec.signal_proxy(libc::SIGUSR1, Some(code))?;
    if released {
        crate::log::info(&format!(
            "container \"{id}\" started and stopped with exit code {code}"
        ));
    } else {
        crate::log::warn(&format!(
            "container \"{id}\": the proxy (pid {}) was already gone",
            rec.pid
        ));
    }
    Ok(())
}

/// Opens the proxy's stdout or stderr anew through /proc (a pipe or the
/// terminal the engine gave the container). None if the proxy is gone, or
/// nobody reads that pipe any more: opened for writing, a pipe with no
/// reader blocks the open forever, as a FIFO does, so it is opened with
/// O_NONBLOCK (ENXIO then), which is cleared again for the writes: hook
/// output waits for a slow reader rather than being dropped.
fn open_proxy_stream(pid: i32, fd: i32) -> Option<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .append(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(format!("/proc/{pid}/fd/{fd}"))
        .ok()?;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own, with integer arguments.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) < 0 {
            return None;
        }
    }
    Some(file)
}
