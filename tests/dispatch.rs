//! The multicall binary: which applet runs for which argv[0] or first
//! argument, and the central --help, --list and --version.

mod common;

use common::*;
use std::process::Command;

#[test]
fn every_installed_name_reaches_its_applet() {
    let t = TempDir::new("names");
    let bin = install(t.path());
    let cases = [
        (
            "balena-extension-runtime",
            "Usage: balena-extension-runtime [GLOBAL OPTIONS] COMMAND",
        ),
        ("balena-extension-proxy", "Usage: balena-extension-proxy ID"),
        ("extension-inspect", "Usage: extension-inspect"),
        ("state-dump", "Usage: state-dump"),
        (
            "balena-extension-manager",
            "Usage: balena-extension-manager cleanup",
        ),
    ];
    for (name, usage) in cases {
        let o = run(&t.join(name), &["--help"]);
        assert!(o.status.success(), "{name}");
        assert!(stdout(&o).starts_with(usage), "{name}: {}", stdout(&o));
    }
    for alias in ["balena-extension-inspect", "balena-extension-state-dump"] {
        std::os::unix::fs::symlink(&bin, t.join(alias)).unwrap();
        let o = run(&t.join(alias), &["--help"]);
        assert!(stdout(&o).starts_with("Usage: "), "{alias}");
    }
}

#[test]
fn the_first_argument_can_name_the_applet() {
    let o = run(&binary(), &["state-dump", "--help"]);
    assert!(
        stdout(&o).starts_with("Usage: state-dump"),
        "{}",
        stdout(&o)
    );
    let o = run(&binary(), &["extension-inspect", "--help"]);
    assert!(stdout(&o).starts_with("Usage: extension-inspect"));
}

#[test]
fn an_unknown_name_exits_127() {
    let t = TempDir::new("unknown");
    install(t.path());
    std::os::unix::fs::symlink("balena-extension-runtime", t.join("frobnicate")).unwrap();
    let o = run(&t.join("frobnicate"), &[]);
    assert_eq!(o.status.code(), Some(127));
    assert_eq!(stderr(&o), "frobnicate: applet not found\n");
}

#[test]
fn help_lists_the_applets_and_version_names_the_commit() {
    let o = run(&binary(), &["--help"]);
    let help = stdout(&o);
    for applet in [
        "extension-inspect",
        "state-dump",
        "manager",
        "create",
        "delete",
        "--root",
        "--log-format",
    ] {
        assert!(help.contains(applet), "--help lacks {applet}");
    }
    let o = run(&binary(), &["--version"]);
    let v = stdout(&o);
    assert!(
        v.starts_with(&format!(
            "balena-extension-runtime version {}\ncommit: ",
            env!("CARGO_PKG_VERSION")
        )),
        "{v}"
    );
    let commit = v.lines().nth(1).unwrap().trim_start_matches("commit: ");
    assert!(!commit.is_empty());
    let o = run(&binary(), &["--list"]);
    assert_eq!(
        stdout(&o),
        "extension-inspect\nextension-mount\nmanager\nproxy\nruntime\nstate-dump\n"
    );
}

#[test]
fn a_proxy_run_by_hand_exits_when_not_released() {
    // Without create's go-ahead pipe on fd 3 it must not linger.
    let t = TempDir::new("proxyhand");
    install(t.path());
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(t.join("balena-extension-proxy"));
    cmd.arg("x");
    // SAFETY: close_range only closes descriptors (async-signal-safe); it
    // keeps a jobserver pipe cargo may leave on fd 3 out of the proxy.
    unsafe {
        cmd.pre_exec(|| {
            libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
            Ok(())
        });
    }
    let o = cmd.output().unwrap();
    assert_eq!(o.status.code(), Some(1));
}
