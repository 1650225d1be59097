//! `backport --pr`: a pull request from each pushed ticket branch into the release branch,
//! through the GitHub API (octocrab, `[github]` in portcullis.toml and its token), titled and
//! described by the policy's templates. One that is open already from the same branch is
//! reported, never duplicated. Each is linked to its ticket: one comment on the ticket's
//! GitHub issue when the key is one (`pkg#12`), else a Jira remote link with `[jira]`.

use serde::Serialize;
use serde_json::json;

use super::request::{event, BackportRequest};
use super::{Plan, RepoPlan};
use crate::credentials::github_credentials;
use crate::workspace::Workspace;
use crate::{Error, Result};
use portcullis_core::event::{derive_ticket, kind, NewEvent};
use portcullis_core::policy::Backport;
use portcullis_ledger::Ledger;
use portcullis_trackers::github::client::{GithubClient, GithubClientOptions, RepoRef};

/// What `--pr` did in one repository.
#[derive(Debug, Clone, Serialize)]
pub struct PrOutcome {
    pub repo: String,
    pub github_repo: String,
    pub number: Option<u64>,
    pub url: Option<String>,
    /// It was open already: nothing created.
    pub existed: bool,
    /// Why it could not be opened.
    pub error: Option<String>,
    /// Linked to the ticket: a Jira remote link (with `[jira]` configured), or a comment on
    /// the ticket's GitHub issue (a key like `pkg#12` of a repository in `github.repos`).
    pub linked: bool,
    /// How: `commented on lsst/pkg#5`, or `linked to DM-1 in Jira`.
    pub link: Option<String>,
}

/// Where a pull request stands on GitHub.
#[derive(Debug, Clone)]
pub(super) struct PullState {
    pub merged: bool,
    pub merged_at: Option<chrono::DateTime<chrono::Utc>>,
    pub merge_commit: Option<String>,
    /// The combined check state of its head commit.
    pub checks: Option<String>,
}

/// The GitHub side of `--pr`, set up (and the token checked) before anything is picked.
pub(super) struct PullRequests {
    rt: tokio::runtime::Runtime,
    client: GithubClient,
    repos: Vec<RepoRef>,
    /// `[jira]`, when configured: each pull request is linked to its ticket there.
    jira: Option<portcullis_trackers::jira::JiraTracker>,
}

impl PullRequests {
    /// `[github]` and its token, checked; every repository the plan picks in must be listed.
    pub(super) fn connect(ws: &Workspace, plan: &Plan) -> Result<PullRequests> {
        let cfg = ws
            .config
            .as_ref()
            .and_then(|c| c.github.clone())
            .ok_or_else(|| {
                Error::input("--pr needs GitHub: no [github] table in portcullis.toml").hint(
                    "add [github] with `url` and `repos = [\"owner/name\", …]` naming the repositories",
                )
            })?;
        let repos = cfg
            .repos
            .iter()
            .map(|r| RepoRef::parse(r))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        for r in plan.repos.iter().filter(|r| !r.picks.is_empty()) {
            if !repos.iter().any(|g| g.name.eq_ignore_ascii_case(&r.repo)) {
                return Err(Error::input(format!(
                    "--pr: repository `{}` is not in github.repos",
                    r.repo
                ))
                .hint("list it as \"owner/name\" in the [github] table of portcullis.toml"));
            }
        }
        let creds = github_credentials(ws.credentials_file().as_deref())?;
        if creds.is_none() {
            return Err(Error::input("--pr needs a GitHub token").hint(
                "set PORTCULLIS_GITHUB_TOKEN, or `token` in the [github] table of the credentials file",
            ));
        }
        let mut prs = Self::with(&cfg, repos, creds)?;
        if let Some(jira) = ws.config.as_ref().and_then(|c| c.jira.clone()) {
            // A Jira that cannot be reached costs the links, not the pull requests.
            match prs
                .rt
                .block_on(crate::tracker::connect_jira(ws, &jira, None))
            {
                Ok((tracker, _)) => prs.jira = Some(tracker),
                Err(e) => {
                    tracing::warn!(error = ?e, "Jira unreachable: pull requests will not be linked to their tickets")
                }
            }
        }
        Ok(prs)
    }

    /// `[github]` with its token, when both are there (for `backports`); `None` otherwise.
    pub(super) fn configured(ws: &Workspace) -> Result<Option<PullRequests>> {
        let Some(cfg) = ws.config.as_ref().and_then(|c| c.github.clone()) else {
            return Ok(None);
        };
        let repos = cfg
            .repos
            .iter()
            .map(|r| RepoRef::parse(r))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let creds = github_credentials(ws.credentials_file().as_deref())?;
        if creds.is_none() {
            return Ok(None);
        }
        Self::with(&cfg, repos, creds).map(Some)
    }

    fn with(
        cfg: &crate::config::GithubConfig,
        repos: Vec<RepoRef>,
        creds: Option<crate::credentials::GithubCredentials>,
    ) -> Result<PullRequests> {
        let opts = GithubClientOptions {
            timeout: std::time::Duration::from_secs(cfg.timeout_seconds),
            max_retries: cfg.max_retries,
            ..GithubClientOptions::default()
        };
        let rt = crate::tracker::runtime()?;
        let (client, _) =
            rt.block_on(GithubClient::connect(&cfg.url, repos.clone(), creds, opts))?;
        Ok(PullRequests {
            rt,
            client,
            repos,
            jira: None,
        })
    }

    /// Where pull request `number` of `github_repo` (`owner/name`) stands.
    pub(super) fn state(&self, github_repo: &str, number: u64) -> Result<PullState> {
        let repo = RepoRef::parse(github_repo)?;
        self.rt.block_on(async {
            let p = self.client.pull(&repo, number).await?;
            let sha = p.head.as_ref().map(|h| h.sha.clone()).unwrap_or_default();
            let checks = if sha.is_empty() {
                None
            } else {
                Some(self.client.check_state(&repo, &sha).await?)
            };
            Ok(PullState {
                merged: p.merged.unwrap_or(false) || p.merged_at.is_some(),
                merged_at: p.merged_at,
                merge_commit: p.merge_commit_sha,
                checks,
            })
        })
    }

    /// Open (or find) the pull request of one repository's ticket branch, with the event of
    /// one that was opened.
    pub(super) fn open(
        &self,
        ledger: &Ledger,
        ws: &Workspace,
        plan: &Plan,
        r: &RepoPlan,
        req: &BackportRequest,
    ) -> Result<(PrOutcome, Option<NewEvent>)> {
        let Some(gh) = self
            .repos
            .iter()
            .find(|g| g.name.eq_ignore_ascii_case(&r.repo))
        else {
            return Err(Error::internal(format!(
                "{} is not in github.repos",
                r.repo
            )));
        };
        let (title, body) = texts(ledger, ws, plan, r)?;
        let opened = self.rt.block_on(self.client.open_pull(
            gh,
            &plan.branch,
            &plan.release_branch,
            &title,
            &body,
        ));
        let mut out = PrOutcome {
            repo: r.repo.clone(),
            github_repo: gh.full_name(),
            number: None,
            url: None,
            existed: false,
            error: None,
            linked: false,
            link: None,
        };
        let p = match opened {
            Ok(p) => p,
            Err(e) => {
                // Reported per repository; the chain of causes is kept in the log.
                tracing::warn!(repo = %r.repo, error = ?e, "opening the pull request failed");
                out.error = Some(portcullis_core::error::chain(&e));
                return Ok((out, None));
            }
        };
        out.number = Some(p.number);
        out.url = p.url.clone();
        out.existed = p.existed;
        if let Some((issue_repo, issue)) = self.client.repo_for_key(&plan.key) {
            // A GitHub issue: one comment naming the pull request, found again by its marker.
            let (issue_repo, pr) = (
                issue_repo.clone(),
                format!("{}#{}", gh.full_name(), p.number),
            );
            match self.rt.block_on(comment_once(
                &self.client,
                &issue_repo,
                issue,
                plan,
                &pr,
                p.url.as_deref(),
            )) {
                Ok(()) => {
                    out.linked = true;
                    out.link = Some(format!("commented on {}#{issue}", issue_repo.full_name()));
                }
                Err(e) => {
                    tracing::warn!(ticket = %plan.key, error = ?e, "commenting the pull request on the ticket's issue failed")
                }
            }
        } else if let (Some(jira), Some(url)) = (&self.jira, &p.url) {
            let title = format!("{} pull request {}#{}", plan.line, gh.full_name(), p.number);
            let global = format!("portcullis-backport:{}#{}", gh.full_name(), p.number);
            match self
                .rt
                .block_on(jira.client.add_remote_link(&plan.key, &global, url, &title))
            {
                Ok(()) => {
                    out.linked = true;
                    out.link = Some(format!("linked to {} in Jira", plan.key));
                }
                // The pull request stands; the log keeps why the link did not.
                Err(e) => {
                    tracing::warn!(ticket = %plan.key, error = ?e, "linking the pull request to the ticket failed")
                }
            }
        }
        // Recorded for one found open too (opened by hand, or by a run stopped before it
        // recorded it): once, by its dedup key.
        let ev = Some({
            let mut e = event(
                plan,
                req,
                kind::BACKPORT_PR_OPENED,
                json!({
                    "repo": r.repo,
                    "github_repo": gh.full_name(),
                    "number": p.number,
                    "url": p.url,
                    "branch": plan.branch,
                    "base": plan.release_branch,
                    "existed": p.existed,
                }),
            );
            e.dedup_key = Some(format!(
                "backport.pr:{}:{}:{}:{}",
                plan.key, plan.line, r.repo, p.number
            ));
            e
        });
        Ok((out, ev))
    }
}

/// The hidden marker of the comment naming backport pull request `pr` (`owner/name#N`).
fn marker(pr: &str) -> String {
    format!("<!-- portcullis-backport:{pr} -->")
}

/// Comment on GitHub issue `number` of `repo` (the ticket) that `pr` backports it to the line,
/// unless a comment with its marker is there already (a rerun, or a run stopped after it).
async fn comment_once(
    client: &GithubClient,
    repo: &RepoRef,
    number: u64,
    plan: &Plan,
    pr: &str,
    url: Option<&str>,
) -> Result<()> {
    let mark = marker(pr);
    let comments = client.comment_bodies(repo, number).await?;
    if comments.iter().any(|c| c.body.contains(&mark)) {
        return Ok(());
    }
    let link = url.map(|u| format!(" ({u})")).unwrap_or_default();
    let body = format!(
        "Backport to {} ({}): {pr}{link}\n\n{mark}",
        plan.line, plan.release_branch
    );
    client.add_comment(repo, number, &body).await?;
    Ok(())
}

/// The pull request's title and body from the policy's templates.
fn texts(ledger: &Ledger, ws: &Workspace, plan: &Plan, r: &RepoPlan) -> Result<(String, String)> {
    let events = ledger.events_for_ticket(&plan.key)?;
    let derived = derive_ticket(&ws.policy, &plan.key, &events);
    let approval = match derived.lines.get(&plan.line) {
        Some(st) if plan.approved() => {
            let mut a = format!(
                "Approved by {}",
                st.approved_by.as_deref().unwrap_or("the committee")
            );
            if let Some(at) = st.approved_at {
                a.push_str(&format!(" on {}", at.date_naive()));
            }
            if let Some(d) = st.last_meeting {
                a.push_str(&format!(" in the meeting of {d}"));
            }
            if let Some(n) = &st.last_note {
                a.push_str(&format!(": {n}"));
            }
            a
        }
        _ => format!(
            "Not approved ({}): backported as a policy exception",
            plan.state.describe()
        ),
    };
    let commits: Vec<String> = r
        .picks
        .iter()
        .map(|p| format!("- {} {}", &p.sha[..10.min(p.sha.len())], p.subject))
        .collect();
    let commits = commits.join("\n");
    let b = &ws.policy.policy.backport;
    let values = [
        ("key", plan.key.as_str()),
        ("summary", plan.summary.as_str()),
        ("line", plan.line.as_str()),
        ("branch", plan.branch.as_str()),
        ("release_branch", plan.release_branch.as_str()),
        ("repo", r.repo.as_str()),
        ("commits", commits.as_str()),
        ("approval", approval.as_str()),
    ];
    Ok((
        Backport::fill(&b.pr_title, &values),
        Backport::fill(&b.pr_body, &values),
    ))
}
