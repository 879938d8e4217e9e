//! busybox-style dispatch: the basename of argv[0] picks the applet, or the
//! first argument does (`balena-extension-runtime state-dump ...`). Errors
//! from any applet are printed here, once, and mirrored into the log.

use std::ffi::OsString;
use std::path::Path;

use crate::applets::APPLETS;
use crate::error::Result;

pub struct Applet {
    /// Names it answers to; the first is its own.
    pub names: &'static [&'static str],
    pub summary: &'static str,
    pub usage: &'static str,
    /// Runs with the arguments after the applet name; returns the exit code.
    pub main: fn(Vec<OsString>) -> Result<i32>,
}

/// A path option's value (`--root DIR`). Empty is a usage error: it would
/// quietly mean the current directory, or fail later and vaguely.
pub fn path_value(p: &mut lexopt::Parser, option: &str) -> Result<std::path::PathBuf> {
    let value = p.value()?;
    if value.is_empty() {
        return Err(crate::error::Error::usage(format!(
            "{option} wants a path, got an empty value"
        )));
    }
    Ok(value.into())
}

pub fn find(name: &str) -> Option<&'static Applet> {
    APPLETS.iter().find(|a| a.names.contains(&name))
}

/// The applet list, as `--list` and `--help` print it.
pub fn applet_list() -> String {
    let mut out = String::new();
    for a in APPLETS {
        out += &format!("  {:<20} {}\n", a.names[0], a.summary);
    }
    out
}

pub fn run(args: Vec<OsString>) -> i32 {
    let mut args = args.into_iter();
    let argv0 = args.next().unwrap_or_default();
    let base = Path::new(&argv0)
        .file_name()
        .map(|b| b.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut rest: Vec<OsString> = args.collect();

    let mut applet = find(&base);
    // `balena-extension-runtime state-dump ...`, or any name + an applet name.
    if let Some(first) = rest.first().and_then(|f| f.to_str()).and_then(find) {
        if applet.map_or(true, |a| a.names[0] == "runtime") {
            applet = Some(first);
            rest.remove(0);
        }
    }
    let Some(applet) = applet else {
        match rest.first().and_then(|f| f.to_str()) {
            Some("--list") => return show(&names()),
            Some("--help") | Some("-h") => {
                return show(&format!(
                    "Usage: balena-extension-runtime APPLET [ARGS...]\n\nApplets:\n{}",
                    applet_list()
                ));
            }
            _ => {}
        }
        crate::output::eprint_line(&format!("{base}: applet not found"));
        return 127;
    };
    if rest.len() == 1 && rest[0] == "--list" {
        return show(&names());
    }
    if matches!(
        rest.first().and_then(|f| f.to_str()),
        Some("--help") | Some("-h")
    ) {
        return show(applet.usage);
    }
    finish(&base, applet, (applet.main)(rest))
}

/// Each applet's own name, one a line, as `--list` prints them.
fn names() -> String {
    APPLETS
        .iter()
        .map(|a| format!("{}\n", a.names[0]))
        .collect()
}

/// Prints dispatch's own output; exit 0, or 1 if stdout cannot be written.
fn show(text: &str) -> i32 {
    match crate::output::print(text) {
        Ok(()) => 0,
        Err(err) => {
            crate::output::eprint_line(&format!("balena-extension-runtime: {}", err.msg));
            err.code
        }
    }
}

/// The applet's exit code; an error is printed and logged here, once.
fn finish(base: &str, applet: &Applet, outcome: Result<i32>) -> i32 {
    match outcome {
        Ok(code) => code,
        Err(err) => {
            crate::log::error(&err.msg);
            let prog = if applet.names.contains(&base) {
                base
            } else {
                applet.names[0]
            };
            crate::output::eprint_line(&format!("{prog}: {}", err.msg));
            err.code
        }
    }
}
