//! The git crate's errors: a message of its own ([`Problem`]), or libgit2's with what was being
//! done.

use portcullis_core::error::{Diagnostic, ErrorKind, Problem};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Problem(#[from] Problem),
    /// libgit2 refused; `what` says what portcullis was doing.
    #[error("{what}")]
    Git {
        what: String,
        #[source]
        source: git2::Error,
    },
}

portcullis_core::problem_constructors!(Error);

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Diagnostic for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::Problem(p) => p.kind,
            Error::Git { .. } => ErrorKind::Internal,
        }
    }
    fn hint(&self) -> Option<&str> {
        match self {
            Error::Problem(p) => p.hint.as_deref(),
            Error::Git { .. } => None,
        }
    }
}

impl From<git2::Error> for Error {
    fn from(source: git2::Error) -> Self {
        Error::Git {
            what: "libgit2 failed".into(),
            source,
        }
    }
}

impl Error {
    /// This error as the cause of a message saying what was being done.
    pub fn context(self, what: impl Into<String>) -> Error {
        Error::Problem(Problem::internal(what).because(self))
    }
}

/// Say what was being done when libgit2 failed.
pub trait GitContext<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> GitContext<T> for std::result::Result<T, git2::Error> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Git {
            what: what(),
            source,
        })
    }
}

impl<T> GitContext<T> for Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| e.context(what()))
    }
}
