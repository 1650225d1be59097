//! The trackers a workspace syncs with and pushes to, decided in one place for every front end
//! (the CLI, the triage screen, the bot, the demo): settings from `portcullis.toml`, overrides
//! from flags and the environment, credentials from the environment or the credentials file.
//!
//! Jira (`[jira]`, or `--url` / `--flavor`) and GitHub (`[github]`) can both be configured:
//! [`sync`] reads both, and [`push`] sends each ticket's decisions to the tracker it lives in.
//! `--key` goes to the tracker whose tickets it names (`name#N` is GitHub's).

use crate::credentials::{github_credentials, jira_credentials, team_key, JiraCredentials};
use crate::workspace::{GithubConfig, JiraConfig, Workspace};
use crate::{Error, OpFuture, Result};
use portcullis_ledger::Ledger;
use portcullis_trackers::github::client::{split_key, GithubClient, GithubClientOptions, RepoRef};
use portcullis_trackers::github::{check_repos, GithubTracker};
use portcullis_trackers::jira::client::{ClientOptions, Flavor, JiraClient};
use portcullis_trackers::jira::JiraTracker;
use portcullis_trackers::push::PushReport;
use portcullis_trackers::records::RecordTrust;
use portcullis_trackers::sync::{Progress, SyncOptions, SyncReport};
use portcullis_trackers::{Account, Tracker};

/// What the command line says about the trackers, over the configuration.
#[derive(Debug, Clone, Default)]
pub struct Choice {
    /// `--url` (or `PORTCULLIS_JIRA_URL`): the Jira to use.
    pub jira_url: Option<String>,
    /// `--flavor` (or `PORTCULLIS_JIRA_FLAVOR`).
    pub jira_flavor: Option<String>,
}

/// The trackers in force for a workspace.
#[derive(Debug, Clone, Default)]
pub struct Trackers {
    pub jira: Option<JiraConfig>,
    pub github: Option<(GithubConfig, Vec<RepoRef>)>,
    /// Jira credentials given by the caller (the demo's test server); otherwise they come from
    /// the environment or the credentials file.
    pub jira_credentials: Option<JiraCredentials>,
}

impl Trackers {
    /// Jira when `[jira]` is configured or the command line names one; GitHub when `[github]`
    /// is configured.
    pub fn of(ws: &Workspace, choice: &Choice) -> Result<Trackers> {
        let configured = ws.config.as_ref().is_some_and(|c| c.jira.is_some());
        let jira = if configured || choice.jira_url.is_some() || choice.jira_flavor.is_some() {
            Some(jira_config(
                ws,
                choice.jira_url.as_deref(),
                choice.jira_flavor.as_deref(),
            )?)
        } else {
            None
        };
        Ok(Trackers {
            jira,
            github: github_config(ws)?,
            jira_credentials: None,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.jira.is_none() && self.github.is_none()
    }

    /// The error for a workspace with no tracker at all.
    fn none_configured() -> Error {
        Error::input("no tracker configured for this workspace: no [jira] or [github] table").hint(
            "add a [jira] table with `url = \"https://…\"` to portcullis.toml, or pass --url (or set PORTCULLIS_JIRA_URL); for GitHub add a [github] table with `repos = [\"owner/name\"]`; to import saved responses use --from-file",
        )
    }
}

/// The Jira settings in force: the config's `[jira]` table, with `url` and `flavor` overridable
/// (flags, `PORTCULLIS_JIRA_URL`, `PORTCULLIS_JIRA_FLAVOR`).
pub fn jira_config(ws: &Workspace, url: Option<&str>, flavor: Option<&str>) -> Result<JiraConfig> {
    let mut cfg = match (ws.config.as_ref().and_then(|c| c.jira.clone()), url) {
        (Some(mut c), Some(u)) => {
            c.url = u.to_string();
            c
        }
        (Some(c), None) => c,
        (None, Some(u)) => JiraConfig::new(u),
        (None, None) => {
            return Err(Error::input("no Jira configured for this workspace").hint(
                "add a [jira] table with `url = \"https://…\"` to portcullis.toml, or pass --url (or set PORTCULLIS_JIRA_URL); for GitHub add a [github] table with `repos = [\"owner/name\"]`; to import saved responses use --from-file",
            ))
        }
    };
    if let Some(f) = flavor {
        cfg.flavor = Some(Flavor::parse(f).ok_or_else(|| {
            Error::input(format!("unknown Jira flavor `{f}`")).hint("use `cloud` or `datacenter`")
        })?);
    }
    if cfg.page_size == 0 {
        return Err(Error::input("jira.page_size must be at least 1"));
    }
    Ok(cfg)
}

/// Connect to Jira and check the credentials (when there are any).
pub(crate) async fn connect_jira(
    ws: &Workspace,
    cfg: &JiraConfig,
    given: Option<&JiraCredentials>,
) -> Result<(JiraTracker, Option<Account>)> {
    let creds = match given {
        Some(c) => Some(c.clone()),
        None => jira_credentials(ws.credentials_file().as_deref())?,
    };
    let opts = ClientOptions {
        timeout: std::time::Duration::from_secs(cfg.timeout_seconds.max(1)),
        max_retries: cfg.max_retries,
        base_delay: std::time::Duration::from_millis(cfg.backoff_ms),
        ..ClientOptions::default()
    };
    let (client, me) = JiraClient::connect(&cfg.url, cfg.flavor, creds, opts).await?;
    let tracker = JiraTracker {
        page_size: cfg.page_size,
        extra_jql: cfg.jql.clone(),
        records: RecordTrust {
            writers: cfg.writers.clone(),
            key: team_key(ws.credentials_file().as_deref())?,
        },
        ..JiraTracker::new(client)
    };
    Ok((tracker, me))
}

/// The GitHub settings of the workspace (`None` without a `[github]` table), checked: at least
/// one repository, each `owner/name`, names distinct and matching the policy's `ticket_key`.
pub fn github_config(ws: &Workspace) -> Result<Option<(GithubConfig, Vec<RepoRef>)>> {
    let Some(cfg) = ws.config.as_ref().and_then(|c| c.github.clone()) else {
        return Ok(None);
    };
    if cfg.repos.is_empty() {
        return Err(Error::input("github.repos is empty: no repository to sync")
            .hint("list them in the [github] table of portcullis.toml, e.g. repos = [\"lsst/daf_butler\"]"));
    }
    if cfg.page_size == 0 || cfg.page_size > 100 {
        return Err(Error::input(format!(
            "github.page_size must be between 1 and 100, not {}",
            cfg.page_size
        ))
        .hint("GitHub serves at most 100 items per page"));
    }
    let repos = cfg
        .repos
        .iter()
        .map(|r| RepoRef::parse(r))
        .collect::<Result<Vec<_>, _>>()?;
    check_repos(&ws.policy, &repos)?;
    Ok(Some((cfg, repos)))
}

/// Connect to GitHub and check the token (when there is one).
pub(crate) async fn connect_github(
    ws: &Workspace,
    cfg: &GithubConfig,
    repos: Vec<RepoRef>,
) -> Result<(GithubTracker, Option<Account>)> {
    let creds = github_credentials(ws.credentials_file().as_deref())?;
    let opts = GithubClientOptions {
        timeout: std::time::Duration::from_secs(cfg.timeout_seconds.max(1)),
        max_retries: cfg.max_retries,
        per_page: cfg.page_size,
        ..GithubClientOptions::default()
    };
    let (client, me) = GithubClient::connect(&cfg.url, repos, creds, opts).await?;
    Ok((
        GithubTracker {
            client,
            records: RecordTrust {
                writers: cfg.writers.clone(),
                key: team_key(ws.credentials_file().as_deref())?,
            },
        },
        me,
    ))
}

/// Sync the workspace's trackers. `keys` are read whatever their labels, by the tracker whose
/// tickets they name.
pub fn sync<'a>(
    ws: &'a Workspace,
    ledger: &'a mut Ledger,
    trackers: &'a Trackers,
    full: bool,
    keys: &'a [String],
    progress: &'a dyn Progress,
) -> OpFuture<'a, Vec<SyncReport>> {
    Box::pin(sync_all(ws, ledger, trackers, full, keys, progress))
}

async fn sync_all(
    ws: &Workspace,
    ledger: &mut Ledger,
    trackers: &Trackers,
    full: bool,
    keys: &[String],
    progress: &dyn Progress,
) -> Result<Vec<SyncReport>> {
    if trackers.is_empty() {
        return Err(Trackers::none_configured());
    }
    for k in keys {
        if !ws.policy.key_matches(k) {
            return Err(Error::input(format!(
                "`{k}` is not a ticket key under this policy (pattern `{}`)",
                ws.policy.policy.ticket_key
            )));
        }
    }
    let (github_keys, jira_keys): (Vec<String>, Vec<String>) =
        keys.iter().cloned().partition(|k| split_key(k).is_some());
    if let (Some(k), None) = (github_keys.first(), &trackers.github) {
        return Err(Error::input(format!(
            "`{k}` is a GitHub ticket, but no [github] is configured"
        ))
        .hint("add a [github] table with `repos = [\"owner/name\"]` to portcullis.toml"));
    }
    if let (Some(k), None) = (jira_keys.first(), &trackers.jira) {
        return Err(Error::input(format!(
            "`{k}` is a Jira ticket, but no [jira] is configured"
        ))
        .hint("add a [jira] table with `url = \"https://…\"` to portcullis.toml, or pass --url"));
    }
    let mut reports = Vec::new();
    if let Some(cfg) = &trackers.jira {
        let (tracker, _) = connect_jira(ws, cfg, trackers.jira_credentials.as_ref()).await?;
        let opts = SyncOptions {
            full,
            overlap_minutes: cfg.overlap_minutes,
            extra_keys: jira_keys,
        };
        reports.push(sync_one(ws, ledger, &tracker, &opts, progress).await?);
    }
    if let Some((cfg, repos)) = &trackers.github {
        let (tracker, _) = connect_github(ws, cfg, repos.clone()).await?;
        let opts = SyncOptions {
            full,
            extra_keys: github_keys,
            ..SyncOptions::default()
        };
        reports.push(sync_one(ws, ledger, &tracker, &opts, progress).await?);
    }
    Ok(reports)
}

async fn sync_one<T: Tracker>(
    ws: &Workspace,
    ledger: &mut Ledger,
    tracker: &T,
    opts: &SyncOptions,
    progress: &dyn Progress,
) -> Result<SyncReport> {
    Ok(portcullis_trackers::sync::sync(ledger, &ws.policy, tracker, opts, progress).await?)
}

/// What [`push`] did: one report per tracker, and notes on decisions nothing could take.
#[derive(Debug, Clone, Default)]
pub struct Pushed {
    /// (tracker source, report).
    pub reports: Vec<(&'static str, PushReport)>,
    /// Decisions left pending because their tracker is not configured.
    pub notes: Vec<String>,
}

impl Pushed {
    pub fn conflicts(&self) -> usize {
        self.reports.iter().map(|(_, r)| r.conflicts).sum()
    }

    /// Tickets whose decisions have nowhere to go: gone from their tracker, out of reach.
    pub fn missing(&self) -> usize {
        self.reports.iter().map(|(_, r)| r.missing).sum()
    }

    /// Whether some pending decision was not written: a conflict, a ticket with nowhere to go,
    /// or a tracker that is not configured (`push` exits 1).
    pub fn incomplete(&self) -> bool {
        self.conflicts() > 0 || self.missing() > 0 || !self.notes.is_empty()
    }
}

/// Push the pending decisions (only on `keys`, when given) to the tracker each ticket lives in.
/// Needs credentials: nothing is written anonymously.
pub fn push<'a>(
    ws: &'a Workspace,
    ledger: &'a mut Ledger,
    trackers: &'a Trackers,
    keys: &'a [String],
    dry_run: bool,
) -> OpFuture<'a, Pushed> {
    Box::pin(push_all(ws, ledger, trackers, keys, dry_run))
}

async fn push_all(
    ws: &Workspace,
    ledger: &mut Ledger,
    trackers: &Trackers,
    keys: &[String],
    dry_run: bool,
) -> Result<Pushed> {
    if trackers.is_empty() {
        return Err(Trackers::none_configured());
    }
    let mut out = Pushed::default();
    if let Some(cfg) = &trackers.jira {
        let (tracker, me) = connect_jira(ws, cfg, trackers.jira_credentials.as_ref()).await?;
        let me = me.ok_or_else(|| {
            Error::input("push needs Jira credentials: nothing is written anonymously")
                .hint("set PORTCULLIS_JIRA_TOKEN (and PORTCULLIS_JIRA_EMAIL on Cloud), or use the credentials file")
        })?;
        out.reports.push((
            "jira",
            push_one(ws, ledger, &tracker, &me, keys, dry_run).await?,
        ));
    } else {
        note_unpushed(ledger, keys, false, &mut out)?;
    }
    if let Some((cfg, repos)) = &trackers.github {
        let (tracker, me) = connect_github(ws, cfg, repos.clone()).await?;
        let me = me.ok_or_else(|| {
            Error::input("push needs a GitHub token: nothing is written anonymously").hint(
                "set PORTCULLIS_GITHUB_TOKEN, or `token` in the [github] table of the credentials file",
            )
        })?;
        out.reports.push((
            "github",
            push_one(ws, ledger, &tracker, &me, keys, dry_run).await?,
        ));
    } else {
        note_unpushed(ledger, keys, true, &mut out)?;
    }
    Ok(out)
}

async fn push_one<T: Tracker>(
    ws: &Workspace,
    ledger: &mut Ledger,
    tracker: &T,
    me: &Account,
    keys: &[String],
    dry_run: bool,
) -> Result<PushReport> {
    Ok(portcullis_trackers::push::push(ledger, &ws.policy, tracker, me, keys, dry_run).await?)
}

/// Say how many pending decisions belong to a tracker that is not configured.
fn note_unpushed(ledger: &Ledger, keys: &[String], github: bool, out: &mut Pushed) -> Result<()> {
    let on_github = ledger.tickets_with_event_from(
        portcullis_core::event::kind::TICKET_OBSERVED,
        portcullis_core::event::source::GITHUB,
    )?;
    let n = portcullis_trackers::push::pending_decisions(ledger)?
        .iter()
        .filter(|d| keys.is_empty() || keys.contains(&d.key))
        .filter(|d| (split_key(&d.key).is_some() || on_github.contains(&d.key)) == github)
        .count();
    if n > 0 {
        let (which, table) = if github {
            ("GitHub", "[github]")
        } else {
            ("Jira", "[jira]")
        };
        out.notes.push(format!(
            "{n} decision(s) on {which} tickets were not pushed: no {table} is configured; add a {table} table to portcullis.toml and push again"
        ));
    }
    Ok(())
}

/// The async runtime for one command.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            Error::Problem(
                portcullis_core::Problem::internal("cannot start the async runtime").because(e),
            )
        })
}
