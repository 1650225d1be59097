//! The text reports of the front ends: tables, JSON, CSV and Markdown, one module per report.
//! Pure: each function turns an operation's report into text; [`crate::cli`] prints it and the
//! demo shows it.
//!
//! Text that comes from trackers (summaries, notes, names) is passed through [`clean`] before it
//! reaches a terminal, so control characters and escape sequences cannot act on it.

pub mod backport;
pub mod history;
pub mod push;
pub mod release;
pub mod status;
pub mod sync;
mod table;
pub mod verify;

use serde::Serialize;

pub use portcullis_core::text::{clean, truncate};
pub use table::{set_width, width, wrap, wrap_lines, Table};

/// Output formats of listing commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Table,
    Json,
    Csv,
    Md,
}

impl Format {
    pub const ALL: [Format; 4] = [Format::Table, Format::Json, Format::Csv, Format::Md];

    /// The name `--format` takes.
    pub fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Md => "md",
        }
    }

    pub fn parse(s: &str) -> Option<Format> {
        Self::ALL.into_iter().find(|f| f.name() == s)
    }
}

/// Pretty JSON with a trailing newline.
pub fn json<T: Serialize>(value: &T) -> String {
    let mut s =
        serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    s.push('\n');
    s
}
