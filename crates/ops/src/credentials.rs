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
//! The password of a PostgreSQL ledger is the `[postgres]` table's `password`, else
//! `PGPASSWORD`, else `~/.pgpass` ([`postgres_password`]).
//!
//! A `team_key = "…"` line before the tables (or `PORTCULLIS_TEAM_KEY`) is the team's key for
//! signing the decision records pushed into the trackers ([`team_key`]).
//! It is found from `PORTCULLIS_CREDENTIALS`, else the config's `credentials`, else
//! `$XDG_CONFIG_HOME/portcullis/credentials.toml` (`~/.config/…`) when that exists.

use std::path::{Path, PathBuf};

pub use portcullis_core::secret::Secret;
pub use portcullis_trackers::credentials::{
    ConfluenceCredentials, GithubCredentials, JiraCredentials,
};

use crate::{Error, Result};
use portcullis_core::Problem;

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

pub const ENV_CONFLUENCE_TOKEN: &str = "PORTCULLIS_CONFLUENCE_TOKEN";
pub const ENV_CONFLUENCE_USER: &str = "PORTCULLIS_CONFLUENCE_USER";

/// The Confluence token from `PORTCULLIS_CONFLUENCE_TOKEN` (and user from
/// `PORTCULLIS_CONFLUENCE_USER`), else the credentials file's `[confluence]` table (`token`,
/// optional `user`). With a user, Basic `user:token`; without, the token is a Bearer personal
/// access token. `None` when neither has one.
pub fn confluence_credentials(
    configured_file: Option<&Path>,
) -> Result<Option<ConfluenceCredentials>> {
    let env_user = std::env::var(ENV_CONFLUENCE_USER)
        .ok()
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().to_string());
    if let Some(token) = std::env::var(ENV_CONFLUENCE_TOKEN)
        .ok()
        .filter(|s| !s.trim().is_empty())
    {
        return Ok(Some(ConfluenceCredentials {
            user: env_user,
            token: Secret::new(token.trim()),
            origin: format!("the environment ({ENV_CONFLUENCE_TOKEN})"),
        }));
    }
    let Some(path) = credentials_path(configured_file) else {
        return Ok(None);
    };
    let table = read_credentials_file(&path)?;
    let Some(c) = table.get("confluence") else {
        return Ok(None);
    };
    let shown = path.display();
    let get = |k: &str| -> Result<Option<String>> {
        match c.get(k) {
            None => Ok(None),
            Some(toml::Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
            Some(_) => Err(Error::input(format!(
                "{shown}: `confluence.{k}` must be a non-empty string"
            ))),
        }
    };
    let Some(token) = get("token")? else {
        return Err(
            Error::input(format!("{shown} has a [confluence] table without `token`"))
                .hint("add `token = \"…\"` (a personal access token, or an API token with `user`)"),
        );
    };
    Ok(Some(ConfluenceCredentials {
        user: env_user.or(get("user")?),
        token: Secret::new(token),
        origin: format!("the credentials file {shown}"),
    }))
}

pub const ENV_PGPASSWORD: &str = "PGPASSWORD";

/// The password for the PostgreSQL ledger at `url` (used when the URL has none): the credentials
/// file's `[postgres]` table (`password = "…"`), else `PGPASSWORD`, else `~/.pgpass` (or
/// `PGPASSFILE`). `None` when none has one (a server that trusts the login, or a URL that
/// carries its password).
pub fn postgres_password(configured_file: Option<&Path>, url: &str) -> Result<Option<Secret>> {
    if let Some(path) = credentials_path(configured_file) {
        let table = read_credentials_file(&path)?;
        if let Some(pg) = table.get("postgres") {
            let shown = path.display();
            match pg.get("password") {
                Some(toml::Value::String(s)) if !s.is_empty() => {
                    return Ok(Some(Secret::new(s.as_str())))
                }
                None => {}
                Some(_) => {
                    return Err(Error::input(format!(
                        "{shown}: `postgres.password` must be a non-empty string"
                    )))
                }
            }
        }
    }
    if let Some(p) = std::env::var(ENV_PGPASSWORD).ok().filter(|s| !s.is_empty()) {
        return Ok(Some(Secret::new(p)));
    }
    Ok(portcullis_ledger::pg::pgpass_password(url))
}

pub const ENV_TEAM_KEY: &str = "PORTCULLIS_TEAM_KEY";

/// The team key that signs decision records in the trackers (issue 17): `PORTCULLIS_TEAM_KEY`,
/// else the credentials file's top-level `team_key`. `None` when neither has one: records are
/// then written unsigned and read without checking a signature.
pub fn team_key(configured_file: Option<&Path>) -> Result<Option<Secret>> {
    if let Some(k) = std::env::var(ENV_TEAM_KEY)
        .ok()
        .filter(|s| !s.trim().is_empty())
    {
        return Ok(Some(Secret::new(k.trim())));
    }
    let Some(path) = credentials_path(configured_file) else {
        return Ok(None);
    };
    match read_credentials_file(&path)?.get("team_key") {
        None => Ok(None),
        Some(toml::Value::String(s)) if !s.trim().is_empty() => Ok(Some(Secret::new(s.trim()))),
        Some(_) => Err(Error::input(format!(
            "{}: `team_key` must be a non-empty string",
            path.display()
        ))
        .hint("set `team_key = \"…\"` at the top of the file, before any table")),
    }
}

/// Read a credentials file, refusing one that others can read. Errors never quote its content.
pub fn read_credentials_file(path: &Path) -> Result<toml::Table> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| {
        Error::from(Problem::input(format!("cannot read the credentials file {shown}")).because(e))
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
    let text = std::fs::read_to_string(path).map_err(|e| {
        Problem::input(format!("cannot read the credentials file {shown}")).because(e)
    })?;
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

/// Where a credentials file is written when none exists yet: `PORTCULLIS_CREDENTIALS`, the
/// config's `credentials`, else `$XDG_CONFIG_HOME/portcullis/credentials.toml` (or
/// `~/.config/portcullis/credentials.toml`).
pub fn credentials_target(configured: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = credentials_path(configured) {
        return Ok(p);
    }
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|base| base.join("portcullis").join("credentials.toml"))
        .ok_or_else(|| {
            Error::input("no place for a credentials file: neither HOME nor XDG_CONFIG_HOME is set")
                .hint(format!("set {ENV_FILE} to the file to use"))
        })
}

fn check_credential_key(table: &str, key: &str) -> Result<Vec<String>> {
    let parts: Vec<String> = table.split('.').map(str::to_string).collect();
    let allowed: &[&str] = match parts.as_slice() {
        [t] if t == "jira" => &["token", "email"],
        [t] if t == "github" => &["token"],
        [t] if t == "confluence" => &["token", "user"],
        [t, name]
            if t == "notify"
                && !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
        {
            &["url", "token"]
        }
        _ => {
            return Err(Error::input(format!("no credentials table `{table}`"))
                .hint("use `jira`, `github`, `confluence` or `notify.<name>` (the name of a [[notify]] target)"))
        }
    };
    if !allowed.contains(&key) {
        return Err(Error::input(format!("`{table}` takes no `{key}`"))
            .hint(format!("it takes {}", allowed.join(", "))));
    }
    Ok(parts)
}

/// Store `table.key = value` in the credentials file at `path`, keeping everything else in it
/// (comments included). A new file, and its directory, are created readable by the owner only;
/// an existing file readable by others is refused, as when reading. The file is replaced
/// atomically (a private temporary file renamed over it), so an interrupted write leaves the old
/// file whole. Errors never quote a value.
pub fn store_credential(path: &Path, table: &str, key: &str, value: &str) -> Result<()> {
    // The team key is the one value outside a table.
    let parts = if table.is_empty() && key == "team_key" {
        Vec::new()
    } else {
        check_credential_key(table, key)?
    };
    let value = value.trim();
    if value.is_empty() {
        return Err(Error::input("the value read from standard input is empty")
            .hint("pipe it in: `printf %s \"$TOKEN\" | portcullis credentials set jira token`"));
    }
    if value.contains(['\n', '\r']) {
        return Err(
            Error::input("the value read from standard input has more than one line")
                .hint("give one line: the token (or URL) alone"),
        );
    }
    let shown = path.display().to_string();
    let mut doc = if path.exists() {
        // The same checks as reading: private, valid TOML (position only in errors).
        read_credentials_file(path)?;
        let text = std::fs::read_to_string(path).map_err(|e| {
            Problem::input(format!("cannot read the credentials file {shown}")).because(e)
        })?;
        text.parse::<toml_edit::DocumentMut>()
            .map_err(|_| Error::input(format!("the credentials file {shown} is not valid TOML")))?
    } else {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let mut b = std::fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                b.mode(0o700);
            }
            b.create(dir).map_err(|e| {
                Error::input(format!(
                    "cannot create the directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
        toml_edit::DocumentMut::new()
    };
    let mut item = doc.as_item_mut();
    for p in &parts {
        let t = item
            .as_table_like_mut()
            .ok_or_else(|| Error::input(format!("{shown}: `{p}` is not a table")))?;
        if t.get(p).is_none() {
            let mut new = toml_edit::Table::new();
            new.set_implicit(parts.len() > 1 && p == &parts[0]);
            t.insert(p, toml_edit::Item::Table(new));
        }
        item = t.get_mut(p).expect("just inserted");
        if !item.is_table_like() {
            return Err(Error::input(format!("{shown}: `{table}` is not a table")));
        }
    }
    item[key] = toml_edit::value(value);
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("credentials"),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&tmp);
    portcullis_ledger::create_private_file(&tmp)?;
    let written = (|| -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().write(true).open(&tmp)?;
        f.write_all(doc.to_string().as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::input(format!(
            "cannot write the credentials file {shown}: {e}"
        )));
    }
    Ok(())
}

/// The tables and keys a credentials file holds, as `table.key` (never the values).
pub fn credential_keys(path: &Path) -> Result<Vec<String>> {
    fn walk(prefix: &str, t: &toml::Table, out: &mut Vec<String>) {
        for (k, v) in t {
            let name = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                toml::Value::Table(t) => walk(&name, t, out),
                _ => out.push(name),
            }
        }
    }
    let mut out = Vec::new();
    walk("", &read_credentials_file(path)?, &mut out);
    Ok(out)
}
