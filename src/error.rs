//! The error type every operation returns, with a hint and an exit code.
//!
//! Exit codes follow ripgrep's convention: 0 ok, 1 a check that does not pass,
//! 2 bad input or an error. An [`Error`] always carries a message that names the
//! problem and, where there is one, a hint that says what to do.

use std::fmt;

/// What kind of failure this is; decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input from the user: arguments, files, policy, ledger version (exit 2).
    Input,
    /// A check ran and did not pass (exit 1).
    CheckFailed,
    /// Something went wrong inside portcullis or its environment (exit 2).
    Internal,
}

/// An error with an actionable message.
#[derive(Debug)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    pub hint: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn input(message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Input,
            message: message.into(),
            hint: None,
        }
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Internal,
            message: message.into(),
            hint: None,
        }
    }
    pub fn check_failed(message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::CheckFailed,
            message: message.into(),
            hint: None,
        }
    }
    /// Attach a hint: what the user can do about it.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
    pub fn exit_code(&self) -> u8 {
        match self.kind {
            ErrorKind::CheckFailed => 1,
            ErrorKind::Input | ErrorKind::Internal => 2,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        if let rusqlite::Error::SqliteFailure(code, _) = &e {
            match code.code {
                rusqlite::ErrorCode::NotADatabase => {
                    return Error::input("the ledger file is not an SQLite database").hint(
                        "point --db (or PORTCULLIS_DB) at a ledger created by `portcullis init`",
                    );
                }
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked => {
                    return Error::internal(format!("the ledger is busy: {e}"))
                        .hint("another portcullis process holds a long write; retry in a moment");
                }
                rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen => {
                    return Error::input(format!("cannot write the ledger: {e}"))
                        .hint("check the file's permissions and the directory it is in");
                }
                _ => {}
            }
        }
        Error::internal(format!("ledger error: {e}"))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::internal(format!("i/o error: {e}"))
    }
}
