//! The worktree a conflicting backport is resolved in: made, read and dropped with `git` run as
//! a subprocess with arguments (never through a shell), with terminal prompts off.

use std::path::Path;
use std::process::{Command, Stdio};

use git2::{Repository, RepositoryState};

use crate::error::{Error, GitContext, Result};

/// Run `git -C <dir> <args>`; `Ok(true)` when it succeeded, `Ok(false)` when git said no.
fn git(dir: &Path, args: &[&str], identity: bool) -> Result<(bool, String)> {
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(dir).args(args);
    cmd.env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_EDITOR", "true")
        .stdin(Stdio::null());
    if identity {
        // A clone with no identity configured: commits in the worktree are portcullis's.
        cmd.env("GIT_COMMITTER_NAME", "portcullis")
            .env("GIT_COMMITTER_EMAIL", "portcullis@localhost");
    }
    let out = cmd
        .output()
        .map_err(|e| Error::io("run git in", dir, e).hint("is git installed and on PATH?"))?;
    let text = String::from_utf8_lossy(&out.stderr).trim().to_string();
    Ok((out.status.success(), text))
}

/// Whether the clone lacks a committer identity of its own.
fn needs_identity(repo_path: &Path) -> bool {
    Repository::open(repo_path).is_ok_and(|r| r.signature().is_err())
}

/// `git worktree add --detach <dir> <commit>` in the clone at `repo_path`.
pub fn add(repo_path: &Path, dir: &Path, commit: &str) -> Result<()> {
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io("create", parent, e))?;
    }
    let dir_s = dir.to_string_lossy().into_owned();
    let (ok, err) = git(
        repo_path,
        &["worktree", "add", "--detach", "--quiet", &dir_s, commit],
        false,
    )?;
    if ok {
        Ok(())
    } else {
        Err(Error::internal(format!(
            "`git worktree add` failed in {}: {err}",
            repo_path.display()
        )))
    }
}

/// `git cherry-pick [-x] <sha>` in the worktree: true when it applied, false when it stopped
/// on a conflict (left for the user to resolve).
pub fn cherry_pick(repo_path: &Path, dir: &Path, sha: &str, trailer: bool) -> Result<bool> {
    let mut args = vec!["cherry-pick"];
    if trailer {
        args.push("-x");
    }
    args.push(sha);
    let (ok, _) = git(dir, &args, needs_identity(repo_path))?;
    Ok(ok)
}

/// Where a prepared worktree stands.
#[derive(Debug, Clone, PartialEq)]
pub struct WorktreeState {
    pub head: String,
    /// Files still unmerged.
    pub unmerged: Vec<String>,
    /// A cherry-pick is in progress (resolved or not).
    pub picking: bool,
    /// Tracked files changed and not committed (outside a pick in progress).
    pub dirty: bool,
}

/// Read a prepared worktree.
pub fn state(dir: &Path) -> Result<WorktreeState> {
    let repo =
        Repository::open(dir).ctx(|| format!("cannot open the worktree {}", dir.display()))?;
    let head = repo.head()?.peel_to_commit()?.id().to_string();
    let index = repo.index()?;
    let mut unmerged = Vec::new();
    if index.has_conflicts() {
        for c in index.conflicts()? {
            let c = c?;
            if let Some(e) = c.our.or(c.their).or(c.ancestor) {
                unmerged.push(String::from_utf8_lossy(&e.path).into_owned());
            }
        }
    }
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(false);
    let dirty = repo
        .statuses(Some(&mut opts))?
        .iter()
        .any(|s| s.status() != git2::Status::CURRENT);
    Ok(WorktreeState {
        head,
        unmerged,
        picking: repo.state() == RepositoryState::CherryPick,
        dirty,
    })
}

/// `git cherry-pick --continue` in the worktree (the message is kept as it is).
pub fn continue_pick(repo_path: &Path, dir: &Path) -> Result<()> {
    let (ok, err) = git(
        dir,
        &["cherry-pick", "--continue"],
        needs_identity(repo_path),
    )?;
    if ok {
        Ok(())
    } else {
        Err(Error::input(format!(
            "`git cherry-pick --continue` failed in {}: {err}",
            dir.display()
        )))
    }
}

/// Drop the worktree `dir` of the clone at `repo_path` (and whatever it holds).
pub fn remove(repo_path: &Path, dir: &Path) -> Result<()> {
    let dir_s = dir.to_string_lossy().into_owned();
    let (ok, err) = git(repo_path, &["worktree", "remove", "--force", &dir_s], false)?;
    if !ok && dir.exists() {
        return Err(Error::internal(format!(
            "`git worktree remove` failed in {}: {err}",
            repo_path.display()
        )));
    }
    git(repo_path, &["worktree", "prune"], false)?;
    Ok(())
}
