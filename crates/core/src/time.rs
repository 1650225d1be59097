//! Time: parsing tracker timestamps, formatting, and the clock (overridable for tests and demos).

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, TimeZone, Utc, Weekday};

/// Parse a Jira timestamp such as `2018-04-13T08:07:40.815-0500` (no colon in the offset),
/// and also RFC 3339 (`…Z`, `…+05:00`) as GitHub and exports use.
pub fn parse_tracker_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Some(t) = parse_fast(s) {
        return Some(t);
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%z"] {
        if let Ok(t) = DateTime::<FixedOffset>::parse_from_str(s, fmt) {
            return Some(t.with_timezone(&Utc));
        }
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `YYYY-MM-DDTHH:MM:SS[.fff…](Z|±HHMM|±HH:MM)`, the shapes Jira and GitHub write (e.g.
/// `2018-04-13T08:07:40.815-0500`), without chrono's format parser: imports and the test server
/// parse hundreds of thousands of these. Anything else falls back to chrono.
fn parse_fast(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b.get(r)?.iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let mut i = 19;
    let mut nanos = 0u32;
    if b[i] == b'.' {
        i += 1;
        let mut scale = 100_000_000u32;
        while i < b.len() && b[i].is_ascii_digit() {
            nanos += u32::from(b[i] - b'0') * scale;
            scale /= 10;
            i += 1;
        }
    }
    let offset = match &b[i..] {
        [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (h, m) = match rest {
                [h1, h2, m1, m2] => ([*h1, *h2], [*m1, *m2]),
                [h1, h2, b':', m1, m2] => ([*h1, *h2], [*m1, *m2]),
                _ => return None,
            };
            let two = |d: [u8; 2]| -> Option<i32> {
                (d[0].is_ascii_digit() && d[1].is_ascii_digit())
                    .then(|| i32::from(d[0] - b'0') * 10 + i32::from(d[1] - b'0'))
            };
            let v = two(h)? * 3600 + two(m)? * 60;
            if *sign == b'-' {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    let time =
        chrono::NaiveTime::from_hms_nano_opt(num(11..13)?, num(14..16)?, num(17..19)?, nanos)?;
    let naive = date.and_time(time) - Duration::seconds(i64::from(offset));
    Some(naive.and_utc())
}

/// Format for storage and machine output: RFC 3339, UTC, milliseconds.
pub fn fmt_utc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Parse what [`fmt_utc`] wrote.
pub fn parse_utc(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The environment variable that fixes the clock (tests, demos, replays): RFC 3339.
pub const NOW_ENV: &str = "PORTCULLIS_NOW";

/// The current time, or the time fixed by `PORTCULLIS_NOW`.
pub fn now() -> DateTime<Utc> {
    std::env::var(NOW_ENV)
        .ok()
        .and_then(|s| parse_tracker_time(&s))
        .unwrap_or_else(Utc::now)
}

/// The most recent `day` on or before `date`: the default meeting date of a decision.
pub fn last_weekday_on_or_before(date: NaiveDate, day: Weekday) -> NaiveDate {
    let back =
        (7 + date.weekday().num_days_from_monday() as i64 - day.num_days_from_monday() as i64) % 7;
    date - Duration::days(back)
}

/// A human age such as `3d`, `5w`, `2h`.
pub fn age(from: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let d = now.signed_duration_since(from);
    if d.num_days() >= 14 {
        format!("{}w", d.num_weeks())
    } else if d.num_days() >= 1 {
        format!("{}d", d.num_days())
    } else if d.num_hours() >= 1 {
        format!("{}h", d.num_hours())
    } else {
        format!("{}m", d.num_minutes().max(0))
    }
}

/// Epoch milliseconds, for numeric timestamps some payloads carry.
pub fn from_epoch_ms(ms: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms).single()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jira_offsets_without_colon() {
        let t = parse_tracker_time("2018-04-13T08:07:40.815-0500").unwrap();
        assert_eq!(fmt_utc(t), "2018-04-13T13:07:40.815Z");
        let t = parse_tracker_time("2011-12-15T15:35:06.000+1300").unwrap();
        assert_eq!(fmt_utc(t), "2011-12-15T02:35:06.000Z");
        assert_eq!(
            fmt_utc(parse_tracker_time("2022-04-13T20:49:34Z").unwrap()),
            "2022-04-13T20:49:34.000Z"
        );
        assert!(parse_tracker_time("yesterday").is_none());
        assert!(
            parse_tracker_time("2018-13-13T08:07:40.815-0500").is_none(),
            "month 13"
        );
        // The fast path and chrono agree.
        for s in [
            "2022-03-01T23:59:59.999+1245",
            "2016-02-29T00:00:00.000-0800",
            "2022-01-04T09:00:00.000+0000",
        ] {
            let slow = DateTime::<FixedOffset>::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z")
                .unwrap()
                .with_timezone(&Utc);
            assert_eq!(parse_fast(s), Some(slow), "{s}");
        }
    }

    #[test]
    fn meeting_day() {
        let wed = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        assert_eq!(
            last_weekday_on_or_before(wed, Weekday::Tue),
            NaiveDate::from_ymd_opt(2026, 11, 24).unwrap()
        );
        let tue = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        assert_eq!(last_weekday_on_or_before(tue, Weekday::Tue), tue);
        let mon = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        assert_eq!(
            last_weekday_on_or_before(mon, Weekday::Tue),
            NaiveDate::from_ymd_opt(2026, 11, 17).unwrap()
        );
    }
}
