//! The HTTP side: one fallback handler that logs the request, applies faults, authenticates,
//! charges the rate limit and routes by hand to the endpoints below. Endpoints build a
//! [`Reply`] (status, headers, bytes).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use serde_json::{json, Value};

use super::git_http;
use super::model::{
    parse_time, seed_list, Commit, EditError, Entry, Issue, LabelEdit, NewPull, PullError, Repo,
};
use super::render::{self, Ctx};
use super::{Auth, Fault, FaultBody, FaultRule, RateState, RequestRecord, Shared};

const JSON: &str = "application/json; charset=utf-8";
const DOCS: &str = "https://docs.github.com/rest";
const RATE_DOCS: &str =
    "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-the-primary-rate-limit";
const SECONDARY_DOCS: &str =
    "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits";

/// An answer before it becomes an HTTP response.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    /// Add the rate-limit headers of the request (not for a front end's HTML page).
    rate_headers: bool,
}

impl Reply {
    fn new(status: u16, content_type: &str, body: Vec<u8>) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", content_type.to_string())],
            body,
            rate_headers: true,
        }
    }

    fn json(status: u16, v: &Value) -> Reply {
        match serde_json::to_vec(v) {
            Ok(body) => Reply::new(status, JSON, body),
            Err(e) => Reply::error(500, &format!("could not render the answer: {e}"), DOCS),
        }
    }

    /// GitHub's error body `{"message", "documentation_url", "status"}`.
    fn error(status: u16, message: &str, docs: &str) -> Reply {
        Reply::json(
            status,
            &json!({"message": message, "documentation_url": docs, "status": status.to_string()}),
        )
    }

    fn not_found(docs: &str) -> Reply {
        Reply::error(404, "Not Found", docs)
    }

    /// 422 `Validation Failed` for one field.
    fn invalid(resource: &str, field: &str, docs: &str) -> Reply {
        Reply::json(
            422,
            &json!({
                "message": "Validation Failed",
                "errors": [{"resource": resource, "code": "invalid", "field": field}],
                "documentation_url": docs,
                "status": "422",
            }),
        )
    }

    fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            rate_headers: true,
        }
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    fn with_rate(self, r: &RateState) -> Reply {
        if !self.rate_headers {
            return self;
        }
        self.header("x-ratelimit-limit", r.limit.to_string())
            .header("x-ratelimit-remaining", r.remaining.to_string())
            .header("x-ratelimit-reset", r.reset.to_string())
            .header("x-ratelimit-used", r.used.to_string())
            .header("x-ratelimit-resource", "core")
    }

    fn into_response(self) -> Response {
        let mut resp = Response::new(Body::from(self.body));
        *resp.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let headers = resp.headers_mut();
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.append(name, v);
            }
        }
        resp
    }
}

type Result<T> = std::result::Result<T, Reply>;

impl Shared {
    fn authenticate(&self, headers: &HeaderMap) -> Auth {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Auth::Anonymous;
        };
        let Ok(value) = value.to_str() else {
            return Auth::Failed;
        };
        let value = value.trim();
        let (scheme, cred) = value.split_once(' ').unwrap_or((value, ""));
        let cred = cred.trim();
        let token = if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token")
        {
            Some(cred.to_string())
        } else if scheme.eq_ignore_ascii_case("basic") {
            base64::engine::general_purpose::STANDARD
                .decode(cred)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| s.split_once(':').map(|(_, p)| p.to_string()))
        } else {
            None
        };
        token
            .filter(|t| !t.is_empty())
            .and_then(|t| self.config.users.iter().position(|u| u.token == t))
            .map_or(Auth::Failed, Auth::User)
    }

    /// The rate-limit bucket of a request: its token's, or the anonymous one.
    fn bucket(&self, auth: Auth) -> (String, u32) {
        match auth {
            Auth::User(i) => (
                self.config
                    .users
                    .get(i)
                    .map(|u| format!("token:{}", u.token))
                    .unwrap_or_default(),
                self.config.rate_limit,
            ),
            _ => (String::new(), self.config.anonymous_rate_limit),
        }
    }

    fn user_id(&self, auth: Auth) -> Option<u64> {
        match auth {
            Auth::User(i) => self.config.users.get(i).map(|u| u.id),
            _ => None,
        }
    }
}

/// `/api/v3/x` → (`http://…/api/v3`, `/x`); anything else is served at the root.
fn split_prefix<'a>(shared: &Shared, path: &'a str) -> (Ctx, &'a str) {
    let (api, rest) = match path.strip_prefix("/api/v3") {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            (format!("{}/api/v3", shared.base), rest)
        }
        _ => (shared.base.clone(), path),
    };
    (
        Ctx {
            api,
            web: shared.base.clone(),
        },
        rest,
    )
}

/// The single handler behind every path.
pub(crate) async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, 16 << 20).await {
        Ok(b) => b,
        Err(_) => return Reply::error(400, "Problems parsing JSON", DOCS).into_response(),
    };
    let method = parts.method.clone();
    let path = parts.uri.path().to_string();
    if path == "/_test" || path.starts_with("/_test/") {
        return control(&shared, &method, &path, &bytes).into_response();
    }
    let raw_query = parts.uri.query().unwrap_or_default().to_string();
    if let Some(git) = super::git_http::parse(&path) {
        if let Some(bare) = shared.hosted(&git.repo) {
            return git_reply(&shared, &parts, git, bare, &raw_query, bytes.to_vec()).await;
        }
    }
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or_else(|| path.clone(), |pq| pq.as_str().to_string());
    let auth = shared.authenticate(&parts.headers);
    let login = match auth {
        Auth::User(i) => shared.config.users.get(i).map(|u| u.login.clone()),
        _ => None,
    };
    let seq = shared.record(RequestRecord {
        method: method.to_string(),
        path_and_query: path_and_query.clone(),
        body: String::from_utf8_lossy(&bytes).into_owned(),
        at: Instant::now(),
        status: 0,
        login,
    });
    let (ctx, api_path) = split_prefix(&shared, &path);
    let fault_target = if raw_query.is_empty() {
        api_path.to_string()
    } else {
        format!("{api_path}?{raw_query}")
    };
    let call = Call {
        shared: &shared,
        ctx: &ctx,
        auth,
        method: &method,
        path: api_path,
        raw_query: &raw_query,
        body: &bytes,
    };

    let reply = match shared.take_fault(method.as_str(), &fault_target) {
        Some(Fault::Hang) => return std::future::pending::<Response>().await,
        Some(Fault::Slow { millis }) => {
            tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
            api(&call)
        }
        Some(fault) => fault_reply(&shared, auth, &fault),
        None => api(&call),
    };
    let reply = reply
        .header("x-github-api-version-selected", "2022-11-28")
        .header("x-github-media-type", "github.v3; format=json")
        .header("x-github-request-id", shared.request_id());
    shared.record_status(seq, reply.status);
    reply.into_response()
}

/// Git over HTTP for a hosted repository: logged, never faulted nor charged to the API's
/// rate limit (GitHub does not count git traffic against it).
async fn git_reply(
    shared: &Arc<Shared>,
    parts: &axum::http::request::Parts,
    git: super::git_http::GitPath,
    bare: std::path::PathBuf,
    query: &str,
    body: Vec<u8>,
) -> Response {
    let auth = shared.authenticate(&parts.headers);
    let login = match auth {
        Auth::User(i) => shared.config.users.get(i).map(|u| u.login.clone()),
        _ => None,
    };
    let seq = shared.record(RequestRecord {
        method: parts.method.to_string(),
        path_and_query: parts
            .uri
            .path_and_query()
            .map_or_else(String::new, |pq| pq.as_str().to_string()),
        body: String::new(),
        at: Instant::now(),
        status: 0,
        login: login.clone(),
    });
    let (method, headers, query) = (
        parts.method.clone(),
        parts.headers.clone(),
        query.to_string(),
    );
    let served = tokio::task::spawn_blocking(move || {
        super::git_http::serve(
            &bare,
            &super::git_http::GitRequest {
                path: &git,
                method: &method,
                query: &query,
                headers: &headers,
                body: &body,
                auth,
                login,
            },
        )
    })
    .await;
    let reply = match served {
        Ok(r) => r,
        Err(e) => return Reply::error(500, &format!("git: {e}"), DOCS).into_response(),
    };
    shared.record_status(seq, reply.status);
    let mut resp = Response::new(Body::from(reply.body));
    *resp.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in reply.headers {
        if let (Ok(n), Ok(v)) = (
            axum::http::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            resp.headers_mut().append(n, v);
        }
    }
    resp
}

/// One API request.
struct Call<'a> {
    shared: &'a Shared,
    ctx: &'a Ctx,
    auth: Auth,
    method: &'a Method,
    /// Without `/api/v3`, still percent-encoded.
    path: &'a str,
    raw_query: &'a str,
    body: &'a [u8],
}

impl Call<'_> {
    fn query(&self) -> Vec<(String, String)> {
        parse_query(self.raw_query)
    }

    fn param(&self, name: &str) -> Option<String> {
        self.query()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// Authenticate, charge the rate limit, route.
fn api(call: &Call) -> Reply {
    let shared = call.shared;
    let (key, limit) = shared.bucket(call.auth);
    if call.method == Method::GET && call.path.trim_end_matches('/') == "/rate_limit" {
        // Does not count against the limit.
        let r = shared.rate(&key, limit, false);
        let core = json!({"limit": r.limit, "used": r.used, "remaining": r.remaining,
                          "reset": r.reset, "resource": "core"});
        let search = json!({"limit": 30, "used": 0, "remaining": 30, "reset": r.reset,
                            "resource": "search"});
        return Reply::json(
            200,
            &json!({"resources": {"core": core, "search": search}, "rate": core}),
        )
        .with_rate(&r);
    }
    let r = shared.rate(&key, limit, true);
    if r.exceeded {
        let who = match shared.user_id(call.auth) {
            Some(id) => format!("user ID {id}"),
            None => "127.0.0.1. (But here's the good news: Authenticated requests get a higher \
                     rate limit. Check out the documentation for more details.)"
                .to_string(),
        };
        return Reply::error(403, &rate_message(shared, &who), RATE_DOCS).with_rate(&r);
    }
    let who = match call.auth {
        Auth::User(i) => i,
        Auth::Anonymous => return Reply::error(401, "Requires authentication", DOCS).with_rate(&r),
        Auth::Failed => return Reply::error(401, "Bad credentials", DOCS).with_rate(&r),
    };
    route(call, who).unwrap_or_else(|e| e).with_rate(&r)
}

fn rate_message(shared: &Shared, who: &str) -> String {
    format!(
        "API rate limit exceeded for {who}. If you reach out to GitHub Support for help, please \
         include the request ID {} and timestamp {} UTC.",
        shared.request_id(),
        chrono::Utc::now().format("%Y-%m-%d %H:%M:%S")
    )
}

/// The answer a fault dictates (other than Slow and Hang, handled by the caller).
fn fault_reply(shared: &Shared, auth: Auth, fault: &Fault) -> Reply {
    let (key, limit) = shared.bucket(auth);
    let current = shared.rate(&key, limit, false);
    match fault {
        Fault::RateLimit { reset_secs } => {
            let who = shared
                .user_id(auth)
                .map_or_else(|| "127.0.0.1".to_string(), |id| format!("user ID {id}"));
            let reset = super::epoch_millis()
                .div_ceil(1000)
                .saturating_add(*reset_secs);
            Reply::error(403, &rate_message(shared, &who), RATE_DOCS).with_rate(&RateState {
                limit,
                used: limit,
                remaining: 0,
                reset,
                exceeded: true,
            })
        }
        Fault::SecondaryRateLimit {
            status,
            retry_after_secs,
        } => Reply::error(
            *status,
            &format!(
                "You have exceeded a secondary rate limit. Please wait a few minutes before you \
                 try again. If you reach out to GitHub Support for help, please include the \
                 request ID {}.",
                shared.request_id()
            ),
            SECONDARY_DOCS,
        )
        .header("retry-after", retry_after_secs.to_string())
        .with_rate(&current),
        Fault::Status { status, body } => match body {
            FaultBody::GithubJson(msg) => Reply::error(*status, msg, DOCS).with_rate(&current),
            FaultBody::Text(t) => {
                Reply::new(*status, "text/plain; charset=utf-8", t.as_bytes().to_vec())
                    .with_rate(&current)
            }
            FaultBody::Html => {
                let mut r = Reply::new(
                    *status,
                    "text/html; charset=utf-8",
                    front_end_page(*status).into_bytes(),
                );
                r.rate_headers = false;
                r
            }
        },
        // Handled by the caller; answer something sensible anyway.
        Fault::Slow { .. } | Fault::Hang => Reply::empty(500),
    }
}

fn front_end_page(status: u16) -> String {
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    format!(
        "<!DOCTYPE html>\n<html>\n  <head>\n    <meta http-equiv=\"Content-type\" content=\"text/html; charset=utf-8\">\n    <title>Unicorn! &middot; GitHub</title>\n  </head>\n  <body>\n    <div class=\"container\">\n      <h1>{status} {reason}</h1>\n      <p>We're having a really bad day.</p>\n      <p>The Unicorns have taken over. We're doing our best to get them under control and get GitHub back up and running.</p>\n    </div>\n  </body>\n</html>\n"
    )
}

// ---------------------------------------------------------------------------------------------
// Parameters and paging

/// Decode `%XX` escapes (and `+` as a space in queries).
pub(crate) fn pct_decode(s: &str, plus_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'%' => {
                match (
                    b.get(i + 1).and_then(|c| hex(*c)),
                    b.get(i + 2).and_then(|c| hex(*c)),
                ) {
                    (Some(h), Some(l)) => {
                        out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' if plus_space => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (pct_decode(k, true), pct_decode(v, true))
        })
        .collect()
}

/// `per_page` and `page` of a list request.
#[derive(Debug, Clone, Copy)]
struct Paging {
    per_page: usize,
    page: usize,
}

impl Paging {
    fn read(call: &Call) -> Paging {
        let cfg = &call.shared.config;
        let num = |name: &str| {
            call.param(name)
                .and_then(|v| v.trim().parse::<usize>().ok())
        };
        let per_page = match num("per_page") {
            Some(0) | None => cfg.default_per_page,
            Some(n) => n.min(cfg.max_per_page),
        }
        .max(1);
        Paging {
            per_page,
            page: num("page").unwrap_or(1).max(1),
        }
    }

    /// The page of `items`, with GitHub's `Link` header (absolute URLs at the server's own
    /// address, the request's other parameters kept) when there is more than one page.
    fn apply<T>(self, call: &Call, items: Vec<T>) -> (Vec<T>, Option<String>) {
        let total = items.len();
        let last = total.div_ceil(self.per_page).max(1);
        let start = (self.page - 1).saturating_mul(self.per_page).min(total);
        let end = start.saturating_add(self.per_page).min(total);
        let page: Vec<T> = items.into_iter().skip(start).take(end - start).collect();
        if last == 1 && self.page == 1 {
            return (page, None);
        }
        let kept: Vec<&str> = call
            .raw_query
            .split('&')
            .filter(|kv| !kv.is_empty())
            .filter(|kv| pct_decode(kv.split_once('=').map_or(kv, |(k, _)| k), true) != "page")
            .collect();
        let url = |n: usize| {
            let mut q = kept.join("&");
            if !q.is_empty() {
                q.push('&');
            }
            format!("{}{}?{q}page={n}", call.ctx.api, call.path)
        };
        let mut links = Vec::new();
        if self.page > 1 {
            links.push(format!(
                "<{}>; rel=\"prev\"",
                url((self.page - 1).min(last))
            ));
        }
        if self.page < last {
            links.push(format!("<{}>; rel=\"next\"", url(self.page + 1)));
            links.push(format!("<{}>; rel=\"last\"", url(last)));
        }
        if self.page > 1 {
            links.push(format!("<{}>; rel=\"first\"", url(1)));
        }
        (page, Some(links.join(", ")))
    }
}

fn page_reply(call: &Call, items: Vec<Value>) -> Reply {
    let (page, link) = Paging::read(call).apply(call, items);
    let r = Reply::json(200, &Value::Array(page));
    match link {
        Some(l) => r.header("link", l),
        None => r,
    }
}

fn parse_json(body: &[u8]) -> Result<Value> {
    serde_json::from_slice(body).map_err(|_| Reply::error(400, "Problems parsing JSON", DOCS))
}

// ---------------------------------------------------------------------------------------------
// Routing

const ISSUES_DOCS: &str = "https://docs.github.com/rest/issues/issues";
const LABELS_DOCS: &str = "https://docs.github.com/rest/issues/labels";
const COMMENTS_DOCS: &str = "https://docs.github.com/rest/issues/comments";
const PULLS_DOCS: &str = "https://docs.github.com/rest/pulls/pulls";

fn route(call: &Call, who: usize) -> Result<Reply> {
    let segs: Vec<String> = call
        .path
        .trim_matches('/')
        .split('/')
        .map(|s| pct_decode(s, false))
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let get = call.method == Method::GET;
    match segs.as_slice() {
        ["user"] if get => {
            let cfg = call
                .shared
                .config
                .users
                .get(who)
                .cloned()
                .unwrap_or_default();
            let person = call.shared.store().user(who);
            let person = person.ok_or_else(|| Reply::error(401, "Bad credentials", DOCS))?;
            Ok(Reply::json(
                200,
                &render::private_user(call.ctx, &person, &cfg.name, &cfg.email),
            ))
        }
        ["repos", owner, name, rest @ ..] => {
            repo_route(call, who, &format!("{owner}/{name}"), rest)
        }
        ["search", "issues"] if get => search_issues(call),
        ["repositories", id, rest @ ..] => {
            let full = id
                .parse::<u64>()
                .ok()
                .and_then(|id| call.shared.store().repo_by_id(id))
                .ok_or_else(|| Reply::not_found(DOCS))?;
            repo_route(call, who, &full, rest)
        }
        _ => Err(Reply::not_found(DOCS)),
    }
}

fn number(s: &str) -> Result<u64> {
    s.parse().map_err(|_| Reply::not_found(DOCS))
}

fn repo_route(call: &Call, who: usize, full: &str, rest: &[&str]) -> Result<Reply> {
    let m = call.method;
    let (get, post) = (m == Method::GET, m == Method::POST);
    if call.shared.store().repo(full).is_none() {
        return Err(Reply::not_found(DOCS));
    }
    match rest {
        [] if get => with_repo(call, full, |ctx, repo| {
            Ok(Reply::json(200, &render::repository(ctx, repo)))
        }),
        ["issues"] if get => list_issues(call, full),
        ["issues", n] if get => {
            let n = number(n)?;
            with_issue(call, full, n, ISSUES_DOCS, |ctx, repo, issue| {
                Ok(Reply::json(200, &render::issue(ctx, repo, issue)))
            })
        }
        ["issues", n, "timeline"] if get => {
            let n = number(n)?;
            let items = with_issue(call, full, n, ISSUES_DOCS, |ctx, repo, issue| {
                Ok(sorted(issue)
                    .into_iter()
                    .map(|e| render::timeline_entry(ctx, repo, issue, e))
                    .collect::<Vec<_>>())
            })?;
            Ok(page_reply(call, items))
        }
        ["issues", n, "events"] if get => {
            let n = number(n)?;
            let items = with_issue(call, full, n, ISSUES_DOCS, |ctx, repo, issue| {
                Ok(sorted(issue)
                    .into_iter()
                    .filter_map(|e| render::issue_event(ctx, repo, e))
                    .collect::<Vec<_>>())
            })?;
            Ok(page_reply(call, items))
        }
        ["issues", n, "labels"] => {
            let n = number(n)?;
            match m.as_str() {
                "GET" => {
                    let items = with_issue(call, full, n, LABELS_DOCS, |ctx, repo, issue| {
                        Ok(render::issue_labels(ctx, repo, issue)
                            .as_array()
                            .cloned()
                            .unwrap_or_default())
                    })?;
                    Ok(page_reply(call, items))
                }
                "POST" => {
                    let add = label_names(call.body)?;
                    edit(call, who, full, n, &add, &[], false)?;
                    labels_reply(call, full, n)
                }
                "PUT" => {
                    let set = label_names(call.body)?;
                    let current = current_labels(call, full, n)?;
                    let remove: Vec<String> = current
                        .into_iter()
                        .filter(|c| !set.iter().any(|s| s.eq_ignore_ascii_case(c)))
                        .collect();
                    edit(call, who, full, n, &set, &remove, false)?;
                    labels_reply(call, full, n)
                }
                "DELETE" => {
                    let current = current_labels(call, full, n)?;
                    edit(call, who, full, n, &[], &current, false)?;
                    Ok(Reply::empty(204))
                }
                _ => Err(Reply::not_found(DOCS)),
            }
        }
        ["issues", n, "labels", name] if m == Method::DELETE => {
            let n = number(n)?;
            edit(call, who, full, n, &[], &[name.to_string()], true)?;
            labels_reply(call, full, n)
        }
        ["issues", n, "comments"] if get => {
            let n = number(n)?;
            let since = since(call, "IssueComment", COMMENTS_DOCS)?;
            let items = with_issue(call, full, n, COMMENTS_DOCS, |ctx, repo, issue| {
                Ok(sorted(issue)
                    .into_iter()
                    .filter(|e| matches!(e.kind, super::model::Kind::Comment { .. }))
                    .filter(|e| since.is_none_or(|s| comment_updated(e) >= s))
                    .map(|e| render::comment(ctx, repo, issue, e))
                    .collect::<Vec<_>>())
            })?;
            Ok(page_reply(call, items))
        }
        ["issues", n, "comments"] if post => add_comment(call, who, full, number(n)?),
        ["issues", "comments", id] if m == Method::DELETE => {
            let id = number(id)?;
            let now = call.shared.now();
            if call.shared.store().remove_comment(full, id, now) {
                Ok(Reply::empty(204))
            } else {
                Err(Reply::not_found(COMMENTS_DOCS))
            }
        }
        ["pulls"] if get => list_pulls(call, full),
        ["pulls"] if post => create_pull(call, who, full),
        ["pulls", n, "merge"] if m == Method::PUT => merge_pull(call, who, full, number(n)?),
        ["commits", r, "status"] if get => combined_status(call, full, r),
        ["pulls", n] if get => {
            let n = number(n)?;
            with_issue(call, full, n, PULLS_DOCS, |ctx, repo, issue| {
                render::pull(ctx, repo, issue)
                    .map(|v| Reply::json(200, &v))
                    .ok_or_else(|| Reply::not_found(PULLS_DOCS))
            })
        }
        ["pulls", n, "commits"] if get => {
            let n = number(n)?;
            let items = with_issue(call, full, n, PULLS_DOCS, |ctx, repo, issue| {
                let pull = issue
                    .pull
                    .as_ref()
                    .ok_or_else(|| Reply::not_found(PULLS_DOCS))?;
                Ok(pull
                    .commits
                    .iter()
                    .map(|c| render::commit(ctx, repo, c))
                    .collect::<Vec<_>>())
            })?;
            Ok(page_reply(call, items))
        }
        _ => Err(Reply::not_found(DOCS)),
    }
}

/// Timeline entries in time order (ties in the order they were recorded).
fn sorted(issue: &Issue) -> Vec<&Entry> {
    let mut v: Vec<&Entry> = issue.entries.iter().collect();
    v.sort_by_key(|e| e.at);
    v
}

fn comment_updated(e: &Entry) -> chrono::DateTime<chrono::Utc> {
    match &e.kind {
        super::model::Kind::Comment { updated_at, .. } => *updated_at,
        _ => e.at,
    }
}

fn with_repo<T>(call: &Call, full: &str, f: impl FnOnce(&Ctx, &Repo) -> Result<T>) -> Result<T> {
    let store = call.shared.store();
    let repo = store.repo(full).ok_or_else(|| Reply::not_found(DOCS))?;
    f(call.ctx, repo)
}

fn with_issue<T>(
    call: &Call,
    full: &str,
    n: u64,
    docs: &str,
    f: impl FnOnce(&Ctx, &Repo, &Issue) -> Result<T>,
) -> Result<T> {
    with_repo(call, full, |ctx, repo| {
        let issue = repo.issues.get(&n).ok_or_else(|| Reply::not_found(docs))?;
        f(ctx, repo, issue)
    })
}

fn since(call: &Call, resource: &str, docs: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
    match call.param("since") {
        None => Ok(None),
        Some(s) if s.trim().is_empty() => Ok(None),
        Some(s) => parse_time(&s)
            .map(Some)
            .ok_or_else(|| Reply::invalid(resource, "since", docs)),
    }
}

fn list_issues(call: &Call, full: &str) -> Result<Reply> {
    let docs = "https://docs.github.com/rest/issues/issues#list-repository-issues";
    let state = call.param("state").unwrap_or_else(|| "open".into());
    if !matches!(state.as_str(), "open" | "closed" | "all") {
        return Err(Reply::invalid("Issue", "state", docs));
    }
    let wanted: Vec<String> = call
        .param("labels")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let since = since(call, "Issue", docs)?;
    let sort = call.param("sort").unwrap_or_else(|| "created".into());
    if !matches!(sort.as_str(), "created" | "updated" | "comments") {
        return Err(Reply::invalid("Issue", "sort", docs));
    }
    let asc = match call.param("direction").as_deref() {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(_) => return Err(Reply::invalid("Issue", "direction", docs)),
    };
    let items = with_repo(call, full, |ctx, repo| {
        let mut found: Vec<&Issue> = repo
            .issues
            .values()
            .filter(|i| state == "all" || i.state == state)
            .filter(|i| {
                wanted
                    .iter()
                    .all(|w| i.labels.iter().any(|l| l.eq_ignore_ascii_case(w)))
            })
            .filter(|i| since.is_none_or(|s| i.updated_at >= s))
            .collect();
        found.sort_by(|a, b| {
            let key = |i: &Issue| match sort.as_str() {
                "updated" => (i.updated_at.timestamp(), i.number),
                "comments" => (
                    i64::try_from(i.comments().count()).unwrap_or(i64::MAX),
                    i.number,
                ),
                _ => (i.created_at.timestamp(), i.number),
            };
            let o = key(a).cmp(&key(b));
            if asc {
                o
            } else {
                o.reverse()
            }
        });
        Ok(found
            .into_iter()
            .map(|i| render::issue(ctx, repo, i))
            .collect::<Vec<_>>())
    })?;
    Ok(page_reply(call, items))
}

/// `GET /search/issues`: see [`super::search`].
fn search_issues(call: &Call) -> Result<Reply> {
    let docs = "https://docs.github.com/rest/search/search#search-issues-and-pull-requests";
    let q = call.param("q").unwrap_or_default();
    let query = super::search::parse(&q).map_err(|why| {
        Reply::json(
            422,
            &json!({
                "message": "Validation Failed",
                "errors": [{"resource": "Search", "field": "q", "code": "invalid", "message": why}],
                "documentation_url": docs,
            }),
        )
    })?;
    let sort = call.param("sort");
    if !matches!(
        sort.as_deref(),
        None | Some("updated" | "created" | "comments")
    ) {
        return Err(Reply::invalid("Search", "sort", docs));
    }
    let asc = match call.param("order").as_deref() {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(_) => return Err(Reply::invalid("Search", "order", docs)),
    };
    let store = call.shared.store();
    let mut found: Vec<(&Repo, &Issue)> = query
        .repos
        .iter()
        .filter_map(|r| store.repo(r))
        .flat_map(|repo| repo.issues.values().map(move |i| (repo, i)))
        .filter(|(_, i)| query.matches(i))
        .collect();
    found.sort_by(|(ra, a), (rb, b)| {
        let key = |i: &Issue| match sort.as_deref() {
            Some("created") => (i.created_at.timestamp(), i.id),
            Some("comments") => (
                i64::try_from(i.comments().count()).unwrap_or(i64::MAX),
                i.id,
            ),
            _ => (i.updated_at.timestamp(), i.id),
        };
        let o = key(a).cmp(&key(b)).then(ra.id.cmp(&rb.id));
        if asc {
            o
        } else {
            o.reverse()
        }
    });
    let total = found.len();
    let items: Vec<Value> = found
        .into_iter()
        .take(super::search::RESULT_CAP)
        .map(|(repo, i)| {
            let mut v = render::issue(call.ctx, repo, i);
            if let Some(m) = v.as_object_mut() {
                m.insert("score".into(), json!(1.0));
            }
            v
        })
        .collect();
    drop(store);
    let (page, link) = Paging::read(call).apply(call, items);
    let r = Reply::json(
        200,
        &json!({"total_count": total, "incomplete_results": false, "items": page}),
    );
    Ok(match link {
        Some(l) => r.header("link", l),
        None => r,
    })
}

/// Label names from `{"labels": [...]}` or `[...]`, items names or `{"name": …}`.
fn label_names(body: &[u8]) -> Result<Vec<String>> {
    let v = parse_json(body)?;
    let list = match &v {
        Value::Array(a) => a,
        Value::Object(o) => match o.get("labels") {
            Some(Value::Array(a)) => a,
            _ => {
                return Err(Reply::error(
                    422,
                    "Invalid request.\n\n\"labels\" wasn't supplied.",
                    LABELS_DOCS,
                ))
            }
        },
        _ => {
            return Err(Reply::error(
                422,
                "Invalid request.\n\nFor 'links/0/schema', the body is not an object or array.",
                LABELS_DOCS,
            ))
        }
    };
    list.iter()
        .map(|l| match l {
            Value::String(s) => Some(s.clone()),
            Value::Object(o) => o.get("name").and_then(Value::as_str).map(str::to_string),
            _ => None,
        })
        .map(|n| {
            n.filter(|n| !n.trim().is_empty())
                .ok_or_else(|| Reply::invalid("Label", "name", LABELS_DOCS))
        })
        .collect()
}

fn current_labels(call: &Call, full: &str, n: u64) -> Result<Vec<String>> {
    with_issue(call, full, n, LABELS_DOCS, |_, _, issue| {
        Ok(issue.labels.clone())
    })
}

fn edit(
    call: &Call,
    who: usize,
    full: &str,
    n: u64,
    add: &[String],
    remove: &[String],
    strict: bool,
) -> Result<()> {
    let now = call.shared.now();
    let mut store = call.shared.store();
    let actor = store
        .user(who)
        .ok_or_else(|| Reply::error(401, "Bad credentials", DOCS))?;
    match store.edit_labels(
        full,
        n,
        LabelEdit {
            add,
            remove,
            strict,
        },
        actor,
        now,
    ) {
        Ok(_) => Ok(()),
        Err(EditError::NoIssue) => Err(Reply::not_found(ISSUES_DOCS)),
        Err(EditError::NoLabel) => Err(Reply::error(
            404,
            "Label does not exist",
            "https://docs.github.com/rest/issues/labels#remove-a-label-from-an-issue",
        )),
    }
}

fn labels_reply(call: &Call, full: &str, n: u64) -> Result<Reply> {
    with_issue(call, full, n, LABELS_DOCS, |ctx, repo, issue| {
        Ok(Reply::json(200, &render::issue_labels(ctx, repo, issue)))
    })
}

fn add_comment(call: &Call, who: usize, full: &str, n: u64) -> Result<Reply> {
    let v = parse_json(call.body)?;
    let Some(body) = v.get("body").and_then(Value::as_str) else {
        return Err(Reply::error(
            422,
            "Invalid request.\n\n\"body\" wasn't supplied.",
            COMMENTS_DOCS,
        ));
    };
    let now = call.shared.now();
    let entry = {
        let mut store = call.shared.store();
        let actor = store
            .user(who)
            .ok_or_else(|| Reply::error(401, "Bad credentials", DOCS))?;
        store.add_comment(full, n, body.to_string(), actor, now)
    }
    .ok_or_else(|| Reply::not_found(COMMENTS_DOCS))?;
    with_issue(call, full, n, COMMENTS_DOCS, |ctx, repo, issue| {
        let v = render::comment(ctx, repo, issue, &entry);
        let location = v
            .get("url")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        Ok(Reply::json(201, &v).header("location", location))
    })
}

// ---------------------------------------------------------------------------------------------
// Pull requests: list, open, merge, and the combined check state of a ref

/// A branch as `head` may name it: `branch` or `owner:branch`.
fn branch_of(head: &str) -> &str {
    head.split_once(':').map_or(head, |(_, b)| b)
}

fn list_pulls(call: &Call, full: &str) -> Result<Reply> {
    let state = call.param("state").unwrap_or_else(|| "open".into());
    let head = call.param("head");
    let base = call.param("base");
    let items = with_repo(call, full, |ctx, repo| {
        Ok(repo
            .issues
            .values()
            .filter(|i| state == "all" || i.state == state)
            .filter(|i| {
                i.pull.as_ref().is_some_and(|p| {
                    head.as_deref().is_none_or(|h| branch_of(h) == p.head_ref)
                        && base.as_deref().is_none_or(|b| b == p.base_ref)
                })
            })
            .filter_map(|i| render::pull(ctx, repo, i))
            .collect::<Vec<_>>())
    })?;
    Ok(page_reply(call, items))
}

fn validation(errors: Value) -> Reply {
    Reply::json(
        422,
        &json!({"message": "Validation Failed", "errors": errors, "documentation_url": PULLS_DOCS, "status": "422"}),
    )
}

fn create_pull(call: &Call, who: usize, full: &str) -> Result<Reply> {
    let v = parse_json(call.body)?;
    let field = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    for k in ["title", "head", "base"] {
        if field(k).is_none_or(|x| x.trim().is_empty()) {
            return Err(validation(
                json!([{"resource": "PullRequest", "code": "missing_field", "field": k}]),
            ));
        }
    }
    let head = field("head").unwrap_or_default();
    let base = field("base").unwrap_or_default();
    let now = call.shared.now();
    // A hosted repository must have both branches, as on GitHub.
    let tips = match call.shared.hosted(full) {
        Some(bare) => {
            let tip = |branch: &str, field: &str| {
                git_http::branch_tip(&bare, branch).ok_or_else(|| {
                    validation(
                        json!([{"resource": "PullRequest", "field": field, "code": "invalid"}]),
                    )
                })
            };
            let (h, b) = (tip(branch_of(&head), "head")?, tip(&base, "base")?);
            let commits = git_http::commits_between(&bare, &base, branch_of(&head));
            Some((h, b, commits))
        }
        None => None,
    };
    let created = {
        let mut store = call.shared.store();
        let actor = store
            .user(who)
            .ok_or_else(|| Reply::error(401, "Bad credentials", DOCS))?;
        let (head_sha, base_sha, commits) = match tips {
            Some((h, b, commits)) => {
                let commits = commits
                    .into_iter()
                    .map(|(sha, message, parents, at)| Commit {
                        sha,
                        message,
                        author: actor.clone(),
                        date: chrono::DateTime::from_timestamp(at, 0).unwrap_or(now),
                        parents,
                    })
                    .collect();
                (Some(h), Some(b), commits)
            }
            None => (None, None, Vec::new()),
        };
        store.create_pull(
            full,
            NewPull {
                title: field("title").unwrap_or_default(),
                body: field("body"),
                head: branch_of(&head).to_string(),
                base,
                head_sha,
                base_sha,
                commits,
                draft: v.get("draft").and_then(Value::as_bool).unwrap_or(false),
                actor,
            },
            now,
        )
    };
    let n = match created {
        Ok(n) => n,
        Err(PullError::Exists(_)) => {
            return Err(validation(
                json!([{"resource": "PullRequest", "code": "custom",
                "message": format!("A pull request already exists for {head}.")}]),
            ))
        }
        Err(_) => return Err(Reply::not_found(PULLS_DOCS)),
    };
    with_issue(call, full, n, PULLS_DOCS, |ctx, repo, issue| {
        let v = render::pull(ctx, repo, issue).ok_or_else(|| Reply::not_found(PULLS_DOCS))?;
        let location = v["url"].as_str().unwrap_or_default().to_string();
        Ok(Reply::json(201, &v).header("location", location))
    })
}

const MERGE_DOCS: &str = "https://docs.github.com/rest/pulls/pulls#merge-a-pull-request";

/// `PUT …/pulls/{n}/merge`: in a hosted repository a real merge commit (`commit_title` and
/// `commit_message` honoured), else a fake sha. 405 when it is merged, closed or conflicts.
fn merge_pull(call: &Call, who: usize, full: &str, n: u64) -> Result<Reply> {
    let now = call.shared.now();
    let asked = if call.body.is_empty() {
        Value::Null
    } else {
        parse_json(call.body)?
    };
    let not_mergeable = || Reply::error(405, "Pull Request is not mergeable", MERGE_DOCS);
    let mut store = call.shared.store();
    let actor = store
        .user(who)
        .ok_or_else(|| Reply::error(401, "Bad credentials", DOCS))?;
    let sha = match call.shared.hosted(full) {
        None => None,
        Some(bare) => {
            let repo = store.repo(full).ok_or_else(|| Reply::not_found(DOCS))?;
            let issue = repo.issues.get(&n);
            let pull = issue
                .and_then(|i| i.pull.as_ref().map(|p| (i, p)))
                .ok_or_else(|| Reply::not_found(PULLS_DOCS))?;
            let (issue, pull) = pull;
            if issue.state != "open" || pull.merged_at.is_some() {
                return Err(not_mergeable());
            }
            let text = |k: &str| asked.get(k).and_then(Value::as_str).map(str::to_string);
            let title = text("commit_title").unwrap_or_else(|| {
                format!(
                    "Merge pull request #{n} from {}/{}",
                    repo.owner.login, pull.head_ref
                )
            });
            let message = format!(
                "{title}\n\n{}",
                text("commit_message").unwrap_or_else(|| issue.title.clone())
            );
            let email = format!("{}@users.noreply.github.com", actor.login);
            match git_http::merge(
                &bare,
                &pull.base_ref,
                &pull.head_ref,
                &message,
                (&actor.login, &email),
                now,
            ) {
                Ok(sha) => Some(sha),
                Err(git_http::MergeError::NotMergeable) => return Err(not_mergeable()),
                Err(git_http::MergeError::Failed(e)) => {
                    return Err(Reply::error(500, &format!("merge failed: {e}"), MERGE_DOCS))
                }
            }
        }
    };
    match store.merge_pull(full, n, actor, now, sha) {
        Ok(sha) => Ok(Reply::json(
            200,
            &json!({"sha": sha, "merged": true, "message": "Pull Request successfully merged"}),
        )),
        Err(PullError::NotMergeable) => Err(not_mergeable()),
        Err(_) => Err(Reply::not_found(PULLS_DOCS)),
    }
}

/// `GET …/commits/{ref}/status`: the check state set for the ref (a branch, or a pull
/// request's head commit), `pending` when none was set.
fn combined_status(call: &Call, full: &str, reference: &str) -> Result<Reply> {
    with_repo(call, full, |_, repo| {
        let by_head = repo
            .issues
            .values()
            .filter_map(|i| i.pull.as_ref())
            .find(|p| p.head_sha == reference)
            .map(|p| p.head_ref.clone());
        let state = repo
            .checks
            .get(reference)
            .or_else(|| by_head.as_ref().and_then(|h| repo.checks.get(h)));
        let statuses: Vec<Value> = state
            .iter()
            .map(|s| json!({"state": s, "context": "ci", "description": format!("CI: {s}")}))
            .collect();
        Ok(Reply::json(
            200,
            &json!({
                "state": state.cloned().unwrap_or_else(|| "pending".into()),
                "sha": reference,
                "total_count": statuses.len(),
                "statuses": statuses,
            }),
        ))
    })
}

// ---------------------------------------------------------------------------------------------
// Control endpoints (`/_test/…`, no auth, not logged)

#[derive(serde::Deserialize)]
struct ClockBody {
    now: Option<String>,
}

#[derive(serde::Deserialize)]
struct EditBody {
    repo: String,
    number: u64,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
}

fn text(status: u16, t: &str) -> Reply {
    Reply::new(status, "text/plain; charset=utf-8", t.as_bytes().to_vec())
}

fn control(shared: &Shared, method: &Method, path: &str, body: &[u8]) -> Reply {
    let bad = |e: &dyn std::fmt::Display| text(400, &format!("{e}\n"));
    match (method.as_str(), path.trim_end_matches('/')) {
        ("POST", "/_test/faults") => match serde_json::from_slice::<FaultRule>(body) {
            Ok(rule) => {
                shared.add_fault(rule);
                Reply::empty(204)
            }
            Err(e) => bad(&e),
        },
        ("DELETE", "/_test/faults") => {
            shared.clear_faults();
            Reply::empty(204)
        }
        ("POST", "/_test/clock") => match serde_json::from_slice::<ClockBody>(body) {
            Ok(ClockBody { now: None }) => {
                shared.set_now(None);
                Reply::empty(204)
            }
            Ok(ClockBody { now: Some(t) }) => match parse_time(&t) {
                Some(t) => {
                    shared.set_now(Some(t));
                    Reply::empty(204)
                }
                None => bad(&format!("invalid time {t:?}")),
            },
            Err(e) => bad(&e),
        },
        ("POST", "/_test/edit") => match serde_json::from_slice::<EditBody>(body) {
            Ok(e) => {
                let user = e
                    .user
                    .or_else(|| shared.config.users.first().map(|u| u.login.clone()))
                    .unwrap_or_else(|| "octocat".into());
                match shared.edit_as(&user, &e.repo, e.number, &e.add, &e.remove) {
                    Ok(_) => Reply::empty(204),
                    Err(msg) => text(404, &format!("{msg}\n")),
                }
            }
            Err(e) => bad(&e),
        },
        ("POST", "/_test/issues") => {
            let seeds = serde_json::from_slice::<Value>(body)
                .map_err(|e| e.to_string())
                .and_then(seed_list)
                .and_then(|s| shared.add_seeds(&s));
            match seeds {
                Ok(n) => Reply::json(200, &json!({ "added": n })),
                Err(e) => bad(&e),
            }
        }
        ("DELETE", "/_test/ratelimit") => {
            shared.reset_rate_limits();
            Reply::empty(204)
        }
        ("GET", "/_test/requests") => {
            let list: Vec<Value> = shared
                .requests()
                .into_iter()
                .map(|r| {
                    json!({"method": r.method, "pathAndQuery": r.path_and_query, "status": r.status,
                           "login": r.login, "body": r.body})
                })
                .collect();
            Reply::json(200, &Value::Array(list))
        }
        _ => text(404, "unknown control endpoint\n"),
    }
}
