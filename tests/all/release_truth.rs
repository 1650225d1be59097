//! Issue 16, the release part: approval targets (observation 4), what a release really contains
//! (observation 5) and `verify`'s exit for drift that is settled (observation 9).

use portcullis_git::campaign::{FILES, RELEASE};
use serde_json::Value;

use crate::harness::TestEnv;
use crate::release::campaign;
use crate::verify::{repo, tickets, workspace};

const IO: &str = FILES[1];
const CORE: &str = FILES[0];

fn cut(env: &TestEnv, args: &[&str]) -> (i32, Value, String) {
    let mut a = vec!["cut"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["--format", "json"]);
    let run = env.run(&a);
    let v: Value = serde_json::from_str(&run.stdout).unwrap_or(Value::Null);
    (run.code, v, run.stderr)
}

fn blocker_kinds(v: &Value) -> Vec<String> {
    v["blockers"]
        .as_array()
        .map(|b| {
            b.iter()
                .map(|b| b["kind"].as_str().unwrap_or("?").to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn approve(env: &TestEnv, key: &str, extra: &[&str]) -> crate::harness::Run {
    let mut a = vec!["decide", "approve", key, "--as", "Mara Lindqvist"];
    a.extend_from_slice(extra);
    env.run(&a)
}

/// "N of M" in the line of `text` that contains `head`.
fn of_counts(text: &str, head: &str) -> (usize, usize) {
    let line = text
        .lines()
        .find(|l| l.contains(head))
        .unwrap_or_else(|| panic!("no `{head}` in:\n{text}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    words
        .windows(3)
        .find_map(|w| match (w[0].parse(), w[1], w[2].parse()) {
            (Ok(a), "of", Ok(b)) => Some((a, b)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no `N of M` in `{line}`"))
}

#[test]
fn observation_4_for_release_must_be_a_future_patch_release_of_the_line_and_is_shown() {
    let (env, mut a, _b) = campaign();
    assert_eq!(cut(&env, &["23.0.1", "--apply"]).0, 0);
    a.fix_on_main("DM-201", &[(IO, 5, "fixed", "Fix reader")])
        .unwrap();
    a.finish().unwrap();
    tickets(&env, &[("DM-201", "requested")]);
    // A version of another series, and one already cut: refused, with what is valid.
    for bad in ["99.0.0", "23.0.1", "23.1.0"] {
        let r = approve(&env, "DM-201", &["--for-release", bad]);
        assert_eq!(r.code, 2, "--for-release {bad} accepted: {}", r.stdout);
        assert!(
            r.stderr.contains(bad) && r.stderr.contains("23.0.2"),
            "{bad}: {}",
            r.stderr
        );
    }
    let r = approve(&env, "DM-201", &["--for-step", "nope"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("unknown step `nope`") && r.stderr.contains("coadd"),
        "{}",
        r.stderr
    );
    // A future patch release: accepted and echoed.
    let r = approve(&env, "DM-201", &["--for-release", "23.0.3"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("for release 23.0.3"), "{}", r.stdout);
    // Shown in status and history.
    let st = env.run(&["status"]);
    st.ok();
    let row = st
        .stdout
        .lines()
        .find(|l| l.contains("DM-201"))
        .unwrap_or_default()
        .to_string();
    assert!(row.contains("23.0.3"), "{}", st.stdout);
    let h = env.run(&["history", "DM-201"]);
    h.ok();
    assert!(h.stdout.contains("for release 23.0.3"), "{}", h.stdout);
    let j = env.run(&["status", "--format", "json"]);
    j.ok();
    assert!(j.stdout.contains("23.0.3"), "{}", j.stdout);
}

#[test]
fn observation_4_readiness_counts_targeted_tickets_as_the_next_cut_does() {
    let (env, mut a, _b) = campaign();
    assert_eq!(cut(&env, &["23.0.1", "--apply"]).0, 0);
    // After the cut: one approval with no target (landed), one for the next release and one
    // for the release after it (neither landed), one for a step.
    let fix = a
        .fix_on_main("DM-210", &[(IO, 5, "fixed", "Fix reader")])
        .unwrap();
    a.backport("DM-210-v23", &fix).unwrap();
    a.fix_on_main("DM-211", &[(IO, 9, "fixed", "Fix writer")])
        .unwrap();
    a.fix_on_main("DM-212", &[(CORE, 30, "fixed", "Fix flux")])
        .unwrap();
    a.fix_on_main("DM-213", &[(CORE, 40, "fixed", "Fix coadd")])
        .unwrap();
    a.finish().unwrap();
    tickets(
        &env,
        &[
            ("DM-210", "approved"),
            ("DM-211", "requested"),
            ("DM-212", "requested"),
            ("DM-213", "requested"),
        ],
    );
    approve(&env, "DM-211", &["--for-release", "23.0.2"]).ok();
    approve(&env, "DM-212", &["--for-release", "23.0.3"]).ok();
    approve(&env, "DM-213", &["--for-step", "coadd"]).ok();
    env.run(&["verify"]);
    let digest = env.run(&["notify", "--dry-run", "--force", "--since", "2020-01-01"]);
    digest.ok();
    let (landed, approved) = of_counts(&digest.stdout, "Next patch release");
    let (code, v, err) = cut(&env, &["23.0.2"]);
    assert_eq!(code, 1, "{err}");
    let not_landed: Vec<&Value> = v["blockers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["kind"] == "not_landed")
        .collect();
    assert_eq!(
        approved - landed,
        not_landed.len(),
        "the digest and the cut disagree:\n{}\n{}",
        digest.stdout,
        v["blockers"]
    );
    assert_eq!((landed, approved), (1, 2), "{}", digest.stdout);
    // The later release and the step count their own tickets; none is dropped.
    assert_eq!(
        of_counts(&digest.stdout, "Release 23.0.3"),
        (0, 1),
        "{}",
        digest.stdout
    );
    assert_eq!(
        of_counts(&digest.stdout, "Step coadd"),
        (0, 1),
        "{}",
        digest.stdout
    );
}

/// A release whose branch holds: DM-200 (approved, from `campaign`), DM-300 (approved, landed,
/// reverted, approval revoked), DM-301 (approved release-only pin whose message mentions
/// DM-399, a ticket that is only mentioned).
fn release_with_a_revert_and_a_mention() -> (TestEnv, portcullis_git::campaign::CampaignRepo) {
    let (env, mut a, _b) = campaign();
    let fix = a
        .fix_on_main("DM-300", &[(IO, 7, "fixed", "Fix the cache")])
        .unwrap();
    let picked = a.backport("DM-300-v23", &fix).unwrap();
    a.b.revert(RELEASE, picked[0]).unwrap();
    a.on_release_branch("DM-301-v23", |r, br| {
        r.b.write(
            br,
            "Pin numpy\n\nThe same pin DM-399 needs.",
            &[("constraints.txt", "numpy<2\n")],
        )?;
        Ok(())
    })
    .unwrap();
    a.finish().unwrap();
    tickets(
        &env,
        &[
            ("DM-200", "approved"),
            ("DM-300", "approved"),
            ("DM-301", "approved"),
            ("DM-399", "requested"),
        ],
    );
    env.run(&[
        "decide",
        "revoke",
        "DM-300",
        "--as",
        "Mara Lindqvist",
        "--note",
        "Breaks the butler cache",
    ])
    .ok();
    (env, a)
}

#[test]
fn observation_5_notes_list_only_what_is_fixed_and_say_what_was_reverted_or_only_mentioned() {
    let (env, _a) = release_with_a_revert_and_a_mention();
    let (code, v, err) = cut(&env, &["23.0.1", "--apply"]);
    assert_eq!(code, 0, "{err}\n{}", v["blockers"]);
    let dir = env.path().join("releases/23.0.1");
    let notes = std::fs::read_to_string(dir.join("notes.md")).unwrap();
    let changelog = std::fs::read_to_string(dir.join("CHANGELOG-section.md")).unwrap();
    for text in [&notes, &changelog] {
        let (fixed, rest) = text
            .split_once("Reverted or withdrawn")
            .unwrap_or_else(|| panic!("no reverted section:\n{text}"));
        assert!(fixed.contains("DM-200: Fix for DM-200"), "{text}");
        assert!(fixed.contains("DM-301: Fix for DM-301"), "{text}");
        assert!(
            !fixed.contains("DM-300"),
            "a reverted fix listed as fixed:\n{text}"
        );
        assert!(rest.contains("DM-300"), "{text}");
        assert!(
            !fixed.contains("DM-399"),
            "a key only mentioned listed as fixed:\n{text}"
        );
        assert!(text.contains("Also mentioned"), "{text}");
        assert!(text.contains("DM-399: Fix for DM-399"), "{text}");
        assert!(!text.contains(":  ["), "an entry with no summary:\n{text}");
    }
}

#[test]
fn observation_5_waive_refuses_a_key_that_is_on_no_release_branch() {
    let (env, _a, _b) = campaign();
    let (code, v, err) = cut(&env, &["23.0.1", "--waive", "DM-2000", "--note", "typo"]);
    assert_ne!(
        code, 0,
        "a waiver of a key not on the branch was accepted: {v}"
    );
    assert!(
        err.contains("DM-2000") || v.to_string().contains("DM-2000"),
        "{err}\n{v}"
    );
    let (code, _, err) = cut(
        &env,
        &["23.0.1", "--waive", "DM-2000", "--note", "typo", "--apply"],
    );
    assert_ne!(code, 0, "{err}");
    assert!(!env.path().join("releases/23.0.1").exists());
    // The key on the branch is accepted.
    let (code, v, err) = cut(&env, &["23.0.1", "--waive", "DM-200", "--note", "ok"]);
    assert_eq!(code, 0, "{err}\n{v}");
}

#[test]
fn observation_5_an_empty_cut_and_an_rc_identical_to_the_last_are_refused_unless_allowed() {
    let (env, mut a, _b) = campaign();
    assert_eq!(cut(&env, &["23.0.1", "--apply"]).0, 0);
    // Nothing new since 23.0.1.
    let (code, v, _) = cut(&env, &["23.0.2", "--apply"]);
    assert_eq!(code, 1, "{v}");
    assert!(blocker_kinds(&v).contains(&"empty".to_string()), "{v}");
    assert!(a.b.repo().find_reference("refs/tags/23.0.2").is_err());
    // A new fix; the first candidate is cut, a second identical one is refused.
    let fix = a
        .fix_on_main("DM-220", &[(IO, 5, "fixed", "Fix reader")])
        .unwrap();
    a.backport("DM-220-v23", &fix).unwrap();
    a.finish().unwrap();
    tickets(&env, &[("DM-220", "approved")]);
    let (code, v, err) = cut(&env, &["23.0.2", "--rc", "--apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let (code, v, _) = cut(&env, &["23.0.2", "--rc", "--apply"]);
    assert_eq!(code, 1, "{v}");
    assert!(blocker_kinds(&v).contains(&"empty".to_string()), "{v}");
    assert!(a.b.repo().find_reference("refs/tags/v23.0.2.rc2").is_err());
    let (code, v, err) = cut(&env, &["23.0.2", "--rc", "--apply", "--allow-empty"]);
    assert_eq!(code, 0, "{err}\n{v}");
    // Promoting the last candidate is not "identical to the previous rc".
    let (code, v, err) = cut(&env, &["23.0.2", "--apply", "--promote"]);
    assert_eq!(code, 0, "{err}\n{v}");
}

fn verify_json(env: &TestEnv) -> (i32, Value) {
    let run = env.run(&["verify", "--format", "json"]);
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    (run.code, serde_json::from_str(&run.stdout).unwrap())
}

fn drift_of<'a>(v: &'a Value, kind: &str, ticket: &str) -> &'a Value {
    v["drift"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == kind && d["ticket"] == ticket)
        .unwrap_or_else(|| panic!("no {kind} drift for {ticket}: {}", v["drift"]))
}

#[test]
fn observation_9_verify_exits_0_for_drift_waived_into_a_release() {
    let env = workspace(&["pkg"], "");
    let mut r = repo(&env, "pkg");
    r.b.tag(
        "23.0.0",
        RELEASE,
        "Version 23.0.0 release from manifest b5913",
    )
    .unwrap();
    r.on_release_branch("DM-500-v23", |r, br| {
        r.b.write(br, "Pin moto", &[("requirements.txt", "moto<3\n")])?;
        Ok(())
    })
    .unwrap();
    r.finish().unwrap();
    tickets(&env, &[("DM-500", "requested")]);
    let (code, _) = verify_json(&env);
    assert_eq!(code, 1, "unapproved and not waived: blocks");
    let (code, v, err) = cut(
        &env,
        &[
            "23.0.1",
            "--waive",
            "DM-500",
            "--note",
            "pin for the tests",
            "--apply",
        ],
    );
    assert_eq!(code, 0, "{err}\n{v}");
    let (code, v) = verify_json(&env);
    assert_eq!(code, 0, "waived into 23.0.1, still exits 1: {}", v["drift"]);
    let d = drift_of(&v, "landed_not_approved", "DM-500");
    assert_eq!(d["blocking"], false, "{d}");
    assert_eq!(d["settled"]["kind"], "release.cut", "{d}");
    assert_eq!(d["settled"]["release"], "23.0.1", "{d}");
    assert!(d["settled"]["seq"].as_i64().unwrap() > 0, "{d}");
    let text = env.run(&["verify"]);
    assert_eq!(text.code, 0);
    assert!(
        text.stdout.contains("settled") && text.stdout.contains("23.0.1"),
        "{}",
        text.stdout
    );
    // The triage screen's drift view agrees, though the drift was recorded before the waiver.
    let ws = env.workspace();
    let mut ledger = ws.open_ledger().unwrap();
    let (m, _) = portcullis_ops::meeting::open(
        &mut ledger,
        &ws.policy,
        "v23",
        "2026-11-24".parse().unwrap(),
        &["Mara Lindqvist".to_string(), "tokafor".to_string()],
        "Mara Lindqvist",
    )
    .unwrap();
    let snap = portcullis::triage::data::load(&ledger, &ws.policy, &m).unwrap();
    let row = snap
        .drift
        .iter()
        .find(|d| d.ticket.as_deref() == Some("DM-500"))
        .expect("the DM-500 drift row");
    assert!(!row.blocking, "{row:?}");
    assert!(row.message.contains("settled"), "{row:?}");
}

#[test]
fn observation_9_verify_exits_0_for_a_revert_whose_approval_was_revoked() {
    let env = workspace(&["pkg"], "");
    let mut r = repo(&env, "pkg");
    let fix = r
        .fix_on_main("DM-111", &[(CORE, 12, "fixed", "Fix the thing")])
        .unwrap();
    let picked = r.backport("DM-111-v23", &fix).unwrap();
    r.b.revert(RELEASE, picked[0]).unwrap();
    r.finish().unwrap();
    tickets(&env, &[("DM-111", "approved")]);
    let (code, _) = verify_json(&env);
    assert_eq!(code, 1, "a revert of an approved fix blocks");
    let revoke = env.run(&[
        "decide",
        "revoke",
        "DM-111",
        "--as",
        "Mara Lindqvist",
        "--note",
        "Broke the build",
        "--format",
        "json",
    ]);
    revoke.ok();
    let seq = serde_json::from_str::<Value>(&revoke.stdout).unwrap()["seq"]
        .as_i64()
        .unwrap();
    let (code, v) = verify_json(&env);
    assert_eq!(
        code, 0,
        "revoked and reverted, still exits 1: {}",
        v["drift"]
    );
    let d = drift_of(&v, "reverted", "DM-111");
    assert_eq!(d["settled"]["seq"], seq, "{d}");
    assert_eq!(d["settled"]["kind"], "decision", "{d}");
    let text = env.run(&["verify"]);
    assert!(
        text.stdout.contains("settled") && text.stdout.contains(&format!("event {seq}")),
        "{}",
        text.stdout
    );
}

#[test]
fn observation_4_the_triage_screen_counts_and_shows_targets() {
    let (env, mut a, _b) = campaign();
    a.fix_on_main("DM-212", &[(CORE, 30, "fixed", "Fix flux")])
        .unwrap();
    a.finish().unwrap();
    tickets(&env, &[("DM-200", "approved"), ("DM-212", "requested")]);
    approve(&env, "DM-212", &["--for-release", "23.0.2"]).ok();
    env.run(&["verify"]);
    let ws = env.workspace();
    let mut ledger = ws.open_ledger().unwrap();
    let (m, _) = portcullis_ops::meeting::open(
        &mut ledger,
        &ws.policy,
        "v23",
        "2026-11-24".parse().unwrap(),
        &["Mara Lindqvist".to_string(), "tokafor".to_string()],
        "Mara Lindqvist",
    )
    .unwrap();
    let snap = portcullis::triage::data::load(&ledger, &ws.policy, &m).unwrap();
    let rows: Vec<(String, usize, usize)> = snap
        .readiness
        .iter()
        .map(|r| (r.name.clone(), r.approved, r.landed))
        .collect();
    assert!(
        rows.contains(&("release 23.0.2".to_string(), 1, 0)),
        "{rows:?}"
    );
    assert!(
        rows.contains(&("next release".to_string(), 1, 1)),
        "{rows:?}"
    );
    // The detail view shows the ticket's history: the decision with its target.
    let h = portcullis_ops::history(&ledger, &ws.policy, "DM-212").unwrap();
    assert!(
        h.timeline
            .iter()
            .any(|e| e.what.contains("for release 23.0.2")),
        "{:?}",
        h.timeline
    );
}

#[test]
fn observation_4_an_approval_recorded_for_another_series_is_not_taken_out_of_the_gate() {
    use portcullis_core::event::{kind, source, NewEvent};
    let (env, mut a, _b) = campaign();
    a.fix_on_main("DM-212", &[(CORE, 30, "fixed", "Fix flux")])
        .unwrap();
    a.finish().unwrap();
    tickets(&env, &[("DM-200", "approved"), ("DM-212", "requested")]);
    // As an earlier portcullis recorded it, before targets were checked.
    let ws = env.workspace();
    let mut ledger = ws.open_ledger().unwrap();
    ledger
        .append_all(
            &ws.policy,
            [NewEvent {
                ticket: Some("DM-212".into()),
                line: Some("v23".into()),
                kind: kind::DECISION,
                source: source::LOCAL.into(),
                actor: Some("Mara Lindqvist".into()),
                at: portcullis_core::time::now(),
                meeting: None,
                note: None,
                payload: serde_json::json!({
                    "decision": "approve", "until": null, "forced": false,
                    "target": { "release": "99.0.0" },
                }),
                dedup_key: None,
            }],
        )
        .unwrap();
    drop(ledger);
    env.run(&["verify"]);
    let (code, v, err) = cut(&env, &["23.0.1"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        v["blockers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["kind"] == "not_landed" && b["ticket"] == "DM-212"),
        "{}",
        v["blockers"]
    );
    let digest = env.run(&["notify", "--dry-run", "--force", "--since", "2020-01-01"]);
    digest.ok();
    assert_eq!(
        of_counts(&digest.stdout, "Next patch release"),
        (1, 2),
        "{}",
        digest.stdout
    );
}
