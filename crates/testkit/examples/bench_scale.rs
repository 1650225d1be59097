//! Benchmark: portcullis at ten times the largest real campaign.
//!
//!     cargo build --release --bins --examples && \
//!       ./target/release/examples/bench_scale [SCALE=1.0] [--keep DIR]
//!
//! SCALE 1.0 is the campaign of issue 8, ten times Data Preview 0.2's:
//! - 100 repositories `pkg_00` … `pkg_99`; `pkg_00` has 50,000 commits on `main` and `pkg_i`
//!   50,000 / (i + 1), at least 500 (about 260,000 in all); 2,000 release commits across them
//!   (`portcullis_testkit::gitrepo::synthetic_campaign_sized`, seed 23);
//! - 50,000 tickets on the Jira-compatible test server, each with 19 label changes (about
//!   1,000,000 events in the ledger with the field snapshots). The tickets found landed on the
//!   release branches (by a discovery `verify` on a scratch ledger) are requested, approved by a
//!   committee member and done; the others are open requests; the other changes are topic
//!   labels coming and going.
//!
//! SCALE 0.1 is about the real campaign's size; every count scales linearly, so runs at 0.1, 0.3
//! and 1.0 show how each command's cost grows.
//!
//! Then times, each as one run of the release binary with its peak memory (VmHWM): `sync` from
//! the test server (cold, then again with nothing new), `verify` cold and warm, `status`, the
//! triage screen's first frame (this example run again as a child: open the ledger, open the
//! meeting, load the snapshot, draw 160×48, as `portcullis triage` does before its first
//! frame), the gate `cut 23.0.2 --allow-skip` (a dry run) and `cut --apply` (a tag in every
//! repository, the manifest, the files). Exit 0 or 1 (found drift, a blocked gate) are results;
//! anything else fails the benchmark.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use portcullis_testkit::bench::{portcullis_binary, run_measured, workspace_with_repos, Measured};
use portcullis_testkit::gitrepo::synthetic_campaign_sized;
use portcullis_testkit::jira_server::{Config, JiraServer, User};
use serde_json::{json, Value};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TOKEN: &str = "bench-token";
const SEED: u64 = 23;
const CHANGES_PER_TICKET: usize = 19;
const FIRST_KEY: usize = 25_000;

struct Row {
    what: &'static str,
    run: Measured,
    note: String,
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut scale = 1.0f64;
    let mut keep: Option<PathBuf> = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--keep" => keep = Some(args.next().context("--keep needs a directory")?.into()),
            "--first-frame" => {
                let dir: PathBuf = args
                    .next()
                    .context("--first-frame needs a directory")?
                    .into();
                return first_frame(&dir);
            }
            s => match s.parse() {
                Ok(f) if f > 0.0 => scale = f,
                _ => bail!("usage: bench_scale [SCALE=1.0] [--keep DIR]"),
            },
        }
    }
    let bin = portcullis_binary()?;
    let temp;
    let dir: PathBuf = match keep {
        Some(d) => {
            if d.join("portcullis.toml").exists() || d.join("repos").exists() {
                bail!(
                    "{} already holds a workspace; give an empty directory",
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

    let n = |x: f64| (x * scale).round().max(1.0) as usize;
    let repos = n(100.0).max(2);
    let largest = n(50_000.0).max(500);
    let sizes: Vec<usize> = (0..repos).map(|i| (largest / (i + 1)).max(500)).collect();
    let backports = n(2_000.0);
    let tickets = n(50_000.0);
    println!(
        "scale {scale}: {repos} repositories ({} main commits in all, {largest} in the largest), \
         {backports} release commits, {tickets} tickets x {CHANGES_PER_TICKET} label changes",
        sizes.iter().sum::<usize>()
    );

    // 1. git.
    let t = Instant::now();
    let stats = synthetic_campaign_sized(&dir, &sizes, backports, SEED)?;
    println!(
        "generated the repositories in {:.1?} ({} release commits, {} backport PRs)",
        t.elapsed(),
        stats.iter().map(|s| s.release_commits).sum::<usize>(),
        stats.iter().map(|s| s.backport_tickets).sum::<usize>()
    );
    let names: Vec<String> = stats.iter().map(|s| s.name.clone()).collect();
    workspace_with_repos(&bin, &dir, &names)?;

    // 2. Which tickets landed: a discovery verify on a scratch ledger (the real one stays cold).
    let t = Instant::now();
    let scratch = dir.join("discovery.db");
    std::fs::copy(dir.join("ledger.db"), &scratch)?;
    let out = run_ok(
        &bin,
        &dir,
        &["--db", path_str(&scratch)?, "verify", "--format", "json"],
    )?;
    let v: Value = serde_json::from_str(&out.stdout).context("verify JSON")?;
    let landed: BTreeSet<String> = v["tickets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["status"] == "landed")
        .filter_map(|t| t["key"].as_str().map(str::to_string))
        .collect();
    std::fs::remove_file(&scratch).ok();
    for ext in ["-wal", "-shm"] {
        std::fs::remove_file(format!("{}{ext}", scratch.display())).ok();
    }
    println!(
        "discovery verify: {} tickets landed on the release branches ({:.1?}, not timed)",
        landed.len(),
        t.elapsed()
    );

    // 3. Jira.
    let t = Instant::now();
    let issues = generate(tickets, &landed);
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
            ..Config::data_center()
        },
        issues,
        0,
    )?;
    let config = std::fs::read_to_string(dir.join("portcullis.toml"))?;
    std::fs::write(
        dir.join("portcullis.toml"),
        format!(
            "{config}\n[jira]\nurl = \"{}\"\nflavor = \"datacenter\"\npage_size = 100\n",
            server.url()
        ),
    )?;
    println!(
        "generated and served {tickets} tickets in {:.1?}",
        t.elapsed()
    );

    // 4. The measured runs.
    let mut rows: Vec<Row> = Vec::new();
    let sync = run_ok(&bin, &dir, &["sync", "--format", "json"])?;
    let s: Value = serde_json::from_str(&sync.stdout).unwrap_or(Value::Null);
    let note = format!(
        "{} tickets, {} pages, {} events",
        s["fetched"], s["pages"], s["new_events"]
    );
    rows.push(Row {
        what: "sync, cold",
        run: sync,
        note,
    });
    let again = run_ok(&bin, &dir, &["sync", "--format", "json"])?;
    let s: Value = serde_json::from_str(&again.stdout).unwrap_or(Value::Null);
    let note = format!("{} pages, {} new events", s["pages"], s["new_events"]);
    rows.push(Row {
        what: "sync, nothing new",
        run: again,
        note,
    });

    for what in ["verify, cold", "verify, warm"] {
        let run = run_ok(&bin, &dir, &["verify", "--format", "json"])?;
        let v: Value = serde_json::from_str(&run.stdout).unwrap_or(Value::Null);
        let note = format!(
            "{} tickets judged, {} landings and {} drift recorded",
            v["tickets"].as_array().map_or(0, Vec::len),
            v["recorded"]["landings"],
            v["recorded"]["drift_found"]
        );
        rows.push(Row { what, run, note });
    }
    let status = run_ok(&bin, &dir, &["status"])?;
    let note = format!("{} lines", status.stdout.lines().count());
    rows.push(Row {
        what: "status",
        run: status,
        note,
    });
    let status = run_ok(&bin, &dir, &["status", "--format", "json"])?;
    let note = format!("{} bytes", status.stdout.len());
    rows.push(Row {
        what: "status --format json",
        run: status,
        note,
    });

    let me = std::env::current_exe()?;
    let mut cmd = Command::new(&me);
    cmd.arg("--first-frame").arg(&dir);
    let frame = run_measured(cmd)?;
    if !frame.status.success() {
        bail!("first frame failed: {}", frame.stderr);
    }
    let note = frame.stdout.trim().to_string();
    rows.push(Row {
        what: "triage, first frame",
        run: frame,
        note,
    });

    let mut cut: Vec<String> = ["cut", "23.0.2", "--allow-skip", "--format", "json"]
        .map(String::from)
        .to_vec();
    let gate = run_ok(&bin, &dir, &strs(&cut))?;
    let g: Value = serde_json::from_str(&gate.stdout).context("cut JSON")?;
    let waived: Vec<String> = g["blockers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["kind"] == "unapproved")
        .filter_map(|b| b["ticket"].as_str().map(str::to_string))
        .collect();
    let note = format!(
        "{} blockers ({} unapproved, waived below)",
        g["blockers"].as_array().map_or(0, Vec::len),
        waived.len()
    );
    rows.push(Row {
        what: "cut 23.0.2, gate (dry run)",
        run: gate,
        note,
    });
    for k in &waived {
        cut.push("--waive".into());
        cut.push(k.clone());
    }
    if !waived.is_empty() {
        cut.push("--note".into());
        cut.push("partial backports of the synthetic campaign".into());
    }
    cut.push("--apply".into());
    let apply = run_ok(&bin, &dir, &strs(&cut))?;
    let a: Value = serde_json::from_str(&apply.stdout).context("cut --apply JSON")?;
    let note = format!(
        "applied: {}, {} tags, {} tickets, {} blockers",
        a["applied"],
        a["tags"].as_array().map_or(0, Vec::len),
        a["manifest"]["tickets"].as_array().map_or(0, Vec::len),
        a["blockers"].as_array().map_or(0, Vec::len)
    );
    rows.push(Row {
        what: "cut 23.0.2 --apply",
        run: apply,
        note,
    });

    let c = rusqlite::Connection::open(dir.join("ledger.db"))?;
    let events: i64 = c.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))?;
    let size = std::fs::metadata(dir.join("ledger.db"))?.len();
    println!(
        "\nledger: {events} events, {:.0} MB; {} requests served\n",
        size as f64 / 1e6,
        server.requests().len()
    );
    println!("| command | time | peak RSS | what it did |");
    println!("|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {:.0} MB | {} |",
            r.what,
            secs(r.run.elapsed),
            r.run.peak_kib as f64 / 1024.0,
            r.note
        );
    }
    Ok(())
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn path_str(p: &Path) -> anyhow::Result<&str> {
    p.to_str().context("a non-UTF-8 path")
}

fn secs(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{:.0} ms", d.as_secs_f64() * 1000.0)
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

/// Run the binary in the workspace, measured; exit 0 or 1 are results, anything else fails.
fn run_ok(bin: &Path, dir: &Path, args: &[&str]) -> anyhow::Result<Measured> {
    let mut cmd = Command::new(bin);
    cmd.arg("--config")
        .arg(dir.join("portcullis.toml"))
        .args(args)
        .current_dir(dir)
        .env("PORTCULLIS_ACTOR", "Release Manager")
        .env("PORTCULLIS_JIRA_TOKEN", TOKEN)
        .env("NO_COLOR", "1");
    let run = run_measured(cmd)?;
    match run.status.code() {
        Some(0 | 1) => Ok(run),
        _ => bail!("{args:?} failed: {}", run.stderr),
    }
}

fn jira_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// `tickets` tickets keyed from DM-25000, each with 19 label changes over the 400 days before
/// today: the landed ones requested, approved by a committee member and done; the others open
/// requests; the rest of the changes topic labels coming and going.
fn generate(tickets: usize, landed: &BTreeSet<String>) -> Vec<Value> {
    let mut keys: Vec<String> = (0..tickets)
        .map(|i| format!("DM-{}", FIRST_KEY + i))
        .collect();
    // A landed ticket outside the key range takes the place of an unlanded one at the end.
    let inside: BTreeSet<&String> = keys.iter().collect();
    let outside: Vec<String> = landed
        .iter()
        .filter(|k| !inside.contains(k))
        .cloned()
        .collect();
    for (slot, k) in keys
        .iter_mut()
        .rev()
        .filter(|k| !landed.contains(*k))
        .zip(outside)
    {
        *slot = k;
    }
    let start = Utc::now() - chrono::Duration::days(400);
    let span = 380 * 24 * 60; // minutes over which requests arrive
    let mut out = Vec::with_capacity(tickets);
    let mut hid = 1u64;
    for (i, key) in keys.iter().enumerate() {
        let approved = landed.contains(key);
        let created = start + chrono::Duration::minutes((i * span / tickets.max(1)) as i64);
        let mut labels: Vec<String> = Vec::new();
        let mut histories = Vec::with_capacity(CHANGES_PER_TICKET);
        let mut at = created;
        for j in 0..CHANGES_PER_TICKET {
            let before = labels.join(" ");
            let author = match j {
                0 => {
                    labels.push("backport-v23".into());
                    "kfarrow"
                }
                1 if approved => {
                    labels.push("backport-approved".into());
                    "mlindqvist"
                }
                2 if approved => {
                    labels.push("backport-done".into());
                    "kfarrow"
                }
                _ => {
                    let l = format!("topic-{}", j % 4);
                    if let Some(p) = labels.iter().position(|x| *x == l) {
                        labels.remove(p);
                    } else {
                        labels.push(l);
                    }
                    "dev"
                }
            };
            hid += 1;
            at += chrono::Duration::minutes(17);
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
            "key": key,
            "fields": {
                "summary": format!("Synthetic ticket {i} of the scale benchmark"),
                "status": { "name": if approved { "Done" } else { "In Progress" } },
                "labels": labels,
                "components": [{ "name": "pipe_tasks" }],
                "created": jira_time(created),
                "updated": jira_time(at),
            },
            "changelog": { "startAt": 0, "maxResults": CHANGES_PER_TICKET, "total": CHANGES_PER_TICKET, "histories": histories }
        }));
    }
    out
}

/// The child run: the triage screen's first frame as `portcullis triage` makes it.
fn first_frame(dir: &Path) -> anyhow::Result<()> {
    use portcullis::triage::app::App;
    use portcullis::triage::{data, ui};
    use portcullis_ledger::Ledger;
    use portcullis_ops::meeting;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    let t0 = Instant::now();
    let policy = portcullis_ops::workspace::load_policy(&dir.join("policy.toml"))?;
    let mut ledger = Ledger::open(&dir.join("ledger.db"))?;
    let attendees: Vec<String> = policy
        .policy
        .committee
        .members
        .iter()
        .take(3)
        .map(|m| m.name.clone())
        .collect();
    let today = Utc::now().date_naive();
    let (m, _) = meeting::open(
        &mut ledger,
        &policy,
        "v23",
        today,
        &attendees,
        "Mara Lindqvist",
    )?;
    let t_meeting = t0.elapsed();
    let snap = data::load(&ledger, &policy, &m)?;
    let t_load = t0.elapsed();
    let mut app = App::new(snap, "Mara Lindqvist".to_string(), false, true);
    let mut term = Terminal::new(TestBackend::new(160, 48))?;
    term.draw(|f| ui::draw(f, &mut app))?;
    let total = t0.elapsed();
    println!(
        "{:.0} ms in-process (policy, ledger and meeting {:.0}, load {:.0}, draw {:.0}); queue {}",
        total.as_secs_f64() * 1e3,
        t_meeting.as_secs_f64() * 1e3,
        (t_load - t_meeting).as_secs_f64() * 1e3,
        (total - t_load).as_secs_f64() * 1e3,
        app.snap.queue.len()
    );
    Ok(())
}
