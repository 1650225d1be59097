//! One Jira API call: the request, its attempts (driven by `portcullis_http::run`) and what
//! each answer means: a result, a refusal, or trouble worth another attempt.

use std::time::Duration;

use chrono::{DateTime, Utc};
use portcullis_core::Problem;
use portcullis_http::{Retry, Step};
use reqwest::header::{HeaderMap, ACCEPT};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::Instrument;

use super::errors::{describe_transport, error_summary, looks_like_html, Failure, Trouble};
use super::{Auth, JiraClient};
use crate::{Error, Result};

/// What one attempt came to: the call's result, or trouble worth another attempt.
type Attempt<T> = Step<Result<T, Failure>, Trouble>;

/// How long a 429 or 503 asks to wait, as of `now`: `Retry-After`, else `X-RateLimit-Reset`
/// (ISO-8601). Both statuses are rate limits on Jira, so the reset counts on a 503 too.
pub(super) fn rate_limit_wait(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    portcullis_http::retry_after(true, headers, now)
}

impl JiraClient {
    /// The address of an API path under the site, with its query.
    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut u = self.inner.base.clone();
        if let Ok(mut p) = u.path_segments_mut() {
            p.pop_if_empty();
            p.extend(segments);
        }
        if !query.is_empty() {
            let mut q = u.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        u
    }

    /// One API call with retries; the body parsed as `T` (an empty 2xx body parses as `null`).
    pub(super) async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<Value>,
        what: &str,
    ) -> Result<T> {
        self.call_as(true, method, segments, query, body, what)
            .await
            .map_err(Error::from)
    }

    /// [`Self::call`], with or without the credentials.
    pub(super) async fn call_as<T: DeserializeOwned>(
        &self,
        authenticated: bool,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<Value>,
        what: &str,
    ) -> Result<T, Failure> {
        let url = self.url(segments, query);
        let path = url.path().to_string();
        let request = Request {
            authenticated,
            method: &method,
            url: &url,
            body: body.as_ref(),
            what,
            path: &path,
        };
        // The retries are logged as warnings in this span, which names the path.
        let span = tracing::warn_span!("jira", %path);
        let policy = self.inner.opts.retry_policy();
        match portcullis_http::run(&policy, |n| self.attempt(&request, n), |_| {})
            .instrument(span)
            .await
        {
            Ok(done) => done,
            Err(stopped) => Err(self.gave_up(stopped, what, &path).into()),
        }
    }

    /// Attempt number `n` of `r`. The whole answer is read, body included: a connection dropped
    /// mid-body is retried too.
    async fn attempt<T: DeserializeOwned>(&self, r: &Request<'_>, n: u32) -> Attempt<T> {
        let mut req = self.inner.http.request(r.method.clone(), r.url.clone());
        req = match &self.inner.auth {
            _ if !r.authenticated => req,
            Auth::None => req,
            Auth::Basic { email, token } => req.basic_auth(email, Some(token.expose())),
            Auth::Bearer(token) => req.bearer_auth(token.expose()),
        };
        req = req.header(ACCEPT, "application/json");
        if let Some(b) = r.body {
            req = req.json(b);
        }
        let answer = async {
            let resp = req.send().await?;
            let status = resp.status();
            let headers = resp.headers().clone();
            Ok::<_, reqwest::Error>((status, headers, resp.bytes().await?))
        }
        .await;
        let (status, headers, bytes) = match answer {
            Ok(a) => a,
            Err(error) => {
                let why = describe_transport(&error, self.inner.opts.timeout);
                return Step::Retry {
                    retry: Retry::Backoff,
                    why: Trouble::Transport { why, error },
                };
            }
        };
        let (method, path) = (r.method, r.path);
        tracing::debug!(%method, %path, status = status.as_u16(), attempt = n, bytes = bytes.len(), "jira");
        self.read_answer(r, status, &headers, &bytes)
    }

    /// What an answer means.
    fn read_answer<T: DeserializeOwned>(
        &self,
        r: &Request<'_>,
        status: StatusCode,
        headers: &HeaderMap,
        bytes: &[u8],
    ) -> Attempt<T> {
        let what = r.what;
        let fail = |msg: String| Problem::internal(format!("{what}: {msg}"));
        let done_err = |error: Error| Step::Done(Err(Failure::from(error)));
        if headers
            .get("x-seraph-loginreason")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("AUTHENTICATED_FAILED"))
        {
            return Step::Done(Err(Failure {
                error: Error::input(format!(
                    "Jira at {} rejected the login credentials (X-Seraph-LoginReason: AUTHENTICATED_FAILED); it would have answered as an anonymous user, with empty results",
                    self.site()
                ))
                .hint("check the token (and the email on Cloud); portcullis stops rather than sync an empty project"),
                status: Some(status.as_u16()),
                login_rejected: true,
                messages: Vec::new(),
            }));
        }
        if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
            return Step::Retry {
                retry: Retry::After(rate_limit_wait(headers, Utc::now())),
                why: Trouble::RateLimited(status),
            };
        }
        if status.is_server_error() {
            return Step::Retry {
                retry: Retry::Backoff,
                why: Trouble::ServerError {
                    status,
                    summary: error_summary(headers, bytes),
                },
            };
        }
        if !status.is_success() {
            return Step::Done(Err(Failure {
                error: self.client_error(status, headers, bytes, what),
                status: Some(status.as_u16()),
                login_rejected: false,
                messages: serde_json::from_slice::<Value>(bytes)
                    .map(|v| crate::jira::wire::error_messages(&v))
                    .unwrap_or_default(),
            }));
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Step::Done(serde_json::from_value(Value::Null).map_err(|_| {
                Error::from(fail(format!(
                    "Jira at {} sent an empty response",
                    self.site()
                )))
                .into()
            }));
        }
        if looks_like_html(headers, bytes) {
            return done_err(fail(format!(
                "Jira at {} answered with an HTML page ({}), not JSON: a login page, a proxy or the wrong address",
                self.site(),
                status.as_u16()
            ))
            .hint("check jira.url (it should be the site root, e.g. https://example.atlassian.net) and the credentials")
            .into());
        }
        match serde_json::from_slice::<T>(bytes) {
            Ok(v) => Step::Done(Ok(v)),
            Err(e) => {
                let syntax = serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_err();
                if syntax {
                    return Step::Retry {
                        retry: Retry::Backoff,
                        why: Trouble::Malformed(e),
                    };
                }
                done_err(self.bad_json(e, false, what, r.path))
            }
        }
    }
}

/// One call's request, the same for each attempt.
struct Request<'a> {
    authenticated: bool,
    method: &'a Method,
    url: &'a Url,
    body: Option<&'a Value>,
    /// What the call is doing, for messages (`searching Jira`).
    what: &'a str,
    /// The URL's path, for messages and logs.
    path: &'a str,
}
