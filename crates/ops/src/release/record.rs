//! The releases in the ledger: reading them back, recording a cut (and the tickets it marks
//! done), and recording a cut the gate refused.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::json;

use super::options::CutReport;
use crate::workspace::Workspace;
use crate::{Error, Result};
use portcullis_core::event::{source, NewEvent};
use portcullis_core::release::Manifest;
use portcullis_core::time::now;
use portcullis_core::Problem;
use portcullis_ledger::Ledger;

/// The event kind of a cut release (payload: the manifest and its hash).
pub const RELEASE_CUT: &str = "release.cut";
/// A cut asked for with `--apply` that the gate refused (payload: version, tag, message, the
/// blockers' kinds). No tag, no manifest: only the fact, for alerts and the record.
pub const CUT_FAILED: &str = "release.cut_failed";

/// A release recorded in the ledger.
#[derive(Debug, Clone, Serialize)]
pub struct Recorded {
    pub seq: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub manifest: Manifest,
    pub hash: String,
}

/// The releases of a line, in the order they were cut.
pub fn releases(ledger: &Ledger, line: &str) -> Result<Vec<Recorded>> {
    let mut out = Vec::new();
    for e in ledger.events_of_kinds(&[RELEASE_CUT])? {
        if e.line.as_deref() != Some(line) {
            continue;
        }
        let manifest: Manifest =
            serde_json::from_value(e.payload["manifest"].clone()).map_err(|err| {
                Problem::internal(format!("release event {} is malformed", e.seq)).because(err)
            })?;
        let hash = e.payload["hash"].as_str().unwrap_or_default().to_string();
        if manifest.content_hash() != hash {
            return Err(Error::internal(format!(
                "the manifest of {} (event {}) does not match its hash; run `portcullis audit`",
                manifest.tag, e.seq
            )));
        }
        out.push(Recorded {
            seq: e.seq,
            at: e.at,
            manifest,
            hash,
        });
    }
    Ok(out)
}

/// A release by tag (or version) as recorded.
pub fn show(ledger: &Ledger, line: &str, which: &str) -> Result<Recorded> {
    releases(ledger, line)?
        .into_iter()
        .find(|r| {
            r.manifest.tag == which
                || r.manifest.version == which.trim_start_matches('v') && r.manifest.rc.is_none()
        })
        .ok_or_else(|| {
            Error::input(format!("no release {which} on line {line}"))
                .hint("list them with `portcullis releases`")
        })
}

/// Record a cut in one ledger transaction: the tickets it marks done (the line's
/// `mark_done_on_release`, final releases only) and the manifest event, deduplicated by line
/// and tag so that a rerun records nothing twice.
pub(super) fn record_cut(
    ws: &Workspace,
    mut ledger: Ledger,
    report: &mut CutReport,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    let m = &report.manifest;
    let line = ws.policy.line(&m.line).cloned();
    let mark_done: Vec<String> =
        if m.rc.is_none() && line.as_ref().is_some_and(|l| l.mark_done_on_release) {
            let approved: BTreeSet<String> = ledger
                .status_rows(&m.line)?
                .into_iter()
                .filter(|r| r.state == portcullis_core::workflow::State::Approved)
                .map(|r| r.key)
                .collect();
            m.tickets
                .iter()
                .filter(|t| approved.contains(&t.key))
                .map(|t| t.key.clone())
                .collect()
        } else {
            Vec::new()
        };
    let mut tx = ledger.transaction()?;
    for key in &mark_done {
        tx.append(NewEvent {
            ticket: Some(key.clone()),
            line: Some(m.line.clone()),
            kind: portcullis_core::event::kind::DECISION,
            source: source::LOCAL.into(),
            actor: Some("portcullis".into()),
            at,
            meeting: None,
            note: Some(format!("released in {}", m.tag)),
            // Taken by the cut, in no sitting: out of meeting, as its record in the tracker
            // says, so every workspace shows it alike.
            payload: json!({ "decision": "done", "until": null, "forced": false, "release": m.tag, "out_of_meeting": true }),
            dedup_key: Some(format!("release-done:{}:{}:{key}", m.line, m.tag)),
        })?;
    }
    tx.append(NewEvent {
        ticket: None,
        line: Some(m.line.clone()),
        kind: RELEASE_CUT,
        source: source::LOCAL.into(),
        actor: ws.actor(None).ok(),
        at,
        meeting: None,
        note: None,
        payload: json!({ "manifest": m, "hash": report.hash }),
        dedup_key: Some(format!("release:{}:{}", m.line, m.tag)),
    })?;
    tx.commit_with(&ws.policy)?;
    report.marked_done = mark_done;
    report.applied = true;
    Ok(())
}

/// Record a refused `--apply` (once per tag and set of reasons).
pub(super) fn record_failed(ws: &Workspace, report: &CutReport) -> Result<()> {
    let m = &report.manifest;
    let kinds: BTreeSet<&str> = report.blockers.iter().map(|b| b.kind.as_str()).collect();
    let kinds: Vec<&str> = kinds.into_iter().collect();
    let message = format!(
        "cut {} refused: {} reason(s) ({})",
        m.tag,
        report.blockers.len(),
        kinds.join(", ")
    );
    let mut ledger = ws.open_ledger()?;
    let last = ledger
        .events_of_kinds(&[CUT_FAILED])?
        .into_iter()
        .rfind(|e| e.line.as_deref() == Some(&m.line) && e.payload["tag"] == m.tag.as_str());
    if last.is_some_and(|e| e.payload["message"] == message.as_str()) {
        return Ok(());
    }
    ledger.append_all(
        &ws.policy,
        [NewEvent {
            ticket: None,
            line: Some(m.line.clone()),
            kind: CUT_FAILED,
            source: portcullis_core::event::source::LOCAL.into(),
            actor: None,
            at: now(),
            meeting: None,
            note: None,
            payload: json!({ "version": m.version, "tag": m.tag, "message": message, "blockers": kinds }),
            dedup_key: None,
        }],
    )?;
    Ok(())
}
