//! # portcullis-http
//!
//! One HTTP policy for every client portcullis runs (Jira, chat; GitHub goes through octocrab):
//! the reqwest client with rustls and ring, timeouts, and one implementation of retries, backoff
//! and `Retry-After`.
//!
//! - [`client`] builds the `reqwest::Client` (rustls with ring, the only crypto provider built
//!   in; timeouts; portcullis's user agent; redirects followed or not).
//! - [`RetryPolicy`] is the schedule: how many attempts, the jittered doubling backoff and the
//!   longest wait a server may ask for; [`RetryPolicy::next`] says what to do after an attempt
//!   that is worth retrying.
//! - [`retry_after`] reads how long a server asks to wait: `Retry-After` in seconds (integer or
//!   decimal) or as an HTTP date, else `X-RateLimit-Reset` on a rate limit.
//! - [`run`] drives the attempts of one request: it sleeps as the policy says and logs each
//!   retry. What an answer means (which statuses are worth a retry, a service's own way of
//!   asking to wait, the messages) stays with each client.

mod client;
mod retry_after;
mod retry_policy;
mod run;

use portcullis_core::error::{Diagnostic, ErrorKind, Problem};

pub use client::{client, ClientConfig};
pub use retry_after::{retry_after, retry_after_now};
pub use retry_policy::{GiveUp, Next, Retry, RetryPolicy};
pub use run::{run, Retrying, Step, Stopped};

/// This crate's errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Problem(#[from] Problem),
    /// The HTTP client could not be built (TLS set-up).
    #[error("cannot set up the HTTP client")]
    Client(#[source] reqwest::Error),
}

portcullis_core::problem_constructors!(Error);

impl Diagnostic for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::Problem(p) => p.kind,
            Error::Client(_) => ErrorKind::Internal,
        }
    }
    fn hint(&self) -> Option<&str> {
        match self {
            Error::Problem(p) => p.hint.as_deref(),
            Error::Client(_) => None,
        }
    }
}
