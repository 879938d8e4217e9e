//! Writing to stdout and stderr, where a reader that went away ends the
//! output, not the command.
//!
//! `rt state X | grep -q running` closes the pipe after the first match.
//! SIGPIPE is ignored (see main), so the write fails with EPIPE: nothing
//! more can be shown, and the command exits as if it had all been read.
//! `print!` would panic there instead, and with panic = "abort" that is a
//! SIGABRT and a core dump.

use std::io::Write;

use crate::error::{Error, Result};

/// Writes all of `text` to stdout, now. A closed reader is fine; any other
/// failure (a full disk behind a redirection) is an error.
pub fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if !reader_gone(&e) => Err(Error::io("cannot write to stdout", &e)),
        _ => Ok(()),
    }
}

/// True when a write failed because its reader closed the pipe (EPIPE).
pub fn reader_gone(err: &std::io::Error) -> bool {
    err.kind() == std::io::ErrorKind::BrokenPipe
}

/// Writes a message line to stderr, as one safe line (`text::line`). If
/// nobody reads stderr any more the message is lost, but the command still
/// ends with its own exit status (`eprintln!` would abort).
pub fn eprint_line(text: &str) {
    let text = crate::text::line(text);
    let mut err = std::io::stderr().lock();
    let _ = err
        .write_all(text.as_bytes())
        .and_then(|()| err.write_all(b"\n"));
}
