//! Import of Jira search responses saved to files: parse → plan (pure) → apply (one transaction).
//!
//! The plan turns each issue's label history into `label.added` / `label.removed` events (label
//! sets are whole and space-separated; changes are set differences), records the ticket's fields
//! as `ticket.observed`, and reconciles the current labels with the history: a difference (no
//! changelog exported, or a truncated one) becomes a `snapshot` event with no actor. Every event
//! has a dedup key, so importing the same data twice adds nothing.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::domain::event::{kind, labels_from_events, source, Event, NewEvent, TicketInfo};
use crate::domain::policy::LoadedPolicy;
use crate::domain::time::{fmt_utc, now};
use crate::ledger::Ledger;
use crate::sync::jira_wire::{label_diff, time_value, JiraIssue, SearchPage};
use crate::{Error, Result};

/// Parse a file holding a Jira response: a search page of either API, or a single issue.
pub fn parse_export(name: &str, bytes: &[u8]) -> Result<Vec<JiraIssue>> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Error::input(format!("{name} is not UTF-8 text")).hint("export the Jira search response as JSON"))?;
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Err(Error::input(format!("{name} is empty")).hint("export a Jira search response with expand=changelog"));
    }
    if trimmed.starts_with('<') {
        return Err(Error::input(format!("{name} is an HTML or XML page, not a Jira JSON response"))
            .hint("a login page or a proxy error was saved instead of the search result; check the credentials and save the JSON body"));
    }
    let value: Value = serde_json::from_str(text).map_err(|e| {
        let what = if e.is_eof() { "is truncated" } else { "is not valid JSON" };
        Error::input(format!("{name} {what} (line {}, column {}): {e}", e.line(), e.column()))
            .hint("save the complete response body of /rest/api/2/search or /rest/api/3/search/jql")
    })?;
    let Value::Object(map) = &value else {
        return Err(Error::input(format!("{name} holds JSON but not a Jira search response (expected an object with `issues`)")));
    };
    if map.contains_key("issues") {
        let page: SearchPage = serde_path_to_error::deserialize(value)
            .map_err(|e| Error::input(format!("{name}: unexpected shape at `{}`: {}", e.path(), e.inner())))?;
        return Ok(page.issues);
    }
    if map.contains_key("key") && map.contains_key("fields") {
        let issue: JiraIssue = serde_path_to_error::deserialize(value)
            .map_err(|e| Error::input(format!("{name}: unexpected shape at `{}`: {}", e.path(), e.inner())))?;
        return Ok(vec![issue]);
    }
    if let Some(msgs) = map.get("errorMessages") {
        let mut parts: Vec<String> = msgs.as_array().into_iter().flatten().filter_map(|m| m.as_str().map(str::to_string)).collect();
        if let Some(Value::Object(errs)) = map.get("errors") {
            parts.extend(errs.iter().map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or(&v.to_string()))));
        }
        return Err(Error::input(format!("{name} holds a Jira error response, not search results: {}", parts.join("; ")))
            .hint("fix the query or credentials that produced it and export again"));
    }
    if map.contains_key("values") {
        return Err(Error::input(format!("{name} is a changelog page (/issue/{{key}}/changelog), not a search response"))
            .hint("export /rest/api/2/search?expand=changelog (Data Center) or /rest/api/3/search/jql with expand=changelog (Cloud)"));
    }
    Err(Error::input(format!("{name} holds JSON but not a Jira search response (no `issues` key)"))
        .hint("export the body of /rest/api/2/search or /rest/api/3/search/jql"))
}

/// What an import would do and did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ImportSummary {
    pub files: usize,
    pub tickets: usize,
    pub new_events: u64,
    pub new_violations: usize,
    pub warnings: Vec<String>,
}

/// Plan the events for a batch of issues. `existing` gives a ticket's events already in the ledger.
pub fn plan(
    policy: &LoadedPolicy,
    issues: &[JiraIssue],
    source_name: &str,
    mut existing: impl FnMut(&str) -> Result<Vec<Event>>,
    warnings: &mut Vec<String>,
) -> Result<Vec<NewEvent>> {
    let bad: Vec<&str> = issues.iter().map(|i| i.key.as_str()).filter(|k| !policy.key_matches(k)).collect();
    if !bad.is_empty() {
        let shown: Vec<&str> = bad.iter().take(5).copied().collect();
        return Err(Error::input(format!(
            "{source_name}: {} ticket key(s) do not match the policy's pattern `{}`: {}{}",
            bad.len(),
            policy.policy.ticket_key,
            shown.join(", "),
            if bad.len() > 5 { ", …" } else { "" }
        ))
        .hint(format!("fix `ticket_key` in {} or export only this project's tickets; nothing was imported", policy.source)));
    }

    let mut out = Vec::new();
    let mut seen_in_batch: BTreeSet<&str> = BTreeSet::new();
    for issue in issues {
        if !seen_in_batch.insert(issue.key.as_str()) {
            warnings.push(format!("{}: appears twice in {source_name}; the later copy was merged", issue.key));
        }
        let key = issue.key.clone();
        let fields = issue.fields.clone().unwrap_or_default();
        let updated = fields.updated.as_ref().and_then(time_value);

        // 1. Label history, oldest first.
        let mut label_events: Vec<NewEvent> = Vec::new();
        if let Some(cl) = &issue.changelog {
            if cl.is_truncated() {
                warnings.push(format!(
                    "{key}: the exported changelog is truncated ({} of {} entries); older label changes are reconciled from the current labels",
                    cl.entries().len(),
                    cl.total.unwrap_or_default()
                ));
            }
            let mut histories: Vec<_> = cl.entries().iter().collect();
            histories.sort_by_key(|h| (h.created.as_ref().and_then(time_value), h.id.as_deref().and_then(|i| i.parse::<u64>().ok())));
            for h in histories {
                let Some(at) = h.created.as_ref().and_then(time_value) else {
                    if h.items.iter().any(|i| i.is_labels()) {
                        warnings.push(format!("{key}: a label change has no readable time and was skipped (history {:?})", h.id));
                    }
                    continue;
                };
                let actor = h.author.as_ref().and_then(|a| a.id());
                let actor_name = h.author.as_ref().and_then(|a| a.display_name.clone());
                let hid = match &h.id {
                    Some(id) => format!("h{id}"),
                    None => format!("t{}", fmt_utc(at)),
                };
                for (n, item) in h.items.iter().filter(|i| i.is_labels()).enumerate() {
                    let (added, removed) = label_diff(item.from_string.as_deref(), item.to_string.as_deref());
                    for (k, labels, sign) in [(kind::LABEL_ADDED, added, '+'), (kind::LABEL_REMOVED, removed, '-')] {
                        for label in labels {
                            label_events.push(NewEvent {
                                ticket: Some(key.clone()),
                                line: None,
                                kind: k,
                                source: source::JIRA.into(),
                                actor: actor.clone(),
                                at,
                                meeting: None,
                                note: None,
                                payload: json!({ "label": label, "actor_name": actor_name, "history": h.id }),
                                dedup_key: Some(format!("jira:{key}:{hid}:{n}:{sign}{label}")),
                            });
                        }
                    }
                }
            }
        }

        // 2. Reconcile the current labels with the history (existing + planned).
        if let Some(current) = &fields.labels {
            let known = existing(&key)?;
            let planned: Vec<Event> = label_events.iter().map(|e| pseudo_event(e)).collect();
            let history_set = labels_from_events(known.iter().chain(planned.iter()));
            let current: BTreeSet<String> = current.iter().cloned().collect();
            let at = updated.unwrap_or_else(now);
            let stamp = fmt_utc(at);
            for (k, labels, sign) in [
                (kind::LABEL_ADDED, current.difference(&history_set).cloned().collect::<Vec<_>>(), '+'),
                (kind::LABEL_REMOVED, history_set.difference(&current).cloned().collect::<Vec<_>>(), '-'),
            ] {
                for label in labels {
                    label_events.push(NewEvent {
                        ticket: Some(key.clone()),
                        line: None,
                        kind: k,
                        source: source::SNAPSHOT.into(),
                        actor: None,
                        at,
                        meeting: None,
                        note: None,
                        payload: json!({ "label": label, "reason": "current labels differ from the label history" }),
                        dedup_key: Some(format!("snapshot:{key}:{stamp}:{sign}{label}")),
                    });
                }
            }
            for label in &current {
                if policy.is_unknown_backport_label(label) {
                    warnings.push(format!(
                        "{key}: label `{label}` looks like a backport label but no release line of the policy uses it (ignored)"
                    ));
                }
            }
        }
        out.extend(label_events);

        // 3. The ticket's fields.
        let info = TicketInfo {
            summary: fields.summary.clone().unwrap_or_default(),
            status: fields.status.as_ref().and_then(|s| s.name.clone()),
            assignee: fields.assignee.as_ref().and_then(|u| u.display_name.clone().or_else(|| u.id())),
            reporter: fields.reporter.as_ref().and_then(|u| u.display_name.clone().or_else(|| u.id())),
            components: fields.components.iter().flatten().filter_map(|c| c.name.clone()).collect(),
            labels: fields.labels.clone().unwrap_or_default(),
            url: issue.self_url.clone(),
            created: fields.created.as_ref().and_then(time_value),
            updated,
        };
        let payload = serde_json::to_value(&info).map_err(|e| Error::internal(e.to_string()))?;
        let digest = hex::encode(&Sha256::digest(payload.to_string().as_bytes())[..12]);
        out.push(NewEvent {
            ticket: Some(key.clone()),
            line: None,
            kind: kind::TICKET_OBSERVED,
            source: source::JIRA.into(),
            actor: None,
            at: updated.unwrap_or_else(now),
            meeting: None,
            note: None,
            payload,
            dedup_key: Some(format!("observed:{key}:{}:{digest}", updated.map(fmt_utc).unwrap_or_default())),
        });
    }
    Ok(out)
}

fn pseudo_event(e: &NewEvent) -> Event {
    Event {
        seq: i64::MAX,
        ticket: e.ticket.clone(),
        line: e.line.clone(),
        kind: e.kind.to_string(),
        source: e.source.clone(),
        actor: e.actor.clone(),
        at: e.at,
        recorded_at: e.at,
        meeting: e.meeting,
        note: e.note.clone(),
        payload: e.payload.clone(),
        dedup_key: e.dedup_key.clone(),
        prev_hash: String::new(),
        hash: String::new(),
    }
}

/// Import files into the ledger: all or nothing. A file that fails to parse or plan stops the
/// whole import before anything is written.
pub fn import_files(ledger: &mut Ledger, policy: &LoadedPolicy, files: &[(String, Vec<u8>)]) -> Result<ImportSummary> {
    let mut summary = ImportSummary { files: files.len(), ..Default::default() };
    let mut parsed = Vec::new();
    for (name, bytes) in files {
        let issues = parse_export(name, bytes)?;
        let sha = hex::encode(Sha256::digest(bytes));
        parsed.push((name.clone(), sha, issues));
    }
    let violations_before = open_violation_count(ledger)?;
    let mut tx = ledger.transaction()?;
    for (name, sha, issues) in &parsed {
        let events = plan(policy, issues, name, |k| tx.events_for_ticket(k), &mut summary.warnings)?;
        let mut appended = 0u64;
        let mut tickets: BTreeMap<&str, ()> = BTreeMap::new();
        for ev in events {
            if tx.append(ev)?.is_some() {
                appended += 1;
            }
        }
        for i in issues {
            tickets.insert(i.key.as_str(), ());
        }
        summary.tickets += tickets.len();
        summary.new_events += appended;
        if appended > 0 {
            let base = std::path::Path::new(name).file_name().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
            tx.append(NewEvent {
                ticket: None,
                line: None,
                kind: kind::IMPORT,
                source: "file".into(),
                actor: None,
                at: now(),
                meeting: None,
                note: None,
                payload: json!({ "file": base, "sha256": sha, "tickets": tickets.len(), "new_events": appended }),
                dedup_key: Some(format!("import:{sha}")),
            })?;
        }
    }
    tx.commit_with(policy)?;
    summary.new_violations = open_violation_count(ledger)?.saturating_sub(violations_before);
    Ok(summary)
}

fn open_violation_count(ledger: &Ledger) -> Result<usize> {
    let n: i64 = ledger.conn().query_row("SELECT COUNT(*) FROM violations WHERE resolved_by IS NULL", [], |r| r.get(0))?;
    Ok(n as usize)
}
