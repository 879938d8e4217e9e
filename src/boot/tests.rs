//! The planner's unit tests, on data roots crafted on disk.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::PathBuf;

use super::plan::{plan, Plan};
use super::{Method, Paths};

#[path = "../../tests/common/overlay2.rs"]
mod overlay2;

use overlay2::{container, file, OK};

const RELEASE: &str = "6.1.0-57-amd64";

/// A sysroot (hostapp) and a data partition under one temp dir.
struct Disk {
    dir: PathBuf,
}

impl Drop for Disk {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

impl Disk {
    /// The hostapp has two image layers.
    fn new(tag: &str) -> Disk {
        let dir = std::env::temp_dir().join(format!("ber-boot-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        overlay2::disk(&dir, 2);
        Disk { dir }
    }

    fn hostapp_root(&self) -> PathBuf {
        self.dir.join("sys/balena")
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data/docker")
    }

    fn paths(&self) -> Paths {
        Paths {
            sysroot: self.dir.join("sys"),
            data_root: self.data(),
            cmdline: self.dir.join("cmdline"),
            kernel_release: Some(RELEASE.into()),
        }
    }

    fn plan(&self) -> Plan {
        plan(&self.paths()).unwrap()
    }

    /// An installed container with one image layer.
    fn ext(&self, id: &str, name: &str, labels: &str) {
        container(&self.data(), id, name, labels, OK, 1);
    }
}

fn overlay(extra: &str) -> String {
    format!(r#"{{"io.balena.image.class":"overlay"{extra}}}"#)
}

fn names(p: &Plan) -> Vec<&str> {
    p.extensions.iter().map(|e| e.name.as_str()).collect()
}

fn skipped(p: &Plan) -> Vec<(String, String)> {
    p.skipped
        .iter()
        .map(|s| (s.name.clone(), s.reason.clone()))
        .collect()
}

#[test]
fn orders_overrides_then_the_hostapp_then_plain_extensions_by_name() {
    let d = Disk::new("order");
    d.ext("e5", "zeta", &overlay(""));
    d.ext("e4", "alpha", &overlay(""));
    d.ext("e3", "k20", &overlay(r#","io.balena.image.override":"20""#));
    d.ext(
        "e2",
        "k10b",
        &overlay(r#","io.balena.image.override":"10""#),
    );
    d.ext(
        "e1",
        "k10a",
        &overlay(r#","io.balena.image.override":"10""#),
    );
    d.ext("e0", "alpha", &overlay(""));
    let p = d.plan();
    assert_eq!(names(&p), ["k10a", "k10b", "k20", "alpha", "alpha", "zeta"]);
    // Same name: by ID.
    assert_eq!(p.extensions[3].id, "e0");
    let data = d.data().join("overlay2");
    let host = d.hostapp_root().join("overlay2");
    let want: Vec<PathBuf> = [
        data.join("e1/diff"),
        data.join("e1-img0/diff"),
        data.join("e2/diff"),
        data.join("e2-img0/diff"),
        data.join("e3/diff"),
        data.join("e3-img0/diff"),
        host.join("hostapp/diff"),
        host.join("hostapp-img0/diff"),
        host.join("hostapp-img1/diff"),
        data.join("e0/diff"),
        data.join("e0-img0/diff"),
        data.join("e4/diff"),
        data.join("e4-img0/diff"),
        data.join("e5/diff"),
        data.join("e5-img0/diff"),
    ]
    .into();
    let got: Vec<PathBuf> = p.lowerdir().iter().map(|l| l.to_path_buf()).collect();
    assert_eq!(got, want);
    assert_eq!(p.hostapp_id, "hostapp");
    assert!(p.skipped.is_empty());
}

#[test]
fn only_installed_extensions_are_overlaid() {
    let d = Disk::new("installed");
    let data = d.data();
    d.ext("ok", "ok", &overlay(""));
    container(
        &data,
        "rej",
        "rejected",
        &overlay(""),
        r#"{"Running":false,"ExitCode":7,"Error":"","StartedAt":"2026-01-01T00:00:00Z"}"#,
        1,
    );
    container(
        &data,
        "cre",
        "created",
        &overlay(""),
        r#"{"Running":false,"ExitCode":0,"Error":"","StartedAt":"0001-01-01T00:00:00Z"}"#,
        1,
    );
    container(
        &data,
        "fail",
        "failed",
        &overlay(""),
        r#"{"Running":false,"ExitCode":128,"Error":"hook said no","StartedAt":"0001-01-01T00:00:00Z"}"#,
        1,
    );
    container(
        &data,
        "dead",
        "dead",
        &overlay(""),
        r#"{"Running":false,"ExitCode":0,"Dead":true,"StartedAt":"2026-01-01T00:00:00Z"}"#,
        1,
    );
    // Not an extension at all: not listed anywhere.
    container(&data, "app", "app", "{}", OK, 1);
    let p = d.plan();
    assert_eq!(names(&p), ["ok"]);
    let mut s = skipped(&p);
    s.sort();
    assert_eq!(
        s,
        [
            ("created".into(), "created but never started".into()),
            ("dead".into(), "dead".into()),
            ("failed".into(), "create failed: hook said no".into()),
            (
                "rejected".into(),
                "start hook rejected it (exited 7)".into()
            ),
        ]
    );
}

#[test]
fn legacy_labelled_containers_are_overlaid_and_reported() {
    let d = Disk::new("legacy");
    d.ext("old", "old", r#"{"io.balena.features.host-extension":"1"}"#);
    let p = d.plan();
    assert_eq!(names(&p), ["old"]);
    assert!(p.extensions[0].legacy);
}

#[test]
fn invalid_override_priorities_and_broken_records_are_skipped() {
    let d = Disk::new("invalid");
    d.ext(
        "bad",
        "bad",
        &overlay(r#","io.balena.image.override":"high""#),
    );
    d.ext(
        "neg",
        "neg",
        &overlay(r#","io.balena.image.override":"-1""#),
    );
    d.ext("torn", "torn", &overlay(""));
    let rec = d.data().join("containers/torn/config.v2.json");
    let text = fs::read_to_string(&rec).unwrap();
    fs::write(&rec, &text[..text.len() / 2]).unwrap();
    let p = d.plan();
    assert!(p.extensions.is_empty());
    let s = skipped(&p);
    assert_eq!(s.len(), 3, "{s:?}");
    assert!(s
        .iter()
        .any(|(n, r)| n == "bad" && r == "override priority \"high\" is not a number"));
    assert!(s.iter().any(|(n, _)| n == "neg"));
    assert!(s
        .iter()
        .any(|(_, r)| r.ends_with("is not valid JSON (truncated or corrupt)")));
}

#[test]
fn claims_skip_extensions_for_another_kernel_or_os() {
    let d = Disk::new("claims");
    let host = d.hostapp_root();
    file(
        &host,
        "hostapp",
        "usr/lib/os-release",
        "VERSION_ID=\"2.113.18\"\n",
    );
    file(
        &host,
        "hostapp",
        &format!("lib/modules/{RELEASE}/Module.symvers"),
        "symbols\n",
    );
    let sha = crate::sha256::hex_of(&b"symbols\n"[..]).unwrap();
    d.ext(
        "kv",
        "kv-ok",
        &overlay(r#","io.balena.image.kernel-version":"6.1.0""#),
    );
    d.ext(
        "kx",
        "kv-old",
        &overlay(r#","io.balena.image.kernel-version":"5.15.92""#),
    );
    d.ext(
        "km",
        "kv-bad",
        &overlay(r#","io.balena.image.kernel-version":"six""#),
    );
    d.ext(
        "os",
        "os-ok",
        &overlay(r#","io.balena.image.os-version":"2.113.*""#),
    );
    d.ext(
        "ox",
        "os-old",
        &overlay(r#","io.balena.image.os-version":"2.100.*""#),
    );
    d.ext(
        "ab",
        "abi-ok",
        &overlay(&format!(r#","io.balena.image.kernel-abi-id":"{sha}""#)),
    );
    d.ext(
        "ax",
        "abi-old",
        &overlay(&format!(
            r#","io.balena.image.kernel-abi-id":"{}""#,
            "0".repeat(64)
        )),
    );
    // Its own Module.symvers, not the hostapp's, is what its id is about.
    let own = crate::sha256::hex_of(&b"own\n"[..]).unwrap();
    d.ext(
        "ao",
        "abi-own",
        &overlay(&format!(r#","io.balena.image.kernel-abi-id":"{own}""#)),
    );
    file(
        &d.data(),
        "ao",
        &format!("lib/modules/{RELEASE}/Module.symvers"),
        "own\n",
    );
    let p = d.plan();
    assert_eq!(names(&p), ["abi-ok", "abi-own", "kv-ok", "os-ok"]);
    let s = skipped(&p);
    let reason = |n: &str| {
        s.iter()
            .find(|(x, _)| x == n)
            .map(|(_, r)| r.clone())
            .unwrap()
    };
    assert_eq!(
        reason("kv-old"),
        "kernel-version does not hold: claims 5.15.92, the running kernel is 6.1.0"
    );
    assert!(reason("kv-bad").starts_with("kernel-version cannot be decided: "));
    assert!(reason("os-old").starts_with("os-version does not hold: "));
    assert!(reason("abi-old").starts_with("kernel-abi-id does not hold: "));
    // The command line's identity wins over any Module.symvers.
    fs::write(
        d.dir.join("cmdline"),
        format!("balena_kernel_abi={}\n", "0".repeat(64)),
    )
    .unwrap();
    let p = d.plan();
    assert_eq!(names(&p), ["abi-old", "kv-ok", "os-ok"]);
}

#[test]
fn a_huge_module_symvers_is_not_hashed_at_boot() {
    let d = Disk::new("bigsymvers");
    d.ext(
        "big",
        "big",
        &overlay(&format!(
            r#","io.balena.image.kernel-abi-id":"{}""#,
            "0".repeat(64)
        )),
    );
    // Sparse: no disk, but every byte would be read and hashed.
    let rel = format!("lib/modules/{RELEASE}/Module.symvers");
    file(&d.data(), "big", &rel, "");
    let f = fs::OpenOptions::new()
        .write(true)
        .open(overlay2::image(&d.data(), "big", 0).join(&rel))
        .unwrap();
    f.set_len(super::plan::MAX_SYMVERS + 1).unwrap();
    let p = d.plan();
    let s = skipped(&p);
    assert_eq!(s.len(), 1, "{s:?}");
    // Not compared (hashed) at all: neither it nor the hostapp has one.
    assert!(
        s[0].1.starts_with("kernel-abi-id cannot be decided: "),
        "{s:?}"
    );
}

#[test]
fn switches_on_the_command_line_and_a_pending_reset_disable_extensions() {
    let d = Disk::new("disabled");
    d.ext("e", "e", &overlay(""));
    for word in ["balena.nohostext", "mobynit.no_overlays", "emergency"] {
        fs::write(
            d.dir.join("cmdline"),
            format!("root=/dev/sda2 {word} quiet\n"),
        )
        .unwrap();
        let p = d.plan();
        assert_eq!(p.disabled.as_ref().map(|x| x.0), Some(word));
        assert!(p.extensions.is_empty());
        assert_eq!(p.lowerdir().len(), 3);
    }
    fs::write(d.dir.join("cmdline"), "balena.nohostextra\n").unwrap();
    assert!(d.plan().disabled.is_none());
    // An unreadable command line could hide a rescue switch.
    fs::remove_file(d.dir.join("cmdline")).unwrap();
    let p = d.plan();
    let (by, why) = p.disabled.as_ref().unwrap();
    assert_eq!(*by, "cmdline");
    assert!(
        why.starts_with("cannot read the kernel command line: "),
        "{why}"
    );
    fs::write(d.dir.join("cmdline"), "\n").unwrap();
    fs::remove_file(d.dir.join("data/remove_me_to_reset")).unwrap();
    let p = d.plan();
    assert_eq!(p.disabled.as_ref().map(|x| x.0), Some("remove_me_to_reset"));
    assert!(p.extensions.is_empty());
    // A data partition that is not there is not a pending reset.
    fs::remove_dir_all(d.dir.join("data")).unwrap();
    let p = d.plan();
    let (by, why) = p.disabled.as_ref().unwrap();
    assert_eq!(*by, "data-root");
    assert_eq!(*why, format!("no data root at {}", d.data().display()));
}

#[test]
fn extensions_that_do_not_fit_are_dropped_lowest_first_and_reported() {
    let d = Disk::new("fit");
    for i in 0..300 {
        d.ext(&format!("e{i:03}"), &format!("ext{i:03}"), &overlay(""));
    }
    let mut p = d.plan();
    // 300 extensions of 2 layers and the hostapp's 3: past overlayfs's 500.
    assert!(p.method == Method::ShortLinks);
    assert_eq!(p.lowerdir().len(), 499);
    assert_eq!(p.extensions.len(), 248);
    assert_eq!(p.skipped.len(), 52);
    assert_eq!(p.skipped[0].name, "ext299");
    assert!(p.skipped[0]
        .reason
        .ends_with("layers, overlayfs stacks at most 500"));
    // A page of short links holds hundreds of layers.
    let page = crate::sys::page_size();
    p.method = Method::ShortLinks;
    assert!(p.method.fits(499, page.max(4096)).is_ok());
    assert!(Method::ShortLinks
        .fits(400, 1024)
        .unwrap_err()
        .contains("bytes of mount options"));
}

#[test]
fn the_hostapp_must_be_plannable() {
    let d = Disk::new("hostapp");
    fs::remove_file(d.dir.join("sys/current")).unwrap();
    let err = plan(&d.paths()).err().unwrap();
    assert!(err.msg.starts_with("no hostapp: "), "{}", err.msg);
    symlink("../../etc", d.dir.join("sys/current")).unwrap();
    assert!(plan(&d.paths()).is_err());
    fs::remove_file(d.dir.join("sys/current")).unwrap();
    symlink("x/hostapp", d.dir.join("sys/current")).unwrap();
    fs::remove_dir(d.hostapp_root().join("overlay2/hostapp-img1/diff")).unwrap();
    let err = plan(&d.paths()).err().unwrap();
    assert!(
        err.msg.starts_with("hostapp hostapp: ") && err.msg.ends_with("is missing"),
        "{}",
        err.msg
    );
}

#[test]
fn methods_follow_the_kernel_release() {
    assert!(Method::for_release("6.8.0") == Method::LowerdirPlus);
    assert!(Method::for_release("6.18.1-arch") == Method::LowerdirPlus);
    assert!(Method::for_release("6.1.0-57-amd64") == Method::ShortLinks);
    assert!(Method::for_release("5.15.92-v8") == Method::ShortLinks);
    assert!(Method::for_release("junk") == Method::ShortLinks);
}
