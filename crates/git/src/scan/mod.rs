//! Scanning one repository for one release line: the branch point, every release-branch commit
//! with its ticket, mentions, first release tag and main-side counterpart, and the main-side
//! commits since the branch point with their tickets.
//!
//! How it works, and why (see `../shared/docs/real-world-backports.md`):
//! - `release ^ main` (one revision walk) is the set of release commits not reachable from
//!   `main`; the branch point is the first commit on the release branch's first-parent chain that
//!   is not in it. The merge-base alone is wrong when a ticket branch was merged into both.
//! - A commit's ticket comes from the first-parent merge that brought it onto its branch
//!   (`Merge pull request #N from org/tickets/DM-X-v23`); keys in messages are mentions.
//! - Counterparts are tried strongest first: the same commit, a cherry-pick trailer, equal
//!   patch-id, a whole ticket merge's patch-id (squash), the same changed lines with other
//!   context, the same subject. Patch-ids are computed only where the cheap changed-path sets
//!   are equal, and every per-commit fact is cached by commit id ([`FactCache`]).
//!
//! The parts: what to scan and how its problems read (`target.rs`), the reads of the repository
//! (`reader.rs`), tickets (`attribution.rs`), counterparts (`counterpart.rs`), the phases of a
//! line's scan (`line.rs`) and a probe remembered under the reference files it read
//! (`remembered.rs`).

use std::path::{Path, PathBuf};

use git2::{ObjectType, Oid, Repository};

use sha2::{Digest, Sha256};

use crate::cache::FactCache;
pub use crate::model::*;
use crate::pick::resolve_branch;
use crate::text::{self, TagMatcher};

mod attribution;
mod content;
mod counterpart;
mod line;
mod reader;
mod remembered;
mod target;
#[cfg(test)]
mod tests;

use reader::Scanner;
pub use remembered::ref_fingerprint;
pub use target::ScanTarget;
use target::{git_problem, Res};

/// Bump when the scan's logic changes, so that memoised scans are not reused (3: an ambiguous
/// abbreviated cherry-pick trailer links no commit; 4: commits with missing objects are named,
/// the rest is scanned; 5: configured subject prefixes, subject matches need a shared path and a
/// specific subject; 6: ticket rules with capture groups, sources and sides; 7: whole pull
/// requests by changed lines, `pr_ref`, bot branches; 8: landings by content; 9: patch-ids of
/// our own, from blob diffs; 10: main-side commits outside the release branch marked; 11: line
/// diffs of what two blobs do not share at their ends).
pub const SCANNER_VERSION: u32 = 11;

impl RepoScan {
    pub(crate) fn empty(t: &ScanTarget<'_>, status: ScanStatus, problems: Vec<String>) -> RepoScan {
        RepoScan {
            repo: t.repo.clone(),
            status,
            problems,
            main_branch: t.main_branch.clone(),
            release_branch: t.line.branch.clone(),
            main_tip: None,
            release_tip: None,
            branch_point: None,
            release_commits: Vec::new(),
            main_commits: Vec::new(),
            tags: Vec::new(),
            unchecked: Vec::new(),
            memo_key: None,
        }
    }
}

/// Set libgit2 up for scanning the user's clones; call once, before the scans open any
/// repository.
///
/// - Objects come from the user's own clones: skip libgit2's SHA-1 re-verification of every
///   object read (git does not verify on read either); it is a tenth of a cold scan.
/// - The scan keeps the trees it needs itself; libgit2's object cache would only grow the
///   process by every tree read. Commits stay in it: the revision walk reads each one, and the
///   commit's facts are then read from the cache instead of being inflated again (a tenth of a
///   cold scan of many small repositories; about 3 MB for 4,000 commits, freed with the
///   repository handle after its scan, and at most libgit2's 256 MiB for any history).
#[allow(unsafe_code)]
pub fn tune_libgit2_for_scans() {
    git2::opts::strict_hash_verification(false);
    // SAFETY: libgit2's global settings; set before this process's scans open repositories,
    // and the values set are valid for any repository.
    unsafe {
        let _ = git2::opts::set_cache_object_limit(git2::ObjectType::Tree, 0);
    }
}

/// Scan one repository. Never fails: what cannot be checked becomes an `unverifiable` scan that
/// says why and what to do.
pub fn scan(t: &ScanTarget<'_>, cache: &mut FactCache) -> RepoScan {
    match probe(t) {
        Ok(p) => scan_probed(t, p, cache),
        Err(unverifiable) => *unverifiable,
    }
}

/// What a repository's scan depends on, read without scanning ([`probe`]): its key, and the
/// tips and tags it was made from. A caller that remembers what it computed from every scan of
/// a line (`verify`'s verdict) looks it up under these keys before it reads any scan.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The scan's memo key (tips, tags, settings, scanner version).
    pub key: String,
    /// The line's release tags as read, with what each annotated tag says: what `learn` needs,
    /// so that it does not open the repository again.
    pub read_tags: Vec<ReadTag>,
    main_tip: Oid,
    release_tip: Option<Oid>,
    tags: LineTags,
    shallow: bool,
}

/// Open a repository and read what its scan depends on: the branch tips, the line's tags and
/// whether the clone is shallow. A repository that cannot be scanned at all is the
/// `unverifiable` scan saying why.
pub fn probe(t: &ScanTarget<'_>) -> std::result::Result<Probe, Box<RepoScan>> {
    probe_inner(t).map_err(|e| Box::new(RepoScan::empty(t, ScanStatus::Unverifiable, vec![e])))
}

fn probe_inner(t: &ScanTarget<'_>) -> Res<Probe> {
    let repo = open(t)?;
    let Some(main_tip) = resolve_branch(&repo, &t.main_branch) else {
        return Err(format!(
            "{}: branch `{}` not found in {}; fetch it, or set `main_branch` for `{}` in the policy",
            t.repo, t.main_branch, t.shown_path, t.repo
        ));
    };
    let matcher = TagMatcher::new(t.line);
    let (tags, read_tags) =
        line_tags(&repo, &matcher).map_err(|e| git_problem(t, "reading tags", e))?;
    let release_tip = resolve_branch(&repo, &t.line.branch);
    let shallow = repo.is_shallow();
    Ok(Probe {
        key: memo_key(t, main_tip, release_tip, &tags, shallow),
        read_tags,
        main_tip,
        release_tip,
        tags,
        shallow,
    })
}

fn open(t: &ScanTarget<'_>) -> Res<Repository> {
    if !t.path.exists() {
        return Err(format!(
            "{}: no repository at {}; clone it there or fix `path` for `{}` in the policy",
            t.repo, t.shown_path, t.repo
        ));
    }
    crate::blobdiff::open_history(&t.path).map_err(|e| {
        format!(
            "{}: {} is not a git repository ({}); clone it there or fix `path` in the policy",
            t.repo,
            t.shown_path,
            e.message()
        )
    })
}

/// Scan one repository from what [`probe`] read: the remembered scan when its key is kept in
/// `cache`, else a scan of the repository (opened again). Never fails, as [`scan`].
pub fn scan_probed(t: &ScanTarget<'_>, p: Probe, cache: &mut FactCache) -> RepoScan {
    match scan_inner(t, p, cache) {
        Ok(s) => s,
        Err(e) => RepoScan::empty(t, ScanStatus::Unverifiable, vec![e]),
    }
}

fn scan_inner(t: &ScanTarget<'_>, p: Probe, cache: &mut FactCache) -> Res<RepoScan> {
    let Probe {
        key,
        main_tip,
        release_tip,
        tags,
        shallow,
        read_tags: _,
    } = p;
    if let Some(mut hit) = cache.memo(&t.repo, &t.line.name, &key) {
        hit.memo_key = Some(key);
        return Ok(hit);
    }

    let mut out = RepoScan::empty(t, ScanStatus::Ok, Vec::new());
    out.main_tip = Some(main_tip.to_string());
    out.release_tip = release_tip.map(|o| o.to_string());
    out.tags = tags
        .iter()
        .map(|(t, o)| TagRef {
            name: t.name.clone(),
            commit: o.to_string(),
        })
        .collect();
    if shallow {
        out.status = ScanStatus::Unverifiable;
        out.problems.push(format!(
            "{}: {} is a shallow clone: the branch point and main-side counterparts cannot be proven; run `git fetch --unshallow` there",
            t.repo, t.shown_path
        ));
        cache.put_memo(&t.repo, &t.line.name, &key, &out);
        out.memo_key = Some(key);
        return Ok(out);
    }

    let repo = open(t)?;
    let mut s = Scanner::new(&repo, cache, t);
    match release_tip {
        Some(rtip) => s.scan_line(&mut out, main_tip, rtip, &tags)?,
        None => {
            out.status = ScanStatus::BranchMissing;
            s.scan_missing_branch(&mut out, main_tip, &tags)?;
        }
    }
    out.unchecked = s
        .unchecked
        .into_iter()
        .map(|(oid, problem)| UncheckedCommit {
            sha: oid.to_string(),
            problem,
        })
        .collect();
    if let Some(first) = out.unchecked.first() {
        out.problems.push(format!(
            "{} commit(s) could not be checked, the rest was: {}",
            out.unchecked.len(),
            first.problem
        ));
        // Not remembered: fetching the missing objects does not move any tip.
        return Ok(out);
    }
    cache.put_memo(&t.repo, &t.line.name, &key, &out);
    out.memo_key = Some(key);
    Ok(out)
}

fn memo_key(
    t: &ScanTarget<'_>,
    main: Oid,
    release: Option<Oid>,
    tags: &[(text::ReleaseTag, Oid)],
    shallow: bool,
) -> String {
    let mut h = Sha256::new();
    h.update(format!(
        "v{SCANNER_VERSION}\0{:?}\0{}\0{}\0{}\0{}\0{}\0{main}\0{release:?}\0{shallow}\0",
        t.policy.policy.ticket_key,
        t.line.branch,
        t.line.tag_pattern,
        t.line.rc_tag_pattern,
        t.line.base_version,
        t.main_branch
    ));
    for (tag, oid) in tags {
        h.update(format!("{}={oid}\0", tag.name));
    }
    if let Some(k) = &t.policy.policy.verify.pull_request_key {
        h.update(format!("pr={k}\0"));
    }
    if let Some(p) = t.policy.policy.verify.preset {
        h.update(format!("preset={}\0", p.as_str()));
    }
    for p in &t.policy.policy.verify.subject_prefixes {
        h.update(format!("prefix={p}\0"));
    }
    for glob in t.policy.ignore_paths(t.line, &t.repo) {
        h.update(format!("ignore={glob}\0"));
    }
    hex::encode(&h.finalize()[..16])
}

/// A line's release tags with their commits, in release order.
type LineTags = Vec<(text::ReleaseTag, Oid)>;

/// The line's release tags, peeled to commits, in release order; and the same tags as read, with
/// what each annotated tag's object says.
fn line_tags(
    repo: &Repository,
    matcher: &TagMatcher,
) -> std::result::Result<(LineTags, Vec<ReadTag>), git2::Error> {
    let mut out = Vec::new();
    let mut read = Vec::new();
    let odb = repo.odb()?;
    // Each reference is read once, with its name (listing the names first and then finding each
    // reference read every loose tag twice).
    for reference in repo.references_glob("refs/tags/*")?.flatten() {
        let Some(name) = reference.name().and_then(|n| n.strip_prefix("refs/tags/")) else {
            continue;
        };
        let Some(tag) = matcher.parse(name) else {
            continue;
        };
        if let Some((commit, t)) = read_tag(repo, &odb, name, &reference) {
            out.push((tag, commit));
            read.push(t);
        }
    }
    out.sort_by(|a, b| a.0.order(&b.0));
    Ok((out, read))
}

/// The release tags of `matcher`'s line in `repo`, read as a scan reads them
/// ([`Probe::read_tags`]): for learning releases in a repository no scan read.
pub fn release_tags(
    repo: &Repository,
    matcher: &TagMatcher,
) -> std::result::Result<Vec<ReadTag>, git2::Error> {
    line_tags(repo, matcher).map(|(_, read)| read)
}

/// The tag `name` (its reference `reference`) peeled to its commit ([`peel_tag`]), with what its
/// object says when it is annotated. `None` when it names no commit.
fn read_tag(
    repo: &Repository,
    odb: &git2::Odb<'_>,
    name: &str,
    reference: &git2::Reference<'_>,
) -> Option<(Oid, ReadTag)> {
    let p = peel_tag(repo, odb, reference)?;
    let tag = ReadTag {
        name: name.to_string(),
        commit: p.commit.to_string(),
        annotation: p.annotation,
    };
    Some((p.commit, tag))
}

/// What the annotated tag object `tag` says (empty when it could not be read).
fn annotation(tag: Option<&git2::Tag<'_>>) -> Annotation {
    let tagger = tag.and_then(|t| t.tagger());
    Annotation {
        message: tag.and_then(|t| t.message().map(str::to_string)),
        tagger: tagger.as_ref().and_then(|s| s.name().map(str::to_string)),
        tagged_at: tagger.as_ref().map(|s| s.when().seconds()),
    }
}

/// A tag reference peeled to its commit, with what its object says when it is an annotated tag
/// (a tag object; `None` for a lightweight tag).
#[derive(Debug)]
struct Peeled {
    commit: Oid,
    annotation: Option<Annotation>,
}

/// Peel the tag `reference` to a commit, reading as few objects as it can: a lightweight tag's
/// commit and the peeled commit `packed-refs` names are taken by the objects' headers (their
/// types) and not read; an annotated tag's object is read once, for its commit and what it
/// says. Reading the same objects again and again was most of a warm `verify` of many small
/// repositories. `None` when it names no commit.
fn peel_tag(
    repo: &Repository,
    odb: &git2::Odb<'_>,
    reference: &git2::Reference<'_>,
) -> Option<Peeled> {
    let kind = |oid: Oid| odb.read_header(oid).ok().map(|(_, k)| k);
    let direct = reference.target();
    if let Some(peeled) = reference.target_peel() {
        if kind(peeled) == Some(ObjectType::Commit) {
            let tag = direct.and_then(|d| repo.find_tag(d).ok());
            return Some(Peeled {
                commit: peeled,
                annotation: Some(annotation(tag.as_ref())),
            });
        }
    }
    if let Some(direct) = direct {
        match kind(direct) {
            Some(ObjectType::Commit) => {
                return Some(Peeled {
                    commit: direct,
                    annotation: None,
                })
            }
            Some(ObjectType::Tag) => {
                if let Ok(tag) = repo.find_tag(direct) {
                    if tag.target_type() == Some(ObjectType::Commit) {
                        return Some(Peeled {
                            commit: tag.target_id(),
                            annotation: Some(annotation(Some(&tag))),
                        });
                    }
                }
            }
            _ => {}
        }
    }
    // A tag of a tag, a symbolic reference: peel them all the way.
    let commit = reference.peel_to_commit().ok()?.id();
    let tag = reference.peel_to_tag().ok();
    Some(Peeled {
        commit,
        annotation: tag.as_ref().map(|t| annotation(Some(t))),
    })
}

/// Resolve a repository path from the policy: absolute, or relative to the policy's directory.
pub fn resolve_repo_path(policy_dir: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        policy_dir.join(p)
    }
}
