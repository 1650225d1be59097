//! Numbered schema migrations, applied in order; `PRAGMA user_version` records the last one.

use rusqlite::Connection;

use crate::{Error, Result};

/// The migrations, in order. Never edit a shipped one: append a new file.
pub const MIGRATIONS: &[(&str, &str)] = &[("0001_init", include_str!("migrations/0001_init.sql"))];

/// The schema version this build writes.
pub fn latest() -> i64 {
    MIGRATIONS.len() as i64
}

/// The schema version of an open ledger.
pub fn current(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
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
        let tx = conn.transaction()?;
        tx.execute_batch(sql)
            .map_err(|e| Error::internal(format!("migration {name} failed: {e}")))?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
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
}
