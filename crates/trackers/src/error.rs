//! The trackers' errors: a message of its own ([`Problem`]), or the ledger's.

use portcullis_core::error::{Diagnostic, ErrorKind, Problem};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Problem(#[from] Problem),
    #[error(transparent)]
    Ledger(#[from] portcullis_ledger::Error),
}

portcullis_core::problem_constructors!(Error);

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Diagnostic for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::Problem(p) => p.kind,
            Error::Ledger(e) => e.kind(),
        }
    }
    fn hint(&self) -> Option<&str> {
        match self {
            Error::Problem(p) => p.hint.as_deref(),
            Error::Ledger(e) => e.hint(),
        }
    }
}
