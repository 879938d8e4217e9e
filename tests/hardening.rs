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
    assert_eq!(rt(&["list"], "list").code, 0);
    let dump = run_bounded(
        applet("state-dump", &["--root", root_s]),
        "state-dump",
        TEN_S,
    );
    assert_eq!(dump.code, 1, "a broken entry: {}", dump.err);
    assert!(
        dump.out
            .contains("! state.json is a fifo, not a regular file"),
        "{}",
        dump.out
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
    assert_eq!(r.code, 1);
    assert!(
        r.err
            .contains("config.v2.json is a fifo, not a regular file"),
        "{}",
        r.err
    );
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

/// A fake engine on a unix socket: every connection gets its request read,
/// then `answer` runs on the request and the connection (in a thread of its own), until the test ends.
fn fake_engine(
    dir: &Path,
    answer: impl Fn(&str, &mut std::os::unix::net::UnixStream) + Send + Sync + Copy + 'static,
) -> std::path::PathBuf {
    use std::io::Read;
    let socket = dir.join("engine.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut req = Vec::new();
                let mut byte = [0u8; 1];
                while !req.ends_with(b"\r\n\r\n") && s.read(&mut byte).is_ok_and(|n| n == 1) {
                    req.push(byte[0]);
                }
                answer(&String::from_utf8_lossy(&req), &mut s);
            });
        }
    });
    socket
}

/// One byte a second of a valid answer: every read gets something.
fn trickle(_: &str, s: &mut std::os::unix::net::UnixStream) {
    use std::io::Write;
    let body = "[]";
    let answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    for b in answer.bytes().cycle().take(120) {
        if s.write_all(&[b]).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// A chunked body that never ends, a chunk every 100 ms.
fn endless_chunks(_: &str, s: &mut std::os::unix::net::UnixStream) {
    use std::io::Write;
    let _ = s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n[\r\n");
    for _ in 0..1200 {
        if s.write_all(b"2\r\n  \r\n").is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn class2_an_engine_call_ends_at_its_limit_however_the_answer_trickles() {
    let t = TempDir::new("trickle");
    for name in ["trickle", "chunks"] {
        let dir = t.join(name);
        fs::create_dir_all(&dir).unwrap();
        let socket = match name {
            "trickle" => fake_engine(&dir, trickle),
            _ => fake_engine(&dir, endless_chunks),
        };
        let host = format!("unix://{}", socket.display());
        let lock = dir.join("lock");
        let args = [
            "cleanup",
            "--host",
            &host,
            "--lock-file",
            lock.to_str().unwrap(),
            "--timeout",
            "2",
        ];
        // The limit is 2 s a call; without a deadline on the whole answer
        // the call runs as long as the engine keeps sending.
        let r = run_bounded(
            applet("balena-extension-manager", &args),
            name,
            Duration::from_secs(20),
        );
        assert_eq!(r.code, 1, "{name}: {}{}", r.out, r.err);
        assert!(
            r.err.contains("did not answer within 2s"),
            "{name}: {}",
            r.err
        );
        assert_eq!(r.err.lines().count(), 1, "{name}: {}", r.err);
    }
}

/// An engine answering every call with a 500 whose message holds a line
/// end, an escape sequence and 5 MiB more.
fn hostile_message(_: &str, s: &mut std::os::unix::net::UnixStream) {
    use std::io::Write;
    let body = format!(
        "{{\"message\":\"boom\\nFORGED line \\u001b[2J{}\"}}",
        "x".repeat(5 << 20)
    );
    let _ = s.write_all(
        format!(
            "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
}

#[test]
fn class4_text_output_is_one_safe_line_per_line() {
    let t = TempDir::new("text");
    // A label value and a file name that would recolour the terminal and
    // forge a row of the text report.
    let b = bundle(
        t.path(),
        &format!(
            "{OVERLAY},\"io.balena.image.kernel-version\":\"5.15\\u001b[31m\\nFORGED row\",\
             \"io.balena.image.store\":\"data\\u001b]0;title\\u0007\""
        ),
    );
    fs::create_dir_all(b.join("rootfs/etc")).unwrap();
    fs::write(b.join("rootfs/etc/evil\x1b[2J\nFORGED file"), "x").unwrap();
    fs::create_dir_all(t.join("host/etc")).unwrap();
    fs::write(t.join("host/etc/evil\x1b[2J\nFORGED file"), "y").unwrap();
    let (host, state) = (t.join("host"), t.join("state"));
    let args = [
        "--host-root",
        host.to_str().unwrap(),
        "--root",
        state.to_str().unwrap(),
        b.to_str().unwrap(),
    ];
    let r = run_bounded(applet("extension-inspect", &args), "inspect", TEN_S);
    for (name, text) in [("stdout", &r.out), ("stderr", &r.err)] {
        assert!(!text.contains('\x1b'), "{name} holds an escape: {text}");
        assert!(!text.contains('\x07'), "{name} holds a bell: {text}");
        assert!(
            !text.lines().any(|l| l.starts_with("FORGED")),
            "{name} holds a forged line: {text}"
        );
    }
    assert!(r.out.contains("5.15\\x1b"), "{}", r.out);
    // --json stays exact.
    let mut json_args = vec!["--json"];
    json_args.extend_from_slice(&args);
    let r = run_bounded(
        applet("extension-inspect", &json_args),
        "inspect --json",
        TEN_S,
    );
    assert!(r.out.contains("5.15\\u001b[31m\\nFORGED row"), "{}", r.out);

    // The engine's message: one line, escaped, cut.
    let socket = fake_engine(t.path(), hostile_message);
    let host = format!("unix://{}", socket.display());
    let lock = t.join("lock");
    let args = [
        "cleanup",
        "--host",
        &host,
        "--lock-file",
        lock.to_str().unwrap(),
    ];
    let r = run_bounded(applet("balena-extension-manager", &args), "manager", TEN_S);
    assert_eq!(r.code, 1, "{}", r.err);
    assert_eq!(
        r.err.lines().count(),
        1,
        "{}",
        &r.err[..r.err.len().min(300)]
    );
    assert!(r.err.len() < 8192, "{} bytes of stderr", r.err.len());
    assert!(
        r.err.contains("500: boom\\nFORGED line \\x1b[2J"),
        "{}",
        &r.err[..300]
    );
    assert!(
        r.err.trim_end().ends_with("more bytes)"),
        "{}",
        &r.err[r.err.len() - 100..]
    );
}

/// `body` as a 200 answer.
fn ok(s: &mut std::os::unix::net::UnixStream, body: &str) {
    use std::io::Write;
    let _ = s.write_all(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
}

/// An engine with one extension container whose exit code is `1e400`.
fn huge_exit_code(req: &str, s: &mut std::os::unix::net::UnixStream) {
    let path = req.split(' ').nth(1).unwrap_or("");
    let id = "a1".repeat(32);
    if path.contains("/containers/json") {
        ok(
            s,
            &format!("[{{\"Id\":\"{id}\",\"ImageID\":\"sha256:1\",\"State\":\"exited\"}}]"),
        );
    } else if path.contains("/containers/") {
        ok(
            s,
            &format!(
                "{{\"Id\":\"{id}\",\"Name\":\"/x\",\"Image\":\"sha256:1\",\
                 \"State\":{{\"Status\":\"exited\",\"Error\":\"\",\"ExitCode\":1e400}},\
                 \"Config\":{{\"Image\":\"ext:1\",\"Labels\":{{{OVERLAY}}}}},\"Mounts\":[]}}"
            ),
        );
    } else if path.contains("/images/json") {
        ok(s, "[]");
    } else if path.contains("/volumes") {
        ok(s, "{\"Volumes\":[]}");
    } else {
        ok(s, "OK");
    }
}

#[test]
fn class6_messages_say_what_is_wrong() {
    let t = TempDir::new("msgs");
    // An empty path option is a usage error (exit 1 from the runtime, as
    // runc exits, 2 from the others).
    for (name, args, code) in [
        ("balena-extension-runtime", &["--root=", "list"][..], 1),
        ("state-dump", &["--root="][..], 2),
        ("extension-inspect", &["--root=", "x"][..], 2),
        (
            "balena-extension-manager",
            &["--lock-file=", "cleanup"][..],
            2,
        ),
        ("extension-mount", &["--plan", "--sysroot="][..], 2),
        ("extension-inspect", &["--data-root=", "x"][..], 2),
        ("balena-extension-runtime", &["--log=", "list"][..], 1),
        // An empty bundle is not the current directory.
        (
            "balena-extension-runtime",
            &["create", "--bundle=", "x"][..],
            1,
        ),
        (
            "balena-extension-runtime",
            &["create", "--console-socket=", "x"][..],
            1,
        ),
    ] {
        let r = run_bounded(applet(name, args), name, TEN_S);
        assert_eq!(r.code, code, "{name}: {}", r.err);
        assert!(
            r.err.contains("wants a path, got an empty value"),
            "{name}: {}",
            r.err
        );
    }

    // An override priority too large for one is said to be too large.
    let b = bundle(
        t.path(),
        &format!("{OVERLAY},\"io.balena.image.override\":\"99999999999999999999\""),
    );
    let host = t.join("host");
    fs::create_dir_all(&host).unwrap();
    let args = ["--host-root", host.to_str().unwrap(), b.to_str().unwrap()];
    let r = run_bounded(applet("extension-inspect", &args), "inspect", TEN_S);
    assert!(r.out.contains("at most 4294967295"), "{}", r.out);
    assert!(
        !r.out.contains("expected a non-negative integer"),
        "{}",
        r.out
    );

    let lock = t.join("lock");
    let manager = |host: &str, lock: &Path, extra: &[&str]| {
        let mut args = vec![
            "cleanup",
            "--host",
            host,
            "--lock-file",
            lock.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        run_bounded(applet("balena-extension-manager", &args), "manager", TEN_S)
    };

    // A number too large for its field is valid JSON, out of range.
    let dir = t.join("engine");
    fs::create_dir_all(&dir).unwrap();
    let socket = format!("unix://{}", fake_engine(&dir, huge_exit_code).display());
    let r = manager(&socket, &lock, &[]);
    assert_eq!(r.code, 1, "{}{}", r.out, r.err);
    assert!(
        r.out.contains("holds a number out of range (1e400)"),
        "{}",
        r.out
    );

    // A regular file where the socket should be.
    let file = t.join("not-a-socket");
    fs::write(&file, "").unwrap();
    let r = manager(&format!("unix://{}", file.display()), &lock, &[]);
    assert_eq!(r.code, 1);
    assert!(r.err.contains("not-a-socket: not a socket"), "{}", r.err);

    // A symlinked lock file is refused as one, not as a loop.
    let link = t.join("lock-link");
    std::os::unix::fs::symlink(&lock, &link).unwrap();
    let r = manager(&socket, &link, &[]);
    assert_eq!(r.code, 1);
    assert!(
        r.err.contains("lock-link is a symbolic link; refused"),
        "{}",
        r.err
    );

    // The holder is named only while it holds: a PID a finished run left
    // (here: a live process that holds nothing) is not blamed.
    let held = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock)
        .unwrap();
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a descriptor this test owns.
    assert_eq!(unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX) }, 0);
    let mut bystander = Command::new("sleep").arg("30").spawn().unwrap();
    fs::write(&lock, format!("{}\n", bystander.id())).unwrap();
    let r = manager(&socket, &lock, &["--lock-wait", "0"]);
    assert_eq!(r.code, 1);
    assert!(r.err.contains("another manager holds"), "{}", r.err);
    assert!(!r.err.contains("pid"), "a stale PID is named: {}", r.err);
    fs::write(&lock, format!("{}\n", std::process::id())).unwrap();
    let r = manager(&socket, &lock, &["--lock-wait", "0"]);
    assert!(
        r.err.contains(&format!("(pid {})", std::process::id())),
        "{}",
        r.err
    );
    let _ = bystander.kill();
    let _ = bystander.wait();
    drop(held);
    // A run that ends leaves no PID behind.
    let r = manager(&socket, &lock, &[]);
    assert_eq!(r.code, 1, "{}", r.err);
    assert_eq!(fs::read(&lock).unwrap(), b"", "the PID outlived its run");
}

#[test]
fn class5_an_unknown_id_is_unknown_at_any_length() {
    let t = TempDir::new("ids");
    let root = t.join("state");
    fs::create_dir_all(&root).unwrap();
    let rt = |args: &[&str]| {
        let mut all = vec!["--root", root.to_str().unwrap()];
        all.extend_from_slice(args);
        run_bounded(applet("balena-extension-runtime", &all), "runtime", TEN_S)
    };
    for n in [10, 245, 246, 300, 2000] {
        let id = "a".repeat(n);
        let r = rt(&["state", &id]);
        assert_eq!(r.code, 1, "{n}: {}", r.err);
        assert!(
            r.err.trim_end().ends_with("\" does not exist"),
            "{n}: {}",
            r.err
        );
        let r = rt(&["delete", "--force", &id]);
        assert_eq!(r.code, 0, "{n}: {}", r.err);
        let r = rt(&["kill", &id, "9"]);
        assert!(
            r.err.trim_end().ends_with("\" does not exist"),
            "{n}: {}",
            r.err
        );
    }
    // create takes as long an ID as a directory can be named, and says so.
    let b = bundle(t.path(), OVERLAY);
    let r = rt(&["create", "--bundle", b.to_str().unwrap(), &"a".repeat(246)]);
    assert_eq!(r.code, 1);
    assert!(r.err.contains("246 bytes long: at most 245"), "{}", r.err);
    assert_eq!(fs::read_dir(&root).unwrap().count(), 0, "nothing left");
    let id = "b".repeat(245);
    let mut create = applet(
        "balena-extension-runtime",
        &[
            "--root",
            root.to_str().unwrap(),
            "create",
            "--bundle",
            b.to_str().unwrap(),
            &id,
        ],
    );
    create.stdout(Stdio::null()).stderr(Stdio::null());
    become_subreaper();
    let status = retry_busy(|| create.status()).unwrap();
    assert!(status.success(), "a 245-byte ID is created");
    let r = rt(&["state", &id]);
    assert_eq!(r.code, 0, "{}", r.err);
    let r = rt(&["delete", "--force", &id]);
    assert_eq!(r.code, 0, "{}", r.err);
}

/// The number after `"key": ` in the first place it appears after `after`.
fn number_after(text: &str, after: &str, key: &str) -> u64 {
    let rest = &text[text
        .find(after)
        .unwrap_or_else(|| panic!("no {after} in {text}"))..];
    let rest = &rest[rest.find(&format!("\"{key}\": ")).unwrap() + key.len() + 4..];
    rest[..rest.find(|c: char| !c.is_ascii_digit()).unwrap()]
        .parse()
        .unwrap()
}

#[test]
fn class5_names_that_are_not_utf8_are_inspected_as_bytes() {
    use std::os::unix::ffi::OsStrExt;
    let t = TempDir::new("bytes");
    let odd = |s: &[u8]| std::ffi::OsStr::from_bytes(s).to_os_string();
    // The target directory's own name is not UTF-8 (a bare rootfs).
    let rootfs = t.path().join(odd(b"rootfs-\xff"));
    let host = t.join("host");
    for dir in [&rootfs, &host] {
        fs::create_dir_all(dir.join("etc")).unwrap();
        fs::write(dir.join("etc").join(odd(b"b\xffd.conf")), "x").unwrap();
        fs::create_dir_all(dir.join(odd(b"opt\xfe"))).unwrap();
        fs::write(dir.join(odd(b"opt\xfe")).join("tool"), "x").unwrap();
    }
    let mut cmd = applet::<&OsStr>("extension-inspect", &[]);
    cmd.args(["--json", "--root"])
        .arg(t.join("state"))
        .arg("--host-root")
        .arg(&host)
        .args(["--label", "io.balena.image.class=overlay"])
        .arg(&rootfs);
    let r = run_bounded(cmd, "inspect", TEN_S);
    assert_ne!(r.code, 2, "refused as usage: {}", r.err);
    assert_eq!(number_after(&r.out, "\"content\"", "files"), 2, "{}", r.out);
    // Both files are on the host too: both shadow it.
    assert_eq!(number_after(&r.out, "\"shadows\"", "count"), 2, "{}", r.out);
}

#[test]
fn class3_shadows_are_judged_through_the_hosts_own_symlinks() {
    let t = TempDir::new("usr");
    let (rootfs, host) = (t.join("rootfs"), t.join("host"));
    // A merged-/usr host: /bin and /lib64 are symlinks into /usr.
    for dir in ["usr/bin", "usr/lib64", "etc"] {
        fs::create_dir_all(host.join(dir)).unwrap();
    }
    fs::write(host.join("usr/bin/sh"), "").unwrap();
    fs::write(host.join("usr/lib64/ld-linux-x86-64.so.2"), "").unwrap();
    std::os::unix::fs::symlink("usr/bin", host.join("bin")).unwrap();
    std::os::unix::fs::symlink("usr/lib64", host.join("lib64")).unwrap();
    for dir in ["bin", "lib64"] {
        fs::create_dir_all(rootfs.join(dir)).unwrap();
    }
    fs::write(rootfs.join("bin/sh"), "").unwrap();
    fs::write(rootfs.join("lib64/ld-linux-x86-64.so.2"), "").unwrap();
    let state = t.join("state");
    let args = [
        "--root",
        state.to_str().unwrap(),
        "--host-root",
        host.to_str().unwrap(),
        "--label",
        "io.balena.image.class=overlay",
        rootfs.to_str().unwrap(),
    ];
    let r = run_bounded(applet("extension-inspect", &args), "inspect", TEN_S);
    assert_eq!(r.code, 1, "not compatible: {}", r.out);
    assert!(r.out.contains("2 dangerous"), "{}", r.out);
    // The problems, unwrapped.
    let flat = r.out.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains("shadows /bin (hides the shell: the host's /bin is a symlink to /usr/bin)"),
        "{}",
        r.out
    );
    assert!(
        flat.contains("shadows /lib64 (hides the dynamic loader"),
        "{}",
        r.out
    );
}

#[test]
fn class1_start_does_not_hang_on_a_container_fifo_nobody_reads() {
    use std::os::unix::fs::OpenOptionsExt;
    let t = TempDir::new("noreader");
    let root = t.join("state");
    let b = bundle(t.path(), OVERLAY);
    write_script(&b.join("rootfs/hooks/start"), "#!/bin/sh\necho started\n");
    become_subreaper();
    // The container's stdout is a FIFO, as containerd's shim gives it; its
    // reader goes away after create, as when the shim is gone.
    let fifo = t.join("stdout");
    mkfifo(&fifo);
    let reader = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    let writer = fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    let mut create = applet(
        "balena-extension-runtime",
        &[
            "--root",
            root.to_str().unwrap(),
            "create",
            "--bundle",
            b.to_str().unwrap(),
            "nr",
        ],
    );
    create
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::null());
    let status = retry_busy(|| create.status()).unwrap();
    assert!(status.success(), "create");
    drop(create);
    drop(reader);
    let rt = |args: &[&str], what: &str| {
        let mut all = vec!["--root", root.to_str().unwrap()];
        all.extend_from_slice(args);
        run_bounded(applet("balena-extension-runtime", &all), what, TEN_S)
    };
    let r = rt(&["start", "nr"], "start");
    assert_eq!(r.code, 0, "{}", r.err);
    let r = rt(&["delete", "--force", "nr"], "delete");
    assert_eq!(r.code, 0, "{}", r.err);
}
