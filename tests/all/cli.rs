//! Whole CLI runs as snapshots (stdout, stderr, exit status), on a fixed clock.

use insta::assert_snapshot;

use crate::harness::{ExportBuilder, TestEnv};

fn small_ledger() -> TestEnv {
    let env = TestEnv::with_workspace("v23");
    let export = ExportBuilder::new()
        .ticket(
            "DM-33769",
            "Improve timeout, retry and connexion persistence of webDAV client",
            &[
                ("2022-01-04T09:00:00.000-0700", "kfarrow", "backport-v23"),
                (
                    "2022-01-11T10:00:00.000-0700",
                    "mlindqvist",
                    "backport-v23 backport-approved",
                ),
                (
                    "2022-01-13T10:00:00.000-0700",
                    "kfarrow",
                    "backport-v23 backport-approved backport-done",
                ),
            ],
        )
        .ticket(
            "DM-33360",
            "Pin moto<3 so that the S3 tests pass",
            &[("2022-01-05T09:00:00.000-0700", "dchen", "backport-v23")],
        )
        .ticket(
            "DM-32624",
            "Summary with an \u{1b}[31mescape\u{1b}[0m | pipe",
            &[
                ("2022-01-05T09:00:00.000-0700", "npetrov", "backport-v23"),
                ("2022-01-11T09:30:00.000-0700", "tokafor", ""),
            ],
        )
        .build();
    env.write("export.json", &export);
    env.run(&["sync", "--from-file", "export.json"]).ok();
    env
}

#[test]
fn init_creates_a_workspace_once() {
    let env = TestEnv::new();
    let run = env.run(&["init", "ws", "--from-policy", "v23"]);
    assert_snapshot!("init", run.snapshot(env.path()));
    let again = env.run(&["init", "ws"]);
    assert_snapshot!("init_again", again.snapshot(env.path()));
    let bad = env.run(&["init", "ws2", "--from-policy", "v99"]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr
            .contains("neither a built-in policy nor a readable file"),
        "{}",
        bad.stderr
    );
    assert!(!env.path().join("ws2/portcullis.toml").exists());
}

/// The read error was once formatted into the message; it is kept as the cause, and the hint
/// still follows.
#[test]
fn init_from_an_unreadable_policy_keeps_the_read_error_as_its_cause() {
    let env = TestEnv::new();
    let bad = env.run(&["init", "ws2", "--from-policy", "v99"]);
    assert_eq!(bad.code, 2);
    let lines: Vec<&str> = bad.stderr.lines().collect();
    assert!(
        lines.contains(&"error: `v99` is neither a built-in policy nor a readable file"),
        "{}",
        bad.stderr
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("  caused by: ") && l.contains("os error")),
        "{}",
        bad.stderr
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("hint: use --from-policy")),
        "{}",
        bad.stderr
    );
}

#[test]
fn sync_summary() {
    let env = TestEnv::with_workspace("v23");
    env.write(
        "export.json",
        &ExportBuilder::new()
            .ticket(
                "DM-1",
                "one",
                &[("2022-01-04T09:00:00.000-0700", "dev", "backport-v23")],
            )
            .build(),
    );
    let run = env.run(&["sync", "--from-file", "export.json"]);
    assert_snapshot!("sync_summary", run.snapshot(env.path()));
}

#[test]
fn status_in_every_format() {
    let env = small_ledger();
    for (name, args) in [
        ("status_table", &["status"][..]),
        ("status_json", &["status", "--format", "json"][..]),
        ("status_csv", &["status", "--format", "csv"][..]),
        ("status_md", &["status", "--format", "md"][..]),
        ("status_filtered", &["status", "--state", "withdrawn"][..]),
        ("status_bad_state", &["status", "--state", "pending"][..]),
        ("status_bad_line", &["status", "--line", "v99"][..]),
    ] {
        let run = env.run(args);
        assert_snapshot!(name, run.snapshot(env.path()));
    }
}

/// JSON is streamed to standard output; a reader that went away (`portcullis status --format
/// json | head -c 10`) ends the command quietly with its own exit code, like text output does.
#[test]
fn json_into_a_closed_pipe_is_not_an_error() {
    let env = small_ledger();
    for args in [&["status", "--format", "json"][..], &["status"][..]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = env
            .command()
            .args(args)
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.trim().is_empty(), "{args:?}: {stderr}");
    }
}

#[test]
fn history_timeline() {
    let env = small_ledger();
    // --meeting names an open sitting: the meeting of 2022-01-11, held to record it.
    env.run(&[
        "meeting",
        "open",
        "--date",
        "2022-01-11",
        "--attendee",
        "tokafor",
        "--attendee",
        "mlindqvist",
        "--attendee",
        "praman",
        "--as",
        "tokafor",
    ])
    .ok();
    env.run(&[
        "decide",
        "reject",
        "DM-32624",
        "--note",
        "Only affects LATISS",
        "--as",
        "tokafor",
        "--meeting",
        "2022-01-11",
    ])
    .ok();
    let run = env.run(&["history", "DM-32624"]);
    assert_snapshot!(
        "history_rejected_after_unrecorded_removal",
        run.snapshot(env.path())
    );
    let run = env.run(&["history", "DM-33769", "--format", "md"]);
    assert_snapshot!("history_md", run.snapshot(env.path()));
    let run = env.run(&["history", "DM-99999"]);
    assert_snapshot!("history_unknown", run.snapshot(env.path()));
}

#[test]
fn decisions_through_the_workflow() {
    let env = small_ledger();
    let mut out = String::new();
    for args in [
        &[
            "decide",
            "needs-info",
            "DM-33360",
            "--note",
            "Which steps?",
            "--as",
            "praman",
        ][..],
        &[
            "decide",
            "defer",
            "DM-33360",
            "--note",
            "Only if coadd needs it",
            "--until",
            "2026-12-08",
            "--as",
            "Priya Raman",
        ][..],
        &[
            "decide",
            "approve",
            "DM-33360",
            "--note",
            "Needed for coadd",
            "--as",
            "hbrandt",
        ][..],
        &["decide", "done", "DM-33360", "--as", "dchen"][..],
        &[
            "decide",
            "revoke",
            "DM-33360",
            "--note",
            "Broke the S3 tests",
            "--as",
            "esato",
        ][..],
        &[
            "decide",
            "reject",
            "DM-33360",
            "--note",
            "Wait for v24",
            "--as",
            "esato",
        ][..],
        &[
            "decide",
            "request",
            "DM-33360",
            "--note",
            "Fixed the tests; please reconsider",
            "--as",
            "dchen",
        ][..],
        // Refused: not on the committee, and approval of a done ticket's sibling without request.
        &[
            "decide", "approve", "DM-33360", "--note", "lgtm", "--as", "rgarcia",
        ][..],
        &["decide", "defer", "DM-33769", "--as", "praman"][..],
        &["decide", "reject", "DM-33360", "--as", "praman"][..],
        &["decide", "approve", "DM-1", "--as", "praman"][..],
        &["decide", "approve", "dm-33360", "--as", "praman"][..],
        &[
            "decide",
            "approve",
            "DM-33360",
            "--until",
            "2026-12-01",
            "--as",
            "praman",
        ][..],
        // Forced: recorded, kept as a violation.
        &[
            "decide", "approve", "DM-33360", "--note", "lgtm", "--as", "rgarcia", "--force",
        ][..],
    ] {
        let run = env.run(args);
        out.push_str(&format!(
            "$ portcullis {}\n{}",
            args.join(" "),
            run.snapshot(env.path())
        ));
    }
    assert_snapshot!("decisions", out);
    let run = env.run(&["history", "DM-33360"]);
    assert_snapshot!("decisions_history", run.snapshot(env.path()));
    env.run(&["audit"]).ok();
}

#[test]
fn decide_defaults_actor_and_meeting_from_config_and_clock() {
    let env = small_ledger();
    // init --user "Mara Lindqvist"; the clock is Tuesday 2026-11-24 (a meeting day). The
    // meeting is the open sitting (a decision with none open is out of meeting: see
    // `meetings::observation_1_…`).
    env.run(&[
        "meeting",
        "open",
        "--attendee",
        "Mara Lindqvist",
        "--attendee",
        "tokafor",
        "--attendee",
        "praman",
    ])
    .ok();
    let run = env.run(&[
        "decide", "approve", "DM-33360", "--note", "ok", "--format", "json",
    ]);
    run.ok();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["meeting"], "2026-11-24");
    let h = env.run(&["history", "DM-33360", "--format", "json"]);
    assert!(
        h.stdout.contains("\"actor\": \"Mara Lindqvist\""),
        "{}",
        h.stdout
    );
    // On a Thursday, with the Tuesday's sitting still open, the decision is that sitting's.
    let run = env.run_env(
        &[
            "decide", "reject", "DM-33769", "--note", "x", "--format", "json", "--as", "praman",
            "--force",
        ],
        &[("PORTCULLIS_NOW", "2026-11-26T09:00:00Z")],
    );
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["meeting"], "2026-11-24");
}

#[test]
fn audit_clean() {
    let env = small_ledger();
    let run = env.run(&["audit"]);
    assert_snapshot!("audit_clean", run.snapshot(env.path()));
}

/// Regression (status rows of 81 characters, verify's 89–96): on an 80-column terminal every
/// report of the demo fits, prose wrapped and tables cut with an ellipsis.
#[test]
fn the_demos_reports_fit_80_columns() {
    let env = TestEnv::new();
    env.run(&["demo", "--dir", "."]).ok();
    let narrow = [("COLUMNS", "80")];
    for args in [
        &["status"][..],
        &["status", "--state", "approved"],
        &["verify"],
        &["verify", "--commits"],
        &["history", "DM-32106"],
        &["history", "DM-33685"],
        &["backports"],
        &["backports", "--dry-run"],
        &["releases"],
        &["release", "show", "23.0.1"],
        &["cut", "23.0.2"],
        &["meeting", "queue"],
        &["backport", "DM-33891", "--dry-run"],
    ] {
        let run = env.run_env(args, &narrow);
        assert!(run.code <= 1, "{args:?}: {}", run.stderr);
        assert!(run.stdout.lines().count() >= 2, "{args:?}: {}", run.stdout);
        for l in run.stdout.lines() {
            assert!(
                l.chars().count() <= 80,
                "{args:?}: {} columns:\n{l}",
                l.chars().count()
            );
        }
    }
}

#[test]
fn demo_builds_and_shows_every_state() {
    let env = TestEnv::new();
    let run = env.run(&["demo", "--dir", "demo"]);
    assert_snapshot!("demo", run.snapshot(env.path()));
    // Rebuilding the demo over itself works; over a foreign directory it refuses.
    env.run(&["demo", "--dir", "demo"]).ok();
    env.write("foreign.txt", "mine");
    let run = env.run(&["demo", "--dir", "."]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("is not a portcullis demo"),
        "{}",
        run.stderr
    );
    let run = env.run(&["--config", "demo/portcullis.toml", "audit"]);
    run.ok();

    // The demo cut 23.0.1 mid-campaign: recorded, tagged in every repository, files written,
    // and its tickets marked done. 23.0.2 is blocked, and the gate says why.
    let cfg = ["--config", "demo/portcullis.toml"];
    let run = env.run(&[&cfg[..], &["releases", "--format", "json"]].concat());
    run.ok();
    let releases: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let first = &releases[0]["manifest"];
    assert_eq!(first["tag"], "23.0.1", "{releases}");
    assert_eq!(first["repos"].as_array().unwrap().len(), 6);
    let tickets = first["tickets"].as_array().unwrap();
    assert!(tickets.len() > 10, "{first}");
    for name in ["daf_butler", "ctrl_bps"] {
        let repo = git2::Repository::open(env.path().join("demo/repos").join(name)).unwrap();
        let tag = repo.find_reference("refs/tags/23.0.1").unwrap();
        assert_eq!(
            tag.peel_to_commit().unwrap().id().to_string(),
            first["repos"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["repo"] == name)
                .unwrap()["commit"]
                .as_str()
                .unwrap()
        );
    }
    assert!(env.path().join("demo/releases/23.0.1/notes.md").exists());
    // Every ticket of 23.0.1 the ledger knows is done now (the policy's mark_done_on_release).
    let run = env.run(&[&cfg[..], &["status", "--format", "json"]].concat());
    let status: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let in_release: Vec<&serde_json::Value> = status["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| tickets.iter().any(|r| r["key"] == t["key"]))
        .collect();
    assert!(in_release.len() > 10);
    assert!(
        in_release.iter().all(|t| t["state"] == "done"),
        "{in_release:?}"
    );
    let run = env.run(&[&cfg[..], &["cut", "23.0.2", "--format", "json"]].concat());
    assert_eq!(run.code, 1, "{}", run.stdout);
    let gate: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let kinds: std::collections::BTreeSet<&str> = gate["blockers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["kind"].as_str().unwrap())
        .collect();
    for want in ["not_landed", "unapproved", "violation"] {
        assert!(kinds.contains(want), "{want} missing in {kinds:?}");
    }
    // Nothing of 23.0.1 is asked for again.
    let blocked: Vec<&str> = gate["blockers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["ticket"].as_str())
        .collect();
    assert!(
        tickets
            .iter()
            .all(|t| !blocked.contains(&t["key"].as_str().unwrap())),
        "{blocked:?}"
    );
}

#[test]
fn completions_and_usage_errors() {
    let env = TestEnv::new();
    let run = env.run(&["completions", "bash"]);
    run.ok();
    assert!(
        run.stdout.contains("_portcullis()"),
        "not a bash completion script"
    );
    let run = env.run(&["decide", "approve"]);
    assert_eq!(run.code, 2);
    let run = env.run(&["frobnicate"]);
    assert_eq!(run.code, 2);
    let run = env.run(&["--version"]);
    run.ok();
    assert!(run.stdout.starts_with("portcullis "));
}

#[test]
fn terminal_escapes_from_tickets_never_reach_the_output() {
    let env = small_ledger();
    for args in [
        &["status"][..],
        &["status", "--format", "md"][..],
        &["history", "DM-32624"][..],
    ] {
        let run = env.run(args);
        assert!(
            !run.stdout.contains('\u{1b}'),
            "{args:?} printed a raw ESC:\n{}",
            run.stdout
        );
    }
    // JSON keeps the exact text, escaped by JSON itself.
    let run = env.run(&["status", "--format", "json"]);
    assert!(run.stdout.contains("\\u001b[31mescape"), "{}", run.stdout);
}
