//! What a scan finds, as `verify --format json` reports it (`docs/verify-json.md`): the data
//! shared by the scanner ([`crate::scan`]), the cache that remembers scans ([`crate::cache`]) and
//! the verdicts ([`crate::verify`]).

use serde::{Deserialize, Serialize};

use portcullis_core::landing::{Direction, MatchKind};

/// Whether a repository could be scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanStatus {
    Ok,
    /// The release branch does not exist (yet) in this repository.
    BranchMissing,
    /// Missing repository or branch, shallow clone, missing objects: see `problems`.
    Unverifiable,
}

/// The result of scanning one repository for one line, as `verify --format json` reports it
/// (`docs/verify-json.md`). The main-side commits are left out of that output; the scan memo in
/// the ledger keeps them ([`crate::cache`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepoScan {
    pub repo: String,
    pub status: ScanStatus,
    /// What could not be checked, and what to do about it.
    pub problems: Vec<String>,
    pub main_branch: String,
    pub release_branch: String,
    pub main_tip: Option<String>,
    pub release_tip: Option<String>,
    pub branch_point: Option<BranchPoint>,
    /// The line's release tags in this repository, in release order.
    pub tags: Vec<TagRef>,
    /// Release-branch commits after the branch point, oldest first, merges included.
    pub release_commits: Vec<ReleaseCommit>,
    /// Main-side commits after the branch point (or the base tag when the branch is missing).
    #[serde(skip)]
    pub main_commits: Vec<MainCommit>,
    /// Commits whose changes could not be read (missing trees or blobs): the rest of the
    /// repository is verified, these are named and compared by what could be read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unchecked: Vec<UncheckedCommit>,
    /// What the scan depended on (tips, tags, settings, scanner version), when it is
    /// remembered; not reported. What is computed from every scan of a line (the code that
    /// moved between repositories) is remembered under these keys.
    #[serde(skip)]
    pub memo_key: Option<String>,
}

/// A release tag as a scan reads it, with what an annotated tag's own object says
/// (`scan::Probe::read_tags`): what `learn` needs to find releases cut elsewhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadTag {
    pub name: String,
    pub commit: String,
    /// The tag object of an annotated tag; `None` for a lightweight one.
    pub annotation: Option<Annotation>,
}

/// What an annotated tag's object says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Annotation {
    pub message: Option<String>,
    pub tagger: Option<String>,
    /// When it was tagged, seconds since the epoch.
    pub tagged_at: Option<i64>,
}

/// A commit whose change could not be read, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UncheckedCommit {
    pub sha: String,
    pub problem: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BranchPoint {
    pub sha: String,
    pub subject: String,
    /// Release tags on the branch point itself (e.g. `v23.0.0.rc1`).
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TagRef {
    pub name: String,
    pub commit: String,
}

/// One commit on the release branch after the branch point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseCommit {
    pub sha: String,
    pub subject: String,
    /// Committer time, seconds since the epoch.
    pub time: i64,
    pub merge: bool,
    /// From the branch name of the first-parent merge that introduced it (or its own, for a merge).
    pub ticket: Option<String>,
    /// The first-parent merge that introduced it; `None` for a direct push or a merge itself.
    pub via: Option<String>,
    /// Ticket keys in the message other than `ticket`.
    pub mentions: Vec<String>,
    /// The main-side counterpart; `None` for merges and release-only commits.
    #[serde(rename = "match")]
    pub matched: Option<Match>,
    /// Other main-side commits that matched as well as `match` (ambiguous evidence).
    pub candidates: Vec<Candidate>,
    pub direction: Option<Direction>,
    /// The first release tag (final or candidate) that contains it.
    pub first_tag: Option<String>,
    /// The earlier release commit this one reverts.
    pub reverts: Option<String>,
    /// The later release commit that reverts this one.
    pub reverted_by: Option<String>,
}

impl ReleaseCommit {
    /// A non-merge commit with no main-side counterpart: a pin, release notes, a manual backport.
    pub fn is_release_only(&self) -> bool {
        !self.merge && self.matched.is_none() && self.reverts.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Match {
    pub kind: MatchKind,
    pub main_commit: String,
    pub confidence: f64,
    /// For a `pr_ref` match: the share (0–1) of the main-side change's changed lines (added and
    /// removed, whitespace ignored) that the release commit changes too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub main_commit: String,
    pub kind: MatchKind,
}

/// One main-side commit after the branch point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MainCommit {
    pub sha: String,
    pub subject: String,
    pub time: i64,
    pub merge: bool,
    // Kept only in the scan memo (not reported): absent fields are left out, which makes a
    // warm run's memos a fifth shorter to read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<String>,
    /// For a first-parent merge: the commits it brought in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub introduces: Vec<String>,
    /// It touches only paths that never need a backport: the `ignore_paths` globs that say so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_needed: Option<String>,
    /// No release commit matched it, but its change is on the release branch by content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<ContentLanding>,
    /// It adds or changes a file the release branch does not have under that name (code that
    /// arrived on main after the branch point, perhaps moved from another repository: what
    /// [`crate::moved`] compares across repositories). Not set for merges, nor for commits that
    /// are not needed or landed by content.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub outside_release: bool,
}

/// A main-side change found on the release branch by content: its added lines present and its
/// removed lines absent in the release tip's files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentLanding {
    /// The latest release-only commit that touched its files (a manual backport, a carrier's
    /// bundle).
    pub release_commit: String,
    /// 0–0.7: the share of its lines found as it left them, times 0.7.
    pub confidence: f64,
}
