//! The report for people: compact, aligned, at most 80 columns. Long
//! values are shortened in the middle; `--json` has them whole.

use super::{Report, ABSENT, NO_CLAIM, OK};
use crate::runtime::query::table;

pub const WIDTH: usize = 80;

/// Shortens `s` to `w` characters, keeping both ends.
pub fn fit(s: &str, w: usize) -> String {
    let s = &crate::text::line(s);
    let n = s.chars().count();
    if n <= w {
        return s.to_string();
    }
    if w <= 3 {
        return s.chars().take(w).collect();
    }
    let head = (w - 3) / 2;
    let tail = w - 3 - head;
    let mut out: String = s.chars().take(head).collect();
    out += "...";
    out.extend(s.chars().skip(n - tail));
    out
}

/// Word-wraps `text` to the width, continuation lines indented.
pub fn wrap(text: &str, first: &str, rest: &str) -> String {
    let mut out = String::new();
    let mut line = first.to_string();
    let mut empty = true;
    for word in text.split(' ') {
        let len = line.chars().count();
        if !empty && len + 1 + word.chars().count() > WIDTH {
            out += line.trim_end();
            out.push('\n');
            line = rest.to_string();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        // A word longer than a whole line (a path) is shortened.
        line += &fit(word, WIDTH - rest.len());
        empty = false;
    }
    out += line.trim_end();
    out.push('\n');
    out
}

/// `1536` → `1.5 KiB`, with integer arithmetic only.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut unit = 0;
    let mut scale = 1024u64;
    while unit + 1 < UNITS.len() && bytes >= scale * 1024 {
        scale *= 1024;
        unit += 1;
    }
    let tenths = (bytes as u128 * 10 / scale as u128) as u64;
    format!("{}.{} {}", tenths / 10, tenths % 10, UNITS[unit])
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A long sha256 shown as `sha256:01234567...`.
fn short_digest(v: &str) -> String {
    let d = crate::claims::abi_digest(v);
    if d.len() > 16 && d.bytes().all(|b| b.is_ascii_hexdigit()) {
        format!("sha256:{}...", &d[..8])
    } else {
        v.to_string()
    }
}

/// A table indented by two spaces and shortened to fit: the widest column
/// gives up room until the row fits (never below its header's width).
fn section<const N: usize>(header: &[&str; N], rows: Vec<[String; N]>) -> String {
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let room = WIDTH - 2 - 3 * (N - 1);
    while widths.iter().sum::<usize>() > room {
        let Some(i) = (0..N)
            .filter(|&i| widths[i] > header[i].len().max(4))
            .max_by_key(|&i| widths[i])
        else {
            break;
        };
        widths[i] -= 1;
    }
    let rows: Vec<[String; N]> = rows
        .into_iter()
        .map(|mut r| {
            for (cell, &w) in r.iter_mut().zip(&widths) {
                *cell = fit(cell, w);
            }
            r
        })
        .collect();
    let mut out = String::new();
    for line in table(header, &rows).lines() {
        out += "  ";
        out += line;
        out.push('\n');
    }
    out
}

fn field(name: &str, value: &str) -> String {
    format!("{name:<9}{}\n", fit(value, WIDTH - 9))
}

pub fn human(r: &Report) -> String {
    let mut out = String::new();
    let verdict = match (r.valid, r.compatible) {
        (true, true) => "valid and compatible with this host",
        (true, false) => "valid but INCOMPATIBLE with this host",
        (false, true) => "INVALID",
        (false, false) => "INVALID and INCOMPATIBLE with this host",
    };
    out += &field("target", &format!("{} ({})", r.target, r.kind));
    if let Some(id) = &r.id {
        out += &field("id", id);
    }
    out += &field("rootfs", &r.rootfs);
    if r.layers.len() > 1 || r.layers.first() != Some(&r.rootfs) {
        out += &field(
            "layers",
            &format!("{} (not mounted; read layer by layer)", r.layers.len()),
        );
    }
    out += &field("labels", &r.label_source);
    let h = &r.host;
    let mut host = h.root.clone();
    if let Some(k) = &h.kernel_release {
        host += &format!(", kernel {k}");
    }
    if let Some(v) = &h.os_version {
        host += &format!(", OS {v}");
    }
    out += &field("host", &host);
    // Which kernel identity an ABI claim was compared with.
    let abi_claimed = r
        .checks
        .iter()
        .any(|c| c.label == crate::labels::KERNEL_ABI_ID && c.status != NO_CLAIM);
    if let (true, Some(abi), Some(source)) = (abi_claimed, &h.kernel_abi, &h.kernel_abi_source) {
        out += &field("abi", &format!("{} from {source}", short_digest(abi)));
    }
    out += &field("result", verdict);

    out.push('\n');
    let rows = r
        .labels
        .iter()
        .map(|l| {
            let value = match &l.value {
                Some(v) if l.name == crate::labels::KERNEL_ABI_ID => short_digest(v),
                Some(v) => v.clone(),
                None => "-".into(),
            };
            [
                super::compat::short_label(&l.name).to_string(),
                value,
                l.status.clone(),
            ]
        })
        .collect();
    out += &section(&["LABEL", "VALUE", "STATUS"], rows);
    // What the labels balenaOS itself reads mean for the device: the table
    // has no room for it, and an engineer on a serial console has no --json
    // viewer at hand.
    for l in &r.labels {
        let device_label = [
            crate::labels::STORE,
            crate::labels::OVERRIDE,
            crate::labels::UPDATE_REQUIRES_REBOOT,
        ]
        .contains(&l.name.as_str());
        if device_label && l.status == OK {
            let name = super::compat::short_label(&l.name);
            out += &wrap(&format!("{name}: {}", l.note), "  ", "    ");
        }
    }

    out.push('\n');
    let mut rows: Vec<[String; 4]> = r
        .checks
        .iter()
        .map(|c| {
            let abi = c.name == "kernel-abi-id";
            let show = |v: &Option<String>| match v {
                Some(v) if abi => short_digest(v),
                Some(v) => v.clone(),
                None => "-".into(),
            };
            let status = if c.status == NO_CLAIM {
                "-".to_string()
            } else {
                c.status.clone()
            };
            [c.name.clone(), show(&c.extension), show(&c.host), status]
        })
        .collect();
    rows.push([
        "nohostext".into(),
        "-".into(),
        if h.nohostext {
            "on the cmdline"
        } else {
            "not set"
        }
        .into(),
        if h.nohostext { "warning" } else { OK }.into(),
    ]);
    out += &section(&["CHECK", "EXTENSION", "HOST", "RESULT"], rows);

    out.push('\n');
    let rows = r
        .hooks
        .iter()
        .map(|k| {
            let interp = match (&k.interpreter, k.interpreter_found) {
                (Some(i), Some(true)) => format!("{i} (found)"),
                (Some(i), _) => format!("{i} (MISSING on host)"),
                (None, _) if k.status != ABSENT && k.path.is_some() => "-".into(),
                _ => String::new(),
            };
            [k.name.clone(), k.status.clone(), interp]
        })
        .collect();
    out += &section(&["HOOK", "STATUS", "INTERPRETER"], rows);

    out.push('\n');
    let c = &r.content;
    let mut content = format!(
        "{}, {}, {}, {}",
        plural(c.files, "file", "files"),
        plural(c.dirs, "dir", "dirs"),
        plural(c.symlinks, "symlink", "symlinks"),
        size(c.bytes)
    );
    if c.whiteouts > 0 {
        content += &format!(", {}", plural(c.whiteouts, "whiteout", "whiteouts"));
    }
    out += &field("content", &content);
    let s = &r.shadows;
    out += &field(
        "shadows",
        &format!(
            "{} on the host, {} dangerous",
            plural(s.count, "path", "paths"),
            s.dangerous
        ),
    );
    // Every dangerous one, then the first others.
    const SHOWN: usize = 10;
    let mut listed: Vec<&super::Shadow> = s.paths.iter().filter(|p| p.dangerous).collect();
    let room = SHOWN.saturating_sub(listed.len());
    listed.extend(s.paths.iter().filter(|p| !p.dangerous).take(room));
    if !listed.is_empty() {
        let rows = listed
            .iter()
            .map(|p| {
                let note = match &p.reason {
                    Some(why) => format!("DANGEROUS: {why}"),
                    None => String::new(),
                };
                [p.path.clone(), format!("{}/{}", p.kind, p.host_kind), note]
            })
            .collect();
        out += &section(&["PATH", "EXT/HOST", "NOTE"], rows);
        let hidden = s.count - listed.len() as u64;
        if hidden > 0 {
            out += &format!("  ... and {hidden} more (--json lists them)\n");
        }
    }
    let b = &r.next_boot;
    let next = match (&b.error, &b.disabled_by) {
        (Some(e), _) => format!("next boot unknown: {e}"),
        (None, Some(d)) => format!("next boot: the hostapp alone ({d})"),
        (None, None) => format!(
            "next boot: {} over the hostapp, {} skipped ({} layers, {})",
            plural(b.extensions, "extension", "extensions"),
            b.skipped,
            b.layers,
            b.method.as_deref().unwrap_or("")
        ),
    };
    out += &field("boot", &next);
    if let Some(this) = &b.this {
        out += &field("this one", this);
    }
    if !r.problems.is_empty() {
        out += "\nproblems:\n";
        for p in &r.problems {
            out += &wrap(p, "  - ", "    ");
        }
    }
    if !r.warnings.is_empty() {
        out += "\nwarnings:\n";
        for w in &r.warnings {
            out += &wrap(w, "  - ", "    ");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortens_in_the_middle() {
        assert_eq!(fit("abcdef", 6), "abcdef");
        assert_eq!(fit("abcdefghij", 7), "ab...ij");
        assert_eq!(fit("abcdefghij", 8).chars().count(), 8);
    }

    #[test]
    fn wraps_to_80_columns() {
        let text = "word ".repeat(40) + &"/very/long/path".repeat(10);
        let out = wrap(&text, "  - ", "    ");
        assert!(out.lines().count() > 2);
        assert!(out.lines().all(|l| l.chars().count() <= WIDTH), "{out}");
        assert!(out.starts_with("  - word"));
        assert!(out.lines().nth(1).unwrap().starts_with("    word"));
    }

    #[test]
    fn sizes_are_human() {
        assert_eq!(size(0), "0 bytes");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(5 << 20), "5.0 MiB");
    }
}
