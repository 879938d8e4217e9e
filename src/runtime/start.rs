//! `start`: run the start hook, record the container as stopped with the
//! hook's verdict as its exit code, and release the proxy with that code.
//! An extension has nothing to keep running: a started extension stops.

use std::os::fd::AsRawFd;
use std::path::Path;

use super::{load, open_root, Globals};
use crate::error::{Error, Result};
use crate::hooks::{self, Sinks};
use crate::state::{self, Lock};

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

    let code = match hook {
        None => 0,
        Some(path) => {
            // The hook's output belongs to the container: write it where the
            // proxy's stdout and stderr go, so `docker logs` shows it.
            let out = open_proxy_stream(rec.pid, 1);
            let err = open_proxy_stream(rec.pid, 2);
            let sinks = Sinks {
                stdout: out.as_ref().map(|f| f.as_raw_fd()),
                stderr: err.as_ref().map(|f| f.as_raw_fd()),
            };
            let rootfs = rec.rootfs.clone();
            let labels = rec.labels.clone();
            let mounts = rec.mounts.clone();
            let ctx = hooks::Context {
                id,
                rootfs: Path::new(&rootfs),
                labels: &labels,
                mounts: &mounts,
            };
            // Record the hook so that `kill` (docker rm -f) can reach it.
            let mut on_spawn = |pid, start| {
                rec.status = state::RUNNING.to_string();
                rec.hook_pid = pid;
                rec.hook_start = start;
                container.write(&rec)
            };
            let done = hooks::run(
                hooks::START,
                &path,
                &ctx,
                g.hook_timeout,
                sinks,
                &mut on_spawn,
            )?;
            if !done.outcome.success() {
                crate::log::warn(&format!(
                    "container \"{id}\": hook start failed ({}){}{}",
                    done.outcome.describe(g.hook_timeout),
                    if done.last_line.is_empty() { "" } else { ": " },
                    done.last_line
                ));
            }
            done.outcome.code()
        }
    };

    rec.status = state::STOPPED.to_string();
    rec.exit_code = code;
    rec.hook_pid = 0;
    rec.hook_start = 0;
    container.write(&rec)?;
    let released = rec.signal_proxy(libc::SIGUSR1, Some(code)).map_err(|e| {
        Error::io(
            format!(
                "container \"{id}\": cannot signal the proxy (pid {})",
                rec.pid
            ),
            &e,
        )
    })?;
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
/// terminal the engine gave the container). None if the proxy is gone.
fn open_proxy_stream(pid: i32, fd: i32) -> Option<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .append(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOCTTY)
        .open(format!("/proc/{pid}/fd/{fd}"))
        .ok()
}
