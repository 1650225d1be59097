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

/// What a release commit's subject and its merge's branch name, beside its diff.
#[derive(Debug, Default)]
pub(super) struct Named {
    /// Main-side commits a bot's branch names (`backport-0123abc-3.12`): trailers, when the
    /// commit carries none of its own.
    pub(super) commits: Vec<String>,
    /// The original pull requests (`Backport PR #N: …`, `(GH-N)`, a meeseeksdev branch): the
    /// evidence of last resort (`pr_ref`).
    pub(super) prs: Vec<u64>,
}

/// The main-side commits since the branch point, indexed for finding counterparts.
pub(super) struct MainIndex<'m> {
    /// Non-merge commits by the hash of their changed paths.
    by_paths: HashMap<String, Vec<Oid>>,
    /// Ticket merges on the first-parent chain by the hash of their changed paths (squashes).
    merges_by_paths: HashMap<String, Vec<Oid>>,
    /// Non-merge commits by normalised subject.
    by_subject: HashMap<String, Vec<Oid>>,
    /// Pull requests on main by number: their merges (`Merge pull request #N`) and squashed
    /// commits (`… (#N)`).
    by_pr: HashMap<u64, Vec<Oid>>,
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
    /// The main-side commits a release commit that changes the paths `paths` (their hash) is
    /// compared with by patch-id first: the non-merge ones of its tickets (`related`), and the
    /// pull-request merges; `None` when no main-side commit changes those paths.
    pub(super) fn first_compared(&self, paths: &str, related: &HashSet<Oid>) -> Option<Vec<Oid>> {
        let mine = self.by_paths.get(paths);
        let merges = self.merges_by_paths.get(paths);
        if mine.is_none() && merges.is_none() {
            return None;
        }
        Some(
            mine.into_iter()
                .flatten()
                .filter(|c| related.contains(c))
                .chain(merges.into_iter().flatten())
                .copied()
                .collect(),
        )
    }

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
        let mut by_pr: HashMap<u64, Vec<Oid>> = HashMap::new();
        let mut main_time: HashMap<Oid, i64> = HashMap::new();
        for m in commits {
            let oid = Oid::from_str(&m.sha).map_err(|e| e.message().to_string())?;
            main_time.insert(oid, m.time);
            let pr_merge = m.merge && m.via.is_none() && !m.introduces.is_empty();
            if pr_merge || !m.merge {
                if let Some(n) = text::pull_request_number(&m.subject, m.merge) {
                    by_pr.entry(n).or_default().push(oid);
                }
            }
            let paths = self.paths(oid);
            let Some(paths) = self.checked(oid, paths) else {
                continue;
            };
            if m.merge {
                if m.via.is_none() && !m.introduces.is_empty() {
                    merges_by_paths.entry(paths).or_default().push(oid);
                }
            } else {
                by_paths.entry(paths).or_default().push(oid);
                by_subject
                    .entry(text::normalized_subject_with(
                        &m.subject,
                        self.t.policy.subject_prefix(),
                    ))
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
            by_pr,
            time: main_time,
            set: main_set,
            by_key,
            attr,
        })
    }

    /// The strongest evidence for `oid`'s main-side counterpart, and every candidate with it.
    /// `f`: its facts; `not_on_main`: the release commits not reachable from main; `related`:
    /// the main-side commits of its tickets, compared first; `named`: what its subject and its
    /// merge's branch name.
    pub(super) fn counterpart(
        &mut self,
        oid: Oid,
        f: &CommitFacts,
        not_on_main: &HashSet<Oid>,
        main: &MainIndex<'_>,
        related: &HashSet<Oid>,
        named: &Named,
    ) -> Res<Option<(MatchKind, Vec<Oid>)>> {
        if !not_on_main.contains(&oid) {
            return Ok(Some((MatchKind::SameCommit, vec![oid])));
        }
        let mut named_here = text::cherry_picked_from(&f.message);
        if named_here.is_empty() {
            named_here = named.commits.clone();
        }
        let trailers: Vec<Oid> = named_here
            .iter()
            .filter_map(|t| unique_by_prefix(main.set.iter().copied(), t))
            .collect();
        if !trailers.is_empty() {
            return Ok(Some((MatchKind::Trailer, trailers)));
        }
        let paths = self.paths(oid);
        let Some(paths) = self.checked(oid, paths) else {
            return Ok(None);
        };
        if let Some(cands) = main.by_paths.get(&paths) {
            let patch = self.patch(oid);
            let Some((pid, lines)) = self.checked(oid, patch) else {
                return Ok(None);
            };
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
                    let patch = self.patch(c);
                    let Some((p, l)) = self.checked(c, patch) else {
                        continue;
                    };
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
            // A whole pull request in one release commit: its merge's patch-id, or its changed
            // lines (the union of its commits' changes, with other context).
            let patch = self.patch(oid);
            let Some((pid, lines)) = self.checked(oid, patch) else {
                return Ok(None);
            };
            let mut same = Vec::new();
            let mut same_lines = Vec::new();
            for c in cands {
                let patch = self.patch(*c);
                match self.checked(*c, patch) {
                    Some((p, _)) if p == pid => same.push(*c),
                    Some((_, l)) if l == lines => same_lines.push(*c),
                    _ => {}
                }
            }
            if !same.is_empty() {
                return Ok(Some((MatchKind::Squash, same)));
            }
            if !same_lines.is_empty() {
                return Ok(Some((MatchKind::ChangedLines, same_lines)));
            }
        }
        // The same subject alone: only a specific one, and only with a changed path in common
        // (an edited backport still touches the files of its fix).
        let subject = text::normalized_subject_with(f.subject(), self.t.policy.subject_prefix());
        if text::is_generic_subject(&subject) {
            return Ok(None);
        }
        if let Some(cands) = main.by_subject.get(&subject) {
            let mine = self.path_list(oid);
            let Some(mine) = self.checked(oid, mine) else {
                return Ok(None);
            };
            let mut sharing = Vec::new();
            for c in cands {
                let theirs = self.path_list(*c);
                if self
                    .checked(*c, theirs)
                    .is_some_and(|p| p.iter().any(|x| mine.binary_search(x).is_ok()))
                {
                    sharing.push(*c);
                }
            }
            if !sharing.is_empty() {
                return Ok(Some((MatchKind::Subject, sharing)));
            }
        }
        // It names the original pull request, and nothing else links it.
        let referenced: Vec<Oid> = named
            .prs
            .iter()
            .flat_map(|n| main.by_pr.get(n).into_iter().flatten().copied())
            .collect();
        if !referenced.is_empty() {
            return Ok(Some((MatchKind::PrRef, referenced)));
        }
        Ok(None)
    }
}

/// The one commit among `commits` whose id starts with `prefix` (an abbreviated id, as people
/// type them into trailers and revert messages). `None` when no commit or more than one matches:
/// an ambiguous abbreviation names no commit, rather than whichever a hash set yields first.
pub(super) fn unique_by_prefix(
    commits: impl IntoIterator<Item = Oid>,
    prefix: &str,
) -> Option<Oid> {
    let mut found = None;
    for c in commits {
        if has_prefix(c, prefix) {
            if found.is_some() {
                return None;
            }
            found = Some(c);
        }
    }
    found
}

/// Whether `oid`'s hex spelling starts with `prefix` (either case), without spelling it out: this
/// runs for every main commit per trailer.
fn has_prefix(oid: Oid, prefix: &str) -> bool {
    let bytes = oid.as_bytes();
    prefix.len() <= 2 * bytes.len()
        && prefix.bytes().enumerate().all(|(i, ch)| {
            let b = bytes[i / 2];
            let nibble = if i % 2 == 0 { b >> 4 } else { b & 0x0f };
            (ch as char).to_digit(16) == Some(u32::from(nibble))
        })
}

#[cfg(test)]
mod tests {
    use super::unique_by_prefix;
    use git2::Oid;

    fn oid(hex: &str) -> Oid {
        Oid::from_str(hex).unwrap()
    }

    /// An abbreviated id shared by two commits used to link whichever the hash set yielded first:
    /// a backport could be reported as a pick of the wrong fix.
    #[test]
    fn an_ambiguous_abbreviated_trailer_links_no_commit() {
        let a = oid("abcdef1000000000000000000000000000000000");
        let b = oid("abcdef1999999999999999999999999999999999");
        let c = oid("1234567000000000000000000000000000000000");
        assert_eq!(unique_by_prefix([a, b, c], "abcdef1"), None);
        assert_eq!(unique_by_prefix([a, b, c], "abcdef19"), Some(b));
        assert_eq!(unique_by_prefix([a, b, c], "ABCDEF10"), Some(a));
        assert_eq!(unique_by_prefix([a, b, c], "1234567"), Some(c));
        assert_eq!(unique_by_prefix([a, b, c], "7654321"), None);
    }
}
