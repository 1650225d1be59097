//! `portcullis verify` against the conventions of issue 20: verdicts that are true (no false
//! `reverted`, `landed` only with the ticket's own main-side change, missing objects checked
//! around), paths that never need a backport, subject evidence, and tag spellings.

use portcullis_git::campaign::{MAIN, RELEASE};

use crate::verify::{
    has_drift, landing, release_commit, repo, ticket, tickets, verify, workspace, CORE, IO,
};

/// A pull request merged on main from a branch with no ticket key (GitHub style): its commits
/// have no ticket on main.
fn unticketed_pr(
    r: &mut portcullis_git::campaign::CampaignRepo,
    branch: &str,
    edits: &[(&str, usize, &str, &str)],
) -> (Vec<git2::Oid>, git2::Oid) {
    r.b.branch(branch, MAIN).unwrap();
    let mut out = Vec::new();
    for (file, line, text, subject) in edits {
        out.push(r.edit(branch, subject, file, *line, text).unwrap());
    }
    let merge = r.merge_pr(MAIN, branch).unwrap();
    (out, merge)
}

/// Issue 20: a squashed backport of a pull request whose main-side commits carry no ticket was
/// reported `reverted` with an empty revert list (the own-ticket counterpart rule skipped
/// squash matches).
#[test]
fn squash_of_an_unticketed_pull_request_is_landed_not_reverted() {
    let env = workspace(&["pkg"], "");
    let mut r = repo(&env, "pkg");
    let (fix, _) = unticketed_pr(
        &mut r,
        "someone/flux-fixes",
        &[
            (CORE, 5, "part one", "Part one"),
            (IO, 7, "part two", "Part two"),
        ],
    );
    let mut squash = None;
    r.on_release_branch("DM-200-v23", |r, br| {
        squash = Some(r.edits(
            br,
            "Backport the flux fixes",
            &[(CORE, 5, "part one"), (IO, 7, "part two")],
        )?);
        Ok(())
    })
    .unwrap();
    r.finish().unwrap();
    tickets(&env, &[("DM-200", "approved")]);
    let (run, v) = verify(&env, &[]);
    assert_eq!(
        release_commit(&v, "pkg", squash.unwrap())["match"]["kind"],
        "squash"
    );
    let l = landing(&v, "DM-200", "pkg");
    assert_eq!(l["status"], "landed", "{l}");
    assert_eq!(
        l["main_commits"].as_array().unwrap().len(),
        fix.len(),
        "{l}"
    );
    assert!(l["reverted"].as_array().unwrap().is_empty());
    assert_eq!(ticket(&v, "DM-200")["status"], "landed");
    assert!(
        !has_drift(&v, "reverted", "pkg", "DM-200"),
        "{}",
        v["drift"]
    );
    assert_eq!(run.code, 0, "{}", v["drift"]);
}

/// Issue 20: a `cherry-pick -m 1` of a main-side merge names the merge in its trailer; the
/// counterpart rule skipped merges, and the ticket read `reverted` with nothing reverted.
#[test]
fn trailer_naming_a_main_merge_lands_what_the_merge_brought_in() {
    let env = workspace(&["pkg"], "");
    let mut r = repo(&env, "pkg");
    let (fix, merge) = unticketed_pr(
        &mut r,
        "someone/io-retry",
        &[(IO, 11, "retry reads", "Retry reads")],
    );
    r.on_release_branch("DM-201-v23", |r, br| {
        let msg = format!("Retry reads on v23\n\n(cherry picked from commit {merge})");
        // Edited while picking: only the trailer links it.
        r.edits(br, &msg, &[(IO, 11, "retry reads"), (CORE, 29, "v23 only")])?;
        Ok(())
    })
    .unwrap();
    r.finish().unwrap();
    tickets(&env, &[("DM-201", "approved")]);
    let (_, v) = verify(&env, &[]);
    let l = landing(&v, "DM-201", "pkg");
    assert_eq!(l["status"], "landed", "{l}");
    assert_eq!(l["landed"][0]["main_commit"], fix[0].to_string(), "{l}");
    assert_eq!(l["landed"][0]["kind"], "trailer");
    assert_eq!(ticket(&v, "DM-201")["status"], "landed");
}

/// A fix pushed directly to the release branch and reverted there: the ticket is `reverted`,
/// and now names the revert (the list was empty: only the ticket's own release commits were
/// looked at).
#[test]
fn reverted_direct_push_names_its_revert() {
    let env = workspace(&["pkg"], "");
    let mut r = repo(&env, "pkg");
    let fix = r
        .fix_on_main("DM-202", &[(CORE, 12, "fixed", "Fix the thing")])
        .unwrap();
    let pushed = r.b.cherry_pick(RELEASE, fix[0], None).unwrap();
    let revert = r.b.revert(RELEASE, pushed).unwrap();
    r.finish().unwrap();
    tickets(&env, &[("DM-202", "done")]);
    let (_, v) = verify(&env, &[]);
    let l = landing(&v, "DM-202", "pkg");
    assert_eq!(l["status"], "reverted", "{l}");
    assert_eq!(l["reverted"][0]["release_commit"], pushed.to_string());
    assert_eq!(l["reverted"][0]["reverted_by"], revert.to_string());
    assert!(has_drift(&v, "reverted", "pkg", "DM-202"), "{}", v["drift"]);
}

/// Issue 20: a ticket whose only commits on the release branch have no main-side change read
/// `landed`; it is `release_only`, and a ticket with its own landed change stays `landed`.
#[test]
fn landed_needs_the_tickets_own_main_side_change() {
    let env = workspace(&["pkg", "other"], "");
    let mut r = repo(&env, "pkg");
    let mut o = repo(&env, "other");
    r.on_release_branch("DM-203-v23", |r, br| {
        r.edit(br, "Adapt the reader for v23 by hand", IO, 14, "by hand")?;
        Ok(())
    })
    .unwrap();
    let fix = o
        .fix_on_main("DM-204", &[(CORE, 9, "fixed", "Fix the writer")])
        .unwrap();
    o.backport("DM-204-v23", &fix).unwrap();
    r.on_release_branch("DM-204-v23", |r, br| {
        r.edit(br, "Pin the writer's dependency", IO, 20, "pinned")?;
        Ok(())
    })
    .unwrap();
    r.finish().unwrap();
    o.finish().unwrap();
    tickets(&env, &[("DM-203", "approved"), ("DM-204", "approved")]);
    let (run, v) = verify(&env, &[]);
    assert_eq!(landing(&v, "DM-203", "pkg")["status"], "release_only");
    assert_eq!(ticket(&v, "DM-203")["status"], "release_only");
    assert_eq!(landing(&v, "DM-204", "pkg")["status"], "release_only");
    assert_eq!(landing(&v, "DM-204", "other")["status"], "landed");
    assert_eq!(ticket(&v, "DM-204")["status"], "landed");
    assert_eq!(run.code, 0, "release-only is not drift: {}", v["drift"]);
}

/// Issue 20: one missing blob made the whole repository unverifiable. The repository is now
/// verified where it can be, and the commits that could not be checked are named.
#[test]
fn missing_blob_leaves_the_rest_of_the_repository_verified() {
    let env = workspace(&["pkg"], "");
    let mut r = repo(&env, "pkg");
    let good = r
        .fix_on_main("DM-210", &[(IO, 6, "fixed", "Fix the reader")])
        .unwrap();
    r.fix_on_main(
        "DM-211",
        &[(CORE, 10, "fixed for main", "Improve timeout handling")],
    )
    .unwrap();
    r.backport("DM-210-v23", &good).unwrap();
    let mut edited = None;
    r.on_release_branch("DM-211-v23", |r, br| {
        edited = Some(r.edit(br, "Improve timeout handling", CORE, 11, "fixed for v23")?);
        Ok(())
    })
    .unwrap();
    r.finish().unwrap();
    let edited = edited.unwrap();
    let blob = {
        let repo = r.b.repo();
        let tree = repo.find_commit(edited).unwrap().tree().unwrap();
        tree.get_path(std::path::Path::new(CORE)).unwrap().id()
    };
    portcullis_testkit::gitrepo::remove_loose_object(r.b.path(), blob).unwrap();
    tickets(&env, &[("DM-210", "approved"), ("DM-211", "approved")]);
    let (run, v) = verify(&env, &[]);
    let scan = &v["repositories"][0];
    assert_eq!(scan["status"], "ok", "{}", scan["problems"]);
    assert_eq!(scan["unchecked"][0]["sha"], edited.to_string(), "{scan}");
    assert!(
        scan["unchecked"][0]["problem"]
            .as_str()
            .unwrap()
            .contains("missing objects"),
        "{scan}"
    );
    // The rest was verified.
    assert_eq!(landing(&v, "DM-210", "pkg")["status"], "landed");
    assert_eq!(ticket(&v, "DM-210")["status"], "landed");
    // The ticket that depends on the unreadable commit is not called missing.
    let l = landing(&v, "DM-211", "pkg");
    assert_eq!(l["status"], "unverifiable", "{l}");
    assert_eq!(l["unchecked"][0], edited.to_string());
    assert_eq!(ticket(&v, "DM-211")["status"], "pending");
    assert!(!has_drift(&v, "approved_not_landed", "pkg", "DM-211"));
    let d = v["drift"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == "unverifiable")
        .unwrap_or_else(|| panic!("no unverifiable drift: {}", v["drift"]));
    assert_eq!(d["repo"], "pkg");
    assert_eq!(d["commits"][0], edited.to_string());
    let msg = d["message"].as_str().unwrap();
    assert!(
        msg.contains(&edited.to_string()[..10]) && msg.contains("DM-211"),
        "{msg}"
    );
    assert_eq!(run.code, 1, "unverifiable blocks by default");
    assert_eq!(
        v["summary"]["unverifiable"], 0,
        "the repository itself was read"
    );
}

/// A fix on main in two commits, the code and `extra` (a file written), through `tickets/KEY`;
/// the code alone is backported. Returns (code, extra).
fn fix_with_extra_commit(
    r: &mut portcullis_git::campaign::CampaignRepo,
    key: &str,
    extra: (&str, &str),
) -> (git2::Oid, git2::Oid) {
    let branch = format!("tickets/{key}");
    r.b.branch(&branch, MAIN).unwrap();
    let code = r.edit(&branch, "Fix the reader", IO, 17, "fixed").unwrap();
    let other =
        r.b.write(&branch, extra.1, &[(extra.0, "something\n")])
            .unwrap();
    r.merge_pr(MAIN, &branch).unwrap();
    r.backport(&format!("{key}-v23"), &[code]).unwrap();
    (code, other)
}

/// Issue 20: a news fragment on main never needs a backport (`[verify] ignore_paths`): the
/// ticket is landed, the fragment shown as `not_needed` with its rule.
#[test]
fn news_fragment_only_commit_is_not_needed() {
    let run_with = |ignore: bool| {
        let env = workspace(&["pkg"], "");
        if ignore {
            env.add_to_policy("[verify]\nignore_paths = [\"doc/changes/**\"]\n");
        }
        let mut r = repo(&env, "pkg");
        let (code, fragment) = fix_with_extra_commit(
            &mut r,
            "DM-220",
            ("doc/changes/DM-220.bugfix.md", "Add news fragment"),
        );
        r.finish().unwrap();
        tickets(&env, &[("DM-220", "done")]);
        let (run, v) = verify(&env, &[]);
        (run, v, code, fragment)
    };
    // Without the rule the fragment holds the ticket up.
    let (_, v, _, fragment) = run_with(false);
    let l = landing(&v, "DM-220", "pkg");
    assert_eq!(l["status"], "partial", "{l}");
    assert_eq!(l["missing"][0], fragment.to_string());
    assert!(has_drift(&v, "done_not_landed", "pkg", "DM-220"));

    let (run, v, code, fragment) = run_with(true);
    let l = landing(&v, "DM-220", "pkg");
    assert_eq!(l["status"], "landed", "{l}");
    assert_eq!(l["landed"][0]["main_commit"], code.to_string());
    assert!(l["missing"].as_array().unwrap().is_empty(), "{l}");
    assert_eq!(l["not_needed"][0]["main_commit"], fragment.to_string());
    assert_eq!(l["not_needed"][0]["rule"], "doc/changes/**");
    assert_eq!(ticket(&v, "DM-220")["status"], "landed");
    assert!(!has_drift(&v, "done_not_landed", "pkg", "DM-220"));
    assert_eq!(run.code, 0, "{}", v["drift"]);
}

/// Issue 20: a CI-only commit (`.github/**`, a rule of the repository) never needs a backport;
/// a commit that touches CI and code still does.
#[test]
fn ci_only_commit_is_not_needed_by_a_repository_rule() {
    let env = workspace(&["pkg", "other"], "pkg:ignore_paths = [\".github/**\"]");
    let mut r = repo(&env, "pkg");
    let (_, ci) = fix_with_extra_commit(
        &mut r,
        "DM-221",
        (".github/workflows/ci.yaml", "Run CI on Python 3.12"),
    );
    // The same in a repository without the rule: still needed there.
    let mut o = repo(&env, "other");
    let (_, other_ci) = fix_with_extra_commit(
        &mut o,
        "DM-221",
        (".github/workflows/ci.yaml", "Run CI on Python 3.12"),
    );
    // CI and code in one commit is needed.
    r.b.branch("tickets/DM-222", MAIN).unwrap();
    let mixed =
        r.b.write(
            "tickets/DM-222",
            "Fix and test on CI",
            &[
                (".github/workflows/ci.yaml", "more\n"),
                ("python/pkg/new.py", "x\n"),
            ],
        )
        .unwrap();
    r.merge_pr(MAIN, "tickets/DM-222").unwrap();
    r.finish().unwrap();
    o.finish().unwrap();
    tickets(&env, &[("DM-221", "approved"), ("DM-222", "approved")]);
    let (_, v) = verify(&env, &[]);
    let l = landing(&v, "DM-221", "pkg");
    assert_eq!(l["status"], "landed", "{l}");
    assert_eq!(l["not_needed"][0]["main_commit"], ci.to_string());
    assert_eq!(l["not_needed"][0]["rule"], ".github/**");
    let l = landing(&v, "DM-221", "other");
    assert_eq!(l["status"], "partial", "{l}");
    assert_eq!(l["missing"][0], other_ci.to_string());
    assert!(l.get("not_needed").is_none(), "{l}");
    let l = landing(&v, "DM-222", "pkg");
    assert_eq!(l["status"], "missing", "{l}");
    assert_eq!(l["missing"][0], mixed.to_string());
}

/// Issue 20: a bot's subject prefix (`Backport PR #N: `) was not stripped before subjects were
/// compared, so an edited bot backport found no counterpart.
#[test]
fn bot_subject_prefix_is_stripped_before_comparing() {
    let run_with = |prefixes: Option<&str>| {
        let env = workspace(&["pkg"], "");
        if let Some(p) = prefixes {
            env.add_to_policy(&format!("[verify]\nsubject_prefixes = {p}\n"));
        }
        let mut r = repo(&env, "pkg");
        let fix = r
            .fix_on_main(
                "DM-230",
                &[(CORE, 10, "fixed for main", "Fix the colorbar tick labels")],
            )
            .unwrap();
        let mut picks = Vec::new();
        r.on_release_branch("DM-230-v23", |r, br| {
            // Edited while resolving conflicts: only the subject links them.
            picks.push(r.edit(
                br,
                "Backport PR #15551: Fix the colorbar tick labels",
                CORE,
                11,
                "fixed for v23",
            )?);
            picks.push(r.edit(
                br,
                "v23 hotfix - Fix the colorbar tick labels",
                CORE,
                12,
                "fixed again for v23",
            )?);
            Ok(())
        })
        .unwrap();
        r.finish().unwrap();
        tickets(&env, &[("DM-230", "approved")]);
        let (_, v) = verify(&env, &[]);
        (v, fix, picks)
    };
    let (v, fix, picks) = run_with(None);
    let c = release_commit(&v, "pkg", picks[0]);
    assert_eq!(c["match"]["kind"], "subject", "{c}");
    assert_eq!(c["match"]["main_commit"], fix[0].to_string());
    assert!(
        release_commit(&v, "pkg", picks[1])["match"].is_null(),
        "not a default prefix"
    );
    assert_eq!(landing(&v, "DM-230", "pkg")["status"], "landed");
    assert_eq!(landing(&v, "DM-230", "pkg")["how"], "modified");
    // A prefix of the project's own, configured.
    let (v, fix, picks) = run_with(Some(r#"["v23 hotfix - "]"#));
    let c = release_commit(&v, "pkg", picks[1]);
    assert_eq!(c["match"]["kind"], "subject", "{c}");
    assert_eq!(c["match"]["main_commit"], fix[0].to_string());
    assert!(
        release_commit(&v, "pkg", picks[0])["match"].is_null(),
        "the configured list replaces the default"
    );
}

/// Issue 20: the one false "landed": a changelog commit "Address review comments" was matched
/// by subject alone to an unrelated main commit that touches other files. A subject match now
/// needs a changed path in common, and generic subjects never match alone.
#[test]
fn generic_subject_with_disjoint_paths_is_no_match() {
    let env = workspace(&["pkg"], "");
    let mut r = repo(&env, "pkg");
    let unrelated = r
        .fix_on_main(
            "DM-240",
            &[
                (CORE, 10, "fixed", "Address review comments"),
                (IO, 10, "fixed", "Tune the retry policy of reads"),
            ],
        )
        .unwrap();
    let mut changelog = None;
    let mut disjoint = None;
    let mut generic_shared = None;
    r.on_release_branch("DM-241-v23", |r, br| {
        changelog = Some(r.b.write(
            br,
            "Address review comments",
            &[("doc/changes/DM-241.misc.md", "Changelog\n")],
        )?);
        // A specific subject, but other files: not the same change.
        disjoint = Some(r.edit(br, "Tune the retry policy of reads", CORE, 20, "tuned")?);
        // A generic subject on the same file: still no evidence.
        generic_shared = Some(r.edit(br, "Address review comments", CORE, 21, "tuned")?);
        Ok(())
    })
    .unwrap();
    r.finish().unwrap();
    tickets(&env, &[("DM-240", "approved"), ("DM-241", "approved")]);
    let (_, v) = verify(&env, &[]);
    for c in [changelog, disjoint, generic_shared] {
        let c = release_commit(&v, "pkg", c.unwrap());
        assert!(c["match"].is_null(), "{c}");
        assert!(c["candidates"].as_array().unwrap().is_empty(), "{c}");
    }
    let l = landing(&v, "DM-241", "pkg");
    assert_eq!(l["status"], "release_only", "{l}");
    assert!(l["landed"].as_array().unwrap().is_empty());
    assert_eq!(ticket(&v, "DM-241")["status"], "release_only");
    // The unrelated ticket did not land through them.
    assert_eq!(landing(&v, "DM-240", "pkg")["status"], "missing");
    assert_eq!(
        landing(&v, "DM-240", "pkg")["missing"]
            .as_array()
            .unwrap()
            .len(),
        unrelated.len()
    );
}

/// Issue 20: release tags without a patch number (`23.0`, `v23.0rc2`) and rc tags without a
/// dot (`v23.0.1rc1`) were ignored, so landings had no first tag.
#[test]
fn tags_without_a_patch_number_or_a_dot_before_rc_are_release_tags() {
    let env = workspace(&["pkg"], "");
    let mut r = repo(&env, "pkg");
    let a = r
        .fix_on_main("DM-250", &[(CORE, 10, "fixed", "Fix the flux scale")])
        .unwrap();
    let b = r
        .fix_on_main("DM-251", &[(IO, 10, "fixed", "Retry the reads")])
        .unwrap();
    let pa = r.backport("DM-250-v23", &a).unwrap();
    r.b.tag("v23.0rc2", RELEASE, "Version 23.0.0.rc2").unwrap();
    r.b.tag("23.0", RELEASE, "Version 23.0.0").unwrap();
    let pb = r.backport("DM-251-v23", &b).unwrap();
    r.b.tag("v23.0.1rc1", RELEASE, "Version 23.0.1.rc1")
        .unwrap();
    r.b.tag("23.0.1", RELEASE, "Version 23.0.1").unwrap();
    r.finish().unwrap();
    tickets(&env, &[("DM-250", "approved"), ("DM-251", "approved")]);
    let (_, v) = verify(&env, &[]);
    let names: Vec<&str> = v["repositories"][0]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["v23.0.0.rc1", "v23.0rc2", "23.0", "v23.0.1rc1", "23.0.1"]
    );
    assert_eq!(release_commit(&v, "pkg", pa[0])["first_tag"], "v23.0rc2");
    assert_eq!(release_commit(&v, "pkg", pb[0])["first_tag"], "v23.0.1rc1");
    assert_eq!(landing(&v, "DM-250", "pkg")["first_tag"], "v23.0rc2");
    assert_eq!(landing(&v, "DM-251", "pkg")["first_tag"], "v23.0.1rc1");
}
