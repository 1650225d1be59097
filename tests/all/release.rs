//! `portcullis cut`, `releases`, `release show` on repositories built in temporary directories.

use portcullis_git::campaign::{FILES, RELEASE};
use serde_json::Value;

use crate::harness::TestEnv;
use crate::verify::{repo, tickets, workspace};

const CORE: &str = FILES[0];
const IO: &str = FILES[1];

fn cut(env: &TestEnv, args: &[&str]) -> (i32, Value, String) {
    let mut a = vec!["cut"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["--format", "json"]);
    let run = env.run(&a);
    let v: Value = serde_json::from_str(&run.stdout).unwrap_or(Value::Null);
    (run.code, v, run.stderr)
}

fn kinds(v: &Value) -> Vec<String> {
    v["blockers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["kind"].as_str().unwrap().to_string())
        .collect()
}

/// Two repositories, base release 23.0.0 tagged, DM-200 approved and backported in `pkg`.
pub fn campaign() -> (
    TestEnv,
    portcullis_git::campaign::CampaignRepo,
    portcullis_git::campaign::CampaignRepo,
) {
    let env = workspace(&["pkg", "other"], "");
    let mut a = repo(&env, "pkg");
    let mut b = repo(&env, "other");
    a.b.tag(
        "23.0.0",
        RELEASE,
        "Version 23.0.0 release from manifest b5913",
    )
    .unwrap();
    b.b.tag(
        "23.0.0",
        RELEASE,
        "Version 23.0.0 release from manifest b5913",
    )
    .unwrap();
    let fix = a
        .fix_on_main("DM-200", &[(CORE, 10, "fixed", "Fix the flux scale")])
        .unwrap();
    a.backport("DM-200-v23", &fix).unwrap();
    a.finish().unwrap();
    b.finish().unwrap();
    tickets(&env, &[("DM-200", "approved")]);
    (env, a, b)
}

#[test]
fn a_clean_cut_tags_every_repository_records_the_manifest_and_writes_its_files() {
    let (env, a, b) = campaign();
    // Dry run by default: nothing written.
    let (code, v, err) = cut(&env, &["23.0.1"]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert_eq!(v["applied"], false);
    assert!(a.b.repo().find_reference("refs/tags/23.0.1").is_err());
    let (code, v, err) = cut(&env, &["23.0.1", "--apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert_eq!(v["applied"], true);
    // Both repositories are tagged, the unchanged one at its 23.0.0 commit again.
    let tag_commit = |r: &portcullis_git::campaign::CampaignRepo| {
        r.b.repo()
            .find_reference("refs/tags/23.0.1")
            .unwrap()
            .peel_to_commit()
            .unwrap()
            .id()
    };
    assert_eq!(tag_commit(&a), a.b.tip(RELEASE).unwrap());
    assert_eq!(tag_commit(&b), b.b.tip(RELEASE).unwrap());
    let t =
        a.b.repo()
            .find_reference("refs/tags/23.0.1")
            .unwrap()
            .peel_to_tag()
            .unwrap();
    assert!(t
        .message()
        .unwrap()
        .starts_with("Version 23.0.1 release from manifest m"));
    let m = &v["manifest"];
    assert_eq!(m["previous"], "23.0.0");
    let pkg = m["repos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["repo"] == "pkg")
        .unwrap();
    assert_eq!(pkg["tickets"][0], "DM-200");
    let other = m["repos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["repo"] == "other")
        .unwrap();
    assert!(other["commits"].as_array().unwrap().is_empty());
    // The files.
    let dir = env.path().join("releases/23.0.1");
    let notes = std::fs::read_to_string(dir.join("notes.md")).unwrap();
    assert!(notes.contains("- DM-200: Fix for DM-200 [pkg]"), "{notes}");
    let build = m["build"].as_str().unwrap();
    let db = std::fs::read_to_string(dir.join(format!("{build}.txt"))).unwrap();
    assert!(db.contains(&format!("BUILD={build}")) && db.contains("pkg "));
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    insta::assert_snapshot!("manifest_toml", read("manifest.toml"));
    insta::assert_snapshot!("manifest_json", read("manifest.json"));
    insta::assert_snapshot!("manifest_versiondb", db);
    insta::assert_snapshot!("release_notes", notes);
    insta::assert_snapshot!("changelog_section", read("CHANGELOG-section.md"));
    // Recorded, listed, shown; a second cut of the same version is refused.
    let list = env.run(&["releases"]);
    list.ok();
    assert!(list.stdout.contains("23.0.1"), "{}", list.stdout);
    let show = env.run(&["release", "show", "23.0.1"]);
    show.ok();
    assert!(show.stdout.contains(v["hash"].as_str().unwrap()));
    let (code, _, err) = cut(&env, &["23.0.1"]);
    assert_eq!(code, 2);
    assert!(err.contains("23.0.1 was already cut"), "{err}");
    // With --apply, a second cut finishes the first (its files again), recording nothing new.
    let before = read("manifest.toml");
    let (code, again, err) = cut(&env, &["23.0.1", "--apply"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(again["resumed"], true);
    assert_eq!(read("manifest.toml"), before);
    // The v23 policy marks released tickets done; the decision waits for `push`.
    let st = env.run(&["status", "--state", "done"]);
    assert!(st.stdout.contains("DM-200"), "{}", st.stdout);
    let h = env.run(&["history", "DM-200"]);
    assert!(h.stdout.contains("released in 23.0.1"), "{}", h.stdout);
    env.run(&["audit"]).ok();
}

#[test]
fn the_gate_lists_what_blocks_and_writes_nothing() {
    let (env, mut a, _b) = campaign();
    // Approved but not landed.
    a.fix_on_main("DM-201", &[(IO, 5, "fixed", "Fix reader")])
        .unwrap();
    // Landed but never approved.
    a.on_release_branch("DM-202-v23", |r, br| {
        r.b.write(br, "Pin numpy", &[("constraints.txt", "numpy<2\n")])?;
        Ok(())
    })
    .unwrap();
    // A tag of the release already exists elsewhere.
    a.b.tag("23.0.1", "v23.0.0.rc1", "stray").unwrap();
    tickets(&env, &[("DM-201", "approved")]);
    let (code, v, err) = cut(&env, &["23.0.1", "--apply"]);
    assert_eq!(code, 1, "{err}");
    let k = kinds(&v);
    for want in ["not_landed", "unapproved", "tag_exists"] {
        assert!(k.iter().any(|x| x == want), "{want} missing in {k:?}");
    }
    assert_eq!(v["applied"], false);
    // Nothing recorded (verify may add its own observations, but no release).
    assert_eq!(
        env.run(&["releases", "--format", "json"]).stdout.trim(),
        "[]"
    );
    // A skipped version.
    let (code, v, _) = cut(&env, &["23.0.3"]);
    assert_eq!(code, 1);
    assert!(kinds(&v).contains(&"version".to_string()));
    // A waiver lets the unapproved ticket through (it is recorded in the manifest).
    let (_, v, _) = cut(
        &env,
        &[
            "23.0.1",
            "--waive",
            "DM-202",
            "--note",
            "needed for the coadd step",
        ],
    );
    assert!(
        !kinds(&v).contains(&"unapproved".to_string()),
        "{:?}",
        kinds(&v)
    );
    assert_eq!(v["manifest"]["waivers"][0]["key"], "DM-202");
    // An invalid version.
    let run = env.run(&["cut", "twenty-three"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("is not a version like 23.0.2"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_interrupted_cut_completes_on_rerun_without_duplicates() {
    let (env, a, b) = campaign();
    // As if a cut had tagged `pkg` and then died before recording anything.
    let tip = a.b.tip(RELEASE).unwrap().to_string();
    let mut a = a;
    a.b.tag(
        "23.0.1",
        &tip,
        "Version 23.0.1 release from manifest m00000000",
    )
    .unwrap();
    let (code, v, err) = cut(&env, &["23.0.1", "--apply"]);
    assert_eq!(code, 0, "{err}\n{v}");
    let existing: Vec<bool> = v["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t[3].as_bool().unwrap())
        .collect();
    assert_eq!(
        existing.iter().filter(|x| **x).count(),
        1,
        "the existing tag is kept"
    );
    assert!(b.b.repo().find_reference("refs/tags/23.0.1").is_ok());
    let all: Value =
        serde_json::from_str(&env.run(&["releases", "--format", "json"]).stdout).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 1);
}

#[test]
fn release_candidates_count_up_and_the_last_one_is_promoted() {
    let (env, mut a, _b) = campaign();
    let (code, v, err) = cut(&env, &["23.0.1", "--rc", "--apply"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["manifest"]["tag"], "v23.0.1.rc1");
    // Nothing changed since rc1: a second candidate must be asked for with --allow-empty.
    let (code, v, err) = cut(&env, &["23.0.1", "--rc", "--apply", "--allow-empty"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["manifest"]["tag"], "v23.0.1.rc2");
    assert_eq!(v["manifest"]["allowed_empty"], true);
    // The branch moves on after the candidate; promoting tags the candidate's commits.
    let rc2_pkg = v["manifest"]["repos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["repo"] == "pkg")
        .unwrap()["commit"]
        .clone();
    a.edit(RELEASE, "Late fix", CORE, 29, "late").unwrap();
    a.finish().unwrap();
    // The late commit (no ticket) would block a cut of the tips; it is not in the candidate.
    let (code, v, _) = cut(&env, &["23.0.1"]);
    assert_eq!(code, 1);
    assert!(
        kinds(&v).contains(&"unapproved".to_string()),
        "{}",
        v["blockers"]
    );
    let (code, v, err) = cut(&env, &["23.0.1", "--apply", "--promote"]);
    assert_eq!(code, 0, "{err}\n{}", v["blockers"]);
    assert_eq!(v["manifest"]["tag"], "23.0.1");
    let pkg = v["manifest"]["repos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["repo"] == "pkg")
        .unwrap();
    assert_eq!(pkg["commit"], rc2_pkg);
    let none = env.run(&["cut", "23.0.9", "--promote", "--allow-skip"]);
    assert_eq!(none.code, 2);
    assert!(
        none.stderr.contains("no release candidate of 23.0.9"),
        "{}",
        none.stderr
    );
}

#[test]
fn steps_freeze_their_release_and_approvals_wait_for_their_target() {
    let (env, mut a, _b) = campaign();
    // No tracker here to push "done" decisions to: releases do not mark tickets done.
    let p = env.path().join("policy.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(
        &p,
        text.replace(
            "mark_done_on_release = true",
            "mark_done_on_release = false",
        ),
    )
    .unwrap();
    assert_eq!(cut(&env, &["23.0.1", "--apply"]).0, 0);
    // A second release with one more backport, and the diff between them.
    let fix = a
        .fix_on_main("DM-205", &[(IO, 6, "fixed", "Fix the writer")])
        .unwrap();
    a.backport("DM-205-v23", &fix).unwrap();
    a.finish().unwrap();
    tickets(&env, &[("DM-200", "approved"), ("DM-205", "approved")]);
    let (code, v, err) = cut(&env, &["23.0.2", "--apply"]);
    assert_eq!(code, 0, "{err}\n{}", v["blockers"]);
    assert_eq!(v["manifest"]["previous"], "23.0.1");
    let d = env.run(&["release", "diff", "23.0.1", "23.0.2"]);
    d.ok();
    assert!(
        d.stdout.contains("1 ticket(s) added") && d.stdout.contains("DM-205"),
        "{}",
        d.stdout
    );
    assert!(
        d.stdout.contains("unchanged"),
        "the other repository did not move: {}",
        d.stdout
    );

    // A step starts with 23.0.2: it is frozen.
    env.run(&["step", "start", "sfp", "--release", "23.0.2"])
        .ok();
    let st = env.run(&["steps"]);
    st.ok();
    assert!(
        st.stdout.contains("sfp") && st.stdout.contains("running") && st.stdout.contains("23.0.2"),
        "{}",
        st.stdout
    );
    let again = env.run(&["step", "start", "sfp", "--release", "23.0.1"]);
    assert_eq!(again.code, 2);
    assert!(
        again.stderr.contains("already started with 23.0.2"),
        "{}",
        again.stderr
    );
    let (code, v, _) = cut(&env, &["23.0.3", "--step", "sfp"]);
    assert_eq!(code, 1);
    assert!(
        kinds(&v).contains(&"step_frozen".to_string()),
        "{:?}",
        kinds(&v)
    );

    // An approval for the coadd step does not hold up a cut for anything else.
    a.fix_on_main("DM-206", &[(CORE, 20, "fixed", "Fix coadds")])
        .unwrap();
    a.finish().unwrap();
    tickets(
        &env,
        &[
            ("DM-200", "approved"),
            ("DM-205", "approved"),
            ("DM-206", "requested"),
        ],
    );
    env.run(&[
        "decide",
        "approve",
        "DM-206",
        "--for-step",
        "coadd",
        "--as",
        "Mara Lindqvist",
    ])
    .ok();
    let not_landed = |v: &Value| {
        v["blockers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["kind"] == "not_landed" && b["ticket"] == "DM-206")
    };
    let (_, v, _) = cut(&env, &["23.0.3"]);
    assert!(!not_landed(&v), "{}", v["blockers"]);
    let (_, v, _) = cut(&env, &["23.0.3", "--step", "coadd"]);
    assert!(not_landed(&v), "{}", v["blockers"]);
    // A decision not yet pushed: with no tracker configured it can go nowhere, so it is a
    // note; with one configured, it is a reason not to cut.
    let note_kinds = |v: &Value| -> Vec<String> {
        v["notes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["kind"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(!kinds(&v).contains(&"pending_push".to_string()));
    assert!(
        note_kinds(&v).contains(&"pending_push".to_string()),
        "{}",
        v["notes"]
    );
    let config = std::fs::read_to_string(env.path().join("portcullis.toml")).unwrap();
    std::fs::write(
        env.path().join("portcullis.toml"),
        format!("{config}\n[jira]\nurl = \"http://127.0.0.1:9\"\n"),
    )
    .unwrap();
    let (_, v, _) = cut(&env, &["23.0.3", "--step", "coadd"]);
    assert!(
        kinds(&v).contains(&"pending_push".to_string()),
        "{}",
        v["blockers"]
    );
    // A cut for another release does not wait for it: DM-206 is not in it.
    let (_, v, _) = cut(&env, &["23.0.3"]);
    assert!(
        !kinds(&v).contains(&"pending_push".to_string()),
        "{}",
        v["blockers"]
    );
    std::fs::write(env.path().join("portcullis.toml"), config).unwrap();
    let bad = env.run(&[
        "decide",
        "approve",
        "DM-206",
        "--for-step",
        "nope",
        "--as",
        "Mara Lindqvist",
        "--force",
    ]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("unknown step `nope`"), "{}", bad.stderr);
}

#[test]
fn a_push_that_fails_halfway_is_finished_by_a_rerun() {
    let (env, a, b) = campaign();
    let remote_a = env.path().join("remotes/pkg.git");
    let remote_b = env.path().join("remotes/other.git");
    git2::Repository::init_bare(&remote_a).unwrap();
    git2::Repository::init_bare(&remote_b).unwrap();
    a.b.repo()
        .remote("origin", remote_a.to_str().unwrap())
        .unwrap();
    // `other` has no remote yet: its push fails.
    let (code, v, err) = cut(&env, &["23.0.1", "--apply", "--push"]);
    assert_eq!(code, 1, "{err}\n{v}");
    assert_eq!(
        v["applied"], true,
        "the release is cut; only the push is incomplete"
    );
    let failed: Vec<&Value> = v["pushed"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| !p[1].is_null())
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0][0], "other");
    let has_tag = |p: &std::path::Path| {
        git2::Repository::open_bare(p)
            .unwrap()
            .find_reference("refs/tags/23.0.1")
            .is_ok()
    };
    assert!(has_tag(&remote_a) && !has_tag(&remote_b));
    // Fix the remote and finish: nothing is cut twice.
    b.b.repo()
        .remote("origin", remote_b.to_str().unwrap())
        .unwrap();
    let (code, v, err) = cut(&env, &["23.0.1", "--push"]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert!(has_tag(&remote_a) && has_tag(&remote_b));
    let all: Value =
        serde_json::from_str(&env.run(&["releases", "--format", "json"]).stdout).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 1);
}

#[test]
fn rewritten_branches_dirty_clones_and_blocking_violations_block() {
    let (env, mut a, b) = campaign();
    // `other`'s release branch is rewritten: it no longer descends from 23.0.0.
    b.b.repo()
        .find_reference("refs/heads/v23.0.x")
        .unwrap()
        .delete()
        .unwrap();
    let mut b = b;
    b.b.branch(RELEASE, "v23.0.0.rc1~1").unwrap();
    b.edit(RELEASE, "Rewritten history", IO, 9, "rewritten")
        .unwrap();
    b.finish().unwrap();
    // `pkg` has an uncommitted change in its working tree.
    std::fs::write(a.b.path().join(CORE), "edited but not committed\n").unwrap();
    // A ticket marked done without approval: a violation the test policy marks blocking.
    let x = crate::harness::ExportBuilder::new().ticket(
        "DM-210",
        "Done without approval",
        &[
            ("2022-01-04T10:00:00.000-0700", "dev", "backport-v23"),
            (
                "2022-01-05T10:00:00.000-0700",
                "dev",
                "backport-v23 backport-done",
            ),
        ],
    );
    // A request whose label was removed with nothing recorded: a violation too, but of a
    // ticket that is not in the release, so it is noted and does not block.
    let x = x.ticket(
        "DM-212",
        "Withdrawn in Jira",
        &[
            ("2022-01-04T10:00:00.000-0700", "dev", "backport-v23"),
            ("2022-01-06T10:00:00.000-0700", "dev", ""),
        ],
    );
    let f = env.write("more.json", &x.build());
    env.run(&["sync", "--from-file", f.to_str().unwrap()]).ok();
    let policy = std::fs::read_to_string(env.path().join("policy.toml")).unwrap();
    std::fs::write(
        env.path().join("policy.toml"),
        policy.replace(
            "blocking = [\"done_without_approval\"]",
            "blocking = [\"done_without_approval\", \"unrecorded_removal\"]",
        ),
    )
    .unwrap();
    let (code, v, _) = cut(&env, &["23.0.1", "--apply"]);
    assert_eq!(code, 1);
    assert!(
        !v["blockers"].to_string().contains("DM-212"),
        "{}",
        v["blockers"]
    );
    assert!(
        v["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["kind"] == "violation" && n["ticket"] == "DM-212"),
        "{}",
        v["notes"]
    );
    let k = kinds(&v);
    for want in ["not_descendant", "repository", "violation"] {
        assert!(
            k.iter().any(|x| x == want),
            "{want} missing in {k:?}: {}",
            v["blockers"]
        );
    }
    assert!(v["blockers"].to_string().contains("uncommitted changes"));
    assert!(
        a.b.repo().find_reference("refs/tags/23.0.1").is_err(),
        "nothing tagged"
    );
    a.finish().unwrap();
}

/// Repository paths, branch names and repository names that look like git options
/// (`--upload-pack=…`) are never read by git as options: paths are passed after `-C`, ref names
/// after `--`, and the policy refuses option-like branch and repository names outright.
#[test]
fn option_like_names_never_reach_git_as_options() {
    let (env, a, b) = campaign();
    let evil = "--upload-pack=touch PWNED;false";
    drop(b);
    std::fs::rename(env.path().join("repos/other"), env.path().join(evil)).unwrap();
    let policy = std::fs::read_to_string(env.path().join("policy.toml")).unwrap();
    let moved = policy.replace("path = \"repos/other\"", &format!("path = \"{evil}\""));
    assert_ne!(moved, policy);
    std::fs::write(env.path().join("policy.toml"), &moved).unwrap();
    let remote_a = env.path().join("remotes/pkg.git");
    let remote_b = env.path().join("remotes/other.git");
    git2::Repository::init_bare(&remote_a).unwrap();
    git2::Repository::init_bare(&remote_b).unwrap();
    a.b.repo()
        .remote("origin", remote_a.to_str().unwrap())
        .unwrap();
    git2::Repository::open(env.path().join(evil))
        .unwrap()
        .remote("origin", remote_b.to_str().unwrap())
        .unwrap();

    // `git fetch` runs in the option-named clone, as a path.
    let run = env.run(&["verify", "--fetch", "--format", "json"]);
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    for r in v["repositories"].as_array().unwrap() {
        assert!(
            !r["problems"].to_string().contains("git fetch"),
            "{}: {}",
            r["name"],
            r["problems"]
        );
    }
    // `git push` too; the tag arrives in the remote.
    let (code, v, err) = cut(&env, &["23.0.1", "--apply", "--push"]);
    assert_eq!(code, 0, "{err}\n{v}");
    for p in [&remote_a, &remote_b] {
        assert!(git2::Repository::open_bare(p)
            .unwrap()
            .find_reference("refs/tags/23.0.1")
            .is_ok());
    }
    // Had git taken the path as `--upload-pack`, it would have run `touch PWNED`.
    fn find(dir: &std::path::Path, name: &str) -> bool {
        std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .any(|e| e.file_name() == name || (e.path().is_dir() && find(&e.path(), name)))
    }
    assert!(!find(env.path(), "PWNED"));

    // Option-like branch and repository names are refused before anything runs.
    for (from, to) in [
        (
            "main_branch = \"main\"",
            "main_branch = \"--upload-pack=touch PWNED\"",
        ),
        ("branch = \"v23.0.x\"", "branch = \"--output=PWNED\""),
        ("name = \"other\"", "name = \"--upload-pack=x\""),
    ] {
        let bad = moved.replacen(from, to, 1);
        assert_ne!(bad, moved, "{from}");
        std::fs::write(env.path().join("policy.toml"), &bad).unwrap();
        for args in [
            &["verify", "--fetch"][..],
            &["cut", "23.0.2", "--apply"][..],
        ] {
            let run = env.run(args);
            assert_eq!(run.code, 2, "{to}: {}", run.stderr);
            assert!(run.stderr.contains("--"), "{to}: {}", run.stderr);
        }
    }
    assert!(!find(env.path(), "PWNED"));
}

/// Found by the crash tests: a cut killed after recording its manifest and before writing its
/// files left no files, and the rerun refused ("already cut"). The rerun now finishes it.
#[test]
fn a_cut_killed_after_recording_writes_its_files_on_the_rerun() {
    let (env, _a, _b) = campaign();
    let (code, v, err) = cut(&env, &["23.0.1", "--apply"]);
    assert_eq!(code, 0, "{err}");
    let files: Vec<String> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    assert_eq!(files.len(), 5);
    let dir = env.path().join("releases/23.0.1");
    let written: Vec<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    std::fs::remove_dir_all(&dir).unwrap();
    let events = env.ledger_fingerprint().0;
    let run = env.run(&["cut", "23.0.1", "--apply"]);
    run.ok();
    assert!(
        run.stdout.contains("23.0.1 was already cut") && run.stdout.contains("finished it"),
        "{}",
        run.stdout
    );
    for (f, text) in files.iter().zip(&written) {
        assert_eq!(&std::fs::read_to_string(f).unwrap(), text, "{f}");
    }
    assert_eq!(env.ledger_fingerprint().0, events, "nothing recorded twice");
    // No temporary file is left beside them.
    for e in std::fs::read_dir(&dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".tmp"), "{name}");
    }
}

/// Found by the crash tests: a kill inside libgit2's tag write leaves `refs/tags/<tag>.lock`
/// (as a killed git does), and the next cut stopped with libgit2's bare message. It now names
/// the lock file and says when it is safe to delete; once deleted, the cut goes through.
#[test]
fn a_lock_file_left_by_an_interrupted_tag_write_is_named_in_the_error() {
    let (env, a, _b) = campaign();
    let lock = a.b.repo().path().join("refs/tags/23.0.1.lock");
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    std::fs::write(&lock, "").unwrap();
    let (code, v, err) = cut(&env, &["23.0.1", "--apply"]);
    assert_eq!(code, 2, "{v}");
    assert!(
        err.contains("if none is running there, delete")
            && err.contains(&lock.display().to_string()),
        "{err}"
    );
    let list = env.run(&["releases", "--format", "json"]);
    assert_eq!(list.stdout.trim(), "[]", "nothing recorded");
    std::fs::remove_file(&lock).unwrap();
    let (code, v, err) = cut(&env, &["23.0.1", "--apply"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["applied"], true);
}
