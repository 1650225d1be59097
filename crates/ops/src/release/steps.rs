//! The campaign's steps (`step start`, `step finish`), the approval target of each ticket (a
//! step or a release), and how ready a line is for its next cuts.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{json, Value};

use super::record::{releases, show};
use crate::workspace::Workspace;
use crate::{Error, Result};
use portcullis_core::event::{source, NewEvent};
use portcullis_core::time::now;
use portcullis_ledger::Ledger;

/// Event kinds of the campaign's steps.
pub const STEP_STARTED: &str = "step.started";
pub const STEP_FINISHED: &str = "step.finished";

/// Where a step stands.
#[derive(Debug, Clone, Serialize)]
pub struct StepRow {
    pub name: String,
    pub title: String,
    /// `not_started`, `running`, `finished`.
    pub status: String,
    /// The release it runs with, once started (frozen from then on).
    pub release: Option<String>,
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Tickets approved for this step, and how many of them have landed everywhere.
    pub approved: usize,
    pub landed: usize,
}

/// The latest approval target of every ticket on a line: `Step(name)` or `Release(version)`.
pub fn targets(ledger: &Ledger, line: &str) -> Result<BTreeMap<String, crate::Target>> {
    let events = ledger.events_of_kinds(&[
        portcullis_core::event::kind::DECISION,
        portcullis_core::event::kind::DECISION_UNDONE,
    ])?;
    Ok(targets_from(&events, line))
}

/// [`targets`] from events already read (decisions and undos, in order).
pub fn targets_from(
    events: &[portcullis_core::event::Event],
    line: &str,
) -> BTreeMap<String, crate::Target> {
    let mut out = BTreeMap::new();
    let undone = portcullis_core::event::undone_decisions(events);
    for e in events {
        if e.kind != portcullis_core::event::kind::DECISION
            || undone.contains(&e.seq)
            || e.line.as_deref() != Some(line)
            || e.payload["decision"] != "approve"
        {
            continue;
        }
        let Some(key) = e.ticket.clone() else {
            continue;
        };
        let t = &e.payload["target"];
        if let Some(s) = t.get("step").and_then(Value::as_str) {
            out.insert(key, crate::Target::Step(s.to_string()));
        } else if let Some(r) = t.get("release").and_then(Value::as_str) {
            out.insert(key, crate::Target::Release(r.to_string()));
        } else {
            out.remove(&key);
        }
    }
    out
}

/// The steps of a line with their state.
pub fn steps(
    ws: &Workspace,
    line: Option<&str>,
    landed: &BTreeSet<String>,
) -> Result<Vec<StepRow>> {
    let line = ws.policy.resolve_line(line)?;
    let ledger = ws.open_ledger()?;
    let tg = targets(&ledger, &line.name)?;
    steps_in(&ledger, &ws.policy, &line.name, &tg, landed)
}

/// [`steps`] on an open ledger with the line's approval targets already read.
pub fn steps_in(
    ledger: &Ledger,
    policy: &portcullis_core::policy::LoadedPolicy,
    line: &str,
    targets: &BTreeMap<String, crate::Target>,
    landed: &BTreeSet<String>,
) -> Result<Vec<StepRow>> {
    let events = ledger.events_of_kinds(&[STEP_STARTED, STEP_FINISHED])?;
    let mut rows = Vec::new();
    for s in policy.steps_of(line) {
        let mut row = StepRow {
            name: s.name.clone(),
            title: s.title.clone(),
            status: "not_started".into(),
            release: None,
            started_at: None,
            finished_at: None,
            approved: 0,
            landed: 0,
        };
        for e in events
            .iter()
            .filter(|e| e.payload["step"] == s.name.as_str() && e.line.as_deref() == Some(line))
        {
            if e.kind == STEP_STARTED {
                row.status = "running".into();
                row.release = e.payload["release"].as_str().map(str::to_string);
                row.started_at = Some(e.at);
            } else {
                row.status = "finished".into();
                row.finished_at = Some(e.at);
            }
        }
        for (k, t) in targets {
            if *t == crate::Target::Step(s.name.clone()) {
                row.approved += 1;
                if landed.contains(k) {
                    row.landed += 1;
                }
            }
        }
        rows.push(row);
    }
    Ok(rows)
}

/// How far a line is from its next cuts, approved against landed.
#[derive(Debug, Clone, Serialize)]
pub struct Readiness {
    /// The next patch release: approved or done tickets with no target that no release holds.
    pub approved: usize,
    pub landed: usize,
    pub steps: Vec<StepRow>,
}

/// [`Readiness`] of a line, from its approved or done tickets and those of them not landed
/// everywhere (`missing`).
pub fn readiness(
    ledger: &Ledger,
    policy: &portcullis_core::policy::LoadedPolicy,
    line: &str,
    targets: &BTreeMap<String, crate::Target>,
    approved: &BTreeSet<String>,
    missing: &BTreeSet<String>,
) -> Result<Readiness> {
    let released: BTreeSet<String> = releases(ledger, line)?
        .into_iter()
        .flat_map(|r| r.manifest.tickets.into_iter().map(|t| t.key))
        .collect();
    let next: Vec<&String> = approved
        .iter()
        .filter(|k| !released.contains(*k) && !targets.contains_key(*k))
        .collect();
    let landed: BTreeSet<String> = approved.difference(missing).cloned().collect();
    Ok(Readiness {
        approved: next.len(),
        landed: next.iter().filter(|k| landed.contains(**k)).count(),
        steps: steps_in(ledger, policy, line, targets, &landed)?,
    })
}

/// `step start NAME --release R` / `step finish NAME`.
pub fn step_event(
    ws: &Workspace,
    line: Option<&str>,
    name: &str,
    release: Option<&str>,
) -> Result<StepRow> {
    let line = ws.policy.resolve_line(line)?.clone();
    if !ws.policy.steps_of(&line.name).any(|s| s.name == name) {
        let names: Vec<&str> = ws
            .policy
            .steps_of(&line.name)
            .map(|s| s.name.as_str())
            .collect();
        return Err(
            Error::input(format!("unknown step `{name}` for line {}", line.name))
                .hint(format!("the policy's steps: {}", names.join(", "))),
        );
    }
    let current = steps(ws, Some(&line.name), &BTreeSet::new())?
        .into_iter()
        .find(|s| s.name == name)
        .expect("a policy step");
    let mut ledger = ws.open_ledger()?;
    let (kind, payload) = match release {
        Some(r) => {
            if current.status != "not_started" {
                return Err(Error::input(format!(
                    "step {name} already started with {}; a started step keeps its release",
                    current.release.as_deref().unwrap_or("?")
                )));
            }
            let rel = show(&ledger, &line.name, r)?;
            if rel.manifest.rc.is_some() {
                return Err(Error::input(format!("{r} is a release candidate"))
                    .hint("start a step with a final release"));
            }
            (
                STEP_STARTED,
                json!({ "step": name, "release": rel.manifest.tag, "manifest_hash": rel.hash }),
            )
        }
        None => {
            if current.status != "running" {
                return Err(Error::input(format!(
                    "step {name} is not running ({})",
                    current.status.replace('_', " ")
                )));
            }
            (STEP_FINISHED, json!({ "step": name }))
        }
    };
    let mut tx = ledger.transaction()?;
    tx.append(NewEvent {
        ticket: None,
        line: Some(line.name.clone()),
        kind,
        source: source::LOCAL.into(),
        actor: ws.actor(None).ok(),
        at: now(),
        meeting: None,
        note: None,
        payload,
        dedup_key: Some(format!("{kind}:{}:{name}", line.name)),
    })?;
    tx.commit_with(&ws.policy)?;
    drop(ledger);
    Ok(steps(ws, Some(&line.name), &BTreeSet::new())?
        .into_iter()
        .find(|s| s.name == name)
        .expect("a policy step"))
}
