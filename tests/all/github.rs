//! GitHub issues and pull requests as a ticket source: live sync and push against the
//! GitHub-compatible test server, over real TCP, with the real binary.

use std::time::Duration;

use chrono::{DateTime, Utc};
use portcullis_testkit::github_server::{
    seed_issue, CommitSeed, Config, Fault, FaultBody, FaultRule, GithubServer, PrSeed, User,
};

use crate::harness::{Run, TestEnv};

const TOKEN: &str = "ghp_S3CRET0tok3n5f1e2d";
const BUTLER: &str = "lsst/daf_butler";
const TASKS: &str = "lsst/pipe_tasks";
const MERGE_SHA: &str = "9f1c0ffee0ddba11c0ffee0ddba11c0ffee0ddb1";

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub(crate) fn config() -> Config {
    Config {
        users: vec![User::new("portcullis-bot", TOKEN)],
        ..Config::default()
    }
}

/// Two repositories: requested, approved, done and soon-withdrawn issues; a merged pull request;
/// an issue whose request was removed before portcullis saw it; an unrelated issue.
pub(crate) fn campaign() -> Vec<serde_json::Value> {
    let req = |at: &str, who: &'static str| (t(at), who, "labeled", "backport-v23");
    let approve = |at: &str| (t(at), "mlindqvist", "labeled", "backport-approved");
    vec![
        seed_issue(
            BUTLER,
            1,
            "Fix the flux calibration",
            &[req("2026-11-02T10:00:00Z", "dev1")],
            None,
        ),
        seed_issue(
            BUTLER,
            2,
            "Improve timeout handling",
            &[
                req("2026-11-02T11:00:00Z", "dev2"),
                approve("2026-11-10T09:00:00Z"),
            ],
            None,
        ),
        seed_issue(
            BUTLER,
            3,
            "Pin the schema version",
            &[
                req("2026-11-03T09:00:00Z", "dev1"),
                approve("2026-11-05T09:00:00Z"),
                (
                    t("2026-11-08T09:00:00Z"),
                    "dev1",
                    "labeled",
                    "backport-done",
                ),
            ],
            None,
        ),
        seed_issue(
            BUTLER,
            4,
            "Rename a config field",
            &[req("2026-11-03T10:00:00Z", "dev1")],
            None,
        ),
        seed_issue(
            TASKS,
            10,
            "Backport the coadd fix",
            &[
                req("2026-11-04T10:00:00Z", "dev3"),
                approve("2026-11-06T10:00:00Z"),
            ],
            Some(PrSeed {
                merge_commit_sha: Some(MERGE_SHA.into()),
                head_ref: "tickets/coadd-fix".into(),
                base_ref: "main".into(),
                commits: vec![
                    CommitSeed::new(&"a1".repeat(20), "Fix the coadd"),
                    CommitSeed::new(&"b2".repeat(20), "Add a test"),
                ],
                merged_at: Some(t("2026-11-07T10:00:00Z")),
            }),
        ),
        seed_issue(
            TASKS,
            11,
            "Faster warping",
            &[req("2026-11-04T11:00:00Z", "dev3")],
            None,
        ),
        seed_issue(
            TASKS,
            12,
            "Unrelated",
            &[(t("2026-11-04T12:00:00Z"), "dev3", "labeled", "pipelines")],
            None,
        ),
        seed_issue(
            TASKS,
            13,
            "Rejected long ago",
            &[
                req("2026-10-01T10:00:00Z", "dev3"),
                (
                    t("2026-10-02T10:00:00Z"),
                    "tokafor",
                    "unlabeled",
                    "backport-v23",
                ),
            ],
            None,
        ),
    ]
}

/// A workspace made by `init --from-policy github`, with a committee and `[github]` pointing
/// at the server (2 issues per page).
pub(crate) fn workspace(server: &GithubServer, extra: &str) -> TestEnv {
    let env = TestEnv::with_workspace("github");
    let policy = std::fs::read_to_string(env.path().join("policy.toml")).unwrap();
    let policy = policy.replace(
        r#"{ name = "Release Manager", aliases = ["release-manager"] },"#,
        r#"{ name = "Mara Lindqvist", aliases = ["mlindqvist"] },
  { name = "Tomas Okafor", aliases = ["tokafor"] },"#,
    );
    env.write("policy.toml", &policy);
    env.write(
        "portcullis.toml",
        &format!(
            "policy = \"policy.toml\"\nledger = \"ledger.db\"\nuser = \"Mara Lindqvist\"\n\
             [github]\nurl = \"{}\"\nrepos = [\"{BUTLER}\", \"{TASKS}\"]\npage_size = 2\n\
             max_retries = 2\ntimeout_seconds = 5\n{extra}",
            server.url()
        ),
    );
    env
}

pub(crate) fn run(env: &TestEnv, args: &[&str], extra: &[(&str, &str)]) -> Run {
    let mut vars = vec![("PORTCULLIS_GITHUB_TOKEN", TOKEN)];
    vars.extend_from_slice(extra);
    env.run_env(args, &vars)
}

pub(crate) fn sync(env: &TestEnv, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["sync", "--format", "json"];
    args.extend_from_slice(extra);
    let r = run(env, &args, &[]);
    r.ok();
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

fn states(env: &TestEnv) -> Vec<(String, String)> {
    let r = env.run(&["status", "--format", "json"]);
    r.ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let mut s: Vec<(String, String)> = v["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["key"].as_str().unwrap().to_string(),
                t["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    s.sort();
    s
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = list
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    v.sort();
    v
}

fn issue_listings(server: &GithubServer) -> Vec<portcullis_testkit::github_server::RequestRecord> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.path_and_query.contains("/issues?"))
        .collect()
}

#[test]
fn full_sync_of_two_repositories_then_incremental_sync() {
    let server = GithubServer::start(config(), campaign(), 0).unwrap();
    let env = workspace(&server, "");
    let first = sync(&env, &[]);
    assert_eq!(first["flavor"], "github");
    assert_eq!(first["tickets"], 6, "{first}");
    assert!(first["new_events"].as_u64().unwrap() > 0);
    assert_eq!(
        states(&env),
        pairs(&[
            ("daf_butler#1", "requested"),
            ("daf_butler#2", "approved"),
            ("daf_butler#3", "done"),
            ("daf_butler#4", "requested"),
            ("pipe_tasks#10", "approved"),
            ("pipe_tasks#11", "requested"),
        ])
    );
    // One listing per label (an AND otherwise), all states, oldest update first, 2 per page,
    // following the Link header.
    let listings = issue_listings(&server);
    for r in &listings {
        let q = &r.path_and_query;
        assert!(q.contains("state=all") && q.contains("sort=updated"), "{q}");
        assert!(!q.contains("labels=backport-v23%2C") && !q.contains("labels=backport-v23,"));
    }
    assert!(
        listings.iter().any(|r| r.path_and_query.contains("page=2")),
        "pagination followed: {:?}",
        listings
            .iter()
            .map(|r| &r.path_and_query)
            .collect::<Vec<_>>()
    );
    // Attributed label history, from GitHub's events.
    let h = env.run(&["history", "daf_butler#2", "--format", "json"]);
    h.ok();
    let v: serde_json::Value = serde_json::from_str(&h.stdout).unwrap();
    let tl = v["timeline"].as_array().unwrap();
    assert!(tl
        .iter()
        .any(|e| e["source"] == "github" && e["actor"] == "mlindqvist"));
    assert!(tl.iter().all(|e| e["source"] != "snapshot"), "{tl:?}");
    assert_eq!(v["info"]["components"][0], "daf_butler");
    assert!(v["info"]["url"]
        .as_str()
        .unwrap()
        .ends_with("/lsst/daf_butler/issues/2"));

    // Again: nothing new, and incremental.
    server.clear_requests();
    let again = sync(&env, &[]);
    assert_eq!(again["new_events"], 0, "{again}");
    assert!(again["since"].is_string(), "{again}");
    assert!(issue_listings(&server)
        .iter()
        .all(|r| r.path_and_query.contains("since=")));

    // Edits on GitHub: an approval, and a request label removed (now in no label listing).
    server.set_now(Some(t("2026-11-20T08:00:00Z")));
    server.edit_labels_as("mlindqvist", BUTLER, 1, &["backport-approved"], &[]);
    server.edit_labels_as("tokafor", BUTLER, 4, &[], &["backport-v23"]);
    let third = sync(&env, &[]);
    assert!(third["new_events"].as_u64().unwrap() >= 2, "{third}");
    assert_eq!(third["cursor"], "2026-11-20T08:00:00Z");
    let st = states(&env);
    assert!(
        st.contains(&("daf_butler#1".into(), "approved".into())),
        "{st:?}"
    );
    assert!(
        st.contains(&("daf_butler#4".into(), "withdrawn".into())),
        "{st:?}"
    );

    // --full re-reads everything and adds nothing; --key brings in a request removed long ago.
    let full = sync(&env, &["--full"]);
    assert_eq!(full["new_events"], 0, "{full}");
    sync(&env, &["--key", "pipe_tasks#13"]);
    let st = states(&env);
    assert!(
        st.contains(&("pipe_tasks#13".into(), "withdrawn".into())),
        "{st:?}"
    );
    env.run(&["audit"]).ok();
}

#[test]
fn merged_pull_requests_link_their_commits_once() {
    let server = GithubServer::start(config(), campaign(), 0).unwrap();
    let env = workspace(&server, "");
    sync(&env, &[]);
    let ledger = env.ledger();
    let links: Vec<_> = ledger
        .events_for_ticket("pipe_tasks#10")
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "commit.linked")
        .collect();
    assert_eq!(links.len(), 1);
    let p = &links[0].payload;
    assert_eq!(p["repo"], "pipe_tasks");
    assert_eq!(p["sha"], MERGE_SHA);
    assert_eq!(
        p["commits"],
        serde_json::json!(["a1".repeat(20), "b2".repeat(20)])
    );
    assert_eq!(links[0].source, "github");
    drop(ledger);
    // Issues are not pull requests: no commit link for them.
    let h = env.run(&["history", "pipe_tasks#10"]);
    assert!(h.stdout.contains("merged in pipe_tasks"), "{}", h.stdout);

    server.clear_requests();
    sync(&env, &["--full"]);
    assert!(
        server
            .requests()
            .iter()
            .all(|r| !r.path_and_query.contains("/pulls/")),
        "the pull request is read once"
    );
    let ledger = env.ledger();
    let n = ledger
        .events_for_ticket("pipe_tasks#10")
        .unwrap()
        .iter()
        .filter(|e| e.kind == "commit.linked")
        .count();
    assert_eq!(n, 1);
}

#[test]
fn rate_limits_are_waited_out_and_the_sync_completes() {
    let server = GithubServer::start(config(), campaign(), 0).unwrap();
    let env = workspace(&server, "");
    let list = "/repos/lsst/daf_butler/issues?";
    server.add_fault(FaultRule::new(list, 1, Fault::RateLimit { reset_secs: 1 }));
    server.add_fault(FaultRule::new(
        list,
        1,
        Fault::SecondaryRateLimit {
            status: 429,
            retry_after_secs: 1,
        },
    ));
    let r = run(
        &env,
        &["sync", "--format", "json"],
        &[("PORTCULLIS_LOG", "warn")],
    );
    r.ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["tickets"], 6, "{v}");
    assert!(
        r.stderr.contains("rate limit"),
        "the waits are logged: {}",
        r.stderr
    );
    let l = issue_listings(&server);
    assert_eq!(l[0].status, 403);
    assert_eq!(l[1].status, 429);
    assert!(
        l[1].at.duration_since(l[0].at) >= Duration::from_millis(990),
        "waited for x-ratelimit-reset"
    );
    assert!(
        l[2].at.duration_since(l[1].at) >= Duration::from_millis(990),
        "waited for retry-after"
    );
    assert_eq!(l[2].status, 200);
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
fn server_errors_and_proxy_pages_give_clear_errors_and_change_nothing() {
    let server = GithubServer::start(config(), campaign(), 0).unwrap();
    let env = workspace(&server, "");
    let before = env.ledger_fingerprint();
    let cases = [
        (
            Fault::Status {
                status: 500,
                body: FaultBody::GithubJson("Server Error".into()),
            },
            "keeps failing (500: Server Error) after 3 attempts",
        ),
        (
            Fault::Status {
                status: 502,
                body: FaultBody::Html,
            },
            "an HTML page",
        ),
        (
            Fault::Status {
                status: 404,
                body: FaultBody::GithubJson("Not Found".into()),
            },
            "not found on GitHub",
        ),
        (
            Fault::RateLimit { reset_secs: 3600 },
            "longer than portcullis waits",
        ),
    ];
    for (fault, needle) in cases {
        server.clear_faults();
        server.add_fault(FaultRule::new("/repos/", 50, fault));
        let r = run(&env, &["sync"], &[("PORTCULLIS_LOG", "debug")]);
        assert_fails_cleanly(&env, &r, needle, &before);
        assert!(!r.stderr.contains("<html"), "no page dump: {}", r.stderr);
    }
    server.clear_faults();
    // A wrong token is an error, never an empty project.
    let r = run(
        &env,
        &["sync"],
        &[("PORTCULLIS_GITHUB_TOKEN", "wrong-token")],
    );
    assert_fails_cleanly(&env, &r, "did not accept the token", &before);
    assert!(!r.stderr.contains("wrong-token"));
    // A policy whose keys are Jira's cannot track GitHub.
    let jira_policy = crate::harness::repo_root().join("policy/v23.toml");
    let r = run(
        &env,
        &["sync", "--policy", jira_policy.to_str().unwrap()],
        &[],
    );
    assert_fails_cleanly(&env, &r, "does not match GitHub ticket keys", &before);
    // And with everything in order it works.
    assert_eq!(sync(&env, &[])["tickets"], 6);
}

#[test]
fn push_writes_labels_and_a_comment_once() {
    let server = GithubServer::start(config(), campaign(), 0).unwrap();
    let env = workspace(&server, "");
    sync(&env, &[]);
    // Decided in a meeting: the comment names it (out of meeting, it would say so instead).
    env.run(&[
        "meeting",
        "open",
        "--attendee",
        "mlindqvist",
        "--attendee",
        "tokafor",
    ])
    .ok();
    env.run(&[
        "decide",
        "approve",
        "daf_butler#1",
        "--as",
        "mlindqvist",
        "--note",
        "needed for coadds",
    ])
    .ok();
    env.run(&[
        "decide",
        "reject",
        "pipe_tasks#11",
        "--as",
        "tokafor",
        "--note",
        "too risky",
    ])
    .ok();

    server.clear_requests();
    let dry = run(&env, &["push", "--dry-run"], &[]);
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

    let p = run(&env, &["push", "--format", "json"], &[]);
    p.ok();
    let v: serde_json::Value = serde_json::from_str(&p.stdout).unwrap();
    assert_eq!(v["conflicts"], 0, "{v}");
    assert_eq!(v["pushed"], 2, "{v}");
    let one = server.issue(BUTLER, 1).unwrap();
    assert!(one.labels.contains(&"backport-approved".to_string()));
    assert!(one.labels.contains(&"backport-v23".to_string()));
    assert_eq!(one.comments.len(), 1);
    let c = &one.comments[0];
    assert!(
        c.contains("APPROVED") && c.contains("needed for coadds"),
        "{c}"
    );
    assert!(
        c.contains("2026-11-24") && c.contains("[portcullis:"),
        "{c}"
    );
    let eleven = server.issue(TASKS, 11).unwrap();
    assert!(
        !eleven.labels.contains(&"backport-v23".to_string()),
        "{eleven:?}"
    );
    assert!(eleven.comments[0].contains("REJECTED") && eleven.comments[0].contains("too risky"));
    assert!(server
        .requests()
        .iter()
        .any(|r| r.method == "DELETE"
            && r.path_and_query.ends_with("/issues/11/labels/backport-v23")));
    assert!(
        eleven
            .label_events
            .iter()
            .any(|e| e.actor == "portcullis-bot" && !e.added),
        "written as the token's account"
    );

    // Twice: nothing more is written.
    server.clear_requests();
    let again = run(&env, &["push"], &[]);
    again.ok();
    assert!(again.stdout.contains("nothing to push"), "{}", again.stdout);
    assert!(server.requests().iter().all(|r| r.method == "GET"));
    assert_eq!(server.issue(BUTLER, 1).unwrap().comments.len(), 1);

    // The push is in the ledger; syncing its echo back raises no violation.
    let h = env.run(&["history", "daf_butler#1"]);
    assert!(h.stdout.contains("written to GitHub"), "{}", h.stdout);
    sync(&env, &[]);
    let s = env.run(&["status", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&s.stdout).unwrap();
    let t1 = v["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == "daf_butler#1")
        .unwrap()
        .clone();
    assert_eq!(t1["state"], "approved");
    assert_eq!(t1["open_violations"], 0, "{t1}");
    env.run(&["audit"]).ok();
}

#[test]
fn push_reports_a_conflicting_label_edit_and_overwrites_nothing() {
    let server = GithubServer::start(config(), campaign(), 0).unwrap();
    let env = workspace(&server, "");
    sync(&env, &[]);
    // Decided at the test clock (12:00); at 13:00 someone approves it on GitHub.
    env.run(&[
        "decide",
        "reject",
        "daf_butler#1",
        "--as",
        "mlindqvist",
        "--note",
        "too risky",
    ])
    .ok();
    server.set_now(Some(t("2026-11-24T13:00:00Z")));
    server.edit_labels_as("hbrandt", BUTLER, 1, &["backport-approved"], &[]);
    let before = server.issue(BUTLER, 1).unwrap();
    let p = run(&env, &["push"], &[]);
    assert_eq!(
        p.code, 1,
        "a conflict fails the push: {}\n{}",
        p.stdout, p.stderr
    );
    assert!(
        p.stdout.contains("CONFLICT") && p.stdout.contains("+backport-approved by hbrandt"),
        "{}",
        p.stdout
    );
    let after = server.issue(BUTLER, 1).unwrap();
    assert_eq!(after.labels, before.labels, "nothing overwritten");
    assert!(after.comments.is_empty(), "no comment posted");
    let h = env.run(&["history", "daf_butler#1"]);
    assert!(h.stdout.contains("held back"), "{}", h.stdout);
    assert!(h.stdout.contains("in GitHub by hbrandt"), "{}", h.stdout);
}

/// Issue 16, observation 6, on GitHub (the same push loop): an approval is not written onto a
/// request withdrawn after the decision.
#[test]
fn observation_6_on_github_an_approval_is_not_pushed_onto_a_withdrawn_request() {
    let server = GithubServer::start(config(), campaign(), 0).unwrap();
    let env = workspace(&server, "");
    sync(&env, &[]);
    env.run(&["decide", "approve", "daf_butler#1", "--as", "mlindqvist"])
        .ok();
    server.set_now(Some(t("2026-11-24T13:00:00Z")));
    server.edit_labels_as("dev1", BUTLER, 1, &[], &["backport-v23"]);
    let p = run(&env, &["push"], &[]);
    assert_eq!(p.code, 1, "{}\n{}", p.stdout, p.stderr);
    assert!(
        p.stdout.contains("CONFLICT") && p.stdout.contains("withdrawn"),
        "{}",
        p.stdout
    );
    let after = server.issue(BUTLER, 1).unwrap();
    assert!(
        !after.labels.contains(&"backport-approved".to_string()),
        "{:?}",
        after.labels
    );
    assert!(after.comments.is_empty(), "no comment posted");
}

#[test]
fn the_token_never_reaches_output_logs_or_the_ledger() {
    let server = GithubServer::start(config(), campaign(), 0).unwrap();
    let env = workspace(&server, "");
    server.add_fault(FaultRule::new(
        "/repos/",
        1,
        Fault::Status {
            status: 502,
            body: FaultBody::Text("bad gateway".into()),
        },
    ));
    let trace = [("PORTCULLIS_LOG", "trace")];
    let s = run(&env, &["sync"], &trace);
    s.ok();
    env.run(&["decide", "approve", "daf_butler#1", "--as", "mlindqvist"])
        .ok();
    let p = run(&env, &["push"], &trace);
    p.ok();
    let bad = run(
        &env,
        &["sync"],
        &[
            ("PORTCULLIS_GITHUB_TOKEN", "wrong"),
            ("PORTCULLIS_LOG", "trace"),
        ],
    );
    assert_eq!(bad.code, 2);
    assert!(
        s.stderr.contains("DEBUG") || s.stderr.contains("TRACE") || s.stderr.contains("WARN"),
        "logs were on"
    );
    for text in [
        &s.stdout,
        &s.stderr,
        &p.stdout,
        &p.stderr,
        &bad.stdout,
        &bad.stderr,
    ] {
        assert!(!text.contains(TOKEN), "token in output:\n{text}");
    }
    for entry in std::fs::read_dir(env.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
                "token in {}",
                path.display()
            );
        }
    }
    // A push without a token writes nothing.
    env.run(&["decide", "approve", "pipe_tasks#11", "--as", "mlindqvist"])
        .ok();
    let anon = env.run(&["push"]);
    assert_eq!(anon.code, 2);
    assert!(
        anon.stderr.contains("needs a GitHub token"),
        "{}",
        anon.stderr
    );
}

#[test]
fn the_token_comes_from_a_private_credentials_file_too() {
    let server = GithubServer::start(config(), campaign(), 0).unwrap();
    let env = workspace(&server, "");
    let creds = env.write("creds.toml", &format!("[github]\ntoken = \"{TOKEN}\"\n"));
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o600)).unwrap();
    let path = creds.display().to_string();
    let r = env.run_env(
        &["sync", "--format", "json"],
        &[("PORTCULLIS_CREDENTIALS", &path)],
    );
    r.ok();
    assert!(r.stdout.contains("\"tickets\": 6"), "{}", r.stdout);
    assert!(!r.stdout.contains("no GitHub token"), "{}", r.stdout);
}

#[test]
fn jira_and_github_together_each_ticket_goes_to_its_tracker() {
    use portcullis_testkit::jira_server as jira;
    let mut jcfg = jira::Config::of(jira::Flavor::DataCenter);
    jcfg.users = vec![jira::User {
        name: "portcullis-bot".into(),
        account_id: "557058:bot".into(),
        display_name: "portcullis bot".into(),
        email: "bot@example.org".into(),
        token: "jira-tok".into(),
    }];
    let jira_server = jira::JiraServer::start(
        jcfg,
        vec![jira::seed_issue(
            "DM-100",
            "Fix the flux calibration",
            &[(t("2026-11-02T10:00:00Z"), "dev1", &["backport-v23"])],
        )],
        0,
    )
    .unwrap();
    let server = GithubServer::start(config(), campaign(), 0).unwrap();
    let env = workspace(
        &server,
        &format!(
            "[jira]\nurl = \"{}\"\nflavor = \"datacenter\"\n",
            jira_server.url()
        ),
    );
    let policy = std::fs::read_to_string(env.path().join("policy.toml")).unwrap();
    env.write(
        "policy.toml",
        &policy.replace(
            r#"ticket_key = "[A-Za-z0-9_.-]+#[0-9]+""#,
            r#"ticket_key = 'DM-\d+|[A-Za-z0-9_.-]+#[0-9]+'"#,
        ),
    );
    let both = [("PORTCULLIS_JIRA_TOKEN", "jira-tok")];
    let s = run(&env, &["sync", "--format", "json"], &both);
    s.ok();
    let v: serde_json::Value = serde_json::from_str(&s.stdout).unwrap();
    assert_eq!(v["jira"]["tickets"], 1, "{v}");
    assert_eq!(v["github"]["tickets"], 6, "{v}");
    let text = run(&env, &["sync"], &both);
    assert!(
        text.stdout.contains("synced Jira") && text.stdout.contains("synced GitHub"),
        "{}\n{}",
        text.stdout,
        text.stderr
    );
    env.run(&["decide", "approve", "DM-100", "--as", "mlindqvist"])
        .ok();
    env.run(&["decide", "approve", "daf_butler#1", "--as", "mlindqvist"])
        .ok();
    let p = run(&env, &["push", "--format", "json"], &both);
    p.ok();
    let v: serde_json::Value = serde_json::from_str(&p.stdout).unwrap();
    assert_eq!(v["jira"]["items"][0]["key"], "DM-100", "{v}");
    assert_eq!(v["jira"]["items"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["github"]["items"][0]["key"], "daf_butler#1", "{v}");
    assert!(jira_server
        .issue("DM-100")
        .unwrap()
        .labels
        .contains(&"backport-approved".to_string()));
    assert!(server
        .issue(BUTLER, 1)
        .unwrap()
        .labels
        .contains(&"backport-approved".to_string()));
    // Without [jira], a Jira decision stays pending and push says so.
    env.run(&[
        "decide",
        "revoke",
        "DM-100",
        "--as",
        "mlindqvist",
        "--note",
        "wrong one",
    ])
    .ok();
    std::fs::write(
        env.path().join("portcullis.toml"),
        std::fs::read_to_string(env.path().join("portcullis.toml"))
            .unwrap()
            .split("[jira]")
            .next()
            .unwrap(),
    )
    .unwrap();
    let p = run(&env, &["push"], &[]);
    // A decision with nowhere to go fails the push (issue 16, observation 8).
    assert_eq!(p.code, 1, "{}\n{}", p.stdout, p.stderr);
    assert!(
        p.stderr
            .contains("1 decision(s) on Jira tickets were not pushed"),
        "{}",
        p.stderr
    );
}

/// A GitHub-tracked fix, end to end: the pull request is requested and approved by label, its
/// merge links the ticket to its commits, the backport is cherry-picked onto the release branch
/// under another branch name, and `verify` finds it landed, as it would a Jira ticket.
#[test]
fn a_merged_pull_request_flows_through_sync_and_verify_like_a_jira_ticket() {
    use portcullis_git::campaign::{CampaignRepo, FILES, MAIN, RELEASE};
    let repos = tempfile::tempdir().unwrap();
    let path = repos.path().join("daf_butler");
    let mut r = CampaignRepo::new(&path).unwrap();
    r.b.branch("fix-flux", MAIN).unwrap();
    let fix = r
        .edit(
            "fix-flux",
            "Fix the flux scale",
            FILES[0],
            10,
            "fixed line 10",
        )
        .unwrap();
    let merge = r.merge_pr(MAIN, "fix-flux").unwrap();
    r.b.branch("pick-flux", RELEASE).unwrap();
    r.b.cherry_pick("pick-flux", fix, None).unwrap();
    r.merge_pr(RELEASE, "pick-flux").unwrap();
    r.finish().unwrap();

    let seeds = vec![seed_issue(
        BUTLER,
        20,
        "Fix the flux scale",
        &[
            (t("2026-11-02T10:00:00Z"), "dev1", "labeled", "backport-v23"),
            (
                t("2026-11-10T09:00:00Z"),
                "mlindqvist",
                "labeled",
                "backport-approved",
            ),
        ],
        Some(PrSeed {
            merge_commit_sha: Some(merge.to_string()),
            head_ref: "fix-flux".into(),
            base_ref: "main".into(),
            commits: vec![CommitSeed::new(&fix.to_string(), "Fix the flux scale")],
            merged_at: None,
        }),
    )];
    let mut seeds = seeds;
    seeds.push(seed_issue(TASKS, 1, "Unrelated", &[], None));
    let server = GithubServer::start(config(), seeds, 0).unwrap();
    let env = workspace(&server, "");
    let policy = std::fs::read_to_string(env.path().join("policy.toml")).unwrap();
    env.write(
        "policy.toml",
        &format!(
            "{policy}\n[[repositories]]\nname = \"daf_butler\"\npath = \"{}\"\nmain_branch = \"main\"\n",
            path.display()
        ),
    );
    sync(&env, &[]);
    let run = run(&env, &["verify", "--format", "json"], &[]);
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let ticket = v["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == "daf_butler#20")
        .unwrap_or_else(|| panic!("{}", v["tickets"]));
    assert_eq!(ticket["status"], "landed", "{ticket}");
    assert_eq!(ticket["state"], "approved", "{ticket}");
}

/// Issue 17 on GitHub: a pushed decision carries its record in an HTML comment, and another
/// workspace that trusts the pushing login records the same decision from it, credited to the
/// member, with its reason, and without a violation for the pushing account's label.
#[test]
fn issue_17_a_decision_reaches_another_workspace_through_its_record() {
    let server = GithubServer::start(config(), campaign(), 0).unwrap();
    let writers = "writers = [\"portcullis-bot\"]\n";
    let (a, b) = (workspace(&server, writers), workspace(&server, writers));
    sync(&a, &[]);
    sync(&b, &[]);
    a.run(&[
        "decide",
        "approve",
        "daf_butler#1",
        "--as",
        "mlindqvist",
        "--note",
        "needed for coadds",
    ])
    .ok();
    let p = run(&a, &["push"], &[]);
    assert_eq!(p.code, 0, "{}\n{}", p.stdout, p.stderr);
    let r = sync(&b, &[]);
    assert_eq!(r["records_applied"], 1, "{r}");
    assert_eq!(r["new_violations"], 0, "{r}");
    let h = b.run(&["history", "daf_butler#1", "--format", "json"]);
    h.ok();
    let v: serde_json::Value = serde_json::from_str(&h.stdout).unwrap();
    let decisions: Vec<&serde_json::Value> = v["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "decision")
        .collect();
    assert_eq!(decisions.len(), 1, "{v}");
    assert_eq!(decisions[0]["note"], "needed for coadds");
    assert_eq!(decisions[0]["actor"], "Mara Lindqvist");
    let text = b.run(&["history", "daf_butler#1"]);
    assert!(
        !text.stdout.contains("approved_by_non_member"),
        "{}",
        text.stdout
    );
    // The origin reads its own record back and adds nothing.
    let again = sync(&a, &[]);
    assert_eq!(again["records_applied"], 0, "{again}");
}
