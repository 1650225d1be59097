//! The verifier's caches in the ledger file: per-commit facts keyed by commit id
//! (`git_commits`) and whole scans keyed by branch tips and tags (`git_scans`), migration 0003.
//!
//! They describe local clones, not the team's record: with a PostgreSQL ledger they are not
//! ported but kept in a local SQLite file of the same tables (the workspace's
//! `.portcullis-cache.db`, beside its config), which [`crate::Ledger::path`] names.
//!
//! Nothing here is an event: losing the cache costs time, never facts. Scanning threads read
//! through a [`CacheReader`] each (a read-only connection of their own); what they computed is
//! written back in the caller's transaction ([`crate::LedgerTx::store_git_cache`]).

use std::path::Path;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use crate::{Error, Named, Result};

/// The costly facts kept about one commit, as stored: hashes of its changed paths and lines,
/// and its patch-id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitRow {
    pub sha: String,
    pub paths: Option<String>,
    pub patch_id: Option<String>,
    pub lines: Option<String>,
}

/// A remembered scan of one repository for one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanRow {
    pub repo: String,
    pub line: String,
    /// What the scan depended on (tips, tags, settings, scanner version).
    pub key: String,
    /// The scan, as JSON.
    pub scan: String,
}

/// One thread's read-only view of the caches.
pub struct CacheReader {
    conn: Option<Connection>,
    /// The ledger held no commit facts when this reader was opened.
    cold: bool,
}

impl CacheReader {
    /// A reader of the ledger at `path`; an unreadable ledger reads as an empty cache.
    pub fn open(path: &Path) -> CacheReader {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .ok();
        if let Some(c) = &conn {
            let _ = c.busy_timeout(std::time::Duration::from_secs(30));
        }
        // A cold cache answers every lookup with "no": skip the lookups altogether.
        let cold = conn.as_ref().is_none_or(|c| {
            c.query_row("SELECT NOT EXISTS(SELECT 1 FROM git_commits)", [], |r| {
                r.get::<_, bool>(0)
            })
            .unwrap_or(true)
        });
        CacheReader { conn, cold }
    }

    /// No commit facts are kept at all.
    pub fn is_cold(&self) -> bool {
        self.cold
    }

    /// Query `commit_facts`: what was kept about the commit `sha`. A read that fails is a miss.
    pub fn commit(&self, sha: &str) -> Option<CommitRow> {
        if self.cold {
            return None;
        }
        let conn = self.conn.as_ref()?;
        let mut stmt = conn
            .prepare_cached("SELECT paths, patch_id, lines FROM git_commits WHERE sha = ?1")
            .ok()?;
        stmt.query_row([sha], |r| {
            Ok(CommitRow {
                sha: sha.to_string(),
                paths: r.get(0)?,
                patch_id: r.get(1)?,
                lines: r.get(2)?,
            })
        })
        .optional()
        .ok()
        .flatten()
    }

    /// Query `scan_memo`: hand `read` the remembered scan of `repo` for `line`, if its key is
    /// still `key`, as SQLite holds it (not copied: a large repository's scan is about a
    /// megabyte).
    pub fn read_scan<T>(
        &self,
        repo: &str,
        line: &str,
        key: &str,
        read: impl FnOnce(&str) -> T,
    ) -> Option<T> {
        let conn = self.conn.as_ref()?;
        let mut read = Some(read);
        conn.query_row(
            "SELECT scan FROM git_scans WHERE repo = ?1 AND line = ?2 AND key = ?3",
            params![repo, line, key],
            |r| {
                let text = r.get_ref(0)?.as_str()?;
                Ok(read.take().map(|f| f(text)))
            },
        )
        .optional()
        .ok()
        .flatten()
        .flatten()
    }

    /// Query `scans_by_prefix`: every remembered scan of `line` whose repository's name starts
    /// with `prefix` (a kind of memo: `*probe*pkg`), as (repository, key, scan). One query for
    /// all of them; a read that fails reads as none.
    pub fn read_scans_by_prefix(&self, prefix: &str, line: &str) -> Vec<(String, String, String)> {
        let Some(conn) = self.conn.as_ref() else {
            return Vec::new();
        };
        // The names from `prefix` up to, not including, the prefix with its last character
        // moved one up: a range of the (repo, line) index.
        let mut end = prefix.to_string();
        let Some(last) = end.pop().and_then(|c| char::from_u32(c as u32 + 1)) else {
            return Vec::new();
        };
        end.push(last);
        let rows = conn
            .prepare_cached(
                "SELECT repo, key, scan FROM git_scans WHERE repo >= ?1 AND repo < ?2 AND line = ?3",
            )
            .and_then(|mut stmt| {
                stmt.query_map(params![prefix, end, line], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            });
        rows.unwrap_or_default()
    }
}

/// Write computed facts and scans (inside the caller's transaction).
pub(crate) fn store(
    conn: &Connection,
    commits: &[CommitRow],
    scans: &[ScanRow],
    now: &str,
) -> Result<()> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO git_commits (sha, paths, patch_id, lines) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(sha) DO UPDATE SET paths = COALESCE(excluded.paths, paths),
             patch_id = COALESCE(excluded.patch_id, patch_id), lines = COALESCE(excluded.lines, lines)",
        )
        .named("store_commit_facts")?;
    for c in commits {
        stmt.execute(params![c.sha, c.paths, c.patch_id, c.lines])
            .named("store_commit_facts")?;
    }
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO git_scans (repo, line, key, scan, scanned_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(repo, line) DO UPDATE SET key = excluded.key, scan = excluded.scan, scanned_at = excluded.scanned_at",
        )
        .named("store_scan_memo")?;
    for m in scans {
        stmt.execute(params![m.repo, m.line, m.key, m.scan, now])
            .named("store_scan_memo")?;
    }
    Ok(())
}

/// Write computed facts and scans to the local cache file of a PostgreSQL ledger (created, with
/// the cache tables, when missing), in a transaction of its own.
pub(crate) fn store_in_file(
    path: &Path,
    commits: &[CommitRow],
    scans: &[ScanRow],
    now: &str,
) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create the directory", dir, e))?;
    }
    let mut conn = Connection::open(path).named("open_git_cache")?;
    conn.busy_timeout(std::time::Duration::from_secs(30))
        .named("open_git_cache")?;
    let tx = conn.transaction().named("begin_git_cache")?;
    let have: bool = tx
        .query_row(
            "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE name = 'git_commits')",
            [],
            |r| r.get(0),
        )
        .named("git_cache_tables")?;
    if !have {
        let (_, sql) = crate::migrations::MIGRATIONS
            .iter()
            .find(|(name, _)| *name == "0003_git_cache")
            .ok_or_else(|| Error::internal("the git cache migration is missing"))?;
        tx.execute_batch(sql).named("create_git_cache")?;
    }
    store(&tx, commits, scans, now)?;
    tx.commit().named("commit_git_cache")
}
