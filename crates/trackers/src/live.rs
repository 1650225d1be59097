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

use crate::import::{open_violation_count, plan_issue};
use crate::jira_client::{JiraClient, Page, PageRequest};
use crate::jira_wire::time_value;
use crate::Result;
use portcullis_core::policy::LoadedPolicy;
use portcullis_core::time::{fmt_utc, now};
use portcullis_ledger::{key_order, Ledger, SyncState};

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
    let cp = match resumable {
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
    report.since = cp.since_ms.and_then(portcullis_core::time::from_epoch_ms);
    let base = SyncState {
        run: None,
        last_run_at: if report.resumed {
            prev.last_run_at
        } else {
            Some(now())
        },
        ..prev.clone()
    };
    let violations_before = open_violation_count(ledger)?;
    let mut run = Run {
        ledger,
        policy,
        client,
        opts,
        progress,
        report,
        seen: BTreeSet::new(),
        base,
        cp,
    };
    run.ledger.set_sync_state(&run.checkpoint())?;

    // Phase 0: every ticket carrying one of the policy's labels.
    let labels = label_list(policy);
    if run.cp.phase == 0 {
        progress.phase("tickets with backport labels");
        let clause = with_extra(format!("labels in ({labels})"), opts.extra_jql.as_deref());
        let from = match (run.cp.after_ms, run.cp.since_ms) {
            (Some(a), Some(s)) => Some(a.max(s)),
            (a, s) => a.or(s),
        };
        run.query(&bounded(&clause, from), true).await?;
        run.cp.phase = 1;
        run.cp.after_ms = None;
        run.ledger.set_sync_state(&run.checkpoint())?;
    }

    // Phase 1: tickets the ledger knows that no longer carry any of them.
    progress.phase("known tickets without backport labels");
    // GitHub's tickets (`repo#N`) are not Jira's, even under a policy that accepts both.
    let github = crate::push::github_tickets(run.ledger)?;
    let mut known: Vec<String> = run
        .ledger
        .ticket_keys()?
        .into_iter()
        .chain(opts.extra_keys.iter().cloned())
        .filter(|k| policy.key_matches(k) && !crate::push::is_github_ticket(&github, k))
        .collect();
    known.sort_by(|a, b| key_order(a, b));
    known.dedup();
    for chunk in known.chunks(opts.key_chunk.max(1)) {
        let keys = chunk.join(", ");
        let clause = with_extra(
            format!("key in ({keys}) AND (labels is EMPTY OR labels not in ({labels}))"),
            opts.extra_jql.as_deref(),
        );
        run.query(&bounded(&clause, run.cp.since_ms), false).await?;
    }

    // Complete: move the cursor, clear the checkpoint.
    let Run {
        ledger,
        mut report,
        seen,
        base,
        cp,
        ..
    } = run;
    let cursor = match (cp.max_seen_ms, prev.cursor_ms) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    ledger.set_sync_state(&SyncState {
        cursor_ms: cursor,
        run: None,
        last_ok_at: Some(now()),
        ..base
    })?;
    report.cursor = cursor.and_then(portcullis_core::time::from_epoch_ms);
    report.tickets = seen.len();
    report.new_violations = open_violation_count(ledger)?.saturating_sub(violations_before);
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// A sync run in progress: what it works with and what it has done so far.
struct Run<'a> {
    ledger: &'a mut Ledger,
    policy: &'a LoadedPolicy,
    client: &'a JiraClient,
    opts: &'a LiveOptions,
    progress: &'a dyn Progress,
    report: SyncReport,
    /// Tickets read in this run.
    seen: BTreeSet<String>,
    /// The sync state as it was when the run started (cursor, times).
    base: SyncState,
    cp: Checkpoint,
}

impl Run<'_> {
    /// The sync state to store while the run goes on: the base with the current checkpoint.
    fn checkpoint(&self) -> SyncState {
        SyncState {
            run: Some(json!(self.cp)),
            ..self.base.clone()
        }
    }

    /// Page through one query; the next page is fetched while this one is applied. With
    /// `checkpoint_pages`, each page's newest `updated` is where a resumed run starts again.
    async fn query(&mut self, jql: &str, checkpoint_pages: bool) -> Result<()> {
        self.report.queries += 1;
        let fetch = |at: PageRequest| {
            let client = self.client.clone();
            let jql = jql.to_string();
            let size = self.opts.page_size;
            tokio::spawn(async move { client.search(&jql, &at, size).await })
        };
        let mut pending = Some(fetch(PageRequest::First));
        while let Some(task) = pending.take() {
            let page: Page = task
                .await
                .map_err(|e| crate::Error::internal(format!("the search task failed: {e}")))??;
            // Fetch ahead while this page is written.
            pending = page.next.clone().map(&fetch);
            self.report.pages += 1;
            self.report.fetched += page.issues.len() as u64;
            self.report.changelog_requests += page.changelog_requests;
            self.report.warnings.extend(page.warnings.iter().cloned());
            let page_max = page
                .issues
                .iter()
                .filter_map(|i| i.fields.as_ref()?.updated.as_ref().and_then(time_value))
                .map(|t| t.timestamp_millis())
                .max();
            if let Some(m) = page_max {
                self.cp.max_seen_ms = Some(self.cp.max_seen_ms.map_or(m, |x| x.max(m)));
                if checkpoint_pages {
                    self.cp.after_ms = Some(m);
                }
            }
            // The checkpoint commits with the page's events: a resumed run starts after them.
            let state = self.checkpoint();
            let policy = self.policy;
            let report = &mut self.report;
            let mut tx = self.ledger.transaction()?;
            for issue in &page.issues {
                if !policy.key_matches(&issue.key) {
                    report.warnings.push(format!(
                        "{}: does not match the policy's ticket key pattern `{}`; skipped",
                        issue.key, policy.policy.ticket_key
                    ));
                    continue;
                }
                self.seen.insert(issue.key.clone());
                let known = tx.label_facts(&issue.key)?;
                for ev in plan_issue(policy, issue, &known, &mut report.warnings) {
                    if tx.append(ev)?.is_some() {
                        report.new_events += 1;
                    }
                }
            }
            tx.set_sync_state(&state)?;
            tx.commit_with(policy)?;
            self.progress.fetched(report.fetched, page.total);
        }
        Ok(())
    }
}
