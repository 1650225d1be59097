//! Write-back: the committee's decisions recorded in portcullis, sent to the tracker each ticket
//! lives in (Jira, GitHub) as label edits and a comment each; one loop for every [`Tracker`].
//!
//! - **What is pending**: the latest local `decision` on each ticket and line (its verdict:
//!   approve, reject, defer, needs-info, revoke; a request and a done are their own), with no
//!   `push` event naming it. Earlier unpushed decisions it replaces (pending, or held back by a
//!   conflict) are **superseded**: push writes one comment with the final outcome and records
//!   each of them as `decision.superseded`, so that none is pushed later.
//! - **Plan** (pure, [`plan_push`]): per ticket, the labels the decisions imply (approve adds the
//!   approval label, reject removes the request label, revoke removes approval and done, done adds
//!   the done label, request adds the request label; defer and needs-info change no label), the
//!   last decision on a label winning, and one comment per decision carrying the note, the
//!   meeting date and a marker `[portcullis:<event hash>]`, and as its last line the decision's
//!   record ([`with_records`], [`portcullis_core::record`]: Jira `{noformat}portcullisrecord v1
//!   …{noformat}`, GitHub `<!-- portcullis-record v1 … -->`), signed with the team key when
//!   there is one, from which another workspace's sync records the same decision.
//! - **Safety**: before writing, the ticket is re-read. If a label the decisions write was
//!   changed by someone other than the account pushing, after the latest pending decision or
//!   without the ledger having seen it yet, that is a conflict. So is a ticket whose labels
//!   moved since the decision: the request the decision assumed (its line's request label, in
//!   the ledger when it was decided) is gone, or a label the decisions write differs from what
//!   the ledger knew at the decision (and from what the decision wants), unless the account
//!   pushing changed it. Then nothing is written for the ticket
//!   and the conflict is reported (and kept as a `push.conflict` event). Labels are sent as add/remove operations, only those not already
//!   true; a comment whose marker is already on the ticket is not posted again. So a push that
//!   was interrupted after writing to Jira but before recording it completes without duplicates.
//! - **Another workspace's decision**: the workspaces of a team push with one account, so its
//!   label changes cannot tell them apart. A decision record on the ticket, on a line the plan
//!   writes, that this ledger does not know (neither its own event nor one read back) is a
//!   conflict: sync first. Two pushes at once post their comments first (each record is a claim)
//!   and read the ticket again; the one whose claim came second deletes its comments and writes
//!   no label, so the tracker holds one outcome.
//! - Each pushed decision becomes a `push` event (one transaction per ticket).
//! - Notes go too, each as a comment with its note record (`notes`), after the decisions.
//! - A ticket the tracker does not have (deleted, moved) is recorded as gone (`ticket.gone`,
//!   once), and its decisions stay pending: push reports them and fails.
//!
//! The label edits are only those not already true; the conflict rule, the events and the
//! markers are the same for every tracker. A ticket is GitHub's when its key is
//! `{repository}#{number}` or a sync saw it there; Jira has the rest.
//!
//! What is pending is worked out in `pending`, the comment in `comment`, the safe push of one
//! ticket in `ticket`; the plan and the loop over tickets are here.

mod comment;
mod notes;
mod pending;
mod ticket;

pub use notes::{pending_notes_from, PendingNote};

pub use comment::{comment_body, record_of};
pub use pending::{pending_decisions, pending_from, PendingDecision, PENDING_KINDS};

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::records::{self, RecordTrust};
use crate::tracker::{Account, Tracker};
use crate::Result;
use portcullis_core::policy::LoadedPolicy;
use portcullis_core::record::Form;
use portcullis_core::workflow::Decision;
use portcullis_ledger::Ledger;
use ticket::TicketPush;

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

/// Each plan's comments with the decision record of their decision as their last line, in the
/// tracker's form and signed with the team key when there is one. Pure.
pub fn with_records(
    policy: &LoadedPolicy,
    mut plans: Vec<TicketPlan>,
    form: Form,
    trust: &RecordTrust,
) -> Vec<TicketPlan> {
    for plan in &mut plans {
        for (d, (_, body)) in plan.decisions.iter().zip(plan.comments.iter_mut()) {
            body.push('\n');
            body.push_str(&records::block(&record_of(policy, d), form, trust));
        }
    }
    plans
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
    /// Notes not yet in the tracker, and those written (or found already there) now.
    pub notes_pending: usize,
    pub notes: usize,
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
        self.notes_pending += other.notes_pending;
        self.notes += other.notes;
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
    let plans = with_records(
        policy,
        plan_push(policy, &pending),
        tracker.record_form(),
        tracker.records(),
    );
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
    notes::push_notes(ledger, policy, tracker, me, keys, &mut report).await?;
    Ok(report)
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
    use portcullis_core::event::{kind, source, Event};
    use serde_json::{json, Value};

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
            supersedes: Vec::new(),
            target: None,
            ratified_from: None,
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

    fn ev(seq: i64, kind: &str, line: &str, payload: Value) -> Event {
        let at = portcullis_core::time::parse_utc("2026-11-24T12:00:00Z").unwrap()
            + chrono::Duration::seconds(seq);
        Event {
            seq,
            ticket: Some("DM-1".into()),
            line: Some(line.into()),
            kind: kind.into(),
            source: source::LOCAL.into(),
            actor: Some("mlindqvist".into()),
            at,
            recorded_at: at,
            meeting: None,
            note: None,
            payload,
            dedup_key: None,
            hash: format!("{seq:064x}"),
        }
    }

    fn decided(seq: i64, line: &str, d: &str) -> Event {
        ev(seq, kind::DECISION, line, json!({ "decision": d }))
    }

    #[test]
    fn a_later_decision_on_a_line_supersedes_the_unpushed_ones() {
        let events = vec![
            decided(1, "v23", "reject"),
            decided(2, "v23", "approve"),
            decided(3, "v24", "defer"),
            decided(4, "v23", "done"),
        ];
        let pending = pending_from(&events);
        let got: Vec<(i64, Vec<i64>)> = pending
            .iter()
            .map(|d| (d.seq, d.supersedes.clone()))
            .collect();
        // The approve replaces the reject; the done and the other line's defer are their own.
        assert_eq!(got, vec![(2, vec![1]), (3, vec![]), (4, vec![])]);

        // Once the approve is pushed and the reject recorded superseded, neither is pending;
        // a pushed decision is not listed as superseded by a later one.
        let mut more = events.clone();
        more.push(ev(5, kind::PUSHED, "v23", json!({ "decision_seq": 2 })));
        more.push(ev(
            6,
            kind::DECISION_SUPERSEDED,
            "v23",
            json!({ "decision_seq": 1, "superseded_by": 2 }),
        ));
        more.push(decided(7, "v23", "revoke"));
        let got: Vec<(i64, Vec<i64>)> = pending_from(&more)
            .iter()
            .map(|d| (d.seq, d.supersedes.clone()))
            .collect();
        assert_eq!(got, vec![(3, vec![]), (4, vec![]), (7, vec![])]);

        // A decision taken back leaves the one before it pending.
        let mut undone = events;
        undone.push(ev(8, kind::DECISION_UNDONE, "v23", json!({ "undoes": 2 })));
        let got: Vec<i64> = pending_from(&undone).iter().map(|d| d.seq).collect();
        assert_eq!(got, vec![1, 3, 4]);
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

    #[test]
    fn every_comment_ends_with_the_decisions_record_in_the_trackers_form() {
        let p = policy();
        let trust = RecordTrust {
            writers: vec!["bot".into()],
            key: None,
        };
        let mut x = d(9, Decision::Defer, Some("after the release"));
        x.until = "2026-12-08".parse().ok();
        for (form, starts) in [
            (Form::Jira, "{noformat}portcullisrecord v1 "),
            (Form::Github, "<!-- portcullis-record v1 "),
        ] {
            let plans = with_records(&p, plan_push(&p, std::slice::from_ref(&x)), form, &trust);
            let body = &plans[0].comments[0].1;
            let last = body.lines().last().unwrap();
            assert!(last.starts_with(starts), "{body}");
            assert!(body.contains(&x.marker()), "the marker stays: {body}");
            let blocks = portcullis_core::record::find_blocks(body);
            assert_eq!(blocks.len(), 1);
            let r = portcullis_core::record::check(&blocks[0], "DM-1", "bot", &trust.writers, None)
                .unwrap();
            assert_eq!(r.event, x.hash);
            assert_eq!(r.until, x.until);
            assert_eq!(r.reason.as_deref(), Some("after the release"));
            assert_eq!(
                r.member.as_deref(),
                Some("Mara Lindqvist"),
                "canonical name"
            );
            assert_eq!(
                r.meeting.map(|m| (m.date, m.sitting)),
                Some((x.meeting.unwrap(), 1))
            );
        }
    }

    #[test]
    fn a_ratified_decision_goes_out_as_ratified_with_the_sitting_that_took_it() {
        let mut provisional = decided(1, "v23", "approve");
        provisional.meeting = "2026-11-24".parse().ok();
        provisional.payload = json!({ "decision": "approve", "provisional": true, "sitting": 1,
            "target": { "release": "23.0.3" } });
        let mut ratify = ev(
            2,
            kind::DECISION_RATIFIED,
            "v23",
            json!({ "ratifies": [1], "sitting": 2 }),
        );
        ratify.meeting = "2026-11-24".parse().ok();
        let pending = pending_from(&[provisional.clone(), ratify]);
        assert_eq!(pending.len(), 1);
        let r = record_of(&policy(), &pending[0]);
        assert_eq!(r.standing, portcullis_core::record::Standing::Ratified);
        assert_eq!(
            r.meeting.map(|m| m.sitting),
            Some(2),
            "the ratifying sitting"
        );
        assert_eq!(
            r.provisional_in.map(|m| m.sitting),
            Some(1),
            "the sitting that took it"
        );
        assert_eq!(r.at, provisional.at, "the original time");
        assert_eq!(r.event, provisional.hash);
        assert_eq!(
            r.target,
            Some(portcullis_core::record::Target::Release("23.0.3".into()))
        );
    }
}
