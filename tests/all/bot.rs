//! `portcullis bot`: one cycle with `--once`, and the long-running service riding out a chat
//! outage, reporting on `/healthz`, and stopping cleanly on SIGTERM.

use std::time::{Duration, Instant};

use portcullis_testkit::chat_server::{ChatServer, Fault};

use crate::harness::TestEnv;

fn demo_with_bot(bot: &str) -> TestEnv {
    let env = TestEnv::new();
    env.run(&["demo", "--dir", "."]).ok();
    let config = std::fs::read_to_string(env.path().join("portcullis.toml")).unwrap();
    std::fs::write(
        env.path().join("portcullis.toml"),
        format!("{config}\n[[notify]]\nname = \"team\"\nkind = \"slack\"\n\n[bot]\n{bot}"),
    )
    .unwrap();
    env
}

#[test]
fn once_runs_every_job_and_posts_nothing_twice() {
    let env = demo_with_bot("");
    let server = ChatServer::start();
    let url = format!("{}/hooks/secret-part", server.url());
    let vars = [("PORTCULLIS_NOTIFY_TEAM_URL", url.as_str())];
    let run = env.run_env(&["bot", "--once"], &vars);
    run.ok();
    for job in ["sync:", "verify:", "alerts:", "digest:"] {
        assert!(run.stdout.contains(job), "{job} missing: {}", run.stdout);
    }
    assert!(
        run.stdout.contains("no [jira] or [github] configured"),
        "{}",
        run.stdout
    );
    let posted = server.messages().len();
    assert!(posted >= 2, "alerts and a digest: {}", run.stdout);
    let run = env.run_env(&["bot", "--once"], &vars);
    run.ok();
    assert!(
        run.stdout.contains("alerts: 0 alerts posted"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("digest: 0 digest posted"),
        "{}",
        run.stdout
    );
    assert_eq!(server.messages().len(), posted);
    assert!(!run.stdout.contains("secret-part") && !run.stderr.contains("secret-part"));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET /healthz`, over a plain socket.
fn healthz(port: u16) -> Option<serde_json::Value> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let body = text.split_once("\r\n\r\n")?.1;
    serde_json::from_str(body).ok()
}

#[test]
fn the_service_rides_out_a_chat_outage_reports_health_and_stops_on_sigterm() {
    let port = free_port();
    let env = demo_with_bot(&format!(
        "sync_every = \"1h\"\nverify_every = \"2s\"\nalerts_every = \"1s\"\nhealthz = \"127.0.0.1:{port}\"\n"
    ));
    let server = ChatServer::start();
    // The chat service is down for the first two requests.
    server.add_fault(Fault::slack_error("action_prohibited"), 2);
    let url = format!("{}/hooks/secret-part", server.url());
    let log = std::fs::File::create(env.path().join("bot.log")).unwrap();
    let mut child = env
        .command()
        .arg("bot")
        .env("PORTCULLIS_NOTIFY_TEAM_URL", &url)
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    // The alerts get through once the outage is over, and verify runs again and again.
    let start = Instant::now();
    let mut last = None;
    while start.elapsed() < Duration::from_secs(90) {
        if let Some(status) = child.try_wait().unwrap() {
            let log = std::fs::read_to_string(env.path().join("bot.log")).unwrap_or_default();
            panic!("the bot exited early ({status}): {log}");
        }
        if let Some(h) = healthz(port) {
            let alerts_ok = h["jobs"]["alerts"]["last_ok"].is_string();
            let verify_runs = h["jobs"]["verify"]["runs"].as_u64().unwrap_or(0);
            let failures = h["jobs"]["alerts"]["failures"].as_u64().unwrap_or(0);
            last = Some(h.clone());
            if alerts_ok && verify_runs >= 2 && failures >= 1 && server.messages().len() >= 2 {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let h = last.expect("healthz answered");
    assert!(
        h["jobs"]["alerts"]["failures"].as_u64().unwrap() >= 1,
        "{h}"
    );
    assert!(h["jobs"]["alerts"]["last_ok"].is_string(), "{h}");
    assert!(h["jobs"]["verify"]["runs"].as_u64().unwrap() >= 2, "{h}");
    assert!(
        server.messages().len() >= 2,
        "alerts posted after the outage"
    );
    // SIGTERM: a clean stop.
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code();
        }
        assert!(Instant::now() < deadline, "the bot did not stop");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(code, Some(0));
    let log = std::fs::read_to_string(env.path().join("bot.log")).unwrap();
    assert!(log.contains("bot stopped"), "{log}");
    assert!(log.contains("job failed; retrying with backoff"), "{log}");
    assert!(
        !log.contains("secret-part"),
        "the webhook URL is a secret: {log}"
    );
    // One line per event.
    assert!(
        log.lines()
            .all(|l| l.contains(" INFO ") || l.contains(" WARN ")),
        "{log}"
    );
    // Nothing was posted twice.
    let bodies: Vec<String> = server
        .messages()
        .iter()
        .map(|m| m.body.to_string())
        .collect();
    let mut unique = bodies.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), bodies.len());
}

/// Change line `line` of `file` on `branch` of the clone at `repo` (which stays on `main`).
fn commit_on_branch(repo: &std::path::Path, branch: &str, file: &str, line: usize, text: &str) {
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args([
                "-c",
                "user.name=Rel Manager",
                "-c",
                "user.email=rm@example.org",
            ])
            .args(args)
            .current_dir(repo)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
    };
    git(&["checkout", "-q", branch]);
    let path = repo.join(file);
    let old = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<&str> = old.lines().collect();
    lines[line - 1] = text;
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    git(&[
        "commit",
        "-q",
        "-am",
        "Edit the core scale on the release branch",
    ]);
    git(&["checkout", "-q", "main"]);
}

/// `[backport] bot = true`: a round backports a newly approved ticket whose picks are clean
/// (a branch only: no `[github]`), posts a conflicting one to chat naming the author of the
/// main-side commit to ask, and records both; the next round does nothing again. With the
/// policy's default (`bot = false`) the job does nothing.
#[test]
fn the_bot_backports_clean_approvals_and_posts_each_conflict_once() {
    let env = demo_with_bot("");
    let server = ChatServer::start();
    let url = format!("{}/hooks/secret-part", server.url());
    let vars = [("PORTCULLIS_NOTIFY_TEAM_URL", url.as_str())];
    for (key, why) in [
        ("DM-32509", "Needed for the corner rafts"),
        ("DM-32526", "Guards makeWarp"),
    ] {
        env.run(&["decide", "approve", key, "--note", why]).ok();
    }
    // Off by default: the job says so and writes nothing.
    let run = env.run_env(&["bot", "--once"], &vars);
    assert!(
        run.stdout
            .contains("backport: not enabled ([backport] bot = false in the policy)"),
        "{}",
        run.stdout
    );
    let obs = env.path().join("repos/obs_lsst");
    let branches = |repo: &std::path::Path| -> Vec<String> {
        let r = git2::Repository::open(repo).unwrap();
        r.branches(Some(git2::BranchType::Local))
            .unwrap()
            .map(|b| b.unwrap().0.name().unwrap().unwrap().to_string())
            .collect()
    };
    assert!(!branches(&obs).contains(&"tickets/DM-32526-v23".to_string()));
    // DM-32526's main-side commit in obs_lsst changed line 10 of core.py; the release branch
    // changes it too meanwhile, so its pick conflicts there.
    commit_on_branch(&obs, "v23.0.x", "python/pkg/core.py", 10, "    scale = 1.0");
    let policy = std::fs::read_to_string(env.path().join("policy.toml")).unwrap();
    std::fs::write(
        env.path().join("policy.toml"),
        format!("{policy}\n[backport]\nbot = true\n"),
    )
    .unwrap();
    let before = server.messages().len();
    let run = env.run_env(&["bot", "--once"], &vars);
    run.ok();
    assert!(
        run.stdout.contains(
            "backport: 1 backported (DM-32509 on v23), 1 conflict(s) posted (DM-32526 on v23), 0 left for a person"
        ),
        "{}",
        run.stdout
    );
    // DM-32509's branch is written where its fix is; nothing of DM-32526 is.
    let all: Vec<String> = [
        "daf_butler",
        "pipe_tasks",
        "meas_algorithms",
        "ip_diffim",
        "obs_lsst",
        "ctrl_bps",
    ]
    .iter()
    .flat_map(|r| branches(&env.path().join("repos").join(r)))
    .collect();
    assert!(all.contains(&"tickets/DM-32509-v23".to_string()), "{all:?}");
    assert!(
        !all.contains(&"tickets/DM-32526-v23".to_string()),
        "{all:?}"
    );
    let posted: Vec<String> = server.messages()[before..]
        .iter()
        .map(|m| m.body.to_string())
        .filter(|b| b.contains("does not backport cleanly"))
        .collect();
    assert_eq!(posted.len(), 1, "{posted:?}");
    let text = &posted[0];
    for want in [
        "DM-32526",
        "obs_lsst",
        "python/pkg/core.py",
        "ask Test Dev (dev@example.org), who wrote it on main",
        "portcullis backport DM-32526 --line v23",
    ] {
        assert!(text.contains(want), "{want} missing from {text}");
    }
    // Recorded: the clean backport's events and the bot's conflict (no worktree).
    let history = env.run(&["history", "DM-32526", "--format", "json"]);
    assert!(
        history.stdout.contains("backport.conflict"),
        "{}",
        history.stdout
    );
    let history = env.run(&["history", "DM-32509", "--format", "json"]);
    assert!(
        history.stdout.contains("backport.picked"),
        "{}",
        history.stdout
    );
    let list = env.run(&["backports", "--format", "json"]);
    let list: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    let state = |key: &str, repo: &str| {
        list["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["key"] == key)
            .and_then(|t| {
                t["repos"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|r| r["repo"] == repo)
            })
            .map(|r| r["state"].as_str().unwrap().to_string())
    };
    assert_eq!(state("DM-32526", "obs_lsst").as_deref(), Some("conflict"));
    // A second round: nothing picked, nothing posted again.
    let messages = server.messages().len();
    let run = env.run_env(&["bot", "--once"], &vars);
    run.ok();
    assert!(
        run.stdout
            .contains("backport: 0 backported, 0 conflict(s) posted, 0 left for a person"),
        "{}",
        run.stdout
    );
    let again = server.messages()[messages..]
        .iter()
        .filter(|m| m.body.to_string().contains("does not backport cleanly"))
        .count();
    assert_eq!(again, 0);
    assert!(!run.stdout.contains("secret-part") && !run.stderr.contains("secret-part"));
}
