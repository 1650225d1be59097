//! Write transactions: [`LedgerTx`], opened by [`Ledger::transaction`], appends events to the
//! chain and recomputes the derived state of the tickets they touch before it commits.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::PathBuf;

use portcullis_core::event::{derive_ticket, event_hash, hash_parts, kind, payload_text};
use portcullis_core::event::{Event, LabelFact, NewEvent};
use portcullis_core::policy::LoadedPolicy;
use portcullis_core::time::{fmt_utc, now, parse_utc};

use crate::db::{sql, Db, Sql};
use crate::pg::{self, PgConn};
use crate::rows::{clear_derived, events_for_ticket, set_sync_state, write_derived};
use crate::{git_cache, Conn, Error, Ledger, Named, Result, SyncState, GENESIS, HEAD};

const LOCK_CHAIN: Sql =
    sql!("lock_chain", sqlite: "", postgres: "SELECT pg_advisory_xact_lock($1)");
const BEGIN: Sql = sql!("begin", both: "BEGIN");
const COMMIT: Sql = sql!("commit", both: "COMMIT");
/// Delivered to the listeners when the transaction commits (and never if it does not).
const NOTIFY: Sql = sql!("notify", sqlite: "",
    postgres: "SELECT pg_notify('portcullis_events', $1::bigint::text)");
const APPEND: Sql = sql!("append_event",
    sqlite: "INSERT INTO events (seq, ticket, line, kind, source, actor, at, recorded_at, meeting, note, payload, dedup_key, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
                 ON CONFLICT(dedup_key) DO NOTHING",
    postgres: "INSERT INTO events (seq, ticket, line, kind, source, actor, at, recorded_at, meeting, note, payload, dedup_key, hash)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                 ON CONFLICT(dedup_key) DO NOTHING");
const LABEL_FACTS: Sql = sql!("label_facts",
    sqlite: "SELECT at, seq, kind, json_extract(payload, '$.label') FROM events
             WHERE ticket = ?1 AND kind IN (?2, ?3) ORDER BY seq",
    postgres: "SELECT at, seq, kind, payload::jsonb ->> 'label' FROM events
             WHERE ticket = $1 AND kind IN ($2, $3) ORDER BY seq");
const HAS_EVENTS_BEFORE: Sql = sql!("has_events_before",
    sqlite: "SELECT EXISTS(SELECT 1 FROM events WHERE ticket = ?1 AND seq < ?2)",
    postgres: "SELECT EXISTS(SELECT 1 FROM events WHERE ticket = $1 AND seq < $2)");
const SET_HEAD: Sql = sql!("set_head",
    sqlite: "INSERT INTO head (id, seq, hash) VALUES (1, ?1, ?2) ON CONFLICT(id) DO UPDATE SET seq = ?1, hash = ?2",
    postgres: "INSERT INTO head (id, seq, hash) VALUES (1, $1, $2) ON CONFLICT(id) DO UPDATE SET seq = $1, hash = $2");

impl Ledger {
    /// Start a write transaction. SQLite: `BEGIN IMMEDIATE`, so concurrent writers queue on the
    /// busy timeout. PostgreSQL: `BEGIN` and the chain's advisory lock, taken before the head is
    /// read, so concurrent writers queue on the lock.
    pub fn transaction(&mut self) -> Result<LedgerTx<'_>> {
        let tx = match &mut self.conn {
            Conn::Sqlite(c) => TxConn::Sqlite(
                c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?,
            ),
            Conn::Postgres(cell) => {
                let cell: &RefCell<PgConn> = cell;
                Db::Postgres(cell).batch(&BEGIN)?;
                let tx = PgTx {
                    cell,
                    open: true,
                    cache_file: self.path.clone(),
                };
                Db::Postgres(cell).execute(&LOCK_CHAIN, &[&pg::CHAIN_LOCK])?;
                TxConn::Postgres(tx)
            }
        };
        let head: Option<(i64, String)> =
            tx.db().row(&HEAD, &[], |r| Ok((r.get(0)?, r.get(1)?)))?;
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
}

/// The transaction under a [`LedgerTx`].
enum TxConn<'a> {
    Sqlite(rusqlite::Transaction<'a>),
    Postgres(PgTx<'a>),
}

impl TxConn<'_> {
    fn db(&self) -> Db<'_> {
        match self {
            TxConn::Sqlite(t) => Db::Sqlite(t),
            TxConn::Postgres(t) => Db::Postgres(t.cell),
        }
    }
}

/// A PostgreSQL transaction opened with `BEGIN`: rolled back when dropped before its commit.
struct PgTx<'a> {
    cell: &'a RefCell<PgConn>,
    open: bool,
    /// The local file of the verifier's caches.
    cache_file: PathBuf,
}

impl Drop for PgTx<'_> {
    fn drop(&mut self) {
        if self.open {
            if let Ok(mut pg) = self.cell.try_borrow_mut() {
                let _ = pg.call(|pg| pg.client.batch_execute("ROLLBACK"));
            }
        }
    }
}

/// A write transaction on the ledger.
pub struct LedgerTx<'a> {
    tx: TxConn<'a>,
    last_seq: i64,
    last_hash: String,
    appended: u64,
    pub(crate) touched: BTreeSet<String>,
    /// One record time for the whole transaction.
    recorded_at: chrono::DateTime<chrono::Utc>,
    /// Events appended in this transaction, per ticket, with the first sequence number: a ticket
    /// with nothing before that is derived from memory, without reading its events back.
    fresh: std::collections::HashMap<String, Vec<Event>>,
}

impl LedgerTx<'_> {
    pub(crate) fn db(&self) -> Db<'_> {
        self.tx.db()
    }

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
        let inserted = self.db().execute(
            &APPEND,
            &[
                &event.seq,
                &event.ticket,
                &event.line,
                &event.kind,
                &event.source,
                &event.actor,
                &at,
                &recorded,
                &event.meeting.map(|d| d.to_string()),
                &event.note,
                &payload,
                &event.dedup_key,
                &event.hash,
            ],
        )?;
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

    /// Append an event of another ledger as it is (its sequence number, times and hash), after
    /// checking that it is the next link of this transaction's chain.
    pub(crate) fn append_copy(&mut self, e: &Event) -> Result<()> {
        if e.seq <= self.last_seq || event_hash(&self.last_hash, e) != e.hash {
            return Err(Error::input(format!(
                "event {} of the source ledger does not follow the event before it",
                e.seq
            ))
            .hint("run `portcullis audit` on the source ledger; nothing was written"));
        }
        let inserted = self.db().execute(
            &APPEND,
            &[
                &e.seq,
                &e.ticket,
                &e.line,
                &e.kind,
                &e.source,
                &e.actor,
                &fmt_utc(e.at),
                &fmt_utc(e.recorded_at),
                &e.meeting.map(|d| d.to_string()),
                &e.note,
                &payload_text(&e.payload),
                &e.dedup_key,
                &e.hash,
            ],
        )?;
        if inserted == 0 {
            return Err(Error::input(format!(
                "event {} of the source ledger repeats the dedup key of an earlier one",
                e.seq
            ))
            .hint("run `portcullis audit` on the source ledger; nothing was written"));
        }
        self.last_seq = e.seq;
        self.last_hash = e.hash.clone();
        self.appended += 1;
        if let Some(t) = &e.ticket {
            self.touched.insert(t.clone());
        }
        Ok(())
    }

    pub fn events_for_ticket(&self, key: &str) -> Result<Vec<Event>> {
        events_for_ticket(self.db(), key)
    }

    /// A ticket's label changes, without reading whole events.
    pub fn label_facts(&self, key: &str) -> Result<Vec<LabelFact>> {
        let rows = self.db().rows(
            &LABEL_FACTS,
            &[&key, &kind::LABEL_ADDED, &kind::LABEL_REMOVED],
            |row| {
                Ok((
                    row.get::<String>(0)?,
                    row.get::<i64>(1)?,
                    row.get::<String>(2)?,
                    row.get::<Option<String>>(3)?,
                ))
            },
        )?;
        let mut out = Vec::new();
        for (at, seq, k, label) in rows {
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
        set_sync_state(self.db(), state)
    }

    /// Write what a verify run computed to the git caches (not events; see [`git_cache`]): in
    /// this transaction on SQLite; in the local cache file beside a PostgreSQL ledger.
    pub fn store_git_cache(
        &mut self,
        commits: &[git_cache::CommitRow],
        scans: &[git_cache::ScanRow],
        now: &str,
    ) -> Result<()> {
        match &self.tx {
            TxConn::Sqlite(tx) => git_cache::store(tx, commits, scans, now),
            TxConn::Postgres(tx) => git_cache::store_in_file(&tx.cache_file, commits, scans, now),
        }
    }

    /// How many events this transaction appended.
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
                _ => events_for_ticket(self.db(), key)?,
            };
            let derived = derive_ticket(policy, key, &events);
            clear_derived(self.db(), key)?;
            write_derived(self.db(), &derived)?;
        }
        Ok(())
    }

    fn has_events_before(&self, key: &str, seq: i64) -> Result<bool> {
        self.db().value(&HAS_EVENTS_BEFORE, &[&key, &seq])
    }

    /// Derive the touched tickets, move the head and commit.
    pub fn commit_with(mut self, policy: &LoadedPolicy) -> Result<u64> {
        self.rederive(policy)?;
        self.commit()
    }

    pub(crate) fn commit(self) -> Result<u64> {
        if self.appended > 0 {
            self.db()
                .execute(&SET_HEAD, &[&self.last_seq, &self.last_hash])?;
        }
        let n = self.appended;
        match self.tx {
            TxConn::Sqlite(tx) => tx.commit().named("commit")?,
            TxConn::Postgres(mut tx) => {
                if n > 0 {
                    Db::Postgres(tx.cell).execute(&NOTIFY, &[&self.last_seq])?;
                }
                Db::Postgres(tx.cell).batch(&COMMIT)?;
                tx.open = false;
            }
        }
        Ok(n)
    }
}
