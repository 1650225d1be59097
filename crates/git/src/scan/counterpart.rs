//! Finding a release commit's main-side counterpart: the main side indexed once per scan
//! ([`MainIndex`]), then the evidence tried strongest first (the same commit, a cherry-pick
//! trailer, equal patch-id, a whole ticket merge's patch-id, the same changed lines, the same
//! subject). Patch-ids are computed only where the cheap changed-path sets are equal.

use std::collections::{HashMap, HashSet};

use git2::Oid;

use super::attribution::Attribution;
use super::reader::Scanner;
use super::target::Res;
use crate::cache::CommitFacts;
use crate::model::MainCommit;
use crate::text;
use portcullis_core::landing::MatchKind;

/// The main-side commits since the branch point, indexed for finding counterparts.
pub(super) struct MainIndex<'m> {
    /// Non-merge commits by the hash of their changed paths.
    by_paths: HashMap<String, Vec<Oid>>,
    /// Ticket merges on the first-parent chain by the hash of their changed paths (squashes).
    merges_by_paths: HashMap<String, Vec<Oid>>,
    /// Non-merge commits by normalised subject.
    by_subject: HashMap<String, Vec<Oid>>,
    /// Every commit's time.
    pub(super) time: HashMap<Oid, i64>,
    /// Every commit.
    set: HashSet<Oid>,
    /// Non-merge commits by the tickets they belong to or mention: a release commit's own
    /// ticket's commits are compared first, and most backports stop there.
    by_key: HashMap<&'m str, Vec<Oid>>,
    /// Who brought each commit onto main.
    pub(super) attr: HashMap<Oid, Attribution>,
}

impl MainIndex<'_> {
    /// The non-merge commits of the tickets `keys`.
    pub(super) fn related<'k>(&self, keys: impl Iterator<Item = &'k String>) -> HashSet<Oid> {
        keys.flat_map(|k| self.by_key.get(k.as_str()).into_iter().flatten().copied())
            .collect()
    }
}

impl Scanner<'_, '_, '_> {
    /// Index the main side (`commits`, brought in as `attr` says).
    pub(super) fn index_main_side<'m>(
        &mut self,
        commits: &'m [MainCommit],
        attr: HashMap<Oid, Attribution>,
    ) -> Res<MainIndex<'m>> {
        let mut by_paths: HashMap<String, Vec<Oid>> = HashMap::new();
        let mut merges_by_paths: HashMap<String, Vec<Oid>> = HashMap::new();
        let mut by_subject: HashMap<String, Vec<Oid>> = HashMap::new();
        let mut main_time: HashMap<Oid, i64> = HashMap::new();
        for m in commits {
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
        let mut by_key: HashMap<&str, Vec<Oid>> = HashMap::new();
        for m in commits {
            if m.merge {
                continue;
            }
            let oid = Oid::from_str(&m.sha).map_err(|e| e.message().to_string())?;
            for k in m.ticket.iter().chain(m.mentions.iter()) {
                by_key.entry(k.as_str()).or_default().push(oid);
            }
        }
        Ok(MainIndex {
            by_paths,
            merges_by_paths,
            by_subject,
            time: main_time,
            set: main_set,
            by_key,
            attr,
        })
    }

    /// The strongest evidence for `oid`'s main-side counterpart, and every candidate with it.
    /// `f`: its facts; `not_on_main`: the release commits not reachable from main; `related`:
    /// the main-side commits of its tickets, compared first.
    pub(super) fn counterpart(
        &mut self,
        oid: Oid,
        f: &CommitFacts,
        not_on_main: &HashSet<Oid>,
        main: &MainIndex<'_>,
        related: &HashSet<Oid>,
    ) -> Res<Option<(MatchKind, Vec<Oid>)>> {
        if !not_on_main.contains(&oid) {
            return Ok(Some((MatchKind::SameCommit, vec![oid])));
        }
        let trailers: Vec<Oid> = text::cherry_picked_from(&f.message)
            .iter()
            .filter_map(|t| {
                main.set
                    .iter()
                    .find(|m| m.to_string().starts_with(t.as_str()))
                    .copied()
            })
            .collect();
        if !trailers.is_empty() {
            return Ok(Some((MatchKind::Trailer, trailers)));
        }
        let paths = self.paths(oid)?;
        if let Some(cands) = main.by_paths.get(&paths) {
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
        if let Some(cands) = main.merges_by_paths.get(&paths) {
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
        if let Some(cands) = main.by_subject.get(&text::normalized_subject(f.subject())) {
            return Ok(Some((MatchKind::Subject, cands.clone())));
        }
        Ok(None)
    }
}
