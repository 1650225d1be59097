//! Driving the attempts of one request.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use crate::{GiveUp, Next, Retry, RetryPolicy};

/// What one attempt came to.
#[derive(Debug)]
pub enum Step<T, R> {
    /// Finished: a success, or a failure that retrying would not mend.
    Done(T),
    /// Worth another attempt. `why` says what went wrong: it is logged, and handed back in
    /// [`Stopped`] when the retries stop.
    Retry { retry: Retry, why: R },
}

/// A retry about to happen, for [`run`]'s observer.
#[derive(Debug)]
pub struct Retrying<'a, R> {
    /// The attempt that failed (1-based).
    pub attempt: u32,
    /// The sleep before the next one.
    pub wait: Duration,
    /// Why it is retried.
    pub retry: Retry,
    /// What went wrong.
    pub why: &'a R,
}

/// Retrying stopped before the request finished.
#[derive(Debug)]
pub struct Stopped<R> {
    /// Attempts made.
    pub attempts: u32,
    /// Why the retries stopped.
    pub give_up: GiveUp,
    /// What went wrong on the last attempt.
    pub why: R,
}

/// Run `attempt(1)`, `attempt(2)`, … until one is [`Step::Done`] or `policy` gives up; between
/// two attempts sleep as the policy says, log a warning (in the caller's span) and tell
/// `on_retry`.
pub async fn run<T, R, F, Fut>(
    policy: &RetryPolicy,
    mut attempt: F,
    mut on_retry: impl FnMut(&Retrying<'_, R>),
) -> Result<T, Stopped<R>>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Step<T, R>>,
    R: fmt::Display,
{
    let mut n: u32 = 0;
    loop {
        n = n.saturating_add(1);
        let (retry, why) = match attempt(n).await {
            Step::Done(v) => return Ok(v),
            Step::Retry { retry, why } => (retry, why),
        };
        let wait = match policy.next(n, retry) {
            Next::Wait(wait) => wait,
            Next::GiveUp(give_up) => {
                return Err(Stopped {
                    attempts: n,
                    give_up,
                    why,
                })
            }
        };
        let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        match retry {
            Retry::After(_) => {
                tracing::warn!(attempt = n, wait_ms, reason = %why, "rate limited; waiting as asked")
            }
            Retry::Backoff => {
                tracing::warn!(attempt = n, wait_ms, error = %why, "request failed; retrying")
            }
        }
        on_retry(&Retrying {
            attempt: n,
            wait,
            retry,
            why: &why,
        });
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            first_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(15),
            max_server_wait: Duration::from_millis(100),
            jitter: 0.0,
        }
    }

    #[tokio::test]
    async fn retries_until_done_and_reports_each_wait() {
        let mut waits = Vec::new();
        let got = run(
            &policy(),
            |n| async move {
                match n {
                    1 => Step::Retry {
                        retry: Retry::After(Some(Duration::from_millis(40))),
                        why: "429",
                    },
                    2 => Step::Retry {
                        retry: Retry::Backoff,
                        why: "500",
                    },
                    _ => Step::Done(n),
                }
            },
            |r| waits.push((r.attempt, r.wait, r.retry)),
        )
        .await
        .unwrap();
        assert_eq!(got, 3);
        assert_eq!(
            waits,
            [
                (
                    1,
                    Duration::from_millis(40),
                    Retry::After(Some(Duration::from_millis(40)))
                ),
                (2, Duration::from_millis(15), Retry::Backoff),
            ]
        );
    }

    #[tokio::test]
    async fn gives_up_after_the_last_attempt_with_the_last_reason() {
        let stopped = run(
            &policy(),
            |n| async move {
                Step::<(), String>::Retry {
                    retry: Retry::Backoff,
                    why: format!("failure {n}"),
                }
            },
            |_| {},
        )
        .await
        .unwrap_err();
        assert_eq!(stopped.attempts, 3);
        assert_eq!(stopped.give_up, GiveUp::Exhausted);
        assert_eq!(stopped.why, "failure 3");
    }

    #[tokio::test]
    async fn a_long_server_wait_gives_up_at_once() {
        let stopped = run(
            &policy(),
            |_| async {
                Step::<(), &str>::Retry {
                    retry: Retry::After(Some(Duration::from_secs(5))),
                    why: "429",
                }
            },
            |_| panic!("no retry"),
        )
        .await
        .unwrap_err();
        assert_eq!(stopped.attempts, 1);
        assert_eq!(stopped.give_up, GiveUp::WaitTooLong(Duration::from_secs(5)));
    }
}
