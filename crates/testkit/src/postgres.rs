//! A throwaway PostgreSQL cluster for the tests of the PostgreSQL ledger.
//!
//! Unless `PORTCULLIS_TEST_POSTGRES_URL` names a server (a superuser's URL), the first call to
//! [`server`] in a test process starts a cluster of its own: `initdb` and `pg_ctl` from the
//! system's PostgreSQL server binaries (`pg_config --bindir`, else `/usr/lib/postgresql/*/bin`,
//! else `PATH`), listening only on a Unix socket in a temporary directory. Run as root (as these
//! machines and CI are), the cluster runs as the `postgres` system user, else `nobody`, since
//! PostgreSQL refuses to run as root. A watcher process stops the cluster and removes its
//! directory when the test process ends, however it ends.
//!
//! Each test takes a database of its own ([`PgServer::fresh_database`]). Logins: the superuser
//! `portcullis` without a password; any other role with its password (scram-sha-256), so the
//! tests can try wrong passwords and read-only roles ([`PgServer::create_role`]).
//!
//! Without PostgreSQL's server binaries the tests fail, saying what to install.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// The server the tests use.
#[derive(Debug)]
pub struct PgServer {
    /// A superuser's URL, without the database (`postgresql://…@…/`).
    base: String,
    /// The query part of the URL (e.g. `?host=/tmp/dir`), kept for every database.
    query: String,
    /// The database the superuser connects to for administration.
    admin_db: String,
}

/// The environment variable naming an existing server instead of a throwaway cluster.
pub const ENV_URL: &str = "PORTCULLIS_TEST_POSTGRES_URL";

/// The test process's server (started on first use).
pub fn server() -> &'static PgServer {
    static SERVER: OnceLock<PgServer> = OnceLock::new();
    SERVER.get_or_init(|| match std::env::var(ENV_URL) {
        Ok(url) if !url.trim().is_empty() => PgServer::from_url(url.trim()),
        _ => start_cluster().unwrap_or_else(|e| panic!("{e}")),
    })
}

impl PgServer {
    fn from_url(url: &str) -> PgServer {
        let (before_query, query) = match url.find('?') {
            Some(q) => (&url[..q], url[q..].to_string()),
            None => (url, String::new()),
        };
        let scheme_end = before_query.find("://").map_or(0, |i| i + 3);
        let (base, db) = match before_query[scheme_end..].find('/') {
            Some(i) => (
                before_query[..scheme_end + i + 1].to_string(),
                before_query[scheme_end + i + 1..].to_string(),
            ),
            None => (format!("{before_query}/"), String::new()),
        };
        PgServer {
            base,
            query,
            admin_db: if db.is_empty() { "postgres".into() } else { db },
        }
    }

    /// The superuser's URL of database `db`.
    pub fn url(&self, db: &str) -> String {
        format!("{}{db}{}", self.base, self.query)
    }

    /// The URL of database `db` for `user` with `password` (in the URL when given).
    pub fn url_as(&self, db: &str, user: &str, password: Option<&str>) -> String {
        let scheme_end = self.base.find("://").map_or(0, |i| i + 3);
        let rest = &self.base[scheme_end..];
        let hosts = rest.rfind('@').map_or(rest, |at| &rest[at + 1..]);
        let cred = match password {
            Some(p) => format!("{user}:{p}"),
            None => user.to_string(),
        };
        format!(
            "{}{cred}@{hosts}{db}{}",
            &self.base[..scheme_end],
            self.query
        )
    }

    /// A superuser's connection to database `db`.
    pub fn connect(&self, db: &str) -> postgres::Client {
        postgres::Client::connect(&self.url(db), postgres::NoTls)
            .unwrap_or_else(|e| panic!("cannot connect to the test PostgreSQL server: {e}"))
    }

    /// Run SQL as the superuser on database `db`.
    pub fn sql(&self, db: &str, sql: &str) {
        self.connect(db)
            .batch_execute(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    }

    /// A copy of database `from` named `to` (`CREATE DATABASE … TEMPLATE`), after ending every
    /// connection to `from` (a template may have none; PostgreSQL waits for them to go).
    pub fn copy_database(&self, from: &str, to: &str) {
        self.sql(
            &self.admin_db,
            &format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = '{from}' AND pid <> pg_backend_pid()"
            ),
        );
        self.sql(
            &self.admin_db,
            &format!("CREATE DATABASE {to} TEMPLATE {from}"),
        );
    }

    /// Database `db` dropped (its connections ended) and made again as a copy of `from`.
    pub fn restore_database(&self, db: &str, from: &str) {
        self.sql(
            &self.admin_db,
            &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
        );
        self.copy_database(from, db);
    }

    /// A new empty database; returns its name (see [`PgServer::url`]).
    pub fn fresh_database(&self) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "t_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        self.sql(&self.admin_db, &format!("CREATE DATABASE {name}"));
        name
    }

    /// A login role with a password (created once per server; names are per test process).
    pub fn create_role(&self, name: &str, password: &str) {
        self.sql(
            &self.admin_db,
            &format!(
                "DO $$ BEGIN
                   IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{name}') THEN
                     CREATE ROLE {name} LOGIN PASSWORD '{password}';
                   END IF;
                 END $$"
            ),
        );
    }
}

/// Where PostgreSQL's server binaries are.
fn bindir() -> Option<PathBuf> {
    let has = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let d = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && has(&d) {
            return Some(d);
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|d| has(d))
        .collect();
    versions.sort_by_key(|d| {
        d.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    if let Some(d) = versions.pop() {
        return Some(d);
    }
    std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).find(|d| has(d)))
}

/// The uid and gid to run the cluster as when we are root: `postgres`, else `nobody`.
fn unprivileged_user() -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let find = |name: &str| {
        passwd.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 3 && f[0] == name).then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))?
        })
    };
    find("postgres").or_else(|| find("nobody"))
}

fn am_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A command for `program`, run as `user` when given (through `setpriv`).
fn command(program: &Path, user: Option<(u32, u32)>) -> Command {
    match user {
        Some((uid, gid)) => {
            let mut c = Command::new("setpriv");
            c.arg(format!("--reuid={uid}"))
                .arg(format!("--regid={gid}"))
                .arg("--clear-groups")
                .arg("--")
                .arg(program);
            c
        }
        None => Command::new(program),
    }
}

fn run(mut c: Command, what: &str) -> Result<(), String> {
    let out = c
        .env("LC_ALL", "C")
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn start_cluster() -> Result<PgServer, String> {
    let bin = bindir().ok_or_else(|| {
        format!(
            "the PostgreSQL tests need PostgreSQL's server binaries (initdb, pg_ctl), and none were \
             found (pg_config --bindir, /usr/lib/postgresql/*/bin, PATH). Install them \
             (Debian/Ubuntu: `apt-get install postgresql`), or set {ENV_URL} to a superuser's URL \
             of a running server."
        )
    })?;
    let user = if am_root() {
        Some(unprivileged_user().ok_or("running as root, and neither a `postgres` nor a `nobody` user exists to run the test cluster as")?)
    } else {
        None
    };
    let dir = tempfile::Builder::new()
        .prefix("portcullis-pg-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?
        .keep();
    if let Some((uid, gid)) = user {
        run(
            {
                let mut c = Command::new("chown");
                c.arg(format!("{uid}:{gid}")).arg(&dir);
                c
            },
            "chown",
        )?;
    }
    let data = dir.join("data");
    let mut initdb = command(&bin.join("initdb"), user);
    initdb.arg("-D").arg(&data).args([
        "-U",
        "portcullis",
        "-A",
        "trust",
        "-E",
        "UTF8",
        "--no-locale",
        "-N",
    ]);
    run(initdb, "initdb")?;
    // The superuser logs in without a password; every other role needs its own.
    let hba = "local all portcullis trust\nlocal all all scram-sha-256\n";
    std::fs::write(data.join("pg_hba.conf"), hba)
        .map_err(|e| format!("cannot write pg_hba.conf: {e}"))?;
    let mut start = command(&bin.join("pg_ctl"), user);
    start
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(dir.join("log"))
        .args(["-w", "-t", "60", "-o"])
        .arg(format!(
            "-k {} -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
            dir.display()
        ))
        .arg("start");
    run(start, "pg_ctl start")?;
    watch(&bin, &dir, user);
    let host: String = dir
        .display()
        .to_string()
        .replace('%', "%25")
        .replace('/', "%2F");
    Ok(PgServer {
        base: format!("postgresql://portcullis@{host}/"),
        query: String::new(),
        admin_db: "postgres".into(),
    })
}

/// Stop the cluster and remove its directory once this process has ended.
fn watch(bin: &Path, dir: &Path, user: Option<(u32, u32)>) {
    let as_user = match user {
        Some((uid, gid)) => format!("setpriv --reuid={uid} --regid={gid} --clear-groups -- "),
        None => String::new(),
    };
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; \
         {as_user}'{pg_ctl}' -D '{data}' -m immediate -w stop >/dev/null 2>&1; rm -rf '{dir}'",
        pid = std::process::id(),
        pg_ctl = bin.join("pg_ctl").display(),
        data = dir.join("data").display(),
        dir = dir.display(),
    );
    let _ = Command::new("setsid")
        .args(["sh", "-c", &script])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_of_an_external_server_keep_host_and_query() {
        let s = PgServer::from_url("postgresql://admin:pw@db.local:5433/admin?sslmode=disable");
        assert_eq!(s.admin_db, "admin");
        assert_eq!(
            s.url("t_1"),
            "postgresql://admin:pw@db.local:5433/t_1?sslmode=disable"
        );
        assert_eq!(
            s.url_as("t_1", "reader", Some("r")),
            "postgresql://reader:r@db.local:5433/t_1?sslmode=disable"
        );
    }
}
