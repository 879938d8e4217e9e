//! The small JSON layer: miniserde does the parsing and printing; this adds
//! what it deliberately leaves out — a size cap on what is read, the file in
//! every error message, and indentation for people.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use miniserde::de::{Map, Seq, Visitor};
use miniserde::json;
use miniserde::{make_place, Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};

/// A JSON string literal, escaped.
pub fn quote(s: &str) -> String {
    json::to_string(&s)
}

/// Any JSON value, skipped: for what is only checked for being there, or
/// for being valid JSON at all. Unlike `json::Value` it builds nothing.
pub struct Any;

make_place!(Place);

impl Deserialize for Any {
    fn begin(out: &mut Option<Self>) -> &mut dyn Visitor {
        Place::new(out)
    }
}

impl Visitor for Place<Any> {
    fn null(&mut self) -> miniserde::Result<()> {
        self.out = Some(Any);
        Ok(())
    }
    fn boolean(&mut self, _: bool) -> miniserde::Result<()> {
        self.null()
    }
    fn string(&mut self, _: &str) -> miniserde::Result<()> {
        self.null()
    }
    fn negative(&mut self, _: i64) -> miniserde::Result<()> {
        self.null()
    }
    fn nonnegative(&mut self, _: u64) -> miniserde::Result<()> {
        self.null()
    }
    fn float(&mut self, _: f64) -> miniserde::Result<()> {
        self.null()
    }
    fn seq(&mut self) -> miniserde::Result<Box<dyn Seq + '_>> {
        self.out = Some(Any);
        <dyn Visitor>::ignore().seq()
    }
    fn map(&mut self) -> miniserde::Result<Box<dyn Map + '_>> {
        self.out = Some(Any);
        <dyn Visitor>::ignore().map()
    }
}

/// Reads a whole text file of at most `cap` bytes, refusing symlinks when
/// `nofollow` is set. The cap keeps a hostile or broken file from taking the
/// device's memory.
pub fn read_text(path: &Path, cap: u64, nofollow: bool) -> Result<String> {
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true)
        .custom_flags(libc::O_CLOEXEC | if nofollow { libc::O_NOFOLLOW } else { 0 });
    let file = opts
        .open(path)
        .ctx(|| format!("cannot open {}", path.display()))?;
    read_text_from(file, path, cap)
}

pub fn read_text_from(file: File, path: &Path, cap: u64) -> Result<String> {
    let mut bytes = Vec::new();
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .ctx(|| format!("cannot read {}", path.display()))?;
    if bytes.len() as u64 > cap {
        return Err(Error::new(format!(
            "{} is larger than {} bytes",
            path.display(),
            cap
        )));
    }
    String::from_utf8(bytes)
        .map_err(|_| Error::new(format!("{} is not UTF-8 text", path.display())))
}

/// Parses `text` (read from `path`) as `T`. miniserde's errors carry no
/// detail, so tell at least malformed JSON from well-formed JSON of the
/// wrong shape.
pub fn parse<T: Deserialize>(text: &str, path: &Path, expected: &str) -> Result<T> {
    json::from_str(text).map_err(|_| {
        let what = if json::from_str::<Any>(text).is_ok() {
            format!("is valid JSON but not {expected}")
        } else if text.trim().is_empty() {
            "is empty".to_string()
        } else {
            "is not valid JSON (truncated or corrupt)".to_string()
        };
        Error::new(format!("{} {what}", path.display()))
    })
}

/// Reads and parses a capped JSON file.
pub fn read<T: Deserialize>(path: &Path, cap: u64, expected: &str) -> Result<T> {
    parse(&read_text(path, cap, false)?, path, expected)
}

/// Compact JSON.
pub fn to_string<T: Serialize>(value: &T) -> String {
    json::to_string(value)
}

/// Indents compact JSON (as written by miniserde) with two spaces, as runc
/// prints `state`. Works on the text: strings are copied untouched.
pub fn pretty(compact: &str) -> String {
    let mut out = String::with_capacity(compact.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = compact.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                if matches!(chars.peek(), Some('}') | Some(']')) {
                    out.push(chars.next().unwrap());
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_prints_nested_json_and_leaves_strings_alone() {
        let s = pretty(r#"{"a":[1,2],"b":{},"c":"x,{\"y\":1}","d":[]}"#);
        assert_eq!(
            s,
            "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": {},\n  \"c\": \"x,{\\\"y\\\":1}\",\n  \"d\": []\n}"
        );
    }

    #[test]
    fn parse_errors_name_the_file_and_the_problem() {
        #[derive(Deserialize)]
        struct T {
            #[allow(dead_code)]
            a: u32,
        }
        let p = Path::new("/b/config.json");
        let err = |t: &str| parse::<T>(t, p, "an OCI spec").err().unwrap().msg;
        assert_eq!(
            err("{\"a\":"),
            "/b/config.json is not valid JSON (truncated or corrupt)"
        );
        assert_eq!(
            err("{\"a\":\"x\"}"),
            "/b/config.json is valid JSON but not an OCI spec"
        );
        assert_eq!(err(""), "/b/config.json is empty");
        assert!(parse::<T>("{\"a\":1,\"unknown\":[{}]}", p, "x").is_ok());
    }

    #[test]
    fn deep_nesting_does_not_overflow_the_stack() {
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        assert!(json::from_str::<Any>(&deep).is_ok());
        assert!(json::from_str::<Any>(&deep[1..]).is_err());
    }
}
