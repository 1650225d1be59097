//! The verdicts, from the evidence: where a ticket stands in one repository (landed exactly or
//! modified, partial, missing, reverted, release-only, waiting for its branch), and over all the
//! repositories it touched.

use crate::model::ScanStatus;
use portcullis_core::landing::{How, MatchKind, RepoLandingStatus, TicketLandingStatus};

use super::evidence::RepoIndex;
use super::report::{LandedCommit, RepoLanding, Revert};

/// Where `key` stands in `ix`'s repository, or `None` if it never touched it.
pub(super) fn landing(ix: &RepoIndex<'_>, key: &str) -> Option<RepoLanding> {
    let release_commits = ix.release_by_key.get(key).cloned().unwrap_or_default();
    let expected = expected_main_commits(ix, key, &release_commits);
    if expected.is_empty() && release_commits.is_empty() {
        return None;
    }
    let mut out = RepoLanding {
        repo: ix.scan.repo.clone(),
        status: RepoLandingStatus::Missing,
        how: None,
        required: ix.required,
        main_commits: expected.clone(),
        landed: Vec::new(),
        missing: Vec::new(),
        release_commits: release_commits.clone(),
        first_tag: None,
        reverted: Vec::new(),
    };
    if ix.scan.status == ScanStatus::BranchMissing {
        out.status = RepoLandingStatus::BranchMissing;
        out.missing = expected;
        return Some(out);
    }
    out.reverted = reverted_pairs(ix, &release_commits);
    let matched = match_landings(ix, &expected);
    let mut used_release = matched.used_release;
    out.status = if expected.is_empty() {
        let live_release_only = live_release_only(ix, &release_commits);
        if live_release_only.is_empty() {
            RepoLandingStatus::Reverted
        } else {
            used_release.extend(live_release_only);
            RepoLandingStatus::ReleaseOnly
        }
    } else if matched.missing.is_empty() {
        RepoLandingStatus::Landed
    } else if matched.any_reverted && matched.landed.is_empty() {
        RepoLandingStatus::Reverted
    } else if matched.landed.is_empty() {
        RepoLandingStatus::Missing
    } else {
        RepoLandingStatus::Partial
    };
    out.landed = matched.landed;
    out.missing = matched.missing;
    out.how = how_it_landed(out.status, &out.landed);
    if out.status.has_landed() {
        out.first_tag = first_tag(ix, &used_release);
    }
    Some(out)
}

/// The main-side commits `key` must land here: its own and those of the tickets it carries, and
/// the counterparts of its own release commits (a carrier ticket).
fn expected_main_commits(ix: &RepoIndex<'_>, key: &str, release_commits: &[String]) -> Vec<String> {
    let mut expected: Vec<String> = ix.main_by_key.get(key).cloned().unwrap_or_default();
    for original in ix.carried.get(key).into_iter().flatten() {
        for m in ix.main_by_key.get(original).into_iter().flatten() {
            if !expected.contains(m) {
                expected.push(m.clone());
            }
        }
    }
    // Counterparts of the ticket's own release commits belong to it too (a carrier ticket).
    for r in release_commits {
        if let Some(c) = ix.release.get(r) {
            if c.ticket.as_deref() == Some(key) {
                if let Some(m) = &c.matched {
                    if m.kind != MatchKind::Squash
                        && ix.main_non_merge.contains(m.main_commit.as_str())
                        && !expected.contains(&m.main_commit)
                    {
                        expected.push(m.main_commit.clone());
                    }
                }
            }
        }
    }
    expected
}

/// The ticket's release commits that are reverted, each with its revert.
fn reverted_pairs(ix: &RepoIndex<'_>, release_commits: &[String]) -> Vec<Revert> {
    let mut out = Vec::new();
    for r in release_commits {
        if ix.reverted.contains(r) {
            if let Some(by) = ix.release.get(r).and_then(|c| c.reverted_by.clone()) {
                out.push(Revert {
                    release_commit: r.clone(),
                    reverted_by: by,
                });
            }
        }
    }
    out
}

/// The expected main-side commits split into landed (on a release commit that is not reverted)
/// and missing.
struct Matched {
    landed: Vec<LandedCommit>,
    missing: Vec<String>,
    /// Whether a missing commit had landed, and every landing of it was reverted.
    any_reverted: bool,
    /// The release commits the landings use.
    used_release: Vec<String>,
}

fn match_landings(ix: &RepoIndex<'_>, expected: &[String]) -> Matched {
    let mut out = Matched {
        landed: Vec::new(),
        missing: Vec::new(),
        any_reverted: false,
        used_release: Vec::new(),
    };
    for m in expected {
        let live: Vec<&(String, MatchKind)> = ix
            .landed
            .get(m)
            .into_iter()
            .flatten()
            .filter(|(r, _)| !ix.reverted.contains(r))
            .collect();
        match live.first() {
            Some((r, kind)) => {
                out.landed.push(LandedCommit {
                    main_commit: m.clone(),
                    release_commit: r.clone(),
                    kind: *kind,
                });
                out.used_release.push(r.clone());
            }
            None => {
                if ix.landed.contains_key(m) {
                    out.any_reverted = true;
                }
                out.missing.push(m.clone());
            }
        }
    }
    out
}

/// The ticket's release-only commits (no main-side counterpart) that are neither reverts nor
/// reverted.
fn live_release_only(ix: &RepoIndex<'_>, release_commits: &[String]) -> Vec<String> {
    release_commits
        .iter()
        .filter(|r| {
            !ix.reverted.contains(*r)
                && ix
                    .release
                    .get(*r)
                    .is_some_and(|c| c.is_release_only() && c.reverts.is_none())
        })
        .cloned()
        .collect()
}

/// How a landing landed: exactly when every commit's evidence is exact, else modified.
fn how_it_landed(status: RepoLandingStatus, landed: &[LandedCommit]) -> Option<How> {
    match status {
        RepoLandingStatus::Landed => Some(if landed.iter().all(|l| l.kind.is_exact()) {
            How::Exact
        } else {
            How::Modified
        }),
        RepoLandingStatus::Partial => Some(How::Partial),
        _ => None,
    }
}

/// The first release tag that contains every one of `used` (the latest of their first tags), or
/// `None` while one of them is untagged.
fn first_tag(ix: &RepoIndex<'_>, used: &[String]) -> Option<String> {
    let mut tag: Option<(usize, String)> = None;
    let mut untagged = false;
    for r in used {
        match ix.release.get(r).and_then(|c| c.first_tag.clone()) {
            Some(t) => {
                let rank = ix.tag_rank.get(&t).copied().unwrap_or(0);
                if tag.as_ref().is_none_or(|(k, _)| rank > *k) {
                    tag = Some((rank, t));
                }
            }
            None => untagged = true,
        }
    }
    if untagged {
        None
    } else {
        tag.map(|(_, t)| t)
    }
}

/// A ticket's status over the repositories it touched (the required ones count);
/// `some_unchecked`: whether some repository could not be read.
pub(super) fn ticket_status(repos: &[RepoLanding], some_unchecked: bool) -> TicketLandingStatus {
    let counted: Vec<&RepoLanding> = repos.iter().filter(|r| r.required).collect();
    if repos.is_empty() && some_unchecked {
        // It may be in a repository that could not be read.
        TicketLandingStatus::Pending
    } else if repos.is_empty() {
        TicketLandingStatus::NotFound
    } else if counted
        .iter()
        .any(|r| r.status == RepoLandingStatus::Reverted)
    {
        TicketLandingStatus::Reverted
    } else if counted.iter().all(|r| r.status.has_landed()) {
        TicketLandingStatus::Landed
    } else if !counted
        .iter()
        .any(|r| r.status.has_landed() || r.status == RepoLandingStatus::Partial)
    {
        if counted
            .iter()
            .all(|r| r.status == RepoLandingStatus::BranchMissing)
        {
            TicketLandingStatus::Pending
        } else {
            TicketLandingStatus::Missing
        }
    } else if counted
        .iter()
        .all(|r| r.status.has_landed() || r.status == RepoLandingStatus::BranchMissing)
    {
        TicketLandingStatus::Pending
    } else {
        TicketLandingStatus::Partial
    }
}
