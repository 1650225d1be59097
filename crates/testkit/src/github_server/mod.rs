//! A GitHub-compatible HTTP server for tests, benchmarks and demos, over real TCP.
//!
//! It plays api.github.com for what a backport tracker needs, following
//! `docs/tracker-apis.md` ("GitHub (octocrab)") and serving complete objects shaped like the real
//! captures in `fixtures/github` (users with every `*_url`, labels with
//! `id,node_id,url,name,description,color,default`, …), so that octocrab's models deserialize
//! them:
//!
//! - auth by `Authorization: Bearer TOKEN`, `token TOKEN` (or Basic with the token as password);
//!   401 `Bad credentials` / `Requires authentication` otherwise; `GET /user`;
//! - `GET /repos/{o}/{r}/issues` with `state`, `labels` (AND), `since` (on `updated_at`), `sort`,
//!   `direction`, `per_page` (default 30, max 100) and `page`; pull requests appear with a
//!   `pull_request` key; a `Link` header with absolute URLs at the server's own address;
//! - one issue, its timeline (`labeled`/`unlabeled`, `commented`, `merged`, `closed`, seeded
//!   events verbatim) and its issue events, all paginated;
//! - label writes (`POST`/`PUT`/`DELETE …/labels`, `DELETE …/labels/{name}` with a
//!   percent-encoded name, 404 `Label does not exist`), recorded as timeline events by the
//!   authenticated user at the server clock, bumping `updated_at`;
//! - `GET /search/issues` with `q` (terms, `"phrases"`, `repo:`, `in:comments`, `updated:>=`,
//!   …; see `search`), `sort`, `order` and paging, at most 1,000 results, as GitHub serves them;
//! - comments (list, create, `DELETE …/issues/comments/{id}`); pull requests (`merged`, `merge_commit_sha`, `head.ref`,
//!   `base.ref`, …) and their commits; `GET /repos/{o}/{r}`; `GET /rate_limit`;
//! - a git remote per hosted repository ([`GithubServer::host_git`]): git's smart HTTP
//!   protocol at `/{o}/{r}.git` (its `clone_url`) through `git http-backend`, pushes with basic
//!   auth whose password is a token, outside the API's rate limit; in a hosted repository a pull
//!   request needs its head branch (422 otherwise), its `head.sha` is the branch tip, and
//!   merging it makes a real merge commit (405 `Pull Request is not mergeable` on a conflict);
//! - the same routes under `/api/v3` (GitHub Enterprise style) and `/repositories/{id}/…`;
//! - rate limits: every API response carries `x-ratelimit-limit`, `-remaining`, `-reset` (epoch
//!   seconds), `-used` and `-resource: core`; each token has a budget per window and gets 403
//!   `API rate limit exceeded for user ID …` with `x-ratelimit-remaining: 0` when it is spent,
//!   until the window resets (real time, not the test clock);
//! - injected faults ([`Fault`]): a primary rate limit (403), a secondary one (429 or 403 with
//!   `retry-after`), any status with a GitHub JSON, HTML (a proxy page, without rate-limit
//!   headers) or text body, slow answers, and requests that hang until the server stops.
//!
//! Tests drive it in process ([`GithubServer::add_fault`], [`GithubServer::edit_labels_as`],
//! [`GithubServer::set_now`], …); the standalone runner (`examples/github_server.rs`) exposes the
//! same controls over HTTP under `/_test/` (no auth, not logged, never faulted):
//!
//! | request | effect |
//! |---|---|
//! | `POST /_test/faults` with a [`FaultRule`] as JSON | add a fault rule |
//! | `DELETE /_test/faults` | remove all fault rules |
//! | `POST /_test/clock` `{"now": "RFC 3339" \| null}` | fix the clock / use real time |
//! | `POST /_test/edit` `{"repo", "number", "user", "add": [], "remove": []}` | a human label edit |
//! | `POST /_test/issues` with seed issues (array or `{"issues": [...]}`) | add or replace issues |
//! | `DELETE /_test/ratelimit` | give every token its full budget again |
//! | `GET /_test/requests` | the request log as JSON |
//!
//! # Seed format
//! A seed issue is an issue object as the issues API serves it (only `number` is required),
//! with the repository given by `"repository": "owner/name"` or by `repository_url`, plus:
//! - `"timeline"`: events as the timeline API serves them, oldest first. `labeled` / `unlabeled`
//!   (`actor.login`, `created_at`, `label.name`, `label.color`), `commented` (`user` or `actor`,
//!   `body`, `created_at`), `merged` (`commit_id`) and `closed` are understood; anything else is
//!   served verbatim. Without `"labels"`, the issue's labels are the replay of these events.
//!   As on GitHub, a merged pull request's timeline has a `merged` event and a closed issue's a
//!   `closed` one: the server adds them when the seed leaves them out.
//! - `"pull"`: for a pull request, an object as the pulls API serves it (`head.ref`, `base.ref`,
//!   `merge_commit_sha`, `merged_at` or `merged`, `merged_by`); a `pull_request` key alone also
//!   makes a pull request.
//! - `"commits"`: the pull request's commits as `…/pulls/{n}/commits` serves them (`sha`,
//!   `commit.message`, `author.login`, `commit.author.date`, `parents`).
//!
//! [`seed_issue`] builds such a value.

mod git_http;
mod handlers;
mod model;
mod render;
mod search;

#[cfg(test)]
mod git_tests;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use model::{EditError, Kind, Store};

/// An account the server knows, authenticating with its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The login (`portcullis-bot`).
    pub login: String,
    /// The numeric user id (appears in rate-limit messages).
    pub id: u64,
    /// The display name, served by `GET /user`.
    pub name: String,
    /// The e-mail address, served by `GET /user`.
    pub email: String,
    /// The personal access token.
    pub token: String,
}

impl Default for User {
    /// The default bot account: `portcullis-bot`, id 90001, token `test-token`.
    fn default() -> Self {
        User {
            login: "portcullis-bot".into(),
            id: 90_001,
            name: "portcullis bot".into(),
            email: "bot@example.org".into(),
            token: "test-token".into(),
        }
    }
}

impl User {
    /// An account with this login and token (id derived from the login, stable).
    pub fn new(login: &str, token: &str) -> User {
        let id = login
            .bytes()
            .fold(90_000u64, |h, b| (h * 31 + u64::from(b)) % 9_000_000)
            + 1_000_000;
        User {
            login: login.to_string(),
            id,
            name: login.to_string(),
            email: format!("{login}@example.org"),
            token: token.to_string(),
        }
    }
}

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct Config {
    /// The accounts that can authenticate (default: one, [`User::default`]).
    pub users: Vec<User>,
    /// Requests per token per window (default 5000, GitHub's budget for a personal token).
    pub rate_limit: u32,
    /// Requests per window without (valid) credentials (default 60).
    pub anonymous_rate_limit: u32,
    /// The rate-limit window (default one hour). Reset times are whole epoch seconds.
    pub rate_window: Duration,
    /// `per_page` when not given (default 30).
    pub default_per_page: usize,
    /// The largest `per_page` honoured (default 100).
    pub max_per_page: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            users: vec![User::default()],
            rate_limit: 5000,
            anonymous_rate_limit: 60,
            rate_window: Duration::from_secs(3600),
            default_per_page: 30,
            max_per_page: 100,
        }
    }
}

/// A fault to inject instead of (or before) the normal answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Fault {
    /// The primary rate limit: 403 with `x-ratelimit-remaining: 0`, `x-ratelimit-reset` =
    /// now + `reset_secs` and `API rate limit exceeded for user ID …`.
    #[serde(alias = "rate_limit")]
    RateLimit {
        /// Seconds until the advertised reset.
        #[serde(default = "sixty")]
        reset_secs: u64,
    },
    /// A secondary rate limit: `status` (429, or 403 as GitHub also does) with `retry-after`
    /// and `You have exceeded a secondary rate limit`; the primary budget is untouched.
    #[serde(alias = "secondary_rate_limit")]
    SecondaryRateLimit {
        /// 429 or 403.
        #[serde(default = "too_many")]
        status: u16,
        /// The `retry-after` header, in seconds.
        retry_after_secs: u64,
    },
    /// Any status with the given body.
    #[serde(alias = "status")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The body.
        body: FaultBody,
    },
    /// Wait, then answer normally.
    #[serde(alias = "slow")]
    Slow {
        /// How long to wait.
        millis: u64,
    },
    /// Never answer (until the server stops): for client timeouts.
    #[serde(alias = "hang")]
    Hang,
}

fn sixty() -> u64 {
    60
}

fn too_many() -> u16 {
    429
}

/// The body of a [`Fault::Status`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "text")]
pub enum FaultBody {
    /// GitHub's `{"message": text, "documentation_url": …, "status": "…"}`.
    #[serde(alias = "github_json", alias = "json")]
    GithubJson(String),
    /// A front end's HTML error page (`text/html`, no rate-limit headers), as a 502 comes.
    #[serde(alias = "html")]
    Html,
    /// Plain text.
    #[serde(alias = "text")]
    Text(String),
}

/// Inject `fault` into the next `times` requests whose method matches (any when `None`,
/// case-insensitive) and whose path (and query) starts with `path_prefix` (`/api/v3` removed).
/// Rules are checked in the order they were added; a rule expires when used up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRule {
    /// `/repos/o/r/issues` matches the list and every issue below it; `/` matches everything.
    pub path_prefix: String,
    /// `GET`, `POST`, … (any when `None`).
    #[serde(default)]
    pub method: Option<String>,
    /// How many requests to fault (default 1; 0 never applies).
    #[serde(default = "one")]
    pub times: u32,
    /// What to do.
    pub fault: Fault,
}

fn one() -> u32 {
    1
}

impl FaultRule {
    /// Fault the next `times` requests of any method under `path_prefix`.
    pub fn new(path_prefix: &str, times: u32, fault: Fault) -> FaultRule {
        FaultRule {
            path_prefix: path_prefix.to_string(),
            method: None,
            times,
            fault,
        }
    }
}

/// One request the server received (control requests under `/_test/` excepted).
#[derive(Debug, Clone)]
pub struct RequestRecord {
    /// `GET`, `POST`, …
    pub method: String,
    /// As received (with any `/api/v3` prefix).
    pub path_and_query: String,
    /// The body, lossily decoded.
    pub body: String,
    /// When it arrived.
    pub at: Instant,
    /// The status answered; 0 while unanswered (a hanging request).
    pub status: u16,
    /// The authenticated user's login.
    pub login: Option<String>,
}

/// A `labeled` or `unlabeled` event, as a test sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelEvent {
    /// When (server clock, whole seconds).
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: String,
    /// `true` for `labeled`.
    pub added: bool,
    /// The label name.
    pub label: String,
}

/// What a test can check about an issue or pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueView {
    /// `owner/name`.
    pub repo: String,
    /// The number.
    pub number: u64,
    /// The title.
    pub title: String,
    /// Whether it is a pull request.
    pub is_pr: bool,
    /// `open` or `closed`.
    pub state: String,
    /// Current labels, in the order they were added.
    pub labels: Vec<String>,
    /// Comment bodies, oldest first.
    pub comments: Vec<String>,
    /// Label events, oldest first.
    pub label_events: Vec<LabelEvent>,
    /// The last update.
    pub updated_at: DateTime<Utc>,
}

/// A rate-limit bucket: one per token, and one for anonymous requests.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    used: u32,
    /// Epoch seconds.
    reset: u64,
}

/// The rate-limit state of one request, for its headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RateState {
    pub limit: u32,
    pub used: u32,
    pub remaining: u32,
    /// Epoch seconds.
    pub reset: u64,
    /// The request was refused for want of budget.
    pub exceeded: bool,
}

/// Who is asking: the API's handlers and the git remote's authenticate the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Auth {
    /// A configured user (index).
    User(usize),
    /// No credentials.
    Anonymous,
    /// Credentials that match nobody.
    Failed,
}

/// State shared by the handlers and the [`GithubServer`] handle.
pub(crate) struct Shared {
    pub config: Config,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    store: Mutex<Store>,
    faults: Mutex<Vec<FaultRule>>,
    requests: Mutex<Requests>,
    clock: Mutex<Option<DateTime<Utc>>>,
    buckets: Mutex<HashMap<String, Bucket>>,
    request_ids: AtomicU64,
    /// Hosted git repositories: bare repository paths by lower-cased `owner/name`.
    git: Mutex<HashMap<String, std::path::PathBuf>>,
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

fn epoch_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Shared {
    pub fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    /// The server's clock (fixed by `set_now`, else real time), in whole seconds as GitHub
    /// reports times.
    pub fn now(&self) -> DateTime<Utc> {
        let now = lock(&self.clock).unwrap_or_else(Utc::now);
        DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now)
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
                && path_and_query.starts_with(r.path_prefix.as_str())
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

    /// A fresh `x-github-request-id`.
    pub fn request_id(&self) -> String {
        let n = self.request_ids.fetch_add(1, Ordering::Relaxed);
        format!(
            "C0DE:{:04X}:{:06X}:{:07X}:{:08X}",
            n % 0xFFFF,
            n,
            n * 7,
            n * 13
        )
    }

    /// Look at (and with `consume`, spend one request of) the budget of `key` (a token, or
    /// `""` for anonymous requests).
    pub fn rate(&self, key: &str, limit: u32, consume: bool) -> RateState {
        let now_ms = epoch_millis();
        let window_ms = u64::try_from(self.config.rate_window.as_millis()).unwrap_or(u64::MAX);
        let fresh = || Bucket {
            used: 0,
            reset: now_ms.saturating_add(window_ms).div_ceil(1000),
        };
        let mut buckets = lock(&self.buckets);
        let b = buckets.entry(key.to_string()).or_insert_with(fresh);
        if now_ms >= b.reset.saturating_mul(1000) {
            *b = fresh();
        }
        let exceeded = consume && b.used >= limit;
        if consume && !exceeded {
            b.used += 1;
        }
        RateState {
            limit,
            used: b.used.min(limit),
            remaining: limit.saturating_sub(b.used),
            reset: b.reset,
            exceeded,
        }
    }

    /// The bare repository hosted for `owner/name`, if any.
    pub fn hosted(&self, repo: &str) -> Option<std::path::PathBuf> {
        lock(&self.git).get(&repo.to_ascii_lowercase()).cloned()
    }

    fn reset_rate_limits(&self) {
        lock(&self.buckets).clear();
    }

    /// Add or replace seed issues.
    pub fn add_seeds(&self, seeds: &[Value]) -> Result<usize, String> {
        let now = self.now();
        self.store().add_seeds(seeds, now)
    }

    /// A human label edit by `login` at the server clock. Errors: no such issue.
    pub fn edit_as(
        &self,
        login: &str,
        repo: &str,
        number: u64,
        add: &[String],
        remove: &[String],
    ) -> Result<bool, String> {
        let now = self.now();
        let mut store = self.store();
        let actor = store.person(login);
        store
            .edit_labels(
                repo,
                number,
                model::LabelEdit {
                    add,
                    remove,
                    strict: false,
                },
                actor,
                now,
            )
            .map_err(|e| match e {
                EditError::NoIssue => format!("no issue {repo}#{number}"),
                EditError::NoLabel => "no such label".to_string(),
            })
    }

    fn view(&self, repo: &str, number: u64) -> Option<IssueView> {
        let store = self.store();
        let r = store.repo(repo)?;
        let i = r.issues.get(&number)?;
        let mut entries: Vec<&model::Entry> = i.entries.iter().collect();
        entries.sort_by_key(|e| e.at);
        Some(IssueView {
            repo: r.full_name(),
            number,
            title: i.title.clone(),
            is_pr: i.pull.is_some(),
            state: i.state.clone(),
            labels: i.labels.clone(),
            comments: entries
                .iter()
                .filter_map(|e| match &e.kind {
                    Kind::Comment { body, .. } => Some(body.clone()),
                    _ => None,
                })
                .collect(),
            label_events: entries
                .iter()
                .filter_map(|e| match &e.kind {
                    Kind::Label { added, name, .. } => Some(LabelEvent {
                        at: e.at,
                        actor: e.actor.login.clone(),
                        added: *added,
                        label: name.clone(),
                    }),
                    _ => None,
                })
                .collect(),
            updated_at: i.updated_at,
        })
    }
}

/// A running test server. Stops on [`GithubServer::shutdown`] or when dropped.
pub struct GithubServer {
    shared: Arc<Shared>,
    url: String,
    /// Stops the server when dropped.
    _serving: crate::serve::Background,
}

impl std::fmt::Debug for GithubServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubServer")
            .field("url", &self.url)
            .finish()
    }
}

impl GithubServer {
    /// Bind `127.0.0.1:port` (0 = any free port), seed the issues (see the module
    /// documentation for the format), and serve on a background thread running its own tokio
    /// runtime. Returns once the server is listening.
    ///
    /// Errors: the port cannot be bound, or a seed issue is invalid (`InvalidData`, with the
    /// reason).
    pub fn start(config: Config, seeds: Vec<Value>, port: u16) -> std::io::Result<GithubServer> {
        use std::io::{Error, ErrorKind};
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
        let port = listener.local_addr()?.port();
        let base = format!("http://127.0.0.1:{port}");
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::new(&config.users)),
            config,
            base: base.clone(),
            faults: Mutex::default(),
            requests: Mutex::default(),
            clock: Mutex::default(),
            buckets: Mutex::default(),
            request_ids: AtomicU64::new(1),
            git: Mutex::default(),
        });
        shared
            .add_seeds(&seeds)
            .map_err(|e| Error::new(ErrorKind::InvalidData, e))?;

        let state = shared.clone();
        let serving = crate::serve::Background::start(
            "github-test-server",
            listener,
            move |listener| async move {
                let app = axum::Router::new()
                    .fallback(handlers::handle)
                    .with_state(state);
                let _ = axum::serve(listener, app).await;
            },
        )?;
        Ok(GithubServer {
            shared,
            url: base,
            _serving: serving,
        })
    }

    /// `http://127.0.0.1:PORT` (no trailing slash): the base URI to give the client.
    pub fn url(&self) -> String {
        self.url.clone()
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

    /// Fix the clock used for new events, comments and `updated_at`; `None` returns to real
    /// time. (Rate-limit windows always use real time.)
    pub fn set_now(&self, now: Option<DateTime<Utc>>) {
        self.shared.set_now(now);
    }

    /// Give every token its full rate-limit budget again.
    pub fn reset_rate_limits(&self) {
        self.shared.reset_rate_limits();
    }

    /// Simulate a human editing labels in the web UI: `user` (any login) adds and removes
    /// labels on `repo`#`number` at the server clock, recording `labeled` / `unlabeled` events
    /// and bumping `updated_at` if anything changes. Labels new to the repository are created.
    ///
    /// # Panics
    /// If there is no such issue.
    pub fn edit_labels_as(
        &self,
        user: &str,
        repo: &str,
        number: u64,
        add: &[&str],
        remove: &[&str],
    ) {
        let add: Vec<String> = add.iter().map(|s| s.to_string()).collect();
        let remove: Vec<String> = remove.iter().map(|s| s.to_string()).collect();
        if let Err(e) = self.shared.edit_as(user, repo, number, &add, &remove) {
            panic!("GithubServer::edit_labels_as: {e}");
        }
    }

    /// Add (or replace, by repository and number) issues, in the seed format of
    /// [`GithubServer::start`].
    ///
    /// # Panics
    /// If a seed issue is invalid.
    pub fn add_issues(&self, seeds: Vec<Value>) {
        if let Err(e) = self.shared.add_seeds(&seeds) {
            panic!("GithubServer::add_issues: {e}");
        }
    }

    /// Set the check state (`pending`, `success`, `failure`, `error`) that
    /// `GET /repos/{repo}/commits/{reference}/status` reports for a branch or commit.
    ///
    /// # Panics
    /// If there is no such repository.
    pub fn set_check(&self, repo: &str, reference: &str, state: &str) {
        let mut store = self.shared.store();
        let r = store
            .repo_mut(repo)
            .unwrap_or_else(|| panic!("GithubServer::set_check: no repository {repo}"));
        r.checks.insert(reference.to_string(), state.to_string());
    }

    /// Host the bare repository `bare` (created when missing) as the git remote of `repo`
    /// (`owner/name`, created on the server if new): served over this server's port with git's
    /// smart HTTP protocol at [`GithubServer::git_url`], the repository's `clone_url`. Pushes
    /// need basic auth with a user's token as the password; pull requests in `repo` must name a
    /// branch it has, and merging one makes a real merge commit in it.
    ///
    /// # Panics
    /// If `bare` is not a bare repository (and cannot be created), or `repo` is not
    /// `owner/name`.
    pub fn host_git(&self, repo: &str, bare: &std::path::Path) -> String {
        self.try_host_git(repo, bare)
            .unwrap_or_else(|e| panic!("GithubServer::host_git: {e}"))
    }

    /// [`GithubServer::host_git`], with the reason it could not instead of a panic.
    pub fn try_host_git(&self, repo: &str, bare: &std::path::Path) -> Result<String, String> {
        let path = git_http::prepare(bare)?;
        let now = self.shared.now();
        self.shared.store().ensure_repo(repo, now)?;
        lock(&self.shared.git).insert(repo.to_ascii_lowercase(), path);
        Ok(self.git_url(repo))
    }

    /// `http://127.0.0.1:PORT/owner/name.git`: where git clones and pushes `repo`.
    pub fn git_url(&self, repo: &str) -> String {
        format!("{}/{repo}.git", self.url)
    }

    /// The current state of `repo`#`number` (repository name in any case).
    pub fn issue(&self, repo: &str, number: u64) -> Option<IssueView> {
        self.shared.view(repo, number)
    }

    /// Stop serving and wait for the server thread (also done on drop).
    pub fn shutdown(self) {
        drop(self);
    }
}

/// One commit of a [`PrSeed`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommitSeed {
    /// The commit id (40 hex digits).
    pub sha: String,
    /// The commit message.
    pub message: String,
}

impl CommitSeed {
    /// A commit with this id and message.
    pub fn new(sha: &str, message: &str) -> CommitSeed {
        CommitSeed {
            sha: sha.to_string(),
            message: message.to_string(),
        }
    }
}

/// The pull-request side of a [`seed_issue`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PrSeed {
    /// With a merge commit the pull request is merged (and closed), at `merged_at` or else at
    /// its last label change; without, it is open.
    pub merge_commit_sha: Option<String>,
    /// The source branch (default `pr-{number}`).
    pub head_ref: String,
    /// The target branch (default `main`).
    pub base_ref: String,
    /// The commits, oldest first (each the parent of the next).
    pub commits: Vec<CommitSeed>,
    /// When it was merged (see `merge_commit_sha`).
    pub merged_at: Option<DateTime<Utc>>,
}

/// Build a seed issue (or pull request, with `pr`) in `repo` (`owner/name`): label changes as
/// `(time, actor login, "labeled" | "unlabeled", label)`, oldest first. The author is the first
/// actor (else `octocat`); `created_at` is the first change's time (else 2026-01-01T00:00:00Z),
/// `updated_at` the last one's (or the merge's); the labels are the replay of the changes. A
/// merged pull request also gets `merged` and `closed` events by its author.
pub fn seed_issue(
    repo: &str,
    number: u64,
    title: &str,
    labels_history: &[(DateTime<Utc>, &str, &str, &str)],
    pr: Option<PrSeed>,
) -> Value {
    let fallback = DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default();
    let created = labels_history.first().map_or(fallback, |c| c.0);
    let mut updated = labels_history.last().map_or(created, |c| c.0);
    let author = labels_history.first().map_or("octocat", |c| c.1);
    let time = |t: DateTime<Utc>| model::fmt_time(t);
    let mut timeline: Vec<Value> = labels_history
        .iter()
        .map(|(at, actor, event, label)| {
            json!({
                "event": event,
                "actor": {"login": actor},
                "created_at": time(*at),
                "label": {"name": label, "color": model::default_color(label)},
            })
        })
        .collect();
    let mut v = json!({
        "repository": repo,
        "number": number,
        "title": title,
        "body": null,
        "user": {"login": author},
        "created_at": time(created),
    });
    if let (Some(pr), Some(o)) = (pr, v.as_object_mut()) {
        let merged_at = pr
            .merge_commit_sha
            .as_ref()
            .map(|_| pr.merged_at.unwrap_or(updated));
        if let Some(m) = merged_at {
            updated = updated.max(m);
            timeline.push(json!({
                "event": "merged",
                "actor": {"login": author},
                "created_at": time(m),
                "commit_id": pr.merge_commit_sha,
            }));
            timeline.push(json!({
                "event": "closed",
                "actor": {"login": author},
                "created_at": time(m),
            }));
            o.insert("state".into(), json!("closed"));
            o.insert("closed_at".into(), json!(time(m)));
        }
        let or = |s: String, d: String| if s.is_empty() { d } else { s };
        o.insert(
            "pull".into(),
            json!({
                "head": {"ref": or(pr.head_ref, format!("pr-{number}"))},
                "base": {"ref": or(pr.base_ref, "main".to_string())},
                "merge_commit_sha": pr.merge_commit_sha,
                "merged_at": merged_at.map(time),
                "merged": merged_at.is_some(),
            }),
        );
        o.insert(
            "commits".into(),
            pr.commits
                .iter()
                .map(|c| json!({"sha": c.sha, "commit": {"message": c.message}, "author": {"login": author}}))
                .collect(),
        );
    }
    if let Some(o) = v.as_object_mut() {
        o.insert("updated_at".into(), json!(time(updated)));
        o.insert("timeline".into(), Value::Array(timeline));
    }
    v
}

/// Read seed issues from a JSON document: an array of issues, `{"issues": [...]}`, or one
/// issue.
pub fn seed_issues_from_json(doc: Value) -> Result<Vec<Value>, String> {
    model::seed_list(doc)
}
