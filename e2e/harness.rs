//! Plumbing for the end-to-end tests: the environment `e2e/run.sh` sets up,
//! bounded command execution, `docker`/`ctr` wrappers, test images built on
//! the fly (no registry), and checks for things left behind.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread;
use std::time::{Duration, Instant};

pub const SKIP: &str = "skipped: e2e daemons not started (run make e2e as root)";

/// Default bound for one `docker`/`ctr` command.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(90);

/// The hooks' PATH, as documented.
pub const HOOK_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// Set in the daemons' environment by `e2e/daemons.sh`; hooks must not see it.
pub const DAEMON_ENV_MARKER: &str = "E2E_DAEMON_ENV_MARKER";

/// Tests that restart the daemons take this for writing; all others for
/// reading, so they never overlap a restart even with several test threads.
static DAEMONS: RwLock<()> = RwLock::new(());

pub enum Guard {
    Shared(#[allow(dead_code)] RwLockReadGuard<'static, ()>),
    Exclusive(#[allow(dead_code)] RwLockWriteGuard<'static, ()>),
}

/// What `e2e/run.sh` tells the tests.
pub struct Env {
    pub tmp: PathBuf,
    pub runtime: PathBuf,
    pub containerd: String,
    pub docker_host: String,
    pub docker_exec_root: PathBuf,
    pub bridge_host: String,
    /// The engine only the manager's scenarios use.
    pub manager_host: String,
    pub manager_root: PathBuf,
    /// The engine that writes the boot scenarios' disk (`e2e/boot.rs`).
    pub boot_host: String,
    pub boot_root: PathBuf,
    pub daemons_script: PathBuf,
    /// This test's own scratch directory under `$E2E_TMP/work`.
    pub work: PathBuf,
    pub test: String,
    _guard: Guard,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The environment for test `test`, or `None` (after printing why) when the
/// daemons were not started; panics instead when `E2E_REQUIRED=1`.
pub fn setup(test: &str) -> Option<Env> {
    setup_with(test, false)
}

/// Like [`setup`], for a test that restarts the daemons.
pub fn setup_exclusive(test: &str) -> Option<Env> {
    setup_with(test, true)
}

fn setup_with(test: &str, exclusive: bool) -> Option<Env> {
    let Some(tmp) = var("E2E_TMP") else {
        if var("E2E_REQUIRED").as_deref() == Some("1") {
            panic!("E2E_REQUIRED=1 but the e2e daemons were not started: run `make e2e` as root");
        }
        // Straight to fd 2: libtest captures `eprintln!` of passing tests.
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "{test}: {SKIP}");
        return None;
    };
    let need = |name: &str| var(name).unwrap_or_else(|| panic!("E2E_TMP is set but {name} is not"));
    let guard = if exclusive {
        Guard::Exclusive(DAEMONS.write().unwrap_or_else(|e| e.into_inner()))
    } else {
        Guard::Shared(DAEMONS.read().unwrap_or_else(|e| e.into_inner()))
    };
    let tmp = PathBuf::from(tmp);
    let work = tmp.join("work").join(test);
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).unwrap();
    Some(Env {
        runtime: PathBuf::from(need("E2E_RUNTIME")),
        containerd: need("E2E_CONTAINERD_ADDRESS"),
        docker_host: need("E2E_DOCKER_HOST"),
        docker_exec_root: PathBuf::from(need("E2E_DOCKER_EXEC_ROOT")),
        bridge_host: need("E2E_DOCKER_BRIDGE_HOST"),
        manager_host: need("E2E_DOCKER_MANAGER_HOST"),
        manager_root: PathBuf::from(need("E2E_DOCKER_MANAGER_ROOT")),
        boot_host: need("E2E_DOCKER_BOOT_HOST"),
        boot_root: PathBuf::from(need("E2E_DOCKER_BOOT_ROOT")),
        daemons_script: PathBuf::from(need("E2E_DAEMONS")),
        tmp,
        work,
        test: test.to_string(),
        _guard: guard,
    })
}

/// A failed test must not disturb the next: its containers (named
/// `e2e-<test>-…`, see [`unique`]) and every process mentioning them are
/// removed, by ID and PID, before the daemon lock is released.
impl Drop for Env {
    fn drop(&mut self) {
        if !thread::panicking() {
            return;
        }
        let prefix = format!("e2e-{}-", self.test);
        let limit = Duration::from_secs(20);
        for host in [&self.docker_host, &self.bridge_host, &self.manager_host] {
            let mut ps = Command::new("docker");
            ps.arg("-H").arg(host).args([
                "ps",
                "-a",
                "--no-trunc",
                "--format",
                "{{.ID}} {{.Names}}",
            ]);
            let Ok(list) = spawn(&mut ps).wait_for(limit) else {
                continue;
            };
            for (id, _) in list
                .stdout
                .lines()
                .filter_map(|l| l.split_once(' '))
                .filter(|(_, n)| n.starts_with(&prefix))
            {
                kill_procs_mentioning(id);
                let _ = spawn(
                    Command::new("docker")
                        .arg("-H")
                        .arg(host)
                        .args(["rm", "-f", id]),
                )
                .wait_for(limit);
            }
        }
        let ctr = self.ctr();
        let Ok(list) = spawn(ctr.cmd().args(["containers", "ls", "-q"])).wait_for(limit) else {
            return;
        };
        for id in list.stdout.lines().filter(|id| id.starts_with(&prefix)) {
            kill_procs_mentioning(id);
            let _ = spawn(ctr.cmd().args(["tasks", "delete", "--force", id])).wait_for(limit);
            let _ = spawn(ctr.cmd().args(["containers", "delete", id])).wait_for(limit);
        }
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A name unique within this run: `e2e-<prefix>-<pid>-<n>`; tests use their
/// own name as prefix (see `impl Drop for Env`).
pub fn unique(prefix: &str) -> String {
    format!(
        "e2e-{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

// ---------------------------------------------------------------------------
// Running commands, always with a deadline.

pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub cmdline: String,
    pub elapsed: Duration,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Panics unless the command succeeded; returns trimmed stdout.
    pub fn ok(self) -> String {
        assert!(self.success(), "command failed: {self}");
        self.stdout.trim().to_string()
    }

    /// Panics if the command succeeded; returns it for more checks.
    pub fn failed(self) -> Output {
        assert!(!self.success(), "command unexpectedly succeeded: {self}");
        self
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "`{}` -> exit {:?} after {:.1}s\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmdline,
            self.code,
            self.elapsed.as_secs_f64(),
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

fn reader<R: Read + Send + 'static>(mut r: R) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
    });
    rx
}

/// A command started in the background; [`Running::wait`] bounds it.
pub struct Running {
    child: std::process::Child,
    out: mpsc::Receiver<String>,
    err: mpsc::Receiver<String>,
    cmdline: String,
    started: Instant,
}

pub fn spawn(cmd: &mut Command) -> Running {
    let cmdline = describe(cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `{cmdline}`: {e}"));
    let out = reader(child.stdout.take().unwrap());
    let err = reader(child.stderr.take().unwrap());
    Running {
        child,
        out,
        err,
        cmdline,
        started: Instant::now(),
    }
}

impl Running {
    /// The command's PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the command has not exited yet.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits up to `limit`; `Err` (with the output so far) if the command
    /// was still running then, and has been killed.
    pub fn wait_for(mut self, limit: Duration) -> Result<Output, Output> {
        let deadline = self.started + limit;
        let status = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break Some(st);
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            thread::sleep(Duration::from_millis(20));
        };
        let grace = Duration::from_secs(if status.is_some() { 10 } else { 2 });
        let out = Output {
            code: status.and_then(|s| s.code()),
            stdout: self.out.recv_timeout(grace).unwrap_or_default(),
            stderr: self.err.recv_timeout(grace).unwrap_or_default(),
            cmdline: self.cmdline.clone(),
            elapsed: self.started.elapsed(),
        };
        if status.is_some() {
            Ok(out)
        } else {
            Err(out)
        }
    }

    /// Waits up to `limit`, panicking (with the output so far) on timeout.
    pub fn wait(self, limit: Duration) -> Output {
        match self.wait_for(limit) {
            Ok(out) => out,
            Err(out) => panic!("timed out after {}s: {out}", limit.as_secs()),
        }
    }
}

/// A command nobody waited for (a test failed first) is killed, not leaked.
impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn run(cmd: &mut Command, limit: Duration) -> Output {
    spawn(cmd).wait(limit)
}

/// Polls `cond` until it holds or `limit` passes; returns whether it held.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------
// Docker.

pub struct Docker {
    pub host: String,
}

impl Env {
    pub fn docker(&self) -> Docker {
        Docker {
            host: self.docker_host.clone(),
        }
    }

    /// The engine with Docker's default bridge network left on.
    pub fn docker_bridge(&self) -> Docker {
        Docker {
            host: self.bridge_host.clone(),
        }
    }

    /// The engine of the manager's scenarios (`docker-manager` to
    /// [`Env::dockerd`]).
    pub fn docker_manager(&self) -> Docker {
        Docker {
            host: self.manager_host.clone(),
        }
    }

    /// The engine of the boot scenarios (`docker-boot` to [`Env::dockerd`]).
    pub fn docker_boot(&self) -> Docker {
        Docker {
            host: self.boot_host.clone(),
        }
    }

    pub fn ctr(&self) -> Ctr<'_> {
        Ctr { env: self }
    }

    /// Runs `e2e/daemons.sh <action>` (start, stop, restart): only the
    /// daemons the harness started are ever stopped.
    pub fn daemons(&self, action: &str) {
        let out = run(
            Command::new("bash")
                .arg(&self.daemons_script)
                .arg(action)
                .env("E2E_TMP", &self.tmp),
            Duration::from_secs(240),
        );
        assert!(out.success(), "`daemons.sh {action}` failed: {out}");
    }

    /// Runs `e2e/daemons.sh stop-dockerd|start-dockerd NAME`: one engine
    /// (`docker`, `docker-bridge`, `docker-manager`), the others untouched.
    pub fn dockerd(&self, action: &str, name: &str) {
        let out = run(
            Command::new("bash")
                .arg(&self.daemons_script)
                .args([action, name])
                .env("E2E_TMP", &self.tmp),
            Duration::from_secs(240),
        );
        assert!(out.success(), "`daemons.sh {action} {name}` failed: {out}");
    }

    /// A fresh directory for one container's hook records.
    pub fn out_dir(&self, name: &str) -> PathBuf {
        let d = self.work.join(name);
        fs::create_dir_all(&d).unwrap();
        d
    }
}

impl Docker {
    pub fn cmd(&self) -> Command {
        let mut c = Command::new("docker");
        c.arg("-H").arg(&self.host);
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_for(args, CMD_TIMEOUT)
    }

    pub fn run_for(&self, args: &[&str], limit: Duration) -> Output {
        run(self.cmd().args(args), limit)
    }

    pub fn spawn(&self, args: &[&str]) -> Running {
        spawn(self.cmd().args(args))
    }

    pub fn ok(&self, args: &[&str]) -> String {
        self.run(args).ok()
    }

    /// `docker import` of `rootfs` as `tag` with the given image labels.
    pub fn import(&self, rootfs: &Rootfs, labels: &[(&str, &str)], tag: &str) {
        self.import_with(rootfs, labels, &[], tag)
    }

    /// Like [`Docker::import`], with more Dockerfile `changes` (`VOLUME /boot`).
    pub fn import_with(
        &self,
        rootfs: &Rootfs,
        labels: &[(&str, &str)],
        changes: &[&str],
        tag: &str,
    ) {
        let tar = rootfs.tar();
        let mut args: Vec<String> = vec!["import".into()];
        for (k, v) in labels {
            args.push("--change".into());
            args.push(format!("LABEL {k}={}", json_str(v)));
        }
        for c in changes {
            args.push("--change".into());
            args.push(c.to_string());
        }
        // `docker run` wants a command; the runtime never runs it.
        args.push("--change".into());
        args.push(r#"CMD ["/extension"]"#.into());
        args.push(tar.to_string_lossy().into_owned());
        args.push(tag.into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.ok(&args);
    }

    /// The full ID of container `name`. (From `docker ps`, which never
    /// blocks: `docker inspect` waits for the container's lock, held by
    /// dockerd for as long as the runtime's `start` runs.)
    pub fn id(&self, name: &str) -> String {
        let list = self.ok(&["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}}"]);
        list.lines()
            .find_map(|l| {
                l.split_once(' ')
                    .filter(|(_, n)| *n == name)
                    .map(|(id, _)| id.to_string())
            })
            .unwrap_or_else(|| panic!("no container named {name} in:\n{list}"))
    }

    /// The STATUS column of `docker ps -a` for the container ("" if none).
    pub fn ps_status(&self, id: &str) -> String {
        self.ok(&[
            "ps",
            "-a",
            "--no-trunc",
            "--filter",
            &format!("id={id}"),
            "--format",
            "{{.Status}}",
        ])
    }

    pub fn exists(&self, id: &str) -> bool {
        !self
            .ok(&[
                "ps",
                "-a",
                "-q",
                "--no-trunc",
                "--filter",
                &format!("id={id}"),
            ])
            .is_empty()
    }

    /// Waits until `docker ps -a` shows the container `Exited (N)`; returns N.
    pub fn wait_exited(&self, id: &str, limit: Duration) -> i32 {
        let mut last = String::new();
        let done = wait_until(limit, || {
            last = self.ps_status(id);
            last.starts_with("Exited (") || last.starts_with("Dead")
        });
        assert!(
            done,
            "container {id} still `{last}` after {}s",
            limit.as_secs()
        );
        let code = last
            .strip_prefix("Exited (")
            .and_then(|r| r.split(')').next())
            .and_then(|c| c.parse().ok());
        code.unwrap_or_else(|| panic!("container {id} ended `{last}`"))
    }

    /// Asserts `docker ps -a` shows `Exited (code)`.
    pub fn assert_exited(&self, id: &str, code: i32) {
        let status = self.ps_status(id);
        assert!(
            status.starts_with(&format!("Exited ({code})")),
            "docker ps -a shows `{status}` for {id}, expected `Exited ({code}) ...`"
        );
    }

    /// `docker rm` (bounded), asserting success.
    pub fn rm(&self, id: &str) {
        self.run_for(&["rm", id], Duration::from_secs(60)).ok();
    }

    /// `docker run` of `image` as an extension named `name`, its hooks
    /// recording into `out`; see [`ExtensionRun`].
    pub fn extension<'a>(&'a self, name: &'a str, out: &Path, image: &'a str) -> ExtensionRun<'a> {
        ExtensionRun {
            docker: self,
            name,
            out: out_label(out),
            image,
            create: false,
            detach: false,
            tty: false,
            options: Vec::new(),
        }
    }
}

/// `docker run [-d] [-t] --runtime extension --name NAME --label OUT
/// [OPTIONS] IMAGE`: what every scenario runs, so that each one spells out
/// only what it changes.
pub struct ExtensionRun<'a> {
    docker: &'a Docker,
    name: &'a str,
    out: String,
    image: &'a str,
    create: bool,
    detach: bool,
    tty: bool,
    options: Vec<String>,
}

impl ExtensionRun<'_> {
    /// `docker create` instead of `docker run`: the container is recorded
    /// and never started (the runtime is not called at all).
    pub fn create(mut self) -> Self {
        self.create = true;
        self
    }

    /// `-d`: `docker run` returns once the container is started.
    pub fn detach(mut self) -> Self {
        self.detach = true;
        self
    }

    /// `-t`: the runtime gets a `--console-socket`.
    pub fn tty(mut self) -> Self {
        self.tty = true;
        self
    }

    /// `--label LABEL` on the container record.
    pub fn label(self, label: &str) -> Self {
        self.options(&["--label", label])
    }

    /// More options, passed as they are (`-e`, `-v`, ...).
    pub fn options(mut self, options: &[&str]) -> Self {
        self.options.extend(options.iter().map(|o| o.to_string()));
        self
    }

    fn args(&self) -> Vec<&str> {
        let mut args = vec![if self.create { "create" } else { "run" }];
        if self.detach {
            args.push("-d");
        }
        if self.tty {
            args.push("-t");
        }
        args.extend(["--runtime", "extension", "--name", self.name]);
        args.extend(["--label", &self.out]);
        args.extend(self.options.iter().map(String::as_str));
        args.push(self.image);
        args
    }

    pub fn run(&self) -> Output {
        self.docker.run(&self.args())
    }

    pub fn run_for(&self, limit: Duration) -> Output {
        self.docker.run_for(&self.args(), limit)
    }

    pub fn spawn(&self) -> Running {
        self.docker.spawn(&self.args())
    }
}

// ---------------------------------------------------------------------------
// containerd.

pub struct Ctr<'a> {
    pub env: &'a Env,
}

pub const CTR_NAMESPACE: &str = "e2e";

impl Ctr<'_> {
    pub fn cmd(&self) -> Command {
        let mut c = Command::new("ctr");
        c.arg("-a")
            .arg(&self.env.containerd)
            .arg("-n")
            .arg(CTR_NAMESPACE);
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        run(self.cmd().args(args), CMD_TIMEOUT)
    }

    /// The `--root` the shim passes to our runtime for `ctr run`.
    pub fn runc_root(&self) -> PathBuf {
        self.env.tmp.join("ctr-runc")
    }

    /// Arguments to `ctr run` selecting our runtime, a private runc root and
    /// FIFO directory.
    pub fn runtime_args(&self) -> Vec<String> {
        vec![
            "--runtime".into(),
            "io.containerd.runc.v2".into(),
            "--runc-binary".into(),
            self.env.runtime.to_string_lossy().into_owned(),
            "--runc-root".into(),
            self.runc_root().to_string_lossy().into_owned(),
            "--fifo-dir".into(),
            self.env.tmp.join("ctr-fifo").to_string_lossy().into_owned(),
        ]
    }

    /// `ctr run --rm` of `image` as container `id` with our runtime, with
    /// `--annotation` for each of `annotations`.
    pub fn run_extension(&self, image: &str, id: &str, annotations: &[&str]) -> Output {
        let mut args = vec!["run".to_string(), "--rm".to_string()];
        args.extend(self.runtime_args());
        for a in annotations {
            args.extend(["--annotation".to_string(), a.to_string()]);
        }
        args.extend([image.to_string(), id.to_string()]);
        self.run(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// Imports `rootfs` as an OCI image-layout tarball built here; returns
    /// the image reference.
    pub fn import(&self, rootfs: &Rootfs, labels: &[(&str, &str)], tag: &str) -> String {
        let layout = oci_layout(rootfs, labels, tag);
        let base = "e2e.local/extension";
        self.run(&[
            "images",
            "import",
            "--base-name",
            base,
            &layout.to_string_lossy(),
        ])
        .ok();
        format!("{base}:{tag}")
    }
}

fn sha256_file(path: &Path) -> String {
    let out = run(Command::new("sha256sum").arg(path), Duration::from_secs(30)).ok();
    out.split_whitespace().next().unwrap().to_string()
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// Builds an OCI image layout (index.json, oci-layout, blobs/sha256/…) with
/// one uncompressed layer holding `rootfs`, and tars it.
fn oci_layout(rootfs: &Rootfs, labels: &[(&str, &str)], tag: &str) -> PathBuf {
    let dir = rootfs.dir.with_extension("oci");
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    let add_blob = |from: &Path| -> (String, u64) {
        let digest = sha256_file(from);
        let size = fs::metadata(from).unwrap().len();
        fs::copy(from, blobs.join(&digest)).unwrap();
        (digest, size)
    };
    let (layer, layer_size) = add_blob(&rootfs.tar());
    let labels_json: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{}:{}", json_str(k), json_str(v)))
        .collect();
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["/extension"],"Labels":{{{}}}}},"rootfs":{{"type":"layers","diff_ids":["sha256:{layer}"]}}}}"#,
        labels_json.join(",")
    );
    let scratch = rootfs.dir.with_extension("blob");
    fs::write(&scratch, config).unwrap();
    let (config, config_size) = add_blob(&scratch);
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{config}","size":{config_size}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:{layer}","size":{layer_size}}}]}}"#
    );
    fs::write(&scratch, manifest).unwrap();
    let (manifest, manifest_size) = add_blob(&scratch);
    fs::remove_file(&scratch).unwrap();
    fs::write(
        dir.join("index.json"),
        format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{manifest}","size":{manifest_size},"platform":{{"architecture":"amd64","os":"linux"}},"annotations":{{"org.opencontainers.image.ref.name":{}}}}}]}}"#,
            json_str(tag)
        ),
    )
    .unwrap();
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let tar = dir.with_extension("oci.tar");
    tar_dir(&dir, &tar, &[]);
    tar
}

/// Tars the contents of `dir` into `tar`, numeric IDs only, with `options`.
fn tar_dir(dir: &Path, tar: &Path, options: &[&str]) {
    run(
        Command::new("tar")
            .arg("--numeric-owner")
            .args(options)
            .arg("-C")
            .arg(dir)
            .arg("-cf")
            .arg(tar)
            .arg("."),
        Duration::from_secs(60),
    )
    .ok();
}

// ---------------------------------------------------------------------------
// Test images: a rootfs with hook scripts. The hooks run on the host, so a
// `#!/bin/sh` shebang uses the host's shell; the image needs no binaries.

pub struct Rootfs {
    pub dir: PathBuf,
}

/// Records what a hook saw into `$EXTENSION_IMAGE_E2E_OUT` (set from the
/// label `io.balena.image.e2e-out`): its name appended to `order`, its exact
/// initial environment in `<hook>.env`, its cwd in `<hook>.cwd`; prints
/// one line to stdout and one to stderr; then creates `<hook>.ran`.
pub fn recording_prologue(hook: &str) -> String {
    format!(
        r#"out="${{EXTENSION_IMAGE_E2E_OUT:?no EXTENSION_IMAGE_E2E_OUT}}"
echo {hook} >>"$out/order"
tr '\0' '\n' </proc/$$/environ >"$out/{hook}.env"
readlink /proc/$$/cwd >"$out/{hook}.cwd"
if [ -e "$EXTENSION_ROOTFS/hooks/{hook}" ]; then echo yes; else echo no; fi >"$out/{hook}.sees-rootfs"
echo "{hook} hook stdout for $EXTENSION_CONTAINER_ID"
echo "{hook} hook stderr for $EXTENSION_CONTAINER_ID" >&2
: >"$out/{hook}.tmp" && mv "$out/{hook}.tmp" "$out/{hook}.ran"
"#
    )
}

/// The label telling hooks where to record.
pub const OUT_LABEL: &str = "io.balena.image.e2e-out";

/// The label (`KEY=VALUE`) telling hooks to record into `out`.
pub fn out_label(out: &Path) -> String {
    format!("{OUT_LABEL}={}", out.display())
}

impl Rootfs {
    pub fn new(env: &Env, name: &str) -> Rootfs {
        let dir = env.work.join(format!("rootfs-{name}"));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("hooks")).unwrap();
        fs::write(dir.join("README"), "an e2e test extension\n").unwrap();
        Rootfs { dir }
    }

    /// A rootfs whose create/start/delete hooks all record (see
    /// [`recording_prologue`]); `extra` adds shell lines per hook.
    pub fn recording(env: &Env, name: &str, extra: &[(&str, &str)]) -> Rootfs {
        let r = Rootfs::new(env, name);
        for hook in ["create", "start", "delete"] {
            let mut body = recording_prologue(hook);
            for (h, line) in extra {
                if *h == hook {
                    body.push_str(line);
                    body.push('\n');
                }
            }
            r.hook(hook, &body);
        }
        r
    }

    /// Writes `hooks/<name>`: `#!/bin/sh` and `body`, mode 0755.
    pub fn hook(&self, name: &str, body: &str) -> &Rootfs {
        let path = self.dir.join("hooks").join(name);
        fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        self
    }

    /// The rootfs as a tar file (built once).
    pub fn tar(&self) -> PathBuf {
        let tar = self.dir.with_extension("tar");
        if !tar.exists() {
            tar_dir(&self.dir, &tar, &["--owner=0", "--group=0"]);
        }
        tar
    }
}

// ---------------------------------------------------------------------------
// Hook records.

pub fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The hooks that ran, in order, from `<out>/order`.
pub fn hook_order(out: &Path) -> Vec<String> {
    match fs::read_to_string(out.join("order")) {
        Ok(s) => s.lines().map(str::to_string).collect(),
        Err(_) => Vec::new(),
    }
}

/// The environment hook `hook` started with.
pub fn hook_env(out: &Path, hook: &str) -> BTreeMap<String, String> {
    read(&out.join(format!("{hook}.env")))
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Leftovers: processes and state.

pub struct Proc {
    pub pid: i32,
    pub cmdline: String,
}

impl std::fmt::Display for Proc {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{} `{}`", self.pid, self.cmdline)
    }
}

fn proc_file(pid: i32, name: &str) -> Option<Vec<u8>> {
    fs::read(format!("/proc/{pid}/{name}")).ok()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Live (non-zombie) processes, other than this test process, whose command
/// line or environment mentions `needle` (a container ID): shims, proxies,
/// hooks and whatever hooks left running.
pub fn procs_mentioning(needle: &str) -> Vec<Proc> {
    let me = std::process::id() as i32;
    let mut found = Vec::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return found;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let stat = proc_file(pid, "stat").unwrap_or_default();
        let stat = String::from_utf8_lossy(&stat);
        if stat
            .rsplit(')')
            .next()
            .map(|s| s.trim_start().starts_with('Z'))
            .unwrap_or(true)
        {
            continue;
        }
        let cmdline = proc_file(pid, "cmdline").unwrap_or_default();
        let environ = proc_file(pid, "environ").unwrap_or_default();
        if contains(&cmdline, needle.as_bytes()) || contains(&environ, needle.as_bytes()) {
            let cmdline = String::from_utf8_lossy(&cmdline)
                .replace('\0', " ")
                .trim()
                .to_string();
            found.push(Proc { pid, cmdline });
        }
    }
    found
}

/// Proxy processes (argv[0] `balena-extension-proxy`) mentioning `id`.
pub fn proxies_of(id: &str) -> Vec<Proc> {
    procs_mentioning(id)
        .into_iter()
        .filter(|p| p.cmdline.contains("balena-extension-proxy"))
        .collect()
}

/// Kills (by PID) what [`procs_mentioning`] finds, so one failing test does
/// not disturb the next.
pub fn kill_procs_mentioning(needle: &str) {
    for p in procs_mentioning(needle) {
        // SAFETY: plain kill(2) of a PID we just found mentioning our ID.
        unsafe { libc::kill(p.pid, libc::SIGKILL) };
        if let Some(socket) = shim_socket(&p.cmdline) {
            wait_until(Duration::from_secs(5), || {
                !Path::new(&format!("/proc/{}", p.pid)).exists()
            });
            let _ = fs::remove_file(socket);
        }
    }
}

/// The socket a containerd 1.6 shim listens on, from its command line
/// (`… -namespace NS -id ID -address ADDR`): it lives outside the harness
/// directory, in /run/containerd/s/sha256(ADDR/NS/ID), and a killed shim
/// leaves it behind.
fn shim_socket(cmdline: &str) -> Option<PathBuf> {
    if !cmdline.contains("containerd-shim") {
        return None;
    }
    let words: Vec<&str> = cmdline.split(' ').collect();
    let flag = |f: &str| {
        words
            .iter()
            .position(|w| *w == f)
            .and_then(|i| words.get(i + 1).copied())
    };
    let key = format!(
        "{}/{}/{}",
        flag("-address")?,
        flag("-namespace")?,
        flag("-id")?
    );
    let mut sum = Command::new("sha256sum");
    sum.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = sum.spawn().ok()?;
    {
        use std::io::Write;
        child.stdin.take()?.write_all(key.as_bytes()).ok()?;
    }
    let out = child.wait_with_output().ok()?;
    let hex = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()?
        .to_string();
    Some(PathBuf::from("/run/containerd/s").join(hex))
}

/// Asserts that within `limit` no process mentions `id` any more (the shim
/// exits shortly after the last delete). Leftovers are killed, then reported.
pub fn assert_no_procs(id: &str, limit: Duration) {
    let mut left = Vec::new();
    if !wait_until(limit, || {
        left = procs_mentioning(id);
        left.is_empty()
    }) {
        let list: Vec<String> = left.iter().map(|p| p.to_string()).collect();
        kill_procs_mentioning(id);
        panic!(
            "processes still mentioning {id} after {}s:\n  {}",
            limit.as_secs(),
            list.join("\n  ")
        );
    }
}

/// Paths under `dir` (not following symlinks, not crossing into other file
/// systems, skipping image/layer stores) whose file name contains `id`.
fn paths_named(dir: &Path, id: &str, depth: usize, dev: u64, found: &mut Vec<PathBuf>) {
    use std::os::unix::fs::MetadataExt;
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let path = e.path();
        if e.file_name().to_string_lossy().contains(id) {
            found.push(path.clone());
        }
        let Ok(md) = fs::symlink_metadata(&path) else {
            continue;
        };
        if md.is_dir() && md.dev() == dev && depth > 0 {
            paths_named(&path, id, depth - 1, dev, found);
        }
    }
}

impl Env {
    /// The state root the shim gives our runtime under Docker (dockerd 20.10
    /// passes `<exec-root>/runtime-runc` as runc root; the shim appends the
    /// namespace).
    pub fn docker_state_root(&self) -> PathBuf {
        self.docker_exec_root.join("runtime-runc").join("moby")
    }

    /// Asserts nothing on disk under the harness directory is named after
    /// `id` any more: no runtime state dir (`<root>/<id>`), no bundle, no
    /// Docker container record, no FIFOs. Scratch space (`work/`) is ignored.
    pub fn assert_no_state(&self, id: &str) {
        use std::os::unix::fs::MetadataExt;
        let dev = fs::metadata(&self.tmp).unwrap().dev();
        let mut found = Vec::new();
        let mut left = Vec::new();
        let clean = wait_until(Duration::from_secs(10), || {
            found.clear();
            for e in fs::read_dir(&self.tmp).unwrap().flatten() {
                if e.file_name() == "work" {
                    continue;
                }
                if e.file_name().to_string_lossy().contains(id) {
                    found.push(e.path());
                }
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    paths_named(&e.path(), id, 8, dev, &mut found);
                }
            }
            left = found.clone();
            left.is_empty()
        });
        assert!(
            clean,
            "state for {id} left behind:\n  {}",
            left.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join("\n  ")
        );
    }

    /// Everything the tests check after a container is gone: no state on
    /// disk and no process (shim, proxy, hook, hook child) mentioning it.
    pub fn assert_gone(&self, id: &str) {
        assert_no_procs(id, Duration::from_secs(15));
        self.assert_no_state(id);
    }
}
