//! The comment that carries a decision to the tracker: what was decided, where, why and by
//! whom, the marker that makes posting it idempotent, and the decision record
//! ([`portcullis_core::record`]) that lets another workspace record the same decision.

use super::pending::PendingDecision;
use portcullis_core::policy::LoadedPolicy;
use portcullis_core::record::{Record, Sitting, Standing};
use portcullis_core::workflow::Decision;

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
        Some(m) => at_meeting(m, d.sitting),
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

/// The decision record of a pending decision: the deciding member by the committee's canonical
/// name (the actor as recorded when not a member: a request or a done), the sitting (for a
/// ratified decision, the ratifying one, and the one that took it), the reason, the target, the
/// ledger event's hash and the original time.
pub fn record_of(policy: &LoadedPolicy, d: &PendingDecision) -> Record {
    let member = d.actor.as_deref().map(|a| member_name(policy, a));
    Record {
        ticket: d.key.clone(),
        kind: d.decision.into(),
        standing: if d.ratified_from.is_some() {
            Standing::Ratified
        } else {
            Standing::Final
        },
        line: Some(d.line.clone()),
        target: d.target.clone(),
        until: d.until,
        member,
        meeting: d.meeting.map(|date| Sitting {
            date,
            sitting: d.sitting,
        }),
        provisional_in: d.ratified_from,
        reason: d.note.clone(),
        event: d.hash.clone(),
        undoes: None,
        at: d.at,
    }
}

/// ` at its meeting of D` (with the sitting after the first), as comments name a meeting.
pub(super) fn at_meeting(date: chrono::NaiveDate, sitting: u32) -> String {
    if sitting > 1 {
        format!(" at its meeting of {date} (sitting {sitting})")
    } else {
        format!(" at its meeting of {date}")
    }
}

/// A committee member's canonical name for whichever alias was recorded; anyone else as is.
pub(super) fn member_name(policy: &LoadedPolicy, actor: &str) -> String {
    policy
        .committee_member(actor)
        .map_or_else(|| actor.to_string(), |m| m.name.clone())
}
