//! `backport` and `backports`.

use crate::cli::output::print;
use crate::cli::{BackportArgs, Command};
use crate::render::backport::{list, outcome, resumed, trial};
use crate::render::{json, Format};
use portcullis_ops::backport::trial::try_approved;
use portcullis_ops::backport::{backport, list::backports, resume::resume, BackportRequest};
use portcullis_ops::workspace::Workspace;
use portcullis_ops::Result;

pub fn run(ws: &Workspace, command: Command) -> Result<u8> {
    match command {
        Command::Backport(BackportArgs {
            key,
            line,
            repos,
            dry_run,
            force,
            note,
            actor,
            push,
            pr,
            resume: resume_,
            abort,
            format,
        }) => {
            let req = BackportRequest {
                key,
                line,
                repos,
                dry_run,
                force,
                note,
                actor: ws.actor(actor.as_deref())?,
                push,
                pr,
            };
            if resume_ || abort {
                let out = resume(ws, &req, abort)?;
                print(&match format {
                    Format::Json => json(&out),
                    _ => resumed(&out),
                })?;
                return Ok(u8::from(out.repos.iter().any(|r| r.needs_attention())));
            }
            let out = backport(ws, &req)?;
            print(&match format {
                Format::Json => json(&out),
                _ => outcome(&out),
            })?;
            Ok(u8::from(out.failed()))
        }
        Command::Backports {
            line,
            repos,
            dry_run: true,
            format,
        } => {
            // Nobody is recorded: the actor only names who would pick.
            let actor = ws.actor(None).unwrap_or_else(|_| "portcullis".into());
            let out = try_approved(ws, line.as_deref(), &repos, &actor)?;
            let none = out
                .tickets
                .is_empty()
                .then_some((&out.line, &out.release_branch));
            print_listing(format, &out, trial(&out), none)
        }
        Command::Backports {
            line,
            repos,
            dry_run: false,
            format,
        } => {
            let out = backports(ws, line.as_deref(), &repos)?;
            let none = out
                .tickets
                .is_empty()
                .then_some((&out.line, &out.release_branch));
            print_listing(format, &out, list(&out), none)
        }
        other => unreachable!("not a backport command: {other:?}"),
    }
}

/// `backports` and its dry run in the format asked for; `none` (the line and its release
/// branch) when no approved ticket is left to land, which a table says in words.
fn print_listing(
    format: Format,
    out: &impl serde::Serialize,
    t: crate::render::Table,
    none: Option<(&String, &String)>,
) -> Result<u8> {
    print(&match (format, none) {
        (Format::Json, _) => json(out),
        (Format::Csv, _) => t.render_csv(),
        (Format::Md, _) => t.render_md(),
        (Format::Table, Some((line, branch))) => {
            format!("every approved ticket of {line} has landed on {branch}\n")
        }
        (Format::Table, None) => t.render(),
    })?;
    Ok(0)
}
