//! Issue 17, first stage: decisions travel with the ticket. Two workspaces on one Jira test
//! server, over TCP, with the real binary: A decides and pushes, B syncs and holds the same
//! decision, from the record in A's comment. Blocks that are edited, truncated, of an unknown
//! version, copied, or written by an account not in `writers` are reported, never applied.

use portcullis_testkit::jira_server::{Flavor, JiraServer};

use crate::harness::TestEnv;
use crate::jira_live::{campaign, config, run_with, sync};

/// A workspace that trusts the pushing account: the test server's bot, by its Data Center user
/// name and its Cloud account id.
fn workspace() -> TestEnv {
    let env = TestEnv::with_workspace("v23");
    let path = env.path().join("portcullis.toml");
    let mut toml = std::fs::read_to_string(&path).unwrap();
    // The URL comes from PORTCULLIS_JIRA_URL in every run.
    toml.push_str(
        "\n[jira]\nurl = \"http://jira.invalid\"\nwriters = [\"portcullis-bot\", \"557058:bot\"]\n",
    );
    std::fs::write(&path, toml).unwrap();
    env
}

fn history(env: &TestEnv, key: &str) -> serde_json::Value {
    let h = env.run(&["history", key, "--format", "json"]);
    h.ok();
    serde_json::from_str(&h.stdout).unwrap_or_else(|e| panic!("{e}: {}", h.stdout))
}

/// The decision events of a ticket's history.
fn decisions(env: &TestEnv, key: &str) -> Vec<serde_json::Value> {
    history(env, key)["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "decision")
        .cloned()
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

fn push(env: &TestEnv, server: &JiraServer) {
    let p = run_with(env, server, &["push"], &[]);
    assert_eq!(p.code, 0, "{}\n{}", p.stdout, p.stderr);
}

/// Every violation text of the ledger's `history` of a ticket.
fn history_text(env: &TestEnv, key: &str) -> String {
    let h = env.run(&["history", key]);
    h.ok();
    h.stdout
}

#[test]
fn observation_1_a_rejection_with_its_reason_reaches_a_fresh_workspace() {
    let server = JiraServer::start(config(Flavor::Cloud), campaign(), 0).unwrap();
    let (a, b) = (workspace(), workspace());
    sync(&a, &server, &[]);
    a.run(&[
        "decide",
        "reject",
        "DM-100",
        "--as",
        "mlindqvist",
        "--note",
        "too risky for a patch release",
    ])
    .ok();
    push(&a, &server);
    let dm = server.issue("DM-100").unwrap();
    assert!(dm.labels.is_empty(), "the request label is gone: {dm:?}");
    assert!(
        dm.comments[0].contains("{noformat}portcullisrecord v1 "),
        "{:?}",
        dm.comments
    );

    // B never had DM-100, and its labels are gone: the record brings it.
    let r = sync(&b, &server, &[]);
    assert_eq!(r["records_applied"], 1, "{r}");
    let row = status_row(&b, "DM-100").expect("B has DM-100");
    assert_eq!(row["state"], "rejected", "{row}");
    assert_eq!(row["last_note"], "too risky for a patch release", "{row}");
    let origin = status_row(&a, "DM-100").unwrap();
    for field in ["state", "since", "last_note"] {
        assert_eq!(origin[field], row[field], "{field}: {origin} / {row}");
    }
    let d = decisions(&b, "DM-100");
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0]["note"], "too risky for a patch release");
    assert_eq!(d[0]["actor"], "Mara Lindqvist", "the canonical member");
    assert!(
        d[0]["what"].as_str().unwrap().contains("reject"),
        "{}",
        d[0]
    );

    // A reads its own record back and adds nothing; B's second sync adds nothing either.
    let again = sync(&a, &server, &[]);
    assert_eq!(again["records_applied"], 0, "{again}");
    assert_eq!(decisions(&a, "DM-100").len(), 1);
    let again = sync(&b, &server, &[]);
    assert_eq!(again["records_applied"], 0, "{again}");
    assert_eq!(decisions(&b, "DM-100").len(), 1);
}

#[test]
fn observation_2_a_deferral_reaches_the_other_workspace_with_its_date() {
    let server = JiraServer::start(config(Flavor::DataCenter), campaign(), 0).unwrap();
    let (a, b) = (workspace(), workspace());
    sync(&a, &server, &[]);
    sync(&b, &server, &[]);
    assert_eq!(status_row(&b, "DM-100").unwrap()["state"], "requested");
    a.run(&[
        "decide",
        "defer",
        "DM-100",
        "--as",
        "mlindqvist",
        "--until",
        "2026-12-08",
        "--note",
        "after the pipelines release",
    ])
    .ok();
    push(&a, &server);
    sync(&b, &server, &[]);
    let row = status_row(&b, "DM-100").unwrap();
    assert_eq!(row["state"], "deferred", "{row}");
    let d = decisions(&b, "DM-100");
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0]["note"], "after the pipelines release");
    let what = d[0]["what"].as_str().unwrap();
    assert!(
        what.contains("until 2026-12-08") && what.contains("out of meeting"),
        "{what}"
    );
    assert_eq!(
        status_row(&a, "DM-100").unwrap()["deferred_until"],
        row["deferred_until"],
        "{row}"
    );
}

#[test]
fn observation_3_an_approval_is_credited_to_the_member_and_its_label_is_no_violation() {
    let server = JiraServer::start(config(Flavor::Cloud), campaign(), 0).unwrap();
    let (a, b) = (workspace(), workspace());
    sync(&a, &server, &[]);
    sync(&b, &server, &[]);
    a.run(&[
        "decide",
        "approve",
        "DM-100",
        "--as",
        "mlindqvist",
        "--note",
        "fixes wrong fluxes in coadds",
    ])
    .ok();
    push(&a, &server);
    let r = sync(&b, &server, &[]);
    assert_eq!(r["new_violations"], 0, "{r}");
    let row = status_row(&b, "DM-100").unwrap();
    assert_eq!(row["state"], "approved", "{row}");
    assert_eq!(row["approved_by"], "Mara Lindqvist", "{row}");
    let origin = status_row(&a, "DM-100").unwrap();
    assert_eq!(row["last_note"], "fixes wrong fluxes in coadds", "{row}");
    for field in [
        "state",
        "since",
        "approved_by",
        "last_note",
        "open_violations",
    ] {
        assert_eq!(origin[field], row[field], "{field}: {origin} / {row}");
    }
    let d = decisions(&b, "DM-100");
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0]["note"], "fixes wrong fluxes in coadds");
    let text = history_text(&b, "DM-100");
    assert!(!text.contains("approved_by_non_member"), "{text}");
    // The origin, too, has no violation after reading its own push back.
    let r = sync(&a, &server, &[]);
    assert_eq!(r["new_violations"], 0, "{r}");
    assert!(!history_text(&a, "DM-100").contains("approved_by_non_member"));
}

/// The record line of the first comment of `key`.
fn record_line(server: &JiraServer, key: &str) -> String {
    let dm = server.issue(key).unwrap();
    dm.comments[0]
        .lines()
        .find(|l| l.contains("portcullisrecord"))
        .unwrap()
        .to_string()
}

#[test]
fn forged_edited_and_foreign_records_are_reported_with_ticket_and_author_and_never_applied() {
    let server = JiraServer::start(config(Flavor::DataCenter), campaign(), 0).unwrap();
    let (a, b) = (workspace(), workspace());
    sync(&a, &server, &[]);
    sync(&b, &server, &[]);
    a.run(&[
        "decide",
        "approve",
        "DM-100",
        "--as",
        "mlindqvist",
        "--note",
        "needed",
    ])
    .ok();
    push(&a, &server);
    let line = record_line(&server, "DM-100");
    // Someone copies the bot's block onto DM-101 and DM-102 by hand, and edits another.
    server.comment_as("DM-101", "dev2", &format!("+1\n{line}"));
    let payload_at = line.find(" v1 ").unwrap() + 6;
    let mut edited = line.clone().into_bytes();
    edited[payload_at] = if edited[payload_at] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let edited = String::from_utf8(edited).unwrap();
    server.comment_as("DM-102", "portcullis-bot", &edited);
    let cut = &line[..line.len() - 20];
    server.comment_as("DM-103", "portcullis-bot", cut);
    server.comment_as(
        "DM-101",
        "portcullis-bot",
        &line.replace("portcullisrecord v1", "portcullisrecord v9"),
    );

    let r = run_with(&b, &server, &["sync"], &[]);
    assert_eq!(
        r.code, 0,
        "a forged record never stops a sync: {}",
        r.stderr
    );
    for (key, who, why) in [
        ("DM-101", "dev2", "not a listed writer"),
        ("DM-102", "portcullis-bot", "edited by hand"),
        ("DM-103", "portcullis-bot", "truncated"),
        ("DM-101", "portcullis-bot", "unknown version (v9)"),
    ] {
        assert!(
            r.stdout.lines().any(|l| l.starts_with(key)
                && l.contains("foreign or forged")
                && l.contains(&format!("by {who}"))
                && l.contains(why)),
            "{key} by {who}: {why}\n{}",
            r.stdout
        );
    }
    // Only DM-100's own record is applied; the copies add no decision anywhere.
    for key in ["DM-101", "DM-102", "DM-103"] {
        assert!(
            decisions(&b, key).is_empty(),
            "{key}: {:?}",
            decisions(&b, key)
        );
    }
    assert_eq!(decisions(&b, "DM-100").len(), 1);
    // Recorded once in the ledger: the next sync reports nothing new.
    let kinds = |key: &str| -> usize {
        history(&b, key)["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "record.rejected")
            .count()
    };
    assert_eq!(kinds("DM-101"), 2);
    let again = sync(&b, &server, &[]);
    assert!(
        again["records_rejected"].as_array().unwrap().is_empty(),
        "{again}"
    );
    assert_eq!(kinds("DM-101"), 2);
    assert!(history_text(&b, "DM-102").contains("not applied"));
}

#[test]
fn a_record_is_applied_only_from_a_listed_writer() {
    let server = JiraServer::start(config(Flavor::DataCenter), campaign(), 0).unwrap();
    let a = workspace();
    // B trusts nobody: the bot's records are reported, not applied.
    let b = TestEnv::with_workspace("v23");
    sync(&a, &server, &[]);
    sync(&b, &server, &[]);
    a.run(&["decide", "approve", "DM-100", "--as", "mlindqvist"])
        .ok();
    push(&a, &server);
    let r = sync(&b, &server, &[]);
    assert_eq!(r["records_applied"], 0, "{r}");
    let rejected = r["records_rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1, "{r}");
    assert_eq!(rejected[0]["key"], "DM-100");
    assert_eq!(rejected[0]["author"], "portcullis-bot");
    assert_eq!(rejected[0]["why"], "unlisted-writer");
    assert!(decisions(&b, "DM-100").is_empty());
}

#[test]
fn with_a_team_key_records_are_signed_and_the_key_never_shows() {
    const KEY: &str = "team-key-0f9a7c1e5b";
    let server = JiraServer::start(config(Flavor::Cloud), campaign(), 0).unwrap();
    let (a, b) = (workspace(), workspace());
    let keyed = [("PORTCULLIS_TEAM_KEY", KEY)];
    sync(&a, &server, &[]);
    sync(&b, &server, &[]);
    a.run(&["decide", "approve", "DM-100", "--as", "mlindqvist"])
        .ok();
    let p = run_with(&a, &server, &["push"], &keyed);
    assert_eq!(p.code, 0, "{}", p.stderr);
    let signed = record_line(&server, "DM-100");
    // An unsigned block, by a listed writer, on another ticket: refused under the key.
    b.run(&[
        "decide",
        "approve",
        "DM-101",
        "--as",
        "mlindqvist",
        "--force",
        "--note",
        "confirmed",
    ])
    .ok();
    let p = run_with(&b, &server, &["push"], &[]);
    assert_eq!(p.code, 0, "{}", p.stderr);
    let r = run_with(&b, &server, &["sync", "--format", "json"], &keyed);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["records_applied"], 1, "{v}");
    let rejected = v["records_rejected"].as_array().unwrap();
    // B's own unsigned DM-101 record is its own event: not applied, and not reported.
    assert!(rejected.is_empty(), "{v}");
    assert_eq!(decisions(&b, "DM-100").len(), 1);

    // A third workspace with the key refuses B's unsigned record and applies A's signed one.
    let c = workspace();
    let r = run_with(&c, &server, &["sync", "--format", "json"], &keyed);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["records_applied"], 1, "{v}");
    let rejected = v["records_rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1, "{v}");
    assert_eq!(rejected[0]["key"], "DM-101");
    assert_eq!(rejected[0]["why"], "unsigned");
    // A wrong key refuses the signed one too.
    let d = workspace();
    let r = run_with(
        &d,
        &server,
        &["sync", "--format", "json"],
        &[("PORTCULLIS_TEAM_KEY", "another-key")],
    );
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["records_applied"], 0, "{v}");
    assert!(v["records_rejected"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["key"] == "DM-100" && x["why"] == "bad-signature"));

    // The key is in no output, no comment and no ledger.
    assert!(!signed.contains(KEY));
    for env in [&a, &b, &c] {
        assert!(env.ledger_contains("DM-100"), "the search reads the ledger");
        assert!(!env.ledger_contains(KEY), "the team key is in a ledger");
        for args in [&["history", "DM-100"][..], &["status"][..]] {
            let out = env.run(args);
            assert!(!out.stdout.contains(KEY) && !out.stderr.contains(KEY));
        }
    }
    assert!(!r.stdout.contains(KEY) && !r.stderr.contains(KEY));
}

#[test]
fn the_team_key_is_read_from_the_credentials_file() {
    use std::os::unix::fs::PermissionsExt;
    const KEY: &str = "file-team-key-77d1";
    let server = JiraServer::start(config(Flavor::DataCenter), campaign(), 0).unwrap();
    let (a, b) = (workspace(), workspace());
    let mut paths = Vec::new();
    for env in [&a, &b] {
        let creds = env.write("creds.toml", &format!("team_key = \"{KEY}\"\n"));
        std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o600)).unwrap();
        paths.push(creds.display().to_string());
    }
    sync(&a, &server, &[]);
    a.run(&["decide", "approve", "DM-100", "--as", "mlindqvist"])
        .ok();
    let p = run_with(
        &a,
        &server,
        &["push"],
        &[("PORTCULLIS_CREDENTIALS", &paths[0])],
    );
    assert_eq!(p.code, 0, "{}", p.stderr);
    let line = record_line(&server, "DM-100");
    // payload.signature.digest
    let token = line
        .split(' ')
        .nth(2)
        .unwrap()
        .trim_end_matches("{noformat}");
    assert_eq!(token.split('.').count(), 3, "signed: {line}");
    let r = run_with(
        &b,
        &server,
        &["sync", "--format", "json"],
        &[("PORTCULLIS_CREDENTIALS", &paths[1])],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["records_applied"], 1, "{v}");
    assert!(!r.stdout.contains(KEY) && !p.stdout.contains(KEY) && !line.contains(KEY));
}

/// A record comment deleted in the tracker deletes no ledger event: both the workspace that
/// pushed it and the one that read it keep the decision, and `history` says the comment is gone.
#[test]
fn a_deleted_record_comment_keeps_the_decision_and_history_says_it_is_gone() {
    let server = JiraServer::start(config(Flavor::DataCenter), campaign(), 0).unwrap();
    let (a, b) = (workspace(), workspace());
    sync(&a, &server, &[]);
    a.run(&[
        "decide",
        "reject",
        "DM-100",
        "--as",
        "mlindqvist",
        "--note",
        "too risky for a patch release",
    ])
    .ok();
    push(&a, &server);
    sync(&b, &server, &[]);
    assert_eq!(status_row(&b, "DM-100").unwrap()["state"], "rejected");

    assert_eq!(server.delete_comments_with("DM-100", "portcullisrecord"), 1);
    for env in [&a, &b] {
        sync(env, &server, &[]);
        let row = status_row(env, "DM-100").expect("the ticket stays");
        assert_eq!(row["state"], "rejected", "{row}");
        assert_eq!(row["last_note"], "too risky for a patch release", "{row}");
        assert_eq!(decisions(env, "DM-100").len(), 1);
        let text = history_text(env, "DM-100");
        assert!(
            text.contains("which held the record of a reject, is gone"),
            "{text}"
        );
        // Said once, however often it syncs.
        sync(env, &server, &[]);
        let h = history(env, "DM-100");
        let gone = h["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "record.gone")
            .count();
        assert_eq!(gone, 1, "{h}");
    }
}

/// Notes travel with the ticket: `push` writes each note as a comment with its record, once,
/// and another workspace's sync records the same note, by the same member.
#[test]
fn a_note_reaches_the_other_workspace_once() {
    let server = JiraServer::start(config(Flavor::DataCenter), campaign(), 0).unwrap();
    let (a, b) = (workspace(), workspace());
    sync(&a, &server, &[]);
    a.run(&[
        "meeting",
        "note",
        "DM-100",
        "the reporter will attach the logs",
        "--as",
        "mlindqvist",
    ])
    .ok();
    let p = run_with(&a, &server, &["push"], &[]);
    assert_eq!(p.code, 0, "{}\n{}", p.stdout, p.stderr);
    assert!(p.stdout.contains("and 1 note(s)"), "{}", p.stdout);
    let dm = server.issue("DM-100").unwrap();
    assert_eq!(dm.comments.len(), 1, "{:?}", dm.comments);
    assert!(dm.comments[0].contains("the reporter will attach the logs"));
    // Pushed once: a second push writes nothing.
    let again = run_with(&a, &server, &["push"], &[]);
    assert!(again.stdout.contains("nothing to push"), "{}", again.stdout);
    assert_eq!(server.issue("DM-100").unwrap().comments.len(), 1);

    let r = sync(&b, &server, &[]);
    assert_eq!(r["records_applied"], 1, "{r}");
    let notes = |env: &TestEnv| -> Vec<serde_json::Value> {
        history(env, "DM-100")["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "note")
            .cloned()
            .collect()
    };
    let nb = notes(&b);
    assert_eq!(nb.len(), 1, "{nb:?}");
    assert_eq!(nb[0]["note"], "the reporter will attach the logs");
    assert_eq!(nb[0]["actor"], "Mara Lindqvist");
    assert_eq!(sync(&a, &server, &[])["records_applied"], 0);
    let na = notes(&a);
    assert_eq!(na.len(), 1);
    assert_eq!(na[0]["actor"], nb[0]["actor"], "the same member on both");
}

/// `credentials set team_key` stores the team's key at the top of the credentials file (where
/// sync and push read it), next to the tables already there; `show` names it, never its value.
#[test]
fn credentials_set_stores_the_team_key_that_push_then_signs_with() {
    const KEY: &str = "stdin-team-key-4c2b";
    let server = JiraServer::start(config(Flavor::DataCenter), campaign(), 0).unwrap();
    let a = workspace();
    a.run_stdin(&["credentials", "set", "jira", "token"], &[], Some("tok"))
        .ok();
    let r = a.run_stdin(&["credentials", "set", "team_key"], &[], Some(KEY));
    r.ok();
    assert!(r.stdout.contains("stored team_key"), "{}", r.stdout);
    let file = a.path().join(".config/portcullis/credentials.toml");
    let t: toml::Table = std::fs::read_to_string(&file).unwrap().parse().unwrap();
    assert_eq!(t["team_key"].as_str(), Some(KEY));
    assert_eq!(t["jira"]["token"].as_str(), Some("tok"));
    let show = a.run(&["credentials", "show"]);
    show.ok();
    assert!(show.stdout.contains("team_key = (set)"), "{}", show.stdout);
    assert!(!show.stdout.contains(KEY));
    // Any other table still needs its key.
    let r = a.run_stdin(&["credentials", "set", "jira"], &[], Some("x"));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("needs a key"), "{}", r.stderr);

    sync(&a, &server, &[]);
    a.run(&["decide", "approve", "DM-100", "--as", "mlindqvist"])
        .ok();
    let p = run_with(&a, &server, &["push"], &[]);
    assert_eq!(p.code, 0, "{}", p.stderr);
    let line = record_line(&server, "DM-100");
    let token = line
        .split(' ')
        .nth(2)
        .unwrap()
        .trim_end_matches("{noformat}");
    assert_eq!(token.split('.').count(), 3, "signed: {line}");
}
