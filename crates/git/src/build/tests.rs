//! The repository builder against git itself.

use super::*;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn lines(n: usize, tag: &str) -> String {
    (0..n).map(|i| format!("line {i} {tag}\n")).collect()
}

fn with_line(base: &str, i: usize, new: &str) -> String {
    base.lines()
        .enumerate()
        .map(|(k, l)| {
            if k == i {
                format!("{new}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

#[test]
fn commits_branches_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = RepoBuilder::init(&dir.path().join("r")).unwrap();
    assert_eq!(b.time(), DEFAULT_START);
    let c1 = b
        .write(
            "main",
            "First\n\nbody",
            &[("a.txt", "a\n"), ("dir/sub/b.py", "b\n")],
        )
        .unwrap();
    assert_eq!(b.time(), DEFAULT_START + 60);
    let c2 = b
        .commit(
            "main",
            "Second",
            &[
                Change::Write("a.txt", "a2\n"),
                Change::Delete("dir/sub/b.py"),
            ],
        )
        .unwrap();
    assert!(b.commit("main", "x", &[Change::Delete("nope")]).is_err());
    assert_eq!(b.tip("main").unwrap(), c2);
    assert_eq!(b.read("main", "a.txt").unwrap(), "a2\n");
    assert_eq!(b.read(&c1.to_string(), "dir/sub/b.py").unwrap(), "b\n");
    assert!(b.read("main", "dir/sub/b.py").is_err());

    {
        let repo = b.repo();
        let c = repo.find_commit(c2).unwrap();
        assert_eq!(c.parent_ids().collect::<Vec<_>>(), vec![c1]);
        assert_eq!(c.message(), Some("Second\n"));
        assert_eq!(c.author().name(), Some("Test Dev"));
        assert_eq!(c.author().email(), Some("dev@example.org"));
        assert_eq!(c.time().seconds(), DEFAULT_START + 60);
        assert_eq!(repo.find_commit(c1).unwrap().parent_count(), 0);
        // Loose objects: the commit's file is there.
        let hex = c2.to_string();
        assert!(repo
            .path()
            .join("objects")
            .join(&hex[..2])
            .join(&hex[2..])
            .is_file());
    }

    let r = b.branch("tickets/DM-1", &c1.to_string()).unwrap();
    assert_eq!(r, c1);
    assert!(
        b.branch("tickets/DM-1", "main").is_err(),
        "branches are not moved"
    );
    let c3 = b
        .write("tickets/DM-1", "On ticket", &[("c.txt", "c\n")])
        .unwrap();
    assert_eq!(b.tip("tickets/DM-1").unwrap(), c3);
    assert_eq!(b.tip("main").unwrap(), c2, "main did not move");
    // A branch that does not exist yet starts with a root commit.
    let orphan = b.write("orphan", "Root", &[("o.txt", "o\n")]).unwrap();
    assert_eq!(b.repo().find_commit(orphan).unwrap().parent_count(), 0);
    b.set_time(1_700_000_000);
    let c4 = b.write("main", "Later", &[("a.txt", "a3\n")]).unwrap();
    assert_eq!(
        b.repo().find_commit(c4).unwrap().time().seconds(),
        1_700_000_000
    );

    b.finish("main").unwrap();
    let p = b.path().to_path_buf();
    assert_eq!(git(&p, &["status", "--porcelain"]), "");
    assert_eq!(git(&p, &["symbolic-ref", "HEAD"]).trim(), "refs/heads/main");
    assert_eq!(git(&p, &["log", "--oneline"]).lines().count(), 3);
    assert_eq!(std::fs::read_to_string(p.join("a.txt")).unwrap(), "a3\n");
    assert_eq!(git(&p, &["show", "tickets/DM-1:c.txt"]), "c\n");
    git(&p, &["fsck", "--strict"]);
}

#[test]
fn merge_is_first_parent_and_conflicts_name_paths() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = RepoBuilder::init(dir.path()).unwrap();
    let base = lines(30, "base");
    let c0 = b
        .write("main", "Base", &[("f.txt", &base), ("g.txt", "g\n")])
        .unwrap();
    b.branch("tickets/DM-2", "main").unwrap();
    let t1 = b
        .write(
            "tickets/DM-2",
            "Ticket",
            &[("f.txt", &with_line(&base, 25, "ticket"))],
        )
        .unwrap();
    let m0 = b
        .write(
            "main",
            "Main change",
            &[("f.txt", &with_line(&base, 2, "main"))],
        )
        .unwrap();
    let m = b
        .merge(
            "main",
            "tickets/DM-2",
            "Merge pull request #1 from lsst/tickets/DM-2",
        )
        .unwrap();
    let parents: Vec<Oid> = b.repo().find_commit(m).unwrap().parent_ids().collect();
    assert_eq!(parents, vec![m0, t1]);
    let f = b.read("main", "f.txt").unwrap();
    assert!(f.contains("ticket\n") && f.contains("main\n"));
    // A merge of a descendant is still a merge commit (--no-ff), from a sha too.
    b.branch("t3", "main").unwrap();
    let t3 = b.write("t3", "T3", &[("g.txt", "g3\n")]).unwrap();
    let m2 = b.merge("main", &t3.to_string(), "Merge t3").unwrap();
    assert_eq!(b.repo().find_commit(m2).unwrap().parent_count(), 2);
    assert_eq!(b.read("main", "g.txt").unwrap(), "g3\n");

    b.branch("x", &c0.to_string()).unwrap();
    b.write(
        "x",
        "Conflicting",
        &[("f.txt", &with_line(&base, 2, "other"))],
    )
    .unwrap();
    let before = b.tip("main").unwrap();
    let err = b.merge("main", "x", "Merge x").unwrap_err();
    let err = portcullis_core::error::chain(&err);
    assert!(err.contains("conflict") && err.contains("f.txt"), "{err}");
    assert_eq!(b.tip("main").unwrap(), before, "nothing moved on conflict");
    assert!(b.merge("nobranch", "x", "m").is_err());

    b.finish("main").unwrap();
    let p = dir.path();
    assert_eq!(
        git(p, &["rev-list", "--count", "--first-parent", "main"]).trim(),
        "4"
    );
    assert_eq!(
        git(p, &["rev-list", "--count", "--merges", "main"]).trim(),
        "2"
    );
    assert_eq!(git(p, &["status", "--porcelain"]), "");
}

#[test]
fn cherry_pick_is_equivalent_for_git_cherry() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = RepoBuilder::init(dir.path()).unwrap();
    let base = lines(40, "base");
    b.write("main", "Base", &[("src/f.py", &base), ("g.txt", "g\n")])
        .unwrap();
    b.branch("v1.x", "main").unwrap();
    b.set_identity("Ann Author", "ann@example.org");
    let author_time = b.time();
    let fix = b
        .write(
            "main",
            "Fix bbox\n\nLonger text.",
            &[("src/f.py", &with_line(&base, 30, "fixed"))],
        )
        .unwrap();
    b.write("main", "Unrelated", &[("g.txt", "g2\n")]).unwrap();
    b.set_identity("Rel Manager", "rm@example.org");
    b.set_time(1_650_000_000);
    let picked = b.cherry_pick("v1.x", fix, None).unwrap();
    {
        let c = b.repo().find_commit(picked).unwrap();
        assert_eq!(c.message(), Some("Fix bbox\n\nLonger text.\n"));
        assert_eq!(c.author().name(), Some("Ann Author"));
        assert_eq!(c.author().when().seconds(), author_time);
        assert_eq!(c.committer().name(), Some("Rel Manager"));
        assert_eq!(c.committer().when().seconds(), 1_650_000_000);
    }
    assert_eq!(b.read("v1.x", "g.txt").unwrap(), "g\n");
    assert!(b.read("v1.x", "src/f.py").unwrap().contains("fixed\n"));

    // Edited while picking: not equivalent any more.
    let fix2 = b
        .write(
            "main",
            "Fix two",
            &[(
                "src/f.py",
                &with_line(&b.read("main", "src/f.py").unwrap(), 5, "two"),
            )],
        )
        .unwrap();
    let on_rel = b.read("v1.x", "src/f.py").unwrap();
    let edited = with_line(&with_line(&on_rel, 5, "two"), 10, "adapted");
    let e = b
        .cherry_pick_with(
            "v1.x",
            fix2,
            Some("Fix two (adapted)"),
            &[Change::Write("src/f.py", &edited)],
        )
        .unwrap();
    b.finish("main").unwrap();
    let out = git(dir.path(), &["cherry", "main", "v1.x"]);
    assert_eq!(out, format!("- {picked}\n+ {e}\n"));

    // A conflicting pick is an error naming the path.
    b.write(
        "v1.x",
        "Release only",
        &[(
            "src/f.py",
            &with_line(&b.read("v1.x", "src/f.py").unwrap(), 20, "rel"),
        )],
    )
    .unwrap();
    let clash = b
        .write(
            "main",
            "Clash",
            &[(
                "src/f.py",
                &with_line(&b.read("main", "src/f.py").unwrap(), 20, "mainline"),
            )],
        )
        .unwrap();
    let tip = b.tip("v1.x").unwrap();
    let err = b.cherry_pick("v1.x", clash, None).unwrap_err();
    let err = portcullis_core::error::chain(&err);
    assert!(
        err.contains("conflict") && err.contains("src/f.py"),
        "{err}"
    );
    assert_eq!(b.tip("v1.x").unwrap(), tip);

    // Picking a merge takes it against its first parent.
    b.branch("t", "main").unwrap();
    b.write("t", "On t", &[("h.txt", "h\n")]).unwrap();
    let m = b.merge("main", "t", "Merge t").unwrap();
    b.cherry_pick("v1.x", m, None).unwrap();
    assert_eq!(b.read("v1.x", "h.txt").unwrap(), "h\n");
}

#[test]
fn revert_undoes_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = RepoBuilder::init(dir.path()).unwrap();
    b.write("main", "Base", &[("a.txt", "one\n")]).unwrap();
    let bad = b
        .write(
            "main",
            "Break things\n\nOops.",
            &[("a.txt", "two\n"), ("new.txt", "n\n")],
        )
        .unwrap();
    let r = b.revert("main", bad).unwrap();
    let c = b.repo().find_commit(r).unwrap();
    assert_eq!(
        c.message(),
        Some(format!("Revert \"Break things\"\n\nThis reverts commit {bad}.\n").as_str())
    );
    assert_eq!(c.parent_id(0).unwrap(), bad);
    drop(c);
    assert_eq!(b.read("main", "a.txt").unwrap(), "one\n");
    assert!(b.read("main", "new.txt").is_err());
    b.finish("main").unwrap();
    assert_eq!(git(dir.path(), &["diff", "--stat", "main~2", "main"]), "");
}

#[test]
fn annotated_tags_are_never_moved() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = RepoBuilder::init(dir.path()).unwrap();
    let c1 = b.write("main", "One", &[("a", "1\n")]).unwrap();
    let t = b.tag("v23.0.0.rc1", "main", "Release candidate").unwrap();
    let c2 = b.write("main", "Two", &[("a", "2\n")]).unwrap();
    {
        let tag = b.repo().find_tag(t).unwrap();
        assert_eq!(tag.target_id(), c1);
        assert_eq!(tag.name(), Some("v23.0.0.rc1"));
        assert_eq!(tag.message(), Some("Release candidate\n"));
        assert_eq!(tag.tagger().unwrap().name(), Some("Test Dev"));
    }
    let err = b.tag("v23.0.0.rc1", "main", "again").unwrap_err();
    let err = portcullis_core::error::chain(&err);
    assert!(err.contains("already exists"), "{err}");
    // Tags resolve as revisions; a tag of a tag is peeled to the commit.
    b.branch("rel", "v23.0.0.rc1").unwrap();
    assert_eq!(b.tip("rel").unwrap(), c1);
    let t2 = b.tag("again", "v23.0.0.rc1", "x").unwrap();
    assert_eq!(b.repo().find_tag(t2).unwrap().target_id(), c1);
    b.tag("23.0.0", &c2.to_string(), "Version 23.0.0").unwrap();
    b.finish("main").unwrap();
    assert_eq!(
        git(dir.path(), &["describe", "--tags", "--abbrev=0", "rel"]).trim(),
        "again"
    );
    assert_eq!(git(dir.path(), &["cat-file", "-t", "23.0.0"]).trim(), "tag");
}
