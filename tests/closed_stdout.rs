//! A reader that goes away (`rt state X | grep -q running`, `| head`) ends
//! the output, not the command: every applet exits as if it had all been
//! read, never with the SIGABRT (134) of a panic on EPIPE. The same for
//! stderr: an error still ends with its own exit status.

mod common;

use common::*;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs `program args` with stdout a pipe whose read end is already closed.
fn with_closed_stdout(program: &Path, args: &[&str]) -> Output {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors into a valid array.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both descriptors were just created and are owned here.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    retry_busy(|| {
        Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(write.try_clone().unwrap())
            .stderr(Stdio::piped())
            .output()
    })
    .unwrap()
}

fn assert_clean(what: &str, o: &Output) {
    assert_eq!(
        o.status.code(),
        Some(0),
        "{what}: {:?}, stderr: {}",
        o.status,
        stderr(o)
    );
    assert!(!stderr(o).contains("panicked"), "{what}: {}", stderr(o));
}

#[test]
fn runtime_commands_exit_cleanly_when_stdout_is_closed() {
    let t = TempDir::new("epipe");
    let rt = Runtime::new(t.path());
    let b = bundle(t.path(), OVERLAY);
    let c = rt.create(&b, "ep", &[]);
    assert!(c.ok, "{}", c.stderr);
    let root = rt.root.to_str().unwrap();
    let cases: &[&[&str]] = &[
        &["--root", root, "state", "ep"],
        &["--root", root, "list"],
        &["--root", root, "list", "--format", "json"],
        &["--root", root, "ps", "ep"],
        &["--root", root, "ps", "--format", "json", "ep"],
        &["features"],
        &["--help"],
        &["--version"],
        &["state", "--help"],
        &["--list"],
    ];
    for args in cases {
        assert_clean(&args.join(" "), &with_closed_stdout(&rt.bin, args));
    }
    rt.run(&["delete", "--force", "ep"]);
    reap(c.pid.unwrap());
}

#[test]
fn the_other_applets_exit_cleanly_when_stdout_is_closed() {
    let t = TempDir::new("epipe-applets");
    install(t.path());
    let state = t.join("state");
    std::fs::create_dir(&state).unwrap();
    let inspect = t.join("extension-inspect");
    let dump = t.join("state-dump");
    let root = state.to_str().unwrap();
    let cases: &[(&Path, &[&str])] = &[
        (&inspect, &["--help"]),
        (&dump, &["--help"]),
        (&dump, &["--root", root]),
        (&dump, &["--root", root, "--json"]),
        (&t.join("balena-extension-runtime"), &["--list"]),
        (
            &t.join("balena-extension-runtime"),
            &["state-dump", "--help"],
        ),
        (
            &t.join("balena-extension-runtime"),
            &["manager", "cleanup", "--help"],
        ),
    ];
    for (program, args) in cases {
        let what = format!("{} {}", program.display(), args.join(" "));
        assert_clean(&what, &with_closed_stdout(program, args));
    }
}

#[test]
fn an_error_exits_with_its_own_status_when_stderr_is_closed() {
    let t = TempDir::new("epipe-stderr");
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors into a valid array.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both descriptors were just created and are owned here.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    let root = t.join("state");
    let lock = t.join("manager.lock");
    let no_engine = format!("unix://{}", t.join("no-engine.sock").display());
    let cases: &[&[&str]] = &[
        &["--root", root.to_str().unwrap(), "state", "missing"],
        &["state"],
        &["frobnicate"],
        &[
            "manager",
            "cleanup",
            "--host",
            &no_engine,
            "--lock-file",
            lock.to_str().unwrap(),
            "--log-level",
            "debug",
        ],
    ];
    for args in cases {
        // The status it ends with when its error can be read.
        let code = run(&binary(), args).status.code();
        assert!(code.is_some_and(|c| c != 0), "{}", args.join(" "));
        let status = retry_busy(|| {
            Command::new(binary())
                .args(*args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(write.try_clone().unwrap())
                .status()
        })
        .unwrap();
        assert_eq!(status.code(), code, "{}: {status:?}", args.join(" "));
    }
}
