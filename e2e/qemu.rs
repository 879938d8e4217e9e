//! The real boot (`make boot`): the disk of `e2e/boot.rs` as two ext4
//! partitions, booted by Debian's kernels under qemu-system-x86_64 and
//! qemu-system-aarch64 (`BOOT_ARCHS`), with an
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
//! TCG by default: KVM only for the host's own architecture, and only when
//! a probe boot proves it works (nested guests can hang without a line on
//! the console).

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

/// One boot, from the kernel to power-off (TCG takes 5-7 s on x86_64, 2 s
/// on aarch64 here).
const BOOT_LIMIT: Duration = Duration::from_secs(120);
/// The KVM probe: a working KVM reaches `/init` in a second or two.
const PROBE_LIMIT: Duration = Duration::from_secs(10);

/// The hostapp ID of a sysroot whose hostapp is missing.
const MISSING_HOSTAPP: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// The modules the initramfs loads, with what they depend on.
const MODULES: &[&str] = &["virtio_pci", "virtio_blk", "ext4", "overlay"];

/// A guest architecture: its Debian name, its qemu and machine, its
/// serial console.
pub struct Arch {
    pub name: &'static str,
    deb: &'static str,
    qemu: &'static str,
    machine: &'static [&'static str],
    console: &'static str,
}

const ARCHS: &[Arch] = &[
    Arch {
        name: "x86_64",
        deb: "amd64",
        qemu: "qemu-system-x86_64",
        machine: &["-machine", "q35"],
        console: "ttyS0",
    },
    Arch {
        name: "aarch64",
        deb: "arm64",
        qemu: "qemu-system-aarch64",
        machine: &["-machine", "virt", "-cpu", "cortex-a72"],
        console: "ttyAMA0",
    },
];

/// The architectures to boot: `BOOT_ARCHS` (`make boot` sets it; alone,
/// x86_64).
pub fn archs() -> Vec<&'static Arch> {
    let wanted = std::env::var("BOOT_ARCHS").unwrap_or_else(|_| "x86_64".into());
    wanted
        .split_whitespace()
        .map(|a| {
            ARCHS
                .iter()
                .find(|x| x.name == a)
                .unwrap_or_else(|| panic!("BOOT_ARCHS: no boot for \"{a}\" (x86_64, aarch64)"))
        })
        .collect()
}

impl Arch {
    /// Whether this is the host's architecture (the busybox and binary of
    /// the host serve it).
    pub fn native(&self) -> bool {
        self.name == std::env::consts::ARCH
    }

    /// Where the hostapp keeps this architecture's busybox.
    pub fn guest_bin(&self) -> String {
        if self.native() {
            "/bin".into()
        } else {
            format!("/usr/lib/boot-e2e/{}", self.name)
        }
    }

    /// Debian's busybox-static for this architecture: the host's own, or
    /// the foreign package unpacked (not installed: it would replace the
    /// host's) under target/boot/.
    pub fn busybox(&self) -> PathBuf {
        if self.native() {
            return PathBuf::from(BUSYBOX);
        }
        let dir = repo()
            .join("target/boot")
            .join(format!("busybox-{}", self.deb));
        let path = dir.join("tree/bin/busybox");
        if !path.exists() {
            let out = run(
                Command::new("sh")
                    .arg("-c")
                    .arg(
                        r#"set -e; rm -rf "$1"; mkdir -p "$1"; cd "$1"
apt-get download -q -o APT::Sandbox::User=root "busybox-static:$2" >/dev/null
dpkg -x busybox-static_*.deb tree"#,
                    )
                    .arg("sh")
                    .arg(&dir)
                    .arg(self.deb),
                Duration::from_secs(300),
            );
            assert!(
                out.success() && path.exists(),
                "busybox-static:{} (sh tests/tools/install.sh boot-{} adds the architecture): {out}",
                self.deb,
                self.deb
            );
        }
        path
    }

    /// The shipped binary for this architecture (`make build [ARCH=...]`).
    fn binary(&self) -> PathBuf {
        let dist = PathBuf::from(std::env::var("E2E_DIST").expect("E2E_DIST is set by e2e/run.sh"));
        let path = if self.native() {
            dist.join("balena-extension-runtime")
        } else {
            dist.join(self.name).join("balena-extension-runtime")
        };
        assert!(
            path.exists(),
            "{} is missing: make build ARCH={}",
            path.display(),
            self.name
        );
        path
    }
}

fn repo() -> PathBuf {
    PathBuf::from(std::env::var("E2E_REPO").expect("E2E_REPO is set by e2e/run.sh"))
}

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

/// Debian's kernel, unpacked by `tests/tools/install.sh boot` (or
/// `boot-arm64`) into target/kernel/DEB-ARCH (or under `$KERNEL_DIR`): `vmlinuz`, `release`, and
/// the package's tree in `root/`. The package has no modules.dep: made here
/// once (`depmod -b`), beside its modules.
fn kernel(arch: &Arch) -> Kernel {
    let dir = std::env::var("KERNEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo().join("target/kernel"))
        .join(arch.deb);
    let release =
        fs::read_to_string(dir.join("release"))
            .map(|r| r.trim().to_string())
            .unwrap_or_else(|e| {
                panic!(
                "no Debian kernel in {} ({e}): sh tests/tools/install.sh {} (as root) unpacks it",
                dir.display(),
                if arch.native() { "boot".to_string() } else { format!("boot-{}", arch.deb) }
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
fn initramfs_tree(dir: &Path, init: &str, busybox: &Path) {
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
    fs::copy(busybox, dir.join("bin/busybox")).unwrap();
    for applet in ["sh", "mount", "insmod", "sleep", "cat", "poweroff"] {
        std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet)).unwrap();
    }
    write_exe(&dir.join("init"), init);
}

/// The boot's initramfs: modules, mounts, then `extension-mount --init`.
fn initramfs(env: &Env, arch: &Arch, k: &Kernel) -> PathBuf {
    let dir = env.work.join(format!("initramfs-{}", arch.name));
    // The hostapp's init for a foreign guest is its own (see boot.rs).
    let init_program = if arch.native() {
        String::new()
    } else {
        format!(" --init-program /sbin/init-{}", arch.name)
    };
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
exec /bin/extension-mount --init{init_program}
"#,
        mods = names.join(" ")
    );
    initramfs_tree(&dir, &init, &arch.busybox());
    for m in &mods {
        fs::copy(m, dir.join("lib/modules").join(m.file_name().unwrap())).unwrap();
    }
    // The static binary, called by its applet name as a device would.
    fs::copy(arch.binary(), dir.join("bin/balena-extension-runtime")).unwrap();
    std::os::unix::fs::symlink("balena-extension-runtime", dir.join("bin/extension-mount"))
        .unwrap();
    let out = env.work.join(format!("initramfs-{}.cpio", arch.name));
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
    arch: &'a Arch,
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
    let mut cmd = Command::new(b.arch.qemu);
    cmd.args(b.arch.machine)
        .args(["-accel", b.accel, "-m", "512", "-smp", "1"]);
    if b.accel == "kvm" {
        cmd.args(["-cpu", "host"]);
    } else if b.arch.name == "x86_64" {
        cmd.args(["-cpu", "max"]);
    }
    cmd.args(["-nographic", "-no-reboot", "-nic", "none"])
        .arg("-kernel")
        .arg(b.kernel)
        .arg("-initrd")
        .arg(b.initrd)
        .arg("-append")
        .arg(&b.append);
    // virtio-blk on PCI on both machines: the same modules, vda then vdb.
    for (i, d) in b.drives.iter().enumerate() {
        cmd.arg("-drive")
            .arg(format!(
                "if=none,id=d{i},file={},format=raw,readonly=on",
                d.display()
            ))
            .arg("-device")
            .arg(format!("virtio-blk-pci,drive=d{i}"));
    }
    let result = spawn(&mut cmd).wait_for(b.limit);
    let (out, finished) = match result {
        Ok(out) => (out, true),
        Err(out) => (out, false),
    };
    let console = out.stdout.replace('\r', "");
    fs::write(
        env.work
            .join(format!("console-{}-{}.txt", b.arch.name, b.name)),
        &console,
    )
    .unwrap();
    if finished && out.success() {
        Ok(console)
    } else {
        let tail: Vec<&str> = console.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        Err(format!(
            "boot \"{}\" ({} {}) {} after {:.1}s; stderr: {}\n--- console tail ---\n{}",
            b.name,
            b.arch.name,
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

/// "kvm" for the host's own architecture when /dev/kvm exists and a probe
/// boot under it reaches its `/init` and powers off in time; "tcg"
/// otherwise.
fn accelerator(env: &Env, arch: &'static Arch, k: &Kernel) -> &'static str {
    if !arch.native() || !Path::new("/dev/kvm").exists() {
        return "tcg";
    }
    let dir = env.work.join("probe");
    initramfs_tree(
        &dir,
        "#!/bin/sh\necho boot-e2e: kvm works\n/bin/poweroff -f\n",
        &arch.busybox(),
    );
    let initrd = env.work.join("probe.cpio");
    cpio(&dir, &initrd);
    let probe = Boot {
        arch,
        name: "kvm-probe",
        accel: "kvm",
        kernel: &k.vmlinuz,
        initrd: &initrd,
        append: format!("console={} panic=-1 quiet", arch.console),
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
    ("mkfs.ext4", "e2fsprogs"),
    ("cpio", "cpio"),
    ("modprobe", "kmod"),
    ("depmod", "kmod"),
    (BUSYBOX, "busybox-static"),
];

fn check_tools(arch: &Arch) {
    let qemu = if arch.native() {
        "qemu-system-x86"
    } else {
        "qemu-system-arm"
    };
    for (tool, package) in TOOLS.iter().chain(&[(arch.qemu, qemu)]) {
        let found = if tool.starts_with('/') {
            Path::new(tool).exists()
        } else {
            std::env::var_os("PATH")
                .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).exists()))
        };
        assert!(found, "the boot needs {tool}: apt-get install {package}");
    }
}

/// The sysroot and data images of a disk, made once for every
/// architecture: the clean one and one with a data reset pending.
struct Images {
    sysroot: PathBuf,
    data: PathBuf,
    purged: PathBuf,
    crowded: PathBuf,
    /// A sysroot whose `current` names a hostapp that is not there.
    no_hostapp: PathBuf,
}

fn images(env: &Env, disk: &Disk, crowded: &Disk) -> Images {
    let im = Images {
        sysroot: env.work.join("sysroot.img"),
        data: env.work.join("data.img"),
        purged: env.work.join("data-purge.img"),
        crowded: env.work.join("data-crowded.img"),
        no_hostapp: env.work.join("sysroot-no-hostapp.img"),
    };
    if !im.no_hostapp.exists() {
        let tree = env.work.join("sysroot-no-hostapp");
        let _ = fs::remove_dir_all(&tree);
        fs::create_dir_all(tree.join("balena")).unwrap();
        std::os::unix::fs::symlink(
            format!("balena/containers/{MISSING_HOSTAPP}"),
            tree.join("current"),
        )
        .unwrap();
        ext4(&tree, &im.no_hostapp, "sysroot");
        ext4(&disk.sysroot, &im.sysroot, "sysroot");
        ext4(&disk.data, &im.data, "data");
        ext4(&crowded.data, &im.crowded, "data");
        // A pending reset: the data partition without remove_me_to_reset.
        let marker = disk.data.join("remove_me_to_reset");
        fs::remove_file(&marker).unwrap();
        ext4(&disk.data, &im.purged, "data");
        fs::write(&marker, "").unwrap();
    }
    im
}

/// The boots of the disk on `arch`, each checked on its console: plain,
/// `balena.nohostext`, a pending data reset, the crowded disk, and a
/// sysroot without its hostapp.
pub fn boot_all(env: &Env, disk: &Disk, crowded: &Disk, arch: &'static Arch) {
    check_tools(arch);
    let k = kernel(arch);
    let initrd = initramfs(env, arch, &k);
    let im = images(env, disk, crowded);

    let accel = accelerator(env, arch, &k);
    // (name, extra command line, disk, its data image, extensions on?,
    // the decision line when off)
    let cases: [(&str, &str, &Disk, &Path, bool, &str); 4] = [
        ("plain", "", disk, &im.data, true, ""),
        (
            "nohostext",
            "balena.nohostext",
            disk,
            &im.data,
            false,
            "extensions disabled: balena.nohostext",
        ),
        (
            "purge",
            "",
            disk,
            &im.purged,
            false,
            "extensions disabled: no /mnt/data/remove_me_to_reset",
        ),
        ("crowded", "", crowded, &im.crowded, true, ""),
    ];
    for (name, extra, on_disk, data_img, extensions, decision) in cases {
        let want = on_disk.expected();
        let b = Boot {
            arch,
            name,
            accel,
            kernel: &k.vmlinuz,
            initrd: &initrd,
            append: format!(
                "console={} panic=-1 quiet balena_kernel_abi={ABI_RUNNING} {extra}",
                arch.console
            ),
            drives: vec![&im.sysroot, data_img],
            limit: BOOT_LIMIT,
        };
        let started = std::time::Instant::now();
        let console = boot(env, &b).unwrap_or_else(|e| panic!("{e}"));
        let fail = |what: &str| -> ! {
            panic!(
                "boot \"{name}\" ({}): {what}\n--- console ---\n{console}",
                arch.name
            )
        };
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
            "boot {name} ({} {accel}, kernel {}, {} extensions): /init at {init:.2} s, /sbin/init at {sbin_init:.2} s: \
             {:.2} s from /init to /sbin/init, {:.2} s of it from extension-mount's start; \
             {:.1} s from qemu's start to power-off",
            arch.name,
            k.release,
            if extensions { want.overlaid.len() } else { 0 },
            sbin_init - init,
            sbin_init - applet,
            started.elapsed().as_secs_f64()
        ));
    }

    // A hostapp that cannot be mounted: a clear line, then extension-mount
    // exits and the kernel panics (panic=-1 reboots, which ends qemu): the
    // boot ends by itself, never a silent hang.
    let b = Boot {
        arch,
        name: "no-hostapp",
        accel,
        kernel: &k.vmlinuz,
        initrd: &initrd,
        append: format!("console={} panic=-1 quiet", arch.console),
        drives: vec![&im.no_hostapp, &im.data],
        limit: BOOT_LIMIT,
    };
    let console = boot(env, &b).unwrap_or_else(|e| panic!("{e}"));
    let short = &MISSING_HOSTAPP[..12];
    let said = console
        .lines()
        .any(|l| l.starts_with(&format!("extension-mount: hostapp {short}: cannot")));
    assert!(
        said && console.contains("Kernel panic") && !console.contains("boot-e2e: /sbin/init"),
        "boot \"no-hostapp\" ({}): expected `extension-mount: hostapp {short}: cannot ...` \
         and a kernel panic, no /sbin/init\n--- console ---\n{console}",
        arch.name
    );
    say(&format!(
        "boot no-hostapp ({} {accel}): extension-mount said why and the kernel panicked",
        arch.name
    ));
}
