//! Run the Jira-compatible test server on its own, e.g. to point `portcullis sync` or curl at it.
//!
//!     cargo run --example jira_server -- --port 8080 --seed export.json
//!     cargo run --example jira_server -- --flavor datacenter --user alice@example.org:secret
//!
//! The seed file holds issues as a search page `{"issues": [...]}` (a saved search response or
//! an export), a JSON array of issues, or one issue. Without `--seed` a handful of demo issues
//! is served. Faults, the clock and human edits are driven over HTTP under `/_test/` (see
//! `portcullis_testkit::jira_server`), for example:
//!
//!     curl -X POST localhost:8080/_test/faults -d '{"path_contains":"/search","times":2,
//!          "fault":{"kind":"RateLimit","status":429,"retry_after_secs":5}}'
//!
//! Runs until Ctrl-C.

use std::path::PathBuf;

use anyhow::{bail, Context as _};
use chrono::{DateTime, Duration, TimeZone, Utc};
use clap::{Parser, ValueEnum};
use portcullis_testkit::jira_server::{
    seed_issue, seed_issues_from_json, Config, JiraServer, User,
};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FlavorArg {
    Cloud,
    #[value(alias = "dc", alias = "data-center")]
    Datacenter,
}

/// A Jira-compatible HTTP test server.
#[derive(Debug, Parser)]
#[command(name = "jira_server")]
struct Args {
    /// Port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Seed issues: a search page `{"issues": [...]}`, an array of issues, or one issue.
    #[arg(long, value_name = "FILE")]
    seed: Option<PathBuf>,
    /// Which Jira to play.
    #[arg(long, value_enum, default_value = "cloud")]
    flavor: FlavorArg,
    /// An account as EMAIL:TOKEN (repeatable); the user name is the part before `@`. Default:
    /// bot@example.org:test-token (user portcullis-bot).
    #[arg(long = "user", value_name = "EMAIL:TOKEN")]
    users: Vec<String>,
    /// The zone timestamps are written in and JQL date literals are read in, as ±HHMM.
    #[arg(
        long,
        value_name = "±HHMM",
        allow_hyphen_values = true,
        default_value = "+0000"
    )]
    tz_offset: String,
    /// The largest maxResults a search honours.
    #[arg(long, value_name = "N", default_value_t = 100)]
    page_cap: usize,
    /// Histories embedded per issue in search results.
    #[arg(long, value_name = "N", default_value_t = 20)]
    search_changelog_limit: usize,
    /// Treat bad credentials as anonymous instead of answering 401.
    #[arg(long)]
    anonymous_on_bad_auth: bool,
    /// Cloud: every second page that is not the last is half full.
    #[arg(long)]
    short_pages: bool,
}

/// `-0500`, `+05:30`, `0` → minutes east of UTC.
fn parse_offset(s: &str) -> anyhow::Result<i32> {
    let s = s.trim();
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'-') => (-1, &s[1..]),
        Some(b'+') => (1, &s[1..]),
        _ => (1, s),
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        bail!("invalid --tz-offset {s:?}: expected ±HHMM");
    }
    let (h, m) = if digits.len() <= 2 {
        (digits.parse::<i32>()?, 0)
    } else {
        let (h, m) = digits.split_at(digits.len() - 2);
        (h.parse::<i32>()?, m.parse::<i32>()?)
    };
    if h > 14 || m > 59 {
        bail!("invalid --tz-offset {s:?}");
    }
    Ok(sign * (h * 60 + m))
}

fn parse_user(s: &str) -> anyhow::Result<User> {
    let (email, token) = s
        .split_once(':')
        .with_context(|| format!("invalid --user {s:?}: expected EMAIL:TOKEN"))?;
    let name = email.split('@').next().unwrap_or(email);
    if name.is_empty() || token.is_empty() {
        bail!("invalid --user {s:?}: expected EMAIL:TOKEN");
    }
    Ok(User {
        name: name.to_string(),
        account_id: format!("557058:{name}"),
        display_name: name.to_string(),
        email: email.to_string(),
        token: token.to_string(),
    })
}

/// A few issues to play with: a requested backport, an approved one, one that landed.
fn demo_issues() -> Vec<serde_json::Value> {
    let t = |day: u32, hour: u32| -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0)
            .single()
            .unwrap_or_default()
    };
    let later = |at: DateTime<Utc>, minutes: i64| at + Duration::minutes(minutes);
    vec![
        seed_issue(
            "DM-101",
            "Fix crash in the ingest pipeline",
            &[(t(2, 9), "alice", &["backport-v23"])],
        ),
        seed_issue(
            "DM-102",
            "Backport the schema migration fix",
            &[
                (t(3, 10), "bob", &["backport-v23"]),
                (
                    later(t(3, 10), 90),
                    "carol",
                    &["backport-v23", "backport-approved"],
                ),
            ],
        ),
        seed_issue(
            "DM-103",
            "Update the release notes",
            &[
                (t(4, 8), "alice", &["backport-v23"]),
                (t(5, 8), "carol", &["backport-v23", "backport-approved"]),
                (
                    t(6, 15),
                    "bob",
                    &["backport-v23", "backport-approved", "backport-done"],
                ),
            ],
        ),
        seed_issue(
            "DM-104",
            "An unrelated ticket",
            &[(t(7, 11), "dave", &["docs"])],
        ),
        seed_issue("DM-105", "A ticket without labels", &[]),
    ]
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut config = match args.flavor {
        FlavorArg::Cloud => Config::cloud(),
        FlavorArg::Datacenter => Config::data_center(),
    };
    if !args.users.is_empty() {
        config.users = args
            .users
            .iter()
            .map(|u| parse_user(u))
            .collect::<anyhow::Result<_>>()?;
    }
    config.tz_offset_minutes = parse_offset(&args.tz_offset)?;
    config.max_results_cap = args.page_cap;
    config.search_changelog_limit = args.search_changelog_limit;
    config.anonymous_on_bad_auth = args.anonymous_on_bad_auth;
    config.short_pages = args.short_pages;

    let issues = match &args.seed {
        Some(path) => {
            let text =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let doc: serde_json::Value = serde_json::from_slice(&text)
                .with_context(|| format!("{} is not JSON", path.display()))?;
            seed_issues_from_json(doc).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => demo_issues(),
    };
    let count = issues.len();
    let flavor = match args.flavor {
        FlavorArg::Cloud => "cloud",
        FlavorArg::Datacenter => "datacenter",
    };
    let server = JiraServer::start(config, issues, args.port)
        .with_context(|| format!("starting the server on port {}", args.port))?;
    println!(
        "jira test server ({flavor}) listening on {} with {count} issues",
        server.url()
    );

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
    fn offsets() {
        assert_eq!(parse_offset("-0500").ok(), Some(-300));
        assert_eq!(parse_offset("+05:30").ok(), Some(330));
        assert_eq!(parse_offset("0").ok(), Some(0));
        assert_eq!(parse_offset("+1300").ok(), Some(780));
        assert!(parse_offset("x").is_err());
        assert!(parse_offset("-2500").is_err());
    }

    #[test]
    fn users() {
        let u = parse_user("alice@example.org:s3cret").expect("user");
        assert_eq!(u.name, "alice");
        assert_eq!(u.token, "s3cret");
        assert!(parse_user("alice").is_err());
    }
}
