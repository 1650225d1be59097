//! End-to-end checks over real TCP with reqwest.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::*;

fn server() -> ConfluenceServer {
    ConfluenceServer::start(Config::default()).expect("server starts")
}

/// Send a request as the default bot (Bearer), answer status and JSON.
async fn call(
    s: &ConfluenceServer,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let client = reqwest::Client::new();
    let mut req = client
        .request(
            method.parse().expect("method"),
            format!("{}{path}", s.url()),
        )
        .bearer_auth("confluence-token");
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("answer");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn page_doc(title: &str, body: &str, parent: Option<&str>) -> Value {
    let mut doc = json!({
        "type": "page", "title": title, "space": {"key": "DM"},
        "body": {"storage": {"value": body, "representation": "storage"}},
    });
    if let Some(p) = parent {
        doc["ancestors"] = json!([{"id": p}]);
    }
    doc
}

#[tokio::test]
async fn pages_are_created_under_a_parent_found_by_title_and_read_with_ancestors() {
    let s = server();
    let (st, root) = call(
        &s,
        "POST",
        "/rest/api/content",
        Some(page_doc("Minutes", "<p>all</p>", None)),
    )
    .await;
    assert_eq!(st, 200, "{root}");
    let root_id = root["id"].as_str().unwrap().to_string();
    let (st, child) = call(
        &s,
        "POST",
        "/rest/api/content",
        Some(page_doc(
            "23 2026-12-01",
            "<h2>x &amp; y</h2>",
            Some(&root_id),
        )),
    )
    .await;
    assert_eq!(st, 200, "{child}");
    assert_eq!(child["version"]["number"], 1);
    let (st, found) = call(
        &s,
        "GET",
        "/rest/api/content?spaceKey=DM&title=23%202026-12-01&expand=body.storage,version,ancestors",
        None,
    )
    .await;
    assert_eq!(st, 200);
    let r = &found["results"][0];
    assert_eq!(found["results"].as_array().unwrap().len(), 1);
    assert_eq!(r["body"]["storage"]["value"], "<h2>x &amp; y</h2>");
    assert_eq!(r["ancestors"][0]["id"], root_id.as_str());
    let (_, kids) = call(
        &s,
        "GET",
        &format!("/rest/api/content/{root_id}/child/page"),
        None,
    )
    .await;
    assert_eq!(kids["results"][0]["title"], "23 2026-12-01");
    // Titles are unique per space.
    let (st, _) = call(
        &s,
        "POST",
        "/rest/api/content",
        Some(page_doc("Minutes", "<p/>", None)),
    )
    .await;
    assert_eq!(st, 400);
}

#[tokio::test]
async fn an_update_is_a_new_version_and_a_stale_one_answers_409() {
    let s = server();
    let id = s.create_page("DM", "P", None, "<p>one</p>");
    let put = |n: u64, body: &str| json!({"type": "page", "title": "P", "version": {"number": n}, "body": {"storage": {"value": body, "representation": "storage"}}});
    let (st, _) = call(
        &s,
        "PUT",
        &format!("/rest/api/content/{id}"),
        Some(put(2, "<p>two</p>")),
    )
    .await;
    assert_eq!(st, 200);
    let (st, e) = call(
        &s,
        "PUT",
        &format!("/rest/api/content/{id}"),
        Some(put(2, "<p>again</p>")),
    )
    .await;
    assert_eq!(st, 409);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("Current version is: 2"),
        "{e}"
    );
    // A concurrent edit makes the right number stale.
    s.add_fault(FaultRule {
        method: Method::PUT,
        path_contains: "/content/".into(),
        times: 1,
        fault: Fault::ConcurrentEdit,
    });
    let (st, _) = call(
        &s,
        "PUT",
        &format!("/rest/api/content/{id}"),
        Some(put(3, "<p>three</p>")),
    )
    .await;
    assert_eq!(st, 409);
    let (st, _) = call(
        &s,
        "PUT",
        &format!("/rest/api/content/{id}"),
        Some(put(4, "<p>four</p>")),
    )
    .await;
    assert_eq!(st, 200);
    let p = s.page("DM", "P").unwrap();
    assert_eq!(p.current().number, 4);
    assert_eq!(p.current().body, "<p>four</p>");
    assert_eq!(p.versions[2].by, "someone-else");
}

#[tokio::test]
async fn listing_pages_follows_start_and_limit_with_a_next_link() {
    let s = server();
    for i in 0..7 {
        s.create_page("DM", &format!("page {i}"), None, "<p/>");
    }
    let mut path = "/rest/api/content?spaceKey=DM&limit=3".to_string();
    let mut titles = Vec::new();
    let mut pages = 0;
    loop {
        let (st, v) = call(&s, "GET", &path, None).await;
        assert_eq!(st, 200);
        pages += 1;
        titles.extend(
            v["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["title"].as_str().unwrap().to_string()),
        );
        match v["_links"]["next"].as_str() {
            Some(n) => path = n.to_string(),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(titles.len(), 7);
    // The limit is capped.
    let (_, v) = call(&s, "GET", "/rest/api/content?spaceKey=DM&limit=500", None).await;
    assert_eq!(v["limit"], 25);
}

#[tokio::test]
async fn basic_and_bearer_authenticate_and_anything_else_is_401() {
    let s = server();
    let client = reqwest::Client::new();
    let url = format!("{}/rest/api/space/DM", s.url());
    let ok = client
        .get(&url)
        .basic_auth("portcullis-bot", Some("confluence-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let ok = client
        .get(&url)
        .basic_auth("bot@example.org", Some("confluence-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let bad = client.get(&url).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(bad.status(), 401);
    let none = client.get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(s.requests().last().unwrap().user, None);
}

#[tokio::test]
async fn a_body_that_is_not_well_formed_storage_is_refused() {
    let s = server();
    let (st, e) = call(
        &s,
        "POST",
        "/rest/api/content",
        Some(page_doc("T", "<p>a < b & c</p>", None)),
    )
    .await;
    assert_eq!(st, 400, "{e}");
    let (st, _) = call(
        &s,
        "POST",
        "/rest/api/content",
        Some(page_doc("T", "<p><b>x</p>", None)),
    )
    .await;
    assert_eq!(st, 400);
    let (st, _) = call(
        &s,
        "POST",
        "/rest/api/content",
        Some(page_doc(
            "T",
            "<p>a &lt; b &amp; c &#38;</p><br/><![CDATA[<x>]]>",
            None,
        )),
    )
    .await;
    assert_eq!(st, 200);
    let (st, _) = call(&s, "GET", "/rest/api/space/XX", None).await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn status_faults_answer_as_told() {
    let s = server();
    s.add_fault(FaultRule {
        method: Method::GET,
        path_contains: "/space".into(),
        times: 1,
        fault: Fault::Status {
            status: 500,
            body: "{}".into(),
        },
    });
    let (st, _) = call(&s, "GET", "/rest/api/space", None).await;
    assert_eq!(st, 500);
    let (st, v) = call(&s, "GET", "/rest/api/space", None).await;
    assert_eq!(st, 200);
    assert_eq!(v["results"][0]["key"], "DM");
}

#[tokio::test]
async fn cloud_v2_creates_reads_updates_and_pages_by_cursor() {
    let s = server();
    let (st, spaces) = call(&s, "GET", "/wiki/api/v2/spaces?keys=DM", None).await;
    assert_eq!(st, 200);
    let space_id = spaces["results"][0]["id"].as_str().unwrap().to_string();
    let parent = s.create_page("DM", "Minutes", None, "<p/>");
    let (st, p) = call(
        &s,
        "POST",
        "/wiki/api/v2/pages",
        Some(json!({"spaceId": space_id, "status": "current", "title": "M 1", "parentId": parent.to_string(),
                    "body": {"representation": "storage", "value": "<p>one</p>"}})),
    )
    .await;
    assert_eq!(st, 200, "{p}");
    let id = p["id"].as_str().unwrap().to_string();
    assert_eq!(p["parentId"], parent.to_string());
    let put = |n: u64| {
        json!({"id": id, "status": "current", "title": "M 1", "version": {"number": n},
                               "body": {"representation": "storage", "value": "<p>two</p>"}})
    };
    let (st, _) = call(&s, "PUT", &format!("/wiki/api/v2/pages/{id}"), Some(put(1))).await;
    assert_eq!(st, 409);
    let (st, v) = call(&s, "PUT", &format!("/wiki/api/v2/pages/{id}"), Some(put(2))).await;
    assert_eq!(st, 200, "{v}");
    let (_, got) = call(
        &s,
        "GET",
        &format!("/wiki/api/v2/pages/{id}?body-format=storage"),
        None,
    )
    .await;
    assert_eq!(got["body"]["storage"]["value"], "<p>two</p>");
    assert_eq!(got["version"]["number"], 2);
    for i in 0..4 {
        s.create_page("DM", &format!("other {i}"), None, "<p/>");
    }
    let mut path = format!("/wiki/api/v2/spaces/{space_id}/pages?limit=2&body-format=storage");
    let mut seen = 0;
    let mut requests = 0;
    loop {
        let (st, v) = call(&s, "GET", &path, None).await;
        assert_eq!(st, 200, "{v}");
        requests += 1;
        seen += v["results"].as_array().unwrap().len();
        match v["_links"]["next"].as_str() {
            Some(n) => path = n.to_string(),
            None => break,
        }
    }
    assert_eq!((seen, requests), (6, 3));
    let (_, found) = call(
        &s,
        "GET",
        &format!("/wiki/api/v2/pages?space-id={space_id}&title=M%201"),
        None,
    )
    .await;
    assert_eq!(found["results"][0]["id"], id.as_str());
}
