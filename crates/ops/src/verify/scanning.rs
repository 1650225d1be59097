//! Reading a line's repositories for `verify` (and `backport`'s plan): the scans on worker
//! threads through the fact cache kept in the ledger, tickets linked by merged pull requests,
//! and the verdict before anything is settled or recorded.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{ScanProgress, ScanStats, VerifyOptions};
use crate::workspace::Workspace;
use crate::{Error, Result};
use portcullis_core::event::kind;
use portcullis_core::policy::Line;
use portcullis_git::cache::{CacheWrites, FactCache, FactStore, MemoRow, StoredFacts};
use portcullis_git::moved::Move;
use portcullis_git::scan::{self, resolve_repo_path, Probe, ReadTag, RepoScan, ScanTarget};
use portcullis_git::verify::{self, LedgerTicket, Verification};
use portcullis_ledger::git_cache::{CacheReader, CommitRow, ScanRow};
use portcullis_ledger::Ledger;

/// The repositories of `line` to read: all, or `opts.repos` (each must be one of them).
pub(super) fn chosen_repos<'p>(
    ws: &'p Workspace,
    line: &Line,
    opts: &VerifyOptions,
) -> Result<Vec<&'p portcullis_core::policy::Repository>> {
    let all = ws.policy.repositories_for(&line.name);
    if all.is_empty() {
        return Err(Error::input(format!(
            "the policy lists no repositories for line {}",
            line.name
        ))
        .hint("add [[repositories]] tables (name, path, main_branch) to the policy"));
    }
    for r in &opts.repos {
        if !all.iter().any(|x| &x.name == r) {
            let names: Vec<&str> = all.iter().map(|x| x.name.as_str()).collect();
            return Err(
                Error::input(format!("unknown repository `{r}` for line {}", line.name))
                    .hint(format!("the policy lists: {}", names.join(", "))),
            );
        }
    }
    Ok(all
        .into_iter()
        .filter(|r| opts.repos.is_empty() || opts.repos.contains(&r.name))
        .collect())
}

/// Scan the repositories of `line` (all, or `opts.repos`) through the caches and judge every
/// ticket against the ledger: the verification as `verify` reports it before it settles drift
/// and records anything, with the cache rows the scans computed. `backport` plans from it.
pub fn scan_line(
    ws: &Workspace,
    ledger: &Ledger,
    line: &Line,
    opts: &VerifyOptions,
    progress: &dyn ScanProgress,
) -> Result<(Verification, Vec<CacheWrites>, ScanStats)> {
    let scanned = scan_repos(ws, ledger.path(), line, opts, progress)?;
    judge_line(ws, ledger, line, opts, scanned)
}

/// The repositories of a line as they are now: what [`scan_repos`] read, before any ticket is
/// judged.
pub struct Scanned {
    pub scans: Vec<RepoScan>,
    writes: Vec<CacheWrites>,
    stats: ScanStats,
    paths: HashMap<String, PathBuf>,
}

/// What the scans of a line depend on, read without scanning ([`probe_repos`]): each
/// repository's tips and tags and its scan's key.
pub struct Probed<'a> {
    targets: Vec<ScanTarget<'a>>,
    /// Per target: what its scan depends on, or the scan when it cannot be scanned at all.
    probes: Vec<std::result::Result<Probe, Box<RepoScan>>>,
    /// Per target: why `git fetch` failed there (the clone is verified as it is).
    fetch_problems: Vec<Option<String>>,
    /// The probes read from the repositories, to remember under their reference files.
    memos: Vec<MemoRow>,
    /// How many probes were remembered (their repositories were not opened).
    pub remembered: usize,
    started: Instant,
}

impl Probed<'_> {
    /// The line's release tags each repository holds, as read: what `release::learn` needs.
    pub fn read_tags(&self) -> BTreeMap<&str, &[ReadTag]> {
        self.targets
            .iter()
            .zip(&self.probes)
            .filter_map(|(t, p)| Some((t.repo.as_str(), p.as_ref().ok()?.read_tags.as_slice())))
            .collect()
    }

    /// Every repository's scan key in the policy's order (`repo=key`), when every repository
    /// could be read as it is: `None` when one cannot be scanned or could not be fetched.
    pub fn keys(&self) -> Option<Vec<String>> {
        if self.fetch_problems.iter().any(Option::is_some) {
            return None;
        }
        self.targets
            .iter()
            .zip(&self.probes)
            .map(|(t, p)| Some(format!("{}={}", t.repo, p.as_ref().ok()?.key)))
            .collect()
    }

    /// Take the probes read from the repositories, as cache rows to remember them by (a run that
    /// reports the remembered verdict writes them itself; [`Probed::scan`] hands them on).
    pub(super) fn take_memos(&mut self) -> Vec<ScanRow> {
        std::mem::take(&mut self.memos)
            .iter()
            .map(scan_row)
            .collect()
    }

    /// The names of the repositories probed, in the policy's order.
    pub fn repos(&self) -> impl Iterator<Item = &str> {
        self.targets.iter().map(|t| t.repo.as_str())
    }

    /// Scan every repository probed, through the caches kept in the ledger file at
    /// `ledger_path`: a remembered scan is read, any other scanned.
    pub fn scan(
        self,
        ledger_path: &Path,
        opts: &VerifyOptions,
        progress: &dyn ScanProgress,
    ) -> Scanned {
        let Probed {
            targets,
            probes,
            fetch_problems,
            memos,
            remembered: _,
            started,
        } = self;
        // Probes that were remembered opened no repository, and so did not set libgit2 up.
        portcullis_git::scan::tune_libgit2_for_scans();
        let work: Vec<Mutex<Option<_>>> = probes.into_iter().map(|p| Mutex::new(Some(p))).collect();
        let results = in_parallel(
            targets.len(),
            opts.jobs,
            || FactCache::new(Box::new(LedgerFacts(CacheReader::open(ledger_path)))),
            |cache, i| {
                let t = &targets[i];
                let probe = work[i]
                    .lock()
                    .expect("probe")
                    .take()
                    .expect("each probe once");
                let (hits, computed) = (cache.hits, cache.computed);
                let mut result = match probe {
                    Ok(p) => scan::scan_probed(t, p, cache),
                    Err(unverifiable) => *unverifiable,
                };
                if let Some(p) = &fetch_problems[i] {
                    result
                        .problems
                        .push(format!("{}: {p}; verified what the clone has", t.repo));
                }
                progress.scanned(&t.repo);
                let writes = cache.take_writes();
                (result, writes, cache.hits - hits, cache.computed - computed)
            },
        );
        progress.finish();
        let mut stats = ScanStats::default();
        let mut scans = Vec::new();
        let mut writes = vec![CacheWrites {
            facts: Vec::new(),
            memos,
        }];
        for (scan, w, hits, computed) in results {
            stats.facts_cached += hits;
            stats.facts_computed += computed;
            scans.push(scan);
            writes.push(w);
        }
        tracing::debug!(elapsed = ?started.elapsed(), "scanned");
        let paths = targets.into_iter().map(|t| (t.repo, t.path)).collect();
        Scanned {
            scans,
            writes,
            stats,
            paths,
        }
    }
}

/// Read the repositories of `line` (all, or `opts.repos`) through the caches kept in the ledger
/// file at `ledger_path`; reads nothing else of the ledger.
pub fn scan_repos(
    ws: &Workspace,
    ledger_path: &Path,
    line: &Line,
    opts: &VerifyOptions,
    progress: &dyn ScanProgress,
) -> Result<Scanned> {
    let cache = CacheReader::open(ledger_path);
    Ok(probe_repos(ws, &cache, line, opts, progress)?.scan(ledger_path, opts, progress))
}

/// Open the repositories of `line` (all, or `opts.repos`; fetched first with `opts.fetch`) and
/// read what their scans depend on, on worker threads; [`Probed::scan`] scans them.
///
/// A repository whose reference files are as they were when it was last probed is not opened:
/// its probe is the one remembered under them in `cache` (`scan::ref_fingerprint`). Not with
/// `opts.fetch`, which moves them.
pub fn probe_repos<'a>(
    ws: &'a Workspace,
    cache: &CacheReader,
    line: &'a Line,
    opts: &VerifyOptions,
    progress: &dyn ScanProgress,
) -> Result<Probed<'a>> {
    let started = Instant::now();
    let policy = &ws.policy;
    let chosen = chosen_repos(ws, line, opts)?;
    let policy_dir = ws
        .policy_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let targets: Vec<ScanTarget<'_>> = chosen
        .iter()
        .map(|r| ScanTarget {
            repo: r.name.clone(),
            path: resolve_repo_path(&policy_dir, &r.path),
            shown_path: r.path.clone(),
            main_branch: r.main_branch.clone(),
            line,
            policy,
        })
        .collect();
    progress.start(targets.len());
    let build = (!opts.fetch).then(super::verdict::build_stamp).flatten();
    let fingerprint = |t: &ScanTarget<'_>| {
        let fp = scan::ref_fingerprint(t)?;
        Some(hex::encode(
            &Sha256::digest(format!("{fp}\0{}", build.as_ref()?))[..16],
        ))
    };
    // A dozen small reads a repository, each a walk of its path: on every core.
    let fingerprints: Vec<Option<String>> = in_parallel(
        targets.len(),
        opts.jobs,
        || (),
        |_, i| fingerprint(&targets[i]),
    );
    let mut probes: Vec<Option<std::result::Result<Probe, Box<RepoScan>>>> =
        recall_probes(cache, line, &targets, &fingerprints);
    let remembered = probes.iter().filter(|p| p.is_some()).count();
    let todo: Vec<usize> = (0..targets.len())
        .filter(|&i| probes[i].is_none())
        .collect();
    if !todo.is_empty() {
        portcullis_git::scan::tune_libgit2_for_scans();
    }
    let read = in_parallel(
        todo.len(),
        opts.jobs,
        || (),
        |_, k| {
            let t = &targets[todo[k]];
            let fetch_problem = if opts.fetch && t.path.exists() {
                portcullis_git::fetch::fetch(&t.path).err()
            } else {
                None
            };
            let probe = scan::probe(t);
            // Remembered only under the files it read: they did not move while it was read.
            let after = fingerprint(t).filter(|f| Some(f) == fingerprints[todo[k]].as_ref());
            (probe, fetch_problem, after)
        },
    );
    let mut fetch_problems = vec![None; targets.len()];
    let mut memos = Vec::new();
    for (i, (probe, fetch_problem, fingerprint)) in todo.into_iter().zip(read) {
        if let (Ok(p), Some(key)) = (&probe, fingerprint) {
            memos.push(MemoRow {
                repo: probe_memo_name(&targets[i].repo),
                line: line.name.clone(),
                key,
                scan: p.remembered(),
            });
        }
        probes[i] = Some(probe);
        fetch_problems[i] = fetch_problem;
    }
    tracing::debug!(elapsed = ?started.elapsed(), remembered, "probed");
    Ok(Probed {
        targets,
        probes: probes
            .into_iter()
            .map(|p| p.expect("every repository probed"))
            .collect(),
        fetch_problems,
        memos,
        remembered,
        started,
    })
}

/// The name under which a repository's probe is kept among the scans (no repository can have
/// it: a policy's repository names have no `*`).
fn probe_memo_name(repo: &str) -> String {
    format!("*probe*{repo}")
}

/// Per target, the probe remembered under its fingerprint, if any.
fn recall_probes(
    cache: &CacheReader,
    line: &Line,
    targets: &[ScanTarget<'_>],
    fingerprints: &[Option<String>],
) -> Vec<Option<std::result::Result<Probe, Box<RepoScan>>>> {
    let mut out: Vec<_> = targets.iter().map(|_| None).collect();
    if fingerprints.iter().all(Option::is_none) {
        return out;
    }
    let kept: HashMap<String, (String, String)> = cache
        .read_scans_by_prefix(&probe_memo_name(""), &line.name)
        .into_iter()
        .map(|(repo, key, text)| (repo, (key, text)))
        .collect();
    for ((t, fp), slot) in targets.iter().zip(fingerprints).zip(&mut out) {
        let Some((key, text)) = kept.get(&probe_memo_name(&t.repo)) else {
            continue;
        };
        if fp.as_ref() == Some(key) {
            *slot = Probe::recall(t, text).map(Ok);
        }
    }
    out
}

/// `f(state, i)` for every `i` in `0..n` on worker threads (`jobs`, 0: one per core; at most
/// one per item), each with its own `state` from `init`; the results in the order of `i`.
fn in_parallel<S, R: Send>(
    n: usize,
    jobs: usize,
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, usize) -> R + Sync,
) -> Vec<R> {
    let jobs = if jobs > 0 {
        jobs
    } else {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    }
    .clamp(1, n.max(1));
    if jobs == 1 {
        // No thread for one: a single repository, or `--jobs 1`.
        let mut state = init();
        return (0..n).map(|i| f(&mut state, i)).collect();
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, R)>> = Mutex::new(Vec::with_capacity(n));
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                let mut state = init();
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= n {
                        break;
                    }
                    let r = f(&mut state, i);
                    results.lock().expect("results").push((i, r));
                }
            });
        }
    });
    let mut results = results.into_inner().expect("results");
    results.sort_by_key(|r| r.0);
    results.into_iter().map(|(_, r)| r).collect()
}

/// Judge every ticket of `line` in the ledger against what [`scan_repos`] read: the
/// verification before drift is settled or anything recorded, with the cache rows to write.
pub fn judge_line(
    ws: &Workspace,
    ledger: &Ledger,
    line: &Line,
    opts: &VerifyOptions,
    scanned: Scanned,
) -> Result<(Verification, Vec<CacheWrites>, ScanStats)> {
    let Scanned {
        mut scans,
        mut writes,
        stats,
        paths,
    } = scanned;
    let linked = link_commits(ledger, &mut scans)?;
    let tickets = ledger_tickets(ledger, &line.name)?;
    // Code that moved between the repositories: landed by hand in another one.
    let paths: HashMap<String, &Path> = paths
        .iter()
        .map(|(repo, path)| (repo.clone(), path.as_path()))
        .collect();
    let moves = moves(ledger.path(), line, &scans, &linked, &paths, &mut writes);
    let policy = &ws.policy;
    let mut verification = verify::verify_with_moves(policy, line, scans, &tickets, &moves);
    if !opts.repos.is_empty() {
        // A subset cannot tell that a ticket has no commit anywhere.
        verification.drift.retain(|d| d.repo.is_some());
    }
    Ok((verification, writes, stats))
}

/// The name under which the moves of a line are remembered among the scans (no repository
/// can have it: a policy's repository names have no `*`).
const MOVES_MEMO: &str = "*moves*";

/// The code that moved between the repositories of `line` ([`find_moves`]), remembered in the
/// scan cache under a key made of every scan's own key and the pull-request links applied to
/// them: a run whose scans were all remembered reads no diff. Nothing is remembered when a
/// scan was not (missing objects).
///
/// [`find_moves`]: portcullis_git::moved::find_moves
fn moves(
    ledger_path: &Path,
    line: &Line,
    scans: &[RepoScan],
    linked: &[String],
    paths: &HashMap<String, &Path>,
    writes: &mut Vec<CacheWrites>,
) -> Vec<Move> {
    let key = scans
        .iter()
        .map(|s| s.memo_key.as_ref().map(|k| format!("{}={k}", s.repo)))
        .collect::<Option<Vec<String>>>()
        .map(|keys| {
            let mut h = Sha256::new();
            h.update(format!("moves v1\0{}\0", keys.join("\0")));
            for l in linked {
                h.update(format!("{l}\0"));
            }
            hex::encode(&h.finalize()[..16])
        });
    if let Some(key) = &key {
        let kept = CacheReader::open(ledger_path)
            .read_scan(MOVES_MEMO, &line.name, key, |text| {
                serde_json::from_str::<Vec<Move>>(text).ok()
            })
            .flatten();
        if let Some(moves) = kept {
            return moves;
        }
    }
    let moves = portcullis_git::moved::find_moves(scans, paths);
    if let (Some(key), Ok(scan)) = (key, serde_json::to_string(&moves)) {
        writes.push(CacheWrites {
            facts: Vec::new(),
            memos: vec![MemoRow {
                repo: MOVES_MEMO.to_string(),
                line: line.name.clone(),
                key,
                scan,
            }],
        });
    }
    moves
}

/// Tickets from merged pull requests (GitHub): a commit the scan could not tie to a ticket by
/// its branch name or message gets the ticket of the pull request that merged it. Returns the
/// links applied (`repo sha ticket`, sorted), which the moves depend on.
fn link_commits(ledger: &Ledger, scans: &mut [RepoScan]) -> Result<Vec<String>> {
    let mut links: HashMap<(String, String), String> = HashMap::new();
    for e in ledger.events_of_kinds(&[kind::COMMIT_LINKED])? {
        let (Some(ticket), Some(repo)) = (e.ticket.clone(), e.payload["repo"].as_str()) else {
            continue;
        };
        let repo = repo.rsplit('/').next().unwrap_or(repo).to_string();
        let shas = e.payload["sha"].as_str().into_iter().chain(
            e.payload["commits"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str),
        );
        for sha in shas {
            links.insert((repo.clone(), sha.to_string()), ticket.clone());
        }
    }
    let mut applied = Vec::new();
    if links.is_empty() {
        return Ok(applied);
    }
    for scan in scans {
        for c in &mut scan.main_commits {
            if c.ticket.is_none() {
                if let Some(t) = links.get(&(scan.repo.clone(), c.sha.clone())) {
                    c.ticket = Some(t.clone());
                    c.via = Some("pull request".into());
                    applied.push(format!("{} {} {t}", scan.repo, c.sha));
                }
            }
        }
        for c in &mut scan.release_commits {
            if c.ticket.is_none() {
                if let Some(t) = links.get(&(scan.repo.clone(), c.sha.clone())) {
                    c.ticket = Some(t.clone());
                    c.via = Some("pull request".into());
                    applied.push(format!("{} {} {t}", scan.repo, c.sha));
                }
            }
        }
    }
    applied.sort();
    Ok(applied)
}

/// The ledger's tickets on a line, with their summaries.
fn ledger_tickets(ledger: &Ledger, line: &str) -> Result<BTreeMap<String, LedgerTicket>> {
    let mut accepted = crate::accepted_partials(ledger, line)?;
    Ok(ledger
        .line_tickets(line, &[])?
        .into_iter()
        .map(|t| {
            let accepted_partial = accepted.remove(&t.ticket).unwrap_or_default();
            (
                t.ticket,
                LedgerTicket {
                    state: t.state,
                    summary: t.summary,
                    accepted_partial,
                },
            )
        })
        .collect())
}

/// The ledger file as the scanners' fact store.
pub struct LedgerFacts(pub CacheReader);

impl FactStore for LedgerFacts {
    fn is_cold(&self) -> bool {
        self.0.is_cold()
    }
    fn commit(&self, sha: &str) -> Option<StoredFacts> {
        self.0.commit(sha).map(|r| StoredFacts {
            paths: r.paths,
            patch_id: r.patch_id,
            lines: r.lines,
        })
    }
    fn scan(&self, repo: &str, line: &str, key: &str, read: &mut dyn FnMut(&str)) {
        self.0.read_scan(repo, line, key, read);
    }
}

/// What a scanner computed, as the ledger's cache rows.
pub(super) fn cache_rows(w: &CacheWrites) -> (Vec<CommitRow>, Vec<ScanRow>) {
    let commits = w
        .facts
        .iter()
        .map(|(oid, f)| CommitRow {
            sha: oid.to_string(),
            paths: f.paths.clone(),
            patch_id: f.patch_id.clone(),
            lines: f.lines.clone(),
        })
        .collect();
    (commits, w.memos.iter().map(scan_row).collect())
}

/// A remembered scan (or probe) as the ledger's cache row.
fn scan_row(m: &MemoRow) -> ScanRow {
    ScanRow {
        repo: m.repo.clone(),
        line: m.line.clone(),
        key: m.key.clone(),
        scan: m.scan.clone(),
    }
}
