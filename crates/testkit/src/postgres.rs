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
//!
//! [`tls_server`] starts a second cluster for the TLS tests: `ssl = on` with a server certificate
//! for `localhost` and 127.0.0.1 signed by a CA made at test time (by the `openssl` command, which
//! the PostgreSQL server packages bring along: no key material lives in the repository), also
//! listening on 127.0.0.1 at a free port, where pg_hba.conf accepts TLS connections only.

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
        _ => start_cluster(None)
            .map(|(s, _)| s)
            .unwrap_or_else(|e| panic!("{e}")),
    })
}

/// A cluster that speaks TLS on 127.0.0.1 (see the module's documentation).
#[derive(Debug)]
pub struct TlsPgServer {
    /// The same cluster on its Unix socket, for the superuser's administration.
    pub admin: PgServer,
    /// The TCP port on 127.0.0.1.
    pub port: u16,
    /// The CA that signed the server's certificate (PEM).
    pub ca: PathBuf,
}

impl TlsPgServer {
    /// The URL of database `db` over TCP at `host` (`localhost` or `127.0.0.1`) as `user` with
    /// `password`, with `params` (e.g. `sslmode=verify-full&sslrootcert=…`) as its query.
    pub fn url(&self, host: &str, db: &str, user: &str, password: &str, params: &str) -> String {
        let query = if params.is_empty() {
            String::new()
        } else {
            format!("?{params}")
        };
        format!(
            "postgresql://{user}:{password}@{host}:{}/{db}{query}",
            self.port
        )
    }
}

/// The test process's TLS cluster (started on first use; always a throwaway one, whatever
/// `PORTCULLIS_TEST_POSTGRES_URL` says, since its certificates are made here).
pub fn tls_server() -> &'static TlsPgServer {
    static SERVER: OnceLock<TlsPgServer> = OnceLock::new();
    SERVER.get_or_init(|| start_tls_cluster().unwrap_or_else(|e| panic!("{e}")))
}

fn start_tls_cluster() -> Result<TlsPgServer, String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("cannot find a free TCP port: {e}"))?
        .port();
    let (admin, dir) = start_cluster(Some(port))?;
    Ok(TlsPgServer {
        admin,
        port,
        ca: dir.join("certs").join("ca.pem"),
    })
}

/// A CA (`ca.pem`) and a server certificate it signed for `localhost` and 127.0.0.1
/// (`server.crt`, `server.key`), in `dir`, by the `openssl` command.
fn make_certificates(dir: &Path) -> Result<(), String> {
    let openssl = |args: &[&str], what: &str| {
        let mut c = Command::new("openssl");
        c.current_dir(dir).args(args);
        run(c, what).map_err(|e| {
            format!("{e}\nthe TLS tests make their certificates with the `openssl` command: install it (Debian/Ubuntu: `apt-get install openssl`)")
        })
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec![
        "req",
        "-x509",
        "-days",
        "2",
        "-subj",
        "/CN=portcullis test CA",
    ];
    ca.extend(ec);
    ca.extend(["-keyout", "ca.key", "-out", "ca.pem"]);
    ca.extend(["-addext", "basicConstraints=critical,CA:TRUE"]);
    ca.extend(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
    openssl(&ca, "openssl req (the test CA)")?;
    let mut req = vec!["req", "-subj", "/CN=localhost"];
    req.extend(ec);
    req.extend(["-keyout", "server.key", "-out", "server.csr"]);
    openssl(&req, "openssl req (the server's key)")?;
    let ext = "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n\
               keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n";
    std::fs::write(dir.join("server.ext"), ext)
        .map_err(|e| format!("cannot write server.ext: {e}"))?;
    let sign = [
        "x509",
        "-req",
        "-days",
        "2",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-extfile",
        "server.ext",
        "-out",
        "server.crt",
    ];
    openssl(&sign, "openssl x509 (the server's certificate)")
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

/// Start a cluster on a Unix socket; with `tls` (a port) also on 127.0.0.1 at that port, TLS only,
/// with the certificates of [`make_certificates`] in its directory's `certs`. Returns the server
/// and its directory (removed when the process ends).
fn start_cluster(tls: Option<u16>) -> Result<(PgServer, PathBuf), String> {
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
    // The superuser logs in without a password; every other role needs its own. Over TCP, only
    // with TLS (`hostssl`): a connection without it finds no line and is refused.
    let mut hba = "local all portcullis trust\nlocal all all scram-sha-256\n".to_string();
    let mut options = format!(
        "-k {} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
        dir.display()
    );
    match tls {
        Some(port) => {
            let certs = dir.join("certs");
            std::fs::create_dir(&certs).map_err(|e| format!("cannot create {certs:?}: {e}"))?;
            make_certificates(&certs)?;
            hba.push_str("hostssl all portcullis 127.0.0.1/32 trust\n");
            hba.push_str("hostssl all all 127.0.0.1/32 scram-sha-256\n");
            for f in ["server.crt", "server.key"] {
                std::fs::copy(certs.join(f), data.join(f))
                    .map_err(|e| format!("cannot copy {f}: {e}"))?;
            }
            // PostgreSQL wants its key readable by its owner alone.
            let mut chmod = Command::new("chmod");
            chmod.arg("600").arg(data.join("server.key"));
            run(chmod, "chmod")?;
            if let Some((uid, gid)) = user {
                let mut chown = Command::new("chown");
                chown.arg(format!("{uid}:{gid}"));
                chown
                    .arg(data.join("server.crt"))
                    .arg(data.join("server.key"));
                run(chown, "chown")?;
            }
            options.push_str(&format!(
                " -c listen_addresses=127.0.0.1 -c port={port} -c ssl=on \
                 -c ssl_cert_file=server.crt -c ssl_key_file=server.key"
            ));
        }
        None => options.push_str(" -c listen_addresses=''"),
    }
    std::fs::write(data.join("pg_hba.conf"), hba)
        .map_err(|e| format!("cannot write pg_hba.conf: {e}"))?;
    let mut start = command(&bin.join("pg_ctl"), user);
    start
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(dir.join("log"))
        .args(["-w", "-t", "60", "-o"])
        .arg(options)
        .arg("start");
    run(start, "pg_ctl start")?;
    watch(&bin, &dir, user);
    let host: String = dir
        .display()
        .to_string()
        .replace('%', "%25")
        .replace('/', "%2F");
    let port = tls.map_or(String::new(), |port| format!(":{port}"));
    let server = PgServer {
        base: format!("postgresql://portcullis@{host}{port}/"),
        query: String::new(),
        admin_db: "postgres".into(),
    };
    Ok((server, dir))
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
