//! Scanning one repository for one release line: the branch point, every release-branch commit
//! with its ticket, mentions, first release tag and main-side counterpart, and the main-side
//! commits since the branch point with their tickets.
//!
//! How it works, and why (see `../shared/docs/real-world-backports.md`):
//! - `release ^ main` (one revision walk) is the set of release commits not reachable from
//!   `main`; the branch point is the first commit on the release branch's first-parent chain that
//!   is not in it. The merge-base alone is wrong when a ticket branch was merged into both.
//! - A commit's ticket comes from the first-parent merge that brought it onto its branch
//!   (`Merge pull request #N from org/tickets/DM-X-v23`); keys in messages are mentions.
//! - Counterparts are tried strongest first: the same commit, a cherry-pick trailer, equal
//!   patch-id, a whole ticket merge's patch-id (squash), the same changed lines with other
//!   context, the same subject. Patch-ids are computed only where the cheap changed-path sets
//!   are equal, and every per-commit fact is cached by commit id ([`FactCache`]).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use git2::{Oid, Repository, Sort};

use sha2::{Digest, Sha256};

use crate::cache::{CommitFacts, FactCache};
pub use crate::model::*;
use crate::text::{self, TagMatcher};
use portcullis_core::landing::{Direction, MatchKind};
use portcullis_core::policy::{Line, LoadedPolicy};

/// Bump when the scan's logic changes, so that memoised scans are not reused.
pub const SCANNER_VERSION: u32 = 2;

/// What to scan.
#[derive(Debug, Clone)]
pub struct ScanTarget<'a> {
    pub repo: String,
    /// The clone, resolved (absolute or relative to the working directory).
    pub path: PathBuf,
    /// The path as the policy writes it, for messages.
    pub shown_path: String,
    pub main_branch: String,
    pub line: &'a Line,
    pub policy: &'a LoadedPolicy,
}

impl RepoScan {
    pub(crate) fn empty(t: &ScanTarget<'_>, status: ScanStatus, problems: Vec<String>) -> RepoScan {
        RepoScan {
            repo: t.repo.clone(),
            status,
            problems,
            main_branch: t.main_branch.clone(),
            release_branch: t.line.branch.clone(),
            main_tip: None,
            release_tip: None,
            branch_point: None,
            release_commits: Vec::new(),
            main_commits: Vec::new(),
            tags: Vec::new(),
        }
    }
}

/// Set libgit2 up for scanning the user's clones; call once, before the scans open any
/// repository.
///
/// - Objects come from the user's own clones: skip libgit2's SHA-1 re-verification of every
///   object read (git does not verify on read either); it is a tenth of a cold scan.
/// - The scan keeps what it needs (commit facts, trees) itself; libgit2's own object cache would
///   only grow the process by every commit and tree read.
#[allow(unsafe_code)]
pub fn tune_libgit2_for_scans() {
    git2::opts::strict_hash_verification(false);
    // SAFETY: libgit2's global settings; set before this process's scans open repositories,
    // and the values set are valid for any repository.
    unsafe {
        let _ = git2::opts::set_cache_object_limit(git2::ObjectType::Commit, 0);
        let _ = git2::opts::set_cache_object_limit(git2::ObjectType::Tree, 0);
    }
}

/// Scan one repository. Never fails: what cannot be checked becomes an `unverifiable` scan that
/// says why and what to do.
pub fn scan(t: &ScanTarget<'_>, cache: &mut FactCache) -> RepoScan {
    match scan_inner(t, cache) {
        Ok(s) => s,
        Err(e) => RepoScan::empty(t, ScanStatus::Unverifiable, vec![e]),
    }
}

type Res<T> = std::result::Result<T, String>;

fn git_problem(t: &ScanTarget<'_>, what: &str, e: git2::Error) -> String {
    if e.code() == git2::ErrorCode::NotFound
        && matches!(e.class(), git2::ErrorClass::Odb | git2::ErrorClass::Object)
    {
        format!(
            "{}: missing objects while {what} ({}); run `git fetch` or `git fsck` in {}",
            t.repo,
            e.message(),
            t.shown_path
        )
    } else {
        format!("{}: git error while {what}: {}", t.repo, e.message())
    }
}

/// Find a branch as a local branch or as `origin`'s remote-tracking branch.
fn resolve_branch(repo: &Repository, name: &str) -> Option<Oid> {
    for r in [
        format!("refs/heads/{name}"),
        format!("refs/remotes/origin/{name}"),
    ] {
        if let Ok(reference) = repo.find_reference(&r) {
            if let Ok(c) = reference.peel_to_commit() {
                return Some(c.id());
            }
        }
    }
    None
}

fn scan_inner(t: &ScanTarget<'_>, cache: &mut FactCache) -> Res<RepoScan> {
    if !t.path.exists() {
        return Err(format!(
            "{}: no repository at {}; clone it there or fix `path` for `{}` in the policy",
            t.repo, t.shown_path, t.repo
        ));
    }
    let repo = Repository::open(&t.path).map_err(|e| {
        format!(
            "{}: {} is not a git repository ({}); clone it there or fix `path` in the policy",
            t.repo,
            t.shown_path,
            e.message()
        )
    })?;
    let Some(main_tip) = resolve_branch(&repo, &t.main_branch) else {
        return Err(format!(
            "{}: branch `{}` not found in {}; fetch it, or set `main_branch` for `{}` in the policy",
            t.repo, t.main_branch, t.shown_path, t.repo
        ));
    };
    let matcher = TagMatcher::new(t.line);
    let tags = line_tags(&repo, &matcher).map_err(|e| git_problem(t, "reading tags", e))?;
    let release_tip = resolve_branch(&repo, &t.line.branch);
    let shallow = repo.is_shallow();

    let key = memo_key(t, main_tip, release_tip, &tags, shallow);
    if let Some(hit) = cache.memo(&t.repo, &t.line.name, &key) {
        return Ok(hit);
    }

    let mut out = RepoScan::empty(t, ScanStatus::Ok, Vec::new());
    out.main_tip = Some(main_tip.to_string());
    out.release_tip = release_tip.map(|o| o.to_string());
    out.tags = tags
        .iter()
        .map(|(t, o)| TagRef {
            name: t.name.clone(),
            commit: o.to_string(),
        })
        .collect();
    if shallow {
        out.status = ScanStatus::Unverifiable;
        out.problems.push(format!(
            "{}: {} is a shallow clone: the branch point and main-side counterparts cannot be proven; run `git fetch --unshallow` there",
            t.repo, t.shown_path
        ));
        cache.put_memo(&t.repo, &t.line.name, &key, &out);
        return Ok(out);
    }

    let mut s = Scanner {
        repo: &repo,
        cache,
        t,
        trees: HashMap::new(),
        walker: std::cell::RefCell::new(None),
    };
    match release_tip {
        Some(rtip) => s.scan_line(&mut out, main_tip, rtip, &tags)?,
        None => {
            out.status = ScanStatus::BranchMissing;
            // Main-side commits since the line's first tag on main (the release branch is made
            // from it), so that requests touching this repository are known to wait for it.
            let base = tags
                .iter()
                .find(|(_, o)| {
                    *o == main_tip || repo.graph_descendant_of(main_tip, *o).unwrap_or(false)
                })
                .map(|(tag, _)| tag.name.clone());
            match base {
                Some(name) => {
                    let base_oid = tags.iter().find(|(t, _)| t.name == name).map(|(_, o)| *o);
                    if let Some(b) = base_oid {
                        let (main_commits, _) = s.main_side(main_tip, b)?;
                        out.main_commits = main_commits;
                    }
                    out.problems.push(format!(
                        "{}: branch `{}` does not exist yet; create it from `{name}`",
                        t.repo, t.line.branch
                    ));
                }
                None => out.problems.push(format!(
                    "{}: branch `{}` does not exist yet, and no tag of the line marks where to create it",
                    t.repo, t.line.branch
                )),
            }
        }
    }
    cache.put_memo(&t.repo, &t.line.name, &key, &out);
    Ok(out)
}

fn memo_key(
    t: &ScanTarget<'_>,
    main: Oid,
    release: Option<Oid>,
    tags: &[(text::ReleaseTag, Oid)],
    shallow: bool,
) -> String {
    let mut h = Sha256::new();
    h.update(format!(
        "v{SCANNER_VERSION}\0{}\0{}\0{}\0{}\0{}\0{}\0{main}\0{release:?}\0{shallow}\0",
        t.policy.policy.ticket_key,
        t.line.branch,
        t.line.tag_pattern,
        t.line.rc_tag_pattern,
        t.line.base_version,
        t.main_branch
    ));
    for (tag, oid) in tags {
        h.update(format!("{}={oid}\0", tag.name));
    }
    hex::encode(&h.finalize()[..16])
}

/// The line's release tags, peeled to commits, in release order.
fn line_tags(
    repo: &Repository,
    matcher: &TagMatcher,
) -> std::result::Result<Vec<(text::ReleaseTag, Oid)>, git2::Error> {
    let mut out = Vec::new();
    for name in repo.tag_names(None)?.iter().flatten() {
        let Some(tag) = matcher.parse(name) else {
            continue;
        };
        let Ok(reference) = repo.find_reference(&format!("refs/tags/{name}")) else {
            continue;
        };
        if let Ok(c) = reference.peel_to_commit() {
            out.push((tag, c.id()));
        }
    }
    out.sort_by(|a, b| a.0.order(&b.0));
    Ok(out)
}

struct Scanner<'r, 'c, 't> {
    repo: &'r Repository,
    cache: &'c mut FactCache,
    t: &'t ScanTarget<'t>,
    /// Trees read so far, by id: consecutive commits share most of them.
    trees: HashMap<Oid, std::rc::Rc<Vec<TreeItem>>>,
    walker: std::cell::RefCell<Option<git2::Revwalk<'r>>>,
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
}

/// Who brought a commit onto a branch.
#[derive(Debug, Clone)]
struct Attribution {
    ticket: Option<String>,
    /// The first-parent merge that introduced it.
    via: Option<Oid>,
    /// The first-parent commit at which it arrived (itself, or `via`).
    arrived: Oid,
}

impl Default for Attribution {
    fn default() -> Self {
        Attribution {
            ticket: None,
            via: None,
            arrived: Oid::zero(),
        }
    }
}

fn walk_err<'a>(t: &'a ScanTarget<'a>) -> impl Fn(git2::Error) -> String + 'a {
    move |e| git_problem(t, "walking history", e)
}

/// The diff of a commit against its first parent, with three lines of context (as git's
/// patch-id expects).
fn diff_of<'r>(repo: &'r Repository, t: &ScanTarget<'_>, oid: Oid) -> Res<git2::Diff<'r>> {
    let what = format!("diffing commit {oid}");
    let c = repo
        .find_commit(oid)
        .map_err(|e| git_problem(t, &what, e))?;
    let tree = c.tree().map_err(|e| git_problem(t, &what, e))?;
    let parent_tree = match c.parent(0) {
        Ok(p) => Some(p.tree().map_err(|e| git_problem(t, &what, e))?),
        Err(_) => None,
    };
    let mut opts = git2::DiffOptions::new();
    opts.context_lines(3);
    repo.diff_tree_to_tree(parent_tree.as_ref(), Some(&tree), Some(&mut opts))
        .map_err(|e| git_problem(t, &what, e))
}

impl Scanner<'_, '_, '_> {
    /// Commits reachable from `tip` and not from `hide`, oldest first.
    fn walk(&self, tip: Oid, hide: &[Oid]) -> Res<Vec<Oid>> {
        self.walk_sorted(tip, hide, Sort::TOPOLOGICAL | Sort::REVERSE)
    }

    /// The same set in no particular order (cheaper: no topological sort).
    fn walk_set(&self, tip: Oid, hide: &[Oid]) -> Res<HashSet<Oid>> {
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

    fn facts(&mut self, oid: Oid) -> Res<&CommitFacts> {
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
    fn paths(&mut self, oid: Oid) -> Res<String> {
        if let Some(p) = self.facts(oid)?.paths.clone() {
            return Ok(p);
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
        let mut paths: Vec<Vec<u8>> = Vec::new();
        self.changed_paths(parent_tree, Some(tree), &mut Vec::new(), &mut paths)
            .map_err(|e| git_problem(self.t, &what, e))?;
        paths.sort();
        paths.dedup();
        let mut h = Sha256::new();
        for p in &paths {
            h.update(p);
            h.update([0]);
        }
        let hash = hex::encode(&h.finalize()[..12]);
        self.cache.update(oid, |f| f.paths = Some(hash.clone()));
        Ok(hash)
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
            })
            .collect();
        let items = std::rc::Rc::new(items);
        if self.trees.len() > 200_000 {
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
        out: &mut Vec<Vec<u8>>,
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
                out.push(prefix.clone());
            }
            let (sa, sb) = (sub(before), sub(after));
            if sa.is_some() || sb.is_some() {
                self.changed_paths(sa, sb, prefix, out)?;
            }
            prefix.truncate(len);
        }
        Ok(())
    }

    /// The patch-id and the hash of the added and removed lines (without context).
    fn patch(&mut self, oid: Oid) -> Res<(String, String)> {
        let f = self.facts(oid)?;
        if let (Some(p), Some(l)) = (&f.patch_id, &f.lines) {
            return Ok((p.clone(), l.clone()));
        }
        let diff = diff_of(self.repo, self.t, oid)?;
        let pid = diff
            .patchid(None)
            .map_err(|e| git_problem(self.t, &format!("computing the patch-id of {oid}"), e))?
            .to_string();
        let mut h = Sha256::new();
        diff.foreach(
            &mut |_, _| true,
            None,
            None,
            Some(&mut |delta, _hunk, line| {
                let origin = line.origin();
                if origin == '+' || origin == '-' {
                    let path = delta
                        .new_file()
                        .path_bytes()
                        .or(delta.old_file().path_bytes())
                        .unwrap_or_default();
                    h.update(path);
                    h.update([0, origin as u8]);
                    let content: Vec<u8> = line
                        .content()
                        .iter()
                        .copied()
                        .filter(|b| !b.is_ascii_whitespace())
                        .collect();
                    h.update(&content);
                    h.update([0]);
                }
                true
            }),
        )
        .map_err(|e| git_problem(self.t, &format!("reading the diff of {oid}"), e))?;
        let lines = hex::encode(&h.finalize()[..12]);
        self.cache.update(oid, |f| {
            f.patch_id = Some(pid.clone());
            f.lines = Some(lines.clone());
        });
        Ok((pid, lines))
    }

    /// Tickets of the commits in `set` as brought in along `tip`'s first-parent chain.
    fn attribute(&mut self, tip: Oid, set: &HashSet<Oid>) -> Res<HashMap<Oid, Attribution>> {
        let mut chain = Vec::new();
        let mut c = tip;
        while set.contains(&c) {
            chain.push(c);
            match self.facts(c)?.parents.first() {
                Some(p) => c = *p,
                None => break,
            }
        }
        let chain_set: HashSet<Oid> = chain.iter().copied().collect();
        let mut out: HashMap<Oid, Attribution> = HashMap::with_capacity(set.len());
        for &c in chain.iter().rev() {
            let f = self.facts(c)?.clone();
            if f.parents.len() < 2 {
                out.insert(
                    c,
                    Attribution {
                        ticket: None,
                        via: None,
                        arrived: c,
                    },
                );
                continue;
            }
            let ticket = text::merged_branch(f.subject())
                .and_then(|b| self.t.policy.keys_in(b).into_iter().next());
            out.insert(
                c,
                Attribution {
                    ticket: ticket.clone(),
                    via: None,
                    arrived: c,
                },
            );
            let mut stack: Vec<Oid> = f.parents[1..].to_vec();
            while let Some(x) = stack.pop() {
                if !set.contains(&x) || chain_set.contains(&x) || out.contains_key(&x) {
                    continue;
                }
                out.insert(
                    x,
                    Attribution {
                        ticket: ticket.clone(),
                        via: Some(c),
                        arrived: c,
                    },
                );
                stack.extend(self.facts(x)?.parents.iter().copied());
            }
        }
        Ok(out)
    }

    /// Main-side commits reachable from `main_tip` and not from `base`, with their tickets.
    fn main_side(
        &mut self,
        main_tip: Oid,
        base: Oid,
    ) -> Res<(Vec<MainCommit>, HashMap<Oid, Attribution>)> {
        let order = self.walk(main_tip, &[base])?;
        let set: HashSet<Oid> = order.iter().copied().collect();
        let attr = self.attribute(main_tip, &set)?;
        let mut introduces: HashMap<Oid, Vec<String>> = HashMap::new();
        for (oid, a) in &attr {
            if let Some(v) = a.via {
                introduces.entry(v).or_default().push(oid.to_string());
            }
        }
        let mut out = Vec::with_capacity(order.len());
        for oid in order {
            let f = self.facts(oid)?.clone();
            let a = attr.get(&oid).cloned().unwrap_or_default();
            let mut intro = introduces.remove(&oid).unwrap_or_default();
            intro.sort();
            out.push(MainCommit {
                sha: oid.to_string(),
                subject: f.subject().to_string(),
                time: f.time,
                merge: f.parents.len() > 1,
                mentions: mentions(self.t.policy, &f.message, a.ticket.as_deref()),
                ticket: a.ticket,
                via: a.via.map(|v| v.to_string()),
                introduces: intro,
            });
        }
        Ok((out, attr))
    }

    fn scan_line(
        &mut self,
        out: &mut RepoScan,
        main_tip: Oid,
        release_tip: Oid,
        tags: &[(text::ReleaseTag, Oid)],
    ) -> Res<()> {
        // Release commits not reachable from main; the branch point is the first commit on the
        // release branch's first-parent chain outside that set.
        let t0 = std::time::Instant::now();
        let not_on_main: HashSet<Oid> = self.walk_set(release_tip, &[main_tip])?;
        let mut bp = release_tip;
        while not_on_main.contains(&bp) {
            match self.facts(bp)?.parents.first() {
                Some(p) => bp = *p,
                None => {
                    return Err(format!(
                        "{}: `{}` and `{}` share no history; is `{}` the right main branch?",
                        self.t.repo, self.t.line.branch, self.t.main_branch, self.t.main_branch
                    ))
                }
            }
        }
        let bp_subject = self.facts(bp)?.subject().to_string();
        out.branch_point = Some(BranchPoint {
            sha: bp.to_string(),
            subject: bp_subject,
            tags: tags
                .iter()
                .filter(|(_, o)| *o == bp)
                .map(|(t, _)| t.name.clone())
                .collect(),
        });

        let t_bp = t0.elapsed();
        let (main_commits, main_attr) = self.main_side(main_tip, bp)?;
        let t_main = t0.elapsed();
        let release_order = self.walk(release_tip, &[bp])?;
        let release_set: HashSet<Oid> = release_order.iter().copied().collect();
        let rel_attr = self.attribute(release_tip, &release_set)?;

        // Main-side indexes: changed-path sets, normalised subjects, ticket merges.
        let mut by_paths: HashMap<String, Vec<Oid>> = HashMap::new();
        let mut merges_by_paths: HashMap<String, Vec<Oid>> = HashMap::new();
        let mut by_subject: HashMap<String, Vec<Oid>> = HashMap::new();
        let mut main_time: HashMap<Oid, i64> = HashMap::new();
        for m in &main_commits {
            let oid = Oid::from_str(&m.sha).map_err(|e| e.message().to_string())?;
            main_time.insert(oid, m.time);
            let paths = self.paths(oid)?;
            if m.merge {
                if m.via.is_none() && !m.introduces.is_empty() {
                    merges_by_paths.entry(paths).or_default().push(oid);
                }
            } else {
                by_paths.entry(paths).or_default().push(oid);
                by_subject
                    .entry(text::normalized_subject(&m.subject))
                    .or_default()
                    .push(oid);
            }
        }
        let main_set: HashSet<Oid> = main_time.keys().copied().collect();
        // Main-side commits by the tickets they belong to or mention: a release commit's own
        // ticket's commits are compared first, and most backports stop there.
        let mut by_key: HashMap<&str, Vec<Oid>> = HashMap::new();
        for m in &main_commits {
            if m.merge {
                continue;
            }
            let oid = Oid::from_str(&m.sha).map_err(|e| e.message().to_string())?;
            for k in m.ticket.iter().chain(m.mentions.iter()) {
                by_key.entry(k.as_str()).or_default().push(oid);
            }
        }
        let t_paths = t0.elapsed();

        // First release tag containing each release commit.
        let mut first_tag: HashMap<Oid, String> = HashMap::new();
        for (tag, oid) in tags {
            if *oid == bp {
                continue;
            }
            for c in self.walk_set(*oid, &[bp])? {
                if release_set.contains(&c) {
                    first_tag.entry(c).or_insert_with(|| tag.name.clone());
                }
            }
        }

        let mut commits = Vec::with_capacity(release_order.len());
        for oid in &release_order {
            let oid = *oid;
            let f = self.facts(oid)?.clone();
            let a = rel_attr.get(&oid).cloned().unwrap_or(Attribution {
                arrived: oid,
                ..Attribution::default()
            });
            let merge = f.parents.len() > 1;
            let mut rc = ReleaseCommit {
                sha: oid.to_string(),
                subject: f.subject().to_string(),
                time: f.time,
                merge,
                mentions: mentions(self.t.policy, &f.message, a.ticket.as_deref()),
                ticket: a.ticket.clone(),
                via: a.via.map(|v| v.to_string()),
                matched: None,
                candidates: Vec::new(),
                direction: None,
                first_tag: first_tag.get(&oid).cloned(),
                reverts: None,
                reverted_by: None,
            };
            if !merge {
                let related: HashSet<Oid> = rc
                    .ticket
                    .iter()
                    .chain(rc.mentions.iter())
                    .flat_map(|k| by_key.get(k.as_str()).into_iter().flatten().copied())
                    .collect();
                let found = self.counterpart(
                    oid,
                    &f,
                    &not_on_main,
                    &main_set,
                    &related,
                    &by_paths,
                    &merges_by_paths,
                    &by_subject,
                )?;
                if let Some((kind, mut cands)) = found {
                    // Prefer a candidate of the same ticket, then the latest.
                    cands.sort_by_key(|c| {
                        let same_ticket = main_attr
                            .get(c)
                            .and_then(|x| x.ticket.as_deref())
                            .is_some_and(|t| {
                                Some(t) == a.ticket.as_deref() || rc.mentions.iter().any(|m| m == t)
                            });
                        (
                            std::cmp::Reverse(same_ticket),
                            std::cmp::Reverse(main_time.get(c).copied().unwrap_or(0)),
                        )
                    });
                    let main = cands[0];
                    // Direction: which side had it first.
                    let (release_at, main_at) = if kind == MatchKind::SameCommit {
                        let r = self.facts(a.arrived)?.time;
                        let m = main_attr.get(&main).map(|x| x.arrived).unwrap_or(main);
                        (r, self.facts(m)?.time)
                    } else {
                        (f.time, main_time.get(&main).copied().unwrap_or(f.time))
                    };
                    rc.direction = Some(if release_at < main_at {
                        Direction::ForwardPort
                    } else {
                        Direction::Backport
                    });
                    let confidence = if cands.len() > 1 && kind == MatchKind::Subject {
                        0.5
                    } else {
                        kind.confidence()
                    };
                    rc.matched = Some(Match {
                        kind,
                        main_commit: main.to_string(),
                        confidence,
                    });
                    rc.candidates = cands[1..]
                        .iter()
                        .map(|c| Candidate {
                            main_commit: c.to_string(),
                            kind,
                        })
                        .collect();
                }
                if let Some(target) = text::reverted_commit(&f.message) {
                    rc.reverts = release_order
                        .iter()
                        .find(|o| o.to_string().starts_with(&target))
                        .map(|o| o.to_string());
                }
            }
            commits.push(rc);
        }
        // Link reverts both ways.
        let reverts: Vec<(String, String)> = commits
            .iter()
            .filter_map(|c| c.reverts.clone().map(|t| (t, c.sha.clone())))
            .collect();
        for (target, by) in reverts {
            if let Some(c) = commits.iter_mut().find(|c| c.sha == target) {
                c.reverted_by = Some(by);
            }
        }
        tracing::debug!(
            repo = %self.t.repo,
            branch_point = ?t_bp,
            main_side = ?t_main,
            paths = ?t_paths,
            total = ?t0.elapsed(),
            main_commits = main_commits.len(),
            "scanned"
        );
        out.main_commits = main_commits;
        out.release_commits = commits;
        Ok(())
    }

    /// The strongest evidence for `oid`'s main-side counterpart, and every candidate with it.
    #[allow(clippy::too_many_arguments)]
    fn counterpart(
        &mut self,
        oid: Oid,
        f: &CommitFacts,
        not_on_main: &HashSet<Oid>,
        main_set: &HashSet<Oid>,
        related: &HashSet<Oid>,
        by_paths: &HashMap<String, Vec<Oid>>,
        merges_by_paths: &HashMap<String, Vec<Oid>>,
        by_subject: &HashMap<String, Vec<Oid>>,
    ) -> Res<Option<(MatchKind, Vec<Oid>)>> {
        if !not_on_main.contains(&oid) {
            return Ok(Some((MatchKind::SameCommit, vec![oid])));
        }
        let trailers: Vec<Oid> = text::cherry_picked_from(&f.message)
            .iter()
            .filter_map(|t| {
                main_set
                    .iter()
                    .find(|m| m.to_string().starts_with(t.as_str()))
                    .copied()
            })
            .collect();
        if !trailers.is_empty() {
            return Ok(Some((MatchKind::Trailer, trailers)));
        }
        let paths = self.paths(oid)?;
        if let Some(cands) = by_paths.get(&paths) {
            let (pid, lines) = self.patch(oid)?;
            let mut same_patch = Vec::new();
            let mut same_lines = Vec::new();
            // The commit's own ticket first; an equal patch there settles it without computing
            // the patch-ids of every other commit that touched the same files.
            let (mine, others): (Vec<Oid>, Vec<Oid>) =
                cands.iter().partition(|c| related.contains(c));
            for (i, group) in [mine, others].into_iter().enumerate() {
                if i == 1 && !same_patch.is_empty() {
                    break;
                }
                for c in group {
                    let (p, l) = self.patch(c)?;
                    if p == pid {
                        same_patch.push(c);
                    } else if l == lines {
                        same_lines.push(c);
                    }
                }
            }
            if !same_patch.is_empty() {
                return Ok(Some((MatchKind::PatchId, same_patch)));
            }
            if !same_lines.is_empty() {
                return Ok(Some((MatchKind::ChangedLines, same_lines)));
            }
        }
        if let Some(cands) = merges_by_paths.get(&paths) {
            let (pid, _) = self.patch(oid)?;
            let mut same = Vec::new();
            for c in cands {
                if self.patch(*c)?.0 == pid {
                    same.push(*c);
                }
            }
            if !same.is_empty() {
                return Ok(Some((MatchKind::Squash, same)));
            }
        }
        if let Some(cands) = by_subject.get(&text::normalized_subject(f.subject())) {
            return Ok(Some((MatchKind::Subject, cands.clone())));
        }
        Ok(None)
    }
}

/// Keys mentioned in a message, other than the commit's own ticket.
fn mentions(policy: &LoadedPolicy, message: &str, ticket: Option<&str>) -> Vec<String> {
    policy
        .keys_in(message)
        .into_iter()
        .filter(|k| Some(k.as_str()) != ticket)
        .collect()
}

/// Resolve a repository path from the policy: absolute, or relative to the policy's directory.
pub fn resolve_repo_path(policy_dir: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        policy_dir.join(p)
    }
}
