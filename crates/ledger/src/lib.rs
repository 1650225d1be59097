//! # portcullis-ledger
//!
//! The ledger: the append-only, hash-chained event log and the state derived from it (tickets,
//! per-line states, violations), in an SQLite file (the embedded default) or in a PostgreSQL
//! database (a team's shared ledger). One [`Ledger`] and one [`LedgerTx`] serve both: nothing
//! above this crate knows which backend it has, except how it is opened ([`LedgerTarget`]).
//!
//! - Opening checks the database is a ledger and not from a newer portcullis *before* writing
//!   anything (PostgreSQL: and that it holds no tables of its own).
//! - SQLite: WAL, a busy timeout and foreign keys are set on every connection (outside migrations).
//! - Every change happens in a [`LedgerTx`]: events are appended and the derived state of the
//!   tickets they touch is recomputed in the same transaction, so an interruption leaves the
//!   ledger as it was before.
//! - The database refuses `UPDATE` and `DELETE` on `events` (triggers, on both backends).
//! - One writer at a time appends to the chain: SQLite's `BEGIN IMMEDIATE`; on PostgreSQL every
//!   write transaction takes the advisory lock [`pg::CHAIN_LOCK`] before it reads the chain's
//!   head, so concurrent writers queue and never fork the chain.
//! - PostgreSQL: a transaction that appends events sends `NOTIFY portcullis_events` (with the
//!   new head's sequence number) before it commits, so it is delivered if and only if the
//!   transaction commits; [`Ledger::listen`] waits for them on a connection of its own (the
//!   triage screen's live updates). A lost connection is an input error saying so (exit 2);
//!   [`pg::connection_lost`] tells a read-only caller it may open the ledger again and retry.
//!
//! This is the only crate that writes SQL: every statement is a named query, with its SQLite and
//! PostgreSQL forms side by side (the name appears in errors, [`Named`]); schema changes are
//! numbered files per backend under `src/migrations/sqlite/` and `src/migrations/postgres/`,
//! listed in [`migrations`]. Rules stay in `portcullis-core`; a query never decides what a state
//! means.
//!
//! ## PostgreSQL
//! The client is the `postgres` crate, the synchronous client over `tokio-postgres`, rather than
//! sqlx: its API has rusqlite's shape (a connection, prepared statements, rows read by index), so
//! both backends sit behind the same few helpers ([`db`]); queries are plain SQL, and nothing
//! needs a database at compile time. TLS is rustls with the ring provider (the HTTP clients'),
//! with the platform's root certificates; `sslmode=disable|prefer|require|verify-full` (with
//! `require` the certificate is verified too). The password never appears in messages or logs:
//! URLs are shown through [`pg::shown_url`].
//!
//! The verifier's caches ([`git_cache`]) describe local clones, not the team's record: with a
//! PostgreSQL ledger they stay in a local SQLite file (the workspace keeps it beside its config,
//! `.portcullis-cache.db`), which is what [`Ledger::path`] names.

pub(crate) mod db;
pub mod error;
pub mod git_cache;
pub mod migrations;
pub mod pg;
pub mod queries;
mod rows;
mod status;
mod tls;
mod tx;

pub use error::{Error, Named, Result};
pub use portcullis_core::secret::Secret;
pub use rows::SyncState;
use rows::{
    derived_dump, event_columns, events_for_ticket, row_to_event, set_sync_state, sync_state,
    sync_states, write_derived,
};
pub use status::StatusRow;
pub use tx::LedgerTx;

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use db::{sql, Db, Sql};
use pg::PgConn;

pub use portcullis_core::event::{event_hash, key_order};
pub use portcullis_core::workflow::state_rank;
use std::time::Duration;

use rusqlite::Connection;

use portcullis_core::event::{derive_ticket, Event, NewEvent};
use portcullis_core::policy::LoadedPolicy;

/// The hash that precedes the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Where a ledger is: an SQLite file, or a PostgreSQL database (`postgresql://…` or
/// `postgres://…`). Its `Debug` and [`LedgerTarget::shown`] hide any password.
#[derive(Clone, PartialEq, Eq)]
pub enum LedgerTarget {
    File(PathBuf),
    Postgres(String),
}

impl LedgerTarget {
    /// A URL of PostgreSQL's is a database; anything else is an SQLite file's path.
    pub fn parse(s: &str) -> LedgerTarget {
        if pg::is_postgres_url(s) {
            LedgerTarget::Postgres(s.trim().to_string())
        } else {
            LedgerTarget::File(PathBuf::from(s))
        }
    }

    /// As [`LedgerTarget::parse`], from a path given on the command line or in the config.
    pub fn from_path(p: &Path) -> LedgerTarget {
        match p.to_str() {
            Some(s) if pg::is_postgres_url(s) => LedgerTarget::Postgres(s.trim().to_string()),
            _ => LedgerTarget::File(p.to_path_buf()),
        }
    }

    /// The location for messages, with any password replaced by `***`.
    pub fn shown(&self) -> String {
        match self {
            LedgerTarget::File(p) => p.display().to_string(),
            LedgerTarget::Postgres(url) => pg::shown_url(url),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, LedgerTarget::Postgres(_))
    }
}

impl std::fmt::Debug for LedgerTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LedgerTarget::File(p) => f.debug_tuple("File").field(p).finish(),
            LedgerTarget::Postgres(_) => f.debug_tuple("Postgres").field(&self.shown()).finish(),
        }
    }
}

/// The connection of an open ledger.
pub(crate) enum Conn {
    Sqlite(Connection),
    Postgres(Box<RefCell<PgConn>>),
}

/// An open ledger.
pub struct Ledger {
    conn: Conn,
    /// The SQLite file; with PostgreSQL, the local file of the verifier's caches.
    path: PathBuf,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Ledger");
        d.field("path", &self.path);
        if let Conn::Postgres(c) = &self.conn {
            if let Ok(c) = c.try_borrow() {
                d.field("postgres", &c.who.shown);
            }
        }
        d.finish()
    }
}

pub(crate) const HEAD: Sql = sql!("head", both: "SELECT seq, hash FROM head WHERE id = 1");
const EVENT_COUNT: Sql = sql!("event_count", both: "SELECT COUNT(*) FROM events");
const ALL_EVENTS: Sql = sql!("for_each_event",
    sqlite: concat!("SELECT ", event_columns!(), " FROM events ORDER BY seq"),
    postgres: concat!("SELECT ", event_columns!(), " FROM events WHERE seq > $1 ORDER BY seq LIMIT 5000"));
const TICKET_KEYS: Sql = sql!("ticket_keys",
    both: "SELECT DISTINCT ticket FROM events WHERE ticket IS NOT NULL ORDER BY ticket");
const CLEAR_ALL_DERIVED: Sql = sql!("rebuild",
    both: "DELETE FROM tickets; DELETE FROM line_states; DELETE FROM violations;");

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

    /// Open the ledger at `target`: an existing SQLite file, or a PostgreSQL database (whose
    /// schema is created or brought up to date; an empty database becomes a ledger). `password`
    /// is used when the URL has none; `cache` is the local file of the verifier's caches for a
    /// PostgreSQL ledger.
    pub fn open_target(
        target: &LedgerTarget,
        password: Option<&Secret>,
        cache: &Path,
    ) -> Result<Ledger> {
        match target {
            LedgerTarget::File(p) => Self::open(p),
            LedgerTarget::Postgres(url) => Self::open_postgres(url, password, cache),
        }
    }

    /// Open (and create the schema of) the PostgreSQL ledger at `url`.
    pub fn open_postgres(url: &str, password: Option<&Secret>, cache: &Path) -> Result<Ledger> {
        let mut target = pg::parse_url(url)?;
        let client = pg::connect(&mut target, password)?;
        let who = pg::Who {
            user: pg::user_of(&target.config),
            shown: target.shown.clone(),
        };
        let cell = Box::new(RefCell::new(PgConn::new(client, who, target)));
        // Read-only checks, then the migrations: nothing is written to a database we cannot use.
        migrations::pg_migrate(&cell)?;
        pg::failpoint_lose_connection(&mut cell.borrow_mut());
        Ok(Ledger {
            conn: Conn::Postgres(cell),
            path: cache.to_path_buf(),
        })
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
            conn: Conn::Sqlite(conn),
            path: path.to_path_buf(),
        })
    }

    /// An in-memory ledger, for tests and benchmarks.
    pub fn in_memory() -> Result<Ledger> {
        let mut conn = Connection::open_in_memory()?;
        migrations::migrate(&mut conn)?;
        Ok(Ledger {
            conn: Conn::Sqlite(conn),
            path: PathBuf::from(":memory:"),
        })
    }

    /// The SQLite file; for a PostgreSQL ledger, the local file of the verifier's caches.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Other connections' commits as they happen, on PostgreSQL (`LISTEN`, on a connection of
    /// its own; see [`pg::Changes`]); `None` on SQLite, whose `data_version` is cheap to poll.
    pub fn listen(&self) -> Result<Option<pg::Changes>> {
        match &self.conn {
            Conn::Sqlite(_) => Ok(None),
            Conn::Postgres(c) => {
                let c = c.borrow();
                pg::listen(&c).map(Some)
            }
        }
    }

    /// Whether this ledger is on PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        matches!(self.conn, Conn::Postgres(_))
    }

    /// The SQLite connection, for benchmarks that time raw SQL (`None` on PostgreSQL).
    pub fn sqlite_conn(&self) -> Option<&Connection> {
        match &self.conn {
            Conn::Sqlite(c) => Some(c),
            Conn::Postgres(_) => None,
        }
    }

    pub(crate) fn db(&self) -> Db<'_> {
        match &self.conn {
            Conn::Sqlite(c) => Db::Sqlite(c),
            Conn::Postgres(c) => Db::Postgres(c),
        }
    }

    /// Number of events.
    pub fn event_count(&self) -> Result<i64> {
        self.db().value(&EVENT_COUNT, &[])
    }

    /// All events of a ticket, in ledger order.
    pub fn events_for_ticket(&self, key: &str) -> Result<Vec<Event>> {
        events_for_ticket(self.db(), key)
    }

    /// Every event, in ledger order, streamed to `f` (from PostgreSQL, a page at a time).
    pub fn for_each_event(&self, mut f: impl FnMut(Event) -> Result<()>) -> Result<()> {
        match self.db() {
            db @ Db::Sqlite(_) => db.each(&ALL_EVENTS, &[], |row| f(row_to_event(row)?)),
            db @ Db::Postgres(_) => {
                let mut after = 0i64;
                loop {
                    let page = db.rows(&ALL_EVENTS, &[&after], row_to_event)?;
                    let Some(last) = page.last() else {
                        return Ok(());
                    };
                    after = last.seq;
                    for e in page {
                        f(e)?;
                    }
                }
            }
        }
    }

    /// Every ticket key that has events.
    pub fn ticket_keys(&self) -> Result<Vec<String>> {
        self.db().rows(&TICKET_KEYS, &[], |r| r.get(0))
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
        const NAME: &str = "events_of_kinds";
        let mut out = Vec::new();
        match &self.conn {
            Conn::Sqlite(conn) => {
                let marks = vec!["?"; kinds.len()].join(", ");
                let mut stmt = conn
                    .prepare(&format!(
                        "SELECT {} FROM events WHERE kind IN ({marks}) ORDER BY seq",
                        event_columns!()
                    ))
                    .named(NAME)?;
                let mut rows = stmt
                    .query(rusqlite::params_from_iter(kinds.iter()))
                    .named(NAME)?;
                while let Some(row) = rows.next().named(NAME)? {
                    out.push(row_to_event(&db::DbRow::Sqlite(row, NAME))?);
                }
            }
            Conn::Postgres(cell) => {
                let mut pg = cell.borrow_mut();
                let rows = pg.call(|pg| {
                    pg.client().query(
                        concat!(
                            "SELECT ",
                            event_columns!(),
                            " FROM events WHERE kind = ANY($1) ORDER BY seq"
                        ),
                        &[&kinds],
                    )
                });
                let rows = rows.map_err(|e| pg.error(NAME, e))?;
                drop(pg);
                for row in &rows {
                    out.push(row_to_event(&db::DbRow::Postgres(row, NAME))?);
                }
            }
        }
        Ok(out)
    }

    /// Where a tracker sync stands (`None` before its first run).
    pub fn sync_state(&self, source: &str) -> Result<Option<SyncState>> {
        sync_state(self.db(), source)
    }

    /// Record where a sync stands, outside an event transaction (e.g. a run that starts).
    pub fn set_sync_state(&mut self, state: &SyncState) -> Result<()> {
        set_sync_state(self.db(), state)
    }

    /// A canonical dump of the derived tables, to compare a rebuild with what was there.
    pub fn derived_dump(&self) -> Result<Vec<String>> {
        derived_dump(self.db())
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
        let head: Option<(i64, String)> =
            self.db().row(&HEAD, &[], |r| Ok((r.get(0)?, r.get(1)?)))?;
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
        tx.db().batch(&CLEAR_ALL_DERIVED)?;
        for key in &keys {
            tx.touched.insert(key.clone());
        }
        tx.rederive(policy)?;
        tx.commit()?;
        let after = self.derived_dump()?;
        Ok((before, after))
    }

    /// Copy every event of `src` into this ledger, which must be empty: sequence numbers, times
    /// and hashes are kept, each link is checked on the way, the derived state is computed and
    /// the head set, all in one transaction, with where each tracker sync stands (its cursor and
    /// the checkpoint of a run in progress). Returns how many events were copied.
    pub fn copy_from(&mut self, src: &Ledger, policy: &LoadedPolicy) -> Result<u64> {
        if self.event_count()? > 0 {
            return Err(Error::input("the target ledger is not empty")
                .hint("copy into a new database or file; nothing was written"));
        }
        let syncs = sync_states(src.db())?;
        let mut tx = self.transaction()?;
        src.for_each_event(|e| tx.append_copy(&e))?;
        for s in &syncs {
            tx.set_sync_state(s)?;
        }
        tx.commit_with(policy)
    }

    /// What the derived state would be if rebuilt now, without writing: for `audit`.
    pub fn recompute_dump(&self, policy: &LoadedPolicy) -> Result<Vec<String>> {
        // A scratch ledger with the full schema (every migration), holding only derived state.
        let mem = Ledger::in_memory()?;
        for key in self.ticket_keys()? {
            let events = self.events_for_ticket(&key)?;
            write_derived(mem.db(), &derive_ticket(policy, &key, &events))?;
        }
        derived_dump(mem.db())
    }
}

/// Result of [`Ledger::verify_chain`].
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ChainReport {
    pub events: u64,
    pub last_seq: i64,
    pub problems: Vec<String>,
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
