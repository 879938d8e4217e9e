//! `extension-mount` on data roots crafted on disk: the plan without root,
//! and (as root) the mount itself inside a private mount namespace, with
//! files checked through it.

mod common;

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::overlay2::{self, container, file, OK};
use common::{install, stderr, stdout, TempDir};

const REJECTED: &str =
    r#"{"Running":false,"ExitCode":7,"Error":"","StartedAt":"2026-01-01T00:00:00Z"}"#;

/// A hostapp partition (`sys/`), a data partition (`data/`), a command
/// line, and the binary under its applet names.
struct Disk {
    t: TempDir,
    bin: PathBuf,
}

impl Disk {
    /// The hostapp has one image layer, with a few files.
    fn new(tag: &str) -> Disk {
        let t = TempDir::new(&format!("mount-{tag}"));
        let bins = t.join("bin");
        fs::create_dir_all(&bins).unwrap();
        let bin = install(&bins);
        overlay2::disk(t.path(), 1);
        fs::create_dir_all(t.join("mnt")).unwrap();
        let d = Disk { t, bin };
        let h = d.hostapp_root();
        for dir in ["dev", "proc", "sys", "run", "sbin"] {
            fs::create_dir_all(overlay2::image(&h, "hostapp", 0).join(dir)).unwrap();
        }
        file(&h, "hostapp", "etc/file", "hostapp\n");
        file(&h, "hostapp", "etc/os-release", "VERSION_ID=2.113.18\n");
        d
    }

    fn hostapp_root(&self) -> PathBuf {
        self.t.join("sys/balena")
    }

    fn data(&self) -> PathBuf {
        self.t.join("data/docker")
    }

    /// A container with one image layer.
    fn ext(&self, id: &str, name: &str, labels: &str, state: &str) {
        container(&self.data(), id, name, labels, state, 1);
    }

    fn args(&self) -> Vec<String> {
        overlay2::args(self.t.path())
    }

    fn applet(&self) -> PathBuf {
        self.bin.with_file_name("extension-mount")
    }

    /// `extension-mount ARGS PATHS`, as nobody when this runs as root.
    fn plan(&self, json: bool) -> Output {
        let mut c = Command::new(self.applet());
        c.arg("--plan");
        if json {
            c.arg("--json");
        }
        c.args(self.args()).stdin(Stdio::null());
        if is_root() {
            c.uid(65534).gid(65534);
        }
        c.output().unwrap()
    }

    /// `extension-mount --target mnt PATHS` in a private mount namespace,
    /// then `script` there (the mount point is $M), with `env` set.
    fn mounted(&self, env: &[(&str, &str)], script: &str) -> Output {
        let mut cmd = format!(
            "\"$B\" --target \"$M\" {} || exit 9\n",
            self.args()
                .iter()
                .map(|a| format!("'{a}'"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        cmd += script;
        Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &cmd])
            .env("B", self.applet())
            .env("M", self.t.join("mnt"))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

fn is_root() -> bool {
    // SAFETY: getuid cannot fail.
    unsafe { libc::getuid() == 0 }
}

/// The mount tests need root and unshare(1); say so when they skip.
fn can_mount() -> bool {
    let ok = is_root()
        && Command::new("unshare")
            .args(["-m", "true"])
            .status()
            .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipped: needs root and unshare -m");
    }
    ok
}

fn overlay(extra: &str) -> String {
    format!(r#"{{"io.balena.image.class":"overlay"{extra}}}"#)
}

/// A disk with an override, two plain extensions and a rejected one.
fn mixed(tag: &str) -> Disk {
    let d = Disk::new(tag);
    let x = d.data();
    d.ext(
        "k10",
        "kernel",
        &overlay(r#","io.balena.image.override":"10""#),
        OK,
    );
    file(&x, "k10", "etc/file", "override\n");
    d.ext("p1", "plain-b", &overlay(""), OK);
    file(&x, "p1", "etc/file", "plain\n");
    file(&x, "p1", "plain-b", "b\n");
    d.ext("p2", "plain-a", &overlay(""), OK);
    file(&x, "p2", "plain-a", "a\n");
    d.ext("rej", "rejected", &overlay(""), REJECTED);
    file(&x, "rej", "rejected", "no\n");
    d
}

#[test]
fn plan_needs_no_root_and_lists_order_skips_and_layers() {
    let d = mixed("plan");
    let o = d.plan(true);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let j = stdout(&o);
    for want in [
        "\"extensionsEnabled\": true",
        "\"disabledBy\": null",
        "\"override\": 10",
        "\"legacyLabel\": false",
        "\"reason\": \"start hook rejected it (exited 7)\"",
        "\"method\": \"short-links\"",
    ] {
        assert!(j.contains(want), "{want} not in {j}");
    }
    let pos = |s: &str| j.find(s).unwrap_or_else(|| panic!("{s} not in {j}"));
    // lowerdir: the override, the hostapp, then plain extensions by name.
    let l = pos("\"lowerdir\"");
    let at = |s: &str| l + j[l..].find(s).unwrap_or_else(|| panic!("{s}"));
    assert!(at("k10/diff") < at("hostapp/diff"));
    assert!(at("hostapp-img0/diff") < at("p2/diff"));
    assert!(at("p2-img0/diff") < at("p1/diff"));
    assert!(!j[l..].contains("rej") && !j.contains("-init"));
    let o = d.plan(false);
    assert_eq!(
        stdout(&o).lines().take(5).collect::<Vec<_>>(),
        [
            "hostapp hostapp: 2 layers",
            "overlay kernel (k10): 2 layers, override 10",
            "overlay plain-a (p2): 2 layers",
            "overlay plain-b (p1): 2 layers",
            "skip rejected (rej): start hook rejected it (exited 7)",
        ]
    );
}

#[test]
fn a_data_root_the_caller_cannot_read_is_said_not_taken_for_empty() {
    if !is_root() {
        return;
    }
    let d = mixed("unreadable");
    // As the engine leaves its data root: containers/ for root only.
    let containers = d.data().join("containers");
    fs::set_permissions(&containers, fs::Permissions::from_mode(0o700)).unwrap();
    let o = d.plan(false);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "skip ? (): cannot list {}: permission denied",
            containers.display()
        )),
        "{out}"
    );
}

#[test]
fn nohostext_and_a_pending_reset_plan_the_hostapp_alone() {
    let d = mixed("nohostext");
    fs::write(d.t.join("cmdline"), "root=/dev/vda2 balena.nohostext\n").unwrap();
    let j = stdout(&d.plan(true));
    assert!(j.contains("\"disabledBy\": \"balena.nohostext\""), "{j}");
    assert!(j.contains("\"extensions\": []"), "{j}");
    fs::write(d.t.join("cmdline"), "root=/dev/vda2\n").unwrap();
    fs::remove_file(d.t.join("data/remove_me_to_reset")).unwrap();
    let j = stdout(&d.plan(true));
    assert!(j.contains("\"disabledBy\": \"remove_me_to_reset\""), "{j}");
}

#[test]
fn usage_errors_exit_2_and_a_missing_hostapp_exits_1() {
    let d = Disk::new("usage");
    let run = |args: &[&str]| {
        Command::new(d.applet())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    for args in [
        &[][..],
        &["--plan", "--init"],
        &["--frob"],
        &["--plan", "x"],
        &["--target", "/x", "--json"],
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    }
    let o = run(&[
        "--target",
        d.t.join("nowhere").to_str().unwrap(),
        "--sysroot",
        d.t.join("sys").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).ends_with("nowhere is not a directory\n"),
        "{}",
        stderr(&o)
    );
    fs::remove_file(d.t.join("sys/current")).unwrap();
    let o = d.plan(false);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.starts_with("extension-mount: no hostapp: ") && e.lines().count() == 1,
        "{e}"
    );
    assert!(stdout(&o).is_empty());
}

#[test]
fn hostile_disks_skip_the_container_with_one_line_each() {
    let d = Disk::new("hostile");
    let x = d.data();
    let o2 = x.join("overlay2");
    let ext = overlay("");
    // Truncated and huge records.
    d.ext("trunc", "trunc", &ext, OK);
    let rec = x.join("containers/trunc/config.v2.json");
    let text = fs::read_to_string(&rec).unwrap();
    fs::write(&rec, &text[..40]).unwrap();
    d.ext("huge", "huge", &ext, OK);
    let f = fs::File::create(x.join("containers/huge/config.v2.json")).unwrap();
    f.set_len(64 << 20).unwrap();
    // A lower entry that leaves overlay2, a loop, a missing diff.
    d.ext("out", "out", &ext, OK);
    fs::create_dir_all(d.t.join("secret/diff")).unwrap();
    fs::write(d.t.join("secret/diff/secret"), "x").unwrap();
    symlink("../../../secret/diff", o2.join("l/OUT")).unwrap();
    fs::write(o2.join("out/lower"), "l/OUT").unwrap();
    d.ext("abs", "abs", &ext, OK);
    fs::write(
        o2.join("abs/lower"),
        d.t.join("secret/diff").display().to_string(),
    )
    .unwrap();
    d.ext("loop", "loop", &ext, OK);
    symlink("LOOP", o2.join("l/LOOP")).unwrap();
    fs::write(o2.join("loop/lower"), "l/LOOP").unwrap();
    d.ext("nodiff", "nodiff", &ext, OK);
    fs::remove_dir_all(overlay2::image(&x, "nodiff", 0)).unwrap();
    // One good one, to show the rest still mounts.
    d.ext("good", "good", &ext, OK);
    file(&x, "good", "good", "yes\n");
    let o = d.plan(false);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let skips: Vec<&str> = out.lines().filter(|l| l.starts_with("skip ")).collect();
    assert_eq!(skips.len(), 6, "{out}");
    for (name, why) in [
        ("trunc", "is not valid JSON (truncated or corrupt)"),
        ("huge", "is larger than"),
        ("out", "does not point to ../<layer>/diff"),
        ("abs", "is not an l/<name> link"),
        ("loop", "does not point to ../<layer>/diff"),
        ("nodiff", "is missing"),
    ] {
        assert!(
            skips
                .iter()
                .any(|l| l.contains(&format!("({name})")) && l.contains(why)),
            "{name}: {why}: {out}"
        );
    }
    assert!(out.contains("overlay good (good)"), "{out}");
    let lowerdir = &out[out.find("lowerdir").unwrap()..];
    assert!(!lowerdir.contains("secret"), "{out}");
    if !can_mount() {
        return;
    }
    let o = d.mounted(&[], "cat \"$M/good\"; ls \"$M\"");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("yes\n") && !stdout(&o).contains("secret"));
}

fn check_precedence(d: &Disk, method: &str) {
    let o = d.mounted(
        &[("BER_EXTENSION_MOUNT_METHOD", method)],
        "cat \"$M/etc/file\" \"$M/plain-a\" \"$M/plain-b\"; \
         test -e \"$M/rejected\" && echo rejected-present; \
         touch \"$M/new\" 2>/dev/null && echo writable; \
         grep -c \" $M \" /proc/self/mounts",
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{method}: {err}");
    // The override replaced the hostapp's file; the plain one could not.
    assert_eq!(stdout(&o), "override\na\nb\n1\n", "{method}: {err}");
    assert!(
        err.contains("extension-mount: skip rejected (rej): start hook rejected it (exited 7)\n"),
        "{err}"
    );
    assert!(
        err.ends_with(&format!(
            "extension-mount: mounted 3 extensions over the hostapp at {} (8 layers)\n",
            d.t.join("mnt").display()
        )),
        "{err}"
    );
}

#[test]
fn an_override_replaces_a_hostapp_file_and_a_plain_extension_cannot() {
    if !can_mount() {
        return;
    }
    let d = mixed("precedence");
    // Whatever this kernel has (lowerdir+ from 6.8), then the classic path.
    check_precedence(&d, "");
    check_precedence(&d, "short-links");
}

#[test]
fn a_relative_target_mounts_with_either_method() {
    if !can_mount() {
        return;
    }
    let d = mixed("relative");
    let script = format!(
        "umount \"$M\" && cd \"$M/..\" && \"$B\" --target mnt {} && cat mnt/etc/file",
        d.args()
            .iter()
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    for method in ["", "short-links"] {
        let o = d.mounted(&[("BER_EXTENSION_MOUNT_METHOD", method)], &script);
        assert_eq!(o.status.code(), Some(0), "{method}: {}", stderr(&o));
        assert_eq!(stdout(&o), "override\n", "{method}: {}", stderr(&o));
    }
}

#[test]
fn sixty_extensions_all_mount_with_either_method() {
    if !can_mount() {
        return;
    }
    let d = Disk::new("sixty");
    let x = d.data();
    for i in 0..60 {
        // Engine-length IDs: the paths are as long as on a device.
        let id = format!("{i:02}{}", "f".repeat(62));
        d.ext(&id, &format!("ext{i:02}"), &overlay(""), OK);
        file(&x, &id, &format!("ext/{i:02}"), "x");
    }
    for method in ["", "short-links"] {
        let o = d.mounted(
            &[("BER_EXTENSION_MOUNT_METHOD", method)],
            "ls \"$M/ext\" | wc -l",
        );
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(0), "{method}: {err}");
        assert_eq!(stdout(&o).trim(), "60", "{method}: {err}");
        assert!(
            err.contains("mounted 60 extensions over the hostapp"),
            "{err}"
        );
        assert!(!err.contains("skip "), "{err}");
    }
}

/// The mixed disk with busybox-static as the hostapp's /bin/busybox and
/// /bin/sh, for the `--init` tests; None (and said) when they cannot run.
fn busybox_hostapp(tag: &str) -> Option<Disk> {
    if !can_mount() {
        return None;
    }
    let busybox = Path::new("/bin/busybox");
    if !busybox.exists() {
        eprintln!("skipped: needs /bin/busybox (busybox-static)");
        return None;
    }
    let d = mixed(tag);
    let top = overlay2::image(&d.hostapp_root(), "hostapp", 0);
    fs::create_dir_all(top.join("bin")).unwrap();
    fs::copy(busybox, top.join("bin/busybox")).unwrap();
    symlink("busybox", top.join("bin/sh")).unwrap();
    Some(d)
}

#[test]
fn init_switches_root_into_the_union_and_execs_the_init_program() {
    let Some(d) = busybox_hostapp("init") else {
        return;
    };
    let mut cmd = format!(
        "exec \"$B\" --init --target \"$M\" --init-program /bin/sh {}",
        d.args()
            .iter()
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    // No `--`: what the kernel passes on reaches init as it is, clustered
    // flags and `-h` included.
    cmd += " -c '/bin/busybox cat /etc/file /plain-a; /bin/busybox test -d /proc/self && echo proc-moved; echo \"$0 $1\"' -sb -h";
    let o = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &cmd])
        .env("B", d.applet())
        .env("M", d.t.join("mnt"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "override\na\nproc-moved\n-sb -h\n",
        "{}",
        stderr(&o)
    );
}

#[test]
fn init_boots_the_hostapp_alone_when_an_override_breaks_the_init_program() {
    let Some(d) = busybox_hostapp("initbroken") else {
        return;
    };
    // The override's /bin/sh is no program: exec would fail after the
    // switch, and PID 1 would exit.
    file(&d.data(), "k10", "bin/sh", "not a program\n");
    let cmd = format!(
        "exec \"$B\" --init --target \"$M\" --init-program /bin/sh {} -c '/bin/busybox cat /etc/file'",
        d.args()
            .iter()
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let o = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &cmd])
        .env("B", d.applet())
        .env("M", d.t.join("mnt"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(stdout(&o), "hostapp\n", "{err}");
    assert!(
        err.contains(
            "extension-mount: booting the hostapp alone: /bin/sh is not a program in the union\n"
        ),
        "{err}"
    );
}

#[test]
fn init_from_an_initramfs_root_moves_the_union_over_it() {
    if !can_mount() {
        return;
    }
    let busybox = Path::new("/bin/busybox");
    if !busybox.exists() || !Path::new("/sbin/pivot_root").exists() {
        eprintln!("skipped: needs /bin/busybox (busybox-static) and pivot_root");
        return;
    }
    // Inside the new root there is no dynamic loader: the shipped, static
    // binary only (BER_TEST_BINARY, as make test sets it).
    let image = fs::read(common::binary()).unwrap();
    if image
        .windows(9)
        .any(|w| w == b"ld-linux-" || w == b"/ld-musl-")
    {
        eprintln!("skipped: the binary under test is not static (set BER_TEST_BINARY)");
        return;
    }
    let d = mixed("initramfs");
    let top = overlay2::image(&d.hostapp_root(), "hostapp", 0);
    fs::create_dir_all(top.join("bin")).unwrap();
    fs::copy(busybox, top.join("bin/busybox")).unwrap();
    symlink("busybox", top.join("bin/sh")).unwrap();
    let ramfs = d.t.join("ramfs");
    fs::create_dir_all(&ramfs).unwrap();
    // A tmpfs becomes this namespace's root, as an initramfs is the
    // kernel's: pivot_root cannot leave it, so --init moves the union over
    // it and chroots. The disk is bind-mounted at /disk inside.
    let inside = "/bin/busybox umount -l /old && /bin/busybox mount -t proc proc /proc && \
        exec /bin/extension-mount --init \
        --init-program /bin/sh --sysroot /disk/sys --data-root /disk/data/docker \
        --cmdline /disk/cmdline --kernel-release 6.1.0 \
        -c '/bin/busybox cat /etc/file /plain-a; /bin/busybox test -d /proc/self && echo proc-moved; \
        /bin/busybox test -e /disk || echo initramfs-gone'";
    let script = format!(
        "set -e; R=\"$RAMFS\"; mount -t tmpfs tmpfs \"$R\"; \
         mkdir -p \"$R/bin\" \"$R/old\" \"$R/disk\" \"$R/proc\"; \
         cp /bin/busybox \"$R/bin/busybox\"; cp \"$B\" \"$R/bin/balena-extension-runtime\"; \
         ln -s balena-extension-runtime \"$R/bin/extension-mount\"; \
         mount --bind \"$DISK\" \"$R/disk\"; cd \"$R\"; /sbin/pivot_root . old; \
         exec /bin/busybox sh -c \"{}\"",
        inside.replace('"', "\\\"")
    );
    let o = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .env("B", &d.bin)
        .env("RAMFS", &ramfs)
        .env("DISK", d.t.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(
        stdout(&o),
        "override\na\nproc-moved\ninitramfs-gone\n",
        "{err}"
    );
    assert!(
        err.contains(
            "extension-mount: mounted 3 extensions over the hostapp at /mnt/rootfs (8 layers)\n"
        ),
        "{err}"
    );
}

#[test]
fn the_hostapp_boots_alone_when_the_extensions_cannot_mount() {
    if !can_mount() {
        return;
    }
    let d = mixed("fallback");
    // overlayfs refuses procfs as a layer: a plain extension's layer that
    // the plan accepts and the mount cannot use.
    let layer = overlay2::image(&d.data(), "p1", 0);
    let script = format!(
        "umount \"$M\"; mount --bind /proc '{}' && \"$B\" --target \"$M\" {} && cat \"$M/etc/file\" && test ! -e \"$M/plain-a\" && echo alone",
        layer.display(),
        d.args().iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(" ")
    );
    for method in ["", "short-links"] {
        let o = d.mounted(&[("BER_EXTENSION_MOUNT_METHOD", method)], &script);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(0), "{method}: {err}");
        assert_eq!(stdout(&o), "hostapp\nalone\n", "{method}: {err}");
        assert!(
            err.contains("extension-mount: booting the hostapp alone: cannot mount at "),
            "{err}"
        );
        assert!(
            err.contains("extension-mount: mounted 0 extensions over the hostapp at "),
            "{err}"
        );
    }
    // The hostapp itself cannot be mounted: one line naming it, exit 1.
    let host_layer = overlay2::image(&d.hostapp_root(), "hostapp", 0);
    let script = format!(
        "umount \"$M\"; mount --bind /proc '{}' && \"$B\" --target \"$M\" {}; echo \"rc=$?\"",
        host_layer.display(),
        d.args()
            .iter()
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let o = d.mounted(&[], &script);
    let err = stderr(&o);
    assert_eq!(stdout(&o), "rc=1\n", "{err}");
    let last = err.lines().last().unwrap_or("");
    assert!(
        last.starts_with("extension-mount: hostapp hostapp: cannot mount at "),
        "{err}"
    );
}

#[test]
fn extensions_of_one_image_share_layers_and_still_mount() {
    if !can_mount() {
        return;
    }
    let d = mixed("shared");
    let x = d.data();
    // A second container of p2's image: its lower file names the same
    // image layer (the engine's l/ link).
    d.ext("p3", "plain-c", &overlay(""), OK);
    let lower = format!(
        "l/{}:l/{}",
        overlay2::short("p3-init"),
        overlay2::short("p2-img0")
    );
    fs::write(x.join("overlay2/p3/lower"), lower).unwrap();
    let o = d.mounted(&[], "cat \"$M/plain-a\"");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "a\n");
    assert!(
        stderr(&o).contains("mounted 4 extensions over the hostapp"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn the_text_plan_shows_a_hostile_name_as_one_escaped_line() {
    let d = Disk::new("escape");
    // JSON escapes in the record: an ESC sequence and a line end that
    // would forge a skip line of its own.
    d.ext(
        "esc",
        "evil\\u001b[2J\\nskip forged (x): y",
        &overlay(""),
        OK,
    );
    let o = d.plan(false);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(!out.contains('\x1b'), "{out:?}");
    assert!(!out.lines().any(|l| l.starts_with("skip ")), "{out}");
    assert!(
        out.lines()
            .any(|l| l == "overlay evil\\x1b[2J\\nskip forged (x): y (esc): 2 layers"),
        "{out}"
    );
}
