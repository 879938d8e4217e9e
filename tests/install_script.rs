//! `tests/tools/install.sh`, the set-up step of `make test`, against a fake
//! apt and dpkg on PATH: what it runs and what it says, without touching
//! the machine's packages.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use common::{stderr, write_script, TempDir};

/// A PATH where `id -u` says `uid`, no package is installed, and apt-get
/// logs each call to `calls`; `apt-get update` fails for its first `busy`
/// calls as apt does when another run holds the package lists' lock.
/// `sleep` returns at once.
fn fake_system(t: &TempDir, uid: u32, busy: u32) -> PathBuf {
    let bin = t.join("bin");
    let calls = t.join("calls");
    write_script(&bin.join("id"), &format!("#!/bin/sh\necho {uid}\n"));
    write_script(&bin.join("dpkg-query"), "#!/bin/sh\nexit 1\n");
    write_script(&bin.join("sleep"), "#!/bin/sh\nexit 0\n");
    write_script(
        &bin.join("apt-get"),
        &format!(
            r#"#!/bin/sh
for a in "$@"; do case $a in update|install) verb=$a ;; esac; done
echo "$verb" >>{calls}
n=$(grep -c '^update$' {calls})
if [ "$verb" = update ] && [ "$n" -le {busy} ]; then
    echo "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 99 (apt-get)" >&2
    echo "E: Unable to lock directory /var/lib/apt/lists/" >&2
    exit 100
fi
"#,
            calls = calls.display()
        ),
    );
    bin
}

fn install(t: &TempDir, bin: &std::path::Path, rounds: &[&str]) -> Output {
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    Command::new("sh")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/tools/install.sh"
        ))
        .args(rounds)
        .env("PATH", path)
        .env("KERNEL_DIR", t.join("kernel"))
        .output()
        .unwrap()
}

fn calls(t: &TempDir) -> String {
    std::fs::read_to_string(t.join("calls")).unwrap_or_default()
}

#[test]
fn a_package_list_lock_held_by_another_apt_run_is_waited_for() {
    let t = TempDir::new("install-lock");
    let bin = fake_system(&t, 0, 2);
    let o = install(&t, &bin, &["e2e"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(calls(&t), "update\nupdate\nupdate\ninstall\n");
    assert!(stderr(&o).contains("waiting"), "{}", stderr(&o));
}

#[test]
fn an_update_that_fails_otherwise_is_not_retried() {
    let t = TempDir::new("install-fail");
    let bin = fake_system(&t, 0, 0);
    write_script(
        &bin.join("apt-get"),
        &format!(
            "#!/bin/sh\necho x >>{}\necho 'E: network down' >&2\nexit 100\n",
            t.join("calls").display()
        ),
    );
    let o = install(&t, &bin, &["e2e"]);
    assert!(!o.status.success(), "{}", stderr(&o));
    assert_eq!(calls(&t), "x\n");
    assert!(stderr(&o).contains("E: network down"), "{}", stderr(&o));
}
#[test]
fn without_root_rounds_that_need_root_fail_with_one_message() {
    let t = TempDir::new("install-user");
    let bin = fake_system(&t, 1000, 0);
    let o = install(&t, &bin, &["unit", "e2e", "boot"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(
        e.starts_with("install: the rounds e2e boot run only as root")
            && e.contains("sudo make test"),
        "{e}"
    );
    assert_eq!(calls(&t), "", "nothing is installed");
    // Rounds that need no root still get the list of what is missing.
    let o = install(&t, &bin, &["cross"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("the Debian packages"), "{}", stderr(&o));
}
