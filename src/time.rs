//! Wall-clock time as RFC 3339, the format logrus, runc's `state` and
//! containerd's shim expect. UTC only: no time zone database on the device.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds and nanoseconds since the epoch.
pub fn now() -> (i64, u32) {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(_) => (0, 0),
    }
}

/// `2026-11-23T10:52:08.123456789Z`.
pub fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

pub fn now_rfc3339() -> String {
    let (s, n) = now();
    rfc3339(s, n)
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Parses the seconds part of what [`rfc3339`] wrote (for ages in listings).
pub fn parse_rfc3339_secs(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339_in_utc() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.000000005Z");
        assert_eq!(rfc3339(1_795_431_128, 0), "2026-11-23T10:52:08.000000000Z");
    }

    #[test]
    fn dates_past_2038_need_no_64_bit_time_t() {
        // One second past the largest 32-bit time_t, and far beyond.
        assert_eq!(rfc3339(2_147_483_648, 0), "2038-01-19T03:14:08.000000000Z");
        assert_eq!(
            rfc3339(253_402_300_799, 999_999_999),
            "9999-12-31T23:59:59.999999999Z"
        );
        for secs in [2_147_483_647, 2_147_483_648, 4_294_967_296, 253_402_300_799] {
            assert_eq!(parse_rfc3339_secs(&rfc3339(secs, 0)), Some(secs));
        }
        // The clock itself reads as a positive 64-bit count on every target.
        assert!(now().0 > 1_600_000_000);
    }

    #[test]
    fn parses_what_it_formats() {
        for secs in [0, 951_782_400, 1_795_431_128, 4_102_444_800] {
            assert_eq!(parse_rfc3339_secs(&rfc3339(secs, 7)), Some(secs));
        }
        assert_eq!(parse_rfc3339_secs("yesterday"), None);
    }
}
