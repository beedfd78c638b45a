//! RFC 3339 timestamps in UTC (`2026-11-25T20:53:20.123456Z`) and calendar days, without a
//! date-time dependency: the conversion is Howard Hinnant's `civil_from_days`.

use std::time::{SystemTime, UNIX_EPOCH};

/// `(year, month, day)` of a day number.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `YYYY-MM-DD` of a day number, as rotated log files are named.
pub(crate) fn date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Appends the RFC 3339 UTC form of `time`, with microseconds, to `out`.
pub(crate) fn write_rfc3339(out: &mut String, time: SystemTime) {
    write_iso8601_naive(out, time);
    out.push('Z');
}

/// Appends `YYYY-MM-DDTHH:MM:SS.ffffff`, the UTC time without an offset: what Python's
/// `datetime.now().isoformat()` writes on a host whose clock is UTC, as MoAI-Flow stores it.
pub(crate) fn write_iso8601_naive(out: &mut String, time: SystemTime) {
    use std::fmt::Write as _;
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() as i64;
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    let _ = write!(
        out,
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:06}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_micros()
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn known_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(date(19_782), "2024-02-29");
        assert_eq!(date(20_417), "2025-11-25");
        let mut s = String::new();
        write_rfc3339(
            &mut s,
            UNIX_EPOCH + Duration::from_micros(1_764_104_000_123_456),
        );
        assert_eq!(s, "2025-11-25T20:53:20.123456Z");
    }
}
