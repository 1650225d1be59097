use std::path::PathBuf;

use crate::cli::output::{clean, json, print, Format};
use crate::ops::tracker::{connect_jira, jira_config, live_options, runtime};
use crate::ops::workspace::Workspace;
use crate::sync::import::import_files;
use crate::sync::live::{sync_jira, Progress};
use crate::{Error, Result};

/// `sync --from-file`: import saved responses.
pub fn from_files(ws: &Workspace, files: &[PathBuf], format: Format) -> Result<u8> {
    let mut loaded = Vec::new();
    for f in files {
        let bytes = std::fs::read(f)
            .map_err(|e| Error::input(format!("cannot read {}: {e}", f.display())))?;
        loaded.push((f.display().to_string(), bytes));
    }
    let mut ledger = ws.open_ledger()?;
    let summary = import_files(&mut ledger, &ws.policy, &loaded)?;
    match format {
        Format::Json => print(&json(&summary))?,
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

/// `sync`: live from Jira.
pub fn live(
    ws: &Workspace,
    url: Option<&str>,
    flavor: Option<&str>,
    full: bool,
    keys: &[String],
    format: Format,
) -> Result<u8> {
    let cfg = jira_config(ws, url, flavor)?;
    for k in keys {
        if !ws.policy.key_matches(k) {
            return Err(Error::input(format!(
                "`{k}` is not a ticket key under this policy (pattern `{}`)",
                ws.policy.policy.ticket_key
            )));
        }
    }
    let opts = live_options(&cfg, full, keys);
    let mut ledger = ws.open_ledger()?;
    let show = format != Format::Json && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let bar = Bar::new(show);
    let rt = runtime()?;
    let result = rt.block_on(async {
        let (client, _me) = connect_jira(ws, &cfg).await?;
        sync_jira(&mut ledger, &ws.policy, &client, &opts, &bar).await
    });
    bar.0.finish_and_clear();
    let report = result?;
    match format {
        Format::Json => print(&json(&report))?,
        _ => {
            for w in &report.warnings {
                eprintln!("warning: {}", clean(w));
            }
            let since = match report.since {
                Some(s) if !report.full => {
                    format!(" updated since {}", crate::domain::time::fmt_utc(s))
                }
                _ => " (full)".to_string(),
            };
            print(&format!(
                "synced Jira {} ({}){since}: fetched {} issue(s) in {} page(s), {} ticket(s), {} new event(s), {} new violation(s) in {:.1}s\n",
                report.source.trim_start_matches("jira ").split(" #").next().unwrap_or(""),
                report.flavor,
                report.fetched,
                report.pages,
                report.tickets,
                report.new_events,
                report.new_violations,
                report.elapsed_ms as f64 / 1000.0
            ))?;
        }
    }
    Ok(0)
}
