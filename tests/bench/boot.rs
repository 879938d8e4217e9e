//! `make bench`, second part: `extension-mount` on crafted disks of 1, 20
//! and 60 extensions (engine-length IDs, two layers each, as a device's
//! data partition has them): the plan's time, and as root the mount's
//! time with each method, medians of `BENCH_BOOT_N` runs (default 30).
//! Also the page arithmetic: how many of these extensions one mount(2)
//! could name by absolute paths (the public implementation's kind of
//! limit) against the short links. Figures only; no budgets.
//!
//! Usage: boot [RUNTIME] (default: dist/balena-extension-runtime).

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const OK: &str = r#"{"Running":false,"ExitCode":0,"Error":"","StartedAt":"2026-01-01T00:00:00Z"}"#;

fn main() {
    let bin = std::env::args()
        .nth(1)
        .filter(|a| !a.starts_with('-'))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("dist/balena-extension-runtime"));
    let bin = fs::canonicalize(&bin).unwrap_or_else(|e| {
        eprintln!("bench: {}: {e}", bin.display());
        std::process::exit(1)
    });
    let n: usize = std::env::var("BENCH_BOOT_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let root = std::env::temp_dir().join(format!("ber-bench-boot-{}", std::process::id()));
    let links = root.join("bin");
    fs::create_dir_all(&links).unwrap();
    symlink(&bin, links.join("extension-mount")).unwrap();
    let applet = links.join("extension-mount");
    // SAFETY: plain integer syscalls; as root, a private mount namespace
    // for this process and its children keeps the mounts off the host.
    let can_mount = unsafe { libc::getuid() == 0 && libc::unshare(libc::CLONE_NEWNS) == 0 }
        && Command::new("mount")
            .args(["--make-rprivate", "/"])
            .status()
            .is_ok_and(|s| s.success());
    println!("== extension-mount ({n} runs each, median)");
    println!(
        "{:>10} {:>7} {:>12} {:>16} {:>18}",
        "extensions", "layers", "plan", "mount lowerdir+", "mount short-links"
    );
    for count in [1usize, 20, 60] {
        let disk = root.join(format!("disk{count}"));
        make_disk(&disk, count);
        let args = paths(&disk);
        let plan = median(n, || {
            let t = Instant::now();
            let ok = Command::new(&applet)
                .arg("--plan")
                .args(&args)
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "plan failed");
            t.elapsed()
        });
        let layers = 3 + 2 * count;
        let mut mounts = Vec::new();
        for method in ["", "short-links"] {
            if !can_mount {
                mounts.push("(needs root)".to_string());
                continue;
            }
            let target = disk.join("mnt");
            let c = std::ffi::CString::new(target.to_str().unwrap()).unwrap();
            mounts.push(fmt(median(n, || {
                let t = Instant::now();
                let ok = Command::new(&applet)
                    .arg("--target")
                    .arg(&target)
                    .args(&args)
                    .env("BER_EXTENSION_MOUNT_METHOD", method)
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                let took = t.elapsed();
                assert!(ok, "mount failed");
                // SAFETY: a NUL-terminated path.
                unsafe { libc::umount2(c.as_ptr(), 0) };
                took
            })));
        }
        println!(
            "{count:>10} {layers:>7} {:>12} {:>16} {:>18}",
            fmt(plan),
            mounts[0],
            mounts[1]
        );
    }
    // The page arithmetic with this bench's own paths.
    let page = 4096usize;
    let disk = root.join("disk60");
    let abs_layer = disk
        .join(format!("data/docker/overlay2/{}/diff", id(0)))
        .display()
        .to_string()
        .len();
    let per_ext_abs = 2 * (abs_layer + 1);
    let host_abs = 3 * (abs_layer + 1);
    let abs_fit = (page - 1 - "lowerdir=".len() - host_abs) / per_ext_abs;
    let mut short_fit = 0;
    while short_len(3 + 2 * (short_fit + 1)) < page && 3 + 2 * (short_fit + 1) <= 500 {
        short_fit += 1;
    }
    println!(
        "\n== one page ({page} bytes) of lowerdir= with these paths ({abs_layer}-byte layer paths)"
    );
    println!("absolute layer paths: {abs_fit} extensions of 2 layers");
    println!(
        "short links (descriptor numbers): {short_fit} extensions (overlayfs's 500 layers first)"
    );
    let _ = fs::remove_dir_all(&root);
}

fn short_len(n: usize) -> usize {
    "lowerdir=".len() + (3..3 + n).map(|fd| fd.to_string().len()).sum::<usize>() + n - 1
}

fn fmt(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn median(n: usize, mut f: impl FnMut() -> Duration) -> Duration {
    // One run untimed: the first pays for cold caches.
    f();
    let mut v: Vec<Duration> = (0..n.max(1)).map(|_| f()).collect();
    v.sort();
    v[v.len() / 2]
}

fn id(i: usize) -> String {
    format!("{i:04}{}", "e".repeat(60))
}

fn paths(disk: &Path) -> Vec<String> {
    let p = |s: &str| disk.join(s).display().to_string();
    vec![
        "--sysroot".into(),
        p("sys"),
        "--data-root".into(),
        p("data/docker"),
        "--cmdline".into(),
        p("cmdline"),
        "--kernel-release".into(),
        "6.1.0".into(),
    ]
}

fn make_disk(d: &Path, count: usize) {
    fs::create_dir_all(d.join("data/docker")).unwrap();
    fs::create_dir_all(d.join("mnt")).unwrap();
    fs::write(d.join("data/remove_me_to_reset"), "").unwrap();
    fs::write(d.join("cmdline"), "console=ttyS0\n").unwrap();
    let host = d.join("sys/balena");
    container(&host, "hostapp", "hostapp", "null", 2);
    symlink("/x/hostapp", d.join("sys/current")).unwrap();
    for i in 0..count {
        container(
            &d.join("data/docker"),
            &id(i),
            &format!("ext{i}"),
            r#"{"io.balena.image.class":"overlay"}"#,
            1,
        );
    }
}

fn container(root: &Path, id: &str, name: &str, labels: &str, images: usize) {
    let o = root.join("overlay2");
    fs::create_dir_all(o.join("l")).unwrap();
    let mut lower = Vec::new();
    let mut dirs = vec![format!("{id}-init")];
    dirs.extend((0..images).map(|i| format!("{id}{i}img")));
    for (k, dir) in dirs.iter().enumerate() {
        fs::create_dir_all(o.join(dir).join("diff/usr/lib")).unwrap();
        fs::write(o.join(dir).join("diff/usr/lib").join(name), "x").unwrap();
        // 26 characters, as the engine's.
        let short = format!(
            "{:0>24}{k:02}",
            name.replace(|c: char| !c.is_ascii_alphanumeric(), "")
        );
        symlink(format!("../{dir}/diff"), o.join("l").join(&short)).unwrap();
        lower.push(format!("l/{short}"));
    }
    fs::create_dir_all(o.join(id).join("diff")).unwrap();
    fs::write(o.join(id).join("lower"), lower.join(":")).unwrap();
    let m = root.join("image/overlay2/layerdb/mounts").join(id);
    fs::create_dir_all(&m).unwrap();
    fs::write(m.join("mount-id"), id).unwrap();
    let c = root.join("containers").join(id);
    fs::create_dir_all(&c).unwrap();
    fs::write(
        c.join("config.v2.json"),
        format!(
            r#"{{"Name":"/{name}","State":{OK},"Config":{{"Image":"{name}:1","Labels":{labels}}}}}"#
        ),
    )
    .unwrap();
}
