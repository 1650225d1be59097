//! Scanning one repository's history for a release line, in phases: the branch point, the main
//! side, the first release tag of each release commit, each release commit with its ticket and
//! counterpart, and the reverts; or, while the release branch does not exist, the main side
//! since the line's first tag.

use std::collections::{HashMap, HashSet};

use git2::Oid;

use super::attribution::{mentions, Attribution};
use super::counterpart::{MainIndex, Named};
use super::reader::{patch_hashes_on_two_threads, Scanner};
use super::target::Res;
use crate::cache::CommitFacts;
use crate::model::{BranchPoint, Candidate, MainCommit, Match, ReleaseCommit, RepoScan};
use crate::text;
use portcullis_core::landing::{Direction, MatchKind};

/// The release side of a scan: what each release commit is judged against.
struct ReleaseSide {
    /// Release commits since the branch point, oldest first.
    order: Vec<Oid>,
    /// Release commits not reachable from main.
    not_on_main: HashSet<Oid>,
    /// Who brought each release commit onto the release branch.
    attr: HashMap<Oid, Attribution>,
    /// The first release tag containing each release commit.
    first_tag: HashMap<Oid, String>,
}

impl Scanner<'_, '_, '_> {
    /// Scan the line whose release branch is at `release_tip` into `out`.
    pub(super) fn scan_line(
        &mut self,
        out: &mut RepoScan,
        main_tip: Oid,
        release_tip: Oid,
        tags: &[(text::ReleaseTag, Oid)],
    ) -> Res<()> {
        let t0 = std::time::Instant::now();
        let not_on_main: HashSet<Oid> = self.walk_set(release_tip, &[main_tip])?;
        let bp = self.branch_point(release_tip, &not_on_main)?;
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
        let (mut main_commits, main_attr) = self.main_side(main_tip, bp)?;
        self.mark_not_needed(&mut main_commits)?;
        let t_main = t0.elapsed();
        let order = self.walk(release_tip, &[bp])?;
        let release_set: HashSet<Oid> = order.iter().copied().collect();
        let attr = self.attribute(release_tip, &release_set, false)?;
        let main = self.index_main_side(&main_commits, main_attr)?;
        let t_paths = t0.elapsed();
        let first_tag = self.first_tags(tags, bp, &release_set)?;
        let release = ReleaseSide {
            order,
            not_on_main,
            attr,
            first_tag,
        };

        self.prefetch_patches(&release, &main)?;
        let t_ahead = t0.elapsed();
        let mut commits = Vec::with_capacity(release.order.len());
        for oid in &release.order {
            commits.push(self.release_commit(*oid, &release, &main)?);
        }
        link_reverts(&mut commits);
        let t_release = t0.elapsed();
        self.content_landings(&mut main_commits, &commits, release_tip, bp, main_tip)?;
        self.mark_outside_release(&mut main_commits, release_tip)?;
        tracing::debug!(
            repo = %self.t.repo,
            branch_point = ?t_bp,
            main_side = ?t_main,
            paths = ?t_paths,
            patch_ids_ahead = ?t_ahead,
            release = ?t_release,
            total = ?t0.elapsed(),
            main_commits = main_commits.len(),
            "scanned"
        );
        out.main_commits = main_commits;
        out.release_commits = commits;
        Ok(())
    }

    /// A head start for the counterparts: the patch-ids they compare first (each release
    /// commit's own, those of its tickets' main-side commits that change the same paths, and
    /// those of the pull-request merges that do), computed on two threads; most backports need
    /// no other. The search reads them from the cache and computes anything else itself, and
    /// names what cannot be read.
    fn prefetch_patches(&mut self, release: &ReleaseSide, main: &MainIndex<'_>) -> Res<()> {
        /// Fewer than this are not worth a thread.
        const PREFETCH_FROM: usize = 32;
        let mut want = Vec::new();
        let mut seen = HashSet::new();
        for &oid in &release.order {
            if !release.not_on_main.contains(&oid) {
                continue;
            }
            let f = self.facts(oid)?;
            if f.parents.len() > 1 || !text::cherry_picked_from(&f.message).is_empty() {
                continue;
            }
            let message = f.message.clone();
            let ticket = release.attr.get(&oid).and_then(|a| a.ticket.clone());
            let Ok(paths) = self.paths(oid) else {
                continue;
            };
            let mut keys = mentions(
                self.t.policy,
                &self.t.repo,
                false,
                &message,
                ticket.as_deref(),
            );
            keys.extend(ticket);
            let related = main.related(keys.iter());
            let Some(first) = main.first_compared(&paths, &related) else {
                continue;
            };
            for o in std::iter::once(oid).chain(first) {
                // Unreadable facts are left to the search, which names them.
                if seen.insert(o) && self.facts(o).is_ok() && self.kept_patch(o).is_none() {
                    want.push(o);
                }
            }
        }
        if want.len() < PREFETCH_FROM {
            return Ok(());
        }
        let jobs: Vec<_> = want
            .into_iter()
            .filter_map(|o| Some((o, self.changed_files(o).ok()?)))
            .collect();
        tracing::debug!(repo = %self.t.repo, commits = jobs.len(), "patch-ids computed ahead");
        for (o, hashes) in patch_hashes_on_two_threads(self.repo, &self.t.path, &jobs) {
            if let Ok((pid, lines)) = hashes {
                self.store_patch(o, &pid, &lines);
            }
        }
        Ok(())
    }

    /// Mark the main-side commits that add or change a file the release branch (at
    /// `release_tip`) does not have under that name: the ones [`crate::moved`] compares with
    /// other repositories' release-only commits (a ticket may reach a commit later, from a
    /// merged pull request, so every non-merge commit is marked). From the changed paths (trees
    /// already read) and one walk of the release tip's tree. When that tree cannot be read
    /// (missing objects) every commit is marked: the moves then compare them all, as they did
    /// before there was a mark, and the scan goes on.
    fn mark_outside_release(&mut self, commits: &mut [MainCommit], release_tip: Oid) -> Res<()> {
        let on_release = self.release_paths(release_tip).ok();
        for m in commits
            .iter_mut()
            .filter(|m| !m.merge && m.not_needed.is_none() && m.content.is_none())
        {
            let Some(on_release) = &on_release else {
                m.outside_release = true;
                continue;
            };
            let oid = Oid::from_str(&m.sha).map_err(|e| e.message().to_string())?;
            let Ok(files) = self.changed_files(oid) else {
                continue;
            };
            m.outside_release = files
                .iter()
                .any(|f| f.after.is_some() && !on_release.contains(&f.path));
        }
        Ok(())
    }

    /// Every file path in the tree of `tip`.
    fn release_paths(&self, tip: Oid) -> std::result::Result<HashSet<Vec<u8>>, git2::Error> {
        let tree = self.repo.find_commit(tip)?.tree()?;
        let mut paths: HashSet<Vec<u8>> = HashSet::new();
        tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
            if entry.kind() != Some(git2::ObjectType::Tree) {
                let mut path = dir.as_bytes().to_vec();
                path.extend_from_slice(entry.name_bytes());
                paths.insert(path);
            }
            git2::TreeWalkResult::Ok
        })?;
        Ok(paths)
    }

    /// Mark the non-merge main-side commits that touch only paths that never need a backport
    /// (the policy's `ignore_paths` for this line and repository).
    fn mark_not_needed(&mut self, commits: &mut [MainCommit]) -> Res<()> {
        let globs = text::PathGlobs::new(&self.t.policy.ignore_paths(self.t.line, &self.t.repo));
        if globs.is_empty() {
            return Ok(());
        }
        for m in commits.iter_mut().filter(|m| !m.merge) {
            let oid = Oid::from_str(&m.sha).map_err(|e| e.message().to_string())?;
            let paths = self.path_list(oid);
            let Some(paths) = self.checked(oid, paths) else {
                continue;
            };
            let paths: Vec<String> = paths
                .iter()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect();
            m.not_needed = globs.covering(paths.iter().map(String::as_str));
        }
        Ok(())
    }

    /// The branch point: the first commit on the release branch's first-parent chain that is
    /// reachable from main (not in `not_on_main`). The merge-base alone is wrong when a ticket
    /// branch was merged into both.
    fn branch_point(&mut self, release_tip: Oid, not_on_main: &HashSet<Oid>) -> Res<Oid> {
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
        Ok(bp)
    }

    /// The first release tag containing each release commit (`release_set`), in release order.
    fn first_tags(
        &self,
        tags: &[(text::ReleaseTag, Oid)],
        bp: Oid,
        release_set: &HashSet<Oid>,
    ) -> Res<HashMap<Oid, String>> {
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
        Ok(first_tag)
    }

    /// One release commit: its ticket, mentions and first tag and, unless it is a merge, its
    /// main-side counterpart and the commit it reverts.
    fn release_commit(
        &mut self,
        oid: Oid,
        release: &ReleaseSide,
        main: &MainIndex<'_>,
    ) -> Res<ReleaseCommit> {
        let f = self.facts(oid)?.clone();
        let a = release.attr.get(&oid).cloned().unwrap_or(Attribution {
            arrived: oid,
            ..Attribution::default()
        });
        let merge = f.parents.len() > 1;
        let mut rc = ReleaseCommit {
            sha: oid.to_string(),
            subject: f.subject().to_string(),
            time: f.time,
            merge,
            mentions: mentions(
                self.t.policy,
                &self.t.repo,
                false,
                &f.message,
                a.ticket.as_deref(),
            ),
            ticket: a.ticket.clone(),
            via: a.via.map(|v| v.to_string()),
            matched: None,
            candidates: Vec::new(),
            direction: None,
            first_tag: release.first_tag.get(&oid).cloned(),
            reverts: None,
            reverted_by: None,
        };
        if !merge {
            let related = main.related(rc.ticket.iter().chain(rc.mentions.iter()));
            // What a bot's branch (of the merge that brought it) and subject name.
            let mut named = Named {
                commits: Vec::new(),
                prs: text::original_pull_request(f.subject())
                    .into_iter()
                    .collect(),
            };
            if let Some(via) = a.via {
                let subject = self.facts(via)?.subject().to_string();
                match text::merged_branch(&subject).and_then(text::bot_branch) {
                    Some(text::BotBranch::Commit(hash)) => named.commits.push(hash),
                    Some(text::BotBranch::PullRequest(n)) if !named.prs.contains(&n) => {
                        named.prs.push(n)
                    }
                    _ => {}
                }
            }
            let found = self.counterpart(oid, &f, &release.not_on_main, main, &related, &named)?;
            if let Some((kind, cands)) = found {
                self.record_match(&mut rc, &f, &a, kind, cands, main)?;
            }
            if let Some(target) = text::reverted_commit(&f.message) {
                rc.reverts = release
                    .order
                    .iter()
                    .find(|o| o.to_string().starts_with(&target))
                    .map(|o| o.to_string());
            }
        }
        Ok(rc)
    }

    /// Record in `rc` (facts `f`, brought in as `a`) its counterpart among the candidates `cands`
    /// found by evidence `kind`: a candidate of the same ticket, then the latest; which side had
    /// it first; and the other candidates.
    fn record_match(
        &mut self,
        rc: &mut ReleaseCommit,
        f: &CommitFacts,
        a: &Attribution,
        kind: MatchKind,
        mut cands: Vec<Oid>,
        main: &MainIndex<'_>,
    ) -> Res<()> {
        // Prefer a candidate of the same ticket, then the latest.
        cands.sort_by_key(|c| {
            let same_ticket = main
                .attr
                .get(c)
                .and_then(|x| x.ticket.as_deref())
                .is_some_and(|t| {
                    Some(t) == a.ticket.as_deref() || rc.mentions.iter().any(|m| m == t)
                });
            (
                std::cmp::Reverse(same_ticket),
                std::cmp::Reverse(main.time.get(c).copied().unwrap_or(0)),
            )
        });
        let chosen = cands[0];
        // Direction: which side had it first.
        let (release_at, main_at) = if kind == MatchKind::SameCommit {
            let r = self.facts(a.arrived)?.time;
            let m = main.attr.get(&chosen).map(|x| x.arrived).unwrap_or(chosen);
            (r, self.facts(m)?.time)
        } else {
            (f.time, main.time.get(&chosen).copied().unwrap_or(f.time))
        };
        rc.direction = Some(if release_at < main_at {
            Direction::ForwardPort
        } else {
            Direction::Backport
        });
        let mut overlap = None;
        let confidence = if cands.len() > 1 && kind == MatchKind::Subject {
            0.5
        } else if kind == MatchKind::PrRef {
            // Low, and higher the more of the pull request's changed lines it carries.
            let ours = self.line_set(rc_oid(rc)?);
            let theirs = self.line_set(chosen);
            let share = match (
                self.checked(rc_oid(rc)?, ours),
                self.checked(chosen, theirs),
            ) {
                (Some(a), Some(b)) if !b.is_empty() => {
                    b.iter().filter(|l| a.contains(*l)).count() as f64 / b.len() as f64
                }
                _ => 0.0,
            };
            let share = (share * 100.0).round() / 100.0;
            overlap = Some(share);
            ((kind.confidence() + 0.2 * share) * 100.0).round() / 100.0
        } else {
            kind.confidence()
        };
        rc.matched = Some(Match {
            kind,
            main_commit: chosen.to_string(),
            confidence,
            overlap,
        });
        rc.candidates = cands[1..]
            .iter()
            .map(|c| Candidate {
                main_commit: c.to_string(),
                kind,
            })
            .collect();
        Ok(())
    }

    /// The line whose release branch does not exist yet: the main-side commits since the line's
    /// first tag on main (the release branch is made from it), so that requests touching this
    /// repository are known to wait for it.
    pub(super) fn scan_missing_branch(
        &mut self,
        out: &mut RepoScan,
        main_tip: Oid,
        tags: &[(text::ReleaseTag, Oid)],
    ) -> Res<()> {
        let t = self.t;
        let base = tags
            .iter()
            .find(|(_, o)| {
                *o == main_tip || self.repo.graph_descendant_of(main_tip, *o).unwrap_or(false)
            })
            .map(|(tag, _)| tag.name.clone());
        match base {
            Some(name) => {
                let base_oid = tags.iter().find(|(t, _)| t.name == name).map(|(_, o)| *o);
                if let Some(b) = base_oid {
                    let (main_commits, _) = self.main_side(main_tip, b)?;
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
        Ok(())
    }
}

/// The id of a release commit being recorded.
fn rc_oid(rc: &ReleaseCommit) -> Res<Oid> {
    Oid::from_str(&rc.sha).map_err(|e| e.message().to_string())
}

/// Link reverts both ways: each reverted commit gets `reverted_by`.
fn link_reverts(commits: &mut [ReleaseCommit]) {
    let reverts: Vec<(String, String)> = commits
        .iter()
        .filter_map(|c| c.reverts.clone().map(|t| (t, c.sha.clone())))
        .collect();
    for (target, by) in reverts {
        if let Some(c) = commits.iter_mut().find(|c| c.sha == target) {
            c.reverted_by = Some(by);
        }
    }
}
