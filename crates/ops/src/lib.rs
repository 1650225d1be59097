//! # portcullis-ops
//!
//! The operations shared by every front end (the CLI, the triage screen, the bot, the demo).
//! Each takes plain data, returns plain data (serialisable), and never prints: that is what
//! keeps the front ends from disagreeing, and why no rule lives in the binary.
//!
//! - here: [`status`], [`decide()`] (in `decide`), [`history()`] (in `history`), [`audit`],
//!   [`rebuild`]: the reads and writes of tickets and of the ledger as a whole;
//! - [`workspace`], [`config`], [`credentials`]: where the policy, the ledger and the secrets
//!   of a workspace are, from `portcullis.toml`, flags and the environment;
//! - [`tracker`]: which trackers a workspace syncs with and pushes to, decided once, and the
//!   one `sync` / `push` every front end calls;
//! - [`verify`]: scanning and judging every repository, with the git facts kept in the ledger
//!   (it implements `portcullis_git::cache::FactStore`, so the git crate never sees SQL);
//! - [`release`]: the gate, the cut (manifest, tags, files, the `release.cut` event) and steps;
//! - [`meeting`], [`digest`], [`notify`]: meetings and attendance, what changed since the last
//!   digest, and posting it to chat exactly once.
//!
//! It sits above every other library crate and below only the binary; see
//! `docs/EXTENDING.md` for the map.

pub mod backport;
pub mod config;
pub mod credentials;
pub mod digest;
pub mod error;
pub mod meeting;
pub mod notify;
pub mod release;
pub mod tracker;
pub mod verify;
pub mod workspace;

mod accept;
mod decide;
mod history;

use std::collections::BTreeMap;

use serde::Serialize;

pub use accept::{
    accept_partial, accepted_partials, AcceptPartialOutcome, AcceptPartialRequest, Accepted,
};
pub use decide::{decide, decision_violations, DecideOutcome, DecideRequest, Target};
pub use error::{Error, Result};
pub use history::{history, History, TimelineEntry};
use portcullis_core::event::kind;
use portcullis_core::policy::LoadedPolicy;
use portcullis_core::workflow::{State, Violation};
use portcullis_ledger::{Ledger, StatusRow};

/// The future of an operation that talks to a tracker or a chat service ([`tracker::sync`],
/// [`tracker::push`], [`notify::notify`]).
///
/// Boxed on purpose: a future's code is generated in the crate that polls it, so an `async fn`
/// here would have its whole call tree (both trackers' clients, octocrab's models, the chat
/// transports) compiled again, optimised, in every crate that waits on it. Behind `dyn Future`
/// it is compiled once, in this crate, and a caller only polls through the box
/// (docs/PERFORMANCE.md, "Building"). Not `Send` (the trackers' clients hold callbacks that are
/// not): drive it with `block_on` on [`tracker::runtime`], as every front end does.
pub type OpFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T>> + 'a>>;

/// The status of one release line.
#[derive(Debug, Clone, Serialize)]
pub struct LineStatus {
    pub line: String,
    pub branch: String,
    /// Counts per state, in the order they are listed.
    pub counts: Vec<(State, usize)>,
    pub tickets: Vec<StatusRow>,
    /// Open violations: (ticket, violation).
    pub violations: Vec<(String, Violation)>,
    /// Decisions recorded below quorum that wait for ratification (they do not count yet).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub provisional: Vec<ProvisionalDecision>,
    /// What each targeted approval is for (tickets approved with `--for-step`/`--for-release`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub targets: BTreeMap<String, Target>,
}

/// A provisional decision, for `status`.
#[derive(Debug, Clone, Serialize)]
pub struct ProvisionalDecision {
    pub seq: i64,
    pub key: String,
    pub decision: String,
    pub by: Option<String>,
    /// "the meeting of D" or "the meeting of D (sitting n)".
    pub meeting: String,
}

/// Where every request of a line stands.
pub fn status(
    ledger: &Ledger,
    policy: &LoadedPolicy,
    line: Option<&str>,
    filter: Option<State>,
) -> Result<LineStatus> {
    let line = policy.resolve_line(line)?;
    let mut rows = ledger.status_rows(&line.name)?;
    let mut counts: BTreeMap<State, usize> = BTreeMap::new();
    for r in &rows {
        *counts.entry(r.state).or_default() += 1;
    }
    if let Some(f) = filter {
        rows.retain(|r| r.state == f);
    }
    let counts = State::ALL
        .iter()
        .filter(|s| **s != State::None)
        .map(|s| (*s, counts.get(s).copied().unwrap_or(0)))
        .collect();
    let violations = ledger
        .violations(Some(&line.name), None)?
        .into_iter()
        .filter(|(_, _, v)| v.resolved_by.is_none())
        .map(|(t, _, v)| (t, v))
        .collect();
    let events = ledger.events_of_kinds(&[
        kind::DECISION,
        kind::DECISION_UNDONE,
        kind::DECISION_RATIFIED,
    ])?;
    let provisional = meeting::awaiting_ratification(&events, &line.name)
        .into_iter()
        .map(|e| ProvisionalDecision {
            seq: e.seq,
            key: e.ticket.clone().unwrap_or_default(),
            decision: e.payload["decision"].as_str().unwrap_or("?").to_string(),
            by: e.actor.clone(),
            meeting: e.meeting.map_or_else(
                || "no meeting".to_string(),
                |d| meeting::sitting_name(d, portcullis_core::event::sitting_of(&e)),
            ),
        })
        .collect();
    let targets = release::targets(ledger, &line.name)?;
    Ok(LineStatus {
        line: line.name.clone(),
        branch: line.branch.clone(),
        counts,
        tickets: rows,
        violations,
        provisional,
        targets,
    })
}

/// The result of `audit`.
#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    pub events: u64,
    pub chain_ok: bool,
    pub derived_ok: bool,
    pub problems: Vec<String>,
}

/// Check the hash chain and that the derived state equals a rebuild from events.
pub fn audit(ledger: &Ledger, policy: &LoadedPolicy) -> Result<AuditReport> {
    // One read transaction: the chain, the stored derived state and the events it is rebuilt
    // from are read from the same snapshot, whatever other processes commit meanwhile.
    ledger.in_read_snapshot(|l| audit_snapshot(l, policy))
}

fn audit_snapshot(ledger: &Ledger, policy: &LoadedPolicy) -> Result<AuditReport> {
    let chain = ledger.verify_chain()?;
    let mut problems = chain.problems.clone();
    let chain_ok = problems.is_empty();
    let stored = ledger.derived_dump()?;
    let fresh = ledger.recompute_dump(policy)?;
    let derived_ok = stored == fresh;
    if !derived_ok {
        let diff = dump_diff(&stored, &fresh);
        problems.push(format!(
            "the derived state differs from a rebuild from events in {} row(s), e.g. {}",
            diff.len(),
            diff.first().cloned().unwrap_or_default()
        ));
    }
    Ok(AuditReport {
        events: chain.events,
        chain_ok,
        derived_ok,
        problems,
    })
}

/// Rows present in one dump and not the other, prefixed `-` (only before) / `+` (only after).
pub fn dump_diff(before: &[String], after: &[String]) -> Vec<String> {
    use std::collections::BTreeSet;
    let b: BTreeSet<&String> = before.iter().collect();
    let a: BTreeSet<&String> = after.iter().collect();
    b.difference(&a)
        .map(|r| format!("-{r}"))
        .chain(a.difference(&b).map(|r| format!("+{r}")))
        .collect()
}

/// The result of `ledger copy`.
#[derive(Debug, Clone, Serialize)]
pub struct CopyReport {
    /// Events copied.
    pub events: u64,
    /// Where to, as shown (a password as `***`).
    pub to: String,
    /// The copy's audit, on arrival.
    pub audit: AuditReport,
}

/// Copy the workspace's ledger, chain and all (sequence numbers, times and hashes), into an
/// empty ledger at `to`: a new SQLite file, or a PostgreSQL database (`postgresql://…`, an empty
/// database or an empty ledger). A target that holds events is refused and left alone; a file
/// this created is removed again when the copy fails. The copy is audited on arrival.
pub fn copy_ledger(ws: &workspace::Workspace, to: &str) -> Result<CopyReport> {
    use portcullis_ledger::LedgerTarget;
    let target = LedgerTarget::parse(to);
    let shown = target.shown();
    let same = match (&target, &ws.ledger) {
        (LedgerTarget::File(a), LedgerTarget::File(b)) => {
            a == b
                || std::fs::canonicalize(a)
                    .is_ok_and(|a| std::fs::canonicalize(b).is_ok_and(|b| a == b))
        }
        (a, b) => a == b,
    };
    if same {
        return Err(
            Error::input(format!("{shown} is the workspace's own ledger"))
                .hint("name another file or database to copy it to"),
        );
    }
    let src = ws.open_ledger()?;
    let mut created = None;
    let mut dst = match &target {
        LedgerTarget::File(p) if !p.exists() => {
            let l = Ledger::create(p)?;
            created = Some(p.clone());
            l
        }
        LedgerTarget::File(p) => Ledger::open(p)?,
        LedgerTarget::Postgres(url) => {
            let password = credentials::postgres_password(ws.credentials_file().as_deref(), url)?;
            let cache = ws
                .config_path
                .as_deref()
                .and_then(std::path::Path::parent)
                .unwrap_or_else(|| std::path::Path::new(""))
                .join(workspace::CACHE_FILE);
            Ledger::open_postgres(url, password.as_ref(), &cache)?
        }
    };
    if dst.event_count()? > 0 {
        return Err(
            Error::input(format!("{shown} is not empty: it already holds events"))
                .hint("copy into a new file or an empty database; the target was not changed"),
        );
    }
    let copied = dst.copy_from(&src, &ws.policy).map_err(Error::from);
    let events = match copied {
        Ok(n) => n,
        Err(e) => {
            if let Some(p) = created {
                drop(dst);
                for ext in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{ext}", p.display()));
                }
            }
            return Err(e);
        }
    };
    let audit = audit(&dst, &ws.policy)?;
    Ok(CopyReport {
        events,
        to: shown,
        audit,
    })
}

/// The result of `ledger rebuild`.
#[derive(Debug, Clone, Serialize)]
pub struct RebuildReport {
    pub tickets: usize,
    pub rows: usize,
    pub identical: bool,
    pub differences: Vec<String>,
}

/// Rebuild the derived state from events and say whether it equals what was there.
pub fn rebuild(ledger: &mut Ledger, policy: &LoadedPolicy) -> Result<RebuildReport> {
    let (before, after) = ledger.rebuild(policy)?;
    let differences = dump_diff(&before, &after);
    Ok(RebuildReport {
        tickets: ledger.ticket_keys()?.len(),
        rows: after.len(),
        identical: differences.is_empty(),
        differences,
    })
}
