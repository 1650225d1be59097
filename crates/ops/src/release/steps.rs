//! The campaign's steps (`step start`, `step finish`), the approval target of each ticket (a
//! step or a release), and how ready a line is for its next cuts.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{json, Value};

use super::record::{releases, show};
use crate::workspace::Workspace;
use crate::{Error, Result};
use portcullis_core::event::{source, NewEvent};
use portcullis_core::policy::{Line, LoadedPolicy};
use portcullis_core::time::now;
use portcullis_core::Problem;
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
        match target_of(e) {
            Some(t) => out.insert(key, t),
            None => out.remove(&key),
        };
    }
    out
}

/// The target a decision event records (`payload.target`), if any.
pub fn target_of(e: &portcullis_core::event::Event) -> Option<crate::Target> {
    let t = &e.payload["target"];
    if let Some(s) = t.get("step").and_then(Value::as_str) {
        Some(crate::Target::Step(s.to_string()))
    } else {
        t.get("release")
            .and_then(Value::as_str)
            .map(|r| crate::Target::Release(r.to_string()))
    }
}

/// The versions a line's approvals can target, from its releases: the next patch release
/// (after the latest final release, else after the line's base version) and the version of a
/// release candidate cut and not yet released, if any.
struct Targetable {
    /// The latest final release (or the base version).
    previous: semver::Version,
    next: semver::Version,
    /// The open release candidate: (its version, its tag).
    open_rc: Option<(semver::Version, String)>,
}

fn targetable(ledger: &Ledger, line: &Line) -> Result<Targetable> {
    let done = releases(ledger, &line.name)?;
    let previous = previous_final(line, &done)?;
    let open_rc = done
        .iter()
        .filter(|r| r.manifest.rc.is_some())
        .filter_map(|r| {
            semver::Version::parse(&r.manifest.version)
                .ok()
                .map(|v| (v, r.manifest.tag.clone()))
        })
        .filter(|(v, _)| *v > previous)
        .max();
    Ok(Targetable {
        next: next_patch(&previous),
        previous,
        open_rc,
    })
}

/// The highest final release of a line so far, else its base version.
fn previous_final(line: &Line, done: &[super::record::Recorded]) -> Result<semver::Version> {
    let base = semver::Version::parse(&line.base_version).map_err(|e| {
        Problem::internal(format!(
            "the base version of line {} is not a version",
            line.name
        ))
        .because(e)
    })?;
    Ok(done
        .iter()
        .filter(|r| r.manifest.rc.is_none())
        .filter_map(|r| semver::Version::parse(&r.manifest.version).ok())
        .max()
        .unwrap_or(base))
}

fn next_patch(v: &semver::Version) -> semver::Version {
    semver::Version::new(v.major, v.minor, v.patch.saturating_add(1))
}

/// Check an approval's target against its line: `--for-step` must name a step of the line;
/// `--for-release` a future patch release of the line's series (after its latest final
/// release), or its open release candidate (by version or tag). A release is recorded as its
/// plain version.
pub fn check_target(
    ledger: &Ledger,
    policy: &LoadedPolicy,
    line: &Line,
    target: &crate::Target,
) -> Result<crate::Target> {
    match target {
        crate::Target::Step(step) => {
            let names: Vec<&str> = policy
                .steps_of(&line.name)
                .map(|s| s.name.as_str())
                .collect();
            if names.contains(&step.as_str()) {
                return Ok(target.clone());
            }
            let hint = if names.is_empty() {
                format!("the policy lists no steps for line {}", line.name)
            } else {
                format!("the steps of line {}: {}", line.name, names.join(", "))
            };
            Err(Error::input(format!("unknown step `{step}` for line {}", line.name)).hint(hint))
        }
        crate::Target::Release(wanted) => {
            let t = targetable(ledger, line)?;
            let mut valid = format!(
                "approve for {} (the next patch release) or a later {}.{}.x release",
                t.next, t.next.major, t.next.minor
            );
            if let Some((v, tag)) = &t.open_rc {
                valid.push_str(&format!("; {v} is the open release candidate ({tag})"));
            }
            if let Some((v, _)) = t.open_rc.as_ref().filter(|(_, tag)| tag == wanted) {
                return Ok(crate::Target::Release(v.to_string()));
            }
            let Ok(v) = semver::Version::parse(wanted.trim_start_matches('v')) else {
                return Err(
                    Error::input(format!("`{wanted}` is not a version like {}", t.next))
                        .hint(valid),
                );
            };
            let series = v.major == t.previous.major && v.minor == t.previous.minor;
            let plain = v.pre.is_empty() && v.build.is_empty();
            if !series || !plain {
                return Err(Error::input(format!(
                    "{wanted} is not a patch release of line {} ({}.{}.x)",
                    line.name, t.previous.major, t.previous.minor
                ))
                .hint(valid));
            }
            if v <= t.previous {
                return Err(Error::input(format!(
                    "{wanted} is not a future release of line {}: {} was already released",
                    line.name, t.previous
                ))
                .hint(valid));
            }
            Ok(crate::Target::Release(v.to_string()))
        }
    }
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
    /// The next patch release of the line.
    pub next: String,
    /// The next patch release: approved or done tickets that no release holds and that its cut
    /// waits for (no target, or a release up to it), as `cut` counts them.
    pub approved: usize,
    pub landed: usize,
    /// Later releases that approvals target, each counting its own tickets, in version order.
    pub releases: Vec<ReleaseReadiness>,
    pub steps: Vec<StepRow>,
}

/// A later patch release that approvals target, approved against landed.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseReadiness {
    pub version: String,
    pub approved: usize,
    pub landed: usize,
}

/// [`Readiness`] of a line, from its approved or done tickets and those of them not landed
/// everywhere (`missing`).
pub fn readiness(
    ledger: &Ledger,
    policy: &LoadedPolicy,
    line: &str,
    targets: &BTreeMap<String, crate::Target>,
    approved: &BTreeSet<String>,
    missing: &BTreeSet<String>,
) -> Result<Readiness> {
    let done = releases(ledger, line)?;
    let the_line = policy.resolve_line(Some(line))?;
    let next_version = next_patch(&previous_final(the_line, &done)?);
    let released: BTreeSet<String> = done
        .into_iter()
        .flat_map(|r| r.manifest.tickets.into_iter().map(|t| t.key))
        .collect();
    let landed: BTreeSet<String> = approved.difference(missing).cloned().collect();
    // Each ticket counts once, under its target: the next release (no target, a release up
    // to it, or one the line can never cut: what its cut waits for, as the gate has it), a
    // later release of the line, or a step (counted by `steps_in`).
    let mut next = (0, 0);
    let mut later: BTreeMap<semver::Version, (usize, usize)> = BTreeMap::new();
    for k in approved.iter().filter(|k| !released.contains(*k)) {
        let slot = match targets.get(k) {
            None => &mut next,
            Some(crate::Target::Step(_)) => continue,
            Some(crate::Target::Release(r)) => match semver::Version::parse(r) {
                Ok(v)
                    if v > next_version
                        && (v.major, v.minor) == (next_version.major, next_version.minor) =>
                {
                    later.entry(v).or_default()
                }
                _ => &mut next,
            },
        };
        slot.0 += 1;
        if landed.contains(k) {
            slot.1 += 1;
        }
    }
    Ok(Readiness {
        next: next_version.to_string(),
        approved: next.0,
        landed: next.1,
        releases: later
            .into_iter()
            .map(|(v, (approved, landed))| ReleaseReadiness {
                version: v.to_string(),
                approved,
                landed,
            })
            .collect(),
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
