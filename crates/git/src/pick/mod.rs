//! Backports, carried out: a ticket's main-side commits cherry-picked onto a release branch tip
//! in memory, and published (objects, then the branch reference) only when every pick is clean.
//!
//! How, and why:
//! - [`prepare`] opens the clone with an in-memory object store in front of its own (a libgit2
//!   mempack, as the triage screen's trial picks do): each pick is git2's `cherrypick_commit`
//!   against the tip so far, committed in memory. A conflict stops the series; nothing reaches
//!   the clone, and the conflict is described with its files, hunks and the main-side commits
//!   that touched those lines (`conflict.rs`).
//! - [`publish`] writes the prepared objects as one pack and then moves the branch reference,
//!   refusing when the release branch moved since the picks were made or when the branch
//!   already points somewhere else: a stale or clobbered reference is never written.
//! - What a branch that already exists holds is read by [`branch_commits`], so that a rerun can
//!   tell "the same picks" (nothing to do) from "other commits" (refused).

use std::io::Write;
use std::path::Path;

use git2::{Buf, Commit, Oid, Repository, Signature};
use serde::Serialize;

use crate::error::{Error, GitContext, Result};

mod conflict;
mod push;
pub mod worktree;

pub use conflict::{dependencies, describe_conflict, ConflictFile, ConflictHunk};
pub use push::{mask_credentials, push};

/// How picks are written.
#[derive(Debug, Clone)]
pub struct PickOptions {
    /// End each message with `(cherry picked from commit <sha>)`, as `git cherry-pick -x` does.
    pub trailer: bool,
}

/// One commit picked onto the release branch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Picked {
    /// The main-side commit.
    pub main_commit: String,
    /// The new commit on the ticket branch.
    pub commit: String,
    pub subject: String,
}

/// A pick that did not apply.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conflict {
    /// The main-side commit that conflicts.
    pub main_commit: String,
    pub subject: String,
    /// The picks that applied before it (in memory only: nothing was written).
    pub picked_before: Vec<String>,
    pub files: Vec<ConflictFile>,
}

/// A series of picks made in memory, ready to [`publish`].
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The tip the picks were made on.
    pub base: String,
    /// The last pick.
    pub tip: String,
    pub picks: Vec<Picked>,
    /// Every object the picks wrote, as one pack.
    pack: Vec<u8>,
}

/// What [`prepare`] found.
#[derive(Debug, Clone)]
pub enum Prepare {
    Clean(Prepared),
    Conflict(Conflict),
}

/// The message of a pick: the original's, with the trailer if asked for.
pub fn pick_message(original: &str, sha: &str, trailer: bool) -> String {
    let body = original.trim_end();
    if trailer {
        format!("{body}\n\n(cherry picked from commit {sha})\n")
    } else {
        format!("{body}\n")
    }
}

/// The committer of picks: the clone's configured identity, else portcullis's own, at
/// portcullis's clock ([`portcullis_core::time::now`], fixed by `PORTCULLIS_NOW`), so that a
/// fixed clock gives the same picks.
fn committer(repo: &Repository) -> Result<Signature<'static>> {
    let at = portcullis_core::time::now();
    let time = git2::Time::new(at.timestamp(), 0);
    let (name, email) = match repo.signature() {
        Ok(s) => (
            s.name().unwrap_or("portcullis").to_string(),
            s.email().unwrap_or("portcullis@localhost").to_string(),
        ),
        Err(_) => ("portcullis".to_string(), "portcullis@localhost".to_string()),
    };
    Signature::new(&name, &email, &time).ctx(|| "cannot make a committer signature".to_string())
}

/// Cherry-pick `commits` (main-side, in order) onto `onto` in memory. Nothing is written to the
/// clone at `path`.
pub fn prepare(path: &Path, onto: Oid, commits: &[Oid], opts: &PickOptions) -> Result<Prepare> {
    let repo = Repository::open(path).ctx(|| format!("cannot open {}", path.display()))?;
    let odb = repo.odb()?;
    let mempack = odb.add_new_mempack_backend(1000)?;
    let who = committer(&repo)?;
    let mut tip = repo
        .find_commit(onto)
        .ctx(|| format!("no commit {onto} in {}", path.display()))?;
    let mut picks: Vec<Picked> = Vec::new();
    for sha in commits {
        let c = repo
            .find_commit(*sha)
            .ctx(|| format!("no commit {sha} in {}", path.display()))?;
        let mut index = repo
            .cherrypick_commit(&c, &tip, mainline(&c), None)
            .ctx(|| format!("cannot cherry-pick {sha}"))?;
        if index.has_conflicts() {
            let files = describe_conflict(&repo, &index, &c)?;
            return Ok(Prepare::Conflict(Conflict {
                main_commit: sha.to_string(),
                subject: c.summary().unwrap_or_default().to_string(),
                picked_before: picks.iter().map(|p| p.main_commit.clone()).collect(),
                files,
            }));
        }
        let tree_id = index.write_tree_to(&repo)?;
        let tree = repo.find_tree(tree_id)?;
        let message = pick_message(
            &String::from_utf8_lossy(c.message_bytes()),
            &sha.to_string(),
            opts.trailer,
        );
        let id = repo.commit(None, &c.author(), &who, &message, &tree, &[&tip])?;
        picks.push(Picked {
            main_commit: sha.to_string(),
            commit: id.to_string(),
            subject: c.summary().unwrap_or_default().to_string(),
        });
        tip = repo.find_commit(id)?;
    }
    let mut buf = Buf::new();
    mempack.dump(&repo, &mut buf)?;
    Ok(Prepare::Clean(Prepared {
        base: onto.to_string(),
        tip: tip.id().to_string(),
        picks,
        pack: buf.to_vec(),
    }))
}

/// The parent a merge is picked against (its first), 0 for an ordinary commit.
fn mainline(c: &Commit<'_>) -> u32 {
    if c.parent_count() > 1 {
        1
    } else {
        0
    }
}

/// Why [`publish`] refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Refused {
    /// The release branch is no longer where the picks were made.
    ReleaseMoved { now: Option<String> },
    /// The branch exists (created meanwhile) and points elsewhere.
    BranchExists { at: String },
}

/// Write the prepared objects into the clone at `path`, then create `branch` at the last pick,
/// if the release branch `release` is still at the picks' base and `branch` does not exist
/// (or is at `replace`, the branch tip the picks continued).
pub fn publish(
    path: &Path,
    prepared: &Prepared,
    release: &str,
    branch: &str,
    replace: Option<Oid>,
) -> Result<std::result::Result<(), Refused>> {
    let repo = Repository::open(path).ctx(|| format!("cannot open {}", path.display()))?;
    let now = resolve_branch(&repo, release).map(|o| o.to_string());
    if now.as_deref() != Some(prepared.base.as_str()) && replace.is_none() {
        return Ok(Err(Refused::ReleaseMoved { now }));
    }
    let refname = format!("refs/heads/{branch}");
    let current = repo.refname_to_id(&refname).ok();
    if current.is_some() && current != replace {
        return Ok(Err(Refused::BranchExists {
            at: current.map(|o| o.to_string()).unwrap_or_default(),
        }));
    }
    {
        let odb = repo.odb()?;
        let mut w = odb.packwriter()?;
        w.write_all(&prepared.pack)
            .map_err(|e| Error::io("write the picks into", path, e))?;
        w.commit()?;
    }
    let tip = Oid::from_str(&prepared.tip)?;
    let log = format!("portcullis backport: {} picks", prepared.picks.len());
    match current {
        Some(old) => repo.reference_matching(&refname, tip, true, old, &log)?,
        None => repo.reference(&refname, tip, false, &log)?,
    };
    Ok(Ok(()))
}

/// A branch as a local branch or as `origin`'s remote-tracking branch (as the scan reads it).
/// With both, the local one, unless `origin`'s is ahead of it: after `git fetch` (or `verify
/// --fetch`) a local release branch that was never pulled would hide what was merged on the
/// server. Diverged branches: the local one (the clone's owner has work of their own on it).
pub fn resolve_branch(repo: &Repository, name: &str) -> Option<Oid> {
    // A branch names a commit: known by its object's header, without reading the commit.
    let is_commit = |oid: Oid| {
        repo.odb()
            .and_then(|odb| odb.read_header(oid))
            .is_ok_and(|(_, kind)| kind == git2::ObjectType::Commit)
    };
    let tip = |r: String| {
        let reference = repo.find_reference(&r).ok()?;
        match reference.target() {
            Some(oid) if is_commit(oid) => Some(oid),
            _ => reference.peel_to_commit().ok().map(|c| c.id()),
        }
    };
    let local = tip(format!("refs/heads/{name}"));
    let remote = tip(format!("refs/remotes/origin/{name}"));
    match (local, remote) {
        (Some(l), Some(r)) if l != r && repo.graph_descendant_of(r, l).unwrap_or(false) => Some(r),
        (Some(l), _) => Some(l),
        (None, r) => r,
    }
}

/// A commit on an existing ticket branch, with what ties it to main.
#[derive(Debug, Clone, PartialEq)]
pub struct BranchCommit {
    pub sha: String,
    /// Commits named by its `(cherry picked from commit …)` trailers.
    pub picked_from: Vec<String>,
    pub patch_id: Option<String>,
    pub merge: bool,
}

/// The local branch `branch` (`None` if it does not exist): its tip and its commits not on
/// `release_tip`, oldest first.
pub fn branch_commits(
    path: &Path,
    branch: &str,
    release_tip: Oid,
) -> Result<Option<(Oid, Vec<BranchCommit>)>> {
    let repo = Repository::open(path).ctx(|| format!("cannot open {}", path.display()))?;
    let Ok(tip) = repo.refname_to_id(&format!("refs/heads/{branch}")) else {
        return Ok(None);
    };
    let mut walk = repo.revwalk()?;
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)?;
    walk.push(tip)?;
    walk.hide(release_tip)?;
    let mut out = Vec::new();
    for id in walk {
        let id = id?;
        let c = repo.find_commit(id)?;
        out.push(BranchCommit {
            sha: id.to_string(),
            picked_from: crate::text::cherry_picked_from(&String::from_utf8_lossy(
                c.message_bytes(),
            )),
            patch_id: patch_id(&repo, &c).ok(),
            merge: c.parent_count() > 1,
        });
    }
    Ok(Some((tip, out)))
}

/// The patch-id of a commit against its first parent (`None` parent: the empty tree).
pub fn patch_id(repo: &Repository, c: &Commit<'_>) -> Result<String> {
    let parent = match c.parent(0) {
        Ok(p) => Some(p.tree()?),
        Err(_) => None,
    };
    let diff = repo.diff_tree_to_tree(parent.as_ref(), Some(&c.tree()?), None)?;
    Ok(diff.patchid(None)?.to_string())
}

/// The patch-ids of main-side commits, by sha.
pub fn patch_ids(path: &Path, shas: &[String]) -> Result<Vec<(String, String)>> {
    let repo = Repository::open(path).ctx(|| format!("cannot open {}", path.display()))?;
    let mut out = Vec::new();
    for s in shas {
        let c = repo.find_commit(Oid::from_str(s)?)?;
        out.push((s.clone(), patch_id(&repo, &c)?));
    }
    Ok(out)
}

/// The tracked files changed in the clone's worktree or index (untracked files do not count).
pub fn dirty_files(path: &Path) -> Result<Vec<String>> {
    let repo = Repository::open(path).ctx(|| format!("cannot open {}", path.display()))?;
    if repo.is_bare() {
        return Ok(Vec::new());
    }
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(false).include_ignored(false);
    let statuses = repo.statuses(Some(&mut opts))?;
    Ok(statuses
        .iter()
        .filter(|s| s.status() != git2::Status::CURRENT)
        .filter_map(|s| s.path().map(str::to_string))
        .collect())
}

#[cfg(test)]
mod tests;
