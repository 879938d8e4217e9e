//! The runtime's commands, one file each. The `runtime` applet parses the
//! command line into these option structs and calls one entry function.

pub mod create;
pub mod delete;
pub mod kill;
pub mod query;
pub mod start;

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::state::{self, Container, Lock, Opened, Record, Root};

/// Options that come before the command (containerd's and runc's).
pub struct Globals {
    pub root: PathBuf,
    pub docker_root: PathBuf,
    pub hook_timeout: Duration,
}

/// runc's wording: containerd matches on it.
pub fn does_not_exist(id: &str) -> Error {
    Error::new(format!("container \"{id}\" does not exist"))
}

/// Opens the state root for a command that needs an existing container: a
/// missing root just means no container exists.
pub fn open_root(g: &Globals, id: &str) -> Result<Root> {
    state::validate_id(id)?;
    if std::fs::symlink_metadata(&g.root).is_err() {
        return Err(does_not_exist(id));
    }
    Root::open(&g.root, false)
}

/// An existing container and its record.
pub fn load<'r>(root: &'r Root, id: &str, lock: Lock) -> Result<(Container<'r>, Record)> {
    match root.open_container(id, lock)? {
        Opened::Found(c) => match c.read()? {
            Some(rec) => Ok((c, rec)),
            None => Err(does_not_exist(id)),
        },
        _ => Err(does_not_exist(id)),
    }
}
