//! The retry schedule: attempts, backoff, jitter and the longest server-asked wait.

use std::time::Duration;

use rand::Rng;

/// How a client retries one request.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (0 counts as 1).
    pub max_attempts: u32,
    /// The backoff before the first retry; it doubles for each further retry.
    pub first_backoff: Duration,
    /// The longest backoff.
    pub max_backoff: Duration,
    /// The longest wait a server may ask for; asking for more gives up
    /// ([`GiveUp::WaitTooLong`]) rather than blocking the caller.
    pub max_server_wait: Duration,
    /// The share of a backoff that is random, from 0 (none: exactly the doubling) to 1: a
    /// backoff `b` becomes a wait between `b × (1 − jitter)` and `b`. A wait the server asked
    /// for gets up to `jitter × first_backoff` more, never less: retrying early earns a longer
    /// wait.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            max_server_wait: Duration::from_secs(120),
            jitter: 0.5,
        }
    }
}

/// Why an attempt is worth another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// A rate limit: wait as the server asked (`None`: it did not say; the backoff).
    After(Option<Duration>),
    /// A transient failure (5xx, timeout, dropped connection): wait the backoff.
    Backoff,
}

/// What to do after an attempt worth retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Sleep this long, then try again.
    Wait(Duration),
    /// Stop.
    GiveUp(GiveUp),
}

/// Why retrying stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUp {
    /// [`RetryPolicy::max_attempts`] were made.
    Exhausted,
    /// The server asked to wait this long, more than [`RetryPolicy::max_server_wait`].
    WaitTooLong(Duration),
}

impl RetryPolicy {
    /// The attempts allowed, at least 1.
    pub fn attempts(&self) -> u32 {
        self.max_attempts.max(1)
    }

    /// The backoff after attempt `attempt` (1-based): `first_backoff × 2^(attempt−1)`, capped
    /// at `max_backoff`, jittered.
    pub fn backoff(&self, attempt: u32) -> Duration {
        self.backoff_with(attempt, unit_random())
    }

    /// [`Self::backoff`] with the random draw `r` (in `[0, 1)`) given.
    pub fn backoff_with(&self, attempt: u32, r: f64) -> Duration {
        let exp = self
            .first_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.max_backoff);
        exp.saturating_sub(exp.mul_f64(self.jitter() * r.clamp(0.0, 1.0)))
    }

    /// The wait for a server that asked for `asked`: that, plus a little jitter, never less.
    pub fn server_wait(&self, asked: Duration) -> Duration {
        self.server_wait_with(asked, unit_random())
    }

    /// [`Self::server_wait`] with the random draw `r` given.
    pub fn server_wait_with(&self, asked: Duration, r: f64) -> Duration {
        asked.saturating_add(
            self.first_backoff
                .mul_f64(self.jitter() * r.clamp(0.0, 1.0)),
        )
    }

    /// What to do after attempt number `attempt` (1-based) came to `retry`. A server asking for
    /// a wait longer than [`Self::max_server_wait`] gives up at once; otherwise retries stop
    /// after [`Self::max_attempts`].
    pub fn next(&self, attempt: u32, retry: Retry) -> Next {
        if let Retry::After(asked) = retry {
            let asked = asked.unwrap_or_else(|| self.backoff(attempt));
            if asked > self.max_server_wait {
                return Next::GiveUp(GiveUp::WaitTooLong(asked));
            }
            if attempt >= self.attempts() {
                return Next::GiveUp(GiveUp::Exhausted);
            }
            return Next::Wait(self.server_wait(asked));
        }
        if attempt >= self.attempts() {
            return Next::GiveUp(GiveUp::Exhausted);
        }
        Next::Wait(self.backoff(attempt))
    }

    fn jitter(&self) -> f64 {
        if self.jitter.is_finite() {
            self.jitter.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }
}

/// A draw in `[0, 1)` from the operating system's generator: backoffs are rare, and no two
/// processes retrying together should draw alike.
fn unit_random() -> f64 {
    rand::rngs::OsRng.gen_range(0.0..1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn policy(jitter: f64) -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            first_backoff: ms(100),
            max_backoff: ms(1000),
            max_server_wait: Duration::from_secs(60),
            jitter,
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = policy(0.0);
        let got: Vec<Duration> = (1..=7).map(|a| p.backoff(a)).collect();
        assert_eq!(
            got,
            [
                ms(100),
                ms(200),
                ms(400),
                ms(800),
                ms(1000),
                ms(1000),
                ms(1000)
            ]
        );
        assert_eq!(
            p.backoff(u32::MAX),
            ms(1000),
            "no overflow on huge attempt numbers"
        );
        assert_eq!(p.backoff(0), ms(100));
    }

    #[test]
    fn jitter_stays_within_its_bounds() {
        let p = policy(0.5);
        assert_eq!(p.backoff_with(3, 0.0), ms(400));
        assert_eq!(p.backoff_with(3, 0.5), ms(300));
        let almost_one = p.backoff_with(3, 0.999_999);
        assert!(
            almost_one >= ms(200) && almost_one < ms(201),
            "{almost_one:?}"
        );
        for attempt in 1..=6 {
            let full = policy(0.0).backoff(attempt);
            for _ in 0..200 {
                let b = p.backoff(attempt);
                assert!(
                    b <= full && b >= full / 2,
                    "attempt {attempt}: {b:?} vs {full:?}"
                );
            }
        }
        // Not always the same draw.
        let draws: std::collections::HashSet<Duration> = (0..50).map(|_| p.backoff(4)).collect();
        assert!(draws.len() > 1);
        // Silly jitter values are clamped.
        assert_eq!(policy(7.0).backoff_with(1, 0.5), ms(50));
        assert_eq!(policy(f64::NAN).backoff_with(1, 0.5), ms(100));
    }

    #[test]
    fn server_waits_are_never_shorter_than_asked() {
        let p = policy(0.5);
        for _ in 0..200 {
            let w = p.server_wait(Duration::from_secs(2));
            assert!(
                w >= Duration::from_secs(2) && w < Duration::from_secs(2) + ms(50),
                "{w:?}"
            );
        }
        assert_eq!(policy(0.0).server_wait(ms(1234)), ms(1234));
    }

    #[test]
    fn next_waits_as_asked_or_backs_off() {
        let p = policy(0.0);
        assert_eq!(
            p.next(1, Retry::After(Some(ms(1500)))),
            Next::Wait(ms(1500))
        );
        assert_eq!(p.next(2, Retry::After(None)), Next::Wait(ms(200)));
        assert_eq!(p.next(3, Retry::Backoff), Next::Wait(ms(400)));
    }

    #[test]
    fn attempts_are_bounded() {
        let p = policy(0.0);
        assert_eq!(p.next(4, Retry::Backoff), Next::GiveUp(GiveUp::Exhausted));
        assert_eq!(
            p.next(4, Retry::After(Some(ms(1)))),
            Next::GiveUp(GiveUp::Exhausted)
        );
        let once = RetryPolicy {
            max_attempts: 0,
            ..policy(0.0)
        };
        assert_eq!(once.attempts(), 1);
        assert_eq!(
            once.next(1, Retry::Backoff),
            Next::GiveUp(GiveUp::Exhausted)
        );
    }

    #[test]
    fn server_asked_waits_are_capped() {
        let p = policy(0.5);
        assert_eq!(
            p.next(1, Retry::After(Some(Duration::from_secs(61)))),
            Next::GiveUp(GiveUp::WaitTooLong(Duration::from_secs(61)))
        );
        // Exactly the cap is still honoured.
        assert!(matches!(
            p.next(1, Retry::After(Some(Duration::from_secs(60)))),
            Next::Wait(w) if w >= Duration::from_secs(60)
        ));
        // The cap applies to server waits only, and is checked before the attempts.
        let tight = RetryPolicy {
            max_server_wait: ms(150),
            ..policy(0.0)
        };
        assert_eq!(tight.next(3, Retry::Backoff), Next::Wait(ms(400)));
        assert_eq!(
            tight.next(4, Retry::After(Some(ms(151)))),
            Next::GiveUp(GiveUp::WaitTooLong(ms(151)))
        );
    }
}
