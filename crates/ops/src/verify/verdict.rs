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
//! caches are local, so a PostgreSQL team ledger keeps it in the local cache file. The row is a
//! header line (whether it blocks, the pull requests that landed) and then the verification as
//! the indented JSON `verify --format json` prints, which `verify_json` hands on unread.

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

/// Bump when what is kept changes shape (2: a header line, then the indented JSON of the
/// verification).
const VERDICT_VERSION: u32 = 2;

/// What a verdict is kept under, and the ledger head it was judged at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct VerdictKey {
    pub key: String,
    pub head: (i64, String),
}

/// What is kept before the verification: on the first line of the kept text, compact JSON.
#[derive(Serialize, Deserialize)]
struct Header<T> {
    /// Whether the verification blocks a release.
    blocks: bool,
    pull_requests: T,
}

/// A verdict as kept, read.
pub(super) struct Kept {
    pub verification: Verification,
    pub pull_requests: Vec<LandingPullRequest>,
}

/// A verdict as kept, for the JSON report: its verification as the indented JSON `verify
/// --format json` prints, not read.
pub(super) struct KeptJson {
    pub verification: String,
    pub blocks: bool,
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
    // Read once: the probes' keys and the verdict's both name it.
    static STAMP: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    STAMP.get_or_init(read_build_stamp).clone()
}

fn read_build_stamp() -> Option<String> {
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

/// The verdict kept for `line` under `key` in `cache`, if any.
pub(super) fn recall(cache: &CacheReader, line: &str, key: &VerdictKey) -> Option<Kept> {
    read_kept(cache, line, key, |header, verification| {
        Some(Kept {
            verification: serde_json::from_str(verification).ok()?,
            pull_requests: header.pull_requests,
        })
    })
}

/// [`recall`] with the verification as kept (indented JSON), not read.
pub(super) fn recall_json(cache: &CacheReader, line: &str, key: &VerdictKey) -> Option<KeptJson> {
    read_kept(cache, line, key, |header, verification| {
        Some(KeptJson {
            verification: verification.to_string(),
            blocks: header.blocks,
            pull_requests: header.pull_requests,
        })
    })
}

/// Hand `read` the header and the verification's text of the verdict kept for `line` under
/// `key`.
fn read_kept<T>(
    cache: &CacheReader,
    line: &str,
    key: &VerdictKey,
    read: impl FnOnce(Header<Vec<LandingPullRequest>>, &str) -> Option<T>,
) -> Option<T> {
    cache
        .read_scan(VERDICT_MEMO, line, &key.key, |text| {
            let (header, verification) = text.split_once('\n')?;
            read(serde_json::from_str(header).ok()?, verification)
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
    let header = serde_json::to_string(&Header {
        blocks: verification.blocks(),
        pull_requests,
    })
    .ok()?;
    let verification = serde_json::to_string_pretty(verification).ok()?;
    Some(ScanRow {
        repo: VERDICT_MEMO.to_string(),
        line: line.to_string(),
        key: key.key.clone(),
        scan: format!("{header}\n{verification}"),
    })
}
