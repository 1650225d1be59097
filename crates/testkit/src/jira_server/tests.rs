//! End-to-end checks over real TCP with reqwest.

use chrono::{DateTime, Duration, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0)
        .single()
        .expect("valid time")
}

/// `n` issues DM-1..DM-n, each with `histories` label changes, one minute apart per issue.
fn issues(n: usize, histories: usize) -> Vec<Value> {
    (1..=n)
        .map(|i| {
            let mut set: Vec<String> = Vec::new();
            let changes: Vec<(DateTime<Utc>, String, Vec<String>)> = (0..histories)
                .map(|h| {
                    if h == 0 {
                        set.push("backport-v23".into());
                    } else {
                        let l = format!("topic-{}", h % 3);
                        if let Some(p) = set.iter().position(|x| *x == l) {
                            set.remove(p);
                        } else {
                            set.push(l);
                        }
                    }
                    let at = t0() + Duration::minutes(i as i64) + Duration::seconds(h as i64);
                    (at, "alice".to_string(), set.clone())
                })
                .collect();
            let sets: Vec<Vec<&str>> = changes
                .iter()
                .map(|c| c.2.iter().map(String::as_str).collect())
                .collect();
            let changes: Vec<(DateTime<Utc>, &str, &[&str])> = changes
                .iter()
                .zip(&sets)
                .map(|(c, s)| (c.0, c.1.as_str(), s.as_slice()))
                .collect();
            seed_issue(&format!("DM-{i}"), &format!("Ticket {i}"), &changes)
        })
        .collect()
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

fn cloud_auth(r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    r.basic_auth("bot@example.org", Some("test-token"))
}

fn dc_auth(r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    r.bearer_auth("test-token")
}

async fn json_of(resp: reqwest::Response) -> Value {
    resp.json().await.expect("a JSON body")
}

fn keys(page: &Value) -> Vec<String> {
    page["issues"]
        .as_array()
        .expect("issues")
        .iter()
        .map(|i| i["key"].as_str().expect("key").to_string())
        .collect()
}

#[tokio::test]
async fn cloud_paging_follows_tokens_until_absent() {
    let config = Config {
        short_pages: true,
        ..Config::cloud()
    };
    let server = JiraServer::start(config, issues(250, 2), 0).expect("start");
    let url = format!("{}/rest/api/3/search/jql", server.url());
    let jql = "labels = backport-v23 ORDER BY updated ASC, key ASC";
    let mut token: Option<String> = None;
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    loop {
        let mut q = vec![
            ("jql", jql.to_string()),
            ("maxResults", "500".to_string()),
            ("fields", "summary,labels,updated".to_string()),
        ];
        if let Some(t) = &token {
            q.push(("nextPageToken", t.clone()));
        }
        let resp = cloud_auth(client().get(&url).query(&q))
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            resp.headers()["content-type"],
            "application/json;charset=UTF-8"
        );
        let page = json_of(resp).await;
        assert!(page.get("total").is_none(), "no total on Cloud");
        let issue = &page["issues"][0];
        assert!(issue["self"]
            .as_str()
            .is_some_and(|s| s.starts_with(&server.url())));
        assert!(issue["fields"]["labels"].is_array());
        assert!(issue["fields"].get("status").is_none(), "only asked fields");
        sizes.push(page["issues"].as_array().map_or(0, Vec::len));
        seen.extend(keys(&page));
        match page.get("nextPageToken") {
            Some(Value::String(t)) => {
                assert_eq!(page["isLast"], false);
                assert!(t.contains('='), "token {t}");
                token = Some(t.clone());
            }
            None => {
                assert_eq!(page["isLast"], true);
                break;
            }
            Some(other) => panic!("nextPageToken {other}"),
        }
    }
    // maxResults capped at 100; every second page is short.
    assert_eq!(sizes, [100, 50, 100]);
    let want: Vec<String> = (1..=250).map(|i| format!("DM-{i}")).collect();
    assert_eq!(seen, want);

    // A token belongs to its query.
    let first = cloud_auth(
        client()
            .get(&url)
            .query(&[("jql", jql), ("maxResults", "10")]),
    )
    .send()
    .await
    .expect("send");
    let first = json_of(first).await;
    let token = first["nextPageToken"].as_str().expect("token");
    let other = cloud_auth(
        client()
            .get(&url)
            .query(&[("jql", "project = DM"), ("nextPageToken", token)]),
    )
    .send()
    .await
    .expect("send");
    assert_eq!(other.status(), StatusCode::BAD_REQUEST);
    // Default fields: none.
    assert!(first["issues"][0].get("fields").is_none());
    assert!(first["issues"][0]["id"].is_string());
}

#[tokio::test]
async fn cloud_post_search_expand_and_errors() {
    let server = JiraServer::start(Config::cloud(), issues(3, 30), 0).expect("start");
    let url = format!("{}/rest/api/3/search/jql", server.url());
    let resp = cloud_auth(client().post(&url).json(&json!({
        "jql": "key in (DM-1, DM-3)",
        "fields": ["labels", "updated"],
        "expand": "changelog",
        "maxResults": 10,
    })))
    .send()
    .await
    .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    let page = json_of(resp).await;
    assert_eq!(keys(&page), ["DM-3", "DM-1"], "default order key DESC");
    let cl = &page["issues"][0]["changelog"];
    assert_eq!(cl["total"], 30);
    assert_eq!(cl["maxResults"], 20);
    let h = cl["histories"].as_array().expect("histories");
    assert_eq!(h.len(), 20);
    let created = |v: &Value| model::parse_time(v["created"].as_str().expect("created"));
    assert!(created(&h[0]) > created(&h[1]), "newest first");
    assert_eq!(h[0]["author"]["accountId"], "557058:alice");
    assert!(h[0]["author"].get("name").is_none());

    // expand as an array is a bad request on Cloud.
    let resp = cloud_auth(client().post(&url).json(&json!({
        "jql": "project = DM", "expand": ["changelog"]
    })))
    .send()
    .await
    .expect("send");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // Unbounded queries and JQL errors.
    for jql in ["", "ORDER BY updated"] {
        let resp = cloud_auth(client().get(&url).query(&[("jql", jql)]))
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let body = json_of(resp).await;
        assert!(body["errorMessages"][0]
            .as_str()
            .is_some_and(|m| m.contains("Unbounded")));
    }
    let resp = cloud_auth(client().get(&url).query(&[("jql", "labels = x AND")]))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body = json_of(resp).await;
    assert!(body["errorMessages"][0]
        .as_str()
        .is_some_and(|m| m.starts_with("Error in the JQL Query:")));
    assert_eq!(body["errors"], json!({}));

    // The legacy search is gone.
    for v in [2, 3] {
        let resp = cloud_auth(
            client()
                .get(format!("{}/rest/api/{v}/search", server.url()))
                .query(&[("jql", "project = DM")]),
        )
        .send()
        .await
        .expect("send");
        assert_eq!(resp.status(), StatusCode::GONE);
        let body = json_of(resp).await;
        assert!(body["errorMessages"][0]
            .as_str()
            .is_some_and(|m| m.starts_with("The requested API has been removed.")));
    }
}

#[tokio::test]
async fn data_center_paging_with_capped_max_results() {
    let config = Config {
        max_results_cap: 40,
        tz_offset_minutes: -300,
        ..Config::data_center()
    };
    let server = JiraServer::start(config, issues(101, 1), 0).expect("start");
    let url = format!("{}/rest/api/2/search", server.url());
    let mut start = 0;
    let mut seen = Vec::new();
    loop {
        let resp = dc_auth(client().get(&url).query(&[
            ("jql", "project = DM ORDER BY key ASC"),
            ("startAt", &start.to_string()),
            ("maxResults", "100"),
        ]))
        .send()
        .await
        .expect("send");
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["x-ausername"], "portcullis-bot");
        let page = json_of(resp).await;
        assert_eq!(page["maxResults"], 40, "effective value reported");
        assert_eq!(page["total"], 101);
        assert_eq!(page["expand"], "schema,names");
        let n = page["issues"].as_array().map_or(0, Vec::len);
        seen.extend(keys(&page));
        start += n;
        if n == 0 || start >= 101 {
            break;
        }
    }
    assert_eq!(seen.len(), 101);
    assert_eq!(seen[9], "DM-10");
    // Navigable fields by default, timestamps in the server's zone.
    let resp = dc_auth(client().post(&url).json(&json!({
        "jql": "key = DM-1", "expand": ["changelog"]
    })))
    .send()
    .await
    .expect("send");
    let page = json_of(resp).await;
    let issue = &page["issues"][0];
    assert_eq!(issue["fields"]["status"]["name"], "Open");
    assert_eq!(issue["fields"]["created"], "2026-11-24T07:01:00.000-0500");
    let author = &issue["changelog"]["histories"][0]["author"];
    assert_eq!(author["name"], "alice");
    assert!(author.get("accountId").is_none());
    // Cloud-only endpoints do not exist.
    for path in [
        "/rest/api/2/search/jql",
        "/rest/api/3/myself",
        "/rest/api/2/issue/DM-1/changelog",
    ] {
        let resp = dc_auth(client().get(format!("{}{path}", server.url())))
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
    }
    // Basic name:token works too; /myself has the DC shape.
    let resp = client()
        .get(format!("{}/rest/api/2/myself", server.url()))
        .basic_auth("portcullis-bot", Some("test-token"))
        .send()
        .await
        .expect("send");
    let me = json_of(resp).await;
    assert_eq!(me["name"], "portcullis-bot");
    assert!(me["key"].is_string());
    assert_eq!(me["timeZone"], "Etc/GMT+5");
}

#[tokio::test]
async fn changelog_paging_and_issue_get() {
    let server = JiraServer::start(Config::cloud(), issues(1, 230), 0).expect("start");
    let mut start = 0;
    let mut ids = Vec::new();
    loop {
        let resp = cloud_auth(client().get(format!(
            "{}/rest/api/3/issue/DM-1/changelog?startAt={start}&maxResults=500",
            server.url()
        )))
        .send()
        .await
        .expect("send");
        assert_eq!(resp.status(), StatusCode::OK);
        let page = json_of(resp).await;
        assert_eq!(page["maxResults"], 100);
        assert_eq!(page["total"], 230);
        assert_eq!(page["startAt"], start);
        let values = page["values"].as_array().expect("values");
        ids.extend(
            values
                .iter()
                .map(|h| h["id"].as_str().unwrap_or("").to_string()),
        );
        start += values.len();
        if page["isLast"] == true {
            assert!(page.get("nextPage").is_none());
            break;
        }
        assert!(page["nextPage"]
            .as_str()
            .is_some_and(|u| u.contains(&format!("startAt={start}"))));
    }
    assert_eq!(ids.len(), 230);
    let nums: Vec<u64> = ids.iter().filter_map(|i| i.parse().ok()).collect();
    assert!(
        nums.windows(2).all(|w| w[0] < w[1]),
        "oldest first, ids increasing"
    );

    let resp = cloud_auth(client().get(format!(
        "{}/rest/api/3/issue/DM-1?expand=changelog&fields=labels",
        server.url()
    )))
    .send()
    .await
    .expect("send");
    let issue = json_of(resp).await;
    assert_eq!(issue["changelog"]["total"], 230);
    assert_eq!(
        issue["changelog"]["histories"].as_array().map(Vec::len),
        Some(100)
    );
    assert_eq!(
        issue["changelog"]["histories"][0]["id"].as_str(),
        ids.last().map(String::as_str)
    );
    let resp = cloud_auth(client().get(format!("{}/rest/api/3/issue/DM-9", server.url())))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let body = json_of(resp).await;
    assert_eq!(
        body["errorMessages"][0],
        "Issue does not exist or you do not have permission to see it."
    );
}

#[tokio::test]
async fn put_labels_records_a_history() {
    let server = JiraServer::start(Config::cloud(), issues(1, 1), 0).expect("start");
    let now = t0() + Duration::days(1);
    server.set_now(Some(now));
    let url = format!("{}/rest/api/3/issue/DM-1", server.url());
    let resp = cloud_auth(client().put(&url).json(&json!({
        "update": {"labels": [{"add": "backport-approved"}, {"remove": "nope"}]}
    })))
    .send()
    .await
    .expect("send");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(resp.bytes().await.expect("body").is_empty());
    let view = server.issue("dm-1").expect("issue");
    assert_eq!(view.labels, ["backport-v23", "backport-approved"]);
    assert_eq!(view.histories, 2);
    assert_eq!(view.updated, now);

    // The same edit again changes nothing.
    let resp = cloud_auth(client().put(&url).json(&json!({
        "update": {"labels": [{"add": "backport-approved"}]}
    })))
    .send()
    .await
    .expect("send");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(server.issue("DM-1").map(|v| v.histories), Some(2));

    let resp = cloud_auth(client().get(format!("{url}?expand=changelog")))
        .send()
        .await
        .expect("send");
    let issue = json_of(resp).await;
    let h = &issue["changelog"]["histories"][0];
    assert_eq!(h["author"]["accountId"], "557058:bot");
    assert_eq!(h["author"]["displayName"], "portcullis bot");
    assert_eq!(h["created"], "2026-11-25T12:00:00.000+0000");
    assert_eq!(
        h["items"],
        json!([{"field": "labels", "fieldtype": "jira", "fieldId": "labels", "from": null,
                "fromString": "backport-v23", "to": null, "toString": "backport-v23 backport-approved"}])
    );
    assert_eq!(issue["fields"]["updated"], "2026-11-25T12:00:00.000+0000");

    // Errors, as Jira words them.
    let cases = [
        (
            json!({"update": {"labels": [{"add": "a b"}]}}),
            json!({"errorMessages": [], "errors": {"labels": "The label 'a b' contains spaces which is invalid."}}),
        ),
        (
            json!({"labels": ["x"]}),
            json!({"errorMessages": ["one of 'fields' or 'update' required"], "errors": {}}),
        ),
        (
            json!({"fields": {"invalid": 1}}),
            json!({"errorMessages": [], "errors": {"invalid": "Field 'invalid' is not valid for this operation."}}),
        ),
    ];
    for (body, want) in cases {
        let resp = cloud_auth(client().put(&url).json(&body))
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(json_of(resp).await, want);
    }

    // fields.labels replaces the set; edit_labels records like PUT.
    let resp = cloud_auth(
        client()
            .put(&url)
            .json(&json!({"fields": {"labels": ["only"]}})),
    )
    .send()
    .await
    .expect("send");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    server.edit_labels("DM-1", "carol", &["human"], &["only"]);
    let view = server.issue("DM-1").expect("issue");
    assert_eq!(view.labels, ["human"]);
    assert_eq!(view.histories, 4);
    let requests = server.requests();
    assert!(requests
        .iter()
        .all(|r| r.user.as_deref() == Some("portcullis-bot")));
    assert_eq!(requests[0].method, "PUT");
    assert!(requests[0].body.contains("backport-approved"));
}

#[tokio::test]
async fn comments_v2_and_v3() {
    let server = JiraServer::start(Config::cloud(), issues(1, 1), 0).expect("start");
    let base = server.url();
    let resp = cloud_auth(
        client()
            .post(format!("{base}/rest/api/2/issue/DM-1/comment"))
            .json(&json!({"body": "plain\ntext"})),
    )
    .send()
    .await
    .expect("send");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let c = json_of(resp).await;
    assert_eq!(c["body"], "plain\ntext");
    assert_eq!(c["author"]["accountId"], "557058:bot");

    let doc = json!({"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": "from v3"}]}]});
    let resp = cloud_auth(
        client()
            .post(format!("{base}/rest/api/3/issue/DM-1/comment"))
            .json(&json!({ "body": doc })),
    )
    .send()
    .await
    .expect("send");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let resp = cloud_auth(
        client()
            .post(format!("{base}/rest/api/3/issue/DM-1/comment"))
            .json(&json!({"body": "a string"})),
    )
    .send()
    .await
    .expect("send");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    let view = server.issue("DM-1").expect("issue");
    assert_eq!(view.comments, ["plain\ntext", "from v3"]);
    let resp = cloud_auth(client().get(format!("{base}/rest/api/3/issue/DM-1/comment")))
        .send()
        .await
        .expect("send");
    let page = json_of(resp).await;
    assert_eq!(page["total"], 2);
    assert_eq!(page["comments"][1]["body"], doc);
    assert_eq!(page["comments"][0]["body"]["type"], "doc");
    let resp = cloud_auth(client().get(format!("{base}/rest/api/2/issue/DM-1?fields=comment")))
        .send()
        .await
        .expect("send");
    let issue = json_of(resp).await;
    assert_eq!(issue["fields"]["comment"]["comments"][1]["body"], "from v3");
}

#[tokio::test]
async fn drop_fault_closes_the_connection() {
    let server = JiraServer::start(Config::cloud(), issues(2, 1), 0).expect("start");
    server.add_fault(FaultRule {
        path_contains: "/search/jql".into(),
        method: Some("get".into()),
        times: 1,
        fault: Fault::Drop,
    });
    let http = client();
    let url = format!("{}/rest/api/3/search/jql?jql=project%3DDM", server.url());
    let err = cloud_auth(http.get(&url))
        .send()
        .await
        .expect_err("the connection is dropped");
    assert!(!err.is_status(), "{err:?}");
    // Used up: the next request is answered.
    let resp = cloud_auth(http.get(&url)).send().await.expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    let statuses: Vec<u16> = server.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [0, 200]);

    // Not a byte of response on the wire.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    server.add_fault(FaultRule {
        path_contains: "/serverInfo".into(),
        method: None,
        times: 1,
        fault: Fault::Drop,
    });
    let addr = server.url().trim_start_matches("http://").to_string();
    let mut tcp = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    tcp.write_all(b"GET /rest/api/2/serverInfo HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut got = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), tcp.read_to_end(&mut got))
        .await
        .expect("closed in time");
    assert!(got.is_empty(), "{read:?} {}", String::from_utf8_lossy(&got));
}

#[tokio::test]
async fn rate_limit_and_other_faults() {
    let server = JiraServer::start(Config::cloud(), issues(2, 1), 0).expect("start");
    let url = format!("{}/rest/api/3/search/jql?jql=project%3DDM", server.url());
    server.add_fault(FaultRule {
        path_contains: "/search/jql".into(),
        method: None,
        times: 2,
        fault: Fault::RateLimit {
            status: 429,
            retry_after_secs: 7,
            reset_header: true,
        },
    });
    for _ in 0..2 {
        let resp = cloud_auth(client().get(&url)).send().await.expect("send");
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        let h = resp.headers();
        assert_eq!(h["retry-after"], "7");
        assert_eq!(h["x-ratelimit-remaining"], "0");
        assert_eq!(h["ratelimit-reason"], "jira-burst-based");
        assert!(h.contains_key("x-ratelimit-limit"));
        let reset = h["x-ratelimit-reset"].to_str().expect("ascii");
        let reset = DateTime::parse_from_rfc3339(reset).expect("ISO 8601");
        let wait = reset.with_timezone(&Utc) - Utc::now();
        assert!(
            wait > Duration::seconds(4) && wait <= Duration::seconds(8),
            "{wait}"
        );
        let body = json_of(resp).await;
        assert_eq!(body["errorMessages"][0], "Rate limit exceeded.");
    }
    let resp = cloud_auth(client().get(&url)).send().await.expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().contains_key("x-ratelimit-remaining"));

    // Over HTTP, as the standalone runner is driven.
    let control = |path: &str| format!("{}/_test/{path}", server.url());
    let rules = [
        json!({"path_contains": "/search/jql", "fault": {"kind": "Status", "status": 502, "body": {"kind": "Html"}}}),
        json!({"path_contains": "/search/jql", "fault": {"kind": "malformed"}}),
        json!({"path_contains": "/search/jql", "fault": {"kind": "HtmlOk"}}),
        json!({"path_contains": "/search/jql", "fault": {"kind": "Status", "status": 500,
               "body": {"kind": "JiraJson", "text": "Internal server error"}}}),
        json!({"path_contains": "/search/jql", "fault": {"kind": "Slow", "millis": 150}}),
    ];
    for rule in &rules {
        let resp = client()
            .post(control("faults"))
            .json(rule)
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), StatusCode::NO_CONTENT, "{rule}");
    }
    let resp = cloud_auth(client().get(&url)).send().await.expect("send");
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    assert!(resp.headers()["content-type"]
        .to_str()
        .is_ok_and(|c| c.starts_with("text/html")));
    let resp = cloud_auth(client().get(&url)).send().await.expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.json::<Value>().await.is_err(), "truncated JSON");
    let resp = cloud_auth(client().get(&url)).send().await.expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.text().await.is_ok_and(|t| t.contains("login-form")));
    let resp = cloud_auth(client().get(&url)).send().await.expect("send");
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        json_of(resp).await["errorMessages"][0],
        "Internal server error"
    );
    let started = Instant::now();
    let resp = cloud_auth(client().get(&url)).send().await.expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(started.elapsed() >= std::time::Duration::from_millis(150));

    // Clock and edits over HTTP.
    let resp = client()
        .post(control("clock"))
        .json(&json!({"now": "2027-01-01T00:00:00Z"}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = client()
        .post(control("edit"))
        .json(&json!({"key": "DM-2", "user": "dave", "add": ["x"]}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let view = server.issue("DM-2").expect("issue");
    assert_eq!(view.labels, ["backport-v23", "x"]);
    assert_eq!(view.updated.to_rfc3339(), "2027-01-01T00:00:00+00:00");
    let resp = client()
        .delete(control("faults"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn bad_credentials() {
    let server = JiraServer::start(Config::cloud(), issues(2, 1), 0).expect("start");
    let url = format!("{}/rest/api/3/search/jql?jql=project%3DDM", server.url());
    for req in [
        client()
            .get(&url)
            .basic_auth("bot@example.org", Some("wrong")),
        client().get(&url),
        client().get(&url).bearer_auth("test-token"),
    ] {
        let resp = req.send().await.expect("send");
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert!(resp.headers()["content-type"]
            .to_str()
            .is_ok_and(|c| c.starts_with("text/plain")));
        assert_eq!(resp.text().await.ok().as_deref(), Some("Unauthorized"));
    }
    let resp = client()
        .get(format!("{}/rest/api/2/serverInfo", server.url()))
        .send()
        .await
        .expect("send");
    let info = json_of(resp).await;
    assert_eq!(info["deploymentType"], "Cloud");
    assert_eq!(info["baseUrl"], server.url());

    let config = Config {
        anonymous_on_bad_auth: true,
        ..Config::cloud()
    };
    let server = JiraServer::start(config, issues(2, 1), 0).expect("start");
    let base = server.url();
    let url = format!("{base}/rest/api/3/search/jql?jql=project%3DDM");
    let resp = client()
        .get(&url)
        .basic_auth("bot@example.org", Some("wrong"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["x-seraph-loginreason"],
        "AUTHENTICATED_FAILED"
    );
    let page = json_of(resp).await;
    assert_eq!(page["issues"], json!([]));
    assert_eq!(page["isLast"], true);
    let resp = client()
        .get(format!("{base}/rest/api/3/issue/DM-1"))
        .basic_auth("bot@example.org", Some("wrong"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = client()
        .get(format!("{base}/rest/api/3/myself"))
        .basic_auth("bot@example.org", Some("wrong"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = cloud_auth(client().get(format!("{base}/rest/api/3/myself")))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.headers()["x-seraph-loginreason"], "OK");
    let me = json_of(resp).await;
    assert_eq!(me["accountId"], "557058:bot");
    assert_eq!(me["accountType"], "atlassian");
    assert_eq!(me["emailAddress"], "bot@example.org");
}

#[tokio::test]
async fn incremental_window_by_epoch_ms_and_zone() {
    let config = Config {
        tz_offset_minutes: -300,
        ..Config::cloud()
    };
    // DM-i is updated at t0 + i minutes (and 0 s).
    let server = JiraServer::start(config, issues(10, 1), 0).expect("start");
    let url = format!("{}/rest/api/3/search/jql", server.url());
    let since = (t0() + Duration::minutes(7)).timestamp_millis();
    let q = |jql: String| {
        cloud_auth(
            client()
                .get(&url)
                .query(&[("jql", jql), ("fields", "updated".to_string())]),
        )
        .send()
    };
    let page = json_of(
        q(format!("updated >= {since} ORDER BY updated ASC, key ASC"))
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(keys(&page), ["DM-7", "DM-8", "DM-9", "DM-10"]);
    assert_eq!(
        page["issues"][0]["fields"]["updated"],
        "2026-11-24T07:07:00.000-0500"
    );
    // The same instant as a literal in the account's zone (-0500).
    let page = json_of(
        q(r#"updated >= "2026-11-24 07:07" ORDER BY updated ASC"#.to_string())
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(keys(&page), ["DM-7", "DM-8", "DM-9", "DM-10"]);
}

fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/jira")
        .join(name);
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn object_keys(v: &Value) -> std::collections::BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn captured_bodies_seed_and_come_back_in_the_same_shape() {
    let mut seeds = Vec::new();
    for name in [
        "server_v2_search_startAt_11_issues.json",
        "cloud_agile_search_with_changelog.json",
        "cloud_v3_legacy_search_5_issues_atlascode.json",
    ] {
        seeds.extend(seed_issues_from_json(fixture(name)).expect("seed list"));
    }
    // BTS-1 again, as a single issue: replaces the one from the search page.
    seeds.extend(
        seed_issues_from_json(fixture("cloud_v3_issue_GET_BTS-1_atlascode.json")).expect("one"),
    );
    let n = seeds.len();
    let config = Config {
        tz_offset_minutes: 13 * 60,
        ..Config::data_center()
    };
    let server = JiraServer::start(config, seeds, 0).expect("start");
    assert!(server.issue("BTS-1").is_some());

    let capture = fixture("server_v2_search_startAt_11_issues.json");
    let resp = dc_auth(
        client()
            .get(format!("{}/rest/api/2/search", server.url()))
            .query(&[
                ("jql", "project = SAMPLEPROJECT ORDER BY key DESC"),
                ("maxResults", "50"),
            ]),
    )
    .send()
    .await
    .expect("send");
    let page = json_of(resp).await;
    assert_eq!(object_keys(&page), object_keys(&capture));
    assert_eq!(page["total"], capture["total"]);
    assert_eq!(keys(&page), keys(&capture));
    let (ours, theirs) = (&page["issues"][0], &capture["issues"][0]);
    assert_eq!(object_keys(ours), object_keys(theirs));
    assert_eq!(ours["id"], theirs["id"], "seeded ids are kept");
    for field in [
        "summary",
        "labels",
        "updated",
        "created",
        "fixVersions",
        "issuelinks",
    ] {
        assert_eq!(ours["fields"][field], theirs["fields"][field], "{field}");
    }
    let (a, b) = (&ours["fields"]["assignee"], &theirs["fields"]["assignee"]);
    for k in ["name", "emailAddress", "displayName", "active"] {
        assert_eq!(a[k], b[k], "assignee {k}");
    }
    assert!(object_keys(b).is_subset(&object_keys(a)));

    // The agile capture's changelog: Jira timestamps, a history without author.
    let resp = dc_auth(
        client()
            .get(format!("{}/rest/api/2/search", server.url()))
            .query(&[("jql", "project = AR"), ("expand", "changelog")]),
    )
    .send()
    .await
    .expect("send");
    let page = json_of(resp).await;
    let captured = fixture("cloud_agile_search_with_changelog.json");
    let theirs = &captured["issues"][0];
    let ours = page["issues"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["key"] == theirs["key"]))
        .expect("the agile issue");
    let h = &ours["changelog"]["histories"];
    assert_eq!(
        h.as_array().map(Vec::len),
        theirs["changelog"]["histories"].as_array().map(Vec::len)
    );
    assert_eq!(h[0]["created"], "2016-02-02T05:17:04.000+1300");
    let at = |v: &Value| v.as_str().and_then(model::parse_time);
    assert_eq!(
        at(&h[0]["created"]),
        at(&theirs["changelog"]["histories"][0]["created"])
    );
    assert_eq!(h[0]["items"], theirs["changelog"]["histories"][0]["items"]);

    // Everything is searchable.
    let resp = dc_auth(
        client()
            .get(format!("{}/rest/api/2/search", server.url()))
            .query(&[("maxResults", "100"), ("fields", "key")]),
    )
    .send()
    .await
    .expect("send");
    let page = json_of(resp).await;
    assert_eq!(page["total"], n - 1);
}

/// A deleted key fails a Data Center search whole with Jira's 400, unless `validateQuery` asks
/// for warnings (GET `warn`, POST `false`) or nothing.
#[tokio::test]
async fn a_search_naming_a_deleted_key_is_a_400_or_warnings_with_validate_query() {
    let server = JiraServer::start(Config::data_center(), issues(3, 1), 0).expect("start");
    server.delete_issue("DM-2");
    assert!(server.issue("DM-2").is_none());
    let url = format!("{}/rest/api/2/search", server.url());
    let jql = "key in (DM-1, DM-2, DM-3) ORDER BY key ASC";
    let resp = dc_auth(client().get(&url).query(&[("jql", jql)]))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body = json_of(resp).await;
    assert_eq!(
        body,
        json!({"errorMessages": ["An issue with key 'DM-2' does not exist for field 'key'."], "errors": {}})
    );
    // `key = X` and `key not in (…)` are checked too.
    for jql in ["key = DM-2", "key not in (DM-2) AND project = DM"] {
        let resp = dc_auth(client().get(&url).query(&[("jql", jql)]))
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{jql}");
    }
    // validateQuery=warn: the query runs and the warning names the key.
    let resp = dc_auth(
        client()
            .get(&url)
            .query(&[("jql", jql), ("validateQuery", "warn")]),
    )
    .send()
    .await
    .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    let page = json_of(resp).await;
    assert_eq!(keys(&page), vec!["DM-1", "DM-3"]);
    assert_eq!(
        page["warningMessages"],
        json!(["An issue with key 'DM-2' does not exist for field 'key'."])
    );
    // POST takes the legacy boolean: false is warn; none runs it silently.
    let resp = dc_auth(
        client()
            .post(&url)
            .json(&json!({"jql": jql, "validateQuery": false})),
    )
    .send()
    .await
    .expect("send");
    let page = json_of(resp).await;
    assert_eq!(keys(&page), vec!["DM-1", "DM-3"]);
    assert_eq!(page["warningMessages"].as_array().map(Vec::len), Some(1));
    let resp = dc_auth(
        client()
            .post(&url)
            .json(&json!({"jql": jql, "validateQuery": "none"})),
    )
    .send()
    .await
    .expect("send");
    let page = json_of(resp).await;
    assert_eq!(keys(&page), vec!["DM-1", "DM-3"]);
    assert!(page.get("warningMessages").is_none(), "{page}");
    // Without a key clause nothing is checked; the issue GET is Jira's 404.
    let resp = dc_auth(
        client()
            .get(&url)
            .query(&[("jql", "project = DM ORDER BY key ASC")]),
    )
    .send()
    .await
    .expect("send");
    assert_eq!(keys(&json_of(resp).await), vec!["DM-1", "DM-3"]);
    let resp = dc_auth(client().get(format!("{}/rest/api/2/issue/DM-2", server.url())))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

/// Cloud's `search/jql` has no `validateQuery`: a deleted key is always a 400.
#[tokio::test]
async fn cloud_search_naming_a_deleted_key_is_a_400() {
    let server = JiraServer::start(Config::cloud(), issues(2, 1), 0).expect("start");
    server.delete_issue("DM-1");
    let url = format!("{}/rest/api/3/search/jql", server.url());
    let resp = cloud_auth(client().post(&url).json(&json!({
        "jql": "key in (DM-1, DM-2)", "validateQuery": "warn"
    })))
    .send()
    .await
    .expect("send");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body = json_of(resp).await;
    assert_eq!(
        body["errorMessages"],
        json!(["An issue with key 'DM-1' does not exist for field 'key'."])
    );
}

/// A moved issue takes the new project's next number, records the move, and still answers its
/// old key: on issue GET (with its new key in the body) and in `key in (…)`.
#[tokio::test]
async fn a_moved_issue_answers_its_old_key_under_its_new_one() {
    let server = JiraServer::start(Config::data_center(), issues(2, 1), 0).expect("start");
    server.set_now(Some(t0() + Duration::hours(3)));
    let new_key = server.move_issue("DM-2", "OPS", "admin");
    assert_eq!(new_key, "OPS-1");
    assert_eq!(server.issue("OPS-1").expect("moved").key, "OPS-1");
    let resp = dc_auth(
        client()
            .get(format!("{}/rest/api/2/issue/DM-2", server.url()))
            .query(&[("expand", "changelog")]),
    )
    .send()
    .await
    .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    let issue = json_of(resp).await;
    assert_eq!(issue["key"], "OPS-1");
    let items = &issue["changelog"]["histories"][0]["items"];
    assert_eq!(items[0]["field"], "Key", "{issue}");
    assert_eq!(items[0]["fromString"], "DM-2");
    assert_eq!(items[0]["toString"], "OPS-1");
    let url = format!("{}/rest/api/2/search", server.url());
    let resp = dc_auth(
        client()
            .get(&url)
            .query(&[("jql", "key in (DM-1, DM-2) ORDER BY key ASC")]),
    )
    .send()
    .await
    .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    let mut found = keys(&json_of(resp).await);
    found.sort();
    assert_eq!(found, vec!["DM-1", "OPS-1"]);
    // `project = DM` no longer finds it.
    let resp = dc_auth(client().get(&url).query(&[("jql", "project = DM")]))
        .send()
        .await
        .expect("send");
    assert_eq!(keys(&json_of(resp).await), vec!["DM-1"]);
    // Over the control endpoint, too.
    let resp = client()
        .post(format!("{}/_test/move", server.url()))
        .json(&json!({"key": "DM-1", "project": "OPS"}))
        .send()
        .await
        .expect("send");
    assert_eq!(json_of(resp).await["key"], "OPS-2");
    let resp = client()
        .post(format!("{}/_test/delete", server.url()))
        .json(&json!({"key": "OPS-2"}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(server.issue("OPS-2").is_none());
    assert!(server.issue("DM-1").is_none(), "the old key went with it");
}
