//! Aligned text tables that fit the terminal.
//!
//! A table is as wide as its widest cells, unless the output has a width ([`set_width`]: the
//! terminal's, or `COLUMNS`): then its free-text columns give way, the last one first (tables
//! put their widest free-text column last), each cut with `…` and never below
//! [`MIN_FLEX`] characters. Keys, dates, counts and states are never cut. Markdown and CSV are
//! never cut: they are for other programs.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::clean;

/// The narrowest a free-text column is cut to.
pub const MIN_FLEX: usize = 12;

/// The width tables are rendered to; 0: no limit.
static WIDTH: AtomicUsize = AtomicUsize::new(0);

/// Render tables to at most `width` columns (`None`: as wide as their cells).
pub fn set_width(width: Option<usize>) {
    WIDTH.store(width.unwrap_or(0), Ordering::Relaxed);
}

/// The width tables are rendered to, if any.
pub fn width() -> Option<usize> {
    Some(WIDTH.load(Ordering::Relaxed)).filter(|w| *w > 0)
}

/// A line of prose wrapped to [`width`] at spaces, continuation lines indented two spaces; words
/// are never cut. Without a width, the line as it is.
pub fn wrap(text: &str) -> String {
    wrap_to(text, width())
}

/// [`wrap`] to `limit` columns. A line's own indentation is kept, and its continuation lines
/// go two spaces further in (a Markdown list item's continuation).
pub fn wrap_to(text: &str, limit: Option<usize>) -> String {
    let Some(limit) = limit else {
        return text.to_string();
    };
    let indent = text.len() - text.trim_start_matches(' ').len();
    let mut out = " ".repeat(indent);
    let mut len = indent;
    let mut first = true;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let n = word.chars().count();
        if !first && len + 1 + n > limit {
            out.push('\n');
            out.push_str(&" ".repeat(indent + 2));
            len = indent + 2;
        } else if !first {
            out.push(' ');
            len += 1;
        }
        out.push_str(word);
        len += n;
        first = false;
    }
    out
}

/// Each line of `text` that is wider than [`width`] wrapped as [`wrap`] does; the others as
/// they are (tables, already fitted).
pub fn wrap_lines(text: &str) -> String {
    let Some(limit) = width() else {
        return text.to_string();
    };
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        if body.chars().count() > limit {
            out.push_str(&wrap_to(body, Some(limit)));
        } else {
            out.push_str(body);
        }
        out.push_str(nl);
    }
    out
}

/// A simple text table with aligned columns.
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
    /// Free-text columns besides the last, which give way after it.
    flex: Vec<usize>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Self {
        Table {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
            flex: Vec::new(),
        }
    }

    /// Columns that may be cut too, after the last, in this order.
    pub fn flex(mut self, columns: &[usize]) -> Self {
        self.flex = columns.to_vec();
        self
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows
            .push(cells.into_iter().map(|c| clean(&c)).collect());
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The natural width of each column.
    fn natural(&self) -> Vec<usize> {
        let n = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(n) {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
        widths
    }

    /// Column widths that fit `limit`: the free-text columns give way, the last first.
    fn fitted(&self, limit: Option<usize>) -> Vec<usize> {
        let mut widths = self.natural();
        let Some(limit) = limit else {
            return widths;
        };
        let n = widths.len();
        let total = |w: &[usize]| w.iter().sum::<usize>() + 2 * w.len().saturating_sub(1);
        let order = std::iter::once(n.saturating_sub(1)).chain(self.flex.iter().copied());
        for col in order.filter(|c| *c < n) {
            let over = total(&widths).saturating_sub(limit);
            if over == 0 {
                break;
            }
            let floor = MIN_FLEX.max(self.headers[col].chars().count());
            widths[col] = widths[col].saturating_sub(over).max(floor.min(widths[col]));
        }
        widths
    }

    /// Aligned plain text, fitted to [`width`]; the last column is not padded.
    pub fn render(&self) -> String {
        self.render_to(width())
    }

    /// Aligned plain text, fitted to `limit` columns.
    pub fn render_to(&self, limit: Option<usize>) -> String {
        let widths = self.fitted(limit);
        let n = widths.len();
        let mut out = String::new();
        let line = |cells: &[String], out: &mut String| {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate().take(n) {
                let cell = super::truncate(c, widths[i]);
                s.push_str(&cell);
                if i + 1 < n {
                    s.extend(std::iter::repeat_n(
                        ' ',
                        widths[i] - cell.chars().count() + 2,
                    ));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_breaks_prose_at_spaces_and_indents_the_rest() {
        let text = "requested 13 · deferred 6 · needs-info 4 · approved 13 · done 31";
        let w = wrap_to(text, Some(30));
        assert!(w.lines().all(|l| l.chars().count() <= 30), "{w}");
        assert!(w.lines().skip(1).all(|l| l.starts_with("  ")), "{w}");
        assert_eq!(
            w.split_whitespace().collect::<Vec<_>>(),
            text.split_whitespace().collect::<Vec<_>>()
        );
        assert_eq!(wrap_to(text, None), text);
        assert_eq!(wrap_to(text, Some(200)), text);
        let item = "  - DM-32302: BPS submission fails when the workflow name contains a dot";
        let w = wrap_to(item, Some(40));
        assert!(w.starts_with("  - DM-32302"), "{w}");
        assert!(
            w.lines()
                .skip(1)
                .all(|l| l.starts_with("    ") && l.chars().count() <= 40),
            "{w}"
        );
    }

    #[test]
    fn table_aligns() {
        let mut t = Table::new(&["KEY", "STATE"]);
        t.row(vec!["DM-1".into(), "approved".into()]);
        t.row(vec!["DM-10000".into(), "done".into()]);
        assert_eq!(
            t.render_to(None),
            "KEY       STATE\nDM-1      approved\nDM-10000  done\n"
        );
    }

    #[test]
    fn the_last_column_gives_way_with_an_ellipsis() {
        let mut t = Table::new(&["KEY", "WHEN", "SUMMARY"]);
        t.row(vec![
            "DM-1".into(),
            "2026-11-24".into(),
            "Coadd assembly crashes on a missing variance plane".into(),
        ]);
        let text = t.render_to(Some(40));
        assert!(text.lines().all(|l| l.chars().count() <= 40), "{text}");
        assert!(text.contains("2026-11-24"), "dates are never cut: {text}");
        assert!(text.contains('…'), "{text}");
        // Too narrow for the floor: the column keeps MIN_FLEX characters.
        let text = t.render_to(Some(10));
        assert!(
            text.lines().nth(1).unwrap().contains("Coadd assem…"),
            "{text}"
        );
    }

    #[test]
    fn flex_columns_give_way_after_the_last() {
        let mut t = Table::new(&["WHEN", "WHAT", "NOTE"]).flex(&[1]);
        t.row(vec![
            "2026-11-10 16:12".into(),
            "label `backport-v23` removed (request for v23)".into(),
            "Not needed for the steps that remain.".into(),
        ]);
        let text = t.render_to(Some(60));
        assert!(text.lines().all(|l| l.chars().count() <= 60), "{text}");
        assert!(text.contains("2026-11-10 16:12"), "{text}");
    }
}
