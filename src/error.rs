//! One error type for the whole binary: a message that already carries its
//! context (container, file, hook) and the exit code to leave with. Errors
//! travel back as values and are printed once, by `dispatch`.

use std::fmt;
use std::io;

pub struct Error {
    pub msg: String,
    pub code: i32,
}

pub type Result<T> = std::result::Result<T, Error>;

/// Exit code of a command-line mistake (busybox and coreutils use 2 too).
pub const USAGE: i32 = 2;

impl Error {
    pub fn new(msg: impl Into<String>) -> Self {
        Error {
            msg: msg.into(),
            code: 1,
        }
    }

    pub fn usage(msg: impl Into<String>) -> Self {
        Error {
            msg: msg.into(),
            code: USAGE,
        }
    }

    /// An OS error, described without Rust's "(os error N)" suffix.
    pub fn io(context: impl fmt::Display, err: &io::Error) -> Self {
        Error::new(format!("{context}: {}", describe(err)))
    }

    pub fn with_code(mut self, code: i32) -> Self {
        self.code = code;
        self
    }

    /// Puts more context in front of the message.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.msg = format!("{context}: {}", self.msg);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

/// Debug prints the message too (for `unwrap` in tests); no derive, to keep
/// formatting machinery out of the binary.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl From<lexopt::Error> for Error {
    fn from(err: lexopt::Error) -> Self {
        Error::usage(err.to_string())
    }
}

/// Adds context to `io::Result`s: `fs::read(p).ctx(|| format!("cannot read {p}"))`.
pub trait IoContext<T> {
    fn ctx<D: fmt::Display>(self, context: impl FnOnce() -> D) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx<D: fmt::Display>(self, context: impl FnOnce() -> D) -> Result<T> {
        self.map_err(|e| Error::io(context(), &e))
    }
}

/// "No such file or directory (os error 2)" → "no such file or directory".
pub fn describe(err: &io::Error) -> String {
    let text = err.to_string();
    let text = match text.find(" (os error") {
        Some(i) => &text[..i],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The last OS error (errno), for libc calls.
pub fn last_os_error() -> io::Error {
    io::Error::last_os_error()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_os_errors_without_the_errno_suffix() {
        let err = io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(describe(&err), "no such file or directory");
        let e = Error::io("cannot open /x", &err);
        assert_eq!(e.msg, "cannot open /x: no such file or directory");
        assert_eq!(e.code, 1);
    }
}
