//! One ledger, many writers at once: the bot (verify and alerts every second), a triage session
//! deciding in-process, CLI `decide`, `sync --from-file`, `verify`, `status` and `audit` runs.
//! Nothing may reach the user as "database is locked", and no event may be lost or duplicated.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use portcullis::triage::app::App;
use portcullis::triage::data;
use portcullis_core::event::kind;
use portcullis_ledger::Ledger;
use portcullis_ops::meeting;
use portcullis_ops::workspace::{Locations, Workspace};
use portcullis_testkit::chat_server::ChatServer;

use crate::harness::{Run, TestEnv, NOW};

fn check(run: &Run, what: &str) {
    let text = format!("{}{}", run.stdout, run.stderr);
    assert!(
        !text.contains("database is locked") && !text.contains("database is busy"),
        "{what}: {text}"
    );
}

#[test]
fn bot_triage_and_cli_share_the_ledger_without_losing_or_duplicating() {
    let env = TestEnv::new();
    env.run(&["demo", "--dir", "."]).ok();
    let config = std::fs::read_to_string(env.path().join("portcullis.toml")).unwrap();
    std::fs::write(
        env.path().join("portcullis.toml"),
        format!(
            "{config}\n[[notify]]\nname = \"team\"\nkind = \"webhook\"\n\n[bot]\nsync_every = \"1h\"\nverify_every = \"1s\"\nalerts_every = \"1s\"\n"
        ),
    )
    .unwrap();
    let ws = Workspace::resolve(&Locations {
        config: Some(env.path().join("portcullis.toml")),
        ..Default::default()
    })
    .unwrap();
    let server = ChatServer::start();
    let url = format!("{}/hook", server.url());

    // The requests to decide, split between the triage session and two CLI workers.
    let queue: Vec<String> = {
        let ledger = ws.open_ledger().unwrap();
        ledger
            .status_rows("v23")
            .unwrap()
            .into_iter()
            .filter(|r| r.state == portcullis_core::workflow::State::Requested)
            .map(|r| r.key)
            .collect()
    };
    assert!(queue.len() >= 9, "{queue:?}");
    let chunks: Vec<Vec<String>> = queue
        .chunks(queue.len().div_ceil(3))
        .map(<[String]>::to_vec)
        .collect();

    let log = std::fs::File::create(env.path().join("bot.log")).unwrap();
    let mut bot = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("bot")
        .current_dir(env.path())
        .env_clear()
        .env("PORTCULLIS_NOW", NOW)
        .env("HOME", env.path())
        .env("PORTCULLIS_NOTIFY_TEAM_URL", &url)
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(8);
    std::thread::scope(|s| {
        // The triage session: approve its share, one key sequence each.
        let mine = &chunks[0];
        let ws = &ws;
        s.spawn(move || {
            let mut ledger = ws.open_ledger().unwrap();
            let date: chrono::NaiveDate = "2026-11-24".parse().unwrap();
            let (m, _) = meeting::open(
                &mut ledger,
                &ws.policy,
                "v23",
                date,
                // Quorate, with the CLI workers' member attending.
                &[
                    "Mara Lindqvist".to_string(),
                    "Priya Raman".to_string(),
                    "tokafor".to_string(),
                ],
                "Mara Lindqvist",
            )
            .unwrap();
            let snap = data::load(&ledger, &ws.policy, &m).unwrap();
            let mut app = App::new(snap, "Mara Lindqvist".into(), false, false);
            for key in mine {
                let i = app.queue().iter().position(|r| &r.key == key).unwrap();
                app.selected[0] = i;
                let mut keys = vec![KeyCode::Char('a')];
                keys.extend(format!("triage {key}").chars().map(KeyCode::Char));
                keys.push(KeyCode::Enter);
                for k in keys {
                    app.key(
                        KeyEvent::new(k, KeyModifiers::NONE),
                        &mut ledger,
                        &ws.policy,
                    )
                    .unwrap();
                }
                assert!(app.status.contains("approve"), "{}", app.status);
            }
        });
        // Two CLI workers deciding their shares.
        for (w, share) in chunks[1..].iter().enumerate() {
            let env = &env;
            s.spawn(move || {
                for key in share {
                    let note = format!("cli{w} {key}");
                    let run = env.run(&[
                        "decide",
                        "needs-info",
                        key,
                        "--note",
                        &note,
                        "--as",
                        "Priya Raman",
                    ]);
                    check(&run, "decide");
                    run.ok();
                }
            });
        }
        // Readers and other writers, until the deadline.
        let env = &env;
        s.spawn(move || {
            let export = std::fs::read_to_string(env.path().join("jira-export.json")).unwrap();
            env.write("again.json", &export);
            while Instant::now() < deadline {
                for args in [
                    &["status"][..],
                    &["sync", "--from-file", "again.json"][..],
                    &["verify", "--format", "json"][..],
                    &["audit"][..],
                ] {
                    let run = env.run(args);
                    check(&run, args[0]);
                    assert!(
                        run.code == 0 || (args[0] == "verify" && run.code == 1),
                        "{args:?}: {}",
                        run.stderr
                    );
                }
            }
        });
    });

    // Stop the bot cleanly.
    std::process::Command::new("kill")
        .args(["-TERM", &bot.id().to_string()])
        .status()
        .unwrap();
    let status = bot.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let log = std::fs::read_to_string(env.path().join("bot.log")).unwrap();
    assert!(!log.contains("database is locked"), "{log}");

    // Every decision is there exactly once; no event twice; the ledger is whole.
    let ledger = Ledger::open(&env.ledger_path()).unwrap();
    let mut notes: BTreeMap<String, usize> = BTreeMap::new();
    for e in ledger.events_of_kinds(&[kind::DECISION]).unwrap() {
        if let Some(n) = e.note {
            *notes.entry(n).or_default() += 1;
        }
    }
    for key in &chunks[0] {
        assert_eq!(notes.get(&format!("triage {key}")), Some(&1), "{key}");
    }
    for (w, share) in chunks[1..].iter().enumerate() {
        for key in share {
            assert_eq!(notes.get(&format!("cli{w} {key}")), Some(&1), "{key}");
        }
    }
    let dups: i64 = ledger.duplicate_dedup_keys().unwrap();
    assert_eq!(dups, 0);
    let run = env.run(&["audit"]);
    run.ok();
    assert!(run.stdout.contains("hash chain: ok"), "{}", run.stdout);
}

/// Regression: `audit` read the stored derived state and the events it rebuilds it from in two
/// snapshots, so a decision committed in between made it report a difference (exit 1) that was
/// not there. Found by the concurrency test under load.
#[test]
fn audit_reads_one_snapshot_while_another_process_writes() {
    let env = TestEnv::new();
    env.run(&["demo", "--dir", "."]).ok();
    let keys: Vec<String> = {
        let ledger = Ledger::open(&env.ledger_path()).unwrap();
        ledger
            .status_rows("v23")
            .unwrap()
            .into_iter()
            .filter(|r| r.state == portcullis_core::workflow::State::Requested)
            .map(|r| r.key)
            .collect()
    };
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let (env, stop) = (&env, &stop);
        s.spawn(move || {
            // Writes, as fast as decisions go.
            for key in keys.iter().cycle().take(200) {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                env.run(&[
                    "decide",
                    "needs-info",
                    key,
                    "--note",
                    "again",
                    "--force",
                    "--as",
                    "Priya Raman",
                ]);
            }
        });
        for i in 0..15 {
            let run = env.run(&["audit"]);
            assert_eq!(run.code, 0, "audit {i}: {}{}", run.stdout, run.stderr);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
}
