//! Sending rendered parts: pacing, retries, the services' answers, and secrets kept out of
//! every error and log line.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{StatusCode, Url};
use serde_json::Value;
use tokio::time::Instant;

use super::{render, Kind, Message, NotifyError, Target};

/// How a [`Poster`] paces, waits and retries. Tests use small values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PosterConfig {
    /// Time allowed for one request, from connecting to the end of the answer (default 10 s).
    pub timeout: Duration,
    /// Attempts per part, the first included (default 5; at least 1).
    pub max_attempts: usize,
    /// The wait before the first retry of a transient failure (default 1 s), doubled for each
    /// further retry up to `max_backoff` (default 30 s). Also used for a 429 without
    /// `Retry-After`.
    pub backoff: Duration,
    /// The longest backoff.
    pub max_backoff: Duration,
    /// The least time between two requests to the same target, retries included (default 1 s:
    /// Slack's "about one message per second"). Targets are told apart by name.
    pub min_interval: Duration,
    /// The longest `Retry-After` honoured (default 2 minutes); a service asking for more gets
    /// [`NotifyError::RateLimited`] instead of a blocked caller.
    pub max_retry_after: Duration,
}

impl PosterConfig {
    /// The retry schedule: the backoff doubles without jitter (a chat post is one request, not
    /// a crowd), and `max_retry_after` caps the waits a service may ask for.
    pub fn retry_policy(&self) -> portcullis_http::RetryPolicy {
        portcullis_http::RetryPolicy {
            max_attempts: u32::try_from(self.max_attempts).unwrap_or(u32::MAX),
            first_backoff: self.backoff,
            max_backoff: self.max_backoff,
            max_server_wait: self.max_retry_after,
            jitter: 0.0,
        }
    }
}

impl Default for PosterConfig {
    fn default() -> Self {
        PosterConfig {
            timeout: Duration::from_secs(10),
            max_attempts: 5,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            min_interval: Duration::from_secs(1),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

/// What [`Poster::post`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PostReport {
    /// Parts sent (all of them, on success).
    pub parts: usize,
    /// HTTP requests made, retries included.
    pub attempts: usize,
    /// The waits honoured after a 429 (`Retry-After`, Matrix `retry_after_ms`, or the backoff
    /// when the service named none), in order.
    pub retried_after: Vec<Duration>,
    /// Matrix: the event id of each part, in order (empty for the other kinds).
    pub event_ids: Vec<String>,
}

/// Sends [`Message`]s to [`Target`]s. One `Poster` can serve many targets and concurrent
/// posts; the pacing is shared.
#[derive(Debug)]
pub struct Poster {
    client: reqwest::Client,
    config: PosterConfig,
    /// Per target name: the earliest time of the next request.
    next_slot: Mutex<HashMap<String, Instant>>,
}

/// What one request came to.
#[derive(Debug)]
enum Outcome {
    /// Accepted; the Matrix event id.
    Delivered(Option<String>),
    /// 429 (or 503 with `Retry-After`): wait as asked (`None`: not said).
    RateLimited { wait: Option<Duration>, why: String },
    /// Worth retrying: 5xx, 408, connection failures, timeouts.
    Transient(String),
    /// Refused; retrying would not help.
    Refused {
        status: u16,
        code: Option<String>,
        reason: String,
        hint: String,
    },
}

/// Where and how to send, checked once per post.
struct Endpoint {
    /// The webhook URL, or the Matrix homeserver base.
    url: Url,
    /// Matrix: the room, percent-encoded for the path.
    room: String,
    /// Matrix: `Bearer …`, marked sensitive.
    auth: Option<HeaderValue>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Poster {
    /// A poster with its own HTTP client (rustls; redirects are not followed, since a webhook
    /// that redirects is misconfigured and the body must not go elsewhere).
    pub fn new(config: PosterConfig) -> Result<Poster, NotifyError> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("portcullis/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| NotifyError::Client(error_chain(&e.without_url())))?;
        Ok(Poster {
            client,
            config,
            next_slot: Mutex::default(),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &PosterConfig {
        &self.config
    }

    /// Render `m` for the target's kind and send every part, in order, each after the previous
    /// one was accepted.
    ///
    /// Success is 200 with body `ok` for Slack and Mattermost, any 2xx for Teams (202) and the
    /// generic webhook, and 200 with an `event_id` for Matrix. A 429 waits for `Retry-After`
    /// (seconds) or Matrix's `retry_after_ms`; 5xx, 408, connection failures and timeouts are
    /// retried with exponential backoff; both within [`PosterConfig::max_attempts`] per part.
    /// Other answers (Slack's `invalid_payload`, `action_prohibited`, `channel_not_found`,
    /// `channel_is_archived`, Matrix's `M_FORBIDDEN`, 4xx in general) fail at once with
    /// [`NotifyError::Rejected`], which says what to do. Requests to one target are at least
    /// [`PosterConfig::min_interval`] apart.
    ///
    /// # Delivery guarantees
    /// - Parts go out in order; an error about part *k* means parts 1 to *k*−1 were delivered
    ///   and the later ones were not sent.
    /// - **Matrix**: exactly once per part. Each part is sent with the transaction id
    ///   `{id}-{part}`; the homeserver keeps one event per transaction id (for the same access
    ///   token), so a retry after a timeout, or posting the same message again, never shows a
    ///   part twice.
    /// - **Generic webhook**: each part carries `Idempotency-Key: {id}-{part}`, the same on every
    ///   retry and on a later post of the same message; a receiver that honours the key shows
    ///   each part once. portcullis cannot check that it does.
    /// - **Slack, Mattermost, Teams**: these webhooks take no idempotency key. A request
    ///   answered 429 or 4xx, or whose connection could not be made, was not posted, so its
    ///   retry is safe. But after a timeout, a connection lost after the request was sent, or a
    ///   5xx, the service may already have posted the part: the retry can then show it twice
    ///   (at least once, not exactly once). Posting a message again after an error re-sends
    ///   the parts already delivered. Set `max_attempts: 1` to never risk a duplicate (at most
    ///   once), at the price of losing the part on a transient failure.
    pub async fn post(&self, target: &Target, m: &Message) -> Result<PostReport, NotifyError> {
        let endpoint = endpoint(target)?;
        let bodies = render(target.kind, m);
        let parts = bodies.len();
        let mut report = PostReport {
            parts,
            ..PostReport::default()
        };
        for (i, body) in bodies.iter().enumerate() {
            let part = i + 1;
            let key = format!("{}-{part}", m.id);
            self.send_part(target, &endpoint, (part, parts), &key, body, &mut report)
                .await?;
        }
        tracing::info!(
            chat = %target.name,
            kind = %target.kind,
            parts,
            attempts = report.attempts,
            "chat notification delivered"
        );
        Ok(report)
    }

    async fn send_part(
        &self,
        target: &Target,
        endpoint: &Endpoint,
        (part, parts): (usize, usize),
        key: &str,
        body: &Value,
        report: &mut PostReport,
    ) -> Result<(), NotifyError> {
        let bytes = body.to_string().into_bytes();
        let max_attempts = self.config.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            report.attempts += 1;
            self.pace(target).await;
            tracing::debug!(
                chat = %target.name,
                kind = %target.kind,
                part,
                parts,
                attempt,
                bytes = bytes.len(),
                "sending chat notification"
            );
            let outcome = self.attempt(target, endpoint, key, &bytes).await;
            let gave_up = |last_error: String| NotifyError::GaveUp {
                target: target.name.clone(),
                kind: target.kind,
                part,
                parts,
                attempts: attempt,
                last_error,
            };
            let wait = match outcome {
                Outcome::Delivered(event_id) => {
                    tracing::debug!(chat = %target.name, part, parts, attempt, "part accepted");
                    report.event_ids.extend(event_id);
                    return Ok(());
                }
                Outcome::Refused {
                    status,
                    code,
                    reason,
                    hint,
                } => {
                    tracing::warn!(
                        chat = %target.name,
                        kind = %target.kind,
                        part,
                        status,
                        reason = %reason,
                        "chat notification refused"
                    );
                    return Err(NotifyError::Rejected {
                        target: target.name.clone(),
                        kind: target.kind,
                        part,
                        parts,
                        status,
                        code,
                        reason,
                        hint,
                    });
                }
                Outcome::RateLimited { wait, why } => {
                    let wait = wait.unwrap_or_else(|| self.backoff(attempt));
                    if wait > self.config.max_retry_after {
                        return Err(NotifyError::RateLimited {
                            target: target.name.clone(),
                            kind: target.kind,
                            part,
                            parts,
                            wait,
                            max: self.config.max_retry_after,
                        });
                    }
                    if attempt >= max_attempts {
                        return Err(gave_up(why));
                    }
                    tracing::warn!(
                        chat = %target.name,
                        part,
                        attempt,
                        wait_ms = wait.as_millis() as u64,
                        "rate limited; waiting as asked"
                    );
                    report.retried_after.push(wait);
                    wait
                }
                Outcome::Transient(why) => {
                    if attempt >= max_attempts {
                        return Err(gave_up(why));
                    }
                    let wait = self.backoff(attempt);
                    tracing::warn!(
                        chat = %target.name,
                        part,
                        attempt,
                        wait_ms = wait.as_millis() as u64,
                        error = %why,
                        "chat notification failed; retrying"
                    );
                    wait
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// One request and its classification; never returns the URL in a message.
    async fn attempt(
        &self,
        target: &Target,
        endpoint: &Endpoint,
        key: &str,
        bytes: &[u8],
    ) -> Outcome {
        let request = match target.kind {
            Kind::Matrix => {
                let mut url = endpoint.url.clone();
                let path = format!(
                    "{}/_matrix/client/v3/rooms/{}/send/m.room.message/{}",
                    url.path().trim_end_matches('/'),
                    endpoint.room,
                    percent_encode(key)
                );
                url.set_path(&path);
                let mut r = self.client.put(url);
                if let Some(auth) = &endpoint.auth {
                    r = r.header(AUTHORIZATION, auth.clone());
                }
                r
            }
            Kind::Webhook => self
                .client
                .post(endpoint.url.clone())
                .header("Idempotency-Key", percent_encode(key)),
            Kind::Slack | Kind::Mattermost | Kind::Teams => self.client.post(endpoint.url.clone()),
        };
        let request = request
            .header(CONTENT_TYPE, "application/json")
            .body(bytes.to_vec());
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return Outcome::Transient(self.describe(e, target)),
        };
        let status = response.status();
        let retry_after = portcullis_http::retry_after_now(status, response.headers());
        let text = match response.text().await {
            Ok(t) => t,
            Err(e) => return Outcome::Transient(self.describe(e, target)),
        };
        classify(target, status, retry_after, &text)
    }

    /// Wait for this target's next slot, and book the one after.
    async fn pace(&self, target: &Target) {
        let interval = target.min_interval.unwrap_or(self.config.min_interval);
        if interval.is_zero() {
            return;
        }
        let name = &target.name;
        let slot = {
            let mut slots = lock(&self.next_slot);
            let now = Instant::now();
            let slot = slots.get(name).map_or(now, |t| (*t).max(now));
            slots.insert(name.to_string(), slot + interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }

    /// The wait before retry number `attempt` (1-based): backoff × 2^(attempt−1), capped.
    fn backoff(&self, attempt: usize) -> Duration {
        self.config
            .retry_policy()
            .backoff(u32::try_from(attempt).unwrap_or(u32::MAX))
    }

    /// A transport error without its URL, scrubbed of the target's secrets.
    fn describe(&self, e: reqwest::Error, target: &Target) -> String {
        let e = e.without_url();
        let text = if e.is_timeout() {
            format!("no answer within {}", secs(self.config.timeout))
        } else if e.is_connect() {
            format!("could not connect ({})", error_chain(&e))
        } else {
            error_chain(&e)
        };
        scrub(&text, target)
    }
}

/// Check the target and build what every request needs.
fn endpoint(target: &Target) -> Result<Endpoint, NotifyError> {
    let problem = |p: &str| NotifyError::Config {
        target: target.name.clone(),
        problem: p.to_string(),
    };
    let what = match target.kind {
        Kind::Matrix => "homeserver URL",
        _ => "webhook URL",
    };
    // url's parse errors do not quote the input.
    let url = Url::parse(target.url.expose().trim())
        .map_err(|e| problem(&format!("the {what} is not a valid URL ({e}); check it")))?;
    if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
        return Err(problem(&format!(
            "the {what} must start with https:// (or http://)"
        )));
    }
    let mut ep = Endpoint {
        url,
        room: String::new(),
        auth: None,
    };
    if target.kind == Kind::Matrix {
        let room = target
            .room
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .ok_or_else(|| {
                problem("a Matrix target needs `room` (a room id like `!abc:example.org`)")
            })?;
        let token = target.token.as_ref().ok_or_else(|| {
            problem("a Matrix target needs `token` (the bot account's access token)")
        })?;
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.expose().trim()))
            .map_err(|_| {
                problem("the Matrix token contains characters not allowed in an HTTP header")
            })?;
        auth.set_sensitive(true);
        ep.room = percent_encode(room);
        ep.auth = Some(auth);
    }
    Ok(ep)
}

/// Everything but RFC 3986's unreserved characters, percent-encoded (for path segments and
/// header values).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

/// An error and its sources, `: `-separated.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        source = s.source();
    }
    out
}

/// Replace anything secret of the target (its URL, the URL's long path segments and query,
/// the token) by `***`.
pub(crate) fn scrub(text: &str, target: &Target) -> String {
    let url = target.url.expose().trim();
    let mut secrets: Vec<String> = vec![url.to_string(), url.trim_end_matches('/').to_string()];
    if let Ok(u) = Url::parse(url) {
        secrets.push(u.to_string());
        secrets.extend(
            u.path_segments()
                .into_iter()
                .flatten()
                .filter(|s| s.len() >= 8)
                .map(str::to_string),
        );
        secrets.extend(u.query().filter(|q| q.len() >= 4).map(str::to_string));
        if u.path().len() > 1 {
            secrets.push(u.path().to_string());
        }
    }
    if let Some(t) = &target.token {
        secrets.push(t.expose().trim().to_string());
    }
    secrets.retain(|s| !s.is_empty());
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_string();
    for s in secrets {
        if out.contains(&s) {
            out = out.replace(&s, "***");
        }
    }
    out
}

/// The first line of an answer, at most 200 characters, scrubbed.
fn excerpt(body: &str, target: &Target) -> String {
    let line = body.trim().lines().next().unwrap_or("").trim();
    let mut short: String = line.chars().take(200).collect();
    if short.len() < line.len() {
        short.push('…');
    }
    scrub(&short, target)
}

/// Slack's plain-text error codes and what to do about them.
fn slack_hint(code: &str) -> Option<&'static str> {
    Some(match code {
        "invalid_payload" => {
            "Slack could not read the message: this is a bug in portcullis's rendering, please \
             report it (the message was not posted)"
        }
        "action_prohibited" => {
            "an admin has restricted posting to this channel: ask a Slack admin to allow the \
             app, or create a webhook for another channel and update the target's URL"
        }
        "channel_not_found" => {
            "the webhook's channel no longer exists: create a new incoming webhook for an \
             existing channel and update the target's URL"
        }
        "channel_is_archived" => {
            "the webhook's channel is archived: unarchive it, or create a webhook for another \
             channel and update the target's URL"
        }
        "no_service" | "no_service_id" | "no_team" | "team_disabled" | "invalid_token"
        | "token_revoked" => {
            "the webhook was revoked or its app removed: create a new incoming webhook and \
             update the target's URL"
        }
        "posting_to_general_channel_denied" => {
            "only admins may post to this channel: use a webhook for another channel"
        }
        _ => return None,
    })
}

/// Matrix `errcode`s and what to do about them.
fn matrix_hint(code: &str) -> &'static str {
    match code {
        "M_UNKNOWN_TOKEN" | "M_MISSING_TOKEN" => {
            "the homeserver does not accept the access token: log the bot in again and update \
             the target's token"
        }
        "M_FORBIDDEN" => {
            "the bot may not post in this room: invite it and have it join, or give it the power \
             level to send messages"
        }
        "M_NOT_FOUND" => "no such room: check the target's room id",
        "M_TOO_LARGE" => "the message is too large: this is a bug in portcullis's rendering",
        "M_BAD_JSON" | "M_NOT_JSON" => {
            "the homeserver could not read the message: this is a bug in portcullis's rendering"
        }
        _ => "check the bot account, the room and the homeserver URL",
    }
}

fn status_hint(kind: Kind, status: u16) -> String {
    let what = match kind {
        Kind::Matrix => "the homeserver URL",
        _ => "the webhook URL",
    };
    match status {
        300..=399 => format!("the service answered with a redirect: check {what}"),
        401 | 403 => format!(
            "the service refused the request: the {} may have been disabled or revoked; create \
             a new one and update the target",
            match kind {
                Kind::Matrix => "access token",
                _ => "webhook",
            }
        ),
        404 | 410 => format!("nothing answers at {what}: it was deleted or mistyped"),
        413 => "the message is too large: this is a bug in portcullis's rendering".to_string(),
        _ => format!("check {what} and the service's status"),
    }
}

/// Classify an answer (status, `Retry-After`, body) for the target's kind.
fn classify(
    target: &Target,
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &str,
) -> Outcome {
    let kind = target.kind;
    let code = status.as_u16();
    let json: Option<Value> = serde_json::from_str(body).ok();
    let matrix_errcode = json
        .as_ref()
        .and_then(|j| j["errcode"].as_str())
        .map(str::to_string);

    if status.is_success() {
        return match kind {
            Kind::Slack | Kind::Mattermost if code == 200 && body.trim() == "ok" => {
                Outcome::Delivered(None)
            }
            Kind::Teams | Kind::Webhook => Outcome::Delivered(None),
            Kind::Matrix => match json.as_ref().and_then(|j| j["event_id"].as_str()) {
                Some(id) if code == 200 => Outcome::Delivered(Some(id.to_string())),
                _ => Outcome::Refused {
                    status: code,
                    code: None,
                    reason: format!("HTTP {code} without an event_id"),
                    hint: "check that the URL is the homeserver's (client API) base URL"
                        .to_string(),
                },
            },
            Kind::Slack | Kind::Mattermost => Outcome::Refused {
                status: code,
                code: None,
                reason: format!(
                    "HTTP {code} with `{}` instead of `ok`",
                    excerpt(body, target)
                ),
                hint: format!("check that the URL is a {} incoming webhook", kind.name()),
            },
        };
    }

    if code == 429 || (code == 503 && retry_after.is_some()) {
        let wait = match kind {
            Kind::Matrix => json
                .as_ref()
                .and_then(|j| j["retry_after_ms"].as_u64())
                .map(Duration::from_millis)
                .or(retry_after),
            _ => retry_after,
        };
        return Outcome::RateLimited {
            wait,
            why: format!("HTTP {code} (rate limited)"),
        };
    }
    if status.is_server_error() || code == 408 {
        let ex = excerpt(body, target);
        return Outcome::Transient(if ex.is_empty() {
            format!("HTTP {code}")
        } else {
            format!("HTTP {code}: {ex}")
        });
    }

    // Refusals.
    let text = body.trim();
    if kind == Kind::Slack {
        if let Some(hint) = slack_hint(text) {
            return Outcome::Refused {
                status: code,
                code: Some(text.to_string()),
                reason: format!("`{text}` (HTTP {code})"),
                hint: hint.to_string(),
            };
        }
    }
    if kind == Kind::Matrix {
        if let Some(errcode) = matrix_errcode {
            let msg = json
                .as_ref()
                .and_then(|j| j["error"].as_str())
                .map(|m| format!(" {}", excerpt(m, target)))
                .unwrap_or_default();
            return Outcome::Refused {
                status: code,
                reason: format!("`{errcode}`{msg} (HTTP {code})"),
                hint: matrix_hint(&errcode).to_string(),
                code: Some(errcode),
            };
        }
    }
    // Mattermost answers `{"id": "…", "message": "…"}`; Slack may answer an unknown code.
    let detail = json
        .as_ref()
        .and_then(|j| j["message"].as_str().or(j["error"].as_str()))
        .map(|m| excerpt(m, target))
        .unwrap_or_else(|| excerpt(text, target));
    let is_code = !text.is_empty()
        && text.len() <= 64
        && text.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    Outcome::Refused {
        status: code,
        code: is_code.then(|| text.to_string()),
        reason: if detail.is_empty() {
            format!("HTTP {code}")
        } else {
            format!("HTTP {code}: {detail}")
        },
        hint: status_hint(kind, code),
    }
}

#[cfg(test)]
mod unit {
    use super::*;
    use crate::Secret;

    fn target(kind: Kind) -> Target {
        Target {
            name: "t".into(),
            kind,
            url: Secret::new("https://hooks.example.org/services/T000/B000/SECRETSECRET"),
            room: Some("!r:example.org".into()),
            token: Some(Secret::new("tok-secret")),
            min_interval: None,
        }
    }

    #[test]
    fn retry_after_parses_seconds_and_http_dates() {
        let wait = |v: &str| {
            let mut h = reqwest::header::HeaderMap::new();
            h.insert(reqwest::header::RETRY_AFTER, v.parse().unwrap());
            portcullis_http::retry_after_now(StatusCode::TOO_MANY_REQUESTS, &h)
        };
        assert_eq!(wait("2"), Some(Duration::from_secs(2)));
        assert_eq!(wait(" 0.5 "), Some(Duration::from_millis(500)));
        // A date in the past: retry now.
        assert_eq!(wait("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
    }

    #[test]
    fn scrub_removes_url_path_and_token() {
        let t = target(Kind::Slack);
        let s = scrub(
            "failed for https://hooks.example.org/services/T000/B000/SECRETSECRET and SECRETSECRET, tok-secret",
            &t,
        );
        assert!(
            !s.contains("SECRETSECRET") && !s.contains("tok-secret"),
            "{s}"
        );
    }

    #[test]
    fn classify_matrix_rate_limit_uses_retry_after_ms() {
        let t = target(Kind::Matrix);
        let o = classify(
            &t,
            StatusCode::TOO_MANY_REQUESTS,
            Some(Duration::from_secs(9)),
            r#"{"errcode":"M_LIMIT_EXCEEDED","retry_after_ms":250}"#,
        );
        assert!(
            matches!(o, Outcome::RateLimited { wait: Some(w), .. } if w == Duration::from_millis(250))
        );
    }

    #[test]
    fn classify_slack_200_without_ok_is_refused() {
        let t = target(Kind::Slack);
        let o = classify(&t, StatusCode::OK, None, "<html>");
        assert!(matches!(o, Outcome::Refused { .. }));
        assert!(matches!(
            classify(&target(Kind::Teams), StatusCode::ACCEPTED, None, ""),
            Outcome::Delivered(None)
        ));
    }

    #[test]
    fn percent_encoding_of_room_and_txn() {
        assert_eq!(percent_encode("!abc:example.org"), "%21abc%3Aexample.org");
        assert_eq!(percent_encode("digest-1"), "digest-1");
    }
}
