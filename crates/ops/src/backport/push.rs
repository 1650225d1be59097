//! `backport --push`: each ticket branch pushed to the policy's remote, and the
//! `backport.pushed` event of a push that went through.

use serde::Serialize;
use serde_json::json;

use super::request::{event, BackportRequest, RepoOutcome};
use super::{Plan, RepoPlan};
use crate::workspace::Workspace;
use crate::Result;
use portcullis_core::event::{kind, NewEvent};
use portcullis_git::pick;

/// One `git push` of a ticket branch.
#[derive(Debug, Clone, Serialize)]
pub struct PushOutcome {
    pub repo: String,
    pub branch: String,
    pub remote: String,
    pub pushed: bool,
    /// What git said when it refused (credentials in URLs masked).
    pub error: Option<String>,
}

/// Push the ticket branch of a repository whose picks are on it (written now or before), and
/// the `backport.pushed` event of a push that went through (one per branch tip).
pub(super) fn push_branch(
    ws: &Workspace,
    plan: &Plan,
    r: &RepoPlan,
    out: &RepoOutcome,
    req: &BackportRequest,
) -> Result<Option<(PushOutcome, Option<NewEvent>)>> {
    if !matches!(
        out,
        RepoOutcome::Picked { .. } | RepoOutcome::UpToDate { .. }
    ) {
        return Ok(None);
    }
    let remote = ws.policy.policy.backport.push_remote.clone();
    let result = pick::push(&r.path, &remote, &plan.branch)?;
    let tip = git2::Repository::open(&r.path)?
        .refname_to_id(&format!("refs/heads/{}", plan.branch))
        .map(|o| o.to_string())
        .unwrap_or_default();
    let event = result.is_ok().then(|| {
        let mut e = event(
            plan,
            req,
            kind::BACKPORT_PUSHED,
            json!({ "repo": r.repo, "branch": plan.branch, "remote": remote, "tip": tip }),
        );
        e.dedup_key = Some(format!(
            "backport.pushed:{}:{}:{}:{remote}:{tip}",
            plan.key, plan.line, r.repo
        ));
        e
    });
    Ok(Some((
        PushOutcome {
            repo: r.repo.clone(),
            branch: plan.branch.clone(),
            remote,
            pushed: result.is_ok(),
            error: result.err(),
        },
        event,
    )))
}
