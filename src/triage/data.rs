//! What the triage screen shows, read from the ledger in a few indexed queries (a snapshot), and
//! the git facts computed beside it (whether a backport would pick cleanly, the next cut's gate).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::Value;

use portcullis_core::error::chain;
use portcullis_core::event::kind;
use portcullis_core::policy::LoadedPolicy;
use portcullis_core::workflow::State;
use portcullis_ledger::Ledger;
use portcullis_ops::meeting::{self, Meeting};
use portcullis_ops::Result;

/// Text from trackers and git goes on screen with control characters and bidirectional
/// overrides replaced: a ticket summary cannot send escape sequences to the terminal.
pub fn clean(s: &str) -> String {
    crate::render::clean(s)
}

/// Whether a request's fix would cherry-pick cleanly onto the release branch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Pick {
    /// Not checked yet (the git check runs beside the screen).
    #[default]
    Unknown,
    /// Every main-side commit applies to every release branch.
    Clean,
    /// Conflicts in these repositories.
    Conflicts(Vec<String>),
    /// No main-side commit of the ticket was found.
    NoCommits,
    /// Already on the release branch.
    Landed,
}

impl Pick {
    pub fn short(&self) -> String {
        match self {
            Pick::Unknown => "…".into(),
            Pick::Clean => "clean".into(),
            Pick::Conflicts(r) => format!("conflict{}", if r.len() > 1 { "s" } else { "" }),
            Pick::NoCommits => "no fix".into(),
            Pick::Landed => "landed".into(),
        }
    }
}

/// A request awaiting the committee.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueRow {
    pub key: String,
    pub summary: String,
    pub state: State,
    pub requester: Option<String>,
    pub requested_at: Option<DateTime<Utc>>,
    pub repos: Vec<String>,
    pub deferred_until: Option<NaiveDate>,
    /// Requested since the last meeting.
    pub new: bool,
    /// Earlier decisions on it, in words ("rejected 09-12, deferred 10-03").
    pub previous: String,
    pub request_count: u32,
}

/// Something that happened since the last meeting.
#[derive(Debug, Clone, PartialEq)]
pub struct SinceRow {
    pub at: DateTime<Utc>,
    pub key: Option<String>,
    /// new request, decision, landed, reverted, drift
    pub what: &'static str,
    pub detail: String,
}

/// An approved ticket missing in a repository.
#[derive(Debug, Clone, PartialEq)]
pub struct NotLandedRow {
    pub key: String,
    pub summary: String,
    pub repo: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
    pub message: String,
}

/// Open drift, as the verifier recorded it.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftRow {
    pub kind: String,
    pub ticket: Option<String>,
    pub repo: Option<String>,
    pub blocking: bool,
    pub message: String,
    pub commits: Vec<String>,
}

/// Per step: its release and approvals landed.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadinessRow {
    /// `step sfp` or `next release`.
    pub name: String,
    pub status: String,
    pub release: Option<String>,
    pub approved: usize,
    pub landed: usize,
}

/// Everything the screen shows, as of one read of the ledger.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub line: String,
    pub branch: String,
    pub meeting: Meeting,
    /// The date of the previous meeting (recorded, or the latest decision's meeting).
    pub last_meeting: Option<NaiveDate>,
    pub queue: Vec<QueueRow>,
    pub since: Vec<SinceRow>,
    pub not_landed: Vec<NotLandedRow>,
    pub drift: Vec<DriftRow>,
    pub readiness: Vec<ReadinessRow>,
    /// Decisions of this meeting that stand, and the pending pushes among all local decisions.
    pub decided_here: usize,
    pub pending_push: usize,
    pub events: i64,
    /// The clock the snapshot was read at (ages are shown against it).
    pub now: DateTime<Utc>,
}

/// The start of the "since the last meeting" window: the day after it, or a week before this
/// meeting when there was none.
pub fn since_start(last: Option<NaiveDate>, meeting: NaiveDate) -> DateTime<Utc> {
    let day = last.map_or(meeting - Duration::days(7), |d| d + Duration::days(1));
    day.and_hms_opt(0, 0, 0).expect("midnight").and_utc()
}

/// Read the snapshot now.
pub fn load(ledger: &Ledger, policy: &LoadedPolicy, meeting: &Meeting) -> Result<Snapshot> {
    load_at(ledger, policy, meeting, portcullis_core::time::now())
}

/// Read the snapshot, with ages against `now`.
pub fn load_at(
    ledger: &Ledger,
    policy: &LoadedPolicy,
    meeting: &Meeting,
    now: DateTime<Utc>,
) -> Result<Snapshot> {
    let line = policy.resolve_line(Some(&meeting.line))?.clone();
    // The sitting as recorded now (someone may have joined or left from another terminal).
    let meeting = &meeting::meetings(ledger, &line.name)?
        .into_iter()
        .find(|m| m.date == meeting.date && m.sitting == meeting.sitting)
        .unwrap_or_else(|| meeting.clone());
    // The previous meeting: recorded sittings only, so a decision recorded elsewhere (out of
    // meeting) never moves it.
    let last_meeting = meeting::previous_meeting(ledger, &line.name, meeting.date)?.map(|m| m.date);
    let since = since_start(last_meeting, meeting.date);

    let previous = previous_decisions(ledger, &line.name)?;
    let queue = load_queue(ledger, &line.name, meeting.date, since, previous)?;
    let since_rows = load_since(ledger, &line, since)?;

    // Open drift, and approved tickets missing somewhere.
    let approved_at: BTreeMap<String, (String, Option<DateTime<Utc>>)> = ledger
        .line_tickets(&line.name, &[State::Approved, State::Done])?
        .into_iter()
        .map(|t| (t.ticket, (t.summary, t.approved_at)))
        .collect();
    let (drift, not_landed) = load_drift(ledger, &line.name, &approved_at)?;

    // Decisions, undos and pushes, read once for the targets, this meeting and the pending pushes.
    let decision_events = ledger.events_of_kinds(&[
        kind::DECISION,
        kind::DECISION_UNDONE,
        kind::PUSHED,
        kind::DECISION_RATIFIED,
    ])?;
    let readiness = load_readiness(
        ledger,
        policy,
        &line.name,
        &decision_events,
        &approved_at,
        &not_landed,
    )?;
    let decided_here = meeting::decisions_in(&decision_events, meeting)
        .iter()
        .filter(|(_, u)| !u)
        .count();
    let pending_push = portcullis_trackers::push::pending_from(&decision_events)
        .iter()
        .filter(|d| d.line == line.name)
        .count();
    Ok(Snapshot {
        line: line.name.clone(),
        branch: line.branch.clone(),
        meeting: meeting.clone(),
        last_meeting,
        queue,
        since: since_rows,
        not_landed,
        drift,
        readiness,
        decided_here,
        pending_push,
        events: ledger.event_count()?,
        now,
    })
}

/// Decisions per ticket, in words with their day ("rejected 09-12"), for the "previous" column.
fn previous_decisions(ledger: &Ledger, line: &str) -> Result<BTreeMap<String, Vec<String>>> {
    let mut previous: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (t, d, at) in ledger.decisions_on_line(line)? {
        let day = at.format("%m-%d").to_string();
        let word = match d.as_str() {
            "approve" => "approved",
            "reject" => "rejected",
            "defer" => "deferred",
            "needs-info" => "needs-info",
            "request" => "requested",
            "done" => "done",
            "revoke" => "revoked",
            _ => continue,
        };
        previous.entry(t).or_default().push(format!("{word} {day}"));
    }
    Ok(previous)
}

/// The queue: requests, and deferred / needs-info ones due again by `meeting`, in
/// [`queue_rank`] order, newest first within a rank.
fn load_queue(
    ledger: &Ledger,
    line: &str,
    meeting: NaiveDate,
    since: DateTime<Utc>,
    mut previous: BTreeMap<String, Vec<String>>,
) -> Result<Vec<QueueRow>> {
    let mut queue = Vec::new();
    for t in meeting::queue(ledger, line, meeting)? {
        let (key, summary, state, requester, requested_at, comps, deferred_until, count) = (
            t.ticket,
            t.summary,
            t.state,
            t.requested_by,
            t.requested_at,
            t.components,
            t.deferred_until,
            t.request_count,
        );
        let new = state == State::Requested && requested_at.is_some_and(|r| r >= since);
        let mut prev = previous.remove(&key).unwrap_or_default();
        if prev.len() > 3 {
            prev.drain(..prev.len() - 3);
        }
        queue.push(QueueRow {
            summary: clean(&summary),
            state,
            requester: requester.map(|r| clean(&r)),
            requested_at,
            repos: comps,
            deferred_until,
            new,
            previous: prev.join(", "),
            request_count: count,
            key,
        });
    }
    queue.sort_by(|a, b| {
        queue_rank(a)
            .cmp(&queue_rank(b))
            .then(b.requested_at.cmp(&a.requested_at))
    });
    Ok(queue)
}

/// Since the last meeting: new requests, decisions, landings, drift; a fact seen twice once.
fn load_since(
    ledger: &Ledger,
    line: &portcullis_core::policy::Line,
    since: DateTime<Utc>,
) -> Result<Vec<SinceRow>> {
    let mut since_rows = Vec::new();
    let mut seen: std::collections::HashSet<(Option<String>, &str, String)> = Default::default();
    let rows = ledger.recent_activity(
        &line.name,
        &line.request_label,
        &portcullis_core::time::fmt_utc(since),
        2000,
    )?;
    for row in rows {
        let (at, key, k, actor, p, note) = (
            row.at,
            row.ticket,
            row.kind,
            row.actor,
            row.payload,
            row.note,
        );
        let s = |f: &str| p.get(f).and_then(Value::as_str).unwrap_or("").to_string();
        let who = actor.unwrap_or_else(|| "?".into());
        let (what, detail) = match k.as_str() {
            kind::LABEL_ADDED if s("label") == line.request_label => {
                ("new request", format!("requested by {who}"))
            }
            kind::LABEL_ADDED => continue,
            kind::DECISION => (
                "decision",
                format!(
                    "{} by {who}{}",
                    s("decision"),
                    note.map(|n| format!(": {n}")).unwrap_or_default()
                ),
            ),
            kind::LANDING if matches!(s("status").as_str(), "landed" | "release_only") => {
                ("landed", format!("in {} ({})", s("repo"), s("how")))
            }
            kind::LANDING => continue,
            kind::DRIFT_FOUND if s("kind") == "reverted" => ("reverted", s("message")),
            kind::DRIFT_FOUND => ("drift", s("message")),
            kind::DRIFT_CLEARED => ("drift resolved", s("message")),
            _ => continue,
        };
        // A fact seen again (a landing recorded by two verify runs) shows once, newest.
        if !seen.insert((key.clone(), what, detail.clone())) {
            continue;
        }
        since_rows.push(SinceRow {
            at,
            key,
            what,
            detail: clean(&detail),
        });
    }
    Ok(since_rows)
}

/// Open drift (blocking first), and the approved tickets it finds missing somewhere (oldest
/// approval first); `approved_at` gives their summary and approval time.
fn load_drift(
    ledger: &Ledger,
    line: &str,
    approved_at: &BTreeMap<String, (String, Option<DateTime<Utc>>)>,
) -> Result<(Vec<DriftRow>, Vec<NotLandedRow>)> {
    let mut drift = Vec::new();
    let mut not_landed = Vec::new();
    // Drift recorded before it was settled (a waiver, a revoke) is shown settled, not blocking.
    let settler = portcullis_ops::verify::Settler::load(
        ledger,
        line,
        approved_at.keys().map(String::as_str),
    )?;
    for (_, p) in portcullis_ops::verify::open_drift(ledger, line)? {
        let s = |f: &str| p.get(f).and_then(Value::as_str).map(str::to_string);
        let mut row = DriftRow {
            kind: s("kind").unwrap_or_default(),
            ticket: s("ticket"),
            repo: s("repo"),
            blocking: p.get("blocking").and_then(Value::as_bool).unwrap_or(false),
            message: clean(&s("message").unwrap_or_default()),
            commits: p
                .get("commits")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|c| c.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        };
        let settled = p
            .get("kind")
            .and_then(|k| serde_json::from_value(k.clone()).ok())
            .and_then(|k| settler.settle(k, row.ticket.as_deref(), &row.commits));
        if let Some(st) = settled {
            row.blocking = false;
            row.message = clean(&format!(
                "{} (settled: {})",
                row.message,
                crate::render::verify::settled_text(&st)
            ));
        }
        if matches!(row.kind.as_str(), "approved_not_landed" | "done_not_landed") {
            if let Some(key) = &row.ticket {
                let (summary, at) = approved_at.get(key).cloned().unwrap_or_default();
                not_landed.push(NotLandedRow {
                    key: key.clone(),
                    summary: clean(&summary),
                    repo: row.repo.clone(),
                    approved_at: at,
                    message: row.message.clone(),
                });
            }
        }
        drift.push(row);
    }
    drift.sort_by(|a, b| {
        b.blocking
            .cmp(&a.blocking)
            .then(a.kind.cmp(&b.kind))
            .then(a.ticket.cmp(&b.ticket))
    });
    not_landed.sort_by(|a, b| a.approved_at.cmp(&b.approved_at).then(a.key.cmp(&b.key)));
    Ok((drift, not_landed))
}

/// Readiness for the next release and per step (landed = approved and not missing anywhere).
fn load_readiness(
    ledger: &Ledger,
    policy: &LoadedPolicy,
    line: &str,
    decision_events: &[portcullis_core::event::Event],
    approved_at: &BTreeMap<String, (String, Option<DateTime<Utc>>)>,
    not_landed: &[NotLandedRow],
) -> Result<Vec<ReadinessRow>> {
    let missing: BTreeSet<String> = not_landed.iter().map(|r| r.key.clone()).collect();
    let targets = portcullis_ops::release::targets_from(decision_events, line);
    let approved: BTreeSet<String> = approved_at.keys().cloned().collect();
    let r =
        portcullis_ops::release::readiness(ledger, policy, line, &targets, &approved, &missing)?;
    let mut readiness = vec![ReadinessRow {
        name: "next release".into(),
        status: String::new(),
        release: None,
        approved: r.approved,
        landed: r.landed,
    }];
    readiness.extend(r.releases.into_iter().map(|x| ReadinessRow {
        name: format!("release {}", x.version),
        status: "targeted".into(),
        release: Some(x.version),
        approved: x.approved,
        landed: x.landed,
    }));
    readiness.extend(r.steps.into_iter().map(|s| ReadinessRow {
        name: format!("step {}", s.name),
        status: s.status.replace('_', " "),
        release: s.release,
        approved: s.approved,
        landed: s.landed,
    }));
    Ok(readiness)
}

/// Queue order: new requests, older requests, then deferred and needs-info ones due again.
fn queue_rank(r: &QueueRow) -> u8 {
    match (r.state, r.new) {
        (State::Requested, true) => 0,
        (State::Requested, false) => 1,
        (State::Deferred, _) => 2,
        _ => 3,
    }
}

/// Git facts for the screen, computed beside it: per queued ticket, whether its fix would pick
/// cleanly; and the next cut's gate.
#[derive(Debug, Clone, Default)]
pub struct GitFacts {
    pub picks: BTreeMap<String, Pick>,
    /// Per ticket, its main-side commits: `repository sha subject`.
    pub commits: BTreeMap<String, Vec<String>>,
    /// The next patch release and what blocks it (`None`: could not be checked).
    pub next_cut: Option<(String, Vec<portcullis_core::release::Blocker>)>,
    /// Per approved ticket and repository, where its backport stands (as `portcullis
    /// backports` says it).
    pub backports: BTreeMap<(String, String), String>,
    pub error: Option<String>,
}

/// Run the verifier (recording what it finds), try each queued ticket's main-side commits on
/// the release branch in memory, and dry-run the next cut.
pub fn git_facts(
    ws: &portcullis_ops::workspace::Workspace,
    line: &str,
    keys: &[String],
) -> GitFacts {
    let mut facts = GitFacts::default();
    let verified = match portcullis_ops::verify::verify(
        ws,
        &portcullis_ops::verify::VerifyOptions {
            line: Some(line.to_string()),
            // The main-side commits are tried on the release branch below.
            main_commits: true,
            ..Default::default()
        },
        &portcullis_ops::verify::Quiet,
    ) {
        Ok(v) => v,
        Err(e) => {
            facts.error = Some(chain(&e));
            return facts;
        }
    };
    let policy_dir = ws
        .policy_path
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let wanted: BTreeSet<&str> = keys.iter().map(String::as_str).collect();
    let mut picks: BTreeMap<String, Pick> = BTreeMap::new();
    for t in &verified.verification.tickets {
        if wanted.contains(t.key.as_str()) && t.status.has_landed() {
            picks.insert(t.key.clone(), Pick::Landed);
        }
    }
    for scan in &verified.verification.repositories {
        let Some(release_tip) = scan.release_tip.as_deref() else {
            continue;
        };
        let Some(r) = ws
            .policy
            .policy
            .repositories
            .iter()
            .find(|r| r.name == scan.repo)
        else {
            continue;
        };
        let Some(repo) = open_scratch(&portcullis_git::scan::resolve_repo_path(
            &policy_dir,
            &r.path,
        )) else {
            continue;
        };
        let Ok(tip) = git2::Oid::from_str(release_tip).and_then(|o| repo.find_commit(o)) else {
            continue;
        };
        let mut by_ticket: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for c in &scan.main_commits {
            if let (Some(k), false) = (c.ticket.as_deref(), c.merge) {
                facts
                    .commits
                    .entry(k.to_string())
                    .or_default()
                    .push(format!(
                        "{} {} {}",
                        scan.repo,
                        c.sha.get(..10).unwrap_or(&c.sha),
                        clean(&c.subject)
                    ));
            }
            if let Some(k) = c.ticket.as_deref() {
                if wanted.contains(k) && !c.merge {
                    by_ticket.entry(k).or_default().push(c.sha.as_str());
                }
            }
        }
        for (key, shas) in by_ticket {
            if picks.get(key) == Some(&Pick::Landed) {
                continue;
            }
            let clean = try_pick(&repo, &tip, &shas);
            let entry = picks.entry(key.to_string()).or_insert(Pick::Clean);
            if !clean {
                match entry {
                    Pick::Conflicts(v) => v.push(scan.repo.clone()),
                    _ => *entry = Pick::Conflicts(vec![scan.repo.clone()]),
                }
            }
        }
    }
    for k in keys {
        picks.entry(k.clone()).or_insert(Pick::NoCommits);
    }
    facts.picks = picks;
    facts.backports = backports(ws, line, &verified.verification);
    // The next patch release's gate (dry run).
    if let Ok(l) = ws.policy.resolve_line(Some(line)) {
        let next = next_patch(ws, l);
        if let Some(v) = next {
            match portcullis_ops::release::cut(
                ws,
                &portcullis_ops::release::CutOptions {
                    line: Some(line.to_string()),
                    version: v.clone(),
                    ..Default::default()
                },
            ) {
                Ok(r) => facts.next_cut = Some((v, r.blockers)),
                Err(e) => facts.error = Some(chain(&e)),
            }
        }
    }
    facts
}

/// Where each approved ticket's backport stands per repository, from the verification just
/// made; empty (and logged) when it cannot be read.
fn backports(
    ws: &portcullis_ops::workspace::Workspace,
    line: &str,
    v: &portcullis_git::verify::Verification,
) -> BTreeMap<(String, String), String> {
    let read = || -> portcullis_ops::Result<_> {
        let l = ws.policy.resolve_line(Some(line))?;
        portcullis_ops::backport::list::backports_in(ws, l, v)
    };
    match read() {
        Ok(b) => b
            .tickets
            .into_iter()
            .flat_map(|t| {
                t.repos
                    .into_iter()
                    .map(move |r| ((t.key.clone(), r.repo.clone()), r.describe()))
            })
            .collect(),
        Err(e) => {
            tracing::warn!(error = %chain(&e), "cannot read where the backports stand");
            BTreeMap::new()
        }
    }
}

/// The next patch version of a line: one above its latest final release (or its base).
pub fn next_patch(
    ws: &portcullis_ops::workspace::Workspace,
    line: &portcullis_core::policy::Line,
) -> Option<String> {
    let ledger = ws.open_ledger().ok()?;
    let mut v = semver::Version::parse(&line.base_version).ok()?;
    for r in portcullis_ops::release::releases(&ledger, &line.name).ok()? {
        if r.manifest.rc.is_none() {
            if let Ok(x) = semver::Version::parse(&r.manifest.version) {
                v = v.max(x);
            }
        }
    }
    v.patch += 1;
    Some(v.to_string())
}

/// Apply `shas` in order on top of `tip`, as three-way merges of trees; false at the first
/// conflict. The trees it writes go to an in-memory object store (see [`open_scratch`]).
fn try_pick(repo: &git2::Repository, tip: &git2::Commit, shas: &[&str]) -> bool {
    let pick = || -> std::result::Result<bool, git2::Error> {
        let mut current = tip.tree()?;
        for sha in shas {
            let c = repo.find_commit(git2::Oid::from_str(sha)?)?;
            let base = c.parent(0)?.tree()?;
            let mut index = repo.merge_trees(&base, &current, &c.tree()?, None)?;
            if index.has_conflicts() {
                return Ok(false);
            }
            let oid = index.write_tree_to(repo)?;
            current = repo.find_tree(oid)?;
        }
        Ok(true)
    };
    pick().unwrap_or(false)
}

/// Open a repository whose writes go to memory: trial picks never touch the clone.
fn open_scratch(path: &std::path::Path) -> Option<git2::Repository> {
    let repo = git2::Repository::open(path).ok()?;
    let odb = repo.odb().ok()?;
    odb.add_new_mempack_backend(1000).ok()?;
    drop(odb);
    Some(repo)
}
