//! What a conflicting pick reports: the files and their conflicting hunks (release side and
//! pick side), and the dependency hint: the main-side commits since the branch point that
//! changed the lines the pick needs, found by blaming those lines on main.

use std::collections::BTreeSet;

use git2::{
    BlameOptions, Commit, DiffOptions, Index, IndexEntry, MergeFileOptions, Oid, Repository,
};
use serde::Serialize;

use crate::error::Result;

/// One conflicting file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConflictFile {
    pub path: String,
    /// `content` (both sides changed the same lines), or what else happened to the file.
    pub kind: String,
    pub hunks: Vec<ConflictHunk>,
}

/// One conflicting region of a file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConflictHunk {
    /// Its first line in the release branch's version of the file (1-based).
    pub line: usize,
    /// The lines as the release branch has them.
    pub release: Vec<String>,
    /// The lines as the pick would make them.
    pub pick: Vec<String>,
}

/// The conflicting files of a cherry-pick's index, with their hunks.
pub fn describe_conflict(
    repo: &Repository,
    index: &Index,
    picked: &Commit<'_>,
) -> Result<Vec<ConflictFile>> {
    let mut out = Vec::new();
    for c in index.conflicts()? {
        let c = c?;
        let path = [&c.our, &c.their, &c.ancestor]
            .into_iter()
            .flatten()
            .next()
            .map(|e| String::from_utf8_lossy(&e.path).into_owned())
            .unwrap_or_default();
        let (kind, hunks) = match (&c.ancestor, &c.our, &c.their) {
            (Some(a), Some(o), Some(t)) => ("content".to_string(), hunks(repo, a, o, t, picked)?),
            (None, Some(_), Some(_)) => ("added on both sides".to_string(), Vec::new()),
            (Some(_), None, Some(_)) => (
                "deleted on the release branch, changed by the pick".to_string(),
                Vec::new(),
            ),
            (Some(_), Some(_), None) => (
                "changed on the release branch, deleted by the pick".to_string(),
                Vec::new(),
            ),
            _ => ("conflict".to_string(), Vec::new()),
        };
        out.push(ConflictFile { path, kind, hunks });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// The conflicting regions of a three-way file merge.
fn hunks(
    repo: &Repository,
    ancestor: &IndexEntry,
    ours: &IndexEntry,
    theirs: &IndexEntry,
    picked: &Commit<'_>,
) -> Result<Vec<ConflictHunk>> {
    let mut opts = MergeFileOptions::new();
    let short = picked.id().to_string()[..10].to_string();
    opts.our_label("release").their_label(short.as_str());
    let merged = repo.merge_file_from_index(ancestor, ours, theirs, Some(&mut opts))?;
    Ok(parse_markers(&String::from_utf8_lossy(merged.content())))
}

/// The regions between conflict markers, with their line in the release side's file.
pub(crate) fn parse_markers(text: &str) -> Vec<ConflictHunk> {
    enum Part {
        Outside,
        Release,
        Pick,
    }
    let mut out = Vec::new();
    let mut part = Part::Outside;
    let mut release_line = 0usize;
    let mut current: Option<ConflictHunk> = None;
    for l in text.lines() {
        match part {
            Part::Outside if l.starts_with("<<<<<<<") => {
                part = Part::Release;
                current = Some(ConflictHunk {
                    line: release_line + 1,
                    release: Vec::new(),
                    pick: Vec::new(),
                });
            }
            Part::Outside => release_line += 1,
            Part::Release if l.starts_with("=======") => part = Part::Pick,
            Part::Release if l.starts_with("|||||||") => {}
            Part::Release => {
                release_line += 1;
                if let Some(h) = current.as_mut() {
                    h.release.push(l.to_string());
                }
            }
            Part::Pick if l.starts_with(">>>>>>>") => {
                part = Part::Outside;
                out.extend(current.take());
            }
            Part::Pick => {
                if let Some(h) = current.as_mut() {
                    h.pick.push(l.to_string());
                }
            }
        }
    }
    out
}

/// The dependency hint of a conflicting pick of `commit` (a main-side commit): the commits
/// after `branch_point` on main that last changed the lines `commit` changes in `paths` (and
/// the lines next to them), newest last, leaving out `exclude` (those on the release branch
/// already, and those picked in the same series).
pub fn dependencies(
    repo: &Repository,
    commit: Oid,
    branch_point: Oid,
    paths: &[String],
    exclude: &BTreeSet<String>,
) -> Result<Vec<String>> {
    let c = repo.find_commit(commit)?;
    let Ok(parent) = c.parent(0) else {
        return Ok(Vec::new());
    };
    let mut diff_opts = DiffOptions::new();
    diff_opts.context_lines(0);
    for p in paths {
        diff_opts.pathspec(p);
    }
    let diff = repo.diff_tree_to_tree(
        Some(&parent.tree()?),
        Some(&c.tree()?),
        Some(&mut diff_opts),
    )?;
    // Per path, the old-side line ranges the commit changes.
    let mut ranges: Vec<(String, usize, usize)> = Vec::new();
    diff.foreach(
        &mut |_, _| true,
        None,
        Some(&mut |delta, hunk| {
            if let Some(path) = delta.old_file().path() {
                let start = hunk.old_start() as usize;
                let len = hunk.old_lines() as usize;
                ranges.push((
                    path.to_string_lossy().into_owned(),
                    start.saturating_sub(1).max(1),
                    start + len.max(1),
                ));
            }
            true
        }),
        None,
    )?;
    let parent_tree = parent.tree()?;
    let mut found: Vec<String> = Vec::new();
    for (path, from, to) in ranges {
        let Ok(entry) = parent_tree.get_path(std::path::Path::new(&path)) else {
            continue;
        };
        let blob = repo.find_blob(entry.id())?;
        let lines = blob
            .content()
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            .max(1);
        let (from, to) = (from.min(lines), to.min(lines));
        let mut opts = BlameOptions::new();
        opts.newest_commit(parent.id())
            .oldest_commit(branch_point)
            .min_line(from)
            .max_line(to);
        let blame = repo.blame_file(std::path::Path::new(&path), Some(&mut opts))?;
        for h in blame.iter() {
            let id = h.final_commit_id().to_string();
            if h.is_boundary()
                || h.final_commit_id() == branch_point
                || exclude.contains(&id)
                || found.contains(&id)
            {
                continue;
            }
            found.push(id);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_give_each_hunk_with_its_release_line() {
        let text = "a\nb\n<<<<<<< release\nc2\nd2\n=======\nc3\n>>>>>>> abc\ne\n<<<<<<< release\n=======\nx\n>>>>>>> abc\n";
        let h = parse_markers(text);
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].line, 3);
        assert_eq!(h[0].release, vec!["c2", "d2"]);
        assert_eq!(h[0].pick, vec!["c3"]);
        assert_eq!(h[1].line, 6);
        assert!(h[1].release.is_empty());
        assert_eq!(h[1].pick, vec!["x"]);
    }
}
