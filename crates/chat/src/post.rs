//! Sending rendered parts: pacing, retries, the services' answers, and secrets kept out of
//! every error and log line.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use portcullis_http::{GiveUp, Retry, Step};
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Url;
use serde_json::Value;
use tokio::time::Instant;
use tracing::Instrument;

use super::{render, Kind, Message, NotifyError, Target};
use answer::{classify, Outcome, Trouble};

mod answer;
#[cfg(test)]
mod tests;

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
        let client = portcullis_http::client(&portcullis_http::ClientConfig {
            timeout: config.timeout,
            connect_timeout: config.timeout,
            follow_redirects: false,
        })
        .map_err(NotifyError::Client)?;
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

    /// Send one part, retrying as [`PosterConfig::retry_policy`] says; count the attempts and
    /// the waits asked for in `report`.
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
        let mut made: u32 = 0;
        let retried_after = &mut report.retried_after;
        // The retries are logged as warnings in this span, which names the target (never its URL).
        let span = tracing::warn_span!("chat", chat = %target.name, part, parts);
        let sent = portcullis_http::run(
            &self.config.retry_policy(),
            |attempt| {
                made = attempt;
                self.try_part(target, endpoint, (part, parts), key, &bytes, attempt)
            },
            |r| {
                if let Retry::After(_) = r.retry {
                    retried_after.push(r.wait);
                }
            },
        )
        .instrument(span)
        .await;
        report.attempts += made as usize;
        let stopped = match sent {
            Ok(event_id) => {
                report.event_ids.extend(event_id?);
                return Ok(());
            }
            Err(stopped) => stopped,
        };
        Err(match stopped.give_up {
            GiveUp::WaitTooLong(wait) => NotifyError::RateLimited {
                target: target.name.clone(),
                kind: target.kind,
                part,
                parts,
                wait,
                max: self.config.max_retry_after,
            },
            GiveUp::Exhausted => NotifyError::GaveUp {
                target: target.name.clone(),
                kind: target.kind,
                part,
                parts,
                attempts: stopped.attempts as usize,
                last_error: stopped.why.text,
                cause: stopped.why.cause.map(Into::into),
            },
        })
    }

    /// One attempt at a part, after its slot: delivered (the Matrix event id), refused, or
    /// trouble worth another attempt.
    async fn try_part(
        &self,
        target: &Target,
        endpoint: &Endpoint,
        (part, parts): (usize, usize),
        key: &str,
        bytes: &[u8],
        attempt: u32,
    ) -> Step<Result<Option<String>, NotifyError>, Trouble> {
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
        let outcome = self.attempt(target, endpoint, key, bytes).await;
        self.answered(target);
        match outcome {
            Outcome::Delivered(event_id) => {
                tracing::debug!(chat = %target.name, part, parts, attempt, "part accepted");
                Step::Done(Ok(event_id))
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
                Step::Done(Err(NotifyError::Rejected {
                    target: target.name.clone(),
                    kind: target.kind,
                    part,
                    parts,
                    status,
                    code,
                    reason,
                    hint,
                }))
            }
            Outcome::RateLimited { wait, why } => Step::Retry {
                retry: Retry::After(wait),
                why: Trouble::new(why),
            },
            Outcome::Transient(why) => Step::Retry {
                retry: Retry::Backoff,
                why,
            },
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
            Err(e) => return Outcome::Transient(self.describe(e)),
        };
        let status = response.status();
        let retry_after = portcullis_http::retry_after_now(status, response.headers());
        let text = match response.text().await {
            Ok(t) => t,
            Err(e) => return Outcome::Transient(self.describe(e)),
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

    /// A post to this target was answered: the next one waits a whole interval from now. The
    /// service counts messages as they arrive, and a request can take longer on the wire than
    /// the one after it (the first opens the connection), so spacing only the starts of the
    /// requests let two arrive closer together than the interval.
    fn answered(&self, target: &Target) {
        let interval = target.min_interval.unwrap_or(self.config.min_interval);
        if interval.is_zero() {
            return;
        }
        let mut slots = lock(&self.next_slot);
        let after = Instant::now() + interval;
        let slot = slots.entry(target.name.to_string()).or_insert(after);
        *slot = (*slot).max(after);
    }

    /// What went wrong with the connection, the error kept as the cause without its URL.
    fn describe(&self, e: reqwest::Error) -> Trouble {
        let e = e.without_url();
        let text = if e.is_timeout() {
            format!("no answer within {}", secs(self.config.timeout))
        } else if e.is_connect() {
            "could not connect".to_string()
        } else if e.is_body() || e.is_decode() {
            "the connection closed in the middle of the answer".to_string()
        } else {
            "the request failed".to_string()
        };
        Trouble {
            text,
            cause: Some(e),
        }
    }
}

/// Check the target and build what every request needs.
fn endpoint(target: &Target) -> Result<Endpoint, NotifyError> {
    let problem = |p: &str| NotifyError::Config {
        target: target.name.clone(),
        problem: p.to_string(),
        cause: None,
    };
    let what = match target.kind {
        Kind::Matrix => "homeserver URL",
        _ => "webhook URL",
    };
    // url's parse errors do not quote the input.
    let url = Url::parse(target.url.expose().trim()).map_err(|e| NotifyError::Config {
        target: target.name.clone(),
        problem: format!("the {what} is not a valid URL; check it"),
        cause: Some(e.into()),
    })?;
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
