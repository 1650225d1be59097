//! Dry runs of several tickets from one scan of their line: [`dry_runs`] (as the bot plans its
//! round) and [`try_approved`] (`backports --dry-run`: every approved ticket not landed
//! everywhere, summed up per repository as clean, conflict or nothing to do). Nothing is
//! written or recorded.

use serde::Serialize;

use super::list::pending;
use super::request::{BackportRequest, Dependency, RepoOutcome};
use super::run::{execute, BackportOutcome};
use super::{plan_from, scan, ticket_state, PlanStatus};
use crate::workspace::Workspace;
use crate::Result;
use portcullis_core::policy::Line;
use portcullis_git::verify::Verification;

/// Dry runs of several tickets on one line from one scan of it (as the bot plans its round):
/// each ticket's plan and picks in memory, nothing written or recorded. A dry run per ticket
/// through [`super::backport`] would scan every repository again for each.
pub fn dry_runs(
    ws: &Workspace,
    line: Option<&str>,
    keys: &[String],
    actor: &str,
) -> Result<Vec<BackportOutcome>> {
    let line = ws.policy.resolve_line(line)?;
    for key in keys {
        super::check_key(ws, key)?;
    }
    let verification = ws.read_ledger(|ledger| scan(ws, ledger, line, &[]))?;
    dry_runs_in(ws, line, &verification, keys, actor)
}

/// [`dry_runs`] from a verification of `line` already made.
fn dry_runs_in(
    ws: &Workspace,
    line: &Line,
    verification: &Verification,
    keys: &[String],
    actor: &str,
) -> Result<Vec<BackportOutcome>> {
    let plans = ws.read_ledger(|ledger| {
        keys.iter()
            .map(|key| {
                let (state, summary) = ticket_state(ledger, ws, key, &line.name)?;
                Ok(plan_from(ws, verification, line, key, state, summary))
            })
            .collect::<Result<Vec<_>>>()
    })?;
    plans
        .into_iter()
        .map(|plan| {
            let req = BackportRequest {
                key: plan.key.clone(),
                line: Some(line.name.clone()),
                dry_run: true,
                actor: actor.to_string(),
                ..Default::default()
            };
            execute(ws, plan, verification, &req)
        })
        .collect()
}

/// What a dry run found in one repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrialResult {
    /// Every pick applies: `backport KEY` would write the branch.
    Clean,
    /// A pick conflicts (see the files and the commits it needs first).
    Conflict,
    /// Nothing to pick: landed already, not required, or the branch holds every pick.
    NothingToDo,
    /// It cannot be tried: no release branch, an unreadable clone, or a ticket branch with
    /// other commits.
    Blocked,
}

impl TrialResult {
    pub fn as_str(self) -> &'static str {
        match self {
            TrialResult::Clean => "clean",
            TrialResult::Conflict => "conflict",
            TrialResult::NothingToDo => "nothing to do",
            TrialResult::Blocked => "blocked",
        }
    }
}

/// One ticket in one repository.
#[derive(Debug, Clone, Serialize)]
pub struct RepoTrial {
    pub repo: String,
    pub result: TrialResult,
    /// The picks that would be made (clean), or made before the conflicting one.
    pub picks: usize,
    /// The conflicting files.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// The main-side commits that changed those lines and are not on the release branch.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<Dependency>,
    /// Why there is nothing to do, or why it is blocked.
    pub reason: Option<String>,
}

/// One ticket's dry run.
#[derive(Debug, Clone, Serialize)]
pub struct TicketTrial {
    pub key: String,
    pub summary: String,
    pub repos: Vec<RepoTrial>,
}

/// `backports --dry-run`.
#[derive(Debug, Clone, Serialize)]
pub struct Trial {
    pub line: String,
    pub release_branch: String,
    pub tickets: Vec<TicketTrial>,
}

/// Try every approved ticket of `line` not landed everywhere (in `repos`, or every
/// repository), from one scan: each ticket's picks in memory, nothing written or recorded.
pub fn try_approved(
    ws: &Workspace,
    line: Option<&str>,
    repos: &[String],
    actor: &str,
) -> Result<Trial> {
    let line = ws.policy.resolve_line(line)?;
    let v = ws.read_ledger(|ledger| scan(ws, ledger, line, repos))?;
    let keys: Vec<String> = pending(&v).map(|t| t.key.clone()).collect();
    let mut tickets: Vec<TicketTrial> = dry_runs_in(ws, line, &v, &keys, actor)?
        .into_iter()
        .map(|o| TicketTrial {
            key: o.plan.key.clone(),
            summary: o.plan.summary.clone(),
            repos: o.repos.iter().map(summarise).collect(),
        })
        .collect();
    tickets.sort_by(|a, b| portcullis_core::event::key_order(&a.key, &b.key));
    Ok(Trial {
        line: line.name.clone(),
        release_branch: line.branch.clone(),
        tickets,
    })
}

fn summarise(o: &RepoOutcome) -> RepoTrial {
    let trial = |repo: &str, result, reason: Option<String>| RepoTrial {
        repo: repo.to_string(),
        result,
        picks: 0,
        files: Vec::new(),
        dependencies: Vec::new(),
        reason,
    };
    match o {
        RepoOutcome::Picked { repo, picks, .. } => RepoTrial {
            picks: picks.len(),
            ..trial(repo, TrialResult::Clean, None)
        },
        RepoOutcome::UpToDate { repo, branch } => trial(
            repo,
            TrialResult::NothingToDo,
            Some(format!("{branch} already holds every pick")),
        ),
        RepoOutcome::Conflict {
            repo,
            conflict,
            dependencies,
            ..
        } => RepoTrial {
            picks: conflict.picked_before.len(),
            files: conflict.files.iter().map(|f| f.path.clone()).collect(),
            dependencies: dependencies.clone(),
            ..trial(repo, TrialResult::Conflict, None)
        },
        RepoOutcome::Refused { repo, reason } => {
            trial(repo, TrialResult::Blocked, Some(reason.clone()))
        }
        RepoOutcome::Skipped {
            repo,
            status,
            problems,
        } => {
            let (result, why) = match status {
                PlanStatus::Landed => (TrialResult::NothingToDo, "on the release branch already"),
                PlanStatus::NotRequired => {
                    (TrialResult::NothingToDo, "not required here by the policy")
                }
                PlanStatus::BranchMissing => (TrialResult::Blocked, "no release branch"),
                PlanStatus::Unverifiable | PlanStatus::ToPick => {
                    (TrialResult::Blocked, "could not be read")
                }
            };
            let mut reason = why.to_string();
            if !problems.is_empty() {
                reason = format!("{reason}: {}", problems.join("; "));
            }
            trial(repo, result, Some(reason))
        }
    }
}
