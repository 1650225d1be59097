//! What the triage views share: the theme (colour only when allowed) and tables whose cells
//! are cut to their columns, drawn with the cursor's row visible.

use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState};
use ratatui::Frame;

use portcullis_core::text::truncate;

/// Colours only when allowed (`NO_COLOR` unset); emphasis works either way.
pub(super) struct Theme {
    pub(super) color: bool,
}

impl Theme {
    pub(super) fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }
    pub(super) fn header(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
    pub(super) fn selected(&self) -> Style {
        Style::default().add_modifier(Modifier::REVERSED)
    }
    pub(super) fn dim(&self) -> Style {
        if self.color {
            Style::default().fg(Color::DarkGray)
        } else {
            Style::default()
        }
    }
}

pub(super) fn framed<'a>(title: String, th: &Theme) -> Block<'a> {
    Block::default()
        .borders(Borders::TOP)
        .title(Span::styled(title, th.header()))
}

/// A cell's text and style, before it is cut to its column's width.
pub(super) struct Text(String, Style);

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text(s, Style::default())
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text(s.to_string(), Style::default())
    }
}

pub(super) fn styled(s: impl Into<String>, style: Style) -> Text {
    Text(s.into(), style)
}

/// A table in `area` whose cells are cut to their columns with `…`: a cell never runs into the
/// next column or off the screen without a sign. Dates and times have columns as wide as they
/// are, so they are never cut.
pub(super) fn table<'a>(
    rows: Vec<Vec<Text>>,
    header: &[&'a str],
    widths: Vec<Constraint>,
    title: String,
    area: Rect,
    th: &Theme,
) -> Table<'a> {
    let columns = Layout::horizontal(widths.clone())
        .flex(Flex::Start)
        .spacing(1)
        .split(Rect { height: 1, ..area });
    let rows: Vec<Row> =
        rows.into_iter()
            .map(|cells| {
                Row::new(
                    cells.into_iter().zip(columns.iter()).map(|(t, c)| {
                        Cell::from(Span::styled(truncate(&t.0, c.width as usize), t.1))
                    }),
                )
            })
            .collect();
    Table::new(rows, widths)
        .flex(Flex::Start)
        .header(Row::new(header.iter().map(|h| Cell::from(*h))).style(th.header()))
        .block(framed(title, th))
        .row_highlight_style(th.selected())
        .column_spacing(1)
}

pub(super) fn render_table(
    f: &mut Frame,
    t: Table,
    area: Rect,
    selected: usize,
    empty: bool,
    what: &str,
    th: &Theme,
) {
    if empty {
        let p = Paragraph::new(Span::styled(format!("\n  {what}"), th.dim()));
        f.render_widget(t, area);
        let inner = Rect {
            y: area.y + 2,
            height: area.height.saturating_sub(2),
            ..area
        };
        f.render_widget(p, inner);
        return;
    }
    let mut state = TableState::default().with_selected(Some(selected));
    f.render_stateful_widget(t, area, &mut state);
}

/// The rows of a list that fit on screen with the cursor visible: (first, end, cursor within).
/// Only those are turned into cells: a queue of thousands draws as fast as a page.
pub(super) fn window(len: usize, cursor: usize, area: Rect) -> (usize, usize, usize) {
    let page = (area.height as usize).saturating_sub(2).max(1);
    let start = cursor.saturating_sub(page - 1).min(len.saturating_sub(1));
    let end = (start + page).min(len);
    (start, end, cursor.saturating_sub(start))
}
