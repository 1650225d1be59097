//! The minutes of a meeting day: each sitting's attendance, quorum and chair, the decisions of
//! all of them (provisional, ratified, taken back), the notes, and the Markdown of it all.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;

use super::{meetings, Meeting};
use crate::{Error, Result};
use portcullis_core::event::{
    is_out_of_meeting, is_provisional, key_order, kind, ratified_decisions, sitting_of, source,
    undone_decisions, Event,
};
use portcullis_ledger::Ledger;

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
    /// The sitting it was taken in.
    pub sitting: u32,
    /// Recorded below quorum.
    pub provisional: bool,
    /// For a provisional decision ratified since: the ratifying sitting ("the meeting of …").
    pub ratified_in: Option<String>,
}

/// One sitting in the minutes.
#[derive(Debug, Clone, Serialize)]
pub struct SittingMinutes {
    pub meeting: Meeting,
    /// Who attended when it closed (or now).
    pub attending: Vec<String>,
    /// Provisional decisions of earlier sittings this one ratified: (seq, ticket, decision).
    pub ratified: Vec<(i64, String, String)>,
}

/// The record of a meeting day: each sitting, and the decisions of all of them.
#[derive(Debug, Clone, Serialize)]
pub struct Minutes {
    /// The day's latest sitting.
    pub meeting: Meeting,
    /// Every sitting of the day, in order.
    pub sittings: Vec<SittingMinutes>,
    pub decisions: Vec<MinutesDecision>,
    /// (ticket, who, text)
    pub notes: Vec<(String, Option<String>, String)>,
    /// Per decision kind, the decisions that stand.
    pub counts: BTreeMap<String, usize>,
}

/// The minutes of a line's meeting on `date` (default: the latest), all its sittings.
pub fn minutes(ledger: &Ledger, line: &str, date: Option<NaiveDate>) -> Result<Minutes> {
    let all = meetings(ledger, line)?;
    let date = match date {
        Some(d) if all.iter().any(|m| m.date == d) => d,
        Some(d) => {
            return Err(Error::input(format!("no meeting of {line} on {d}"))
                .hint("`portcullis minutes` without --meeting shows the latest one"))
        }
        None => all.iter().map(|m| m.date).max().ok_or_else(|| {
            Error::input(format!("{line} has had no meeting yet"))
                .hint("meetings are held with `portcullis triage`")
        })?,
    };
    let day: Vec<Meeting> = all.into_iter().filter(|m| m.date == date).collect();
    let summaries: BTreeMap<String, String> = ledger
        .ticket_briefs()?
        .into_iter()
        .map(|(k, b)| (k, b.summary))
        .collect();
    let events = ledger.events_of_kinds(&[
        kind::DECISION,
        kind::DECISION_UNDONE,
        kind::DECISION_RATIFIED,
    ])?;
    let ratified = ratified_decisions(&events);
    let mut decisions = Vec::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut sittings = Vec::new();
    for m in &day {
        for (e, undone) in minutes_decisions(&events, m) {
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
            let ratified_in = ratified.get(&e.seq).map(|r| match r.date {
                Some(d) => super::sitting_name(d, r.sitting),
                None => "a later meeting".to_string(),
            });
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
                sitting: m.sitting,
                provisional: is_provisional(&e),
                ratified_in,
            });
        }
        let mine: Vec<(i64, String, String)> = events
            .iter()
            .filter(|r| {
                r.kind == kind::DECISION_RATIFIED
                    && r.line.as_deref() == Some(line)
                    && r.meeting == Some(m.date)
                    && sitting_of(r) == m.sitting
            })
            .flat_map(|r| {
                r.payload["ratifies"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|v| v.as_i64())
            })
            // Decisions read back from their records carry the sitting that ratified them.
            .chain(
                ratified
                    .iter()
                    .filter(|(seq, r)| {
                        r.seq == **seq
                            && r.date == Some(m.date)
                            && r.sitting == m.sitting
                            && events
                                .iter()
                                .any(|e| e.seq == **seq && e.line.as_deref() == Some(line))
                    })
                    .map(|(seq, _)| *seq),
            )
            .filter_map(|seq| {
                let d = events.iter().find(|e| e.seq == seq)?;
                Some((
                    seq,
                    d.ticket.clone().unwrap_or_default(),
                    d.payload["decision"].as_str().unwrap_or("?").to_string(),
                ))
            })
            .collect();
        sittings.push(SittingMinutes {
            meeting: m.clone(),
            attending: m.attending(),
            ratified: mine,
        });
    }
    let notes = ledger
        .events_of_kinds(&[kind::NOTE])?
        .into_iter()
        .filter(|e| e.line.as_deref() == Some(line) && e.meeting == Some(date))
        .map(|e| {
            (
                e.ticket.unwrap_or_default(),
                e.actor,
                e.note.unwrap_or_default(),
            )
        })
        .collect();
    let meeting = day
        .last()
        .cloned()
        .ok_or_else(|| Error::internal("a meeting day without sittings"))?;
    Ok(Minutes {
        meeting,
        sittings,
        decisions,
        notes,
        counts,
    })
}

/// The decisions the minutes list for a sitting, in order, each with whether it was taken back:
/// those taken in this workspace, and those of the same sitting that another workspace took
/// and this one read back from the trackers' decision records (they were taken in that
/// meeting too). Decisions derived from label changes alone, and out-of-meeting decisions, are
/// not minutes.
fn minutes_decisions(events: &[Event], m: &Meeting) -> Vec<(Event, bool)> {
    let undone = undone_decisions(events);
    // Undo records name the origin's event hash of the decision they take back.
    let undone_hashes: Vec<&str> = events
        .iter()
        .filter(|e| e.kind == kind::DECISION_UNDONE)
        .filter_map(|e| e.payload.get("undoes_event").and_then(Value::as_str))
        .collect();
    let mut out = events
        .iter()
        .filter(|e| {
            e.kind == kind::DECISION
                && (e.source == source::LOCAL || e.payload.get("record").is_some())
                && e.line.as_deref() == Some(m.line.as_str())
                && e.meeting == Some(m.date)
                && !is_out_of_meeting(e)
                && sitting_of(e) == m.sitting
        })
        .map(|e| {
            let origin = e.payload["record"]["event"].as_str();
            let taken_back =
                undone.contains(&e.seq) || origin.is_some_and(|h| undone_hashes.contains(&h));
            (e.clone(), taken_back)
        })
        .collect::<Vec<_>>();
    // In the order they were taken, the same on every workspace: decisions read back from the
    // tracker enter a ledger in the order sync meets them, and carry their original time;
    // decisions of the same millisecond go by ticket.
    out.sort_by(|(a, _), (b, _)| {
        a.at.cmp(&b.at)
            .then_with(|| {
                key_order(
                    a.ticket.as_deref().unwrap_or(""),
                    b.ticket.as_deref().unwrap_or(""),
                )
            })
            .then(a.seq.cmp(&b.seq))
    });
    out
}

/// A sitting's attendance, quorum, chair, arrivals and departures, as Markdown lines.
fn render_sitting(s: &mut String, sm: &SittingMinutes) {
    let mt = &sm.meeting;
    s.push_str(&format!(
        "**Attendees:** {}\n",
        if mt.attendees.is_empty() {
            "(none recorded)".to_string()
        } else {
            mt.attendees.join(", ")
        }
    ));
    for c in &mt.changes {
        s.push_str(&format!(
            "**{}:** {} at {}\n",
            if c.joined { "Joined" } else { "Left" },
            c.who,
            c.at.format("%H:%M UTC")
        ));
    }
    if let (Some(q), Some(ok)) = (mt.quorum, mt.quorate()) {
        s.push_str(&format!(
            "**Quorum:** {q} ({})\n",
            if ok {
                "met"
            } else {
                "NOT met: its decisions are provisional"
            }
        ));
    }
    if let Some(c) = &mt.chair {
        s.push_str(&format!("**Chair:** {c}\n"));
    }
    for (seq, key, decision) in &sm.ratified {
        s.push_str(&format!(
            "**Ratified:** {decision} {key} (event {seq}, provisional until now)\n"
        ));
    }
}

/// The minutes as Markdown.
pub fn render_minutes_md(m: &Minutes) -> String {
    let mt = &m.meeting;
    let open = m.sittings.iter().any(|x| x.meeting.is_open());
    let mut s = format!(
        "# Backport committee, {} ({}), {}\n\n",
        mt.line,
        mt.date,
        if open { "still open" } else { "closed" }
    );
    let several = m.sittings.len() > 1;
    if several {
        for sm in &m.sittings {
            s.push_str(&format!(
                "## Sitting {} ({})\n\n",
                sm.meeting.sitting,
                if sm.meeting.is_open() {
                    "still open"
                } else {
                    "closed"
                }
            ));
            render_sitting(&mut s, sm);
            s.push('\n');
        }
    } else if let Some(sm) = m.sittings.first() {
        render_sitting(&mut s, sm);
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
        if d.provisional {
            match &d.ratified_in {
                Some(r) => line.push_str(&format!(" (provisional, ratified in {r})")),
                None => line.push_str(" (provisional: below quorum, not ratified)"),
            }
        }
        if several {
            line.push_str(&format!(" (sitting {})", d.sitting));
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
