//! Digests and alerts for chat: what happened on a release line since the last posted digest,
//! read from the ledger's events, as a transport-neutral [`portcullis_chat::Message`].
//!
//! A digest covers a window of event sequence numbers: from just after the last posted digest
//! of the line (a `digest.posted` event) to the newest event. The window makes its identity: the
//! same window gives the same message id, which the transports use as an idempotency key.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::{Error, Result};
use portcullis_chat::{Item, Message, Section};
use portcullis_core::event::kind;
use portcullis_core::policy::LoadedPolicy;
use portcullis_core::workflow::State;
use portcullis_ledger::queries::TicketBrief;
use portcullis_ledger::Ledger;

/// A digest was posted to a chat target (payload: id, target, window, parts).
pub const DIGEST_POSTED: &str = "digest.posted";
/// A digest is about to be posted (written before the post; see `notify`).
pub const DIGEST_SENDING: &str = "digest.sending";
/// An alert was posted (payload: id, target, the event it is about).
pub const ALERT_POSTED: &str = "alert.posted";

/// Where a digest starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// After the last digest posted for the line (the whole history if none was).
    Last,
    /// Events that happened on or after this day.
    Date(NaiveDate),
}

/// One line of a digest section: a ticket and what happened to it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub key: Option<String>,
    pub text: String,
}

/// What a digest says, before it is rendered for a transport.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Digest {
    pub line: String,
    pub branch: String,
    /// The window: sequence numbers after `from_seq`, up to and including `to_seq`.
    pub from_seq: i64,
    pub to_seq: i64,
    pub new_requests: Vec<Entry>,
    pub decisions: Vec<Entry>,
    pub landed: Vec<Entry>,
    pub reverted: Vec<Entry>,
    pub drift: Vec<Entry>,
    pub drift_resolved: usize,
    /// Approved for longer than the threshold and still missing somewhere, with owners.
    pub stale: Vec<Entry>,
    pub stale_days: i64,
    pub readiness: Vec<String>,
}

impl Digest {
    /// Nothing happened in the window (stale approvals and readiness alone do not make news).
    pub fn is_empty(&self) -> bool {
        self.new_requests.is_empty()
            && self.decisions.is_empty()
            && self.landed.is_empty()
            && self.reverted.is_empty()
            && self.drift.is_empty()
            && self.drift_resolved == 0
    }

    /// The identity of this digest: the line and its window.
    pub fn id(&self) -> String {
        format!("digest-{}-{}-{}", self.line, self.from_seq, self.to_seq)
    }
}

/// The sequence number the last digest posted for a line ended at (0 if none): to any target,
/// or to the one named.
pub fn last_posted(ledger: &Ledger, line: &str, target: Option<&str>) -> Result<i64> {
    Ok(ledger
        .events_of_kinds(&[DIGEST_POSTED])?
        .iter()
        .filter(|e| e.line.as_deref() == Some(line))
        .filter(|e| {
            target.is_none_or(|t| e.payload.get("target").and_then(Value::as_str) == Some(t))
        })
        .filter_map(|e| e.payload.get("to_seq").and_then(Value::as_i64))
        .max()
        .unwrap_or(0))
}

/// Build the digest of a line.
pub fn build(
    ledger: &Ledger,
    policy: &LoadedPolicy,
    line: Option<&str>,
    since: Since,
    now: DateTime<Utc>,
) -> Result<Digest> {
    let line = policy.resolve_line(line)?.clone();
    let (from_seq, from_time) = match since {
        // The first digest of a line covers the past week, not the whole history.
        Since::Last => match last_posted(ledger, &line.name, None)? {
            0 => (
                0,
                Some(portcullis_core::time::fmt_utc(now - Duration::days(7))),
            ),
            seq => (seq, None),
        },
        Since::Date(d) => (
            0,
            Some(portcullis_core::time::fmt_utc(
                d.and_hms_opt(0, 0, 0).expect("midnight").and_utc(),
            )),
        ),
    };
    build_from(ledger, policy, &line, from_seq, from_time, now)
}

/// The digest of the events after `from_seq`.
pub fn build_window(
    ledger: &Ledger,
    policy: &LoadedPolicy,
    line: &str,
    from_seq: i64,
    now: DateTime<Utc>,
) -> Result<Digest> {
    let line = policy.resolve_line(Some(line))?.clone();
    build_from(ledger, policy, &line, from_seq, None, now)
}

fn build_from(
    ledger: &Ledger,
    policy: &LoadedPolicy,
    line: &portcullis_core::policy::Line,
    from_seq: i64,
    from_time: Option<String>,
    now: DateTime<Utc>,
) -> Result<Digest> {
    let to_seq = ledger.max_seq()?;
    let briefs = ledger.ticket_briefs()?;
    let summary = |k: &Option<String>| {
        k.as_ref()
            .and_then(|k| briefs.get(k))
            .map(|s| s.summary.clone())
            .unwrap_or_default()
    };
    let rows = ledger.digest_activity(
        &line.name,
        &line.request_label,
        from_seq,
        to_seq,
        from_time.as_deref(),
    )?;
    let mut d = Digest {
        line: line.name.clone(),
        branch: line.branch.clone(),
        from_seq,
        to_seq,
        new_requests: Vec::new(),
        decisions: Vec::new(),
        landed: Vec::new(),
        reverted: Vec::new(),
        drift: Vec::new(),
        drift_resolved: 0,
        stale: Vec::new(),
        stale_days: policy.policy.rules.stale_after_days,
        readiness: Vec::new(),
    };
    let mut seen_landings = std::collections::BTreeSet::new();
    for row in rows {
        let (key, k, actor, p, note) = (row.ticket, row.kind, row.actor, row.payload, row.note);
        let s = |f: &str| p.get(f).and_then(Value::as_str).unwrap_or("").to_string();
        let who = actor.unwrap_or_else(|| "someone".into());
        let head = |key: &Option<String>| {
            let sm = summary(key);
            match key {
                Some(k) if sm.is_empty() => k.clone(),
                Some(k) => format!("{k}: {sm}"),
                None => String::new(),
            }
        };
        match k.as_str() {
            kind::LABEL_ADDED => d.new_requests.push(Entry {
                text: format!("{} (requested by {who})", head(&key)),
                key,
            }),
            kind::DECISION => {
                let mut text = format!("{}: {} by {who}", head(&key), s("decision"));
                if let Some(u) = p.get("until").and_then(Value::as_str) {
                    text.push_str(&format!(" until {u}"));
                }
                if p.get("provisional").and_then(Value::as_bool) == Some(true) {
                    text.push_str(" (provisional: below quorum)");
                } else if p.get("out_of_meeting").and_then(Value::as_bool) == Some(true) {
                    text.push_str(" (out of meeting)");
                }
                if let Some(n) = note.filter(|n| !n.trim().is_empty()) {
                    text.push_str(&format!(": \"{n}\""));
                }
                d.decisions.push(Entry { key, text });
            }
            kind::LANDING
                if matches!(s("status").as_str(), "landed" | "release_only")
                    && seen_landings.insert((key.clone(), s("repo"))) =>
            {
                d.landed.push(Entry {
                    text: format!("{} landed in {} ({})", head(&key), s("repo"), s("how")),
                    key,
                });
            }
            kind::LANDING => {}
            kind::DRIFT_FOUND if s("kind") == "reverted" => d.reverted.push(Entry {
                key,
                text: s("message"),
            }),
            kind::DRIFT_FOUND => d.drift.push(Entry {
                key,
                text: s("message"),
            }),
            kind::DRIFT_CLEARED => d.drift_resolved += 1,
            _ => {}
        }
    }

    // Approved for longer than the threshold and still missing somewhere.
    let open = crate::verify::open_drift(ledger, &line.name)?;
    let cutoff = now - Duration::days(d.stale_days);
    let approved_at: BTreeMap<String, Option<DateTime<Utc>>> = ledger
        .line_tickets(&line.name, &[State::Approved, State::Done])?
        .into_iter()
        .map(|t| (t.ticket, t.approved_at))
        .collect();
    let mut missing: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in open.values() {
        let kind = p.get("kind").and_then(Value::as_str).unwrap_or("");
        if !matches!(kind, "approved_not_landed" | "done_not_landed") {
            continue;
        }
        if let Some(k) = p.get("ticket").and_then(Value::as_str) {
            missing.entry(k.to_string()).or_default().push(
                p.get("repo")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_string(),
            );
        }
    }
    for (k, repos) in &missing {
        let Some(at) = approved_at.get(k).copied().flatten() else {
            continue;
        };
        if at > cutoff {
            continue;
        }
        let owner = briefs
            .get(k)
            .and_then(|s| s.assignee.clone())
            .unwrap_or_else(|| "no assignee".into());
        d.stale.push(Entry {
            key: Some(k.clone()),
            text: format!(
                "{}: approved {} ago, missing in {} (owner: {owner})",
                head_of(k, &briefs),
                portcullis_core::time::age(at, now),
                repos.join(", ")
            ),
        });
    }

    let approved: BTreeSet<String> = approved_at.keys().cloned().collect();
    d.readiness = readiness_lines(ledger, policy, line, &approved, &missing)?;
    Ok(d)
}

/// Readiness, for the digest: the next release and the steps, approved against landed.
fn readiness_lines(
    ledger: &Ledger,
    policy: &LoadedPolicy,
    line: &portcullis_core::policy::Line,
    approved: &BTreeSet<String>,
    missing: &BTreeMap<String, Vec<String>>,
) -> Result<Vec<String>> {
    let targets = crate::release::targets(ledger, &line.name)?;
    let gone: BTreeSet<String> = missing.keys().cloned().collect();
    let r = crate::release::readiness(ledger, policy, &line.name, &targets, approved, &gone)?;
    let mut out = vec![format!(
        "Next patch release of {} ({}): {} of {} approved backport(s) landed",
        line.name, r.next, r.landed, r.approved
    )];
    for rel in &r.releases {
        out.push(format!(
            "Release {} (approved for it): {} of {} approved backport(s) landed",
            rel.version, rel.landed, rel.approved
        ));
    }
    for s in r.steps.iter().filter(|s| s.approved > 0) {
        out.push(format!(
            "Step {}: {} of {} approved backport(s) landed",
            s.name, s.landed, s.approved
        ));
    }
    Ok(out)
}

fn head_of(k: &str, briefs: &BTreeMap<String, TicketBrief>) -> String {
    match briefs.get(k) {
        Some(b) if !b.summary.is_empty() => format!("{k}: {}", b.summary),
        _ => k.to_string(),
    }
}

fn section(heading: &str, entries: &[Entry]) -> Option<Section> {
    (!entries.is_empty()).then(|| Section {
        heading: format!("{heading} ({})", entries.len()),
        items: entries.iter().map(|e| Item::text(e.text.clone())).collect(),
    })
}

/// The digest as a chat message.
pub fn to_message(d: &Digest) -> Message {
    let mut sections: Vec<Section> = [
        section("New requests", &d.new_requests),
        section("Decisions", &d.decisions),
        section("Landed", &d.landed),
        section("Reverted on the release branch", &d.reverted),
        section("Drift", &d.drift),
        section(
            &format!("Approved more than {} days ago, not landed", d.stale_days),
            &d.stale,
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    if d.drift_resolved > 0 {
        sections.push(Section {
            heading: "Resolved".into(),
            items: vec![Item::text(format!(
                "{} drift item(s) resolved",
                d.drift_resolved
            ))],
        });
    }
    sections.push(Section {
        heading: "Readiness".into(),
        items: d.readiness.iter().map(|r| Item::text(r.clone())).collect(),
    });
    Message {
        title: format!("portcullis digest: {} ({})", d.line, d.branch),
        sections,
        id: d.id(),
    }
}

/// A plain-text rendering, for `notify --dry-run` and the terminal.
pub fn to_text(m: &Message) -> String {
    let mut s = format!("{}\n", m.title);
    for sec in &m.sections {
        s.push_str(&format!("\n{}\n", sec.heading));
        for i in &sec.items {
            s.push_str(&format!("  - {}\n", i.text));
        }
    }
    s
}

/// Urgent events in a window, each its own alert: a revert on a release branch, an unapproved
/// commit landed (drift the policy lists in `rules.alert`), and a cut that failed.
pub fn alerts(
    ledger: &Ledger,
    policy: &LoadedPolicy,
    line: &str,
    after_seq: i64,
) -> Result<Vec<(i64, Message)>> {
    let urgent = &policy.policy.rules.alert;
    let mut out = Vec::new();
    for e in ledger.events_of_kinds(&[kind::DRIFT_FOUND, crate::release::CUT_FAILED])? {
        if e.seq <= after_seq || e.line.as_deref() != Some(line) {
            continue;
        }
        let (what, text) = if e.kind == kind::DRIFT_FOUND {
            let k = e.payload.get("kind").and_then(Value::as_str).unwrap_or("");
            if !urgent.iter().any(|u| u == k) {
                continue;
            }
            (
                k.replace('_', " "),
                e.payload["message"].as_str().unwrap_or("").to_string(),
            )
        } else {
            if !urgent.iter().any(|u| u == "cut_failed") {
                continue;
            }
            (
                "cut failed".to_string(),
                e.payload["message"].as_str().unwrap_or("").to_string(),
            )
        };
        out.push((
            e.seq,
            Message {
                title: format!("portcullis alert ({line}): {what}"),
                sections: vec![Section {
                    heading: e.ticket.clone().unwrap_or_else(|| what.clone()),
                    items: vec![Item::text(text)],
                }],
                id: format!("alert-{line}-{}", e.seq),
            },
        ));
    }
    Ok(out)
}

/// Parse `--since`: `last` or a date.
pub fn parse_since(s: &str) -> Result<Since> {
    if s == "last" {
        return Ok(Since::Last);
    }
    s.parse::<NaiveDate>().map(Since::Date).map_err(|_| {
        Error::input(format!(
            "`{s}` is neither `last` nor a date like 2026-11-23"
        ))
    })
}
