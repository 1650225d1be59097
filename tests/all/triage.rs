//! The triage screen: key → state → ledger event, without a terminal; every view drawn on
//! ratatui's `TestBackend` at 80×24 and 160×48; and the real binary in a pseudo-terminal.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use insta::assert_snapshot;
use portcullis::triage::app::{App, Effect, Mode, View};
use portcullis::triage::data;
use portcullis_core::event::kind;
use portcullis_ledger::Ledger;
use portcullis_ops::meeting;
use portcullis_ops::workspace::{Locations, Workspace};
use portcullis_testkit::pty::PtySession;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use crate::harness::{TestEnv, NOW};

const MEETING: &str = "2026-11-24";

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(NOW)
        .unwrap()
        .with_timezone(&Utc)
}

fn date() -> NaiveDate {
    MEETING.parse().unwrap()
}

/// The demo workspace, built by the real binary with the fixed clock.
fn demo() -> (TestEnv, Workspace) {
    let env = TestEnv::new();
    env.run(&["demo", "--dir", "."]).ok();
    // With the harness's PostgreSQL switch, the screen opens the ledger the runs use.
    env.follow_switch();
    let ws = Workspace::resolve(&Locations {
        config: Some(env.path().join("portcullis.toml")),
        db: env.postgres_url().map(Into::into),
        ..Default::default()
    })
    .unwrap();
    (env, ws)
}

/// A meeting open on the demo, and the screen state on it.
fn open(ws: &Workspace) -> (Ledger, App) {
    let mut ledger = ws.open_ledger().unwrap();
    // Three attend: the v23 policy's quorum, so that the decisions are final.
    let attendees = vec![
        "Mara Lindqvist".to_string(),
        "tokafor".to_string(),
        "Priya Raman".to_string(),
    ];
    let (m, resumed) = meeting::open(
        &mut ledger,
        &ws.policy,
        "v23",
        date(),
        &attendees,
        "Mara Lindqvist",
    )
    .unwrap();
    assert!(!resumed);
    let snap = data::load_at(&ledger, &ws.policy, &m, now()).unwrap();
    let mut app = App::new(snap, "Mara Lindqvist".into(), false, false);
    app.clock = Some(now());
    (ledger, app)
}

fn key(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

fn press(app: &mut App, ledger: &mut Ledger, ws: &Workspace, keys: &[KeyCode]) -> Effect {
    let mut last = Effect::None;
    for k in keys {
        last = app.key(key(*k), ledger, &ws.policy).unwrap();
    }
    last
}

fn typed(s: &str) -> Vec<KeyCode> {
    s.chars().map(KeyCode::Char).collect()
}

/// A local decision as the tests see it: (decision, note, meeting, until).
type Recorded = (String, Option<String>, Option<NaiveDate>, Option<String>);

/// The local decisions recorded for a ticket.
fn decisions(ledger: &Ledger, key: &str) -> Vec<Recorded> {
    ledger
        .events_for_ticket(key)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == kind::DECISION && e.source == "local")
        .map(|e| {
            (
                e.payload["decision"].as_str().unwrap().to_string(),
                e.note,
                e.meeting,
                e.payload["until"].as_str().map(str::to_string),
            )
        })
        .collect()
}

fn state(ledger: &Ledger, key: &str) -> String {
    ledger.line_state(key, "v23").unwrap().unwrap()
}

#[test]
fn keys_record_decisions_tied_to_the_meeting_and_undo_takes_the_last_back() {
    let (_env, ws) = demo();
    let (mut ledger, mut app) = open(&ws);
    assert!(app.snap.queue.len() > 10, "the demo has a queue");
    let first = app.queue()[0].key.clone();
    assert_eq!(state(&ledger, &first), "requested");

    // a: approve, with a reason; in the ledger at once, tied to the meeting.
    let mut k = vec![KeyCode::Char('a')];
    k.extend(typed("low risk"));
    k.push(KeyCode::Enter);
    press(&mut app, &mut ledger, &ws, &k);
    assert_eq!(
        decisions(&ledger, &first),
        vec![(
            "approve".into(),
            Some("low risk".into()),
            Some(date()),
            None
        )]
    );
    assert_eq!(state(&ledger, &first), "approved");
    // A second connection (another process) sees it: nothing waits in memory.
    let other = ws.open_ledger().unwrap();
    assert_eq!(state(&other, &first), "approved");
    assert!(app.status.contains("approve"), "{}", app.status);
    assert!(
        !app.queue().iter().any(|r| r.key == first),
        "left the queue"
    );
    assert_eq!(app.snap.decided_here, 1);

    // r: a reject needs a reason; Enter without one records nothing.
    let second = app.queue()[0].key.clone();
    press(
        &mut app,
        &mut ledger,
        &ws,
        &[KeyCode::Char('r'), KeyCode::Enter],
    );
    match &app.mode {
        Mode::Prompt(p) => assert!(p.error.as_deref().unwrap_or("").contains("reason"), "{p:?}"),
        m => panic!("still asking for the reason: {m:?}"),
    }
    assert!(decisions(&ledger, &second).is_empty());
    let mut k = typed("Changes the schema mid-campaign");
    k.push(KeyCode::Enter);
    press(&mut app, &mut ledger, &ws, &k);
    assert_eq!(state(&ledger, &second), "rejected");
    assert_eq!(
        decisions(&ledger, &second)[0].1.as_deref(),
        Some("Changes the schema mid-campaign")
    );

    // d: defer; an empty date means the next meeting; a bad date is refused.
    let third = app.queue()[0].key.clone();
    let mut k = vec![KeyCode::Char('d')];
    k.extend(typed("soon"));
    k.push(KeyCode::Enter);
    press(&mut app, &mut ledger, &ws, &k);
    match &app.mode {
        Mode::Prompt(p) => assert!(p.error.as_deref().unwrap_or("").contains("not a date")),
        m => panic!("{m:?}"),
    }
    let mut k = vec![KeyCode::Backspace; 4];
    k.push(KeyCode::Enter);
    k.extend(typed("only if coadds fail"));
    k.push(KeyCode::Enter);
    press(&mut app, &mut ledger, &ws, &k);
    assert_eq!(
        decisions(&ledger, &third),
        vec![(
            "defer".into(),
            Some("only if coadds fail".into()),
            Some(date()),
            Some("2026-12-01".into())
        )]
    );

    // i: needs-info; n: a note (no state change).
    let fourth = app.queue()[0].key.clone();
    let mut k = vec![KeyCode::Char('i')];
    k.extend(typed("which steps?"));
    k.push(KeyCode::Enter);
    k.push(KeyCode::Char('n'));
    k.extend(typed("asked on Slack"));
    k.push(KeyCode::Enter);
    press(&mut app, &mut ledger, &ws, &k);
    assert_eq!(state(&ledger, &fourth), "needs-info");
    let notes: Vec<_> = ledger
        .events_of_kinds(&[kind::NOTE])
        .unwrap()
        .into_iter()
        .filter(|e| e.meeting == Some(date()))
        .collect();
    assert_eq!(notes.len(), 1);

    // u: takes back the last decision (the needs-info), then the deferral.
    press(&mut app, &mut ledger, &ws, &[KeyCode::Char('u')]);
    assert_eq!(state(&ledger, &fourth), "requested");
    assert!(app.status.contains("Took back"), "{}", app.status);
    press(&mut app, &mut ledger, &ws, &[KeyCode::Char('u')]);
    assert_eq!(state(&ledger, &third), "requested");
    assert_eq!(app.snap.decided_here, 2);
    // Taken-back decisions are not pushed; the rest are.
    let pending: Vec<String> = portcullis_trackers::push::pending_decisions(&ledger)
        .unwrap()
        .into_iter()
        .filter(|d| d.meeting == Some(date()))
        .map(|d| d.key)
        .collect();
    assert_eq!(pending, vec![first.clone(), second.clone()]);
    // The derived state still equals a rebuild from the events.
    let audit = portcullis_ops::audit(&ledger, &ws.policy).unwrap();
    assert!(audit.chain_ok && audit.derived_ok, "{:?}", audit.problems);

    // q: asks first; y ends the meeting; the end screen offers minutes; q leaves.
    assert_eq!(
        press(&mut app, &mut ledger, &ws, &[KeyCode::Char('q')]),
        Effect::None
    );
    assert!(matches!(app.mode, Mode::End(_)));
    press(&mut app, &mut ledger, &ws, &[KeyCode::Char('y')]);
    let m = meeting::meetings(&ledger, "v23").unwrap();
    assert!(m.iter().any(|m| m.date == date() && m.closed_at.is_some()));
    assert_eq!(
        press(&mut app, &mut ledger, &ws, &[KeyCode::Char('m')]),
        Effect::Minutes
    );
    assert_eq!(
        press(&mut app, &mut ledger, &ws, &[KeyCode::Char('p')]),
        Effect::None,
        "no tracker configured: nothing to push to"
    );
    assert_eq!(
        press(&mut app, &mut ledger, &ws, &[KeyCode::Char('q')]),
        Effect::Quit
    );

    // The minutes: attendees, each decision with its reason, deferrals, counts, taken back.
    let minutes = meeting::render_minutes_md(&meeting::minutes(&ledger, "v23", None).unwrap());
    assert!(
        minutes.contains("Mara Lindqvist, Tomas Okafor"),
        "{minutes}"
    );
    assert!(
        minutes.contains(&format!("**approve** {first}")),
        "{minutes}"
    );
    assert!(
        minutes.contains("Reason: Changes the schema mid-campaign"),
        "{minutes}"
    );
    assert!(
        minutes.contains("## Decisions (2: 1 approve, 1 reject)"),
        "{minutes}"
    );
    assert!(
        minutes.contains("## Taken back during the meeting"),
        "{minutes}"
    );
    assert!(minutes.contains("asked on Slack"), "{minutes}");
}

#[test]
fn views_filter_sort_detail_help_and_mouse() {
    let (_env, ws) = demo();
    let (mut ledger, mut app) = open(&ws);
    for (i, v) in View::ALL.iter().enumerate() {
        press(
            &mut app,
            &mut ledger,
            &ws,
            &[KeyCode::Char((b'1' + i as u8) as char)],
        );
        assert_eq!(app.view, *v);
    }
    press(&mut app, &mut ledger, &ws, &[KeyCode::Tab]);
    assert_eq!(app.view, View::Queue, "Tab wraps around");
    // Filter by repository, then clear it.
    let all = app.queue().len();
    let mut k = vec![KeyCode::Char('/')];
    k.extend(typed("daf_butler"));
    k.push(KeyCode::Enter);
    press(&mut app, &mut ledger, &ws, &k);
    let some = app.queue().len();
    assert!(some > 0 && some < all, "{some} of {all}");
    assert!(app
        .queue()
        .iter()
        .all(|r| r.repos.contains(&"daf_butler".to_string())));
    press(&mut app, &mut ledger, &ws, &[KeyCode::Esc]);
    assert_eq!(app.queue().len(), all);
    // Sort by key.
    press(
        &mut app,
        &mut ledger,
        &ws,
        &[KeyCode::Char('s'), KeyCode::Char('s')],
    );
    let keys: Vec<String> = app.queue().iter().map(|r| r.key.clone()).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    // Enter opens the detail with the full history; Esc returns.
    press(&mut app, &mut ledger, &ws, &[KeyCode::Enter]);
    assert!(matches!(&app.mode, Mode::Detail(k) if *k == keys[0]));
    let h = app.detail.as_ref().expect("history loaded");
    assert!(!h.timeline.is_empty());
    press(&mut app, &mut ledger, &ws, &[KeyCode::Esc]);
    assert_eq!(app.mode, Mode::Normal);
    // ? shows the help; any key closes it.
    press(&mut app, &mut ledger, &ws, &[KeyCode::Char('?')]);
    assert_eq!(app.mode, Mode::Help);
    press(&mut app, &mut ledger, &ws, &[KeyCode::Char('x')]);
    assert_eq!(app.mode, Mode::Normal);
    // The mouse wheel moves the selection.
    let before = app.cursor();
    app.mouse(crossterm::event::MouseEvent {
        kind: crossterm::event::MouseEventKind::ScrollDown,
        column: 0,
        row: 5,
        modifiers: KeyModifiers::NONE,
    });
    assert_eq!(app.cursor(), before + 3);
    // Ctrl-C leaves at once, the meeting still open.
    let e = app
        .key(
            KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL),
            &mut ledger,
            &ws.policy,
        )
        .unwrap();
    assert_eq!(e, Effect::Quit);
    assert!(meeting::meetings(&ledger, "v23")
        .unwrap()
        .iter()
        .any(|m| m.date == date() && m.closed_at.is_none()));
}

#[test]
fn another_process_writing_is_picked_up_on_reload() {
    let (env, ws) = demo();
    let (mut ledger, mut app) = open(&ws);
    let key = app.queue()[0].key.clone();
    let before = data_version(&ledger);
    // On PostgreSQL the screen listens for commits instead (None on SQLite).
    let changes = ledger.listen().unwrap();
    // Another process records a decision while the meeting is open.
    env.run(&[
        "decide",
        "approve",
        &key,
        "--note",
        "from the CLI",
        "--as",
        "Priya Raman",
    ])
    .ok();
    assert_ne!(data_version(&ledger), before, "the screen's poll notices");
    if let Some(c) = changes {
        assert!(c.wait(Duration::from_secs(1)), "announced within a second");
    }
    app.reload(&ledger, &ws.policy).unwrap();
    assert!(!app.queue().iter().any(|r| r.key == key));
    let _ = &mut ledger;
}

fn data_version(ledger: &Ledger) -> i64 {
    ledger.data_version()
}

/// The screen as text.
fn draw(app: &mut App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| portcullis::triage::ui::draw(f, app)).unwrap();
    let buf = t.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        let mut line = String::new();
        for x in 0..w {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[test]
fn every_view_at_80x24_and_160x48() {
    let (_env, ws) = demo();
    let (mut ledger, mut app) = open(&ws);
    app.git = data::git_facts(
        &ws,
        "v23",
        &app.snap
            .queue
            .iter()
            .map(|r| r.key.clone())
            .collect::<Vec<_>>(),
    );
    app.git_ready = true;
    app.reload(&ledger, &ws.policy).unwrap();
    for (i, v) in View::ALL.iter().enumerate() {
        press(
            &mut app,
            &mut ledger,
            &ws,
            &[KeyCode::Char((b'1' + i as u8) as char)],
        );
        for (w, h) in [(80, 24), (160, 48)] {
            let name = format!(
                "triage_{}_{w}x{h}",
                v.title().to_lowercase().replace([' ', ','], "_")
            );
            assert_snapshot!(name, draw(&mut app, w, h));
        }
    }
    press(
        &mut app,
        &mut ledger,
        &ws,
        &[KeyCode::Char('1'), KeyCode::Enter],
    );
    for (w, h) in [(80, 24), (160, 48)] {
        assert_snapshot!(format!("triage_detail_{w}x{h}"), draw(&mut app, w, h));
    }
    press(
        &mut app,
        &mut ledger,
        &ws,
        &[KeyCode::Esc, KeyCode::Char('?')],
    );
    assert_snapshot!("triage_help_80x24", draw(&mut app, 80, 24));
    press(
        &mut app,
        &mut ledger,
        &ws,
        &[KeyCode::Esc, KeyCode::Char('r')],
    );
    assert_snapshot!("triage_reject_prompt_80x24", draw(&mut app, 80, 24));
}

fn binary() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_BIN_EXE_portcullis"))
}

fn spawn(env: &TestEnv, args: &[&str]) -> PtySession {
    let home = env.path().display().to_string();
    // With the harness's PostgreSQL switch, on the ledger the other runs use.
    env.follow_switch();
    let mut vars = vec![
        ("PORTCULLIS_NOW", NOW),
        ("HOME", home.as_str()),
        ("NO_COLOR", "1"),
    ];
    if let Some(url) = env.postgres_url() {
        vars.push(("PORTCULLIS_DB", url));
    }
    PtySession::spawn(&binary(), args, env.path(), &vars, 100, 30).unwrap()
}

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn the_real_binary_in_a_terminal_decides_survives_a_crash_and_restores_the_terminal() {
    let (env, _ws) = demo();
    let args = [
        "--config",
        "portcullis.toml",
        "triage",
        "--attendee",
        "Mara Lindqvist",
        "--attendee",
        "Priya Raman",
        "--attendee",
        "Hugo Brandt",
    ];
    let mut s = spawn(&env, &args);
    let screen = s.wait_for("Requests awaiting a decision", WAIT).unwrap();
    assert!(screen.contains("3 present"), "{screen}");
    // The first row of the queue.
    let first = screen
        .lines()
        .find(|l| l.starts_with("DM-"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    s.send(b"a").unwrap();
    s.wait_for(&format!("Approve {first}"), WAIT).unwrap();
    s.send(b"fine by me\r").unwrap();
    s.wait_for(&format!("approve {first}: requested"), WAIT)
        .unwrap();
    // The decision is in the ledger while the screen is still open.
    let run = env.run(&["history", &first]);
    assert!(run.stdout.contains("decision: approve"), "{}", run.stdout);
    // A resize redraws at the new size.
    s.resize(80, 24).unwrap();
    s.wait_for("1 decided", WAIT).unwrap();

    // Crash: the process is killed mid-meeting. Nothing is lost and the meeting resumes.
    drop(s);
    let run = env.run(&["history", &first]);
    assert!(run.stdout.contains("fine by me"), "{}", run.stdout);
    let mut s = spawn(&env, &["--config", "portcullis.toml", "triage"]);
    s.wait_for(
        "Resumed the meeting of 2026-11-24 (1 decision(s) so far)",
        WAIT,
    )
    .unwrap();
    // End it: q, y, then q on the end screen; the terminal is restored.
    s.send(b"q").unwrap();
    s.wait_for("End the meeting?", WAIT).unwrap();
    s.send(b"y").unwrap();
    s.wait_for("m writes the minutes", WAIT).unwrap();
    s.send(b"m").unwrap();
    s.wait_for("Minutes written to", WAIT).unwrap();
    s.send(b"q").unwrap();
    assert_eq!(s.wait_exit(WAIT).unwrap(), 0);
    let raw = String::from_utf8_lossy(&s.raw_output()).to_string();
    assert!(raw.contains("\x1b[?1049l"), "left the alternate screen");
    assert!(raw.contains("\x1b[?25h"), "showed the cursor again");
    assert!(
        s.screen()
            .contains("Meeting of 2026-11-24 ended: 1 decision(s)"),
        "{}",
        s.screen()
    );
    let minutes = std::fs::read_to_string(env.path().join("minutes/v23-2026-11-24.md")).unwrap();
    assert!(
        minutes.contains("Priya Raman") && minutes.contains(&first),
        "{minutes}"
    );
    let run = env.run(&["minutes", "--meeting", MEETING]);
    run.ok();
    assert!(run.stdout.contains("fine by me"), "{}", run.stdout);
}

#[test]
fn triage_without_a_terminal_and_bad_attendees_say_what_to_do() {
    let (env, _ws) = demo();
    let run = env.run(&["triage"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("needs a terminal"), "{}", run.stderr);
    let mut s = spawn(&env, &["triage", "--attendee", "Nobody Here"]);
    let code = s.wait_exit(WAIT).unwrap();
    assert_eq!(code, 2);
    let raw = String::from_utf8_lossy(&s.raw_output()).to_string();
    assert!(raw.contains("is not on the committee"), "{raw}");
    // The demo records its weekly meetings; a workspace without any says so.
    let run = env.run(&["minutes"]);
    assert!(
        run.ok().stdout.contains("(2026-11-17), closed"),
        "{}",
        run.stdout
    );
    let fresh = TestEnv::with_workspace("v23");
    let run = fresh.run(&["minutes"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no meeting yet"), "{}", run.stderr);
}

#[test]
fn the_demo_in_a_terminal_opens_the_triage_screen() {
    let env = TestEnv::new();
    let mut s = spawn(&env, &["demo", "--dir", "d"]);
    // First the attendees (all ticked), then the queue; Ctrl-C leaves with the meeting open.
    s.wait_for("who attends?", WAIT).unwrap();
    // Untick the second member (not the first: Mara Lindqvist, the workspace's user, chairs
    // and must attend).
    s.send(b"j ").unwrap();
    s.wait_for("[ ] Tomas Okafor", WAIT).unwrap();
    s.send(b"\r").unwrap();
    s.wait_for("Requests awaiting a decision", WAIT).unwrap();
    assert!(s.screen().contains("4 present"), "{}", s.screen());
    s.send(b"\x03").unwrap();
    assert_eq!(s.wait_exit(WAIT).unwrap(), 0);
    let raw = String::from_utf8_lossy(&s.raw_output()).to_string();
    assert!(raw.contains("resumes it"), "{raw}");
    // Without a terminal, the demo only prints.
    let run = env.run(&["demo", "--dir", "d2"]);
    run.ok();
    assert!(run.stdout.contains("triage"), "{}", run.stdout);
}

#[test]
fn ending_the_meeting_pushes_its_decisions_to_jira_and_shows_the_result() {
    use portcullis_testkit::jira_server::{seed_issues_from_json, Config, JiraServer, User};
    let (env, _ws) = demo();
    let export: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(env.path().join("jira-export.json")).unwrap(),
    )
    .unwrap();
    let server = JiraServer::start(
        Config {
            users: vec![User {
                name: "portcullis-bot".into(),
                account_id: "557058:portcullis-bot".into(),
                display_name: "portcullis bot".into(),
                email: "bot@example.org".into(),
                token: "s3cret-token".into(),
            }],
            ..Config::data_center()
        },
        seed_issues_from_json(export).unwrap(),
        0,
    )
    .unwrap();
    let config = std::fs::read_to_string(env.path().join("portcullis.toml")).unwrap();
    std::fs::write(
        env.path().join("portcullis.toml"),
        format!(
            "{config}\n[jira]\nurl = \"{}\"\nflavor = \"datacenter\"\n",
            server.url()
        ),
    )
    .unwrap();
    let home = env.path().display().to_string();
    let mut s = PtySession::spawn(
        &binary(),
        // Three attend (the demo policy's quorum): the approval is final and is pushed.
        &[
            "triage",
            "--attendee",
            "Mara Lindqvist",
            "--attendee",
            "tokafor",
            "--attendee",
            "praman",
        ],
        env.path(),
        &[
            ("PORTCULLIS_NOW", NOW),
            ("HOME", &home),
            ("NO_COLOR", "1"),
            ("PORTCULLIS_JIRA_TOKEN", "s3cret-token"),
        ],
        120,
        30,
    )
    .unwrap();
    let screen = s.wait_for("Requests awaiting a decision", WAIT).unwrap();
    let first = screen
        .lines()
        .find(|l| l.starts_with("DM-"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    s.send(b"a").unwrap();
    s.wait_for("reason (optional)", WAIT).unwrap();
    s.send(b"\r").unwrap();
    s.wait_for(&format!("approve {first}"), WAIT).unwrap();
    s.send(b"q").unwrap();
    s.wait_for("End the meeting?", WAIT).unwrap();
    s.send(b"y").unwrap();
    s.wait_for("p pushes them now", WAIT).unwrap();
    s.send(b"p").unwrap();
    let screen = s.wait_for("Pushed", WAIT).unwrap();
    assert!(!screen.contains("s3cret-token"), "{screen}");
    s.send(b"q").unwrap();
    assert_eq!(s.wait_exit(WAIT).unwrap(), 0);
    let issue = server.issue(&first).unwrap();
    assert!(
        issue.labels.iter().any(|l| l == "backport-approved"),
        "{:?}",
        issue.labels
    );
    assert!(
        issue.comments.iter().any(|c| c.contains("APPROVED")),
        "{:?}",
        issue.comments
    );
    let log = std::fs::read_to_string(env.path().join("portcullis-triage.log")).unwrap_or_default();
    assert!(!log.contains("s3cret-token"));
    assert!(!String::from_utf8_lossy(&s.raw_output()).contains("s3cret-token"));
}

#[test]
fn in_the_terminal_a_decision_updates_the_rows_at_once_and_reloads_when_idle() {
    let (_env, ws) = demo();
    let (mut ledger, mut app) = open(&ws);
    app.defer_reload = true;
    let first = app.queue()[0].key.clone();
    let before = app.snap.queue.len();
    let mut k = vec![KeyCode::Char('a')];
    k.extend(typed("ok"));
    k.push(KeyCode::Enter);
    press(&mut app, &mut ledger, &ws, &k);
    // In the ledger already; on screen without a reload; the reload is owed.
    assert_eq!(state(&ledger, &first), "approved");
    assert_eq!(app.snap.queue.len(), before - 1);
    assert_eq!(app.snap.decided_here, 1);
    assert!(app.stale);
    app.reload(&ledger, &ws.policy).unwrap();
    assert!(!app.stale);
    assert_eq!(app.snap.queue.len(), before - 1);
    assert_eq!(app.snap.decided_here, 1);
    // needs-info takes the ticket out of this meeting's queue (it waits for its answer, and is
    // back at the next meeting: `portcullis_ops::meeting::in_queue`, as the CLI's queue).
    let second = app.queue()[0].key.clone();
    press(
        &mut app,
        &mut ledger,
        &ws,
        &[KeyCode::Char('i'), KeyCode::Enter],
    );
    assert_eq!(state(&ledger, &second), "needs-info");
    assert!(app.snap.queue.iter().all(|r| r.key != second));
    assert_eq!(app.snap.queue.len(), before - 2);
}

#[test]
fn escape_sequences_in_ticket_text_never_reach_the_terminal() {
    let env = TestEnv::with_workspace("v23");
    let x = crate::harness::ExportBuilder::new().ticket(
        "DM-500",
        "Clear screen \u{1b}[2J\u{1b}]0;owned\u{7} and \u{202e}reversed",
        &[("2026-11-20T10:00:00.000-0700", "dev", "backport-v23")],
    );
    let f = env.write("hostile.json", &x.build());
    env.run(&["sync", "--from-file", f.to_str().unwrap()]).ok();
    let ws = Workspace::resolve(&Locations {
        config: Some(env.path().join("portcullis.toml")),
        db: env.postgres_url().map(Into::into),
        ..Default::default()
    })
    .unwrap();
    let (mut ledger, mut app) = open(&ws);
    for view in ['1', '2'] {
        press(&mut app, &mut ledger, &ws, &[KeyCode::Char(view)]);
        let screen = draw(&mut app, 160, 48);
        assert!(screen.contains("DM-500"), "{screen}");
        assert!(view == '2' || screen.contains("Clear screen"), "{screen}");
        assert!(
            !screen.contains('\u{1b}') && !screen.contains('\u{7}') && !screen.contains('\u{202e}')
        );
    }
    press(
        &mut app,
        &mut ledger,
        &ws,
        &[KeyCode::Char('1'), KeyCode::Enter],
    );
    let screen = draw(&mut app, 160, 48);
    assert!(screen.contains("DM-500"), "{screen}");
    assert!(!screen.contains('\u{1b}') && !screen.contains('\u{7}'));
    // The CLI's tables too.
    let run = env.run(&["status"]);
    assert!(!run.stdout.contains('\u{1b}'), "{}", run.stdout);
}

/// Issue 20: `p` on the triage screen accepts a ticket's partial landing as what was wanted
/// (as `decide accept-partial` does), asking for the reason; the ticket leaves "Approved, not
/// landed" and counts as landed in the readiness.
#[test]
fn p_accepts_a_partial_landing_with_its_reason() {
    let env = crate::verify::workspace(&["pkg"], "");
    let mut r = crate::verify::repo(&env, "pkg");
    crate::verify_verdicts::deliberate_partial(&mut r, "DM-500");
    crate::verify::tickets(&env, &[("DM-500", "approved")]);
    crate::verify::verify(&env, &[]);
    env.follow_switch();
    let ws = Workspace::resolve(&Locations {
        config: Some(env.path().join("portcullis.toml")),
        db: env.postgres_url().map(Into::into),
        ..Default::default()
    })
    .unwrap();
    let (mut ledger, mut app) = open(&ws);
    press(&mut app, &mut ledger, &ws, &[KeyCode::Char('3')]);
    assert_eq!(app.view, View::NotLanded);
    assert_eq!(app.current_key().as_deref(), Some("DM-500"));
    let next = |app: &App| app.snap.readiness[0].landed;
    assert_eq!(next(&app), 0);
    // A reason is required.
    press(
        &mut app,
        &mut ledger,
        &ws,
        &[KeyCode::Char('p'), KeyCode::Enter],
    );
    let Mode::Prompt(p) = &app.mode else {
        panic!("still asking: {:?}", app.mode)
    };
    assert!(
        p.error.as_deref().unwrap_or("").contains("needs a reason"),
        "{p:?}"
    );
    assert!(p.label().contains("Accept the partial landing of DM-500"));
    let mut k = typed("the reader API stays on main");
    k.push(KeyCode::Enter);
    press(&mut app, &mut ledger, &ws, &k);
    assert_eq!(app.mode, Mode::Normal);
    assert!(
        app.status
            .contains("Partial landing of DM-500 accepted in pkg"),
        "{}",
        app.status
    );
    let accepted: Vec<_> = ledger
        .events_for_ticket("DM-500")
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == kind::PARTIAL_ACCEPTED)
        .collect();
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0].payload["repo"], "pkg");
    assert_eq!(accepted[0].actor.as_deref(), Some("Mara Lindqvist"));
    assert_eq!(
        accepted[0].note.as_deref(),
        Some("the reader API stays on main")
    );
    assert!(app.not_landed().is_empty(), "{:?}", app.not_landed());
    assert_eq!(next(&app), 1, "readiness counts it as landed");
    // Accepted once is enough, before the next verify as after it.
    let run = env.run(&["decide", "accept-partial", "DM-500", "--note", "again"]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(run.stderr.contains("already accepted"), "{}", run.stderr);
}
