use crate::cli::output::{clean, json, print, Format, Table};
use crate::ops::tracker::{
    github_config, jira_config, push_github_configured, push_jira_with, runtime,
};
use crate::ops::workspace::Workspace;
use crate::sync::push::{github_tickets, is_github_ticket, pending_decisions, Outcome, PushReport};
use crate::{Error, Result};

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

fn render(r: &PushReport, format: Format, tracker: &str) -> String {
    if r.items.is_empty() {
        return format!("nothing to push: every decision is already in {tracker}\n");
    }
    let mut t = Table::new(&["TICKET", "DECISIONS", "LABELS", "COMMENTS", "RESULT"]);
    for i in &r.items {
        let mut labels: Vec<String> = i.add.iter().map(|l| format!("+{l}")).collect();
        labels.extend(i.remove.iter().map(|l| format!("-{l}")));
        let result = match i.outcome {
            Outcome::WouldPush => "would push".to_string(),
            Outcome::Pushed => "pushed".to_string(),
            Outcome::AlreadyInJira | Outcome::AlreadyInGithub => format!("already in {tracker}"),
            Outcome::Conflict => "CONFLICT".to_string(),
            Outcome::Missing => format!("not in {tracker}"),
        };
        t.row(vec![
            i.key.clone(),
            i.decisions.join(", "),
            if labels.is_empty() {
                "-".into()
            } else {
                labels.join(" ")
            },
            i.comments.to_string(),
            result,
        ]);
    }
    let mut out = match format {
        Format::Md => t.render_md(),
        Format::Csv => t.render_csv(),
        _ => t.render(),
    };
    for i in r.items.iter().filter(|i| i.detail.is_some()) {
        out.push_str(&format!(
            "{}: {}\n",
            i.key,
            clean(i.detail.as_deref().unwrap_or(""))
        ));
    }
    out.push_str(&if r.dry_run {
        format!(
            "dry run: {} pending decision(s) on {} ticket(s) in {tracker}; nothing was written\n",
            r.pending,
            r.items.len()
        )
    } else {
        format!(
            "pushed {} decision(s) to {tracker}; {} conflict(s), {} ticket(s) not in {tracker}\n",
            r.pushed, r.conflicts, r.missing
        )
    });
    out
}
