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
    let (old, new) = (
        old.as_ref().map_or(&[][..], |b| b.content()),
        new.as_ref().map_or(&[][..], |b| b.content()),
    );
    if is_binary(old) || is_binary(new) {
        return Ok(FileDiff::Binary);
    }
    text_lines(old, new, context, line)?;
    Ok(FileDiff::Text)
}

/// Give `line` every line of the change from the text `old` to the text `new`, as
/// [`file_lines`] does.
///
/// Most changes touch a few lines of a long file: the lines both sides share at the start and
/// at the end are left out before the line diff, which would otherwise hash every line of both
/// blobs; on a cold scan of a large repository that hashing was a tenth of the time. What is
/// left is diffed as text: the whole was told text by its caller. `context` lines are kept
/// before what is left, and one more after it: when the last change slides into those (a line
/// inserted next to its like may be shown at either place, and the diff shows it last), the
/// diff is made again with the whole shared end, so that the lines are those of a diff of the
/// whole texts.
fn text_lines(
    old: &[u8],
    new: &[u8],
    context: u32,
    line: &mut dyn FnMut(char, &[u8]),
) -> Result<(), git2::Error> {
    let before = context as usize;
    let after = before + 1;
    let (o, n, trimmed_end) = trim_common_lines(old, new, before, after);
    // All added or all removed (a new or deleted file, lines inserted or dropped without
    // context): every line as it is, without a diff (libgit2 would also hash both sides).
    for (side, origin, other) in [(n, '+', o), (o, '-', n)] {
        if other.is_empty() {
            for l in side.split_inclusive(|&b| b == b'\n') {
                line(origin, l);
            }
            return Ok(());
        }
    }
    let mut opts = git2::DiffOptions::new();
    opts.context_lines(context).force_text(true);
    let mut patch = git2::Patch::from_buffers(o, None, n, None, Some(&mut opts))?;
    if trimmed_end && lines_after_last_change(&patch, n)? < after {
        let (o, n, _) = trim_common_lines(old, new, before, usize::MAX);
        patch = git2::Patch::from_buffers(o, None, n, None, Some(&mut opts))?;
    }
    patch.print(&mut |_, _, l| {
        let origin = l.origin();
        if matches!(origin, ' ' | '+' | '-') {
            line(origin, l.content());
        }
        true
    })
}

/// How many lines of `new` (the new side of `patch`) follow its last changed line.
fn lines_after_last_change(patch: &git2::Patch<'_>, new: &[u8]) -> Result<usize, git2::Error> {
    let Some(last) = patch.num_hunks().checked_sub(1) else {
        return Ok(usize::MAX);
    };
    let (hunk, count) = patch.hunk(last)?;
    let mut context_after = 0;
    for i in (0..count).rev() {
        match patch.line_in_hunk(last, i)?.origin() {
            ' ' => context_after += 1,
            '+' | '-' => break,
            _ => {}
        }
    }
    // A hunk that adds no line starts after its new-side line `new_start`.
    let end = if hunk.new_lines() == 0 {
        hunk.new_start()
    } else {
        hunk.new_start() + hunk.new_lines() - 1
    } as usize;
    let lines = newlines(new) + usize::from(!new.is_empty() && !new.ends_with(b"\n"));
    Ok(context_after + lines.saturating_sub(end))
}

/// The number of newlines in `text`.
fn newlines(text: &[u8]) -> usize {
    text.iter().filter(|&&b| b == b'\n').count()
}

/// How git and libgit2 tell binary content: a NUL byte among the first 8,000.
fn is_binary(content: &[u8]) -> bool {
    content[..content.len().min(8000)].contains(&0)
}

/// How many bytes `a` and `b` share, compared in blocks of `at(side, offset, width)` (the
/// start or the end of each): a block compare is a `memcmp`, a byte loop was a few per cent of
/// a cold scan.
fn shared_len(a: &[u8], b: &[u8], at: impl Fn(&[u8], usize, usize) -> &[u8]) -> usize {
    const BLOCK: usize = 64;
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + BLOCK <= n && at(a, i, BLOCK) == at(b, i, BLOCK) {
        i += BLOCK;
    }
    while i < n && at(a, i, 1) == at(b, i, 1) {
        i += 1;
    }
    i
}

/// `old` and `new` without the whole lines they share at the start and at the end, keeping
/// `before` of the shared lines before what is left and `after` of them after it; and whether
/// any shared line was left out at the end.
fn trim_common_lines<'a>(
    old: &'a [u8],
    new: &'a [u8],
    before: usize,
    after: usize,
) -> (&'a [u8], &'a [u8], bool) {
    if old == new {
        return (&[], &[], false);
    }
    let same_start = shared_len(old, new, |s, i, w| &s[i..i + w]);
    // Where the first line that differs starts (the same in both: the bytes before are).
    let first = old[..same_start]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    // The shared end is looked for after the shared start, as the line diff does: counted
    // from where the kept lines start, it could claim lines the diff shows as changed.
    let (o, n) = (&old[first..], &new[first..]);
    let same_end = shared_len(o, n, |s, i, w| &s[s.len() - i - w..s.len() - i]);
    let shared = &o[o.len() - same_end..];
    // The shared end starts at a line in both only where both ends of what is left do; else
    // at the first line that starts inside it.
    let at_line = |side: &[u8]| side.len() == same_end || side[side.len() - same_end - 1] == b'\n';
    let mut keep_end = if at_line(o) && at_line(n) {
        0
    } else {
        shared
            .iter()
            .position(|&b| b == b'\n')
            .map_or(same_end, |i| i + 1)
    };
    for _ in 0..after {
        if keep_end == same_end {
            break;
        }
        keep_end = shared[keep_end..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(same_end, |i| keep_end + i + 1);
    }
    let cut = same_end - keep_end;
    let mut start = first;
    for _ in 0..before {
        if start == 0 {
            break;
        }
        start = old[..start - 1]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
    }
    (
        &old[start..old.len() - cut],
        &new[start..new.len() - cut],
        cut > 0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines of a diff of the whole texts, as libgit2 gives them.
    fn whole(old: &[u8], new: &[u8], context: u32) -> Vec<(char, Vec<u8>)> {
        let mut opts = git2::DiffOptions::new();
        opts.context_lines(context).force_text(true);
        let mut patch = git2::Patch::from_buffers(old, None, new, None, Some(&mut opts)).unwrap();
        let mut out = Vec::new();
        patch
            .print(&mut |_, _, l| {
                if matches!(l.origin(), ' ' | '+' | '-') {
                    out.push((l.origin(), l.content().to_vec()));
                }
                true
            })
            .unwrap();
        out
    }

    /// A repeatable stream of numbers below the bound asked for (a linear congruential
    /// generator seeded with `seed`).
    fn numbers(mut seed: u64) -> impl FnMut(usize) -> usize {
        move |below| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as usize) % below
        }
    }

    /// `lines` after `edits` random edits: a line changed, inserted or removed. `line(next, at,
    /// how)` makes the line changed or inserted at `at` (`how`: "changed" or "added").
    fn edited<T: Clone>(
        lines: &[T],
        edits: usize,
        next: &mut impl FnMut(usize) -> usize,
        mut line: impl FnMut(&mut dyn FnMut(usize) -> usize, usize, &str) -> T,
    ) -> Vec<T> {
        let mut out = lines.to_vec();
        for _ in 0..edits {
            let at = next(out.len());
            match next(3) {
                0 => out[at] = line(next, at, "changed"),
                1 => {
                    let l = line(next, at, "added");
                    out.insert(at, l);
                }
                _ => {
                    out.remove(at);
                }
            }
        }
        out
    }

    fn trimmed(old: &[u8], new: &[u8], context: u32) -> Vec<(char, Vec<u8>)> {
        let mut out = Vec::new();
        text_lines(old, new, context, &mut |o, c| out.push((o, c.to_vec()))).unwrap();
        out
    }

    #[test]
    fn shared_lines_are_trimmed_to_the_context() {
        let t = |o: &str, n: &str, c| {
            let (a, b, _) = trim_common_lines(o.as_bytes(), n.as_bytes(), c, c);
            (
                String::from_utf8(a.to_vec()).unwrap(),
                String::from_utf8(b.to_vec()).unwrap(),
            )
        };
        let s = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(t("a\nb\nc\n", "a\nB\nc\n", 0), s("b\n", "B\n"));
        assert_eq!(t("a\nb\nc\n", "a\nB\nc\n", 1), s("a\nb\nc\n", "a\nB\nc\n"));
        assert_eq!(t("a\nb\n", "a\nc\nb\n", 0), s("", "c\n"));
        assert_eq!(t("same\n", "same\n", 3), s("", ""));
        // A change inside a line keeps the whole line.
        assert_eq!(t("abc\nxyz\n", "abd\nxyz\n", 0), s("abc\n", "abd\n"));
        // The shared end starts inside a line of one side: only whole lines go.
        assert_eq!(t("x\nA\n", "yA\n", 0), s("x\nA\n", "yA\n"));
        // No newline at the end of one side.
        assert_eq!(t("a\nb", "a\nb\n", 0), s("b", "b\n"));
        assert_eq!(t("", "new\n", 3), s("", "new\n"));
    }

    #[test]
    fn a_trimmed_diff_gives_the_lines_of_a_whole_one() {
        // Distinct lines, changed in many ways: the trimmed diff must give what libgit2 gives
        // for the whole texts, with and without context.
        let base: Vec<String> = (0..120).map(|i| format!("line {i} of the file")).collect();
        let mut next = numbers(7);
        for case in 0..200 {
            let new = edited(&base, 1 + case % 4, &mut next, |_, at, how| {
                format!("{how} {case} {at}")
            });
            let old_text = base.join("\n") + "\n";
            let mut new_text = new.join("\n");
            if case % 5 != 0 {
                new_text.push('\n');
            }
            for context in [0, 3] {
                assert_eq!(
                    trimmed(old_text.as_bytes(), new_text.as_bytes(), context),
                    whole(old_text.as_bytes(), new_text.as_bytes(), context),
                    "case {case}, context {context}"
                );
            }
        }
    }

    #[test]
    fn a_trimmed_diff_of_repeated_lines_gives_the_lines_of_a_whole_one() {
        // Few distinct lines (blank lines, braces), so that where a change goes is ambiguous:
        // the trimmed diff must place it where the diff of the whole does, with the same
        // context (regression: the shared end was once looked for from where the context
        // starts, and claimed a blank line the change had; a patch-id then lost a context line).
        // Not every such text agrees: of 20,000 cases, one made a different (and as minimal)
        // choice inside the change, where the whole file's line counts steer the diff. A
        // patch-id is compared only with patch-ids made the same way (`PATCH_ID_TAG`).
        let alphabet = ["", "}", "    return x", "x = 1", "pass"];
        let mut next = numbers(11);
        for case in 0..3000 {
            let base: Vec<&str> = (0..(20 + case % 90))
                .map(|_| alphabet[next(alphabet.len())])
                .collect();
            let new = edited(&base, 1 + case % 3, &mut next, |next, _, _| {
                alphabet[next(alphabet.len())]
            });
            let old_text = base.join("\n") + "\n";
            let new_text = new.join("\n") + "\n";
            // Without context, what uses the lines takes them as a set: where an ambiguous
            // change is shown may differ, what it adds and removes may not.
            let (mut a, mut b) = (
                trimmed(old_text.as_bytes(), new_text.as_bytes(), 0),
                whole(old_text.as_bytes(), new_text.as_bytes(), 0),
            );
            a.sort();
            b.sort();
            assert_eq!(a, b, "case {case}, no context");
            assert_eq!(
                trimmed(old_text.as_bytes(), new_text.as_bytes(), 3),
                whole(old_text.as_bytes(), new_text.as_bytes(), 3),
                "case {case}, context 3"
            );
        }
    }

    #[test]
    fn a_new_or_deleted_file_is_all_its_lines() {
        for text in ["one\ntwo\n", "one\ntwo", "single", "\n\n"] {
            for context in [0, 3] {
                assert_eq!(
                    trimmed(b"", text.as_bytes(), context),
                    whole(b"", text.as_bytes(), context)
                );
                assert_eq!(
                    trimmed(text.as_bytes(), b"", context),
                    whole(text.as_bytes(), b"", context)
                );
            }
        }
        assert_eq!(
            trimmed(b"", b"a\nb", 3),
            vec![('+', b"a\n".to_vec()), ('+', b"b".to_vec())]
        );
    }

    #[test]
    fn binary_is_a_nul_among_the_first_8000_bytes() {
        assert!(is_binary(b"ab\0c"));
        assert!(!is_binary(b"plain text\n"));
        let mut late = vec![b'a'; 8000];
        late.push(0);
        assert!(!is_binary(&late));
    }
}
