//! Committee meetings: sittings opened with a date and attendees, who arrives and leaves, the
//! decisions tied to them, quorum and ratification, taking back a sitting's last decision,
//! notes on tickets, the queue, and the minutes. This is the one meeting rule of portcullis:
//! the CLI, the triage screen, the bot and push all ask it.
//!
//! - A meeting is identified by line, date and **sitting** (1, 2, …): `meeting.opened` /
//!   `meeting.closed` events with the date in their `meeting` column and `sitting` in the
//!   payload (events from before sittings are sitting 1). A closed sitting stays closed: opening
//!   the same day again is a new sitting with its own attendees. A line has at most one open
//!   sitting.
//! - Arrivals and departures during a sitting are `meeting.joined` / `meeting.left` events;
//!   attendance at a decision's time is what counts.
//! - A decision belongs to the open sitting of its line, whatever its date; without one it is
//!   **out of meeting** (no meeting date, payload `out_of_meeting`), and final.
//! - In a sitting, a committee decision is credited only to an attending member, and it is
//!   **provisional** while attendance is below the policy's quorum: shown, but neither counted
//!   nor pushed until a quorate sitting ratifies it ([`ratify`], `decision.ratified` events).
//!   Taking a decision back appends a `decision.undone` event: the decision stays in the log,
//!   the derivation skips it.
//!
//! Sittings and attendance are here; the queue, deferral and ratification rules are in
//! `rules`, the minutes in `minutes`.

mod minutes;
pub mod publish;
mod rules;

pub use minutes::{minutes, render_minutes_md, Minutes, MinutesDecision, SittingMinutes};
pub use rules::{
    awaiting_ratification, check_defer_until, in_queue, next_meeting_date, queue, ratify,
};

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use crate::{Error, Result};
use portcullis_core::event::{
    is_out_of_meeting, kind, sitting_of, source, undone_decisions, Event, NewEvent,
};
use portcullis_core::policy::LoadedPolicy;
use portcullis_core::time::now;
use portcullis_ledger::Ledger;

/// A member arriving or leaving during a sitting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttendanceChange {
    pub who: String,
    /// True for an arrival, false for a departure.
    pub joined: bool,
    pub at: DateTime<Utc>,
    pub seq: i64,
}

/// One sitting of a committee meeting of one release line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Meeting {
    pub line: String,
    pub date: NaiveDate,
    /// 1 for the day's first sitting, 2 for one opened after it was closed, …
    pub sitting: u32,
    /// Who attended when it opened (see [`Meeting::attending`] for later changes).
    pub attendees: Vec<String>,
    /// Arrivals and departures since, in order.
    pub changes: Vec<AttendanceChange>,
    /// How many members must attend, if the policy says.
    pub quorum: Option<u32>,
    /// Who opened it (one of the attendees).
    pub chair: Option<String>,
    pub opened_seq: i64,
    pub opened_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

impl Meeting {
    /// Whether enough members attend now (`None` when the policy sets no quorum).
    pub fn quorate(&self) -> Option<bool> {
        self.quorum.map(|q| self.attending().len() as u32 >= q)
    }

    /// Whether enough members attended just before event `seq`.
    pub fn quorate_before(&self, seq: i64) -> Option<bool> {
        self.quorum
            .map(|q| self.attending_before(seq).len() as u32 >= q)
    }

    /// Who attends now.
    pub fn attending(&self) -> Vec<String> {
        self.attending_before(i64::MAX)
    }

    /// Who attended just before event `seq` (attendance at a decision's time).
    pub fn attending_before(&self, seq: i64) -> Vec<String> {
        let mut now = self.attendees.clone();
        for c in self.changes.iter().filter(|c| c.seq < seq) {
            if c.joined {
                if !now.contains(&c.who) {
                    now.push(c.who.clone());
                }
            } else {
                now.retain(|w| w != &c.who);
            }
        }
        now
    }

    pub fn is_open(&self) -> bool {
        self.closed_at.is_none()
    }

    /// "the meeting of 2026-11-24", with "(sitting 2)" after the first sitting.
    pub fn name(&self) -> String {
        sitting_name(self.date, self.sitting)
    }
}

/// "the meeting of 2026-11-24", with "(sitting 2)" after the first sitting: how every view
/// names a sitting.
pub fn sitting_name(date: NaiveDate, sitting: u32) -> String {
    if sitting > 1 {
        format!("the meeting of {date} (sitting {sitting})")
    } else {
        format!("the meeting of {date}")
    }
}

/// Every sitting of a line, by date then sitting.
pub fn meetings(ledger: &Ledger, line: &str) -> Result<Vec<Meeting>> {
    let events = ledger.events_of_kinds(&[
        kind::MEETING_OPENED,
        kind::MEETING_CLOSED,
        kind::MEETING_JOINED,
        kind::MEETING_LEFT,
    ])?;
    Ok(meetings_in(&events, line))
}

/// [`meetings`] from events already read (the four meeting kinds, in order).
pub fn meetings_in(events: &[Event], line: &str) -> Vec<Meeting> {
    let mut out: BTreeMap<(NaiveDate, u32), Meeting> = BTreeMap::new();
    for e in events {
        if e.line.as_deref() != Some(line) {
            continue;
        }
        let Some(date) = e.meeting else { continue };
        let sitting = sitting_of(e);
        match e.kind.as_str() {
            kind::MEETING_OPENED => {
                let attendees = names(&e.payload["attendees"]);
                let m = out.entry((date, sitting)).or_insert_with(|| Meeting {
                    line: line.to_string(),
                    date,
                    sitting,
                    attendees: Vec::new(),
                    changes: Vec::new(),
                    quorum: None,
                    chair: e
                        .payload
                        .get("chair")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .or_else(|| e.actor.clone()),
                    opened_seq: e.seq,
                    opened_at: e.at,
                    closed_at: None,
                });
                // Ledgers from before sittings may open a sitting again (resumed with other
                // attendees): the latest list counts.
                m.attendees = attendees;
                m.quorum = e.payload["quorum"].as_u64().map(|q| q as u32);
                m.closed_at = None;
            }
            kind::MEETING_CLOSED => {
                if let Some(m) = out.get_mut(&(date, sitting)) {
                    m.closed_at = Some(e.at);
                }
            }
            kind::MEETING_JOINED | kind::MEETING_LEFT => {
                if let (Some(m), Some(who)) = (
                    out.get_mut(&(date, sitting)),
                    e.payload.get("who").and_then(Value::as_str),
                ) {
                    m.changes.push(AttendanceChange {
                        who: who.to_string(),
                        joined: e.kind == kind::MEETING_JOINED,
                        at: e.at,
                        seq: e.seq,
                    });
                }
            }
            _ => {}
        }
    }
    out.into_values().collect()
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The open sitting of a line, if any (with ledgers from before sittings, where several could
/// be left open, the one opened last).
pub fn open_sitting(ledger: &Ledger, line: &str) -> Result<Option<Meeting>> {
    Ok(meetings(ledger, line)?
        .into_iter()
        .filter(Meeting::is_open)
        .max_by_key(|m| m.opened_seq))
}

/// The latest meeting of a line strictly before `date` (recorded sittings only: decisions
/// recorded elsewhere never move it).
pub fn previous_meeting(ledger: &Ledger, line: &str, date: NaiveDate) -> Result<Option<Meeting>> {
    Ok(meetings(ledger, line)?.into_iter().rfind(|m| m.date < date))
}

/// The committee member a name or alias names, if any.
pub fn member_name(policy: &LoadedPolicy, name: &str) -> Option<String> {
    policy
        .policy
        .committee
        .members
        .iter()
        .find(|m| {
            m.name.eq_ignore_ascii_case(name)
                || m.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
        })
        .map(|m| m.name.clone())
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

/// Open a sitting of `date`, or resume the line's open sitting of that date (a crash or a
/// second session loses nothing). Returns the sitting and whether it was resumed.
///
/// - A closed sitting stays closed: the same day again is a new sitting (2, 3, …) with its own
///   attendees.
/// - Resuming with an attendee list that differs from who attends now records the arrivals and
///   departures (`meeting.joined` / `meeting.left`).
/// - The chair is `actor`, who must be one of the attendees (refused otherwise: portcullis
///   does not record someone as present because they opened the screen).
/// - A line has one open sitting at a time: opening another date while one is open is refused.
pub fn open(
    ledger: &mut Ledger,
    policy: &LoadedPolicy,
    line: &str,
    date: NaiveDate,
    attendees: &[String],
    actor: &str,
) -> Result<(Meeting, bool)> {
    let attendees = committee_names(policy, attendees)?;
    let all = meetings(ledger, line)?;
    if let Some(m) = all
        .iter()
        .filter(|m| m.is_open())
        .max_by_key(|m| m.opened_seq)
    {
        if m.date != date {
            return Err(Error::input(format!(
                "{} of {line} is still open",
                m.name()
            ))
            .hint(format!(
                "close it first (`portcullis meeting close`), or resume it with `portcullis triage --date {}`",
                m.date
            )));
        }
        let now_attending = m.attending();
        if !attendees.is_empty() && sorted(&attendees) != sorted(&now_attending) {
            let mut changes = Vec::new();
            for who in attendees.iter().filter(|w| !now_attending.contains(w)) {
                changes.push(attendance_event(m, who, true, actor));
            }
            for who in now_attending.iter().filter(|w| !attendees.contains(w)) {
                changes.push(attendance_event(m, who, false, actor));
            }
            ledger.append_all(policy, changes)?;
        }
        let m = reread(ledger, line, m.date, m.sitting)?;
        return Ok((m, true));
    }
    let chair = member_name(policy, actor);
    if !chair.as_ref().is_some_and(|c| attendees.contains(c)) {
        return Err(Error::input(format!(
            "the chair must attend: {actor} is not among the attendees"
        ))
        .hint(format!(
            "add --attendee \"{actor}\" if they attend, or open the meeting as (--as) one of the attendees"
        )));
    }
    let sitting = all
        .iter()
        .filter(|m| m.date == date)
        .map(|m| m.sitting)
        .max()
        .map_or(1, |n| n + 1);
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
            payload: json!({
                "date": date.to_string(),
                "sitting": sitting,
                "attendees": attendees,
                "quorum": quorum,
                "chair": chair,
            }),
            dedup_key: None,
        }],
    )?;
    Ok((reread(ledger, line, date, sitting)?, false))
}

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v
}

/// A sitting as recorded now.
fn reread(ledger: &Ledger, line: &str, date: NaiveDate, sitting: u32) -> Result<Meeting> {
    meetings(ledger, line)?
        .into_iter()
        .find(|m| m.date == date && m.sitting == sitting)
        .ok_or_else(|| Error::internal("the meeting was not recorded"))
}

fn attendance_event(m: &Meeting, who: &str, joined: bool, actor: &str) -> NewEvent {
    NewEvent {
        ticket: None,
        line: Some(m.line.clone()),
        kind: if joined {
            kind::MEETING_JOINED
        } else {
            kind::MEETING_LEFT
        },
        source: source::LOCAL.into(),
        actor: Some(actor.to_string()),
        at: now(),
        meeting: Some(m.date),
        note: None,
        payload: json!({ "date": m.date.to_string(), "sitting": m.sitting, "who": who }),
        dedup_key: None,
    }
}

/// Record that a member arrived (`joined`) or left the line's open sitting. Returns the
/// sitting as it is now.
pub fn attend(
    ledger: &mut Ledger,
    policy: &LoadedPolicy,
    line: &str,
    who: &str,
    joined: bool,
    actor: &str,
) -> Result<Meeting> {
    let who = committee_names(policy, &[who.to_string()])?
        .pop()
        .ok_or_else(|| Error::input("name a committee member"))?;
    let m = open_sitting(ledger, line)?.ok_or_else(no_open_sitting(line))?;
    let attending = m.attending();
    if joined && attending.contains(&who) {
        return Err(Error::input(format!("{who} already attends {}", m.name())));
    }
    if !joined && !attending.contains(&who) {
        return Err(Error::input(format!("{who} does not attend {}", m.name()))
            .hint(format!("attending: {}", attending.join(", "))));
    }
    ledger.append_all(policy, [attendance_event(&m, &who, joined, actor)])?;
    reread(ledger, line, m.date, m.sitting)
}

fn no_open_sitting(line: &str) -> impl FnOnce() -> Error + '_ {
    move || {
        Error::input(format!("no meeting of {line} is open")).hint(
            "open one with `portcullis meeting open --attendee NAME …` or `portcullis triage`",
        )
    }
}

/// Close a sitting (recording how many decisions it took).
pub fn close(ledger: &mut Ledger, policy: &LoadedPolicy, m: &Meeting, actor: &str) -> Result<()> {
    let decided = decisions_of(ledger, m)?
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
            payload: json!({
                "date": m.date.to_string(),
                "sitting": m.sitting,
                "decisions": decided,
            }),
            dedup_key: None,
        }],
    )?;
    Ok(())
}

/// The local decisions of a sitting, in order, each with whether it was taken back.
pub fn decisions_of(ledger: &Ledger, m: &Meeting) -> Result<Vec<(Event, bool)>> {
    let events = ledger.events_of_kinds(&[kind::DECISION, kind::DECISION_UNDONE])?;
    Ok(decisions_in(&events, m))
}

/// [`decisions_of`] from events already read (decisions and undos, in order).
pub fn decisions_in(events: &[Event], m: &Meeting) -> Vec<(Event, bool)> {
    let undone = undone_decisions(events);
    events
        .iter()
        .filter(|e| {
            e.kind == kind::DECISION
                && e.source == source::LOCAL
                && e.line.as_deref() == Some(m.line.as_str())
                && e.meeting == Some(m.date)
                && !is_out_of_meeting(e)
                && sitting_of(e) == m.sitting
        })
        .map(|e| (e.clone(), undone.contains(&e.seq)))
        .collect()
}

/// Take back the sitting's last decision that still stands. Refused once it was written to the
/// tracker (record a new decision instead). Returns the decision taken back, if any.
pub fn undo_last(
    ledger: &mut Ledger,
    policy: &LoadedPolicy,
    m: &Meeting,
    actor: &str,
) -> Result<Option<Event>> {
    let Some((last, _)) = decisions_of(ledger, m)?
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

/// Refuse a committee act by someone who does not attend the sitting.
pub fn check_attending(policy: &LoadedPolicy, m: &Meeting, actor: &str) -> Result<String> {
    let attending = m.attending();
    match member_name(policy, actor) {
        Some(name) if attending.contains(&name) => Ok(name),
        _ => Err(Error::input(format!(
            "{actor} does not attend {}: a decision is credited only to an attending member",
            m.name()
        ))
        .hint(format!(
            "attending: {}; `portcullis meeting join NAME` records an arrival",
            if attending.is_empty() {
                "nobody".to_string()
            } else {
                attending.join(", ")
            }
        ))),
    }
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
    // A member is recorded under their committee name, whichever alias was typed.
    let actor = member_name(policy, actor).unwrap_or_else(|| actor.to_string());
    ledger.append_all(
        policy,
        [NewEvent {
            ticket: Some(key.to_string()),
            line: Some(line.to_string()),
            kind: kind::NOTE,
            source: source::LOCAL.into(),
            actor: Some(actor),
            at: now(),
            meeting,
            note: Some(text.to_string()),
            payload: json!({}),
            dedup_key: None,
        }],
    )?;
    Ok(())
}
