//! The ledger on both backends: the same API gives the same results on SQLite and on
//! PostgreSQL (a throwaway cluster of the testkit, or `PORTCULLIS_TEST_POSTGRES_URL`), and what
//! only PostgreSQL has: append-only enforced by the server, writers that take turns on the chain,
//! and the bad inputs of a network database, each refused with exit 2 and nothing written.

mod common;

use std::path::Path;

use chrono::{Duration, TimeZone, Utc};
use common::{open_err, told};
use portcullis_core::event::{kind, NewEvent};
use portcullis_core::policy::{LoadedPolicy, Policy, BUILTIN_DEFAULT};
use portcullis_ledger::{Ledger, LedgerTarget, Secret, SyncState};
use portcullis_testkit::postgres::server;

fn policy() -> LoadedPolicy {
    Policy::from_toml("default.toml", BUILTIN_DEFAULT).unwrap()
}

/// A label change on `key`, `n` minutes into the day.
fn label(key: &str, label: &str, n: i64, added: bool) -> NewEvent {
    NewEvent {
        ticket: Some(key.to_string()),
        line: None,
        kind: if added {
            kind::LABEL_ADDED
        } else {
            kind::LABEL_REMOVED
        },
        source: "test".into(),
        actor: Some("mara".into()),
        at: Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap() + Duration::minutes(n),
        meeting: None,
        note: Some(format!("änderung {n}")),
        payload: serde_json::json!({ "label": label }),
        dedup_key: Some(format!("{key}/{label}/{n}/{added}")),
    }
}

/// A fresh PostgreSQL ledger (its database's name, and the ledger).
fn pg_ledger(cache: &Path) -> (String, Ledger) {
    let db = server().fresh_database();
    let l = Ledger::open_postgres(&server().url(&db), None, &cache.join("cache.db")).unwrap();
    (db, l)
}

/// Every backend, with a fresh ledger each.
fn both(dir: &Path) -> Vec<(&'static str, Ledger)> {
    vec![
        ("sqlite", Ledger::create(&dir.join("ledger.db")).unwrap()),
        ("postgres", pg_ledger(dir).1),
    ]
}

fn fill(l: &mut Ledger) {
    let p = policy();
    let mut events = Vec::new();
    for t in 0..12 {
        let key = format!("DM-{}", 100 + t);
        events.push(label(&key, "backport-v1", t, true));
        if t % 3 == 0 {
            events.push(label(&key, "backport-approved", 100 + t, true));
        }
        if t % 4 == 0 {
            events.push(label(&key, "backport-done", 200 + t, true));
        }
        if t % 5 == 0 {
            events.push(label(&key, "backport-v1", 300 + t, false));
        }
    }
    let n = events.len() as u64;
    assert_eq!(l.append_all(&p, events.clone()).unwrap(), n);
    // The same facts again are duplicates: nothing is appended, the chain does not move.
    assert_eq!(l.append_all(&p, events).unwrap(), 0);
}

#[test]
fn the_ledger_api_gives_the_same_answers_on_both_backends() {
    let dir = tempfile::tempdir().unwrap();
    let p = policy();
    let mut answers = Vec::new();
    for (name, mut l) in both(dir.path()) {
        assert!(l.verify_chain().unwrap().problems.is_empty(), "{name}");
        let v0 = l.data_version();
        fill(&mut l);
        let report = l.verify_chain().unwrap();
        assert!(report.problems.is_empty(), "{name}: {:?}", report.problems);
        assert_eq!(report.events as i64, l.event_count().unwrap(), "{name}");
        assert_eq!(l.max_seq().unwrap(), report.last_seq, "{name}");
        let dump = l.derived_dump().unwrap();
        assert!(dump.len() > 12, "{name}: {dump:?}");
        assert_eq!(dump, l.recompute_dump(&p).unwrap(), "{name}");
        let (before, after) = l.rebuild(&p).unwrap();
        assert_eq!(before, after, "{name}");

        let tx = l.transaction().unwrap();
        let facts = tx.label_facts("DM-100").unwrap();
        assert_eq!(facts.len(), 4, "{name}");
        assert!(!facts[3].added && facts[3].label == "backport-v1", "{name}");
        drop(tx);

        let state = portcullis_ledger::SyncState {
            source: "jira x".into(),
            cursor_ms: Some(42),
            run: Some(serde_json::json!({"page": 2})),
            last_run_at: Some(Utc.with_ymd_and_hms(2026, 11, 3, 1, 2, 3).unwrap()),
            last_ok_at: None,
        };
        l.set_sync_state(&state).unwrap();
        assert_eq!(l.sync_state("jira x").unwrap(), Some(state), "{name}");

        let all = l.events_of_kinds(&[kind::LABEL_REMOVED]).unwrap();
        assert_eq!(all.len(), 3, "{name}");
        let hashes: Vec<String> = {
            let mut v = Vec::new();
            l.for_each_event(|e| {
                v.push(e.kind.clone());
                Ok(())
            })
            .unwrap();
            v
        };
        assert!(l.data_version() != v0 || name == "sqlite", "{name}");
        answers.push((
            name,
            l.event_count().unwrap(),
            dump,
            l.status_rows("v1")
                .unwrap()
                .iter()
                .map(|r| format!("{} {:?} {}", r.key, r.state, r.open_violations))
                .collect::<Vec<_>>(),
            l.violations(None, None).unwrap().len(),
            l.ticket_keys().unwrap(),
            l.has_event_of_kind("DM-100", kind::LABEL_REMOVED).unwrap(),
            l.tickets_with_event_from(kind::LABEL_ADDED, "test")
                .unwrap()
                .len(),
            l.open_violation_count().unwrap(),
            l.ticket_briefs().unwrap().len(),
            l.line_tickets("v1", &[]).unwrap().len(),
            l.recent_activity("v1", "backport-v1", "2026-11-01", 5)
                .unwrap()
                .len(),
            l.digest_activity("v1", "backport-v1", 0, 1000, None)
                .unwrap()
                .len(),
            hashes,
        ));
    }
    let (a, b) = (&answers[0], &answers[1]);
    assert_eq!(a.1, b.1);
    assert_eq!(a.2, b.2, "the same derived state, row for row");
    assert_eq!(a.3, b.3);
    assert_eq!(
        (a.4, &a.5, a.6, a.7, a.8, a.9, a.10, a.11, a.12, &a.13),
        (b.4, &b.5, b.6, b.7, b.8, b.9, b.10, b.11, b.12, &b.13)
    );
}

/// Issue 18: on PostgreSQL the touched tickets are derived together (their earlier events read
/// in one query, their rows cleared and written a table at a time), and an import lets them
/// wait in batches (`rederive_batched`). The derived rows are those of SQLite's one ticket at a
/// time: for tickets with events from earlier transactions, from earlier in this one (derived
/// in an earlier batch) and none before, with violations.
#[test]
fn postgres_derives_many_tickets_at_once_as_sqlite_does_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let p = policy();
    let mut dumps = Vec::new();
    for (name, mut l) in both(dir.path()) {
        fill(&mut l);
        let mut tx = l.transaction().unwrap();
        let old: Vec<String> = (0..12).map(|t| format!("DM-{}", 100 + t)).collect();
        let new: Vec<String> = (0..1_100).map(|t| format!("DM-{}", 1_000 + t)).collect();
        // The old tickets first, then more new ones than a batch, then the old ones again.
        let keys = old
            .iter()
            .chain(&new)
            .map(|k| (k, 0))
            .chain(old.iter().map(|k| (k, 1)));
        for (i, (key, round)) in keys.enumerate() {
            let n = 1_000 + 10 * i as i64;
            let mut evs = vec![label(key, "backport-v1", n, round == 0)];
            if i % 7 == 0 {
                evs.push(label(key, "backport-done", n + 1, true));
            }
            if i % 11 == 0 {
                evs.push(label(key, "backport-approved", n + 2, true));
            }
            tx.append_many(evs).unwrap();
            tx.rederive_batched(&p).unwrap();
        }
        tx.commit_with(&p).unwrap();
        let dump = l.derived_dump().unwrap();
        assert!(dump.len() > 2 * 1_112, "{name}: {}", dump.len());
        assert!(
            dump.iter()
                .any(|r| r.starts_with("violations: Text(\"DM-1") && r.contains("done_without")),
            "{name}: no violation among the new tickets"
        );
        assert_eq!(dump, l.recompute_dump(&p).unwrap(), "{name}");
        let (before, after) = l.rebuild(&p).unwrap();
        assert_eq!(before, after, "{name}");
        dumps.push(dump);
    }
    assert_eq!(dumps[0], dumps[1], "the same derived state, row for row");
}

/// `label_facts_many` gives each ticket what `label_facts` gives it, on both backends: for keys
/// named twice, keys without events, and the events appended earlier in the same transaction.
#[test]
fn label_facts_of_many_tickets_are_those_of_each() {
    let dir = tempfile::tempdir().unwrap();
    for (name, mut l) in both(dir.path()) {
        fill(&mut l);
        let mut tx = l.transaction().unwrap();
        tx.append_many(vec![label("DM-104", "backport-v2", 900, true)])
            .unwrap();
        let keys = ["DM-100", "DM-104", "DM-999", "DM-100", "DM-105"];
        let many = tx.label_facts_many(&keys).unwrap();
        assert_eq!(many.len(), 4, "{name}: one entry per key");
        for key in keys {
            let one = tx.label_facts(key).unwrap();
            let got = &many[key];
            assert_eq!(got.len(), one.len(), "{name} {key}");
            for (a, b) in got.iter().zip(&one) {
                let same = (a.at, a.seq, a.added, &a.label) == (b.at, b.seq, b.added, &b.label);
                assert!(same, "{name} {key}: {a:?} {b:?}");
            }
        }
        assert_eq!(
            many["DM-104"].len(),
            3,
            "{name}: with this transaction's event"
        );
        assert!(many["DM-999"].is_empty(), "{name}");
        assert!(tx.label_facts_many(&[]).unwrap().is_empty(), "{name}");
    }
}

#[test]
fn a_ledger_copied_between_backends_keeps_its_chain() {
    let dir = tempfile::tempdir().unwrap();
    let p = policy();
    let mut lite = Ledger::create(&dir.path().join("a.db")).unwrap();
    fill(&mut lite);
    let (_, mut pg) = pg_ledger(dir.path());
    let n = pg.copy_from(&lite, &p).unwrap();
    assert_eq!(n as i64, lite.event_count().unwrap());
    assert!(pg.verify_chain().unwrap().problems.is_empty());
    assert_eq!(pg.derived_dump().unwrap(), lite.derived_dump().unwrap());
    let mut back = Ledger::create(&dir.path().join("b.db")).unwrap();
    back.copy_from(&pg, &p).unwrap();
    let mut a = Vec::new();
    let mut b = Vec::new();
    lite.for_each_event(|e| {
        a.push(e.hash);
        Ok(())
    })
    .unwrap();
    back.for_each_event(|e| {
        b.push(e.hash);
        Ok(())
    })
    .unwrap();
    assert_eq!(a, b);
    // A target that is not empty is refused, and left as it was.
    let err = pg.copy_from(&lite, &p).unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    assert_eq!(pg.event_count().unwrap(), n as i64);
}

/// Regression: `copy_from` carried the events but not where each tracker sync stood, so a copied
/// ledger's next sync read everything again and a run in progress could not resume.
#[test]
fn a_ledger_copy_keeps_where_each_sync_stands() {
    let dir = tempfile::tempdir().unwrap();
    let p = policy();
    let mut lite = Ledger::create(&dir.path().join("a.db")).unwrap();
    fill(&mut lite);
    let at = Utc.with_ymd_and_hms(2026, 11, 24, 9, 0, 0).unwrap();
    let states = [
        SyncState {
            source: "jira https://jira.example.org #1a2b3c".into(),
            cursor_ms: Some(1_700_000_000_000),
            run: None,
            last_run_at: Some(at),
            last_ok_at: Some(at),
        },
        SyncState {
            source: "github https://api.github.com #9f8e7d".into(),
            cursor_ms: None,
            run: Some(serde_json::json!({"page": 3, "seen": ["DM-1"]})),
            last_run_at: Some(at),
            last_ok_at: None,
        },
    ];
    for s in &states {
        lite.set_sync_state(s).unwrap();
    }
    let (_, mut pg) = pg_ledger(dir.path());
    pg.copy_from(&lite, &p).unwrap();
    let mut back = Ledger::create(&dir.path().join("b.db")).unwrap();
    back.copy_from(&pg, &p).unwrap();
    for s in &states {
        let on_pg = pg.sync_state(&s.source).unwrap();
        assert_eq!(on_pg.as_ref(), Some(s), "on PostgreSQL");
        let on_lite = back.sync_state(&s.source).unwrap();
        assert_eq!(on_lite.as_ref(), Some(s), "back in SQLite");
    }
}

#[test]
fn another_connection_s_writes_change_the_data_version_on_postgres() {
    // The triage screen reloads when it changes.
    let dir = tempfile::tempdir().unwrap();
    let (db, screen) = pg_ledger(dir.path());
    let v0 = screen.data_version();
    let mut bot = Ledger::open_postgres(&server().url(&db), None, &dir.path().join("c")).unwrap();
    fill(&mut bot);
    assert_ne!(screen.data_version(), v0);
}

#[test]
fn postgres_refuses_to_change_or_remove_events() {
    let dir = tempfile::tempdir().unwrap();
    let (db, mut l) = pg_ledger(dir.path());
    fill(&mut l);
    let mut admin = server().connect(&db);
    for sql in [
        "UPDATE events SET note = 'x' WHERE seq = 1",
        "DELETE FROM events WHERE seq = 1",
        "TRUNCATE events",
    ] {
        let err = admin.batch_execute(sql).unwrap_err();
        let text = format!("{err:?}");
        assert!(text.contains("append-only"), "{sql}: {text}");
    }
    assert!(l.verify_chain().unwrap().problems.is_empty());
}

#[test]
fn concurrent_writers_on_postgres_never_fork_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let (db, l) = pg_ledger(dir.path());
    drop(l);
    let url = server().url(&db);
    const WRITERS: usize = 4;
    const EACH: usize = 25;
    std::thread::scope(|s| {
        for w in 0..WRITERS {
            let url = &url;
            let cache = dir.path().join("cache.db");
            s.spawn(move || {
                let p = policy();
                let mut l = Ledger::open_postgres(url, None, &cache).unwrap();
                for i in 0..EACH {
                    let key = format!("DM-{}", 1000 + w);
                    let n = l
                        .append_all(&p, [label(&key, "backport-v1", i as i64, i % 2 == 0)])
                        .unwrap();
                    assert_eq!(n, 1);
                }
            });
        }
    });
    let l = Ledger::open_postgres(&url, None, &dir.path().join("cache.db")).unwrap();
    let report = l.verify_chain().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(l.event_count().unwrap(), (WRITERS * EACH) as i64);
    assert_eq!(report.last_seq, (WRITERS * EACH) as i64);
    assert_eq!(l.duplicate_dedup_keys().unwrap(), 0);
}

#[test]
fn processes_opening_a_new_postgres_database_at_once_create_its_schema_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = server().fresh_database();
    let url = server().url(&db);
    std::thread::scope(|s| {
        for _ in 0..4 {
            let (url, cache) = (&url, dir.path().join("c.db"));
            s.spawn(move || {
                let l = Ledger::open_postgres(url, None, &cache).unwrap();
                assert_eq!(l.event_count().unwrap(), 0);
            });
        }
    });
    let v: i64 = server()
        .connect(&db)
        .query_one("SELECT version FROM portcullis_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!(v, portcullis_ledger::migrations::pg_latest());
}

/// Whether a database holds any table.
fn tables(db: &str) -> i64 {
    server()
        .connect(db)
        .query_one(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'",
            &[],
        )
        .unwrap()
        .get(0)
}

#[test]
fn bad_postgres_input_is_refused_with_exit_2_and_nothing_written() {
    let s = server();
    s.create_role("pc_writer", "right-horse");

    // A typo in the URL.
    let e = open_err("postgresql://pc_writer:hunter2@localhost:54x2/db", None);
    assert_eq!(e.exit_code(), 2, "{}", told(&e));
    assert!(told(&e).contains("not a PostgreSQL URL"), "{}", told(&e));

    // A server that is down (nothing listens on port 1).
    let e = open_err(
        "postgresql://pc_writer@127.0.0.1:1/db?sslmode=disable",
        Some("x"),
    );
    assert_eq!(e.exit_code(), 2, "{}", told(&e));
    assert!(told(&e).contains("127.0.0.1:1"), "{}", told(&e));
    assert!(told(&e).contains("is the server running?"), "{}", told(&e));

    // A wrong password.
    let db = s.fresh_database();
    s.sql(&db, "GRANT ALL ON SCHEMA public TO pc_writer");
    let e = open_err(&s.url_as(&db, "pc_writer", None), Some("wrong-horse"));
    assert_eq!(e.exit_code(), 2, "{}", told(&e));
    assert!(told(&e).contains("pc_writer"), "{}", told(&e));
    assert_eq!(tables(&db), 0, "nothing was written");

    // A database that holds other tables.
    s.sql(&db, "CREATE TABLE customers (id INT)");
    let e = open_err(&s.url(&db), None);
    assert_eq!(e.exit_code(), 2, "{}", told(&e));
    assert!(told(&e).contains("customers"), "{}", told(&e));
    assert_eq!(tables(&db), 1, "no table of the ledger was created");

    // A database at a newer schema version.
    let dir = tempfile::tempdir().unwrap();
    let (db, mut l) = pg_ledger(dir.path());
    fill(&mut l);
    let count = l.event_count().unwrap();
    drop(l);
    s.sql(&db, "UPDATE portcullis_schema SET version = 99");
    let e = open_err(&s.url(&db), None);
    assert_eq!(e.exit_code(), 2, "{}", told(&e));
    assert!(told(&e).contains("schema version 99"), "{}", told(&e));
    let n: i64 = s
        .connect(&db)
        .query_one("SELECT COUNT(*) FROM events", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, count);
}

#[test]
fn a_read_only_role_reads_but_may_not_write() {
    let s = server();
    s.create_role("pc_reader", "read-pw");
    let dir = tempfile::tempdir().unwrap();
    let (db, mut l) = pg_ledger(dir.path());
    fill(&mut l);
    let count = l.event_count().unwrap();
    drop(l);
    s.sql(
        &db,
        "GRANT USAGE ON SCHEMA public TO pc_reader; GRANT SELECT ON ALL TABLES IN SCHEMA public TO pc_reader",
    );
    let url = s.url_as(&db, "pc_reader", None);
    let pw = Secret::new("read-pw");
    let mut l = Ledger::open_postgres(&url, Some(&pw), &dir.path().join("c.db")).unwrap();
    assert_eq!(l.event_count().unwrap(), count);
    assert!(!l.status_rows("v1").unwrap().is_empty());
    let e = l
        .append_all(&policy(), [label("DM-1", "backport-v1", 1, true)])
        .unwrap_err();
    assert_eq!(e.exit_code(), 2, "{}", told(&e));
    let t = told(&e);
    assert!(
        t.contains("pc_reader") && t.contains("permission denied"),
        "{t}"
    );
    assert!(t.contains("writer role"), "{t}");
    // The failed transaction was rolled back: the connection still reads, nothing was written.
    assert_eq!(l.event_count().unwrap(), count);
}

#[test]
fn the_password_is_never_shown() {
    let s = server();
    s.create_role("pc_secret", "s3cr3t-pw");
    let db = s.fresh_database();
    s.sql(&db, "GRANT ALL ON SCHEMA public TO pc_secret");
    // In the URL, wrong: the error names the role and the URL without the password.
    let url = s.url_as(&db, "pc_secret", Some("hunter2-wrong"));
    let e = open_err(&url, None);
    let t = format!("{}\n{e:?}", told(&e));
    assert!(t.contains("pc_secret:***@"), "{t}");
    assert!(!t.contains("hunter2-wrong"), "{t}");
    // Given apart, wrong.
    let e = open_err(&s.url_as(&db, "pc_secret", None), Some("hunter2-wrong"));
    let t = format!("{}\n{e:?}", told(&e));
    assert!(!t.contains("hunter2-wrong"), "{t}");
    // Right, in the URL: the ledger and its target never print it.
    let url = s.url_as(&db, "pc_secret", Some("s3cr3t-pw"));
    let dir = tempfile::tempdir().unwrap();
    let l = Ledger::open_postgres(&url, None, &dir.path().join("c.db")).unwrap();
    let target = LedgerTarget::parse(&url);
    let shown = format!("{l:?} {target:?} {}", target.shown());
    assert!(!shown.contains("s3cr3t-pw"), "{shown}");
    assert!(shown.contains("pc_secret:***@"), "{shown}");
    // A permission error names the role and the URL, not the password.
    s.sql(&db, "REVOKE ALL ON SCHEMA public FROM pc_secret");
    drop(l);
    let db2 = s.fresh_database();
    let e = open_err(&s.url_as(&db2, "pc_secret", Some("s3cr3t-pw")), None);
    let t = format!("{}\n{e:?}", told(&e));
    assert_eq!(e.exit_code(), 2, "{t}");
    assert!(!t.contains("s3cr3t-pw"), "{t}");
}

/// The SQL block of `docs/POSTGRES.md` marked `<!-- roles: NAME … -->`, for the database `db`,
/// with its roles named `ROLE_<pid>` (roles are the server's, not the database's).
fn doc_roles_sql(name: &str, db: &str) -> String {
    let doc_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/POSTGRES.md");
    let doc = std::fs::read_to_string(&doc_path).unwrap();
    let marker = format!("<!-- roles: {name} ");
    let at = doc
        .find(&marker)
        .unwrap_or_else(|| panic!("{marker} not in the doc"));
    let block = &doc[at..];
    let start = block.find("```sql\n").unwrap() + "```sql\n".len();
    let len = block[start..].find("```").unwrap();
    let pid = std::process::id();
    block[start..start + len]
        .replace("DATABASE ledger ", &format!("DATABASE {db} "))
        .replace("portcullis_reader", &format!("portcullis_reader_{pid}"))
        .replace("portcullis_writer", &format!("portcullis_writer_{pid}"))
}

#[test]
fn the_documented_roles_read_only_and_writer_hold_what_the_doc_says() {
    let s = server();
    let dir = tempfile::tempdir().unwrap();
    let (db, mut l) = pg_ledger(dir.path());
    fill(&mut l);
    let count = l.event_count().unwrap();
    drop(l);
    let reader_sql = doc_roles_sql("reader", &db);
    let writer_sql = doc_roles_sql("writer", &db);
    assert!(reader_sql.contains(&format!("CONNECT ON DATABASE {db} ")));
    s.sql(&db, &reader_sql);
    s.sql(&db, &writer_sql);
    let pid = std::process::id();
    let (reader, writer) = (
        format!("portcullis_reader_{pid}"),
        format!("portcullis_writer_{pid}"),
    );

    // The read-only role reads everything a dashboard or a digest reads, and may not write.
    let pw = Secret::new("reader-password");
    let mut r = Ledger::open_postgres(
        &s.url_as(&db, &reader, None),
        Some(&pw),
        &dir.path().join("r"),
    )
    .unwrap();
    assert_eq!(r.event_count().unwrap(), count);
    assert!(r.verify_chain().unwrap().problems.is_empty());
    assert!(!r.status_rows("v1").unwrap().is_empty());
    r.violations(None, None).unwrap();
    r.ticket_briefs().unwrap();
    let e = r
        .append_all(&policy(), [label("DM-100", "backport-v1", 900, true)])
        .unwrap_err();
    assert_eq!(e.exit_code(), 2, "{}", told(&e));
    assert!(told(&e).contains(&reader) && told(&e).contains("permission denied"));
    let state = portcullis_ledger::SyncState {
        source: "jira".into(),
        cursor_ms: Some(1),
        run: None,
        last_run_at: None,
        last_ok_at: None,
    };
    assert_eq!(r.set_sync_state(&state).unwrap_err().exit_code(), 2);
    assert_eq!(r.event_count().unwrap(), count, "nothing was written");

    // The writer appends (recomputing the derived rows of tickets that already had some),
    // keeps the sync state, rebuilds the derived tables...
    let pw = Secret::new("writer-password");
    let url = s.url_as(&db, &writer, None);
    let mut w = Ledger::open_postgres(&url, Some(&pw), &dir.path().join("w")).unwrap();
    let n = w
        .append_all(
            &policy(),
            [
                label("DM-100", "backport-approved", 901, false),
                label("DM-103", "backport-done", 902, true),
                label("DM-777", "backport-v1", 903, true),
            ],
        )
        .unwrap();
    assert_eq!(n, 3);
    w.set_sync_state(&state).unwrap();
    let (before, after) = w.rebuild(&policy()).unwrap();
    assert_eq!(before, after);
    assert!(w.verify_chain().unwrap().problems.is_empty());
    drop(w);
    // ... and may not change, remove or truncate an event, even bypassing portcullis.
    let mut raw = postgres::Client::connect(
        &s.url_as(&db, &writer, Some("writer-password")),
        postgres::NoTls,
    )
    .unwrap();
    for sql in [
        "UPDATE events SET note = 'x' WHERE seq = 1",
        "DELETE FROM events WHERE seq = 1",
        "TRUNCATE events",
        "DROP TABLE events",
    ] {
        let err = raw.batch_execute(sql).unwrap_err();
        assert!(
            err.code() == Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE)
                || format!("{err:?}").contains("must be owner"),
            "{sql}: {err:?}"
        );
    }
    // The reader sees the writer's events.
    assert_eq!(r.event_count().unwrap(), count + 3);
}

#[test]
fn a_decision_by_one_ledger_reaches_another_s_listener_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let (db, screen) = pg_ledger(dir.path());
    let changes = screen.listen().unwrap().expect("PostgreSQL listens");
    assert!(!changes.take(), "nothing announced yet");
    let mut other = Ledger::open_postgres(&server().url(&db), None, &dir.path().join("o")).unwrap();
    let p = policy();

    let started = std::time::Instant::now();
    other
        .append_all(&p, [label("DM-1", "backport-v1", 1, true)])
        .unwrap();
    assert!(
        changes.wait(std::time::Duration::from_secs(1)),
        "not announced within a second"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    assert!(!changes.lost());

    // A transaction that appends nothing (a duplicate), or that is rolled back, announces
    // nothing.
    other
        .append_all(&p, [label("DM-1", "backport-v1", 1, true)])
        .unwrap();
    {
        let mut tx = other.transaction().unwrap();
        tx.append(label("DM-2", "backport-v1", 2, true)).unwrap();
        drop(tx);
    }
    assert!(!changes.wait(std::time::Duration::from_millis(500)));
    assert_eq!(screen.event_count().unwrap(), 1);

    // SQLite has no listener: its data version is polled.
    let lite = Ledger::create(&dir.path().join("l.db")).unwrap();
    assert!(lite.listen().unwrap().is_none());
}

/// `append_many` skips the events whose dedup key the ledger has, or an earlier event of the
/// same batch has, and appends the rest in order, on both backends (SQLite looks each key up
/// before hashing the event into the chain; PostgreSQL asks for the taken keys at once).
#[test]
fn appending_many_skips_the_keys_already_taken() {
    let dir = tempfile::tempdir().unwrap();
    for (name, mut l) in both(dir.path()) {
        let mut tx = l.transaction().unwrap();
        let first = tx
            .append_many(vec![label("DM-1", "backport-v1", 1, true)])
            .unwrap();
        assert_eq!(first, vec![Some(1)], "{name}");
        tx.commit_with(&policy()).unwrap();
        let mut tx = l.transaction().unwrap();
        let got = tx
            .append_many(vec![
                label("DM-1", "backport-v1", 1, true),
                label("DM-2", "backport-v1", 2, true),
                label("DM-2", "backport-v1", 2, true),
                label("DM-3", "backport-v1", 3, true),
            ])
            .unwrap();
        assert_eq!(got, vec![None, Some(2), None, Some(3)], "{name}");
        tx.commit_with(&policy()).unwrap();
        let mut stored: Vec<(i64, Option<String>)> = Vec::new();
        l.for_each_event(|e| {
            stored.push((e.seq, e.ticket));
            Ok(())
        })
        .unwrap();
        let want = [(1, "DM-1"), (2, "DM-2"), (3, "DM-3")].map(|(s, k)| (s, Some(k.to_string())));
        assert_eq!(stored, want, "{name}");
        let chain = l.verify_chain().unwrap();
        assert!(chain.problems.is_empty(), "{name}: {:?}", chain.problems);
        assert_eq!((chain.events, chain.last_seq), (3, 3), "{name}");
    }
}
