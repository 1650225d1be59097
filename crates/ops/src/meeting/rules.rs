//! The committee's rules beyond a sitting itself: the next meeting day, valid deferrals, which
//! tickets are in a meeting's queue, and ratifying provisional decisions in a quorate sitting.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::json;

use super::{check_attending, no_open_sitting, open_sitting};
use crate::{Error, Result};
use portcullis_core::event::{
    is_provisional, kind, ratified_decisions, source, undone_decisions, Event, NewEvent,
};
use portcullis_core::policy::LoadedPolicy;
use portcullis_core::time::now;
use portcullis_core::workflow::State;
use portcullis_ledger::Ledger;

/// The policy's next meeting day strictly after `date` (the policy's `meeting_day`, Tuesday
/// when it names none).
pub fn next_meeting_date(policy: &LoadedPolicy, date: NaiveDate) -> NaiveDate {
    let day = portcullis_core::policy::weekday(&policy.policy.committee.meeting_day)
        .unwrap_or(chrono::Weekday::Tue);
    let mut d = date + Duration::days(1);
    while chrono::Datelike::weekday(&d) != day {
        d += Duration::days(1);
    }
    d
}

/// Whether a deferral until `until` is valid: strictly after `after` (the sitting's date, or
/// today for an out-of-meeting decision). The same rule for the CLI and the triage screen.
pub fn check_defer_until(until: NaiveDate, after: NaiveDate) -> Result<()> {
    if until <= after {
        return Err(
            Error::input(format!("a deferral must be until a date after {after}"))
                .hint("give a later --until date, or none for the next meeting"),
        );
    }
    Ok(())
}

/// Whether a ticket of a line is in the committee's queue at a meeting of `date`: requested;
/// deferred and due by then; or asked for information before that day (a needs-info decided
/// at this meeting waits for its answer, and is back at the next one). The CLI's
/// `meeting queue` and the triage screen both use it.
pub fn in_queue(
    state: State,
    since: Option<DateTime<Utc>>,
    deferred_until: Option<NaiveDate>,
    date: NaiveDate,
) -> bool {
    match state {
        State::Requested => true,
        State::Deferred => deferred_until.is_none_or(|u| u <= date),
        State::NeedsInfo => since.is_none_or(|s| s.date_naive() < date),
        _ => false,
    }
}

/// The queue of a line at a meeting of `date`, by key (see [`in_queue`]).
pub fn queue(
    ledger: &Ledger,
    line: &str,
    date: NaiveDate,
) -> Result<Vec<portcullis_ledger::queries::LineTicket>> {
    let mut rows =
        ledger.line_tickets(line, &[State::Requested, State::Deferred, State::NeedsInfo])?;
    rows.retain(|t| in_queue(t.state, t.since, t.deferred_until, date));
    Ok(rows)
}

/// The provisional decisions of a line that wait for ratification, in order: recorded below
/// quorum, not taken back, not ratified, and still the ticket's latest decision on the line (a
/// later decision overtook the others; they stay provisional for good).
pub fn awaiting_ratification(events: &[Event], line: &str) -> Vec<Event> {
    let undone = undone_decisions(events);
    let ratified = ratified_decisions(events);
    let standing: Vec<&Event> = events
        .iter()
        .filter(|e| {
            e.kind == kind::DECISION
                && e.source == source::LOCAL
                && e.line.as_deref() == Some(line)
                && !undone.contains(&e.seq)
        })
        .collect();
    standing
        .iter()
        .filter(|e| is_provisional(e) && !ratified.contains_key(&e.seq))
        .filter(|e| {
            !standing
                .iter()
                .any(|later| later.ticket == e.ticket && later.seq > e.seq)
        })
        .map(|e| (*e).clone())
        .collect()
}

/// Ratify, in the line's open sitting, every provisional decision waiting for it: one
/// transaction, one `decision.ratified` event per ticket naming the decisions' sequences. The
/// sitting must be quorate and `actor` must attend. Returns the decisions ratified.
pub fn ratify(
    ledger: &mut Ledger,
    policy: &LoadedPolicy,
    line: &str,
    actor: &str,
) -> Result<Vec<Event>> {
    let m = open_sitting(ledger, line)?.ok_or_else(no_open_sitting(line))?;
    if m.quorate() == Some(false) {
        return Err(Error::input(format!(
            "{} is below quorum ({} of {} attend): it cannot ratify",
            m.name(),
            m.attending().len(),
            m.quorum.unwrap_or(0)
        ))
        .hint("`portcullis meeting join NAME` records a member's arrival"));
    }
    check_attending(policy, &m, actor)?;
    let events = ledger.events_of_kinds(&[
        kind::DECISION,
        kind::DECISION_UNDONE,
        kind::DECISION_RATIFIED,
    ])?;
    let waiting = awaiting_ratification(&events, line);
    let mut by_ticket: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for e in &waiting {
        by_ticket
            .entry(e.ticket.clone().unwrap_or_default())
            .or_default()
            .push(e.seq);
    }
    let at = now();
    let new: Vec<NewEvent> = by_ticket
        .into_iter()
        .map(|(ticket, seqs)| NewEvent {
            ticket: Some(ticket),
            line: Some(line.to_string()),
            kind: kind::DECISION_RATIFIED,
            source: source::LOCAL.into(),
            actor: Some(actor.to_string()),
            at,
            meeting: Some(m.date),
            note: None,
            dedup_key: Some(format!(
                "ratify:{}",
                seqs.iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            )),
            payload: json!({ "ratifies": seqs, "date": m.date.to_string(), "sitting": m.sitting }),
        })
        .collect();
    if !new.is_empty() {
        ledger.append_all(policy, new)?;
    }
    Ok(waiting)
}
