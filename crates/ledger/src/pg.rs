//! The PostgreSQL side of the ledger: the URL (and how it is shown without its password), the
//! connection (rustls with the ring provider and the platform's roots), `.pgpass`, and what a
//! PostgreSQL error means to the user.
//!
//! The password never appears in an error, a log line or the output: URLs are shown through
//! [`shown_url`], which replaces any password with `***`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use portcullis_core::secret::Secret;
use portcullis_core::Problem;
use postgres::config::{Host, SslMode};
use postgres::error::SqlState;

use crate::error::{Error, Result};
use crate::tls;

/// The key of the advisory lock that makes the chain's writers take turns (any constant that
/// no other application on the same database uses: "portcull" in ASCII).
pub const CHAIN_LOCK: i64 = 0x706f_7274_6375_6c6c;

/// Whether a ledger location names a PostgreSQL database rather than an SQLite file.
pub fn is_postgres_url(s: &str) -> bool {
    let lower = s.trim_start().to_ascii_lowercase();
    lower.starts_with("postgresql://") || lower.starts_with("postgres://")
}

/// The URL with any password (in its user part, or a `password=` parameter) replaced by `***`.
pub fn shown_url(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => (&url[..i + 3], &url[i + 3..]),
        None => ("", url),
    };
    let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(auth_end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let (userinfo, hosts) = authority.split_at(at);
            match userinfo.find(':') {
                Some(c) => format!("{}:***{hosts}", &userinfo[..c]),
                None => authority.to_string(),
            }
        }
        None => authority.to_string(),
    };
    let tail = match tail.find('?') {
        Some(q) => {
            let params: Vec<String> = tail[q + 1..]
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => p.to_string(),
                })
                .collect();
            format!("{}?{}", &tail[..q], params.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}{authority}{tail}")
}

/// How to reach the server, parsed from a URL; `sslmode` is taken out and handled here, since
/// the client itself knows only `disable`, `prefer` and `require`.
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) config: postgres::Config,
    pub(crate) shown: String,
    pub(crate) tls: Tls,
    /// `sslrootcert=FILE`: the certificates (PEM) of the authorities the server's certificate
    /// must come from, instead of the system's.
    pub(crate) root_cert: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tls {
    Disable,
    Prefer,
    Require,
}

fn bad_url(shown: &str) -> Error {
    Error::input(format!("`{shown}` is not a PostgreSQL URL portcullis can use")).hint(
        "write it as postgresql://USER@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require|verify-full][&sslrootcert=CA.pem] \
         (a Unix socket directory as the host: %2Fpath%2Fto%2Fdir, or ?host=/path/to/dir)",
    )
}

/// Parse a PostgreSQL URL. Errors show it with its password hidden.
pub(crate) fn parse_url(url: &str) -> Result<Target> {
    let shown = shown_url(url);
    let mut tls = Tls::Prefer;
    let mut root_cert = None;
    let kept = match url.find('?') {
        Some(q) => {
            let mut params = Vec::new();
            for p in url[q + 1..].split('&').filter(|p| !p.is_empty()) {
                match p.split_once('=') {
                    Some(("sslmode", v)) => {
                        tls = match v {
                            "disable" => Tls::Disable,
                            "allow" | "prefer" => Tls::Prefer,
                            "require" | "verify-ca" | "verify-full" => Tls::Require,
                            _ => {
                                return Err(Error::input(format!(
                                    "`{shown}`: unknown sslmode `{v}`"
                                ))
                                .hint("use sslmode=disable, prefer, require or verify-full"))
                            }
                        }
                    }
                    Some(("sslrootcert", v)) if !v.is_empty() => {
                        root_cert = Some(PathBuf::from(percent_decode(v)));
                    }
                    _ => params.push(p),
                }
            }
            if params.is_empty() {
                url[..q].to_string()
            } else {
                format!("{}?{}", &url[..q], params.join("&"))
            }
        }
        None => url.to_string(),
    };
    let mut config: postgres::Config = kept.parse().map_err(|e: postgres::Error| {
        Error::Problem(match bad_url(&shown) {
            Error::Problem(p) => p.because(e),
            _ => unreachable!("bad_url is a problem"),
        })
    })?;
    if config.get_hosts().is_empty() {
        return Err(bad_url(&shown));
    }
    config.ssl_mode(match tls {
        Tls::Disable => SslMode::Disable,
        Tls::Prefer => SslMode::Prefer,
        Tls::Require => SslMode::Require,
    });
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    config.application_name("portcullis");
    Ok(Target {
        config,
        shown,
        tls,
        root_cert,
    })
}

/// A URL parameter's value with its `%XX` escapes decoded (a path may hold `&`, `=`, `%`).
fn percent_decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where the server is, for messages: `host:port` or the socket directory.
fn server(config: &postgres::Config) -> String {
    let port = config.get_ports().first().copied().unwrap_or(5432);
    match config.get_hosts().first() {
        Some(Host::Tcp(h)) => format!("{h}:{port}"),
        Some(Host::Unix(p)) => format!("the socket {}/.s.PGSQL.{port}", p.display()),
        None => "localhost".into(),
    }
}

/// The user a connection logs in as (the URL's, else the login name the client sends).
pub(crate) fn user_of(config: &postgres::Config) -> String {
    config
        .get_user()
        .map(str::to_string)
        .unwrap_or_else(|| std::env::var("USER").unwrap_or_default())
}

/// Run a blocking call of the synchronous client. The client drives its connection with a
/// runtime of its own, which may not block a thread that drives async tasks: inside an async
/// runtime (a sync or a push reads and writes the ledger from async code), the call runs on a
/// scoped thread of its own; elsewhere, here.
pub(crate) fn blocking<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|s| {
            s.spawn(f)
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    } else {
        f()
    }
}

/// Connect, with the password given (the URL's own wins, as with libpq).
pub(crate) fn connect(target: &mut Target, password: Option<&Secret>) -> Result<postgres::Client> {
    if target.config.get_password().is_none() {
        if let Some(p) = password {
            target.config.password(p.expose());
        }
    }
    let only_sockets = target
        .config
        .get_hosts()
        .iter()
        .all(|h| matches!(h, Host::Unix(_)));
    let use_tls = target.tls != Tls::Disable && !only_sockets;
    // A CA file named is read even where it is not used (a socket), so that a wrong path shows
    // at once.
    let tls_config = match target.tls != Tls::Disable && (use_tls || target.root_cert.is_some()) {
        true => Some(tls::rustls_config(target.root_cert.as_deref())?),
        false => None,
    };
    let config = &target.config;
    let connected = match tls_config {
        Some(c) if use_tls => {
            let tls = tokio_postgres_rustls::MakeRustlsConnect::new(c);
            blocking(|| config.connect(tls))
        }
        _ => blocking(|| config.connect(postgres::NoTls)),
    };
    connected.map_err(|e| connect_error(target, e))
}

fn connect_error(target: &Target, e: postgres::Error) -> Error {
    let shown = &target.shown;
    let user = user_of(&target.config);
    let problem = if let Some(db) = e.as_db_error() {
        match *db.code() {
            // pg_hba.conf has no line for this connection: often one that requires TLS.
            SqlState::INVALID_AUTHORIZATION_SPECIFICATION
                if db.message().contains("pg_hba.conf") =>
            {
                let hint = match target.tls {
                    Tls::Disable => "the server may accept only TLS connections (hostssl): drop sslmode=disable, or use sslmode=verify-full (nothing was written)",
                    _ => "ask the server's administrator to allow this role, database and host in pg_hba.conf (nothing was written)",
                };
                Problem::input(format!(
                    "the PostgreSQL server accepts no connection like this one for role `{user}` (ledger {shown})"
                ))
                .hint(hint)
            }
            SqlState::INVALID_PASSWORD | SqlState::INVALID_AUTHORIZATION_SPECIFICATION => {
                Problem::input(format!(
                    "the PostgreSQL server refused the login of role `{user}` for the ledger {shown}"
                ))
                .hint("check the password: the credentials file's [postgres] password, PGPASSWORD or ~/.pgpass (nothing was written)")
            }
            SqlState::INVALID_CATALOG_NAME => Problem::input(format!(
                "the database of the ledger {shown} does not exist"
            ))
            .hint("create it (createdb), or fix the database name in the URL (nothing was written)"),
            _ => Problem::input(format!("cannot open the ledger {shown}"))
                .hint("check the URL and the server's log (nothing was written)"),
        }
    } else if let Some(tls) = tls::tls_error(&e) {
        Problem::input(format!(
            "the TLS connection to the ledger's PostgreSQL server at {} failed: {tls} ({shown})",
            server(&target.config)
        ))
        .hint(match target.root_cert.as_deref() {
            Some(ca) => format!(
                "the server's certificate must be signed by a CA in {} and name the host of the URL (nothing was written)",
                ca.display()
            ),
            None => "the server's certificate must chain to a CA the system trusts and name the host of the URL; for a private CA add sslrootcert=/path/to/ca.pem (nothing was written)".to_string(),
        })
    } else if portcullis_core::error::chain(&e).contains("does not support TLS") {
        Problem::input(format!(
            "the ledger's PostgreSQL server at {} does not offer TLS, which the URL requires ({shown})",
            server(&target.config)
        ))
        .hint("turn on ssl in the server's configuration, or connect over a trusted network with sslmode=prefer (nothing was written)")
    } else if portcullis_core::error::chain(&e).contains("password missing") {
        // The client's own check (its error kinds are private): the server asked for a password
        // and none was given.
        Problem::input(format!(
            "the PostgreSQL server asks a password for role `{user}` (ledger {shown})"
        ))
        .hint("put it in the credentials file's [postgres] table (`password = \"…\"`), PGPASSWORD or ~/.pgpass")
    } else {
        Problem::input(format!(
            "cannot connect to the ledger's PostgreSQL server at {} ({shown})",
            server(&target.config)
        ))
        .hint("is the server running? check the host and port in the URL (nothing was written)")
    };
    Error::Problem(problem.because(e))
}

/// Whether a PostgreSQL error says the connection is gone: closed under the client, or ended by
/// the server (an administrator's `pg_terminate_backend`, a shutdown, a crash).
fn is_lost(e: &postgres::Error) -> bool {
    use std::error::Error as _;
    e.is_closed()
        // Reset, broken pipe, end of stream: the client's I/O errors are the connection's.
        || e.source().is_some_and(|s| s.is::<std::io::Error>())
        || matches!(
            e.code(),
            Some(
                &SqlState::ADMIN_SHUTDOWN
                    | &SqlState::CRASH_SHUTDOWN
                    | &SqlState::CANNOT_CONNECT_NOW
                    | &SqlState::CONNECTION_FAILURE
                    | &SqlState::CONNECTION_EXCEPTION
            )
        )
}

/// Whether `e`, or one of its causes, is a lost connection to a PostgreSQL ledger: a read-only
/// command may open the ledger again and retry.
pub fn connection_lost(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.downcast_ref::<postgres::Error>().is_some_and(is_lost) {
            return true;
        }
        cur = err.source();
    }
    false
}

/// The failpoint `PORTCULLIS_FAILPOINT=ledger.lose_connection` (for tests): the first ledger this
/// process opens on PostgreSQL has its connection ended by the server right after opening, as an
/// administrator's `pg_terminate_backend` would.
pub(crate) fn failpoint_lose_connection(conn: &mut PgConn) {
    static FIRED: AtomicBool = AtomicBool::new(false);
    if std::env::var("PORTCULLIS_FAILPOINT").is_ok_and(|f| f == "ledger.lose_connection")
        && !FIRED.swap(true, Ordering::SeqCst)
    {
        let _ = conn.call(|c| {
            c.client()
                .batch_execute("SELECT pg_terminate_backend(pg_backend_pid())")
        });
    }
}

/// Who a connection is, for messages: its role and its URL as shown.
#[derive(Debug, Clone)]
pub(crate) struct Who {
    pub(crate) user: String,
    pub(crate) shown: String,
}

impl Who {
    /// What a PostgreSQL error met by query `query` means.
    pub(crate) fn error(&self, query: &'static str, e: postgres::Error) -> Error {
        match e.code() {
            Some(&SqlState::INSUFFICIENT_PRIVILEGE) => Error::Problem(
                Problem::input(format!(
                    "the database role `{}` may not do this on the ledger {} (permission denied in `{query}`)",
                    self.user, self.shown
                ))
                .because(e)
                .hint("connect as the ledger's writer role for commands that record; a read-only role serves status, digests and dashboards (nothing was written)"),
            ),
            _ if is_lost(&e) => Error::Problem(
                Problem::input(format!(
                    "the connection to the ledger {} was lost (in `{query}`)",
                    self.shown
                ))
                .because(e)
                .hint("check the server and the network, then run the command again (an unfinished transaction is not recorded)"),
            ),
            _ => Error::Postgres { query, source: e },
        }
    }
}

/// The open connection, with its prepared statements (by their SQL) and who it is.
pub(crate) struct PgConn {
    /// Always there but in [`PgConn`]'s `drop`, which takes it.
    client: Option<postgres::Client>,
    stmts: HashMap<&'static str, postgres::Statement>,
    pub(crate) who: Who,
    /// How it was reached (password included), to open another connection (see [`listen`]).
    target: Target,
}

impl PgConn {
    pub(crate) fn new(client: postgres::Client, who: Who, target: Target) -> PgConn {
        PgConn {
            client: Some(client),
            stmts: HashMap::new(),
            who,
            target,
        }
    }

    /// The client.
    pub(crate) fn client(&mut self) -> &mut postgres::Client {
        self.client
            .as_mut()
            .expect("a PgConn has its client until it is dropped")
    }

    /// Run `f` on this connection through [`blocking`].
    pub(crate) fn call<T: Send>(&mut self, f: impl FnOnce(&mut PgConn) -> T + Send) -> T {
        blocking(|| f(self))
    }

    /// The prepared statement of `sql` (prepared once per connection).
    pub(crate) fn statement(
        &mut self,
        sql: &'static str,
    ) -> std::result::Result<postgres::Statement, postgres::Error> {
        if let Some(s) = self.stmts.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client().prepare(sql)?;
        self.stmts.insert(sql, s.clone());
        Ok(s)
    }

    pub(crate) fn error(&self, query: &'static str, e: postgres::Error) -> Error {
        self.who.error(query, e)
    }
}

/// Closing the client blocks on its runtime, which may not happen on a thread that drives async
/// tasks: a ledger dropped in async code (`notify`, the bot's jobs) closes it through
/// [`blocking`].
impl Drop for PgConn {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            blocking(move || drop(client));
        }
    }
}

/// The channel a transaction that appended events notifies as it commits.
pub const CHANNEL: &str = "portcullis_events";

/// Another connection's commits to the ledger, as PostgreSQL announces them (`LISTEN`): a
/// thread of its own waits on a second connection and raises a flag that a screen checks in its
/// loop ([`Changes::take`]). Dropping it stops the thread (within a fifth of a second).
pub struct Changes {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    changed: AtomicBool,
    lost: AtomicBool,
    stop: AtomicBool,
}

impl Changes {
    /// Whether a commit was announced since the last call (and forget it). Also true once when
    /// the listening connection is lost, so that the caller looks for itself.
    pub fn take(&self) -> bool {
        self.shared.changed.swap(false, Ordering::SeqCst)
    }

    /// Whether the listening connection was lost: the caller must look for changes itself.
    pub fn lost(&self) -> bool {
        self.shared.lost.load(Ordering::SeqCst)
    }

    /// Wait up to `timeout` for a commit to be announced; whether one was (and forget it).
    pub fn wait(&self, timeout: Duration) -> bool {
        let until = std::time::Instant::now() + timeout;
        loop {
            if self.take() {
                return true;
            }
            if std::time::Instant::now() >= until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Changes {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
    }
}

/// Listen for the ledger's commits on a new connection to the server `conn` is on.
pub(crate) fn listen(conn: &PgConn) -> Result<Changes> {
    let mut target = conn.target.clone();
    let who = conn.who.clone();
    let mut client = connect(&mut target, None)?;
    blocking(|| client.batch_execute(&format!("LISTEN {CHANNEL}")))
        .map_err(|e| who.error("listen", e))?;
    let shared = Arc::new(Shared::default());
    let flags = Arc::clone(&shared);
    let spawned = std::thread::Builder::new()
        .name("ledger-listen".into())
        .spawn(move || {
            use postgres::fallible_iterator::FallibleIterator;
            while !flags.stop.load(Ordering::SeqCst) {
                let next = client
                    .notifications()
                    .timeout_iter(Duration::from_millis(200))
                    .next();
                match next {
                    Ok(Some(_)) => flags.changed.store(true, Ordering::SeqCst),
                    Ok(None) if !client.is_closed() => {}
                    Ok(None) | Err(_) => {
                        tracing::warn!(ledger = %who.shown, "lost the connection that listens for the ledger's changes");
                        flags.lost.store(true, Ordering::SeqCst);
                        flags.changed.store(true, Ordering::SeqCst);
                        break;
                    }
                }
            }
        });
    spawned.map_err(|e| {
        Error::Problem(
            Problem::internal("cannot start the thread that listens for the ledger's changes")
                .because(e),
        )
    })?;
    Ok(Changes { shared })
}

/// The password `.pgpass` (the text of the file) gives for this connection, as libpq reads it:
/// `host:port:database:user:password` lines, `*` matches anything, `\:` and `\\` escape.
pub fn pgpass_lookup(text: &str, host: &str, port: u16, db: &str, user: &str) -> Option<String> {
    let port = port.to_string();
    let wanted = [host, port.as_str(), db, user];
    for line in text.lines() {
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut fields = Vec::with_capacity(5);
        let mut cur = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                }
                ':' if fields.len() < 4 => fields.push(std::mem::take(&mut cur)),
                _ => cur.push(c),
            }
        }
        fields.push(cur);
        if fields.len() != 5 {
            continue;
        }
        if fields[..4]
            .iter()
            .zip(wanted)
            .all(|(f, w)| f == "*" || f == w)
        {
            return Some(fields[4].clone());
        }
    }
    None
}

/// The password `~/.pgpass` (or `PGPASSFILE`) holds for the ledger at `url`. A file readable by
/// others than its owner is ignored, as libpq does.
pub fn pgpass_password(url: &str) -> Option<Secret> {
    let target = parse_url(url).ok()?;
    let file = std::env::var_os("PGPASSFILE")
        .filter(|p| !p.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".pgpass")))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).ok()?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(file = %file.display(), "ignoring a password file readable by others (chmod 0600 it)");
            return None;
        }
    }
    let text = std::fs::read_to_string(&file).ok()?;
    let c = &target.config;
    let host = match c.get_hosts().first()? {
        Host::Tcp(h) => h.clone(),
        Host::Unix(_) => "localhost".to_string(),
    };
    let port = c.get_ports().first().copied().unwrap_or(5432);
    let user = user_of(c);
    let db = c
        .get_dbname()
        .map(str::to_string)
        .unwrap_or_else(|| user.clone());
    pgpass_lookup(&text, &host, port, &db, &user).map(Secret::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_shown_without_its_password() {
        assert_eq!(
            shown_url("postgresql://bot:s3cret@db.example.org:5433/ledger?sslmode=require"),
            "postgresql://bot:***@db.example.org:5433/ledger?sslmode=require"
        );
        assert_eq!(
            shown_url("postgres://bot@h/db?password=s3cret&sslmode=disable"),
            "postgres://bot@h/db?password=***&sslmode=disable"
        );
        assert_eq!(shown_url("postgresql://h/db"), "postgresql://h/db");
        assert_eq!(shown_url("postgresql://u:p%40ss@h"), "postgresql://u:***@h");
    }

    #[test]
    fn tls_uses_the_ring_provider_and_builds_without_a_process_default() {
        // No process-wide provider is installed: the config names ring itself.
        let config = tls::rustls_config(None).unwrap();
        assert!(config.crypto_provider().cipher_suites.len() > 1);
    }

    #[test]
    fn pgpass_matches_fields_wildcards_and_escapes() {
        let text = "# comment\n\
                    other:5432:*:*:nope\n\
                    db.example.org:5432:ledger:bot:pa\\:ss\\\\word\n\
                    *:*:*:reader:readpw\n";
        assert_eq!(
            pgpass_lookup(text, "db.example.org", 5432, "ledger", "bot").as_deref(),
            Some("pa:ss\\word")
        );
        assert_eq!(
            pgpass_lookup(text, "x", 1, "y", "reader").as_deref(),
            Some("readpw")
        );
        assert_eq!(
            pgpass_lookup(text, "db.example.org", 5433, "ledger", "bot"),
            None
        );
    }

    #[test]
    fn sslmode_is_read_here_and_bad_urls_are_input_errors() {
        let t = parse_url("postgresql://u:pw@h/db?sslmode=verify-full&connect_timeout=3").unwrap();
        assert_eq!(t.tls, Tls::Require);
        assert_eq!(t.config.get_dbname(), Some("db"));
        let t =
            parse_url("postgresql://u@h/db?sslrootcert=%2Fetc%2Fmy%20ca.pem&sslmode=verify-full")
                .unwrap();
        assert_eq!(t.root_cert.as_deref(), Some(Path::new("/etc/my ca.pem")));
        assert_eq!(t.tls, Tls::Require);
        assert_eq!(parse_url("postgresql://u@h/db").unwrap().root_cert, None);
        let t = parse_url("postgresql://u@%2Ftmp%2Fdir/db").unwrap();
        assert!(matches!(&t.config.get_hosts()[0], Host::Unix(p) if p == Path::new("/tmp/dir")));
        for bad in [
            "postgresql://u:hunter2@h/db?sslmode=maybe",
            "postgresql://u:hunter2@h:port/db",
            "postgresql://u:hunter2@h/db?nosuchoption=1",
        ] {
            let e = match parse_url(bad) {
                Err(e) => e,
                Ok(_) => panic!("{bad} parsed"),
            };
            assert_eq!(e.exit_code(), 2, "{bad}");
            let all = portcullis_core::error::chain(&e);
            assert!(!all.contains("hunter2"), "{all}");
        }
    }
}
