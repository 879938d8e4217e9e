//! applet: state-dump
//! names: state-dump balena-extension-state-dump
//! summary: list the containers the runtime knows and check their state
//!
//! Parsing only; the listing, the checks and `--prune` live in `src/dump/`.

use std::ffi::OsString;

use lexopt::prelude::*;

use crate::dump::{self, Options};
use crate::error::{Error, Result};

pub const USAGE: &str = "\
Usage: state-dump [--root DIR]... [--all-roots] [--json] [--prune] [ID...]

Lists every entry in the runtime's state roots: its status as recorded and
as it really is (is the proxy alive, a zombie, or has its PID been reused?),
the proxy PID, age, bundle, class and kernel labels. Takes no locks.

Options:
  --root DIR     state root to list (repeatable; default
                 $XDG_RUNTIME_DIR/balena-extension-runtime, else
                 /run/balena-extension-runtime)
  -a, --all-roots
                 also list the default root and the roots containerd and
                 Docker use (/run/containerd/runc/*, /run/docker/runtime-*/*,
                 /var/run/balena-engine/runtime-*/*)
  --json         print a JSON document instead of a table
  --prune        remove entries that are provably dead: proxy gone (or its
                 PID reused) and bundle gone; leftovers of interrupted
                 creates older than a minute; never a locked entry
  ID...          only these entries (an ID or the start of one)

Exit status: 0 all entries sound, 1 an entry or root is broken (or an ID
matched nothing), 2 usage error.
";

pub fn main(args: Vec<OsString>) -> Result<i32> {
    let mut p = lexopt::Parser::from_args(args);
    let mut o = Options {
        roots: Vec::new(),
        all_roots: false,
        json: false,
        prune: false,
        ids: Vec::new(),
    };
    while let Some(arg) = p.next()? {
        match arg {
            Long("root") => o.roots.push(crate::dispatch::path_value(&mut p, "--root")?),
            Long("all-roots") | Short('a') => o.all_roots = true,
            Long("json") => o.json = true,
            Long("prune") => o.prune = true,
            Long("help") | Short('h') => {
                crate::output::print(USAGE)?;
                return Ok(0);
            }
            Value(v) => {
                let id = v.string()?;
                if id.is_empty() {
                    return Err(Error::usage("empty container id"));
                }
                o.ids.push(id);
            }
            _ => return Err(arg.unexpected().into()),
        }
    }
    dump::run(&o)
}
