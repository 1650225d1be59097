//! `backports`: the approved tickets of a line that have not landed everywhere, and where
//! their backport stands in each repository that still misses commits.

use std::collections::BTreeMap;

use serde::Serialize;

use super::pr::{PullRequests, PullState};
use super::resume::last_events;
use super::{plan_from, scan, PlanStatus};
use crate::workspace::Workspace;
use crate::Result;
use portcullis_core::event::{kind, source, NewEvent};
use portcullis_core::landing::TicketLandingStatus;
use portcullis_core::policy::Line;
use portcullis_core::time::now;
use portcullis_core::workflow::State;
use portcullis_git::pick;
use portcullis_git::verify::{TicketReport, Verification};
use serde_json::json;

/// Where a ticket's backport stands in one repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RepoState {
    /// Nothing picked yet.
    NotStarted,
    /// The ticket branch exists (picked by portcullis or by hand).
    Branch,
    /// The ticket branch exists and `backport --pr` opened its pull request.
    PullRequest,
    /// Its pull request was merged (`verify` sees the landing once the clone has it).
    Merged,
    /// The last attempt conflicted.
    Conflict,
    /// The release branch is missing, or the clone could not be read.
    Blocked,
}

impl RepoState {
    pub fn as_str(self) -> &'static str {
        match self {
            RepoState::NotStarted => "not started",
            RepoState::Branch => "branch",
            RepoState::PullRequest => "pull request",
            RepoState::Merged => "merged",
            RepoState::Conflict => "conflict",
            RepoState::Blocked => "blocked",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RepoBackport {
    pub repo: String,
    pub state: RepoState,
    /// Main-side commits still to pick.
    pub missing: usize,
    pub branch: String,
    /// The conflict's worktree, when one waits.
    pub worktree: Option<String>,
    /// The pull request `backport --pr` opened (`owner/name#n`).
    pub pull_request: Option<String>,
    /// Its combined check state on GitHub (`pending`, `success`, `failure`, `error`), when
    /// `[github]` is configured and answered.
    pub checks: Option<String>,
}

impl RepoBackport {
    /// The state as one phrase, naming the pull request and its checks when there are
    /// (`pull request lsst/pkg#2 (checks: success)`).
    pub fn describe(&self) -> String {
        match (&self.pull_request, &self.checks) {
            (Some(p), Some(c)) => format!("{} {p} (checks: {c})", self.state.as_str()),
            (Some(p), None) => format!("{} {p}", self.state.as_str()),
            _ => self.state.as_str().to_string(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TicketBackports {
    pub key: String,
    pub summary: String,
    pub repos: Vec<RepoBackport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Backports {
    pub line: String,
    pub release_branch: String,
    pub tickets: Vec<TicketBackports>,
}

/// The approved tickets of `line` not landed everywhere, with their state per repository.
pub fn backports(ws: &Workspace, line: Option<&str>, repos: &[String]) -> Result<Backports> {
    let line = ws.policy.resolve_line(line)?;
    // Read-only: a lost connection is retried once.
    let v = ws.read_ledger(|ledger| scan(ws, ledger, line, repos))?;
    backports_in(ws, line, &v)
}

/// [`backports`] from a verification of `line` already made (the triage screen's, after its
/// `verify`): the one way both read where each backport stands.
pub fn backports_in(ws: &Workspace, line: &Line, v: &Verification) -> Result<Backports> {
    // Read-only: a lost connection is retried once.
    let (last, pr_events) = ws.read_ledger(|ledger| {
        let last = last_events(ledger, &line.name)?;
        let prs = ledger.events_of_kinds(&[kind::BACKPORT_PR_OPENED, kind::BACKPORT_PR_MERGED])?;
        Ok((last, prs))
    })?;
    let mut prs: BTreeMap<(String, String), (String, u64)> = BTreeMap::new();
    let mut merged: BTreeMap<(String, String), u64> = BTreeMap::new();
    for e in pr_events {
        if e.line.as_deref() != Some(line.name.as_str()) {
            continue;
        }
        let p = &e.payload;
        if let (Some(key), Some(repo), Some(gh), Some(n)) = (
            e.ticket.clone(),
            p["repo"].as_str(),
            p["github_repo"].as_str(),
            p["number"].as_u64(),
        ) {
            if e.kind == kind::BACKPORT_PR_MERGED {
                merged.insert((key, repo.to_string()), n);
            } else {
                prs.insert((key, repo.to_string()), (gh.to_string(), n));
            }
        }
    }
    let github = if prs.is_empty() {
        None
    } else {
        PullRequests::configured(ws)?
    };
    let mut seen_merged = Vec::new();
    let mut tickets = Vec::new();
    for t in pending(v) {
        let plan = plan_from(ws, v, line, &t.key, State::Approved, t.summary.clone());
        let last = last.get(&t.key).cloned().unwrap_or_default();
        let mut out = Vec::new();
        for r in &plan.repos {
            let state = match r.status {
                PlanStatus::Landed | PlanStatus::NotRequired => continue,
                PlanStatus::BranchMissing | PlanStatus::Unverifiable => RepoState::Blocked,
                PlanStatus::ToPick => {
                    let exists = r.release_tip.as_deref().is_some_and(|tip| {
                        git2::Oid::from_str(tip)
                            .ok()
                            .and_then(|tip| pick::branch_commits(&r.path, &plan.branch, tip).ok())
                            .flatten()
                            .is_some()
                    });
                    let pr = prs.contains_key(&(t.key.clone(), r.repo.clone()));
                    match last.get(&r.repo) {
                        _ if pr && merged.contains_key(&(t.key.clone(), r.repo.clone())) => {
                            RepoState::Merged
                        }
                        _ if exists && pr => RepoState::PullRequest,
                        _ if exists => RepoState::Branch,
                        Some((k, _)) if k == kind::BACKPORT_CONFLICT => RepoState::Conflict,
                        _ => RepoState::NotStarted,
                    }
                }
            };
            let worktree = match last.get(&r.repo) {
                Some((k, p)) if k == kind::BACKPORT_CONFLICT => p
                    .get("worktree")
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_string),
                _ => None,
            };
            let pr = prs.get(&(t.key.clone(), r.repo.clone()));
            let mut state = state;
            let mut checks = None;
            if let (Some((gh, n)), Some(client)) = (pr, &github) {
                {
                    match client.state(gh, *n) {
                        Ok(st) => {
                            checks = st.checks.clone();
                            if st.merged && state != RepoState::Merged {
                                state = RepoState::Merged;
                                seen_merged
                                    .push(merged_event(&line.name, &t.key, &r.repo, gh, *n, &st));
                            }
                        }
                        // The list still shows what the ledger knows; the log says why not more.
                        Err(e) => {
                            tracing::warn!(repo = %r.repo, error = ?e, "reading the pull request failed")
                        }
                    }
                }
            }
            out.push(RepoBackport {
                repo: r.repo.clone(),
                state,
                missing: r.picks.len(),
                branch: plan.branch.clone(),
                worktree,
                pull_request: pr.map(|(gh, n)| format!("{gh}#{n}")),
                checks,
            });
        }
        tickets.push(TicketBackports {
            key: t.key.clone(),
            summary: t.summary.clone(),
            repos: out,
        });
    }
    if !seen_merged.is_empty() {
        let mut ledger = ws.open_ledger()?;
        let mut tx = ledger.transaction()?;
        for e in seen_merged {
            tx.append(e)?;
        }
        tx.commit_with(&ws.policy)?;
    }
    tickets.sort_by(|a, b| portcullis_core::event::key_order(&a.key, &b.key));
    Ok(Backports {
        line: line.name.clone(),
        release_branch: line.branch.clone(),
        tickets,
    })
}

/// The tickets `backports` lists: approved on the line and not landed everywhere.
pub(super) fn pending(v: &Verification) -> impl Iterator<Item = &TicketReport> {
    v.tickets.iter().filter(|t| {
        t.state.as_deref() == Some(State::Approved.as_str())
            && t.status != TicketLandingStatus::Landed
    })
}

/// The `backport.pr_merged` event of a pull request seen merged (once: its dedup key).
fn merged_event(
    line: &str,
    key: &str,
    repo: &str,
    github_repo: &str,
    number: u64,
    st: &PullState,
) -> NewEvent {
    NewEvent {
        ticket: Some(key.to_string()),
        line: Some(line.to_string()),
        kind: kind::BACKPORT_PR_MERGED,
        source: source::LOCAL.into(),
        actor: None,
        at: st.merged_at.unwrap_or_else(now),
        meeting: None,
        note: None,
        payload: json!({
            "repo": repo,
            "github_repo": github_repo,
            "number": number,
            "merged_at": st.merged_at,
            "merge_commit": st.merge_commit,
        }),
        dedup_key: Some(format!("backport.pr_merged:{key}:{line}:{repo}:{number}")),
    }
}
