//! The bot's backports (policy `[backport] bot = true`, off by default): each round, every
//! approved ticket of every line that has not landed and whose backport nobody has started
//! (no `backport.*` event on that line) is tried in memory first.
//!
//! - Every pick clean: the backport is carried out, with `--push --pr` when `[github]` is
//!   configured, else ticket branches only; its `backport.*` events are recorded as for the CLI.
//! - A pick conflicts: nothing is written in git; the conflict is posted to the chat targets
//!   (`[[notify]]`), naming the person to ask (the author of the main-side commit whose pick
//!   conflicts) and the main-side commits it needs first with their authors, then recorded as a
//!   `backport.conflict` event (`"by": "bot"`, no worktree). A post that fails records nothing,
//!   so the next round posts it again.
//!
//! Either way the ticket then has `backport.*` events, so later rounds leave it alone: the bot
//! never picks or posts the same thing twice.

use std::collections::BTreeSet;

use git2::Oid;
use serde::Serialize;
use serde_json::json;

use super::request::{event, BackportRequest, RepoOutcome};
use super::run::execute;
use super::{plan_from, scan, ticket_state, Plan, PlanStatus};
use crate::workspace::Workspace;
use crate::{Error, Result};
use portcullis_chat::{Item, Message, Poster, Section, Target};
use portcullis_core::event::kind;
use portcullis_core::landing::TicketLandingStatus;
use portcullis_core::workflow::State;
use portcullis_core::Problem;

/// Who the bot's events name as their actor.
pub const BOT_ACTOR: &str = "portcullis-bot";

/// What one round of the bot's backports did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BotRound {
    /// `[backport] bot` is off in the policy: nothing was looked at.
    pub disabled: bool,
    /// Tickets backported (`KEY on LINE`), every pick clean.
    pub backported: Vec<String>,
    /// Tickets whose conflicts were posted to chat.
    pub conflicts: Vec<String>,
    /// Tickets left for a person: a refusal, an unreadable clone, a failed push or pull request.
    pub left: Vec<String>,
}

impl BotRound {
    /// One line for the bot's log.
    pub fn summary(&self) -> String {
        if self.disabled {
            return "not enabled ([backport] bot = false in the policy)".into();
        }
        let list = |v: &[String]| {
            if v.is_empty() {
                String::new()
            } else {
                format!(" ({})", v.join(", "))
            }
        };
        format!(
            "{} backported{}, {} conflict(s) posted{}, {} left for a person{}",
            self.backported.len(),
            list(&self.backported),
            self.conflicts.len(),
            list(&self.conflicts),
            self.left.len(),
            list(&self.left)
        )
    }
}

/// One round: see the module's documentation. `targets` are the chat targets conflicts go to.
pub fn round(ws: &Workspace, poster: &Poster, targets: &[Target]) -> Result<BotRound> {
    let mut out = BotRound::default();
    if !ws.policy.policy.backport.bot {
        out.disabled = true;
        return Ok(out);
    }
    let github = ws.config.as_ref().is_some_and(|c| c.github.is_some());
    for name in ws.policy.line_names() {
        let line = ws.policy.resolve_line(Some(&name))?;
        let ledger = ws.open_ledger()?;
        let v = scan(ws, &ledger, line, &[])?;
        let started: BTreeSet<String> = ledger
            .events_of_kinds(&kind::BACKPORT)?
            .into_iter()
            .filter(|e| e.line.as_deref() == Some(name.as_str()))
            .filter_map(|e| e.ticket)
            .collect();
        let mut todo = Vec::new();
        for t in &v.tickets {
            if t.state.as_deref() != Some(State::Approved.as_str())
                || t.status == TicketLandingStatus::Landed
                || started.contains(&t.key)
            {
                continue;
            }
            let (state, summary) = ticket_state(&ledger, ws, &t.key, &name)?;
            let plan = plan_from(ws, &v, line, &t.key, state, summary);
            if plan.repos.iter().any(|r| r.status == PlanStatus::ToPick) {
                todo.push(plan);
            }
        }
        drop(ledger);
        for plan in todo {
            let what = format!("{} on {}", plan.key, plan.line);
            let req = BackportRequest {
                key: plan.key.clone(),
                line: Some(plan.line.clone()),
                dry_run: true,
                actor: BOT_ACTOR.into(),
                ..Default::default()
            };
            let dry = execute(ws, plan.clone(), &v, &req)?;
            if dry
                .repos
                .iter()
                .any(|r| matches!(r, RepoOutcome::Conflict { .. }))
            {
                if post_conflicts(ws, poster, targets, &plan, &dry.repos)? {
                    out.conflicts.push(what);
                } else {
                    out.left.push(what);
                }
                continue;
            }
            if dry.repos.iter().any(RepoOutcome::needs_attention) {
                out.left.push(what);
                continue;
            }
            let req = BackportRequest {
                dry_run: false,
                push: github,
                pr: github,
                ..req
            };
            let done = execute(ws, plan, &v, &req)?;
            if done.failed() {
                out.left.push(what);
            } else {
                out.backported.push(what);
            }
        }
    }
    Ok(out)
}

/// The author (`Name (email)`) of a commit in a clone.
fn author(path: &std::path::Path, sha: &str) -> Option<String> {
    let repo = git2::Repository::open(path).ok()?;
    let c = repo.find_commit(Oid::from_str(sha).ok()?).ok()?;
    let a = c.author();
    Some(match (a.name(), a.email()) {
        (Some(n), Some(e)) if !e.is_empty() => format!("{n} ({e})"),
        (Some(n), _) => n.to_string(),
        (None, Some(e)) => e.to_string(),
        (None, None) => return None,
    })
}

fn short(sha: &str) -> &str {
    sha.get(..10).unwrap_or(sha)
}

/// Post the conflicts of a ticket to every target, then record them. False when there is no
/// target to post to (nothing is recorded: a target configured later gets it).
fn post_conflicts(
    ws: &Workspace,
    poster: &Poster,
    targets: &[Target],
    plan: &Plan,
    repos: &[RepoOutcome],
) -> Result<bool> {
    if targets.is_empty() {
        tracing::warn!(ticket = %plan.key, "a backport conflict, and no [[notify]] target to post it to");
        return Ok(false);
    }
    let mut sections = Vec::new();
    let mut events = Vec::new();
    for r in repos {
        let RepoOutcome::Conflict {
            repo,
            conflict,
            dependencies,
            base,
            ..
        } = r
        else {
            continue;
        };
        let path = super::repo_path(ws, repo);
        let ask = author(&path, &conflict.main_commit);
        let mut items = vec![Item::text(format!(
            "picking {} {} conflicts in {}",
            short(&conflict.main_commit),
            conflict.subject,
            conflict
                .files
                .iter()
                .map(|f| f.path.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))];
        if let Some(a) = &ask {
            items.push(Item::text(format!("ask {a}, who wrote it on main")));
        }
        let mut needs = Vec::new();
        for d in dependencies {
            let by = author(&path, &d.sha);
            items.push(Item::text(format!(
                "needs first: {} {}{}{}",
                short(&d.sha),
                d.ticket
                    .as_deref()
                    .map(|t| format!("{t}: "))
                    .unwrap_or_default(),
                d.subject,
                by.as_deref()
                    .map(|b| format!(" (by {b})"))
                    .unwrap_or_default()
            )));
            needs.push(
                json!({ "sha": d.sha, "subject": d.subject, "ticket": d.ticket, "author": by }),
            );
        }
        items.push(Item::text(format!(
            "to resolve it by hand: portcullis backport {} --line {}",
            plan.key, plan.line
        )));
        sections.push(Section {
            heading: format!("{repo}: {} onto {}", plan.branch, plan.release_branch),
            items,
        });
        let release_tip = plan
            .repos
            .iter()
            .find(|p| &p.repo == repo)
            .and_then(|p| p.release_tip.clone());
        let req = BackportRequest {
            key: plan.key.clone(),
            actor: BOT_ACTOR.into(),
            ..Default::default()
        };
        let mut e = event(
            plan,
            &req,
            kind::BACKPORT_CONFLICT,
            json!({
                "repo": repo,
                "branch": plan.branch,
                "release_tip": release_tip,
                "base": base,
                "main_commit": conflict.main_commit,
                "files": conflict.files,
                "dependencies": needs,
                "worktree": null,
                "ask": ask,
                "by": "bot",
            }),
        );
        e.dedup_key = Some(format!(
            "backport.bot_conflict:{}:{}:{repo}:{}",
            plan.key, plan.line, conflict.main_commit
        ));
        events.push(e);
    }
    let message = Message {
        title: format!(
            "{} ({}) does not backport cleanly to {}",
            plan.key, plan.summary, plan.release_branch
        ),
        sections,
        id: format!("backport-conflict-{}-{}", plan.key, plan.line),
    };
    let rt = crate::tracker::runtime()?;
    for t in targets {
        rt.block_on(poster.post(t, &message)).map_err(|e| {
            Error::Problem(
                Problem::input(format!(
                    "cannot post the backport conflict of {} to `{}`",
                    plan.key, t.name
                ))
                .because(e),
            )
        })?;
    }
    let mut ledger = ws.open_ledger()?;
    let mut tx = ledger.transaction()?;
    for e in events {
        tx.append(e)?;
    }
    tx.commit_with(&ws.policy)?;
    Ok(true)
}
