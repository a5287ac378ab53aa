//! Salesforce's text forms of dates, datetimes and times: REST JSON writes datetimes as
//! `2021-07-21T04:13:15.000+0000`, Bulk CSV as `...Z`; inputs may carry any offset.
//! Values are held as Arrow holds them: days since the epoch, milliseconds since the epoch (UTC),
//! milliseconds since midnight. Hand-rolled because these run once per cell on million-row pages.

use std::fmt::Write;

const MS_PER_DAY: i64 = 86_400_000;

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) for days since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

pub fn write_date(out: &mut String, days: i32) {
    let (y, m, d) = civil_from_days(days as i64);
    if (0..10_000).contains(&y) {
        push_digits(out, y as u32, 4);
        out.push('-');
        push_digits(out, m, 2);
        out.push('-');
        push_digits(out, d, 2);
    } else {
        let _ = write!(out, "{y:04}-{m:02}-{d:02}");
    }
}

/// `value` in exactly `width` digits, zero-padded (the caller keeps it in range). Dates are
/// written once per cell when an emulator serves millions of rows: no formatter machinery.
fn push_digits(out: &mut String, value: u32, width: u32) {
    let mut buf = [b'0'; 10];
    let digits = &mut buf[..(width as usize).min(10)];
    let mut rest = value;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    out.extend(digits.iter().map(|d| char::from(*d)));
}

pub fn format_date(days: i32) -> String {
    let mut s = String::with_capacity(10);
    write_date(&mut s, days);
    s
}

/// How a datetime's UTC offset is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// `+0000`: REST JSON.
    Rest,
    /// `Z`: Bulk API 2.0 CSV.
    Bulk,
}

pub fn write_datetime(out: &mut String, millis: i64, zone: Zone) {
    let days = millis.div_euclid(MS_PER_DAY);
    let ms = millis.rem_euclid(MS_PER_DAY);
    write_date(out, days as i32);
    out.push('T');
    write_clock(out, ms);
    out.push_str(match zone {
        Zone::Rest => "+0000",
        Zone::Bulk => "Z",
    });
}

pub fn format_datetime(millis: i64, zone: Zone) -> String {
    let mut s = String::with_capacity(28);
    write_datetime(&mut s, millis, zone);
    s
}

fn write_clock(out: &mut String, ms_of_day: i64) {
    let (h, rest) = (ms_of_day / 3_600_000, ms_of_day % 3_600_000);
    let (mi, rest) = (rest / 60_000, rest % 60_000);
    let (s, ms) = (rest / 1000, rest % 1000);
    for (v, w, sep) in [(h, 2, ':'), (mi, 2, ':'), (s, 2, '.'), (ms, 3, ' ')] {
        push_digits(out, v as u32, w);
        if sep != ' ' {
            out.push(sep);
        }
    }
}

/// `13:45:00.000Z`
pub fn format_time(ms_of_day: i32) -> String {
    let mut s = String::with_capacity(13);
    write_clock(&mut s, ms_of_day as i64);
    s.push('Z');
    s
}

fn digits(s: &[u8]) -> Option<i64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0i64, |acc, d| acc * 10 + (d - b'0') as i64))
}

/// `YYYY-MM-DD` -> days since the epoch.
pub fn parse_date(text: &str) -> Option<i32> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (
        digits(&b[0..4])?,
        digits(&b[5..7])? as u32,
        digits(&b[8..10])? as u32,
    );
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    i32::try_from(days_from_civil(y, m, d)).ok()
}

/// `HH:MM:SS[.fff]` -> milliseconds since midnight; returns the rest of the text.
fn parse_clock(b: &[u8]) -> Option<(i64, &[u8])> {
    if b.len() < 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let (h, mi, s) = (digits(&b[0..2])?, digits(&b[3..5])?, digits(&b[6..8])?);
    if h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let mut rest = &b[8..];
    let mut ms = 0;
    if rest.first() == Some(&b'.') {
        let n = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        // Keep milliseconds; finer digits are truncated as Salesforce stores milliseconds.
        let frac = &rest[1..1 + n];
        let mut v = digits(&frac[..n.min(3)])?;
        for _ in n..3 {
            v *= 10;
        }
        ms = v;
        rest = &rest[1 + n..];
    }
    Some(((h * 3600 + mi * 60 + s) * 1000 + ms, rest))
}

/// `Z`, `+HH:MM`, `+HHMM`, `+HH`, or nothing (UTC) -> offset in milliseconds.
fn parse_offset(b: &[u8]) -> Option<i64> {
    match b {
        [] | [b'Z'] | [b'z'] => Some(0),
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (h, m) = match rest {
                [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => {
                    (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?)
                }
                [h1, h2] => (digits(&[*h1, *h2])?, 0),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let off = (h * 60 + m) * 60_000;
            Some(if *sign == b'-' { -off } else { off })
        }
        _ => None,
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fff](Z|+HH:MM|+HHMM)` -> milliseconds since the epoch, UTC.
pub fn parse_datetime(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 19 || !(b[10] == b'T' || b[10] == b't' || b[10] == b' ') {
        return None;
    }
    let days = parse_date(std::str::from_utf8(&b[..10]).ok()?)? as i64;
    let (ms, rest) = parse_clock(&b[11..])?;
    let offset = parse_offset(rest)?;
    Some(days * MS_PER_DAY + ms - offset)
}

/// An HTTP `Date` (`Tue, 01 Dec 2026 20:02:06 GMT`, RFC 9110's IMF-fixdate) -> milliseconds
/// since the epoch.
pub fn parse_http_date(text: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [_, day, month, year, clock, "GMT"] = parts.as_slice() else {
        return None;
    };
    let month = MONTHS.iter().position(|m| m == month)? as u32 + 1;
    let (year, day) = (digits(year.as_bytes())?, digits(day.as_bytes())? as u32);
    if day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let (ms, rest) = parse_clock(clock.as_bytes())?;
    if !rest.is_empty() {
        return None;
    }
    Some(days_from_civil(year, month, day) * MS_PER_DAY + ms)
}

/// `HH:MM:SS[.fff][Z]` -> milliseconds since midnight.
pub fn parse_time(text: &str) -> Option<i32> {
    let (ms, rest) = parse_clock(text.as_bytes())?;
    match rest {
        [] | [b'Z'] => Some(ms as i32),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for days in -800_000..800_000 {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("2021-07-20"), Some(18_828));
        assert_eq!(format_date(18_828), "2021-07-20");
        assert_eq!(format_date(-1), "1969-12-31");
        assert_eq!(parse_date("2021-02-29"), None);
        assert_eq!(parse_date("2020-02-29"), Some(18_321));
        assert_eq!(parse_date("2021-7-20"), None);
        assert_eq!(parse_date("2021-13-01"), None);
    }

    #[test]
    fn datetimes_in_every_offset_form() {
        let utc = parse_datetime("2021-07-21T04:13:15.000+0000").unwrap();
        assert_eq!(utc, 1_626_840_795_000);
        assert_eq!(parse_datetime("2021-07-21T04:13:15Z"), Some(utc));
        assert_eq!(parse_datetime("2021-07-21T04:13:15.000Z"), Some(utc));
        assert_eq!(parse_datetime("2021-07-21T06:13:15+02:00"), Some(utc));
        assert_eq!(parse_datetime("2021-07-20T23:13:15.000-0500"), Some(utc));
        assert_eq!(parse_datetime("2021-07-21T04:13:15.1234Z"), Some(utc + 123));
        assert_eq!(
            format_datetime(utc, Zone::Rest),
            "2021-07-21T04:13:15.000+0000"
        );
        assert_eq!(
            format_datetime(utc + 7, Zone::Bulk),
            "2021-07-21T04:13:15.007Z"
        );
        assert_eq!(format_datetime(-1, Zone::Bulk), "1969-12-31T23:59:59.999Z");
        assert_eq!(parse_datetime("2021-07-21T24:00:00Z"), None);
        assert_eq!(parse_datetime("2021-07-21"), None);
        assert_eq!(parse_datetime("2021-07-21T04:13:15+5"), None);
    }

    #[test]
    fn http_dates() {
        assert_eq!(
            parse_http_date("Tue, 01 Dec 2026 20:02:06 GMT"),
            parse_datetime("2026-12-01T20:02:06Z")
        );
        assert_eq!(parse_http_date("Tue, 31 Feb 2026 20:02:06 GMT"), None);
        assert_eq!(parse_http_date("Tue, 01 Dec 2026 20:02:06 PST"), None);
        assert_eq!(parse_http_date("yesterday"), None);
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("13:45:00.000Z"), Some(49_500_000));
        assert_eq!(parse_time("13:45:00"), Some(49_500_000));
        assert_eq!(format_time(49_500_001), "13:45:00.001Z");
        assert_eq!(parse_time("25:00:00Z"), None);
    }
}
