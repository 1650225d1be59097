use crate::render::clean;
use portcullis_trackers::sync::SyncReport;

/// The account of a sync: one line, then a line per ticket gone, the decision records applied,
/// a line per foreign or forged record, and one per `--key` the tracker does not have.
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
    if report.records_applied > 0 {
        out.push_str(&format!(
            "{} decision record(s) from {tracker} comments recorded (decided on another workspace)\n",
            report.records_applied
        ));
    }
    for r in &report.records_rejected {
        out.push_str(&format!(
            "{}: foreign or forged decision record in comment {} by {}: {}; not applied\n",
            r.key,
            clean(&r.comment),
            clean(&r.author),
            clean(&r.message)
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
