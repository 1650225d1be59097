//! A conflicting pick: its dependency hint (from the verifier's scan and a blame on main) and
//! the worktree where it waits for a manual resolution.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use git2::Oid;

use super::request::Dependency;
use super::{Plan, RepoPlan};
use crate::workspace::Workspace;
use crate::Result;
use portcullis_git::pick::{self, worktree, Conflict, PickOptions};
use portcullis_git::verify::Verification;

fn oid(s: &str) -> Result<Oid> {
    Ok(Oid::from_str(s)?)
}

/// The dependency hint of a conflict: main-side commits since the branch point that changed
/// the lines the conflicting pick needs and are not on the release branch.
pub(super) fn dependencies_of(
    r: &RepoPlan,
    v: &Verification,
    conflict: &Conflict,
) -> Result<Vec<Dependency>> {
    let Some(bp) = r.branch_point.as_deref() else {
        return Ok(Vec::new());
    };
    let scan = v.repositories.iter().find(|s| s.repo == r.repo);
    // On the release branch already: every main commit with a counterpart there.
    let mut exclude: BTreeSet<String> = scan
        .into_iter()
        .flat_map(|s| s.release_commits.iter())
        .flat_map(|c| {
            c.matched
                .iter()
                .map(|m| m.main_commit.clone())
                .chain(c.candidates.iter().map(|m| m.main_commit.clone()))
        })
        .collect();
    exclude.extend(r.picks.iter().map(|p| p.sha.clone()));
    let repo = git2::Repository::open(&r.path)?;
    let paths: Vec<String> = conflict.files.iter().map(|f| f.path.clone()).collect();
    let shas = pick::dependencies(
        &repo,
        oid(&conflict.main_commit)?,
        oid(bp)?,
        &paths,
        &exclude,
    )?;
    Ok(shas
        .into_iter()
        .map(|sha| {
            let known = scan.and_then(|s| s.main_commits.iter().find(|c| c.sha == sha));
            let subject = known.map(|c| c.subject.clone()).unwrap_or_else(|| {
                repo.find_commit(Oid::from_str(&sha).unwrap_or(Oid::zero()))
                    .ok()
                    .and_then(|c| c.summary().map(str::to_string))
                    .unwrap_or_default()
            });
            Dependency {
                ticket: known.and_then(|c| c.ticket.clone()),
                sha,
                subject,
            }
        })
        .collect())
}

/// Where the conflict worktree of a ticket's backport in a repository lives: beside the ledger.
fn worktree_dir(ws: &Workspace, key: &str, line: &str, repo: &str) -> PathBuf {
    ws.ledger_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
        .join("backports")
        .join(format!("{key}-{line}"))
        .join(repo)
}

/// A worktree (detached, no branch) at `onto` with the picks up to the conflicting one made by
/// git, the conflicting one stopped for the user to resolve.
pub(super) fn prepare_worktree(
    ws: &Workspace,
    plan: &Plan,
    r: &RepoPlan,
    onto: Oid,
    commits: &[Oid],
    conflict: &Conflict,
    opts: &PickOptions,
) -> Result<PathBuf> {
    let dir = worktree_dir(ws, &plan.key, &plan.line, &r.repo);
    if dir.exists() {
        worktree::remove(&r.path, &dir)?;
    }
    worktree::add(&r.path, &dir, &onto.to_string())?;
    for c in commits {
        let sha = c.to_string();
        let applied = worktree::cherry_pick(&r.path, &dir, &sha, opts.trailer)?;
        if sha == conflict.main_commit || !applied {
            break;
        }
    }
    Ok(dir)
}
