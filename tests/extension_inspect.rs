//! `extension-inspect` against a fake host root and fixture extensions:
//! every check, both output formats and the exit status.

mod common;

use common::*;
use miniserde::json::{Object, Value};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Output;

const RELEASE: &str = "5.15.92-v8";
const SYMVERS: &str = "symbols\n";
/// sha256 of SYMVERS.
const SYMVERS_SHA: &str = "9c56ff3b4925c42ef26c38e46e9bf6be42ff5ef99922c88b52fde9ae4361e238";
/// What balenaOS's initramfs puts on the command line: the kernel image's
/// sha256 (any 64 hex digits here).
const IMAGE_SHA: &str = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809";
const FROM_CMDLINE: &str = "balena_kernel_abi= on /proc/cmdline";

/// A host root as a balenaOS device has it: os-release, kernel, loader,
/// shell, init, engine, boot files.
fn fake_host(dir: &Path) -> PathBuf {
    let h = dir.join("host");
    let file = |p: &str, body: &str| {
        let path = h.join(p);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, body).unwrap();
    };
    file(
        "etc/os-release",
        "NAME=\"balenaOS\"\nVERSION_ID=\"2.113.18\"\n",
    );
    file("proc/sys/kernel/osrelease", &format!("{RELEASE}\n"));
    file(
        "proc/cmdline",
        "console=ttyS0 root=/dev/mmcblk0p2 rootwait\n",
    );
    file(&format!("lib/modules/{RELEASE}/Module.symvers"), SYMVERS);
    file("lib/ld-linux-aarch64.so.1", "");
    file("boot/config.txt", "");
    file("usr/share/doc/readme", "");
    for exe in [
        "bin/busybox",
        "sbin/init",
        "usr/bin/balena-engine",
        "usr/bin/env",
        "usr/bin/tool",
    ] {
        write_script(&h.join(exe), "");
    }
    symlink("busybox", h.join("bin/sh")).unwrap();
    h
}

struct Fx {
    t: TempDir,
    host: PathBuf,
}

impl Fx {
    fn new(tag: &str) -> Fx {
        let t = TempDir::new(tag);
        let host = fake_host(t.path());
        Fx { t, host }
    }

    /// A bundle with these extra labels (JSON object members) besides the
    /// overlay class.
    fn bundle(&self, labels: &str) -> PathBuf {
        let sep = if labels.is_empty() { "" } else { "," };
        bundle(self.t.path(), &format!("{OVERLAY}{sep}{labels}"))
    }

    fn rootfs(&self) -> PathBuf {
        self.t.join("bundle/rootfs")
    }

    /// extension-inspect with this host and a private (empty) state root.
    fn inspect(&self, args: &[&str]) -> Output {
        let state = self.t.join("state");
        let mut all = vec![
            "extension-inspect",
            "--host-root",
            self.host.to_str().unwrap(),
            "--root",
            state.to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        run(&binary(), &all)
    }

    fn inspect_json(&self, target: &Path) -> (i32, Object) {
        let o = self.inspect(&["--json", target.to_str().unwrap()]);
        (o.status.code().unwrap(), parse(&o))
    }
}

fn parse(o: &Output) -> Object {
    let text = stdout(o);
    miniserde::json::from_str(&text)
        .unwrap_or_else(|_| panic!("not one JSON object: {text}\nstderr: {}", stderr(o)))
}

/// A value by path: `get(&doc, "host.kernelRelease")`, `"checks.0.status"`.
fn get<'a>(obj: &'a Object, path: &str) -> &'a Value {
    let mut parts = path.split('.');
    let first = parts.next().unwrap();
    let mut v = obj.get(first).unwrap_or_else(|| panic!("no field {first}"));
    for p in parts {
        v = match v {
            Value::Object(o) => o.get(p).unwrap_or_else(|| panic!("no field {p} in {path}")),
            Value::Array(a) => &a[p.parse::<usize>().unwrap()],
            _ => panic!("{path}: {p} is not inside an object or array"),
        };
    }
    v
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".to_string(),
        _ => panic!("not a scalar"),
    }
}

fn arr(v: &Value) -> &Vec<Value> {
    match v {
        Value::Array(a) => a,
        _ => panic!("not an array"),
    }
}

/// The compatibility check named `name`.
fn check<'a>(doc: &'a Object, name: &str) -> &'a Object {
    for c in arr(get(doc, "checks")) {
        if let Value::Object(o) = c {
            if s(&o["name"]) == name {
                return o;
            }
        }
    }
    panic!("no check {name}")
}

fn hook<'a>(doc: &'a Object, name: &str) -> &'a Object {
    for c in arr(get(doc, "hooks")) {
        if let Value::Object(o) = c {
            if s(&o["name"]) == name {
                return o;
            }
        }
    }
    panic!("no hook {name}")
}

fn problems(doc: &Object) -> String {
    arr(get(doc, "problems"))
        .iter()
        .map(s)
        .collect::<Vec<_>>()
        .join("\n")
}

fn warnings(doc: &Object) -> String {
    arr(get(doc, "warnings"))
        .iter()
        .map(s)
        .collect::<Vec<_>>()
        .join("\n")
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap()
}

const COMPATIBLE_LABELS: &str = "\"io.balena.image.kernel-version\":\"5.15.92\",\
     \"io.balena.image.os-version\":\"2.113.*\",\
     \"io.balena.image.requires-reboot\":\"false\"";

#[test]
fn a_valid_compatible_extension_exits_0_by_either_name() {
    let fx = Fx::new("ok");
    let b = fx.bundle(COMPATIBLE_LABELS);
    write_script(&b.join("rootfs/hooks/create"), "#!/bin/sh\necho hi\n");
    let o = fx.inspect(&[b.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("valid and compatible with this host"), "{out}");
    assert!(!out.contains("problems:"), "{out}");

    // Through a symlink named extension-inspect, as installed.
    let bin = fx.t.join("bin");
    fs::create_dir(&bin).unwrap();
    install(&bin);
    let o = run(
        &bin.join("extension-inspect"),
        &[
            "--host-root",
            fx.host.to_str().unwrap(),
            "--root",
            fx.t.join("state").to_str().unwrap(),
            b.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(stdout(&o), out, "same report by either name");
}

#[test]
fn a_wrong_class_is_invalid_and_names_what_was_expected() {
    let fx = Fx::new("class");
    let b = bundle(fx.t.path(), "\"io.balena.image.class\":\"volume\"");
    let (c, doc) = fx.inspect_json(&b);
    assert_eq!(c, 1);
    assert_eq!(s(get(&doc, "valid")), "false");
    assert_eq!(s(get(&doc, "labels.0.status")), "invalid");
    assert!(
        problems(&doc).contains("expected \"overlay\""),
        "{}",
        problems(&doc)
    );
}

#[test]
fn a_legacy_host_extension_is_recognised_and_explained() {
    let fx = Fx::new("legacy");
    let b = bundle(fx.t.path(), "\"io.balena.features.host-extension\":\"1\"");
    let o = fx.inspect(&[b.to_str().unwrap()]);
    assert_eq!(code(&o), 1);
    let out = stdout(&o);
    assert!(out.contains("legacy"), "{out}");
    assert!(out.contains("class") && out.contains("missing"), "{out}");
    let (_, doc) = fx.inspect_json(&b);
    assert!(
        problems(&doc).contains("legacy host extension, io.balena.features.host-extension: balenaOS overlays those at boot"),
        "{}",
        problems(&doc)
    );
}

#[test]
fn a_malformed_kernel_version_or_reboot_label_is_invalid() {
    let fx = Fx::new("kver");
    let b = fx.bundle("\"io.balena.image.kernel-version\":\"5.15\"");
    let (c, doc) = fx.inspect_json(&b);
    assert_eq!(c, 1);
    assert_eq!(s(get(&doc, "valid")), "false");
    assert!(
        problems(&doc).contains("MAJOR.MINOR.PATCH"),
        "{}",
        problems(&doc)
    );
    assert_eq!(s(&check(&doc, "kernel-version")["status"]), "invalid");

    let fx = Fx::new("reboot");
    let b = fx.bundle("\"io.balena.image.requires-reboot\":\"maybe\"");
    let (c, doc) = fx.inspect_json(&b);
    assert_eq!(c, 1);
    assert!(
        problems(&doc).contains("expected true or false"),
        "{}",
        problems(&doc)
    );
}

#[test]
fn a_kernel_version_other_than_the_running_one_is_incompatible() {
    let fx = Fx::new("kmis");
    let b = fx.bundle("\"io.balena.image.kernel-version\":\"5.10.1\"");
    let (c, doc) = fx.inspect_json(&b);
    assert_eq!(c, 1);
    assert_eq!(s(get(&doc, "valid")), "true");
    assert_eq!(s(get(&doc, "compatible")), "false");
    let k = check(&doc, "kernel-version");
    assert_eq!(s(&k["status"]), "incompatible");
    assert_eq!(s(&k["extension"]), "5.10.1");
    assert_eq!(s(&k["host"]), "5.15.92", "release up to its first '-'");
    assert_eq!(s(get(&doc, "host.kernelRelease")), RELEASE);

    let b = fx.bundle("\"io.balena.image.kernel-version\":\"5.15.92\"");
    let (c, doc) = fx.inspect_json(&b);
    assert_eq!(c, 0, "{}", problems(&doc));
    assert_eq!(s(&check(&doc, "kernel-version")["status"]), "compatible");
}

#[test]
fn kernel_abi_id_is_the_sha256_of_module_symvers_with_or_without_prefix() {
    let fx = Fx::new("abi");
    for value in [
        format!("sha256:{SYMVERS_SHA}"),
        SYMVERS_SHA.to_string(),
        SYMVERS_SHA.to_uppercase(),
    ] {
        let b = fx.bundle(&format!("\"io.balena.image.kernel-abi-id\":\"{value}\""));
        let (c, doc) = fx.inspect_json(&b);
        assert_eq!(c, 0, "{value}: {}", problems(&doc));
        assert_eq!(s(&check(&doc, "kernel-abi-id")["status"]), "compatible");
        assert_eq!(s(get(&doc, "host.moduleSymversSha256")), SYMVERS_SHA);
    }
    let other = "0".repeat(64);
    for value in [format!("sha256:{other}"), other] {
        let b = fx.bundle(&format!("\"io.balena.image.kernel-abi-id\":\"{value}\""));
        let (c, doc) = fx.inspect_json(&b);
        assert_eq!(c, 1, "{value}");
        assert_eq!(s(&check(&doc, "kernel-abi-id")["status"]), "incompatible");
    }
    // No Module.symvers: the claim cannot be checked; said, not failed.
    fs::remove_file(
        fx.host
            .join(format!("lib/modules/{RELEASE}/Module.symvers")),
    )
    .unwrap();
    let b = fx.bundle(&format!(
        "\"io.balena.image.kernel-abi-id\":\"{SYMVERS_SHA}\""
    ));
    let (c, doc) = fx.inspect_json(&b);
    assert_eq!(c, 0);
    assert_eq!(s(&check(&doc, "kernel-abi-id")["status"]), "unknown");
    assert!(
        warnings(&doc).contains("Module.symvers"),
        "{}",
        warnings(&doc)
    );
}

#[test]
fn the_kernel_abi_comes_from_the_cmdline_token_when_the_os_sets_it() {
    let fx = Fx::new("abitoken");
    let b = fx.bundle(&format!(
        "\"io.balena.image.kernel-abi-id\":\"{SYMVERS_SHA}\""
    ));
    let (c, doc) = fx.inspect_json(&b);
    assert_eq!(c, 0, "{}", problems(&doc));
    assert_eq!(s(get(&doc, "host.kernelAbi")), SYMVERS_SHA);
    assert_eq!(
        s(get(&doc, "host.kernelAbiSource")),
        format!("/lib/modules/{RELEASE}/Module.symvers")
    );
    let out = stdout(&fx.inspect(&[b.to_str().unwrap()]));
    assert!(
        out.contains(&format!(
            "abi      sha256:9c56ff3b... from /lib/modules/{RELEASE}/"
        )),
        "{out}"
    );

    fs::write(
        fx.host.join("proc/cmdline"),
        format!(
            "root=/dev/x balena_kernel_abi={} quiet\n",
            IMAGE_SHA.to_uppercase()
        ),
    )
    .unwrap();
    // The token wins over Module.symvers, which is still reported.
    let (c, doc) = fx.inspect_json(&b);
    assert_eq!(c, 1);
    assert_eq!(s(get(&doc, "host.kernelAbi")), IMAGE_SHA);
    assert_eq!(s(get(&doc, "host.kernelAbiSource")), FROM_CMDLINE);
    assert_eq!(s(get(&doc, "host.moduleSymversSha256")), SYMVERS_SHA);
    let k = check(&doc, "kernel-abi-id");
    assert_eq!(s(&k["status"]), "incompatible");
    assert_eq!(s(&k["host"]), format!("sha256:{IMAGE_SHA}"));
    assert!(
        problems(&doc).contains(&format!(
            "this host has \"sha256:{IMAGE_SHA}\" ({FROM_CMDLINE})"
        )),
        "{}",
        problems(&doc)
    );
    let b = fx.bundle(&format!(
        "\"io.balena.image.kernel-abi-id\":\"sha256:{IMAGE_SHA}\""
    ));
    let o = fx.inspect(&[b.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert!(
        stdout(&o).contains(&format!("abi      sha256:1a2b3c4d... from {FROM_CMDLINE}")),
        "{}",
        stdout(&o)
    );

    // A token that is not a sha256 cannot be checked: a warning, never a
    // fall-back to Module.symvers.
    fs::write(fx.host.join("proc/cmdline"), "balena_kernel_abi=zzz\n").unwrap();
    let b = fx.bundle(&format!(
        "\"io.balena.image.kernel-abi-id\":\"{SYMVERS_SHA}\""
    ));
    let (c, doc) = fx.inspect_json(&b);
    assert_eq!(c, 0, "{}", problems(&doc));
    assert_eq!(s(&check(&doc, "kernel-abi-id")["status"]), "unknown");
    assert!(
        warnings(&doc).contains("is not a sha256"),
        "{}",
        warnings(&doc)
    );
}

#[test]
fn malformed_abi_ids_and_empty_os_version_lists_are_invalid() {
    let fx = Fx::new("badclaims");
    for (label, value, expected) in [
        ("kernel-abi-id", "abcd", "64 hex digits"),
        ("kernel-abi-id", "sha256:", "64 hex digits"),
        ("os-version", " , ", "comma-separated globs"),
        ("os-version", "", "comma-separated globs"),
    ] {
        let b = fx.bundle(&format!("\"io.balena.image.{label}\":\"{value}\""));
        let (c, doc) = fx.inspect_json(&b);
        assert_eq!(c, 1, "{label}={value}");
        assert_eq!(s(get(&doc, "valid")), "false", "{label}={value}");
        assert_eq!(s(&check(&doc, label)["status"]), "invalid");
        assert!(
            problems(&doc).contains(&format!(
                "label io.balena.image.{label}: is \"{value}\", expected"
            )) && problems(&doc).contains(expected),
            "{}",
            problems(&doc)
        );
    }
}

/// The label row named `name`.
fn label<'a>(doc: &'a Object, name: &str) -> &'a Object {
    for l in arr(get(doc, "labels")) {
        if let Value::Object(o) = l {
            if s(&o["name"]) == name {
                return o;
            }
        }
    }
    panic!("no label {name}")
}

#[test]
fn the_labels_balena_os_images_carry_are_explained() {
    let fx = Fx::new("oslabels");
    let b = fx.bundle(
        "\"io.balena.update.requires-reboot\":\"true\",\
         \"io.balena.image.store\":\"data\",\
         \"io.balena.image.override\":\"1\"",
    );
    let (c, doc) = fx.inspect_json(&b);
    assert_eq!(c, 0, "{}", problems(&doc));
    for (name, note) in [
        ("io.balena.update.requires-reboot", "the host must reboot"),
        ("io.balena.image.store", "data partition"),
        (
            "io.balena.image.override",
            "kernel-override extension, priority 1",
        ),
        (
            "io.balena.image.override",
            "deactivate script into its /boot volume",
        ),
    ] {
        let l = label(&doc, name);
        assert_eq!(s(&l["status"]), "ok", "{name}");
        assert!(s(&l["note"]).contains(note), "{name}: {}", s(&l["note"]));
    }
    let out = stdout(&fx.inspect(&[b.to_str().unwrap()]));
    assert!(out.contains("io.balena.update.requires-reboot"), "{out}");
    assert!(out.contains("override"), "{out}");
    // The text report explains them too, within 80 columns.
    assert!(
        out.contains("  override: a kernel-override extension, priority 1"),
        "{out}"
    );
    assert!(
        out.contains("  store: the engine keeps the image on the data partition"),
        "{out}"
    );
    assert!(out.lines().all(|l| l.chars().count() <= 80), "{out}");

    let b =
        fx.bundle("\"io.balena.update.requires-reboot\":\"0\",\"io.balena.image.override\":\"20\"");
    let (c, doc) = fx.inspect_json(&b);
    assert_eq!(c, 0, "{}", problems(&doc));
    let reboot = label(&doc, "io.balena.update.requires-reboot");
    assert!(s(&reboot["note"]).contains("without a reboot"));
    assert!(s(&label(&doc, "io.balena.image.override")["note"]).contains("priority 20"));

    for (name, value, expected) in [
        (
            "io.balena.update.requires-reboot",
            "maybe",
            "expected true or false",
        ),
        ("io.balena.image.store", "", "expected a store name"),
        ("io.balena.image.store", "my data", "expected a store name"),
        (
            "io.balena.image.override",
            "-1",
            "expected a non-negative integer",
        ),
        (
            "io.balena.image.override",
            "+1",
            "expected a non-negative integer",
        ),
        (
            "io.balena.image.override",
            "1.5",
            "expected a non-negative integer",
        ),
        (
            "io.balena.image.override",
            "high",
            "expected a non-negative integer",
        ),
        (
            "io.balena.image.override",
            "",
            "expected a non-negative integer",
        ),
    ] {
        let b = fx.bundle(&format!("\"{name}\":\"{value}\""));
        let (c, doc) = fx.inspect_json(&b);
        assert_eq!(c, 1, "{name}={value}");
        assert_eq!(s(get(&doc, "valid")), "false");
        assert_eq!(s(&label(&doc, name)["status"]), "invalid", "{name}={value}");
        assert!(
            problems(&doc).contains(&format!("label {name}: is \"{value}\", {expected}")),
            "{}",
            problems(&doc)
        );
    }
}

#[test]
fn os_version_globs_match_version_id() {
    let fx = Fx::new("os");
    for (globs, want) in [
        ("2.113.*", 0),
        ("2.112.*, 2.113.1?", 0),
        ("2.[0-9]*.18", 0),
        ("2.112.*", 1),
        ("2.113.1", 1),
        ("3.*,2.11[!3].*", 1),
    ] {
        let b = fx.bundle(&format!("\"io.balena.image.os-version\":\"{globs}\""));
        let (c, doc) = fx.inspect_json(&b);
        assert_eq!(c, want, "{globs}: {}", problems(&doc));
        let k = check(&doc, "os-version");
        assert_eq!(s(&k["host"]), "2.113.18");
        assert_eq!(
            s(&k["status"]),
            if want == 0 {
                "compatible"
            } else {
                "incompatible"
            }
        );
    }
    let b = fx.bundle("");
    let (_, doc) = fx.inspect_json(&b);
    assert_eq!(s(&check(&doc, "os-version")["status"]), "no claim");
}

#[test]
fn balena_nohostext_on_the_kernel_command_line_is_reported() {
    let fx = Fx::new("nohostext");
    let b = fx.bundle("");
    let (_, doc) = fx.inspect_json(&b);
    assert_eq!(s(get(&doc, "host.nohostext")), "false");
    fs::write(
        fx.host.join("proc/cmdline"),
        "root=/dev/x balena.nohostext quiet\n",
    )
    .unwrap();
    let (c, doc) = fx.inspect_json(&b);
    assert_eq!(s(get(&doc, "host.nohostext")), "true");
    assert!(
        warnings(&doc).contains("balena.nohostext"),
        "{}",
        warnings(&doc)
    );
    assert_eq!(c, 0, "a warning, not a failure");
    let out = stdout(&fx.inspect(&[b.to_str().unwrap()]));
    assert!(out.contains("on the cmdline"), "{out}");
}

#[test]
fn hooks_must_be_executable_and_their_interpreter_must_exist_on_the_host() {
    let fx = Fx::new("hooks");
    let b = fx.bundle("");
    let hooks = b.join("rootfs/hooks");
    write_script(&hooks.join("create"), "#!/bin/sh\n");
    write_script(&hooks.join("start"), "#!/usr/bin/env tool -x\n");
    let (c, doc) = fx.inspect_json(&b);
    assert_eq!(c, 0, "{}", problems(&doc));
    assert_eq!(s(&hook(&doc, "create")["status"]), "ok");
    assert_eq!(s(&hook(&doc, "create")["interpreterFound"]), "true");
    assert_eq!(s(&hook(&doc, "start")["interpreter"]), "/usr/bin/env tool");
    assert_eq!(s(&hook(&doc, "delete")["status"]), "absent");

    // Not executable.
    fs::write(hooks.join("delete"), "#!/bin/sh\n").unwrap();
    let (c, doc) = fx.inspect_json(&b);
    assert_eq!(c, 1);
    assert_eq!(s(get(&doc, "valid")), "false");
    assert_eq!(s(&hook(&doc, "delete")["status"]), "not executable");
    assert!(
        problems(&doc).contains("is not executable"),
        "{}",
        problems(&doc)
    );
    fs::remove_file(hooks.join("delete")).unwrap();

    // An interpreter the host lacks, directly or through env.
    write_script(&hooks.join("create"), "#!/bin/bash\n");
    write_script(&hooks.join("start"), "#!/usr/bin/env python3\n");
    let (c, doc) = fx.inspect_json(&b);
    assert_eq!(c, 1);
    assert_eq!(s(get(&doc, "compatible")), "false");
    for name in ["create", "start"] {
        assert_eq!(s(&hook(&doc, name)["status"]), "no interpreter", "{name}");
        assert_eq!(s(&hook(&doc, name)["interpreterFound"]), "false", "{name}");
    }
    assert!(
        problems(&doc).contains("needs /bin/bash"),
        "{}",
        problems(&doc)
    );
    let out = stdout(&fx.inspect(&[b.to_str().unwrap()]));
    assert!(out.contains("/bin/bash (MISSING on host)"), "{out}");

    // Neither a script nor a program.
    write_script(&hooks.join("create"), "echo no shebang\n");
    fs::remove_file(hooks.join("start")).unwrap();
    let (c, doc) = fx.inspect_json(&b);
    assert_eq!(c, 1);
    assert_eq!(s(&hook(&doc, "create")["status"]), "no #! line");
}

#[test]
fn shadowing_essential_host_paths_is_dangerous() {
    let fx = Fx::new("shadow");
    let b = fx.bundle("");
    let r = fx.rootfs();
    fs::create_dir_all(r.join("usr/bin")).unwrap();
    fs::create_dir_all(r.join("usr/share/doc")).unwrap();
    fs::write(r.join("usr/bin/tool"), "mine").unwrap();
    fs::write(r.join("usr/bin/new-tool"), "new").unwrap();
    fs::write(r.join("usr/share/doc/readme"), "").unwrap();
    let (c, doc) = fx.inspect_json(&b);
    assert_eq!(
        c,
        0,
        "ordinary shadows are reported, not refused: {}",
        problems(&doc)
    );
    assert_eq!(s(get(&doc, "shadows.count")), "2");
    assert_eq!(s(get(&doc, "shadows.dangerous")), "0");
    let paths: Vec<String> = arr(get(&doc, "shadows.paths"))
        .iter()
        .map(|p| match p {
            Value::Object(o) => s(&o["path"]),
            _ => panic!(),
        })
        .collect();
    assert_eq!(
        paths,
        ["/usr/bin/tool", "/usr/share/doc/readme"],
        "merged dirs are not shadows"
    );

    for (path, why) in [
        ("etc/os-release", "os-release"),
        ("bin/sh", "the shell"),
        ("lib/ld-linux-aarch64.so.1", "the dynamic loader"),
        ("sbin/init", "init"),
        ("boot/config.txt", "boot files"),
        ("usr/bin/balena-engine", "the container engine"),
    ] {
        let file = r.join(path);
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(&file, "x").unwrap();
        let (c, doc) = fx.inspect_json(&b);
        assert_eq!(c, 1, "{path}");
        assert_eq!(s(get(&doc, "shadows.dangerous")), "1", "{path}");
        assert!(
            problems(&doc).contains(&format!("shadows /{path} ({why}")),
            "{}",
            problems(&doc)
        );
        fs::remove_file(&file).unwrap();
    }

    // A symlink where the host has a directory hides all of it.
    fs::remove_dir_all(r.join("lib")).unwrap();
    symlink("/opt/lib", r.join("lib")).unwrap();
    let (c, doc) = fx.inspect_json(&b);
    assert_eq!(c, 1);
    assert!(
        problems(&doc).contains("shadows /lib (hides the dynamic loader)"),
        "{}",
        problems(&doc)
    );
    let out = stdout(&fx.inspect(&[b.to_str().unwrap()]));
    assert!(out.contains("DANGEROUS: hides the dynamic loader"), "{out}");
}

#[test]
fn shadowing_this_runtime_is_dangerous() {
    let fx = Fx::new("own");
    let bin = fx.host.join("opt/ber");
    fs::create_dir_all(&bin).unwrap();
    install(&bin);
    let b = fx.bundle("");
    fs::create_dir_all(fx.rootfs().join("opt/ber")).unwrap();
    fs::write(fx.rootfs().join("opt/ber/balena-extension-runtime"), "").unwrap();
    let o = run(
        &bin.join("extension-inspect"),
        &[
            "--json",
            "--host-root",
            fx.host.to_str().unwrap(),
            "--root",
            fx.t.join("state").to_str().unwrap(),
            b.to_str().unwrap(),
        ],
    );
    let doc = parse(&o);
    assert_eq!(code(&o), 1);
    assert!(
        problems(&doc).contains("shadows /opt/ber/balena-extension-runtime (this runtime)"),
        "{}",
        problems(&doc)
    );
}

#[test]
fn content_counts_files_dirs_symlinks_and_bytes() {
    let fx = Fx::new("content");
    let b = fx.bundle("");
    let r = fx.rootfs();
    fs::create_dir_all(r.join("a/b")).unwrap();
    fs::write(r.join("a/one"), "12345").unwrap();
    fs::write(r.join("a/b/two"), "1234567").unwrap();
    symlink("/nowhere", r.join("a/link")).unwrap();
    write_script(&r.join("hooks/create"), "#!/bin/sh\n");
    let (_, doc) = fx.inspect_json(&b);
    assert_eq!(s(get(&doc, "content.files")), "3");
    assert_eq!(s(get(&doc, "content.dirs")), "3", "a, a/b, hooks");
    assert_eq!(s(get(&doc, "content.symlinks")), "1");
    assert_eq!(s(get(&doc, "content.bytes")), (5 + 7 + 10).to_string());
}

/// A hostapp partition beside `fake_engine`'s data root: `current` and a
/// two-layer hostapp container in `balena/`.
fn fake_sysroot(dir: &Path) -> PathBuf {
    let s = dir.join("sysroot");
    let o = s.join("balena/overlay2");
    for layer in ["host01", "hostimg"] {
        fs::create_dir_all(o.join(layer).join("diff")).unwrap();
    }
    fs::create_dir_all(o.join("l")).unwrap();
    symlink("../hostimg/diff", o.join("l/HOSTIMG")).unwrap();
    fs::write(o.join("host01/lower"), "l/HOSTIMG").unwrap();
    let m = s.join("balena/image/overlay2/layerdb/mounts/hostapp");
    fs::create_dir_all(&m).unwrap();
    fs::write(m.join("mount-id"), "host01").unwrap();
    symlink("/mnt/sysroot/active/balena/hostapp", s.join("current")).unwrap();
    s
}

#[test]
fn the_next_boot_is_what_extension_mount_would_plan() {
    let fx = Fx::new("nextboot");
    let id = format!("{}{}", "cd34", "0".repeat(60));
    let docker = fake_engine(fx.t.path(), &id, OVERLAY);
    fs::write(fx.t.join("remove_me_to_reset"), "").unwrap();
    let sysroot = fake_sysroot(fx.t.path());
    let args = |target: &str| {
        let o = fx.inspect(&[
            "--json",
            "--docker-root",
            docker.to_str().unwrap(),
            "--data-root",
            docker.to_str().unwrap(),
            "--sysroot",
            sysroot.to_str().unwrap(),
            target,
        ]);
        parse(&o)
    };
    // fake_engine's record has no State: never installed.
    let doc = args(&id);
    assert_eq!(s(get(&doc, "nextBoot.error")), "null");
    assert_eq!(s(get(&doc, "nextBoot.extensions")), "0");
    assert_eq!(s(get(&doc, "nextBoot.skipped")), "1");
    assert_eq!(
        s(get(&doc, "nextBoot.this")),
        "skipped: the record has no State"
    );
    assert!(
        arr(get(&doc, "warnings"))
            .iter()
            .any(|w| s(w) == "the next boot will not overlay it: the record has no State"),
        "{}",
        s(get(&doc, "nextBoot.this"))
    );
    let record = docker.join("containers").join(&id).join("config.v2.json");
    fs::write(
        &record,
        format!(
            "{{\"ID\":\"{id}\",\"Name\":\"/ext\",\"State\":{{\"Running\":false,\"ExitCode\":0,\
             \"Error\":\"\",\"StartedAt\":\"2026-01-01T00:00:00Z\"}},\"Config\":{{\"Labels\":{{{OVERLAY}}}}}}}"
        ),
    )
    .unwrap();
    let doc = args(&id);
    assert_eq!(s(get(&doc, "nextBoot.this")), "overlaid");
    assert_eq!(s(get(&doc, "nextBoot.extensions")), "1");
    assert_eq!(
        s(get(&doc, "nextBoot.layers")),
        "5",
        "hostapp 2 + extension 3"
    );
    // A pending data reset: the hostapp alone.
    fs::remove_file(fx.t.join("remove_me_to_reset")).unwrap();
    let doc = args(&id);
    assert_eq!(s(get(&doc, "nextBoot.disabledBy")), "remove_me_to_reset");
    // No hostapp where balenaOS has it: said, not guessed.
    let (_, doc) = fx.inspect_json(&fx.bundle(""));
    assert!(
        s(get(&doc, "nextBoot.error")).starts_with("no hostapp: "),
        "{}",
        s(get(&doc, "nextBoot.error"))
    );
}

#[test]
fn a_bare_rootfs_takes_its_labels_from_the_command_line() {
    let fx = Fx::new("bare");
    let r = fx.t.join("ext");
    fs::create_dir_all(r.join("usr/lib")).unwrap();
    let o = fx.inspect(&["--json", r.to_str().unwrap()]);
    assert_eq!(code(&o), 1, "no labels: not an extension");
    assert_eq!(s(get(&parse(&o), "kind")), "rootfs");
    let o = fx.inspect(&[
        "--json",
        "--label",
        "io.balena.image.class=overlay",
        "--label",
        "io.balena.image.kernel-version=5.15.92",
        r.to_str().unwrap(),
    ]);
    let doc = parse(&o);
    assert_eq!(code(&o), 0, "{}", problems(&doc));
    assert_eq!(s(get(&doc, "labelSource")), "command line");
    assert_eq!(s(&check(&doc, "kernel-version")["status"]), "compatible");
}

/// A Docker data root holding one container whose image has two layers,
/// not mounted: labels in config.v2.json, files in overlay2.
fn fake_engine(dir: &Path, id: &str, labels: &str) -> PathBuf {
    let d = dir.join("docker");
    let c = d.join("containers").join(id);
    fs::create_dir_all(&c).unwrap();
    fs::write(
        c.join("config.v2.json"),
        format!("{{\"ID\":\"{id}\",\"Config\":{{\"Labels\":{{{labels}}}}}}}"),
    )
    .unwrap();
    let m = d.join("image/overlay2/layerdb/mounts").join(id);
    fs::create_dir_all(&m).unwrap();
    fs::write(m.join("mount-id"), "cafe01").unwrap();
    let o = d.join("overlay2");
    for layer in ["cafe01", "base02", "mid03"] {
        fs::create_dir_all(o.join(layer).join("diff")).unwrap();
    }
    fs::create_dir_all(o.join("cafe01/merged")).unwrap();
    fs::create_dir_all(o.join("l")).unwrap();
    symlink("../mid03/diff", o.join("l/MID")).unwrap();
    symlink("../base02/diff", o.join("l/BASE")).unwrap();
    fs::write(o.join("cafe01/lower"), "l/MID:l/BASE").unwrap();
    // The image: base ships a hook and a file the middle layer replaces.
    write_script(&o.join("base02/diff/hooks/create"), "#!/bin/sh\n");
    fs::create_dir_all(o.join("base02/diff/etc")).unwrap();
    fs::write(o.join("base02/diff/etc/ext.conf"), "old contents").unwrap();
    fs::create_dir_all(o.join("mid03/diff/etc")).unwrap();
    fs::write(o.join("mid03/diff/etc/ext.conf"), "new").unwrap();
    d
}

#[test]
fn an_engine_container_is_read_from_its_record_and_overlay2_layers() {
    let fx = Fx::new("engine");
    let id = format!("{}{}", "ab12", "0".repeat(60));
    let labels =
        format!("{OVERLAY},\"io.balena.image.kernel-version\":\"5.15.92\",\"com.example\":\"x\"");
    let docker = fake_engine(fx.t.path(), &id, &labels);
    for target in [id.as_str(), "ab12"] {
        let o = fx.inspect(&["--json", "--docker-root", docker.to_str().unwrap(), target]);
        let doc = parse(&o);
        assert_eq!(code(&o), 0, "{target}: {}", problems(&doc));
        assert_eq!(s(get(&doc, "kind")), "engine");
        assert_eq!(s(get(&doc, "id")), id);
        assert!(s(get(&doc, "labelSource")).ends_with("config.v2.json"));
        assert_eq!(arr(get(&doc, "layers")).len(), 3, "diff + two lower layers");
        assert!(s(get(&doc, "rootfs")).ends_with("overlay2/cafe01/merged"));
        assert_eq!(
            s(&hook(&doc, "create")["status"]),
            "ok",
            "hook found in a lower layer"
        );
        assert_eq!(
            s(get(&doc, "content.files")),
            "2",
            "upper file hides the lower one"
        );
        assert_eq!(s(get(&doc, "content.bytes")), "13", "\"new\" and the hook");
    }
    // An unknown ID is a usage error naming where it looked.
    let o = fx.inspect(&["--docker-root", docker.to_str().unwrap(), "ffff"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("containers"), "{}", stderr(&o));
}

#[test]
fn json_is_one_document_with_the_documented_fields() {
    let fx = Fx::new("json");
    let b = fx.bundle(COMPATIBLE_LABELS);
    write_script(&b.join("rootfs/hooks/create"), "#!/bin/sh\n");
    let (c, doc) = fx.inspect_json(&b);
    assert_eq!(c, 0);
    for field in [
        "schema",
        "target",
        "kind",
        "id",
        "rootfs",
        "layers",
        "labelSource",
        "valid",
        "compatible",
        "labels",
        "host",
        "checks",
        "hooks",
        "content",
        "shadows",
        "nextBoot",
        "problems",
        "warnings",
    ] {
        assert!(doc.get(field).is_some(), "missing top-level field {field}");
    }
    assert_eq!(s(get(&doc, "schema")), "2");
    assert_eq!(s(get(&doc, "kind")), "bundle");
    for f in ["name", "value", "status", "note"] {
        get(&doc, &format!("labels.0.{f}"));
    }
    for f in [
        "root",
        "kernelRelease",
        "kernelVersion",
        "kernelAbi",
        "kernelAbiSource",
        "moduleSymvers",
        "moduleSymversSha256",
        "osVersion",
        "nohostext",
        "pageSize",
    ] {
        get(&doc, &format!("host.{f}"));
    }
    assert_eq!(arr(get(&doc, "checks")).len(), 3);
    for f in ["name", "label", "status", "extension", "host"] {
        get(&doc, &format!("checks.0.{f}"));
    }
    assert_eq!(arr(get(&doc, "hooks")).len(), 3);
    for f in [
        "name",
        "path",
        "status",
        "executable",
        "interpreter",
        "interpreterFound",
    ] {
        get(&doc, &format!("hooks.0.{f}"));
    }
    for f in ["files", "dirs", "symlinks", "other", "whiteouts", "bytes"] {
        get(&doc, &format!("content.{f}"));
    }
    for f in ["count", "dangerous", "truncated", "paths"] {
        get(&doc, &format!("shadows.{f}"));
    }
    for f in [
        "error",
        "disabledBy",
        "extensions",
        "skipped",
        "layers",
        "method",
        "this",
    ] {
        get(&doc, &format!("nextBoot.{f}"));
    }
}

#[test]
fn usage_errors_exit_2() {
    let fx = Fx::new("usage");
    let b = fx.bundle("");
    let bs = b.to_str().unwrap();
    for args in [
        vec![],
        vec![bs, bs],
        vec!["--bogus", bs],
        vec!["--label", "novalue", bs],
        vec!["--json"],
        vec!["/no/such/dir-or-id"],
    ] {
        let o = fx.inspect(&args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).starts_with("extension-inspect: "),
            "{}",
            stderr(&o)
        );
        assert!(stdout(&o).is_empty(), "{args:?}");
    }
    let o = fx.inspect(&["--help"]);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).contains("Usage: extension-inspect"));
    let o = fx.inspect(&[bs, "--help"]);
    assert_eq!(code(&o), 0, "--help anywhere");
}

#[test]
fn the_report_fits_80_columns_even_with_long_values() {
    let fx = Fx::new("wide");
    let long = "x".repeat(150);
    let b = fx.bundle(&format!(
        "\"io.balena.image.kernel-abi-id\":\"sha256:{}\",\
         \"io.balena.image.os-version\":\"{long}\",\
         \"io.balena.image.a-very-long-label-name-that-keeps-going-and-going\":\"{long}\"",
        "1".repeat(64)
    ));
    let r = fx.rootfs();
    let deep = r.join("usr/share/doc").join("y".repeat(120));
    fs::create_dir_all(&deep).unwrap();
    fs::create_dir_all(fx.host.join("usr/share/doc").join("y".repeat(120))).unwrap();
    for i in 0..15 {
        let name = format!("{}-{i}", "z".repeat(100));
        fs::write(deep.join(&name), "").unwrap();
        fs::write(
            fx.host
                .join("usr/share/doc")
                .join("y".repeat(120))
                .join(&name),
            "",
        )
        .unwrap();
    }
    fs::write(r.join("usr/share/doc/readme"), "").unwrap();
    fs::create_dir_all(r.join("etc")).unwrap();
    fs::write(r.join("etc/os-release"), "").unwrap();
    write_script(&r.join("hooks/start"), &format!("#!/{long}/interp\n"));
    let o = fx.inspect(&[b.to_str().unwrap()]);
    assert_eq!(code(&o), 1);
    let out = stdout(&o);
    for line in out.lines() {
        assert!(
            line.chars().count() <= 80,
            "{} columns: {line}\n{out}",
            line.chars().count()
        );
    }
    assert!(out.contains("... and 7 more"), "{out}");
    assert!(out.contains("DANGEROUS"), "{out}");
}

#[test]
fn a_program_hook_needs_its_dynamic_loader_on_the_host() {
    let fx = Fx::new("elf");
    let b = fx.bundle("");
    // Any dynamically linked program will do: this test's own binary.
    let me = std::env::current_exe().unwrap();
    let path = b.join("rootfs/hooks/create");
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::copy(&me, &path).unwrap();
    let loader = match balena_extension_runtime::inspect::files::exec_kind(&me).unwrap() {
        balena_extension_runtime::inspect::files::Exec::Elf(Some(l)) => l,
        _ => panic!("the test binary has no ELF interpreter"),
    };
    let (c, doc) = fx.inspect_json(&b);
    assert_eq!(c, 1, "the fake host lacks {loader}");
    assert_eq!(s(&hook(&doc, "create")["status"]), "no interpreter");
    assert_eq!(s(&hook(&doc, "create")["interpreter"]), loader);

    write_script(&fx.host.join(loader.trim_start_matches('/')), "");
    let (c, doc) = fx.inspect_json(&b);
    assert_eq!(c, 0, "{}", problems(&doc));
    assert_eq!(s(&hook(&doc, "create")["status"]), "ok");
}

/// An overlayfs whiteout (needs root to make; false when not allowed).
fn whiteout(path: &Path) -> bool {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: `c` is a NUL-terminated path.
    unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o600, 0) == 0 }
}

#[test]
fn a_whiteout_deleting_an_essential_host_path_is_dangerous() {
    let fx = Fx::new("whiteout");
    let b = fx.bundle("");
    fs::create_dir_all(fx.rootfs().join("bin")).unwrap();
    if !whiteout(&fx.rootfs().join("bin/sh")) {
        eprintln!("skipped: cannot make a whiteout without root");
        return;
    }
    assert!(whiteout(&fx.rootfs().join("bin/nothing-here")));
    let (c, doc) = fx.inspect_json(&b);
    assert_eq!(c, 1);
    assert_eq!(s(get(&doc, "content.whiteouts")), "2");
    assert_eq!(
        s(get(&doc, "shadows.count")),
        "1",
        "a whiteout of nothing hides nothing"
    );
    assert_eq!(s(get(&doc, "shadows.paths.0.type")), "whiteout");
    assert!(
        problems(&doc).contains("deletes /bin/sh (the shell)"),
        "{}",
        problems(&doc)
    );
}

/// Unmounts on drop, so a failing test leaves no mount behind.
struct Mounted(std::ffi::CString);

impl Drop for Mounted {
    fn drop(&mut self) {
        // SAFETY: a NUL-terminated path.
        unsafe { libc::umount2(self.0.as_ptr(), libc::MNT_DETACH) };
    }
}

#[test]
fn a_mounted_engine_container_is_read_from_its_merged_directory() {
    let fx = Fx::new("merged");
    let id = "cd34".repeat(16);
    let docker = fake_engine(fx.t.path(), &id, OVERLAY);
    let merged = docker.join("overlay2/cafe01/merged");
    let path = std::ffi::CString::new(merged.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: NUL-terminated strings and no data argument.
    let r = unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            path.as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if r != 0 {
        eprintln!("skipped: cannot mount a tmpfs without root");
        return;
    }
    let _guard = Mounted(path);
    fs::write(merged.join("only-in-merged"), "12345").unwrap();
    let o = fx.inspect(&["--json", "--docker-root", docker.to_str().unwrap(), &id]);
    let doc = parse(&o);
    assert_eq!(code(&o), 0, "{}", problems(&doc));
    assert_eq!(arr(get(&doc, "layers")).len(), 1);
    assert_eq!(s(get(&doc, "layers.0")), merged.to_str().unwrap());
    assert_eq!(s(get(&doc, "content.files")), "1");
    assert_eq!(s(get(&doc, "content.bytes")), "5");
}
