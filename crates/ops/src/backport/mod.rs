//! `backport`: carry out an approved ticket's backport. For each repository the ticket touched
//! on main, its main-side commits that are not on the release branch yet, in main's order (the
//! plan, read from the verifier's scans and verdicts: one scanner), cherry-picked in memory onto
//! the release branch tip; the ticket branch (policy `[backport] branch_pattern`) is written
//! only when every pick in that repository is clean.
//!
//! - [`plan`] returns what would be picked where, and writes nothing.
//! - [`backport()`] (in `run.rs`) checks the approval (refused without `force`; with it, the
//!   `backport.started` event carries the violation and its reason), the clones (a dirty
//!   worktree is refused), an existing ticket branch (the same picks: nothing to do; a prefix
//!   of them: the rest are added; anything else: refused), picks, and records `backport.*`
//!   events. A release branch that moved since the plan is planned again, never written
//!   stale. A conflict leaves the repository's branches as they were; it prepares a worktree
//!   (beside the ledger) with the conflicting pick in progress, to resolve by hand and finish
//!   with [`resume::resume`] (`--continue`), or drop (`--abort`).
//! - [`links::landing_pull_requests`] names, for `verify`, the pull request a landing came
//!   through.
//! - [`list::backports`] lists the approved tickets that have not landed, with where their
//!   backport stands in each repository.
//!
//! None of the `backport.*` events changes a ticket's derived state; a forced
//! `backport.started` is a `backport_unapproved` violation on the line (`status`, `history`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::verify::{scan_line, Quiet, VerifyOptions};
use crate::workspace::Workspace;
use crate::{Error, Result};
use portcullis_core::event::derive_ticket;
use portcullis_core::landing::RepoLandingStatus;
use portcullis_core::policy::Line;
use portcullis_core::workflow::State;
use portcullis_git::scan::{resolve_repo_path, RepoScan, ScanStatus};
use portcullis_git::verify::{ticket_landings, Verification};
use portcullis_ledger::Ledger;

pub mod bot;
mod conflict;
pub mod links;
pub mod list;
mod pr;
mod push;
mod request;
pub mod resume;
mod run;
pub mod trial;

pub use pr::PrOutcome;
pub use push::PushOutcome;
pub use request::{BackportRequest, Dependency, RepoOutcome};
pub use run::{backport, execute, BackportOutcome};
pub use trial::dry_runs;

/// What a backport of one ticket on one line would pick, per repository.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub key: String,
    pub line: String,
    pub summary: String,
    /// The ticket's state on the line (`none` when the ledger does not know it).
    pub state: State,
    /// The release branch picks go onto.
    pub release_branch: String,
    /// The ticket branch the picks are written to.
    pub branch: String,
    pub repos: Vec<RepoPlan>,
}

impl Plan {
    /// Whether the ledger holds an approval for the ticket on the line (approved or done).
    pub fn approved(&self) -> bool {
        matches!(self.state, State::Approved | State::Done)
    }
}

/// Where a repository stands for the backport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanStatus {
    /// Main-side commits to pick.
    ToPick,
    /// Every main-side commit is on the release branch already.
    Landed,
    /// The release branch does not exist in this repository.
    BranchMissing,
    /// The policy does not require the ticket here (`skip_tickets`, `require_landing`).
    NotRequired,
    /// The repository could not be read (see `problems`).
    Unverifiable,
}

/// One main-side commit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedCommit {
    pub sha: String,
    pub subject: String,
}

/// One repository of a plan.
#[derive(Debug, Clone, Serialize)]
pub struct RepoPlan {
    pub repo: String,
    /// The clone, resolved.
    #[serde(skip)]
    pub path: PathBuf,
    pub status: PlanStatus,
    pub release_tip: Option<String>,
    pub branch_point: Option<String>,
    /// The commits to pick, in main's order.
    pub picks: Vec<PlannedCommit>,
    /// The ticket's main-side commits already on the release branch.
    pub landed: Vec<String>,
    pub problems: Vec<String>,
}

/// The ticket's state on a line, derived from the ledger.
pub(crate) fn ticket_state(
    ledger: &Ledger,
    ws: &Workspace,
    key: &str,
    line: &str,
) -> Result<(State, String)> {
    let events = ledger.events_for_ticket(key)?;
    let derived = derive_ticket(&ws.policy, key, &events);
    let state = derived.lines.get(line).map_or(State::None, |s| s.state);
    Ok((state, derived.info.summary))
}

/// Plan the backport of `key` on `line` (default: the policy's only line), in `repos` (default:
/// every repository of the line). Writes nothing.
pub fn plan(ws: &Workspace, key: &str, line: Option<&str>, repos: &[String]) -> Result<Plan> {
    let line = ws.policy.resolve_line(line)?;
    check_key(ws, key)?;
    let ledger = ws.open_ledger()?;
    let verification = scan(ws, &ledger, line, repos)?;
    let (state, summary) = ticket_state(&ledger, ws, key, &line.name)?;
    Ok(plan_from(ws, &verification, line, key, state, summary))
}

pub(crate) fn check_key(ws: &Workspace, key: &str) -> Result<()> {
    if ws.policy.key_matches(key) {
        Ok(())
    } else {
        Err(Error::input(format!(
            "`{key}` is not a ticket key under this policy (pattern `{}`)",
            ws.policy.policy.ticket_key
        ))
        .hint("check the key for typos"))
    }
}

/// The verifier's scans and verdicts of `line` (nothing recorded).
pub(crate) fn scan(
    ws: &Workspace,
    ledger: &Ledger,
    line: &Line,
    repos: &[String],
) -> Result<Verification> {
    let opts = VerifyOptions {
        line: Some(line.name.clone()),
        repos: repos.to_vec(),
        ..Default::default()
    };
    Ok(scan_line(ws, ledger, line, &opts, &Quiet)?.0)
}

/// The clone of repository `repo`, resolved against the policy's directory.
pub(crate) fn repo_path(ws: &Workspace, repo: &str) -> PathBuf {
    let dir = ws
        .policy_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let path = ws
        .policy
        .policy
        .repositories
        .iter()
        .find(|r| r.name == repo)
        .map(|r| r.path.clone())
        .unwrap_or_default();
    resolve_repo_path(&dir, &path)
}

/// The plan of `key` from a verification of its line.
pub(crate) fn plan_from(
    ws: &Workspace,
    v: &Verification,
    line: &Line,
    key: &str,
    state: State,
    summary: String,
) -> Plan {
    let report = v.tickets.iter().find(|t| t.key == key);
    let landings = match report {
        Some(t) => t.repos.clone(),
        None => ticket_landings(&ws.policy, line, &v.repositories, key),
    };
    let mut repos = Vec::new();
    for r in &landings {
        let Some(scan) = v.repositories.iter().find(|s| s.repo == r.repo) else {
            continue;
        };
        if r.main_commits.is_empty() {
            // Release-only commits of the ticket: nothing on main to pick.
            continue;
        }
        let status = if scan.status == ScanStatus::Unverifiable {
            PlanStatus::Unverifiable
        } else if r.status == RepoLandingStatus::BranchMissing {
            PlanStatus::BranchMissing
        } else if r.missing.is_empty() {
            PlanStatus::Landed
        } else if !r.required {
            PlanStatus::NotRequired
        } else {
            PlanStatus::ToPick
        };
        let picks = if status == PlanStatus::ToPick {
            in_main_order(scan, &r.missing)
        } else {
            Vec::new()
        };
        repos.push(RepoPlan {
            repo: r.repo.clone(),
            path: repo_path(ws, &r.repo),
            status,
            release_tip: scan.release_tip.clone(),
            branch_point: scan.branch_point.as_ref().map(|b| b.sha.clone()),
            picks,
            landed: r.landed.iter().map(|l| l.main_commit.clone()).collect(),
            problems: scan.problems.clone(),
        });
    }
    let summary = if summary.is_empty() {
        report.map(|t| t.summary.clone()).unwrap_or_default()
    } else {
        summary
    };
    Plan {
        key: key.to_string(),
        line: line.name.clone(),
        summary,
        state,
        release_branch: line.branch.clone(),
        branch: ws.policy.policy.backport.branch(key, &line.name),
        repos,
    }
}

/// `shas` in the order main has them (oldest first), with their subjects.
fn in_main_order(scan: &RepoScan, shas: &[String]) -> Vec<PlannedCommit> {
    let pos: HashMap<&str, usize> = scan
        .main_commits
        .iter()
        .enumerate()
        .map(|(i, c)| (c.sha.as_str(), i))
        .collect();
    let mut out: Vec<(usize, PlannedCommit)> = shas
        .iter()
        .map(|s| {
            let i = pos.get(s.as_str()).copied().unwrap_or(usize::MAX);
            let subject = scan
                .main_commits
                .get(i)
                .map(|c| c.subject.clone())
                .unwrap_or_default();
            (
                i,
                PlannedCommit {
                    sha: s.clone(),
                    subject,
                },
            )
        })
        .collect();
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, c)| c).collect()
}
