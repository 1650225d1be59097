//! Write transactions: [`LedgerTx`], opened by [`Ledger::transaction`], appends events to the
//! chain and recomputes the derived state of the tickets they touch before it commits.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;

use portcullis_core::event::{derive_ticket, event_hash, hash_parts, kind, payload_text};
use portcullis_core::event::{Event, LabelFact, NewEvent};
use portcullis_core::policy::LoadedPolicy;
use portcullis_core::time::{fmt_utc, now, parse_utc};

use crate::db::{self, sql, Db, Sql};
use crate::pg::PgConn;
use crate::rows::{
    clear_derived, clear_derived_many, event_columns, events_for_ticket, row_to_event,
    set_sync_state, write_derived, write_derived_many,
};
use crate::{git_cache, Conn, Error, Ledger, Named, Result, SyncState, GENESIS, HEAD};

/// PostgreSQL: one round trip opens the transaction, takes the chain's lock ([`pg::CHAIN_LOCK`],
/// written out: a test checks they agree) and reads the head (as text: the simple protocol).
/// Its statements are planned for their arguments each time (`force_custom_plan`): a generic
/// plan cached while an import's events table was still small (a sequential scan) stayed in
/// use as the transaction grew it to 200,000 rows, and every lookup scanned them all. And without
/// JIT compilation: the batch lookups (a few hundred index probes, a millisecond) are estimated
/// expensive enough for the server to compile them first, which took 60–100 ms each time.
const BEGIN_LOCKED: Sql = sql!("begin", sqlite: "",
    postgres: "BEGIN; SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL jit = off;
               SELECT pg_advisory_xact_lock(8101820098873224300); SELECT seq, hash FROM head WHERE id = 1");
const COMMIT: Sql = sql!("commit", both: "COMMIT");
/// PostgreSQL: the head moved, and the listeners told (delivered when the transaction commits,
/// and never if it does not), in one statement.
const SET_HEAD_NOTIFY: Sql = sql!("set_head", sqlite: "",
    postgres: "WITH h AS (INSERT INTO head (id, seq, hash) VALUES (1, $1, $2)
                          ON CONFLICT(id) DO UPDATE SET seq = $1, hash = $2 RETURNING seq)
               SELECT seq, pg_notify('portcullis_events', seq::text) FROM h");
/// PostgreSQL: which of a batch's dedup keys are already taken: a lookup in the unique index per
/// key (`LATERAL … OFFSET 0` keeps the planner from flattening it into a scan of the whole
/// table, which it chose without statistics), so the cost follows the batch, not the ledger.
const TAKEN_KEYS: Sql = sql!("append_events", sqlite: "",
    postgres: "SELECT e.dedup_key FROM UNNEST($1::text[]) AS b(k)
               CROSS JOIN LATERAL (SELECT dedup_key FROM events WHERE dedup_key = b.k OFFSET 0) AS e");
/// SQLite: whether a dedup key is taken, asked before an event is linked into the chain (its
/// payload written out and hashed), which is most of what appending a duplicate costs.
const KEY_TAKEN: Sql = sql!("dedup_key_taken",
    sqlite: "SELECT 1 FROM events WHERE dedup_key = ?1",
    postgres: "SELECT 1 FROM events WHERE dedup_key = $1");
/// PostgreSQL: a batch of events in one statement, a column per array.
const APPEND_MANY: Sql = sql!("append_events", sqlite: "",
    postgres: "INSERT INTO events (seq, ticket, line, kind, source, actor, at, recorded_at, meeting, note, payload, dedup_key, hash)
               SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                                    $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[])");
const APPEND: Sql = sql!("append_event",
    sqlite: "INSERT INTO events (seq, ticket, line, kind, source, actor, at, recorded_at, meeting, note, payload, dedup_key, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
                 ON CONFLICT(dedup_key) DO NOTHING",
    postgres: "INSERT INTO events (seq, ticket, line, kind, source, actor, at, recorded_at, meeting, note, payload, dedup_key, hash)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                 ON CONFLICT(dedup_key) DO NOTHING");
/// PostgreSQL: `kind || ''` keeps the planner off the kind indexes: without statistics (an
/// import's own transaction, a new ledger) it combined the ticket index with a scan of every
/// label event's entry in `events_kind_at`, a few milliseconds per ticket.
const LABEL_FACTS: Sql = sql!("label_facts",
    sqlite: "SELECT at, seq, kind, json_extract(payload, '$.label') FROM events
             WHERE ticket = ?1 AND kind IN (?2, ?3) ORDER BY seq",
    postgres: "SELECT at, seq, kind, payload::jsonb ->> 'label' FROM events
             WHERE ticket = $1 AND kind || '' IN ($2, $3) ORDER BY seq");
/// PostgreSQL: the label changes of many tickets in one query (by ticket, then sequence number),
/// a lookup in the ticket index per ticket (see [`LABEL_FACTS`] and [`TAKEN_KEYS`]).
const LABEL_FACTS_MANY: Sql = sql!("label_facts_many", sqlite: "",
    postgres: "SELECT e.at, e.seq, e.kind, e.label, b.k FROM UNNEST($1::text[]) AS b(k)
               CROSS JOIN LATERAL (SELECT at, seq, kind, payload::jsonb ->> 'label' AS label FROM events
                                   WHERE ticket = b.k AND kind || '' IN ($2, $3) OFFSET 0) AS e
               ORDER BY b.k, e.seq");
const EVENTS_BEFORE: Sql = sql!("events_before",
    sqlite: concat!("SELECT ", event_columns!(), " FROM events WHERE ticket = ?1 AND seq < ?2 ORDER BY seq"),
    postgres: concat!("SELECT ", event_columns!(), " FROM events WHERE ticket = $1 AND seq < $2 ORDER BY seq"));
/// PostgreSQL: the events of many tickets, each before its own sequence number, in one query: a
/// ticket at a time through the ticket index (`LATERAL … OFFSET 0`, see [`TAKEN_KEYS`]), so that
/// the events appended in this transaction (after the bounds) are neither scanned nor sent back.
const EVENTS_BEFORE_MANY: Sql = sql!("events_before_many", sqlite: "",
    postgres: concat!("SELECT e.* FROM UNNEST($1::text[], $2::bigint[]) AS b(k, bound)
               CROSS JOIN LATERAL (SELECT ", event_columns!(), " FROM events
                                   WHERE ticket = b.k AND seq < b.bound OFFSET 0) AS e
               ORDER BY e.seq"));
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
                let mut tx = PgTx {
                    cell,
                    open: false,
                    cache_file: self.path.clone(),
                };
                let head = pg_begin(cell, &mut tx.open)?;
                return Ok(LedgerTx::new(TxConn::Postgres(tx), head));
            }
        };
        let head: Option<(i64, String)> =
            tx.db().row(&HEAD, &[], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(LedgerTx::new(tx, head))
    }
}

/// `BEGIN`, the chain's lock and the head, in one round trip; `open` is set as soon as the
/// transaction may be open (so that it is rolled back if anything after fails).
fn pg_begin(cell: &RefCell<PgConn>, open: &mut bool) -> Result<Option<(i64, String)>> {
    use postgres::SimpleQueryMessage;
    let q = &BEGIN_LOCKED;
    let mut pg = cell.borrow_mut();
    *open = true;
    let msgs = pg.call(|pg| pg.client().simple_query(q.postgres));
    let msgs = msgs.map_err(|e| pg.error(q.name, e))?;
    for m in &msgs {
        if let SimpleQueryMessage::Row(r) = m {
            if r.columns().first().map(|c| c.name()) == Some("seq") {
                let bad = || {
                    Error::internal("the ledger's head row is malformed; run `portcullis audit`")
                };
                let seq = r.get(0).and_then(|v| v.parse().ok()).ok_or_else(bad)?;
                let hash = r.get(1).ok_or_else(bad)?.to_string();
                return Ok(Some((seq, hash)));
            }
        }
    }
    Ok(None)
}

impl<'a> LedgerTx<'a> {
    fn new(tx: TxConn<'a>, head: Option<(i64, String)>) -> LedgerTx<'a> {
        let (last_seq, last_hash) = head.unwrap_or((0, GENESIS.to_string()));
        LedgerTx {
            tx,
            last_seq,
            last_hash,
            appended: 0,
            touched: BTreeSet::new(),
            recorded_at: now(),
            fresh: Default::default(),
        }
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
                let _ = pg.call(|pg| pg.client().batch_execute("ROLLBACK"));
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
        let Linked {
            event,
            at,
            recorded,
            payload,
        } = self.link(ev);
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
        Ok(Some(self.advance(event)))
    }

    /// Append events in order, each unless its dedup key is already taken (by the ledger or an
    /// earlier one of them): what [`LedgerTx::append`] returns for each, in order. On
    /// PostgreSQL in two round trips (the taken keys, then one `INSERT` of the new events)
    /// instead of one per event; the chain's lock keeps the keys from being taken in between.
    pub fn append_many(&mut self, evs: Vec<NewEvent>) -> Result<Vec<Option<i64>>> {
        let cell = match &self.tx {
            TxConn::Postgres(tx) if evs.len() > 1 => tx.cell,
            TxConn::Postgres(_) => return evs.into_iter().map(|e| self.append(e)).collect(),
            TxConn::Sqlite(_) => {
                // One indexed lookup per keyed event: a run that finds nothing new (a warm
                // `verify`) links and hashes nothing.
                let mut out = Vec::with_capacity(evs.len());
                for ev in evs {
                    let taken = match &ev.dedup_key {
                        Some(k) => self.db().row(&KEY_TAKEN, &[k], |_| Ok(()))?.is_some(),
                        None => false,
                    };
                    out.push(if taken { None } else { self.append(ev)? });
                }
                return Ok(out);
            }
        };
        let keys: Vec<&str> = evs.iter().filter_map(|e| e.dedup_key.as_deref()).collect();
        let mut taken: HashSet<String> = if keys.is_empty() {
            HashSet::new()
        } else {
            let q = &TAKEN_KEYS;
            let mut pg = cell.borrow_mut();
            let rows = pg.call(|pg| {
                let stmt = pg.statement(q.postgres)?;
                pg.client().query(&stmt, &[&keys])
            });
            let rows = rows.map_err(|e| pg.error(q.name, e))?;
            let keys: std::result::Result<HashSet<String>, _> =
                rows.iter().map(|r| r.try_get::<_, String>(0)).collect();
            keys.map_err(|source| Error::Postgres {
                query: q.name,
                source,
            })?
        };
        let mut out = Vec::with_capacity(evs.len());
        let mut cols = Columns::default();
        for ev in evs {
            if let Some(k) = &ev.dedup_key {
                if !taken.insert(k.clone()) {
                    out.push(None);
                    continue;
                }
            }
            let linked = self.link(ev);
            cols.push(&linked);
            out.push(Some(self.advance(linked.event)));
        }
        if cols.seq.is_empty() {
            return Ok(out);
        }
        let q = &APPEND_MANY;
        let mut pg = cell.borrow_mut();
        let n = pg.call(|pg| {
            let stmt = pg.statement(q.postgres)?;
            let c = &cols;
            pg.client().execute(
                &stmt,
                &[
                    &c.seq,
                    &c.ticket,
                    &c.line,
                    &c.kind,
                    &c.source,
                    &c.actor,
                    &c.at,
                    &c.recorded,
                    &c.meeting,
                    &c.note,
                    &c.payload,
                    &c.dedup_key,
                    &c.hash,
                ],
            )
        });
        let n = n.map_err(|e| pg.error(q.name, e))?;
        if n != cols.seq.len() as u64 {
            return Err(Error::internal(format!(
                "appending {} events inserted {n}",
                cols.seq.len()
            )));
        }
        Ok(out)
    }

    /// The event `ev` becomes as the chain's next link: its sequence number, record time and
    /// hash, with the texts stored for them.
    fn link(&self, ev: NewEvent) -> Linked {
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
        Linked {
            event,
            at,
            recorded,
            payload,
        }
    }

    /// Move the chain on past `event`, just inserted; its sequence number.
    fn advance(&mut self, event: Event) -> i64 {
        let seq = event.seq;
        self.last_seq = seq;
        self.last_hash = event.hash.clone();
        self.appended += 1;
        if let Some(t) = &event.ticket {
            if !self.touched.contains(t) {
                self.touched.insert(t.clone());
            }
            self.fresh.entry(t.clone()).or_default().push(event);
        }
        seq
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
        rows.into_iter()
            .map(|(at, seq, k, label)| label_fact(&at, seq, &k, label))
            .collect()
    }

    /// The label changes of each of `keys` (each as [`LedgerTx::label_facts`] gives them; a key
    /// without any maps to an empty list). PostgreSQL: one query for them all; SQLite: one per
    /// ticket (a function call, not a round trip).
    pub fn label_facts_many(&self, keys: &[&str]) -> Result<HashMap<String, Vec<LabelFact>>> {
        let mut out: HashMap<String, Vec<LabelFact>> =
            keys.iter().map(|k| (k.to_string(), Vec::new())).collect();
        let TxConn::Postgres(tx) = &self.tx else {
            for key in keys {
                out.insert(key.to_string(), self.label_facts(key)?);
            }
            return Ok(out);
        };
        if keys.is_empty() {
            return Ok(out);
        }
        // Each key once: the query looks each up and would repeat its facts.
        let keys: Vec<String> = out.keys().cloned().collect();
        let args: &db::PgArgs<'_> = &[&keys, &kind::LABEL_ADDED, &kind::LABEL_REMOVED];
        db::pg_each(tx.cell, &LABEL_FACTS_MANY, args, |row| {
            let ticket: String = row.get(4)?;
            let fact = label_fact(
                &row.get::<String>(0)?,
                row.get(1)?,
                &row.get::<String>(2)?,
                row.get(3)?,
            )?;
            out.entry(ticket).or_default().push(fact);
            Ok(())
        })?;
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

    /// The chain's head as this transaction sees it: what it read when it began (under the
    /// chain's lock), moved by every event it appended; as [`Ledger::head`] has it.
    pub fn head(&self) -> (i64, &str) {
        (self.last_seq, &self.last_hash)
    }

    /// How many events this transaction appended.
    pub fn appended(&self) -> u64 {
        self.appended
    }

    /// Recompute the derived state of every ticket touched so far.
    pub fn rederive(&mut self, policy: &LoadedPolicy) -> Result<()> {
        let touched = std::mem::take(&mut self.touched);
        let mut fresh = std::mem::take(&mut self.fresh);
        if let TxConn::Postgres(tx) = &self.tx {
            let cell = tx.cell;
            let keys: Vec<String> = touched.into_iter().collect();
            for chunk in keys.chunks(DERIVE_CHUNK) {
                rederive_pg(cell, policy, chunk, &mut fresh)?;
            }
            return Ok(());
        }
        for key in &touched {
            // The events appended here are in memory: only those before them are read.
            let events = match fresh.remove(key) {
                Some(new) => {
                    let mut events = self.events_before(key, new[0].seq)?;
                    events.extend(new);
                    events
                }
                None => events_for_ticket(self.db(), key)?,
            };
            let derived = derive_ticket(policy, key, &events);
            clear_derived(self.db(), key)?;
            write_derived(self.db(), &derived)?;
        }
        Ok(())
    }

    /// [`LedgerTx::rederive`] now on SQLite (where a round trip is a function call); on
    /// PostgreSQL once [`DERIVE_BATCH`] tickets wait for it, so that they are derived together
    /// in a few round trips (those left are derived by [`LedgerTx::commit_with`]). For a caller
    /// that derives as it goes (an import) and reads no derived row before it commits.
    pub fn rederive_batched(&mut self, policy: &LoadedPolicy) -> Result<()> {
        if matches!(self.tx, TxConn::Postgres(_)) && self.touched.len() < DERIVE_BATCH {
            return Ok(());
        }
        self.rederive(policy)
    }

    fn events_before(&self, key: &str, seq: i64) -> Result<Vec<Event>> {
        self.db().rows(&EVENTS_BEFORE, &[&key, &seq], row_to_event)
    }

    /// Derive the touched tickets, move the head and commit.
    pub fn commit_with(mut self, policy: &LoadedPolicy) -> Result<u64> {
        self.rederive(policy)?;
        self.commit()
    }

    pub(crate) fn commit(self) -> Result<u64> {
        let n = self.appended;
        match self.tx {
            TxConn::Sqlite(tx) => {
                if n > 0 {
                    Db::Sqlite(&tx).execute(&SET_HEAD, &[&self.last_seq, &self.last_hash])?;
                }
                tx.commit().named("commit")?
            }
            TxConn::Postgres(mut tx) => {
                if n > 0 {
                    let head: Option<i64> = Db::Postgres(tx.cell).row(
                        &SET_HEAD_NOTIFY,
                        &[&self.last_seq, &self.last_hash],
                        |r| r.get(0),
                    )?;
                    if head.is_none() {
                        return Err(Error::internal("the ledger's head was not moved"));
                    }
                }
                Db::Postgres(tx.cell).batch(&COMMIT)?;
                tx.open = false;
            }
        }
        Ok(n)
    }
}

/// PostgreSQL: how many tickets [`LedgerTx::rederive`] derives per round of statements (a
/// bound on the arrays sent and on the events read back at once).
const DERIVE_CHUNK: usize = 5_000;
/// PostgreSQL: how many touched tickets [`LedgerTx::rederive_batched`] lets wait (a bound on the
/// events it keeps in memory meanwhile).
const DERIVE_BATCH: usize = 1_000;

/// PostgreSQL: [`LedgerTx::rederive`] for the tickets `keys`, in five round trips: their earlier
/// events read in one query, their derived rows cleared in one statement and written in one
/// per table. The same events as one ticket at a time: those appended in this transaction
/// (`fresh`) from memory, and the stored ones before the first of them (all of a ticket with
/// none there), by sequence number.
fn rederive_pg(
    cell: &RefCell<PgConn>,
    policy: &LoadedPolicy,
    keys: &[String],
    fresh: &mut std::collections::HashMap<String, Vec<Event>>,
) -> Result<()> {
    let names: Vec<&str> = keys.iter().map(String::as_str).collect();
    let bounds: Vec<i64> = keys
        .iter()
        .map(|k| fresh.get(k).map_or(i64::MAX, |new| new[0].seq))
        .collect();
    let mut stored: std::collections::HashMap<String, Vec<Event>> = Default::default();
    db::pg_each(cell, &EVENTS_BEFORE_MANY, &[&names, &bounds], |row| {
        let e = row_to_event(row)?;
        if let Some(key) = e.ticket.clone() {
            stored.entry(key).or_default().push(e);
        }
        Ok(())
    })?;
    let mut derived = Vec::with_capacity(keys.len());
    for key in keys {
        let mut events = stored.remove(key).unwrap_or_default();
        if let Some(new) = fresh.remove(key) {
            events.extend(new);
        }
        derived.push(derive_ticket(policy, key, &events));
    }
    clear_derived_many(cell, &names)?;
    write_derived_many(cell, &derived)
}

/// A label change from its stored columns (`kind` is one of the two label kinds).
fn label_fact(at: &str, seq: i64, k: &str, label: Option<String>) -> Result<LabelFact> {
    let (Some(at), Some(label)) = (parse_utc(at), label) else {
        return Err(Error::internal(format!(
            "event {seq} is malformed; run `portcullis audit`"
        )));
    };
    Ok(LabelFact {
        at,
        seq,
        added: k == kind::LABEL_ADDED,
        label,
    })
}

/// An event as stored: the texts of its times and payload beside it.
struct Linked {
    event: Event,
    at: String,
    recorded: String,
    payload: String,
}

/// A batch of events for [`APPEND_MANY`], column by column.
#[derive(Default)]
struct Columns {
    seq: Vec<i64>,
    ticket: Vec<Option<String>>,
    line: Vec<Option<String>>,
    kind: Vec<String>,
    source: Vec<String>,
    actor: Vec<Option<String>>,
    at: Vec<String>,
    recorded: Vec<String>,
    meeting: Vec<Option<String>>,
    note: Vec<Option<String>>,
    payload: Vec<String>,
    dedup_key: Vec<Option<String>>,
    hash: Vec<String>,
}

impl Columns {
    fn push(&mut self, l: &Linked) {
        let e = &l.event;
        self.seq.push(e.seq);
        self.ticket.push(e.ticket.clone());
        self.line.push(e.line.clone());
        self.kind.push(e.kind.clone());
        self.source.push(e.source.clone());
        self.actor.push(e.actor.clone());
        self.at.push(l.at.clone());
        self.recorded.push(l.recorded.clone());
        self.meeting.push(e.meeting.map(|d| d.to_string()));
        self.note.push(e.note.clone());
        self.payload.push(l.payload.clone());
        self.dedup_key.push(e.dedup_key.clone());
        self.hash.push(e.hash.clone());
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn begin_takes_the_chain_lock() {
        let lock = crate::pg::CHAIN_LOCK.to_string();
        assert!(super::BEGIN_LOCKED
            .postgres
            .contains(&format!("pg_advisory_xact_lock({lock})")));
    }
}
