//! `backports --dry-run`: every approved ticket not landed everywhere, tried in memory from one
//! scan, per repository clean, conflict (with the commits it needs first) or nothing to do;
//! nothing written or recorded.

use serde_json::Value;

use crate::backport::{refs, repo_path};
use crate::verify::{repo, tickets, workspace, CORE, IO};

/// DM-300 conflicts (it needs DM-200, only requested), DM-400 picks cleanly, DM-500's branch
/// holds its pick already.
#[test]
fn a_dry_run_of_every_approval_shows_clean_conflict_and_nothing_to_do_and_writes_nothing() {
    let env = workspace(&["pkg"], "");
    let mut pkg = repo(&env, "pkg");
    let dep = pkg
        .fix_on_main("DM-200", &[(CORE, 10, "rewritten 10", "Rewrite the scale")])
        .unwrap();
    pkg.fix_on_main(
        "DM-300",
        &[(CORE, 10, "rewritten 10, fixed", "Fix the rewritten scale")],
    )
    .unwrap();
    pkg.fix_on_main("DM-400", &[(CORE, 40, "fixed 40", "Tidy the loop")])
        .unwrap();
    pkg.fix_on_main("DM-500", &[(IO, 30, "io 30", "Close early")])
        .unwrap();
    pkg.finish().unwrap();
    tickets(
        &env,
        &[
            ("DM-200", "requested"),
            ("DM-300", "approved"),
            ("DM-400", "approved"),
            ("DM-500", "approved"),
        ],
    );
    let run = env.run(&["backport", "DM-500"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);

    let before = env.ledger_fingerprint();
    let refs_before = refs(&repo_path(&env, "pkg"));
    let run = env.run(&["backports", "--dry-run", "--format", "json"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["line"], "v23");
    let keys: Vec<&str> = v["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["DM-300", "DM-400", "DM-500"], "{v}");
    let at = |i: usize| &v["tickets"][i]["repos"][0];
    assert_eq!(at(0)["result"], "conflict", "{v}");
    assert_eq!(at(0)["files"][0], CORE, "{v}");
    assert_eq!(at(0)["dependencies"][0]["sha"], dep[0].to_string(), "{v}");
    assert_eq!(at(0)["dependencies"][0]["ticket"], "DM-200", "{v}");
    assert_eq!(at(1)["result"], "clean", "{v}");
    assert_eq!(at(1)["picks"], 1, "{v}");
    assert_eq!(at(2)["result"], "nothing_to_do", "{v}");
    assert!(
        at(2)["reason"]
            .as_str()
            .unwrap()
            .contains("already holds every pick"),
        "{v}"
    );

    let text = env.run(&["backports", "--dry-run"]);
    assert_eq!(text.code, 0, "{}{}", text.stdout, text.stderr);
    let line = |key: &str| {
        text.stdout
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("no {key} in {}", text.stdout))
            .to_string()
    };
    let short = &dep[0].to_string()[..10];
    assert!(line("DM-300").contains("conflict"), "{}", text.stdout);
    assert!(
        line("DM-300").contains(&format!("needs first {short} (DM-200)")),
        "{}",
        text.stdout
    );
    assert!(line("DM-400").contains("clean (1 pick)"), "{}", text.stdout);
    assert!(line("DM-500").contains("nothing to do"), "{}", text.stdout);

    // Nothing written, nothing recorded.
    assert_eq!(env.ledger_fingerprint(), before);
    assert_eq!(refs(&repo_path(&env, "pkg")), refs_before);
    assert!(
        !repo_path(&env, "pkg")
            .join(".git")
            .join("worktrees")
            .exists(),
        "no conflict worktree prepared"
    );
}
