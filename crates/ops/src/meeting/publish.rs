//! Minutes travel (issue 17): `minutes --publish` writes a meeting day's record to Confluence,
//! one page per line and date in the configured space, and `minutes --import` records on
//! another workspace the sittings it finds there.
//!
//! - **The page** is storage format (XHTML): every sitting with its attendees, chair, quorum,
//!   arrivals and departures, the decisions with their reasons and marks (provisional, ratified,
//!   the sitting), what was taken back, and the notes. Ticket text is escaped. At the end a
//!   collapsed code block holds the machine-readable copy of the sittings
//!   ([`portcullis_core::record::meeting`]: `portcullismeeting v1 …`, with a digest, so that a
//!   copy edited by hand is refused).
//! - **Publishing** creates the page, or updates it as a new version when its body changed; a
//!   stale version (409, someone edited it meanwhile) is re-read and retried.
//! - **Importing** reads every page of the space and records, for each *closed* sitting this
//!   workspace does not hold, `meeting.opened`, `meeting.joined` / `meeting.left` and
//!   `meeting.closed` at their original times (source `confluence`). Dedup keys name line, date,
//!   sitting and position, so importing twice adds nothing, and a sitting this workspace held
//!   itself (a local `meeting.opened`) is left alone: the origin adds nothing. A sitting still
//!   open where it was published is not imported (this workspace's decisions would otherwise
//!   join a sitting held elsewhere); publishing it again once closed brings it. The decisions
//!   themselves travel with the tickets (decision records, read by `sync`), and the minutes
//!   list them under their sitting.
//!
//! Import is a command of its own rather than part of `sync`: a sync that also wrote meetings
//! would need Confluence to be reachable for every tracker sync, and the meetings a workspace
//! records should be a choice made when it is wanted.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::json;

use super::{meetings, minutes, Minutes, SittingMinutes};
use crate::config::ConfluenceConfig;
use crate::credentials::{confluence_credentials, team_key};
use crate::workspace::Workspace;
use crate::{Error, Result};
use portcullis_core::event::{kind, Event, NewEvent};
use portcullis_core::record::meeting::{
    encode_meeting, find_meetings, AttendanceRecord, MeetingRecord, SittingRecord,
};
use portcullis_core::record::Rejection;
use portcullis_core::secret::Secret;
use portcullis_ledger::Ledger;
use portcullis_trackers::confluence::{escape, Confluence, ConfluenceOptions};

/// Where imported meeting events come from.
pub const SOURCE: &str = "confluence";

/// What `minutes --publish` did.
#[derive(Debug, Clone, Serialize)]
pub struct PublishReport {
    pub line: String,
    pub date: NaiveDate,
    pub title: String,
    pub page: String,
    pub version: u64,
    pub created: bool,
    pub unchanged: bool,
    /// Stale versions re-read and retried.
    pub stale_retries: u32,
}

/// What `minutes --import` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    /// Pages read.
    pub pages: usize,
    /// Meeting records found on them.
    pub records: usize,
    /// Sittings recorded: (line, date, sitting).
    pub added: Vec<(String, NaiveDate, u32)>,
    /// Events recorded.
    pub events: u64,
    /// Sittings this workspace already held.
    pub known: usize,
    /// Sittings still open where they were published: not imported.
    pub still_open: Vec<(String, NaiveDate, u32)>,
    /// Records of lines the policy does not have.
    pub other_lines: usize,
    /// Records refused: (page title, why).
    pub rejected: Vec<(String, String)>,
}

/// The page title of a line's meeting on a date (titles are unique per space).
pub fn page_title(line: &str, date: NaiveDate) -> String {
    format!("Backport committee {line}: meeting of {date}")
}

/// The machine-readable copy of a meeting day's sittings.
pub fn meeting_record(m: &Minutes) -> MeetingRecord {
    MeetingRecord {
        line: m.meeting.line.clone(),
        date: m.meeting.date,
        sittings: m
            .sittings
            .iter()
            .map(|s| {
                let mt = &s.meeting;
                SittingRecord {
                    sitting: mt.sitting,
                    attendees: mt.attendees.clone(),
                    quorum: mt.quorum,
                    chair: mt.chair.clone(),
                    opened_at: mt.opened_at,
                    closed_at: mt.closed_at,
                    changes: mt
                        .changes
                        .iter()
                        .map(|c| AttendanceRecord {
                            who: c.who.clone(),
                            joined: c.joined,
                            at: c.at,
                        })
                        .collect(),
                }
            })
            .collect(),
    }
}

fn row(s: &mut String, th: &str, td: &str) {
    s.push_str(&format!("<tr><th>{}</th><td>{td}</td></tr>", escape(th)));
}

fn render_sitting(s: &mut String, sm: &SittingMinutes) {
    let mt = &sm.meeting;
    s.push_str(&format!(
        "<h2>Sitting {} ({})</h2><table><tbody>",
        mt.sitting,
        if mt.is_open() { "still open" } else { "closed" }
    ));
    row(
        s,
        "Attendees",
        &if mt.attendees.is_empty() {
            "(none recorded)".to_string()
        } else {
            escape(&mt.attendees.join(", "))
        },
    );
    for c in &mt.changes {
        row(
            s,
            if c.joined { "Joined" } else { "Left" },
            &format!("{} at {}", escape(&c.who), c.at.format("%H:%M UTC")),
        );
    }
    if let (Some(q), Some(ok)) = (mt.quorum, mt.quorate()) {
        row(
            s,
            "Quorum",
            &format!(
                "{q} ({})",
                if ok {
                    "met"
                } else {
                    "NOT met: its decisions are provisional"
                }
            ),
        );
    }
    if let Some(c) = &mt.chair {
        row(s, "Chair", &escape(c));
    }
    for (seq, key, decision) in &sm.ratified {
        row(
            s,
            "Ratified",
            &format!(
                "{} {} (event {seq}, provisional until now)",
                escape(decision),
                escape(key)
            ),
        );
    }
    s.push_str("</tbody></table>");
}

/// The minutes as a Confluence storage-format page, with the machine-readable record at the
/// end. Every text from the ledger (ticket summaries, reasons, names) is escaped.
pub fn render_minutes_storage(m: &Minutes, key: Option<&Secret>) -> String {
    let mt = &m.meeting;
    let open = m.sittings.iter().any(|x| x.meeting.is_open());
    let mut s = format!(
        "<p><strong>Backport committee, {} ({}), {}</strong></p>",
        escape(&mt.line),
        mt.date,
        if open { "still open" } else { "closed" }
    );
    for sm in &m.sittings {
        render_sitting(&mut s, sm);
    }
    let total: usize = m.counts.values().sum();
    let counts: Vec<String> = m.counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
    s.push_str(&format!(
        "<h2>Decisions ({total}{})</h2>",
        if counts.is_empty() {
            String::new()
        } else {
            escape(&format!(": {}", counts.join(", ")))
        }
    ));
    let standing: Vec<_> = m.decisions.iter().filter(|d| !d.undone).collect();
    if standing.is_empty() {
        s.push_str("<p>None.</p>");
    } else {
        s.push_str("<table><tbody><tr><th>Ticket</th><th>Summary</th><th>Decision</th><th>Sitting</th><th>By</th><th>Reason</th></tr>");
        for d in &standing {
            let mut decision = d.decision.clone();
            if let Some(t) = &d.target {
                decision.push_str(&format!(" (for {t})"));
            }
            if let Some(u) = &d.until {
                decision.push_str(&format!(" (until {u})"));
            }
            if d.provisional {
                match &d.ratified_in {
                    Some(r) => decision.push_str(&format!(" (provisional, ratified in {r})")),
                    None => decision.push_str(" (provisional: below quorum, not ratified)"),
                }
            }
            s.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&d.key),
                escape(&d.summary),
                escape(&decision),
                d.sitting,
                escape(d.by.as_deref().unwrap_or("")),
                escape(d.reason.as_deref().unwrap_or("")),
            ));
        }
        s.push_str("</tbody></table>");
    }
    let undone: Vec<_> = m.decisions.iter().filter(|d| d.undone).collect();
    if !undone.is_empty() {
        s.push_str("<h2>Taken back during the meeting</h2><ul>");
        for d in undone {
            s.push_str(&format!(
                "<li>{} {} (event {})</li>",
                escape(&d.decision),
                escape(&d.key),
                d.seq
            ));
        }
        s.push_str("</ul>");
    }
    if !m.notes.is_empty() {
        s.push_str("<h2>Notes</h2><ul>");
        for (k, who, text) in &m.notes {
            s.push_str(&format!(
                "<li>{}: {}{}</li>",
                escape(k),
                escape(text),
                who.as_deref()
                    .map(|w| format!(" [{}]", escape(w)))
                    .unwrap_or_default()
            ));
        }
        s.push_str("</ul>");
    }
    // base64url and hex never contain `]]>`.
    s.push_str(&format!(
        "<ac:structured-macro ac:name=\"expand\"><ac:parameter ac:name=\"title\">Machine-readable record (portcullis)</ac:parameter><ac:rich-text-body><ac:structured-macro ac:name=\"code\"><ac:plain-text-body><![CDATA[{}]]></ac:plain-text-body></ac:structured-macro></ac:rich-text-body></ac:structured-macro>",
        encode_meeting(&meeting_record(m), key)
    ));
    s
}

fn config(ws: &Workspace) -> Result<ConfluenceConfig> {
    ws.config
        .as_ref()
        .and_then(|c| c.confluence.clone())
        .ok_or_else(|| {
            Error::input("no [confluence] is configured").hint(
                "add `[confluence]` with `url` and `space` (and optionally `parent`) to portcullis.toml",
            )
        })
}

fn client(ws: &Workspace, c: &ConfluenceConfig) -> Result<Confluence> {
    let credentials = confluence_credentials(ws.credentials_file().as_deref())?;
    Ok(Confluence::new(
        ConfluenceOptions {
            url: c.url.clone(),
            space: c.space.clone(),
            flavor: c.flavor.unwrap_or_default(),
            timeout: Duration::from_secs(c.timeout_seconds),
            max_retries: c.max_retries,
            backoff: Duration::from_millis(c.backoff_ms),
        },
        credentials,
    )?)
}

/// Publish a line's meeting on `date` (default: the latest) to the configured space.
pub fn publish(ws: &Workspace, line: &str, date: Option<NaiveDate>) -> Result<PublishReport> {
    let c = config(ws)?;
    let m = {
        let ledger = ws.open_ledger()?;
        minutes(&ledger, line, date)?
    };
    let title = page_title(line, m.meeting.date);
    let key = team_key(ws.credentials_file().as_deref())?;
    let body = render_minutes_storage(&m, key.as_ref());
    let client = client(ws, &c)?;
    let rt = crate::tracker::runtime()?;
    let published = rt.block_on(async {
        let parent = match &c.parent {
            None => None,
            Some(p) => Some(
                client
                    .find(p)
                    .await?
                    .ok_or_else(|| {
                        Error::input(format!(
                            "the space {} has no page titled {p:?} (confluence.parent)",
                            c.space
                        ))
                        .hint("create it, or change or remove `parent` in [confluence]")
                    })?
                    .id,
            ),
        };
        Ok::<_, Error>(client.publish(&title, parent.as_deref(), &body).await?)
    })?;
    Ok(PublishReport {
        line: line.to_string(),
        date: m.meeting.date,
        title,
        page: published.id,
        version: published.version,
        created: published.created,
        unchanged: published.unchanged,
        stale_retries: published.stale_retries,
    })
}

/// Import the meetings published in the configured space.
pub fn import(ws: &Workspace) -> Result<ImportReport> {
    let c = config(ws)?;
    let client = client(ws, &c)?;
    let rt = crate::tracker::runtime()?;
    let pages = rt.block_on(client.pages())?;
    let mut report = ImportReport {
        pages: pages.len(),
        ..ImportReport::default()
    };
    let key = team_key(ws.credentials_file().as_deref())?;
    let mut records = Vec::new();
    for p in &pages {
        for r in find_meetings(&p.body, key.as_ref()) {
            match r.and_then(|r| trusted(&c, key.is_some(), &p.author).map(|()| r)) {
                Ok(r) => records.push((p.id.clone(), r)),
                Err(Rejection::UnlistedWriter) => report.rejected.push((
                    p.title.clone(),
                    format!(
                        "the page's latest version is by {}, who is not one of [confluence] \
                         writers (and the team has no key to sign records with)",
                        if p.author.is_empty() {
                            "someone unnamed"
                        } else {
                            &p.author
                        }
                    ),
                )),
                Err(why) => report.rejected.push((p.title.clone(), why.to_string())),
            }
        }
    }
    report.records = records.len();
    let mut ledger = ws.open_ledger()?;
    let lines: BTreeSet<String> = ws
        .policy
        .policy
        .lines
        .iter()
        .map(|l| l.name.clone())
        .collect();
    let mut events = Vec::new();
    for (page, r) in &records {
        if !lines.contains(&r.line) {
            report.other_lines += 1;
            continue;
        }
        plan_import(&ledger, page, r, &mut events, &mut report)?;
    }
    report.events = ledger.append_all(&ws.policy, events)?;
    Ok(report)
}

/// Whether a meeting record on a page by `author` (its latest version's) is to be applied:
/// signed with the team key (checked when read), or, without a key, on a page last written by
/// one of `[confluence] writers`. Under a key a person may annotate the page; without one the
/// account that published it is all that vouches for the record.
fn trusted(c: &ConfluenceConfig, signed: bool, author: &str) -> std::result::Result<(), Rejection> {
    if signed || c.writers.iter().any(|w| w.eq_ignore_ascii_case(author)) {
        Ok(())
    } else {
        Err(Rejection::UnlistedWriter)
    }
}

/// The dedup key of an imported meeting event.
fn import_key(line: &str, date: NaiveDate, sitting: u32, what: &str) -> String {
    format!("meeting:{line}:{date}:{sitting}:{what}")
}

/// The events that bring one record's closed sittings into this ledger.
fn plan_import(
    ledger: &Ledger,
    page: &str,
    r: &MeetingRecord,
    out: &mut Vec<NewEvent>,
    report: &mut ImportReport,
) -> Result<()> {
    let held = meetings(ledger, &r.line)?;
    let opened: Vec<Event> = ledger.events_of_kinds(&[kind::MEETING_OPENED])?;
    for s in &r.sittings {
        let id = (r.line.clone(), r.date, s.sitting);
        let mine = opened.iter().any(|e| {
            e.line.as_deref() == Some(r.line.as_str())
                && e.meeting == Some(r.date)
                && portcullis_core::event::sitting_of(e) == s.sitting
                && e.source != SOURCE
        });
        let imported = held
            .iter()
            .find(|m| m.date == r.date && m.sitting == s.sitting);
        if mine || imported.is_some() {
            report.known += 1;
            continue;
        }
        let Some(closed_at) = s.closed_at else {
            report.still_open.push(id);
            continue;
        };
        let event = |kind: &'static str, at, payload, what: &str| NewEvent {
            ticket: None,
            line: Some(r.line.clone()),
            kind,
            source: SOURCE.into(),
            actor: s.chair.clone(),
            at,
            meeting: Some(r.date),
            note: None,
            payload,
            dedup_key: Some(import_key(&r.line, r.date, s.sitting, what)),
        };
        let origin = json!({ "page": page });
        out.push(event(
            kind::MEETING_OPENED,
            s.opened_at,
            json!({
                "date": r.date.to_string(),
                "sitting": s.sitting,
                "attendees": s.attendees,
                "quorum": s.quorum,
                "chair": s.chair,
                "imported": origin,
            }),
            "opened",
        ));
        for (i, c) in s.changes.iter().enumerate() {
            out.push(event(
                if c.joined {
                    kind::MEETING_JOINED
                } else {
                    kind::MEETING_LEFT
                },
                c.at,
                json!({ "date": r.date.to_string(), "sitting": s.sitting, "who": c.who, "imported": origin }),
                &format!("change:{i}"),
            ));
        }
        out.push(event(
            kind::MEETING_CLOSED,
            closed_at,
            json!({ "date": r.date.to_string(), "sitting": s.sitting, "imported": origin }),
            "closed",
        ));
        report.added.push(id);
    }
    Ok(())
}
