//! The demo: a workspace with the v23 policy, a generated Jira export of 80 tickets spread over
//! every state (violations included), imported, plus the committee's recorded decisions.
//!
//! Everything is generated from a fixed seed relative to the clock ([`crate::domain::time::now`],
//! fixed by `PORTCULLIS_NOW` in tests), so the same clock gives the same demo. The campaign is set
//! in the ten weeks before "now", with weekly Tuesday meetings.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, FixedOffset, Utc, Weekday};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use crate::domain::event::{kind, source, NewEvent};
use crate::domain::policy::BUILTIN_V23;
use crate::domain::time::{last_weekday_on_or_before, now};
use crate::ledger::Ledger;
use crate::ops::workspace::{init, load_policy, Workspace};
use crate::{Error, Result};

pub mod repos;

/// A generated label change: when, who (user name, display name), the label set after.
type LabelChange = (DateTime<Utc>, (&'static str, &'static str), Vec<String>);

const MARKER: &str = ".portcullis-demo";

const COMMITTEE: &[(&str, &str)] = &[
    ("mlindqvist", "Mara Lindqvist"),
    ("tokafor", "Tomas Okafor"),
    ("praman", "Priya Raman"),
    ("hbrandt", "Hugo Brandt"),
    ("esato", "Elena Sato"),
];
const DEVELOPERS: &[(&str, &str)] = &[
    ("kfarrow", "Kit Farrow"),
    ("npetrov", "Nadia Petrov"),
    ("amoreau", "Alain Moreau"),
    ("dchen", "Dana Chen"),
    ("ssingh", "Sunil Singh"),
    ("lwhite", "Lou White"),
    ("tnakamura", "Taro Nakamura"),
];
/// Not on the committee, but approves anyway (a violation the demo shows).
const OUTSIDER: (&str, &str) = ("rgarcia", "Rosa Garcia");
const BOT: (&str, &str) = ("portcullis-bot", "portcullis");

const SUMMARIES: &[&str] = &[
    "Improve timeout, retry and connexion persistence of webDAV client",
    "Fix PSF candidate selection when no stars are found",
    "Butler ingest fails on files with uppercase extensions",
    "Pin moto<3 so that the S3 tests pass",
    "Coadd assembly crashes on a missing variance plane",
    "Difference imaging template selection ignores the exposure mask",
    "Forced photometry drops sources near the tract boundary",
    "Fix off-by-one in the visit summary table",
    "Handle NaN sky background in single-frame processing",
    "Speed up registry queries for large dataset collections",
    "BPS submission fails when the workflow name contains a dot",
    "Correct the pixel scale of the LATISS camera geometry",
    "Retry transient failures when reading from the object store",
    "Make the FGCM fit deterministic with a fixed seed",
    "Avoid a deadlock in the execution butler export",
    "Skip detectors without a valid WCS in the warp task",
    "Fix the unit of the aperture-correction column",
    "Repair the calibration lookup for reprocessed visits",
    "Reduce memory use of the deblender on crowded fields",
    "Clip outliers in the PSF model residual statistics",
    "Update the filter definitions for the DP0.2 bands",
    "Fix crosstalk correction sign for the corner rafts",
    "Propagate the photoCalib uncertainty to the source table",
    "Make pipetask report the failing quantum's data ID",
    "Guard against empty visit lists in makeWarp",
    "Fix the default dataset type of the isolated star catalog",
    "Compress the intermediate images written by the coadd step",
    "Avoid re-reading the camera for every detector",
    "Handle missing astrometric reference catalogs gracefully",
    "Correct the zero point of the forced-photometry fluxes",
];
const REPOS: &[&str] = &[
    "daf_butler",
    "pipe_tasks",
    "meas_algorithms",
    "ip_diffim",
    "obs_lsst",
    "ctrl_bps",
];

/// What happens to a generated ticket.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fate {
    Done,
    Approved,
    Requested,
    NewRequest,
    Rejected,
    Deferred,
    NeedsInfo,
    Withdrawn,
    DoneWithoutApproval,
    ApprovedByOutsider,
    ApprovedWithoutRequest,
    ReRequested,
    UnknownLabel,
}

const PLAN: &[(Fate, usize)] = &[
    (Fate::Done, 22),
    (Fate::Approved, 14),
    (Fate::Requested, 6),
    (Fate::NewRequest, 4),
    (Fate::Rejected, 8),
    (Fate::Deferred, 6),
    (Fate::NeedsInfo, 4),
    (Fate::Withdrawn, 5),
    (Fate::DoneWithoutApproval, 3),
    (Fate::ApprovedByOutsider, 3),
    (Fate::ApprovedWithoutRequest, 2),
    (Fate::ReRequested, 1),
    (Fate::UnknownLabel, 2),
];

/// The generated demo data.
pub struct DemoData {
    /// A Jira Data Center `/rest/api/2/search?expand=changelog` response.
    pub export: Value,
    /// Decisions the committee recorded in portcullis.
    pub decisions: Vec<NewEvent>,
    /// An interesting ticket to show with `history`.
    pub showcase: String,
}

/// Build the demo data for a clock.
pub fn generate(now: DateTime<Utc>) -> DemoData {
    let mut rng = ChaCha8Rng::seed_from_u64(23);
    let today = now.date_naive();
    let last_meeting = last_weekday_on_or_before(today - Duration::days(1), Weekday::Tue);
    let meetings: Vec<chrono::NaiveDate> = (0..10)
        .rev()
        .map(|w| last_meeting - Duration::weeks(w))
        .collect();
    let tz = FixedOffset::west_opt(7 * 3600).expect("valid offset"); // Tucson: the project's Jira time zone
    let at_meeting = |d: chrono::NaiveDate, minutes: i64| -> DateTime<Utc> {
        let t = d.and_hms_opt(16, 0, 0).expect("valid time").and_utc();
        t + Duration::minutes(minutes)
    };

    let mut keys: Vec<u32> = Vec::new();
    while keys.len() < 80 {
        let k = rng.gen_range(32000..34500);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.sort_unstable();
    let mut fates: Vec<Fate> = PLAN
        .iter()
        .flat_map(|(f, n)| std::iter::repeat_n(*f, *n))
        .collect();
    fates.shuffle(&mut rng);

    let mut issues = Vec::new();
    let mut decisions = Vec::new();
    let mut showcase = String::new();
    let mut history_id = 3_000_000u64;

    for (i, (num, fate)) in keys.iter().zip(fates.iter()).enumerate() {
        let key = format!("DM-{num}");
        let dev = DEVELOPERS[rng.gen_range(0..DEVELOPERS.len())];
        let member = COMMITTEE[rng.gen_range(0..COMMITTEE.len())];
        let summary = SUMMARIES[i % SUMMARIES.len()];
        let n_repos = if rng.gen_bool(0.25) {
            rng.gen_range(2..=3)
        } else {
            1
        };
        let mut repos: Vec<&str> = REPOS.choose_multiple(&mut rng, n_repos).copied().collect();
        repos.sort_unstable();

        // When the request was made: new requests in the last week, others earlier.
        let req_week = match fate {
            Fate::NewRequest => 10,
            Fate::Requested => rng.gen_range(6..9),
            _ => rng.gen_range(0..7),
        };
        let created = if req_week >= 10 {
            at_meeting(last_meeting, rng.gen_range(24 * 60..5 * 24 * 60))
        } else {
            at_meeting(meetings[req_week], -rng.gen_range(24 * 60..5 * 24 * 60))
        };
        let requested = created + Duration::hours(rng.gen_range(1..48));
        let decide_week = (req_week + 1).min(9);
        let decided = at_meeting(meetings[decide_week], rng.gen_range(0..90));

        let mut labels: Vec<String> = vec!["pipelines".into()];
        let mut hist: Vec<LabelChange> = Vec::new();
        let set = |labels: &mut Vec<String>, add: &[&str], remove: &[&str]| {
            labels.retain(|l| !remove.contains(&l.as_str()));
            for a in add {
                if !labels.iter().any(|l| l == a) {
                    labels.push(a.to_string());
                }
            }
            labels.clone()
        };
        let mut push = |at: DateTime<Utc>,
                        who: (&'static str, &'static str),
                        labels: Vec<String>| hist.push((at, who, labels));

        let local = |decision: &str,
                     actor: &str,
                     at: DateTime<Utc>,
                     note: &str,
                     until: Option<chrono::NaiveDate>| NewEvent {
            ticket: Some(key.clone()),
            line: Some("v23".into()),
            kind: kind::DECISION,
            source: source::LOCAL.into(),
            actor: Some(actor.into()),
            at,
            meeting: Some(at.date_naive()),
            note: Some(note.into()),
            payload: json!({ "decision": decision, "until": until.map(|u| u.to_string()), "forced": false }),
            dedup_key: Some(format!("demo:{key}:{decision}:{}", at.timestamp())),
        };

        match fate {
            Fate::Done | Fate::Approved => {
                push(requested, dev, set(&mut labels, &["backport-v23"], &[]));
                if rng.gen_bool(0.5) {
                    decisions.push(local(
                        "approve",
                        member.0,
                        decided,
                        "Fixes a failure seen in the campaign; low risk.",
                        None,
                    ));
                    push(
                        decided + Duration::minutes(5),
                        BOT,
                        set(&mut labels, &["backport-approved"], &[]),
                    );
                } else {
                    push(
                        decided,
                        member,
                        set(&mut labels, &["backport-approved"], &[]),
                    );
                }
                if *fate == Fate::Done {
                    let landed = decided + Duration::days(rng.gen_range(1..6));
                    push(landed, dev, set(&mut labels, &["backport-done"], &[]));
                }
            }
            Fate::Requested | Fate::NewRequest => {
                push(requested, dev, set(&mut labels, &["backport-v23"], &[]));
            }
            Fate::Rejected => {
                push(requested, dev, set(&mut labels, &["backport-v23"], &[]));
                let reasons = [
                    "Changes the output schema mid-campaign; wait for v24.",
                    "Only affects a camera not used in DP0.2.",
                    "Too large to backport safely; the workaround is documented.",
                    "Behaviour change would make step results inconsistent.",
                ];
                decisions.push(local(
                    "reject",
                    member.0,
                    decided,
                    reasons[i % reasons.len()],
                    None,
                ));
                push(
                    decided + Duration::minutes(5),
                    BOT,
                    set(&mut labels, &[], &["backport-v23"]),
                );
            }
            Fate::Deferred => {
                push(requested, dev, set(&mut labels, &["backport-v23"], &[]));
                let until = meetings[decide_week] + Duration::weeks(rng.gen_range(2..5));
                decisions.push(local(
                    "defer",
                    member.0,
                    decided,
                    "Only needed if the coadd step shows the problem.",
                    Some(until),
                ));
            }
            Fate::NeedsInfo => {
                push(requested, dev, set(&mut labels, &["backport-v23"], &[]));
                decisions.push(local(
                    "needs-info",
                    member.0,
                    decided,
                    "Which steps are affected, and is there a workaround?",
                    None,
                ));
            }
            Fate::Withdrawn => {
                push(requested, dev, set(&mut labels, &["backport-v23"], &[]));
                push(decided, member, set(&mut labels, &[], &["backport-v23"]));
            }
            Fate::DoneWithoutApproval => {
                push(requested, dev, set(&mut labels, &["backport-v23"], &[]));
                push(
                    requested + Duration::days(2),
                    dev,
                    set(&mut labels, &["backport-done"], &[]),
                );
            }
            Fate::ApprovedByOutsider => {
                push(requested, dev, set(&mut labels, &["backport-v23"], &[]));
                push(
                    requested + Duration::days(1),
                    OUTSIDER,
                    set(&mut labels, &["backport-approved"], &[]),
                );
            }
            Fate::ApprovedWithoutRequest => {
                push(
                    decided,
                    member,
                    set(&mut labels, &["backport-approved"], &[]),
                );
            }
            Fate::ReRequested => {
                push(requested, dev, set(&mut labels, &["backport-v23"], &[]));
                decisions.push(local(
                    "reject",
                    member.0,
                    decided,
                    "Not needed for the steps that remain.",
                    None,
                ));
                push(
                    decided + Duration::minutes(5),
                    BOT,
                    set(&mut labels, &[], &["backport-v23"]),
                );
                push(
                    decided + Duration::days(9),
                    dev,
                    set(&mut labels, &["backport-v23"], &[]),
                );
                showcase = key.clone();
            }
            Fate::UnknownLabel => {
                push(requested, dev, set(&mut labels, &["backport-v23"], &[]));
                push(
                    requested + Duration::hours(3),
                    dev,
                    set(&mut labels, &["backport-v24"], &[]),
                );
            }
        }

        // Jira histories: newest first, each with the whole label set before and after.
        let mut histories = Vec::new();
        let mut before = vec!["pipelines".to_string()];
        let mut updated = created;
        for (at, who, after) in &hist {
            history_id += rng.gen_range(1..40);
            histories.push(json!({
                "id": history_id.to_string(),
                "author": user(*who),
                "created": at.with_timezone(&tz).format("%Y-%m-%dT%H:%M:%S%.3f%z").to_string(),
                "items": [{
                    "field": "labels", "fieldtype": "jira", "fieldId": "labels",
                    "from": null, "fromString": before.join(" "),
                    "to": null, "toString": after.join(" ")
                }]
            }));
            before = after.clone();
            updated = updated.max(*at);
        }
        histories.reverse();
        let status = match fate {
            Fate::Done | Fate::DoneWithoutApproval => "Done",
            Fate::Rejected | Fate::Withdrawn => "Done",
            _ => "Reviewed",
        };
        let id = 400_000 + num;
        let jira_time = |t: DateTime<Utc>| {
            t.with_timezone(&tz)
                .format("%Y-%m-%dT%H:%M:%S%.3f%z")
                .to_string()
        };
        issues.push(json!({
            "expand": "operations,versionedRepresentations,editmeta,changelog,renderedFields",
            "id": id.to_string(),
            "self": format!("https://jira.example.org/rest/api/2/issue/{id}"),
            "key": key,
            "fields": {
                "summary": summary,
                "status": { "name": status },
                "labels": labels,
                "assignee": user(dev),
                "reporter": user(dev),
                "components": repos.iter().map(|r| json!({ "name": r })).collect::<Vec<_>>(),
                "fixVersions": [],
                "created": jira_time(created),
                "updated": jira_time(updated),
            },
            "changelog": { "startAt": 0, "maxResults": histories.len(), "total": histories.len(), "histories": histories }
        }));
    }
    let export = json!({
        "expand": "schema,names",
        "startAt": 0,
        "maxResults": 100,
        "total": issues.len(),
        "issues": issues,
    });
    DemoData {
        export,
        decisions,
        showcase,
    }
}

fn user((name, display): (&str, &str)) -> Value {
    json!({
        "self": format!("https://jira.example.org/rest/api/2/user?username={name}"),
        "name": name,
        "key": name,
        "displayName": display,
        "active": true,
        "timeZone": "America/Phoenix"
    })
}

/// How the demo's tickets reach the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// Import the generated export file.
    File,
    /// Serve it from the Jira-compatible test server and sync over HTTP, then push the
    /// committee's decisions back to it.
    Jira,
}

/// What the demo did over HTTP.
#[derive(Debug, Clone)]
pub struct JiraDemo {
    pub url: String,
    pub sync: crate::sync::live::SyncReport,
    pub push: crate::sync::push::PushReport,
}

/// Create the demo workspace and return its config path and the showcase ticket.
pub fn build(dir: &Path) -> Result<(PathBuf, String)> {
    build_with(dir, Feed::File).map(|(c, s, _)| (c, s))
}

/// Create the demo workspace, feeding it from a file or from the test Jira server.
pub fn build_with(dir: &Path, feed: Feed) -> Result<(PathBuf, String, Option<JiraDemo>)> {
    prepare_dir(dir)?;
    let config = init(dir, BUILTIN_V23, Some("Mara Lindqvist"))?;
    std::fs::write(
        dir.join(MARKER),
        "This directory was made by `portcullis demo` and is rebuilt by it.\n",
    )?;
    let data = generate(now());
    let export_path = dir.join("jira-export.json");
    let text =
        serde_json::to_string_pretty(&data.export).map_err(|e| Error::internal(e.to_string()))?;
    std::fs::write(&export_path, &text)?;
    let policy = load_policy(&dir.join("policy.toml"))?;
    let mut ledger = Ledger::open(&dir.join("ledger.db"))?;
    if feed == Feed::File {
        crate::sync::import::import_files(
            &mut ledger,
            &policy,
            &[("jira-export.json".into(), text.into_bytes())],
        )?;
        ledger.append_all(&policy, data.decisions)?;
        repos::build(dir, &ledger, REPOS)?;
        return Ok((config, data.showcase, None));
    }
    let issues = data
        .export
        .get("issues")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let keys: Vec<String> = issues
        .iter()
        .filter_map(|i| i.get("key").and_then(Value::as_str).map(str::to_string))
        .collect();
    let jira = sync_from_test_server(&mut ledger, &policy, issues, keys, data.decisions)?;
    repos::build(dir, &ledger, REPOS)?;
    Ok((config, data.showcase, Some(jira)))
}

/// Start the test server with the demo's tickets, sync from it, record the decisions and push
/// them back. The server lives as long as this call.
fn sync_from_test_server(
    ledger: &mut Ledger,
    policy: &crate::domain::policy::LoadedPolicy,
    issues: Vec<Value>,
    keys: Vec<String>,
    decisions: Vec<crate::domain::event::NewEvent>,
) -> Result<JiraDemo> {
    use crate::sync::credentials::{JiraCredentials, Secret};
    use crate::testkit::jira_server::{Config, Flavor, JiraServer, User};
    let token = "demo-token";
    let server = JiraServer::start(
        Config {
            flavor: Flavor::DataCenter,
            users: vec![User {
                name: "portcullis-bot".into(),
                account_id: "557058:portcullis-bot".into(),
                display_name: "portcullis bot".into(),
                email: "bot@example.org".into(),
                token: token.into(),
            }],
            ..Config::data_center()
        },
        issues,
        0,
    )
    .map_err(|e| Error::internal(format!("cannot start the demo Jira server: {e}")))?;
    let url = server.url();
    let rt = crate::ops::tracker::runtime()?;
    let (sync, push) = rt.block_on(async {
        let creds = JiraCredentials {
            email: None,
            token: Secret::new(token),
            origin: "the demo".into(),
        };
        let (client, me) = crate::sync::jira_client::JiraClient::connect(
            &url,
            None,
            Some(creds),
            Default::default(),
        )
        .await?;
        let sync = crate::sync::live::sync_jira(
            ledger,
            policy,
            &client,
            &crate::sync::live::LiveOptions {
                extra_keys: keys,
                ..Default::default()
            },
            &crate::sync::live::Quiet,
        )
        .await?;
        ledger.append_all(policy, decisions)?;
        let me = me.ok_or_else(|| Error::internal("the demo server did not say who we are"))?;
        let push = crate::sync::push::push_jira(ledger, policy, &client, &me, &[], false).await?;
        Ok::<_, Error>((sync, push))
    })?;
    server.shutdown();
    Ok(JiraDemo { url, sync, push })
}

fn prepare_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)?.next().is_none();
        if dir.join(MARKER).exists() {
            std::fs::remove_dir_all(dir)?;
        } else if !empty {
            return Err(Error::input(format!(
                "{} exists and is not a portcullis demo",
                dir.display()
            ))
            .hint("choose another place with --dir, or use --temp"));
        }
    }
    std::fs::create_dir_all(dir)?;
    Ok(())
}

/// `portcullis demo`: build, then print the status.
pub fn run(dir: Option<PathBuf>, temp: bool, jira: bool) -> Result<u8> {
    let dir = match (dir, temp) {
        (_, true) => tempfile::Builder::new()
            .prefix("portcullis-demo-")
            .tempdir()?
            .keep(),
        (Some(d), false) => d,
        (None, false) => PathBuf::from("portcullis-demo"),
    };
    let feed = if jira { Feed::Jira } else { Feed::File };
    let (config, showcase, over_http) = build_with(&dir, feed)?;
    let ws = Workspace::resolve(&crate::ops::workspace::Locations {
        config: Some(config.clone()),
        ..Default::default()
    })?;
    let ledger = ws.open_ledger()?;
    let st = crate::ops::status(&ledger, &ws.policy, Some("v23"), None)?;
    let cfg = config.display();
    let how = match &over_http {
        None => "imported from jira-export.json".to_string(),
        Some(j) => format!(
            "synced over HTTP from a Jira-compatible test server at {} ({} issues in {} pages, {} events), then {} decision(s) pushed back to it as labels and comments ({} conflict(s))",
            j.url, j.sync.fetched, j.sync.pages, j.sync.new_events, j.push.pushed, j.push.conflicts
        ),
    };
    crate::cli::output::print(&format!(
        "Demo workspace: {}\n(80 generated tickets of the v23 line, {how}, with the committee's decisions)\n\n",
        dir.display()
    ))?;
    crate::cli::commands::status_text(&st)?;
    drop(ledger);
    let verified = crate::ops::verify::verify(
        &ws,
        &crate::ops::verify::VerifyOptions::default(),
        &crate::ops::verify::Quiet,
    )?;
    crate::cli::output::print(&format!(
        "\nGit: {} repositories under {}, checked against the ledger (`portcullis verify`):\n\n",
        verified.verification.summary.repositories,
        dir.join("repos").display()
    ))?;
    crate::cli::commands::verify_summary(&verified)?;
    crate::cli::output::print(&format!(
        "\nTry:\n  portcullis --config {cfg} verify --commits       # every release-branch commit and its match\n  portcullis --config {cfg} history {showcase}      # rejected, then requested again\n  portcullis --config {cfg} status --state withdrawn  # label removed, nothing recorded\n  portcullis --config {cfg} decide approve DM-… --note \"…\" --as \"Mara Lindqvist\"\n  portcullis --config {cfg} audit\n"
    ))?;
    Ok(0)
}
