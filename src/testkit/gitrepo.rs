//! Real git repositories built quickly, for the tests, the demo and the benchmarks.
//!
//! [`RepoBuilder`] writes commits straight into the object database through git2: the tree of a
//! new commit is an in-memory [`git2::Index`] read from the parent's tree, the changed files are
//! written as blobs and the index is written back as trees with `write_tree_to`. Nothing is
//! checked out while building (that is what makes thousands of commits quick); [`RepoBuilder::finish`]
//! checks out the wanted branch once at the end. Merges, cherry-picks and reverts use git2's
//! in-memory `merge_commits`, `cherrypick_commit` and `revert_commit`, so they behave like git's,
//! conflicts included.
//!
//! Objects are written loose (git2's default), so that [`remove_loose_object`] can simulate a
//! damaged repository. [`synthetic_campaign`] builds many large repositories for the benchmarks;
//! it keeps their objects in memory and writes one pack per repository instead (indexed by
//! `git index-pack` when git is installed, which is much faster than libgit2's indexer).
//!
//! Commit and tag messages are stored the way `git commit` stores them: trailing whitespace
//! trimmed and exactly one final newline.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{anyhow, bail, Context, Result};
use git2::build::CheckoutBuilder;
use git2::{
    Commit, ErrorCode, Index, IndexEntry, IndexTime, ObjectType, Oid, Repository,
    RepositoryInitOptions, Signature, Time,
};
use rand::distributions::WeightedIndex;
use rand::prelude::*;
use rand_chacha::ChaCha8Rng;

/// 2021-06-01T00:00:00Z, the default time of the first commit.
pub const DEFAULT_START: i64 = 1_622_505_600;
/// Seconds the clock advances with every commit.
pub const COMMIT_STEP: i64 = 60;

/// One change of a commit: a file written whole (path may contain `/`), or deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    Write(&'a str, &'a str),
    Delete(&'a str),
}

/// Builds a non-bare repository commit by commit, without touching its worktree until
/// [`RepoBuilder::finish`].
pub struct RepoBuilder {
    repo: Repository,
    path: PathBuf,
    clock: i64,
    name: String,
    email: String,
}

impl std::fmt::Debug for RepoBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepoBuilder")
            .field("path", &self.path)
            .field("clock", &self.clock)
            .field("identity", &format_args!("{} <{}>", self.name, self.email))
            .finish()
    }
}

impl RepoBuilder {
    /// `git init` (non-bare) at `path` with HEAD -> refs/heads/main, no commits yet. Identity
    /// "Test Dev <dev@example.org>".
    pub fn init(path: &Path) -> Result<RepoBuilder> {
        let mut opts = RepositoryInitOptions::new();
        opts.initial_head("main").mkpath(true);
        let repo = Repository::init_opts(path, &opts)
            .with_context(|| format!("cannot create a git repository at {}", path.display()))?;
        Ok(RepoBuilder {
            repo,
            path: path.to_path_buf(),
            clock: DEFAULT_START,
            name: "Test Dev".into(),
            email: "dev@example.org".into(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn repo(&self) -> &Repository {
        &self.repo
    }

    /// Commit time of the next commit (epoch seconds, UTC). Each commit advances the clock by
    /// 60 s. Default start 2021-06-01T00:00:00Z.
    pub fn set_time(&mut self, epoch_secs: i64) {
        self.clock = epoch_secs;
    }

    pub fn time(&self) -> i64 {
        self.clock
    }

    /// Who authors and commits from now on (default "Test Dev <dev@example.org>"). Cherry-picks
    /// keep the original author; this is their committer.
    pub fn set_identity(&mut self, name: &str, email: &str) {
        self.name = name.to_string();
        self.email = email.to_string();
    }

    /// The current identity at the current clock.
    pub fn signature(&self) -> Result<Signature<'static>> {
        Ok(Signature::new(
            &self.name,
            &self.email,
            &Time::new(self.clock, 0),
        )?)
    }

    /// Create branch `name` at `rev` (a branch name, tag name or sha; anything revparse_single
    /// accepts). Returns the commit. Refuses to move an existing branch.
    pub fn branch(&mut self, name: &str, rev: &str) -> Result<Oid> {
        let target = self.resolve(rev)?;
        self.repo
            .reference(
                &branch_ref(name),
                target,
                false,
                &format!("branch: Created from {rev}"),
            )
            .with_context(|| format!("cannot create branch `{name}` at `{rev}`"))?;
        Ok(target)
    }

    /// Delete branch `name` (as GitHub does after merging a pull request).
    pub fn delete_branch(&mut self, name: &str) -> Result<()> {
        let mut r = self
            .repo
            .find_reference(&branch_ref(name))
            .with_context(|| format!("no branch `{name}`"))?;
        r.delete()?;
        Ok(())
    }

    /// Commit `changes` on top of branch `branch` (creating the branch with a root commit if it
    /// does not exist yet) and move the branch. Returns the new commit.
    pub fn commit(&mut self, branch: &str, message: &str, changes: &[Change<'_>]) -> Result<Oid> {
        let parent = self.tip_opt(branch)?;
        let id = self.commit_on(parent, message, changes)?;
        self.set_branch(branch, id, message, parent.is_none())?;
        Ok(id)
    }

    /// Shorthand: write files.
    pub fn write(&mut self, branch: &str, message: &str, files: &[(&str, &str)]) -> Result<Oid> {
        let changes: Vec<Change<'_>> = files.iter().map(|(p, c)| Change::Write(p, c)).collect();
        self.commit(branch, message, &changes)
    }

    /// A merge commit on `into` whose parents are (tip of into, tip of `from`); `from` is a
    /// branch name or sha. Always a merge commit (`--no-ff`), even when `into` could be fast-
    /// forwarded. Error naming the paths if it conflicts. Moves `into`.
    pub fn merge(&mut self, into: &str, from: &str, message: &str) -> Result<Oid> {
        let ours = self.tip(into)?;
        let theirs = self.resolve(from)?;
        let id = self
            .merge_on(ours, theirs, message)
            .map_err(|e| anyhow!("merging `{from}` into `{into}`: {e:#}"))?;
        self.set_branch(into, id, message, false)?;
        Ok(id)
    }

    /// Apply `commit`'s change onto the tip of `onto` (git2 `cherrypick_commit` against the
    /// commit's first parent), with `message` or the original message; error on conflict. Moves
    /// `onto`. Author = original author, committer = the builder's identity and clock.
    pub fn cherry_pick(&mut self, onto: &str, commit: Oid, message: Option<&str>) -> Result<Oid> {
        self.cherry_pick_with(onto, commit, message, &[])
    }

    /// [`cherry_pick`](Self::cherry_pick), then `extra` changes on top in the same commit: a
    /// backport edited while picking (its patch differs from the original's).
    pub fn cherry_pick_with(
        &mut self,
        onto: &str,
        commit: Oid,
        message: Option<&str>,
        extra: &[Change<'_>],
    ) -> Result<Oid> {
        let ours = self.tip(onto)?;
        let id = self
            .pick_on(ours, commit, message, |repo, index| {
                apply_changes(repo, index, extra)
            })
            .map_err(|e| anyhow!("cherry-picking onto `{onto}`: {e:#}"))?;
        let subject = self
            .repo
            .find_commit(id)?
            .summary()
            .unwrap_or("")
            .to_string();
        self.set_branch(onto, id, &subject, false)?;
        Ok(id)
    }

    /// `git revert`: the inverse of `commit` on top of `onto`, message
    /// `Revert "<subject>"\n\nThis reverts commit <sha>.` Moves `onto`.
    pub fn revert(&mut self, onto: &str, commit: Oid) -> Result<Oid> {
        let ours = self.tip(onto)?;
        let (tree, msg) = {
            let c = self
                .repo
                .find_commit(commit)
                .with_context(|| format!("no commit {commit}"))?;
            let o = self.repo.find_commit(ours)?;
            let mut index = self.repo.revert_commit(&c, &o, mainline(&c), None)?;
            check_conflicts(&index, || format!("reverting {commit} on `{onto}`"))?;
            let tree = index.write_tree_to(&self.repo)?;
            let subject = c.summary().unwrap_or_default().to_string();
            (
                tree,
                format!("Revert \"{subject}\"\n\nThis reverts commit {commit}."),
            )
        };
        let id = self.create_commit(&[ours], tree, &msg, None)?;
        self.set_branch(onto, id, &msg, false)?;
        Ok(id)
    }

    /// Annotated tag `name` at `rev` (peeled to its commit) with `message`, tagged by the
    /// builder's identity at its clock. Refuses to move an existing tag.
    pub fn tag(&mut self, name: &str, rev: &str, message: &str) -> Result<Oid> {
        let target = self.resolve(rev)?;
        self.tag_commit(name, target, message)
            .map_err(|e| anyhow!("cannot create tag `{name}` at `{rev}`: {e:#}"))
    }

    /// [`tag`](Self::tag) of a commit given by id.
    pub fn tag_commit(&mut self, name: &str, commit: Oid, message: &str) -> Result<Oid> {
        let refname = format!("refs/tags/{name}");
        if self.repo.find_reference(&refname).is_ok() {
            bail!("tag `{name}` already exists; tags are never moved");
        }
        let obj = self.repo.find_object(commit, Some(ObjectType::Commit))?;
        let sig = self.signature()?;
        Ok(self
            .repo
            .tag(name, &obj, &sig, &normalize_message(message), false)?)
    }

    // --- Detached building: commits made without touching any reference. Branch tips are then
    // kept by the caller and published with `set_branch`: far fewer file writes when building
    // thousands of commits on short-lived ticket branches.

    /// A commit of `changes` on top of `parent` (a root commit if `None`); no reference moves.
    pub fn commit_on(
        &mut self,
        parent: Option<Oid>,
        message: &str,
        changes: &[Change<'_>],
    ) -> Result<Oid> {
        let mut index = Index::new()?;
        if let Some(p) = parent {
            let tree = self.repo.find_commit(p)?.tree()?;
            index.read_tree(&tree)?;
        }
        apply_changes(&self.repo, &mut index, changes)?;
        let tree = index.write_tree_to(&self.repo)?;
        let parents: Vec<Oid> = parent.into_iter().collect();
        self.create_commit(&parents, tree, message, None)
    }

    /// A merge commit with parents (`ours`, `theirs`); error naming the paths on conflict; no
    /// reference moves.
    pub fn merge_on(&mut self, ours: Oid, theirs: Oid, message: &str) -> Result<Oid> {
        let tree = {
            let o = self.repo.find_commit(ours)?;
            let t = self.repo.find_commit(theirs)?;
            let mut index = self.repo.merge_commits(&o, &t, None)?;
            check_conflicts(&index, || format!("merging {theirs} into {ours}"))?;
            index.write_tree_to(&self.repo)?
        };
        self.create_commit(&[ours, theirs], tree, message, None)
    }

    /// A cherry-pick of `commit` on top of `onto` (see [`cherry_pick`](Self::cherry_pick)); no
    /// reference moves.
    pub fn cherry_pick_on(&mut self, onto: Oid, commit: Oid, message: Option<&str>) -> Result<Oid> {
        self.pick_on(onto, commit, message, |_, _| Ok(()))
    }

    /// The general cherry-pick: `edit` may change the picked index before it is committed.
    fn pick_on(
        &mut self,
        ours: Oid,
        commit: Oid,
        message: Option<&str>,
        edit: impl FnOnce(&Repository, &mut Index) -> Result<()>,
    ) -> Result<Oid> {
        let (tree, author, msg) = {
            let c = self
                .repo
                .find_commit(commit)
                .with_context(|| format!("no commit {commit}"))?;
            let o = self.repo.find_commit(ours)?;
            let mut index = self
                .repo
                .cherrypick_commit(&c, &o, mainline(&c), None)
                .with_context(|| format!("cannot cherry-pick {commit}"))?;
            check_conflicts(&index, || format!("cherry-picking {commit}"))?;
            edit(&self.repo, &mut index)?;
            let tree = index.write_tree_to(&self.repo)?;
            let msg = match message {
                Some(m) => m.to_string(),
                None => String::from_utf8_lossy(c.message_bytes()).into_owned(),
            };
            let author = c.author().to_owned();
            (tree, author, msg)
        };
        self.create_commit(&[ours], tree, &msg, Some(author))
    }

    /// Point branch `name` at `commit` (created or moved).
    pub fn set_branch(
        &mut self,
        name: &str,
        commit: Oid,
        message: &str,
        initial: bool,
    ) -> Result<()> {
        let subject = message.lines().next().unwrap_or_default();
        let kind = if initial {
            "commit (initial)"
        } else if self.repo.find_commit(commit)?.parent_count() > 1 {
            "commit (merge)"
        } else {
            "commit"
        };
        self.repo
            .reference(
                &branch_ref(name),
                commit,
                true,
                &format!("{kind}: {subject}"),
            )
            .with_context(|| format!("cannot move branch `{name}`"))?;
        Ok(())
    }

    /// Content of `path` in commit `commit`.
    pub fn read_at(&self, commit: Oid, path: &str) -> Result<String> {
        let commit = self.repo.find_commit(commit)?;
        let entry = commit
            .tree()?
            .get_path(Path::new(path))
            .with_context(|| format!("no file `{path}` in {}", commit.id()))?;
        let blob = self.repo.find_blob(entry.id())?;
        String::from_utf8(blob.content().to_vec())
            .with_context(|| format!("`{path}` in {} is not UTF-8", commit.id()))
    }

    /// The commit branch `branch` points at.
    pub fn tip(&self, branch: &str) -> Result<Oid> {
        self.tip_opt(branch)?
            .ok_or_else(|| anyhow!("no branch `{branch}`"))
    }

    /// Content of `path` at `rev`.
    pub fn read(&self, rev: &str, path: &str) -> Result<String> {
        self.read_at(self.resolve(rev)?, path)
            .map_err(|e| anyhow!("reading `{path}` at `{rev}`: {e:#}"))
    }

    /// Point HEAD at `branch` and force-checkout so the worktree is clean (call once at the
    /// end; call again after further commits to the same branch).
    pub fn finish(&mut self, head_branch: &str) -> Result<()> {
        self.tip(head_branch)?;
        self.repo.set_head(&branch_ref(head_branch))?;
        let mut co = CheckoutBuilder::new();
        co.force();
        self.repo
            .checkout_head(Some(&mut co))
            .with_context(|| format!("cannot check out `{head_branch}`"))?;
        Ok(())
    }

    /// Write every object reachable from the references into one pack in `objects/pack`, as
    /// `git repack` would; with `prune_loose`, delete the loose objects afterwards (as
    /// `git prune-packed` plus `git prune` would: unreachable loose objects go too).
    pub fn pack_objects(&self, prune_loose: bool) -> Result<()> {
        write_pack(&self.repo)?;
        if prune_loose {
            let objects = self.repo.path().join("objects");
            for entry in std::fs::read_dir(&objects)? {
                let entry = entry?;
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.len() == 2 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
                    std::fs::remove_dir_all(entry.path())?;
                }
            }
        }
        Ok(())
    }

    // --- internals ---

    fn tip_opt(&self, branch: &str) -> Result<Option<Oid>> {
        match self.repo.find_reference(&branch_ref(branch)) {
            Ok(r) => Ok(Some(r.peel_to_commit()?.id())),
            Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
            Err(e) => Err(anyhow::Error::new(e).context(format!("bad branch name `{branch}`"))),
        }
    }

    /// A branch name first (so that `main` is the branch even if a tag says otherwise), else
    /// anything `revparse_single` accepts; peeled to a commit.
    fn resolve(&self, rev: &str) -> Result<Oid> {
        if let Ok(Some(id)) = self.tip_opt(rev) {
            return Ok(id);
        }
        let obj = self
            .repo
            .revparse_single(rev)
            .with_context(|| format!("no such revision `{rev}`"))?;
        Ok(obj
            .peel_to_commit()
            .with_context(|| format!("`{rev}` is not a commit"))?
            .id())
    }

    /// Create the commit and advance the clock; no reference moves.
    fn create_commit(
        &mut self,
        parents: &[Oid],
        tree: Oid,
        message: &str,
        author: Option<Signature<'static>>,
    ) -> Result<Oid> {
        let committer = self.signature()?;
        let author = author.unwrap_or_else(|| committer.clone());
        let tree = self.repo.find_tree(tree)?;
        let parents: Vec<Commit<'_>> = parents
            .iter()
            .map(|p| self.repo.find_commit(*p))
            .collect::<std::result::Result<_, _>>()?;
        let parent_refs: Vec<&Commit<'_>> = parents.iter().collect();
        let id = self.repo.commit(
            None,
            &author,
            &committer,
            &normalize_message(message),
            &tree,
            &parent_refs,
        )?;
        self.clock += COMMIT_STEP;
        Ok(id)
    }
}

fn branch_ref(name: &str) -> String {
    format!("refs/heads/{name}")
}

/// Trailing whitespace trimmed, one final newline: what `git commit` stores.
fn normalize_message(message: &str) -> String {
    format!("{}\n", message.trim_end())
}

/// Cherry-picks and reverts of merges are taken against their first parent.
fn mainline(c: &Commit<'_>) -> u32 {
    if c.parent_count() > 1 {
        1
    } else {
        0
    }
}

fn index_entry(path: &str, id: Oid, size: usize) -> IndexEntry {
    IndexEntry {
        ctime: IndexTime::new(0, 0),
        mtime: IndexTime::new(0, 0),
        dev: 0,
        ino: 0,
        mode: 0o100644,
        uid: 0,
        gid: 0,
        file_size: size as u32,
        id,
        flags: path.len().min(0xfff) as u16,
        flags_extended: 0,
        path: path.as_bytes().to_vec(),
    }
}

/// Apply changes to an in-memory index. The blobs are written with `Repository::blob`:
/// `Index::add_frombuffer` needs an index owned by a repository (git_index_add_from_buffer
/// refuses an in-memory one), so the blob is written first and its entry added.
fn apply_changes(repo: &Repository, index: &mut Index, changes: &[Change<'_>]) -> Result<()> {
    for change in changes {
        match *change {
            Change::Write(path, content) => {
                if path.is_empty() || path.starts_with('/') || path.ends_with('/') {
                    bail!("bad path `{path}`");
                }
                let id = repo.blob(content.as_bytes())?;
                index
                    .add(&index_entry(path, id, content.len()))
                    .with_context(|| format!("cannot add `{path}`"))?;
            }
            Change::Delete(path) => {
                if index.get_path(Path::new(path), 0).is_none() {
                    bail!("cannot delete `{path}`: no such file");
                }
                index.remove(Path::new(path), 0)?;
            }
        }
    }
    Ok(())
}

fn check_conflicts(index: &Index, what: impl FnOnce() -> String) -> Result<()> {
    if !index.has_conflicts() {
        return Ok(());
    }
    let mut paths = Vec::new();
    for c in index.conflicts()? {
        let c = c?;
        if let Some(e) = c.our.or(c.their).or(c.ancestor) {
            paths.push(String::from_utf8_lossy(&e.path).into_owned());
        }
    }
    paths.sort();
    paths.dedup();
    bail!("conflict {}: {}", what(), paths.join(", "))
}

/// One pack of everything reachable from the references (annotated tags included), in the
/// repository's `objects/pack`.
///
/// libgit2 builds the pack (with deltas) in memory; `git index-pack` indexes it, several times
/// faster than libgit2's indexer, which maps the pack window by window for every object and
/// spends most of its time in mmap/munmap when several repositories are packed at once.
/// Without a `git` command, libgit2's indexer does it.
fn write_pack(repo: &Repository) -> Result<()> {
    write_pack_via(repo, true)
}

/// [`write_pack`], indexing with `git index-pack` (when `use_git` and git is installed) or
/// with libgit2.
fn write_pack_via(repo: &Repository, use_git: bool) -> Result<()> {
    let mut walk = repo.revwalk()?;
    walk.push_glob("refs/*")?;
    let mut pb = repo.packbuilder()?;
    pb.set_threads(1);
    pb.insert_walk(&mut walk)?;
    for r in repo.references_glob("refs/tags/*")? {
        let r = r?;
        if let Some(id) = r.target() {
            if repo.find_tag(id).is_ok() {
                pb.insert_object(id, None)?;
            }
        }
    }
    let dir = repo.path().join("objects").join("pack");
    std::fs::create_dir_all(&dir)?;
    let mut buf = git2::Buf::new();
    pb.write_buf(&mut buf)?;
    if use_git {
        let spawned = std::process::Command::new("git")
            .arg("--git-dir")
            .arg(repo.path())
            .args(["index-pack", "--stdin", "--threads=1"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn();
        match spawned {
            Ok(mut child) => {
                if let Some(mut stdin) = child.stdin.take() {
                    std::io::Write::write_all(&mut stdin, &buf)?;
                }
                let out = child.wait_with_output()?;
                if !out.status.success() {
                    bail!(
                        "git index-pack failed in {}: {}",
                        repo.path().display(),
                        String::from_utf8_lossy(&out.stderr).trim()
                    );
                }
                return Ok(());
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(anyhow::Error::new(e).context("cannot run git index-pack")),
        }
    }
    let mut indexer = git2::Indexer::new(None, &dir, 0, false)?;
    std::io::Write::write_all(&mut indexer, &buf)?;
    indexer.commit()?;
    Ok(())
}

/// Make `dst` a shallow copy of `src`: copy the repository directory (worktree and `.git`),
/// then write `.git/shallow` listing `graft`, so that `Repository::is_shallow()` is true.
///
/// Only the shallow file is written; the objects of the commits older than `graft` stay in the
/// copy. That is enough: both git and libgit2 (≥ 1.7) read the shallow file as grafts and treat
/// `graft` as a commit without parents, so `git log`, `rev-list` and git2 revwalks stop there,
/// exactly as in a `git clone --depth` clone.
pub fn make_shallow(src: &Path, dst: &Path, graft: Oid) -> Result<()> {
    if dst.exists() && std::fs::read_dir(dst)?.next().is_some() {
        bail!("{} exists and is not empty", dst.display());
    }
    copy_dir(src, dst)
        .with_context(|| format!("cannot copy {} to {}", src.display(), dst.display()))?;
    let repo = Repository::open(dst)?;
    repo.find_commit(graft)
        .with_context(|| format!("{graft} is not a commit of {}", src.display()))?;
    std::fs::write(repo.path().join("shallow"), format!("{graft}\n"))?;
    Ok(())
}

fn copy_dir(src: &Path, dst: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dst)?;
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let to = dst.join(entry.file_name());
        let ty = entry.file_type()?;
        if ty.is_dir() {
            copy_dir(&entry.path(), &to)?;
        } else if ty.is_symlink() {
            #[cfg(unix)]
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &to)?;
        } else {
            std::fs::copy(entry.path(), &to)?;
        }
    }
    Ok(())
}

/// Delete the loose object file of `oid` in the repository at `path` (to simulate missing
/// objects). Error if it is not loose.
pub fn remove_loose_object(path: &Path, oid: Oid) -> Result<()> {
    let repo = Repository::open(path)
        .with_context(|| format!("no git repository at {}", path.display()))?;
    let hex = oid.to_string();
    let file = repo.path().join("objects").join(&hex[..2]).join(&hex[2..]);
    if !file.is_file() {
        bail!("{oid} is not a loose object of {}", path.display());
    }
    std::fs::remove_file(&file).with_context(|| format!("cannot delete {}", file.display()))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Synthetic release campaign
// ---------------------------------------------------------------------------------------------

/// What a synthetic repository got; see [`synthetic_campaign_stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepoStats {
    pub name: String,
    pub main_commits: usize,
    pub main_tickets: usize,
    /// Non-merge commits on the release branch after the branch point.
    pub release_commits: usize,
    pub backport_tickets: usize,
    pub clean_picks: usize,
    pub edited_picks: usize,
    pub release_only: usize,
}

/// Build `repos` repositories `dir/repos/pkg_00`, `dir/repos/pkg_01`, … of a synthetic release
/// campaign, deterministically from `seed`; returns their paths. See
/// [`synthetic_campaign_stats`] for what they contain.
pub fn synthetic_campaign(
    dir: &Path,
    repos: usize,
    main_commits: usize,
    backports: usize,
    seed: u64,
) -> Result<Vec<PathBuf>> {
    Ok(
        synthetic_campaign_stats(dir, repos, main_commits, backports, seed)?
            .into_iter()
            .map(|s| dir.join("repos").join(s.name))
            .collect(),
    )
}

/// [`synthetic_campaign`], returning what each repository got.
///
/// Each repository has `main` of exactly `main_commits` commits (a root commit, direct commits
/// and ticket branches `tickets/DM-<n>` of 1–3 commits merged with `--no-ff` merges
/// `Merge pull request #<k> from lsst/tickets/DM-<n>`; about 60 % of the non-merge commits are
/// on tickets), about 50 files in a few directories, each commit editing a few lines of 1–3
/// files. `v23.0.0.rc1` tags the main commit about 70 % along, where `v23.0.x` branches off.
/// The release branch then gets backports while main goes on: pull requests from
/// `tickets/DM-<n>-v23` (made from the release tip) with cherry-picks of a main ticket's commits
/// (about 10 % edited while picking), or release-only commits (about 8 %, such as "Pin moto<3
/// for tests"), merged with `Merge pull request #<k> from lsst/tickets/DM-<n>-v23`. Unedited
/// picks apply cleanly and have the same patch id as their original (`git cherry` shows `-`);
/// edited picks and release-only commits do not (`+`). Tags `23.0.0` (at 40 % of the
/// repository's backports) and `23.0.1` (at 80 %) are on the release branch. Across the
/// repositories there are exactly `backports` non-merge commits on the release branches,
/// spread unevenly. Only `main`, `v23.0.x` and the tags remain as references (ticket branches
/// are gone, as after merging on GitHub); HEAD is `main`, checked out. Author and committer
/// times advance by minutes to hours between pull requests, from 2021-06-01.
///
/// The commits are built detached (branch tips kept in memory, references written at the end)
/// with the objects in memory, then written as one pack per repository with deltas, as in a
/// fresh clone (so [`remove_loose_object`] does not apply to these). Repositories are built in
/// parallel, one per core.
pub fn synthetic_campaign_stats(
    dir: &Path,
    repos: usize,
    main_commits: usize,
    backports: usize,
    seed: u64,
) -> Result<Vec<RepoStats>> {
    synthetic_campaign_sized(dir, &vec![main_commits; repos], backports, seed)
}

/// [`synthetic_campaign_stats`] with a size of `main` for each repository (`sizes[i]` commits
/// for `pkg_<i>`), for campaigns where a few repositories are much larger than the rest.
pub fn synthetic_campaign_sized(
    dir: &Path,
    sizes: &[usize],
    backports: usize,
    seed: u64,
) -> Result<Vec<RepoStats>> {
    let repos = sizes.len();
    if sizes.iter().any(|&n| n < 10) {
        bail!("a synthetic repository needs at least 10 commits on main");
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let quotas = split_backports(&mut rng, repos, backports);
    let jobs: Vec<(usize, u64, usize)> = (0..repos).map(|i| (i, rng.gen(), quotas[i])).collect();
    // Largest first, so that the biggest repository does not start last on its own core.
    let mut order: Vec<usize> = (0..repos).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(sizes[i]));
    let jobs: Vec<(usize, u64, usize)> = order.into_iter().map(|i| jobs[i]).collect();
    let root = dir.join("repos");
    std::fs::create_dir_all(&root)?;

    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(repos.max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<RepoStats>>>> =
        Mutex::new((0..repos).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(&(idx, repo_seed, quota)) = jobs.get(i) else {
                    break;
                };
                let name = format!("pkg_{idx:02}");
                let r =
                    build_synthetic_repo(&root.join(&name), &name, sizes[idx], quota, repo_seed)
                        .with_context(|| format!("building {name}"));
                let failed = r.is_err();
                if let Ok(mut all) = results.lock() {
                    all[idx] = Some(r);
                }
                if failed {
                    next.store(usize::MAX / 2, Ordering::SeqCst);
                }
            });
        }
    });
    let results = results
        .into_inner()
        .map_err(|_| anyhow!("a generator thread panicked"))?;
    let mut out = Vec::with_capacity(repos);
    for r in results {
        match r {
            Some(r) => out.push(r?),
            None => bail!("a repository was not generated (an earlier one failed)"),
        }
    }
    Ok(out)
}

/// Spread `total` release commits over `repos`, unevenly (a few repositories get most).
fn split_backports(rng: &mut ChaCha8Rng, repos: usize, total: usize) -> Vec<usize> {
    let mut quotas = vec![0usize; repos];
    if repos == 0 {
        return quotas;
    }
    let weights: Vec<f64> = (0..repos)
        .map(|_| 0.05 + rng.gen::<f64>().powi(3))
        .collect();
    let dist = WeightedIndex::new(&weights).expect("positive weights");
    for _ in 0..total {
        quotas[dist.sample(rng)] += 1;
    }
    quotas
}

const NOUNS: &[&str] = &[
    "bbox",
    "exposure",
    "psf",
    "catalog",
    "dataset",
    "visit",
    "detector",
    "wcs",
    "mask",
    "variance",
    "background",
    "footprint",
    "flux",
    "aperture",
    "schema",
    "collection",
    "registry",
    "datastore",
    "template",
    "coadd",
    "warp",
    "source",
    "flat",
    "bias",
    "dark",
    "fringe",
    "skymap",
    "tract",
    "patch",
    "band",
    "pixel",
    "kernel",
    "metadata",
    "quantum",
    "graph",
    "pipeline",
    "connection",
    "refcat",
    "astrometry",
    "photometry",
    "centroid",
    "shape",
    "ellipse",
    "image",
    "amplifier",
    "crosstalk",
    "defect",
    "overscan",
    "gain",
    "noise",
];
const VERBS: &[&str] = &[
    "compute",
    "get",
    "make",
    "run",
    "read",
    "write",
    "apply",
    "fit",
    "measure",
    "select",
    "match",
    "load",
    "build",
    "check",
    "update",
    "transform",
    "merge",
    "find",
    "scale",
    "clip",
];
const WORDS: &[&str] = &[
    "the", "a", "of", "to", "is", "for", "with", "when", "not", "if", "in", "and", "this", "that",
    "must", "be", "are", "from", "each", "per", "only", "all", "no", "value", "values", "input",
    "output", "result", "default", "missing", "invalid", "expected", "number", "list",
];
const DEVS: &[(&str, &str)] = &[
    ("Mara Lindqvist", "mlindqvist@example.org"),
    ("Tomas Okafor", "tokafor@example.org"),
    ("Priya Raman", "praman@example.org"),
    ("Hugo Brandt", "hbrandt@example.org"),
    ("Elena Sato", "esato@example.org"),
    ("Ana Ruiz", "aruiz@example.org"),
    ("Kofi Mensah", "kmensah@example.org"),
    ("Lena Fischer", "lfischer@example.org"),
    ("Ravi Iyer", "riyer@example.org"),
    ("Jonas Berg", "jberg@example.org"),
];
const RELEASE_ONLY: &[(&str, FileKind)] = &[
    ("Pin moto<3 for tests", FileKind::Requirements),
    (
        "Pin numpy<1.22 on the release branch",
        FileKind::Requirements,
    ),
    ("Skip test that needs a newer astropy", FileKind::Test),
    (
        "Relax tolerance in test for older compilers",
        FileKind::Test,
    ),
    ("Update ups table for the v23 release", FileKind::Table),
    (
        "Work around deprecation warning on the release branch",
        FileKind::Python,
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Python,
    Test,
    Doc,
    Config,
    Requirements,
    Table,
    Other,
}

struct SynthFile {
    path: String,
    kind: FileKind,
    lines: Vec<String>,
    /// Per line: 0 when it is the same on `main` and on the release branch, else the id of the
    /// change on `main` that made it differ (a ticket number, or 1 for a direct commit). A
    /// ticket meant for backporting edits only where lines are 0 or its own, so that its
    /// cherry-picks apply cleanly (and with the same patch id) as most real backports do.
    owner: Vec<u32>,
}

/// Lines within this distance of a backportable hunk must be unchanged since the branch point
/// (git's diff context, so that `git cherry` also finds the pick equivalent).
const CONTEXT: usize = 3;

fn window_free(owner: &[u32], lo: usize, hi: usize, t: u32) -> bool {
    let lo = lo.saturating_sub(CONTEXT);
    let hi = (hi + CONTEXT).min(owner.len());
    owner[lo..hi].iter().all(|&o| o == 0 || o == t)
}

struct Synth {
    rng: ChaCha8Rng,
    files: Vec<SynthFile>,
    weights: WeightedIndex<f64>,
}

impl Synth {
    fn new(pkg: &str, seed: u64) -> Synth {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut nouns: Vec<&str> = NOUNS.to_vec();
        nouns.shuffle(&mut rng);
        let mut specs: Vec<(String, FileKind)> = Vec::new();
        for n in &nouns[..22] {
            specs.push((format!("python/lsst/{pkg}/{n}.py"), FileKind::Python));
        }
        for n in &nouns[22..28] {
            specs.push((
                format!("python/lsst/{pkg}/tasks/{n}Task.py"),
                FileKind::Python,
            ));
        }
        for n in &nouns[..12] {
            specs.push((format!("tests/test_{n}.py"), FileKind::Test));
        }
        for n in &nouns[28..33] {
            specs.push((format!("doc/lsst.{pkg}/{n}.rst"), FileKind::Doc));
        }
        for n in &nouns[33..36] {
            specs.push((format!("config/{n}.py"), FileKind::Config));
        }
        specs.push(("README.rst".into(), FileKind::Doc));
        specs.push(("requirements.txt".into(), FileKind::Requirements));
        specs.push((format!("ups/{pkg}.table"), FileKind::Table));
        specs.push(("setup.cfg".into(), FileKind::Other));
        specs.push(("pyproject.toml".into(), FileKind::Other));
        specs.push((".github/workflows/build.yaml".into(), FileKind::Other));
        let weights: Vec<f64> = specs
            .iter()
            .map(|(_, k)| match k {
                FileKind::Python => 3.0,
                FileKind::Test => 2.0,
                FileKind::Doc => 1.0,
                FileKind::Config => 1.0,
                _ => 0.3,
            })
            .collect();
        let mut synth = Synth {
            rng,
            files: Vec::new(),
            weights: WeightedIndex::new(&weights).expect("positive weights"),
        };
        for (path, kind) in specs {
            let n = match kind {
                FileKind::Python => synth.rng.gen_range(40..180),
                FileKind::Test => synth.rng.gen_range(30..110),
                FileKind::Doc => synth.rng.gen_range(15..60),
                FileKind::Config => synth.rng.gen_range(10..40),
                _ => synth.rng.gen_range(5..20),
            };
            let lines = (0..n).map(|_| synth.line(kind)).collect();
            synth.files.push(SynthFile {
                path,
                kind,
                lines,
                owner: vec![0; n],
            });
        }
        synth
    }

    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[self.rng.gen_range(0..list.len())]
    }

    fn ident(&mut self) -> String {
        let a = self.pick(VERBS);
        let b = self.pick(NOUNS);
        format!("{a}_{b}")
    }

    fn var(&mut self) -> String {
        let a = self.pick(NOUNS);
        if self.rng.gen_bool(0.3) {
            let b = self.pick(NOUNS);
            format!("{a}_{b}")
        } else {
            a.to_string()
        }
    }

    fn phrase(&mut self, n: usize) -> String {
        let mut w: Vec<&str> = Vec::with_capacity(n);
        for i in 0..n {
            w.push(if i % 3 == 1 {
                self.pick(NOUNS)
            } else {
                self.pick(WORDS)
            });
        }
        w.join(" ")
    }

    fn class(&mut self) -> String {
        let n = self.pick(NOUNS);
        let mut c = n[..1].to_uppercase();
        c.push_str(&n[1..]);
        c
    }

    /// One line of a file of this kind.
    fn line(&mut self, kind: FileKind) -> String {
        let ind = ["    ", "        ", "            "][self.rng.gen_range(0..3)];
        let num = self.rng.gen_range(0..2048);
        match kind {
            FileKind::Python | FileKind::Test | FileKind::Config => {
                if self.rng.gen_bool(0.08) {
                    return String::new();
                }
                let roll = self.rng.gen_range(0..12);
                if kind == FileKind::Test && roll < 4 {
                    let v = self.var();
                    return match roll {
                        0 => format!("{ind}self.assertEqual({v}, {num})"),
                        1 => format!("{ind}self.assertIsNotNone({v})"),
                        2 => {
                            let f = self.ident();
                            format!("    def test_{f}(self):")
                        }
                        _ => format!("{ind}self.assertAlmostEqual({v}, {num}.{num}, places=5)"),
                    };
                }
                if kind == FileKind::Config && roll < 6 {
                    let v = self.var();
                    return format!("config.{v}.{} = {num}", self.var());
                }
                match roll {
                    0 => {
                        let (v, f, w) = (self.var(), self.ident(), self.var());
                        format!("{ind}{v} = self.{f}({w}, {num})")
                    }
                    1 => format!("{ind}if {} is None:", self.var()),
                    2 => format!("{ind}    raise RuntimeError(\"{}\")", self.phrase(5)),
                    3 => format!("{ind}# {}", self.phrase(7)),
                    4 => format!("{ind}return {}", self.var()),
                    5 => {
                        let p = self.phrase(4);
                        format!("{ind}self.log.info(\"{p}: %s\", {})", self.var())
                    }
                    6 => {
                        let (f, v, w) = (self.ident(), self.var(), self.var());
                        format!("    def {f}(self, {v}, {w}=None):")
                    }
                    7 => {
                        let (v, w, a) = (self.var(), self.var(), self.pick(NOUNS));
                        format!("{ind}{v} = {w}.{a}[{num}]")
                    }
                    8 => format!("{ind}for {} in {}:", self.pick(NOUNS), self.var()),
                    9 => format!("class {}Task(pipeBase.PipelineTask):", self.class()),
                    10 => {
                        let (v, c) = (self.var(), self.class());
                        format!("{ind}{v} = {c}Config().{}", self.pick(NOUNS))
                    }
                    _ => format!("{ind}\"\"\"{}.\"\"\"", self.phrase(6)),
                }
            }
            FileKind::Doc => match self.rng.gen_range(0..6) {
                0 => String::new(),
                1 => format!("* ``{}``: {}.", self.ident(), self.phrase(6)),
                _ => {
                    let p = self.phrase(10);
                    let mut s = p[..1].to_uppercase();
                    s.push_str(&p[1..]);
                    s.push('.');
                    s
                }
            },
            FileKind::Requirements => {
                let n = self.pick(NOUNS);
                format!("{n}-lib>={}.{}", num % 7, num % 23)
            }
            FileKind::Table => format!("setupRequired({}_{})", self.pick(VERBS), self.pick(NOUNS)),
            FileKind::Other => format!("{} = {}", self.ident(), num),
        }
    }

    /// Edit a few lines (1–2 hunks replacing, inserting or deleting a run of lines), marking
    /// them with `id` in `owner` (parallel to `lines`). With `only`, a hunk goes only where the
    /// lines around it are owned by 0 or `only`. Returns whether anything changed.
    fn edit_lines(
        &mut self,
        lines: &mut Vec<String>,
        owner: &mut Vec<u32>,
        kind: FileKind,
        id: u32,
        only: Option<u32>,
    ) -> bool {
        let hunks = self.rng.gen_range(1..=2);
        let mut changed = false;
        for _ in 0..hunks {
            let len = lines.len();
            let op = if len < 8 {
                1
            } else if len > 300 {
                2
            } else {
                self.rng.gen_range(0..5)
            };
            let n = match op {
                1 => self.rng.gen_range(1..=4),
                2 => self.rng.gen_range(1..=2),
                _ => self.rng.gen_range(1..=3),
            };
            let mut at = None;
            for _try in 0..if only.is_some() { 40 } else { 1 } {
                let a = if op == 1 {
                    self.rng.gen_range(0..=len)
                } else {
                    self.rng.gen_range(0..len - n + 1)
                };
                let hi = if op == 1 { a } else { a + n };
                if only.is_none_or(|t| window_free(owner, a, hi, t)) {
                    at = Some(a);
                    break;
                }
            }
            let Some(at) = at else { continue };
            match op {
                1 => {
                    for k in 0..n {
                        let l = self.line(kind);
                        lines.insert(at + k, l);
                        owner.insert(at + k, id);
                    }
                }
                2 => {
                    lines.drain(at..at + n);
                    owner.drain(at..at + n);
                    if at > 0 {
                        owner[at - 1] = id;
                    }
                    if at < owner.len() {
                        owner[at] = id;
                    }
                }
                _ => {
                    for k in 0..n {
                        lines[at + k] = self.line(kind);
                        owner[at + k] = id;
                    }
                }
            }
            changed = true;
        }
        changed
    }

    /// Edit 1–3 distinct files of the model (see [`Synth::edit_lines`]); their indices.
    fn edit_some(&mut self, id: u32, only: Option<u32>) -> Vec<usize> {
        let n = [1, 1, 1, 2, 2, 3][self.rng.gen_range(0..6)];
        let mut chosen: Vec<usize> = Vec::with_capacity(n);
        for _try in 0..30 {
            if chosen.len() == n {
                break;
            }
            let i = self.weights.sample(&mut self.rng);
            if chosen.contains(&i) {
                continue;
            }
            let kind = self.files[i].kind;
            let mut lines = std::mem::take(&mut self.files[i].lines);
            let mut owner = std::mem::take(&mut self.files[i].owner);
            let changed = self.edit_lines(&mut lines, &mut owner, kind, id, only);
            self.files[i].lines = lines;
            self.files[i].owner = owner;
            if changed {
                chosen.push(i);
            }
        }
        if chosen.is_empty() {
            // Nowhere free: an ordinary edit (its backport may then conflict).
            return self.edit_some(id, None);
        }
        chosen
    }

    /// A ticket's lines became the same on both branches (it was backported unchanged).
    fn settle(&mut self, id: u32) {
        for f in &mut self.files {
            for o in &mut f.owner {
                if *o == id {
                    *o = 0;
                }
            }
        }
    }

    fn content(&self, i: usize) -> String {
        let mut s = self.files[i].lines.join("\n");
        s.push('\n');
        s
    }

    fn subject(&mut self) -> String {
        let f = self.ident();
        let n = self.pick(NOUNS);
        let c = self.class();
        match self.rng.gen_range(0..10) {
            0 => format!("Fix off-by-one error in {f}"),
            1 => format!("Add {n} option to {c}Config"),
            2 => format!("Remove deprecated {f}"),
            3 => format!("Use {n} bounding box in {f}"),
            4 => format!("Refactor {f} for clarity"),
            5 => format!("Update docs for {f}"),
            6 => format!("Add test for {f}"),
            7 => format!("Improve logging in {c}Task"),
            8 => format!("Handle missing {n} in {f}"),
            _ => format!("Fix flake8 warnings in {n} module"),
        }
    }

    fn title(&mut self) -> String {
        let n = self.pick(NOUNS);
        let c = self.class();
        match self.rng.gen_range(0..5) {
            0 => format!("{c}Task fails when the {n} is empty"),
            1 => format!("Support {n} in {c}Task"),
            2 => format!("Wrong {n} units in {c} outputs"),
            3 => format!("Speed up {n} handling"),
            _ => format!("Clean up {c} {n} code"),
        }
    }

    fn message(&mut self) -> String {
        let s = self.subject();
        if self.rng.gen_bool(0.4) {
            let p = self.phrase(12);
            format!("{s}\n\nThe {p}.")
        } else {
            s
        }
    }

    fn dev(&mut self) -> (&'static str, &'static str) {
        DEVS[self.rng.gen_range(0..DEVS.len())]
    }
}

struct MainTicket {
    number: u32,
    title: String,
    commits: Vec<(Oid, Vec<String>)>,
}

const RELEASE: &str = "v23.0.x";

/// A repository under construction: branch tips are kept here and published at the end, so
/// that building writes no reference files.
struct Campaign {
    b: RepoBuilder,
    s: Synth,
    main: Oid,
    release: Option<Oid>,
    ticket_no: u32,
    pr: u32,
    quota: usize,
    done: usize,
    tagged: [bool; 2],
    stats: RepoStats,
}

impl Campaign {
    /// Commit the edited files `idx` of the model on top of `parent`.
    fn commit_files(&mut self, parent: Option<Oid>, msg: &str, idx: &[usize]) -> Result<Oid> {
        let contents: Vec<(String, String)> = idx
            .iter()
            .map(|&i| (self.s.files[i].path.clone(), self.s.content(i)))
            .collect();
        let changes: Vec<Change<'_>> = contents.iter().map(|(p, c)| Change::Write(p, c)).collect();
        self.b.commit_on(parent, msg, &changes)
    }

    fn next_ticket(&mut self) -> u32 {
        self.ticket_no += self.s.rng.gen_range(1..6);
        self.ticket_no
    }

    fn next_pr(&mut self) -> u32 {
        self.pr += self.s.rng.gen_range(1..4);
        self.pr
    }

    fn set_dev(&mut self) {
        let (name, email) = self.s.dev();
        self.b.set_identity(name, email);
    }

    /// A ticket of `k` commits on `main`, merged as a pull request. `backportable`: its
    /// changes avoid what differs from the release branch.
    fn main_ticket(
        &mut self,
        k: usize,
        post_branch: bool,
        backportable: bool,
    ) -> Result<MainTicket> {
        let number = self.next_ticket();
        let id = if post_branch { number } else { 0 };
        let only = backportable.then_some(number);
        let mut tip = self.main;
        let mut commits = Vec::with_capacity(k);
        for _ in 0..k {
            let idx = self.s.edit_some(id, only);
            let msg = self.s.message();
            tip = self.commit_files(Some(tip), &msg, &idx)?;
            let paths = idx.iter().map(|&i| self.s.files[i].path.clone()).collect();
            commits.push((tip, paths));
        }
        let pr = self.next_pr();
        let title = self.s.title();
        self.main = self.b.merge_on(
            self.main,
            tip,
            &format!(
                "Merge pull request #{pr} from lsst/tickets/DM-{number}\n\nDM-{number}: {title}"
            ),
        )?;
        self.stats.main_tickets += 1;
        Ok(MainTicket {
            number,
            title,
            commits,
        })
    }

    fn direct_commit(&mut self, post_branch: bool) -> Result<()> {
        let idx = self.s.edit_some(u32::from(post_branch), None);
        let msg = self.s.message();
        self.main = self.commit_files(Some(self.main), &msg, &idx)?;
        Ok(())
    }

    /// `23.0.0` once 40 % of the repository's backports are in, `23.0.1` at 80 %.
    fn tag_releases(&mut self, all: bool) -> Result<()> {
        let Some(rel) = self.release else {
            return Ok(());
        };
        for (i, (name, share)) in [("23.0.0", 0.4), ("23.0.1", 0.8)].into_iter().enumerate() {
            if !self.tagged[i] && (all || self.done as f64 >= share * self.quota as f64) {
                self.b.tag_commit(name, rel, &format!("Version {name}"))?;
                self.tagged[i] = true;
            }
        }
        Ok(())
    }

    /// One backport pull request: cherry-picks of a backportable main ticket (the most recent
    /// ones first), else a release-only fix.
    fn backport_step(&mut self, pending: &mut Vec<MainTicket>) -> Result<()> {
        let rel = self.release.context("no release branch yet")?;
        let left = self.quota - self.done;
        self.set_dev();
        if !self.s.rng.gen_bool(0.15) {
            for _attempt in 0..4 {
                let fits: Vec<usize> = (0..pending.len())
                    .rev()
                    .filter(|&i| pending[i].commits.len() <= left)
                    .take(4)
                    .collect();
                if fits.is_empty() {
                    break;
                }
                let t = pending.remove(fits[self.s.rng.gen_range(0..fits.len())]);
                match self.pick_ticket(rel, &t)? {
                    Some((tip, edited)) => {
                        let pr = self.next_pr();
                        let n = t.number;
                        self.release = Some(self.b.merge_on(
                            rel,
                            tip,
                            &format!(
                                "Merge pull request #{pr} from lsst/tickets/DM-{n}-v23\n\nDM-{n}: {} (v23 backport)",
                                t.title
                            ),
                        )?);
                        if edited == 0 {
                            self.s.settle(n);
                        }
                        self.done += t.commits.len();
                        self.stats.backport_tickets += 1;
                        self.stats.clean_picks += t.commits.len() - edited;
                        self.stats.edited_picks += edited;
                        return Ok(());
                    }
                    None => continue, // conflicts with the release branch: try another
                }
            }
        }
        self.release_only(rel)
    }

    /// Cherry-pick the ticket's commits on top of `rel`; about 10 % are edited while picking.
    /// `None` if one conflicts.
    fn pick_ticket(&mut self, rel: Oid, t: &MainTicket) -> Result<Option<(Oid, usize)>> {
        let mut tip = rel;
        let mut edited = 0;
        for (id, paths) in &t.commits {
            let r = if self.s.rng.gen_bool(0.10) {
                edited += 1;
                let p = paths[self.s.rng.gen_range(0..paths.len())].clone();
                let kind = self
                    .s
                    .files
                    .iter()
                    .find(|f| f.path == p)
                    .map_or(FileKind::Other, |f| f.kind);
                let s = &mut self.s;
                self.b.pick_on(tip, *id, None, |repo, index| {
                    let entry = index
                        .get_path(Path::new(&p), 0)
                        .ok_or_else(|| anyhow!("{p} vanished in the pick"))?;
                    let blob = repo.find_blob(entry.id)?;
                    let text = String::from_utf8_lossy(blob.content()).into_owned();
                    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
                    let at = s.rng.gen_range(0..=lines.len());
                    lines.insert(at, s.line(kind));
                    let content = format!("{}\n", lines.join("\n"));
                    apply_changes(repo, index, &[Change::Write(&p, &content)])
                })
            } else {
                self.b.cherry_pick_on(tip, *id, None)
            };
            match r {
                Ok(id) => tip = id,
                Err(_) => return Ok(None),
            }
        }
        Ok(Some((tip, edited)))
    }

    /// A release-only fix (a pin, a skipped test…) in its own pull request.
    fn release_only(&mut self, rel: Oid) -> Result<()> {
        let (subject, kind) = RELEASE_ONLY[self.s.rng.gen_range(0..RELEASE_ONLY.len())];
        let path = self
            .s
            .files
            .iter()
            .filter(|f| f.kind == kind)
            .map(|f| f.path.clone())
            .choose(&mut self.s.rng)
            .unwrap_or_else(|| "requirements.txt".into());
        let text = self.b.read_at(rel, &path)?;
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        if kind == FileKind::Requirements {
            lines.push(
                subject
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("moto<3")
                    .to_string(),
            );
        } else {
            let mut owner = vec![0; lines.len()];
            self.s.edit_lines(&mut lines, &mut owner, kind, 1, None);
        }
        let content = format!("{}\n", lines.join("\n"));
        let n = self.next_ticket();
        let fix = self
            .b
            .commit_on(Some(rel), subject, &[Change::Write(&path, &content)])?;
        let pr = self.next_pr();
        self.release = Some(self.b.merge_on(
            rel,
            fix,
            &format!("Merge pull request #{pr} from lsst/tickets/DM-{n}-v23\n\nDM-{n}: {subject}"),
        )?);
        self.done += 1;
        self.stats.backport_tickets += 1;
        self.stats.release_only += 1;
        Ok(())
    }
}

fn build_synthetic_repo(
    path: &Path,
    name: &str,
    main_commits: usize,
    quota: usize,
    seed: u64,
) -> Result<RepoStats> {
    let mut b = RepoBuilder::init(path)?;
    // Objects go to memory while building, then into one pack (see write_pack).
    let odb = git2::Odb::new()?;
    let mempack = odb.add_new_mempack_backend(1000)?;
    b.repo().set_odb(&odb)?;

    let mut s = Synth::new(name, seed);
    let ticket_no = 28_000 + s.rng.gen_range(0..400);
    let pr = s.rng.gen_range(100..900);
    let (dn, de) = s.dev();
    b.set_identity(dn, de);
    let mut c = Campaign {
        b,
        s,
        main: Oid::zero(),
        release: None,
        ticket_no,
        pr,
        quota,
        done: 0,
        tagged: [false, false],
        stats: RepoStats {
            name: name.to_string(),
            ..RepoStats::default()
        },
    };
    let all: Vec<usize> = (0..c.s.files.len()).collect();
    c.main = c.commit_files(None, "Initial commit", &all)?;
    let mut count = 1usize;

    let branch_at = (main_commits * 7 / 10).max(2);
    // What main does after the branch point, in pull requests and direct commits ("units":
    // 43 % tickets of 2 commits + merge, else 1 commit); backport steps are spread over them,
    // and about twice as many tickets as needed are made backportable.
    let post_units = ((main_commits - branch_at) as f64 / 1.86).max(1.0);
    let steps_needed = quota as f64 / 1.85;
    let step_p = (steps_needed / post_units).clamp(0.0, 1.0);
    let backportable_p = (2.0 * steps_needed / (0.43 * post_units)).clamp(0.05, 1.0);
    let mut pending: Vec<MainTicket> = Vec::new();

    while count < main_commits {
        let gap = c.s.rng.gen_range(5 * 60..180 * 60);
        c.b.set_time(c.b.time() + gap);
        c.set_dev();
        let remaining = main_commits - count;
        let post = c.release.is_some();
        if remaining >= 2 && c.s.rng.gen_bool(0.43) {
            let k = c.s.rng.gen_range(1..=3).min(remaining - 1);
            let backportable = post && c.s.rng.gen_bool(backportable_p);
            let t = c.main_ticket(k, post, backportable)?;
            count += k + 1;
            if backportable {
                pending.push(t);
            }
        } else {
            c.direct_commit(post)?;
            count += 1;
        }
        if !post && count >= branch_at {
            c.b.tag_commit("v23.0.0.rc1", c.main, "Version 23.0.0 release candidate 1")?;
            c.release = Some(c.main);
        } else if post && c.done < c.quota && c.s.rng.gen_bool(step_p) {
            c.backport_step(&mut pending)?;
            c.tag_releases(false)?;
        }
    }
    while c.done < c.quota {
        let gap = c.s.rng.gen_range(30 * 60..600 * 60);
        c.b.set_time(c.b.time() + gap);
        c.backport_step(&mut pending)?;
        c.tag_releases(false)?;
    }
    c.tag_releases(true)?;
    c.stats.main_commits = count;
    c.stats.release_commits = c.done;
    let release = c.release.context("the release branch was never made")?;
    c.b.set_branch("main", c.main, "synthetic campaign", false)?;
    c.b.set_branch(RELEASE, release, "synthetic campaign", false)?;
    c.b.finish("main")?;
    write_pack(c.b.repo())?;
    mempack.reset()?;
    Ok(c.stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn lines(n: usize, tag: &str) -> String {
        (0..n).map(|i| format!("line {i} {tag}\n")).collect()
    }

    fn with_line(base: &str, i: usize, new: &str) -> String {
        base.lines()
            .enumerate()
            .map(|(k, l)| {
                if k == i {
                    format!("{new}\n")
                } else {
                    format!("{l}\n")
                }
            })
            .collect()
    }

    #[test]
    fn commits_branches_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = RepoBuilder::init(&dir.path().join("r")).unwrap();
        assert_eq!(b.time(), DEFAULT_START);
        let c1 = b
            .write(
                "main",
                "First\n\nbody",
                &[("a.txt", "a\n"), ("dir/sub/b.py", "b\n")],
            )
            .unwrap();
        assert_eq!(b.time(), DEFAULT_START + 60);
        let c2 = b
            .commit(
                "main",
                "Second",
                &[
                    Change::Write("a.txt", "a2\n"),
                    Change::Delete("dir/sub/b.py"),
                ],
            )
            .unwrap();
        assert!(b.commit("main", "x", &[Change::Delete("nope")]).is_err());
        assert_eq!(b.tip("main").unwrap(), c2);
        assert_eq!(b.read("main", "a.txt").unwrap(), "a2\n");
        assert_eq!(b.read(&c1.to_string(), "dir/sub/b.py").unwrap(), "b\n");
        assert!(b.read("main", "dir/sub/b.py").is_err());

        {
            let repo = b.repo();
            let c = repo.find_commit(c2).unwrap();
            assert_eq!(c.parent_ids().collect::<Vec<_>>(), vec![c1]);
            assert_eq!(c.message(), Some("Second\n"));
            assert_eq!(c.author().name(), Some("Test Dev"));
            assert_eq!(c.author().email(), Some("dev@example.org"));
            assert_eq!(c.time().seconds(), DEFAULT_START + 60);
            assert_eq!(repo.find_commit(c1).unwrap().parent_count(), 0);
            // Loose objects: the commit's file is there.
            let hex = c2.to_string();
            assert!(repo
                .path()
                .join("objects")
                .join(&hex[..2])
                .join(&hex[2..])
                .is_file());
        }

        let r = b.branch("tickets/DM-1", &c1.to_string()).unwrap();
        assert_eq!(r, c1);
        assert!(
            b.branch("tickets/DM-1", "main").is_err(),
            "branches are not moved"
        );
        let c3 = b
            .write("tickets/DM-1", "On ticket", &[("c.txt", "c\n")])
            .unwrap();
        assert_eq!(b.tip("tickets/DM-1").unwrap(), c3);
        assert_eq!(b.tip("main").unwrap(), c2, "main did not move");
        // A branch that does not exist yet starts with a root commit.
        let orphan = b.write("orphan", "Root", &[("o.txt", "o\n")]).unwrap();
        assert_eq!(b.repo().find_commit(orphan).unwrap().parent_count(), 0);
        b.set_time(1_700_000_000);
        let c4 = b.write("main", "Later", &[("a.txt", "a3\n")]).unwrap();
        assert_eq!(
            b.repo().find_commit(c4).unwrap().time().seconds(),
            1_700_000_000
        );

        b.finish("main").unwrap();
        let p = b.path().to_path_buf();
        assert_eq!(git(&p, &["status", "--porcelain"]), "");
        assert_eq!(git(&p, &["symbolic-ref", "HEAD"]).trim(), "refs/heads/main");
        assert_eq!(git(&p, &["log", "--oneline"]).lines().count(), 3);
        assert_eq!(std::fs::read_to_string(p.join("a.txt")).unwrap(), "a3\n");
        assert_eq!(git(&p, &["show", "tickets/DM-1:c.txt"]), "c\n");
        git(&p, &["fsck", "--strict"]);
    }

    #[test]
    fn merge_is_first_parent_and_conflicts_name_paths() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = RepoBuilder::init(dir.path()).unwrap();
        let base = lines(30, "base");
        let c0 = b
            .write("main", "Base", &[("f.txt", &base), ("g.txt", "g\n")])
            .unwrap();
        b.branch("tickets/DM-2", "main").unwrap();
        let t1 = b
            .write(
                "tickets/DM-2",
                "Ticket",
                &[("f.txt", &with_line(&base, 25, "ticket"))],
            )
            .unwrap();
        let m0 = b
            .write(
                "main",
                "Main change",
                &[("f.txt", &with_line(&base, 2, "main"))],
            )
            .unwrap();
        let m = b
            .merge(
                "main",
                "tickets/DM-2",
                "Merge pull request #1 from lsst/tickets/DM-2",
            )
            .unwrap();
        let parents: Vec<Oid> = b.repo().find_commit(m).unwrap().parent_ids().collect();
        assert_eq!(parents, vec![m0, t1]);
        let f = b.read("main", "f.txt").unwrap();
        assert!(f.contains("ticket\n") && f.contains("main\n"));
        // A merge of a descendant is still a merge commit (--no-ff), from a sha too.
        b.branch("t3", "main").unwrap();
        let t3 = b.write("t3", "T3", &[("g.txt", "g3\n")]).unwrap();
        let m2 = b.merge("main", &t3.to_string(), "Merge t3").unwrap();
        assert_eq!(b.repo().find_commit(m2).unwrap().parent_count(), 2);
        assert_eq!(b.read("main", "g.txt").unwrap(), "g3\n");

        b.branch("x", &c0.to_string()).unwrap();
        b.write(
            "x",
            "Conflicting",
            &[("f.txt", &with_line(&base, 2, "other"))],
        )
        .unwrap();
        let before = b.tip("main").unwrap();
        let err = b.merge("main", "x", "Merge x").unwrap_err().to_string();
        assert!(err.contains("conflict") && err.contains("f.txt"), "{err}");
        assert_eq!(b.tip("main").unwrap(), before, "nothing moved on conflict");
        assert!(b.merge("nobranch", "x", "m").is_err());

        b.finish("main").unwrap();
        let p = dir.path();
        assert_eq!(
            git(p, &["rev-list", "--count", "--first-parent", "main"]).trim(),
            "4"
        );
        assert_eq!(
            git(p, &["rev-list", "--count", "--merges", "main"]).trim(),
            "2"
        );
        assert_eq!(git(p, &["status", "--porcelain"]), "");
    }

    #[test]
    fn cherry_pick_is_equivalent_for_git_cherry() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = RepoBuilder::init(dir.path()).unwrap();
        let base = lines(40, "base");
        b.write("main", "Base", &[("src/f.py", &base), ("g.txt", "g\n")])
            .unwrap();
        b.branch("v1.x", "main").unwrap();
        b.set_identity("Ann Author", "ann@example.org");
        let author_time = b.time();
        let fix = b
            .write(
                "main",
                "Fix bbox\n\nLonger text.",
                &[("src/f.py", &with_line(&base, 30, "fixed"))],
            )
            .unwrap();
        b.write("main", "Unrelated", &[("g.txt", "g2\n")]).unwrap();
        b.set_identity("Rel Manager", "rm@example.org");
        b.set_time(1_650_000_000);
        let picked = b.cherry_pick("v1.x", fix, None).unwrap();
        {
            let c = b.repo().find_commit(picked).unwrap();
            assert_eq!(c.message(), Some("Fix bbox\n\nLonger text.\n"));
            assert_eq!(c.author().name(), Some("Ann Author"));
            assert_eq!(c.author().when().seconds(), author_time);
            assert_eq!(c.committer().name(), Some("Rel Manager"));
            assert_eq!(c.committer().when().seconds(), 1_650_000_000);
        }
        assert_eq!(b.read("v1.x", "g.txt").unwrap(), "g\n");
        assert!(b.read("v1.x", "src/f.py").unwrap().contains("fixed\n"));

        // Edited while picking: not equivalent any more.
        let fix2 = b
            .write(
                "main",
                "Fix two",
                &[(
                    "src/f.py",
                    &with_line(&b.read("main", "src/f.py").unwrap(), 5, "two"),
                )],
            )
            .unwrap();
        let on_rel = b.read("v1.x", "src/f.py").unwrap();
        let edited = with_line(&with_line(&on_rel, 5, "two"), 10, "adapted");
        let e = b
            .cherry_pick_with(
                "v1.x",
                fix2,
                Some("Fix two (adapted)"),
                &[Change::Write("src/f.py", &edited)],
            )
            .unwrap();
        b.finish("main").unwrap();
        let out = git(dir.path(), &["cherry", "main", "v1.x"]);
        assert_eq!(out, format!("- {picked}\n+ {e}\n"));

        // A conflicting pick is an error naming the path.
        b.write(
            "v1.x",
            "Release only",
            &[(
                "src/f.py",
                &with_line(&b.read("v1.x", "src/f.py").unwrap(), 20, "rel"),
            )],
        )
        .unwrap();
        let clash = b
            .write(
                "main",
                "Clash",
                &[(
                    "src/f.py",
                    &with_line(&b.read("main", "src/f.py").unwrap(), 20, "mainline"),
                )],
            )
            .unwrap();
        let tip = b.tip("v1.x").unwrap();
        let err = b.cherry_pick("v1.x", clash, None).unwrap_err().to_string();
        assert!(
            err.contains("conflict") && err.contains("src/f.py"),
            "{err}"
        );
        assert_eq!(b.tip("v1.x").unwrap(), tip);

        // Picking a merge takes it against its first parent.
        b.branch("t", "main").unwrap();
        b.write("t", "On t", &[("h.txt", "h\n")]).unwrap();
        let m = b.merge("main", "t", "Merge t").unwrap();
        b.cherry_pick("v1.x", m, None).unwrap();
        assert_eq!(b.read("v1.x", "h.txt").unwrap(), "h\n");
    }

    #[test]
    fn revert_undoes_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = RepoBuilder::init(dir.path()).unwrap();
        b.write("main", "Base", &[("a.txt", "one\n")]).unwrap();
        let bad = b
            .write(
                "main",
                "Break things\n\nOops.",
                &[("a.txt", "two\n"), ("new.txt", "n\n")],
            )
            .unwrap();
        let r = b.revert("main", bad).unwrap();
        let c = b.repo().find_commit(r).unwrap();
        assert_eq!(
            c.message(),
            Some(format!("Revert \"Break things\"\n\nThis reverts commit {bad}.\n").as_str())
        );
        assert_eq!(c.parent_id(0).unwrap(), bad);
        drop(c);
        assert_eq!(b.read("main", "a.txt").unwrap(), "one\n");
        assert!(b.read("main", "new.txt").is_err());
        b.finish("main").unwrap();
        assert_eq!(git(dir.path(), &["diff", "--stat", "main~2", "main"]), "");
    }

    #[test]
    fn annotated_tags_are_never_moved() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = RepoBuilder::init(dir.path()).unwrap();
        let c1 = b.write("main", "One", &[("a", "1\n")]).unwrap();
        let t = b.tag("v23.0.0.rc1", "main", "Release candidate").unwrap();
        let c2 = b.write("main", "Two", &[("a", "2\n")]).unwrap();
        {
            let tag = b.repo().find_tag(t).unwrap();
            assert_eq!(tag.target_id(), c1);
            assert_eq!(tag.name(), Some("v23.0.0.rc1"));
            assert_eq!(tag.message(), Some("Release candidate\n"));
            assert_eq!(tag.tagger().unwrap().name(), Some("Test Dev"));
        }
        let err = b
            .tag("v23.0.0.rc1", "main", "again")
            .unwrap_err()
            .to_string();
        assert!(err.contains("already exists"), "{err}");
        // Tags resolve as revisions; a tag of a tag is peeled to the commit.
        b.branch("rel", "v23.0.0.rc1").unwrap();
        assert_eq!(b.tip("rel").unwrap(), c1);
        let t2 = b.tag("again", "v23.0.0.rc1", "x").unwrap();
        assert_eq!(b.repo().find_tag(t2).unwrap().target_id(), c1);
        b.tag("23.0.0", &c2.to_string(), "Version 23.0.0").unwrap();
        b.finish("main").unwrap();
        assert_eq!(
            git(dir.path(), &["describe", "--tags", "--abbrev=0", "rel"]).trim(),
            "again"
        );
        assert_eq!(git(dir.path(), &["cat-file", "-t", "23.0.0"]).trim(), "tag");
    }

    #[test]
    fn shallow_copy_stops_at_the_graft() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        let mut b = RepoBuilder::init(&src).unwrap();
        let mut ids = Vec::new();
        for i in 0..5 {
            ids.push(
                b.write("main", &format!("C{i}"), &[("a", &format!("{i}\n"))])
                    .unwrap(),
            );
        }
        b.finish("main").unwrap();
        let dst = dir.path().join("dst");
        make_shallow(&src, &dst, ids[2]).unwrap();
        let repo = Repository::open(&dst).unwrap();
        assert!(repo.is_shallow());
        assert!(!Repository::open(&src).unwrap().is_shallow());
        let mut walk = repo.revwalk().unwrap();
        walk.push_head().unwrap();
        let seen: Vec<Oid> = walk.map(|r| r.unwrap()).collect();
        assert_eq!(seen, vec![ids[4], ids[3], ids[2]]);
        assert_eq!(repo.find_commit(ids[2]).unwrap().parent_count(), 0);
        assert_eq!(git(&dst, &["rev-list", "--count", "main"]).trim(), "3");
        assert_eq!(
            git(&dst, &["rev-parse", "--is-shallow-repository"]).trim(),
            "true"
        );
        assert_eq!(git(&dst, &["status", "--porcelain"]), "");
        assert!(make_shallow(&src, &dst, ids[1]).is_err(), "dst not empty");
    }

    #[test]
    fn missing_loose_object() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = RepoBuilder::init(dir.path()).unwrap();
        b.write("main", "One", &[("a", "1\n")]).unwrap();
        let c2 = b.write("main", "Two", &[("a", "2\n")]).unwrap();
        let blob = b.repo().revparse_single("main:a").unwrap().id();
        b.finish("main").unwrap();
        remove_loose_object(dir.path(), blob).unwrap();
        assert!(
            remove_loose_object(dir.path(), blob).is_err(),
            "already gone"
        );
        let repo = Repository::open(dir.path()).unwrap();
        assert!(repo.find_blob(blob).is_err());
        assert!(repo.find_commit(c2).is_ok());
        remove_loose_object(dir.path(), c2).unwrap();
        let repo = Repository::open(dir.path()).unwrap();
        assert!(repo.find_commit(c2).is_err());
        let bad = Command::new("git")
            .arg("-C")
            .arg(dir.path())
            .args(["fsck", "--no-dangling"])
            .output()
            .unwrap();
        assert!(!bad.status.success(), "fsck notices the missing objects");
    }

    #[test]
    fn pack_objects_keeps_history_readable() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = RepoBuilder::init(dir.path()).unwrap();
        let c1 = b.write("main", "One", &[("a", "1\n")]).unwrap();
        b.write("main", "Two", &[("a", "2\n")]).unwrap();
        b.tag("v1", &c1.to_string(), "v1").unwrap();
        b.finish("main").unwrap();
        b.pack_objects(true).unwrap();
        assert!(remove_loose_object(dir.path(), c1).is_err(), "packed now");
        assert_eq!(
            git(dir.path(), &["rev-list", "--count", "--all"]).trim(),
            "2"
        );
        git(dir.path(), &["fsck", "--strict"]);
        assert_eq!(
            git(dir.path(), &["count-objects"]).trim(),
            "0 objects, 0 kilobytes"
        );
    }

    #[test]
    fn packs_indexed_by_libgit2_alone_are_readable() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = RepoBuilder::init(dir.path()).unwrap();
        let c1 = b.write("main", "One", &[("d/a", "1\n")]).unwrap();
        b.write("main", "Two", &[("d/a", "2\n"), ("b", "b\n")])
            .unwrap();
        b.tag("v1", &c1.to_string(), "v1").unwrap();
        b.finish("main").unwrap();
        write_pack_via(b.repo(), false).unwrap();
        let packs: Vec<String> = std::fs::read_dir(b.repo().path().join("objects/pack"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(packs.iter().any(|p| p.ends_with(".idx")), "{packs:?}");
        for oid in [c1, b.repo().revparse_single("v1").unwrap().id()] {
            let hex = oid.to_string();
            std::fs::remove_file(
                b.repo()
                    .path()
                    .join("objects")
                    .join(&hex[..2])
                    .join(&hex[2..]),
            )
            .unwrap();
        }
        let repo = Repository::open(dir.path()).unwrap();
        assert_eq!(repo.find_commit(c1).unwrap().summary(), Some("One"));
        assert_eq!(git(dir.path(), &["cat-file", "-t", "v1"]).trim(), "tag");
        git(dir.path(), &["fsck", "--strict"]);
    }

    #[test]
    fn synthetic_campaign_is_deterministic_and_counts_add_up() {
        let dir = tempfile::tempdir().unwrap();
        let stats = synthetic_campaign_stats(dir.path(), 3, 120, 17, 23).unwrap();
        assert_eq!(stats.len(), 3);
        assert_eq!(stats.iter().map(|s| s.release_commits).sum::<usize>(), 17);
        assert!(
            stats.iter().map(|s| s.clean_picks).sum::<usize>() >= 8,
            "{stats:?}"
        );
        let mut heads = Vec::new();
        for s in &stats {
            let p = dir.path().join("repos").join(&s.name);
            assert_eq!(git(&p, &["rev-list", "--count", "main"]).trim(), "120");
            let rel = git(&p, &["rev-list", "--count", "--no-merges", "main..v23.0.x"]);
            assert_eq!(rel.trim().parse::<usize>().unwrap(), s.release_commits);
            assert_eq!(
                s.release_commits,
                s.clean_picks + s.edited_picks + s.release_only,
                "{s:?}"
            );
            let tags = git(&p, &["tag", "--list"]);
            assert_eq!(tags, "23.0.0\n23.0.1\nv23.0.0.rc1\n");
            let branches = git(&p, &["branch", "--format=%(refname:short)"]);
            assert_eq!(branches, "main\nv23.0.x\n");
            assert_eq!(
                git(&p, &["merge-base", "main", "v23.0.x"]),
                git(&p, &["rev-parse", "v23.0.0.rc1^{}"])
            );
            assert_eq!(git(&p, &["status", "--porcelain"]), "");
            let merges = git(&p, &["log", "--merges", "--format=%s", "main"]);
            assert!(
                merges
                    .lines()
                    .all(|l| l.starts_with("Merge pull request #")),
                "{merges}"
            );
            let rel_merges = git(&p, &["log", "--merges", "--format=%s", "main..v23.0.x"]);
            assert_eq!(rel_merges.lines().count(), s.backport_tickets);
            assert!(
                rel_merges
                    .lines()
                    .all(|l| l.starts_with("Merge pull request #") && l.ends_with("-v23")),
                "{rel_merges}"
            );
            // Clean picks avoid what differs between the branches, context included, so git
            // finds (nearly all of) them equivalent; edited picks and release-only fixes are
            // new patches.
            let cherry = git(&p, &["cherry", "main", "v23.0.x"]);
            let minus = cherry.lines().filter(|l| l.starts_with('-')).count();
            assert!(
                minus <= s.clean_picks && minus * 10 >= s.clean_picks * 8,
                "{s:?}\n{cherry}"
            );
            assert_eq!(cherry.lines().count(), s.release_commits);
            git(&p, &["fsck", "--no-dangling"]);
            heads.push(git(&p, &["rev-parse", "main", "v23.0.x"]));
        }
        let again = tempfile::tempdir().unwrap();
        let paths = synthetic_campaign(again.path(), 3, 120, 17, 23).unwrap();
        for (p, h) in paths.iter().zip(&heads) {
            assert_eq!(
                &git(p, &["rev-parse", "main", "v23.0.x"]),
                h,
                "same seed, same repositories"
            );
        }
    }
}
