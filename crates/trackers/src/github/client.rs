//! The GitHub REST client: octocrab (hyper + rustls with ring, like reqwest here) pointed at
//! `[github].url` (api.github.com, or a GitHub Enterprise Server's `/api/v3`), with lean wire
//! types of its own: only the fields portcullis reads, all optional where GitHub may omit them,
//! so that a ghost user or a new field never fails a sync.
//!
//! What it honours (see `../shared/docs/tracker-apis.md`, "GitHub (octocrab)"):
//! - Pagination follows the `Link` header's absolute URLs (`rel="next"`).
//! - Rate limits: octocrab's `RetryConfig::HandleRateLimits` waits as GitHub asks (a 403 or 429
//!   with `retry-after`, or with `x-ratelimit-remaining: 0` until `x-ratelimit-reset`; octocrab
//!   waits at least 5 s for the latter), and retries 5xx and dropped connections, up to
//!   `max_retries` times. A wait longer than [`GithubClientOptions::max_wait`] stops the command
//!   with an error instead of sleeping for an hour. Every wait is logged as a warning.
//! - Errors say what to do: 401 (token), 403 (permission, or a rate limit still in force), 404
//!   (address, repository, visibility), 5xx and HTML pages from a proxy (the body is summarised,
//!   never dumped).
//!
//! Secrets: the token goes to octocrab as a `SecretString` and is only sent in the
//! `Authorization` header, to the configured host only; no message quotes it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use octocrab::service::middleware::retry::{RateLimitMetrics, RetryConfig};
use octocrab::{Octocrab, Page};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::credentials::GithubCredentials;
use crate::tracker::Account;
use crate::{Error, Result};

/// A repository, `owner/name`. Its `name` makes the ticket keys (`name#123`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct RepoRef {
    pub owner: String,
    pub name: String,
}

impl RepoRef {
    /// Parse `owner/name` (GitHub's characters only).
    pub fn parse(s: &str) -> Result<RepoRef> {
        let ok = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        };
        match s.trim().split_once('/') {
            Some((owner, name)) if ok(owner) && ok(name) => Ok(RepoRef {
                owner: owner.to_string(),
                name: name.to_string(),
            }),
            _ => Err(Error::input(format!(
                "`{s}` in github.repos is not a repository like `owner/name`"
            ))
            .hint("list repositories as e.g. repos = [\"lsst/daf_butler\", \"lsst/pipe_tasks\"]")),
        }
    }

    /// `owner/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    /// The ticket key of an issue or pull request of this repository.
    pub fn key(&self, number: u64) -> String {
        format!("{}#{number}", self.name)
    }

    fn route(&self, rest: &str) -> String {
        format!("/repos/{}/{}/{rest}", self.owner, self.name)
    }
}

/// Split a GitHub ticket key `name#123` into the repository name and the number.
pub fn split_key(key: &str) -> Option<(&str, u64)> {
    let (name, number) = key.rsplit_once('#')?;
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    let n = number.parse::<u64>().ok()?;
    (valid && !number.starts_with('+')).then_some((name, n))
}

// ---------------------------------------------------------------------------------------------
// Wire types

/// A user as GitHub embeds it; only the login matters.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct GhUser {
    #[serde(default)]
    pub login: String,
    /// Only `GET /user` has it.
    #[serde(default)]
    pub name: Option<String>,
}

/// A label: a full object in today's API, a bare name in some older answers.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum GhLabel {
    Object { name: String },
    Name(String),
}

impl GhLabel {
    pub fn name(&self) -> &str {
        match self {
            GhLabel::Object { name } | GhLabel::Name(name) => name,
        }
    }
}

/// The `pull_request` key that makes an issue a pull request.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct GhPullRef {
    #[serde(default)]
    pub merged_at: Option<DateTime<Utc>>,
}

/// An issue or pull request as the issues API lists it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct GhIssue {
    pub number: u64,
    #[serde(default)]
    pub title: String,
    /// `open` or `closed`.
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub labels: Vec<GhLabel>,
    #[serde(default)]
    pub user: Option<GhUser>,
    #[serde(default)]
    pub assignee: Option<GhUser>,
    #[serde(default)]
    pub html_url: Option<String>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub pull_request: Option<GhPullRef>,
}

impl GhIssue {
    /// The current label names.
    pub fn label_names(&self) -> Vec<String> {
        self.labels.iter().map(|l| l.name().to_string()).collect()
    }
}

/// The label of a `labeled` / `unlabeled` event.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct GhEventLabel {
    #[serde(default)]
    pub name: String,
}

/// An issue event (`GET …/issues/{n}/events`): `labeled`, `unlabeled`, `merged`, `closed`, …
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct GhEvent {
    #[serde(default)]
    pub id: Option<u64>,
    #[serde(default)]
    pub event: String,
    #[serde(default)]
    pub actor: Option<GhUser>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub label: Option<GhEventLabel>,
    #[serde(default)]
    pub commit_id: Option<String>,
}

impl GhEvent {
    /// `(added, label)` for a label event.
    pub fn label_change(&self) -> Option<(bool, &str)> {
        let added = match self.event.as_str() {
            "labeled" => true,
            "unlabeled" => false,
            _ => return None,
        };
        Some((added, self.label.as_ref()?.name.as_str()))
    }

    /// The actor's login (empty for a deleted account).
    pub fn actor_login(&self) -> Option<&str> {
        self.actor
            .as_ref()
            .map(|a| a.login.as_str())
            .filter(|l| !l.is_empty())
    }
}

/// A branch end of a pull request.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct GhBranch {
    #[serde(default, rename = "ref")]
    pub reference: String,
}

/// A pull request (`GET …/pulls/{n}`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct GhPull {
    #[serde(default)]
    pub merged: Option<bool>,
    #[serde(default)]
    pub merged_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
    #[serde(default)]
    pub merged_by: Option<GhUser>,
    #[serde(default)]
    pub base: Option<GhBranch>,
    #[serde(default)]
    pub head: Option<GhBranch>,
}

/// A commit of a pull request (`GET …/pulls/{n}/commits`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct GhCommit {
    pub sha: String,
}

/// An issue comment.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct GhComment {
    #[serde(default)]
    pub id: u64,
    #[serde(default)]
    pub body: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// The client

/// How the client waits and retries.
#[derive(Debug, Clone)]
pub struct GithubClientOptions {
    pub timeout: Duration,
    /// Retries of one request (rate limits, 5xx, dropped connections).
    pub max_retries: u32,
    /// A rate limit asking for a longer wait than this is an error, not a wait.
    pub max_wait: Duration,
    /// Items per page (GitHub serves at most 100).
    pub per_page: u32,
    /// Requests in flight at once while reading a page's issues.
    pub concurrency: usize,
}

impl Default for GithubClientOptions {
    fn default() -> Self {
        GithubClientOptions {
            timeout: Duration::from_secs(60),
            max_retries: 6,
            max_wait: Duration::from_secs(300),
            per_page: 100,
            concurrency: 4,
        }
    }
}

/// Logs octocrab's retries and stops waits longer than `max_wait`.
struct Limits {
    max_wait_secs: u64,
    /// The longest wait asked for that was too long (seconds).
    asked: AtomicU64,
    too_long: tokio::sync::Notify,
}

impl RateLimitMetrics for Limits {
    fn retry_after_error(
        &self,
        req: &http::Request<octocrab::OctoBody>,
        status: http::StatusCode,
        retries_remaining: usize,
    ) {
        // Called for 5xx (retried at once) and for a 403 without rate-limit headers (not
        // retried: a refusal).
        if status.is_server_error() {
            tracing::warn!(
                path = %req.uri().path(),
                status = status.as_u16(),
                retries_remaining,
                "GitHub server error; retrying"
            );
        } else {
            tracing::debug!(path = %req.uri().path(), status = status.as_u16(), "GitHub refused a request");
        }
    }

    fn rate_limited(
        &self,
        req: &http::Request<octocrab::OctoBody>,
        status: http::StatusCode,
        retries_remaining: usize,
        waiting_seconds: u64,
    ) {
        tracing::warn!(
            path = %req.uri().path(),
            status = status.as_u16(),
            retries_remaining,
            wait_s = waiting_seconds,
            "GitHub rate limit; waiting"
        );
        if waiting_seconds > self.max_wait_secs {
            self.asked.fetch_max(waiting_seconds, Ordering::Relaxed);
            self.too_long.notify_waiters();
        }
    }
}

/// A GitHub client for the configured site and repositories. Cheap to clone.
#[derive(Clone)]
pub struct GithubClient {
    inner: Arc<Inner>,
}

struct Inner {
    crab: Octocrab,
    shown: String,
    repos: Vec<RepoRef>,
    opts: GithubClientOptions,
    limits: Arc<Limits>,
    authenticated: bool,
}

impl std::fmt::Debug for GithubClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubClient")
            .field("site", &self.inner.shown)
            .field("repos", &self.inner.repos)
            .finish_non_exhaustive()
    }
}

/// Check the configured API root: http(s), no credentials, no query. Returns it without a
/// trailing slash.
pub fn parse_api_url(url: &str) -> Result<String> {
    let mut u = reqwest::Url::parse(url.trim()).map_err(|e| {
        Error::input(format!("the GitHub address is not a URL ({e})")).hint(
            "set github.url in portcullis.toml to https://api.github.com or https://HOST/api/v3",
        )
    })?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(Error::input(format!(
            "the GitHub address must be http or https, not `{}`",
            u.scheme()
        )));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(Error::input("the GitHub address contains credentials").hint(
            "remove them from the URL; put the token in PORTCULLIS_GITHUB_TOKEN or the credentials file",
        ));
    }
    u.set_query(None);
    u.set_fragment(None);
    Ok(u.as_str().trim_end_matches('/').to_string())
}

/// List parameters of the issues API.
#[derive(Serialize)]
struct ListParams<'a> {
    state: &'a str,
    sort: &'a str,
    direction: &'a str,
    per_page: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    labels: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    since: Option<String>,
}

#[derive(Serialize)]
struct PerPage {
    per_page: u32,
}

/// A percent-encoded path segment (label names may hold spaces, `/`, `#`, …).
pub fn pct_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl GithubClient {
    /// Set up the client; with credentials, check them with `GET /user` (a rejected token is an
    /// error, never an empty project) and return the account.
    pub async fn connect(
        url: &str,
        repos: Vec<RepoRef>,
        creds: Option<GithubCredentials>,
        opts: GithubClientOptions,
    ) -> Result<(GithubClient, Option<Account>)> {
        let shown = parse_api_url(url)?;
        let limits = Arc::new(Limits {
            max_wait_secs: opts.max_wait.as_secs(),
            asked: AtomicU64::new(0),
            too_long: tokio::sync::Notify::new(),
        });
        let mut builder = Octocrab::builder()
            .base_uri(shown.as_str())
            .map_err(|_| {
                Error::input(format!("the GitHub address `{shown}` is not usable"))
                    .hint("set github.url to https://api.github.com or https://HOST/api/v3")
            })?
            .add_retry_config(RetryConfig::HandleRateLimits {
                metrics: limits.clone(),
                max_retries: opts.max_retries as usize,
                min_wait_seconds: 1,
                retry_on_forbidden: false,
            })
            .set_connect_timeout(Some(opts.timeout.min(Duration::from_secs(20))))
            .set_read_timeout(Some(opts.timeout))
            .set_write_timeout(Some(opts.timeout));
        if let Some(c) = &creds {
            builder = builder.personal_token(c.token.expose().to_string());
        }
        let crab = builder
            .build()
            .map_err(|e| Error::internal(format!("cannot set up the GitHub client: {e}")))?;
        let client = GithubClient {
            inner: Arc::new(Inner {
                crab,
                shown,
                repos,
                opts,
                limits,
                authenticated: creds.is_some(),
            }),
        };
        let account = match &creds {
            Some(c) => Some(client.myself(&c.origin).await?),
            None => None,
        };
        Ok((client, account))
    }

    /// The API root, for messages and source names (never holds a secret).
    pub fn site(&self) -> &str {
        &self.inner.shown
    }

    /// The configured repositories.
    pub fn repos(&self) -> &[RepoRef] {
        &self.inner.repos
    }

    /// The configured repository whose name makes this key's prefix.
    pub fn repo_for_key(&self, key: &str) -> Option<(&RepoRef, u64)> {
        let (name, n) = split_key(key)?;
        let repo = self
            .inner
            .repos
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(name))?;
        Some((repo, n))
    }

    /// The options in force.
    pub fn options(&self) -> &GithubClientOptions {
        &self.inner.opts
    }

    /// Whether a token is used.
    pub fn authenticated(&self) -> bool {
        self.inner.authenticated
    }

    async fn myself(&self, origin: &str) -> Result<Account> {
        let answer: std::result::Result<GhUser, octocrab::Error> =
            self.inner.crab.get("/user", None::<&()>).await;
        let user = match answer {
            Ok(u) => u,
            Err(octocrab::Error::GitHub { source, .. }) if source.status_code.as_u16() == 401 => {
                return Err(Error::input(format!(
                    "GitHub at {} did not accept the token from {origin} (401: {})",
                    self.site(),
                    summary(&source)
                ))
                .hint("use a personal access token that can read the repositories' issues and pull requests (and write issues, for push)"));
            }
            Err(e) => return Err(self.error(e, "checking the GitHub token")),
        };
        if user.login.is_empty() {
            return Err(Error::input(format!(
                "GitHub at {} answered GET /user without a login",
                self.site()
            ))
            .hint("check github.url: it should be the API root, e.g. https://api.github.com"));
        }
        Ok(Account {
            id: user.login,
            display_name: user.name,
        })
    }

    /// Run one octocrab call, stopping early when a rate limit asks for too long a wait.
    async fn guard<T>(
        &self,
        what: &str,
        call: impl std::future::Future<Output = octocrab::Result<T>>,
    ) -> Result<T> {
        let too_long = self.inner.limits.too_long.notified();
        tokio::select! {
            r = call => r.map_err(|e| self.error(e, what)),
            _ = too_long => {
                let secs = self.inner.limits.asked.load(Ordering::Relaxed);
                Err(Error::internal(format!(
                    "{what}: GitHub at {} is rate limiting and asks to wait {secs}s before the next request, longer than portcullis waits ({}s)",
                    self.site(),
                    self.inner.limits.max_wait_secs
                ))
                .hint("run again after the reset; nothing was lost"))
            }
        }
    }

    /// The first page of a repository's issues and pull requests (all states), oldest update
    /// first, with `label` (one: `a,b` would ask for both) and updated at or after `since`.
    pub async fn list_issues(
        &self,
        repo: &RepoRef,
        label: Option<&str>,
        since: Option<DateTime<Utc>>,
    ) -> Result<Page<GhIssue>> {
        let params = ListParams {
            state: "all",
            sort: "updated",
            direction: "asc",
            per_page: self.inner.opts.per_page,
            labels: label,
            since: since.map(|s| s.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        };
        let what = format!("listing the issues of {}", repo.full_name());
        self.guard(
            &what,
            self.inner.crab.get(repo.route("issues"), Some(&params)),
        )
        .await
    }

    /// The page a `Link: rel="next"` named, if any.
    pub async fn next_page<T: DeserializeOwned>(
        &self,
        page: &Page<T>,
        what: &str,
    ) -> Result<Option<Page<T>>> {
        self.guard(what, self.inner.crab.get_page::<T>(&page.next))
            .await
    }

    /// Every item of a paginated list; returns them and the number of requests made.
    async fn all<T: DeserializeOwned>(&self, route: String, what: &str) -> Result<(Vec<T>, u64)> {
        let params = PerPage {
            per_page: self.inner.opts.per_page,
        };
        let mut page: Page<T> = self
            .guard(what, self.inner.crab.get(route, Some(&params)))
            .await?;
        let mut items = page.take_items();
        let mut requests = 1;
        while let Some(mut next) = self.next_page(&page, what).await? {
            requests += 1;
            items.append(&mut next.take_items());
            page = next;
        }
        Ok((items, requests))
    }

    /// One issue or pull request; `None` when GitHub does not have it (404, 410).
    pub async fn issue(&self, repo: &RepoRef, number: u64) -> Result<Option<GhIssue>> {
        let r: std::result::Result<GhIssue, octocrab::Error> = self
            .inner
            .crab
            .get(repo.route(&format!("issues/{number}")), None::<&()>)
            .await;
        match r {
            Ok(i) => Ok(Some(i)),
            Err(octocrab::Error::GitHub { source, .. })
                if matches!(source.status_code.as_u16(), 404 | 410) =>
            {
                Ok(None)
            }
            Err(e) => Err(self.error(e, &format!("reading {}#{number}", repo.full_name()))),
        }
    }

    /// Every event of an issue (label changes with their actor and time, merges, …).
    pub async fn issue_events(&self, repo: &RepoRef, number: u64) -> Result<(Vec<GhEvent>, u64)> {
        self.all(
            repo.route(&format!("issues/{number}/events")),
            &format!("reading the events of {}#{number}", repo.full_name()),
        )
        .await
    }

    /// A pull request.
    pub async fn pull(&self, repo: &RepoRef, number: u64) -> Result<GhPull> {
        let what = format!("reading pull request {}#{number}", repo.full_name());
        self.guard(
            &what,
            self.inner
                .crab
                .get(repo.route(&format!("pulls/{number}")), None::<&()>),
        )
        .await
    }

    /// A pull request's commits (GitHub lists at most 250).
    pub async fn pull_commits(&self, repo: &RepoRef, number: u64) -> Result<(Vec<GhCommit>, u64)> {
        self.all(
            repo.route(&format!("pulls/{number}/commits")),
            &format!(
                "reading the commits of pull request {}#{number}",
                repo.full_name()
            ),
        )
        .await
    }

    /// The bodies of an issue's comments.
    pub async fn comment_bodies(&self, repo: &RepoRef, number: u64) -> Result<Vec<String>> {
        let (comments, _) = self
            .all::<GhComment>(
                repo.route(&format!("issues/{number}/comments")),
                &format!("reading the comments of {}#{number}", repo.full_name()),
            )
            .await?;
        Ok(comments.into_iter().filter_map(|c| c.body).collect())
    }

    /// Add labels (one request).
    pub async fn add_labels(&self, repo: &RepoRef, number: u64, labels: &[String]) -> Result<()> {
        let what = format!("adding labels to {}#{number}", repo.full_name());
        let _: Value = self
            .guard(
                &what,
                self.inner.crab.post(
                    repo.route(&format!("issues/{number}/labels")),
                    Some(&json!({ "labels": labels })),
                ),
            )
            .await?;
        Ok(())
    }

    /// Remove a label; one that is already gone (404) is fine.
    pub async fn remove_label(&self, repo: &RepoRef, number: u64, label: &str) -> Result<()> {
        let route = repo.route(&format!("issues/{number}/labels/{}", pct_segment(label)));
        let r: std::result::Result<Value, octocrab::Error> =
            self.inner.crab.delete(route, None::<&()>).await;
        match r {
            Ok(_) => Ok(()),
            Err(octocrab::Error::GitHub { source, .. }) if source.status_code.as_u16() == 404 => {
                Ok(())
            }
            Err(e) => Err(self.error(
                e,
                &format!(
                    "removing label `{label}` from {}#{number}",
                    repo.full_name()
                ),
            )),
        }
    }

    /// Post a comment; returns its id.
    pub async fn add_comment(&self, repo: &RepoRef, number: u64, body: &str) -> Result<u64> {
        let what = format!("commenting on {}#{number}", repo.full_name());
        let c: GhComment = self
            .guard(
                &what,
                self.inner.crab.post(
                    repo.route(&format!("issues/{number}/comments")),
                    Some(&json!({ "body": body })),
                ),
            )
            .await?;
        Ok(c.id)
    }

    /// An error that says what happened and what to do.
    fn error(&self, e: octocrab::Error, what: &str) -> Error {
        let site = self.site();
        let attempts = self.inner.opts.max_retries + 1;
        match e {
            octocrab::Error::GitHub { source, .. } => {
                let code = source.status_code.as_u16();
                let detail = summary(&source);
                let rate_limited = is_rate_limit(&source);
                match code {
                    401 if !self.authenticated() => Error::input(format!(
                        "{what}: GitHub at {site} requires a token (401: {detail})"
                    ))
                    .hint("set PORTCULLIS_GITHUB_TOKEN, or `token` in the [github] table of the credentials file"),
                    401 => Error::input(format!(
                        "{what}: GitHub at {site} refused the credentials (401: {detail})"
                    ))
                    .hint("check PORTCULLIS_GITHUB_TOKEN or the [github] token of the credentials file"),
                    403 | 429 if rate_limited => {
                        let reset = source
                            .rate_limit_reset_at()
                            .map(|t| format!(" until {}", portcullis_core::time::fmt_utc(t)))
                            .unwrap_or_default();
                        Error::internal(format!(
                            "{what}: GitHub at {site} is rate limiting ({code}: {detail}) and still was after {attempts} attempts"
                        ))
                        .hint(format!(
                            "wait{reset} and run again; nothing was lost{}",
                            if self.authenticated() { "" } else { " (without a token GitHub allows 60 requests an hour: set PORTCULLIS_GITHUB_TOKEN)" }
                        ))
                    }
                    403 => Error::input(format!(
                        "{what}: the GitHub token has no permission for this (403: {detail})"
                    ))
                    .hint("the token needs read access to the repositories' issues and pull requests, and write access to issues for push"),
                    404 => Error::input(format!("{what}: not found on GitHub at {site} (404: {detail})"))
                        .hint(if self.authenticated() {
                            "check github.url (the API root, e.g. https://api.github.com or https://HOST/api/v3) and github.repos (`owner/name`); the token must be able to see the repository"
                        } else {
                            "check github.url and github.repos (`owner/name`); a private repository needs a token (PORTCULLIS_GITHUB_TOKEN)"
                        }),
                    410 => Error::input(format!("{what}: GitHub at {site} says it is gone (410: {detail})"))
                        .hint("issues may be disabled for this repository; check github.repos"),
                    422 => Error::input(format!("{what}: GitHub at {site} refused the request (422: {detail})"))
                        .hint("check the policy's labels and github.repos"),
                    c if c >= 500 => Error::internal(format!(
                        "{what}: GitHub at {site} keeps failing ({code}{}) after {attempts} attempts",
                        if detail.is_empty() { String::new() } else { format!(": {detail}") }
                    ))
                    .hint("GitHub (or a proxy in front of it) has a problem; try again later, nothing was lost"),
                    _ => Error::internal(format!("{what}: GitHub at {site} answered {code}: {detail}")),
                }
            }
            octocrab::Error::Json { source, .. } => Error::internal(format!(
                "{what}: GitHub at {site} sent JSON of an unexpected shape at `{}`: {}",
                source.path(),
                source.inner()
            ))
            .hint("check github.url: it should be the API root (https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise)"),
            octocrab::Error::Serde { source, .. } => Error::internal(format!(
                "{what}: GitHub at {site} sent malformed JSON (line {}, column {})",
                source.line(),
                source.column()
            ))
            .hint("check github.url; if this persists, a proxy may be altering responses; nothing was written for this page"),
            other => {
                let why = transport_reason(&other, self.inner.opts.timeout);
                Error::internal(format!(
                    "{what}: no complete answer from GitHub at {site} ({why}) after {attempts} attempts"
                ))
                .hint("check github.url and the network; run again to continue where it stopped")
            }
        }
    }
}

/// Whether an error answer is a rate limit (primary or secondary).
fn is_rate_limit(e: &octocrab::GitHubError) -> bool {
    let header = |name: &str| {
        e.headers
            .as_ref()
            .and_then(|h| h.get(name))
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    e.status_code.as_u16() == 429
        || header("x-ratelimit-remaining").as_deref() == Some("0")
        || header("retry-after").is_some()
        || e.message.to_ascii_lowercase().contains("rate limit")
}

/// A short, clean account of an error answer: GitHub's message, or what the body is.
fn summary(e: &octocrab::GitHubError) -> String {
    let html_type = e
        .headers
        .as_ref()
        .and_then(|h| h.get("content-type"))
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("html"));
    let text = e.message.trim();
    if html_type || text.starts_with('<') {
        return "an HTML page, not GitHub's JSON: a proxy or load balancer answered".to_string();
    }
    portcullis_core::text::truncate(&portcullis_core::text::clean(text), 200)
}

/// What went wrong below HTTP, in words (the first line of the error chain, no URL dump).
fn transport_reason(e: &octocrab::Error, timeout: Duration) -> String {
    let mut chain = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        chain.push(c.to_string());
        cur = c.source();
    }
    let all = chain.join(": ").to_ascii_lowercase();
    if all.contains("timed out") || all.contains("timeout") {
        format!("no answer within {}s", timeout.as_secs())
    } else if all.contains("connect") {
        "connection failed".to_string()
    } else {
        let first = chain
            .last()
            .map(|s| s.lines().next().unwrap_or("").to_string())
            .unwrap_or_default();
        format!(
            "the connection failed: {}",
            portcullis_core::text::truncate(&first, 160)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_and_keys() {
        let r = RepoRef::parse("lsst/daf_butler").unwrap();
        assert_eq!(r.key(12), "daf_butler#12");
        assert_eq!(r.full_name(), "lsst/daf_butler");
        assert!(RepoRef::parse("daf_butler").is_err());
        assert!(RepoRef::parse("a/b/c").is_err());
        assert!(RepoRef::parse("lsst/").is_err());
        assert_eq!(split_key("daf_butler#12"), Some(("daf_butler", 12)));
        assert_eq!(split_key("obs.base-x#7"), Some(("obs.base-x", 7)));
        assert_eq!(split_key("DM-33360"), None);
        assert_eq!(split_key("#5"), None);
        assert_eq!(split_key("x#+5"), None);
    }

    #[test]
    fn api_urls_are_checked_and_never_echo_credentials() {
        assert_eq!(
            parse_api_url("https://api.github.com/").unwrap(),
            "https://api.github.com"
        );
        assert_eq!(
            parse_api_url("https://ghe.example.org/api/v3?x=1").unwrap(),
            "https://ghe.example.org/api/v3"
        );
        let e = parse_api_url("https://me:hunter2@api.github.com").unwrap_err();
        assert!(!portcullis_core::error::chain(&e).contains("hunter2"));
        assert!(parse_api_url("ftp://x").is_err());
    }

    #[test]
    fn label_names_are_percent_encoded() {
        assert_eq!(pct_segment("backport-v23"), "backport-v23");
        assert_eq!(pct_segment("needs info/α"), "needs%20info%2F%CE%B1");
    }

    #[test]
    fn lean_wire_types_take_partial_objects() {
        let i: GhIssue = serde_json::from_value(json!({
            "number": 3, "labels": ["a", {"name": "b", "color": "fff"}],
            "user": null, "pull_request": {"url": "x", "merged_at": "2026-11-02T10:00:00Z"}
        }))
        .unwrap();
        assert_eq!(i.label_names(), vec!["a", "b"]);
        assert!(i.pull_request.unwrap().merged_at.is_some());
        let e: GhEvent = serde_json::from_value(json!({
            "id": 9, "event": "unlabeled", "actor": null, "label": {"name": "x"},
            "created_at": "2026-11-02T10:00:00Z"
        }))
        .unwrap();
        assert_eq!(e.label_change(), Some((false, "x")));
        assert_eq!(e.actor_login(), None);
    }
}
