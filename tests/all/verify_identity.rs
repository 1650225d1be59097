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

/// The policy of a project whose tickets are pull requests: keys `{repo}#N` (and Jira keys).
fn pull_requests_are_tickets(env: &TestEnv) {
    set_ticket_key(env, r#"ticket_key = '[A-Za-z0-9_.-]+#[0-9]+|DM-\d+'"#);
    env.add_to_policy("[verify]\npull_request_key = \"{repo}#{n}\"\n");
}

/// Issue 20: backports made by bots were missed. Out of the box, meeseeksdev's branch
/// (`auto-backport-of-pr-N-on-B`) and subject (`Backport PR #N: …`), and miss-islington's
/// subject (`[3.12] … (GH-N) (#M)`, `#M` being the backport's own) and branch
/// (`backport-HASH-3.12`, naming the main-side commit) give the ticket and the evidence, with
/// `(cherry picked from commit …)` trailers.
#[test]
fn bot_branches_and_subjects_name_the_original_pull_request() {
    let env = workspace(&["pkg"], "");
    pull_requests_are_tickets(&env);
    let (v, code, notes) = bot_history(&env);
    // The one drift: the release notes, pushed with no ticket and mentioning none.
    let drift = v["drift"].as_array().unwrap();
    assert_eq!(drift.len(), 1, "{}", v["drift"]);
    assert_eq!(drift[0]["kind"], "landed_not_approved");
    assert_eq!(drift[0]["commits"][0], notes.to_string());
    assert_eq!(code, 1);
}

/// Issue 20: a built-in preset for GitHub-centric projects. `[verify] preset = "github-pr"`
/// alone verifies the bot-style history, and reads `PR #N` mentions; a `ticket_key` that does
/// not accept its keys is refused.
#[test]
fn github_pr_preset_verifies_bot_style_history() {
    let env = workspace(&["pkg"], "");
    set_ticket_key(&env, r#"ticket_key = '[A-Za-z0-9_.-]+#[0-9]+'"#);
    env.add_to_policy("[verify]\npreset = \"github-pr\"\n");
    assert_eq!(env.run(&["policy", "check", "policy.toml"]).code, 0);
    let (v, code, notes) = bot_history(&env);
    // The release notes mention `PR #15570`: they are that ticket's, and nothing drifts.
    let c = release_commit(&v, "pkg", notes);
    assert_eq!(c["mentions"], serde_json::json!(["pkg#15570"]), "{c}");
    assert!(c["ticket"].is_null(), "{c}");
    assert_eq!(landing(&v, "pkg#15570", "pkg")["status"], "landed");
    assert_eq!(code, 0, "{}", v["drift"]);

    let env = workspace(&["pkg"], "");
    env.add_to_policy("[verify]\npreset = \"github-pr\"\n");
    let run = env.run(&["policy", "check", "policy.toml"]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("verify.preset") && run.stderr.contains("daf_butler#123"),
        "{}",
        run.stderr
    );
}

/// The bot-style history of [`bot_branches_and_subjects_name_the_original_pull_request`],
/// verified and checked under `env`'s policy; returns the verification and a release-notes
/// commit pushed with no ticket that mentions `PR #15570` and `WinError 1455`.
fn bot_history(env: &TestEnv) -> (serde_json::Value, i32, git2::Oid) {
    let mut r = repo(env, "pkg");
    let reader = pull_request(
        &mut r,
        15551,
        "reader-fix",
        &[(IO, 5, "fixed", "Fix the reader's buffering")],
    );
    let writer = r
        .edit(
            MAIN,
            "gh-100: Fix the writer's flush (#15560)",
            CORE,
            5,
            "fixed",
        )
        .unwrap();
    let retry = r
        .edit(MAIN, "Retry the io reads (#15570)", IO, 25, "retried")
        .unwrap();

    // meeseeksdev, edited while resolving a conflict: only the stripped subject links it.
    let branch = "auto-backport-of-pr-15551-on-v23.0.x";
    r.b.branch(branch, RELEASE).unwrap();
    let meeseeks = r
        .edit(
            branch,
            "Backport PR #15551: Fix the reader's buffering",
            IO,
            6,
            "fixed for v23",
        )
        .unwrap();
    r.b.merge(
        RELEASE,
        branch,
        &format!("Merge pull request #15600 from meeseeksmachine/{branch}"),
    )
    .unwrap();
    // miss-islington, merged, edited: its branch names the main-side commit.
    let branch = format!("backport-{}-23.0", &writer.to_string()[..7]);
    r.b.branch(&branch, RELEASE).unwrap();
    let miss = r
        .edits(
            &branch,
            "[23.0] gh-100: Fix the writer's flush (GH-15560) (#15601)",
            &[(CORE, 5, "fixed"), (CORE, 26, "v23 only")],
        )
        .unwrap();
    r.b.merge(
        RELEASE,
        &branch,
        &format!("Merge pull request #15601 from miss-islington/{branch}"),
    )
    .unwrap();
    // miss-islington, squash-merged onto the release branch, with its trailer.
    let squashed =
        r.b.cherry_pick(
            RELEASE,
            retry,
            Some(&format!(
                "[23.0] Retry the io reads (GH-15570) (#15602)\n\n(cherry picked from commit {retry})"
            )),
        )
        .unwrap();
    let notes =
        r.b.write(
            RELEASE,
            "Release notes: the io retry of PR #15570, WinError 1455",
            &[("doc/notes.md", "notes\n")],
        )
        .unwrap();
    r.finish().unwrap();
    tickets(
        env,
        &[
            ("pkg#15551", "approved"),
            ("pkg#15560", "approved"),
            ("pkg#15570", "approved"),
        ],
    );
    let (run, v) = verify(env, &[]);

    let c = release_commit(&v, "pkg", meeseeks);
    assert_eq!(c["ticket"], "pkg#15551", "{c}");
    assert_eq!(c["match"]["kind"], "subject", "{c}");
    assert_eq!(c["match"]["main_commit"], reader[0].to_string());
    assert_eq!(landing(&v, "pkg#15551", "pkg")["status"], "landed");
    assert_eq!(landing(&v, "pkg#15551", "pkg")["how"], "modified");

    let c = release_commit(&v, "pkg", miss);
    assert_eq!(c["ticket"], "pkg#15560", "{c}");
    assert_eq!(c["match"]["kind"], "trailer", "{c}");
    assert_eq!(c["match"]["main_commit"], writer.to_string());
    assert_eq!(landing(&v, "pkg#15560", "pkg")["status"], "landed");

    let c = release_commit(&v, "pkg", squashed);
    assert_eq!(c["ticket"], "pkg#15570", "{c}");
    assert_eq!(c["match"]["kind"], "trailer", "{c}");
    assert_eq!(landing(&v, "pkg#15570", "pkg")["status"], "landed");

    assert_eq!(
        ticket_keys(&v),
        ["pkg#15551", "pkg#15560", "pkg#15570"],
        "the backports' own pull requests are not tickets"
    );
    (v, run.code, notes)
}

/// Issue 20: a single release commit whose changed lines equal a whole multi-commit pull
/// request (a squash made by hand, with other context than on main) was missed: only the
/// pull request's patch-id was compared. Its changed lines are compared too.
#[test]
fn whole_pull_request_squashed_by_changed_lines() {
    let env = workspace(&["pkg"], "");
    let mut r = repo(&env, "pkg");
    let fix = r
        .fix_on_main(
            "DM-300",
            &[
                (CORE, 10, "scaled flux", "Scale the flux"),
                (IO, 10, "read the flux", "Read the scaled flux"),
            ],
        )
        .unwrap();
    let main_merge = r.b.tip(MAIN).unwrap();
    // The release branch differs near the fix: the context of its lines is not main's.
    r.on_release_branch("DM-301-v23", |r, br| {
        r.edit(br, "Pin the flux model for v23", CORE, 12, "pinned model")?;
        Ok(())
    })
    .unwrap();
    let mut squash = None;
    r.on_release_branch("DM-300-v23", |r, br| {
        squash = Some(r.edits(
            br,
            "Backport the flux scaling",
            &[(CORE, 10, "scaled flux"), (IO, 10, "read the flux")],
        )?);
        Ok(())
    })
    .unwrap();
    r.finish().unwrap();
    tickets(&env, &[("DM-300", "approved"), ("DM-301", "approved")]);
    let (run, v) = verify(&env, &[]);
    let c = release_commit(&v, "pkg", squash.unwrap());
    assert_eq!(c["match"]["kind"], "changed_lines", "{c}");
    assert_eq!(c["match"]["main_commit"], main_merge.to_string(), "{c}");
    let l = landing(&v, "DM-300", "pkg");
    assert_eq!(l["status"], "landed", "{l}");
    assert_eq!(l["how"], "modified", "{l}");
    let landed: Vec<&str> = l["landed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["main_commit"].as_str().unwrap())
        .collect();
    assert_eq!(landed, [fix[0].to_string(), fix[1].to_string()], "{l}");
    assert_eq!(ticket(&v, "DM-300")["status"], "landed");
    assert_eq!(run.code, 0, "{}", v["drift"]);
}

/// Issue 20: a backport rewritten while resolving conflicts, whose only link is the original
/// pull request named in its subject (`Backport PR #N: …`), was missed. It lands as `pr_ref`,
/// with a low confidence and the share of the pull request's changed lines it carries.
#[test]
fn backport_naming_its_pull_request_lands_as_pr_ref() {
    let env = workspace(&["pkg"], "");
    pull_requests_are_tickets(&env);
    let mut r = repo(&env, "pkg");
    let fix = pull_request(
        &mut r,
        15551,
        "reader-fix",
        &[(IO, 5, "buffered read", "Buffer the reader")],
    );
    let main_merge = r.b.tip(MAIN).unwrap();
    let rewritten = r
        .edits(
            RELEASE,
            "Backport PR #15551: Rework the v23 reader around its old buffer",
            &[
                (IO, 5, "buffered read, the v23 way"),
                (CORE, 3, "old buffer kept"),
            ],
        )
        .unwrap();
    r.finish().unwrap();
    tickets(&env, &[("pkg#15551", "approved")]);
    let (run, v) = verify(&env, &[]);
    let c = release_commit(&v, "pkg", rewritten);
    assert_eq!(c["ticket"], "pkg#15551", "{c}");
    let m = &c["match"];
    assert_eq!(m["kind"], "pr_ref", "{c}");
    assert_eq!(m["main_commit"], main_merge.to_string(), "{c}");
    // Of the pull request's two changed lines (- the old line 5, + its fix), one is here.
    assert_eq!(m["overlap"], 0.5, "{c}");
    assert_eq!(m["confidence"], 0.4, "{c}");
    let l = landing(&v, "pkg#15551", "pkg");
    assert_eq!(l["status"], "landed", "{l}");
    assert_eq!(l["how"], "modified", "{l}");
    assert_eq!(l["landed"][0]["main_commit"], fix[0].to_string(), "{l}");
    assert_eq!(l["landed"][0]["kind"], "pr_ref", "{l}");
    assert_eq!(run.code, 0, "{}", v["drift"]);
}

/// Issue 20: a carrier ticket that squashed several main-side tickets into one release-only
/// commit made the carried tickets look missing. Their changes are found on the release
/// branch by content (added lines present, removed lines absent in the release tip's files,
/// following a file renamed on main), and land as `content` through the carrier's commit.
#[test]
fn carrier_squash_lands_the_carried_tickets_by_content() {
    use portcullis_git::build::Change;
    let env = workspace(&["pkg"], "");
    let mut r = repo(&env, "pkg");
    let a = r
        .fix_on_main(
            "DM-401",
            &[(CORE, 8, "clip the flux at zero", "Clip the flux")],
        )
        .unwrap();
    // On main the reader moves to another file; the release branch keeps the old one.
    let io = r.b.read(MAIN, IO).unwrap();
    r.b.branch("tickets/DM-400", MAIN).unwrap();
    r.b.commit(
        "tickets/DM-400",
        "Move the reader",
        &[
            Change::Write("python/pkg/reader.py", &io),
            Change::Delete(IO),
        ],
    )
    .unwrap();
    r.merge_pr(MAIN, "tickets/DM-400").unwrap();
    let b = r
        .fix_on_main(
            "DM-402",
            &[(
                "python/pkg/reader.py",
                9,
                "retry the header read",
                "Retry the header",
            )],
        )
        .unwrap();
    let not_carried = r
        .fix_on_main("DM-404", &[(CORE, 25, "round the flux", "Round the flux")])
        .unwrap();
    let mut carrier = None;
    r.on_release_branch("DM-403-v23", |r, br| {
        carrier = Some(r.edits(
            br,
            "Backport DM-401 and DM-402 to v23",
            &[
                (CORE, 8, "clip the flux at zero"),
                (IO, 9, "retry the header read"),
                (CORE, 20, "v23 adaptation of both"),
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
            ("DM-401", "approved"),
            ("DM-402", "approved"),
            ("DM-403", "approved"),
            ("DM-404", "approved"),
        ],
    );
    let (_, v) = verify(&env, &[]);
    for (key, fix) in [("DM-401", a[0]), ("DM-402", b[0])] {
        let l = landing(&v, key, "pkg");
        assert_eq!(l["status"], "landed", "{key}: {l}");
        assert_eq!(l["how"], "modified", "{l}");
        let landed = &l["landed"][0];
        assert_eq!(landed["main_commit"], fix.to_string(), "{l}");
        assert_eq!(landed["kind"], "content", "{l}");
        assert_eq!(landed["release_commit"], carrier, "{l}");
        assert_eq!(landed["confidence"], 0.7, "{l}");
        assert_eq!(ticket(&v, key)["status"], "landed");
    }
    let l = landing(&v, "DM-403", "pkg");
    assert_eq!(
        l["status"], "landed",
        "the carrier lands what it carries: {l}"
    );
    // A ticket whose change is not on the release branch stays missing, though the carrier
    // touched its file.
    let l = landing(&v, "DM-404", "pkg");
    assert_eq!(l["status"], "missing", "{l}");
    assert_eq!(l["missing"][0], not_carried[0].to_string());
}
