//! A chat receiver for tests and demos, over real TCP: it answers like Slack, Mattermost and
//! Microsoft Teams incoming webhooks, a generic JSON webhook and a Matrix homeserver's send
//! endpoint (following `docs/tracker-apis.md`, "Chat webhooks"), records what it receives, and
//! injects faults.
//!
//! - `POST` on any path: a webhook. The body's shape says which service it plays: Teams when
//!   `"type": "message"` (answers **202**, empty), Slack when it has `blocks` (at most 50, a
//!   section's text at most 3000 characters, a header's 150; else 400 `invalid_blocks`),
//!   the generic webhook when it has `sections` and `parts` (at most 64 KiB, else 413),
//!   Mattermost otherwise (at most 16383 characters of text, else 400); these answer
//!   **200 `ok`**. A body that is not JSON gets 400 `invalid_payload`.
//! - `PUT /_matrix/client/v3/rooms/{room}/send/m.room.message/{txnId}`: Matrix. Requires
//!   `Authorization: Bearer <token>` (401 `M_MISSING_TOKEN` / `M_UNKNOWN_TOKEN`), a JSON object
//!   with `msgtype` and `body` (400 `M_BAD_JSON`), at most 65536 bytes (413 `M_TOO_LARGE`);
//!   answers 200 `{"event_id": "$…"}`. Like a real homeserver, a repeated `(room, txnId)`
//!   answers the first event's id and does not create a second message.
//! - Faults ([`Fault`], [`ChatServer::add_fault`]): the next N message requests answer 429
//!   with `Retry-After` (Matrix: `M_LIMIT_EXCEEDED` with `retry_after_ms`), or any status and
//!   body (500, Slack's `channel_not_found` with 404, …), or never answer (to test timeouts),
//!   or accept the message and then never answer (a lost response).
//! - Rate enforcement ([`Config::one_per_second`]): a message request arriving less than one
//!   second after the previous one (less 25 ms of tolerance for network jitter) gets 429 with
//!   `Retry-After: 1`.
//!
//! Every message request is recorded ([`Received`]: path, headers without `Authorization`,
//! body, time, status, whether it created a message). The standalone runner
//! (`examples/chat_server.rs`) offers the same controls under `/_test/` (not recorded, no
//! faults): `GET /_test/received`, `POST /_test/faults` `{"fault": {...}, "times": n}`,
//! `DELETE /_test/faults`, `POST /_test/one_per_second` `{"enabled": true}`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The Matrix access token accepted by default.
pub const DEFAULT_MATRIX_TOKEN: &str = "test-matrix-token";
/// Slack: blocks per message.
const SLACK_MAX_BLOCKS: usize = 50;
/// Slack: characters in a section's text.
const SLACK_SECTION_CHARS: usize = 3000;
/// Slack: characters in a header's text.
const SLACK_HEADER_CHARS: usize = 150;
/// Mattermost: characters of a post.
const MATTERMOST_POST_CHARS: usize = 16383;
/// Teams: bytes of a card.
const TEAMS_BYTES: usize = 28 * 1024;
/// Matrix: bytes of an event.
const MATRIX_BYTES: usize = 65536;
/// Generic webhook: bytes of a part.
const WEBHOOK_BYTES: usize = 64 * 1024;
/// Largest body read at all.
const BODY_LIMIT: usize = 4 * 1024 * 1024;
/// Slack-like pacing: one message per second, with this much tolerance.
const RATE_WINDOW: Duration = Duration::from_millis(1000 - 25);

/// How the server behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Port on 127.0.0.1 (0: any free port).
    pub port: u16,
    /// The Matrix access token accepted (default [`DEFAULT_MATRIX_TOKEN`]).
    pub matrix_token: String,
    /// Answer 429 to a message arriving within a second of the previous one.
    pub one_per_second: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 0,
            matrix_token: DEFAULT_MATRIX_TOKEN.to_string(),
            one_per_second: false,
        }
    }
}

/// A fault to answer a message request with, instead of the normal answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// 429 with `Retry-After` (seconds, rounded up) and, for Matrix, the body
    /// `{"errcode": "M_LIMIT_EXCEEDED", "retry_after_ms": …}`; webhooks get the text
    /// `rate_limited`.
    RateLimit {
        /// How long to ask the client to wait.
        retry_after_ms: u64,
    },
    /// 429 with `Retry-After` as an HTTP date (now plus the wait, rounded up to the second),
    /// the same body as [`Fault::RateLimit`].
    RateLimitUntil {
        /// How long to ask the client to wait.
        retry_after_ms: u64,
    },
    /// This status and body (`text/plain`, or `application/json` when the body is JSON).
    Status {
        /// The HTTP status.
        status: u16,
        /// The body.
        body: String,
    },
    /// Never answer (the client's timeout must fire). Nothing is delivered.
    Hang,
    /// Deliver the message as usual, then never answer: a response lost on the way back.
    AcceptThenHang,
}

impl Fault {
    /// 429 asking to wait `wait`.
    pub fn rate_limit(wait: Duration) -> Fault {
        Fault::RateLimit {
            retry_after_ms: wait.as_millis() as u64,
        }
    }

    /// 429 asking to wait `wait` with an HTTP date in `Retry-After`.
    pub fn rate_limit_until(wait: Duration) -> Fault {
        Fault::RateLimitUntil {
            retry_after_ms: wait.as_millis() as u64,
        }
    }

    /// 500 `Internal Server Error`.
    pub fn server_error() -> Fault {
        Fault::Status {
            status: 500,
            body: "Internal Server Error".to_string(),
        }
    }

    /// A Slack error code with the status Slack uses for it (`invalid_payload` 400,
    /// `action_prohibited` 403, `channel_not_found` 404, `channel_is_archived` 410, others 400).
    pub fn slack_error(code: &str) -> Fault {
        let status = match code {
            "action_prohibited" | "no_service" | "invalid_token" => 403,
            "channel_not_found" => 404,
            "channel_is_archived" => 410,
            _ => 400,
        };
        Fault::Status {
            status,
            body: code.to_string(),
        }
    }
}

/// The service a request looked like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Style {
    /// A JSON body with `blocks`.
    Slack,
    /// A JSON body with `text`/`attachments` and no `blocks`.
    Mattermost,
    /// `{"type": "message", "attachments": [...]}`.
    Teams,
    /// The Matrix send endpoint.
    Matrix,
    /// portcullis's own JSON (`sections`, `parts`).
    Webhook,
    /// Anything else (not JSON, or an unknown shape).
    Unknown,
}

/// One message request the server received.
#[derive(Debug, Clone, Serialize)]
pub struct Received {
    /// `POST` or `PUT` (or whatever came).
    pub method: String,
    /// The path (percent-encoded, as sent), without the query.
    pub path: String,
    /// Header names (lower case) and values, without `Authorization`.
    pub headers: Vec<(String, String)>,
    /// The body as JSON; a body that is not JSON is kept as a JSON string.
    pub body: Value,
    /// When it arrived (body read).
    #[serde(skip)]
    pub at: Instant,
    /// Milliseconds from the server's start to its arrival.
    pub elapsed_ms: u64,
    /// The status answered; 0 while unanswered (or never, for hanging faults).
    pub status: u16,
    /// The service it looked like.
    pub style: Style,
    /// Whether it created a message (false for faults, refusals and Matrix repeats).
    pub delivered: bool,
    /// Matrix: the room (decoded).
    pub room: Option<String>,
    /// Matrix: the transaction id (decoded).
    pub txn_id: Option<String>,
    /// The fault applied, if any.
    pub fault: Option<Fault>,
}

impl Received {
    /// A header's value (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Shared {
    matrix_token: String,
    started: Instant,
    one_per_second: AtomicBool,
    faults: Mutex<Vec<(Fault, u32)>>,
    log: Mutex<Vec<Received>>,
    /// (room, txnId) → event id.
    matrix_events: Mutex<HashMap<(String, String), String>>,
    last_arrival: Mutex<Option<Instant>>,
}

impl Shared {
    fn take_fault(&self) -> Option<Fault> {
        let mut faults = lock(&self.faults);
        let i = faults.iter().position(|(_, n)| *n > 0)?;
        faults[i].1 -= 1;
        let fault = faults[i].0.clone();
        if faults[i].1 == 0 {
            faults.remove(i);
        }
        Some(fault)
    }

    /// Note an arrival; whether it came too soon after the previous one (when enforcing).
    fn too_soon(&self, at: Instant) -> bool {
        let mut last = lock(&self.last_arrival);
        let soon = last.is_some_and(|prev| at.saturating_duration_since(prev) < RATE_WINDOW);
        *last = Some(at);
        soon && self.one_per_second.load(Ordering::SeqCst)
    }

    fn record(&self, r: Received) -> usize {
        let mut log = lock(&self.log);
        log.push(r);
        log.len() - 1
    }

    fn finish(&self, i: usize, status: u16, delivered: bool, fault: Option<Fault>) {
        if let Some(r) = lock(&self.log).get_mut(i) {
            r.status = status;
            r.delivered = delivered;
            r.fault = fault;
        }
    }
}

/// An answer: status, headers, body.
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn text(status: u16, text: &str) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", "text/plain; charset=utf-8".into())],
            body: text.as_bytes().to_vec(),
        }
    }

    fn json(status: u16, v: &Value) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: v.to_string().into_bytes(),
        }
    }

    fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    fn matrix_error(status: u16, errcode: &str, error: &str) -> Reply {
        Reply::json(status, &json!({"errcode": errcode, "error": error}))
    }

    fn header(mut self, name: &'static str, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }

    fn into_response(self) -> Response {
        let mut resp = Response::new(Body::from(self.body));
        *resp.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                resp.headers_mut().append(name, v);
            }
        }
        resp
    }
}

/// Percent-decoding of a path segment (invalid escapes are kept as they are).
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `(room, txnId)` when the path is Matrix's send endpoint.
fn matrix_path(path: &str) -> Option<(String, String)> {
    let rest = path.strip_prefix("/_matrix/client/v3/rooms/")?;
    let segs: Vec<&str> = rest.split('/').collect();
    match segs.as_slice() {
        [room, "send", "m.room.message", txn] if !room.is_empty() && !txn.is_empty() => {
            Some((decode(room), decode(txn)))
        }
        _ => None,
    }
}

fn style_of(path: &str, body: &Value) -> Style {
    if matrix_path(path).is_some() {
        return Style::Matrix;
    }
    let Some(o) = body.as_object() else {
        return Style::Unknown;
    };
    if o.get("type").and_then(Value::as_str) == Some("message") && o.contains_key("attachments") {
        Style::Teams
    } else if o.contains_key("blocks") {
        Style::Slack
    } else if o.contains_key("sections") && o.contains_key("parts") {
        Style::Webhook
    } else if o.contains_key("text") || o.contains_key("attachments") {
        Style::Mattermost
    } else {
        Style::Unknown
    }
}

fn rate_limited(style: Style, retry_after_ms: u64) -> Reply {
    let secs = retry_after_ms.div_ceil(1000).to_string();
    let reply = match style {
        Style::Matrix => Reply::json(
            429,
            &json!({
                "errcode": "M_LIMIT_EXCEEDED",
                "error": "Too Many Requests",
                "retry_after_ms": retry_after_ms,
            }),
        ),
        _ => Reply::text(429, "rate_limited"),
    };
    reply.header("retry-after", secs)
}

/// [`rate_limited`], with `Retry-After` as an HTTP date: now plus the wait, rounded up to the
/// next whole second (HTTP dates have no fractions).
fn rate_limited_until(style: Style, retry_after_ms: u64) -> Reply {
    let ms = i64::try_from(retry_after_ms).unwrap_or(i64::MAX / 2);
    let at = chrono::Utc::now() + chrono::Duration::milliseconds(ms) + chrono::Duration::seconds(1);
    let date = at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let mut reply = rate_limited(style, retry_after_ms);
    reply
        .headers
        .retain(|(name, _)| !name.eq_ignore_ascii_case("retry-after"));
    reply.header("retry-after", date)
}

/// Slack's checks: at most 50 blocks, section texts ≤ 3000, headers ≤ 150 characters.
fn slack_problem(body: &Value) -> Option<&'static str> {
    let blocks = body["blocks"].as_array()?;
    if blocks.len() > SLACK_MAX_BLOCKS {
        return Some("invalid_blocks");
    }
    for b in blocks {
        let n = b["text"]["text"].as_str().map_or(0, |t| t.chars().count());
        let max = match b["type"].as_str() {
            Some("header") => SLACK_HEADER_CHARS,
            _ => SLACK_SECTION_CHARS,
        };
        if n > max {
            return Some("invalid_blocks");
        }
    }
    None
}

/// The normal answer, and whether a message was created.
fn accept(
    sh: &Shared,
    style: Style,
    matrix: Option<&(String, String)>,
    headers: &HeaderMap,
    raw: &[u8],
    body: &Value,
) -> (Reply, bool) {
    if let Some((room, txn)) = matrix {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let Some(token) = auth.strip_prefix("Bearer ") else {
            return (
                Reply::matrix_error(401, "M_MISSING_TOKEN", "Missing access token"),
                false,
            );
        };
        if token != sh.matrix_token {
            return (
                Reply::matrix_error(401, "M_UNKNOWN_TOKEN", "Invalid access token passed."),
                false,
            );
        }
        if raw.len() > MATRIX_BYTES {
            return (
                Reply::matrix_error(413, "M_TOO_LARGE", "event too large"),
                false,
            );
        }
        if !(body["msgtype"].is_string() && body["body"].is_string()) {
            return (
                Reply::matrix_error(400, "M_BAD_JSON", "msgtype and body are required"),
                false,
            );
        }
        let mut events = lock(&sh.matrix_events);
        let key = (room.clone(), txn.clone());
        if let Some(id) = events.get(&key) {
            return (Reply::json(200, &json!({"event_id": id})), false);
        }
        let id = format!("$event{}:chat.test", events.len() + 1);
        events.insert(key, id.clone());
        return (Reply::json(200, &json!({"event_id": id})), true);
    }
    if !body.is_object() {
        return (Reply::text(400, "invalid_payload"), false);
    }
    match style {
        Style::Teams => {
            let ok = body["attachments"][0]["contentType"].as_str()
                == Some("application/vnd.microsoft.card.adaptive");
            if !ok {
                (
                    Reply::text(400, "the message must hold an Adaptive Card"),
                    false,
                )
            } else if raw.len() > TEAMS_BYTES {
                (Reply::text(413, "request entity too large"), false)
            } else {
                (Reply::empty(202), true)
            }
        }
        Style::Slack => match slack_problem(body) {
            Some(code) => (Reply::text(400, code), false),
            None => (Reply::text(200, "ok"), true),
        },
        Style::Mattermost => {
            let mut n = body["text"].as_str().map_or(0, |t| t.chars().count());
            for a in body["attachments"].as_array().into_iter().flatten() {
                n += a["text"].as_str().map_or(0, |t| t.chars().count());
            }
            if n > MATTERMOST_POST_CHARS {
                let err = json!({
                    "id": "web.incoming_webhook.text.length.app_error",
                    "message": "Post is too long",
                    "status_code": 400,
                });
                (Reply::json(400, &err), false)
            } else {
                (Reply::text(200, "ok"), true)
            }
        }
        Style::Webhook if raw.len() > WEBHOOK_BYTES => {
            (Reply::text(413, "payload too large"), false)
        }
        Style::Webhook | Style::Unknown | Style::Matrix => (Reply::text(200, "ok"), true),
    }
}

async fn handle(State(sh): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    if path.starts_with("/_test/") {
        return control(&sh, &parts.method, &path, body)
            .await
            .into_response();
    }
    let Ok(raw) = to_bytes(body, BODY_LIMIT).await else {
        return Reply::text(413, "payload too large").into_response();
    };
    let at = Instant::now();
    let json: Value = serde_json::from_slice(&raw)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&raw).into_owned()));
    let matrix = matrix_path(&path);
    let style = style_of(&path, &json);
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter(|(n, _)| n.as_str() != "authorization")
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let seq = sh.record(Received {
        method: parts.method.to_string(),
        path: path.clone(),
        headers,
        body: json.clone(),
        at,
        elapsed_ms: at.duration_since(sh.started).as_millis() as u64,
        status: 0,
        style,
        delivered: false,
        room: matrix.as_ref().map(|m| m.0.clone()),
        txn_id: matrix.as_ref().map(|m| m.1.clone()),
        fault: None,
    });

    let expected = if matrix.is_some() {
        Method::PUT
    } else {
        Method::POST
    };
    let too_soon = sh.too_soon(at);
    let fault = sh.take_fault();
    let (reply, delivered) = match &fault {
        Some(Fault::Hang) => {
            sh.finish(seq, 0, false, fault.clone());
            std::future::pending::<()>().await;
            unreachable!("a pending future never completes")
        }
        Some(Fault::AcceptThenHang) => {
            let (_, delivered) = accept(&sh, style, matrix.as_ref(), &parts.headers, &raw, &json);
            sh.finish(seq, 0, delivered, fault.clone());
            std::future::pending::<()>().await;
            unreachable!("a pending future never completes")
        }
        Some(Fault::RateLimit { retry_after_ms }) => (rate_limited(style, *retry_after_ms), false),
        Some(Fault::RateLimitUntil { retry_after_ms }) => {
            (rate_limited_until(style, *retry_after_ms), false)
        }
        Some(Fault::Status { status, body }) => {
            let reply = match serde_json::from_str::<Value>(body) {
                Ok(v) if v.is_object() => Reply::json(*status, &v),
                _ => Reply::text(*status, body),
            };
            (reply, false)
        }
        None if parts.method != expected => (Reply::text(405, "method not allowed"), false),
        None if too_soon => (rate_limited(style, 1000), false),
        None => accept(&sh, style, matrix.as_ref(), &parts.headers, &raw, &json),
    };
    sh.finish(seq, reply.status, delivered, fault);
    reply.into_response()
}

/// `/_test/` requests of the standalone runner.
async fn control(sh: &Shared, method: &Method, path: &str, body: Body) -> Reply {
    let raw = to_bytes(body, BODY_LIMIT).await.unwrap_or_default();
    match (method.as_str(), path) {
        ("GET", "/_test/received") => {
            let log = lock(&sh.log).clone();
            Reply::json(200, &json!(log))
        }
        ("POST", "/_test/faults") => {
            #[derive(Deserialize)]
            struct Add {
                fault: Fault,
                #[serde(default = "one")]
                times: u32,
            }
            fn one() -> u32 {
                1
            }
            match serde_json::from_slice::<Add>(&raw) {
                Ok(a) => {
                    if a.times > 0 {
                        lock(&sh.faults).push((a.fault, a.times));
                    }
                    Reply::empty(204)
                }
                Err(e) => Reply::text(
                    400,
                    &format!("expected {{\"fault\": …, \"times\": n}}: {e}"),
                ),
            }
        }
        ("DELETE", "/_test/faults") => {
            lock(&sh.faults).clear();
            Reply::empty(204)
        }
        ("POST", "/_test/one_per_second") => {
            match serde_json::from_slice::<Value>(&raw)
                .ok()
                .and_then(|v| v["enabled"].as_bool())
            {
                Some(on) => {
                    sh.one_per_second.store(on, Ordering::SeqCst);
                    Reply::empty(204)
                }
                None => Reply::text(400, "expected {\"enabled\": true|false}"),
            }
        }
        _ => Reply::text(404, "unknown control request"),
    }
}

/// A running chat receiver. Stops on [`ChatServer::shutdown`] or when dropped.
pub struct ChatServer {
    shared: Arc<Shared>,
    url: String,
    /// Stops the server when dropped.
    _serving: crate::serve::Background,
}

impl std::fmt::Debug for ChatServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatServer")
            .field("url", &self.url)
            .finish()
    }
}

impl ChatServer {
    /// Start with the default [`Config`] on any free port.
    ///
    /// # Panics
    /// If no port can be bound or the server thread cannot start.
    pub fn start() -> ChatServer {
        match ChatServer::start_with(Config::default()) {
            Ok(s) => s,
            Err(e) => panic!("ChatServer::start: {e}"),
        }
    }

    /// Bind `127.0.0.1:config.port` and serve on a background thread running its own tokio
    /// runtime. Returns once the server is listening.
    pub fn start_with(config: Config) -> std::io::Result<ChatServer> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", config.port))?;
        let port = listener.local_addr()?.port();
        let url = format!("http://127.0.0.1:{port}");
        let shared = Arc::new(Shared {
            matrix_token: config.matrix_token,
            started: Instant::now(),
            one_per_second: AtomicBool::new(config.one_per_second),
            faults: Mutex::default(),
            log: Mutex::default(),
            matrix_events: Mutex::default(),
            last_arrival: Mutex::default(),
        });
        let state = shared.clone();
        let serving = crate::serve::Background::start(
            "chat-test-server",
            listener,
            move |listener| async move {
                let app = axum::Router::new().fallback(handle).with_state(state);
                let _ = axum::serve(listener, app).await;
            },
        )?;
        Ok(ChatServer {
            shared,
            url,
            _serving: serving,
        })
    }

    /// `http://127.0.0.1:PORT` (no trailing slash): a webhook URL is this plus any path; it is
    /// also the Matrix homeserver base URL.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The Matrix access token the server accepts.
    pub fn matrix_token(&self) -> &str {
        &self.shared.matrix_token
    }

    /// Every message request received so far, in arrival order (faulted and refused ones
    /// included).
    pub fn received(&self) -> Vec<Received> {
        lock(&self.shared.log).clone()
    }

    /// The requests that created a message, in arrival order (a repeated Matrix transaction
    /// appears once).
    pub fn messages(&self) -> Vec<Received> {
        lock(&self.shared.log)
            .iter()
            .filter(|r| r.delivered)
            .cloned()
            .collect()
    }

    /// Answer the next `times` message requests with `fault` (after the faults already added).
    pub fn add_fault(&self, fault: Fault, times: u32) {
        if times > 0 {
            lock(&self.shared.faults).push((fault, times));
        }
    }

    /// Remove every pending fault.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Turn the one-message-per-second enforcement on or off.
    pub fn set_one_per_second(&self, on: bool) {
        self.shared.one_per_second.store(on, Ordering::SeqCst);
    }

    /// Forget the requests received so far (Matrix transactions are kept, as a homeserver
    /// would).
    pub fn clear_received(&self) {
        lock(&self.shared.log).clear();
    }

    /// Stop serving and wait for the server thread (also done on drop).
    pub fn shutdown(self) {
        drop(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn post(url: &str, body: &Value) -> (u16, Option<String>, String) {
        let r = reqwest::Client::new()
            .post(url)
            .header("authorization", "Bearer should-not-be-recorded")
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let retry = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        (status, retry, r.text().await.unwrap())
    }

    async fn matrix_put(server: &ChatServer, txn: &str, token: Option<&str>) -> (u16, Value) {
        let url = format!(
            "{}/_matrix/client/v3/rooms/%21room%3Achat.test/send/m.room.message/{txn}",
            server.url()
        );
        let mut req = reqwest::Client::new()
            .put(url)
            .json(&json!({"msgtype": "m.text", "body": "hello"}));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    fn slack_body(blocks: usize) -> Value {
        let blocks: Vec<Value> = (0..blocks)
            .map(
                |i| json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("b{i}")}}),
            )
            .collect();
        json!({"text": "t", "blocks": blocks})
    }

    #[tokio::test]
    async fn webhooks_answer_like_each_service_and_are_recorded() {
        let server = ChatServer::start();
        let slack = format!("{}/services/T1/B1/x", server.url());
        assert_eq!(post(&slack, &slack_body(2)).await, (200, None, "ok".into()));
        let teams = json!({"type": "message", "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": {}}]});
        let (status, _, body) = post(&format!("{}/teams", server.url()), &teams).await;
        assert_eq!((status, body.as_str()), (202, ""));
        let mm = json!({"text": "**hi**"});
        assert_eq!(
            post(&format!("{}/hooks/abc", server.url()), &mm).await.0,
            200
        );
        // Slack's limits.
        let (status, _, body) = post(&slack, &slack_body(51)).await;
        assert_eq!((status, body.as_str()), (400, "invalid_blocks"));

        let got = server.received();
        let styles: Vec<Style> = got.iter().map(|r| r.style).collect();
        assert_eq!(
            styles,
            [Style::Slack, Style::Teams, Style::Mattermost, Style::Slack]
        );
        assert_eq!(got[0].path, "/services/T1/B1/x");
        assert!(got[0].header("authorization").is_none());
        assert_eq!(got[0].header("content-type"), Some("application/json"));
        assert_eq!(got[0].body["text"], "t");
        assert_eq!(server.messages().len(), 3);
        server.shutdown();
    }

    #[tokio::test]
    async fn matrix_checks_the_token_and_deduplicates_transactions() {
        let server = ChatServer::start();
        assert_eq!(
            matrix_put(&server, "a-1", None).await.1["errcode"],
            "M_MISSING_TOKEN"
        );
        assert_eq!(matrix_put(&server, "a-1", Some("nope")).await.0, 401);
        let token = server.matrix_token().to_string();
        let (s1, e1) = matrix_put(&server, "a-1", Some(&token)).await;
        let (s2, e2) = matrix_put(&server, "a-1", Some(&token)).await;
        let (_, e3) = matrix_put(&server, "a-2", Some(&token)).await;
        assert_eq!((s1, s2), (200, 200));
        assert_eq!(e1["event_id"], e2["event_id"]);
        assert_ne!(e1["event_id"], e3["event_id"]);
        let msgs = server.messages();
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].room.as_deref(), Some("!room:chat.test"));
        assert_eq!(msgs[0].txn_id.as_deref(), Some("a-1"));
        assert_eq!(server.received().len(), 5);
    }

    #[tokio::test]
    async fn faults_apply_to_the_next_requests() {
        let server = ChatServer::start();
        let url = format!("{}/services/x", server.url());
        server.add_fault(Fault::rate_limit(Duration::from_millis(1500)), 1);
        server.add_fault(Fault::slack_error("channel_not_found"), 1);
        server.add_fault(Fault::server_error(), 1);
        assert_eq!(
            post(&url, &slack_body(1)).await,
            (429, Some("2".into()), "rate_limited".into())
        );
        assert_eq!(
            post(&url, &slack_body(1)).await,
            (404, None, "channel_not_found".into())
        );
        assert_eq!(post(&url, &slack_body(1)).await.0, 500);
        assert_eq!(post(&url, &slack_body(1)).await.0, 200);

        server.add_fault(Fault::rate_limit(Duration::from_millis(300)), 1);
        let (status, body) = matrix_put(&server, "r-1", Some(DEFAULT_MATRIX_TOKEN)).await;
        assert_eq!(status, 429);
        assert_eq!(body["errcode"], "M_LIMIT_EXCEEDED");
        assert_eq!(body["retry_after_ms"], 300);
        let statuses: Vec<u16> = server.received().iter().map(|r| r.status).collect();
        assert_eq!(statuses, [429, 404, 500, 200, 429]);
    }

    #[tokio::test]
    async fn hang_never_answers() {
        let server = ChatServer::start();
        server.add_fault(Fault::Hang, 1);
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(200))
            .build()
            .unwrap();
        let err = client
            .post(format!("{}/x", server.url()))
            .json(&json!({"text": "a"}))
            .send()
            .await
            .unwrap_err();
        assert!(err.is_timeout());
        assert_eq!(
            post(&format!("{}/x", server.url()), &json!({"text": "a"}))
                .await
                .0,
            200
        );
        let got = server.received();
        assert_eq!(
            (got[0].status, got[0].fault.clone()),
            (0, Some(Fault::Hang))
        );
        server.shutdown();
    }

    #[tokio::test]
    async fn one_per_second_mode_answers_429_to_a_burst() {
        let server = ChatServer::start_with(Config {
            one_per_second: true,
            ..Config::default()
        })
        .unwrap();
        let url = format!("{}/services/x", server.url());
        assert_eq!(post(&url, &json!({"text": "1"})).await.0, 200);
        let (status, retry, _) = post(&url, &json!({"text": "2"})).await;
        assert_eq!((status, retry.as_deref()), (429, Some("1")));
        server.set_one_per_second(false);
        assert_eq!(post(&url, &json!({"text": "3"})).await.0, 200);
    }

    #[tokio::test]
    async fn control_requests_drive_the_standalone_server() {
        let server = ChatServer::start();
        let c = reqwest::Client::new();
        let r = c
            .post(format!("{}/_test/faults", server.url()))
            .json(
                &json!({"fault": {"kind": "status", "status": 410, "body": "channel_is_archived"}}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204);
        assert_eq!(
            post(&format!("{}/s", server.url()), &slack_body(1)).await.0,
            410
        );
        let log: Value = c
            .get(format!("{}/_test/received", server.url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(log.as_array().unwrap().len(), 1);
        assert_eq!(log[0]["status"], 410);
        assert_eq!(log[0]["fault"]["kind"], "status");
    }

    #[test]
    fn paths_are_decoded() {
        assert_eq!(
            matrix_path("/_matrix/client/v3/rooms/%21a%3Ab/send/m.room.message/id-1"),
            Some(("!a:b".to_string(), "id-1".to_string()))
        );
        assert_eq!(
            matrix_path("/_matrix/client/v3/rooms/a/send/m.other/1"),
            None
        );
        assert_eq!(decode("%zz%2"), "%zz%2");
    }
}
