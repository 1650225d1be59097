//! `decide`: recording a committee decision under the meeting rule, and the checks it runs
//! first (the target of an approval, the sitting, the policy's transitions).

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::json;

use crate::{meeting, release, Error, Result};
use portcullis_core::event::{derive_ticket, kind, source, NewEvent};
use portcullis_core::policy::LoadedPolicy;
use portcullis_core::time::now;
use portcullis_core::workflow::{check, Decision, State};
use portcullis_ledger::Ledger;

/// A decision to record.
#[derive(Debug, Clone)]
pub struct DecideRequest {
    pub key: String,
    pub line: Option<String>,
    pub decision: Decision,
    pub note: Option<String>,
    pub actor: String,
    pub meeting: Option<NaiveDate>,
    pub until: Option<NaiveDate>,
    /// Record it even if the policy forbids it (it is then kept as a violation).
    pub force: bool,
    /// With `approve`: the step (`Step`) or patch release (`Release`) the fix is approved for;
    /// by default the next patch release of the line.
    pub target: Option<Target>,
}

/// What an approval is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Step(String),
    Release(String),
}

impl std::fmt::Display for Target {
    /// `step coadd`, `release 23.0.3`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Step(s) => write!(f, "step {s}"),
            Target::Release(r) => write!(f, "release {r}"),
        }
    }
}

/// What recording a decision did.
#[derive(Debug, Clone, Serialize)]
pub struct DecideOutcome {
    pub key: String,
    pub line: String,
    pub decision: Decision,
    pub seq: i64,
    pub from: State,
    pub to: State,
    /// The sitting's date; `None` for an out-of-meeting decision.
    pub meeting: Option<NaiveDate>,
    /// The sitting it belongs to (with `meeting`).
    pub sitting: Option<u32>,
    /// Recorded while no sitting of the line was open (final, marked so everywhere).
    pub out_of_meeting: bool,
    /// Recorded below quorum: shown, not counted nor pushed until a quorate sitting ratifies it.
    pub provisional: bool,
    pub violations: Vec<String>,
    /// What an approval is for, as checked and recorded (a release as its plain version).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
}

impl DecideOutcome {
    /// "in the meeting of D (sitting n)", "provisional in the meeting of D (sitting n)" or
    /// "out of meeting".
    pub fn place(&self) -> String {
        match (self.meeting, self.sitting) {
            (Some(d), n) => format!(
                "{}in the meeting of {d} (sitting {})",
                if self.provisional { "provisional " } else { "" },
                n.unwrap_or(1)
            ),
            (None, _) => "out of meeting".to_string(),
        }
    }
}

/// What a decision would be, checked but not recorded (see [`decide`]).
struct Prepared {
    line: String,
    /// Who decides: a committee member's canonical name, else the name given.
    actor: String,
    note: Option<String>,
    events_empty: bool,
    from: State,
    to: State,
    violations: Vec<String>,
    sitting: Option<meeting::Meeting>,
    provisional: bool,
    /// What an approval is for, as checked (a release as its plain version).
    target: Option<Target>,
}

/// The policy violations a decision would carry (empty: the policy allows it). Refuses, as
/// [`decide`] does, what no `--force` lets through (a bad key, a missing reason, a deferral
/// date that is not after the meeting, a decision by a member who does not attend). The
/// triage screen shows these before recording a policy exception.
pub fn decision_violations(
    ledger: &Ledger,
    policy: &LoadedPolicy,
    req: &DecideRequest,
) -> Result<Vec<String>> {
    Ok(prepare(ledger, policy, req)?.violations)
}

/// Every check of a decision; nothing written.
fn prepare(ledger: &Ledger, policy: &LoadedPolicy, req: &DecideRequest) -> Result<Prepared> {
    let line = policy.resolve_line(req.line.as_deref())?.clone();
    if !policy.key_matches(&req.key) {
        return Err(Error::input(format!(
            "`{}` is not a ticket key under this policy (pattern `{}`)",
            req.key, policy.policy.ticket_key
        ))
        .hint("check the key for typos"));
    }
    let note = req
        .note
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    if matches!(req.decision, Decision::Reject | Decision::Revoke) && note.is_none() {
        return Err(Error::input(format!("a {} needs a reason", req.decision))
            .hint("pass --note \"why\": the reason is what makes a rejection countable later"));
    }
    if req.until.is_some() && req.decision != Decision::Defer {
        return Err(Error::input("--until only goes with `defer`"));
    }
    if req.target.is_some() && req.decision != Decision::Approve {
        return Err(Error::input(
            "--for-step and --for-release only go with `approve`",
        ));
    }
    let target = req
        .target
        .as_ref()
        .map(|t| release::check_target(ledger, policy, &line, t))
        .transpose()?;
    let today = now().date_naive();
    let sitting = meeting::open_sitting(ledger, &line.name)?;
    if let Some(d) = req.meeting {
        if sitting.as_ref().is_none_or(|m| m.date != d) {
            let hint = match &sitting {
                Some(m) => format!("{} is open: leave out --meeting", m.name()),
                None => "no meeting is open: open one (`portcullis meeting open` or `portcullis triage`), or leave out --meeting to record the decision as out of meeting".to_string(),
            };
            return Err(
                Error::input(format!("no meeting of {} on {d} is open", line.name)).hint(hint),
            );
        }
    }
    if let Some(u) = req.until {
        meeting::check_defer_until(u, sitting.as_ref().map_or(today, |m| m.date))?;
    }
    // A committee member is recorded by their canonical name, whichever alias they gave.
    let actor = meeting::member_name(policy, &req.actor).unwrap_or_else(|| req.actor.clone());
    let committee = req.decision.needs_committee();
    let provisional = match &sitting {
        Some(m) if committee => {
            meeting::check_attending(policy, m, &req.actor)?;
            m.quorate() == Some(false)
        }
        _ => false,
    };
    let events = ledger.events_for_ticket(&req.key)?;
    let derived = derive_ticket(policy, &req.key, &events);
    let from = derived
        .lines
        .get(&line.name)
        .map(|s| s.state)
        .unwrap_or(State::None);
    let c = check(from, req.decision, Some(&actor), policy);
    Ok(Prepared {
        line: line.name.clone(),
        actor,
        note,
        events_empty: events.is_empty(),
        from,
        to: c.to,
        violations: c
            .violations
            .into_iter()
            .map(|(k, m)| format!("{k}: {m}"))
            .collect(),
        sitting,
        provisional,
        target,
    })
}

/// Record a committee decision under the meeting rule ([`meeting`]): in the line's open
/// sitting (provisional below quorum, by an attending member only), or out of meeting. Refuses
/// transitions the policy forbids unless `force`; a forced decision needs a reason (`note`),
/// records `"forced": true` and carries its violations.
pub fn decide(
    ledger: &mut Ledger,
    policy: &LoadedPolicy,
    req: DecideRequest,
) -> Result<DecideOutcome> {
    let p = prepare(ledger, policy, &req)?;
    if p.events_empty && !req.force {
        return Err(Error::input(format!("{} is not in the ledger", req.key))
            .hint("sync or import it first, or pass --force to record a decision on a ticket portcullis has not seen"));
    }
    if !p.violations.is_empty() && !req.force {
        return Err(Error::input(format!(
            "the policy does not allow `{}` on {} ({} is {}):\n  {}",
            req.decision,
            req.key,
            p.line,
            p.from.describe(),
            p.violations.join("\n  ")
        ))
        .hint("pass --force to record it anyway; it will be kept as a violation"));
    }
    if !p.violations.is_empty() && p.note.is_none() {
        // A policy exception is only as good as its reason: the CLI's --force and the triage
        // screen's Ctrl-F record one the same way.
        return Err(Error::input(format!(
            "a policy exception needs a reason: `{}` on {} will carry {}",
            req.decision,
            req.key,
            p.violations.join("; ")
        ))
        .hint("pass --note \"why\" with --force"));
    }
    let at = now();
    let mut payload = json!({
        "decision": req.decision.as_str(),
        "until": req.until.map(|d| d.to_string()),
        "forced": req.force && !p.violations.is_empty(),
    });
    match &p.sitting {
        Some(m) => {
            payload["sitting"] = json!(m.sitting);
            if p.provisional {
                payload["provisional"] = json!(true);
            }
        }
        None => payload["out_of_meeting"] = json!(true),
    }
    if let Some(t) = &p.target {
        payload["target"] = json!(t);
    }
    let mut tx = ledger.transaction()?;
    let seq = tx
        .append(NewEvent {
            ticket: Some(req.key.clone()),
            line: Some(p.line.clone()),
            kind: kind::DECISION,
            source: source::LOCAL.into(),
            actor: Some(p.actor.clone()),
            at,
            meeting: p.sitting.as_ref().map(|m| m.date),
            note: p.note,
            payload,
            dedup_key: None,
        })?
        .ok_or_else(|| Error::internal("decision was not recorded"))?;
    tx.commit_with(policy)?;
    Ok(DecideOutcome {
        key: req.key,
        line: p.line,
        decision: req.decision,
        seq,
        from: p.from,
        // A provisional decision changes nothing until it is ratified.
        to: if p.provisional { p.from } else { p.to },
        meeting: p.sitting.as_ref().map(|m| m.date),
        sitting: p.sitting.as_ref().map(|m| m.sitting),
        out_of_meeting: p.sitting.is_none(),
        provisional: p.provisional,
        violations: p.violations,
        target: p.target,
    })
}
