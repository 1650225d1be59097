//! GitHub's failures as portcullis errors that say what happened and what to do: 401 (token),
//! 403 (permission, or a rate limit still in force), 404 (address, repository, visibility),
//! 410, 422, 5xx and HTML pages from a proxy (summarised, never dumped); JSON of another shape;
//! transport failures. The underlying error is kept as the cause, except an error answer's
//! body, which is summarised instead (an HTML page would otherwise reach the output).

use std::time::Duration;

use portcullis_core::error::Problem;

use super::GithubClient;
use crate::Error;

impl GithubClient {
    /// An error that says what happened and what to do.
    pub(super) fn error(&self, e: octocrab::Error, what: &str) -> Error {
        let site = self.site();
        let attempts = self.inner.opts.max_retries + 1;
        let problem = match e {
            octocrab::Error::GitHub { source, .. } => return self.answer_error(&source, what),
            octocrab::Error::Json { source, .. } => Problem::internal(format!(
                "{what}: GitHub at {site} sent JSON of an unexpected shape at `{}`",
                source.path(),
            ))
            .because(source)
            .hint("check github.url: it should be the API root (https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise)"),
            octocrab::Error::Serde { source, .. } => Problem::internal(format!(
                "{what}: GitHub at {site} sent malformed JSON"
            ))
            .because(source)
            .hint("check github.url; if this persists, a proxy may be altering responses; nothing was written for this page"),
            other => {
                let why = transport_reason(&other, self.inner.opts.timeout);
                Problem::internal(format!(
                    "{what}: no complete answer from GitHub at {site} ({why}) after {attempts} attempts"
                ))
                .because(other)
                .hint("check github.url and the network; run again to continue where it stopped")
            }
        };
        problem.into()
    }

    /// An error answer (a status with a body) in words.
    fn answer_error(&self, source: &octocrab::GitHubError, what: &str) -> Error {
        let site = self.site();
        let attempts = self.inner.opts.max_retries + 1;
        let code = source.status_code.as_u16();
        let detail = summary(source);
        match code {
            401 if !self.authenticated() => Error::input(format!(
                "{what}: GitHub at {site} requires a token (401: {detail})"
            ))
            .hint("set PORTCULLIS_GITHUB_TOKEN, or `token` in the [github] table of the credentials file"),
            401 => Error::input(format!(
                "{what}: GitHub at {site} refused the credentials (401: {detail})"
            ))
            .hint("check PORTCULLIS_GITHUB_TOKEN or the [github] token of the credentials file"),
            403 | 429 if is_rate_limit(source) => {
                let reset = source
                    .rate_limit_reset_at()
                    .map(|t| format!(" until {}", portcullis_core::time::fmt_utc(t)))
                    .unwrap_or_default();
                Error::internal(format!(
                    "{what}: GitHub at {site} is rate limiting ({code}: {detail}) and still was after {attempts} attempts"
                ))
                .hint(format!(
                    "wait{reset} and run again; nothing was lost{}",
                    if self.authenticated() { "" } else { " (without a token GitHub allows 60 requests an hour: set PORTCULLIS_GITHUB_TOKEN)" }
                ))
            }
            403 => Error::input(format!(
                "{what}: the GitHub token has no permission for this (403: {detail})"
            ))
            .hint("the token needs read access to the repositories' issues and pull requests, and write access to issues for push"),
            404 => Error::input(format!("{what}: not found on GitHub at {site} (404: {detail})"))
                .hint(if self.authenticated() {
                    "check github.url (the API root, e.g. https://api.github.com or https://HOST/api/v3) and github.repos (`owner/name`); the token must be able to see the repository"
                } else {
                    "check github.url and github.repos (`owner/name`); a private repository needs a token (PORTCULLIS_GITHUB_TOKEN)"
                }),
            410 => Error::input(format!("{what}: GitHub at {site} says it is gone (410: {detail})"))
                .hint("issues may be disabled for this repository; check github.repos"),
            422 => Error::input(format!("{what}: GitHub at {site} refused the request (422: {detail})"))
                .hint("check the policy's labels and github.repos"),
            c if c >= 500 => Error::internal(format!(
                "{what}: GitHub at {site} keeps failing ({code}{}) after {attempts} attempts",
                if detail.is_empty() { String::new() } else { format!(": {detail}") }
            ))
            .hint("GitHub (or a proxy in front of it) has a problem; try again later, nothing was lost"),
            _ => Error::internal(format!("{what}: GitHub at {site} answered {code}: {detail}")),
        }
    }
}

/// Whether an error answer is a rate limit (primary or secondary).
fn is_rate_limit(e: &octocrab::GitHubError) -> bool {
    let header = |name: &str| {
        e.headers
            .as_ref()
            .and_then(|h| h.get(name))
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    e.status_code.as_u16() == 429
        || header("x-ratelimit-remaining").as_deref() == Some("0")
        || header("retry-after").is_some()
        || e.message.to_ascii_lowercase().contains("rate limit")
}

/// A short, clean account of an error answer: GitHub's message, or what the body is.
pub(super) fn summary(e: &octocrab::GitHubError) -> String {
    let html_type = e
        .headers
        .as_ref()
        .and_then(|h| h.get("content-type"))
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("html"));
    let text = e.message.trim();
    if html_type || text.starts_with('<') {
        return "an HTML page, not GitHub's JSON: a proxy or load balancer answered".to_string();
    }
    portcullis_core::text::truncate(&portcullis_core::text::clean(text), 200)
}

/// What went wrong below HTTP, in a few words (the error itself is kept as the cause).
fn transport_reason(e: &octocrab::Error, timeout: Duration) -> String {
    let mut all = String::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        all.push_str(&c.to_string().to_ascii_lowercase());
        all.push('\n');
        cur = c.source();
    }
    if all.contains("timed out") || all.contains("timeout") {
        format!("no answer within {}s", timeout.as_secs())
    } else if all.contains("connect") {
        "connection failed".to_string()
    } else {
        "the connection failed".to_string()
    }
}
