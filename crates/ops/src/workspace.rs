//! A workspace: `portcullis.toml` (config) naming a policy file and a ledger.
//!
//! Found from `--config` / `PORTCULLIS_CONFIG`, else by looking for `portcullis.toml` in the
//! current directory and its parents. `--db` / `PORTCULLIS_DB` and `--policy` /
//! `PORTCULLIS_POLICY` override what the config names.
//!
//! The ledger is an SQLite file, or a PostgreSQL database named by a URL
//! (`ledger = "postgresql://user@host/db?sslmode=require"` in the config, or the URL in `--db` /
//! `PORTCULLIS_DB`); its password comes from the credentials file, `PGPASSWORD` or `~/.pgpass`
//! ([`crate::credentials::postgres_password`]). With PostgreSQL, the verifier's caches of local
//! clones stay in a local file beside the config, [`CACHE_FILE`].

use std::path::{Path, PathBuf};

use crate::{Error, Result};
use portcullis_core::policy::{LoadedPolicy, Policy};
use portcullis_core::Problem;
use portcullis_ledger::{Ledger, LedgerTarget};

pub use crate::config::{Config, GithubConfig, JiraConfig};

pub const CONFIG_FILE: &str = "portcullis.toml";

/// The local file of the verifier's caches beside the config, for a PostgreSQL ledger.
pub const CACHE_FILE: &str = ".portcullis-cache.db";

/// Where to find things; what the CLI's global options say.
#[derive(Debug, Clone, Default)]
pub struct Locations {
    pub config: Option<PathBuf>,
    pub db: Option<PathBuf>,
    pub policy: Option<PathBuf>,
}

/// A resolved workspace.
#[derive(Debug)]
pub struct Workspace {
    pub config_path: Option<PathBuf>,
    pub config: Option<Config>,
    pub policy: LoadedPolicy,
    /// The policy file; repository paths in it are relative to its directory.
    pub policy_path: PathBuf,
    /// The ledger: an SQLite file or a PostgreSQL database.
    pub ledger: LedgerTarget,
    /// The ledger file; for a PostgreSQL ledger, the local cache file beside the config
    /// ([`CACHE_FILE`]). Files the workspace writes (minutes, releases, logs) go in its directory.
    pub ledger_path: PathBuf,
}

impl Workspace {
    /// Resolve the workspace from the given locations and the current directory.
    pub fn resolve(loc: &Locations) -> Result<Workspace> {
        let config_path = match &loc.config {
            Some(p) => {
                if !p.exists() {
                    return Err(Error::input(format!(
                        "config file {} does not exist",
                        p.display()
                    ))
                    .hint("run `portcullis init` to create a workspace"));
                }
                Some(p.clone())
            }
            None => find_config(&std::env::current_dir().map_err(|e| {
                Error::Problem(
                    Problem::input("cannot read the current directory")
                        .because(e)
                        .hint("cd into an existing directory, or pass --config"),
                )
            })?),
        };
        let config = match &config_path {
            Some(p) => Some(load_config(p)?),
            None => None,
        };
        let base = config_path
            .as_ref()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_default();
        let policy_path = match (&loc.policy, &config) {
            (Some(p), _) => p.clone(),
            (None, Some(c)) => base.join(&c.policy),
            (None, None) => {
                return Err(Error::input("no portcullis workspace here (no portcullis.toml in this directory or its parents)")
                    .hint("run `portcullis init` here, `cd` into a workspace, or pass --config (or --db with --policy)"))
            }
        };
        let ledger = match (&loc.db, &config) {
            (Some(p), _) => LedgerTarget::from_path(p),
            (None, Some(c)) => match LedgerTarget::parse(&c.ledger) {
                LedgerTarget::File(p) => LedgerTarget::File(base.join(p)),
                pg => pg,
            },
            (None, None) => return Err(Error::input("no ledger given").hint(
                "pass --db FILE (or a postgresql:// URL) or set PORTCULLIS_DB, or use a workspace made by `portcullis init`",
            )),
        };
        let ledger_path = match &ledger {
            LedgerTarget::File(p) => p.clone(),
            LedgerTarget::Postgres(_) => base.join(CACHE_FILE),
        };
        let policy = load_policy(&policy_path)?;
        Ok(Workspace {
            config_path,
            config,
            policy,
            policy_path,
            ledger,
            ledger_path,
        })
    }

    /// The credentials file the config names, resolved against the config's directory.
    pub fn credentials_file(&self) -> Option<PathBuf> {
        let c = self.config.as_ref()?.credentials.as_ref()?;
        let base = self
            .config_path
            .as_ref()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_default();
        Some(base.join(c))
    }

    pub fn open_ledger(&self) -> Result<Ledger> {
        match &self.ledger {
            LedgerTarget::File(p) => Ok(Ledger::open(p)?),
            LedgerTarget::Postgres(url) => {
                let password =
                    crate::credentials::postgres_password(self.credentials_file().as_deref(), url)?;
                Ok(Ledger::open_postgres(
                    url,
                    password.as_ref(),
                    &self.ledger_path,
                )?)
            }
        }
    }

    /// Run the read-only `f` on the ledger. A connection to a PostgreSQL ledger lost on the way
    /// (a restarted server, a cut network) is opened again and `f` retried, once: reading twice
    /// changes nothing. A second loss is the error (exit 2, with its cause).
    pub fn read_ledger<T>(&self, f: impl Fn(&Ledger) -> Result<T>) -> Result<T> {
        let first = self.open_ledger().and_then(|l| f(&l));
        match first {
            Err(e) if portcullis_ledger::pg::connection_lost(&e) => {
                tracing::warn!(ledger = %self.ledger.shown(), "lost the connection to the ledger; trying once more");
                let ledger = self.open_ledger()?;
                f(&ledger)
            }
            other => other,
        }
    }

    /// Run the read-only `f` on `ledger`, already open (a command that also writes); a lost
    /// connection is opened again, in place, and `f` retried once, as [`Workspace::read_ledger`].
    pub fn reread<T>(&self, ledger: &mut Ledger, f: impl Fn(&Ledger) -> Result<T>) -> Result<T> {
        match f(ledger) {
            Err(e) if portcullis_ledger::pg::connection_lost(&e) => {
                tracing::warn!(ledger = %self.ledger.shown(), "lost the connection to the ledger; trying once more");
                *ledger = self.open_ledger()?;
                f(ledger)
            }
            other => other,
        }
    }

    /// Who is acting: `--as`, else `PORTCULLIS_ACTOR`, else the config's `user`, else `$USER`.
    pub fn actor(&self, explicit: Option<&str>) -> Result<String> {
        explicit
            .map(str::to_string)
            .or_else(|| std::env::var("PORTCULLIS_ACTOR").ok())
            .or_else(|| self.config.as_ref().and_then(|c| c.user.clone()))
            .or_else(|| std::env::var("USER").ok())
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| {
                Error::input("who is deciding? no actor given")
                    .hint("pass --as NAME, or set `user` in portcullis.toml")
            })
    }
}

fn find_config(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|d| d.join(CONFIG_FILE))
        .find(|p| p.is_file())
}

fn load_config(path: &Path) -> Result<Config> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Problem::input(format!("cannot read {}", path.display())).because(e))?;
    toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        Error::input(format!(
            "{}{}: {}",
            path.display(),
            line.map(|l| format!(":{l}")).unwrap_or_default(),
            e.message()
        ))
        .hint("the config takes `policy`, `ledger`, `user`, `credentials`, and `[jira]`, `[github]`, `[[notify]]` and `[bot]` tables")
    })
}

/// Read and validate a policy file; errors are listed one per line.
pub fn load_policy(path: &Path) -> Result<LoadedPolicy> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::from(Problem::input(format!("cannot read the policy {shown}")).because(e))
            .hint("check the `policy` path in portcullis.toml or pass --policy")
    })?;
    Policy::from_toml(&shown, &text).map_err(|errs| {
        let lines: Vec<String> = errs.iter().map(ToString::to_string).collect();
        Error::input(format!("invalid policy:\n{}", lines.join("\n"))).hint(format!(
            "fix the policy, then run `portcullis policy check {shown}`"
        ))
    })
}

/// Which built-in policy `init` copies.
pub fn builtin_policy(name: &str) -> Option<&'static str> {
    match name {
        "default" => Some(portcullis_core::policy::BUILTIN_DEFAULT),
        "v23" => Some(portcullis_core::policy::BUILTIN_V23),
        "github" => Some(portcullis_core::policy::BUILTIN_GITHUB),
        _ => None,
    }
}

/// Create a workspace in `dir`: config, policy and an empty ledger. Refuses to overwrite.
pub fn init(dir: &Path, policy_text: &str, user: Option<&str>) -> Result<PathBuf> {
    init_with(dir, policy_text, user, None)
}

/// As [`init`], with the ledger at `ledger` (default `ledger.db`): an SQLite file (relative to
/// `dir`), created; or a PostgreSQL URL, whose database is made a ledger (migrated) before any
/// file is written, so that a database portcullis cannot use (one holding other tables, a
/// newer ledger, a server that cannot be reached) leaves nothing behind. An existing ledger in
/// that database is used as it is: a team's members share one. A URL holding a password is
/// refused (the config is a file one shares): give it through the credentials file,
/// `PGPASSWORD` or `~/.pgpass`.
pub fn init_with(
    dir: &Path,
    policy_text: &str,
    user: Option<&str>,
    ledger: Option<&str>,
) -> Result<PathBuf> {
    let target = LedgerTarget::parse(ledger.unwrap_or("ledger.db"));
    if let LedgerTarget::Postgres(url) = &target {
        if portcullis_ledger::pg::shown_url(url) != *url {
            return Err(Error::input(format!(
                "`{}` holds a password: it would be written into {CONFIG_FILE}",
                target.shown()
            ))
            .hint("leave the password out of the URL and give it in the credentials file's [postgres] table, PGPASSWORD or ~/.pgpass; nothing was written"));
        }
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| Problem::input(format!("cannot create {}", dir.display())).because(e))?;
    let config_path = dir.join(CONFIG_FILE);
    if config_path.exists() {
        return Err(
            Error::input(format!("{} already exists", config_path.display()))
                .hint("this is already a workspace; nothing was changed"),
        );
    }
    let policy_path = dir.join("policy.toml");
    let ledger_path = match &target {
        LedgerTarget::File(p) => Some(dir.join(p)),
        LedgerTarget::Postgres(_) => None,
    };
    if let Some(p) = ledger_path.as_ref().filter(|p| p.exists()) {
        return Err(Error::input(format!("{} already exists", p.display()))
            .hint("move it away or pass --db to use it"));
    }
    // Validate before writing anything.
    Policy::from_toml("policy.toml", policy_text).map_err(|errs| {
        Error::input(format!(
            "invalid policy:\n{}",
            errs.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        ))
    })?;
    if let LedgerTarget::Postgres(url) = &target {
        // Checked and migrated before anything is written here.
        let password = crate::credentials::postgres_password(None, url)?;
        Ledger::open_postgres(url, password.as_ref(), &dir.join(CACHE_FILE))?;
    }
    if !policy_path.exists() {
        std::fs::write(&policy_path, policy_text)
            .map_err(|e| Error::io("write", &policy_path, e))?;
    }
    let mut config = format!(
        "# portcullis workspace. Paths are relative to this file.\npolicy = \"policy.toml\"\nledger = {}\n",
        toml::Value::String(ledger.unwrap_or("ledger.db").to_string())
    );
    if let Some(u) = user {
        config.push_str(&format!("user = {}\n", toml::Value::String(u.to_string())));
    }
    std::fs::write(&config_path, config).map_err(|e| Error::io("write", &config_path, e))?;
    if let Some(p) = &ledger_path {
        Ledger::create(p)?;
    }
    Ok(config_path)
}
