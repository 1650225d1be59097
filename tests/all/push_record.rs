//! Issue 16, observations 6–8: a push that writes only what the committee decided on the ticket
//! as it was (safe push, supersession), and a sync that survives tickets that disappear. Over
//! TCP against the Jira test server, with the real binary.

use portcullis_testkit::jira_server::{Flavor, JiraServer};

use crate::harness::TestEnv;
use crate::jira_live::{campaign, config, run_with, searches, sync, t};

/// The ledger's JSON history of a ticket.
fn history(env: &TestEnv, key: &str) -> serde_json::Value {
    let h = env.run(&["history", key, "--format", "json"]);
    h.ok();
    serde_json::from_str(&h.stdout).unwrap_or_else(|e| panic!("{e}: {}", h.stdout))
}

/// The kinds of the events of a ticket's history.
fn kinds(env: &TestEnv, key: &str) -> Vec<String> {
    history(env, key)["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

fn status_row(env: &TestEnv, key: &str) -> Option<serde_json::Value> {
    let s = env.run(&["status", "--format", "json"]);
    s.ok();
    let v: serde_json::Value = serde_json::from_str(&s.stdout).unwrap();
    v["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == key)
        .cloned()
}

// ---------------------------------------------------------------------------------------------
// Observation 6: safe push.

#[test]
fn observation_6_an_approval_is_not_pushed_onto_a_request_withdrawn_after_the_decision() {
    let server = JiraServer::start(config(Flavor::Cloud), campaign(), 0).unwrap();
    let env = TestEnv::with_workspace("v23");
    sync(&env, &server, &[]);
    env.run(&["decide", "approve", "DM-100", "--as", "mlindqvist"])
        .ok();
    // At 13:00 the developer withdraws the request in Jira.
    server.set_now(Some(t("2026-11-24T13:00:00Z")));
    server.edit_labels("DM-100", "dev1", &[], &["backport-v23"]);
    let p = run_with(&env, &server, &["push"], &[]);
    assert_eq!(
        p.code, 1,
        "a refused push fails: {}\n{}",
        p.stdout, p.stderr
    );
    assert!(
        p.stdout.contains("CONFLICT") && p.stdout.contains("withdrawn"),
        "{}",
        p.stdout
    );
    let dm = server.issue("DM-100").unwrap();
    assert!(
        !dm.labels.contains(&"backport-approved".to_string()),
        "nothing written: {:?}",
        dm.labels
    );
    assert!(dm.comments.is_empty(), "no comment: {:?}", dm.comments);
    assert!(kinds(&env, "DM-100").contains(&"push.conflict".to_string()));

    // The next sync sees the withdrawal and no approval by the pushing account.
    sync(&env, &server, &[]);
    let row = status_row(&env, "DM-100").unwrap();
    assert_eq!(row["state"], "withdrawn", "{row}");
    assert_ne!(row["approved_by"], "portcullis-bot", "{row}");
    let h = env.run(&["history", "DM-100"]);
    assert!(h.stdout.contains("Violations:"), "{}", h.stdout);
    assert!(
        !h.stdout.contains("approved_by_non_member")
            && !h.stdout.contains("approve_without_request"),
        "{}",
        h.stdout
    );
}

#[test]
fn observation_6_a_withdrawal_synced_before_the_push_still_refuses_the_approval() {
    let server = JiraServer::start(config(Flavor::DataCenter), campaign(), 0).unwrap();
    let env = TestEnv::with_workspace("v23");
    sync(&env, &server, &[]);
    env.run(&["decide", "approve", "DM-100", "--as", "mlindqvist"])
        .ok();
    server.set_now(Some(t("2026-11-24T13:00:00Z")));
    server.edit_labels("DM-100", "dev1", &[], &["backport-v23"]);
    // The ledger now knows of the withdrawal, but the decision was taken without it.
    sync(&env, &server, &[]);
    let p = run_with(&env, &server, &["push", "--format", "json"], &[]);
    assert_eq!(p.code, 1, "{}\n{}", p.stdout, p.stderr);
    let v: serde_json::Value = serde_json::from_str(&p.stdout).unwrap();
    assert_eq!(v["conflicts"], 1, "{v}");
    assert_eq!(v["items"][0]["outcome"], "conflict", "{v}");
    let dm = server.issue("DM-100").unwrap();
    assert!(!dm.labels.contains(&"backport-approved".to_string()));
    assert!(dm.comments.is_empty());
}

#[test]
fn observation_6_a_revocation_is_not_pushed_onto_a_request_withdrawn_since() {
    // The ledger knew DM-101 requested and approved when the committee revoked it; the request
    // has since been withdrawn: the ticket is not what the decision was about any more.
    let server = JiraServer::start(config(Flavor::Cloud), campaign(), 0).unwrap();
    let env = TestEnv::with_workspace("v23");
    sync(&env, &server, &[]);
    env.run(&[
        "decide",
        "revoke",
        "DM-101",
        "--as",
        "mlindqvist",
        "--note",
        "wrong branch",
    ])
    .ok();
    server.set_now(Some(t("2026-11-24T13:00:00Z")));
    server.edit_labels("DM-101", "dev2", &[], &["backport-v23"]);
    let p = run_with(&env, &server, &["push"], &[]);
    assert_eq!(p.code, 1, "{}\n{}", p.stdout, p.stderr);
    assert!(p.stdout.contains("CONFLICT"), "{}", p.stdout);
    let dm = server.issue("DM-101").unwrap();
    assert!(
        dm.labels.contains(&"backport-approved".to_string()),
        "nothing written"
    );
    assert!(dm.comments.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Observation 7: supersession.

#[test]
fn observation_7_deciding_again_after_a_conflict_pushes_only_the_final_outcome() {
    let server = JiraServer::start(config(Flavor::Cloud), campaign(), 0).unwrap();
    let env = TestEnv::with_workspace("v23");
    sync(&env, &server, &[]);
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
    let p = run_with(&env, &server, &["push"], &[]);
    assert_eq!(p.code, 1, "held back: {}\n{}", p.stdout, p.stderr);

    // The committee syncs, reviews, and decides again, later.
    let later = [("PORTCULLIS_NOW", "2026-11-24T14:00:00Z")];
    sync(&env, &server, &[]);
    let d = run_with(
        &env,
        &server,
        &[
            "decide",
            "approve",
            "DM-100",
            "--as",
            "mlindqvist",
            "--force",
            "--note",
            "needed after all",
        ],
        &later,
    );
    d.ok();
    let p = run_with(&env, &server, &["push", "--format", "json"], &later);
    assert_eq!(p.code, 0, "{}\n{}", p.stdout, p.stderr);
    let v: serde_json::Value = serde_json::from_str(&p.stdout).unwrap();
    assert_eq!(v["pushed"], 1, "only the final decision is pushed: {v}");
    let dm = server.issue("DM-100").unwrap();
    assert_eq!(dm.comments.len(), 1, "one comment: {:?}", dm.comments);
    assert!(dm.comments[0].contains("APPROVED"), "{:?}", dm.comments);
    assert!(!dm.comments[0].contains("REJECTED"));
    assert!(
        dm.labels.contains(&"backport-v23".to_string()),
        "{:?}",
        dm.labels
    );
    assert!(dm.labels.contains(&"backport-approved".to_string()));

    // The rejection is recorded as superseded and never pushed later.
    let tl = history(&env, "DM-100");
    let superseded: Vec<&serde_json::Value> = tl["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "decision.superseded")
        .collect();
    assert_eq!(superseded.len(), 1, "{tl}");
    assert!(
        superseded[0]["what"]
            .as_str()
            .unwrap()
            .contains("superseded"),
        "{}",
        superseded[0]
    );
    let again = run_with(&env, &server, &["push"], &later);
    again.ok();
    assert!(again.stdout.contains("nothing to push"), "{}", again.stdout);
    assert_eq!(server.issue("DM-100").unwrap().comments.len(), 1);
}

#[test]
fn observation_7_two_unpushed_decisions_on_a_line_push_as_one() {
    let server = JiraServer::start(config(Flavor::DataCenter), campaign(), 0).unwrap();
    let env = TestEnv::with_workspace("v23");
    sync(&env, &server, &[]);
    env.run(&["decide", "approve", "DM-100", "--as", "mlindqvist"])
        .ok();
    env.run(&[
        "decide",
        "reject",
        "DM-100",
        "--as",
        "mlindqvist",
        "--force",
        "--note",
        "changed our minds",
    ])
    .ok();
    let dry = run_with(
        &env,
        &server,
        &["push", "--dry-run", "--format", "json"],
        &[],
    );
    dry.ok();
    let v: serde_json::Value = serde_json::from_str(&dry.stdout).unwrap();
    assert_eq!(v["pending"], 1, "only the latest is pending: {v}");
    let p = run_with(&env, &server, &["push"], &[]);
    p.ok();
    let dm = server.issue("DM-100").unwrap();
    assert_eq!(dm.comments.len(), 1, "{:?}", dm.comments);
    assert!(dm.comments[0].contains("REJECTED"));
    assert!(!dm.labels.contains(&"backport-approved".to_string()));
    assert!(kinds(&env, "DM-100").contains(&"decision.superseded".to_string()));
}

// ---------------------------------------------------------------------------------------------
// Observation 8: sync by key, and tickets that disappear.

#[test]
fn observation_8_sync_key_fetches_the_named_ticket_after_the_first_sync() {
    let server = JiraServer::start(config(Flavor::Cloud), campaign(), 0).unwrap();
    let env = TestEnv::with_workspace("v23");
    sync(&env, &server, &[]);
    // DM-102 lost its request label before portcullis saw it, long before the cursor.
    let r = sync(&env, &server, &["--key", "DM-102"]);
    assert!(r["since"].is_string(), "an incremental run: {r}");
    assert_eq!(r["unknown_keys"], serde_json::json!([]), "{r}");
    let k = kinds(&env, "DM-102");
    assert!(
        k.contains(&"label.added".to_string()) && k.contains(&"label.removed".to_string()),
        "{k:?}"
    );
    // Named again, it is read again, whatever the cursor.
    server.clear_requests();
    sync(&env, &server, &["--key", "DM-102"]);
    assert!(
        searches(&server)
            .iter()
            .any(|s| s.body.contains("key in (DM-102)") && !s.body.contains("updated >=")),
        "{:?}",
        searches(&server)
    );
}

#[test]
fn observation_8_sync_key_reports_a_key_jira_does_not_have() {
    for flavor in [Flavor::Cloud, Flavor::DataCenter] {
        let server = JiraServer::start(config(flavor), campaign(), 0).unwrap();
        let env = TestEnv::with_workspace("v23");
        sync(&env, &server, &[]);
        let r = run_with(
            &env,
            &server,
            &[
                "sync", "--key", "DM-999", "--key", "DM-103", "--format", "json",
            ],
            &[],
        );
        assert_eq!(r.code, 1, "{flavor:?}: {}\n{}", r.stdout, r.stderr);
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(v["unknown_keys"], serde_json::json!(["DM-999"]), "{v}");
        assert!(
            kinds(&env, "DM-103").contains(&"ticket.observed".to_string()),
            "the other key is read all the same"
        );
        let t = run_with(&env, &server, &["sync", "--key", "DM-999"], &[]);
        assert_eq!(t.code, 1);
        assert!(
            t.stdout.contains("DM-999: not in Jira"),
            "{}\n{}",
            t.stdout,
            t.stderr
        );
    }
}

#[test]
fn observation_8_a_deleted_ticket_is_recorded_gone_once_and_never_breaks_a_sync() {
    for flavor in [Flavor::DataCenter, Flavor::Cloud] {
        let server = JiraServer::start(config(flavor), campaign(), 0).unwrap();
        let env = TestEnv::with_workspace("v23");
        sync(&env, &server, &[]);
        server.set_now(Some(t("2026-11-24T13:00:00Z")));
        server.delete_issue("DM-100");
        let r = sync(&env, &server, &[]);
        assert_eq!(r["gone"][0]["key"], "DM-100", "{flavor:?}: {r}");
        assert_eq!(r["gone"].as_array().unwrap().len(), 1, "{r}");
        let k = kinds(&env, "DM-100");
        assert_eq!(k.iter().filter(|k| *k == "ticket.gone").count(), 1, "{k:?}");
        let row = status_row(&env, "DM-100").unwrap();
        assert_eq!(row["gone"], true, "{row}");
        let s = env.run(&["status"]);
        assert!(s.stdout.contains("(gone)"), "{}", s.stdout);
        let h = env.run(&["history", "DM-100"]);
        assert!(h.stdout.contains("gone from Jira"), "{}", h.stdout);
        if flavor == Flavor::DataCenter {
            assert!(
                searches(&server)
                    .iter()
                    .any(|s| s.body.contains("\"validateQuery\":false")),
                "Data Center is asked to warn"
            );
        }
        // Later syncs leave it out and record it no more.
        server.clear_requests();
        let again = sync(&env, &server, &[]);
        assert_eq!(again["gone"], serde_json::json!([]), "{again}");
        assert_eq!(again["new_events"], 0, "{again}");
        assert!(
            searches(&server).iter().all(|s| !s.body.contains("DM-100")),
            "{:?}",
            searches(&server)
        );
        assert!(searches(&server).iter().all(|s| s.status == 200));
        env.run(&["audit"]).ok();
    }
}

#[test]
fn observation_8_a_ticket_moved_to_another_project_is_recorded_gone() {
    let server = JiraServer::start(config(Flavor::DataCenter), campaign(), 0).unwrap();
    let env = TestEnv::with_workspace("v23");
    sync(&env, &server, &[]);
    server.set_now(Some(t("2026-11-24T13:00:00Z")));
    let new_key = server.move_issue("DM-101", "OPS", "admin");
    let r = sync(&env, &server, &[]);
    assert_eq!(r["gone"][0]["key"], "DM-101", "{r}");
    assert_eq!(r["gone"][0]["moved_to"], new_key.as_str(), "{r}");
    let h = env.run(&["history", "DM-101"]);
    assert!(
        h.stdout.contains(&format!("moved to {new_key}")),
        "{}",
        h.stdout
    );
    let again = sync(&env, &server, &[]);
    assert_eq!(again["new_events"], 0, "{again}");
}

#[test]
fn observation_8_push_to_a_deleted_ticket_exits_1_and_says_what_to_do() {
    let server = JiraServer::start(config(Flavor::DataCenter), campaign(), 0).unwrap();
    let env = TestEnv::with_workspace("v23");
    sync(&env, &server, &[]);
    env.run(&["decide", "approve", "DM-100", "--as", "mlindqvist"])
        .ok();
    server.delete_issue("DM-100");
    let p = run_with(&env, &server, &["push"], &[]);
    assert_eq!(p.code, 1, "{}\n{}", p.stdout, p.stderr);
    assert!(
        p.stdout.contains("not in Jira") && p.stdout.contains("decide again"),
        "{}",
        p.stdout
    );
    assert!(kinds(&env, "DM-100").contains(&"ticket.gone".to_string()));
    // Still pending, still failing: nothing was lost.
    let again = run_with(&env, &server, &["push"], &[]);
    assert_eq!(again.code, 1);
}
