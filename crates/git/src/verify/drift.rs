//! Drift: every disagreement between the ledger and git (approved or done but not landed,
//! reverted, landed but never approved, repositories that could not be checked), each with a
//! stable id and whether the policy makes it blocking.

use std::collections::{BTreeMap, HashMap};

use crate::model::{ReleaseCommit, RepoScan, ScanStatus};
use portcullis_core::landing::{DriftKind, RepoLandingStatus};
use portcullis_core::policy::{Line, LoadedPolicy};
use portcullis_core::workflow::State;

use super::evidence::RepoIndex;
use super::report::{Drift, LedgerTicket, RepoLanding, TicketReport};

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(10)]
}

/// Whether the ledger has `key` approved or done.
fn approved(ledger: &BTreeMap<String, LedgerTicket>, key: &str) -> bool {
    ledger
        .get(key)
        .is_some_and(|t| matches!(t.state, State::Approved | State::Done))
}

/// The drift of one line, collected rule by rule.
pub(super) struct DriftLog<'a> {
    policy: &'a LoadedPolicy,
    line: &'a Line,
    drift: Vec<Drift>,
}

impl<'a> DriftLog<'a> {
    pub(super) fn new(policy: &'a LoadedPolicy, line: &'a Line) -> DriftLog<'a> {
        DriftLog {
            policy,
            line,
            drift: Vec::new(),
        }
    }

    fn push(
        &mut self,
        kind: DriftKind,
        ticket: Option<&str>,
        repo: Option<&str>,
        commits: Vec<String>,
        message: String,
    ) {
        let id = format!(
            "{}:{}:{}:{}",
            kind.as_str(),
            self.line.name,
            repo.unwrap_or("-"),
            ticket.unwrap_or_else(|| commits.first().map(|c| short(c)).unwrap_or("-"))
        );
        self.drift.push(Drift {
            id,
            kind,
            ticket: ticket.map(str::to_string),
            repo: repo.map(str::to_string),
            commits,
            message,
            blocking: self.policy.is_drift_blocking(kind),
            settled: None,
        });
    }

    /// `key` is approved or done (its ledger `state`) but has not landed in every required
    /// repository of `repos`; `some_unchecked`: whether some repository could not be read.
    pub(super) fn not_landed(
        &mut self,
        key: &str,
        state: Option<State>,
        repos: &[RepoLanding],
        some_unchecked: bool,
    ) {
        let kind = match state {
            Some(State::Approved) => DriftKind::ApprovedNotLanded,
            Some(State::Done) => DriftKind::DoneNotLanded,
            _ => return,
        };
        let word = if kind == DriftKind::DoneNotLanded {
            "marked done"
        } else {
            "approved"
        };
        let branch = &self.line.branch;
        if repos.is_empty() && !some_unchecked {
            self.push(
                kind,
                Some(key),
                None,
                Vec::new(),
                format!("{key} is {word}, but no commit of it was found on main or {branch} in any repository"),
            );
        }
        for r in repos.iter().filter(|r| r.required) {
            let what = match r.status {
                RepoLandingStatus::Missing => format!(
                    "none of its {} main-side commits is on {branch}",
                    r.main_commits.len(),
                ),
                RepoLandingStatus::Partial => format!(
                    "{} of its {} main-side commits are not on {branch}",
                    r.missing.len(),
                    r.main_commits.len(),
                ),
                RepoLandingStatus::BranchMissing => {
                    format!("{branch} does not exist there yet")
                }
                _ => continue,
            };
            self.push(
                kind,
                Some(key),
                Some(&r.repo),
                r.missing.clone(),
                format!("{key} is {word}, but in {}: {what}", r.repo),
            );
        }
    }

    /// `key`'s commits reverted on the release branch of a repository where it is not (or no
    /// longer) landed.
    pub(super) fn reverted(&mut self, key: &str, repos: &[RepoLanding]) {
        for r in repos {
            if r.reverted.is_empty() || r.status == RepoLandingStatus::Landed {
                continue;
            }
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
            self.push(
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

    /// Release commits of `ix`'s repository that were never approved: one drift per ticket, and
    /// one per commit that has no ticket.
    pub(super) fn landed_not_approved(
        &mut self,
        ix: &RepoIndex<'_>,
        ledger: &BTreeMap<String, LedgerTicket>,
    ) {
        let repo = &ix.scan.repo;
        let branch = &self.line.branch;
        for (key, commits) in unapproved(ix, ledger) {
            match key {
                Some(k) => {
                    let why = match ledger.get(&k) {
                        None => "it is not in the ledger".to_string(),
                        Some(t) => format!("its state is {}", t.state.as_str()),
                    };
                    let message = format!(
                        "{k} is on {branch} in {repo} ({} commit{}) but was never approved: {why}",
                        commits.len(),
                        if commits.len() == 1 { "" } else { "s" }
                    );
                    self.push(
                        DriftKind::LandedNotApproved,
                        Some(&k),
                        Some(repo),
                        commits.iter().map(|c| c.sha.clone()).collect(),
                        message,
                    );
                }
                None => {
                    for c in commits {
                        let message = format!(
                            "{repo} {} \"{}\" is on {branch} with no ticket (no ticket branch merge, no key in its message)",
                            short(&c.sha),
                            c.subject,
                        );
                        self.push(
                            DriftKind::LandedNotApproved,
                            None,
                            Some(repo),
                            vec![c.sha.clone()],
                            message,
                        );
                    }
                }
            }
        }
    }

    /// Repositories that could not be (fully) checked: the release branch does not exist yet (with
    /// the approved `tickets` that wait for it), or the clone could not be read.
    pub(super) fn unchecked_repos(&mut self, scans: &[RepoScan], tickets: &[TicketReport]) {
        for s in scans {
            match s.status {
                ScanStatus::Ok if s.unchecked.is_empty() => {}
                ScanStatus::Ok => {
                    let shas: Vec<&str> = s.unchecked.iter().map(|u| short(&u.sha)).collect();
                    let waiting: Vec<&str> = tickets
                        .iter()
                        .filter(|t| {
                            t.repos.iter().any(|r| {
                                r.repo == s.repo && r.status == RepoLandingStatus::Unverifiable
                            })
                        })
                        .map(|t| t.key.as_str())
                        .collect();
                    let mut message = format!(
                        "{}; not checked in {}: {}",
                        s.problems.join("; "),
                        s.repo,
                        shas.join(", ")
                    );
                    if !waiting.is_empty() {
                        message.push_str(&format!(
                            "; tickets that depend on them: {}",
                            waiting.join(", ")
                        ));
                    }
                    self.push(
                        DriftKind::Unverifiable,
                        None,
                        Some(&s.repo),
                        s.unchecked.iter().map(|u| u.sha.clone()).collect(),
                        message,
                    );
                }
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
                    self.push(
                        DriftKind::BranchMissing,
                        None,
                        Some(&s.repo),
                        Vec::new(),
                        message,
                    );
                }
                ScanStatus::Unverifiable => {
                    self.push(
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
    }

    /// The drift in its stable order, each problem once (the first found wins).
    pub(super) fn finish(self) -> Vec<Drift> {
        let mut drift = self.drift;
        drift.sort_by(|a, b| {
            (a.kind, &a.repo, &a.ticket, &a.id).cmp(&(b.kind, &b.repo, &b.ticket, &b.id))
        });
        drift.dedup_by(|a, b| a.id == b.id);
        drift
    }
}

/// `ix`'s live release commits approved neither through their own keys nor through their
/// main-side counterpart's ticket, by their first key (`None`: no ticket).
fn unapproved<'a>(
    ix: &RepoIndex<'a>,
    ledger: &BTreeMap<String, LedgerTicket>,
) -> BTreeMap<Option<String>, Vec<&'a ReleaseCommit>> {
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
            .any(|k| approved(ledger, k));
        if via_main || keys.iter().any(|k| approved(ledger, k)) {
            continue;
        }
        unapproved
            .entry(keys.first().map(|k| k.to_string()))
            .or_default()
            .push(c);
    }
    unapproved
}
