//! A Jira-compatible HTTP server for tests, benchmarks and demos, over real TCP.
//!
//! It plays either Jira **Cloud** (`/rest/api/3/search/jql` with opaque `nextPageToken`s, the
//! legacy search answering 410, Basic `email:token` auth, `accountId` users, the paged
//! `/issue/{key}/changelog`) or Jira **Data Center** (`/rest/api/2/search` with `startAt`/`total`
//! and a capped `maxResults`, Bearer tokens, `name`/`key` users), following
//! `docs/tracker-apis.md` and serving bodies shaped like the real captures in `fixtures/jira`.
//!
//! What it implements:
//! - search with a JQL subset ([`jql`]): labels, key, project, status, summary, updated/created
//!   (epoch ms, relative periods, date literals in the account's zone), AND/OR/NOT, ORDER BY;
//! - `fields` (`*all`, `*navigable`, lists, `-exclusions`) and `expand=changelog` (embedded
//!   histories newest first, truncated, with `total`);
//! - issue GET, label edits by PUT (recording changelog histories exactly as Jira writes them),
//!   comments in v2 (plain text) and v3 (Atlassian Document Format);
//! - auth per flavor, including sites that treat bad credentials as anonymous;
//! - deleted and moved issues: a search naming a key no issue has (deleted) fails whole with
//!   Jira's 400 (`An issue with key 'DM-1' does not exist for field 'key'.`), unless Data
//!   Center's `validateQuery` is `warn`/`false` (then `warningMessages`) or `none`; a moved
//!   issue answers its old key (issue GET, `key in (…)`) under its new one;
//! - injected faults ([`Fault`]): rate limits, error statuses with JSON/HTML/text bodies, slow
//!   answers, dropped connections, truncated JSON, HTML login pages.
//!
//! Tests drive it in process ([`JiraServer::add_fault`], [`JiraServer::edit_labels`],
//! [`JiraServer::set_now`], …); the standalone runner (`examples/jira_server.rs`) exposes the
//! same controls over HTTP under `/_test/` (no auth):
//!
//! | request | effect |
//! |---|---|
//! | `POST /_test/faults` with a [`FaultRule`] as JSON | add a fault rule |
//! | `DELETE /_test/faults` | remove all fault rules |
//! | `POST /_test/clock` `{"now": "RFC 3339" \| null}` | fix the clock / use real time |
//! | `POST /_test/edit` `{"key", "user", "add": [], "remove": []}` | a human label edit |
//! | `POST /_test/issues` with seed issues (array or `{"issues": [...]}`) | add or replace issues |
//! | `POST /_test/delete` `{"key"}` | delete an issue |
//! | `POST /_test/move` `{"key", "project", "user"}` | move an issue to another project (answers its new key) |
//! | `GET /_test/requests` | the request log as JSON |
//!
//! Control requests are neither logged nor subject to faults.

mod handlers;
pub mod jql;
mod model;
mod net;
mod render;

#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use model::{LabelOp, Store};

/// Which Jira the server plays: the same flavors the client knows.
pub use portcullis_trackers::jira::client::Flavor;

/// An account the server knows. Cloud authenticates `email:token` (Basic); Data Center
/// `Bearer token` or Basic `name:token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Data Center user name.
    pub name: String,
    /// Cloud account id.
    pub account_id: String,
    pub display_name: String,
    pub email: String,
    /// API token (Cloud) or personal access token (Data Center).
    pub token: String,
}

impl Default for User {
    /// The default bot account: `portcullis-bot` / `557058:bot` / `bot@example.org`, token
    /// `test-token`.
    fn default() -> Self {
        User {
            name: "portcullis-bot".into(),
            account_id: "557058:bot".into(),
            display_name: "portcullis bot".into(),
            email: "bot@example.org".into(),
            token: "test-token".into(),
        }
    }
}

/// How the server behaves. [`Config::default`] is Jira Cloud.
#[derive(Debug, Clone)]
pub struct Config {
    pub flavor: Flavor,
    /// The accounts that can authenticate (default: one, [`User::default`]).
    pub users: Vec<User>,
    /// The largest `maxResults` a search honours (default 100); Data Center reports the
    /// effective value in the response.
    pub max_results_cap: usize,
    /// Histories embedded per issue in search results with `expand=changelog` (newest first,
    /// with `total`; default 20).
    pub search_changelog_limit: usize,
    /// Histories embedded on issue GET with `expand=changelog`: `Some(100)` on Cloud, `None`
    /// (all) on Data Center.
    pub issue_changelog_limit: Option<usize>,
    /// The zone every timestamp is formatted in (`-300` → `…T07:00:00.000-0500`), and the
    /// searching account's zone for quoted JQL date literals.
    pub tz_offset_minutes: i32,
    /// Treat bad or missing credentials as anonymous (header `X-Seraph-LoginReason:
    /// AUTHENTICATED_FAILED`; searches find nothing, issues 404, `/myself` 401) instead of
    /// answering 401 `Unauthorized` as plain text.
    pub anonymous_on_bad_auth: bool,
    /// Cloud only: every second page that is not the last returns half of `maxResults`.
    pub short_pages: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config::cloud()
    }
}

impl Config {
    /// The defaults of a flavor.
    pub fn of(flavor: Flavor) -> Config {
        match flavor {
            Flavor::Cloud => Config::cloud(),
            Flavor::DataCenter => Config::data_center(),
        }
    }

    /// Jira Cloud defaults.
    pub fn cloud() -> Config {
        Config {
            flavor: Flavor::Cloud,
            users: vec![User::default()],
            max_results_cap: 100,
            search_changelog_limit: 20,
            issue_changelog_limit: Some(100),
            tz_offset_minutes: 0,
            anonymous_on_bad_auth: false,
            short_pages: false,
        }
    }

    /// Jira Data Center defaults (the same bot user; all histories on issue GET).
    pub fn data_center() -> Config {
        Config {
            flavor: Flavor::DataCenter,
            issue_changelog_limit: None,
            ..Config::cloud()
        }
    }
}

/// A fault to inject instead of (or before) the normal answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Fault {
    /// 429 (or 503) with `Retry-After`, `X-RateLimit-Limit`, `X-RateLimit-Remaining: 0`,
    /// `RateLimit-Reason: jira-burst-based` and a Jira JSON error; with `reset_header` also
    /// `X-RateLimit-Reset` (ISO 8601, now + `retry_after_secs`).
    #[serde(alias = "rate_limit")]
    RateLimit {
        status: u16,
        retry_after_secs: u64,
        #[serde(default)]
        reset_header: bool,
    },
    /// Any status with the given body.
    #[serde(alias = "status")]
    Status { status: u16, body: FaultBody },
    /// Wait, then answer normally.
    #[serde(alias = "slow")]
    Slow { millis: u64 },
    /// Close the TCP connection without sending anything.
    #[serde(alias = "drop")]
    Drop,
    /// 200 `application/json` with a body cut in the middle (GET: the real answer, halved).
    #[serde(alias = "malformed")]
    Malformed,
    /// 200 `text/html`: a login page, as an SSO proxy answers.
    #[serde(alias = "html_ok")]
    HtmlOk,
}

/// The body of a [`Fault::Status`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "text")]
pub enum FaultBody {
    /// `{"errorMessages":[text],"errors":{}}`, `application/json`.
    #[serde(alias = "jira_json")]
    JiraJson(String),
    /// A proxy's HTML error page (`<h1>502 Bad Gateway</h1>`), `text/html`.
    #[serde(alias = "html")]
    Html,
    /// Plain text, `text/plain`.
    #[serde(alias = "text")]
    Text(String),
}

/// Inject `fault` into the next `times` requests whose method matches (any when `None`,
/// case-insensitive) and whose path and query contain `path_contains`. Rules are checked in
/// the order they were added; a rule expires when used up (`times: 0` never applies).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRule {
    pub path_contains: String,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default = "one")]
    pub times: u32,
    pub fault: Fault,
}

fn one() -> u32 {
    1
}

/// One request the server received (control requests under `/_test/` excepted).
#[derive(Debug, Clone)]
pub struct RequestRecord {
    pub method: String,
    pub path_and_query: String,
    pub body: String,
    pub at: Instant,
    /// The status answered; 0 for a dropped connection (or while still being handled).
    pub status: u16,
    /// The authenticated user's name.
    pub user: Option<String>,
}

/// What a test can check about an issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueView {
    pub key: String,
    pub labels: Vec<String>,
    /// Comment bodies as plain text, oldest first.
    pub comments: Vec<String>,
    /// Number of changelog histories.
    pub histories: usize,
    pub updated: DateTime<Utc>,
}

/// State shared by the handlers and the [`JiraServer`] handle.
pub(crate) struct Shared {
    pub config: Config,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub zone: FixedOffset,
    pub zone_name: String,
    store: Mutex<Store>,
    faults: Mutex<Vec<FaultRule>>,
    requests: Mutex<Requests>,
    clock: Mutex<Option<DateTime<Utc>>>,
    /// A comment (key, author, body) someone else posts just before the next comment on that
    /// issue: a race between two writers, made certain.
    before_comment: Mutex<Option<(String, String, String)>>,
}

#[derive(Default)]
struct Requests {
    next_seq: u64,
    list: Vec<(u64, RequestRecord)>,
}

/// Lock, ignoring poisoning (a panicking test thread must not take the server down).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    /// The server's clock (fixed by `set_now`, else real time), at millisecond precision.
    pub fn now(&self) -> DateTime<Utc> {
        let now = lock(&self.clock).unwrap_or_else(Utc::now);
        DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
    }

    fn set_now(&self, now: Option<DateTime<Utc>>) {
        *lock(&self.clock) = now;
    }

    fn add_fault(&self, rule: FaultRule) {
        if rule.times > 0 {
            lock(&self.faults).push(rule);
        }
    }

    fn clear_faults(&self) {
        lock(&self.faults).clear();
    }

    /// The fault for this request, if a rule matches (using up one of its `times`).
    pub fn take_fault(&self, method: &str, path_and_query: &str) -> Option<Fault> {
        let mut faults = lock(&self.faults);
        let i = faults.iter().position(|r| {
            r.times > 0
                && path_and_query.contains(r.path_contains.as_str())
                && r.method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method))
        })?;
        let rule = &mut faults[i];
        rule.times -= 1;
        let fault = rule.fault.clone();
        if rule.times == 0 {
            faults.remove(i);
        }
        Some(fault)
    }

    /// Log a request as it arrives; returns its sequence number for [`Shared::record_status`].
    pub fn record(&self, rec: RequestRecord) -> u64 {
        let mut r = lock(&self.requests);
        let seq = r.next_seq;
        r.next_seq += 1;
        r.list.push((seq, rec));
        seq
    }

    /// Fill in the status of a logged request.
    pub fn record_status(&self, seq: u64, status: u16) {
        let mut r = lock(&self.requests);
        if let Some((_, rec)) = r.list.iter_mut().rev().find(|(s, _)| *s == seq) {
            rec.status = status;
        }
    }

    fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.requests)
            .list
            .iter()
            .map(|(_, r)| r.clone())
            .collect()
    }

    fn clear_requests(&self) {
        lock(&self.requests).list.clear();
    }

    /// Add or replace seed issues.
    pub fn add_seeds(&self, seeds: Vec<Value>) -> Result<usize, String> {
        let now = self.now();
        self.store().add_seeds(seeds, now)
    }

    /// A human label edit by the person called `user`. Errors: no such issue (`None`), or an
    /// invalid label (the message).
    pub fn edit_as(
        &self,
        key: &str,
        user: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<bool, Option<String>> {
        if let Some(msg) = add.iter().find_map(|l| handlers::label_error(l)) {
            return Err(Some(msg));
        }
        let ops: Vec<LabelOp> = add
            .iter()
            .map(|l| LabelOp::Add(l.clone()))
            .chain(remove.iter().map(|l| LabelOp::Remove(l.clone())))
            .collect();
        let now = self.now();
        let mut store = self.store();
        let person = store.person_named(user);
        store.edit_labels(key, &ops, Some(person), now).ok_or(None)
    }

    /// A comment by the person called `user`; whether there is such an issue.
    pub fn comment_as(&self, key: &str, user: &str, body: &str) -> bool {
        let now = self.now();
        let mut store = self.store();
        let person = store.person_named(user);
        store
            .add_comment(key, body.to_string(), Some(person), now)
            .is_some()
    }

    /// The comment to post first when the next comment on `key` arrives (once), if it is that.
    pub fn take_before_comment(&self, key: &str) -> Option<(String, String)> {
        let mut slot = lock(&self.before_comment);
        match slot.as_ref() {
            Some((k, _, _)) if k == key => slot.take().map(|(_, who, body)| (who, body)),
            _ => None,
        }
    }

    /// Delete the comments of an issue whose text contains `text`; how many.
    pub fn delete_comments_with(&self, key: &str, text: &str) -> usize {
        let now = self.now();
        let mut store = self.store();
        let ids: Vec<String> = store
            .get(key)
            .map(|i| {
                i.comments
                    .iter()
                    .filter(|c| c.body.contains(text))
                    .map(|c| c.id.clone())
                    .collect()
            })
            .unwrap_or_default();
        ids.iter()
            .filter(|id| store.remove_comment(key, id, now) == Some(true))
            .count()
    }

    /// Delete an issue; whether there was one.
    pub fn delete_issue(&self, key: &str) -> bool {
        self.store().delete(key)
    }

    /// Move an issue to `project` as the person called `user` (default: the first configured
    /// user); its new key, `None` when there is no such issue.
    pub fn move_issue(&self, key: &str, project: &str, user: Option<&str>) -> Option<String> {
        let now = self.now();
        let mut store = self.store();
        let user = user
            .map(str::to_string)
            .or_else(|| self.config.users.first().map(|u| u.name.clone()))
            .unwrap_or_else(|| "admin".into());
        let person = store.person_named(&user);
        store.move_to(key, project, Some(person), now)
    }

    fn view(&self, key: &str) -> Option<IssueView> {
        let store = self.store();
        let i = store.get(key)?;
        Some(IssueView {
            key: i.key.clone(),
            labels: i.labels.clone(),
            comments: i.comments.iter().map(|c| c.body.clone()).collect(),
            histories: i.histories.len(),
            updated: i.updated,
        })
    }
}

/// A running test server. Stops on [`JiraServer::shutdown`] or when dropped.
pub struct JiraServer {
    shared: Arc<Shared>,
    url: String,
    /// Stops the server when dropped.
    _serving: crate::serve::Background,
}

impl std::fmt::Debug for JiraServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JiraServer")
            .field("url", &self.url)
            .field("flavor", &self.shared.config.flavor)
            .finish()
    }
}

impl JiraServer {
    /// Bind `127.0.0.1:port` (0 = any free port), seed the issues, and serve on a background
    /// thread running its own tokio runtime. Returns once the server is listening.
    ///
    /// Errors: the port cannot be bound, the time zone offset is out of range, or a seed issue
    /// is invalid (`InvalidData`, with the reason).
    pub fn start(config: Config, issues: Vec<Value>, port: u16) -> std::io::Result<JiraServer> {
        use std::io::{Error, ErrorKind};
        let zone = FixedOffset::east_opt(config.tz_offset_minutes.saturating_mul(60))
            .ok_or_else(|| Error::new(ErrorKind::InvalidInput, "tz_offset_minutes out of range"))?;
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
        let port = listener.local_addr()?.port();
        let base = format!("http://127.0.0.1:{port}");
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::new(&config.users)),
            zone,
            zone_name: model::zone_name(config.tz_offset_minutes),
            config,
            base: base.clone(),
            faults: Mutex::default(),
            requests: Mutex::default(),
            clock: Mutex::default(),
            before_comment: Mutex::default(),
        });
        shared
            .add_seeds(issues)
            .map_err(|e| Error::new(ErrorKind::InvalidData, e))?;

        let state = shared.clone();
        let serving = crate::serve::Background::start(
            "jira-test-server",
            listener,
            move |listener| async move {
                let app = axum::Router::new()
                    .fallback(handlers::handle)
                    .with_state(state)
                    .into_make_service_with_connect_info::<net::ConnCtl>();
                let _ = axum::serve(net::KillableListener(listener), app).await;
            },
        )?;
        Ok(JiraServer {
            shared,
            url: base,
            _serving: serving,
        })
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The flavor the server plays.
    pub fn flavor(&self) -> Flavor {
        self.shared.config.flavor
    }

    /// Add a fault rule (checked after those already added).
    pub fn add_fault(&self, rule: FaultRule) {
        self.shared.add_fault(rule);
    }

    /// Remove every fault rule.
    pub fn clear_faults(&self) {
        self.shared.clear_faults();
    }

    /// Every request received so far, in arrival order, faulted ones included.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.requests()
    }

    /// Forget the requests received so far.
    pub fn clear_requests(&self) {
        self.shared.clear_requests();
    }

    /// Fix the clock used for new histories, comments and `updated` (and relative JQL dates);
    /// `None` returns to real time.
    pub fn set_now(&self, now: Option<DateTime<Utc>>) {
        self.shared.set_now(now);
    }

    /// Simulate a human label edit by the user called `user` (a configured user's name, or
    /// anyone: unknown names become people with account id `557058:<name>`): records a
    /// changelog history exactly like PUT does and bumps `updated`, if the set changes.
    ///
    /// # Panics
    /// If there is no such issue or a label to add is invalid (contains a space).
    pub fn edit_labels(&self, key: &str, user: &str, add: &[&str], remove: &[&str]) {
        let add: Vec<String> = add.iter().map(|s| s.to_string()).collect();
        let remove: Vec<String> = remove.iter().map(|s| s.to_string()).collect();
        match self.shared.edit_as(key, user, &add, &remove) {
            Ok(_) => {}
            Err(None) => panic!("JiraServer::edit_labels: no issue {key}"),
            Err(Some(msg)) => panic!("JiraServer::edit_labels: {msg}"),
        }
    }

    /// A comment by anyone (as [`JiraServer::edit_labels`] names people), posted now.
    ///
    /// # Panics
    /// If there is no such issue.
    pub fn comment_as(&self, key: &str, user: &str, body: &str) {
        assert!(
            self.shared.comment_as(key, user, body),
            "JiraServer::comment_as: no issue {key}"
        );
    }

    /// Make a race certain: when the next comment on `key` arrives, the person called `user`
    /// posts `body` on it first (once), after the writer's last read and before its comment.
    pub fn comment_first(&self, key: &str, user: &str, body: &str) {
        *lock(&self.shared.before_comment) = Some((key.into(), user.into(), body.into()));
    }

    /// Delete the comments of an issue whose text contains `text`, as a person with the right
    /// to would (the issue's `updated` moves); how many were deleted.
    pub fn delete_comments_with(&self, key: &str, text: &str) -> usize {
        self.shared.delete_comments_with(key, text)
    }

    /// Delete an issue, as a Jira administrator would: from then on its key is unknown (issue
    /// GET answers 404, a search naming it 400).
    ///
    /// # Panics
    /// If there is no such issue.
    pub fn delete_issue(&self, key: &str) {
        assert!(
            self.shared.delete_issue(key),
            "JiraServer::delete_issue: no issue {key}"
        );
    }

    /// Move an issue to another project as `user`: it gets the project's next number (the new
    /// key is returned), its changelog records the move, and its old key still finds it.
    ///
    /// # Panics
    /// If there is no such issue.
    pub fn move_issue(&self, key: &str, project: &str, user: &str) -> String {
        self.shared
            .move_issue(key, project, Some(user))
            .unwrap_or_else(|| panic!("JiraServer::move_issue: no issue {key}"))
    }

    /// Add (or replace, by key) issues, in the seed format of [`JiraServer::start`].
    ///
    /// # Panics
    /// If a seed issue is invalid.
    pub fn add_issues(&self, issues: Vec<Value>) {
        if let Err(e) = self.shared.add_seeds(issues) {
            panic!("JiraServer::add_issues: {e}");
        }
    }

    /// The remote links of an issue (by key, any case), as posted with their ids.
    pub fn remote_links(&self, key: &str) -> Vec<serde_json::Value> {
        self.shared
            .store()
            .remote_links
            .get(&key.to_uppercase())
            .cloned()
            .unwrap_or_default()
    }

    /// The current state of an issue (by key, any case).
    pub fn issue(&self, key: &str) -> Option<IssueView> {
        self.shared.view(key)
    }

    /// Stop serving and wait for the server thread (also done on drop).
    pub fn shutdown(self) {
        drop(self);
    }
}

/// Build a seed issue: `key`, `summary`, status `Open`, and label changes as
/// `(time, user name, full label set after the change)`, oldest first (the seed lists them
/// newest first, as Jira embeds them). The issue's labels are
/// the last set; `created` is the first change's time (else 2026-01-01T00:00:00Z) and `updated`
/// the last one's. History ids are left for the server to assign; authors are given by name and
/// resolved by the server (configured users by name, anyone else as a new person).
pub fn seed_issue(key: &str, summary: &str, changes: &[(DateTime<Utc>, &str, &[&str])]) -> Value {
    let fallback = DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default();
    let created = changes.first().map(|c| c.0).unwrap_or(fallback);
    let updated = changes.last().map(|c| c.0).unwrap_or(created);
    let mut before: Vec<&str> = Vec::new();
    let mut histories = Vec::with_capacity(changes.len());
    for (at, user, after) in changes {
        histories.push(json!({
            "author": {"name": user},
            "created": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "items": [{
                "field": "labels",
                "fieldtype": "jira",
                "fieldId": "labels",
                "from": null,
                "fromString": before.join(" "),
                "to": null,
                "toString": after.join(" "),
            }],
        }));
        before = after.to_vec();
    }
    // Newest first, as Jira embeds them.
    histories.reverse();
    json!({
        "key": key,
        "fields": {
            "summary": summary,
            "status": {"name": "Open"},
            "labels": before,
            "created": created.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "updated": updated.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "components": [],
        },
        "changelog": {"histories": histories},
    })
}

/// Read seed issues from a JSON document: an array of issues, a search page
/// `{"issues": [...]}`, or one issue.
pub fn seed_issues_from_json(doc: Value) -> Result<Vec<Value>, String> {
    model::seed_list(doc)
}
