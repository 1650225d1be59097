//! Numbered schema migrations, per backend, applied in order.
//!
//! - SQLite (`src/migrations/sqlite/`): `PRAGMA user_version` records the last one applied.
//! - PostgreSQL (`src/migrations/postgres/`): the one-row table `portcullis_schema` does; each
//!   migration runs in its own transaction under the chain's advisory lock, so two processes
//!   opening a new database at once apply it once. A database that holds tables of its own
//!   (not the ledger's) is refused before anything is written.

use std::cell::RefCell;

use rusqlite::Connection;

use crate::pg::{PgConn, CHAIN_LOCK};
use crate::{Error, Named, Result};

/// The SQLite migrations, in order. Never edit a shipped one: append a new file.
pub const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("migrations/sqlite/0001_init.sql")),
    (
        "0002_sync_state",
        include_str!("migrations/sqlite/0002_sync_state.sql"),
    ),
    (
        "0003_git_cache",
        include_str!("migrations/sqlite/0003_git_cache.sql"),
    ),
    (
        "0004_event_time_index",
        include_str!("migrations/sqlite/0004_event_time_index.sql"),
    ),
];

/// The PostgreSQL migrations, in order. Never edit a shipped one: append a new file.
pub const PG_MIGRATIONS: &[(&str, &str)] = &[(
    "0001_init",
    include_str!("migrations/postgres/0001_init.sql"),
)];

/// The PostgreSQL schema version this build writes.
pub fn pg_latest() -> i64 {
    PG_MIGRATIONS.len() as i64
}

/// The tables of a PostgreSQL ledger (what the migrations create, and the version table).
const PG_TABLES: &[&str] = &[
    "events",
    "tickets",
    "line_states",
    "violations",
    "head",
    "sync_state",
    "portcullis_schema",
];

/// The schema version of a PostgreSQL ledger (0 for an empty database), after checking that
/// the database holds nothing but the ledger. Reads only.
fn pg_check(pg: &mut PgConn) -> Result<i64> {
    let tables: Vec<String> = pg
        .client()
        .query(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = current_schema() ORDER BY 1",
            &[],
        )
        .map_err(|e| pg.error("schema_tables", e))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let ours = tables.iter().any(|t| t == "portcullis_schema");
    let foreign: Vec<&str> = tables
        .iter()
        .map(String::as_str)
        .filter(|t| !ours || !PG_TABLES.contains(t))
        .collect();
    if !foreign.is_empty() {
        return Err(Error::input(format!(
            "the database of the ledger {} holds other tables ({}): it is not a portcullis ledger",
            pg.who.shown,
            foreign.join(", ")
        ))
        .hint("give portcullis a database (or a schema, through the role's search_path) of its own; nothing was written"));
    }
    if !ours {
        return Ok(0);
    }
    let v: i64 = pg
        .client()
        .query_one("SELECT version FROM portcullis_schema WHERE id = 1", &[])
        .map_err(|e| pg.error("schema_version", e))?
        .get(0);
    if v > pg_latest() {
        return Err(Error::input(format!(
            "the ledger {} has schema version {v}, but this portcullis knows versions up to {}",
            pg.who.shown,
            pg_latest()
        ))
        .hint(
            "it was written by a newer portcullis: upgrade portcullis (the ledger was not changed)",
        ));
    }
    Ok(v)
}

/// Bring a PostgreSQL ledger's schema up to date.
pub(crate) fn pg_migrate(cell: &RefCell<PgConn>) -> Result<()> {
    cell.borrow_mut().call(pg_migrate_on)
}

fn pg_migrate_on(pg: &mut PgConn) -> Result<()> {
    let from = pg_check(pg)?;
    if from >= pg_latest() {
        return Ok(());
    }
    let who = pg.who.clone();
    for (i, (name, sql)) in PG_MIGRATIONS.iter().enumerate().skip(from.max(0) as usize) {
        let version = (i + 1) as i64;
        let mut tx = pg
            .client()
            .transaction()
            .map_err(|e| who.error("begin_migration", e))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CHAIN_LOCK])
            .map_err(|e| who.error("lock_chain", e))?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS portcullis_schema (
                 id INTEGER PRIMARY KEY CHECK (id = 1), version BIGINT NOT NULL)",
        )
        .map_err(|e| who.error("create_schema_version", e))?;
        let now: Option<i64> = tx
            .query_opt("SELECT version FROM portcullis_schema WHERE id = 1", &[])
            .map_err(|e| who.error("schema_version", e))?
            .map(|r| r.get(0));
        if now.unwrap_or(0) >= version {
            // Another process applied it meanwhile.
            continue;
        }
        tx.batch_execute(sql).map_err(|e| {
            if e.code() == Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) {
                return who.error("migrate", e);
            }
            Error::Problem(
                portcullis_core::Problem::internal(format!("ledger migration {name} failed"))
                    .because(e)
                    .hint("the ledger was left as it was before the migration"),
            )
        })?;
        tx.execute(
            "INSERT INTO portcullis_schema (id, version) VALUES (1, $1)
             ON CONFLICT (id) DO UPDATE SET version = $1",
            &[&version],
        )
        .map_err(|e| who.error("set_schema_version", e))?;
        tx.commit().map_err(|e| who.error("commit_migration", e))?;
        tracing::info!(migration = name, "applied ledger migration (PostgreSQL)");
    }
    Ok(())
}

/// The schema version this build writes.
pub fn latest() -> i64 {
    MIGRATIONS.len() as i64
}

/// The schema version of an open ledger.
pub fn current(conn: &Connection) -> Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .named("schema_version")
}

/// Refuse a ledger written by a newer portcullis, before anything is written to it.
pub fn check_not_newer(conn: &Connection, path: &str) -> Result<()> {
    let v = current(conn)?;
    if v > latest() {
        return Err(Error::input(format!(
            "the ledger {path} has schema version {v}, but this portcullis knows versions up to {}",
            latest()
        ))
        .hint(
            "it was written by a newer portcullis: upgrade portcullis (the ledger was not changed)",
        ));
    }
    Ok(())
}

/// Bring the schema up to date, each migration in its own transaction.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    let from = current(conn)?;
    for (i, (name, sql)) in MIGRATIONS.iter().enumerate().skip(from.max(0) as usize) {
        let tx = conn.transaction().named("begin_migration")?;
        tx.execute_batch(sql).map_err(|e| {
            Error::Problem(
                portcullis_core::Problem::internal(format!("ledger migration {name} failed"))
                    .because(e)
                    .hint("the ledger was left as it was before the migration"),
            )
        })?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .named("set_schema_version")?;
        tx.commit().named("commit_migration")?;
        tracing::info!(migration = name, "applied ledger migration");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_to_an_empty_database_and_are_idempotent() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(current(&conn).unwrap(), latest());
        migrate(&mut conn).unwrap();
        assert_eq!(current(&conn).unwrap(), latest());
    }

    #[test]
    fn a_schema_1_ledger_is_upgraded_and_keeps_its_events() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0].1).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO events (seq, kind, source, at, recorded_at, payload, hash) VALUES (1, 'import', 'file', 'x', 'x', '{}', 'h')",
            [],
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(current(&conn).unwrap(), latest());
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
        let st: i64 = conn
            .query_row("SELECT COUNT(*) FROM sync_state", [], |r| r.get(0))
            .unwrap();
        assert_eq!(st, 0);
        let cached: i64 = conn
            .query_row("SELECT COUNT(*) FROM git_commits", [], |r| r.get(0))
            .unwrap();
        assert_eq!(cached, 0);
    }
}
