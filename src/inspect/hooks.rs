//! The hooks: each one a regular, executable file whose interpreter (or
//! ELF loader) the host has.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::files::{self, Exec, View};
use super::{Findings, HookCheck, ABSENT, OK};
use crate::hooks;
use crate::hostfs::host_lookup;

pub(super) fn check_hooks(view: &View, host: &Path, f: &mut Findings) -> Vec<HookCheck> {
    let mut out = Vec::new();
    for name in hooks::ALL {
        let mut h = HookCheck {
            name: name.to_string(),
            path: None,
            status: ABSENT.to_string(),
            executable: false,
            interpreter: None,
            interpreter_found: None,
        };
        let Some((path, _)) = view.lookup(&format!("hooks/{name}")) else {
            out.push(h);
            continue;
        };
        h.path = Some(path.display().to_string());
        let shown = format!("hook {name} ({})", path.display());
        let meta = match fs::metadata(&path) {
            Ok(m) => m,
            Err(e) => {
                h.status = "unreadable".into();
                f.invalid
                    .push(format!("{shown}: {}", crate::error::describe(&e)));
                out.push(h);
                continue;
            }
        };
        if !meta.is_file() {
            h.status = "not a file".into();
            f.invalid.push(format!("{shown} is not a regular file"));
            out.push(h);
            continue;
        }
        h.executable = meta.permissions().mode() & 0o111 != 0;
        if !h.executable {
            h.status = "not executable".into();
            f.invalid
                .push(format!("{shown} is not executable (chmod +x it)"));
        }
        // What runs the hook (a script's interpreter, a program's loader),
        // whether the host has it, and what to say if it does not.
        let runner = match files::exec_kind(&path) {
            Ok(Exec::Script(interp, arg)) => {
                let (shown_interp, found) = script_interpreter(host, &interp, arg.as_deref());
                let why = format!("{shown} needs {shown_interp}, which this host does not have");
                Some((shown_interp, found, why))
            }
            Ok(Exec::Elf(Some(loader))) => {
                let found = host_executable(host, &loader);
                let why = format!(
                    "{shown} is a program for the loader {loader}, which this host does not have"
                );
                Some((loader, found, why))
            }
            Ok(Exec::Elf(None)) => None,
            Ok(Exec::Unknown) => {
                if h.executable {
                    h.status = "no #! line".into();
                }
                f.invalid.push(format!(
                    "{shown} has no #! line and is not an ELF program: it cannot be run"
                ));
                None
            }
            Err(e) => {
                h.status = "unreadable".into();
                f.invalid
                    .push(format!("{shown}: {}", crate::error::describe(&e)));
                None
            }
        };
        if let Some((runner, found, why)) = runner {
            h.interpreter = Some(runner);
            h.interpreter_found = Some(found);
            if !found {
                f.incompatible.push(why);
                if h.executable {
                    h.status = "no interpreter".into();
                }
            }
        }
        if h.status == ABSENT {
            h.status = OK.into();
        }
        out.push(h);
    }
    out
}

/// The interpreter as shown, and whether the host has it. `#!/usr/bin/env X`
/// also needs X in the hooks' PATH.
fn script_interpreter(host: &Path, interp: &str, arg: Option<&str>) -> (String, bool) {
    if interp.is_empty() || !interp.starts_with('/') {
        return (format!("\"{interp}\" (not an absolute path)"), false);
    }
    if !host_executable(host, interp) {
        return (interp.to_string(), false);
    }
    let program = arg
        .and_then(|a| a.split_whitespace().find(|w| !w.starts_with('-')))
        .filter(|_| interp.rsplit('/').next() == Some("env"));
    match program {
        Some(p) if p.contains('/') => (format!("{interp} {p}"), host_executable(host, p)),
        Some(p) => {
            let found = hooks::PATH
                .split(':')
                .any(|dir| host_executable(host, &format!("{dir}/{p}")));
            (format!("{interp} {p}"), found)
        }
        None => (interp.to_string(), true),
    }
}

fn host_executable(host: &Path, abs: &str) -> bool {
    abs.starts_with('/')
        && host_lookup(host, abs, true)
            .is_some_and(|(_, m)| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
