//! `extension-mount` proven on a disk the real dockerd writes.
//!
//! An engine of its own (`docker-boot`) installs a hostapp container and a
//! set of extensions, each reaching one of the outcomes a boot must tell
//! apart. The engine is then stopped (at boot none runs) and its data root
//! copied into the two partitions of a device: the sysroot (`balena/` and
//! `current`) and the data partition (`docker/` and `remove_me_to_reset`).
//! One engine writes both copies: balenaOS's hostapp engine keeps the same
//! overlay2 layout, and the planner takes the hostapp only from the sysroot
//! and extensions only from the data partition, so each copy also holds
//! containers of the other side that it must ignore.
//!
//! - s17: `extension-mount --plan --json` agrees with `docker inspect` of
//!   every container, and `--target` in a private mount namespace shows the
//!   files the precedence rules say.
//! - s18 (`make boot`): that disk booted by Debian's kernel under qemu, with
//!   `extension-mount --init` as the initramfs's last step (`e2e/qemu.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use miniserde::json::{self, Value};

use super::{OVERLAY, SECS};
use crate::harness::*;
use crate::qemu;

/// The engine's name for `e2e/daemons.sh stop-dockerd|start-dockerd`.
const ENGINE_NAME: &str = "docker-boot";

/// The running kernel's identity on the boot's command line, and another
/// one: the stale extension was built for that.
pub const ABI_RUNNING: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const ABI_STALE: &str = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752";

/// What each extension container of the disk went through.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Outcome {
    /// `docker run`: both hooks exited 0.
    Installed,
    /// `docker run`: its start hook exited 7 (the runtime's "no").
    Rejected,
    /// `docker run`: its create hook failed, so the engine never started it.
    CreateFailed,
    /// `docker create` only (a reboot in the middle of an install).
    CreatedOnly,
    /// Installed, but for another kernel (`kernel-abi-id`).
    StaleAbi,
    /// Installed, with the legacy `io.balena.features.host-extension`
    /// label beside the class: overlaid, and reported as legacy.
    Legacy,
}

struct Planned {
    name: &'static str,
    outcome: Outcome,
    priority: Option<u32>,
}

/// The extensions, in the order they are installed: not the order of their
/// names, so a plan sorted by name is not so by accident.
const EXTENSIONS: &[Planned] = &[
    Planned {
        name: "ext-b",
        outcome: Outcome::Installed,
        priority: None,
    },
    Planned {
        name: "override-20",
        outcome: Outcome::Installed,
        priority: Some(20),
    },
    Planned {
        name: "rejected",
        outcome: Outcome::Rejected,
        priority: None,
    },
    Planned {
        name: "ext-a",
        outcome: Outcome::Installed,
        priority: None,
    },
    Planned {
        name: "create-failed",
        outcome: Outcome::CreateFailed,
        priority: None,
    },
    Planned {
        name: "override-10",
        outcome: Outcome::Installed,
        priority: Some(10),
    },
    Planned {
        name: "created-only",
        outcome: Outcome::CreatedOnly,
        priority: None,
    },
    Planned {
        name: "stale-abi",
        outcome: Outcome::StaleAbi,
        priority: None,
    },
    Planned {
        name: "legacy",
        outcome: Outcome::Legacy,
        priority: None,
    },
];

/// The label images had before `io.balena.image.class`.
const LEGACY_LABEL: &str = "io.balena.features.host-extension";

/// Where the files that tell the layers apart live, in every image.
pub const MARK_DIR: &str = "usr/share/boot-e2e";
const SHARED: &str = "etc/boot-e2e/shared";
const PLAIN_SHARED: &str = "etc/boot-e2e/plain-shared";
const HOSTAPP_FILE: &str = "etc/boot-e2e/hostapp-file";
/// The hostapp's script that reports what a root shows (`/sbin/init` runs
/// it at boot; s17 runs it on the `--target` mount).
pub const REPORT: &str = "usr/bin/boot-e2e-report";

/// One container, as `docker inspect` showed it before the engine stopped.
#[derive(Clone)]
pub struct Seen {
    pub name: String,
    pub id: String,
    /// The image as the container was created from it (`Config.Image`),
    /// and its ID.
    pub image: String,
    pub image_id: String,
    pub status: String,
    pub exit_code: i64,
    pub error: String,
    pub started_at: String,
    pub labels: BTreeMap<String, String>,
    /// Top first, the `-init` layer left out, in the copied data root.
    pub layers: Vec<PathBuf>,
    outcome: Option<Outcome>,
}

impl Seen {
    /// The runtime's verdict, from what the engine says: started, exited 0,
    /// no error.
    fn installed(&self) -> bool {
        self.status == "exited"
            && self.exit_code == 0
            && self.error.is_empty()
            && !self.started_at.is_empty()
            && !self.started_at.starts_with("0001-01-01")
    }

    fn priority(&self) -> Option<u32> {
        self.labels
            .get("io.balena.image.override")
            .map(|p| p.parse().expect("the scenario's priorities are numbers"))
    }

    /// Whether its claims hold on the boot's kernel (only kernel-abi-id is
    /// claimed here).
    fn claims_hold(&self) -> bool {
        self.labels
            .get("io.balena.image.kernel-abi-id")
            .map_or(true, |abi| abi == ABI_RUNNING)
    }
}

/// The disk: both partitions' trees, and what the engine said of them.
pub struct Disk {
    pub sysroot: PathBuf,
    pub data: PathBuf,
    pub hostapp: Seen,
    /// Every extension container, as the engine saw it.
    pub extensions: Vec<Seen>,
}

/// What a boot of this disk must show, from the engine's view and the
/// documented precedence.
pub struct Expected {
    /// Overlaid extensions in mount order, top first.
    pub overlaid: Vec<Seen>,
    pub skipped: Vec<Seen>,
}

impl Disk {
    pub fn expected(&self) -> Expected {
        let (mut overlaid, skipped): (Vec<Seen>, Vec<Seen>) = self
            .extensions
            .iter()
            .cloned()
            .partition(|s| s.installed() && s.claims_hold());
        // Overrides above the hostapp, ascending priority then name (the
        // lowest priority is the top layer, as balenaOS stacks them); plain
        // extensions below it by name, then ID.
        overlaid.sort_by(|a, b| {
            let key = |s: &Seen| {
                (
                    s.priority().is_none(),
                    s.priority(),
                    s.name.clone(),
                    s.id.clone(),
                )
            };
            key(a).cmp(&key(b))
        });
        Expected { overlaid, skipped }
    }
}

impl Expected {
    /// The report (`boot-e2e-report`) of a root where these are overlaid;
    /// `extensions` false: the hostapp alone.
    pub fn view(&self, extensions: bool) -> View {
        let overlaid: &[Seen] = if extensions { &self.overlaid } else { &[] };
        let top_override = overlaid.iter().find(|s| s.priority().is_some());
        let first_plain = overlaid.iter().find(|s| s.priority().is_none());
        View {
            present: overlaid.iter().map(|s| s.name.clone()).collect(),
            shared: top_override.map_or("hostapp".into(), |s| s.name.clone()),
            plain_shared: first_plain.map_or("none".into(), |s| s.name.clone()),
            hostapp_file: "hostapp".into(),
        }
    }
}

/// What `boot-e2e-report` printed.
#[derive(PartialEq, Eq, Debug)]
pub struct View {
    pub present: BTreeSet<String>,
    /// Shipped by the hostapp and every extension: an override wins.
    pub shared: String,
    /// Shipped by plain extensions only: the first by name wins.
    pub plain_shared: String,
    /// Shipped by the hostapp and plain extensions: the hostapp wins.
    pub hostapp_file: String,
}

impl View {
    /// Parses the `boot-e2e: ` lines of `text` (a console or a command's
    /// output); `None` unless the report ran to its end.
    pub fn parse(text: &str) -> Option<View> {
        let mut v = View {
            present: BTreeSet::new(),
            shared: String::new(),
            plain_shared: String::new(),
            hostapp_file: String::new(),
        };
        let mut ended = false;
        for line in text.lines() {
            let Some(rest) = line.trim_end_matches('\r').split("boot-e2e: ").nth(1) else {
                continue;
            };
            if let Some(name) = rest.strip_prefix("present ") {
                v.present.insert(name.to_string());
            } else if let Some(x) = rest.strip_prefix("shared=") {
                v.shared = x.to_string();
            } else if let Some(x) = rest.strip_prefix("plain-shared=") {
                v.plain_shared = x.to_string();
            } else if let Some(x) = rest.strip_prefix("hostapp-file=") {
                v.hostapp_file = x.to_string();
            } else if rest == "end of report" {
                ended = true;
            }
        }
        ended.then_some(v)
    }
}

// ---------------------------------------------------------------------------
// Writing the disk with the engine.

/// The disk, written once per test run (both scenarios read it).
static DISK: Mutex<Option<std::sync::Arc<Disk>>> = Mutex::new(None);

pub fn disk(env: &Env) -> std::sync::Arc<Disk> {
    let mut held = DISK.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(d) = &*held {
        return d.clone();
    }
    let d = std::sync::Arc::new(write_disk(env));
    *held = Some(d.clone());
    d
}

fn write_file(root: &Path, rel: &str, content: &str, mode: u32) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, content).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
}

/// The report script: one `boot-e2e: ` line per fact about root `$1`.
fn report_script() -> String {
    format!(
        r#"#!/bin/sh
# What this root shows of the hostapp and its extensions.
root=${{1:-/}}
for f in "$root"/{MARK_DIR}/*; do
    [ -e "$f" ] && echo "boot-e2e: present ${{f##*/}}"
done
show() {{ if [ -e "$root/$2" ]; then echo "boot-e2e: $1=$(cat "$root/$2")"; else echo "boot-e2e: $1=none"; fi; }}
show shared {SHARED}
show plain-shared {PLAIN_SHARED}
show hostapp-file {HOSTAPP_FILE}
echo "boot-e2e: end of report"
"#
    )
}

/// The hostapp's `/sbin/init`: when it started, what it sees, then off.
/// `bin` holds the busybox it runs (the guest's architecture's).
fn init_script(bin: &str) -> String {
    format!(
        r#"#!{bin}/sh
PATH={bin}
read up idle </proc/uptime
echo "boot-e2e: /sbin/init at $up s"
echo "boot-e2e: root is $(grep '^[^ ]* / ' /proc/mounts | cut -d' ' -f3)"
# Run as PID 1, with what the initramfs mounted moved along.
moved=yes
[ -b /dev/vda ] && [ -d /sys/kernel ] && grep -q '^[^ ]* /run ' /proc/mounts || moved=no
echo "boot-e2e: pid $$, /dev /proc /sys /run moved: $moved"
sh /{REPORT} /
poweroff -f
"#
    )
}

/// Installs busybox `from` in `dir` of `root`, with a link per applet.
fn install_busybox(root: &Path, dir: &str, from: &Path) {
    let bin = root.join(dir.trim_start_matches('/'));
    fs::create_dir_all(&bin).unwrap();
    fs::copy(from, bin.join("busybox")).unwrap_or_else(|e| {
        panic!(
            "cannot copy {} (Debian's busybox-static): {e}",
            from.display()
        )
    });
    // The applets of the host's busybox: the same Debian version.
    let list = run(Command::new(qemu::BUSYBOX).arg("--list"), SECS(10)).ok();
    for applet in list.lines().filter(|a| *a != "busybox") {
        std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
    }
}

/// The hostapp's tree: busybox (with a link per applet), the init and
/// report scripts, and the files the extensions compete for. Another
/// architecture the boot runs on gets its busybox in
/// `/usr/lib/boot-e2e/<arch>/` and its init at `/sbin/init-<arch>`
/// (`--init-program` names it).
fn hostapp_rootfs(env: &Env) -> Rootfs {
    let dir = env.work.join("rootfs-hostapp");
    let _ = fs::remove_dir_all(&dir);
    install_busybox(&dir, "/bin", Path::new(qemu::BUSYBOX));
    for d in [
        "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "run", "tmp", "mnt",
    ] {
        fs::create_dir_all(dir.join(d)).unwrap();
    }
    for applet in ["poweroff", "reboot", "halt"] {
        std::os::unix::fs::symlink("../bin/busybox", dir.join("sbin").join(applet)).unwrap();
    }
    write_file(&dir, "sbin/init", &init_script("/bin"), 0o755);
    for arch in qemu::archs().into_iter().filter(|a| !a.native()) {
        let bin = arch.guest_bin();
        install_busybox(&dir, &bin, &arch.busybox());
        // Not beside its busybox: that directory has an `init` applet link.
        let init = format!("sbin/init-{}", arch.name);
        write_file(&dir, &init, &init_script(&bin), 0o755);
    }
    write_file(&dir, REPORT, &report_script(), 0o755);
    write_file(&dir, SHARED, "hostapp", 0o644);
    write_file(&dir, HOSTAPP_FILE, "hostapp", 0o644);
    Rootfs { dir }
}

/// An extension's tree: hooks exiting as its container's labels say, and
/// its files: a mark of its own, and the shared paths it competes for.
fn extension_rootfs(env: &Env, name: &str, plain: bool) -> Rootfs {
    let r = Rootfs::new(env, name);
    r.hook("create", r#"exit "${EXTENSION_IMAGE_E2E_CREATE_EXIT:-0}""#);
    r.hook("start", r#"exit "${EXTENSION_IMAGE_E2E_START_EXIT:-0}""#);
    write_file(&r.dir, &format!("{MARK_DIR}/{name}"), name, 0o644);
    write_file(&r.dir, SHARED, name, 0o644);
    if plain {
        write_file(&r.dir, PLAIN_SHARED, name, 0o644);
        write_file(&r.dir, HOSTAPP_FILE, name, 0o644);
    }
    r
}

fn field<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    let mut at = v;
    for key in path {
        at = match at {
            Value::Object(o) => o.get(*key).unwrap_or(&Value::Null),
            _ => &Value::Null,
        };
    }
    at
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => json::to_string(other),
    }
}

/// `docker inspect` of container `name`, its layers mapped from the
/// engine's data root to `copy`.
fn inspect(docker: &Docker, name: &str, engine_root: &Path, copy: &Path) -> Seen {
    let out = docker.ok(&["inspect", "--type", "container", name]);
    let doc: Value =
        json::from_str(&out).unwrap_or_else(|_| panic!("docker inspect {name}: {out}"));
    let Value::Array(list) = doc else {
        panic!("docker inspect {name}: {out}")
    };
    let c = list
        .first()
        .unwrap_or_else(|| panic!("docker inspect {name}: {out}"));
    let labels = match field(c, &["Config", "Labels"]) {
        Value::Object(o) => o.iter().map(|(k, v)| (k.clone(), text(v))).collect(),
        _ => BTreeMap::new(),
    };
    let map = |p: &str| -> PathBuf {
        let rel = Path::new(p)
            .strip_prefix(engine_root)
            .unwrap_or_else(|_| panic!("layer {p} of {name} is outside {}", engine_root.display()));
        copy.join(rel)
    };
    let mut layers = vec![map(&text(field(c, &["GraphDriver", "Data", "UpperDir"])))];
    let lower = text(field(c, &["GraphDriver", "Data", "LowerDir"]));
    layers.extend(
        lower
            .split(':')
            .filter(|l| !l.is_empty() && !l.contains("-init/"))
            .map(map),
    );
    let exit_code = match field(c, &["State", "ExitCode"]) {
        Value::Number(n) => json::to_string(n).parse().unwrap_or(-1),
        _ => -1,
    };
    Seen {
        name: text(field(c, &["Name"]))
            .trim_start_matches('/')
            .to_string(),
        id: text(field(c, &["Id"])),
        image: text(field(c, &["Config", "Image"])),
        image_id: text(field(c, &["Image"])),
        status: text(field(c, &["State", "Status"])),
        exit_code,
        error: text(field(c, &["State", "Error"])),
        started_at: text(field(c, &["State", "StartedAt"])),
        labels,
        layers,
        outcome: None,
    }
}

/// Copies the data root `from` to `to` as it is on disk (links, modes,
/// xattrs, whiteouts).
fn copy_tree(from: &Path, to: &Path) {
    run(Command::new("cp").arg("-a").arg(from).arg(to), SECS(120)).ok();
}

fn write_disk(env: &Env) -> Disk {
    env.dockerd("start-dockerd", ENGINE_NAME);
    let docker = env.docker_boot();

    let hostapp = hostapp_rootfs(env);
    // `docker import` gives the image a command; the hostapp's is its init.
    docker.import_with(&hostapp, &[], &[r#"CMD ["/sbin/init"]"#], "boot-hostapp");
    docker.ok(&["create", "--name", "hostapp", "boot-hostapp"]);

    for p in EXTENSIONS {
        let rootfs = extension_rootfs(env, p.name, p.priority.is_none());
        let tag = format!("boot-{}", p.name);
        let prio = p.priority.map(|n| n.to_string());
        let mut labels = vec![OVERLAY];
        if let Some(n) = &prio {
            labels.push(("io.balena.image.override", n.as_str()));
        }
        if p.outcome == Outcome::StaleAbi {
            labels.push(("io.balena.image.kernel-abi-id", ABI_STALE));
        }
        if p.outcome == Outcome::Legacy {
            labels.push((LEGACY_LABEL, "1"));
        }
        docker.import(&rootfs, &labels, &tag);
        let base = ["--runtime", "extension", "--name", p.name];
        match p.outcome {
            Outcome::Installed | Outcome::StaleAbi | Outcome::Legacy | Outcome::Rejected => {
                let mut args = vec!["run", "-d"];
                args.extend(base);
                if p.outcome == Outcome::Rejected {
                    args.extend(["--label", "io.balena.image.e2e-start-exit=7"]);
                }
                args.push(&tag);
                docker.ok(&args);
                let id = docker.id(p.name);
                let want = if p.outcome == Outcome::Rejected { 7 } else { 0 };
                assert_eq!(docker.wait_exited(&id, SECS(60)), want, "{}", p.name);
            }
            Outcome::CreateFailed => {
                let mut args = vec!["run"];
                args.extend(base);
                args.extend(["--label", "io.balena.image.e2e-create-exit=3", &tag]);
                docker.run(&args).failed();
            }
            Outcome::CreatedOnly => {
                let mut args = vec!["create"];
                args.extend(base);
                args.push(&tag);
                docker.ok(&args);
            }
        }
    }

    // No engine runs at boot: read the data root only once it has stopped.
    let engine_root = env.boot_root.clone();
    let names: Vec<&str> = EXTENSIONS.iter().map(|p| p.name).collect();
    let dir = env.tmp.join("boot-disk");
    let _ = fs::remove_dir_all(&dir);
    let sysroot = dir.join("sysroot");
    let data = dir.join("data");
    let host_seen = inspect(&docker, "hostapp", &engine_root, &sysroot.join("balena"));
    let mut seen: Vec<Seen> = names
        .iter()
        .map(|n| inspect(&docker, n, &engine_root, &data.join("docker")))
        .collect();
    env.dockerd("stop-dockerd", ENGINE_NAME);

    fs::create_dir_all(&sysroot).unwrap();
    fs::create_dir_all(&data).unwrap();
    copy_tree(&engine_root, &sysroot.join("balena"));
    copy_tree(&engine_root, &data.join("docker"));
    std::os::unix::fs::symlink(
        format!("balena/containers/{}", host_seen.id),
        sysroot.join("current"),
    )
    .unwrap();
    fs::write(data.join("remove_me_to_reset"), "").unwrap();

    // The engine must have seen each outcome as the scenario meant it, or
    // the comparisons below would prove nothing.
    for (s, p) in seen.iter_mut().zip(EXTENSIONS) {
        s.outcome = Some(p.outcome);
        let what = format!(
            "{}: status {}, exit {}, error \"{}\", started {}",
            s.name, s.status, s.exit_code, s.error, s.started_at
        );
        match p.outcome {
            Outcome::Installed | Outcome::StaleAbi | Outcome::Legacy => {
                assert!(s.installed(), "{what}")
            }
            Outcome::Rejected => assert!(s.status == "exited" && s.exit_code == 7, "{what}"),
            Outcome::CreateFailed => assert!(!s.error.is_empty() && !s.installed(), "{what}"),
            Outcome::CreatedOnly => {
                assert!(
                    s.status == "created" && s.error.is_empty() && !s.installed(),
                    "{what}"
                )
            }
        }
    }
    Disk {
        sysroot,
        data,
        hostapp: host_seen,
        extensions: seen,
    }
}

/// How many more plain extensions the crowded disk has: three times where
/// the public implementation's page limit stops (about 20).
pub const MANY: usize = 60;

/// The disk again with [`MANY`] more installed plain extensions (`many-NN`,
/// an image each) on its data partition: the same sysroot, a data
/// partition of its own.
pub fn crowded_disk(env: &Env, base: &Disk) -> Disk {
    env.dockerd("start-dockerd", ENGINE_NAME);
    let docker = env.docker_boot();
    let names: Vec<String> = (0..MANY).map(|i| format!("many-{i:02}")).collect();
    for name in &names {
        let tag = format!("boot-{name}");
        docker.import(&extension_rootfs(env, name, true), &[OVERLAY], &tag);
        docker.ok(&["run", "--runtime", "extension", "--name", name, &tag]);
    }
    let engine_root = env.boot_root.clone();
    let data = env.tmp.join("boot-disk-crowded/data");
    let _ = fs::remove_dir_all(&data);
    let mut extensions = base.extensions.clone();
    for name in &names {
        let s = inspect(&docker, name, &engine_root, &data.join("docker"));
        assert!(
            s.installed(),
            "{name}: status {}, exit {}",
            s.status,
            s.exit_code
        );
        extensions.push(s);
    }
    env.dockerd("stop-dockerd", ENGINE_NAME);
    fs::create_dir_all(&data).unwrap();
    copy_tree(&engine_root, &data.join("docker"));
    fs::write(data.join("remove_me_to_reset"), "").unwrap();
    Disk {
        sysroot: base.sysroot.clone(),
        data,
        hostapp: base.hostapp.clone(),
        extensions,
    }
}

// ---------------------------------------------------------------------------
// Reading it with the applet.

/// The applet's link beside the runtime (`make build` puts it there).
pub fn applet(env: &Env) -> PathBuf {
    let path = env.runtime.with_file_name("extension-mount");
    assert!(
        path.exists(),
        "{} is missing: `make build` links the extension-mount applet there",
        path.display()
    );
    path
}

/// The path arguments naming the disk and the boot's kernel command line.
fn disk_args(env: &Env, disk: &Disk) -> Vec<String> {
    let cmdline = env.work.join("cmdline");
    fs::write(
        &cmdline,
        format!("console=ttyS0 balena_kernel_abi={ABI_RUNNING}\n"),
    )
    .unwrap();
    [
        "--sysroot".to_string(),
        disk.sysroot.display().to_string(),
        "--data-root".into(),
        disk.data.join("docker").display().to_string(),
        "--cmdline".into(),
        cmdline.display().to_string(),
    ]
    .to_vec()
}

fn canonical(p: &Path) -> PathBuf {
    fs::canonicalize(p).unwrap_or_else(|e| panic!("layer {}: {e}", p.display()))
}

fn canonical_list(v: &Value, what: &str) -> Vec<PathBuf> {
    let Value::Array(a) = v else {
        panic!("{what} is not an array: {}", json::to_string(v))
    };
    a.iter().map(|p| canonical(Path::new(&text(p)))).collect()
}

fn no_sha(s: &str) -> &str {
    s.strip_prefix("sha256:").unwrap_or(s)
}

#[test]
fn s17_extension_mount_plan_and_mount_agree_with_what_the_engine_says_of_each_container() {
    let Some(env) = setup("s17") else { return };
    let disk = disk(&env);
    let exe = applet(&env);
    let args = disk_args(&env, &disk);
    let want = disk.expected();

    let out = run(
        Command::new(&exe).args(["--plan", "--json"]).args(&args),
        SECS(30),
    );
    assert!(out.success(), "--plan --json: {out}");
    let plan: Value = json::from_str(out.stdout.trim())
        .unwrap_or_else(|_| panic!("--plan --json printed no single JSON document: {out}"));
    let show = || out.stdout.clone();

    // The hostapp: the container `current` names, its layers from the sysroot.
    assert_eq!(
        text(field(&plan, &["hostapp", "id"])),
        disk.hostapp.id,
        "{}",
        show()
    );
    let host_layers: Vec<PathBuf> = disk.hostapp.layers.iter().map(|p| canonical(p)).collect();
    assert_eq!(
        canonical_list(field(&plan, &["hostapp", "layers"]), "hostapp.layers"),
        host_layers,
        "{}",
        show()
    );
    assert!(
        matches!(field(&plan, &["extensionsEnabled"]), Value::Bool(true)),
        "extensionsEnabled: {}",
        show()
    );

    // Extensions: exactly the installed ones whose claims hold, in order.
    let Value::Array(exts) = field(&plan, &["extensions"]) else {
        panic!("no extensions: {}", show())
    };
    let got: Vec<String> = exts.iter().map(|e| text(field(e, &["name"]))).collect();
    let names: Vec<String> = want.overlaid.iter().map(|s| s.name.clone()).collect();
    assert_eq!(got, names, "the extensions overlaid, top first: {}", show());
    for (e, s) in exts.iter().zip(&want.overlaid) {
        assert_eq!(text(field(e, &["id"])), s.id, "{}", s.name);
        // The image by the name it was run with, or by its ID.
        let image = text(field(e, &["image"]));
        assert!(
            image == s.image || no_sha(&image) == no_sha(&s.image_id),
            "image of {}: \"{image}\", the engine says {} ({})",
            s.name,
            s.image,
            s.image_id
        );
        let prio = match field(e, &["override"]) {
            Value::Null => None,
            v => Some(
                text(v)
                    .parse::<u32>()
                    .unwrap_or_else(|_| panic!("override of {}: {}", s.name, text(v))),
            ),
        };
        assert_eq!(prio, s.priority(), "override of {}", s.name);
        let legacy = s.labels.contains_key(LEGACY_LABEL);
        assert!(
            matches!(field(e, &["legacyLabel"]), Value::Bool(b) if *b == legacy),
            "legacyLabel of {}: the engine shows the label: {legacy}",
            s.name
        );
        let layers: Vec<PathBuf> = s.layers.iter().map(|p| canonical(p)).collect();
        assert_eq!(
            canonical_list(field(e, &["layers"]), "layers"),
            layers,
            "layers of {}",
            s.name
        );
    }

    // Skipped: every other extension container, each with its reason.
    let Value::Array(skipped) = field(&plan, &["skipped"]) else {
        panic!("no skipped: {}", show())
    };
    let reasons: BTreeMap<String, String> = skipped
        .iter()
        .map(|e| (text(field(e, &["id"])), text(field(e, &["reason"]))))
        .collect();
    for s in &want.skipped {
        let reason = reasons.get(&s.id).unwrap_or_else(|| {
            panic!(
                "{} ({}) is neither overlaid nor skipped: {}",
                s.name,
                s.id,
                show()
            )
        });
        let must = match s.outcome.unwrap() {
            Outcome::Rejected => "7",
            Outcome::CreateFailed => "create",
            Outcome::CreatedOnly => "never started",
            Outcome::StaleAbi => "kernel-abi-id",
            Outcome::Installed | Outcome::Legacy => {
                unreachable!("installed extensions are overlaid")
            }
        };
        assert!(
            reason.contains(must),
            "reason for skipping {}: \"{reason}\" (expected it to mention \"{must}\")",
            s.name
        );
    }
    assert!(
        !reasons.contains_key(&disk.hostapp.id) && !got.contains(&"hostapp".to_string()),
        "the hostapp container of the data partition is no extension: {}",
        show()
    );
    let want_skipped: BTreeSet<&String> = want.skipped.iter().map(|s| &s.id).collect();
    let got_skipped: BTreeSet<&String> = reasons.keys().collect();
    assert_eq!(
        got_skipped,
        want_skipped,
        "skipped: exactly the extension containers not installed or not for this kernel: {}",
        show()
    );

    // The one overlay: overrides, the hostapp, plain extensions; top first.
    let mut lowerdir: Vec<PathBuf> = Vec::new();
    let (overrides, plain): (Vec<&Seen>, Vec<&Seen>) =
        want.overlaid.iter().partition(|s| s.priority().is_some());
    for s in overrides {
        lowerdir.extend(s.layers.iter().map(|p| canonical(p)));
    }
    lowerdir.extend(host_layers.iter().cloned());
    for s in plain {
        lowerdir.extend(s.layers.iter().map(|p| canonical(p)));
    }
    assert_eq!(
        canonical_list(field(&plan, &["lowerdir"]), "lowerdir"),
        lowerdir,
        "{}",
        show()
    );

    // The mount, in a private mount namespace: what the plan said, on disk.
    let target = env.work.join("target");
    fs::create_dir_all(&target).unwrap();
    let script = format!(
        r#"exe=$0 t=$1; shift; mount --make-rprivate / && "$exe" --target "$t" "$@" && sh "$t/{REPORT}" "$t""#
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "sh", "-c", &script]).arg(&exe).arg(&target);
    cmd.args(&args);
    let out = run(&mut cmd, SECS(60));
    assert!(
        out.success(),
        "--target in a private mount namespace: {out}"
    );
    let view =
        View::parse(&out.stdout).unwrap_or_else(|| panic!("no report from the mount: {out}"));
    assert_eq!(view, want.view(true), "what the mount shows: {out}");
    let mounted = format!(
        "extension-mount: mounted {} extensions",
        want.overlaid.len()
    );
    assert!(
        out.stderr.contains(&mounted),
        "expected `{mounted}` on stderr: {out}"
    );
    for s in &want.skipped {
        assert!(
            out.stderr
                .contains(&format!("extension-mount: skip {} (", s.name)),
            "expected a skip line for {}: {out}",
            s.name
        );
    }
    // Gone with the namespace: nothing stays mounted on the host.
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&target.display().to_string()),
        "the union outlived its namespace"
    );
}

#[test]
fn s18_boot_debian_kernel_with_extension_mount_init_shows_the_planned_union() {
    let Some(env) = setup("s18") else { return };
    if !qemu::wanted() {
        return;
    }
    let disk = disk(&env);
    let crowded = crowded_disk(&env, &disk);
    for arch in qemu::archs() {
        qemu::boot_all(&env, &disk, &crowded, arch);
    }
}
