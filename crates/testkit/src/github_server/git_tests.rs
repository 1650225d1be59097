//! The hosted git remote, with the real `git` client: clone and push over HTTP with a token,
//! pull requests that need their branch, and real merges (and refused conflicting ones).

use std::path::Path;
use std::process::{Command, Output};

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::*;

const REPO: &str = "acme/widgets";

fn run_git(dir: &Path, args: &[&str]) -> Output {
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.org")
        .env("GIT_COMMITTER_NAME", "Dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.org")
        .output()
        .expect("git runs")
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = run_git(dir, args);
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `Authorization: Basic …` with `token` as the password, as a credential helper sends it.
fn auth_header(token: &str) -> String {
    let b = base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"));
    format!("http.extraHeader=Authorization: Basic {b}")
}

/// A working repository with `a.txt` on `main`.
fn work(dir: &Path) -> std::path::PathBuf {
    let w = dir.join("work");
    std::fs::create_dir_all(&w).unwrap();
    git(&w, &["init", "--quiet", "--initial-branch=main"]);
    std::fs::write(w.join("a.txt"), "one\ntwo\nthree\n").unwrap();
    git(&w, &["add", "a.txt"]);
    git(&w, &["commit", "--quiet", "-m", "Start"]);
    w
}

/// A branch `name` from `main` whose commit writes `content` to `file`.
fn branch(w: &Path, name: &str, file: &str, content: &str) -> String {
    git(w, &["checkout", "--quiet", "-b", name, "main"]);
    std::fs::write(w.join(file), content).unwrap();
    git(w, &["add", file]);
    git(
        w,
        &[
            "commit",
            "--quiet",
            "-m",
            &format!("Change {file} on {name}"),
        ],
    );
    let tip = git(w, &["rev-parse", "HEAD"]);
    git(w, &["checkout", "--quiet", "main"]);
    tip
}

fn tip(bare: &Path, branch: &str) -> Option<String> {
    git_http::branch_tip(bare, branch)
}

fn api(server: &GithubServer, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .request(method, format!("{}{path}", server.url()))
        .bearer_auth("test-token")
        .header("user-agent", "t")
}

/// The JSON of `GET path`.
async fn get_json(server: &GithubServer, path: &str) -> Value {
    let resp = api(server, reqwest::Method::GET, path)
        .send()
        .await
        .unwrap();
    resp.json().await.unwrap()
}

#[tokio::test]
async fn hosted_repository_is_cloned_and_pushed_over_http_with_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        rate_limit: 3,
        ..Config::default()
    };
    let server = GithubServer::start(config, Vec::new(), 0).unwrap();
    let bare = dir.path().join("remote").join("widgets.git");
    let url = server.host_git(REPO, &bare);
    assert_eq!(url, format!("{}/{REPO}.git", server.url()));
    let w = work(dir.path());
    let main = git(&w, &["rev-parse", "HEAD"]);

    // Without credentials, and with a wrong token, the push is refused and changes nothing.
    let out = run_git(&w, &["push", "--quiet", &url, "main"]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(said.contains("could not read Username"), "{said}");
    let wrong = url.replace("http://", "http://x-access-token:wrong@");
    let out = run_git(&w, &["push", "--quiet", &wrong, "main"]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("Authentication failed"), "{said}");
    assert_eq!(tip(&bare, "main"), None);
    let refused = server
        .requests()
        .into_iter()
        .filter(|r| r.status == 401)
        .count();
    assert!(refused >= 2, "{:?}", server.requests());

    // With the token it goes through.
    let auth = auth_header("test-token");
    git(&w, &["-c", &auth, "push", "--quiet", &url, "main"]);
    assert_eq!(tip(&bare, "main"), Some(main.clone()));

    // Anyone can clone it (no credentials), over HTTP.
    let copy = dir.path().join("copy");
    git(
        dir.path(),
        &["clone", "--quiet", &url, copy.to_str().unwrap()],
    );
    assert_eq!(git(&copy, &["rev-parse", "HEAD"]), main);

    // The repository names it as its clone URL; git traffic spent none of the API budget.
    let resp = api(&server, reqwest::Method::GET, &format!("/repos/{REPO}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["x-ratelimit-used"].to_str().unwrap(),
        "1",
        "only this API call counts"
    );
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["clone_url"], url);
}

#[tokio::test]
async fn pull_requests_need_their_branch_and_merge_for_real_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let server = GithubServer::start(Config::default(), Vec::new(), 0).unwrap();
    let bare = dir.path().join("widgets.git");
    let url = server.host_git(REPO, &bare);
    let w = work(dir.path());
    let start = git(&w, &["rev-parse", "HEAD"]);
    let feature = branch(&w, "feature", "b.txt", "new file\n");
    let first = branch(&w, "first", "a.txt", "one\nTWO\nthree\n");
    branch(&w, "clash", "a.txt", "one\n2\nthree\n");
    let auth = auth_header("test-token");
    git(
        &w,
        &[
            "-c", &auth, "push", "--quiet", &url, "main", "feature", "first", "clash",
        ],
    );
    let pulls = format!("/repos/{REPO}/pulls");
    let open = |head: &str| {
        api(&server, reqwest::Method::POST, &pulls)
            .json(&json!({"title": format!("Take {head}"), "head": head, "base": "main"}))
            .send()
    };

    // A branch the repository does not have: 422 on `head`, as GitHub answers.
    let resp = open("acme:nowhere").await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["message"], "Validation Failed");
    assert_eq!(v["errors"][0]["field"], "head", "{v}");
    assert_eq!(v["errors"][0]["code"], "invalid", "{v}");

    let resp = open("acme:feature").await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let pr: Value = resp.json().await.unwrap();
    assert_eq!(pr["head"]["sha"], feature);
    assert_eq!(pr["base"]["sha"], start);
    let n = pr["number"].as_u64().unwrap();
    let commits = get_json(&server, &format!("{pulls}/{n}/commits")).await;
    assert_eq!(commits.as_array().unwrap().len(), 1, "{commits}");
    assert_eq!(commits[0]["sha"], feature);

    // The merge is a real merge commit on main, as GitHub's button makes it.
    let merge = |n: u64| {
        api(&server, reqwest::Method::PUT, &format!("{pulls}/{n}/merge"))
            .json(&json!({}))
            .send()
    };
    let resp = merge(n).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let v: Value = resp.json().await.unwrap();
    let sha = v["sha"].as_str().unwrap().to_string();
    assert_eq!(tip(&bare, "main"), Some(sha.clone()));
    let repo = git2::Repository::open_bare(&bare).unwrap();
    let c = repo
        .find_commit(git2::Oid::from_str(&sha).unwrap())
        .unwrap();
    let parents: Vec<String> = c.parent_ids().map(|p| p.to_string()).collect();
    assert_eq!(parents, vec![start.clone(), feature]);
    assert_eq!(
        c.message().unwrap(),
        "Merge pull request #1 from acme/feature\n\nTake acme:feature"
    );
    assert_eq!(c.committer().name(), Some("GitHub"));
    assert_eq!(c.committer().email(), Some("noreply@github.com"));
    assert_eq!(c.author().name(), Some("portcullis-bot"));
    assert!(c.tree().unwrap().get_name("b.txt").is_some());
    let pr = get_json(&server, &format!("{pulls}/{n}")).await;
    assert_eq!(pr["merged"], true);
    assert_eq!(pr["merge_commit_sha"], sha);
    // Merged already: not again.
    assert_eq!(
        merge(n).await.unwrap().status(),
        StatusCode::METHOD_NOT_ALLOWED
    );

    // Two pull requests that change the same line: the second one conflicts.
    let a: Value = open("first").await.unwrap().json().await.unwrap();
    let b: Value = open("clash").await.unwrap().json().await.unwrap();
    assert_eq!(a["head"]["sha"], first);
    assert_eq!(
        merge(a["number"].as_u64().unwrap()).await.unwrap().status(),
        StatusCode::OK
    );
    let before = tip(&bare, "main");
    let clash = b["number"].as_u64().unwrap();
    let resp = merge(clash).await.unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["message"], "Pull Request is not mergeable");
    assert_eq!(
        tip(&bare, "main"),
        before,
        "a refused merge changes nothing"
    );
    let view = server.issue(REPO, clash).unwrap();
    assert_eq!(view.state, "open");
}
