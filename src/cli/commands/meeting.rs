//! The committee's commands: `decide`, `triage` (the meeting's screen), `meeting` (sittings,
//! attendance, ratification and the queue without the screen) and `minutes`.

use super::decide;
use crate::cli::output::{print, print_json};
use crate::cli::{Command, MeetingCommand, Verdict};
use crate::render::{json, Format};
use portcullis_ops::workspace::Workspace;
use portcullis_ops::{meeting, AcceptPartialRequest, DecideRequest, Error, Result, Target};

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
            repos,
            format,
        } => {
            let decision = match decision {
                Verdict::Decision(d) => d,
                Verdict::AcceptPartial => {
                    if until.is_some() || meeting.is_some() || force {
                        return Err(Error::input(
                            "accept-partial takes --repo, --note, --as and --line only",
                        ));
                    }
                    if for_step.is_some() || for_release.is_some() {
                        return Err(Error::input(
                            "--for-step and --for-release only go with `approve`",
                        ));
                    }
                    let actor = ws.actor(actor.as_deref())?;
                    return decide::accept(
                        ws,
                        AcceptPartialRequest {
                            key,
                            line,
                            repos,
                            note,
                            actor,
                        },
                        format,
                    );
                }
            };
            if !repos.is_empty() {
                return Err(Error::input("--repo only goes with `accept-partial`"));
            }
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
            publish,
            import,
        } => {
            if publish {
                publish_minutes(ws, line.as_deref(), meeting, format)
            } else if import {
                import_minutes(ws, format)
            } else {
                minutes(ws, line.as_deref(), meeting, format)
            }
        }
        Command::Meeting { command } => meeting_command(ws, command),
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
    let m = ws.read_ledger(|ledger| meeting::minutes(ledger, &line, date))?;
    match format {
        Format::Json => print_json(&m)?,
        _ => print(&meeting::render_minutes_md(&m))?,
    }
    Ok(0)
}

/// `minutes --publish`: the minutes to Confluence.
fn publish_minutes(
    ws: &Workspace,
    line: Option<&str>,
    date: Option<chrono::NaiveDate>,
    format: Format,
) -> Result<u8> {
    let line = ws.policy.resolve_line(line)?.name.clone();
    let r = meeting::publish::publish(ws, &line, date)?;
    match format {
        Format::Json => print_json(&r)?,
        _ => print(&format!(
            "{} the minutes of {} ({}) in Confluence: \"{}\" (page {}, version {}){}\n",
            if r.created {
                "Created"
            } else if r.unchanged {
                "Already up to date:"
            } else {
                "Updated"
            },
            r.line,
            r.date,
            r.title,
            r.page,
            r.version,
            if r.stale_retries > 0 {
                format!(
                    "; the page was edited meanwhile, re-read and written again ({} time(s))",
                    r.stale_retries
                )
            } else {
                String::new()
            }
        ))?,
    }
    Ok(0)
}

/// `minutes --import`: the sittings published in Confluence.
fn import_minutes(ws: &Workspace, format: Format) -> Result<u8> {
    let r = meeting::publish::import(ws)?;
    if format == Format::Json {
        print_json(&r)?;
        return Ok(0);
    }
    let mut s = format!(
        "Read {} page(s), {} meeting record(s): {} sitting(s) imported ({} event(s)), {} already here.\n",
        r.pages,
        r.records,
        r.added.len(),
        r.events,
        r.known
    );
    for (line, date, sitting) in &r.added {
        s.push_str(&format!("  imported: {line} {date} sitting {sitting}\n"));
    }
    for (line, date, sitting) in &r.still_open {
        s.push_str(&format!(
            "  not imported: {line} {date} sitting {sitting} is still open where it was published\n"
        ));
    }
    if r.other_lines > 0 {
        s.push_str(&format!(
            "  {} record(s) of lines this policy does not have were left alone\n",
            r.other_lines
        ));
    }
    for (page, why) in &r.rejected {
        s.push_str(&format!("  refused a record on \"{page}\": {why}\n"));
    }
    print(&s)?;
    Ok(0)
}

/// `meeting open|close|join|leave|ratify|queue`.
fn meeting_command(ws: &Workspace, command: MeetingCommand) -> Result<u8> {
    let policy = &ws.policy;
    let line_of = |l: Option<&str>| -> Result<String> { Ok(policy.resolve_line(l)?.name.clone()) };
    let mut ledger = ws.open_ledger()?;
    let text = match command {
        MeetingCommand::Open {
            attendees,
            date,
            line,
            actor,
        } => {
            let line = line_of(line.as_deref())?;
            let actor = ws.actor(actor.as_deref())?;
            let date = date.unwrap_or_else(|| portcullis_core::time::now().date_naive());
            let (m, resumed) = meeting::open(&mut ledger, policy, &line, date, &attendees, &actor)?;
            format!(
                "{} {} of {line}, sitting {}: {} attend{}{}\n",
                if resumed { "Resumed" } else { "Opened" },
                m.name(),
                m.sitting,
                m.attending().join(", "),
                m.chair
                    .as_deref()
                    .map(|c| format!(", {c} chairs"))
                    .unwrap_or_default(),
                quorum_note(&m),
            )
        }
        MeetingCommand::Close { line, actor } => {
            let line = line_of(line.as_deref())?;
            let actor = ws.actor(actor.as_deref())?;
            let m = meeting::open_sitting(&ledger, &line)?.ok_or_else(|| {
                portcullis_ops::Error::input(format!("no meeting of {line} is open"))
            })?;
            meeting::close(&mut ledger, policy, &m, &actor)?;
            format!(
                "Closed {} (sitting {}). `portcullis minutes --meeting {}` prints its record.\n",
                m.name(),
                m.sitting,
                m.date
            )
        }
        MeetingCommand::Join { name, line, actor } => attend(
            ws,
            &mut ledger,
            &name,
            line.as_deref(),
            actor.as_deref(),
            true,
        )?,
        MeetingCommand::Leave { name, line, actor } => attend(
            ws,
            &mut ledger,
            &name,
            line.as_deref(),
            actor.as_deref(),
            false,
        )?,
        MeetingCommand::Ratify { line, actor } => {
            let line = line_of(line.as_deref())?;
            let actor = ws.actor(actor.as_deref())?;
            let done = meeting::ratify(&mut ledger, policy, &line, &actor)?;
            if done.is_empty() {
                "Nothing to ratify: no provisional decision waits.\n".to_string()
            } else {
                let mut s = format!("Ratified {} provisional decision(s):\n", done.len());
                for e in &done {
                    s.push_str(&format!(
                        "  {} {} (event {}, {})\n",
                        e.payload["decision"].as_str().unwrap_or("?"),
                        e.ticket.as_deref().unwrap_or("?"),
                        e.seq,
                        e.meeting
                            .map(|d| format!("meeting of {d}"))
                            .unwrap_or_default()
                    ));
                }
                s
            }
        }
        MeetingCommand::Note {
            key,
            text,
            line,
            actor,
        } => {
            let line = line_of(line.as_deref())?;
            let actor = ws.actor(actor.as_deref())?;
            if !ledger.ticket_keys()?.contains(&key) {
                return Err(
                    portcullis_ops::Error::input(format!("{key} is not in the ledger"))
                        .hint("`portcullis sync --key KEY` brings it from the tracker"),
                );
            }
            let open = meeting::open_sitting(&ledger, &line)?;
            meeting::note(
                &mut ledger,
                policy,
                &line,
                open.as_ref().map(|m| m.date),
                &key,
                &text,
                &actor,
            )?;
            match open {
                Some(m) => format!("Noted on {key}, in {}.\n", m.name()),
                None => format!("Noted on {key}, outside a meeting.\n"),
            }
        }
        MeetingCommand::Queue { date, line, format } => {
            let line = line_of(line.as_deref())?;
            let date = match date {
                Some(d) => d,
                None => meeting::open_sitting(&ledger, &line)?
                    .map(|m| m.date)
                    .unwrap_or_else(|| portcullis_core::time::now().date_naive()),
            };
            let rows = meeting::queue(&ledger, &line, date)?;
            if format == Format::Json {
                let v: Vec<serde_json::Value> = rows
                    .iter()
                    .map(|t| {
                        serde_json::json!({
                            "key": t.ticket,
                            "state": t.state,
                            "summary": t.summary,
                            "deferred_until": t.deferred_until,
                        })
                    })
                    .collect();
                print(&json(
                    &serde_json::json!({ "line": line, "date": date, "queue": v }),
                ))?;
                return Ok(0);
            }
            queue_text(&line, date, &rows)
        }
    };
    print(&text)?;
    Ok(0)
}

/// `meeting queue` as text: a table fitted to the terminal.
fn queue_text(
    line: &str,
    date: chrono::NaiveDate,
    rows: &[portcullis_ledger::queries::LineTicket],
) -> String {
    let mut s = format!("Queue of {line} for {date}: {} request(s)\n", rows.len());
    let mut t = crate::render::Table::new(&["KEY", "STATE", "SUMMARY"]);
    for r in rows {
        t.row(vec![
            r.ticket.clone(),
            r.state.as_str().to_string(),
            r.summary.clone(),
        ]);
    }
    if !t.is_empty() {
        s.push_str(&t.render());
    }
    s
}

/// `meeting join` / `meeting leave`: the arrival or departure, and who attends now.
fn attend(
    ws: &Workspace,
    ledger: &mut portcullis_ledger::Ledger,
    name: &str,
    line: Option<&str>,
    actor: Option<&str>,
    joined: bool,
) -> Result<String> {
    let line = ws.policy.resolve_line(line)?.name.clone();
    let actor = ws.actor(actor)?;
    let m = meeting::attend(ledger, &ws.policy, &line, name, joined, &actor)?;
    let who = m.changes.last().map(|c| c.who.clone()).unwrap_or_default();
    Ok(format!(
        "{who} {} {}; attending: {}{}\n",
        if joined { "joined" } else { "left" },
        m.name(),
        m.attending().join(", "),
        quorum_note(&m)
    ))
}

/// " (quorum 3: met)" or " (quorum 3: NOT met, decisions are provisional)"; empty without one.
fn quorum_note(m: &meeting::Meeting) -> String {
    match (m.quorum, m.quorate()) {
        (Some(q), Some(true)) => format!(" (quorum {q}: met)"),
        (Some(q), Some(false)) => {
            format!(" (quorum {q}: NOT met, its decisions are provisional)")
        }
        _ => String::new(),
    }
}
