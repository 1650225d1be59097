//! Numbered schema migrations, applied in order; `PRAGMA user_version` records the last one.

use rusqlite::Connection;

use crate::{Error, Named, Result};

/// The migrations, in order. Never edit a shipped one: append a new file.
pub const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("migrations/0001_init.sql")),
    (
        "0002_sync_state",
        include_str!("migrations/0002_sync_state.sql"),
    ),
    (
        "0003_git_cache",
        include_str!("migrations/0003_git_cache.sql"),
    ),
    (
        "0004_event_time_index",
        include_str!("migrations/0004_event_time_index.sql"),
    ),
];

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
