//! The OCI lifecycle as containerd's shim drives it: create, start, state,
//! kill, delete, with hooks and the proxy.

mod common;

use common::*;
use std::fs;
use std::path::Path;

/// A bundle whose hooks append "<hook> <env...>" to `trace`.
fn traced_bundle(dir: &Path, annotations: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let b = bundle(dir, annotations);
    let trace = dir.join("trace");
    for hook in ["create", "start", "delete"] {
        write_script(
            &b.join("rootfs/hooks").join(hook),
            &format!(
                "#!/bin/sh\necho \"{hook} $(pwd) $EXTENSION_CONTAINER_ID\" >> {}\necho \"{hook} says hello\"\necho \"{hook} warns\" >&2\n",
                trace.display()
            ),
        );
    }
    (b, trace)
}

#[test]
fn whole_lifecycle_runs_each_hook_once_in_order_and_leaves_nothing() {
    let t = TempDir::new("life");
    let rt = Runtime::new(t.path());
    let (b, trace) = traced_bundle(t.path(), OVERLAY);

    let c = rt.create(&b, "ext1", &[]);
    assert!(c.ok, "create failed: {}", c.stderr);
    let pid = c.pid.expect("pid file written");
    assert!(running(pid), "proxy runs after create");
    assert_eq!(rt.status("ext1"), "created");
    assert_eq!(field(&rt.state_json("ext1"), "pid"), pid.to_string());
    assert_eq!(
        c.stdout, "create says hello\n",
        "create hook output reaches the container's stdout"
    );
    assert_eq!(
        c.stderr, "create warns\n",
        "create hook errors reach the container's stderr"
    );

    let o = rt.run(&["start", "ext1"]);
    assert!(o.status.success(), "start failed: {}", stderr(&o));
    assert_eq!(reap(pid), 0, "proxy exits with the start hook's status");
    assert_eq!(rt.status("ext1"), "stopped");
    assert_eq!(field(&rt.state_json("ext1"), "pid"), "0");
    let out = fs::read_to_string(&c.stdout_path).unwrap();
    assert_eq!(
        out, "create says hello\nstart says hello\n",
        "start hook output goes where the proxy's stdout goes"
    );

    let o = rt.run(&["delete", "ext1"]);
    assert!(o.status.success(), "delete failed: {}", stderr(&o));
    assert!(!rt.root.join("ext1").exists(), "state removed");
    let rootfs = b.join("rootfs").canonicalize().unwrap();
    let r = rootfs.display();
    assert_eq!(
        fs::read_to_string(&trace).unwrap(),
        format!("create {r} ext1\nstart {r} ext1\ndelete {r} ext1\n")
    );
    let o = rt.run(&["state", "ext1"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("container \"ext1\" does not exist"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn hooks_get_a_clean_documented_environment() {
    let t = TempDir::new("env");
    let rt = Runtime::new(t.path());
    let b = bundle(
        t.path(),
        &format!("{OVERLAY},\"io.balena.image.kernel-abi-id\":\"sha256:ab\",\"io.balena.image.x.y-z\":\"a=b\",\"other\":\"no\""),
    );
    let dump = t.join("env");
    write_script(
        &b.join("rootfs/hooks/create"),
        &format!("#!/bin/sh\nenv | sort > {}\n", dump.display()),
    );
    let mut cmd_env = rt;
    cmd_env.extra = vec![];
    std::env::set_var("LEAKY_DAEMON_VAR", "1");
    let c = cmd_env.create(&b, "env1", &[]);
    assert!(c.ok, "{}", c.stderr);
    let rootfs = b.join("rootfs").canonicalize().unwrap();
    let env = fs::read_to_string(&dump).unwrap();
    let mut lines: Vec<&str> = env
        .lines()
        .filter(|l| !l.starts_with("PWD=") && !l.starts_with("SHLVL=") && !l.starts_with("_="))
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        vec![
            "EXTENSION_CONTAINER_ID=env1".to_string(),
            "EXTENSION_IMAGE_CLASS=overlay".to_string(),
            "EXTENSION_IMAGE_KERNEL_ABI_ID=sha256:ab".to_string(),
            "EXTENSION_IMAGE_X_Y_Z=a=b".to_string(),
            format!("EXTENSION_ROOTFS={}", rootfs.display()),
            "EXTENSION_VOLUME_DATA=/var/data".to_string(),
            "PATH=/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        ]
    );
    cmd_env.run(&["delete", "--force", "env1"]);
}

#[test]
fn start_hook_exit_status_becomes_the_container_exit_code() {
    let t = TempDir::new("exit7");
    let rt = Runtime::new(t.path());
    let b = bundle(t.path(), OVERLAY);
    write_script(
        &b.join("rootfs/hooks/start"),
        "#!/bin/sh\necho broken >&2\nexit 7\n",
    );
    let c = rt.create(&b, "e7", &[]);
    assert!(c.ok, "{}", c.stderr);
    let o = rt.run(&["start", "e7"]);
    assert!(
        o.status.success(),
        "a failing start hook is the extension's verdict, not a runtime error"
    );
    assert_eq!(reap(c.pid.unwrap()), 7);
    assert_eq!(rt.status("e7"), "stopped");
    assert!(rt
        .log_text()
        .contains("hook start failed (exit status 7): broken"));
}

#[test]
fn start_hook_killed_by_a_signal_reports_128_plus_signal() {
    let t = TempDir::new("sig");
    let rt = Runtime::new(t.path());
    let b = bundle(t.path(), OVERLAY);
    write_script(&b.join("rootfs/hooks/start"), "#!/bin/sh\nkill -9 $$\n");
    let c = rt.create(&b, "s9", &[]);
    assert!(rt.run(&["start", "s9"]).status.success());
    assert_eq!(reap(c.pid.unwrap()), 128 + libc::SIGKILL);
}

#[test]
fn a_hook_past_its_time_limit_is_killed_with_its_children() {
    let t = TempDir::new("timeout");
    let mut rt = Runtime::new(t.path());
    rt.extra = vec!["--hook-timeout".into(), "1".into()];
    let b = bundle(t.path(), OVERLAY);
    let marker = t.join("child-pid");
    write_script(
        &b.join("rootfs/hooks/start"),
        &format!(
            "#!/bin/sh\nsleep 100 &\necho $! > {}\nwait\n",
            marker.display()
        ),
    );
    let c = rt.create(&b, "slow", &[]);
    assert!(c.ok);
    assert!(rt.run(&["start", "slow"]).status.success());
    assert_eq!(
        reap(c.pid.unwrap()),
        124,
        "timed-out hooks report 124 like timeout(1)"
    );
    let child: i32 = fs::read_to_string(&marker).unwrap().trim().parse().unwrap();
    assert!(
        eventually(5, || !running(child)),
        "the hook's background child was killed too"
    );
    assert!(rt.log_text().contains("timed out after 1s"));
}

#[test]
fn background_children_holding_hook_output_do_not_hang_the_runtime() {
    let t = TempDir::new("bg");
    let rt = Runtime::new(t.path());
    let b = bundle(t.path(), OVERLAY);
    let marker = t.join("bg-pid");
    // The child keeps the hook's stdout and stderr open for 30 seconds.
    for hook in ["start", "delete"] {
        write_script(
            &b.join("rootfs/hooks").join(hook),
            &format!(
                "#!/bin/sh\nsleep 30 &\necho $! >> {}\necho done\n",
                marker.display()
            ),
        );
    }
    let c = rt.create(&b, "bg1", &[]);
    assert!(c.ok);
    // `run` reads start's and delete's stdout/stderr to EOF, as the shim does.
    let o = rt.run(&["start", "bg1"]);
    assert!(o.status.success());
    assert_eq!(reap(c.pid.unwrap()), 0);
    assert!(rt.run(&["delete", "bg1"]).status.success());
    for pid in fs::read_to_string(&marker).unwrap().lines() {
        // SAFETY: kill with plain values, on a sleep this test started.
        unsafe { libc::kill(pid.parse().unwrap(), libc::SIGKILL) };
    }
}

#[test]
fn kill_signals_the_proxy_and_docker_stop_gives_exit_0() {
    let t = TempDir::new("kill");
    let rt = Runtime::new(t.path());
    let b = bundle(t.path(), OVERLAY);
    let c = rt.create(&b, "k1", &[]);
    let pid = c.pid.unwrap();
    let o = rt.run(&["kill", "k1", "SIGTERM"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(reap(pid), 0, "SIGTERM makes the proxy exit 0");
    assert_eq!(
        rt.status("k1"),
        "stopped",
        "state tells the truth once the proxy is gone"
    );
    let o = rt.run(&["kill", "k1", "KILL"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("container not running"),
        "{}",
        stderr(&o)
    );
    assert!(rt.run(&["delete", "k1"]).status.success());
}

#[test]
fn kill_by_number_and_by_lower_case_name_without_sig() {
    let t = TempDir::new("kill9");
    let rt = Runtime::new(t.path());
    let b = bundle(t.path(), OVERLAY);
    for (id, sig) in [("n9", "9"), ("lkill", "kill")] {
        let c = rt.create(&b, id, &[]);
        let o = rt.run(&["kill", "--all", id, sig]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(reap(c.pid.unwrap()), 128 + libc::SIGKILL);
    }
}

#[test]
fn the_proxy_ignores_signals_other_than_start_term_and_int() {
    let t = TempDir::new("ign");
    let rt = Runtime::new(t.path());
    let b = bundle(t.path(), OVERLAY);
    let c = rt.create(&b, "ign", &[]);
    let pid = c.pid.unwrap();
    for sig in ["HUP", "USR1", "USR2", "ALRM"] {
        assert!(rt.run(&["kill", "ign", sig]).status.success());
    }
    assert_eq!(
        rt.status("ign"),
        "created",
        "a plain SIGUSR1 is not the start signal"
    );
    assert!(running(pid));
    assert!(rt.run(&["kill", "ign", "INT"]).status.success());
    assert_eq!(reap(pid), 0);
}

#[test]
fn kill_never_signals_a_process_that_reuses_the_proxy_pid() {
    let t = TempDir::new("reuse");
    let rt = Runtime::new(t.path());
    let b = bundle(t.path(), OVERLAY);
    let c = rt.create(&b, "r1", &[]);
    let proxy = c.pid.unwrap();
    // Point the state at an innocent process: right PID, wrong start time.
    let mut victim = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let state_file = rt.root.join("r1/state.json");
    let text = fs::read_to_string(&state_file).unwrap();
    let text = text.replace(
        &format!("\"pid\":{proxy},"),
        &format!("\"pid\":{},", victim.id()),
    );
    fs::write(&state_file, text).unwrap();
    let o = rt.run(&["kill", "r1", "KILL"]);
    assert!(!o.status.success(), "kill must refuse");
    assert!(
        stderr(&o).contains("container not running"),
        "{}",
        stderr(&o)
    );
    assert!(
        victim.try_wait().unwrap().is_none(),
        "the innocent process still runs"
    );
    assert_eq!(rt.status("r1"), "stopped");
    victim.kill().unwrap();
    victim.wait().unwrap();
    assert!(rt.run(&["delete", "--force", "r1"]).status.success());
    assert!(
        running(proxy),
        "delete did not touch the real proxy either (state lost track of it)"
    );
    // SAFETY: kill with plain values on our own orphaned proxy.
    unsafe { libc::kill(proxy, libc::SIGKILL) };
    reap(proxy);
}

#[test]
fn delete_of_a_created_container_kills_the_proxy_and_runs_the_delete_hook() {
    let t = TempDir::new("delc");
    let rt = Runtime::new(t.path());
    let (b, trace) = traced_bundle(t.path(), OVERLAY);
    let c = rt.create(&b, "d1", &[]);
    let o = rt.run(&["delete", "d1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(reap(c.pid.unwrap()), 128 + libc::SIGKILL);
    assert!(!rt.root.join("d1").exists());
    let lines: Vec<String> = fs::read_to_string(trace)
        .unwrap()
        .lines()
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect();
    assert_eq!(lines, ["create", "delete"]);
}

#[test]
fn delete_of_a_missing_container_fails_unless_forced() {
    let t = TempDir::new("delm");
    let rt = Runtime::new(t.path());
    let o = rt.run(&["delete", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("container \"nope\" does not exist"));
    assert!(rt.run(&["delete", "--force", "nope"]).status.success());
    assert!(rt.run(&["delete", "-f", "nope"]).status.success());
}

#[test]
fn a_failing_delete_hook_is_a_warning_and_state_is_still_removed() {
    let t = TempDir::new("delh");
    let rt = Runtime::new(t.path());
    let b = bundle(t.path(), OVERLAY);
    let count = t.join("count");
    write_script(
        &b.join("rootfs/hooks/delete"),
        &format!(
            "#!/bin/sh\necho x >> {}\necho cleanup broke >&2\nexit 3\n",
            count.display()
        ),
    );
    let c = rt.create(&b, "dh", &[]);
    rt.run(&["start", "dh"]);
    reap(c.pid.unwrap());
    let o = rt.run(&["delete", "dh"]);
    assert!(o.status.success());
    assert!(
        stderr(&o).contains(
            "warning: container \"dh\": hook delete failed (exit status 3): cleanup broke"
        ),
        "{}",
        stderr(&o)
    );
    assert!(rt.log_text().contains("\"level\":\"warning\""));
    assert!(!rt.root.join("dh").exists());
    assert!(
        rt.run(&["delete", "--force", "dh"]).status.success(),
        "the shim's second delete --force succeeds"
    );
    assert_eq!(
        fs::read_to_string(count).unwrap(),
        "x\n",
        "the delete hook ran once"
    );
}

#[test]
fn start_after_config_json_is_gone_uses_what_create_recorded() {
    let t = TempDir::new("cfg");
    let rt = Runtime::new(t.path());
    let b = bundle(t.path(), OVERLAY);
    write_script(&b.join("rootfs/hooks/start"), "#!/bin/sh\nexit 5\n");
    let c = rt.create(&b, "cfg1", &[]);
    fs::write(b.join("config.json"), "{\"garbage\": ").unwrap();
    let o = rt.run(&["start", "cfg1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(reap(c.pid.unwrap()), 5);
    fs::remove_file(b.join("config.json")).unwrap();
    assert!(rt.run(&["delete", "cfg1"]).status.success());
}

#[test]
fn start_only_from_created() {
    let t = TempDir::new("start2");
    let rt = Runtime::new(t.path());
    let b = bundle(t.path(), OVERLAY);
    let c = rt.create(&b, "st", &[]);
    assert!(rt.run(&["start", "st"]).status.success());
    reap(c.pid.unwrap());
    let o = rt.run(&["start", "st"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("cannot start a container that has stopped"),
        "{}",
        stderr(&o)
    );
    let o = rt.run(&["start", "ghost"]);
    assert!(stderr(&o).contains("container \"ghost\" does not exist"));
}

#[test]
fn a_broken_start_hook_fails_start_and_leaves_the_container_created() {
    let t = TempDir::new("start3");
    let rt = Runtime::new(t.path());
    let b = bundle(t.path(), OVERLAY);
    let c = rt.create(&b, "nx", &[]);
    // Becomes non-executable after create validated it.
    write_script(&b.join("rootfs/hooks/start"), "#!/bin/sh\n");
    fs::set_permissions(
        b.join("rootfs/hooks/start"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let o = rt.run(&["start", "nx"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("is not executable"), "{}", stderr(&o));
    assert_eq!(rt.status("nx"), "created");
    assert!(rt.run(&["delete", "nx"]).status.success());
    reap(c.pid.unwrap());
}

#[test]
fn state_reports_stopped_when_the_proxy_died() {
    let t = TempDir::new("truth");
    let rt = Runtime::new(t.path());
    let b = bundle(t.path(), OVERLAY);
    let c = rt.create(&b, "tr", &[]);
    let pid = c.pid.unwrap();
    // SAFETY: kill with plain values on our own orphaned proxy.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    // Not reaped yet: a zombie counts as exited.
    assert!(eventually(5, || !running(pid)));
    assert_eq!(rt.status("tr"), "stopped");
    assert_eq!(field(&rt.state_json("tr"), "pid"), "0");
    reap(pid);
    assert!(rt.run(&["delete", "tr"]).status.success());
}

#[test]
fn a_state_root_that_is_not_utf8_still_knows_its_proxy() {
    use std::os::unix::ffi::OsStrExt;
    let t = TempDir::new("nonutf8");
    let mut rt = Runtime::new(t.path());
    rt.root = t.path().join(std::ffi::OsStr::from_bytes(b"state-\xff"));
    let b = bundle(t.path(), OVERLAY);
    let c = rt.create(&b, "nu", &[]);
    let pid = c.pid.unwrap();
    // The proxy's root argument is these bytes; the state must not hold a
    // lossy copy of them, or the live proxy would look like a stranger.
    assert_eq!(rt.status("nu"), "created");
    assert_eq!(field(&rt.state_json("nu"), "pid"), pid.to_string());
    assert!(rt.run(&["delete", "--force", "nu"]).status.success());
    assert!(eventually(5, || !running(pid)));
    reap(pid);
}

#[test]
fn state_json_matches_the_oci_schema() {
    let t = TempDir::new("oci");
    let rt = Runtime::new(t.path());
    let b = bundle(t.path(), OVERLAY);
    let c = rt.create(&b, "oci1", &[]);
    let json = rt.state_json("oci1");
    let st: oci_spec::runtime::State = serde_json_parse(&json);
    assert_eq!(st.id(), "oci1");
    assert_eq!(*st.pid(), Some(c.pid.unwrap()));
    assert_eq!(st.bundle(), &b.canonicalize().unwrap());
    assert_eq!(
        st.annotations()
            .as_ref()
            .unwrap()
            .get("io.balena.image.class")
            .unwrap(),
        "overlay"
    );
    assert!(field(&json, "created").ends_with('Z'));
    rt.run(&["delete", "oci1"]);
    reap(c.pid.unwrap());
}

fn serde_json_parse(json: &str) -> oci_spec::runtime::State {
    let path = std::env::temp_dir().join(format!("ber-state-{}.json", std::process::id()));
    fs::write(&path, json).unwrap();
    let st = oci_spec::runtime::State::load(&path)
        .unwrap_or_else(|e| panic!("not OCI state: {e}\n{json}"));
    let _ = fs::remove_file(path);
    st
}

#[test]
fn ps_json_prints_only_the_pid_array() {
    let t = TempDir::new("ps");
    let rt = Runtime::new(t.path());
    let b = bundle(t.path(), OVERLAY);
    let c = rt.create(&b, "ps1", &[]);
    let o = rt.run(&["ps", "--format", "json", "ps1"]);
    assert!(o.status.success());
    assert_eq!(stdout(&o), format!("[{}]\n", c.pid.unwrap()));
    assert!(o.stderr.is_empty());
    let o = rt.run(&["ps", "ps1"]);
    assert!(
        stdout(&o).contains("balena-extension-proxy ps1"),
        "{}",
        stdout(&o)
    );
    rt.run(&["kill", "ps1", "TERM"]);
    reap(c.pid.unwrap());
    assert_eq!(stdout(&rt.run(&["ps", "--format=json", "ps1"])), "[]\n");
}

#[test]
fn list_shows_every_container_as_a_table_or_json() {
    let t = TempDir::new("list");
    let rt = Runtime::new(t.path());
    let b = bundle(t.path(), OVERLAY);
    let a = rt.create(&b, "aa", &[]);
    let z = rt.create(&b, "zz", &[]);
    let table = stdout(&rt.run(&["list"]));
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("ID   PID"), "{table}");
    assert!(
        lines[1].starts_with("aa ") && lines[2].starts_with("zz "),
        "{table}"
    );
    let json = stdout(&rt.run(&["list", "--format", "json"]));
    let v: miniserde::json::Value = miniserde::json::from_str(&json).unwrap();
    match v {
        miniserde::json::Value::Array(items) => assert_eq!(items.len(), 2),
        _ => panic!("{json}"),
    }
    for (id, c) in [("aa", a), ("zz", z)] {
        rt.run(&["delete", id]);
        reap(c.pid.unwrap());
    }
}

#[test]
fn oci_hooks_in_config_json_are_not_run() {
    let t = TempDir::new("ocihooks");
    let rt = Runtime::new(t.path());
    let b = t.join("bundle");
    fs::create_dir_all(b.join("rootfs")).unwrap();
    let touched = t.join("touched");
    fs::write(
        b.join("config.json"),
        format!(
            "{{\"ociVersion\":\"1.0.2\",\"root\":{{\"path\":\"rootfs\"}},\"annotations\":{{{OVERLAY}}},\
             \"hooks\":{{\"prestart\":[{{\"path\":\"/usr/bin/touch\",\"args\":[\"touch\",\"{}\"]}}]}}}}",
            touched.display()
        ),
    )
    .unwrap();
    let c = rt.create(&b, "nh", &[]);
    assert!(c.ok, "{}", c.stderr);
    rt.run(&["start", "nh"]);
    reap(c.pid.unwrap());
    assert!(!touched.exists(), "the prestart hook did not run");
    assert!(rt
        .log_text()
        .contains("OCI hooks in config.json are not run"));
    rt.run(&["delete", "nh"]);
}

#[test]
fn the_proxy_holds_only_the_container_stdio_and_no_environment() {
    let t = TempDir::new("proxyfd");
    let dist = t.join("dist");
    fs::create_dir_all(&dist).unwrap();
    let mut rt = Runtime::new(t.path());
    rt.bin = install(&dist);
    let b = bundle(t.path(), OVERLAY);
    let c = rt.create(&b, "fd1", &[]);
    let pid = c.pid.unwrap();
    // Once released, the proxy closes everything but the container's stdio.
    let fds = || {
        let mut fds: Vec<String> = fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        fds.sort();
        fds
    };
    assert!(eventually(10, || fds() == ["0", "1", "2"]), "{:?}", fds());
    assert_eq!(fs::read(format!("/proc/{pid}/environ")).unwrap(), b"");
    if !skip_when_emulated(
        "the proxy's /proc/PID/exe",
        "/proc/PID/exe of an emulated process is the emulator",
    ) {
        let exe = fs::read_link(format!("/proc/{pid}/exe")).unwrap();
        assert_eq!(exe, dist.join("balena-extension-runtime"));
    }
    let args = args_of(pid);
    let sibling = dist.join("balena-extension-proxy");
    assert!(
        args.len() == 3 && args[0] == sibling.to_str().unwrap().as_bytes() && args[1] == b"fd1",
        "spawned through the sibling symlink: {}",
        shown(&args)
    );
    rt.run(&["delete", "fd1"]);
    reap(pid);
}

#[test]
fn without_the_symlink_the_proxy_runs_as_this_binary_under_its_name() {
    let t = TempDir::new("proxyname");
    let mut rt = Runtime::new(t.path());
    // The binary alone, with no balena-extension-proxy beside it.
    let alone = t.join("bin");
    fs::create_dir_all(&alone).unwrap();
    rt.bin = alone.join("balena-extension-runtime");
    fs::copy(binary(), &rt.bin).unwrap();
    let b = bundle(t.path(), OVERLAY);
    let c = rt.create(&b, "pn", &[]);
    assert!(c.ok, "{}", c.stderr);
    let pid = c.pid.unwrap();
    let root = rt.root.to_str().unwrap().as_bytes();
    let args = args_of(pid);
    let want: [&[u8]; 3] = [b"balena-extension-proxy", b"pn", root];
    assert!(args == want, "the proxy's arguments: {}", shown(&args));
    // It is this very binary, and it works: start releases it with the
    // start hook's verdict.
    if !skip_when_emulated(
        "the proxy's /proc/PID/exe",
        "/proc/PID/exe of an emulated process is the emulator",
    ) {
        assert_eq!(fs::read_link(format!("/proc/{pid}/exe")).unwrap(), rt.bin);
    }
    assert_eq!(rt.status("pn"), "created");
    let o = rt.run(&["start", "pn"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(reap(pid), 0);
    rt.run(&["delete", "pn"]);
}

#[test]
fn labels_come_from_the_engine_record_when_annotations_have_none() {
    let t = TempDir::new("engine");
    let mut rt = Runtime::new(t.path());
    let docker = t.join("docker");
    rt.extra = vec!["--docker-root".into(), docker.to_str().unwrap().into()];
    let b = bundle(t.path(), "\"com.docker.unrelated\":\"1\"");
    let id = "0123456789abcdef";
    let dump = t.join("env");
    write_script(
        &b.join("rootfs/hooks/create"),
        &format!(
            "#!/bin/sh\necho $EXTENSION_IMAGE_CLASS $EXTENSION_IMAGE_KERNEL_VERSION > {}\n",
            dump.display()
        ),
    );
    // Without a record: refused, naming the label.
    let c = rt.create(&b, id, &[]);
    assert!(!c.ok);
    assert!(
        c.stderr
            .contains("missing label io.balena.image.class=overlay"),
        "{}",
        c.stderr
    );
    fs::create_dir_all(docker.join("containers").join(id)).unwrap();
    fs::write(
        docker.join("containers").join(id).join("config.v2.json"),
        "{\"ID\":\"x\",\"Config\":{\"Labels\":{\"io.balena.image.class\":\"overlay\",\"io.balena.image.kernel-version\":\"6.1.0\"},\"Env\":null}}",
    )
    .unwrap();
    let c = rt.create(&b, id, &[]);
    assert!(c.ok, "{}", c.stderr);
    assert_eq!(fs::read_to_string(dump).unwrap(), "overlay 6.1.0\n");
    rt.run(&["delete", id]);
    reap(c.pid.unwrap());
}

#[test]
fn console_socket_receives_a_terminal_and_create_returns() {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::net::UnixListener;
    let t = TempDir::new("tty");
    let rt = Runtime::new(t.path());
    let b = bundle(t.path(), OVERLAY);
    write_script(
        &b.join("rootfs/hooks/start"),
        "#!/bin/sh\necho on the terminal\n",
    );
    let sock = t.join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let receiver = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut buf = [0u8; 256];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut control = [0u8; 64];
        // SAFETY: recvmsg into buffers that outlive the call; the received
        // descriptor is taken over by an OwnedFd.
        unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = control.len() as _;
            let n = libc::recvmsg(stream.as_raw_fd(), &mut msg, 0);
            assert!(n > 0);
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            assert_eq!((*cmsg).cmsg_type, libc::SCM_RIGHTS);
            let fd = *(libc::CMSG_DATA(cmsg) as *const libc::c_int);
            assert_eq!(libc::isatty(fd), 1, "a terminal master was sent");
            (
                String::from_utf8_lossy(&buf[..n as usize]).into_owned(),
                OwnedFd::from_raw_fd(fd),
            )
        }
    });
    let c = rt.create(&b, "tty1", &["--console-socket", sock.to_str().unwrap()]);
    assert!(c.ok, "{}", c.stderr);
    let (name, master) = receiver.join().unwrap();
    assert!(name.starts_with("/dev/pts/"), "{name}");
    assert!(rt.run(&["start", "tty1"]).status.success());
    assert_eq!(reap(c.pid.unwrap()), 0);
    let mut out = [0u8; 256];
    // SAFETY: read into a local buffer from the master we own.
    let n = unsafe { libc::read(master.as_raw_fd(), out.as_mut_ptr().cast(), out.len()) };
    assert!(n > 0 && String::from_utf8_lossy(&out[..n as usize]).contains("on the terminal"));
    rt.run(&["delete", "tty1"]);
}

/// A start hook that writes its PID to the returned file, then sleeps.
fn slow_start_hook(bundle: &Path, dir: &Path) -> std::path::PathBuf {
    let marker = dir.join("hook-pid");
    write_script(
        &bundle.join("rootfs/hooks/start"),
        &format!("#!/bin/sh\necho $$ > {}\nsleep 30\n", marker.display()),
    );
    marker
}

#[test]
fn start_returns_while_a_slow_hook_runs_and_kill_stops_it() {
    // containerd's shim and the engine lock the container while `start`
    // runs: a start that waited for its hook would block `docker rm -f`.
    let t = TempDir::new("slowstart");
    let rt = Runtime::new(t.path());
    let b = bundle(t.path(), OVERLAY);
    let marker = slow_start_hook(&b, t.path());
    let c = rt.create(&b, "slow1", &[]);
    let proxy = c.pid.unwrap();
    let o = rt.run(&["start", "slow1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // start returns once the hook has exec'd; the script then writes its PID.
    assert!(eventually(10, || fs::read_to_string(&marker)
        .is_ok_and(|s| s.ends_with('\n'))));
    assert_eq!(rt.status("slow1"), "running");
    let hook: i32 = fs::read_to_string(&marker).unwrap().trim().parse().unwrap();
    assert!(running(hook));
    let o = rt.run(&["ps", "--format", "json", "slow1"]);
    assert_eq!(stdout(&o), format!("[{proxy},{hook}]\n"));

    let o = rt.run(&["delete", "slow1"]);
    assert!(
        stderr(&o).contains("cannot delete container slow1 that is not stopped: running"),
        "{}",
        stderr(&o)
    );

    assert!(rt.run(&["kill", "slow1", "KILL"]).status.success());
    assert_eq!(reap(proxy), 128 + libc::SIGKILL);
    assert!(
        eventually(10, || !running(hook)),
        "the hook was killed with the container"
    );
    assert!(rt.run(&["delete", "slow1"]).status.success());
    assert!(!rt.root.join("slow1").exists());
}

#[test]
fn delete_force_stops_a_running_start_hook() {
    let t = TempDir::new("forcedel");
    let rt = Runtime::new(t.path());
    let b = bundle(t.path(), OVERLAY);
    let marker = slow_start_hook(&b, t.path());
    let c = rt.create(&b, "fd2", &[]);
    assert!(rt.run(&["start", "fd2"]).status.success());
    assert!(eventually(10, || fs::read_to_string(&marker)
        .is_ok_and(|s| s.ends_with('\n'))));
    let hook: i32 = fs::read_to_string(&marker).unwrap().trim().parse().unwrap();
    let o = rt.run(&["delete", "--force", "fd2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!running(hook));
    assert_eq!(reap(c.pid.unwrap()), 128 + libc::SIGKILL);
    assert!(!rt.root.join("fd2").exists());
}

#[test]
fn only_bind_mounts_become_volume_variables() {
    let t = TempDir::new("mounts");
    let rt = Runtime::new(t.path());
    let b = t.join("bundle");
    fs::create_dir_all(b.join("rootfs")).unwrap();
    fs::write(
        b.join("config.json"),
        format!(
            "{{\"ociVersion\":\"1.0.2\",\"annotations\":{{{OVERLAY}}},\"mounts\":[\
             {{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"}},\
             {{\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\",\"options\":[\"nosuid\"]}},\
             {{\"destination\":\"/data/my-vol\",\"source\":\"/var/lib/vol\",\"options\":[\"rbind\",\"rprivate\"]}},\
             {{\"destination\":\"/cfg\",\"type\":\"bind\",\"source\":\"/etc/cfg\"}}]}}"
        ),
    )
    .unwrap();
    let dump = t.join("env");
    write_script(
        &b.join("rootfs/hooks/create"),
        &format!(
            "#!/bin/sh\nenv | grep ^EXTENSION_VOLUME | sort > {}\n",
            dump.display()
        ),
    );
    let c = rt.create(&b, "mnt", &[]);
    assert!(c.ok, "{}", c.stderr);
    assert_eq!(
        fs::read_to_string(dump).unwrap(),
        "EXTENSION_VOLUME_CFG=/etc/cfg\nEXTENSION_VOLUME_DATA_MY_VOL=/var/lib/vol\n"
    );
    rt.run(&["delete", "mnt"]);
    reap(c.pid.unwrap());
}

#[test]
fn a_start_hook_that_cannot_execute_fails_start_and_leaves_the_container_created() {
    let t = TempDir::new("startexec");
    let rt = Runtime::new(t.path());
    let b = bundle(t.path(), OVERLAY);
    write_script(
        &b.join("rootfs/hooks/start"),
        "#!/nonexistent/interpreter\n",
    );
    let c = rt.create(&b, "sx", &[]);
    assert!(c.ok, "{}", c.stderr);
    let o = rt.run(&["start", "sx"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("cannot execute") && stderr(&o).contains("hooks/start"),
        "{}",
        stderr(&o)
    );
    assert_eq!(rt.status("sx"), "created");
    assert!(running(c.pid.unwrap()));
    assert!(rt.run(&["delete", "sx"]).status.success());
    reap(c.pid.unwrap());
}

#[test]
fn delete_removes_pid_file_temps_a_killed_create_left() {
    let t = TempDir::new("pidtemp");
    let rt = Runtime::new(t.path());
    let b = bundle(t.path(), OVERLAY);
    let c = rt.create(&b, "pt", &[]);
    // As if an earlier create of this ID had been killed between writing
    // its temp file and renaming it.
    let pid_file = rt.root.with_file_name("pt.pid");
    let leftover = pid_file.with_file_name(".pt.pid.tmp-99999");
    fs::write(&leftover, "123").unwrap();
    let unrelated = pid_file.with_file_name(".other.pid.tmp-99999");
    fs::write(&unrelated, "456").unwrap();
    assert!(rt.run(&["delete", "pt"]).status.success());
    assert!(!leftover.exists(), "the temp file was removed");
    assert!(
        unrelated.exists(),
        "another container's file was left alone"
    );
    assert!(
        pid_file.exists(),
        "the pid file itself belongs to the engine"
    );
    reap(c.pid.unwrap());
}
