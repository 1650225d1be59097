//! Landing by content: a main-side commit that no release commit matched may still be on the
//! release branch, inside a manual backport or a carrier ticket's bundle. Its effect is there
//! when its added lines are present, and its removed lines absent, in the release tip's files
//! (following files renamed between the branches), where the branch point differed.
//!
//! Only commits of a ticket, that touch a file some release-only commit touched, are tested:
//! their lines had to arrive by such a commit, which is named as the landing.

use std::collections::{HashMap, HashSet};

use git2::{Oid, Repository};

use super::reader::{Files, Scanner};
use super::target::{git_problem, Res, ScanTarget};
use crate::blobdiff::{file_lines, on_two_threads, ChangedFile};
use crate::model::{ContentLanding, MainCommit, ReleaseCommit};

/// The share of a commit's lines that must be as it left them for a content landing.
const THRESHOLD: f64 = 0.8;
/// The confidence of a content landing whose every line is as the commit left it.
const BASE_CONFIDENCE: f64 = 0.7;

/// A line worth checking: not blank and not mere punctuation (`}`, `)`, `else:`…).
fn significant(line: &str) -> Option<String> {
    let t: String = line.split_whitespace().collect::<Vec<_>>().join(" ");
    (t.chars().filter(|c| c.is_alphanumeric()).count() >= 3).then_some(t)
}

/// The significant lines of the file at `path` in `tree`, or `None` when there is none.
fn lines_at(repo: &Repository, tree: &git2::Tree<'_>, path: &str) -> Option<HashSet<String>> {
    let entry = tree.get_path(std::path::Path::new(path)).ok()?;
    let blob = repo.find_blob(entry.id()).ok()?;
    Some(
        String::from_utf8_lossy(blob.content())
            .lines()
            .filter_map(significant)
            .collect(),
    )
}

/// A commit's added and removed significant lines per path (against its first parent).
type Change = HashMap<String, (Vec<String>, Vec<String>)>;

impl Scanner<'_, '_, '_> {
    /// Mark in `main_commits` the ones without a counterpart among `release_commits` whose
    /// change is on the release branch at `release_tip` by content (see the module).
    pub(super) fn content_landings(
        &mut self,
        main_commits: &mut [MainCommit],
        release_commits: &[ReleaseCommit],
        release_tip: Oid,
        branch_point: Oid,
        main_tip: Oid,
    ) -> Res<()> {
        // The main-side commits some release commit stands for.
        let introduces: HashMap<&str, &Vec<String>> = main_commits
            .iter()
            .filter(|m| m.merge)
            .map(|m| (m.sha.as_str(), &m.introduces))
            .collect();
        let mut matched: HashSet<String> = HashSet::new();
        for c in release_commits {
            for m in c.matched.iter().map(|m| &m.main_commit).chain(
                c.candidates
                    .iter()
                    .filter(|x| x.kind.is_exact())
                    .map(|x| &x.main_commit),
            ) {
                matched.insert(m.clone());
                matched.extend(
                    introduces
                        .get(m.as_str())
                        .into_iter()
                        .copied()
                        .flatten()
                        .cloned(),
                );
            }
        }
        // The files release-only commits touched, and the latest such commit of each.
        let mut touched: HashMap<String, String> = HashMap::new();
        for c in release_commits.iter().filter(|c| c.is_release_only()) {
            let oid = Oid::from_str(&c.sha).map_err(|e| e.message().to_string())?;
            let paths = self.path_list(oid);
            for p in self.checked(oid, paths).unwrap_or_default() {
                touched.insert(String::from_utf8_lossy(&p).into_owned(), c.sha.clone());
            }
        }
        if touched.is_empty() {
            return Ok(());
        }
        let candidates: Vec<usize> = main_commits
            .iter()
            .enumerate()
            .filter(|(_, m)| {
                !m.merge
                    && m.not_needed.is_none()
                    && (m.ticket.is_some() || !m.mentions.is_empty())
                    && !matched.contains(&m.sha)
            })
            .map(|(i, _)| i)
            .collect();
        if candidates.is_empty() {
            return Ok(());
        }
        let what = "reading the release branch's files";
        let repo = self.repo;
        let tip_tree = repo
            .find_commit(release_tip)
            .and_then(|c| c.tree())
            .map_err(|e| git_problem(self.t, what, e))?;
        let bp_tree = repo
            .find_commit(branch_point)
            .and_then(|c| c.tree())
            .map_err(|e| git_problem(self.t, what, e))?;
        // Read only when a file is not on the release branch under its main-side name.
        let mut renames: Option<HashMap<String, String>> = None;
        let mut files: HashMap<(bool, String), HashSet<String>> = HashMap::new();
        let odb = repo.odb().ok();
        let mut todo: Vec<(usize, Oid, Files)> = Vec::new();
        for i in candidates {
            let oid = Oid::from_str(&main_commits[i].sha).map_err(|e| e.message().to_string())?;
            let files = self.changed_files(oid);
            let Some(files) = self.checked(oid, files) else {
                continue;
            };
            if may_land_by_content(&files, &touched, &tip_tree, odb.as_ref()) {
                todo.push((i, oid, files));
            }
        }
        let changes = changes_of(repo, self.t, &todo);
        for ((i, oid, _), change) in todo.into_iter().zip(changes) {
            let Some(change) = self.checked(oid, change) else {
                continue;
            };
            let (mut checked, mut kept, mut differs) = (0usize, 0usize, false);
            let mut carrier: Option<&String> = None;
            for (path, (added, removed)) in &change {
                let on_release = if tip_tree.get_path(std::path::Path::new(path)).is_ok() {
                    path.clone()
                } else {
                    if renames.is_none() {
                        renames = Some(self.renamed(&tip_tree, main_tip)?);
                    }
                    match renames.as_ref().and_then(|r| r.get(path)) {
                        Some(p) => p.clone(),
                        None => continue,
                    }
                };
                let Some(by) = touched.get(&on_release) else {
                    continue;
                };
                carrier = carrier.or(Some(by));
                for (at_tip, tree) in [(true, &tip_tree), (false, &bp_tree)] {
                    files
                        .entry((at_tip, on_release.clone()))
                        .or_insert_with(|| lines_at(repo, tree, &on_release).unwrap_or_default());
                }
                let tip = &files[&(true, on_release.clone())];
                let bp = &files[&(false, on_release.clone())];
                for l in added {
                    checked += 1;
                    if tip.contains(l) {
                        kept += 1;
                        differs |= !bp.contains(l);
                    }
                }
                for l in removed.iter().filter(|l| !added.contains(l)) {
                    checked += 1;
                    if !tip.contains(l) {
                        kept += 1;
                        differs |= bp.contains(l);
                    }
                }
            }
            let Some(carrier) = carrier else { continue };
            if checked == 0 || !differs {
                continue;
            }
            let share = kept as f64 / checked as f64;
            if share >= THRESHOLD {
                main_commits[i].content = Some(ContentLanding {
                    release_commit: carrier.clone(),
                    confidence: (BASE_CONFIDENCE * share * 100.0).round() / 100.0,
                });
            }
        }
        Ok(())
    }

    /// Files renamed between the release tip (`tip_tree`) and main's tip: main's path → the
    /// release branch's.
    fn renamed(&self, tip_tree: &git2::Tree<'_>, main_tip: Oid) -> Res<HashMap<String, String>> {
        let what = "finding files renamed between the branches";
        let main_tree = self
            .repo
            .find_commit(main_tip)
            .and_then(|c| c.tree())
            .map_err(|e| git_problem(self.t, what, e))?;
        let mut diff = self
            .repo
            .diff_tree_to_tree(Some(tip_tree), Some(&main_tree), None)
            .map_err(|e| git_problem(self.t, what, e))?;
        diff.find_similar(Some(git2::DiffFindOptions::new().renames(true)))
            .map_err(|e| git_problem(self.t, what, e))?;
        let mut out = HashMap::new();
        for d in diff.deltas() {
            if d.status() == git2::Delta::Renamed {
                if let (Some(new), Some(old)) = (d.new_file().path(), d.old_file().path()) {
                    out.insert(
                        new.to_string_lossy().into_owned(),
                        old.to_string_lossy().into_owned(),
                    );
                }
            }
        }
        Ok(out)
    }
}

/// Whether a change (its `files`) can land by content: whether it changes a file that some
/// release-only commit touched (`touched`), or one that is not on the release branch at
/// `tip_tree` under its name (it may have been renamed). Cheap (the changed paths, from trees
/// already read): most commits are then not diffed at all, which was most of a cold scan. A
/// change whose blobs are not all there is diffed anyway, so that what cannot be checked is
/// named as before.
fn may_land_by_content(
    files: &[ChangedFile],
    touched: &HashMap<String, String>,
    tip_tree: &git2::Tree<'_>,
    odb: Option<&git2::Odb<'_>>,
) -> bool {
    let Some(odb) = odb else {
        return true;
    };
    files.iter().any(|f| {
        let path = String::from_utf8_lossy(&f.path);
        touched.contains_key(path.as_ref())
            || tip_tree
                .get_path(std::path::Path::new(path.as_ref()))
                .is_err()
            || (!f.link
                && [f.before, f.after]
                    .into_iter()
                    .flatten()
                    .any(|b| !odb.exists(b)))
    })
}

/// The changes of `todo`'s commits (see [`change_of`]), in order; with many, on two threads.
fn changes_of(
    repo: &Repository,
    t: &ScanTarget<'_>,
    todo: &[(usize, Oid, Files)],
) -> Vec<Res<Change>> {
    const PARALLEL_FROM: usize = 64;
    let one =
        |repo: &Repository, (_, oid, files): &(usize, Oid, Files)| change_of(repo, t, *oid, files);
    if todo.len() >= PARALLEL_FROM {
        return on_two_threads(repo, &t.path, todo, one);
    }
    todo.iter().map(|x| one(repo, x)).collect()
}

/// A commit's significant added and removed lines per path.
fn change_of(
    repo: &Repository,
    t: &ScanTarget<'_>,
    oid: Oid,
    files: &[ChangedFile],
) -> Res<Change> {
    let mut out: Change = HashMap::new();
    for file in files {
        let path = String::from_utf8_lossy(&file.path).into_owned();
        let mut added = Vec::new();
        let mut removed = Vec::new();
        file_lines(repo, file, 0, &mut |origin, content| {
            if let Some(text) = significant(&String::from_utf8_lossy(content)) {
                if origin == '+' {
                    added.push(text);
                } else if origin == '-' {
                    removed.push(text);
                }
            }
        })
        .map_err(|e| git_problem(t, &format!("reading the diff of {oid}"), e))?;
        if !added.is_empty() || !removed.is_empty() {
            let e = out.entry(path).or_default();
            e.0.extend(added);
            e.1.extend(removed);
        }
    }
    Ok(out)
}
