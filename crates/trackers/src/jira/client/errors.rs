//! What a failed Jira call says: the refusals (401, 403, 404, 410, 400, 409), the retries that
//! ran out (transport failures, rate limits, 5xx, malformed JSON) and summaries of error bodies.
//! The underlying Rust error is kept as the cause; an error answer's body is summarised instead.

use std::fmt;
use std::time::Duration;

use portcullis_core::Problem;
use portcullis_http::{GiveUp, Stopped};
use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::StatusCode;
use serde_json::Value;

use super::{Flavor, JiraClient};
use crate::Error;

/// A failed call, with what callers decide on: the HTTP status of a refusal, and whether Jira
/// said the login was rejected. Becomes an [`Error`] everywhere else.
pub(super) struct Failure {
    pub(super) error: Error,
    pub(super) status: Option<u16>,
    pub(super) login_rejected: bool,
    /// The `errorMessages` (and `errors`) of a refusal's JSON body.
    pub(super) messages: Vec<String>,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        Failure {
            error,
            status: None,
            login_rejected: false,
            messages: Vec::new(),
        }
    }
}

impl From<Failure> for Error {
    fn from(f: Failure) -> Error {
        f.error
    }
}

/// What went wrong on an attempt worth another.
#[derive(Debug)]
pub(super) enum Trouble {
    /// No complete answer: the request failed, or the connection closed mid-answer. `why` is
    /// [`describe_transport`]'s summary.
    Transport { why: String, error: reqwest::Error },
    /// 429 or 503: Jira asks to slow down.
    RateLimited(StatusCode),
    /// A 5xx, with [`error_summary`]'s summary of its body.
    ServerError { status: StatusCode, summary: String },
    /// A 2xx whose body is not JSON at all.
    Malformed(serde_json::Error),
}

/// For the log line of a retry.
impl fmt::Display for Trouble {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trouble::Transport { why, .. } => f.write_str(why),
            Trouble::RateLimited(status) => write!(f, "Jira rate limit ({})", status.as_u16()),
            Trouble::ServerError { status, .. } => {
                write!(f, "Jira server error ({})", status.as_u16())
            }
            Trouble::Malformed(e) => write!(
                f,
                "malformed JSON from Jira (line {}, column {})",
                e.line(),
                e.column()
            ),
        }
    }
}

impl JiraClient {
    /// The error once the retries of a call to `path` stopped, on `stopped.why`.
    pub(super) fn gave_up(&self, stopped: Stopped<Trouble>, what: &str, path: &str) -> Error {
        let site = self.site();
        let n = stopped.attempts;
        let problem = match stopped.why {
            Trouble::Transport { why, error } => Problem::internal(format!(
                "{what}: no complete answer from Jira at {site} ({why}) after {n} attempts"
            ))
            .because(error)
            .hint("check the address and the network; run again to continue where it stopped"),
            // A long wait asked on the last attempt still counts as attempts running out.
            Trouble::RateLimited(status) => match stopped.give_up {
                GiveUp::WaitTooLong(wait) if n < self.inner.opts.retry_policy().attempts() => {
                    Problem::internal(format!(
                        "{what}: Jira at {site} asks to wait {}s before the next request ({}), longer than portcullis waits",
                        wait.as_secs(),
                        status.as_u16()
                    ))
                    .hint("run again later; nothing was lost")
                }
                _ => Problem::internal(format!(
                    "{what}: Jira at {site} is rate limiting ({}) and still was after {n} attempts",
                    status.as_u16()
                ))
                .hint("wait a few minutes and run again; nothing was lost"),
            },
            Trouble::ServerError { status, summary } => Problem::internal(format!(
                "{what}: Jira at {site} keeps failing ({}{summary}) after {n} attempts",
                status.as_u16()
            ))
            .hint("the Jira server has a problem; try again later, nothing was lost"),
            Trouble::Malformed(e) => return self.bad_json(e, true, what, path),
        };
        problem.into()
    }

    /// A body that is not the JSON expected: `syntax` when it is not JSON at all.
    pub(super) fn bad_json(
        &self,
        e: serde_json::Error,
        syntax: bool,
        what: &str,
        path: &str,
    ) -> Error {
        let what_is_wrong = if syntax {
            "malformed JSON"
        } else {
            "JSON of an unexpected shape"
        };
        Problem::internal(format!(
            "{what}: Jira at {} sent {what_is_wrong} for {path} (line {}, column {})",
            self.site(),
            e.line(),
            e.column()
        ))
        .because(e)
        .hint("if this persists, a proxy may be altering responses; nothing was written for this page")
        .into()
    }

    /// A refusal: the status says what to do.
    pub(super) fn client_error(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        what: &str,
    ) -> Error {
        let detail = error_summary(headers, body);
        let site = self.site();
        let code = status.as_u16();
        match code {
            401 => Error::input(format!(
                "{what}: Jira at {site} refused the credentials (401{detail})"
            ))
            .hint("check PORTCULLIS_JIRA_TOKEN (and PORTCULLIS_JIRA_EMAIL on Cloud) or the credentials file"),
            403 => Error::input(format!(
                "{what}: the Jira account has no permission for this (403{detail})"
            ))
            .hint("ask a Jira administrator for browse (and, for push, edit and comment) permission on the project"),
            404 => Error::input(format!("{what}: not found on Jira at {site} (404{detail})"))
                .hint(match self.flavor() {
                    Flavor::Cloud => "check jira.url; if this is Jira Data Center, set `flavor = \"datacenter\"`",
                    Flavor::DataCenter => "check jira.url and the issue key; if this is Jira Cloud, set `flavor = \"cloud\"`",
                }),
            410 => Error::input(format!(
                "{what}: Jira at {site} removed this API (410{detail})"
            ))
            .hint("this is Jira Cloud: set `flavor = \"cloud\"` in the [jira] table so that portcullis uses /rest/api/3/search/jql"),
            400 => Error::input(format!("{what}: Jira at {site} refused the request (400{detail})"))
                .hint("check jira.jql in portcullis.toml and the policy's labels"),
            409 => Error::input(format!("{what}: Jira reported a conflicting update (409{detail})"))
                .hint("run again: portcullis re-reads the ticket first"),
            _ => Error::internal(format!("{what}: Jira at {site} answered {code}{detail}")),
        }
    }
}

pub(super) fn describe_transport(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        format!("no answer within {}s", timeout.as_secs())
    } else if e.is_connect() {
        "connection failed".to_string()
    } else if e.is_body() || e.is_decode() {
        "the connection closed in the middle of the response".to_string()
    } else {
        "the connection closed before a response".to_string()
    }
}

pub(super) fn looks_like_html(headers: &HeaderMap, body: &[u8]) -> bool {
    let ct = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    ct.contains("html")
        || body
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b'<')
}

/// `: message` from a Jira error body (`errorMessages`, `errors`), or a short note on what it is.
pub(super) fn error_summary(headers: &HeaderMap, body: &[u8]) -> String {
    if looks_like_html(headers, body) {
        return ", an HTML page".to_string();
    }
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        let parts = crate::jira::wire::error_messages(&v);
        if !parts.is_empty() {
            return format!(
                ": {}",
                portcullis_core::text::truncate(&parts.join("; "), 300)
            );
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else {
        format!(
            ": {}",
            portcullis_core::text::truncate(&portcullis_core::text::clean(text), 200)
        )
    }
}
