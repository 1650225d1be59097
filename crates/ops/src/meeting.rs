//! Committee meetings: opened with a date and attendees, the decisions tied to them, taking back
//! the meeting's last decision, notes on tickets, and the minutes.
//!
//! A meeting is a pair of events (`meeting.opened`, `meeting.closed`) keyed by line and date.
//! Decisions carry the meeting's date (their `meeting` field). Taking a decision back appends a
//! `decision.undone` event: the decision stays in the log, the derivation skips it.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use crate::{Error, Result};
use portcullis_core::event::{kind, source, undone_decisions, Event, NewEvent};
use portcullis_core::policy::LoadedPolicy;
use portcullis_core::time::now;
use portcullis_ledger::Ledger;

/// A committee meeting of one release line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Meeting {
    pub line: String,
    pub date: NaiveDate,
    pub attendees: Vec<String>,
    /// How many members must attend, if the policy says.
    pub quorum: Option<u32>,
    /// Who opened it.
    pub chair: Option<String>,
    pub opened_seq: i64,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

impl Meeting {
    /// Whether enough members attend (`None` when the policy sets no quorum).
    pub fn quorate(&self) -> Option<bool> {
        self.quorum.map(|q| self.attendees.len() as u32 >= q)
    }
}

/// Every meeting of a line, oldest first.
pub fn meetings(ledger: &Ledger, line: &str) -> Result<Vec<Meeting>> {
    let events = ledger.events_of_kinds(&[kind::MEETING_OPENED, kind::MEETING_CLOSED])?;
    let mut out: BTreeMap<NaiveDate, Meeting> = BTreeMap::new();
    for e in events {
        if e.line.as_deref() != Some(line) {
            continue;
        }
        let Some(date) = e.meeting else { continue };
        if e.kind == kind::MEETING_OPENED {
            let attendees = e.payload["attendees"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let m = out.entry(date).or_insert_with(|| Meeting {
                line: line.to_string(),
                date,
                attendees: Vec::new(),
                quorum: None,
                chair: e.actor.clone(),
                opened_seq: e.seq,
                opened_at: e.at,
                closed_at: None,
            });
            // Opened again (resumed with other attendees): the latest list counts.
            m.attendees = attendees;
            m.quorum = e.payload["quorum"].as_u64().map(|q| q as u32);
            m.closed_at = None;
        } else if let Some(m) = out.get_mut(&date) {
            m.closed_at = Some(e.at);
        }
    }
    Ok(out.into_values().collect())
}

/// The latest meeting of a line strictly before `date`.
pub fn previous_meeting(ledger: &Ledger, line: &str, date: NaiveDate) -> Result<Option<Meeting>> {
    Ok(meetings(ledger, line)?.into_iter().rfind(|m| m.date < date))
}

/// Canonical committee names for the given names or aliases. Unknown names are an error that
/// lists the committee.
pub fn committee_names(policy: &LoadedPolicy, names: &[String]) -> Result<Vec<String>> {
    let members = &policy.policy.committee.members;
    let mut out = Vec::new();
    for n in names {
        let found = members.iter().find(|m| {
            m.name.eq_ignore_ascii_case(n) || m.aliases.iter().any(|a| a.eq_ignore_ascii_case(n))
        });
        match found {
            Some(m) if !out.contains(&m.name) => out.push(m.name.clone()),
            Some(_) => {}
            None => {
                let list: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
                return Err(Error::input(format!("`{n}` is not on the committee"))
                    .hint(format!("the policy's committee: {}", list.join(", "))));
            }
        }
    }
    Ok(out)
}

/// Open the meeting of `date`, or resume it if it is open already (a crash or a second session
/// loses nothing). Returns the meeting and whether it was resumed. With attendees that differ
/// from a resumed meeting's, the new list is recorded.
pub fn open(
    ledger: &mut Ledger,
    policy: &LoadedPolicy,
    line: &str,
    date: NaiveDate,
    attendees: &[String],
    actor: &str,
) -> Result<(Meeting, bool)> {
    let attendees = committee_names(policy, attendees)?;
    let existing = meetings(ledger, line)?.into_iter().find(|m| m.date == date);
    if let Some(m) = &existing {
        if m.closed_at.is_none() && (attendees.is_empty() || attendees == m.attendees) {
            return Ok((m.clone(), true));
        }
    }
    let quorum = policy.policy.committee.quorum;
    ledger.append_all(
        policy,
        [NewEvent {
            ticket: None,
            line: Some(line.to_string()),
            kind: kind::MEETING_OPENED,
            source: source::LOCAL.into(),
            actor: Some(actor.to_string()),
            at: now(),
            meeting: Some(date),
            note: None,
            payload: json!({ "date": date.to_string(), "attendees": attendees, "quorum": quorum }),
            dedup_key: None,
        }],
    )?;
    let m = meetings(ledger, line)?
        .into_iter()
        .find(|m| m.date == date)
        .ok_or_else(|| Error::internal("the meeting was not recorded"))?;
    Ok((m, existing.is_some()))
}

/// Close a meeting (recording how many decisions it took).
pub fn close(ledger: &mut Ledger, policy: &LoadedPolicy, m: &Meeting, actor: &str) -> Result<()> {
    let decided = decisions_of(ledger, &m.line, m.date)?
        .iter()
        .filter(|(_, undone)| !undone)
        .count();
    ledger.append_all(
        policy,
        [NewEvent {
            ticket: None,
            line: Some(m.line.clone()),
            kind: kind::MEETING_CLOSED,
            source: source::LOCAL.into(),
            actor: Some(actor.to_string()),
            at: now(),
            meeting: Some(m.date),
            note: None,
            payload: json!({ "date": m.date.to_string(), "decisions": decided }),
            dedup_key: None,
        }],
    )?;
    Ok(())
}

/// The local decisions of a meeting, in order, each with whether it was taken back.
pub fn decisions_of(ledger: &Ledger, line: &str, date: NaiveDate) -> Result<Vec<(Event, bool)>> {
    let events = ledger.events_of_kinds(&[kind::DECISION, kind::DECISION_UNDONE])?;
    Ok(decisions_in(&events, line, date))
}

/// [`decisions_of`] from events already read (decisions and undos, in order).
pub fn decisions_in(events: &[Event], line: &str, date: NaiveDate) -> Vec<(Event, bool)> {
    let undone = undone_decisions(events);
    events
        .iter()
        .filter(|e| {
            e.kind == kind::DECISION
                && e.source == source::LOCAL
                && e.line.as_deref() == Some(line)
                && e.meeting == Some(date)
        })
        .map(|e| (e.clone(), undone.contains(&e.seq)))
        .collect()
}

/// Take back the meeting's last decision that still stands. Refused once it was written to the
/// tracker (record a new decision instead). Returns the decision taken back, if any.
pub fn undo_last(
    ledger: &mut Ledger,
    policy: &LoadedPolicy,
    m: &Meeting,
    actor: &str,
) -> Result<Option<Event>> {
    let Some((last, _)) = decisions_of(ledger, &m.line, m.date)?
        .into_iter()
        .rfind(|(e, undone)| !undone && e.actor.as_deref() != Some("portcullis"))
    else {
        return Ok(None);
    };
    let pushed = ledger
        .events_of_kinds(&[kind::PUSHED])?
        .iter()
        .any(|e| e.payload.get("decision_seq").and_then(Value::as_i64) == Some(last.seq));
    if pushed {
        return Err(Error::input(format!(
            "the {} of {} was already written to the tracker",
            last.payload["decision"].as_str().unwrap_or("decision"),
            last.ticket.as_deref().unwrap_or("?")
        ))
        .hint("record a new decision instead; it will be pushed as a change"));
    }
    ledger.append_all(
        policy,
        [NewEvent {
            ticket: last.ticket.clone(),
            line: last.line.clone(),
            kind: kind::DECISION_UNDONE,
            source: source::LOCAL.into(),
            actor: Some(actor.to_string()),
            at: now(),
            meeting: Some(m.date),
            note: None,
            payload: json!({ "undoes": last.seq }),
            dedup_key: Some(format!("undo:{}", last.seq)),
        }],
    )?;
    Ok(Some(last))
}

/// A note on a ticket, tied to the meeting if one is open.
pub fn note(
    ledger: &mut Ledger,
    policy: &LoadedPolicy,
    line: &str,
    meeting: Option<NaiveDate>,
    key: &str,
    text: &str,
    actor: &str,
) -> Result<()> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Error::input("a note needs some text"));
    }
    ledger.append_all(
        policy,
        [NewEvent {
            ticket: Some(key.to_string()),
            line: Some(line.to_string()),
            kind: kind::NOTE,
            source: source::LOCAL.into(),
            actor: Some(actor.to_string()),
            at: now(),
            meeting,
            note: Some(text.to_string()),
            payload: json!({}),
            dedup_key: None,
        }],
    )?;
    Ok(())
}

/// One decision in the minutes.
#[derive(Debug, Clone, Serialize)]
pub struct MinutesDecision {
    pub seq: i64,
    pub key: String,
    pub summary: String,
    pub decision: String,
    pub by: Option<String>,
    pub at: DateTime<Utc>,
    pub reason: Option<String>,
    pub until: Option<String>,
    /// `step coadd` or `release 23.0.2` for targeted approvals.
    pub target: Option<String>,
    /// Taken back during the meeting.
    pub undone: bool,
}

/// The record of a meeting.
#[derive(Debug, Clone, Serialize)]
pub struct Minutes {
    pub meeting: Meeting,
    pub decisions: Vec<MinutesDecision>,
    /// (ticket, who, text)
    pub notes: Vec<(String, Option<String>, String)>,
    /// Per decision kind, the decisions that stand.
    pub counts: BTreeMap<String, usize>,
}

/// The minutes of a line's meeting on `date` (default: the latest).
pub fn minutes(ledger: &Ledger, line: &str, date: Option<NaiveDate>) -> Result<Minutes> {
    let all = meetings(ledger, line)?;
    let meeting = match date {
        Some(d) => all.into_iter().find(|m| m.date == d).ok_or_else(|| {
            Error::input(format!("no meeting of {line} on {d}"))
                .hint("`portcullis minutes` without --meeting shows the latest one")
        })?,
        None => all.into_iter().next_back().ok_or_else(|| {
            Error::input(format!("{line} has had no meeting yet"))
                .hint("meetings are held with `portcullis triage`")
        })?,
    };
    let summaries: BTreeMap<String, String> = ledger
        .ticket_briefs()?
        .into_iter()
        .map(|(k, b)| (k, b.summary))
        .collect();
    let mut decisions = Vec::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for (e, undone) in decisions_of(ledger, line, meeting.date)? {
        let key = e.ticket.clone().unwrap_or_default();
        let decision = e.payload["decision"].as_str().unwrap_or("?").to_string();
        if !undone {
            *counts.entry(decision.clone()).or_default() += 1;
        }
        let target = match &e.payload["target"] {
            Value::Object(t) => t
                .get("step")
                .and_then(Value::as_str)
                .map(|s| format!("step {s}"))
                .or_else(|| {
                    t.get("release")
                        .and_then(Value::as_str)
                        .map(|r| format!("release {r}"))
                }),
            _ => None,
        };
        decisions.push(MinutesDecision {
            seq: e.seq,
            summary: summaries.get(&key).cloned().unwrap_or_default(),
            key,
            decision,
            by: e.actor.clone(),
            at: e.at,
            reason: e.note.clone(),
            until: e.payload["until"].as_str().map(str::to_string),
            target,
            undone,
        });
    }
    let notes = ledger
        .events_of_kinds(&[kind::NOTE])?
        .into_iter()
        .filter(|e| e.line.as_deref() == Some(line) && e.meeting == Some(meeting.date))
        .map(|e| {
            (
                e.ticket.unwrap_or_default(),
                e.actor,
                e.note.unwrap_or_default(),
            )
        })
        .collect();
    Ok(Minutes {
        meeting,
        decisions,
        notes,
        counts,
    })
}

/// The minutes as Markdown.
pub fn render_minutes_md(m: &Minutes) -> String {
    let mt = &m.meeting;
    let mut s = format!(
        "# Backport committee, {} ({}), {}\n\n",
        mt.line,
        mt.date,
        if mt.closed_at.is_some() {
            "closed"
        } else {
            "still open"
        }
    );
    s.push_str(&format!(
        "**Attendees:** {}\n",
        if mt.attendees.is_empty() {
            "(none recorded)".to_string()
        } else {
            mt.attendees.join(", ")
        }
    ));
    if let (Some(q), Some(ok)) = (mt.quorum, mt.quorate()) {
        s.push_str(&format!(
            "**Quorum:** {q} ({})\n",
            if ok { "met" } else { "NOT met" }
        ));
    }
    if let Some(c) = &mt.chair {
        s.push_str(&format!("**Chair:** {c}\n"));
    }
    let standing: Vec<&MinutesDecision> = m.decisions.iter().filter(|d| !d.undone).collect();
    let total: usize = m.counts.values().sum();
    let counts: Vec<String> = m.counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
    s.push_str(&format!(
        "\n## Decisions ({total}{})\n\n",
        if counts.is_empty() {
            String::new()
        } else {
            format!(": {}", counts.join(", "))
        }
    ));
    if standing.is_empty() {
        s.push_str("None.\n");
    }
    for d in &standing {
        let mut line = format!("- **{}** {}: {}", d.decision, d.key, d.summary);
        if let Some(t) = &d.target {
            line.push_str(&format!(" (for {t})"));
        }
        if let Some(u) = &d.until {
            line.push_str(&format!(" (until {u})"));
        }
        if let Some(r) = &d.reason {
            line.push_str(&format!(". Reason: {r}"));
        }
        if let Some(b) = &d.by {
            line.push_str(&format!(" [{b}]"));
        }
        s.push_str(&line);
        s.push('\n');
    }
    let deferred: Vec<&&MinutesDecision> =
        standing.iter().filter(|d| d.decision == "defer").collect();
    if !deferred.is_empty() {
        s.push_str("\n## Deferred\n\n");
        for d in deferred {
            s.push_str(&format!(
                "- {} until {}\n",
                d.key,
                d.until.as_deref().unwrap_or("the next meeting")
            ));
        }
    }
    let undone: Vec<&MinutesDecision> = m.decisions.iter().filter(|d| d.undone).collect();
    if !undone.is_empty() {
        s.push_str("\n## Taken back during the meeting\n\n");
        for d in undone {
            s.push_str(&format!("- {} {} (event {})\n", d.decision, d.key, d.seq));
        }
    }
    if !m.notes.is_empty() {
        s.push_str("\n## Notes\n\n");
        for (k, who, text) in &m.notes {
            s.push_str(&format!(
                "- {k}: {text}{}\n",
                who.as_deref()
                    .map(|w| format!(" [{w}]"))
                    .unwrap_or_default()
            ));
        }
    }
    s
}
