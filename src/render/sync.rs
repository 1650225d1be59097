use portcullis_trackers::sync::SyncReport;

/// The one-line account of a sync.
pub fn summary(report: &SyncReport, github_repos: usize) -> String {
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
