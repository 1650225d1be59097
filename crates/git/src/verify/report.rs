//! What a verification reports: the stable JSON of `portcullis verify --format json` (per
//! ticket and repository, the drift and a summary).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::RepoScan;
use portcullis_core::landing::{DriftKind, How, MatchKind, RepoLandingStatus, TicketLandingStatus};
use portcullis_core::workflow::State;

/// What the ledger says about a ticket on the line.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerTicket {
    pub state: State,
    pub summary: String,
    /// Per repository, a person's verdict that the partial landing there is what was wanted
    /// (`decide accept-partial`).
    pub accepted_partial: BTreeMap<String, AcceptedPartial>,
}

/// A person's verdict that a ticket's partial landing in one repository is what was wanted:
/// the ticket then counts as landed there, with this note.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AcceptedPartial {
    /// Who said so.
    pub by: String,
    /// When (RFC 3339, UTC).
    pub at: String,
    pub note: String,
    /// The main-side commits left out, as the verification had them then: the verdict covers
    /// these and no later ones.
    #[serde(skip)]
    pub left_out: Vec<String>,
}

/// The whole verification of one line: the stable JSON of `portcullis verify --format json`
/// (documented in `docs/verify-json.md`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verification {
    pub line: String,
    pub branch: String,
    /// The scans (their main-side commit lists are not serialised).
    pub repositories: Vec<RepoScan>,
    pub tickets: Vec<TicketReport>,
    pub drift: Vec<Drift>,
    pub summary: Summary,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TicketReport {
    pub key: String,
    pub summary: String,
    /// The ledger state on the line; `null` when the ticket is not in the ledger.
    pub state: Option<String>,
    pub status: TicketLandingStatus,
    pub repos: Vec<RepoLanding>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RepoLanding {
    pub repo: String,
    pub status: RepoLandingStatus,
    pub how: Option<How>,
    /// Whether the policy requires the ticket to land here.
    pub required: bool,
    /// The main-side commits that belong to the ticket here.
    pub main_commits: Vec<String>,
    pub landed: Vec<LandedCommit>,
    /// Main-side commits with no counterpart on the release branch.
    pub missing: Vec<String>,
    /// Release-branch commits of the ticket (by merge branch or mention).
    pub release_commits: Vec<String>,
    /// The first release tag that contains the whole landing; `null` while unreleased.
    pub first_tag: Option<String>,
    /// Release-branch commits of the ticket that were reverted, with the revert.
    pub reverted: Vec<Revert>,
    /// Commits whose change could not be read (missing objects) and that the verdict depends
    /// on: with them the status is `unverifiable` unless the ticket landed anyway.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unchecked: Vec<String>,
    /// Main-side commits with no counterpart that need none: they touch only paths the
    /// policy's `ignore_paths` say never need a backport (neither `landed` nor `missing`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_needed: Vec<NotNeeded>,
    /// A person's verdict that the partial landing is what was wanted (`decide
    /// accept-partial`): the status is then `landed` (how `partial`), and `missing` still
    /// names what was left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted_partial: Option<AcceptedPartial>,
}

/// A main-side commit that needs no backport, and the rule that says so.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NotNeeded {
    pub main_commit: String,
    /// The `ignore_paths` globs that cover every path it touches.
    pub rule: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LandedCommit {
    pub main_commit: String,
    pub release_commit: String,
    pub kind: MatchKind,
    /// For a `content` landing, or one in another repository: how sure (0–1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    /// Code that moved between repositories, on the main-side commit's repository: the
    /// repository on whose release branch `release_commit` is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_to: Option<String>,
    /// Code that moved between repositories, on the release commit's repository: the
    /// repository whose main side holds `main_commit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_from: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Revert {
    pub release_commit: String,
    pub reverted_by: String,
}

/// One disagreement between the ledger and git.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Drift {
    /// Stable identity: the same problem has the same id from one run to the next.
    pub id: String,
    pub kind: DriftKind,
    pub ticket: Option<String>,
    pub repo: Option<String>,
    pub commits: Vec<String>,
    pub message: String,
    pub blocking: bool,
    /// Settled by the committee (waived into a release, or a revoked fix reverted): shown,
    /// and never blocking. Set by the caller that knows the ledger's releases and decisions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settled: Option<portcullis_core::landing::Settlement>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Summary {
    pub repositories: usize,
    pub unverifiable: usize,
    pub release_commits: usize,
    pub release_only: usize,
    pub tickets: usize,
    pub landed: usize,
    pub not_landed: usize,
    pub drift: usize,
    pub blocking: usize,
}

impl Verification {
    /// Whether any drift blocks (per policy).
    pub fn blocks(&self) -> bool {
        self.summary.blocking > 0
    }
}
