//! Named read queries that the operations and front ends need beyond the event log's own
//! accessors. Every query here has a name (the method's), which an SQLite error reports.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use portcullis_core::time::parse_utc;
use portcullis_core::workflow::State;

use crate::{Ledger, Named, Result};

/// A ticket's summary and assignee, as last observed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketBrief {
    pub summary: String,
    pub assignee: Option<String>,
}

/// A ticket's derived state on a line, with the fields of the ticket the screens show.
#[derive(Debug, Clone, PartialEq)]
pub struct LineTicket {
    pub ticket: String,
    pub summary: String,
    pub state: State,
    pub requested_by: Option<String>,
    pub requested_at: Option<DateTime<Utc>>,
    pub approved_at: Option<DateTime<Utc>>,
    /// The ticket's components (for Jira) or repository (for GitHub): where it touched code.
    pub components: Vec<String>,
    pub deferred_until: Option<NaiveDate>,
    pub request_count: u32,
    /// When the current state began.
    pub since: Option<DateTime<Utc>>,
}

/// An event of the kinds a digest or the triage screen's "since" view lists: new requests,
/// decisions, landings and drift.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityRow {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub ticket: Option<String>,
    pub kind: String,
    pub actor: Option<String>,
    pub payload: Value,
    pub note: Option<String>,
}

fn time(s: Option<String>) -> Option<DateTime<Utc>> {
    s.as_deref().and_then(parse_utc)
}

fn activity_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<ActivityRow>> {
    let at: String = r.get(1)?;
    let payload: String = r.get(5)?;
    Ok(parse_utc(&at).map(|at| ActivityRow {
        seq: r.get(0).unwrap_or_default(),
        at,
        ticket: r.get(2).unwrap_or_default(),
        kind: r.get(3).unwrap_or_default(),
        actor: r.get(4).unwrap_or_default(),
        payload: serde_json::from_str(&payload).unwrap_or(Value::Null),
        note: r.get(6).unwrap_or_default(),
    }))
}

impl Ledger {
    /// Query `has_event_of_kind`: whether `ticket` has any event of `kind`.
    pub fn has_event_of_kind(&self, ticket: &str, kind: &str) -> Result<bool> {
        self.conn
            .prepare_cached("SELECT EXISTS(SELECT 1 FROM events WHERE ticket = ?1 AND kind = ?2)")
            .and_then(|mut s| s.query_row(rusqlite::params![ticket, kind], |r| r.get(0)))
            .named("has_event_of_kind")
    }

    /// Query `tickets_with_event_from`: the tickets with an event of `kind` from `source` (e.g.
    /// the tickets a sync observed in GitHub).
    pub fn tickets_with_event_from(&self, kind: &str, source: &str) -> Result<BTreeSet<String>> {
        self.conn
            .prepare(
                "SELECT DISTINCT ticket FROM events WHERE kind = ?1 AND source = ?2 AND ticket IS NOT NULL",
            )
            .and_then(|mut s| {
                s.query_map(rusqlite::params![kind, source], |r| r.get(0))?
                    .collect::<rusqlite::Result<BTreeSet<String>>>()
            })
            .named("tickets_with_event_from")
    }

    /// Query `open_violation_count`: violations not resolved.
    pub fn open_violation_count(&self) -> Result<usize> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FROM violations WHERE resolved_by IS NULL",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as usize)
            .named("open_violation_count")
    }

    /// Query `max_seq`: the sequence number of the newest event (0 for an empty ledger).
    pub fn max_seq(&self) -> Result<i64> {
        self.conn
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))
            .named("max_seq")
    }

    /// Query `ticket_briefs`: every ticket's summary and assignee.
    pub fn ticket_briefs(&self) -> Result<BTreeMap<String, TicketBrief>> {
        self.conn
            .prepare("SELECT key, COALESCE(summary, ''), assignee FROM tickets")
            .and_then(|mut s| {
                s.query_map([], |r| {
                    Ok((
                        r.get(0)?,
                        TicketBrief {
                            summary: r.get(1)?,
                            assignee: r.get(2)?,
                        },
                    ))
                })?
                .collect()
            })
            .named("ticket_briefs")
    }

    /// Query `line_tickets`: the tickets of `line` in one of `states` (all when empty), with
    /// their summaries and components.
    pub fn line_tickets(&self, line: &str, states: &[State]) -> Result<Vec<LineTicket>> {
        let wanted: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
        self.conn
            .prepare(
                "SELECT s.ticket, COALESCE(t.summary, ''), s.state, s.requested_by, s.requested_at,
                        s.approved_at, COALESCE(t.components, '[]'), s.deferred_until, s.request_count,
                        s.since
                 FROM line_states s LEFT JOIN tickets t ON t.key = s.ticket
                 WHERE s.line = ?1 ORDER BY s.ticket",
            )
            .and_then(|mut s| {
                s.query_map([line], |r| {
                    let state: String = r.get(2)?;
                    let comps: String = r.get(6)?;
                    let until: Option<String> = r.get(7)?;
                    Ok(LineTicket {
                        ticket: r.get(0)?,
                        summary: r.get(1)?,
                        state: State::parse(&state).unwrap_or(State::None),
                        requested_by: r.get(3)?,
                        requested_at: time(r.get(4)?),
                        approved_at: time(r.get(5)?),
                        components: serde_json::from_str(&comps).unwrap_or_default(),
                        deferred_until: until.and_then(|u| u.parse().ok()),
                        request_count: r.get::<_, Option<u32>>(8)?.unwrap_or(1),
                        since: time(r.get(9)?),
                    })
                })?
                .collect::<rusqlite::Result<Vec<LineTicket>>>()
            })
            .named("line_tickets")
            .map(|mut v| {
                if !wanted.is_empty() {
                    v.retain(|t| wanted.contains(&t.state.as_str()));
                }
                v
            })
    }

    /// Query `latest_decision_meeting_before`: the latest meeting date before `date` under which
    /// a local decision on `line` was recorded.
    pub fn latest_decision_meeting_before(
        &self,
        line: &str,
        date: NaiveDate,
    ) -> Result<Option<NaiveDate>> {
        self.conn
            .query_row(
                "SELECT MAX(meeting) FROM events WHERE kind = 'decision' AND source = 'local'
                 AND line = ?1 AND meeting < ?2",
                rusqlite::params![line, date.to_string()],
                |r| r.get::<_, Option<String>>(0),
            )
            .named("latest_decision_meeting_before")
            .map(|d| d.and_then(|s| s.parse().ok()))
    }

    /// Query `decisions_on_line`: (ticket, decision, time) of every decision on `line` that was
    /// not taken back, oldest first.
    pub fn decisions_on_line(&self, line: &str) -> Result<Vec<(String, String, DateTime<Utc>)>> {
        self.conn
            .prepare(
                "SELECT e.ticket, json_extract(e.payload, '$.decision'), e.at FROM events e
                 WHERE e.kind = 'decision' AND e.line = ?1 AND e.ticket IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM events u WHERE u.kind = 'decision.undone'
                                   AND json_extract(u.payload, '$.undoes') = e.seq)
                 ORDER BY e.seq",
            )
            .and_then(|mut s| {
                s.query_map([line], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .named("decisions_on_line")
            .map(|rows| {
                rows.into_iter()
                    .filter_map(|(t, d, at)| Some((t, d?, parse_utc(&at)?)))
                    .collect()
            })
    }

    /// Query `digest_activity`: the activity on `line` with sequence numbers in
    /// `(after_seq, upto_seq]` and times at or after `from_time`, without decisions taken back,
    /// oldest first. Label additions only of the line's request label.
    pub fn digest_activity(
        &self,
        line: &str,
        request_label: &str,
        after_seq: i64,
        upto_seq: i64,
        from_time: Option<&str>,
    ) -> Result<Vec<ActivityRow>> {
        self.conn
            .prepare(
                "SELECT e.seq, e.at, e.ticket, e.kind, e.actor, e.payload, e.note FROM events e
                 WHERE e.seq > ?1 AND e.seq <= ?2 AND (?3 IS NULL OR e.at >= ?3)
                   AND (e.line IS NULL OR e.line = ?4)
                   AND e.kind IN ('label.added', 'decision', 'landing', 'drift.found', 'drift.cleared')
                   AND (e.kind <> 'label.added' OR json_extract(e.payload, '$.label') = ?5)
                   AND NOT EXISTS (SELECT 1 FROM events u WHERE u.kind = 'decision.undone'
                                   AND json_extract(u.payload, '$.undoes') = e.seq)
                 ORDER BY e.seq",
            )
            .and_then(|mut s| {
                s.query_map(
                    rusqlite::params![after_seq, upto_seq, from_time, line, request_label],
                    activity_row,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .named("digest_activity")
            .map(|v| v.into_iter().flatten().collect())
    }

    /// Query `recent_activity`: the activity on `line` at or after `since`, newest first, at most
    /// `limit` events. Label additions only of the line's request label.
    pub fn recent_activity(
        &self,
        line: &str,
        request_label: &str,
        since: &str,
        limit: usize,
    ) -> Result<Vec<ActivityRow>> {
        self.conn
            .prepare(
                "SELECT seq, at, ticket, kind, actor, payload, note FROM events
                 WHERE kind IN ('label.added', 'decision', 'landing', 'drift.found', 'drift.cleared')
                   AND at >= ?1 AND (line IS NULL OR line = ?2)
                   AND (kind <> 'label.added' OR json_extract(payload, '$.label') = ?3)
                 ORDER BY at DESC, seq DESC LIMIT ?4",
            )
            .and_then(|mut s| {
                s.query_map(
                    rusqlite::params![since, line, request_label, limit as i64],
                    activity_row,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .named("recent_activity")
            .map(|v| v.into_iter().flatten().collect())
    }

    /// `PRAGMA data_version`: changes when another connection commits (0 if it cannot be read).
    pub fn data_version(&self) -> i64 {
        self.conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))
            .unwrap_or(0)
    }

    /// Run `f` inside one read transaction: everything it reads comes from the same snapshot,
    /// whatever other processes commit meanwhile.
    pub fn in_read_snapshot<T, E: From<crate::Error>>(
        &self,
        f: impl FnOnce(&Ledger) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        self.conn
            .execute_batch("BEGIN DEFERRED")
            .named("begin_read_snapshot")?;
        let result = f(self);
        let _ = self.conn.execute_batch("COMMIT");
        result
    }
}
