//! The events of one GitHub issue or pull request, planned from its events and fields. Pure.
//!
//! Label changes become `label.added` / `label.removed` events with the actor's login and
//! GitHub's time (dedup keys from GitHub's event ids), the fields a `ticket.observed`, and a
//! merged pull request one `commit.linked` event (payload `repo`, `sha` = the merge commit,
//! `commits` = the pull request's commits).

use std::collections::BTreeSet;

use serde_json::json;

use super::client::{GhEvent, GhIssue, GhPull, GhUser, RepoRef};
use crate::plan::{observed, reconcile_labels};
use crate::records::TrackerComment;
use portcullis_core::event::{kind, source, LabelFact, NewEvent, TicketInfo};
use portcullis_core::policy::LoadedPolicy;
use portcullis_core::time::{fmt_utc, now};

/// One issue or pull request as read from GitHub, everything the plan needs.
#[derive(Debug, Clone)]
pub struct IssueData {
    pub repo: RepoRef,
    pub issue: GhIssue,
    /// Its timeline, as GitHub lists it (label changes, `merged`, `closed`, comments, …).
    pub events: Vec<GhEvent>,
    /// For a merged pull request (not yet linked in the ledger): the pull request and its
    /// commits.
    pub pull: Option<PullData>,
}

/// A merged pull request's merge commit and commits.
#[derive(Debug, Clone)]
pub struct PullData {
    pub pull: GhPull,
    pub commits: Vec<String>,
}

/// The dedup key of a label change: GitHub's event id when there is one.
pub fn label_event_key(key: &str, ev: &GhEvent, added: bool, label: &str) -> String {
    let sign = if added { '+' } else { '-' };
    match ev.id {
        Some(id) => format!("github:{key}:e{id}:{sign}{label}"),
        None => format!(
            "github:{key}:t{}:{}:{sign}{label}",
            ev.created_at.map(fmt_utc).unwrap_or_default(),
            ev.actor_login().unwrap_or("")
        ),
    }
}

/// The comments in an issue's timeline, with their authors, for the decision records in them.
pub fn comments(data: &IssueData) -> Vec<TrackerComment> {
    data.events
        .iter()
        .filter(|e| e.event == "commented")
        .map(|e| TrackerComment {
            id: e.id.map(|id| id.to_string()).unwrap_or_default(),
            author: e
                .user
                .as_ref()
                .map(|u| u.login.as_str())
                .filter(|l| !l.is_empty())
                .or(e.actor_login())
                .unwrap_or_default()
                .to_string(),
            body: e.body.clone().unwrap_or_default(),
            created: e.created_at,
        })
        .collect()
}

/// Plan the events of one issue or pull request, given the label changes the ledger already
/// has for it. Pure.
pub fn plan_github_issue(
    policy: &LoadedPolicy,
    data: &IssueData,
    known: &[LabelFact],
    warnings: &mut Vec<String>,
) -> Vec<NewEvent> {
    let key = data.repo.key(data.issue.number);
    let issue = &data.issue;
    let updated = issue.updated_at;
    let mut out = Vec::new();

    // 1. Label history, oldest first (ties by event id).
    let mut changes: Vec<&GhEvent> = data
        .events
        .iter()
        .filter(|e| e.label_change().is_some())
        .collect();
    changes.sort_by_key(|e| (e.created_at, e.id));
    let mut running: BTreeSet<String> = BTreeSet::new();
    for ev in changes {
        let Some((added, label)) = ev.label_change() else {
            continue;
        };
        let Some(at) = ev.created_at else {
            warnings.push(format!(
                "{key}: a label change has no time and was skipped (event {:?})",
                ev.id
            ));
            continue;
        };
        if added {
            running.insert(label.to_string());
        } else {
            running.remove(label);
        }
        out.push(NewEvent {
            ticket: Some(key.clone()),
            line: None,
            kind: if added {
                kind::LABEL_ADDED
            } else {
                kind::LABEL_REMOVED
            },
            source: source::GITHUB.into(),
            actor: ev.actor_login().map(str::to_string),
            at,
            meeting: None,
            note: None,
            payload: json!({ "label": label, "event_id": ev.id }),
            dedup_key: Some(label_event_key(&key, ev, added, label)),
        });
    }

    // 2. Reconcile the current labels with the history (what the ledger had + this batch).
    let current: BTreeSet<String> = issue.label_names().into_iter().collect();
    let snapshot = reconcile_labels(
        &key, &current, running, known, &out, updated, policy, warnings,
    );
    out.extend(snapshot);
    let at = updated.unwrap_or_else(now);

    // 3. The ticket's fields.
    let login = |u: &Option<GhUser>| {
        u.as_ref()
            .map(|u| u.login.clone())
            .filter(|l| !l.is_empty())
    };
    let info = TicketInfo {
        summary: issue.title.clone(),
        status: Some(issue.state.clone()).filter(|s| !s.is_empty()),
        assignee: login(&issue.assignee),
        reporter: login(&issue.user),
        components: vec![data.repo.name.clone()],
        labels: issue.label_names(),
        url: issue.html_url.clone(),
        created: issue.created_at,
        updated,
    };
    out.push(observed(&key, source::GITHUB, &info));

    // 4. A merged pull request links the ticket to its commits.
    if let Some(p) = &data.pull {
        if let Some(sha) = p.pull.merge_commit_sha.as_deref().filter(|s| !s.is_empty()) {
            out.push(NewEvent {
                ticket: Some(key.clone()),
                line: None,
                kind: kind::COMMIT_LINKED,
                source: source::GITHUB.into(),
                actor: login(&p.pull.merged_by),
                at: p
                    .pull
                    .merged_at
                    .or(issue.pull_request.as_ref().and_then(|r| r.merged_at))
                    .unwrap_or(at),
                meeting: None,
                note: None,
                payload: json!({
                    "repo": data.repo.name,
                    "full_name": data.repo.full_name(),
                    "pull": issue.number,
                    "sha": sha,
                    "commits": p.commits,
                    "base": p.pull.base.as_ref().map(|b| b.reference.clone()),
                    "head": p.pull.head.as_ref().map(|b| b.reference.clone()),
                    "url": issue.html_url,
                }),
                dedup_key: Some(format!("commit.linked:{key}:{sha}")),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::client::{GhEventLabel, GhLabel, GhPullRef};
    use super::*;
    use chrono::{DateTime, Utc};
    use portcullis_core::policy::{Policy, BUILTIN_GITHUB};

    fn t(s: &str) -> DateTime<Utc> {
        portcullis_core::time::parse_utc(s).unwrap()
    }

    fn ev(id: u64, what: &str, who: &str, at: &str, label: &str) -> GhEvent {
        GhEvent {
            id: Some(id),
            event: what.into(),
            actor: Some(GhUser {
                login: who.into(),
                name: None,
            }),
            created_at: Some(t(at)),
            label: Some(GhEventLabel { name: label.into() }),
            commit_id: None,
            body: None,
            user: None,
        }
    }

    fn data(labels: &[&str], events: Vec<GhEvent>) -> IssueData {
        IssueData {
            repo: RepoRef::parse("lsst/daf_butler").unwrap(),
            issue: GhIssue {
                number: 7,
                title: "Fix the flux".into(),
                state: "open".into(),
                labels: labels
                    .iter()
                    .map(|l| GhLabel::Name(l.to_string()))
                    .collect(),
                updated_at: Some(t("2026-11-10T09:00:00Z")),
                html_url: Some("https://github.com/lsst/daf_butler/issues/7".into()),
                ..Default::default()
            },
            events,
            pull: None,
        }
    }

    #[test]
    fn label_events_become_ledger_events_with_github_ids() {
        let p = Policy::from_toml("github.toml", BUILTIN_GITHUB).unwrap();
        let d = data(
            &["backport-approved"],
            vec![
                ev(
                    2,
                    "labeled",
                    "mlindqvist",
                    "2026-11-05T10:00:00Z",
                    "backport-approved",
                ),
                ev(1, "labeled", "dev1", "2026-11-02T10:00:00Z", "backport-v23"),
                ev(
                    3,
                    "unlabeled",
                    "dev1",
                    "2026-11-06T10:00:00Z",
                    "backport-v23",
                ),
            ],
        );
        let mut w = Vec::new();
        let evs = plan_github_issue(&p, &d, &[], &mut w);
        let labels: Vec<(&str, Option<&str>, &str)> = evs
            .iter()
            .filter(|e| e.kind.starts_with("label."))
            .map(|e| {
                (
                    e.kind,
                    e.actor.as_deref(),
                    e.dedup_key.as_deref().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(
            labels,
            vec![
                (
                    "label.added",
                    Some("dev1"),
                    "github:daf_butler#7:e1:+backport-v23"
                ),
                (
                    "label.added",
                    Some("mlindqvist"),
                    "github:daf_butler#7:e2:+backport-approved"
                ),
                (
                    "label.removed",
                    Some("dev1"),
                    "github:daf_butler#7:e3:-backport-v23"
                ),
            ]
        );
        let obs = evs
            .iter()
            .find(|e| e.kind == kind::TICKET_OBSERVED)
            .unwrap();
        assert_eq!(obs.source, "github");
        assert_eq!(obs.payload["components"], json!(["daf_butler"]));
        assert_eq!(obs.payload["status"], "open");
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn labels_without_history_are_reconciled_as_snapshots() {
        let p = Policy::from_toml("github.toml", BUILTIN_GITHUB).unwrap();
        let d = data(&["backport-v23"], vec![]);
        let evs = plan_github_issue(&p, &d, &[], &mut Vec::new());
        let snap: Vec<&NewEvent> = evs.iter().filter(|e| e.source == "snapshot").collect();
        assert_eq!(snap.len(), 1);
        assert_eq!(snap[0].payload["label"], "backport-v23");
    }

    #[test]
    fn a_merged_pull_request_links_its_commits() {
        let p = Policy::from_toml("github.toml", BUILTIN_GITHUB).unwrap();
        let mut d = data(&[], vec![]);
        d.issue.pull_request = Some(GhPullRef {
            merged_at: Some(t("2026-11-09T09:00:00Z")),
        });
        d.pull = Some(PullData {
            pull: GhPull {
                merged: Some(true),
                merge_commit_sha: Some("abc123".into()),
                ..Default::default()
            },
            commits: vec!["c1".into(), "c2".into()],
        });
        let evs = plan_github_issue(&p, &d, &[], &mut Vec::new());
        let link = evs.iter().find(|e| e.kind == kind::COMMIT_LINKED).unwrap();
        assert_eq!(link.payload["sha"], "abc123");
        assert_eq!(link.payload["repo"], "daf_butler");
        assert_eq!(link.payload["commits"], json!(["c1", "c2"]));
        assert_eq!(link.at, t("2026-11-09T09:00:00Z"));
        assert_eq!(
            link.dedup_key.as_deref(),
            Some("commit.linked:daf_butler#7:abc123")
        );
    }
}
