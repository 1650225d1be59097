//! Secrets: tracker tokens and (later) webhook URLs. They come from the environment or from a
//! credentials file readable by its owner only, and never reach the ledger, logs, errors or
//! output: [`Secret`] has no `Display`, and its `Debug` prints `***`.
//!
//! The credentials file is TOML with one table per service:
//! ```toml
//! [jira]
//! email = "you@example.org"   # Jira Cloud: Basic auth is email:api_token
//! token = "…"                 # Cloud API token, or a Data Center personal access token
//!
//! [github]
//! token = "…"                 # a personal access token (fine-grained: Issues read and write)
//! ```
//! It is found from `PORTCULLIS_CREDENTIALS`, else the config's `credentials`, else
//! `$XDG_CONFIG_HOME/portcullis/credentials.toml` (`~/.config/…`) when that exists.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// A secret value. Deliberately not `Display`; `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The value, for the one place that sends it (an HTTP header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Credentials for Jira.
#[derive(Debug, Clone)]
pub struct JiraCredentials {
    /// Jira Cloud's account email (Basic auth `email:token`); unused on Data Center.
    pub email: Option<String>,
    pub token: Secret,
    /// Where they came from, for messages (never the value).
    pub origin: String,
}

pub const ENV_TOKEN: &str = "PORTCULLIS_JIRA_TOKEN";
pub const ENV_EMAIL: &str = "PORTCULLIS_JIRA_EMAIL";
pub const ENV_FILE: &str = "PORTCULLIS_CREDENTIALS";

/// The credentials file to read, if any: `PORTCULLIS_CREDENTIALS`, the config's, or the default.
pub fn credentials_path(configured: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(ENV_FILE).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    if let Some(p) = configured {
        return Some(p.to_path_buf());
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    let p = base.join("portcullis").join("credentials.toml");
    p.is_file().then_some(p)
}

/// Jira credentials from the environment, else from the credentials file. `None` when neither
/// has any (anonymous access).
pub fn jira_credentials(configured_file: Option<&Path>) -> Result<Option<JiraCredentials>> {
    let env_email = std::env::var(ENV_EMAIL)
        .ok()
        .filter(|s| !s.trim().is_empty());
    if let Some(token) = std::env::var(ENV_TOKEN)
        .ok()
        .filter(|s| !s.trim().is_empty())
    {
        return Ok(Some(JiraCredentials {
            email: env_email,
            token: Secret::new(token.trim()),
            origin: format!("the environment ({ENV_TOKEN})"),
        }));
    }
    let Some(path) = credentials_path(configured_file) else {
        return Ok(None);
    };
    let table = read_credentials_file(&path)?;
    let Some(jira) = table.get("jira") else {
        return Ok(None);
    };
    let shown = path.display();
    let get = |k: &str| -> Result<Option<String>> {
        match jira.get(k) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.trim().to_string())),
            Some(_) => Err(Error::input(format!(
                "{shown}: `jira.{k}` must be a string"
            ))),
        }
    };
    let Some(token) = get("token")? else {
        return Err(
            Error::input(format!("{shown} has a [jira] table without `token`")).hint(
                "add `token = \"…\"` (a Cloud API token or a Data Center personal access token)",
            ),
        );
    };
    Ok(Some(JiraCredentials {
        email: env_email.or(get("email")?),
        token: Secret::new(token),
        origin: format!("the credentials file {shown}"),
    }))
}

/// Credentials for GitHub: a personal access token (or any token GitHub takes as Bearer).
#[derive(Debug, Clone)]
pub struct GithubCredentials {
    pub token: Secret,
    /// Where it came from, for messages (never the value).
    pub origin: String,
}

pub const ENV_GITHUB_TOKEN: &str = "PORTCULLIS_GITHUB_TOKEN";

/// The GitHub token from `PORTCULLIS_GITHUB_TOKEN`, else the credentials file's `[github]`
/// table. `None` when neither has one (anonymous: public repositories, 60 requests an hour).
pub fn github_credentials(configured_file: Option<&Path>) -> Result<Option<GithubCredentials>> {
    if let Some(token) = std::env::var(ENV_GITHUB_TOKEN)
        .ok()
        .filter(|s| !s.trim().is_empty())
    {
        return Ok(Some(GithubCredentials {
            token: Secret::new(token.trim()),
            origin: format!("the environment ({ENV_GITHUB_TOKEN})"),
        }));
    }
    let Some(path) = credentials_path(configured_file) else {
        return Ok(None);
    };
    let table = read_credentials_file(&path)?;
    let Some(github) = table.get("github") else {
        return Ok(None);
    };
    let shown = path.display();
    match github.get("token") {
        Some(toml::Value::String(s)) if !s.trim().is_empty() => Ok(Some(GithubCredentials {
            token: Secret::new(s.trim()),
            origin: format!("the credentials file {shown}"),
        })),
        Some(toml::Value::String(_)) | None => Err(Error::input(format!(
            "{shown} has a [github] table without `token`"
        ))
        .hint("add `token = \"…\"` (a GitHub personal access token)")),
        Some(_) => Err(Error::input(format!(
            "{shown}: `github.token` must be a string"
        ))),
    }
}

/// Read a credentials file, refusing one that others can read. Errors never quote its content.
pub fn read_credentials_file(path: &Path) -> Result<toml::Table> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| {
        Error::input(format!("cannot read the credentials file {shown}: {e}"))
            .hint(format!("create it, or unset {ENV_FILE}"))
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::input(format!(
                "the credentials file {shown} is readable by others (mode {mode:04o}); it was not used"
            ))
            .hint(format!("run `chmod 600 {shown}`")));
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::input(format!("cannot read the credentials file {shown}: {e}")))?;
    // toml's Display quotes the offending line, which may hold a token: use only its position.
    text.parse::<toml::Table>().map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        Error::input(format!(
            "the credentials file {shown} is not valid TOML{}",
            line.map(|l| format!(" (line {l})")).unwrap_or_default()
        ))
        .hint("it takes tables like `[jira]` with `token = \"…\"` and `email = \"…\"`, and `[github]` with `token = \"…\"`")
    })
}
