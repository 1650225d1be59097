//! Import of Jira search responses saved to files: parse → plan (pure) → apply (one transaction).
//!
//! The plan turns each issue's label history into `label.added` / `label.removed` events (label
//! sets are whole and space-separated; changes are set differences), records the ticket's fields
//! as `ticket.observed`, and reconciles the current labels with the history: a difference (no
//! changelog exported, or a truncated one) becomes a `snapshot` event with no actor. Every event
//! has a dedup key, so importing the same data twice adds nothing.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::jira_wire::{label_diff, label_set, time_value, History, JiraIssue, SearchPage};
use crate::{Error, Result};
use portcullis_core::event::{kind, label_set_after, source, LabelFact, NewEvent, TicketInfo};
use portcullis_core::policy::LoadedPolicy;
use portcullis_core::time::{fmt_utc, now};
use portcullis_ledger::Ledger;

/// A response that is JSON of the right kind but with a field of the wrong type.
fn shape_error(name: &str, e: &serde_path_to_error::Error<serde_json::Error>) -> Error {
    Error::input(format!(
        "{name}: unexpected shape at `{}`: {}",
        e.path(),
        e.inner()
    ))
    .hint("the file does not look like an unmodified Jira response; export it again")
}

/// Parse a file holding a Jira response: a search page of either API, or a single issue.
pub fn parse_export(name: &str, bytes: &[u8]) -> Result<Vec<JiraIssue>> {
    let text = std::str::from_utf8(bytes).map_err(|_| {
        Error::input(format!("{name} is not UTF-8 text"))
            .hint("export the Jira search response as JSON")
    })?;
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Err(Error::input(format!("{name} is empty"))
            .hint("export a Jira search response with expand=changelog"));
    }
    if trimmed.starts_with('<') {
        return Err(Error::input(format!("{name} is an HTML or XML page, not a Jira JSON response"))
            .hint("a login page or a proxy error was saved instead of the search result; check the credentials and save the JSON body"));
    }
    // Fast path: a search page, parsed straight into the wire types.
    if let Ok(page) = serde_json::from_str::<SearchPage>(text) {
        return Ok(page.issues);
    }
    // Otherwise find out what it is, to say precisely what is wrong.
    let value: Value = serde_json::from_str(text).map_err(|e| {
        let what = if e.is_eof() {
            "is truncated"
        } else {
            "is not valid JSON"
        };
        Error::input(format!(
            "{name} {what} (line {}, column {}): {e}",
            e.line(),
            e.column()
        ))
        .hint("save the complete response body of /rest/api/2/search or /rest/api/3/search/jql")
    })?;
    let Value::Object(map) = &value else {
        return Err(Error::input(format!(
            "{name} holds JSON but not a Jira search response (expected an object with `issues`)"
        ))
        .hint("export the body of /rest/api/2/search or /rest/api/3/search/jql"));
    };
    if map.contains_key("issues") {
        let page: SearchPage =
            serde_path_to_error::deserialize(value).map_err(|e| shape_error(name, &e))?;
        return Ok(page.issues);
    }
    if map.contains_key("key") && map.contains_key("fields") {
        let issue: JiraIssue =
            serde_path_to_error::deserialize(value).map_err(|e| shape_error(name, &e))?;
        return Ok(vec![issue]);
    }
    if map.contains_key("errorMessages") {
        let parts = crate::jira_wire::error_messages(&value);
        return Err(Error::input(format!(
            "{name} holds a Jira error response, not search results: {}",
            parts.join("; ")
        ))
        .hint("fix the query or credentials that produced it and export again"));
    }
    if map.contains_key("values") {
        return Err(Error::input(format!("{name} is a changelog page (/issue/{{key}}/changelog), not a search response"))
            .hint("export /rest/api/2/search?expand=changelog (Data Center) or /rest/api/3/search/jql with expand=changelog (Cloud)"));
    }
    Err(Error::input(format!(
        "{name} holds JSON but not a Jira search response (no `issues` key)"
    ))
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

/// A history with its time and numeric id parsed once, for sorting.
type TimedHistory<'a> = (Option<DateTime<Utc>>, Option<u64>, &'a History);

fn bad_keys(policy: &LoadedPolicy, source_name: &str, bad: &[&str]) -> Error {
    let shown: Vec<&str> = bad.iter().take(5).copied().collect();
    Error::input(format!(
        "{source_name}: {} ticket key(s) do not match the policy's pattern `{}`: {}{}",
        bad.len(),
        policy.policy.ticket_key,
        shown.join(", "),
        if bad.len() > 5 { ", …" } else { "" }
    ))
    .hint(format!(
        "fix `ticket_key` in {} or export only this project's tickets; nothing was imported",
        policy.source
    ))
}

/// Read a search page's `issues` one by one, handing each to `f` as soon as it is parsed, so that
/// a large export is never held in memory as a whole. Returns whether the text had an `issues`
/// array; an error from `f` stops the parse and is returned as is.
fn stream_issues(
    text: &str,
    f: &mut dyn FnMut(JiraIssue) -> Result<()>,
) -> Result<bool, Option<Error>> {
    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

    struct Page<'a>(
        &'a mut dyn FnMut(JiraIssue) -> Result<()>,
        &'a mut Option<Error>,
    );
    struct Issues<'a>(
        &'a mut dyn FnMut(JiraIssue) -> Result<()>,
        &'a mut Option<Error>,
    );

    impl<'de> Visitor<'de> for Page<'_> {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a Jira search response")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
            let mut saw = false;
            while let Some(key) = map.next_key::<String>()? {
                if key == "issues" {
                    map.next_value_seed(Issues(&mut *self.0, &mut *self.1))?;
                    saw = true;
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(saw)
        }
    }
    impl<'de> DeserializeSeed<'de> for Issues<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_seq(self)
        }
    }
    impl<'de> Visitor<'de> for Issues<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an array of issues")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while let Some(issue) = seq.next_element::<JiraIssue>()? {
                if let Err(e) = (self.0)(issue) {
                    *self.1 = Some(e);
                    return Err(serde::de::Error::custom("stopped by the importer"));
                }
            }
            Ok(())
        }
    }

    let mut stopped = None;
    let mut de = serde_json::Deserializer::from_str(text);
    let result = de
        .deserialize_map(Page(f, &mut stopped))
        .and_then(|saw| de.end().map(|_| saw));
    match (result, stopped) {
        (_, Some(e)) => Err(Some(e)),
        (Ok(saw), None) => Ok(saw),
        (Err(_), None) => Err(None),
    }
}

/// Reconcile a ticket's current labels with its label history: the ledger's (`known`) plus the
/// events just planned for it (`planned`), or `running` (the set those planned events end with)
/// when the ledger had nothing. Each difference becomes a snapshot event stamped `updated` (or
/// now); each current label that looks like a backport label no release line uses becomes a
/// warning. Shared by the Jira import and the GitHub sync.
#[allow(clippy::too_many_arguments)]
pub(crate) fn reconcile_labels(
    key: &str,
    current: &BTreeSet<String>,
    running: BTreeSet<String>,
    known: &[LabelFact],
    planned: &[NewEvent],
    updated: Option<DateTime<Utc>>,
    policy: &LoadedPolicy,
    warnings: &mut Vec<String>,
) -> Vec<NewEvent> {
    let history_set = if known.is_empty() {
        running
    } else {
        let planned: Vec<LabelFact> = planned
            .iter()
            .enumerate()
            .filter_map(|(i, e)| {
                Some(LabelFact {
                    at: e.at,
                    seq: i64::MAX / 2 + i as i64,
                    added: e.kind == kind::LABEL_ADDED,
                    label: e.payload.get("label")?.as_str()?.to_string(),
                })
            })
            .collect();
        label_set_after(known.iter().chain(planned.iter()))
    };
    let at = updated.unwrap_or_else(now);
    let stamp = fmt_utc(at);
    let mut out = Vec::new();
    for (k, labels, sign) in [
        (kind::LABEL_ADDED, current.difference(&history_set), '+'),
        (kind::LABEL_REMOVED, history_set.difference(current), '-'),
    ] {
        for label in labels {
            out.push(NewEvent {
                ticket: Some(key.to_string()),
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
    for label in current {
        if policy.is_unknown_backport_label(label) {
            warnings.push(format!(
                "{key}: label `{label}` looks like a backport label but no release line of the policy uses it (ignored)"
            ));
        }
    }
    out
}

/// Plan the events of one issue, given the label changes the ledger already has for it. Pure.
pub fn plan_issue(
    policy: &LoadedPolicy,
    issue: &JiraIssue,
    known: &[LabelFact],
    warnings: &mut Vec<String>,
) -> Vec<NewEvent> {
    let mut out = Vec::new();
    {
        let key = issue.key.clone();
        let fields = issue.fields.clone().unwrap_or_default();
        let updated = fields.updated.as_ref().and_then(time_value);

        // 1. Label history, oldest first. Times are parsed once.
        let mut running: BTreeSet<String> = BTreeSet::new();
        let mut label_events: Vec<NewEvent> = Vec::new();
        if let Some(cl) = &issue.changelog {
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
            // Labels the ticket had before its first recorded label change: present since it was
            // created (or, if the changelog is cut short, at least since that change).
            let first = histories.iter().find_map(|(at, _, h)| {
                let item = h.items.iter().find(|i| i.is_labels())?;
                Some(((*at)?, item.from_string.clone()))
            });
            if let Some((first_at, from)) = first {
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
                running = label_set(from.as_deref());
                for label in running.difference(&before) {
                    label_events.push(NewEvent {
                        ticket: Some(key.clone()),
                        line: None,
                        kind: kind::LABEL_ADDED,
                        source: source::SNAPSHOT.into(),
                        actor: None,
                        at,
                        meeting: None,
                        note: None,
                        payload: json!({ "label": label, "reason": "present before the first recorded label change" }),
                        dedup_key: Some(format!("initial:{key}:+{label}")),
                    });
                }
            }
            for (at, _, h) in histories {
                let Some(at) = at else {
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

        // 2. Reconcile the current labels with the history (what the ledger had + this batch).
        if let Some(current) = &fields.labels {
            let current: BTreeSet<String> = current.iter().cloned().collect();
            let snapshot = reconcile_labels(
                &key,
                &current,
                running,
                known,
                &label_events,
                updated,
                policy,
                warnings,
            );
            label_events.extend(snapshot);
        }
        out.extend(label_events);

        // 3. The ticket's fields.
        let info = TicketInfo {
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
        };
        // Plain strings and times: serialising cannot fail.
        let payload = serde_json::to_value(&info).unwrap_or_default();
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
            dedup_key: Some(format!(
                "observed:{key}:{}:{digest}",
                updated.map(fmt_utc).unwrap_or_default()
            )),
        });
    }
    out
}

/// Import files into the ledger: all or nothing. A file that fails to parse or plan stops the
/// whole import before anything is written.
pub fn import_files(
    ledger: &mut Ledger,
    policy: &LoadedPolicy,
    files: &[(String, Vec<u8>)],
) -> Result<ImportSummary> {
    let mut summary = ImportSummary {
        files: files.len(),
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let violations_before = open_violation_count(ledger)?;
    // One transaction for every file: any error below drops it, and the ledger is as it was.
    let mut tx = ledger.transaction()?;
    for (name, bytes) in files {
        let sha = hex::encode(Sha256::digest(bytes));
        let mut file = FileImport::default();
        let text = std::str::from_utf8(bytes).ok();
        let streamed = match text {
            Some(text) => stream_issues(text, &mut |issue| {
                file.apply(&mut tx, policy, name, issue, &mut summary)
            }),
            None => Err(None),
        };
        match streamed {
            Ok(true) => {}
            Err(Some(e)) => return Err(e),
            // Not a search page, or malformed: say precisely what it is (or import a single issue).
            Ok(false) | Err(None) => {
                for issue in parse_export(name, bytes)? {
                    file.apply(&mut tx, policy, name, issue, &mut summary)?;
                }
            }
        }
        if !file.bad.is_empty() {
            let bad: Vec<&str> = file.bad.iter().map(String::as_str).collect();
            return Err(bad_keys(policy, name, &bad));
        }
        summary.tickets += file.seen.len();
        summary.new_events += file.appended;
        if file.appended > 0 {
            let base = std::path::Path::new(name)
                .file_name()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            tx.append(NewEvent {
                ticket: None,
                line: None,
                kind: kind::IMPORT,
                source: "file".into(),
                actor: None,
                at: now(),
                meeting: None,
                note: None,
                payload: json!({ "file": base, "sha256": sha, "tickets": file.seen.len(), "new_events": file.appended }),
                dedup_key: Some(format!("import:{sha}")),
            })?;
        }
    }
    let t = std::time::Instant::now();
    tx.commit_with(policy)?;
    tracing::debug!(commit = ?t.elapsed(), total = ?started.elapsed(), "imported");
    summary.new_violations = open_violation_count(ledger)?.saturating_sub(violations_before);
    Ok(summary)
}

/// The state of importing one file.
#[derive(Default)]
struct FileImport {
    seen: BTreeSet<String>,
    bad: Vec<String>,
    appended: u64,
}

impl FileImport {
    /// Plan one issue against what the ledger knows, append its events and derive its state.
    fn apply(
        &mut self,
        tx: &mut portcullis_ledger::LedgerTx<'_>,
        policy: &LoadedPolicy,
        name: &str,
        issue: JiraIssue,
        summary: &mut ImportSummary,
    ) -> Result<()> {
        if !policy.key_matches(&issue.key) {
            self.bad.push(issue.key);
            return Ok(());
        }
        if !self.bad.is_empty() {
            return Ok(()); // The file will be refused: no need to plan the rest.
        }
        if !self.seen.insert(issue.key.clone()) {
            summary.warnings.push(format!(
                "{}: appears twice in {name}; both copies were merged",
                issue.key
            ));
        }
        let known = tx.label_facts(&issue.key)?;
        for ev in plan_issue(policy, &issue, &known, &mut summary.warnings) {
            if tx.append(ev)?.is_some() {
                self.appended += 1;
            }
        }
        // Derive as we go: memory stays bounded by one ticket, not the whole export.
        Ok(tx.rederive(policy)?)
    }
}

pub(crate) fn open_violation_count(ledger: &Ledger) -> Result<usize> {
    Ok(ledger.open_violation_count()?)
}
