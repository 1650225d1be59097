//! Benchmark: a fresh workspace's first sync of N tickets of which some carry decision records
//! in their comments (issue 17), from the Jira-compatible test server, run by the real
//! `portcullis` binary over TCP; then an incremental sync with nothing new. Prints the figures
//! recorded in docs/PERFORMANCE.md, with the peak memory (VmHWM) of the portcullis process.
//!
//!     cargo build --release --bins --examples && cargo run --release --example bench_records -- [TICKETS] [RECORDS]
//!
//! Defaults: 10,000 tickets, 4,000 of them with a decision comment written by the pushing
//! account (a listed writer). A quarter of the recorded tickets are rejections whose labels are
//! gone, so the sync also has to find them through the comment search.
//!
//! Targets (issue 17): the first sync under 15 s; an incremental sync with nothing new under 1 s.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use portcullis_core::record::{encode, Form, Record, RecordKind};
use portcullis_testkit::bench::{portcullis_binary, run_measured};
use portcullis_testkit::jira_server::{Config, Flavor, JiraServer, User};
use serde_json::{json, Value};

const TOKEN: &str = "bench-token";
const WRITER: &str = "portcullis-bot";

fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let tickets = args.first().copied().unwrap_or(10_000);
    let records = args.get(1).copied().unwrap_or(4_000).min(tickets);
    let bin = portcullis_binary()?;

    let t = Instant::now();
    let (issues, comments) = generate(tickets, records);
    println!(
        "generated {tickets} tickets, {} decision comments, in {:.2?}",
        comments.len(),
        t.elapsed()
    );
    let server = JiraServer::start(
        Config {
            users: vec![User {
                name: WRITER.into(),
                account_id: "557058:bot".into(),
                display_name: "portcullis bot".into(),
                email: "bot@example.org".into(),
                token: TOKEN.into(),
            }],
            max_results_cap: 100,
            ..Config::of(Flavor::DataCenter)
        },
        issues,
        0,
    )?;
    println!("test server (DataCenter) at {}", server.url());

    let dir = tempfile::tempdir()?;
    portcullis_ops::workspace::init(dir.path(), portcullis_core::policy::BUILTIN_V23, None)?;
    std::fs::write(
        dir.path().join("portcullis.toml"),
        format!(
            "policy = \"policy.toml\"\nledger = \"ledger.db\"\n[jira]\nurl = \"{}\"\nflavor = \"datacenter\"\npage_size = 100\nwriters = [\"{WRITER}\"]\n",
            server.url(),
        ),
    )?;
    for label in ["first sync (fresh workspace)", "incremental, nothing new"] {
        let (elapsed, rss, out) = run_sync(&bin, dir.path())?;
        let v: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
        println!(
            "{label:<30} {:>8.2?}  peak RSS {:>6.1} MB  fetched {:>6}  pages {:>4}  new events {:>7}  records applied {:>5}  rejected {:>3}",
            elapsed,
            rss as f64 / 1024.0,
            v["fetched"],
            v["pages"],
            v["new_events"],
            v["records_applied"],
            v["records_rejected"]
        );
    }
    println!(
        "server answered {} requests in all",
        server.requests().len()
    );
    Ok(())
}

/// Run `portcullis sync`, returning wall time, peak RSS in KiB and stdout.
fn run_sync(bin: &Path, dir: &Path) -> anyhow::Result<(Duration, u64, String)> {
    let mut cmd = Command::new(bin);
    cmd.args(["sync", "--format", "json"])
        .current_dir(dir)
        .env("PORTCULLIS_JIRA_TOKEN", TOKEN);
    let run = run_measured(cmd)?;
    eprint!("{}", run.stderr);
    Ok((run.elapsed, run.peak_kib, run.stdout))
}

fn jira_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// `tickets` requests; the first `records` of them decided by the committee and pushed (a
/// comment with its record): three in four approved (the approval label added by the pushing
/// account), one in four rejected (the request label removed, so no label is left).
/// The comments are part of the seed, written at the decision's time (as in a real tracker,
/// where they are older than the workspace's first sync).
fn generate(tickets: usize, records: usize) -> (Vec<Value>, Vec<(String, String)>) {
    let base: DateTime<Utc> = "2022-01-03T09:00:00Z".parse().unwrap_or_default();
    let mut issues = Vec::with_capacity(tickets);
    let mut comments = Vec::with_capacity(records);
    let mut hid = 1u64;
    for i in 0..tickets {
        let key = format!("DM-{}", 10_000 + i);
        let requested = base + chrono::Duration::minutes(i as i64 * 7);
        let decided = requested + chrono::Duration::days(7);
        let change = |hid: u64, who: &str, at: DateTime<Utc>, from: &str, to: &str| {
            json!({
                "id": hid.to_string(),
                "author": { "name": who, "key": who, "displayName": who },
                "created": jira_time(at),
                "items": [{ "field": "labels", "fieldtype": "jira", "fieldId": "labels",
                            "from": null, "fromString": from, "to": null, "toString": to }]
            })
        };
        hid += 1;
        let mut histories = vec![change(hid, "dev", requested, "", "backport-v23")];
        let mut labels = vec!["backport-v23"];
        let mut seeded_comments = Vec::new();
        if i < records {
            let reject = i % 4 == 3;
            let record = Record {
                ticket: key.clone(),
                kind: if reject {
                    RecordKind::Reject
                } else {
                    RecordKind::Approve
                },
                standing: Default::default(),
                line: Some("v23".into()),
                target: None,
                until: None,
                member: Some("Mara Lindqvist".into()),
                meeting: None,
                provisional_in: None,
                reason: Some(format!("benchmark decision {i}")),
                event: format!("{:064x}", i as u128 * 0x9e37_79b9_7f4a_7c15),
                undoes: None,
                at: decided,
            };
            let what = if reject { "REJECTED" } else { "APPROVED" };
            let body = format!(
                "Backport steering committee, outside a meeting: {what} the backport of {key} to v23.\n{}",
                encode(&record, Form::Jira, None)
            );
            seeded_comments.push(json!({
                "id": (500_000 + i).to_string(),
                "author": { "name": WRITER, "key": WRITER, "displayName": "portcullis bot" },
                "body": body,
                "created": jira_time(decided),
            }));
            comments.push((key.clone(), body));
            hid += 1;
            let at = decided + chrono::Duration::minutes(1);
            if reject {
                histories.push(change(hid, WRITER, at, "backport-v23", ""));
                labels.clear();
            } else {
                histories.push(change(
                    hid,
                    WRITER,
                    at,
                    "backport-v23",
                    "backport-v23 backport-approved",
                ));
                labels.push("backport-approved");
            }
        }
        let total = histories.len();
        histories.reverse();
        issues.push(json!({
            "id": (100_000 + i).to_string(),
            "key": key,
            "fields": {
                "summary": format!("Synthetic ticket {i} for the records benchmark"),
                "status": { "name": "Done" },
                "labels": labels,
                "components": [{ "name": "pipe_tasks" }],
                "created": jira_time(requested),
                "updated": jira_time(decided + chrono::Duration::minutes(1)),
                "comment": { "startAt": 0, "maxResults": seeded_comments.len(),
                             "total": seeded_comments.len(), "comments": seeded_comments },
            },
            "changelog": { "startAt": 0, "maxResults": total, "total": total, "histories": histories }
        }));
    }
    (issues, comments)
}
