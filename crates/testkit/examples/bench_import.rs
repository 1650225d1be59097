//! Benchmark: import a Jira export of N tickets with 20 label events each into a fresh ledger,
//! then run `status` on it. Prints the figures recorded in docs/PERFORMANCE.md.
//!
//!     cargo run --release --example bench_import -- [TICKETS] [EVENTS_PER_TICKET] [SAVE_EXPORT_TO]
//!
//! With a third argument the export is also written there, to time the CLI on it:
//! `portcullis sync --from-file FILE` then `portcullis status`.
//!
//! Targets (issue 2): 10,000 tickets × 20 label events imported in under 3 s; `status` under 100 ms.

use std::time::Instant;

use portcullis_core::policy::{Policy, BUILTIN_V23};
use portcullis_ledger::Ledger;
use serde_json::json;

fn main() -> anyhow::Result<()> {
    if let Ok(filter) = std::env::var("PORTCULLIS_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }
    let args: Vec<String> = std::env::args().collect();
    let tickets: usize = args
        .get(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(10_000);
    let per: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(20);
    let policy =
        Policy::from_toml("v23.toml", BUILTIN_V23).map_err(|e| anyhow::anyhow!("{e:?}"))?;

    let t = Instant::now();
    let export = generate(tickets, per);
    let text = serde_json::to_vec(&export)?;
    println!(
        "generated export: {tickets} tickets × {per} label events, {:.1} MB in {:.2?}",
        text.len() as f64 / 1e6,
        t.elapsed()
    );
    if let Some(path) = args.get(3) {
        std::fs::write(path, &text)?;
        println!("export written to {path}");
    }
    drop(export);

    let dir = tempfile::tempdir()?;
    let path = dir.path().join("ledger.db");
    let mut ledger = Ledger::create(&path)?;
    let t = Instant::now();
    let summary = portcullis_trackers::file::import_files(
        &mut ledger,
        &policy,
        &[("bench.json".into(), text.clone())],
    )?;
    let cold = t.elapsed();
    println!(
        "import (cold):  {:>8.2?}  tickets {}, new events {}, violations {}",
        cold, summary.tickets, summary.new_events, summary.new_violations
    );
    let t = Instant::now();
    let again = portcullis_trackers::file::import_files(
        &mut ledger,
        &policy,
        &[("bench-again.json".into(), text)],
    )?;
    println!(
        "re-import (no change): {:>8.2?}  new events {}",
        t.elapsed(),
        again.new_events
    );
    drop(ledger);

    // `status` as the CLI runs it: open the ledger, query, render the table.
    let mut best = std::time::Duration::MAX;
    let mut lines = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let ledger = Ledger::open(&path)?;
        let st = portcullis_ops::status(&ledger, &policy, Some("v23"), None)?;
        let text = render(&st);
        lines = text.lines().count();
        best = best.min(t.elapsed());
    }
    println!("status (open + query + render {lines} lines), best of 5: {best:.2?}");
    let ledger = Ledger::open(&path)?;
    let t = Instant::now();
    let report = portcullis_ops::audit(&ledger, &policy)?;
    println!(
        "audit (chain + rebuild compare): {:.2?}  events {}, ok {}",
        t.elapsed(),
        report.events,
        report.problems.is_empty()
    );
    Ok(())
}

fn render(st: &portcullis_ops::LineStatus) -> String {
    let mut t = portcullis::render::Table::new(&["KEY", "STATE", "SUMMARY"]);
    for r in &st.tickets {
        t.row(vec![
            r.key.clone(),
            r.state.describe().to_string(),
            r.summary.clone(),
        ]);
    }
    t.render()
}

/// A Data Center search response: each ticket goes through request, approval and done, and the
/// rest of its label events toggle unrelated labels, as real tickets do.
fn generate(tickets: usize, per: usize) -> serde_json::Value {
    let mut issues = Vec::with_capacity(tickets);
    let mut hid = 1u64;
    for i in 0..tickets {
        let key = format!("DM-{}", 10_000 + i);
        let mut labels: Vec<String> = Vec::new();
        let mut histories = Vec::with_capacity(per);
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
            let author = if j == 1 { "mlindqvist" } else { "dev" };
            histories.push(json!({
                "id": hid.to_string(),
                "author": { "name": author, "key": author, "displayName": author },
                "created": format!("2022-{:02}-{:02}T{:02}:{:02}:00.000-0700", 1 + j % 12, 1 + i % 28, j % 24, i % 60),
                "items": [{ "field": "labels", "fieldtype": "jira", "fieldId": "labels",
                            "from": null, "fromString": before, "to": null, "toString": labels.join(" ") }]
            }));
        }
        histories.reverse();
        issues.push(json!({
            "id": (100_000 + i).to_string(),
            "key": key,
            "self": format!("https://jira.example.org/rest/api/2/issue/{}", 100_000 + i),
            "fields": {
                "summary": format!("Synthetic ticket {i} for the import benchmark"),
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
