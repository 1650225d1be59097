//! Issue 17, stage 2: what a fresh workspace learns from elsewhere. On GitHub, the issues whose
//! comments carry decision records (found by the issue search, labels or not); from git, the
//! releases cut on another machine.

use portcullis_testkit::github_server::GithubServer;

use crate::github::{campaign, config, run, sync, workspace};

/// A rejection removes the request label, so only the search for records can find the issue:
/// a workspace that has never synced sees it rejected, with its reason, after its first sync.
#[test]
fn issue_17_a_fresh_workspace_finds_a_rejected_github_issue_by_its_record() {
    let server = GithubServer::start(config(), campaign(), 0).unwrap();
    let writers = "writers = [\"portcullis-bot\"]\n";
    let a = workspace(&server, writers);
    sync(&a, &[]);
    a.run(&[
        "decide",
        "reject",
        "daf_butler#1",
        "--as",
        "mlindqvist",
        "--note",
        "too risky for a patch release",
    ])
    .ok();
    let p = run(&a, &["push"], &[]);
    assert_eq!(p.code, 0, "{}\n{}", p.stdout, p.stderr);

    // Without trusted writers there is no search: the label is gone, so is the issue.
    let blind = workspace(&server, "");
    sync(&blind, &[]);
    let st = blind.run(&["status", "--format", "json"]);
    st.ok();
    assert!(!st.stdout.contains("daf_butler#1\""), "{}", st.stdout);
    assert!(st.stdout.contains("daf_butler#2\""), "{}", st.stdout);

    let fresh = workspace(&server, writers);
    let r = sync(&fresh, &[]);
    assert_eq!(r["records_applied"], 1, "{r}");
    let h = fresh.run(&["history", "daf_butler#1", "--format", "json"]);
    h.ok();
    let v: serde_json::Value = serde_json::from_str(&h.stdout).unwrap();
    let last = v["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|e| e["kind"] == "decision")
        .unwrap_or_else(|| panic!("{v}"))
        .clone();
    assert_eq!(last["effects"][0], "v23: requested → rejected", "{last}");
    assert_eq!(last["note"], "too risky for a patch release", "{last}");
    // The search went over TCP, as GitHub's API serves it.
    let searched = server
        .requests()
        .iter()
        .filter(|r| r.path_and_query.starts_with("/search/issues"))
        .count();
    assert!(searched >= 2, "{searched}");
}
