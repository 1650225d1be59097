//! Issue 17, stage 2: what a fresh workspace learns from elsewhere. On GitHub, the issues whose
//! comments carry decision records (found by the issue search, labels or not); from git, the
//! releases cut on another machine.

use portcullis_testkit::github_server::GithubServer;
use serde_json::Value;

use crate::github::{campaign, config, run, sync, workspace};
use crate::harness::TestEnv;

/// A rejection removes the request label, so only the search for records can find the issue:
/// a workspace that has never synced sees it rejected, with its reason, after its first sync.
#[test]
fn issue_17_a_fresh_workspace_finds_a_rejected_github_issue_by_its_record() {
    let server = GithubServer::start(config(), campaign(), 0).unwrap();
    let writers = "writers = [\"portcullis-bot\"]\n";
    let a = workspace(&server, writers);
    sync(&a, &[]);
    a.run(&[
        "decide",
        "reject",
        "daf_butler#1",
        "--as",
        "mlindqvist",
        "--note",
        "too risky for a patch release",
    ])
    .ok();
    let p = run(&a, &["push"], &[]);
    assert_eq!(p.code, 0, "{}\n{}", p.stdout, p.stderr);

    // Without trusted writers there is no search: the label is gone, so is the issue.
    let blind = workspace(&server, "");
    sync(&blind, &[]);
    let st = blind.run(&["status", "--format", "json"]);
    st.ok();
    assert!(!st.stdout.contains("daf_butler#1\""), "{}", st.stdout);
    assert!(st.stdout.contains("daf_butler#2\""), "{}", st.stdout);

    let fresh = workspace(&server, writers);
    let r = sync(&fresh, &[]);
    assert_eq!(r["records_applied"], 1, "{r}");
    let h = fresh.run(&["history", "daf_butler#1", "--format", "json"]);
    h.ok();
    let v: serde_json::Value = serde_json::from_str(&h.stdout).unwrap();
    let last = v["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|e| e["kind"] == "decision")
        .unwrap_or_else(|| panic!("{v}"))
        .clone();
    assert_eq!(last["effects"][0], "v23: requested → rejected", "{last}");
    assert_eq!(last["note"], "too risky for a patch release", "{last}");
    // The search went over TCP, as GitHub's API serves it.
    let searched = server
        .requests()
        .iter()
        .filter(|r| r.path_and_query.starts_with("/search/issues"))
        .count();
    assert!(searched >= 2, "{searched}");
}

/// A second workspace in `env/b` over the same policy and repositories (a machine whose clones
/// have fetched the tags), with its own ledger and the same tickets.
fn second_workspace(env: &TestEnv, extra: &str) -> &'static str {
    workspace_in(env, "b", extra)
}

/// Another workspace in `dir`, like [`second_workspace`].
fn workspace_in(env: &TestEnv, dir: &'static str, extra: &str) -> &'static str {
    env.run(&[
        "init",
        dir,
        "--from-policy",
        "v23",
        "--user",
        "portcullis bot",
    ])
    .ok();
    env.write(
        &format!("{dir}/portcullis.toml"),
        &format!(
            "policy = \"../policy.toml\"\nledger = \"ledger.db\"\nuser = \"portcullis bot\"\n{extra}"
        ),
    );
    env.run_in(dir, &["sync", "--from-file", "../tickets.json"])
        .ok();
    dir
}

fn releases_json(env: &TestEnv, dir: &str) -> Vec<Value> {
    let r = env.run_in(dir, &["releases", "--format", "json"]);
    r.ok();
    let v: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout));
    let mut list = v
        .as_array()
        .or_else(|| v["releases"].as_array())
        .unwrap_or_else(|| panic!("{v}"))
        .clone();
    for r in &mut list {
        r.as_object_mut().unwrap().remove("seq");
    }
    list
}

fn verify_in(env: &TestEnv, dir: &str) -> Value {
    verify_in_with(env, dir, &[])
}

/// `verify --format json` with `args` in `dir`.
fn verify_in_with(env: &TestEnv, dir: &str, args: &[&str]) -> Value {
    let r = env.run_in(dir, &[&["verify", "--format", "json"], args].concat());
    assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

fn git(dir: &std::path::Path, args: &[&str]) {
    git_with(dir, &[], args);
}

/// `git` in `dir` as the release manager (`-c user.name=…` in `args` overrides it), with the
/// environment `env`; its standard output.
fn git_with(dir: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> String {
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
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Without `[releases]`, a release cut on another machine is learned from its annotated tags:
/// once, with the cut's time, and the gate of the learning workspace counts from it.
#[test]
fn issue_17_a_release_cut_elsewhere_is_learned_from_its_tags() {
    let (env, _a, _b) = crate::release::campaign();
    let b = second_workspace(&env, "");
    let cut = env.run(&["cut", "23.0.1", "--apply", "--format", "json"]);
    assert_eq!(cut.code, 0, "{}", cut.stderr);
    let v = verify_in(&env, b);
    assert_eq!(
        v["recorded"]["releases_learned"][0], "23.0.1",
        "{}",
        v["recorded"]
    );
    // The origin already has it: its verify learns nothing.
    let o = verify_in(&env, ".");
    assert!(
        o["recorded"].get("releases_learned").is_none(),
        "{}",
        o["recorded"]
    );
    assert_eq!(releases_json(&env, ".").len(), 1);
    // Recorded once, at the cut's time, with the tags' repositories and commits.
    let again = verify_in(&env, b);
    assert!(
        again["recorded"].get("releases_learned").is_none(),
        "{}",
        again["recorded"]
    );
    let (mine, theirs) = (releases_json(&env, "."), releases_json(&env, b));
    assert_eq!(theirs.len(), 1, "{theirs:?}");
    assert_eq!(theirs[0]["at"], mine[0]["at"]);
    let pick = |v: &Value| {
        let m = &v["manifest"];
        let repos: Vec<(Value, Value)> = m["repos"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["repo"].clone(), r["commit"].clone()))
            .collect();
        (
            m["tag"].clone(),
            m["build"].clone(),
            m["previous"].clone(),
            repos,
        )
    };
    assert_eq!(pick(&theirs[0]), pick(&mine[0]));
    // The learning workspace's gate counts from 23.0.1.
    let next = env.run_in(b, &["cut", "23.0.2", "--format", "json"]);
    let n: Value =
        serde_json::from_str(&next.stdout).unwrap_or_else(|e| panic!("{e}: {}", next.stdout));
    assert_eq!(n["manifest"]["previous"], "23.0.1", "{n}");
    let again = env.run_in(b, &["cut", "23.0.1", "--format", "json"]);
    assert_ne!(again.code, 0, "{}", again.stdout);
}

/// `verify --repo` scans one repository; learning reads the tags of the others itself, and the
/// release learned is the same as when every repository was scanned (tags read by the scan).
#[test]
fn a_release_is_learned_whole_when_verify_scans_only_one_repository() {
    let (env, _a, _b) = crate::release::campaign();
    let b = second_workspace(&env, "");
    let c = workspace_in(&env, "c", "");
    let cut = env.run(&["cut", "23.0.1", "--apply", "--format", "json"]);
    assert_eq!(cut.code, 0, "{}", cut.stderr);
    let whole = verify_in(&env, b);
    assert_eq!(whole["recorded"]["releases_learned"][0], "23.0.1");
    let one = verify_in_with(&env, c, &["--repo", "pkg"]);
    assert_eq!(one["repositories"].as_array().unwrap().len(), 1, "{one}");
    assert_eq!(
        one["recorded"]["releases_learned"][0], "23.0.1",
        "{}",
        one["recorded"]
    );
    let (from_scans, from_one) = (releases_json(&env, b), releases_json(&env, c));
    assert_eq!(from_one.len(), 1, "{from_one:?}");
    assert_eq!(from_one[0]["manifest"], from_scans[0]["manifest"]);
    assert_eq!(from_one[0]["at"], from_scans[0]["at"]);
    let repos = from_one[0]["manifest"]["repos"].as_array().unwrap().len();
    assert_eq!(repos, 2, "{}", from_one[0]["manifest"]);
}

/// The learned release takes its time and author from the first repository of the policy that
/// has a tagger, whichever repositories `verify` scanned: `--repo other` (the second) learns
/// the same release as a whole verify, although `other` was tagged earlier and by someone else.
#[test]
fn a_learned_release_takes_its_time_in_the_policys_order_of_repositories() {
    let (env, _a, _b) = crate::release::campaign();
    let b = second_workspace(&env, "");
    let c = workspace_in(&env, "c", "");
    let cut = env.run(&["cut", "23.0.1", "--apply", "--format", "json"]);
    assert_eq!(cut.code, 0, "{}", cut.stderr);
    // `other` tagged again, same commit and message, a day earlier by someone else.
    let other = env.path().join("repos/other");
    let message = git_with(
        &other,
        &[],
        &["tag", "-l", "--format=%(contents)", "23.0.1"],
    );
    assert!(message.contains("release from manifest m"), "{message}");
    git_with(
        &other,
        &[("GIT_COMMITTER_DATE", "2022-02-01T09:00:00Z")],
        &[
            "-c",
            "user.name=Early Bird",
            "-c",
            "user.email=eb@example.org",
            "tag",
            "-f",
            "-a",
            "23.0.1",
            "23.0.1^{commit}",
            "-m",
            message.trim(),
        ],
    );
    let whole = verify_in(&env, c);
    assert_eq!(whole["recorded"]["releases_learned"][0], "23.0.1");
    let one = verify_in_with(&env, b, &["--repo", "other"]);
    assert_eq!(one["recorded"]["releases_learned"][0], "23.0.1", "{one}");
    let (from_all, from_other) = (releases_json(&env, c), releases_json(&env, b));
    assert_eq!(from_other[0]["at"], from_all[0]["at"]);
    assert_eq!(from_other[0]["actor"], from_all[0]["actor"]);
    assert_ne!(from_other[0]["actor"], "Early Bird", "{}", from_other[0]);
}

/// With `[releases] repo`, the cut writes its files into that repository; once the release
/// manager commits them, another workspace learns the whole manifest, and `releases` is the
/// same on both. An uncommitted or hand-edited manifest is not learned.
#[test]
fn issue_17_a_published_manifest_makes_releases_identical_across_workspaces() {
    let (env, _a, _b) = crate::release::campaign();
    let published = env.path().join("published");
    std::fs::create_dir_all(&published).unwrap();
    git(&published, &["init", "-q", "-b", "main"]);
    let config = std::fs::read_to_string(env.path().join("portcullis.toml")).unwrap();
    env.write(
        "portcullis.toml",
        &format!("{config}\n[releases]\nrepo = \"published\"\n"),
    );
    let b = second_workspace(&env, "[releases]\nrepo = \"../published\"\n");
    let cut = env.run(&["cut", "23.0.1", "--apply", "--format", "json"]);
    assert_eq!(cut.code, 0, "{}", cut.stderr);
    assert!(published.join("releases/23.0.1/manifest.json").exists());
    // Written, not yet committed: not published.
    let v = verify_in(&env, b);
    assert!(
        v["recorded"].get("releases_learned").is_none(),
        "{}",
        v["recorded"]
    );
    let problems = v["recorded"]["release_problems"].to_string();
    assert!(
        problems.contains("23.0.1 has no published manifest"),
        "{problems}"
    );
    // A hand-edited manifest is refused.
    let file = published.join("releases/23.0.1/manifest.json");
    let good = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, good.replace("Fix for DM-200", "Fix for DM-201")).unwrap();
    git(&published, &["add", "-A"]);
    git(&published, &["commit", "-q", "-m", "23.0.1 (edited)"]);
    let v = verify_in(&env, b);
    assert!(
        v["recorded"].get("releases_learned").is_none(),
        "{}",
        v["recorded"]
    );
    let problems = v["recorded"]["release_problems"].to_string();
    assert!(problems.contains("does not match its hash"), "{problems}");
    std::fs::write(&file, &good).unwrap();
    git(&published, &["commit", "-q", "-am", "Release 23.0.1"]);
    let v = verify_in(&env, b);
    assert_eq!(
        v["recorded"]["releases_learned"][0], "23.0.1",
        "{}",
        v["recorded"]
    );
    assert_eq!(releases_json(&env, b), releases_json(&env, "."));
    let o = verify_in(&env, ".");
    assert!(
        o["recorded"].get("releases_learned").is_none(),
        "{}",
        o["recorded"]
    );
    assert_eq!(releases_json(&env, ".").len(), 1);
}
