//! What is pending: the latest local decision on each ticket and line with no `push` event
//! yet, and the earlier unpushed decisions it supersedes.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::Result;
use portcullis_core::event::{
    decision_counts, kind, ratified_decisions, sitting_of, source, Event, Ratification,
};
use portcullis_core::record::{Sitting, Target};
use portcullis_core::workflow::Decision;
use portcullis_ledger::Ledger;

/// A decision recorded locally and not yet in Jira.
#[derive(Debug, Clone, Serialize)]
pub struct PendingDecision {
    pub seq: i64,
    pub hash: String,
    pub key: String,
    pub line: String,
    pub decision: Decision,
    pub note: Option<String>,
    /// The sitting's date (for a ratified decision, the ratifying sitting's); `None` for a
    /// decision taken outside a meeting.
    pub meeting: Option<NaiveDate>,
    /// The sitting of that date (1 for the day's first).
    pub sitting: u32,
    pub until: Option<NaiveDate>,
    pub actor: Option<String>,
    pub at: DateTime<Utc>,
    /// The earlier unpushed decisions on the same ticket and line that this one replaces
    /// (their sequence numbers, oldest first).
    pub supersedes: Vec<i64>,
    /// What an approval is for (`--for-step`, `--for-release`).
    pub target: Option<Target>,
    /// For a provisional decision ratified since: the sitting that took it (`meeting` and
    /// `sitting` are then the ratifying one's).
    pub ratified_from: Option<Sitting>,
}

impl PendingDecision {
    /// The marker that identifies this decision's comment in Jira.
    pub fn marker(&self) -> String {
        format!("[portcullis:{}]", &self.hash[..self.hash.len().min(16)])
    }
}

/// The event kinds [`pending_from`] reads.
pub const PENDING_KINDS: &[&str] = &[
    kind::DECISION,
    kind::PUSHED,
    kind::DECISION_UNDONE,
    kind::DECISION_SUPERSEDED,
    kind::DECISION_RATIFIED,
];

/// The latest decision on each ticket and line with no `push` event yet, oldest first.
/// Provisional decisions wait until a quorate sitting ratifies them, and are then pushed as
/// decisions of the ratifying sitting.
pub fn pending_decisions(ledger: &Ledger) -> Result<Vec<PendingDecision>> {
    let events = ledger.events_of_kinds(PENDING_KINDS)?;
    Ok(pending_from(&events))
}

/// The sequence numbers that events of `kind` name under `field`.
fn named_by(events: &[Event], kind: &str, field: &str) -> HashSet<i64> {
    events
        .iter()
        .filter(|e| e.kind == kind)
        .filter_map(|e| e.payload.get(field).and_then(Value::as_i64))
        .collect()
}

/// Whether a decision takes part in push at all (a decision taken back, or provisional and
/// not ratified, does not). The one place to add a rule on which decisions reach the tracker.
fn pushable(
    e: &Event,
    undone: &HashSet<i64>,
    superseded: &HashSet<i64>,
    ratified: &BTreeMap<i64, Ratification>,
) -> bool {
    e.kind == kind::DECISION
        && e.source == source::LOCAL
        && !undone.contains(&e.seq)
        && !superseded.contains(&e.seq)
        && decision_counts(e, ratified)
}

/// What a decision replaces: a verdict replaces the earlier verdict on its line; a request
/// and a done replace only an earlier request or done.
fn replaces(d: Decision) -> u8 {
    match d {
        Decision::Request => 1,
        Decision::Done => 2,
        Decision::Approve
        | Decision::Reject
        | Decision::Defer
        | Decision::NeedsInfo
        | Decision::Revoke => 0,
    }
}

/// [`pending_decisions`] from events already read (of [`PENDING_KINDS`], in order).
pub fn pending_from(events: &[Event]) -> Vec<PendingDecision> {
    let pushed = named_by(events, kind::PUSHED, "decision_seq");
    let undone = named_by(events, kind::DECISION_UNDONE, "undoes");
    let superseded = named_by(events, kind::DECISION_SUPERSEDED, "decision_seq");
    let ratified = ratified_decisions(events);
    // The latest decision per ticket, line and verdict, and the unpushed ones before it.
    type Slot = (String, String, u8);
    let mut latest: BTreeMap<Slot, (PendingDecision, Vec<i64>)> = BTreeMap::new();
    for d in events
        .iter()
        .filter(|e| pushable(e, &undone, &superseded, &ratified))
        .cloned()
        .filter_map(|e| {
            // A ratified decision goes out as a decision of the sitting that ratified it.
            let r = ratified.get(&e.seq).copied();
            let mut d = to_pending(e)?;
            if let Some(r) = r {
                d.ratified_from = d.meeting.map(|date| Sitting {
                    date,
                    sitting: d.sitting,
                });
                d.meeting = r.date;
                d.sitting = r.sitting;
            }
            Some(d)
        })
    {
        let slot = (d.key.clone(), d.line.clone(), replaces(d.decision));
        match latest.remove(&slot) {
            Some((before, mut unpushed)) if before.seq < d.seq => {
                if !pushed.contains(&before.seq) {
                    unpushed.push(before.seq);
                }
                latest.insert(slot, (d, unpushed));
            }
            Some((before, mut unpushed)) => {
                if !pushed.contains(&d.seq) {
                    unpushed.push(d.seq);
                    unpushed.sort_unstable();
                }
                latest.insert(slot, (before, unpushed));
            }
            None => {
                latest.insert(slot, (d, Vec::new()));
            }
        }
    }
    let mut out: Vec<PendingDecision> = latest
        .into_values()
        .filter(|(d, _)| !pushed.contains(&d.seq))
        .map(|(d, supersedes)| PendingDecision { supersedes, ..d })
        .collect();
    out.sort_by_key(|d| d.seq);
    out
}

fn to_pending(e: Event) -> Option<PendingDecision> {
    let decision = Decision::parse(e.payload.get("decision")?.as_str()?)?;
    let sitting = sitting_of(&e);
    Some(PendingDecision {
        sitting,
        seq: e.seq,
        hash: e.hash,
        key: e.ticket?,
        line: e.line?,
        decision,
        note: e.note,
        meeting: e.meeting,
        until: e
            .payload
            .get("until")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok()),
        target: e
            .payload
            .get("target")
            .and_then(|t| serde_json::from_value(t.clone()).ok()),
        ratified_from: None,
        actor: e.actor,
        at: e.at,
        supersedes: Vec::new(),
    })
}
