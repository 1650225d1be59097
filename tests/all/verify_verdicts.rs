//! `portcullis verify` and the verdicts of issue 20, stage 3: a person's verdict on a partial
//! landing (`decide accept-partial`), code that moved between repositories, and a carrier squash.

use portcullis_git::campaign::CampaignRepo;

use crate::harness::TestEnv;

use crate::verify::{has_drift, landing, repo, ticket, tickets, verify, workspace, CORE, IO};

/// `key` fixed on main in two commits, of which only the first is backported to v23.
/// Returns (the backported commit, the one left out).
pub(crate) fn deliberate_partial(r: &mut CampaignRepo, key: &str) -> (git2::Oid, git2::Oid) {
    let fix = r
        .fix_on_main(
            key,
            &[
                (CORE, 10, "clip the flux at zero", "Clip the flux"),
                (IO, 12, "new reader API", "Move to the new reader API"),
            ],
        )
        .unwrap();
    r.backport(&format!("{key}-v23"), &fix[..1]).unwrap();
    r.finish().unwrap();
    (fix[0], fix[1])
}

/// Issue 20: a backport that deliberately took only part of a ticket was `partial` for ever.
/// `decide accept-partial` records a person's verdict that the part that landed is what was
/// wanted: from then on the ticket counts as landed there, with that note.
#[test]
fn an_accepted_deliberate_partial_counts_as_landed() {
    let env = workspace(&["pkg", "other"], "");
    let (landed, left_out) = deliberate_partial(&mut repo(&env, "pkg"), "DM-500");
    repo(&env, "other").finish().unwrap();
    tickets(&env, &[("DM-500", "approved"), ("DM-501", "approved")]);

    // Before any verify, nothing is known to be partial.
    let run = env.run(&["decide", "accept-partial", "DM-500", "--note", "enough"]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        run.stderr
            .contains("DM-500 is not partial in any repository on v23"),
        "{}",
        run.stderr
    );

    let (run, v) = verify(&env, &[]);
    assert_eq!(run.code, 0, "{}", v["drift"]);
    assert_eq!(landing(&v, "DM-500", "pkg")["status"], "partial");
    assert!(has_drift(&v, "approved_not_landed", "pkg", "DM-500"));
    let run = env.run(&["cut", "23.0.1"]);
    assert_eq!(run.code, 1, "the gate waits for the rest: {}", run.stdout);
    assert!(run.stdout.contains("DM-500"), "{}", run.stdout);

    // Refused: a reason is needed, a repository where it is not partial, a ticket not partial.
    let run = env.run(&["decide", "accept-partial", "DM-500", "--repo", "pkg"]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(run.stderr.contains("needs a reason"), "{}", run.stderr);
    let run = env.run(&[
        "decide",
        "accept-partial",
        "DM-500",
        "--repo",
        "other",
        "--note",
        "x",
    ]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        run.stderr.contains("DM-500 is not partial in other on v23"),
        "{}",
        run.stderr
    );
    let run = env.run(&["decide", "accept-partial", "DM-501", "--note", "x"]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    let run = env.run(&["decide", "approve", "DM-500", "--repo", "pkg"]);
    assert_eq!(
        run.code, 2,
        "--repo is for accept-partial only: {}",
        run.stdout
    );

    let note = "Only the flux clipping was wanted on v23; the reader API stays on main";
    let run = env.run(&[
        "decide",
        "accept-partial",
        "DM-500",
        "--repo",
        "pkg",
        "--note",
        note,
        "--as",
        "Ada Kern",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("partial landing in pkg accepted by Ada Kern"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&left_out.to_string()[..10]),
        "{}",
        run.stdout
    );

    let (run, v) = verify(&env, &[]);
    assert_eq!(run.code, 0, "{}", v["drift"]);
    let l = landing(&v, "DM-500", "pkg");
    assert_eq!(l["status"], "landed", "{l}");
    assert_eq!(l["how"], "partial", "{l}");
    assert_eq!(l["accepted_partial"]["by"], "Ada Kern", "{l}");
    assert_eq!(l["accepted_partial"]["note"], note, "{l}");
    assert!(l["accepted_partial"]["at"].is_string(), "{l}");
    assert_eq!(l["landed"][0]["main_commit"], landed.to_string(), "{l}");
    // What was left out is still named.
    assert_eq!(l["missing"][0], left_out.to_string(), "{l}");
    assert_eq!(ticket(&v, "DM-500")["status"], "landed");
    assert!(!has_drift(&v, "approved_not_landed", "pkg", "DM-500"));
    // The text names the verdict too.
    let run = env.run(&["verify"]);
    assert!(
        run.stdout.contains("accepted by Ada Kern"),
        "{}",
        run.stdout
    );
    // And the gate agrees.
    let run = env.run(&["cut", "23.0.1"]);
    assert!(
        !run.stdout.contains("DM-500 is approved but has not landed"),
        "{}",
        run.stdout
    );
    // Accepting it again is refused: it is landed now.
    let run = env.run(&["decide", "accept-partial", "DM-500", "--note", "again"]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(run.stderr.contains("pkg landed"), "{}", run.stderr);
}

/// The verdict covers what was left out when it was given: a later main-side commit of the
/// ticket that is not on the release branch makes it partial again.
#[test]
fn an_accepted_partial_does_not_cover_later_commits() {
    let env = workspace(&["pkg"], "");
    let mut r = repo(&env, "pkg");
    deliberate_partial(&mut r, "DM-510");
    tickets(&env, &[("DM-510", "approved")]);
    verify(&env, &[]);
    let run = env.run(&["decide", "accept-partial", "DM-510", "--note", "enough"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let later = r
        .fix_on_main("DM-510", &[(CORE, 30, "a follow-up", "Follow up")])
        .unwrap();
    r.finish().unwrap();
    let (_, v) = verify(&env, &[]);
    let l = landing(&v, "DM-510", "pkg");
    assert_eq!(l["status"], "partial", "{l}");
    assert!(l.get("accepted_partial").is_none(), "{l}");
    assert!(l["missing"]
        .as_array()
        .unwrap()
        .contains(&later[0].to_string().into()));
}

/// On `new`'s main, the photometry code (pkg's `CORE`) arrives in a file of its own, by ticket
/// DM-599, after the branch point: its path.
fn move_photometry_here(new: &mut portcullis_git::campaign::CampaignRepo) -> &'static str {
    use portcullis_git::build::Change;
    let core = new.b.read(portcullis_git::campaign::MAIN, CORE).unwrap();
    let moved_path = "python/newpkg/photometry.py";
    new.b
        .branch("tickets/DM-599", portcullis_git::campaign::MAIN)
        .unwrap();
    new.b
        .commit(
            "tickets/DM-599",
            "Move the photometry code here",
            &[Change::Write(moved_path, &core)],
        )
        .unwrap();
    new.merge_pr(portcullis_git::campaign::MAIN, "tickets/DM-599")
        .unwrap();
    moved_path
}

/// Issue 20: code that moved to another repository on main was backported by hand where it
/// still lives on the release line. The main-side commit (in `newpkg`, after the file moved
/// there) is matched by its changed lines to the release-only commit of the same ticket in
/// `pkg`: a landing in `pkg` for `newpkg`'s commit.
#[test]
fn moved_code_lands_in_the_repository_it_came_from() {
    let env = workspace(&["pkg", "newpkg"], "");
    let mut new = repo(&env, "newpkg");
    // On main, the photometry code moved from pkg into newpkg.
    let moved_path = move_photometry_here(&mut new);
    let fix = new
        .fix_on_main(
            "DM-600",
            &[(moved_path, 10, "clip the flux at zero", "Clip the flux")],
        )
        .unwrap();
    let other = new
        .fix_on_main(
            "DM-601",
            &[(moved_path, 20, "a different fix", "Round the flux")],
        )
        .unwrap();
    new.finish().unwrap();
    let mut old = repo(&env, "pkg");
    let mut manual = None;
    let mut unrelated = None;
    old.on_release_branch("DM-600-v23", |r, br| {
        manual = Some(r.edits(
            br,
            "Clip the flux (backport by hand: the code lives here on v23)",
            &[(CORE, 10, "clip the flux at zero")],
        )?);
        Ok(())
    })
    .unwrap();
    old.on_release_branch("DM-601-v23", |r, br| {
        unrelated = Some(r.edits(br, "Pin numpy for v23", &[(IO, 3, "numpy<2")])?);
        Ok(())
    })
    .unwrap();
    old.b
        .tag(
            "23.0.1",
            portcullis_git::campaign::RELEASE,
            "Version 23.0.1 release from manifest b6065",
        )
        .unwrap();
    old.finish().unwrap();
    let manual = manual.unwrap().to_string();
    tickets(&env, &[("DM-600", "approved"), ("DM-601", "approved")]);

    let (_, v) = verify(&env, &[]);
    // In newpkg, its main-side commit landed in pkg.
    let l = landing(&v, "DM-600", "newpkg");
    assert_eq!(l["status"], "landed", "{l}");
    assert_eq!(l["how"], "modified", "{l}");
    assert_eq!(l["landed"][0]["main_commit"], fix[0].to_string(), "{l}");
    assert_eq!(l["landed"][0]["release_commit"], manual, "{l}");
    assert_eq!(l["landed"][0]["kind"], "changed_lines", "{l}");
    assert_eq!(l["landed"][0]["moved_to"], "pkg", "{l}");
    assert_eq!(l["first_tag"], "23.0.1", "{l}");
    assert!(l["missing"].as_array().unwrap().is_empty(), "{l}");
    // In pkg, a landing for newpkg's commit.
    let l = landing(&v, "DM-600", "pkg");
    assert_eq!(l["status"], "landed", "{l}");
    assert_eq!(l["landed"][0]["main_commit"], fix[0].to_string(), "{l}");
    assert_eq!(l["landed"][0]["release_commit"], manual, "{l}");
    assert_eq!(l["landed"][0]["moved_from"], "newpkg", "{l}");
    assert_eq!(l["first_tag"], "23.0.1", "{l}");
    assert_eq!(ticket(&v, "DM-600")["status"], "landed");
    assert!(!has_drift(&v, "approved_not_landed", "newpkg", "DM-600"));
    // A release-only commit of the same ticket that changes something else lands nothing.
    let l = landing(&v, "DM-601", "newpkg");
    assert_eq!(l["status"], "missing", "{l}");
    assert_eq!(l["missing"][0], other[0].to_string(), "{l}");
    let l = landing(&v, "DM-601", "pkg");
    assert_eq!(l["status"], "release_only", "{l}");
    assert_eq!(
        l["release_commits"][0],
        unrelated.unwrap().to_string(),
        "{l}"
    );
    assert!(has_drift(&v, "approved_not_landed", "newpkg", "DM-601"));

    // A warm run reads the moves remembered under the scans' keys (no diff is read again),
    // with the same landings.
    let (_, warm) = verify(&env, &[]);
    assert_eq!(
        landing(&warm, "DM-600", "newpkg"),
        landing(&v, "DM-600", "newpkg")
    );
    assert_eq!(
        landing(&warm, "DM-600", "pkg"),
        landing(&v, "DM-600", "pkg")
    );
}

/// Issue 20 (speed): the moves between repositories are remembered under the keys of the scans
/// they came from. What a warm run reports is what was remembered (spoiled here, the landing
/// goes); once a scan's key moves (a new commit), they are found again.
#[test]
fn the_moves_are_remembered_under_the_keys_of_their_scans() {
    let env = workspace(&["pkg", "newpkg"], "");
    env.keep_sqlite(); // It rewrites the git caches, which live in the ledger's file.
    let mut new = repo(&env, "newpkg");
    let moved_path = move_photometry_here(&mut new);
    new.fix_on_main(
        "DM-600",
        &[(moved_path, 10, "clip the flux at zero", "Clip the flux")],
    )
    .unwrap();
    new.finish().unwrap();
    let mut old = repo(&env, "pkg");
    old.on_release_branch("DM-600-v23", |r, br| {
        r.edits(
            br,
            "Clip the flux (backport by hand: the code lives here on v23)",
            &[(CORE, 10, "clip the flux at zero")],
        )?;
        Ok(())
    })
    .unwrap();
    old.finish().unwrap();
    tickets(&env, &[("DM-600", "approved")]);

    let (_, cold) = verify(&env, &[]);
    assert_eq!(landing(&cold, "DM-600", "newpkg")["status"], "landed");
    env.sql("UPDATE git_scans SET scan = '[]' WHERE repo = '*moves*'");
    let (_, spoiled) = verify(&env, &[]);
    assert_eq!(landing(&spoiled, "DM-600", "newpkg")["status"], "missing");
    // A new main-side commit in newpkg moves its scan's key: the moves are read again.
    new.fix_on_main("DM-602", &[(moved_path, 30, "unrelated", "Tidy")])
        .unwrap();
    new.finish().unwrap();
    let (_, fresh) = verify(&env, &[]);
    assert_eq!(landing(&fresh, "DM-600", "newpkg")["status"], "landed");
}

/// Issue 20: `verify`'s text names the landings that are not a plain match (by content, not
/// needed, unchecked) in a table of their own that reads at 80 columns.
#[test]
fn not_needed_content_and_unchecked_rows_read_at_80_columns() {
    let env = workspace(&["pkg"], "");
    let path = env.path().join("policy.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("\n[verify]\nignore_paths = [\"doc/changes/**\"]\n");
    std::fs::write(&path, text).unwrap();
    let mut r = repo(&env, "pkg");
    let main = portcullis_git::campaign::MAIN;
    // A fix and its news fragment; the fix alone is backported.
    r.b.branch("tickets/DM-700", main).unwrap();
    let code = r
        .edit("tickets/DM-700", "Fix the reader", IO, 17, "fixed")
        .unwrap();
    let news =
        r.b.write(
            "tickets/DM-700",
            "Add a news fragment",
            &[("doc/changes/DM-700.bugfix.md", "Fixed the reader.\n")],
        )
        .unwrap();
    r.merge_pr(main, "tickets/DM-700").unwrap();
    r.backport("DM-700-v23", &[code]).unwrap();
    // A fix backported by hand with an adaptation: found by content.
    let by_hand = r
        .fix_on_main(
            "DM-701",
            &[(CORE, 8, "clip the flux at zero", "Clip the flux")],
        )
        .unwrap();
    r.on_release_branch("DM-701-v23", |r, br| {
        r.edits(
            br,
            "Backport the clipping by hand",
            &[
                (CORE, 8, "clip the flux at zero"),
                (CORE, 20, "v23 keeps the legacy default"),
            ],
        )?;
        Ok(())
    })
    .unwrap();
    // An edited backport whose blob is gone: unchecked.
    r.fix_on_main("DM-702", &[(IO, 6, "fixed for main", "Improve timeouts")])
        .unwrap();
    let mut edited = None;
    r.on_release_branch("DM-702-v23", |r, br| {
        edited = Some(r.edit(br, "Improve timeouts", IO, 7, "fixed for v23")?);
        Ok(())
    })
    .unwrap();
    r.finish().unwrap();
    let edited = edited.unwrap();
    let blob = {
        let repo = r.b.repo();
        let tree = repo.find_commit(edited).unwrap().tree().unwrap();
        tree.get_path(std::path::Path::new(IO)).unwrap().id()
    };
    portcullis_testkit::gitrepo::remove_loose_object(r.b.path(), blob).unwrap();
    tickets(
        &env,
        &[
            ("DM-700", "approved"),
            ("DM-701", "approved"),
            ("DM-702", "approved"),
        ],
    );
    let (_, v) = verify(&env, &[]);
    assert_eq!(landing(&v, "DM-700", "pkg")["status"], "landed");
    assert_eq!(landing(&v, "DM-701", "pkg")["landed"][0]["kind"], "content");
    assert_eq!(landing(&v, "DM-702", "pkg")["status"], "unverifiable");

    let run = env.run_env(&["verify"], &[("COLUMNS", "80")]);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with("EVIDENCE TO READ (3)"))
        .unwrap_or_else(|| panic!("no evidence table:\n{}", run.stdout));
    let table = &lines[start..start + 5];
    for l in table {
        assert!(l.chars().count() <= 80, "wider than 80 columns: {l:?}");
    }
    let row = |key: &str| {
        *table
            .iter()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("no {key} row:\n{}", table.join("\n")))
    };
    let short = |c: git2::Oid| c.to_string()[..10].to_string();
    let r = row("DM-700");
    assert!(
        r.contains(&short(news)) && r.contains("not needed") && r.contains("only doc/changes/**"),
        "{r}"
    );
    let r = row("DM-701");
    assert!(
        r.contains(&short(by_hand[0])) && r.contains("content 0.7"),
        "{r}"
    );
    let r = row("DM-702");
    assert!(
        r.contains(&short(edited)) && r.contains("unchecked") && r.contains("missing"),
        "{r}"
    );
}

/// Issue 20 ("Done when"): the demo shows one landing whose news fragment needs no backport
/// and one backport made by hand, found by content.
#[test]
fn the_demo_shows_a_not_needed_and_a_content_landing() {
    let env = TestEnv::new();
    let run = env.run(&["demo", "--dir", "demo", "--no-triage"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("EVIDENCE TO READ (2)"),
        "{}",
        run.stdout
    );
    let run = env.run(&[
        "--config",
        "demo/portcullis.toml",
        "verify",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let repos: Vec<&serde_json::Value> = v["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["repos"].as_array().unwrap())
        .collect();
    let not_needed: Vec<_> = repos
        .iter()
        .filter(|r| r.get("not_needed").is_some())
        .collect();
    assert_eq!(not_needed.len(), 1, "{not_needed:?}");
    assert_eq!(not_needed[0]["status"], "landed");
    assert_eq!(not_needed[0]["not_needed"][0]["rule"], "doc/changes/**");
    let content: Vec<_> = repos
        .iter()
        .filter(|r| {
            r["landed"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l["kind"] == "content")
        })
        .collect();
    assert_eq!(content.len(), 1, "{content:?}");
    assert_eq!(content[0]["status"], "landed");
}

/// Issue 20: a carrier squash. A release-only commit of ticket C carries tickets X and Y, their
/// changes squashed into one commit whose message names neither: X and Y land through C's
/// commit by content, and C's own commit is release-only (it has no main-side change).
#[test]
fn a_carrier_squash_without_mentions_lands_what_it_carries() {
    let env = workspace(&["pkg"], "");
    let mut r = repo(&env, "pkg");
    let x = r
        .fix_on_main(
            "DM-801",
            &[(CORE, 8, "clip the flux at zero", "Clip the flux")],
        )
        .unwrap();
    let y = r
        .fix_on_main(
            "DM-802",
            &[(IO, 9, "retry the header read", "Retry the header")],
        )
        .unwrap();
    let mut carrier = None;
    r.on_release_branch("DM-803-v23", |r, br| {
        carrier = Some(r.edits(
            br,
            "Bring the photometry fixes to v23",
            &[
                (CORE, 8, "clip the flux at zero"),
                (IO, 9, "retry the header read"),
            ],
        )?);
        Ok(())
    })
    .unwrap();
    r.finish().unwrap();
    let carrier = carrier.unwrap().to_string();
    tickets(
        &env,
        &[
            ("DM-801", "approved"),
            ("DM-802", "approved"),
            ("DM-803", "approved"),
        ],
    );
    let (run, v) = verify(&env, &[]);
    for (key, fix) in [("DM-801", x[0]), ("DM-802", y[0])] {
        let l = landing(&v, key, "pkg");
        assert_eq!(l["status"], "landed", "{key}: {l}");
        assert_eq!(l["landed"][0]["main_commit"], fix.to_string(), "{l}");
        assert_eq!(l["landed"][0]["kind"], "content", "{l}");
        assert_eq!(l["landed"][0]["release_commit"], carrier, "{l}");
        assert_eq!(ticket(&v, key)["status"], "landed");
    }
    let l = landing(&v, "DM-803", "pkg");
    assert_eq!(l["status"], "release_only", "{l}");
    assert_eq!(l["release_commits"][0], carrier, "{l}");
    assert!(!has_drift(&v, "approved_not_landed", "pkg", "DM-801"));
    assert!(!has_drift(&v, "approved_not_landed", "pkg", "DM-802"));
    assert_eq!(run.code, 0, "{}", v["drift"]);
}
