//! Shared helpers for the tests that drive the real binary (and the seeded
//! generator the fuzz replay uses too).
#![allow(dead_code)]

pub mod overlay2;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The binary under test: `BER_TEST_BINARY` when set (`make test` points it
/// at the shipped build, `make test-cross` at another architecture's, which
/// binfmt_misc runs under qemu-user), else the one cargo built for this run.
pub fn binary() -> PathBuf {
    match std::env::var_os("BER_TEST_BINARY") {
        Some(path) if !path.is_empty() => {
            let path = PathBuf::from(path);
            // Its name picks the applet, as installed.
            assert!(
                path.is_absolute()
                    && path.is_file()
                    && path.file_name() == Some("balena-extension-runtime".as_ref()),
                "BER_TEST_BINARY={} is not an absolute path to a balena-extension-runtime",
                path.display()
            );
            path
        }
        _ => PathBuf::from(env!("CARGO_BIN_EXE_balena-extension-runtime")),
    }
}

/// The ELF machine (`e_machine`) of a program, from its header.
pub fn elf_machine(path: &Path) -> u16 {
    use std::io::Read;
    let mut head = [0u8; 20];
    fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .unwrap_or_else(|e| panic!("cannot read the ELF header of {}: {e}", path.display()));
    assert!(
        head.starts_with(b"\x7fELF"),
        "{} is not ELF",
        path.display()
    );
    // e_machine follows e_type at offset 18, in the file's byte order.
    if head[5] == 2 {
        u16::from_be_bytes([head[18], head[19]])
    } else {
        u16::from_le_bytes([head[18], head[19]])
    }
}

/// True when the binary under test is for another machine than this test
/// harness, so the kernel runs it through binfmt_misc under qemu-user.
pub fn emulated() -> bool {
    static EMULATED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *EMULATED
        .get_or_init(|| elf_machine(&binary()) != elf_machine(&std::env::current_exe().unwrap()))
}

/// A bound on a wait (against hangs, never a timing goal), longer under
/// emulation: qemu-user translates every program it starts afresh, so a
/// command takes several times as long as natively.
pub fn bound(limit: std::time::Duration) -> std::time::Duration {
    if emulated() {
        limit * 10
    } else {
        limit
    }
}

/// For the few checks that cannot hold under qemu-user: true (and says, on
/// stderr, which test skips `what`, and why) when the binary under test is
/// emulated. `why` names what emulation changes, e.g. "/proc/PID/exe of an
/// emulated process is the emulator".
pub fn skip_when_emulated(what: &str, why: &str) -> bool {
    let skip = emulated();
    if skip {
        // Straight to stderr, not through eprintln!, which the test harness
        // captures: a skip is shown even when the test passes.
        use std::io::Write;
        let thread = std::thread::current();
        let test = thread.name().unwrap_or("?");
        let _ = writeln!(
            std::io::stderr(),
            "skipped under emulation: {test}: {what}: {why}"
        );
    }
    skip
}

/// A temporary directory, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ber-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A directory holding the binary under every applet name, as `make build`
/// installs it (a copy, with relative symlinks beside it).
pub fn install(dir: &Path) -> PathBuf {
    let bin = dir.join("balena-extension-runtime");
    fs::copy(binary(), &bin).unwrap();
    for name in [
        "balena-extension-proxy",
        "extension-inspect",
        "state-dump",
        "balena-extension-manager",
        "extension-mount",
    ] {
        std::os::unix::fs::symlink("balena-extension-runtime", dir.join(name)).unwrap();
    }
    bin
}

/// Runs `program args` with no stdin and returns its output.
pub fn run(program: &Path, args: &[&str]) -> Output {
    retry_busy(|| {
        Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
    })
    .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()))
}

/// Runs `f` again while exec fails with ETXTBSY: a binary `install` just
/// copied can still be open for writing in a child another test thread
/// forked at that moment (until that child execs).
pub fn retry_busy<T>(mut f: impl FnMut() -> std::io::Result<T>) -> std::io::Result<T> {
    for _ in 0..100 {
        match f() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            other => return other,
        }
    }
    f()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Writes an executable script.
pub fn write_script(path: &Path, body: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, body).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// An OCI bundle: `config.json` plus `rootfs/`, with the given annotations
/// (as a JSON object body, e.g. `"io.balena.image.class":"overlay"`).
pub fn bundle(dir: &Path, annotations: &str) -> PathBuf {
    let b = dir.join("bundle");
    fs::create_dir_all(b.join("rootfs")).unwrap();
    fs::write(
        b.join("config.json"),
        format!(
            "{{\"ociVersion\":\"1.0.2-dev\",\"root\":{{\"path\":\"rootfs\"}},\"annotations\":{{{annotations}}},\
             \"mounts\":[{{\"destination\":\"/data\",\"source\":\"/var/data\",\"type\":\"bind\"}}]}}"
        ),
    )
    .unwrap();
    b
}

pub const OVERLAY: &str = "\"io.balena.image.class\":\"overlay\"";

/// Makes this test process a child subreaper, as containerd's shim is:
/// proxies orphaned by `create` become our children, so tests can reap them
/// and read their exit status.
pub fn become_subreaper() {
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
}

/// The runtime with a private state root and log, like containerd runs it.
pub struct Runtime {
    pub bin: PathBuf,
    pub root: PathBuf,
    pub log: PathBuf,
    pub extra: Vec<String>,
}

impl Runtime {
    pub fn new(dir: &Path) -> Runtime {
        become_subreaper();
        Runtime {
            bin: binary(),
            root: dir.join("state"),
            log: dir.join("log.json"),
            extra: Vec::new(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(&self.root);
        c.arg("--log").arg(&self.log).args(["--log-format", "json"]);
        c.args(&self.extra).args(args).stdin(Stdio::null());
        c
    }

    /// Any command but create: output read through pipes, which must reach
    /// EOF when the runtime exits.
    pub fn run(&self, args: &[&str]) -> Output {
        retry_busy(|| self.command(args).output()).unwrap()
    }

    /// `create`, with the container's stdout and stderr going to files (the
    /// proxy keeps them, so they would never reach EOF as pipes). Returns
    /// the exit status and what create and its hook wrote there.
    pub fn create(&self, bundle: &Path, id: &str, extra: &[&str]) -> Created {
        let tag: String = id
            .chars()
            .take(40)
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let out_path = self.root.with_file_name(format!("{tag}.stdout"));
        let err_path = self.root.with_file_name(format!("{tag}.stderr"));
        let pid_file = self.root.with_file_name(format!("{tag}.pid"));
        let mut args = vec![
            "create",
            "--bundle",
            bundle.to_str().unwrap(),
            "--pid-file",
            pid_file.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        args.push(id);
        let status = retry_busy(|| {
            self.command(&args)
                .stdout(fs::File::create(&out_path).unwrap())
                .stderr(fs::File::create(&err_path).unwrap())
                .status()
        })
        .unwrap();
        Created {
            ok: status.success(),
            code: status.code().unwrap_or(-1),
            stdout: fs::read_to_string(&out_path).unwrap_or_default(),
            stderr: fs::read_to_string(&err_path).unwrap_or_default(),
            pid: fs::read_to_string(&pid_file)
                .ok()
                .map(|s| s.parse().expect("pid file holds bare digits")),
            stdout_path: out_path,
        }
    }

    pub fn state_json(&self, id: &str) -> String {
        let o = self.run(&["state", id]);
        assert!(o.status.success(), "state {id}: {}", stderr(&o));
        stdout(&o)
    }

    /// The container's status as `state` reports it.
    pub fn status(&self, id: &str) -> String {
        field(&self.state_json(id), "status")
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

pub struct Created {
    pub ok: bool,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub pid: Option<i32>,
    pub stdout_path: PathBuf,
}

/// A top-level string or number field of a JSON document, as text.
pub fn field(json: &str, name: &str) -> String {
    use miniserde::json::{Object, Value};
    let obj: Object =
        miniserde::json::from_str(json).unwrap_or_else(|_| panic!("not a JSON object: {json}"));
    match obj.get(name) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

/// Waits for our child `pid` (a proxy orphaned to us) and returns how it
/// ended, as the shim would see it: exit code, or 128 + signal.
pub fn reap(pid: i32) -> i32 {
    let mut status = 0;
    // SAFETY: waitpid on a specific child with a valid out-pointer.
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(r, pid, "pid {pid} is not our child");
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    }
}

/// True while `pid` runs (not a zombie).
pub fn running(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            let state = s[s.rfind(')').unwrap() + 2..].chars().next().unwrap();
            state != 'Z' && state != 'X'
        }
        Err(_) => false,
    }
}

/// Polls `cond` for at most `secs` seconds (a bound against hangs, not a
/// timing goal).
pub fn eventually(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + bound(std::time::Duration::from_secs(secs));
    while std::time::Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    cond()
}

/// Running (not zombie) processes that are the proxy of `id` in `root`:
/// `balena-extension-proxy ID ROOT`.
pub fn proxies(id: &str, root: &Path) -> Vec<i32> {
    all_proxies(root)
        .into_iter()
        .filter(|(_, of)| of == id)
        .map(|(pid, _)| pid)
        .collect()
}

/// Every running proxy of any container in `root`, with its container ID.
pub fn all_proxies(root: &Path) -> Vec<(i32, String)> {
    let root = root.to_str().unwrap().as_bytes();
    pids()
        .into_iter()
        .filter_map(|pid| {
            let args = args_of(pid);
            let ours = args.len() >= 3
                && args[0].ends_with(b"balena-extension-proxy")
                && args[2] == root
                && running(pid);
            ours.then(|| (pid, String::from_utf8_lossy(&args[1]).into_owned()))
        })
        .collect()
}

/// The arguments of `pid` (argv[0] first), empty if it is gone. Under
/// binfmt_misc the kernel puts the emulator and the program's path before
/// them (`/usr/libexec/qemu-binfmt/arm-binfmt-P /path/prog argv0 ...`):
/// those two are left out, when the first really is the program running.
pub fn args_of(pid: i32) -> Vec<Vec<u8>> {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return Vec::new();
    };
    let body = cmdline.strip_suffix(&[0]).unwrap_or(&cmdline);
    let args: Vec<Vec<u8>> = body.split(|&b| b == 0).map(<[u8]>::to_vec).collect();
    if args.len() > 2 && emulated() && runs_as(pid, &args[0]) {
        return args[2..].to_vec();
    }
    args
}

/// Arguments as text, for messages.
pub fn shown(args: &[Vec<u8>]) -> String {
    let args: Vec<String> = args
        .iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    args.join(" ")
}

/// True if `program` is the file `pid` runs (its /proc/PID/exe).
fn runs_as(pid: i32, program: &[u8]) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let program = Path::new(std::ffi::OsStr::from_bytes(program));
    match (
        fs::read_link(format!("/proc/{pid}/exe")),
        fs::canonicalize(program),
    ) {
        (Ok(exe), Ok(program)) => exe == program,
        _ => false,
    }
}

/// Every process ID in `/proc`.
pub fn pids() -> Vec<i32> {
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

/// A seeded xorshift generator: a failing run prints its seed, and
/// `RELIABILITY_SEED=<seed>` replays it.
pub struct Rng(u64);

impl Rng {
    pub fn from_env(tag: &str) -> Rng {
        let seed = std::env::var("RELIABILITY_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("{tag}: RELIABILITY_SEED={seed}");
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Uniform in `0..n`, for indices and lengths.
    pub fn below_usize(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }
}
