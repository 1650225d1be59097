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
            let t = trial(&out);
            print(&match format {
                Format::Json => json(&out),
                Format::Csv => t.render_csv(),
                Format::Md => t.render_md(),
                Format::Table if out.tickets.is_empty() => format!(
                    "every approved ticket of {} has landed on {}\n",
                    out.line, out.release_branch
                ),
                Format::Table => t.render(),
            })?;
            Ok(0)
        }
        Command::Backports {
            line,
            repos,
            dry_run: false,
            format,
        } => {
            let out = backports(ws, line.as_deref(), &repos)?;
            let t = list(&out);
            print(&match format {
                Format::Json => json(&out),
                Format::Csv => t.render_csv(),
                Format::Md => t.render_md(),
                Format::Table if out.tickets.is_empty() => format!(
                    "every approved ticket of {} has landed on {}\n",
                    out.line, out.release_branch
                ),
                Format::Table => t.render(),
            })?;
            Ok(0)
        }
        other => unreachable!("not a backport command: {other:?}"),
    }
}
