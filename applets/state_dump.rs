//! applet: state-dump
//! names: state-dump balena-extension-state-dump
//! summary: list the containers the runtime knows and check their state

use std::ffi::OsString;

use crate::error::{Error, Result};

pub const USAGE: &str = "\
Usage: state-dump [--root DIR] [--json] [--all-roots] [--prune] [ID...]
";

pub fn main(_args: Vec<OsString>) -> Result<i32> {
    Err(Error::new("not implemented yet"))
}
