//! The clap definitions of the command line: [`Cli`], its commands and their arguments, and the
//! value parsers they share.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::render::Format;
use portcullis_core::workflow::Decision;
use portcullis_ops::workspace::Locations;

mod backport;
mod groups;
pub use backport::BackportArgs;
pub use groups::{
    CredentialsCommand, LedgerCommand, MeetingCommand, PolicyCommand, ReleaseCommand, StepCommand,
};

/// Release change control and backport tracking.
///
/// portcullis keeps a ledger of backport requests, committee decisions and label changes per
/// release line, and shows where every request stands, violations included.
#[derive(Debug, Parser)]
#[command(name = "portcullis", version, about, long_about = None, propagate_version = true)]
#[command(
    after_help = "Exit codes: 0 ok, 1 a check did not pass, 2 bad input or error.\n\
Start with `portcullis demo`, or `portcullis init` in a new directory."
)]
pub struct Cli {
    /// The ledger file, or a postgresql:// URL (overrides the workspace config).
    #[arg(
        long,
        global = true,
        env = "PORTCULLIS_DB",
        hide_env_values = true,
        value_name = "FILE|URL"
    )]
    pub db: Option<PathBuf>,
    /// The workspace config (default: portcullis.toml here or in a parent directory).
    #[arg(
        long,
        global = true,
        env = "PORTCULLIS_CONFIG",
        hide_env_values = true,
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,
    /// The policy file (overrides the workspace config).
    #[arg(
        long,
        global = true,
        env = "PORTCULLIS_POLICY",
        hide_env_values = true,
        value_name = "FILE"
    )]
    pub policy: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a workspace: portcullis.toml, policy.toml and an empty ledger.
    Init {
        /// Directory of the new workspace.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Policy to start from: `default`, `v23`, `github` (v23 tracked in GitHub issues and pull
        /// requests), or a policy file to copy.
        #[arg(
            long = "from-policy",
            default_value = "default",
            value_name = "NAME|FILE"
        )]
        from_policy: String,
        /// Your name, recorded with your decisions.
        #[arg(long)]
        user: Option<String>,
        /// Where the ledger goes: an SQLite file (default: ledger.db) or a PostgreSQL database,
        /// postgresql://USER@HOST/DATABASE (made a ledger now; its password comes from
        /// PGPASSWORD, ~/.pgpass or the credentials file, never from the URL).
        #[arg(long, value_name = "FILE|URL")]
        ledger: Option<String>,
    },
    /// Bring tickets into the ledger: live from Jira (the [jira] table of portcullis.toml) and
    /// GitHub issues and pull requests (the [github] table), or from saved Jira search responses.
    ///
    /// A live sync is incremental (tickets updated since the last complete run, with an overlap)
    /// and idempotent; an interrupted one is resumed by the next run. Credentials come from
    /// PORTCULLIS_JIRA_TOKEN (+ PORTCULLIS_JIRA_EMAIL on Cloud), PORTCULLIS_GITHUB_TOKEN, or the
    /// credentials file.
    Sync {
        /// A Jira search response (`/rest/api/2/search` or `/rest/api/3/search/jql`, with
        /// expand=changelog) saved to a file; repeat for several pages.
        #[arg(long = "from-file", value_name = "FILE", conflicts_with_all = ["full", "url", "flavor", "keys"])]
        from_file: Vec<PathBuf>,
        /// Re-read every ticket instead of those updated since the last sync.
        #[arg(long)]
        full: bool,
        /// Also read this ticket whatever its labels and whenever it was updated (repeatable):
        /// e.g. a request rejected before portcullis was used, whose labels are gone. Once in the
        /// ledger it is kept in sync. A key the tracker does not have is reported, and the command
        /// exits 1. GitHub tickets are `repo#123`.
        #[arg(long = "key", value_name = "KEY")]
        keys: Vec<String>,
        /// The Jira site (overrides jira.url).
        #[arg(
            long,
            env = "PORTCULLIS_JIRA_URL",
            hide_env_values = true,
            value_name = "URL"
        )]
        url: Option<String>,
        /// `cloud` or `datacenter` (overrides jira.flavor; default: asked from the server).
        #[arg(long, env = "PORTCULLIS_JIRA_FLAVOR", hide_env_values = true)]
        flavor: Option<String>,
        /// Output format: table or json.
        #[arg(long, value_parser = formats(TABLE_JSON), default_value = "table")]
        format: Format,
    },
    /// Send the decisions recorded here but not yet in the tracker: labels and a comment each.
    /// GitHub tickets (`repo#123`) go to GitHub when [github] is configured, the others to Jira.
    ///
    /// Each ticket is re-read first; if its labels changed in the tracker after the decision
    /// (the request it assumed was withdrawn, a label it writes moved), that is a conflict:
    /// nothing is written for it and the command exits 1. A later decision on a ticket and line
    /// replaces its unpushed ones: one comment carries the final outcome. A ticket gone from
    /// its tracker, or with no tracker configured, also exits 1. Pushing twice writes nothing
    /// the second time.
    Push {
        /// Show what would be written, and write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Only these tickets (repeatable).
        #[arg(long = "key", value_name = "KEY")]
        keys: Vec<String>,
        /// The Jira site (overrides jira.url).
        #[arg(
            long,
            env = "PORTCULLIS_JIRA_URL",
            hide_env_values = true,
            value_name = "URL"
        )]
        url: Option<String>,
        /// `cloud` or `datacenter` (overrides jira.flavor).
        #[arg(long, env = "PORTCULLIS_JIRA_FLAVOR", hide_env_values = true)]
        flavor: Option<String>,
        /// Output format: table, json, csv or md.
        #[arg(long, value_parser = formats(ALL), default_value = "table")]
        format: Format,
    },
    /// Where every backport request of a release line stands.
    Status {
        /// The release line (default: the policy's only line).
        #[arg(long)]
        line: Option<String>,
        /// Show only tickets in this state (requested, approved, done, rejected, deferred,
        /// needs-info, withdrawn).
        #[arg(long)]
        state: Option<String>,
        /// Output format: table, json, csv or md.
        #[arg(long, value_parser = formats(ALL), default_value = "table")]
        format: Format,
    },
    /// The full timeline of a ticket: every label change and decision, rejections included.
    History {
        /// Ticket key, e.g. DM-33360.
        key: String,
        /// Also show changes of labels the policy does not use (always in JSON).
        #[arg(long)]
        all: bool,
        /// Output format: table, json, csv or md.
        #[arg(long, value_parser = formats(ALL), default_value = "table")]
        format: Format,
    },
    /// Record a committee decision on a ticket, or accept a partial landing.
    ///
    /// `accept-partial` records a person's verdict that the part of the ticket that landed is
    /// what was wanted (a backport that deliberately took only part of it): from then on
    /// `verify`, readiness and the gate count it as landed there, with the note. It needs a
    /// note, and the ticket partial in each repository as the last `verify` recorded it.
    Decide {
        /// What the committee decided, or `accept-partial`.
        #[arg(value_parser = decision_parser())]
        decision: Verdict,
        /// Ticket key, e.g. DM-33360.
        key: String,
        /// Why (required for reject and revoke).
        #[arg(long)]
        note: Option<String>,
        /// Who decides (default: PORTCULLIS_ACTOR, the config's `user`, then $USER).
        #[arg(long = "as", value_name = "ACTOR")]
        actor: Option<String>,
        /// The release line (default: the policy's only line).
        #[arg(long)]
        line: Option<String>,
        /// The decision goes to the line's open meeting sitting (provisional while attendance
        /// is below quorum, and only by an attending member); with no sitting open it is
        /// recorded as out of meeting. --meeting DATE insists on the open sitting of that date.
        #[arg(long, value_parser = parse_date)]
        meeting: Option<chrono::NaiveDate>,
        /// With `defer`: when to look at it again, YYYY-MM-DD.
        #[arg(long, value_parser = parse_date)]
        until: Option<chrono::NaiveDate>,
        /// Record it even if the policy forbids it; it is kept as a violation.
        #[arg(long)]
        force: bool,
        /// With `approve`: the campaign step the fix is needed for (e.g. coadd).
        #[arg(long = "for-step", value_name = "STEP", conflicts_with = "for_release")]
        for_step: Option<String>,
        /// With `approve`: the patch release it is for (default: the next one).
        #[arg(long = "for-release", value_name = "VERSION")]
        for_release: Option<String>,
        /// With `accept-partial`: the repository (repeatable; default: every repository where
        /// the ticket is partial).
        #[arg(long = "repo", value_name = "REPO")]
        repos: Vec<String>,
        /// Output format: table or json.
        #[arg(long, value_parser = formats(TABLE_JSON), default_value = "table")]
        format: Format,
    },
    /// Check git against the ledger: is every approved fix on the release branch of every
    /// repository it touched, and is everything on the release branches approved?
    ///
    /// Scans each repository of the policy (local clones; in parallel, cached by commit id so a
    /// second run only looks at new commits), matches release-branch commits to main-side ones
    /// (same commit, cherry-pick trailer, patch-id, squash, changed lines, subject), records
    /// landings and drift as events, and exits 1 when drift the policy marks blocking is found.
    /// When no branch, tag, ledger event, policy or build changed since a run that recorded
    /// nothing, it reports that run's verdict without judging again.
    Verify {
        /// The release line (default: the policy's only line).
        #[arg(long)]
        line: Option<String>,
        /// Only these repositories (repeatable).
        #[arg(long = "repo", value_name = "NAME", num_args = 1..)]
        repos: Vec<String>,
        /// Run `git fetch` in each clone first.
        #[arg(long)]
        fetch: bool,
        /// List every release-branch commit with its ticket and match (table and md).
        #[arg(long)]
        commits: bool,
        /// Scanning threads (default: one per core).
        #[arg(long, default_value_t = 0, hide_default_value = true)]
        jobs: usize,
        /// Output format: table, json, csv or md.
        #[arg(long, value_parser = formats(ALL), default_value = "table")]
        format: Format,
    },
    /// Cherry-pick an approved ticket's main-side commits onto the release branch in every
    /// repository it touched, on a ticket branch (policy `[backport] branch_pattern`).
    ///
    /// Commits already on the release branch are left out. Picks are made in memory; the
    /// branch is written only when every pick in that repository is clean. A conflict leaves
    /// the repository's branches as they were, reports the files, hunks and the main-side
    /// commits the pick needs first, and leaves the pick in a worktree beside the ledger:
    /// resolve it there and run --continue, or --abort. Exit 1 on a conflict or refusal.
    Backport(backport::BackportArgs),
    /// The approved tickets not landed everywhere, and where each backport stands per
    /// repository: not started, branch, pull request, conflict, blocked.
    Backports {
        /// The release line (default: the policy's only line).
        #[arg(long)]
        line: Option<String>,
        /// Only these repositories (repeatable).
        #[arg(long = "repo", value_name = "NAME", num_args = 1..)]
        repos: Vec<String>,
        /// Try each ticket's picks in memory: clean, conflict (its files and the
        /// commits it needs first) or nothing to do, per repository. Writes nothing.
        #[arg(long)]
        dry_run: bool,
        /// Output format: table, json, csv or md.
        #[arg(long, value_parser = formats(ALL), default_value = "table")]
        format: Format,
    },
    /// Check, and with --apply cut, a patch release: tags in every repository, a manifest in the
    /// ledger (and as TOML, JSON and versiondb text), release notes and a changelog section.
    ///
    /// The gate: the version is the next patch; every approved ticket not in an earlier release
    /// has landed everywhere (the verifier); nothing unapproved landed since the previous
    /// release (unless waived); no pending tracker writes; no blocking violations; each
    /// release branch descends from the previous release. Exit 1 with the reasons when blocked.
    /// Without --apply nothing is written (a dry run).
    Cut {
        /// The version, e.g. 23.0.2.
        #[arg(value_name = "VERSION")]
        to: String,
        /// The release line (default: the policy's only line).
        #[arg(long)]
        line: Option<String>,
        /// A release candidate: v23.0.2.rc1, rc2, …
        #[arg(long)]
        rc: bool,
        /// Make the tags, record the manifest and write the files.
        #[arg(long)]
        apply: bool,
        /// Only check and show what would be done (the default without --apply).
        #[arg(long, conflicts_with = "apply")]
        dry_run: bool,
        /// The final release is the last release candidate of the version, commit for commit
        /// (instead of the branch tips).
        #[arg(long, conflicts_with = "rc")]
        promote: bool,
        /// Then `git push origin <tag>` in every repository (again for a release already cut:
        /// finishes a push that failed halfway).
        #[arg(long)]
        push: bool,
        /// Allow skipping patch numbers (recorded in the manifest).
        #[arg(long)]
        allow_skip: bool,
        /// Cut even when nothing is new since the previous release, or a candidate identical
        /// to the previous candidate (recorded in the manifest).
        #[arg(long)]
        allow_empty: bool,
        /// Let a landed-but-unapproved ticket through (repeatable; needs --note).
        #[arg(long = "waive", value_name = "KEY", requires = "note")]
        waive: Vec<String>,
        /// Why the waived tickets may go in.
        #[arg(long)]
        note: Option<String>,
        /// Where to write the release files (default: releases/ in the workspace).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// The campaign step this release is for: its approvals must have landed too, and a
        /// step that already started cannot get a new release.
        #[arg(long)]
        step: Option<String>,
        /// Output format: table or json.
        #[arg(long, value_parser = formats(TABLE_JSON), default_value = "table")]
        format: Format,
    },
    /// The campaign's steps: the release each runs with, and how many of its approvals landed.
    Steps {
        /// The release line (default: the policy's only line).
        #[arg(long)]
        line: Option<String>,
        /// Output format: table or json.
        #[arg(long, value_parser = formats(TABLE_JSON), default_value = "table")]
        format: Format,
    },
    /// Start a step with a release (which is frozen from then on), or finish it.
    Step {
        #[command(subcommand)]
        command: StepCommand,
    },
    /// The patch releases cut so far.
    Releases {
        /// The release line (default: the policy's only line).
        #[arg(long)]
        line: Option<String>,
        /// Output format: table or json.
        #[arg(long, value_parser = formats(TABLE_JSON), default_value = "table")]
        format: Format,
    },
    /// One release: its manifest, tickets and notes.
    Release {
        #[command(subcommand)]
        command: ReleaseCommand,
    },
    /// Policy files: check one, or print the JSON schema.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Secrets in the credentials file (created readable by you only). Values are read from
    /// standard input, never from the command line, where `ps` and shell history would keep them.
    Credentials {
        #[command(subcommand)]
        command: CredentialsCommand,
    },
    /// Check the ledger: the hash chain of events and the derived state (exit 1 if either fails).
    Audit {
        /// Output format: table or json.
        #[arg(long, value_parser = formats(TABLE_JSON), default_value = "table")]
        format: Format,
    },
    /// Ledger maintenance.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// The committee's meeting in a terminal screen: what is new since the last meeting, the
    /// queue of requests with their evidence, decisions in a keystroke with a recorded reason,
    /// and at the end the minutes and the push to Jira. Resumes today's meeting if it is open.
    Triage {
        /// The release line (default: the policy's only line).
        #[arg(long)]
        line: Option<String>,
        /// Who attends (committee names or aliases; repeat). Without it the first screen asks.
        #[arg(long = "attendee", value_name = "NAME")]
        attendees: Vec<String>,
        /// The meeting's date (default: today).
        #[arg(long, value_parser = parse_date)]
        date: Option<chrono::NaiveDate>,
        /// Who is at the keyboard (default: the workspace's user).
        #[arg(long = "as", value_name = "NAME")]
        actor: Option<String>,
    },
    /// The record of a meeting: attendees, each decision with its reason, what was deferred to
    /// when, notes, and the counts.
    Minutes {
        /// The release line (default: the policy's only line).
        #[arg(long)]
        line: Option<String>,
        /// The meeting's date (default: the latest meeting).
        #[arg(long, value_parser = parse_date)]
        meeting: Option<chrono::NaiveDate>,
        /// Output format: md or json.
        #[arg(long, value_parser = formats(MINUTES), default_value = "md")]
        format: Format,
        /// Write the minutes to the Confluence space of `[confluence]` in portcullis.toml: one
        /// page per line and meeting day, created or updated as a new version, with a
        /// machine-readable copy of the sittings for `--import`.
        #[arg(long, conflicts_with = "import")]
        publish: bool,
        /// Record the sittings published in the `[confluence]` space that this workspace does
        /// not hold (closed ones; importing twice adds nothing). The decisions come with the
        /// tickets' decision records (`sync`).
        #[arg(long, conflicts_with_all = ["line", "meeting"])]
        import: bool,
    },
    /// A meeting without the screen: open or close a sitting, record who arrives and leaves,
    /// ratify provisional decisions, list the queue.
    ///
    /// A meeting is a line's date and sitting: a closed sitting stays closed, and opening the
    /// same day again starts sitting 2 with its own attendees. While a sitting is open, every
    /// decision of the line belongs to it; attendance below the policy's quorum makes committee
    /// decisions provisional (not counted, not pushed) until a quorate sitting ratifies them.
    Meeting {
        #[command(subcommand)]
        command: MeetingCommand,
    },
    /// Post the digest of a line (new requests, decisions with reasons, landings, reverts, drift,
    /// stale approvals with owners, readiness) and alerts for urgent events to the chat targets
    /// of portcullis.toml (`[[notify]]`), once each: what was posted is recorded in the ledger.
    Notify {
        /// The release line (default: the policy's only line).
        #[arg(long)]
        line: Option<String>,
        /// `last` (after the last posted digest; the default) or a date (YYYY-MM-DD).
        #[arg(long)]
        since: Option<String>,
        /// Show the digest and how it would be split; post nothing.
        #[arg(long)]
        dry_run: bool,
        /// Only this target (repeat for several).
        #[arg(long = "target", value_name = "NAME")]
        only: Vec<String>,
        /// Post a digest even when nothing happened.
        #[arg(long)]
        force: bool,
        /// Output format: table or json.
        #[arg(long, value_parser = formats(TABLE_JSON), default_value = "table")]
        format: Format,
    },
    /// A long-running service: sync, verify, alerts and the digest on the schedules of `[bot]`
    /// in portcullis.toml; `/healthz` reports each job's last run; SIGTERM or Ctrl-C stops it
    /// after the running job.
    Bot {
        /// Run every job once (sync, verify, alerts, digest) and exit.
        #[arg(long)]
        once: bool,
    },
    /// Build a demo workspace (the v23 policy, 80 generated tickets, the committee's decisions,
    /// six git repositories, patch release 23.0.1), print its status, verification and the
    /// 23.0.2 gate, then open the triage screen in a terminal. Offline.
    ///
    /// `--jira` and `--notify` use the Jira-compatible and chat test servers, which only a build
    /// with `--features test-servers` carries.
    Demo {
        /// Where to build it (default: ./portcullis-demo).
        #[arg(long, conflicts_with = "temp")]
        dir: Option<PathBuf>,
        /// Build it in a new temporary directory instead.
        #[arg(long)]
        temp: bool,
        /// Start the Jira-compatible test server with the demo's tickets, sync from it over
        /// HTTP, and push the committee's decisions back to it.
        #[arg(long)]
        jira: bool,
        /// Only print; do not open the triage screen even in a terminal.
        #[arg(long)]
        no_triage: bool,
        /// Also post the digest to a local chat receiver (a test server started for the demo)
        /// and show what it received.
        #[arg(long)]
        notify: bool,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell to write the script for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

impl Cli {
    pub fn locations(&self) -> Locations {
        Locations {
            config: self.config.clone(),
            db: self.db.clone(),
            policy: self.policy.clone(),
        }
    }
}

/// The formats of a command that prints a table, JSON, CSV and Markdown.
const ALL: &[Format] = &[Format::Table, Format::Json, Format::Csv, Format::Md];
/// The formats of a command that prints a report or JSON.
const TABLE_JSON: &[Format] = &[Format::Table, Format::Json];
/// The formats of the minutes.
const MINUTES: &[Format] = &[Format::Md, Format::Json];

/// `--format`, offering only what the command produces.
fn formats(allowed: &'static [Format]) -> impl clap::builder::TypedValueParser<Value = Format> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(allowed.iter().map(|f| f.name()))
        .map(|s| Format::parse(&s).unwrap_or_default())
}

/// Decisions as `decide` takes them (the words of [`Decision::as_str`]).
/// What `decide` records: a committee decision, or a person's acceptance of a partial landing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Decision(Decision),
    AcceptPartial,
}

fn decision_parser() -> impl clap::builder::TypedValueParser<Value = Verdict> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(
        Decision::ALL
            .map(Decision::as_str)
            .into_iter()
            .chain(["accept-partial"]),
    )
    .map(|s| match Decision::parse(&s) {
        Some(d) => Verdict::Decision(d),
        None => Verdict::AcceptPartial,
    })
}

fn parse_date(s: &str) -> Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| format!("`{s}` is not a date like 2022-03-15"))
}
