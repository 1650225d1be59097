//! The ledger: append-only, rebuild equality, tamper detection, and files it must refuse. The
//! tests of what both backends do run on SQLite and again on PostgreSQL (`…_on_postgres`: the
//! demo's ledger moved to a database of the test server, see `TestEnv::use_postgres`).

use crate::harness::{ExportBuilder, TestEnv};

fn demo_env() -> TestEnv {
    let env = TestEnv::new();
    env.run(&["demo", "--dir", "."]).ok();
    env
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

fn demo_env_on(b: Backend) -> TestEnv {
    let env = demo_env();
    match b {
        Backend::Postgres => {
            env.use_postgres();
        }
        Backend::Sqlite => {
            env.keep_sqlite();
        }
    }
    env
}

/// `sql` with the append-only trigger `trigger` out of the way (as someone tampering would).
fn unguarded(env: &TestEnv, trigger: &str, sql: &str) -> String {
    match env.postgres_url() {
        Some(_) => format!("ALTER TABLE events DISABLE TRIGGER {trigger}; {sql}"),
        None => format!("DROP TRIGGER {trigger}; {sql}"),
    }
}

fn open_ledger(env: &TestEnv) -> portcullis_ledger::Ledger {
    match env.postgres_url() {
        Some(url) => {
            portcullis_ledger::Ledger::open_postgres(url, None, &env.path().join("cache.db"))
                .unwrap()
        }
        None => portcullis_ledger::Ledger::open(&env.ledger_path()).unwrap(),
    }
}

#[test]
fn rebuild_equals_what_was_there() {
    rebuild_equals_what_was_there_on(Backend::Sqlite);
}

#[test]
fn rebuild_equals_what_was_there_on_postgres() {
    rebuild_equals_what_was_there_on(Backend::Postgres);
}

fn rebuild_equals_what_was_there_on(b: Backend) {
    let env = demo_env_on(b);
    env.run(&[
        "decide", "approve", "DM-33938", "--note", "needed", "--as", "praman",
    ])
    .ok();
    let before = env.ledger_fingerprint();
    assert!(before.1.len() > 150, "the demo ledger has derived rows");
    let run = env.run(&["ledger", "rebuild"]);
    run.ok();
    assert!(
        run.stdout.contains("identical to what was there"),
        "{}",
        run.stdout
    );
    assert_eq!(env.ledger_fingerprint(), before);
}

#[test]
fn rebuild_repairs_damaged_derived_state() {
    rebuild_repairs_damaged_derived_state_on(Backend::Sqlite);
}

#[test]
fn rebuild_repairs_damaged_derived_state_on_postgres() {
    rebuild_repairs_damaged_derived_state_on(Backend::Postgres);
}

fn rebuild_repairs_damaged_derived_state_on(b: Backend) {
    let env = demo_env_on(b);
    let before = env.ledger_fingerprint();
    env.sql("UPDATE line_states SET state = 'approved' WHERE state = 'rejected'; DELETE FROM violations;");
    let audit = env.run(&["audit"]);
    assert_eq!(audit.code, 1, "{}", audit.stdout);
    assert!(
        audit.stdout.contains("derived state: DIFFERS"),
        "{}",
        audit.stdout
    );
    assert!(audit.stdout.contains("hash chain: ok"), "{}", audit.stdout);
    let run = env.run(&["ledger", "rebuild"]);
    run.ok();
    assert!(
        run.stdout.contains("differed and were corrected"),
        "{}",
        run.stdout
    );
    assert_eq!(env.ledger_fingerprint(), before);
    env.run(&["audit"]).ok();
}

#[test]
fn events_are_append_only() {
    if crate::harness::skip_on_postgres("SQLite's triggers; PostgreSQL's in crates/ledger/tests") {
        return;
    }
    let env = demo_env();
    let c = rusqlite::Connection::open(env.ledger_path()).unwrap();
    let err = c
        .execute("UPDATE events SET note = 'x' WHERE seq = 1", [])
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    let err = c
        .execute("DELETE FROM events WHERE seq = 1", [])
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
}

#[test]
fn tampering_is_detected() {
    tampering_is_detected_on(Backend::Sqlite);
}

#[test]
fn tampering_is_detected_on_postgres() {
    tampering_is_detected_on(Backend::Postgres);
}

fn tampering_is_detected_on(b: Backend) {
    // A changed note.
    let env = demo_env_on(b);
    env.sql(&unguarded(&env, "events_no_update", "UPDATE events SET note = 'approved, honest' WHERE kind = 'decision' AND seq = (SELECT MIN(seq) FROM events WHERE kind = 'decision');"));
    let run = env.run(&["audit"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("hash chain: BROKEN"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("its hash does not match its content and the event before it"),
        "{}",
        run.stdout
    );

    // A removed event in the middle.
    let env = demo_env_on(b);
    env.sql(&unguarded(
        &env,
        "events_no_delete",
        "DELETE FROM events WHERE seq = 10;",
    ));
    let run = env.run(&["audit"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("event 10 is missing"), "{}", run.stdout);
    assert!(
        run.stdout.contains("event 11: its hash does not match"),
        "{}",
        run.stdout
    );

    // A removed tail: the chain is intact but the head knows better.
    let env = demo_env_on(b);
    env.sql(&unguarded(
        &env,
        "events_no_delete",
        "DELETE FROM events WHERE seq = (SELECT MAX(seq) FROM events);",
    ));
    let run = env.run(&["audit"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains("but the ledger head records event"),
        "{}",
        run.stdout
    );

    // A rewritten event with a recomputed own hash still breaks the next link.
    let env = demo_env_on(b);
    let l = open_ledger(&env);
    let mut e = l.events_for_ticket("DM-32144").unwrap().remove(0);
    let prev: String = l.event_hash_of(e.seq - 1).unwrap().unwrap();
    drop(l);
    e.actor = Some("someone-else".into());
    let h = portcullis_ledger::event_hash(&prev, &e);
    env.sql(&unguarded(
        &env,
        "events_no_update",
        &format!(
            "UPDATE events SET actor = 'someone-else', hash = '{h}' WHERE seq = {};",
            e.seq
        ),
    ));
    let run = env.run(&["audit"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout
            .contains(&format!("event {}: its hash does not match", e.seq + 1)),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains(&format!("event {}: its hash", e.seq)),
        "the rewritten event itself chains correctly: {}",
        run.stdout
    );
}

#[test]
fn not_a_ledger_is_refused_and_left_alone() {
    let env = TestEnv::with_workspace("v23");
    env.keep_sqlite(); // It damages the file.
    let garbage = b"this is a text file, not a database\n".repeat(20);
    std::fs::write(env.ledger_path(), &garbage).unwrap();
    for args in [
        &["status"][..],
        &["audit"][..],
        &["decide", "approve", "DM-1", "--as", "praman"][..],
    ] {
        let run = env.run(args);
        assert_eq!(run.code, 2, "{args:?}");
        assert!(
            run.stderr
                .contains("is not a portcullis ledger (not an SQLite database)"),
            "{}",
            run.stderr
        );
    }
    assert_eq!(std::fs::read(env.ledger_path()).unwrap(), garbage);
}

#[test]
fn ledger_from_a_newer_version_is_refused_and_left_alone() {
    let env = TestEnv::with_workspace("v23");
    env.keep_sqlite(); // It changes the file (its PostgreSQL twin is in crates/ledger/tests).
    env.sql("PRAGMA user_version = 99;");
    // Make sure every byte is on disk before we fingerprint the file.
    env.sql("PRAGMA wal_checkpoint(TRUNCATE);");
    let bytes = std::fs::read(env.ledger_path()).unwrap();
    let run = env.run(&["status"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains(&format!(
            "has schema version 99, but this portcullis knows versions up to {}",
            portcullis_ledger::migrations::latest()
        )),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("upgrade portcullis"), "{}", run.stderr);
    assert_eq!(std::fs::read(env.ledger_path()).unwrap(), bytes);
}

#[test]
fn missing_ledger_and_workspace_say_what_to_do() {
    let env = TestEnv::new();
    let run = env.run(&["status"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("no portcullis workspace here"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("portcullis init"), "{}", run.stderr);
    let run = env.run_env(
        &["status"],
        &[
            ("PORTCULLIS_DB", "gone.db"),
            ("PORTCULLIS_POLICY", "nope.toml"),
        ],
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("cannot read the policy nope.toml"),
        "{}",
        run.stderr
    );
}

#[cfg(unix)]
#[test]
fn ledger_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    if crate::harness::skip_on_postgres("the modes of the SQLite file and its WAL") {
        return;
    }
    let env = TestEnv::with_workspace("v23");
    let mode = std::fs::metadata(env.ledger_path())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "ledger mode {mode:o}");
    // The write-ahead log and its index, made while a process writes, are private too.
    let c = rusqlite::Connection::open(env.ledger_path()).unwrap();
    c.execute_batch("BEGIN IMMEDIATE; CREATE TABLE scratch(a); COMMIT;")
        .unwrap();
    for ext in ["-wal", "-shm"] {
        let path = format!("{}{ext}", env.ledger_path().display());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{path} mode {mode:o}");
    }
    drop(c);
}

#[test]
fn ledger_runs_in_wal_mode_with_large_pages() {
    if crate::harness::skip_on_postgres("SQLite's journal mode and page size") {
        return;
    }
    let env = TestEnv::with_workspace("v23");
    env.run(&["status"]).ok();
    let c = rusqlite::Connection::open(env.ledger_path()).unwrap();
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let page: i64 = c.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
    assert_eq!(page, 16384);
}

/// The child half of `opening_the_ledger_again_keeps_this_process_s_locks`, run by re-executing
/// this test binary: opens the ledger named in the environment and closes it again. SQLite's last
/// connection to close checkpoints the WAL and deletes it, if no other process holds the file.
#[test]
fn child_opener_for_the_lock_test() {
    let Ok(path) = std::env::var("PORTCULLIS_TEST_LOCK_CHILD") else {
        return;
    };
    let conn = rusqlite::Connection::open(&path).unwrap();
    let n: i64 = conn
        .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
        .unwrap();
    println!("CHILD-READ:{n}");
    drop(conn);
}

/// Regression: opening the ledger read its header through a file descriptor of its own and closed
/// it, and closing any descriptor of a file drops every POSIX lock this process holds on it,
/// those of SQLite's open connections included. Another process then believed it was the last
/// user of the ledger and checkpointed and deleted the WAL under a live connection; the
/// concurrency test saw "database disk image is malformed".
#[test]
fn opening_the_ledger_again_keeps_this_process_s_locks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let _a = portcullis_ledger::Ledger::create(&path).unwrap();
    let wal = dir.path().join("ledger.db-wal");
    assert!(wal.exists(), "an open ledger has its WAL");
    let _b = portcullis_ledger::Ledger::open(&path).unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "ledger::child_opener_for_the_lock_test",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("PORTCULLIS_TEST_LOCK_CHILD", &path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("CHILD-READ:0"), "{stdout}");
    assert!(
        wal.exists(),
        "another process deleted the WAL while this one had the ledger open"
    );
}

#[test]
fn the_cli_on_postgres_answers_as_on_sqlite() {
    // The same workspace twice: its own SQLite ledger, and the same ledger moved to PostgreSQL.
    let lite = demo_env();
    let pg = demo_env();
    let url = pg.use_postgres();
    for env in [&lite, &pg] {
        env.run(&[
            "decide", "approve", "DM-33938", "--note", "needed", "--as", "praman",
        ])
        .ok();
    }
    // `--db URL` on the command line, as a user would (the harness also sets PORTCULLIS_DB).
    let on_pg = pg.run(&["--db", &url, "status"]);
    on_pg.ok();
    let on_lite = lite.run(&["status"]);
    assert_eq!(on_pg.stdout, on_lite.stdout);
    assert!(on_pg.stdout.contains("DM-33938"), "{}", on_pg.stdout);
    let audit = pg.run(&["audit"]);
    audit.ok();
    assert!(audit.stdout.contains("hash chain: ok"), "{}", audit.stdout);
    assert_eq!(pg.ledger_fingerprint(), lite.ledger_fingerprint());
}

#[test]
fn the_cli_takes_the_postgres_password_from_the_credentials_file_pgpassword_or_pgpass() {
    let server = portcullis_testkit::postgres::server();
    server.create_role("pc_cli", "cli-pw-9");
    let env = demo_env();
    let admin_url = env.use_postgres();
    let db = admin_url.rsplit('/').next().unwrap().to_string();
    server.sql(
        &db,
        "GRANT ALL ON ALL TABLES IN SCHEMA public TO pc_cli; GRANT USAGE ON SCHEMA public TO pc_cli",
    );
    let url = server.url_as(&db, "pc_cli", None);
    let status = |extra: &[(&str, &str)]| {
        let mut vars = vec![("PORTCULLIS_DB", url.as_str())];
        vars.extend_from_slice(extra);
        env.run_env(&["status"], &vars)
    };

    // No password anywhere: the server asks for one, and the message says where to put it.
    let run = status(&[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("asks a password for role `pc_cli`"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("PGPASSWORD"), "{}", run.stderr);

    // A wrong one: exit 2, the role named, the password never shown.
    let run = status(&[("PGPASSWORD", "wrong-pw-7")]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("pc_cli"), "{}", run.stderr);
    assert!(!format!("{}{}", run.stdout, run.stderr).contains("wrong-pw-7"));

    // PGPASSWORD.
    status(&[("PGPASSWORD", "cli-pw-9")]).ok();

    // ~/.pgpass (HOME is the workspace), private to its owner.
    let pgpass = env.write(".pgpass", "localhost:5432:*:pc_cli:cli-pw-9\n");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    status(&[]).ok();
    std::fs::remove_file(&pgpass).unwrap();

    // The credentials file's [postgres] table wins over PGPASSWORD.
    let creds = env.write("creds.toml", "[postgres]\npassword = \"cli-pw-9\"\n");
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o600)).unwrap();
    let creds = creds.display().to_string();
    status(&[
        ("PORTCULLIS_CREDENTIALS", creds.as_str()),
        ("PGPASSWORD", "wrong-pw-7"),
    ])
    .ok();

    // A password in the URL is shown as *** in a refusal.
    let with_pw = server.url_as(&db, "pc_cli", Some("wrong-pw-7"));
    let run = env.run_env(&["status"], &[("PORTCULLIS_DB", with_pw.as_str())]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("pc_cli:***@"), "{}", run.stderr);
    assert!(!format!("{}{}", run.stdout, run.stderr).contains("wrong-pw-7"));
}

#[test]
fn the_cli_says_when_the_postgres_server_is_down() {
    let env = demo_env();
    let run = env.run(&[
        "--db",
        "postgresql://bot:pw-not-shown@127.0.0.1:1/ledger?sslmode=disable",
        "status",
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("127.0.0.1:1"), "{}", run.stderr);
    assert!(
        run.stderr.contains("is the server running?"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("pw-not-shown"), "{}", run.stderr);
}

#[test]
fn sync_and_push_over_http_work_on_postgres() {
    // Both read and write the ledger from async code: the synchronous PostgreSQL client must
    // not block the threads that drive it.
    use portcullis_testkit::jira_server::{seed_issues_from_json, Config, JiraServer, User};
    let env = demo_env();
    let export: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(env.path().join("jira-export.json")).unwrap(),
    )
    .unwrap();
    let server = JiraServer::start(
        Config {
            users: vec![User {
                name: "portcullis-bot".into(),
                account_id: "557058:portcullis-bot".into(),
                display_name: "portcullis bot".into(),
                email: "bot@example.org".into(),
                token: "pg-token".into(),
            }],
            ..Config::data_center()
        },
        seed_issues_from_json(export).unwrap(),
        0,
    )
    .unwrap();
    let config = std::fs::read_to_string(env.path().join("portcullis.toml")).unwrap();
    env.write(
        "portcullis.toml",
        &format!(
            "{config}\n[jira]\nurl = \"{}\"\nflavor = \"datacenter\"\n",
            server.url()
        ),
    );
    env.use_postgres();
    let before = env.ledger_fingerprint().0;
    let vars = [("PORTCULLIS_JIRA_TOKEN", "pg-token")];
    let run = env.run_env(&["sync"], &vars);
    run.ok();
    env.run(&[
        "decide", "approve", "DM-33938", "--note", "needed", "--as", "praman",
    ])
    .ok();
    // The demo holds a few decisions Jira contradicts (CONFLICT, exit 1); the rest is pushed.
    let run = env.run_env(&["push"], &vars);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("DM-33938") && l.ends_with("pushed")),
        "{}",
        run.stdout
    );
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.method != "GET" && r.path_and_query.contains("DM-33938")),
        "the decision reached Jira"
    );
    assert!(env.ledger_fingerprint().0 > before);
    env.run(&["audit"]).ok();
}

/// Every event's hash, in order: the chain.
fn chain(l: &portcullis_ledger::Ledger) -> Vec<String> {
    let mut v = Vec::new();
    l.for_each_event(|e| {
        v.push(format!("{} {}", e.seq, e.hash));
        Ok(())
    })
    .unwrap();
    v
}

#[test]
fn ledger_copy_moves_a_ledger_to_postgres_and_back_with_its_chain() {
    let env = demo_env();
    env.keep_sqlite(); // It moves the file's ledger itself.
    let server = portcullis_testkit::postgres::server();
    let db = server.fresh_database();
    let url = server.url(&db);
    let run = env.run(&["ledger", "copy", "--to", &url]);
    run.ok();
    assert!(
        run.stdout
            .contains("audit of the copy: hash chain ok, derived state ok"),
        "{}",
        run.stdout
    );
    let lite = portcullis_ledger::Ledger::open(&env.ledger_path()).unwrap();
    let pg =
        portcullis_ledger::Ledger::open_postgres(&url, None, &env.path().join("c.db")).unwrap();
    assert_eq!(chain(&pg), chain(&lite));
    assert_eq!(pg.derived_dump().unwrap(), lite.derived_dump().unwrap());
    drop(pg);
    assert_eq!(
        env.run(&["--db", &url, "status"]).stdout,
        env.run(&["status"]).stdout
    );

    // And back to a new file, from the PostgreSQL ledger.
    env.run(&["--db", &url, "ledger", "copy", "--to", "back.db"])
        .ok();
    let back = portcullis_ledger::Ledger::open(&env.path().join("back.db")).unwrap();
    assert_eq!(chain(&back), chain(&lite));
    drop(back);

    // A target that holds events is refused, and left as it was.
    let before = env.run(&["--db", &url, "audit"]);
    before.ok();
    for to in [url.as_str(), "back.db"] {
        let run = env.run(&["ledger", "copy", "--to", to]);
        assert_eq!(run.code, 2, "{to}: {}", run.stderr);
        assert!(run.stderr.contains("not empty"), "{}", run.stderr);
    }
    assert_eq!(env.run(&["--db", &url, "audit"]).stdout, before.stdout);
    let back = portcullis_ledger::Ledger::open(&env.path().join("back.db")).unwrap();
    assert_eq!(chain(&back), chain(&lite));

    // So is the ledger itself.
    let run = env.run(&["ledger", "copy", "--to", "ledger.db"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("own ledger"), "{}", run.stderr);
}

#[test]
fn verify_on_postgres_keeps_its_git_caches_in_a_local_file() {
    let lite = demo_env();
    let pg = demo_env();
    pg.use_postgres();
    let cache = pg.path().join(".portcullis-cache.db");
    assert!(!cache.exists());
    let on_lite = lite.run(&["verify", "--format", "json"]);
    let on_pg = pg.run(&["verify", "--format", "json"]);
    assert_eq!(on_lite.code, 1, "{}", on_lite.stderr);
    assert_eq!(on_pg.code, 1, "{}", on_pg.stderr);
    assert_eq!(on_pg.stdout, on_lite.stdout);
    // The caches of the local clones are in the local file, not in the team's database.
    let c = rusqlite::Connection::open(&cache).unwrap();
    let commits: i64 = c
        .query_row("SELECT COUNT(*) FROM git_commits", [], |r| r.get(0))
        .unwrap();
    assert!(commits > 0);
    let again = pg.run(&["verify", "--format", "json"]);
    assert_eq!(again.stdout, on_pg.stdout);
    pg.run(&["audit"]).ok();
    assert_eq!(pg.ledger_fingerprint(), lite.ledger_fingerprint());
}

/// Regression: a PostgreSQL ledger dropped in async code (`notify` opens it in the runtime)
/// closed its client by blocking on the client's own runtime inside that one, and panicked.
#[test]
fn notify_on_postgres_closes_its_connection_without_panicking() {
    let env = demo_env();
    env.use_postgres();
    let run = env.run(&["notify", "--dry-run"]);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    run.ok();
}

#[test]
fn read_only_commands_retry_a_lost_connection_once() {
    // Issue 18, stage 3: every read-only command retries as status and history do.
    let env = demo_env();
    env.use_postgres();
    let lose = [("PORTCULLIS_FAILPOINT", "ledger.lose_connection")];
    let before = env.ledger_fingerprint();
    for args in [
        &["audit"][..],
        &["minutes"][..],
        &["releases"][..],
        &["release", "show", "23.0.1"][..],
        &["notify", "--dry-run"][..],
    ] {
        let clean = env.run(args);
        clean.ok();
        let lost = env.run_env(args, &lose);
        lost.ok();
        assert_eq!(lost.stdout, clean.stdout, "{args:?}");
        assert!(
            lost.stderr.contains("trying once more"),
            "{args:?}: {}",
            lost.stderr
        );
    }
    assert_eq!(env.ledger_fingerprint(), before);
}

#[test]
fn a_lost_connection_mid_command_is_exit_2_and_status_and_history_retry_once() {
    let env = demo_env();
    env.use_postgres();
    let lose = [("PORTCULLIS_FAILPOINT", "ledger.lose_connection")];
    // The server ends the connection right after the ledger is opened: status and history read
    // nothing yet, so they open it again and answer as a clean run does.
    for args in [&["status"][..], &["history", "DM-33938"][..]] {
        let clean = env.run(args);
        clean.ok();
        let lost = env.run_env(args, &lose);
        lost.ok();
        assert_eq!(lost.stdout, clean.stdout, "{args:?}");
    }
    // A command that writes is not retried: a clear message, exit 2, nothing written.
    let before = env.ledger_fingerprint();
    let run = env.run_env(
        &[
            "decide", "approve", "DM-33938", "--note", "needed", "--as", "praman",
        ],
        &lose,
    );
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("connection to the ledger") && run.stderr.contains("was lost"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("run the command again"),
        "{}",
        run.stderr
    );
    assert_eq!(env.ledger_fingerprint(), before);
    env.run(&["audit"]).ok();
}

#[test]
fn init_with_a_postgres_ledger_makes_the_database_a_ledger_and_refuses_other_tables() {
    let env = TestEnv::new();
    env.keep_sqlite(); // The workspaces below name their own ledgers.
    let server = portcullis_testkit::postgres::server();
    let db = server.fresh_database();
    let url = server.url(&db);
    let run = env.run(&["init", "team", "--from-policy", "v23", "--ledger", &url]);
    run.ok();
    assert!(
        run.stdout.contains(&format!("the ledger {url}")),
        "{}",
        run.stdout
    );
    assert!(!env.path().join("team/ledger.db").exists());
    let config = std::fs::read_to_string(env.path().join("team/portcullis.toml")).unwrap();
    assert!(config.contains(&format!("ledger = \"{url}\"")), "{config}");
    // The database is a ledger already (migrated), and the workspace's commands use it.
    let mut c = server.connect(&db);
    let events: i64 = c
        .query_one("SELECT COUNT(*) FROM events", &[])
        .unwrap()
        .get(0);
    assert_eq!(events, 0);
    let export = ExportBuilder::new()
        .ticket(
            "DM-33769",
            "A fix",
            &[("2022-01-04T09:00:00.000-0700", "kfarrow", "backport-v23")],
        )
        .build();
    env.write("team/export.json", &export);
    env.run_in("team", &["sync", "--from-file", "export.json"])
        .ok();
    let events: i64 = c
        .query_one("SELECT COUNT(*) FROM events", &[])
        .unwrap()
        .get(0);
    assert!(events > 0);
    // A second member's workspace shares the team's ledger as it is.
    env.run(&["init", "second", "--from-policy", "v23", "--ledger", &url])
        .ok();
    assert_eq!(
        env.run_in("second", &["status"]).stdout,
        env.run_in("team", &["status"]).stdout
    );

    // A database holding other tables is refused: exit 2, nothing written, here or there.
    let other = server.fresh_database();
    server.sql(&other, "CREATE TABLE customers (id integer)");
    let run = env.run(&["init", "other", "--ledger", &server.url(&other)]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("holds other tables"), "{}", run.stderr);
    assert!(!env.path().join("other").join("portcullis.toml").exists());
    assert!(!env.path().join("other").join("policy.toml").exists());
    let mut o = server.connect(&other);
    let tables: i64 = o
        .query_one(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(tables, 1);

    // A URL with a password would put it in the config: refused, and never shown.
    let with_password = server.url_as(&db, "portcullis", Some("s3cret-pw"));
    let run = env.run(&["init", "pw", "--ledger", &with_password]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("holds a password"), "{}", run.stderr);
    assert!(!run.stderr.contains("s3cret-pw") && !run.stdout.contains("s3cret-pw"));
    assert!(!env.path().join("pw").join("portcullis.toml").exists());
}
