use crate::cli::output::{clean, json, print, Format, Table};
use crate::ops::tracker::{connect_jira, jira_config, runtime};
use crate::ops::workspace::Workspace;
use crate::sync::push::{push_jira, Outcome, PushReport};
use crate::{Error, Result};

/// `push`: send pending decisions to Jira. Exit 1 when a ticket had a conflict.
pub fn run(
    ws: &Workspace,
    url: Option<&str>,
    flavor: Option<&str>,
    keys: &[String],
    dry_run: bool,
    format: Format,
) -> Result<u8> {
    let cfg = jira_config(ws, url, flavor)?;
    let mut ledger = ws.open_ledger()?;
    let rt = runtime()?;
    let report = rt.block_on(async {
        let (client, me) = connect_jira(ws, &cfg).await?;
        let me = me.ok_or_else(|| {
            Error::input("push needs Jira credentials: nothing is written anonymously")
                .hint("set PORTCULLIS_JIRA_TOKEN (and PORTCULLIS_JIRA_EMAIL on Cloud), or use the credentials file")
        })?;
        push_jira(&mut ledger, &ws.policy, &client, &me, keys, dry_run).await
    })?;
    match format {
        Format::Json => print(&json(&report))?,
        _ => print(&render(&report, format))?,
    }
    Ok(if report.conflicts > 0 { 1 } else { 0 })
}

fn render(r: &PushReport, format: Format) -> String {
    if r.items.is_empty() {
        return "nothing to push: every decision is already in Jira\n".to_string();
    }
    let mut t = Table::new(&["TICKET", "DECISIONS", "LABELS", "COMMENTS", "RESULT"]);
    for i in &r.items {
        let mut labels: Vec<String> = i.add.iter().map(|l| format!("+{l}")).collect();
        labels.extend(i.remove.iter().map(|l| format!("-{l}")));
        let result = match i.outcome {
            Outcome::WouldPush => "would push",
            Outcome::Pushed => "pushed",
            Outcome::AlreadyInJira => "already in Jira",
            Outcome::Conflict => "CONFLICT",
            Outcome::Missing => "not in Jira",
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
            result.to_string(),
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
            "dry run: {} pending decision(s) on {} ticket(s); nothing was written\n",
            r.pending,
            r.items.len()
        )
    } else {
        format!(
            "pushed {} decision(s); {} conflict(s), {} ticket(s) not in Jira\n",
            r.pushed, r.conflicts, r.missing
        )
    });
    out
}
