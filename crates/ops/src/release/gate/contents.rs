//! What a release really contains: the commits since the previous release in each repository,
//! and every key of them sorted into fixed, withdrawn (reverted, approval revoked) and only
//! mentioned.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use git2::{Oid, Repository};

use super::Cut;
use crate::Result;
use portcullis_core::release::{ManifestRepo, ManifestTicket, WithdrawnTicket};
use portcullis_git::scan::{ReleaseCommit, RepoScan};
use portcullis_git::verify::Verification;
use portcullis_git::GitContext;
use portcullis_ledger::Ledger;

/// What a release really contains, per key of its commits.
pub(super) struct Contents {
    /// Keys with a live commit of their own: fixed by the release.
    pub fixed: Vec<ManifestTicket>,
    /// Keys whose commits were all reverted, or whose approval was revoked (and not waived).
    pub withdrawn: Vec<WithdrawnTicket>,
    /// Keys only mentioned in messages of live commits.
    pub mentioned: Vec<ManifestTicket>,
}

/// Sort the release's keys into fixed, reverted or withdrawn, and only mentioned; summaries
/// come from the ledger (else from the verifier), so that no entry is left without one that
/// is known.
pub(super) fn contents(
    ledger: &Ledger,
    cut: &Cut,
    v: &Verification,
    released: &Released,
) -> Result<Contents> {
    let briefs = ledger.ticket_briefs()?;
    let verified: BTreeMap<&str, &str> = v
        .tickets
        .iter()
        .map(|t| (t.key.as_str(), t.summary.as_str()))
        .collect();
    let summary = |k: &str| {
        briefs
            .get(k)
            .map(|b| b.summary.trim().to_string())
            .filter(|s| !s.is_empty())
            .or_else(|| verified.get(k).map(|s| s.trim().to_string()))
            .unwrap_or_default()
    };
    // Revoked, and not approved again since (by a label in the tracker).
    let mut revoked = crate::verify::revoked(ledger, &cut.line.name)?;
    for t in &v.tickets {
        if matches!(t.state.as_deref(), Some("approved" | "done")) {
            revoked.remove(&t.key);
        }
    }
    let waived: BTreeSet<&str> = cut.opts.waivers.iter().map(|w| w.key.as_str()).collect();
    let mut out = Contents {
        fixed: Vec::new(),
        withdrawn: Vec::new(),
        mentioned: Vec::new(),
    };
    let list = |repos: &Repos| repos.0.clone();
    for (key, u) in &released.keys {
        let revoke = revoked
            .get(key)
            .filter(|_| !waived.contains(key.as_str()))
            .map(|(_, note)| match note {
                Some(n) => format!("approval revoked ({})", n.trim()),
                None => "approval revoked".to_string(),
            });
        if !u.own.is_empty() {
            match revoke {
                Some(why) => out.withdrawn.push(WithdrawnTicket {
                    key: key.clone(),
                    summary: summary(key),
                    repos: list(&u.own),
                    why,
                }),
                None => out.fixed.push(ManifestTicket {
                    key: key.clone(),
                    summary: summary(key),
                    repos: list(&u.own),
                }),
            }
        } else if !u.reverted.is_empty() {
            let mut why = format!("reverted in {}", list(&u.reverted).join(", "));
            if let Some(r) = revoke {
                why.push_str(&format!("; {r}"));
            }
            out.withdrawn.push(WithdrawnTicket {
                key: key.clone(),
                summary: summary(key),
                repos: list(&u.reverted),
                why,
            });
        } else if !u.mentioned.is_empty() {
            out.mentioned.push(ManifestTicket {
                key: key.clone(),
                summary: summary(key),
                repos: list(&u.mentioned),
            });
        }
    }
    Ok(out)
}

/// What each repository of the line releases.
pub(super) struct Released {
    pub repos: Vec<ManifestRepo>,
    pub tags: Vec<(String, String, String, bool)>,
    /// Every commit since the previous release, in any repository.
    pub since_all: BTreeSet<String>,
    /// Every key of those commits, and how each repository carries it.
    pub keys: BTreeMap<String, KeyUse>,
}

/// How the commits since the previous release carry a key: the repositories where a live
/// commit is its own (its ticket branch, else the first key of its message), where its own
/// commits were reverted (within the release, or a revert of an earlier release's commit), and
/// where live commits only mention it.
#[derive(Default)]
pub(super) struct KeyUse {
    own: Repos,
    reverted: Repos,
    mentioned: Repos,
}

/// Repository names in the policy's order, each once.
#[derive(Default)]
struct Repos(Vec<String>);

impl Repos {
    fn insert(&mut self, name: &str) {
        if !self.0.iter().any(|n| n == name) {
            self.0.push(name.to_string());
        }
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The commits from the previous release (excluded) to the tip, oldest first, and the tickets
/// their non-merge commits name or mention. Every commit is also added to `since_all`, and
/// every key to `keys` (how this repository carries it).
pub(super) fn since_previous(
    repo: &Repository,
    tip: Oid,
    prev_commit: Option<Oid>,
    scan: &RepoScan,
    out: &mut Released,
) -> Result<(Vec<String>, Vec<String>)> {
    let walking = || format!("cannot walk the history of {} from {tip}", scan.repo);
    let mut walk = repo.revwalk().ctx(walking)?;
    walk.set_sorting(git2::Sort::TOPOLOGICAL | git2::Sort::REVERSE)
        .ok();
    walk.push(tip).ctx(walking)?;
    if let Some(p) = prev_commit {
        walk.hide(p).ok();
    }
    let by_sha: HashMap<&str, &ReleaseCommit> = scan
        .release_commits
        .iter()
        .map(|c| (c.sha.as_str(), c))
        .collect();
    let mut commits = Vec::new();
    let mut tickets: BTreeSet<String> = BTreeSet::new();
    let mut in_range: Vec<&ReleaseCommit> = Vec::new();
    for oid in walk.flatten() {
        let sha = oid.to_string();
        out.since_all.insert(sha.clone());
        if let Some(c) = by_sha.get(sha.as_str()) {
            if c.merge {
                continue;
            }
            tickets.extend(c.ticket.iter().cloned());
            tickets.extend(c.mentions.iter().cloned());
            in_range.push(c);
        }
        commits.push(sha);
    }
    // Reverted: by a revert in the range (the reverted commit in it, or in an earlier release).
    let range: BTreeSet<&str> = commits.iter().map(String::as_str).collect();
    let mut reverted: BTreeSet<&str> = BTreeSet::new();
    for c in &in_range {
        if let Some(orig) = c.reverts.as_deref() {
            reverted.insert(orig);
        }
        if c.reverted_by.as_deref().is_some_and(|r| range.contains(r)) {
            reverted.insert(c.sha.as_str());
        }
    }
    let own = |c: &ReleaseCommit| c.ticket.clone().or_else(|| c.mentions.first().cloned());
    let name = &scan.repo;
    for c in &in_range {
        if c.reverts.is_some() {
            // A revert fixes nothing; what it reverts, when released earlier, is withdrawn.
            let earlier = c
                .reverts
                .as_deref()
                .filter(|o| !range.contains(o))
                .and_then(|o| by_sha.get(o))
                .and_then(|o| own(o));
            if let Some(k) = earlier {
                out.keys.entry(k).or_default().reverted.insert(name);
            }
            continue;
        }
        let key = own(c);
        if let Some(k) = &key {
            let u = out.keys.entry(k.clone()).or_default();
            if reverted.contains(c.sha.as_str()) {
                u.reverted.insert(name);
            } else {
                u.own.insert(name);
            }
        }
        if reverted.contains(c.sha.as_str()) {
            continue;
        }
        for m in c.mentions.iter().filter(|m| Some(*m) != key.as_ref()) {
            out.keys
                .entry(m.clone())
                .or_default()
                .mentioned
                .insert(name);
        }
    }
    Ok((commits, tickets.into_iter().collect()))
}
