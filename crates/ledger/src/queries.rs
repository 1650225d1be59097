//! Named read queries that the operations and front ends need beyond the event log's own
//! accessors. Every query here has a name (the method's), which an error reports, and its SQLite
//! and PostgreSQL forms side by side.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use portcullis_core::time::parse_utc;
use portcullis_core::workflow::State;

use crate::db::{sql, Db, DbRow, Sql};
use crate::{Conn, Ledger, Result};

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

fn activity_row(r: &DbRow<'_, '_>) -> Result<Option<ActivityRow>> {
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

const HAS_EVENT_OF_KIND: Sql = sql!("has_event_of_kind",
    sqlite: "SELECT EXISTS(SELECT 1 FROM events WHERE ticket = ?1 AND kind = ?2)",
    postgres: "SELECT EXISTS(SELECT 1 FROM events WHERE ticket = $1 AND kind = $2)");
const TICKETS_WITH_EVENT_FROM: Sql = sql!("tickets_with_event_from",
    sqlite: "SELECT DISTINCT ticket FROM events WHERE kind = ?1 AND source = ?2 AND ticket IS NOT NULL",
    postgres: "SELECT DISTINCT ticket FROM events WHERE kind = $1 AND source = $2 AND ticket IS NOT NULL");
const OPEN_VIOLATION_COUNT: Sql = sql!("open_violation_count",
    both: "SELECT COUNT(*) FROM violations WHERE resolved_by IS NULL");
const MAX_SEQ: Sql = sql!("max_seq", both: "SELECT COALESCE(MAX(seq), 0) FROM events");
const TICKET_BRIEFS: Sql = sql!("ticket_briefs",
    both: "SELECT key, COALESCE(summary, ''), assignee FROM tickets");
const LINE_TICKETS: Sql = sql!("line_tickets",
    sqlite: "SELECT s.ticket, COALESCE(t.summary, ''), s.state, s.requested_by, s.requested_at,
                        s.approved_at, COALESCE(t.components, '[]'), s.deferred_until, s.request_count,
                        s.since
                 FROM line_states s LEFT JOIN tickets t ON t.key = s.ticket
                 WHERE s.line = ?1 ORDER BY s.ticket",
    postgres: "SELECT s.ticket, COALESCE(t.summary, ''), s.state, s.requested_by, s.requested_at,
                        s.approved_at, COALESCE(t.components, '[]'), s.deferred_until, s.request_count,
                        s.since
                 FROM line_states s LEFT JOIN tickets t ON t.key = s.ticket
                 WHERE s.line = $1 ORDER BY s.ticket");
const LATEST_DECISION_MEETING_BEFORE: Sql = sql!("latest_decision_meeting_before",
    sqlite: "SELECT MAX(meeting) FROM events WHERE kind = 'decision' AND source = 'local'
                 AND line = ?1 AND meeting < ?2",
    postgres: "SELECT MAX(meeting) FROM events WHERE kind = 'decision' AND source = 'local'
                 AND line = $1 AND meeting < $2");
const DECISIONS_ON_LINE: Sql = sql!("decisions_on_line",
    sqlite: "SELECT e.ticket, json_extract(e.payload, '$.decision'), e.at FROM events e
                 WHERE e.kind = 'decision' AND e.line = ?1 AND e.ticket IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM events u WHERE u.kind = 'decision.undone'
                                   AND json_extract(u.payload, '$.undoes') = e.seq)
                 ORDER BY e.seq",
    postgres: "SELECT e.ticket, e.payload::jsonb ->> 'decision', e.at FROM events e
                 WHERE e.kind = 'decision' AND e.line = $1 AND e.ticket IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM events u WHERE u.kind = 'decision.undone'
                                   AND u.payload::jsonb -> 'undoes' = to_jsonb(e.seq))
                 ORDER BY e.seq");
const DIGEST_ACTIVITY: Sql = sql!("digest_activity",
    sqlite: "SELECT e.seq, e.at, e.ticket, e.kind, e.actor, e.payload, e.note FROM events e
                 WHERE e.seq > ?1 AND e.seq <= ?2 AND (?3 IS NULL OR e.at >= ?3)
                   AND (e.line IS NULL OR e.line = ?4)
                   AND e.kind IN ('label.added', 'decision', 'landing', 'drift.found', 'drift.cleared')
                   AND (e.kind <> 'label.added' OR json_extract(e.payload, '$.label') = ?5)
                   AND NOT EXISTS (SELECT 1 FROM events u WHERE u.kind = 'decision.undone'
                                   AND json_extract(u.payload, '$.undoes') = e.seq)
                 ORDER BY e.seq",
    postgres: "SELECT e.seq, e.at, e.ticket, e.kind, e.actor, e.payload, e.note FROM events e
                 WHERE e.seq > $1 AND e.seq <= $2 AND ($3::text IS NULL OR e.at >= $3)
                   AND (e.line IS NULL OR e.line = $4)
                   AND e.kind IN ('label.added', 'decision', 'landing', 'drift.found', 'drift.cleared')
                   AND (e.kind <> 'label.added' OR e.payload::jsonb ->> 'label' = $5)
                   AND NOT EXISTS (SELECT 1 FROM events u WHERE u.kind = 'decision.undone'
                                   AND u.payload::jsonb -> 'undoes' = to_jsonb(e.seq))
                 ORDER BY e.seq");
const RECENT_ACTIVITY: Sql = sql!("recent_activity",
    sqlite: "SELECT seq, at, ticket, kind, actor, payload, note FROM events
                 WHERE kind IN ('label.added', 'decision', 'landing', 'drift.found', 'drift.cleared')
                   AND at >= ?1 AND (line IS NULL OR line = ?2)
                   AND (kind <> 'label.added' OR json_extract(payload, '$.label') = ?3)
                 ORDER BY at DESC, seq DESC LIMIT ?4",
    postgres: "SELECT seq, at, ticket, kind, actor, payload, note FROM events
                 WHERE kind IN ('label.added', 'decision', 'landing', 'drift.found', 'drift.cleared')
                   AND at >= $1 AND (line IS NULL OR line = $2)
                   AND (kind <> 'label.added' OR payload::jsonb ->> 'label' = $3)
                 ORDER BY at DESC, seq DESC LIMIT $4");
const HEAD_SEQ: Sql = sql!("data_version",
    both: "SELECT COALESCE((SELECT seq FROM head WHERE id = 1), 0)");
const EVENT_HASH: Sql = sql!("event_hash",
    sqlite: "SELECT hash FROM events WHERE seq = ?1",
    postgres: "SELECT hash FROM events WHERE seq = $1");
const LINE_STATE: Sql = sql!("line_state",
    sqlite: "SELECT state FROM line_states WHERE ticket = ?1 AND line = ?2",
    postgres: "SELECT state FROM line_states WHERE ticket = $1 AND line = $2");
const DUPLICATE_DEDUP_KEYS: Sql = sql!("duplicate_dedup_keys",
    both: "SELECT COUNT(*) FROM (SELECT dedup_key FROM events WHERE dedup_key IS NOT NULL
           GROUP BY dedup_key HAVING COUNT(*) > 1) d");
const BEGIN_READ: Sql = sql!("begin_read_snapshot",
    sqlite: "BEGIN DEFERRED",
    postgres: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");

impl Ledger {
    /// Query `has_event_of_kind`: whether `ticket` has any event of `kind`.
    pub fn has_event_of_kind(&self, ticket: &str, kind: &str) -> Result<bool> {
        self.db().value(&HAS_EVENT_OF_KIND, &[&ticket, &kind])
    }

    /// Query `tickets_with_event_from`: the tickets with an event of `kind` from `source` (e.g.
    /// the tickets a sync observed in GitHub).
    pub fn tickets_with_event_from(&self, kind: &str, source: &str) -> Result<BTreeSet<String>> {
        let keys = self
            .db()
            .rows(&TICKETS_WITH_EVENT_FROM, &[&kind, &source], |r| r.get(0))?;
        Ok(keys.into_iter().collect())
    }

    /// Query `open_violation_count`: violations not resolved.
    pub fn open_violation_count(&self) -> Result<usize> {
        self.db()
            .value::<i64>(&OPEN_VIOLATION_COUNT, &[])
            .map(|n| n as usize)
    }

    /// Query `max_seq`: the sequence number of the newest event (0 for an empty ledger).
    pub fn max_seq(&self) -> Result<i64> {
        self.db().value(&MAX_SEQ, &[])
    }

    /// Query `ticket_briefs`: every ticket's summary and assignee.
    pub fn ticket_briefs(&self) -> Result<BTreeMap<String, TicketBrief>> {
        let rows = self.db().rows(&TICKET_BRIEFS, &[], |r| {
            Ok((
                r.get(0)?,
                TicketBrief {
                    summary: r.get(1)?,
                    assignee: r.get(2)?,
                },
            ))
        })?;
        Ok(rows.into_iter().collect())
    }

    /// Query `line_tickets`: the tickets of `line` in one of `states` (all when empty), with
    /// their summaries and components.
    pub fn line_tickets(&self, line: &str, states: &[State]) -> Result<Vec<LineTicket>> {
        let wanted: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
        let mut v = self.db().rows(&LINE_TICKETS, &[&line], |r| {
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
                request_count: r.get::<Option<i64>>(8)?.map_or(1, |n| n as u32),
                since: time(r.get(9)?),
            })
        })?;
        if !wanted.is_empty() {
            v.retain(|t| wanted.contains(&t.state.as_str()));
        }
        Ok(v)
    }

    /// Query `latest_decision_meeting_before`: the latest meeting date before `date` under which
    /// a local decision on `line` was recorded.
    pub fn latest_decision_meeting_before(
        &self,
        line: &str,
        date: NaiveDate,
    ) -> Result<Option<NaiveDate>> {
        self.db()
            .value::<Option<String>>(&LATEST_DECISION_MEETING_BEFORE, &[&line, &date.to_string()])
            .map(|d| d.and_then(|s| s.parse().ok()))
    }

    /// Query `decisions_on_line`: (ticket, decision, time) of every decision on `line` that was
    /// not taken back, oldest first.
    pub fn decisions_on_line(&self, line: &str) -> Result<Vec<(String, String, DateTime<Utc>)>> {
        let rows = self.db().rows(&DECISIONS_ON_LINE, &[&line], |r| {
            Ok((
                r.get::<String>(0)?,
                r.get::<Option<String>>(1)?,
                r.get::<String>(2)?,
            ))
        })?;
        Ok(rows
            .into_iter()
            .filter_map(|(t, d, at)| Some((t, d?, parse_utc(&at)?)))
            .collect())
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
        let rows = self.db().rows(
            &DIGEST_ACTIVITY,
            &[&after_seq, &upto_seq, &from_time, &line, &request_label],
            activity_row,
        )?;
        Ok(rows.into_iter().flatten().collect())
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
        let rows = self.db().rows(
            &RECENT_ACTIVITY,
            &[&since, &line, &request_label, &(limit as i64)],
            activity_row,
        )?;
        Ok(rows.into_iter().flatten().collect())
    }

    /// Something that changes when another connection commits (0 if it cannot be read): SQLite's
    /// `PRAGMA data_version`; on PostgreSQL, the chain head's sequence number (every write that
    /// matters to a screen appends events).
    pub fn data_version(&self) -> i64 {
        match &self.conn {
            Conn::Sqlite(c) => c
                .query_row("PRAGMA data_version", [], |r| r.get(0))
                .unwrap_or(0),
            Conn::Postgres(_) => self.db().value(&HEAD_SEQ, &[]).unwrap_or(0),
        }
    }

    /// Query `head`: the chain's head, the newest event's sequence number and hash (0 and the
    /// genesis hash for an empty ledger), as [`crate::LedgerTx::head`] has it. Every
    /// transaction that appends moves it, and the derived state is computed from the events, so
    /// an unchanged head is an unchanged ledger (the verifier's caches aside).
    pub fn head(&self) -> Result<(i64, String)> {
        let head = self
            .db()
            .row(&crate::HEAD, &[], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(head.unwrap_or_else(|| (0, crate::GENESIS.to_string())))
    }

    /// Query `event_hash`: the stored hash of event `seq`.
    pub fn event_hash_of(&self, seq: i64) -> Result<Option<String>> {
        self.db().row(&EVENT_HASH, &[&seq], |r| r.get(0))
    }

    /// Query `line_state`: the derived state of `ticket` on `line`, as stored.
    pub fn line_state(&self, ticket: &str, line: &str) -> Result<Option<String>> {
        self.db().row(&LINE_STATE, &[&ticket, &line], |r| r.get(0))
    }

    /// Query `duplicate_dedup_keys`: how many dedup keys more than one event carries (0 in a
    /// sound ledger; the unique index keeps it so).
    pub fn duplicate_dedup_keys(&self) -> Result<i64> {
        self.db().value(&DUPLICATE_DEDUP_KEYS, &[])
    }

    /// Run `f` inside one read transaction: everything it reads comes from the same snapshot,
    /// whatever other processes commit meanwhile.
    pub fn in_read_snapshot<T, E: From<crate::Error>>(
        &self,
        f: impl FnOnce(&Ledger) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let db: Db<'_> = self.db();
        db.batch(&BEGIN_READ)?;
        let result = f(self);
        let _ = db.batch(&sql!("end_read_snapshot", both: "COMMIT"));
        result
    }
}
