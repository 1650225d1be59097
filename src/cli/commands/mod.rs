//! One module per command; each returns the exit code. [`run`] routes a command line to them,
//! by group: the commands that need no workspace, then those that do (tracker, releases,
//! committee, checks and reports).

mod audit;
mod backport;
mod credentials;
mod decide;
mod demo;
mod history;
mod init;
mod ledger;
mod meeting;
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
    let ws = || Workspace::resolve(&loc);
    match cli.command {
        // Without a workspace.
        Command::Init {
            dir,
            from_policy,
            user,
            ledger,
        } => init::run(&dir, &from_policy, user.as_deref(), ledger.as_deref()),
        Command::Policy { command } => policy::run(command),
        Command::Credentials { command } => credentials::run(&loc, command),
        Command::Demo {
            dir,
            temp,
            jira,
            no_triage,
            notify,
        } => demo::run(dir, temp, jira, !no_triage, notify),
        Command::Completions { shell } => completions(shell),
        // In a workspace, by group.
        command @ (Command::Sync { .. } | Command::Push { .. }) => tracker(&ws()?, command),
        command @ (Command::Cut { .. }
        | Command::Steps { .. }
        | Command::Step { .. }
        | Command::Releases { .. }
        | Command::Release { .. }) => release::run(&ws()?, command),
        command @ (Command::Decide { .. }
        | Command::Triage { .. }
        | Command::Minutes { .. }
        | Command::Meeting { .. }) => meeting::run(&ws()?, command),
        command @ (Command::Status { .. }
        | Command::History { .. }
        | Command::Verify { .. }
        | Command::Audit { .. }
        | Command::Ledger { .. }
        | Command::Notify { .. }) => report(&ws()?, command),
        command @ (Command::Backport(_) | Command::Backports { .. }) => {
            backport::run(&ws()?, command)
        }
        Command::Bot { once } => crate::bot::run(ws()?, crate::bot::BotOptions { once }),
    }
}

/// `completions`: the shell completion script.
fn completions(shell: clap_complete::Shell) -> Result<u8> {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "portcullis", &mut buf);
    crate::cli::output::print(&String::from_utf8_lossy(&buf))?;
    Ok(0)
}

/// The commands that talk to the trackers: `sync` and `push`.
fn tracker(ws: &Workspace, command: Command) -> Result<u8> {
    match command {
        Command::Sync {
            from_file,
            full,
            keys,
            url,
            flavor,
            format,
        } => {
            if from_file.is_empty() {
                let choice = Choice {
                    jira_url: url,
                    jira_flavor: flavor,
                };
                sync::live(ws, &choice, full, &keys, format)
            } else {
                sync::from_files(ws, &from_file, format)
            }
        }
        Command::Push {
            dry_run,
            keys,
            url,
            flavor,
            format,
        } => push::run(
            ws,
            &Choice {
                jira_url: url,
                jira_flavor: flavor,
            },
            &keys,
            dry_run,
            format,
        ),
        other => unreachable!("not a tracker command: {other:?}"),
    }
}

/// The commands that check the workspace or report on it: `status`, `history`, `verify`,
/// `audit`, `ledger` and `notify`.
fn report(ws: &Workspace, command: Command) -> Result<u8> {
    match command {
        Command::Status {
            line,
            state,
            format,
        } => status::run(ws, line.as_deref(), state.as_deref(), format),
        Command::History { key, all, format } => history::run(ws, &key, all, format),
        Command::Verify {
            line,
            repos,
            fetch,
            commits,
            jobs,
            format,
        } => verify::run(
            ws,
            portcullis_ops::verify::VerifyOptions {
                line,
                repos,
                fetch,
                jobs,
                main_commits: false,
            },
            commits,
            format,
        ),
        Command::Audit { format } => audit::run(ws, format),
        Command::Ledger { command } => ledger::run(ws, command),
        Command::Notify {
            line,
            since,
            dry_run,
            only,
            force,
            format,
        } => notify::run(ws, line, since, dry_run, only, force, format),
        other => unreachable!("not a report command: {other:?}"),
    }
}
