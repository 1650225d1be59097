//! `portcullis verify` and ticket identity in any convention (issue 20, stage 2): ticket rules
//! with capture groups and a normal form, pull request numbers on main, the conventions of
//! backport bots, the `github-pr` preset, and the evidence of whole pull requests.

use portcullis_git::campaign::{CampaignRepo, MAIN, RELEASE};

use crate::harness::TestEnv;
use crate::verify::{landing, release_commit, repo, ticket, tickets, verify, workspace, CORE, IO};

/// Replace the policy's `ticket_key` line with `toml`.
fn set_ticket_key(env: &TestEnv, toml: &str) {
    let path = env.path().join("policy.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("ticket_key"))
        .expect("a ticket_key line")
        .to_string();
    std::fs::write(&path, text.replacen(&line, toml, 1)).unwrap();
}

/// A pull request merged on main from `branch` (no ticket in its name): one commit per edit.
/// Returns the commits (not the merge).
fn pull_request(
    r: &mut CampaignRepo,
    number: u32,
    branch: &str,
    edits: &[(&str, usize, &str, &str)],
) -> Vec<git2::Oid> {
    r.b.branch(branch, MAIN).unwrap();
    let mut out = Vec::new();
    for (file, line, text, subject) in edits {
        out.push(r.edit(branch, subject, file, *line, text).unwrap());
    }
    r.b.merge(
        MAIN,
        branch,
        &format!("Merge pull request #{number} from someone/{branch}"),
    )
    .unwrap();
    r.b.delete_branch(branch).unwrap();
    out
}

/// Pick `commits` onto a new release-side branch `branch` and merge it with `message`.
fn merged_picks(
    r: &mut CampaignRepo,
    branch: &str,
    commits: &[git2::Oid],
    message: &str,
) -> Vec<git2::Oid> {
    r.b.branch(branch, RELEASE).unwrap();
    let picks = commits
        .iter()
        .map(|c| r.b.cherry_pick(branch, *c, None).unwrap())
        .collect();
    r.b.merge(RELEASE, branch, message).unwrap();
    r.b.delete_branch(branch).unwrap();
    picks
}

fn ticket_keys(v: &serde_json::Value) -> Vec<String> {
    v["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["key"].as_str().unwrap().to_string())
        .collect()
}

/// Issue 20: "ticket = pull request number" could not be expressed. With ticket rules, the
/// number of `Merge pull request #N` on main, a squash subject `… (#N)`, a release branch
/// `pr-N` or `auto-backport-of-pr-N-on-…` and a mention `#N` all name one ticket `pkg#N`;
/// stray numbers (`WinError 1455`) name none, and the backport's own pull request number on
/// the release branch is not a ticket.
#[test]
fn pull_request_numbers_in_any_convention_name_one_ticket() {
    let env = workspace(&["pkg"], "");
    set_ticket_key(
        &env,
        r#"ticket_key = [
  { pattern = 'pr-(\d+)', key = '{repo}#{1}', in = ["merge_branch"] },
  { pattern = '^Merge pull request #(\d+)', key = '{repo}#{1}', in = ["merge_subject"], side = "main" },
  { pattern = '\(#(\d+)\)$', key = '{repo}#{1}', in = ["subject"], side = "main" },
  { pattern = '#(\d+)', key = '{repo}#{1}', in = ["message"] },
]"#,
    );
    let mut r = repo(&env, "pkg");
    let merged = pull_request(
        &mut r,
        15551,
        "reader-fix",
        &[(IO, 5, "fixed", "Fix the reader")],
    );
    let squashed = r
        .edit(MAIN, "Fix the writer (#15560)", CORE, 5, "fixed")
        .unwrap();
    r.edit(MAIN, "Work around WinError 1455", CORE, 20, "worked around")
        .unwrap();
    let bot = merged_picks(
        &mut r,
        "auto-backport-of-pr-15551-on-v23.0.x",
        &merged,
        "Merge pull request #15600 from meeseeksmachine/auto-backport-of-pr-15551-on-v23.0.x",
    );
    let by_hand = merged_picks(
        &mut r,
        "pr-15560",
        &[squashed],
        "Merge branch 'pr-15560' into v23.0.x",
    );
    let notes =
        r.b.write(
            RELEASE,
            "Release notes for WinError 1455 and #15551",
            &[("doc/notes.md", "notes\n")],
        )
        .unwrap();
    r.finish().unwrap();
    tickets(
        &env,
        &[("pkg#15551", "approved"), ("pkg#15560", "approved")],
    );
    let (_, v) = verify(&env, &[]);

    let c = release_commit(&v, "pkg", bot[0]);
    assert_eq!(c["ticket"], "pkg#15551", "{c}");
    assert_eq!(c["match"]["main_commit"], merged[0].to_string(), "{c}");
    let l = landing(&v, "pkg#15551", "pkg");
    assert_eq!(l["status"], "landed", "{l}");
    assert_eq!(l["main_commits"][0], merged[0].to_string(), "{l}");
    assert_eq!(ticket(&v, "pkg#15551")["status"], "landed");

    assert_eq!(release_commit(&v, "pkg", by_hand[0])["ticket"], "pkg#15560");
    let l = landing(&v, "pkg#15560", "pkg");
    assert_eq!(l["status"], "landed", "{l}");
    assert_eq!(l["main_commits"][0], squashed.to_string(), "{l}");

    // A mention needs its context: `#15551` is one, `WinError 1455` is not.
    let c = release_commit(&v, "pkg", notes);
    assert_eq!(c["mentions"], serde_json::json!(["pkg#15551"]), "{c}");
    let keys = ticket_keys(&v);
    assert_eq!(
        keys,
        ["pkg#15551", "pkg#15560"],
        "no pkg#15600, no pkg#1455"
    );
}
