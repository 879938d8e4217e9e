//! Hostile input, one test per class of defect: a file that is not a file,
//! an engine that never finishes its answer, shadows behind the host's own
//! symlinks, text that would drive a terminal, names that are not UTF-8 or
//! past the directory-name limit, and misleading messages. Every command
//! runs under a bound: a hang fails the test instead of stalling it.

mod common;

use common::*;
use std::ffi::OsStr;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a bounded run left: exit code, stdout, stderr.
struct Ran {
    code: i32,
    out: String,
    err: String,
}

/// Runs `cmd` with its output in files, killing it (and failing the test)
/// if it has not ended within `limit` (a bound against hangs, no timing
/// goal): a pipe would also wait for any child that kept it open.
fn run_bounded(mut cmd: Command, what: &str, limit: Duration) -> Ran {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir();
    let out_path = dir.join(format!("ber-hard-{}-{n}.out", std::process::id()));
    let err_path = out_path.with_extension("err");
    cmd.stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).unwrap())
        .stderr(fs::File::create(&err_path).unwrap());
    let mut child = retry_busy(|| cmd.spawn()).unwrap();
    let limit = bound(limit);
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {limit:?}: it hangs");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let ran = Ran {
        code: status.code().unwrap_or(-1),
        out: fs::read_to_string(&out_path).unwrap_or_default(),
        err: fs::read_to_string(&err_path).unwrap_or_default(),
    };
    let _ = fs::remove_file(&out_path);
    let _ = fs::remove_file(&err_path);
    ran
}

/// The binary under an applet name, with these arguments.
fn applet<S: AsRef<OsStr>>(name: &str, args: &[S]) -> Command {
    let mut c = Command::new(binary());
    use std::os::unix::process::CommandExt;
    c.arg0(name).args(args);
    c
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: c is a valid NUL-terminated path.
    assert_eq!(
        unsafe { libc::mkfifo(c.as_ptr(), 0o600) },
        0,
        "mkfifo {}",
        path.display()
    );
}

const TEN_S: Duration = Duration::from_secs(10);

#[test]
fn class1_a_fifo_where_a_file_is_read_is_refused_at_once() {
    let t = TempDir::new("fifo");
    let root = t.join("state");
    let root_s = root.to_str().unwrap();
    let rt = |args: &[&str], what: &str| {
        let mut all = vec!["--root", root_s];
        all.extend_from_slice(args);
        run_bounded(applet("balena-extension-runtime", &all), what, TEN_S)
    };

    // config.json a FIFO: create refuses it, naming it.
    fs::create_dir_all(t.join("b/rootfs")).unwrap();
    mkfifo(&t.join("b/config.json"));
    let b = t.join("b");
    let r = rt(&["create", "--bundle", b.to_str().unwrap(), "c1"], "create");
    assert_eq!(r.code, 1, "{}", r.err);
    assert!(
        r.err.contains("config.json is a fifo, not a regular file"),
        "{}",
        r.err
    );

    // An entry whose state.json is a FIFO.
    fs::create_dir_all(root.join("x")).unwrap();
    mkfifo(&root.join("x/state.json"));
    let r = rt(&["state", "x"], "state");
    assert_eq!(r.code, 1);
    assert!(
        r.err.contains("state.json is a fifo, not a regular file"),
        "{}",
        r.err
    );
    assert_eq!(r.err.lines().count(), 1, "{}", r.err);
    rt(&["list"], "list");
    let dump = run_bounded(
        applet("state-dump", &["--root", root_s]),
        "state-dump",
        TEN_S,
    );
    assert!(
        dump.out.contains('x') || dump.err.contains("fifo"),
        "{}{}",
        dump.out,
        dump.err
    );
    let host = t.join("host");
    fs::create_dir_all(&host).unwrap();
    let args = ["--host-root", host.to_str().unwrap(), "--root", root_s, "x"];
    let r = run_bounded(
        applet("extension-inspect", &args),
        "extension-inspect",
        TEN_S,
    );
    assert_ne!(r.code, 0);
    assert!(r.err.contains("fifo"), "{}", r.err);

    // config.v2.json a FIFO, under --docker-root.
    let docker = t.join("docker");
    fs::create_dir_all(docker.join("containers/abc")).unwrap();
    mkfifo(&docker.join("containers/abc/config.v2.json"));
    let args = [
        "--host-root",
        host.to_str().unwrap(),
        "--root",
        root_s,
        "--docker-root",
        docker.to_str().unwrap(),
        "abc",
    ];
    let r = run_bounded(
        applet("extension-inspect", &args),
        "inspect --docker-root",
        TEN_S,
    );
    assert_ne!(r.code, 0);
    let good = bundle(t.path(), "\"com.example\":\"1\"");
    let r = rt(
        &[
            "--docker-root",
            docker.to_str().unwrap(),
            "create",
            "--bundle",
            good.to_str().unwrap(),
            "abc",
        ],
        "create --docker-root",
    );
    assert_eq!(r.code, 1);
    assert!(
        r.err
            .contains("config.v2.json is a fifo, not a regular file"),
        "{}",
        r.err
    );

    // The documented recovery still recovers.
    let r = rt(&["delete", "--force", "x"], "delete --force");
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(!root.join("x").exists(), "the entry is gone");
}
