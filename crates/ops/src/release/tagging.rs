//! The tags of a cut: created in every repository of the release (kept when already there at
//! the same commit), and pushed to each repository's `origin` when asked.

use std::path::Path;

use git2::{Oid, Repository};

use super::options::CutReport;
use crate::workspace::Workspace;
use crate::{Error, Result};
use portcullis_core::Problem;
use portcullis_git::scan::resolve_repo_path;

/// Create the release's tags, skipping those already there at the same commit (an interrupted
/// cut). Nothing is recorded yet: a failure leaves the tags already made, and a rerun keeps them.
pub(super) fn create_tags(
    ws: &Workspace,
    policy_dir: &Path,
    report: &CutReport,
    cut_at: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    let m = &report.manifest;
    for (name, tag, commit, exists) in &report.tags {
        if *exists {
            continue;
        }
        let r = ws
            .policy
            .policy
            .repositories
            .iter()
            .find(|x| &x.name == name)
            .expect("a policy repository");
        let repo = Repository::open(resolve_repo_path(policy_dir, &r.path))
            .map_err(|e| Error::input(format!("cannot open {}: {}", r.path, e.message())))?;
        let obj = repo
            .find_object(
                Oid::from_str(commit).map_err(|e| {
                    Problem::internal(format!("{name}: `{commit}` is not a commit id")).because(e)
                })?,
                None,
            )
            .map_err(|e| Error::input(format!("{name}: {}", e.message())))?;
        repo.tag(
            tag,
            &obj,
            &signature(&repo, cut_at),
            &m.tag_message(),
            false,
        )
        .map_err(|e| {
            let err = Error::input(format!("{name}: cannot create tag {tag}: {}", e.message()));
            if e.code() == git2::ErrorCode::Locked {
                // A git process holds the reference's lock, or one was killed holding it.
                let lock = repo.path().join("refs/tags").join(format!("{tag}.lock"));
                err.hint(format!(
                    "another git process is writing in {name}, or one was interrupted: if none \
                     is running there, delete {} and run the cut again (nothing was recorded; \
                     tags already made are kept)",
                    lock.display()
                ))
            } else {
                err.hint(
                    "nothing was recorded; fix it and run the cut again: tags already made are kept",
                )
            }
        })?;
    }
    Ok(())
}

/// The tagger: the repository's configured user (else `portcullis`), at the cut's time.
fn signature(repo: &Repository, at: chrono::DateTime<chrono::Utc>) -> git2::Signature<'static> {
    let when = git2::Time::new(at.timestamp(), 0);
    repo.signature()
        .ok()
        .and_then(|s| {
            git2::Signature::new(
                s.name().unwrap_or("portcullis"),
                s.email().unwrap_or(""),
                &when,
            )
            .ok()
        })
        .or_else(|| git2::Signature::new("portcullis", "portcullis@localhost", &when).ok())
        .expect("a signature")
}

/// `git push origin refs/tags/<tag>` in every repository of a release, as a subprocess with
/// arguments. A failure is reported per repository; pushing again is harmless (a tag already on
/// the remote at the same commit is up to date).
pub(super) fn push_tags(ws: &Workspace, report: &mut CutReport) {
    let policy_dir = ws
        .policy_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    for (name, tag, _, _) in &report.tags {
        let Some(r) = ws
            .policy
            .policy
            .repositories
            .iter()
            .find(|x| &x.name == name)
        else {
            continue;
        };
        let path = resolve_repo_path(&policy_dir, &r.path);
        let refspec = format!("refs/tags/{tag}:refs/tags/{tag}");
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(&path)
            .args(["push", "--quiet", "origin", "--"])
            .arg(&refspec)
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(std::process::Stdio::null())
            .output();
        let err = match out {
            Ok(o) if o.status.success() => None,
            Ok(o) => Some(String::from_utf8_lossy(&o.stderr).trim().to_string()),
            Err(e) => Some(format!("cannot run git: {e}")),
        };
        report.pushed.push((name.clone(), err));
    }
}
