//! The demo's campaign: 80 tickets of the v23 line spread over every state, violations included,
//! their label histories as Jira would export them, and the committee's decisions; generated from
//! a fixed seed relative to the clock.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc, Weekday};
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
///
/// Every draw from the seeded generator happens in a fixed order (ticket numbers, fates, then
/// ticket by ticket: its people and dates, its story, its history ids): the same clock gives
/// the same demo, byte for byte.
pub fn generate(now: DateTime<Utc>) -> DemoData {
    let mut rng = ChaCha8Rng::seed_from_u64(23);
    let cal = Calendar::new(now);
    let tz = FixedOffset::west_opt(7 * 3600).expect("valid offset"); // Tucson: the project's Jira time zone
    let keys = draw_keys(&mut rng);
    let fates = draw_fates(&mut rng);

    let mut issues = Vec::new();
    let mut decisions = Vec::new();
    let mut showcase = String::new();
    let mut history_id = 3_000_000u64;
    for (i, (num, fate)) in keys.iter().zip(fates.iter()).enumerate() {
        let key = format!("DM-{num}");
        let d = Draws::new(&mut rng, &cal, *fate);
        let mut story = Story::new(&key, &mut decisions);
        if story.tell(*fate, i, &d, &cal, &mut rng) {
            showcase = key.clone();
        }
        let hist = story.numbered(&mut rng, &mut history_id);
        issues.push(GenIssue {
            key,
            id: 400_000 + num,
            summary: SUMMARIES[i % SUMMARIES.len()],
            status: final_status(*fate),
            dev: d.dev,
            repos: d.repos,
            created: d.created,
            hist,
        });
    }
    decisions.extend(meeting_events(&cal));
    DemoData {
        issues,
        decisions,
        showcase,
        first_cut: Calendar::at_meeting(cal.meetings[6] + Duration::days(3), 0),
        tz,
    }
}

/// The campaign's ten weekly Tuesday meetings, the last one before the clock's day.
struct Calendar {
    last_meeting: NaiveDate,
    /// Oldest first; the last is `last_meeting`.
    meetings: Vec<NaiveDate>,
}

impl Calendar {
    fn new(now: DateTime<Utc>) -> Self {
        let today = now.date_naive();
        let last_meeting = last_weekday_on_or_before(today - Duration::days(1), Weekday::Tue);
        let meetings = (0..10)
            .rev()
            .map(|w| last_meeting - Duration::weeks(w))
            .collect();
        Calendar {
            last_meeting,
            meetings,
        }
    }

    /// `minutes` after the start of a meeting on day `d` (16:00 UTC).
    fn at_meeting(d: NaiveDate, minutes: i64) -> DateTime<Utc> {
        let t = d.and_hms_opt(16, 0, 0).expect("valid time").and_utc();
        t + Duration::minutes(minutes)
    }
}

/// The campaign's meetings as the ledger records them: each a quorate sitting (the whole
/// committee, chaired by Mara Lindqvist) opened just before its decisions and closed after, so
/// that the minutes, the triage screen's "last meeting" and the decisions agree.
fn meeting_events(cal: &Calendar) -> Vec<NewEvent> {
    let attendees: Vec<&str> = COMMITTEE.iter().map(|(_, name)| *name).collect();
    let event = |kind, d: NaiveDate, minutes, payload| NewEvent {
        ticket: None,
        line: Some("v23".into()),
        kind,
        source: source::LOCAL.into(),
        actor: Some(COMMITTEE[0].1.into()),
        at: Calendar::at_meeting(d, minutes),
        meeting: Some(d),
        note: None,
        payload,
        dedup_key: Some(format!("demo:meeting:{d}:{minutes}")),
    };
    cal.meetings
        .iter()
        .flat_map(|d| {
            [
                event(
                    kind::MEETING_OPENED,
                    *d,
                    -1,
                    json!({ "date": d.to_string(), "sitting": 1, "attendees": attendees,
                            "quorum": 3, "chair": COMMITTEE[0].1 }),
                ),
                event(
                    kind::MEETING_CLOSED,
                    *d,
                    120,
                    json!({ "date": d.to_string(), "sitting": 1 }),
                ),
            ]
        })
        .collect()
}

/// 80 distinct ticket numbers, ascending.
fn draw_keys(rng: &mut ChaCha8Rng) -> Vec<u32> {
    let mut keys: Vec<u32> = Vec::new();
    while keys.len() < 80 {
        let k = rng.gen_range(32000..34500);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.sort_unstable();
    keys
}

/// The fates of [`PLAN`], shuffled.
fn draw_fates(rng: &mut ChaCha8Rng) -> Vec<Fate> {
    let mut fates: Vec<Fate> = PLAN
        .iter()
        .flat_map(|(f, n)| std::iter::repeat_n(*f, *n))
        .collect();
    fates.shuffle(rng);
    fates
}

/// The status a ticket of this fate ends in.
fn final_status(fate: Fate) -> &'static str {
    match fate {
        Fate::Done | Fate::DoneWithoutApproval => "Done",
        Fate::Rejected | Fate::Withdrawn => "Done",
        _ => "Reviewed",
    }
}

/// What one ticket draws before its story: its people, repositories and dates.
struct Draws {
    dev: (&'static str, &'static str),
    member: (&'static str, &'static str),
    repos: Vec<&'static str>,
    created: DateTime<Utc>,
    requested: DateTime<Utc>,
    /// The meeting (index into [`Calendar::meetings`]) that decides on it.
    decide_week: usize,
    decided: DateTime<Utc>,
}

impl Draws {
    fn new(rng: &mut ChaCha8Rng, cal: &Calendar, fate: Fate) -> Self {
        let dev = DEVELOPERS[rng.gen_range(0..DEVELOPERS.len())];
        let member = COMMITTEE[rng.gen_range(0..COMMITTEE.len())];
        let n_repos = if rng.gen_bool(0.25) {
            rng.gen_range(2..=3)
        } else {
            1
        };
        let mut repos: Vec<&str> = REPOS.choose_multiple(rng, n_repos).copied().collect();
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
            Calendar::at_meeting(cal.last_meeting, rng.gen_range(24 * 60..5 * 24 * 60))
        } else {
            Calendar::at_meeting(cal.meetings[req_week], -rng.gen_range(24 * 60..5 * 24 * 60))
        };
        let requested = created + Duration::hours(rng.gen_range(1..48));
        let decide_week = (req_week + 1).min(9);
        let decided = Calendar::at_meeting(cal.meetings[decide_week], rng.gen_range(0..90));
        Draws {
            dev,
            member,
            repos,
            created,
            requested,
            decide_week,
            decided,
        }
    }
}

/// One ticket's story as it is told: its label changes in Jira and the committee's decisions
/// recorded in portcullis.
struct Story<'a> {
    key: &'a str,
    labels: Vec<String>,
    hist: Vec<LabelChange>,
    decisions: &'a mut Vec<NewEvent>,
}

impl<'a> Story<'a> {
    fn new(key: &'a str, decisions: &'a mut Vec<NewEvent>) -> Self {
        Story {
            key,
            labels: vec!["pipelines".into()],
            hist: Vec::new(),
            decisions,
        }
    }

    /// `who` adds and removes labels at `at`.
    fn label(
        &mut self,
        at: DateTime<Utc>,
        who: (&'static str, &'static str),
        add: &[&str],
        remove: &[&str],
    ) {
        self.labels.retain(|l| !remove.contains(&l.as_str()));
        for a in add {
            if !self.labels.iter().any(|l| l == a) {
                self.labels.push(a.to_string());
            }
        }
        self.hist.push((at, who, self.labels.clone()));
    }

    /// A decision recorded in portcullis on the v23 line.
    fn decide(
        &mut self,
        decision: &str,
        actor: &str,
        at: DateTime<Utc>,
        note: &str,
        until: Option<NaiveDate>,
    ) {
        let key = self.key;
        self.decisions.push(NewEvent {
            ticket: Some(key.to_string()),
            line: Some("v23".into()),
            kind: kind::DECISION,
            source: source::LOCAL.into(),
            actor: Some(actor.into()),
            at,
            meeting: Some(at.date_naive()),
            note: Some(note.into()),
            payload: json!({ "decision": decision, "until": until.map(|u| u.to_string()), "forced": false }),
            dedup_key: Some(format!("demo:{key}:{decision}:{}", at.timestamp())),
        });
    }

    /// Tell the story of ticket `i` of this fate; true for the showcase (the re-requested one).
    fn tell(
        &mut self,
        fate: Fate,
        i: usize,
        d: &Draws,
        cal: &Calendar,
        rng: &mut ChaCha8Rng,
    ) -> bool {
        let (dev, member, requested, decided) = (d.dev, d.member, d.requested, d.decided);
        const REQUEST: &[&str] = &["backport-v23"];
        if fate != Fate::ApprovedWithoutRequest {
            self.label(requested, dev, REQUEST, &[]);
        }
        match fate {
            Fate::Done | Fate::Approved => {
                if rng.gen_bool(0.5) {
                    self.decide(
                        "approve",
                        member.0,
                        decided,
                        "Fixes a failure seen in the campaign; low risk.",
                        None,
                    );
                    let at = decided + Duration::minutes(5);
                    self.label(at, BOT, &["backport-approved"], &[]);
                } else {
                    self.label(decided, member, &["backport-approved"], &[]);
                }
                if fate == Fate::Done {
                    let landed = decided + Duration::days(rng.gen_range(1..6));
                    self.label(landed, dev, &["backport-done"], &[]);
                }
            }
            Fate::Requested | Fate::NewRequest => {}
            Fate::Rejected => {
                let reasons = [
                    "Changes the output schema mid-campaign; wait for v24.",
                    "Only affects a camera not used in DP0.2.",
                    "Too large to backport safely; the workaround is documented.",
                    "Behaviour change would make step results inconsistent.",
                ];
                self.decide(
                    "reject",
                    member.0,
                    decided,
                    reasons[i % reasons.len()],
                    None,
                );
                self.label(decided + Duration::minutes(5), BOT, &[], REQUEST);
            }
            Fate::Deferred => {
                let until = cal.meetings[d.decide_week] + Duration::weeks(rng.gen_range(2..5));
                let note = "Only needed if the coadd step shows the problem.";
                self.decide("defer", member.0, decided, note, Some(until));
            }
            Fate::NeedsInfo => {
                let note = "Which steps are affected, and is there a workaround?";
                self.decide("needs-info", member.0, decided, note, None);
            }
            Fate::Withdrawn => self.label(decided, member, &[], REQUEST),
            Fate::DoneWithoutApproval => {
                let at = requested + Duration::days(2);
                self.label(at, dev, &["backport-done"], &[]);
            }
            Fate::ApprovedByOutsider => {
                let at = requested + Duration::days(1);
                self.label(at, OUTSIDER, &["backport-approved"], &[]);
            }
            Fate::ApprovedWithoutRequest => {
                self.label(decided, member, &["backport-approved"], &[]);
            }
            Fate::ReRequested => {
                let note = "Not needed for the steps that remain.";
                self.decide("reject", member.0, decided, note, None);
                self.label(decided + Duration::minutes(5), BOT, &[], REQUEST);
                self.label(decided + Duration::days(9), dev, REQUEST, &[]);
                return true;
            }
            Fate::UnknownLabel => {
                let at = requested + Duration::hours(3);
                self.label(at, dev, &["backport-v24"], &[]);
            }
        }
        false
    }

    /// The label changes with their Jira history ids. The ids are drawn here, in ticket order,
    /// so that every view of the export (as of the first cut, and final) gives a history the
    /// same id.
    fn numbered(self, rng: &mut ChaCha8Rng, history_id: &mut u64) -> Vec<GenHistory> {
        self.hist
            .into_iter()
            .map(|(at, who, after)| {
                *history_id += rng.gen_range(1..40);
                GenHistory {
                    id: *history_id,
                    at,
                    who,
                    after,
                }
            })
            .collect()
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
