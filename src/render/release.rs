use crate::render::{clean, Table};
use portcullis_core::release::render_notes;
use portcullis_ops::release::CutReport;

pub fn short(s: &str) -> String {
    s.chars().take(10).collect()
}

pub fn repo_table(r: &portcullis_core::release::Manifest) -> Table {
    let mut t = Table::new(&[
        "REPOSITORY",
        "COMMIT",
        "PREVIOUS",
        "TAG",
        "COMMITS",
        "TICKETS",
    ]);
    for x in &r.repos {
        t.row(vec![
            x.repo.clone(),
            short(&x.commit),
            x.previous_commit
                .as_deref()
                .map(short)
                .unwrap_or_else(|| "-".into()),
            x.tag.clone(),
            x.commits.len().to_string(),
            x.tickets.join(" "),
        ]);
    }
    t
}

pub fn render(r: &CutReport, apply: bool) -> String {
    let m = &r.manifest;
    let mut s = format!(
        "{} {} (line {}, after {}), manifest {} sha256 {}\n\n{}",
        if r.applied { "Cut" } else { "Release" },
        m.tag,
        m.line,
        m.previous.as_deref().unwrap_or("-"),
        m.build,
        short(&r.hash),
        repo_table(m).render()
    );
    s.push('\n');
    s.push_str(&super::wrap_lines(&render_notes(m)));
    s.push_str(&super::wrap_lines(&gate_text(r)));
    if r.resumed {
        s.push_str(&format!(
            "\n{} was already cut (the manifest is in the ledger and its tags were made); this run \
             finished it{}\n",
            m.tag,
            if r.files.is_empty() { String::new() } else { ", writing:".to_string() }
        ));
        for f in &r.files {
            s.push_str(&format!("  {f}\n"));
        }
    } else if r.applied && r.blockers.is_empty() {
        let made = r.tags.iter().filter(|t| !t.3).count();
        s.push_str(&format!(
            "\nTagged {} repositories ({made} new tags, {} already there), recorded the manifest, wrote:\n",
            r.tags.len(),
            r.tags.len() - made
        ));
        for f in &r.files {
            s.push_str(&format!("  {f}\n"));
        }
        if !r.pushed.is_empty() {
            let failed: Vec<String> = r
                .pushed
                .iter()
                .filter_map(|(repo, e)| e.as_ref().map(|e| format!("  {repo}: {}", clean(e))))
                .collect();
            s.push_str(&format!(
                "Pushed {} of {} tag(s)\n",
                r.pushed.len() - failed.len(),
                r.pushed.len()
            ));
            if !failed.is_empty() {
                s.push_str(&format!(
                    "{}\nfix the remotes, then finish with `portcullis cut {} --push`\n",
                    failed.join("\n"),
                    m.version
                ));
            }
        }
        if !r.marked_done.is_empty() {
            s.push_str(&format!(
                "Marked done (run `portcullis push` to write it to the tracker): {}\n",
                r.marked_done.join(", ")
            ));
        }
    } else if !apply && r.blockers.is_empty() {
        s.push_str(&format!(
            "\nThe gate passes. Dry run: nothing was written; `--apply` makes {} tag(s) `{}` and records the manifest.\n",
            r.tags.iter().filter(|t| !t.3).count(),
            m.tag
        ));
    }
    s
}

/// What the gate found: the notes outside the release, and the blocking reasons.
pub fn gate_text(r: &CutReport) -> String {
    let mut s = String::new();
    if !r.notes.is_empty() {
        let mut t = Table::new(&["NOT BLOCKING", "TICKET", "WHY"]);
        for b in &r.notes {
            t.row(vec![
                b.kind.clone(),
                b.ticket.clone().unwrap_or_else(|| "-".into()),
                clean(&b.message),
            ]);
        }
        s.push_str(&format!(
            "\nNot blocking ({}):\n{}",
            r.notes.len(),
            t.render()
        ));
    }
    if !r.blockers.is_empty() {
        let mut t = Table::new(&["BLOCKED BY", "TICKET", "REPOSITORY", "WHY"]);
        for b in &r.blockers {
            t.row(vec![
                b.kind.clone(),
                b.ticket.clone().unwrap_or_else(|| "-".into()),
                b.repo.clone().unwrap_or_else(|| "-".into()),
                clean(&b.message),
            ]);
        }
        s.push_str(&format!(
            "\nBLOCKED: {} reason(s); nothing was written\n{}",
            r.blockers.len(),
            t.render()
        ));
    }
    s
}
