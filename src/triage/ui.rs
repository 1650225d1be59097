//! Drawing the triage screen from [`App`]. Pure: the same state draws the same frame, so views
//! are snapshot-tested on ratatui's `TestBackend`. Works at 80×24 and without colour.

use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;

use crate::triage::app::{App, Ending, Mode, View};
use crate::triage::data::Pick;
use portcullis_core::text::truncate;
use portcullis_core::time::age;
use portcullis_core::workflow::State;

/// Colours only when allowed (`NO_COLOR` unset); emphasis works either way.
struct Theme {
    color: bool,
}

impl Theme {
    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }
    fn header(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
    fn selected(&self) -> Style {
        Style::default().add_modifier(Modifier::REVERSED)
    }
    fn dim(&self) -> Style {
        if self.color {
            Style::default().fg(Color::DarkGray)
        } else {
            Style::default()
        }
    }
}

/// Draw the whole screen.
pub fn draw(f: &mut Frame, app: &mut App) {
    let th = Theme { color: app.color };
    let [top, tabs, main, status, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(f.area());
    app.page = main.height.saturating_sub(2).max(1) as usize;
    f.render_widget(Paragraph::new(title_line(app, &th, top.width)), top);
    f.render_widget(Paragraph::new(tab_line(app, &th)), tabs);
    match &app.mode {
        Mode::Detail(_) => detail(f, app, &th, main),
        Mode::Prompt(p) if p.from_detail => detail(f, app, &th, main),
        _ => match app.view {
            View::Queue => queue(f, app, &th, main),
            View::Since => since(f, app, &th, main),
            View::NotLanded => not_landed(f, app, &th, main),
            View::Drift => drift(f, app, &th, main),
            View::Readiness => readiness(f, app, &th, main),
        },
    }
    // The bottom lines: a prompt, or the last status; then the keys.
    match &app.mode {
        Mode::Prompt(p) => {
            let mut spans = vec![
                Span::styled(format!("{}: ", p.label()), th.header()),
                Span::raw(p.input.clone()),
                Span::styled("█", th.dim()),
            ];
            if let Some(e) = &p.error {
                spans.push(Span::styled(format!("  {e}"), th.fg(Color::Red)));
            }
            f.render_widget(Paragraph::new(Line::from(spans)), status);
        }
        _ => f.render_widget(Paragraph::new(app.status.clone()), status),
    }
    let hint = match &app.mode {
        Mode::Prompt(_) => "Enter confirm · Esc cancel",
        Mode::Detail(_) => "a r d i n decide · u undo · ↑↓ scroll · Esc back",
        Mode::End(_) => "",
        _ if keys.width >= 100 => {
            "a approve · r reject · d defer · i info · n note · u undo · / filter · s sort · Enter detail · Tab view · ? help · q end"
        }
        _ => "a/r/d/i decide · n note · u undo · / filter · Enter detail · ? help · q end",
    };
    f.render_widget(Paragraph::new(Span::styled(hint, th.dim())), keys);
    match &app.mode {
        Mode::Help => help(f, &th),
        Mode::End(e) => end(f, e, &th),
        _ => {}
    }
}

fn title_line(app: &App, th: &Theme, width: u16) -> Line<'static> {
    let m = &app.snap.meeting;
    let wide = width >= 100;
    let quorum = match (m.quorum, m.quorate()) {
        (Some(q), Some(ok)) if wide => {
            format!(", quorum {q} {}", if ok { "met" } else { "NOT met" })
        }
        (Some(q), Some(ok)) => format!(" (quorum {q}: {})", if ok { "yes" } else { "NO" }),
        _ => String::new(),
    };
    let last = match app.snap.last_meeting {
        Some(d) if wide => format!(" · last meeting {d}"),
        _ => String::new(),
    };
    Line::from(vec![
        Span::styled(format!("{} triage ", app.snap.line), th.header()),
        Span::raw(format!(
            "{}{last} · {} present{quorum} · {} decided · {} unpushed",
            m.date,
            m.attendees.len(),
            app.snap.decided_here,
            app.snap.pending_push
        )),
    ])
}

fn tab_line(app: &App, th: &Theme) -> Line<'static> {
    let counts = [
        app.snap.queue.len(),
        app.snap.since.len(),
        app.snap.not_landed.len(),
        app.snap.drift.len(),
        app.snap.readiness.len(),
    ];
    let mut spans = Vec::new();
    for (i, v) in View::ALL.iter().enumerate() {
        let short = match v {
            View::Queue => "Queue",
            View::Since => "Since",
            View::NotLanded => "Not landed",
            View::Drift => "Drift",
            View::Readiness => "Ready",
        };
        let text = if *v == View::Readiness {
            format!(" {} {short} ", i + 1)
        } else {
            format!(" {} {short} ({}) ", i + 1, counts[i])
        };
        let style = if *v == app.view && matches!(app.mode, Mode::Normal | Mode::Help) {
            th.selected().add_modifier(Modifier::BOLD)
        } else {
            Style::default()
        };
        spans.push(Span::styled(text, style));
    }
    if !app.filter.is_empty() {
        spans.push(Span::styled(
            format!(" filter: {}", app.filter),
            th.fg(Color::Yellow),
        ));
    }
    Line::from(spans)
}

fn framed<'a>(title: String, th: &Theme) -> Block<'a> {
    Block::default()
        .borders(Borders::TOP)
        .title(Span::styled(title, th.header()))
}

/// A cell's text and style, before it is cut to its column's width.
struct Text(String, Style);

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

fn styled(s: impl Into<String>, style: Style) -> Text {
    Text(s.into(), style)
}

/// A table in `area` whose cells are cut to their columns with `…`: a cell never runs into the
/// next column or off the screen without a sign. Dates and times have columns as wide as they
/// are, so they are never cut.
fn table<'a>(
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

fn render_table(
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
fn window(len: usize, cursor: usize, area: Rect) -> (usize, usize, usize) {
    let page = (area.height as usize).saturating_sub(2).max(1);
    let start = cursor.saturating_sub(page - 1).min(len.saturating_sub(1));
    let end = (start + page).min(len);
    (start, end, cursor.saturating_sub(start))
}

fn queue(f: &mut Frame, app: &App, th: &Theme, area: Rect) {
    let now = app.snap.now;
    let all = app.queue();
    let total = all.len();
    let (start, end, cursor) = window(total, app.cursor(), area);
    let rows: Vec<Vec<Text>> = all[start..end]
        .iter()
        .map(|r| {
            let state = match r.state {
                State::Requested if r.new => "new".to_string(),
                State::Requested if r.request_count > 1 => "again".to_string(),
                State::Requested => "req".to_string(),
                State::Deferred => "defer".to_string(),
                State::NeedsInfo => "info".to_string(),
                s => s.to_string(),
            };
            let pick = if app.git_ready {
                app.git.picks.get(&r.key).cloned().unwrap_or(Pick::Unknown)
            } else {
                Pick::Unknown
            };
            let pick_style = match pick {
                Pick::Clean | Pick::Landed => th.fg(Color::Green),
                Pick::Conflicts(_) => th.fg(Color::Red),
                _ => Style::default(),
            };
            let state_style = if r.new {
                th.fg(Color::Green).add_modifier(Modifier::BOLD)
            } else {
                Style::default()
            };
            vec![
                Text::from(r.key.clone()),
                styled(state, state_style),
                Text::from(r.summary.clone()),
                Text::from(r.requester.clone().unwrap_or_default()),
                Text::from(r.requested_at.map(|t| age(t, now)).unwrap_or_default()),
                Text::from(r.repos.join(" ")),
                styled(pick.short(), pick_style),
                Text::from(r.previous.clone()),
            ]
        })
        .collect();
    let wide = area.width >= 120;
    let widths = if wide {
        vec![
            Constraint::Length(9),
            Constraint::Length(5),
            Constraint::Fill(3),
            Constraint::Length(10),
            Constraint::Length(4),
            Constraint::Fill(1),
            Constraint::Length(9),
            Constraint::Fill(1),
        ]
    } else {
        vec![
            Constraint::Length(9),
            Constraint::Length(5),
            Constraint::Fill(1),
            Constraint::Length(9),
            Constraint::Length(4),
            Constraint::Length(11),
            Constraint::Length(8),
            Constraint::Length(0),
        ]
    };
    let empty = rows.is_empty();
    let title = format!(
        "Requests awaiting a decision ({total}, {})",
        app.sort.name()
    );
    let t = table(
        rows,
        &["KEY", "", "SUMMARY", "BY", "AGE", "REPOS", "PICK", "BEFORE"],
        widths,
        title,
        area,
        th,
    );
    render_table(
        f,
        t,
        area,
        cursor,
        empty,
        "Nothing waits for the committee.",
        th,
    );
}

fn since(f: &mut Frame, app: &App, th: &Theme, area: Rect) {
    let all = app.since();
    let total = all.len();
    let (start, end, cursor) = window(total, app.cursor(), area);
    let rows: Vec<Vec<Text>> = all[start..end]
        .iter()
        .map(|r| {
            let style = match r.what {
                "reverted" | "drift" => th.fg(Color::Red),
                "landed" | "drift resolved" => th.fg(Color::Green),
                "new request" => th.fg(Color::Yellow),
                _ => Style::default(),
            };
            vec![
                Text::from(r.at.format("%m-%d %H:%M").to_string()),
                Text::from(r.key.clone().unwrap_or_default()),
                styled(r.what, style),
                Text::from(r.detail.clone()),
            ]
        })
        .collect();
    let empty = rows.is_empty();
    let title = match app.snap.last_meeting {
        Some(d) => format!("Since the meeting of {d} ({total})"),
        None => format!("This past week ({total})"),
    };
    let t = table(
        rows,
        &["WHEN", "KEY", "WHAT", "DETAIL"],
        vec![
            Constraint::Length(11),
            Constraint::Length(9),
            Constraint::Length(14),
            Constraint::Fill(1),
        ],
        title,
        area,
        th,
    );
    render_table(
        f,
        t,
        area,
        cursor,
        empty,
        "Nothing happened since the last meeting.",
        th,
    );
}

fn not_landed(f: &mut Frame, app: &App, th: &Theme, area: Rect) {
    let now = app.snap.now;
    let rows: Vec<Vec<Text>> = app
        .not_landed()
        .into_iter()
        .map(|r| {
            vec![
                Text::from(r.key.clone()),
                Text::from(r.repo.clone().unwrap_or_default()),
                Text::from(
                    r.approved_at
                        .map(|t| age(t, now))
                        .unwrap_or_else(|| "?".into()),
                ),
                Text::from(r.summary.clone()),
            ]
        })
        .collect();
    let empty = rows.is_empty();
    let title = format!(
        "Approved, not landed ({}; as of the last verify)",
        rows.len()
    );
    let t = table(
        rows,
        &["KEY", "REPOSITORY", "WAITING", "SUMMARY"],
        vec![
            Constraint::Length(9),
            Constraint::Length(16),
            Constraint::Length(8),
            Constraint::Fill(1),
        ],
        title,
        area,
        th,
    );
    render_table(
        f,
        t,
        area,
        app.cursor(),
        empty,
        "Every approved backport has landed.",
        th,
    );
}

fn drift(f: &mut Frame, app: &App, th: &Theme, area: Rect) {
    let rows: Vec<Vec<Text>> = app
        .drift()
        .into_iter()
        .map(|r| {
            let b = if r.blocking { "yes" } else { "no" };
            vec![
                styled(
                    b,
                    if r.blocking {
                        th.fg(Color::Red)
                    } else {
                        Style::default()
                    },
                ),
                Text::from(r.kind.replace('_', " ")),
                Text::from(r.ticket.clone().unwrap_or_default()),
                Text::from(r.repo.clone().unwrap_or_default()),
                Text::from(r.message.clone()),
            ]
        })
        .collect();
    let empty = rows.is_empty();
    let title = format!("Drift between the ledger and git ({})", rows.len());
    let t = table(
        rows,
        &["BLOCKS", "KIND", "TICKET", "REPOSITORY", "EVIDENCE"],
        vec![
            Constraint::Length(6),
            Constraint::Length(19),
            Constraint::Length(9),
            Constraint::Length(15),
            Constraint::Fill(1),
        ],
        title,
        area,
        th,
    );
    render_table(
        f,
        t,
        area,
        app.cursor(),
        empty,
        "No drift: the ledger and git agree.",
        th,
    );
}

fn bar(done: usize, total: usize, width: usize) -> String {
    if total == 0 {
        return format!("{}  -", "░".repeat(width));
    }
    let full = done * width / total;
    format!(
        "{}{} {done}/{total}",
        "█".repeat(full),
        "░".repeat(width - full)
    )
}

fn readiness(f: &mut Frame, app: &App, th: &Theme, area: Rect) {
    let [table_area, blockers] = Layout::vertical([
        Constraint::Length(app.snap.readiness.len() as u16 + 3),
        Constraint::Min(1),
    ])
    .areas(area);
    let rows: Vec<Vec<Text>> = app
        .snap
        .readiness
        .iter()
        .map(|r| {
            vec![
                Text::from(r.name.clone()),
                Text::from(r.status.clone()),
                Text::from(r.release.clone().unwrap_or_default()),
                Text::from(bar(r.landed, r.approved, 16)),
            ]
        })
        .collect();
    let t = table(
        rows,
        &["FOR", "STATUS", "RELEASE", "APPROVED → LANDED"],
        vec![
            Constraint::Length(16),
            Constraint::Length(12),
            Constraint::Length(9),
            Constraint::Fill(1),
        ],
        "Readiness".into(),
        table_area,
        th,
    );
    let mut state = TableState::default().with_selected(Some(app.cursor()));
    f.render_stateful_widget(t, table_area, &mut state);
    let mut lines: Vec<Line> = Vec::new();
    match (&app.git.next_cut, app.git_ready) {
        (_, false) => lines.push(Line::from(Span::styled(
            "Checking the repositories…",
            th.dim(),
        ))),
        (Some((v, b)), true) if b.is_empty() => lines.push(Line::from(Span::styled(
            format!("{v}: the gate passes (`portcullis cut {v} --apply`)"),
            th.fg(Color::Green),
        ))),
        (Some((v, b)), true) => {
            lines.push(Line::from(Span::styled(
                format!("{v} is blocked by {} reason(s):", b.len()),
                th.fg(Color::Red),
            )));
            for x in b {
                lines.push(Line::from(format!("  {:<11} {}", x.kind, x.message)));
            }
        }
        (None, true) => lines.push(Line::from(format!(
            "The next cut could not be checked{}",
            app.git
                .error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        ))),
    }
    f.render_widget(
        Paragraph::new(lines).block(framed("What blocks the next cut".into(), th)),
        blockers,
    );
}

fn detail(f: &mut Frame, app: &App, th: &Theme, area: Rect) {
    let Some(h) = &app.detail else {
        f.render_widget(
            Paragraph::new("Loading…").block(framed("Ticket".into(), th)),
            area,
        );
        return;
    };
    let mut lines: Vec<Line> = Vec::new();
    lines.push(Line::from(vec![
        Span::styled(format!("{} ", h.key), th.header()),
        Span::raw(h.info.summary.clone()),
    ]));
    let states: Vec<String> = h
        .lines
        .iter()
        .map(|(l, s)| format!("{l}: {}", s.state.describe()))
        .collect();
    lines.push(Line::from(format!(
        "{} · labels: {} · {}",
        states.join(", "),
        if h.info.labels.is_empty() {
            "-".to_string()
        } else {
            h.info.labels.join(" ")
        },
        if h.info.components.is_empty() {
            "no repositories".to_string()
        } else {
            h.info.components.join(" ")
        }
    )));
    // Landings per repository (the latest verify's word for each).
    let mut landings: std::collections::BTreeMap<String, String> = Default::default();
    let mut notes = Vec::new();
    for e in &h.timeline {
        if e.kind == portcullis_core::event::kind::LANDING {
            if let Some(repo) = e
                .what
                .split(" in ")
                .nth(1)
                .and_then(|r| r.split(' ').next())
            {
                landings.insert(repo.to_string(), e.what.clone());
            }
        }
        if e.kind == portcullis_core::event::kind::NOTE {
            notes.push(format!(
                "{} {}: {}",
                e.at.format("%Y-%m-%d"),
                e.actor.as_deref().unwrap_or("?"),
                e.note.as_deref().unwrap_or("")
            ));
        }
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled("Landings", th.header())));
    if landings.is_empty() {
        lines.push(Line::from("  none recorded (run `portcullis verify`)"));
    }
    for l in landings.values() {
        lines.push(Line::from(format!("  {l}")));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled("Main-side commits", th.header())));
    match app.git.commits.get(&h.key) {
        _ if !app.git_ready => lines.push(Line::from("  checking the repositories…")),
        None => lines.push(Line::from("  none found on the main branches")),
        Some(cs) => {
            for c in cs {
                lines.push(Line::from(format!("  {c}")));
            }
        }
    }
    if !notes.is_empty() {
        lines.push(Line::from(""));
        lines.push(Line::from(Span::styled("Notes", th.header())));
        for n in notes {
            lines.push(Line::from(format!("  {n}")));
        }
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled("History", th.header())));
    for e in h.timeline.iter().filter(|e| e.relevant) {
        let style = if e.kind == portcullis_core::event::kind::DECISION {
            Style::default().add_modifier(Modifier::BOLD)
        } else {
            Style::default()
        };
        let mut text = format!(
            "  {} {:<10} {}",
            e.at.format("%Y-%m-%d %H:%M"),
            e.actor.as_deref().unwrap_or("-"),
            e.what
        );
        if let Some(n) = &e.note {
            text.push_str(&format!(" — {n}"));
        }
        if !e.effects.is_empty() {
            text.push_str(&format!(" [{}]", e.effects.join("; ")));
        }
        lines.push(Line::from(Span::styled(text, style)));
    }
    let total = lines.len();
    let scroll = app.detail_scroll.min(total.saturating_sub(1));
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll as u16, 0))
            .block(framed(
                format!("Ticket {} ({} events)", h.key, h.timeline.len()),
                th,
            )),
        area,
    );
}

fn popup(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// Every key, for `?`.
pub const HELP: &[(&str, &str)] = &[
    ("a", "approve (reason optional)"),
    ("r", "reject (reason required)"),
    ("d", "defer until a date or the next meeting"),
    ("i", "needs more information"),
    ("n", "add a note"),
    ("u", "undo this meeting's last decision"),
    ("/", "filter; Esc clears it"),
    ("s", "sort: triage order, oldest, key"),
    ("Enter", "ticket detail; Esc back"),
    ("Tab 1-5", "switch view"),
    ("↑↓ j k PgUp PgDn", "move (mouse wheel too)"),
    ("Ctrl-R", "reload now (changes from others show anyway)"),
    ("q", "end the meeting (push, minutes)"),
    ("Ctrl-C", "leave; the meeting stays open"),
];

fn help(f: &mut Frame, th: &Theme) {
    let area = popup(f.area(), 60, HELP.len() as u16 + 4);
    let lines: Vec<Line> = HELP
        .iter()
        .map(|(k, v)| {
            Line::from(vec![
                Span::styled(format!("{k:>17}  "), th.header()),
                Span::raw(*v),
            ])
        })
        .collect();
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Keys (any key closes) "),
        ),
        area,
    );
}

fn end(f: &mut Frame, e: &Ending, th: &Theme) {
    let lines: Vec<Line> = match e {
        Ending::Confirm => vec![
            Line::from("End the meeting?"),
            Line::from(""),
            Line::from(Span::styled("y end it · any other key: go on", th.header())),
        ],
        Ending::Ended { messages } => messages.iter().map(|m| Line::from(m.clone())).collect(),
    };
    let area = popup(f.area(), 76, lines.len() as u16 + 4);
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::default().borders(Borders::ALL).title(" Meeting ")),
        area,
    );
}
