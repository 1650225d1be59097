//! The verifier's per-commit facts and remembered scans, kept between runs by a [`FactStore`]
//! (the ledger file, in the product: `portcullis_ledger::git_cache`).
//!
//! Each scanning thread has its own [`FactCache`] over its own store; what it computed is taken
//! out with [`FactCache::take_writes`] and written back by the caller in one transaction. Nothing
//! here is an event: losing the cache costs time, never facts.

use std::collections::{HashMap, HashSet};

use git2::Oid;

use crate::model::{MainCommit, RepoScan};

/// Where facts and scans are kept between runs. Reads never fail: a store that cannot answer
/// answers "not kept", and the scan computes the fact again.
pub trait FactStore: Send {
    /// Nothing is kept at all: lookups can be skipped.
    fn is_cold(&self) -> bool;
    /// The costly facts kept about `sha`: its changed-paths hash, patch-id and changed-lines hash.
    fn commit(&self, sha: &str) -> Option<StoredFacts>;
    /// Hand `read` the remembered scan (JSON) of `repo` for `line`, if its key is still `key`:
    /// borrowed from the store, since a large repository's scan is about a megabyte.
    fn scan(&self, repo: &str, line: &str, key: &str, read: &mut dyn FnMut(&str));
}

/// A store that keeps nothing.
pub struct NoStore;

impl FactStore for NoStore {
    fn is_cold(&self) -> bool {
        true
    }
    fn commit(&self, _: &str) -> Option<StoredFacts> {
        None
    }
    fn scan(&self, _: &str, _: &str, _: &str, _: &mut dyn FnMut(&str)) {}
}

/// The costly facts of one commit, as a store keeps them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredFacts {
    pub paths: Option<String>,
    pub patch_id: Option<String>,
    pub lines: Option<String>,
}

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
    store: Box<dyn FactStore>,
    facts: HashMap<Oid, CommitFacts>,
    dirty: HashSet<Oid>,
    memos: Vec<MemoRow>,
    /// Commits whose costly facts came from the ledger, and costly facts computed.
    pub hits: u64,
    pub computed: u64,
}

impl FactCache {
    /// A cache over `store`.
    pub fn new(store: Box<dyn FactStore>) -> FactCache {
        FactCache {
            store,
            facts: HashMap::new(),
            dirty: HashSet::new(),
            memos: Vec::new(),
            hits: 0,
            computed: 0,
        }
    }

    /// Whether the facts of `oid` have been read in this run.
    pub fn has(&self, oid: Oid) -> bool {
        self.facts.contains_key(&oid)
    }

    /// The costly facts the store kept about `oid`.
    fn load(&self, oid: Oid) -> Option<StoredFacts> {
        if self.store.is_cold() {
            return None;
        }
        self.store.commit(&oid.to_string())
    }

    pub fn get(&self, oid: Oid) -> Option<&CommitFacts> {
        self.facts.get(&oid)
    }

    /// Add the facts read from the repository, completed with what the ledger kept.
    pub fn insert(&mut self, oid: Oid, mut facts: CommitFacts) {
        if let Some(kept) = self.load(oid) {
            self.hits += 1;
            facts.paths = kept.paths;
            facts.patch_id = kept.patch_id;
            facts.lines = kept.lines;
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
        let mut memo: Option<MemoIn> = None;
        self.store.scan(repo, line, key, &mut |text| {
            memo = serde_json::from_str(text).ok();
        });
        let memo = memo?;
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
