//! The demo: a workspace with the v23 policy, a generated Jira export of 80 tickets spread over
//! every state (violations included), imported, plus the committee's recorded decisions.
//!
//! Everything is generated from a fixed seed relative to the clock ([`portcullis_core::time::now`],
//! fixed by `PORTCULLIS_NOW` in tests), so the same clock gives the same demo. The campaign is set
//! in the ten weeks before "now", with weekly Tuesday meetings.
//!
//! The campaign is replayed in two rounds around its first patch release ([`build_with`]): what
//! Jira and git looked like on the Friday after the seventh meeting, where 23.0.1 is cut, then
//! everything after. Drift and violations are placed after that Friday, so 23.0.1 passes its gate
//! and 23.0.2 shows every kind of blocker.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::Value;

use portcullis_core::event::NewEvent;
use portcullis_core::policy::BUILTIN_V23;
use portcullis_core::time::now;
use portcullis_core::Problem;
use portcullis_ledger::Ledger;
use portcullis_ops::workspace::{init, load_policy, Workspace};
use portcullis_ops::{Error, Result};

pub mod campaign;
pub mod repos;
#[cfg(feature = "test-servers")]
mod servers;

use campaign::{generate, MARKER, REPOS};

/// How the demo's tickets reach the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// Import the generated export file.
    File,
    /// Serve it from the Jira-compatible test server and sync over HTTP, then push the
    /// committee's decisions back to it.
    Jira,
}

/// What the demo did over HTTP, summed over its two rounds (before and after the first cut).
#[derive(Debug, Clone, Default)]
pub struct JiraDemo {
    pub url: String,
    pub fetched: u64,
    pub pages: u64,
    pub new_events: u64,
    pub pushed: usize,
    pub conflicts: usize,
}

/// The demo workspace, once built.
pub struct Built {
    pub config: PathBuf,
    /// An interesting ticket to show with `history`.
    pub showcase: String,
    pub jira: Option<JiraDemo>,
    /// The first patch release, cut in the middle of the campaign.
    pub first_cut: portcullis_ops::release::CutReport,
    pub first_cut_at: DateTime<Utc>,
    /// The approvals not backported yet that the demo backports (one clean, one conflicting).
    pub backports: Option<repos::Showcase>,
}

/// The version the demo cuts mid-campaign.
pub const FIRST_PATCH: &str = "23.0.1";
/// The version the demo shows blocked.
pub const NEXT_PATCH: &str = "23.0.2";

/// The v23 policy, with the news fragments of its repositories (`doc/changes/`, towncrier's)
/// as paths that never need a backport: `verify` shows them as not needed.
fn demo_policy() -> String {
    format!(
        "{BUILTIN_V23}\n# News fragments on main never need a backport: `verify` shows them as not needed.\n[verify]\nignore_paths = [\"doc/changes/**\"]\n"
    )
}

/// Create the demo workspace and return its config path and the showcase ticket.
pub fn build(dir: &Path) -> Result<(PathBuf, String)> {
    build_with(dir, Feed::File).map(|b| (b.config, b.showcase))
}

/// Create the demo workspace, feeding it from a file or from the test Jira server.
///
/// The campaign is replayed in two rounds. Round one: the tickets and decisions as they stood
/// when 23.0.1 was cut, the repositories up to then, and the cut itself (which must pass).
/// Round two: everything after, up to now.
pub fn build_with(dir: &Path, feed: Feed) -> Result<Built> {
    prepare_dir(dir)?;
    let config = init(dir, &demo_policy(), Some("Mara Lindqvist"))?;
    write_file(
        dir.join(MARKER),
        "This directory was made by `portcullis demo` and is rebuilt by it.\n",
    )?;
    let data = generate(now());
    let cut_at = data.first_cut;
    let pretty = |v: &Value| {
        serde_json::to_string_pretty(v).map_err(|e| {
            Error::Problem(Problem::internal("cannot write the demo's Jira export").because(e))
        })
    };
    let full = pretty(&data.export(None))?;
    write_file(dir.join("jira-export.json"), &full)?;
    let policy = load_policy(&dir.join("policy.toml"))?;
    // The repositories' story is planned from the campaign's final state.
    let plan = {
        let mut scratch = Ledger::in_memory()?;
        portcullis_trackers::file::import_files(
            &mut scratch,
            &policy,
            &[("jira-export.json".into(), full.clone().into_bytes())],
        )?;
        scratch.append_all(&policy, data.decisions.clone())?;
        repos::Plan::new(&scratch, cut_at)?
    };
    let (early, late): (Vec<NewEvent>, Vec<NewEvent>) =
        data.decisions.iter().cloned().partition(|d| d.at <= cut_at);
    let mut git = repos::Builder::create(dir, REPOS)?;
    let ledger_path = dir.join("ledger.db");
    let cut = |git: &mut repos::Builder| -> Result<portcullis_ops::release::CutReport> {
        git.advance(&plan, cut_at)?;
        cut_first(&config, cut_at)
    };
    let (first_cut, jira) = match feed {
        Feed::File => {
            let name = format!("jira-export-{}.json", cut_at.date_naive());
            let text = pretty(&data.export(Some(cut_at)))?;
            write_file(dir.join(&name), &text)?;
            {
                let mut ledger = Ledger::open(&ledger_path)?;
                portcullis_trackers::file::import_files(
                    &mut ledger,
                    &policy,
                    &[(name, text.into_bytes())],
                )?;
                ledger.append_all(&policy, early)?;
            }
            let first = cut(&mut git)?;
            let mut ledger = Ledger::open(&ledger_path)?;
            portcullis_trackers::file::import_files(
                &mut ledger,
                &policy,
                &[("jira-export.json".into(), full.into_bytes())],
            )?;
            ledger.append_all(&policy, late)?;
            (first, None)
        }
        #[cfg(feature = "test-servers")]
        Feed::Jira => {
            let (first, jira) = servers::over_http(
                &ledger_path,
                &workspace(&config)?,
                &data,
                early,
                late,
                || cut(&mut git),
            )?;
            (first, Some(jira))
        }
        #[cfg(not(feature = "test-servers"))]
        Feed::Jira => return Err(without_test_servers("--jira")),
    };
    git.advance(&plan, now())?;
    Ok(Built {
        config,
        showcase: data.showcase,
        jira,
        first_cut,
        first_cut_at: cut_at,
        backports: plan.showcase().cloned(),
    })
}

/// The demo workspace, resolved from its config file.
fn workspace(config: &Path) -> Result<Workspace> {
    Workspace::resolve(&portcullis_ops::workspace::Locations {
        config: Some(config.to_path_buf()),
        ..Default::default()
    })
}

/// Cut 23.0.1 at `at`: the gate must pass, since everything approved by then has landed.
fn cut_first(config: &Path, at: DateTime<Utc>) -> Result<portcullis_ops::release::CutReport> {
    let ws = workspace(config)?;
    let report = portcullis_ops::release::cut(
        &ws,
        &portcullis_ops::release::CutOptions {
            version: FIRST_PATCH.into(),
            apply: true,
            at: Some(at),
            ..Default::default()
        },
    )?;
    if !report.blockers.is_empty() {
        let why: Vec<String> = report.blockers.iter().map(|b| b.message.clone()).collect();
        return Err(Error::internal(format!(
            "the demo's {FIRST_PATCH} does not pass its gate: {}",
            why.join("; ")
        )));
    }
    Ok(report)
}

fn prepare_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .map_err(|e| Error::io("read the directory", dir, e))?
            .next()
            .is_none();
        if dir.join(MARKER).exists() {
            std::fs::remove_dir_all(dir)
                .map_err(|e| Error::io("remove the old demo at", dir, e))?;
        } else if !empty {
            return Err(Error::input(format!(
                "{} exists and is not a portcullis demo",
                dir.display()
            ))
            .hint("choose another place with --dir, or use --temp"));
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create the directory", dir, e))?;
    Ok(())
}

/// A new directory `portcullis-demo-<pid>-<n>` under the system's temporary directory, kept
/// after the run (the user `cd`s into it). `create_dir` fails if the name is taken, so two
/// demos never share one.
fn new_temp_dir() -> Result<PathBuf> {
    let base = std::env::temp_dir();
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut n = stamp;
    loop {
        let dir = base.join(format!("portcullis-demo-{}-{n:x}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n = n.wrapping_add(1),
            Err(e) => return Err(Error::io("create a temporary directory in", &base, e)),
        }
    }
}

/// `portcullis demo`: build, print the status, the verification and the releases; then, in a
/// terminal (and with `triage`), open the triage screen on the demo ledger.
pub fn run(dir: Option<PathBuf>, temp: bool, jira: bool, triage: bool, notify: bool) -> Result<u8> {
    if cfg!(not(feature = "test-servers")) && (jira || notify) {
        return Err(without_test_servers(if jira {
            "--jira"
        } else {
            "--notify"
        }));
    }
    let dir = match (dir, temp) {
        (_, true) => new_temp_dir()?,
        (Some(d), false) => d,
        (None, false) => PathBuf::from("portcullis-demo"),
    };
    let feed = if jira { Feed::Jira } else { Feed::File };
    let built = build_with(&dir, feed)?;
    let (config, showcase, over_http) = (built.config.clone(), built.showcase.clone(), &built.jira);
    let ws = Workspace::resolve(&portcullis_ops::workspace::Locations {
        config: Some(config.clone()),
        ..Default::default()
    })?;
    let ledger = ws.open_ledger()?;
    let st = portcullis_ops::status(&ledger, &ws.policy, Some("v23"), None)?;
    let how = match over_http {
        None => "imported from jira-export.json".to_string(),
        Some(j) => format!(
            "synced over HTTP from a Jira-compatible test server at {} ({} issues in {} pages, {} events, in two rounds around the first patch release), with {} decision(s) pushed back to it as labels and comments ({} conflict(s))",
            j.url, j.fetched, j.pages, j.new_events, j.pushed, j.conflicts
        ),
    };
    crate::cli::output::print(&format!(
        "Demo workspace: {}\n(80 generated tickets of the v23 line, {how}, with the committee's decisions)\n\n",
        dir.display()
    ))?;
    crate::cli::output::print(&crate::render::status::render_table(&st))?;
    drop(ledger);
    let verified = portcullis_ops::verify::verify(
        &ws,
        &portcullis_ops::verify::VerifyOptions::default(),
        &portcullis_ops::verify::Quiet,
    )?;
    crate::cli::output::print(&format!(
        "\nGit: {} repositories under {}, checked against the ledger (`portcullis verify`):\n\n",
        verified.verification.summary.repositories,
        dir.join("repos").display()
    ))?;
    crate::cli::output::print(&crate::render::verify::summary(&verified))?;
    // The releases: 23.0.1 cut mid-campaign, and what holds up 23.0.2 now.
    let first = &built.first_cut;
    crate::cli::output::print(&format!(
        "\nReleases: {FIRST_PATCH} was cut on {} from what had landed by then: {} repositories tagged, {} ticket(s), manifest {} (`portcullis release show {FIRST_PATCH}`, files in {}).\n",
        built.first_cut_at.format("%Y-%m-%d"),
        first.manifest.repos.len(),
        first.manifest.tickets.len(),
        first.manifest.build,
        dir.join("releases").join(&first.manifest.tag).display(),
    ))?;
    let next = portcullis_ops::release::cut(
        &ws,
        &portcullis_ops::release::CutOptions {
            version: NEXT_PATCH.into(),
            ..Default::default()
        },
    )?;
    crate::cli::output::print(&format!(
        "\n`portcullis cut {NEXT_PATCH}` (dry run) would tag {} repositories with {} ticket(s) since {FIRST_PATCH}, but:\n{}",
        next.manifest.repos.len(),
        next.manifest.tickets.len(),
        crate::render::release::gate_text(&next)
    ))?;
    if let Some(sc) = &built.backports {
        show_backports(&ws, sc)?;
    }
    let tries = [
        (
            "backports".to_string(),
            "where each approved backport stands",
        ),
        (
            "backports --dry-run".to_string(),
            "try every one of them, writing nothing",
        ),
        (
            "verify --commits".to_string(),
            "every release-branch commit and its match",
        ),
        (format!("cut {NEXT_PATCH}"), "the gate, with every reason"),
        (
            format!("release show {FIRST_PATCH}"),
            "the manifest and notes of 23.0.1",
        ),
        (
            format!("history {showcase}"),
            "rejected, then requested again",
        ),
        (
            "status --state withdrawn".into(),
            "label removed, nothing recorded",
        ),
        ("decide approve DM-32509".into(), "as the config's user"),
        ("audit".into(), "the hash chain and derived state"),
    ];
    // From the demo directory the commands are short: portcullis.toml is found from there.
    let mut text = format!("\nTry, in the demo directory:\n  cd {}\n", dir.display());
    for (cmd, why) in tries {
        text.push_str(&format!("  portcullis {cmd:<26}  # {why}\n"));
    }
    crate::cli::output::print(&text)?;
    if notify {
        #[cfg(feature = "test-servers")]
        crate::cli::output::print(&servers::post_digest(&ws)?)?;
    }
    use std::io::IsTerminal;
    if triage && std::io::stdout().is_terminal() && std::io::stdin().is_terminal() {
        crate::cli::output::print(&format!(
            "  portcullis {:<26}  # the committee's screen, opening now\n",
            "triage"
        ))?;
        let actor = ws.actor(None)?;
        return crate::triage::run(
            &ws,
            crate::triage::TriageOptions {
                line: Some("v23".into()),
                actor,
                ..Default::default()
            },
        );
    }
    crate::cli::output::print(&format!(
        "  portcullis {:<26}  # the committee's screen (in a terminal)\n",
        "triage"
    ))?;
    Ok(0)
}

/// `backport`: a dry run and a clean backport of one approval not landed yet, then the other's
/// conflict with the fix it needs first.
fn show_backports(ws: &Workspace, sc: &repos::Showcase) -> Result<()> {
    crate::cli::output::print(&format!(
        "\nBackports: {} and {} are approved but not on v23.0.x yet; `portcullis backport` cherry-picks them onto ticket branches:\n",
        sc.clean, sc.conflict
    ))?;
    let actor = ws.actor(None)?;
    let runs = [
        (&sc.clean, true, "--dry-run"),
        (&sc.clean, false, ""),
        (&sc.conflict, false, ""),
    ];
    for (key, dry_run, flag) in runs {
        let req = portcullis_ops::backport::BackportRequest {
            key: key.clone(),
            dry_run,
            actor: actor.clone(),
            ..Default::default()
        };
        let out = portcullis_ops::backport::backport(ws, &req)?;
        let cmd = format!("backport {key} {flag}");
        crate::cli::output::print(&format!(
            "\n$ portcullis {}\n{}",
            cmd.trim_end(),
            crate::render::backport::outcome(&out)
        ))?;
    }
    Ok(())
}

/// Write a file of the demo, naming it if that fails.
fn write_file(path: impl AsRef<Path>, text: impl AsRef<[u8]>) -> Result<()> {
    let p = path.as_ref();
    std::fs::write(p, text).map_err(|e| Error::io("write", p, e))
}

/// `demo --jira` and `demo --notify` in a build without the test servers.
#[cfg_attr(feature = "test-servers", allow(dead_code))]
fn without_test_servers(flag: &str) -> Error {
    Error::input(format!(
        "`demo {flag}` needs the Jira-compatible and chat test servers, which this build of portcullis leaves out"
    ))
    .hint(format!("they are test doubles, kept out of the default build: run `cargo run --release --features test-servers -- demo {flag}` from the source"))
}
