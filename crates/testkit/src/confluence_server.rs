//! A Confluence-compatible HTTP server for tests and demos, over real TCP: the Data Center /
//! Server REST API (`/rest/api/…`) as `docs/tracker-apis.md` ("Confluence") describes it.
//!
//! What it implements:
//! - **spaces**: `GET /rest/api/space` (paged), `GET /rest/api/space/{key}`;
//! - **pages** with versions and ancestors: `POST /rest/api/content` (a page in a space, under
//!   an optional parent given as `ancestors: [{"id"}]`; titles are unique per space: a second
//!   page with the same title answers 400), `GET /rest/api/content/{id}` (`expand=body.storage`,
//!   `version`, `ancestors`, `space`), `PUT /rest/api/content/{id}` (the whole page with
//!   `version.number` = current + 1, else **409** as Confluence answers a stale version),
//!   `GET /rest/api/content/{id}/child/page`;
//! - **find and list**: `GET /rest/api/content?spaceKey=&title=&type=page` with **paging** by
//!   `start`/`limit` (the limit capped by [`Config::max_limit`]) and a relative `_links.next`
//!   beside `_links.base`, as Confluence writes them;
//! - **storage-format bodies**: the body must be well-formed XHTML (every tag closed, every `&`
//!   an entity, no bare `<`), else 400 as Confluence answers invalid storage format: a client
//!   that forgets to escape ticket text fails here as it would there;
//! - **auth**: `Authorization: Bearer <personal access token>`, or Basic `name:token` (Data
//!   Center) or `email:token` (Cloud style); anything else answers 401 (JSON);
//! - **faults** ([`Fault`]): any status with a body (a 500 to retry, a 429 with `Retry-After`),
//!   and a **concurrent edit**: the next update of a page is preceded by someone else's edit,
//!   so that the client's version is stale and it gets the real 409.
//!
//! It also plays **Cloud's REST v2** under `/wiki/api/v2`: `GET /spaces?keys=` (the numeric
//! space id), `POST /pages` (`spaceId`, `title`, optional `parentId`, `body: {representation,
//! value}`), `GET /pages/{id}?body-format=storage`, `PUT /pages/{id}` (the same 409 on a stale
//! version), `GET /pages?space-id=&title=` and `GET /spaces/{id}/pages`, with **cursor** paging
//! (an opaque `cursor` in a relative `_links.next`).
//!
//! Tests drive it in process ([`ConfluenceServer::add_fault`], [`ConfluenceServer::page`],
//! [`ConfluenceServer::edit_page`], [`ConfluenceServer::requests`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::{to_bytes, Body};
use axum::extract::{Query, Request, State};
/// The methods of [`FaultRule`].
pub use axum::http::Method;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

/// Largest body read.
const BODY_LIMIT: usize = 8 * 1024 * 1024;
/// The first page id handed out.
const FIRST_ID: u64 = 98_001;

/// An account the server knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Data Center user name (Basic `name:token`).
    pub name: String,
    /// Cloud-style Basic `email:token`.
    pub email: String,
    /// The personal access token (Bearer) or API token (Basic).
    pub token: String,
}

impl Default for User {
    /// `portcullis-bot` / `bot@example.org`, token `confluence-token`.
    fn default() -> Self {
        User {
            name: "portcullis-bot".into(),
            email: "bot@example.org".into(),
            token: "confluence-token".into(),
        }
    }
}

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct Config {
    /// The accounts that can authenticate (default: [`User::default`]).
    pub users: Vec<User>,
    /// The spaces: (key, name) (default: `DM`, "Data Management").
    pub spaces: Vec<(String, String)>,
    /// The largest `limit` honoured (default 25, as small as Confluence's default page).
    pub max_limit: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            users: vec![User::default()],
            spaces: vec![("DM".into(), "Data Management".into())],
            max_limit: 25,
        }
    }
}

/// A fault injected into the next matching requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer this status and JSON body (`Retry-After: 0` on a 429).
    Status { status: u16, body: String },
    /// Before answering an update of a page, someone else edits it (a new version with the
    /// same body): the update is then stale and answers 409.
    ConcurrentEdit,
}

/// Inject `fault` into the next `times` requests with this method whose path contains
/// `path_contains`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    pub method: Method,
    pub path_contains: String,
    pub times: u32,
    pub fault: Fault,
}

/// One request received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    pub method: String,
    pub path_and_query: String,
    /// The status answered.
    pub status: u16,
    /// The authenticated user's name.
    pub user: Option<String>,
}

/// One version of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub number: u32,
    pub body: String,
    pub by: String,
    pub message: Option<String>,
    pub when: DateTime<Utc>,
}

/// A page as a test sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub id: u64,
    pub space: String,
    pub title: String,
    /// The parent page, if any.
    pub parent: Option<u64>,
    /// Every version, oldest first (the last is current).
    pub versions: Vec<Version>,
}

impl Page {
    /// The current version.
    pub fn current(&self) -> &Version {
        // A page is created with its first version and versions are never removed.
        &self.versions[self.versions.len() - 1]
    }
}

#[derive(Default)]
struct Store {
    pages: BTreeMap<u64, Page>,
    next_id: u64,
}

impl Store {
    fn ancestors(&self, id: u64) -> Vec<u64> {
        let mut chain = Vec::new();
        let mut at = self.pages.get(&id).and_then(|p| p.parent);
        while let Some(a) = at {
            chain.push(a);
            at = self.pages.get(&a).and_then(|p| p.parent);
        }
        chain.reverse();
        chain
    }
}

struct Shared {
    config: Config,
    base: String,
    store: Mutex<Store>,
    faults: Mutex<Vec<FaultRule>>,
    requests: Mutex<Vec<RequestRecord>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn take_fault(&self, method: &Method, path: &str) -> Option<Fault> {
        let mut faults = lock(&self.faults);
        let i = faults
            .iter()
            .position(|r| r.times > 0 && r.method == *method && path.contains(&r.path_contains))?;
        faults[i].times -= 1;
        let fault = faults[i].fault.clone();
        if faults[i].times == 0 {
            faults.remove(i);
        }
        Some(fault)
    }

    fn user(&self, headers: &HeaderMap) -> Option<String> {
        let auth = headers.get("authorization")?.to_str().ok()?;
        if let Some(token) = auth.strip_prefix("Bearer ") {
            return self
                .config
                .users
                .iter()
                .find(|u| u.token == token.trim())
                .map(|u| u.name.clone());
        }
        let raw = auth.strip_prefix("Basic ")?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(raw.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (who, token) = text.split_once(':')?;
        self.config
            .users
            .iter()
            .find(|u| (u.name == who || u.email == who) && u.token == token)
            .map(|u| u.name.clone())
    }
}

/// A running Confluence test server. Stops when dropped.
pub struct ConfluenceServer {
    shared: Arc<Shared>,
    _serving: crate::serve::Background,
}

impl std::fmt::Debug for ConfluenceServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfluenceServer")
            .field("url", &self.shared.base)
            .finish()
    }
}

impl ConfluenceServer {
    /// Bind `127.0.0.1` on any free port and serve on a background thread.
    pub fn start(config: Config) -> std::io::Result<ConfluenceServer> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            config,
            base: format!("http://127.0.0.1:{port}"),
            store: Mutex::new(Store {
                pages: BTreeMap::new(),
                next_id: FIRST_ID,
            }),
            faults: Mutex::default(),
            requests: Mutex::default(),
        });
        let state = shared.clone();
        let serving = crate::serve::Background::start(
            "confluence-test-server",
            listener,
            move |listener| async move {
                let app = axum::Router::new().fallback(handle).with_state(state);
                let _ = axum::serve(listener, app).await;
            },
        )?;
        Ok(ConfluenceServer {
            shared,
            _serving: serving,
        })
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        self.shared.base.clone()
    }

    /// Add a fault rule.
    pub fn add_fault(&self, rule: FaultRule) {
        if rule.times > 0 {
            lock(&self.shared.faults).push(rule);
        }
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.requests).clone()
    }

    /// Every page, by id.
    pub fn pages(&self) -> Vec<Page> {
        lock(&self.shared.store).pages.values().cloned().collect()
    }

    /// A page by space and title.
    pub fn page(&self, space: &str, title: &str) -> Option<Page> {
        lock(&self.shared.store)
            .pages
            .values()
            .find(|p| p.space == space && p.title == title)
            .cloned()
    }

    /// Create a page as `by` (for a parent to publish under, or pages of other teams). Returns
    /// its id.
    ///
    /// # Panics
    /// If the space is unknown or the title is taken.
    pub fn create_page(&self, space: &str, title: &str, parent: Option<u64>, body: &str) -> u64 {
        assert!(
            self.shared.config.spaces.iter().any(|(k, _)| k == space),
            "ConfluenceServer::create_page: no space {space}"
        );
        let mut store = lock(&self.shared.store);
        assert!(
            !store
                .pages
                .values()
                .any(|p| p.space == space && p.title == title),
            "ConfluenceServer::create_page: {title} exists"
        );
        new_page(&mut store, space, title, parent, body, "admin")
    }

    /// Someone else edits a page: a new version with `body`.
    ///
    /// # Panics
    /// If there is no such page.
    pub fn edit_page(&self, id: u64, body: &str, by: &str) {
        let mut store = lock(&self.shared.store);
        let page = store
            .pages
            .get_mut(&id)
            .unwrap_or_else(|| panic!("ConfluenceServer::edit_page: no page {id}"));
        bump(page, body.to_string(), by, None);
    }
}

fn new_page(
    store: &mut Store,
    space: &str,
    title: &str,
    parent: Option<u64>,
    body: &str,
    by: &str,
) -> u64 {
    let id = store.next_id;
    store.next_id += 1;
    store.pages.insert(
        id,
        Page {
            id,
            space: space.to_string(),
            title: title.to_string(),
            parent,
            versions: vec![Version {
                number: 1,
                body: body.to_string(),
                by: by.to_string(),
                message: None,
                when: Utc::now(),
            }],
        },
    );
    id
}

fn bump(page: &mut Page, body: String, by: &str, message: Option<String>) {
    let number = page.current().number + 1;
    page.versions.push(Version {
        number,
        body,
        by: by.to_string(),
        message,
        when: Utc::now(),
    });
}

/// An answer: status and JSON.
struct Reply(u16, Value);

impl Reply {
    fn error(status: u16, message: impl Into<String>) -> Reply {
        Reply(
            status,
            json!({"statusCode": status, "message": message.into(), "data": {"authorized": status != 401, "valid": false, "errors": []}}),
        )
    }
}

async fn handle(State(sh): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let user = sh.user(&parts.headers);
    let raw = to_bytes(body, BODY_LIMIT).await.unwrap_or_default();
    let fault = sh.take_fault(&parts.method, parts.uri.path());
    let Reply(status, value) = match (fault, user.as_deref()) {
        (Some(Fault::Status { status, body }), _) => Reply(
            status,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        ),
        (_, None) => Reply::error(
            401,
            "This request requires authentication: a valid personal access token or user name and token",
        ),
        (fault, Some(user)) => {
            let concurrent = fault == Some(Fault::ConcurrentEdit);
            route(&sh, &parts.method, &parts.uri, &raw, user, concurrent)
        }
    };
    lock(&sh.requests).push(RequestRecord {
        method: parts.method.to_string(),
        path_and_query,
        status,
        user,
    });
    let mut resp = Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json");
    if status == 429 {
        resp = resp.header("retry-after", "0");
    }
    resp.body(Body::from(value.to_string()))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

fn route(
    sh: &Shared,
    method: &Method,
    uri: &Uri,
    raw: &[u8],
    user: &str,
    concurrent: bool,
) -> Reply {
    let q: HashMap<String, String> = Query::try_from_uri(uri)
        .map(|Query(q)| q)
        .unwrap_or_default();
    let segs: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    match (method.as_str(), segs.as_slice()) {
        ("GET", ["rest", "api", "space"]) => list_spaces(sh, &q),
        ("GET", ["rest", "api", "space", key]) => match space_json(sh, key) {
            Some(s) => Reply(200, s),
            None => Reply::error(404, format!("No space with key : {key}")),
        },
        ("GET", ["rest", "api", "content"]) => list_content(sh, &q, None),
        ("POST", ["rest", "api", "content"]) => create(sh, raw, user),
        ("GET", ["rest", "api", "content", id]) => {
            let store = lock(&sh.store);
            match id.parse().ok().and_then(|id: u64| store.pages.get(&id)) {
                Some(p) => Reply(200, content_json(sh, &store, p, expands(&q))),
                None => Reply::error(404, format!("No content found with id: {id}")),
            }
        }
        ("PUT", ["rest", "api", "content", id]) => match id.parse() {
            Ok(id) => update(sh, id, raw, user, concurrent),
            Err(_) => Reply::error(404, format!("No content found with id: {id}")),
        },
        ("GET", ["rest", "api", "content", id, "child", "page"]) => match id.parse::<u64>() {
            Ok(id) => list_content(sh, &q, Some(id)),
            Err(_) => Reply::error(404, format!("No content found with id: {id}")),
        },
        ("GET", ["wiki", "api", "v2", "spaces"]) => {
            let keys: Vec<&str> = q
                .get("keys")
                .map(|k| k.split(',').collect())
                .unwrap_or_default();
            let items: Vec<Value> = sh
                .config
                .spaces
                .iter()
                .filter(|(k, _)| keys.is_empty() || keys.contains(&k.as_str()))
                .filter_map(|(k, _)| space_json(sh, k))
                .map(|mut s| {
                    s["id"] = json!(s["id"].to_string());
                    s
                })
                .collect();
            cursor_paged(sh, &q, "/wiki/api/v2/spaces", items)
        }
        ("GET", ["wiki", "api", "v2", "pages"]) => v2_list(sh, &q, q.get("space-id").cloned()),
        ("GET", ["wiki", "api", "v2", "spaces", id, "pages"]) => {
            v2_list(sh, &q, Some(id.to_string()))
        }
        ("POST", ["wiki", "api", "v2", "pages"]) => v2_create(sh, raw, user),
        ("GET", ["wiki", "api", "v2", "pages", id]) => {
            let store = lock(&sh.store);
            match id.parse().ok().and_then(|id: u64| store.pages.get(&id)) {
                Some(p) => Reply(200, v2_page(sh, p, q.contains_key("body-format"))),
                None => Reply::error(404, format!("No content found with id: {id}")),
            }
        }
        ("PUT", ["wiki", "api", "v2", "pages", id]) => match id.parse() {
            Ok(id) => {
                let Ok(mut doc) = serde_json::from_slice::<Value>(raw) else {
                    return Reply::error(400, "Unexpected token: the body is not JSON");
                };
                // v2's body is `{representation, value}`: checked as v1's storage body.
                doc["body"] = json!({"storage": doc["body"].clone()});
                match update(sh, id, doc.to_string().as_bytes(), user, concurrent) {
                    Reply(200, _) => {
                        let store = lock(&sh.store);
                        Reply(200, v2_page(sh, &store.pages[&id], true))
                    }
                    other => other,
                }
            }
            Err(_) => Reply::error(404, format!("No content found with id: {id}")),
        },
        _ => Reply::error(404, format!("null for uri: {}", uri.path())),
    }
}

/// The space key of a v2 numeric space id.
fn space_key_of(sh: &Shared, id: &str) -> Option<String> {
    let n: usize = id.parse::<usize>().ok()?.checked_sub(1000)?;
    sh.config.spaces.get(n).map(|(k, _)| k.clone())
}

fn space_id_of(sh: &Shared, key: &str) -> Option<usize> {
    sh.config
        .spaces
        .iter()
        .position(|(k, _)| k == key)
        .map(|i| 1000 + i)
}

fn v2_page(sh: &Shared, p: &Page, body: bool) -> Value {
    let cur = p.current();
    let mut v = json!({
        "id": p.id.to_string(),
        "status": "current",
        "title": p.title,
        "spaceId": space_id_of(sh, &p.space).map(|i| i.to_string()),
        "parentId": p.parent.map(|i| i.to_string()),
        "version": {
            "number": cur.number,
            "message": cur.message.clone().unwrap_or_default(),
            "createdAt": cur.when.to_rfc3339_opts(SecondsFormat::Millis, true),
            "authorId": cur.by,
        },
        "_links": {"webui": format!("/spaces/{}/pages/{}", p.space, p.id)},
    });
    if body {
        v["body"] = json!({"storage": {"representation": "storage", "value": cur.body}});
    }
    v
}

fn v2_list(sh: &Shared, q: &HashMap<String, String>, space_id: Option<String>) -> Reply {
    let space = match space_id.as_deref().map(|id| space_key_of(sh, id)) {
        Some(None) => return Reply::error(404, "No space with that id"),
        Some(Some(k)) => Some(k),
        None => None,
    };
    let store = lock(&sh.store);
    let body = q.contains_key("body-format");
    let items: Vec<Value> = store
        .pages
        .values()
        .filter(|p| space.as_ref().is_none_or(|k| &p.space == k))
        .filter(|p| q.get("title").is_none_or(|t| &p.title == t))
        .map(|p| v2_page(sh, p, body))
        .collect();
    let path = match &space_id {
        Some(id) if !q.contains_key("space-id") => format!("/wiki/api/v2/spaces/{id}/pages"),
        _ => "/wiki/api/v2/pages".to_string(),
    };
    cursor_paged(sh, q, &path, items)
}

/// v2's paging: `limit` (capped) and an opaque `cursor`, with a relative `_links.next`.
fn cursor_paged(sh: &Shared, q: &HashMap<String, String>, path: &str, items: Vec<Value>) -> Reply {
    let start: usize = match q.get("cursor") {
        None => 0,
        Some(c) => match base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(c)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix("offset:").and_then(|n| n.parse().ok()))
        {
            Some(n) => n,
            None => return Reply::error(400, "Invalid cursor"),
        },
    };
    let limit: usize = q
        .get("limit")
        .and_then(|s| s.parse().ok())
        .unwrap_or(sh.config.max_limit)
        .clamp(1, sh.config.max_limit);
    let total = items.len();
    let results: Vec<Value> = items.into_iter().skip(start).take(limit).collect();
    let mut links = json!({"base": format!("{}/wiki", sh.base)});
    if start + results.len() < total {
        let mut keep: Vec<(String, String)> = q
            .iter()
            .filter(|(k, _)| k.as_str() != "cursor")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        keep.sort();
        let cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("offset:{}", start + limit));
        keep.push(("cursor".into(), cursor));
        let query: Vec<String> = keep
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        links["next"] = json!(format!("{path}?{}", query.join("&")));
    }
    Reply(200, json!({"results": results, "_links": links}))
}

fn v2_create(sh: &Shared, raw: &[u8], user: &str) -> Reply {
    let Ok(doc) = serde_json::from_slice::<Value>(raw) else {
        return Reply::error(400, "Unexpected token: the body is not JSON");
    };
    let space_id = match &doc["spaceId"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Reply::error(400, "spaceId is required"),
    };
    let Some(space) = space_key_of(sh, &space_id) else {
        return Reply::error(404, "No space with that id");
    };
    let mut v1 = json!({
        "type": "page",
        "title": doc["title"],
        "space": {"key": space},
        "body": {"storage": doc["body"].clone()},
    });
    match &doc["parentId"] {
        Value::String(p) => v1["ancestors"] = json!([{"id": p}]),
        Value::Number(p) => v1["ancestors"] = json!([{"id": p.to_string()}]),
        _ => {}
    }
    match create(sh, v1.to_string().as_bytes(), user) {
        Reply(200, v) => {
            let store = lock(&sh.store);
            let id: u64 = v["id"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0);
            match store.pages.get(&id) {
                Some(p) => Reply(200, v2_page(sh, p, true)),
                None => Reply::error(500, "the page vanished"),
            }
        }
        other => other,
    }
}

fn expands(q: &HashMap<String, String>) -> Vec<String> {
    q.get("expand")
        .map(|e| e.split(',').map(|s| s.trim().to_string()).collect())
        .unwrap_or_default()
}

fn space_json(sh: &Shared, key: &str) -> Option<Value> {
    let (i, (key, name)) = sh
        .config
        .spaces
        .iter()
        .enumerate()
        .find(|(_, (k, _))| k == key)?;
    Some(json!({
        "id": 1000 + i as u64, "key": key, "name": name, "type": "global",
        "_links": {"webui": format!("/display/{key}"), "self": format!("{}/rest/api/space/{key}", sh.base)},
    }))
}

/// `start`, `limit` (capped), and a page of `items` with Confluence's paging links.
fn paged(sh: &Shared, q: &HashMap<String, String>, path: &str, items: Vec<Value>) -> Reply {
    let start: usize = q.get("start").and_then(|s| s.parse().ok()).unwrap_or(0);
    let limit: usize = q
        .get("limit")
        .and_then(|s| s.parse().ok())
        .unwrap_or(sh.config.max_limit)
        .clamp(1, sh.config.max_limit);
    let total = items.len();
    let results: Vec<Value> = items.into_iter().skip(start).take(limit).collect();
    let mut links = json!({"base": sh.base, "context": "", "self": format!("{}{path}", sh.base)});
    if start + results.len() < total {
        let mut keep: Vec<(String, String)> = q
            .iter()
            .filter(|(k, _)| k.as_str() != "start" && k.as_str() != "limit")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        keep.sort();
        keep.push(("limit".into(), limit.to_string()));
        keep.push(("start".into(), (start + limit).to_string()));
        let query: Vec<String> = keep
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        links["next"] = json!(format!("{path}?{}", query.join("&")));
    }
    Reply(
        200,
        json!({"results": results, "start": start, "limit": limit, "size": total.min(start + limit).saturating_sub(start), "_links": links}),
    )
}

/// Percent-encode a query value.
fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~,".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn list_spaces(sh: &Shared, q: &HashMap<String, String>) -> Reply {
    let all: Vec<Value> = sh
        .config
        .spaces
        .iter()
        .filter_map(|(k, _)| space_json(sh, k))
        .collect();
    paged(sh, q, "/rest/api/space", all)
}

fn list_content(sh: &Shared, q: &HashMap<String, String>, parent: Option<u64>) -> Reply {
    if q.get("type").is_some_and(|t| t != "page") {
        return paged(sh, q, "/rest/api/content", Vec::new());
    }
    let store = lock(&sh.store);
    if let Some(p) = parent {
        if !store.pages.contains_key(&p) {
            return Reply::error(404, format!("No content found with id: {p}"));
        }
    }
    let expand = expands(q);
    let items: Vec<Value> = store
        .pages
        .values()
        .filter(|p| q.get("spaceKey").is_none_or(|k| &p.space == k))
        .filter(|p| q.get("title").is_none_or(|t| &p.title == t))
        .filter(|p| parent.is_none_or(|id| p.parent == Some(id)))
        .map(|p| content_json(sh, &store, p, expand.clone()))
        .collect();
    let path = match parent {
        Some(id) => format!("/rest/api/content/{id}/child/page"),
        None => "/rest/api/content".to_string(),
    };
    paged(sh, q, &path, items)
}

fn content_json(sh: &Shared, store: &Store, p: &Page, expand: Vec<String>) -> Value {
    let has = |e: &str| {
        expand
            .iter()
            .any(|x| x == e || x.starts_with(&format!("{e}.")))
    };
    let cur = p.current();
    let mut v = json!({
        "id": p.id.to_string(),
        "type": "page",
        "status": "current",
        "title": p.title,
        "_links": {
            "webui": format!("/pages/viewpage.action?pageId={}", p.id),
            "self": format!("{}/rest/api/content/{}", sh.base, p.id),
        },
        "_expandable": {"body": "", "version": "", "ancestors": "", "space": ""},
    });
    if has("version") {
        v["version"] = json!({
            "number": cur.number,
            "when": cur.when.to_rfc3339_opts(SecondsFormat::Millis, true),
            "by": {"type": "known", "username": cur.by, "displayName": cur.by},
            "message": cur.message.clone().unwrap_or_default(),
            "minorEdit": false,
        });
    }
    if has("body") {
        v["body"] = json!({"storage": {"value": cur.body, "representation": "storage"}});
    }
    if has("ancestors") {
        v["ancestors"] = store
            .ancestors(p.id)
            .into_iter()
            .filter_map(|a| store.pages.get(&a))
            .map(|a| json!({"id": a.id.to_string(), "type": "page", "title": a.title}))
            .collect();
    }
    if has("space") {
        v["space"] = space_json(sh, &p.space).unwrap_or(Value::Null);
    }
    v
}

/// The storage body of a create or update, checked.
fn storage_body(doc: &Value) -> Result<String, Reply> {
    let storage = &doc["body"]["storage"];
    let Some(value) = storage["value"].as_str() else {
        return Err(Reply::error(400, "body.storage.value is required"));
    };
    if storage["representation"].as_str() != Some("storage") {
        return Err(Reply::error(
            400,
            "Unsupported content representation: only storage is accepted",
        ));
    }
    if let Err(why) = check_xhtml(value) {
        return Err(Reply::error(400, format!("Error parsing xhtml: {why}")));
    }
    Ok(value.to_string())
}

fn create(sh: &Shared, raw: &[u8], user: &str) -> Reply {
    let Ok(doc) = serde_json::from_slice::<Value>(raw) else {
        return Reply::error(400, "Unexpected token: the body is not JSON");
    };
    if doc["type"].as_str() != Some("page") {
        return Reply::error(400, "Only pages are supported here (type: page)");
    }
    let Some(space) = doc["space"]["key"].as_str() else {
        return Reply::error(400, "A space key is required");
    };
    if !sh.config.spaces.iter().any(|(k, _)| k == space) {
        return Reply::error(404, format!("No space with key : {space}"));
    }
    let title = doc["title"].as_str().unwrap_or("").trim().to_string();
    if title.is_empty() {
        return Reply::error(400, "A page must have a title");
    }
    let body = match storage_body(&doc) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut store = lock(&sh.store);
    let parent = match doc["ancestors"].as_array().and_then(|a| a.last()) {
        None => None,
        Some(a) => {
            let id = a["id"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .or_else(|| a["id"].as_u64());
            match id.and_then(|id| store.pages.get(&id)) {
                Some(p) if p.space == space => Some(p.id),
                Some(_) => return Reply::error(400, "The parent page is in another space"),
                None => return Reply::error(404, "No parent page with that id"),
            }
        }
    };
    if store
        .pages
        .values()
        .any(|p| p.space == space && p.title == title)
    {
        return Reply::error(
            400,
            format!("A page with this title already exists: A page already exists with the title {title} in the space with key {space}"),
        );
    }
    let id = new_page(&mut store, space, &title, parent, &body, user);
    let page = store.pages[&id].clone();
    Reply(
        200,
        content_json(
            sh,
            &store,
            &page,
            vec![
                "body".into(),
                "version".into(),
                "ancestors".into(),
                "space".into(),
            ],
        ),
    )
}

fn update(sh: &Shared, id: u64, raw: &[u8], user: &str, concurrent: bool) -> Reply {
    let Ok(doc) = serde_json::from_slice::<Value>(raw) else {
        return Reply::error(400, "Unexpected token: the body is not JSON");
    };
    let mut store = lock(&sh.store);
    let Some(page) = store.pages.get_mut(&id) else {
        return Reply::error(404, format!("No content found with id: {id}"));
    };
    if concurrent {
        let body = page.current().body.clone();
        bump(page, body, "someone-else", Some("a concurrent edit".into()));
    }
    let current = page.current().number;
    let Some(number) = doc["version"]["number"].as_u64() else {
        return Reply::error(400, "version.number is required to update a page");
    };
    if number != u64::from(current) + 1 {
        return Reply::error(
            409,
            format!("Version must be incremented on update. Current version is: {current}"),
        );
    }
    let body = match storage_body(&doc) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if let Some(t) = doc["title"].as_str() {
        page.title = t.to_string();
    }
    let message = doc["version"]["message"].as_str().map(str::to_string);
    bump(page, body, user, message);
    let page = page.clone();
    Reply(
        200,
        content_json(
            sh,
            &store,
            &page,
            vec!["body".into(), "version".into(), "ancestors".into()],
        ),
    )
}

/// Whether `s` is well-formed XHTML as storage format needs: balanced tags, quoted attributes,
/// every `&` an entity, no bare `<`. Returns why not.
pub fn check_xhtml(s: &str) -> Result<(), String> {
    let mut stack: Vec<String> = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'<' => {
                if s[i..].starts_with("<![CDATA[") {
                    let end = s[i..].find("]]>").ok_or("an unterminated CDATA section")?;
                    i += end + 3;
                    continue;
                }
                if s[i..].starts_with("<!--") {
                    let end = s[i..].find("-->").ok_or("an unterminated comment")?;
                    i += end + 3;
                    continue;
                }
                let end = s[i..]
                    .find('>')
                    .ok_or_else(|| format!("a `<` that opens no tag at {i}"))?;
                let tag = &s[i + 1..i + end];
                i += end + 1;
                if let Some(name) = tag.strip_prefix('/') {
                    let name = name.trim();
                    match stack.pop() {
                        Some(open) if open == name => {}
                        Some(open) => return Err(format!("</{name}> closes <{open}>")),
                        None => return Err(format!("</{name}> closes nothing")),
                    }
                    continue;
                }
                let self_closing = tag.ends_with('/');
                let tag = tag.trim_end_matches('/');
                let name: String = tag.chars().take_while(|c| !c.is_whitespace()).collect();
                if name.is_empty()
                    || !name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == ':' || c == '-')
                {
                    return Err(format!("a `<` that opens no tag at {i}"));
                }
                if !tag[name.len()..].matches('"').count().is_multiple_of(2) {
                    return Err(format!("an unquoted or unterminated attribute in <{name}>"));
                }
                if !self_closing {
                    stack.push(name);
                }
            }
            b'&' => {
                let end = s[i..]
                    .find(';')
                    .filter(|&e| e > 1 && e < 12)
                    .ok_or_else(|| format!("a bare `&` at {i}"))?;
                let entity = &s[i + 1..i + end];
                let ok = entity
                    .strip_prefix('#')
                    .map(|n| {
                        n.strip_prefix('x')
                            .map(|h| h.chars().all(|c| c.is_ascii_hexdigit()))
                            .unwrap_or_else(|| n.chars().all(|c| c.is_ascii_digit()))
                    })
                    .unwrap_or_else(|| entity.chars().all(|c| c.is_ascii_alphanumeric()));
                if !ok {
                    return Err(format!("a bare `&` at {i}"));
                }
                i += end + 1;
            }
            _ => i += 1,
        }
    }
    match stack.pop() {
        Some(open) => Err(format!("<{open}> is never closed")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
