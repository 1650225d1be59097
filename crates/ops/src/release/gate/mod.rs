//! The gate of a cut: every check that blocks it, run before anything is written. The version
//! rule, the step it is cut for, the approvals it must include and whether they landed, each
//! repository (its scan, its history since the previous release, its working tree, its tag),
//! unapproved landings, pending tracker writes and blocking violations. What the gate notices
//! outside the release is a note, not a blocker.
//!
//! What the release really contains (fixed, withdrawn, only mentioned) is worked out in
//! `contents`.

mod contents;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use git2::{Oid, Repository};

use self::contents::{contents, since_previous, Released};
use super::options::CutOptions;
use super::record::Recorded;
use super::steps::{steps_in, targets};
use crate::verify::{verify, Quiet, VerifyOptions};
use crate::workspace::Workspace;
use crate::{Error, Result, Target};
use portcullis_core::landing::DriftKind;
use portcullis_core::policy::{Line, Repository as PolicyRepository};
use portcullis_core::release::{
    check_version, Blocker, Manifest, ManifestRepo, ManifestTicket, WithdrawnTicket,
};
use portcullis_core::Problem;
use portcullis_git::scan::{resolve_repo_path, RepoScan, ScanStatus};
use portcullis_git::verify::Verification;
use portcullis_ledger::Ledger;

/// The release being cut, as far as the gate needs to know it.
pub(super) struct Cut<'a> {
    pub opts: &'a CutOptions,
    pub line: &'a Line,
    pub version: &'a semver::Version,
    /// The tag this cut makes (with its `-rcN` for a candidate).
    pub tag: &'a str,
    /// The releases already cut on the line.
    pub done: &'a [Recorded],
    /// The highest final version cut so far, else the line's base version.
    pub previous_final: &'a semver::Version,
    /// The previous final release's manifest, if any, and its tag (else the base tag).
    pub previous: Option<&'a Manifest>,
    pub previous_tag: &'a str,
    /// `--promote`: the release candidate whose commits this final release tags.
    pub candidate: Option<&'a Manifest>,
    /// Where the policy file is: repository paths are relative to it.
    pub policy_dir: &'a Path,
}

/// What the gate found: the blockers and notes, and what the release would contain.
pub(super) struct Gated {
    pub blockers: Vec<Blocker>,
    pub notes: Vec<Blocker>,
    pub repos: Vec<ManifestRepo>,
    /// (repository, tag, commit, already there)
    pub tags: Vec<(String, String, String, bool)>,
    pub tickets: Vec<ManifestTicket>,
    /// Tickets with commits in the release that it does not fix (reverted, approval revoked).
    pub withdrawn: Vec<WithdrawnTicket>,
    /// Keys only mentioned in its commits' messages.
    pub mentioned: Vec<ManifestTicket>,
    /// Nothing new since the previous release (or the previous candidate of the version).
    pub empty: bool,
}

/// Run every check of the gate. An error is returned only where the gate cannot run at all
/// (an unknown step, a repository that cannot be opened, a candidate without a repository).
pub(super) fn check(ws: &Workspace, ledger: &Ledger, cut: &Cut) -> Result<Gated> {
    let mut blockers: Vec<Blocker> = Vec::new();
    if let Some(b) = check_version(cut.version, cut.previous_final, cut.opts.allow_skip) {
        blockers.push(b);
    }
    // The verifier: landings and drift as of now.
    let verified = verify(
        ws,
        &VerifyOptions {
            line: Some(cut.line.name.clone()),
            ..Default::default()
        },
        &Quiet,
    )?;
    let v = &verified.verification;
    let tg = targets(ledger, &cut.line.name)?;
    check_step(ws, ledger, cut, &tg, &mut blockers)?;
    let must_include = approvals_to_include(cut, v, &tg, &mut blockers);
    let released = released_repositories(ws, cut, v, &mut blockers)?;
    unapproved_landings(cut, v, &released.since_all, &mut blockers);
    check_waivers(cut, v, &released, &mut blockers);
    let empty = is_empty(cut, &released.repos, &mut blockers);
    // Pending tracker writes and blocking violations: of the tickets this release contains
    // (what it tags, and what it must include). Elsewhere on the line they are notes.
    let contents = contents(ledger, cut, v, &released)?;
    let tickets = contents.fixed;
    let mut in_release: BTreeSet<String> = tickets.iter().map(|t| t.key.clone()).collect();
    in_release.extend(must_include);
    let mut notes: Vec<Blocker> = Vec::new();
    pending_pushes(ws, ledger, cut, &in_release, &mut blockers, &mut notes)?;
    blocking_violations(ws, ledger, cut, &in_release, &mut blockers, &mut notes)?;
    blockers.sort();
    blockers.dedup();
    notes.sort();
    notes.dedup();
    Ok(Gated {
        blockers,
        notes,
        repos: released.repos,
        tags: released.tags,
        tickets,
        withdrawn: contents.withdrawn,
        mentioned: contents.mentioned,
        empty,
    })
}

/// `--waive KEY` needs KEY on a release branch since the previous release: a waiver of
/// anything else (a typo) would only put a wrong key into the manifest.
fn check_waivers(cut: &Cut, v: &Verification, released: &Released, blockers: &mut Vec<Blocker>) {
    let unapproved: BTreeSet<&str> = v
        .drift
        .iter()
        .filter(|d| {
            d.kind == DriftKind::LandedNotApproved
                && d.commits.iter().any(|c| released.since_all.contains(c))
        })
        .filter_map(|d| d.ticket.as_deref())
        .collect();
    for w in &cut.opts.waivers {
        if released.keys.contains_key(&w.key) {
            continue;
        }
        let valid = if unapproved.is_empty() {
            "no ticket landed without approval since then".to_string()
        } else {
            format!(
                "landed without approval since then: {}",
                unapproved.iter().copied().collect::<Vec<_>>().join(", ")
            )
        };
        blockers.push(Blocker::new(
            "waiver",
            Some(&w.key),
            None,
            format!(
                "--waive {}: {} has no commit on {} since {} in any repository, so there is nothing to waive ({valid})",
                w.key, w.key, cut.line.branch, cut.previous_tag
            ),
        ));
    }
}

/// A cut with nothing new is refused unless `--allow-empty`: no repository has a commit since
/// the previous release, or (a release candidate) every repository is at the commit of the
/// previous candidate of the version. Promoting a candidate is never empty: it is that
/// candidate. Returns whether the cut is empty.
fn is_empty(cut: &Cut, repos: &[ManifestRepo], blockers: &mut Vec<Blocker>) -> bool {
    if cut.candidate.is_some() || repos.is_empty() {
        return false;
    }
    let version = cut.version.to_string();
    let last_rc = cut
        .done
        .iter()
        .filter(|r| r.manifest.version == version && r.manifest.rc.is_some())
        .max_by_key(|r| r.manifest.rc)
        .map(|r| &r.manifest);
    let same_as = |m: &Manifest| {
        m.repos.len() == repos.len()
            && repos.iter().all(|r| {
                m.repos
                    .iter()
                    .any(|x| x.repo == r.repo && x.commit == r.commit)
            })
    };
    let message = match last_rc {
        Some(m) if cut.opts.rc && same_as(m) => format!(
            "{} would be identical to {}: no repository has a commit since it (pass --allow-empty to cut it anyway)",
            cut.tag, m.tag
        ),
        _ if repos.iter().all(|r| r.commits.is_empty()) => format!(
            "nothing new since {}: no repository has a commit since it (pass --allow-empty to cut it anyway)",
            cut.previous_tag
        ),
        _ => return false,
    };
    if !cut.opts.allow_empty {
        blockers.push(Blocker::new("empty", None, None, message));
    }
    true
}

/// `--step`: the step must exist, and not have started (what a running step uses is frozen).
fn check_step(
    ws: &Workspace,
    ledger: &Ledger,
    cut: &Cut,
    tg: &BTreeMap<String, Target>,
    blockers: &mut Vec<Blocker>,
) -> Result<()> {
    let Some(step) = &cut.opts.step else {
        return Ok(());
    };
    let line = cut.line;
    let rows = steps_in(ledger, &ws.policy, &line.name, tg, &BTreeSet::new())?;
    match rows.iter().find(|r| &r.name == step) {
        None => {
            let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
            return Err(Error::input(format!("unknown step `{step}` for line {}", line.name))
                .hint(format!("the policy's steps: {}", names.join(", "))));
        }
        Some(r) if r.status != "not_started" => blockers.push(Blocker::new(
            "step_frozen",
            None,
            None,
            format!(
                "step {step} already runs with {}: what it used is frozen; cut a release for a later step",
                r.release.as_deref().unwrap_or("?")
            ),
        )),
        Some(_) => {}
    }
    Ok(())
}

/// The approvals this release must include, each blocking the cut until it has landed: no
/// target or a release up to this one, and the cut's own step. Approvals for other steps or
/// later releases wait for their cut; those released before are not asked again. A target the
/// line can never cut (another series, recorded before targets were checked) is no target:
/// the approval is never silently left out.
fn approvals_to_include(
    cut: &Cut,
    v: &Verification,
    tg: &BTreeMap<String, Target>,
    blockers: &mut Vec<Blocker>,
) -> BTreeSet<String> {
    let wanted = |key: &str| match tg.get(key) {
        None => true,
        Some(Target::Release(r)) => semver::Version::parse(r).map_or(true, |r| {
            &r <= cut.version || (r.major, r.minor) != (cut.version.major, cut.version.minor)
        }),
        Some(Target::Step(s)) => cut.opts.step.as_deref() == Some(s.as_str()),
    };
    let released_before: BTreeSet<&str> = cut
        .done
        .iter()
        .flat_map(|r| r.manifest.tickets.iter().map(|t| t.key.as_str()))
        .collect();
    let mut must_include: BTreeSet<String> = BTreeSet::new();
    for t in &v.tickets {
        let approved = matches!(t.state.as_deref(), Some("approved" | "done"));
        if !approved || !wanted(&t.key) || released_before.contains(t.key.as_str()) {
            continue;
        }
        must_include.insert(t.key.clone());
        if t.status.has_landed() {
            continue;
        }
        let missing: Vec<String> = t
            .repos
            .iter()
            .filter(|r| r.required && !r.status.has_landed())
            .map(|r| format!("{} {}", r.repo, r.status.as_str().replace('_', " ")))
            .collect();
        let why = if missing.is_empty() {
            "no commit of it was found".to_string()
        } else {
            missing.join(", ")
        };
        blockers.push(Blocker::new(
            "not_landed",
            Some(&t.key),
            None,
            format!(
                "{} is {} but has not landed: {why}",
                t.key,
                t.state.as_deref().unwrap_or("?")
            ),
        ));
    }
    must_include
}

/// Per repository of the line: what is released, and whether it can be.
fn released_repositories(
    ws: &Workspace,
    cut: &Cut,
    v: &Verification,
    blockers: &mut Vec<Blocker>,
) -> Result<Released> {
    let scans: HashMap<&str, &RepoScan> = v
        .repositories
        .iter()
        .map(|r| (r.repo.as_str(), r))
        .collect();
    let mut out = Released {
        repos: Vec::new(),
        tags: Vec::new(),
        since_all: BTreeSet::new(),
        keys: BTreeMap::new(),
    };
    for r in ws.policy.repositories_for(&cut.line.name) {
        let Some(scan) = scans.get(r.name.as_str()) else {
            continue;
        };
        if scan.status != ScanStatus::Ok {
            blockers.push(Blocker::new(
                "repository",
                None,
                Some(&r.name),
                format!(
                    "{} cannot be released: {}",
                    r.name,
                    scan.problems.join("; ")
                ),
            ));
            continue;
        }
        released_repository(cut, r, scan, blockers, &mut out)?;
    }
    Ok(out)
}

/// One repository: its tip (the branch's, or the candidate's commit), which must descend from
/// the previous release; a clean working tree for `--apply`; its tag, new or at the same
/// commit; and its commits and tickets since the previous release.
fn released_repository(
    cut: &Cut,
    r: &PolicyRepository,
    scan: &RepoScan,
    blockers: &mut Vec<Blocker>,
    out: &mut Released,
) -> Result<()> {
    let (line, tag, previous_tag) = (cut.line, cut.tag, cut.previous_tag);
    let path = resolve_repo_path(cut.policy_dir, &r.path);
    let repo = Repository::open(&path)
        .map_err(|e| Error::input(format!("cannot open {}: {}", r.path, e.message())))?;
    let tip_sha = match cut.candidate {
        Some(c) => c
            .repos
            .iter()
            .find(|x| x.repo == r.name)
            .map(|x| x.commit.clone())
            .ok_or_else(|| {
                Error::input(format!("{} is not in the candidate {}", r.name, c.tag))
                    .hint("cut a new candidate, or the final release without --promote")
            })?,
        None => scan.release_tip.clone().unwrap_or_default(),
    };
    let tip = Oid::from_str(&tip_sha).map_err(|e| {
        Problem::internal(format!("{}: `{tip_sha}` is not a commit id", r.name)).because(e)
    })?;
    let prev_commit: Option<Oid> = cut
        .previous
        .and_then(|m| m.repos.iter().find(|x| x.repo == r.name))
        .and_then(|x| Oid::from_str(&x.commit).ok())
        .or_else(|| {
            repo.find_reference(&format!("refs/tags/{previous_tag}"))
                .ok()
                .and_then(|t| t.peel_to_commit().ok())
                .map(|c| c.id())
        });
    if let Some(p) = prev_commit {
        if p != tip && !repo.graph_descendant_of(tip, p).unwrap_or(false) {
            blockers.push(Blocker::new(
                "not_descendant",
                None,
                Some(&r.name),
                format!(
                    "{}: {} ({}) does not descend from {previous_tag} ({}); a release may only add on top of the previous one",
                    r.name, line.branch, &tip.to_string()[..10], &p.to_string()[..10]
                ),
            ));
        }
    }
    if cut.opts.apply && has_uncommitted_changes(&repo) {
        blockers.push(Blocker::new(
            "repository",
            None,
            Some(&r.name),
            format!(
                "{}: the working tree at {} has uncommitted changes; commit or stash them first",
                r.name, r.path
            ),
        ));
    }
    let exists = match repo.find_reference(&format!("refs/tags/{tag}")) {
        Ok(t) => {
            let at = t.peel_to_commit().map(|c| c.id()).ok();
            if at != Some(tip) {
                blockers.push(Blocker::new(
                    "tag_exists",
                    None,
                    Some(&r.name),
                    format!(
                        "{}: tag {tag} already exists at another commit ({}); tags are never moved",
                        r.name,
                        at.map(|o| o.to_string()[..10].to_string())
                            .unwrap_or_default()
                    ),
                ));
            }
            true
        }
        Err(_) => false,
    };
    let (commits, tickets) = since_previous(&repo, tip, prev_commit, scan, out)?;
    out.tags
        .push((r.name.clone(), tag.to_string(), tip.to_string(), exists));
    out.repos.push(ManifestRepo {
        repo: r.name.clone(),
        branch: line.branch.clone(),
        commit: tip.to_string(),
        previous_commit: prev_commit.map(|o| o.to_string()),
        tag: tag.to_string(),
        tickets,
        commits,
    });
    Ok(())
}

/// Whether tracked files of the working tree differ from the index or `HEAD`.
fn has_uncommitted_changes(repo: &Repository) -> bool {
    repo.statuses(Some(git2::StatusOptions::new().include_untracked(false)))
        .map(|s| s.iter().any(|e| e.status() != git2::Status::CURRENT))
        .unwrap_or(false)
}

/// Landed but never approved, since the previous release, unless waived.
fn unapproved_landings(
    cut: &Cut,
    v: &Verification,
    since_all: &BTreeSet<String>,
    blockers: &mut Vec<Blocker>,
) {
    let waived: BTreeSet<&str> = cut.opts.waivers.iter().map(|w| w.key.as_str()).collect();
    for d in &v.drift {
        if d.kind != DriftKind::LandedNotApproved
            || !d.commits.iter().any(|c| since_all.contains(c))
        {
            continue;
        }
        if d.ticket.as_deref().is_some_and(|k| waived.contains(k)) {
            continue;
        }
        let hint = match &d.ticket {
            Some(k) => format!(" (approve it, or let it through with `--waive {k} --note …`)"),
            None => " (revert it, or give it a ticket)".into(),
        };
        blockers.push(Blocker::new(
            "unapproved",
            d.ticket.as_deref(),
            d.repo.as_deref(),
            format!("{}{hint}", d.message),
        ));
    }
}

/// Decisions not yet written to the tracker: on the release's tickets they block (a note when
/// no tracker is configured); elsewhere on the line they are a note.
fn pending_pushes(
    ws: &Workspace,
    ledger: &Ledger,
    cut: &Cut,
    in_release: &BTreeSet<String>,
    blockers: &mut Vec<Blocker>,
    notes: &mut Vec<Blocker>,
) -> Result<()> {
    let pending: Vec<_> = portcullis_trackers::push::pending_decisions(ledger)?
        .into_iter()
        .filter(|d| d.line == cut.line.name)
        .collect();
    let (mine, others): (Vec<_>, Vec<_>) =
        pending.iter().partition(|d| in_release.contains(&d.key));
    let tracker = ws
        .config
        .as_ref()
        .is_some_and(|c| c.jira.is_some() || c.github.is_some());
    if !mine.is_empty() {
        let mut keys: Vec<&str> = mine.iter().map(|d| d.key.as_str()).collect();
        keys.dedup();
        let b = Blocker::new(
            "pending_push",
            None,
            None,
            format!(
                "{} decision(s) on tickets of this release are not written to the tracker yet ({}); run `portcullis push`",
                mine.len(),
                keys.join(", ")
            ),
        );
        if tracker {
            blockers.push(b);
        } else {
            notes.push(Blocker {
                message: format!(
                    "{} decision(s) on tickets of this release are recorded only in the ledger: no tracker is configured to push them to",
                    mine.len()
                ),
                ..b
            });
        }
    }
    if tracker && !others.is_empty() {
        notes.push(Blocker::new(
            "pending_push",
            None,
            None,
            format!(
                "{} decision(s) on tickets outside this release wait for `portcullis push`",
                others.len()
            ),
        ));
    }
    Ok(())
}

/// Unresolved violations the policy marks blocking: blockers on the release's tickets, notes
/// elsewhere on the line.
fn blocking_violations(
    ws: &Workspace,
    ledger: &Ledger,
    cut: &Cut,
    in_release: &BTreeSet<String>,
    blockers: &mut Vec<Blocker>,
    notes: &mut Vec<Blocker>,
) -> Result<()> {
    for (ticket, _, viol) in ledger.violations(Some(&cut.line.name), None)? {
        if viol.resolved_by.is_none() && ws.policy.is_blocking(viol.kind) {
            let inside = in_release.contains(&ticket);
            let b = Blocker::new(
                "violation",
                Some(&ticket),
                None,
                format!(
                    "{ticket}: {} ({}), which the policy marks blocking{}",
                    viol.message,
                    viol.kind.as_str(),
                    if inside { "" } else { "; not in this release" }
                ),
            );
            if inside {
                blockers.push(b);
            } else {
                notes.push(b);
            }
        }
    }
    Ok(())
}
