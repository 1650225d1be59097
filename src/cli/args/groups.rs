//! The sub-commands of the command groups: `credentials`, `policy`, `meeting`, `step`,
//! `release` and `ledger` (kept apart: args.rs holds the top level).

use std::path::PathBuf;

use clap::Subcommand;

use super::{formats, parse_date, TABLE_JSON};
use crate::render::Format;

#[derive(Debug, Subcommand)]
pub enum CredentialsCommand {
    /// Store one value read from standard input, e.g.
    /// `printf %s "$TOKEN" | portcullis credentials set jira token`, or the team's key for
    /// signing decision records: `portcullis credentials set team_key < key-file`.
    Set {
        /// The table: `jira`, `github`, `confluence` or `notify.<name>`; or `team_key` alone.
        table: String,
        /// The key: `token` or `email` (jira), `token` (github), `token` or `user` (confluence),
        /// `url` or `token` (notify.<name>).
        key: Option<String>,
    },
    /// Which credentials file is used, and the keys it holds (never their values).
    Show,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate a policy file: every problem with file, line and key (exit 2 on error).
    Check {
        /// The policy file.
        file: PathBuf,
    },
    /// Print the JSON schema of policy files.
    Schema,
}

#[derive(Debug, Subcommand)]
pub enum MeetingCommand {
    /// Open a sitting (the chair, --as, must be one of the attendees). Resumes the open sitting
    /// of that date; a closed sitting is never reopened: the same day again is a new sitting.
    Open {
        /// Who attends (committee names or aliases; repeat).
        #[arg(long = "attendee", value_name = "NAME", required = true)]
        attendees: Vec<String>,
        /// The meeting's date (default: today).
        #[arg(long, value_parser = parse_date)]
        date: Option<chrono::NaiveDate>,
        /// The release line (default: the policy's only line).
        #[arg(long)]
        line: Option<String>,
        /// The chair (default: the workspace's user).
        #[arg(long = "as", value_name = "NAME")]
        actor: Option<String>,
    },
    /// Close the open sitting.
    Close {
        /// The release line (default: the policy's only line).
        #[arg(long)]
        line: Option<String>,
        /// Who closes it (default: the workspace's user).
        #[arg(long = "as", value_name = "NAME")]
        actor: Option<String>,
    },
    /// Record that a member arrived at the open sitting (from now on they count).
    Join {
        /// Committee name or alias.
        name: String,
        /// The release line (default: the policy's only line).
        #[arg(long)]
        line: Option<String>,
        /// Who records it (default: the workspace's user).
        #[arg(long = "as", value_name = "NAME")]
        actor: Option<String>,
    },
    /// Record that a member left the open sitting.
    Leave {
        /// Committee name or alias.
        name: String,
        /// The release line (default: the policy's only line).
        #[arg(long)]
        line: Option<String>,
        /// Who records it (default: the workspace's user).
        #[arg(long = "as", value_name = "NAME")]
        actor: Option<String>,
    },
    /// Ratify, in the open sitting (which must be quorate), every provisional decision of the
    /// line in one step; they then count and are pushed as decisions of this sitting.
    Ratify {
        /// The release line (default: the policy's only line).
        #[arg(long)]
        line: Option<String>,
        /// Who ratifies (an attending member; default: the workspace's user).
        #[arg(long = "as", value_name = "NAME")]
        actor: Option<String>,
    },
    /// Record a note on a ticket, in the open sitting if there is one (as the triage screen's
    /// `n`). `push` writes it to the ticket with its record, so other workspaces have it too.
    Note {
        /// The ticket.
        key: String,
        /// The note's text.
        text: String,
        /// The release line (default: the policy's only line).
        #[arg(long)]
        line: Option<String>,
        /// Who notes it (default: the workspace's user).
        #[arg(long = "as", value_name = "NAME")]
        actor: Option<String>,
    },
    /// The requests a meeting would take up: the triage screen's queue.
    Queue {
        /// The meeting's date (default: the open sitting's, else today).
        #[arg(long, value_parser = parse_date)]
        date: Option<chrono::NaiveDate>,
        /// The release line (default: the policy's only line).
        #[arg(long)]
        line: Option<String>,
        /// Output format: table or json.
        #[arg(long, value_parser = formats(TABLE_JSON), default_value = "table")]
        format: Format,
    },
}

#[derive(Debug, Subcommand)]
pub enum StepCommand {
    /// Pin a step to a final release when it starts.
    Start {
        /// The step's name in the policy (e.g. coadd).
        name: String,
        /// The final release it runs with, e.g. 23.0.1.
        #[arg(long, value_name = "VERSION")]
        release: String,
        /// The release line (default: the policy's only line).
        #[arg(long)]
        line: Option<String>,
    },
    /// Mark a running step finished.
    Finish {
        /// The step's name in the policy.
        name: String,
        /// The release line (default: the policy's only line).
        #[arg(long)]
        line: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
    /// A release's manifest: per repository the commit, tag, tickets and commits.
    Show {
        /// Tag or version, e.g. 23.0.1.
        release: String,
        /// The release line (default: the policy's only line).
        #[arg(long)]
        line: Option<String>,
        /// Output format: table or json.
        #[arg(long, value_parser = formats(TABLE_JSON), default_value = "table")]
        format: Format,
    },
    /// Tickets and commits added between two releases, per repository.
    Diff {
        /// The earlier release (tag or version).
        from: String,
        /// The later release (tag or version).
        to: String,
        /// The release line (default: the policy's only line).
        #[arg(long)]
        line: Option<String>,
        /// Output format: table or json.
        #[arg(long, value_parser = formats(TABLE_JSON), default_value = "table")]
        format: Format,
    },
}

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Recompute all derived state from the events and report whether it equals what was there.
    Rebuild,
    /// Copy the ledger, chain and all, to a new SQLite file or an empty PostgreSQL database,
    /// and audit the copy.
    Copy {
        /// Where to: a file that does not exist yet, or a postgresql:// URL of an empty database.
        #[arg(long, value_name = "FILE|URL")]
        to: String,
    },
}
