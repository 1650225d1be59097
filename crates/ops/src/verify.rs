//! `verify`: scan every repository of a line (in parallel, through the caches), judge each ticket
//! against the ledger, and record what changed as events: landings, and drift found or cleared.
//!
//! It probes the repositories first (their tips and tags: what each scan depends on; a
//! repository whose reference files are as they were is not opened, its probe is remembered),
//! then learns the releases cut on other machines (`release::learn`: published manifests, or
//! the annotated tags the probes read), which settle drift and are the previous release. A run
//! that finds nothing changed since a run that recorded nothing reports the verdict that run
//! kept (`verify/verdict.rs`); any other reads the scans, judges and records.
//!
//! One transaction writes the cache rows and the events, so an interrupted run leaves the ledger
//! as it was; the next run redoes only what the cache did not keep.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::workspace::Workspace;

use crate::backport::links::LandingPullRequest;
use crate::Result;
use portcullis_core::event::{kind, source, NewEvent};
use portcullis_core::policy::Line;
use portcullis_core::time::now;
use portcullis_git::cache::CacheWrites;
use portcullis_git::verify::{Drift, Verification};
use portcullis_ledger::Ledger;

mod run;
mod scanning;
mod verdict;
use run::Begun;
use scanning::{cache_rows, chosen_repos};
pub use scanning::{judge_line, probe_repos, scan_line, scan_repos, LedgerFacts, Probed, Scanned};
use verdict::VerdictKey;

#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    pub line: Option<String>,
    /// Only these repositories (default: every repository of the line).
    pub repos: Vec<String>,
    /// Run `git fetch` in each clone first.
    pub fetch: bool,
    /// Scanning threads (0: one per core, at most one per repository).
    pub jobs: usize,
    /// Keep the scans' main-side commits in the result (the triage screen tries them on the
    /// release branch): the remembered verdict, which does not keep them, is not used.
    pub main_commits: bool,
}

/// Progress of the scan, for a progress bar.
pub trait ScanProgress: Sync {
    fn start(&self, _repos: usize) {}
    fn scanned(&self, _repo: &str) {}
    fn finish(&self) {}
}

pub struct Quiet;
impl ScanProgress for Quiet {}

/// What `verify` wrote to the ledger.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Recorded {
    pub landings: usize,
    pub drift_found: usize,
    pub drift_cleared: usize,
    /// Releases cut on another machine, learned from the published manifests or the tags
    /// (see `release::learn`), by tag.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub releases_learned: Vec<String>,
    /// Why a release seen in the tags or the manifests was not learned.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub release_problems: Vec<String>,
}

/// Where the time went.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScanStats {
    pub elapsed_ms: u128,
    /// Commit facts read from the cache and computed from the repositories.
    pub facts_cached: u64,
    pub facts_computed: u64,
    /// Nothing had changed: the verdict is the one remembered (`verify/verdict.rs`).
    pub remembered: bool,
    /// Repositories whose reference files were as when they were last probed: not opened to
    /// read their tips and tags (`scan::ref_fingerprint`).
    pub probes_remembered: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyOutcome {
    #[serde(flatten)]
    pub verification: Verification,
    pub recorded: Recorded,
    /// The landings that came through a backport pull request `backport --pr` opened.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pull_requests: Vec<crate::backport::links::LandingPullRequest>,
    #[serde(skip)]
    pub stats: ScanStats,
}

/// Verify a release line.
pub fn verify(
    ws: &Workspace,
    opts: &VerifyOptions,
    progress: &dyn ScanProgress,
) -> Result<VerifyOutcome> {
    let run = Begun::begin(ws, opts, progress)?;
    if let Some(kept) = run.recall(verdict::recall) {
        let (recorded, stats) = run.remembered(ws, progress)?;
        return Ok(VerifyOutcome {
            verification: kept.verification,
            recorded,
            pull_requests: kept.pull_requests,
            stats,
        });
    }
    run.judge(ws, opts, progress)
}

/// The report of `verify --format json` as it prints it, and whether it blocks.
#[derive(Debug, Clone)]
pub struct JsonReport {
    /// Indented JSON, as `serde_json::to_string_pretty` of a [`VerifyOutcome`] (without a
    /// final newline).
    pub text: String,
    /// Whether the verification blocks a release ([`Verification::blocks`]).
    pub blocks: bool,
    pub stats: ScanStats,
}

/// [`verify`] for a caller that wants the JSON report only: a remembered verdict is kept as
/// that JSON and handed on as it is, without reading it into a [`Verification`] and writing it
/// out again (most of a warm run's own work).
pub fn verify_json(
    ws: &Workspace,
    opts: &VerifyOptions,
    progress: &dyn ScanProgress,
) -> Result<JsonReport> {
    let run = Begun::begin(ws, opts, progress)?;
    if let Some(kept) = run.recall(verdict::recall_json) {
        let (recorded, stats) = run.remembered(ws, progress)?;
        return Ok(JsonReport {
            text: report_json(&kept.verification, &recorded, &kept.pull_requests),
            blocks: kept.blocks,
            stats,
        });
    }
    let out = run.judge(ws, opts, progress)?;
    Ok(JsonReport {
        text: render_json(&out),
        blocks: out.verification.blocks(),
        stats: out.stats,
    })
}

/// `out` as `verify --format json` prints it: [`report_json`] of its parts.
pub fn render_json(out: &VerifyOutcome) -> String {
    let verification =
        serde_json::to_string_pretty(&out.verification).expect("a verification serialises");
    report_json(&verification, &out.recorded, &out.pull_requests)
}

/// The indented JSON of a [`VerifyOutcome`] from the indented JSON of its verification and its
/// other parts: the verification's fields, then `recorded` and `pull_requests` (as the
/// outcome's `flatten` writes them), the same text as `serde_json::to_string_pretty` of the
/// outcome.
fn report_json(
    verification: &str,
    recorded: &Recorded,
    pull_requests: &[LandingPullRequest],
) -> String {
    #[derive(Serialize)]
    struct Tail<'a> {
        recorded: &'a Recorded,
        #[serde(skip_serializing_if = "<[_]>::is_empty")]
        pull_requests: &'a [LandingPullRequest],
    }
    let tail = serde_json::to_string_pretty(&Tail {
        recorded,
        pull_requests,
    })
    .expect("a report serialises");
    // Both are objects at the outermost level: `{\n  "line": …\n}` and `{\n  "recorded": …\n}`.
    let head = verification.strip_suffix("\n}").unwrap_or(verification);
    let rest = tail.strip_prefix('{').unwrap_or(&tail);
    let mut text = String::with_capacity(head.len() + rest.len() + 1);
    text.push_str(head);
    text.push(',');
    text.push_str(rest);
    text
}

/// A release that waived a key: (its `release.cut` seq, tag, the waiver's note, its commits).
type Waived = (i64, String, String, BTreeSet<String>);

/// What settles drift on a line; see [`Settler::settle`].
pub struct Settler {
    /// Waivers: key → the releases that waived it.
    waived: BTreeMap<String, Vec<Waived>>,
    /// Revoked, and not approved again since: key → (the revoke's seq, its reason).
    revoked: BTreeMap<String, (i64, Option<String>)>,
}

impl Settler {
    /// Read the line's releases and decisions; `approved` are the tickets approved or done now
    /// (a revoke followed by a new approval, e.g. a label in the tracker, settles nothing).
    pub fn load<'a>(
        ledger: &Ledger,
        line: &str,
        approved: impl IntoIterator<Item = &'a str>,
    ) -> Result<Settler> {
        let mut waived: BTreeMap<String, Vec<Waived>> = BTreeMap::new();
        for r in crate::release::releases(ledger, line)? {
            let commits: BTreeSet<String> = r
                .manifest
                .repos
                .iter()
                .flat_map(|x| x.commits.iter().cloned())
                .collect();
            for w in &r.manifest.waivers {
                waived.entry(w.key.clone()).or_default().push((
                    r.seq,
                    r.manifest.tag.clone(),
                    w.note.clone(),
                    commits.clone(),
                ));
            }
        }
        let mut revoked = revoked(ledger, line)?;
        for k in approved {
            revoked.remove(k);
        }
        Ok(Settler { waived, revoked })
    }

    /// The event that settles a drift item, if the committee has dealt with it:
    ///
    /// - a landing waived into a release (`cut --waive KEY`): settled by that release's
    ///   `release.cut` event, when the release holds every commit of the drift (a later commit
    ///   of the same ticket is new drift, and blocks again);
    /// - a revert of a fix whose approval was then revoked (the standing decision on the ticket
    ///   is `revoke`): the branch no longer carries what the committee withdrew, so the revert
    ///   is what the committee asked for; settled by the revoking decision. A revoked fix that
    ///   is still on the branch (`landed_not_approved`) is not settled: the release would ship
    ///   a change the committee withdrew, so it blocks until it is reverted or waived.
    pub fn settle(
        &self,
        kind: portcullis_core::landing::DriftKind,
        ticket: Option<&str>,
        commits: &[String],
    ) -> Option<portcullis_core::landing::Settlement> {
        use portcullis_core::landing::{DriftKind, Settlement};
        let key = ticket?;
        match kind {
            DriftKind::LandedNotApproved => {
                let (seq, tag, note, _) = self
                    .waived
                    .get(key)?
                    .iter()
                    .find(|(_, _, _, held)| commits.iter().all(|c| held.contains(c)))?;
                Some(Settlement {
                    seq: *seq,
                    kind: crate::release::RELEASE_CUT.into(),
                    release: Some(tag.clone()),
                    why: format!("waived into {tag}: {note}"),
                })
            }
            DriftKind::Reverted => {
                let (seq, note) = self.revoked.get(key)?;
                Some(Settlement {
                    seq: *seq,
                    kind: kind::DECISION.into(),
                    release: None,
                    why: match note {
                        Some(n) => format!("approval revoked ({n}); the revert took it out"),
                        None => "approval revoked; the revert took it out".into(),
                    },
                })
            }
            _ => None,
        }
    }
}

/// Mark the drift the committee has settled ([`Settler::settle`]): it stays listed, and no
/// longer blocks.
fn settle(ledger: &Ledger, line: &str, v: &mut Verification) -> Result<()> {
    let approved = v
        .tickets
        .iter()
        .filter(|t| matches!(t.state.as_deref(), Some("approved" | "done")))
        .map(|t| t.key.as_str());
    let settler = Settler::load(ledger, line, approved)?;
    for d in &mut v.drift {
        d.settled = settler.settle(d.kind, d.ticket.as_deref(), &d.commits);
        if d.settled.is_some() {
            d.blocking = false;
        }
    }
    Ok(())
}

/// Tickets of a line whose standing (not undone) latest decision is a revoke: ticket → (the
/// decision's seq, its reason).
pub(crate) fn revoked(
    ledger: &Ledger,
    line: &str,
) -> Result<BTreeMap<String, (i64, Option<String>)>> {
    let decisions = ledger.events_of_kinds(&[kind::DECISION, kind::DECISION_UNDONE])?;
    let undone = portcullis_core::event::undone_decisions(&decisions);
    let mut revoked = BTreeMap::new();
    for e in decisions.iter().filter(|e| {
        e.kind == kind::DECISION && e.line.as_deref() == Some(line) && !undone.contains(&e.seq)
    }) {
        let Some(key) = e.ticket.clone() else {
            continue;
        };
        if e.payload["decision"] == "revoke" {
            revoked.insert(key, (e.seq, e.note.clone()));
        } else {
            revoked.remove(&key);
        }
    }
    Ok(revoked)
}

fn recount(v: &mut Verification) {
    v.summary.drift = v.drift.len();
    v.summary.blocking = v.drift.iter().filter(|d| d.blocking).count();
}

/// The drift open in the ledger for a line: id → (repo, payload of the event that opened it).
pub fn open_drift(ledger: &Ledger, line: &str) -> Result<BTreeMap<String, Value>> {
    let mut open: BTreeMap<String, Value> = BTreeMap::new();
    for e in ledger.events_of_kinds(&[kind::DRIFT_FOUND, kind::DRIFT_CLEARED])? {
        if e.line.as_deref() != Some(line) {
            continue;
        }
        let Some(id) = e
            .payload
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            continue;
        };
        if e.kind == kind::DRIFT_FOUND {
            open.insert(id, e.payload.clone());
        } else {
            open.remove(&id);
        }
    }
    Ok(open)
}

fn short_hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..8])
}

/// Write the cache and the events in one transaction; with `keep`, the verdict too when this
/// run was a fixed point ([`verdict`]): it appended nothing, the ledger's head is where the
/// judging began, and every scan was remembered.
fn record(
    ledger: &mut Ledger,
    ws: &Workspace,
    line: &Line,
    v: &Verification,
    writes: &[CacheWrites],
    opts: &VerifyOptions,
    keep: Option<(&VerdictKey, &[LandingPullRequest])>,
) -> Result<Recorded> {
    let only = &opts.repos;
    let scans = &v.repositories;
    let open = open_drift(ledger, &line.name)?;
    let at = now();
    let mut rec = Recorded::default();
    let mut events = landing_events(line, v, at);
    let current: BTreeSet<&str> = v.drift.iter().map(|d| d.id.as_str()).collect();
    let unreadable: BTreeSet<&str> = scans
        .iter()
        .filter(|s| s.status == portcullis_git::scan::ScanStatus::Unverifiable)
        .map(|s| s.repo.as_str())
        .collect();
    // Tickets whose landing depends on commits that could not be read (missing objects).
    let unchecked: BTreeSet<(&str, &str)> = v
        .tickets
        .iter()
        .flat_map(|t| {
            t.repos
                .iter()
                .filter(|r| r.status == portcullis_core::landing::RepoLandingStatus::Unverifiable)
                .map(move |r| (r.repo.as_str(), t.key.as_str()))
        })
        .collect();
    for d in &v.drift {
        if !open.contains_key(&d.id) {
            events.push(drift_event(line, d, at, kind::DRIFT_FOUND));
        }
    }
    for (id, payload) in &open {
        if current.contains(id.as_str()) {
            continue;
        }
        let repo = payload.get("repo").and_then(Value::as_str);
        let ticket = payload.get("ticket").and_then(Value::as_str);
        // Drift of a repository (or of a ticket whose commits) that could not be read this time
        // is neither confirmed nor resolved: it stays open.
        let in_scope = match repo {
            Some(r) => {
                (only.is_empty() || only.iter().any(|o| o == r))
                    && !unreadable.contains(r)
                    && !ticket.is_some_and(|t| unchecked.contains(&(r, t)))
            }
            None => only.is_empty() && unreadable.is_empty(),
        };
        if !in_scope {
            continue;
        }
        events.push(NewEvent {
            ticket: payload
                .get("ticket")
                .and_then(Value::as_str)
                .map(str::to_string),
            line: Some(line.name.clone()),
            kind: kind::DRIFT_CLEARED,
            source: source::GIT.into(),
            actor: None,
            at,
            meeting: None,
            note: None,
            payload: json!({
                "id": id,
                "kind": payload.get("kind"),
                "repo": repo,
                "message": payload.get("message"),
            }),
            dedup_key: None,
        });
    }
    let stamp = portcullis_core::time::fmt_utc(at);
    let mut tx = ledger.transaction()?;
    for w in writes {
        let (commits, scans) = cache_rows(w);
        tx.store_git_cache(&commits, &scans, &stamp)?;
    }
    let kinds: Vec<&str> = events.iter().map(|e| e.kind).collect();
    for (k, seq) in kinds.into_iter().zip(tx.append_many(events)?) {
        if seq.is_some() {
            match k {
                kind::LANDING => rec.landings += 1,
                kind::DRIFT_FOUND => rec.drift_found += 1,
                _ => rec.drift_cleared += 1,
            }
        }
    }
    if let Some((key, pull_requests)) = keep {
        let (seq, hash) = tx.head();
        let fixed_point = tx.appended() == 0
            && (seq, hash) == (key.head.0, key.head.1.as_str())
            && scans.iter().all(|s| s.memo_key.is_some());
        if let Some(row) = fixed_point
            .then(|| verdict::row(&line.name, key, v, pull_requests))
            .flatten()
        {
            tx.store_git_cache(&[], &[row], &stamp)?;
        }
    }
    tx.commit_with(&ws.policy)?;
    Ok(rec)
}

/// A `landing` event per ticket and repository where something landed (or was reverted), at
/// the time of the newest commit involved; deduplicated by what it says.
fn landing_events(
    line: &Line,
    v: &Verification,
    at: chrono::DateTime<chrono::Utc>,
) -> Vec<NewEvent> {
    let scans = &v.repositories;
    let times: HashMap<(&str, &str), i64> = scans
        .iter()
        .flat_map(|s| {
            s.release_commits
                .iter()
                .map(move |c| ((s.repo.as_str(), c.sha.as_str()), c.time))
        })
        .collect();
    let mut events = Vec::new();
    for t in &v.tickets {
        for r in &t.repos {
            use portcullis_core::landing::RepoLandingStatus as S;
            if !matches!(
                r.status,
                S::Landed | S::Partial | S::Reverted | S::ReleaseOnly
            ) {
                continue;
            }
            let mut involved: Vec<&str> = r.release_commits.iter().map(String::as_str).collect();
            involved.extend(r.reverted.iter().map(|x| x.reverted_by.as_str()));
            let newest = involved
                .iter()
                .filter_map(|c| times.get(&(r.repo.as_str(), *c)))
                .max()
                .copied();
            let when = newest
                .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
                .unwrap_or(at);
            let mut parts = vec![r.status.as_str(), r.first_tag.as_deref().unwrap_or("-")];
            if let Some(a) = &r.accepted_partial {
                parts.push(a.at.as_str());
            }
            parts.extend(involved.iter().copied());
            let digest = short_hash(&parts);
            events.push(NewEvent {
                ticket: Some(t.key.clone()),
                line: Some(line.name.clone()),
                kind: kind::LANDING,
                source: source::GIT.into(),
                actor: None,
                at: when,
                meeting: None,
                note: None,
                payload: json!({
                    "repo": r.repo,
                    "branch": line.branch,
                    "status": r.status,
                    "how": r.how,
                    "first_tag": r.first_tag,
                    "main_commits": r.main_commits,
                    "landed": r.landed,
                    "missing": r.missing,
                    "release_commits": r.release_commits,
                    "reverted": r.reverted,
                    "accepted_partial": r.accepted_partial,
                }),
                dedup_key: Some(format!(
                    "landing:{}:{}:{}:{digest}",
                    line.name, r.repo, t.key
                )),
            });
        }
    }
    events
}

fn drift_event(
    line: &Line,
    d: &Drift,
    at: chrono::DateTime<chrono::Utc>,
    k: &'static str,
) -> NewEvent {
    NewEvent {
        ticket: d.ticket.clone(),
        line: Some(line.name.clone()),
        kind: k,
        source: source::GIT.into(),
        actor: None,
        at,
        meeting: None,
        note: None,
        payload: json!({
            "id": d.id,
            "kind": d.kind,
            "repo": d.repo,
            "ticket": d.ticket,
            "commits": d.commits,
            "message": d.message,
            "blocking": d.blocking,
        }),
        dedup_key: None,
    }
}
