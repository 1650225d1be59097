use std::collections::BTreeSet;

use git2::{Oid, Repository};

use super::*;
use crate::campaign::{CampaignRepo, FILES, MAIN, RELEASE};

fn refs(repo: &Repository) -> Vec<(String, Oid)> {
    let mut out: Vec<(String, Oid)> = repo
        .references()
        .unwrap()
        .flatten()
        .filter_map(|r| Some((r.name()?.to_string(), r.target()?)))
        .collect();
    out.sort();
    out
}

#[test]
fn clean_series_is_published_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = CampaignRepo::new(dir.path()).unwrap();
    let fix = r
        .fix_on_main(
            "DM-1",
            &[
                (FILES[0], 10, "fixed 10", "Fix ten"),
                (FILES[1], 12, "fixed 12", "Fix twelve"),
            ],
        )
        .unwrap();
    r.finish().unwrap();
    let release = r.b.tip(RELEASE).unwrap();
    let before = refs(r.b.repo());
    let objects_before = std::fs::read_dir(dir.path().join(".git/objects"))
        .unwrap()
        .count();
    let p = match prepare(dir.path(), release, &fix, &PickOptions { trailer: true }).unwrap() {
        Prepare::Clean(p) => p,
        Prepare::Conflict(c) => panic!("conflict: {c:?}"),
    };
    assert_eq!(p.picks.len(), 2);
    // Nothing written yet: no reference, no object directory.
    assert_eq!(refs(r.b.repo()), before);
    assert_eq!(
        std::fs::read_dir(dir.path().join(".git/objects"))
            .unwrap()
            .count(),
        objects_before
    );
    publish(dir.path(), &p, RELEASE, "tickets/DM-1-v23", None)
        .unwrap()
        .unwrap();
    let repo = Repository::open(dir.path()).unwrap();
    let tip = repo.refname_to_id("refs/heads/tickets/DM-1-v23").unwrap();
    assert_eq!(tip.to_string(), p.tip);
    let c = repo.find_commit(tip).unwrap();
    assert_eq!(
        crate::text::cherry_picked_from(c.message().unwrap()),
        vec![fix[1].to_string()]
    );
    assert_eq!(c.parent(0).unwrap().parent_id(0).unwrap(), release);
    let (_, on_branch) = branch_commits(dir.path(), "tickets/DM-1-v23", release)
        .unwrap()
        .unwrap();
    assert_eq!(on_branch.len(), 2);
    assert_eq!(
        on_branch[0].patch_id,
        Some(patch_id(&repo, &repo.find_commit(fix[0]).unwrap()).unwrap())
    );
    // A second publish is refused: the branch exists.
    assert!(matches!(
        publish(dir.path(), &p, RELEASE, "tickets/DM-1-v23", None).unwrap(),
        Err(Refused::BranchExists { .. })
    ));
}

#[test]
fn moved_release_branch_refuses_to_publish() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = CampaignRepo::new(dir.path()).unwrap();
    let fix = r
        .fix_on_main("DM-1", &[(FILES[0], 10, "fixed 10", "Fix ten")])
        .unwrap();
    let release = r.b.tip(RELEASE).unwrap();
    let Prepare::Clean(p) =
        prepare(dir.path(), release, &fix, &PickOptions { trailer: false }).unwrap()
    else {
        panic!("conflict")
    };
    r.edit(RELEASE, "Pin a dependency", FILES[2], 5, "pinned")
        .unwrap();
    let refused = publish(dir.path(), &p, RELEASE, "tickets/DM-1-v23", None).unwrap();
    assert!(
        matches!(refused, Err(Refused::ReleaseMoved { .. })),
        "{refused:?}"
    );
    assert!(Repository::open(dir.path())
        .unwrap()
        .refname_to_id("refs/heads/tickets/DM-1-v23")
        .is_err());
}

#[test]
fn conflict_names_files_hunks_and_the_missing_main_commit() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = CampaignRepo::new(dir.path()).unwrap();
    // DM-2 rewrites line 10 on main; DM-3 then changes the same line again.
    let dep = r
        .fix_on_main("DM-2", &[(FILES[0], 10, "rewritten 10", "Rewrite ten")])
        .unwrap();
    let fix = r
        .fix_on_main("DM-3", &[(FILES[0], 10, "rewritten 10 fixed", "Fix ten")])
        .unwrap();
    r.finish().unwrap();
    let repo = Repository::open(dir.path()).unwrap();
    let release = r.b.tip(RELEASE).unwrap();
    let before = refs(&repo);
    let Prepare::Conflict(c) =
        prepare(dir.path(), release, &fix, &PickOptions { trailer: true }).unwrap()
    else {
        panic!("expected a conflict")
    };
    assert_eq!(refs(&repo), before);
    assert_eq!(c.main_commit, fix[0].to_string());
    assert_eq!(c.files.len(), 1);
    assert_eq!(c.files[0].path, FILES[0]);
    assert_eq!(c.files[0].kind, "content");
    assert_eq!(c.files[0].hunks[0].line, 10);
    assert_eq!(
        c.files[0].hunks[0].release,
        vec![format!("line 10 of {}", FILES[0])]
    );
    assert_eq!(c.files[0].hunks[0].pick, vec!["rewritten 10 fixed"]);
    let bp = release;
    let deps = dependencies(&repo, fix[0], bp, &[FILES[0].to_string()], &BTreeSet::new()).unwrap();
    assert_eq!(deps, vec![dep[0].to_string()]);
    // Once the dependency is on the release branch (excluded), there is none left.
    let excluded: BTreeSet<String> = [dep[0].to_string()].into();
    assert!(
        dependencies(&repo, fix[0], bp, &[FILES[0].to_string()], &excluded)
            .unwrap()
            .is_empty()
    );
    let _ = MAIN;
}

#[test]
fn dirty_files_are_the_tracked_changes() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = CampaignRepo::new(dir.path()).unwrap();
    r.finish().unwrap();
    assert!(dirty_files(dir.path()).unwrap().is_empty());
    std::fs::write(dir.path().join("untracked.txt"), "x").unwrap();
    assert!(dirty_files(dir.path()).unwrap().is_empty());
    std::fs::write(dir.path().join(FILES[0]), "changed\n").unwrap();
    assert_eq!(dirty_files(dir.path()).unwrap(), vec![FILES[0].to_string()]);
}

/// Regression (`verify --fetch` hid a pull request merged on the server): a local release branch
/// that `origin` has moved ahead of resolves to `origin`'s tip; a diverged or newer local branch
/// stays the local one; a branch only `origin` has is `origin`'s.
#[test]
fn resolve_branch_follows_origin_when_it_is_ahead_of_the_local_branch() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repository::init(dir.path()).unwrap();
    let sig = git2::Signature::now("Ada", "ada@example.org").unwrap();
    let tree = {
        let mut idx = repo.index().unwrap();
        repo.find_tree(idx.write_tree().unwrap()).unwrap()
    };
    let commit = |parents: &[Oid], msg: &str| {
        let ps: Vec<_> = parents
            .iter()
            .map(|p| repo.find_commit(*p).unwrap())
            .collect();
        let refs: Vec<_> = ps.iter().collect();
        repo.commit(None, &sig, &sig, msg, &tree, &refs).unwrap()
    };
    let a = commit(&[], "a");
    let b = commit(&[a], "b");
    let c = commit(&[a], "c");
    let set = |name: &str, id: Oid| {
        repo.reference(name, id, true, "test").unwrap();
    };
    set("refs/heads/v23.0.x", a);
    set("refs/remotes/origin/v23.0.x", b);
    assert_eq!(resolve_branch(&repo, "v23.0.x"), Some(b), "origin is ahead");
    set("refs/heads/v23.0.x", c);
    assert_eq!(resolve_branch(&repo, "v23.0.x"), Some(c), "diverged: local");
    set("refs/heads/v23.0.x", b);
    set("refs/remotes/origin/v23.0.x", a);
    assert_eq!(resolve_branch(&repo, "v23.0.x"), Some(b), "local is ahead");
    set("refs/remotes/origin/main", c);
    assert_eq!(resolve_branch(&repo, "main"), Some(c), "only origin has it");
    assert_eq!(resolve_branch(&repo, "nope"), None);
}
