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
