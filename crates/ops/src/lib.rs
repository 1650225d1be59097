//! # portcullis-ops
//!
//! The operations shared by every front end (the CLI, the triage screen, the bot, the demo).
//! Each takes plain data, returns plain data (serialisable), and never prints: that is what
//! keeps the front ends from disagreeing, and why no rule lives in the binary.
//!
//! - here: [`status`], [`decide`], [`history()`], [`audit`], [`rebuild`]: the reads and
//!   writes of tickets and of the ledger as a whole;
//! - [`workspace`], [`config`], [`credentials`]: where the policy, the ledger and the secrets
//!   of a workspace are, from `portcullis.toml`, flags and the environment;
//! - [`tracker`]: which trackers a workspace syncs with and pushes to, decided once, and the
//!   one `sync` / `push` every front end calls;
//! - [`verify`]: scanning and judging every repository, with the git facts kept in the ledger
//!   (it implements `portcullis_git::cache::FactStore`, so the git crate never sees SQL);
//! - [`release`]: the gate, the cut (manifest, tags, files, the `release.cut` event) and steps;
//! - [`meeting`], [`digest`], [`notify`]: meetings and attendance, what changed since the last
//!   digest, and posting it to chat exactly once.
//!
//! It sits above every other library crate and below only the binary; see
//! `docs/EXTENDING.md` for the map.

pub mod config;
pub mod credentials;
pub mod digest;
pub mod error;
pub mod meeting;
pub mod notify;
pub mod release;
pub mod tracker;
pub mod verify;
pub mod workspace;

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{json, Value};

pub use error::{Error, Result};
use portcullis_core::event::{
    derive_ticket, kind, source, trace_ticket, Event, NewEvent, TicketInfo,
};
use portcullis_core::policy::LoadedPolicy;
use portcullis_core::time::now;
use portcullis_core::workflow::{check, Decision, LineState, State, Violation};
use portcullis_ledger::{Ledger, StatusRow};

/// The status of one release line.
#[derive(Debug, Clone, Serialize)]
pub struct LineStatus {
    pub line: String,
    pub branch: String,
    /// Counts per state, in the order they are listed.
    pub counts: Vec<(State, usize)>,
    pub tickets: Vec<StatusRow>,
    /// Open violations: (ticket, violation).
    pub violations: Vec<(String, Violation)>,
    /// Decisions recorded below quorum that wait for ratification (they do not count yet).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub provisional: Vec<ProvisionalDecision>,
    /// What each targeted approval is for (tickets approved with `--for-step`/`--for-release`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub targets: BTreeMap<String, Target>,
}

/// A provisional decision, for `status`.
#[derive(Debug, Clone, Serialize)]
pub struct ProvisionalDecision {
    pub seq: i64,
    pub key: String,
    pub decision: String,
    pub by: Option<String>,
    /// "the meeting of D" or "the meeting of D (sitting n)".
    pub meeting: String,
}

/// Where every request of a line stands.
pub fn status(
    ledger: &Ledger,
    policy: &LoadedPolicy,
    line: Option<&str>,
    filter: Option<State>,
) -> Result<LineStatus> {
    let line = policy.resolve_line(line)?;
    let mut rows = ledger.status_rows(&line.name)?;
    let mut counts: BTreeMap<State, usize> = BTreeMap::new();
    for r in &rows {
        *counts.entry(r.state).or_default() += 1;
    }
    if let Some(f) = filter {
        rows.retain(|r| r.state == f);
    }
    let counts = State::ALL
        .iter()
        .filter(|s| **s != State::None)
        .map(|s| (*s, counts.get(s).copied().unwrap_or(0)))
        .collect();
    let violations = ledger
        .violations(Some(&line.name), None)?
        .into_iter()
        .filter(|(_, _, v)| v.resolved_by.is_none())
        .map(|(t, _, v)| (t, v))
        .collect();
    let events = ledger.events_of_kinds(&[
        kind::DECISION,
        kind::DECISION_UNDONE,
        kind::DECISION_RATIFIED,
    ])?;
    let provisional = meeting::awaiting_ratification(&events, &line.name)
        .into_iter()
        .map(|e| ProvisionalDecision {
            seq: e.seq,
            key: e.ticket.clone().unwrap_or_default(),
            decision: e.payload["decision"].as_str().unwrap_or("?").to_string(),
            by: e.actor.clone(),
            meeting: match (e.meeting, portcullis_core::event::sitting_of(&e)) {
                (Some(d), n) if n > 1 => format!("the meeting of {d} (sitting {n})"),
                (Some(d), _) => format!("the meeting of {d}"),
                (None, _) => "no meeting".to_string(),
            },
        })
        .collect();
    let targets = release::targets(ledger, &line.name)?;
    Ok(LineStatus {
        line: line.name.clone(),
        branch: line.branch.clone(),
        counts,
        tickets: rows,
        violations,
        provisional,
        targets,
    })
}

/// A decision to record.
#[derive(Debug, Clone)]
pub struct DecideRequest {
    pub key: String,
    pub line: Option<String>,
    pub decision: Decision,
    pub note: Option<String>,
    pub actor: String,
    pub meeting: Option<NaiveDate>,
    pub until: Option<NaiveDate>,
    /// Record it even if the policy forbids it (it is then kept as a violation).
    pub force: bool,
    /// With `approve`: the step (`Step`) or patch release (`Release`) the fix is approved for;
    /// by default the next patch release of the line.
    pub target: Option<Target>,
}

/// What an approval is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Step(String),
    Release(String),
}

impl std::fmt::Display for Target {
    /// `step coadd`, `release 23.0.3`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Step(s) => write!(f, "step {s}"),
            Target::Release(r) => write!(f, "release {r}"),
        }
    }
}

/// What recording a decision did.
#[derive(Debug, Clone, Serialize)]
pub struct DecideOutcome {
    pub key: String,
    pub line: String,
    pub decision: Decision,
    pub seq: i64,
    pub from: State,
    pub to: State,
    /// The sitting's date; `None` for an out-of-meeting decision.
    pub meeting: Option<NaiveDate>,
    /// The sitting it belongs to (with `meeting`).
    pub sitting: Option<u32>,
    /// Recorded while no sitting of the line was open (final, marked so everywhere).
    pub out_of_meeting: bool,
    /// Recorded below quorum: shown, not counted nor pushed until a quorate sitting ratifies it.
    pub provisional: bool,
    pub violations: Vec<String>,
    /// What an approval is for, as checked and recorded (a release as its plain version).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
}

impl DecideOutcome {
    /// "in the meeting of D (sitting n)", "provisional in the meeting of D (sitting n)" or
    /// "out of meeting".
    pub fn place(&self) -> String {
        match (self.meeting, self.sitting) {
            (Some(d), n) => format!(
                "{}in the meeting of {d} (sitting {})",
                if self.provisional { "provisional " } else { "" },
                n.unwrap_or(1)
            ),
            (None, _) => "out of meeting".to_string(),
        }
    }
}

/// What a decision would be, checked but not recorded (see [`decide`]).
struct Prepared {
    line: String,
    note: Option<String>,
    events_empty: bool,
    from: State,
    to: State,
    violations: Vec<String>,
    sitting: Option<meeting::Meeting>,
    provisional: bool,
    /// What an approval is for, as checked (a release as its plain version).
    target: Option<Target>,
}

/// The policy violations a decision would carry (empty: the policy allows it). Refuses, as
/// [`decide`] does, what no `--force` lets through (a bad key, a missing reason, a deferral
/// date that is not after the meeting, a decision by a member who does not attend). The
/// triage screen shows these before recording a policy exception.
pub fn decision_violations(
    ledger: &Ledger,
    policy: &LoadedPolicy,
    req: &DecideRequest,
) -> Result<Vec<String>> {
    Ok(prepare(ledger, policy, req)?.violations)
}

/// Every check of a decision; nothing written.
fn prepare(ledger: &Ledger, policy: &LoadedPolicy, req: &DecideRequest) -> Result<Prepared> {
    let line = policy.resolve_line(req.line.as_deref())?.clone();
    if !policy.key_matches(&req.key) {
        return Err(Error::input(format!(
            "`{}` is not a ticket key under this policy (pattern `{}`)",
            req.key, policy.policy.ticket_key
        ))
        .hint("check the key for typos"));
    }
    let note = req
        .note
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    if matches!(req.decision, Decision::Reject | Decision::Revoke) && note.is_none() {
        return Err(Error::input(format!("a {} needs a reason", req.decision))
            .hint("pass --note \"why\": the reason is what makes a rejection countable later"));
    }
    if req.until.is_some() && req.decision != Decision::Defer {
        return Err(Error::input("--until only goes with `defer`"));
    }
    if req.target.is_some() && req.decision != Decision::Approve {
        return Err(Error::input(
            "--for-step and --for-release only go with `approve`",
        ));
    }
    let target = req
        .target
        .as_ref()
        .map(|t| release::check_target(ledger, policy, &line, t))
        .transpose()?;
    let today = now().date_naive();
    let sitting = meeting::open_sitting(ledger, &line.name)?;
    if let Some(d) = req.meeting {
        if sitting.as_ref().is_none_or(|m| m.date != d) {
            let hint = match &sitting {
                Some(m) => format!("{} is open: leave out --meeting", m.name()),
                None => "no meeting is open: open one (`portcullis meeting open` or `portcullis triage`), or leave out --meeting to record the decision as out of meeting".to_string(),
            };
            return Err(
                Error::input(format!("no meeting of {} on {d} is open", line.name)).hint(hint),
            );
        }
    }
    if let Some(u) = req.until {
        meeting::check_defer_until(u, sitting.as_ref().map_or(today, |m| m.date))?;
    }
    let committee = req.decision.needs_committee();
    let provisional = match &sitting {
        Some(m) if committee => {
            meeting::check_attending(policy, m, &req.actor)?;
            m.quorate() == Some(false)
        }
        _ => false,
    };
    let events = ledger.events_for_ticket(&req.key)?;
    let derived = derive_ticket(policy, &req.key, &events);
    let from = derived
        .lines
        .get(&line.name)
        .map(|s| s.state)
        .unwrap_or(State::None);
    let c = check(from, req.decision, Some(&req.actor), policy);
    Ok(Prepared {
        line: line.name.clone(),
        note,
        events_empty: events.is_empty(),
        from,
        to: c.to,
        violations: c
            .violations
            .into_iter()
            .map(|(k, m)| format!("{k}: {m}"))
            .collect(),
        sitting,
        provisional,
        target,
    })
}

/// Record a committee decision under the meeting rule ([`meeting`]): in the line's open
/// sitting (provisional below quorum, by an attending member only), or out of meeting. Refuses
/// transitions the policy forbids unless `force`; a forced decision records `"forced": true`
/// and carries its violations.
pub fn decide(
    ledger: &mut Ledger,
    policy: &LoadedPolicy,
    req: DecideRequest,
) -> Result<DecideOutcome> {
    let p = prepare(ledger, policy, &req)?;
    if p.events_empty && !req.force {
        return Err(Error::input(format!("{} is not in the ledger", req.key))
            .hint("sync or import it first, or pass --force to record a decision on a ticket portcullis has not seen"));
    }
    if !p.violations.is_empty() && !req.force {
        return Err(Error::input(format!(
            "the policy does not allow `{}` on {} ({} is {}):\n  {}",
            req.decision,
            req.key,
            p.line,
            p.from.describe(),
            p.violations.join("\n  ")
        ))
        .hint("pass --force to record it anyway; it will be kept as a violation"));
    }
    let at = now();
    let mut payload = json!({
        "decision": req.decision.as_str(),
        "until": req.until.map(|d| d.to_string()),
        "forced": req.force && !p.violations.is_empty(),
    });
    match &p.sitting {
        Some(m) => {
            payload["sitting"] = json!(m.sitting);
            if p.provisional {
                payload["provisional"] = json!(true);
            }
        }
        None => payload["out_of_meeting"] = json!(true),
    }
    if let Some(t) = &p.target {
        payload["target"] = json!(t);
    }
    let mut tx = ledger.transaction()?;
    let seq = tx
        .append(NewEvent {
            ticket: Some(req.key.clone()),
            line: Some(p.line.clone()),
            kind: kind::DECISION,
            source: source::LOCAL.into(),
            actor: Some(req.actor.clone()),
            at,
            meeting: p.sitting.as_ref().map(|m| m.date),
            note: p.note,
            payload,
            dedup_key: None,
        })?
        .ok_or_else(|| Error::internal("decision was not recorded"))?;
    tx.commit_with(policy)?;
    Ok(DecideOutcome {
        key: req.key,
        line: p.line,
        decision: req.decision,
        seq,
        from: p.from,
        // A provisional decision changes nothing until it is ratified.
        to: if p.provisional { p.from } else { p.to },
        meeting: p.sitting.as_ref().map(|m| m.date),
        sitting: p.sitting.as_ref().map(|m| m.sitting),
        out_of_meeting: p.sitting.is_none(),
        provisional: p.provisional,
        violations: p.violations,
        target: p.target,
    })
}

/// One row of a ticket's timeline.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineEntry {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub source: String,
    pub actor: Option<String>,
    pub kind: String,
    /// What happened, in words.
    pub what: String,
    pub note: Option<String>,
    pub meeting: Option<NaiveDate>,
    /// What it did to each line's state: `line: from → to`.
    pub effects: Vec<String>,
    /// False for changes of labels the policy does not use (hidden from timelines by default).
    pub relevant: bool,
}

/// A ticket's full history.
#[derive(Debug, Clone, Serialize)]
pub struct History {
    pub key: String,
    pub info: TicketInfo,
    pub lines: BTreeMap<String, LineState>,
    pub timeline: Vec<TimelineEntry>,
}

/// Every event of a ticket in time order, with what each did, and the resulting states.
pub fn history(ledger: &Ledger, policy: &LoadedPolicy, key: &str) -> Result<History> {
    let events = ledger.events_for_ticket(key)?;
    if events.is_empty() {
        let hint = if policy.key_matches(key) {
            "check the key, or sync/import the ticket first".to_string()
        } else {
            format!(
                "ticket keys under this policy match `{}`",
                policy.policy.ticket_key
            )
        };
        return Err(Error::input(format!("{key} is not in the ledger")).hint(hint));
    }
    let derived = derive_ticket(policy, key, &events);
    let traces = trace_ticket(policy, &events);
    let mut effects: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for (line, steps) in &traces {
        for s in steps {
            let mut text = if s.from != s.to {
                format!("{line}: {} → {}", s.from, s.to.describe())
            } else {
                format!("{line}: stays {}", s.to)
            };
            for v in &s.violations {
                text.push_str(&format!(" [violation: {v}]"));
            }
            effects.entry(s.seq).or_default().push(text);
        }
    }
    let mut sorted: Vec<&Event> = events.iter().collect();
    sorted.sort_by(|a, b| a.at.cmp(&b.at).then(a.seq.cmp(&b.seq)));
    let timeline = sorted
        .into_iter()
        .map(|e| TimelineEntry {
            seq: e.seq,
            at: e.at,
            source: e.source.clone(),
            actor: e.actor.clone(),
            kind: e.kind.clone(),
            what: describe_event(policy, e),
            note: e.note.clone(),
            meeting: e.meeting,
            effects: effects.remove(&e.seq).unwrap_or_default(),
            relevant: match e.payload.get("label").and_then(Value::as_str) {
                Some(l) if e.kind == kind::LABEL_ADDED || e.kind == kind::LABEL_REMOVED => {
                    policy.is_known_label(l) || policy.is_unknown_backport_label(l)
                }
                _ => true,
            },
        })
        .collect();
    Ok(History {
        key: key.to_string(),
        info: derived.info,
        lines: derived.lines,
        timeline,
    })
}

/// The tracker an event's source names, for sentences.
fn tracker_name(source: &str) -> &'static str {
    if source == source::GITHUB {
        "GitHub"
    } else {
        "Jira"
    }
}

fn describe_event(policy: &LoadedPolicy, e: &Event) -> String {
    let label = e
        .payload
        .get("label")
        .and_then(Value::as_str)
        .unwrap_or("?");
    let role = |l: &str| {
        if let Some(line) = policy.line_for_request_label(l) {
            format!(" (request for {})", line.name)
        } else if l == policy.policy.labels.approved {
            " (approval)".into()
        } else if l == policy.policy.labels.done {
            " (done)".into()
        } else {
            String::new()
        }
    };
    let snap = if e.source == source::SNAPSHOT {
        " [seen in a snapshot; actor unknown]"
    } else {
        ""
    };
    match e.kind.as_str() {
        kind::LABEL_ADDED => format!("label `{label}` added{}{snap}", role(label)),
        kind::LABEL_REMOVED => format!("label `{label}` removed{}{snap}", role(label)),
        kind::DECISION => describe_decision(e),
        kind::TICKET_OBSERVED => {
            let status = e
                .payload
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or("?");
            format!("fields seen: status {status}")
        }
        kind::PUSHED => describe_pushed(e),
        kind::PUSH_CONFLICT => format!(
            "push of decision #{} held back: labels changed in {} by {}",
            e.payload
                .get("decision_seq")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            tracker_name(&e.source),
            e.payload
                .get("changed_by")
                .and_then(Value::as_str)
                .unwrap_or("someone")
        ),
        kind::COMMIT_LINKED => {
            let p = &e.payload;
            let sha = p.get("sha").and_then(Value::as_str).unwrap_or("?");
            format!(
                "merged in {} as {} ({} commit(s))",
                p.get("repo").and_then(Value::as_str).unwrap_or("?"),
                &sha[..sha.len().min(12)],
                p.get("commits")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len)
            )
        }
        kind::LANDING => describe_landing(e),
        kind::DRIFT_FOUND => format!(
            "drift: {}",
            e.payload
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("?")
        ),
        kind::DECISION_UNDONE => format!(
            "decision #{} taken back",
            e.payload.get("undoes").and_then(Value::as_i64).unwrap_or(0)
        ),
        kind::NOTE => "note".to_string(),
        kind::DECISION_SUPERSEDED => format!(
            "decision #{} superseded by #{} before it was pushed (never pushed)",
            e.payload
                .get("decision_seq")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            e.payload
                .get("superseded_by")
                .and_then(Value::as_i64)
                .unwrap_or(0)
        ),
        kind::TICKET_GONE => match e.payload.get("moved_to").and_then(Value::as_str) {
            Some(to) => format!("gone from {}: moved to {to}", tracker_name(&e.source)),
            None => format!(
                "gone from {}: {}",
                tracker_name(&e.source),
                e.payload
                    .get("reason")
                    .and_then(Value::as_str)
                    .unwrap_or("deleted")
            ),
        },
        kind::DECISION_RATIFIED => format!(
            "provisional decision(s) {} ratified in the meeting of {}{}",
            e.payload
                .get("ratifies")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_i64)
                .map(|s| format!("#{s}"))
                .collect::<Vec<_>>()
                .join(", "),
            e.meeting.map(|d| d.to_string()).unwrap_or_default(),
            match portcullis_core::event::sitting_of(e) {
                1 => String::new(),
                n => format!(" (sitting {n})"),
            }
        ),
        kind::MEETING_OPENED => "meeting opened".to_string(),
        kind::MEETING_CLOSED => "meeting closed".to_string(),
        kind::DRIFT_CLEARED => format!(
            "drift resolved: {}",
            e.payload
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("?")
        ),
        other => other.to_string(),
    }
}

/// A decision, for [`describe_event`]: `decision: approve for 23.0 until … (forced)`.
fn describe_decision(e: &Event) -> String {
    let d = e
        .payload
        .get("decision")
        .and_then(Value::as_str)
        .unwrap_or("?");
    let mut s = format!("decision: {d} for {}", e.line.as_deref().unwrap_or("?"));
    if let Some(t) = release::target_of(e) {
        s.push_str(&format!(" (for {t})"));
    }
    if let Some(u) = e.payload.get("until").and_then(Value::as_str) {
        s.push_str(&format!(" until {u}"));
    }
    if e.payload.get("forced").and_then(Value::as_bool) == Some(true) {
        s.push_str(" (forced)");
    }
    if portcullis_core::event::is_out_of_meeting(e) {
        s.push_str(" (out of meeting)");
    } else if e.meeting.is_some() && portcullis_core::event::sitting_of(e) > 1 {
        s.push_str(&format!(
            " (sitting {})",
            portcullis_core::event::sitting_of(e)
        ));
    }
    if portcullis_core::event::is_provisional(e) {
        s.push_str(" (provisional: below quorum)");
    }
    s
}

/// A decision written to a tracker, for [`describe_event`]: its label changes and comments.
fn describe_pushed(e: &Event) -> String {
    let list = |k: &str, sign: char| -> Vec<String> {
        e.payload
            .get(k)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|l| l.as_str().map(|l| format!("{sign}{l}")))
            .collect()
    };
    let mut labels = list("added", '+');
    labels.extend(list("removed", '-'));
    format!(
        "decision #{} written to {} ({}, {} comment(s){})",
        e.payload
            .get("decision_seq")
            .and_then(Value::as_i64)
            .unwrap_or(0),
        tracker_name(&e.source),
        if labels.is_empty() {
            "no label change".to_string()
        } else {
            labels.join(" ")
        },
        e.payload
            .get("comments_posted")
            .and_then(Value::as_u64)
            .unwrap_or(0),
        if e.payload.get("already_in_jira").and_then(Value::as_bool) == Some(true)
            || e.payload.get("already_in_github").and_then(Value::as_bool) == Some(true)
        {
            "; already there"
        } else {
            ""
        }
    )
}

/// A landing, for [`describe_event`]: its status, repository, branch, how, and release tag.
fn describe_landing(e: &Event) -> String {
    let p = &e.payload;
    let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("?").to_string();
    let n = |k: &str| p.get(k).and_then(Value::as_array).map_or(0, Vec::len);
    let mut text = format!(
        "{} in {} on {}",
        s("status").replace('_', " "),
        s("repo"),
        p.get("branch")
            .and_then(Value::as_str)
            .unwrap_or("the release branch")
    );
    if let Some(how) = p.get("how").and_then(Value::as_str) {
        text.push_str(&format!(" ({how}"));
        text.push_str(&format!(
            ", {} of {} main commits)",
            n("landed"),
            n("main_commits")
        ));
    }
    let live = matches!(
        p.get("status").and_then(Value::as_str),
        Some("landed" | "release_only")
    );
    match p.get("first_tag").and_then(Value::as_str) {
        Some(t) if live => text.push_str(&format!(", released in {t}")),
        None if live => text.push_str(", not in a release tag yet"),
        _ => {}
    }
    text
}

/// The result of `audit`.
#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    pub events: u64,
    pub chain_ok: bool,
    pub derived_ok: bool,
    pub problems: Vec<String>,
}

/// Check the hash chain and that the derived state equals a rebuild from events.
pub fn audit(ledger: &Ledger, policy: &LoadedPolicy) -> Result<AuditReport> {
    // One read transaction: the chain, the stored derived state and the events it is rebuilt
    // from are read from the same snapshot, whatever other processes commit meanwhile.
    ledger.in_read_snapshot(|l| audit_snapshot(l, policy))
}

fn audit_snapshot(ledger: &Ledger, policy: &LoadedPolicy) -> Result<AuditReport> {
    let chain = ledger.verify_chain()?;
    let mut problems = chain.problems.clone();
    let chain_ok = problems.is_empty();
    let stored = ledger.derived_dump()?;
    let fresh = ledger.recompute_dump(policy)?;
    let derived_ok = stored == fresh;
    if !derived_ok {
        let diff = dump_diff(&stored, &fresh);
        problems.push(format!(
            "the derived state differs from a rebuild from events in {} row(s), e.g. {}",
            diff.len(),
            diff.first().cloned().unwrap_or_default()
        ));
    }
    Ok(AuditReport {
        events: chain.events,
        chain_ok,
        derived_ok,
        problems,
    })
}

/// Rows present in one dump and not the other, prefixed `-` (only before) / `+` (only after).
pub fn dump_diff(before: &[String], after: &[String]) -> Vec<String> {
    use std::collections::BTreeSet;
    let b: BTreeSet<&String> = before.iter().collect();
    let a: BTreeSet<&String> = after.iter().collect();
    b.difference(&a)
        .map(|r| format!("-{r}"))
        .chain(a.difference(&b).map(|r| format!("+{r}")))
        .collect()
}

/// The result of `ledger rebuild`.
#[derive(Debug, Clone, Serialize)]
pub struct RebuildReport {
    pub tickets: usize,
    pub rows: usize,
    pub identical: bool,
    pub differences: Vec<String>,
}

/// Rebuild the derived state from events and say whether it equals what was there.
pub fn rebuild(ledger: &mut Ledger, policy: &LoadedPolicy) -> Result<RebuildReport> {
    let (before, after) = ledger.rebuild(policy)?;
    let differences = dump_diff(&before, &after);
    Ok(RebuildReport {
        tickets: ledger.ticket_keys()?.len(),
        rows: after.len(),
        identical: differences.is_empty(),
        differences,
    })
}
