//! GitHub issues and pull requests as a [`Tracker`]: the REST client ([`client`], octocrab) and
//! the pure plan of an issue's events ([`plan`]).
//!
//! - **Keys**: `{repository name}#{number}` (`daf_butler#123`); the names of the configured
//!   repositories must differ. The policy's `ticket_key` must match them (`policy/github.toml`).
//! - **One scope per repository**, its cursor kept under
//!   `github {site} {owner/name} #{hash of the labels}`.
//! - **Label queries**: one listing per label (`labels=a,b` is an AND on GitHub), all states,
//!   oldest update first, `since = cursor − overlap`. Each issue's timeline (and, for a pull
//!   request the timeline says was merged and not yet linked in the ledger, its merge commit
//!   and commits) is read before its page is handed on.
//! - **Decision records**: with `[github] writers`, one more query per repository searches for
//!   the issues whose comments carry a record (`"portcullis-record" in:comments`, GitHub's
//!   issue search, oldest update first, searched again from the last update when more than the
//!   1,000 results one search serves match), so a fresh workspace finds rejected tickets too.
//! - **Known query**: with a cursor, one listing of the issues updated since, kept to the known
//!   tickets; without one (a full run), and for the tickets named with `--key`, each ticket is
//!   read on its own.

pub mod client;
pub mod plan;

use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use portcullis_core::event::{kind, source, LabelFact, NewEvent};
use portcullis_core::policy::LoadedPolicy;
use portcullis_core::time::fmt_utc;
use portcullis_ledger::Ledger;

use crate::records::{plan_records, RecordTrust};
use crate::tracker::{Missing, Page, Query, Remote, RemoteChange, Scope, Sink, Tracker};
use crate::{Error, Result};
use client::{split_key, GhIssue, GithubClient, RepoRef};
use plan::{label_event_key, plan_github_issue, IssueData, PullData};
use portcullis_core::record::{self, Form};

/// The configured GitHub repositories, as sync and push use them.
#[derive(Debug, Clone)]
pub struct GithubTracker {
    pub client: GithubClient,
    /// Whose decision records to apply, and the team key (`[github] writers`, `team_key`).
    pub records: RecordTrust,
}

/// The name under which a repository's sync keeps its cursor.
pub fn source_name(site: &str, repo: &RepoRef, policy: &LoadedPolicy) -> String {
    let labels: Vec<String> = policy.labels().into_iter().collect();
    let h = hex::encode(&Sha256::digest(labels.join(",").as_bytes())[..4]);
    format!("github {site} {} #{h}", repo.full_name())
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

impl GithubTracker {
    fn repo(&self, scope: &Scope) -> &RepoRef {
        &self.client.repos()[scope.index]
    }

    /// Read the details of listed issues not read yet in this run and hand them on as a page.
    async fn hand_on(
        &self,
        repo: &RepoRef,
        issues: Vec<GhIssue>,
        listed: u64,
        checkpoint: bool,
        warnings: Vec<String>,
        sink: &mut dyn Sink<IssueData>,
    ) -> Result<()> {
        let newest = issues.iter().filter_map(|i| i.updated_at).max();
        let mut todo = Vec::new();
        let mut fresh = HashSet::new();
        for issue in issues {
            let key = repo.key(issue.number);
            if sink.seen(&key) || !fresh.insert(key.clone()) {
                continue;
            }
            // Whether it was merged, the timeline says (octocrab's issue has no `merged_at`).
            let need_pull = issue.is_closed_pull()
                && !sink.ledger().has_event_of_kind(&key, kind::COMMIT_LINKED)?;
            todo.push((issue, need_pull));
        }
        let client = &self.client;
        let read: Vec<(IssueData, u64)> =
            stream::iter(todo)
                .map(|(issue, need_pull)| async move {
                    read_issue(client, repo, issue, need_pull).await
                })
                .buffered(client.options().concurrency.max(1))
                .try_collect()
                .await?;
        let requests = read.iter().map(|(_, n)| n).sum();
        let mut page = Page::new(read.into_iter().map(|(d, _)| d).collect());
        page.listed = listed;
        page.newest = newest;
        page.requests = requests;
        page.warnings = warnings;
        sink.page(page, checkpoint)
    }

    /// Page through one listing (`label`, or every issue when `None`) and hand on what it
    /// returns (only the `wanted` keys, when given).
    async fn listing(
        &self,
        repo: &RepoRef,
        label: Option<&str>,
        since: Option<DateTime<Utc>>,
        wanted: Option<&HashSet<String>>,
        sink: &mut dyn Sink<IssueData>,
    ) -> Result<()> {
        sink.query_started(1);
        let what = format!("listing the issues of {}", repo.full_name());
        let mut page = self.client.list_issues(repo, label, since).await?;
        loop {
            let items = page.take_items();
            let listed = items.len() as u64;
            let issues: Vec<GhIssue> = items
                .into_iter()
                .filter(|i| wanted.is_none_or(|w| w.contains(&repo.key(i.number))))
                .map(GhIssue::from)
                .collect();
            self.hand_on(repo, issues, listed, label.is_some(), Vec::new(), sink)
                .await?;
            match self.client.next_page(&page, &what).await? {
                Some(next) => page = next,
                None => return Ok(()),
            }
        }
    }
}

impl GithubTracker {
    /// Search for the issues of `repo` whose comments carry decision records, updated since
    /// `since`, and hand them on page by page. One search serves at most 1,000 results, so
    /// when GitHub says there are more, search again from the last update seen (the overlap is
    /// read once: the sink skips what this run has seen).
    async fn record_search(
        &self,
        repo: &RepoRef,
        since: Option<DateTime<Utc>>,
        sink: &mut dyn Sink<IssueData>,
    ) -> Result<()> {
        let what = format!("searching the comments of {}", repo.full_name());
        let mut from = since;
        loop {
            sink.query_started(1);
            let mut page = self
                .client
                .search_comments(repo, record::GITHUB_MARKER, from)
                .await?;
            let total = page.total_count.unwrap_or(0);
            let mut served = 0u64;
            let mut newest = from;
            loop {
                let items = page.take_items();
                served += items.len() as u64;
                let issues: Vec<GhIssue> = items.into_iter().map(GhIssue::from).collect();
                newest = issues
                    .iter()
                    .filter_map(|i| i.updated_at)
                    .chain(newest)
                    .max();
                let listed = issues.len() as u64;
                self.hand_on(repo, issues, listed, true, Vec::new(), sink)
                    .await?;
                match self.client.next_page(&page, &what).await? {
                    Some(next) => page = next,
                    None => break,
                }
            }
            // More than one search serves, and the window moved: search on from there.
            if served < total && served > 0 && newest > from {
                from = newest;
                continue;
            }
            return Ok(());
        }
    }
}

impl Tracker for GithubTracker {
    type Ticket = IssueData;

    fn source(&self) -> &'static str {
        source::GITHUB
    }

    fn site(&self) -> &str {
        self.client.site()
    }

    fn flavor(&self) -> String {
        "github".into()
    }

    fn warnings(&self) -> Vec<String> {
        if self.client.authenticated() {
            return Vec::new();
        }
        vec!["no GitHub token: anonymous requests see public repositories only, 60 requests an hour (set PORTCULLIS_GITHUB_TOKEN)".into()]
    }

    fn check_keys(&self, keys: &[String]) -> Result<()> {
        for k in keys {
            if self.client.repo_for_key(k).is_none() {
                return Err(Error::input(format!(
                    "`{k}` is not an issue of a repository in github.repos"
                ))
                .hint("GitHub keys are `{repository name}#{number}`, with the repository listed in [github] repos"));
            }
        }
        Ok(())
    }

    fn scopes(&self, policy: &LoadedPolicy) -> Result<Vec<Scope>> {
        check_repos(policy, self.client.repos())?;
        let labels: Vec<String> = policy.labels().into_iter().collect();
        Ok(self
            .client
            .repos()
            .iter()
            .enumerate()
            .map(|(index, repo)| {
                let full = repo.full_name();
                let mut label_queries: Vec<Query> = labels
                    .iter()
                    .map(|l| Query {
                        what: format!("{full} issues labelled {l}"),
                        ask: l.clone(),
                    })
                    .collect();
                // A workspace that trusts writers also searches for the issues whose comments
                // carry decision records, labels or not: a rejected one has lost its label.
                if !self.records.writers.is_empty() {
                    label_queries.push(Query {
                        what: format!("{full} issues with decision records"),
                        ask: format!("\"{}\" in:comments", record::GITHUB_MARKER),
                    });
                }
                Scope {
                    name: source_name(self.site(), repo, policy),
                    prefix: format!("{full}: "),
                    index,
                    labels: labels.clone(),
                    label_queries,
                    known_query: format!("{full} known tickets without backport labels"),
                }
            })
            .collect())
    }

    fn scope_keys(&self, scope: &Scope, keys: Vec<String>, _: &Ledger) -> Result<Vec<String>> {
        let repo = self.repo(scope);
        Ok(keys
            .iter()
            .filter_map(|k| split_key(k))
            .filter(|(name, _)| name.eq_ignore_ascii_case(&repo.name))
            .map(|(_, n)| repo.key(n))
            .collect())
    }

    async fn labelled(
        &self,
        scope: &Scope,
        query: usize,
        since: Option<DateTime<Utc>>,
        sink: &mut dyn Sink<IssueData>,
    ) -> Result<()> {
        if query >= scope.labels.len() {
            return self.record_search(self.repo(scope), since, sink).await;
        }
        let label = scope.label_queries[query].ask.as_str();
        self.listing(self.repo(scope), Some(label), since, None, sink)
            .await
    }

    async fn known(
        &self,
        scope: &Scope,
        keys: Vec<String>,
        named: Vec<String>,
        since: Option<DateTime<Utc>>,
        sink: &mut dyn Sink<IssueData>,
    ) -> Result<()> {
        let repo = self.repo(scope);
        let keys: Vec<String> = keys.into_iter().filter(|k| !sink.seen(k)).collect();
        let mut one_by_one: Vec<String> = named;
        match since {
            Some(since) if !keys.is_empty() => {
                let wanted: HashSet<String> = keys.into_iter().collect();
                self.listing(repo, None, Some(since), Some(&wanted), sink)
                    .await?;
            }
            Some(_) => {}
            None => one_by_one.extend(keys),
        }
        one_by_one.retain(|k| !sink.seen(k));
        one_by_one.sort_by(|a, b| portcullis_core::event::key_order(a, b));
        one_by_one.dedup();
        let chunk = (self.client.options().per_page as usize).max(1);
        for keys in one_by_one.chunks(chunk) {
            let client = &self.client;
            let found: Vec<(String, Option<GhIssue>)> = stream::iter(keys.iter().cloned())
                .map(|k| async move {
                    let n = split_key(&k).map(|(_, n)| n).unwrap_or_default();
                    client.issue(repo, n).await.map(|i| (k, i))
                })
                .buffered(client.options().concurrency.max(1))
                .try_collect()
                .await?;
            sink.query_started(found.len());
            let mut issues = Vec::new();
            let warnings = Vec::new();
            for (k, issue) in found {
                match issue {
                    Some(i) => issues.push(i),
                    None => sink.missing(
                        &k,
                        &format!(
                            "not found in {} (deleted, transferred, or not visible to this token)",
                            repo.full_name()
                        ),
                        None,
                    )?,
                }
            }
            let listed = issues.len() as u64;
            self.hand_on(repo, issues, listed, false, warnings, sink)
                .await?;
        }
        Ok(())
    }

    fn key(&self, ticket: &IssueData) -> String {
        ticket.repo.key(ticket.issue.number)
    }

    fn plan(
        &self,
        policy: &LoadedPolicy,
        ticket: &IssueData,
        known: &[LabelFact],
        warnings: &mut Vec<String>,
    ) -> Vec<NewEvent> {
        let mut events = plan_github_issue(policy, ticket, known, warnings);
        let key = ticket.repo.key(ticket.issue.number);
        let comments = plan::comments(ticket);
        events.extend(plan_records(source::GITHUB, &key, &comments, &self.records));
        events
    }

    fn comment_ids(&self, ticket: &IssueData) -> Option<BTreeSet<String>> {
        ticket
            .events
            .iter()
            .filter(|e| e.event == "commented")
            .map(|e| e.id.map(|id| id.to_string()))
            .collect()
    }

    fn records(&self) -> &RecordTrust {
        &self.records
    }

    fn record_form(&self) -> Form {
        Form::Github
    }

    fn own_keys(&self, keys: BTreeSet<String>, ledger: &Ledger) -> Result<BTreeSet<String>> {
        let seen = ledger.tickets_with_event_from(kind::TICKET_OBSERVED, source::GITHUB)?;
        Ok(keys
            .into_iter()
            .filter(|k| split_key(k).is_some() || seen.contains(k))
            .collect())
    }

    async fn remote(&self, key: &str) -> Result<Result<Remote, Missing>> {
        let Some((repo, number)) = self.client.repo_for_key(key) else {
            return Ok(Err(Missing::unreachable(
                "its repository is not in github.repos of portcullis.toml; add it to push",
            )));
        };
        let Some(issue) = self.client.issue(repo, number).await? else {
            return Ok(Err(Missing::gone(format!(
                "not found in {} (deleted, transferred, or not visible to this token)",
                repo.full_name()
            ))));
        };
        let (events, _) = self.client.timeline(repo, number).await?;
        let changes = events
            .iter()
            .filter_map(|ev| {
                let (added, label) = ev.label_change()?;
                let at = ev.created_at?;
                let one = vec![label.to_string()];
                Some(RemoteChange {
                    id: ev.id.map(|i| i.to_string()).unwrap_or_default(),
                    at,
                    actor: ev.actor_login().unwrap_or("").to_string(),
                    added: if added { one.clone() } else { Vec::new() },
                    removed: if added { Vec::new() } else { one },
                    ledger_keys: vec![label_event_key(key, ev, added, label)],
                })
            })
            .collect();
        Ok(Ok(Remote {
            labels: issue.label_names().into_iter().collect(),
            changes,
            comments: self.client.comment_bodies(repo, number).await?,
        }))
    }

    async fn set_labels(&self, key: &str, add: &[String], remove: &[String]) -> Result<()> {
        let Some((repo, number)) = self.client.repo_for_key(key) else {
            return Err(Error::input(format!(
                "{key}: its repository is not in github.repos"
            )));
        };
        if !add.is_empty() {
            self.client.add_labels(repo, number, add).await?;
        }
        for label in remove {
            self.client.remove_label(repo, number, label).await?;
        }
        Ok(())
    }

    async fn comment(&self, key: &str, body: &str) -> Result<Option<String>> {
        let Some((repo, number)) = self.client.repo_for_key(key) else {
            return Err(Error::input(format!(
                "{key}: its repository is not in github.repos"
            )));
        };
        Ok(Some(
            self.client
                .add_comment(repo, number, body)
                .await?
                .to_string(),
        ))
    }

    async fn delete_comment(&self, key: &str, id: &str) -> Result<()> {
        let Some((repo, _)) = self.client.repo_for_key(key) else {
            return Err(Error::input(format!(
                "{key}: its repository is not in github.repos"
            )));
        };
        let Ok(id) = id.parse::<u64>() else {
            return Err(Error::internal(format!(
                "`{id}` is not a GitHub comment id"
            )));
        };
        self.client.delete_comment(repo, id).await
    }

    fn conflict_key(&self, decision_hash: &str, change: &RemoteChange) -> String {
        format!(
            "push-conflict:{decision_hash}:gh{}:{}",
            change.id,
            fmt_utc(change.at)
        )
    }

    fn push_details(&self, key: &str) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("site".into(), json!(self.site()));
        if let Some((repo, _)) = self.client.repo_for_key(key) {
            m.insert("repo".into(), json!(repo.full_name()));
        }
        m
    }
}

/// An issue's timeline and, for a merged pull request (`need_pull`: a closed one not linked
/// yet, merged if its timeline has a `merged` event), its merge commit and commits; with the
/// number of requests made.
async fn read_issue(
    client: &GithubClient,
    repo: &RepoRef,
    mut issue: GhIssue,
    need_pull: bool,
) -> Result<(IssueData, u64)> {
    let (events, mut requests) = client.timeline(repo, issue.number).await?;
    if let Some(p) = issue.pull_request.as_mut() {
        p.merged_at = p.merged_at.or(client::wire::merged_at(&events));
    }
    let merged = issue
        .pull_request
        .as_ref()
        .is_some_and(|p| p.merged_at.is_some());
    let mut pull = None;
    if need_pull && merged {
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
    use portcullis_core::policy::{Policy, BUILTIN_GITHUB};

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
