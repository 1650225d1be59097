//! The GitHub REST client: octocrab (hyper + rustls with ring, like reqwest here) pointed at
//! `[github].url` (api.github.com, or a GitHub Enterprise Server's `/api/v3`), through its typed
//! API: `issues(o, r)` (`list`, `get`, `list_timeline_events`, `list_comments`, `add_labels`,
//! `create_comment`), `pulls(o, r)` (`get`, `pr_commits`) and `current().user()`; removing a
//! label is a `DELETE` of its own (see [`GithubClient::remove_label`]). octocrab's models are converted into lean types of portcullis's own
//! ([`wire`]), with only the fields it reads.
//!
//! What it honours (see `../shared/docs/tracker-apis.md`, "GitHub (octocrab)"):
//! - Pagination follows the `Link` header's absolute URLs (`rel="next"`, `Octocrab::get_page`).
//! - Label history comes from the issue **timeline** (`labeled` / `unlabeled` with actor and
//!   time; `merged`, which also says when a pull request was merged, see [`GhPullRef`]).
//! - Rate limits: octocrab's `RetryConfig::HandleRateLimits` waits as GitHub asks (a 403 or 429
//!   with `retry-after`, or with `x-ratelimit-remaining: 0` until `x-ratelimit-reset`; octocrab
//!   waits at least 5 s for the latter), and retries 5xx and dropped connections, up to
//!   `max_retries` times. A wait longer than [`GithubClientOptions::max_wait`] stops the command
//!   with an error instead of sleeping for an hour. Every wait is logged as a warning.
//! - Errors say what to do (`errors`): 401 (token), 403 (permission, or a rate limit still in
//!   force), 404 (address, repository, visibility), 5xx and HTML pages from a proxy (the body is
//!   summarised, never dumped).
//! - octocrab's models are strict: an answer missing a field they require, or a timeline event
//!   of a type octocrab does not know yet, fails the request as JSON of an unexpected shape.
//!
//! Secrets: the token goes to octocrab as a `SecretString` and is only sent in the
//! `Authorization` header, to the configured host only; no message quotes it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use octocrab::params::{issues::Sort, Direction, State};
use octocrab::service::middleware::retry::{RateLimitMetrics, RetryConfig};
use octocrab::{models, Octocrab, Page};
use portcullis_core::error::Problem;
use serde::de::DeserializeOwned;

use crate::credentials::GithubCredentials;
use crate::tracker::Account;
use crate::{Error, Result};

mod errors;
mod names;
#[cfg(test)]
mod tests;
pub mod wire;

pub use names::{parse_api_url, pct_segment, split_key, RepoRef};
pub use wire::{
    GhBranch, GhComment, GhCommit, GhEvent, GhEventLabel, GhIssue, GhLabel, GhPull, GhPullRef,
    GhUser,
};

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
        let crab = builder.build().map_err(|e| {
            Error::from(Problem::internal("cannot set up the GitHub client").because(e))
        })?;
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
        let user = match self.call(self.inner.crab.current().user()).await {
            Ok(u) => GhUser::from(u),
            Err(Failed::Crab(octocrab::Error::GitHub { source, .. }))
                if source.status_code.as_u16() == 401 =>
            {
                return Err(Error::input(format!(
                    "GitHub at {} did not accept the token from {origin} (401: {})",
                    self.site(),
                    errors::summary(&source)
                ))
                .hint("use a personal access token that can read the repositories' issues and pull requests (and write issues, for push)"));
            }
            Err(f) => return Err(f.into_error(self, "checking the GitHub token")),
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
        self.call(call).await.map_err(|f| f.into_error(self, what))
    }

    /// [`guard`](Self::guard), handing octocrab's error back as it is (to look at its status).
    async fn call<T>(
        &self,
        call: impl std::future::Future<Output = octocrab::Result<T>>,
    ) -> std::result::Result<T, Failed> {
        let too_long = self.inner.limits.too_long.notified();
        tokio::select! {
            r = call => r.map_err(Failed::Crab),
            _ = too_long => Err(Failed::TooLong(self.inner.limits.asked.load(Ordering::Relaxed))),
        }
    }

    /// `per_page` as octocrab takes it (GitHub serves at most 100).
    fn per_page(&self) -> u8 {
        u8::try_from(self.inner.opts.per_page.clamp(1, 100)).unwrap_or(100)
    }

    /// The first page of a repository's issues and pull requests (all states), oldest update
    /// first, with `label` (one: `a,b` would ask for both) and updated at or after `since`.
    /// Follow it with [`next_page`](Self::next_page); its items convert with `GhIssue::from`.
    pub async fn list_issues(
        &self,
        repo: &RepoRef,
        label: Option<&str>,
        since: Option<DateTime<Utc>>,
    ) -> Result<Page<models::issues::Issue>> {
        let labels: Vec<String> = label.map(str::to_string).into_iter().collect();
        let issues = self.inner.crab.issues(&repo.owner, &repo.name);
        let mut list = issues
            .list()
            .state(State::All)
            .sort(Sort::Updated)
            .direction(Direction::Ascending)
            .per_page(self.per_page());
        if !labels.is_empty() {
            list = list.labels(&labels);
        }
        if let Some(since) = since {
            // Whole seconds, as GitHub documents the parameter.
            list = list.since(since.trunc_subsecs(0));
        }
        let what = format!("listing the issues of {}", repo.full_name());
        self.guard(&what, list.send()).await
    }

    /// The first page of a search for `phrase` in the comments of a repository's issues and
    /// pull requests updated at or after `since`, oldest update first (`GET /search/issues`,
    /// `q=repo:o/r "phrase" in:comments updated:>=…`). GitHub serves at most 1,000 results
    /// of one search: follow with [`next_page`](Self::next_page), and search again from the
    /// last update seen when `total_count` says there are more.
    pub async fn search_comments(
        &self,
        repo: &RepoRef,
        phrase: &str,
        since: Option<DateTime<Utc>>,
    ) -> Result<Page<models::issues::Issue>> {
        let mut q = format!("repo:{} \"{phrase}\" in:comments", repo.full_name());
        if let Some(since) = since {
            q.push_str(&format!(
                " updated:>={}",
                since
                    .trunc_subsecs(0)
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ));
        }
        let what = format!("searching the comments of {}", repo.full_name());
        let search = self
            .inner
            .crab
            .search()
            .issues_and_pull_requests(&q)
            .sort("updated")
            .order("asc")
            .per_page(self.per_page());
        self.guard(&what, search.send()).await
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

    /// Every item of a paginated list from its first page; returns them and the number of
    /// requests made (the first page's included).
    async fn rest<T: DeserializeOwned>(&self, first: Page<T>, what: &str) -> Result<(Vec<T>, u64)> {
        let mut page = first;
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
        let what = format!("reading {}#{number}", repo.full_name());
        let issues = self.inner.crab.issues(&repo.owner, &repo.name);
        match self.call(issues.get(number)).await {
            Ok(i) => Ok(Some(GhIssue::from(i))),
            Err(e) if matches!(e.status(), Some(404 | 410)) => Ok(None),
            Err(e) => Err(e.into_error(self, &what)),
        }
    }

    /// An issue's timeline (label changes with their actor and time, merges, closes, comments,
    /// cross-references, …), oldest first; with the number of requests made.
    pub async fn timeline(&self, repo: &RepoRef, number: u64) -> Result<(Vec<GhEvent>, u64)> {
        let what = format!("reading the timeline of {}#{number}", repo.full_name());
        let issues = self.inner.crab.issues(&repo.owner, &repo.name);
        let first = self
            .guard(
                &what,
                issues
                    .list_timeline_events(number)
                    .per_page(self.per_page())
                    .send(),
            )
            .await?;
        let (events, requests) = self.rest(first, &what).await?;
        Ok((events.into_iter().map(GhEvent::from).collect(), requests))
    }

    /// A pull request.
    pub async fn pull(&self, repo: &RepoRef, number: u64) -> Result<GhPull> {
        let what = format!("reading pull request {}#{number}", repo.full_name());
        let pulls = self.inner.crab.pulls(&repo.owner, &repo.name);
        Ok(GhPull::from(self.guard(&what, pulls.get(number)).await?))
    }

    /// The combined check state (`pending`, `success`, `failure`, `error`) of a commit
    /// (`GET …/commits/{sha}/status`).
    pub async fn check_state(&self, repo: &RepoRef, sha: &str) -> Result<String> {
        let what = format!("reading the checks of {sha} in {}", repo.full_name());
        let route = format!(
            "/repos/{}/{}/commits/{}/status",
            pct_segment(&repo.owner),
            pct_segment(&repo.name),
            pct_segment(sha)
        );
        let v: serde_json::Value = self
            .guard(&what, self.inner.crab.get(route, None::<&()>))
            .await?;
        Ok(v["state"].as_str().unwrap_or("pending").to_string())
    }

    /// A pull request's commits (GitHub lists at most 250).
    pub async fn pull_commits(&self, repo: &RepoRef, number: u64) -> Result<(Vec<GhCommit>, u64)> {
        let what = format!(
            "reading the commits of pull request {}#{number}",
            repo.full_name()
        );
        let pulls = self.inner.crab.pulls(&repo.owner, &repo.name);
        let first = self
            .guard(
                &what,
                pulls.pr_commits(number).per_page(self.per_page()).send(),
            )
            .await?;
        let (commits, requests) = self.rest(first, &what).await?;
        Ok((commits.into_iter().map(GhCommit::from).collect(), requests))
    }

    /// The bodies of an issue's comments.
    pub async fn comment_bodies(
        &self,
        repo: &RepoRef,
        number: u64,
    ) -> Result<Vec<crate::tracker::RemoteComment>> {
        let what = format!("reading the comments of {}#{number}", repo.full_name());
        let issues = self.inner.crab.issues(&repo.owner, &repo.name);
        let first = self
            .guard(
                &what,
                issues
                    .list_comments(number)
                    .per_page(self.per_page())
                    .send(),
            )
            .await?;
        let (comments, _) = self.rest(first, &what).await?;
        Ok(comments
            .into_iter()
            .map(GhComment::from)
            .filter_map(|c| {
                Some(crate::tracker::RemoteComment {
                    body: c.body?,
                    author: c.author,
                })
            })
            .collect())
    }

    /// Add labels (one request).
    pub async fn add_labels(&self, repo: &RepoRef, number: u64, labels: &[String]) -> Result<()> {
        let what = format!("adding labels to {}#{number}", repo.full_name());
        let issues = self.inner.crab.issues(&repo.owner, &repo.name);
        self.guard(&what, issues.add_labels(number, labels)).await?;
        Ok(())
    }

    /// Remove a label; one that is already gone (404) is fine.
    pub async fn remove_label(&self, repo: &RepoRef, number: u64, label: &str) -> Result<()> {
        let what = format!(
            "removing label `{label}` from {}#{number}",
            repo.full_name()
        );
        // Not `issues().remove_label`: it percent-encodes every byte but letters and digits
        // (`backport-v23` becomes `backport%2Dv23`); this keeps the path GitHub documents and
        // that existing logs, proxies and tests match, and answers the same typed labels.
        let route = format!(
            "/repos/{}/{}/issues/{number}/labels/{}",
            repo.owner,
            repo.name,
            pct_segment(label)
        );
        let call = self
            .inner
            .crab
            .delete::<Vec<models::Label>, _, ()>(route, None);
        match self.call(call).await {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(404) => Ok(()),
            Err(e) => Err(e.into_error(self, &what)),
        }
    }

    /// Delete a comment (`DELETE /repos/{o}/{r}/issues/comments/{id}`); one already gone is
    /// deleted.
    pub async fn delete_comment(&self, repo: &RepoRef, id: u64) -> Result<()> {
        let what = format!("deleting comment {id} of {}", repo.full_name());
        let issues = self.inner.crab.issues(&repo.owner, &repo.name);
        match self.call(issues.delete_comment(id.into())).await {
            Ok(()) => Ok(()),
            Err(e) if e.status() == Some(404) => Ok(()),
            Err(e) => Err(e.into_error(self, &what)),
        }
    }

    /// Post a comment; returns its id.
    pub async fn add_comment(&self, repo: &RepoRef, number: u64, body: &str) -> Result<u64> {
        let what = format!("commenting on {}#{number}", repo.full_name());
        let issues = self.inner.crab.issues(&repo.owner, &repo.name);
        let c = self
            .guard(&what, issues.create_comment(number, body))
            .await?;
        Ok(GhComment::from(c).id)
    }
}

/// A pull request `open_pull` opened or found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedPull {
    pub number: u64,
    pub url: Option<String>,
    /// It was open already (from the same head into the same base): nothing was created.
    pub existed: bool,
}

impl GithubClient {
    /// Open a pull request from branch `head` of `repo` into `base`, unless one is open
    /// already from that head into that base (then that one, `existed`).
    pub async fn open_pull(
        &self,
        repo: &RepoRef,
        head: &str,
        base: &str,
        title: &str,
        body: &str,
    ) -> Result<OpenedPull> {
        let what = format!(
            "opening a pull request from {head} into {base} in {}",
            repo.full_name()
        );
        let pulls = self.inner.crab.pulls(&repo.owner, &repo.name);
        let open = self
            .guard(
                &what,
                pulls
                    .list()
                    .state(octocrab::params::State::Open)
                    .head(format!("{}:{head}", repo.owner))
                    .base(base)
                    .send(),
            )
            .await?;
        if let Some(p) = open.items.into_iter().next() {
            return Ok(OpenedPull {
                number: p.number,
                url: p.html_url.map(|u| u.to_string()),
                existed: true,
            });
        }
        let p = self
            .guard(&what, pulls.create(title, head, base).body(body).send())
            .await?;
        Ok(OpenedPull {
            number: p.number,
            url: p.html_url.map(|u| u.to_string()),
            existed: false,
        })
    }
}

/// Why an octocrab call failed: octocrab's error, or a rate limit asking to wait this many
/// seconds, longer than [`GithubClientOptions::max_wait`].
enum Failed {
    Crab(octocrab::Error),
    TooLong(u64),
}

impl Failed {
    /// The status of an error answer.
    fn status(&self) -> Option<u16> {
        match self {
            Failed::Crab(octocrab::Error::GitHub { source, .. }) => {
                Some(source.status_code.as_u16())
            }
            _ => None,
        }
    }

    fn into_error(self, client: &GithubClient, what: &str) -> Error {
        match self {
            Failed::Crab(e) => client.error(e, what),
            Failed::TooLong(secs) => Error::internal(format!(
                "{what}: GitHub at {} is rate limiting and asks to wait {secs}s before the next request, longer than portcullis waits ({}s)",
                client.site(),
                client.inner.limits.max_wait_secs
            ))
            .hint("run again after the reset; nothing was lost"),
        }
    }
}
