//! Benchmark: the ledger on PostgreSQL beside SQLite (issue 18's figures).
//!
//!     cargo run --release --example bench_postgres -- [TICKETS] [EVENTS_PER_TICKET] [SECONDS]
//!
//! - import TICKETS × EVENTS_PER_TICKET label events (10,000 × 20) into a fresh ledger on both
//!   backends (target: PostgreSQL at most 2× SQLite);
//! - `status` (open + query), best of 5 (target: ≤ 200 ms);
//! - a decision appended by one connection, announced to another's listener (target: ≤ 1 s);
//! - four writers, each on its own connection, appending decisions for SECONDS (5) (target:
//!   ≥ 200 decisions/s), with the chain verified and `audit` clean afterwards.
//!
//! PostgreSQL is the testkit's throwaway cluster (fsync off, on a Unix socket), or the server
//! `PORTCULLIS_TEST_POSTGRES_URL` names.

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use portcullis_core::event::{kind, NewEvent};
use portcullis_core::policy::{Policy, BUILTIN_V23};
use portcullis_ledger::Ledger;
use serde_json::json;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, d: usize| -> anyhow::Result<usize> {
        Ok(args.get(i).map(|s| s.parse()).transpose()?.unwrap_or(d))
    };
    let (tickets, per, secs) = (arg(1, 10_000)?, arg(2, 20)?, arg(3, 5)?);
    let policy =
        Policy::from_toml("v23.toml", BUILTIN_V23).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let text = serde_json::to_vec(&generate(tickets, per))?;
    let dir = tempfile::tempdir()?;
    let server = portcullis_testkit::postgres::server();

    let lite_path = dir.path().join("ledger.db");
    let db = server.fresh_database();
    let url = server.url(&db);
    let cache = dir.path().join("cache.db");
    let mut imports = Vec::new();
    for name in ["sqlite", "postgres"] {
        let mut ledger = match name {
            "sqlite" => Ledger::create(&lite_path)?,
            _ => Ledger::open_postgres(&url, None, &cache)?,
        };
        let t = Instant::now();
        let s = portcullis_trackers::file::import_files(
            &mut ledger,
            &policy,
            &[("bench.json".into(), text.clone())],
        )?;
        let took = t.elapsed();
        println!(
            "import {tickets} × {per} on {name:8}: {took:>9.2?}  ({} new events)",
            s.new_events
        );
        imports.push(took);
    }
    println!(
        "  PostgreSQL / SQLite: {:.2}× (target ≤ 2×)",
        imports[1].as_secs_f64() / imports[0].as_secs_f64()
    );

    for name in ["sqlite", "postgres"] {
        let mut best = Duration::MAX;
        let mut rows = 0;
        for _ in 0..5 {
            let t = Instant::now();
            let ledger = match name {
                "sqlite" => Ledger::open(&lite_path)?,
                _ => Ledger::open_postgres(&url, None, &cache)?,
            };
            rows = portcullis_ops::status(&ledger, &policy, Some("v23"), None)?
                .tickets
                .len();
            best = best.min(t.elapsed());
        }
        println!("status on {name:8} (open + query, {rows} tickets), best of 5: {best:.2?} (target ≤ 200 ms)");
    }

    // A decision seen by a second screen.
    let screen = Ledger::open_postgres(&url, None, &cache)?;
    let changes = screen
        .listen()?
        .ok_or_else(|| anyhow::anyhow!("no listener"))?;
    let mut other = Ledger::open_postgres(&url, None, &cache)?;
    let mut worst = Duration::ZERO;
    for i in 0..20 {
        let t = Instant::now();
        other.append_all(&policy, [decision("DM-10000", 0, i)])?;
        anyhow::ensure!(changes.wait(Duration::from_secs(5)), "not announced");
        worst = worst.max(t.elapsed());
    }
    println!(
        "decision committed → seen by another listener, worst of 20: {worst:.2?} (target ≤ 1 s)"
    );
    drop((screen, changes, other));

    // Four writers at once.
    let until = Instant::now() + Duration::from_secs(secs as u64);
    let started = Instant::now();
    let total: usize = std::thread::scope(|s| {
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let (url, cache, policy) = (&url, &cache, &policy);
                s.spawn(move || -> anyhow::Result<usize> {
                    let mut l = Ledger::open_postgres(url, None, cache)?;
                    let mut n = 0;
                    while Instant::now() < until {
                        let key = format!("DM-{}", 10_000 + (w * 997 + n) % tickets.max(1));
                        n += l.append_all(policy, [decision(&key, w, 1000 + n)])? as usize;
                    }
                    Ok(n)
                })
            })
            .collect();
        writers
            .into_iter()
            .map(|w| w.join().expect("writer panicked"))
            .sum::<anyhow::Result<usize>>()
    })?;
    let rate = total as f64 / started.elapsed().as_secs_f64();
    let ledger = Ledger::open_postgres(&url, None, &cache)?;
    let t = Instant::now();
    let audit = portcullis_ops::audit(&ledger, &policy)?;
    println!(
        "four writers: {total} decisions in {:.1?}: {rate:.0} decisions/s (target ≥ 200); audit {} in {:.2?} ({} events)",
        started.elapsed(),
        if audit.problems.is_empty() { "clean" } else { "FAILED" },
        t.elapsed(),
        audit.events
    );
    anyhow::ensure!(audit.problems.is_empty(), "audit: {:?}", audit.problems);
    Ok(())
}

/// An approval of `key` by writer `w`, the `n`th.
fn decision(key: &str, w: usize, n: usize) -> NewEvent {
    NewEvent {
        ticket: Some(key.to_string()),
        line: Some("v23".into()),
        kind: kind::DECISION,
        source: "local".into(),
        actor: Some(format!("writer-{w}")),
        at: Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap(),
        meeting: None,
        note: Some(format!("bench {w}/{n}")),
        payload: json!({ "decision": "approve", "out_of_meeting": true }),
        dedup_key: None,
    }
}

/// A Data Center search response: each ticket is requested, most are approved, and the rest of
/// its label events toggle unrelated labels.
fn generate(tickets: usize, per: usize) -> serde_json::Value {
    let mut issues = Vec::with_capacity(tickets);
    let mut hid = 1u64;
    for i in 0..tickets {
        let mut labels: Vec<String> = Vec::new();
        let mut histories = Vec::with_capacity(per);
        for j in 0..per {
            let before = labels.join(" ");
            match j {
                0 => labels.push("backport-v23".into()),
                1 if i % 3 != 0 => labels.push("backport-approved".into()),
                _ => {
                    let l = format!("topic-{}", j % 4);
                    match labels.iter().position(|x| *x == l) {
                        Some(p) => {
                            labels.remove(p);
                        }
                        None => labels.push(l),
                    }
                }
            }
            hid += 1;
            histories.push(json!({
                "id": hid.to_string(),
                "author": { "name": "dev", "key": "dev", "displayName": "dev" },
                "created": format!("2022-{:02}-{:02}T{:02}:{:02}:00.000-0700", 1 + j % 12, 1 + i % 28, j % 24, i % 60),
                "items": [{ "field": "labels", "fieldtype": "jira", "fieldId": "labels",
                            "from": null, "fromString": before, "to": null, "toString": labels.join(" ") }]
            }));
        }
        histories.reverse();
        issues.push(json!({
            "id": (100_000 + i).to_string(),
            "key": format!("DM-{}", 10_000 + i),
            "self": format!("https://jira.example.org/rest/api/2/issue/{}", 100_000 + i),
            "fields": {
                "summary": format!("Synthetic ticket {i}"),
                "status": { "name": "Done" },
                "labels": labels,
                "components": [{ "name": "pipe_tasks" }],
                "created": "2021-12-01T09:00:00.000-0700",
                "updated": "2022-12-31T09:00:00.000-0700"
            },
            "changelog": { "startAt": 0, "maxResults": per, "total": per, "histories": histories }
        }));
    }
    json!({ "expand": "schema,names", "startAt": 0, "maxResults": tickets, "total": tickets, "issues": issues })
}
