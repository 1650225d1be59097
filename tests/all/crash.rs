//! Crash tests: the real binary killed with SIGKILL at seeded random points during `sync` (from
//! a file and from the Jira test server), `verify`, `push`, `cut --apply` and `notify`: 220
//! kills in all by default, each inside a run that had work to do.
//!
//! Each command runs in a kill loop ([`kill_loop`]): a run is killed after a delay drawn
//! uniformly from the time one uninterrupted run takes on this machine. After every kill: SQLite
//! integrity, no duplicate event, `audit` (hash chain, derived state equal to a rebuild). The
//! next run is the rerun: it must finish what the killed ones left. A run that ends by itself
//! has done so, and is checked against an uninterrupted reference run (same derived state,
//! same events, tags and tracker writes consistent with the ledger); then the state is reset so
//! that the next runs have the whole work to do again.
//!
//! The suite is backend-neutral: with `PORTCULLIS_TEST_LEDGER=postgres` each workspace's ledger
//! is in a database of the test PostgreSQL server, the killed runs write there, and the checks
//! read it there (snapshots are template databases; PostgreSQL vouches for its own pages, so
//! SQLite's integrity check has no counterpart).
//!
//! `PORTCULLIS_CRASH_SEED` changes the seed; `PORTCULLIS_CRASH_SCALE=10` kills ten times as often
//! (the long version: `PORTCULLIS_CRASH_SCALE=10 cargo test --test all crash:: -- --nocapture`,
//! which also prints where the kills landed), and `0.25` a quarter as often (CI's PostgreSQL pass).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::harness::{ExportBuilder, TestEnv, NOW};

fn rng(salt: u64) -> ChaCha8Rng {
    let seed = std::env::var("PORTCULLIS_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261124u64);
    ChaCha8Rng::seed_from_u64(seed ^ salt)
}

/// `n` kills, scaled by `PORTCULLIS_CRASH_SCALE` (a factor: `10`, or `0.25` for a quick pass;
/// at least one).
fn kills(n: usize) -> usize {
    let scale: f64 = std::env::var("PORTCULLIS_CRASH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    ((n as f64 * scale).round() as usize).max(1)
}

/// Run the binary and SIGKILL it after `delay` (unless it ends first). True if it ended by itself.
fn run_killed(env: &TestEnv, args: &[&str], vars: &[(&str, &str)], delay: Duration) -> bool {
    let mut cmd = env.command();
    cmd.args(args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(env.path().join("last-run.stderr")).unwrap());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let end = Instant::now() + delay;
    loop {
        if child.try_wait().unwrap().is_some() {
            return true;
        }
        if Instant::now() >= end {
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// After a kill: the file is a sound SQLite database, `audit` passes (hash chain, derived state
/// equal to a rebuild), and no event is there twice.
fn check_ledger(env: &TestEnv, what: &str) {
    const DUPLICATES: &str =
        "SELECT COUNT(*) FROM (SELECT dedup_key FROM events WHERE dedup_key IS NOT NULL
             GROUP BY dedup_key HAVING COUNT(*) > 1) d";
    env.follow_switch();
    if let Some(db) = env.postgres_database() {
        let mut c = portcullis_testkit::postgres::server().connect(db);
        let dups: i64 = c.query_one(DUPLICATES, &[]).unwrap().get(0);
        assert_eq!(dups, 0, "{what}: duplicate events");
        let run = env.run(&["audit"]);
        assert_eq!(run.code, 0, "{what}: {}{}", run.stdout, run.stderr);
        return;
    }
    let c = rusqlite::Connection::open(env.ledger_path()).unwrap();
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok", "{what}");
    let dups: i64 = c.query_row(DUPLICATES, [], |r| r.get(0)).unwrap();
    assert_eq!(dups, 0, "{what}: duplicate events");
    drop(c);
    let run = env.run(&["audit"]);
    assert_eq!(run.code, 0, "{what}: {}{}", run.stdout, run.stderr);
}

/// Events in the ledger (0 before the first run made it).
fn events(env: &TestEnv) -> i64 {
    env.follow_switch();
    if let Some(db) = env.postgres_database() {
        let mut c = portcullis_testkit::postgres::server().connect(db);
        return c
            .query_one("SELECT COUNT(*) FROM events", &[])
            .unwrap()
            .get(0);
    }
    rusqlite::Connection::open(env.ledger_path())
        .and_then(|c| c.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0)))
        .unwrap_or(0)
}

/// Events per kind: two ledgers that did the same work hold the same counts.
fn kinds(env: &TestEnv) -> BTreeMap<String, i64> {
    const KINDS: &str = "SELECT kind, COUNT(*) FROM events GROUP BY kind";
    env.follow_switch();
    if let Some(db) = env.postgres_database() {
        let mut c = portcullis_testkit::postgres::server().connect(db);
        let rows = c.query(KINDS, &[]).unwrap();
        return rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    }
    let c = rusqlite::Connection::open(env.ledger_path()).unwrap();
    let mut stmt = c.prepare(KINDS).unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    rows
}

/// A copy of the ledger as it is now (checkpointed first), to come back to with [`restore`]; on
/// PostgreSQL, a database made from the ledger's as a template.
fn snapshot(env: &TestEnv) -> PathBuf {
    env.follow_switch();
    if let Some(db) = env.postgres_database() {
        let copy = format!("{db}_fresh");
        portcullis_testkit::postgres::server().copy_database(db, &copy);
        return PathBuf::from(copy);
    }
    let c = rusqlite::Connection::open(env.ledger_path()).unwrap();
    c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
    drop(c);
    let to = env.path().join("ledger.fresh");
    std::fs::copy(env.ledger_path(), &to).unwrap();
    to
}

/// Put the snapshot back: the killed runs' write-ahead log goes too (SQLite would replay it).
fn restore(env: &TestEnv, from: &Path) {
    if let Some(db) = env.postgres_database() {
        let from = from.to_str().unwrap();
        portcullis_testkit::postgres::server().restore_database(db, from);
        return;
    }
    let db = env.ledger_path();
    for ext in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
    }
    std::fs::copy(from, &db).unwrap();
}

/// Where the kills landed, judged by what each left behind: part of the work committed (or
/// written to git or a tracker), or nothing committed (killed before its first commit, or
/// inside a transaction that SQLite then rolled back).
#[derive(Default, Debug)]
struct Tally {
    kills: usize,
    mid_work: usize,
    completed: usize,
}

/// Kill `run` until `target` kills landed (at most 4 × `target` runs, and at least 60). `run(delay)` runs the
/// command killed after `delay`, true if it ended by itself; `progress` is a measure of what
/// has been written (events, tags, tracker writes); `completed` checks a run that ended by
/// itself against the reference; `fresh` resets to the start. Prints and returns the tally.
#[allow(clippy::too_many_arguments)]
fn kill_loop(
    what: &str,
    env: &TestEnv,
    salt: u64,
    target: usize,
    span: Duration,
    mut run: impl FnMut(Duration) -> bool,
    mut progress: impl FnMut() -> usize,
    mut completed: impl FnMut(),
    mut fresh: impl FnMut(),
) -> Tally {
    let mut rng = rng(salt);
    let mut t = Tally::default();
    // A quarter more than the reference run: runs here vary, and the end of a run (its commit,
    // its exit) must be in reach too.
    // Runs that end before their kill show how long a run takes now: the span follows them
    // (a reference timed under load made most later runs end unkilled, too few kills).
    let mut span_ms = (span.as_millis() as u64 * 5 / 4).max(20);
    let mut runs = 0;
    // A small target (a scaled-down pass) gets a few more runs: its share of short runs varies more.
    let max_runs = (4 * target).max(60);
    while t.kills < target && runs < max_runs {
        runs += 1;
        let delay = Duration::from_millis(rng.gen_range(0..span_ms));
        let before = progress();
        let started = Instant::now();
        if run(delay) {
            let took = started.elapsed().as_millis() as u64 * 5 / 4;
            if took < span_ms {
                span_ms = ((3 * span_ms + took) / 4).max(20);
            }
            t.completed += 1;
            check_ledger(env, &format!("{what}: run {runs} completed"));
            completed();
            fresh();
        } else {
            t.kills += 1;
            t.mid_work += (progress() != before) as usize;
            check_ledger(env, &format!("{what}: kill {} after {delay:?}", t.kills));
        }
    }
    // The last rerun: whatever the kills left, it completes the work.
    assert!(
        run(Duration::from_secs(120)),
        "{what}: the rerun did not end"
    );
    check_ledger(env, &format!("{what}: the last rerun"));
    completed();
    eprintln!(
        "crash {what}: {} kills in {runs} runs over 0–{span_ms} ms at the end: {} left part of the work \
         committed, {} left nothing committed; {} runs completed and matched the reference",
        t.kills,
        t.mid_work,
        t.kills - t.mid_work,
        t.completed + 1
    );
    assert_eq!(
        t.kills, target,
        "{what}: too few runs were long enough to kill"
    );
    t
}

/// How long one uninterrupted run takes here (the kill delays are drawn over it).
fn timed(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

fn demo() -> TestEnv {
    let env = TestEnv::new();
    env.run(&["demo", "--dir", "."]).ok();
    env
}

#[test]
fn sync_from_a_file_killed_anywhere_then_rerun_equals_a_clean_import() {
    let source = demo();
    let export = std::fs::read_to_string(source.path().join("jira-export.json")).unwrap();
    let reference = TestEnv::with_workspace("v23");
    reference.write("export.json", &export);
    let span = timed(|| {
        reference.run(&["sync", "--from-file", "export.json"]).ok();
    });
    let want = (reference.ledger_fingerprint().1, kinds(&reference));
    let env = TestEnv::with_workspace("v23");
    env.write("export.json", &export);
    let start = snapshot(&env);
    kill_loop(
        "sync --from-file",
        &env,
        1,
        kills(40),
        span,
        |d| run_killed(&env, &["sync", "--from-file", "export.json"], &[], d),
        || events(&env) as usize,
        || assert_eq!((env.ledger_fingerprint().1, kinds(&env)), want),
        || restore(&env, &start),
    );
}

#[test]
fn sync_from_jira_killed_anywhere_resumes_and_equals_a_clean_sync() {
    use portcullis_testkit::jira_server::{
        seed_issues_from_json, Config, Fault, FaultRule, JiraServer, User,
    };
    let source = demo();
    let export: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(source.path().join("jira-export.json")).unwrap(),
    )
    .unwrap();
    // Small pages, each a little slow, so that a sync is many committed steps.
    let server = JiraServer::start(
        Config {
            users: vec![User {
                name: "portcullis-bot".into(),
                account_id: "557058:portcullis-bot".into(),
                display_name: "portcullis bot".into(),
                email: "bot@example.org".into(),
                token: "crash-token".into(),
            }],
            max_results_cap: 10,
            ..Config::data_center()
        },
        seed_issues_from_json(export).unwrap(),
        0,
    )
    .unwrap();
    server.add_fault(FaultRule {
        path_contains: "/search".into(),
        method: None,
        times: 1_000_000,
        fault: Fault::Slow { millis: 5 },
    });
    let jira = format!(
        "\n[jira]\nurl = \"{}\"\nflavor = \"datacenter\"\npage_size = 10\n",
        server.url()
    );
    let workspace = || {
        let env = TestEnv::with_workspace("v23");
        let config = std::fs::read_to_string(env.path().join("portcullis.toml")).unwrap();
        std::fs::write(
            env.path().join("portcullis.toml"),
            format!("{config}{jira}"),
        )
        .unwrap();
        env
    };
    let vars = [("PORTCULLIS_JIRA_TOKEN", "crash-token")];
    let reference = workspace();
    let span = timed(|| {
        reference.run_env(&["sync"], &vars).ok();
    });
    let want = (reference.ledger_fingerprint().1, kinds(&reference));
    let env = workspace();
    let start = snapshot(&env);
    kill_loop(
        "sync (Jira)",
        &env,
        6,
        kills(40),
        span,
        |d| run_killed(&env, &["sync"], &vars, d),
        || events(&env) as usize,
        || {
            assert_eq!((env.ledger_fingerprint().1, kinds(&env)), want);
            // Nothing is left to fetch: a further sync records nothing new.
            let again = env.run_env(&["sync", "--format", "json"], &vars);
            let v: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
            assert_eq!(v["new_events"], 0, "{}", again.stdout);
        },
        || restore(&env, &start),
    );
}

/// The demo's repositories and tickets in a ledger that has not been verified yet.
fn unverified_demo() -> TestEnv {
    let env = demo();
    let blank = TestEnv::with_workspace("v23");
    let db = env.ledger_path();
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
    }
    std::fs::copy(blank.ledger_path(), &db).unwrap();
    env.run(&["sync", "--from-file", "jira-export.json"]).ok();
    env
}

#[test]
fn verify_killed_anywhere_leaves_a_sound_ledger_and_reruns() {
    let reference = unverified_demo();
    let span = timed(|| {
        let r = reference.run(&["verify"]);
        assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
    });
    let want = (reference.ledger_fingerprint().1, kinds(&reference));
    let env = unverified_demo();
    let start = snapshot(&env);
    kill_loop(
        "verify",
        &env,
        2,
        kills(40),
        span,
        |d| run_killed(&env, &["verify"], &[], d),
        || events(&env) as usize,
        || {
            assert_eq!((env.ledger_fingerprint().1, kinds(&env)), want);
            // A further run has nothing new to record: the completed one recorded it all.
            let again = env.run(&["verify", "--format", "json"]);
            let v: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
            assert_eq!(v["recorded"]["landings"], 0, "{}", v["recorded"]);
            assert_eq!(v["recorded"]["drift_found"], 0, "{}", v["recorded"]);
        },
        || restore(&env, &start),
    );
}

#[test]
fn cut_apply_killed_anywhere_is_finished_by_a_rerun_with_consistent_tags() {
    let (env, a, b) = crate::release::campaign();
    let start = snapshot(&env);
    let repos = [("pkg", &a), ("other", &b)];
    let tags = || {
        repos
            .iter()
            .filter(|(_, r)| r.b.repo().find_reference("refs/tags/23.0.1").is_ok())
            .count()
    };
    let check = || {
        let run = env.run(&["releases", "--format", "json"]);
        let releases: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let cuts: Vec<&serde_json::Value> = releases
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["manifest"]["tag"] == "23.0.1")
            .collect();
        assert_eq!(cuts.len(), 1, "recorded once: {releases}");
        for (repo, r) in repos {
            let want = cuts[0]["manifest"]["repos"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["repo"] == repo)
                .unwrap()["commit"]
                .as_str()
                .unwrap()
                .to_string();
            let tag = r.b.repo().find_reference("refs/tags/23.0.1").unwrap();
            assert_eq!(
                tag.peel_to_commit().unwrap().id().to_string(),
                want,
                "{repo}"
            );
        }
        // And again: nothing is cut twice; the files are there.
        let again = env.run(&["cut", "23.0.1", "--apply", "--format", "json"]);
        again.ok();
        assert!(
            again.stdout.contains("\"resumed\": true"),
            "{}",
            again.stdout
        );
        assert!(env.path().join("releases/23.0.1/notes.md").is_file());
    };
    let reset = || {
        restore(&env, &start);
        for (_, r) in repos {
            if let Ok(mut t) = r.b.repo().find_reference("refs/tags/23.0.1") {
                t.delete().unwrap();
            }
        }
        let _ = std::fs::remove_dir_all(env.path().join("releases"));
    };
    let span = timed(|| {
        env.run(&["cut", "23.0.1", "--apply"]).ok();
    });
    check();
    reset();
    let stale_locks = std::cell::Cell::new(0);
    kill_loop(
        "cut --apply",
        &env,
        3,
        kills(40),
        span,
        |d| {
            if !run_killed(&env, &["cut", "23.0.1", "--apply"], &[], d) {
                return false;
            }
            // A kill inside libgit2's reference write leaves its lock file, as with git: the
            // rerun must say which file to delete. Do as it says, and run again.
            let err = std::fs::read_to_string(env.path().join("last-run.stderr")).unwrap();
            if let Some(lock) = err
                .split_whitespace()
                .find(|w| w.ends_with(".lock"))
                .filter(|_| err.contains("if none is running there, delete"))
            {
                stale_locks.set(stale_locks.get() + 1);
                std::fs::remove_file(lock).unwrap();
                return run_killed(&env, &["cut", "23.0.1", "--apply"], &[], d * 1000);
            }
            true
        },
        || events(&env) as usize * 10 + tags(),
        check,
        reset,
    );
    eprintln!(
        "crash cut --apply: {} reruns stopped at a lock file a kill left, and named it",
        stale_locks.get()
    );
}

#[test]
fn push_killed_anywhere_never_writes_a_decision_twice_to_jira() {
    use portcullis_testkit::jira_server::{seed_issues_from_json, Config, JiraServer, User};
    let env = demo();
    let export: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(env.path().join("jira-export.json")).unwrap(),
    )
    .unwrap();
    let config = std::fs::read_to_string(env.path().join("portcullis.toml")).unwrap();
    // A new server (the tickets as exported) for each round, the config pointing at it.
    let serve = || {
        let server = JiraServer::start(
            Config {
                users: vec![User {
                    name: "portcullis-bot".into(),
                    account_id: "557058:portcullis-bot".into(),
                    display_name: "portcullis bot".into(),
                    email: "bot@example.org".into(),
                    token: "crash-token".into(),
                }],
                ..Config::data_center()
            },
            seed_issues_from_json(export.clone()).unwrap(),
            0,
        )
        .unwrap();
        std::fs::write(
            env.path().join("portcullis.toml"),
            format!(
                "{config}\n[jira]\nurl = \"{}\"\nflavor = \"datacenter\"\n",
                server.url()
            ),
        )
        .unwrap();
        server
    };
    let server = RefCell::new(serve());
    let start = snapshot(&env);
    let vars = [("PORTCULLIS_JIRA_TOKEN", "crash-token")];
    let writes = || {
        server
            .borrow()
            .requests()
            .iter()
            .filter(|r| r.method != "GET" && !r.path_and_query.contains("/search"))
            .count()
    };
    let check = || {
        // What is left is only what Jira itself holds back (labels changed there after the
        // decision: the demo has a few), never a decision a kill interrupted.
        let run = env.run_env(&["push", "--dry-run"], &vars);
        for l in run
            .stdout
            .lines()
            .filter(|l| l.starts_with("DM-") && !l.contains(": "))
        {
            assert!(l.contains("CONFLICT"), "left unpushed: {}", run.stdout);
        }
        // Each decision's marker appears at most once in its ticket's comments.
        let keys = env.ledger().ticket_keys().unwrap();
        let server = server.borrow();
        for key in keys {
            let Some(issue) = server.issue(&key) else {
                continue;
            };
            let mut seen: BTreeMap<String, usize> = BTreeMap::new();
            for c in &issue.comments {
                if let Some(m) = c.split("[portcullis:").nth(1) {
                    *seen.entry(m.to_string()).or_default() += 1;
                }
            }
            assert!(seen.values().all(|n| *n == 1), "{key}: {seen:?}");
        }
    };
    let span = timed(|| {
        env.run_env(&["push"], &vars);
    });
    check();
    restore(&env, &start);
    *server.borrow_mut() = serve();
    kill_loop(
        "push",
        &env,
        4,
        kills(40),
        span,
        |d| run_killed(&env, &["push"], &vars, d),
        || events(&env) as usize * 1000 + writes(),
        check,
        || {
            restore(&env, &start);
            *server.borrow_mut() = serve();
        },
    );
}

#[test]
fn notify_killed_anywhere_never_posts_a_message_twice() {
    use portcullis_testkit::chat_server::ChatServer;
    let env = demo();
    let config = std::fs::read_to_string(env.path().join("portcullis.toml")).unwrap();
    std::fs::write(
        env.path().join("portcullis.toml"),
        format!(
            "{config}\n[[notify]]\nname = \"team\"\nkind = \"webhook\"\nmin_interval_ms = 100\n"
        ),
    )
    .unwrap();
    let server = RefCell::new(ChatServer::start());
    let url = || format!("{}/hook", server.borrow().url());
    let start = snapshot(&env);
    let run = |d: Duration| {
        let url = url();
        run_killed(
            &env,
            &["notify"],
            &[("PORTCULLIS_NOTIFY_TEAM_URL", url.as_str())],
            d,
        )
    };
    let check = || {
        // A message may arrive twice only under the same idempotency key (the receiver's to
        // collapse); never the same content under two keys, and every key is a distinct message.
        let mut by_key: BTreeMap<String, String> = BTreeMap::new();
        for m in server.borrow().messages() {
            let key = m.header("idempotency-key").unwrap_or("").to_string();
            let body = m.body.to_string();
            if let Some(prev) = by_key.get(&key) {
                assert_eq!(prev, &body, "one key, one message");
            }
            by_key.insert(key, body);
        }
        let mut bodies: Vec<&String> = by_key.values().collect();
        let n = bodies.len();
        assert!(n > 0, "nothing was posted");
        bodies.sort();
        bodies.dedup();
        assert_eq!(bodies.len(), n, "the same message under two keys");
        // And everything due was posted.
        let url = url();
        let again = env.run_env(&["notify"], &[("PORTCULLIS_NOTIFY_TEAM_URL", url.as_str())]);
        again.ok();
        assert!(again.stdout.contains("nothing new"), "{}", again.stdout);
    };
    let span = timed(|| {
        assert!(run(Duration::from_secs(60)));
    });
    check();
    restore(&env, &start);
    *server.borrow_mut() = ChatServer::start();
    kill_loop(
        "notify",
        &env,
        5,
        kills(20),
        span,
        run,
        || events(&env) as usize * 1000 + server.borrow().messages().len(),
        check,
        || {
            restore(&env, &start);
            *server.borrow_mut() = ChatServer::start();
        },
    );
}

/// The chain's hashes, in order.
fn chain(l: &portcullis_ledger::Ledger) -> Vec<String> {
    let mut v = Vec::new();
    l.for_each_event(|e| {
        v.push(e.hash);
        Ok(())
    })
    .unwrap();
    v
}

/// A large import into a PostgreSQL ledger, SIGKILLed while it holds the chain's lock in the
/// middle of its transaction, while other processes commit decisions: everything committed is
/// there (before the import and after it), nothing of the killed transaction is, the chain is
/// whole, and the import run again completes.
#[test]
fn a_writer_killed_mid_transaction_on_postgres_loses_nothing_committed() {
    let env = demo();
    let url = env.use_postgres();
    let (server, db) = {
        let s = portcullis_testkit::postgres::server();
        (s, url.rsplit('/').next().unwrap().to_string())
    };
    let keys: Vec<String> = env
        .ledger()
        .status_rows("v23")
        .unwrap()
        .into_iter()
        .filter(|r| r.state == portcullis_core::workflow::State::Requested)
        .map(|r| r.key)
        .collect();
    // A decision committed before the import.
    env.run(&[
        "decide", "approve", &keys[0], "--note", "before", "--as", "praman",
    ])
    .ok();
    let before = chain(&env.ledger());

    let mut export = ExportBuilder::starting_at(500_000);
    for t in 0..1000 {
        export = export.ticket(
            &format!("DM-{}", 70_000 + t),
            "Big import",
            &[
                ("2022-01-04T09:00:00.000-0700", "dev", "backport-v23"),
                (
                    "2022-01-05T09:00:00.000-0700",
                    "dev",
                    "backport-v23 backport-approved",
                ),
                ("2022-01-06T09:00:00.000-0700", "dev", "backport-v23"),
            ],
        );
    }
    env.write("big.json", &export.build());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    cmd.args(["sync", "--from-file", "big.json"])
        .current_dir(env.path())
        .env_clear()
        .env("PORTCULLIS_NOW", NOW)
        .env("HOME", env.path())
        .env("PORTCULLIS_DB", &url)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut import = cmd.spawn().unwrap();
    // Wait until it holds the chain's advisory lock with rows written: mid-transaction.
    let mut admin = server.connect(&db);
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let held: i64 = admin
            .query_one(
                "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND granted",
                &[],
            )
            .unwrap()
            .get(0);
        if held > 0 {
            break;
        }
        assert!(
            import.try_wait().unwrap().is_none(),
            "the import ended before it was caught mid-transaction"
        );
        assert!(Instant::now() < until, "the import never took the lock");
        std::thread::sleep(Duration::from_millis(5));
    }
    // A decision queues behind the import's lock, and commits once the import is gone.
    let after = std::thread::scope(|s| {
        let decide = s.spawn(|| {
            env.run(&[
                "decide", "approve", &keys[1], "--note", "during", "--as", "praman",
            ])
        });
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            import.try_wait().unwrap().is_none(),
            "the import finished too soon"
        );
        import.kill().unwrap(); // SIGKILL
        import.wait().unwrap();
        decide.join().unwrap()
    });
    after.ok();

    let l = env.ledger();
    let now = chain(&l);
    assert_eq!(
        &now[..before.len()],
        &before[..],
        "what was committed is there"
    );
    assert_eq!(
        now.len(),
        before.len() + 1,
        "only the decision made meanwhile was added"
    );
    assert!(l.events_for_ticket("DM-70000").unwrap().is_empty());
    assert!(l.verify_chain().unwrap().problems.is_empty());
    assert_eq!(l.duplicate_dedup_keys().unwrap(), 0);
    env.run(&["audit"]).ok();
    // Run again, the import completes.
    env.run(&["sync", "--from-file", "big.json"]).ok();
    let l = env.ledger();
    // Its three label changes, and the ticket's fields.
    assert_eq!(l.events_for_ticket("DM-70999").unwrap().len(), 4);
    assert_eq!(&chain(&l)[..now.len()], &now[..]);
    env.run(&["audit"]).ok();
}
