//! Time stamps as IRC wants them, without a date crate: ISO 8601 UTC for `server-time`
//! (<https://ircv3.net/specs/extensions/server-time>) and a readable form for RPL_CREATED/TIME.

use std::time::{SystemTime, UNIX_EPOCH};

/// Civil date from days since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

struct Parts {
    year: i64,
    month: u32,
    day: u32,
    hour: u64,
    min: u64,
    sec: u64,
    millis: u32,
}

fn parts(t: SystemTime) -> Parts {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    Parts {
        year,
        month,
        day,
        hour: rem / 3600,
        min: rem / 60 % 60,
        sec: rem % 60,
        millis: d.subsec_millis(),
    }
}

/// `2024-01-31T12:34:56.789Z`, the `server-time` format.
pub fn iso8601(t: SystemTime) -> String {
    let p = parts(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        p.year, p.month, p.day, p.hour, p.min, p.sec, p.millis
    )
}

/// `2024-01-31 12:34:56 UTC`, for people.
pub fn readable(t: SystemTime) -> String {
    let p = parts(t);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        p.year, p.month, p.day, p.hour, p.min, p.sec
    )
}

/// Seconds since the Unix epoch.
pub fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

/// Milliseconds since the Unix epoch, as the store keeps times.
pub fn unix_millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A time the store kept, back as a `SystemTime` (times before 1970 read as 1970).
pub fn from_unix_millis(ms: i64) -> SystemTime {
    UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Unix milliseconds of a `server-time` stamp, `YYYY-MM-DDThh:mm:ss[.sss]Z` (as CHATHISTORY
/// takes them); `None` for anything else.
pub fn parse_iso8601(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = b.get(range)?;
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse().ok()
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' || *b.last()? != b'Z' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let millis = match &b[19..b.len() - 1] {
        [] => 0,
        [b'.', rest @ ..] if (1..=9).contains(&rest.len()) => {
            let frac = num(20..b.len() - 1)?;
            // Only the first three digits count.
            let scale = 10u32.pow(u32::try_from(rest.len()).ok()?.saturating_sub(3));
            let frac = frac / scale;
            frac * 10u32.pow(3u32.saturating_sub(u32::try_from(rest.len()).ok()?))
        }
        _ => return None,
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day);
    let secs = days * 86_400 + i64::from(hour) * 3600 + i64::from(min) * 60 + i64::from(sec);
    secs.checked_mul(1000)?.checked_add(i64::from(millis))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_known_instants() {
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_709_210_096_789);
        assert_eq!(iso8601(t), "2024-02-29T12:34:56.789Z");
        assert_eq!(readable(t), "2024-02-29 12:34:56 UTC");
    }

    #[test]
    fn parses_what_it_formats_and_nothing_else() {
        for ms in [0, 1_709_210_096_789, 951_782_400_000, 4_102_444_799_999] {
            let t = UNIX_EPOCH + Duration::from_millis(ms);
            assert_eq!(
                parse_iso8601(&iso8601(t)),
                Some(ms as i64),
                "{}",
                iso8601(t)
            );
        }
        assert_eq!(
            parse_iso8601("2024-02-29T12:34:56Z"),
            Some(1_709_210_096_000)
        );
        assert_eq!(
            parse_iso8601("2024-02-29T12:34:56.7Z"),
            Some(1_709_210_096_700)
        );
        assert_eq!(
            parse_iso8601("2024-02-29T12:34:56.789123Z"),
            Some(1_709_210_096_789)
        );
        for bad in [
            "",
            "2024-02-29",
            "2024-02-29T12:34:56.789",
            "2024-13-01T00:00:00.000Z",
            "2024-02-29T24:00:00.000Z",
            "2024-02-29T12:34:56.Z",
            "2024-02-29T12:34:5x.000Z",
            "+024-02-29T12:34:56.000Z",
            "2024-02-29T12:34:56.000ZZ",
            "2024-02-29T12:34:56.000Zñ",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad}");
        }
    }
}
