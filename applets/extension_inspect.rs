//! applet: extension-inspect
//! names: extension-inspect balena-extension-inspect
//! summary: check an extension against this host: labels, compatibility, hooks, content

use std::ffi::OsString;

use crate::error::{Error, Result};

pub const USAGE: &str = "\
Usage: extension-inspect [--json] [--host-root DIR] [--docker-root DIR] [--root DIR] TARGET
";

pub fn main(_args: Vec<OsString>) -> Result<i32> {
    Err(Error::new("not implemented yet"))
}
