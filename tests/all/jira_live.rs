//! Live sync and push against the Jira-compatible test server, over real TCP, with the real binary.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use portcullis_testkit::jira_server::{
    seed_issue, Config, Fault, FaultBody, FaultRule, Flavor, JiraServer,
};

use crate::harness::{Run, TestEnv};

const TOKEN: &str = "tok-S3CRET-5f1e2d";
const EMAIL: &str = "bot@example.org";

pub(crate) fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn bot() -> portcullis_testkit::jira_server::User {
    portcullis_testkit::jira_server::User {
        name: "portcullis-bot".into(),
        account_id: "557058:bot".into(),
        display_name: "portcullis bot".into(),
        email: EMAIL.into(),
        token: TOKEN.into(),
    }
}

pub(crate) fn config(flavor: Flavor) -> Config {
    let mut c = Config::of(flavor);
    c.users = vec![bot()];
    c
}

/// A small campaign: requested, approved, rejected (label removed), an unrelated ticket.
pub(crate) fn campaign() -> Vec<serde_json::Value> {
    vec![
        seed_issue(
            "DM-100",
            "Fix the flux calibration",
            &[(t("2026-11-02T10:00:00Z"), "dev1", &["backport-v23"])],
        ),
        seed_issue(
            "DM-101",
            "Improve timeout handling in daf_butler",
            &[
                (t("2026-11-02T11:00:00Z"), "dev2", &["backport-v23"]),
                (
                    t("2026-11-10T09:00:00Z"),
                    "mlindqvist",
                    &["backport-v23", "backport-approved"],
                ),
            ],
        ),
        seed_issue(
            "DM-102",
            "Rename a config field",
            &[
                (
                    t("2026-11-03T10:00:00Z"),
                    "dev1",
                    &["backport-v23", "pipelines"],
                ),
                (t("2026-11-10T09:30:00Z"), "tokafor", &["pipelines"]),
            ],
        ),
        seed_issue(
            "DM-103",
            "Unrelated ticket",
            &[(t("2026-11-04T10:00:00Z"), "dev3", &["pipelines"])],
        ),
    ]
}

/// `count` tickets from `DM-first` on, each requested (`backport-v23`) a minute after the previous.
fn requested_tickets(first: i64, count: i64) -> Vec<serde_json::Value> {
    (0..count)
        .map(|n| {
            seed_issue(
                &format!("DM-{}", first + n),
                "a fix",
                &[(
                    t("2026-11-02T10:00:00Z") + chrono::Duration::minutes(n),
                    "dev",
                    &["backport-v23"],
                )],
            )
        })
        .collect()
}

/// Environment for a run against `server` with the bot's credentials.
fn env_for(server: &JiraServer) -> Vec<(String, String)> {
    vec![
        ("PORTCULLIS_JIRA_URL".into(), server.url()),
        ("PORTCULLIS_JIRA_TOKEN".into(), TOKEN.into()),
        ("PORTCULLIS_JIRA_EMAIL".into(), EMAIL.into()),
    ]
}

pub(crate) fn run_with(
    env: &TestEnv,
    server: &JiraServer,
    args: &[&str],
    extra: &[(&str, &str)],
) -> Run {
    let mut vars = env_for(server);
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let refs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.run_env(args, &refs)
}

pub(crate) fn sync(env: &TestEnv, server: &JiraServer, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["sync", "--format", "json"];
    args.extend_from_slice(extra);
    let r = run_with(env, server, &args, &[]);
    r.ok();
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

fn states(env: &TestEnv) -> Vec<(String, String)> {
    let r = env.run(&["status", "--format", "json"]);
    r.ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    v["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["key"].as_str().unwrap().to_string(),
                t["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

pub(crate) fn searches(server: &JiraServer) -> Vec<portcullis_testkit::jira_server::RequestRecord> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.path_and_query.contains("/search"))
        .collect()
}

#[test]
fn cloud_full_sync_then_incremental_sync_adds_nothing() {
    let server = JiraServer::start(config(Flavor::Cloud), campaign(), 0).unwrap();
    let env = TestEnv::with_workspace("v23");
    let first = sync(&env, &server, &[]);
    assert_eq!(first["flavor"], "cloud", "flavor detected from serverInfo");
    // DM-102 lost its request label before portcullis ever saw it, and DM-103 never had one.
    assert_eq!(first["tickets"], 2, "{first}");
    assert!(first["new_events"].as_u64().unwrap() > 0);
    let mut st = states(&env);
    st.sort();
    assert_eq!(
        st,
        vec![
            ("DM-100".to_string(), "requested".to_string()),
            ("DM-101".to_string(), "approved".to_string()),
        ]
    );
    // The Cloud search: POST search/jql, fields listed, expand as a string, bounded and ordered.
    let s = searches(&server);
    assert!(!s.is_empty());
    for r in &s {
        assert_eq!(r.method, "POST");
        assert!(
            r.path_and_query.starts_with("/rest/api/3/search/jql"),
            "{}",
            r.path_and_query
        );
        let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["expand"], "changelog");
        assert!(body["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "labels"));
        assert!(body["jql"]
            .as_str()
            .unwrap()
            .contains("ORDER BY updated ASC, key ASC"));
    }

    server.clear_requests();
    let second = sync(&env, &server, &[]);
    assert_eq!(second["new_events"], 0, "{second}");
    assert!(
        second["since"].is_string(),
        "the second run is incremental: {second}"
    );
    let jql = searches(&server)[0].body.clone();
    assert!(jql.contains("updated >= "), "{jql}");

    // --full re-reads everything and still adds nothing.
    let full = sync(&env, &server, &["--full"]);
    assert_eq!(full["new_events"], 0);
    assert_eq!(full["tickets"], 2);
    env.run(&["audit"]).ok();
}

#[test]
fn the_removed_request_label_is_seen_through_the_known_tickets_query() {
    let server = JiraServer::start(config(Flavor::Cloud), campaign(), 0).unwrap();
    let env = TestEnv::with_workspace("v23");
    sync(&env, &server, &[]);
    // Someone removes DM-100's only backport label in Jira: the labels query no longer finds it.
    server.set_now(Some(t("2026-11-20T08:00:00Z")));
    server.edit_labels("DM-100", "portcullis-bot", &[], &["backport-v23"]);
    let r = sync(&env, &server, &[]);
    assert!(r["new_events"].as_u64().unwrap() >= 1, "{r}");
    let st = states(&env);
    assert!(
        st.contains(&("DM-100".into(), "withdrawn".into())),
        "{st:?}"
    );
}

#[test]
fn data_center_pages_by_the_effective_max_results() {
    let mut cfg = config(Flavor::DataCenter);
    cfg.max_results_cap = 7;
    let issues = requested_tickets(200, 30);
    let server = JiraServer::start(cfg, issues, 0).unwrap();
    let env = TestEnv::with_workspace("v23");
    let r = sync(&env, &server, &[]);
    assert_eq!(r["flavor"], "datacenter");
    assert_eq!(r["tickets"], 30, "{r}");
    assert_eq!(
        r["pages"], 6,
        "30 issues at an effective 7 per page, and the known-keys query: {r}"
    );
    let starts: Vec<u64> = searches(&server)
        .iter()
        .filter(|r| r.path_and_query.starts_with("/rest/api/2/search"))
        .map(|r| {
            serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["startAt"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(&starts[..5], &[0, 7, 14, 21, 28]);
}

#[test]
fn cloud_short_pages_that_are_not_last_are_followed() {
    let mut cfg = config(Flavor::Cloud);
    cfg.short_pages = true;
    cfg.max_results_cap = 10;
    let issues = requested_tickets(300, 45);
    let server = JiraServer::start(cfg, issues, 0).unwrap();
    let env = TestEnv::with_workspace("v23");
    let r = sync(&env, &server, &["--flavor", "cloud"]);
    assert_eq!(r["tickets"], 45, "{r}");
}

fn long_history(key: &str, n: usize) -> serde_json::Value {
    // Requested first, then `n` changes of an unrelated label, then approved.
    let mut changes: Vec<(DateTime<Utc>, &str, Vec<String>)> = vec![(
        t("2026-10-01T10:00:00Z"),
        "dev",
        vec!["backport-v23".into()],
    )];
    for i in 0..n {
        changes.push((
            t("2026-10-01T10:00:00Z") + chrono::Duration::hours(i as i64 + 1),
            "dev",
            vec!["backport-v23".into(), format!("churn-{}", i % 2)],
        ));
    }
    changes.push((
        t("2026-11-10T09:00:00Z"),
        "mlindqvist",
        vec!["backport-v23".into(), "backport-approved".into()],
    ));
    let refs: Vec<Vec<&str>> = changes
        .iter()
        .map(|(_, _, l)| l.iter().map(String::as_str).collect())
        .collect();
    let changes: Vec<(DateTime<Utc>, &str, &[&str])> = changes
        .iter()
        .zip(&refs)
        .map(|((at, who, _), l)| (*at, *who, l.as_slice()))
        .collect();
    seed_issue(key, "a ticket with a long history", &changes)
}

#[test]
fn truncated_changelogs_are_completed_on_both_flavors() {
    for flavor in [Flavor::Cloud, Flavor::DataCenter] {
        let server =
            JiraServer::start(config(flavor), vec![long_history("DM-400", 130)], 0).unwrap();
        let env = TestEnv::with_workspace("v23");
        let r = sync(&env, &server, &[]);
        assert!(
            r["changelog_requests"].as_u64().unwrap() >= 1,
            "{flavor:?}: {r}"
        );
        assert!(
            r["warnings"]
                .as_array()
                .unwrap()
                .iter()
                .all(|w| !w.as_str().unwrap().contains("truncated")),
            "{flavor:?}: {r}"
        );
        // Every label change is there, attributed: the request by dev, the approval by mlindqvist.
        let h = env.run(&["history", "DM-400", "--format", "json", "--all"]);
        h.ok();
        let v: serde_json::Value = serde_json::from_str(&h.stdout).unwrap();
        let tl = v["timeline"].as_array().unwrap();
        let label_events = tl
            .iter()
            .filter(|e| e["kind"].as_str().unwrap().starts_with("label."))
            .count();
        assert!(
            label_events >= 131,
            "{flavor:?}: {label_events} label events"
        );
        assert!(
            tl.iter().all(|e| e["source"] != "snapshot"),
            "{flavor:?}: nothing reconstructed"
        );
        assert_eq!(v["lines"]["v23"]["state"], "approved");
        if flavor == Flavor::Cloud {
            assert!(server
                .requests()
                .iter()
                .any(|r| r.path_and_query.contains("/changelog")));
        }
    }
}

#[test]
fn incremental_windows_hold_across_time_zones() {
    for offset in [-300, 780] {
        let mut cfg = config(Flavor::Cloud);
        cfg.tz_offset_minutes = offset;
        let server = JiraServer::start(cfg, campaign(), 0).unwrap();
        let env = TestEnv::with_workspace("v23");
        server.set_now(Some(t("2026-11-20T23:30:00Z")));
        sync(&env, &server, &[]);
        // An hour later (a different calendar day in Auckland, the same in Chicago), one change.
        server.set_now(Some(t("2026-11-21T00:30:00Z")));
        server.edit_labels("DM-100", "mlindqvist", &["backport-approved"], &[]);
        server.clear_requests();
        let r = sync(&env, &server, &[]);
        // The changed ticket, and DM-101 (updated 09:00, inside the 5-minute overlap); not the rest.
        assert_eq!(r["tickets"], 2, "offset {offset}: {r}");
        assert_eq!(r["cursor"], "2026-11-21T00:30:00Z");
        let body: serde_json::Value = serde_json::from_str(&searches(&server)[0].body).unwrap();
        let jql = body["jql"].as_str().unwrap();
        // The window starts at the newest `updated` seen (an epoch-ms literal), minus the overlap.
        let newest_seen = t("2026-11-10T09:00:00Z").timestamp_millis();
        assert!(
            jql.contains(&format!("updated >= {}", newest_seen - 5 * 60_000)),
            "{jql}"
        );
        let st = states(&env);
        assert!(
            st.contains(&("DM-100".into(), "approved".into())),
            "offset {offset}: {st:?}"
        );
    }
}

fn fault(path: &str, times: u32, fault: Fault) -> FaultRule {
    FaultRule {
        path_contains: path.into(),
        method: None,
        times,
        fault,
    }
}

#[test]
fn rate_limits_are_waited_out_as_asked() {
    let server = JiraServer::start(config(Flavor::Cloud), campaign(), 0).unwrap();
    let env = TestEnv::with_workspace("v23");
    server.add_fault(fault(
        "/search/jql",
        1,
        Fault::RateLimit {
            status: 429,
            retry_after_secs: 1,
            reset_header: false,
        },
    ));
    server.add_fault(fault(
        "/search/jql",
        1,
        Fault::RateLimit {
            status: 503,
            retry_after_secs: 1,
            reset_header: true,
        },
    ));
    let r = sync(&env, &server, &[]);
    assert_eq!(r["tickets"], 2);
    let s = searches(&server);
    assert!(s.len() >= 3);
    assert_eq!(s[0].status, 429);
    assert_eq!(s[1].status, 503);
    assert!(
        s[1].at.duration_since(s[0].at) >= Duration::from_millis(990),
        "waited Retry-After"
    );
    assert!(
        s[2].at.duration_since(s[1].at) >= Duration::from_millis(990),
        "waited again"
    );
}

#[test]
fn transient_faults_are_retried_and_the_sync_completes() {
    let mut env_cfg = config(Flavor::DataCenter);
    env_cfg.max_results_cap = 2;
    let server = JiraServer::start(env_cfg, campaign(), 0).unwrap();
    let env = TestEnv::with_workspace("v23");
    std::fs::write(
        env.path().join("portcullis.toml"),
        format!(
            "policy = \"policy.toml\"\nledger = \"ledger.db\"\n[jira]\nurl = \"{}\"\nflavor = \"datacenter\"\ntimeout_seconds = 1\nbackoff_ms = 20\n",
            server.url()
        ),
    )
    .unwrap();
    server.add_fault(fault(
        "/search",
        2,
        Fault::Status {
            status: 500,
            body: FaultBody::JiraJson("boom".into()),
        },
    ));
    server.add_fault(fault(
        "/search",
        1,
        Fault::Status {
            status: 502,
            body: FaultBody::Html,
        },
    ));
    server.add_fault(fault("/search", 1, Fault::Drop));
    server.add_fault(fault("/search", 1, Fault::Malformed));
    server.add_fault(fault("/search", 1, Fault::Slow { millis: 2500 }));
    let started = Instant::now();
    let r = sync(&env, &server, &[]);
    assert_eq!(r["tickets"], 2, "{r}");
    assert!(started.elapsed() < Duration::from_secs(30));
    let statuses: Vec<u16> = searches(&server).iter().map(|r| r.status).collect();
    assert!(statuses.starts_with(&[500, 500, 502]), "{statuses:?}");
    env.run(&["audit"]).ok();
}

fn assert_fails_cleanly(env: &TestEnv, r: &Run, needle: &str, before: &(i64, Vec<String>)) {
    assert_eq!(r.code, 2, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(needle),
        "expected `{needle}` in:\n{}",
        r.stderr
    );
    assert!(r.stderr.contains("hint:"), "{}", r.stderr);
    assert!(!r.stderr.contains(TOKEN) && !r.stdout.contains(TOKEN));
    assert_eq!(&env.ledger_fingerprint(), before, "the ledger is unchanged");
}

#[test]
fn hard_faults_give_clear_errors_and_change_nothing() {
    let server = JiraServer::start(config(Flavor::Cloud), campaign(), 0).unwrap();
    let env = TestEnv::with_workspace("v23");
    let before = env.ledger_fingerprint();
    let cases: Vec<(FaultRule, &str)> = vec![
        (fault("/search/jql", 1, Fault::HtmlOk), "HTML page"),
        (
            fault(
                "/search/jql",
                1,
                Fault::Status {
                    status: 403,
                    body: FaultBody::JiraJson("You do not have permission".into()),
                },
            ),
            "no permission",
        ),
        (
            fault(
                "/search/jql",
                1,
                Fault::Status {
                    status: 400,
                    body: FaultBody::JiraJson("Error in the JQL Query".into()),
                },
            ),
            "Error in the JQL Query",
        ),
        (fault("/search/jql", 99, Fault::Malformed), "malformed JSON"),
        (
            fault(
                "/myself",
                1,
                Fault::Status {
                    status: 401,
                    body: FaultBody::Text("Unauthorized".into()),
                },
            ),
            "did not accept the credentials",
        ),
    ];
    for (rule, needle) in cases {
        server.clear_faults();
        server.add_fault(rule);
        let r = run_with(
            &env,
            &server,
            &["sync", "--flavor", "cloud"],
            &[("PORTCULLIS_LOG", "debug")],
        );
        assert_fails_cleanly(&env, &r, needle, &before);
    }
    server.clear_faults();
    // A 404 on an unknown site path.
    let r = run_with(
        &env,
        &server,
        &[
            "sync",
            "--url",
            &format!("{}/nope", server.url()),
            "--flavor",
            "cloud",
        ],
        &[],
    );
    assert_fails_cleanly(&env, &r, "404", &before);
}

#[test]
fn cloud_legacy_search_410_says_set_flavor_cloud() {
    let server = JiraServer::start(config(Flavor::Cloud), campaign(), 0).unwrap();
    let env = TestEnv::with_workspace("v23");
    let before = env.ledger_fingerprint();
    // Anonymous, told it is Data Center: the legacy search answers 410.
    let r = env.run_env(
        &["sync", "--flavor", "datacenter"],
        &[("PORTCULLIS_JIRA_URL", &server.url())],
    );
    assert_fails_cleanly(&env, &r, "410", &before);
    assert!(
        r.stderr
            .contains("this is Jira Cloud: set `flavor = \"cloud\"`"),
        "{}",
        r.stderr
    );
    assert!(searches(&server)
        .iter()
        .any(|q| q.path_and_query.starts_with("/rest/api/2/search") && q.status == 410));
    // With credentials the login already fails (Bearer is not Cloud's auth): the message says why.
    let r = run_with(&env, &server, &["sync", "--flavor", "datacenter"], &[]);
    assert_fails_cleanly(
        &env,
        &r,
        "is Jira Cloud, but portcullis was told it is datacenter",
        &before,
    );
}

#[test]
fn a_failed_login_is_not_an_empty_project() {
    let mut cfg = config(Flavor::Cloud);
    cfg.anonymous_on_bad_auth = true;
    let server = JiraServer::start(cfg, campaign(), 0).unwrap();
    let env = TestEnv::with_workspace("v23");
    let before = env.ledger_fingerprint();
    let r = run_with(
        &env,
        &server,
        &["sync"],
        &[("PORTCULLIS_JIRA_TOKEN", "wrong-token")],
    );
    assert_fails_cleanly(&env, &r, "credentials", &before);
    assert!(!r.stderr.contains("wrong-token"));
}

#[test]
fn no_secret_reaches_the_ledger_logs_or_output() {
    let server = JiraServer::start(config(Flavor::Cloud), campaign(), 0).unwrap();
    let env = TestEnv::with_workspace("v23");
    server.add_fault(fault(
        "/search/jql",
        1,
        Fault::Status {
            status: 500,
            body: FaultBody::Text("oops".into()),
        },
    ));
    let r = run_with(&env, &server, &["sync"], &[("PORTCULLIS_LOG", "trace")]);
    r.ok();
    env.run_env(&["decide", "approve", "DM-100", "--as", "mlindqvist"], &[])
        .ok();
    let p = run_with(&env, &server, &["push"], &[("PORTCULLIS_LOG", "trace")]);
    p.ok();
    let bad = run_with(
        &env,
        &server,
        &["sync"],
        &[
            ("PORTCULLIS_JIRA_EMAIL", "nobody@example.org"),
            ("PORTCULLIS_LOG", "trace"),
        ],
    );
    assert_eq!(bad.code, 2);
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{EMAIL}:{TOKEN}"));
    let basic_bad =
        base64::engine::general_purpose::STANDARD.encode(format!("nobody@example.org:{TOKEN}"));
    for text in [
        &r.stdout,
        &r.stderr,
        &p.stdout,
        &p.stderr,
        &bad.stdout,
        &bad.stderr,
    ] {
        for secret in [TOKEN, basic.as_str(), basic_bad.as_str()] {
            assert!(!text.contains(secret), "secret in output:\n{text}");
        }
    }
    assert!(
        r.stderr.contains("DEBUG") || r.stderr.contains("TRACE") || r.stderr.contains("WARN"),
        "logs were on"
    );
    for entry in std::fs::read_dir(env.path()).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            let bytes = std::fs::read(&p).unwrap();
            let hay = String::from_utf8_lossy(&bytes);
            for secret in [TOKEN, basic.as_str()] {
                assert!(!hay.contains(secret), "secret in {}", p.display());
            }
        }
    }
}

#[test]
fn a_credentials_file_readable_by_others_is_refused() {
    let server = JiraServer::start(config(Flavor::DataCenter), campaign(), 0).unwrap();
    let env = TestEnv::with_workspace("v23");
    let creds = env.write("creds.toml", &format!("[jira]\ntoken = \"{TOKEN}\"\n"));
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o644)).unwrap();
    let vars = [
        ("PORTCULLIS_JIRA_URL", server.url()),
        ("PORTCULLIS_CREDENTIALS", creds.display().to_string()),
    ];
    let refs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = env.run_env(&["sync"], &refs);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("readable by others") && r.stderr.contains("chmod 600"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(TOKEN));
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o600)).unwrap();
    let r = env.run_env(&["sync", "--format", "json"], &refs);
    r.ok();
    assert!(r.stdout.contains("\"tickets\": 2"), "{}", r.stdout);
}

#[test]
fn credentials_set_makes_a_private_file_from_stdin_that_sync_then_uses() {
    use std::os::unix::fs::PermissionsExt;
    let server = JiraServer::start(config(Flavor::DataCenter), campaign(), 0).unwrap();
    let env = TestEnv::with_workspace("v23");
    // No file yet: `show` says where it would be.
    let r = env.run(&["credentials", "show"]);
    r.ok();
    assert!(r.stdout.contains("no credentials file yet"), "{}", r.stdout);
    let file = env.path().join(".config/portcullis/credentials.toml");
    let r = env.run_stdin(
        &["credentials", "set", "jira", "token"],
        &[],
        Some(&format!("{TOKEN}\n")),
    );
    r.ok();
    assert!(r.stdout.contains("stored jira.token"), "{}", r.stdout);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(file.parent().unwrap()), 0o700);
    // A second key keeps the first; a notify target's URL goes in its own table.
    env.run_stdin(&["credentials", "set", "jira", "email"], &[], Some(EMAIL))
        .ok();
    env.run_stdin(
        &["credentials", "set", "notify.team", "url"],
        &[],
        Some("https://hooks.example.org/T0/B0/XXSECRETXX"),
    )
    .ok();
    let text = std::fs::read_to_string(&file).unwrap();
    let t: toml::Table = text.parse().unwrap();
    assert_eq!(t["jira"]["token"].as_str(), Some(TOKEN));
    assert_eq!(t["jira"]["email"].as_str(), Some(EMAIL));
    assert!(t["notify"]["team"]["url"]
        .as_str()
        .unwrap()
        .contains("XXSECRETXX"));
    assert_eq!(mode(&file), 0o600);
    // `show` lists keys, never values.
    let r = env.run(&["credentials", "show"]);
    r.ok();
    assert!(r.stdout.contains("jira.token = (set)") && r.stdout.contains("notify.team.url"));
    assert!(!r.stdout.contains(TOKEN) && !r.stdout.contains("XXSECRETXX"));
    // Bad tables and keys, empty values and a file others can read are refused, file unchanged.
    for (args, stdin, says) in [
        (
            &["credentials", "set", "jria", "token"][..],
            "x",
            "no credentials table `jria`",
        ),
        (
            &["credentials", "set", "github", "email"][..],
            "x",
            "takes no `email`",
        ),
        (
            &["credentials", "set", "github", "token"][..],
            "  \n",
            "empty",
        ),
    ] {
        let r = env.run_stdin(args, &[], Some(stdin));
        assert_eq!(r.code, 2, "{args:?}");
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
    }
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let r = env.run_stdin(
        &["credentials", "set", "github", "token"],
        &[],
        Some("ghp_x"),
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("chmod 600"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    // The stored token is what sync authenticates with (no token in the environment).
    let r = env.run_env(
        &["sync", "--format", "json"],
        &[("PORTCULLIS_JIRA_URL", &server.url())],
    );
    r.ok();
    assert!(r.stdout.contains("\"tickets\": 2"), "{}", r.stdout);
    assert!(server
        .requests()
        .iter()
        .any(|q| q.user.as_deref() == Some("portcullis-bot")));
}

#[test]
fn push_writes_labels_and_a_comment_once_and_dry_run_writes_nothing() {
    let server = JiraServer::start(config(Flavor::DataCenter), campaign(), 0).unwrap();
    let env = TestEnv::with_workspace("v23");
    sync(&env, &server, &[]);
    // Decided in a quorate meeting: final, and the comment names the meeting.
    env.run(&[
        "meeting",
        "open",
        "--attendee",
        "mlindqvist",
        "--attendee",
        "tokafor",
        "--attendee",
        "praman",
    ])
    .ok();
    env.run(&[
        "decide",
        "approve",
        "DM-100",
        "--as",
        "mlindqvist",
        "--note",
        "needed for coadds",
    ])
    .ok();
    env.run(&[
        "decide",
        "defer",
        "DM-101",
        "--as",
        "tokafor",
        "--force",
        "--until",
        "2026-12-01",
        "--note",
        "after the coadd step",
    ]);

    server.clear_requests();
    let dry = run_with(&env, &server, &["push", "--dry-run"], &[]);
    dry.ok();
    assert!(
        dry.stdout.contains("would push") && dry.stdout.contains("+backport-approved"),
        "{}",
        dry.stdout
    );
    assert!(
        server.requests().iter().all(|r| r.method == "GET"),
        "a dry run only reads"
    );
    assert!(!server
        .issue("DM-100")
        .unwrap()
        .labels
        .contains(&"backport-approved".to_string()));

    let p = run_with(&env, &server, &["push", "--format", "json"], &[]);
    p.ok();
    let v: serde_json::Value = serde_json::from_str(&p.stdout).unwrap();
    assert_eq!(v["conflicts"], 0, "{v}");
    let dm100 = server.issue("DM-100").unwrap();
    assert!(dm100.labels.contains(&"backport-approved".to_string()));
    assert!(dm100.labels.contains(&"backport-v23".to_string()));
    assert_eq!(dm100.comments.len(), 1);
    assert!(
        dm100.comments[0].contains("APPROVED") && dm100.comments[0].contains("needed for coadds")
    );
    assert!(
        dm100.comments[0].contains("2026-11-24"),
        "the meeting date: {}",
        dm100.comments[0]
    );

    // Twice: nothing more is written.
    server.clear_requests();
    let again = run_with(&env, &server, &["push"], &[]);
    again.ok();
    assert!(again.stdout.contains("nothing to push"), "{}", again.stdout);
    assert!(server.requests().iter().all(|r| r.method == "GET"));
    assert_eq!(server.issue("DM-100").unwrap().comments.len(), 1);

    // The pushed change is an event; the echo of our own label edit raises no violation.
    let h = env.run(&["history", "DM-100", "--format", "json"]);
    assert!(h.stdout.contains("written to Jira"), "{}", h.stdout);
    sync(&env, &server, &[]);
    let s = env.run(&["status", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&s.stdout).unwrap();
    let dm100 = v["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == "DM-100")
        .unwrap()
        .clone();
    assert_eq!(dm100["state"], "approved");
    assert_eq!(dm100["open_violations"], 0, "{dm100}");
    env.run(&["audit"]).ok();
}

#[test]
fn push_reports_a_conflict_and_does_not_overwrite() {
    let server = JiraServer::start(config(Flavor::Cloud), campaign(), 0).unwrap();
    let env = TestEnv::with_workspace("v23");
    sync(&env, &server, &[]);
    // Decided at the test clock (12:00); at 13:00 someone approves it in Jira.
    env.run(&[
        "decide",
        "reject",
        "DM-100",
        "--as",
        "mlindqvist",
        "--note",
        "too risky",
    ])
    .ok();
    server.set_now(Some(t("2026-11-24T13:00:00Z")));
    server.edit_labels("DM-100", "hbrandt", &["backport-approved"], &[]);
    let before = server.issue("DM-100").unwrap();
    let p = run_with(&env, &server, &["push"], &[]);
    assert_eq!(
        p.code, 1,
        "a conflict fails the push: {}\n{}",
        p.stdout, p.stderr
    );
    assert!(
        p.stdout.contains("CONFLICT") && p.stdout.contains("+backport-approved"),
        "{}",
        p.stdout
    );
    let after = server.issue("DM-100").unwrap();
    assert_eq!(after.labels, before.labels, "nothing overwritten");
    assert!(after.comments.is_empty(), "no comment posted");
    let h = env.run(&["history", "DM-100"]);
    assert!(
        h.stdout.contains("held back"),
        "the conflict is in the ledger: {}",
        h.stdout
    );
}

#[test]
fn a_later_change_of_a_label_the_decision_does_not_write_is_no_conflict() {
    let server = JiraServer::start(config(Flavor::Cloud), campaign(), 0).unwrap();
    let env = TestEnv::with_workspace("v23");
    sync(&env, &server, &[]);
    env.run(&["decide", "approve", "DM-100", "--as", "mlindqvist"])
        .ok();
    // After the decision a developer touches another label: the approval overwrites nothing.
    server.set_now(Some(t("2026-11-24T13:00:00Z")));
    server.edit_labels("DM-100", "dev1", &["backport-done"], &[]);
    let p = run_with(&env, &server, &["push"], &[]);
    p.ok();
    let dm = server.issue("DM-100").unwrap();
    assert!(dm.labels.contains(&"backport-approved".to_string()));
    assert!(
        dm.labels.contains(&"backport-done".to_string()),
        "their change is kept"
    );
}

#[test]
fn an_interrupted_push_completes_without_duplicate_comments() {
    let server = JiraServer::start(config(Flavor::DataCenter), campaign(), 0).unwrap();
    let env = TestEnv::with_workspace("v23");
    sync(&env, &server, &[]);
    env.run(&["decide", "approve", "DM-100", "--as", "mlindqvist"])
        .ok();
    // The comment is posted but its answer is lost: the push fails before recording anything.
    server.add_fault(FaultRule {
        path_contains: "/comment".into(),
        method: Some("POST".into()),
        times: 1,
        fault: Fault::Drop,
    });
    let cfg = format!(
        "policy = \"policy.toml\"\nledger = \"ledger.db\"\n[jira]\nurl = \"{}\"\nmax_retries = 0\n",
        server.url()
    );
    std::fs::write(env.path().join("portcullis.toml"), cfg).unwrap();
    let first = run_with(&env, &server, &["push"], &[]);
    assert_eq!(first.code, 2, "{}", first.stderr);
    let second = run_with(&env, &server, &["push"], &[]);
    second.ok();
    let dm = server.issue("DM-100").unwrap();
    assert!(dm.comments.len() <= 1, "{:?}", dm.comments);
    assert!(dm.labels.contains(&"backport-approved".to_string()));
    let again = run_with(&env, &server, &["push"], &[]);
    assert!(again.stdout.contains("nothing to push"), "{}", again.stdout);
}

/// 120 requests served 10 a page, slowly (until the faults are cleared).
fn slow_server() -> JiraServer {
    let mut cfg = config(Flavor::DataCenter);
    cfg.max_results_cap = 10;
    let server = JiraServer::start(cfg, requested_tickets(500, 120), 0).unwrap();
    server.add_fault(fault("/search", 100, Fault::Slow { millis: 150 }));
    server
}

/// A sync of [`slow_server`] killed (SIGKILL) a few pages in; the server is fast again after.
fn kill_a_sync(env: &TestEnv, server: &JiraServer) {
    let mut child = env
        .command()
        .args(["sync"])
        .envs(env_for(server))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while searches(server).len() < 5 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    server.clear_faults();
}

#[test]
fn a_killed_sync_resumes_and_ends_like_an_uninterrupted_one() {
    let server = slow_server();
    let env = TestEnv::with_workspace("v23");
    kill_a_sync(&env, &server);
    env.run(&["audit"]).ok();
    let r = sync(&env, &server, &[]);
    assert_eq!(r["resumed"], true, "{r}");
    env.run(&["audit"]).ok();

    // The same data synced in one go gives the same events (no duplicates, nothing missing).
    let fresh = TestEnv::with_workspace("v23");
    sync(&fresh, &server, &[]);
    let (n1, d1) = env.ledger_fingerprint();
    let (n2, d2) = fresh.ledger_fingerprint();
    assert_eq!(d1, d2, "the same derived state");
    assert_eq!(n1, n2, "the same number of events");
}

/// Regression: `ledger copy` carried the events but not where each tracker sync stood, so a sync
/// killed before the move started over on the copy, and the copy of a complete one had no cursor
/// (its next sync read everything again). Found by the killed-sync test on PostgreSQL.
#[test]
fn ledger_copy_keeps_where_each_sync_stands() {
    let server = slow_server();
    let env = TestEnv::with_workspace("v23");
    env.keep_sqlite(); // It moves the file's ledger itself.
    kill_a_sync(&env, &server);
    let pg = portcullis_testkit::postgres::server();
    let url = pg.url(&pg.fresh_database());
    env.run(&["ledger", "copy", "--to", &url]).ok();
    let sync_on = |db: &str| {
        let r = run_with(
            &env,
            &server,
            &["--db", db, "sync", "--format", "json"],
            &[],
        );
        r.ok();
        serde_json::from_str::<serde_json::Value>(&r.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
    };
    let r = sync_on(&url);
    assert_eq!(r["resumed"], true, "the copy resumes the killed run: {r}");
    // And back to a file: the next sync there is incremental, from the cursor the run left.
    env.run(&["--db", &url, "ledger", "copy", "--to", "back.db"])
        .ok();
    let r = sync_on("back.db");
    assert_eq!(r["full"], false, "{r}");
    assert!(r["since"].is_string(), "{r}");
    assert_eq!(r["new_events"], 0, "{r}");
}
