//! Bad input and failures: a clear one-line error naming the container and
//! the cause, exit 1, and nothing left behind — no state, no proxy, no pid
//! file, no temp file.

mod common;

use common::*;
use std::fs;

/// Asserts a failed create left nothing: no state entry, no pid file, no
/// stray files in the state root or beside the pid file.
fn assert_nothing_left(rt: &Runtime, id: &str, c: &Created) {
    assert!(!c.ok, "create should have failed");
    assert_eq!(c.code, 1);
    assert!(c.pid.is_none(), "no pid file");
    if rt.root.exists() {
        let left: Vec<_> = fs::read_dir(&rt.root)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "state root holds {left:?}");
    }
    let dir = rt.root.parent().unwrap();
    for e in fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        assert!(!name.contains(".tmp"), "leftover temp file {name}");
    }
    assert!(
        proxies(id, &rt.root).is_empty(),
        "a proxy for {id} is still running"
    );
}

/// Asserts create failed saying `message` and left nothing behind.
fn assert_refused(rt: &Runtime, id: &str, c: &Created, message: &str) {
    assert!(c.stderr.contains(message), "{}", c.stderr);
    assert_nothing_left(rt, id, c);
}

/// The last log line: valid JSON, level error, with the message.
fn last_log_error(rt: &Runtime) -> String {
    let text = rt.log_text();
    for line in text.lines() {
        let _: miniserde::json::Value =
            miniserde::json::from_str(line).unwrap_or_else(|_| panic!("invalid log line {line}"));
    }
    let last = text.lines().last().expect("a log line");
    assert_eq!(field(last, "level"), "error", "{last}");
    assert!(field(last, "time").ends_with('Z'));
    field(last, "msg")
}

#[test]
fn missing_class_label_fails_create_naming_the_label() {
    let t = TempDir::new("nolabel");
    let rt = Runtime::new(t.path());
    let b = bundle(t.path(), "\"io.balena.image.kernel-version\":\"5.15.0\"");
    let c = rt.create(&b, "nl", &[]);
    assert!(c.stderr.contains("container \"nl\""), "{}", c.stderr);
    assert!(
        c.stderr
            .contains("missing label io.balena.image.class=overlay"),
        "{}",
        c.stderr
    );
    assert_eq!(c.stderr.lines().count(), 1, "one line: {}", c.stderr);
    assert!(last_log_error(&rt).contains("io.balena.image.class"));
    assert_nothing_left(&rt, "nl", &c);
}

#[test]
fn wrong_class_fails_create_naming_the_value_found() {
    let t = TempDir::new("volume");
    let rt = Runtime::new(t.path());
    let b = bundle(t.path(), "\"io.balena.image.class\":\"volume\"");
    let c = rt.create(&b, "vol", &[]);
    assert_refused(
        &rt,
        "vol",
        &c,
        "io.balena.image.class is \"volume\", expected \"overlay\"",
    );
}

#[test]
fn bad_kernel_version_label_is_refused() {
    let t = TempDir::new("kver");
    let rt = Runtime::new(t.path());
    let b = bundle(
        t.path(),
        &format!("{OVERLAY},\"io.balena.image.kernel-version\":\"5.15\""),
    );
    let c = rt.create(&b, "kv", &[]);
    assert_refused(&rt, "kv", &c, "io.balena.image.kernel-version is \"5.15\"");
}

#[test]
fn a_failing_create_hook_fails_create_with_its_message_and_leaves_no_proxy() {
    let t = TempDir::new("hookfail");
    let rt = Runtime::new(t.path());
    let b = bundle(t.path(), OVERLAY);
    write_script(
        &b.join("rootfs/hooks/create"),
        "#!/bin/sh\necho checking\necho kernel modules missing >&2\nexit 3\n",
    );
    let c = rt.create(&b, "hf", &[]);
    assert!(
        c.stderr
            .contains("hook create failed (exit status 3): kernel modules missing"),
        "{}",
        c.stderr
    );
    assert!(last_log_error(&rt).contains("kernel modules missing"));
    assert_nothing_left(&rt, "hf", &c);
}

#[test]
fn a_hook_with_a_missing_interpreter_is_reported_not_hung() {
    let t = TempDir::new("interp");
    let rt = Runtime::new(t.path());
    let b = bundle(t.path(), OVERLAY);
    write_script(&b.join("rootfs/hooks/create"), "#!/nonexistent/shell\n");
    let c = rt.create(&b, "ni", &[]);
    assert!(
        c.stderr.contains("cannot execute") && c.stderr.contains("hooks/create"),
        "{}",
        c.stderr
    );
    assert_nothing_left(&rt, "ni", &c);
}

#[test]
fn a_non_executable_hook_is_refused_at_create() {
    let t = TempDir::new("noexec");
    let rt = Runtime::new(t.path());
    let b = bundle(t.path(), OVERLAY);
    write_script(&b.join("rootfs/hooks/delete"), "#!/bin/sh\n");
    fs::set_permissions(
        b.join("rootfs/hooks/delete"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let c = rt.create(&b, "ne", &[]);
    assert_refused(&rt, "ne", &c, "hooks/delete is not executable");
}

#[test]
fn a_second_create_of_the_same_id_fails_and_leaves_the_first_untouched() {
    let t = TempDir::new("dup");
    let rt = Runtime::new(t.path());
    let b = bundle(t.path(), OVERLAY);
    let first = rt.create(&b, "dup", &[]);
    let pid = first.pid.unwrap();
    let before = fs::read_to_string(rt.root.join("dup/state.json")).unwrap();
    let second = rt.create(&b, "dup", &[]);
    assert!(!second.ok);
    assert!(
        second.stderr.contains("container with id exists: dup"),
        "{}",
        second.stderr
    );
    assert!(running(pid));
    assert_eq!(
        fs::read_to_string(rt.root.join("dup/state.json")).unwrap(),
        before
    );
    assert_eq!(rt.status("dup"), "created");
    rt.run(&["delete", "dup"]);
    reap(pid);
}

#[test]
fn a_pid_file_in_a_missing_directory_fails_create_and_kills_the_proxy() {
    let t = TempDir::new("pidfile");
    let rt = Runtime::new(t.path());
    let b = bundle(t.path(), OVERLAY);
    let pid_file = t.join("no/such/dir/init.pid");
    let c = rt.create(&b, "pf", &["--pid-file", pid_file.to_str().unwrap()]);
    assert!(c.stderr.contains("cannot write pid file"), "{}", c.stderr);
    assert!(!pid_file.exists());
    assert_nothing_left(&rt, "pf", &c);
}

#[test]
fn unsupported_oci_versions_are_refused() {
    let t = TempDir::new("ociver");
    let rt = Runtime::new(t.path());
    let b = bundle(t.path(), OVERLAY);
    let text = fs::read_to_string(b.join("config.json"))
        .unwrap()
        .replace("1.0.2-dev", "2.0.0");
    fs::write(b.join("config.json"), text).unwrap();
    let c = rt.create(&b, "ov", &[]);
    assert_refused(&rt, "ov", &c, "unsupported ociVersion \"2.0.0\"");
}

#[test]
fn broken_config_json_is_refused_with_the_file_named() {
    let t = TempDir::new("badjson");
    let rt = Runtime::new(t.path());
    let b = bundle(t.path(), OVERLAY);
    let cases: [(&str, &[u8]); 5] = [
        ("truncated", b"{\"ociVersion\":\"1.0.2\",\"root\":{"),
        ("wrong types", b"{\"ociVersion\":1,\"root\":{\"path\":[]}}"),
        ("not utf-8", b"{\"ociVersion\":\"1.0.2\xff\"}"),
        ("deep", &[b'['; 200_000]),
        ("empty", b""),
    ];
    for (what, bytes) in cases {
        fs::write(b.join("config.json"), bytes).unwrap();
        let c = rt.create(&b, "bj", &[]);
        assert!(c.stderr.contains("config.json"), "{what}: {}", c.stderr);
        assert_nothing_left(&rt, "bj", &c);
    }
    // Huge: refused without reading it all.
    let f = fs::File::create(b.join("config.json")).unwrap();
    f.set_len(64 << 20).unwrap();
    let c = rt.create(&b, "bj", &[]);
    assert_refused(&rt, "bj", &c, "is larger than");
}

#[test]
fn a_root_path_escaping_the_bundle_is_refused() {
    let t = TempDir::new("escape");
    let rt = Runtime::new(t.path());
    let b = bundle(t.path(), OVERLAY);
    fs::create_dir_all(t.join("outside")).unwrap();
    std::os::unix::fs::symlink(t.join("outside"), b.join("link")).unwrap();
    for path in ["../outside", "link", "rootfs/../../outside"] {
        let text = format!("{{\"ociVersion\":\"1.0.2\",\"root\":{{\"path\":\"{path}\"}},\"annotations\":{{{OVERLAY}}}}}");
        fs::write(b.join("config.json"), text).unwrap();
        let c = rt.create(&b, "esc", &[]);
        assert!(
            c.stderr.contains("leaves the bundle"),
            "{path}: {}",
            c.stderr
        );
        assert_nothing_left(&rt, "esc", &c);
    }
}

#[test]
fn a_relative_bundle_is_resolved_to_an_absolute_path() {
    let t = TempDir::new("relbundle");
    let rt = Runtime::new(t.path());
    let b = bundle(t.path(), OVERLAY);
    let o = std::process::Command::new(&rt.bin)
        .current_dir(t.path())
        .args([
            "--root",
            rt.root.to_str().unwrap(),
            "create",
            "--bundle",
            "bundle",
            "rel",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(o.success());
    let st = rt.state_json("rel");
    assert_eq!(
        field(&st, "bundle"),
        b.canonicalize().unwrap().to_str().unwrap()
    );
    let pid: i32 = field(&st, "pid").parse().unwrap();
    rt.run(&["delete", "rel"]);
    reap(pid);
}

#[test]
fn hostile_ids_are_refused_before_any_file_is_touched() {
    let t = TempDir::new("ids");
    let rt = Runtime::new(t.path());
    let b = bundle(t.path(), OVERLAY);
    let long = "a".repeat(1025);
    for id in [
        "../evil",
        "a/b",
        ".hidden",
        "_under",
        "new\nline",
        "sp ace",
        long.as_str(),
        "",
    ] {
        let c = rt.create(&b, id, &[]);
        assert!(!c.ok, "{id:?} accepted");
        let why = if id == long {
            "1025 bytes long"
        } else {
            "invalid container id"
        };
        assert!(c.stderr.contains(why), "{id:?}: {}", c.stderr);
        assert!(!rt.root.exists(), "state root created for {id:?}");
        for cmd in ["state", "start", "delete", "kill"] {
            let o = rt.run(&[cmd, id]);
            assert_eq!(o.status.code(), Some(1), "{cmd} {id:?}");
        }
    }
    assert!(!t.join("evil").exists());
}

#[test]
fn state_root_and_state_file_symlinks_are_never_followed() {
    let t = TempDir::new("symlink");
    let rt = Runtime::new(t.path());
    let b = bundle(t.path(), OVERLAY);
    let elsewhere = t.join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &rt.root).unwrap();
    let c = rt.create(&b, "sl", &[]);
    assert!(
        c.stderr.contains("is not a directory (or is a symlink)"),
        "{}",
        c.stderr
    );
    assert!(
        fs::read_dir(&elsewhere).unwrap().next().is_none(),
        "nothing written through the symlink"
    );
    fs::remove_file(&rt.root).unwrap();

    let c = rt.create(&b, "sl", &[]);
    assert!(c.ok);
    let state = rt.root.join("sl/state.json");
    let target = t.join("target.json");
    fs::copy(&state, &target).unwrap();
    fs::remove_file(&state).unwrap();
    std::os::unix::fs::symlink(&target, &state).unwrap();
    let o = rt.run(&["state", "sl"]);
    assert!(stderr(&o).contains("is a symlink"), "{}", stderr(&o));
    let o = rt.run(&["start", "sl"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(rt.run(&["delete", "--force", "sl"]).status.success());
    reap(c.pid.unwrap());
}

#[test]
fn a_world_writable_state_root_is_refused() {
    let t = TempDir::new("ww");
    let rt = Runtime::new(t.path());
    let b = bundle(t.path(), OVERLAY);
    fs::create_dir_all(&rt.root).unwrap();
    fs::set_permissions(
        &rt.root,
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let c = rt.create(&b, "ww", &[]);
    assert_refused(&rt, "ww", &c, "writable by everyone");
}

#[test]
fn label_values_with_newlines_are_refused() {
    let t = TempDir::new("nl");
    let rt = Runtime::new(t.path());
    let b = bundle(
        t.path(),
        &format!("{OVERLAY},\"io.balena.image.note\":\"a\\nb\""),
    );
    let c = rt.create(&b, "nlv", &[]);
    assert_refused(
        &rt,
        "nlv",
        &c,
        "label io.balena.image.note has a control character",
    );
}

#[test]
fn every_log_line_is_valid_json_that_the_shim_can_decode() {
    let t = TempDir::new("logjson");
    let rt = Runtime::new(t.path());
    let b = bundle(t.path(), OVERLAY);
    write_script(&b.join("rootfs/hooks/create"), "#!/bin/sh\nprintf 'quote\" back\\\\slash \\001 tab\\t\\n'\nprintf '\\377\\376 not utf8\\n'\n");
    let c = rt.create(&b, "lj", &[]);
    assert!(c.ok, "{}", c.stderr);
    rt.run(&["--debug", "kill", "lj", "NOSUCHSIGNAL"]);
    let text = rt.log_text();
    assert!(text.lines().count() >= 3);
    last_log_error(&rt);
    rt.run(&["delete", "lj"]);
    reap(c.pid.unwrap());
}

#[test]
fn text_log_format_is_logrus_style() {
    let t = TempDir::new("logtext");
    let rt = Runtime::new(t.path());
    let o = std::process::Command::new(&rt.bin)
        .args([
            "--root",
            rt.root.to_str().unwrap(),
            "--log",
            rt.log.to_str().unwrap(),
            "state",
            "missing",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let text = rt.log_text();
    assert!(text.starts_with("time=\""), "{text}");
    assert!(
        text.contains(" level=error msg=\"container \\\"missing\\\" does not exist\""),
        "{text}"
    );
}
