//! `backport.*` events are records of work on git, not decisions: they never change what a
//! ticket's state is derived to be.

use chrono::DateTime;
use serde_json::{json, Value};

use portcullis_core::event::{derive_ticket, kind, source, Event};
use portcullis_core::policy::{Policy, BUILTIN_V23};
use portcullis_core::workflow::State;

fn ev(seq: i64, kind: &str, actor: &str, payload: Value) -> Event {
    let at = DateTime::from_timestamp(1_640_000_000 + seq * 60, 0).unwrap();
    Event {
        seq,
        ticket: Some("DM-1".into()),
        line: Some("v23".into()),
        kind: kind.into(),
        source: if kind.starts_with("label") {
            source::JIRA.into()
        } else {
            source::LOCAL.into()
        },
        actor: Some(actor.into()),
        at,
        recorded_at: at,
        meeting: None,
        note: Some("why".into()),
        payload,
        dedup_key: None,
        hash: String::new(),
    }
}

#[test]
fn backport_events_do_not_change_a_tickets_derived_state() {
    let policy = Policy::from_toml("v23.toml", BUILTIN_V23).unwrap();
    let mut events = vec![
        ev(
            1,
            kind::LABEL_ADDED,
            "dev",
            json!({"label": "backport-v23"}),
        ),
        ev(
            2,
            kind::LABEL_ADDED,
            "dev",
            json!({"label": "backport-approved"}),
        ),
    ];
    let before = derive_ticket(&policy, "DM-1", &events);
    for (i, k) in kind::BACKPORT.iter().enumerate() {
        // Payloads that look like a decision's must not be read as one.
        events.push(ev(
            3 + i as i64,
            k,
            "dev",
            json!({"repo": "pkg", "forced": true, "decision": "revoke"}),
        ));
    }
    let after = derive_ticket(&policy, "DM-1", &events);
    assert_eq!(before, after);
    assert_eq!(after.lines["v23"].state, State::Approved);
}

/// A `backport.started` that `--force` let through on a ticket that is only requested: a
/// `backport_unapproved` violation on its line, and the same state.
#[test]
fn a_forced_backport_of_a_requested_ticket_is_a_violation_only() {
    let policy = Policy::from_toml("v23.toml", BUILTIN_V23).unwrap();
    let mut events = vec![ev(
        1,
        kind::LABEL_ADDED,
        "dev",
        json!({"label": "backport-v23"}),
    )];
    let before = derive_ticket(&policy, "DM-1", &events);
    events.push(ev(
        2,
        kind::BACKPORT_STARTED,
        "dev",
        json!({"branch": "tickets/DM-1-v23", "forced": true, "state": "requested"}),
    ));
    let after = derive_ticket(&policy, "DM-1", &events);
    let (b, a) = (&before.lines["v23"], &after.lines["v23"]);
    assert_eq!(a.state, State::Requested);
    assert_eq!((a.since, a.last_seq), (b.since, b.last_seq));
    assert_eq!(a.violations.len(), b.violations.len() + 1);
    let v = a.violations.last().unwrap();
    assert_eq!(v.kind.as_str(), "backport_unapproved");
    assert_eq!(v.seq, 2);
    // Without `forced`, a backport (of an approved ticket) is no violation.
    events[1].payload = json!({"branch": "tickets/DM-1-v23"});
    assert_eq!(derive_ticket(&policy, "DM-1", &events), before);
}
