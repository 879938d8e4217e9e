//! applet: manager
//! names: manager balena-extension-manager
//! summary: remove dead, failed and stale extension containers, their images and volumes
//!
//! Parsing only; the sweep lives in `src/manager/`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use lexopt::prelude::*;

use crate::error::{Error, Result};
use crate::log::Level;
use crate::manager::{self, lock, Options};

pub const USAGE: &str = "\
Usage: balena-extension-manager cleanup [OPTIONS]

Removes the extension containers (label io.balena.image.class=overlay)
that are dead, whose create or start failed, or whose start hook rejected
the extension; with --stale-os also those whose kernel or OS claims do not
hold on the running OS (a stale one's deactivate hook runs first). Then the
extension images no container uses, and the volumes only the removed
containers used. Running, installed (exited 0) and created-but-not-started
extensions stay; a claim that cannot be checked keeps its container.

Options:
  --stale-os           also remove extensions built for another kernel or OS
  --dry-run            decide and print the same, change nothing
  --json               print one JSON document instead of lines
  --host-root DIR      the host whose kernel and OS --stale-os checks
                       against (default /)
  --host unix://PATH   the engine's socket (default $DOCKER_HOST, else
                       unix:///var/run/balena-engine.sock)
  --lock-file PATH     one manager at a time (default
                       /run/balena-extension-manager.lock)
  --lock-wait SECONDS  how long to wait for another manager (default 60)
  --timeout SECONDS    limit on each engine call, whole answer included
                       (default 30); on all of them, ten times that
  --hook-timeout SECONDS
                       limit on each deactivate hook (default 60)
  --log-level LEVEL    error, warn, info or debug (default info): what goes
                       to stderr besides errors: warnings (warn), hook
                       output (info), every decision (debug)

Exit status: 0 everything it decided to do was done, 1 a step failed (the
rest was still tried) or the engine cannot be reached, 2 usage error.
";

/// The most any of the time options may be: bounded, as a boot unit must.
const MAX_SECONDS: u64 = 24 * 60 * 60;

fn seconds(p: &mut lexopt::Parser, option: &str, zero_ok: bool) -> Result<Duration> {
    let text = p.value()?.string()?;
    match text.parse::<u64>() {
        Ok(n) if n <= MAX_SECONDS && (zero_ok || n > 0) => Ok(Duration::from_secs(n)),
        _ => Err(Error::usage(format!(
            "{option} wants whole seconds ({}..{MAX_SECONDS}), got \"{text}\"",
            u8::from(!zero_ok)
        ))),
    }
}

pub fn main(args: Vec<OsString>) -> Result<i32> {
    let mut p = lexopt::Parser::from_args(args);
    let mut o = Options {
        stale_os: false,
        dry_run: false,
        json: false,
        host_root: PathBuf::from("/"),
        host: None,
        lock_file: PathBuf::from(lock::DEFAULT_PATH),
        lock_wait: lock::DEFAULT_WAIT,
        timeout: crate::engine::DEFAULT_TIMEOUT,
        hook_timeout: crate::hooks::DEFAULT_TIMEOUT,
        level: Level::Info,
    };
    let mut command = None;
    while let Some(arg) = p.next()? {
        match arg {
            Long("stale-os") => o.stale_os = true,
            Long("dry-run") => o.dry_run = true,
            Long("json") => o.json = true,
            Long("host-root") => o.host_root = crate::dispatch::path_value(&mut p, "--host-root")?,
            Long("host") => o.host = Some(p.value()?.string()?),
            Long("lock-file") => o.lock_file = crate::dispatch::path_value(&mut p, "--lock-file")?,
            Long("lock-wait") => o.lock_wait = seconds(&mut p, "--lock-wait", true)?,
            Long("timeout") => o.timeout = seconds(&mut p, "--timeout", false)?,
            Long("hook-timeout") => o.hook_timeout = seconds(&mut p, "--hook-timeout", false)?,
            Long("log-level") => {
                let text = p.value()?.string()?;
                o.level = Level::parse(&text).ok_or_else(|| {
                    Error::usage(format!(
                        "--log-level wants error, warn, info or debug, got \"{text}\""
                    ))
                })?;
            }
            Long("help") | Short('h') => {
                crate::output::print(USAGE)?;
                return Ok(0);
            }
            Value(v) if command.is_none() => command = Some(v.string()?),
            Value(v) => {
                return Err(Error::usage(format!(
                    "unexpected argument \"{}\" (see --help)",
                    v.to_string_lossy()
                )))
            }
            _ => return Err(arg.unexpected().into()),
        }
    }
    match command.as_deref() {
        Some("cleanup") => {}
        Some(other) => {
            return Err(Error::usage(format!(
                "unknown command \"{other}\" (the command is cleanup; see --help)"
            )))
        }
        None => return Err(Error::usage("missing command: cleanup (see --help)")),
    }
    if !o.host_root.is_dir() {
        return Err(Error::usage(format!(
            "--host-root {} is not a directory",
            o.host_root.display()
        )));
    }
    manager::cleanup(&o)
}
