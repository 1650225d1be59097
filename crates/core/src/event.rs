//! Events, the facts of the ledger, and the pure derivation of a ticket's state from them.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::time::fmt_utc;

use crate::policy::LoadedPolicy;
use crate::workflow::{self, Action, ActionKind, Decision, LabelRole, LineState, Origin};

/// The kinds of event the ledger holds.
pub mod kind {
    /// A label added in a tracker (changelog entry or snapshot difference).
    pub const LABEL_ADDED: &str = "label.added";
    /// A label removed in a tracker.
    pub const LABEL_REMOVED: &str = "label.removed";
    /// A decision recorded in portcullis (request, approve, reject, defer, needs-info, done, revoke).
    pub const DECISION: &str = "decision";
    /// The ticket's fields (summary, status, labels …) as seen in a tracker.
    pub const TICKET_OBSERVED: &str = "ticket.observed";
    /// An import of a file or a sync run.
    pub const IMPORT: &str = "import";
    /// A decision written back to the tracker (labels and a comment).
    pub const PUSHED: &str = "push";
    /// A decision held back from the tracker because its labels changed there since.
    pub const PUSH_CONFLICT: &str = "push.conflict";
    /// A ticket's change seen on a release branch in one repository (by `verify`).
    pub const LANDING: &str = "landing";
    /// A person's verdict that a ticket's partial landing in one repository is what was wanted
    /// (`decide accept-partial`; payload: `repo`, `left_out` the main-side commits missing then,
    /// as the last verification had them; the note says why). From then on `verify` counts the
    /// ticket as landed there. No effect on the ticket's state.
    pub const PARTIAL_ACCEPTED: &str = "landing.accepted_partial";
    /// A disagreement between the ledger and git appeared.
    pub const DRIFT_FOUND: &str = "drift.found";
    /// A disagreement seen earlier is gone.
    pub const DRIFT_CLEARED: &str = "drift.cleared";
    /// `portcullis backport` began on a ticket and line (payload: `repos`, the repositories it
    /// picks in with their release tips; `forced` and `violations` when the ticket was not
    /// approved and `--force` let it through, with the reason in `note`). No effect on the
    /// ticket's state; a forced one is a `backport_unapproved` violation on its line.
    pub const BACKPORT_STARTED: &str = "backport.started";
    /// A ticket's commits picked cleanly onto a branch from the release branch in one
    /// repository (payload: `repo`, `branch`, `release_tip`, `tip`, `picks`). No effect on the
    /// ticket's state.
    pub const BACKPORT_PICKED: &str = "backport.picked";
    /// A pick that conflicted in one repository, which was left untouched (payload: `repo`,
    /// `main_commit`, `files`, `dependencies`, `worktree` when one was prepared). No effect on
    /// the ticket's state.
    pub const BACKPORT_CONFLICT: &str = "backport.conflict";
    /// A prepared conflict worktree dropped with `backport --abort` (payload: `repo`,
    /// `worktree`). No effect on the ticket's state.
    pub const BACKPORT_ABORTED: &str = "backport.aborted";
    /// A ticket branch pushed with `backport --push` (payload: `repo`, `branch`, `remote`,
    /// `tip`). No effect on the ticket's state.
    pub const BACKPORT_PUSHED: &str = "backport.pushed";
    /// A backport pull request opened with `backport --pr` (payload: `repo`, `github_repo`,
    /// `number`, `url`, `branch`, `base`). No effect on the ticket's state.
    pub const BACKPORT_PR_OPENED: &str = "backport.pr_opened";
    /// A backport pull request seen merged by `portcullis backports`, recorded once (payload:
    /// `repo`, `github_repo`, `number`, `merged_at`, `merge_commit`). No effect on the ticket's
    /// state: `verify` sees the landing.
    pub const BACKPORT_PR_MERGED: &str = "backport.pr_merged";
    /// The kinds of `portcullis backport`'s events.
    pub const BACKPORT: [&str; 7] = [
        BACKPORT_STARTED,
        BACKPORT_PICKED,
        BACKPORT_CONFLICT,
        BACKPORT_ABORTED,
        BACKPORT_PUSHED,
        BACKPORT_PR_OPENED,
        BACKPORT_PR_MERGED,
    ];

    /// A committee meeting began (payload: date, attendees, quorum).
    pub const MEETING_OPENED: &str = "meeting.opened";
    /// A committee meeting ended (payload: date, counts).
    pub const MEETING_CLOSED: &str = "meeting.closed";
    /// A decision taken back during its meeting (payload: `undoes`, the decision's sequence).
    /// The decision stays in the log; the derivation skips it.
    pub const DECISION_UNDONE: &str = "decision.undone";
    /// A note on a ticket (the note text), with no effect on its state.
    pub const NOTE: &str = "note";
    /// A ticket tied to commits by its tracker: a merged pull request (payload: `repo`,
    /// `sha` the merge commit, `commits` the pull request's own commits).
    pub const COMMIT_LINKED: &str = "commit.linked";
    /// A ticket its tracker no longer has under this key: deleted, or moved to another project
    /// (payload: `reason`, and `moved_to` the new key when moved). Recorded once.
    pub const TICKET_GONE: &str = "ticket.gone";
    /// An unpushed decision replaced by a later one on the same ticket and line before it
    /// reached the tracker (payload: `decision_seq` the replaced one, `superseded_by`); it is
    /// never pushed.
    pub const DECISION_SUPERSEDED: &str = "decision.superseded";
    /// A member arrived during a sitting (payload: `date`, `sitting`, `who`; `at` is when).
    pub const MEETING_JOINED: &str = "meeting.joined";
    /// A member left during a sitting (payload: `date`, `sitting`, `who`; `at` is when).
    pub const MEETING_LEFT: &str = "meeting.left";
    /// A quorate sitting ratified provisional decisions of a ticket (payload: `ratifies`, their
    /// sequences; `date` and `sitting` of the ratifying sitting). From then on they count.
    pub const DECISION_RATIFIED: &str = "decision.ratified";
    /// Something in a tracker's comment that looks like a decision record and is not applied:
    /// edited, truncated, an unknown version, not signed as the team's, or not written by a
    /// listed writer (payload: `why`, `message`, `author`, `comment`). Recorded once per block.
    pub const RECORD_REJECTED: &str = "record.rejected";
    /// A tracker comment that held a decision record (one this ledger applied, or pushed) is
    /// no longer in the tracker (payload: `comment`, and `event` the recorded event's hash, or
    /// `decision_seq` for one pushed from here). The decision stays; recorded once.
    pub const RECORD_GONE: &str = "record.gone";
}

/// A decision recorded while its sitting was below quorum (payload `"provisional": true`).
/// It is shown, but neither counted nor pushed until a quorate sitting ratifies it.
pub fn is_provisional(e: &Event) -> bool {
    e.kind == kind::DECISION && e.payload.get("provisional").and_then(Value::as_bool) == Some(true)
}

/// A decision recorded while no sitting of its line was open (payload `"out_of_meeting": true`).
pub fn is_out_of_meeting(e: &Event) -> bool {
    e.kind == kind::DECISION
        && e.payload.get("out_of_meeting").and_then(Value::as_bool) == Some(true)
}

/// The sitting an event names (payload `sitting`); events from before sittings are sitting 1.
pub fn sitting_of(e: &Event) -> u32 {
    e.payload
        .get("sitting")
        .and_then(Value::as_u64)
        .map_or(1, |n| n as u32)
}

/// Where a provisional decision was ratified: the ratifying sitting (date, sitting) and the
/// `decision.ratified` event's sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ratification {
    pub date: Option<NaiveDate>,
    pub sitting: u32,
    pub seq: i64,
}

/// The decisions ratified by `decision.ratified` events, by sequence (the first ratification
/// counts).
pub fn ratified_decisions(events: &[Event]) -> BTreeMap<i64, Ratification> {
    let mut out = BTreeMap::new();
    // A decision read back from its record in the tracker carries its ratification itself
    // (`ratified_in`): the ratifying sitting's event is the origin's, not this ledger's.
    for e in events.iter().filter(|e| e.kind == kind::DECISION) {
        if let Some(r) = e.payload.get("ratified_in") {
            out.insert(
                e.seq,
                Ratification {
                    date: r
                        .get("date")
                        .and_then(Value::as_str)
                        .and_then(|d| d.parse().ok()),
                    sitting: r
                        .get("sitting")
                        .and_then(Value::as_u64)
                        .map_or(1, |n| n as u32),
                    seq: e.seq,
                },
            );
        }
    }
    for e in events.iter().filter(|e| e.kind == kind::DECISION_RATIFIED) {
        let seqs = e.payload.get("ratifies").and_then(Value::as_array);
        for seq in seqs.into_iter().flatten().filter_map(Value::as_i64) {
            out.entry(seq).or_insert(Ratification {
                date: e.meeting,
                sitting: sitting_of(e),
                seq: e.seq,
            });
        }
    }
    out
}

/// Whether a decision counts (for the derivation, the gate and push): not provisional, or
/// provisional and ratified since.
pub fn decision_counts(e: &Event, ratified: &BTreeMap<i64, Ratification>) -> bool {
    !is_provisional(e) || ratified.contains_key(&e.seq)
}

/// The decisions taken back by `decision.undone` events, by sequence.
pub fn undone_decisions(events: &[Event]) -> BTreeSet<i64> {
    events
        .iter()
        .filter(|e| e.kind == kind::DECISION_UNDONE)
        .filter_map(|e| e.payload.get("undoes").and_then(Value::as_i64))
        .collect()
}

/// Where an event came from.
pub mod source {
    pub const JIRA: &str = "jira";
    pub const GITHUB: &str = "github";
    pub const SNAPSHOT: &str = "snapshot";
    pub const LOCAL: &str = "local";
    pub const GIT: &str = "git";
}

/// An event as it is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: i64,
    pub ticket: Option<String>,
    pub line: Option<String>,
    pub kind: String,
    pub source: String,
    pub actor: Option<String>,
    /// When it happened (tracker time for tracker events, wall clock for decisions).
    pub at: DateTime<Utc>,
    /// When it entered the ledger.
    pub recorded_at: DateTime<Utc>,
    pub meeting: Option<NaiveDate>,
    pub note: Option<String>,
    pub payload: Value,
    pub dedup_key: Option<String>,
    /// SHA-256 over the previous event's hash and this event (see [`event_hash`]).
    pub hash: String,
}

/// An event not yet in the ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub ticket: Option<String>,
    pub line: Option<String>,
    pub kind: &'static str,
    pub source: String,
    pub actor: Option<String>,
    pub at: DateTime<Utc>,
    pub meeting: Option<NaiveDate>,
    pub note: Option<String>,
    pub payload: Value,
    /// Events with the same key are the same fact: the second is not appended.
    pub dedup_key: Option<String>,
}

/// A ticket's fields as last seen in a tracker.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TicketInfo {
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub assignee: Option<String>,
    #[serde(default)]
    pub reporter: Option<String>,
    #[serde(default)]
    pub components: Vec<String>,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub created: Option<DateTime<Utc>>,
    #[serde(default)]
    pub updated: Option<DateTime<Utc>>,
}

/// Everything derived about one ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketDerived {
    pub key: String,
    pub info: TicketInfo,
    /// Per release line.
    pub lines: BTreeMap<String, LineState>,
}

/// A label change as the importer needs it: no payload parsing, no actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelFact {
    pub at: DateTime<Utc>,
    pub seq: i64,
    pub added: bool,
    pub label: String,
}

/// The label set after applying label changes in time order (ties by sequence).
pub fn label_set_after<'a>(facts: impl IntoIterator<Item = &'a LabelFact>) -> BTreeSet<String> {
    let mut sorted: Vec<&LabelFact> = facts.into_iter().collect();
    sorted.sort_by(|a, b| a.at.cmp(&b.at).then(a.seq.cmp(&b.seq)));
    let mut set = BTreeSet::new();
    for f in sorted {
        if f.added {
            set.insert(f.label.clone());
        } else {
            set.remove(&f.label);
        }
    }
    set
}

/// Derive a ticket's state from all its events. Pure: the same events give the same state.
pub fn derive_ticket(policy: &LoadedPolicy, key: &str, events: &[Event]) -> TicketDerived {
    let mut info = TicketInfo::default();
    let mut info_at: Option<(DateTime<Utc>, i64)> = None;

    for e in events {
        if e.kind == kind::TICKET_OBSERVED {
            let stamp = (e.at, e.seq);
            if info_at.is_none_or(|prev| stamp >= prev) {
                if let Ok(i) = serde_json::from_value::<TicketInfo>(e.payload.clone()) {
                    info = i;
                    info_at = Some(stamp);
                }
            }
        }
    }
    let lines = ticket_lines(policy, events);
    let undone = undone_decisions(events);
    let ratified = ratified_decisions(events);

    let mut states = BTreeMap::new();
    for line_name in lines {
        let Some(line) = policy.line(&line_name) else {
            continue;
        };
        let mut actions: Vec<Action> = events
            .iter()
            .filter(|e| !undone.contains(&e.seq))
            .filter_map(|e| counted_action(policy, &line.request_label, &line_name, e, &ratified))
            .collect();
        if actions.is_empty() {
            continue;
        }
        states.insert(line_name, workflow::fold(&mut actions, policy));
    }
    TicketDerived {
        key: key.to_string(),
        info,
        lines: states,
    }
}

/// Which lines a ticket is on: any line whose request label it ever carried or that a decision
/// named. Shared labels (approved, done) apply to those lines; with none known they apply to every
/// line, so that an approval without a request is seen as the violation it is.
pub fn ticket_lines(policy: &LoadedPolicy, events: &[Event]) -> BTreeSet<String> {
    let labels = &policy.policy.labels;
    let mut lines: BTreeSet<String> = BTreeSet::new();
    let mut shared = false;
    for e in events {
        match e.kind.as_str() {
            kind::LABEL_ADDED | kind::LABEL_REMOVED => {
                if let Some(label) = e.payload.get("label").and_then(Value::as_str) {
                    if let Some(line) = policy.line_for_request_label(label) {
                        lines.insert(line.name.clone());
                    } else if label == labels.approved || label == labels.done {
                        shared = true;
                    }
                }
            }
            kind::DECISION => {
                if let Some(line) = &e.line {
                    lines.insert(line.clone());
                }
            }
            kind::BACKPORT_STARTED => {
                if let Some(line) = e.line.as_deref().filter(|l| forced_backport(e, l)) {
                    lines.insert(line.to_string());
                }
            }
            _ => {}
        }
    }
    if shared && lines.is_empty() {
        lines.extend(policy.line_names());
    }
    lines
}

/// A `backport.started` on `line` that `--force` carried out while the ticket was not approved
/// (its payload says `"forced": true`).
fn forced_backport(e: &Event, line: &str) -> bool {
    e.line.as_deref() == Some(line)
        && e.payload.get("forced").and_then(Value::as_bool) == Some(true)
}

/// The trace of every line of a ticket: for each event, what it did on each line.
pub fn trace_ticket(
    policy: &LoadedPolicy,
    events: &[Event],
) -> BTreeMap<String, Vec<workflow::TraceStep>> {
    let mut out = BTreeMap::new();
    let undone = undone_decisions(events);
    let ratified = ratified_decisions(events);
    for name in ticket_lines(policy, events) {
        let Some(line) = policy.line(&name) else {
            continue;
        };
        let mut actions: Vec<Action> = events
            .iter()
            .filter(|e| !undone.contains(&e.seq))
            .filter_map(|e| counted_action(policy, &line.request_label, &line.name, e, &ratified))
            .collect();
        if actions.is_empty() {
            continue;
        }
        out.insert(
            line.name.clone(),
            workflow::fold_traced(&mut actions, policy).1,
        );
    }
    out
}

/// [`to_action`] for the decisions that count: a provisional decision is no action until it is
/// ratified, and then it is one of the ratifying meeting.
fn counted_action(
    policy: &LoadedPolicy,
    request_label: &str,
    line: &str,
    e: &Event,
    ratified: &BTreeMap<i64, Ratification>,
) -> Option<Action> {
    if !decision_counts(e, ratified) {
        return None;
    }
    let mut action = to_action(policy, request_label, line, e)?;
    if let Some(r) = ratified.get(&e.seq) {
        action.meeting = r.date;
    }
    Some(action)
}

/// The action an event means for one line, if any.
fn to_action(policy: &LoadedPolicy, request_label: &str, line: &str, e: &Event) -> Option<Action> {
    let labels = &policy.policy.labels;
    let origin = match e.source.as_str() {
        source::LOCAL => Origin::Local,
        // A decision read from a tracker's decision record was recorded in portcullis too,
        // on the workspace that pushed it.
        _ if e.kind == kind::DECISION => Origin::Local,
        source::SNAPSHOT => Origin::Snapshot,
        _ => Origin::Tracker,
    };
    let kind = match e.kind.as_str() {
        kind::DECISION => {
            if e.line.as_deref() != Some(line) {
                return None;
            }
            let decision = Decision::parse(e.payload.get("decision")?.as_str()?)?;
            ActionKind::Decision { decision }
        }
        kind::LABEL_ADDED | kind::LABEL_REMOVED => {
            let label = e.payload.get("label")?.as_str()?.to_string();
            let role = if label == request_label {
                LabelRole::Request
            } else if label == labels.approved {
                LabelRole::Approved
            } else if label == labels.done {
                LabelRole::Done
            } else {
                return None;
            };
            if e.kind == kind::LABEL_ADDED {
                ActionKind::LabelAdded { role, label }
            } else {
                ActionKind::LabelRemoved { role, label }
            }
        }
        kind::BACKPORT_STARTED if forced_backport(e, line) => ActionKind::ForcedBackport,
        _ => return None,
    };
    let until = e
        .payload
        .get("until")
        .and_then(Value::as_str)
        .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok());
    Some(Action {
        seq: e.seq,
        at: e.at,
        actor: e.actor.clone(),
        origin,
        kind,
        note: e.note.clone(),
        meeting: e.meeting,
        until,
    })
}

pub fn payload_text(v: &Value) -> String {
    // serde_json's map is ordered by key: the text is canonical.
    v.to_string()
}

/// The hash of an event: SHA-256 over the previous hash and the event's canonical form, a JSON
/// array `[seq, ticket, line, kind, source, actor, at, recorded_at, meeting, note, payload, dedup_key]`.
pub fn event_hash(prev: &str, e: &Event) -> String {
    hash_parts(
        prev,
        e,
        &fmt_utc(e.at),
        &fmt_utc(e.recorded_at),
        &payload_text(&e.payload),
    )
}

pub fn hash_parts(prev: &str, e: &Event, at: &str, recorded_at: &str, payload: &str) -> String {
    struct HashWriter(Sha256);
    impl std::io::Write for HashWriter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.update(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let canonical = (
        e.seq,
        &e.ticket,
        &e.line,
        &e.kind,
        &e.source,
        &e.actor,
        at,
        recorded_at,
        e.meeting.map(|d| d.to_string()),
        &e.note,
        payload,
        &e.dedup_key,
    );
    let mut w = HashWriter(Sha256::new());
    w.0.update(prev.as_bytes());
    w.0.update(b"\n");
    // Serialising plain values to an in-memory hasher cannot fail.
    let _ = serde_json::to_writer(&mut w, &canonical);
    hex::encode(w.0.finalize())
}

/// Natural order of ticket keys: `DM-9` before `DM-10`, `daf_butler#9` before `daf_butler#10`.
pub fn key_order(a: &str, b: &str) -> std::cmp::Ordering {
    fn split(k: &str) -> (&str, u64) {
        match k.rsplit_once(['-', '#']) {
            Some((p, n)) => (p, n.parse().unwrap_or(u64::MAX)),
            None => (k, u64::MAX),
        }
    }
    split(a).cmp(&split(b)).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decision(seq: i64, payload: Value) -> Event {
        let at = chrono::DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        Event {
            seq,
            ticket: Some("DM-1".into()),
            line: Some("v23".into()),
            kind: kind::DECISION.into(),
            source: "jira".into(),
            actor: Some("alice".into()),
            at,
            recorded_at: at,
            meeting: NaiveDate::from_ymd_opt(2026, 12, 1),
            note: None,
            payload,
            dedup_key: None,
            hash: String::new(),
        }
    }

    #[test]
    fn a_decision_read_from_its_record_carries_its_ratification() {
        let read = decision(
            7,
            json!({"decision": "approve", "provisional": true,
                   "ratified_in": {"date": "2026-12-08", "sitting": 2}}),
        );
        let waiting = decision(8, json!({"decision": "reject", "provisional": true}));
        let events = [read.clone(), waiting.clone()];
        let r = ratified_decisions(&events);
        assert_eq!(
            r.get(&7),
            Some(&Ratification {
                date: NaiveDate::from_ymd_opt(2026, 12, 8),
                sitting: 2,
                seq: 7
            })
        );
        assert!(decision_counts(&read, &r));
        assert!(!decision_counts(&waiting, &r), "still waiting");
    }
}
