//! The detail view of one ticket: its state, landings, main-side commits, notes and history.

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::widgets::{framed, Theme};
use crate::triage::app::App;

pub(super) fn detail(f: &mut Frame, app: &App, th: &Theme, area: Rect) {
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
