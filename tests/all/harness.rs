//! Hermetic runs of the real binary: a temporary workspace, a cleared environment, a fixed clock.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The fixed clock of every test run (a Tuesday).
pub const NOW: &str = "2026-11-24T12:00:00Z";

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The result of one run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout, stderr and the exit status in one text, for snapshots (jj's style).
    pub fn snapshot(&self, dir: &Path) -> String {
        let mut s = self.stdout.clone();
        if !self.stderr.is_empty() {
            s.push_str("------- stderr -------\n");
            s.push_str(&self.stderr);
        }
        s.push_str(&format!("[exit status: {}]\n", self.code));
        s.replace(&dir.display().to_string(), "$TMP")
    }

    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// The switch that runs the integration tests on PostgreSQL: `PORTCULLIS_TEST_LEDGER=postgres`
/// moves each test workspace's ledger into a fresh database of the test server as soon as it
/// exists (see [`TestEnv::follow_switch`]).
pub const LEDGER_SWITCH: &str = "PORTCULLIS_TEST_LEDGER";

/// Whether this run's workspaces keep their ledgers on PostgreSQL ([`LEDGER_SWITCH`]).
pub fn on_postgres() -> bool {
    match std::env::var(LEDGER_SWITCH) {
        Ok(v) if v == "postgres" => true,
        Ok(v) if v.is_empty() || v == "sqlite" => false,
        Ok(v) => panic!("{LEDGER_SWITCH}={v}: use `postgres` or `sqlite`"),
        Err(_) => false,
    }
}

/// For a test about the SQLite file itself (its triggers, WAL, page size, permissions): true, and
/// the reason on stderr, when this run's ledgers are on PostgreSQL, where it has nothing to test.
pub fn skip_on_postgres(reason: &str) -> bool {
    let skip = on_postgres();
    if skip {
        eprintln!("skipped on PostgreSQL: {reason}");
    }
    skip
}

/// A temporary directory to run portcullis in.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
    /// The PostgreSQL database (name, URL) its ledger moved to ([`TestEnv::use_postgres`]).
    pg: std::sync::OnceLock<(String, String)>,
    /// The PostgreSQL ledgers (URLs) of the workspaces in subdirectories (by their paths relative
    /// to this one), each moved to a database of its own: a team's members do not share a ledger.
    sub_pg: std::sync::Mutex<std::collections::BTreeMap<PathBuf, String>>,
    /// This test reads or copies the SQLite file itself: the switch leaves it there.
    sqlite_only: std::sync::atomic::AtomicBool,
}

impl TestEnv {
    pub fn new() -> Self {
        TestEnv {
            dir: tempfile::Builder::new()
                .prefix("portcullis-test-")
                .tempdir()
                .unwrap(),
            pg: std::sync::OnceLock::new(),
            sub_pg: Default::default(),
            sqlite_only: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Keep this workspace's ledger in its SQLite file whatever [`LEDGER_SWITCH`] says (for
    /// tests that read, copy or damage the file itself).
    pub fn keep_sqlite(&self) -> &Self {
        self.sqlite_only
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self
    }

    /// With [`LEDGER_SWITCH`] set to `postgres`: once the workspace has a config and a ledger
    /// file (after `init` or `demo`), move the ledger to PostgreSQL, for this run and every later
    /// one.
    pub fn follow_switch(&self) {
        if self.pg.get().is_some()
            || self.sqlite_only.load(std::sync::atomic::Ordering::SeqCst)
            || !on_postgres()
        {
            return;
        }
        let config = self.path().join("portcullis.toml");
        if !config.is_file() {
            return;
        }
        let ws =
            portcullis_ops::workspace::Workspace::resolve(&portcullis_ops::workspace::Locations {
                config: Some(config),
                ..Default::default()
            });
        if ws.is_ok_and(|ws| ws.ledger_path.is_file()) {
            self.use_postgres();
        }
    }

    /// Move this workspace's ledger, chain and all, into a fresh database of the test
    /// PostgreSQL server; every later run uses it (`PORTCULLIS_DB`), as do
    /// [`TestEnv::ledger_fingerprint`] and [`TestEnv::sql`]. Returns its URL.
    pub fn use_postgres(&self) -> String {
        if let Some(url) = self.postgres_url() {
            return url.to_string();
        }
        let (db, url) = move_to_postgres(self.path());
        self.pg.set((db, url.clone())).unwrap();
        url
    }

    /// The PostgreSQL ledger of the workspace a run in the subdirectory `dir` uses (the nearest
    /// directory with a `portcullis.toml` from `dir` up to this one), moved there as
    /// [`TestEnv::follow_switch`] moves this directory's; `None` while it stays in SQLite.
    fn postgres_url_in(&self, dir: &str) -> Option<String> {
        self.follow_switch();
        let root = self.path();
        let mut at = root.join(dir);
        while !at.join("portcullis.toml").is_file() {
            if at == root || !at.pop() || !at.starts_with(root) {
                return None;
            }
        }
        let rel = at.strip_prefix(root).ok()?.to_path_buf();
        if rel.as_os_str().is_empty() {
            return self.postgres_url().map(str::to_string);
        }
        if self.sqlite_only.load(std::sync::atomic::Ordering::SeqCst) || !on_postgres() {
            return None;
        }
        let mut subs = self.sub_pg.lock().unwrap();
        if let Some(url) = subs.get(&rel) {
            return Some(url.clone());
        }
        let ws =
            portcullis_ops::workspace::Workspace::resolve(&portcullis_ops::workspace::Locations {
                config: Some(at.join("portcullis.toml")),
                ..Default::default()
            });
        if !ws.is_ok_and(|ws| ws.ledger_path.is_file()) {
            return None;
        }
        let (_, url) = move_to_postgres(&at);
        subs.insert(rel, url.clone());
        Some(url)
    }

    /// The test server's database this workspace's ledger moved to, if it did.
    pub fn postgres_database(&self) -> Option<&str> {
        self.pg.get().map(|(db, _)| db.as_str())
    }

    /// The URL of the PostgreSQL ledger this workspace moved to, if it did.
    pub fn postgres_url(&self) -> Option<&str> {
        self.pg.get().map(|(_, url)| url.as_str())
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A workspace made by `init` with a built-in policy (`default` or `v23`).
    pub fn with_workspace(policy: &str) -> Self {
        let env = TestEnv::new();
        env.run(&[
            "init",
            ".",
            "--from-policy",
            policy,
            "--user",
            "Mara Lindqvist",
        ])
        .ok();
        env
    }

    /// Run the binary in the directory with a cleared environment and the fixed clock.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        self.run_stdin(args, env, None)
    }

    /// [`TestEnv::run`] in the subdirectory `dir`, as a user who did `cd dir` would.
    pub fn run_in(&self, dir: &str, args: &[&str]) -> Run {
        self.run_full(dir, args, &[], None)
    }

    /// [`TestEnv::run_env`] in the subdirectory `dir`.
    pub fn run_env_in(&self, dir: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
        self.run_full(dir, args, env, None)
    }

    /// [`TestEnv::run_env`] with `stdin` as standard input (none when `None`).
    pub fn run_stdin(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
        self.run_full(".", args, env, stdin)
    }

    /// The binary as [`TestEnv::run`] starts it, in this directory: a cleared environment, the
    /// fixed clock, and the PostgreSQL ledger if the workspace moved there (for tests that spawn,
    /// signal or kill it themselves).
    pub fn command(&self) -> Command {
        self.follow_switch();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
        cmd.current_dir(self.path())
            .env_clear()
            .env("PORTCULLIS_NOW", NOW)
            .env("HOME", self.path())
            .env("NO_COLOR", "1")
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        if let Some(url) = self.postgres_url() {
            cmd.env("PORTCULLIS_DB", url);
        }
        cmd
    }

    fn run_full(&self, dir: &str, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
        let mut cmd = self.command();
        cmd.args(args)
            .current_dir(self.path().join(dir))
            .env_remove("PORTCULLIS_DB");
        if let Some(url) = self.postgres_url_in(dir) {
            cmd.env("PORTCULLIS_DB", url);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = match stdin {
            None => cmd.output().expect("run portcullis"),
            Some(text) => {
                use std::io::Write;
                cmd.stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped());
                let mut child = cmd.spawn().expect("run portcullis");
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(text.as_bytes())
                    .unwrap();
                child.wait_with_output().expect("run portcullis")
            }
        };
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let p = self.path().join(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    /// Append `toml` to the workspace's policy file.
    pub fn add_to_policy(&self, toml: &str) {
        let path = self.path().join("policy.toml");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push('\n');
        text.push_str(toml);
        std::fs::write(&path, text).unwrap();
    }

    pub fn ledger_path(&self) -> PathBuf {
        self.path().join("ledger.db")
    }

    /// The workspace's ledger, on whichever backend it is.
    pub fn ledger(&self) -> portcullis_ledger::Ledger {
        self.follow_switch();
        match self.postgres_url() {
            Some(url) => {
                portcullis_ledger::Ledger::open_postgres(url, None, &self.path().join("cache.db"))
                    .unwrap()
            }
            None => portcullis_ledger::Ledger::open(&self.ledger_path()).unwrap(),
        }
    }

    /// The workspace as a run of the binary sees it: its config, and the PostgreSQL ledger it
    /// moved to if it did (for tests that call the operations in this process).
    pub fn workspace(&self) -> portcullis_ops::workspace::Workspace {
        self.follow_switch();
        portcullis_ops::workspace::Workspace::resolve(&portcullis_ops::workspace::Locations {
            config: Some(self.path().join("portcullis.toml")),
            db: self.postgres_url().map(Into::into),
            ..Default::default()
        })
        .unwrap()
    }

    /// `SELECT COUNT(*) …` on the ledger, bypassing portcullis: on the SQLite file, or on the
    /// PostgreSQL ledger it moved to.
    pub fn count(&self, sql: &str) -> i64 {
        self.follow_switch();
        match self.pg.get() {
            Some((db, _)) => portcullis_testkit::postgres::server()
                .connect(db)
                .query_one(sql, &[])
                .unwrap()
                .get(0),
            None => rusqlite::Connection::open(self.ledger_path())
                .unwrap()
                .query_row(sql, [], |r| r.get(0))
                .unwrap(),
        }
    }

    /// Whether `needle` is anywhere in the ledger: in the bytes of the SQLite file, or in a row of
    /// any table of the PostgreSQL ledger it moved to.
    pub fn ledger_contains(&self, needle: &str) -> bool {
        self.follow_switch();
        let Some((db, _)) = self.pg.get() else {
            let bytes = std::fs::read(self.ledger_path()).unwrap();
            return bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
        };
        let mut c = portcullis_testkit::postgres::server().connect(db);
        let tables = c
            .query(
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = 'public'",
                &[],
            )
            .unwrap();
        assert!(!tables.is_empty(), "the ledger {db} has no tables");
        tables.iter().any(|t| {
            let table: String = t.get(0);
            c.query(&format!("SELECT t::text FROM \"{table}\" t"), &[])
                .unwrap()
                .iter()
                .any(|row| row.get::<_, String>(0).contains(needle))
        })
    }

    /// The rows of the derived tables and the event count: what "unchanged" means.
    pub fn ledger_fingerprint(&self) -> (i64, Vec<String>) {
        let l = self.ledger();
        (l.event_count().unwrap(), l.derived_dump().unwrap())
    }

    /// Raw SQL on the ledger, bypassing portcullis (for tamper tests): on the SQLite file, or as
    /// the superuser on the PostgreSQL ledger it moved to.
    pub fn sql(&self, sql: &str) {
        self.follow_switch();
        match self.pg.get() {
            Some((db, _)) => portcullis_testkit::postgres::server().sql(db, sql),
            None => {
                let c = rusqlite::Connection::open(self.ledger_path()).unwrap();
                c.execute_batch(sql).unwrap();
            }
        }
    }
}

/// Move the ledger of the workspace in `dir`, chain and all, into a fresh database of the test
/// PostgreSQL server. Returns the database's name and URL.
fn move_to_postgres(dir: &Path) -> (String, String) {
    let server = portcullis_testkit::postgres::server();
    let db = server.fresh_database();
    let url = server.url(&db);
    let ws = portcullis_ops::workspace::Workspace::resolve(&portcullis_ops::workspace::Locations {
        config: Some(dir.join("portcullis.toml")),
        ..Default::default()
    })
    .unwrap();
    let src = portcullis_ledger::Ledger::open(&ws.ledger_path).unwrap();
    let mut to =
        portcullis_ledger::Ledger::open_postgres(&url, None, &dir.join("cache.db")).unwrap();
    to.copy_from(&src, &ws.policy).unwrap();
    (db, url)
}

/// A small Jira Data Center search response with label histories, built in code.
pub struct ExportBuilder {
    issues: Vec<serde_json::Value>,
    next_history: u64,
}

impl ExportBuilder {
    pub fn new() -> Self {
        Self::starting_at(1000)
    }

    /// The next history gets id `n + 1`.
    pub fn starting_at(n: u64) -> Self {
        ExportBuilder {
            issues: Vec::new(),
            next_history: n,
        }
    }

    /// A ticket whose labels changed as `changes`: (time, actor, full label set after).
    pub fn ticket(mut self, key: &str, summary: &str, changes: &[(&str, &str, &str)]) -> Self {
        let mut histories = Vec::new();
        let mut before = String::new();
        let mut last = "2022-01-03T09:00:00.000-0700".to_string();
        for (at, actor, after) in changes {
            self.next_history += 1;
            histories.push(serde_json::json!({
                "id": self.next_history.to_string(),
                "author": { "name": actor, "key": actor, "displayName": actor },
                "created": at,
                "items": [{ "field": "labels", "fieldtype": "jira", "fieldId": "labels",
                            "from": null, "fromString": before, "to": null, "toString": after }]
            }));
            before = after.to_string();
            last = at.to_string();
        }
        histories.reverse();
        let labels: Vec<&str> = before.split_whitespace().collect();
        self.issues.push(serde_json::json!({
            "id": "1", "key": key, "self": format!("https://jira.example.org/rest/api/2/issue/{key}"),
            "fields": { "summary": summary, "status": { "name": "Done" }, "labels": labels,
                        "created": "2022-01-03T09:00:00.000-0700", "updated": last,
                        "components": [{ "name": "daf_butler" }] },
            "changelog": { "startAt": 0, "maxResults": histories.len(), "total": histories.len(), "histories": histories }
        }));
        self
    }

    pub fn build(self) -> String {
        serde_json::to_string_pretty(&serde_json::json!({
            "expand": "schema,names", "startAt": 0, "maxResults": 50, "total": self.issues.len(), "issues": self.issues
        }))
        .unwrap()
    }
}
