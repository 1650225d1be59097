//! One way to run a named query on either backend: a [`Sql`] carries the query's name and its
//! SQLite and PostgreSQL forms side by side; [`Db`] runs it on an SQLite connection (or
//! transaction) or on the PostgreSQL connection, with the same arguments ([`Arg`]) and the same
//! typed reads of its rows ([`DbRow`]).

use std::cell::RefCell;

use crate::error::{Error, Named, Result};
use crate::pg::PgConn;

/// A named query in its two dialects.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sql {
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

/// A value both drivers can send: `i64`, `&str`, `String`, `bool` and their `Option`s.
pub(crate) trait Arg: rusqlite::ToSql + postgres::types::ToSql + Sync {}
impl<T: rusqlite::ToSql + postgres::types::ToSql + Sync> Arg for T {}

/// A value both drivers can read: `i64`, `String`, `bool` and their `Option`s.
pub(crate) trait Col:
    rusqlite::types::FromSql + for<'b> postgres::types::FromSql<'b>
{
}
impl<T: rusqlite::types::FromSql + for<'b> postgres::types::FromSql<'b>> Col for T {}

/// The connection a query runs on.
#[derive(Clone, Copy)]
pub(crate) enum Db<'a> {
    Sqlite(&'a rusqlite::Connection),
    Postgres(&'a RefCell<PgConn>),
}

/// One row of a result, from either backend.
pub(crate) enum DbRow<'a, 'r> {
    Sqlite(&'a rusqlite::Row<'r>, &'static str),
    Postgres(&'a postgres::Row, &'static str),
}

impl DbRow<'_, '_> {
    pub fn get<T: Col>(&self, i: usize) -> Result<T> {
        match self {
            DbRow::Sqlite(r, name) => r.get(i).named(name),
            DbRow::Postgres(r, name) => r.try_get(i).map_err(|source| Error::Postgres {
                query: name,
                source,
            }),
        }
    }
}

fn sqlite_args<'x>(args: &'x [&'x dyn Arg]) -> Vec<&'x dyn rusqlite::ToSql> {
    args.iter().map(|a| *a as &dyn rusqlite::ToSql).collect()
}

fn pg_args<'x>(args: &'x [&'x dyn Arg]) -> Vec<&'x (dyn postgres::types::ToSql + Sync)> {
    args.iter()
        .map(|a| *a as &(dyn postgres::types::ToSql + Sync))
        .collect()
}

impl Db<'_> {
    /// Run `q` and hand each row to `f`.
    pub fn each(
        &self,
        q: &Sql,
        args: &[&dyn Arg],
        mut f: impl FnMut(&DbRow<'_, '_>) -> Result<()>,
    ) -> Result<()> {
        match self {
            Db::Sqlite(c) => {
                let mut stmt = c.prepare_cached(q.sqlite).named(q.name)?;
                let mut rows = stmt.query(sqlite_args(args).as_slice()).named(q.name)?;
                while let Some(row) = rows.next().named(q.name)? {
                    f(&DbRow::Sqlite(row, q.name))?;
                }
                Ok(())
            }
            Db::Postgres(cell) => {
                let rows = {
                    let mut pg = cell.borrow_mut();
                    let rows = pg.call(|pg| {
                        let stmt = pg.statement(q.postgres)?;
                        pg.client().query(&stmt, &pg_args(args))
                    });
                    rows.map_err(|e| pg.error(q.name, e))?
                };
                for row in &rows {
                    f(&DbRow::Postgres(row, q.name))?;
                }
                Ok(())
            }
        }
    }

    /// Run `q`, reading each row with `f`.
    pub fn rows<T>(
        &self,
        q: &Sql,
        args: &[&dyn Arg],
        mut f: impl FnMut(&DbRow<'_, '_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        self.each(q, args, |r| {
            out.push(f(r)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// Run `q` for at most one row.
    pub fn row<T>(
        &self,
        q: &Sql,
        args: &[&dyn Arg],
        mut f: impl FnMut(&DbRow<'_, '_>) -> Result<T>,
    ) -> Result<Option<T>> {
        let mut out = None;
        self.each(q, args, |r| {
            if out.is_none() {
                out = Some(f(r)?);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Run `q` for the first column of its one row.
    pub fn value<T: Col>(&self, q: &Sql, args: &[&dyn Arg]) -> Result<T> {
        self.row(q, args, |r| r.get(0))?
            .ok_or_else(|| Error::internal(format!("ledger query `{}` returned no row", q.name)))
    }

    /// Run a statement; returns how many rows it changed.
    pub fn execute(&self, q: &Sql, args: &[&dyn Arg]) -> Result<u64> {
        match self {
            Db::Sqlite(c) => {
                let mut stmt = c.prepare_cached(q.sqlite).named(q.name)?;
                let n = stmt.execute(sqlite_args(args).as_slice()).named(q.name)?;
                Ok(n as u64)
            }
            Db::Postgres(cell) => {
                let mut pg = cell.borrow_mut();
                let n = pg.call(|pg| {
                    let stmt = pg.statement(q.postgres)?;
                    pg.client().execute(&stmt, &pg_args(args))
                });
                n.map_err(|e| pg.error(q.name, e))
            }
        }
    }

    /// Run statements without arguments (several, `;`-separated).
    pub fn batch(&self, q: &Sql) -> Result<()> {
        match self {
            Db::Sqlite(c) => c.execute_batch(q.sqlite).named(q.name),
            Db::Postgres(cell) => {
                let mut pg = cell.borrow_mut();
                let r = pg.call(|pg| pg.client().batch_execute(q.postgres));
                r.map_err(|e| pg.error(q.name, e))
            }
        }
    }
}

/// The arguments of a PostgreSQL-only statement: arrays (`Vec<String>`, `Vec<Option<i64>>`, …),
/// which SQLite cannot take, for the statements that do a batch in one round trip.
pub(crate) type PgArgs<'x> = [&'x (dyn postgres::types::ToSql + Sync)];

/// PostgreSQL only: run `q` (its PostgreSQL form) and hand each row to `f`.
pub(crate) fn pg_each(
    cell: &RefCell<PgConn>,
    q: &Sql,
    args: &PgArgs<'_>,
    mut f: impl FnMut(&DbRow<'_, '_>) -> Result<()>,
) -> Result<()> {
    let rows = {
        let mut pg = cell.borrow_mut();
        let rows = pg.call(|pg| {
            let stmt = pg.statement(q.postgres)?;
            pg.client().query(&stmt, args)
        });
        rows.map_err(|e| pg.error(q.name, e))?
    };
    for row in &rows {
        f(&DbRow::Postgres(row, q.name))?;
    }
    Ok(())
}

/// PostgreSQL only: run the statement `q` (its PostgreSQL form); how many rows it changed.
pub(crate) fn pg_execute(cell: &RefCell<PgConn>, q: &Sql, args: &PgArgs<'_>) -> Result<u64> {
    let mut pg = cell.borrow_mut();
    let n = pg.call(|pg| {
        let stmt = pg.statement(q.postgres)?;
        pg.client().execute(&stmt, args)
    });
    n.map_err(|e| pg.error(q.name, e))
}

/// A [`Sql`] from its name and its two forms.
macro_rules! sql {
    ($name:literal, sqlite: $lite:expr, postgres: $pg:expr $(,)?) => {
        $crate::db::Sql {
            name: $name,
            sqlite: $lite,
            postgres: $pg,
        }
    };
    // One text for both (no placeholders, no dialect).
    ($name:literal, both: $sql:expr $(,)?) => {
        $crate::db::Sql {
            name: $name,
            sqlite: $sql,
            postgres: $sql,
        }
    };
}
pub(crate) use sql;
