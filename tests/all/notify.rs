//! `portcullis notify` against the chat receiver over TCP: digests and alerts posted once, the
//! post-and-record sequence interrupted at each point, and webhook URLs kept secret.

use portcullis_testkit::chat_server::ChatServer;

use crate::harness::{Run, TestEnv};

/// The demo workspace with one chat target of `kind` named `team`.
fn demo_with_target(kind: &str, extra: &str) -> TestEnv {
    let env = TestEnv::new();
    env.run(&["demo", "--dir", "."]).ok();
    let config = std::fs::read_to_string(env.path().join("portcullis.toml")).unwrap();
    std::fs::write(
        env.path().join("portcullis.toml"),
        format!("{config}\n[[notify]]\nname = \"team\"\nkind = \"{kind}\"\n{extra}"),
    )
    .unwrap();
    env
}

const SECRET_PATH: &str = "/services/T000/B000/XXXXsecretXXXX";

fn notify(env: &TestEnv, server: &ChatServer, extra_env: &[(&str, &str)]) -> Run {
    let url = format!("{}{SECRET_PATH}", server.url());
    let mut vars = vec![("PORTCULLIS_NOTIFY_TEAM_URL", url.as_str())];
    vars.extend_from_slice(extra_env);
    env.run_env(&["notify"], &vars)
}

fn assert_no_secret(env: &TestEnv, run: &Run) {
    assert!(!run.stdout.contains("secret"), "{}", run.stdout);
    assert!(!run.stderr.contains("secret"), "{}", run.stderr);
    let dump = env.ledger_fingerprint();
    assert!(!dump.1.iter().any(|r| r.contains("secret")));
    let n = env
        .count("SELECT COUNT(*) FROM events WHERE payload LIKE '%secret%' OR note LIKE '%secret%'");
    assert_eq!(n, 0, "a webhook URL reached the ledger");
}

#[test]
fn dry_run_shows_the_digest_and_posts_nothing() {
    let env = demo_with_target("slack", "");
    let server = ChatServer::start();
    let before = env.ledger_fingerprint().0;
    let url = format!("{}{SECRET_PATH}", server.url());
    let run = env.run_env(
        &["notify", "--dry-run"],
        &[("PORTCULLIS_NOTIFY_TEAM_URL", url.as_str())],
    );
    run.ok();
    assert!(
        run.stdout.contains("portcullis digest: v23"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("Readiness"), "{}", run.stdout);
    assert!(run.stdout.contains("dry run"), "{}", run.stdout);
    assert!(server.received().is_empty());
    assert_eq!(
        env.ledger_fingerprint().0,
        before,
        "a dry run records nothing"
    );
    // Without the secret, the target cannot be used: a clear error naming the variable.
    let run = env.run(&["notify"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("PORTCULLIS_NOTIFY_TEAM_URL"),
        "{}",
        run.stderr
    );
}

#[test]
fn digests_and_alerts_are_posted_once() {
    let env = demo_with_target("slack", "");
    let server = ChatServer::start();
    let run = notify(&env, &server, &[]);
    run.ok();
    let first = server.messages();
    // The demo has urgent drift (a revert, a rejected fix landed): alerts, then the digest.
    assert!(first.len() >= 2, "{}", run.stdout);
    assert!(
        first.iter().all(|m| m.path == SECRET_PATH),
        "posted to the webhook"
    );
    let bodies: Vec<String> = first.iter().map(|m| m.body.to_string()).collect();
    assert!(
        bodies.iter().any(|b| b.contains("portcullis alert")),
        "{bodies:?}"
    );
    assert!(
        bodies.last().unwrap().contains("portcullis digest"),
        "{bodies:?}"
    );
    assert_no_secret(&env, &run);
    // Again: nothing new, nothing posted.
    let run = notify(&env, &server, &[]);
    run.ok();
    assert!(run.stdout.contains("nothing new"), "{}", run.stdout);
    assert_eq!(server.messages().len(), first.len());
    // A decision later: the next digest has it, and only it.
    env.run(&[
        "decide",
        "approve",
        "DM-33938",
        "--note",
        "needed for coadds",
        "--as",
        "Priya Raman",
    ])
    .ok();
    let run = notify(&env, &server, &[]);
    run.ok();
    let all = server.messages();
    assert_eq!(all.len(), first.len() + 1, "{}", run.stdout);
    let body = all.last().unwrap().body.to_string();
    assert!(
        body.contains("DM-33938") && body.contains("needed for coadds"),
        "{body}"
    );
    assert!(!body.contains("Landed"), "only what is new: {body}");
}

/// Every delivered body is distinct: nothing was posted twice.
fn assert_no_duplicate(server: &ChatServer) {
    let bodies: Vec<String> = server
        .messages()
        .iter()
        .map(|m| m.body.to_string())
        .collect();
    let mut unique = bodies.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), bodies.len(), "a message was posted twice");
}

#[test]
fn a_crash_after_posting_to_slack_does_not_post_it_again() {
    let env = demo_with_target("slack", "");
    let server = ChatServer::start();
    let run = notify(
        &env,
        &server,
        &[("PORTCULLIS_FAILPOINT", "notify.after_post")],
    );
    assert_eq!(run.code, 137, "{}", run.stderr);
    assert_eq!(server.messages().len(), 1, "the first message went out");
    let run = notify(&env, &server, &[]);
    run.ok();
    assert!(run.stdout.contains("unconfirmed"), "{}", run.stdout);
    assert_no_duplicate(&server);
    // And a third run has nothing left to post.
    let n = server.messages().len();
    notify(&env, &server, &[]).ok();
    assert_eq!(server.messages().len(), n);
}

#[test]
fn a_crash_before_posting_to_slack_loses_at_most_that_message() {
    let env = demo_with_target("slack", "");
    let server = ChatServer::start();
    let run = notify(
        &env,
        &server,
        &[("PORTCULLIS_FAILPOINT", "notify.after_sending")],
    );
    assert_eq!(run.code, 137, "{}", run.stderr);
    assert!(server.messages().is_empty());
    let run = notify(&env, &server, &[]);
    run.ok();
    // Slack has no idempotency key: the interrupted message is not sent again (at most once).
    assert!(run.stdout.contains("unconfirmed"), "{}", run.stdout);
    assert!(!server.messages().is_empty(), "the rest went out");
    assert_no_duplicate(&server);
}

#[test]
fn a_crash_after_posting_to_matrix_is_retried_with_the_same_transaction() {
    let server = ChatServer::start();
    let env = demo_with_target("matrix", "room = \"!backports:example.org\"\n");
    let token = server.matrix_token().to_string();
    let run = env.run_env(
        &["notify"],
        &[
            ("PORTCULLIS_NOTIFY_TEAM_URL", server.url().as_str()),
            ("PORTCULLIS_NOTIFY_TEAM_TOKEN", token.as_str()),
            ("PORTCULLIS_FAILPOINT", "notify.after_post"),
        ],
    );
    assert_eq!(run.code, 137, "{}", run.stderr);
    let run = env.run_env(
        &["notify"],
        &[
            ("PORTCULLIS_NOTIFY_TEAM_URL", server.url().as_str()),
            ("PORTCULLIS_NOTIFY_TEAM_TOKEN", token.as_str()),
        ],
    );
    run.ok();
    assert!(!run.stdout.contains("unconfirmed"), "{}", run.stdout);
    // The first message was sent twice with one transaction id; Matrix kept one.
    let received = server.received();
    let first_txn = received[0].txn_id.clone().unwrap();
    assert_eq!(
        received
            .iter()
            .filter(|r| r.txn_id.as_deref() == Some(&first_txn))
            .count(),
        2
    );
    assert_no_duplicate(&server);
    assert!(!run.stdout.contains(&token) && !run.stderr.contains(&token));
}

#[test]
fn a_target_that_refuses_is_reported_and_retried_next_time() {
    use portcullis_testkit::chat_server::Fault;
    let env = demo_with_target("slack", "");
    // No alerts here: the digest is the first and only message.
    let policy = std::fs::read_to_string(env.path().join("policy.toml")).unwrap();
    assert!(policy.contains("[rules]\n"));
    std::fs::write(
        env.path().join("policy.toml"),
        policy.replace("[rules]\n", "[rules]\nalert = []\n"),
    )
    .unwrap();
    let server = ChatServer::start();
    server.add_fault(Fault::slack_error("channel_not_found"), 1);
    let run = notify(&env, &server, &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains("failed"), "{}", run.stdout);
    assert!(run.stdout.contains("channel_not_found"), "{}", run.stdout);
    assert_no_secret(&env, &run);
    // Refused outright, nothing was delivered: the next run sends it, once.
    assert!(server.messages().is_empty());
    let run = notify(&env, &server, &[]);
    run.ok();
    assert_eq!(server.messages().len(), 1, "{}", run.stdout);
    assert!(server.messages()[0]
        .body
        .to_string()
        .contains("portcullis digest"));
    assert!(!run.stdout.contains("unconfirmed"), "{}", run.stdout);
    assert_no_duplicate(&server);
}

#[test]
fn the_demo_posts_its_digest_to_a_local_receiver() {
    let env = TestEnv::new();
    let run = env.run(&["demo", "--dir", "d", "--notify"]);
    run.ok();
    assert!(
        run.stdout.contains("The receiver got 1 message(s)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("portcullis digest: v23"),
        "{}",
        run.stdout
    );
    // Recorded: a second notify has nothing new for that receiver.
    let c = rusqlite::Connection::open(env.path().join("d/ledger.db")).unwrap();
    let n: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM events WHERE kind = 'digest.posted'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn a_refused_cut_is_an_alert() {
    let env = demo_with_target("slack", "");
    let server = ChatServer::start();
    // Everything up to now is posted first.
    notify(&env, &server, &[]).ok();
    let before = server.messages().len();
    // The release manager tries to cut 23.0.2 for real; the gate refuses.
    let run = env.run(&["cut", "23.0.2", "--apply"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let run = notify(&env, &server, &[]);
    run.ok();
    let new: Vec<String> = server.messages()[before..]
        .iter()
        .map(|m| m.body.to_string())
        .collect();
    assert!(
        new.iter()
            .any(|b| b.contains("cut failed") && b.contains("23.0.2")),
        "{new:?}"
    );
}

/// Regression: the chat poster read `Retry-After` only as seconds; an HTTP date fell back to
/// the short backoff and the retry came early.
#[test]
fn chat_honours_retry_after_as_an_http_date() {
    use portcullis_chat::{Item, Kind, Message, Poster, PosterConfig, Secret, Section, Target};
    use portcullis_testkit::chat_server::Fault;
    use std::time::Duration;

    let server = ChatServer::start();
    server.add_fault(Fault::rate_limit_until(Duration::from_secs(1)), 1);
    let poster = Poster::new(PosterConfig {
        timeout: Duration::from_secs(5),
        max_attempts: 3,
        backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(50),
        min_interval: Duration::ZERO,
        max_retry_after: Duration::from_secs(10),
    })
    .unwrap();
    let target = Target {
        name: "team".into(),
        kind: Kind::Slack,
        url: Secret::new(format!("{}/services/T0/B0/http-date", server.url())),
        room: None,
        token: None,
        min_interval: None,
    };
    let message = Message {
        title: "HTTP dates".into(),
        sections: vec![Section {
            heading: "s".into(),
            items: vec![Item::text("one")],
        }],
        id: "http-date".into(),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let report = rt.block_on(poster.post(&target, &message)).unwrap();
    assert_eq!(report.attempts, 2);
    let got = server.received();
    assert_eq!((got[0].status, got[1].status), (429, 200));
    // The date is rounded up to the second: the wait asked is between 1 and 2 seconds.
    let asked = report.retried_after[0];
    assert!(
        asked >= Duration::from_millis(900) && asked <= Duration::from_millis(2100),
        "{asked:?}"
    );
    let gap = got[1].at.duration_since(got[0].at);
    assert!(gap >= Duration::from_millis(900), "retried after {gap:?}");
}
