//! The remembered verdict: a `verify` that finds nothing changed (no branch tip, tag, policy
//! setting or build of portcullis moved, and no event appended to the ledger) reports what the
//! last run found without reading a scan, judging or recording (issue 20: a warm run at most
//! 0.05× a cold one).
//!
//! What it must never be is stale, so it is kept only by a run that was a fixed point, and
//! only under everything the verdict is computed from:
//! - **Kept** by a run that read every repository of the line as it is (none missing or
//!   unfetched, every scan remembered: none with missing objects) and whose recording appended
//!   nothing, in the same transaction that found the ledger's head where the judging began. Such
//!   a run's successor, given the same inputs, would judge the same and record nothing again.
//! - **Keyed** by every repository's scan key (its tips, tags, the policy's scanning settings and
//!   the scanner's version), the line, the whole policy, the chain's head (sequence number and
//!   hash: every append moves it, and the ledger's derived state follows from its events), and
//!   the build of portcullis that judged it (the executable's size and time).
//! - **Not used** for a subset of the repositories (`--repo`) or when the scans' main-side
//!   commits are wanted (the triage screen): it keeps neither.
//!
//! It is one row per line in the scan cache, as the moves are (`*verdict*`): the verifier's
//! caches are local, so a PostgreSQL team ledger keeps it in the local cache file.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Probed, VerifyOptions};
use crate::backport::links::LandingPullRequest;
use crate::workspace::Workspace;
use portcullis_core::policy::Line;
use portcullis_git::verify::Verification;
use portcullis_ledger::git_cache::{CacheReader, ScanRow};

/// The name under which a line's verdict is kept among the scans (no repository can have it:
/// a policy's repository names have no `*`).
const VERDICT_MEMO: &str = "*verdict*";

/// Bump when what is kept changes shape.
const VERDICT_VERSION: u32 = 1;

/// What a verdict is kept under, and the ledger head it was judged at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct VerdictKey {
    pub key: String,
    pub head: (i64, String),
}

#[derive(Serialize)]
struct KeptOut<'a> {
    verification: &'a Verification,
    pull_requests: &'a [LandingPullRequest],
}

/// A verdict as kept.
#[derive(Deserialize)]
pub(super) struct Kept {
    pub verification: Verification,
    pub pull_requests: Vec<LandingPullRequest>,
}

/// The key of the verdict on `line` over the repositories `probed` read, with the ledger at
/// `head`; `None` when no verdict may be kept or used (a subset of the repositories, main-side
/// commits wanted, a repository that could not be read or fetched, an unknown build).
pub(super) fn key(
    ws: &Workspace,
    line: &Line,
    opts: &VerifyOptions,
    probed: &Probed<'_>,
    head: (i64, String),
) -> Option<VerdictKey> {
    if !opts.repos.is_empty() || opts.main_commits {
        return None;
    }
    let scans = probed.keys()?;
    let build = build_stamp()?;
    let policy = serde_json::to_string(&ws.policy.policy).ok()?;
    let mut h = Sha256::new();
    h.update(format!(
        "verdict v{VERDICT_VERSION}\0{build}\0{}\0{}\0{}\0{policy}\0",
        line.name, head.0, head.1
    ));
    for s in &scans {
        h.update(format!("{s}\0"));
    }
    Some(VerdictKey {
        key: hex::encode(&h.finalize()[..16]),
        head,
    })
}

/// The build of portcullis running: a rebuild or another version judges anew. `None` when the
/// executable cannot be read. On Linux through `/proc/self/exe`, which is the running file even
/// after an upgrade replaced it on disk (a long-running bot keeps judging with its own build).
pub(super) fn build_stamp() -> Option<String> {
    let meta = std::fs::metadata("/proc/self/exe")
        .or_else(|_| std::fs::metadata(std::env::current_exe()?))
        .ok()?;
    let modified = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    Some(format!(
        "{} {} {}.{:09}",
        env!("CARGO_PKG_VERSION"),
        meta.len(),
        modified.as_secs(),
        modified.subsec_nanos()
    ))
}

/// The verdict kept for `line` under `key` in the ledger file at `ledger_path`, if any.
pub(super) fn recall(ledger_path: &std::path::Path, line: &str, key: &VerdictKey) -> Option<Kept> {
    CacheReader::open(ledger_path)
        .read_scan(VERDICT_MEMO, line, &key.key, |text| {
            serde_json::from_str::<Kept>(text).ok()
        })
        .flatten()
}

/// The cache row that keeps `verification` (and its pull requests) for `line` under `key`.
pub(super) fn row(
    line: &str,
    key: &VerdictKey,
    verification: &Verification,
    pull_requests: &[LandingPullRequest],
) -> Option<ScanRow> {
    let scan = serde_json::to_string(&KeptOut {
        verification,
        pull_requests,
    })
    .ok()?;
    Some(ScanRow {
        repo: VERDICT_MEMO.to_string(),
        line: line.to_string(),
        key: key.key.clone(),
        scan,
    })
}
