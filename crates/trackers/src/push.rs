//! Write-back: the committee's decisions recorded in portcullis, sent to the tracker each ticket
//! lives in (Jira, GitHub) as label edits and a comment each; one loop for every [`Tracker`].
//!
//! - **What is pending**: every local `decision` event with no `push` event naming it.
//! - **Plan** (pure, [`plan_push`]): per ticket, the labels the decisions imply (approve adds the
//!   approval label, reject removes the request label, revoke removes approval and done, done adds
//!   the done label, request adds the request label; defer and needs-info change no label), the
//!   last decision on a label winning, and one comment per decision carrying the note, the
//!   meeting date and a marker `[portcullis:<event hash>]`.
//! - **Safety**: before writing, the ticket is re-read. If a label the decisions write was
//!   changed by someone other than the account pushing, after the latest pending decision or
//!   without the ledger having seen it yet, that is a conflict: nothing is written for the ticket
//!   and the conflict is reported (and kept as a `push.conflict` event). Labels are sent as add/remove operations, only those not already
//!   true; a comment whose marker is already on the ticket is not posted again. So a push that
//!   was interrupted after writing to Jira but before recording it completes without duplicates.
//! - Each pushed decision becomes a `push` event (one transaction per ticket).
//!
//! The label edits are only those not already true; the conflict rule, the events and the
//! markers are the same for every tracker. A ticket is GitHub's when its key is
//! `{repository}#{number}` or a sync saw it there; Jira has the rest.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use crate::tracker::{Account, Missing, RemoteChange, Tracker};
use crate::Result;
use portcullis_core::event::{
    decision_counts, kind, ratified_decisions, sitting_of, source, Event, NewEvent,
};
use portcullis_core::policy::LoadedPolicy;
use portcullis_core::time::{fmt_utc, now};
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
}

impl PendingDecision {
    /// The marker that identifies this decision's comment in Jira.
    pub fn marker(&self) -> String {
        format!("[portcullis:{}]", &self.hash[..self.hash.len().min(16)])
    }
}

/// What to write to one ticket.
#[derive(Debug, Clone, Serialize)]
pub struct TicketPlan {
    pub key: String,
    pub decisions: Vec<PendingDecision>,
    /// The labels the decisions want present (true) or absent (false).
    pub labels: BTreeMap<String, bool>,
    /// (marker, body) per decision.
    pub comments: Vec<(String, String)>,
}

/// Decisions with no `push` event yet, oldest first. Provisional decisions wait until a quorate
/// sitting ratifies them, and are then pushed as decisions of the ratifying sitting.
pub fn pending_decisions(ledger: &Ledger) -> Result<Vec<PendingDecision>> {
    let events = ledger.events_of_kinds(&[
        kind::DECISION,
        kind::PUSHED,
        kind::DECISION_UNDONE,
        kind::DECISION_RATIFIED,
    ])?;
    Ok(pending_from(&events))
}

/// [`pending_decisions`] from events already read (decisions, pushes, undos and
/// ratifications, in order).
pub fn pending_from(events: &[Event]) -> Vec<PendingDecision> {
    let ratified = ratified_decisions(events);
    // Pushed decisions, and decisions taken back before they were pushed: neither is pending.
    let pushed: HashSet<i64> = events
        .iter()
        .filter(|e| e.kind == kind::PUSHED || e.kind == kind::DECISION_UNDONE)
        .filter_map(|e| {
            e.payload
                .get("decision_seq")
                .or_else(|| e.payload.get("undoes"))
                .and_then(Value::as_i64)
        })
        .collect();
    events
        .iter()
        .filter(|e| e.kind == kind::DECISION && e.source == source::LOCAL)
        .filter(|e| !pushed.contains(&e.seq))
        .filter(|e| decision_counts(e, &ratified))
        .cloned()
        .filter_map(|e| {
            let r = ratified.get(&e.seq).copied();
            let mut d = to_pending(e)?;
            if let Some(r) = r {
                d.meeting = r.date;
                d.sitting = r.sitting;
            }
            Some(d)
        })
        .collect()
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
        actor: e.actor,
        at: e.at,
    })
}

/// The comment that carries a decision to Jira.
pub fn comment_body(policy: &LoadedPolicy, d: &PendingDecision) -> String {
    let branch = policy
        .line(&d.line)
        .map(|l| format!(" ({})", l.branch))
        .unwrap_or_default();
    let what = match d.decision {
        Decision::Request => "requested the backport".to_string(),
        Decision::Approve => "APPROVED the backport".to_string(),
        Decision::Reject => "REJECTED the backport".to_string(),
        Decision::Defer => match d.until {
            Some(u) => format!("DEFERRED the backport until {u}"),
            None => "DEFERRED the backport to a later meeting".to_string(),
        },
        Decision::NeedsInfo => "needs MORE INFORMATION before deciding on the backport".to_string(),
        Decision::Done => "recorded the backport as DONE".to_string(),
        Decision::Revoke => "REVOKED the approval of the backport".to_string(),
    };
    // Only a decision of a meeting names one: no date is ever invented.
    let meeting = match d.meeting {
        Some(m) if d.sitting > 1 => format!(" at its meeting of {m} (sitting {})", d.sitting),
        Some(m) => format!(" at its meeting of {m}"),
        None => " outside a meeting".to_string(),
    };
    let mut s = format!(
        "Backport steering committee{meeting}: {what} of {} to {}{branch}.",
        d.key, d.line
    );
    if let Some(n) = &d.note {
        s.push_str(&format!("\nReason: {n}"));
    }
    if let Some(a) = &d.actor {
        s.push_str(&format!("\nRecorded by {a} in portcullis."));
    }
    s.push_str(&format!("\n{}", d.marker()));
    s
}

/// Group pending decisions per ticket and work out the labels and comments. Pure.
pub fn plan_push(policy: &LoadedPolicy, pending: &[PendingDecision]) -> Vec<TicketPlan> {
    let mut by_key: BTreeMap<String, Vec<PendingDecision>> = BTreeMap::new();
    for d in pending {
        by_key.entry(d.key.clone()).or_default().push(d.clone());
    }
    let labels = &policy.policy.labels;
    by_key
        .into_iter()
        .map(|(key, mut decisions)| {
            decisions.sort_by(|a, b| a.at.cmp(&b.at).then(a.seq.cmp(&b.seq)));
            let mut want: BTreeMap<String, bool> = BTreeMap::new();
            for d in &decisions {
                let request = policy.line(&d.line).map(|l| l.request_label.clone());
                let mut set = |l: &str, present: bool| {
                    want.insert(l.to_string(), present);
                };
                match d.decision {
                    Decision::Request => {
                        if let Some(r) = &request {
                            set(r, true);
                        }
                    }
                    Decision::Approve => set(&labels.approved, true),
                    Decision::Reject => {
                        if let Some(r) = &request {
                            set(r, false);
                        }
                        set(&labels.approved, false);
                    }
                    Decision::Revoke => {
                        set(&labels.approved, false);
                        set(&labels.done, false);
                    }
                    Decision::Done => set(&labels.done, true),
                    Decision::Defer | Decision::NeedsInfo => {}
                }
            }
            let comments = decisions
                .iter()
                .map(|d| (d.marker(), comment_body(policy, d)))
                .collect();
            TicketPlan {
                key,
                decisions,
                labels: want,
                comments,
            }
        })
        .collect()
}

/// What happened to one ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Dry run: this would be written.
    WouldPush,
    Pushed,
    /// Everything was already in the tracker (an earlier push was interrupted); now recorded.
    AlreadyInTracker,
    /// Labels changed in the tracker since the decision: nothing written.
    Conflict,
    /// The ticket cannot be written (deleted, moved, not reachable from this workspace).
    Missing,
}

/// One ticket's push.
#[derive(Debug, Clone, Serialize)]
pub struct PushItem {
    pub key: String,
    /// `jira` or `github`.
    pub tracker: String,
    pub decisions: Vec<String>,
    pub add: Vec<String>,
    pub remove: Vec<String>,
    pub comments: usize,
    pub outcome: Outcome,
    pub detail: Option<String>,
}

/// What `push` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PushReport {
    pub dry_run: bool,
    pub pending: usize,
    pub pushed: usize,
    pub conflicts: usize,
    pub missing: usize,
    pub new_events: u64,
    pub items: Vec<PushItem>,
}

impl PushReport {
    /// Both reports as one (Jira's and GitHub's pushes of one command).
    pub fn merge(&mut self, other: PushReport) {
        self.pending += other.pending;
        self.pushed += other.pushed;
        self.conflicts += other.conflicts;
        self.missing += other.missing;
        self.new_events += other.new_events;
        self.items.extend(other.items);
    }
}

/// The pending decisions on tickets of `tracker` (only `keys`, when given).
pub fn pending_for<T: Tracker>(
    ledger: &Ledger,
    tracker: &T,
    keys: &[String],
) -> Result<Vec<PendingDecision>> {
    let mut pending = pending_decisions(ledger)?;
    let owned = tracker.own_keys(pending.iter().map(|d| d.key.clone()).collect(), ledger)?;
    pending.retain(|d| owned.contains(&d.key));
    if !keys.is_empty() {
        let wanted: BTreeSet<&String> = keys.iter().collect();
        pending.retain(|d| wanted.contains(&d.key));
    }
    Ok(pending)
}

/// Push the pending decisions on `tracker`'s tickets (or, with `dry_run`, say what would be
/// pushed), as the account `me`.
pub async fn push<T: Tracker>(
    ledger: &mut Ledger,
    policy: &LoadedPolicy,
    tracker: &T,
    me: &Account,
    keys: &[String],
    dry_run: bool,
) -> Result<PushReport> {
    let pending = pending_for(ledger, tracker, keys)?;
    let plans = plan_push(policy, &pending);
    let mut report = PushReport {
        dry_run,
        pending: pending.len(),
        ..Default::default()
    };
    for plan in plans {
        let mut one = TicketPush {
            ledger: &mut *ledger,
            policy,
            tracker,
            me,
            plan: &plan,
            dry_run,
        };
        let (item, new_events) = one.run().await?;
        report.new_events += new_events;
        match item.outcome {
            Outcome::Pushed | Outcome::AlreadyInTracker => report.pushed += plan.decisions.len(),
            Outcome::Conflict => report.conflicts += 1,
            Outcome::Missing => report.missing += 1,
            Outcome::WouldPush => {}
        }
        report.items.push(item);
    }
    Ok(report)
}

/// One ticket's push in progress.
struct TicketPush<'a, T: Tracker> {
    ledger: &'a mut Ledger,
    policy: &'a LoadedPolicy,
    tracker: &'a T,
    me: &'a Account,
    plan: &'a TicketPlan,
    dry_run: bool,
}

impl<T: Tracker> TicketPush<'_, T> {
    /// Re-read the ticket, check for conflicts, write what is not already true, record it.
    /// Returns the item and the number of events recorded.
    async fn run(&mut self) -> Result<(PushItem, u64)> {
        let plan = self.plan;
        let mut item = PushItem {
            key: plan.key.clone(),
            tracker: self.tracker.source().to_string(),
            decisions: plan
                .decisions
                .iter()
                .map(|d| format!("{} {} (#{})", d.decision, d.line, d.seq))
                .collect(),
            add: Vec::new(),
            remove: Vec::new(),
            comments: 0,
            outcome: Outcome::WouldPush,
            detail: None,
        };
        let remote = match self.tracker.remote(&plan.key).await? {
            Ok(r) => r,
            Err(Missing(why)) => {
                item.outcome = Outcome::Missing;
                item.detail = Some(why);
                return Ok((item, 0));
            }
        };
        let foreign = self.foreign(&remote.changes)?;
        if !foreign.is_empty() {
            return self.conflict(item, &foreign);
        }
        // Only what is not already true in the tracker.
        for (label, present) in &plan.labels {
            match (present, remote.labels.contains(label)) {
                (true, false) => item.add.push(label.clone()),
                (false, true) => item.remove.push(label.clone()),
                _ => {}
            }
        }
        let to_post: Vec<&(String, String)> = plan
            .comments
            .iter()
            .filter(|(marker, _)| !remote.comments.iter().any(|c| c.contains(marker.as_str())))
            .collect();
        item.comments = to_post.len();
        if self.dry_run {
            return Ok((item, 0));
        }
        self.tracker
            .set_labels(&plan.key, &item.add, &item.remove)
            .await?;
        let mut posted = 0;
        for (_, body) in &to_post {
            self.tracker.comment(&plan.key, body).await?;
            posted += 1;
        }
        item.outcome = if item.add.is_empty() && item.remove.is_empty() && to_post.is_empty() {
            Outcome::AlreadyInTracker
        } else {
            Outcome::Pushed
        };
        let already = item.outcome == Outcome::AlreadyInTracker;
        let events = plan.decisions.iter().map(|d| {
            let mut payload = self.tracker.push_details(&plan.key);
            payload.extend([
                ("decision_seq".into(), json!(d.seq)),
                ("decision".into(), json!(d.decision.as_str())),
                ("added".into(), json!(item.add)),
                ("removed".into(), json!(item.remove)),
                ("comments_posted".into(), json!(posted)),
                ("already_in_tracker".into(), json!(already)),
            ]);
            self.event(
                d,
                kind::PUSHED,
                Value::Object(payload),
                format!("push:{}", d.hash),
            )
        });
        let events: Vec<NewEvent> = events.collect();
        let n = self.ledger.append_all(self.policy, events)?;
        Ok((item, n))
    }

    /// The changes to labels the plan writes, made by someone else after the latest pending
    /// decision, or not yet seen by the ledger.
    fn foreign(&self, changes: &[RemoteChange]) -> Result<Vec<RemoteChange>> {
        let latest = self
            .plan
            .decisions
            .iter()
            .map(|d| d.at)
            .max()
            .unwrap_or_else(now);
        let seen: HashSet<String> = self
            .ledger
            .events_for_ticket(&self.plan.key)?
            .into_iter()
            .filter_map(|e| e.dedup_key)
            .collect();
        let relevant = |l: &String| self.plan.labels.contains_key(l);
        Ok(changes
            .iter()
            .filter(|c| !c.actor.eq_ignore_ascii_case(&self.me.id))
            .filter(|c| c.at > latest || c.ledger_keys.iter().any(|k| !seen.contains(k)))
            .filter_map(|c| {
                let added: Vec<String> = c.added.iter().filter(|l| relevant(l)).cloned().collect();
                let removed: Vec<String> =
                    c.removed.iter().filter(|l| relevant(l)).cloned().collect();
                (!added.is_empty() || !removed.is_empty()).then(|| RemoteChange {
                    added,
                    removed,
                    ..c.clone()
                })
            })
            .collect())
    }

    /// Report and record a conflict: nothing is written to the tracker.
    fn conflict(
        &mut self,
        mut item: PushItem,
        foreign: &[RemoteChange],
    ) -> Result<(PushItem, u64)> {
        item.outcome = Outcome::Conflict;
        let what: Vec<String> = foreign
            .iter()
            .map(|f| {
                let mut parts: Vec<String> = f.added.iter().map(|l| format!("+{l}")).collect();
                parts.extend(f.removed.iter().map(|l| format!("-{l}")));
                let who = if f.actor.is_empty() {
                    "someone"
                } else {
                    &f.actor
                };
                format!("{} by {who} at {}", parts.join(" "), fmt_utc(f.at))
            })
            .collect();
        item.detail = Some(format!(
            "labels changed in {} after the decision or since the last sync: {}; nothing was written. Sync, review, and decide again to push",
            tracker_name(self.tracker.source()),
            what.join("; ")
        ));
        if self.dry_run {
            return Ok((item, 0));
        }
        let mut events = Vec::new();
        for d in &self.plan.decisions {
            for f in foreign {
                let mut payload = self.tracker.push_details(&self.plan.key);
                payload.extend([
                    ("decision_seq".into(), json!(d.seq)),
                    ("change".into(), json!(f.id)),
                    ("changed_by".into(), json!(f.actor)),
                    ("changed_at".into(), json!(fmt_utc(f.at))),
                    ("added".into(), json!(f.added)),
                    ("removed".into(), json!(f.removed)),
                ]);
                let key = self.tracker.conflict_key(&d.hash, f);
                events.push(self.event(d, kind::PUSH_CONFLICT, Value::Object(payload), key));
            }
        }
        let n = self.ledger.append_all(self.policy, events)?;
        Ok((item, n))
    }

    /// The ledger event for what push did about one decision, from the tracker.
    fn event(
        &self,
        d: &PendingDecision,
        kind: &'static str,
        payload: Value,
        dedup_key: String,
    ) -> NewEvent {
        NewEvent {
            ticket: Some(self.plan.key.clone()),
            line: Some(d.line.clone()),
            kind,
            source: self.tracker.source().into(),
            actor: Some(self.me.id.clone()),
            at: now(),
            meeting: d.meeting,
            note: None,
            payload,
            dedup_key: Some(dedup_key),
        }
    }
}

/// How messages name a tracker source.
pub fn tracker_name(source: &str) -> &'static str {
    match source {
        "github" => "GitHub",
        _ => "Jira",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> LoadedPolicy {
        portcullis_core::policy::Policy::from_toml("v23.toml", portcullis_core::policy::BUILTIN_V23)
            .unwrap()
    }

    fn d(seq: i64, decision: Decision, note: Option<&str>) -> PendingDecision {
        PendingDecision {
            seq,
            hash: format!("{seq:064x}"),
            key: "DM-1".into(),
            line: "v23".into(),
            decision,
            note: note.map(str::to_string),
            meeting: "2026-11-24".parse().ok(),
            sitting: 1,
            until: None,
            actor: Some("mlindqvist".into()),
            at: portcullis_core::time::parse_utc("2026-11-24T12:00:00Z").unwrap()
                + chrono::Duration::seconds(seq),
        }
    }

    #[test]
    fn decisions_become_label_wishes_last_one_winning() {
        let p = policy();
        let plan = plan_push(&p, &[d(1, Decision::Approve, None)]);
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].labels.get("backport-approved"), Some(&true));
        let plan = plan_push(
            &p,
            &[
                d(1, Decision::Approve, None),
                d(2, Decision::Revoke, Some("wrong ticket")),
            ],
        );
        assert_eq!(plan[0].labels.get("backport-approved"), Some(&false));
        assert_eq!(plan[0].comments.len(), 2);
        let plan = plan_push(&p, &[d(3, Decision::Reject, Some("too risky"))]);
        assert_eq!(plan[0].labels.get("backport-v23"), Some(&false));
        let plan = plan_push(&p, &[d(4, Decision::Defer, None)]);
        assert!(plan[0].labels.is_empty());
    }

    #[test]
    fn comments_carry_reason_meeting_and_marker() {
        let p = policy();
        let x = d(7, Decision::Reject, Some("not needed for DP0.2"));
        let body = comment_body(&p, &x);
        assert!(body.contains("REJECTED"), "{body}");
        assert!(body.contains("not needed for DP0.2"));
        assert!(body.contains("2026-11-24"));
        assert!(body.contains(&x.marker()));
    }

    #[test]
    fn comments_name_the_sitting_after_the_first_and_never_invent_a_meeting() {
        let p = policy();
        let mut x = d(8, Decision::Approve, None);
        x.sitting = 2;
        let body = comment_body(&p, &x);
        assert!(
            body.contains("at its meeting of 2026-11-24 (sitting 2)"),
            "{body}"
        );
        x.meeting = None;
        let body = comment_body(&p, &x);
        assert!(body.contains("outside a meeting"), "{body}");
        assert!(!body.contains("at its meeting"), "{body}");
    }
}
