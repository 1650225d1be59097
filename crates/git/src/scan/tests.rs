use git2::{ObjectType, Oid, Repository, Signature};

use super::{peel_tag, Peeled};

/// A repository with one commit and tags of every kind: lightweight, annotated, a tag of a
/// tag, and tags of a tree (which name no commit).
fn tagged_repo(dir: &std::path::Path) -> (Repository, Oid) {
    let repo = Repository::init(dir).unwrap();
    let tree = {
        let mut index = repo.index().unwrap();
        std::fs::write(dir.join("a.txt"), "a\n").unwrap();
        index.add_path(std::path::Path::new("a.txt")).unwrap();
        index.write_tree().unwrap()
    };
    let commit = {
        let tree = repo.find_tree(tree).unwrap();
        tag_all(&repo, &tree)
    };
    (repo, commit)
}

fn tag_all(repo: &Repository, tree: &git2::Tree<'_>) -> Oid {
    let sig = Signature::now("T", "t@example.org").unwrap();
    let commit = repo
        .commit(Some("HEAD"), &sig, &sig, "first", tree, &[])
        .unwrap();
    let c = repo.find_object(commit, Some(ObjectType::Commit)).unwrap();
    repo.tag_lightweight("23.0.1", &c, false).unwrap();
    let annotated = repo
        .tag("23.0.2", &c, &sig, "Version 23.0.2", false)
        .unwrap();
    let outer = repo.find_object(annotated, Some(ObjectType::Tag)).unwrap();
    repo.tag("23.0.3", &outer, &sig, "a tag of a tag", false)
        .unwrap();
    repo.tag_lightweight("tree-light", tree.as_object(), false)
        .unwrap();
    repo.tag("tree-annotated", tree.as_object(), &sig, "a tree", false)
        .unwrap();
    commit
}

/// A tag peeled: its commit, and whether it is annotated (a tag object).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PeeledTag {
    commit: Oid,
    annotated: bool,
}

fn peeled(repo: &Repository, name: &str) -> Option<PeeledTag> {
    read(repo, name).map(|p| PeeledTag {
        commit: p.commit,
        annotated: p.annotation.is_some(),
    })
}

fn read(repo: &Repository, name: &str) -> Option<Peeled> {
    let odb = repo.odb().unwrap();
    let reference = repo.find_reference(&format!("refs/tags/{name}")).unwrap();
    peel_tag(repo, &odb, &reference)
}

fn expect_every_kind(repo: &Repository, commit: Oid) {
    let light = PeeledTag {
        commit,
        annotated: false,
    };
    let annotated = PeeledTag {
        commit,
        annotated: true,
    };
    assert_eq!(peeled(repo, "23.0.1"), Some(light));
    assert_eq!(peeled(repo, "23.0.2"), Some(annotated));
    assert_eq!(peeled(repo, "23.0.3"), Some(annotated));
    assert_eq!(peeled(repo, "tree-light"), None);
    assert_eq!(peeled(repo, "tree-annotated"), None);
    // What an annotated tag says is read with it (the outer tag's, for a tag of a tag).
    let says = |name: &str| {
        read(repo, name)
            .and_then(|p| p.annotation)
            .map(|a| (a.message.unwrap_or_default(), a.tagger.unwrap_or_default()))
    };
    assert_eq!(says("23.0.1"), None);
    let (message, tagger) = says("23.0.2").unwrap();
    assert_eq!(
        (message.trim_end(), tagger.as_str()),
        ("Version 23.0.2", "T")
    );
    let (message, _) = says("23.0.3").unwrap();
    assert_eq!(message.trim_end(), "a tag of a tag");
}

#[test]
fn tags_are_peeled_to_their_commits_as_loose_references() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, commit) = tagged_repo(dir.path());
    expect_every_kind(&repo, commit);
}

/// `git pack-refs` writes the peeled commit of an annotated tag into `packed-refs`: it is taken
/// from there, and the answers are the same as for loose references.
#[test]
fn tags_are_peeled_to_their_commits_from_packed_refs() {
    let dir = tempfile::tempdir().unwrap();
    let (_, commit) = tagged_repo(dir.path());
    let packed = std::process::Command::new("git")
        .args(["pack-refs", "--all"])
        .current_dir(dir.path())
        .status()
        .unwrap();
    assert!(packed.success());
    let text = std::fs::read_to_string(dir.path().join(".git/packed-refs")).unwrap();
    assert!(text.contains(&format!("^{commit}")), "{text}");
    assert!(!dir.path().join(".git/refs/tags/23.0.2").exists());
    let repo = Repository::open(dir.path()).unwrap();
    expect_every_kind(&repo, commit);
}
