//! Drawing the triage screen from [`App`]. Pure: the same state draws the same frame, so views
//! are snapshot-tested on ratatui's `TestBackend`. Works at 80×24 and without colour.
//!
//! This module lays out the screen (title, tabs, the bottom lines, the help and end pop-ups);
//! `lists` draws the five views, `detail` one ticket, and `widgets` holds what they share
//! (the theme, tables whose cells are cut to their columns).

mod detail;
mod lists;
mod widgets;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use crate::triage::app::{App, Ending, Mode, View};
use detail::detail;
use lists::{drift, not_landed, queue, readiness, since};
use widgets::Theme;

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
        Mode::Prompt(_) => "Enter confirm · Ctrl-F policy exception · Esc cancel",
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
        (Some(q), Some(ok)) if wide => format!(
            ", quorum {q} {}",
            if ok {
                "met"
            } else {
                "NOT met: decisions provisional"
            }
        ),
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
            "{}{}{last} · {} present{quorum} · {} decided · {} unpushed",
            m.date,
            if m.sitting > 1 {
                format!(" sitting {}", m.sitting)
            } else {
                String::new()
            },
            m.attending().len(),
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
    ("p", "accept a partial landing as wanted"),
    ("u", "undo this meeting's last decision"),
    ("Ctrl-F", "after a refusal: a policy exception"),
    ("R", "ratify provisional decisions"),
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
