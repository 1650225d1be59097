//! The arguments of `backport` (kept apart: the command has many).

use super::{formats, TABLE_JSON};
use crate::render::Format;

/// `portcullis backport KEY …`.
#[derive(Debug, clap::Args)]
pub struct BackportArgs {
    /// Ticket key, e.g. DM-33891.
    pub key: String,
    /// The release line (default: the policy's only line).
    #[arg(long)]
    pub line: Option<String>,
    /// Only these repositories (repeatable).
    #[arg(long = "repo", value_name = "NAME", num_args = 1..)]
    pub repos: Vec<String>,
    /// Try the picks in memory and show them; write and record nothing.
    #[arg(long, conflicts_with_all = ["resume", "abort"])]
    pub dry_run: bool,
    /// Backport a ticket that is not approved; kept as a violation (needs --note).
    #[arg(long)]
    pub force: bool,
    /// Why (required with --force).
    #[arg(long)]
    pub note: Option<String>,
    /// Who runs it (default: PORTCULLIS_ACTOR, the config's `user`, then $USER).
    #[arg(long = "as", value_name = "ACTOR")]
    pub actor: Option<String>,
    /// Push each ticket branch to the policy's `[backport] push_remote` (git push).
    #[arg(long, conflicts_with_all = ["dry_run", "abort"])]
    pub push: bool,
    /// Push, then open a pull request into the release branch (GitHub, `[github]`),
    /// titled by the policy's `[backport] pr_title` and `pr_body`.
    #[arg(long, conflicts_with_all = ["dry_run", "abort", "resume"])]
    pub pr: bool,
    /// Finish after resolving a conflict in the worktree portcullis prepared.
    #[arg(long = "continue", id = "resume", conflicts_with = "abort")]
    pub resume: bool,
    /// Drop the conflict worktree.
    #[arg(long)]
    pub abort: bool,
    /// Output format: table or json.
    #[arg(long, value_parser = formats(TABLE_JSON), default_value = "table")]
    pub format: Format,
}
