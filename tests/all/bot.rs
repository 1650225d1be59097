//! `portcullis bot`: one cycle with `--once`, and the long-running service riding out a chat
//! outage, reporting on `/healthz`, and stopping cleanly on SIGTERM.

use std::time::{Duration, Instant};

use portcullis_testkit::chat_server::{ChatServer, Fault};

use crate::harness::{TestEnv, NOW};

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
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("bot")
        .current_dir(env.path())
        .env_clear()
        .env("PORTCULLIS_NOW", NOW)
        .env("HOME", env.path())
        .env("NO_COLOR", "1")
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
