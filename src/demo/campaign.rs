//! The demo's campaign: 80 tickets of the v23 line spread over every state, violations included,
//! their label histories as Jira would export them, and the committee's decisions; generated from
//! a fixed seed relative to the clock.

use chrono::{DateTime, Duration, FixedOffset, Utc, Weekday};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use portcullis_core::event::{kind, source, NewEvent};
use portcullis_core::time::last_weekday_on_or_before;

/// A generated label change: when, who (user name, display name), the label set after.
type LabelChange = (DateTime<Utc>, (&'static str, &'static str), Vec<String>);

pub(crate) const MARKER: &str = ".portcullis-demo";

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
pub(crate) const REPOS: &[&str] = &[
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
    pub(crate) issues: Vec<GenIssue>,
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
    pub(crate) key: String,
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
