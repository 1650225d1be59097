//! Benchmark: `portcullis backport` (issue 19). Prints the figures recorded in
//! docs/PERFORMANCE.md.
//!
//!     cargo run --release -p portcullis-testkit --example bench_backport -- [REPOS=20] [TICKETS=100] [NOISE=300] [--no-compare]
//!
//! Builds a workspace in a temporary directory with REPOS campaign repositories (`main`, the
//! release branch `v23.0.x` made at `v23.0.0.rc1`). On `main` of each: NOISE other tickets
//! merged as pull requests (a fifth of them backported already), one commit in each repository
//! for each of TICKETS approved tickets, and ten commits of the big ticket `DM-30000`. The
//! ledger holds the approvals (a generated Jira export, imported).
//!
//! Then it measures, through the operations the CLI calls:
//! - plan and pick `DM-30000` (10 commits in each repository, so 10 × REPOS picks), no push,
//!   as `portcullis backport DM-30000` does it: the plan (one scan of the line), the picks in
//!   memory, the branches written, the events recorded. Target: under 2 s.
//! - a dry run over the TICKETS approved tickets from one scan of the line
//!   (`backport::dry_runs`, as the bot plans a round): each ticket's plan and picks in memory,
//!   nothing written. Target: under 10 s. For comparison (no target), the same as TICKETS
//!   runs of `portcullis backport KEY --dry-run`, each scanning the line again. Then the
//!   same as `portcullis backports --dry-run` runs it (`backport::trial::try_approved`: the
//!   approved tickets not landed found in its own scan, each tried). Target: under 10 s.
//!
//! Both run once before any `verify` (the commit facts are not cached in the ledger yet: the
//! first thing a new workspace does) and once after a `verify` (the caches warm).

use std::path::Path;
use std::time::{Duration, Instant};

use portcullis_core::policy::BUILTIN_V23;
use portcullis_git::campaign::{CampaignRepo, FILES, MAIN, RELEASE};
use portcullis_ops::backport::trial::{try_approved, TrialResult};
use portcullis_ops::backport::{backport, dry_runs, BackportOutcome, BackportRequest, RepoOutcome};
use portcullis_ops::verify::{verify, Quiet, VerifyOptions};
use portcullis_ops::workspace::{Locations, Workspace};
use serde_json::json;

/// The allocator of the `portcullis` binary, so the figures are the command's as users run it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ACTOR: &str = "Mara Lindqvist";
const BIG: &str = "DM-30000";
const BIG_COMMITS: usize = 10;
const PICK_TARGET: Duration = Duration::from_secs(2);
const DRY_RUN_TARGET: Duration = Duration::from_secs(10);

fn main() -> anyhow::Result<()> {
    // `--no-compare` leaves out the per-ticket dry runs (slow, not a target).
    let compare = !std::env::args().any(|a| a == "--no-compare");
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter(|a| a != "--no-compare")
        .map(|a| a.parse())
        .collect::<Result<_, _>>()
        .map_err(|_| {
            anyhow::anyhow!(
                "usage: bench_backport [REPOS=20] [TICKETS=100] [NOISE=300] [--no-compare]"
            )
        })?;
    let repos = args.first().copied().unwrap_or(20);
    let tickets = args.get(1).copied().unwrap_or(100);
    let noise = args.get(2).copied().unwrap_or(300);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!("machine: {cores} cores");

    // Two identical workspaces: one measured before any verify, one after.
    let cold = tempfile::tempdir()?;
    let warm = tempfile::tempdir()?;
    let t = Instant::now();
    let commits = build(cold.path(), repos, tickets, noise)?;
    copy_dir(cold.path(), warm.path())?;
    println!(
        "setup: {repos} repositories, {commits} commits on main each ({tickets} approved tickets \
         with one commit per repository, {BIG} with {BIG_COMMITS}, {noise} other tickets); \
         two workspaces in {:.2?} (not a target)",
        t.elapsed()
    );

    let ws_cold = workspace(cold.path())?;
    let ws_warm = workspace(warm.path())?;
    let t = Instant::now();
    let v = verify(&ws_warm, &VerifyOptions::default(), &Quiet)?;
    println!(
        "verify on the second workspace (fills the caches): {:.2?}, {} tickets judged",
        t.elapsed(),
        v.verification.tickets.len()
    );

    let mut met = true;
    for (name, ws) in [("no verify yet", &ws_cold), ("after verify", &ws_warm)] {
        println!("\n{name}:");
        // 1. Plan and pick the big ticket everywhere, no push.
        let req = BackportRequest {
            key: BIG.into(),
            actor: ACTOR.into(),
            ..Default::default()
        };
        let t = Instant::now();
        let out = backport(ws, &req)?;
        let took = t.elapsed();
        let (picked, picks) = count(&out);
        anyhow::ensure!(
            picked == repos && picks == repos * BIG_COMMITS && !out.failed(),
            "the big ticket did not pick cleanly everywhere: {picked} repositories, {picks} picks"
        );
        met &= took < PICK_TARGET;
        println!(
            "  backport {BIG} (plan, {picks} picks in {picked} repositories, branches written, \
             events recorded): {:>8.3} s   target < {} s: {}",
            took.as_secs_f64(),
            PICK_TARGET.as_secs(),
            verdict(took < PICK_TARGET)
        );

        // 2. A dry run of every approved ticket from one scan of the line.
        let keys: Vec<String> = (0..tickets).map(key).collect();
        let t = Instant::now();
        let outs = dry_runs(ws, None, &keys, ACTOR)?;
        let took = t.elapsed();
        let mut all_picks = 0;
        for out in &outs {
            let (picked, picks) = count(out);
            anyhow::ensure!(
                picked == repos && !out.failed(),
                "{} did not pick cleanly everywhere",
                out.plan.key
            );
            all_picks += picks;
        }
        met &= took < DRY_RUN_TARGET;
        println!(
            "  dry_runs of {tickets} tickets (one scan, {all_picks} picks in memory): {:>8.3} s   \
             target < {} s: {}",
            took.as_secs_f64(),
            DRY_RUN_TARGET.as_secs(),
            verdict(took < DRY_RUN_TARGET)
        );

        // 2b. The same from the command line: `backports --dry-run` (`trial::try_approved`)
        // finds the approved tickets not landed in its own scan, then tries each.
        let t = Instant::now();
        let trial = try_approved(ws, None, &[], ACTOR)?;
        let took = t.elapsed();
        let clean = trial
            .tickets
            .iter()
            .flat_map(|t| &t.repos)
            .filter(|r| r.result == TrialResult::Clean)
            .count();
        anyhow::ensure!(
            clean >= tickets * repos,
            "backports --dry-run found {clean} clean repositories, not {}",
            tickets * repos
        );
        met &= took < DRY_RUN_TARGET;
        println!(
            "  backports --dry-run ({} tickets, {clean} clean repositories): {:>8.3} s   \
             target < {} s: {}",
            trial.tickets.len(),
            took.as_secs_f64(),
            DRY_RUN_TARGET.as_secs(),
            verdict(took < DRY_RUN_TARGET)
        );

        // 3. For comparison: `backport KEY --dry-run` per ticket (a scan each), not a target.
        if !compare {
            continue;
        }
        let t = Instant::now();
        let mut all_picks = 0;
        let mut slowest = Duration::ZERO;
        for i in 0..tickets {
            let one = Instant::now();
            let req = BackportRequest {
                key: key(i),
                dry_run: true,
                actor: ACTOR.into(),
                ..Default::default()
            };
            let out = backport(ws, &req)?;
            let (picked, picks) = count(&out);
            anyhow::ensure!(
                picked == repos && !out.failed(),
                "{} did not pick cleanly everywhere",
                req.key
            );
            all_picks += picks;
            slowest = slowest.max(one.elapsed());
        }
        let took = t.elapsed();
        println!(
            "  backport KEY --dry-run × {tickets}, a scan each ({all_picks} picks in memory): \
             {:>8.3} s (slowest ticket {:.0} ms; not a target)",
            took.as_secs_f64(),
            slowest.as_secs_f64() * 1e3,
        );
    }
    println!(
        "\n{}",
        if met {
            "all targets met"
        } else {
            "TARGET MISSED"
        }
    );
    Ok(())
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}

/// Repositories picked (or, in a dry run, pickable) and picks.
fn count(out: &BackportOutcome) -> (usize, usize) {
    out.repos.iter().fold((0, 0), |(r, p), o| match o {
        RepoOutcome::Picked { picks, .. } => (r + 1, p + picks.len()),
        _ => (r, p),
    })
}

fn key(i: usize) -> String {
    format!("DM-{}", 20_000 + i)
}

fn workspace(dir: &Path) -> anyhow::Result<Workspace> {
    Ok(Workspace::resolve(&Locations {
        config: Some(dir.join("portcullis.toml")),
        ..Default::default()
    })?)
}

/// The workspace, its repositories and its ledger; the number of commits on each `main`.
fn build(dir: &Path, repos: usize, tickets: usize, noise: usize) -> anyhow::Result<usize> {
    portcullis_ops::workspace::init(dir, BUILTIN_V23, Some(ACTOR))?;
    let policy_path = dir.join("policy.toml");
    let policy = std::fs::read_to_string(&policy_path)?;
    let mut text = policy
        .split("[[repositories]]")
        .next()
        .unwrap_or_default()
        .to_string();
    // One repository built, copied to the others (building is slow; scanning and picking do
    // the same work in each copy as in a repository of its own).
    let first = dir.join("repos").join("pkg_00");
    let commits = repository(&first, tickets, noise)?;
    for r in 0..repos {
        let name = format!("pkg_{r:02}");
        text.push_str(&format!(
            "[[repositories]]\nname = \"{name}\"\npath = \"repos/{name}\"\nmain_branch = \"{MAIN}\"\n\n"
        ));
        if r > 0 {
            copy_dir(&first, &dir.join("repos").join(&name))?;
        }
    }
    std::fs::write(&policy_path, text)?;
    let ws = workspace(dir)?;
    let mut ledger = ws.open_ledger()?;
    let keys: Vec<String> = (0..tickets).map(key).chain([BIG.to_string()]).collect();
    let export = serde_json::to_vec(&approvals(&keys))?;
    portcullis_trackers::file::import_files(
        &mut ledger,
        &ws.policy,
        &[("bench.json".into(), export)],
    )?;
    Ok(commits)
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &target)?;
        } else {
            std::fs::copy(e.path(), &target)?;
        }
    }
    Ok(())
}

/// One repository: the noise (every fifth backported), the approved tickets' commits, the big
/// ticket's ten. Each ticket edits a file of its own, so that every pick is clean.
fn repository(path: &Path, tickets: usize, noise: usize) -> anyhow::Result<usize> {
    let mut r = CampaignRepo::new(path)?;
    let mut commits = 3;
    for i in 0..noise {
        let file = format!("python/pkg/noise_{}.py", i % 25);
        let text = format!("noise {i}");
        let fix = r.fix_on_main(
            &format!("DM-{}", 10_000 + i),
            &[(file.as_str(), 1 + i % 30, text.as_str(), "Tidy a module")],
        )?;
        commits += 2;
        if i % 5 == 0 {
            r.backport(&format!("DM-{}-v23", 10_000 + i), &fix)?;
        }
    }
    for i in 0..tickets {
        let file = format!("python/pkg/fix_{i}.py");
        let text = format!("fixed by {}", key(i));
        let subject = format!("Fix the case {i}");
        r.fix_on_main(
            &key(i),
            &[(file.as_str(), 3, text.as_str(), subject.as_str())],
        )?;
        commits += 2;
    }
    let lines: Vec<(String, String)> = (0..BIG_COMMITS)
        .map(|j| (format!("big fix {j}"), format!("Rework step {j}")))
        .collect();
    let edits: Vec<(&str, usize, &str, &str)> = lines
        .iter()
        .enumerate()
        .map(|(j, (text, subject))| (FILES[j % 2], 11 + j, text.as_str(), subject.as_str()))
        .collect();
    r.fix_on_main(BIG, &edits)?;
    commits += BIG_COMMITS + 1;
    r.finish()?;
    let _ = RELEASE;
    Ok(commits)
}

/// A Jira export in which every key is requested for v23, then approved.
fn approvals(keys: &[String]) -> serde_json::Value {
    let issues: Vec<_> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let history = |id: usize, day: u32, who: &str, from: &str, to: &str| {
                json!({
                    "id": id.to_string(),
                    "author": { "name": who, "key": who, "displayName": who },
                    "created": format!("2026-11-{day:02}T10:00:00.000+0000"),
                    "items": [{ "field": "labels", "fieldtype": "jira", "fieldId": "labels",
                                "from": null, "fromString": from, "to": null, "toString": to }]
                })
            };
            json!({
                "id": (100_000 + i).to_string(),
                "key": key,
                "self": format!("https://jira.example.org/rest/api/2/issue/{}", 100_000 + i),
                "fields": {
                    "summary": format!("Synthetic ticket {key} for the backport benchmark"),
                    "status": { "name": "Done" },
                    "labels": ["backport-v23", "backport-approved"],
                    "created": "2026-11-01T09:00:00.000+0000",
                    "updated": "2026-11-03T10:00:00.000+0000"
                },
                "changelog": { "startAt": 0, "maxResults": 2, "total": 2, "histories": [
                    history(2 * i + 2, 3, "mlindqvist", "backport-v23", "backport-v23 backport-approved"),
                    history(2 * i + 1, 2, "dev", "", "backport-v23"),
                ] }
            })
        })
        .collect();
    json!({ "expand": "changelog", "startAt": 0, "maxResults": issues.len(), "total": issues.len(), "issues": issues })
}
