//! Tests of the request state machine and its transition table.

use super::*;
use chrono::TimeZone;

struct Members(&'static [&'static str]);
impl Committee for Members {
    fn is_member(&self, actor: &str) -> bool {
        self.0.contains(&actor)
    }
}
const C: Members = Members(&["alice", "bob"]);

fn at(n: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_640_000_000 + n * 3600, 0).unwrap()
}
fn decide(seq: i64, d: Decision, actor: &str) -> Action {
    Action {
        seq,
        at: at(seq),
        actor: Some(actor.into()),
        origin: Origin::Local,
        kind: ActionKind::Decision { decision: d },
        note: Some(format!("note {seq}")),
        meeting: None,
        until: None,
    }
}
fn label(seq: i64, added: bool, role: LabelRole, actor: &str) -> Action {
    let label = match role {
        LabelRole::Request => "backport-v23",
        LabelRole::Approved => "backport-approved",
        LabelRole::Done => "backport-done",
    }
    .to_string();
    Action {
        seq,
        at: at(seq),
        actor: Some(actor.into()),
        origin: Origin::Tracker,
        kind: if added {
            ActionKind::LabelAdded { role, label }
        } else {
            ActionKind::LabelRemoved { role, label }
        },
        note: None,
        meeting: None,
        until: None,
    }
}
fn run(actions: Vec<Action>) -> LineState {
    let mut actions = actions;
    fold(&mut actions, &C)
}
fn kinds(st: &LineState) -> Vec<ViolationKind> {
    st.violations.iter().map(|v| v.kind).collect()
}

/// Every (state, decision) pair of the table, checked against the expected outcome.
#[test]
fn transition_table() {
    use Decision as D;
    use State as S;
    use ViolationKind as V;
    let cases: &[(S, D, S, &[V])] = &[
        (S::None, D::Request, S::Requested, &[]),
        (S::Rejected, D::Request, S::Requested, &[]),
        (S::Withdrawn, D::Request, S::Requested, &[]),
        (S::Requested, D::Request, S::Requested, &[]),
        (S::Approved, D::Request, S::Approved, &[]),
        (S::Requested, D::Approve, S::Approved, &[]),
        (S::Deferred, D::Approve, S::Approved, &[]),
        (S::NeedsInfo, D::Approve, S::Approved, &[]),
        (
            S::None,
            D::Approve,
            S::Approved,
            &[V::ApproveWithoutRequest],
        ),
        (
            S::Rejected,
            D::Approve,
            S::Approved,
            &[V::ApproveWithoutRequest],
        ),
        (
            S::Withdrawn,
            D::Approve,
            S::Approved,
            &[V::ApproveWithoutRequest],
        ),
        (S::Approved, D::Approve, S::Approved, &[]),
        (S::Done, D::Approve, S::Done, &[]),
        (S::Requested, D::Reject, S::Rejected, &[]),
        (S::Approved, D::Reject, S::Rejected, &[]),
        (S::Withdrawn, D::Reject, S::Rejected, &[]),
        (S::None, D::Reject, S::None, &[V::DecisionWithoutRequest]),
        (S::Done, D::Reject, S::Done, &[V::InvalidTransition]),
        (S::Requested, D::Defer, S::Deferred, &[]),
        (S::NeedsInfo, D::Defer, S::Deferred, &[]),
        (S::None, D::Defer, S::None, &[V::DecisionWithoutRequest]),
        (S::Approved, D::Defer, S::Approved, &[V::InvalidTransition]),
        (S::Requested, D::NeedsInfo, S::NeedsInfo, &[]),
        (S::Deferred, D::NeedsInfo, S::NeedsInfo, &[]),
        (
            S::Rejected,
            D::NeedsInfo,
            S::Rejected,
            &[V::DecisionWithoutRequest],
        ),
        (S::Approved, D::Done, S::Done, &[]),
        (S::Requested, D::Done, S::Done, &[V::DoneWithoutApproval]),
        (S::None, D::Done, S::Done, &[V::DoneWithoutApproval]),
        (S::Approved, D::Revoke, S::Requested, &[]),
        (S::Done, D::Revoke, S::Requested, &[]),
        (
            S::Requested,
            D::Revoke,
            S::Requested,
            &[V::InvalidTransition],
        ),
    ];
    for (from, d, to, vs) in cases {
        let c = check(*from, *d, Some("alice"), &C);
        assert_eq!(c.to, *to, "{from} --{d}--> expected {to}, got {}", c.to);
        let got: Vec<V> = c.violations.iter().map(|x| x.0).collect();
        assert_eq!(&got, vs, "{from} --{d}-->");
    }
}

#[test]
fn names_round_trip() {
    for k in ViolationKind::ALL {
        assert_eq!(ViolationKind::parse(k.as_str()), Some(k));
        assert_eq!(
            serde_json::to_value(k).unwrap(),
            k.as_str(),
            "serde and as_str agree"
        );
    }
    for d in Decision::ALL {
        assert_eq!(Decision::parse(d.as_str()), Some(d));
        assert_eq!(serde_json::to_value(d).unwrap(), d.as_str());
    }
    for s in State::ALL {
        assert_eq!(State::parse(s.as_str()), Some(s));
        assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
    }
}

#[test]
fn happy_path_through_labels() {
    let st = run(vec![
        label(1, true, LabelRole::Request, "dev"),
        label(2, true, LabelRole::Approved, "alice"),
        label(3, true, LabelRole::Done, "dev"),
    ]);
    assert_eq!(st.state, State::Done);
    assert_eq!(st.requested_by.as_deref(), Some("dev"));
    assert_eq!(st.approved_by.as_deref(), Some("alice"));
    assert!(st.violations.is_empty());
}

#[test]
fn approval_by_non_member_is_a_violation_but_happens() {
    let st = run(vec![
        label(1, true, LabelRole::Request, "dev"),
        label(2, true, LabelRole::Approved, "mallory"),
    ]);
    assert_eq!(st.state, State::Approved);
    assert_eq!(kinds(&st), vec![ViolationKind::ApprovedByNonMember]);
    assert_eq!(
        st.violations[0].seq, 2,
        "evidence points at the label event"
    );
}

#[test]
fn non_member_reject_defer_revoke_are_violations() {
    for d in [Decision::Reject, Decision::Defer, Decision::NeedsInfo] {
        let st = run(vec![
            label(1, true, LabelRole::Request, "dev"),
            decide(2, d, "mallory"),
        ]);
        assert_eq!(kinds(&st), vec![ViolationKind::DecidedByNonMember], "{d}");
    }
    let st = run(vec![
        label(1, true, LabelRole::Request, "dev"),
        decide(2, Decision::Approve, "alice"),
        decide(3, Decision::Revoke, "mallory"),
    ]);
    assert_eq!(st.state, State::Requested);
    assert_eq!(kinds(&st), vec![ViolationKind::DecidedByNonMember]);
}

#[test]
fn removed_request_label_without_decision_is_withdrawn_unrecorded() {
    let st = run(vec![
        label(1, true, LabelRole::Request, "dev"),
        label(2, false, LabelRole::Request, "carol"),
    ]);
    assert_eq!(st.state, State::Withdrawn);
    assert_eq!(
        st.state.describe(),
        "request withdrawn or rejected: unrecorded"
    );
    assert_eq!(kinds(&st), vec![ViolationKind::UnrecordedRemoval]);
    assert_eq!(st.violations[0].resolved_by, None);
}

#[test]
fn recorded_rejection_then_label_removal_is_clean() {
    let st = run(vec![
        label(1, true, LabelRole::Request, "dev"),
        decide(2, Decision::Reject, "bob"),
        label(3, false, LabelRole::Request, "portcullis-bot"),
    ]);
    assert_eq!(st.state, State::Rejected);
    assert!(st.violations.is_empty());
    assert_eq!(st.last_note.as_deref(), Some("note 2"));
}

#[test]
fn later_decision_settles_unrecorded_removal() {
    let st = run(vec![
        label(1, true, LabelRole::Request, "dev"),
        label(2, false, LabelRole::Request, "carol"),
        decide(3, Decision::Reject, "alice"),
    ]);
    assert_eq!(st.state, State::Rejected);
    assert_eq!(st.violations.len(), 1, "the evidence is kept");
    assert_eq!(st.violations[0].resolved_by, Some(3));
}

#[test]
fn re_request_after_rejection_counts() {
    let st = run(vec![
        label(1, true, LabelRole::Request, "dev"),
        decide(2, Decision::Reject, "alice"),
        label(3, false, LabelRole::Request, "bot"),
        label(4, true, LabelRole::Request, "dev2"),
    ]);
    assert_eq!(st.state, State::Requested);
    assert_eq!(st.request_count, 2);
    assert_eq!(st.requested_by.as_deref(), Some("dev2"));
}

#[test]
fn done_without_approval_and_approve_without_request() {
    let st = run(vec![
        label(1, true, LabelRole::Request, "dev"),
        label(2, true, LabelRole::Done, "dev"),
    ]);
    assert_eq!(st.state, State::Done);
    assert_eq!(kinds(&st), vec![ViolationKind::DoneWithoutApproval]);
    let st = run(vec![label(1, true, LabelRole::Approved, "alice")]);
    assert_eq!(st.state, State::Approved);
    assert_eq!(kinds(&st), vec![ViolationKind::ApproveWithoutRequest]);
}

#[test]
fn approval_label_removed_returns_to_queue_with_violation() {
    let st = run(vec![
        label(1, true, LabelRole::Request, "dev"),
        label(2, true, LabelRole::Approved, "alice"),
        label(3, false, LabelRole::Approved, "dev"),
    ]);
    assert_eq!(st.state, State::Requested);
    assert_eq!(st.approved_by, None);
    assert_eq!(kinds(&st), vec![ViolationKind::UnrecordedRemoval]);
    let st = run(vec![
        label(1, true, LabelRole::Request, "dev"),
        label(2, true, LabelRole::Approved, "alice"),
        label(3, true, LabelRole::Done, "dev"),
        label(4, false, LabelRole::Done, "dev"),
    ]);
    assert_eq!(st.state, State::Approved);
    assert_eq!(kinds(&st), vec![ViolationKind::UnrecordedRemoval]);
}

#[test]
fn revoke_returns_to_requested_and_pushed_label_removal_is_clean() {
    let st = run(vec![
        label(1, true, LabelRole::Request, "dev"),
        decide(2, Decision::Approve, "alice"),
        label(3, true, LabelRole::Approved, "bot"),
        decide(4, Decision::Revoke, "bob"),
        label(5, false, LabelRole::Approved, "bot"),
    ]);
    assert_eq!(st.state, State::Requested);
    assert!(st.violations.is_empty(), "{:?}", st.violations);
}

#[test]
fn defer_records_until_and_clears_it_on_approval() {
    let mut d = decide(2, Decision::Defer, "alice");
    d.until = NaiveDate::from_ymd_opt(2022, 3, 1);
    let st = run(vec![label(1, true, LabelRole::Request, "dev"), d.clone()]);
    assert_eq!(st.state, State::Deferred);
    assert_eq!(st.deferred_until, NaiveDate::from_ymd_opt(2022, 3, 1));
    let st = run(vec![
        label(1, true, LabelRole::Request, "dev"),
        d,
        decide(3, Decision::Approve, "bob"),
    ]);
    assert_eq!(st.state, State::Approved);
    assert_eq!(st.deferred_until, None);
}

#[test]
fn order_is_by_time_then_sequence() {
    // The decision was recorded (seq 5) before the label change was synced (seq 9),
    // but the label change happened first.
    let mut early = label(9, true, LabelRole::Request, "dev");
    early.at = at(1);
    let st = run(vec![decide(5, Decision::Approve, "alice"), early]);
    assert_eq!(st.state, State::Approved);
    assert!(st.violations.is_empty());
}

#[test]
fn snapshot_actions_skip_the_committee_check() {
    let mut a = label(2, true, LabelRole::Approved, "x");
    a.actor = None;
    a.origin = Origin::Snapshot;
    let st = run(vec![label(1, true, LabelRole::Request, "dev"), a]);
    assert_eq!(st.state, State::Approved);
    assert!(st.violations.is_empty());
}

/// `backport --force` on a requested ticket: a violation with its evidence, the state and its
/// last event untouched; the committee's later approval settles it.
#[test]
fn forced_backport_is_a_violation_and_changes_no_state() {
    let forced = Action {
        seq: 2,
        at: at(2),
        actor: Some("dev".into()),
        origin: Origin::Local,
        kind: ActionKind::ForcedBackport,
        note: Some("needed for the coadd run".into()),
        meeting: None,
        until: None,
    };
    let before = run(vec![label(1, true, LabelRole::Request, "dev")]);
    let st = run(vec![
        label(1, true, LabelRole::Request, "dev"),
        forced.clone(),
    ]);
    assert_eq!(st.state, State::Requested);
    assert_eq!(st.since, before.since);
    assert_eq!(st.last_seq, before.last_seq);
    assert_eq!(kinds(&st), vec![ViolationKind::BackportUnapproved]);
    assert_eq!(st.violations[0].seq, 2);
    assert!(
        st.violations[0].message.contains("dev while requested"),
        "{}",
        st.violations[0].message
    );
    assert_eq!(st.violations[0].resolved_by, None);
    let st = run(vec![
        label(1, true, LabelRole::Request, "dev"),
        forced,
        decide(3, Decision::Approve, "alice"),
    ]);
    assert_eq!(st.state, State::Approved);
    assert_eq!(st.violations[0].resolved_by, Some(3));
}
