//! The client's unit tests: addresses, comments, and the request loop against a scripted
//! server (rate limits, server errors, malformed JSON).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use reqwest::header::HeaderMap;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use portcullis_core::error::Diagnostic;

use super::call::rate_limit_wait;
use super::*;

#[test]
fn base_urls_are_checked_and_never_echo_credentials() {
    assert_eq!(
        parse_base_url("https://jira.example.org").unwrap().as_str(),
        "https://jira.example.org/"
    );
    assert_eq!(
        parse_base_url("https://example.org/jira?x=1")
            .unwrap()
            .as_str(),
        "https://example.org/jira/"
    );
    let e = parse_base_url("https://me:hunter2@jira.example.org").unwrap_err();
    assert!(
        !portcullis_core::error::chain(&e).contains("hunter2")
            && !format!("{e:?}").contains("hunter2")
    );
    assert!(parse_base_url("ftp://x").is_err());
    assert!(parse_base_url("not a url").is_err());
}

#[test]
fn a_bad_base_url_keeps_the_parse_error_as_its_cause() {
    let e = parse_base_url("not a url").unwrap_err();
    assert_eq!(e.to_string(), "the Jira address is not a URL");
    let cause = std::error::Error::source(&e).expect("the url parse error");
    assert!(cause.to_string().contains("relative URL"), "{cause}");
    assert!(Diagnostic::hint(&e).is_some_and(|h| h.contains("jira.url")));
}

#[test]
fn rate_limits_wait_for_retry_after_or_the_iso_reset_on_429_and_503() {
    let now = Utc::now();
    let mut h = HeaderMap::new();
    h.insert("retry-after", "3".parse().unwrap());
    assert_eq!(rate_limit_wait(&h, now), Some(Duration::from_secs(3)));
    // Jira's reset is ISO-8601 and comes without `X-RateLimit-Remaining: 0`; it counts on a
    // 503 as much as on a 429.
    let mut h = HeaderMap::new();
    let reset = (now + chrono::Duration::seconds(10)).to_rfc3339();
    h.insert("x-ratelimit-reset", reset.parse().unwrap());
    assert_eq!(rate_limit_wait(&h, now), Some(Duration::from_secs(10)));
    assert_eq!(rate_limit_wait(&HeaderMap::new(), now), None);
}

#[test]
fn the_retry_policy_maps_the_options() {
    let opts = ClientOptions {
        max_retries: 2,
        base_delay: Duration::from_millis(100),
        max_backoff: Duration::from_secs(3),
        max_wait: Duration::from_secs(40),
        ..ClientOptions::default()
    };
    let p = opts.retry_policy();
    assert_eq!(p.attempts(), 3);
    assert_eq!(p.max_server_wait, Duration::from_secs(40));
    // Equal jitter: each backoff is between half the doubling and the whole of it.
    for attempt in 1..=6 {
        let full = Duration::from_millis(100 * (1 << (attempt - 1))).min(Duration::from_secs(3));
        let b = p.backoff(attempt);
        assert!(b <= full && b >= full / 2, "{attempt}: {b:?}");
    }
}

#[test]
fn secrets_do_not_debug_print() {
    let s = Secret::new("abc123");
    assert_eq!(format!("{s:?}"), "Secret(***)");
}

#[test]
fn comment_text_reads_v2_and_adf_bodies() {
    assert_eq!(comment_text(&json!({"body": "plain"})), "plain");
    let adf = json!({"body": {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": "hello "}, {"type": "text", "text": "world"}]}
    ]}});
    assert_eq!(comment_text(&adf).trim(), "hello world");
}

/// An HTTP/1.1 server that answers its connections with `answers`, one each, in order, and
/// records when each request arrived.
async fn serve(answers: Vec<String>) -> (String, Arc<Mutex<Vec<Instant>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        for answer in answers {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = conn.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
            }
            log.lock().unwrap().push(Instant::now());
            conn.write_all(answer.as_bytes()).await.unwrap();
            conn.shutdown().await.ok();
        }
    });
    (url, seen)
}

fn answer(status: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut s = format!("HTTP/1.1 {status}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n", body.len());
    for (k, v) in headers {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    s.push_str("\r\n");
    s.push_str(body);
    s
}

const COMMENTS: &str = r#"{"comments":[{"body":"hi"}],"total":1}"#;

async fn client(url: &str, max_retries: u32) -> JiraClient {
    let opts = ClientOptions {
        timeout: Duration::from_secs(5),
        max_retries,
        base_delay: Duration::from_millis(1),
        max_backoff: Duration::from_millis(2),
        max_wait: Duration::from_secs(30),
    };
    let (client, account) = JiraClient::connect(url, Some(Flavor::DataCenter), None, opts)
        .await
        .unwrap();
    assert!(account.is_none());
    client
}

#[tokio::test]
async fn a_429_with_only_an_iso_reset_waits_until_the_reset() {
    let reset = (Utc::now() + chrono::Duration::milliseconds(1200))
        .to_rfc3339_opts(SecondsFormat::Millis, true);
    let (url, seen) = serve(vec![
        answer(
            "429 Too Many Requests",
            &[("x-ratelimit-reset", &reset)],
            r#"{"errorMessages":["Rate limit exceeded."]}"#,
        ),
        answer("200 OK", &[], COMMENTS),
    ])
    .await;
    let got = client(&url, 3).await.comment_bodies("DM-1").await.unwrap();
    assert_eq!(got, ["hi"]);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    let waited = seen[1].duration_since(seen[0]);
    assert!(waited >= Duration::from_millis(800), "{waited:?}");
}

#[tokio::test]
async fn a_rate_limit_asking_too_long_fails_at_once() {
    let (url, seen) = serve(vec![answer(
        "429 Too Many Requests",
        &[("retry-after", "600")],
        "{}",
    )])
    .await;
    let e = client(&url, 3)
        .await
        .comment_bodies("DM-1")
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "reading comments: Jira at {url} asks to wait 600s before the next request (429), longer than portcullis waits"
        )
    );
    assert_eq!(
        Diagnostic::hint(&e),
        Some("run again later; nothing was lost")
    );
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_long_rate_limit_on_the_last_attempt_is_a_rate_limit_still_in_force() {
    let (url, seen) = serve(vec![
        answer("503 Service Unavailable", &[("retry-after", "0")], "{}"),
        answer("429 Too Many Requests", &[("retry-after", "600")], "{}"),
    ])
    .await;
    let e = client(&url, 1)
        .await
        .comment_bodies("DM-1")
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "reading comments: Jira at {url} is rate limiting (429) and still was after 2 attempts"
        )
    );
    assert_eq!(e.exit_code(), 2);
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn server_errors_are_retried_then_summarised() {
    let boom = r#"{"errorMessages":["boom"],"errors":{}}"#;
    let (url, seen) = serve(vec![
        answer("500 Internal Server Error", &[], boom),
        answer("502 Bad Gateway", &[], boom),
    ])
    .await;
    let e = client(&url, 1)
        .await
        .comment_bodies("DM-1")
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("reading comments: Jira at {url} keeps failing (502: boom) after 2 attempts")
    );
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn malformed_json_is_retried_and_keeps_the_parse_error_as_its_cause() {
    let (url, _) = serve(vec![
        answer("200 OK", &[], r#"{"comments":[{"bo"#),
        answer("200 OK", &[], COMMENTS),
    ])
    .await;
    let got = client(&url, 1).await.comment_bodies("DM-1").await.unwrap();
    assert_eq!(got, ["hi"]);

    let (url, _) = serve(vec![answer("200 OK", &[], r#"{"comments":[{"bo"#)]).await;
    let e = client(&url, 0)
        .await
        .comment_bodies("DM-1")
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "reading comments: Jira at {url} sent malformed JSON for /rest/api/2/issue/DM-1/comment (line 1, column 17)"
            .replace("{url}", &url)
    );
    let cause = std::error::Error::source(&e).expect("the serde_json error");
    assert!(cause.to_string().contains("EOF"), "{cause}");
}

#[tokio::test]
async fn a_dropped_connection_keeps_the_transport_error_as_its_cause() {
    // Nothing listens on the port once the listener is dropped.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let e = client(&url, 1)
        .await
        .comment_bodies("DM-1")
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("reading comments: no complete answer from Jira at {url} (connection failed) after 2 attempts")
    );
    assert!(std::error::Error::source(&e).is_some());
}
