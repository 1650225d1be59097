//! The one sync loop, for every [`Tracker`]: read → plan (pure, [`Tracker::plan`]) → apply,
//! one ledger transaction per page.
//!
//! - **What is read**, per scope: every ticket carrying one of the policy's labels (the label
//!   queries), then every ticket the ledger already knows (or `--key` names) that the label
//!   queries did not return, so that a removed request label is seen. A ticket whose labels were
//!   all removed before portcullis first saw it is invisible to a label query: name it with
//!   `--key`.
//! - **Incremental**: after a complete run the scope's cursor is the newest update seen; the next
//!   run asks for tickets updated at or after `cursor − overlap` (search is eventually
//!   consistent). Events carry dedup keys, so the overlap and any re-read add nothing. `--full`
//!   ignores the cursor.
//! - **Interruption**: each page commits with a checkpoint of the run (the query in progress,
//!   and the newest update applied); a run cut short (network, kill -9) is resumed by the next
//!   one from its last committed page. The cursor only moves when a scope's run completes.
//! - **`--key`**: the named tickets are read whatever their labels and whenever they were
//!   updated; those the tracker does not have are reported (`unknown_keys`).
//! - **Decision records**: the blocks in a ticket's comments ([`crate::records`]) become the
//!   decisions they record, or `record.rejected` events for those not applied; a record of an
//!   event this ledger holds is its own, read back, and adds nothing.
//! - **Tickets that disappear**: a ticket the ledger knows that the tracker no longer has
//!   (deleted, moved to another project) is recorded as gone (`ticket.gone`, once) and left out
//!   of later reads; it never stops a sync.

use std::collections::{BTreeSet, HashSet};
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use portcullis_core::event::{key_order, kind, Event, NewEvent};
use portcullis_core::policy::LoadedPolicy;
use portcullis_core::time::{fmt_utc, from_epoch_ms, now};
use portcullis_ledger::{Ledger, SyncState};

use crate::records::{record_key, recorded_hash, rejected_hash, RejectedRecord};
use crate::tracker::{Page, Scope, Sink, Tracker};
use crate::Result;

type Time = DateTime<Utc>;

/// How a sync runs.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Ignore the cursors and read everything.
    pub full: bool,
    /// How far back an incremental run re-reads before its cursor.
    pub overlap_minutes: u32,
    /// Tickets to read whatever their labels, besides those the ledger knows (e.g. requests
    /// rejected before portcullis was used, whose labels are gone).
    pub extra_keys: Vec<String>,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            full: false,
            overlap_minutes: 5,
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
    /// Asked for tickets updated at or after this (incremental runs; the earliest of the
    /// scopes').
    pub since: Option<DateTime<Utc>>,
    pub queries: usize,
    pub pages: u64,
    /// Tickets fetched (a ticket in two queries counts twice).
    pub fetched: u64,
    pub tickets: usize,
    /// Requests made besides the listings (complete changelogs, events, commits).
    pub changelog_requests: u64,
    pub new_events: u64,
    pub new_violations: usize,
    pub cursor: Option<DateTime<Utc>>,
    pub elapsed_ms: u64,
    pub warnings: Vec<String>,
    /// Keys named with `--key` that the tracker does not have.
    pub unknown_keys: Vec<String>,
    /// Tickets recorded as gone in this run (deleted, or moved: `moved_to`).
    pub gone: Vec<GoneTicket>,
    /// Decision records from the tracker's comments recorded in this run (decisions, notes,
    /// undos made on another workspace).
    pub records_applied: u64,
    /// Blocks that look like decision records and were not applied (foreign or forged),
    /// recorded in this run; each is recorded once.
    pub records_rejected: Vec<RejectedRecord>,
}

/// A ticket the tracker no longer has under its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GoneTicket {
    pub key: String,
    pub reason: String,
    pub moved_to: Option<String>,
}

/// Progress callbacks (the CLI draws a bar; the bot logs).
pub trait Progress {
    /// Tickets fetched so far, and the total when the tracker says (Jira Data Center).
    fn fetched(&self, _fetched: u64, _total: Option<u64>) {}
    /// A new phase of the run.
    fn phase(&self, _what: &str) {}
}

/// No progress reporting.
pub struct Quiet;
impl Progress for Quiet {}

/// The checkpoint of a scope's run in progress, stored in `sync_state.run`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
struct Checkpoint {
    full: bool,
    since_ms: Option<i64>,
    /// 0: the label queries; 1: the known tickets.
    phase: u8,
    /// The label query in progress.
    #[serde(default)]
    label: usize,
    /// Within that query: the newest update of the last committed page.
    after_ms: Option<i64>,
    /// The newest update applied so far in this run.
    max_seen_ms: Option<i64>,
}

/// Sync the ledger with a tracker.
pub async fn sync<T: Tracker>(
    ledger: &mut Ledger,
    policy: &LoadedPolicy,
    tracker: &T,
    opts: &SyncOptions,
    progress: &dyn Progress,
) -> Result<SyncReport> {
    let started = Instant::now();
    tracker.check_keys(&opts.extra_keys)?;
    let scopes = tracker.scopes(policy)?;
    let mut report = SyncReport {
        source: match scopes.as_slice() {
            [one] if one.prefix.is_empty() => one.name.clone(),
            _ => format!("{} {}", tracker.source(), tracker.site()),
        },
        flavor: tracker.flavor(),
        full: opts.full,
        warnings: tracker.warnings(),
        ..Default::default()
    };
    let violations_before = ledger.open_violation_count()?;
    let mut seen = BTreeSet::new();
    let mut sinces = Vec::new();
    let mut cursors = Vec::new();
    for scope in &scopes {
        let mut run = ScopeRun::start(ledger, policy, tracker, scope, opts, &mut report)?;
        run.labelled(progress).await?;
        run.known(progress).await?;
        let (since, cursor) = run.finish()?;
        seen.extend(run.seen);
        sinces.push(since);
        cursors.extend(cursor);
    }
    report.since = if sinces.iter().any(Option::is_none) {
        None
    } else {
        sinces.into_iter().flatten().min()
    };
    report.full = report.full || report.since.is_none();
    report.cursor = cursors.into_iter().max();
    report.tickets = seen.len();
    report.new_violations = ledger
        .open_violation_count()?
        .saturating_sub(violations_before);
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// One scope's run: what it works with and what it has done so far.
struct ScopeRun<'a, T: Tracker> {
    ledger: &'a mut Ledger,
    policy: &'a LoadedPolicy,
    tracker: &'a T,
    scope: &'a Scope,
    opts: &'a SyncOptions,
    report: &'a mut SyncReport,
    /// Tickets read in this run.
    seen: BTreeSet<String>,
    /// The sync state as it was when the run started (cursor, times).
    prev: SyncState,
    /// The sync state to keep while the run goes on.
    base: SyncState,
    cp: Checkpoint,
    /// The tickets with a record comment in this tracker (pushed from here or read from it),
    /// read once per run: only their comments are checked for deletions.
    recorded: BTreeSet<String>,
}

fn max_ms(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

impl<'a, T: Tracker> ScopeRun<'a, T> {
    fn start(
        ledger: &'a mut Ledger,
        policy: &'a LoadedPolicy,
        tracker: &'a T,
        scope: &'a Scope,
        opts: &'a SyncOptions,
        report: &'a mut SyncReport,
    ) -> Result<Self> {
        let prev = ledger.sync_state(&scope.name)?.unwrap_or(SyncState {
            source: scope.name.clone(),
            ..Default::default()
        });
        let resumable = prev
            .run
            .as_ref()
            .and_then(|r| serde_json::from_value::<Checkpoint>(r.clone()).ok())
            .filter(|c| c.full || !opts.full);
        let resumed = resumable.is_some();
        let cp = match resumable {
            Some(c) => {
                report.resumed = true;
                report.warnings.push(format!(
                    "{}resumed an interrupted sync started {}",
                    scope.prefix,
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
                    prev.cursor_ms
                        .map(|c| c - i64::from(opts.overlap_minutes) * 60_000)
                },
                ..Default::default()
            },
        };
        report.full = report.full || cp.full;
        let base = SyncState {
            run: None,
            last_run_at: if resumed {
                prev.last_run_at
            } else {
                Some(now())
            },
            ..prev.clone()
        };
        let recorded = record_tickets(ledger, tracker.source())?;
        let run = ScopeRun {
            recorded,
            ledger,
            policy,
            tracker,
            scope,
            opts,
            report,
            seen: BTreeSet::new(),
            prev,
            base,
            cp,
        };
        run.ledger.set_sync_state(&run.checkpoint())?;
        Ok(run)
    }

    /// The sync state to store while the run goes on: the base with the current checkpoint.
    fn checkpoint(&self) -> SyncState {
        SyncState {
            run: Some(json!(self.cp)),
            ..self.base.clone()
        }
    }

    fn since(&self) -> Option<DateTime<Utc>> {
        self.cp.since_ms.and_then(from_epoch_ms)
    }

    /// Phase 0: the label queries, each resumed from its last committed page.
    async fn labelled(&mut self, progress: &dyn Progress) -> Result<()> {
        if self.cp.phase != 0 {
            return Ok(());
        }
        let (tracker, scope) = (self.tracker, self.scope);
        for (i, query) in scope.label_queries.iter().enumerate().skip(self.cp.label) {
            progress.phase(&query.what);
            let from = max_ms(self.cp.after_ms, self.cp.since_ms).and_then(from_epoch_ms);
            let mut sink = PageSink {
                run: self,
                progress,
            };
            tracker.labelled(scope, i, from, &mut sink).await?;
            self.cp.label = i + 1;
            self.cp.after_ms = None;
            self.ledger.set_sync_state(&self.checkpoint())?;
        }
        self.cp.phase = 1;
        self.ledger.set_sync_state(&self.checkpoint())?;
        Ok(())
    }

    /// Phase 1: the tickets the ledger knows (or `--key` names) that the label queries did not
    /// return.
    async fn known(&mut self, progress: &dyn Progress) -> Result<()> {
        progress.phase(&self.scope.known_query);
        let gone = self
            .ledger
            .tickets_with_event_from(kind::TICKET_GONE, self.tracker.source())?;
        let known: Vec<String> = self
            .ledger
            .ticket_keys()?
            .into_iter()
            .filter(|k| self.policy.key_matches(k) && !gone.contains(k))
            .collect();
        let mut keys = self.tracker.scope_keys(self.scope, known, self.ledger)?;
        keys.sort_by(|a, b| key_order(a, b));
        let named =
            self.tracker
                .scope_keys(self.scope, self.opts.extra_keys.clone(), self.ledger)?;
        let (tracker, scope, since) = (self.tracker, self.scope, self.since());
        let mut sink = PageSink {
            run: self,
            progress,
        };
        tracker.known(scope, keys, named, since, &mut sink).await
    }

    /// Complete: move the cursor, clear the checkpoint. Returns (since, cursor).
    fn finish(&mut self) -> Result<(Option<Time>, Option<Time>)> {
        let cursor = max_ms(self.cp.max_seen_ms, self.prev.cursor_ms);
        self.ledger.set_sync_state(&SyncState {
            cursor_ms: cursor,
            run: None,
            last_ok_at: Some(now()),
            ..self.base.clone()
        })?;
        Ok((self.since(), cursor.and_then(from_epoch_ms)))
    }
}

/// The planned events of a ticket, without the decision records of events this ledger holds
/// (the workspace that made them reads its own records back, applied or not), and with each undo record tied to
/// the decision it takes back. An undo whose decision is not in the ledger yet waits for a later
/// sync. `events` are the ticket's events in the ledger (read when a planned event names a
/// record: [`names_a_record`]).
fn own_records(events: &[Event], planned: Vec<NewEvent>) -> Vec<NewEvent> {
    let names = |e: &NewEvent| {
        recorded_hash(e)
            .or_else(|| rejected_hash(e))
            .map(str::to_string)
    };
    if !planned.iter().any(names_a_record) {
        return planned;
    }
    let seq_of = |hash: &str| {
        let by_record = record_key(hash);
        events
            .iter()
            .find(|e| e.hash == hash || e.dedup_key.as_deref() == Some(by_record.as_str()))
            .map(|e| e.seq)
    };
    let mut out = Vec::with_capacity(planned.len());
    for mut e in planned {
        if let Some(h) = names(&e) {
            if events.iter().any(|x| x.hash == h) {
                continue;
            }
        }
        if e.kind == kind::DECISION_UNDONE && recorded_hash(&e).is_some() {
            let undoes = e.payload.get("undoes_event").and_then(Value::as_str);
            match undoes.and_then(seq_of) {
                Some(seq) => e.payload["undoes"] = json!(seq),
                None => continue,
            }
        }
        out.push(e);
    }
    out
}

/// The tickets of `source` with a comment holding a decision record: pushed from this ledger,
/// or read back from the tracker.
fn record_tickets(ledger: &Ledger, source: &str) -> Result<BTreeSet<String>> {
    Ok(ledger
        .events_of_kinds(&[kind::PUSHED, kind::DECISION, kind::NOTE])?
        .into_iter()
        .filter(|e| e.source == source)
        .filter(|e| e.kind == kind::PUSHED || e.payload.get("record").is_some())
        .filter_map(|e| e.ticket)
        .collect())
}

/// Whether a planned event stands for a decision record (applied or rejected).
fn names_a_record(e: &NewEvent) -> bool {
    recorded_hash(e).or_else(|| rejected_hash(e)).is_some()
}

/// The record comments of a ticket that its tracker no longer has: one `record.gone` event
/// each (once). The ledger keeps the decisions; only where they were written is gone.
fn gone_records(
    events: &[Event],
    source: &str,
    key: &str,
    ids: &BTreeSet<String>,
) -> Vec<NewEvent> {
    let mut out = Vec::new();
    for e in events.iter().filter(|e| e.source == source) {
        let (comments, what) = match e.kind.as_str() {
            kind::PUSHED => (
                e.payload
                    .get("comment_ids")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>(),
                json!({
                    "decision_seq": e.payload.get("decision_seq"),
                    "decision": e.payload.get("decision"),
                }),
            ),
            kind::DECISION | kind::NOTE | kind::DECISION_UNDONE => (
                e.payload
                    .pointer("/record/comment")
                    .and_then(Value::as_str)
                    .into_iter()
                    .collect(),
                json!({
                    "event": e.payload.pointer("/record/event"),
                    "decision_seq": e.seq,
                    "decision": e.payload.get("decision").or(Some(&json!(e.kind))),
                }),
            ),
            _ => continue,
        };
        for c in comments.into_iter().filter(|c| !ids.contains(*c)) {
            let mut payload = what.clone();
            payload["comment"] = json!(c);
            out.push(NewEvent {
                ticket: Some(key.to_string()),
                line: e.line.clone(),
                kind: kind::RECORD_GONE,
                source: source.to_string(),
                actor: None,
                at: now(),
                meeting: None,
                note: None,
                payload,
                dedup_key: Some(format!("record.gone:{source}:{key}:{c}")),
            });
        }
    }
    out
}

/// The sync loop as the place a tracker hands its pages to.
struct PageSink<'r, 'a, T: Tracker> {
    run: &'r mut ScopeRun<'a, T>,
    progress: &'r dyn Progress,
}

impl<T: Tracker> Sink<T::Ticket> for PageSink<'_, '_, T> {
    fn page(&mut self, page: Page<T::Ticket>, checkpoint: bool) -> Result<()> {
        let run = &mut *self.run;
        run.report.pages += 1;
        run.report.fetched += page.listed;
        run.report.changelog_requests += page.requests;
        run.report.warnings.extend(page.warnings);
        if let Some(m) = page.newest.map(|t| t.timestamp_millis()) {
            run.cp.max_seen_ms = max_ms(run.cp.max_seen_ms, Some(m));
            if checkpoint {
                run.cp.after_ms = Some(m);
            }
        }
        // The checkpoint commits with the page's events: a resumed run starts after them.
        let state = run.checkpoint();
        let (policy, tracker) = (run.policy, run.tracker);
        let report = &mut *run.report;
        let mut tx = run.ledger.transaction()?;
        let tickets: Vec<(&T::Ticket, String)> =
            page.tickets.iter().map(|t| (t, tracker.key(t))).collect();
        let mut rest = &tickets[..];
        while !rest.is_empty() {
            // The page's tickets in runs of distinct keys, each run planned against label facts
            // read at once and appended in one go: a key twice on a page sees its first copy's
            // events.
            let mut distinct = HashSet::new();
            let n = rest
                .iter()
                .take_while(|(_, k)| distinct.insert(k.as_str()))
                .count();
            let (run_of, tail) = rest.split_at(n);
            rest = tail;
            let matching: Vec<&str> = run_of
                .iter()
                .map(|(_, k)| k.as_str())
                .filter(|k| policy.key_matches(k))
                .collect();
            let mut known = tx.label_facts_many(&matching)?;
            let (mut all, mut what) = (Vec::new(), Vec::new());
            for (ticket, key) in run_of {
                if !policy.key_matches(key) {
                    report.warnings.push(format!(
                        "{key}: does not match the policy's ticket key pattern `{}`; skipped",
                        policy.policy.ticket_key
                    ));
                    continue;
                }
                let known = known.remove(key).unwrap_or_default();
                let planned = tracker.plan(policy, ticket, &known, &mut report.warnings);
                let ids = match run.recorded.contains(key) {
                    true => tracker.comment_ids(ticket),
                    false => None,
                };
                // The ticket's ledger events, read once, when records are planned or may be gone.
                let events = if ids.is_some() || planned.iter().any(names_a_record) {
                    tx.events_for_ticket(key)?
                } else {
                    Vec::new()
                };
                let mut planned = own_records(&events, planned);
                if let Some(ids) = ids {
                    planned.extend(gone_records(&events, tracker.source(), key, &ids));
                }
                run.seen.insert(key.clone());
                what.extend(planned.iter().map(|ev| {
                    let rejected =
                        (ev.kind == kind::RECORD_REJECTED).then(|| RejectedRecord::of(ev));
                    (rejected, recorded_hash(ev).is_some())
                }));
                all.extend(planned);
            }
            let appended = tx.append_many(all)?;
            for ((rejected, applied), seq) in what.into_iter().zip(appended) {
                if seq.is_some() {
                    report.new_events += 1;
                    match rejected {
                        Some(r) => report.records_rejected.push(r),
                        None if applied => report.records_applied += 1,
                        None => {}
                    }
                }
            }
        }
        tx.set_sync_state(&state)?;
        tx.commit_with(policy)?;
        self.progress.fetched(report.fetched, page.total);
        Ok(())
    }

    fn query_started(&mut self, queries: usize) {
        self.run.report.queries += queries;
    }

    fn seen(&self, key: &str) -> bool {
        self.run.seen.contains(key)
    }

    fn ledger(&self) -> &Ledger {
        self.run.ledger
    }

    fn missing(&mut self, key: &str, reason: &str, moved_to: Option<&str>) -> Result<()> {
        let run = &mut *self.run;
        if run.ledger.events_for_ticket(key)?.is_empty() {
            if !run.report.unknown_keys.iter().any(|k| k == key) {
                run.report.unknown_keys.push(key.to_string());
            }
            return Ok(());
        }
        let event = crate::plan::gone(run.tracker.source(), key, reason, moved_to, now());
        if run.ledger.append_all(run.policy, vec![event])? > 0 {
            run.report.new_events += 1;
            run.report.gone.push(GoneTicket {
                key: key.to_string(),
                reason: reason.to_string(),
                moved_to: moved_to.map(str::to_string),
            });
        }
        Ok(())
    }
}
