//! The verdict, pure: from the scans of every repository and the ledger's ticket states, where
//! each ticket stands in each repository it touched, and the drift between the ledger and git.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::scan::{ReleaseCommit, RepoScan, ScanStatus};
use portcullis_core::landing::{DriftKind, How, MatchKind, RepoLandingStatus, TicketLandingStatus};
use portcullis_core::policy::{Line, LoadedPolicy};
use portcullis_core::workflow::State;

/// What the ledger says about a ticket on the line.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerTicket {
    pub state: State,
    pub summary: String,
}

/// The whole verification of one line: the stable JSON of `portcullis verify --format json`
/// (documented in `docs/verify-json.md`).
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub line: String,
    pub branch: String,
    /// The scans (their main-side commit lists are not serialised).
    pub repositories: Vec<RepoScan>,
    pub tickets: Vec<TicketReport>,
    pub drift: Vec<Drift>,
    pub summary: Summary,
}

#[derive(Debug, Clone, Serialize)]
pub struct TicketReport {
    pub key: String,
    pub summary: String,
    /// The ledger state on the line; `null` when the ticket is not in the ledger.
    pub state: Option<String>,
    pub status: TicketLandingStatus,
    pub repos: Vec<RepoLanding>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RepoLanding {
    pub repo: String,
    pub status: RepoLandingStatus,
    pub how: Option<How>,
    /// Whether the policy requires the ticket to land here.
    pub required: bool,
    /// The main-side commits that belong to the ticket here.
    pub main_commits: Vec<String>,
    pub landed: Vec<LandedCommit>,
    /// Main-side commits with no counterpart on the release branch.
    pub missing: Vec<String>,
    /// Release-branch commits of the ticket (by merge branch or mention).
    pub release_commits: Vec<String>,
    /// The first release tag that contains the whole landing; `null` while unreleased.
    pub first_tag: Option<String>,
    /// Release-branch commits of the ticket that were reverted, with the revert.
    pub reverted: Vec<Revert>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LandedCommit {
    pub main_commit: String,
    pub release_commit: String,
    pub kind: MatchKind,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Revert {
    pub release_commit: String,
    pub reverted_by: String,
}

/// One disagreement between the ledger and git.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Drift {
    /// Stable identity: the same problem has the same id from one run to the next.
    pub id: String,
    pub kind: DriftKind,
    pub ticket: Option<String>,
    pub repo: Option<String>,
    pub commits: Vec<String>,
    pub message: String,
    pub blocking: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub repositories: usize,
    pub unverifiable: usize,
    pub release_commits: usize,
    pub release_only: usize,
    pub tickets: usize,
    pub landed: usize,
    pub not_landed: usize,
    pub drift: usize,
    pub blocking: usize,
}

impl Verification {
    /// Whether any drift blocks (per policy).
    pub fn blocks(&self) -> bool {
        self.summary.blocking > 0
    }
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(10)]
}

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
struct RepoIndex<'a> {
    scan: &'a RepoScan,
    required: bool,
    main_by_key: BTreeMap<String, Vec<String>>,
    /// main commit → its landings (release commit, kind).
    landed: HashMap<String, Vec<(String, MatchKind)>>,
    release_by_key: BTreeMap<String, Vec<String>>,
    /// Keys a release commit under a ticket mentions (carrier → original).
    carried: BTreeMap<String, BTreeSet<String>>,
    reverted: BTreeSet<String>,
    tag_rank: HashMap<String, usize>,
    release: HashMap<String, &'a ReleaseCommit>,
    /// Main-side commits that are not merges.
    main_non_merge: BTreeSet<&'a str>,
}

impl<'a> RepoIndex<'a> {
    fn new(scan: &'a RepoScan, required: bool) -> RepoIndex<'a> {
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
                let targets: Vec<String> = if m.kind == MatchKind::Squash {
                    introduces
                        .get(main.as_str())
                        .map(|v| {
                            v.iter()
                                .filter(|s| non_merge.contains(s.as_str()))
                                .cloned()
                                .collect()
                        })
                        .unwrap_or_default()
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
        RepoIndex {
            scan,
            required,
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

    fn keys(&self) -> impl Iterator<Item = &String> {
        self.release_by_key.keys()
    }

    /// Where `key` stands in this repository, or `None` if it never touched it.
    fn landing(&self, key: &str) -> Option<RepoLanding> {
        let mut expected: Vec<String> = self.main_by_key.get(key).cloned().unwrap_or_default();
        for original in self.carried.get(key).into_iter().flatten() {
            for m in self.main_by_key.get(original).into_iter().flatten() {
                if !expected.contains(m) {
                    expected.push(m.clone());
                }
            }
        }
        let release_commits = self.release_by_key.get(key).cloned().unwrap_or_default();
        // Counterparts of the ticket's own release commits belong to it too (a carrier ticket).
        for r in &release_commits {
            if let Some(c) = self.release.get(r) {
                if c.ticket.as_deref() == Some(key) {
                    if let Some(m) = &c.matched {
                        if m.kind != MatchKind::Squash
                            && self.main_non_merge.contains(m.main_commit.as_str())
                            && !expected.contains(&m.main_commit)
                        {
                            expected.push(m.main_commit.clone());
                        }
                    }
                }
            }
        }
        if expected.is_empty() && release_commits.is_empty() {
            return None;
        }
        let mut out = RepoLanding {
            repo: self.scan.repo.clone(),
            status: RepoLandingStatus::Missing,
            how: None,
            required: self.required,
            main_commits: expected.clone(),
            landed: Vec::new(),
            missing: Vec::new(),
            release_commits: release_commits.clone(),
            first_tag: None,
            reverted: Vec::new(),
        };
        if self.scan.status == ScanStatus::BranchMissing {
            out.status = RepoLandingStatus::BranchMissing;
            out.missing = expected;
            return Some(out);
        }
        for r in &release_commits {
            if self.reverted.contains(r) {
                if let Some(by) = self.release.get(r).and_then(|c| c.reverted_by.clone()) {
                    out.reverted.push(Revert {
                        release_commit: r.clone(),
                        reverted_by: by,
                    });
                }
            }
        }
        let mut any_reverted = false;
        let mut used_release: Vec<String> = Vec::new();
        for m in &expected {
            let live: Vec<&(String, MatchKind)> = self
                .landed
                .get(m)
                .into_iter()
                .flatten()
                .filter(|(r, _)| !self.reverted.contains(r))
                .collect();
            match live.first() {
                Some((r, kind)) => {
                    out.landed.push(LandedCommit {
                        main_commit: m.clone(),
                        release_commit: r.clone(),
                        kind: *kind,
                    });
                    used_release.push(r.clone());
                }
                None => {
                    if self.landed.contains_key(m) {
                        any_reverted = true;
                    }
                    out.missing.push(m.clone());
                }
            }
        }
        let live_release_only: Vec<&String> = release_commits
            .iter()
            .filter(|r| {
                !self.reverted.contains(*r)
                    && self
                        .release
                        .get(*r)
                        .is_some_and(|c| c.is_release_only() && c.reverts.is_none())
            })
            .collect();
        out.status = if expected.is_empty() {
            if live_release_only.is_empty() {
                RepoLandingStatus::Reverted
            } else {
                used_release.extend(live_release_only.iter().map(|s| s.to_string()));
                RepoLandingStatus::ReleaseOnly
            }
        } else if out.missing.is_empty() {
            RepoLandingStatus::Landed
        } else if any_reverted && out.landed.is_empty() {
            RepoLandingStatus::Reverted
        } else if out.landed.is_empty() {
            RepoLandingStatus::Missing
        } else {
            RepoLandingStatus::Partial
        };
        out.how = match out.status {
            RepoLandingStatus::Landed => Some(if out.landed.iter().all(|l| l.kind.is_exact()) {
                How::Exact
            } else {
                How::Modified
            }),
            RepoLandingStatus::Partial => Some(How::Partial),
            _ => None,
        };
        if out.status.has_landed() {
            let mut tag: Option<(usize, String)> = None;
            let mut untagged = false;
            for r in &used_release {
                match self.release.get(r).and_then(|c| c.first_tag.clone()) {
                    Some(t) => {
                        let rank = self.tag_rank.get(&t).copied().unwrap_or(0);
                        if tag.as_ref().is_none_or(|(k, _)| rank > *k) {
                            tag = Some((rank, t));
                        }
                    }
                    None => untagged = true,
                }
            }
            out.first_tag = if untagged { None } else { tag.map(|(_, t)| t) };
        }
        Some(out)
    }
}

/// Verify a line: per ticket and repository, and the drift.
pub fn verify(
    policy: &LoadedPolicy,
    line: &Line,
    scans: Vec<RepoScan>,
    ledger: &BTreeMap<String, LedgerTicket>,
) -> Verification {
    let required: HashMap<&str, bool> = policy
        .policy
        .repositories
        .iter()
        .map(|r| (r.name.as_str(), r.require_landing))
        .collect();
    let skipped: HashMap<&str, &Vec<String>> = policy
        .policy
        .repositories
        .iter()
        .map(|r| (r.name.as_str(), &r.skip_tickets))
        .collect();
    let indexes: Vec<RepoIndex<'_>> = scans
        .iter()
        .filter(|s| s.status != ScanStatus::Unverifiable)
        .map(|s| RepoIndex::new(s, required.get(s.repo.as_str()).copied().unwrap_or(true)))
        .collect();

    let unchecked: Vec<&str> = scans
        .iter()
        .filter(|s| s.status == ScanStatus::Unverifiable)
        .map(|s| s.repo.as_str())
        .collect();
    let approved = |k: &str| {
        ledger
            .get(k)
            .is_some_and(|t| matches!(t.state, State::Approved | State::Done))
    };
    let mut keys: BTreeSet<String> = ledger
        .iter()
        .filter(|(_, t)| matches!(t.state, State::Approved | State::Done))
        .map(|(k, _)| k.clone())
        .collect();
    for ix in &indexes {
        keys.extend(ix.keys().cloned());
    }

    let mut drift: Vec<Drift> = Vec::new();
    let mut push = |kind: DriftKind,
                    ticket: Option<&str>,
                    repo: Option<&str>,
                    commits: Vec<String>,
                    message: String| {
        let id = format!(
            "{}:{}:{}:{}",
            kind.as_str(),
            line.name,
            repo.unwrap_or("-"),
            ticket.unwrap_or_else(|| commits.first().map(|c| short(c)).unwrap_or("-"))
        );
        drift.push(Drift {
            id,
            kind,
            ticket: ticket.map(str::to_string),
            repo: repo.map(str::to_string),
            commits,
            message,
            blocking: policy.is_drift_blocking(kind),
        });
    };

    let mut tickets = Vec::new();
    for key in &keys {
        let repos: Vec<RepoLanding> = indexes
            .iter()
            .filter_map(|ix| ix.landing(key))
            .map(|mut r| {
                if skipped
                    .get(r.repo.as_str())
                    .is_some_and(|s| s.contains(key))
                {
                    r.required = false;
                }
                r
            })
            .collect();
        let counted: Vec<&RepoLanding> = repos.iter().filter(|r| r.required).collect();
        let status = if repos.is_empty() && !unchecked.is_empty() {
            // It may be in a repository that could not be read.
            TicketLandingStatus::Pending
        } else if repos.is_empty() {
            TicketLandingStatus::NotFound
        } else if counted
            .iter()
            .any(|r| r.status == RepoLandingStatus::Reverted)
        {
            TicketLandingStatus::Reverted
        } else if counted.iter().all(|r| r.status.has_landed()) {
            TicketLandingStatus::Landed
        } else if !counted
            .iter()
            .any(|r| r.status.has_landed() || r.status == RepoLandingStatus::Partial)
        {
            if counted
                .iter()
                .all(|r| r.status == RepoLandingStatus::BranchMissing)
            {
                TicketLandingStatus::Pending
            } else {
                TicketLandingStatus::Missing
            }
        } else if counted
            .iter()
            .all(|r| r.status.has_landed() || r.status == RepoLandingStatus::BranchMissing)
        {
            TicketLandingStatus::Pending
        } else {
            TicketLandingStatus::Partial
        };
        let info = ledger.get(key);
        let state = info.map(|t| t.state);
        // Approved or done, but not everywhere.
        let not_landed_kind = match state {
            Some(State::Approved) => Some(DriftKind::ApprovedNotLanded),
            Some(State::Done) => Some(DriftKind::DoneNotLanded),
            _ => None,
        };
        if let Some(kind) = not_landed_kind {
            let word = if kind == DriftKind::DoneNotLanded {
                "marked done"
            } else {
                "approved"
            };
            if repos.is_empty() && unchecked.is_empty() {
                push(
                    kind,
                    Some(key),
                    None,
                    Vec::new(),
                    format!("{key} is {word}, but no commit of it was found on main or {} in any repository", line.branch),
                );
            }
            for r in repos.iter().filter(|r| r.required) {
                let what = match r.status {
                    RepoLandingStatus::Missing => format!(
                        "none of its {} main-side commits is on {}",
                        r.main_commits.len(),
                        line.branch
                    ),
                    RepoLandingStatus::Partial => format!(
                        "{} of its {} main-side commits are not on {}",
                        r.missing.len(),
                        r.main_commits.len(),
                        line.branch
                    ),
                    RepoLandingStatus::BranchMissing => {
                        format!("{} does not exist there yet", line.branch)
                    }
                    _ => continue,
                };
                push(
                    kind,
                    Some(key),
                    Some(&r.repo),
                    r.missing.clone(),
                    format!("{key} is {word}, but in {}: {what}", r.repo),
                );
            }
        }
        for r in &repos {
            if !r.reverted.is_empty() && r.status != RepoLandingStatus::Landed {
                let commits: Vec<String> = r
                    .reverted
                    .iter()
                    .flat_map(|x| [x.release_commit.clone(), x.reverted_by.clone()])
                    .collect();
                let pairs: Vec<String> = r
                    .reverted
                    .iter()
                    .map(|x| {
                        format!(
                            "{} reverted by {}",
                            short(&x.release_commit),
                            short(&x.reverted_by)
                        )
                    })
                    .collect();
                push(
                    DriftKind::Reverted,
                    Some(key),
                    Some(&r.repo),
                    commits,
                    format!(
                        "{key} landed in {} and was reverted: {}",
                        r.repo,
                        pairs.join(", ")
                    ),
                );
            }
        }
        tickets.push(TicketReport {
            key: key.clone(),
            summary: info.map(|t| t.summary.clone()).unwrap_or_default(),
            state: state.map(|s| s.as_str().to_string()),
            status,
            repos,
        });
    }

    // Landed but never approved, per repository and ticket; commits with no ticket one by one.
    for ix in &indexes {
        let main_keys: HashMap<&str, Vec<&String>> = ix
            .scan
            .main_commits
            .iter()
            .map(|m| {
                (
                    m.sha.as_str(),
                    m.ticket.iter().chain(m.mentions.iter()).collect(),
                )
            })
            .collect();
        let mut unapproved: BTreeMap<Option<String>, Vec<&ReleaseCommit>> = BTreeMap::new();
        for c in &ix.scan.release_commits {
            if c.merge || c.reverts.is_some() || ix.reverted.contains(&c.sha) {
                continue;
            }
            let keys: Vec<&String> = c.ticket.iter().chain(c.mentions.iter()).collect();
            // Approved through its own keys, or through its main-side counterpart's ticket.
            let via_main = c
                .matched
                .iter()
                .flat_map(|m| main_keys.get(m.main_commit.as_str()).into_iter().flatten())
                .any(|k| approved(k));
            if via_main || keys.iter().any(|k| approved(k)) {
                continue;
            }
            unapproved
                .entry(keys.first().map(|k| k.to_string()))
                .or_default()
                .push(c);
        }
        for (key, commits) in unapproved {
            match key {
                Some(k) => {
                    let why = match ledger.get(&k) {
                        None => "it is not in the ledger".to_string(),
                        Some(t) => format!("its state is {}", t.state.as_str()),
                    };
                    push(
                        DriftKind::LandedNotApproved,
                        Some(&k),
                        Some(&ix.scan.repo),
                        commits.iter().map(|c| c.sha.clone()).collect(),
                        format!(
                            "{k} is on {} in {} ({} commit{}) but was never approved: {why}",
                            line.branch,
                            ix.scan.repo,
                            commits.len(),
                            if commits.len() == 1 { "" } else { "s" }
                        ),
                    );
                }
                None => {
                    for c in commits {
                        push(
                            DriftKind::LandedNotApproved,
                            None,
                            Some(&ix.scan.repo),
                            vec![c.sha.clone()],
                            format!(
                                "{} {} \"{}\" is on {} with no ticket (no ticket branch merge, no key in its message)",
                                ix.scan.repo,
                                short(&c.sha),
                                c.subject,
                                line.branch
                            ),
                        );
                    }
                }
            }
        }
    }

    // Repositories that could not be (fully) checked.
    for s in &scans {
        match s.status {
            ScanStatus::Ok => {}
            ScanStatus::BranchMissing => {
                let waiting: Vec<&str> = tickets
                    .iter()
                    .filter(|t| {
                        t.repos.iter().any(|r| r.repo == s.repo)
                            && t.state
                                .as_deref()
                                .is_some_and(|x| x == "approved" || x == "done")
                    })
                    .map(|t| t.key.as_str())
                    .collect();
                let mut message = s.problems.join("; ");
                if !waiting.is_empty() {
                    message.push_str(&format!("; waiting for it: {}", waiting.join(", ")));
                }
                push(
                    DriftKind::BranchMissing,
                    None,
                    Some(&s.repo),
                    Vec::new(),
                    message,
                );
            }
            ScanStatus::Unverifiable => {
                push(
                    DriftKind::Unverifiable,
                    None,
                    Some(&s.repo),
                    Vec::new(),
                    format!(
                        "{}; tickets that touch {} could not be checked there",
                        s.problems.join("; "),
                        s.repo
                    ),
                );
            }
        }
    }
    drift.sort_by(|a, b| {
        (a.kind, &a.repo, &a.ticket, &a.id).cmp(&(b.kind, &b.repo, &b.ticket, &b.id))
    });
    drift.dedup_by(|a, b| a.id == b.id);

    let summary = Summary {
        repositories: scans.len(),
        unverifiable: scans
            .iter()
            .filter(|s| s.status == ScanStatus::Unverifiable)
            .count(),
        release_commits: scans
            .iter()
            .map(|s| s.release_commits.iter().filter(|c| !c.merge).count())
            .sum(),
        release_only: scans
            .iter()
            .map(|s| {
                s.release_commits
                    .iter()
                    .filter(|c| c.is_release_only())
                    .count()
            })
            .sum(),
        tickets: tickets.len(),
        landed: tickets
            .iter()
            .filter(|t| t.status == TicketLandingStatus::Landed)
            .count(),
        not_landed: tickets
            .iter()
            .filter(|t| t.status != TicketLandingStatus::Landed)
            .count(),
        drift: drift.len(),
        blocking: drift.iter().filter(|d| d.blocking).count(),
    };
    Verification {
        line: line.name.clone(),
        branch: line.branch.clone(),
        repositories: scans,
        tickets,
        drift,
        summary,
    }
}
