//! The five list views of the triage screen: the queue, what happened since the last
//! meeting, approved but not landed, drift, and readiness for the next cut.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, TableState};
use ratatui::Frame;

use super::widgets::{framed, render_table, styled, table, window, Text, Theme};
use crate::triage::app::App;
use crate::triage::data::Pick;
use portcullis_core::time::age;
use portcullis_core::workflow::State;

pub(super) fn queue(f: &mut Frame, app: &App, th: &Theme, area: Rect) {
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

pub(super) fn since(f: &mut Frame, app: &App, th: &Theme, area: Rect) {
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

pub(super) fn not_landed(f: &mut Frame, app: &App, th: &Theme, area: Rect) {
    let now = app.snap.now;
    let rows: Vec<Vec<Text>> = app
        .not_landed()
        .into_iter()
        .map(|r| {
            // Where its backport stands (`portcullis backports`), once git has been read.
            let backport = match &r.repo {
                _ if !app.git_ready => "…".to_string(),
                Some(repo) => app
                    .git
                    .backports
                    .get(&(r.key.clone(), repo.clone()))
                    .cloned()
                    .unwrap_or_else(|| "-".into()),
                None => "-".into(),
            };
            vec![
                Text::from(r.key.clone()),
                Text::from(r.repo.clone().unwrap_or_default()),
                Text::from(backport),
                Text::from(
                    r.approved_at
                        .map(|t| age(t, now))
                        .unwrap_or_else(|| "?".into()),
                ),
                Text::from(r.summary.clone()),
            ]
        })
        .collect();
    // The backport column as wide as its longest state (a pull request with its checks), up
    // to 48 columns.
    let wide = app
        .not_landed()
        .into_iter()
        .filter_map(|r| app.git.backports.get(&(r.key.clone(), r.repo.clone()?)))
        .map(|s| s.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(11, 48) as u16;
    let empty = rows.is_empty();
    let title = format!(
        "Approved, not landed ({}; as of the last verify)",
        rows.len()
    );
    let t = table(
        rows,
        &["KEY", "REPOSITORY", "BACKPORT", "WAITING", "SUMMARY"],
        vec![
            Constraint::Length(9),
            Constraint::Length(16),
            Constraint::Length(wide),
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

pub(super) fn drift(f: &mut Frame, app: &App, th: &Theme, area: Rect) {
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

pub(super) fn readiness(f: &mut Frame, app: &App, th: &Theme, area: Rect) {
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
