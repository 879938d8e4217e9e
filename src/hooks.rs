//! Extension hooks: `<rootfs>/hooks/{create,start,delete}`.
//!
//! A hook runs on the host with an environment built from scratch (nothing
//! of containerd's leaks in), in its own process group, with a time limit.
//! Its output goes into pipes the runtime owns and is forwarded from there:
//! were the hook given the runtime's own stdout/stderr, a background child
//! it left behind would hold them open and the shim, which reads them to
//! EOF, would hang.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::labels;
use crate::proc::{self, Spawn};
use crate::state::MountRecord;
use crate::sys;

pub const CREATE: &str = "create";
pub const START: &str = "start";
pub const DELETE: &str = "delete";
pub const ALL: [&str; 3] = [CREATE, START, DELETE];

/// The fixed PATH hooks get: the host's system directories only.
pub const PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// Default time limit of one hook.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Exit code recorded for a hook that ran out of time (as timeout(1) does).
pub const TIMED_OUT_CODE: i32 = 124;

pub fn hook_path(rootfs: &Path, name: &str) -> PathBuf {
    rootfs.join("hooks").join(name)
}

/// The hook if the extension ships one. A hook that exists but cannot be
/// run is an error now rather than a surprise later.
pub fn find(rootfs: &Path, name: &str) -> Result<Option<PathBuf>> {
    let path = hook_path(rootfs, name);
    match std::fs::metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("hook {}", path.display()), &e)),
        Ok(m) if !m.is_file() => Err(Error::new(format!(
            "hook {} is not a regular file",
            path.display()
        ))),
        Ok(m) if m.permissions().mode() & 0o111 == 0 => Err(Error::new(format!(
            "hook {} is not executable",
            path.display()
        ))),
        Ok(_) => Ok(Some(path)),
    }
}

/// What a hook is told about its extension.
pub struct Context<'a> {
    pub id: &'a str,
    pub rootfs: &'a Path,
    pub labels: &'a labels::Labels,
    pub mounts: &'a [MountRecord],
}

/// The hook's whole environment.
pub fn environment(ctx: &Context) -> Result<Vec<CString>> {
    let mut env = vec![
        format!("PATH={PATH}"),
        format!("EXTENSION_ROOTFS={}", ctx.rootfs.display()),
        format!("EXTENSION_CONTAINER_ID={}", ctx.id),
    ];
    for (key, value) in ctx.labels {
        env.push(format!("{}={value}", labels::env_name(key)));
    }
    for m in ctx.mounts {
        env.push(format!(
            "{}={}",
            labels::volume_env_name(&m.destination),
            m.source
        ));
    }
    env.into_iter().map(sys::cstring).collect()
}

pub enum Outcome {
    Exited(i32),
    Signaled(i32),
    TimedOut,
}

impl Outcome {
    /// The code an engine shows for it (`Exited (N)`).
    pub fn code(&self) -> i32 {
        match *self {
            Outcome::Exited(c) => c,
            Outcome::Signaled(s) => 128 + s,
            Outcome::TimedOut => TIMED_OUT_CODE,
        }
    }

    pub fn success(&self) -> bool {
        matches!(self, Outcome::Exited(0))
    }

    pub fn describe(&self, timeout: Duration) -> String {
        match *self {
            Outcome::Exited(c) => format!("exit status {c}"),
            Outcome::Signaled(s) => format!("killed by {}", crate::signals::name(s)),
            Outcome::TimedOut => format!("timed out after {}s and was killed", timeout.as_secs()),
        }
    }
}

pub struct Finished {
    pub outcome: Outcome,
    /// The last line the hook wrote (stderr preferred), for error messages.
    pub last_line: String,
}

impl Finished {
    /// `container "ID": hook NAME failed (exit status 3): <last line>`.
    pub fn failure(&self, id: &str, name: &str, timeout: Duration) -> String {
        format!(
            "container \"{id}\": hook {name} failed {}",
            self.how(timeout)
        )
    }

    /// How it ended and its last words: `(exit status 3): <last line>`.
    pub fn how(&self, timeout: Duration) -> String {
        let mut msg = format!("({})", self.outcome.describe(timeout));
        if !self.last_line.is_empty() {
            msg += ": ";
            msg += &self.last_line;
        }
        msg
    }
}

/// Where a hook's output is forwarded besides the log.
#[derive(Clone, Copy)]
pub struct Sinks {
    pub stdout: Option<RawFd>,
    pub stderr: Option<RawFd>,
}

/// One output stream of the hook: its pipe, where it goes, and the line
/// being assembled for the log.
struct Stream {
    pipe: Option<OwnedFd>,
    sink: Option<RawFd>,
    label: &'static str,
    partial: Vec<u8>,
    last_line: String,
}

impl Stream {
    fn forward(&mut self, hook: &str, data: &[u8]) {
        if let Some(fd) = self.sink {
            // The reader may be gone (EPIPE); the log still gets it.
            let _ = sys::write_all(fd, data);
        }
        self.partial.extend_from_slice(data);
        while let Some(nl) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=nl).collect();
            self.log_line(hook, &line[..nl]);
        }
    }

    fn log_line(&mut self, hook: &str, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end();
        if text.is_empty() {
            return;
        }
        crate::log::info(&format!("hook {hook} {}: {text}", self.label));
        self.last_line = text.chars().take(400).collect();
    }

    /// Reads what is there; false at EOF or error.
    fn read_some(&mut self, hook: &str) -> bool {
        let Some(fd) = self.pipe.as_ref().map(|p| p.as_raw_fd()) else {
            return false;
        };
        let mut buf = [0u8; 4096];
        match sys::read(fd, &mut buf) {
            Ok(0) | Err(_) => {
                self.pipe = None;
                false
            }
            Ok(n) => {
                self.forward(hook, &buf[..n]);
                true
            }
        }
    }

    fn finish(&mut self, hook: &str) {
        if let Some(fd) = self.pipe.as_ref().map(|p| p.as_raw_fd()) {
            // The hook has exited; take what it left in the pipe without
            // waiting for EOF, which a background child may hold off forever.
            let _ = sys::set_nonblocking(fd);
            while self.read_some(hook) {}
        }
        self.pipe = None;
        let rest = std::mem::take(&mut self.partial);
        self.log_line(hook, &rest);
    }
}

/// Where a hook is on its way to running, as told to `run`'s caller.
pub enum Progress {
    /// Forked, not yet running: the caller records it (start does, so that
    /// `kill` can reach a slow hook). If the caller fails, it never runs.
    Forked { pid: libc::pid_t, start: u64 },
    /// Exec'd: the hook runs.
    Running,
}

/// Runs a hook to completion or to its time limit, telling `progress` how
/// far it got. An error from here means the hook did not run.
pub fn run(
    name: &str,
    path: &Path,
    ctx: &Context,
    timeout: Duration,
    sinks: Sinks,
    progress: &mut dyn FnMut(Progress) -> Result<()>,
) -> Result<Finished> {
    let what = || format!("hook {name} of container \"{}\"", ctx.id);
    let io_err = |e: std::io::Error| Error::io(what(), &e);

    let chld = sys::sigset_of(&[libc::SIGCHLD]);
    let old_mask = sys::set_sigmask(libc::SIG_BLOCK, &chld);
    let sfd = sys::signalfd(&chld).map_err(io_err)?;
    let (out_r, out_w) = sys::pipe().map_err(io_err)?;
    let (err_r, err_w) = sys::pipe().map_err(io_err)?;
    let devnull = std::fs::File::open("/dev/null").map_err(io_err)?;

    let mut spawn = Spawn::new(sys::cstring(path)?, vec![sys::cstring(path)?]);
    spawn.env = environment(ctx)?;
    spawn.cwd = Some(sys::cstring(ctx.rootfs)?);
    spawn.fds = vec![devnull.as_raw_fd(), out_w.as_raw_fd(), err_w.as_raw_fd()];
    // The hook runs only once the caller has recorded it: were this
    // process killed in between, nothing would name the hook and nothing
    // could stop it. Its gate then closes empty and it exits unrun.
    let (gate_r, gate_w) = sys::pipe().map_err(io_err)?;
    let started = spawn
        .start(Some((gate_r.as_raw_fd(), gate_w.as_raw_fd())))
        .map_err(|e| e.context(what()))?;
    let pid = started.pid;
    drop((out_w, err_w, devnull, gate_r));
    let start = proc::stat(pid).map(|s| s.start).unwrap_or(0);
    if let Err(e) = progress(Progress::Forked { pid, start }) {
        kill_and_reap(pid);
        return Err(e);
    }
    let _ = sys::write_all(gate_w.as_raw_fd(), b"x");
    drop(gate_w);
    started.exec_result().map_err(|e| e.context(what()))?;
    progress(Progress::Running)?;
    crate::log::debug(&format!("{} started as pid {pid}", what()));

    let mut streams = [
        Stream {
            pipe: Some(out_r),
            sink: sinks.stdout,
            label: "stdout",
            partial: Vec::new(),
            last_line: String::new(),
        },
        Stream {
            pipe: Some(err_r),
            sink: sinks.stderr,
            label: "stderr",
            partial: Vec::new(),
            last_line: String::new(),
        },
    ];
    let deadline = Instant::now() + timeout;
    let outcome = loop {
        if let Some(status) = proc::wait(pid, libc::WNOHANG).map_err(io_err)? {
            break if libc::WIFSIGNALED(status) {
                Outcome::Signaled(libc::WTERMSIG(status))
            } else {
                Outcome::Exited(proc::exit_code(status))
            };
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            kill_and_reap(pid);
            break Outcome::TimedOut;
        }
        let fd_of = |s: &Stream| s.pipe.as_ref().map_or(-1, |p| p.as_raw_fd());
        let mut fds = [
            libc::pollfd {
                fd: fd_of(&streams[0]),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: fd_of(&streams[1]),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: sfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let ms = left.as_millis().min(i32::MAX as u128) as libc::c_int;
        sys::poll(&mut fds, ms.max(1)).map_err(io_err)?;
        for (i, stream) in streams.iter_mut().enumerate() {
            if fds[i].revents != 0 {
                stream.read_some(name);
            }
        }
        if fds[2].revents != 0 {
            sys::drain_signalfd(&sfd);
        }
    };
    for s in streams.iter_mut() {
        s.finish(name);
    }
    sys::set_sigmask(libc::SIG_SETMASK, &old_mask);
    let [out, err] = streams;
    let last_line = if err.last_line.is_empty() {
        out.last_line
    } else {
        err.last_line
    };
    crate::log::debug(&format!("{} ended: {}", what(), outcome.describe(timeout)));
    Ok(Finished { outcome, last_line })
}

/// Kills a hook and everything in its process group, then reaps it.
fn kill_and_reap(pid: libc::pid_t) {
    // SAFETY: kill takes plain values; `pid` is our unreaped child, so its
    // PID (and group ID) cannot have been reused.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    let _ = proc::wait(pid, 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_is_built_from_scratch() {
        let labels: labels::Labels = [("io.balena.image.class".to_string(), "overlay".to_string())]
            .into_iter()
            .collect();
        let mounts = vec![MountRecord {
            destination: "/data".into(),
            source: "/var/x".into(),
        }];
        let ctx = Context {
            id: "c1",
            rootfs: Path::new("/r"),
            labels: &labels,
            mounts: &mounts,
        };
        let env: Vec<String> = environment(&ctx)
            .unwrap()
            .into_iter()
            .map(|c| c.into_string().unwrap())
            .collect();
        assert_eq!(
            env,
            [
                "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                "EXTENSION_ROOTFS=/r",
                "EXTENSION_CONTAINER_ID=c1",
                "EXTENSION_IMAGE_CLASS=overlay",
                "EXTENSION_VOLUME_DATA=/var/x",
            ]
        );
    }
}
