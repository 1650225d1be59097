//! Issue 17, item 6: a team on one Jira. The chair (a meeting and its decisions), the release
//! manager (`cut --apply`, manifests published in a git repository) and the bot (sync and
//! verify), each with its own workspace and ledger, over TCP against the Jira test server and
//! over the same git repositories (clones that have fetched the tags). After each has synced
//! and verified, `status`, `history` (reasons included) and `releases` are the same on the
//! three, and none has a violation the origin does not have.

use portcullis_git::campaign::{FILES, RELEASE};
use portcullis_testkit::jira_server::{seed_issue, Flavor, JiraServer};
use serde_json::Value;

use crate::harness::{Run, TestEnv};
use crate::jira_live::{config, t};

const TOKEN: &str = "tok-S3CRET-5f1e2d";
const EMAIL: &str = "bot@example.org";
const CHAIR: &str = ".";
const RM: &str = "rm";
const BOT: &str = "bot";
const TEAM: [&str; 3] = [CHAIR, RM, BOT];

/// The tickets: DM-200 approved and backported (the release), four requests.
fn tickets() -> Vec<Value> {
    let req = |key: &str, summary: &str, at: &str| {
        seed_issue(key, summary, &[(t(at), "dev1", &["backport-v23"])])
    };
    vec![
        seed_issue(
            "DM-200",
            "Fix the flux scale",
            &[
                (t("2026-11-02T10:00:00Z"), "dev1", &["backport-v23"]),
                (
                    t("2026-11-10T09:00:00Z"),
                    "mlindqvist",
                    &["backport-v23", "backport-approved"],
                ),
            ],
        ),
        req("DM-100", "Fix the flux calibration", "2026-11-03T10:00:00Z"),
        req("DM-101", "Improve timeout handling", "2026-11-03T11:00:00Z"),
        req("DM-102", "Rename a config field", "2026-11-03T12:00:00Z"),
        req("DM-103", "Pin the schema version", "2026-11-03T13:00:00Z"),
    ]
}

fn run(env: &TestEnv, dir: &str, server: &JiraServer, args: &[&str]) -> Run {
    let vars = [
        ("PORTCULLIS_JIRA_URL", server.url()),
        ("PORTCULLIS_JIRA_TOKEN", TOKEN.to_string()),
        ("PORTCULLIS_JIRA_EMAIL", EMAIL.to_string()),
        (
            "PORTCULLIS_CONFLUENCE_TOKEN",
            crate::minutes_confluence::PAGE_TOKEN.to_string(),
        ),
    ];
    let refs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.run_env_in(dir, args, &refs)
}

fn ok(r: Run) -> Run {
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    r
}

fn json(r: &Run) -> Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}\n{}", r.stdout, r.stderr))
}

fn git(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=Release Manager",
            "-c",
            "user.email=rm@example.org",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The chair's workspace at the root (with the repositories and the policy), the release
/// manager's and the bot's in subdirectories over the same policy; all trust the pushing
/// account and read the published manifests.
fn team() -> TestEnv {
    team_with("")
}

/// [`team`], with more configuration shared by the three (e.g. a `[confluence]` table).
fn team_with(more: &str) -> TestEnv {
    let env = crate::verify::workspace(&["pkg", "other"], "");
    let mut a = crate::verify::repo(&env, "pkg");
    let mut b = crate::verify::repo(&env, "other");
    for r in [&mut a, &mut b] {
        r.b.tag(
            "23.0.0",
            RELEASE,
            "Version 23.0.0 release from manifest b5913",
        )
        .unwrap();
    }
    let fix = a
        .fix_on_main("DM-200", &[(FILES[0], 10, "fixed", "Fix the flux scale")])
        .unwrap();
    a.backport("DM-200-v23", &fix).unwrap();
    a.finish().unwrap();
    b.finish().unwrap();
    let published = env.path().join("published");
    std::fs::create_dir_all(&published).unwrap();
    git(&published, &["init", "-q", "-b", "main"]);
    let shared =
        format!("[jira]\nurl = \"http://jira.invalid\"\nwriters = [\"portcullis-bot\"]\n{more}");
    let config = std::fs::read_to_string(env.path().join("portcullis.toml")).unwrap();
    env.write(
        "portcullis.toml",
        &format!("{config}\n{shared}[releases]\nrepo = \"published\"\n"),
    );
    for (dir, user) in [(RM, "Tomas Okafor"), (BOT, "portcullis bot")] {
        env.run(&["init", dir, "--from-policy", "v23", "--user", user])
            .ok();
        env.write(
            &format!("{dir}/portcullis.toml"),
            &format!(
                "policy = \"../policy.toml\"\nledger = \"ledger.db\"\nuser = \"{user}\"\n\
                 {shared}[releases]\nrepo = \"../published\"\n"
            ),
        );
    }
    env
}

/// What must be the same on every workspace: `status --format json`, each ticket's `history
/// --format json` (event sequence numbers and when each entered the ledger left out: they are
/// local) and `releases --format json` (without sequence numbers).
fn picture(env: &TestEnv, dir: &str, server: &JiraServer) -> Value {
    picture_by(&|args| run(env, dir, server, args))
}

/// [`picture`], running the commands with `run` (and the minutes of the latest meeting).
fn picture_by(run: &dyn Fn(&[&str]) -> Run) -> Value {
    let status = json(&ok(run(&["status", "--format", "json"])));
    let mut keys: Vec<String> = status["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["key"].as_str().unwrap().to_string())
        .collect();
    keys.sort();
    let mut history = serde_json::Map::new();
    for k in &keys {
        let mut h = json(&ok(run(&["history", k, "--format", "json"])));
        provenance(&mut h);
        strip(&mut h);
        history.insert(k.clone(), h);
    }
    let mut releases = json(&ok(run(&["releases", "--format", "json"])));
    strip(&mut releases);
    let mut status = status;
    strip(&mut status);
    // The minutes of the latest meeting, where one was held or imported.
    let m = run(&["minutes", "--format", "json"]);
    let mut minutes = match m.code {
        0 => json(&m),
        _ => Value::Null,
    };
    strip(&mut minutes);
    serde_json::json!({
        "status": status,
        "history": history,
        "releases": releases,
        "minutes": minutes,
    })
}

/// Leave out where this ledger learned each event, which differs by nature between the
/// workspace that made a decision and those that read it back: the `push` events (the writes
/// this workspace made), the source (`local` or the tracker) and the `[from its record in …]`
/// note on a decision read from the tracker.
fn provenance(history: &mut Value) {
    let Some(timeline) = history["timeline"].as_array_mut() else {
        return;
    };
    timeline.retain(|e| e["kind"] != "push");
    for e in timeline {
        let m = e.as_object_mut().unwrap();
        if m["kind"] == "decision" || m["kind"] == "note" {
            m.remove("source");
            if let Some(Value::String(w)) = m.get_mut("what") {
                if let Some(i) = w.find(" [from its record in ") {
                    w.truncate(i);
                }
            }
        }
    }
}

/// Leave out what is local to a ledger: event sequence numbers (`seq`, `last_seq`, …) and
/// when events entered it.
fn strip(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !k.ends_with("seq") && k != "recorded_at");
            m.values_mut().for_each(strip);
        }
        Value::Array(a) => a.iter_mut().for_each(strip),
        _ => {}
    }
}

/// Every difference between two JSON values, each with its path.
fn diff(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                diff(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    &format!("{path}.{k}"),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                diff(p, q, &format!("{path}[{i}]"), out);
            }
        }
        _ if a == b => {}
        _ => out.push(format!("{path}: {a} / {b}")),
    }
}

fn sync_and_verify(env: &TestEnv, dir: &str, server: &JiraServer) {
    ok(run(env, dir, server, &["sync", "--format", "json"]));
    let v = run(env, dir, server, &["verify", "--format", "json"]);
    assert!(v.code == 0 || v.code == 1, "{}\n{}", v.stdout, v.stderr);
}

#[test]
fn issue_17_the_chair_the_release_manager_and_the_bot_hold_the_same_record() {
    let server = JiraServer::start(config(Flavor::DataCenter), tickets(), 0).unwrap();
    let pages = crate::minutes_confluence::confluence();
    let env = team_with(&format!(
        "[confluence]\nurl = \"{}\"\nspace = \"DM\"\nwriters = [\"portcullis-bot\"]\n",
        pages.url()
    ));
    for dir in TEAM {
        sync_and_verify(&env, dir, &server);
    }

    // The chair's meeting: a quorum, an approval, a rejection and a deferral, with reasons.
    ok(run(
        &env,
        CHAIR,
        &server,
        &[
            "meeting",
            "open",
            "--attendee",
            "mlindqvist",
            "--attendee",
            "tokafor",
            "--attendee",
            "praman",
        ],
    ));
    for args in [
        &[
            "decide",
            "approve",
            "DM-100",
            "--for-release",
            "23.0.2",
            "--note",
            "needed for the coadds",
        ][..],
        &[
            "decide",
            "reject",
            "DM-101",
            "--note",
            "too risky for a patch release",
        ],
        &[
            "decide",
            "defer",
            "DM-102",
            "--until",
            "2026-12-01",
            "--note",
            "after the schema review",
        ],
    ] {
        ok(run(&env, CHAIR, &server, args));
    }
    ok(run(&env, CHAIR, &server, &["meeting", "close"]));
    ok(run(&env, CHAIR, &server, &["push"]));
    ok(run(&env, CHAIR, &server, &["minutes", "--publish"]));

    // The release manager learns the decisions, cuts, publishes the manifest and pushes what
    // the cut marked done.
    sync_and_verify(&env, RM, &server);
    let cut = ok(run(
        &env,
        RM,
        &server,
        &["cut", "23.0.1", "--apply", "--format", "json"],
    ));
    assert_eq!(json(&cut)["applied"], true);
    let published = env.path().join("published");
    git(&published, &["add", "-A"]);
    git(&published, &["commit", "-q", "-m", "Release 23.0.1"]);
    ok(run(&env, RM, &server, &["push"]));

    // Everyone syncs and verifies (the bot as its schedule does), twice: the first round
    // brings what the others did, the second must change nothing.
    for _ in 0..2 {
        for dir in [BOT, CHAIR, RM] {
            sync_and_verify(&env, dir, &server);
            ok(run(&env, dir, &server, &["minutes", "--import"]));
        }
    }
    let origin = picture(&env, CHAIR, &server);
    for dir in [RM, BOT] {
        let other = picture(&env, dir, &server);
        let mut d = Vec::new();
        diff(&origin, &other, dir, &mut d);
        assert!(d.is_empty(), "{}", d.join("\n"));
    }
    // The facts the comparison stands on.
    let minutes = &origin["minutes"];
    assert_eq!(
        minutes["decisions"].as_array().map(Vec::len),
        Some(3),
        "{minutes}"
    );
    let releases = &origin["releases"];
    assert_eq!(releases.as_array().map(Vec::len), Some(1), "{releases}");
    let rows = origin["status"]["tickets"].as_array().unwrap();
    let row = |k: &str| {
        rows.iter()
            .find(|r| r["key"] == k)
            .unwrap_or_else(|| panic!("{k}"))
    };
    assert_eq!(row("DM-101")["state"], "rejected");
    assert_eq!(row("DM-101")["last_note"], "too risky for a patch release");
    assert_eq!(row("DM-102")["state"], "deferred");
    assert_eq!(row("DM-100")["state"], "approved");
    assert_eq!(row("DM-200")["state"], "done", "{}", row("DM-200"));
}

/// Two workspaces decide differently on one ticket and push at once: one push writes, the
/// other meets a conflict; the tracker holds one outcome.
#[test]
fn issue_17_two_workspaces_pushing_different_decisions_at_once_end_in_one_conflict() {
    let server = JiraServer::start(config(Flavor::DataCenter), tickets(), 0).unwrap();
    let env = team();
    for dir in [CHAIR, RM] {
        sync_and_verify(&env, dir, &server);
    }
    ok(run(
        &env,
        CHAIR,
        &server,
        &[
            "decide",
            "approve",
            "DM-103",
            "--note",
            "the chair says yes",
        ],
    ));
    ok(run(
        &env,
        RM,
        &server,
        &[
            "decide",
            "reject",
            "DM-103",
            "--note",
            "the release manager says no",
        ],
    ));
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| run(&env, CHAIR, &server, &["push"]));
        let b = s.spawn(|| run(&env, RM, &server, &["push"]));
        (a.join().unwrap(), b.join().unwrap())
    });
    let codes = [a.code, b.code];
    assert!(
        codes.contains(&0) && codes.contains(&1),
        "one push writes, the other meets a conflict:\n{}\n{}\n{}\n{}",
        a.stdout,
        a.stderr,
        b.stdout,
        b.stderr
    );
    let dm = server.issue("DM-103").unwrap();
    let approved = dm.labels.iter().any(|l| l == "backport-approved");
    let requested = dm.labels.iter().any(|l| l == "backport-v23");
    let outcomes = dm
        .comments
        .iter()
        .filter(|c| c.contains("portcullisrecord v1"))
        .count();
    assert_eq!(outcomes, 1, "one decision comment: {:?}", dm.comments);
    if a.code == 0 {
        assert!(approved && requested, "{:?}", dm.labels);
    } else {
        assert!(!approved && !requested, "{:?}", dm.labels);
    }
}

/// Regression: every workspace pushes with the same account, so another workspace's pushed
/// decision looked like this workspace's own label change and was never a conflict. A push over
/// a decision record this workspace has not synced is refused; after a sync, deciding again
/// pushes.
#[test]
fn push_refuses_to_write_over_a_decision_record_it_has_not_synced() {
    let server = JiraServer::start(config(Flavor::DataCenter), tickets(), 0).unwrap();
    let env = team();
    for dir in [CHAIR, RM] {
        sync_and_verify(&env, dir, &server);
    }
    ok(run(
        &env,
        CHAIR,
        &server,
        &[
            "decide",
            "approve",
            "DM-103",
            "--note",
            "the chair says yes",
        ],
    ));
    ok(run(&env, CHAIR, &server, &["push"]));
    ok(run(
        &env,
        RM,
        &server,
        &[
            "decide",
            "reject",
            "DM-103",
            "--note",
            "the release manager says no",
        ],
    ));
    let p = run(&env, RM, &server, &["push"]);
    assert_eq!(p.code, 1, "{}\n{}", p.stdout, p.stderr);
    assert!(
        p.stdout
            .contains("another workspace pushed a decision on it (approve by Mara Lindqvist"),
        "{}",
        p.stdout
    );
    let dm = server.issue("DM-103").unwrap();
    assert!(
        dm.labels.iter().any(|l| l == "backport-v23"),
        "{:?}",
        dm.labels
    );
    assert!(
        dm.labels.iter().any(|l| l == "backport-approved"),
        "{:?}",
        dm.labels
    );
    assert_eq!(dm.comments.len(), 1, "{:?}", dm.comments);
    // Synced, the release manager sees the approval; a decision taken now pushes.
    ok(run(&env, RM, &server, &["sync"]));
    ok(run(
        &env,
        RM,
        &server,
        &[
            "decide",
            "revoke",
            "DM-103",
            "--note",
            "not in this release after all",
        ],
    ));
    ok(run(&env, RM, &server, &["push"]));
    let dm = server.issue("DM-103").unwrap();
    assert!(
        !dm.labels.iter().any(|l| l == "backport-approved"),
        "{:?}",
        dm.labels
    );
}

/// Regression: a block that looks like a decision record, written by an account that is not a
/// writer, held up every push on its ticket ("another workspace pushed a decision"), so anyone
/// able to comment could stop the committee's decisions from reaching the tracker. Sync
/// reports it as forged; push goes ahead.
#[test]
fn a_forged_record_by_an_unlisted_account_never_holds_up_a_push() {
    use portcullis_core::record::{encode, Form, Record, RecordKind, Standing};
    let server = JiraServer::start(config(Flavor::DataCenter), tickets(), 0).unwrap();
    let env = team();
    sync_and_verify(&env, CHAIR, &server);
    let forged = Record {
        ticket: "DM-103".into(),
        kind: RecordKind::Reject,
        standing: Standing::Final,
        line: Some("v23".into()),
        target: None,
        until: None,
        member: Some("Mara Lindqvist".into()),
        meeting: None,
        provisional_in: None,
        reason: Some("forged".into()),
        event: "ab".repeat(32),
        undoes: None,
        at: t("2026-11-20T10:00:00Z"),
    };
    server.comment_as("DM-103", "mallory", &encode(&forged, Form::Jira, None));
    ok(run(
        &env,
        CHAIR,
        &server,
        &[
            "decide",
            "approve",
            "DM-103",
            "--note",
            "the chair says yes",
        ],
    ));
    let p = ok(run(&env, CHAIR, &server, &["push"]));
    assert!(
        p.stdout
            .contains("pushed 1 decision(s) to Jira; 0 conflict(s)"),
        "{}",
        p.stdout
    );
    let dm = server.issue("DM-103").unwrap();
    assert!(
        dm.labels.iter().any(|l| l == "backport-approved"),
        "{:?}",
        dm.labels
    );
    // Sync names the forged block with its author, and applies nothing from it.
    let s = json(&ok(run(
        &env,
        CHAIR,
        &server,
        &["sync", "--format", "json"],
    )));
    let rejected = s["records_rejected"].to_string();
    assert!(rejected.contains("mallory"), "{s}");
    let status = json(&ok(run(
        &env,
        CHAIR,
        &server,
        &["status", "--format", "json"],
    )));
    let row = status["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "DM-103")
        .unwrap()
        .clone();
    assert_eq!(row["state"], "approved", "{row}");
}

/// Issue 17 on GitHub: the chair, the release manager and the bot each sync the same two
/// repositories of the GitHub test server into their own ledgers. The chair's meeting decides
/// (an approval with its target, a rejection, a deferral, a note) and pushes; after the others
/// sync, `status`, `history` (reasons and notes included) and `releases` are the same on the
/// three, and none has a violation the chair does not have.
#[test]
fn issue_17_on_github_three_workspaces_hold_the_same_record() {
    use crate::github;
    use portcullis_testkit::github_server::GithubServer;
    let server = GithubServer::start(github::config(), github::campaign(), 0).unwrap();
    let writers = "writers = [\"portcullis-bot\"]\n";
    let team: Vec<TestEnv> = (0..3)
        .map(|_| github::workspace(&server, writers))
        .collect();
    let gh = |env: &TestEnv, args: &[&str]| ok(github::run(env, args, &[]));
    for w in &team {
        github::sync(w, &[]);
    }
    let chair = &team[0];
    gh(
        chair,
        &[
            "meeting",
            "open",
            "--attendee",
            "mlindqvist",
            "--attendee",
            "tokafor",
        ],
    );
    for args in [
        &[
            "decide",
            "approve",
            "daf_butler#1",
            "--note",
            "needed for the coadds",
        ][..],
        &[
            "decide",
            "reject",
            "pipe_tasks#11",
            "--note",
            "too risky for a patch release",
        ],
        &[
            "decide",
            "defer",
            "daf_butler#4",
            "--until",
            "2026-12-15",
            "--note",
            "after the schema review",
        ],
        &[
            "meeting",
            "note",
            "daf_butler#1",
            "the reporter will verify",
        ],
    ] {
        gh(chair, args);
    }
    gh(chair, &["meeting", "close"]);
    gh(chair, &["push"]);
    for _ in 0..2 {
        for w in &team {
            github::sync(w, &[]);
        }
    }
    let origin = picture_by(&|args| github::run(chair, args, &[]));
    for (i, w) in team.iter().enumerate().skip(1) {
        let mut other = picture_by(&|args| github::run(w, args, &[]));
        // Meetings travel through Confluence (the Jira team test): here only the chair held one.
        other["minutes"] = origin["minutes"].clone();
        let mut d = Vec::new();
        diff(&origin, &other, &format!("workspace {i}"), &mut d);
        assert!(d.is_empty(), "{}", d.join("\n"));
    }
    let rows = origin["status"]["tickets"].as_array().unwrap();
    let state = |k: &str| {
        rows.iter()
            .find(|r| r["key"] == k)
            .unwrap_or_else(|| panic!("{k}: {rows:?}"))["state"]
            .clone()
    };
    assert_eq!(state("daf_butler#1"), "approved");
    assert_eq!(state("pipe_tasks#11"), "rejected");
    assert_eq!(state("daf_butler#4"), "deferred");
    let notes = origin["history"]["daf_butler#1"]["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "note")
        .count();
    assert_eq!(notes, 1, "the note travels too");
}

/// The claim path of two pushes at once, made certain: another workspace's record lands on the
/// ticket after this push's first read and just before its comment. The push reads the ticket
/// again, finds the earlier claim, takes its own comment back and writes no label: the tracker
/// holds one outcome, and this workspace reports a conflict.
#[test]
fn a_push_whose_claim_comes_second_takes_its_comment_back_and_writes_nothing() {
    use portcullis_core::record::{encode, Form, Record, RecordKind, Standing};
    let server = JiraServer::start(config(Flavor::DataCenter), tickets(), 0).unwrap();
    let env = team();
    sync_and_verify(&env, RM, &server);
    ok(run(
        &env,
        RM,
        &server,
        &[
            "decide",
            "reject",
            "DM-103",
            "--note",
            "the release manager says no",
        ],
    ));
    let first = Record {
        ticket: "DM-103".into(),
        kind: RecordKind::Approve,
        standing: Standing::Final,
        line: Some("v23".into()),
        target: None,
        until: None,
        member: Some("Mara Lindqvist".into()),
        meeting: None,
        provisional_in: None,
        reason: Some("the chair says yes".into()),
        event: "cd".repeat(32),
        undoes: None,
        at: t("2026-11-20T10:00:00Z"),
    };
    server.comment_first(
        "DM-103",
        "portcullis-bot",
        &format!(
            "Backport steering committee outside a meeting: APPROVED …\n{}",
            encode(&first, Form::Jira, None)
        ),
    );
    let p = run(&env, RM, &server, &["push"]);
    assert_eq!(p.code, 1, "{}\n{}", p.stdout, p.stderr);
    assert!(p.stdout.contains("CONFLICT"), "{}", p.stdout);
    assert!(
        p.stdout
            .contains("another workspace pushed a decision on it (approve by Mara Lindqvist"),
        "{}",
        p.stdout
    );
    let dm = server.issue("DM-103").unwrap();
    assert_eq!(
        dm.comments.len(),
        1,
        "only the first claim: {:?}",
        dm.comments
    );
    assert!(dm.comments[0].contains("APPROVED"), "{:?}", dm.comments);
    assert!(
        dm.labels.iter().any(|l| l == "backport-v23"),
        "the rejection removed no label: {:?}",
        dm.labels
    );
}
