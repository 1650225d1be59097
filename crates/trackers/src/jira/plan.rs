//! The events of one Jira issue, planned from its label history and fields. Pure.
//!
//! The plan turns the issue's changelog into `label.added` / `label.removed` events (label sets
//! are whole and space-separated; changes are set differences), records the ticket's fields as
//! `ticket.observed`, and reconciles the current labels with the history: a difference (no
//! changelog exported, or a truncated one) becomes a `snapshot` event with no actor. Every event
//! has a dedup key, so planning the same data twice adds nothing.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::json;

use portcullis_core::event::{kind, label_set_after, source, LabelFact, NewEvent, TicketInfo};
use portcullis_core::policy::LoadedPolicy;
use portcullis_core::time::fmt_utc;

use super::client::comment_text;
use super::wire::{label_diff, label_set, time_value, Changelog, Fields, History, JiraIssue};
use crate::plan::{observed, reconcile_labels};
use crate::records::TrackerComment;

/// A history's id in dedup keys: `h{id}`, or `t{time}` when Jira gave none.
pub fn history_id(h: &History, at: DateTime<Utc>) -> String {
    match &h.id {
        Some(id) => format!("h{id}"),
        None => format!("t{}", fmt_utc(at)),
    }
}

/// The dedup key of one label change of a history: `jira:{key}:{history}:{item}:{±}{label}`.
pub fn label_key(key: &str, hid: &str, item: usize, sign: char, label: &str) -> String {
    format!("jira:{key}:{hid}:{item}:{sign}{label}")
}

/// Plan the events of one issue, given the label changes the ledger already has for it.
pub fn plan_issue(
    policy: &LoadedPolicy,
    issue: &JiraIssue,
    known: &[LabelFact],
    warnings: &mut Vec<String>,
) -> Vec<NewEvent> {
    let key = issue.key.as_str();
    let fields = issue.fields.clone().unwrap_or_default();
    let updated = fields.updated.as_ref().and_then(time_value);

    // 1. Label history, oldest first.
    let (mut events, running) = match &issue.changelog {
        Some(cl) => label_history(key, cl, &fields, known, warnings),
        None => (Vec::new(), BTreeSet::new()),
    };

    // 2. Reconcile the current labels with the history (what the ledger had + this batch).
    if let Some(current) = &fields.labels {
        let current: BTreeSet<String> = current.iter().cloned().collect();
        let snapshot = reconcile_labels(
            key, &current, running, known, &events, updated, policy, warnings,
        );
        events.extend(snapshot);
    }

    // 3. The ticket's fields.
    events.push(observed(key, source::JIRA, &info(issue, &fields, updated)));
    events
}

/// An issue's comments (those the search returned, completed when Jira cut them short), with
/// their authors, for the decision records in them.
pub fn comments(issue: &JiraIssue) -> Vec<TrackerComment> {
    let Some(c) = issue.fields.as_ref().and_then(|f| f.comment.as_ref()) else {
        return Vec::new();
    };
    c.comments
        .iter()
        .map(|c| TrackerComment {
            id: c.id.clone().unwrap_or_default(),
            author: c.author.as_ref().and_then(|a| a.id()).unwrap_or_default(),
            body: comment_text(&serde_json::json!({ "body": c.body })),
            created: c.created.as_ref().and_then(time_value),
        })
        .collect()
}

/// The fields of an issue as the ledger records them.
fn info(issue: &JiraIssue, fields: &Fields, updated: Option<DateTime<Utc>>) -> TicketInfo {
    TicketInfo {
        summary: fields.summary.clone().unwrap_or_default(),
        status: fields.status.as_ref().and_then(|s| s.name.clone()),
        assignee: fields
            .assignee
            .as_ref()
            .and_then(|u| u.display_name.clone().or_else(|| u.id())),
        reporter: fields
            .reporter
            .as_ref()
            .and_then(|u| u.display_name.clone().or_else(|| u.id())),
        components: fields
            .components
            .iter()
            .flatten()
            .filter_map(|c| c.name.clone())
            .collect(),
        labels: fields.labels.clone().unwrap_or_default(),
        url: issue.self_url.clone(),
        created: fields.created.as_ref().and_then(time_value),
        updated,
    }
}

/// A history with its time and numeric id parsed once, for sorting.
type TimedHistory<'a> = (Option<DateTime<Utc>>, Option<u64>, &'a History);

/// The label events of a changelog, oldest first, and the label set they end with.
fn label_history(
    key: &str,
    cl: &Changelog,
    fields: &Fields,
    known: &[LabelFact],
    warnings: &mut Vec<String>,
) -> (Vec<NewEvent>, BTreeSet<String>) {
    if cl.is_truncated() {
        warnings.push(format!(
            "{key}: the exported changelog is truncated ({} of {} entries); older label changes are reconciled from the current labels",
            cl.entries().len(),
            cl.total.unwrap_or_default()
        ));
    }
    let mut histories: Vec<TimedHistory<'_>> = cl
        .entries()
        .iter()
        .map(|h| {
            (
                h.created.as_ref().and_then(time_value),
                h.id.as_deref().and_then(|i| i.parse::<u64>().ok()),
                h,
            )
        })
        .collect();
    histories.sort_by_key(|(at, id, _)| (*at, *id));
    let (mut events, mut running) = initial_labels(key, &histories, cl, fields, known);
    for (at, _, h) in histories {
        let Some(at) = at else {
            if h.items.iter().any(|i| i.is_labels()) {
                warnings.push(format!(
                    "{key}: a label change has no readable time and was skipped (history {:?})",
                    h.id
                ));
            }
            continue;
        };
        let actor = h.author.as_ref().and_then(|a| a.id());
        let actor_name = h.author.as_ref().and_then(|a| a.display_name.clone());
        let hid = history_id(h, at);
        for (n, item) in h.items.iter().filter(|i| i.is_labels()).enumerate() {
            let (added, removed) =
                label_diff(item.from_string.as_deref(), item.to_string.as_deref());
            for (k, labels, sign) in [
                (kind::LABEL_ADDED, added, '+'),
                (kind::LABEL_REMOVED, removed, '-'),
            ] {
                for label in labels {
                    if sign == '+' {
                        running.insert(label.clone());
                    } else {
                        running.remove(&label);
                    }
                    events.push(NewEvent {
                        ticket: Some(key.to_string()),
                        line: None,
                        kind: k,
                        source: source::JIRA.into(),
                        actor: actor.clone(),
                        at,
                        meeting: None,
                        note: None,
                        payload: json!({ "label": label, "actor_name": actor_name, "history": h.id }),
                        dedup_key: Some(label_key(key, &hid, n, sign, &label)),
                    });
                }
            }
        }
    }
    (events, running)
}

/// Labels the ticket had before its first recorded label change: present since it was created
/// (or, if the changelog is cut short, at least since that change). Returns their events and
/// the set.
fn initial_labels(
    key: &str,
    histories: &[TimedHistory<'_>],
    cl: &Changelog,
    fields: &Fields,
    known: &[LabelFact],
) -> (Vec<NewEvent>, BTreeSet<String>) {
    let first = histories.iter().find_map(|(at, _, h)| {
        let item = h.items.iter().find(|i| i.is_labels())?;
        Some(((*at)?, item.from_string.clone()))
    });
    let Some((first_at, from)) = first else {
        return (Vec::new(), BTreeSet::new());
    };
    let created = fields
        .created
        .as_ref()
        .and_then(time_value)
        .filter(|c| *c <= first_at);
    let at = match created {
        Some(c) if !cl.is_truncated() => c,
        _ => first_at - chrono::Duration::milliseconds(1),
    };
    let before = label_set_after(known.iter().filter(|f| f.at <= first_at));
    let running = label_set(from.as_deref());
    let events = running
        .difference(&before)
        .map(|label| NewEvent {
            ticket: Some(key.to_string()),
            line: None,
            kind: kind::LABEL_ADDED,
            source: source::SNAPSHOT.into(),
            actor: None,
            at,
            meeting: None,
            note: None,
            payload: json!({ "label": label, "reason": "present before the first recorded label change" }),
            dedup_key: Some(format!("initial:{key}:+{label}")),
        })
        .collect();
    (events, running)
}
