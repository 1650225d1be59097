//! `cut`, `releases`, `release show`: the gate and the cut of a patch release.
//!
//! Order of effects, so that a rerun completes what an interrupted cut left: everything is
//! checked first (nothing written while anything blocks); then the tags (an existing tag at the
//! same commit is kept, at another commit it blocks); then the manifest event in one ledger
//! transaction (deduplicated by line and tag); then the files.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use git2::{Oid, Repository};
use serde::Serialize;
use serde_json::{json, Value};

use crate::verify::{verify, Quiet, VerifyOptions};
use crate::workspace::Workspace;
use crate::{Error, Result};
use portcullis_core::event::{source, NewEvent};
use portcullis_core::landing::{DriftKind, TicketLandingStatus};
use portcullis_core::release::{
    check_version, render_changelog, render_notes, render_versiondb, tickets_of, Blocker, Manifest,
    ManifestRepo, Waiver,
};
use portcullis_core::time::now;
use portcullis_core::Problem;
use portcullis_git::scan::{resolve_repo_path, ScanStatus};
use portcullis_git::text::tag_name;
use portcullis_ledger::Ledger;

/// The event kind of a cut release (payload: the manifest and its hash).
pub const RELEASE_CUT: &str = "release.cut";
/// A cut asked for with `--apply` that the gate refused (payload: version, tag, message, the
/// blockers' kinds). No tag, no manifest: only the fact, for alerts and the record.
pub const CUT_FAILED: &str = "release.cut_failed";

#[derive(Debug, Clone, Default)]
pub struct CutOptions {
    pub line: Option<String>,
    pub version: String,
    pub rc: bool,
    pub apply: bool,
    pub allow_skip: bool,
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

/// A release recorded in the ledger.
#[derive(Debug, Clone, Serialize)]
pub struct Recorded {
    pub seq: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub manifest: Manifest,
    pub hash: String,
}

/// The releases of a line, in the order they were cut.
pub fn releases(ledger: &Ledger, line: &str) -> Result<Vec<Recorded>> {
    let mut out = Vec::new();
    for e in ledger.events_of_kinds(&[RELEASE_CUT])? {
        if e.line.as_deref() != Some(line) {
            continue;
        }
        let manifest: Manifest =
            serde_json::from_value(e.payload["manifest"].clone()).map_err(|err| {
                Error::internal(format!("release event {} is malformed: {err}", e.seq))
            })?;
        let hash = e.payload["hash"].as_str().unwrap_or_default().to_string();
        if manifest.content_hash() != hash {
            return Err(Error::internal(format!(
                "the manifest of {} (event {}) does not match its hash; run `portcullis audit`",
                manifest.tag, e.seq
            )));
        }
        out.push(Recorded {
            seq: e.seq,
            at: e.at,
            manifest,
            hash,
        });
    }
    Ok(out)
}

fn parse_version(s: &str) -> Result<semver::Version> {
    semver::Version::parse(s.trim_start_matches('v')).map_err(|_| {
        Error::input(format!("`{s}` is not a version like 23.0.2"))
            .hint("give the patch release to cut, e.g. `portcullis cut 23.0.2`")
    })
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

/// Check, and with `apply` cut, a release.
pub fn cut(ws: &Workspace, opts: &CutOptions) -> Result<CutReport> {
    let policy = &ws.policy;
    let line = policy.resolve_line(opts.line.as_deref())?;
    let version = parse_version(&opts.version)?;
    let base = semver::Version::parse(&line.base_version)
        .map_err(|e| Error::internal(format!("bad base version: {e}")))?;
    // One read connection for the whole gate (the verifier below writes through its own).
    let ledger = ws.open_ledger()?;
    let done = releases(&ledger, &line.name)?;
    let finals: Vec<&Recorded> = done.iter().filter(|r| r.manifest.rc.is_none()).collect();
    let previous_final = finals
        .iter()
        .filter_map(|r| semver::Version::parse(&r.manifest.version).ok())
        .max()
        .unwrap_or_else(|| base.clone());
    let tag_final = tag_name(line, &version, None);
    if let Some(r) = done.iter().find(|r| r.manifest.tag == tag_final) {
        if (opts.push || opts.apply) && !opts.rc {
            // Finishing an interrupted cut: the release is recorded (its tags were made before
            // it was), so write its files again and push its tags if asked.
            let mut report = CutReport {
                manifest: r.manifest.clone(),
                hash: r.hash.clone(),
                blockers: Vec::new(),
                notes: Vec::new(),
                tags: r
                    .manifest
                    .repos
                    .iter()
                    .map(|x| (x.repo.clone(), x.tag.clone(), x.commit.clone(), true))
                    .collect(),
                applied: true,
                files: Vec::new(),
                marked_done: Vec::new(),
                pushed: Vec::new(),
                resumed: true,
            };
            if opts.apply {
                report.files = write_files(ws, opts, &r.manifest, &r.hash, r.at)?;
            }
            if opts.push {
                push_tags(ws, &mut report);
            }
            return Ok(report);
        }
        return Err(Error::input(format!("{tag_final} was already cut"))
            .hint("see it with `portcullis release show`; cut the next patch release instead"));
    }
    let rc = if opts.rc {
        Some(
            done.iter()
                .filter(|r| r.manifest.version == version.to_string() && r.manifest.rc.is_some())
                .count() as u64
                + 1,
        )
    } else {
        None
    };
    let tag = tag_name(line, &version, rc);
    // `--promote`: the final release is the last candidate of this version, commit for commit.
    let candidate: Option<&Manifest> = if opts.promote {
        if opts.rc {
            return Err(Error::input(
                "--promote makes a final release; it does not go with --rc",
            ));
        }
        Some(
            done.iter()
                .filter(|r| r.manifest.version == version.to_string() && r.manifest.rc.is_some())
                .max_by_key(|r| r.manifest.rc)
                .map(|r| &r.manifest)
                .ok_or_else(|| {
                    Error::input(format!(
                        "there is no release candidate of {version} to promote"
                    ))
                    .hint(format!(
                        "cut one first: `portcullis cut {version} --rc --apply`"
                    ))
                })?,
        )
    } else {
        None
    };
    let mut blockers: Vec<Blocker> = Vec::new();
    if let Some(b) = check_version(&version, &previous_final, opts.allow_skip) {
        blockers.push(b);
    }
    // The previous release of each repository: the last final manifest, else the base tag.
    let previous = finals.last().map(|r| &r.manifest);
    let previous_tag = previous
        .map(|m| m.tag.clone())
        .unwrap_or_else(|| tag_name(line, &base, None));

    // The verifier: landings and drift as of now.
    let verified = verify(
        ws,
        &VerifyOptions {
            line: Some(line.name.clone()),
            ..Default::default()
        },
        &Quiet,
    )?;
    let v = &verified.verification;
    let tg = targets(&ledger, &line.name)?;
    if let Some(step) = &opts.step {
        let rows = steps_in(&ledger, policy, &line.name, &tg, &BTreeSet::new())?;
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
    }
    // Which approvals this cut must include: no target or a release up to this one, and the
    // cut's own step. Approvals for other steps or later releases wait for their cut.
    let wanted = |key: &str| match tg.get(key) {
        None => true,
        Some(crate::Target::Release(r)) => semver::Version::parse(r).map_or(true, |r| r <= version),
        Some(crate::Target::Step(s)) => opts.step.as_deref() == Some(s.as_str()),
    };
    let released_before: BTreeSet<&str> = done
        .iter()
        .flat_map(|r| r.manifest.tickets.iter().map(|t| t.key.as_str()))
        .collect();
    // The approvals this release must include.
    let mut must_include: BTreeSet<String> = BTreeSet::new();
    for t in &v.tickets {
        let approved = matches!(t.state.as_deref(), Some("approved" | "done"));
        if !approved || !wanted(&t.key) || released_before.contains(t.key.as_str()) {
            continue;
        }
        must_include.insert(t.key.clone());
        if t.status == TicketLandingStatus::Landed {
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

    // Per repository: what is released, and whether it can be.
    let policy_dir = ws
        .policy_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let scans: HashMap<&str, &portcullis_git::scan::RepoScan> = v
        .repositories
        .iter()
        .map(|r| (r.repo.as_str(), r))
        .collect();
    let mut repos = Vec::new();
    let mut tags = Vec::new();
    let mut since_all: BTreeSet<String> = BTreeSet::new();
    for r in policy.repositories_for(&line.name) {
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
        let path = resolve_repo_path(&policy_dir, &r.path);
        let repo = Repository::open(&path)
            .map_err(|e| Error::input(format!("cannot open {}: {}", r.path, e.message())))?;
        let tip_sha = match candidate {
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
        let tip = Oid::from_str(&tip_sha).map_err(|e| Error::internal(e.to_string()))?;
        let prev_commit: Option<Oid> = previous
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
        if opts.apply {
            let dirty = repo
                .statuses(Some(git2::StatusOptions::new().include_untracked(false)))
                .map(|s| s.iter().any(|e| e.status() != git2::Status::CURRENT))
                .unwrap_or(false);
            if dirty {
                blockers.push(Blocker::new(
                    "repository",
                    None,
                    Some(&r.name),
                    format!("{}: the working tree at {} has uncommitted changes; commit or stash them first", r.name, r.path),
                ));
            }
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
                            at.map(|o| o.to_string()[..10].to_string()).unwrap_or_default()
                        ),
                    ));
                }
                true
            }
            Err(_) => false,
        };
        // Commits and tickets since the previous release.
        let mut walk = repo
            .revwalk()
            .map_err(|e| Error::internal(e.message().to_string()))?;
        walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)
            .ok();
        walk.push(tip)
            .map_err(|e| Error::internal(e.message().to_string()))?;
        if let Some(p) = prev_commit {
            walk.hide(p).ok();
        }
        let by_sha: HashMap<&str, &portcullis_git::scan::ReleaseCommit> = scan
            .release_commits
            .iter()
            .map(|c| (c.sha.as_str(), c))
            .collect();
        let mut commits = Vec::new();
        let mut tickets: BTreeSet<String> = BTreeSet::new();
        for oid in walk.flatten() {
            let sha = oid.to_string();
            since_all.insert(sha.clone());
            if let Some(c) = by_sha.get(sha.as_str()) {
                if c.merge {
                    continue;
                }
                tickets.extend(c.ticket.iter().cloned());
                tickets.extend(c.mentions.iter().cloned());
            }
            commits.push(sha);
        }
        tags.push((r.name.clone(), tag.clone(), tip.to_string(), exists));
        repos.push(ManifestRepo {
            repo: r.name.clone(),
            branch: line.branch.clone(),
            commit: tip.to_string(),
            previous_commit: prev_commit.map(|o| o.to_string()),
            tag: tag.clone(),
            tickets: tickets.into_iter().collect(),
            commits,
        });
    }
    // Landed but never approved, since the previous release, unless waived.
    let waived: BTreeSet<&str> = opts.waivers.iter().map(|w| w.key.as_str()).collect();
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
    // Pending tracker writes and blocking violations: of the tickets this release contains
    // (what it tags, and what it must include). Elsewhere on the line they are notes.
    let summaries: BTreeMap<String, String> = v
        .tickets
        .iter()
        .map(|t| (t.key.clone(), t.summary.clone()))
        .collect();
    let tickets = tickets_of(&repos, &summaries);
    let mut in_release: BTreeSet<String> = tickets.iter().map(|t| t.key.clone()).collect();
    in_release.extend(must_include);
    let mut notes: Vec<Blocker> = Vec::new();
    let pending: Vec<_> = portcullis_trackers::push::pending_decisions(&ledger)?
        .into_iter()
        .filter(|d| d.line == line.name)
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
    for (ticket, _, viol) in ledger.violations(Some(&line.name), None)? {
        if viol.resolved_by.is_none() && policy.is_blocking(viol.kind) {
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
    blockers.sort();
    blockers.dedup();
    notes.sort();
    notes.dedup();

    let manifest = Manifest {
        line: line.name.clone(),
        version: version.to_string(),
        rc,
        tag: tag.clone(),
        build: Manifest::build_id(&repos),
        previous: previous
            .map(|m| m.tag.clone())
            .or(Some(previous_tag.clone())),
        tickets,
        repos,
        waivers: opts.waivers.clone(),
        skipped_versions: opts.allow_skip
            && check_version(&version, &previous_final, false).is_some(),
    };
    let hash = manifest.content_hash();
    let mut report = CutReport {
        manifest,
        hash,
        blockers,
        notes,
        tags,
        applied: false,
        files: Vec::new(),
        marked_done: Vec::new(),
        pushed: Vec::new(),
        resumed: false,
    };
    if opts.apply && !report.blockers.is_empty() {
        drop(ledger);
        record_failed(ws, &report)?;
        return Ok(report);
    }
    if !opts.apply {
        return Ok(report);
    }
    apply(ws, &policy_dir, ledger, &mut report, opts)?;
    if opts.push {
        push_tags(ws, &mut report);
    }
    Ok(report)
}

/// Record a refused `--apply` (once per tag and set of reasons).
fn record_failed(ws: &Workspace, report: &CutReport) -> Result<()> {
    let m = &report.manifest;
    let kinds: BTreeSet<&str> = report.blockers.iter().map(|b| b.kind.as_str()).collect();
    let kinds: Vec<&str> = kinds.into_iter().collect();
    let message = format!(
        "cut {} refused: {} reason(s) ({})",
        m.tag,
        report.blockers.len(),
        kinds.join(", ")
    );
    let mut ledger = ws.open_ledger()?;
    let last = ledger
        .events_of_kinds(&[CUT_FAILED])?
        .into_iter()
        .rfind(|e| e.line.as_deref() == Some(&m.line) && e.payload["tag"] == m.tag.as_str());
    if last.is_some_and(|e| e.payload["message"] == message.as_str()) {
        return Ok(());
    }
    ledger.append_all(
        &ws.policy,
        [NewEvent {
            ticket: None,
            line: Some(m.line.clone()),
            kind: CUT_FAILED,
            source: portcullis_core::event::source::LOCAL.into(),
            actor: None,
            at: now(),
            meeting: None,
            note: None,
            payload: json!({ "version": m.version, "tag": m.tag, "message": message, "blockers": kinds }),
            dedup_key: None,
        }],
    )?;
    Ok(())
}

/// `git push origin refs/tags/<tag>` in every repository of a release, as a subprocess with
/// arguments. A failure is reported per repository; pushing again is harmless (a tag already on
/// the remote at the same commit is up to date).
fn push_tags(ws: &Workspace, report: &mut CutReport) {
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

fn apply(
    ws: &Workspace,
    policy_dir: &Path,
    mut ledger: Ledger,
    report: &mut CutReport,
    opts: &CutOptions,
) -> Result<()> {
    let m = &report.manifest;
    let cut_at = opts.at.unwrap_or_else(now);
    // Tags first: kept when already there at the same commit (an interrupted cut).
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
                Oid::from_str(commit).map_err(|e| Error::internal(e.to_string()))?,
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
    let line = ws.policy.line(&m.line).cloned();
    let mark_done: Vec<String> =
        if m.rc.is_none() && line.as_ref().is_some_and(|l| l.mark_done_on_release) {
            let approved: BTreeSet<String> = ledger
                .status_rows(&m.line)?
                .into_iter()
                .filter(|r| r.state == portcullis_core::workflow::State::Approved)
                .map(|r| r.key)
                .collect();
            m.tickets
                .iter()
                .filter(|t| approved.contains(&t.key))
                .map(|t| t.key.clone())
                .collect()
        } else {
            Vec::new()
        };
    let at = cut_at;
    let mut tx = ledger.transaction()?;
    for key in &mark_done {
        tx.append(NewEvent {
            ticket: Some(key.clone()),
            line: Some(m.line.clone()),
            kind: portcullis_core::event::kind::DECISION,
            source: source::LOCAL.into(),
            actor: Some("portcullis".into()),
            at,
            meeting: None,
            note: Some(format!("released in {}", m.tag)),
            payload: json!({ "decision": "done", "until": null, "forced": false, "release": m.tag }),
            dedup_key: Some(format!("release-done:{}:{}:{key}", m.line, m.tag)),
        })?;
    }
    report.marked_done = mark_done;
    tx.append(NewEvent {
        ticket: None,
        line: Some(m.line.clone()),
        kind: RELEASE_CUT,
        source: source::LOCAL.into(),
        actor: ws.actor(None).ok(),
        at,
        meeting: None,
        note: None,
        payload: json!({ "manifest": m, "hash": report.hash }),
        dedup_key: Some(format!("release:{}:{}", m.line, m.tag)),
    })?;
    tx.commit_with(&ws.policy)?;
    report.applied = true;
    report.files = write_files(ws, opts, m, &report.hash, cut_at)?;
    Ok(())
}

/// The release's files, derived from its manifest (so a rerun of the cut writes them again):
/// TOML and JSON manifests, the versiondb text, notes and a changelog section. Each is written
/// to a temporary file and renamed, so a crash never leaves half a file.
fn write_files(
    ws: &Workspace,
    opts: &CutOptions,
    m: &Manifest,
    hash: &str,
    cut_at: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<String>> {
    let dir = opts
        .out_dir
        .clone()
        .unwrap_or_else(|| {
            ws.ledger_path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default()
                .join("releases")
        })
        .join(portcullis_core::release::file_component(&m.tag));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("create the directory", &dir, e))?;
    let toml_text = toml::to_string(m).map_err(|e| {
        Error::Problem(Problem::internal("cannot write the manifest as TOML").because(e))
    })?;
    let files: Vec<(String, String)> = vec![
        (
            "manifest.toml".into(),
            format!(
                "# portcullis manifest {}, sha256 {hash}\n{toml_text}",
                m.tag
            ),
        ),
        (
            "manifest.json".into(),
            serde_json::to_string_pretty(&json!({ "hash": hash, "manifest": m }))
                .unwrap_or_default(),
        ),
        (format!("{}.txt", m.build), render_versiondb(m)),
        ("notes.md".into(), render_notes(m)),
        (
            "CHANGELOG-section.md".into(),
            render_changelog(m, &cut_at.date_naive().to_string()),
        ),
    ];
    let mut written = Vec::new();
    for (name, text) in files {
        let p = dir.join(&name);
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, text).map_err(|e| Error::io("write", &tmp, e))?;
        std::fs::rename(&tmp, &p).map_err(|e| Error::io("replace", &p, e))?;
        written.push(p.display().to_string());
    }
    Ok(written)
}

/// A release by tag (or version) as recorded.
pub fn show(ledger: &Ledger, line: &str, which: &str) -> Result<Recorded> {
    releases(ledger, line)?
        .into_iter()
        .find(|r| {
            r.manifest.tag == which
                || r.manifest.version == which.trim_start_matches('v') && r.manifest.rc.is_none()
        })
        .ok_or_else(|| {
            Error::input(format!("no release {which} on line {line}"))
                .hint("list them with `portcullis releases`")
        })
}

/// Event kinds of the campaign's steps.
pub const STEP_STARTED: &str = "step.started";
pub const STEP_FINISHED: &str = "step.finished";

/// Where a step stands.
#[derive(Debug, Clone, Serialize)]
pub struct StepRow {
    pub name: String,
    pub title: String,
    /// `not_started`, `running`, `finished`.
    pub status: String,
    /// The release it runs with, once started (frozen from then on).
    pub release: Option<String>,
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Tickets approved for this step, and how many of them have landed everywhere.
    pub approved: usize,
    pub landed: usize,
}

/// The latest approval target of every ticket on a line: `Step(name)` or `Release(version)`.
pub fn targets(ledger: &Ledger, line: &str) -> Result<BTreeMap<String, crate::Target>> {
    let events = ledger.events_of_kinds(&[
        portcullis_core::event::kind::DECISION,
        portcullis_core::event::kind::DECISION_UNDONE,
    ])?;
    Ok(targets_from(&events, line))
}

/// [`targets`] from events already read (decisions and undos, in order).
pub fn targets_from(
    events: &[portcullis_core::event::Event],
    line: &str,
) -> BTreeMap<String, crate::Target> {
    let mut out = BTreeMap::new();
    let undone = portcullis_core::event::undone_decisions(events);
    for e in events {
        if e.kind != portcullis_core::event::kind::DECISION
            || undone.contains(&e.seq)
            || e.line.as_deref() != Some(line)
            || e.payload["decision"] != "approve"
        {
            continue;
        }
        let Some(key) = e.ticket.clone() else {
            continue;
        };
        let t = &e.payload["target"];
        if let Some(s) = t.get("step").and_then(Value::as_str) {
            out.insert(key, crate::Target::Step(s.to_string()));
        } else if let Some(r) = t.get("release").and_then(Value::as_str) {
            out.insert(key, crate::Target::Release(r.to_string()));
        } else {
            out.remove(&key);
        }
    }
    out
}

/// The steps of a line with their state.
pub fn steps(
    ws: &Workspace,
    line: Option<&str>,
    landed: &BTreeSet<String>,
) -> Result<Vec<StepRow>> {
    let line = ws.policy.resolve_line(line)?;
    let ledger = ws.open_ledger()?;
    let tg = targets(&ledger, &line.name)?;
    steps_in(&ledger, &ws.policy, &line.name, &tg, landed)
}

/// [`steps`] on an open ledger with the line's approval targets already read.
pub fn steps_in(
    ledger: &Ledger,
    policy: &portcullis_core::policy::LoadedPolicy,
    line: &str,
    targets: &BTreeMap<String, crate::Target>,
    landed: &BTreeSet<String>,
) -> Result<Vec<StepRow>> {
    let events = ledger.events_of_kinds(&[STEP_STARTED, STEP_FINISHED])?;
    let mut rows = Vec::new();
    for s in policy.policy.steps.iter().filter(|s| s.line == line) {
        let mut row = StepRow {
            name: s.name.clone(),
            title: s.title.clone(),
            status: "not_started".into(),
            release: None,
            started_at: None,
            finished_at: None,
            approved: 0,
            landed: 0,
        };
        for e in events
            .iter()
            .filter(|e| e.payload["step"] == s.name.as_str() && e.line.as_deref() == Some(line))
        {
            if e.kind == STEP_STARTED {
                row.status = "running".into();
                row.release = e.payload["release"].as_str().map(str::to_string);
                row.started_at = Some(e.at);
            } else {
                row.status = "finished".into();
                row.finished_at = Some(e.at);
            }
        }
        for (k, t) in targets {
            if *t == crate::Target::Step(s.name.clone()) {
                row.approved += 1;
                if landed.contains(k) {
                    row.landed += 1;
                }
            }
        }
        rows.push(row);
    }
    Ok(rows)
}

/// How far a line is from its next cuts, approved against landed.
#[derive(Debug, Clone, Serialize)]
pub struct Readiness {
    /// The next patch release: approved or done tickets with no target that no release holds.
    pub approved: usize,
    pub landed: usize,
    pub steps: Vec<StepRow>,
}

/// [`Readiness`] of a line, from its approved or done tickets and those of them not landed
/// everywhere (`missing`).
pub fn readiness(
    ledger: &Ledger,
    policy: &portcullis_core::policy::LoadedPolicy,
    line: &str,
    targets: &BTreeMap<String, crate::Target>,
    approved: &BTreeSet<String>,
    missing: &BTreeSet<String>,
) -> Result<Readiness> {
    let released: BTreeSet<String> = releases(ledger, line)?
        .into_iter()
        .flat_map(|r| r.manifest.tickets.into_iter().map(|t| t.key))
        .collect();
    let next: Vec<&String> = approved
        .iter()
        .filter(|k| !released.contains(*k) && !targets.contains_key(*k))
        .collect();
    let landed: BTreeSet<String> = approved.difference(missing).cloned().collect();
    Ok(Readiness {
        approved: next.len(),
        landed: next.iter().filter(|k| landed.contains(**k)).count(),
        steps: steps_in(ledger, policy, line, targets, &landed)?,
    })
}

/// `step start NAME --release R` / `step finish NAME`.
pub fn step_event(
    ws: &Workspace,
    line: Option<&str>,
    name: &str,
    release: Option<&str>,
) -> Result<StepRow> {
    let line = ws.policy.resolve_line(line)?.clone();
    if !ws
        .policy
        .policy
        .steps
        .iter()
        .any(|s| s.name == name && s.line == line.name)
    {
        let names: Vec<&str> = ws
            .policy
            .policy
            .steps
            .iter()
            .filter(|s| s.line == line.name)
            .map(|s| s.name.as_str())
            .collect();
        return Err(
            Error::input(format!("unknown step `{name}` for line {}", line.name))
                .hint(format!("the policy's steps: {}", names.join(", "))),
        );
    }
    let current = steps(ws, Some(&line.name), &BTreeSet::new())?
        .into_iter()
        .find(|s| s.name == name)
        .expect("a policy step");
    let mut ledger = ws.open_ledger()?;
    let (kind, payload) = match release {
        Some(r) => {
            if current.status != "not_started" {
                return Err(Error::input(format!(
                    "step {name} already started with {}; a started step keeps its release",
                    current.release.as_deref().unwrap_or("?")
                )));
            }
            let rel = show(&ledger, &line.name, r)?;
            if rel.manifest.rc.is_some() {
                return Err(Error::input(format!("{r} is a release candidate"))
                    .hint("start a step with a final release"));
            }
            (
                STEP_STARTED,
                json!({ "step": name, "release": rel.manifest.tag, "manifest_hash": rel.hash }),
            )
        }
        None => {
            if current.status != "running" {
                return Err(Error::input(format!(
                    "step {name} is not running ({})",
                    current.status.replace('_', " ")
                )));
            }
            (STEP_FINISHED, json!({ "step": name }))
        }
    };
    let mut tx = ledger.transaction()?;
    tx.append(NewEvent {
        ticket: None,
        line: Some(line.name.clone()),
        kind,
        source: source::LOCAL.into(),
        actor: ws.actor(None).ok(),
        at: now(),
        meeting: None,
        note: None,
        payload,
        dedup_key: Some(format!("{kind}:{}:{name}", line.name)),
    })?;
    tx.commit_with(&ws.policy)?;
    drop(ledger);
    Ok(steps(ws, Some(&line.name), &BTreeSet::new())?
        .into_iter()
        .find(|s| s.name == name)
        .expect("a policy step"))
}
