//! The rows behind the ledger's reads and writes: events read back from SQLite, the derived
//! tables of a ticket (cleared, written, dumped) and the trackers' sync state.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;

use crate::error::{Error, Result};
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

pub(crate) fn sync_state(conn: &Connection, source: &str) -> Result<Option<SyncState>> {
    type Row = (Option<i64>, Option<String>, Option<String>, Option<String>);
    let row: Option<Row> = conn
        .query_row(
            "SELECT cursor_ms, run, last_run_at, last_ok_at FROM sync_state WHERE source = ?1",
            [source],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
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

pub(crate) fn set_sync_state(conn: &Connection, s: &SyncState) -> Result<()> {
    conn.execute(
        "INSERT INTO sync_state (source, cursor_ms, run, last_run_at, last_ok_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(source) DO UPDATE SET cursor_ms = ?2, run = ?3, last_run_at = ?4, last_ok_at = ?5",
        params![
            s.source,
            s.cursor_ms,
            s.run.as_ref().map(Value::to_string),
            s.last_run_at.map(fmt_utc),
            s.last_ok_at.map(fmt_utc),
        ],
    )?;
    Ok(())
}

/// The columns of `events`, in [`row_to_event`]'s order.
pub(crate) const EVENT_COLUMNS: &str = "seq, ticket, line, kind, source, actor, at, recorded_at, meeting, note, payload, dedup_key, hash";

pub(crate) fn events_for_ticket(conn: &Connection, key: &str) -> Result<Vec<Event>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE ticket = ?1 ORDER BY seq"
    ))?;
    let mut rows = stmt.query([key])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(row_to_event(row)?);
    }
    Ok(out)
}

pub(crate) fn row_to_event(row: &Row<'_>) -> Result<Event> {
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

pub(crate) fn clear_derived(conn: &Connection, key: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM tickets WHERE key = ?1")?
        .execute([key])?;
    conn.prepare_cached("DELETE FROM line_states WHERE ticket = ?1")?
        .execute([key])?;
    conn.prepare_cached("DELETE FROM violations WHERE ticket = ?1")?
        .execute([key])?;
    Ok(())
}

pub(crate) fn write_derived(conn: &Connection, d: &TicketDerived) -> Result<()> {
    let i = &d.info;
    conn.prepare_cached(
        "INSERT INTO tickets (key, summary, status, assignee, reporter, components, labels, url, created, updated)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        d.key,
        i.summary,
        i.status,
        i.assignee,
        i.reporter,
        serde_json::to_string(&i.components).unwrap_or_default(),
        serde_json::to_string(&i.labels).unwrap_or_default(),
        i.url,
        i.created.map(fmt_utc),
        i.updated.map(fmt_utc),
    ])?;
    for (line, st) in &d.lines {
        conn.prepare_cached(
            "INSERT INTO line_states (ticket, line, state, since, requested_by, requested_at, approved_by, approved_at,
                                      request_count, deferred_until, last_note, last_meeting, last_seq)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        )?
        .execute(params![
            d.key,
            line,
            st.state.as_str(),
            st.since.map(fmt_utc),
            st.requested_by,
            st.requested_at.map(fmt_utc),
            st.approved_by,
            st.approved_at.map(fmt_utc),
            st.request_count,
            st.deferred_until.map(|x| x.to_string()),
            st.last_note,
            st.last_meeting.map(|x| x.to_string()),
            st.last_seq,
        ])?;
        for v in &st.violations {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO violations (ticket, line, seq, kind, at, actor, message, resolved_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![d.key, line, v.seq, v.kind.as_str(), fmt_utc(v.at), v.actor, v.message, v.resolved_by])?;
        }
    }
    Ok(())
}

pub(crate) fn derived_dump(conn: &Connection) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (table, order) in [
        ("tickets", "key"),
        ("line_states", "ticket, line"),
        ("violations", "ticket, line, seq, kind"),
    ] {
        let mut stmt = conn.prepare(&format!("SELECT * FROM {table} ORDER BY {order}"))?;
        let n = stmt.column_count();
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let mut cells = Vec::with_capacity(n);
            for c in 0..n {
                let v: rusqlite::types::Value = row.get(c)?;
                cells.push(format!("{v:?}"));
            }
            out.push(format!("{table}: {}", cells.join(" | ")));
        }
    }
    Ok(out)
}
