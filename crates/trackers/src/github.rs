//! Live sync from GitHub issues and pull requests: list → read each one's events (and, for a
//! merged pull request, its merge commit and commits) → plan (pure, [`plan_github_issue`]) →
//! apply, one ledger transaction per page. The same ledger as Jira's: label changes become
//! `label.added` / `label.removed` events with the actor's login and GitHub's time, the fields
//! a `ticket.observed`, and the workflow derives the states from them as it does for Jira.
//!
//! - **Keys**: `{repository name}#{number}` (`daf_butler#123`); the names of the configured
//!   repositories must differ. The policy's `ticket_key` must match them (`policy/github.toml`).
//! - **What is read**, per repository: every issue and pull request carrying one of the
//!   policy's labels, one query per label (`labels=a,b` is an AND on GitHub), all states,
//!   oldest update first; then the tickets the ledger already knows (or `--key` names) that
//!   carry none of them any more, so that a removed request label is seen.
//! - **Incremental**: each repository keeps its cursor in `sync_state` (source
//!   `github {site} {owner/name} #{labels}`): the newest `updated_at` read by its last complete
//!   run. The next run asks for `since = cursor − overlap`. Known tickets are then found among
//!   the issues updated since (one more listing); a full run reads each of them. Events carry
//!   dedup keys (GitHub's event ids), so the overlap and any re-read add nothing.
//! - **Interruption**: each page commits with a checkpoint (label query, newest `updated_at`
//!   applied); a run cut short resumes from there. The cursor only moves when the repository's
//!   run completes.
//! - **Merged pull requests** get one `commit.linked` event (payload `repo`, `sha` = the merge
//!   commit, `commits` = the pull request's commits), read once per pull request.

use std::collections::{BTreeSet, HashSet};
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::github_client::{split_key, GhEvent, GhIssue, GhPull, GithubClient, RepoRef};
use crate::import::{open_violation_count, reconcile_labels};
use crate::live::{Progress, SyncReport};
use crate::{Error, Result};
use portcullis_core::event::{kind, source, LabelFact, NewEvent, TicketInfo};
use portcullis_core::policy::LoadedPolicy;
use portcullis_core::time::{fmt_utc, now};
use portcullis_ledger::{key_order, Ledger, SyncState};

/// How a GitHub sync runs.
#[derive(Debug, Clone)]
pub struct GithubOptions {
    /// Ignore the cursors and read everything.
    pub full: bool,
    /// How far back an incremental run re-reads before its cursor.
    pub overlap_minutes: u32,
    /// Tickets (`name#N`) to read whatever their labels, besides those the ledger knows.
    pub extra_keys: Vec<String>,
}

impl Default for GithubOptions {
    fn default() -> Self {
        GithubOptions {
            full: false,
            overlap_minutes: 5,
            extra_keys: Vec::new(),
        }
    }
}

/// One issue or pull request as read from GitHub, everything the plan needs.
#[derive(Debug, Clone)]
pub struct IssueData {
    pub repo: RepoRef,
    pub issue: GhIssue,
    /// Its events, as GitHub lists them.
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

/// The policy's labels, one query each: the lines' request labels, approval and done.
pub fn policy_labels(policy: &LoadedPolicy) -> Vec<String> {
    let mut labels: BTreeSet<String> = policy
        .policy
        .lines
        .iter()
        .map(|l| l.request_label.clone())
        .collect();
    labels.insert(policy.policy.labels.approved.clone());
    labels.insert(policy.policy.labels.done.clone());
    labels.into_iter().collect()
}

/// The name under which a repository's sync keeps its cursor.
pub fn source_name(site: &str, repo: &RepoRef, policy: &LoadedPolicy) -> String {
    let h = hex::encode(&Sha256::digest(policy_labels(policy).join(",").as_bytes())[..4]);
    format!("github {site} {} #{h}", repo.full_name())
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
    let login = |u: &Option<crate::github_client::GhUser>| {
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
    let payload = serde_json::to_value(&info).unwrap_or_default();
    let digest = hex::encode(&Sha256::digest(payload.to_string().as_bytes())[..12]);
    out.push(NewEvent {
        ticket: Some(key.clone()),
        line: None,
        kind: kind::TICKET_OBSERVED,
        source: source::GITHUB.into(),
        actor: None,
        at,
        meeting: None,
        note: None,
        payload,
        dedup_key: Some(format!(
            "observed:{key}:{}:{digest}",
            updated.map(fmt_utc).unwrap_or_default()
        )),
    });

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

type Time = DateTime<Utc>;

/// The checkpoint of a repository's run in progress, stored in `sync_state.run`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
struct Checkpoint {
    full: bool,
    since_ms: Option<i64>,
    /// 0: the label queries; 1: the known tickets.
    phase: u8,
    /// The label query in progress (index into [`policy_labels`]).
    label: usize,
    /// Within that query: the newest `updated_at` of the last committed page.
    after_ms: Option<i64>,
    /// The newest `updated_at` applied so far in this run.
    max_seen_ms: Option<i64>,
}

/// Check that every configured repository makes keys the policy accepts, and that their names
/// differ.
pub fn check_repos(policy: &LoadedPolicy, repos: &[RepoRef]) -> Result<()> {
    let mut names = BTreeSet::new();
    for r in repos {
        if !names.insert(r.name.to_ascii_lowercase()) {
            return Err(Error::input(format!(
                "two repositories in github.repos are named `{}`: ticket keys (`{}`) would be ambiguous",
                r.name,
                r.key(1)
            ))
            .hint("keep one of them in this workspace; the repository name makes the ticket key"));
        }
        let sample = r.key(1);
        if !policy.key_matches(&sample) {
            return Err(Error::input(format!(
                "the policy's ticket_key `{}` does not match GitHub ticket keys like `{sample}`",
                policy.policy.ticket_key
            ))
            .hint("set ticket_key = \"[A-Za-z0-9_.-]+#[0-9]+\" in the policy (see `portcullis init --from-policy github`); join it to a Jira pattern with `|` to track both"));
        }
    }
    Ok(())
}

/// Sync the ledger with the configured GitHub repositories.
pub async fn sync_github(
    ledger: &mut Ledger,
    policy: &LoadedPolicy,
    client: &GithubClient,
    opts: &GithubOptions,
    progress: &dyn Progress,
) -> Result<SyncReport> {
    let started = Instant::now();
    check_repos(policy, client.repos())?;
    for k in &opts.extra_keys {
        if client.repo_for_key(k).is_none() {
            return Err(Error::input(format!(
                "`{k}` is not an issue of a repository in github.repos"
            ))
            .hint("GitHub keys are `{repository name}#{number}`, with the repository listed in [github] repos"));
        }
    }
    let mut report = SyncReport {
        source: format!("github {}", client.site()),
        flavor: "github".into(),
        full: opts.full,
        ..Default::default()
    };
    if !client.authenticated() {
        report.warnings.push(
            "no GitHub token: anonymous requests see public repositories only, 60 requests an hour (set PORTCULLIS_GITHUB_TOKEN)".into(),
        );
    }
    let violations_before = open_violation_count(ledger)?;
    let mut seen = BTreeSet::new();
    let mut sinces: Vec<Option<DateTime<Utc>>> = Vec::new();
    let mut cursors = Vec::new();
    for repo in client.repos() {
        let mut run = RepoRun::start(ledger, policy, client, repo, opts, progress, &mut report)?;
        run.labels().await?;
        run.known().await?;
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
    report.new_violations = open_violation_count(ledger)?.saturating_sub(violations_before);
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// One repository's run.
struct RepoRun<'a> {
    ledger: &'a mut Ledger,
    policy: &'a LoadedPolicy,
    client: &'a GithubClient,
    repo: &'a RepoRef,
    opts: &'a GithubOptions,
    progress: &'a dyn Progress,
    report: &'a mut SyncReport,
    seen: BTreeSet<String>,
    prev: SyncState,
    base: SyncState,
    cp: Checkpoint,
}

impl<'a> RepoRun<'a> {
    fn start(
        ledger: &'a mut Ledger,
        policy: &'a LoadedPolicy,
        client: &'a GithubClient,
        repo: &'a RepoRef,
        opts: &'a GithubOptions,
        progress: &'a dyn Progress,
        report: &'a mut SyncReport,
    ) -> Result<RepoRun<'a>> {
        let source = source_name(client.site(), repo, policy);
        let prev = ledger.sync_state(&source)?.unwrap_or(SyncState {
            source: source.clone(),
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
                    "{}: resumed an interrupted sync started {}",
                    repo.full_name(),
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
        let base = SyncState {
            run: None,
            last_run_at: if resumed {
                prev.last_run_at
            } else {
                Some(now())
            },
            ..prev.clone()
        };
        let run = RepoRun {
            ledger,
            policy,
            client,
            repo,
            opts,
            progress,
            report,
            seen: BTreeSet::new(),
            prev,
            base,
            cp,
        };
        run.ledger.set_sync_state(&run.checkpoint())?;
        Ok(run)
    }

    /// The sync state to store while the run goes on.
    fn checkpoint(&self) -> SyncState {
        SyncState {
            run: Some(json!(self.cp)),
            ..self.base.clone()
        }
    }

    fn since(&self) -> Option<DateTime<Utc>> {
        self.cp
            .since_ms
            .and_then(portcullis_core::time::from_epoch_ms)
    }

    /// Phase 0: one listing per label.
    async fn labels(&mut self) -> Result<()> {
        if self.cp.phase != 0 {
            return Ok(());
        }
        let labels = policy_labels(self.policy);
        for (i, label) in labels.iter().enumerate().skip(self.cp.label) {
            self.progress.phase(&format!(
                "{} issues labelled {label}",
                self.repo.full_name()
            ));
            let from = match (self.cp.after_ms, self.cp.since_ms) {
                (Some(a), Some(s)) => Some(a.max(s)),
                (a, s) => a.or(s),
            };
            let since = from.and_then(portcullis_core::time::from_epoch_ms);
            self.query(Some(label), since, None).await?;
            self.cp.label = i + 1;
            self.cp.after_ms = None;
            self.ledger.set_sync_state(&self.checkpoint())?;
        }
        self.cp.phase = 1;
        self.ledger.set_sync_state(&self.checkpoint())?;
        Ok(())
    }

    /// Phase 1: the tickets the ledger knows (or `--key` names) that the label listings did not
    /// return.
    async fn known(&mut self) -> Result<()> {
        self.progress.phase(&format!(
            "{} known tickets without backport labels",
            self.repo.full_name()
        ));
        let mine = |k: &String| {
            split_key(k).is_some_and(|(name, _)| name.eq_ignore_ascii_case(&self.repo.name))
        };
        let mut known: Vec<String> = self
            .ledger
            .ticket_keys()?
            .into_iter()
            .filter(|k| mine(k) && !self.seen.contains(k))
            .collect();
        known.sort_by(|a, b| key_order(a, b));
        let extra: BTreeSet<String> = self
            .opts
            .extra_keys
            .iter()
            .filter(|k| mine(k))
            .filter_map(|k| split_key(k).map(|(_, n)| self.repo.key(n)))
            .collect();
        let mut one_by_one: Vec<String> = extra.iter().cloned().collect();
        match self.since() {
            Some(since) if !known.is_empty() => {
                let wanted: HashSet<String> = known.into_iter().collect();
                self.query(None, Some(since), Some(&wanted)).await?;
            }
            Some(_) => {}
            None => one_by_one.extend(known),
        }
        one_by_one.retain(|k| !self.seen.contains(k));
        one_by_one.sort_by(|a, b| key_order(a, b));
        one_by_one.dedup();
        let chunk = (self.client.options().per_page as usize).max(1);
        for keys in one_by_one.chunks(chunk) {
            let client = self.client;
            let repo = self.repo;
            let found: Vec<(String, Option<GhIssue>)> = stream::iter(keys.iter().cloned())
                .map(|k| async move {
                    let n = split_key(&k).map(|(_, n)| n).unwrap_or_default();
                    client.issue(repo, n).await.map(|i| (k, i))
                })
                .buffered(client.options().concurrency.max(1))
                .try_collect()
                .await?;
            self.report.queries += found.len();
            let mut issues = Vec::new();
            for (k, issue) in found {
                match issue {
                    Some(i) => issues.push(i),
                    None => self.report.warnings.push(format!(
                        "{k}: not found in {} (deleted, transferred, or not visible to this token)",
                        repo.full_name()
                    )),
                }
            }
            self.report.fetched += issues.len() as u64;
            self.apply(issues, false).await?;
        }
        Ok(())
    }

    /// Page through one listing (`label`, or every issue when `None`) and apply what it returns
    /// (only the `wanted` keys, when given).
    async fn query(
        &mut self,
        label: Option<&str>,
        since: Option<DateTime<Utc>>,
        wanted: Option<&HashSet<String>>,
    ) -> Result<()> {
        self.report.queries += 1;
        let what = format!("listing the issues of {}", self.repo.full_name());
        let mut page = self.client.list_issues(self.repo, label, since).await?;
        loop {
            self.report.pages += 1;
            let items = page.take_items();
            self.report.fetched += items.len() as u64;
            let issues: Vec<GhIssue> = items
                .into_iter()
                .filter(|i| wanted.is_none_or(|w| w.contains(&self.repo.key(i.number))))
                .collect();
            self.apply(issues, label.is_some()).await?;
            match self.client.next_page(&page, &what).await? {
                Some(next) => page = next,
                None => break,
            }
        }
        Ok(())
    }

    /// Read the details of a page's issues and apply them in one transaction, with the
    /// checkpoint.
    async fn apply(&mut self, issues: Vec<GhIssue>, checkpoint_page: bool) -> Result<()> {
        let page_max = issues
            .iter()
            .filter_map(|i| i.updated_at)
            .map(|t| t.timestamp_millis())
            .max();
        let mut todo = Vec::new();
        for issue in issues {
            let key = self.repo.key(issue.number);
            if !self.policy.key_matches(&key) {
                self.report.warnings.push(format!(
                    "{key}: does not match the policy's ticket key pattern `{}`; skipped",
                    self.policy.policy.ticket_key
                ));
                continue;
            }
            if self.seen.insert(key.clone()) {
                let merged = issue
                    .pull_request
                    .as_ref()
                    .is_some_and(|p| p.merged_at.is_some());
                let need_pull = merged && !has_commit_link(self.ledger, &key)?;
                todo.push((issue, need_pull));
            }
        }
        let client = self.client;
        let repo = self.repo;
        let read: Vec<(IssueData, u64)> =
            stream::iter(todo)
                .map(|(issue, need_pull)| async move {
                    read_issue(client, repo, issue, need_pull).await
                })
                .buffered(client.options().concurrency.max(1))
                .try_collect()
                .await?;
        if let Some(m) = page_max {
            self.cp.max_seen_ms = Some(self.cp.max_seen_ms.map_or(m, |x| x.max(m)));
            if checkpoint_page {
                self.cp.after_ms = Some(m);
            }
        }
        let state = self.checkpoint();
        let policy = self.policy;
        let report = &mut *self.report;
        let mut tx = self.ledger.transaction()?;
        for (data, requests) in &read {
            report.changelog_requests += requests;
            let key = data.repo.key(data.issue.number);
            let known = tx.label_facts(&key)?;
            for ev in plan_github_issue(policy, data, &known, &mut report.warnings) {
                if tx.append(ev)?.is_some() {
                    report.new_events += 1;
                }
            }
        }
        tx.set_sync_state(&state)?;
        tx.commit_with(policy)?;
        self.progress.fetched(report.fetched, None);
        Ok(())
    }

    /// Complete: move the cursor, clear the checkpoint. Returns (since, cursor).
    fn finish(&mut self) -> Result<(Option<Time>, Option<Time>)> {
        let cursor = match (self.cp.max_seen_ms, self.prev.cursor_ms) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.ledger.set_sync_state(&SyncState {
            cursor_ms: cursor,
            run: None,
            last_ok_at: Some(now()),
            ..self.base.clone()
        })?;
        Ok((
            self.since(),
            cursor.and_then(portcullis_core::time::from_epoch_ms),
        ))
    }
}

/// Whether the ledger already links this ticket to a merge commit.
fn has_commit_link(ledger: &Ledger, key: &str) -> Result<bool> {
    Ok(ledger.has_event_of_kind(key, kind::COMMIT_LINKED)?)
}

/// An issue's events and, for a merged pull request, its merge commit and commits; with the
/// number of requests made.
async fn read_issue(
    client: &GithubClient,
    repo: &RepoRef,
    issue: GhIssue,
    need_pull: bool,
) -> Result<(IssueData, u64)> {
    let (events, mut requests) = client.issue_events(repo, issue.number).await?;
    let mut pull = None;
    if need_pull {
        let p = client.pull(repo, issue.number).await?;
        requests += 1;
        let merged = p.merged == Some(true) || p.merged_at.is_some();
        if merged && p.merge_commit_sha.as_deref().is_some_and(|s| !s.is_empty()) {
            let (commits, n) = client.pull_commits(repo, issue.number).await?;
            requests += n;
            pull = Some(PullData {
                pull: p,
                commits: commits.into_iter().map(|c| c.sha).collect(),
            });
        }
    }
    Ok((
        IssueData {
            repo: repo.clone(),
            issue,
            events,
            pull,
        },
        requests,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github_client::{GhEventLabel, GhLabel, GhPullRef, GhUser};
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

    #[test]
    fn repositories_must_make_distinct_keys_the_policy_accepts() {
        let p = Policy::from_toml("github.toml", BUILTIN_GITHUB).unwrap();
        let a = RepoRef::parse("lsst/daf_butler").unwrap();
        let b = RepoRef::parse("other/daf_butler").unwrap();
        assert!(check_repos(&p, std::slice::from_ref(&a)).is_ok());
        assert!(check_repos(&p, &[a.clone(), b]).is_err());
        let v23 = Policy::from_toml("v23.toml", portcullis_core::policy::BUILTIN_V23).unwrap();
        let e = check_repos(&v23, &[a]).unwrap_err();
        assert!(e.to_string().contains("does not match"), "{e}");
    }
}
