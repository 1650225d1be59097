//! Jira (Cloud and Data Center) as a [`Tracker`]: the REST client ([`client`]), its wire types
//! ([`wire`]) and the pure plan of an issue's events ([`plan`]).
//!
//! - **One scope**: the site with the workspace's query, its cursor kept under
//!   `jira {site} #{hash of the labels and jira.jql}`.
//! - **Label query**: one JQL, `labels in (…)` over the policy's labels (ANDed with `jira.jql`),
//!   `updated >= cursor − overlap` in epoch milliseconds (no time-zone or minute-precision
//!   trouble), ordered by `updated ASC, key ASC`. The next page is fetched while this one is
//!   applied.
//! - **Decision records**: with `[jira] writers`, a second query reads the tickets whose comments
//!   carry the records' marker word (`comment ~ "portcullisrecord"`), whatever their labels.
//! - **Known query**: the known keys in chunks, `key in (…) AND (labels is EMPTY OR labels not
//!   in (…) OR project not in (…their projects))` (the last to see moved tickets); the keys
//!   named with `--key` in chunks too, `key in (…)`, with no time bound.
//! - **Keys Jira does not have**: a `key in (…)` naming a deleted issue fails whole with a 400.
//!   Data Center is asked to warn instead (`validateQuery`); on Cloud the 400's messages name
//!   the keys (else each key is looked up). Those keys are left out and the query runs again;
//!   each is looked up once: a 404 is a deleted ticket, an answer under another key a moved
//!   one. A moved issue found by its old key (its changelog records the move) is left out too.
//!   All of them go to [`Sink::missing`].
//! - GitHub's tickets (`repo#N`, or seen by a GitHub sync) are not Jira's, even under a policy
//!   that accepts both.

pub mod client;
pub mod plan;
pub mod wire;

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use portcullis_core::event::{kind, source, LabelFact, NewEvent};
use portcullis_core::policy::LoadedPolicy;
use portcullis_ledger::Ledger;

use crate::github::client::split_key;
use crate::records::{plan_records, RecordTrust};
use crate::tracker::{
    Missing, Page, Query, Remote, RemoteChange, RemoteComment, Scope, Sink, Tracker,
};
use crate::Result;
use client::{comment_text, JiraClient, KeySearch, LabelOp, PageRequest};
use portcullis_core::record::{self, Form};
use wire::{label_diff, time_value, History, JiraIssue};

/// A Jira site with the workspace's query, as sync and push use it.
#[derive(Debug, Clone)]
pub struct JiraTracker {
    pub client: JiraClient,
    /// Issues per search page (Jira may return fewer).
    pub page_size: u32,
    /// A clause ANDed to every query (`project = DM`).
    pub extra_jql: Option<String>,
    /// Known keys per `key in (…)` query.
    pub key_chunk: usize,
    /// Whose decision records to apply, and the team key (`[jira] writers`, `team_key`).
    pub records: RecordTrust,
}

impl JiraTracker {
    pub fn new(client: JiraClient) -> JiraTracker {
        JiraTracker {
            client,
            page_size: 100,
            extra_jql: None,
            key_chunk: 500,
            records: RecordTrust::default(),
        }
    }

    /// Page through one JQL query, the next page fetched while this one is applied.
    async fn pages(
        &self,
        jql: &str,
        checkpoint: bool,
        sink: &mut dyn Sink<JiraIssue>,
    ) -> Result<()> {
        sink.query_started(1);
        let fetch = |at: PageRequest| {
            let client = self.client.clone();
            let jql = jql.to_string();
            let size = self.page_size;
            tokio::spawn(async move { client.search(&jql, &at, size).await })
        };
        let mut pending = Some(fetch(PageRequest::First));
        while let Some(task) = pending.take() {
            let page = task.await.map_err(|e| {
                crate::Error::Problem(
                    portcullis_core::Problem::internal("the Jira search task failed").because(e),
                )
            })??;
            pending = page.next.clone().map(&fetch);
            let newest = page
                .issues
                .iter()
                .filter_map(|i| i.fields.as_ref()?.updated.as_ref().and_then(time_value))
                .max();
            sink.page(
                Page {
                    listed: page.issues.len() as u64,
                    tickets: page.issues,
                    newest,
                    requests: page.changelog_requests,
                    total: page.total,
                    warnings: page.warnings,
                },
                checkpoint,
            )?;
        }
        Ok(())
    }

    /// Read a query over `keys` (a `key in (…)` built by `clause`), leaving out the keys Jira
    /// does not have and handing them to the sink. Returns the keys it read (or found moved).
    async fn key_pages(
        &self,
        keys: &[String],
        clause: impl Fn(&[String]) -> String,
        sink: &mut dyn Sink<JiraIssue>,
    ) -> Result<BTreeSet<String>> {
        let mut keys: Vec<String> = keys.to_vec();
        let mut read = BTreeSet::new();
        // Each round leaves out at least one key, or stops.
        while !keys.is_empty() {
            sink.query_started(1);
            let jql = clause(&keys);
            let mut at = PageRequest::First;
            let mut unknown: Vec<String> = Vec::new();
            let refused = loop {
                let page = match self.client.search_keys(&jql, &at, self.page_size).await? {
                    KeySearch::Page(p) => p,
                    KeySearch::Unknown(named) => break Some(named),
                };
                unknown.extend(page.unknown_keys.iter().cloned());
                let next = page.next.clone();
                let mut issues = Vec::new();
                for issue in page.issues {
                    match moved_from(&issue, &keys) {
                        Some(old) => {
                            sink.missing(
                                &old,
                                &format!("moved in Jira to {}", issue.key),
                                Some(&issue.key),
                            )?;
                            read.insert(old);
                        }
                        None => {
                            read.insert(issue.key.clone());
                            issues.push(issue);
                        }
                    }
                }
                let newest = issues
                    .iter()
                    .filter_map(|i| i.fields.as_ref()?.updated.as_ref().and_then(time_value))
                    .max();
                sink.page(
                    Page {
                        listed: issues.len() as u64,
                        tickets: issues,
                        newest,
                        requests: page.changelog_requests,
                        total: page.total,
                        warnings: page.warnings,
                    },
                    false,
                )?;
                match next {
                    Some(n) => at = n,
                    None => break None,
                }
            };
            let suspects: Vec<String> = match refused {
                None => {
                    for k in unknown.iter().filter(|k| keys.contains(k)) {
                        self.gone(k, sink).await?;
                    }
                    return Ok(read);
                }
                Some(named) => {
                    let named: Vec<String> =
                        named.into_iter().filter(|k| keys.contains(k)).collect();
                    if named.is_empty() {
                        keys.clone()
                    } else {
                        named
                    }
                }
            };
            let mut left_out = Vec::new();
            for k in &suspects {
                if self.gone(k, sink).await? {
                    left_out.push(k.clone());
                }
            }
            if left_out.is_empty() {
                return Err(crate::Error::input(format!(
                    "Jira at {} refused a search of known tickets (400), and every key in it exists",
                    self.site()
                ))
                .hint("check jira.jql in portcullis.toml"));
            }
            keys.retain(|k| !left_out.contains(k));
        }
        Ok(read)
    }

    /// Look `key` up: when Jira does not have it (404) or has it under another key (moved), hand
    /// it to the sink and return true.
    async fn gone(&self, key: &str, sink: &mut dyn Sink<JiraIssue>) -> Result<bool> {
        match self.client.current_key(key).await? {
            None => sink.missing(
                key,
                "not found in Jira (deleted, or not visible to this account)",
                None,
            )?,
            Some(now) if !now.eq_ignore_ascii_case(key) => {
                sink.missing(key, &format!("moved in Jira to {now}"), Some(&now))?
            }
            Some(_) => return Ok(false),
        }
        Ok(true)
    }

    /// Tickets a sync saw in GitHub (their `ticket.observed` came from there).
    fn github_tickets(ledger: &Ledger) -> Result<BTreeSet<String>> {
        Ok(ledger.tickets_with_event_from(kind::TICKET_OBSERVED, source::GITHUB)?)
    }
}

/// The JQL list of labels: `"a", "b"`.
fn jql_list<'a>(labels: impl IntoIterator<Item = &'a String>) -> String {
    labels
        .into_iter()
        .map(|l| jql_string(l))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The JQL list of the policy's labels.
fn label_list(policy: &LoadedPolicy) -> String {
    jql_list(&policy.labels())
}

/// A JQL string literal.
pub fn jql_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The name under which a site + query keeps its cursor.
pub fn source_name(site: &str, policy: &LoadedPolicy, extra_jql: Option<&str>) -> String {
    let q = format!("{}|{}", label_list(policy), extra_jql.unwrap_or(""));
    let h = hex::encode(&Sha256::digest(q.as_bytes())[..4]);
    format!("jira {site} #{h}")
}

fn with_extra(clause: String, extra: Option<&str>) -> String {
    match extra.map(str::trim).filter(|e| !e.is_empty()) {
        Some(e) => format!("({e}) AND ({clause})"),
        None => clause,
    }
}

fn bounded(clause: &str, since: Option<DateTime<Utc>>) -> String {
    match since.map(|t| t.timestamp_millis()) {
        Some(ms) => format!("{clause} AND updated >= {ms} ORDER BY updated ASC, key ASC"),
        None => format!("{clause} ORDER BY updated ASC, key ASC"),
    }
}

/// The key `issue` had before it was moved, when that is one of `asked` and not its key now:
/// Jira finds a moved issue by its old key, and its changelog records the move.
fn moved_from(issue: &JiraIssue, asked: &[String]) -> Option<String> {
    if asked.iter().any(|k| k.eq_ignore_ascii_case(&issue.key)) {
        return None;
    }
    let histories = issue.changelog.as_ref()?.entries();
    histories
        .iter()
        .flat_map(|h| h.items.iter())
        .filter(|i| {
            i.field
                .as_deref()
                .is_some_and(|f| f.eq_ignore_ascii_case("key"))
        })
        .filter_map(|i| i.from_string.clone())
        .find(|old| asked.iter().any(|k| k.eq_ignore_ascii_case(old)))
}

/// The label changes of an issue's histories, as push's conflict check reads them; with the
/// dedup keys [`plan::plan_issue`] gives their events.
fn remote_changes(key: &str, histories: &[History]) -> Vec<RemoteChange> {
    let mut out = Vec::new();
    for h in histories {
        let Some(at) = h.created.as_ref().and_then(time_value) else {
            continue;
        };
        let hid = plan::history_id(h, at);
        for (n, item) in h.items.iter().filter(|i| i.is_labels()).enumerate() {
            let (added, removed) =
                label_diff(item.from_string.as_deref(), item.to_string.as_deref());
            let ledger_keys = added
                .iter()
                .map(|l| plan::label_key(key, &hid, n, '+', l))
                .chain(
                    removed
                        .iter()
                        .map(|l| plan::label_key(key, &hid, n, '-', l)),
                )
                .collect();
            out.push(RemoteChange {
                id: h.id.clone().unwrap_or_default(),
                at,
                actor: h.author.as_ref().and_then(|a| a.id()).unwrap_or_default(),
                added,
                removed,
                ledger_keys,
            });
        }
    }
    out
}

impl Tracker for JiraTracker {
    type Ticket = JiraIssue;

    fn source(&self) -> &'static str {
        source::JIRA
    }

    fn site(&self) -> &str {
        self.client.site()
    }

    fn flavor(&self) -> String {
        self.client.flavor().to_string()
    }

    fn scopes(&self, policy: &LoadedPolicy) -> Result<Vec<Scope>> {
        let labels = label_list(policy);
        let mut label_queries = vec![Query {
            what: "tickets with backport labels".into(),
            ask: with_extra(format!("labels in ({labels})"), self.extra_jql.as_deref()),
        }];
        // A workspace that trusts writers also reads the tickets whose comments carry decision
        // records, labels or not: a rejected ticket has lost its request label.
        if !self.records.writers.is_empty() {
            label_queries.push(Query {
                what: "tickets with decision records".into(),
                ask: with_extra(
                    format!("comment ~ \"{}\"", record::JIRA_MARKER),
                    self.extra_jql.as_deref(),
                ),
            });
        }
        Ok(vec![Scope {
            name: source_name(self.site(), policy, self.extra_jql.as_deref()),
            prefix: String::new(),
            index: 0,
            labels: policy.labels().into_iter().collect(),
            label_queries,
            known_query: "known tickets without backport labels".into(),
        }])
    }

    fn scope_keys(&self, _: &Scope, keys: Vec<String>, ledger: &Ledger) -> Result<Vec<String>> {
        let owned = self.own_keys(keys.iter().cloned().collect(), ledger)?;
        Ok(keys.into_iter().filter(|k| owned.contains(k)).collect())
    }

    async fn labelled(
        &self,
        scope: &Scope,
        query: usize,
        since: Option<DateTime<Utc>>,
        sink: &mut dyn Sink<JiraIssue>,
    ) -> Result<()> {
        let clause = &scope.label_queries[query].ask;
        self.pages(&bounded(clause, since), true, sink).await
    }

    async fn known(
        &self,
        scope: &Scope,
        mut keys: Vec<String>,
        mut named: Vec<String>,
        since: Option<DateTime<Utc>>,
        sink: &mut dyn Sink<JiraIssue>,
    ) -> Result<()> {
        named.sort_by(|a, b| portcullis_core::event::key_order(a, b));
        named.dedup();
        keys.retain(|k| !named.contains(k));
        keys.sort_by(|a, b| portcullis_core::event::key_order(a, b));
        keys.dedup();
        let labels = jql_list(&scope.labels);
        let extra = self.extra_jql.as_deref();
        for chunk in keys.chunks(self.key_chunk.max(1)) {
            // A known ticket moved to another project is read too, to be seen gone.
            let clause = |keys: &[String]| {
                let mut projects: Vec<String> = keys
                    .iter()
                    .filter_map(|k| k.rsplit_once('-').map(|(p, _)| jql_string(p)))
                    .collect();
                projects.sort();
                projects.dedup();
                let unlabelled = with_extra(
                    format!("labels is EMPTY OR labels not in ({labels})"),
                    extra,
                );
                let c = format!(
                    "key in ({}) AND (({unlabelled}) OR project not in ({}))",
                    keys.join(", "),
                    projects.join(", ")
                );
                bounded(&c, since)
            };
            self.key_pages(chunk, clause, sink).await?;
        }
        // The named tickets, whatever their labels and whenever they were updated.
        for chunk in named.chunks(self.key_chunk.max(1)) {
            let clause = |keys: &[String]| {
                bounded(
                    &with_extra(format!("key in ({})", keys.join(", ")), extra),
                    None,
                )
            };
            let read = self.key_pages(chunk, clause, sink).await?;
            for k in chunk.iter().filter(|k| !read.contains(*k)) {
                if !sink.seen(k) {
                    sink.missing(k, "not in Jira (or outside jira.jql)", None)?;
                }
            }
        }
        Ok(())
    }

    fn key(&self, ticket: &JiraIssue) -> String {
        ticket.key.clone()
    }

    fn plan(
        &self,
        policy: &LoadedPolicy,
        ticket: &JiraIssue,
        known: &[LabelFact],
        warnings: &mut Vec<String>,
    ) -> Vec<NewEvent> {
        let mut events = plan::plan_issue(policy, ticket, known, warnings);
        let comments = plan::comments(ticket);
        events.extend(plan_records(
            source::JIRA,
            &ticket.key,
            &comments,
            &self.records,
        ));
        events
    }

    fn comment_ids(&self, ticket: &JiraIssue) -> Option<BTreeSet<String>> {
        let c = ticket.fields.as_ref()?.comment.as_ref()?;
        if c.is_truncated() {
            return None;
        }
        c.comments.iter().map(|c| c.id.clone()).collect()
    }

    fn records(&self) -> &RecordTrust {
        &self.records
    }

    fn record_form(&self) -> Form {
        Form::Jira
    }

    fn own_keys(&self, keys: BTreeSet<String>, ledger: &Ledger) -> Result<BTreeSet<String>> {
        let github = Self::github_tickets(ledger)?;
        Ok(keys
            .into_iter()
            .filter(|k| split_key(k).is_none() && !github.contains(k))
            .collect())
    }

    async fn remote(&self, key: &str) -> Result<Result<Remote, Missing>> {
        let Some(issue) = self.client.issue_for_push(key).await? else {
            return Ok(Err(Missing::gone(
                "not found in Jira (deleted, moved, or not visible to this account)",
            )));
        };
        // A moved issue answers its old key with its new one.
        if let Some(now) = issue.get("key").and_then(Value::as_str) {
            if !now.eq_ignore_ascii_case(key) {
                return Ok(Err(Missing::moved(
                    format!("moved in Jira: it is {now} now"),
                    now,
                )));
            }
        }
        let fields = issue.get("fields").cloned().unwrap_or(Value::Null);
        let labels = fields
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
        let embedded = fields.get("comment");
        let embedded_total = embedded
            .and_then(|c| c.get("total"))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let mut comments: Vec<RemoteComment> = embedded
            .and_then(|c| c.get("comments"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(remote_comment)
            .collect();
        if (comments.len() as u64) < embedded_total {
            comments = self
                .client
                .comments(key)
                .await?
                .0
                .iter()
                .map(remote_comment)
                .collect();
        }
        Ok(Ok(Remote {
            labels,
            changes: remote_changes(key, &histories),
            comments,
        }))
    }

    async fn set_labels(&self, key: &str, add: &[String], remove: &[String]) -> Result<()> {
        let ops: Vec<LabelOp> = add
            .iter()
            .map(|l| LabelOp::Add(l.clone()))
            .chain(remove.iter().map(|l| LabelOp::Remove(l.clone())))
            .collect();
        if ops.is_empty() {
            return Ok(());
        }
        self.client.edit_labels(key, &ops).await
    }

    async fn comment(&self, key: &str, body: &str) -> Result<Option<String>> {
        self.client.add_comment(key, body).await
    }

    async fn delete_comment(&self, key: &str, id: &str) -> Result<()> {
        self.client.delete_comment(key, id).await
    }

    fn conflict_key(&self, decision_hash: &str, change: &RemoteChange) -> String {
        format!("push-conflict:{decision_hash}:{}", change.id)
    }

    fn push_details(&self, _key: &str) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("site".into(), json!(self.site()));
        m
    }
}

/// A comment as push re-reads it: its author's identity (as `writers` names accounts) and text.
fn remote_comment(c: &Value) -> RemoteComment {
    let author = c
        .get("author")
        .and_then(|a| serde_json::from_value::<wire::User>(a.clone()).ok())
        .and_then(|u| u.id())
        .unwrap_or_default();
    RemoteComment {
        author,
        body: comment_text(c),
    }
}
