//! The verdict, pure: from the scans of every repository and the ledger's ticket states, where
//! each ticket stands in each repository it touched, and the drift between the ledger and git.
//!
//! In three steps: the evidence of each repository is gathered once from its scan
//! (`evidence.rs`), each ticket is judged in each repository and overall (`judge.rs`), and every
//! disagreement with the ledger becomes drift (`drift.rs`). What comes out is in `report.rs`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::model::{RepoScan, ScanStatus};
use crate::moved::Move;
use portcullis_core::policy::{Line, LoadedPolicy};
use portcullis_core::workflow::State;

mod drift;
mod evidence;
mod judge;
mod report;

pub use report::{
    AcceptedPartial, Drift, LandedCommit, LedgerTicket, NotNeeded, RepoLanding, Revert, Summary,
    TicketReport, Verification,
};

use drift::DriftLog;
use evidence::RepoIndex;

/// Verify a line: per ticket and repository, and the drift.
pub fn verify(
    policy: &LoadedPolicy,
    line: &Line,
    scans: Vec<RepoScan>,
    ledger: &BTreeMap<String, LedgerTicket>,
) -> Verification {
    verify_with_moves(policy, line, scans, ledger, &[])
}

/// [`verify`], with the code that moved between the line's repositories
/// ([`crate::moved::find_moves`]).
pub fn verify_with_moves(
    policy: &LoadedPolicy,
    line: &Line,
    scans: Vec<RepoScan>,
    ledger: &BTreeMap<String, LedgerTicket>,
    moves: &[Move],
) -> Verification {
    let mut v = Verifier::new(policy, line, &scans, ledger);
    v.moves = moves;
    let (tickets, drift) = v.run();
    let summary = summarize(&scans, &tickets, &drift);
    Verification {
        line: line.name.clone(),
        branch: line.branch.clone(),
        repositories: scans,
        tickets,
        drift,
        summary,
    }
}

/// Where one ticket stands in each repository it touched, whatever the ledger says of it: the
/// verification reports only the tickets approved, done or found on a release branch, and
/// `backport` may be forced for another.
pub fn ticket_landings(
    policy: &LoadedPolicy,
    line: &Line,
    scans: &[RepoScan],
    key: &str,
) -> Vec<RepoLanding> {
    let ledger = BTreeMap::new();
    let v = Verifier::new(policy, line, scans, &ledger);
    let mut drift = DriftLog::new(policy, line);
    v.ticket(key, &mut drift).repos
}

/// What the verification of one line works from.
struct Verifier<'a> {
    policy: &'a LoadedPolicy,
    line: &'a Line,
    scans: &'a [RepoScan],
    ledger: &'a BTreeMap<String, LedgerTicket>,
    /// The evidence of every repository that could be read.
    indexes: Vec<RepoIndex<'a>>,
    /// Per repository, the tickets the policy does not require to land there.
    skipped: HashMap<&'a str, &'a Vec<String>>,
    /// Whether some repository could not be read.
    some_unchecked: bool,
    /// Main-side commits of one repository landed on the release branch of another.
    moves: &'a [Move],
}

impl<'a> Verifier<'a> {
    fn new(
        policy: &'a LoadedPolicy,
        line: &'a Line,
        scans: &'a [RepoScan],
        ledger: &'a BTreeMap<String, LedgerTicket>,
    ) -> Verifier<'a> {
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
        let some_unchecked = scans.iter().any(|s| s.status == ScanStatus::Unverifiable);
        Verifier {
            policy,
            line,
            scans,
            ledger,
            indexes,
            skipped,
            some_unchecked,
            moves: &[],
        }
    }

    /// Every ticket's report, and the drift.
    fn run(&self) -> (Vec<TicketReport>, Vec<Drift>) {
        let mut drift = DriftLog::new(self.policy, self.line);
        let tickets: Vec<TicketReport> = self
            .keys()
            .iter()
            .map(|key| self.ticket(key, &mut drift))
            .collect();
        // Landed but never approved, per repository and ticket; commits with no ticket one by one.
        for ix in &self.indexes {
            drift.landed_not_approved(ix, self.ledger);
        }
        drift.unchecked_repos(self.scans, &tickets);
        (tickets, drift.finish())
    }

    /// The tickets to report: those approved or done in the ledger, and those found on a release
    /// branch.
    fn keys(&self) -> BTreeSet<String> {
        let mut keys: BTreeSet<String> = self
            .ledger
            .iter()
            .filter(|(_, t)| matches!(t.state, State::Approved | State::Done))
            .map(|(k, _)| k.clone())
            .collect();
        for ix in &self.indexes {
            keys.extend(ix.keys().cloned());
        }
        keys
    }

    /// Where `key` stands in every repository it touched and overall, with its drift.
    fn ticket(&self, key: &str, drift: &mut DriftLog<'_>) -> TicketReport {
        let repos: Vec<RepoLanding> = self
            .indexes
            .iter()
            .filter_map(|ix| {
                let accepted = self
                    .ledger
                    .get(key)
                    .and_then(|t| t.accepted_partial.get(&ix.scan.repo));
                judge::landing(ix, key, accepted, self.moves)
            })
            .map(|mut r| {
                if self
                    .skipped
                    .get(r.repo.as_str())
                    .is_some_and(|s| s.iter().any(|x| x == key))
                {
                    r.required = false;
                }
                r
            })
            .collect();
        let status = judge::ticket_status(&repos, self.some_unchecked);
        let info = self.ledger.get(key);
        let state = info.map(|t| t.state);
        // Approved or done, but not everywhere.
        drift.not_landed(key, state, &repos, self.some_unchecked);
        drift.reverted(key, &repos);
        TicketReport {
            key: key.to_string(),
            summary: info.map(|t| t.summary.clone()).unwrap_or_default(),
            state: state.map(|s| s.as_str().to_string()),
            status,
            repos,
        }
    }
}

/// The counts of a verification.
fn summarize(scans: &[RepoScan], tickets: &[TicketReport], drift: &[Drift]) -> Summary {
    Summary {
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
        // On the release branch: landed, or release-only commits of it.
        landed: tickets.iter().filter(|t| t.status.has_landed()).count(),
        not_landed: tickets.iter().filter(|t| !t.status.has_landed()).count(),
        drift: drift.len(),
        blocking: drift.iter().filter(|d| d.blocking).count(),
    }
}
