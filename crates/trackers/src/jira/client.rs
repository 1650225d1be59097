//! The Jira REST client, for Cloud and Data Center (reqwest + tokio).
//!
//! What it honours (see `../shared/docs/tracker-apis.md`):
//! - Cloud searches `POST /rest/api/3/search/jql` and follows `nextPageToken` until `isLast` or
//!   the token is absent; a short page is not the last one. Data Center searches
//!   `POST /rest/api/2/search` and advances `startAt` by what the page held, never by the page
//!   size it asked for.
//! - Truncated embedded changelogs are completed: Cloud pages `/issue/{key}/changelog`, Data Center
//!   reads the issue with `expand=changelog`.
//! - Cloud authenticates with Basic `email:token`, Data Center with `Bearer <PAT>`; `/myself` is
//!   checked first, and `X-Seraph-LoginReason: AUTHENTICATED_FAILED` is a failed login.
//! - 429/503 wait for `Retry-After` or `X-RateLimit-Reset`; timeouts, dropped connections, 5xx
//!   and malformed bodies are retried with jittered exponential backoff, a bounded number of
//!   times; 400/401/403/404/410 and HTML pages become errors that say what to do.
//!
//! Secrets: the token is only ever put in a header marked sensitive; no message quotes it.

use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::wire::{Changelog, History, JiraIssue, SearchPage, User};
use crate::credentials::JiraCredentials;
use crate::{Error, Result};
use portcullis_core::secret::Secret;

/// Which Jira deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    /// Jira Cloud: `search/jql` with page tokens, Basic `email:token`, `accountId` users.
    Cloud,
    /// Jira Data Center / Server: `search` with `startAt`/`total`, Bearer tokens, `name` users.
    #[serde(
        rename = "datacenter",
        alias = "server",
        alias = "dc",
        alias = "data_center"
    )]
    DataCenter,
}

impl Flavor {
    pub fn as_str(self) -> &'static str {
        match self {
            Flavor::Cloud => "cloud",
            Flavor::DataCenter => "datacenter",
        }
    }
    pub fn parse(s: &str) -> Option<Flavor> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cloud" => Some(Flavor::Cloud),
            "datacenter" | "data-center" | "dc" | "server" => Some(Flavor::DataCenter),
            _ => None,
        }
    }
}

impl std::fmt::Display for Flavor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The fields every search asks for (Cloud returns only `id` unless told).
pub const FIELDS: &[&str] = &[
    "summary",
    "status",
    "labels",
    "fixVersions",
    "updated",
    "created",
    "assignee",
    "reporter",
    "components",
    "issuelinks",
];

/// How the client retries and waits.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub timeout: Duration,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The first backoff; doubles on each retry, with jitter, up to `max_backoff`.
    pub base_delay: Duration,
    pub max_backoff: Duration,
    /// A rate limit asking for a longer wait than this is an error, not a wait.
    pub max_wait: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(60),
            max_retries: 6,
            base_delay: Duration::from_millis(250),
            max_backoff: Duration::from_secs(30),
            max_wait: Duration::from_secs(300),
        }
    }
}

#[derive(Clone)]
enum Auth {
    None,
    Basic { email: String, token: Secret },
    Bearer(Secret),
}

pub use crate::tracker::Account;

/// A search request position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageRequest {
    First,
    Token(String),
    StartAt(u64),
}

/// One search page, with its changelogs completed.
#[derive(Debug)]
pub struct Page {
    pub issues: Vec<JiraIssue>,
    pub next: Option<PageRequest>,
    /// Data Center's `total` (Cloud has none).
    pub total: Option<u64>,
    /// Extra requests made to complete truncated changelogs.
    pub changelog_requests: u64,
    pub warnings: Vec<String>,
}

/// One label operation of an edit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum LabelOp {
    Add(String),
    Remove(String),
}

/// A failed call, with what callers decide on: the HTTP status of a refusal, and whether Jira
/// said the login was rejected. Becomes an [`Error`] everywhere else.
struct Failure {
    error: Error,
    status: Option<u16>,
    login_rejected: bool,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        Failure {
            error,
            status: None,
            login_rejected: false,
        }
    }
}

/// Return a plain error from a call.
fn bail<T>(e: Error) -> Result<T, Failure> {
    Err(e.into())
}

impl From<Failure> for Error {
    fn from(f: Failure) -> Error {
        f.error
    }
}

/// A Jira client. Cheap to clone (one connection pool).
#[derive(Clone)]
pub struct JiraClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    shown: String,
    flavor: Flavor,
    auth: Auth,
    opts: ClientOptions,
}

impl std::fmt::Debug for JiraClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JiraClient")
            .field("base", &self.inner.shown)
            .field("flavor", &self.inner.flavor)
            .finish_non_exhaustive()
    }
}

/// Parse and check the configured site address: http(s), no credentials in it.
pub fn parse_base_url(url: &str) -> Result<Url> {
    let mut u = Url::parse(url.trim()).map_err(|e| {
        Error::input(format!("the Jira address is not a URL ({e})"))
            .hint("set jira.url in portcullis.toml to e.g. https://example.atlassian.net")
    })?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(Error::input(format!(
            "the Jira address must be http or https, not `{}`",
            u.scheme()
        )));
    }
    if !u.username().is_empty() || u.password().is_some() {
        // Do not echo the address: it holds a secret.
        return Err(Error::input("the Jira address contains credentials")
            .hint("remove them from the URL; put the token in PORTCULLIS_JIRA_TOKEN or the credentials file"));
    }
    u.set_query(None);
    u.set_fragment(None);
    if !u.path().ends_with('/') {
        let p = format!("{}/", u.path());
        u.set_path(&p);
    }
    Ok(u)
}

fn http_client(opts: &ClientOptions) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(opts.timeout)
        .connect_timeout(opts.timeout.min(Duration::from_secs(20)))
        .user_agent(concat!("portcullis/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::internal(format!("cannot set up HTTP: {e}")))
}

impl JiraClient {
    /// Connect: find the flavor (when not given), set up auth, check the login with `/myself`.
    pub async fn connect(
        url: &str,
        flavor: Option<Flavor>,
        creds: Option<JiraCredentials>,
        opts: ClientOptions,
    ) -> Result<(JiraClient, Option<Account>)> {
        let base = parse_base_url(url)?;
        let shown = base.as_str().trim_end_matches('/').to_string();
        let http = http_client(&opts)?;
        let mut client = JiraClient {
            inner: Arc::new(Inner {
                http,
                base,
                shown,
                flavor: flavor.unwrap_or(Flavor::DataCenter),
                auth: Auth::None,
                opts,
            }),
        };
        let flavor = match flavor {
            Some(f) => f,
            None => client.detect_flavor().await?,
        };
        let auth = match (&creds, flavor) {
            (None, _) => Auth::None,
            (Some(c), Flavor::Cloud) => match &c.email {
                Some(email) => Auth::Basic {
                    email: email.clone(),
                    token: c.token.clone(),
                },
                None => {
                    return Err(Error::input(
                        "Jira Cloud needs the account's email with the API token (Basic auth is email:token)",
                    )
                    .hint("set PORTCULLIS_JIRA_EMAIL, or `email` in the [jira] table of the credentials file"))
                }
            },
            (Some(c), Flavor::DataCenter) => Auth::Bearer(c.token.clone()),
        };
        let inner = Arc::get_mut(&mut client.inner)
            .ok_or_else(|| Error::internal("client shared too early"))?;
        inner.flavor = flavor;
        inner.auth = auth;
        let account = match &creds {
            Some(c) => Some(client.myself(&c.origin).await?),
            None => None,
        };
        Ok((client, account))
    }

    pub fn flavor(&self) -> Flavor {
        self.inner.flavor
    }

    /// The site address, for messages and source names (never holds a secret).
    pub fn site(&self) -> &str {
        &self.inner.shown
    }

    async fn detect_flavor(&self) -> Result<Flavor> {
        // serverInfo needs no login; asking anonymously also works when the login is wrong.
        let info: Value = self
            .call_as(false, Method::GET, &["rest", "api", "2", "serverInfo"], &[], None, "reading serverInfo")
            .await
            .map_err(|e| {
                let e = Error::from(e);
                let hint = "set `flavor = \"cloud\"` or `\"datacenter\"` in the [jira] table to skip the detection";
                e.hint(hint)
            })?;
        let kind = info
            .get("deploymentType")
            .and_then(Value::as_str)
            .unwrap_or("");
        Ok(if kind.eq_ignore_ascii_case("cloud") {
            Flavor::Cloud
        } else {
            Flavor::DataCenter
        })
    }

    async fn myself(&self, origin: &str) -> Result<Account> {
        let answer: Result<User, Failure> = self
            .call_as(
                true,
                Method::GET,
                &["rest", "api", "2", "myself"],
                &[],
                None,
                "checking the credentials",
            )
            .await;
        let user = match answer {
            Ok(u) => u,
            Err(f) if f.status == Some(401) || f.login_rejected => {
                // A flavor mismatch looks like bad credentials (Basic vs Bearer): say which it is.
                if let Ok(actual) = self.detect_flavor().await {
                    if actual != self.flavor() {
                        return Err(Error::input(format!(
                            "Jira at {} is Jira {}, but portcullis was told it is {}: the login failed",
                            self.site(),
                            if actual == Flavor::Cloud { "Cloud" } else { "Data Center" },
                            self.flavor()
                        ))
                        .hint(format!("set `flavor = \"{actual}\"` in the [jira] table (or drop it to detect it)")));
                    }
                }
                if f.login_rejected {
                    return Err(f.error);
                }
                return Err(Error::input(format!(
                    "Jira at {} did not accept the credentials from {origin}",
                    self.site()
                ))
                .hint(match self.flavor() {
                    Flavor::Cloud => "Jira Cloud takes your account email and an API token (id.atlassian.com → Security → API tokens)",
                    Flavor::DataCenter => "Jira Data Center takes a personal access token (Profile → Personal Access Tokens)",
                }));
            }
            Err(f) => return Err(f.error),
        };
        let id = user.id().ok_or_else(|| {
            Error::input(format!(
                "Jira at {} answered /myself without a user name or account id",
                self.site()
            ))
        })?;
        Ok(Account {
            id,
            display_name: user.display_name,
        })
    }

    /// One search page. Changelogs that the search cut short are completed.
    pub async fn search(&self, jql: &str, at: &PageRequest, page_size: u32) -> Result<Page> {
        let mut warnings = Vec::new();
        let (page, next, total): (SearchPage, Option<PageRequest>, Option<u64>) = match self
            .flavor()
        {
            Flavor::Cloud => {
                let mut body = json!({
                    "jql": jql,
                    "maxResults": page_size,
                    "fields": FIELDS,
                    "expand": "changelog",
                });
                if let PageRequest::Token(t) = at {
                    body["nextPageToken"] = json!(t);
                }
                let page: SearchPage = self
                    .call(
                        Method::POST,
                        &["rest", "api", "3", "search", "jql"],
                        &[],
                        Some(body),
                        "searching Jira",
                    )
                    .await?;
                let token = page.next_page_token.clone().filter(|t| !t.is_empty());
                let next = match (page.is_last, token) {
                    (Some(true), _) => None,
                    (_, Some(t)) => {
                        if matches!(at, PageRequest::Token(prev) if *prev == t) {
                            return Err(Error::internal(format!(
                                "Jira at {} returned the same page token twice; stopping to avoid a loop",
                                self.site()
                            )));
                        }
                        Some(PageRequest::Token(t))
                    }
                    (Some(false), None) => {
                        warnings.push(
                            "Jira said more results follow (isLast: false) but sent no nextPageToken; treating this page as the last".to_string(),
                        );
                        None
                    }
                    (None, None) => None,
                };
                (page, next, None)
            }
            Flavor::DataCenter => {
                let start = match at {
                    PageRequest::StartAt(n) => *n,
                    _ => 0,
                };
                let body = json!({
                    "jql": jql,
                    "startAt": start,
                    "maxResults": page_size,
                    "fields": FIELDS,
                    "expand": ["changelog"],
                });
                let page: SearchPage = self
                    .call(
                        Method::POST,
                        &["rest", "api", "2", "search"],
                        &[],
                        Some(body),
                        "searching Jira",
                    )
                    .await?;
                let got = page.issues.len() as u64;
                let from = page.start_at.unwrap_or(start);
                let next_start = from + got;
                let next = match page.total {
                    _ if got == 0 => None,
                    Some(t) if next_start >= t => None,
                    _ => Some(PageRequest::StartAt(next_start)),
                };
                let total = page.total;
                (page, next, total)
            }
        };
        let mut issues = page.issues;
        let changelog_requests = self.complete_changelogs(&mut issues).await?;
        Ok(Page {
            issues,
            next,
            total,
            changelog_requests,
            warnings,
        })
    }

    /// Replace every truncated embedded changelog by the complete one. Returns the requests made.
    async fn complete_changelogs(&self, issues: &mut [JiraIssue]) -> Result<u64> {
        use futures_util::stream::{self, StreamExt, TryStreamExt};
        let truncated: Vec<usize> = issues
            .iter()
            .enumerate()
            .filter(|(_, i)| i.changelog.as_ref().is_some_and(Changelog::is_truncated))
            .map(|(n, _)| n)
            .collect();
        if truncated.is_empty() {
            return Ok(0);
        }
        let keys: Vec<(usize, String)> = truncated
            .into_iter()
            .map(|n| (n, issues[n].key.clone()))
            .collect();
        let fetched: Vec<(usize, Vec<History>, u64)> = stream::iter(keys)
            .map(|(n, key)| async move {
                let (h, reqs) = self.full_changelog(&key).await?;
                Ok::<_, Error>((n, h, reqs))
            })
            .buffer_unordered(8)
            .try_collect()
            .await?;
        let mut requests = 0;
        for (n, histories, reqs) in fetched {
            requests += reqs;
            let total = histories.len() as u64;
            issues[n].changelog = Some(Changelog {
                histories: Some(histories),
                values: None,
                total: Some(total),
                start_at: Some(0),
                max_results: Some(total),
                is_last: Some(true),
            });
        }
        Ok(requests)
    }

    /// An issue's whole changelog, oldest first, and the number of requests it took.
    pub async fn full_changelog(&self, key: &str) -> Result<(Vec<History>, u64)> {
        match self.flavor() {
            Flavor::Cloud => {
                let mut all: Vec<History> = Vec::new();
                let mut requests = 0;
                loop {
                    let start = all.len().to_string();
                    let page: Changelog = self
                        .call(
                            Method::GET,
                            &["rest", "api", "3", "issue", key, "changelog"],
                            &[("startAt", start), ("maxResults", "100".into())],
                            None,
                            "reading a changelog",
                        )
                        .await?;
                    requests += 1;
                    let got = page.entries().len();
                    let total = page.total;
                    let is_last = page.is_last;
                    all.extend(page.values.unwrap_or_default());
                    all.extend(page.histories.unwrap_or_default());
                    let done = got == 0
                        || is_last == Some(true)
                        || total.is_some_and(|t| all.len() as u64 >= t);
                    if done {
                        break;
                    }
                    if requests > 10_000 {
                        return Err(Error::internal(format!(
                            "{key}: the changelog does not end after 10,000 pages"
                        )));
                    }
                }
                Ok((all, requests))
            }
            Flavor::DataCenter => {
                let issue: JiraIssue = self
                    .call(
                        Method::GET,
                        &["rest", "api", "2", "issue", key],
                        &[("fields", "labels".into()), ("expand", "changelog".into())],
                        None,
                        "reading an issue's changelog",
                    )
                    .await?;
                let mut h: Vec<History> = issue
                    .changelog
                    .map(|c| {
                        let mut v = c.histories.unwrap_or_default();
                        v.extend(c.values.unwrap_or_default());
                        v
                    })
                    .unwrap_or_default();
                h.reverse();
                Ok((h, 1))
            }
        }
    }

    /// Read one issue with its labels, comments and (embedded) changelog. `None` if it is gone.
    pub async fn issue_for_push(&self, key: &str) -> Result<Option<Value>> {
        match self
            .call_as::<Value>(
                true,
                Method::GET,
                &["rest", "api", "2", "issue", key],
                &[
                    ("fields", "summary,labels,updated,comment".into()),
                    ("expand", "changelog".into()),
                ],
                None,
                "reading an issue",
            )
            .await
        {
            Ok(v) => Ok(Some(v)),
            Err(f) if f.status == Some(404) => Ok(None),
            Err(f) => Err(f.error),
        }
    }

    /// Every comment body of an issue (plain text), paging when there are many.
    pub async fn comment_bodies(&self, key: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        loop {
            let page: Value = self
                .call(
                    Method::GET,
                    &["rest", "api", "2", "issue", key, "comment"],
                    &[
                        ("startAt", out.len().to_string()),
                        ("maxResults", "100".into()),
                    ],
                    None,
                    "reading comments",
                )
                .await?;
            let comments = page
                .get("comments")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let got = comments.len();
            out.extend(comments.iter().map(comment_text));
            let total = page.get("total").and_then(Value::as_u64).unwrap_or(0);
            if got == 0 || out.len() as u64 >= total {
                return Ok(out);
            }
        }
    }

    /// Add and remove labels (`PUT … {"update":{"labels":[…]}}`, no read-modify-write).
    pub async fn edit_labels(&self, key: &str, ops: &[LabelOp]) -> Result<()> {
        let ops: Vec<Value> = ops
            .iter()
            .map(|op| match op {
                LabelOp::Add(l) => json!({ "add": l }),
                LabelOp::Remove(l) => json!({ "remove": l }),
            })
            .collect();
        self.call::<Value>(
            Method::PUT,
            &["rest", "api", "2", "issue", key],
            &[],
            Some(json!({ "update": { "labels": ops } })),
            "editing labels",
        )
        .await?;
        Ok(())
    }

    /// Add a plain-text comment (`POST /rest/api/2/issue/{key}/comment`). Returns its id.
    pub async fn add_comment(&self, key: &str, body: &str) -> Result<Option<String>> {
        let v: Value = self
            .call(
                Method::POST,
                &["rest", "api", "2", "issue", key, "comment"],
                &[],
                Some(json!({ "body": body })),
                "adding a comment",
            )
            .await?;
        Ok(v.get("id").and_then(Value::as_str).map(str::to_string))
    }

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
    async fn call<T: DeserializeOwned>(
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
    async fn call_as<T: DeserializeOwned>(
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
        let opts = &self.inner.opts;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(7),
        );
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let retries_left = attempt <= opts.max_retries;
            let backoff = {
                let exp = opts
                    .base_delay
                    .saturating_mul(1u32 << (attempt - 1).min(16))
                    .min(opts.max_backoff);
                // "Equal jitter": half fixed, half random.
                exp / 2 + exp.mul_f64(rng.gen_range(0.0..0.5))
            };
            let mut req = self.inner.http.request(method.clone(), url.clone());
            req = match &self.inner.auth {
                _ if !authenticated => req,
                Auth::None => req,
                Auth::Basic { email, token } => req.basic_auth(email, Some(token.expose())),
                Auth::Bearer(token) => req.bearer_auth(token.expose()),
            };
            req = req.header(reqwest::header::ACCEPT, "application/json");
            if let Some(b) = &body {
                req = req.json(b);
            }
            let fail = |msg: String| -> Error { Error::internal(format!("{what}: {msg}")) };
            // The whole answer, body included: a connection dropped mid-body is retried too.
            let answer = async {
                let resp = req.send().await?;
                let status = resp.status();
                let headers = resp.headers().clone();
                Ok::<_, reqwest::Error>((status, headers, resp.bytes().await?))
            }
            .await;
            let (status, headers, bytes) = match answer {
                Ok(a) => a,
                Err(e) => {
                    let why = describe_transport(&e, opts.timeout);
                    if retries_left {
                        tracing::warn!(%path, attempt, error = %why, "Jira request failed; retrying");
                        tokio::time::sleep(backoff).await;
                        continue;
                    }
                    return bail(fail(format!(
                        "no complete answer from Jira at {} ({why}) after {attempt} attempts",
                        self.site()
                    ))
                    .hint(
                        "check the address and the network; run again to continue where it stopped",
                    ));
                }
            };
            tracing::debug!(%method, %path, status = status.as_u16(), attempt, bytes = bytes.len(), "jira");
            if headers
                .get("x-seraph-loginreason")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("AUTHENTICATED_FAILED"))
            {
                return Err(Failure {
                    error: Error::input(format!(
                        "Jira at {} rejected the login credentials (X-Seraph-LoginReason: AUTHENTICATED_FAILED); it would have answered as an anonymous user, with empty results",
                        self.site()
                    ))
                    .hint("check the token (and the email on Cloud); portcullis stops rather than sync an empty project"),
                    status: Some(status.as_u16()),
                    login_rejected: true,
                });
            }
            if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE
            {
                let wait = retry_wait(&headers).unwrap_or(backoff);
                if !retries_left {
                    return bail(
                        fail(format!(
                        "Jira at {} is rate limiting ({}) and still was after {attempt} attempts",
                        self.site(),
                        status.as_u16()
                    ))
                        .hint("wait a few minutes and run again; nothing was lost"),
                    );
                }
                if wait > opts.max_wait {
                    return bail(fail(format!(
                        "Jira at {} asks to wait {}s before the next request ({}), longer than portcullis waits",
                        self.site(),
                        wait.as_secs(),
                        status.as_u16()
                    ))
                    .hint("run again later; nothing was lost"));
                }
                tracing::warn!(%path, attempt, wait_ms = wait.as_millis() as u64, status = status.as_u16(), "Jira rate limit; waiting");
                // A little jitter on top, never less than asked: retrying early earns a longer wait.
                tokio::time::sleep(wait + Duration::from_millis(rng.gen_range(0..100))).await;
                continue;
            }
            if status.is_server_error() {
                if retries_left {
                    tracing::warn!(%path, attempt, status = status.as_u16(), "Jira server error; retrying");
                    tokio::time::sleep(backoff).await;
                    continue;
                }
                return bail(
                    fail(format!(
                        "Jira at {} keeps failing ({}{}) after {attempt} attempts",
                        self.site(),
                        status.as_u16(),
                        error_summary(&headers, &bytes)
                    ))
                    .hint("the Jira server has a problem; try again later, nothing was lost"),
                );
            }
            if !status.is_success() {
                return Err(Failure {
                    error: self.client_error(status, &headers, &bytes, what),
                    status: Some(status.as_u16()),
                    login_rejected: false,
                });
            }
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return serde_json::from_value(Value::Null).map_err(|_| {
                    fail(format!("Jira at {} sent an empty response", self.site())).into()
                });
            }
            if looks_like_html(&headers, &bytes) {
                return bail(fail(format!(
                    "Jira at {} answered with an HTML page ({}), not JSON: a login page, a proxy or the wrong address",
                    self.site(),
                    status.as_u16()
                ))
                .hint("check jira.url (it should be the site root, e.g. https://example.atlassian.net) and the credentials"));
            }
            match serde_json::from_slice::<T>(&bytes) {
                Ok(v) => return Ok(v),
                Err(e) => {
                    let syntax = serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_err();
                    if syntax && retries_left {
                        tracing::warn!(%path, attempt, error = %e, "malformed JSON from Jira; retrying");
                        tokio::time::sleep(backoff).await;
                        continue;
                    }
                    let what_is_wrong = if syntax {
                        "malformed JSON"
                    } else {
                        "JSON of an unexpected shape"
                    };
                    return bail(fail(format!(
                        "Jira at {} sent {what_is_wrong} for {path} (line {}, column {}: {e})",
                        self.site(),
                        e.line(),
                        e.column()
                    ))
                    .hint("if this persists, a proxy may be altering responses; nothing was written for this page"));
                }
            }
        }
    }

    fn client_error(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        what: &str,
    ) -> Error {
        let detail = error_summary(headers, body);
        let site = self.site();
        let code = status.as_u16();
        match code {
            401 => Error::input(format!(
                "{what}: Jira at {site} refused the credentials (401{detail})"
            ))
            .hint("check PORTCULLIS_JIRA_TOKEN (and PORTCULLIS_JIRA_EMAIL on Cloud) or the credentials file"),
            403 => Error::input(format!(
                "{what}: the Jira account has no permission for this (403{detail})"
            ))
            .hint("ask a Jira administrator for browse (and, for push, edit and comment) permission on the project"),
            404 => Error::input(format!("{what}: not found on Jira at {site} (404{detail})"))
                .hint(match self.flavor() {
                    Flavor::Cloud => "check jira.url; if this is Jira Data Center, set `flavor = \"datacenter\"`",
                    Flavor::DataCenter => "check jira.url and the issue key; if this is Jira Cloud, set `flavor = \"cloud\"`",
                }),
            410 => Error::input(format!(
                "{what}: Jira at {site} removed this API (410{detail})"
            ))
            .hint("this is Jira Cloud: set `flavor = \"cloud\"` in the [jira] table so that portcullis uses /rest/api/3/search/jql"),
            400 => Error::input(format!("{what}: Jira at {site} refused the request (400{detail})"))
                .hint("check jira.jql in portcullis.toml and the policy's labels"),
            409 => Error::input(format!("{what}: Jira reported a conflicting update (409{detail})"))
                .hint("run again: portcullis re-reads the ticket first"),
            _ => Error::internal(format!("{what}: Jira at {site} answered {code}{detail}")),
        }
    }
}

fn describe_transport(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        format!("no answer within {}s", timeout.as_secs())
    } else if e.is_connect() {
        "connection failed".to_string()
    } else if e.is_body() || e.is_decode() {
        "the connection closed in the middle of the response".to_string()
    } else {
        "the connection closed before a response".to_string()
    }
}

fn looks_like_html(headers: &HeaderMap, body: &[u8]) -> bool {
    let ct = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    ct.contains("html")
        || body
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b'<')
}

/// `: message` from a Jira error body (`errorMessages`, `errors`), or a short note on what it is.
fn error_summary(headers: &HeaderMap, body: &[u8]) -> String {
    if looks_like_html(headers, body) {
        return ", an HTML page".to_string();
    }
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        let parts = super::wire::error_messages(&v);
        if !parts.is_empty() {
            return format!(
                ": {}",
                portcullis_core::text::truncate(&parts.join("; "), 300)
            );
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else {
        format!(
            ": {}",
            portcullis_core::text::truncate(&portcullis_core::text::clean(text), 200)
        )
    }
}

/// How long a 429/503 asks to wait: `Retry-After` (seconds or an HTTP date), else
/// `X-RateLimit-Reset` (ISO-8601).
pub fn retry_wait(headers: &HeaderMap) -> Option<Duration> {
    let now = chrono::Utc::now();
    if let Some(v) = headers.get("retry-after").and_then(|v| v.to_str().ok()) {
        if let Ok(secs) = v.trim().parse::<f64>() {
            if secs.is_finite() && secs >= 0.0 {
                return Some(Duration::from_secs_f64(secs.min(86_400.0)));
            }
        }
        if let Ok(t) = chrono::DateTime::parse_from_rfc2822(v.trim()) {
            return Some(
                (t.with_timezone(&chrono::Utc) - now)
                    .to_std()
                    .unwrap_or_default(),
            );
        }
    }
    if let Some(v) = headers
        .get("x-ratelimit-reset")
        .and_then(|v| v.to_str().ok())
    {
        let t = chrono::DateTime::parse_from_rfc3339(v.trim())
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc))
            .or_else(|| portcullis_core::time::parse_tracker_time(v.trim()));
        if let Some(t) = t {
            return Some((t - now).to_std().unwrap_or_default());
        }
    }
    None
}

/// The plain text of a comment: a v2 string body, or the text nodes of an ADF document.
pub fn comment_text(c: &Value) -> String {
    fn walk(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(t)) = m.get("text") {
                    out.push_str(t);
                }
                if let Some(c) = m.get("content") {
                    walk(c, out);
                }
                if m.get("type").and_then(Value::as_str) == Some("paragraph") {
                    out.push('\n');
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    match c.get("body") {
        Some(Value::String(s)) => s.clone(),
        Some(doc) => {
            let mut s = String::new();
            walk(doc, &mut s);
            s
        }
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked_and_never_echo_credentials() {
        assert_eq!(
            parse_base_url("https://jira.example.org").unwrap().as_str(),
            "https://jira.example.org/"
        );
        assert_eq!(
            parse_base_url("https://example.org/jira?x=1")
                .unwrap()
                .as_str(),
            "https://example.org/jira/"
        );
        let e = parse_base_url("https://me:hunter2@jira.example.org").unwrap_err();
        assert!(
            !portcullis_core::error::chain(&e).contains("hunter2")
                && !format!("{e:?}").contains("hunter2")
        );
        assert!(parse_base_url("ftp://x").is_err());
        assert!(parse_base_url("not a url").is_err());
    }

    #[test]
    fn retry_after_and_reset_headers() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", "3".parse().unwrap());
        assert_eq!(retry_wait(&h), Some(Duration::from_secs(3)));
        let mut h = HeaderMap::new();
        let reset = (chrono::Utc::now() + chrono::Duration::seconds(10)).to_rfc3339();
        h.insert("x-ratelimit-reset", reset.parse().unwrap());
        let w = retry_wait(&h).unwrap();
        assert!(
            w > Duration::from_secs(8) && w <= Duration::from_secs(10),
            "{w:?}"
        );
        assert_eq!(retry_wait(&HeaderMap::new()), None);
    }

    #[test]
    fn secrets_do_not_debug_print() {
        let s = Secret::new("abc123");
        assert_eq!(format!("{s:?}"), "Secret(***)");
    }

    #[test]
    fn comment_text_reads_v2_and_adf_bodies() {
        assert_eq!(comment_text(&json!({"body": "plain"})), "plain");
        let adf = json!({"body": {"type": "doc", "version": 1, "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "hello "}, {"type": "text", "text": "world"}]}
        ]}});
        assert_eq!(comment_text(&adf).trim(), "hello world");
    }
}
