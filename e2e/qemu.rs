//! The real boot (`make boot`): the disk of `e2e/boot.rs` as two ext4
//! partitions, booted by Debian's kernel under qemu-system-x86_64, with an
//! initramfs whose last step is `extension-mount --init`.
//!
//! The initramfs (busybox-static's shell) does what a device's initramfs
//! does first: loads the modules the kernel needs (virtio_pci, virtio_blk,
//! ext4 and overlay, with their dependencies as Debian's modules.dep lists
//! them) and mounts the two partitions read-only at the balenaOS paths
//! (/mnt/sysroot/active, /mnt/data). `extension-mount --init` then runs with
//! its defaults only. The hostapp's `/sbin/init` prints what the root shows
//! (`boot-e2e-report`) to the serial console and powers off; the console is
//! checked against the plan's precedence. Every boot has a time limit: a
//! hung boot fails with the console's tail.
//!
//! TCG by default: KVM only when a probe boot proves it works (nested
//! guests can hang without a line on the console).

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::boot::{Disk, View, ABI_RUNNING};
use crate::harness::*;

/// Debian's busybox-static.
pub const BUSYBOX: &str = "/bin/busybox";

/// One boot, from the kernel to power-off (TCG takes ~8 s here).
const BOOT_LIMIT: Duration = Duration::from_secs(120);
/// The KVM probe: a working KVM reaches `/init` in a second or two.
const PROBE_LIMIT: Duration = Duration::from_secs(10);

/// The modules the initramfs loads, with what they depend on.
const MODULES: &[&str] = &["virtio_pci", "virtio_blk", "ext4", "overlay"];

fn say(line: &str) {
    // Straight to fd 2: libtest captures `eprintln!` of passing tests.
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Whether to boot: `make boot` sets `E2E_BOOT=1` (and then nothing may be
/// missing); `make e2e` leaves the boot to it.
pub fn wanted() -> bool {
    if std::env::var("E2E_BOOT").as_deref() == Ok("1") {
        return true;
    }
    say("s18: skipped: the boot runs with `make boot` (E2E_BOOT=1)");
    false
}

struct Kernel {
    vmlinuz: PathBuf,
    release: String,
    /// The package's tree (`lib/modules/<release>/`).
    root: PathBuf,
}

/// Debian's kernel, unpacked by `tests/tools/install.sh boot` into
/// target/kernel/amd64 (or `$KERNEL_DIR/amd64`): `vmlinuz`, `release`, and
/// the package's tree in `root/`. The package has no modules.dep: made here
/// once (`depmod -b`), beside its modules.
fn kernel() -> Kernel {
    let repo = PathBuf::from(std::env::var("E2E_REPO").expect("E2E_REPO is set by e2e/run.sh"));
    let dir = std::env::var("KERNEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo.join("target/kernel"))
        .join("amd64");
    let release = fs::read_to_string(dir.join("release"))
        .map(|r| r.trim().to_string())
        .unwrap_or_else(|e| {
            panic!(
                "no Debian kernel in {} ({e}): sh tests/tools/install.sh boot (as root) unpacks it",
                dir.display()
            )
        });
    let root = dir.join("root");
    if !root
        .join("lib/modules")
        .join(&release)
        .join("modules.dep")
        .exists()
    {
        run(
            Command::new("depmod").arg("-b").arg(&root).arg(&release),
            Duration::from_secs(120),
        )
        .ok();
    }
    Kernel {
        vmlinuz: dir.join("vmlinuz"),
        release,
        root,
    }
}

/// The module files to load, in order (dependencies first, each once).
fn module_files(k: &Kernel) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = Vec::new();
    for m in MODULES {
        let out = run(
            Command::new("modprobe").arg("-d").arg(&k.root).args([
                "-S",
                &k.release,
                "--show-depends",
                m,
            ]),
            Duration::from_secs(30),
        )
        .ok();
        for line in out.lines() {
            if let Some(path) = line.strip_prefix("insmod ") {
                let path = PathBuf::from(path.trim());
                if !files.contains(&path) {
                    files.push(path);
                }
            }
        }
    }
    assert!(
        files.len() >= MODULES.len(),
        "modprobe found too few modules: {files:?}"
    );
    files
}

fn write_exe(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// A newc cpio of `dir` (what the kernel unpacks as its first root).
fn cpio(dir: &Path, out: &Path) {
    run(
        Command::new("sh")
            .arg("-c")
            .arg(r#"cd "$1" && find . | cpio -o -H newc --quiet >"$2""#)
            .arg("sh")
            .arg(dir)
            .arg(out),
        Duration::from_secs(60),
    )
    .ok();
}

/// An initramfs tree with busybox and `init`.
fn initramfs_tree(dir: &Path, init: &str) {
    let _ = fs::remove_dir_all(dir);
    for d in [
        "bin",
        "dev",
        "proc",
        "sys",
        "run",
        "lib/modules",
        "mnt/sysroot/active",
        "mnt/data",
    ] {
        fs::create_dir_all(dir.join(d)).unwrap();
    }
    fs::copy(BUSYBOX, dir.join("bin/busybox")).unwrap();
    for applet in ["sh", "mount", "insmod", "sleep", "cat", "poweroff"] {
        std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet)).unwrap();
    }
    write_exe(&dir.join("init"), init);
}

/// The boot's initramfs: modules, mounts, then `extension-mount --init`.
fn initramfs(env: &Env, k: &Kernel, binary: &Path) -> PathBuf {
    let dir = env.work.join("initramfs");
    let mods = module_files(k);
    let names: Vec<String> = mods
        .iter()
        .map(|m| m.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let init = format!(
        r#"#!/bin/sh
# What a device's initramfs does before its last step, then that step.
export PATH=/bin
mount -t proc proc /proc
read up idle </proc/uptime
echo "boot-e2e: /init at $up s"
mount -t devtmpfs devtmpfs /dev
mount -t sysfs sysfs /sys
mount -t tmpfs -o mode=0755 tmpfs /run
for m in {mods}; do insmod /lib/modules/$m || echo "boot-e2e: insmod $m failed"; done
i=0
while {{ [ ! -b /dev/vda ] || [ ! -b /dev/vdb ]; }} && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
mount -t ext4 -o ro /dev/vda /mnt/sysroot/active || echo "boot-e2e: cannot mount the sysroot"
mount -t ext4 -o ro /dev/vdb /mnt/data || echo "boot-e2e: cannot mount the data partition"
read up idle </proc/uptime
echo "boot-e2e: extension-mount at $up s"
exec /bin/extension-mount --init
"#,
        mods = names.join(" ")
    );
    initramfs_tree(&dir, &init);
    for m in &mods {
        fs::copy(m, dir.join("lib/modules").join(m.file_name().unwrap())).unwrap();
    }
    // The static binary, called by its applet name as a device would.
    fs::copy(binary, dir.join("bin/balena-extension-runtime")).unwrap();
    std::os::unix::fs::symlink("balena-extension-runtime", dir.join("bin/extension-mount"))
        .unwrap();
    let out = env.work.join("initramfs.cpio");
    cpio(&dir, &out);
    out
}

/// An ext4 image of `tree` (`mkfs.ext4 -d`), with room to spare.
fn ext4(tree: &Path, img: &Path, label: &str) {
    let du = run(
        Command::new("du").arg("-sk").arg(tree),
        Duration::from_secs(60),
    )
    .ok();
    let kib: u64 = du
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap();
    let size = format!("{}k", kib * 2 + 32 * 1024);
    let _ = fs::remove_file(img);
    run(
        Command::new("mkfs.ext4")
            .args(["-q", "-F", "-L", label, "-d"])
            .arg(tree)
            .arg(img)
            .arg(&size),
        Duration::from_secs(120),
    )
    .ok();
}

struct Boot<'a> {
    name: &'a str,
    accel: &'a str,
    kernel: &'a Path,
    initrd: &'a Path,
    append: String,
    drives: Vec<&'a Path>,
    limit: Duration,
}

/// Runs one boot to its power-off; the console text. A boot that does not
/// end within its limit fails the test with the console's tail.
fn boot(env: &Env, b: &Boot) -> Result<String, String> {
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args([
        "-machine", "q35", "-accel", b.accel, "-m", "512", "-smp", "1",
    ])
    .args(["-cpu", if b.accel == "kvm" { "host" } else { "max" }])
    .args(["-nographic", "-no-reboot", "-nic", "none"])
    .arg("-kernel")
    .arg(b.kernel)
    .arg("-initrd")
    .arg(b.initrd)
    .arg("-append")
    .arg(&b.append);
    for d in &b.drives {
        cmd.arg("-drive").arg(format!(
            "file={},format=raw,if=virtio,readonly=on",
            d.display()
        ));
    }
    let result = spawn(&mut cmd).wait_for(b.limit);
    let (out, finished) = match result {
        Ok(out) => (out, true),
        Err(out) => (out, false),
    };
    let console = out.stdout.replace('\r', "");
    fs::write(env.work.join(format!("console-{}.txt", b.name)), &console).unwrap();
    if finished && out.success() {
        Ok(console)
    } else {
        let tail: Vec<&str> = console.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        Err(format!(
            "boot \"{}\" ({}) {} after {:.1}s; stderr: {}\n--- console tail ---\n{}",
            b.name,
            b.accel,
            if finished {
                format!("exited {:?}", out.code)
            } else {
                "hung: killed".into()
            },
            out.elapsed.as_secs_f64(),
            out.stderr.trim(),
            tail.join("\n")
        ))
    }
}

/// "kvm" when /dev/kvm exists and a probe boot under it reaches its `/init`
/// and powers off in time; "tcg" otherwise.
fn accelerator(env: &Env, k: &Kernel) -> &'static str {
    if !Path::new("/dev/kvm").exists() {
        return "tcg";
    }
    let dir = env.work.join("probe");
    initramfs_tree(
        &dir,
        "#!/bin/sh\necho boot-e2e: kvm works\n/bin/poweroff -f\n",
    );
    let initrd = env.work.join("probe.cpio");
    cpio(&dir, &initrd);
    let probe = Boot {
        name: "kvm-probe",
        accel: "kvm",
        kernel: &k.vmlinuz,
        initrd: &initrd,
        append: "console=ttyS0 panic=-1 quiet".into(),
        drives: Vec::new(),
        limit: PROBE_LIMIT,
    };
    match boot(env, &probe) {
        Ok(console) if console.contains("boot-e2e: kvm works") => "kvm",
        _ => {
            say("boot: KVM does not boot a guest here (probe); using TCG");
            "tcg"
        }
    }
}

/// The uptime a `boot-e2e: <what> at <s> s` line names.
fn uptime_at(console: &str, what: &str) -> Option<f64> {
    let key = format!("boot-e2e: {what} at ");
    console.lines().find_map(|l| {
        l.split(&key)
            .nth(1)?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

/// The programs the boot needs, with the Debian packages holding them.
const TOOLS: &[(&str, &str)] = &[
    ("qemu-system-x86_64", "qemu-system-x86"),
    ("mkfs.ext4", "e2fsprogs"),
    ("cpio", "cpio"),
    ("modprobe", "kmod"),
    ("depmod", "kmod"),
    (BUSYBOX, "busybox-static"),
];

fn check_tools() {
    for (tool, package) in TOOLS {
        let found = if tool.starts_with('/') {
            Path::new(tool).exists()
        } else {
            std::env::var_os("PATH")
                .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).exists()))
        };
        assert!(found, "the boot needs {tool}: apt-get install {package}");
    }
}

/// The three boots of the disk, each checked on its console.
pub fn boot_all(env: &Env, disk: &Disk, applet: &Path) {
    check_tools();
    let k = kernel();
    // The real file, not the applet's link: the initramfs gets its own link.
    let binary = fs::canonicalize(applet).unwrap();
    let initrd = initramfs(env, &k, &binary);
    let sysroot = env.work.join("sysroot.img");
    let data = env.work.join("data.img");
    let purged = env.work.join("data-purge.img");
    ext4(&disk.sysroot, &sysroot, "sysroot");
    ext4(&disk.data, &data, "data");
    // A pending purge: the data partition without remove_me_to_reset.
    let marker = disk.data.join("remove_me_to_reset");
    fs::remove_file(&marker).unwrap();
    ext4(&disk.data, &purged, "data");
    fs::write(&marker, "").unwrap();

    let accel = accelerator(env, &k);
    let want = disk.expected();
    let cases: [(&str, &str, &Path, bool, &str); 3] = [
        ("plain", "", &data, true, "mounted"),
        (
            "nohostext",
            "balena.nohostext",
            &data,
            false,
            "extensions disabled: balena.nohostext",
        ),
        (
            "purge",
            "",
            &purged,
            false,
            "extensions disabled: no /mnt/data/remove_me_to_reset",
        ),
    ];
    for (name, extra, data_img, extensions, decision) in cases {
        let b = Boot {
            name,
            accel,
            kernel: &k.vmlinuz,
            initrd: &initrd,
            append: format!("console=ttyS0 panic=-1 quiet balena_kernel_abi={ABI_RUNNING} {extra}"),
            drives: vec![&sysroot, data_img],
            limit: BOOT_LIMIT,
        };
        let started = std::time::Instant::now();
        let console = boot(env, &b).unwrap_or_else(|e| panic!("{e}"));
        let fail =
            |what: &str| -> ! { panic!("boot \"{name}\": {what}\n--- console ---\n{console}") };
        let view = View::parse(&console)
            .unwrap_or_else(|| fail("the hostapp's /sbin/init did not report"));
        let expected = want.view(extensions);
        if view != expected {
            fail(&format!("the root shows {view:?}, expected {expected:?}"));
        }
        for s in &want.skipped {
            if view.present.contains(&s.name) {
                fail(&format!("{} is skipped by the plan but present", s.name));
            }
        }
        if !console.contains("boot-e2e: root is overlay") {
            fail("the root is not the overlay");
        }
        if !console.contains("boot-e2e: pid 1, /dev /proc /sys /run moved: yes") {
            fail("/sbin/init is not PID 1 in the new root with /dev /proc /sys /run moved");
        }
        let line = if extensions {
            format!(
                "extension-mount: mounted {} extensions",
                want.overlaid.len()
            )
        } else {
            format!("extension-mount: {decision}")
        };
        if !console.contains(&line) {
            fail(&format!("no `{line}` line"));
        }
        let (Some(init), Some(applet), Some(sbin_init)) = (
            uptime_at(&console, "/init"),
            uptime_at(&console, "extension-mount"),
            uptime_at(&console, "/sbin/init"),
        ) else {
            fail("no /init, extension-mount or /sbin/init timestamp")
        };
        say(&format!(
            "boot {name} ({accel}, kernel {}): /init at {init:.2} s, /sbin/init at {sbin_init:.2} s: \
             {:.2} s from /init to /sbin/init, {:.2} s of it from extension-mount's start; \
             {:.1} s from qemu's start to power-off",
            k.release,
            sbin_init - init,
            sbin_init - applet,
            started.elapsed().as_secs_f64()
        ));
    }
}
