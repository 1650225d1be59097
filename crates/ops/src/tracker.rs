//! Connecting to the trackers a workspace names: settings from `portcullis.toml`, overrides from
//! flags and the environment, credentials from the environment or the credentials file.
//!
//! Jira (`[jira]`) and GitHub (`[github]`) can both be configured: `sync` reads both, and
//! `push` sends each ticket's decisions to the tracker it lives in
//! ([`sync_github_configured`] and [`push_github_configured`] are the GitHub halves, for every
//! front end).

use crate::credentials::{github_credentials, jira_credentials};
use crate::workspace::{GithubConfig, JiraConfig, Workspace};
use crate::{Error, Result};
use portcullis_ledger::Ledger;
use portcullis_trackers::github::{check_repos, sync_github, GithubOptions};
use portcullis_trackers::github_client::{GithubClient, GithubClientOptions, RepoRef};
use portcullis_trackers::jira_client::{Account, ClientOptions, Flavor, JiraClient};
use portcullis_trackers::live::{LiveOptions, Progress, SyncReport};
use portcullis_trackers::push::{push_github, PushReport};

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

/// Sync options from the settings.
pub fn live_options(cfg: &JiraConfig, full: bool, keys: &[String]) -> LiveOptions {
    LiveOptions {
        full,
        extra_keys: keys.to_vec(),
        page_size: cfg.page_size,
        overlap_minutes: cfg.overlap_minutes,
        extra_jql: cfg.jql.clone(),
        ..LiveOptions::default()
    }
}

/// Connect to Jira and check the credentials (when there are any).
pub async fn connect_jira(
    ws: &Workspace,
    cfg: &JiraConfig,
) -> Result<(JiraClient, Option<Account>)> {
    let creds = jira_credentials(ws.credentials_file().as_deref())?;
    let opts = ClientOptions {
        timeout: std::time::Duration::from_secs(cfg.timeout_seconds.max(1)),
        max_retries: cfg.max_retries,
        base_delay: std::time::Duration::from_millis(cfg.backoff_ms),
        ..ClientOptions::default()
    };
    Ok(JiraClient::connect(&cfg.url, cfg.flavor, creds, opts).await?)
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
pub async fn connect_github(
    ws: &Workspace,
    cfg: &GithubConfig,
    repos: Vec<RepoRef>,
) -> Result<(GithubClient, Option<Account>)> {
    let creds = github_credentials(ws.credentials_file().as_deref())?;
    let opts = GithubClientOptions {
        timeout: std::time::Duration::from_secs(cfg.timeout_seconds.max(1)),
        max_retries: cfg.max_retries,
        per_page: cfg.page_size,
        ..GithubClientOptions::default()
    };
    Ok(GithubClient::connect(&cfg.url, repos, creds, opts).await?)
}

/// Sync the workspace's GitHub repositories; `None` when it has no `[github]` table. `keys`
/// (`name#N`) are read whatever their labels.
pub async fn sync_github_configured(
    ws: &Workspace,
    ledger: &mut Ledger,
    full: bool,
    keys: &[String],
    progress: &dyn Progress,
) -> Result<Option<SyncReport>> {
    let Some((cfg, repos)) = github_config(ws)? else {
        return Ok(None);
    };
    let (client, _me) = connect_github(ws, &cfg, repos).await?;
    let opts = GithubOptions {
        full,
        extra_keys: keys.to_vec(),
        ..GithubOptions::default()
    };
    Ok(Some(
        sync_github(ledger, &ws.policy, &client, &opts, progress).await?,
    ))
}

/// Push the pending decisions on GitHub tickets; `None` when the workspace has no `[github]`
/// table. Needs a token: nothing is written anonymously.
pub async fn push_github_configured(
    ws: &Workspace,
    ledger: &mut Ledger,
    keys: &[String],
    dry_run: bool,
) -> Result<Option<PushReport>> {
    let Some((cfg, repos)) = github_config(ws)? else {
        return Ok(None);
    };
    let (client, me) = connect_github(ws, &cfg, repos).await?;
    let me = me.ok_or_else(|| {
        Error::input("push needs a GitHub token: nothing is written anonymously").hint(
            "set PORTCULLIS_GITHUB_TOKEN, or `token` in the [github] table of the credentials file",
        )
    })?;
    Ok(Some(
        push_github(ledger, &ws.policy, &client, &me, keys, dry_run).await?,
    ))
}

/// Push the pending decisions on Jira tickets to the Jira of `cfg`. Needs credentials: nothing is
/// written anonymously.
pub async fn push_jira_with(
    ws: &Workspace,
    ledger: &mut Ledger,
    cfg: &JiraConfig,
    keys: &[String],
    dry_run: bool,
) -> Result<PushReport> {
    let (client, me) = connect_jira(ws, cfg).await?;
    let me = me.ok_or_else(|| {
        Error::input("push needs Jira credentials: nothing is written anonymously")
            .hint("set PORTCULLIS_JIRA_TOKEN (and PORTCULLIS_JIRA_EMAIL on Cloud), or use the credentials file")
    })?;
    Ok(
        portcullis_trackers::push::push_jira(ledger, &ws.policy, &client, &me, keys, dry_run)
            .await?,
    )
}

/// The async runtime for one command.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::internal(format!("cannot start the async runtime: {e}")))
}
