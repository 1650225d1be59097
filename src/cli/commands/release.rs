use crate::cli::output::{clean, json, print, Format, Table};
use crate::ops::release::{self, CutOptions, CutReport};
use crate::ops::workspace::Workspace;
use crate::release::render_notes;
use crate::Result;

fn short(s: &str) -> String {
    s.chars().take(10).collect()
}

fn repo_table(r: &crate::release::Manifest) -> Table {
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

pub fn cut(ws: &Workspace, opts: CutOptions, format: Format) -> Result<u8> {
    let apply = opts.apply;
    let report = release::cut(ws, &opts)?;
    if format == Format::Json {
        print(&json(&report))?;
    } else {
        print(&render(&report, apply))?;
    }
    let push_failed = report.pushed.iter().any(|(_, e)| e.is_some());
    Ok(if report.blockers.is_empty() && !push_failed {
        0
    } else {
        1
    })
}

fn render(r: &CutReport, apply: bool) -> String {
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
    s.push_str(&render_notes(m));
    s.push_str(&gate_text(r));
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

pub fn list(ws: &Workspace, line: Option<&str>, format: Format) -> Result<u8> {
    let line = ws.policy.resolve_line(line)?;
    let ledger = ws.open_ledger()?;
    let all = release::releases(&ledger, &line.name)?;
    if format == Format::Json {
        print(&json(&all))?;
        return Ok(0);
    }
    let mut t = Table::new(&[
        "RELEASE",
        "CUT (UTC)",
        "MANIFEST",
        "AFTER",
        "REPOSITORIES",
        "TICKETS",
        "SHA256",
    ]);
    for r in &all {
        t.row(vec![
            r.manifest.tag.clone(),
            r.at.format("%Y-%m-%d %H:%M").to_string(),
            r.manifest.build.clone(),
            r.manifest.previous.clone().unwrap_or_else(|| "-".into()),
            r.manifest.repos.len().to_string(),
            r.manifest.tickets.len().to_string(),
            short(&r.hash),
        ]);
    }
    if all.is_empty() {
        print(&format!(
            "No release of {} has been cut yet; try `portcullis cut VERSION`.\n",
            line.name
        ))?;
    } else {
        print(&t.render())?;
    }
    Ok(0)
}

pub fn show(ws: &Workspace, which: &str, line: Option<&str>, format: Format) -> Result<u8> {
    let line = ws.policy.resolve_line(line)?;
    let ledger = ws.open_ledger()?;
    let r = release::show(&ledger, &line.name, which)?;
    if format == Format::Json {
        print(&json(&r))?;
        return Ok(0);
    }
    print(&format!(
        "{} (line {}), cut {}, manifest {} sha256 {}\n\n{}\n{}",
        r.manifest.tag,
        r.manifest.line,
        r.at.format("%Y-%m-%d %H:%M UTC"),
        r.manifest.build,
        r.hash,
        repo_table(&r.manifest).render(),
        render_notes(&r.manifest)
    ))?;
    Ok(0)
}

pub fn steps(ws: &Workspace, line: Option<&str>, format: Format) -> Result<u8> {
    let verified = crate::ops::verify::verify(
        ws,
        &crate::ops::verify::VerifyOptions {
            line: line.map(str::to_string),
            ..Default::default()
        },
        &crate::ops::verify::Quiet,
    )?;
    let landed: std::collections::BTreeSet<String> = verified
        .verification
        .tickets
        .iter()
        .filter(|t| t.status == crate::domain::landing::TicketLandingStatus::Landed)
        .map(|t| t.key.clone())
        .collect();
    let rows = release::steps(ws, line, &landed)?;
    if format == Format::Json {
        print(&json(&rows))?;
        return Ok(0);
    }
    let mut t = Table::new(&[
        "STEP",
        "TITLE",
        "STATUS",
        "RELEASE",
        "APPROVED FOR IT",
        "LANDED",
    ]);
    for r in &rows {
        t.row(vec![
            r.name.clone(),
            r.title.clone(),
            r.status.replace('_', " "),
            r.release.clone().unwrap_or_else(|| "-".into()),
            r.approved.to_string(),
            format!("{}/{}", r.landed, r.approved),
        ]);
    }
    print(&t.render())?;
    Ok(0)
}

pub fn step(ws: &Workspace, cmd: crate::cli::StepCommand) -> Result<u8> {
    let row = match cmd {
        crate::cli::StepCommand::Start {
            name,
            release,
            line,
        } => release::step_event(ws, line.as_deref(), &name, Some(&release))?,
        crate::cli::StepCommand::Finish { name, line } => {
            release::step_event(ws, line.as_deref(), &name, None)?
        }
    };
    print(&format!(
        "step {} ({}): {}{}\n",
        row.name,
        row.title,
        row.status.replace('_', " "),
        row.release
            .map(|r| format!(" with {r} (frozen)"))
            .unwrap_or_default()
    ))?;
    Ok(0)
}

pub fn diff(
    ws: &Workspace,
    from: &str,
    to: &str,
    line: Option<&str>,
    format: Format,
) -> Result<u8> {
    let line = ws.policy.resolve_line(line)?;
    let ledger = ws.open_ledger()?;
    let a = release::show(&ledger, &line.name, from)?;
    let b = release::show(&ledger, &line.name, to)?;
    let before: std::collections::BTreeSet<&str> =
        a.manifest.tickets.iter().map(|t| t.key.as_str()).collect();
    let mut rows = Vec::new();
    for r in &b.manifest.repos {
        let old = a.manifest.repos.iter().find(|x| x.repo == r.repo);
        let changed = old.map(|o| o.commit != r.commit).unwrap_or(true);
        let commits: Vec<&String> = if old
            .map(|o| Some(&o.commit) == r.previous_commit.as_ref())
            .unwrap_or(false)
        {
            r.commits.iter().collect()
        } else {
            Vec::new()
        };
        rows.push(serde_json::json!({
            "repo": r.repo,
            "from": old.map(|o| o.commit.clone()),
            "to": r.commit,
            "changed": changed,
            "commits": commits,
            "tickets": r.tickets.iter().filter(|t| !before.contains(t.as_str())).collect::<Vec<_>>(),
        }));
    }
    let added: Vec<&crate::release::ManifestTicket> = b
        .manifest
        .tickets
        .iter()
        .filter(|t| !before.contains(t.key.as_str()))
        .collect();
    if format == Format::Json {
        print(&json(
            &serde_json::json!({ "from": a.manifest.tag, "to": b.manifest.tag, "tickets": added, "repos": rows }),
        ))?;
        return Ok(0);
    }
    let mut t = Table::new(&["REPOSITORY", "FROM", "TO", "COMMITS", "TICKETS ADDED"]);
    for r in &rows {
        t.row(vec![
            r["repo"].as_str().unwrap_or("").to_string(),
            r["from"].as_str().map(short).unwrap_or_else(|| "-".into()),
            r["to"].as_str().map(short).unwrap_or_default(),
            if r["changed"] == true {
                r["commits"].as_array().map_or(0, Vec::len).to_string()
            } else {
                "unchanged".into()
            },
            r["tickets"]
                .as_array()
                .map(|v| {
                    v.iter()
                        .filter_map(|x| x.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default(),
        ]);
    }
    let mut s = format!(
        "{} → {}: {} ticket(s) added\n\n{}",
        a.manifest.tag,
        b.manifest.tag,
        added.len(),
        t.render()
    );
    for x in added {
        s.push_str(&format!(
            "- {}: {} [{}]\n",
            x.key,
            clean(&x.summary),
            x.repos.join(", ")
        ));
    }
    print(&s)?;
    Ok(0)
}
