//! applet: runtime
//! names: runtime balena-extension-runtime
//! summary: OCI runtime for hostapp extensions, driven by containerd like runc
//!
//! The command line is runc's: global options, then a command and its own
//! options. Parsing lives here; what each command does lives in
//! `src/runtime/`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use lexopt::prelude::*;

use crate::error::{Error, Result};
use crate::hooks;
use crate::labels::DEFAULT_DOCKER_ROOT;
use crate::log::{self, Level};
use crate::runtime::{create, delete, kill, query, start, Globals};
use crate::{signals, state};

pub const USAGE: &str = "\
Usage: balena-extension-runtime [GLOBAL OPTIONS] COMMAND [OPTIONS] [ID]

An OCI runtime for balenaOS hostapp extensions. containerd drives it like
runc; an extension runs its hooks instead of a long-lived process.

Commands:
  create [--bundle DIR] [--pid-file FILE] [--console-socket SOCK] ID
                      validate the extension, run hooks/create, start the proxy
  start ID            run hooks/start; the container stops with its exit code
  state ID            print the OCI state as JSON
  kill [--all] ID [SIGNAL]
                      signal the container (default SIGTERM; name or number)
  delete [--force] ID run hooks/delete and remove the state
  ps [--format table|json] ID
                      the container's processes
  list [--format table|json]
                      every container in the state root
  features            what this runtime supports, as JSON

Global options:
  --root DIR          state directory (default $XDG_RUNTIME_DIR/balena-extension-runtime,
                      else /run/balena-extension-runtime)
  --log FILE          append log lines to FILE
  --log-format FMT    text (default) or json
  --log-level LEVEL   error, warning, info (default) or debug
  --debug             same as --log-level debug
  --docker-root DIR   engine data root for container labels (default /var/lib/docker)
  --hook-timeout SECS time limit of each hook (default 60)
  --systemd-cgroup, --criu PATH, --rootless VALUE
                      accepted for runc compatibility and ignored
  --version           print the version
  --help              print this help

Other applets (also run as `balena-extension-runtime APPLET ...`):
  extension-inspect   check an extension against this host
  manager             remove dead, failed and stale extension containers
  state-dump          list the containers the runtime knows and check their state
";

/// Commands an extension cannot honour: there is no process to exec into,
/// pause, checkpoint or watch.
const UNSUPPORTED: &[&str] = &["exec", "pause", "resume", "update", "checkpoint", "restore", "events", "run", "spec"];

pub fn main(args: Vec<OsString>) -> Result<i32> {
    // runc exits 1 on every failure; so does this applet.
    run(args).map(|()| 0).map_err(|e| e.with_code(1))
}

/// A parsed command line: what to print, or what to run.
pub enum Parsed {
    /// Text for stdout (help, version), then this outcome.
    Print(String, Result<()>),
    Run(Invocation),
}

pub struct Invocation {
    pub globals: Globals,
    /// `--log FILE`, its format (true: JSON) and level.
    pub log: Option<(PathBuf, bool, Level)>,
    /// Its errors are reported once the log is open.
    pub command: Result<Command>,
}

pub enum Command {
    Create(create::CreateOpts),
    Start(String),
    State(String),
    Kill(String, libc::c_int),
    Delete(String, bool),
    Ps(String, bool),
    List(bool),
    Features,
    /// Help text for stdout.
    Print(String),
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Command::Create(_) => "create",
            Command::Start(_) => "start",
            Command::State(_) => "state",
            Command::Kill(..) => "kill",
            Command::Delete(..) => "delete",
            Command::Ps(..) => "ps",
            Command::List(_) => "list",
            Command::Features => "features",
            Command::Print(_) => "help",
        }
    }
}

fn run(args: Vec<OsString>) -> Result<()> {
    let inv = match parse(args)? {
        Parsed::Print(text, outcome) => {
            crate::output::print(&text)?;
            return outcome;
        }
        Parsed::Run(inv) => inv,
    };
    if let Some((path, json, level)) = &inv.log {
        log::init(path, *json, *level)?;
    }
    let g = &inv.globals;
    let command = inv.command?;
    log::debug(&format!("command {}", command.name()));
    match command {
        Command::Print(text) => crate::output::print(&text),
        Command::Create(o) => create::create(g, &o),
        Command::Start(id) => start::start(g, &id),
        Command::State(id) => query::state(g, &id),
        Command::Kill(id, sig) => kill::kill(g, &id, sig),
        Command::Delete(id, force) => delete::delete(g, &id, force),
        Command::Ps(id, json) => query::ps(g, &id, json),
        Command::List(json) => query::list(g, json),
        Command::Features => query::features(),
    }
}

/// Parses the command line without acting on it (no file is touched).
pub fn parse(args: Vec<OsString>) -> Result<Parsed> {
    let mut p = lexopt::Parser::from_args(args);
    let mut g = Globals {
        root: state::default_root(),
        docker_root: PathBuf::from(DEFAULT_DOCKER_ROOT),
        hook_timeout: hooks::DEFAULT_TIMEOUT,
    };
    let mut log_file: Option<PathBuf> = None;
    let mut log_json = false;
    let mut level = Level::Info;
    let command = loop {
        match p.next()? {
            Some(Long("root")) => g.root = crate::dispatch::path_value(&mut p, "--root")?,
            Some(Long("log")) => log_file = Some(crate::dispatch::path_value(&mut p, "--log")?),
            Some(Long("log-format")) => {
                log_json = match p.value()?.string()?.as_str() {
                    "json" => true,
                    "text" => false,
                    other => return Err(Error::usage(format!("unknown log format \"{other}\" (text or json)"))),
                }
            }
            Some(Long("log-level")) => {
                let v = p.value()?.string()?;
                level = Level::parse(&v).ok_or_else(|| Error::usage(format!("unknown log level \"{v}\"")))?;
            }
            Some(Long("debug")) => level = Level::Debug,
            Some(Long("docker-root")) => g.docker_root = crate::dispatch::path_value(&mut p, "--docker-root")?,
            Some(Long("hook-timeout")) => g.hook_timeout = parse_timeout(&p.value()?.string()?)?,
            Some(Long("systemd-cgroup")) => {}
            Some(Long("criu")) | Some(Long("rootless")) => {
                p.value()?;
            }
            Some(Long("version")) | Some(Short('v')) => {
                let text = format!(
                    "balena-extension-runtime version {}\ncommit: {}\nspec: {}\n",
                    crate::VERSION,
                    crate::COMMIT,
                    query::OCI_VERSION
                );
                return Ok(Parsed::Print(text, Ok(())));
            }
            Some(Long("help")) | Some(Short('h')) => return Ok(Parsed::Print(USAGE.to_string(), Ok(()))),
            Some(Value(cmd)) => break cmd.string()?,
            Some(arg) => return Err(arg.unexpected().into()),
            None => return Ok(Parsed::Print(USAGE.to_string(), Err(Error::usage("no command given")))),
        }
    };
    Ok(Parsed::Run(Invocation {
        globals: g,
        log: log_file.map(|f| (f, log_json, level)),
        command: parse_command(&mut p, &command),
    }))
}

/// A command's own options and arguments.
fn parse_command(p: &mut lexopt::Parser, command: &str) -> Result<Command> {
    Ok(match command {
        "create" => {
            let mut o = create::CreateOpts {
                id: String::new(),
                bundle: PathBuf::from("."),
                pid_file: None,
                console_socket: None,
            };
            let mut id = None;
            while let Some(arg) = p.next()? {
                match arg {
                    Long("bundle") | Short('b') => o.bundle = crate::dispatch::path_value(p, "--bundle")?,
                    Long("pid-file") => o.pid_file = Some(crate::dispatch::path_value(p, "--pid-file")?),
                    Long("console-socket") => o.console_socket = Some(crate::dispatch::path_value(p, "--console-socket")?),
                    Long("no-pivot") | Long("no-new-keyring") => {}
                    Long("preserve-fds") => {
                        p.value()?;
                    }
                    Long("help") | Short('h') => return Ok(Command::Print(help("create [--bundle|-b DIR] [--pid-file FILE] [--console-socket SOCK] [--no-pivot] [--no-new-keyring] [--preserve-fds N] ID"))),
                    Value(v) if id.is_none() => id = Some(v.string()?),
                    _ => return Err(arg.unexpected().into()),
                }
            }
            o.id = require_id(id, "create")?;
            Command::Create(o)
        }
        "start" => match only_id(p, "start ID")? {
            Ok(id) => Command::Start(id),
            Err(help) => help,
        },
        "state" => match only_id(p, "state ID")? {
            Ok(id) => Command::State(id),
            Err(help) => help,
        },
        "kill" => {
            let mut values = Vec::new();
            while let Some(arg) = p.next()? {
                match arg {
                    Long("all") | Short('a') => {}
                    Long("help") | Short('h') => return Ok(Command::Print(help("kill [--all|-a] ID [SIGNAL]"))),
                    Value(v) if values.len() < 2 => values.push(v.string()?),
                    _ => return Err(arg.unexpected().into()),
                }
            }
            let id = require_id(values.first().cloned(), "kill")?;
            let sig = match values.get(1) {
                Some(s) => signals::parse(s)?,
                None => libc::SIGTERM,
            };
            Command::Kill(id, sig)
        }
        "delete" => {
            let mut force = false;
            let mut id = None;
            while let Some(arg) = p.next()? {
                match arg {
                    Long("force") | Short('f') => force = true,
                    Long("help") | Short('h') => return Ok(Command::Print(help("delete [--force|-f] ID"))),
                    Value(v) if id.is_none() => id = Some(v.string()?),
                    _ => return Err(arg.unexpected().into()),
                }
            }
            Command::Delete(require_id(id, "delete")?, force)
        }
        "ps" => {
            let mut json = false;
            let mut id = None;
            while let Some(arg) = p.next()? {
                match arg {
                    Long("format") | Short('f') => json = parse_format(&p.value()?.string()?)?,
                    Long("help") | Short('h') => return Ok(Command::Print(help("ps [--format table|json] ID"))),
                    Value(v) if id.is_none() => id = Some(v.string()?),
                    _ => return Err(arg.unexpected().into()),
                }
            }
            Command::Ps(require_id(id, "ps")?, json)
        }
        "list" => {
            let mut json = false;
            while let Some(arg) = p.next()? {
                match arg {
                    Long("format") | Short('f') => json = parse_format(&p.value()?.string()?)?,
                    Long("quiet") | Short('q') => {}
                    Long("help") | Short('h') => return Ok(Command::Print(help("list [--format table|json]"))),
                    _ => return Err(arg.unexpected().into()),
                }
            }
            Command::List(json)
        }
        "features" => {
            if let Some(arg) = p.next()? {
                if matches!(arg, Long("help") | Short('h')) {
                    return Ok(Command::Print(help("features")));
                }
                return Err(arg.unexpected().into());
            }
            Command::Features
        }
        "help" => Command::Print(USAGE.to_string()),
        other if UNSUPPORTED.contains(&other) => {
            return Err(Error::new(format!(
                "\"{other}\" is not supported: a hostapp extension runs hooks, not a process"
            )))
        }
        other => return Err(Error::usage(format!("unknown command \"{other}\" (see --help)"))),
    })
}

fn help(usage: &str) -> String {
    format!("Usage: balena-extension-runtime [GLOBAL OPTIONS] {usage}\n")
}

fn require_id(id: Option<String>, command: &str) -> Result<String> {
    id.ok_or_else(|| Error::usage(format!("{command}: missing container id")))
}

/// For commands whose only argument is the ID; the help text when that was
/// asked for.
fn only_id(p: &mut lexopt::Parser, usage: &str) -> Result<std::result::Result<String, Command>> {
    let mut id = None;
    while let Some(arg) = p.next()? {
        match arg {
            Long("help") | Short('h') => return Ok(Err(Command::Print(help(usage)))),
            Value(v) if id.is_none() => id = Some(v.string()?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    require_id(id, usage.split(' ').next().unwrap_or(usage)).map(Ok)
}

fn parse_format(v: &str) -> Result<bool> {
    match v {
        "json" => Ok(true),
        "table" => Ok(false),
        other => Err(Error::usage(format!("unknown format \"{other}\" (table or json)"))),
    }
}

fn parse_timeout(v: &str) -> Result<Duration> {
    match v.parse::<u64>() {
        Ok(s) if s > 0 => Ok(Duration::from_secs(s)),
        _ => Err(Error::usage(format!("invalid hook timeout \"{v}\" (whole seconds, at least 1)"))),
    }
}
