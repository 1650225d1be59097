//! Connecting to the trackers a workspace names: settings from `portcullis.toml`, overrides from
//! flags and the environment, credentials from the environment or the credentials file.

use crate::ops::workspace::{JiraConfig, Workspace};
use crate::sync::credentials::jira_credentials;
use crate::sync::jira_client::{Account, ClientOptions, Flavor, JiraClient};
use crate::sync::live::LiveOptions;
use crate::{Error, Result};

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
                "add a [jira] table with `url = \"https://…\"` to portcullis.toml, or pass --url (or set PORTCULLIS_JIRA_URL); to import saved responses use --from-file",
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
    JiraClient::connect(&cfg.url, cfg.flavor, creds, opts).await
}

/// The async runtime for one command.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::internal(format!("cannot start the async runtime: {e}")))
}
