//! The lines a commit changes, file by file, as diffs of two blobs.
//!
//! The scan finds a commit's changed files with a tree walk of its own ([`ChangedFile`]), so
//! the content is read blob against blob: no libgit2 tree diff walking the same trees again,
//! and no attribute or diff-driver lookup per file (the blobs are diffed without their paths,
//! binary files are told by content). On a cold scan of a large repository those lookups and
//! the second tree walk were about a fifth of the time.

use git2::{Oid, Repository, RepositoryOpenFlags};

/// Open a clone for reading its history: its `.git` directory as a bare repository (objects
/// and refs, no work tree), so that diffs look no `.gitattributes` up in the work tree for
/// every file. Anything else (a bare clone, a `.git` file of a linked work tree) is opened as
/// it is.
pub(crate) fn open_history(path: &std::path::Path) -> Result<Repository, git2::Error> {
    let git_dir = path.join(".git");
    if git_dir.is_dir() {
        if let Ok(r) = Repository::open_ext(
            &git_dir,
            RepositoryOpenFlags::NO_SEARCH | RepositoryOpenFlags::BARE,
            std::iter::empty::<&std::ffi::OsStr>(),
        ) {
            return Ok(r);
        }
    }
    Repository::open(path)
}

/// `f` of each of `items`, in their order: the second half on another thread with its own handle
/// on the repository at `path` (a handle is not shared between threads), since a single large
/// repository is otherwise read on one core. On one thread when that handle cannot be opened,
/// and again on this one when the other thread fails.
pub(crate) fn on_two_threads<T: Sync, R: Send>(
    repo: &Repository,
    path: &std::path::Path,
    items: &[T],
    f: impl Fn(&Repository, &T) -> R + Sync,
) -> Vec<R> {
    let Ok(other) = open_history(path) else {
        return items.iter().map(|x| f(repo, x)).collect();
    };
    let (first, second) = items.split_at(items.len() / 2);
    std::thread::scope(|s| {
        let f = &f;
        let theirs = s.spawn(move || second.iter().map(|x| f(&other, x)).collect::<Vec<_>>());
        let mut out: Vec<R> = first.iter().map(|x| f(repo, x)).collect();
        match theirs.join() {
            Ok(rest) => out.extend(rest),
            Err(_) => out.extend(second.iter().map(|x| f(repo, x))),
        }
        out
    })
}

/// A file a commit changes: its path, and its blob before and after (absent when the file was
/// added or deleted, or is a subtree on that side).
#[derive(Debug, Clone)]
pub(crate) struct ChangedFile {
    pub(crate) path: Vec<u8>,
    pub(crate) before: Option<Oid>,
    pub(crate) after: Option<Oid>,
    /// A submodule (gitlink) on either side: its ids are commits, not blobs.
    pub(crate) link: bool,
}

/// How a file's change reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileDiff {
    /// Its lines were given.
    Text,
    /// A binary file: no lines (its blob ids say what changed).
    Binary,
}

/// Give `line` every line of `file`'s change with its origin (`' '` context, `'+'`, `'-'`),
/// with `context` lines of context around each change. A submodule reads as git shows it
/// (`Subproject commit <id>`). Fails when a blob cannot be read (a missing object).
pub(crate) fn file_lines(
    repo: &Repository,
    file: &ChangedFile,
    context: u32,
    line: &mut dyn FnMut(char, &[u8]),
) -> Result<FileDiff, git2::Error> {
    if file.link {
        for (origin, id) in [('-', file.before), ('+', file.after)] {
            if let Some(id) = id {
                line(origin, format!("Subproject commit {id}\n").as_bytes());
            }
        }
        return Ok(FileDiff::Text);
    }
    let old = file.before.map(|b| repo.find_blob(b)).transpose()?;
    let new = file.after.map(|b| repo.find_blob(b)).transpose()?;
    let mut opts = git2::DiffOptions::new();
    opts.context_lines(context);
    // libgit2 tells binary content while it loads the pair: it calls `binary` instead of
    // giving lines.
    let mut binary = false;
    repo.diff_blobs(
        old.as_ref(),
        None,
        new.as_ref(),
        None,
        Some(&mut opts),
        None,
        Some(&mut |_, _| {
            binary = true;
            true
        }),
        None,
        Some(&mut |_, _, l| {
            let origin = l.origin();
            if matches!(origin, ' ' | '+' | '-') {
                line(origin, l.content());
            }
            true
        }),
    )?;
    if binary {
        return Ok(FileDiff::Binary);
    }
    Ok(FileDiff::Text)
}
