//! The HTTP side: one fallback handler that logs the request, applies faults, authenticates and
//! routes by hand to the endpoints below. Endpoints build a [`Reply`] (status, headers, bytes),
//! which keeps faults such as a truncated body simple.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use chrono::Utc;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::jql::{self, Query};
use super::model::{is_adf, seed_list, Issue, LabelOp};
use super::net::ConnCtl;
use super::render::{
    body_text, CommentOut, CommentsOut, Ctx, FieldSel, IssueOut, IssuesOut, PersonOut,
};
use super::{Fault, FaultBody, FaultRule, Flavor, RequestRecord, Shared};

const JSON: &str = "application/json;charset=UTF-8";
const LIMIT: u64 = 1000;
const INVALID_PAYLOAD: &str =
    "Invalid request payload. Refer to the REST API documentation and try again.";
const NOT_FOUND_ISSUE: &str = "Issue does not exist or you do not have permission to see it.";
const LEGACY_REMOVED: &str = "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046";
const UNBOUNDED: &str =
    "Unbounded JQL queries are not allowed here. Please add a search restriction to your query.";
const BAD_TOKEN: &str = "The provided next page token is invalid or expired.";

/// An answer before it becomes an HTTP response.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn new(status: u16, content_type: &str, body: Vec<u8>) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", content_type.to_string())],
            body,
        }
    }

    fn json<T: Serialize + ?Sized>(status: u16, v: &T) -> Reply {
        match serde_json::to_vec(v) {
            Ok(body) => Reply::new(status, JSON, body),
            Err(e) => Reply::error(500, &[&format!("could not render the answer: {e}")], &[]),
        }
    }

    /// Jira's error body `{"errorMessages":[...],"errors":{...}}`.
    fn error(status: u16, messages: &[&str], errors: &[(&str, &str)]) -> Reply {
        let errors: Map<String, Value> = errors
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect();
        Reply::json(
            status,
            &json!({"errorMessages": messages, "errors": errors}),
        )
    }

    fn text(status: u16, text: &str) -> Reply {
        Reply::new(status, "text/plain;charset=UTF-8", text.as_bytes().to_vec())
    }

    fn html(status: u16, html: String) -> Reply {
        Reply::new(status, "text/html;charset=UTF-8", html.into_bytes())
    }

    fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
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

/// Who is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Auth {
    /// A configured user (index).
    User(usize),
    /// No credentials.
    Anonymous,
    /// Credentials that match nobody.
    Failed,
}

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
        let users = &self.config.users;
        let found = if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(cred)
                .ok()
                .and_then(|b| String::from_utf8(b).ok());
            decoded.and_then(|s| {
                let (id, token) = s.split_once(':')?;
                users.iter().position(|u| {
                    u.token == token
                        && match self.config.flavor {
                            Flavor::Cloud => u.email.eq_ignore_ascii_case(id),
                            Flavor::DataCenter => u.name == id,
                        }
                })
            })
        } else if scheme.eq_ignore_ascii_case("bearer") && self.config.flavor == Flavor::DataCenter
        {
            users.iter().position(|u| u.token == cred)
        } else {
            None
        };
        found.map_or(Auth::Failed, Auth::User)
    }

    /// The user an API endpoint acts for: `Some(index)`, or `None` for an anonymous request on a
    /// site that allows it. Otherwise 401 in plain text.
    fn gate(&self, auth: Auth) -> Result<Option<usize>> {
        match auth {
            Auth::User(i) => Ok(Some(i)),
            _ if self.config.anonymous_on_bad_auth => Ok(None),
            _ => Err(Reply::text(401, "Unauthorized")),
        }
    }

    fn ctx(&self, api: u8) -> Ctx<'_> {
        Ctx {
            base: &self.base,
            flavor: self.config.flavor,
            api,
            zone: self.zone,
            zone_name: &self.zone_name,
        }
    }

    fn jql_context(&self) -> jql::Context {
        jql::Context {
            zone: self.zone,
            now: self.now(),
        }
    }
}

/// The single handler behind every path.
pub(crate) async fn handle(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<ConnCtl>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, 64 << 20).await {
        Ok(b) => b,
        Err(_) => {
            return Reply::error(400, &["Could not read the request body."], &[]).into_response()
        }
    };
    let method = parts.method.clone();
    let uri = parts.uri.clone();
    let path = uri.path().to_string();
    if path == "/_test" || path.starts_with("/_test/") {
        return control(&shared, &method, &path, &bytes).into_response();
    }
    let path_and_query = uri
        .path_and_query()
        .map_or_else(|| path.clone(), |pq| pq.as_str().to_string());
    let auth = shared.authenticate(&parts.headers);
    let user = match auth {
        Auth::User(i) => shared.config.users.get(i).map(|u| u.name.clone()),
        _ => None,
    };
    let seq = shared.record(RequestRecord {
        method: method.to_string(),
        path_and_query: path_and_query.clone(),
        body: String::from_utf8_lossy(&bytes).into_owned(),
        at: Instant::now(),
        status: 0,
        user,
    });

    let reply = match shared.take_fault(method.as_str(), &path_and_query) {
        Some(Fault::Drop) => {
            // Every read and write on this connection now fails: hyper closes it without
            // sending a byte of this response.
            conn.0.kill();
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
        Some(Fault::Slow { millis }) => {
            tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
            api(&shared, auth, &method, &uri, &bytes)
        }
        Some(Fault::Malformed) => {
            let body = if method == Method::GET {
                api(&shared, auth, &method, &uri, &bytes).body
            } else {
                Vec::new()
            };
            let mut body = if body.len() >= 4 {
                body
            } else {
                br#"{"expand":"schema,names","startAt":0,"maxResults":50,"total":1,"issues":[{"id":"10001","key":"DM-1"}]}"#.to_vec()
            };
            body.truncate(body.len() / 2);
            Reply::new(200, JSON, body)
        }
        Some(fault) => fault_reply(&fault),
        None => api(&shared, auth, &method, &uri, &bytes),
    };
    shared.record_status(seq, reply.status);
    reply.into_response()
}

/// An API answer with the headers Jira adds to every response.
fn api(shared: &Shared, auth: Auth, method: &Method, uri: &Uri, body: &[u8]) -> Reply {
    let mut reply = route(shared, auth, method, uri, body).unwrap_or_else(|r| r);
    if !reply.has_header("X-RateLimit-Limit") {
        reply = reply
            .header("X-RateLimit-Limit", LIMIT.to_string())
            .header("X-RateLimit-Remaining", (LIMIT - 1).to_string());
        if shared.config.flavor == Flavor::DataCenter {
            reply = reply
                .header("X-RateLimit-Interval-Seconds", "1")
                .header("X-RateLimit-FillRate", "100");
        }
    }
    match auth {
        Auth::User(_) => reply = reply.header("X-Seraph-LoginReason", "OK"),
        Auth::Failed => reply = reply.header("X-Seraph-LoginReason", "AUTHENTICATED_FAILED"),
        Auth::Anonymous => {}
    }
    if shared.config.flavor == Flavor::DataCenter {
        let name = match auth {
            Auth::User(i) => shared.config.users.get(i).map(|u| u.name.clone()),
            _ => None,
        };
        reply = reply.header("X-AUSERNAME", name.unwrap_or_else(|| "anonymous".into()));
    }
    reply.header("Cache-Control", "no-cache, no-store, no-transform")
}

/// The answer a fault dictates (other than Drop, Slow and Malformed, handled by the caller).
fn fault_reply(fault: &Fault) -> Reply {
    match fault {
        Fault::RateLimit {
            status,
            retry_after_secs,
            reset_header,
        } => {
            let mut r = Reply::error(*status, &["Rate limit exceeded."], &[])
                .header("Retry-After", retry_after_secs.to_string())
                .header("X-RateLimit-Limit", LIMIT.to_string())
                .header("X-RateLimit-Remaining", "0")
                .header("RateLimit-Reason", "jira-burst-based");
            if *reset_header {
                let secs = i64::try_from(*retry_after_secs).unwrap_or(i64::MAX / 2_000);
                let reset = Utc::now()
                    + chrono::Duration::try_seconds(secs).unwrap_or_else(chrono::Duration::zero);
                r = r.header(
                    "X-RateLimit-Reset",
                    reset.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                );
            }
            r
        }
        Fault::Status { status, body } => match body {
            FaultBody::JiraJson(msg) => Reply::error(*status, &[msg], &[]),
            FaultBody::Html => Reply::html(*status, proxy_page(*status)),
            FaultBody::Text(t) => Reply::text(*status, t),
        },
        Fault::HtmlOk => Reply::html(200, LOGIN_PAGE.to_string()),
        // Handled by the caller; answer something sensible anyway.
        Fault::Slow { .. } | Fault::Drop | Fault::Malformed => Reply::empty(500),
    }
}

fn proxy_page(status: u16) -> String {
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    format!(
        "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
}

const LOGIN_PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Log in - Jira</title></head>
<body id="jira" class="aui-layout aui-theme-default page-type-login">
<div id="page"><main role="main" id="main">
<h1>Log in</h1>
<form action="/login.jsp" class="aui" id="login-form" method="post">
<input type="text" name="os_username" id="login-form-username" autocomplete="username">
<input type="password" name="os_password" id="login-form-password" autocomplete="current-password">
<input type="submit" id="login-form-submit" value="Log In">
</form>
</main></div>
</body>
</html>
"#;

fn not_found(shared: &Shared, uri: &Uri) -> Reply {
    Reply::json(
        404,
        &json!({"message": format!("null for uri: {}{}", shared.base, uri), "status-code": 404}),
    )
}

fn method_not_allowed() -> Reply {
    Reply::empty(405)
}

fn route(shared: &Shared, auth: Auth, method: &Method, uri: &Uri, body: &[u8]) -> Result<Reply> {
    let segs: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    let (api, rest) = match segs.as_slice() {
        ["rest", "api", ver, rest @ ..] => {
            let api = match *ver {
                "2" | "latest" => 2,
                "3" if shared.config.flavor == Flavor::Cloud => 3,
                _ => return Ok(not_found(shared, uri)),
            };
            (api, rest)
        }
        _ => return Ok(not_found(shared, uri)),
    };
    let cloud = shared.config.flavor == Flavor::Cloud;
    let get = method == Method::GET;
    let post = method == Method::POST;
    let query = query_pairs(uri)?;
    match rest {
        ["serverInfo"] if get => return Ok(server_info(shared)),
        ["search"] if cloud => return Ok(Reply::error(410, &[LEGACY_REMOVED], &[])),
        ["serverInfo"] => return Ok(method_not_allowed()),
        _ => {}
    }
    let who = shared.gate(auth)?;
    match rest {
        ["myself"] if get => myself(shared, api, who),
        ["field"] if get => Ok(fields()),
        ["search"] if get || post => {
            let p = SearchParams::read(shared, &query, post.then_some(body))?;
            dc_search(shared, api, who, p)
        }
        ["search", "jql"] if cloud && (get || post) => {
            let p = SearchParams::read(shared, &query, post.then_some(body))?;
            cloud_search(shared, api, who, p)
        }
        ["search", "approximate-count"] if cloud && post => approximate_count(shared, who, body),
        ["issue", key] if get => get_issue(shared, api, who, key, &query),
        ["issue", key] if method == Method::PUT => put_issue(shared, who, key, body),
        ["issue", key, "changelog"] if cloud && get => changelog(shared, api, who, key, &query),
        ["issue", key, "comment"] if get => comments(shared, api, who, key, &query),
        ["issue", key, "comment"] if post => add_comment(shared, api, who, key, body),
        ["issue", key, "remotelink"] if get => remote_links(shared, who, key),
        ["issue", key, "remotelink"] if post => add_remote_link(shared, who, key, body),
        ["issue", key, "comment", id] if method == Method::DELETE => {
            delete_comment(shared, who, key, id)
        }
        ["myself"] | ["search"] | ["issue", _] | ["issue", _, "comment"] => {
            Ok(method_not_allowed())
        }
        ["search", "jql"] | ["search", "approximate-count"] | ["issue", _, "changelog"]
            if cloud =>
        {
            Ok(method_not_allowed())
        }
        _ => Ok(not_found(shared, uri)),
    }
}

// ---------------------------------------------------------------------------------------------
// Parameters

fn query_pairs(uri: &Uri) -> Result<Vec<(String, String)>> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map(|q| q.0)
        .map_err(|_| Reply::error(400, &["The query string could not be parsed."], &[]))
}

fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn params<'a>(q: &'a [(String, String)], name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    q.iter()
        .filter(move |(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn int_param(q: &[(String, String)], name: &str) -> Result<Option<i64>> {
    match param(q, name) {
        None => Ok(None),
        Some(v) if v.trim().is_empty() => Ok(None),
        Some(v) => v.trim().parse().map(Some).map_err(|_| {
            Reply::error(
                400,
                &[&format!(
                    "The value '{v}' is not valid for the parameter '{name}'."
                )],
                &[],
            )
        }),
    }
}

fn parse_json(body: &[u8]) -> Result<Value> {
    serde_json::from_slice(body).map_err(|_| Reply::error(400, &[INVALID_PAYLOAD], &[]))
}

/// Search parameters from a GET query or a POST body.
#[derive(Debug, Default)]
struct SearchParams {
    jql: String,
    start_at: Option<i64>,
    max_results: Option<i64>,
    fields: Option<FieldSel>,
    expand: Vec<String>,
    token: Option<String>,
    /// `validateQuery`: Data Center's legacy search only (Cloud's `search/jql` has none).
    validate: Validate,
}

/// How a search treats keys that do not exist (`validateQuery`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Validate {
    /// `strict` (or `true`), the default: a 400 naming them.
    #[default]
    Strict,
    /// `warn` (or `false`): run the query and list them in `warningMessages`.
    Warn,
    /// `none`: run the query.
    None,
}

impl Validate {
    fn parse(v: Option<&Value>) -> Result<Validate> {
        match v {
            None | Some(Value::Null) => Ok(Validate::Strict),
            Some(Value::Bool(true)) => Ok(Validate::Strict),
            Some(Value::Bool(false)) => Ok(Validate::Warn),
            Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
                "strict" | "true" => Ok(Validate::Strict),
                "warn" | "false" => Ok(Validate::Warn),
                "none" => Ok(Validate::None),
                _ => Err(Reply::error(400, &[INVALID_PAYLOAD], &[])),
            },
            Some(_) => Err(Reply::error(400, &[INVALID_PAYLOAD], &[])),
        }
    }
}

impl SearchParams {
    fn read(shared: &Shared, q: &[(String, String)], body: Option<&[u8]>) -> Result<SearchParams> {
        let Some(body) = body else {
            return Ok(SearchParams {
                jql: param(q, "jql").unwrap_or_default().to_string(),
                start_at: int_param(q, "startAt")?,
                max_results: int_param(q, "maxResults")?,
                fields: FieldSel::parse(params(q, "fields")),
                expand: params(q, "expand")
                    .flat_map(|e| e.split(','))
                    .map(|e| e.trim().to_string())
                    .collect(),
                token: param(q, "nextPageToken")
                    .filter(|t| !t.is_empty())
                    .map(str::to_string),
                validate: match shared.config.flavor {
                    Flavor::Cloud => Validate::Strict,
                    Flavor::DataCenter => Validate::parse(
                        param(q, "validateQuery")
                            .map(|v| Value::String(v.to_string()))
                            .as_ref(),
                    )?,
                },
            });
        };
        let v = parse_json(body)?;
        let o = v
            .as_object()
            .ok_or_else(|| Reply::error(400, &[INVALID_PAYLOAD], &[]))?;
        let bad = || Reply::error(400, &[INVALID_PAYLOAD], &[]);
        let string = |name: &str| -> Result<Option<String>> {
            match o.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(bad()),
            }
        };
        let int = |name: &str| -> Result<Option<i64>> {
            match o.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(bad),
                Some(_) => Err(bad()),
            }
        };
        let strings = |name: &str| -> Result<Vec<String>> {
            match o.get(name) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::String(s)) => Ok(vec![s.clone()]),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|x| x.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(bad),
                Some(_) => Err(bad()),
            }
        };
        // Cloud's search/jql takes `expand` as one comma-separated string, also in POST.
        if shared.config.flavor == Flavor::Cloud && o.get("expand").is_some_and(Value::is_array) {
            return Err(bad());
        }
        let fields = strings("fields")?;
        Ok(SearchParams {
            jql: string("jql")?.unwrap_or_default(),
            start_at: int("startAt")?,
            max_results: int("maxResults")?,
            fields: FieldSel::parse(fields.iter().map(String::as_str)),
            expand: strings("expand")?
                .iter()
                .flat_map(|e| e.split(','))
                .map(|e| e.trim().to_string())
                .collect(),
            token: string("nextPageToken")?.filter(|t| !t.is_empty()),
            validate: match shared.config.flavor {
                Flavor::Cloud => Validate::Strict,
                Flavor::DataCenter => Validate::parse(o.get("validateQuery"))?,
            },
        })
    }

    fn wants_changelog(&self) -> bool {
        self.expand.iter().any(|e| e == "changelog")
    }
}

// ---------------------------------------------------------------------------------------------
// Endpoints

/// `GET /field`: the system fields portcullis and common clients (e.g. Python's `jira`) read.
fn fields() -> Reply {
    let field = |id: &str, name: &str, ty: &str| {
        serde_json::json!({
            "id": id, "key": id, "name": name, "custom": false, "orderable": true,
            "navigable": true, "searchable": true, "clauseNames": [id],
            "schema": { "type": ty, "system": id }
        })
    };
    Reply::json(
        200,
        &[
            field("summary", "Summary", "string"),
            field("status", "Status", "status"),
            field("labels", "Labels", "array"),
            field("fixVersions", "Fix Version/s", "array"),
            field("updated", "Updated", "datetime"),
            field("created", "Created", "datetime"),
            field("assignee", "Assignee", "user"),
            field("reporter", "Reporter", "user"),
            field("components", "Component/s", "array"),
            field("issuelinks", "Linked Issues", "array"),
            field("comment", "Comment", "comments-page"),
        ],
    )
}

fn server_info(shared: &Shared) -> Reply {
    let now = shared.now();
    let ctx = shared.ctx(2);
    let (version, numbers, deployment, build) = match shared.config.flavor {
        Flavor::Cloud => ("1001.0.0-SNAPSHOT", [1001, 0, 0], "Cloud", 100_296),
        Flavor::DataCenter => ("9.12.15", [9, 12, 15], "Server", 9_120_015),
    };
    Reply::json(
        200,
        &json!({
            "baseUrl": shared.base,
            "version": version,
            "versionNumbers": numbers,
            "deploymentType": deployment,
            "buildNumber": build,
            "buildDate": ctx.time(now - chrono::Duration::days(30)),
            "serverTime": ctx.time(now),
            "scmInfo": "5330f7d9b6410d68235d4366868d44403ee65a1a",
            "serverTitle": "Jira",
        }),
    )
}

fn myself(shared: &Shared, api: u8, who: Option<usize>) -> Result<Reply> {
    let person = who
        .and_then(|i| shared.store().user(i))
        .ok_or_else(|| Reply::text(401, "Unauthorized"))?;
    let ctx = shared.ctx(api);
    let mut v = serde_json::to_value(PersonOut {
        ctx,
        person: &person,
    })
    .map_err(|_| Reply::empty(500))?;
    if let Some(o) = v.as_object_mut() {
        o.insert("locale".into(), json!("en_US"));
        o.insert("groups".into(), json!({"size": 1, "items": []}));
        o.insert("applicationRoles".into(), json!({"size": 1, "items": []}));
        o.insert("expand".into(), json!("groups,applicationRoles"));
    }
    Ok(Reply::json(200, &v))
}

fn jql_error(e: jql::JqlError) -> Reply {
    Reply::error(400, &[&e.0], &[])
}

/// Jira's message for a key the query names that no issue has (deleted, never existed).
pub(crate) fn no_such_key(key: &str) -> String {
    format!("An issue with key '{key}' does not exist for field 'key'.")
}

/// Check the keys a query names, as Jira does: unknown keys (deleted issues; a moved issue's
/// old key still counts) fail the whole search with a 400, unless `validateQuery` asks for
/// warnings (returned) or nothing.
fn check_keys(shared: &Shared, query: &Query, validate: Validate) -> Result<Vec<String>> {
    let unknown: Vec<String> = {
        let store = shared.store();
        let mut seen = std::collections::BTreeSet::new();
        query
            .named_keys()
            .into_iter()
            .map(|(p, n)| format!("{p}-{n}"))
            .filter(|k| store.get(k).is_none() && seen.insert(k.clone()))
            .map(|k| no_such_key(&k))
            .collect()
    };
    match validate {
        _ if unknown.is_empty() => Ok(Vec::new()),
        Validate::Strict => {
            let msgs: Vec<&str> = unknown.iter().map(String::as_str).collect();
            Err(Reply::error(400, &msgs, &[]))
        }
        Validate::Warn => Ok(unknown),
        Validate::None => Ok(Vec::new()),
    }
}

/// The issues matching a query, in its order (none for an anonymous request).
fn matching(shared: &Shared, query: &Query, who: Option<usize>) -> Vec<Arc<Issue>> {
    if who.is_none() {
        return Vec::new();
    }
    let mut found: Vec<Arc<Issue>> = {
        let store = shared.store();
        match query.required_keys() {
            Some(keys) => {
                let mut seen = std::collections::HashSet::new();
                keys.iter()
                    .filter_map(|(p, n)| store.get(&format!("{p}-{n}")))
                    .filter(|i| seen.insert(i.key.clone()) && query.matches(i.as_ref()))
                    .cloned()
                    .collect()
            }
            None => store
                .issues
                .iter()
                .filter(|i| query.matches(i.as_ref()))
                .cloned()
                .collect(),
        }
    };
    found.sort_unstable_by(|a, b| query.compare(a.as_ref(), b.as_ref()));
    found
}

/// FNV-1a, for binding page tokens to their query.
fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// An opaque Cloud page token: URL-safe base64 (padded, so it always ends in `==`) of the next
/// offset, the page number and a hash of the JQL.
fn encode_token(offset: usize, page: u32, jql_hash: u64) -> String {
    let mut raw = Vec::with_capacity(16);
    raw.extend_from_slice(&(offset as u32).to_be_bytes());
    raw.extend_from_slice(&page.to_be_bytes());
    raw.extend_from_slice(&jql_hash.to_be_bytes());
    base64::engine::general_purpose::URL_SAFE.encode(raw)
}

fn decode_token(token: &str, jql_hash: u64) -> Option<(usize, u32)> {
    let raw = base64::engine::general_purpose::URL_SAFE
        .decode(token.trim())
        .ok()?;
    if raw.len() != 16 {
        return None;
    }
    let offset = u32::from_be_bytes(raw[0..4].try_into().ok()?) as usize;
    let page = u32::from_be_bytes(raw[4..8].try_into().ok()?);
    let hash = u64::from_be_bytes(raw[8..16].try_into().ok()?);
    (hash == jql_hash).then_some((offset, page))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CloudPage<'a> {
    issues: IssuesOut<'a>,
    is_last: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
}

fn cloud_search(shared: &Shared, api: u8, who: Option<usize>, p: SearchParams) -> Result<Reply> {
    let query = jql::parse(&p.jql, &shared.jql_context()).map_err(jql_error)?;
    if query.filter.is_none() {
        return Err(Reply::error(400, &[UNBOUNDED], &[]));
    }
    check_keys(shared, &query, p.validate)?;
    let hash = fnv(&p.jql);
    let (offset, page) = match &p.token {
        None => (0, 0),
        Some(t) => decode_token(t, hash).ok_or_else(|| Reply::error(400, &[BAD_TOKEN], &[]))?,
    };
    let cap = shared.config.max_results_cap.max(1);
    let wanted = p.max_results.unwrap_or(50).max(1);
    let effective = usize::try_from(wanted).unwrap_or(usize::MAX).min(cap);
    let size = if shared.config.short_pages && page % 2 == 1 {
        (effective / 2).max(1)
    } else {
        effective
    };
    let found = matching(shared, &query, who);
    let start = offset.min(found.len());
    let end = start.saturating_add(size).min(found.len());
    let is_last = end >= found.len();
    let fields = p.fields.clone().unwrap_or_else(FieldSel::none);
    let page_out = CloudPage {
        issues: IssuesOut {
            ctx: shared.ctx(api),
            issues: &found[start..end],
            fields: &fields,
            changelog: p
                .wants_changelog()
                .then_some(shared.config.search_changelog_limit),
        },
        is_last,
        next_page_token: (!is_last).then(|| encode_token(end, page.saturating_add(1), hash)),
    };
    Ok(Reply::json(200, &page_out))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DcPage<'a> {
    expand: &'static str,
    start_at: usize,
    max_results: usize,
    total: usize,
    issues: IssuesOut<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warning_messages: Vec<String>,
}

fn dc_search(shared: &Shared, api: u8, who: Option<usize>, p: SearchParams) -> Result<Reply> {
    let query = jql::parse(&p.jql, &shared.jql_context()).map_err(jql_error)?;
    let warnings = check_keys(shared, &query, p.validate)?;
    let start_at = usize::try_from(p.start_at.unwrap_or(0).max(0)).unwrap_or(usize::MAX);
    let wanted = match p.max_results {
        Some(n) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
        _ => 50,
    };
    let effective = wanted.min(shared.config.max_results_cap);
    let found = matching(shared, &query, who);
    let start = start_at.min(found.len());
    let end = start.saturating_add(effective).min(found.len());
    let fields = p.fields.clone().unwrap_or_else(FieldSel::navigable);
    let page = DcPage {
        expand: "schema,names",
        start_at,
        max_results: effective,
        total: found.len(),
        issues: IssuesOut {
            ctx: shared.ctx(api),
            issues: &found[start..end],
            fields: &fields,
            changelog: p
                .wants_changelog()
                .then_some(shared.config.search_changelog_limit),
        },
        warning_messages: warnings,
    };
    Ok(Reply::json(200, &page))
}

fn approximate_count(shared: &Shared, who: Option<usize>, body: &[u8]) -> Result<Reply> {
    let v = parse_json(body)?;
    let jql_text = v.get("jql").and_then(Value::as_str).unwrap_or_default();
    let query = jql::parse(jql_text, &shared.jql_context()).map_err(jql_error)?;
    if query.filter.is_none() {
        return Err(Reply::error(400, &[UNBOUNDED], &[]));
    }
    let count = if who.is_some() {
        let store = shared.store();
        store
            .issues
            .iter()
            .filter(|i| query.matches(i.as_ref()))
            .count()
    } else {
        0
    };
    Ok(Reply::json(200, &json!({ "count": count })))
}

/// The issue an endpoint acts on, or Jira's 404.
fn find(shared: &Shared, who: Option<usize>, key: &str) -> Result<Arc<Issue>> {
    who.and_then(|_| shared.store().get(key).cloned())
        .ok_or_else(|| Reply::error(404, &[NOT_FOUND_ISSUE], &[]))
}

fn get_issue(
    shared: &Shared,
    api: u8,
    who: Option<usize>,
    key: &str,
    q: &[(String, String)],
) -> Result<Reply> {
    let issue = find(shared, who, key)?;
    let fields = FieldSel::parse(params(q, "fields")).unwrap_or_else(FieldSel::all);
    let changelog = params(q, "expand")
        .flat_map(|e| e.split(','))
        .any(|e| e.trim() == "changelog")
        .then(|| shared.config.issue_changelog_limit.unwrap_or(usize::MAX));
    Ok(Reply::json(
        200,
        &IssueOut {
            ctx: shared.ctx(api),
            issue: &issue,
            fields: &fields,
            changelog,
        },
    ))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ChangelogPage<'a> {
    #[serde(rename = "self")]
    self_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page: Option<String>,
    max_results: usize,
    start_at: usize,
    total: usize,
    is_last: bool,
    values: super::render::HistoriesOut<'a, std::slice::Iter<'a, super::model::History>>,
}

fn changelog(
    shared: &Shared,
    api: u8,
    who: Option<usize>,
    key: &str,
    q: &[(String, String)],
) -> Result<Reply> {
    let issue = find(shared, who, key)?;
    let start = usize::try_from(int_param(q, "startAt")?.unwrap_or(0).max(0)).unwrap_or(usize::MAX);
    let max = int_param(q, "maxResults")?.unwrap_or(100).clamp(1, 100) as usize;
    let total = issue.histories.len();
    let from = start.min(total);
    let to = from.saturating_add(max).min(total);
    let is_last = to >= total;
    let url = |at: usize| {
        format!(
            "{}/rest/api/{api}/issue/{}/changelog?startAt={at}&maxResults={max}",
            shared.base, issue.key
        )
    };
    let ctx = shared.ctx(api);
    let page = ChangelogPage {
        self_url: url(start),
        next_page: (!is_last).then(|| url(to)),
        max_results: max,
        start_at: start,
        total,
        is_last,
        values: super::render::HistoriesOut {
            ctx,
            iter: issue.histories[from..to].iter(),
        },
    };
    Ok(Reply::json(200, &page))
}

/// Why Jira would refuse a label, if it would.
pub(crate) fn label_error(label: &str) -> Option<String> {
    if label.chars().any(char::is_whitespace) {
        Some(format!(
            "The label '{label}' contains spaces which is invalid."
        ))
    } else if label.chars().count() > 255 {
        Some(format!(
            "The label '{label}' exceeds the maximum length for a single label of 255 characters."
        ))
    } else if label.is_empty() {
        Some("The label '' is invalid: labels cannot be empty.".to_string())
    } else {
        None
    }
}

fn label_list(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::Null => Some(Vec::new()),
        Value::Array(a) => a.iter().map(|l| l.as_str().map(str::to_string)).collect(),
        _ => None,
    }
}

fn put_issue(shared: &Shared, who: Option<usize>, key: &str, body: &[u8]) -> Result<Reply> {
    let issue = find(shared, who, key)?;
    let v = parse_json(body)?;
    let o = v
        .as_object()
        .ok_or_else(|| Reply::error(400, &[INVALID_PAYLOAD], &[]))?;
    let fields = o.get("fields").and_then(Value::as_object);
    let update = o.get("update").and_then(Value::as_object);
    if fields.is_none() && update.is_none() {
        return Err(Reply::error(
            400,
            &["one of 'fields' or 'update' required"],
            &[],
        ));
    }
    let mut errors: BTreeMap<String, String> = BTreeMap::new();
    let mut ops: Vec<LabelOp> = Vec::new();
    let mut summary: Option<String> = None;
    let invalid_field = |name: &str| format!("Field '{name}' is not valid for this operation.");
    for (name, value) in fields.into_iter().flatten() {
        match name.as_str() {
            "labels" => match label_list(value) {
                Some(l) => ops.push(LabelOp::Set(l)),
                None => {
                    errors.insert(name.clone(), "The labels must be a list of strings.".into());
                }
            },
            "summary" => match value.as_str() {
                Some(s) if !s.trim().is_empty() => summary = Some(s.to_string()),
                _ => {
                    errors.insert(
                        name.clone(),
                        "You must specify a summary of the issue.".into(),
                    );
                }
            },
            _ => {
                errors.insert(name.clone(), invalid_field(name));
            }
        }
    }
    for (name, value) in update.into_iter().flatten() {
        let Some(list) = value.as_array() else {
            errors.insert(name.clone(), INVALID_PAYLOAD.into());
            continue;
        };
        for op in list {
            let Some((verb, arg)) = op.as_object().and_then(|m| m.iter().next()) else {
                errors.insert(name.clone(), INVALID_PAYLOAD.into());
                continue;
            };
            match (name.as_str(), verb.as_str()) {
                ("labels", "add") | ("labels", "remove") => match arg.as_str() {
                    Some(l) if verb == "add" => ops.push(LabelOp::Add(l.to_string())),
                    Some(l) => ops.push(LabelOp::Remove(l.to_string())),
                    None => {
                        errors.insert(name.clone(), "The label must be a string.".into());
                    }
                },
                ("labels", "set") => match label_list(arg) {
                    Some(l) => ops.push(LabelOp::Set(l)),
                    None => {
                        errors.insert(name.clone(), "The labels must be a list of strings.".into());
                    }
                },
                ("summary", "set") => match arg.as_str() {
                    Some(s) if !s.trim().is_empty() => summary = Some(s.to_string()),
                    _ => {
                        errors.insert(
                            name.clone(),
                            "You must specify a summary of the issue.".into(),
                        );
                    }
                },
                ("labels" | "summary", _) => {
                    errors.insert(
                        name.clone(),
                        format!("Operation '{verb}' is not supported for field '{name}'."),
                    );
                }
                _ => {
                    errors.insert(name.clone(), invalid_field(name));
                }
            }
        }
    }
    for op in &ops {
        let added: &[String] = match op {
            LabelOp::Set(l) => l,
            LabelOp::Add(l) => std::slice::from_ref(l),
            LabelOp::Remove(_) => &[],
        };
        if let Some(msg) = added.iter().find_map(|l| label_error(l)) {
            errors.entry("labels".into()).or_insert(msg);
        }
    }
    if !errors.is_empty() {
        let errors: Vec<(&str, &str)> = errors
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        return Err(Reply::error(400, &[], &errors));
    }
    let now = shared.now();
    let mut store = shared.store();
    let author = who.and_then(|i| store.user(i));
    if let Some(s) = &summary {
        store.edit_summary(&issue.key, s, author.clone(), now);
    }
    if !ops.is_empty() {
        store.edit_labels(&issue.key, &ops, author, now);
    }
    Ok(Reply::empty(204))
}

fn comments(
    shared: &Shared,
    api: u8,
    who: Option<usize>,
    key: &str,
    q: &[(String, String)],
) -> Result<Reply> {
    let issue = find(shared, who, key)?;
    let start = usize::try_from(int_param(q, "startAt")?.unwrap_or(0).max(0)).unwrap_or(usize::MAX);
    let max = int_param(q, "maxResults")?.unwrap_or(5000).clamp(0, 5000) as usize;
    Ok(Reply::json(
        200,
        &CommentsOut {
            ctx: shared.ctx(api),
            issue: &issue,
            start_at: start,
            max_results: max,
            with_self: false,
        },
    ))
}

/// `DELETE /rest/api/{2,3}/issue/{key}/comment/{id}`: 204, or 404 when the issue or the
/// comment is not there.
fn delete_comment(shared: &Shared, who: Option<usize>, key: &str, id: &str) -> Result<Reply> {
    let issue = find(shared, who, key)?;
    let now = shared.now();
    match shared.store().remove_comment(&issue.key, id, now) {
        Some(true) => Ok(Reply::empty(204)),
        Some(false) => Err(Reply::error(
            404,
            &[&format!("Can not find a comment for the id: {id}.")],
            &[],
        )),
        None => Err(Reply::error(404, &[NOT_FOUND_ISSUE], &[])),
    }
}

/// `GET /rest/api/{2,3}/issue/{key}/remotelink`: the issue's remote links.
fn remote_links(shared: &Shared, who: Option<usize>, key: &str) -> Result<Reply> {
    let issue = find(shared, who, key)?;
    let links = shared
        .store()
        .remote_links
        .get(&issue.key.to_uppercase())
        .cloned()
        .unwrap_or_default();
    Ok(Reply::json(200, &Value::Array(links)))
}

/// `POST /rest/api/{2,3}/issue/{key}/remotelink` (`{"globalId", "object": {"url", "title"}}`):
/// 201 with the new link's id, or 200 when a link with that `globalId` was there (replaced, as
/// Jira does); 400 without `object.url` or `object.title`.
fn add_remote_link(shared: &Shared, who: Option<usize>, key: &str, body: &[u8]) -> Result<Reply> {
    let issue = find(shared, who, key)?;
    let v = parse_json(body)?;
    let has = |f: &str| {
        v["object"][f]
            .as_str()
            .is_some_and(|s| !s.trim().is_empty())
    };
    if !has("url") || !has("title") {
        return Err(Reply::error(
            400,
            &[],
            &[(
                "object",
                "The remote link needs object.url and object.title.",
            )],
        ));
    }
    let mut store = shared.store();
    let links = store
        .remote_links
        .entry(issue.key.to_uppercase())
        .or_default();
    let global = v
        .get("globalId")
        .and_then(Value::as_str)
        .map(str::to_string);
    let existing = global.as_ref().and_then(|g| {
        links
            .iter()
            .position(|l| l.get("globalId").and_then(Value::as_str) == Some(g.as_str()))
    });
    let (status, id) = match existing {
        Some(i) => {
            let id = links[i]["id"].clone();
            let mut l = v.clone();
            l["id"] = id.clone();
            links[i] = l;
            (200, id)
        }
        None => {
            let id = json!(10000 + links.len() as u64);
            let mut l = v.clone();
            l["id"] = id.clone();
            links.push(l);
            (201, id)
        }
    };
    Ok(Reply::json(
        status,
        &json!({ "id": id, "self": format!("/rest/api/2/issue/{}/remotelink/{id}", issue.key) }),
    ))
}

fn add_comment(
    shared: &Shared,
    api: u8,
    who: Option<usize>,
    key: &str,
    body: &[u8],
) -> Result<Reply> {
    let issue = find(shared, who, key)?;
    let v = parse_json(body)?;
    let text = match (api, v.get("body")) {
        (3, Some(doc)) if is_adf(doc) => body_text(doc).unwrap_or_default(),
        (3, _) => return Err(Reply::error(
            400,
            &[],
            &[(
                "comment",
                "Operation value must be an Atlassian Document (see the Atlassian Document Format)",
            )],
        )),
        (_, Some(Value::String(s))) => s.clone(),
        (_, None | Some(Value::Null)) => String::new(),
        (_, Some(_)) => return Err(Reply::error(400, &[INVALID_PAYLOAD], &[])),
    };
    if text.trim().is_empty() {
        return Err(Reply::error(
            400,
            &[],
            &[("comment", "Comment body can not be empty!")],
        ));
    }
    if let Some((user, body)) = shared.take_before_comment(&issue.key) {
        shared.comment_as(&issue.key, &user, &body);
    }
    let now = shared.now();
    let comment = {
        let mut store = shared.store();
        let author = who.and_then(|i| store.user(i));
        store.add_comment(&issue.key, text, author, now)
    }
    .ok_or_else(|| Reply::error(404, &[NOT_FOUND_ISSUE], &[]))?;
    Ok(Reply::json(
        201,
        &CommentOut {
            ctx: shared.ctx(api),
            issue_id: issue.id,
            comment: &comment,
        },
    ))
}

// ---------------------------------------------------------------------------------------------
// Control endpoints (`/_test/…`, no auth, not logged)

#[derive(serde::Deserialize)]
struct ClockBody {
    now: Option<String>,
}

#[derive(serde::Deserialize)]
struct EditBody {
    key: String,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
}

#[derive(serde::Deserialize)]
struct MoveBody {
    key: String,
    /// The project to move to; absent: delete the issue.
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    user: Option<String>,
}

fn control(shared: &Shared, method: &Method, path: &str, body: &[u8]) -> Reply {
    let bad = |e: &dyn std::fmt::Display| Reply::text(400, &format!("{e}\n"));
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
            Ok(ClockBody { now: Some(t) }) => match super::model::parse_time(&t) {
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
                    .or_else(|| shared.config.users.first().map(|u| u.name.clone()))
                    .unwrap_or_else(|| "admin".into());
                match shared.edit_as(&e.key, &user, &e.add, &e.remove) {
                    Ok(_) => Reply::empty(204),
                    Err(None) => Reply::text(404, &format!("no issue {}\n", e.key)),
                    Err(Some(msg)) => bad(&msg),
                }
            }
            Err(e) => bad(&e),
        },
        ("POST", "/_test/delete") | ("POST", "/_test/move") => {
            match serde_json::from_slice::<MoveBody>(body) {
                Ok(m) => {
                    let done = match (&m.project, path.ends_with("move")) {
                        (Some(p), true) => shared
                            .move_issue(&m.key, p, m.user.as_deref())
                            .map(|k| json!({ "key": k })),
                        (None, true) => return bad(&"`project` is needed to move an issue"),
                        (_, false) => shared.delete_issue(&m.key).then(|| json!({})),
                    };
                    match done {
                        Some(v) => Reply::json(200, &v),
                        None => Reply::text(404, &format!("no issue {}\n", m.key)),
                    }
                }
                Err(e) => bad(&e),
            }
        }
        ("POST", "/_test/issues") => {
            let seeds = serde_json::from_slice::<Value>(body)
                .map_err(|e| e.to_string())
                .and_then(seed_list)
                .and_then(|s| shared.add_seeds(s));
            match seeds {
                Ok(n) => Reply::json(200, &json!({ "added": n })),
                Err(e) => bad(&e),
            }
        }
        ("GET", "/_test/requests") => {
            let list: Vec<Value> = shared
                .requests()
                .into_iter()
                .map(|r| {
                    json!({"method": r.method, "pathAndQuery": r.path_and_query, "status": r.status,
                           "user": r.user, "body": r.body})
                })
                .collect();
            Reply::json(200, &list)
        }
        _ => Reply::text(404, "unknown control endpoint\n"),
    }
}
