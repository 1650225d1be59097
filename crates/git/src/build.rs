//! Writing histories: commits, merges, cherry-picks, reverts and tags straight into a
//! repository's object database, for the demo's repositories (and the tests').
//!
//! [`RepoBuilder`] writes commits through git2: the tree of a new commit is an in-memory
//! [`git2::Index`] read from the parent's tree, the changed files are written as blobs and the
//! index is written back as trees with `write_tree_to`. Nothing is checked out while building
//! (that is what makes thousands of commits quick); [`RepoBuilder::finish`] checks out the wanted
//! branch once at the end. Merges, cherry-picks and reverts use git2's in-memory
//! `merge_commits`, `cherrypick_commit` and `revert_commit`, so they behave like git's, conflicts
//! included.
//!
//! Commit and tag messages are stored the way `git commit` stores them: trailing whitespace
//! trimmed and exactly one final newline.

use std::path::{Path, PathBuf};

use git2::build::CheckoutBuilder;
use git2::{
    Commit, ErrorCode, Index, IndexEntry, IndexTime, ObjectType, Oid, Repository,
    RepositoryInitOptions, Signature, Time,
};

use crate::error::{Error, GitContext, Result};

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
            .ctx(|| format!("cannot create a git repository at {}", path.display()))?;
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
            .ctx(|| format!("cannot create branch `{name}` at `{rev}`"))?;
        Ok(target)
    }

    /// Delete branch `name` (as GitHub does after merging a pull request).
    pub fn delete_branch(&mut self, name: &str) -> Result<()> {
        let mut r = self
            .repo
            .find_reference(&branch_ref(name))
            .ctx(|| format!("no branch `{name}`"))?;
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
            .map_err(|e| e.context(format!("merging `{from}` into `{into}`")))?;
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
            .map_err(|e| e.context(format!("cherry-picking onto `{onto}`")))?;
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
                .ctx(|| format!("no commit {commit}"))?;
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
            .map_err(|e| e.context(format!("cannot create tag `{name}` at `{rev}`")))
    }

    /// [`tag`](Self::tag) of a commit given by id.
    pub fn tag_commit(&mut self, name: &str, commit: Oid, message: &str) -> Result<Oid> {
        let refname = format!("refs/tags/{name}");
        if self.repo.find_reference(&refname).is_ok() {
            return Err(Error::input(format!(
                "tag `{name}` already exists; tags are never moved"
            )));
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

    /// The general cherry-pick: `edit` may change the picked index before it is committed; no
    /// reference moves.
    pub fn pick_on(
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
                .ctx(|| format!("no commit {commit}"))?;
            let o = self.repo.find_commit(ours)?;
            let mut index = self
                .repo
                .cherrypick_commit(&c, &o, mainline(&c), None)
                .ctx(|| format!("cannot cherry-pick {commit}"))?;
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
            .ctx(|| format!("cannot move branch `{name}`"))?;
        Ok(())
    }

    /// Content of `path` in commit `commit`.
    pub fn read_at(&self, commit: Oid, path: &str) -> Result<String> {
        let commit = self.repo.find_commit(commit)?;
        let entry = commit
            .tree()?
            .get_path(Path::new(path))
            .ctx(|| format!("no file `{path}` in {}", commit.id()))?;
        let blob = self.repo.find_blob(entry.id())?;
        String::from_utf8(blob.content().to_vec()).map_err(|e| {
            Error::Problem(
                portcullis_core::Problem::input(format!(
                    "`{path}` in {} is not UTF-8",
                    commit.id()
                ))
                .because(e),
            )
        })
    }

    /// The commit branch `branch` points at.
    pub fn tip(&self, branch: &str) -> Result<Oid> {
        self.tip_opt(branch)?
            .ok_or_else(|| Error::input(format!("no branch `{branch}`")))
    }

    /// Content of `path` at `rev`.
    pub fn read(&self, rev: &str, path: &str) -> Result<String> {
        self.read_at(self.resolve(rev)?, path)
            .map_err(|e| e.context(format!("reading `{path}` at `{rev}`")))
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
            .ctx(|| format!("cannot check out `{head_branch}`"))?;
        Ok(())
    }

    // --- internals ---

    fn tip_opt(&self, branch: &str) -> Result<Option<Oid>> {
        match self.repo.find_reference(&branch_ref(branch)) {
            Ok(r) => Ok(Some(r.peel_to_commit()?.id())),
            Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
            Err(e) => Err(Error::Git {
                what: format!("bad branch name `{branch}`"),
                source: e,
            }),
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
            .ctx(|| format!("no such revision `{rev}`"))?;
        Ok(obj
            .peel_to_commit()
            .ctx(|| format!("`{rev}` is not a commit"))?
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
pub fn apply_changes(repo: &Repository, index: &mut Index, changes: &[Change<'_>]) -> Result<()> {
    for change in changes {
        match *change {
            Change::Write(path, content) => {
                if path.is_empty() || path.starts_with('/') || path.ends_with('/') {
                    return Err(Error::input(format!("bad path `{path}`")));
                }
                let id = repo.blob(content.as_bytes())?;
                index
                    .add(&index_entry(path, id, content.len()))
                    .ctx(|| format!("cannot add `{path}`"))?;
            }
            Change::Delete(path) => {
                if index.get_path(Path::new(path), 0).is_none() {
                    return Err(Error::input(format!(
                        "cannot delete `{path}`: no such file"
                    )));
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
    Err(Error::input(format!(
        "conflict {}: {}",
        what(),
        paths.join(", ")
    )))
}

#[cfg(test)]
mod tests;
