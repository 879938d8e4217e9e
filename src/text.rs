//! The one rule for text shown to people (report lines, table cells,
//! messages on stderr, log lines): a value from outside — a label, a file
//! name, an engine's message — is shown as one line that cannot drive the
//! terminal, and not without end. Control characters (C0, DEL, C1, which
//! carry escape sequences and line ends) are written as escapes; past
//! [`MAX_SHOWN`] bytes the rest is cut, saying how much. `--json` output
//! does not go through here: JSON escapes for itself and stays exact.

use std::borrow::Cow;

/// The most of one value or line that is shown. Paths (up to PATH_MAX,
/// 4096) in messages fit; a megabyte-long message does not flood a console.
pub const MAX_SHOWN: usize = 4096;

/// `s` as one safe line: controls escaped (`\n`, `\r`, `\t`, else `\xNN`
/// or `\u{NN}`), then cut to [`MAX_SHOWN`] bytes. Borrows when nothing
/// needs changing, which is nearly always.
pub fn line(s: &str) -> Cow<'_, str> {
    if s.len() <= MAX_SHOWN && !s.chars().any(is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len().min(MAX_SHOWN + 32));
    for (i, c) in s.char_indices() {
        if out.len() >= MAX_SHOWN {
            out += &format!("... ({} more bytes)", s.len() - i);
            break;
        }
        if !is_control(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out += "\\n",
            '\r' => out += "\\r",
            '\t' => out += "\\t",
            c if (c as u32) < 0x80 => out += &format!("\\x{:02x}", c as u32),
            c => out += &format!("\\u{{{:x}}}", c as u32),
        }
    }
    Cow::Owned(out)
}

/// C0 controls, DEL, and C1 controls (U+0080..U+009F: 0x9B is CSI on
/// terminals that take 8-bit controls).
fn is_control(c: char) -> bool {
    c.is_control()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_and_plain_text_is_borrowed() {
        assert!(matches!(line("ext:v2 /data é"), Cow::Borrowed(_)));
        assert_eq!(line("a\nb\r\tc"), "a\\nb\\r\\tc");
        assert_eq!(line("\x1b[31mred"), "\\x1b[31mred");
        assert_eq!(line("x\x7f\u{9b}2J"), "x\\x7f\\u{9b}2J");
    }

    #[test]
    fn long_text_is_cut_saying_how_much_is_left() {
        let long = "é".repeat(MAX_SHOWN);
        let shown = line(&long);
        assert!(shown.len() < MAX_SHOWN + 40, "{}", shown.len());
        assert!(
            shown.ends_with(&format!("... ({} more bytes)", MAX_SHOWN)),
            "{}",
            &shown[shown.len() - 30..]
        );
        assert!(!line(&"\n".repeat(3 * MAX_SHOWN)).contains('\n'));
    }
}
