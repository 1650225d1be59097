//! The client's pure parts: repositories and keys, addresses, the lean wire types.

use super::*;
use serde_json::json;

#[test]
fn repositories_and_keys() {
    let r = RepoRef::parse("lsst/daf_butler").unwrap();
    assert_eq!(r.key(12), "daf_butler#12");
    assert_eq!(r.full_name(), "lsst/daf_butler");
    assert!(RepoRef::parse("daf_butler").is_err());
    assert!(RepoRef::parse("a/b/c").is_err());
    assert!(RepoRef::parse("lsst/").is_err());
    assert_eq!(split_key("daf_butler#12"), Some(("daf_butler", 12)));
    assert_eq!(split_key("obs.base-x#7"), Some(("obs.base-x", 7)));
    assert_eq!(split_key("DM-33360"), None);
    assert_eq!(split_key("#5"), None);
    assert_eq!(split_key("x#+5"), None);
}

#[test]
fn api_urls_are_checked_and_never_echo_credentials() {
    assert_eq!(
        parse_api_url("https://api.github.com/").unwrap(),
        "https://api.github.com"
    );
    assert_eq!(
        parse_api_url("https://ghe.example.org/api/v3?x=1").unwrap(),
        "https://ghe.example.org/api/v3"
    );
    let e = parse_api_url("https://me:hunter2@api.github.com").unwrap_err();
    assert!(!portcullis_core::error::chain(&e).contains("hunter2"));
    assert!(parse_api_url("ftp://x").is_err());
}

#[test]
fn label_names_are_percent_encoded() {
    assert_eq!(pct_segment("backport-v23"), "backport-v23");
    assert_eq!(pct_segment("needs info/α"), "needs%20info%2F%CE%B1");
}

#[test]
fn lean_wire_types_take_partial_objects() {
    let i: GhIssue = serde_json::from_value(json!({
        "number": 3, "labels": ["a", {"name": "b", "color": "fff"}],
        "user": null, "pull_request": {"url": "x", "merged_at": "2026-11-02T10:00:00Z"}
    }))
    .unwrap();
    assert_eq!(i.label_names(), vec!["a", "b"]);
    assert!(i.pull_request.unwrap().merged_at.is_some());
    let e: GhEvent = serde_json::from_value(json!({
        "id": 9, "event": "unlabeled", "actor": null, "label": {"name": "x"},
        "created_at": "2026-11-02T10:00:00Z"
    }))
    .unwrap();
    assert_eq!(e.label_change(), Some((false, "x")));
    assert_eq!(e.actor_login(), None);
}

#[test]
fn a_bad_address_keeps_the_parse_error_as_its_cause() {
    let e = parse_api_url("not a url").unwrap_err();
    assert_eq!(e.to_string(), "the GitHub address is not a URL");
    let cause = std::error::Error::source(&e).expect("the parse error is kept as the cause");
    assert!(!cause.to_string().is_empty());
    assert!(portcullis_core::error::Diagnostic::hint(&e).is_some());
}

fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/github")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn octocrab_models_convert_into_the_lean_types() {
    let timeline: Vec<models::timelines::TimelineEvent> =
        serde_json::from_str(&fixture("octocrab_issues_list_timeline_events.json")).unwrap();
    let events: Vec<GhEvent> = timeline.into_iter().map(GhEvent::from).collect();
    let labeled = events.iter().find(|e| e.event == "labeled").unwrap();
    assert_eq!(labeled.label_change(), Some((true, "beta")));
    assert_eq!(labeled.actor_login(), Some("github-product-roadmap"));
    assert_eq!(labeled.id, Some(6430296748));
    assert_eq!(
        labeled
            .created_at
            .map(portcullis_core::time::fmt_utc)
            .as_deref(),
        Some("2022-04-13T20:49:34.000Z")
    );
    assert!(events.iter().any(|e| e.event == "referenced"));
    assert_eq!(
        wire::merged_at(&events)
            .map(portcullis_core::time::fmt_utc)
            .as_deref(),
        Some("2014-07-07T16:24:14.000Z")
    );
    let commits: Vec<models::repos::RepoCommit> =
        serde_json::from_str(&fixture("octocrab_pull_request_commits.json")).unwrap();
    let commits: Vec<GhCommit> = commits.into_iter().map(GhCommit::from).collect();
    assert!(!commits.is_empty() && commits.iter().all(|c| c.sha.len() == 40));
    let labels: Vec<models::Label> =
        serde_json::from_str(&fixture("octocrab_issues_remove_label.json")).unwrap();
    let labels: Vec<GhLabel> = labels.into_iter().map(GhLabel::from).collect();
    assert!(labels.iter().all(|l| !l.name().is_empty()));
}
