//! Run the GitHub-compatible test server on its own, e.g. to point `portcullis`, octocrab or
//! curl at it.
//!
//!     cargo run --example github_server -- --port 8081 --seed issues.json --token s3cret
//!     curl -H 'Authorization: Bearer s3cret' 'localhost:8081/repos/acme/widgets/issues?state=all'
//!
//! The seed file holds issues as a JSON array, `{"issues": [...]}` or one issue, in the shapes
//! the issues API serves, with `"repository": "owner/name"` (or a `repository_url`), and
//! optionally `"timeline"`, `"pull"` and `"commits"` (see `portcullis_testkit::github_server`).
//! Without `--seed` a handful of demo issues in `acme/widgets` is served. Faults, the clock and
//! human label edits are driven over HTTP under `/_test/`, for example:
//!
//!     curl -X POST localhost:8081/_test/faults -d '{"path_prefix":"/repos/","times":2,
//!          "fault":{"kind":"SecondaryRateLimit","status":429,"retry_after_secs":5}}'
//!     curl -X POST localhost:8081/_test/edit -d '{"repo":"acme/widgets","number":101,
//!          "user":"carol","add":["backport-approved"]}'
//!
//! `--git lsst/pkg=remotes/pkg.git` hosts a bare repository (created when missing) as the git
//! remote of `lsst/pkg`: `git clone http://127.0.0.1:8081/lsst/pkg.git`; pushes take basic auth
//! with a token as the password; merging a pull request there makes a real merge commit.
//!
//! Runs until Ctrl-C.

use std::path::PathBuf;

use anyhow::Context as _;
use chrono::{DateTime, TimeZone, Utc};
use clap::Parser;
use portcullis_testkit::github_server::{
    seed_issue, seed_issues_from_json, CommitSeed, Config, GithubServer, PrSeed, User,
};

/// A GitHub-compatible HTTP test server.
#[derive(Debug, Parser)]
#[command(name = "github_server")]
struct Args {
    /// Port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Seed issues: a JSON array of issues, `{"issues": [...]}`, or one issue.
    #[arg(long, value_name = "FILE")]
    seed: Option<PathBuf>,
    /// An accepted token (repeatable; `LOGIN:TOKEN` also names the account). Default:
    /// `test-token` for `portcullis-bot`.
    #[arg(long = "token", value_name = "T")]
    tokens: Vec<String>,
    /// Requests per token per window.
    #[arg(long, value_name = "N", default_value_t = 5000)]
    rate_limit: u32,
    /// The rate-limit window, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    rate_window: u64,
    /// Host a bare repository as a repository's git remote: `OWNER/NAME=PATH`
    /// (repeatable).
    #[arg(long = "git", value_name = "OWNER/NAME=PATH")]
    git: Vec<String>,
}

fn parse_token(s: &str, index: usize) -> User {
    match s.split_once(':') {
        Some((login, token)) if !login.is_empty() && !token.is_empty() => User::new(login, token),
        _ if index == 0 => User {
            token: s.to_string(),
            ..User::default()
        },
        _ => User::new(&format!("user{}", index + 1), s),
    }
}

/// A few issues to play with: a requested backport, an approved one, a merged pull request.
fn demo_issues() -> Vec<serde_json::Value> {
    let t = |day: u32, hour: u32| -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0)
            .single()
            .unwrap_or_default()
    };
    let repo = "acme/widgets";
    vec![
        seed_issue(
            repo,
            101,
            "Fix crash in the ingest pipeline",
            &[(t(2, 9), "alice", "labeled", "backport-v23")],
            None,
        ),
        seed_issue(
            repo,
            102,
            "Backport the schema migration fix",
            &[
                (t(3, 10), "bob", "labeled", "backport-v23"),
                (t(3, 12), "carol", "labeled", "backport-approved"),
            ],
            None,
        ),
        seed_issue(
            repo,
            103,
            "[v23] Fix crash in the ingest pipeline",
            &[
                (t(4, 8), "alice", "labeled", "backport-v23"),
                (t(5, 8), "carol", "labeled", "backport-approved"),
            ],
            Some(PrSeed {
                merge_commit_sha: Some("5e1f3b0c9a7d2e4f6a8b0c1d2e3f4a5b6c7d8e9f".into()),
                head_ref: "backport-101-v23".into(),
                base_ref: "release/v23.0".into(),
                commits: vec![CommitSeed::new(
                    "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d",
                    "Fix crash in the ingest pipeline\n\n(cherry picked from commit 1234567)",
                )],
                merged_at: Some(t(6, 15)),
            }),
        ),
        seed_issue(
            repo,
            104,
            "An unrelated ticket",
            &[(t(7, 11), "dave", "labeled", "docs")],
            None,
        ),
    ]
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut config = Config {
        rate_limit: args.rate_limit,
        rate_window: std::time::Duration::from_secs(args.rate_window.max(1)),
        ..Config::default()
    };
    if !args.tokens.is_empty() {
        config.users = args
            .tokens
            .iter()
            .enumerate()
            .map(|(i, t)| parse_token(t, i))
            .collect();
    }
    let seeds = match &args.seed {
        Some(path) => {
            let text =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let doc: serde_json::Value = serde_json::from_slice(&text)
                .with_context(|| format!("{} is not JSON", path.display()))?;
            seed_issues_from_json(doc).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => demo_issues(),
    };
    let count = seeds.len();
    let users: Vec<String> = config
        .users
        .iter()
        .map(|u| format!("{} ({})", u.login, u.token))
        .collect();
    let server = GithubServer::start(config, seeds, args.port)
        .with_context(|| format!("starting the server on port {}", args.port))?;
    println!(
        "github test server listening on {} with {count} issues; tokens: {}",
        server.url(),
        users.join(", ")
    );
    for spec in &args.git {
        let (repo, path) = spec.split_once('=').with_context(|| {
            format!("--git {spec}: expected OWNER/NAME=PATH, e.g. lsst/pkg=remotes/pkg.git")
        })?;
        let url = server
            .try_host_git(repo, std::path::Path::new(path))
            .map_err(|e| anyhow::anyhow!("--git {spec}: {e}"))?;
        println!("git remote of {repo}: {url}");
    }

    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(tokio::signal::ctrl_c())?;
    server.shutdown();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert_eq!(parse_token("s3cret", 0).login, "portcullis-bot");
        assert_eq!(parse_token("s3cret", 0).token, "s3cret");
        let u = parse_token("alice:abc", 1);
        assert_eq!((u.login.as_str(), u.token.as_str()), ("alice", "abc"));
        assert_eq!(parse_token("xyz", 2).login, "user3");
    }

    #[test]
    fn demo_seeds_load() {
        let server = GithubServer::start(Config::default(), demo_issues(), 0).expect("start");
        assert!(server.issue("acme/widgets", 103).is_some_and(|i| i.is_pr));
    }
}
