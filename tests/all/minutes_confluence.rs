//! Issue 17, second stage: meetings travel. Workspace A holds a meeting, pushes its decisions
//! to the Jira test server and publishes the minutes to the Confluence test server (over TCP,
//! with the real binary); workspace B syncs the decisions and imports the meeting, and its
//! `minutes` show the same sittings, attendees and decisions.

use portcullis_testkit::confluence_server::{
    self, ConfluenceServer, Fault as PageFault, FaultRule as PageFaultRule,
};
use portcullis_testkit::jira_server::{seed_issue, Flavor, JiraServer};

use crate::harness::{Run, TestEnv};
use crate::jira_live::{campaign, config, run_with, sync, t};

pub(crate) const PAGE_TOKEN: &str = "conf-S3CRET-77a1";

pub(crate) fn confluence() -> ConfluenceServer {
    ConfluenceServer::start(confluence_server::Config {
        users: vec![confluence_server::User {
            token: PAGE_TOKEN.into(),
            ..confluence_server::User::default()
        }],
        ..confluence_server::Config::default()
    })
    .unwrap()
}

/// A v23 workspace trusting the Jira bot's records, publishing to the `DM` space.
fn workspace(pages: &ConfluenceServer) -> TestEnv {
    workspace_under(pages, None)
}

/// [`workspace`], publishing under the page titled `parent`.
fn workspace_under(pages: &ConfluenceServer, parent: Option<&str>) -> TestEnv {
    let env = TestEnv::with_workspace("v23");
    let path = env.path().join("portcullis.toml");
    let mut toml = std::fs::read_to_string(&path).unwrap();
    toml.push_str(&format!(
        "\n[jira]\nurl = \"http://jira.invalid\"\nwriters = [\"portcullis-bot\", \"557058:bot\"]\n\n[confluence]\nurl = \"{}\"\nspace = \"DM\"\nwriters = [\"portcullis-bot\"]\nmax_retries = 1\nbackoff_ms = 10\n{}",
        pages.url(),
        parent.map(|p| format!("parent = \"{p}\"\n")).unwrap_or_default()
    ));
    std::fs::write(&path, toml).unwrap();
    env
}

/// Run with the Jira and Confluence credentials (the Confluence token as given).
fn run(env: &TestEnv, jira: &JiraServer, args: &[&str], token: &str) -> Run {
    run_with(env, jira, args, &[("PORTCULLIS_CONFLUENCE_TOKEN", token)])
}

/// A meeting of v23 on A: three attend, a rejection with its reason, a departure and an
/// arrival, closed; then pushed.
fn hold_meeting(a: &TestEnv, jira: &JiraServer, key: &str) {
    a.run(&[
        "meeting",
        "open",
        "--attendee",
        "mlindqvist",
        "--attendee",
        "tokafor",
        "--attendee",
        "praman",
        "--as",
        "mlindqvist",
    ])
    .ok();
    a.run(&[
        "decide",
        "reject",
        key,
        "--as",
        "mlindqvist",
        "--note",
        "too risky for a patch release",
    ])
    .ok();
    a.run(&["meeting", "leave", "praman", "--as", "mlindqvist"])
        .ok();
    a.run(&["meeting", "join", "hbrandt", "--as", "mlindqvist"])
        .ok();
    a.run(&["meeting", "close", "--as", "mlindqvist"]).ok();
    let p = run_with(a, jira, &["push"], &[]);
    assert_eq!(p.code, 0, "{}\n{}", p.stdout, p.stderr);
}

fn minutes_json(env: &TestEnv) -> serde_json::Value {
    let m = env.run(&["minutes", "--format", "json"]);
    m.ok();
    serde_json::from_str(&m.stdout).unwrap_or_else(|e| panic!("{e}: {}", m.stdout))
}

/// What must be the same everywhere: each sitting's attendance, chair, quorum, arrivals and
/// departures, and each decision with its reason, member and sitting.
fn comparable(m: &serde_json::Value) -> serde_json::Value {
    let sittings: Vec<serde_json::Value> = m["sittings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let mt = &s["meeting"];
            let changes: Vec<serde_json::Value> = mt["changes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| serde_json::json!([c["who"], c["joined"], c["at"]]))
                .collect();
            serde_json::json!({
                "date": mt["date"], "sitting": mt["sitting"], "attendees": mt["attendees"],
                "chair": mt["chair"], "quorum": mt["quorum"], "opened_at": mt["opened_at"],
                "closed_at": mt["closed_at"], "changes": changes, "attending": s["attending"],
            })
        })
        .collect();
    let decisions: Vec<serde_json::Value> = m["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            serde_json::json!([
                d["key"],
                d["decision"],
                d["reason"],
                d["by"],
                d["sitting"],
                d["summary"],
                d["provisional"],
                d["undone"]
            ])
        })
        .collect();
    serde_json::json!({"sittings": sittings, "decisions": decisions, "counts": m["counts"]})
}

#[test]
fn minutes_published_by_one_workspace_are_imported_by_another_with_the_same_sittings_and_decisions()
{
    let jira = JiraServer::start(config(Flavor::DataCenter), campaign(), 0).unwrap();
    let pages = confluence();
    let (a, b) = (workspace(&pages), workspace(&pages));
    sync(&a, &jira, &[]);
    hold_meeting(&a, &jira, "DM-100");

    let p = run(&a, &jira, &["minutes", "--publish"], PAGE_TOKEN);
    assert_eq!(p.code, 0, "{}\n{}", p.stdout, p.stderr);
    assert!(
        p.stdout.contains("Created the minutes of v23"),
        "{}",
        p.stdout
    );
    let page = pages
        .page("DM", "Backport committee v23: meeting of 2026-11-24")
        .expect("the page");
    let body = &page.current().body;
    for text in [
        "Mara Lindqvist, Tomas Okafor, Priya Raman",
        "Hugo Brandt at 12:00 UTC",
        "too risky for a patch release",
        "DM-100",
        "Fix the flux calibration",
        "portcullismeeting v1 ",
    ] {
        assert!(body.contains(text), "{text}: {body}");
    }
    assert!(
        !body.contains(PAGE_TOKEN),
        "the token never reaches the page"
    );
    // Publishing again with nothing new writes nothing.
    let again = run(&a, &jira, &["minutes", "--publish"], PAGE_TOKEN);
    assert!(
        again.ok().stdout.contains("Already up to date"),
        "{}",
        again.stdout
    );
    assert_eq!(pages.page("DM", &page.title).unwrap().versions.len(), 1);

    // B: the decisions come with the tickets, the sittings from the page.
    sync(&b, &jira, &[]);
    assert_eq!(b.run(&["minutes"]).code, 2, "no meeting on B yet");
    let i = run(&b, &jira, &["minutes", "--import"], PAGE_TOKEN);
    assert!(
        i.ok().stdout.contains("1 sitting(s) imported"),
        "{}",
        i.stdout
    );
    let (ma, mb) = (minutes_json(&a), minutes_json(&b));
    assert_eq!(comparable(&ma), comparable(&mb));
    assert_eq!(ma["decisions"].as_array().unwrap().len(), 1, "{ma}");
    assert_eq!(mb["sittings"][0]["attending"].as_array().unwrap().len(), 3);
    let (md_a, md_b) = (a.run(&["minutes"]), b.run(&["minutes"]));
    assert_eq!(md_a.ok().stdout, md_b.ok().stdout);

    // Importing twice adds nothing; the origin adds nothing.
    let fingerprint = b.ledger_fingerprint();
    let i = run(
        &b,
        &jira,
        &["minutes", "--import", "--format", "json"],
        PAGE_TOKEN,
    );
    let r: serde_json::Value = serde_json::from_str(&i.ok().stdout).unwrap();
    assert_eq!(r["events"], 0, "{r}");
    assert_eq!(r["known"], 1, "{r}");
    assert_eq!(b.ledger_fingerprint(), fingerprint);
    let fingerprint = a.ledger_fingerprint();
    let i = run(
        &a,
        &jira,
        &["minutes", "--import", "--format", "json"],
        PAGE_TOKEN,
    );
    let r: serde_json::Value = serde_json::from_str(&i.ok().stdout).unwrap();
    assert_eq!(r["events"], 0, "{r}");
    assert_eq!(a.ledger_fingerprint(), fingerprint);
}

#[test]
fn a_stale_page_version_is_re_read_and_written_again() {
    let jira = JiraServer::start(config(Flavor::DataCenter), campaign(), 0).unwrap();
    let pages = confluence();
    let a = workspace(&pages);
    sync(&a, &jira, &[]);
    hold_meeting(&a, &jira, "DM-100");
    run(&a, &jira, &["minutes", "--publish"], PAGE_TOKEN).ok();
    let title = "Backport committee v23: meeting of 2026-11-24";
    let id = pages.page("DM", title).unwrap().id;
    // Someone edits the page by hand, and edits it again while portcullis writes.
    pages.edit_page(id, "<p>tidied up by hand</p>", "someone");
    pages.add_fault(PageFaultRule {
        method: confluence_server::Method::PUT,
        path_contains: format!("/content/{id}"),
        times: 1,
        fault: PageFault::ConcurrentEdit,
    });
    let p = run(&a, &jira, &["minutes", "--publish"], PAGE_TOKEN);
    assert!(
        p.ok()
            .stdout
            .contains("re-read and written again (1 time(s))"),
        "{}",
        p.stdout
    );
    let page = pages.page("DM", title).unwrap();
    assert_eq!(page.versions.len(), 4, "create, by hand, concurrent, ours");
    assert_eq!(page.versions[0].body, page.current().body);
    let statuses: Vec<u16> = pages
        .requests()
        .iter()
        .filter(|r| r.method == "PUT")
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [409, 200]);
}

#[test]
fn a_bad_confluence_token_is_a_clear_error_that_never_shows_the_token() {
    let jira = JiraServer::start(config(Flavor::DataCenter), campaign(), 0).unwrap();
    let pages = confluence();
    let a = workspace(&pages);
    sync(&a, &jira, &[]);
    hold_meeting(&a, &jira, "DM-100");
    let bad = "wrong-S3CRET-token-9";
    for args in [&["minutes", "--publish"][..], &["minutes", "--import"][..]] {
        let r = run(&a, &jira, args, bad);
        assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains("refused the credentials")
                && r.stderr.contains("PORTCULLIS_CONFLUENCE_TOKEN")
                && r.stderr.contains("401"),
            "{}",
            r.stderr
        );
        assert!(
            !r.stderr.contains(bad) && !r.stdout.contains(bad),
            "{}",
            r.stderr
        );
    }
    assert!(pages.pages().is_empty());
    // Without [confluence], a clear error too.
    let plain = TestEnv::with_workspace("v23");
    let r = plain.run(&["minutes", "--import"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("no [confluence] is configured"),
        "{}",
        r.stderr
    );
}

#[test]
fn the_page_escapes_markup_in_a_ticket_summary() {
    let mut tickets = campaign();
    tickets.push(seed_issue(
        "DM-110",
        "<script>alert('x')</script> & <b>bold</b> fix",
        &[(t("2026-11-05T10:00:00Z"), "dev1", &["backport-v23"])],
    ));
    let jira = JiraServer::start(config(Flavor::DataCenter), tickets, 0).unwrap();
    let pages = confluence();
    let (a, b) = (workspace(&pages), workspace(&pages));
    sync(&a, &jira, &[]);
    hold_meeting(&a, &jira, "DM-110");
    let p = run(&a, &jira, &["minutes", "--publish"], PAGE_TOKEN);
    assert_eq!(p.code, 0, "{}\n{}", p.stdout, p.stderr);
    let page = pages
        .page("DM", "Backport committee v23: meeting of 2026-11-24")
        .unwrap();
    let body = &page.current().body;
    assert!(
        !body.contains("<script>") && !body.contains("<b>bold"),
        "{body}"
    );
    assert!(
        body.contains(
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt; fix"
        ),
        "{body}"
    );
    confluence_server::check_xhtml(body).unwrap();
    sync(&b, &jira, &[]);
    run(&b, &jira, &["minutes", "--import"], PAGE_TOKEN).ok();
    assert_eq!(comparable(&minutes_json(&a)), comparable(&minutes_json(&b)));
}

/// The minutes listed only the decisions taken in the workspace itself: on a workspace that
/// read the meeting's decisions back from decision records, the imported sitting showed "None".
#[test]
fn minutes_list_the_decisions_another_workspace_took_in_the_sitting() {
    let jira = JiraServer::start(config(Flavor::Cloud), campaign(), 0).unwrap();
    let pages = confluence();
    let parent = pages.create_page("DM", "Committee minutes", None, "<p>Minutes</p>");
    // Enough other pages that the meeting's page is on a later page of the listing.
    for n in 0..30 {
        pages.create_page("DM", &format!("Other team page {n}"), None, "<p>x</p>");
    }
    let a = workspace_under(&pages, Some("Committee minutes"));
    let b = workspace_under(&pages, Some("Committee minutes"));
    sync(&a, &jira, &[]);
    hold_meeting(&a, &jira, "DM-100");
    run(&a, &jira, &["minutes", "--publish"], PAGE_TOKEN).ok();
    let page = pages
        .page("DM", "Backport committee v23: meeting of 2026-11-24")
        .unwrap();
    assert_eq!(page.parent, Some(parent), "published under the parent");

    sync(&b, &jira, &[]);
    let i = run(
        &b,
        &jira,
        &["minutes", "--import", "--format", "json"],
        PAGE_TOKEN,
    );
    let r: serde_json::Value = serde_json::from_str(&i.ok().stdout).unwrap();
    assert_eq!(
        r["pages"], 32,
        "every page of the space, over two listing pages: {r}"
    );
    assert_eq!(r["records"], 1, "{r}");
    let m = minutes_json(&b);
    let d = &m["decisions"][0];
    assert_eq!(d["key"], "DM-100", "{m}");
    assert_eq!(d["decision"], "reject");
    assert_eq!(d["by"], "Mara Lindqvist");
    assert_eq!(d["reason"], "too risky for a patch release");
    assert_eq!(d["sitting"], 1);
    let md = b.run(&["minutes"]);
    assert!(
        md.ok().stdout.contains("## Decisions (1: 1 reject)")
            && md.stdout.contains("- **reject** DM-100: Fix the flux calibration. Reason: too risky for a patch release [Mara Lindqvist]"),
        "{}",
        md.stdout
    );
    let listings = pages
        .requests()
        .iter()
        .filter(|r| {
            r.method == "GET"
                && r.path_and_query.starts_with("/rest/api/content?")
                && !r.path_and_query.contains("title=")
        })
        .count();
    assert_eq!(listings, 2, "followed _links.next");
}

/// The token from the credentials file's `[confluence]` table; a record edited by hand on the
/// page is refused and records nothing.
#[test]
fn the_token_comes_from_the_credentials_file_and_an_edited_record_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let jira = JiraServer::start(config(Flavor::DataCenter), campaign(), 0).unwrap();
    let pages = confluence();
    let (a, b) = (workspace(&pages), workspace(&pages));
    let creds = a.write(
        "creds.toml",
        &format!("[confluence]\ntoken = \"{PAGE_TOKEN}\"\n"),
    );
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o600)).unwrap();
    let creds = creds.to_string_lossy().into_owned();
    sync(&a, &jira, &[]);
    hold_meeting(&a, &jira, "DM-100");
    let p = run_with(
        &a,
        &jira,
        &["minutes", "--publish"],
        &[("PORTCULLIS_CREDENTIALS", &creds)],
    );
    assert_eq!(p.code, 0, "{}\n{}", p.stdout, p.stderr);
    assert_eq!(
        pages.requests().last().unwrap().user.as_deref(),
        Some("portcullis-bot")
    );

    // Someone changes an attendee inside the record by hand.
    let page = pages
        .page("DM", "Backport committee v23: meeting of 2026-11-24")
        .unwrap();
    let body = page.current().body.clone();
    let at = body.find("portcullismeeting v1 ").unwrap() + "portcullismeeting v1 ".len() + 40;
    let mut edited = body.clone();
    let c = if &body[at..at + 1] == "A" { "B" } else { "A" };
    edited.replace_range(at..at + 1, c);
    pages.edit_page(page.id, &edited, "someone");
    sync(&b, &jira, &[]);
    let i = run_with(
        &b,
        &jira,
        &["minutes", "--import"],
        &[("PORTCULLIS_CREDENTIALS", &creds)],
    );
    assert!(
        i.ok().stdout.contains(
            "refused a record on \"Backport committee v23: meeting of 2026-11-24\": the block's digest does not match its content (edited by hand)"
        ) && i.stdout.contains("0 sitting(s) imported"),
        "{}",
        i.stdout
    );
    assert_eq!(b.run(&["minutes"]).code, 2, "no meeting recorded");
}

/// Cloud's REST v2 with Basic `email:token`: A publishes there (twice, the second an update),
/// B imports through the Data Center API of the same server, and the minutes agree.
#[test]
fn minutes_published_through_cloud_v2_are_imported_through_data_center() {
    let jira = JiraServer::start(config(Flavor::Cloud), campaign(), 0).unwrap();
    let pages = confluence();
    let (a, b) = (workspace(&pages), workspace(&pages));
    let path = a.path().join("portcullis.toml");
    let toml = std::fs::read_to_string(&path)
        .unwrap()
        .replace("space = \"DM\"\n", "space = \"DM\"\nflavor = \"cloud\"\n");
    std::fs::write(&path, toml).unwrap();
    let cloud = [
        ("PORTCULLIS_CONFLUENCE_TOKEN", PAGE_TOKEN),
        ("PORTCULLIS_CONFLUENCE_USER", "bot@example.org"),
    ];
    sync(&a, &jira, &[]);
    hold_meeting(&a, &jira, "DM-100");
    let p = run_with(&a, &jira, &["minutes", "--publish"], &cloud);
    assert!(p.ok().stdout.contains("Created"), "{}", p.stdout);
    // A second sitting the same day: the page is updated as version 2.
    a.run(&[
        "meeting",
        "open",
        "--attendee",
        "mlindqvist",
        "--attendee",
        "hbrandt",
        "--as",
        "mlindqvist",
    ])
    .ok();
    a.run(&["meeting", "close", "--as", "mlindqvist"]).ok();
    let p = run_with(&a, &jira, &["minutes", "--publish"], &cloud);
    assert!(p.ok().stdout.contains("Updated"), "{}", p.stdout);
    let paths: Vec<String> = pages
        .requests()
        .iter()
        .map(|r| format!("{} {} {}", r.method, r.path_and_query, r.status))
        .collect();
    assert!(
        paths.iter().all(|p| p.contains(" /wiki/api/v2/")),
        "{paths:#?}"
    );
    let page = pages
        .page("DM", "Backport committee v23: meeting of 2026-11-24")
        .unwrap();
    assert_eq!(page.current().number, 2);

    sync(&b, &jira, &[]);
    let i = run(&b, &jira, &["minutes", "--import"], PAGE_TOKEN);
    assert!(
        i.ok().stdout.contains("2 sitting(s) imported"),
        "{}",
        i.stdout
    );
    assert_eq!(comparable(&minutes_json(&a)), comparable(&minutes_json(&b)));
    assert_eq!(
        a.run(&["minutes"]).ok().stdout,
        b.run(&["minutes"]).ok().stdout
    );
}

/// Whose meeting records are applied: without a team key, only a page whose latest version is
/// by one of `[confluence] writers` (a page anyone edited last is refused, naming them); with
/// a team key, a record signed with it, even after a person annotated the page.
#[test]
fn a_meeting_record_is_applied_from_a_listed_writer_or_signed_with_the_team_key() {
    let jira = JiraServer::start(config(Flavor::DataCenter), campaign(), 0).unwrap();
    let pages = confluence();
    let (a, b) = (workspace(&pages), workspace(&pages));
    sync(&a, &jira, &[]);
    hold_meeting(&a, &jira, "DM-100");
    let title = "Backport committee v23: meeting of 2026-11-24";
    let annotate = || {
        let page = pages.page("DM", title).unwrap();
        let body = format!("<p>Action items below.</p>{}", page.current().body);
        pages.edit_page(page.id, &body, "someone");
    };

    // No key: A publishes, someone annotates the page, B refuses the record and says by whom.
    run(&a, &jira, &["minutes", "--publish"], PAGE_TOKEN).ok();
    annotate();
    sync(&b, &jira, &[]);
    let i = run(&b, &jira, &["minutes", "--import"], PAGE_TOKEN);
    assert!(
        i.ok()
            .stdout
            .contains("latest version is by someone, who is not one of [confluence] writers")
            && i.stdout.contains("0 sitting(s) imported"),
        "{}",
        i.stdout
    );

    // With the team key, A's record is signed: the annotation no longer matters, and a record
    // without the signature would be refused.
    let key = [
        ("PORTCULLIS_TEAM_KEY", "minutes-team-key-9e1"),
        ("PORTCULLIS_CONFLUENCE_TOKEN", PAGE_TOKEN),
    ];
    let p = run_with(&a, &jira, &["minutes", "--publish"], &key);
    p.ok();
    annotate();
    let i = run_with(&b, &jira, &["minutes", "--import"], &key);
    assert!(
        i.ok().stdout.contains("1 sitting(s) imported"),
        "{}",
        i.stdout
    );
    assert!(
        !i.stdout.contains("minutes-team-key-9e1") && !p.stdout.contains("minutes-team-key-9e1")
    );
    let page = pages.page("DM", title).unwrap();
    assert!(!page.current().body.contains("minutes-team-key-9e1"));
}
