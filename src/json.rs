//! The small JSON layer: miniserde does the parsing and printing; this adds
//! what it deliberately leaves out — a size cap on what is read, the file in
//! every error message, and indentation for people.

use std::fs::File;
use std::path::Path;

use miniserde::de::{Map, Seq, Visitor};
use miniserde::json;
use miniserde::{make_place, Deserialize, Serialize};

use crate::error::{Error, Result};

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

/// A JSON object written by hand, keys in call order: what `--json`
/// prints. Plain calls instead of a derived `Serialize` per struct keep the
/// binary small; the text is the same as miniserde writes (compact, strings
/// escaped by [`quote`]).
pub struct Obj(String);

impl Default for Obj {
    fn default() -> Self {
        Obj("{".to_string())
    }
}

impl Obj {
    /// `"key":` then `value` as it is (already JSON).
    pub fn raw(&mut self, key: &str, value: &str) -> &mut Self {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        self.0.push('"');
        self.0.push_str(key);
        self.0.push_str("\":");
        self.0.push_str(value);
        self
    }

    pub fn str(&mut self, key: &str, value: &str) -> &mut Self {
        self.raw(key, &quote(value))
    }

    /// A string, or null.
    pub fn opt(&mut self, key: &str, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.str(key, v),
            None => self.raw(key, "null"),
        }
    }

    pub fn uint(&mut self, key: &str, value: u64) -> &mut Self {
        self.raw(key, &value.to_string())
    }

    /// A signed number, or null.
    pub fn int(&mut self, key: &str, value: Option<i64>) -> &mut Self {
        match value {
            Some(v) => self.raw(key, &v.to_string()),
            None => self.raw(key, "null"),
        }
    }

    pub fn bool(&mut self, key: &str, value: bool) -> &mut Self {
        self.raw(key, if value { "true" } else { "false" })
    }

    /// A boolean, or null.
    pub fn opt_bool(&mut self, key: &str, value: Option<bool>) -> &mut Self {
        match value {
            Some(v) => self.bool(key, v),
            None => self.raw(key, "null"),
        }
    }

    /// An array of strings.
    pub fn strs(&mut self, key: &str, values: &[String]) -> &mut Self {
        self.raw(key, &array(values.iter().map(|v| quote(v))))
    }

    pub fn end(&mut self) -> String {
        let mut s = std::mem::take(&mut self.0);
        s.push('}');
        s
    }
}

/// `[a,b,…]` from items that are already JSON.
pub fn array(items: impl Iterator<Item = String>) -> String {
    let mut out = String::from("[");
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&item);
    }
    out.push(']');
    out
}

/// Reads a whole text file of at most `cap` bytes, refusing symlinks when
/// `nofollow` is set, and anything but a regular file (see `readfile`).
pub fn read_text(path: &Path, cap: u64, nofollow: bool) -> Result<String> {
    utf8(crate::readfile::read(path, cap, nofollow)?, path)
}

/// The same for a file the caller opened itself.
pub fn read_text_from(file: File, path: &Path, cap: u64) -> Result<String> {
    utf8(crate::readfile::read_from(file, path, cap)?, path)
}

fn utf8(bytes: Vec<u8>, path: &Path) -> Result<String> {
    String::from_utf8(bytes)
        .map_err(|_| Error::new(format!("{} is not UTF-8 text", path.display())))
}

/// Parses `text` (read from `path`) as `T`. miniserde's errors carry no
/// detail, so tell at least malformed JSON from well-formed JSON of the
/// wrong shape.
pub fn parse<T: Deserialize>(text: &str, path: &Path, expected: &str) -> Result<T> {
    json::from_str(text).map_err(|_| invalid(text, &path.display(), expected))
}

/// Why `text` did not parse as `expected`, for `name` (a file, or what the
/// text is): outside the generic `parse`, so that it exists once.
pub fn invalid(text: &str, name: &dyn std::fmt::Display, expected: &str) -> Error {
    let what = if json::from_str::<Any>(text).is_ok() {
        format!("is valid JSON but not {expected}")
    } else if let Some(number) = out_of_range(text) {
        format!("holds a number out of range ({number})")
    } else if text.trim().is_empty() {
        "is empty".to_string()
    } else {
        "is not valid JSON (truncated or corrupt)".to_string()
    };
    Error::new(format!("{name} {what}"))
}

/// The first number outside the strings of `text` that the parser refuses
/// for its size alone (`1e400`, past what an f64 holds).
fn out_of_range(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let (mut i, mut in_string) = (0, false);
    while i < bytes.len() {
        let (c, start) = (bytes[i], i);
        i += 1;
        if in_string && c == b'\\' {
            // The escaped byte too: an escaped quote does not end the string.
            i += 1;
        } else if in_string {
            in_string = c != b'"';
        } else if c == b'-' || c.is_ascii_digit() {
            while i < bytes.len() && (bytes[i].is_ascii_digit() || b"+-.eE".contains(&bytes[i])) {
                i += 1;
            }
            let number = &text[start..i];
            if number.bytes().any(|b| b.is_ascii_digit()) && json::from_str::<Any>(number).is_err()
            {
                return Some(number);
            }
        } else {
            in_string = c == b'"';
        }
    }
    None
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
        assert_eq!(
            err("{\"s\":\"1e999\\\"\",\"b\":2e3,\"a\":1e400}"),
            "/b/config.json holds a number out of range (1e400)"
        );
        assert_eq!(
            err("{\"a\":1.5e-3,\"b\":-"),
            "/b/config.json is not valid JSON (truncated or corrupt)"
        );
    }

    #[test]
    fn obj_writes_what_miniserde_writes() {
        #[derive(Serialize)]
        struct T {
            s: String,
            o: Option<String>,
            n: u64,
            i: Option<i64>,
            b: Option<bool>,
            v: Vec<String>,
        }
        let t = T {
            s: "a\"b\u{1}\\".into(),
            o: None,
            n: 7,
            i: Some(-3),
            b: Some(false),
            v: vec!["x".into(), "y".into()],
        };
        let mine = Obj::default()
            .str("s", &t.s)
            .opt("o", t.o.as_deref())
            .uint("n", t.n)
            .int("i", t.i)
            .opt_bool("b", t.b)
            .strs("v", &t.v)
            .end();
        assert_eq!(mine, to_string(&t));
        assert_eq!(array(std::iter::empty()), "[]");
    }

    #[test]
    fn deep_nesting_does_not_overflow_the_stack() {
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        assert!(json::from_str::<Any>(&deep).is_ok());
        assert!(json::from_str::<Any>(&deep[1..]).is_err());
    }
}
