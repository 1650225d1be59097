//! End-to-end checks over real TCP with reqwest.

use std::collections::BTreeSet;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::*;

const REPO: &str = "acme/widgets";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0)
        .single()
        .expect("valid time")
}

fn iso(t: DateTime<Utc>) -> String {
    model::fmt_time(t)
}

/// `n` issues #1..#n in acme/widgets, labeled `backport-v23` by alice one minute apart; every
/// third also `backport-approved` (by bob, 30 s later); every fifth a merged pull request.
fn many(n: u64) -> Vec<Value> {
    (1..=n)
        .map(|i| {
            let at = t0() + Duration::minutes(i as i64);
            let mut history = vec![(at, "alice", "labeled", "backport-v23")];
            if i % 3 == 0 {
                history.push((
                    at + Duration::seconds(30),
                    "bob",
                    "labeled",
                    "backport-approved",
                ));
            }
            let pr = (i % 5 == 0).then(|| PrSeed {
                merge_commit_sha: Some(model::fake_sha(&format!("merge{i}"))),
                head_ref: format!("fix-{i}"),
                base_ref: "main".into(),
                commits: vec![CommitSeed::new(
                    &model::fake_sha(&format!("c{i}")),
                    "Fix it",
                )],
                merged_at: None,
            });
            seed_issue(REPO, i, &format!("Ticket {i}"), &history, pr)
        })
        .collect()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(StdDuration::from_secs(10))
        .build()
        .expect("client")
}

fn get(server: &GithubServer, path: &str) -> reqwest::RequestBuilder {
    client()
        .get(format!("{}{path}", server.url()))
        .bearer_auth("test-token")
}

async fn json_of(resp: reqwest::Response) -> Value {
    resp.json().await.expect("a JSON body")
}

fn header(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The URL of `rel` in a `Link` header.
fn link(resp: &reqwest::Response, rel: &str) -> Option<String> {
    let value = header(resp, "link")?;
    value.split(',').find_map(|part| {
        let (url, params) = part.trim().split_once(';')?;
        params
            .contains(&format!("rel=\"{rel}\""))
            .then(|| url.trim().trim_matches(['<', '>']).to_string())
    })
}

fn numbers(page: &Value) -> Vec<u64> {
    page.as_array()
        .expect("an array")
        .iter()
        .map(|i| i["number"].as_u64().expect("number"))
        .collect()
}

#[tokio::test]
async fn issue_list_follows_link_headers_to_the_end() {
    let server = GithubServer::start(Config::default(), many(75), 0).expect("start");
    let mut url = format!(
        "{}/repos/{REPO}/issues?state=all&per_page=20&sort=updated&direction=asc",
        server.url()
    );
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    loop {
        let resp = client()
            .get(&url)
            .bearer_auth("test-token")
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            header(&resp, "content-type").as_deref(),
            Some("application/json; charset=utf-8")
        );
        assert_eq!(
            header(&resp, "x-ratelimit-resource").as_deref(),
            Some("core")
        );
        if sizes.is_empty() {
            let last = link(&resp, "last").expect("rel=last on the first page");
            assert_eq!(
                last,
                format!(
                    "{}/repos/{REPO}/issues?state=all&per_page=20&sort=updated&direction=asc&page=4",
                    server.url()
                )
            );
            assert!(link(&resp, "prev").is_none());
        }
        let next = link(&resp, "next");
        let page = json_of(resp).await;
        sizes.push(page.as_array().map_or(0, Vec::len));
        seen.extend(numbers(&page));
        match next {
            Some(n) => {
                assert!(n.starts_with(&server.url()), "absolute URL: {n}");
                url = n;
            }
            None => break,
        }
    }
    assert_eq!(sizes, [20, 20, 20, 15]);
    assert_eq!(seen, (1..=75).collect::<Vec<u64>>());

    // Defaults: open issues only (merged PRs are closed), newest first, 30 per page.
    let resp = get(&server, &format!("/repos/{REPO}/issues"))
        .send()
        .await
        .expect("send");
    assert!(link(&resp, "next").is_some_and(|n| n.ends_with("?page=2")));
    let page = json_of(resp).await;
    assert_eq!(numbers(&page).len(), 30);
    assert_eq!(numbers(&page)[..3], [74, 73, 72]);

    // per_page is capped at 100: one page, no Link header.
    let resp = get(
        &server,
        &format!("/repos/{REPO}/issues?state=all&per_page=500"),
    )
    .send()
    .await
    .expect("send");
    assert!(header(&resp, "link").is_none());
    assert_eq!(numbers(&json_of(resp).await).len(), 75);

    // A page past the end is empty and links back.
    let resp = get(&server, &format!("/repos/{REPO}/issues?state=all&page=9"))
        .send()
        .await
        .expect("send");
    assert!(link(&resp, "first").is_some_and(|f| f.ends_with("page=1")));
    assert_eq!(json_of(resp).await, json!([]));

    // The Enterprise prefix and the /repositories/{id} form answer alike, and links keep them.
    let resp = get(
        &server,
        &format!("/api/v3/repos/{REPO}/issues?state=all&per_page=50"),
    )
    .send()
    .await
    .expect("send");
    let next = link(&resp, "next").expect("next");
    assert!(next.starts_with(&format!("{}/api/v3/repos/", server.url())));
    let repo = json_of(
        get(&server, &format!("/repos/{REPO}"))
            .send()
            .await
            .expect("send"),
    )
    .await;
    let id = repo["id"].as_u64().expect("repo id");
    let page = json_of(
        get(
            &server,
            &format!("/repositories/{id}/issues?state=all&per_page=5"),
        )
        .send()
        .await
        .expect("send"),
    )
    .await;
    assert_eq!(numbers(&page), [75, 74, 73, 72, 71]);
}

#[tokio::test]
async fn labels_filter_is_an_and_and_pull_requests_are_listed() {
    let server = GithubServer::start(Config::default(), many(15), 0).expect("start");
    let page = json_of(
        get(
            &server,
            &format!("/repos/{REPO}/issues?state=all&labels=backport-v23,Backport-Approved&direction=asc"),
        )
        .send()
        .await
        .expect("send"),
    )
    .await;
    assert_eq!(numbers(&page), [3, 6, 9, 12, 15]);

    // PRs come with a pull_request key; plain issues without.
    for item in page.as_array().expect("array") {
        let n = item["number"].as_u64().expect("number");
        let pr = item.get("pull_request");
        assert_eq!(pr.is_some(), n % 5 == 0, "#{n}");
        if let Some(pr) = pr {
            assert_eq!(
                pr["url"],
                format!("{}/repos/{REPO}/pulls/{n}", server.url())
            );
            assert!(pr["merged_at"].is_string());
            assert_eq!(item["state"], "closed");
        }
    }

    // Open only by default: the merged PRs are gone.
    let page = json_of(
        get(
            &server,
            &format!("/repos/{REPO}/issues?labels=backport-approved&direction=asc"),
        )
        .send()
        .await
        .expect("send"),
    )
    .await;
    assert_eq!(numbers(&page), [3, 6, 9, 12]);

    // `since` filters on updated_at (inclusive).
    let since = iso(t0() + Duration::minutes(13));
    let page = json_of(
        get(
            &server,
            &format!("/repos/{REPO}/issues?state=all&since={since}&sort=updated&direction=asc"),
        )
        .send()
        .await
        .expect("send"),
    )
    .await;
    assert_eq!(numbers(&page), [13, 14, 15]);

    // Validation errors are 422.
    let resp = get(&server, &format!("/repos/{REPO}/issues?since=yesterday"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(json_of(resp).await["message"], "Validation Failed");

    // A pull request.
    let pr = json_of(
        get(&server, &format!("/repos/{REPO}/pulls/10"))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(pr["merged"], true);
    assert_eq!(pr["merge_commit_sha"], model::fake_sha("merge10"));
    assert_eq!(pr["head"]["ref"], "fix-10");
    assert_eq!(pr["base"]["ref"], "main");
    assert_eq!(pr["head"]["sha"], model::fake_sha("c10"));
    assert_eq!(pr["state"], "closed");
    let commits = json_of(
        get(&server, &format!("/repos/{REPO}/pulls/10/commits"))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(commits[0]["sha"], model::fake_sha("c10"));
    assert_eq!(commits[0]["commit"]["message"], "Fix it");
    // Not a pull request, no such repository: 404.
    for path in [
        format!("/repos/{REPO}/pulls/3"),
        "/repos/acme/nothing/issues".to_string(),
    ] {
        let resp = get(&server, &path).send().await.expect("send");
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(json_of(resp).await["message"], "Not Found");
    }
}

#[tokio::test]
async fn timeline_shows_seeded_and_edited_label_events() {
    let t = t0();
    let seeds = vec![seed_issue(
        REPO,
        7,
        "Crash on start",
        &[
            (t, "alice", "labeled", "backport-v23"),
            (
                t + Duration::hours(1),
                "bob",
                "labeled",
                "backport-approved",
            ),
            (
                t + Duration::hours(2),
                "bob",
                "unlabeled",
                "backport-approved",
            ),
        ],
        None,
    )];
    let server = GithubServer::start(Config::default(), seeds, 0).expect("start");
    let edit_at = t + Duration::days(1);
    server.set_now(Some(edit_at));
    server.edit_labels_as("carol", REPO, 7, &["backport-approved"], &["backport-v23"]);

    let view = server.issue(REPO, 7).expect("issue");
    assert_eq!(view.labels, ["backport-approved"]);
    assert_eq!(view.updated_at, edit_at);
    assert_eq!(view.label_events.len(), 5);

    let resp = get(
        &server,
        &format!("/repos/{REPO}/issues/7/timeline?per_page=2"),
    )
    .send()
    .await
    .expect("send");
    let mut next = link(&resp, "next");
    let mut events: Vec<Value> = json_of(resp).await.as_array().cloned().unwrap_or_default();
    while let Some(url) = next {
        let resp = client()
            .get(&url)
            .bearer_auth("test-token")
            .send()
            .await
            .expect("send");
        next = link(&resp, "next");
        events.extend(json_of(resp).await.as_array().cloned().unwrap_or_default());
    }
    let got: Vec<(String, String, String, String)> = events
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap_or_default().to_string(),
                e["actor"]["login"].as_str().unwrap_or_default().to_string(),
                e["created_at"].as_str().unwrap_or_default().to_string(),
                e["label"]["name"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let row = |e: &str, a: &str, at: DateTime<Utc>, l: &str| {
        (e.to_string(), a.to_string(), iso(at), l.to_string())
    };
    assert_eq!(
        got,
        [
            row("labeled", "alice", t, "backport-v23"),
            row(
                "labeled",
                "bob",
                t + Duration::hours(1),
                "backport-approved"
            ),
            row(
                "unlabeled",
                "bob",
                t + Duration::hours(2),
                "backport-approved"
            ),
            row("labeled", "carol", edit_at, "backport-approved"),
            row("unlabeled", "carol", edit_at, "backport-v23"),
        ]
    );
    assert!(events
        .iter()
        .all(|e| e["label"]["color"].as_str().is_some_and(|c| c.len() == 6)));

    // The issue-events API lists the same label events.
    let issue_events = json_of(
        get(&server, &format!("/repos/{REPO}/issues/7/events"))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(issue_events.as_array().map(Vec::len), Some(5));
    assert_eq!(issue_events[3]["actor"]["login"], "carol");

    let issue = json_of(
        get(&server, &format!("/repos/{REPO}/issues/7"))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(issue["updated_at"], iso(edit_at));
    assert_eq!(issue["labels"][0]["name"], "backport-approved");
}

#[tokio::test]
async fn label_writes_record_events_by_the_token_user() {
    let seeds = vec![seed_issue(
        REPO,
        1,
        "A bug",
        &[
            (t0(), "alice", "labeled", "needs backport"),
            (t0(), "alice", "labeled", "area/ci"),
        ],
        None,
    )];
    let server = GithubServer::start(Config::default(), seeds, 0).expect("start");
    let now = t0() + Duration::days(2);
    server.set_now(Some(now));
    let url = |rest: &str| format!("{}/repos/{REPO}/issues/1/labels{rest}", server.url());

    let resp = client()
        .post(url(""))
        .bearer_auth("test-token")
        .json(&json!({"labels": ["backport-approved"]}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    let labels = json_of(resp).await;
    let names: Vec<&str> = labels
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|l| l["name"].as_str())
        .collect();
    assert_eq!(names, ["needs backport", "area/ci", "backport-approved"]);
    assert_eq!(
        labels[2]["url"],
        format!("{}/repos/{REPO}/labels/backport-approved", server.url())
    );

    // Percent-encoded names, a space and a slash.
    for encoded in ["needs%20backport", "area%2Fci"] {
        let resp = client()
            .delete(url(&format!("/{encoded}")))
            .header("Authorization", "token test-token")
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), StatusCode::OK, "{encoded}");
    }
    let resp = client()
        .delete(url("/needs%20backport"))
        .bearer_auth("test-token")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let body = json_of(resp).await;
    assert_eq!(body["message"], "Label does not exist");
    assert!(body["documentation_url"].is_string());

    let view = server.issue(REPO, 1).expect("issue");
    assert_eq!(view.labels, ["backport-approved"]);
    assert_eq!(view.updated_at, now);
    let mine: Vec<(bool, &str)> = view
        .label_events
        .iter()
        .filter(|e| e.actor == "portcullis-bot")
        .inspect(|e| assert_eq!(e.at, now))
        .map(|e| (e.added, e.label.as_str()))
        .collect();
    assert_eq!(
        mine,
        [
            (true, "backport-approved"),
            (false, "needs backport"),
            (false, "area/ci")
        ]
    );
    // Adding a label the issue already has changes nothing.
    client()
        .post(url(""))
        .bearer_auth("test-token")
        .json(&json!(["BACKPORT-APPROVED"]))
        .send()
        .await
        .expect("send");
    assert_eq!(server.issue(REPO, 1).expect("issue").label_events.len(), 5);
}

#[tokio::test]
async fn comments_are_created_and_listed() {
    let server = GithubServer::start(
        Config::default(),
        vec![seed_issue(REPO, 4, "x", &[], None)],
        0,
    )
    .expect("start");
    server.set_now(Some(t0()));
    let url = format!("{}/repos/{REPO}/issues/4/comments", server.url());
    for i in 0..3 {
        let resp = client()
            .post(&url)
            .bearer_auth("test-token")
            .json(&json!({"body": format!("Backport approved ({i})")}))
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), StatusCode::CREATED);
        let location = header(&resp, "location").expect("location");
        let c = json_of(resp).await;
        assert_eq!(c["url"], location);
        assert_eq!(c["user"]["login"], "portcullis-bot");
        assert_eq!(c["created_at"], iso(t0()));
    }
    let resp = client()
        .get(format!("{url}?per_page=2"))
        .bearer_auth("test-token")
        .send()
        .await
        .expect("send");
    let next = link(&resp, "next").expect("a second page");
    assert_eq!(json_of(resp).await[1]["body"], "Backport approved (1)");
    let page2 = json_of(
        client()
            .get(next)
            .bearer_auth("test-token")
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(page2[0]["body"], "Backport approved (2)");
    let resp = client()
        .post(&url)
        .bearer_auth("test-token")
        .json(&json!({"text": "no body"}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let issue = json_of(
        get(&server, &format!("/repos/{REPO}/issues/4"))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(issue["comments"], 3);
    assert_eq!(server.issue(REPO, 4).expect("issue").comments.len(), 3);
}

#[tokio::test]
async fn bad_or_missing_credentials_get_401() {
    let server = GithubServer::start(Config::default(), many(1), 0).expect("start");
    let path = format!("{}/repos/{REPO}/issues", server.url());
    let resp = client().get(&path).send().await.expect("send");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&resp, "x-ratelimit-limit").as_deref(), Some("60"));
    assert_eq!(json_of(resp).await["message"], "Requires authentication");
    let resp = client()
        .get(&path)
        .bearer_auth("wrong")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body = json_of(resp).await;
    assert_eq!(body["message"], "Bad credentials");
    assert_eq!(body["documentation_url"], "https://docs.github.com/rest");

    let me = client()
        .get(format!("{}/user", server.url()))
        .header("Authorization", "token test-token")
        .send()
        .await
        .expect("send");
    assert_eq!(me.status(), StatusCode::OK);
    let me = json_of(me).await;
    assert_eq!(me["login"], "portcullis-bot");
    assert_eq!(me["id"], 90_001);
    let logins: Vec<Option<String>> = server.requests().into_iter().map(|r| r.login).collect();
    assert_eq!(logins, [None, None, Some("portcullis-bot".to_string())]);
}

#[tokio::test]
async fn rate_limit_runs_out_then_resets() {
    let config = Config {
        rate_limit: 3,
        // Long enough that a loaded machine does not see the window reset between the
        // requests that use the budget up (a 1 s window made this test flaky).
        rate_window: StdDuration::from_secs(4),
        ..Config::default()
    };
    let server = GithubServer::start(config, many(1), 0).expect("start");
    let path = format!("/repos/{REPO}/issues/1");
    for expected in [2, 1, 0] {
        let resp = get(&server, &path).send().await.expect("send");
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(header(&resp, "x-ratelimit-limit").as_deref(), Some("3"));
        assert_eq!(
            header(&resp, "x-ratelimit-remaining"),
            Some(expected.to_string())
        );
        assert_eq!(
            header(&resp, "x-ratelimit-used"),
            Some((3 - expected).to_string())
        );
    }
    // /rate_limit is free.
    let rl = json_of(get(&server, "/rate_limit").send().await.expect("send")).await;
    assert_eq!(rl["resources"]["core"]["remaining"], 0);

    let resp = get(&server, &path).send().await.expect("send");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(header(&resp, "x-ratelimit-remaining").as_deref(), Some("0"));
    let reset: u64 = header(&resp, "x-ratelimit-reset")
        .and_then(|r| r.parse().ok())
        .expect("an epoch reset");
    let now_s = super::epoch_millis() / 1000;
    assert!(
        reset >= now_s && reset <= now_s + 5,
        "reset {reset} now {now_s}"
    );
    let body = json_of(resp).await;
    assert!(body["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("API rate limit exceeded for user ID 90001.")));

    // After the advertised reset, the budget is back.
    let wait_ms = (reset * 1000).saturating_sub(super::epoch_millis()) + 50;
    tokio::time::sleep(StdDuration::from_millis(wait_ms)).await;
    let resp = get(&server, &path).send().await.expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header(&resp, "x-ratelimit-remaining").as_deref(), Some("2"));
}

#[tokio::test]
async fn injected_faults() {
    let server = GithubServer::start(Config::default(), many(2), 0).expect("start");
    let path = format!("/repos/{REPO}/issues");
    server.add_fault(FaultRule::new(
        &path,
        1,
        Fault::SecondaryRateLimit {
            status: 429,
            retry_after_secs: 7,
        },
    ));
    server.add_fault(FaultRule::new(
        &path,
        1,
        Fault::Status {
            status: 500,
            body: FaultBody::GithubJson("Server Error".into()),
        },
    ));
    server.add_fault(FaultRule::new(
        &path,
        1,
        Fault::Status {
            status: 502,
            body: FaultBody::Html,
        },
    ));
    server.add_fault(FaultRule::new(
        &path,
        1,
        Fault::RateLimit { reset_secs: 30 },
    ));
    // Only POSTs: a GET passes through.
    server.add_fault(FaultRule {
        method: Some("post".into()),
        ..FaultRule::new("/repos/", 1, Fault::Hang)
    });

    let resp = get(&server, &path).send().await.expect("send");
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&resp, "retry-after").as_deref(), Some("7"));
    assert_ne!(header(&resp, "x-ratelimit-remaining").as_deref(), Some("0"));
    assert!(json_of(resp).await["message"]
        .as_str()
        .is_some_and(|m| m.contains("secondary rate limit")));

    let resp = get(&server, &path).send().await.expect("send");
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(json_of(resp).await["message"], "Server Error");

    let resp = get(&server, &path).send().await.expect("send");
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    assert!(header(&resp, "content-type").is_some_and(|c| c.starts_with("text/html")));
    assert!(header(&resp, "x-ratelimit-limit").is_none());
    assert!(resp.text().await.expect("text").contains("<html>"));

    let resp = get(&server, &path).send().await.expect("send");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(header(&resp, "x-ratelimit-remaining").as_deref(), Some("0"));
    let reset: u64 = header(&resp, "x-ratelimit-reset")
        .and_then(|r| r.parse().ok())
        .expect("reset");
    assert!(reset >= super::epoch_millis() / 1000 + 29);

    let resp = get(&server, &path).send().await.expect("send");
    assert_eq!(resp.status(), StatusCode::OK);

    let started = Instant::now();
    let err = reqwest::Client::builder()
        .timeout(StdDuration::from_millis(300))
        .build()
        .expect("client")
        .post(format!("{}{path}/1/comments", server.url()))
        .bearer_auth("test-token")
        .json(&json!({"body": "hello"}))
        .send()
        .await
        .expect_err("the request hangs");
    assert!(err.is_timeout(), "{err}");
    assert!(started.elapsed() < StdDuration::from_secs(3));
    assert!(server.issue(REPO, 1).expect("issue").comments.is_empty());

    let statuses: Vec<u16> = server.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 500, 502, 403, 200, 0]);
}

fn fixtures_dir() -> std::path::PathBuf {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        std::env::var_os("PORTCULLIS_GITHUB_FIXTURES").map(std::path::PathBuf::from),
        Some(manifest.join("../../tests/fixtures/github")),
        Some(manifest.join("../../../shared/fixtures/github")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.join("octocrab_issues_remove_label.json").is_file())
        .unwrap_or_else(|| {
            panic!(
                "the GitHub fixtures are not in tests/fixtures/github (or set \
                 PORTCULLIS_GITHUB_FIXTURES)"
            )
        })
}

fn fixture(name: &str) -> Value {
    let path = fixtures_dir().join(name);
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Differences between the key sets of `served` and `fixture`, recursively (arrays by their
/// first element). With `subset`, extra keys in `served` are fine.
fn shape_diff(path: &str, served: &Value, fixture: &Value, subset: bool, out: &mut Vec<String>) {
    match (served, fixture) {
        (Value::Object(s), Value::Object(f)) => {
            let sk: BTreeSet<&String> = s.keys().collect();
            let fk: BTreeSet<&String> = f.keys().collect();
            for k in fk.difference(&sk) {
                out.push(format!("{path}.{k}: missing"));
            }
            if !subset {
                for k in sk.difference(&fk) {
                    out.push(format!("{path}.{k}: not in the fixture"));
                }
            }
            for k in sk.intersection(&fk) {
                shape_diff(&format!("{path}.{k}"), &s[*k], &f[*k], subset, out);
            }
        }
        (Value::Array(s), Value::Array(f)) => {
            if let (Some(a), Some(b)) = (s.first(), f.first()) {
                shape_diff(&format!("{path}[0]"), a, b, subset, out);
            }
        }
        _ => {}
    }
}

fn assert_same_shape(what: &str, served: &Value, fixture: &Value, subset: bool) {
    let mut diffs = Vec::new();
    shape_diff(what, served, fixture, subset, &mut diffs);
    assert!(diffs.is_empty(), "{what}: {diffs:#?}\nserved: {served:#}");
}

/// The keys of an issue in octocrab's `tests/resources/search_issues.json` (a real capture,
/// minus the search-only `score`): every one is required or expected by octocrab's `Issue`.
const ISSUE_KEYS: &[&str] = &[
    "active_lock_reason",
    "assignees",
    "author_association",
    "body",
    "closed_at",
    "comments",
    "comments_url",
    "created_at",
    "events_url",
    "html_url",
    "id",
    "labels",
    "labels_url",
    "locked",
    "milestone",
    "node_id",
    "number",
    "repository_url",
    "state",
    "title",
    "updated_at",
    "url",
    "user",
];

#[tokio::test]
async fn served_objects_have_the_fixture_shapes() {
    let timeline = fixture("octocrab_issues_list_timeline_events.json");
    let events = timeline.as_array().expect("a timeline page");
    let by_event = |name: &str| {
        events
            .iter()
            .find(|e| e["event"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} event in the fixture"))
    };
    let labeled = by_event("labeled");
    let commented = by_event("commented");
    let label_fixture = fixture("octocrab_issues_remove_label.json")[0].clone();
    let commits_fixture = fixture("octocrab_pull_request_commits.json");

    // Seed an issue in the fixtures' own shape: the captured timeline, verbatim.
    let seed = json!({
        "repository_url": "https://api.github.com/repos/github/roadmap",
        "number": 481,
        "title": "Roadmap item",
        "user": {"login": "github-product-roadmap"},
        "created_at": "2022-04-13T20:49:00Z",
        "timeline": timeline,
    });
    let mut seeds = vec![seed];
    seeds.extend(many(5));
    let server = GithubServer::start(Config::default(), seeds, 0).expect("start");

    let issue = json_of(
        get(&server, "/repos/github/roadmap/issues/481")
            .send()
            .await
            .expect("send"),
    )
    .await;
    let issue_fixture: Value = ISSUE_KEYS
        .iter()
        .map(|k| (k.to_string(), Value::Null))
        .collect::<serde_json::Map<_, _>>()
        .into();
    assert_same_shape("issue", &issue, &issue_fixture, true);
    assert_same_shape("issue.user", &issue["user"], &labeled["actor"], false);
    assert_same_shape(
        "issue.labels[0]",
        &issue["labels"][0],
        &label_fixture,
        false,
    );
    assert_eq!(issue["labels"][0]["name"], "beta");
    assert_eq!(issue["labels"][0]["color"], "99dd88");

    let served = json_of(
        get(
            &server,
            "/repos/github/roadmap/issues/481/timeline?per_page=100",
        )
        .send()
        .await
        .expect("send"),
    )
    .await;
    let served = served.as_array().expect("array");
    assert_eq!(served.len(), events.len());
    let served_labeled = served
        .iter()
        .find(|e| e["event"] == "labeled")
        .expect("labeled");
    assert_same_shape("labeled", served_labeled, &labeled, false);
    assert_eq!(served_labeled["actor"]["login"], "github-product-roadmap");
    assert_eq!(served_labeled["created_at"], "2022-04-13T20:49:34Z");
    assert_eq!(
        served_labeled["label"],
        json!({"name": "beta", "color": "99dd88"})
    );
    let served_commented = served
        .iter()
        .find(|e| e["event"] == "commented")
        .expect("commented");
    assert_same_shape("commented", served_commented, &commented, false);
    // Events the server does not model come back as captured.
    let committed = served
        .iter()
        .find(|e| e["event"] == "committed")
        .expect("committed");
    assert_eq!(
        Some(committed),
        events.iter().find(|e| e["event"] == "committed")
    );

    // A label write answers full labels; the PR's commits have the captured shape.
    let labels = json_of(
        client()
            .post(format!("{}/repos/{REPO}/issues/5/labels", server.url()))
            .bearer_auth("test-token")
            .json(&json!({"labels": ["bug"]}))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_same_shape("label", &labels[0], &label_fixture, false);
    let commits = json_of(
        get(&server, &format!("/repos/{REPO}/pulls/5/commits"))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_same_shape("commit", &commits, &commits_fixture, false);
    let events = json_of(
        get(&server, &format!("/repos/{REPO}/issues/5/events"))
            .send()
            .await
            .expect("send"),
    )
    .await;
    let last = events.as_array().and_then(|a| a.last()).expect("an event");
    assert_same_shape("issue event", last, &labeled, false);
    assert_eq!(last["actor"]["login"], "portcullis-bot");

    // The pull request carries what octocrab's PullRequest requires and a tracker reads.
    let pr = json_of(
        get(&server, &format!("/repos/{REPO}/pulls/5"))
            .send()
            .await
            .expect("send"),
    )
    .await;
    for key in [
        "url",
        "id",
        "number",
        "state",
        "merged",
        "merged_at",
        "merge_commit_sha",
        "head",
        "base",
        "user",
        "labels",
    ] {
        assert!(pr.get(key).is_some(), "pull request without {key}");
    }
    assert_same_shape("pr.user", &pr["user"], &labeled["actor"], false);
    assert_same_shape(
        "pr.head.user",
        &pr["head"]["user"],
        &labeled["actor"],
        false,
    );
    assert!(pr["head"]["repo"]["full_name"] == REPO);
}

#[tokio::test]
async fn control_endpoints_drive_the_server() {
    let server = GithubServer::start(Config::default(), many(1), 0).expect("start");
    let c = client();
    let url = |p: &str| format!("{}{p}", server.url());
    let ok = |r: reqwest::Response| {
        assert!(r.status().is_success(), "{}", r.status());
    };
    ok(c.post(url("/_test/clock"))
        .json(&json!({"now": "2026-12-01T08:00:00Z"}))
        .send()
        .await
        .expect("send"));
    ok(c.post(url("/_test/edit"))
        .json(&json!({"repo": REPO, "number": 1, "user": "dave", "add": ["backport-done"]}))
        .send()
        .await
        .expect("send"));
    ok(c.post(url("/_test/issues"))
        .json(&json!([seed_issue(REPO, 2, "new", &[], None)]))
        .send()
        .await
        .expect("send"));
    ok(c.post(url("/_test/faults"))
        .json(&json!({"path_prefix": "/repos/", "times": 1,
                      "fault": {"kind": "Status", "status": 503, "body": {"kind": "Text", "text": "busy"}}}))
        .send()
        .await
        .expect("send"));
    let resp = get(&server, &format!("/repos/{REPO}/issues/2"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let view = server.issue(REPO, 1).expect("issue");
    let last = view.label_events.last().expect("an event");
    assert_eq!(
        (
            last.actor.as_str(),
            last.label.as_str(),
            iso(last.at).as_str()
        ),
        ("dave", "backport-done", "2026-12-01T08:00:00Z")
    );
    assert!(server.issue(REPO, 2).is_some());
    let log = json_of(c.get(url("/_test/requests")).send().await.expect("send")).await;
    assert_eq!(log.as_array().map(Vec::len), Some(1));
    assert_eq!(log[0]["status"], 503);
}

/// The typed client (octocrab's models) against this server, with `per_page` items a page.
async fn typed_client(
    server: &GithubServer,
    repo: &str,
    per_page: u32,
) -> portcullis_trackers::github::client::GithubClient {
    use portcullis_trackers::credentials::GithubCredentials;
    use portcullis_trackers::github::client::{GithubClient, GithubClientOptions, RepoRef};
    let creds = GithubCredentials {
        token: portcullis_core::secret::Secret::new("test-token"),
        origin: "the test".into(),
    };
    let opts = GithubClientOptions {
        per_page,
        max_retries: 0,
        ..GithubClientOptions::default()
    };
    let repos = vec![RepoRef::parse(repo).expect("repo")];
    let (client, account) = GithubClient::connect(&server.url(), repos, Some(creds), opts)
        .await
        .expect("connect");
    assert_eq!(account.expect("an account").id, "portcullis-bot");
    client
}

#[tokio::test]
async fn the_timeline_is_paginated_and_parses_into_octocrab_models() {
    let t = t0();
    let seeds = vec![seed_issue(
        REPO,
        7,
        "Crash on start",
        &[
            (t, "alice", "labeled", "backport-v23"),
            (
                t + Duration::hours(1),
                "bob",
                "labeled",
                "backport-approved",
            ),
            (
                t + Duration::hours(2),
                "bob",
                "unlabeled",
                "backport-approved",
            ),
        ],
        None,
    )];
    let server = GithubServer::start(Config::default(), seeds, 0).expect("start");
    server.set_now(Some(t + Duration::days(1)));
    server.edit_labels_as("carol", REPO, 7, &["backport-done"], &[]);
    let client = typed_client(&server, REPO, 2).await;
    let repo = &client.repos()[0];

    let (events, requests) = client.timeline(repo, 7).await.expect("timeline");
    assert_eq!(requests, 2, "4 events, 2 a page");
    let changes: Vec<(bool, &str, Option<&str>)> = events
        .iter()
        .filter_map(|e| {
            let (added, label) = e.label_change()?;
            Some((added, label, e.actor_login()))
        })
        .collect();
    assert_eq!(
        changes,
        [
            (true, "backport-v23", Some("alice")),
            (true, "backport-approved", Some("bob")),
            (false, "backport-approved", Some("bob")),
            (true, "backport-done", Some("carol")),
        ]
    );
    assert_eq!(events[0].created_at, Some(t));
    assert!(events.iter().all(|e| e.id.is_some()));
    // Read through the timeline, never the issue-events API.
    let paths: Vec<String> = server
        .requests()
        .into_iter()
        .map(|r| r.path_and_query)
        .filter(|p| p.contains("/issues/7/"))
        .collect();
    assert_eq!(paths.len(), 2, "{paths:?}");
    assert!(paths.iter().all(|p| p.contains("/issues/7/timeline")));
    assert!(paths[1].contains("page=2"), "{paths:?}");

    // The same ids as the issue-events API (the ledger's dedup keys are built from them).
    let issue_events = json_of(
        get(&server, &format!("/repos/{REPO}/issues/7/events"))
            .send()
            .await
            .expect("send"),
    )
    .await;
    let ids: Vec<u64> = issue_events
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|e| e["id"].as_u64())
        .collect();
    let timeline_ids: Vec<u64> = events.iter().filter_map(|e| e.id).collect();
    assert_eq!(ids, timeline_ids);

    // A missing issue is `None`; so is its timeline an error that names the issue.
    assert_eq!(client.issue(repo, 999).await.expect("answer"), None);
    let e = client.timeline(repo, 999).await.expect_err("no issue 999");
    assert!(e.to_string().contains("widgets#999"), "{e}");
}

#[tokio::test]
async fn a_merged_pull_request_seeded_without_its_events_gets_merged_and_closed() {
    let seed = json!({
        "repository": REPO,
        "number": 9,
        "title": "Fix",
        "user": {"login": "dev1"},
        "created_at": "2026-11-01T10:00:00Z",
        "timeline": [{"event": "labeled", "actor": {"login": "dev1"},
            "created_at": "2026-11-01T10:00:00Z", "label": {"name": "backport-v23"}}],
        "pull": {"merged_at": "2026-11-03T10:00:00Z", "merge_commit_sha": "ab".repeat(20),
            "merged_by": {"login": "mara"}},
        "commits": [{"sha": "cd".repeat(20), "commit": {"message": "Fix it"}}],
    });
    let closed_issue = json!({
        "repository": REPO, "number": 10, "title": "Done", "state": "closed",
        "created_at": "2026-11-01T10:00:00Z", "closed_at": "2026-11-02T10:00:00Z",
    });
    let server =
        GithubServer::start(Config::default(), vec![seed, closed_issue], 0).expect("start");
    let client = typed_client(&server, REPO, 100).await;
    let repo = &client.repos()[0];

    let (events, _) = client.timeline(repo, 9).await.expect("timeline");
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names, ["labeled", "merged", "closed"]);
    let merged = &events[1];
    assert_eq!(merged.actor_login(), Some("mara"));
    assert_eq!(merged.commit_id.as_deref(), Some("ab".repeat(20).as_str()));
    assert_eq!(
        portcullis_trackers::github::client::wire::merged_at(&events),
        Some(Utc.with_ymd_and_hms(2026, 11, 3, 10, 0, 0).unwrap())
    );
    let issue = client.issue(repo, 9).await.expect("read").expect("found");
    assert!(issue.is_closed_pull());
    let pull = client.pull(repo, 9).await.expect("pull");
    assert_eq!(pull.merged, Some(true));
    assert_eq!(pull.merge_commit_sha, Some("ab".repeat(20)));
    let (commits, _) = client.pull_commits(repo, 9).await.expect("commits");
    assert_eq!(commits.len(), 1);

    let (events, _) = client.timeline(repo, 10).await.expect("timeline");
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names, ["closed"]);
    assert!(!client
        .issue(repo, 10)
        .await
        .expect("read")
        .expect("found")
        .is_closed_pull());
}

#[tokio::test]
async fn the_typed_client_writes_labels_and_comments() {
    let server = GithubServer::start(Config::default(), many(3), 0).expect("start");
    let client = typed_client(&server, REPO, 100).await;
    let repo = &client.repos()[0];
    client
        .add_labels(repo, 2, &["needs info/α".to_string()])
        .await
        .expect("add");
    client
        .remove_label(repo, 2, "needs info/α")
        .await
        .expect("remove");
    // Already gone: fine.
    client
        .remove_label(repo, 2, "needs info/α")
        .await
        .expect("remove again");
    let deletes: Vec<String> = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.path_and_query)
        .collect();
    assert!(
        deletes
            .iter()
            .all(|p| p.ends_with("/issues/2/labels/needs%20info%2F%CE%B1")),
        "{deletes:?}"
    );
    let id = client.add_comment(repo, 2, "hello").await.expect("comment");
    assert!(id > 0);
    let comments = client.comment_bodies(repo, 2).await.expect("comments");
    let got: Vec<(&str, &str)> = comments
        .iter()
        .map(|c| (c.author.as_str(), c.body.as_str()))
        .collect();
    assert_eq!(got, [("portcullis-bot", "hello")], "with its author");
    let page = client
        .list_issues(repo, Some("backport-v23"), None)
        .await
        .expect("list");
    assert_eq!(page.items.len(), 3);
}

#[tokio::test]
async fn a_captured_timeline_parses_into_octocrab_models() {
    let timeline = fixture("octocrab_issues_list_timeline_events.json");
    let captured = timeline.as_array().expect("a timeline page").len();
    let seed = json!({
        "repository_url": "https://api.github.com/repos/github/roadmap",
        "number": 481,
        "title": "Roadmap item",
        "user": {"login": "github-product-roadmap"},
        "created_at": "2022-04-13T20:49:00Z",
        "timeline": timeline,
    });
    let server = GithubServer::start(Config::default(), vec![seed], 0).expect("start");
    let client = typed_client(&server, "github/roadmap", 5).await;
    let repo = &client.repos()[0];
    let (events, requests) = client.timeline(repo, 481).await.expect("timeline");
    assert_eq!(events.len(), captured);
    assert_eq!(requests, captured.div_ceil(5) as u64);
    let labeled: Vec<_> = events.iter().filter_map(|e| e.label_change()).collect();
    assert_eq!(labeled, [(true, "beta")]);
    for name in [
        "committed",
        "commented",
        "merged",
        "closed",
        "referenced",
        "renamed",
    ] {
        assert!(events.iter().any(|e| e.event == name), "no {name}");
    }
}

#[tokio::test]
async fn answers_of_an_unexpected_shape_keep_the_parse_error_as_the_cause() {
    let server = GithubServer::start(Config::default(), many(2), 0).expect("start");
    let client = typed_client(&server, REPO, 100).await;
    let repo = &client.repos()[0];
    server.add_fault(FaultRule {
        path_prefix: format!("/repos/{REPO}/issues/1"),
        method: None,
        times: 1,
        fault: Fault::Status {
            status: 200,
            body: FaultBody::GithubJson("not an issue".into()),
        },
    });
    let e = client.issue(repo, 1).await.expect_err("not an issue");
    let message = e.to_string();
    assert!(
        message.contains("reading acme/widgets#1") && message.contains("unexpected shape"),
        "{message}"
    );
    let cause = std::error::Error::source(&e).expect("the parse error is kept as the cause");
    assert!(cause.to_string().contains("missing field"), "{cause}");
    assert!(!message.contains("missing field"), "{message}");
    // Nothing was lost: the next read works.
    assert!(client.issue(repo, 1).await.expect("read").is_some());
}

#[tokio::test]
async fn pull_requests_are_opened_listed_checked_and_merged() {
    let seeds = vec![seed_issue(
        REPO,
        1,
        "A bug",
        &[(t0(), "alice", "labeled", "bug")],
        None,
    )];
    let server = GithubServer::start(
        Config {
            rate_limit: 10,
            ..Config::default()
        },
        seeds,
        0,
    )
    .expect("start");
    let pulls = format!("{}/repos/{REPO}/pulls", server.url());
    let open = |head: &str| {
        client()
            .post(&pulls)
            .bearer_auth("test-token")
            .json(&json!({"title": "DM-1: backport", "head": head, "base": "v23.0.x", "body": "Picks"}))
            .send()
    };
    let resp = open("acme:tickets/DM-1-v23").await.expect("send");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let pr = json_of(resp).await;
    assert_eq!(pr["number"], 2, "numbers continue after the issues");
    assert_eq!(pr["head"]["ref"], "tickets/DM-1-v23");
    assert_eq!(pr["base"]["ref"], "v23.0.x");
    assert_eq!(pr["state"], "open");
    assert_eq!(pr["merged"], false);
    // The same head into the same base again: GitHub's 422.
    let resp = open("tickets/DM-1-v23").await.expect("send");
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err = json_of(resp).await;
    assert!(err["errors"][0]["message"]
        .as_str()
        .expect("message")
        .starts_with("A pull request already exists"));
    let resp = client()
        .post(&pulls)
        .bearer_auth("test-token")
        .json(&json!({"title": "no head", "base": "v23.0.x"}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(json_of(resp).await["errors"][0]["field"], "head");

    let listed = json_of(
        get(
            &server,
            &format!("/repos/{REPO}/pulls?head=acme:tickets/DM-1-v23&base=v23.0.x"),
        )
        .send()
        .await
        .expect("send"),
    )
    .await;
    assert!(listed.is_array(), "{listed}");
    assert_eq!(numbers(&listed), vec![2]);

    let status = |r: String| get(&server, &format!("/repos/{REPO}/commits/{r}/status")).send();
    let head_sha = pr["head"]["sha"].as_str().expect("sha").to_string();
    assert_eq!(
        json_of(status(head_sha.clone()).await.expect("send")).await["state"],
        "pending"
    );
    server.set_check(REPO, "tickets/DM-1-v23", "success");
    assert_eq!(
        json_of(status(head_sha).await.expect("send")).await["state"],
        "success"
    );

    let merge = || {
        client()
            .put(format!("{pulls}/2/merge"))
            .bearer_auth("test-token")
            .send()
    };
    let resp = merge().await.expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(json_of(resp).await["merged"], true);
    assert_eq!(
        merge().await.expect("send").status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
    let pr = json_of(
        get(&server, &format!("/repos/{REPO}/pulls/2"))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(pr["merged"], true);
    assert_eq!(pr["state"], "closed");
    assert!(pr["merge_commit_sha"].is_string());
    let open_now = json_of(
        get(&server, &format!("/repos/{REPO}/pulls"))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert!(numbers(&open_now).is_empty());
    // These endpoints count against the rate limit like the others (10 calls so far).
    let resp = get(&server, &format!("/repos/{REPO}/pulls"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}
