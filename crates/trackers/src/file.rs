//! Jira search responses saved to files: parse → plan (pure, Jira's [`plan_issue`]) → apply, all
//! in one transaction. Every event has a dedup key, so importing the same data twice adds
//! nothing.

use std::collections::{BTreeSet, HashSet};

use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::jira::plan::plan_issue;
use crate::jira::wire::{JiraIssue, SearchPage};
use crate::{Error, Result};
use portcullis_core::event::{kind, NewEvent};
use portcullis_core::policy::LoadedPolicy;
use portcullis_core::time::now;
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
        let parts = crate::jira::wire::error_messages(&value);
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
        file.flush(&mut tx, policy, &mut summary)?;
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

/// How many tickets an import plans together: their label facts read in one query and their
/// events appended in one statement (on PostgreSQL, two round trips for the whole batch instead
/// of three per ticket). About 10,000 events for 20 per ticket; a bound on the issues and
/// planned events held in memory.
const IMPORT_BATCH: usize = 500;

/// The state of importing one file.
#[derive(Default)]
struct FileImport {
    seen: BTreeSet<String>,
    bad: Vec<String>,
    appended: u64,
    /// Issues waiting to be planned together, in file order, and their keys.
    pending: Vec<JiraIssue>,
    pending_keys: HashSet<String>,
}

impl FileImport {
    /// Take one issue: planned (against what the ledger knows) and appended with the batch it
    /// joins, in file order. A key already waiting in the batch (it appears twice) flushes the
    /// batch first, so that the second copy is planned against the first one's events.
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
        if self.pending_keys.contains(&issue.key) {
            self.flush(tx, policy, summary)?;
        }
        if !self.seen.insert(issue.key.clone()) {
            summary.warnings.push(format!(
                "{}: appears twice in {name}; both copies were merged",
                issue.key
            ));
        }
        self.pending_keys.insert(issue.key.clone());
        self.pending.push(issue);
        if self.pending.len() >= IMPORT_BATCH {
            self.flush(tx, policy, summary)?;
        }
        Ok(())
    }

    /// Plan the waiting issues against what the ledger knows (their label facts read at once),
    /// append all their events in file order, and derive as we go: memory stays bounded by a
    /// batch of tickets, not the whole export.
    fn flush(
        &mut self,
        tx: &mut portcullis_ledger::LedgerTx<'_>,
        policy: &LoadedPolicy,
        summary: &mut ImportSummary,
    ) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let issues = std::mem::take(&mut self.pending);
        self.pending_keys.clear();
        let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
        let mut known = tx.label_facts_many(&keys)?;
        let mut planned = Vec::new();
        for issue in &issues {
            let facts = known.remove(&issue.key).unwrap_or_default();
            planned.extend(plan_issue(policy, issue, &facts, &mut summary.warnings));
        }
        drop(issues);
        let appended = tx.append_many(planned)?;
        self.appended += appended.iter().flatten().count() as u64;
        Ok(tx.rederive_batched(policy)?)
    }
}

pub(crate) fn open_violation_count(ledger: &Ledger) -> Result<usize> {
    Ok(ledger.open_violation_count()?)
}
