//! The rows behind the ledger's reads and writes: events read back from the database, the
//! derived tables of a ticket (cleared, written, dumped) and the trackers' sync state. Each query
//! is written for SQLite and for PostgreSQL side by side ([`sql!`]).

use std::cell::RefCell;
use std::collections::HashMap;

use serde_json::Value;

use crate::db::{pg_execute, sql, Db, DbRow, Sql};
use crate::error::{Error, Named, Result};
use crate::pg::PgConn;
use portcullis_core::event::{Event, TicketDerived};
use portcullis_core::time::{fmt_utc, parse_utc};

/// Where one tracker sync stands: its incremental cursor and the checkpoint of a run in progress.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct SyncState {
    pub source: String,
    /// The newest `updated` (epoch milliseconds) seen by the last complete run.
    pub cursor_ms: Option<i64>,
    /// The checkpoint of a run in progress (JSON owned by the sync), cleared when it completes.
    pub run: Option<Value>,
    pub last_run_at: Option<chrono::DateTime<chrono::Utc>>,
    pub last_ok_at: Option<chrono::DateTime<chrono::Utc>>,
}

const SYNC_STATE: Sql = sql!("sync_state",
    sqlite: "SELECT cursor_ms, run, last_run_at, last_ok_at FROM sync_state WHERE source = ?1",
    postgres: "SELECT cursor_ms, run, last_run_at, last_ok_at FROM sync_state WHERE source = $1");

pub(crate) fn sync_state(db: Db<'_>, source: &str) -> Result<Option<SyncState>> {
    type Row = (Option<i64>, Option<String>, Option<String>, Option<String>);
    let row: Option<Row> = db.row(&SYNC_STATE, &[&source], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })?;
    Ok(
        row.map(|(cursor_ms, run, last_run_at, last_ok_at)| SyncState {
            source: source.to_string(),
            cursor_ms,
            run: run.and_then(|r| serde_json::from_str(&r).ok()),
            last_run_at: last_run_at.as_deref().and_then(parse_utc),
            last_ok_at: last_ok_at.as_deref().and_then(parse_utc),
        }),
    )
}

const SYNC_SOURCES: Sql = sql!("sync_sources",
    both: "SELECT source FROM sync_state ORDER BY source");

/// Where every tracker sync stands (for `ledger copy`).
pub(crate) fn sync_states(db: Db<'_>) -> Result<Vec<SyncState>> {
    let sources: Vec<String> = db.rows(&SYNC_SOURCES, &[], |r| r.get(0))?;
    sources
        .iter()
        .filter_map(|s| sync_state(db, s).transpose())
        .collect()
}

const SET_SYNC_STATE: Sql = sql!("set_sync_state",
    sqlite: "INSERT INTO sync_state (source, cursor_ms, run, last_run_at, last_ok_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(source) DO UPDATE SET cursor_ms = ?2, run = ?3, last_run_at = ?4, last_ok_at = ?5",
    postgres: "INSERT INTO sync_state (source, cursor_ms, run, last_run_at, last_ok_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT(source) DO UPDATE SET cursor_ms = $2, run = $3, last_run_at = $4, last_ok_at = $5");

pub(crate) fn set_sync_state(db: Db<'_>, s: &SyncState) -> Result<()> {
    db.execute(
        &SET_SYNC_STATE,
        &[
            &s.source,
            &s.cursor_ms,
            &s.run.as_ref().map(Value::to_string),
            &s.last_run_at.map(fmt_utc),
            &s.last_ok_at.map(fmt_utc),
        ],
    )?;
    Ok(())
}

/// The columns of `events`, in [`row_to_event`]'s order.
macro_rules! event_columns {
    () => {
        "seq, ticket, line, kind, source, actor, at, recorded_at, meeting, note, payload, dedup_key, hash"
    };
}
pub(crate) use event_columns;

const EVENTS_FOR_TICKET: Sql = sql!("events_for_ticket",
    sqlite: concat!("SELECT ", event_columns!(), " FROM events WHERE ticket = ?1 ORDER BY seq"),
    postgres: concat!("SELECT ", event_columns!(), " FROM events WHERE ticket = $1 ORDER BY seq"));

pub(crate) fn events_for_ticket(db: Db<'_>, key: &str) -> Result<Vec<Event>> {
    db.rows(&EVENTS_FOR_TICKET, &[&key], row_to_event)
}

pub(crate) fn row_to_event(row: &DbRow<'_, '_>) -> Result<Event> {
    let bad = |what: &str, seq: i64| {
        Error::internal(format!(
            "event {seq} has a malformed {what}; run `portcullis audit`"
        ))
    };
    let seq: i64 = row.get(0)?;
    let at: String = row.get(6)?;
    let recorded: String = row.get(7)?;
    let meeting: Option<String> = row.get(8)?;
    let payload: String = row.get(10)?;
    Ok(Event {
        seq,
        ticket: row.get(1)?,
        line: row.get(2)?,
        kind: row.get(3)?,
        source: row.get(4)?,
        actor: row.get(5)?,
        at: parse_utc(&at).ok_or_else(|| bad("time", seq))?,
        recorded_at: parse_utc(&recorded).ok_or_else(|| bad("record time", seq))?,
        meeting: match meeting {
            Some(m) => Some(m.parse().map_err(|_| bad("meeting date", seq))?),
            None => None,
        },
        note: row.get(9)?,
        payload: serde_json::from_str(&payload).map_err(|_| bad("payload", seq))?,
        dedup_key: row.get(11)?,
        hash: row.get(12)?,
    })
}

const CLEAR_TICKET: Sql = sql!("clear_derived",
    sqlite: "DELETE FROM tickets WHERE key = ?1",
    postgres: "DELETE FROM tickets WHERE key = $1");
const CLEAR_LINE_STATES: Sql = sql!("clear_derived",
    sqlite: "DELETE FROM line_states WHERE ticket = ?1",
    postgres: "DELETE FROM line_states WHERE ticket = $1");
const CLEAR_VIOLATIONS: Sql = sql!("clear_derived",
    sqlite: "DELETE FROM violations WHERE ticket = ?1",
    postgres: "DELETE FROM violations WHERE ticket = $1");

/// PostgreSQL: the three in one statement (one round trip).
const CLEAR_ALL_PG: Sql = sql!("clear_derived", sqlite: "",
    postgres: "WITH t AS (DELETE FROM tickets WHERE key = $1),
                    s AS (DELETE FROM line_states WHERE ticket = $1)
               DELETE FROM violations WHERE ticket = $1");

pub(crate) fn clear_derived(db: Db<'_>, key: &str) -> Result<()> {
    if let Db::Postgres(_) = db {
        db.execute(&CLEAR_ALL_PG, &[&key])?;
        return Ok(());
    }
    db.execute(&CLEAR_TICKET, &[&key])?;
    db.execute(&CLEAR_LINE_STATES, &[&key])?;
    db.execute(&CLEAR_VIOLATIONS, &[&key])?;
    Ok(())
}

const WRITE_TICKET: Sql = sql!("write_derived",
    sqlite: "INSERT INTO tickets (key, summary, status, assignee, reporter, components, labels, url, created, updated)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    postgres: "INSERT INTO tickets (key, summary, status, assignee, reporter, components, labels, url, created, updated)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)");
const WRITE_LINE_STATE: Sql = sql!("write_derived",
    sqlite: "INSERT INTO line_states (ticket, line, state, since, requested_by, requested_at, approved_by, approved_at,
                                      request_count, deferred_until, last_note, last_meeting, last_seq)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    postgres: "INSERT INTO line_states (ticket, line, state, since, requested_by, requested_at, approved_by, approved_at,
                                      request_count, deferred_until, last_note, last_meeting, last_seq)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)");
const WRITE_VIOLATION: Sql = sql!("write_derived",
    sqlite: "INSERT OR REPLACE INTO violations (ticket, line, seq, kind, at, actor, message, resolved_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    postgres: "INSERT INTO violations (ticket, line, seq, kind, at, actor, message, resolved_by)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
               ON CONFLICT (ticket, line, seq, kind) DO UPDATE SET at = excluded.at, actor = excluded.actor,
                   message = excluded.message, resolved_by = excluded.resolved_by");

pub(crate) fn write_derived(db: Db<'_>, d: &TicketDerived) -> Result<()> {
    let i = &d.info;
    db.execute(
        &WRITE_TICKET,
        &[
            &d.key,
            &i.summary,
            &i.status,
            &i.assignee,
            &i.reporter,
            &serde_json::to_string(&i.components).unwrap_or_default(),
            &serde_json::to_string(&i.labels).unwrap_or_default(),
            &i.url,
            &i.created.map(fmt_utc),
            &i.updated.map(fmt_utc),
        ],
    )?;
    for (line, st) in &d.lines {
        db.execute(
            &WRITE_LINE_STATE,
            &[
                &d.key,
                line,
                &st.state.as_str(),
                &st.since.map(fmt_utc),
                &st.requested_by,
                &st.requested_at.map(fmt_utc),
                &st.approved_by,
                &st.approved_at.map(fmt_utc),
                &i64::from(st.request_count),
                &st.deferred_until.map(|x| x.to_string()),
                &st.last_note,
                &st.last_meeting.map(|x| x.to_string()),
                &st.last_seq,
            ],
        )?;
        for v in &st.violations {
            db.execute(
                &WRITE_VIOLATION,
                &[
                    &d.key,
                    line,
                    &v.seq,
                    &v.kind.as_str(),
                    &fmt_utc(v.at),
                    &v.actor,
                    &v.message,
                    &v.resolved_by,
                ],
            )?;
        }
    }
    Ok(())
}

/// PostgreSQL: the derived rows of many tickets cleared in one statement.
const CLEAR_MANY_PG: Sql = sql!("clear_derived_many", sqlite: "",
    postgres: "WITH t AS (DELETE FROM tickets WHERE key = ANY($1)),
                    s AS (DELETE FROM line_states WHERE ticket = ANY($1))
               DELETE FROM violations WHERE ticket = ANY($1)");
/// PostgreSQL: many tickets' rows in one statement, a column per array.
const WRITE_TICKETS_PG: Sql = sql!("write_derived_many", sqlite: "",
    postgres: "INSERT INTO tickets (key, summary, status, assignee, reporter, components, labels, url, created, updated)
               SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                                    $7::text[], $8::text[], $9::text[], $10::text[])");
const WRITE_LINE_STATES_PG: Sql = sql!("write_derived_many", sqlite: "",
    postgres: "INSERT INTO line_states (ticket, line, state, since, requested_by, requested_at, approved_by, approved_at,
                                      request_count, deferred_until, last_note, last_meeting, last_seq)
               SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                                    $8::text[], $9::bigint[], $10::text[], $11::text[], $12::text[], $13::bigint[])");
/// Duplicates (same ticket, line, event and kind) are merged before, the last one kept, as
/// [`WRITE_VIOLATION`] does one by one: one statement cannot update a row it inserted.
const WRITE_VIOLATIONS_PG: Sql = sql!("write_derived_many", sqlite: "",
    postgres: "INSERT INTO violations (ticket, line, seq, kind, at, actor, message, resolved_by)
               SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[],
                                    $7::text[], $8::bigint[])
               ON CONFLICT (ticket, line, seq, kind) DO UPDATE SET at = excluded.at, actor = excluded.actor,
                   message = excluded.message, resolved_by = excluded.resolved_by");

/// PostgreSQL: clear the derived rows of `keys` (one round trip).
pub(crate) fn clear_derived_many(cell: &RefCell<PgConn>, keys: &[&str]) -> Result<()> {
    pg_execute(cell, &CLEAR_MANY_PG, &[&keys])?;
    Ok(())
}

/// PostgreSQL: write the derived rows of many tickets, cleared before (see
/// [`clear_derived_many`]): the same rows as [`write_derived`] for each, in three round trips.
pub(crate) fn write_derived_many(cell: &RefCell<PgConn>, ds: &[TicketDerived]) -> Result<()> {
    if ds.is_empty() {
        return Ok(());
    }
    let mut t = TicketColumns::default();
    let mut s = LineColumns::default();
    let mut v = ViolationColumns::default();
    let mut seen: HashMap<(&str, &str, i64, &str), usize> = HashMap::new();
    for d in ds {
        let i = &d.info;
        t.key.push(d.key.as_str());
        t.summary.push(i.summary.as_str());
        t.status.push(i.status.as_deref());
        t.assignee.push(i.assignee.as_deref());
        t.reporter.push(i.reporter.as_deref());
        t.components
            .push(serde_json::to_string(&i.components).unwrap_or_default());
        t.labels
            .push(serde_json::to_string(&i.labels).unwrap_or_default());
        t.url.push(i.url.as_deref());
        t.created.push(i.created.map(fmt_utc));
        t.updated.push(i.updated.map(fmt_utc));
        for (line, st) in &d.lines {
            s.ticket.push(d.key.as_str());
            s.line.push(line.as_str());
            s.state.push(st.state.as_str());
            s.since.push(st.since.map(fmt_utc));
            s.requested_by.push(st.requested_by.as_deref());
            s.requested_at.push(st.requested_at.map(fmt_utc));
            s.approved_by.push(st.approved_by.as_deref());
            s.approved_at.push(st.approved_at.map(fmt_utc));
            s.request_count.push(i64::from(st.request_count));
            s.deferred_until
                .push(st.deferred_until.map(|x| x.to_string()));
            s.last_note.push(st.last_note.as_deref());
            s.last_meeting.push(st.last_meeting.map(|x| x.to_string()));
            s.last_seq.push(st.last_seq);
            for x in &st.violations {
                let key = (d.key.as_str(), line.as_str(), x.seq, x.kind.as_str());
                let row = match seen.get(&key) {
                    Some(&row) => row,
                    None => {
                        seen.insert(key, v.ticket.len());
                        v.ticket.push(d.key.as_str());
                        v.line.push(line.as_str());
                        v.seq.push(x.seq);
                        v.kind.push(x.kind.as_str());
                        v.at.push(String::new());
                        v.actor.push(None);
                        v.message.push("");
                        v.resolved_by.push(None);
                        v.ticket.len() - 1
                    }
                };
                v.at[row] = fmt_utc(x.at);
                v.actor[row] = x.actor.as_deref();
                v.message[row] = x.message.as_str();
                v.resolved_by[row] = x.resolved_by;
            }
        }
    }
    pg_execute(
        cell,
        &WRITE_TICKETS_PG,
        &[
            &t.key,
            &t.summary,
            &t.status,
            &t.assignee,
            &t.reporter,
            &t.components,
            &t.labels,
            &t.url,
            &t.created,
            &t.updated,
        ],
    )?;
    if !s.ticket.is_empty() {
        pg_execute(
            cell,
            &WRITE_LINE_STATES_PG,
            &[
                &s.ticket,
                &s.line,
                &s.state,
                &s.since,
                &s.requested_by,
                &s.requested_at,
                &s.approved_by,
                &s.approved_at,
                &s.request_count,
                &s.deferred_until,
                &s.last_note,
                &s.last_meeting,
                &s.last_seq,
            ],
        )?;
    }
    if !v.ticket.is_empty() {
        pg_execute(
            cell,
            &WRITE_VIOLATIONS_PG,
            &[
                &v.ticket,
                &v.line,
                &v.seq,
                &v.kind,
                &v.at,
                &v.actor,
                &v.message,
                &v.resolved_by,
            ],
        )?;
    }
    Ok(())
}

/// The rows of [`WRITE_TICKETS_PG`], column by column.
#[derive(Default)]
struct TicketColumns<'a> {
    key: Vec<&'a str>,
    summary: Vec<&'a str>,
    status: Vec<Option<&'a str>>,
    assignee: Vec<Option<&'a str>>,
    reporter: Vec<Option<&'a str>>,
    components: Vec<String>,
    labels: Vec<String>,
    url: Vec<Option<&'a str>>,
    created: Vec<Option<String>>,
    updated: Vec<Option<String>>,
}

/// The rows of [`WRITE_LINE_STATES_PG`], column by column.
#[derive(Default)]
struct LineColumns<'a> {
    ticket: Vec<&'a str>,
    line: Vec<&'a str>,
    state: Vec<&'a str>,
    since: Vec<Option<String>>,
    requested_by: Vec<Option<&'a str>>,
    requested_at: Vec<Option<String>>,
    approved_by: Vec<Option<&'a str>>,
    approved_at: Vec<Option<String>>,
    request_count: Vec<i64>,
    deferred_until: Vec<Option<String>>,
    last_note: Vec<Option<&'a str>>,
    last_meeting: Vec<Option<String>>,
    last_seq: Vec<i64>,
}

/// The rows of [`WRITE_VIOLATIONS_PG`], column by column.
#[derive(Default)]
struct ViolationColumns<'a> {
    ticket: Vec<&'a str>,
    line: Vec<&'a str>,
    seq: Vec<i64>,
    kind: Vec<&'a str>,
    at: Vec<String>,
    actor: Vec<Option<&'a str>>,
    message: Vec<&'a str>,
    resolved_by: Vec<Option<i64>>,
}

const DUMP: [Sql; 3] = [
    sql!("derived_dump", both: "SELECT * FROM tickets ORDER BY key"),
    sql!("derived_dump", both: "SELECT * FROM line_states ORDER BY ticket, line"),
    sql!("derived_dump", both: "SELECT * FROM violations ORDER BY ticket, line, seq, kind"),
];

/// A canonical dump of the derived tables: the same text from either backend (PostgreSQL's
/// columns are read as SQLite's values would be), so a PostgreSQL ledger's dump compares with
/// one recomputed in memory.
pub(crate) fn derived_dump(db: Db<'_>) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (table, q) in ["tickets", "line_states", "violations"].iter().zip(&DUMP) {
        db.each(q, &[], |row| {
            let cells: Vec<String> = match row {
                DbRow::Sqlite(r, name) => {
                    let n = r.as_ref().column_count();
                    let mut cells = Vec::with_capacity(n);
                    for c in 0..n {
                        let v: rusqlite::types::Value = r.get(c).named(name)?;
                        cells.push(format!("{v:?}"));
                    }
                    cells
                }
                DbRow::Postgres(r, _) => {
                    let mut cells = Vec::with_capacity(r.len());
                    for (c, col) in r.columns().iter().enumerate() {
                        let v = if *col.type_() == postgres::types::Type::INT8 {
                            row.get::<Option<i64>>(c)?.map_or(
                                rusqlite::types::Value::Null,
                                rusqlite::types::Value::Integer,
                            )
                        } else {
                            row.get::<Option<String>>(c)?
                                .map_or(rusqlite::types::Value::Null, rusqlite::types::Value::Text)
                        };
                        cells.push(format!("{v:?}"));
                    }
                    cells
                }
            };
            out.push(format!("{table}: {}", cells.join(" | ")));
            Ok(())
        })?;
    }
    Ok(out)
}
