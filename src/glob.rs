//! Shell-style globs (`*`, `?`, `[abc]`, `[a-z]`, `[!x]`): extension-inspect's
//! `os-version` label and essential host paths, state-dump's known roots.

/// Whether `text` matches all of `pattern`. `*` and `?` match any
/// character, `/` included (the patterns are versions and whole paths).
pub fn matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Iterative matching with one backtrack point for the last `*`:
    // linear in practice, never exponential.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ti));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                '[' => {
                    if let Some((hit, next)) = class(&p, pi, t[ti]) {
                        if hit {
                            pi = next;
                            ti += 1;
                            continue;
                        }
                    } else if t[ti] == '[' {
                        // An unclosed `[` is a literal.
                        pi += 1;
                        ti += 1;
                        continue;
                    }
                }
                '\\' if pi + 1 < p.len() && p[pi + 1] == t[ti] => {
                    pi += 2;
                    ti += 1;
                    continue;
                }
                // An escaped character that does not match.
                '\\' if pi + 1 < p.len() => {}
                c if c == t[ti] => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, st)) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Matches `c` against the bracket expression starting at `p[start]`:
/// (matched, index after `]`), or None when the `[` is not closed.
fn class(p: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = i < p.len() && (p[i] == '!' || p[i] == '^');
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == ']' && !first {
            return Some((hit != negate, i + 1));
        }
        first = false;
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            if p[i] <= c && c <= p[i + 2] {
                hit = true;
            }
            i += 3;
        } else {
            if p[i] == c {
                hit = true;
            }
            i += 1;
        }
    }
    None
}

/// Whether `text` matches any of the comma-separated patterns.
pub fn matches_any(patterns: &str, text: &str) -> bool {
    patterns
        .split(',')
        .map(str::trim)
        .any(|p| !p.is_empty() && matches(p, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_stars_question_marks_and_literals() {
        assert!(matches("2.113.*", "2.113.18"));
        assert!(matches("*", ""));
        assert!(matches("2.*.1?", "2.113.18"));
        assert!(!matches("2.*.1?", "2.113.1"));
        assert!(matches("6.0.*", "6.0.0"));
        assert!(!matches("6.0.*", "6.1.0"));
        assert!(matches("a*b*c", "aXXbYYbc"));
        assert!(!matches("a*b*c", "aXXbYYb"));
        assert!(matches("2.113.18", "2.113.18"));
        assert!(!matches("2.113.1", "2.113.18"));
        assert!(matches("/lib/ld-linux*", "/lib/ld-linux-aarch64.so.1"));
        assert!(matches(r"a\*", "a*"));
        assert!(!matches(r"a\*", "ab"));
    }

    #[test]
    fn matches_bracket_expressions() {
        assert!(matches("2.[0-9]*", "2.113.18"));
        assert!(!matches("2.[!0-9]*", "2.113.18"));
        assert!(matches("[ab]x", "bx"));
        assert!(!matches("[ab]x", "cx"));
        assert!(matches("[]]", "]"));
        assert!(matches("a[", "a["));
    }

    #[test]
    fn matches_any_of_a_comma_separated_list() {
        assert!(matches_any("2.112.*, 2.113.*", "2.113.18"));
        assert!(!matches_any("2.112.*,3.*", "2.113.18"));
        assert!(!matches_any("", "2.113.18"));
        assert!(!matches_any(" , ", ""));
    }

    #[test]
    fn long_inputs_do_not_take_exponential_time() {
        let text = "a".repeat(5000);
        assert!(!matches("*a*a*a*a*a*a*b", &text));
    }
}
