use crate::render::clean;
use portcullis_trackers::sync::SyncReport;

/// The account of a sync: one line, then a line per ticket gone and per `--key` the tracker
/// does not have.
pub fn summary(report: &SyncReport, github_repos: usize) -> String {
    let mut out = one_line(report, github_repos);
    let tracker = if tracker_of(report) == "github" {
        "GitHub"
    } else {
        "Jira"
    };
    for g in &report.gone {
        let why = match &g.moved_to {
            Some(to) => format!("moved to {to}"),
            None => g.reason.clone(),
        };
        out.push_str(&format!(
            "{}: gone from {tracker} ({}); recorded as gone, no longer synced\n",
            g.key,
            clean(&why)
        ));
    }
    for k in &report.unknown_keys {
        out.push_str(&format!(
            "{k}: not in {tracker}: no such ticket (check the key), or outside the workspace's query\n"
        ));
    }
    out
}

fn one_line(report: &SyncReport, github_repos: usize) -> String {
    let since = match report.since {
        Some(s) if !report.full => {
            format!(" updated since {}", portcullis_core::time::fmt_utc(s))
        }
        _ => " (full)".to_string(),
    };
    let counts = format!(
        "fetched {} issue(s) in {} page(s), {} ticket(s), {} new event(s), {} new violation(s) in {:.1}s",
        report.fetched,
        report.pages,
        report.tickets,
        report.new_events,
        report.new_violations,
        report.elapsed_ms as f64 / 1000.0
    );
    if tracker_of(report) == "github" {
        format!(
            "synced GitHub {} ({github_repos} repositor{}){since}: {counts}\n",
            report.source.trim_start_matches("github "),
            if github_repos == 1 { "y" } else { "ies" },
        )
    } else {
        format!(
            "synced Jira {} ({}){since}: {counts}\n",
            report
                .source
                .trim_start_matches("jira ")
                .split(" #")
                .next()
                .unwrap_or(""),
            report.flavor,
        )
    }
}

/// Which tracker a report is from: `jira` or `github`.
pub fn tracker_of(report: &SyncReport) -> &'static str {
    if report.flavor == "github" {
        "github"
    } else {
        "jira"
    }
}
