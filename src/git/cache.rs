//! The verifier's caches in the ledger file: per-commit facts keyed by commit id
//! (`git_commits`) and whole scans keyed by branch tips and tags (`git_scans`).
//!
//! Scanning threads read through their own read-only connection and collect what they computed;
//! the caller writes it back in one transaction ([`store`]). Nothing here is an event: losing the
//! cache costs time, never facts.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use git2::Oid;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use crate::git::scan::{MainCommit, RepoScan};
use crate::Result;

/// What the verifier keeps about one commit.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CommitFacts {
    pub parents: Vec<Oid>,
    pub time: i64,
    pub message: String,
    pub paths: Option<String>,
    pub patch_id: Option<String>,
    pub lines: Option<String>,
    /// The commit's tree, when it was read from the repository in this run (not stored).
    pub tree: Option<Oid>,
}

impl CommitFacts {
    pub fn subject(&self) -> &str {
        self.message.lines().next().unwrap_or("").trim()
    }
}

/// A remembered scan: the reported scan plus the main-side commits it does not report.
#[derive(serde::Serialize)]
struct MemoOut<'a> {
    scan: &'a RepoScan,
    main_commits: &'a [MainCommit],
}

#[derive(serde::Deserialize)]
struct MemoIn {
    scan: RepoScan,
    main_commits: Vec<MainCommit>,
}

/// A scan to remember.
#[derive(Debug, Clone)]
pub struct MemoRow {
    pub repo: String,
    pub line: String,
    pub key: String,
    pub scan: String,
}

/// What a scan computed that the ledger does not have yet.
#[derive(Debug, Default)]
pub struct CacheWrites {
    pub facts: Vec<(Oid, CommitFacts)>,
    pub memos: Vec<MemoRow>,
}

/// One thread's view of the cache.
pub struct FactCache {
    conn: Option<Connection>,
    facts: HashMap<Oid, CommitFacts>,
    dirty: HashSet<Oid>,
    memos: Vec<MemoRow>,
    /// Commits whose costly facts came from the ledger, and costly facts computed.
    pub hits: u64,
    pub computed: u64,
    /// The ledger held no facts when this cache was opened.
    cold: bool,
}

impl FactCache {
    /// A cache backed by the ledger at `path` (read-only); an unreadable ledger means no cache.
    pub fn open(path: &Path) -> FactCache {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .ok();
        if let Some(c) = &conn {
            let _ = c.busy_timeout(std::time::Duration::from_secs(30));
        }
        // A cold cache answers every lookup with "no": skip the lookups altogether.
        let empty = conn.as_ref().is_none_or(|c| {
            c.query_row("SELECT NOT EXISTS(SELECT 1 FROM git_commits)", [], |r| {
                r.get::<_, bool>(0)
            })
            .unwrap_or(true)
        });
        let mut cache = FactCache::with(conn);
        cache.cold = empty;
        cache
    }

    fn with(conn: Option<Connection>) -> FactCache {
        FactCache {
            conn,
            facts: HashMap::new(),
            dirty: HashSet::new(),
            memos: Vec::new(),
            hits: 0,
            computed: 0,
            cold: false,
        }
    }

    /// Whether the facts of `oid` have been read in this run.
    pub fn has(&self, oid: Oid) -> bool {
        self.facts.contains_key(&oid)
    }

    /// The costly facts the ledger kept about `oid`: (paths, patch-id, lines).
    fn load(&self, oid: Oid) -> Option<(Option<String>, Option<String>, Option<String>)> {
        if self.cold {
            return None;
        }
        let conn = self.conn.as_ref()?;
        let mut stmt = conn
            .prepare_cached("SELECT paths, patch_id, lines FROM git_commits WHERE sha = ?1")
            .ok()?;
        stmt.query_row([oid.to_string()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()
            .ok()
            .flatten()
    }

    pub fn get(&self, oid: Oid) -> Option<&CommitFacts> {
        self.facts.get(&oid)
    }

    /// Add the facts read from the repository, completed with what the ledger kept.
    pub fn insert(&mut self, oid: Oid, mut facts: CommitFacts) {
        if let Some((paths, patch_id, lines)) = self.load(oid) {
            self.hits += 1;
            facts.paths = paths;
            facts.patch_id = patch_id;
            facts.lines = lines;
        }
        self.facts.insert(oid, facts);
    }

    /// Complete known facts (a path set, a patch-id).
    pub fn update(&mut self, oid: Oid, f: impl FnOnce(&mut CommitFacts)) {
        if let Some(facts) = self.facts.get_mut(&oid) {
            f(facts);
            self.computed += 1;
            self.dirty.insert(oid);
        }
    }

    /// Complete facts with something that is not stored (the tree id): not marked for writing.
    pub fn update_quiet(&mut self, oid: Oid, f: impl FnOnce(&mut CommitFacts)) {
        if let Some(facts) = self.facts.get_mut(&oid) {
            f(facts);
        }
    }

    /// The remembered scan of `repo` for `line`, if its key is still `key`.
    pub fn memo(&self, repo: &str, line: &str, key: &str) -> Option<RepoScan> {
        let conn = self.conn.as_ref()?;
        let text: String = conn
            .query_row(
                "SELECT scan FROM git_scans WHERE repo = ?1 AND line = ?2 AND key = ?3",
                params![repo, line, key],
                |r| r.get(0),
            )
            .optional()
            .ok()
            .flatten()?;
        let memo: MemoIn = serde_json::from_str(&text).ok()?;
        let mut scan = memo.scan;
        scan.main_commits = memo.main_commits;
        Some(scan)
    }

    pub fn put_memo(&mut self, repo: &str, line: &str, key: &str, scan: &RepoScan) {
        let memo = MemoOut {
            scan,
            main_commits: &scan.main_commits,
        };
        if let Ok(text) = serde_json::to_string(&memo) {
            self.memos.push(MemoRow {
                repo: repo.to_string(),
                line: line.to_string(),
                key: key.to_string(),
                scan: text,
            });
        }
    }

    /// What to write back.
    pub fn take_writes(&mut self) -> CacheWrites {
        let dirty = std::mem::take(&mut self.dirty);
        let facts = dirty
            .into_iter()
            .filter_map(|o| self.facts.get(&o).map(|f| (o, f.clone())))
            .collect();
        CacheWrites {
            facts,
            memos: std::mem::take(&mut self.memos),
        }
    }
}

/// Write computed facts and scans back (inside the caller's transaction).
pub fn store(conn: &Connection, writes: &CacheWrites, now: &str) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO git_commits (sha, paths, patch_id, lines) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(sha) DO UPDATE SET paths = COALESCE(excluded.paths, paths),
             patch_id = COALESCE(excluded.patch_id, patch_id), lines = COALESCE(excluded.lines, lines)",
    )?;
    for (oid, f) in &writes.facts {
        stmt.execute(params![oid.to_string(), f.paths, f.patch_id, f.lines])?;
    }
    let mut stmt = conn.prepare_cached(
        "INSERT INTO git_scans (repo, line, key, scan, scanned_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(repo, line) DO UPDATE SET key = excluded.key, scan = excluded.scan, scanned_at = excluded.scanned_at",
    )?;
    for m in &writes.memos {
        stmt.execute(params![m.repo, m.line, m.key, m.scan, now])?;
    }
    Ok(())
}
