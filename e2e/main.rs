//! End-to-end tests: a real Docker engine (dockerd 20.10) and a real
//! containerd (1.6), both from Debian's packages, drive
//! `dist/balena-extension-runtime` exactly as balenaOS does.
//!
//! `make e2e` (`e2e/run.sh`) starts private daemons and runs these tests; a
//! plain `cargo test` skips them (and says so) unless `E2E_REQUIRED=1`, which
//! CI sets so they can never be skipped silently. One test per scenario of
//! the e2e issue; each is named for the behaviour it protects.

mod boot;
mod harness;
mod manager;
mod qemu;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use harness::*;

const CLASS: &str = "io.balena.image.class";
const OVERLAY: (&str, &str) = (CLASS, "overlay");
const SECS: fn(u64) -> Duration = Duration::from_secs;

/// A shell snippet that blocks until `$out/go` exists (at most 120 s, so a
/// failed test cannot leave it behind for long).
const WAIT_FOR_GO: &str =
    r#"i=0; while [ ! -e "$out/go" ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done"#;

/// Checks the environment hook `hook` ran with: exactly the documented
/// variables, nothing from the daemon or the container's own `Env`.
fn assert_hook_env(
    out: &Path,
    hook: &str,
    id: &str,
    images: &[(&str, &str)],
    volumes: &[(&str, &str)],
) {
    let env = hook_env(out, hook);
    let show = || format!("{hook} hook environment: {env:#?}");
    assert_eq!(
        env.get("PATH").map(String::as_str),
        Some(HOOK_PATH),
        "{}",
        show()
    );
    assert_eq!(
        env.get("EXTENSION_CONTAINER_ID").map(String::as_str),
        Some(id),
        "{}",
        show()
    );
    let rootfs = env
        .get("EXTENSION_ROOTFS")
        .unwrap_or_else(|| panic!("no EXTENSION_ROOTFS; {}", show()));
    assert!(rootfs.starts_with('/'), "{}", show());
    assert!(
        !env.contains_key(DAEMON_ENV_MARKER),
        "daemon environment leaked into the hook; {}",
        show()
    );
    for (name, value) in images.iter().chain(volumes) {
        assert_eq!(
            env.get(*name).map(String::as_str),
            Some(*value),
            "{name}; {}",
            show()
        );
    }
    for name in env.keys() {
        let documented = ["PATH", "EXTENSION_ROOTFS", "EXTENSION_CONTAINER_ID"]
            .contains(&name.as_str())
            || images.iter().any(|(n, _)| n == name)
            || name.starts_with("EXTENSION_VOLUME_");
        assert!(
            documented,
            "undocumented variable {name} in the hook environment; {}",
            show()
        );
    }
    for (name, _) in volumes {
        assert!(env.contains_key(*name), "{}", show());
    }
    let cwd = read(&out.join(format!("{hook}.cwd")));
    assert_eq!(
        cwd.trim_end(),
        rootfs.trim_end_matches('/'),
        "{hook} hook cwd is not EXTENSION_ROOTFS"
    );
    assert_eq!(
        read(&out.join(format!("{hook}.sees-rootfs"))).trim(),
        "yes",
        "{hook} hook cannot see its rootfs"
    );
}

/// Waits for a file a hook writes.
fn wait_for_file(path: &Path, limit: Duration, what: &str) {
    assert!(
        wait_until(limit, || path.exists()),
        "{what}: {} did not appear within {}s",
        path.display(),
        limit.as_secs()
    );
}

/// The bundle containerd made for a container of namespace `ns`.
fn bundle_config(env: &Env, ns: &str, id: &str) -> String {
    read(
        &env.tmp
            .join("containerd/state/io.containerd.runtime.v2.task")
            .join(ns)
            .join(id)
            .join("config.json"),
    )
}

#[test]
fn s01_docker_run_runs_hooks_in_order_with_documented_env_and_rm_leaves_nothing() {
    let Some(env) = setup("s01") else { return };
    let docker = env.docker();
    let rootfs = Rootfs::recording(&env, "s01", &[]);
    let tag = "e2e/s01:1";
    docker.import(
        &rootfs,
        &[
            OVERLAY,
            ("io.balena.image.e2e-name.with.dots", "a dotted value"),
        ],
        tag,
    );

    let out = env.out_dir("c");
    let vol = env.out_dir("vol");
    let name = unique("s01");
    let run = docker
        .extension(&name, &out, tag)
        .options(&[
            "-e",
            "E2E_CONTAINER_ENV=must-not-reach-hooks",
            "-v",
            &format!("{}:/data/my-vol", vol.display()),
        ])
        .run();
    assert!(run.success(), "docker run failed: {run}");
    let id = docker.id(&name);
    assert_eq!(docker.wait_exited(&id, SECS(30)), 0);
    docker.assert_exited(&id, 0);
    let order = hook_order(&out);
    assert!(
        order.starts_with(&["create".into(), "start".into()]),
        "hooks ran as {order:?}"
    );

    docker.rm(&id);
    assert_eq!(
        hook_order(&out),
        ["create", "start", "delete"],
        "hooks must run once each, in order"
    );
    let out_s = out.display().to_string();
    let vol_s = vol.display().to_string();
    let images = [
        ("EXTENSION_IMAGE_CLASS", "overlay"),
        ("EXTENSION_IMAGE_E2E_OUT", out_s.as_str()),
        ("EXTENSION_IMAGE_E2E_NAME_WITH_DOTS", "a dotted value"),
    ];
    let volumes = [("EXTENSION_VOLUME_DATA_MY_VOL", vol_s.as_str())];
    for hook in ["create", "start", "delete"] {
        assert_hook_env(&out, hook, &id, &images, &volumes);
    }
    assert!(!docker.exists(&id));
    assert!(
        proxies_of(&id).is_empty(),
        "proxy left: {:?}",
        proxies_of(&id)
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
    );
    env.assert_gone(&id);
}

#[test]
fn s02_image_without_overlay_class_is_refused_naming_the_label() {
    let Some(env) = setup("s02") else { return };
    let docker = env.docker();
    let rootfs = Rootfs::recording(&env, "s02", &[]);
    docker.import(&rootfs, &[], "e2e/s02:unlabelled");
    docker.import(&rootfs, &[(CLASS, "volume")], "e2e/s02:volume");

    for (tag, must_mention) in [("e2e/s02:unlabelled", CLASS), ("e2e/s02:volume", "volume")] {
        let out = env.out_dir(tag.rsplit(':').next().unwrap());
        let name = unique("s02");
        let run = docker.extension(&name, &out, tag).run().failed();
        assert!(
            run.stderr.contains(CLASS) && run.stderr.contains(must_mention),
            "the Docker user's error for {tag} must name {CLASS} (and {must_mention}): {run}"
        );
        assert!(
            hook_order(&out).is_empty(),
            "hooks ran for a refused image: {:?}",
            hook_order(&out)
        );
        let id = docker.id(&name);
        assert_no_procs(&id, SECS(15));
        docker.rm(&id);
        env.assert_gone(&id);
    }
}

#[test]
fn s03_hook_exit_status_becomes_container_exit_and_failing_create_hook_fails_run() {
    let Some(env) = setup("s03") else { return };
    let docker = env.docker();

    // A start hook exiting 7: the container ends `Exited (7)`.
    let rootfs = Rootfs::recording(&env, "s03-start", &[("start", "exit 7")]);
    docker.import(&rootfs, &[OVERLAY], "e2e/s03:start7");
    let out = env.out_dir("start7");
    let name = unique("s03");
    let run = docker.extension(&name, &out, "e2e/s03:start7").run();
    assert_eq!(
        run.code,
        Some(7),
        "docker run must exit with the start hook's status: {run}"
    );
    let id = docker.id(&name);
    assert_eq!(docker.wait_exited(&id, SECS(30)), 7);
    docker.assert_exited(&id, 7);
    docker.rm(&id);
    env.assert_gone(&id);

    // A failing create hook: `docker run` fails and shows the hook's message.
    let message = "e2e create hook: not enough room for this extension";
    let rootfs = Rootfs::recording(
        &env,
        "s03-create",
        &[("create", &format!("echo '{message}' >&2; exit 3"))],
    );
    docker.import(&rootfs, &[OVERLAY], "e2e/s03:create-fails");
    let out = env.out_dir("create-fails");
    let name = unique("s03");
    let run = docker
        .extension(&name, &out, "e2e/s03:create-fails")
        .run()
        .failed();
    assert!(
        run.stderr.contains(message),
        "the hook's message must reach the Docker user: {run}"
    );
    let order = hook_order(&out);
    assert!(
        order.contains(&"create".into()) && !order.contains(&"start".into()),
        "hooks ran as {order:?}"
    );
    let id = docker.id(&name);
    assert!(
        proxies_of(&id).is_empty(),
        "a proxy is left after a failed create"
    );
    assert_no_procs(&id, SECS(15));
    docker.rm(&id);
    env.assert_gone(&id);
}

#[test]
fn s04_docker_logs_shows_create_and_start_hook_output() {
    let Some(env) = setup("s04") else { return };
    let docker = env.docker();
    let rootfs = Rootfs::recording(&env, "s04", &[]);
    docker.import(&rootfs, &[OVERLAY], "e2e/s04:1");
    let out = env.out_dir("c");
    let name = unique("s04");
    docker
        .extension(&name, &out, "e2e/s04:1")
        .detach()
        .run()
        .ok();
    let id = docker.id(&name);
    assert_eq!(docker.wait_exited(&id, SECS(30)), 0);
    let logs = docker.run(&["logs", &id]);
    assert!(logs.success(), "{logs}");
    for hook in ["create", "start"] {
        let line = format!("{hook} hook stdout for {id}");
        assert!(
            logs.stdout.contains(&line),
            "docker logs stdout lacks `{line}`: {logs}"
        );
        let line = format!("{hook} hook stderr for {id}");
        assert!(
            logs.stderr.contains(&line),
            "docker logs stderr lacks `{line}`: {logs}"
        );
    }
    docker.rm(&id);
    env.assert_gone(&id);
}

#[test]
fn s05_labels_only_on_the_docker_container_record_are_found_via_config_v2_json() {
    let Some(env) = setup("s05") else { return };
    let docker = env.docker();
    // The image carries no labels at all; `docker run --label` puts them on
    // the container record only (config.v2.json), never in config.json.
    let rootfs = Rootfs::recording(&env, "s05", &[("start", WAIT_FOR_GO)]);
    docker.import(&rootfs, &[], "e2e/s05:1");
    let out = env.out_dir("c");
    let name = unique("s05");
    let run = docker
        .extension(&name, &out, "e2e/s05:1")
        .detach()
        .label(&format!("{CLASS}=overlay"))
        .label("io.balena.image.e2e-only-on-container=yes")
        .spawn();
    wait_for_file(&out.join("start.ran"), SECS(60), "start hook");
    let id = docker.id(&name);
    let config = bundle_config(&env, "moby", &id);
    assert!(
        !config.contains("io.balena.image"),
        "labels reached config.json; this test needs them absent: {config}"
    );
    let record = read(
        &env.tmp
            .join("docker/data/containers")
            .join(&id)
            .join("config.v2.json"),
    );
    assert!(
        record.contains("io.balena.image.e2e-only-on-container"),
        "{record}"
    );
    fs::write(out.join("go"), "").unwrap();
    let run = run.wait(SECS(60));
    assert!(run.success(), "{run}");
    assert_eq!(docker.wait_exited(&id, SECS(30)), 0);
    docker.assert_exited(&id, 0);
    let env_s = out.display().to_string();
    let images = [
        ("EXTENSION_IMAGE_CLASS", "overlay"),
        ("EXTENSION_IMAGE_E2E_ONLY_ON_CONTAINER", "yes"),
        ("EXTENSION_IMAGE_E2E_OUT", env_s.as_str()),
    ];
    assert_hook_env(&out, "create", &id, &images, &[]);
    assert_hook_env(&out, "start", &id, &images, &[]);
    docker.rm(&id);
    env.assert_gone(&id);
}

/// Starts (`docker run -d`, in the background) an extension whose start hook
/// does not finish by itself, and waits until that hook runs; returns the
/// container ID and the pending `docker run`.
fn start_slow_extension(env: &Env, docker: &Docker, tag: &str, out: &Path) -> (String, Running) {
    let name = unique(&env.test);
    let run = docker.extension(&name, out, tag).detach().spawn();
    wait_for_file(&out.join("start.ran"), SECS(60), "start hook");
    (docker.id(&name), run)
}

#[test]
fn s06_rm_force_and_kill_during_slow_start_hook_do_not_hang_or_leak() {
    let Some(env) = setup("s06") else { return };
    let docker = env.docker();
    let rootfs = Rootfs::recording(&env, "s06", &[("start", "sleep 300")]);
    docker.import(&rootfs, &[OVERLAY], "e2e/s06:1");

    // docker rm -f while the start hook sleeps.
    let out = env.out_dir("rm-f");
    let (id, run) = start_slow_extension(&env, &docker, "e2e/s06:1", &out);
    assert!(
        env.docker_state_root().join(&id).is_dir(),
        "no runtime state at {}",
        env.docker_state_root().display()
    );
    assert!(
        !proxies_of(&id).is_empty(),
        "no balena-extension-proxy process for {id}"
    );
    let rm = docker.run_for(&["rm", "-f", &id], SECS(30));
    assert!(rm.success(), "docker rm -f during a slow start hook: {rm}");
    let _ = run.wait(SECS(30));
    assert!(!docker.exists(&id), "container still listed after rm -f");
    env.assert_gone(&id);

    // docker kill while the start hook sleeps, then docker rm.
    let out = env.out_dir("kill");
    let (id, run) = start_slow_extension(&env, &docker, "e2e/s06:1", &out);
    let kill = docker.run_for(&["kill", &id], SECS(30));
    assert!(
        kill.success(),
        "docker kill during a slow start hook: {kill}"
    );
    let code = docker.wait_exited(&id, SECS(30));
    assert_ne!(code, 0, "a killed extension must not report success");
    let _ = run.wait(SECS(30));
    docker.rm(&id);
    env.assert_gone(&id);
}

#[test]
fn s07_twenty_extensions_started_concurrently_all_exit_zero_and_clean_up() {
    let Some(env) = setup("s07") else { return };
    let docker = env.docker();
    let rootfs = Rootfs::recording(&env, "s07", &[]);
    docker.import(&rootfs, &[OVERLAY], "e2e/s07:1");
    const N: usize = 20;
    const WORKERS: usize = 4;
    let outs: Vec<_> = (0..N).map(|i| env.out_dir(&format!("c{i}"))).collect();
    let names: Vec<String> = (0..N).map(|_| unique("s07")).collect();

    let parallel = |job: &(dyn Fn(usize) + Sync)| {
        std::thread::scope(|s| {
            for w in 0..WORKERS {
                s.spawn(move || {
                    for i in (w..N).step_by(WORKERS) {
                        job(i)
                    }
                });
            }
        })
    };
    parallel(&|i| {
        let run = docker
            .extension(&names[i], &outs[i], "e2e/s07:1")
            .detach()
            .run_for(SECS(120));
        assert!(run.success(), "extension {i}: {run}");
    });
    let ids: Vec<String> = names.iter().map(|n| docker.id(n)).collect();
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(docker.wait_exited(id, SECS(60)), 0, "extension {i}");
        docker.assert_exited(id, 0);
    }
    parallel(&|i| docker.rm(&ids[i]));
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(
            hook_order(&outs[i]),
            ["create", "start", "delete"],
            "extension {i}"
        );
        let out_s = outs[i].display().to_string();
        let images = [
            ("EXTENSION_IMAGE_CLASS", "overlay"),
            ("EXTENSION_IMAGE_E2E_OUT", out_s.as_str()),
        ];
        assert_hook_env(&outs[i], "start", id, &images, &[]);
        env.assert_gone(id);
    }
}

#[test]
fn s08_ctr_run_with_overlay_annotation_works_and_without_it_fails_naming_the_label() {
    let Some(env) = setup("s08") else { return };
    let ctr = env.ctr();
    let rootfs = Rootfs::recording(&env, "s08", &[]);
    let image = ctr.import(&rootfs, &[OVERLAY], "s08");

    let out = env.out_dir("annotated");
    let id = unique("s08");
    let run = ctr.run_extension(
        &image,
        &id,
        &[&format!("{CLASS}=overlay"), &out_label(&out)],
    );
    assert!(run.success(), "ctr run of an annotated extension: {run}");
    assert_eq!(hook_order(&out), ["create", "start", "delete"]);
    let out_s = out.display().to_string();
    let images = [
        ("EXTENSION_IMAGE_CLASS", "overlay"),
        ("EXTENSION_IMAGE_E2E_OUT", out_s.as_str()),
    ];
    for hook in ["create", "start", "delete"] {
        assert_hook_env(&out, hook, &id, &images, &[]);
    }
    env.assert_gone(&id);

    let out = env.out_dir("plain");
    let id = unique("s08");
    let run = ctr.run_extension(&image, &id, &[&out_label(&out)]).failed();
    assert!(
        run.stderr.contains(CLASS),
        "ctr's error must name {CLASS}: {run}"
    );
    assert!(
        hook_order(&out).is_empty(),
        "hooks ran without the annotation"
    );
    let _ = ctr.run(&["containers", "delete", &id]);
    env.assert_gone(&id);
}

/// Restarts the daemons while an extension is created but its start has not
/// finished (the start hook is still waiting), then `docker rm -f` must clean
/// it up through the runtime's persisted state.
///
/// (An extension whose `create` completes while the daemons are down, never
/// reaching `start`, cannot be tested through Docker: after the restart
/// dockerd 20.10 sends no kill or delete for a container it never saw start,
/// so `docker rm -f` orphans the task -- with runc just the same.)
fn restart_around_pending_extension(action: &str) {
    let test = format!("s09-{action}");
    let Some(env) = setup_exclusive(&test) else {
        return;
    };
    let docker = env.docker();
    let rootfs = Rootfs::recording(&env, "s09", &[("start", WAIT_FOR_GO)]);
    docker.import(&rootfs, &[OVERLAY], "e2e/s09:1");
    let out = env.out_dir("c");
    let (id, run) = start_slow_extension(&env, &docker, "e2e/s09:1", &out);
    assert!(
        env.docker_state_root()
            .join(&id)
            .join("state.json")
            .is_file(),
        "no runtime state at {}",
        env.docker_state_root().display()
    );

    env.daemons(action);
    // The pending `docker run` lost its daemon; it only has to end.
    let _ = run.wait_for(SECS(30));
    let rm = docker.run_for(&["rm", "-f", &id], SECS(60));
    assert!(
        rm.success(),
        "docker rm -f after `daemons.sh {action}`: {rm}"
    );
    assert!(!docker.exists(&id), "container still listed after rm -f");
    env.assert_gone(&id);
}

#[test]
fn s09_daemon_restart_with_a_pending_extension_then_rm_force_cleans_up() {
    restart_around_pending_extension("restart");
    restart_around_pending_extension("crash-restart");
}

/// Kills the background child a hook left (PID in `file`) if it is still
/// one of ours.
fn reap_background_child(file: &Path, id: &str) {
    let Ok(pid) = fs::read_to_string(file) else {
        return;
    };
    let Ok(pid) = pid.trim().parse::<i32>() else {
        return;
    };
    if procs_mentioning(id).iter().any(|p| p.pid == pid) {
        // SAFETY: kill(2) of a process whose environment names our container.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

#[test]
fn s10_terminal_runs_finish_promptly_and_background_hook_children_do_not_hang() {
    let Some(env) = setup("s10") else { return };
    let docker = env.docker();

    // docker run -t: the runtime gets --console-socket.
    let rootfs = Rootfs::recording(&env, "s10-tty", &[]);
    docker.import(&rootfs, &[OVERLAY], "e2e/s10:tty");
    let out = env.out_dir("tty");
    let name = unique("s10");
    let run = docker
        .extension(&name, &out, "e2e/s10:tty")
        .tty()
        .run_for(SECS(30));
    assert!(run.success(), "docker run -t: {run}");
    let id = docker.id(&name);
    docker.assert_exited(&id, 0);
    let logs = docker.ok(&["logs", &id]);
    assert!(
        logs.contains("start hook stdout"),
        "hook output must reach the terminal: {logs}"
    );
    docker.run_for(&["rm", &id], SECS(30)).ok();
    env.assert_gone(&id);

    // Hooks leaving a background child that holds their stdout/stderr.
    let bg = |pidfile: &str| format!(r#"sleep 120 & echo $! >"$out/{pidfile}""#);
    let (create_bg, start_bg) = (bg("create-bg.pid"), bg("start-bg.pid"));
    let rootfs = Rootfs::recording(
        &env,
        "s10-bg",
        &[("create", &create_bg), ("start", &start_bg)],
    );
    docker.import(&rootfs, &[OVERLAY], "e2e/s10:bg");
    for tty in [false, true] {
        let out = env.out_dir(if tty { "bg-tty" } else { "bg" });
        let name = unique("s10");
        let mut extension = docker.extension(&name, &out, "e2e/s10:bg");
        if tty {
            extension = extension.tty();
        }
        let run = extension.run_for(SECS(30));
        let id = docker.id(&name);
        let rm = docker.run_for(&["rm", "-f", &id], SECS(30));
        for f in ["create-bg.pid", "start-bg.pid"] {
            reap_background_child(&out.join(f), &id);
        }
        assert!(
            run.success(),
            "docker run (tty: {tty}) with a hook's background child: {run}"
        );
        assert!(run.elapsed < SECS(20), "docker run took {:?}", run.elapsed);
        assert!(rm.success(), "docker rm (tty: {tty}): {rm}");
        env.assert_gone(&id);
    }
}

#[test]
fn s11_extension_runs_on_default_bridge_network_without_libnetwork_prestart_hook() {
    let Some(env) = setup("s11") else { return };
    let docker = env.docker_bridge();
    let rootfs = Rootfs::recording(&env, "s11", &[("start", WAIT_FOR_GO)]);
    docker.import(&rootfs, &[OVERLAY], "e2e/s11:1");
    let out = env.out_dir("c");
    let (id, run) = start_slow_extension(&env, &docker, "e2e/s11:1", &out);
    let config = bundle_config(&env, "moby-bridge", &id);
    assert!(
        config.contains("libnetwork-setkey"),
        "Docker added no libnetwork prestart hook; the test proves nothing: {config}"
    );
    // Had the runtime run that hook, libnetwork would have moved the
    // container's interface into the proxy's network namespace.
    let links = run_links(&env.tmp.join("ns/net"));
    assert!(
        !links.contains("eth0"),
        "libnetwork's prestart hook ran (eth0 appeared beside the proxy):\n{links}"
    );
    fs::write(out.join("go"), "").unwrap();
    let run = run.wait(SECS(60));
    assert!(run.success(), "{run}");
    assert_eq!(docker.wait_exited(&id, SECS(30)), 0);
    docker.assert_exited(&id, 0);
    docker.rm(&id);
    assert_eq!(hook_order(&out), ["create", "start", "delete"]);
    env.assert_gone(&id);
}

/// `ip -o link` inside the network namespace bound at `netns`.
fn run_links(netns: &Path) -> String {
    let mut cmd = Command::new("nsenter");
    cmd.arg(format!("--net={}", netns.display()))
        .args(["ip", "-o", "link"]);
    harness::run(&mut cmd, SECS(10)).ok()
}
