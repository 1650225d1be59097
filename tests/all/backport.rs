//! `portcullis backport` and `backports` on repositories built in temporary directories: clean
//! multi-commit picks across repositories, a conflict with its dependency hint, continue and
//! abort, an existing branch, a moved release branch, a dirty clone, and an unapproved ticket
//! refused and forced.

use std::path::{Path, PathBuf};
use std::process::Command;

use git2::{Oid, Repository};
use portcullis_git::campaign::{CampaignRepo, FILES, MAIN, RELEASE};
use serde_json::Value;

use crate::harness::{Run, TestEnv};
use crate::verify::{repo, tickets, workspace};

const CORE: &str = FILES[0];
const IO: &str = FILES[1];
pub(crate) const BRANCH: &str = "tickets/DM-100-v23";

pub(crate) fn backport(env: &TestEnv, args: &[&str]) -> (Run, Value) {
    let mut all = vec!["backport"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let run = env.run(&all);
    let v = serde_json::from_str(&run.stdout).unwrap_or(Value::Null);
    (run, v)
}

pub(crate) fn repo_path(env: &TestEnv, name: &str) -> PathBuf {
    env.path().join("repos").join(name)
}

pub(crate) fn branch_tip(path: &Path, branch: &str) -> Option<Oid> {
    Repository::open(path)
        .unwrap()
        .refname_to_id(&format!("refs/heads/{branch}"))
        .ok()
}

/// The commits of `branch` not on the release branch, oldest first: (parent, message).
fn branch_commits(path: &Path, branch: &str) -> Vec<(Oid, String)> {
    let repo = Repository::open(path).unwrap();
    let mut w = repo.revwalk().unwrap();
    w.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)
        .unwrap();
    w.push(branch_tip(path, branch).unwrap()).unwrap();
    w.hide(
        repo.refname_to_id(&format!("refs/heads/{RELEASE}"))
            .unwrap(),
    )
    .unwrap();
    w.map(|id| {
        let c = repo.find_commit(id.unwrap()).unwrap();
        (c.parent_id(0).unwrap(), c.message().unwrap().to_string())
    })
    .collect()
}

pub(crate) fn refs(path: &Path) -> Vec<(String, Oid)> {
    let repo = Repository::open(path).unwrap();
    let mut out: Vec<(String, Oid)> = repo
        .references()
        .unwrap()
        .flatten()
        .filter_map(|r| Some((r.name()?.to_string(), r.target()?)))
        .collect();
    out.sort();
    out
}

pub(crate) fn events(env: &TestEnv, kind: &str) -> Vec<portcullis_core::event::Event> {
    env.ledger().events_of_kinds(&[kind]).unwrap()
}

pub(crate) fn outcome<'a>(v: &'a Value, repo: &str) -> &'a Value {
    v["repos"]
        .as_array()
        .unwrap_or_else(|| panic!("no repos in {v}"))
        .iter()
        .find(|r| r["repo"] == repo)
        .unwrap_or_else(|| panic!("{repo} not in {v}"))
}

/// Two repositories: DM-100 has two commits in `pkg` (with DM-101 between them on main) and
/// one in `io`; DM-101 is approved too and left alone.
pub(crate) fn two_repos() -> (TestEnv, Vec<Oid>, Vec<Oid>, Vec<CampaignRepo>) {
    let env = workspace(&["pkg", "io"], "");
    let mut pkg = repo(&env, "pkg");
    let first = pkg
        .fix_on_main(
            "DM-100",
            &[(CORE, 10, "fixed line 10", "Fix the flux scale")],
        )
        .unwrap();
    pkg.fix_on_main("DM-101", &[(CORE, 20, "other 20", "Unrelated fix")])
        .unwrap();
    let second = pkg
        .fix_on_main("DM-100", &[(IO, 12, "fixed line 12", "Retry reads")])
        .unwrap();
    pkg.finish().unwrap();
    let mut io = repo(&env, "io");
    let io_fix = io
        .fix_on_main(
            "DM-100",
            &[
                (IO, 5, "io fixed 5", "Close the file"),
                (IO, 25, "io fixed 25", "Flush first"),
            ],
        )
        .unwrap();
    io.finish().unwrap();
    tickets(&env, &[("DM-100", "approved"), ("DM-101", "approved")]);
    (env, [first, second].concat(), io_fix, vec![pkg, io])
}

#[test]
fn clean_multi_commit_pick_across_two_repositories() {
    let (env, pkg_fix, io_fix, mut repos) = two_repos();
    let before = env.ledger_fingerprint();
    let pkg_refs = refs(&repo_path(&env, "pkg"));

    // A dry run tries the picks in memory and writes nothing.
    let (run, v) = backport(&env, &["DM-100", "--dry-run"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(outcome(&v, "pkg")["outcome"], "picked");
    assert_eq!(outcome(&v, "pkg")["picks"].as_array().unwrap().len(), 2);
    assert_eq!(env.ledger_fingerprint(), before);
    assert_eq!(refs(&repo_path(&env, "pkg")), pkg_refs);

    let list = env.run(&["backports"]);
    assert!(list.stdout.contains("not started"), "{}", list.stdout);

    let (run, v) = backport(&env, &["DM-100"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    for (name, fix) in [("pkg", &pkg_fix), ("io", &io_fix)] {
        let path = repo_path(&env, name);
        let commits = branch_commits(&path, BRANCH);
        assert_eq!(commits.len(), fix.len(), "{name}");
        let release = branch_tip(&path, RELEASE).unwrap();
        assert_eq!(
            commits[0].0, release,
            "{name}: the first pick sits on the release tip"
        );
        for ((_, msg), main) in commits.iter().zip(fix.iter()) {
            assert!(
                msg.ends_with(&format!("(cherry picked from commit {main})\n")),
                "{name}: {msg}"
            );
        }
        assert_eq!(outcome(&v, name)["outcome"], "picked");
    }
    // DM-101's commit was not picked.
    assert!(!branch_commits(&repo_path(&env, "pkg"), BRANCH)
        .iter()
        .any(|(_, m)| m.contains("Unrelated")));
    assert_eq!(events(&env, "backport.started").len(), 1);
    assert_eq!(events(&env, "backport.picked").len(), 2);
    // The ticket's state did not change.
    assert_eq!(env.ledger_fingerprint().1, before.1);

    let list = env.run(&["backports", "--format", "json"]);
    let l: Value = serde_json::from_str(&list.stdout).unwrap();
    let t = l["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == "DM-100")
        .unwrap();
    assert!(
        t["repos"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["state"] == "branch"),
        "{t}"
    );

    // A rerun finds the same picks on the branch: nothing to do, nothing recorded.
    let tip = branch_tip(&repo_path(&env, "pkg"), BRANCH);
    let (run, v) = backport(&env, &["DM-100"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(outcome(&v, "pkg")["outcome"], "up_to_date");
    assert_eq!(branch_tip(&repo_path(&env, "pkg"), BRANCH), tip);
    assert_eq!(events(&env, "backport.started").len(), 1);

    // Merged into the release branch, verify sees the ticket landed.
    for r in &mut repos {
        r.b.merge(
            RELEASE,
            BRANCH,
            &format!("Merge branch '{BRANCH}' into {RELEASE}"),
        )
        .unwrap();
    }
    let run = env.run(&["verify", "--format", "json"]);
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    let t = v["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == "DM-100")
        .unwrap();
    assert_eq!(t["status"], "landed", "{t}");
}

/// DM-200 rewrote line 10 on main (never backported); DM-300 then changed it again.
fn conflicting() -> (TestEnv, Oid, Oid) {
    let env = workspace(&["pkg"], "");
    let mut pkg = repo(&env, "pkg");
    let dep = pkg
        .fix_on_main("DM-200", &[(CORE, 10, "rewritten 10", "Rewrite the scale")])
        .unwrap();
    let fix = pkg
        .fix_on_main(
            "DM-300",
            &[(CORE, 10, "rewritten 10, fixed", "Fix the rewritten scale")],
        )
        .unwrap();
    pkg.finish().unwrap();
    tickets(&env, &[("DM-200", "requested"), ("DM-300", "approved")]);
    (env, dep[0], fix[0])
}

pub(crate) fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.org")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn conflict_names_the_missing_main_commit_and_abort_drops_the_worktree() {
    let (env, dep, fix) = conflicting();
    let path = repo_path(&env, "pkg");
    let before = refs(&path);
    let (run, v) = backport(&env, &["DM-300"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let o = outcome(&v, "pkg");
    assert_eq!(o["outcome"], "conflict");
    assert_eq!(o["conflict"]["main_commit"], fix.to_string());
    assert_eq!(o["conflict"]["files"][0]["path"], CORE);
    assert_eq!(o["conflict"]["files"][0]["hunks"][0]["line"], 10);
    assert_eq!(o["dependencies"][0]["sha"], dep.to_string());
    assert_eq!(o["dependencies"][0]["ticket"], "DM-200");
    // No branch, no moved reference.
    assert_eq!(refs(&path), before);
    let wt = PathBuf::from(o["worktree"].as_str().unwrap());
    assert!(wt.join(CORE).exists());
    assert_eq!(events(&env, "backport.conflict").len(), 1);

    let text = env.run(&["backport", "DM-300", "--dry-run"]);
    assert!(text.stdout.contains("CONFLICT"), "{}", text.stdout);
    assert!(
        text.stdout.contains("DM-200: Rewrite the scale"),
        "{}",
        text.stdout
    );

    let list = env.run(&["backports"]);
    assert!(list.stdout.contains("conflict"), "{}", list.stdout);
    // A second run does not start over while the worktree waits.
    let (run, v) = backport(&env, &["DM-300"]);
    assert_eq!(run.code, 1);
    assert_eq!(outcome(&v, "pkg")["outcome"], "refused");

    let run = env.run(&["backport", "DM-300", "--abort"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(!wt.exists());
    assert_eq!(refs(&path), before);
    assert_eq!(events(&env, "backport.aborted").len(), 1);
    let list = env.run(&["backports"]);
    assert!(list.stdout.contains("not started"), "{}", list.stdout);
    let again = env.run(&["backport", "DM-300", "--abort"]);
    assert_eq!(again.code, 2, "{}", again.stderr);
}

#[test]
fn continue_after_resolving_in_the_prepared_worktree_writes_the_branch() {
    let (env, _, fix) = conflicting();
    let path = repo_path(&env, "pkg");
    let (_, v) = backport(&env, &["DM-300"]);
    let wt = PathBuf::from(outcome(&v, "pkg")["worktree"].as_str().unwrap());
    // Not resolved yet.
    let run = env.run(&["backport", "DM-300", "--continue"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("still unmerged"), "{}", run.stdout);
    // Resolve by hand.
    let resolved: String = (1..=30)
        .map(|i| match i {
            2 => "tidied line 2\n".to_string(),
            10 => "line 10, fixed\n".to_string(),
            _ => format!("line {i} of {CORE}\n"),
        })
        .collect();
    std::fs::write(wt.join(CORE), resolved).unwrap();
    git(&wt, &["add", CORE]);
    let run = env.run(&["backport", "DM-300", "--continue"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let commits = branch_commits(&path, "tickets/DM-300-v23");
    assert_eq!(commits.len(), 1);
    assert!(commits[0]
        .1
        .contains(&format!("(cherry picked from commit {fix})")));
    assert!(!wt.exists());
    assert_eq!(events(&env, "backport.picked").len(), 1);
}

#[test]
fn existing_branch_with_other_commits_is_refused() {
    let (env, _, _, mut repos) = two_repos();
    let path = repo_path(&env, "pkg");
    repos[0].b.branch(BRANCH, RELEASE).unwrap();
    repos[0]
        .edit(BRANCH, "Something else", FILES[2], 3, "other")
        .unwrap();
    let tip = branch_tip(&path, BRANCH);
    let (run, v) = backport(&env, &["DM-100"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let o = outcome(&v, "pkg");
    assert_eq!(o["outcome"], "refused");
    assert!(
        o["reason"].as_str().unwrap().contains("other commits"),
        "{o}"
    );
    assert_eq!(branch_tip(&path, BRANCH), tip);
    // The other repository is done all the same.
    assert_eq!(outcome(&v, "io")["outcome"], "picked");
    // The stray branch deleted, a rerun picks the rest and leaves io as it is.
    repos[0].b.delete_branch(BRANCH).unwrap();
    let io_tip = branch_tip(&repo_path(&env, "io"), BRANCH);
    let (run, v) = backport(&env, &["DM-100"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(outcome(&v, "pkg")["outcome"], "picked");
    assert_eq!(outcome(&v, "io")["outcome"], "up_to_date");
    assert_eq!(branch_tip(&repo_path(&env, "io"), BRANCH), io_tip);
    let picked = events(&env, "backport.picked");
    assert_eq!(picked.len(), 2, "one per repository");
    assert_eq!(branch_commits(&path, BRANCH).len(), 2);
}

#[test]
fn moved_release_branch_is_planned_again() {
    use portcullis_ops::backport::{execute, plan, BackportRequest};
    use portcullis_ops::verify::{scan_line, Quiet, VerifyOptions};

    let (env, _, _, mut repos) = two_repos();
    let ws = env.workspace();
    let p = plan(&ws, "DM-100", None, &["pkg".into()]).unwrap();
    let v = {
        let ledger = ws.open_ledger().unwrap();
        let line = ws.policy.resolve_line(None).unwrap();
        let opts = VerifyOptions {
            repos: vec!["pkg".into()],
            ..Default::default()
        };
        scan_line(&ws, &ledger, line, &opts, &Quiet).unwrap().0
    };
    // The release branch moves after the plan.
    let path = repo_path(&env, "pkg");
    let moved = repos[0]
        .edit(RELEASE, "Pin a dependency", FILES[2], 5, "pinned")
        .unwrap();
    assert_ne!(
        p.repos[0].release_tip.as_deref(),
        Some(moved.to_string().as_str())
    );
    let req = BackportRequest {
        key: "DM-100".into(),
        actor: "dev".into(),
        ..Default::default()
    };
    let out = execute(&ws, p, &v, &req).unwrap();
    assert!(!out.failed(), "{out:?}");
    let commits = branch_commits(&path, BRANCH);
    assert_eq!(commits.len(), 2);
    assert_eq!(
        commits[0].0, moved,
        "the picks sit on the release tip as it is now"
    );
    // A rerun finds the branch complete: nothing picked or recorded again.
    let (run, v) = backport(&env, &["DM-100", "--repo", "pkg"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(outcome(&v, "pkg")["outcome"], "up_to_date");
    assert_eq!(events(&env, "backport.picked").len(), 1);
}

#[test]
fn dirty_clone_is_refused() {
    let (env, _, _, _repos) = two_repos();
    let path = repo_path(&env, "io");
    std::fs::write(path.join(IO), "edited by hand\n").unwrap();
    let run = env.run(&["backport", "DM-100"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("uncommitted changes"), "{}", run.stderr);
    assert!(branch_tip(&repo_path(&env, "pkg"), BRANCH).is_none());
    assert!(branch_tip(&path, BRANCH).is_none());
    assert!(events(&env, "backport.started").is_empty());
    // Cleaned up, a rerun does it all, once.
    git(&path, &["checkout", "--", IO]);
    let (run, v) = backport(&env, &["DM-100"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(outcome(&v, "pkg")["outcome"], "picked");
    assert_eq!(outcome(&v, "io")["outcome"], "picked");
    assert_eq!(events(&env, "backport.picked").len(), 2);
}

#[test]
fn unapproved_ticket_is_refused_and_forced_as_a_violation() {
    let env = workspace(&["pkg"], "");
    let mut pkg = repo(&env, "pkg");
    pkg.fix_on_main("DM-400", &[(CORE, 10, "fixed", "Fix it")])
        .unwrap();
    pkg.finish().unwrap();
    tickets(&env, &[("DM-400", "requested")]);
    let path = repo_path(&env, "pkg");
    let before = env.ledger_fingerprint();
    let run = env.run(&["backport", "DM-400"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("not approved"), "{}", run.stderr);
    let run = env.run(&["backport", "DM-400", "--force"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("needs a reason"), "{}", run.stderr);
    assert_eq!(env.ledger_fingerprint(), before);
    assert!(branch_tip(&path, "tickets/DM-400-v23").is_none());

    let (run, v) = backport(
        &env,
        &["DM-400", "--force", "--note", "Needed for the coadd run"],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(v["forced"], true);
    assert!(branch_tip(&path, "tickets/DM-400-v23").is_some());
    let started = events(&env, "backport.started");
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].payload["forced"], true);
    assert!(started[0].payload["violations"][0]
        .as_str()
        .unwrap()
        .starts_with("backport_unapproved"));
    assert_eq!(started[0].note.as_deref(), Some("Needed for the coadd run"));
    // Still requested: the backport is recorded, not an approval. What is derived changes
    // only by the violation it is.
    let after = env.ledger_fingerprint().1;
    let not_violations = |d: &[String]| -> Vec<String> {
        d.iter()
            .filter(|r| !r.starts_with("violations:"))
            .cloned()
            .collect()
    };
    assert_eq!(not_violations(&after), not_violations(&before.1));
    let added: Vec<&String> = after.iter().filter(|r| !before.1.contains(r)).collect();
    assert_eq!(added.len(), 1, "{added:?}");
    assert!(added[0].contains("backport_unapproved"), "{added:?}");
    let _ = MAIN;
}

/// A forced backport is visible where violations are: `status` (table and JSON) and the
/// ticket's `history`; once the branch lands, `verify` flags it as landed without approval.
#[test]
fn a_forced_backport_shows_in_status_history_and_verify() {
    let env = workspace(&["pkg"], "");
    let mut pkg = repo(&env, "pkg");
    pkg.fix_on_main("DM-400", &[(CORE, 10, "fixed", "Fix it")])
        .unwrap();
    pkg.finish().unwrap();
    tickets(&env, &[("DM-400", "requested")]);
    let status = env.run(&["status"]);
    assert!(
        !status.stdout.contains("backport_unapproved"),
        "{}",
        status.stdout
    );
    let run = env.run(&[
        "backport",
        "DM-400",
        "--force",
        "--note",
        "Needed now",
        "--as",
        "dev",
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);

    let status = env.run(&["status"]);
    assert!(
        status.stdout.contains("Open violations (1)"),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains("backport_unapproved"),
        "{}",
        status.stdout
    );
    let json = env.run(&["status", "--format", "json"]);
    let v: Value = serde_json::from_str(&json.stdout).unwrap();
    let text = v.to_string();
    assert!(text.contains("backport_unapproved"), "{text}");
    assert!(text.contains("backported by dev while requested"), "{text}");
    let history = env.run(&["history", "DM-400"]);
    assert!(
        history.stdout.contains("backport_unapproved"),
        "{}",
        history.stdout
    );

    // The branch merged into the release branch: verify sees a landing without approval.
    pkg.merge_pr(RELEASE, "tickets/DM-400-v23").unwrap();
    let (_, v) = crate::verify::verify(&env, &[]);
    let drift = v["drift"].as_array().unwrap();
    assert!(
        drift
            .iter()
            .any(|d| d["kind"] == "landed_not_approved" && d["ticket"] == "DM-400"),
        "{drift:?}"
    );
}

/// A bare repository as `origin` of the clone `name`.
pub(crate) fn bare_origin(env: &TestEnv, name: &str) -> PathBuf {
    let bare = env.path().join("remotes").join(format!("{name}.git"));
    Repository::init_bare(&bare).unwrap();
    Repository::open(repo_path(env, name))
        .unwrap()
        .remote("origin", bare.to_str().unwrap())
        .unwrap();
    bare
}

#[test]
fn push_sends_each_branch_once_and_reports_a_rejected_push() {
    let (env, _, _, _repos) = two_repos();
    let pkg_remote = bare_origin(&env, "pkg");
    let io_remote = bare_origin(&env, "io");
    // The io remote already has the ticket branch, elsewhere: that push is rejected.
    git(
        &repo_path(&env, "io"),
        &[
            "push",
            "--quiet",
            "origin",
            &format!("{MAIN}:refs/heads/{BRANCH}"),
        ],
    );
    let (run, v) = backport(&env, &["DM-100", "--push"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let pushes = v["pushes"].as_array().unwrap();
    let pkg = pushes.iter().find(|p| p["repo"] == "pkg").unwrap();
    assert_eq!(pkg["pushed"], true, "{pkg}");
    let io = pushes.iter().find(|p| p["repo"] == "io").unwrap();
    assert_eq!(io["pushed"], false, "{io}");
    assert!(io["error"].as_str().unwrap().contains("rejected"), "{io}");
    assert_eq!(
        branch_tip(&pkg_remote, BRANCH),
        branch_tip(&repo_path(&env, "pkg"), BRANCH)
    );
    assert_ne!(
        branch_tip(&io_remote, BRANCH),
        branch_tip(&repo_path(&env, "io"), BRANCH)
    );
    assert_eq!(events(&env, "backport.pushed").len(), 1);
    // Again: the branches are up to date, pkg's push changes nothing and is not recorded twice.
    let (_, v) = backport(&env, &["DM-100", "--push", "--repo", "pkg"]);
    assert_eq!(outcome(&v, "pkg")["outcome"], "up_to_date");
    assert_eq!(v["pushes"][0]["pushed"], true);
    assert_eq!(events(&env, "backport.pushed").len(), 1);
    let text = env.run(&["backport", "DM-100", "--push"]);
    assert!(text.stdout.contains("REJECTED"), "{}", text.stdout);
}

#[test]
fn continue_without_trailers_still_names_the_main_commits() {
    let (env, _, fix) = conflicting();
    let policy = env.path().join("policy.toml");
    let text = std::fs::read_to_string(&policy).unwrap();
    std::fs::write(
        &policy,
        format!("{text}\n[backport]\ncherry_pick_trailer = false\n"),
    )
    .unwrap();
    let (_, v) = backport(&env, &["DM-300"]);
    let wt = PathBuf::from(outcome(&v, "pkg")["worktree"].as_str().unwrap());
    std::fs::write(wt.join(CORE), "resolved\n").unwrap();
    git(&wt, &["add", CORE]);
    let (run, v) = backport(&env, &["DM-300", "--continue"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(v["repos"][0]["picks"][0]["main_commit"], fix.to_string());
    let commits = branch_commits(&repo_path(&env, "pkg"), "tickets/DM-300-v23");
    assert!(!commits[0].1.contains("cherry picked"), "{}", commits[0].1);
}

#[test]
fn approval_revoked_after_the_plan_stops_the_run() {
    use portcullis_ops::backport::{execute, plan, BackportRequest};
    use portcullis_ops::verify::{scan_line, Quiet, VerifyOptions};

    let (env, _, _, _repos) = two_repos();
    let ws = env.workspace();
    let p = plan(&ws, "DM-100", None, &[]).unwrap();
    assert!(p.approved());
    let v = {
        let ledger = ws.open_ledger().unwrap();
        let line = ws.policy.resolve_line(None).unwrap();
        scan_line(&ws, &ledger, line, &VerifyOptions::default(), &Quiet)
            .unwrap()
            .0
    };
    let run = env.run(&["decide", "revoke", "DM-100", "--note", "Breaks the coadd"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let req = BackportRequest {
        key: "DM-100".into(),
        actor: "dev".into(),
        ..Default::default()
    };
    let out = execute(&ws, p, &v, &req).unwrap();
    assert!(out.failed());
    let json = serde_json::to_value(&out).unwrap();
    for name in ["pkg", "io"] {
        let o = outcome(&json, name);
        assert_eq!(o["outcome"], "refused", "{o}");
        assert!(o["reason"].as_str().unwrap().contains("withdrawn"), "{o}");
        assert!(branch_tip(&repo_path(&env, name), BRANCH).is_none());
    }
    assert!(events(&env, "backport.started").is_empty());
}

#[test]
fn pr_opens_one_pull_request_per_branch_on_the_github_test_server() {
    let (env, pkg_fix, _, _repos) = two_repos();
    bare_origin(&env, "pkg");
    let server = crate::backport_github::github(&env, &["lsst/pkg"]);
    let token = [("PORTCULLIS_GITHUB_TOKEN", "test-token")];
    // No token: refused before anything is picked.
    let run = env.run(&["backport", "DM-100", "--pr", "--repo", "pkg"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("token"), "{}", run.stderr);
    assert!(branch_tip(&repo_path(&env, "pkg"), BRANCH).is_none());

    let args = [
        "backport", "DM-100", "--pr", "--repo", "pkg", "--format", "json",
    ];
    let run = env.run_env(&args, &token);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    let pr = &v["pull_requests"][0];
    assert_eq!(pr["number"], 2, "{v}");
    assert_eq!(pr["existed"], false);
    let view = server.issue("lsst/pkg", 2).unwrap();
    assert!(view.is_pr);
    assert_eq!(view.title, "[v23.0.x] DM-100: Fix for DM-100");
    assert_eq!(events(&env, "backport.pr_opened").len(), 1);
    let body = events(&env, "backport.pr_opened")[0].payload.clone();
    assert_eq!(body["github_repo"], "lsst/pkg");

    // Again: the pull request is open already; none is added, nothing recorded twice.
    let run = env.run_env(&args, &token);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["pull_requests"][0]["number"], 2);
    assert_eq!(v["pull_requests"][0]["existed"], true);
    assert!(server.issue("lsst/pkg", 3).is_none());
    assert_eq!(events(&env, "backport.pr_opened").len(), 1);
    let list = env.run(&["backports", "--repo", "pkg"]);
    assert!(
        list.stdout.contains("pull request lsst/pkg#2"),
        "{}",
        list.stdout
    );
    let _ = pkg_fix;
}

#[test]
fn a_branch_holding_the_first_picks_gets_the_rest() {
    let (env, pkg_fix, _, mut repos) = two_repos();
    let path = repo_path(&env, "pkg");
    // Picked by hand (no trailer): the first of the two commits.
    repos[0].b.branch(BRANCH, RELEASE).unwrap();
    let mine = repos[0].b.cherry_pick(BRANCH, pkg_fix[0], None).unwrap();
    let (run, v) = backport(&env, &["DM-100", "--repo", "pkg"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let o = outcome(&v, "pkg");
    assert_eq!(o["outcome"], "picked", "{o}");
    assert_eq!(o["continued"], mine.to_string());
    assert_eq!(o["picks"].as_array().unwrap().len(), 1);
    assert_eq!(o["picks"][0]["main_commit"], pkg_fix[1].to_string());
    let commits = branch_commits(&path, BRANCH);
    assert_eq!(commits.len(), 2);
    assert_eq!(
        commits[1].0, mine,
        "the new pick goes on top of the hand-made one"
    );
}

/// `--pr` with `[jira]` configured links each pull request to its ticket there (a remote
/// link, replaced rather than added again on a rerun).
#[test]
fn pr_is_linked_to_its_ticket_in_jira() {
    use portcullis_testkit::github_server::{seed_issue, Config, GithubServer};
    use portcullis_testkit::jira_server::{self as jira, JiraServer};

    let (env, _, _, _repos) = two_repos();
    bare_origin(&env, "pkg");
    let at = chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap();
    let server = GithubServer::start(
        Config::default(),
        vec![seed_issue(
            "lsst/pkg",
            1,
            "An issue",
            &[(at, "alice", "labeled", "bug")],
            None,
        )],
        0,
    )
    .unwrap();
    let jira_server = JiraServer::start(
        jira::Config::data_center(),
        vec![jira::seed_issue(
            "DM-100",
            "Fix for DM-100",
            &[(at, "alice", &["backport-v23"])],
        )],
        0,
    )
    .unwrap();
    let config = env.path().join("portcullis.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!(
            "{text}\n[github]\nurl = \"{}\"\nrepos = [\"lsst/pkg\"]\nmax_retries = 1\ntimeout_seconds = 5\n\n[jira]\nurl = \"{}\"\nflavor = \"datacenter\"\nmax_retries = 1\n",
            server.url(),
            jira_server.url()
        ),
    )
    .unwrap();
    let vars = [
        ("PORTCULLIS_GITHUB_TOKEN", "test-token"),
        ("PORTCULLIS_JIRA_TOKEN", "test-token"),
    ];
    let args = [
        "backport", "DM-100", "--pr", "--repo", "pkg", "--format", "json",
    ];
    for _ in 0..2 {
        let run = env.run_env(&args, &vars);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        let v: Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(v["pull_requests"][0]["linked"], true, "{v}");
    }
    let links = jira_server.remote_links("DM-100");
    assert_eq!(links.len(), 1, "one link, however many runs: {links:?}");
    assert_eq!(links[0]["object"]["title"], "v23 pull request lsst/pkg#2");
    assert!(
        links[0]["object"]["url"]
            .as_str()
            .is_some_and(|u| u.contains("pull/2") || u.contains("pulls/2")),
        "{links:?}"
    );
}

/// The triage screen's "Approved, not landed" view shows where each approved ticket's backport
/// stands per repository, read by the function `portcullis backports` uses: a pull request with
/// its checks in one repository, not started in the other.
#[test]
fn triage_shows_where_each_backport_stands() {
    use portcullis::triage::app::{App, View};
    use portcullis::triage::data;
    use portcullis_testkit::github_server::{seed_issue, Config, GithubServer};
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    let (env, _, _, _repos) = two_repos();
    bare_origin(&env, "pkg");
    let at = chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap();
    let server = GithubServer::start(
        Config::default(),
        vec![seed_issue(
            "lsst/pkg",
            1,
            "An issue",
            &[(at, "alice", "labeled", "bug")],
            None,
        )],
        0,
    )
    .unwrap();
    // The token in a credentials file, which the screen (in this process) reads too.
    let creds = env.write("credentials.toml", "[github]\ntoken = \"test-token\"\n");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let config = env.path().join("portcullis.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!(
            "credentials = \"credentials.toml\"\n{text}\n[github]\nurl = \"{}\"\nrepos = [\"lsst/pkg\"]\nmax_retries = 1\ntimeout_seconds = 5\n",
            server.url()
        ),
    )
    .unwrap();
    let run = env.run(&["backport", "DM-100", "--pr", "--repo", "pkg"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    server.set_check("lsst/pkg", BRANCH, "success");

    let ws = env.workspace();
    let facts = data::git_facts(&ws, "v23", &[]);
    assert_eq!(facts.error, None);
    let state = |repo: &str| {
        facts
            .backports
            .get(&("DM-100".to_string(), repo.to_string()))
            .cloned()
    };
    assert_eq!(
        state("pkg").as_deref(),
        Some("pull request lsst/pkg#2 (checks: success)")
    );
    assert_eq!(state("io").as_deref(), Some("not started"));
    // DM-101 is approved and not landed too, and not started anywhere.
    assert_eq!(
        facts
            .backports
            .get(&("DM-101".to_string(), "pkg".to_string()))
            .map(String::as_str),
        Some("not started")
    );
    // The same words as `portcullis backports`.
    let list = env.run(&["backports"]);
    list.ok();
    assert!(
        list.stdout
            .contains("pull request lsst/pkg#2 (checks: success)"),
        "{}",
        list.stdout
    );

    // On the screen.
    let mut ledger = ws.open_ledger().unwrap();
    let attendees = ["Mara Lindqvist", "tokafor", "Priya Raman"].map(String::from);
    let (m, _) = portcullis_ops::meeting::open(
        &mut ledger,
        &ws.policy,
        "v23",
        chrono::Utc::now().date_naive(),
        &attendees,
        "Mara Lindqvist",
    )
    .unwrap();
    let snap = data::load(&ledger, &ws.policy, &m).unwrap();
    let mut app = App::new(snap, "Mara Lindqvist".into(), false, false);
    app.git = facts;
    app.git_ready = true;
    app.view = View::NotLanded;
    let mut t = Terminal::new(TestBackend::new(160, 24)).unwrap();
    t.draw(|f| portcullis::triage::ui::draw(f, &mut app))
        .unwrap();
    let buf = t.backend().buffer().clone();
    let rows: Vec<String> = (0..24)
        .map(|y| (0..160).map(|x| buf[(x, y)].symbol()).collect::<String>())
        .collect();
    let row = |repo: &str| {
        rows.iter()
            .find(|r| r.starts_with("DM-100") && r.contains(&format!(" {repo} ")))
            .unwrap_or_else(|| panic!("no DM-100 {repo} row in\n{}", rows.join("\n")))
            .clone()
    };
    assert!(
        row("pkg").contains("pull request lsst/pkg#2 (checks: success)"),
        "{}",
        row("pkg")
    );
    assert!(row("io").contains("not started"), "{}", row("io"));
}

/// The approval revoked while a run is between repositories (the failpoint pauses it after the
/// first one is recorded): the first repository keeps its branch, the next is not picked, and
/// once approved again a rerun picks only what is missing.
#[test]
fn approval_revoked_mid_run_stops_before_the_next_repository() {
    let (env, _, _, _repos) = two_repos();
    let marker = env.path().join("backport-paused");
    let mut cmd = env.command();
    cmd.args(["backport", "DM-100", "--format", "json"])
        .env("PORTCULLIS_FAILPOINT", "backport.pause_after_repo")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !marker.exists() {
        assert!(std::time::Instant::now() < until, "the run never paused");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Mid-run: pkg is picked and recorded, io not yet.
    assert!(branch_tip(&repo_path(&env, "pkg"), BRANCH).is_some());
    assert!(branch_tip(&repo_path(&env, "io"), BRANCH).is_none());
    let run = env.run(&["decide", "revoke", "DM-100", "--note", "Breaks the coadd"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    std::fs::remove_file(&marker).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(outcome(&v, "pkg")["outcome"], "picked");
    let io = outcome(&v, "io");
    assert_eq!(io["outcome"], "refused", "{io}");
    assert!(io["reason"].as_str().unwrap().contains("withdrawn"), "{io}");
    assert!(branch_tip(&repo_path(&env, "io"), BRANCH).is_none());
    assert_eq!(events(&env, "backport.picked").len(), 1);

    // Approved again: a rerun picks io only; pkg's branch and record stay as they were.
    let pkg_tip = branch_tip(&repo_path(&env, "pkg"), BRANCH);
    let run = env.run(&["decide", "approve", "DM-100", "--note", "Fixed the coadd"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let (run, v) = backport(&env, &["DM-100"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(outcome(&v, "pkg")["outcome"], "up_to_date");
    assert_eq!(outcome(&v, "io")["outcome"], "picked");
    assert_eq!(branch_tip(&repo_path(&env, "pkg"), BRANCH), pkg_tip);
    let picked = events(&env, "backport.picked");
    assert_eq!(picked.len(), 2, "one per repository");
    assert!(!marker.exists());
}

/// A pull request for the ticket branch that is already open (opened by hand, or by a run
/// stopped before it recorded it): `--pr` opens none, records the one it found once, and
/// `backports` shows it.
#[test]
fn pr_already_open_is_recorded_once_and_not_opened_again() {
    let (env, _, _, _repos) = two_repos();
    bare_origin(&env, "pkg");
    let server = crate::backport_github::github(&env, &["lsst/pkg"]);
    let token = [("PORTCULLIS_GITHUB_TOKEN", "test-token")];
    let run = env.run(&["backport", "DM-100", "--push", "--repo", "pkg"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    // Opened by hand on GitHub.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = rt.block_on(async {
        reqwest::Client::new()
            .post(format!("{}/repos/lsst/pkg/pulls", server.url()))
            .header("Authorization", "token test-token")
            .header("User-Agent", "portcullis-tests")
            .json(&serde_json::json!({"title": "By hand", "head": BRANCH, "base": RELEASE}))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert!(status.is_success(), "{status}");
    assert!(events(&env, "backport.pr_opened").is_empty());

    let args = [
        "backport", "DM-100", "--pr", "--repo", "pkg", "--format", "json",
    ];
    for _ in 0..2 {
        let run = env.run_env(&args, &token);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        let v: Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(v["pull_requests"][0]["number"], 2, "{v}");
        assert_eq!(v["pull_requests"][0]["existed"], true, "{v}");
    }
    assert!(server.issue("lsst/pkg", 3).is_none(), "none opened");
    assert_eq!(server.issue("lsst/pkg", 2).unwrap().title, "By hand");
    let opened = events(&env, "backport.pr_opened");
    assert_eq!(opened.len(), 1, "recorded once");
    assert_eq!(opened[0].payload["number"], 2);
    assert_eq!(opened[0].payload["existed"], true);
    let list = env.run(&["backports", "--repo", "pkg"]);
    assert!(
        list.stdout.contains("pull request lsst/pkg#2"),
        "{}",
        list.stdout
    );
}

/// `dry_runs`: several tickets tried from one scan of the line, each with its picks in memory;
/// nothing is written or recorded.
#[test]
fn dry_runs_of_several_tickets_write_nothing() {
    use portcullis_ops::backport::dry_runs;

    let (env, _, _, _repos) = two_repos();
    let ws = env.workspace();
    let before = env.ledger_fingerprint();
    let refs_before = refs(&repo_path(&env, "pkg"));
    let outs = dry_runs(&ws, None, &["DM-100".into(), "DM-101".into()], "dev").unwrap();
    assert_eq!(outs.len(), 2);
    let v = serde_json::to_value(&outs).unwrap();
    assert_eq!(v[0]["plan"]["key"], "DM-100");
    assert_eq!(v[0]["dry_run"], true);
    assert_eq!(outcome(&v[0], "pkg")["picks"].as_array().unwrap().len(), 2);
    assert_eq!(outcome(&v[0], "io")["outcome"], "picked");
    assert_eq!(v[1]["plan"]["key"], "DM-101");
    assert_eq!(outcome(&v[1], "pkg")["picks"].as_array().unwrap().len(), 1);
    assert_eq!(env.ledger_fingerprint(), before);
    assert_eq!(refs(&repo_path(&env, "pkg")), refs_before);
    // A key that is not a ticket key is refused before anything is scanned.
    assert!(dry_runs(&ws, None, &["nonsense".into()], "dev").is_err());
}
