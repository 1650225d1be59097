use crate::cli::output::{print, print_json};
use crate::cli::{Command, ReleaseCommand};
use crate::render::release::{render, repo_table, short};
use crate::render::{clean, json, Format, Table};
use portcullis_core::release::{render_notes, Waiver};
use portcullis_ops::release::{self, CutOptions};
use portcullis_ops::workspace::Workspace;
use portcullis_ops::Result;

/// The release commands: `cut`, `steps`, `step`, `releases` and `release show|diff`.
pub fn run(ws: &Workspace, command: Command) -> Result<u8> {
    match command {
        Command::Cut {
            to: version,
            line,
            rc,
            apply,
            dry_run: _,
            push,
            promote,
            allow_skip,
            allow_empty,
            waive,
            note,
            out,
            step,
            format,
        } => cut(
            ws,
            CutOptions {
                line,
                version,
                rc,
                apply,
                allow_skip,
                allow_empty,
                waivers: waive
                    .into_iter()
                    .map(|key| Waiver {
                        key,
                        note: note.clone().unwrap_or_default(),
                    })
                    .collect(),
                out_dir: out,
                step,
                push,
                promote,
                at: None,
            },
            format,
        ),
        Command::Steps { line, format } => steps(ws, line.as_deref(), format),
        Command::Step { command } => step(ws, command),
        Command::Releases { line, format } => list(ws, line.as_deref(), format),
        Command::Release {
            command:
                ReleaseCommand::Diff {
                    from,
                    to,
                    line,
                    format,
                },
        } => diff(ws, &from, &to, line.as_deref(), format),
        Command::Release {
            command:
                ReleaseCommand::Show {
                    release: which,
                    line,
                    format,
                },
        } => show(ws, &which, line.as_deref(), format),
        other => unreachable!("not a release command: {other:?}"),
    }
}

pub fn cut(ws: &Workspace, opts: CutOptions, format: Format) -> Result<u8> {
    let apply = opts.apply;
    let report = release::cut(ws, &opts)?;
    if format == Format::Json {
        print_json(&report)?;
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

pub fn list(ws: &Workspace, line: Option<&str>, format: Format) -> Result<u8> {
    let line = ws.policy.resolve_line(line)?;
    let all = ws.read_ledger(|ledger| release::releases(ledger, &line.name))?;
    if format == Format::Json {
        print_json(&all)?;
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
    let r = ws.read_ledger(|ledger| release::show(ledger, &line.name, which))?;
    if format == Format::Json {
        print_json(&r)?;
        return Ok(0);
    }
    // Prose and notes wrapped to the terminal; the table is fitted already.
    print(&crate::render::wrap_lines(&format!(
        "{} (line {}), cut {}, manifest {} sha256 {}\n\n{}\n{}",
        r.manifest.tag,
        r.manifest.line,
        r.at.format("%Y-%m-%d %H:%M UTC"),
        r.manifest.build,
        r.hash,
        repo_table(&r.manifest).render(),
        render_notes(&r.manifest)
    )))?;
    Ok(0)
}

pub fn steps(ws: &Workspace, line: Option<&str>, format: Format) -> Result<u8> {
    let verified = portcullis_ops::verify::verify(
        ws,
        &portcullis_ops::verify::VerifyOptions {
            line: line.map(str::to_string),
            ..Default::default()
        },
        &portcullis_ops::verify::Quiet,
    )?;
    let landed: std::collections::BTreeSet<String> = verified
        .verification
        .tickets
        .iter()
        .filter(|t| t.status.has_landed())
        .map(|t| t.key.clone())
        .collect();
    let rows = release::steps(ws, line, &landed)?;
    if format == Format::Json {
        print_json(&rows)?;
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
    let (a, b) = ws.read_ledger(|ledger| {
        Ok((
            release::show(ledger, &line.name, from)?,
            release::show(ledger, &line.name, to)?,
        ))
    })?;
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
    let added: Vec<&portcullis_core::release::ManifestTicket> = b
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
