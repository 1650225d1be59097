//! `portcullis.toml`, the workspace's configuration: where the policy and ledger are, who you
//! are, and the trackers, chat targets and bot schedules. Secrets never go here: they come from
//! the environment or the credentials file ([`crate::credentials`]).

use serde::{Deserialize, Serialize};

use portcullis_chat::Kind;

/// The workspace configuration file. Its `Debug` shows `ledger` with any password of a
/// PostgreSQL URL replaced by `***`.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The policy file, relative to the config file.
    pub policy: String,
    /// The ledger file, relative to the config file.
    pub ledger: String,
    /// Who you are, for decisions recorded without `--as`.
    #[serde(default)]
    pub user: Option<String>,
    /// A credentials file (relative to the config file); see `sync::credentials`.
    #[serde(default)]
    pub credentials: Option<String>,
    /// The Jira to sync with and push to.
    #[serde(default)]
    pub jira: Option<JiraConfig>,
    /// The GitHub repositories to sync with and push to.
    #[serde(default)]
    pub github: Option<GithubConfig>,
    /// Where `minutes --publish` writes the meeting pages and `minutes --import` reads them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confluence: Option<ConfluenceConfig>,
    /// Chat targets for digests and alerts (`[[notify]]`).
    #[serde(default)]
    pub notify: Vec<TargetConfig>,
    /// The schedules of `portcullis bot`.
    #[serde(default)]
    pub bot: Option<BotConfig>,
    /// Where the team publishes its release manifests (`[releases]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub releases: Option<ReleasesConfig>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Destructured, so that a new field cannot be left out unnoticed.
        let Config {
            policy,
            ledger,
            user,
            credentials,
            jira,
            github,
            confluence,
            notify,
            bot,
            releases,
        } = self;
        f.debug_struct("Config")
            .field("policy", policy)
            .field("ledger", &portcullis_ledger::pg::shown_url(ledger))
            .field("user", user)
            .field("credentials", credentials)
            .field("jira", jira)
            .field("github", github)
            .field("confluence", confluence)
            .field("notify", notify)
            .field("bot", bot)
            .field("releases", releases)
            .finish()
    }
}

/// `[releases]` in `portcullis.toml`: the git repository where the release manager commits
/// the manifests of the releases cut (`<dir>/<tag>/manifest.json`). `verify` learns the
/// releases cut on other machines from them, checked against the annotated tags; without this
/// table it learns them from the tags alone. `cut --apply` writes its files there by default.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReleasesConfig {
    /// The repository (a clone), relative to the config file.
    pub repo: String,
    /// The revision whose tree is read (`HEAD`; `origin/main` to read what was fetched).
    #[serde(default = "default_releases_rev", rename = "ref")]
    pub rev: String,
    /// The directory of the manifests in that repository.
    #[serde(default = "default_releases_dir")]
    pub dir: String,
}

fn default_releases_rev() -> String {
    "HEAD".into()
}
fn default_releases_dir() -> String {
    "releases".into()
}

/// `[jira]` in `portcullis.toml`. Credentials never go here: they come from the environment or
/// the credentials file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JiraConfig {
    /// The site, e.g. `https://example.atlassian.net` or `https://jira.example.org`.
    pub url: String,
    /// `cloud` or `datacenter`; asked from `/rest/api/2/serverInfo` when absent.
    #[serde(default)]
    pub flavor: Option<portcullis_trackers::jira::client::Flavor>,
    /// A clause ANDed to the query, e.g. `project = DM`.
    #[serde(default)]
    pub jql: Option<String>,
    /// Issues per search page (Jira may return fewer; portcullis follows what it returns).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// How far back an incremental sync re-reads before its cursor (search is eventually consistent).
    #[serde(default = "default_overlap")]
    pub overlap_minutes: u32,
    /// Per-request timeout.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// Retries of one request on timeouts, dropped connections, 5xx and rate limits.
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    /// The first backoff before a retry, in milliseconds; it doubles (with jitter) on each retry.
    #[serde(default = "default_backoff")]
    pub backoff_ms: u64,
    /// The Jira accounts (Data Center user names, Cloud account ids) whose decision records in
    /// comments sync applies: the accounts the team pushes with. Blocks by anyone else are
    /// reported as foreign and never applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub writers: Vec<String>,
}

fn default_page_size() -> u32 {
    100
}
fn default_overlap() -> u32 {
    5
}
fn default_timeout() -> u64 {
    60
}
fn default_retries() -> u32 {
    6
}
fn default_backoff() -> u64 {
    250
}

impl JiraConfig {
    pub fn new(url: impl Into<String>) -> JiraConfig {
        JiraConfig {
            url: url.into(),
            flavor: None,
            jql: None,
            page_size: default_page_size(),
            overlap_minutes: default_overlap(),
            timeout_seconds: default_timeout(),
            max_retries: default_retries(),
            backoff_ms: default_backoff(),
            writers: Vec::new(),
        }
    }
}

/// `[confluence]` in `portcullis.toml`: the Confluence space where the committee keeps its
/// minutes, one page per meeting day. The token never goes here: it comes from
/// `PORTCULLIS_CONFLUENCE_TOKEN` (with `PORTCULLIS_CONFLUENCE_USER` for Basic auth) or the
/// credentials file's `[confluence]` table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConfluenceConfig {
    /// The site: `https://wiki.example.org` (Data Center, with its context path if any), or
    /// `https://example.atlassian.net` (Cloud).
    pub url: String,
    /// `datacenter` (the REST API under `/rest/api`, the default) or `cloud` (REST v2 under
    /// `/wiki/api/v2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flavor: Option<portcullis_trackers::confluence::Flavor>,
    /// The space key, e.g. `DM`.
    pub space: String,
    /// The title of the page the meeting pages go under (default: the space's top level).
    #[serde(default)]
    pub parent: Option<String>,
    /// The accounts whose pages' meeting records `minutes --import` applies when the team has
    /// no key (Data Center user names, Cloud account ids). With a team key, a record signed
    /// with it is applied whoever edited the page last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub writers: Vec<String>,
    /// Per-request timeout.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// Retries of one request on rate limits, 5xx and dropped connections.
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    /// The first backoff before a retry, in milliseconds; it doubles (with jitter) on each retry.
    #[serde(default = "default_backoff")]
    pub backoff_ms: u64,
}

impl ConfluenceConfig {
    /// A space on a site, with the default settings.
    pub fn new(url: impl Into<String>, space: impl Into<String>) -> ConfluenceConfig {
        ConfluenceConfig {
            url: url.into(),
            space: space.into(),
            flavor: None,
            parent: None,
            writers: Vec::new(),
            timeout_seconds: default_timeout(),
            max_retries: default_retries(),
            backoff_ms: default_backoff(),
        }
    }
}

/// `[github]` in `portcullis.toml`: GitHub (or GitHub Enterprise) issues and pull requests as
/// tickets, keyed `{repository name}#{number}`. The token never goes here: it comes from
/// `PORTCULLIS_GITHUB_TOKEN` or the credentials file's `[github]` table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GithubConfig {
    /// The API root: `https://api.github.com`, or `https://github.example.org/api/v3`.
    #[serde(default = "default_github_url")]
    pub url: String,
    /// The repositories, as `owner/name`. Their names must differ: they make the ticket keys.
    #[serde(default)]
    pub repos: Vec<String>,
    /// Issues (and events, comments, commits) per page; GitHub serves at most 100.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Per-request timeout.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// Retries of one request on rate limits (waiting as GitHub asks), 5xx and dropped
    /// connections.
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    /// The GitHub logins whose decision records in comments sync applies: the accounts the
    /// team pushes with. Blocks by anyone else are reported as foreign and never applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub writers: Vec<String>,
}

fn default_github_url() -> String {
    "https://api.github.com".to_string()
}

impl GithubConfig {
    /// GitHub.com with these repositories and the default settings.
    pub fn new(repos: &[&str]) -> GithubConfig {
        GithubConfig {
            url: default_github_url(),
            repos: repos.iter().map(|r| r.to_string()).collect(),
            page_size: default_page_size(),
            timeout_seconds: default_timeout(),
            max_retries: default_retries(),
            writers: Vec::new(),
        }
    }
}

/// `[[notify]]` in `portcullis.toml`: a chat target. The webhook URL (and a Matrix token) are
/// secrets: they come from `PORTCULLIS_NOTIFY_<NAME>_URL` / `_TOKEN` or the credentials file's
/// `[notify.<name>]` table, never from this file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    pub name: String,
    pub kind: Kind,
    /// The lines whose digests go there (default: all).
    #[serde(default)]
    pub lines: Option<Vec<String>>,
    /// Matrix: the room id (`!abc:example.org`).
    #[serde(default)]
    pub room: Option<String>,
    /// The pause between two messages to this target, in milliseconds (default 1000: Slack
    /// asks for no more than one message per second per channel).
    #[serde(default)]
    pub min_interval_ms: Option<u64>,
}

/// `[bot]` in `portcullis.toml`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BotConfig {
    #[serde(default = "default_sync")]
    pub sync_every: String,
    #[serde(default = "default_verify")]
    pub verify_every: String,
    #[serde(default = "default_alerts")]
    pub alerts_every: String,
    /// Backports of newly approved tickets, when the policy has `[backport] bot = true`.
    #[serde(default = "default_backport")]
    pub backport_every: String,
    /// `mon 09:00` (weekly) or `daily 09:00`; none: no digest.
    #[serde(default)]
    pub digest: Option<String>,
    /// The digest schedule's time zone as a UTC offset (`-07:00`); default UTC.
    #[serde(default)]
    pub utc_offset: Option<String>,
    /// Where `/healthz` listens (`127.0.0.1:9187`); none: no endpoint.
    #[serde(default)]
    pub healthz: Option<String>,
}

fn default_sync() -> String {
    "10m".into()
}
fn default_verify() -> String {
    "30m".into()
}
fn default_alerts() -> String {
    "1m".into()
}
fn default_backport() -> String {
    "10m".into()
}

impl Default for BotConfig {
    fn default() -> Self {
        BotConfig {
            sync_every: default_sync(),
            verify_every: default_verify(),
            alerts_every: default_alerts(),
            backport_every: default_backport(),
            digest: None,
            utc_offset: None,
            healthz: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_debug_hides_a_password_in_a_postgres_ledger_url() {
        let cfg: Config = toml::from_str(
            "policy = \"policy.toml\"\nledger = \"postgresql://bot:hunter2-pw@db.example.org/ledger?sslmode=require\"\n",
        )
        .unwrap();
        let shown = format!("{cfg:?} {cfg:#?}");
        assert!(!shown.contains("hunter2-pw"), "{shown}");
        assert!(
            shown.contains("postgresql://bot:***@db.example.org/ledger?sslmode=require"),
            "{shown}"
        );
        assert!(shown.contains("policy.toml"), "{shown}");
        // A file path is shown as it is.
        let cfg: Config = toml::from_str("policy = \"p.toml\"\nledger = \"ledger.db\"\n").unwrap();
        assert!(format!("{cfg:?}").contains("ledger: \"ledger.db\""));
    }
}
