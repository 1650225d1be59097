//! Notes travel too: a note recorded on a ticket (`portcullis note`, or in the triage screen)
//! is written to the ticket as a comment of its own, carrying a note record
//! ([`portcullis_core::record`]) from which another workspace's sync records the same note.
//! A note changes no label and claims nothing, so it is never a conflict; the marker keeps a
//! repeated push from posting it twice, and a `push` event naming `note_seq` records it.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashSet};

use portcullis_core::event::{kind, sitting_of, source, Event, NewEvent};
use portcullis_core::policy::LoadedPolicy;
use portcullis_core::record::{Record, RecordKind, Sitting, Standing};
use portcullis_core::time::now;
use portcullis_ledger::Ledger;

use super::comment::{at_meeting, member_name};
use super::{Outcome, PushItem, PushReport};
use crate::records;
use crate::tracker::{Account, Tracker};
use crate::Result;

/// A local note not yet in the tracker.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingNote {
    pub seq: i64,
    pub hash: String,
    pub key: String,
    pub line: Option<String>,
    pub text: String,
    pub actor: Option<String>,
    pub meeting: Option<NaiveDate>,
    pub sitting: u32,
    pub at: DateTime<Utc>,
}

impl PendingNote {
    /// The marker that identifies this note's comment.
    pub fn marker(&self) -> String {
        format!("[portcullis:{}]", &self.hash[..self.hash.len().min(16)])
    }

    /// The comment: who noted what, where, then the marker and the record.
    pub fn body(&self, policy: &LoadedPolicy, record: &str) -> String {
        let meeting = self
            .meeting
            .map(|m| at_meeting(m, self.sitting))
            .unwrap_or_default();
        let by = self
            .member(policy)
            .map(|a| format!(" by {a}"))
            .unwrap_or_default();
        format!(
            "Backport steering committee{meeting}: note{by} on {}.\n{}\n{}\n{record}",
            self.key,
            self.text,
            self.marker()
        )
    }

    fn member(&self, policy: &LoadedPolicy) -> Option<String> {
        self.actor.as_deref().map(|a| member_name(policy, a))
    }

    /// The note's record.
    pub fn record(&self, policy: &LoadedPolicy) -> Record {
        Record {
            ticket: self.key.clone(),
            kind: RecordKind::Note,
            standing: Standing::Final,
            line: self.line.clone(),
            target: None,
            until: None,
            member: self.member(policy),
            meeting: self.meeting.map(|date| Sitting {
                date,
                sitting: self.sitting,
            }),
            provisional_in: None,
            reason: Some(self.text.clone()),
            event: self.hash.clone(),
            undoes: None,
            at: self.at,
        }
    }
}

/// The local notes with no `push` event naming them, oldest first. Pure.
pub fn pending_notes_from(events: &[Event]) -> Vec<PendingNote> {
    let pushed: HashSet<i64> = events
        .iter()
        .filter(|e| e.kind == kind::PUSHED)
        .filter_map(|e| e.payload.get("note_seq").and_then(Value::as_i64))
        .collect();
    events
        .iter()
        .filter(|e| e.kind == kind::NOTE && e.source == source::LOCAL)
        .filter(|e| !pushed.contains(&e.seq))
        .filter_map(|e| {
            Some(PendingNote {
                seq: e.seq,
                hash: e.hash.clone(),
                key: e.ticket.clone()?,
                line: e.line.clone(),
                text: e.note.clone().filter(|t| !t.trim().is_empty())?,
                actor: e.actor.clone(),
                meeting: e.meeting,
                sitting: sitting_of(e),
                at: e.at,
            })
        })
        .collect()
}

/// Push the pending notes on `tracker`'s tickets (only `keys`, when given) into `report`.
pub(super) async fn push_notes<T: Tracker>(
    ledger: &mut Ledger,
    policy: &LoadedPolicy,
    tracker: &T,
    me: &Account,
    keys: &[String],
    report: &mut PushReport,
) -> Result<()> {
    let mut notes = pending_notes_from(&ledger.events_of_kinds(&[kind::NOTE, kind::PUSHED])?);
    let owned = tracker.own_keys(notes.iter().map(|n| n.key.clone()).collect(), ledger)?;
    let wanted: BTreeSet<&String> = keys.iter().collect();
    notes.retain(|n| owned.contains(&n.key) && (wanted.is_empty() || wanted.contains(&n.key)));
    for n in notes {
        let mut item = PushItem {
            key: n.key.clone(),
            tracker: tracker.source().to_string(),
            decisions: vec![format!("note (#{})", n.seq)],
            add: Vec::new(),
            remove: Vec::new(),
            comments: 1,
            outcome: Outcome::WouldPush,
            detail: None,
        };
        report.notes_pending += 1;
        if report.dry_run {
            report.items.push(item);
            continue;
        }
        let remote = match tracker.remote(&n.key).await? {
            Ok(r) => r,
            Err(missing) => {
                item.outcome = Outcome::Missing;
                item.comments = 0;
                item.detail = Some(missing.reason);
                report.missing += 1;
                report.items.push(item);
                continue;
            }
        };
        let marker = n.marker();
        let mut ids = Vec::new();
        if remote.comments.iter().any(|c| c.body.contains(&marker)) {
            item.outcome = Outcome::AlreadyInTracker;
            item.comments = 0;
        } else {
            let block = records::block(&n.record(policy), tracker.record_form(), tracker.records());
            ids.extend(tracker.comment(&n.key, &n.body(policy, &block)).await?);
            item.outcome = Outcome::Pushed;
        }
        let mut payload = tracker.push_details(&n.key);
        payload.extend([
            ("note_seq".into(), json!(n.seq)),
            ("comment_ids".into(), json!(ids)),
        ]);
        report.new_events += ledger.append_all(
            policy,
            vec![NewEvent {
                ticket: Some(n.key.clone()),
                line: n.line.clone(),
                kind: kind::PUSHED,
                source: tracker.source().into(),
                actor: Some(me.id.clone()),
                at: now(),
                meeting: n.meeting,
                note: None,
                payload: Value::Object(payload),
                dedup_key: Some(format!("push:{}", n.hash)),
            }],
        )?;
        report.notes += 1;
        report.items.push(item);
    }
    Ok(())
}
