//! The runtime's `--log` file, in runc's (logrus') formats.
//!
//! containerd's shim decodes the whole file as a stream of JSON objects and
//! shows the user the `msg` of the last `"level":"error"` line, so every line
//! must be one valid JSON object with a lower-case level and an RFC 3339 time.
//! Each line goes out in a single `write(2)` on an `O_APPEND` descriptor, so
//! concurrent invocations never interleave inside a line.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::OnceLock;

use crate::error::{IoContext, Result};

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warn,
    Info,
    Debug,
}

impl Level {
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s.to_ascii_lowercase().as_str() {
            "error" | "fatal" | "panic" => Level::Error,
            "warn" | "warning" => Level::Warn,
            "info" => Level::Info,
            "debug" | "trace" => Level::Debug,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warning",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

struct Logger {
    file: File,
    json: bool,
    max: Level,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Opens the log file for the rest of this invocation.
pub fn init(path: &std::path::Path, json: bool, max: Level) -> Result<()> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        // O_NONBLOCK: a FIFO with no reader fails the open at once instead
        // of hanging it; on a regular file it changes nothing.
        .custom_flags(libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
        .ctx(|| format!("cannot open log file {}", path.display()))?;
    let _ = LOGGER.set(Logger { file, json, max });
    Ok(())
}

/// One log line, as the configured format wants it.
pub fn format_line(json: bool, level: Level, msg: &str, time: &str) -> String {
    let msg = &crate::text::line(msg);
    if json {
        format!(
            "{{\"level\":\"{}\",\"msg\":{},\"time\":\"{}\"}}\n",
            level.name(),
            crate::json::quote(msg),
            time
        )
    } else {
        format!(
            "time=\"{}\" level={} msg={}\n",
            time,
            level.name(),
            crate::json::quote(msg)
        )
    }
}

pub fn log(level: Level, msg: &str) {
    let Some(logger) = LOGGER.get() else { return };
    if level > logger.max {
        return;
    }
    let line = format_line(logger.json, level, msg, &crate::time::now_rfc3339());
    // A log that cannot be written must not turn success into failure.
    let _ = (&logger.file).write_all(line.as_bytes());
}

pub fn error(msg: &str) {
    log(Level::Error, msg)
}
pub fn warn(msg: &str) {
    log(Level::Warn, msg)
}
pub fn info(msg: &str) {
    log(Level::Info, msg)
}
pub fn debug(msg: &str) {
    log(Level::Debug, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_are_what_the_shim_decodes() {
        let line = format_line(true, Level::Error, "bad \"label\"", "T");
        assert_eq!(
            line,
            "{\"level\":\"error\",\"msg\":\"bad \\\"label\\\"\",\"time\":\"T\"}\n"
        );
    }

    #[test]
    fn messages_follow_the_one_line_rule() {
        // The shim shows `msg` to the user: escaped and cut as on stderr.
        let line = format_line(true, Level::Error, "a\nb\x1b[2J", "T");
        assert!(line.contains("\"msg\":\"a\\\\nb\\\\x1b[2J\""), "{line}");
        let line = format_line(false, Level::Error, &"x".repeat(1 << 20), "T");
        assert!(line.len() < 2 * crate::text::MAX_SHOWN, "{}", line.len());
    }

    #[test]
    fn text_lines_look_like_logrus() {
        let line = format_line(false, Level::Warn, "hook failed", "T");
        assert_eq!(line, "time=\"T\" level=warning msg=\"hook failed\"\n");
    }

    #[test]
    fn levels_parse_like_logrus() {
        assert!(Level::parse("WARNING") == Some(Level::Warn));
        assert!(Level::parse("loud").is_none());
    }
}
