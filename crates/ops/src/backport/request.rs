//! What a backport is asked to do and what it did in each repository, and the `backport.*`
//! events it records: the vocabulary that carrying it out (`run`), the conflicts, the pushes,
//! the pull requests and resuming share.

use serde::Serialize;

use super::{Plan, PlanStatus};
use portcullis_core::event::{source, NewEvent};
use portcullis_core::time::now;
use portcullis_git::pick::{Conflict, Picked};

/// A backport to carry out.
#[derive(Debug, Clone, Default)]
pub struct BackportRequest {
    pub key: String,
    pub line: Option<String>,
    /// Only these repositories (default: every one the ticket touched).
    pub repos: Vec<String>,
    /// Plan and try the picks in memory; write nothing, record nothing.
    pub dry_run: bool,
    /// Backport a ticket that is not approved; recorded as a violation with `note`.
    pub force: bool,
    pub note: Option<String>,
    pub actor: String,
    /// Push each ticket branch written (or already there) to the policy's `push_remote`.
    pub push: bool,
    /// Push, then open a pull request from each ticket branch into the release branch.
    pub pr: bool,
}

/// A main-side commit a conflicting pick needs first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dependency {
    pub sha: String,
    pub subject: String,
    /// Its ticket, when the scan knows it.
    pub ticket: Option<String>,
}

/// What happened in one repository.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RepoOutcome {
    /// The branch was written (or, in a dry run, would be).
    Picked {
        repo: String,
        branch: String,
        tip: Option<String>,
        picks: Vec<Picked>,
        /// The existing branch tip the picks continued.
        continued: Option<String>,
    },
    /// The branch already holds every pick: nothing to do.
    UpToDate { repo: String, branch: String },
    /// A pick conflicts: the repository's branches are as they were.
    Conflict {
        repo: String,
        conflict: Conflict,
        dependencies: Vec<Dependency>,
        /// Where the conflicting pick waits to be resolved (not in a dry run).
        worktree: Option<String>,
        /// The commit the picks went onto (the release tip, or an existing branch's tip).
        base: String,
    },
    /// Not done, and why (an existing branch with other commits, a release branch that keeps
    /// moving, a worktree waiting).
    Refused { repo: String, reason: String },
    /// Nothing to pick here (landed, no release branch, not required, unreadable).
    Skipped {
        repo: String,
        status: PlanStatus,
        problems: Vec<String>,
    },
}

impl RepoOutcome {
    /// Whether this repository still needs someone's attention.
    pub fn needs_attention(&self) -> bool {
        matches!(
            self,
            RepoOutcome::Conflict { .. }
                | RepoOutcome::Refused { .. }
                | RepoOutcome::Skipped {
                    status: PlanStatus::Unverifiable,
                    ..
                }
        )
    }
}

/// A `backport.*` event of `plan`, recorded by `req.actor` with `req.note`.
pub(super) fn event(
    plan: &Plan,
    req: &BackportRequest,
    k: &'static str,
    payload: serde_json::Value,
) -> NewEvent {
    NewEvent {
        ticket: Some(plan.key.clone()),
        line: Some(plan.line.clone()),
        kind: k,
        source: source::LOCAL.into(),
        actor: Some(req.actor.clone()),
        at: now(),
        meeting: None,
        note: req
            .note
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string),
        payload,
        dedup_key: None,
    }
}
