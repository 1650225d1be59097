//! One module per command; each returns the exit code.

mod audit;
mod credentials;
mod decide;
mod demo;
mod history;
mod init;
mod ledger;
mod notify;
mod policy;
mod push;
mod release;
mod status;
mod sync;
mod verify;

use crate::cli::{Cli, Command};
use portcullis_ops::tracker::Choice;
use portcullis_ops::workspace::Workspace;
use portcullis_ops::Result;

/// Dispatch a parsed command line.
pub fn run(cli: Cli) -> Result<u8> {
    let loc = cli.locations();
    match cli.command {
        Command::Init {
            dir,
            from_policy,
            user,
        } => init::run(&dir, &from_policy, user.as_deref()),
        Command::Sync {
            from_file,
            full,
            keys,
            url,
            flavor,
            format,
        } => {
            let ws = Workspace::resolve(&loc)?;
            if from_file.is_empty() {
                let choice = Choice {
                    jira_url: url,
                    jira_flavor: flavor,
                };
                sync::live(&ws, &choice, full, &keys, format)
            } else {
                sync::from_files(&ws, &from_file, format)
            }
        }
        Command::Push {
            dry_run,
            keys,
            url,
            flavor,
            format,
        } => push::run(
            &Workspace::resolve(&loc)?,
            &Choice {
                jira_url: url,
                jira_flavor: flavor,
            },
            &keys,
            dry_run,
            format,
        ),
        Command::Status {
            line,
            state,
            format,
        } => status::run(
            &Workspace::resolve(&loc)?,
            line.as_deref(),
            state.as_deref(),
            format,
        ),
        Command::Verify {
            line,
            repos,
            fetch,
            commits,
            jobs,
            format,
        } => verify::run(
            &Workspace::resolve(&loc)?,
            portcullis_ops::verify::VerifyOptions {
                line,
                repos,
                fetch,
                jobs,
            },
            commits,
            format,
        ),
        Command::Cut {
            to: version,
            line,
            rc,
            apply,
            dry_run: _,
            push,
            promote,
            allow_skip,
            waive,
            note,
            out,
            step,
            format,
        } => release::cut(
            &Workspace::resolve(&loc)?,
            portcullis_ops::release::CutOptions {
                line,
                version,
                rc,
                apply,
                allow_skip,
                waivers: waive
                    .into_iter()
                    .map(|key| portcullis_core::release::Waiver {
                        key,
                        note: note.clone().unwrap_or_default(),
                    })
                    .collect(),
                out_dir: out,
                step,
                push,
                promote,
                at: None,
            },
            format,
        ),
        Command::Steps { line, format } => {
            release::steps(&Workspace::resolve(&loc)?, line.as_deref(), format)
        }
        Command::Step { command } => release::step(&Workspace::resolve(&loc)?, command),
        Command::Release {
            command:
                crate::cli::ReleaseCommand::Diff {
                    from,
                    to,
                    line,
                    format,
                },
        } => release::diff(
            &Workspace::resolve(&loc)?,
            &from,
            &to,
            line.as_deref(),
            format,
        ),
        Command::Releases { line, format } => {
            release::list(&Workspace::resolve(&loc)?, line.as_deref(), format)
        }
        Command::Release {
            command:
                crate::cli::ReleaseCommand::Show {
                    release: which,
                    line,
                    format,
                },
        } => release::show(&Workspace::resolve(&loc)?, &which, line.as_deref(), format),
        Command::History { key, all, format } => {
            history::run(&Workspace::resolve(&loc)?, &key, all, format)
        }
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
            let ws = Workspace::resolve(&loc)?;
            let target = for_step
                .map(portcullis_ops::Target::Step)
                .or(for_release.map(portcullis_ops::Target::Release));
            let actor = ws.actor(actor.as_deref())?;
            decide::run(
                &ws,
                portcullis_ops::DecideRequest {
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
        Command::Policy { command } => policy::run(command),
        Command::Credentials { command } => credentials::run(&loc, command),
        Command::Audit { format } => audit::run(&Workspace::resolve(&loc)?, format),
        Command::Ledger { command } => ledger::run(&Workspace::resolve(&loc)?, command),
        Command::Demo {
            dir,
            temp,
            jira,
            no_triage,
            notify,
        } => demo::run(dir, temp, jira, !no_triage, notify),
        Command::Triage {
            line,
            attendees,
            date,
            actor,
        } => {
            let ws = Workspace::resolve(&loc)?;
            let actor = ws.actor(actor.as_deref())?;
            crate::triage::run(
                &ws,
                crate::triage::TriageOptions {
                    line,
                    attendees,
                    date,
                    actor,
                },
            )
        }
        Command::Bot { once } => {
            crate::bot::run(Workspace::resolve(&loc)?, crate::bot::BotOptions { once })
        }
        Command::Notify {
            line,
            since,
            dry_run,
            only,
            force,
            format,
        } => notify::run(
            &Workspace::resolve(&loc)?,
            line,
            since,
            dry_run,
            only,
            force,
            format,
        ),
        Command::Minutes {
            line,
            meeting,
            format,
        } => {
            let ws = Workspace::resolve(&loc)?;
            let line = ws.policy.resolve_line(line.as_deref())?.name.clone();
            let ledger = ws.open_ledger()?;
            let m = portcullis_ops::meeting::minutes(&ledger, &line, meeting)?;
            match format {
                crate::render::Format::Json => crate::cli::output::print(&crate::render::json(&m))?,
                _ => crate::cli::output::print(&portcullis_ops::meeting::render_minutes_md(&m))?,
            }
            Ok(0)
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd, "portcullis", &mut buf);
            crate::cli::output::print(&String::from_utf8_lossy(&buf))?;
            Ok(0)
        }
    }
}
