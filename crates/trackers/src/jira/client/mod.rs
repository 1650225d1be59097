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
//!   times (`portcullis_http`'s one retry loop, see [`ClientOptions::retry_policy`]);
//!   400/401/403/404/410 and HTML pages become errors that say what to do.
//!
//! The client and its public methods are here; [`search`](JiraClient::search) and the other
//! paging requests are in `search`, one request and its attempts in `call`, and what a failure
//! says in `errors`.
//!
//! Secrets: the token is only ever put in a header marked sensitive; no message quotes it.

use std::sync::Arc;
use std::time::Duration;

use portcullis_core::Problem;
use reqwest::{Method, Url};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::wire::{JiraIssue, User};
use crate::credentials::JiraCredentials;
use crate::{Error, Result};
use errors::Failure;
use portcullis_core::secret::Secret;

mod call;
mod errors;
mod search;
#[cfg(test)]
mod tests;

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
    // Decision records are read from the comments (issue 17).
    "comment",
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

impl ClientOptions {
    /// The retry schedule: `max_retries` after the first attempt; a backoff from `base_delay`,
    /// doubling up to `max_backoff`, half of it random ("equal jitter"); rate limits asking for
    /// more than `max_wait` are errors.
    pub fn retry_policy(&self) -> portcullis_http::RetryPolicy {
        portcullis_http::RetryPolicy {
            max_attempts: self.max_retries.saturating_add(1),
            first_backoff: self.base_delay,
            max_backoff: self.max_backoff,
            max_server_wait: self.max_wait,
            jitter: 0.5,
        }
    }

    /// How the HTTP client is built: `timeout` for a request, at most 20 s to connect.
    fn client_config(&self) -> portcullis_http::ClientConfig {
        portcullis_http::ClientConfig {
            timeout: self.timeout,
            connect_timeout: self.timeout.min(Duration::from_secs(20)),
            follow_redirects: true,
        }
    }
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
    /// Keys the query named that Jira does not have (its `warningMessages`, Data Center with
    /// `validateQuery` warn).
    pub unknown_keys: Vec<String>,
}

/// A search over named keys: a page, or Jira's refusal of keys it does not have.
#[derive(Debug)]
pub enum KeySearch {
    Page(Page),
    /// A 400 for the whole query: the keys its messages quote (none when they quote none).
    Unknown(Vec<String>),
}

/// One label operation of an edit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum LabelOp {
    Add(String),
    Remove(String),
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
        Error::from(
            Problem::input("the Jira address is not a URL")
                .because(e)
                .hint("set jira.url in portcullis.toml to e.g. https://example.atlassian.net"),
        )
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
        let http = portcullis_http::client(&opts.client_config())
            .map_err(|e| Error::from(Problem::internal("cannot set up HTTP").because(e)))?;
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

    /// The key an issue has now (a moved issue answers its old key with its new one), or
    /// `None` if Jira does not have it.
    pub async fn current_key(&self, key: &str) -> Result<Option<String>> {
        match self
            .call_as::<Value>(
                true,
                Method::GET,
                &["rest", "api", "2", "issue", key],
                &[("fields", "summary".into())],
                None,
                "looking an issue up",
            )
            .await
        {
            Ok(v) => Ok(Some(
                v.get("key")
                    .and_then(Value::as_str)
                    .unwrap_or(key)
                    .to_string(),
            )),
            Err(f) if f.status == Some(404) => Ok(None),
            Err(f) => Err(f.error),
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

    /// Delete a comment (`DELETE /rest/api/2/issue/{key}/comment/{id}`).
    pub async fn delete_comment(&self, key: &str, id: &str) -> Result<()> {
        self.call::<Value>(
            Method::DELETE,
            &["rest", "api", "2", "issue", key, "comment", id],
            &[],
            None,
            "deleting a comment",
        )
        .await?;
        Ok(())
    }

    /// Link a web page to an issue (`POST /rest/api/2/issue/{key}/remotelink`). A link with
    /// the same `global_id` is replaced, not added again.
    pub async fn add_remote_link(
        &self,
        key: &str,
        global_id: &str,
        url: &str,
        title: &str,
    ) -> Result<()> {
        self.call::<Value>(
            Method::POST,
            &["rest", "api", "2", "issue", key, "remotelink"],
            &[],
            Some(json!({ "globalId": global_id, "object": { "url": url, "title": title } })),
            "linking a pull request",
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
