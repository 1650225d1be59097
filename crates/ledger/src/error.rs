//! The ledger's errors: a message of its own ([`Problem`]), or an SQLite or PostgreSQL error with
//! the name of the query that met it. What a PostgreSQL error means to the user (permission
//! denied, a lost connection, a refused login) is decided where it happens ([`crate::pg`]).

use portcullis_core::error::{Diagnostic, ErrorKind, Problem};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Problem(#[from] Problem),
    /// SQLite refused a query; `query` names it (see [`crate::queries`]).
    #[error("{}", sql_message(.query, .source))]
    Sql {
        query: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    /// PostgreSQL refused a query; `query` names it.
    #[error("ledger query `{query}` failed")]
    Postgres {
        query: &'static str,
        #[source]
        source: postgres::Error,
    },
}

portcullis_core::problem_constructors!(Error);

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn code(e: &rusqlite::Error) -> Option<rusqlite::ErrorCode> {
    match e {
        rusqlite::Error::SqliteFailure(c, _) => Some(c.code),
        _ => None,
    }
}

fn sql_message(query: &str, e: &rusqlite::Error) -> String {
    match code(e) {
        Some(rusqlite::ErrorCode::NotADatabase) => {
            "the ledger file is not an SQLite database".into()
        }
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            "the ledger is busy".into()
        }
        Some(rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen) => {
            "cannot write the ledger".into()
        }
        _ if query.is_empty() => "ledger error".into(),
        _ => format!("ledger query `{query}` failed"),
    }
}

impl Diagnostic for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::Problem(p) => p.kind,
            Error::Sql { source, .. } => match code(source) {
                Some(
                    rusqlite::ErrorCode::NotADatabase
                    | rusqlite::ErrorCode::ReadOnly
                    | rusqlite::ErrorCode::CannotOpen,
                ) => ErrorKind::Input,
                _ => ErrorKind::Internal,
            },
            Error::Postgres { .. } => ErrorKind::Internal,
        }
    }
    fn hint(&self) -> Option<&str> {
        match self {
            Error::Problem(p) => p.hint.as_deref(),
            Error::Sql { source, .. } => match code(source) {
                Some(rusqlite::ErrorCode::NotADatabase) => {
                    Some("point --db (or PORTCULLIS_DB) at a ledger created by `portcullis init`")
                }
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                    Some("another portcullis process holds a long write; retry in a moment")
                }
                Some(rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen) => {
                    Some("check the file's permissions and the directory it is in")
                }
                _ => None,
            },
            Error::Postgres { .. } => None,
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(source: rusqlite::Error) -> Self {
        Error::Sql { query: "", source }
    }
}

/// Name the query an SQLite error came from.
pub trait Named<T> {
    fn named(self, query: &'static str) -> Result<T>;
}

impl<T> Named<T> for rusqlite::Result<T> {
    fn named(self, query: &'static str) -> Result<T> {
        self.map_err(|source| Error::Sql { query, source })
    }
}

impl Error {
    /// The message of this error alone (without its causes).
    pub fn message(&self) -> String {
        self.to_string()
    }
}
