//! The operations' errors: a message of their own ([`Problem`]) or one from a crate below, kept
//! whole so that its hint, exit code and causes reach the front end.

use portcullis_core::error::{Diagnostic, ErrorKind, Problem};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Problem(#[from] Problem),
    #[error(transparent)]
    Ledger(#[from] portcullis_ledger::Error),
    #[error(transparent)]
    Git(#[from] portcullis_git::Error),
    #[error(transparent)]
    Tracker(#[from] portcullis_trackers::Error),
    #[error(transparent)]
    Chat(#[from] portcullis_chat::NotifyError),
}

portcullis_core::problem_constructors!(Error);

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Diagnostic for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::Problem(p) => p.kind,
            Error::Ledger(e) => e.kind(),
            Error::Git(e) => e.kind(),
            Error::Tracker(e) => e.kind(),
            Error::Chat(_) => ErrorKind::Internal,
        }
    }
    fn hint(&self) -> Option<&str> {
        match self {
            Error::Problem(p) => p.hint.as_deref(),
            Error::Ledger(e) => e.hint(),
            Error::Git(e) => e.hint(),
            Error::Tracker(e) => e.hint(),
            Error::Chat(_) => None,
        }
    }
}

impl From<git2::Error> for Error {
    fn from(e: git2::Error) -> Self {
        Error::Git(e.into())
    }
}
