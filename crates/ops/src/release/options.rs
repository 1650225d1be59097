//! What a cut is asked to do ([`CutOptions`]) and what it reports ([`CutReport`]).

use std::path::PathBuf;

use serde::Serialize;

use portcullis_core::release::{Blocker, Manifest, Waiver};

#[derive(Debug, Clone, Default)]
pub struct CutOptions {
    pub line: Option<String>,
    pub version: String,
    pub rc: bool,
    pub apply: bool,
    pub allow_skip: bool,
    /// Cut even when nothing is new since the previous release, or a release candidate
    /// identical to the previous candidate of the version.
    pub allow_empty: bool,
    pub waivers: Vec<Waiver>,
    /// Where to write the manifest files (default: `releases/` next to the ledger).
    pub out_dir: Option<PathBuf>,
    /// Cut the release a step will run with: the step's approvals must have landed too.
    pub step: Option<String>,
    /// After the cut (or for a release already cut), `git push origin <tag>` in every repository.
    pub push: bool,
    /// A final cut that tags the last release candidate's commits instead of the branch tips.
    pub promote: bool,
    /// When the cut happens (default: now). The demo replays a campaign with it.
    pub at: Option<chrono::DateTime<chrono::Utc>>,
}

/// What a cut would do, or did.
#[derive(Debug, Clone, Serialize)]
pub struct CutReport {
    pub manifest: Manifest,
    pub hash: String,
    pub blockers: Vec<Blocker>,
    /// What the gate noticed outside this release and does not block it for (a violation on a
    /// ticket the release does not contain, decisions with no tracker to push them to).
    pub notes: Vec<Blocker>,
    /// (repository, tag, commit, already there)
    pub tags: Vec<(String, String, String, bool)>,
    pub applied: bool,
    pub files: Vec<String>,
    /// Tickets marked done by this cut (the line's `mark_done_on_release`).
    pub marked_done: Vec<String>,
    /// `git push` of the tag per repository: (repository, error if it failed).
    pub pushed: Vec<(String, Option<String>)>,
    /// The release was already recorded: this run only finished it (its files, its push).
    pub resumed: bool,
}
