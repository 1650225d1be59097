//! The text reports of the front ends: tables, JSON, CSV and Markdown, one module per report.
//! Pure: each function turns an operation's report into text; [`crate::cli`] prints it and the
//! demo shows it.
//!
//! Text that comes from trackers (summaries, notes, names) is passed through [`clean`] before it
//! reaches a terminal, so control characters and escape sequences cannot act on it.

pub mod history;
pub mod push;
pub mod release;
pub mod status;
pub mod sync;
pub mod verify;

use serde::Serialize;

pub use portcullis_core::text::{clean, truncate};

/// Output formats of listing commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    #[default]
    Table,
    Json,
    Csv,
    Md,
}

/// A simple text table with aligned columns.
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Self {
        Table {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows
            .push(cells.into_iter().map(|c| clean(&c)).collect());
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Aligned plain text; the last column is not padded.
    pub fn render(&self) -> String {
        let n = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(n) {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
        let mut out = String::new();
        let line = |cells: &[String], out: &mut String| {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate().take(n) {
                if i + 1 == n {
                    s.push_str(c);
                } else {
                    s.push_str(c);
                    s.extend(std::iter::repeat_n(' ', widths[i] - c.chars().count() + 2));
                }
            }
            out.push_str(s.trim_end());
            out.push('\n');
        };
        line(&self.headers, &mut out);
        for r in &self.rows {
            line(r, &mut out);
        }
        out
    }

    /// A Markdown table (pipes in cells escaped).
    pub fn render_md(&self) -> String {
        let esc = |s: &String| s.replace('|', "\\|");
        let mut out = format!(
            "| {} |\n",
            self.headers.iter().map(esc).collect::<Vec<_>>().join(" | ")
        );
        out.push_str(&format!("|{}\n", "---|".repeat(self.headers.len())));
        for r in &self.rows {
            out.push_str(&format!(
                "| {} |\n",
                r.iter().map(esc).collect::<Vec<_>>().join(" | ")
            ));
        }
        out
    }

    /// CSV with a header row. Cells that a spreadsheet would run as a formula are quoted with `'`.
    pub fn render_csv(&self) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        let _ = w.write_record(&self.headers);
        for r in &self.rows {
            let _ = w.write_record(r.iter().map(|c| {
                if c.starts_with(['=', '+', '@']) {
                    format!("'{c}")
                } else {
                    c.clone()
                }
            }));
        }
        String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
    }
}

/// Pretty JSON with a trailing newline.
pub fn json<T: Serialize>(value: &T) -> String {
    let mut s =
        serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns() {
        let mut t = Table::new(&["KEY", "STATE"]);
        t.row(vec!["DM-1".into(), "approved".into()]);
        t.row(vec!["DM-10000".into(), "done".into()]);
        assert_eq!(
            t.render(),
            "KEY       STATE\nDM-1      approved\nDM-10000  done\n"
        );
    }
}
