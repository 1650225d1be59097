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
    let ws = env.workspace();
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
    let mut bot = env
        .command()
        .arg("bot")
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
    let ledger = env.ledger();
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
        let ledger = env.ledger();
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

/// A big export: `tickets` tickets whose labels change `changes` times each (keys from `first`).
fn big_export(first: usize, tickets: usize, changes: usize) -> String {
    let mut b = crate::harness::ExportBuilder::starting_at((first * 100) as u64);
    for t in 0..tickets {
        let key = format!("DM-{}", first + t);
        let steps: Vec<(String, &str, &str)> = (0..changes)
            .map(|c| {
                (
                    format!("2022-01-{:02}T09:{:02}:00.000-0700", 3 + c % 20, c % 60),
                    "dev",
                    if c % 2 == 0 {
                        "backport-v23"
                    } else {
                        "backport-v23 backport-approved"
                    },
                )
            })
            .collect();
        let steps: Vec<(&str, &str, &str)> =
            steps.iter().map(|(a, b, c)| (a.as_str(), *b, *c)).collect();
        b = b.ticket(&key, "Soak", &steps);
    }
    b.build()
}

/// Every event's note (for notes that identify a run).
fn notes(l: &Ledger) -> BTreeMap<String, usize> {
    let mut n = BTreeMap::new();
    l.for_each_event(|e| {
        if let Some(note) = e.note {
            *n.entry(note).or_insert(0) += 1;
        }
        Ok(())
    })
    .unwrap();
    n
}

/// The soak's triage session: the triage screen's own action path ([`App::key`], the keys a
/// member types, with the screen's `LISTEN` reloads) in a process of its own, run by
/// re-executing this test binary (`PORTCULLIS_SOAK_TRIAGE=N|SECS|CONFIG|URL`). It adds a note
/// to a ticket of the queue, again and again, until SECS are up; prints each note it recorded.
/// (In-process keys rather than the pty driver: the same code records the decision, and the
/// check needs to know exactly which notes were recorded, not to read them off a screen.)
#[test]
fn soak_triage_session_child() {
    let Ok(spec) = std::env::var("PORTCULLIS_SOAK_TRIAGE") else {
        return;
    };
    let parts: Vec<&str> = spec.splitn(4, '|').collect();
    let (who, secs) = (parts[0], parts[1].parse::<u64>().unwrap());
    let ws = Workspace::resolve(&Locations {
        config: Some(parts[2].into()),
        db: Some(parts[3].into()),
        ..Default::default()
    })
    .unwrap();
    let mut ledger = ws.open_ledger().unwrap();
    let m = meeting::open_sitting(&ledger, "v23").unwrap().unwrap();
    let changes = ledger
        .listen()
        .unwrap()
        .expect("PostgreSQL announces commits");
    let snap = data::load(&ledger, &ws.policy, &m).unwrap();
    let mut app = App::new(snap, "Mara Lindqvist".into(), false, false);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let (mut i, mut reloads) = (0usize, 0usize);
    while Instant::now() < deadline {
        if changes.take() {
            app.reload(&ledger, &ws.policy).unwrap();
            reloads += 1;
        }
        let queue = app.queue().len();
        assert!(queue > 0, "the queue emptied");
        app.selected[0] = i % queue;
        let note = format!("triage s{who} #{i}");
        let mut keys = vec![KeyCode::Char('n')];
        keys.extend(note.chars().map(KeyCode::Char));
        keys.push(KeyCode::Enter);
        for k in keys {
            let key = KeyEvent::new(k, KeyModifiers::NONE);
            app.key(key, &mut ledger, &ws.policy).unwrap();
        }
        println!("SOAK-NOTED:{note}");
        i += 1;
    }
    println!("SOAK-RELOADS:{reloads}");
}

/// One PostgreSQL ledger shared by several processes for `PORTCULLIS_SOAK_SECS` (10 s by
/// default; 60 s is the documented long run): the bot (sync from the Jira test server, verify
/// and alerts, every second), two triage sessions in processes of their own
/// ([`soak_triage_session_child`]) adding notes to the requests, two CLI deciders on the other
/// tickets, `sync --from-file` imports of new tickets, and `status` and `audit` readers. Every
/// decision and note that succeeded is in the ledger exactly once, every import's events are
/// there, none that failed are, and the chain is whole.
#[test]
fn soak_processes_share_one_postgres_ledger_without_losing_duplicating_or_forking() {
    use portcullis_testkit::jira_server::{seed_issues_from_json, Config, JiraServer, User};
    let secs: u64 = std::env::var("PORTCULLIS_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let env = TestEnv::new();
    env.run(&["demo", "--dir", "."]).ok();
    let url = env.use_postgres();
    let rows = env.ledger().status_rows("v23").unwrap();
    let (queue, keys): (Vec<_>, Vec<_>) = rows
        .into_iter()
        .partition(|r| r.state == portcullis_core::workflow::State::Requested);
    // The CLI deciders decide the tickets that are not requests; the triage sessions note the
    // requests (a note keeps a request in the queue).
    let keys: Vec<String> = keys.into_iter().map(|r| r.key).collect();
    assert!(keys.len() >= 6 && queue.len() >= 2, "{keys:?} {queue:?}");

    // The bot: the Jira test server holds the demo's tickets; sync, verify and alerts each second.
    let export = std::fs::read_to_string(env.path().join("jira-export.json")).unwrap();
    let jira = JiraServer::start(
        Config {
            users: vec![User {
                name: "portcullis-bot".into(),
                account_id: "557058:portcullis-bot".into(),
                display_name: "portcullis bot".into(),
                email: "bot@example.org".into(),
                token: "soak-token".into(),
            }],
            ..Config::data_center()
        },
        seed_issues_from_json(serde_json::from_str(&export).unwrap()).unwrap(),
        0,
    )
    .unwrap();
    let chat = ChatServer::start();
    let config = std::fs::read_to_string(env.path().join("portcullis.toml")).unwrap();
    std::fs::write(
        env.path().join("portcullis.toml"),
        format!(
            "{config}\n[jira]\nurl = \"{}\"\nflavor = \"datacenter\"\n\n[[notify]]\nname = \"team\"\nkind = \"webhook\"\n\n[bot]\nsync_every = \"1s\"\nverify_every = \"1s\"\nalerts_every = \"1s\"\n",
            jira.url()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(env.path().join("bot.log")).unwrap();
    let mut bot = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("bot")
        .current_dir(env.path())
        .env_clear()
        .env("PORTCULLIS_NOW", NOW)
        .env("HOME", env.path())
        .env("PORTCULLIS_DB", &url)
        .env("PORTCULLIS_JIRA_TOKEN", "soak-token")
        .env("PORTCULLIS_NOTIFY_TEAM_URL", format!("{}/hook", chat.url()))
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();

    // The triage sessions resume the sitting opened here.
    {
        let ws = Workspace::resolve(&Locations {
            config: Some(env.path().join("portcullis.toml")),
            db: Some(url.clone().into()),
            ..Default::default()
        })
        .unwrap();
        let mut ledger = ws.open_ledger().unwrap();
        let attendees = ["Mara Lindqvist", "Priya Raman", "tokafor"].map(String::from);
        let date: chrono::NaiveDate = "2026-11-24".parse().unwrap();
        meeting::open(
            &mut ledger,
            &ws.policy,
            "v23",
            date,
            &attendees,
            "Mara Lindqvist",
        )
        .unwrap();
    }
    let sessions: Vec<_> = (0..2)
        .map(|n| {
            let config = env.path().join("portcullis.toml");
            std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "concurrency::soak_triage_session_child",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(
                    "PORTCULLIS_SOAK_TRIAGE",
                    format!("{n}|{secs}|{}|{url}", config.display()),
                )
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();

    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let (decided, imported, reads) = std::thread::scope(|s| {
        let deciders: Vec<_> = (0..2)
            .map(|w| {
                let (env, keys) = (&env, &keys);
                s.spawn(move || {
                    let (mut ok, mut failed) = (Vec::new(), Vec::new());
                    let mut i = 0usize;
                    while Instant::now() < deadline {
                        let key = &keys[(w + 2 * i) % keys.len()];
                        let verb = if i.is_multiple_of(2) {
                            "approve"
                        } else {
                            "reject"
                        };
                        let note = format!("soak w{w} #{i}");
                        let run = env.run(&[
                            "decide", verb, key, "--note", &note, "--as", "praman", "--force",
                        ]);
                        check(&run, "decide");
                        if run.code == 0 {
                            ok.push(note);
                        } else {
                            assert_eq!(run.code, 2, "{}", run.stderr);
                            failed.push(note);
                        }
                        i += 1;
                    }
                    (ok, failed)
                })
            })
            .collect();
        let importer = s.spawn(|| {
            let mut n = 0usize;
            while Instant::now() < deadline {
                let file = format!("soak-{n}.json");
                env.write(&file, &big_export(90_000 + n * 10, 10, 4));
                let run = env.run(&["sync", "--from-file", &file]);
                check(&run, "sync");
                run.ok();
                n += 1;
            }
            n
        });
        let reader = s.spawn(|| {
            let mut n = 0usize;
            while Instant::now() < deadline {
                for args in [&["status"][..], &["audit"][..]] {
                    let run = env.run(args);
                    check(&run, "read");
                    run.ok();
                    n += 1;
                }
            }
            n
        });
        let decided: Vec<_> = deciders.into_iter().map(|d| d.join().unwrap()).collect();
        (decided, importer.join().unwrap(), reader.join().unwrap())
    });
    let mut noted = Vec::new();
    for session in sessions {
        let out = session.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("SOAK-RELOADS:"),
            "triage session: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        noted.extend(
            stdout
                .lines()
                .filter_map(|l| l.strip_prefix("SOAK-NOTED:"))
                .map(str::to_string),
        );
    }
    std::process::Command::new("kill")
        .args(["-TERM", &bot.id().to_string()])
        .status()
        .unwrap();
    let status = bot.wait().unwrap();
    let log = std::fs::read_to_string(env.path().join("bot.log")).unwrap();
    assert_eq!(status.code(), Some(0), "{log}");
    let elapsed = started.elapsed();

    let l = env.ledger();
    let report = l.verify_chain().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.events as i64, l.event_count().unwrap());
    assert_eq!(
        report.last_seq,
        l.event_count().unwrap(),
        "no gap in the chain"
    );
    assert_eq!(l.duplicate_dedup_keys().unwrap(), 0);
    let notes = notes(&l);
    let mut ok_count = 0;
    for (ok, failed) in &decided {
        for n in ok {
            assert_eq!(notes.get(n), Some(&1), "decision `{n}` lost or duplicated");
        }
        for n in failed {
            assert_eq!(notes.get(n), None, "failed decision `{n}` recorded");
        }
        ok_count += ok.len();
    }
    for n in &noted {
        assert_eq!(
            notes.get(n),
            Some(&1),
            "triage note `{n}` lost or duplicated"
        );
    }
    assert!(ok_count > 0 && imported > 0 && reads > 0 && !noted.is_empty());
    // The bot ran its jobs against the shared ledger, and none failed.
    for job in ["sync", "verify", "alerts"] {
        assert!(log.contains(&format!("job=\"{job}\"")), "{job}: {log}");
    }
    assert!(!log.contains("job failed"), "{log}");
    // Every import's tickets are there, with all their label events (and their fields).
    for n in 0..imported {
        for t in 0..10 {
            let key = format!("DM-{}", 90_000 + n * 10 + t);
            let events = l.events_for_ticket(&key).unwrap();
            let labels = events
                .iter()
                .filter(|e| e.kind.starts_with("label."))
                .count();
            // The bot's verify may add its own (drift found on an approval that never landed).
            let imported = events
                .iter()
                .filter(|e| e.kind.starts_with("label.") || e.kind == kind::TICKET_OBSERVED)
                .count();
            assert_eq!((labels, imported), (4, 5), "{key}");
        }
    }
    env.run(&["audit"]).ok();
    eprintln!(
        "soak: {secs} s ({elapsed:?}): {ok_count} decisions, {} triage notes, {imported} imports, {reads} reads, the bot; {} events",
        noted.len(),
        report.events
    );
}
