//! Benchmark: the release gate and the cut across many repositories.
//!
//!     cargo build --release --bins --examples && \
//!       ./target/release/examples/bench_release [REPOS=100] [MAIN_COMMITS=300] [BACKPORTS_TOTAL=400]
//!
//! Generates a synthetic campaign (`portcullis_testkit::gitrepo::synthetic_campaign`, seed 23:
//! tags `v23.0.0.rc1`, `23.0.0` and `23.0.1` already on the release branches), makes a workspace
//! whose policy lists every repository, approves every ticket found on the release branches (a
//! Jira export imported with `sync --from-file`), then times, each as one run of the real binary:
//! `verify` (cold), the gate `cut 23.0.2 --allow-skip` (a dry run, caches warm), the gate again with
//! the verifier's caches dropped, and `cut 23.0.2 --allow-skip --apply` (a tag in every repository,
//! the manifest in the ledger, five files). Issue 5's target: gate and cut across 100 repositories
//! in under 5 s (excluding push).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context};
use portcullis_testkit::bench::{portcullis_binary, workspace_with_repos};
use serde_json::{json, Value};

fn main() -> anyhow::Result<()> {
    let n: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let repos = n.first().copied().unwrap_or(100);
    let main_commits = n.get(1).copied().unwrap_or(300);
    let backports = n.get(2).copied().unwrap_or(400);
    let bin = portcullis_binary()?;
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path();

    let t = Instant::now();
    let paths =
        portcullis_testkit::gitrepo::synthetic_campaign(dir, repos, main_commits, backports, 23)?;
    println!("generated {repos} repos x {main_commits} main commits, {backports} release commits in {:.2?}", t.elapsed());
    let names: Vec<String> = paths
        .iter()
        .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
        .collect();
    workspace_with_repos(&bin, dir, &names)?;

    let (verify, out) = run(&bin, dir, &["verify", "--format", "json"])?;
    let v: Value = serde_json::from_str(&out).context("verify JSON")?;
    // Approve what landed everywhere; what landed only in part is let through with a waiver.
    let keys: Vec<String> = v["tickets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["status"] == "landed")
        .filter_map(|t| t["key"].as_str().map(str::to_string))
        .collect();
    println!(
        "verify (cold)                 {:>8.2?}  ({} tickets on the release branches)",
        verify,
        keys.len()
    );
    approve_all(&bin, dir, &keys)?;

    let (_, out) = run(
        &bin,
        dir,
        &["cut", "23.0.2", "--allow-skip", "--format", "json"],
    )?;
    let g: Value = serde_json::from_str(&out).context("cut JSON")?;
    let mut args: Vec<String> = ["cut", "23.0.2", "--allow-skip", "--format", "json"]
        .map(String::from)
        .to_vec();
    let waived: Vec<String> = g["blockers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["kind"] == "unapproved")
        .filter_map(|b| b["ticket"].as_str().map(str::to_string))
        .collect();
    for k in &waived {
        args.push("--waive".into());
        args.push(k.clone());
    }
    if !waived.is_empty() {
        args.push("--note".into());
        args.push("partial backports of the synthetic campaign".into());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    println!("approved {} tickets, waiving {}", keys.len(), waived.len());
    let (gate, out) = run(&bin, dir, &args)?;
    let g: Value = serde_json::from_str(&out).context("cut JSON")?;
    let blockers = g["blockers"].as_array().map_or(0, Vec::len);
    println!("gate, dry run (caches warm)   {gate:>8.2?}  ({blockers} blockers)");
    if blockers > 0 {
        println!("  first blocker: {}", g["blockers"][0]["message"]);
    }
    sql(dir, "DELETE FROM git_commits; DELETE FROM git_scans;")?;
    let (gate_cold, _) = run(&bin, dir, &args)?;
    println!("gate, dry run (caches cold)   {gate_cold:>8.2?}");
    let mut apply_args = args.clone();
    apply_args.push("--apply");
    let (apply, out) = run(&bin, dir, &apply_args)?;
    let a: Value = serde_json::from_str(&out).context("cut --apply JSON")?;
    println!(
        "cut --apply                   {apply:>8.2?}  (applied: {}, {} tags, {} files)",
        a["applied"],
        a["tags"].as_array().map_or(0, Vec::len),
        a["files"].as_array().map_or(0, Vec::len)
    );
    Ok(())
}

/// Run the binary in the workspace; exit 0 or 1 are both results, anything else fails.
fn run(bin: &Path, dir: &Path, args: &[&str]) -> anyhow::Result<(std::time::Duration, String)> {
    let t = Instant::now();
    let out = Command::new(bin)
        .arg("--config")
        .arg(dir.join("portcullis.toml"))
        .args(args)
        .env("PORTCULLIS_ACTOR", "Release Manager")
        .output()?;
    let elapsed = t.elapsed();
    match out.status.code() {
        Some(0 | 1) => Ok((elapsed, String::from_utf8_lossy(&out.stdout).into_owned())),
        _ => bail!("{args:?} failed: {}", String::from_utf8_lossy(&out.stderr)),
    }
}

fn sql(dir: &Path, text: &str) -> anyhow::Result<()> {
    let c = rusqlite::Connection::open(dir.join("ledger.db"))?;
    c.execute_batch(text)?;
    Ok(())
}

/// Import a Jira export in which every ticket was requested and then approved by a member.
fn approve_all(bin: &Path, dir: &Path, keys: &[String]) -> anyhow::Result<()> {
    let issues: Vec<Value> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            json!({
                "id": (10000 + i).to_string(), "key": k,
                "fields": { "summary": format!("Fix for {k}"), "status": { "name": "Done" },
                            "labels": ["backport-v23", "backport-approved"],
                            "created": "2021-06-01T09:00:00.000+0000", "updated": "2021-06-08T09:00:00.000+0000",
                            "components": [] },
                "changelog": { "startAt": 0, "maxResults": 2, "total": 2, "histories": [
                    { "id": format!("{}", 2 * i + 2), "author": { "name": "mlindqvist" }, "created": "2021-06-08T09:00:00.000+0000",
                      "items": [{ "field": "labels", "fromString": "backport-v23", "toString": "backport-v23 backport-approved" }] },
                    { "id": format!("{}", 2 * i + 1), "author": { "name": "kfarrow" }, "created": "2021-06-02T09:00:00.000+0000",
                      "items": [{ "field": "labels", "fromString": "", "toString": "backport-v23" }] }
                ]}
            })
        })
        .collect();
    let export = json!({ "startAt": 0, "maxResults": issues.len(), "total": issues.len(), "issues": issues });
    let path = dir.join("approvals.json");
    std::fs::write(&path, serde_json::to_string(&export)?)?;
    run(
        bin,
        dir,
        &["sync", "--from-file", path.to_str().context("path")?],
    )?;
    Ok(())
}
