//! The verdicts, from the evidence: where a ticket stands in one repository (landed exactly or
//! modified, partial, missing, reverted, release-only, waiting for its branch), and over all the
//! repositories it touched.

use crate::model::ScanStatus;
use portcullis_core::landing::{How, MatchKind, RepoLandingStatus, TicketLandingStatus};

use super::evidence::RepoIndex;
use super::report::{AcceptedPartial, LandedCommit, NotNeeded, RepoLanding, Revert};
use crate::moved::Move;

/// Where `key` stands in `ix`'s repository, or `None` if it never touched it; `accepted`: a
/// person's verdict that a partial landing here is what was wanted; `moves`: main-side commits
/// of one repository landed on the release branch of another (code that moved).
pub(super) fn landing(
    ix: &RepoIndex<'_>,
    key: &str,
    accepted: Option<&AcceptedPartial>,
    moves: &[Move],
) -> Option<RepoLanding> {
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
        unchecked: Vec::new(),
        not_needed: Vec::new(),
        accepted_partial: None,
    };
    if ix.scan.status == ScanStatus::BranchMissing {
        out.status = RepoLandingStatus::BranchMissing;
        out.missing = expected;
        return Some(out);
    }
    let matched = match_landings(ix, &expected, moves);
    // The ticket's live release commits here that land a main-side commit of another
    // repository (code that moved there on main).
    let moved_in: Vec<&Move> = moves
        .iter()
        .filter(|m| {
            m.release_repo == ix.scan.repo
                && release_commits.contains(&m.release_commit)
                && !ix.reverted.contains(&m.release_commit)
        })
        .collect();
    // The reverts: of the ticket's own release commits, and of the landings of its main-side
    // commits (a direct push of its fix, reverted).
    let mut reverted_commits = release_commits.clone();
    for r in &matched.reverted_landings {
        if !reverted_commits.contains(r) {
            reverted_commits.push(r.clone());
        }
    }
    out.reverted = reverted_pairs(ix, &reverted_commits);
    let mut used_release = matched.used_release;
    out.status = if expected.is_empty() {
        // No main-side change of the ticket here: what it has are release-only commits (a pin,
        // notes, a manual backport) or reverts. Reverted only when a revert of it exists.
        let live_release_only = live_release_only(ix, &release_commits);
        if !moved_in.is_empty() {
            used_release.extend(live_release_only);
            RepoLandingStatus::Landed
        } else if !live_release_only.is_empty() {
            used_release.extend(live_release_only);
            RepoLandingStatus::ReleaseOnly
        } else if !out.reverted.is_empty() {
            RepoLandingStatus::Reverted
        } else {
            // Only reverts of other changes: they are on the release branch alone.
            used_release.extend(live_non_merge(ix, &release_commits));
            RepoLandingStatus::ReleaseOnly
        }
    } else if matched.missing.is_empty() {
        RepoLandingStatus::Landed
    } else if matched.any_reverted && matched.landed.is_empty() && !out.reverted.is_empty() {
        RepoLandingStatus::Reverted
    } else if matched.landed.is_empty() {
        RepoLandingStatus::Missing
    } else {
        RepoLandingStatus::Partial
    };
    out.unchecked = unchecked_for(ix, out.status, &expected, &release_commits);
    if !out.unchecked.is_empty() {
        // What could not be read may hold the missing landing (or the counterpart).
        out.status = RepoLandingStatus::Unverifiable;
    }
    out.landed = matched.landed;
    if expected.is_empty() {
        out.landed.extend(moved_in.iter().map(|m| LandedCommit {
            main_commit: m.main_commit.clone(),
            release_commit: m.release_commit.clone(),
            kind: m.kind,
            confidence: Some(m.confidence),
            moved_to: None,
            moved_from: Some(m.main_repo.clone()),
        }));
    }
    out.missing = matched.missing;
    out.not_needed = matched.not_needed;
    out.how = how_it_landed(out.status, &out.landed);
    // A person said the landed part is what was wanted: landed, as long as nothing beyond
    // what they saw left out is missing.
    if let Some(a) = accepted.filter(|a| {
        out.status == RepoLandingStatus::Partial
            && out.missing.iter().all(|m| a.left_out.contains(m))
    }) {
        out.status = RepoLandingStatus::Landed;
        out.how = Some(How::Partial);
        out.accepted_partial = Some(a.clone());
    }
    if out.status.has_landed() {
        out.first_tag = first_tag(ix, &used_release);
        // A landing in another repository: its release tags are the line's too.
        if !matched.moved_tags.is_empty() && (out.first_tag.is_some() || used_release.is_empty()) {
            out.first_tag = latest_tag(ix, out.first_tag.take(), &matched.moved_tags);
        }
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
    // Counterparts of the ticket's own release commits belong to it too (a carrier ticket):
    // a commit, or the commits of a main-side merge it matched (a squash, a trailer naming a
    // merge).
    let counterparts = |own_only: bool, expected: &mut Vec<String>| {
        for r in release_commits {
            let Some(c) = ix.release.get(r) else { continue };
            if own_only && c.ticket.as_deref() != Some(key) {
                continue;
            }
            if c.reverts.is_some() {
                continue;
            }
            for m in c
                .matched
                .iter()
                .flat_map(|m| ix.main_side_of(&m.main_commit))
            {
                if !expected.contains(&m) {
                    expected.push(m);
                }
            }
        }
    };
    counterparts(true, &mut expected);
    // A ticket only mentioned by release commits, with no main-side commit of its own: the
    // counterparts of the commits that mention it are its change.
    if expected.is_empty() {
        counterparts(false, &mut expected);
    }
    expected
}

/// The unreadable commits (missing objects) a verdict of `status` depends on: the ticket's own,
/// and, for a missing landing, every unreadable release commit (it may be the landing) or, for
/// release-only commits, every unreadable main-side commit (it may be their counterpart). A
/// landed or reverted verdict stands on what was read.
fn unchecked_for(
    ix: &RepoIndex<'_>,
    status: RepoLandingStatus,
    expected: &[String],
    release_commits: &[String],
) -> Vec<String> {
    if ix.scan.unchecked.is_empty()
        || matches!(
            status,
            RepoLandingStatus::Landed | RepoLandingStatus::Reverted
        )
    {
        return Vec::new();
    }
    ix.scan
        .unchecked
        .iter()
        .map(|u| &u.sha)
        .filter(|sha| {
            let release = ix.release.contains_key(*sha);
            expected.contains(sha)
                || release_commits.contains(sha)
                || match status {
                    RepoLandingStatus::ReleaseOnly => !release,
                    _ => release,
                }
        })
        .cloned()
        .collect()
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
    /// The reverted release commits that had landed the missing commits.
    reverted_landings: Vec<String>,
    /// Commits with no live counterpart that need none (paths that never need a backport).
    not_needed: Vec<NotNeeded>,
    /// The first tags of the landings in other repositories (code that moved).
    moved_tags: Vec<Option<String>>,
}

fn match_landings(ix: &RepoIndex<'_>, expected: &[String], moves: &[Move]) -> Matched {
    let mut out = Matched {
        landed: Vec::new(),
        missing: Vec::new(),
        any_reverted: false,
        used_release: Vec::new(),
        reverted_landings: Vec::new(),
        not_needed: Vec::new(),
        moved_tags: Vec::new(),
    };
    for m in expected {
        let moved = moves
            .iter()
            .find(|x| x.main_repo == ix.scan.repo && &x.main_commit == m);
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
                    confidence: None,
                    moved_to: None,
                    moved_from: None,
                });
                out.used_release.push(r.clone());
            }
            None if ix.content.contains_key(m.as_str()) && !ix.landed.contains_key(m) => {
                let c = ix.content[m.as_str()];
                out.landed.push(LandedCommit {
                    main_commit: m.clone(),
                    release_commit: c.release_commit.clone(),
                    kind: MatchKind::Content,
                    confidence: Some(c.confidence),
                    moved_to: None,
                    moved_from: None,
                });
                out.used_release.push(c.release_commit.clone());
            }
            None if moved.is_some() && !ix.landed.contains_key(m) => {
                let x = moved.expect("a move");
                out.landed.push(LandedCommit {
                    main_commit: m.clone(),
                    release_commit: x.release_commit.clone(),
                    kind: x.kind,
                    confidence: Some(x.confidence),
                    moved_to: Some(x.release_repo.clone()),
                    moved_from: None,
                });
                out.moved_tags.push(x.first_tag.clone());
            }
            None if ix.not_needed.contains_key(m.as_str()) => out.not_needed.push(NotNeeded {
                main_commit: m.clone(),
                rule: ix.not_needed[m.as_str()].to_string(),
            }),
            None => {
                if let Some(all) = ix.landed.get(m) {
                    out.any_reverted = true;
                    for (r, _) in all {
                        if !out.reverted_landings.contains(r) {
                            out.reverted_landings.push(r.clone());
                        }
                    }
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

/// The ticket's live non-merge release commits.
fn live_non_merge(ix: &RepoIndex<'_>, release_commits: &[String]) -> Vec<String> {
    release_commits
        .iter()
        .filter(|r| !ix.reverted.contains(*r) && ix.release.get(*r).is_some_and(|c| !c.merge))
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

/// The later of `own` and every one of `moved` by the release order of `ix`'s tags, or `None`
/// while one of `moved` is untagged.
fn latest_tag(ix: &RepoIndex<'_>, own: Option<String>, moved: &[Option<String>]) -> Option<String> {
    let mut best: Option<(usize, String)> = None;
    for t in own.into_iter().map(Some).chain(moved.iter().cloned()) {
        let t = t?;
        let rank = ix.tag_rank.get(&t).copied().unwrap_or(0);
        if best.as_ref().is_none_or(|(k, _)| rank > *k) {
            best = Some((rank, t));
        }
    }
    best.map(|(_, t)| t)
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
        // Landed needs a landing of the ticket's own main-side change somewhere (or main-side
        // commits the policy does not require here, e.g. code that moved and was backported by
        // hand); release-only commits alone are only that.
        if counted
            .iter()
            .any(|r| r.status == RepoLandingStatus::Landed)
            || repos.iter().any(|r| !r.main_commits.is_empty())
        {
            TicketLandingStatus::Landed
        } else {
            TicketLandingStatus::ReleaseOnly
        }
    } else if !counted
        .iter()
        .any(|r| r.status.has_landed() || r.status == RepoLandingStatus::Partial)
    {
        if counted.iter().all(|r| {
            matches!(
                r.status,
                RepoLandingStatus::BranchMissing | RepoLandingStatus::Unverifiable
            )
        }) {
            TicketLandingStatus::Pending
        } else {
            TicketLandingStatus::Missing
        }
    } else if counted.iter().all(|r| {
        r.status.has_landed()
            || matches!(
                r.status,
                RepoLandingStatus::BranchMissing | RepoLandingStatus::Unverifiable
            )
    }) {
        TicketLandingStatus::Pending
    } else {
        TicketLandingStatus::Partial
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MainCommit, Match, ReleaseCommit, RepoScan, ScanStatus};

    fn scan(main: Vec<MainCommit>, release: Vec<ReleaseCommit>) -> RepoScan {
        RepoScan {
            repo: "pkg".into(),
            status: ScanStatus::Ok,
            problems: Vec::new(),
            main_branch: "main".into(),
            release_branch: "v23.0.x".into(),
            main_tip: None,
            release_tip: None,
            branch_point: None,
            tags: Vec::new(),
            release_commits: release,
            main_commits: main,
            unchecked: Vec::new(),
            memo_key: None,
        }
    }

    fn main_commit(sha: &str, merge: bool, introduces: &[&str]) -> MainCommit {
        MainCommit {
            sha: sha.into(),
            subject: sha.into(),
            time: 0,
            merge,
            ticket: None,
            via: None,
            mentions: Vec::new(),
            introduces: introduces.iter().map(|s| s.to_string()).collect(),
            not_needed: None,
            content: None,
            outside_release: false,
        }
    }

    fn release_commit(
        sha: &str,
        ticket: &str,
        matched: Option<(&str, MatchKind)>,
    ) -> ReleaseCommit {
        ReleaseCommit {
            sha: sha.into(),
            subject: sha.into(),
            time: 0,
            merge: false,
            ticket: Some(ticket.into()),
            via: None,
            mentions: Vec::new(),
            matched: matched.map(|(m, kind)| Match {
                kind,
                main_commit: m.into(),
                confidence: kind.confidence(),
                overlap: None,
            }),
            candidates: Vec::new(),
            direction: None,
            first_tag: None,
            reverts: None,
            reverted_by: None,
        }
    }

    /// Issue 20: a key with no main-side commits of its own and no live release-only commit was
    /// classed `reverted` with an empty revert list.
    #[test]
    fn a_key_without_main_side_commits_is_not_reverted_without_a_revert() {
        // A squash of an unticketed main-side merge, and a revert of another ticket's commit.
        let mut other = release_commit("r0", "DM-2", None);
        other.reverted_by = Some("r2".into());
        let mut revert = release_commit("r2", "DM-3", None);
        revert.reverts = Some("r0".into());
        let s = scan(
            vec![
                main_commit("a", false, &[]),
                main_commit("b", false, &[]),
                main_commit("m", true, &["a", "b"]),
            ],
            vec![
                other,
                release_commit("r1", "DM-1", Some(("m", MatchKind::Squash))),
                revert,
            ],
        );
        let ix = RepoIndex::new(&s, true);
        let l = landing(&ix, "DM-1", None, &[]).unwrap();
        assert_eq!(l.status, RepoLandingStatus::Landed);
        assert_eq!(l.main_commits, ["a", "b"]);
        assert!(l.reverted.is_empty());
        // Only a revert of someone else's change: on the release branch alone, not reverted.
        let l = landing(&ix, "DM-3", None, &[]).unwrap();
        assert_eq!(l.status, RepoLandingStatus::ReleaseOnly);
        assert!(l.reverted.is_empty());
        // The reverted one is reverted, and says by what.
        let l = landing(&ix, "DM-2", None, &[]).unwrap();
        assert_eq!(l.status, RepoLandingStatus::Reverted);
        assert_eq!(l.reverted[0].reverted_by, "r2");
    }

    /// Issue 20: release-only repositories alone make a ticket `release_only`, not `landed`.
    #[test]
    fn release_only_alone_is_not_landed() {
        let landing = |status, main_commits: Vec<String>| RepoLanding {
            repo: "pkg".into(),
            status,
            how: None,
            required: true,
            main_commits,
            landed: Vec::new(),
            missing: Vec::new(),
            release_commits: Vec::new(),
            first_tag: None,
            reverted: Vec::new(),
            unchecked: Vec::new(),
            not_needed: Vec::new(),
            accepted_partial: None,
        };
        let only = [landing(RepoLandingStatus::ReleaseOnly, Vec::new())];
        assert_eq!(
            ticket_status(&only, false),
            TicketLandingStatus::ReleaseOnly
        );
        let with_own = [
            landing(RepoLandingStatus::ReleaseOnly, Vec::new()),
            landing(RepoLandingStatus::Landed, vec!["a".into()]),
        ];
        assert_eq!(ticket_status(&with_own, false), TicketLandingStatus::Landed);
    }
}
