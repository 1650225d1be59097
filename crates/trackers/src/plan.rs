//! What every tracker's plan shares: reconciling current labels with the label history, and
//! recording a ticket's fields. Pure.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};

use portcullis_core::event::{kind, label_set_after, source, LabelFact, NewEvent, TicketInfo};
use portcullis_core::policy::LoadedPolicy;
use portcullis_core::time::{fmt_utc, now};

/// Reconcile a ticket's current labels with its label history: the ledger's (`known`) plus the
/// events just planned for it (`planned`), or `running` (the set those planned events end with)
/// when the ledger had nothing. Each difference becomes a snapshot event stamped `updated` (or
/// now); each current label that looks like a backport label no release line uses becomes a
/// warning. Shared by the Jira import and the GitHub sync.
#[allow(clippy::too_many_arguments)]
pub fn reconcile_labels(
    key: &str,
    current: &BTreeSet<String>,
    running: BTreeSet<String>,
    known: &[LabelFact],
    planned: &[NewEvent],
    updated: Option<DateTime<Utc>>,
    policy: &LoadedPolicy,
    warnings: &mut Vec<String>,
) -> Vec<NewEvent> {
    let history_set = if known.is_empty() {
        running
    } else {
        let planned: Vec<LabelFact> = planned
            .iter()
            .enumerate()
            .filter_map(|(i, e)| {
                Some(LabelFact {
                    at: e.at,
                    seq: i64::MAX / 2 + i as i64,
                    added: e.kind == kind::LABEL_ADDED,
                    label: e.payload.get("label")?.as_str()?.to_string(),
                })
            })
            .collect();
        label_set_after(known.iter().chain(planned.iter()))
    };
    let at = updated.unwrap_or_else(now);
    let stamp = fmt_utc(at);
    let mut out = Vec::new();
    for (k, labels, sign) in [
        (kind::LABEL_ADDED, current.difference(&history_set), '+'),
        (kind::LABEL_REMOVED, history_set.difference(current), '-'),
    ] {
        for label in labels {
            out.push(NewEvent {
                ticket: Some(key.to_string()),
                line: None,
                kind: k,
                source: source::SNAPSHOT.into(),
                actor: None,
                at,
                meeting: None,
                note: None,
                payload: json!({ "label": label, "reason": "current labels differ from the label history" }),
                dedup_key: Some(format!("snapshot:{key}:{stamp}:{sign}{label}")),
            });
        }
    }
    for label in current {
        if policy.is_unknown_backport_label(label) {
            warnings.push(format!(
                "{key}: label `{label}` looks like a backport label but no release line of the policy uses it (ignored)"
            ));
        }
    }
    out
}

/// The `ticket.observed` event of a ticket's fields, from `source`, deduplicated by the fields'
/// digest and update time.
pub fn observed(key: &str, source: &str, info: &TicketInfo) -> NewEvent {
    // Plain strings and times: serialising cannot fail.
    let payload = serde_json::to_value(info).unwrap_or_default();
    let digest = hex::encode(&Sha256::digest(payload.to_string().as_bytes())[..12]);
    NewEvent {
        ticket: Some(key.to_string()),
        line: None,
        kind: kind::TICKET_OBSERVED,
        source: source.into(),
        actor: None,
        at: info.updated.unwrap_or_else(now),
        meeting: None,
        note: None,
        payload,
        dedup_key: Some(format!(
            "observed:{key}:{}:{digest}",
            info.updated.map(fmt_utc).unwrap_or_default()
        )),
    }
}

/// The `ticket.gone` event of a ticket its tracker no longer has under `key` (deleted, or
/// moved to `moved_to`), recorded once per ticket.
pub fn gone(
    source: &str,
    key: &str,
    reason: &str,
    moved_to: Option<&str>,
    at: DateTime<Utc>,
) -> NewEvent {
    let mut payload = json!({ "reason": reason });
    if let Some(to) = moved_to {
        payload["moved_to"] = json!(to);
    }
    NewEvent {
        ticket: Some(key.to_string()),
        line: None,
        kind: kind::TICKET_GONE,
        source: source.into(),
        actor: None,
        at,
        meeting: None,
        note: None,
        payload,
        dedup_key: Some(format!("gone:{key}")),
    }
}
