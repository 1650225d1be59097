//! Issue 16, the meeting rule: sittings, attendance, quorum, provisional and ratified
//! decisions, out-of-meeting decisions, and one rule for the CLI and the triage screen
//! (observations 1, 2, 3 and 10).

use chrono::{DateTime, NaiveDate, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use portcullis::triage::app::{App, Mode};
use portcullis::triage::data;
use portcullis_core::event::kind;
use portcullis_core::workflow::State;
use portcullis_ledger::Ledger;
use portcullis_ops::meeting;
use portcullis_ops::workspace::Workspace;
use portcullis_testkit::jira_server::{seed_issue, Config, Flavor, JiraServer};
use serde_json::Value;

use crate::harness::{ExportBuilder, Run, TestEnv, NOW};

const TOKEN: &str = "tok-S3CRET-5f1e2d";
const EMAIL: &str = "bot@example.org";
/// A Sunday: no meeting day, no meeting.
const SUNDAY: &str = "2026-11-29T10:00:00Z";

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn names(n: &[&str]) -> Vec<String> {
    n.iter().map(|s| s.to_string()).collect()
}

/// The v23 workspace (quorum 3) with two requests: DM-33360 and DM-33361.
fn workspace() -> TestEnv {
    let env = TestEnv::with_workspace("v23");
    let export = ExportBuilder::new()
        .ticket(
            "DM-33360",
            "Pin moto<3 so that the S3 tests pass",
            &[("2026-11-05T09:00:00.000-0700", "dchen", "backport-v23")],
        )
        .ticket(
            "DM-33361",
            "Fix the flux calibration",
            &[("2026-11-05T10:00:00.000-0700", "kfarrow", "backport-v23")],
        )
        .build();
    env.write("export.json", &export);
    env.run(&["sync", "--from-file", "export.json"]).ok();
    env
}

fn ws_of(env: &TestEnv) -> Workspace {
    env.workspace()
}

/// Open a sitting through the operations (as the triage screen does).
fn open(env: &TestEnv, date: &str, attendees: &[&str], chair: &str) -> meeting::Meeting {
    let ws = ws_of(env);
    let mut ledger = ws.open_ledger().unwrap();
    meeting::open(
        &mut ledger,
        &ws.policy,
        "v23",
        d(date),
        &names(attendees),
        chair,
    )
    .unwrap()
    .0
}

fn json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr))
}

fn state(env: &TestEnv, key: &str) -> String {
    let v = json(env.run(&["status", "--format", "json"]).ok());
    v["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == key)
        .map(|t| t["state"].as_str().unwrap().to_string())
        .unwrap_or_default()
}

// Observation 1: decisions outside a meeting, decisions while one is open.

#[test]
fn observation_1_decide_outside_a_meeting_is_out_of_meeting() {
    let env = workspace();
    let run = env.run_env(
        &[
            "decide",
            "approve",
            "DM-33360",
            "--as",
            "mlindqvist",
            "--format",
            "json",
        ],
        &[("PORTCULLIS_NOW", SUNDAY)],
    );
    let v = json(run.ok());
    assert_eq!(
        v["meeting"],
        Value::Null,
        "no meeting date is invented: {v}"
    );
    assert_eq!(v["out_of_meeting"], true, "{v}");
    // Out-of-meeting decisions are final: quorum is a rule of meetings.
    assert_eq!(v["provisional"], false, "{v}");
    assert_eq!(state(&env, "DM-33360"), "approved");
    let table = env.run_env(
        &["decide", "defer", "DM-33361", "--as", "praman"],
        &[("PORTCULLIS_NOW", SUNDAY)],
    );
    assert!(
        table.ok().stdout.contains("out of meeting"),
        "{}",
        table.stdout
    );
    let h = env.run(&["history", "DM-33360"]);
    assert!(h.ok().stdout.contains("(out of meeting)"), "{}", h.stdout);
}

#[test]
fn observation_1_a_decision_belongs_to_the_open_sitting_whatever_its_date() {
    let env = workspace();
    // A meeting opened on a Thursday (not the policy's meeting day), still open on Friday.
    open(
        &env,
        "2026-11-26",
        &["Mara Lindqvist", "tokafor", "praman"],
        "Mara Lindqvist",
    );
    let run = env.run_env(
        &[
            "decide", "approve", "DM-33360", "--as", "praman", "--format", "json",
        ],
        &[("PORTCULLIS_NOW", "2026-11-27T09:00:00Z")],
    );
    let v = json(run.ok());
    assert_eq!(v["meeting"], "2026-11-26", "{v}");
    assert_eq!(v["sitting"], 1, "{v}");
    assert_eq!(v["out_of_meeting"], false, "{v}");
    let table = env.run(&["decide", "defer", "DM-33361", "--as", "praman"]);
    assert!(
        table
            .ok()
            .stdout
            .contains("in the meeting of 2026-11-26 (sitting 1)"),
        "{}",
        table.stdout
    );
    // --meeting must name the open sitting.
    let bad = env.run(&[
        "decide",
        "reject",
        "DM-33361",
        "--note",
        "no",
        "--as",
        "praman",
        "--meeting",
        "2026-11-24",
    ]);
    assert_eq!(bad.code, 2, "{}", bad.stdout);
    assert!(
        bad.stderr
            .contains("no meeting of v23 on 2026-11-24 is open")
            && bad.stderr.contains("the meeting of 2026-11-26 is open"),
        "{}",
        bad.stderr
    );
}

#[test]
fn observation_1_the_triage_screens_last_meeting_and_since_view_stay_when_someone_decides_elsewhere(
) {
    let env = workspace();
    let ws = ws_of(&env);
    let mut ledger = ws.open_ledger().unwrap();
    let (m, _) = meeting::open(
        &mut ledger,
        &ws.policy,
        "v23",
        d("2026-11-26"),
        &names(&["Mara Lindqvist", "tokafor", "praman"]),
        "Mara Lindqvist",
    )
    .unwrap();
    let before = data::load_at(&ledger, &ws.policy, &m, t(NOW)).unwrap();
    // Someone runs `decide` in another terminal (on Tuesday 2026-11-24's clock).
    env.run(&["decide", "approve", "DM-33360", "--as", "praman"])
        .ok();
    let after = data::load_at(&ledger, &ws.policy, &m, t(NOW)).unwrap();
    assert_eq!(after.last_meeting, before.last_meeting);
    assert_eq!(
        data::since_start(after.last_meeting, m.date),
        data::since_start(before.last_meeting, m.date),
        "the since view keeps its window"
    );
    assert_eq!(after.decided_here, 1, "the decision is the open sitting's");
}

fn jira_env(server: &JiraServer) -> Vec<(String, String)> {
    vec![
        ("PORTCULLIS_JIRA_URL".into(), server.url()),
        ("PORTCULLIS_JIRA_TOKEN".into(), TOKEN.into()),
        ("PORTCULLIS_JIRA_EMAIL".into(), EMAIL.into()),
    ]
}

fn run_jira(env: &TestEnv, server: &JiraServer, args: &[&str]) -> Run {
    let vars = jira_env(server);
    let refs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.run_env(args, &refs)
}

fn jira() -> (JiraServer, TestEnv) {
    let mut c = Config::of(Flavor::DataCenter);
    c.users = vec![portcullis_testkit::jira_server::User {
        name: "portcullis-bot".into(),
        account_id: "557058:bot".into(),
        display_name: "portcullis bot".into(),
        email: EMAIL.into(),
        token: TOKEN.into(),
    }];
    let seeds = vec![
        seed_issue(
            "DM-100",
            "Fix the flux calibration",
            &[(t("2026-11-02T10:00:00Z"), "dev1", &["backport-v23"])],
        ),
        seed_issue(
            "DM-101",
            "Improve timeout handling in daf_butler",
            &[(t("2026-11-02T11:00:00Z"), "dev2", &["backport-v23"])],
        ),
    ];
    let server = JiraServer::start(c, seeds, 0).unwrap();
    let env = TestEnv::with_workspace("v23");
    run_jira(&env, &server, &["sync"]).ok();
    (server, env)
}

#[test]
fn observation_1_push_says_outside_a_meeting_and_invents_no_date() {
    let (server, env) = jira();
    env.run_env(
        &[
            "decide",
            "approve",
            "DM-100",
            "--as",
            "mlindqvist",
            "--note",
            "needed",
        ],
        &[("PORTCULLIS_NOW", SUNDAY)],
    )
    .ok();
    run_jira(&env, &server, &["push"]).ok();
    let c = server.issue("DM-100").unwrap().comments;
    assert_eq!(c.len(), 1, "{c:?}");
    assert!(c[0].contains("outside a meeting"), "{}", c[0]);
    assert!(!c[0].contains("at its meeting"), "{}", c[0]);
    assert!(!c[0].contains("2026-11-24"), "{}", c[0]);
}

// Observation 2: a closed sitting stays closed.

#[test]
fn observation_2_a_closed_sitting_stays_closed_and_the_same_day_again_is_sitting_2() {
    let env = workspace();
    let ws = ws_of(&env);
    let mut ledger = ws.open_ledger().unwrap();
    let first = names(&["Mara Lindqvist", "Tomas Okafor", "Priya Raman"]);
    let (s1, resumed) = meeting::open(
        &mut ledger,
        &ws.policy,
        "v23",
        d("2026-11-24"),
        &first,
        "mlindqvist",
    )
    .unwrap();
    assert!(!resumed);
    assert_eq!(s1.sitting, 1);
    env.run(&["decide", "approve", "DM-33360", "--as", "tokafor"])
        .ok();
    meeting::close(&mut ledger, &ws.policy, &s1, "mlindqvist").unwrap();

    let second = names(&["Mara Lindqvist", "Hugo Brandt", "Elena Sato"]);
    let (s2, resumed) = meeting::open(
        &mut ledger,
        &ws.policy,
        "v23",
        d("2026-11-24"),
        &second,
        "mlindqvist",
    )
    .unwrap();
    assert!(!resumed, "a closed sitting is not resumed");
    assert_eq!(s2.sitting, 2);
    assert_eq!(s2.attendees, second);
    env.run(&["decide", "defer", "DM-33361", "--as", "esato"])
        .ok();

    // Sitting 1 keeps its attendees, closed; its decision keeps them too.
    let all = meeting::meetings(&ledger, "v23").unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].attendees, first);
    assert!(all[0].closed_at.is_some());
    assert!(all[1].closed_at.is_none());

    let m = meeting::minutes(&ledger, "v23", Some(d("2026-11-24"))).unwrap();
    assert_eq!(m.sittings.len(), 2);
    assert_eq!(m.sittings[0].attending, first);
    let md = meeting::render_minutes_md(&m);
    let s1_text = &md[md.find("## Sitting 1").unwrap()..md.find("## Sitting 2").unwrap()];
    assert!(s1_text.contains("Tomas Okafor"), "{md}");
    assert!(
        !s1_text.contains("Elena Sato"),
        "an absent member is not listed for sitting 1: {md}"
    );
    assert!(
        md.contains("**approve** DM-33360") && md.contains("(sitting 1)"),
        "{md}"
    );
    assert!(md.contains("**defer** DM-33361"), "{md}");
    let approve = m.decisions.iter().find(|x| x.key == "DM-33360").unwrap();
    assert_eq!(approve.sitting, 1);
    let defer = m.decisions.iter().find(|x| x.key == "DM-33361").unwrap();
    assert_eq!(defer.sitting, 2);
    // A decision in sitting 2 by a member who only attended sitting 1 is refused.
    let run = env.run(&[
        "decide", "reject", "DM-33361", "--note", "x", "--as", "tokafor",
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("does not attend"), "{}", run.stderr);
}

#[test]
fn observation_2_a_meeting_of_another_day_is_refused_while_one_is_open() {
    let env = workspace();
    open(
        &env,
        "2026-11-24",
        &["Mara Lindqvist", "tokafor", "praman"],
        "Mara Lindqvist",
    );
    let run = env.run(&[
        "meeting",
        "open",
        "--date",
        "2026-11-25",
        "--attendee",
        "Mara Lindqvist",
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("the meeting of 2026-11-24 of v23 is still open"),
        "{}",
        run.stderr
    );
}

// Observation 3: quorum, attendance, the chair.

#[test]
fn observation_3_below_quorum_decisions_are_provisional_not_counted_and_not_pushed_until_ratified()
{
    let (server, env) = jira();
    // 2 of 5 present under quorum 3.
    let run = env.run(&[
        "meeting",
        "open",
        "--attendee",
        "mlindqvist",
        "--attendee",
        "tokafor",
        "--as",
        "mlindqvist",
    ]);
    assert!(
        run.ok().stdout.contains("quorum 3: NOT met"),
        "{}",
        run.stdout
    );
    let run = env.run(&[
        "decide",
        "approve",
        "DM-100",
        "--as",
        "mlindqvist",
        "--note",
        "fine",
    ]);
    assert!(
        run.ok()
            .stdout
            .contains("provisional in the meeting of 2026-11-24"),
        "{}",
        run.stdout
    );
    // Not counted: the gate still sees a request.
    assert_eq!(state(&env, "DM-100"), "requested");
    let st = env.run(&["status"]);
    assert!(
        st.ok().stdout.contains("Provisional (1;") && st.stdout.contains("approve DM-100"),
        "{}",
        st.stdout
    );
    let h = env.run(&["history", "DM-100"]);
    assert!(h.ok().stdout.contains("provisional"), "{}", h.stdout);
    // Not pushed.
    let p = run_jira(&env, &server, &["push"]);
    assert!(p.ok().stdout.contains("nothing to push"), "{}", p.stdout);
    assert!(server.issue("DM-100").unwrap().comments.is_empty());
    // Ratifying needs a quorum.
    let r = env.run(&["meeting", "ratify", "--as", "mlindqvist"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("below quorum"), "{}", r.stderr);

    // A later quorate sitting ratifies it in one step.
    env.run(&["meeting", "close", "--as", "mlindqvist"]).ok();
    env.run_env(
        &[
            "meeting",
            "open",
            "--attendee",
            "mlindqvist",
            "--attendee",
            "praman",
            "--attendee",
            "hbrandt",
            "--as",
            "praman",
        ],
        &[("PORTCULLIS_NOW", "2026-12-01T12:00:00Z")],
    )
    .ok();
    let r = env.run_env(
        &["meeting", "ratify", "--as", "praman"],
        &[("PORTCULLIS_NOW", "2026-12-01T12:05:00Z")],
    );
    assert!(
        r.ok().stdout.contains("Ratified 1 provisional decision(s)"),
        "{}",
        r.stdout
    );
    assert_eq!(state(&env, "DM-100"), "approved");
    // The derived state is still what a rebuild from the events gives.
    env.run(&["audit"]).ok();
    let st = env.run(&["status"]);
    assert!(!st.ok().stdout.contains("Provisional"), "{}", st.stdout);
    run_jira(&env, &server, &["push"]).ok();
    let c = server.issue("DM-100").unwrap().comments;
    assert_eq!(c.len(), 1, "{c:?}");
    assert!(
        c[0].contains("APPROVED") && c[0].contains("at its meeting of 2026-12-01"),
        "pushed as a decision of the ratifying sitting: {}",
        c[0]
    );
    // The minutes of both meetings say so.
    let m1 = env.run(&["minutes", "--meeting", "2026-11-24"]);
    assert!(
        m1.ok()
            .stdout
            .contains("(provisional, ratified in the meeting of 2026-12-01)"),
        "{}",
        m1.stdout
    );
    let m2 = env.run(&["minutes", "--meeting", "2026-12-01"]);
    assert!(
        m2.ok().stdout.contains("**Ratified:** approve DM-100"),
        "{}",
        m2.stdout
    );
    // Nothing waits any more.
    let again = env.run_env(
        &["meeting", "ratify", "--as", "praman"],
        &[("PORTCULLIS_NOW", "2026-12-01T12:06:00Z")],
    );
    assert!(
        again.ok().stdout.contains("Nothing to ratify"),
        "{}",
        again.stdout
    );
}

#[test]
fn observation_3_a_decision_is_credited_only_to_an_attending_member() {
    let env = workspace();
    open(
        &env,
        "2026-11-24",
        &["Mara Lindqvist", "tokafor", "praman"],
        "Mara Lindqvist",
    );
    let run = env.run(&["decide", "approve", "DM-33360", "--as", "hbrandt"]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        run.stderr
            .contains("hbrandt does not attend the meeting of 2026-11-24"),
        "{}",
        run.stderr
    );
    // Even forced: attendance is a fact, not a policy exception.
    let run = env.run(&[
        "decide", "approve", "DM-33360", "--as", "hbrandt", "--force",
    ]);
    assert_eq!(run.code, 2);
    assert_eq!(state(&env, "DM-33360"), "requested");
    // Requests and `done` are not committee decisions: anyone may record them.
    env.run(&["decide", "request", "DM-33361", "--as", "dchen"])
        .ok();
}

#[test]
fn observation_3_the_chair_is_one_of_the_attendees() {
    let env = workspace();
    let ws = ws_of(&env);
    let mut ledger = ws.open_ledger().unwrap();
    let e = meeting::open(
        &mut ledger,
        &ws.policy,
        "v23",
        d("2026-11-24"),
        &names(&["tokafor", "praman"]),
        "Mara Lindqvist",
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("the chair must attend: Mara Lindqvist is not among the attendees"),
        "{e}"
    );
    assert!(meeting::meetings(&ledger, "v23").unwrap().is_empty());
    let (m, _) = meeting::open(
        &mut ledger,
        &ws.policy,
        "v23",
        d("2026-11-24"),
        &names(&["tokafor", "praman", "mlindqvist"]),
        "mlindqvist",
    )
    .unwrap();
    assert_eq!(m.chair.as_deref(), Some("Mara Lindqvist"));
}

#[test]
fn members_joining_and_leaving_are_events_and_attendance_at_the_decision_counts() {
    let env = workspace();
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
    env.run(&["decide", "approve", "DM-33360", "--as", "praman"])
        .ok();
    let left = env.run(&["meeting", "leave", "praman"]);
    assert!(
        left.ok()
            .stdout
            .contains("Priya Raman left the meeting of 2026-11-24")
            && left.stdout.contains("NOT met"),
        "{}",
        left.stdout
    );
    let run = env.run(&["decide", "defer", "DM-33361", "--as", "praman"]);
    assert_eq!(run.code, 2, "she left");
    let run = env.run(&[
        "decide", "defer", "DM-33361", "--as", "tokafor", "--format", "json",
    ]);
    assert_eq!(json(run.ok())["provisional"], true);
    let joined = env.run(&["meeting", "join", "hbrandt"]);
    assert!(
        joined.ok().stdout.contains("(quorum 3: met)"),
        "{}",
        joined.stdout
    );
    // Joining twice, or leaving when absent, is refused.
    assert_eq!(env.run(&["meeting", "join", "hbrandt"]).code, 2);
    assert_eq!(env.run(&["meeting", "leave", "esato"]).code, 2);

    let ledger = env.ledger();
    let changes = ledger
        .events_of_kinds(&[kind::MEETING_JOINED, kind::MEETING_LEFT])
        .unwrap();
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[0].payload["who"], "Priya Raman");
    assert_eq!(changes[1].kind, kind::MEETING_JOINED);
    let m = meeting::minutes(&ledger, "v23", None).unwrap();
    let approve = m.decisions.iter().find(|x| x.key == "DM-33360").unwrap();
    assert!(!approve.provisional, "3 attended when it was taken");
    let defer = m.decisions.iter().find(|x| x.key == "DM-33361").unwrap();
    assert!(defer.provisional, "2 attended when it was taken");
    let md = meeting::render_minutes_md(&m);
    assert!(
        md.contains("**Left:** Priya Raman at")
            && md.contains("**Joined:** Hugo Brandt at")
            && md.contains("(provisional: below quorum, not ratified)"),
        "{md}"
    );
    // The meeting ratifies its own provisional decision once quorate again.
    env.run(&["meeting", "ratify", "--as", "hbrandt"]).ok();
    assert_eq!(state(&env, "DM-33361"), "deferred");
}

// Observation 10: one rule for the CLI and the triage screen.

/// The demo workspace, built by the real binary with the fixed clock.
fn demo() -> (TestEnv, Workspace) {
    let env = TestEnv::new();
    env.run(&["demo", "--dir", "."]).ok();
    let ws = ws_of(&env);
    (env, ws)
}

fn screen(ws: &Workspace, date: &str) -> (Ledger, App) {
    let mut ledger = ws.open_ledger().unwrap();
    // The demo leaves no sitting open.
    let (m, _) = meeting::open(
        &mut ledger,
        &ws.policy,
        "v23",
        d(date),
        &names(&["Mara Lindqvist", "tokafor", "praman"]),
        "Mara Lindqvist",
    )
    .unwrap();
    let snap = data::load_at(&ledger, &ws.policy, &m, t(NOW)).unwrap();
    let mut app = App::new(snap, "Mara Lindqvist".into(), false, false);
    app.clock = Some(t(NOW));
    (ledger, app)
}

fn press(app: &mut App, ledger: &mut Ledger, ws: &Workspace, keys: &[KeyEvent]) {
    for k in keys {
        app.key(*k, ledger, &ws.policy).unwrap();
    }
}

fn k(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

fn text(s: &str) -> Vec<KeyEvent> {
    s.chars().map(|c| k(KeyCode::Char(c))).collect()
}

fn queue_keys(env: &TestEnv, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["meeting", "queue", "--format", "json"];
    args.extend_from_slice(extra);
    json(env.run(&args).ok())["queue"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn observation_10_needs_info_leaves_the_queue_in_triage_and_the_cli_alike() {
    let (env, ws) = demo();
    let (mut ledger, mut app) = screen(&ws, "2026-11-24");
    let first = app.queue()[0].key.clone();
    let cli: Vec<String> = queue_keys(&env, &[]);
    let screen_keys: Vec<String> = {
        let mut v: Vec<String> = app.snap.queue.iter().map(|r| r.key.clone()).collect();
        v.sort_by(|a, b| portcullis_ledger::key_order(a, b));
        v
    };
    let mut cli_sorted = cli.clone();
    cli_sorted.sort_by(|a, b| portcullis_ledger::key_order(a, b));
    assert_eq!(cli_sorted, screen_keys, "one queue");

    let mut keys = vec![k(KeyCode::Char('i'))];
    keys.extend(text("which steps?"));
    keys.push(k(KeyCode::Enter));
    press(&mut app, &mut ledger, &ws, &keys);
    assert!(app.status.contains("needs-info"), "{}", app.status);
    assert!(
        app.snap.queue.iter().all(|r| r.key != first),
        "asked for information: it waits for the answer, out of this meeting's queue"
    );
    assert!(!queue_keys(&env, &[]).contains(&first));
    // Back at a later meeting (the decision was taken in process, on the real clock).
    assert!(queue_keys(&env, &["--date", "2030-01-01"]).contains(&first));
}

#[test]
fn observation_10_next_meeting_is_the_policy_meeting_day() {
    let (_env, ws) = demo();
    // A meeting held on a Thursday: the next one is the policy's Tuesday, not a week later.
    let (mut ledger, mut app) = screen(&ws, "2026-11-26");
    assert_eq!(app.next_meeting(&ws.policy), d("2026-12-01"));
    assert_eq!(
        meeting::next_meeting_date(&ws.policy, d("2026-11-24")),
        d("2026-12-01")
    );
    let key = app.queue()[0].key.clone();
    press(
        &mut app,
        &mut ledger,
        &ws,
        &[k(KeyCode::Char('d')), k(KeyCode::Enter), k(KeyCode::Enter)],
    );
    let until: Vec<String> = ledger
        .events_for_ticket(&key)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == kind::DECISION && e.source == "local")
        .filter_map(|e| e.payload["until"].as_str().map(str::to_string))
        .collect();
    assert_eq!(until, vec!["2026-12-01".to_string()]);
}

#[test]
fn observation_10_the_cli_refuses_a_defer_date_that_is_not_after_the_meeting() {
    let env = workspace();
    for until in ["2020-01-01", "2026-11-24"] {
        let run = env.run(&[
            "decide", "defer", "DM-33360", "--until", until, "--as", "praman",
        ]);
        assert_eq!(run.code, 2, "{until}: {}", run.stdout);
        assert!(
            run.stderr
                .contains("a deferral must be until a date after 2026-11-24"),
            "{}",
            run.stderr
        );
    }
    assert_eq!(state(&env, "DM-33360"), "requested");
    // The triage screen refuses the same dates with the same words.
    let (_env, ws) = demo();
    let (mut ledger, mut app) = screen(&ws, "2026-11-24");
    let mut keys = vec![k(KeyCode::Char('d'))];
    keys.extend(text("2020-01-01"));
    keys.push(k(KeyCode::Enter));
    press(&mut app, &mut ledger, &ws, &keys);
    match &app.mode {
        Mode::Prompt(p) => assert!(
            p.error
                .as_deref()
                .is_some_and(|e| e.contains("a deferral must be until a date after 2026-11-24")),
            "{:?}",
            p.error
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn observation_10_triage_says_why_it_refuses_and_records_a_policy_exception_with_a_reason() {
    let (_env, ws) = demo();
    let (mut ledger, mut app) = screen(&ws, "2026-11-24");
    let approved = ledger.line_tickets("v23", &[State::Approved]).unwrap()[0]
        .ticket
        .clone();
    app.mode = Mode::Detail(approved.clone());
    let mut keys = vec![k(KeyCode::Char('i'))];
    keys.extend(text("which"));
    keys.push(k(KeyCode::Enter));
    press(&mut app, &mut ledger, &ws, &keys);
    let Mode::Prompt(p) = &app.mode else {
        panic!("{:?}", app.mode)
    };
    let error = p.error.clone().unwrap_or_default();
    assert!(
        error.contains("revoke the approval first") && error.contains("Ctrl-F"),
        "the refusal says why: {error}"
    );
    // Ctrl-F: a policy exception, showing the violation it will carry; a reason is required.
    press(
        &mut app,
        &mut ledger,
        &ws,
        &[KeyEvent::new(KeyCode::Char('f'), KeyModifiers::CONTROL)],
    );
    let Mode::Prompt(p) = &app.mode else {
        panic!("{:?}", app.mode)
    };
    assert!(
        p.label().contains("Policy exception") && p.label().contains("revoke the approval first"),
        "{}",
        p.label()
    );
    let before = ledger.events_for_ticket(&approved).unwrap().len();
    // The typed text so far is the reason; erase it and confirm: refused without a reason.
    let erase: Vec<KeyEvent> = (0..5).map(|_| k(KeyCode::Backspace)).collect();
    press(&mut app, &mut ledger, &ws, &erase);
    press(&mut app, &mut ledger, &ws, &[k(KeyCode::Enter)]);
    assert_eq!(ledger.events_for_ticket(&approved).unwrap().len(), before);
    let mut keys = text("the requester must confirm the steps");
    keys.push(k(KeyCode::Enter));
    press(&mut app, &mut ledger, &ws, &keys);
    let last = ledger
        .events_for_ticket(&approved)
        .unwrap()
        .into_iter()
        .rfind(|e| e.kind == kind::DECISION)
        .unwrap();
    assert_eq!(last.payload["decision"], "needs-info");
    assert_eq!(
        last.payload["forced"], true,
        "recorded as --force records it"
    );
    assert_eq!(
        last.note.as_deref(),
        Some("the requester must confirm the steps")
    );
    assert!(app.status.contains("policy exception"), "{}", app.status);
}

#[test]
fn on_the_triage_screen_below_quorum_is_provisional_and_r_ratifies_once_someone_joins() {
    let (env, ws) = demo();
    let mut ledger = ws.open_ledger().unwrap();
    let (m, _) = meeting::open(
        &mut ledger,
        &ws.policy,
        "v23",
        d("2026-11-24"),
        &names(&["Mara Lindqvist", "tokafor"]),
        "Mara Lindqvist",
    )
    .unwrap();
    let snap = data::load_at(&ledger, &ws.policy, &m, t(NOW)).unwrap();
    let mut app = App::new(snap, "Mara Lindqvist".into(), false, false);
    app.clock = Some(t(NOW));
    let first = app.queue()[0].key.clone();
    let pending = app.snap.pending_push;
    let mut keys = vec![k(KeyCode::Char('a'))];
    keys.extend(text("ok"));
    keys.push(k(KeyCode::Enter));
    press(&mut app, &mut ledger, &ws, &keys);
    assert!(
        app.status
            .contains("provisional in the meeting of 2026-11-24"),
        "{}",
        app.status
    );
    assert_eq!(state(&env, &first), "requested", "not counted");
    assert!(app.snap.queue.iter().any(|r| r.key == first));
    assert_eq!(app.snap.pending_push, pending, "not pushed");
    // R refuses below quorum, and says why.
    press(&mut app, &mut ledger, &ws, &[k(KeyCode::Char('R'))]);
    assert!(app.status.contains("below quorum"), "{}", app.status);
    // Someone arrives (from another terminal); the screen picks it up and R ratifies.
    env.run(&["meeting", "join", "praman"]).ok();
    app.reload(&ledger, &ws.policy).unwrap();
    assert_eq!(app.snap.meeting.attending().len(), 3);
    press(&mut app, &mut ledger, &ws, &[k(KeyCode::Char('R'))]);
    assert!(
        app.status.contains("Ratified 1 provisional decision(s)"),
        "{}",
        app.status
    );
    assert_eq!(state(&env, &first), "approved");
    assert_eq!(app.snap.pending_push, pending + 1);
    assert!(app.snap.queue.iter().all(|r| r.key != first));
}

/// Found trying the meeting commands as a new user: `decide … --as praman` in a sitting was
/// recorded, and listed in the minutes, as "praman" instead of the member Priya Raman.
#[test]
fn a_decision_by_an_alias_is_credited_to_the_members_name() {
    let env = workspace();
    open(
        &env,
        "2026-11-24",
        &["mlindqvist", "praman", "tokafor"],
        "mlindqvist",
    );
    let v = json(
        env.run(&[
            "decide",
            "reject",
            "DM-33360",
            "--as",
            "praman",
            "--note",
            "too risky",
            "--format",
            "json",
        ])
        .ok(),
    );
    assert_eq!(v["provisional"], false, "{v}");
    let minutes = env.run(&["minutes"]).ok().stdout.clone();
    assert!(minutes.contains("[Priya Raman]"), "{minutes}");
    assert!(!minutes.contains("[praman]"), "{minutes}");
    // Out of meeting too: the record names the member, whatever alias was typed.
    env.run(&["meeting", "close", "--as", "mlindqvist"]).ok();
    env.run(&["decide", "defer", "DM-33361", "--as", "tokafor"])
        .ok();
    let h = env.run(&["history", "DM-33361", "--format", "json"]);
    assert!(h.ok().stdout.contains("Tomas Okafor"), "{}", h.stdout);
}

/// Found checking observation 10's "what a forced decision records": the triage screen's policy
/// exception needed a reason while `decide --force` recorded one without any.
#[test]
fn a_forced_decision_needs_a_reason_in_the_cli_as_on_the_triage_screen() {
    let env = workspace();
    // rgarcia is not on the committee: an approval by him is a policy exception.
    let run = env.run(&[
        "decide", "approve", "DM-33360", "--as", "rgarcia", "--force",
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("a policy exception needs a reason")
            && run.stderr.contains("approved_by_non_member"),
        "{}",
        run.stderr
    );
    assert_eq!(state(&env, "DM-33360"), "requested");
    env.run(&[
        "decide",
        "approve",
        "DM-33360",
        "--as",
        "rgarcia",
        "--force",
        "--note",
        "chair away",
    ])
    .ok();
    assert_eq!(state(&env, "DM-33360"), "approved");
}
