//! Releases cut on another machine (issue 17): `verify` learns them before it judges, so that
//! `releases`, the gate's "previous release" and a step's frozen release agree across the
//! workspaces of a team, and the bot knows the release manager's cut.
//!
//! - **From the published manifests**, when `[releases] repo` is configured: the files
//!   `<dir>/<tag>/manifest.json` committed to that repository (read from the tree of its `ref`,
//!   never from the working tree), as `cut --apply` writes them. A manifest is learned when its
//!   content matches its hash, and every tag of it the line's repositories hold is an annotated
//!   tag at the manifest's commit naming its build. A tag with no published manifest yet is
//!   left for a later run (the full manifest is the record; the tags alone would record less).
//! - **From the annotated tags alone**, without `[releases]`: a tag of the line's patterns in
//!   the line's repositories, whose message names the build (`… release from manifest m…`),
//!   becomes a release whose repositories and commits are the tags'. It is learned only once
//!   every repository of the build has it (the build id, a hash of the repositories and their
//!   commits, must match), so a half-fetched release waits. The tickets are not in tags: such a
//!   release lists none.
//!
//! The event is the `release.cut` that `cut --apply` records, with the same dedup key (line and
//! tag), so it is recorded once and never a second time on the workspace that cut it; its
//! payload says it was learned and from where, its time is the tag's (the cut's, in whole
//! seconds) and its actor the tagger. The tickets a cut marks done are not repeated here: they
//! travel as the decisions `push` writes to the tracker.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use git2::Repository;
use serde::Serialize;
use serde_json::{json, Value};

use super::record::{releases, RELEASE_CUT};
use crate::config::ReleasesConfig;
use crate::workspace::Workspace;
use crate::Result;
use portcullis_core::event::{source, NewEvent};
use portcullis_core::policy::Line;
use portcullis_core::release::{Manifest, ManifestRepo};
use portcullis_git::scan::{release_tags, resolve_repo_path, ReadTag};
use portcullis_git::text::{tag_name, TagMatcher};
use portcullis_ledger::Ledger;

/// What a run learned, and what it could not.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Learned {
    /// The tags of the releases recorded, in the order recorded.
    pub releases: Vec<String>,
    /// Why a release seen was not learned (this run).
    pub problems: Vec<String>,
}

/// One annotated tag of the line in one repository.
#[derive(Debug, Clone)]
struct SeenTag {
    repo: String,
    commit: String,
    build: Option<String>,
    at: Option<DateTime<Utc>>,
    tagger: Option<String>,
}

/// A release to record.
struct Candidate {
    manifest: Manifest,
    hash: String,
    at: DateTime<Utc>,
    actor: Option<String>,
    learned: Value,
}

/// Learn the releases of `line` cut elsewhere and record them in `ledger`. `scanned` are the
/// line's release tags in the repositories `verify` just read, by repository
/// ([`portcullis_git::scan::Probe::read_tags`]): they are taken from there, and only the
/// other repositories are opened.
pub fn learn(
    ws: &Workspace,
    line: &Line,
    ledger: &mut Ledger,
    scanned: &BTreeMap<&str, &[ReadTag]>,
) -> Result<Learned> {
    let mut out = Learned::default();
    let recorded: BTreeSet<String> = releases(ledger, &line.name)?
        .into_iter()
        .map(|r| r.manifest.tag)
        .collect();
    let tags = line_tags(ws, line, &recorded, scanned, &mut out.problems);
    let mut todo: Vec<Candidate> = match ws.config.as_ref().and_then(|c| c.releases.as_ref()) {
        Some(cfg) => {
            let base = ws
                .config_path
                .as_ref()
                .and_then(|p| p.parent())
                .map(Path::to_path_buf)
                .unwrap_or_default();
            let path = resolve_repo_path(&base, &cfg.repo);
            let mut published = BTreeSet::new();
            let found = from_manifests(
                &path,
                cfg,
                line,
                &tags,
                &recorded,
                &mut published,
                &mut out.problems,
            );
            for (tag, seen) in &tags {
                // Only the tags a cut made (they name a build) wait for a manifest.
                let cut = seen.iter().any(|s| s.build.is_some());
                if cut && !recorded.contains(tag) && !published.contains(tag) {
                    out.problems.push(format!(
                        "tag {tag} has no published manifest in {} yet; learned when it is",
                        cfg.repo
                    ));
                }
            }
            found
        }
        None => from_tags(ws, line, ledger, &tags, &recorded, &mut out.problems)?,
    };
    if todo.is_empty() {
        return Ok(out);
    }
    // In the order they were cut; a candidate before its final release.
    todo.sort_by_key(|c| (c.at, version_key(&c.manifest)));
    let mut tx = ledger.transaction()?;
    for c in todo {
        let tag = c.manifest.tag.clone();
        let seq = tx.append(NewEvent {
            ticket: None,
            line: Some(line.name.clone()),
            kind: RELEASE_CUT,
            source: source::GIT.into(),
            actor: c.actor,
            at: c.at,
            meeting: None,
            note: None,
            payload: json!({ "manifest": c.manifest, "hash": c.hash, "learned": c.learned }),
            dedup_key: Some(format!("release:{}:{tag}", line.name)),
        })?;
        if seq.is_some() {
            out.releases.push(tag);
        }
    }
    tx.commit_with(&ws.policy)?;
    Ok(out)
}

fn version_key(m: &Manifest) -> (Option<semver::Version>, u64) {
    (
        semver::Version::parse(&m.version).ok(),
        m.rc.unwrap_or(u64::MAX),
    )
}

/// `(version, rc)` when `tag` is a release tag of the line: the same rule as `verify`'s
/// ([`TagMatcher`]), so both read the same tags as releases.
fn parse_tag(m: &TagMatcher, tag: &str) -> Option<(semver::Version, Option<u64>)> {
    m.parse(tag).map(|t| (t.version, t.rc))
}

/// The build a portcullis tag message names (`Version 23.0.3 release from manifest m1a2b3c4d`).
fn build_of(message: &str) -> Option<String> {
    let (_, build) = message.trim().rsplit_once(" release from manifest ")?;
    let ok = build.len() == 9
        && build.starts_with('m')
        && build[1..].bytes().all(|b| b.is_ascii_hexdigit());
    ok.then(|| build.to_string())
}

/// Every tag of the line's patterns in the line's repositories that is not `recorded` yet, by
/// tag name (each tag's repositories in the policy's order). The repositories are read on two
/// threads: every `verify` comes here first.
fn line_tags(
    ws: &Workspace,
    line: &Line,
    recorded: &BTreeSet<String>,
    scanned: &BTreeMap<&str, &[ReadTag]>,
    problems: &mut Vec<String>,
) -> BTreeMap<String, Vec<SeenTag>> {
    let policy_dir = ws
        .policy_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let matcher = TagMatcher::new(line);
    let mut out: BTreeMap<String, Vec<SeenTag>> = BTreeMap::new();
    // A scan read every release tag of the line in its repository (with the same matcher).
    let mut repos = Vec::new();
    for r in ws.policy.repositories_for(&line.name) {
        match scanned.get(r.name.as_str()) {
            Some(read) => {
                for t in read.iter().filter(|t| !recorded.contains(&t.name)) {
                    out.entry(t.name.clone())
                        .or_default()
                        .push(seen_tag(&r.name, t));
                }
            }
            None => repos.push(r),
        }
    }
    if repos.is_empty() {
        return out;
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let read = || {
        let mut mine = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let Some(r) = repos.get(i) else { break };
            let path = resolve_repo_path(&policy_dir, &r.path);
            mine.push((i, repo_tags(&r.name, &path, &matcher, recorded)));
        }
        mine
    };
    let mut read_tags = std::thread::scope(|s| {
        let other = s.spawn(read);
        let mut all = read();
        all.extend(
            other
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e)),
        );
        all
    });
    read_tags.sort_by_key(|(i, _)| *i);
    for (_, read) in read_tags {
        match read {
            Ok(tags) => {
                for (name, seen) in tags {
                    out.entry(name).or_default().push(seen);
                }
            }
            Err(problem) => problems.extend(problem),
        }
    }
    // In the policy's order of repositories, however each was read: the first tag with a time
    // gives the release its time and author.
    let order: BTreeMap<&str, usize> = ws
        .policy
        .repositories_for(&line.name)
        .iter()
        .enumerate()
        .map(|(i, r)| (r.name.as_str(), i))
        .collect();
    for seen in out.values_mut() {
        seen.sort_by_key(|s| order.get(s.repo.as_str()).copied());
    }
    out
}

/// The not yet `recorded` tags of the line (`matcher`) in the repository `name` at `path`, read
/// as a scan reads them; a repository that cannot be opened has none (`verify` reports it), one
/// whose tags cannot be listed is a problem.
fn repo_tags(
    name: &str,
    path: &Path,
    matcher: &TagMatcher,
    recorded: &BTreeSet<String>,
) -> std::result::Result<Vec<(String, SeenTag)>, Option<String>> {
    let repo = Repository::open(path).map_err(|_| None)?;
    let read =
        release_tags(&repo, matcher).map_err(|_| Some(format!("{name}: cannot list its tags")))?;
    Ok(read
        .iter()
        .filter(|t| !recorded.contains(&t.name))
        .map(|t| (t.name.clone(), seen_tag(name, t)))
        .collect())
}

/// A tag as learning sees it: the build a portcullis cut names, and who tagged it when.
fn seen_tag(repo: &str, t: &ReadTag) -> SeenTag {
    let a = t.annotation.as_ref();
    SeenTag {
        repo: repo.to_string(),
        commit: t.commit.clone(),
        build: a.and_then(|a| a.message.as_deref().and_then(build_of)),
        at: a
            .and_then(|a| a.tagged_at)
            .and_then(|s| Utc.timestamp_opt(s, 0).single()),
        tagger: a.and_then(|a| a.tagger.clone()),
    }
}

/// Without `[releases]`: the releases the annotated tags make whole.
fn from_tags(
    ws: &Workspace,
    line: &Line,
    ledger: &Ledger,
    tags: &BTreeMap<String, Vec<SeenTag>>,
    recorded: &BTreeSet<String>,
    problems: &mut Vec<String>,
) -> Result<Vec<Candidate>> {
    let order: Vec<String> = ws
        .policy
        .repositories_for(&line.name)
        .iter()
        .map(|r| r.name.clone())
        .collect();
    let mut finals: Vec<Manifest> = releases(ledger, &line.name)?
        .into_iter()
        .map(|r| r.manifest)
        .filter(|m| m.rc.is_none())
        .collect();
    let matcher = TagMatcher::new(line);
    let mut parsed: Vec<(semver::Version, Option<u64>, &String, &Vec<SeenTag>)> = tags
        .iter()
        .filter(|(t, _)| !recorded.contains(*t))
        .filter_map(|(t, seen)| parse_tag(&matcher, t).map(|(v, n)| (v, n, t, seen)))
        .collect();
    parsed.sort_by(|a, b| (&a.0, a.1.unwrap_or(u64::MAX)).cmp(&(&b.0, b.1.unwrap_or(u64::MAX))));
    let base = semver::Version::parse(&line.base_version).ok();
    let mut out = Vec::new();
    for (version, rc, tag, seen) in parsed {
        let builds: BTreeSet<&String> = seen.iter().filter_map(|s| s.build.as_ref()).collect();
        let [build] = builds.into_iter().collect::<Vec<_>>()[..] else {
            if seen.iter().any(|s| s.build.is_some()) {
                problems.push(format!(
                    "tag {tag} names different manifests in different repositories; not learned"
                ));
            }
            // A tag made by hand (lightweight, or another message) is not a portcullis cut.
            continue;
        };
        let previous = finals
            .iter()
            .filter(|m| semver::Version::parse(&m.version).is_ok_and(|v| v < version))
            .max_by_key(|m| semver::Version::parse(&m.version).ok())
            .cloned();
        let previous_tag = previous.as_ref().map(|m| m.tag.clone()).or_else(|| {
            base.as_ref()
                .filter(|b| *b < &version)
                .map(|b| tag_name(line, b, None))
        });
        let repos: Vec<ManifestRepo> = order
            .iter()
            .filter_map(|name| seen.iter().find(|s| &s.repo == name))
            .map(|s| ManifestRepo {
                repo: s.repo.clone(),
                branch: line.branch.clone(),
                commit: s.commit.clone(),
                previous_commit: previous
                    .as_ref()
                    .and_then(|m| m.repos.iter().find(|x| x.repo == s.repo))
                    .map(|x| x.commit.clone()),
                tag: tag.clone(),
                tickets: Vec::new(),
                commits: Vec::new(),
            })
            .collect();
        if &Manifest::build_id(&repos) != build {
            problems.push(format!(
                "tag {tag}: the repositories here do not make its build {build} (a repository \
                 not fetched yet?); not learned"
            ));
            continue;
        }
        let first = seen.iter().find(|s| s.at.is_some());
        let manifest = Manifest {
            line: line.name.clone(),
            version: version.to_string(),
            rc,
            tag: tag.clone(),
            build: build.clone(),
            previous: previous_tag,
            repos,
            tickets: Vec::new(),
            waivers: Vec::new(),
            skipped_versions: false,
            withdrawn: Vec::new(),
            mentioned: Vec::new(),
            allowed_empty: false,
        };
        if rc.is_none() {
            finals.push(manifest.clone());
        }
        out.push(Candidate {
            hash: manifest.content_hash(),
            manifest,
            at: first
                .and_then(|s| s.at)
                .unwrap_or_else(portcullis_core::time::now),
            actor: first.and_then(|s| s.tagger.clone()),
            learned: json!({ "from": "tags" }),
        });
    }
    Ok(out)
}

/// With `[releases]`: the published manifests of the line not recorded yet, checked against
/// the tags. Problems with the repository are reported, never fatal: `verify` goes on.
fn from_manifests(
    path: &PathBuf,
    cfg: &ReleasesConfig,
    line: &Line,
    tags: &BTreeMap<String, Vec<SeenTag>>,
    recorded: &BTreeSet<String>,
    published: &mut BTreeSet<String>,
    problems: &mut Vec<String>,
) -> Vec<Candidate> {
    let (rev, dir) = (cfg.rev.as_str(), cfg.dir.as_str());
    let mut out = Vec::new();
    let shown = |what: &str| format!("the releases repository {}: {what}", path.display());
    let Ok(repo) = Repository::open(path) else {
        problems.push(shown("cannot open it"));
        return out;
    };
    let Ok(commit) = repo.revparse_single(rev).and_then(|o| o.peel_to_commit()) else {
        // A repository with no commit yet has nothing published.
        if repo
            .head()
            .is_err_and(|e| e.code() == git2::ErrorCode::UnbornBranch)
        {
            return out;
        }
        problems.push(shown(&format!("no commit at `{rev}`")));
        return out;
    };
    let Ok(tree) = commit.tree() else {
        problems.push(shown("cannot read its tree"));
        return out;
    };
    let Some(entries) = tree
        .get_path(Path::new(dir))
        .ok()
        .and_then(|e| e.to_object(&repo).ok())
        .and_then(|o| o.into_tree().ok())
    else {
        return out;
    };
    let published_at = Utc
        .timestamp_opt(commit.time().seconds(), 0)
        .single()
        .unwrap_or_else(portcullis_core::time::now);
    for entry in entries.iter() {
        let name = entry.name().unwrap_or_default().to_string();
        let file = format!("{dir}/{name}/manifest.json");
        let Some(blob) = tree
            .get_path(Path::new(&file))
            .ok()
            .and_then(|e| e.to_object(&repo).ok())
            .and_then(|o| o.into_blob().ok())
        else {
            continue;
        };
        let parsed: Option<(Manifest, String)> = serde_json::from_slice::<Value>(blob.content())
            .ok()
            .and_then(|v| {
                let m = serde_json::from_value::<Manifest>(v.get("manifest")?.clone()).ok()?;
                Some((m, v.get("hash")?.as_str()?.to_string()))
            });
        let Some((manifest, hash)) = parsed else {
            problems.push(shown(&format!(
                "{file} is not a portcullis manifest; not learned"
            )));
            continue;
        };
        if manifest.line != line.name {
            continue;
        }
        published.insert(manifest.tag.clone());
        if recorded.contains(&manifest.tag) {
            continue;
        }
        if manifest.content_hash() != hash {
            problems.push(shown(&format!(
                "{file} does not match its hash (edited by hand?); not learned"
            )));
            continue;
        }
        let seen = tags
            .get(&manifest.tag)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut wrong = Vec::new();
        for s in seen {
            let at = manifest.repos.iter().find(|r| r.repo == s.repo);
            if at.is_none_or(|r| r.commit != s.commit)
                || s.build.as_deref() != Some(manifest.build.as_str())
            {
                wrong.push(s.repo.clone());
            }
        }
        if !wrong.is_empty() {
            problems.push(format!(
                "tag {} in {} is not the tag of the published manifest ({file}); not learned",
                manifest.tag,
                wrong.join(", ")
            ));
            continue;
        }
        let first = seen.iter().find(|s| s.at.is_some());
        out.push(Candidate {
            hash,
            at: first.and_then(|s| s.at).unwrap_or(published_at),
            actor: first.and_then(|s| s.tagger.clone()),
            learned: json!({ "from": "manifest", "file": file, "commit": commit.id().to_string() }),
            manifest,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line() -> Line {
        Line {
            name: "v23".into(),
            base_version: "23.0.0".into(),
            branch: "v23.0.x".into(),
            request_label: "backport-v23".into(),
            tag_pattern: "{version}".into(),
            rc_tag_pattern: "v{version}.rc{n}".into(),
            mark_done_on_release: false,
            ignore_paths: Vec::new(),
        }
    }

    #[test]
    fn tags_of_the_line_patterns_are_parsed_and_others_are_not() {
        let l = TagMatcher::new(&line());
        assert_eq!(
            parse_tag(&l, "23.0.3"),
            Some((semver::Version::new(23, 0, 3), None))
        );
        assert_eq!(
            parse_tag(&l, "v23.0.3.rc2"),
            Some((semver::Version::new(23, 0, 3), Some(2)))
        );
        assert_eq!(parse_tag(&l, "v23.0.3"), None);
        assert_eq!(parse_tag(&l, "w.2026.10"), None);
        assert_eq!(parse_tag(&l, "23.0.3-hotfix"), None);
    }

    #[test]
    fn the_build_is_read_from_a_portcullis_tag_message_only() {
        assert_eq!(
            build_of("Version 23.0.3 release from manifest m1a2b3c4d\n").as_deref(),
            Some("m1a2b3c4d")
        );
        assert_eq!(build_of("Version 23.0.3 release from manifest x"), None);
        assert_eq!(build_of("tagged by hand"), None);
    }
}
