//! Writing the listing while the roots are read: a table for people, or one
//! JSON document for programs. Nothing waits for the end of a root, so the
//! table's columns have fixed widths instead of widths measured over all
//! rows, and the JSON document lists its entries before its roots.

use std::io::{BufWriter, Stdout, Write};

use miniserde::Serialize;

use super::scan::Entry;
use crate::error::{Error, Result};
use crate::json;

/// The table fits a terminal this wide.
const WIDTH: usize = 80;

/// The table's columns and their widths. The widths hold the usual values
/// (IDs are shortened to 12 characters as Docker shows them; `123456 reused`
/// fits PID); a longer cell pushes the rest of its row to the right. KERNEL
/// takes what is left of the line.
const COLUMNS: [(&str, usize); 7] = [
    ("ID", 12),
    ("STATUS", 8),
    ("REAL", 8),
    ("PID", 12),
    ("AGE", 4),
    ("CLASS", 8),
    ("KERNEL", 0),
];

/// Spaces between two columns.
const GAP: usize = 2;

/// What became of one root, for the JSON document.
#[derive(Serialize)]
struct RootReport {
    path: String,
    /// Why the root could not be read, if it could not.
    error: Option<String>,
    /// Entries listed from this root.
    entries: usize,
    /// Entries skipped because another runtime (runc, crun) owns them.
    #[serde(rename = "otherRuntime")]
    other_runtime: usize,
}

/// The end of the JSON document, written once every root is read.
#[derive(Serialize)]
struct Summary {
    roots: Vec<RootReport>,
    /// Entries (and roots) still broken after any pruning.
    broken: usize,
    /// Paths `--prune` removed.
    pruned: Vec<String>,
}

/// Standard output, written entry by entry.
pub struct Listing {
    out: BufWriter<Stdout>,
    json: bool,
    /// The root being read; its heading is written with its first entry.
    root: String,
    /// Entries written from that root.
    root_entries: usize,
    roots: Vec<RootReport>,
    entries: usize,
    /// The reader went away (`| head`): nothing more is written, but the
    /// scan, `--prune` and the exit status go on.
    closed: bool,
    /// The first write error other than a closed pipe, reported at the end.
    error: Option<std::io::Error>,
}

impl Listing {
    pub fn new(json: bool) -> Listing {
        let mut l = Listing {
            out: BufWriter::with_capacity(16 << 10, std::io::stdout()),
            json,
            root: String::new(),
            root_entries: 0,
            roots: Vec::new(),
            entries: 0,
            closed: false,
            error: None,
        };
        if json {
            l.put("{\n  \"entries\": [");
        }
        l
    }

    pub fn begin_root(&mut self, path: &str) {
        self.root = path.to_string();
        self.root_entries = 0;
    }

    pub fn entry(&mut self, e: &Entry) {
        if self.json {
            // Pretty-printed at the depth of the document's `entries`;
            // strings in JSON hold no raw newline, so indenting is safe.
            let text = json::pretty(&json::to_string(e)).replace('\n', "\n    ");
            let sep = if self.entries == 0 {
                "\n    "
            } else {
                ",\n    "
            };
            self.put(&format!("{sep}{text}"));
        } else {
            if self.root_entries == 0 {
                let heading = format!(
                    "{}root {}\n{}",
                    self.blank_line(),
                    crate::text::line(&self.root),
                    header()
                );
                self.put(&heading);
            }
            let text = row(e) + &details(e);
            self.put(&text);
        }
        self.entries += 1;
        self.root_entries += 1;
    }

    /// Ends the root: in the table, its count (or why it could not be read).
    /// `other_runtime` entries were skipped as other runtimes'.
    pub fn end_root(&mut self, error: Option<String>, other_runtime: usize) {
        let r = RootReport {
            path: std::mem::take(&mut self.root),
            error,
            entries: self.root_entries,
            other_runtime,
        };
        if !self.json {
            let others = match r.other_runtime {
                0 => String::new(),
                n => format!(" ({n} of other runtimes not shown)"),
            };
            let path = crate::text::line(&r.path);
            let text = if let Some(err) = &r.error {
                let err = crate::text::line(err);
                format!("{}root {path}: {err}\n", self.blank_line())
            } else if r.entries == 0 {
                format!("{}root {path}: no entries{others}\n", self.blank_line())
            } else {
                format!("{}{others}\n", count(r.entries, "entry", "entries"))
            };
            self.put(&text);
        }
        self.roots.push(r);
    }

    /// Writes what comes after the entries and flushes.
    pub fn finish(mut self, broken: usize, pruned: Vec<String>) -> Result<()> {
        let text = if self.json {
            let close = if self.entries == 0 { "]" } else { "\n  ]" };
            let summary = Summary {
                roots: std::mem::take(&mut self.roots),
                broken,
                pruned,
            };
            // The summary's own `{` is dropped: it continues the document.
            let tail = json::pretty(&json::to_string(&summary));
            format!("{close},{}\n", &tail[1..])
        } else {
            let mut text = String::new();
            if !pruned.is_empty() {
                text.push('\n');
                for path in &pruned {
                    text += &format!("pruned {}\n", crate::text::line(path));
                }
            }
            if broken > 0 {
                let noun = if broken == 1 { "entry" } else { "entries" };
                text += &format!("\n{broken} broken {noun}\n");
            }
            text
        };
        self.put(&text);
        if !self.closed && self.error.is_none() {
            if let Err(e) = self.out.flush() {
                self.note(e);
            }
        }
        match self.error.take() {
            Some(e) => Err(Error::io("cannot write the listing", &e)),
            None => Ok(()),
        }
    }

    /// Roots after the first are set off by an empty line.
    fn blank_line(&self) -> &'static str {
        if self.roots.is_empty() {
            ""
        } else {
            "\n"
        }
    }

    fn put(&mut self, text: &str) {
        if self.closed || self.error.is_some() {
            return;
        }
        if let Err(e) = self.out.write_all(text.as_bytes()) {
            self.note(e);
        }
    }

    /// A reader that stops early is not an error: the exit status still
    /// tells whether anything is broken.
    fn note(&mut self, e: std::io::Error) {
        if crate::output::reader_gone(&e) {
            self.closed = true;
        } else {
            self.error = Some(e);
        }
    }
}

/// `1 entry`, `3 entries`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn header() -> String {
    line(COLUMNS.map(|(title, _)| title))
}

fn row(e: &Entry) -> String {
    let dash = || "-".to_string();
    let pid = match (e.pid, e.proxy.as_str()) {
        (Some(p), "alive") => p.to_string(),
        (Some(p), "pid reused") => format!("{p} reused"),
        (Some(p), state) if p > 0 => format!("{p} {state}"),
        _ => dash(),
    };
    let kernel = match (&e.kernel_version, &e.kernel_abi_id) {
        (Some(v), Some(a)) => format!("{v}/{a}"),
        (Some(v), None) => v.clone(),
        (None, Some(a)) => format!("-/{a}"),
        (None, None) => dash(),
    };
    let status = if e.pruned {
        "pruned"
    } else if e.broken && e.status == "unknown" {
        "broken"
    } else {
        &e.status
    };
    let class = e
        .class
        .as_deref()
        .map_or_else(dash, |c| shorten_right(c, COLUMNS[5].1));
    line([
        &shorten_id(&e.id),
        e.recorded_status.as_deref().unwrap_or("-"),
        status,
        &pid,
        &e.age_seconds.map_or_else(dash, age),
        &class,
        &kernel,
    ])
}

/// One line of the table: each cell padded to its column's width, the last
/// one cut to what is left of the line.
fn line(cells: [&str; 7]) -> String {
    let mut out = String::with_capacity(WIDTH + 1);
    let mut used = 0;
    for (cell, (_, width)) in cells.iter().zip(COLUMNS).take(6) {
        let cell = &crate::text::line(cell);
        let n = cell.chars().count();
        let pad = width.saturating_sub(n) + GAP;
        out += cell;
        out.extend(std::iter::repeat(' ').take(pad));
        used += n + pad;
    }
    let room = WIDTH.saturating_sub(used).max(COLUMNS[6].0.len());
    out += &shorten_right(cells[6], room);
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

/// The lines under an entry's row: its bundle and what is wrong with it.
fn details(e: &Entry) -> String {
    let mut out = String::new();
    if let Some(b) = &e.bundle {
        let suffix = if e.bundle_exists == Some(false) {
            " (missing)"
        } else {
            ""
        };
        let room = WIDTH - "  bundle ".len() - suffix.len();
        out += &format!("  bundle {}{suffix}\n", shorten_left(b, room));
    }
    if e.locked {
        out += "  locked by a runtime command in progress\n";
    }
    for p in &e.problems {
        out += &format!("  ! {}\n", shorten_right(p, WIDTH - 4));
    }
    out
}

/// `5s`, `3m`, `2h`, `4d`.
pub fn age(secs: i64) -> String {
    match secs.max(0) {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// The first 12 characters, as Docker shows IDs.
pub fn shorten_id(id: &str) -> String {
    id.chars().take(12).collect()
}

/// `...` and the end of `s`, in at most `max` characters.
pub fn shorten_left(s: &str, max: usize) -> String {
    let s = &crate::text::line(s);
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    let keep = max.saturating_sub(3);
    let tail: String = s.chars().skip(n - keep).collect();
    format!("...{tail}")
}

/// The start of `s` and `...`, in at most `max` characters.
pub fn shorten_right(s: &str, max: usize) -> String {
    let s = &crate::text::line(s);
    if s.chars().count() <= max {
        return s.to_string();
    }
    let head: String = s.chars().take(max.saturating_sub(3)).collect();
    format!("{head}...")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_use_the_largest_whole_unit() {
        assert_eq!(age(5), "5s");
        assert_eq!(age(59), "59s");
        assert_eq!(age(180), "3m");
        assert_eq!(age(7200), "2h");
        assert_eq!(age(4 * 86_400 + 5), "4d");
        assert_eq!(age(-3), "0s");
    }

    #[test]
    fn long_ids_and_paths_are_shortened_to_fit() {
        assert_eq!(shorten_id("0123456789abcdef"), "0123456789ab");
        assert_eq!(shorten_id("short"), "short");
        assert_eq!(shorten_left("/a/b/c", 10), "/a/b/c");
        assert_eq!(shorten_left("/run/containerd/x/bundle", 12), ".../x/bundle");
        assert_eq!(shorten_right("6.1.77-v8 abi 12345", 10), "6.1.77-...");
    }

    #[test]
    fn columns_have_fixed_widths_and_the_last_fills_the_line() {
        let h = header();
        assert!(
            h.starts_with("ID            STATUS    REAL      PID"),
            "{h}"
        );
        let l = line(["a", "b", "c", "d", "e", "f", &"k".repeat(100)]);
        assert_eq!(l.len(), WIDTH + 1, "{l}");
        assert!(l.ends_with("...\n"));
        // A cell wider than its column pushes the row, never past the width.
        let l = line(["a", "b", "c", "1234567 reused", "e", "f", &"k".repeat(100)]);
        assert_eq!(l.len(), WIDTH + 1, "{l}");
        assert!(l.contains("1234567 reused  e"), "{l}");
    }
}
