//! Carrying a plan out: the approval, the clones' state, an existing ticket branch, the picks in
//! memory, the branch written only when every pick in the repository is clean, the conflict
//! worktree, and the `backport.*` events.

use std::path::Path;

use git2::Oid;
use serde::Serialize;
use serde_json::json;

use super::conflict::{dependencies_of, prepare_worktree};
use super::push::{push_branch, PushOutcome};
use super::request::{event, BackportRequest, RepoOutcome};
use super::{plan_from, scan, ticket_state, Plan, PlanStatus, RepoPlan};
use crate::workspace::Workspace;
use crate::{Error, Result};
use portcullis_core::event::{kind, NewEvent};
use portcullis_core::workflow::State;
use portcullis_git::pick::{self, PickOptions, Prepare, Refused};
use portcullis_git::verify::Verification;

/// What `backport` did.
#[derive(Debug, Clone, Serialize)]
pub struct BackportOutcome {
    pub plan: Plan,
    pub dry_run: bool,
    /// Recorded as a policy exception (`--force` on a ticket that is not approved).
    pub forced: bool,
    pub violations: Vec<String>,
    pub repos: Vec<RepoOutcome>,
    /// With `push`: what each push of a ticket branch did.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pushes: Vec<PushOutcome>,
    /// With `pr`: the pull request of each pushed branch.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pull_requests: Vec<super::PrOutcome>,
}

impl BackportOutcome {
    /// Exit 1: a conflict, a refusal or a rejected push somewhere.
    pub fn failed(&self) -> bool {
        self.repos.iter().any(RepoOutcome::needs_attention)
            || self.pushes.iter().any(|p| !p.pushed)
            || self.pull_requests.iter().any(|p| p.error.is_some())
    }
}

/// Plan and carry out the backport of `req.key`.
pub fn backport(ws: &Workspace, req: &BackportRequest) -> Result<BackportOutcome> {
    let line = ws.policy.resolve_line(req.line.as_deref())?;
    super::check_key(ws, &req.key)?;
    let ledger = ws.open_ledger()?;
    let verification = scan(ws, &ledger, line, &req.repos)?;
    let (state, summary) = ticket_state(&ledger, ws, &req.key, &line.name)?;
    let plan = plan_from(ws, &verification, line, &req.key, state, summary);
    drop(ledger);
    execute(ws, plan, &verification, req)
}

/// Carry out `plan` (made from `verification`): see the module's documentation.
pub fn execute(
    ws: &Workspace,
    plan: Plan,
    verification: &Verification,
    req: &BackportRequest,
) -> Result<BackportOutcome> {
    let violations = approval(&plan, req)?;
    // GitHub is set up, and its token checked, before anything is picked.
    let github = if req.pr && !req.dry_run {
        Some(super::pr::PullRequests::connect(ws, &plan)?)
    } else {
        None
    };
    let mut ledger = ws.open_ledger()?;
    let waiting = super::resume::open_worktrees(&ledger, &plan.key, &plan.line)?;
    if !req.dry_run {
        refuse_dirty(&plan)?;
    }
    let opts = PickOptions {
        trailer: ws.policy.policy.backport.cherry_pick_trailer,
    };
    let mut outcomes = Vec::new();
    let mut pushes = Vec::new();
    let mut pull_requests = Vec::new();
    let mut started = false;
    let mut revoked: Option<State> = None;
    let mut paused = false;
    for r in &plan.repos {
        if r.status != PlanStatus::ToPick {
            outcomes.push(RepoOutcome::Skipped {
                repo: r.repo.clone(),
                status: r.status,
                problems: r.problems.clone(),
            });
            continue;
        }
        if let Some(w) = waiting.get(&r.repo).filter(|_| !req.dry_run) {
            outcomes.push(RepoOutcome::Refused {
                repo: r.repo.clone(),
                reason: format!(
                    "a conflicting pick waits in the worktree {}: resolve it and run `backport {} --continue`, or drop it with `--abort`",
                    w.worktree, plan.key
                ),
            });
            continue;
        }
        // An approval revoked while the run goes on stops it before the next repository.
        if plan.approved() && !req.dry_run && revoked.is_none() {
            let (now, _) = ticket_state(&ledger, ws, &plan.key, &plan.line)?;
            if !matches!(now, State::Approved | State::Done) {
                revoked = Some(now);
            }
        }
        if let Some(now) = revoked {
            outcomes.push(RepoOutcome::Refused {
                repo: r.repo.clone(),
                reason: format!(
                    "the approval of {} was withdrawn during the run (it is now {}); nothing picked here",
                    plan.key,
                    now.describe()
                ),
            });
            continue;
        }
        let out = pick_repo(ws, &plan, r, verification, req, &opts)?;
        let mut events = Vec::new();
        if !req.dry_run {
            if let Some(e) = outcome_event(&plan, r, &out, req) {
                // Only a run that picked or conflicted somewhere started a backport: a rerun
                // that finds every branch up to date records nothing.
                if !started {
                    events.push(started_event(&plan, req, &violations));
                    started = true;
                }
                events.push(e);
            }
        }
        if (req.push || req.pr) && !req.dry_run {
            if let Some((p, e)) = push_branch(ws, &plan, r, &out, req)? {
                events.extend(e);
                if let (Some(gh), true) = (&github, p.pushed) {
                    let (pr, e) = gh.open(&ledger, ws, &plan, r, req)?;
                    events.extend(e);
                    pull_requests.push(pr);
                }
                pushes.push(p);
            }
        }
        // Each repository's events as soon as its branch is written: an interrupted run
        // leaves no written branch unrecorded.
        if !events.is_empty() {
            let mut tx = ledger.transaction()?;
            for e in events {
                tx.append(e)?;
            }
            tx.commit_with(&ws.policy)?;
            if !paused {
                paused = true;
                pause_point(ws);
            }
        }
        outcomes.push(out);
    }
    Ok(BackportOutcome {
        forced: !violations.is_empty(),
        violations,
        dry_run: req.dry_run,
        plan,
        repos: outcomes,
        pushes,
        pull_requests,
    })
}

/// The failpoint `PORTCULLIS_FAILPOINT=backport.pause_after_repo` (for tests): once the first
/// repository's events are recorded, write `backport-paused` beside the ledger and wait (at most
/// a minute) until it is removed: the moment another process may change the ledger mid-run.
fn pause_point(ws: &Workspace) {
    if std::env::var("PORTCULLIS_FAILPOINT").as_deref() != Ok("backport.pause_after_repo") {
        return;
    }
    let marker = ws
        .ledger_path
        .parent()
        .unwrap_or(Path::new("."))
        .join("backport-paused");
    if std::fs::write(&marker, b"").is_err() {
        return;
    }
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while marker.exists() && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The violations a backport carries: none for an approved ticket; without `force` an
/// unapproved one is refused, and with it a reason is required.
fn approval(plan: &Plan, req: &BackportRequest) -> Result<Vec<String>> {
    if plan.approved() || req.dry_run {
        return Ok(Vec::new());
    }
    let violation = format!(
        "backport_unapproved: backport of {} to {} while {}",
        plan.key,
        plan.line,
        plan.state.describe()
    );
    if !req.force {
        return Err(Error::input(format!(
            "{} is not approved on {} (it is {}); the committee has not let it in",
            plan.key,
            plan.line,
            plan.state.describe()
        ))
        .hint("wait for the approval, or pass --force --note \"why\" to backport it anyway; it will be kept as a violation"));
    }
    if req.note.as_deref().is_none_or(|n| n.trim().is_empty()) {
        return Err(Error::input(format!(
            "a policy exception needs a reason: backporting {} will carry {violation}",
            plan.key
        ))
        .hint("pass --note \"why\" with --force"));
    }
    Ok(vec![violation])
}

/// Refuse clones whose tracked files have changes.
fn refuse_dirty(plan: &Plan) -> Result<()> {
    let mut dirty = Vec::new();
    for r in plan.repos.iter().filter(|r| r.status == PlanStatus::ToPick) {
        let files = pick::dirty_files(&r.path)?;
        if !files.is_empty() {
            dirty.push(format!("{}: {}", r.repo, files.join(", ")));
        }
    }
    if dirty.is_empty() {
        return Ok(());
    }
    Err(Error::input(format!(
        "uncommitted changes in the clone{}: {}",
        if dirty.len() > 1 { "s" } else { "" },
        dirty.join("; ")
    ))
    .hint("commit or stash them first; nothing was picked"))
}

/// What the existing ticket branch says about the picks.
enum Existing {
    None,
    /// It holds every pick.
    UpToDate,
    /// It holds the first `n` picks; the rest go on top of `tip`.
    Prefix {
        tip: Oid,
        n: usize,
    },
    Other(String),
}

/// Compare an existing ticket branch with the planned picks (by trailer or patch-id).
fn existing(r: &RepoPlan, branch: &str, release_tip: Oid) -> Result<Existing> {
    let Some((tip, commits)) = pick::branch_commits(&r.path, branch, release_tip)? else {
        return Ok(Existing::None);
    };
    let planned: Vec<String> = r.picks.iter().map(|p| p.sha.clone()).collect();
    let ids = pick::patch_ids(&r.path, &planned)?;
    let mut matched = Vec::new();
    for c in &commits {
        let by_trailer = c.picked_from.iter().find(|m| planned.contains(m)).cloned();
        let by_patch = ids
            .iter()
            .find(|(_, id)| c.patch_id.as_ref() == Some(id))
            .map(|(s, _)| s.clone());
        match by_trailer.or(by_patch) {
            Some(m) if !c.merge => matched.push(m),
            _ => {
                return Ok(Existing::Other(format!(
                    "branch `{branch}` exists with other commits ({} is not one of the picks); rename or delete it, or set another `[backport] branch_pattern`",
                    &c.sha[..10.min(c.sha.len())]
                )))
            }
        }
    }
    if matched == planned[..matched.len().min(planned.len())] {
        if matched.len() == planned.len() {
            return Ok(Existing::UpToDate);
        }
        return Ok(Existing::Prefix {
            tip,
            n: matched.len(),
        });
    }
    Ok(Existing::Other(format!(
        "branch `{branch}` exists with the picks in another order or with picks missing between them; delete it to pick again"
    )))
}

/// Pick one repository's commits; re-plan when the release branch moved meanwhile.
fn pick_repo(
    ws: &Workspace,
    plan: &Plan,
    first: &RepoPlan,
    verification: &Verification,
    req: &BackportRequest,
    opts: &PickOptions,
) -> Result<RepoOutcome> {
    let mut current = first.clone();
    let mut replanned: Option<Verification> = None;
    for _attempt in 0..3 {
        let v = replanned.as_ref().unwrap_or(verification);
        match pick_once(plan, &current, v, req, opts, ws)? {
            Attempt::Done(out) => return Ok(out),
            Attempt::ReleaseMoved => {
                // Plan this repository again from the branch as it is now.
                let ledger = ws.open_ledger()?;
                let line = ws.policy.resolve_line(Some(&plan.line))?;
                let fresh = scan(ws, &ledger, line, std::slice::from_ref(&current.repo))?;
                let (state, summary) = ticket_state(&ledger, ws, &plan.key, &plan.line)?;
                let again = plan_from(ws, &fresh, line, &plan.key, state, summary);
                match again.repos.into_iter().find(|r| r.repo == current.repo) {
                    Some(r) if r.status == PlanStatus::ToPick => current = r,
                    Some(r) => {
                        return Ok(RepoOutcome::Skipped {
                            repo: r.repo,
                            status: r.status,
                            problems: r.problems,
                        })
                    }
                    None => {
                        return Ok(RepoOutcome::Skipped {
                            repo: current.repo.clone(),
                            status: PlanStatus::Landed,
                            problems: Vec::new(),
                        })
                    }
                }
                replanned = Some(fresh);
            }
        }
    }
    Ok(RepoOutcome::Refused {
        repo: first.repo.clone(),
        reason: format!(
            "the release branch `{}` kept moving while picking; run the backport again",
            plan.release_branch
        ),
    })
}

enum Attempt {
    Done(RepoOutcome),
    ReleaseMoved,
}

fn oid(s: &str) -> Result<Oid> {
    Ok(Oid::from_str(s)?)
}

fn pick_once(
    plan: &Plan,
    r: &RepoPlan,
    v: &Verification,
    req: &BackportRequest,
    opts: &PickOptions,
    ws: &Workspace,
) -> Result<Attempt> {
    let Some(release_tip) = r.release_tip.as_deref() else {
        return Ok(Attempt::Done(RepoOutcome::Skipped {
            repo: r.repo.clone(),
            status: PlanStatus::BranchMissing,
            problems: r.problems.clone(),
        }));
    };
    let release_tip = oid(release_tip)?;
    let (onto, skip, continued) = match existing(r, &plan.branch, release_tip)? {
        Existing::None => (release_tip, 0, None),
        Existing::UpToDate => {
            return Ok(Attempt::Done(RepoOutcome::UpToDate {
                repo: r.repo.clone(),
                branch: plan.branch.clone(),
            }))
        }
        Existing::Prefix { tip, n } => (tip, n, Some(tip)),
        Existing::Other(reason) => {
            return Ok(Attempt::Done(RepoOutcome::Refused {
                repo: r.repo.clone(),
                reason,
            }))
        }
    };
    let commits: Vec<Oid> = r.picks[skip..]
        .iter()
        .map(|p| oid(&p.sha))
        .collect::<Result<_>>()?;
    match pick::prepare(&r.path, onto, &commits, opts)? {
        Prepare::Clean(prepared) => {
            if !req.dry_run {
                // The release tip the plan saw; publishing checks again that it has not moved.
                let release_now = current_release(&r.path, &plan.release_branch);
                if release_now != Some(release_tip) {
                    return Ok(Attempt::ReleaseMoved);
                }
                match pick::publish(
                    &r.path,
                    &prepared,
                    &plan.release_branch,
                    &plan.branch,
                    continued,
                )? {
                    Ok(()) => {}
                    Err(Refused::ReleaseMoved { .. }) => return Ok(Attempt::ReleaseMoved),
                    Err(Refused::BranchExists { at }) => {
                        return Ok(Attempt::Done(RepoOutcome::Refused {
                            repo: r.repo.clone(),
                            reason: format!(
                                "branch `{}` appeared at {} while picking; run the backport again",
                                plan.branch,
                                &at[..10.min(at.len())]
                            ),
                        }))
                    }
                }
                return Ok(Attempt::Done(RepoOutcome::Picked {
                    repo: r.repo.clone(),
                    branch: plan.branch.clone(),
                    tip: Some(prepared.tip),
                    picks: prepared.picks,
                    continued: continued.map(|o| o.to_string()),
                }));
            }
            Ok(Attempt::Done(RepoOutcome::Picked {
                repo: r.repo.clone(),
                branch: plan.branch.clone(),
                tip: None,
                picks: prepared.picks,
                continued: continued.map(|o| o.to_string()),
            }))
        }
        Prepare::Conflict(conflict) => {
            let dependencies = dependencies_of(r, v, &conflict)?;
            let worktree = if req.dry_run {
                None
            } else {
                Some(prepare_worktree(
                    ws, plan, r, onto, &commits, &conflict, opts,
                )?)
            };
            Ok(Attempt::Done(RepoOutcome::Conflict {
                repo: r.repo.clone(),
                conflict,
                dependencies,
                worktree: worktree.map(|p| p.display().to_string()),
                base: onto.to_string(),
            }))
        }
    }
}

/// The release branch's tip in a clone now.
fn current_release(path: &Path, branch: &str) -> Option<Oid> {
    let repo = git2::Repository::open(path).ok()?;
    pick::resolve_branch(&repo, branch)
}

fn started_event(plan: &Plan, req: &BackportRequest, violations: &[String]) -> NewEvent {
    let repos: Vec<_> = plan
        .repos
        .iter()
        .filter(|r| r.status == PlanStatus::ToPick)
        .map(|r| {
            json!({
                "repo": r.repo,
                "release_tip": r.release_tip,
                "picks": r.picks.iter().map(|p| &p.sha).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut payload = json!({ "branch": plan.branch, "repos": repos });
    if !violations.is_empty() {
        payload["forced"] = json!(true);
        payload["state"] = json!(plan.state.as_str());
        payload["violations"] = json!(violations);
    }
    event(plan, req, kind::BACKPORT_STARTED, payload)
}

/// The event of one repository's outcome (none for what changed nothing).
fn outcome_event(
    plan: &Plan,
    r: &RepoPlan,
    out: &RepoOutcome,
    req: &BackportRequest,
) -> Option<NewEvent> {
    match out {
        RepoOutcome::Picked {
            repo,
            branch,
            tip,
            picks,
            continued,
        } => Some(event(
            plan,
            req,
            kind::BACKPORT_PICKED,
            json!({
                "repo": repo,
                "branch": branch,
                "release_tip": r.release_tip,
                "tip": tip,
                "picks": picks,
                "continued": continued,
            }),
        )),
        RepoOutcome::Conflict {
            repo,
            conflict,
            dependencies,
            worktree,
            base,
        } => {
            let at = r
                .picks
                .iter()
                .position(|p| p.sha == conflict.main_commit)
                .unwrap_or(r.picks.len());
            Some(event(
                plan,
                req,
                kind::BACKPORT_CONFLICT,
                json!({
                    "repo": repo,
                    "branch": plan.branch,
                    "release_tip": r.release_tip,
                    "base": base,
                    "main_commit": conflict.main_commit,
                    "files": conflict.files,
                    "dependencies": dependencies,
                    "worktree": worktree,
                    "remaining": r.picks[(at + 1).min(r.picks.len())..].iter().map(|p| &p.sha).collect::<Vec<_>>(),
                    "series": conflict.picked_before.iter().chain([&conflict.main_commit]).chain(r.picks[(at + 1).min(r.picks.len())..].iter().map(|p| &p.sha)).collect::<Vec<_>>(),
                }),
            ))
        }
        _ => None,
    }
}
