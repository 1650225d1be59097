//! Which landings came through a backport pull request portcullis opened (`backport --pr`), for
//! `verify` to name it.
//!
//! A pull request opened for ticket T in repository R (its `backport.pr_opened` event) carried
//! a landing of T in R when one of the landing's release commits
//! - is a commit `backport` wrote onto the ticket branch (its `backport.picked` events), or
//! - came onto the release branch through the pull request's merge: the merge commit its
//!   `backport.pr_merged` event names, or a merge whose subject is GitHub's
//!   `Merge pull request #N from owner/<the ticket branch>`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::Result;
use portcullis_core::event::kind;
use portcullis_git::verify::Verification;
use portcullis_ledger::Ledger;

/// A landing that came through a backport pull request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LandingPullRequest {
    pub ticket: String,
    pub repo: String,
    /// `owner/name#n`.
    pub pull_request: String,
    pub url: Option<String>,
    /// The ticket branch it was opened from.
    pub branch: String,
    /// Whether portcullis has seen it merged (`backport.pr_merged`).
    pub merged: bool,
    /// The ticket's release commits in the repository that came through it.
    pub release_commits: Vec<String>,
}

/// What the ledger says about one pull request.
#[derive(Default)]
struct Opened {
    github_repo: String,
    number: u64,
    url: Option<String>,
    branch: String,
    picked: BTreeSet<String>,
    merge_commit: Option<String>,
    merged: bool,
}

/// The landings of `v` that came through a pull request `backport --pr` opened on its line.
pub fn landing_pull_requests(ledger: &Ledger, v: &Verification) -> Result<Vec<LandingPullRequest>> {
    let events = ledger.events_of_kinds(&[
        kind::BACKPORT_PICKED,
        kind::BACKPORT_PR_OPENED,
        kind::BACKPORT_PR_MERGED,
    ])?;
    // (ticket, repo) → its pull request, and the commits picked onto its branch.
    let mut opened: BTreeMap<(String, String), Opened> = BTreeMap::new();
    let mut picked: HashMap<(String, String), BTreeSet<String>> = HashMap::new();
    for e in &events {
        if e.line.as_deref() != Some(v.line.as_str()) {
            continue;
        }
        let (Some(ticket), Some(repo)) = (e.ticket.clone(), e.payload["repo"].as_str()) else {
            continue;
        };
        let at = (ticket, repo.to_string());
        let p = &e.payload;
        if e.kind == kind::BACKPORT_PICKED {
            let commits = p["picks"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["commit"].as_str().map(str::to_string));
            picked.entry(at).or_default().extend(commits);
        } else if e.kind == kind::BACKPORT_PR_OPENED {
            let (Some(gh), Some(n)) = (p["github_repo"].as_str(), p["number"].as_u64()) else {
                continue;
            };
            let o = opened.entry(at).or_default();
            o.github_repo = gh.to_string();
            o.number = n;
            o.url = p["url"].as_str().map(str::to_string);
            o.branch = p["branch"].as_str().unwrap_or_default().to_string();
        } else if let Some(o) = opened.get_mut(&at) {
            if p["number"].as_u64() == Some(o.number) {
                o.merged = true;
                o.merge_commit = p["merge_commit"].as_str().map(str::to_string);
            }
        }
    }
    let mut out = Vec::new();
    for ((ticket, repo), mut o) in opened {
        o.picked = picked
            .remove(&(ticket.clone(), repo.clone()))
            .unwrap_or_default();
        let Some(landing) = v
            .tickets
            .iter()
            .find(|t| t.key == ticket)
            .and_then(|t| t.repos.iter().find(|r| r.repo == repo))
        else {
            continue;
        };
        let Some(scan) = v.repositories.iter().find(|s| s.repo == repo) else {
            continue;
        };
        let by_sha: HashMap<&str, &portcullis_git::model::ReleaseCommit> = scan
            .release_commits
            .iter()
            .map(|c| (c.sha.as_str(), c))
            .collect();
        let github_merge = format!(
            "Merge pull request #{} from {}/{}",
            o.number,
            o.github_repo.split('/').next().unwrap_or_default(),
            o.branch
        );
        let through = |sha: &str| {
            if o.picked.contains(sha) {
                return true;
            }
            let Some(via) = by_sha.get(sha).and_then(|c| c.via.as_deref()) else {
                return false;
            };
            o.merge_commit.as_deref() == Some(via)
                || by_sha
                    .get(via)
                    .is_some_and(|m| m.subject.trim() == github_merge)
        };
        let mut commits: Vec<String> = landing
            .landed
            .iter()
            .map(|l| l.release_commit.clone())
            .chain(landing.release_commits.iter().cloned())
            .filter(|c| through(c))
            .collect();
        commits.sort();
        commits.dedup();
        if commits.is_empty() {
            continue;
        }
        out.push(LandingPullRequest {
            pull_request: format!("{}#{}", o.github_repo, o.number),
            url: o.url,
            branch: o.branch,
            merged: o.merged,
            release_commits: commits,
            ticket,
            repo,
        });
    }
    Ok(out)
}
