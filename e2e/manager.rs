//! `balena-extension-manager cleanup` against a real engine.
//!
//! `cleanup` sweeps every extension container and image of its engine, so
//! these scenarios have an engine of their own (`docker-manager`, started by
//! `e2e/run.sh` beside the others), take it one scenario at a time, and
//! start each from an empty engine: what the other scenarios leave on their
//! engines can never be swept, nor make an assertion here wrong.
//!
//! Assertions are on what the engine holds afterwards (`docker ps -a`,
//! `docker images`, `docker volume ls`) and on the ids and actions of the
//! `--json` document; the text lines only loosely.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use miniserde::json::{self, Value};

use super::{wait_for_file, OVERLAY, SECS};
use crate::harness::{self, *};

/// The engine's name for `e2e/daemons.sh stop-dockerd|start-dockerd`.
const ENGINE_NAME: &str = "docker-manager";

/// One manager scenario at a time on that engine.
static ENGINE: Mutex<()> = Mutex::new(());

/// Bound for one `cleanup` run (its own engine time limit is far shorter).
const CLEANUP_LIMIT: Duration = Duration::from_secs(120);

/// The running kernel's identity on the fake host, and another one.
const ABI_RUNNING: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const ABI_OTHER: &str = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752";

/// Set on the manager's own environment: its deactivate hooks must not see it.
const MANAGER_ENV_MARKER: &str = "E2E_MANAGER_ENV_MARKER";

/// A scenario's hold on the manager's engine, emptied for it.
struct Scene {
    // Dropped first: on a panic, Env removes this test's containers while
    // the engine is still held.
    env: Env,
    docker: Docker,
    _engine: MutexGuard<'static, ()>,
}

fn scene(test: &str) -> Option<Scene> {
    let env = setup(test)?;
    let engine = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let docker = env.docker_manager();
    empty_engine(&env, &docker);
    Some(Scene {
        env,
        docker,
        _engine: engine,
    })
}

/// Removes every container, image and volume of the manager's engine (only
/// these scenarios use it), so a scenario never sees another's leftovers.
fn empty_engine(env: &Env, docker: &Docker) {
    // A scenario that failed may have left a container pinned dead.
    let _ = harness::run(
        Command::new("chattr")
            .arg("-R")
            .arg("-i")
            .arg(env.manager_root.join("containers")),
        SECS(30),
    );
    for id in lines(&docker.ok(&["ps", "-a", "-q", "--no-trunc"])) {
        docker.run_for(&["rm", "-f", "-v", &id], SECS(60)).ok();
    }
    for id in lines(&docker.ok(&["images", "-q", "--no-trunc"])) {
        let _ = docker.run_for(&["rmi", "-f", &id], SECS(60));
    }
    for name in lines(&docker.ok(&["volume", "ls", "-q"])) {
        docker
            .run_for(&["volume", "rm", "-f", &name], SECS(60))
            .ok();
    }
    let left = Snapshot::of(docker);
    assert!(
        left.containers.is_empty() && left.images.is_empty() && left.volumes.is_empty(),
        "the manager's engine is not empty: {left}"
    );
}

fn lines(s: &str) -> BTreeSet<String> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

// ---------------------------------------------------------------------------
// What the engine holds.

/// Containers (full ID → state), image IDs and volume names.
#[derive(PartialEq)]
struct Snapshot {
    containers: BTreeMap<String, String>,
    images: BTreeSet<String>,
    volumes: BTreeSet<String>,
}

impl Snapshot {
    fn of(docker: &Docker) -> Snapshot {
        let ps = docker.ok(&["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.State}}"]);
        Snapshot {
            containers: ps
                .lines()
                .filter_map(|l| l.split_once(' '))
                .map(|(id, state)| (id.to_string(), state.to_string()))
                .collect(),
            images: lines(&docker.ok(&["images", "-q", "--no-trunc"])),
            volumes: lines(&docker.ok(&["volume", "ls", "-q"])),
        }
    }

    fn has_container(&self, id: &str) -> bool {
        self.containers.contains_key(id)
    }
}

impl std::fmt::Display for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        writeln!(f, "containers:")?;
        for (id, state) in &self.containers {
            writeln!(f, "  {id} {state}")?;
        }
        writeln!(f, "images:")?;
        for id in &self.images {
            writeln!(f, "  {id}")?;
        }
        writeln!(f, "volumes:")?;
        for name in &self.volumes {
            writeln!(f, "  {name}")?;
        }
        Ok(())
    }
}

/// The image ID (`sha256:…`) of `tag`.
fn image_id(docker: &Docker, tag: &str) -> String {
    docker.ok(&["image", "inspect", "--format", "{{.Id}}", tag])
}

/// Names of the volumes mounted into container `id`, by destination.
fn volumes_of(docker: &Docker, id: &str) -> BTreeMap<String, (String, String)> {
    let out = docker.ok(&[
        "inspect",
        "--format",
        r#"{{range .Mounts}}{{if eq .Type "volume"}}{{.Destination}} {{.Name}} {{.Source}}{{"\n"}}{{end}}{{end}}"#,
        id,
    ]);
    out.lines()
        .filter_map(|l| {
            let mut w = l.splitn(3, ' ');
            Some((
                w.next()?.to_string(),
                (w.next()?.to_string(), w.next()?.to_string()),
            ))
        })
        .collect()
}

/// The first 12 hex digits, as the manager's lines show an ID.
fn short(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    &id[..12.min(id.len())]
}

/// Whether two spellings (full, short, with or without `sha256:`) name the
/// same object.
fn same_id(a: &str, b: &str) -> bool {
    let a = a.strip_prefix("sha256:").unwrap_or(a);
    let b = b.strip_prefix("sha256:").unwrap_or(b);
    let n = a.len().min(b.len());
    n >= 12 && a[..n] == b[..n]
}

// ---------------------------------------------------------------------------
// Running the manager.

/// `dist/balena-extension-manager`, the name the OS calls it by.
fn manager_path(env: &Env) -> PathBuf {
    env.runtime.with_file_name("balena-extension-manager")
}

fn lock_file(env: &Env) -> PathBuf {
    env.work.join("manager.lock")
}

/// `balena-extension-manager cleanup ARGS --host ENGINE --lock-file L`,
/// never the device's default lock or socket.
fn cleanup_cmd(env: &Env, args: &[&str]) -> Command {
    let mut cmd = cleanup_cmd_via_env(env, args);
    cmd.arg("--host")
        .arg(&env.manager_host)
        .env("DOCKER_HOST", "unix:///nonexistent/--host-must-win.sock");
    cmd
}

/// Like [`cleanup_cmd`], the engine named by `DOCKER_HOST` instead.
fn cleanup_cmd_via_env(env: &Env, args: &[&str]) -> Command {
    let mut cmd = Command::new(manager_path(env));
    cmd.arg("cleanup")
        .args(args)
        .arg("--lock-file")
        .arg(lock_file(env))
        .env(MANAGER_ENV_MARKER, "leaked-from-the-manager")
        .env("DOCKER_HOST", &env.manager_host);
    cmd
}

fn cleanup(env: &Env, args: &[&str]) -> Output {
    let out = harness::run(&mut cleanup_cmd(env, args), CLEANUP_LIMIT);
    assert_no_panic(&out);
    out
}

/// `cleanup --json ARGS`, its document parsed; asserts the exit code.
fn cleanup_json(env: &Env, args: &[&str], code: i32) -> Report {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = cleanup(env, &all);
    assert_eq!(out.code, Some(code), "cleanup exit status: {out}");
    Report::parse(out)
}

fn assert_no_panic(out: &Output) {
    assert!(
        !out.stderr.contains("panicked") && out.code != Some(101) && out.code.is_some(),
        "the manager crashed: {out}"
    );
}

/// One entry of the document's `containers` (or `images`, `volumes`).
struct Decision {
    id: String,
    action: String,
    reason: String,
    /// What went wrong, when `action` is `failed`.
    failure: String,
}

/// The `--json` document of one run.
struct Report {
    containers: Vec<Decision>,
    images: Vec<Decision>,
    volumes: Vec<Decision>,
    warnings: Vec<String>,
    errors: Vec<String>,
    dry_run: bool,
    out: Output,
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => json::to_string(other),
    }
}

impl Report {
    fn parse(out: Output) -> Report {
        let doc: Value = json::from_str(out.stdout.trim())
            .unwrap_or_else(|_| panic!("cleanup --json printed no single JSON document: {out}"));
        let Value::Object(doc) = doc else {
            panic!("the --json document is not an object: {out}");
        };
        let list = |key: &str| -> Vec<Value> {
            match doc.get(key) {
                Some(Value::Array(a)) => a.iter().cloned().collect(),
                _ => panic!("the --json document has no array `{key}`: {out}"),
            }
        };
        // Each entry an object naming its object (`id_key`) and an action.
        let decisions = |key: &str, id_key: &str| -> Vec<Decision> {
            let entries: Vec<Decision> = list(key)
                .iter()
                .map(|e| {
                    let Value::Object(o) = e else {
                        panic!("`{key}` holds {}: {out}", json::to_string(e));
                    };
                    let field = |k: &str| o.get(k).map(text_of).unwrap_or_default();
                    Decision {
                        id: field(id_key),
                        action: field("action"),
                        reason: field("reason"),
                        failure: field("failure"),
                    }
                })
                .collect();
            for d in &entries {
                assert!(
                    !d.id.is_empty() && ["removed", "kept", "failed"].contains(&d.action.as_str()),
                    "an entry of `{key}` lacks `{id_key}` or a known action: {out}"
                );
                if d.action == "failed" {
                    assert!(
                        !d.failure.is_empty(),
                        "a failed entry of `{key}` says no failure: {out}"
                    );
                }
            }
            entries
        };
        let containers = decisions("containers", "id");
        let dry_run = match doc.get("dry_run") {
            Some(Value::Bool(b)) => *b,
            _ => panic!("the --json document has no boolean `dry_run`: {out}"),
        };
        Report {
            images: decisions("images", "id"),
            volumes: decisions("volumes", "name"),
            warnings: list("warnings").iter().map(text_of).collect(),
            errors: list("errors").iter().map(text_of).collect(),
            containers,
            dry_run,
            out,
        }
    }

    fn container(&self, id: &str) -> Option<&Decision> {
        self.containers.iter().find(|c| same_id(&c.id, id))
    }

    fn action(&self, id: &str) -> Option<&str> {
        self.container(id).map(|c| c.action.as_str())
    }

    /// The containers it removed (or, in a dry run, would remove).
    fn removed(&self) -> BTreeSet<String> {
        self.containers
            .iter()
            .filter(|c| c.action == "removed")
            .map(|c| short(&c.id).to_string())
            .collect()
    }

    /// Every container decision as (short ID, action).
    fn decisions(&self) -> BTreeSet<(String, String)> {
        self.containers
            .iter()
            .map(|c| (short(&c.id).to_string(), c.action.clone()))
            .collect()
    }

    fn removed_image(&self, id: &str) -> bool {
        self.images
            .iter()
            .any(|i| i.action == "removed" && same_id(&i.id, id))
    }

    fn warns_about(&self, what: &str) -> bool {
        self.warnings.iter().any(|w| w.contains(what))
    }

    /// Asserts the run removed exactly `ids` (short IDs compared).
    fn assert_removed(&self, ids: &[&String]) {
        let want: BTreeSet<String> = ids.iter().map(|id| short(id).to_string()).collect();
        assert_eq!(
            self.removed(),
            want,
            "cleanup must remove exactly these containers: {}",
            self.out
        );
        for c in &self.containers {
            if c.action == "removed" {
                assert!(!c.reason.is_empty(), "no reason for {}: {}", c.id, self.out);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// A host root for --stale-os: what the claims are checked against.

const HOST_RELEASE: &str = "6.1.77-e2e";
const HOST_KERNEL_VERSION: &str = "6.1.77";
const HOST_OS_VERSION: &str = "2.115.1";

/// A fake root: `proc/sys/kernel/osrelease`, `proc/cmdline` with the
/// running kernel's `balena_kernel_abi=`, `etc/os-release`, and a
/// Module.symvers whose hash is neither ABI (the cmdline token must win).
fn fake_host(env: &Env) -> PathBuf {
    let root = env.work.join("host");
    let write = |rel: &str, text: &str| {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    };
    write("proc/sys/kernel/osrelease", &format!("{HOST_RELEASE}\n"));
    write(
        "proc/cmdline",
        &format!("console=ttyS0,115200 root=LABEL=resin-rootA balena_kernel_abi={ABI_RUNNING} rootwait\n"),
    );
    write(
        "etc/os-release",
        &format!("ID=\"balena-os\"\nNAME=\"balenaOS\"\nVERSION=\"{HOST_OS_VERSION}\"\nVERSION_ID=\"{HOST_OS_VERSION}\"\n"),
    );
    write(
        &format!("lib/modules/{HOST_RELEASE}/Module.symvers"),
        "0x00000000\tsome_symbol\tvmlinux\tEXPORT_SYMBOL\t\n",
    );
    root
}

fn path_str(p: &Path) -> String {
    p.display().to_string()
}

// ---------------------------------------------------------------------------
// Test extensions.

/// Hook lines: exit with `io.balena.image.e2e-<what>-exit` when set (a
/// container label sets it, so one image serves several outcomes).
fn exit_with(what: &str) -> String {
    let var = format!("EXTENSION_IMAGE_E2E_{}_EXIT", what.to_uppercase());
    format!(r#"exit "${{{var}:-0}}""#)
}

/// Start-hook line: when `io.balena.image.e2e-wait` is set, stay running
/// until `$out/go` exists (at most 120 s).
const WAIT_IF_ASKED: &str = r#"if [ -n "$EXTENSION_IMAGE_E2E_WAIT" ]; then i=0; while [ ! -e "$out/go" ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done; fi"#;

/// Create-hook line: with `io.balena.image.e2e-create-once`, a second
/// create of the same container fails.
const CREATE_ONCE_IF_ASKED: &str = r#"if [ -n "$EXTENSION_IMAGE_E2E_CREATE_ONCE" ]; then [ ! -e "$out/created-once" ] || exit 4; : >"$out/created-once"; fi"#;

/// A recording extension whose create and start hooks exit as labelled.
fn outcome_rootfs(env: &Env, name: &str) -> Rootfs {
    let create = format!("{CREATE_ONCE_IF_ASKED}\n{}", exit_with("create"));
    let start = format!("{WAIT_IF_ASKED}\n{}", exit_with("start"));
    Rootfs::recording(env, name, &[("create", &create), ("start", &start)])
}

/// The shape of a kernel-override extension: its create hook copies the
/// `deactivate` script it ships into its `/boot` volume, where the manager
/// finds it. That script records its environment into `$out/deactivate.env`
/// and appends `deactivate` to `$out/order`; with the label
/// `io.balena.image.e2e-deactivate-wait` it first writes
/// `$out/deactivate.started` and waits for `$out/go` (at most 60 s); it
/// exits as `io.balena.image.e2e-deactivate-exit` says.
fn override_rootfs(env: &Env, name: &str) -> Rootfs {
    let copy = r#"cp "$EXTENSION_ROOTFS/deactivate" "$EXTENSION_VOLUME_BOOT/deactivate" && chmod 0755 "$EXTENSION_VOLUME_BOOT/deactivate""#;
    let r = Rootfs::recording(env, name, &[("create", copy)]);
    let script = format!(
        r#"#!/bin/sh
out="${{EXTENSION_IMAGE_E2E_OUT:?no EXTENSION_IMAGE_E2E_OUT}}"
tr '\0' '\n' </proc/$$/environ >"$out/deactivate.env"
if [ -n "$EXTENSION_IMAGE_E2E_DEACTIVATE_WAIT" ]; then
    : >"$out/deactivate.started"
    i=0; while [ ! -e "$out/go" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
fi
echo deactivate >>"$out/order"
{}
"#,
        exit_with("deactivate")
    );
    let path = r.dir.join("deactivate");
    fs::write(&path, script).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    r
}

/// Imports `rootfs` as a kernel-override extension: `VOLUME /boot`,
/// `override=1`, and the kernel ABI it was built for.
fn import_override(docker: &Docker, rootfs: &Rootfs, abi: &str, tag: &str) {
    docker.import_with(
        rootfs,
        &[
            OVERLAY,
            ("io.balena.image.override", "1"),
            ("io.balena.image.kernel-abi-id", abi),
        ],
        &["VOLUME /boot"],
        tag,
    );
}

/// `docker run -d` of an extension named after the test, recording into a
/// fresh `out` dir named `what`, with container `labels`; waits for it to
/// exit and asserts the exit code. Returns (ID, out dir).
fn ran(s: &Scene, what: &str, tag: &str, labels: &[&str], code: i32) -> (String, PathBuf) {
    let out = s.env.out_dir(what);
    let name = unique(&s.env.test);
    let mut run = s.docker.extension(&name, &out, tag).detach();
    for l in labels {
        run = run.label(l);
    }
    let result = run.run();
    assert!(result.success(), "docker run -d of {what}: {result}");
    let id = s.docker.id(&name);
    assert_eq!(s.docker.wait_exited(&id, SECS(60)), code, "{what}");
    (id, out)
}

// ---------------------------------------------------------------------------
// Scenarios.

#[test]
fn s12_cleanup_removes_dead_failed_and_rejected_extensions_keeps_the_rest_and_dry_run_matches() {
    let Some(s) = scene("s12") else { return };
    let (env, docker) = (&s.env, &s.docker);

    // Images: "shared" keeps one of its containers, every container of
    // "doomed" goes, "pending" is only created; three non-extension images.
    let rootfs = outcome_rootfs(env, "s12");
    docker.import_with(&rootfs, &[OVERLAY], &["VOLUME /data"], "e2e/s12:shared");
    docker.import_with(
        &rootfs,
        &[OVERLAY, ("io.balena.image.e2e-role", "doomed")],
        &["VOLUME /data"],
        "e2e/s12:doomed",
    );
    docker.import(
        &rootfs,
        &[OVERLAY, ("io.balena.image.e2e-role", "pending")],
        "e2e/s12:pending",
    );
    docker.import(&rootfs, &[], "e2e/s12:plain");
    docker.import(
        &rootfs,
        &[("io.balena.image.class", "volume")],
        "e2e/s12:volume-class",
    );
    docker.import(
        &rootfs,
        &[("org.example.role", "unused")],
        "e2e/s12:plain-unused",
    );
    let user_volume = unique("s12-user-volume");
    docker.ok(&["volume", "create", &user_volume]);

    // Kept: exited 0, created and never started (and running, below).
    let (ok, _) = ran(&s, "ok", "e2e/s12:shared", &[], 0);
    let created_name = unique("s12");
    let created_out = env.out_dir("created");
    docker
        .extension(&created_name, &created_out, "e2e/s12:pending")
        .create()
        .run()
        .ok();
    let created = docker.id(&created_name);

    // Removed: rejected by its start hook and failed on a second start
    // (shared image), failed create, rejected again and dead (the doomed
    // image's only containers).
    let (rejected, _) = ran(
        &s,
        "rejected",
        "e2e/s12:shared",
        &["io.balena.image.e2e-start-exit=7"],
        7,
    );
    let failed_out = env.out_dir("failed-create");
    let failed_name = unique("s12");
    docker
        .extension(&failed_name, &failed_out, "e2e/s12:doomed")
        .label("io.balena.image.e2e-create-exit=3")
        .run()
        .failed();
    let failed = docker.id(&failed_name);
    let error = docker.ok(&[
        "inspect",
        "--format",
        "{{.State.Status}} {{.State.Error}}",
        &failed,
    ]);
    assert!(
        error.starts_with("created ") && error.contains("exit status 3"),
        "a failed create must leave State.Error set: {error}"
    );
    // Installed, then its create failed when started again: exited, with
    // State.Error.
    let (restarted, _) = ran(
        &s,
        "restarted",
        "e2e/s12:shared",
        &["io.balena.image.e2e-create-once=1"],
        0,
    );
    docker.run(&["start", &restarted]).failed();
    let error = docker.ok(&[
        "inspect",
        "--format",
        "{{.State.Status}} {{.State.Error}}",
        &restarted,
    ]);
    assert!(
        error.starts_with("exited ") && error.contains("exit status 4"),
        "a failed start must leave State.Error set: {error}"
    );
    let (rejected2, _) = ran(
        &s,
        "rejected-2",
        "e2e/s12:doomed",
        &["io.balena.image.e2e-start-exit=9"],
        9,
    );
    let (dead, _) = ran(&s, "dead", "e2e/s12:doomed", &[], 0);
    make_dead(env, docker, &dead);

    // Not extensions: kept whatever their state (both failed to start).
    let plain_name = unique("s12");
    docker
        .run(&["run", "--name", &plain_name, "e2e/s12:plain"])
        .failed();
    let plain = docker.id(&plain_name);
    let volume_class_name = unique("s12");
    docker
        .extension(
            &volume_class_name,
            &env.out_dir("volume-class"),
            "e2e/s12:volume-class",
        )
        .run()
        .failed();
    let volume_class = docker.id(&volume_class_name);
    for id in [&plain, &volume_class] {
        let error = docker.ok(&["inspect", "--format", "{{.State.Error}}", id]);
        assert!(
            !error.is_empty(),
            "non-extension container {id} should have failed to start"
        );
    }

    // Running last: its start hook waits, within the runtime's time limit.
    let running_out = env.out_dir("running");
    let running_name = unique("s12");
    docker
        .extension(&running_name, &running_out, "e2e/s12:shared")
        .detach()
        .label("io.balena.image.e2e-wait=1")
        .run()
        .ok();
    wait_for_file(
        &running_out.join("start.ran"),
        SECS(60),
        "running extension's start hook",
    );
    let running = docker.id(&running_name);

    let targets = [&rejected, &failed, &restarted, &rejected2, &dead];
    let keep = [&ok, &created, &running, &plain, &volume_class];
    let before = Snapshot::of(docker);
    let doomed_image = image_id(docker, "e2e/s12:doomed");
    let kept_images: Vec<String> = ["shared", "pending", "plain", "volume-class", "plain-unused"]
        .iter()
        .map(|t| image_id(docker, &format!("e2e/s12:{t}")))
        .collect();
    let target_volumes: Vec<String> = targets
        .iter()
        .flat_map(|id| volumes_of(docker, id).into_values().map(|(name, _)| name))
        .collect();
    assert_eq!(
        target_volumes.len(),
        targets.len(),
        "each removed container has a /data volume"
    );
    let kept_volumes: Vec<String> = volumes_of(docker, &ok)
        .into_values()
        .chain(volumes_of(docker, &running).into_values())
        .map(|(name, _)| name)
        .chain([user_volume.clone()])
        .collect();

    // A dry run through DOCKER_HOST, as text: the same decisions, nothing done.
    let dry_text = harness::run(&mut cleanup_cmd_via_env(env, &["--dry-run"]), CLEANUP_LIMIT);
    assert_no_panic(&dry_text);
    assert_eq!(dry_text.code, Some(0), "cleanup --dry-run: {dry_text}");
    for id in targets {
        assert!(
            dry_text
                .stdout
                .lines()
                .any(|l| l.contains("removed container") && l.contains(short(id))),
            "no `removed container {}` line: {dry_text}",
            short(id)
        );
    }
    for id in keep {
        assert!(
            !dry_text
                .stdout
                .lines()
                .any(|l| l.contains("removed") && l.contains(short(id))),
            "kept container {} shown as removed: {dry_text}",
            short(id)
        );
    }
    let summary = dry_text.stdout.lines().last().unwrap_or("");
    assert!(
        summary.starts_with("cleanup") && summary.contains("dry run"),
        "the last line must be the summary, saying it was a dry run: {dry_text}"
    );
    assert!(
        before == Snapshot::of(docker),
        "a dry run changed the engine: before\n{before}after\n{}",
        Snapshot::of(docker)
    );

    let dry = cleanup_json(env, &["--dry-run"], 0);
    assert!(dry.dry_run, "dry_run is false in a dry run: {}", dry.out);
    dry.assert_removed(&targets);
    assert!(
        dry.removed_image(&doomed_image),
        "the dry run would not remove the doomed image: {}",
        dry.out
    );
    for id in keep {
        assert_ne!(dry.action(id), Some("removed"), "{}", dry.out);
    }
    for id in [&plain, &volume_class] {
        assert!(
            dry.container(id).is_none(),
            "a non-extension container is in the document: {}",
            dry.out
        );
    }
    assert!(
        before == Snapshot::of(docker),
        "a --json dry run changed the engine"
    );

    // The real run: the same decisions, and the engine shows them.
    let real = cleanup_json(env, &[], 0);
    assert!(!real.dry_run, "{}", real.out);
    assert_eq!(
        real.decisions(),
        dry.decisions(),
        "the dry run and the run decided differently:\n{}\n{}",
        dry.out,
        real.out
    );
    assert!(real.errors.is_empty(), "{}", real.out);
    let after = Snapshot::of(docker);
    for id in targets {
        assert!(!after.has_container(id), "{id} is still there:\n{after}");
    }
    for id in keep {
        assert_eq!(
            after.containers.get(id.as_str()),
            before.containers.get(id.as_str()),
            "kept container {id} changed:\n{after}"
        );
    }
    assert_eq!(after.containers.len(), keep.len(), "{after}");
    assert!(
        !after.images.contains(&doomed_image),
        "the doomed image, used by removed containers only, is still there:\n{after}"
    );
    assert!(real.removed_image(&doomed_image), "{}", real.out);
    for id in &kept_images {
        assert!(
            after.images.contains(id),
            "image {id} was removed:\n{after}"
        );
        assert!(!real.removed_image(id), "{}", real.out);
    }
    for name in &target_volumes {
        assert!(
            !after.volumes.contains(name),
            "volume {name} of a removed extension is left:\n{after}"
        );
    }
    for name in &kept_volumes {
        assert!(
            after.volumes.contains(name),
            "volume {name} was removed:\n{after}"
        );
        assert!(
            !real.volumes.iter().any(|v| v.id == *name),
            "the document lists kept volume {name}: {}",
            real.out
        );
    }
    for id in targets {
        env.assert_gone(id);
    }

    // Nothing is left to do, and the next run says so.
    let again = cleanup_json(env, &[], 0);
    assert!(
        again.removed().is_empty(),
        "a second run removed more: {}",
        again.out
    );
    assert!(
        after == Snapshot::of(docker),
        "a second run changed the engine"
    );

    fs::write(running_out.join("go"), "").unwrap();
    assert_eq!(docker.wait_exited(&running, SECS(60)), 0);
}

/// An empty file made immutable; mutable again when dropped, even on a
/// panic (else nothing could remove the harness directory).
struct Pin(PathBuf);

impl Pin {
    fn new(path: PathBuf) -> Pin {
        fs::write(&path, "").unwrap();
        let pin = Pin(path);
        harness::run(Command::new("chattr").arg("+i").arg(&pin.0), SECS(30)).ok();
        pin
    }
}

impl Drop for Pin {
    fn drop(&mut self) {
        // Never a second panic here: wait_for reports a timeout as Err.
        let _ = spawn(Command::new("chattr").arg("-i").arg(&self.0)).wait_for(SECS(30));
    }
}

/// Turns the exited container `id` into a `dead` one the way it happens on
/// a device: `docker rm` fails half-way, here on a file in the container's
/// directory made immutable; then lets a later removal succeed.
fn make_dead(env: &Env, docker: &Docker, id: &str) {
    let pin = Pin::new(env.manager_root.join("containers").join(id).join("e2e-pin"));
    let rm = docker.run_for(&["rm", id], SECS(60));
    drop(pin);
    assert!(
        !rm.success(),
        "docker rm succeeded despite the pinned file: {rm}"
    );
    let status = docker.ok(&["inspect", "--format", "{{.State.Status}}", id]);
    assert_eq!(status, "dead", "container {id} after a failed removal");
}

#[test]
fn s13_cleanup_stale_os_removes_extensions_whose_claims_fail_on_the_host_and_keeps_doubtful_ones() {
    let Some(s) = scene("s13") else { return };
    let (env, docker) = (&s.env, &s.docker);
    let host = fake_host(env);
    let host_s = path_str(&host);
    let rootfs = outcome_rootfs(env, "s13");
    let kv = "io.balena.image.kernel-version";
    let abi = "io.balena.image.kernel-abi-id";
    let os = "io.balena.image.os-version";
    let images: [(&str, Vec<(&str, &str)>); 9] = [
        ("kv-old", vec![(kv, "5.15.92")]),
        ("kv-now", vec![(kv, HOST_KERNEL_VERSION)]),
        ("abi-old", vec![(abi, ABI_OTHER)]),
        ("abi-now", vec![(abi, ABI_RUNNING)]),
        ("os-old", vec![(os, "2.80.*,2.99.0")]),
        ("os-now", vec![(os, "2.80.*,2.115.*")]),
        ("abi-bad", vec![(abi, "banana")]),
        (
            "all-now",
            vec![
                (kv, HOST_KERNEL_VERSION),
                (abi, ABI_RUNNING),
                (os, HOST_OS_VERSION),
            ],
        ),
        ("no-claims", vec![]),
    ];
    let mut ids = BTreeMap::new();
    for (what, claims) in &images {
        let mut labels = vec![OVERLAY];
        labels.extend(claims.iter().copied());
        let tag = format!("e2e/s13:{what}");
        docker.import(&rootfs, &labels, &tag);
        let (id, _) = ran(&s, what, &tag, &[], 0);
        ids.insert(*what, id);
    }
    // A malformed kernel version can only be on a container the runtime
    // never created (it refuses one at create): created, never started.
    let kv_bad_name = unique("s13");
    docker
        .extension(&kv_bad_name, &env.out_dir("kv-bad"), "e2e/s13:no-claims")
        .create()
        .label(&format!("{kv}=banana"))
        .run()
        .ok();
    ids.insert("kv-bad", docker.id(&kv_bad_name));
    let id = |what: &str| ids[what].clone();
    let stale = [id("kv-old"), id("abi-old"), id("os-old")];
    let before = Snapshot::of(docker);

    // Without --stale-os, claims are not looked at: every one is kept.
    let plain = cleanup_json(env, &["--host-root", &host_s], 0);
    assert!(
        plain.removed().is_empty(),
        "cleanup without --stale-os removed: {}",
        plain.out
    );
    assert!(
        before == Snapshot::of(docker),
        "cleanup without --stale-os changed the engine"
    );

    // A host whose values cannot be read: never delete on doubt.
    let empty = env.out_dir("empty-host");
    let doubt = cleanup_json(
        env,
        &["--stale-os", "--dry-run", "--host-root", &path_str(&empty)],
        0,
    );
    assert!(
        doubt.removed().is_empty(),
        "removed on an unreadable host: {}",
        doubt.out
    );
    assert!(
        !doubt.warnings.is_empty(),
        "no warning about the unreadable host: {}",
        doubt.out
    );
    assert!(before == Snapshot::of(docker));

    let dry = cleanup_json(env, &["--stale-os", "--dry-run", "--host-root", &host_s], 0);
    let real = cleanup_json(env, &["--stale-os", "--host-root", &host_s], 0);
    real.assert_removed(&stale.iter().collect::<Vec<_>>());
    assert_eq!(
        real.decisions(),
        dry.decisions(),
        "dry run and run differ:\n{}\n{}",
        dry.out,
        real.out
    );
    for what in ["abi-bad", "kv-bad"] {
        assert!(
            real.warns_about(short(&id(what))) || real.warns_about("banana"),
            "no warning about {what}'s malformed label: {}",
            real.out
        );
        assert_ne!(real.action(&id(what)), Some("removed"));
    }
    let after = Snapshot::of(docker);
    for (what, id) in &ids {
        let gone = stale.contains(id);
        assert_eq!(!after.has_container(id), gone, "{what} ({id}):\n{after}");
    }
    for what in ["kv-old", "abi-old", "os-old"] {
        assert!(
            docker
                .run(&["image", "inspect", &format!("e2e/s13:{what}")])
                .code
                != Some(0),
            "image of stale {what} left:\n{after}"
        );
    }
    for what in [
        "kv-now",
        "abi-now",
        "os-now",
        "abi-bad",
        "all-now",
        "no-claims",
    ] {
        docker.ok(&[
            "image",
            "inspect",
            "--format",
            "{{.Id}}",
            &format!("e2e/s13:{what}"),
        ]);
    }
    for id in &stale {
        env.assert_gone(id);
    }
}

/// The kernel-override extension's `/boot` volume: (name, host source).
fn boot_volume(docker: &Docker, id: &str) -> (String, String) {
    volumes_of(docker, id)
        .remove("/boot")
        .unwrap_or_else(|| panic!("container {id} has no /boot volume"))
}

#[test]
fn s14_kernel_override_hooks_see_its_boot_volume_and_stale_os_runs_deactivate_before_removing() {
    let Some(s) = scene("s14") else { return };
    let (env, docker) = (&s.env, &s.docker);
    let host = path_str(&fake_host(env));
    let rootfs = override_rootfs(env, "s14");
    let tag = "e2e/s14:kernel";
    import_override(docker, &rootfs, ABI_OTHER, tag);

    // Built for another kernel: deactivated, then removed.
    let (stale, stale_out) = ran(&s, "stale", tag, &[], 0);
    // Built for another kernel, and its deactivate fails: kept.
    let (stuck, stuck_out) = ran(
        &s,
        "stuck",
        tag,
        &["io.balena.image.e2e-deactivate-exit=5"],
        0,
    );
    // Built for the running kernel (the container's label wins over the
    // image's): neither deactivated nor removed.
    let abi_now = format!("io.balena.image.kernel-abi-id={ABI_RUNNING}");
    let (current, current_out) = ran(&s, "current", tag, &[&abi_now], 0);

    for (id, out) in [
        (&stale, &stale_out),
        (&stuck, &stuck_out),
        (&current, &current_out),
    ] {
        let (_, source) = boot_volume(docker, id);
        for hook in ["create", "start"] {
            let seen = hook_env(out, hook);
            assert_eq!(
                seen.get("EXTENSION_VOLUME_BOOT"),
                Some(&source),
                "{hook} hook of {id} must see its /boot volume: {seen:#?}"
            );
        }
        let deactivate = Path::new(&source).join("deactivate");
        let mode = fs::metadata(&deactivate)
            .unwrap_or_else(|e| panic!("the create hook copied no {}: {e}", deactivate.display()))
            .permissions()
            .mode();
        assert!(
            mode & 0o111 != 0,
            "{} is not executable",
            deactivate.display()
        );
    }
    let (stale_volume, stale_source) = boot_volume(docker, &stale);
    let (stuck_volume, _) = boot_volume(docker, &stuck);
    let image = image_id(docker, tag);

    let report = cleanup_json(env, &["--stale-os", "--host-root", &host], 1);
    report.assert_removed(&[&stale]);
    let stuck_decision = report.container(&stuck).unwrap_or_else(|| {
        panic!(
            "no decision about the container whose deactivate failed: {}",
            report.out
        )
    });
    assert_ne!(stuck_decision.action, "removed");
    assert!(
        format!("{} {}", stuck_decision.reason, stuck_decision.failure).contains("deactivate"),
        "the document must name the failed deactivate: {}",
        report.out
    );
    assert!(
        report.errors.iter().any(|e| e.contains(short(&stuck))),
        "the failed deactivate must be reported: {}",
        report.out
    );
    assert_ne!(report.action(&current), Some("removed"));

    // The deactivate of the stale one ran, in the clean environment, with
    // its volume as EXTENSION_ROOTFS.
    assert!(
        hook_order(&stale_out).contains(&"deactivate".to_string()),
        "deactivate did not run"
    );
    let seen = hook_env(&stale_out, "deactivate");
    assert_eq!(
        seen.get("EXTENSION_ROOTFS"),
        Some(&stale_source),
        "{seen:#?}"
    );
    assert_eq!(
        seen.get("PATH").map(String::as_str),
        Some(HOOK_PATH),
        "{seen:#?}"
    );
    assert_eq!(
        seen.get("EXTENSION_IMAGE_OVERRIDE").map(String::as_str),
        Some("1"),
        "{seen:#?}"
    );
    assert_eq!(
        seen.get("EXTENSION_IMAGE_KERNEL_ABI_ID")
            .map(String::as_str),
        Some(ABI_OTHER),
        "{seen:#?}"
    );
    assert!(
        !seen.contains_key(MANAGER_ENV_MARKER),
        "the manager's environment leaked into deactivate: {seen:#?}"
    );
    assert!(
        hook_order(&stuck_out).contains(&"deactivate".to_string()),
        "the failing deactivate did not run"
    );
    assert!(
        !hook_order(&current_out).contains(&"deactivate".to_string()),
        "deactivate ran for a current extension"
    );

    let after = Snapshot::of(docker);
    assert!(!after.has_container(&stale), "{after}");
    assert!(
        !after.volumes.contains(&stale_volume),
        "the removed extension's /boot volume is left:\n{after}"
    );
    assert!(
        after.has_container(&stuck) && after.has_container(&current),
        "{after}"
    );
    assert!(
        after.volumes.contains(&stuck_volume),
        "the kept extension's /boot volume was removed:\n{after}"
    );
    assert!(
        after.images.contains(&image),
        "the image still used was removed:\n{after}"
    );
    env.assert_gone(&stale);
}

/// Starts `cleanup --stale-os --json` in the background and waits until it
/// is inside the deactivate of one of `outs` (the one whose
/// `deactivate.started` appeared, returned).
fn cleanup_blocked_in_deactivate(env: &Env, host: &str, outs: &[&PathBuf]) -> (Running, PathBuf) {
    let running = spawn(&mut cleanup_cmd(
        env,
        &["--stale-os", "--json", "--host-root", host],
    ));
    let mut which = None;
    let started = wait_until(SECS(60), || {
        which = outs
            .iter()
            .find(|o| o.join("deactivate.started").exists())
            .map(|o| o.to_path_buf());
        which.is_some()
    });
    if !started {
        let out = running.wait(SECS(1));
        panic!("no deactivate started within 60s: {out}");
    }
    (running, which.unwrap())
}

#[test]
fn s15_engine_stopped_mid_sweep_fails_clearly_the_next_run_finishes_a_restart_is_ridden_out() {
    let Some(s) = scene("s15") else { return };
    let (env, docker) = (&s.env, &s.docker);
    let host = path_str(&fake_host(env));
    let rootfs = override_rootfs(env, "s15");
    let tag = "e2e/s15:kernel";
    import_override(docker, &rootfs, ABI_OTHER, tag);
    let wait = "io.balena.image.e2e-deactivate-wait=1";
    let (a, a_out) = ran(&s, "a", tag, &[wait], 0);
    let (b, b_out) = ran(&s, "b", tag, &[wait], 0);
    let volumes: Vec<String> = [&a, &b]
        .iter()
        .map(|id| boot_volume(docker, id).0)
        .collect();

    let (manager, _) = cleanup_blocked_in_deactivate(env, &host, &[&a_out, &b_out]);
    env.dockerd("stop-dockerd", ENGINE_NAME);
    for out in [&a_out, &b_out] {
        fs::write(out.join("go"), "").unwrap();
    }
    let first = manager.wait(CLEANUP_LIMIT);
    assert_no_panic(&first);
    assert_eq!(
        first.code,
        Some(1),
        "cleanup whose engine went away: {first}"
    );
    // The error names the engine that went away.
    let socket = env.manager_host.trim_start_matches("unix://").to_string();
    let first = Report::parse(first);
    assert!(
        first.errors.iter().any(|e| e.contains(&socket)),
        "no error naming the engine at {socket}: {}",
        first.out
    );

    env.dockerd("start-dockerd", ENGINE_NAME);
    let between = Snapshot::of(docker);
    for id in [&a, &b] {
        assert_eq!(
            between.containers.get(id.as_str()).map(String::as_str),
            Some("exited"),
            "an extension the failed run could not remove must be intact:\n{between}"
        );
    }

    let second = cleanup_json(env, &["--stale-os", "--host-root", &host], 0);
    second.assert_removed(&[&a, &b]);
    let after = Snapshot::of(docker);
    assert!(
        after.containers.is_empty() && after.images.is_empty(),
        "the second run must finish the job:\n{after}"
    );
    for name in &volumes {
        assert!(
            !after.volumes.contains(name),
            "volume {name} left:\n{after}"
        );
    }
    for id in [&a, &b] {
        env.assert_gone(id);
    }

    // Restarted (not just stopped) while a deactivate runs: the sweep goes
    // on against the engine that is back, and finishes.
    import_override(docker, &rootfs, ABI_OTHER, tag);
    let (c, c_out) = ran(&s, "c", tag, &[wait], 0);
    let (manager, _) = cleanup_blocked_in_deactivate(env, &host, &[&c_out]);
    env.dockerd("stop-dockerd", ENGINE_NAME);
    env.dockerd("start-dockerd", ENGINE_NAME);
    fs::write(c_out.join("go"), "").unwrap();
    let third = manager.wait(CLEANUP_LIMIT);
    assert_no_panic(&third);
    assert_eq!(
        third.code,
        Some(0),
        "cleanup across an engine restart: {third}"
    );
    Report::parse(third).assert_removed(&[&c]);
    let after = Snapshot::of(docker);
    assert!(
        after.containers.is_empty() && after.images.is_empty() && after.volumes.is_empty(),
        "{after}"
    );
    env.assert_gone(&c);
}

#[test]
fn s16_a_second_manager_waits_for_the_first_and_fails_after_its_lock_wait_naming_it() {
    let Some(s) = scene("s16") else { return };
    let (env, docker) = (&s.env, &s.docker);
    let host = path_str(&fake_host(env));
    let rootfs = override_rootfs(env, "s16");
    let tag = "e2e/s16:kernel";
    import_override(docker, &rootfs, ABI_OTHER, tag);
    let (id, out) = ran(&s, "c", tag, &["io.balena.image.e2e-deactivate-wait=1"], 0);

    let (mut first, _) = cleanup_blocked_in_deactivate(env, &host, &[&out]);
    let pid = first.pid().to_string();
    let patient = spawn(&mut cleanup_cmd(
        env,
        &[
            "--stale-os",
            "--json",
            "--host-root",
            &host,
            "--lock-wait",
            "60",
        ],
    ));
    let impatient = cleanup(
        env,
        &["--stale-os", "--host-root", &host, "--lock-wait", "1"],
    );
    assert_eq!(
        impatient.code,
        Some(1),
        "a second manager with --lock-wait 1: {impatient}"
    );
    assert!(
        impatient.stderr.contains(&pid),
        "the message must name the holder's PID {pid}: {impatient}"
    );
    assert!(
        first.is_running(),
        "the first manager ended while its deactivate waits"
    );
    assert!(
        docker.exists(&id),
        "the impatient manager removed the container"
    );

    fs::write(out.join("go"), "").unwrap();
    let first = Report::parse(first.wait(CLEANUP_LIMIT));
    assert_eq!(first.out.code, Some(0), "{}", first.out);
    first.assert_removed(&[&id]);
    let patient = patient.wait(CLEANUP_LIMIT);
    assert_no_panic(&patient);
    assert_eq!(patient.code, Some(0), "the waiting manager: {patient}");
    let patient = Report::parse(patient);
    assert!(
        patient.removed().is_empty() && patient.container(&id).is_none(),
        "the waiting manager worked beside the first instead of after it: {}",
        patient.out
    );
    let ran = hook_order(&out)
        .iter()
        .filter(|h| *h == "deactivate")
        .count();
    assert_eq!(ran, 1, "deactivate must run once");
    assert!(!docker.exists(&id));
    env.assert_gone(&id);
}
