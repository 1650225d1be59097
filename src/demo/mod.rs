//! The demo: a workspace with the v23 policy, a generated Jira export of 80 tickets spread over
//! every state (violations included), imported, plus the committee's recorded decisions.
//!
//! Everything is generated from a fixed seed relative to the clock ([`crate::domain::time::now`],
//! fixed by `PORTCULLIS_NOW` in tests), so the same clock gives the same demo. The campaign is set
//! in the ten weeks before "now", with weekly Tuesday meetings.
//!
//! The campaign is replayed in two rounds around its first patch release ([`build_with`]): what
//! Jira and git looked like on the Friday after the seventh meeting, where 23.0.1 is cut, then
//! everything after. Drift and violations are placed after that Friday, so 23.0.1 passes its gate
//! and 23.0.2 shows every kind of blocker.

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

/// The generated demo data: the campaign's tickets, from which a Jira Data Center
/// `/rest/api/2/search?expand=changelog` response is rendered as of any moment.
pub struct DemoData {
    issues: Vec<GenIssue>,
    /// Decisions the committee recorded in portcullis.
    pub decisions: Vec<NewEvent>,
    /// An interesting ticket to show with `history`.
    pub showcase: String,
    /// When the first patch release (23.0.1) is cut: the Friday after the seventh meeting,
    /// once everything approved until then has landed.
    pub first_cut: DateTime<Utc>,
    tz: FixedOffset,
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
            // The violations come late in the campaign, after the first patch release: the
            // demo cuts 23.0.1 clean and shows them blocking 23.0.2.
            Fate::DoneWithoutApproval | Fate::ApprovedByOutsider | Fate::ApprovedWithoutRequest => {
                rng.gen_range(7..9)
            }
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

        // History ids are drawn here, in ticket order, so that every view of the export
        // (as of the first cut, and final) gives a history the same id.
        let hist: Vec<GenHistory> = hist
            .into_iter()
            .map(|(at, who, after)| {
                history_id += rng.gen_range(1..40);
                GenHistory {
                    id: history_id,
                    at,
                    who,
                    after,
                }
            })
            .collect();
        let status = match fate {
            Fate::Done | Fate::DoneWithoutApproval => "Done",
            Fate::Rejected | Fate::Withdrawn => "Done",
            _ => "Reviewed",
        };
        issues.push(GenIssue {
            key,
            id: 400_000 + num,
            summary,
            status,
            dev,
            repos,
            created,
            hist,
        });
    }
    DemoData {
        issues,
        decisions,
        showcase,
        first_cut: at_meeting(meetings[6] + Duration::days(3), 0),
        tz,
    }
}

/// One generated label change: its Jira history id, when, who, and the label set after it.
struct GenHistory {
    id: u64,
    at: DateTime<Utc>,
    who: (&'static str, &'static str),
    after: Vec<String>,
}

/// A generated ticket, from which the export is rendered as of any moment.
pub struct GenIssue {
    key: String,
    id: u32,
    summary: &'static str,
    status: &'static str,
    dev: (&'static str, &'static str),
    repos: Vec<&'static str>,
    created: DateTime<Utc>,
    hist: Vec<GenHistory>,
}

/// A label edit made in Jira after a moment, to replay on the test server.
pub struct Edit {
    pub at: DateTime<Utc>,
    pub key: String,
    pub user: &'static str,
    pub add: Vec<String>,
    pub remove: Vec<String>,
}

impl DemoData {
    /// The Jira search response (Data Center, `expand=changelog`) as it stood at `asof`
    /// (`None`: now): tickets created later are absent, later label changes not yet made.
    pub fn export(&self, asof: Option<DateTime<Utc>>) -> Value {
        let issues: Vec<Value> = self
            .issues
            .iter()
            .filter_map(|i| self.issue_json(i, asof))
            .collect();
        json!({
            "expand": "schema,names",
            "startAt": 0,
            "maxResults": 100,
            "total": issues.len(),
            "issues": issues,
        })
    }

    fn jira_time(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.tz)
            .format("%Y-%m-%dT%H:%M:%S%.3f%z")
            .to_string()
    }

    fn issue_json(&self, i: &GenIssue, asof: Option<DateTime<Utc>>) -> Option<Value> {
        let seen = |t: DateTime<Utc>| asof.is_none_or(|a| t <= a);
        if !seen(i.created) {
            return None;
        }
        // Jira histories: newest first, each with the whole label set before and after.
        let mut histories = Vec::new();
        let mut before = vec!["pipelines".to_string()];
        let mut updated = i.created;
        let mut complete = true;
        for h in &i.hist {
            if !seen(h.at) {
                complete = false;
                break;
            }
            histories.push(json!({
                "id": h.id.to_string(),
                "author": user(h.who),
                "created": self.jira_time(h.at),
                "items": [{
                    "field": "labels", "fieldtype": "jira", "fieldId": "labels",
                    "from": null, "fromString": before.join(" "),
                    "to": null, "toString": h.after.join(" ")
                }]
            }));
            before = h.after.clone();
            updated = updated.max(h.at);
        }
        histories.reverse();
        let status = if complete { i.status } else { "Reviewed" };
        Some(json!({
            "expand": "operations,versionedRepresentations,editmeta,changelog,renderedFields",
            "id": i.id.to_string(),
            "self": format!("https://jira.example.org/rest/api/2/issue/{}", i.id),
            "key": i.key,
            "fields": {
                "summary": i.summary,
                "status": { "name": status },
                "labels": before,
                "assignee": user(i.dev),
                "reporter": user(i.dev),
                "components": i.repos.iter().map(|r| json!({ "name": r })).collect::<Vec<_>>(),
                "fixVersions": [],
                "created": self.jira_time(i.created),
                "updated": self.jira_time(updated),
            },
            "changelog": { "startAt": 0, "maxResults": histories.len(), "total": histories.len(), "histories": histories }
        }))
    }

    /// What happened in Jira after `after`, oldest first: tickets created (whole, as they are
    /// now) and label edits of the tickets that existed then.
    pub fn replay_after(&self, after: DateTime<Utc>) -> (Vec<Value>, Vec<Edit>) {
        let mut created = Vec::new();
        let mut edits = Vec::new();
        for i in &self.issues {
            if i.created > after {
                created.extend(self.issue_json(i, None));
                continue;
            }
            let mut before: Vec<String> = vec!["pipelines".into()];
            for h in &i.hist {
                if h.at > after {
                    edits.push(Edit {
                        at: h.at,
                        key: i.key.clone(),
                        user: h.who.0,
                        add: h
                            .after
                            .iter()
                            .filter(|l| !before.contains(l))
                            .cloned()
                            .collect(),
                        remove: before
                            .iter()
                            .filter(|l| !h.after.contains(l))
                            .cloned()
                            .collect(),
                    });
                }
                before = h.after.clone();
            }
        }
        edits.sort_by_key(|e| e.at);
        (created, edits)
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

/// What the demo did over HTTP, summed over its two rounds (before and after the first cut).
#[derive(Debug, Clone, Default)]
pub struct JiraDemo {
    pub url: String,
    pub fetched: u64,
    pub pages: u64,
    pub new_events: u64,
    pub pushed: usize,
    pub conflicts: usize,
}

/// The demo workspace, once built.
pub struct Built {
    pub config: PathBuf,
    /// An interesting ticket to show with `history`.
    pub showcase: String,
    pub jira: Option<JiraDemo>,
    /// The first patch release, cut in the middle of the campaign.
    pub first_cut: crate::ops::release::CutReport,
    pub first_cut_at: DateTime<Utc>,
}

/// The version the demo cuts mid-campaign.
pub const FIRST_PATCH: &str = "23.0.1";
/// The version the demo shows blocked.
pub const NEXT_PATCH: &str = "23.0.2";

/// Create the demo workspace and return its config path and the showcase ticket.
pub fn build(dir: &Path) -> Result<(PathBuf, String)> {
    build_with(dir, Feed::File).map(|b| (b.config, b.showcase))
}

/// Create the demo workspace, feeding it from a file or from the test Jira server.
///
/// The campaign is replayed in two rounds. Round one: the tickets and decisions as they stood
/// when 23.0.1 was cut, the repositories up to then, and the cut itself (which must pass).
/// Round two: everything after, up to now.
pub fn build_with(dir: &Path, feed: Feed) -> Result<Built> {
    prepare_dir(dir)?;
    let config = init(dir, BUILTIN_V23, Some("Mara Lindqvist"))?;
    std::fs::write(
        dir.join(MARKER),
        "This directory was made by `portcullis demo` and is rebuilt by it.\n",
    )?;
    let data = generate(now());
    let cut_at = data.first_cut;
    let pretty =
        |v: &Value| serde_json::to_string_pretty(v).map_err(|e| Error::internal(e.to_string()));
    let full = pretty(&data.export(None))?;
    std::fs::write(dir.join("jira-export.json"), &full)?;
    let policy = load_policy(&dir.join("policy.toml"))?;
    // The repositories' story is planned from the campaign's final state.
    let plan = {
        let mut scratch = Ledger::in_memory()?;
        crate::sync::import::import_files(
            &mut scratch,
            &policy,
            &[("jira-export.json".into(), full.clone().into_bytes())],
        )?;
        scratch.append_all(&policy, data.decisions.clone())?;
        repos::Plan::new(&scratch, cut_at)?
    };
    let (early, late): (Vec<NewEvent>, Vec<NewEvent>) =
        data.decisions.iter().cloned().partition(|d| d.at <= cut_at);
    let mut git = repos::Builder::create(dir, REPOS)?;
    let ledger_path = dir.join("ledger.db");
    let cut = |git: &mut repos::Builder| -> Result<crate::ops::release::CutReport> {
        git.advance(&plan, cut_at)?;
        cut_first(&config, cut_at)
    };
    let (first_cut, jira) = match feed {
        Feed::File => {
            let name = format!("jira-export-{}.json", cut_at.date_naive());
            let text = pretty(&data.export(Some(cut_at)))?;
            std::fs::write(dir.join(&name), &text)?;
            {
                let mut ledger = Ledger::open(&ledger_path)?;
                crate::sync::import::import_files(
                    &mut ledger,
                    &policy,
                    &[(name, text.into_bytes())],
                )?;
                ledger.append_all(&policy, early)?;
            }
            let first = cut(&mut git)?;
            let mut ledger = Ledger::open(&ledger_path)?;
            crate::sync::import::import_files(
                &mut ledger,
                &policy,
                &[("jira-export.json".into(), full.into_bytes())],
            )?;
            ledger.append_all(&policy, late)?;
            (first, None)
        }
        Feed::Jira => {
            let (first, jira) =
                over_http(&ledger_path, &policy, &data, early, late, || cut(&mut git))?;
            (first, Some(jira))
        }
    };
    git.advance(&plan, now())?;
    Ok(Built {
        config,
        showcase: data.showcase,
        jira,
        first_cut,
        first_cut_at: cut_at,
    })
}

/// Cut 23.0.1 at `at`: the gate must pass, since everything approved by then has landed.
fn cut_first(config: &Path, at: DateTime<Utc>) -> Result<crate::ops::release::CutReport> {
    let ws = Workspace::resolve(&crate::ops::workspace::Locations {
        config: Some(config.to_path_buf()),
        ..Default::default()
    })?;
    let report = crate::ops::release::cut(
        &ws,
        &crate::ops::release::CutOptions {
            version: FIRST_PATCH.into(),
            apply: true,
            at: Some(at),
            ..Default::default()
        },
    )?;
    if !report.blockers.is_empty() {
        let why: Vec<String> = report.blockers.iter().map(|b| b.message.clone()).collect();
        return Err(Error::internal(format!(
            "the demo's {FIRST_PATCH} does not pass its gate: {}",
            why.join("; ")
        )));
    }
    Ok(report)
}

/// Both rounds over HTTP: start the test server with the tickets as they stood at the first
/// cut, sync, record and push the decisions, cut; then replay Jira's later history on the
/// server (new tickets, label edits at their times), sync again, record and push the rest.
/// The server lives as long as this call.
fn over_http(
    ledger_path: &Path,
    policy: &crate::domain::policy::LoadedPolicy,
    data: &DemoData,
    early: Vec<NewEvent>,
    late: Vec<NewEvent>,
    cut: impl FnOnce() -> Result<crate::ops::release::CutReport>,
) -> Result<(crate::ops::release::CutReport, JiraDemo)> {
    use crate::sync::credentials::{JiraCredentials, Secret};
    use crate::testkit::jira_server::{Config, Flavor, JiraServer, User};
    let token = "demo-token";
    let issues_of = |v: Value| {
        v.get("issues")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
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
        issues_of(data.export(Some(data.first_cut))),
        0,
    )
    .map_err(|e| Error::internal(format!("cannot start the demo Jira server: {e}")))?;
    let url = server.url();
    let keys: Vec<String> = data.issues.iter().map(|i| i.key.clone()).collect();
    let rt = crate::ops::tracker::runtime()?;
    let round = |decisions: Vec<NewEvent>, full: bool, report: &mut JiraDemo| {
        rt.block_on(async {
            let mut ledger = Ledger::open(ledger_path)?;
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
                &mut ledger,
                policy,
                &client,
                &crate::sync::live::LiveOptions {
                    full,
                    extra_keys: keys.clone(),
                    ..Default::default()
                },
                &crate::sync::live::Quiet,
            )
            .await?;
            ledger.append_all(policy, decisions)?;
            let me = me.ok_or_else(|| Error::internal("the demo server did not say who we are"))?;
            let push =
                crate::sync::push::push_jira(&mut ledger, policy, &client, &me, &[], false).await?;
            report.fetched += sync.fetched;
            report.pages += sync.pages;
            report.new_events += sync.new_events + push.new_events;
            report.pushed += push.pushed;
            report.conflicts += push.conflicts;
            Ok::<_, Error>(())
        })
    };
    let mut report = JiraDemo {
        url: url.clone(),
        ..Default::default()
    };
    round(early, false, &mut report)?;
    let first = cut()?;
    let (created, edits) = data.replay_after(data.first_cut);
    server.add_issues(created);
    for e in &edits {
        server.set_now(Some(e.at));
        let add: Vec<&str> = e.add.iter().map(String::as_str).collect();
        let remove: Vec<&str> = e.remove.iter().map(String::as_str).collect();
        server.edit_labels(&e.key, e.user, &add, &remove);
    }
    server.set_now(None);
    // Round two: decisions recorded since the first cut (including the cut's own `done`
    // decisions) are pushed with the rest.
    round(late, true, &mut report)?;
    server.shutdown();
    Ok((first, report))
}

/// `demo --notify`: start a local chat receiver, post the digest to it as a generic JSON
/// webhook, and say what it received.
fn post_digest(ws: &Workspace) -> Result<String> {
    use crate::notify::{Kind, Poster, PosterConfig, Secret, Target};
    let server = crate::testkit::chat_server::ChatServer::start();
    let target = Target {
        name: "demo-receiver".into(),
        kind: Kind::Webhook,
        url: Secret::new(format!("{}/hooks/demo", server.url())),
        room: None,
        token: None,
        min_interval: None,
    };
    let poster =
        Poster::new(PosterConfig::default()).map_err(|e| Error::internal(e.to_string()))?;
    let rt = crate::ops::tracker::runtime()?;
    let report = rt.block_on(crate::ops::notify::notify(
        ws,
        &poster,
        std::slice::from_ref(&target),
        &crate::ops::notify::NotifyOptions {
            line: Some("v23".into()),
            digest_only: true,
            force: true,
            ..Default::default()
        },
        now(),
    ))?;
    let got = server.messages();
    server.shutdown();
    let mut s =
        String::from("\nChat: the digest, posted to a local receiver (`portcullis notify`):\n\n");
    if let Some(m) = &report.digest {
        s.push_str(&crate::ops::digest::to_text(m));
    }
    let bytes: usize = got.iter().map(|r| r.body.to_string().len()).sum();
    s.push_str(&format!(
        "\nThe receiver got {} message(s) ({bytes} bytes of JSON); the post is recorded in the ledger, so `notify` will not send it again.\n",
        got.len()
    ));
    Ok(s)
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

/// `portcullis demo`: build, print the status, the verification and the releases; then, in a
/// terminal (and with `triage`), open the triage screen on the demo ledger.
pub fn run(dir: Option<PathBuf>, temp: bool, jira: bool, triage: bool, notify: bool) -> Result<u8> {
    let dir = match (dir, temp) {
        (_, true) => tempfile::Builder::new()
            .prefix("portcullis-demo-")
            .tempdir()?
            .keep(),
        (Some(d), false) => d,
        (None, false) => PathBuf::from("portcullis-demo"),
    };
    let feed = if jira { Feed::Jira } else { Feed::File };
    let built = build_with(&dir, feed)?;
    let (config, showcase, over_http) = (built.config.clone(), built.showcase.clone(), &built.jira);
    let ws = Workspace::resolve(&crate::ops::workspace::Locations {
        config: Some(config.clone()),
        ..Default::default()
    })?;
    let ledger = ws.open_ledger()?;
    let st = crate::ops::status(&ledger, &ws.policy, Some("v23"), None)?;
    let cfg = config.display();
    let how = match over_http {
        None => "imported from jira-export.json".to_string(),
        Some(j) => format!(
            "synced over HTTP from a Jira-compatible test server at {} ({} issues in {} pages, {} events, in two rounds around the first patch release), with {} decision(s) pushed back to it as labels and comments ({} conflict(s))",
            j.url, j.fetched, j.pages, j.new_events, j.pushed, j.conflicts
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
    // The releases: 23.0.1 cut mid-campaign, and what holds up 23.0.2 now.
    let first = &built.first_cut;
    crate::cli::output::print(&format!(
        "\nReleases: {FIRST_PATCH} was cut on {} from what had landed by then: {} repositories tagged, {} ticket(s), manifest {} (`portcullis release show {FIRST_PATCH}`, files in {}).\n",
        built.first_cut_at.format("%Y-%m-%d"),
        first.manifest.repos.len(),
        first.manifest.tickets.len(),
        first.manifest.build,
        dir.join("releases").join(&first.manifest.tag).display(),
    ))?;
    let next = crate::ops::release::cut(
        &ws,
        &crate::ops::release::CutOptions {
            version: NEXT_PATCH.into(),
            ..Default::default()
        },
    )?;
    crate::cli::output::print(&format!(
        "\n`portcullis cut {NEXT_PATCH}` (dry run) would tag {} repositories with {} ticket(s) since {FIRST_PATCH}, but:\n{}",
        next.manifest.repos.len(),
        next.manifest.tickets.len(),
        crate::cli::commands::release::gate_text(&next)
    ))?;
    crate::cli::output::print(&format!(
        "\nTry:\n  portcullis --config {cfg} verify --commits       # every release-branch commit and its match\n  portcullis --config {cfg} cut {NEXT_PATCH}            # the gate, with every reason\n  portcullis --config {cfg} release show {FIRST_PATCH}  # the manifest and notes of the first patch release\n  portcullis --config {cfg} history {showcase}      # rejected, then requested again\n  portcullis --config {cfg} status --state withdrawn  # label removed, nothing recorded\n  portcullis --config {cfg} decide approve DM-… --note \"…\" --as \"Mara Lindqvist\"\n  portcullis --config {cfg} audit\n"
    ))?;
    if notify {
        crate::cli::output::print(&post_digest(&ws)?)?;
    }
    use std::io::IsTerminal;
    if triage && std::io::stdout().is_terminal() && std::io::stdin().is_terminal() {
        crate::cli::output::print(&format!(
            "  portcullis --config {cfg} triage                 # the committee's screen, opening now\n"
        ))?;
        let actor = ws.actor(None)?;
        return crate::triage::run(
            &ws,
            crate::triage::TriageOptions {
                line: Some("v23".into()),
                actor,
                ..Default::default()
            },
        );
    }
    crate::cli::output::print(&format!(
        "  portcullis --config {cfg} triage                 # the committee's screen (in a terminal)\n"
    ))?;
    Ok(0)
}
