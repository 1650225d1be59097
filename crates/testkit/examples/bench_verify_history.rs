//! Benchmark: `portcullis verify` on realistic histories, against the sequential `git cherry`
//! over the same repositories (issue 20, item 9).
//!
//!     cargo build --release --bin portcullis --example bench_verify_history && \
//!       ./target/release/examples/bench_verify_history [large|campaign|both] [--dir DIR] [--runs N]
//!
//! Two shapes, generated deterministically (seed 20) with
//! `portcullis_testkit::gitrepo::synthetic_history`:
//! - `large`: one repository of 12,000 commits on `main`, `v23.0.x` branched 70 % along, so
//!   3,600 main-side commits since the branch point, over about a year; 400 release commits.
//! - `campaign`: 20 repositories of 2,000 commits on `main` (600 main-side commits each since the
//!   branch point), 300 release commits in all, spread unevenly.
//!
//! In both, multi-commit tickets are merged by pull requests, a fifth of the multi-commit
//! backports are squashed into one release commit, a tenth of the picks are edited while
//! picking, and some release commits are release-only fixes.
//!
//! With `--dir DIR`, the repositories are kept in `DIR/<shape>/repos` and reused by later runs
//! (generation takes a while), and each cold run's JSON report is written to
//! `DIR/<shape>/verify-cold.json` (to compare two builds byte for byte). Without it, a temporary
//! directory is used and removed.
//!
//! For each shape it prints, per run (`--runs`, default 1): `git cherry -v main v23.0.x` in every
//! repository one after another (subprocesses, summed); `portcullis verify --format json` on a
//! new workspace and ledger (cold), again (`first`: nothing new in git, and the ledger holds what
//! the cold run recorded; it judges, records nothing and keeps its verdict) and five times more
//! (warm, nothing new at all: the remembered verdict; the median of the five is reported), each
//! with its wall time and the peak memory (VmHWM) of the `portcullis` process; and the ratios
//! cold/git-cherry and warm/cold against the targets (≤ 0.5, ≤ 0.05, ≤ 100 MB).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use portcullis_testkit::bench::{portcullis_binary, run_measured, workspace_with_repos, Measured};
use portcullis_testkit::gitrepo::{synthetic_history, HistoryShape, RepoStats};

const SEED: u64 = 20;

/// Warm runs per workspace; the median is reported.
const WARM_RUNS: usize = 5;

struct Shape {
    name: &'static str,
    sizes: Vec<usize>,
    backports: usize,
}

fn shapes(which: &str) -> anyhow::Result<Vec<Shape>> {
    let large = Shape {
        name: "large",
        sizes: vec![12_000],
        backports: 400,
    };
    let campaign = Shape {
        name: "campaign",
        sizes: vec![2_000; 20],
        backports: 300,
    };
    Ok(match which {
        "large" => vec![large],
        "campaign" => vec![campaign],
        "both" => vec![large, campaign],
        other => bail!("unknown shape `{other}`: large, campaign or both"),
    })
}

const USAGE: &str = "usage: bench_verify_history [large|campaign|both] [--dir DIR] [--runs N]";

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut which = "both".to_string();
    let mut dir: Option<PathBuf> = None;
    let mut runs = 1usize;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--dir" => dir = Some(args.next().context("--dir needs a directory")?.into()),
            "--runs" => runs = args.next().context("--runs needs a number")?.parse()?,
            "large" | "campaign" | "both" => which = a,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            _ => bail!("{USAGE}"),
        }
    }
    let bin = portcullis_binary()?;
    let temp;
    let root: PathBuf = match dir {
        Some(d) => {
            std::fs::create_dir_all(&d)?;
            d.canonicalize()?
        }
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let mut failed = false;
    for shape in shapes(&which)? {
        failed |= !bench_shape(&bin, &root.join(shape.name), &shape, runs)?;
    }
    if failed {
        bail!("portcullis verify failed");
    }
    Ok(())
}

/// Generate (or reuse) one shape's repositories and measure; false if a verify failed.
fn bench_shape(bin: &Path, dir: &Path, shape: &Shape, runs: usize) -> anyhow::Result<bool> {
    let repos = dir.join("repos");
    let names: Vec<String> = (0..shape.sizes.len())
        .map(|i| format!("pkg_{i:02}"))
        .collect();
    if names
        .iter()
        .all(|n| repos.join(n).join(".git").join("HEAD").exists())
    {
        println!("[{}] reusing {}", shape.name, repos.display());
    } else {
        if repos.exists() {
            std::fs::remove_dir_all(&repos)?;
        }
        let t = Instant::now();
        let s = synthetic_history(
            dir,
            &shape.sizes,
            shape.backports,
            SEED,
            HistoryShape {
                squash: 0.2,
                gap_scale: 3,
            },
        )?;
        describe(shape, &s, t.elapsed());
    }
    let span = branch_span(&repos.join(&names[0]))?;
    println!(
        "[{}] {} repositories; in {}: {} main-side commits since the branch point, release branch lives {} days",
        shape.name,
        names.len(),
        names[0],
        span.0,
        span.1
    );

    let mut ok = true;
    for run in 0..runs {
        let cherry = git_cherry(&repos, &names)?;
        // A new workspace (and ledger) over the same repositories.
        let ws = tempfile::tempdir()?;
        std::os::unix::fs::symlink(&repos, ws.path().join("repos"))?;
        workspace_with_repos(bin, ws.path(), &names)?;
        let cold = run_verify(bin, ws.path())?;
        let first = run_verify(bin, ws.path())?;
        // A warm run is a few milliseconds, as noisy as the machine: the median of five.
        let mut warms = (0..WARM_RUNS)
            .map(|_| run_verify(bin, ws.path()))
            .collect::<anyhow::Result<Vec<Measured>>>()?;
        warms.sort_by_key(|m| m.elapsed);
        let spread = format!(
            "(median of {WARM_RUNS}: {:.2?} to {:.2?})",
            warms[0].elapsed,
            warms[WARM_RUNS - 1].elapsed
        );
        let warm = warms.swap_remove(WARM_RUNS / 2);
        for (label, m) in [("cold", &cold), ("first", &first), ("warm", &warm)] {
            let code = m.status.code();
            let fine = matches!(code, Some(0) | Some(1));
            println!(
                "[{}] run {} verify {label:<5} {:>9.2?}  peak {:>6.1} MB  exit {}{}",
                shape.name,
                run + 1,
                m.elapsed,
                m.peak_kib as f64 / 1024.0,
                code.map_or_else(|| "signal".to_string(), |c| c.to_string()),
                if label == "warm" {
                    format!("  {spread}")
                } else {
                    String::new()
                },
            );
            if !fine {
                ok = false;
                eprintln!(
                    "--- stderr of `portcullis verify` ---\n{}",
                    m.stderr.trim_end()
                );
            }
        }
        if run == 0 {
            std::fs::write(dir.join("verify-cold.json"), &cold.stdout)?;
            // The same report, apart from what each run recorded (the cold run records the
            // landings and drift it found; the warm run finds them recorded).
            let report = |out: &str| {
                serde_json::from_str::<serde_json::Value>(out)
                    .ok()
                    .map(|mut v| {
                        if let Some(o) = v.as_object_mut() {
                            o.remove("recorded");
                        }
                        v
                    })
            };
            for (label, m) in [("first", &first), ("warm", &warm)] {
                if report(&cold.stdout).is_none() || report(&cold.stdout) != report(&m.stdout) {
                    std::fs::write(dir.join(format!("verify-{label}.json")), &m.stdout)?;
                    println!(
                        "[{}] NOTE: the {label} report differs from the cold one (see verify-{label}.json)",
                        shape.name
                    );
                }
            }
        }
        let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
        let peak = cold.peak_kib.max(first.peak_kib).max(warm.peak_kib) as f64 / 1024.0;
        let (c, w) = (
            ratio(cold.elapsed, cherry),
            ratio(warm.elapsed, cold.elapsed),
        );
        println!(
            "[{}] run {} git cherry {:>9.2?}  cold/cherry {c:.2} (target ≤ 0.5 {})  warm/cold {w:.3} (≤ 0.05 {})  peak {peak:.1} MB (≤ 100 {})",
            shape.name,
            run + 1,
            cherry,
            met(c <= 0.5),
            met(w <= 0.05),
            met(peak <= 100.0),
        );
    }
    Ok(ok)
}

fn met(yes: bool) -> &'static str {
    if yes {
        "met"
    } else {
        "NOT met"
    }
}

fn describe(shape: &Shape, stats: &[RepoStats], took: Duration) {
    let sum = |f: fn(&RepoStats) -> usize| -> usize { stats.iter().map(f).sum() };
    println!(
        "[{}] generated in {took:.2?}: {} main commits, {} release commits ({} clean picks, {} edited, {} squashed PRs, {} release-only; {} backport PRs)",
        shape.name,
        sum(|s| s.main_commits),
        sum(|s| s.release_commits),
        sum(|s| s.clean_picks),
        sum(|s| s.edited_picks),
        sum(|s| s.squashed),
        sum(|s| s.release_only),
        sum(|s| s.backport_tickets),
    );
}

/// Main-side commits since the branch point, and the days between the branch point and the
/// release tip, in `repo`.
fn branch_span(repo: &Path) -> anyhow::Result<(usize, i64)> {
    let git = |args: &[&str]| -> anyhow::Result<String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(args)
            .output()?;
        if !out.status.success() {
            bail!(
                "git {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let count: usize = git(&["rev-list", "--count", "v23.0.x..main"])?.parse()?;
    let bp: i64 = git(&["log", "-1", "--format=%ct", "v23.0.0.rc1"])?.parse()?;
    let tip: i64 = git(&["log", "-1", "--format=%ct", "v23.0.x"])?.parse()?;
    Ok((count, (tip - bp) / 86_400))
}

/// `git cherry -v main v23.0.x` in each repository, one after another.
fn git_cherry(repos: &Path, names: &[String]) -> anyhow::Result<Duration> {
    let t = Instant::now();
    for name in names {
        let path = repos.join(name);
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
    }
    Ok(t.elapsed())
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
