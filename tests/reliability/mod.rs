//! Helpers shared by the crash-safety and concurrency tests: direct command
//! lines, process scans, invariant checks and how many rounds to run.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{args_of, binary, pids, running};

/// The runtime with a private state root, its log in JSON.
pub struct Rt {
    pub root: PathBuf,
    pub log: PathBuf,
    /// Where pid files go (the "bundle" of each container).
    pub pids: PathBuf,
}

impl Rt {
    pub fn new(dir: &Path) -> Rt {
        crate::common::become_subreaper();
        let pids = dir.join("pids");
        fs::create_dir_all(&pids).unwrap();
        Rt {
            root: dir.join("state"),
            log: dir.join("log.json"),
            pids,
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(binary());
        c.arg("--root").arg(&self.root);
        c.arg("--log").arg(&self.log).args(["--log-format", "json"]);
        c.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    }

    pub fn pid_file(&self, id: &str) -> PathBuf {
        self.pids.join(format!("{id}.pid"))
    }

    /// `create` as a child process (stdio to /dev/null: the proxy keeps it).
    pub fn spawn_create(&self, bundle: &Path, id: &str) -> Child {
        self.create_command(bundle, id, &self.pid_file(id))
            .spawn()
            .unwrap()
    }

    /// `create ID` with the bundle and pid file given.
    fn create_command(&self, bundle: &Path, id: &str, pid_file: &Path) -> Command {
        self.command(&[
            "create",
            "--bundle",
            bundle.to_str().unwrap(),
            "--pid-file",
            pid_file.to_str().unwrap(),
            id,
        ])
    }

    /// Any other command as a child process.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args).spawn().unwrap()
    }

    /// Runs a command to its end and captures stdout and stderr.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .unwrap()
    }

    /// `create` to its end. Its stderr goes to a file, not a pipe: the
    /// proxy keeps it open, so a pipe would never reach EOF.
    pub fn create(&self, bundle: &Path, id: &str) -> (bool, String) {
        self.create_with(bundle, id, &self.pid_file(id))
    }

    /// `create` writing its pid file to `pid_file`.
    pub fn create_with(&self, bundle: &Path, id: &str, pid_file: &Path) -> (bool, String) {
        let err_path = pid_file.with_extension("stderr");
        let status = self
            .create_command(bundle, id, pid_file)
            .stderr(fs::File::create(&err_path).unwrap())
            .status()
            .unwrap();
        let err = fs::read_to_string(&err_path).unwrap_or_default();
        let _ = fs::remove_file(&err_path);
        (status.success(), err)
    }

    /// Every line of the log is one valid JSON object (the shim decodes
    /// the whole file and loses everything on one bad line).
    pub fn assert_log_valid(&self) -> usize {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        for line in text.lines() {
            let parsed: Result<miniserde::json::Object, _> = miniserde::json::from_str(line);
            assert!(parsed.is_ok(), "invalid log line: {line:?}");
        }
        text.lines().count()
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Running processes whose environment names container `id` (its hooks).
pub fn hooks_of(id: &str) -> Vec<i32> {
    let needle = format!("EXTENSION_CONTAINER_ID={id}");
    pids()
        .into_iter()
        .filter(|&pid| {
            fs::read(format!("/proc/{pid}/environ"))
                .map(|env| env.split(|&b| b == 0).any(|v| v == needle.as_bytes()))
                .unwrap_or(false)
                && running(pid)
        })
        .collect()
}

/// Tests in one binary share the process: `reap_all` waits for any child,
/// so it would steal the exit status of a command another test thread is
/// waiting for. Every test that reaps holds this for its whole run.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Reaps every exited child (orphaned proxies and hooks land on us, the
/// subreaper). Call only while no `Child` of ours is still being waited on.
pub fn reap_all() {
    loop {
        let mut status = 0;
        // SAFETY: waitpid with WNOHANG and a valid out-pointer.
        let r = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if r <= 0 {
            break;
        }
    }
}

/// Polls `cond` until it holds or `limit` passes (longer under emulation).
pub fn within(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + crate::common::bound(limit);
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// What a state file says, checked to be a whole, valid record.
pub struct Seen {
    pub status: String,
    pub pid: i32,
}

/// Reads `<root>/<id>/state.json` if it exists; panics if it does not parse
/// or does not describe `id`.
pub fn read_state(root: &Path, id: &str) -> Option<Seen> {
    let path = root.join(id).join("state.json");
    let text = fs::read_to_string(&path).ok()?;
    let obj: miniserde::json::Object = miniserde::json::from_str(&text)
        .unwrap_or_else(|_| panic!("{} does not parse: {text:?}", path.display()));
    let get = |k: &str| match obj.get(k) {
        Some(miniserde::json::Value::String(s)) => s.clone(),
        Some(miniserde::json::Value::Number(n)) => n.to_string(),
        _ => panic!("{} has no {k}: {text}", path.display()),
    };
    assert_eq!(get("id"), id, "{}", path.display());
    let status = get("status");
    assert!(
        ["created", "running", "stopped"].contains(&status.as_str()),
        "{}: status {status}",
        path.display()
    );
    Some(Seen {
        status,
        pid: get("pid").parse().unwrap(),
    })
}

/// Names in `dir` (empty if it does not exist).
pub fn entries(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// How many rounds to run: `default`, scaled by `RELIABILITY_SCALE`
/// (e.g. 10 for a long local run).
pub fn rounds(default: usize) -> usize {
    let scale: f64 = std::env::var("RELIABILITY_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    ((default as f64) * scale).max(1.0) as usize
}

/// Running runtime processes working on `root` (a command, or the detached
/// runner that `start` leaves to wait for the start hook).
pub fn runtimes(root: &Path) -> Vec<i32> {
    let root = root.to_str().unwrap().as_bytes();
    pids()
        .into_iter()
        .filter(|&pid| {
            let args = args_of(pid);
            !args.is_empty()
                && args[0].ends_with(b"balena-extension-runtime")
                && args.windows(2).any(|w| w[0] == b"--root" && w[1] == root)
                && running(pid)
        })
        .collect()
}

/// SIGKILLs every runtime process working on `root`; returns how many.
pub fn kill_runtimes(root: &Path) -> usize {
    let found = runtimes(root);
    for &pid in &found {
        // SAFETY: kill with plain values, on a process just identified.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    found.len()
}

/// Waits (bounded) until `state` reports `status` for `id`.
pub fn wait_status(rt: &Rt, id: &str, status: &str) -> bool {
    within(Duration::from_secs(10), || {
        let o = rt.run(&["state", id]);
        o.status.success() && text(&o.stdout).contains(&format!("\"status\": \"{status}\""))
    })
}
