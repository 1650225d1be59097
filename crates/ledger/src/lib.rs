//! # portcullis-ledger
//!
//! The ledger: an SQLite file holding the append-only, hash-chained event log and the state
//! derived from it (tickets, per-line states, violations).
//!
//! - Opening checks the file is SQLite and not from a newer portcullis *before* writing anything.
//! - WAL, a busy timeout and foreign keys are set on every connection (outside migrations).
//! - Every change happens in a [`LedgerTx`]: events are appended and the derived state of the
//!   tickets they touch is recomputed in the same transaction, so an interruption leaves the
//!   ledger as it was before.
//! - Triggers refuse `UPDATE` and `DELETE` on `events`.
//!
//! This is the only crate that writes SQL: every statement is a named query in [`queries`] (the
//! name appears in errors, [`Named`]), schema changes are numbered files under
//! `src/migrations/` listed in [`migrations`], and the verifier's caches are in [`git_cache`].
//! Rules stay in `portcullis-core`; a query never decides what a state means.

pub mod error;
pub mod git_cache;
pub mod migrations;
pub mod queries;
mod rows;

pub use error::{Error, Named, Result};
pub use rows::SyncState;
use rows::{
    clear_derived, derived_dump, events_for_ticket, row_to_event, set_sync_state, sync_state,
    write_derived, EVENT_COLUMNS,
};

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub use portcullis_core::event::{event_hash, key_order};
use portcullis_core::event::{hash_parts, payload_text};
pub use portcullis_core::workflow::state_rank;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};

use portcullis_core::event::{derive_ticket, kind, Event, LabelFact, NewEvent};
use portcullis_core::policy::LoadedPolicy;
use portcullis_core::time::{fmt_utc, now, parse_utc};
use portcullis_core::workflow::{State, Violation, ViolationKind};

/// The hash that precedes the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An open ledger.
pub struct Ledger {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger").field("path", &self.path).finish()
    }
}

fn set_pragmas(conn: &Connection) -> Result<()> {
    conn.busy_timeout(Duration::from_secs(30))?;
    // 16 KiB pages for a new ledger (a no-op on an existing one): fewer, shallower b-tree pages
    // for the event log; measured faster for bulk imports than the 4 KiB default.
    conn.pragma_update(None, "page_size", 16384)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // 64 MiB of page cache: bulk imports touch several large indexes.
    conn.pragma_update(None, "cache_size", -65536)?;
    Ok(())
}

impl Ledger {
    /// Create a new ledger file (readable by its owner only) and bring its schema up to date.
    pub fn create(path: &Path) -> Result<Ledger> {
        if path.exists() {
            return Err(Error::input(format!("{} already exists", path.display()))
                .hint("open it with --db, or choose another path"));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("create the directory", dir, e))?;
        }
        create_private_file(path)?;
        Self::open_existing(path)
    }

    /// Open an existing ledger.
    pub fn open(path: &Path) -> Result<Ledger> {
        if !path.exists() {
            return Err(
                Error::input(format!("no ledger at {}", path.display())).hint(
                    "run `portcullis init` to create a workspace, or pass --db / set PORTCULLIS_DB",
                ),
            );
        }
        Self::open_existing(path)
    }

    fn open_existing(path: &Path) -> Result<Ledger> {
        let shown = path.display().to_string();
        // The file is only ever read through SQLite: closing a descriptor of our own on it would
        // drop every POSIX lock this process holds on it, those of other open connections
        // included, and another process could then checkpoint and delete the WAL under them.
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(30))?;
        // Read-only checks first: nothing is written to a ledger we cannot use.
        migrations::check_not_newer(&conn, &shown).map_err(|e| match &e {
            Error::Sql { source, .. }
                if source.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase) =>
            {
                not_a_ledger(path)
            }
            _ => e,
        })?;
        set_pragmas(&conn)?;
        migrations::migrate(&mut conn)?;
        Ok(Ledger {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// An in-memory ledger, for tests and benchmarks.
    pub fn in_memory() -> Result<Ledger> {
        let mut conn = Connection::open_in_memory()?;
        migrations::migrate(&mut conn)?;
        Ok(Ledger {
            conn,
            path: PathBuf::from(":memory:"),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Start a write transaction (`BEGIN IMMEDIATE`, so concurrent writers queue on the busy timeout).
    pub fn transaction(&mut self) -> Result<LedgerTx<'_>> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let head: Option<(i64, String)> = tx
            .query_row("SELECT seq, hash FROM head WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let (last_seq, last_hash) = head.unwrap_or((0, GENESIS.to_string()));
        Ok(LedgerTx {
            tx,
            last_seq,
            last_hash,
            appended: 0,
            touched: BTreeSet::new(),
            recorded_at: now(),
            fresh: Default::default(),
        })
    }

    /// Number of events.
    pub fn event_count(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))?)
    }

    /// All events of a ticket, in ledger order.
    pub fn events_for_ticket(&self, key: &str) -> Result<Vec<Event>> {
        events_for_ticket(&self.conn, key)
    }

    /// Every event, in ledger order, streamed to `f`.
    pub fn for_each_event(&self, mut f: impl FnMut(Event) -> Result<()>) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {EVENT_COLUMNS} FROM events ORDER BY seq"))?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            f(row_to_event(row)?)?;
        }
        Ok(())
    }

    /// Every ticket key that has events.
    pub fn ticket_keys(&self) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare(
            "SELECT DISTINCT ticket FROM events WHERE ticket IS NOT NULL ORDER BY ticket",
        )?;
        let keys = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(keys)
    }

    /// Append events in one transaction and derive what they touch; returns how many were new
    /// (the others were already there, by their dedup keys).
    pub fn append_all(
        &mut self,
        policy: &LoadedPolicy,
        events: impl IntoIterator<Item = NewEvent>,
    ) -> Result<u64> {
        let mut tx = self.transaction()?;
        for ev in events {
            tx.append(ev)?;
        }
        tx.commit_with(policy)
    }

    /// Every event of the given kinds, in sequence order.
    pub fn events_of_kinds(&self, kinds: &[&str]) -> Result<Vec<Event>> {
        let marks = vec!["?"; kinds.len()].join(", ");
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE kind IN ({marks}) ORDER BY seq"
        ))?;
        let mut rows = stmt.query(rusqlite::params_from_iter(kinds.iter()))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(row_to_event(row)?);
        }
        Ok(out)
    }

    /// Where a tracker sync stands (`None` before its first run).
    pub fn sync_state(&self, source: &str) -> Result<Option<SyncState>> {
        sync_state(&self.conn, source)
    }

    /// Record where a sync stands, outside an event transaction (e.g. a run that starts).
    pub fn set_sync_state(&mut self, state: &SyncState) -> Result<()> {
        set_sync_state(&self.conn, state)
    }

    /// A canonical dump of the derived tables, to compare a rebuild with what was there.
    pub fn derived_dump(&self) -> Result<Vec<String>> {
        derived_dump(&self.conn)
    }

    /// Check the hash chain: every event's hash, the links between them, and the head.
    pub fn verify_chain(&self) -> Result<ChainReport> {
        let mut report = ChainReport::default();
        let mut prev = GENESIS.to_string();
        let mut expected_seq: Option<i64> = None;
        self.for_each_event(|e| {
            report.events += 1;
            if let Some(exp) = expected_seq {
                if e.seq == exp + 1 {
                    report.problems.push(format!("event {exp} is missing"));
                } else if e.seq > exp {
                    report.problems.push(format!("events {} to {} are missing", exp, e.seq - 1));
                }
            }
            expected_seq = Some(e.seq + 1);
            if event_hash(&prev, &e) != e.hash {
                report.problems.push(format!(
                    "event {}: its hash does not match its content and the event before it (this event or an earlier one was changed after it was written)",
                    e.seq
                ));
            }
            prev = e.hash.clone();
            report.last_seq = e.seq;
            Ok(())
        })?;
        let head: Option<(i64, String)> = self
            .conn
            .query_row("SELECT seq, hash FROM head WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        match head {
            Some((seq, hash)) if seq != report.last_seq || hash != prev => report.problems.push(format!(
                "the chain ends at event {} but the ledger head records event {seq}: events were removed or the head was changed",
                report.last_seq
            )),
            None if report.events > 0 => report.problems.push("the ledger head is missing".into()),
            _ => {}
        }
        Ok(report)
    }

    /// Recompute all derived state from events, in one transaction. Returns (before, after) dumps.
    pub fn rebuild(&mut self, policy: &LoadedPolicy) -> Result<(Vec<String>, Vec<String>)> {
        let before = self.derived_dump()?;
        let keys = self.ticket_keys()?;
        let mut tx = self.transaction()?;
        tx.tx.execute_batch(
            "DELETE FROM tickets; DELETE FROM line_states; DELETE FROM violations;",
        )?;
        for key in &keys {
            tx.touched.insert(key.clone());
        }
        tx.rederive(policy)?;
        tx.commit()?;
        let after = self.derived_dump()?;
        Ok((before, after))
    }

    /// What the derived state would be if rebuilt now, without writing: for `audit`.
    pub fn recompute_dump(&self, policy: &LoadedPolicy) -> Result<Vec<String>> {
        // A scratch ledger with the full schema (every migration), holding only derived state.
        let mem = Ledger::in_memory()?;
        for key in self.ticket_keys()? {
            let events = self.events_for_ticket(&key)?;
            write_derived(&mem.conn, &derive_ticket(policy, &key, &events))?;
        }
        derived_dump(&mem.conn)
    }
}

/// Result of [`Ledger::verify_chain`].
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ChainReport {
    pub events: u64,
    pub last_seq: i64,
    pub problems: Vec<String>,
}

/// A write transaction on the ledger.
pub struct LedgerTx<'a> {
    tx: rusqlite::Transaction<'a>,
    last_seq: i64,
    last_hash: String,
    appended: u64,
    touched: BTreeSet<String>,
    /// One record time for the whole transaction.
    recorded_at: chrono::DateTime<chrono::Utc>,
    /// Events appended in this transaction, per ticket, with the first sequence number: a ticket
    /// with nothing before that is derived from memory, without reading its events back.
    fresh: std::collections::HashMap<String, Vec<Event>>,
}

impl LedgerTx<'_> {
    /// Append an event, unless one with the same dedup key is already there. Returns its sequence
    /// number, or `None` when it was a duplicate.
    pub fn append(&mut self, ev: NewEvent) -> Result<Option<i64>> {
        let seq = self.last_seq + 1;
        let mut event = Event {
            seq,
            ticket: ev.ticket,
            line: ev.line,
            kind: ev.kind.to_string(),
            source: ev.source,
            actor: ev.actor,
            at: ev.at,
            recorded_at: self.recorded_at,
            meeting: ev.meeting,
            note: ev.note,
            payload: ev.payload,
            dedup_key: ev.dedup_key,
            hash: String::new(),
        };
        let payload = payload_text(&event.payload);
        let at = fmt_utc(event.at);
        let recorded = fmt_utc(event.recorded_at);
        event.hash = hash_parts(&self.last_hash, &event, &at, &recorded, &payload);
        // A duplicate (same dedup key) inserts nothing, and the chain does not advance.
        let inserted = self
            .tx
            .prepare_cached(
                "INSERT INTO events (seq, ticket, line, kind, source, actor, at, recorded_at, meeting, note, payload, dedup_key, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
                 ON CONFLICT(dedup_key) DO NOTHING",
            )?
            .execute(params![
                event.seq,
                event.ticket,
                event.line,
                event.kind,
                event.source,
                event.actor,
                at,
                recorded,
                event.meeting.map(|d| d.to_string()),
                event.note,
                payload,
                event.dedup_key,
                event.hash,
            ])?;
        if inserted == 0 {
            return Ok(None);
        }
        self.last_seq = seq;
        self.last_hash = event.hash.clone();
        self.appended += 1;
        if let Some(t) = &event.ticket {
            if !self.touched.contains(t) {
                self.touched.insert(t.clone());
            }
            self.fresh.entry(t.clone()).or_default().push(event);
        }
        Ok(Some(seq))
    }

    pub fn events_for_ticket(&self, key: &str) -> Result<Vec<Event>> {
        events_for_ticket(&self.tx, key)
    }

    /// A ticket's label changes, without reading whole events.
    pub fn label_facts(&self, key: &str) -> Result<Vec<LabelFact>> {
        let mut stmt = self.tx.prepare_cached(
            "SELECT at, seq, kind, json_extract(payload, '$.label') FROM events
             WHERE ticket = ?1 AND kind IN (?2, ?3) ORDER BY seq",
        )?;
        let mut rows = stmt.query(params![key, kind::LABEL_ADDED, kind::LABEL_REMOVED])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let at: String = row.get(0)?;
            let seq: i64 = row.get(1)?;
            let k: String = row.get(2)?;
            let label: Option<String> = row.get(3)?;
            let (Some(at), Some(label)) = (parse_utc(&at), label) else {
                return Err(Error::internal(format!(
                    "event {seq} is malformed; run `portcullis audit`"
                )));
            };
            out.push(LabelFact {
                at,
                seq,
                added: k == kind::LABEL_ADDED,
                label,
            });
        }
        Ok(out)
    }

    /// Record where a sync stands, in the same transaction as the events of the page it applied.
    pub fn set_sync_state(&mut self, state: &SyncState) -> Result<()> {
        set_sync_state(&self.tx, state)
    }

    /// The transaction's connection, for the operational tables (caches) outside the event log.
    pub fn conn(&self) -> &Connection {
        &self.tx
    }

    /// How many events this transaction appended.
    /// Write what a verify run computed to the git caches (not events; see [`git_cache`]).
    pub fn store_git_cache(
        &mut self,
        commits: &[git_cache::CommitRow],
        scans: &[git_cache::ScanRow],
        now: &str,
    ) -> Result<()> {
        git_cache::store(&self.tx, commits, scans, now)
    }

    pub fn appended(&self) -> u64 {
        self.appended
    }

    /// Recompute the derived state of every ticket touched so far.
    pub fn rederive(&mut self, policy: &LoadedPolicy) -> Result<()> {
        let touched = std::mem::take(&mut self.touched);
        let mut fresh = std::mem::take(&mut self.fresh);
        for key in &touched {
            let events = match fresh.remove(key) {
                Some(new) if !self.has_events_before(key, new[0].seq)? => new,
                _ => events_for_ticket(&self.tx, key)?,
            };
            let derived = derive_ticket(policy, key, &events);
            clear_derived(&self.tx, key)?;
            write_derived(&self.tx, &derived)?;
        }
        Ok(())
    }

    fn has_events_before(&self, key: &str, seq: i64) -> Result<bool> {
        Ok(self
            .tx
            .prepare_cached("SELECT EXISTS(SELECT 1 FROM events WHERE ticket = ?1 AND seq < ?2)")?
            .query_row(params![key, seq], |r| r.get(0))?)
    }

    /// Derive the touched tickets, move the head and commit.
    pub fn commit_with(mut self, policy: &LoadedPolicy) -> Result<u64> {
        self.rederive(policy)?;
        self.commit()
    }

    fn commit(self) -> Result<u64> {
        if self.appended > 0 {
            self.tx.execute(
                "INSERT INTO head (id, seq, hash) VALUES (1, ?1, ?2) ON CONFLICT(id) DO UPDATE SET seq = ?1, hash = ?2",
                params![self.last_seq, self.last_hash],
            )?;
        }
        let n = self.appended;
        self.tx.commit()?;
        Ok(n)
    }
}

/// A row of `line_states` joined with its ticket, for status views.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StatusRow {
    pub key: String,
    pub summary: String,
    pub line: String,
    pub state: State,
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    pub requested_by: Option<String>,
    pub approved_by: Option<String>,
    pub request_count: u32,
    pub deferred_until: Option<chrono::NaiveDate>,
    pub last_note: Option<String>,
    pub open_violations: u32,
    /// Its tracker no longer has it (a `ticket.gone` event): deleted, or moved.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub gone: bool,
}

impl Ledger {
    /// The status rows of a line, ordered by state then key.
    pub fn status_rows(&self, line: &str) -> Result<Vec<StatusRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT s.ticket, COALESCE(t.summary, ''), s.line, s.state, s.since, s.requested_by, s.approved_by,
                    s.request_count, s.deferred_until, s.last_note,
                    (SELECT COUNT(*) FROM violations v WHERE v.ticket = s.ticket AND v.line = s.line AND v.resolved_by IS NULL),
                    EXISTS (SELECT 1 FROM events g WHERE g.ticket = s.ticket AND g.kind = ?2)
             FROM line_states s LEFT JOIN tickets t ON t.key = s.ticket
             WHERE s.line = ?1",
        )?;
        let rows = stmt.query_map(params![line, kind::TICKET_GONE], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, u32>(7)?,
                r.get::<_, Option<String>>(8)?,
                r.get::<_, Option<String>>(9)?,
                r.get::<_, u32>(10)?,
                r.get::<_, bool>(11)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (
                key,
                summary,
                line,
                state,
                since,
                requested_by,
                approved_by,
                request_count,
                until,
                note,
                nv,
                gone,
            ) = row?;
            out.push(StatusRow {
                key,
                summary,
                line,
                state: State::parse(&state).ok_or_else(|| {
                    Error::internal(format!("unknown state `{state}` in the ledger"))
                })?,
                since: since.as_deref().and_then(parse_utc),
                requested_by,
                approved_by,
                request_count,
                deferred_until: until.and_then(|u| u.parse().ok()),
                last_note: note,
                open_violations: nv,
                gone,
            });
        }
        out.sort_by(|a, b| {
            state_rank(a.state)
                .cmp(&state_rank(b.state))
                .then_with(|| key_order(&a.key, &b.key))
        });
        Ok(out)
    }

    /// The violations of a line (open and settled), newest first.
    pub fn violations(
        &self,
        line: Option<&str>,
        ticket: Option<&str>,
    ) -> Result<Vec<(String, String, Violation)>> {
        let mut stmt = self.conn.prepare(
            "SELECT ticket, line, seq, kind, at, actor, message, resolved_by FROM violations
             WHERE (?1 IS NULL OR line = ?1) AND (?2 IS NULL OR ticket = ?2) ORDER BY at DESC, seq DESC",
        )?;
        let rows = stmt.query_map(params![line, ticket], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, Option<i64>>(7)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (t, l, seq, kind, at, actor, message, resolved_by) = row?;
            out.push((
                t,
                l,
                Violation {
                    kind: ViolationKind::parse(&kind)
                        .ok_or_else(|| Error::internal(format!("unknown violation `{kind}`")))?,
                    seq,
                    at: parse_utc(&at)
                        .ok_or_else(|| Error::internal("malformed violation time"))?,
                    actor,
                    message,
                    resolved_by,
                },
            ));
        }
        Ok(out)
    }
}

fn not_a_ledger(path: &Path) -> Error {
    Error::input(format!(
        "{} is not a portcullis ledger (not an SQLite database)",
        path.display()
    ))
    .hint("point --db (or PORTCULLIS_DB) at a ledger created by `portcullis init`; the file was not changed")
}

/// Create an empty file readable and writable by its owner only.
pub fn create_private_file(path: &Path) -> Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path).map_err(|e| {
        portcullis_core::Problem::input(format!("cannot create {}", path.display())).because(e)
    })?;
    Ok(())
}
