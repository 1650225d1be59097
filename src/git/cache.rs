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

use crate::git::scan::RepoScan;
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
}

impl CommitFacts {
    pub fn subject(&self) -> &str {
        self.message.lines().next().unwrap_or("").trim()
    }
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
    /// Facts read from the ledger and computed, for the figures.
    pub hits: u64,
    pub computed: u64,
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
        FactCache::with(conn)
    }

    /// A cache with nothing behind it (every fact computed).
    pub fn empty() -> FactCache {
        FactCache::with(None)
    }

    fn with(conn: Option<Connection>) -> FactCache {
        FactCache {
            conn,
            facts: HashMap::new(),
            dirty: HashSet::new(),
            memos: Vec::new(),
            hits: 0,
            computed: 0,
        }
    }

    /// Whether the facts of `oid` are known (loading them from the ledger if they are there).
    pub fn has(&mut self, oid: Oid) -> bool {
        if self.facts.contains_key(&oid) {
            return true;
        }
        if let Some(f) = self.load(oid) {
            self.hits += 1;
            self.facts.insert(oid, f);
            return true;
        }
        false
    }

    fn load(&self, oid: Oid) -> Option<CommitFacts> {
        let conn = self.conn.as_ref()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT parents, time, message, paths, patch_id, lines FROM git_commits WHERE sha = ?1",
            )
            .ok()?;
        stmt.query_row([oid.to_string()], |r| {
            let parents: String = r.get(0)?;
            Ok(CommitFacts {
                parents: parents
                    .split_whitespace()
                    .filter_map(|p| Oid::from_str(p).ok())
                    .collect(),
                time: r.get(1)?,
                message: r.get(2)?,
                paths: r.get(3)?,
                patch_id: r.get(4)?,
                lines: r.get(5)?,
            })
        })
        .optional()
        .ok()
        .flatten()
    }

    pub fn get(&self, oid: Oid) -> Option<&CommitFacts> {
        self.facts.get(&oid)
    }

    /// Add facts computed from the repository.
    pub fn insert(&mut self, oid: Oid, facts: CommitFacts) {
        self.computed += 1;
        self.facts.insert(oid, facts);
        self.dirty.insert(oid);
    }

    /// Complete known facts (a path set, a patch-id).
    pub fn update(&mut self, oid: Oid, f: impl FnOnce(&mut CommitFacts)) {
        if let Some(facts) = self.facts.get_mut(&oid) {
            f(facts);
            self.dirty.insert(oid);
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
        serde_json::from_str(&text).ok()
    }

    pub fn put_memo(&mut self, repo: &str, line: &str, key: &str, scan: &RepoScan) {
        if let Ok(text) = serde_json::to_string(scan) {
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
        "INSERT INTO git_commits (sha, parents, time, message, paths, patch_id, lines)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT(sha) DO UPDATE SET paths = COALESCE(excluded.paths, paths),
             patch_id = COALESCE(excluded.patch_id, patch_id), lines = COALESCE(excluded.lines, lines)",
    )?;
    for (oid, f) in &writes.facts {
        let parents: Vec<String> = f.parents.iter().map(|p| p.to_string()).collect();
        stmt.execute(params![
            oid.to_string(),
            parents.join(" "),
            f.time,
            f.message,
            f.paths,
            f.patch_id,
            f.lines
        ])?;
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
