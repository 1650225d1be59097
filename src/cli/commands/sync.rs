use std::path::PathBuf;

use crate::cli::output::{print, print_json};
use crate::render::sync::{summary, tracker_of};
use crate::render::{clean, json, Format};
use portcullis_core::Problem;
use portcullis_ops::tracker::{runtime, sync, Choice, Trackers};
use portcullis_ops::workspace::Workspace;
use portcullis_ops::{Error, Result};
use portcullis_trackers::file::import_files;
use portcullis_trackers::sync::{Progress, SyncReport};

/// `sync --from-file`: import saved responses.
pub fn from_files(ws: &Workspace, files: &[PathBuf], format: Format) -> Result<u8> {
    let mut loaded = Vec::new();
    for f in files {
        let bytes = std::fs::read(f).map_err(|e| {
            Error::Problem(
                Problem::input(format!("cannot read {}", f.display()))
                    .because(e)
                    .hint("check the path of --from-file"),
            )
        })?;
        loaded.push((f.display().to_string(), bytes));
    }
    let mut ledger = ws.open_ledger()?;
    let summary = import_files(&mut ledger, &ws.policy, &loaded)?;
    match format {
        Format::Json => print_json(&summary)?,
        _ => {
            for w in &summary.warnings {
                eprintln!("warning: {}", clean(w));
            }
            print(&format!(
                "imported {} file(s): {} ticket(s), {} new event(s), {} new violation(s)\n",
                summary.files, summary.tickets, summary.new_events, summary.new_violations
            ))?;
        }
    }
    Ok(0)
}

/// A progress bar on a terminal; nothing otherwise.
struct Bar(indicatif::ProgressBar);

impl Bar {
    fn new(show: bool) -> Bar {
        if !show {
            return Bar(indicatif::ProgressBar::hidden());
        }
        let pb = indicatif::ProgressBar::new_spinner();
        pb.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} {pos} issues {per_sec}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        pb.enable_steady_tick(std::time::Duration::from_millis(120));
        Bar(pb)
    }
}

impl Progress for Bar {
    fn fetched(&self, fetched: u64, total: Option<u64>) {
        if let Some(t) = total {
            if self.0.length() != Some(t) {
                self.0.set_length(t);
                self.0.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{msg} [{bar:30}] {pos}/{len} issues, {eta} left",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
            }
        }
        self.0.set_position(fetched);
    }
    fn phase(&self, what: &str) {
        self.0.set_message(format!("syncing {what}:"));
    }
}

/// `sync`: live from Jira (when `[jira]` is configured, or `--url` / `--flavor` name one) and
/// from GitHub (when `[github]` is). `--key` goes to the tracker its form names (`name#N` is
/// GitHub's). Exit 1 when a `--key` names a ticket the tracker does not have (the rest is
/// synced all the same).
pub fn live(
    ws: &Workspace,
    choice: &Choice,
    full: bool,
    keys: &[String],
    format: Format,
) -> Result<u8> {
    let trackers = Trackers::of(ws, choice)?;
    let mut ledger = ws.open_ledger()?;
    let show = format != Format::Json && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let bar = Bar::new(show);
    let rt = runtime()?;
    let result = rt.block_on(sync(ws, &mut ledger, &trackers, full, keys, &bar));
    bar.0.finish_and_clear();
    let reports = result?;
    match format {
        Format::Json => match reports.as_slice() {
            [one] => print(&json(one))?,
            many => {
                let all: std::collections::BTreeMap<&str, &SyncReport> =
                    many.iter().map(|r| (tracker_of(r), r)).collect();
                print_json(&all)?
            }
        },
        _ => {
            let repos = trackers.github.as_ref().map_or(0, |(_, r)| r.len());
            for report in &reports {
                for w in &report.warnings {
                    eprintln!("warning: {}", clean(w));
                }
                print(&summary(report, repos))?;
            }
        }
    }
    let unknown = reports.iter().any(|r| !r.unknown_keys.is_empty());
    Ok(if unknown { 1 } else { 0 })
}
