//! Rendering snapshots and limits, and posting over real TCP to the chat test server.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::render::{
    MATRIX_BYTES, MATTERMOST_CHARS, SLACK_HEADER_CHARS, SLACK_MAX_BLOCKS, SLACK_SECTION_CHARS,
    TEAMS_BYTES, WEBHOOK_BYTES,
};
use super::*;
use portcullis_testkit::chat_server::{ChatServer, Config, Fault, Style, DEFAULT_MATRIX_TOKEN};

/// The secret part of every test webhook URL: it must never show in errors or logs.
const URL_SECRET: &str = "XoXoSeCrEtWeBhOoK42";
const TOKEN_SECRET: &str = "syt_TOKENSECRET_123";

fn sample() -> Message {
    Message {
        title: "v23.0.4: 3 backports <waiting> & one landed".into(),
        id: "digest-2026-05-01".into(),
        sections: vec![
            Section {
                heading: "Waiting for a decision".into(),
                items: vec![
                    Item::link(
                        "PROJ-101 Fix *crash* in `parser` [urgent]",
                        "https://jira.example.org/browse/PROJ-101",
                    ),
                    Item::text("PROJ-102 \"quoted\" & <tagged> text_with_underscores\nsecond line"),
                    Item::link(
                        "PROJ-103 (parens) | pipe",
                        "https://example.org/a b?x=(1)&y=2|3",
                    ),
                ],
            },
            Section {
                heading: "Landed".into(),
                items: vec![Item::text("PROJ-99 landed on v23.0.x")],
            },
            Section {
                heading: "Nothing here".into(),
                items: vec![],
            },
        ],
    }
}

#[test]
fn render_slack() {
    insta::assert_json_snapshot!("render_slack", render(Kind::Slack, &sample()));
}

#[test]
fn render_mattermost() {
    insta::assert_json_snapshot!("render_mattermost", render(Kind::Mattermost, &sample()));
}

#[test]
fn render_teams() {
    insta::assert_json_snapshot!("render_teams", render(Kind::Teams, &sample()));
}

#[test]
fn render_matrix() {
    insta::assert_json_snapshot!("render_matrix", render(Kind::Matrix, &sample()));
}

#[test]
fn render_webhook() {
    insta::assert_json_snapshot!("render_webhook", render(Kind::Webhook, &sample()));
}

/// 3 sections of 300 items, each with a unique marker and a link.
fn long_message() -> Message {
    let sections = (0..3)
        .map(|s| Section {
            heading: format!("Section {s} & <more>"),
            items: (0..300)
                .map(|i| {
                    Item::link(
                        format!("mark{s}x{i:03}y backport of a fix with a fairly long summary & <angle brackets> to make it bigger"),
                        format!("https://jira.example.org/browse/PROJ-{s}{i:03}?focus=comment&x=1"),
                    )
                })
                .collect(),
        })
        .collect();
    Message {
        title: "A very long digest".into(),
        sections,
        id: "long-1".into(),
    }
}

/// The limits of the doc, checked independently of the renderer's own check.
fn assert_within_limits(kind: Kind, part: &Value) {
    let json = part.to_string();
    match kind {
        Kind::Slack => {
            let blocks = part["blocks"].as_array().unwrap();
            assert!(blocks.len() <= SLACK_MAX_BLOCKS, "{} blocks", blocks.len());
            for b in blocks {
                let n = b["text"]["text"].as_str().unwrap().chars().count();
                let max = if b["type"] == "header" {
                    SLACK_HEADER_CHARS
                } else {
                    SLACK_SECTION_CHARS
                };
                assert!(n <= max, "a {} block of {n} characters", b["type"]);
            }
            assert!(part["text"].as_str().is_some_and(|t| !t.is_empty()));
        }
        Kind::Mattermost => {
            assert!(json.chars().count() < 16383);
            assert!(json.chars().count() <= MATTERMOST_CHARS);
        }
        Kind::Teams => {
            assert!(json.len() <= TEAMS_BYTES && json.len() < 28 * 1024);
            assert_eq!(
                part["attachments"][0]["contentType"],
                "application/vnd.microsoft.card.adaptive"
            );
        }
        Kind::Matrix => {
            assert!(json.len() <= MATRIX_BYTES);
            assert_eq!(part["msgtype"], "m.text");
            assert_eq!(part["format"], "org.matrix.custom.html");
        }
        Kind::Webhook => assert!(json.len() <= WEBHOOK_BYTES && json.len() < 64 * 1024),
    }
}

#[test]
fn long_messages_are_split_within_the_limits_of_each_kind() {
    let m = long_message();
    for kind in Kind::ALL {
        let parts = render(kind, &m);
        assert!(parts.len() > 1, "{kind}: {} part(s)", parts.len());
        assert_eq!(parts, render(kind, &m), "{kind}: not deterministic");
        let n = parts.len();
        let mut all = String::new();
        for (i, p) in parts.iter().enumerate() {
            assert_within_limits(kind, p);
            let s = p.to_string();
            let label = format!("(part {} of {n})", i + 1);
            assert!(s.contains(&label), "{kind}: part {} lacks {label}", i + 1);
            if kind == Kind::Webhook {
                assert_eq!(
                    (p["part"].as_u64(), p["parts"].as_u64()),
                    (Some(i as u64 + 1), Some(n as u64))
                );
                assert_eq!(p["id"], "long-1");
            }
            all.push_str(&s);
        }
        // Every item once (Matrix: in the plain body and the HTML), in order.
        let copies = if kind == Kind::Matrix { 2 } else { 1 };
        let mut last = 0;
        for s in 0..3 {
            for i in 0..300 {
                let mark = format!("mark{s}x{i:03}y");
                assert_eq!(all.matches(&mark).count(), copies, "{kind}: {mark}");
                let at = all.find(&mark).unwrap();
                assert!(at >= last, "{kind}: {mark} out of order");
                last = at;
            }
        }
        let continued = if kind == Kind::Webhook {
            "\"continued\":true"
        } else {
            "(continued)"
        };
        assert!(all.contains(continued), "{kind}");
    }
}

#[test]
fn a_huge_item_is_cut_to_fit_one_part() {
    let m = Message {
        title: "t".repeat(10_000),
        sections: vec![Section {
            heading: "h".repeat(10_000),
            items: vec![
                Item::link(
                    "<&>".repeat(40_000),
                    format!("https://x.example/{}", "p".repeat(100_000)),
                ),
                Item::link("short", "https://example.org/ok"),
            ],
        }],
        id: "huge".into(),
    };
    for kind in Kind::ALL {
        let parts = render(kind, &m);
        for p in &parts {
            assert_within_limits(kind, p);
        }
        let all: String = parts.iter().map(Value::to_string).collect();
        assert!(all.contains('…'), "{kind}: not cut");
        assert!(
            !all.contains(&"p".repeat(100_000)),
            "{kind}: the huge link stayed"
        );
        assert!(all.contains("https://example.org/ok"), "{kind}");
    }
}

#[test]
fn a_small_message_is_one_part_without_label() {
    for kind in Kind::ALL {
        let parts = render(kind, &sample());
        assert_eq!(parts.len(), 1);
        assert!(!parts[0].to_string().contains("(part "), "{kind}");
    }
}

#[test]
fn kind_is_snake_case_in_serde() {
    assert_eq!(
        serde_json::to_string(&Kind::Mattermost).unwrap(),
        "\"mattermost\""
    );
    assert_eq!(
        serde_json::from_str::<Kind>("\"webhook\"").unwrap(),
        Kind::Webhook
    );
}

// ---- posting over TCP ----

fn config() -> PosterConfig {
    PosterConfig {
        timeout: Duration::from_millis(500),
        max_attempts: 4,
        backoff: Duration::from_millis(30),
        max_backoff: Duration::from_millis(200),
        min_interval: Duration::ZERO,
        max_retry_after: Duration::from_secs(5),
    }
}

fn poster() -> Poster {
    Poster::new(config()).unwrap()
}

fn target(server: &ChatServer, kind: Kind) -> Target {
    let url = match kind {
        Kind::Matrix => server.url(),
        Kind::Slack => format!("{}/services/T0AAA/B0BBB/{URL_SECRET}", server.url()),
        Kind::Mattermost => format!("{}/hooks/{URL_SECRET}", server.url()),
        Kind::Teams => format!("{}/workflows/{URL_SECRET}/triggers/manual", server.url()),
        Kind::Webhook => format!("{}/portcullis?key={URL_SECRET}", server.url()),
    };
    Target {
        name: format!("test-{kind}"),
        kind,
        url: Secret::new(url),
        room: (kind == Kind::Matrix).then(|| "!ops:chat.test".to_string()),
        token: (kind == Kind::Matrix).then(|| Secret::new(DEFAULT_MATRIX_TOKEN)),
        min_interval: None,
    }
}

fn small(id: &str) -> Message {
    Message {
        id: id.into(),
        ..sample()
    }
}

#[tokio::test]
async fn every_kind_is_delivered_and_accepted() {
    let server = ChatServer::start();
    let p = poster();
    for kind in Kind::ALL {
        let r = p.post(&target(&server, kind), &small("d-1")).await.unwrap();
        assert_eq!((r.parts, r.attempts), (1, 1), "{kind}");
        assert_eq!(r.event_ids.len(), usize::from(kind == Kind::Matrix));
    }
    let msgs = server.messages();
    let styles: Vec<Style> = msgs.iter().map(|m| m.style).collect();
    assert_eq!(
        styles,
        [
            Style::Slack,
            Style::Mattermost,
            Style::Teams,
            Style::Matrix,
            Style::Webhook
        ]
    );
    assert_eq!(msgs[2].status, 202);
    assert_eq!(msgs[3].txn_id.as_deref(), Some("d-1-1"));
    assert_eq!(msgs[3].room.as_deref(), Some("!ops:chat.test"));
    assert_eq!(msgs[4].header("idempotency-key"), Some("d-1-1"));
    assert_eq!(msgs[0].header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn a_split_message_is_sent_in_order_and_accepted_by_the_checking_server() {
    let server = ChatServer::start();
    let p = poster();
    for kind in Kind::ALL {
        let r = p
            .post(&target(&server, kind), &long_message())
            .await
            .unwrap();
        assert!(r.parts > 1);
        assert_eq!(r.attempts, r.parts, "{kind}");
    }
    assert!(server.received().iter().all(|r| r.delivered));
    let txns: Vec<String> = server
        .messages()
        .iter()
        .filter_map(|m| m.txn_id.clone())
        .collect();
    assert_eq!(txns[..2], ["long-1-1".to_string(), "long-1-2".to_string()]);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let server = ChatServer::start();
    server.add_fault(Fault::rate_limit(Duration::from_secs(1)), 1);
    let r = poster()
        .post(&target(&server, Kind::Slack), &small("ra"))
        .await
        .unwrap();
    assert_eq!(r.attempts, 2);
    assert_eq!(r.retried_after, [Duration::from_secs(1)]);
    let got = server.received();
    assert_eq!(got.len(), 2);
    assert_eq!((got[0].status, got[1].status), (429, 200));
    let gap = got[1].at.duration_since(got[0].at);
    assert!(gap >= Duration::from_millis(990), "retried after {gap:?}");
}

#[tokio::test]
async fn matrix_retry_after_ms_is_honoured() {
    let server = ChatServer::start();
    server.add_fault(Fault::rate_limit(Duration::from_millis(300)), 1);
    let r = poster()
        .post(&target(&server, Kind::Matrix), &small("mra"))
        .await
        .unwrap();
    assert_eq!(r.retried_after, [Duration::from_millis(300)]);
    let got = server.received();
    assert!(got[1].at.duration_since(got[0].at) >= Duration::from_millis(290));
    assert_eq!(got[0].txn_id, got[1].txn_id);
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff() {
    let server = ChatServer::start();
    server.add_fault(Fault::server_error(), 2);
    let r = poster()
        .post(&target(&server, Kind::Teams), &small("5xx"))
        .await
        .unwrap();
    assert_eq!(r.attempts, 3);
    assert!(r.retried_after.is_empty());
    let got = server.received();
    let statuses: Vec<u16> = got.iter().map(|g| g.status).collect();
    assert_eq!(statuses, [500, 500, 202]);
    // Backoff 30 ms, then 60 ms.
    assert!(got[1].at.duration_since(got[0].at) >= Duration::from_millis(30));
    assert!(got[2].at.duration_since(got[1].at) >= Duration::from_millis(60));
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn a_hanging_server_times_out_and_the_retry_succeeds() {
    let server = ChatServer::start();
    server.add_fault(Fault::Hang, 1);
    let p = Poster::new(PosterConfig {
        timeout: Duration::from_millis(300),
        ..config()
    })
    .unwrap();
    let started = Instant::now();
    let r = p
        .post(&target(&server, Kind::Mattermost), &small("hang"))
        .await
        .unwrap();
    assert_eq!(r.attempts, 2);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let got = server.received();
    assert_eq!((got[0].status, got[1].status), (0, 200));
}

#[tokio::test]
async fn slack_channel_not_found_is_not_retried() {
    let server = ChatServer::start();
    server.add_fault(Fault::slack_error("channel_not_found"), 1);
    let err = poster()
        .post(&target(&server, Kind::Slack), &small("cnf"))
        .await
        .unwrap_err();
    assert_eq!(server.received().len(), 1);
    assert_eq!(err.code(), Some("channel_not_found"));
    assert!(!err.is_retryable());
    let msg = err.to_string();
    assert!(msg.contains("test-Slack"), "{msg}");
    assert!(msg.contains("channel_not_found"), "{msg}");
    assert!(msg.contains("create a new incoming webhook"), "{msg}");
    assert!(!msg.contains(URL_SECRET), "{msg}");
}

#[tokio::test]
async fn slack_error_codes_are_refused_with_advice() {
    let server = ChatServer::start();
    let p = poster();
    for (code, advice) in [
        ("invalid_payload", "bug"),
        ("action_prohibited", "admin"),
        ("channel_is_archived", "unarchive"),
    ] {
        server.add_fault(Fault::slack_error(code), 1);
        let err = p
            .post(&target(&server, Kind::Slack), &small(code))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(code));
        assert!(err.to_string().contains(advice), "{err}");
    }
    assert_eq!(server.received().len(), 3);
}

#[tokio::test]
async fn matrix_retry_reuses_the_transaction_id() {
    let server = ChatServer::start();
    // The homeserver stores the event, but the answer never comes back.
    server.add_fault(Fault::AcceptThenHang, 1);
    let p = Poster::new(PosterConfig {
        timeout: Duration::from_millis(300),
        ..config()
    })
    .unwrap();
    let r = p
        .post(&target(&server, Kind::Matrix), &small("idem"))
        .await
        .unwrap();
    assert_eq!(r.attempts, 2);
    let got = server.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].txn_id.as_deref(), Some("idem-1"));
    assert_eq!(got[0].txn_id, got[1].txn_id);
    assert_eq!(
        server.messages().len(),
        1,
        "the retry created a second message"
    );
    assert_eq!(r.event_ids, ["$event1:chat.test"]);
}

#[tokio::test]
async fn pacing_keeps_one_request_per_second_per_target() {
    let server = ChatServer::start_with(Config {
        one_per_second: true,
        ..Config::default()
    })
    .unwrap();
    let p = Poster::new(PosterConfig {
        min_interval: Duration::from_secs(1),
        ..config()
    })
    .unwrap();
    let t = target(&server, Kind::Slack);
    // A message in parts, then another message.
    let r1 = p.post(&t, &long_message()).await.unwrap();
    let r2 = p.post(&t, &small("next")).await.unwrap();
    assert!(r1.parts >= 2);
    assert_eq!((r1.attempts, r2.attempts), (r1.parts, 1));
    let got = server.received();
    assert_eq!(got.len(), r1.parts + 1);
    assert!(got.iter().all(|g| g.status == 200), "{got:?}");
    for w in got.windows(2) {
        assert!(w[1].at.duration_since(w[0].at) >= Duration::from_millis(975));
    }
}

#[tokio::test]
async fn a_target_can_set_its_own_pause_between_messages() {
    let server = ChatServer::start();
    let p = Poster::new(PosterConfig {
        min_interval: Duration::from_secs(1),
        ..config()
    })
    .unwrap();
    let t = Target {
        min_interval: Some(Duration::from_millis(200)),
        ..target(&server, Kind::Webhook)
    };
    p.post(&t, &small("one")).await.unwrap();
    p.post(&t, &small("two")).await.unwrap();
    p.post(&t, &small("three")).await.unwrap();
    let got = server.received();
    assert_eq!(got.len(), 3);
    for w in got.windows(2) {
        let gap = w[1].at.duration_since(w[0].at);
        assert!(
            gap >= Duration::from_millis(190) && gap < Duration::from_millis(900),
            "{gap:?}"
        );
    }
}

/// The pause was counted between the starts of two requests; the first one also opened the
/// connection, so it arrived later after its start than the second did, and the service saw
/// two messages 189 ms apart under a 200 ms pause (a failure seen in CI on a busy machine). The
/// pause now counts from the previous answer, so no two messages ever arrive closer.
#[tokio::test]
async fn messages_never_arrive_closer_than_the_pause_even_when_the_first_opens_the_connection() {
    let server = ChatServer::start();
    let p = Poster::new(config()).unwrap();
    let t = Target {
        min_interval: Some(Duration::from_millis(150)),
        ..target(&server, Kind::Slack)
    };
    for text in ["one", "two", "three", "four"] {
        p.post(&t, &small(text)).await.unwrap();
    }
    let got = server.received();
    assert_eq!(got.len(), 4);
    for w in got.windows(2) {
        let gap = w[1].at.duration_since(w[0].at);
        assert!(gap >= Duration::from_millis(150), "{gap:?}");
    }
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn secrets_never_reach_errors_or_logs() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = ChatServer::start();
    let p = Poster::new(PosterConfig {
        timeout: Duration::from_millis(200),
        max_attempts: 2,
        ..config()
    })
    .unwrap();
    let mut errors: Vec<NotifyError> = Vec::new();

    // A port where nothing listens: connection refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut refused = target(&server, Kind::Slack);
    refused.url = Secret::new(format!("http://127.0.0.1:{port}/services/T/B/{URL_SECRET}"));
    errors.push(p.post(&refused, &small("s")).await.unwrap_err());

    // Timeouts, 5xx, a refusal, an echoing error body, a bad Matrix token.
    server.add_fault(Fault::Hang, 2);
    errors.push(
        p.post(&target(&server, Kind::Teams), &small("s"))
            .await
            .unwrap_err(),
    );
    server.add_fault(Fault::server_error(), 2);
    errors.push(
        p.post(&target(&server, Kind::Webhook), &small("s"))
            .await
            .unwrap_err(),
    );
    server.add_fault(Fault::slack_error("channel_is_archived"), 1);
    errors.push(
        p.post(&target(&server, Kind::Slack), &small("s"))
            .await
            .unwrap_err(),
    );
    let echo = format!(
        "{{\"id\":\"x\",\"message\":\"no hook {}/hooks/{URL_SECRET}\"}}",
        server.url()
    );
    server.add_fault(
        Fault::Status {
            status: 400,
            body: echo,
        },
        1,
    );
    errors.push(
        p.post(&target(&server, Kind::Mattermost), &small("s"))
            .await
            .unwrap_err(),
    );
    let mut bad_token = target(&server, Kind::Matrix);
    bad_token.token = Some(Secret::new(TOKEN_SECRET));
    errors.push(p.post(&bad_token, &small("s")).await.unwrap_err());
    // A URL that does not parse.
    let mut bad_url = target(&server, Kind::Slack);
    bad_url.url = Secret::new(format!("hooks.example.org/{URL_SECRET}"));
    errors.push(p.post(&bad_url, &small("s")).await.unwrap_err());

    assert!(
        matches!(errors[0], NotifyError::GaveUp { .. }),
        "{}",
        errors[0]
    );
    assert!(
        errors[0].to_string().contains("could not connect"),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].to_string().contains("no answer within 0.2s"),
        "{}",
        errors[1]
    );
    assert!(errors[2].to_string().contains("HTTP 500"), "{}", errors[2]);
    assert_eq!(errors[5].code(), Some("M_UNKNOWN_TOKEN"));
    assert!(matches!(errors[6], NotifyError::Config { .. }));
    for e in &errors {
        for text in [e.to_string(), format!("{e:?}")] {
            assert!(!text.contains(URL_SECRET), "secret in error: {text}");
            assert!(!text.contains(TOKEN_SECRET), "token in error: {text}");
            assert!(!text.contains("/services/"), "URL in error: {text}");
        }
    }
    drop(_guard);
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("chat notification"),
        "nothing captured: {logs}"
    );
    assert!(!logs.contains(URL_SECRET), "secret in logs: {logs}");
    assert!(!logs.contains(TOKEN_SECRET), "token in logs: {logs}");
    // The Target's Debug hides the URL too.
    assert!(!format!("{:?}", target(&server, Kind::Slack)).contains(URL_SECRET));
}

#[tokio::test]
async fn a_matrix_target_needs_room_and_token() {
    let server = ChatServer::start();
    let mut t = target(&server, Kind::Matrix);
    t.room = None;
    let err = poster().post(&t, &small("x")).await.unwrap_err();
    assert!(err.to_string().contains("needs `room`"), "{err}");
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn a_long_retry_after_fails_instead_of_blocking() {
    let server = ChatServer::start();
    server.add_fault(Fault::rate_limit(Duration::from_secs(60)), 1);
    let err = poster()
        .post(&target(&server, Kind::Slack), &small("long-wait"))
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyError::RateLimited { .. }), "{err}");
    assert!(err.is_retryable());
    assert!(err.to_string().contains("wait 60s"), "{err}");
}

#[test]
fn mentions_and_control_characters_from_ticket_text_do_not_ping_or_escape() {
    let m = Message {
        title: "digest".into(),
        id: "m1".into(),
        sections: vec![Section {
            heading: "New requests".into(),
            items: vec![
                Item::text("@here please look <!channel> @channel @room"),
                Item::text("mail dev@example.org\u{1b}[2J about it"),
            ],
        }],
    };
    for kind in Kind::ALL {
        for body in render(kind, &m) {
            let text = body.to_string();
            for ping in ["\"@here", " @here", "@channel", "@room", "<!channel>"] {
                assert!(!text.contains(ping), "{kind}: {ping} in {text}");
            }
            assert!(
                !text.contains('\u{1b}'),
                "{kind}: escape character in {text}"
            );
            assert!(
                text.contains("dev@example.org"),
                "{kind}: e-mail changed in {text}"
            );
        }
    }
}

#[tokio::test]
async fn transport_errors_and_bad_urls_are_kept_as_causes_without_the_url() {
    let p = Poster::new(PosterConfig {
        max_attempts: 2,
        ..config()
    })
    .unwrap();
    let server = ChatServer::start();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut refused = target(&server, Kind::Slack);
    refused.url = Secret::new(format!("http://127.0.0.1:{port}/services/T/B/{URL_SECRET}"));
    let err = p.post(&refused, &small("s")).await.unwrap_err();
    assert!(
        matches!(err, NotifyError::GaveUp { attempts: 2, .. }),
        "{err}"
    );
    assert!(
        err.to_string().ends_with("last error: could not connect"),
        "{err}"
    );
    assert!(std::error::Error::source(&err).is_some(), "{err:?}");
    let chain = portcullis_core::error::chain(&err);
    assert!(chain.len() > err.to_string().len(), "{chain}");
    for text in [chain, format!("{err:?}")] {
        assert!(!text.contains(URL_SECRET), "secret in error: {text}");
        assert!(!text.contains("/services/"), "URL in error: {text}");
    }

    let mut bad_url = target(&server, Kind::Slack);
    bad_url.url = Secret::new(format!("hooks.example.org/{URL_SECRET}"));
    let err = p.post(&bad_url, &small("s")).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "chat target `test-Slack`: the webhook URL is not a valid URL; check it"
    );
    let cause = std::error::Error::source(&err).expect("the URL parse error");
    assert!(cause.to_string().contains("relative URL"), "{cause}");
    assert!(!format!("{err:?}").contains(URL_SECRET));
}
