//! `decide accept-partial`: a person's verdict that a ticket's partial landing is what was
//! wanted (a backport that deliberately took only part of a ticket). It is recorded per
//! repository as a `landing.accepted_partial` event; from then on `verify` counts the ticket as
//! landed there with that note, and so do `status`, readiness and the gate, which read
//! `verify`'s verdicts.
//!
//! Whether a ticket is partial in a repository is what the last `verify` recorded (its latest
//! `landing` event there): deciding reads the ledger, never the repositories.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Value};

use crate::{Error, Result};
use portcullis_core::event::{kind, source, Event, NewEvent};
use portcullis_core::policy::LoadedPolicy;
use portcullis_core::time::{fmt_utc, now};
use portcullis_git::verify::AcceptedPartial;
use portcullis_ledger::Ledger;

/// An acceptance to record.
#[derive(Debug, Clone)]
pub struct AcceptPartialRequest {
    pub key: String,
    pub line: Option<String>,
    /// The repositories; empty: every repository where the ticket is partial now.
    pub repos: Vec<String>,
    /// Why the part that landed is what was wanted (required).
    pub note: Option<String>,
    pub actor: String,
}

/// One repository's acceptance, as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct Accepted {
    pub repo: String,
    pub seq: i64,
    /// The main-side commits left out, as the last verification had them.
    pub left_out: Vec<String>,
}

/// What recording an acceptance did.
#[derive(Debug, Clone, Serialize)]
pub struct AcceptPartialOutcome {
    pub key: String,
    pub line: String,
    pub by: String,
    pub note: String,
    pub accepted: Vec<Accepted>,
}

/// The latest landing `verify` recorded for `key` on `line`, per repository.
fn latest_landings(ledger: &Ledger, key: &str, line: &str) -> Result<BTreeMap<String, Event>> {
    let mut out: BTreeMap<String, Event> = BTreeMap::new();
    for e in ledger.events_for_ticket(key)? {
        if e.kind != kind::LANDING || e.line.as_deref() != Some(line) {
            continue;
        }
        let Some(repo) = e.payload.get("repo").and_then(Value::as_str) else {
            continue;
        };
        if out.get(repo).is_none_or(|prev| prev.seq < e.seq) {
            out.insert(repo.to_string(), e);
        }
    }
    Ok(out)
}

/// The acceptances of `key` on `line` recorded after the latest landing of their repository
/// (the last verify has not seen them yet), per repository.
fn accepted_since(
    ledger: &Ledger,
    key: &str,
    line: &str,
    landings: &BTreeMap<String, Event>,
) -> Result<BTreeMap<String, Event>> {
    let mut out = BTreeMap::new();
    for e in ledger.events_for_ticket(key)? {
        if e.kind != kind::PARTIAL_ACCEPTED || e.line.as_deref() != Some(line) {
            continue;
        }
        let Some(repo) = e.payload.get("repo").and_then(Value::as_str) else {
            continue;
        };
        if landings.get(repo).is_some_and(|l| l.seq < e.seq) {
            out.insert(repo.to_string(), e);
        }
    }
    Ok(out)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// Record that the part of `key` that landed is what was wanted, in `req.repos` (or every
/// repository where it is partial now). Refused, and nothing recorded, when it is not partial
/// in one of them.
pub fn accept_partial(
    ledger: &mut Ledger,
    policy: &LoadedPolicy,
    req: AcceptPartialRequest,
) -> Result<AcceptPartialOutcome> {
    let line = policy.resolve_line(req.line.as_deref())?.clone();
    let note = checked_note(policy, &line, &req)?;
    let landings = latest_landings(ledger, &req.key, &line.name)?;
    let already = accepted_since(ledger, &req.key, &line.name, &landings)?;
    let status = |repo: &str| -> Option<String> {
        if already.contains_key(repo) {
            return Some("accepted".into());
        }
        landings
            .get(repo)
            .and_then(|e| e.payload.get("status").and_then(Value::as_str))
            .map(str::to_string)
    };
    let repos: Vec<String> = if req.repos.is_empty() {
        let partial: Vec<String> = landings
            .keys()
            .filter(|r| status(r).as_deref() == Some("partial"))
            .cloned()
            .collect();
        if partial.is_empty() {
            if let Some((r, e)) = already.iter().next() {
                return Err(already_accepted(&req.key, r, e));
            }
            return Err(not_partial(&req.key, &line.name, None, &landings));
        }
        partial
    } else {
        let mut repos = req.repos.clone();
        repos.dedup();
        for r in &repos {
            if let Some(e) = already.get(r) {
                return Err(already_accepted(&req.key, r, e));
            }
            if status(r).as_deref() != Some("partial") {
                return Err(not_partial(&req.key, &line.name, Some(r), &landings));
            }
        }
        repos
    };
    // The drift that said it had not landed there is settled by this verdict now, so that
    // readiness and the triage screen agree before the next `verify` (which finds none).
    let open = crate::verify::open_drift(ledger, &line.name)?;
    let at = now();
    let mut tx = ledger.transaction()?;
    let mut accepted = Vec::new();
    for repo in repos {
        let landing = &landings[&repo];
        let left_out = strings(landing.payload.get("missing"));
        let seq = tx
            .append(NewEvent {
                ticket: Some(req.key.clone()),
                line: Some(line.name.clone()),
                kind: kind::PARTIAL_ACCEPTED,
                source: source::LOCAL.into(),
                actor: Some(req.actor.clone()),
                at,
                meeting: None,
                note: Some(note.clone()),
                payload: json!({
                    "repo": repo,
                    "branch": line.branch,
                    "left_out": left_out,
                    "landed": landing.payload.get("landed"),
                }),
                dedup_key: None,
            })?
            .ok_or_else(|| Error::internal("the acceptance was not recorded"))?;
        for (id, p) in &open {
            let kind = p.get("kind").and_then(Value::as_str);
            if !matches!(kind, Some("approved_not_landed" | "done_not_landed"))
                || p.get("ticket").and_then(Value::as_str) != Some(req.key.as_str())
                || p.get("repo").and_then(Value::as_str) != Some(repo.as_str())
            {
                continue;
            }
            tx.append(NewEvent {
                ticket: Some(req.key.clone()),
                line: Some(line.name.clone()),
                kind: kind::DRIFT_CLEARED,
                source: source::LOCAL.into(),
                actor: Some(req.actor.clone()),
                at,
                meeting: None,
                note: None,
                payload: json!({
                    "id": id,
                    "kind": kind,
                    "repo": repo,
                    "message": p.get("message"),
                    "accepted_partial": seq,
                }),
                dedup_key: None,
            })?;
        }
        accepted.push(Accepted {
            repo,
            seq,
            left_out,
        });
    }
    tx.commit_with(policy)?;
    Ok(AcceptPartialOutcome {
        key: req.key,
        line: line.name,
        by: req.actor,
        note,
        accepted,
    })
}

/// The request's note, once its key and repositories are known to the policy.
fn checked_note(
    policy: &LoadedPolicy,
    line: &portcullis_core::policy::Line,
    req: &AcceptPartialRequest,
) -> Result<String> {
    if !policy.key_matches(&req.key) {
        return Err(Error::input(format!(
            "`{}` is not a ticket key under this policy (pattern `{}`)",
            req.key, policy.policy.ticket_key
        ))
        .hint("check the key for typos"));
    }
    let Some(note) = req
        .note
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
    else {
        return Err(
            Error::input("accepting a partial landing needs a reason").hint(
                "pass --note \"why\": what was left out, and why the part that landed is enough",
            ),
        );
    };
    let known: Vec<String> = policy
        .repositories_for(&line.name)
        .iter()
        .map(|r| r.name.clone())
        .collect();
    for r in &req.repos {
        if !known.contains(r) {
            return Err(
                Error::input(format!("unknown repository `{r}` for line {}", line.name))
                    .hint(format!("the policy lists: {}", known.join(", "))),
            );
        }
    }
    Ok(note)
}

fn already_accepted(key: &str, repo: &str, e: &Event) -> Error {
    Error::input(format!(
        "the partial landing of {key} in {repo} is already accepted (by {}, event {})",
        e.actor.as_deref().unwrap_or("?"),
        e.seq
    ))
    .hint("`portcullis verify` counts it as landed there")
}

/// Why `key` cannot be accepted as partial (in `repo`, or anywhere).
fn not_partial(
    key: &str,
    line: &str,
    repo: Option<&str>,
    landings: &BTreeMap<String, Event>,
) -> Error {
    let seen: Vec<String> = landings
        .iter()
        .map(|(r, e)| {
            format!(
                "{r} {}",
                e.payload
                    .get("status")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .replace('_', " ")
            )
        })
        .collect();
    let what = match repo {
        Some(r) => format!("{key} is not partial in {r} on {line}"),
        None => format!("{key} is not partial in any repository on {line}"),
    };
    let why = if seen.is_empty() {
        "verify has recorded no landing of it".to_string()
    } else {
        format!("the last verify has it: {}", seen.join(", "))
    };
    Error::input(format!("{what}: {why}")).hint(
        "only a partial landing can be accepted; run `portcullis verify` to bring the ledger up to date",
    )
}

/// The standing acceptances of a line: ticket → repository → the latest acceptance.
pub fn accepted_partials(
    ledger: &Ledger,
    line: &str,
) -> Result<BTreeMap<String, BTreeMap<String, AcceptedPartial>>> {
    let mut out: BTreeMap<String, BTreeMap<String, AcceptedPartial>> = BTreeMap::new();
    for e in ledger.events_of_kinds(&[kind::PARTIAL_ACCEPTED])? {
        let (Some(key), Some(repo)) = (
            e.ticket.clone(),
            e.payload.get("repo").and_then(Value::as_str),
        ) else {
            continue;
        };
        if e.line.as_deref() != Some(line) {
            continue;
        }
        out.entry(key).or_default().insert(
            repo.to_string(),
            AcceptedPartial {
                by: e.actor.clone().unwrap_or_default(),
                at: fmt_utc(e.at),
                note: e.note.clone().unwrap_or_default(),
                left_out: strings(e.payload.get("left_out")),
            },
        );
    }
    Ok(out)
}
