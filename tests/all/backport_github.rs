//! Backports against the GitHub test server as a whole: a clone whose `origin` is the server's
//! git remote over HTTP, a pull request merged for real on GitHub and seen by `backports` and
//! `verify`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::backport::{events, git, repo_path, two_repos, BRANCH};
use crate::harness::TestEnv;
use portcullis_git::campaign::{MAIN, RELEASE};
use portcullis_testkit::github_server::{seed_issue, Config, GithubServer};

const TOKEN: &str = "test-token";

/// A server with issue lsst/pkg#1, named in the workspace's `[github]` table.
pub(crate) fn github(env: &TestEnv, repos: &[&str]) -> GithubServer {
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
    let list: Vec<String> = repos.iter().map(|r| format!("\"{r}\"")).collect();
    let config = env.path().join("portcullis.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!(
            "{text}\n[github]\nurl = \"{}\"\nrepos = [{}]\nmax_retries = 1\ntimeout_seconds = 5\n",
            server.url(),
            list.join(", ")
        ),
    )
    .unwrap();
    server
}

/// The clone `name` with `origin` at the server's git remote of `github_repo` (hosted in a bare
/// repository), its token given to git the way a user would: a credential helper configured in
/// the clone. Its main and release branches are pushed there, as on GitHub.
fn hosted_origin(env: &TestEnv, server: &GithubServer, name: &str, github_repo: &str) -> PathBuf {
    let bare = env.path().join("github").join(format!("{name}.git"));
    let url = server.host_git(github_repo, &bare);
    let clone = repo_path(env, name);
    let store = env.path().join("git-credentials");
    let host = server.url().replace("http://", "");
    std::fs::write(&store, format!("http://x-access-token:{TOKEN}@{host}\n")).unwrap();
    let helper = format!("store --file={}", store.display());
    git(&clone, &["remote", "add", "origin", &url]);
    git(&clone, &["config", "credential.helper", &helper]);
    git(&clone, &["push", "--quiet", "origin", MAIN, RELEASE]);
    bare
}

fn tip(repo: &Path, branch: &str) -> Option<String> {
    git2::Repository::open(repo)
        .ok()?
        .refname_to_id(&match branch.starts_with("refs/") {
            true => branch.to_string(),
            false => format!("refs/heads/{branch}"),
        })
        .ok()
        .map(|o| o.to_string())
}

/// Everything portcullis recorded, as text.
fn ledger_text(env: &TestEnv) -> String {
    let mut all = String::new();
    env.ledger()
        .for_each_event(|e| {
            all.push_str(&format!("{e:?}\n"));
            Ok(())
        })
        .unwrap();
    all
}

/// `backport --push --pr` pushes over HTTP (git's credential helper answering the server's
/// 401) and opens the pull request; `backports` shows its checks while it is open, then
/// `merged` once it is merged on GitHub, recording `backport.pr_merged` once (a rerun adds
/// nothing); once the clone has fetched the merge GitHub made, `verify` sees the ticket landed
/// through that pull request. The token appears nowhere in portcullis's output or ledger.
#[test]
fn backports_shows_a_pull_requests_checks_and_records_its_merge_once() {
    let (env, _, _, _repos) = two_repos();
    let server = github(&env, &["lsst/pkg"]);
    let bare = hosted_origin(&env, &server, "pkg", "lsst/pkg");
    let clone = repo_path(&env, "pkg");
    let token = [("PORTCULLIS_GITHUB_TOKEN", TOKEN)];
    let mut said = String::new();

    let run = env.run_env(
        &[
            "backport", "DM-100", "--push", "--pr", "--repo", "pkg", "--format", "json",
        ],
        &token,
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    said.push_str(&run.stdout);
    said.push_str(&run.stderr);
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["pushes"][0]["pushed"], true, "{v}");
    assert_eq!(v["pushes"][0]["remote"], "origin", "{v}");
    assert_eq!(v["pull_requests"][0]["number"], 2, "{v}");
    // Pushed over HTTP: the server's repository has the branch, and the pull request its tip.
    assert_eq!(tip(&bare, BRANCH), tip(&clone, BRANCH));
    assert!(tip(&bare, BRANCH).is_some());
    let pushes: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.path_and_query.contains("/lsst/pkg.git/git-receive-pack"))
        .collect();
    assert!(
        pushes.iter().any(|r| r.status == 200),
        "{:?}",
        server.requests()
    );

    server.set_check("lsst/pkg", BRANCH, "success");
    let list = env.run_env(&["backports", "--repo", "pkg"], &token);
    list.ok();
    said.push_str(&list.stdout);
    assert!(
        list.stdout
            .contains("pull request lsst/pkg#2 (checks: success)"),
        "{}",
        list.stdout
    );
    assert!(events(&env, "backport.pr_merged").is_empty());

    // Merged on GitHub: a real merge commit on the server's release branch.
    let before = tip(&bare, RELEASE);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (status, merged): (_, Value) = rt.block_on(async {
        let resp = reqwest::Client::new()
            .put(format!("{}/repos/lsst/pkg/pulls/2/merge", server.url()))
            .header("Authorization", format!("token {TOKEN}"))
            .header("User-Agent", "portcullis-tests")
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        (resp.status(), resp.json().await.unwrap())
    });
    assert!(status.is_success(), "{status}");
    let merge_sha = merged["sha"].as_str().unwrap().to_string();
    assert_eq!(tip(&bare, RELEASE), Some(merge_sha.clone()));
    assert_ne!(tip(&bare, RELEASE), before);
    for _ in 0..2 {
        let list = env.run_env(&["backports", "--repo", "pkg", "--format", "json"], &token);
        list.ok();
        said.push_str(&list.stdout);
        let v: Value = serde_json::from_str(&list.stdout).unwrap();
        let r = &v["tickets"][0]["repos"][0];
        assert_eq!(r["state"], "merged", "{v}");
        assert_eq!(r["pull_request"], "lsst/pkg#2", "{v}");
    }
    let recorded = events(&env, "backport.pr_merged");
    assert_eq!(recorded.len(), 1, "recorded once");
    assert_eq!(recorded[0].payload["number"], 2);
    assert_eq!(recorded[0].payload["github_repo"], "lsst/pkg");

    // Until the clone has the merge, verify sees no landing and names no pull request.
    let (_, v) = crate::verify::verify(&env, &["--repo", "pkg"]);
    assert!(v.get("pull_requests").is_none(), "{}", v["pull_requests"]);
    // `verify --fetch` fetches what GitHub merged. The local release branch is left where it
    // was (never moved behind the user's back) and the scan reads `origin`'s, which is ahead
    // of it (regression: the stale local branch hid the merge).
    let local_before = tip(&clone, RELEASE);
    let (run, v) = crate::verify::verify(&env, &["--repo", "pkg", "--fetch"]);
    said.push_str(&run.stdout);
    assert_eq!(tip(&clone, RELEASE), local_before);
    assert_eq!(
        tip(&clone, &format!("refs/remotes/origin/{RELEASE}")),
        Some(merge_sha.clone())
    );
    let t = v["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == "DM-100")
        .unwrap();
    assert_eq!(t["repos"][0]["status"], "landed", "{t}");
    let prs = v["pull_requests"].as_array().unwrap();
    assert_eq!(prs.len(), 1, "{prs:?}");
    assert_eq!(prs[0]["ticket"], "DM-100");
    assert_eq!(prs[0]["repo"], "pkg");
    assert_eq!(prs[0]["pull_request"], "lsst/pkg#2");
    assert_eq!(prs[0]["branch"], BRANCH);
    // The report is written in parts (a remembered one is kept as its verification's JSON):
    // the same text as the whole outcome's, pull requests and all.
    {
        use portcullis_ops::verify::{render_json, verify, Quiet, VerifyOptions};
        let opts = VerifyOptions {
            repos: vec!["pkg".into()],
            ..Default::default()
        };
        let out = verify(&env.workspace(), &opts, &Quiet).unwrap();
        assert!(!out.pull_requests.is_empty());
        assert_eq!(
            render_json(&out),
            serde_json::to_string_pretty(&out).unwrap()
        );
    }
    assert_eq!(prs[0]["merged"], true);
    assert_eq!(prs[0]["release_commits"].as_array().unwrap().len(), 2);
    let text = env.run(&["verify", "--repo", "pkg"]);
    said.push_str(&text.stdout);
    assert!(
        text.stdout
            .contains("pkg landed (exact) through lsst/pkg#2"),
        "{}",
        text.stdout
    );

    // The token was git's and the environment's business only.
    assert!(!said.contains(TOKEN), "{said}");
    let ledger = ledger_text(&env);
    assert!(ledger.contains("backport.pushed"), "{ledger}");
    assert!(!ledger.contains(TOKEN), "{ledger}");
}

/// A push the server refuses (no credentials in the clone) is reported per repository with
/// what git said, and no pull request is opened for the branch GitHub does not have.
#[test]
fn a_push_refused_for_want_of_credentials_is_reported_and_opens_no_pull_request() {
    let (env, _, _, _repos) = two_repos();
    let server = github(&env, &["lsst/pkg"]);
    hosted_origin(&env, &server, "pkg", "lsst/pkg");
    let clone = repo_path(&env, "pkg");
    // The token as the clone's remote URL would carry it, then taken away.
    let url = server
        .git_url("lsst/pkg")
        .replace("http://", "http://x-access-token:wrong-token@");
    git(&clone, &["remote", "set-url", "origin", &url]);
    git(&clone, &["config", "--unset", "credential.helper"]);
    let token = [("PORTCULLIS_GITHUB_TOKEN", TOKEN)];
    let run = env.run_env(
        &[
            "backport", "DM-100", "--push", "--pr", "--repo", "pkg", "--format", "json",
        ],
        &token,
    );
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    let push = &v["pushes"][0];
    assert_eq!(push["pushed"], false, "{v}");
    let error = push["error"].as_str().unwrap();
    assert!(error.contains("Authentication failed"), "{error}");
    assert!(!run.stdout.contains("wrong-token"), "{}", run.stdout);
    assert!(!run.stderr.contains("wrong-token"), "{}", run.stderr);
    assert!(!ledger_text(&env).contains("wrong-token"));
    assert!(events(&env, "backport.pushed").is_empty());
    assert!(
        v["pull_requests"].as_array().is_none_or(Vec::is_empty),
        "{v}"
    );
    assert!(server.issue("lsst/pkg", 2).is_none(), "no pull request");
}

/// A project tracked in GitHub issues only (keys like `pkg#5`, no `[jira]`): `--pr` links the
/// pull request to the ticket with one comment on its issue, not repeated on a rerun.
#[test]
fn a_github_issue_ticket_gets_one_comment_naming_its_pull_request() {
    let env = crate::verify::workspace(&["pkg"], "");
    let policy = env.path().join("policy.toml");
    let text = std::fs::read_to_string(&policy).unwrap();
    let text = text.replace(
        r"ticket_key = 'DM-\d+'",
        r#"ticket_key = "[A-Za-z0-9_.-]+#[0-9]+""#,
    );
    assert!(text.contains("ticket_key = \"[A-Za-z0-9"), "{text}");
    std::fs::write(&policy, text).unwrap();
    let mut pkg = crate::verify::repo(&env, "pkg");
    pkg.fix_on_main(
        "pkg#5",
        &[(
            crate::verify::CORE,
            10,
            "fixed line 10",
            "Fix the flux scale",
        )],
    )
    .unwrap();
    pkg.finish().unwrap();
    crate::verify::tickets(&env, &[("pkg#5", "approved")]);
    let server = github(&env, &["lsst/pkg"]);
    let at = chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap();
    server.add_issues(vec![seed_issue(
        "lsst/pkg",
        5,
        "The flux scale is off",
        &[(at, "alice", "labeled", "backport-v23")],
        None,
    )]);
    hosted_origin(&env, &server, "pkg", "lsst/pkg");
    let token = [("PORTCULLIS_GITHUB_TOKEN", TOKEN)];
    let args = ["backport", "pkg#5", "--push", "--pr", "--format", "json"];
    for round in 0..2 {
        let run = env.run_env(&args, &token);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        let v: Value = serde_json::from_str(&run.stdout).unwrap();
        let pr = &v["pull_requests"][0];
        assert_eq!(pr["number"], 6, "{v}");
        assert_eq!(pr["existed"], round == 1, "{v}");
        assert_eq!(pr["linked"], true, "{v}");
        let view = server.issue("lsst/pkg", 5).unwrap();
        assert_eq!(view.comments.len(), 1, "{:?}", view.comments);
        let comment = &view.comments[0];
        assert!(
            comment.starts_with("Backport to v23 (v23.0.x): lsst/pkg#6 (http://"),
            "{comment}"
        );
        assert!(comment.contains("/lsst/pkg/pull/6)"), "{comment}");
    }
    assert_eq!(events(&env, "backport.pr_opened").len(), 1);
    let text = env.run_env(&["backport", "pkg#5", "--push", "--pr"], &token);
    assert!(
        text.stdout.contains("pull request lsst/pkg#6 already open")
            && text.stdout.contains(", commented on lsst/pkg#5"),
        "{}",
        text.stdout
    );
    assert_eq!(server.issue("lsst/pkg", 5).unwrap().comments.len(), 1);
}
