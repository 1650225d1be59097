//! The comment that carries a decision to the tracker: what was decided, where, why and by
//! whom, and the marker that makes posting it idempotent.

use super::pending::PendingDecision;
use portcullis_core::policy::LoadedPolicy;
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
