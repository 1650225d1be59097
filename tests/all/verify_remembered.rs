//! Issue 20 (speed): a `verify` that finds nothing changed reports the verdict the last run
//! kept, and anything that could change the verdict (a decision, a commit, a tag, the policy)
//! is judged anew. A stale verdict is the one defect this must not have.

use serde_json::Value;

use crate::harness::TestEnv;
use crate::verify::{has_drift, landing, repo, tickets, workspace, CORE, IO};
use portcullis_git::campaign::RELEASE;

/// `verify` with `args`: whether it reported a remembered verdict (from its log), its exit
/// code and its standard output.
fn verify_run(env: &TestEnv, args: &[&str]) -> (bool, i32, String) {
    let mut all = vec!["verify"];
    all.extend_from_slice(args);
    let run = env.run_env(&all, &[("PORTCULLIS_LOG", "info")]);
    assert!(
        run.code == 0 || run.code == 1,
        "verify failed: {}\n{}",
        run.stderr,
        run.stdout
    );
    let remembered = run.stderr.contains("remembered=true");
    assert!(
        remembered || run.stderr.contains("remembered=false"),
        "the log says nothing about a remembered verdict: {}",
        run.stderr
    );
    (remembered, run.code, run.stdout)
}

/// [`verify_run`] with `--format json`: whether the verdict was remembered, and the report.
fn verify_json(env: &TestEnv, args: &[&str]) -> (bool, Value) {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let (remembered, _, out) = verify_run(env, &all);
    let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    (remembered, v)
}

#[test]
fn a_remembered_verdict_is_the_full_runs_report_and_only_after_a_run_that_recorded_nothing() {
    let env = workspace(&["pkg", "other"], "");
    let mut r = repo(&env, "pkg");
    let mut o = repo(&env, "other");
    let a = r
        .fix_on_main("DM-130", &[(CORE, 8, "fixed", "Fix a")])
        .unwrap();
    r.backport("DM-130-v23", &a).unwrap();
    o.fix_on_main("DM-131", &[(IO, 8, "fixed", "Fix b")])
        .unwrap();
    r.b.tag("23.0.1", RELEASE, "Version 23.0.1").unwrap();
    r.finish().unwrap();
    o.finish().unwrap();
    tickets(&env, &[("DM-130", "done"), ("DM-131", "approved")]);

    let (remembered, cold) = verify_json(&env, &[]);
    assert!(!remembered);
    assert!(cold["recorded"]["landings"].as_u64().unwrap() > 0);
    // The cold run recorded landings: it could not know the verdict of the ledger it left.
    let (remembered, kept) = verify_json(&env, &[]);
    assert!(!remembered, "the run after a recording one judges");
    assert_eq!(kept["recorded"]["landings"], 0);
    let (remembered, again) = verify_json(&env, &[]);
    assert!(
        remembered,
        "nothing changed since a run that recorded nothing"
    );
    assert_eq!(
        again, kept,
        "a remembered verdict differs from the run that kept it"
    );
    assert_eq!(landing(&again, "DM-130", "pkg")["first_tag"], "23.0.1");
    assert!(has_drift(&again, "approved_not_landed", "other", "DM-131"));
    // Printed as kept, it is the text of the whole outcome read back from what was kept
    // (in this process, whose build keeps a verdict of its own after one judged run).
    let (remembered, _, printed) = verify_run(&env, &["--format", "json"]);
    assert!(remembered);
    use portcullis_ops::verify::{self as ops, Quiet};
    let (ws, opts) = (env.workspace(), ops::VerifyOptions::default());
    assert!(!ops::verify(&ws, &opts, &Quiet).unwrap().stats.remembered);
    let out = ops::verify(&ws, &opts, &Quiet).unwrap();
    assert!(out.stats.remembered);
    let kept = ops::verify_json(&ws, &opts, &Quiet).unwrap();
    assert!(kept.stats.remembered);
    assert_eq!(kept.text, serde_json::to_string_pretty(&out).unwrap());
    assert_eq!(printed, format!("{}\n", kept.text));
}

#[test]
fn every_format_of_a_remembered_verdict_reads_as_a_judged_one() {
    let env = workspace(&["pkg"], "");
    env.keep_sqlite(); // It forgets the verdict, which lives in the ledger's file.
    let mut r = repo(&env, "pkg");
    let a = r
        .fix_on_main("DM-135", &[(CORE, 8, "fixed", "Fix a")])
        .unwrap();
    r.backport("DM-135-v23", &a).unwrap();
    r.fix_on_main("DM-136", &[(IO, 8, "fixed", "Fix b")])
        .unwrap();
    r.finish().unwrap();
    tickets(&env, &[("DM-135", "approved"), ("DM-136", "approved")]);
    verify_json(&env, &[]);
    for format in ["table", "md", "csv", "json"] {
        let args = ["--format", format, "--commits"];
        verify_run(&env, &args);
        let (remembered, code, remembered_out) = verify_run(&env, &args);
        assert!(remembered, "{format}");
        env.sql("DELETE FROM git_scans WHERE repo = '*verdict*'");
        let (remembered, judged_code, judged_out) = verify_run(&env, &args);
        assert!(!remembered, "{format}: the verdict was forgotten");
        assert_eq!(remembered_out, judged_out, "{format}");
        assert_eq!(code, judged_code, "{format}");
    }
}

#[test]
fn a_decision_a_commit_a_tag_or_a_policy_change_is_never_hidden_by_a_remembered_verdict() {
    let env = workspace(&["pkg"], "");
    let mut r = repo(&env, "pkg");
    let a = r
        .fix_on_main("DM-140", &[(CORE, 8, "fixed", "Fix a")])
        .unwrap();
    r.backport("DM-140-v23", &a).unwrap();
    let b = r
        .fix_on_main("DM-141", &[(IO, 8, "fixed", "Fix b")])
        .unwrap();
    r.finish().unwrap();
    tickets(
        &env,
        &[
            ("DM-140", "requested"),
            ("DM-141", "approved"),
            ("DM-142", "approved"),
        ],
    );
    let settle = |env: &TestEnv| {
        verify_json(env, &[]);
        verify_json(env, &[]);
        let (remembered, v) = verify_json(env, &[]);
        assert!(remembered, "three runs with nothing new");
        v
    };
    let v = settle(&env);
    assert!(has_drift(&v, "landed_not_approved", "pkg", "DM-140"));

    // A decision: the committee approves what had landed.
    env.run(&["decide", "approve", "DM-140"]).ok();
    let (remembered, v) = verify_json(&env, &[]);
    assert!(!remembered, "a decision is judged");
    assert!(!has_drift(&v, "landed_not_approved", "pkg", "DM-140"));
    assert_eq!(v["recorded"]["drift_cleared"], 1);
    settle(&env);

    // A commit: the approved fix lands.
    r.backport("DM-141-v23", &b).unwrap();
    let (remembered, v) = verify_json(&env, &[]);
    assert!(!remembered, "a new release commit is judged");
    assert_eq!(landing(&v, "DM-141", "pkg")["status"], "landed");
    assert!(landing(&v, "DM-141", "pkg")["first_tag"].is_null());
    settle(&env);

    // A tag: both fixes are released.
    r.b.tag("23.0.1", RELEASE, "Version 23.0.1").unwrap();
    let (remembered, v) = verify_json(&env, &[]);
    assert!(!remembered, "a new tag is judged");
    assert_eq!(landing(&v, "DM-141", "pkg")["first_tag"], "23.0.1");
    settle(&env);

    // The policy: an approved ticket that has not landed (DM-142, nowhere) now blocks.
    let (remembered, code, _) = verify_run(&env, &[]);
    assert!(remembered);
    assert_eq!(code, 0);
    let path = env.path().join("policy.toml");
    let policy = std::fs::read_to_string(&path).unwrap().replace(
        "blocking = [\"done_without_approval\"]",
        "blocking = [\"done_without_approval\"]\ndrift_blocking = [\"approved_not_landed\"]",
    );
    std::fs::write(&path, policy).unwrap();
    let (remembered, code, _) = verify_run(&env, &[]);
    assert!(!remembered, "a policy change is judged");
    assert_eq!(code, 1, "the new rule blocks");
    let (remembered, code, _) = verify_run(&env, &[]);
    assert!(remembered);
    assert_eq!(code, 1, "a remembered verdict blocks as the judged one did");
}

/// How many repositories a `verify` took the tips and tags of from their reference files alone
/// (its log's `probes_remembered`), and whether it reported a remembered verdict.
fn probes_remembered(env: &TestEnv) -> (usize, bool) {
    let run = env.run_env(&["verify"], &[("PORTCULLIS_LOG", "info")]);
    let n = run
        .stderr
        .split("probes_remembered=")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no probes_remembered in the log: {}", run.stderr));
    (n, run.stderr.contains("remembered=true"))
}

#[test]
fn a_warm_run_reads_only_the_reference_files_and_opens_a_repository_whose_files_moved() {
    let env = workspace(&["pkg", "other"], "");
    let mut r = repo(&env, "pkg");
    let mut o = repo(&env, "other");
    let a = r
        .fix_on_main("DM-150", &[(CORE, 8, "fixed", "Fix a")])
        .unwrap();
    o.fix_on_main("DM-151", &[(IO, 8, "fixed", "Fix b")])
        .unwrap();
    r.finish().unwrap();
    o.finish().unwrap();
    tickets(&env, &[("DM-150", "approved"), ("DM-151", "approved")]);
    assert_eq!(probes_remembered(&env), (0, false), "a first run reads all");
    verify_json(&env, &[]);
    assert_eq!(probes_remembered(&env), (2, true), "nothing moved");

    // A commit on one release branch: that repository is opened, the other is not.
    r.backport("DM-150-v23", &a).unwrap();
    assert_eq!(probes_remembered(&env), (1, false));
    let (_, v) = verify_json(&env, &[]);
    assert_eq!(landing(&v, "DM-150", "pkg")["status"], "landed");

    // `git pack-refs` moves the files but not the references: read again, the same verdict.
    let pkg = env.path().join("repos/pkg");
    let packed = std::process::Command::new("git")
        .arg("-C")
        .arg(&pkg)
        .args(["pack-refs", "--all"])
        .status()
        .unwrap();
    assert!(packed.success());
    assert_eq!(probes_remembered(&env), (1, true));
    assert_eq!(probes_remembered(&env), (2, true), "remembered again");
}

#[test]
fn no_verdict_is_remembered_for_a_subset_or_a_repository_that_could_not_be_read_whole() {
    // A subset of the repositories.
    let env = workspace(&["pkg", "other"], "");
    for name in ["pkg", "other"] {
        let mut r = repo(&env, name);
        r.fix_on_main("DM-150", &[(CORE, 8, "fixed", "Fix a")])
            .unwrap();
        r.finish().unwrap();
    }
    tickets(&env, &[("DM-150", "approved")]);
    for _ in 0..3 {
        let (remembered, _) = verify_json(&env, &["--repo", "pkg"]);
        assert!(!remembered, "--repo is never remembered");
    }
    // A repository missing from its place, and one with a missing object.
    let env = workspace(&["pkg", "absent"], "");
    let mut r = repo(&env, "pkg");
    let fix = r
        .fix_on_main("DM-151", &[(CORE, 8, "fixed", "Fix a")])
        .unwrap();
    r.backport("DM-151-v23", &fix).unwrap();
    r.finish().unwrap();
    tickets(&env, &[("DM-151", "approved")]);
    for _ in 0..3 {
        let (remembered, _) = verify_json(&env, &[]);
        assert!(!remembered, "a missing repository is never remembered");
    }
    let env = workspace(&["broken"], "");
    let mut r = repo(&env, "broken");
    let fix = r
        .fix_on_main("DM-152", &[(CORE, 8, "fixed", "Fix a")])
        .unwrap();
    r.backport("DM-152-v23", &fix).unwrap();
    r.finish().unwrap();
    let tree =
        r.b.repo()
            .find_commit(r.b.tip(RELEASE).unwrap())
            .unwrap()
            .tree_id();
    portcullis_testkit::gitrepo::remove_loose_object(r.b.path(), tree).unwrap();
    tickets(&env, &[("DM-152", "approved")]);
    for _ in 0..3 {
        let (remembered, v) = verify_json(&env, &[]);
        assert!(
            !remembered,
            "commits that could not be checked are never remembered"
        );
        let problems = v["repositories"][0]["problems"].to_string();
        assert!(problems.contains("could not be checked"), "{problems}");
    }
}

/// The triage screen tries each ticket's main-side commits on the release branch, and a kept
/// verdict has none: a verify that wants them is always judged.
#[test]
fn a_verify_that_wants_the_main_side_commits_is_always_judged() {
    use portcullis_ops::verify::{verify, Quiet, VerifyOptions};

    let env = workspace(&["pkg"], "");
    let mut r = repo(&env, "pkg");
    r.fix_on_main("DM-160", &[(CORE, 8, "fixed", "Fix a")])
        .unwrap();
    r.finish().unwrap();
    tickets(&env, &[("DM-160", "approved")]);
    let ws = env.workspace();
    let plain = VerifyOptions::default();
    // In this process (another build than the CLI's): judged twice, then remembered.
    for _ in 0..2 {
        verify(&ws, &plain, &Quiet).unwrap();
    }
    let out = verify(&ws, &plain, &Quiet).unwrap();
    assert!(out.stats.remembered);
    assert!(out.verification.repositories[0].main_commits.is_empty());
    let wanted = VerifyOptions {
        main_commits: true,
        ..VerifyOptions::default()
    };
    let out = verify(&ws, &wanted, &Quiet).unwrap();
    assert!(!out.stats.remembered);
    assert!(
        out.verification.repositories[0]
            .main_commits
            .iter()
            .any(|c| c.ticket.as_deref() == Some("DM-160")),
        "{:?}",
        out.verification.repositories[0].main_commits
    );
}
