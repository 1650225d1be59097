//! The terminal side of triage: setting it up, the event loop, and restoring it on every way out
//! (normal end, Ctrl-C, an error, a panic).

use std::io::{IsTerminal, Stdout};
use std::sync::mpsc;
use std::time::Duration;

use chrono::NaiveDate;
use crossterm::event::{self, DisableMouseCapture, EnableMouseCapture, Event, KeyEventKind};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::backend::CrosstermBackend;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Terminal;

use crate::triage::app::{App, Effect};
use crate::triage::data;
use portcullis_core::Problem;
use portcullis_ops::meeting;
use portcullis_ops::tracker::{Choice, Trackers};
use portcullis_ops::workspace::Workspace;
use portcullis_ops::{Error, Result};

/// How to open the meeting.
#[derive(Debug, Clone, Default)]
pub struct TriageOptions {
    pub line: Option<String>,
    /// Attendees (committee names or aliases); empty: pick them on the first screen.
    pub attendees: Vec<String>,
    /// The meeting's date (default: today).
    pub date: Option<NaiveDate>,
    /// Who is at the keyboard (recorded with each decision).
    pub actor: String,
}

type Term = Terminal<CrosstermBackend<Stdout>>;

/// Restores the terminal when dropped: leaving by `?`, by return, or by unwinding.
struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
    }
}

fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(
        std::io::stdout(),
        DisableMouseCapture,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

fn setup() -> Result<(Term, Guard)> {
    // A panic restores the terminal before its message is printed.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
    enable_raw_mode().map_err(no_terminal)?;
    let guard = Guard;
    execute!(std::io::stdout(), EnterAlternateScreen, EnableMouseCapture).map_err(no_terminal)?;
    let term = Terminal::new(CrosstermBackend::new(std::io::stdout())).map_err(no_terminal)?;
    Ok((term, guard))
}

/// The terminal cannot be set up, with the I/O error kept as the cause.
fn no_terminal(e: std::io::Error) -> Error {
    Error::Problem(Problem::internal("cannot use the terminal").because(e))
}

/// Terminal input or output failed, with the I/O error kept as the cause.
fn io(e: std::io::Error) -> Error {
    Error::Problem(Problem::internal("terminal").because(e))
}

/// `portcullis triage`: open (or resume) the meeting and run the screen until it ends.
pub fn run(ws: &Workspace, opts: TriageOptions) -> Result<u8> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(Error::input("triage needs a terminal").hint(
            "run it in a terminal; for scripts use `portcullis status`, `decide` and `minutes`",
        ));
    }
    let policy = &ws.policy;
    let line = policy.resolve_line(opts.line.as_deref())?.clone();
    let date = opts
        .date
        .unwrap_or_else(|| portcullis_core::time::now().date_naive());
    let mut ledger = ws.open_ledger()?;
    let color = std::env::var_os("NO_COLOR").is_none();
    let tracker = ws
        .config
        .as_ref()
        .is_some_and(|c| c.jira.is_some() || c.github.is_some());
    let log_path = ws
        .ledger_path
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default()
        .join("portcullis-triage.log");

    let (mut term, guard) = setup()?;
    crate::cli::log_to_file(Some(&log_path));
    let result = (|| -> Result<Option<String>> {
        // Attendees: given, resumed, or picked here.
        // A closed sitting stays closed: the same day again is a new sitting, whose
        // attendees are asked for.
        let open_now = meeting::open_sitting(&ledger, &line.name)?.filter(|m| m.date == date);
        let attendees = if !opts.attendees.is_empty() || open_now.is_some() {
            opts.attendees.clone()
        } else {
            match pick_attendees(&mut term, ws, date, &line.name)? {
                Some(a) => a,
                None => return Ok(None),
            }
        };
        let (m, resumed) = meeting::open(
            &mut ledger,
            policy,
            &line.name,
            date,
            &attendees,
            &opts.actor,
        )?;
        tracing::info!(date = %m.date, resumed, "meeting open");
        let snap = data::load(&ledger, policy, &m)?;
        let mut app = App::new(snap, opts.actor.clone(), tracker, color);
        app.defer_reload = true;
        if resumed {
            app.status = format!(
                "Resumed the meeting of {} ({} decision(s) so far)",
                m.date, app.snap.decided_here
            );
        }
        let keys: Vec<String> = app.snap.queue.iter().map(|r| r.key.clone()).collect();
        let (tx, rx) = mpsc::channel();
        std::thread::scope(|scope| -> Result<Option<String>> {
            let line_name = line.name.clone();
            scope.spawn(move || {
                let facts = data::git_facts(ws, &line_name, &keys);
                let _ = tx.send(facts);
            });
            let mut version = ledger.data_version();
            // On PostgreSQL, other members' commits are announced (LISTEN/NOTIFY); without a
            // listener (SQLite, or it could not start or was lost), the cheap data version is
            // polled.
            let changes = ledger.listen().unwrap_or_else(|e| {
                let why = portcullis_core::error::chain(&e);
                tracing::warn!(error = %why, "cannot listen for the ledger's changes; polling");
                None
            });
            loop {
                term.draw(|f| crate::triage::ui::draw(f, &mut app))
                    .map_err(io)?;
                if event::poll(Duration::from_millis(200)).map_err(io)? {
                    match event::read().map_err(io)? {
                        Event::Key(k) if k.kind != KeyEventKind::Release => {
                            let go_on = on_key(ws, &mut app, &mut ledger, k, &line.name, m.date)?;
                            if !go_on {
                                break;
                            }
                        }
                        Event::Mouse(me) => app.mouse(me),
                        _ => {}
                    }
                }
                // A decision updated the rows in place; reload fully when no key is waiting.
                if app.stale && !event::poll(Duration::ZERO).map_err(io)? {
                    app.reload(&ledger, policy)?;
                }
                if let Ok(facts) = rx.try_recv() {
                    app.git = facts;
                    app.git_ready = true;
                    app.reload(&ledger, policy)?;
                }
                // Writes by another process (a sync, the bot) show without a restart.
                let changed = match &changes {
                    Some(c) if !c.lost() => c.take(),
                    _ => {
                        let v = ledger.data_version();
                        std::mem::replace(&mut version, v) != v
                    }
                };
                if changed {
                    app.reload(&ledger, policy)?;
                }
            }
            leaving(&ledger, &m, app.snap.decided_here).map(Some)
        })
    })();
    drop(term);
    drop(guard);
    crate::cli::log_to_file(None);
    match result? {
        Some(msg) => {
            crate::cli::output::print(&format!("{msg}\n"))?;
            Ok(0)
        }
        None => Ok(0),
    }
}

/// One key press: apply it, then carry out what it asks for (push, minutes). `false` to quit.
/// A key that fails shows its reason in the status line; the meeting goes on.
fn on_key(
    ws: &Workspace,
    app: &mut App,
    ledger: &mut portcullis_ledger::Ledger,
    k: event::KeyEvent,
    line: &str,
    date: NaiveDate,
) -> Result<bool> {
    let policy = &ws.policy;
    let effect = match app.key(k, ledger, policy) {
        Ok(e) => e,
        Err(e) => {
            let why = portcullis_core::error::chain(&e);
            tracing::warn!(error = %why, "key failed");
            app.status = why;
            Effect::None
        }
    };
    match effect {
        Effect::None => {}
        Effect::Quit => return Ok(false),
        Effect::Push => {
            let msg = push(ws, ledger);
            app.reload(ledger, policy)?;
            app.report(msg);
        }
        Effect::Minutes => {
            let msg = write_minutes(ws, ledger, line, date);
            app.report(msg);
        }
    }
    Ok(true)
}

/// The line printed on leaving the screen: the meeting ended, or left open to resume.
fn leaving(
    ledger: &portcullis_ledger::Ledger,
    m: &meeting::Meeting,
    decided_here: usize,
) -> Result<String> {
    let closed = meeting::meetings(ledger, &m.line)?
        .into_iter()
        .any(|x| x.date == m.date && x.sitting == m.sitting && x.closed_at.is_some());
    Ok(if closed {
        format!(
            "Meeting of {} ended: {} decision(s). `portcullis minutes --meeting {}` prints its record.",
            m.date, decided_here, m.date
        )
    } else {
        format!(
            "Left the meeting of {} open ({} decision(s), all in the ledger); `portcullis triage` resumes it.",
            m.date, decided_here
        )
    })
}

/// The first screen: who attends (all members ticked; space toggles, Enter starts, Esc leaves).
fn pick_attendees(
    term: &mut Term,
    ws: &Workspace,
    date: NaiveDate,
    line: &str,
) -> Result<Option<Vec<String>>> {
    let members: Vec<String> = ws
        .policy
        .policy
        .committee
        .members
        .iter()
        .map(|m| m.name.clone())
        .collect();
    let quorum = ws.policy.policy.committee.quorum;
    let mut ticked = vec![true; members.len()];
    let mut at = 0usize;
    loop {
        term.draw(|f| {
            let [head, list, foot] = Layout::vertical([
                Constraint::Length(2),
                Constraint::Min(3),
                Constraint::Length(1),
            ])
            .areas(f.area());
            let n = ticked.iter().filter(|t| **t).count();
            f.render_widget(
                Paragraph::new(format!(
                    "{line} committee meeting of {date}: who attends?{}",
                    quorum
                        .map(|q| format!(
                            " (quorum {q}: {})",
                            if n as u32 >= q { "met" } else { "not met" }
                        ))
                        .unwrap_or_default()
                )),
                head,
            );
            let lines: Vec<Line> = members
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    let text = format!("[{}] {m}", if ticked[i] { "x" } else { " " });
                    if i == at {
                        Line::styled(text, Style::default().add_modifier(Modifier::REVERSED))
                    } else {
                        Line::from(text)
                    }
                })
                .collect();
            f.render_widget(
                Paragraph::new(lines).block(Block::default().borders(Borders::TOP)),
                list,
            );
            f.render_widget(
                Paragraph::new("Space tick · ↑↓ move · Enter start the meeting · Esc leave"),
                foot,
            );
        })
        .map_err(io)?;
        if let Event::Key(k) = event::read().map_err(io)? {
            if k.kind == KeyEventKind::Release {
                continue;
            }
            use crossterm::event::{KeyCode, KeyModifiers};
            match k.code {
                KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                    return Ok(None)
                }
                KeyCode::Esc | KeyCode::Char('q') => return Ok(None),
                KeyCode::Down | KeyCode::Char('j') => {
                    at = (at + 1).min(members.len().saturating_sub(1))
                }
                KeyCode::Up | KeyCode::Char('k') => at = at.saturating_sub(1),
                KeyCode::Char(' ') => {
                    if let Some(t) = ticked.get_mut(at) {
                        *t = !*t;
                    }
                }
                KeyCode::Enter => {
                    let chosen: Vec<String> = members
                        .iter()
                        .zip(&ticked)
                        .filter(|(_, t)| **t)
                        .map(|(m, _)| m.clone())
                        .collect();
                    if !chosen.is_empty() {
                        return Ok(Some(chosen));
                    }
                }
                _ => {}
            }
        }
    }
}

/// Push the pending decisions to the configured trackers (Jira tickets to Jira, GitHub tickets
/// to GitHub); a line saying what happened.
fn push(ws: &Workspace, ledger: &mut portcullis_ledger::Ledger) -> String {
    let mut run = || -> Result<String> {
        let rt = portcullis_ops::tracker::runtime()?;
        let trackers = Trackers::of(ws, &Choice::default())?;
        if trackers.is_empty() {
            return Ok(String::new());
        }
        let pushed = rt.block_on(portcullis_ops::tracker::push(
            ws,
            ledger,
            &trackers,
            &[],
            false,
        ))?;
        Ok(pushed
            .reports
            .iter()
            .map(|(t, r)| {
                format!(
                    "Pushed {} decision(s) to {}; {} conflict(s), {} ticket(s) missing.",
                    r.pushed,
                    portcullis_trackers::push::tracker_name(t),
                    r.conflicts,
                    r.missing
                )
            })
            .collect::<Vec<_>>()
            .join(" "))
    };
    match run() {
        Ok(m) => m,
        Err(e) => {
            let why = portcullis_core::error::chain(&e);
            format!("Push failed: {why} (the decisions stay pending; `portcullis push` retries)")
        }
    }
}

/// Write the minutes next to the ledger; a line saying where.
fn write_minutes(
    ws: &Workspace,
    ledger: &portcullis_ledger::Ledger,
    line: &str,
    date: NaiveDate,
) -> String {
    let run = || -> Result<String> {
        let m = meeting::minutes(ledger, line, Some(date))?;
        let dir = ws
            .ledger_path
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default()
            .join("minutes");
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("create the directory", &dir, e))?;
        let path = dir.join(format!(
            "{}-{date}.md",
            portcullis_core::release::file_component(line)
        ));
        std::fs::write(&path, meeting::render_minutes_md(&m))
            .map_err(|e| Error::io("write", &path, e))?;
        Ok(format!("Minutes written to {}", path.display()))
    };
    run().unwrap_or_else(|e| {
        format!(
            "Cannot write the minutes: {}",
            portcullis_core::error::chain(&e)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Terminal errors were once formatted into their message; the I/O error is now the cause.
    #[test]
    fn terminal_errors_keep_the_io_error_as_their_cause() {
        let e = no_terminal(std::io::Error::other("not a tty"));
        assert_eq!(e.to_string(), "cannot use the terminal");
        let cause = std::error::Error::source(&e).expect("the I/O error is kept");
        assert_eq!(cause.to_string(), "not a tty");
        let e = io(std::io::Error::other("broken pipe"));
        assert_eq!(e.to_string(), "terminal");
        assert_eq!(portcullis_core::error::chain(&e), "terminal: broken pipe");
    }
}
