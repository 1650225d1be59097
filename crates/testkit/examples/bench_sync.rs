//! Benchmark: a live sync of N tickets with label changelogs from the Jira-compatible test
//! server, run by the real `portcullis` binary over TCP. Prints the figures recorded in
//! docs/PERFORMANCE.md: full sync, incremental sync with no change, `--full` re-sync, each with
//! its wall time and the peak memory (VmHWM) of the portcullis process.
//!
//!     cargo build --release && cargo run --release --example bench_sync -- [TICKETS] [cloud|datacenter] [--serve]
//!
//! Every tenth ticket has 30 label changes (more than the 20 a Cloud search embeds), so Cloud
//! runs also page `/issue/{key}/changelog`. With `--serve` the server stays up afterwards (its
//! address and token printed) so that another client can be timed against the same data, e.g.
//! `examples/compare/jira_py_sync.py`.
//!
//! Targets (issue 3): 10,000 tickets (100 per page) in under 10 s; an incremental sync with no
//! changes in under 1 s; memory under 200 MB.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use portcullis_testkit::bench::{portcullis_binary, run_measured};
use portcullis_testkit::jira_server::{Config, Flavor, JiraServer, User};
use serde_json::{json, Value};

const TOKEN: &str = "bench-token";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let tickets: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(10_000);
    let flavor = if args.iter().any(|a| a == "cloud") {
        Flavor::Cloud
    } else {
        Flavor::DataCenter
    };
    let serve = args.iter().any(|a| a == "--serve");
    let bin = portcullis_binary()?;

    let t = Instant::now();
    let issues = generate(tickets);
    let histories: usize = issues
        .iter()
        .map(|i| i["changelog"]["histories"].as_array().map_or(0, Vec::len))
        .sum();
    println!(
        "generated {tickets} tickets with {histories} label changes in {:.2?}",
        t.elapsed()
    );
    let base = Config::of(flavor);
    let server = JiraServer::start(
        Config {
            users: vec![User {
                name: "portcullis-bot".into(),
                account_id: "557058:bot".into(),
                display_name: "portcullis bot".into(),
                email: "bot@example.org".into(),
                token: TOKEN.into(),
            }],
            max_results_cap: 100,
            ..base
        },
        issues,
        0,
    )?;
    println!("test server ({flavor:?}) at {}", server.url());

    let dir = tempfile::tempdir()?;
    portcullis_ops::workspace::init(dir.path(), portcullis_core::policy::BUILTIN_V23, None)?;
    std::fs::write(
        dir.path().join("portcullis.toml"),
        format!(
            "policy = \"policy.toml\"\nledger = \"ledger.db\"\n[jira]\nurl = \"{}\"\nflavor = \"{}\"\npage_size = 100\n",
            server.url(),
            if flavor == Flavor::Cloud { "cloud" } else { "datacenter" }
        ),
    )?;

    for (label, extra) in [
        ("full sync (cold)", None),
        ("incremental, no change", None),
        ("--full re-sync, no change", Some("--full")),
    ] {
        let (elapsed, rss, out) = run_sync(&bin, dir.path(), extra)?;
        let v: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
        println!(
            "{label:<28} {:>8.2?}  peak RSS {:>6.1} MB  fetched {:>6}  pages {:>4}  changelog requests {:>5}  new events {:>7}",
            elapsed,
            rss as f64 / 1024.0,
            v["fetched"],
            v["pages"],
            v["changelog_requests"],
            v["new_events"]
        );
    }
    let requests = server.requests().len();
    println!("server answered {requests} requests in all");
    if serve {
        println!(
            "serving until Ctrl-C: url {} token {TOKEN} (Bearer on Data Center; Basic bot@example.org:{TOKEN} on Cloud)",
            server.url()
        );
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    Ok(())
}

/// Run `portcullis sync`, returning wall time, peak RSS in KiB and stdout.
fn run_sync(
    bin: &Path,
    dir: &Path,
    extra: Option<&str>,
) -> anyhow::Result<(Duration, u64, String)> {
    let mut cmd = Command::new(bin);
    cmd.args(["sync", "--format", "json"])
        .current_dir(dir)
        .env("PORTCULLIS_JIRA_TOKEN", TOKEN)
        .env("PORTCULLIS_JIRA_EMAIL", "bot@example.org");
    if let Some(e) = extra {
        cmd.arg(e);
    }
    let run = run_measured(cmd)?;
    eprint!("{}", run.stderr);
    Ok((run.elapsed, run.peak_kib, run.stdout))
}

fn jira_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// Tickets that go through request, approval and done, with other label churn, as real ones do.
fn generate(tickets: usize) -> Vec<Value> {
    let base: DateTime<Utc> = "2022-01-03T09:00:00Z".parse().unwrap_or_default();
    let mut out = Vec::with_capacity(tickets);
    let mut hid = 1u64;
    for i in 0..tickets {
        let per = if i % 10 == 0 { 30 } else { 20 };
        let start = base + chrono::Duration::minutes(i as i64 * 7);
        let mut labels: Vec<String> = Vec::new();
        let mut histories = Vec::with_capacity(per);
        let mut at = start;
        for j in 0..per {
            let before = labels.join(" ");
            match j {
                0 => labels.push("backport-v23".into()),
                1 if i % 3 != 0 => labels.push("backport-approved".into()),
                2 if i % 3 == 1 => labels.push("backport-done".into()),
                _ => {
                    let l = format!("topic-{}", j % 4);
                    if let Some(p) = labels.iter().position(|x| *x == l) {
                        labels.remove(p);
                    } else {
                        labels.push(l);
                    }
                }
            }
            hid += 1;
            at += chrono::Duration::hours(3);
            let author = if j == 1 { "mlindqvist" } else { "dev" };
            histories.push(json!({
                "id": hid.to_string(),
                "author": { "name": author, "key": author, "displayName": author },
                "created": jira_time(at),
                "items": [{ "field": "labels", "fieldtype": "jira", "fieldId": "labels",
                            "from": null, "fromString": before, "to": null, "toString": labels.join(" ") }]
            }));
        }
        histories.reverse();
        out.push(json!({
            "id": (100_000 + i).to_string(),
            "key": format!("DM-{}", 10_000 + i),
            "fields": {
                "summary": format!("Synthetic ticket {i} for the sync benchmark"),
                "status": { "name": "Done" },
                "labels": labels,
                "components": [{ "name": "pipe_tasks" }],
                "created": jira_time(start),
                "updated": jira_time(at),
            },
            "changelog": { "startAt": 0, "maxResults": per, "total": per, "histories": histories }
        }));
    }
    out
}
