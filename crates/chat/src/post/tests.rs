//! The poster's unit tests: scrubbing, classifying answers, percent-encoding.

use super::answer::{classify, Outcome};
use super::*;
use crate::Secret;
use reqwest::StatusCode;

fn target(kind: Kind) -> Target {
    Target {
        name: "t".into(),
        kind,
        url: Secret::new("https://hooks.example.org/services/T000/B000/SECRETSECRET"),
        room: Some("!r:example.org".into()),
        token: Some(Secret::new("tok-secret")),
        min_interval: None,
    }
}

#[test]
fn retry_after_parses_seconds_and_http_dates() {
    let wait = |v: &str| {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, v.parse().unwrap());
        portcullis_http::retry_after_now(StatusCode::TOO_MANY_REQUESTS, &h)
    };
    assert_eq!(wait("2"), Some(Duration::from_secs(2)));
    assert_eq!(wait(" 0.5 "), Some(Duration::from_millis(500)));
    // A date in the past: retry now.
    assert_eq!(wait("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
}

#[test]
fn scrub_removes_url_path_and_token() {
    let t = target(Kind::Slack);
    let s = scrub(
        "failed for https://hooks.example.org/services/T000/B000/SECRETSECRET and SECRETSECRET, tok-secret",
        &t,
    );
    assert!(
        !s.contains("SECRETSECRET") && !s.contains("tok-secret"),
        "{s}"
    );
}

#[test]
fn classify_matrix_rate_limit_uses_retry_after_ms() {
    let t = target(Kind::Matrix);
    let o = classify(
        &t,
        StatusCode::TOO_MANY_REQUESTS,
        Some(Duration::from_secs(9)),
        r#"{"errcode":"M_LIMIT_EXCEEDED","retry_after_ms":250}"#,
    );
    assert!(
        matches!(o, Outcome::RateLimited { wait: Some(w), .. } if w == Duration::from_millis(250))
    );
}

#[test]
fn classify_slack_200_without_ok_is_refused() {
    let t = target(Kind::Slack);
    let o = classify(&t, StatusCode::OK, None, "<html>");
    assert!(matches!(o, Outcome::Refused { .. }));
    assert!(matches!(
        classify(&target(Kind::Teams), StatusCode::ACCEPTED, None, ""),
        Outcome::Delivered(None)
    ));
}

#[test]
fn percent_encoding_of_room_and_txn() {
    assert_eq!(percent_encode("!abc:example.org"), "%21abc%3Aexample.org");
    assert_eq!(percent_encode("digest-1"), "digest-1");
}
