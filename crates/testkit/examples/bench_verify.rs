//! Benchmark: `portcullis verify` over synthetic release-campaign repositories, against what
//! `git cherry` takes for the same question.
//!
//!     cargo build --release --bins --examples && \
//!       ./target/release/examples/bench_verify [REPOS=20] [MAIN_COMMITS=5000] [BACKPORTS_TOTAL=300] [--keep DIR]
//!
//! Generates (deterministically, seed 23) a workspace with `repos/pkg_00`, `repos/pkg_01`, …:
//! `main` of MAIN_COMMITS commits with ticket branches merged by pull requests, `v23.0.0.rc1`
//! where `v23.0.x` branches off, and BACKPORTS_TOTAL non-merge commits on the release branches
//! (cherry-picks, some edited, and release-only fixes); see
//! `portcullis_testkit::gitrepo::synthetic_campaign_stats`. The workspace is made by
//! `portcullis init --from-policy v23`, then its policy lists the generated repositories.
//!
//! Then prints, one line each: the generation time; `git cherry -v main v23.0.x` in every
//! repository one after another; `portcullis verify --format json` cold (first run) and warm
//! (second run, nothing new), each with its wall time and the peak memory (VmHWM) of the
//! process; and the ratios cold/git-cherry and cold/warm. `verify` exits 0 (no drift) or 1
//! (drift found); both are fine here, anything else is a failure.
//!
//! The workspace is a temporary directory, removed at the end, unless `--keep DIR` is given.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use portcullis_testkit::bench::{portcullis_binary, run_measured, workspace_with_repos, Measured};
use portcullis_testkit::gitrepo::synthetic_campaign_stats;

const SEED: u64 = 23;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut numbers: Vec<usize> = Vec::new();
    let mut keep: Option<PathBuf> = None;
    while let Some(a) = args.next() {
        if a == "--keep" {
            keep = Some(args.next().context("--keep needs a directory")?.into());
        } else if let Ok(n) = a.parse() {
            numbers.push(n);
        } else {
            bail!("usage: bench_verify [REPOS=20] [MAIN_COMMITS=5000] [BACKPORTS_TOTAL=300] [--keep DIR]");
        }
    }
    let repos = numbers.first().copied().unwrap_or(20);
    let main_commits = numbers.get(1).copied().unwrap_or(5000);
    let backports = numbers.get(2).copied().unwrap_or(300);
    let bin = portcullis_binary()?;

    let temp;
    let dir: PathBuf = match keep {
        Some(d) => {
            if d.join("portcullis.toml").exists() || d.join("repos").exists() {
                bail!(
                    "{} already holds a workspace or repos/; give an empty directory",
                    d.display()
                );
            }
            std::fs::create_dir_all(&d)?;
            d.canonicalize()?
        }
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };

    let t = Instant::now();
    let stats = synthetic_campaign_stats(&dir, repos, main_commits, backports, SEED)?;
    let generation = t.elapsed();
    let sum = |f: fn(&portcullis_testkit::gitrepo::RepoStats) -> usize| -> usize {
        stats.iter().map(f).sum()
    };
    println!(
        "generated {repos} repos x {main_commits} main commits, {} release commits ({} clean picks, {} edited, {} release-only; {} backport PRs) in {:.2?}",
        sum(|s| s.release_commits),
        sum(|s| s.clean_picks),
        sum(|s| s.edited_picks),
        sum(|s| s.release_only),
        sum(|s| s.backport_tickets),
        generation
    );

    let names: Vec<String> = stats.iter().map(|s| s.name.clone()).collect();
    workspace_with_repos(&bin, &dir, &names)?;
    println!("workspace: {}", dir.display());

    // git cherry, repository after repository.
    let t = Instant::now();
    let (mut plus, mut minus) = (0usize, 0usize);
    for s in &stats {
        let path = dir.join("repos").join(&s.name);
        let out = Command::new("git")
            .arg("-C")
            .arg(&path)
            .args(["cherry", "-v", "main", "v23.0.x"])
            .output()
            .context("cannot run git")?;
        if !out.status.success() {
            bail!(
                "git cherry failed in {}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            match line.as_bytes().first() {
                Some(b'+') => plus += 1,
                Some(b'-') => minus += 1,
                _ => {}
            }
        }
    }
    let cherry = t.elapsed();
    println!(
        "{:<34} {:>9.2?}  ({minus} equivalent `-`, {plus} not `+`)",
        format!("git cherry x {repos}"),
        cherry
    );

    let mut failed = false;
    let mut times = Vec::new();
    for label in ["portcullis verify (cold)", "portcullis verify (warm)"] {
        let run = run_verify(&bin, &dir)?;
        let code = run.status.code();
        let ok = matches!(code, Some(0) | Some(1));
        println!(
            "{label:<34} {:>9.2?}  peak RSS {:>7.1} MB  exit {}  {}",
            run.elapsed,
            run.peak_kib as f64 / 1024.0,
            code.map_or_else(|| "signal".to_string(), |c| c.to_string()),
            if ok {
                summarize(&run.stdout)
            } else {
                "FAILED".into()
            }
        );
        if !ok {
            failed = true;
            eprintln!(
                "--- stderr of `portcullis verify` ---\n{}",
                run.stderr.trim_end()
            );
        }
        times.push(run.elapsed);
    }
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
    println!(
        "ratios: cold/git-cherry {:.2}x, cold/warm {:.2}x",
        ratio(times[0], cherry),
        ratio(times[0], times[1])
    );
    if failed {
        bail!("portcullis verify failed");
    }
    Ok(())
}

/// `portcullis --config DIR/portcullis.toml verify --format json`, measured.
fn run_verify(bin: &Path, dir: &Path) -> anyhow::Result<Measured> {
    let mut cmd = Command::new(bin);
    cmd.arg("--config")
        .arg(dir.join("portcullis.toml"))
        .args(["verify", "--format", "json"])
        .current_dir(dir);
    run_measured(cmd).context("cannot run portcullis")
}

/// A short account of verify's JSON output: its top-level numbers and list lengths.
fn summarize(stdout: &str) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(stdout) else {
        return format!("({} bytes of output, not JSON)", stdout.len());
    };
    match &v {
        serde_json::Value::Object(m) => m
            .iter()
            .filter_map(|(k, v)| match v {
                serde_json::Value::Number(n) => Some(format!("{k} {n}")),
                serde_json::Value::Array(a) => Some(format!("{k} [{}]", a.len())),
                _ => None,
            })
            .take(8)
            .collect::<Vec<_>>()
            .join(", "),
        serde_json::Value::Array(a) => format!("[{} items]", a.len()),
        other => other.to_string(),
    }
}
