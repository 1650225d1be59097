use crate::cli::output::print;
use crate::render::push::render;
use crate::render::{json, Format};
use portcullis_ops::tracker::{
    github_config, jira_config, push_github_configured, push_jira_with, runtime,
};
use portcullis_ops::workspace::Workspace;
use portcullis_ops::{Error, Result};
use portcullis_trackers::push::{github_tickets, is_github_ticket, pending_decisions, PushReport};

/// `push`: send pending decisions to the tracker each ticket lives in: GitHub tickets
/// (`name#N`) to GitHub when `[github]` is configured, the others to Jira when `[jira]` is (or
/// `--url` / `--flavor` name one). Exit 1 when a ticket had a conflict.
pub fn run(
    ws: &Workspace,
    url: Option<&str>,
    flavor: Option<&str>,
    keys: &[String],
    dry_run: bool,
    format: Format,
) -> Result<u8> {
    let github = github_config(ws)?;
    let jira_configured = ws.config.as_ref().is_some_and(|c| c.jira.is_some());
    let jira = if jira_configured || url.is_some() || flavor.is_some() || github.is_none() {
        Some(jira_config(ws, url, flavor)?)
    } else {
        None
    };
    let mut ledger = ws.open_ledger()?;
    let rt = runtime()?;
    let reports = rt.block_on(async {
        let mut reports: Vec<(&'static str, PushReport)> = Vec::new();
        if let Some(cfg) = &jira {
            let r = push_jira_with(ws, &mut ledger, cfg, keys, dry_run).await?;
            reports.push(("Jira", r));
        }
        if let Some(r) = push_github_configured(ws, &mut ledger, keys, dry_run).await? {
            reports.push(("GitHub", r));
        }
        Ok::<_, Error>(reports)
    })?;
    // Decisions on tickets of a tracker that is not configured stay pending: say so.
    let gh = github_tickets(&ledger)?;
    let left: Vec<bool> = pending_decisions(&ledger)?
        .iter()
        .filter(|d| keys.is_empty() || keys.contains(&d.key))
        .map(|d| is_github_ticket(&gh, &d.key))
        .collect();
    let on_github = left.iter().filter(|g| **g).count();
    if github.is_none() && on_github > 0 {
        eprintln!("note: {on_github} decision(s) on GitHub tickets were not pushed: no [github] is configured");
    }
    let elsewhere = left.len() - on_github;
    if jira.is_none() && elsewhere > 0 {
        eprintln!("note: {elsewhere} decision(s) on Jira tickets were not pushed: no [jira] is configured");
    }
    match format {
        Format::Json => match reports.as_slice() {
            [(_, one)] => print(&json(one))?,
            many => {
                let all: std::collections::BTreeMap<String, &PushReport> = many
                    .iter()
                    .map(|(t, r)| (t.to_ascii_lowercase(), r))
                    .collect();
                print(&json(&all))?
            }
        },
        _ => {
            for (tracker, report) in &reports {
                print(&render(report, format, tracker))?;
            }
        }
    }
    Ok(if reports.iter().any(|(_, r)| r.conflicts > 0) {
        1
    } else {
        0
    })
}
