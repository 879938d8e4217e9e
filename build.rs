//! Generates the applet table from the files in `applets/`.
//!
//! Every applet file starts with its own registration block, so adding an
//! applet means adding one file:
//!
//! ```text
//! //! applet: state-dump
//! //! names: state-dump balena-extension-state-dump
//! //! summary: list the containers the runtime knows and check their state
//! ```
//!
//! The first name is the one `--list` shows and the one accepted as the first
//! argument (`balena-extension-runtime state-dump ...`); every name is matched
//! exactly against the basename of argv[0].

use std::env;
use std::fs;
use std::path::Path;
use std::process::Command;

struct Applet {
    module: String,
    names: Vec<String>,
    summary: String,
    path: String,
}

fn main() {
    let manifest = env::var("CARGO_MANIFEST_DIR").unwrap();
    let dir = Path::new(&manifest).join("applets");
    println!("cargo:rerun-if-changed={}", dir.display());

    let mut applets = Vec::new();
    for entry in fs::read_dir(&dir).expect("applets/ directory") {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("rs") {
            continue;
        }
        println!("cargo:rerun-if-changed={}", path.display());
        applets.push(parse(&path));
    }
    applets.sort_by(|a, b| a.names[0].cmp(&b.names[0]));

    let mut out = String::new();
    for a in &applets {
        out += &format!("#[path = {:?}]\npub mod {};\n", a.path, a.module);
    }
    out += "\n/// Every applet, sorted by name.\npub static APPLETS: &[crate::dispatch::Applet] = &[\n";
    for a in &applets {
        out += &format!(
            "    crate::dispatch::Applet {{ names: &{:?}, summary: {:?}, usage: {}::USAGE, main: {}::main }},\n",
            a.names, a.summary, a.module, a.module
        );
    }
    out += "];\n";
    let dest = Path::new(&env::var("OUT_DIR").unwrap()).join("applets.rs");
    fs::write(dest, out).unwrap();

    // Set by the Makefile for the static musl builds (see src/main.rs).
    println!("cargo::rustc-check-cfg=cfg(stub_unwinder)");

    println!("cargo:rustc-env=BUILD_COMMIT={}", git_commit(&manifest));
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs");
}

fn parse(path: &Path) -> Applet {
    let text = fs::read_to_string(path).unwrap();
    let field = |key: &str| -> String {
        text.lines()
            .take_while(|l| l.starts_with("//!"))
            .find_map(|l| {
                l.strip_prefix("//!")?
                    .trim()
                    .strip_prefix(key)?
                    .strip_prefix(':')
            })
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("{}: missing `//! {key}:` line", path.display()))
    };
    let names: Vec<String> = field("names")
        .split_whitespace()
        .map(String::from)
        .collect();
    let applet = field("applet");
    assert_eq!(
        names[0],
        applet,
        "{}: first name must be the applet name",
        path.display()
    );
    Applet {
        module: path
            .file_stem()
            .unwrap()
            .to_str()
            .unwrap()
            .replace('-', "_"),
        names,
        summary: field("summary"),
        path: path.to_str().unwrap().to_string(),
    }
}

/// The commit the binary was built from, for `--version`. Builds from a
/// source tarball have no git and say "unknown".
fn git_commit(dir: &str) -> String {
    if let Ok(commit) = env::var("BUILD_COMMIT") {
        return commit;
    }
    Command::new("git")
        .args(["-C", dir, "rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}
