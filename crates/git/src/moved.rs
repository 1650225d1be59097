//! Code that moved between repositories: a ticket's main-side change lives in one repository of
//! the line (its code moved there on main), and its backport was made by hand on the release
//! branch of another (where the code still lives on the release line). The scans see a missing
//! commit in the first and a release-only commit in the second; this pass, run over every scan
//! of a line after they are done, pairs them.
//!
//! A pair is tested only when the release-only commit (live: neither a revert nor reverted)
//! names one of the main-side commit's tickets (by merge branch or mention), and the main-side
//! commit has no counterpart in its own repository and touches a file its own release branch
//! does not have under that name (the code moved there after the branch point). Paths are left out of the comparison (the
//! file moved): the main-side commit's changed lines (added and removed, whitespace ignored)
//! that the release commit changes the same way. All of them, and no others: `changed_lines`;
//! at least 0.8 of them: `content`, with a confidence of 0.7 × that share.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use git2::{Oid, Repository};

use crate::blobdiff::{file_lines, ChangedFile};
use crate::model::{RepoScan, ScanStatus};
use portcullis_core::landing::MatchKind;

/// The share of a main-side commit's changed lines the release commit must change the same way.
const THRESHOLD: f64 = 0.8;
/// The confidence of a `content` move whose every line is there.
const BASE_CONFIDENCE: f64 = 0.7;

/// A main-side commit of one repository landed on the release branch of another.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Move {
    /// Where the main-side commit is.
    pub main_repo: String,
    pub main_commit: String,
    /// Where it landed.
    pub release_repo: String,
    pub release_commit: String,
    pub kind: MatchKind,
    pub confidence: f64,
    /// The release commit's first release tag.
    pub first_tag: Option<String>,
}

/// A commit's changed lines without their paths: `+` or `-`, then the content without
/// whitespace. Lines with no letter or digit (`}`, `)`) are left out.
fn changed_lines(repo: &Repository, oid: Oid) -> Option<HashSet<Vec<u8>>> {
    let c = repo.find_commit(oid).ok()?;
    let tree = c.tree().ok()?;
    let parent = match c.parent(0) {
        Ok(p) => Some(p.tree().ok()?),
        Err(_) => None,
    };
    let diff = repo
        .diff_tree_to_tree(parent.as_ref(), Some(&tree), None)
        .ok()?;
    let mut out = HashSet::new();
    for d in diff.deltas() {
        let side = |f: git2::DiffFile<'_>| f.exists().then(|| f.id());
        let link = [d.old_file(), d.new_file()]
            .iter()
            .any(|f| f.exists() && f.mode() == git2::FileMode::Commit);
        let file = ChangedFile {
            path: Vec::new(),
            before: side(d.old_file()),
            after: side(d.new_file()),
            link,
        };
        file_lines(repo, &file, 0, &mut |origin, content| {
            if (origin == '+' || origin == '-') && content.iter().any(u8::is_ascii_alphanumeric) {
                let mut key = vec![origin as u8];
                key.extend(content.iter().filter(|b| !b.is_ascii_whitespace()));
                out.insert(key);
            }
        })
        .ok()?;
    }
    Some(out)
}

/// The main-side commits of a scan that some release commit of the same repository stands for.
fn matched_here(scan: &RepoScan) -> HashSet<&str> {
    let introduces: HashMap<&str, &Vec<String>> = scan
        .main_commits
        .iter()
        .filter(|m| m.merge)
        .map(|m| (m.sha.as_str(), &m.introduces))
        .collect();
    let mut out = HashSet::new();
    for c in &scan.release_commits {
        for m in c
            .matched
            .iter()
            .map(|m| &m.main_commit)
            .chain(c.candidates.iter().map(|x| &x.main_commit))
        {
            out.insert(m.as_str());
            for i in introduces.get(m.as_str()).into_iter().copied().flatten() {
                out.insert(i.as_str());
            }
        }
    }
    out
}

/// The moves between the repositories of a line: `paths` gives each scanned repository's
/// clone. Commits that cannot be read are left out (the scans name them).
pub fn find_moves(scans: &[RepoScan], paths: &HashMap<String, &Path>) -> Vec<Move> {
    // The live release-only commits with a ticket, per repository.
    let mut release: Vec<(usize, usize)> = Vec::new();
    for (si, s) in scans.iter().enumerate() {
        if s.status == ScanStatus::Unverifiable {
            continue;
        }
        for (ci, c) in s.release_commits.iter().enumerate() {
            if c.is_release_only()
                && c.reverted_by.is_none()
                && (c.ticket.is_some() || !c.mentions.is_empty())
            {
                release.push((si, ci));
            }
        }
    }
    if release.is_empty() || scans.len() < 2 {
        return Vec::new();
    }
    let mut pairs: Vec<(usize, usize, usize, usize)> = Vec::new();
    for (ai, a) in scans.iter().enumerate() {
        if a.status == ScanStatus::Unverifiable {
            continue;
        }
        let matched = matched_here(a);
        for (mi, m) in a.main_commits.iter().enumerate() {
            // Only code that is not on its own release branch can have moved (a scan without a
            // release branch marks nothing: every commit may have).
            let outside = m.outside_release || a.release_tip.is_none();
            if m.merge
                || !outside
                || m.not_needed.is_some()
                || m.content.is_some()
                || matched.contains(m.sha.as_str())
            {
                continue;
            }
            let keys: Vec<&String> = m.ticket.iter().chain(m.mentions.iter()).collect();
            if keys.is_empty() {
                continue;
            }
            for &(bi, ci) in &release {
                if bi == ai {
                    continue;
                }
                let c = &scans[bi].release_commits[ci];
                if c.ticket
                    .iter()
                    .chain(c.mentions.iter())
                    .any(|k| keys.contains(&k))
                {
                    pairs.push((ai, mi, bi, ci));
                }
            }
        }
    }
    if pairs.is_empty() {
        return Vec::new();
    }
    let lines = read_lines(scans, paths, &pairs);
    tracing::debug!(
        pairs = pairs.len(),
        commits = lines.len(),
        "moves: pairs compared"
    );
    let mut out: Vec<Move> = Vec::new();
    for (ai, mi, bi, ci) in pairs {
        let m = &scans[ai].main_commits[mi];
        let c = &scans[bi].release_commits[ci];
        let read =
            |si: usize, sha: &str| lines.get(&(si, sha.to_string())).and_then(Option::as_ref);
        let (Some(main), Some(rel)) = (read(ai, &m.sha), read(bi, &c.sha)) else {
            continue;
        };
        if main.is_empty() {
            continue;
        }
        let kept = main.iter().filter(|l| rel.contains(*l)).count();
        let share = kept as f64 / main.len() as f64;
        let (kind, confidence) = if main == rel {
            (
                MatchKind::ChangedLines,
                MatchKind::ChangedLines.confidence(),
            )
        } else if share >= THRESHOLD {
            (
                MatchKind::Content,
                (BASE_CONFIDENCE * share * 100.0).round() / 100.0,
            )
        } else {
            continue;
        };
        // One landing per main-side commit: the strongest.
        if let Some(i) = out
            .iter()
            .position(|x| x.main_repo == scans[ai].repo && x.main_commit == m.sha)
        {
            if out[i].confidence >= confidence {
                continue;
            }
            out.remove(i);
        }
        out.push(Move {
            main_repo: scans[ai].repo.clone(),
            main_commit: m.sha.clone(),
            release_repo: scans[bi].repo.clone(),
            release_commit: c.sha.clone(),
            kind,
            confidence,
            first_tag: c.first_tag.clone(),
        });
    }
    out
}

/// What is read of one commit: its changed lines, or `None` when it cannot be read.
type Lines = HashMap<(usize, String), Option<HashSet<Vec<u8>>>>;

/// The changed lines of every commit the pairs compare, each read once: one repository after
/// another on two threads, each with its own handles.
fn read_lines(
    scans: &[RepoScan],
    paths: &HashMap<String, &Path>,
    pairs: &[(usize, usize, usize, usize)],
) -> Lines {
    let mut wanted: HashMap<usize, HashSet<&str>> = HashMap::new();
    for &(ai, mi, bi, ci) in pairs {
        wanted
            .entry(ai)
            .or_default()
            .insert(scans[ai].main_commits[mi].sha.as_str());
        wanted
            .entry(bi)
            .or_default()
            .insert(scans[bi].release_commits[ci].sha.as_str());
    }
    let mut repos: Vec<(usize, Vec<&str>)> = wanted
        .into_iter()
        .map(|(si, shas)| (si, shas.into_iter().collect()))
        .collect();
    repos.sort_by_key(|(si, shas)| (std::cmp::Reverse(shas.len()), *si));
    let read = |share: Vec<&(usize, Vec<&str>)>| {
        let mut out = HashMap::new();
        for (si, shas) in share {
            let repo = paths
                .get(&scans[*si].repo)
                .and_then(|p| crate::blobdiff::open_history(p).ok());
            for sha in shas {
                let lines = repo
                    .as_ref()
                    .and_then(|r| changed_lines(r, Oid::from_str(sha).ok()?));
                out.insert((*si, sha.to_string()), lines);
            }
        }
        out
    };
    // The larger repositories first, dealt out in turn.
    let (mut first, mut second) = (Vec::new(), Vec::new());
    for (i, r) in repos.iter().enumerate() {
        if i % 2 == 0 {
            first.push(r);
        } else {
            second.push(r);
        }
    }
    std::thread::scope(|s| {
        let theirs = second.clone();
        let other = s.spawn(|| read(theirs));
        let mut out = read(first);
        match other.join() {
            Ok(rest) => out.extend(rest),
            Err(_) => out.extend(read(second)),
        }
        out
    })
}
