//! After a conflict: `backport --continue` finishes the picks in the worktree portcullis
//! prepared (once the user resolved the conflicting one there) and writes the ticket branch;
//! `backport --abort` drops the worktree. Both read the `backport.conflict` events to know
//! which worktrees wait, and record what they did.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use git2::{Oid, Repository};
use serde::Serialize;
use serde_json::{json, Value};

use super::request::{event, BackportRequest};
use super::{repo_path, Plan};
use crate::workspace::Workspace;
use crate::{Error, Result};
use portcullis_core::event::kind;
use portcullis_core::workflow::State;
use portcullis_git::pick::{self, worktree, ConflictFile, Picked};
use portcullis_ledger::Ledger;

/// A conflict worktree waiting for its resolution.
#[derive(Debug, Clone, PartialEq)]
pub struct Waiting {
    pub repo: String,
    pub worktree: String,
    pub branch: String,
    pub release_tip: Option<String>,
    /// What the picks went onto.
    pub base: Option<String>,
    pub main_commit: String,
    /// The picks after the conflicting one.
    pub remaining: Vec<String>,
    /// Every pick the worktree makes, in order (the main-side commits).
    pub series: Vec<String>,
}

/// The last `backport.*` event (kind, payload) per ticket and repository on `line`.
pub(crate) fn last_events(ledger: &Ledger, line: &str) -> Result<LastEvents> {
    let mut last: LastEvents = BTreeMap::new();
    for e in ledger.events_of_kinds(&kind::BACKPORT)? {
        let (Some(key), Some(repo)) = (
            e.ticket.as_deref(),
            e.payload.get("repo").and_then(Value::as_str),
        ) else {
            continue;
        };
        if e.line.as_deref() != Some(line) {
            continue;
        }
        last.entry(key.to_string())
            .or_default()
            .insert(repo.to_string(), (e.kind.clone(), e.payload.clone()));
    }
    Ok(last)
}

/// Ticket → repository → the kind and payload of its last `backport.*` event.
pub(crate) type LastEvents = BTreeMap<String, BTreeMap<String, (String, Value)>>;

/// The worktrees of `key` on `line` that wait for a resolution, by repository.
pub fn open_worktrees(ledger: &Ledger, key: &str, line: &str) -> Result<BTreeMap<String, Waiting>> {
    let strs = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    };
    let s = |p: &Value, k: &str| p.get(k).and_then(Value::as_str).map(str::to_string);
    Ok(last_events(ledger, line)?
        .remove(key)
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, (k, p))| {
            k == kind::BACKPORT_CONFLICT && p.get("worktree").is_some_and(|w| !w.is_null())
        })
        .map(|(repo, (_, p))| {
            let w = Waiting {
                repo: repo.clone(),
                worktree: s(&p, "worktree").unwrap_or_default(),
                branch: s(&p, "branch").unwrap_or_default(),
                release_tip: s(&p, "release_tip"),
                base: s(&p, "base"),
                main_commit: s(&p, "main_commit").unwrap_or_default(),
                remaining: strs(&p["remaining"]),
                series: strs(&p["series"]),
            };
            (repo, w)
        })
        .collect())
}

/// What `--continue` or `--abort` did in one repository.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ResumeOutcome {
    /// Every pick is made: the branch is written and the worktree dropped.
    Picked {
        repo: String,
        branch: String,
        tip: String,
        picks: Vec<Picked>,
    },
    /// The worktree still has unmerged files.
    Unresolved {
        repo: String,
        worktree: String,
        files: Vec<String>,
    },
    /// A later pick conflicts too: resolve it in the same worktree and continue again.
    Conflict {
        repo: String,
        worktree: String,
        main_commit: String,
        files: Vec<ConflictFile>,
    },
    /// Not done, and why.
    Refused { repo: String, reason: String },
    /// The worktree is dropped.
    Aborted { repo: String, worktree: String },
}

impl ResumeOutcome {
    pub fn needs_attention(&self) -> bool {
        !matches!(
            self,
            ResumeOutcome::Picked { .. } | ResumeOutcome::Aborted { .. }
        )
    }
}

/// What `--continue` / `--abort` did.
#[derive(Debug, Clone, Serialize)]
pub struct Resumed {
    pub key: String,
    pub line: String,
    pub repos: Vec<ResumeOutcome>,
}

/// `--continue` (`abort` false) or `--abort` (`abort` true) the waiting worktrees of
/// `req.key` (in `req.repos`, default all).
pub fn resume(ws: &Workspace, req: &BackportRequest, abort: bool) -> Result<Resumed> {
    let line = ws.policy.resolve_line(req.line.as_deref())?;
    super::check_key(ws, &req.key)?;
    let mut ledger = ws.open_ledger()?;
    let waiting: Vec<Waiting> = open_worktrees(&ledger, &req.key, &line.name)?
        .into_values()
        .filter(|w| req.repos.is_empty() || req.repos.contains(&w.repo))
        .collect();
    if waiting.is_empty() {
        return Err(Error::input(format!(
            "no backport of {} on {} waits in a worktree",
            req.key, line.name
        ))
        .hint(format!("run `portcullis backport {}` first", req.key)));
    }
    // The events name the plan they belong to.
    let plan = Plan {
        key: req.key.clone(),
        line: line.name.clone(),
        summary: String::new(),
        state: State::None,
        release_branch: line.branch.clone(),
        branch: ws.policy.policy.backport.branch(&req.key, &line.name),
        repos: Vec::new(),
    };
    let trailer = ws.policy.policy.backport.cherry_pick_trailer;
    let mut outcomes = Vec::new();
    let mut events = Vec::new();
    for w in &waiting {
        let path = repo_path(ws, &w.repo);
        let dir = PathBuf::from(&w.worktree);
        let out = if abort {
            worktree::remove(&path, &dir)?;
            ResumeOutcome::Aborted {
                repo: w.repo.clone(),
                worktree: w.worktree.clone(),
            }
        } else {
            continue_one(&path, &dir, w, &line.branch, trailer)?
        };
        events.extend(resume_event(&plan, req, w, &out));
        outcomes.push(out);
    }
    if !events.is_empty() {
        let mut tx = ledger.transaction()?;
        for e in events {
            tx.append(e)?;
        }
        tx.commit_with(&ws.policy)?;
    }
    Ok(Resumed {
        key: req.key.clone(),
        line: line.name.clone(),
        repos: outcomes,
    })
}

/// Finish the picks in one worktree and write the branch.
fn continue_one(
    path: &Path,
    dir: &Path,
    w: &Waiting,
    release_branch: &str,
    trailer: bool,
) -> Result<ResumeOutcome> {
    if !dir.exists() {
        return Ok(ResumeOutcome::Refused {
            repo: w.repo.clone(),
            reason: format!(
                "the worktree {} is gone; run `backport --abort` and then the backport again",
                w.worktree
            ),
        });
    }
    let st = worktree::state(dir)?;
    if !st.unmerged.is_empty() {
        return Ok(ResumeOutcome::Unresolved {
            repo: w.repo.clone(),
            worktree: w.worktree.clone(),
            files: st.unmerged,
        });
    }
    if st.picking {
        worktree::continue_pick(path, dir)?;
    } else if st.dirty {
        return Ok(ResumeOutcome::Refused {
            repo: w.repo.clone(),
            reason: format!(
                "the worktree {} has uncommitted changes and no pick in progress; commit or drop them",
                w.worktree
            ),
        });
    }
    for sha in &w.remaining {
        if !worktree::cherry_pick(path, dir, sha, trailer)? {
            let repo = Repository::open(dir)?;
            let index = repo.index()?;
            let c = repo.find_commit(Oid::from_str(sha)?)?;
            let files = pick::describe_conflict(&repo, &index, &c)?;
            return Ok(ResumeOutcome::Conflict {
                repo: w.repo.clone(),
                worktree: w.worktree.clone(),
                main_commit: sha.clone(),
                files,
            });
        }
    }
    let head = Oid::from_str(&worktree::state(dir)?.head)?;
    let repo = Repository::open(path)?;
    let release_now = pick::resolve_branch(&repo, release_branch).map(|o| o.to_string());
    if release_now != w.release_tip {
        return Ok(ResumeOutcome::Refused {
            repo: w.repo.clone(),
            reason: format!(
                "the release branch `{release_branch}` moved since the conflict; run `backport --abort`, then the backport again"
            ),
        });
    }
    let refname = format!("refs/heads/{}", w.branch);
    let current = repo.refname_to_id(&refname).ok().map(|o| o.to_string());
    let msg = "portcullis backport --continue";
    match current {
        None => {
            repo.reference(&refname, head, false, msg)?;
        }
        Some(c) if Some(&c) == w.base.as_ref() => {
            repo.reference_matching(&refname, head, true, Oid::from_str(&c)?, msg)?;
        }
        Some(_) => {
            return Ok(ResumeOutcome::Refused {
                repo: w.repo.clone(),
                reason: format!(
                    "branch `{}` was created or moved meanwhile; the worktree {} keeps the picks",
                    w.branch, w.worktree
                ),
            })
        }
    }
    let base = Oid::from_str(w.base.as_deref().or(w.release_tip.as_deref()).unwrap_or(""))?;
    let mut picks = picks_between(&repo, head, base)?;
    if picks.len() == w.series.len() {
        // Without trailers, the worktree's commits are the series in order.
        for (p, main) in picks.iter_mut().zip(&w.series) {
            if p.main_commit.is_empty() {
                p.main_commit = main.clone();
            }
        }
    }
    worktree::remove(path, dir)?;
    Ok(ResumeOutcome::Picked {
        repo: w.repo.clone(),
        branch: w.branch.clone(),
        tip: head.to_string(),
        picks,
    })
}

/// The commits from `base` (excluded) to `tip`, oldest first, with the main commits their
/// trailers name.
fn picks_between(repo: &Repository, tip: Oid, base: Oid) -> Result<Vec<Picked>> {
    let mut walk = repo.revwalk()?;
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)?;
    walk.push(tip)?;
    walk.hide(base)?;
    let mut out = Vec::new();
    for id in walk {
        let c = repo.find_commit(id?)?;
        let message = String::from_utf8_lossy(c.message_bytes()).into_owned();
        out.push(Picked {
            main_commit: portcullis_git::text::cherry_picked_from(&message)
                .pop()
                .unwrap_or_default(),
            commit: c.id().to_string(),
            subject: c.summary().unwrap_or_default().to_string(),
        });
    }
    Ok(out)
}

fn resume_event(
    plan: &Plan,
    req: &BackportRequest,
    w: &Waiting,
    out: &ResumeOutcome,
) -> Option<portcullis_core::event::NewEvent> {
    match out {
        ResumeOutcome::Picked {
            repo,
            branch,
            tip,
            picks,
        } => Some(event(
            plan,
            req,
            kind::BACKPORT_PICKED,
            json!({
                "repo": repo,
                "branch": branch,
                "release_tip": w.release_tip,
                "tip": tip,
                "picks": picks,
                "resolved_in": w.worktree,
            }),
        )),
        ResumeOutcome::Conflict {
            repo,
            worktree,
            main_commit,
            files,
        } => {
            let at = w
                .remaining
                .iter()
                .position(|s| s == main_commit)
                .unwrap_or(0);
            Some(event(
                plan,
                req,
                kind::BACKPORT_CONFLICT,
                json!({
                    "repo": repo,
                    "branch": w.branch,
                    "release_tip": w.release_tip,
                    "base": w.base,
                    "main_commit": main_commit,
                    "files": files,
                    "dependencies": [],
                    "worktree": worktree,
                    "remaining": w.remaining[at + 1..],
                    "series": w.series,
                }),
            ))
        }
        ResumeOutcome::Aborted { repo, worktree } => Some(event(
            plan,
            req,
            kind::BACKPORT_ABORTED,
            json!({ "repo": repo, "worktree": worktree }),
        )),
        _ => None,
    }
}
