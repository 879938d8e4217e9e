//! Signal names and numbers. Numbers come from `libc` for the target, never
//! from a table of x86 values: SIGUSR1 is 10 on x86 and ARM but 16 on MIPS.

use crate::error::{Error, Result};

const NAMES: &[(&str, libc::c_int)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGIOT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("POLL", libc::SIGPOLL),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

fn rtmin() -> libc::c_int {
    libc::SIGRTMIN()
}

fn rtmax() -> libc::c_int {
    libc::SIGRTMAX()
}

/// Parses a signal as kill(1) and runc accept it: a number, or a name in any
/// case with or without `SIG` (`term`, `SIGTERM`, `RTMIN+2`).
pub fn parse(text: &str) -> Result<libc::c_int> {
    let bad = || Error::new(format!("unknown signal \"{text}\""));
    if let Ok(n) = text.parse::<libc::c_int>() {
        return if n > 0 && n <= rtmax() {
            Ok(n)
        } else {
            Err(bad())
        };
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(&(_, n)) = NAMES.iter().find(|(nm, _)| *nm == name) {
        return Ok(n);
    }
    let offset = |s: &str| -> Option<libc::c_int> {
        if s.is_empty() {
            Some(0)
        } else {
            s.parse().ok()
        }
    };
    let n = if let Some(rest) = name.strip_prefix("RTMIN") {
        rest.strip_prefix('+')
            .or(if rest.is_empty() { Some("") } else { None })
            .and_then(offset)
            .and_then(|o| rtmin().checked_add(o))
    } else if let Some(rest) = name.strip_prefix("RTMAX") {
        rest.strip_prefix('-')
            .or(if rest.is_empty() { Some("") } else { None })
            .and_then(offset)
            .and_then(|o| rtmax().checked_sub(o))
    } else {
        None
    };
    match n {
        Some(n) if n >= rtmin() && n <= rtmax() => Ok(n),
        _ => Err(bad()),
    }
}

/// The conventional name of a signal number (`SIGTERM`, `SIGRTMIN+3`).
pub fn name(sig: libc::c_int) -> String {
    if let Some((n, _)) = NAMES.iter().find(|(_, v)| *v == sig) {
        return format!("SIG{n}");
    }
    if sig >= rtmin() && sig <= rtmax() {
        return format!("SIGRTMIN+{}", sig - rtmin());
    }
    format!("signal {sig}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_in_any_case_with_or_without_sig() {
        assert_eq!(parse("TERM").unwrap(), libc::SIGTERM);
        assert_eq!(parse("sigkill").unwrap(), libc::SIGKILL);
        assert_eq!(parse("Usr1").unwrap(), libc::SIGUSR1);
        assert_eq!(parse("SIGCLD").unwrap(), libc::SIGCHLD);
        assert_eq!(parse("9").unwrap(), 9);
    }

    #[test]
    fn parses_realtime_signals() {
        assert_eq!(parse("RTMIN").unwrap(), libc::SIGRTMIN());
        assert_eq!(parse("SIGRTMIN+2").unwrap(), libc::SIGRTMIN() + 2);
        assert_eq!(parse("rtmax-1").unwrap(), libc::SIGRTMAX() - 1);
        assert!(parse("RTMAX+1").is_err());
    }

    #[test]
    fn huge_realtime_offsets_are_refused_not_overflowed() {
        for bad in [
            "RTMIN+2147483647",
            "RTMAX--2147483648",
            "RTMIN+-5",
            "RTMAX--1",
        ] {
            assert!(parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn refuses_unknown_signals() {
        for bad in ["0", "-9", "999", "FOO", "", "SIG", "RTMIN+x", "9x"] {
            assert!(parse(bad).is_err(), "{bad} should be refused");
        }
        assert_eq!(parse("FOO").err().unwrap().msg, "unknown signal \"FOO\"");
    }

    #[test]
    fn names_numbers() {
        assert_eq!(name(libc::SIGTERM), "SIGTERM");
        assert_eq!(name(libc::SIGRTMIN() + 1), "SIGRTMIN+1");
    }
}
