//! Crash tests: the real binary killed with SIGKILL at seeded random points during `sync`,
//! `verify`, `push`, `cut --apply` and `notify` (200 kills in all by default), each kill
//! followed by the checks: SQLite integrity, the hash chain and derived state (`audit`), no
//! duplicate event; then a rerun completes the work, consistently with git and the trackers.
//!
//! `PORTCULLIS_CRASH_SEED` changes the seed; `PORTCULLIS_CRASH_SCALE=10` runs ten times as many
//! kills (the long version: `PORTCULLIS_CRASH_SCALE=10 cargo test --test all crash::`).

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::harness::{TestEnv, NOW};

fn rng(salt: u64) -> ChaCha8Rng {
    let seed = std::env::var("PORTCULLIS_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261124u64);
    ChaCha8Rng::seed_from_u64(seed ^ salt)
}

fn kills(n: usize) -> usize {
    n * std::env::var("PORTCULLIS_CRASH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1usize)
}

/// Run the binary and SIGKILL it after `delay` (unless it ends first). True if it ended by itself.
fn run_killed(env: &TestEnv, args: &[&str], vars: &[(&str, &str)], delay: Duration) -> bool {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    cmd.args(args)
        .current_dir(env.path())
        .env_clear()
        .env("PORTCULLIS_NOW", NOW)
        .env("HOME", env.path())
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
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
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// After a kill: the file is a sound SQLite database, `audit` passes (hash chain, derived state
/// equal to a rebuild), and no event is there twice.
fn check_ledger(env: &TestEnv, what: &str) {
    let c = rusqlite::Connection::open(env.ledger_path()).unwrap();
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok", "{what}");
    let dups: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM (SELECT dedup_key FROM events WHERE dedup_key IS NOT NULL
             GROUP BY dedup_key HAVING COUNT(*) > 1)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(dups, 0, "{what}: duplicate events");
    drop(c);
    let run = env.run(&["audit"]);
    assert_eq!(run.code, 0, "{what}: {}{}", run.stdout, run.stderr);
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
    reference.run(&["sync", "--from-file", "export.json"]).ok();
    let env = TestEnv::with_workspace("v23");
    env.write("export.json", &export);
    let mut rng = rng(1);
    let mut finished = 0;
    for i in 0..kills(60) {
        let delay = Duration::from_millis(rng.gen_range(0..120));
        finished += run_killed(&env, &["sync", "--from-file", "export.json"], &[], delay) as usize;
        check_ledger(&env, &format!("sync kill {i} after {delay:?}"));
    }
    env.run(&["sync", "--from-file", "export.json"]).ok();
    assert_eq!(
        env.ledger_fingerprint().1,
        reference.ledger_fingerprint().1,
        "after the kills and a rerun, the derived state equals a clean import ({finished} runs ended by themselves)"
    );
}

#[test]
fn verify_killed_anywhere_leaves_a_sound_ledger_and_reruns() {
    let env = demo();
    let mut rng = rng(2);
    for i in 0..kills(40) {
        let delay = Duration::from_millis(rng.gen_range(0..600));
        run_killed(&env, &["verify"], &[], delay);
        check_ledger(&env, &format!("verify kill {i} after {delay:?}"));
    }
    let run = env.run(&["verify", "--format", "json"]);
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    // A second run has nothing new to record: the first completed the work.
    let again = env.run(&["verify", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(v["recorded"]["landings"], 0, "{}", v["recorded"]);
    assert_eq!(v["recorded"]["drift_found"], 0, "{}", v["recorded"]);
}

#[test]
fn cut_apply_killed_anywhere_is_finished_by_a_rerun_with_consistent_tags() {
    let (env, a, b) = crate::release::campaign();
    let mut rng = rng(3);
    let mut done = false;
    for i in 0..kills(40) {
        let delay = Duration::from_millis(rng.gen_range(0..250));
        if run_killed(&env, &["cut", "23.0.1", "--apply"], &[], delay) {
            done = true;
        }
        check_ledger(&env, &format!("cut kill {i} after {delay:?}"));
        if done {
            break;
        }
    }
    // Finish it (or learn that it is done), then check the tags against the manifest.
    let run = env.run(&["cut", "23.0.1", "--apply"]);
    assert!(
        run.code == 0 || run.stderr.contains("already cut"),
        "{}{}",
        run.stdout,
        run.stderr
    );
    let run = env.run(&["releases", "--format", "json"]);
    let releases: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let cuts: Vec<&serde_json::Value> = releases
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["manifest"]["tag"] == "23.0.1")
        .collect();
    assert_eq!(cuts.len(), 1, "recorded once: {releases}");
    for (repo, r) in [("pkg", &a), ("other", &b)] {
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
    check_ledger(&env, "after the cut");
}

#[test]
fn push_killed_anywhere_never_writes_a_decision_twice_to_jira() {
    use portcullis::testkit::jira_server::{seed_issues_from_json, Config, JiraServer, User};
    let env = demo();
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
                token: "crash-token".into(),
            }],
            ..Config::data_center()
        },
        seed_issues_from_json(export).unwrap(),
        0,
    )
    .unwrap();
    let config = std::fs::read_to_string(env.path().join("portcullis.toml")).unwrap();
    std::fs::write(
        env.path().join("portcullis.toml"),
        format!(
            "{config}\n[jira]\nurl = \"{}\"\nflavor = \"datacenter\"\n",
            server.url()
        ),
    )
    .unwrap();
    let vars = [("PORTCULLIS_JIRA_TOKEN", "crash-token")];
    let mut rng = rng(4);
    for i in 0..kills(40) {
        let delay = Duration::from_millis(rng.gen_range(0..400));
        run_killed(&env, &["push"], &vars, delay);
        check_ledger(&env, &format!("push kill {i} after {delay:?}"));
    }
    let run = env.run_env(&["push"], &vars);
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
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
    let keys = portcullis::ledger::Ledger::open(&env.ledger_path())
        .unwrap()
        .ticket_keys()
        .unwrap();
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
}

#[test]
fn notify_killed_anywhere_never_posts_a_message_twice() {
    use portcullis::testkit::chat_server::ChatServer;
    let env = demo();
    let config = std::fs::read_to_string(env.path().join("portcullis.toml")).unwrap();
    std::fs::write(
        env.path().join("portcullis.toml"),
        format!("{config}\n[[notify]]\nname = \"team\"\nkind = \"webhook\"\n"),
    )
    .unwrap();
    let server = ChatServer::start();
    let url = format!("{}/hook", server.url());
    let vars = [("PORTCULLIS_NOTIFY_TEAM_URL", url.as_str())];
    let mut rng = rng(5);
    for i in 0..kills(20) {
        let delay = Duration::from_millis(rng.gen_range(0..2500));
        run_killed(&env, &["notify"], &vars, delay);
        check_ledger(&env, &format!("notify kill {i} after {delay:?}"));
    }
    let run = env.run_env(&["notify"], &vars);
    run.ok();
    // A message may arrive twice only under the same idempotency key (the receiver's to
    // collapse); never the same content under two keys, and every key is a distinct message.
    let mut by_key: BTreeMap<String, String> = BTreeMap::new();
    for m in server.messages() {
        let key = m.header("idempotency-key").unwrap_or("").to_string();
        let body = m.body.to_string();
        if let Some(prev) = by_key.get(&key) {
            assert_eq!(prev, &body, "one key, one message");
        }
        by_key.insert(key, body);
    }
    let mut bodies: Vec<&String> = by_key.values().collect();
    let n = bodies.len();
    bodies.sort();
    bodies.dedup();
    assert_eq!(bodies.len(), n, "the same message under two keys");
    // And everything due was posted in the end.
    let again = env.run_env(&["notify"], &vars);
    again.ok();
    assert!(again.stdout.contains("nothing new"), "{}", again.stdout);
}
