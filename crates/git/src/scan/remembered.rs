//! A probe remembered under what the repository's references say (issue 20: a warm `verify`).
//!
//! A [`Probe`] is computed from the references alone (the branch tips, the line's tags and the
//! tag objects they name, `shallow`), and objects are named by their content: the same
//! reference files give the same probe. [`ref_fingerprint`] reads those files as they are on
//! disk, a dozen small reads, where libgit2 opens the repository, its configuration (and the
//! user's and the system's, again for every repository) and its pack index: most of a warm run
//! of many small repositories.
//!
//! What is read, under the `.git` directory: `config`, `packed-refs`, `shallow`,
//! `objects/info/alternates`, the branch and `origin`'s branch of both the main and the release
//! branch, and every file under `refs/tags/`. With the scan's settings and the scanner's
//! version (its memo key of no tips). Anything it cannot read as plain files gives no
//! fingerprint, and the repository is probed with libgit2 as before: a `.git` file (a linked
//! work tree, a submodule), a bare repository, `commondir`, a `reftable` directory, a symbolic
//! reference among those read, a file it cannot read.
//!
//! What it does not read: the user's and the system's git configuration, and the objects. A
//! repository that `safe.directory` stops trusting, or whose tip objects are lost, keeps its
//! remembered probe until a reference file moves; its scan and verdict are remembered under
//! their own keys anyway, which no object read can move either.
//!
//! The caller keeps what [`Probe::remembered`] writes under the fingerprint and, next time,
//! takes the probe back with [`Probe::recall`] when the fingerprint is the same. It must take
//! the fingerprint before probing and again after, and keep the probe only when the two agree:
//! a reference that moved while it was probed is not remembered under the old files.

use std::io::ErrorKind;
use std::path::Path;

use git2::Oid;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{memo_key, Probe, ReadTag, ScanTarget};
use crate::text::TagMatcher;

/// Bump when what a remembered probe holds, or how a probe reads, changes.
const REMEMBERED_PROBE_VERSION: u32 = 1;

/// A fingerprint of everything a probe of `t` reads, from the files under its `.git` directory;
/// `None` when they cannot be read as plain files (see the module's documentation).
pub fn ref_fingerprint(t: &ScanTarget<'_>) -> Option<String> {
    let git_dir = t.path.join(".git");
    if !std::fs::symlink_metadata(&git_dir).ok()?.is_dir()
        || git_dir.join("commondir").exists()
        || git_dir.join("reftable").exists()
    {
        return None;
    }
    let mut h = Sha256::new();
    h.update(format!(
        "probe v{REMEMBERED_PROBE_VERSION}\0{}\0{}\0",
        memo_key(t, Oid::zero(), None, &[], false),
        t.path.display()
    ));
    let branches = [t.main_branch.as_str(), t.line.branch.as_str()];
    let mut files = vec![
        "config".to_string(),
        "packed-refs".to_string(),
        "shallow".to_string(),
        "objects/info/alternates".to_string(),
    ];
    for b in branches {
        files.push(format!("refs/heads/{b}"));
        files.push(format!("refs/remotes/origin/{b}"));
    }
    for name in &files {
        let is_ref = name.starts_with("refs/");
        hash_file(&mut h, &git_dir, name, is_ref)?;
    }
    let mut tags = Vec::new();
    list_files(&git_dir.join("refs/tags"), "refs/tags", &mut tags)?;
    tags.sort();
    for name in &tags {
        hash_file(&mut h, &git_dir, name, true)?;
    }
    Some(hex::encode(&h.finalize()[..16]))
}

/// Add the file `name` under `git_dir` to `h`: its name and its bytes, or that it is absent.
/// `None` when it cannot be read, or when `is_ref` and it is a symbolic reference (which names
/// another reference, not an object).
fn hash_file(h: &mut Sha256, git_dir: &Path, name: &str, is_ref: bool) -> Option<()> {
    match std::fs::read(git_dir.join(name)) {
        Ok(bytes) => {
            if is_ref && bytes.starts_with(b"ref:") {
                return None;
            }
            h.update(format!("{name}\0{}\0", bytes.len()));
            h.update(&bytes);
        }
        Err(e) if e.kind() == ErrorKind::NotFound => h.update(format!("{name}\0absent\0")),
        // A directory where a loose reference would be (`refs/heads/v23` of `v23/x`) holds no
        // reference of that name.
        Err(_) if git_dir.join(name).is_dir() => h.update(format!("{name}\0dir\0")),
        Err(_) => return None,
    }
    Some(())
}

/// Every file under `dir` (named `prefix/…`), at any depth, into `out`; nothing when `dir` does
/// not exist. `None` when a directory cannot be listed.
fn list_files(dir: &Path, prefix: &str, out: &mut Vec<String>) -> Option<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Some(()),
        Err(_) => return None,
    };
    for entry in entries {
        let entry = entry.ok()?;
        let name = format!("{prefix}/{}", entry.file_name().to_str()?);
        if entry.file_type().ok()?.is_dir() {
            list_files(&entry.path(), &name, out)?;
        } else {
            out.push(name);
        }
    }
    Some(())
}

/// A probe as remembered.
#[derive(Serialize, Deserialize)]
struct Remembered {
    key: String,
    main_tip: String,
    release_tip: Option<String>,
    /// The line's tags with their commits, in release order.
    tags: Vec<(String, String)>,
    shallow: bool,
    read_tags: Vec<ReadTag>,
}

impl Probe {
    /// This probe as the text [`Probe::recall`] reads.
    pub fn remembered(&self) -> String {
        let r = Remembered {
            key: self.key.clone(),
            main_tip: self.main_tip.to_string(),
            release_tip: self.release_tip.map(|o| o.to_string()),
            tags: self
                .tags
                .iter()
                .map(|(t, o)| (t.name.clone(), o.to_string()))
                .collect(),
            shallow: self.shallow,
            read_tags: self.read_tags.clone(),
        };
        serde_json::to_string(&r).expect("a probe serialises")
    }

    /// The probe of `t` that [`Probe::remembered`] wrote; `None` when the text does not read as
    /// one (another version's, a tag the line's patterns no longer match).
    pub fn recall(t: &ScanTarget<'_>, text: &str) -> Option<Probe> {
        let r: Remembered = serde_json::from_str(text).ok()?;
        let matcher = TagMatcher::new(t.line);
        let tags = r
            .tags
            .iter()
            .map(|(name, oid)| Some((matcher.parse(name)?, Oid::from_str(oid).ok()?)))
            .collect::<Option<Vec<_>>>()?;
        Some(Probe {
            key: r.key,
            read_tags: r.read_tags,
            main_tip: Oid::from_str(&r.main_tip).ok()?,
            release_tip: match r.release_tip {
                Some(o) => Some(Oid::from_str(&o).ok()?),
                None => None,
            },
            tags,
            shallow: r.shallow,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::process::Command;

    use git2::{Repository, Signature};
    use portcullis_core::policy::{LoadedPolicy, Policy, BUILTIN_V23};

    use super::super::probe;
    use super::*;

    /// A clone at `dir/pkg` with a commit on `main` and on `v23.0.x`, an annotated tag
    /// `23.0.0` and a lightweight `23.0.1`.
    fn clone_with_tags(dir: &Path) -> Repository {
        let repo = Repository::init(dir.join("pkg")).unwrap();
        let sig = Signature::now("T", "t@example.org").unwrap();
        let tree = {
            let mut index = repo.index().unwrap();
            repo.find_tree(index.write_tree().unwrap()).unwrap()
        };
        let first = repo
            .commit(Some("refs/heads/main"), &sig, &sig, "first", &tree, &[])
            .unwrap();
        let first = repo.find_commit(first).unwrap();
        let fix = repo
            .commit(None, &sig, &sig, "a fix", &tree, &[&first])
            .unwrap();
        repo.reference("refs/heads/v23.0.x", fix, true, "t")
            .unwrap();
        let fix = repo.find_object(fix, None).unwrap();
        repo.tag("23.0.0", first.as_object(), &sig, "Version 23.0.0", false)
            .unwrap();
        repo.tag_lightweight("23.0.1", &fix, false).unwrap();
        drop(tree);
        drop(first);
        drop(fix);
        repo
    }

    fn target<'a>(dir: &Path, policy: &'a LoadedPolicy) -> ScanTarget<'a> {
        ScanTarget {
            repo: "pkg".into(),
            path: dir.join("pkg"),
            shown_path: "pkg".into(),
            main_branch: "main".into(),
            line: policy.line("v23").unwrap(),
            policy,
        }
    }

    fn git(dir: &Path, args: &[&str]) {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
    }

    #[test]
    fn a_probe_remembered_is_recalled_as_it_was_read() {
        let dir = tempfile::tempdir().unwrap();
        clone_with_tags(dir.path());
        let policy = Policy::from_toml("v23.toml", BUILTIN_V23).unwrap();
        let t = target(dir.path(), &policy);
        let read = probe(&t).unwrap();
        assert_eq!(read.tags.len(), 2, "{:?}", read.tags);
        assert!(read.read_tags.iter().any(|r| r.annotation.is_some()));
        let recalled = Probe::recall(&t, &read.remembered()).unwrap();
        assert_eq!(recalled.key, read.key);
        assert_eq!(recalled.main_tip, read.main_tip);
        assert_eq!(recalled.release_tip, read.release_tip);
        assert_eq!(recalled.shallow, read.shallow);
        assert_eq!(recalled.read_tags, read.read_tags);
        let names = |p: &Probe| -> Vec<(String, Oid)> {
            p.tags.iter().map(|(t, o)| (t.name.clone(), *o)).collect()
        };
        assert_eq!(names(&recalled), names(&read));
        assert!(Probe::recall(&t, "{\"key\": 1}").is_none());
    }

    #[test]
    fn the_fingerprint_moves_with_every_reference_file_a_probe_reads() {
        let dir = tempfile::tempdir().unwrap();
        let repo = clone_with_tags(dir.path());
        let pkg = dir.path().join("pkg");
        let policy = Policy::from_toml("v23.toml", BUILTIN_V23).unwrap();
        let t = target(dir.path(), &policy);
        let mut seen = vec![ref_fingerprint(&t).unwrap()];
        assert_eq!(ref_fingerprint(&t).as_ref(), Some(&seen[0]), "stable");
        let mut moved = |what: &str| {
            let now = ref_fingerprint(&t).unwrap();
            assert!(!seen.contains(&now), "{what} did not move the fingerprint");
            seen.push(now);
        };

        let main = repo.refname_to_id("refs/heads/main").unwrap();
        repo.reference("refs/heads/v23.0.x", main, true, "t")
            .unwrap();
        moved("the release branch");
        repo.reference("refs/remotes/origin/main", main, true, "t")
            .unwrap();
        moved("origin's main");
        repo.tag_lightweight("23.0.2", &repo.find_object(main, None).unwrap(), false)
            .unwrap();
        moved("a new tag");
        git(&pkg, &["pack-refs", "--all"]);
        moved("packing the references");
        std::fs::write(pkg.join(".git/shallow"), format!("{main}\n")).unwrap();
        moved("a shallow clone");
        std::fs::remove_file(pkg.join(".git/shallow")).unwrap();
        let v24 = Policy::from_toml(
            "v23.toml",
            &BUILTIN_V23.replacen("tag_pattern = \"", "tag_pattern = \"r", 1),
        )
        .unwrap();
        let other = ScanTarget {
            line: v24.line("v23").unwrap(),
            policy: &v24,
            ..t.clone()
        };
        assert!(
            !seen.contains(&ref_fingerprint(&other).unwrap()),
            "a tag pattern did not move the fingerprint"
        );

        // What a probe does not read leaves it alone.
        let before = ref_fingerprint(&t).unwrap();
        repo.reference("refs/heads/someone-elses", main, true, "t")
            .unwrap();
        std::fs::write(pkg.join("README"), "work in progress\n").unwrap();
        assert_eq!(ref_fingerprint(&t).unwrap(), before);
    }

    /// The one defect a remembered probe must not have is a stale tip or tag. Reference files
    /// changed at random among a few commits and tags (so that states come back, loose or
    /// packed): whenever a fingerprint is one seen before, the probe libgit2 reads now is the
    /// probe it read then.
    #[test]
    fn a_fingerprint_seen_again_is_always_the_same_probe() {
        let dir = tempfile::tempdir().unwrap();
        let repo = clone_with_tags(dir.path());
        let pkg = dir.path().join("pkg");
        let policy = Policy::from_toml("v23.toml", BUILTIN_V23).unwrap();
        let t = target(dir.path(), &policy);
        // Fixed times: the same tag made twice is the same object.
        let sig = Signature::new("T", "t@example.org", &git2::Time::new(1_700_000_000, 0)).unwrap();
        let main = repo.refname_to_id("refs/heads/main").unwrap();
        let mut commits = vec![main];
        for n in 0..3 {
            let parent = repo.find_commit(*commits.last().unwrap()).unwrap();
            let tree = parent.tree().unwrap();
            let c = repo
                .commit(None, &sig, &sig, &format!("fix {n}"), &tree, &[&parent])
                .unwrap();
            commits.push(c);
        }
        let mut seen: std::collections::HashMap<String, String> = Default::default();
        let (mut again, mut state) = (0, 0x9e37_79b9_7f4a_7c15_u64);
        let mut pick = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        for step in 0..150 {
            let commit = commits[pick(commits.len())];
            let object = repo.find_object(commit, None).unwrap();
            let tag = format!("23.0.{}", pick(3));
            match pick(7) {
                0 => {
                    repo.reference("refs/heads/v23.0.x", commit, true, "t")
                        .unwrap();
                }
                1 => {
                    repo.reference("refs/remotes/origin/v23.0.x", commit, true, "t")
                        .unwrap();
                }
                2 => {
                    repo.tag_lightweight(&tag, &object, true).unwrap();
                }
                3 => {
                    repo.tag(&tag, &object, &sig, &format!("Version {tag}"), true)
                        .unwrap();
                }
                4 => {
                    if let Ok(mut r) = repo.find_reference(&format!("refs/tags/{tag}")) {
                        r.delete().unwrap();
                    }
                }
                5 => git(&pkg, &["pack-refs", "--all"]),
                _ => {
                    repo.reference("refs/heads/main", commit, true, "t")
                        .unwrap();
                }
            }
            let now = probe(&t).unwrap().remembered();
            let fingerprint = ref_fingerprint(&t).unwrap();
            match seen.get(&fingerprint) {
                Some(before) => {
                    assert_eq!(before, &now, "step {step}: the same files, another probe");
                    again += 1;
                }
                None => {
                    seen.insert(fingerprint, now);
                }
            }
        }
        assert!(again >= 10, "states came back only {again} times");
    }

    #[test]
    fn no_fingerprint_where_the_references_are_not_plain_files() {
        let dir = tempfile::tempdir().unwrap();
        let repo = clone_with_tags(dir.path());
        let pkg = dir.path().join("pkg");
        let policy = Policy::from_toml("v23.toml", BUILTIN_V23).unwrap();
        let t = target(dir.path(), &policy);
        assert!(ref_fingerprint(&t).is_some());

        // A linked work tree: its `.git` is a file.
        git(&pkg, &["worktree", "add", "-q", "../linked", "main"]);
        let linked = ScanTarget {
            path: dir.path().join("linked"),
            ..t.clone()
        };
        assert!(ref_fingerprint(&linked).is_none());

        // A symbolic release branch names another reference.
        repo.reference_symbolic("refs/heads/v23.0.x", "refs/heads/main", true, "t")
            .unwrap();
        assert!(ref_fingerprint(&t).is_none());
        // And a repository that is not there.
        let gone = ScanTarget {
            path: dir.path().join("gone"),
            ..t.clone()
        };
        assert!(ref_fingerprint(&gone).is_none());
    }
}
