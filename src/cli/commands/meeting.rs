//! The committee's commands: `decide`, `triage` (the meeting's screen) and `minutes`.

use super::decide;
use crate::cli::output::print;
use crate::cli::Command;
use crate::render::{json, Format};
use portcullis_ops::workspace::Workspace;
use portcullis_ops::{meeting, DecideRequest, Result, Target};

/// Run `decide`, `triage` or `minutes`.
pub fn run(ws: &Workspace, command: Command) -> Result<u8> {
    match command {
        Command::Decide {
            decision,
            key,
            note,
            actor,
            line,
            meeting,
            until,
            force,
            for_step,
            for_release,
            format,
        } => {
            let target = for_step
                .map(Target::Step)
                .or(for_release.map(Target::Release));
            let actor = ws.actor(actor.as_deref())?;
            decide::run(
                ws,
                DecideRequest {
                    key,
                    line,
                    decision,
                    note,
                    actor,
                    meeting,
                    until,
                    force,
                    target,
                },
                format,
            )
        }
        Command::Triage {
            line,
            attendees,
            date,
            actor,
        } => {
            let actor = ws.actor(actor.as_deref())?;
            crate::triage::run(
                ws,
                crate::triage::TriageOptions {
                    line,
                    attendees,
                    date,
                    actor,
                },
            )
        }
        Command::Minutes {
            line,
            meeting,
            format,
        } => minutes(ws, line.as_deref(), meeting, format),
        other => unreachable!("not a committee command: {other:?}"),
    }
}

/// `minutes`: the record of a meeting, as Markdown or JSON.
fn minutes(
    ws: &Workspace,
    line: Option<&str>,
    date: Option<chrono::NaiveDate>,
    format: Format,
) -> Result<u8> {
    let line = ws.policy.resolve_line(line)?.name.clone();
    let ledger = ws.open_ledger()?;
    let m = meeting::minutes(&ledger, &line, date)?;
    match format {
        Format::Json => print(&json(&m))?,
        _ => print(&meeting::render_minutes_md(&m))?,
    }
    Ok(0)
}
