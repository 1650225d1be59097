//! Write-back: the committee's decisions recorded in portcullis, sent to Jira as label edits and
//! a comment each.
//!
//! - **What is pending**: every local `decision` event with no `push` event naming it.
//! - **Plan** (pure, [`plan_push`]): per ticket, the labels the decisions imply (approve adds the
//!   approval label, reject removes the request label, revoke removes approval and done, done adds
//!   the done label, request adds the request label; defer and needs-info change no label), the
//!   last decision on a label winning, and one comment per decision carrying the note, the
//!   meeting date and a marker `[portcullis:<event hash>]`.
//! - **Safety**: before writing, the ticket is re-read. If a label the decisions write changed in
//!   Jira after the latest pending decision (by someone other than the account pushing), that is a conflict:
//!   nothing is written for the ticket and the conflict is reported (and kept as a
//!   `push.conflict` event). Labels are sent as add/remove operations, only those not already
//!   true; a comment whose marker is already on the ticket is not posted again. So a push that
//!   was interrupted after writing to Jira but before recording it completes without duplicates.
//! - Each pushed decision becomes a `push` event (one transaction per ticket).
//!
//! GitHub issues and pull requests ([`push_github`]) go the same way: labels added in one
//! request and removed one by one (`DELETE …/labels/{name}`, percent-encoded), the same comment,
//! the same conflict rule (label events by others after the decision, or not yet seen by the
//! ledger), the same `push` / `push.conflict` events (source `github`). A ticket is GitHub's when
//! its key is `{repository}#{number}` or a sync saw it there; [`push_jira`] leaves those alone.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use crate::github::label_event_key;
use crate::github_client::{split_key, GithubClient};
use crate::jira_client::{comment_text, Account, JiraClient, LabelOp};
use crate::jira_wire::{label_diff, time_value, History};
use crate::Result;
use portcullis_core::event::{kind, source, Event, NewEvent};
use portcullis_core::policy::LoadedPolicy;
use portcullis_core::time::now;
use portcullis_core::workflow::Decision;
use portcullis_ledger::Ledger;

/// A decision recorded locally and not yet in Jira.
#[derive(Debug, Clone, Serialize)]
pub struct PendingDecision {
    pub seq: i64,
    pub hash: String,
    pub key: String,
    pub line: String,
    pub decision: Decision,
    pub note: Option<String>,
    pub meeting: Option<NaiveDate>,
    pub until: Option<NaiveDate>,
    pub actor: Option<String>,
    pub at: DateTime<Utc>,
}

impl PendingDecision {
    /// The marker that identifies this decision's comment in Jira.
    pub fn marker(&self) -> String {
        format!("[portcullis:{}]", &self.hash[..self.hash.len().min(16)])
    }
}

/// What to write to one ticket.
#[derive(Debug, Clone, Serialize)]
pub struct TicketPlan {
    pub key: String,
    pub decisions: Vec<PendingDecision>,
    /// The labels the decisions want present (true) or absent (false).
    pub labels: BTreeMap<String, bool>,
    /// (marker, body) per decision.
    pub comments: Vec<(String, String)>,
}

/// Decisions with no `push` event yet, oldest first.
pub fn pending_decisions(ledger: &Ledger) -> Result<Vec<PendingDecision>> {
    let events = ledger.events_of_kinds(&[kind::DECISION, kind::PUSHED, kind::DECISION_UNDONE])?;
    Ok(pending_from(&events))
}

/// [`pending_decisions`] from events already read (decisions, pushes and undos, in order).
pub fn pending_from(events: &[Event]) -> Vec<PendingDecision> {
    // Pushed decisions, and decisions taken back before they were pushed: neither is pending.
    let pushed: HashSet<i64> = events
        .iter()
        .filter(|e| e.kind == kind::PUSHED || e.kind == kind::DECISION_UNDONE)
        .filter_map(|e| {
            e.payload
                .get("decision_seq")
                .or_else(|| e.payload.get("undoes"))
                .and_then(Value::as_i64)
        })
        .collect();
    events
        .iter()
        .filter(|e| e.kind == kind::DECISION && e.source == source::LOCAL)
        .filter(|e| !pushed.contains(&e.seq))
        .cloned()
        .filter_map(to_pending)
        .collect()
}

fn to_pending(e: Event) -> Option<PendingDecision> {
    let decision = Decision::parse(e.payload.get("decision")?.as_str()?)?;
    Some(PendingDecision {
        seq: e.seq,
        hash: e.hash,
        key: e.ticket?,
        line: e.line?,
        decision,
        note: e.note,
        meeting: e.meeting,
        until: e
            .payload
            .get("until")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok()),
        actor: e.actor,
        at: e.at,
    })
}

/// The comment that carries a decision to Jira.
pub fn comment_body(policy: &LoadedPolicy, d: &PendingDecision) -> String {
    let branch = policy
        .line(&d.line)
        .map(|l| format!(" ({})", l.branch))
        .unwrap_or_default();
    let what = match d.decision {
        Decision::Request => "requested the backport".to_string(),
        Decision::Approve => "APPROVED the backport".to_string(),
        Decision::Reject => "REJECTED the backport".to_string(),
        Decision::Defer => match d.until {
            Some(u) => format!("DEFERRED the backport until {u}"),
            None => "DEFERRED the backport to a later meeting".to_string(),
        },
        Decision::NeedsInfo => "needs MORE INFORMATION before deciding on the backport".to_string(),
        Decision::Done => "recorded the backport as DONE".to_string(),
        Decision::Revoke => "REVOKED the approval of the backport".to_string(),
    };
    let meeting = d
        .meeting
        .map(|m| format!(" at its meeting of {m}"))
        .unwrap_or_default();
    let mut s = format!(
        "Backport steering committee{meeting}: {what} of {} to {}{branch}.",
        d.key, d.line
    );
    if let Some(n) = &d.note {
        s.push_str(&format!("\nReason: {n}"));
    }
    if let Some(a) = &d.actor {
        s.push_str(&format!("\nRecorded by {a} in portcullis."));
    }
    s.push_str(&format!("\n{}", d.marker()));
    s
}

/// Group pending decisions per ticket and work out the labels and comments. Pure.
pub fn plan_push(policy: &LoadedPolicy, pending: &[PendingDecision]) -> Vec<TicketPlan> {
    let mut by_key: BTreeMap<String, Vec<PendingDecision>> = BTreeMap::new();
    for d in pending {
        by_key.entry(d.key.clone()).or_default().push(d.clone());
    }
    let labels = &policy.policy.labels;
    by_key
        .into_iter()
        .map(|(key, mut decisions)| {
            decisions.sort_by(|a, b| a.at.cmp(&b.at).then(a.seq.cmp(&b.seq)));
            let mut want: BTreeMap<String, bool> = BTreeMap::new();
            for d in &decisions {
                let request = policy.line(&d.line).map(|l| l.request_label.clone());
                let mut set = |l: &str, present: bool| {
                    want.insert(l.to_string(), present);
                };
                match d.decision {
                    Decision::Request => {
                        if let Some(r) = &request {
                            set(r, true);
                        }
                    }
                    Decision::Approve => set(&labels.approved, true),
                    Decision::Reject => {
                        if let Some(r) = &request {
                            set(r, false);
                        }
                        set(&labels.approved, false);
                    }
                    Decision::Revoke => {
                        set(&labels.approved, false);
                        set(&labels.done, false);
                    }
                    Decision::Done => set(&labels.done, true),
                    Decision::Defer | Decision::NeedsInfo => {}
                }
            }
            let comments = decisions
                .iter()
                .map(|d| (d.marker(), comment_body(policy, d)))
                .collect();
            TicketPlan {
                key,
                decisions,
                labels: want,
                comments,
            }
        })
        .collect()
}

/// What happened to one ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Dry run: this would be written.
    WouldPush,
    Pushed,
    /// Everything was already in Jira (an earlier push was interrupted); now recorded.
    AlreadyInJira,
    /// Everything was already in GitHub (an earlier push was interrupted); now recorded.
    #[serde(rename = "already-in-github")]
    AlreadyInGithub,
    /// Labels changed in Jira since the decision: nothing written.
    Conflict,
    /// The ticket is not in Jira (deleted or moved).
    Missing,
}

/// One ticket's push.
#[derive(Debug, Clone, Serialize)]
pub struct PushItem {
    pub key: String,
    pub decisions: Vec<String>,
    pub add: Vec<String>,
    pub remove: Vec<String>,
    pub comments: usize,
    pub outcome: Outcome,
    pub detail: Option<String>,
}

/// What `push` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PushReport {
    pub dry_run: bool,
    pub pending: usize,
    pub pushed: usize,
    pub conflicts: usize,
    pub missing: usize,
    pub new_events: u64,
    pub items: Vec<PushItem>,
}

/// A label change in Jira that the push did not make.
#[derive(Debug, Clone)]
struct ForeignChange {
    history: String,
    at: DateTime<Utc>,
    actor: String,
    added: Vec<String>,
    removed: Vec<String>,
}

fn foreign_changes(
    policy: &LoadedPolicy,
    histories: &[History],
    after: DateTime<Utc>,
    me: &Account,
) -> Vec<ForeignChange> {
    let mut out = Vec::new();
    for h in histories {
        let Some(at) = h.created.as_ref().and_then(time_value) else {
            continue;
        };
        if at <= after {
            continue;
        }
        let actor = h.author.as_ref().and_then(|a| a.id()).unwrap_or_default();
        if actor == me.id {
            continue;
        }
        for item in h.items.iter().filter(|i| i.is_labels()) {
            let (added, removed) =
                label_diff(item.from_string.as_deref(), item.to_string.as_deref());
            let relevant = |l: &String| policy.is_known_label(l);
            let added: Vec<String> = added.into_iter().filter(relevant).collect();
            let removed: Vec<String> = removed.into_iter().filter(relevant).collect();
            if !added.is_empty() || !removed.is_empty() {
                out.push(ForeignChange {
                    history: h.id.clone().unwrap_or_default(),
                    at,
                    actor: actor.clone(),
                    added,
                    removed,
                });
            }
        }
    }
    out
}

/// Push pending decisions to Jira (or, with `dry_run`, say what would be pushed).
pub async fn push_jira(
    ledger: &mut Ledger,
    policy: &LoadedPolicy,
    client: &JiraClient,
    me: &Account,
    keys: &[String],
    dry_run: bool,
) -> Result<PushReport> {
    let github = github_tickets(ledger)?;
    let mut pending = pending_decisions(ledger)?;
    pending.retain(|d| !is_github_ticket(&github, &d.key));
    if !keys.is_empty() {
        let wanted: BTreeSet<&String> = keys.iter().collect();
        pending.retain(|d| wanted.contains(&d.key));
    }
    let plans = plan_push(policy, &pending);
    let mut report = PushReport {
        dry_run,
        pending: pending.len(),
        ..Default::default()
    };
    for plan in plans {
        let item = push_ticket(ledger, policy, client, me, &plan, dry_run, &mut report).await?;
        match item.outcome {
            Outcome::Pushed | Outcome::AlreadyInJira | Outcome::AlreadyInGithub => {
                report.pushed += plan.decisions.len()
            }
            Outcome::Conflict => report.conflicts += 1,
            Outcome::Missing => report.missing += 1,
            Outcome::WouldPush => {}
        }
        report.items.push(item);
    }
    Ok(report)
}

async fn push_ticket(
    ledger: &mut Ledger,
    policy: &LoadedPolicy,
    client: &JiraClient,
    me: &Account,
    plan: &TicketPlan,
    dry_run: bool,
    report: &mut PushReport,
) -> Result<PushItem> {
    let decisions: Vec<String> = plan
        .decisions
        .iter()
        .map(|d| format!("{} {} (#{})", d.decision, d.line, d.seq))
        .collect();
    let mut item = PushItem {
        key: plan.key.clone(),
        decisions,
        add: Vec::new(),
        remove: Vec::new(),
        comments: 0,
        outcome: Outcome::WouldPush,
        detail: None,
    };
    let Some(issue) = client.issue_for_push(&plan.key).await? else {
        item.outcome = Outcome::Missing;
        item.detail =
            Some("not found in Jira (deleted, moved, or not visible to this account)".into());
        return Ok(item);
    };
    let fields = issue.get("fields").cloned().unwrap_or(Value::Null);
    let current: BTreeSet<String> = fields
        .get("labels")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|l| l.as_str().map(str::to_string))
        .collect();
    let histories: Vec<History> = issue
        .get("changelog")
        .and_then(|c| c.get("histories"))
        .and_then(|h| serde_json::from_value(h.clone()).ok())
        .unwrap_or_default();

    // Conflict: a policy label changed in Jira, by someone else, after the latest decision.
    let latest = plan
        .decisions
        .iter()
        .map(|d| d.at)
        .max()
        .unwrap_or_else(now);
    let foreign: Vec<ForeignChange> = foreign_changes(policy, &histories, latest, me)
        .into_iter()
        .filter(|f| {
            f.added
                .iter()
                .chain(&f.removed)
                .any(|l| plan.labels.contains_key(l))
        })
        .collect();
    if !foreign.is_empty() {
        item.outcome = Outcome::Conflict;
        let what: Vec<String> = foreign
            .iter()
            .map(|f| {
                let mut parts: Vec<String> = f.added.iter().map(|l| format!("+{l}")).collect();
                parts.extend(f.removed.iter().map(|l| format!("-{l}")));
                format!(
                    "{} by {} at {}",
                    parts.join(" "),
                    f.actor,
                    portcullis_core::time::fmt_utc(f.at)
                )
            })
            .collect();
        item.detail = Some(format!(
            "labels changed in Jira after the decision: {}; nothing was written. Sync, review, and decide again to push",
            what.join("; ")
        ));
        if !dry_run {
            let events = plan.decisions.iter().flat_map(|d| {
                foreign.iter().map(move |f| {
                    push_event(
                        &plan.key,
                        d,
                        me,
                        kind::PUSH_CONFLICT,
                        json!({
                            "decision_seq": d.seq,
                            "history": f.history,
                            "changed_by": f.actor,
                            "changed_at": portcullis_core::time::fmt_utc(f.at),
                            "added": f.added,
                            "removed": f.removed,
                        }),
                        format!("push-conflict:{}:{}", d.hash, f.history),
                    )
                })
            });
            report.new_events += ledger.append_all(policy, events)?;
        }
        return Ok(item);
    }

    // Only what is not already true in Jira.
    let mut ops = Vec::new();
    for (label, present) in &plan.labels {
        match (present, current.contains(label)) {
            (true, false) => {
                item.add.push(label.clone());
                ops.push(LabelOp::Add(label.clone()));
            }
            (false, true) => {
                item.remove.push(label.clone());
                ops.push(LabelOp::Remove(label.clone()));
            }
            _ => {}
        }
    }
    let embedded = fields.get("comment");
    let embedded_total = embedded
        .and_then(|c| c.get("total"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let mut existing: Vec<String> = embedded
        .and_then(|c| c.get("comments"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(comment_text)
        .collect();
    if (existing.len() as u64) < embedded_total {
        existing = client.comment_bodies(&plan.key).await?;
    }
    let to_post: Vec<&(String, String)> = plan
        .comments
        .iter()
        .filter(|(marker, _)| !existing.iter().any(|c| c.contains(marker.as_str())))
        .collect();
    item.comments = to_post.len();
    if dry_run {
        item.outcome = Outcome::WouldPush;
        return Ok(item);
    }
    if !ops.is_empty() {
        client.edit_labels(&plan.key, &ops).await?;
    }
    let mut comment_ids = Vec::new();
    for (_, body) in &to_post {
        comment_ids.push(client.add_comment(&plan.key, body).await?);
    }
    item.outcome = if ops.is_empty() && to_post.is_empty() {
        Outcome::AlreadyInJira
    } else {
        Outcome::Pushed
    };
    let events = plan.decisions.iter().map(|d| {
        push_event(
            &plan.key,
            d,
            me,
            kind::PUSHED,
            json!({
                "decision_seq": d.seq,
                "decision": d.decision.as_str(),
                "site": client.site(),
                "added": item.add,
                "removed": item.remove,
                "comments_posted": comment_ids.len(),
                "already_in_jira": item.outcome == Outcome::AlreadyInJira,
            }),
            format!("push:{}", d.hash),
        )
    });
    report.new_events += ledger.append_all(policy, events)?;
    Ok(item)
}

/// Tickets a sync saw in GitHub (their `ticket.observed` came from there).
pub fn github_tickets(ledger: &Ledger) -> Result<BTreeSet<String>> {
    Ok(ledger.tickets_with_event_from(kind::TICKET_OBSERVED, source::GITHUB)?)
}

/// Whether a ticket lives in GitHub: a `{repository}#{number}` key, or seen there by a sync.
pub fn is_github_ticket(github: &BTreeSet<String>, key: &str) -> bool {
    split_key(key).is_some() || github.contains(key)
}

/// Push pending decisions on GitHub tickets to GitHub (or, with `dry_run`, say what would be
/// pushed).
pub async fn push_github(
    ledger: &mut Ledger,
    policy: &LoadedPolicy,
    client: &GithubClient,
    me: &Account,
    keys: &[String],
    dry_run: bool,
) -> Result<PushReport> {
    let github = github_tickets(ledger)?;
    let mut pending = pending_decisions(ledger)?;
    pending.retain(|d| is_github_ticket(&github, &d.key));
    if !keys.is_empty() {
        let wanted: BTreeSet<&String> = keys.iter().collect();
        pending.retain(|d| wanted.contains(&d.key));
    }
    let plans = plan_push(policy, &pending);
    let mut report = PushReport {
        dry_run,
        pending: pending.len(),
        ..Default::default()
    };
    for plan in plans {
        let item =
            push_github_ticket(ledger, policy, client, me, &plan, dry_run, &mut report).await?;
        match item.outcome {
            Outcome::Pushed | Outcome::AlreadyInJira | Outcome::AlreadyInGithub => {
                report.pushed += plan.decisions.len()
            }
            Outcome::Conflict => report.conflicts += 1,
            Outcome::Missing => report.missing += 1,
            Outcome::WouldPush => {}
        }
        report.items.push(item);
    }
    Ok(report)
}

async fn push_github_ticket(
    ledger: &mut Ledger,
    policy: &LoadedPolicy,
    client: &GithubClient,
    me: &Account,
    plan: &TicketPlan,
    dry_run: bool,
    report: &mut PushReport,
) -> Result<PushItem> {
    let mut item = PushItem {
        key: plan.key.clone(),
        decisions: plan
            .decisions
            .iter()
            .map(|d| format!("{} {} (#{})", d.decision, d.line, d.seq))
            .collect(),
        add: Vec::new(),
        remove: Vec::new(),
        comments: 0,
        outcome: Outcome::WouldPush,
        detail: None,
    };
    let Some((repo, number)) = client.repo_for_key(&plan.key) else {
        item.outcome = Outcome::Missing;
        item.detail =
            Some("its repository is not in github.repos of portcullis.toml; add it to push".into());
        return Ok(item);
    };
    let repo = repo.clone();
    let Some(issue) = client.issue(&repo, number).await? else {
        item.outcome = Outcome::Missing;
        item.detail = Some(format!(
            "not found in {} (deleted, transferred, or not visible to this token)",
            repo.full_name()
        ));
        return Ok(item);
    };
    let current: BTreeSet<String> = issue.label_names().into_iter().collect();
    let (events, _) = client.issue_events(&repo, number).await?;

    // Conflict: a label the decisions write, changed by someone else after the latest decision
    // or since the ledger last saw the ticket.
    let latest = plan
        .decisions
        .iter()
        .map(|d| d.at)
        .max()
        .unwrap_or_else(now);
    let seen: HashSet<String> = ledger
        .events_for_ticket(&plan.key)?
        .into_iter()
        .filter_map(|e| e.dedup_key)
        .collect();
    let foreign: Vec<ForeignChange> = events
        .iter()
        .filter_map(|ev| {
            let (added, label) = ev.label_change()?;
            let at = ev.created_at?;
            let actor = ev.actor_login().unwrap_or("").to_string();
            if actor.eq_ignore_ascii_case(&me.id)
                || !policy.is_known_label(label)
                || !plan.labels.contains_key(label)
            {
                return None;
            }
            let unseen = !seen.contains(&label_event_key(&plan.key, ev, added, label));
            (at > latest || unseen).then(|| ForeignChange {
                history: ev.id.map(|i| i.to_string()).unwrap_or_default(),
                at,
                actor,
                added: if added {
                    vec![label.to_string()]
                } else {
                    vec![]
                },
                removed: if added {
                    vec![]
                } else {
                    vec![label.to_string()]
                },
            })
        })
        .collect();
    if !foreign.is_empty() {
        item.outcome = Outcome::Conflict;
        let what: Vec<String> = foreign
            .iter()
            .map(|f| {
                let mut parts: Vec<String> = f.added.iter().map(|l| format!("+{l}")).collect();
                parts.extend(f.removed.iter().map(|l| format!("-{l}")));
                format!(
                    "{} by {} at {}",
                    parts.join(" "),
                    if f.actor.is_empty() {
                        "someone"
                    } else {
                        &f.actor
                    },
                    portcullis_core::time::fmt_utc(f.at)
                )
            })
            .collect();
        item.detail = Some(format!(
            "labels changed in GitHub after the decision or since the last sync: {}; nothing was written. Sync, review, and decide again to push",
            what.join("; ")
        ));
        if !dry_run {
            let events = plan.decisions.iter().flat_map(|d| {
                foreign.iter().map(move |f| {
                    tracker_event(
                        source::GITHUB,
                        &plan.key,
                        d,
                        me,
                        kind::PUSH_CONFLICT,
                        json!({
                            "decision_seq": d.seq,
                            "event_id": f.history,
                            "changed_by": f.actor,
                            "changed_at": portcullis_core::time::fmt_utc(f.at),
                            "added": f.added,
                            "removed": f.removed,
                        }),
                        format!(
                            "push-conflict:{}:gh{}:{}",
                            d.hash,
                            f.history,
                            portcullis_core::time::fmt_utc(f.at)
                        ),
                    )
                })
            });
            report.new_events += ledger.append_all(policy, events)?;
        }
        return Ok(item);
    }

    // Only what is not already true in GitHub.
    for (label, present) in &plan.labels {
        match (present, current.contains(label)) {
            (true, false) => item.add.push(label.clone()),
            (false, true) => item.remove.push(label.clone()),
            _ => {}
        }
    }
    let existing = client.comment_bodies(&repo, number).await?;
    let to_post: Vec<&(String, String)> = plan
        .comments
        .iter()
        .filter(|(marker, _)| !existing.iter().any(|c| c.contains(marker.as_str())))
        .collect();
    item.comments = to_post.len();
    if dry_run {
        return Ok(item);
    }
    if !item.add.is_empty() {
        client.add_labels(&repo, number, &item.add).await?;
    }
    for label in &item.remove {
        client.remove_label(&repo, number, label).await?;
    }
    let mut comment_ids = Vec::new();
    for (_, body) in &to_post {
        comment_ids.push(client.add_comment(&repo, number, body).await?);
    }
    item.outcome = if item.add.is_empty() && item.remove.is_empty() && to_post.is_empty() {
        Outcome::AlreadyInGithub
    } else {
        Outcome::Pushed
    };
    let events = plan.decisions.iter().map(|d| {
        tracker_event(
            source::GITHUB,
            &plan.key,
            d,
            me,
            kind::PUSHED,
            json!({
                "decision_seq": d.seq,
                "decision": d.decision.as_str(),
                "site": client.site(),
                "repo": repo.full_name(),
                "added": item.add,
                "removed": item.remove,
                "comments_posted": comment_ids.len(),
                "already_in_github": item.outcome == Outcome::AlreadyInGithub,
            }),
            format!("push:{}", d.hash),
        )
    });
    report.new_events += ledger.append_all(policy, events)?;
    Ok(item)
}

/// The ledger event for what push did about one decision (recorded as from Jira).
fn push_event(
    key: &str,
    d: &PendingDecision,
    me: &Account,
    kind: &'static str,
    payload: Value,
    dedup_key: String,
) -> NewEvent {
    tracker_event(source::JIRA, key, d, me, kind, payload, dedup_key)
}

/// The ledger event for what push did about one decision, from `tracker`.
fn tracker_event(
    tracker: &str,
    key: &str,
    d: &PendingDecision,
    me: &Account,
    kind: &'static str,
    payload: Value,
    dedup_key: String,
) -> NewEvent {
    NewEvent {
        ticket: Some(key.to_string()),
        line: Some(d.line.clone()),
        kind,
        source: tracker.into(),
        actor: Some(me.id.clone()),
        at: now(),
        meeting: d.meeting,
        note: None,
        payload,
        dedup_key: Some(dedup_key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> LoadedPolicy {
        portcullis_core::policy::Policy::from_toml("v23.toml", portcullis_core::policy::BUILTIN_V23)
            .unwrap()
    }

    fn d(seq: i64, decision: Decision, note: Option<&str>) -> PendingDecision {
        PendingDecision {
            seq,
            hash: format!("{seq:064x}"),
            key: "DM-1".into(),
            line: "v23".into(),
            decision,
            note: note.map(str::to_string),
            meeting: "2026-11-24".parse().ok(),
            until: None,
            actor: Some("mlindqvist".into()),
            at: portcullis_core::time::parse_utc("2026-11-24T12:00:00Z").unwrap()
                + chrono::Duration::seconds(seq),
        }
    }

    #[test]
    fn decisions_become_label_wishes_last_one_winning() {
        let p = policy();
        let plan = plan_push(&p, &[d(1, Decision::Approve, None)]);
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].labels.get("backport-approved"), Some(&true));
        let plan = plan_push(
            &p,
            &[
                d(1, Decision::Approve, None),
                d(2, Decision::Revoke, Some("wrong ticket")),
            ],
        );
        assert_eq!(plan[0].labels.get("backport-approved"), Some(&false));
        assert_eq!(plan[0].comments.len(), 2);
        let plan = plan_push(&p, &[d(3, Decision::Reject, Some("too risky"))]);
        assert_eq!(plan[0].labels.get("backport-v23"), Some(&false));
        let plan = plan_push(&p, &[d(4, Decision::Defer, None)]);
        assert!(plan[0].labels.is_empty());
    }

    #[test]
    fn comments_carry_reason_meeting_and_marker() {
        let p = policy();
        let x = d(7, Decision::Reject, Some("not needed for DP0.2"));
        let body = comment_body(&p, &x);
        assert!(body.contains("REJECTED"), "{body}");
        assert!(body.contains("not needed for DP0.2"));
        assert!(body.contains("2026-11-24"));
        assert!(body.contains(&x.marker()));
    }
}
