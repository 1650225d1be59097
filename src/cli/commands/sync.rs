use std::path::PathBuf;

use crate::cli::output::print;
use crate::render::sync::{summary, tracker_of};
use crate::render::{clean, json, Format};
use portcullis_ops::tracker::{
    connect_github, connect_jira, github_config, jira_config, live_options, runtime,
};
use portcullis_ops::workspace::Workspace;
use portcullis_ops::{Error, Result};
use portcullis_trackers::github::{sync_github, GithubOptions};
use portcullis_trackers::github_client::split_key;
use portcullis_trackers::import::import_files;
use portcullis_trackers::live::{sync_jira, Progress, SyncReport};

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

/// `sync`: live from Jira (when `[jira]` is configured, or `--url` / `--flavor` name one) and
/// from GitHub (when `[github]` is). `--key` goes to the tracker its form names (`name#N` is
/// GitHub's).
pub fn live(
    ws: &Workspace,
    url: Option<&str>,
    flavor: Option<&str>,
    full: bool,
    keys: &[String],
    format: Format,
) -> Result<u8> {
    let github = github_config(ws)?;
    let jira_configured = ws.config.as_ref().is_some_and(|c| c.jira.is_some());
    let jira = if jira_configured || url.is_some() || flavor.is_some() || github.is_none() {
        Some(jira_config(ws, url, flavor)?)
    } else {
        None
    };
    for k in keys {
        if !ws.policy.key_matches(k) {
            return Err(Error::input(format!(
                "`{k}` is not a ticket key under this policy (pattern `{}`)",
                ws.policy.policy.ticket_key
            )));
        }
    }
    let (github_keys, jira_keys): (Vec<String>, Vec<String>) =
        keys.iter().cloned().partition(|k| split_key(k).is_some());
    if let (Some(k), None) = (github_keys.first(), &github) {
        return Err(Error::input(format!(
            "`{k}` is a GitHub ticket, but no [github] is configured"
        ))
        .hint("add a [github] table with `repos = [\"owner/name\"]` to portcullis.toml"));
    }
    if let (Some(k), None) = (jira_keys.first(), &jira) {
        return Err(Error::input(format!(
            "`{k}` is a Jira ticket, but no [jira] is configured"
        ))
        .hint("add a [jira] table with `url = \"https://…\"` to portcullis.toml, or pass --url"));
    }
    let mut ledger = ws.open_ledger()?;
    let show = format != Format::Json && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let bar = Bar::new(show);
    let rt = runtime()?;
    let result = rt.block_on(async {
        let mut reports = Vec::new();
        if let Some(cfg) = &jira {
            let opts = live_options(cfg, full, &jira_keys);
            let (client, _me) = connect_jira(ws, cfg).await?;
            reports.push(sync_jira(&mut ledger, &ws.policy, &client, &opts, &bar).await?);
        }
        if let Some((cfg, repos)) = &github {
            let (client, _me) = connect_github(ws, cfg, repos.clone()).await?;
            let opts = GithubOptions {
                full,
                extra_keys: github_keys.clone(),
                ..GithubOptions::default()
            };
            reports.push(sync_github(&mut ledger, &ws.policy, &client, &opts, &bar).await?);
        }
        Ok::<_, Error>(reports)
    });
    bar.0.finish_and_clear();
    let reports = result?;
    match format {
        Format::Json => match reports.as_slice() {
            [one] => print(&json(one))?,
            many => {
                let all: std::collections::BTreeMap<&str, &SyncReport> =
                    many.iter().map(|r| (tracker_of(r), r)).collect();
                print(&json(&all))?
            }
        },
        _ => {
            for report in &reports {
                for w in &report.warnings {
                    eprintln!("warning: {}", clean(w));
                }
                print(&summary(
                    report,
                    github.as_ref().map_or(0, |(_, r)| r.len()),
                ))?;
            }
        }
    }
    Ok(0)
}
