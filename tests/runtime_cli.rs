//! The runtime's command line: runc's global flags in both spellings,
//! per-command help, and clear refusals.

mod common;

use common::*;

#[test]
fn global_flags_work_as_separate_or_joined_values() {
    let t = TempDir::new("flags");
    let rt = Runtime::new(t.path());
    let b = bundle(t.path(), OVERLAY);
    let root = format!("--root={}", rt.root.display());
    let log = format!("--log={}", t.join("l.json").display());
    let o = std::process::Command::new(&rt.bin)
        .args([
            root.as_str(),
            log.as_str(),
            "--log-format=json",
            "--systemd-cgroup",
            "--criu",
            "/x",
            "--rootless=false",
            "--log-level",
            "debug",
        ])
        .args([
            "create",
            "-b",
            b.to_str().unwrap(),
            "--no-pivot",
            "--no-new-keyring",
            "--preserve-fds",
            "0",
            "fl",
        ])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(o.success());
    assert!(std::fs::read_to_string(t.join("l.json"))
        .unwrap()
        .contains("\"level\":\"debug\""));
    let st = rt.state_json("fl");
    let pid: i32 = field(&st, "pid").parse().unwrap();
    rt.run(&["delete", "fl"]);
    reap(pid);
}

#[test]
fn unsupported_commands_are_refused_with_a_reason() {
    let t = TempDir::new("unsup");
    let rt = Runtime::new(t.path());
    for cmd in [
        "exec",
        "pause",
        "resume",
        "update",
        "checkpoint",
        "restore",
        "events",
        "run",
    ] {
        let o = rt.run(&[cmd, "x"]);
        assert_eq!(o.status.code(), Some(1), "{cmd}");
        assert!(
            stderr(&o).contains(&format!("\"{cmd}\" is not supported")),
            "{cmd}: {}",
            stderr(&o)
        );
    }
    let o = rt.run(&["frob"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("unknown command \"frob\""));
}

#[test]
fn unknown_signals_and_missing_ids_are_usage_errors() {
    let t = TempDir::new("usage");
    let rt = Runtime::new(t.path());
    let o = rt.run(&["kill", "x", "SIGFOO"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("unknown signal \"SIGFOO\""),
        "{}",
        stderr(&o)
    );
    let o = rt.run(&["start"]);
    assert!(
        stderr(&o).contains("missing container id"),
        "{}",
        stderr(&o)
    );
    let o = rt.run(&["delete", "--bogus", "x"]);
    assert!(stderr(&o).contains("--bogus"), "{}", stderr(&o));
}

#[test]
fn every_command_has_its_own_help() {
    for cmd in [
        "create", "start", "state", "kill", "delete", "ps", "list", "features",
    ] {
        let o = run(&binary(), &[cmd, "--help"]);
        assert!(o.status.success(), "{cmd}");
        assert!(
            stdout(&o).contains(&format!("] {cmd}")),
            "{cmd}: {}",
            stdout(&o)
        );
    }
}

#[test]
fn features_is_runc_style_json() {
    let o = run(&binary(), &["features"]);
    assert!(o.status.success());
    let text = stdout(&o);
    assert_eq!(field(&text, "ociVersionMin"), "1.0.0");
    assert!(text.contains("\"hooks\": []"), "{text}");
    assert!(text.contains("io.balena.extension-runtime.version"));
}

#[test]
fn list_of_an_empty_or_missing_root_is_just_the_header() {
    let t = TempDir::new("emptylist");
    let rt = Runtime::new(t.path());
    assert_eq!(
        stdout(&rt.run(&["list"])),
        "ID   PID   STATUS   BUNDLE   CREATED   OWNER\n"
    );
    assert_eq!(stdout(&rt.run(&["list", "--format", "json"])), "[]\n");
}
