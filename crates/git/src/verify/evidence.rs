//! The evidence per repository, gathered once from its scan: which main-side commits each ticket
//! owns, where each one landed on the release branch, which release commits each ticket brought,
//! and which of them are (still) reverted.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::model::{ContentLanding, ReleaseCommit, RepoScan};
use portcullis_core::landing::MatchKind;

/// Release commits that are reverted, and not restored by a revert of the revert.
fn effectively_reverted(commits: &[ReleaseCommit]) -> BTreeSet<String> {
    let by_sha: HashMap<&str, &ReleaseCommit> =
        commits.iter().map(|c| (c.sha.as_str(), c)).collect();
    fn reverted(sha: &str, by: &HashMap<&str, &ReleaseCommit>, depth: usize) -> bool {
        if depth > 64 {
            return false;
        }
        match by.get(sha).and_then(|c| c.reverted_by.as_deref()) {
            Some(r) => !reverted(r, by, depth + 1),
            None => false,
        }
    }
    commits
        .iter()
        .filter(|c| reverted(&c.sha, &by_sha, 0))
        .map(|c| c.sha.clone())
        .collect()
}

/// Per repository: which main-side commits each key owns, what landed, what is on the release side.
pub(super) struct RepoIndex<'a> {
    pub(super) scan: &'a RepoScan,
    pub(super) required: bool,
    /// Ticket → its non-merge main-side commits (by ticket or mention).
    pub(super) main_by_key: BTreeMap<String, Vec<String>>,
    /// main commit → its landings (release commit, kind).
    pub(super) landed: HashMap<String, Vec<(String, MatchKind)>>,
    /// Ticket → its non-merge release commits (by ticket or mention).
    pub(super) release_by_key: BTreeMap<String, Vec<String>>,
    /// Keys a release commit under a ticket mentions (carrier → original).
    pub(super) carried: BTreeMap<String, BTreeSet<String>>,
    /// Release commits reverted and not restored ([`effectively_reverted`]).
    pub(super) reverted: BTreeSet<String>,
    /// Each release tag's rank in release order.
    pub(super) tag_rank: HashMap<String, usize>,
    /// Release commits by id.
    pub(super) release: HashMap<String, &'a ReleaseCommit>,
    /// Main-side commits that are not merges.
    pub(super) main_non_merge: BTreeSet<&'a str>,
    /// Main-side first-parent merges → the commits they brought in.
    pub(super) introduces: HashMap<&'a str, &'a Vec<String>>,
    /// Main-side commits that never need a backport → the rule that says so.
    pub(super) not_needed: HashMap<&'a str, &'a str>,
    /// Main-side commits with no counterpart whose change is on the release branch by content.
    pub(super) content: HashMap<&'a str, &'a ContentLanding>,
}

/// The non-merge commits `merge` brought onto main (none if it is not a merge there).
fn introduced(
    introduces: &HashMap<&str, &Vec<String>>,
    non_merge: &BTreeSet<&str>,
    merge: &str,
) -> Vec<String> {
    introduces
        .get(merge)
        .map(|v| {
            v.iter()
                .filter(|s| non_merge.contains(s.as_str()))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

impl<'a> RepoIndex<'a> {
    /// Index one repository's scan; `required`: whether the policy requires landings there.
    pub(super) fn new(scan: &'a RepoScan, required: bool) -> RepoIndex<'a> {
        let mut main_by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut introduces: HashMap<&str, &Vec<String>> = HashMap::new();
        let mut non_merge: BTreeSet<&'a str> = BTreeSet::new();
        for m in &scan.main_commits {
            if m.merge {
                introduces.insert(&m.sha, &m.introduces);
                continue;
            }
            non_merge.insert(&m.sha);
            for k in m.ticket.iter().chain(m.mentions.iter()) {
                let v = main_by_key.entry(k.clone()).or_default();
                if !v.contains(&m.sha) {
                    v.push(m.sha.clone());
                }
            }
        }
        let reverted = effectively_reverted(&scan.release_commits);
        let mut landed: HashMap<String, Vec<(String, MatchKind)>> = HashMap::new();
        let mut release_by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut carried: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for c in &scan.release_commits {
            if c.merge {
                continue;
            }
            for k in c.ticket.iter().chain(c.mentions.iter()) {
                release_by_key
                    .entry(k.clone())
                    .or_default()
                    .push(c.sha.clone());
            }
            if let Some(t) = &c.ticket {
                for m in &c.mentions {
                    carried.entry(t.clone()).or_default().insert(m.clone());
                }
            }
            if c.reverts.is_some() {
                continue;
            }
            let Some(m) = &c.matched else { continue };
            // Other candidates count too when the evidence is exact (the same change made twice
            // on main); an ambiguous subject match lands only its chosen commit.
            let mains: Vec<&String> = std::iter::once(&m.main_commit)
                .chain(
                    c.candidates
                        .iter()
                        .filter(|x| x.kind.is_exact())
                        .map(|x| &x.main_commit),
                )
                .collect();
            for main in mains {
                // A squash, or a trailer naming a merge (`cherry-pick -m 1`), lands the commits
                // the merge brought onto main.
                let targets: Vec<String> =
                    if m.kind == MatchKind::Squash || introduces.contains_key(main.as_str()) {
                        introduced(&introduces, &non_merge, main)
                    } else {
                        vec![main.clone()]
                    };
                for t in targets {
                    landed.entry(t).or_default().push((c.sha.clone(), m.kind));
                }
            }
        }
        let tag_rank = scan
            .tags
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        let release = scan
            .release_commits
            .iter()
            .map(|c| (c.sha.clone(), c))
            .collect();
        let not_needed = scan
            .main_commits
            .iter()
            .filter_map(|m| m.not_needed.as_deref().map(|r| (m.sha.as_str(), r)))
            .collect();
        let content = scan
            .main_commits
            .iter()
            .filter_map(|m| m.content.as_ref().map(|c| (m.sha.as_str(), c)))
            .collect();
        RepoIndex {
            scan,
            required,
            content,
            introduces,
            not_needed,
            main_by_key,
            landed,
            release_by_key,
            carried,
            reverted,
            tag_rank,
            release,
            main_non_merge: non_merge,
        }
    }

    /// The non-merge main-side commits a match on `main_commit` stands for: itself, or the
    /// commits a merge brought in (a squash, a trailer naming a merge).
    pub(super) fn main_side_of(&self, main_commit: &str) -> Vec<String> {
        if self.main_non_merge.contains(main_commit) {
            vec![main_commit.to_string()]
        } else {
            introduced(&self.introduces, &self.main_non_merge, main_commit)
        }
    }

    /// The tickets with release-branch commits here (by merge branch or mention).
    pub(super) fn keys(&self) -> impl Iterator<Item = &String> {
        self.release_by_key.keys()
    }
}
