//! How long a server asks to wait before the next request.

use std::time::Duration;

use chrono::{DateTime, Utc};
use http::header::{HeaderMap, RETRY_AFTER};
use http::StatusCode;

/// No server-asked wait is read as longer than a day (a garbage value must not overflow).
const LONGEST: Duration = Duration::from_secs(86_400);

/// How long the answer asks to wait, as of `now`:
/// - `Retry-After` in seconds (integer or decimal, e.g. `2` or `0.5`) or as an HTTP date
///   (IMF-fixdate, e.g. `Wed, 21 Oct 2026 07:28:00 GMT`);
/// - else `X-RateLimit-Reset` when the answer is a rate limit (`X-RateLimit-Remaining: 0`, or
///   `rate_limited`: the client says so, for a 429 or whatever its service answers when it
///   limits, e.g. Jira's 503): epoch seconds (GitHub) or an ISO-8601 time (Jira).
///
/// A time in the past means "now" (zero). Values that are none of these are ignored. Waits are
/// read as at most a day; whether to honour one is the [`RetryPolicy`](crate::RetryPolicy)'s
/// decision.
pub fn retry_after(
    rate_limited: bool,
    headers: &HeaderMap,
    now: DateTime<Utc>,
) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(wait) = header(RETRY_AFTER.as_str()).and_then(|v| parse_retry_after(v, now)) {
        return Some(wait);
    }
    let spent = header("x-ratelimit-remaining") == Some("0");
    if spent || rate_limited {
        return header("x-ratelimit-reset").and_then(|v| parse_reset(v, now));
    }
    None
}

/// [`retry_after`] as of now, where a 429 is the rate limit.
pub fn retry_after_now(status: StatusCode, headers: &HeaderMap) -> Option<Duration> {
    retry_after(status == StatusCode::TOO_MANY_REQUESTS, headers, Utc::now())
}

/// A `Retry-After` value: seconds or an HTTP date.
fn parse_retry_after(v: &str, now: DateTime<Utc>) -> Option<Duration> {
    if let Ok(secs) = v.parse::<f64>() {
        return seconds(secs);
    }
    let at = DateTime::parse_from_rfc2822(v).ok()?;
    Some(until(at.with_timezone(&Utc), now))
}

/// An `X-RateLimit-Reset` value: epoch seconds or an ISO-8601 time.
fn parse_reset(v: &str, now: DateTime<Utc>) -> Option<Duration> {
    match v.parse::<f64>() {
        Ok(epoch) if epoch.is_finite() => {
            let now_secs = now.timestamp_millis() as f64 / 1000.0;
            seconds((epoch - now_secs).max(0.0))
        }
        Ok(_) => None,
        Err(_) => Some(until(portcullis_core::time::parse_tracker_time(v)?, now)),
    }
}

fn seconds(secs: f64) -> Option<Duration> {
    (secs.is_finite() && secs >= 0.0)
        .then(|| Duration::from_secs_f64(secs.min(LONGEST.as_secs_f64())))
}

/// The time from `now` to `at`: zero when `at` is past, at most [`LONGEST`].
fn until(at: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (at - now).to_std().unwrap_or_default().min(LONGEST)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-10-21T07:27:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    fn wait(status: u16, pairs: &[(&'static str, &str)]) -> Option<Duration> {
        retry_after(status == 429, &headers(pairs), now())
    }

    #[test]
    fn seconds_integer_and_decimal() {
        assert_eq!(
            wait(429, &[("retry-after", "3")]),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            wait(503, &[("retry-after", " 0.5 ")]),
            Some(Duration::from_millis(500))
        );
        assert_eq!(wait(429, &[("retry-after", "0")]), Some(Duration::ZERO));
    }

    #[test]
    fn http_dates_in_the_future_and_the_past() {
        assert_eq!(
            wait(429, &[("retry-after", "Wed, 21 Oct 2026 07:28:00 GMT")]),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            wait(429, &[("retry-after", "Wed, 21 Oct 2026 07:00:00 GMT")]),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
    }

    #[test]
    fn garbage_values_are_ignored() {
        for v in [
            "soon",
            "-1",
            "NaN",
            "inf",
            "Wed, 32 Oct 2026 07:28:00 GMT",
            "",
        ] {
            assert_eq!(wait(429, &[("retry-after", v)]), None, "{v:?}");
        }
        assert_eq!(
            wait(
                429,
                &[("retry-after", "soon"), ("x-ratelimit-reset", "later")]
            ),
            None
        );
        // Garbage in Retry-After falls back to the reset header.
        assert_eq!(
            wait(
                429,
                &[("retry-after", "soon"), ("x-ratelimit-reset", "1792567630")]
            ),
            Some(Duration::from_secs(10))
        );
    }

    #[test]
    fn huge_values_are_read_as_a_day() {
        assert_eq!(wait(429, &[("retry-after", "1e300")]), Some(LONGEST));
        assert_eq!(wait(429, &[("x-ratelimit-reset", "1e300")]), Some(LONGEST));
    }

    #[test]
    fn reset_headers_in_epoch_seconds_and_iso_8601() {
        // 2026-10-21T07:27:00Z is 1792567620.
        assert_eq!(
            wait(429, &[("x-ratelimit-reset", "1792567650")]),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            wait(
                403,
                &[
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "1792567625")
                ]
            ),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            wait(
                503,
                &[
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "2026-10-21T07:27:20Z")
                ]
            ),
            Some(Duration::from_secs(20))
        );
        assert_eq!(
            wait(429, &[("x-ratelimit-reset", "1792567000")]),
            Some(Duration::ZERO),
            "a reset in the past means now"
        );
    }

    #[test]
    fn reset_counts_only_on_a_rate_limit() {
        // Every GitHub answer carries the reset; it is a wait only when the budget is spent.
        assert_eq!(
            wait(
                403,
                &[
                    ("x-ratelimit-remaining", "12"),
                    ("x-ratelimit-reset", "1792567650")
                ]
            ),
            None
        );
        assert_eq!(wait(503, &[("x-ratelimit-reset", "1792567650")]), None);
        assert_eq!(wait(429, &[]), None);
    }

    #[test]
    fn retry_after_wins_over_the_reset() {
        assert_eq!(
            wait(
                429,
                &[("retry-after", "2"), ("x-ratelimit-reset", "1792567650")]
            ),
            Some(Duration::from_secs(2))
        );
    }
}
