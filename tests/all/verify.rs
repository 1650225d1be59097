//! `portcullis verify` on real repositories built in temporary directories: one scenario per
//! case of `../shared/docs/real-world-backports.md`, incremental equals cold, and snapshots.

use portcullis_git::campaign::{CampaignRepo, FILES, MAIN, RELEASE};
use portcullis_testkit::gitrepo::{make_shallow, remove_loose_object, Change};
use serde_json::Value;

use crate::harness::{ExportBuilder, Run, TestEnv};

pub(crate) const CORE: &str = FILES[0];
pub(crate) const IO: &str = FILES[1];

/// A workspace with the v23 policy whose repositories are `repos` under `repos/`.
pub fn workspace(repos: &[&str], extra_repo_toml: &str) -> TestEnv {
    let env = TestEnv::with_workspace("v23");
    let policy = std::fs::read_to_string(env.path().join("policy.toml")).unwrap();
    let head = policy.split("[[repositories]]").next().unwrap().to_string();
    let mut text = head;
    for r in repos {
        text.push_str(&format!(
            "[[repositories]]\nname = \"{r}\"\npath = \"repos/{r}\"\nmain_branch = \"main\"\n"
        ));
        if !extra_repo_toml.is_empty() && extra_repo_toml.starts_with(&format!("{r}:")) {
            text.push_str(&extra_repo_toml[r.len() + 1..]);
            text.push('\n');
        }
        text.push('\n');
    }
    text.push_str("[rules]\nblocking = [\"done_without_approval\"]\n");
    std::fs::write(env.path().join("policy.toml"), text).unwrap();
    env
}

pub fn repo(env: &TestEnv, name: &str) -> CampaignRepo {
    CampaignRepo::new(&env.path().join("repos").join(name)).unwrap()
}

/// Put tickets in the ledger: each `(key, state)` with state `requested`, `approved` or `done`.
pub fn tickets(env: &TestEnv, list: &[(&str, &str)]) {
    let mut x = ExportBuilder::new();
    for (key, state) in list {
        let mut changes = vec![("2022-01-04T10:00:00.000-0700", "dev", "backport-v23")];
        if *state == "approved" || *state == "done" {
            changes.push((
                "2022-01-11T10:00:00.000-0700",
                "mlindqvist",
                "backport-v23 backport-approved",
            ));
        }
        if *state == "done" {
            changes.push((
                "2022-01-20T10:00:00.000-0700",
                "dev",
                "backport-v23 backport-approved backport-done",
            ));
        }
        x = x.ticket(key, &format!("Fix for {key}"), &changes);
    }
    let f = env.write("tickets.json", &x.build());
    env.run(&["sync", "--from-file", f.to_str().unwrap()]).ok();
}

pub(crate) fn verify(env: &TestEnv, extra: &[&str]) -> (Run, Value) {
    let mut args = vec!["verify", "--format", "json"];
    args.extend_from_slice(extra);
    let run = env.run(&args);
    assert!(
        run.code == 0 || run.code == 1,
        "verify failed: {}\n{}",
        run.stderr,
        run.stdout
    );
    let v: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", run.stdout));
    (run, v)
}

pub(crate) fn ticket<'a>(v: &'a Value, key: &str) -> &'a Value {
    v["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == key)
        .unwrap_or_else(|| panic!("{key} not in {}", v["tickets"]))
}

pub(crate) fn landing<'a>(v: &'a Value, key: &str, repo: &str) -> &'a Value {
    ticket(v, key)["repos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["repo"] == repo)
        .unwrap_or_else(|| panic!("{key} has no landing in {repo}: {}", ticket(v, key)))
}

pub(crate) fn release_commit<'a>(v: &'a Value, repo: &str, sha: git2::Oid) -> &'a Value {
    let r = v["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["repo"] == repo)
        .unwrap();
    r["release_commits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["sha"] == sha.to_string())
        .unwrap_or_else(|| panic!("{sha} not among the release commits of {repo}"))
}

pub(crate) fn drift_kinds(v: &Value) -> Vec<(String, String, String)> {
    v["drift"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap().to_string(),
                d["repo"].as_str().unwrap_or("-").to_string(),
                d["ticket"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect()
}

pub(crate) fn has_drift(v: &Value, kind: &str, repo: &str, ticket: &str) -> bool {
    drift_kinds(v)
        .iter()
        .any(|(k, r, t)| k == kind && r == repo && t == ticket)
}

#[test]
fn clean_pick_lands_exactly_with_its_ticket_and_tag() {
    let env = workspace(&["pkg"], "");
    let mut r = repo(&env, "pkg");
    let fix = r
        .fix_on_main(
            "DM-100",
            &[
                (CORE, 10, "fixed line 10", "Fix the flux scale"),
                (IO, 12, "fixed line 12", "Retry reads"),
            ],
        )
        .unwrap();
    let picked = r.backport("DM-100-v23", &fix).unwrap();
    r.b.tag(
        "23.0.1",
        RELEASE,
        "Version 23.0.1 release from manifest b6065",
    )
    .unwrap();
    r.finish().unwrap();
    tickets(&env, &[("DM-100", "approved")]);

    let (run, v) = verify(&env, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let c = release_commit(&v, "pkg", picked[0]);
    assert_eq!(c["ticket"], "DM-100");
    assert_eq!(c["match"]["kind"], "patch_id");
    assert_eq!(c["match"]["main_commit"], fix[0].to_string());
    assert_eq!(c["direction"], "backport");
    assert_eq!(c["first_tag"], "23.0.1");
    let l = landing(&v, "DM-100", "pkg");
    assert_eq!(l["status"], "landed");
    assert_eq!(l["how"], "exact");
    assert_eq!(l["first_tag"], "23.0.1");
    assert_eq!(ticket(&v, "DM-100")["status"], "landed");
    assert!(v["drift"].as_array().unwrap().is_empty(), "{}", v["drift"]);
    // The branch point is the rc1 commit.
    let bp = &v["repositories"][0]["branch_point"];
    assert_eq!(bp["tags"][0], "v23.0.0.rc1");
}

#[test]
fn trailer_names_the_main_commit_even_when_the_patch_differs() {
    let env = workspace(&["pkg"], "");
    let mut r = repo(&env, "pkg");
    let fix = r
        .fix_on_main("DM-101", &[(CORE, 10, "fixed", "Fix it")])
        .unwrap();
    let mut picked = None;
    r.on_release_branch("DM-101-v23", |r, br| {
        let msg = format!("Fix it for v23\n\n(cherry picked from commit {})", fix[0]);
        picked = Some(
            r.b.cherry_pick_with(br, fix[0], Some(&msg), &[Change::Write("extra.txt", "x\n")])
                .unwrap(),
        );
        Ok(())
    })
    .unwrap();
    r.finish().unwrap();
    tickets(&env, &[("DM-101", "approved")]);
    let (_, v) = verify(&env, &[]);
    let c = release_commit(&v, "pkg", picked.unwrap());
    assert_eq!(c["match"]["kind"], "trailer");
    assert_eq!(c["match"]["main_commit"], fix[0].to_string());
    assert_eq!(landing(&v, "DM-101", "pkg")["status"], "landed");
}

#[test]
fn edited_pick_is_modified_not_missing() {
    let env = workspace(&["pkg"], "");
    let mut r = repo(&env, "pkg");
    let fix = r
        .fix_on_main(
            "DM-102",
            &[(CORE, 10, "fixed for main", "Improve timeout handling")],
        )
        .unwrap();
    let mut edited = None;
    r.on_release_branch("DM-102-v23", |r, br| {
        // Adapted to the older code: a different change with the same subject.
        edited = Some(r.edit(br, "Improve timeout handling", CORE, 11, "fixed for v23")?);
        Ok(())
    })
    .unwrap();
    r.finish().unwrap();
    tickets(&env, &[("DM-102", "done")]);
    let (run, v) = verify(&env, &[]);
    assert_eq!(
        run.code, 0,
        "done and landed (modified) is not drift: {}",
        v["drift"]
    );
    let c = release_commit(&v, "pkg", edited.unwrap());
    assert_eq!(c["match"]["kind"], "subject");
    assert_eq!(c["match"]["main_commit"], fix[0].to_string());
    assert!(c["match"]["confidence"].as_f64().unwrap() < 0.9);
    let l = landing(&v, "DM-102", "pkg");
    assert_eq!(l["status"], "landed");
    assert_eq!(l["how"], "modified");
}

#[test]
fn same_changed_lines_with_different_context() {
    let env = workspace(&["pkg"], "");
    let mut r = repo(&env, "pkg");
    // Main changes a neighbouring line first (not backported), then the fix next to it.
    r.edit(MAIN, "Refactor nearby", CORE, 7, "refactored line 7")
        .unwrap();
    let fix = r
        .fix_on_main("DM-103", &[(CORE, 10, "fixed line 10", "Fix off-by-one")])
        .unwrap();
    let picked = r.backport("DM-103-v23", &fix).unwrap();
    r.finish().unwrap();
    tickets(&env, &[("DM-103", "approved")]);
    let (_, v) = verify(&env, &[]);
    let c = release_commit(&v, "pkg", picked[0]);
    assert_eq!(c["match"]["kind"], "changed_lines", "{c}");
    assert_eq!(landing(&v, "DM-103", "pkg")["how"], "modified");
}

#[test]
fn squashed_backport_matches_the_whole_ticket_merge() {
    let env = workspace(&["pkg"], "");
    let mut r = repo(&env, "pkg");
    let fix = r
        .fix_on_main(
            "DM-104",
            &[
                (CORE, 5, "part one", "Part one"),
                (CORE, 20, "part two", "Part two"),
                (IO, 7, "part three", "Part three"),
            ],
        )
        .unwrap();
    let mut squash = None;
    r.on_release_branch("DM-104-v23", |r, br| {
        squash = Some(r.edits(
            br,
            "DM-104: backport everything in one commit",
            &[
                (CORE, 5, "part one"),
                (CORE, 20, "part two"),
                (IO, 7, "part three"),
            ],
        )?);
        Ok(())
    })
    .unwrap();
    r.finish().unwrap();
    tickets(&env, &[("DM-104", "approved")]);
    let (_, v) = verify(&env, &[]);
    let c = release_commit(&v, "pkg", squash.unwrap());
    assert_eq!(c["match"]["kind"], "squash", "{c}");
    let l = landing(&v, "DM-104", "pkg");
    assert_eq!(l["status"], "landed", "{l}");
    assert_eq!(l["landed"].as_array().unwrap().len(), fix.len());
}

#[test]
fn release_only_pin_is_reported_and_needs_approval() {
    let env = workspace(&["pkg"], "");
    let mut r = repo(&env, "pkg");
    let mut pin = None;
    r.on_release_branch("DM-105-v23", |r, br| {
        pin = Some(r.b.write(
            br,
            "Force moto<3 for tests to pass",
            &[("requirements.txt", "moto<3\n")],
        )?);
        Ok(())
    })
    .unwrap();
    let mut unapproved = None;
    r.on_release_branch("DM-106-v23", |r, br| {
        unapproved = Some(r.b.write(br, "Pin numpy", &[("constraints.txt", "numpy<2\n")])?);
        Ok(())
    })
    .unwrap();
    r.finish().unwrap();
    tickets(&env, &[("DM-105", "approved")]);
    let (run, v) = verify(&env, &[]);
    let c = release_commit(&v, "pkg", pin.unwrap());
    assert!(c["match"].is_null());
    assert_eq!(landing(&v, "DM-105", "pkg")["status"], "release_only");
    // Issue 20: a ticket with no main-side change is on the branch, but only as release-only
    // commits (it used to read `landed`).
    assert_eq!(ticket(&v, "DM-105")["status"], "release_only");
    assert_eq!(
        v["summary"]["landed"], 2,
        "release-only counts as on the branch"
    );
    // DM-106 is on the branch but not in the ledger: blocking drift.
    assert!(
        has_drift(&v, "landed_not_approved", "pkg", "DM-106"),
        "{:?}",
        drift_kinds(&v)
    );
    assert_eq!(run.code, 1);
    assert_eq!(v["summary"]["release_only"], 2);
}

#[test]
fn manual_backport_of_code_that_moved_to_another_repository() {
    // On main the code moved from `old` to `new`; the fix was made in `new` and backported by
    // hand into `old`, where the code still lives on the release branch.
    let run_with = |skip: bool| {
        let extra = if skip {
            "new:skip_tickets = [\"DM-107\"]"
        } else {
            ""
        };
        let env = workspace(&["old", "new"], extra);
        let mut old = repo(&env, "old");
        let mut new = repo(&env, "new");
        new.fix_on_main(
            "DM-107",
            &[(CORE, 3, "moved code, fixed", "Fix moved code")],
        )
        .unwrap();
        old.on_release_branch("DM-107-v23", |r, br| {
            r.edit(br, "Manual backport of DM-107", IO, 3, "fixed by hand")?;
            Ok(())
        })
        .unwrap();
        old.finish().unwrap();
        new.finish().unwrap();
        tickets(&env, &[("DM-107", "approved")]);
        let (_, v) = verify(&env, &[]);
        v
    };
    let v = run_with(false);
    assert_eq!(landing(&v, "DM-107", "old")["status"], "release_only");
    assert_eq!(landing(&v, "DM-107", "new")["status"], "missing");
    assert_eq!(ticket(&v, "DM-107")["status"], "partial");
    assert!(has_drift(&v, "approved_not_landed", "new", "DM-107"));
    // The policy can say the new repository need not have it.
    let v = run_with(true);
    assert_eq!(landing(&v, "DM-107", "new")["required"], false);
    assert_eq!(ticket(&v, "DM-107")["status"], "landed");
    assert!(!has_drift(&v, "approved_not_landed", "new", "DM-107"));
}

#[test]
fn branch_merged_into_both_is_the_same_commit_and_the_branch_point_is_right() {
    let env = workspace(&["pkg"], "");
    let mut r = repo(&env, "pkg");
    let rc1 = r.b.tip(RELEASE).unwrap();
    r.edit(MAIN, "Unrelated work on main", IO, 20, "main only")
        .unwrap();
    // A ticket branch made from the release branch, merged into both.
    r.b.branch("tickets/DM-108", RELEASE).unwrap();
    let fix = r
        .edit("tickets/DM-108", "Fix both", CORE, 15, "fixed in both")
        .unwrap();
    r.b.merge(
        RELEASE,
        "tickets/DM-108",
        "Merge branch 'tickets/DM-108' into v23.0.x",
    )
    .unwrap();
    r.b.merge(
        MAIN,
        "tickets/DM-108",
        "Merge pull request #7 from lsst/tickets/DM-108",
    )
    .unwrap();
    r.finish().unwrap();
    // The merge-base is now the fix itself, not the branch point.
    let mb =
        r.b.repo()
            .merge_base(r.b.tip(MAIN).unwrap(), r.b.tip(RELEASE).unwrap())
            .unwrap();
    assert_eq!(mb, fix);
    tickets(&env, &[("DM-108", "approved")]);
    let (_, v) = verify(&env, &[]);
    assert_eq!(v["repositories"][0]["branch_point"]["sha"], rc1.to_string());
    let c = release_commit(&v, "pkg", fix);
    assert_eq!(c["match"]["kind"], "same_commit");
    assert_eq!(c["ticket"], "DM-108");
    assert_eq!(landing(&v, "DM-108", "pkg")["status"], "landed");
}

#[test]
fn forward_port_is_recognised_by_direction() {
    let env = workspace(&["pkg"], "");
    let mut r = repo(&env, "pkg");
    let mut notes = None;
    r.on_release_branch("DM-109-v23", |r, br| {
        notes = Some(r.b.write(
            br,
            "Add release notes for 23.0.1",
            &[("doc/notes.rst", "23.0.1\n")],
        )?);
        Ok(())
    })
    .unwrap();
    r.b.set_time(r.b.time() + 600);
    r.b.branch("tickets/DM-109-forward-port", MAIN).unwrap();
    r.b.cherry_pick("tickets/DM-109-forward-port", notes.unwrap(), None)
        .unwrap();
    r.merge_pr(MAIN, "tickets/DM-109-forward-port").unwrap();
    r.finish().unwrap();
    tickets(&env, &[("DM-109", "approved")]);
    let (_, v) = verify(&env, &[]);
    let c = release_commit(&v, "pkg", notes.unwrap());
    assert_eq!(c["match"]["kind"], "patch_id");
    assert_eq!(c["direction"], "forward_port");
    assert_eq!(landing(&v, "DM-109", "pkg")["status"], "landed");
}

#[test]
fn direct_push_without_ticket_is_drift_unless_it_matches_an_approved_fix() {
    let env = workspace(&["pkg"], "");
    let mut r = repo(&env, "pkg");
    let fix = r
        .fix_on_main("DM-110", &[(CORE, 25, "fixed", "Fix config")])
        .unwrap();
    // A direct push of the approved fix (no merge, no key in the message).
    let pushed = r.b.cherry_pick(RELEASE, fix[0], None).unwrap();
    // And a direct push of something nobody approved.
    let stray = r.edit(RELEASE, "Tweak default", IO, 25, "tweaked").unwrap();
    r.finish().unwrap();
    tickets(&env, &[("DM-110", "approved")]);
    let (run, v) = verify(&env, &[]);
    let c = release_commit(&v, "pkg", pushed);
    assert!(c["ticket"].is_null() && c["via"].is_null());
    assert_eq!(c["match"]["kind"], "patch_id");
    assert_eq!(landing(&v, "DM-110", "pkg")["status"], "landed");
    let stray_drift: Vec<&Value> = v["drift"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"] == "landed_not_approved")
        .collect();
    assert_eq!(stray_drift.len(), 1, "{}", v["drift"]);
    assert_eq!(stray_drift[0]["commits"][0], stray.to_string());
    assert!(stray_drift[0]["ticket"].is_null());
    assert_eq!(run.code, 1);
}

#[test]
fn revert_on_the_release_branch_is_drift() {
    let env = workspace(&["pkg"], "");
    let mut r = repo(&env, "pkg");
    let fix = r
        .fix_on_main("DM-111", &[(CORE, 12, "fixed", "Fix the thing")])
        .unwrap();
    let picked = r.backport("DM-111-v23", &fix).unwrap();
    let revert = r.b.revert(RELEASE, picked[0]).unwrap();
    r.finish().unwrap();
    tickets(&env, &[("DM-111", "done")]);
    let (run, v) = verify(&env, &[]);
    let c = release_commit(&v, "pkg", picked[0]);
    assert_eq!(c["reverted_by"], revert.to_string());
    assert_eq!(
        release_commit(&v, "pkg", revert)["reverts"],
        picked[0].to_string()
    );
    assert_eq!(landing(&v, "DM-111", "pkg")["status"], "reverted");
    assert_eq!(ticket(&v, "DM-111")["status"], "reverted");
    assert!(
        has_drift(&v, "reverted", "pkg", "DM-111"),
        "{:?}",
        drift_kinds(&v)
    );
    assert!(
        has_drift(&v, "done_not_landed", "pkg", "DM-111")
            || has_drift(&v, "reverted", "pkg", "DM-111")
    );
    assert_eq!(run.code, 1, "a revert blocks by default");
}

#[test]
fn ticket_under_a_carrier_ticket() {
    let env = workspace(&["pkg"], "");
    let mut r = repo(&env, "pkg");
    let fix = r
        .fix_on_main("DM-112", &[(CORE, 18, "fixed long ago", "Fix flux")])
        .unwrap();
    let mut carried = None;
    r.on_release_branch("DM-113-v23", |r, br| {
        carried = Some(r.b.cherry_pick(br, fix[0], Some("Backport DM-112: Fix flux"))?);
        Ok(())
    })
    .unwrap();
    r.finish().unwrap();
    // Only the carrier ticket went through change control.
    tickets(&env, &[("DM-113", "approved")]);
    let (run, v) = verify(&env, &[]);
    let c = release_commit(&v, "pkg", carried.unwrap());
    assert_eq!(c["ticket"], "DM-113");
    assert_eq!(c["mentions"][0], "DM-112");
    assert_eq!(landing(&v, "DM-113", "pkg")["status"], "landed");
    assert_eq!(
        landing(&v, "DM-113", "pkg")["main_commits"][0],
        fix[0].to_string()
    );
    assert!(
        !drift_kinds(&v)
            .iter()
            .any(|(k, _, _)| k == "landed_not_approved"),
        "{}",
        v["drift"]
    );
    assert_eq!(run.code, 0);
}

#[test]
fn missing_release_branch_keeps_the_request_pending() {
    let env = workspace(&["pkg", "late"], "");
    let mut pkg = repo(&env, "pkg");
    let mut late = CampaignRepo::main_only(&env.path().join("repos/late")).unwrap();
    let a = pkg
        .fix_on_main("DM-114", &[(CORE, 8, "fixed", "Fix a")])
        .unwrap();
    late.fix_on_main("DM-114", &[(CORE, 8, "fixed", "Fix a")])
        .unwrap();
    pkg.backport("DM-114-v23", &a).unwrap();
    pkg.finish().unwrap();
    late.finish().unwrap();
    tickets(&env, &[("DM-114", "approved")]);
    let (run, v) = verify(&env, &[]);
    assert_eq!(landing(&v, "DM-114", "late")["status"], "branch_missing");
    assert_eq!(ticket(&v, "DM-114")["status"], "pending");
    let d = v["drift"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == "branch_missing")
        .unwrap();
    assert_eq!(d["repo"], "late");
    let msg = d["message"].as_str().unwrap();
    assert!(
        msg.contains("does not exist yet") && msg.contains("v23.0.0.rc1") && msg.contains("DM-114"),
        "{msg}"
    );
    assert_eq!(run.code, 0, "a missing branch does not block by default");
}

#[test]
fn shallow_clone_and_missing_objects_say_what_could_not_be_checked() {
    let env = workspace(&["pkg", "shallow", "broken", "absent"], "");
    let mut pkg = repo(&env, "pkg");
    pkg.fix_on_main("DM-115", &[(CORE, 8, "fixed", "Fix a")])
        .unwrap();
    pkg.finish().unwrap();
    let tip = pkg.b.tip(MAIN).unwrap();
    make_shallow(pkg.b.path(), &env.path().join("repos/shallow"), tip).unwrap();
    let mut broken = repo(&env, "broken");
    let fix = broken
        .fix_on_main("DM-116", &[(CORE, 8, "fixed", "Fix b")])
        .unwrap();
    broken.backport("DM-116-v23", &fix).unwrap();
    broken.finish().unwrap();
    let picked_tree = broken
        .b
        .repo()
        .find_commit(broken.b.tip(RELEASE).unwrap())
        .unwrap()
        .tree_id();
    remove_loose_object(broken.b.path(), picked_tree).unwrap();
    tickets(&env, &[("DM-115", "approved")]);
    let (run, v) = verify(&env, &[]);
    assert_eq!(run.code, 1, "unverifiable blocks by default");
    let msg = |repo: &str| -> String {
        v["drift"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["kind"] == "unverifiable" && d["repo"] == repo)
            .unwrap_or_else(|| panic!("no unverifiable drift for {repo}: {}", v["drift"]))
            ["message"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(msg("shallow").contains("shallow clone") && msg("shallow").contains("--unshallow"));
    assert!(
        msg("broken").contains("missing objects"),
        "{}",
        msg("broken")
    );
    assert!(
        msg("absent").contains("no repository at repos/absent"),
        "{}",
        msg("absent")
    );
    // The good repository was still checked.
    assert_eq!(landing(&v, "DM-115", "pkg")["status"], "missing");
}

#[test]
fn approved_but_not_landed_is_reported_and_not_blocking_by_default() {
    let env = workspace(&["pkg"], "");
    let mut r = repo(&env, "pkg");
    r.fix_on_main(
        "DM-117",
        &[(CORE, 8, "fixed", "Fix a"), (IO, 8, "fixed", "Fix b")],
    )
    .unwrap();
    r.finish().unwrap();
    tickets(&env, &[("DM-117", "approved"), ("DM-118", "approved")]);
    let (run, v) = verify(&env, &[]);
    assert_eq!(run.code, 0);
    assert_eq!(landing(&v, "DM-117", "pkg")["status"], "missing");
    assert_eq!(
        landing(&v, "DM-117", "pkg")["missing"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert!(has_drift(&v, "approved_not_landed", "pkg", "DM-117"));
    // No commit anywhere.
    assert_eq!(ticket(&v, "DM-118")["status"], "not_found");
    assert!(has_drift(&v, "approved_not_landed", "-", "DM-118"));
}

#[test]
fn landings_and_drift_are_recorded_once_and_cleared_when_fixed() {
    let env = workspace(&["pkg"], "");
    let mut r = repo(&env, "pkg");
    let fix = r
        .fix_on_main("DM-119", &[(CORE, 8, "fixed", "Fix a")])
        .unwrap();
    r.finish().unwrap();
    tickets(&env, &[("DM-119", "approved")]);
    let (_, v) = verify(&env, &[]);
    assert_eq!(v["recorded"]["drift_found"], 1);
    let (_, v) = verify(&env, &[]);
    assert_eq!(
        v["recorded"]["drift_found"], 0,
        "nothing new the second time"
    );
    assert_eq!(v["recorded"]["landings"], 0);
    // The backport lands: a landing event, and the drift is resolved.
    r.backport("DM-119-v23", &fix).unwrap();
    let (_, v) = verify(&env, &[]);
    assert_eq!(v["recorded"]["landings"], 1);
    assert_eq!(v["recorded"]["drift_cleared"], 1);
    let h = env.run(&["history", "DM-119"]);
    h.ok();
    assert!(
        h.stdout.contains("landed in pkg on v23.0.x (exact"),
        "{}",
        h.stdout
    );
    assert!(h.stdout.contains("drift resolved"), "{}", h.stdout);
    env.run(&["audit"]).ok();
}

/// The verification part of the JSON (what was recorded differs between runs).
fn verdict(v: &Value) -> Value {
    let mut v = v.clone();
    v.as_object_mut().unwrap().remove("recorded");
    v
}

#[test]
fn incremental_runs_equal_a_cold_run() {
    let env = workspace(&["pkg", "other"], "");
    env.keep_sqlite(); // It empties the git caches, which live in the ledger's file.
    let mut r = repo(&env, "pkg");
    let mut o = repo(&env, "other");
    let a = r
        .fix_on_main("DM-120", &[(CORE, 8, "fixed", "Fix a")])
        .unwrap();
    o.fix_on_main("DM-120", &[(CORE, 8, "fixed", "Fix a")])
        .unwrap();
    r.backport("DM-120-v23", &a).unwrap();
    tickets(&env, &[("DM-120", "approved"), ("DM-121", "approved")]);
    let (_, first) = verify(&env, &[]);
    // New commits on both branches, a new tag; then an incremental run.
    let b = r
        .fix_on_main("DM-121", &[(IO, 9, "fixed", "Fix b")])
        .unwrap();
    r.backport("DM-121-v23", &b).unwrap();
    r.b.tag("23.0.1", RELEASE, "Version 23.0.1").unwrap();
    let (_, warm) = verify(&env, &[]);
    assert_ne!(verdict(&first), verdict(&warm));
    let (_, again) = verify(&env, &[]);
    assert_eq!(verdict(&warm), verdict(&again), "memoised run differs");
    // Forget every cache: the cold result is the same.
    env.sql("DELETE FROM git_commits; DELETE FROM git_scans;");
    let (_, cold) = verify(&env, &[]);
    assert_eq!(verdict(&warm), verdict(&cold));
    assert_eq!(landing(&cold, "DM-121", "pkg")["first_tag"], "23.0.1");
}

/// Issue 20 (speed): since scanner version 9 the patch-ids are the scanner's own (read from
/// blob diffs); a fact cache written by an older scanner holds libgit2's. Those are computed
/// again, never compared with the new ones: a clean pick is still matched by patch-id.
#[test]
fn patch_ids_cached_by_an_older_scanner_are_computed_again() {
    let env = workspace(&["pkg"], "");
    env.keep_sqlite(); // It rewrites the git caches, which live in the ledger's file.
    let mut r = repo(&env, "pkg");
    let fix = r
        .fix_on_main(
            "DM-130",
            &[
                (CORE, 10, "fixed line 10", "Fix the flux scale"),
                (IO, 12, "fixed line 12", "Retry reads"),
            ],
        )
        .unwrap();
    let picked = r.backport("DM-130-v23", &fix).unwrap();
    r.finish().unwrap();
    tickets(&env, &[("DM-130", "approved")]);
    let (_, first) = verify(&env, &[]);
    assert_eq!(
        release_commit(&first, "pkg", picked[0])["match"]["kind"],
        "patch_id"
    );
    // As an older scanner left them: untagged patch-ids, each different, and no scan memo.
    env.sql(
        "UPDATE git_commits SET patch_id = lower(hex(randomblob(20))) WHERE patch_id IS NOT NULL;
         DELETE FROM git_scans;",
    );
    let (_, again) = verify(&env, &[]);
    assert_eq!(verdict(&first), verdict(&again));
    for (p, f) in picked.iter().zip(&fix) {
        let c = release_commit(&again, "pkg", *p);
        assert_eq!(c["match"]["kind"], "patch_id", "{c}");
        assert_eq!(c["match"]["main_commit"], f.to_string(), "{c}");
    }
}

/// Issue 20 (speed): with many release commits the patch-ids compared first are computed ahead
/// on two threads; every clean pick is still matched to its own fix by patch-id, and an edited
/// one by its changed lines.
#[test]
fn patch_ids_computed_ahead_match_as_the_search_does() {
    let env = workspace(&["pkg"], "");
    let mut r = repo(&env, "pkg");
    let mut picks = Vec::new();
    for i in 0..40u32 {
        let key = format!("DM-{}", 200 + i);
        let file = if i % 2 == 0 { CORE } else { IO };
        let fix = r
            .fix_on_main(
                &key,
                &[(
                    file,
                    5 + i as usize,
                    &format!("fix {i}"),
                    &format!("Fix {i}"),
                )],
            )
            .unwrap();
        picks.push((
            key,
            fix[0],
            r.backport(&format!("DM-{}-v23", 200 + i), &fix).unwrap()[0],
        ));
    }
    r.finish().unwrap();
    let keys: Vec<(&str, &str)> = picks
        .iter()
        .map(|(k, _, _)| (k.as_str(), "approved"))
        .collect();
    tickets(&env, &keys);
    let (_, v) = verify(&env, &[]);
    for (key, fix, pick) in &picks {
        let c = release_commit(&v, "pkg", *pick);
        assert_eq!(c["match"]["kind"], "patch_id", "{key}: {c}");
        assert_eq!(c["match"]["main_commit"], fix.to_string(), "{key}: {c}");
        assert_eq!(landing(&v, key, "pkg")["status"], "landed", "{key}");
    }
}

/// Issue 20 (speed): histories are read through the `.git` directory opened as a bare
/// repository; a clone whose `.git` is a file (a linked work tree, `git worktree add`) is
/// opened as it is, and verified the same.
#[test]
fn a_linked_work_tree_is_verified_like_its_repository() {
    let env = workspace(&["pkg"], "");
    let repos = env.path().join("repos");
    let mut r = CampaignRepo::new(&repos.join("origin")).unwrap();
    let fix = r
        .fix_on_main(
            "DM-140",
            &[(CORE, 10, "fixed line 10", "Fix the flux scale")],
        )
        .unwrap();
    let picked = r.backport("DM-140-v23", &fix).unwrap();
    r.finish().unwrap();
    crate::backport::git(
        &repos.join("origin"),
        &["worktree", "add", "--detach", "../pkg", "main"],
    );
    assert!(repos.join("pkg").join(".git").is_file());
    tickets(&env, &[("DM-140", "approved")]);
    let (run, v) = verify(&env, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let c = release_commit(&v, "pkg", picked[0]);
    assert_eq!(c["match"]["kind"], "patch_id", "{c}");
    assert_eq!(c["match"]["main_commit"], fix[0].to_string(), "{c}");
    assert_eq!(landing(&v, "DM-140", "pkg")["status"], "landed");
}

#[test]
fn repo_filter_and_unknown_names() {
    let env = workspace(&["pkg", "other"], "");
    repo(&env, "pkg").finish().unwrap();
    let run = env.run(&["verify", "--repo", "nope"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("unknown repository `nope`") && run.stderr.contains("pkg, other"),
        "{}",
        run.stderr
    );
    // `other` is absent, but only `pkg` is verified.
    let (run, v) = verify(&env, &["--repo", "pkg"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(v["repositories"].as_array().unwrap().len(), 1);
}

#[test]
fn fetch_failure_is_reported_and_the_clone_still_verified() {
    // `git fetch` runs as a subprocess with arguments; its failure is a problem, not an abort.
    let env = workspace(&["pkg"], "");
    let mut r = repo(&env, "pkg");
    r.finish().unwrap();
    let run = env.run(&["verify", "--fetch", "--format", "json"]);
    // No `origin` remote: the fetch fails, says so, and the local state is still verified.
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    let problems = v["repositories"][0]["problems"].to_string();
    assert!(
        problems.contains("git fetch") && problems.contains("verified what the clone has"),
        "{problems}"
    );
}

#[test]
fn json_and_markdown_snapshots_of_a_small_campaign() {
    let env = workspace(&["daf_butler", "ctrl_bps"], "");
    let mut r = repo(&env, "daf_butler");
    let mut late = CampaignRepo::main_only(&env.path().join("repos/ctrl_bps")).unwrap();
    let a = r
        .fix_on_main(
            "DM-33769",
            &[(CORE, 10, "retry", "Improve timeout and retry")],
        )
        .unwrap();
    let b = r
        .fix_on_main("DM-33800", &[(IO, 4, "fixed", "Fix reader")])
        .unwrap();
    late.fix_on_main("DM-33800", &[(IO, 4, "fixed", "Fix reader")])
        .unwrap();
    r.backport("DM-33769-v23", &a).unwrap();
    r.b.tag(
        "23.0.1",
        RELEASE,
        "Version 23.0.1 release from manifest b6065",
    )
    .unwrap();
    let picked = r.backport("DM-33800-v23", &b).unwrap();
    r.b.revert(RELEASE, picked[0]).unwrap();
    r.on_release_branch("DM-33900-v23", |r, br| {
        r.b.write(br, "Pin moto<3", &[("requirements.txt", "moto<3\n")])?;
        Ok(())
    })
    .unwrap();
    r.finish().unwrap();
    late.finish().unwrap();
    tickets(
        &env,
        &[
            ("DM-33769", "done"),
            ("DM-33800", "approved"),
            ("DM-33900", "requested"),
        ],
    );
    let (run, v) = verify(&env, &[]);
    assert_eq!(run.code, 1);
    insta::assert_json_snapshot!("verify_json", v);
    let md = env.run(&["verify", "--format", "md", "--commits"]);
    assert_eq!(md.code, 1);
    insta::assert_snapshot!("verify_md", md.stdout);
}

#[test]
fn drift_of_a_repository_that_becomes_unreadable_stays_open() {
    let env = workspace(&["pkg"], "");
    let mut r = repo(&env, "pkg");
    r.fix_on_main("DM-122", &[(CORE, 8, "fixed", "Fix a")])
        .unwrap();
    r.finish().unwrap();
    tickets(&env, &[("DM-122", "done")]);
    let (_, v) = verify(&env, &[]);
    assert!(has_drift(&v, "done_not_landed", "pkg", "DM-122"));
    // The clone goes away: that is reported, and the earlier drift is not called resolved.
    std::fs::rename(
        env.path().join("repos/pkg"),
        env.path().join("repos/pkg-moved"),
    )
    .unwrap();
    let (run, v) = verify(&env, &[]);
    assert_eq!(run.code, 1);
    assert!(has_drift(&v, "unverifiable", "pkg", "-"));
    assert_eq!(ticket(&v, "DM-122")["status"], "pending");
    assert_eq!(v["recorded"]["drift_cleared"], 0, "{}", v["recorded"]);
    std::fs::rename(
        env.path().join("repos/pkg-moved"),
        env.path().join("repos/pkg"),
    )
    .unwrap();
    let (_, v) = verify(&env, &[]);
    assert_eq!(
        v["recorded"]["drift_cleared"], 1,
        "only the unverifiable item clears"
    );
    assert!(has_drift(&v, "done_not_landed", "pkg", "DM-122"));
}

#[test]
fn merged_pull_requests_link_commits_without_ticket_names_to_their_ticket() {
    // A GitHub-style project: branches named anything, the ticket is the pull request's, known
    // to the ledger by a `commit.linked` event from the tracker sync.
    let env = workspace(&["pkg"], "");
    let mut r = repo(&env, "pkg");
    r.b.branch("fix-flux", MAIN).unwrap();
    let fix = r
        .edit("fix-flux", "Fix the flux scale", CORE, 10, "fixed line 10")
        .unwrap();
    let merge = r.merge_pr(MAIN, "fix-flux").unwrap();
    r.b.branch("pick-flux", RELEASE).unwrap();
    let picked = r.b.cherry_pick("pick-flux", fix, None).unwrap();
    let release_merge = r.merge_pr(RELEASE, "pick-flux").unwrap();
    r.finish().unwrap();
    tickets(&env, &[("DM-300", "approved")]);

    // Without the link: the fix lands with no ticket, so DM-300 is not found.
    let (_, v) = verify(&env, &[]);
    assert_ne!(ticket(&v, "DM-300")["status"], "landed", "{}", v["tickets"]);

    // The tracker records which commits the pull requests merged.
    let policy = portcullis_ops::workspace::load_policy(&env.path().join("policy.toml")).unwrap();
    let mut ledger = env.ledger();
    let link = |sha: String, commits: Vec<String>| portcullis_core::event::NewEvent {
        ticket: Some("DM-300".into()),
        line: None,
        kind: "commit.linked",
        source: "github".into(),
        actor: None,
        at: chrono::Utc::now(),
        meeting: None,
        note: None,
        payload: serde_json::json!({ "repo": "lsst/pkg", "sha": sha, "commits": commits }),
        dedup_key: Some(format!("link:{sha}")),
    };
    ledger
        .append_all(
            &policy,
            [
                link(merge.to_string(), vec![fix.to_string()]),
                link(release_merge.to_string(), vec![picked.to_string()]),
            ],
        )
        .unwrap();
    drop(ledger);
    let (_, v) = verify(&env, &[]);
    assert_eq!(ticket(&v, "DM-300")["status"], "landed", "{}", v["tickets"]);
    let c = release_commit(&v, "pkg", picked);
    assert_eq!(c["ticket"], "DM-300");
}
