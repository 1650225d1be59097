//! `history`: a ticket's timeline, every event with a sentence saying what it did, and the
//! states that result.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::{release, Error, Result};
use portcullis_core::event::{derive_ticket, kind, source, trace_ticket, Event, TicketInfo};
use portcullis_core::policy::LoadedPolicy;
use portcullis_core::workflow::LineState;
use portcullis_ledger::Ledger;

/// One row of a ticket's timeline.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineEntry {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub source: String,
    pub actor: Option<String>,
    pub kind: String,
    /// What happened, in words.
    pub what: String,
    pub note: Option<String>,
    pub meeting: Option<NaiveDate>,
    /// What it did to each line's state: `line: from → to`.
    pub effects: Vec<String>,
    /// False for changes of labels the policy does not use (hidden from timelines by default).
    pub relevant: bool,
}

/// A ticket's full history.
#[derive(Debug, Clone, Serialize)]
pub struct History {
    pub key: String,
    pub info: TicketInfo,
    pub lines: BTreeMap<String, LineState>,
    pub timeline: Vec<TimelineEntry>,
}

/// Every event of a ticket in time order, with what each did, and the resulting states.
pub fn history(ledger: &Ledger, policy: &LoadedPolicy, key: &str) -> Result<History> {
    let events = ledger.events_for_ticket(key)?;
    if events.is_empty() {
        let hint = if policy.key_matches(key) {
            "check the key, or sync/import the ticket first".to_string()
        } else {
            format!(
                "ticket keys under this policy match `{}`",
                policy.policy.ticket_key
            )
        };
        return Err(Error::input(format!("{key} is not in the ledger")).hint(hint));
    }
    let derived = derive_ticket(policy, key, &events);
    let traces = trace_ticket(policy, &events);
    let mut effects: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for (line, steps) in &traces {
        for s in steps {
            let mut text = if s.from != s.to {
                format!("{line}: {} → {}", s.from, s.to.describe())
            } else {
                format!("{line}: stays {}", s.to)
            };
            for v in &s.violations {
                text.push_str(&format!(" [violation: {v}]"));
            }
            effects.entry(s.seq).or_default().push(text);
        }
    }
    let mut sorted: Vec<&Event> = events.iter().collect();
    sorted.sort_by(|a, b| a.at.cmp(&b.at).then(a.seq.cmp(&b.seq)));
    let timeline = sorted
        .into_iter()
        .map(|e| TimelineEntry {
            seq: e.seq,
            at: e.at,
            source: e.source.clone(),
            actor: e.actor.clone(),
            kind: e.kind.clone(),
            what: describe_event(policy, e),
            note: e.note.clone(),
            meeting: e.meeting,
            effects: effects.remove(&e.seq).unwrap_or_default(),
            relevant: match e.payload.get("label").and_then(Value::as_str) {
                Some(l) if e.kind == kind::LABEL_ADDED || e.kind == kind::LABEL_REMOVED => {
                    policy.is_known_label(l) || policy.is_unknown_backport_label(l)
                }
                _ => true,
            },
        })
        .collect();
    Ok(History {
        key: key.to_string(),
        info: derived.info,
        lines: derived.lines,
        timeline,
    })
}

/// The tracker an event's source names, for sentences.
fn tracker_name(source: &str) -> &'static str {
    if source == source::GITHUB {
        "GitHub"
    } else {
        "Jira"
    }
}

/// A text field of an event's payload, `?` when it has none.
fn text<'a>(e: &'a Event, key: &str) -> &'a str {
    e.payload.get(key).and_then(Value::as_str).unwrap_or("?")
}

/// A number field of an event's payload, 0 when it has none.
fn number(e: &Event, key: &str) -> i64 {
    e.payload.get(key).and_then(Value::as_i64).unwrap_or(0)
}

fn describe_event(policy: &LoadedPolicy, e: &Event) -> String {
    let label = text(e, "label");
    let role = |l: &str| {
        if let Some(line) = policy.line_for_request_label(l) {
            format!(" (request for {})", line.name)
        } else if l == policy.policy.labels.approved {
            " (approval)".into()
        } else if l == policy.policy.labels.done {
            " (done)".into()
        } else {
            String::new()
        }
    };
    let snap = if e.source == source::SNAPSHOT {
        " [seen in a snapshot; actor unknown]"
    } else {
        ""
    };
    match e.kind.as_str() {
        kind::LABEL_ADDED => format!("label `{label}` added{}{snap}", role(label)),
        kind::LABEL_REMOVED => format!("label `{label}` removed{}{snap}", role(label)),
        kind::DECISION => describe_decision(e),
        kind::TICKET_OBSERVED => {
            let status = text(e, "status");
            format!("fields seen: status {status}")
        }
        kind::PUSHED => describe_pushed(e),
        kind::PUSH_CONFLICT => format!(
            "push of decision #{} held back: labels changed in {} by {}",
            number(e, "decision_seq"),
            tracker_name(&e.source),
            e.payload
                .get("changed_by")
                .and_then(Value::as_str)
                .unwrap_or("someone")
        ),
        kind::COMMIT_LINKED => {
            let p = &e.payload;
            let sha = p.get("sha").and_then(Value::as_str).unwrap_or("?");
            format!(
                "merged in {} as {} ({} commit(s))",
                p.get("repo").and_then(Value::as_str).unwrap_or("?"),
                &sha[..sha.len().min(12)],
                p.get("commits")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len)
            )
        }
        kind::LANDING => describe_landing(e),
        kind::DRIFT_FOUND => format!("drift: {}", text(e, "message")),
        kind::DECISION_UNDONE => format!("decision #{} taken back", number(e, "undoes")),
        kind::NOTE => "note".to_string(),
        kind::PARTIAL_ACCEPTED => format!(
            "partial landing in {} accepted as what was wanted",
            text(e, "repo")
        ),
        kind::DECISION_SUPERSEDED => format!(
            "decision #{} superseded by #{} before it was pushed (never pushed)",
            number(e, "decision_seq"),
            number(e, "superseded_by")
        ),
        kind::TICKET_GONE => match e.payload.get("moved_to").and_then(Value::as_str) {
            Some(to) => format!("gone from {}: moved to {to}", tracker_name(&e.source)),
            None => format!(
                "gone from {}: {}",
                tracker_name(&e.source),
                e.payload
                    .get("reason")
                    .and_then(Value::as_str)
                    .unwrap_or("deleted")
            ),
        },
        kind::DECISION_RATIFIED => format!(
            "provisional decision(s) {} ratified in the meeting of {}{}",
            e.payload
                .get("ratifies")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_i64)
                .map(|s| format!("#{s}"))
                .collect::<Vec<_>>()
                .join(", "),
            e.meeting.map(|d| d.to_string()).unwrap_or_default(),
            match portcullis_core::event::sitting_of(e) {
                1 => String::new(),
                n => format!(" (sitting {n})"),
            }
        ),
        kind::RECORD_REJECTED => {
            let p = |k: &str| e.payload.get(k).and_then(Value::as_str).unwrap_or("?");
            format!(
                "decision record in {} comment {} by {} not applied: {}",
                tracker_name(&e.source),
                p("comment"),
                p("author"),
                p("message")
            )
        }
        kind::RECORD_GONE => {
            let comment = text(e, "comment");
            let of = match e.payload.get("decision").and_then(Value::as_str) {
                Some(d) => format!("the record of a {d}"),
                None => "a decision record".to_string(),
            };
            format!(
                "{} comment {comment}, which held {of}, is gone (deleted in the tracker); \
                 the ledger keeps the decision",
                tracker_name(&e.source)
            )
        }
        kind::MEETING_OPENED => "meeting opened".to_string(),
        kind::MEETING_CLOSED => "meeting closed".to_string(),
        kind::DRIFT_CLEARED => format!("drift resolved: {}", text(e, "message")),
        other => other.to_string(),
    }
}

/// A decision, for [`describe_event`]: `decision: approve for 23.0 until … (forced)`.
fn describe_decision(e: &Event) -> String {
    let d = e
        .payload
        .get("decision")
        .and_then(Value::as_str)
        .unwrap_or("?");
    let mut s = format!("decision: {d} for {}", e.line.as_deref().unwrap_or("?"));
    if let Some(t) = release::target_of(e) {
        s.push_str(&format!(" (for {t})"));
    }
    if let Some(u) = e.payload.get("until").and_then(Value::as_str) {
        s.push_str(&format!(" until {u}"));
    }
    if e.payload.get("forced").and_then(Value::as_bool) == Some(true) {
        s.push_str(" (forced)");
    }
    if portcullis_core::event::is_out_of_meeting(e) {
        s.push_str(" (out of meeting)");
    } else if e.meeting.is_some() && portcullis_core::event::sitting_of(e) > 1 {
        s.push_str(&format!(
            " (sitting {})",
            portcullis_core::event::sitting_of(e)
        ));
    }
    if portcullis_core::event::is_provisional(e) {
        s.push_str(" (provisional: below quorum)");
    }
    if e.payload.get("ratified").and_then(Value::as_bool) == Some(true) {
        s.push_str(" (ratified)");
    }
    if let Some(r) = e.payload.get("ratified_in") {
        let date = r
            .get("date")
            .and_then(Value::as_str)
            .and_then(|d| d.parse().ok());
        let sitting = r.get("sitting").and_then(Value::as_u64).unwrap_or(1) as u32;
        if let Some(d) = date {
            s.push_str(&format!(
                " (ratified in {})",
                crate::meeting::sitting_name(d, sitting)
            ));
        }
    }
    if let Some(author) = e.payload.pointer("/record/author").and_then(Value::as_str) {
        s.push_str(&format!(
            " [from its record in {}, pushed by {author}]",
            tracker_name(&e.source)
        ));
    }
    s
}

/// A decision written to a tracker, for [`describe_event`]: its label changes and comments.
fn describe_pushed(e: &Event) -> String {
    let list = |k: &str, sign: char| -> Vec<String> {
        e.payload
            .get(k)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|l| l.as_str().map(|l| format!("{sign}{l}")))
            .collect()
    };
    let mut labels = list("added", '+');
    labels.extend(list("removed", '-'));
    format!(
        "decision #{} written to {} ({}, {} comment(s){})",
        e.payload
            .get("decision_seq")
            .and_then(Value::as_i64)
            .unwrap_or(0),
        tracker_name(&e.source),
        if labels.is_empty() {
            "no label change".to_string()
        } else {
            labels.join(" ")
        },
        e.payload
            .get("comments_posted")
            .and_then(Value::as_u64)
            .unwrap_or(0),
        if e.payload.get("already_in_jira").and_then(Value::as_bool) == Some(true)
            || e.payload.get("already_in_github").and_then(Value::as_bool) == Some(true)
        {
            "; already there"
        } else {
            ""
        }
    )
}

/// A landing, for [`describe_event`]: its status, repository, branch, how, and release tag.
fn describe_landing(e: &Event) -> String {
    let p = &e.payload;
    let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("?").to_string();
    let n = |k: &str| p.get(k).and_then(Value::as_array).map_or(0, Vec::len);
    let mut text = format!(
        "{} in {} on {}",
        s("status").replace('_', " "),
        s("repo"),
        p.get("branch")
            .and_then(Value::as_str)
            .unwrap_or("the release branch")
    );
    if let Some(how) = p.get("how").and_then(Value::as_str) {
        text.push_str(&format!(" ({how}"));
        text.push_str(&format!(
            ", {} of {} main commits)",
            n("landed"),
            n("main_commits")
        ));
    }
    let live = matches!(
        p.get("status").and_then(Value::as_str),
        Some("landed" | "release_only")
    );
    match p.get("first_tag").and_then(Value::as_str) {
        Some(t) if live => text.push_str(&format!(", released in {t}")),
        None if live => text.push_str(", not in a release tag yet"),
        _ => {}
    }
    text
}
