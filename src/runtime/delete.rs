//! `delete`: stop what is left of the container, run its delete hook (at
//! most once; a failure is a warning, as for an OCI poststop hook) and
//! remove its state.

use std::path::Path;
use std::time::{Duration, Instant};

use super::{does_not_exist, Globals};
use crate::error::{Error, Result};
use crate::hooks::{self, Sinks};
use crate::proc;
use crate::state::{self, Lock, Opened, Record, Root};

pub fn delete(g: &Globals, id: &str, force: bool) -> Result<()> {
    state::validate_id(id)?;
    if std::fs::symlink_metadata(&g.root).is_err() {
        return if force {
            Ok(())
        } else {
            Err(does_not_exist(id))
        };
    }
    let root = Root::open(&g.root, false)?;
    root.remove_stale_reservation(id);
    let container = match root.open_container(id, Lock::TryExclusive)? {
        Opened::Found(c) => c,
        Opened::Missing if force => return Ok(()),
        Opened::Missing => return Err(does_not_exist(id)),
        Opened::Busy => {
            // A start hook's runner holds the lock for as long as the hook
            // runs: refuse at once, or with --force stop it, rather than
            // wait out its time limit.
            if let Opened::Found(peek) = root.open_container(id, Lock::None)? {
                if let Ok(Some(rec)) = peek.read() {
                    if !force && rec.live_status() == state::RUNNING {
                        return Err(not_stopped(id));
                    }
                    if force {
                        stop_everything(&rec);
                    }
                }
            }
            match root.open_container(id, Lock::Exclusive)? {
                Opened::Found(c) => c,
                _ if force => return Ok(()),
                _ => return Err(does_not_exist(id)),
            }
        }
    };
    let mut rec = match container.read() {
        Ok(Some(rec)) => rec,
        Ok(None) => {
            crate::log::warn(&format!(
                "container \"{id}\": removing what an interrupted create left"
            ));
            kill_lost_proxies(id, &g.root);
            return container.remove();
        }
        Err(e) if force => {
            crate::log::warn(&format!(
                "container \"{id}\": removing unreadable state: {e}"
            ));
            kill_lost_proxies(id, &g.root);
            return container.remove();
        }
        Err(e) => return Err(e),
    };
    let status = rec.live_status();
    if status == state::RUNNING && !force {
        return Err(not_stopped(id));
    }
    stop_everything(&rec);

    if !rec.delete_hook_started {
        run_delete_hook(g, &container, &mut rec)?;
    }
    remove_pid_file_temps(&rec);
    container.remove()?;
    crate::log::info(&format!("container \"{id}\" deleted"));
    Ok(())
}

fn run_delete_hook(g: &Globals, container: &state::Container, rec: &mut Record) -> Result<()> {
    let id = rec.id.clone();
    let warn = |msg: String| {
        crate::log::warn(&msg);
        crate::output::eprint_line(&format!("warning: {msg}"));
    };
    let path = match hooks::find(Path::new(&rec.rootfs), hooks::DELETE) {
        Ok(Some(path)) => path,
        Ok(None) => return Ok(()),
        Err(e) => {
            warn(format!("container \"{id}\": delete hook not run: {e}"));
            return Ok(());
        }
    };
    rec.delete_hook_started = true;
    container.write(rec)?;
    let ctx = hooks::Context {
        id: &id,
        rootfs: Path::new(&rec.rootfs),
        labels: &rec.labels,
        mounts: &rec.mounts,
    };
    let sinks = Sinks {
        stdout: None,
        stderr: None,
    };
    match hooks::run(
        hooks::DELETE,
        &path,
        &ctx,
        g.hook_timeout,
        sinks,
        &mut |_| Ok(()),
    ) {
        Ok(done) if done.outcome.success() => {}
        Ok(done) => warn(done.failure(&id, hooks::DELETE, g.hook_timeout)),
        Err(e) => warn(format!("container \"{id}\": hook delete failed: {e}")),
    }
    Ok(())
}

/// Removes pid-file temp files a create killed in mid-write left behind.
fn remove_pid_file_temps(rec: &Record) {
    let Some(path) = rec.pid_file.as_deref().map(Path::new) else {
        return;
    };
    let (Some(dir), prefix) = (path.parent(), super::create::pid_file_temp_prefix(path)) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// runc's wording.
fn not_stopped(id: &str) -> Error {
    Error::new(format!(
        "cannot delete container {id} that is not stopped: running"
    ))
}

/// Without a readable state, the proxy is found by its arguments (ID and
/// state root), which no other container shares.
fn kill_lost_proxies(id: &str, root: &Path) {
    let Some(root) = root.to_str() else { return };
    for pid in proc::find_proxies(id, root) {
        // SAFETY: kill takes plain values; the process was just identified.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// SIGKILLs a running start hook and the proxy, then waits (bounded) until
/// they are really gone, so nothing of the container outlives its delete.
fn stop_everything(rec: &Record) {
    if rec.hook_alive() {
        proc::signal_group(rec.hook_pid, rec.hook_start, libc::SIGKILL);
    }
    let _ = rec.signal_proxy(libc::SIGKILL, None);
    let deadline = Instant::now() + Duration::from_secs(2);
    while (rec.proxy_alive() || rec.hook_alive()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
}
