//! How every portcullis error is shaped: a message that names the problem, a hint that says what
//! to do, an exit code, and the underlying cause kept as a [`source`](std::error::Error::source)
//! rather than formatted into the message.
//!
//! Each crate has its own error type (`portcullis_ledger::Error`, `portcullis_git::Error`, …):
//! an enum of the causes that crate meets (SQLite, libgit2, HTTP, files) beside
//! [`Problem`], the message-and-hint error that any layer can raise. Every one of them is a
//! [`Diagnostic`]: the front end asks it for its exit code and hint, and prints the chain of
//! causes. Exit codes follow ripgrep's convention: 0 ok, 1 a check that does not pass, 2 bad
//! input or an error.

use std::fmt;
use std::path::{Path, PathBuf};

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

impl ErrorKind {
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::CheckFailed => 1,
            ErrorKind::Input | ErrorKind::Internal => 2,
        }
    }
}

/// What the front end needs of an error besides its message and causes.
pub trait Diagnostic: std::error::Error {
    fn kind(&self) -> ErrorKind;
    /// What the user can do about it.
    fn hint(&self) -> Option<&str>;
    fn exit_code(&self) -> u8 {
        self.kind().exit_code()
    }
}

/// A cause kept behind a [`Problem`].
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error with an actionable message, a hint and, where there is one, its cause.
#[derive(Debug)]
pub struct Problem {
    pub kind: ErrorKind,
    pub message: String,
    pub hint: Option<String>,
    source: Option<Cause>,
}

/// The core's own error is a [`Problem`].
pub type Error = Problem;

pub type Result<T, E = Problem> = std::result::Result<T, E>;

impl Problem {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Problem {
            kind,
            message: message.into(),
            hint: None,
            source: None,
        }
    }
    pub fn input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Input, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
    pub fn check_failed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::CheckFailed, message)
    }
    /// A file that could not be read, written or created: the message names the path, the
    /// cause is the I/O error.
    pub fn io(action: &str, path: &Path, source: std::io::Error) -> Self {
        Self::new(
            ErrorKind::Internal,
            format!("cannot {action} {}", path.display()),
        )
        .because(source)
    }
    /// Attach a hint: what the user can do about it.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
    /// Keep the underlying error as this one's cause.
    pub fn because(mut self, source: impl Into<Cause>) -> Self {
        self.source = Some(source.into());
        self
    }
    pub fn exit_code(&self) -> u8 {
        self.kind.exit_code()
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Problem {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl Diagnostic for Problem {
    fn kind(&self) -> ErrorKind {
        self.kind
    }
    fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }
}

/// A file operation's error with its path, for `map_err`: `.map_err(io_at("read", &path))`.
pub fn io_at<'a>(action: &'a str, path: &'a Path) -> impl FnOnce(std::io::Error) -> Problem + 'a {
    move |e| Problem::io(action, path, e)
}

/// The message of an error followed by each of its causes, `: `-separated; for one-line reports
/// (logs, a status line) where the edge's multi-line rendering does not fit.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !t.is_empty() && !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

/// A path made absolute for messages, where the current directory is not obvious.
pub fn shown(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The constructors every crate's error enum offers, so that `Error::input("…").hint("…")` reads
/// the same in each crate: the enum needs a `Problem(#[from] portcullis_core::Problem)` variant.
#[macro_export]
macro_rules! problem_constructors {
    ($ty:ident) => {
        impl $ty {
            pub fn input(message: impl Into<String>) -> Self {
                $ty::Problem($crate::error::Problem::input(message))
            }
            pub fn internal(message: impl Into<String>) -> Self {
                $ty::Problem($crate::error::Problem::internal(message))
            }
            pub fn check_failed(message: impl Into<String>) -> Self {
                $ty::Problem($crate::error::Problem::check_failed(message))
            }
            pub fn io(action: &str, path: &std::path::Path, source: std::io::Error) -> Self {
                $ty::Problem($crate::error::Problem::io(action, path, source))
            }
            /// Attach a hint. On an error that is not a message of its own, the hint goes on a
            /// message that keeps it as its cause.
            pub fn hint(self, hint: impl Into<String>) -> Self {
                match self {
                    $ty::Problem(p) => $ty::Problem(p.hint(hint)),
                    other => {
                        let kind = $crate::error::Diagnostic::kind(&other);
                        let message = other.to_string();
                        let mut p = match kind {
                            $crate::error::ErrorKind::Input => {
                                $crate::error::Problem::input(message)
                            }
                            $crate::error::ErrorKind::CheckFailed => {
                                $crate::error::Problem::check_failed(message)
                            }
                            $crate::error::ErrorKind::Internal => {
                                $crate::error::Problem::internal(message)
                            }
                        };
                        if let Some(s) = std::error::Error::source(&other) {
                            p = p.because($crate::error::chain(s));
                        }
                        $ty::Problem(p.hint(hint))
                    }
                }
            }
            pub fn exit_code(&self) -> u8 {
                $crate::error::Diagnostic::exit_code(self)
            }
        }
    };
}
