//! The vocabulary of git verification: how a release-branch commit matched its main-side
//! counterpart, how a ticket landed in a repository, and the kinds of drift between the ledger
//! and git. Pure data with a stable serialised form (`docs/verify-json.md`).

use serde::{Deserialize, Serialize};

/// The evidence that a release-branch commit corresponds to a main-side commit, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchKind {
    /// The very same commit is on `main` (a ticket branch merged into both, or a forward port).
    SameCommit,
    /// A `(cherry picked from commit X)` trailer naming a main-side commit.
    Trailer,
    /// Equal patch-id: the same change, whatever the line numbers and whitespace.
    PatchId,
    /// One release commit with the patch-id of a whole ticket merge on `main` (a squashed backport).
    Squash,
    /// The same added and removed lines, with different surrounding context.
    ChangedLines,
    /// Only the subject is the same: the change was edited during the backport.
    Subject,
    /// The release commit names the original pull request (`Backport PR #N: …`, `(GH-N)`, a
    /// bot's branch) and nothing in its diff proves it: a low confidence, with the overlap of
    /// changed lines.
    PrRef,
    /// No release commit matched the main-side commit, but its effect is on the release
    /// branch: its added lines present and its removed lines absent in the release tip's files
    /// (a manual backport, a carrier ticket's bundle). The release commit is the latest
    /// release-only commit that touched its files.
    Content,
}

impl MatchKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchKind::SameCommit => "same_commit",
            MatchKind::Trailer => "trailer",
            MatchKind::PatchId => "patch_id",
            MatchKind::Squash => "squash",
            MatchKind::ChangedLines => "changed_lines",
            MatchKind::Subject => "subject",
            MatchKind::PrRef => "pr_ref",
            MatchKind::Content => "content",
        }
    }

    /// Whether the release side carries the same change (as opposed to an edited one).
    pub fn is_exact(self) -> bool {
        matches!(
            self,
            MatchKind::SameCommit | MatchKind::Trailer | MatchKind::PatchId | MatchKind::Squash
        )
    }

    /// How much the evidence is worth, 0–1.
    pub fn confidence(self) -> f64 {
        match self {
            MatchKind::SameCommit => 1.0,
            MatchKind::Trailer => 0.95,
            MatchKind::PatchId => 0.95,
            MatchKind::Squash => 0.9,
            MatchKind::ChangedLines => 0.8,
            MatchKind::Subject => 0.6,
            MatchKind::PrRef => 0.3,
            MatchKind::Content => 0.7,
        }
    }
}

/// Which way a change travelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// On `main` first, then on the release branch.
    Backport,
    /// On the release branch first, then on `main` (release notes, hot fixes).
    ForwardPort,
}

/// Where a ticket stands in one repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RepoLandingStatus {
    /// Every main-side commit of the ticket has a counterpart on the release branch.
    Landed,
    /// Some main-side commits have landed, some have not.
    Partial,
    /// None of the ticket's main-side commits is on the release branch.
    Missing,
    /// It landed, and was reverted on the release branch.
    Reverted,
    /// Release-branch commits of the ticket with no main-side counterpart (pins, notes, manual backports).
    ReleaseOnly,
    /// The ticket touched this repository on `main`, but the release branch does not exist yet.
    BranchMissing,
    /// The repository could not be checked (missing, shallow, missing objects).
    Unverifiable,
}

impl RepoLandingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RepoLandingStatus::Landed => "landed",
            RepoLandingStatus::Partial => "partial",
            RepoLandingStatus::Missing => "missing",
            RepoLandingStatus::Reverted => "reverted",
            RepoLandingStatus::ReleaseOnly => "release_only",
            RepoLandingStatus::BranchMissing => "branch_missing",
            RepoLandingStatus::Unverifiable => "unverifiable",
        }
    }

    /// Whether this repository has the ticket.
    pub fn has_landed(self) -> bool {
        matches!(
            self,
            RepoLandingStatus::Landed | RepoLandingStatus::ReleaseOnly
        )
    }
}

/// How a landing matched: every commit exactly, or some of them edited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum How {
    Exact,
    Modified,
    Partial,
}

/// Where a ticket stands on a release line, over every repository it touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketLandingStatus {
    /// In every repository it touched (or the policy does not require the rest).
    Landed,
    /// In some repositories or with some commits missing.
    Partial,
    /// Nowhere yet.
    Missing,
    /// Landed, then reverted somewhere.
    Reverted,
    /// Some repository it needs could not be checked or has no release branch yet.
    Pending,
    /// No commit of the ticket was found on `main` or the release branch of any repository.
    NotFound,
    /// On the release branch only through release-only commits (pins, notes, backports whose
    /// main-side change was not found): no main-side change of it landed, or none exists.
    ReleaseOnly,
}

impl TicketLandingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketLandingStatus::Landed => "landed",
            TicketLandingStatus::Partial => "partial",
            TicketLandingStatus::Missing => "missing",
            TicketLandingStatus::Reverted => "reverted",
            TicketLandingStatus::Pending => "pending",
            TicketLandingStatus::NotFound => "not_found",
            TicketLandingStatus::ReleaseOnly => "release_only",
        }
    }

    /// Whether the release branch has the ticket: landed, or release-only commits of it.
    pub fn has_landed(self) -> bool {
        matches!(
            self,
            TicketLandingStatus::Landed | TicketLandingStatus::ReleaseOnly
        )
    }
}

/// The event that settled a drift item: the committee dealt with it, so it is shown and no
/// longer blocks (`verify` exits 0 for it). A landing waived into a release is settled by the
/// release's `release.cut` event; a revert of a fix whose approval was revoked by the revoking
/// `decision`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    /// The event's sequence number in the ledger.
    pub seq: i64,
    /// Its kind: `release.cut` or `decision`.
    pub kind: String,
    /// The release that holds the drift's commits (a waiver), if any.
    pub release: Option<String>,
    /// Why it is settled, in words.
    pub why: String,
}

/// A disagreement between the ledger and git.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    /// Approved, but not (completely) on the release branch of some repository it touched.
    ApprovedNotLanded,
    /// Marked done, but missing in some repository it touched.
    DoneNotLanded,
    /// On the release branch, but the ticket is not approved (unknown, rejected, still requested).
    LandedNotApproved,
    /// Landed on the release branch, then reverted there.
    Reverted,
    /// A repository has no release branch yet (requests that touch it stay pending).
    BranchMissing,
    /// A repository could not be checked: missing, not a repository, shallow, missing objects.
    Unverifiable,
}

impl DriftKind {
    pub const ALL: [DriftKind; 6] = [
        DriftKind::ApprovedNotLanded,
        DriftKind::DoneNotLanded,
        DriftKind::LandedNotApproved,
        DriftKind::Reverted,
        DriftKind::BranchMissing,
        DriftKind::Unverifiable,
    ];

    /// What blocks when the policy says nothing: everything that means the release branch holds
    /// something it should not, or that a claim cannot be checked. Approved-but-not-landed is the
    /// normal queue of work; it blocks a cut, not a verification.
    pub const DEFAULT_BLOCKING: [DriftKind; 4] = [
        DriftKind::DoneNotLanded,
        DriftKind::LandedNotApproved,
        DriftKind::Reverted,
        DriftKind::Unverifiable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DriftKind::ApprovedNotLanded => "approved_not_landed",
            DriftKind::DoneNotLanded => "done_not_landed",
            DriftKind::LandedNotApproved => "landed_not_approved",
            DriftKind::Reverted => "reverted",
            DriftKind::BranchMissing => "branch_missing",
            DriftKind::Unverifiable => "unverifiable",
        }
    }
}
