//! applet: extension-inspect
//! names: extension-inspect balena-extension-inspect
//! summary: check an extension against this host: labels, compatibility, hooks, content
//!
//! Reads the extension and the host, changes nothing. The work is in
//! `src/inspect/`; this file parses the command line and prints.

use std::ffi::OsString;
use std::path::PathBuf;

use lexopt::prelude::*;

use crate::error::{Error, Result};
use crate::inspect::{self, render, Options};
use crate::labels::DEFAULT_DOCKER_ROOT;

pub const USAGE: &str = "\
Usage: extension-inspect [OPTIONS] TARGET

Check a hostapp extension against this host: its labels, whether it is
compatible with the running kernel and OS, its hooks, the host paths it
would shadow, and what the next boot's overlay does with it (the plan
extension-mount --plan prints). Changes nothing.

TARGET is an OCI bundle directory (with config.json), a bare extension
rootfs directory, a container ID in the runtime's state root, or a
Docker / balena-engine container ID (or unique prefix).

Options:
  --json              print one JSON document instead of the report
  --host-root DIR     the host filesystem to compare against (default /)
  --docker-root DIR   engine data root (default /var/lib/docker)
  --root DIR          runtime state root (default $XDG_RUNTIME_DIR/
                      balena-extension-runtime, else /run/balena-extension-runtime)
  --sysroot DIR       the hostapp partition, for the next boot (default
                      HOST-ROOT/mnt/sysroot/active)
  --data-root DIR     the data partition's engine data root, for the next
                      boot (default HOST-ROOT/mnt/data/docker)
  --label KEY=VALUE   add or override a label (repeatable); a bare rootfs
                      has no labels of its own
  --help              print this help

Exit status: 0 valid and compatible, 1 invalid or incompatible (or it could
not be read), 2 usage error or TARGET not found.
";

pub fn main(args: Vec<OsString>) -> Result<i32> {
    let mut p = lexopt::Parser::from_args(args);
    let mut o = Options {
        target: OsString::new(),
        host_root: PathBuf::from("/"),
        docker_root: PathBuf::from(DEFAULT_DOCKER_ROOT),
        state_root: crate::state::default_root(),
        labels: Vec::new(),
        sysroot: None,
        data_root: None,
    };
    let mut json = false;
    let mut target = None;
    while let Some(arg) = p.next()? {
        match arg {
            Long("json") => json = true,
            Long("host-root") => o.host_root = crate::dispatch::path_value(&mut p, "--host-root")?,
            Long("docker-root") => o.docker_root = crate::dispatch::path_value(&mut p, "--docker-root")?,
            Long("root") => o.state_root = crate::dispatch::path_value(&mut p, "--root")?,
            Long("sysroot") => o.sysroot = Some(crate::dispatch::path_value(&mut p, "--sysroot")?),
            Long("data-root") => o.data_root = Some(crate::dispatch::path_value(&mut p, "--data-root")?),
            Long("label") => {
                let kv = p.value()?.string()?;
                match kv.split_once('=') {
                    Some((k, v)) if !k.is_empty() => o.labels.push((k.into(), v.into())),
                    _ => {
                        return Err(Error::usage(format!(
                            "--label wants KEY=VALUE, got \"{kv}\""
                        )))
                    }
                }
            }
            Long("help") | Short('h') => {
                crate::output::print(USAGE)?;
                return Ok(0);
            }
            // A path is bytes: a directory whose name is not UTF-8 is
            // still a directory.
            Value(v) if target.is_none() => target = Some(v),
            Value(v) => {
                return Err(Error::usage(format!(
                    "one TARGET only (got \"{}\" too; see --help)",
                    v.to_string_lossy()
                )))
            }
            _ => return Err(arg.unexpected().into()),
        }
    }
    o.target = target.ok_or_else(|| Error::usage("missing TARGET (see --help)"))?;
    if !o.host_root.is_dir() {
        return Err(Error::usage(format!(
            "--host-root {} is not a directory",
            o.host_root.display()
        )));
    }
    let report = inspect::inspect(&o)?;
    if json {
        crate::output::print(&(crate::json::pretty(&report.json()) + "\n"))?;
    } else {
        crate::output::print(&render::human(&report))?;
    }
    Ok(if report.valid && report.compatible {
        0
    } else {
        1
    })
}
