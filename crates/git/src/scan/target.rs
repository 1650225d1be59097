//! What to scan ([`ScanTarget`]), and how a scan's problems read: one sentence that names the
//! repository and says what to do, since a scan never fails (its problems make it unverifiable).

use std::path::PathBuf;

use portcullis_core::policy::{Line, LoadedPolicy};

/// What to scan.
#[derive(Debug, Clone)]
pub struct ScanTarget<'a> {
    pub repo: String,
    /// The clone, resolved (absolute or relative to the working directory).
    pub path: PathBuf,
    /// The path as the policy writes it, for messages.
    pub shown_path: String,
    pub main_branch: String,
    pub line: &'a Line,
    pub policy: &'a LoadedPolicy,
}

/// A scan step's result: the error is the problem as the user reads it.
pub(super) type Res<T> = std::result::Result<T, String>;

/// A git error while doing `what`, worded for the user (missing objects: fetch or fsck).
pub(super) fn git_problem(t: &ScanTarget<'_>, what: &str, e: git2::Error) -> String {
    if e.code() == git2::ErrorCode::NotFound
        && matches!(e.class(), git2::ErrorClass::Odb | git2::ErrorClass::Object)
    {
        format!(
            "{}: missing objects while {what} ({}); run `git fetch` or `git fsck` in {}",
            t.repo,
            e.message(),
            t.shown_path
        )
    } else {
        format!("{}: git error while {what}: {}", t.repo, e.message())
    }
}

/// [`git_problem`] for revision walks.
pub(super) fn walk_err<'a>(t: &'a ScanTarget<'a>) -> impl Fn(git2::Error) -> String + 'a {
    move |e| git_problem(t, "walking history", e)
}
