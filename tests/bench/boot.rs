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

#[path = "../common/overlay2.rs"]
mod overlay2;

use overlay2::OK;

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
        let args = overlay2::args(&disk);
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

/// The hostapp with two image layers and `count` extensions with one.
fn make_disk(d: &Path, count: usize) {
    fs::create_dir_all(d.join("mnt")).unwrap();
    put(overlay2::disk(d, 2), "hostapp");
    let data = d.join("data/docker");
    let labels = r#"{"io.balena.image.class":"overlay"}"#;
    for i in 0..count {
        let name = format!("ext{i}");
        put(
            overlay2::container(&data, &id(i), &name, labels, OK, 1),
            &name,
        );
    }
}

/// A file `usr/lib/<name>` in each of a container's lower layers.
fn put(layers: Vec<PathBuf>, name: &str) {
    for diff in layers {
        fs::create_dir_all(diff.join("usr/lib")).unwrap();
        fs::write(diff.join("usr/lib").join(name), "x").unwrap();
    }
}
