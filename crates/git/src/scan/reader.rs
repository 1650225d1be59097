//! The scanner and its reads of one repository, each fact computed once: revision walks, commit
//! facts (kept in the [`FactCache`]), changed-path hashes (a tree walk of its own) and patch-ids.

use std::collections::{HashMap, HashSet};

use git2::{Oid, Repository, Sort};
use sha2::{Digest, Sha256};

use super::target::{git_problem, walk_err, Res, ScanTarget};
use crate::blobdiff::{file_lines, on_two_threads, ChangedFile, FileDiff};
use crate::cache::{CommitFacts, FactCache};

/// The scan of one repository for one line: the repository, what is known of its commits, and
/// the trees and revision walker reused from one read to the next.
pub(super) struct Scanner<'r, 'c, 't> {
    pub(super) repo: &'r Repository,
    cache: &'c mut FactCache,
    pub(super) t: &'t ScanTarget<'t>,
    /// Trees read lately, by id: consecutive commits share most of them ([`TREES_KEPT`]).
    trees: HashMap<Oid, std::rc::Rc<Vec<TreeItem>>>,
    /// The files each commit changes, as computed so far ([`Self::changed_files`]): a scan
    /// asks for most commits' files several times (their paths, patch-ids, content).
    files: HashMap<Oid, Files>,
    walker: std::cell::RefCell<Option<git2::Revwalk<'r>>>,
    /// Commits whose changes could not be read, with the problem (first one each).
    pub(super) unchecked: Vec<(Oid, String)>,
}

impl<'r, 'c, 't> Scanner<'r, 'c, 't> {
    pub(super) fn new(
        repo: &'r Repository,
        cache: &'c mut FactCache,
        t: &'t ScanTarget<'t>,
    ) -> Scanner<'r, 'c, 't> {
        Scanner {
            repo,
            cache,
            t,
            trees: HashMap::new(),
            files: HashMap::new(),
            walker: std::cell::RefCell::new(None),
            unchecked: Vec::new(),
        }
    }
}

/// Git's order of tree entries: by name, a subtree's name compared as if it ended in `/`.
fn git_order(a: &TreeItem, b: &TreeItem) -> std::cmp::Ordering {
    let ka = a.name.iter().copied().chain(a.is_tree.then_some(b'/'));
    let kb = b.name.iter().copied().chain(b.is_tree.then_some(b'/'));
    ka.cmp(kb)
}

/// One entry of a tree, as the path-set comparison needs it.
struct TreeItem {
    name: Vec<u8>,
    oid: Oid,
    is_tree: bool,
    /// A submodule: its id is a commit.
    is_link: bool,
}

impl Scanner<'_, '_, '_> {
    /// `r`, a read of `oid`'s change; on failure (a missing tree or blob) `oid` is named as
    /// unchecked and the scan goes on without it.
    pub(super) fn checked<T>(&mut self, oid: Oid, r: Res<T>) -> Option<T> {
        match r {
            Ok(x) => Some(x),
            Err(problem) => {
                if !self.unchecked.iter().any(|(o, _)| *o == oid) {
                    self.unchecked.push((oid, problem));
                }
                None
            }
        }
    }

    /// Commits reachable from `tip` and not from `hide`, oldest first.
    pub(super) fn walk(&self, tip: Oid, hide: &[Oid]) -> Res<Vec<Oid>> {
        self.walk_sorted(tip, hide, Sort::TOPOLOGICAL | Sort::REVERSE)
    }

    /// The same set in no particular order (cheaper: no topological sort).
    pub(super) fn walk_set(&self, tip: Oid, hide: &[Oid]) -> Res<HashSet<Oid>> {
        Ok(self
            .walk_sorted(tip, hide, Sort::NONE)?
            .into_iter()
            .collect())
    }

    fn walk_sorted(&self, tip: Oid, hide: &[Oid], sort: Sort) -> Res<Vec<Oid>> {
        // One walker for the whole scan: `reset` keeps its parsed commits, so the second and
        // later walks over the same history do not parse it again.
        let mut slot = self.walker.borrow_mut();
        if slot.is_none() {
            *slot = Some(self.repo.revwalk().map_err(walk_err(self.t))?);
        }
        let w = slot.as_mut().expect("just set");
        w.reset().map_err(walk_err(self.t))?;
        w.set_sorting(sort).map_err(walk_err(self.t))?;
        w.push(tip).map_err(walk_err(self.t))?;
        for h in hide {
            w.hide(*h).map_err(walk_err(self.t))?;
        }
        w.by_ref().map(|r| r.map_err(walk_err(self.t))).collect()
    }

    pub(super) fn facts(&mut self, oid: Oid) -> Res<&CommitFacts> {
        if !self.cache.has(oid) {
            let c = self
                .repo
                .find_commit(oid)
                .map_err(|e| git_problem(self.t, &format!("reading commit {oid}"), e))?;
            let facts = CommitFacts {
                parents: c.parent_ids().collect(),
                time: c.committer().when().seconds(),
                message: String::from_utf8_lossy(c.message_bytes()).into_owned(),
                paths: None,
                patch_id: None,
                lines: None,
                tree: Some(c.tree_id()),
            };
            self.cache.insert(oid, facts);
        }
        Ok(self.cache.get(oid).expect("just inserted"))
    }

    /// The hash of the set of paths a commit changes (against its first parent).
    ///
    /// A tree walk of our own rather than a libgit2 diff: equal subtrees are skipped by id, and
    /// trees are read once per scan (a commit's tree is its child's parent tree), which halves
    /// the object reads of a cold scan.
    pub(super) fn paths(&mut self, oid: Oid) -> Res<String> {
        if let Some(p) = self.facts(oid)?.paths.clone() {
            return Ok(p);
        }
        let paths = self.path_list(oid)?;
        let mut h = Sha256::new();
        for p in &paths {
            h.update(p);
            h.update([0]);
        }
        let hash = hex::encode(&h.finalize()[..12]);
        self.cache.update(oid, |f| f.paths = Some(hash.clone()));
        Ok(hash)
    }

    /// The paths a commit changes against its first parent, sorted.
    pub(super) fn path_list(&mut self, oid: Oid) -> Res<Vec<Vec<u8>>> {
        let mut paths: Vec<Vec<u8>> = self
            .changed_files(oid)?
            .iter()
            .map(|f| f.path.clone())
            .collect();
        paths.sort();
        paths.dedup();
        Ok(paths)
    }

    /// The files a commit changes against its first parent, with their blobs before and after,
    /// in tree order.
    pub(super) fn changed_files(&mut self, oid: Oid) -> Res<Files> {
        if let Some(files) = self.files.get(&oid) {
            return Ok(Files::clone(files));
        }
        let what = format!("reading the tree of {oid}");
        let tree = self
            .tree_of(oid)
            .map_err(|e| git_problem(self.t, &what, e))?;
        let parent = self.facts(oid)?.parents.first().copied();
        let parent_tree = match parent {
            Some(p) => Some(self.tree_of(p).map_err(|e| git_problem(self.t, &what, e))?),
            None => None,
        };
        let mut files = Vec::new();
        self.changed_paths(parent_tree, Some(tree), &mut Vec::new(), &mut files)
            .map_err(|e| git_problem(self.t, &what, e))?;
        let files = Files::from(files);
        self.files.insert(oid, Files::clone(&files));
        Ok(files)
    }

    fn tree(&mut self, oid: Oid) -> std::result::Result<std::rc::Rc<Vec<TreeItem>>, git2::Error> {
        if let Some(t) = self.trees.get(&oid) {
            return Ok(t.clone());
        }
        let tree = self.repo.find_tree(oid)?;
        let items: Vec<TreeItem> = tree
            .iter()
            .map(|e| TreeItem {
                name: e.name_bytes().to_vec(),
                oid: e.id(),
                is_tree: e.kind() == Some(git2::ObjectType::Tree),
                is_link: e.kind() == Some(git2::ObjectType::Commit),
            })
            .collect();
        let items = std::rc::Rc::new(items);
        // A commit's trees are mostly its parent's: the trees of the last few thousand reads
        // are the ones read again. Keeping every tree of a long history (up to 200,000) made a
        // cold scan of 3,600 main-side commits 7 MB larger and 3-5 % slower.
        if self.trees.len() >= TREES_KEPT {
            self.trees.clear();
        }
        self.trees.insert(oid, items.clone());
        Ok(items)
    }

    /// A commit's tree id, from the facts when they were read in this run.
    fn tree_of(&mut self, commit: Oid) -> std::result::Result<Oid, git2::Error> {
        if let Some(t) = self.cache.get(commit).and_then(|f| f.tree) {
            return Ok(t);
        }
        let t = self.repo.find_commit(commit)?.tree_id();
        self.cache.update_quiet(commit, |f| f.tree = Some(t));
        Ok(t)
    }

    /// Every file path that differs between two trees (either may be absent): a merge of the
    /// two sorted entry lists, descending only into subtrees whose ids differ.
    fn changed_paths(
        &mut self,
        old: Option<Oid>,
        new: Option<Oid>,
        prefix: &mut Vec<u8>,
        out: &mut Vec<ChangedFile>,
    ) -> std::result::Result<(), git2::Error> {
        if old == new {
            return Ok(());
        }
        let a = match old {
            Some(o) => Some(self.tree(o)?),
            None => None,
        };
        let b = match new {
            Some(o) => Some(self.tree(o)?),
            None => None,
        };
        let a: &[TreeItem] = a.as_deref().map_or(&[], |v| v.as_slice());
        let b: &[TreeItem] = b.as_deref().map_or(&[], |v| v.as_slice());
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            let ord = match (a.get(i), b.get(j)) {
                (Some(x), Some(y)) => git_order(x, y),
                (Some(_), None) => std::cmp::Ordering::Less,
                _ => std::cmp::Ordering::Greater,
            };
            let (before, after) = match ord {
                std::cmp::Ordering::Less => {
                    i += 1;
                    (Some(&a[i - 1]), None)
                }
                std::cmp::Ordering::Greater => {
                    j += 1;
                    (None, Some(&b[j - 1]))
                }
                std::cmp::Ordering::Equal => {
                    i += 1;
                    j += 1;
                    if a[i - 1].oid == b[j - 1].oid {
                        continue;
                    }
                    (Some(&a[i - 1]), Some(&b[j - 1]))
                }
            };
            let name = &after.or(before).expect("one side").name;
            let len = prefix.len();
            if !prefix.is_empty() {
                prefix.push(b'/');
            }
            prefix.extend_from_slice(name);
            let sub = |x: Option<&TreeItem>| x.filter(|e| e.is_tree).map(|e| e.oid);
            let file = |x: Option<&TreeItem>| x.is_some_and(|e| !e.is_tree);
            if file(before) || file(after) {
                let blob = |x: Option<&TreeItem>| x.filter(|e| !e.is_tree).map(|e| e.oid);
                out.push(ChangedFile {
                    path: prefix.clone(),
                    before: blob(before),
                    after: blob(after),
                    link: [before, after].into_iter().flatten().any(|e| e.is_link),
                });
            }
            let (sa, sb) = (sub(before), sub(after));
            if sa.is_some() || sb.is_some() {
                self.changed_paths(sa, sb, prefix, out)?;
            }
            prefix.truncate(len);
        }
        Ok(())
    }

    /// The added and removed lines of a commit's change (against its first parent), each as
    /// its path, `+` or `-`, and its content without whitespace.
    pub(super) fn line_set(&mut self, oid: Oid) -> Res<HashSet<Vec<u8>>> {
        let files = self.changed_files(oid)?;
        let mut out = HashSet::new();
        for file in files.iter() {
            file_lines(self.repo, file, 0, &mut |origin, content| {
                if origin == '+' || origin == '-' {
                    let mut key = file.path.clone();
                    key.extend([0, origin as u8]);
                    key.extend(content.iter().filter(|b| !b.is_ascii_whitespace()));
                    out.insert(key);
                }
            })
            .map_err(|e| git_problem(self.t, &format!("reading the diff of {oid}"), e))?;
        }
        Ok(out)
    }

    /// The patch-id and the hash of the added and removed lines (without context), from one
    /// read of the change.
    ///
    /// The patch-id is ours, with git's rules: every file's path, then its changed and context
    /// lines (three of context) without whitespace and without line numbers, so a pick onto
    /// other line numbers keeps it; a binary file by its blob ids. It is compared only with
    /// patch-ids computed here, and tagged ([`PATCH_ID_TAG`]) so that facts cached by an older
    /// scanner (libgit2's patch-ids) are computed again rather than compared.
    pub(super) fn patch(&mut self, oid: Oid) -> Res<(String, String)> {
        self.facts(oid)?;
        if let Some(kept) = self.kept_patch(oid) {
            return Ok(kept);
        }
        let files = self.changed_files(oid)?;
        let (pid, lines) = patch_hashes(self.repo, &files)
            .map_err(|e| git_problem(self.t, &format!("reading the diff of {oid}"), e))?;
        self.store_patch(oid, &pid, &lines);
        Ok((pid, lines))
    }

    /// The patch-id and changed-lines hash of `oid` already known (computed in this run, or by
    /// this scanner version in an earlier one). Its facts must have been read ([`Self::facts`]):
    /// that is when the kept ones are loaded.
    pub(super) fn kept_patch(&self, oid: Oid) -> Option<(String, String)> {
        let f = self.cache.get(oid)?;
        match (&f.patch_id, &f.lines) {
            (Some(p), Some(l)) if p.starts_with(PATCH_ID_TAG) => Some((p.clone(), l.clone())),
            _ => None,
        }
    }

    /// Keep `oid`'s patch-id and changed-lines hash (its facts must have been read).
    pub(super) fn store_patch(&mut self, oid: Oid, pid: &str, lines: &str) {
        self.cache.update(oid, |f| {
            f.patch_id = Some(pid.to_string());
            f.lines = Some(lines.to_string());
        });
    }
}

/// The patch-id and the changed-lines hash of a change (its `files`), from one read of it: see
/// [`Scanner::patch`].
pub(super) fn patch_hashes(repo: &Repository, files: &[ChangedFile]) -> PatchHashes {
    let mut pid = Sha256::new();
    let mut lines = Sha256::new();
    let mut content = Vec::new();
    for file in files {
        pid.update(&file.path);
        pid.update([0]);
        let read = file_lines(repo, file, 3, &mut |origin, text| {
            content.clear();
            content.extend(text.iter().filter(|b| !b.is_ascii_whitespace()));
            pid.update([origin as u8]);
            pid.update(&content);
            pid.update([0]);
            if origin == '+' || origin == '-' {
                lines.update(&file.path);
                lines.update([0, origin as u8]);
                lines.update(&content);
                lines.update([0]);
            }
        })?;
        if read == FileDiff::Binary {
            for id in [file.before, file.after] {
                pid.update(id.map(|i| i.to_string()).unwrap_or_default());
                pid.update([0]);
            }
        }
    }
    Ok((
        format!("{PATCH_ID_TAG}{}", hex::encode(&pid.finalize()[..20])),
        hex::encode(&lines.finalize()[..12]),
    ))
}

/// A change's patch-id and changed-lines hash, or why its diff could not be read.
pub(super) type PatchHashes = Result<(String, String), git2::Error>;

/// [`patch_hashes`] of each of `jobs` (a commit and its changed files), on two threads
/// ([`on_two_threads`]); in the order of `jobs`.
pub(super) fn patch_hashes_on_two_threads(
    repo: &Repository,
    path: &std::path::Path,
    jobs: &[(Oid, Files)],
) -> Vec<(Oid, PatchHashes)> {
    on_two_threads(repo, path, jobs, |r, (o, files)| {
        (*o, patch_hashes(r, files))
    })
}

/// A commit's changed files ([`Scanner::changed_files`]), shared between the scan's questions
/// about it and the threads that diff them.
pub(super) type Files = std::sync::Arc<[ChangedFile]>;

/// How many trees a scan keeps read ([`Scanner::tree`]) before it starts again.
const TREES_KEPT: usize = 4096;

/// The mark of this scanner's patch-ids (see [`Scanner::patch`]).
const PATCH_ID_TAG: &str = "p3:";
