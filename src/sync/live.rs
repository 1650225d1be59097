//! Live sync from Jira: search → complete changelogs → plan (pure, [`plan_issue`]) → apply, one
//! ledger transaction per page.
//!
//! - **What is read**: every ticket carrying one of the policy's labels (the lines' request
//!   labels, the approval and done labels), ANDed with `jira.jql` when set; then every ticket the
//!   ledger already knows (or `--key` names) that carries none of them any more, in chunks of
//!   keys, so that a removed request label is seen. A ticket whose labels were all removed before
//!   portcullis first saw it is invisible to a label query: name it with `--key`.
//! - **Incremental**: after a complete run the cursor is the newest `updated` seen; the next run
//!   asks for `updated >= cursor − overlap` (epoch milliseconds: no time-zone or minute-precision
//!   trouble), ordered by `updated ASC, key ASC`. Events carry dedup keys, so the overlap and any
//!   re-read add nothing. `--full` ignores the cursor.
//! - **Interruption**: each page commits with a checkpoint of the run; a run that was cut short
//!   (network, kill -9) is resumed by the next one from its last committed page. The cursor only
//!   moves when a run completes.

use std::collections::BTreeSet;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::domain::policy::LoadedPolicy;
use crate::domain::time::{fmt_utc, now};
use crate::ledger::{key_order, Ledger, SyncState};
use crate::sync::import::{open_violation_count, plan_issue};
use crate::sync::jira_client::{JiraClient, Page, PageRequest};
use crate::sync::jira_wire::time_value;
use crate::Result;

/// How a live sync runs.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// Ignore the cursor and read everything.
    pub full: bool,
    pub page_size: u32,
    pub overlap_minutes: u32,
    /// A clause ANDed to the query (`project = DM`).
    pub extra_jql: Option<String>,
    /// Known keys per `key in (…)` query.
    pub key_chunk: usize,
    /// Tickets to read whatever their labels, besides those the ledger knows (e.g. requests
    /// rejected before portcullis was used, whose labels are gone).
    pub extra_keys: Vec<String>,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            full: false,
            page_size: 100,
            overlap_minutes: 5,
            extra_jql: None,
            key_chunk: 500,
            extra_keys: Vec::new(),
        }
    }
}

/// What a sync did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncReport {
    pub source: String,
    pub flavor: String,
    pub full: bool,
    /// Resumed an interrupted run.
    pub resumed: bool,
    /// Asked for tickets updated at or after this (incremental runs).
    pub since: Option<DateTime<Utc>>,
    pub queries: usize,
    pub pages: u64,
    /// Issues fetched (a ticket in two queries counts twice).
    pub fetched: u64,
    pub tickets: usize,
    pub changelog_requests: u64,
    pub new_events: u64,
    pub new_violations: usize,
    pub cursor: Option<DateTime<Utc>>,
    pub elapsed_ms: u64,
    pub warnings: Vec<String>,
}

/// Progress callbacks (the CLI draws a bar; the bot logs).
pub trait Progress {
    /// Issues fetched so far, and the total when the tracker says (Data Center).
    fn fetched(&self, _fetched: u64, _total: Option<u64>) {}
    /// A new phase of the run.
    fn phase(&self, _what: &str) {}
}

/// No progress reporting.
pub struct Quiet;
impl Progress for Quiet {}

/// The checkpoint of a run in progress, stored in `sync_state.run`.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, Serialize)]
struct Checkpoint {
    full: bool,
    since_ms: Option<i64>,
    /// 0: the labels query; 1: the known-keys queries.
    phase: u8,
    /// Within the labels query: the newest `updated` of the last committed page.
    after_ms: Option<i64>,
    /// The newest `updated` seen so far in this run.
    max_seen_ms: Option<i64>,
}

/// The JQL list of the policy's labels: `"a", "b"`.
fn label_list(policy: &LoadedPolicy) -> String {
    let mut labels: BTreeSet<String> = policy
        .policy
        .lines
        .iter()
        .map(|l| l.request_label.clone())
        .collect();
    labels.insert(policy.policy.labels.approved.clone());
    labels.insert(policy.policy.labels.done.clone());
    labels
        .iter()
        .map(|l| jql_string(l))
        .collect::<Vec<_>>()
        .join(", ")
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

fn bounded(clause: &str, since_ms: Option<i64>) -> String {
    match since_ms {
        Some(ms) => format!("{clause} AND updated >= {ms} ORDER BY updated ASC, key ASC"),
        None => format!("{clause} ORDER BY updated ASC, key ASC"),
    }
}

/// Sync the ledger with Jira.
pub async fn sync_jira(
    ledger: &mut Ledger,
    policy: &LoadedPolicy,
    client: &JiraClient,
    opts: &LiveOptions,
    progress: &dyn Progress,
) -> Result<SyncReport> {
    let started = Instant::now();
    let source = source_name(client.site(), policy, opts.extra_jql.as_deref());
    let prev = ledger.sync_state(&source)?.unwrap_or(SyncState {
        source: source.clone(),
        ..Default::default()
    });
    let mut report = SyncReport {
        source: source.clone(),
        flavor: client.flavor().to_string(),
        full: opts.full,
        ..Default::default()
    };
    let overlap_ms = i64::from(opts.overlap_minutes) * 60_000;
    let resumable = prev
        .run
        .as_ref()
        .and_then(|r| serde_json::from_value::<Checkpoint>(r.clone()).ok())
        .filter(|c| c.full || !opts.full);
    let mut cp = match resumable {
        Some(c) => {
            report.resumed = true;
            report.warnings.push(format!(
                "resumed an interrupted sync started {}",
                prev.last_run_at
                    .map(fmt_utc)
                    .unwrap_or_else(|| "earlier".into())
            ));
            c
        }
        None => Checkpoint {
            full: opts.full,
            since_ms: if opts.full {
                None
            } else {
                prev.cursor_ms.map(|c| c - overlap_ms)
            },
            ..Default::default()
        },
    };
    report.full = cp.full;
    report.since = cp.since_ms.and_then(crate::domain::time::from_epoch_ms);
    let mut state = SyncState {
        run: Some(json!(cp)),
        last_run_at: if report.resumed {
            prev.last_run_at
        } else {
            Some(now())
        },
        ..prev.clone()
    };
    ledger.set_sync_state(&state)?;
    let violations_before = open_violation_count(ledger)?;
    let mut seen: BTreeSet<String> = BTreeSet::new();

    // Phase 0: every ticket carrying one of the policy's labels.
    let labels = label_list(policy);
    if cp.phase == 0 {
        progress.phase("tickets with backport labels");
        let clause = with_extra(format!("labels in ({labels})"), opts.extra_jql.as_deref());
        let from = match (cp.after_ms, cp.since_ms) {
            (Some(a), Some(s)) => Some(a.max(s)),
            (a, s) => a.or(s),
        };
        let jql = bounded(&clause, from);
        report.queries += 1;
        run_query(
            ledger,
            policy,
            client,
            opts,
            progress,
            &jql,
            &mut report,
            &mut seen,
            &mut state,
            &mut cp,
            true,
        )
        .await?;
        cp.phase = 1;
        cp.after_ms = None;
        state.run = Some(json!(cp));
        ledger.set_sync_state(&state)?;
    }

    // Phase 1: tickets the ledger knows that no longer carry any of them.
    progress.phase("known tickets without backport labels");
    let mut known: Vec<String> = ledger
        .ticket_keys()?
        .into_iter()
        .chain(opts.extra_keys.iter().cloned())
        .filter(|k| policy.key_matches(k))
        .collect();
    known.sort_by(|a, b| key_order(a, b));
    known.dedup();
    for chunk in known.chunks(opts.key_chunk.max(1)) {
        let keys = chunk.join(", ");
        let clause = with_extra(
            format!("key in ({keys}) AND (labels is EMPTY OR labels not in ({labels}))"),
            opts.extra_jql.as_deref(),
        );
        let jql = bounded(&clause, cp.since_ms);
        report.queries += 1;
        run_query(
            ledger,
            policy,
            client,
            opts,
            progress,
            &jql,
            &mut report,
            &mut seen,
            &mut state,
            &mut cp,
            false,
        )
        .await?;
    }

    // Complete: move the cursor, clear the checkpoint.
    let cursor = match (cp.max_seen_ms, prev.cursor_ms) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    state.cursor_ms = cursor;
    state.run = None;
    state.last_ok_at = Some(now());
    ledger.set_sync_state(&state)?;
    report.cursor = cursor.and_then(crate::domain::time::from_epoch_ms);
    report.tickets = seen.len();
    report.new_violations = open_violation_count(ledger)?.saturating_sub(violations_before);
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// Page through one query; the next page is fetched while this one is applied.
#[allow(clippy::too_many_arguments)]
async fn run_query(
    ledger: &mut Ledger,
    policy: &LoadedPolicy,
    client: &JiraClient,
    opts: &LiveOptions,
    progress: &dyn Progress,
    jql: &str,
    report: &mut SyncReport,
    seen: &mut BTreeSet<String>,
    state: &mut SyncState,
    cp: &mut Checkpoint,
    checkpoint_pages: bool,
) -> Result<()> {
    let fetch = |at: PageRequest| {
        let client = client.clone();
        let jql = jql.to_string();
        let size = opts.page_size;
        tokio::spawn(async move { client.search(&jql, &at, size).await })
    };
    let mut pending = Some(fetch(PageRequest::First));
    while let Some(task) = pending.take() {
        let page: Page = task
            .await
            .map_err(|e| crate::Error::internal(format!("the search task failed: {e}")))??;
        let next = page.next.clone();
        // Fetch ahead while this page is written.
        pending = next.clone().map(fetch);
        report.pages += 1;
        report.fetched += page.issues.len() as u64;
        report.changelog_requests += page.changelog_requests;
        report.warnings.extend(page.warnings.iter().cloned());
        let page_max = page
            .issues
            .iter()
            .filter_map(|i| i.fields.as_ref()?.updated.as_ref().and_then(time_value))
            .map(|t| t.timestamp_millis())
            .max();
        let mut tx = ledger.transaction()?;
        for issue in &page.issues {
            if !policy.key_matches(&issue.key) {
                report.warnings.push(format!(
                    "{}: does not match the policy's ticket key pattern `{}`; skipped",
                    issue.key, policy.policy.ticket_key
                ));
                continue;
            }
            seen.insert(issue.key.clone());
            let known = tx.label_facts(&issue.key)?;
            for ev in plan_issue(policy, issue, &known, &mut report.warnings) {
                if tx.append(ev)?.is_some() {
                    report.new_events += 1;
                }
            }
        }
        if let Some(m) = page_max {
            cp.max_seen_ms = Some(cp.max_seen_ms.map_or(m, |x| x.max(m)));
            if checkpoint_pages {
                cp.after_ms = Some(m);
            }
        }
        state.run = Some(json!(cp));
        tx.set_sync_state(state)?;
        tx.commit_with(policy)?;
        progress.fetched(report.fetched, page.total);
    }
    Ok(())
}
