//! Decision records read back from a tracker's comments (issue 17): what every tracker's plan
//! does with the blocks [`portcullis_core::record`] defines. Pure.
//!
//! - **Trust**: a block is applied only when the comment's author is one of the tracker's
//!   `writers` (`[jira] writers = […]`, `[github] writers = […]` in portcullis.toml), the block
//!   names the ticket it sits on and, when the team has a key (`team_key` in the credentials
//!   file), its signature is valid.
//! - **Applied**: a decision record becomes a `decision` event credited to the recorded member
//!   at the original time, with its meeting and sitting (or "out of meeting"), reason, deferral
//!   date and target; a note record a `note`; an undo record a `decision.undone`. The payload's
//!   `record` says where it came from (the origin's event hash, the comment, its author). Its
//!   dedup key is `record:<origin event hash>`: a second sync adds nothing, and the sync loop
//!   leaves out a record of an event the ledger itself holds (the workspace that made it).
//! - **Rejected**: anything else that looks like a block (edited, truncated, unknown version,
//!   another ticket's, an unlisted writer's, unsigned or badly signed under a team key) becomes
//!   one `record.rejected` event per block (payload: `why`, `message`, `author`, `comment`),
//!   never a decision; it never stops a sync.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use portcullis_core::event::{kind, NewEvent};
use portcullis_core::record::{self, Form, Record, RecordKind, Standing};
use portcullis_core::secret::Secret;

/// Whose blocks a tracker trusts, and the team key that signs them.
#[derive(Debug, Clone, Default)]
pub struct RecordTrust {
    /// The accounts (tracker identities: Jira user name or account id, GitHub login) whose
    /// blocks are applied.
    pub writers: Vec<String>,
    /// The team key: blocks are signed with it on push and must carry a valid signature on sync.
    pub key: Option<Secret>,
}

/// No writers and no key: every block is reported, none applied.
pub static NO_TRUST: RecordTrust = RecordTrust {
    writers: Vec::new(),
    key: None,
};

/// A comment as a tracker returns it, with what the trust rules need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackerComment {
    /// The tracker's id of the comment.
    pub id: String,
    /// Who wrote it (the tracker's identity; empty when it does not say).
    pub author: String,
    pub body: String,
    pub created: Option<DateTime<Utc>>,
}

/// The dedup key of a record's event: the same origin event is one fact everywhere.
pub fn record_key(event_hash: &str) -> String {
    format!("record:{event_hash}")
}

/// The origin event hash a record's event stands for, if `e` is one.
pub fn recorded_hash(e: &NewEvent) -> Option<&str> {
    e.dedup_key.as_deref()?.strip_prefix("record:")
}

/// The origin event hash a rejected block names, when it decoded.
pub fn rejected_hash(e: &NewEvent) -> Option<&str> {
    if e.kind != kind::RECORD_REJECTED {
        return None;
    }
    e.payload.get("event")?.as_str()
}

/// The block a decision record takes in `form`, signed with the trust's key.
pub fn block(r: &Record, form: Form, trust: &RecordTrust) -> String {
    record::encode(r, form, trust.key.as_ref())
}

/// The events of the blocks in a ticket's comments: applied records and rejected blocks.
pub fn plan_records(
    source: &str,
    key: &str,
    comments: &[TrackerComment],
    trust: &RecordTrust,
) -> Vec<NewEvent> {
    let mut out = Vec::new();
    for c in comments {
        for b in record::find_blocks(&c.body) {
            match record::check(&b, key, &c.author, &trust.writers, trust.key.as_ref()) {
                Ok(r) => out.push(applied(source, key, c, &r)),
                Err(why) => {
                    let event = b.decoded.as_ref().ok().map(|r| r.event.as_str());
                    out.push(rejected(source, key, c, &b.token, event, &why));
                }
            }
        }
    }
    out
}

fn applied(source: &str, key: &str, c: &TrackerComment, r: &Record) -> NewEvent {
    let origin = json!({ "event": r.event, "comment": c.id, "author": c.author });
    let mut payload = json!({ "record": origin });
    // The sitting that took the decision: for a ratified one, where it was provisional.
    let taken_in = match r.standing {
        Standing::Ratified => r.provisional_in.or(r.meeting),
        _ => r.meeting,
    };
    let kind = match r.kind.decision() {
        Some(d) => {
            payload["decision"] = json!(d.as_str());
            payload["until"] = json!(r.until.map(|u| u.to_string()));
            match taken_in {
                Some(m) => payload["sitting"] = json!(m.sitting),
                None => payload["out_of_meeting"] = json!(true),
            }
            match r.standing {
                Standing::Final => {}
                Standing::Provisional => payload["provisional"] = json!(true),
                // Taken below quorum in one sitting, ratified in a later one: the decision
                // belongs to the sitting that took it, as on the workspace that made it.
                Standing::Ratified => match (r.provisional_in, r.meeting) {
                    (Some(_), Some(m)) => {
                        payload["provisional"] = json!(true);
                        payload["ratified_in"] =
                            json!({ "date": m.date.to_string(), "sitting": m.sitting });
                    }
                    _ => payload["ratified"] = json!(true),
                },
            }
            if let Some(t) = &r.target {
                payload["target"] = json!(t);
            }
            kind::DECISION
        }
        None if r.kind == RecordKind::Undo => {
            payload["undoes_event"] = json!(r.undoes);
            kind::DECISION_UNDONE
        }
        None => kind::NOTE,
    };
    NewEvent {
        ticket: Some(key.to_string()),
        line: r.line.clone(),
        kind,
        source: source.to_string(),
        actor: r.member.clone(),
        at: r.at,
        meeting: taken_in.map(|m| m.date),
        note: r.reason.clone(),
        payload,
        dedup_key: Some(record_key(&r.event)),
    }
}

fn rejected(
    source: &str,
    key: &str,
    c: &TrackerComment,
    token: &str,
    event: Option<&str>,
    why: &record::Rejection,
) -> NewEvent {
    let block = hex::encode(&Sha256::digest(token.as_bytes())[..8]);
    let mut payload = json!({
        "why": why.code(),
        "message": why.to_string(),
        "author": c.author,
        "comment": c.id,
        "block": block,
    });
    // A block that decodes names the event it records: a workspace that holds that event
    // wrote it (unsigned, before the team had a key, say) and need not hear of it.
    if let Some(h) = event {
        payload["event"] = json!(h);
    }
    NewEvent {
        ticket: Some(key.to_string()),
        line: None,
        kind: kind::RECORD_REJECTED,
        source: source.to_string(),
        actor: Some(c.author.clone()).filter(|a| !a.is_empty()),
        at: c.created.unwrap_or_else(portcullis_core::time::now),
        meeting: None,
        note: None,
        payload,
        dedup_key: Some(format!("record.rejected:{source}:{key}:{}:{block}", c.id)),
    }
}

/// A rejected block as the sync report lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RejectedRecord {
    pub key: String,
    pub author: String,
    pub comment: String,
    /// `edited`, `truncated`, `unknown-version`, `unlisted-writer`, …
    pub why: String,
    pub message: String,
}

impl RejectedRecord {
    /// From a `record.rejected` event.
    pub fn of(e: &NewEvent) -> RejectedRecord {
        let s = |k: &str| {
            e.payload
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        RejectedRecord {
            key: e.ticket.clone().unwrap_or_default(),
            author: s("author"),
            comment: s("comment"),
            why: s("why"),
            message: s("message"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone};
    use portcullis_core::record::Sitting;

    fn rec() -> Record {
        Record {
            ticket: "DM-1".into(),
            kind: RecordKind::Approve,
            standing: Standing::Ratified,
            line: Some("v29".into()),
            target: Some(record::Target::Release("29.0.1".into())),
            until: None,
            member: Some("alice".into()),
            meeting: Some(Sitting {
                date: NaiveDate::from_ymd_opt(2026, 12, 3).unwrap(),
                sitting: 2,
            }),
            provisional_in: Some(Sitting {
                date: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
                sitting: 1,
            }),
            reason: Some("fixes data loss".into()),
            event: "cd".repeat(32),
            undoes: None,
            at: Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap(),
        }
    }

    fn comment(author: &str, body: String) -> TrackerComment {
        TrackerComment {
            id: "10001".into(),
            author: author.into(),
            body,
            created: Some(Utc.with_ymd_and_hms(2026, 12, 3, 10, 0, 0).unwrap()),
        }
    }

    fn trust() -> RecordTrust {
        RecordTrust {
            writers: vec!["chair".into()],
            key: None,
        }
    }

    #[test]
    fn a_trusted_block_is_a_decision_of_the_member_at_the_original_time() {
        let c = comment("chair", block(&rec(), Form::Jira, &trust()));
        let evs = plan_records("jira", "DM-1", &[c], &trust());
        assert_eq!(evs.len(), 1);
        let e = &evs[0];
        assert_eq!(e.kind, kind::DECISION);
        assert_eq!(e.actor.as_deref(), Some("alice"));
        assert_eq!(e.at, rec().at);
        // Taken (provisionally) in the sitting of 1 December, ratified in that of 3 December.
        assert_eq!(e.meeting, NaiveDate::from_ymd_opt(2026, 12, 1));
        assert_eq!(e.note.as_deref(), Some("fixes data loss"));
        assert_eq!(e.payload["decision"], "approve");
        assert_eq!(e.payload["sitting"], 1);
        assert_eq!(e.payload["provisional"], true);
        assert_eq!(
            e.payload["ratified_in"],
            json!({ "date": "2026-12-03", "sitting": 2 })
        );
        assert_eq!(e.payload["target"], json!({"release": "29.0.1"}));
        assert_eq!(e.payload["record"]["author"], "chair");
        assert_eq!(recorded_hash(e), Some(rec().event.as_str()));
    }

    #[test]
    fn an_out_of_meeting_deferral_keeps_its_date() {
        let mut r = rec();
        r.kind = RecordKind::Defer;
        r.standing = Standing::Final;
        r.meeting = None;
        r.provisional_in = None;
        r.until = NaiveDate::from_ymd_opt(2027, 1, 7);
        let c = comment("chair", block(&r, Form::Github, &trust()));
        let e = &plan_records("github", "DM-1", &[c], &trust())[0];
        assert_eq!(e.payload["decision"], "defer");
        assert_eq!(e.payload["until"], "2027-01-07");
        assert_eq!(e.payload["out_of_meeting"], true);
        assert_eq!(e.meeting, None);
    }

    #[test]
    fn an_untrusted_block_is_rejected_once_with_its_author() {
        let c = comment("mallory", block(&rec(), Form::Jira, &trust()));
        let evs = plan_records("jira", "DM-1", std::slice::from_ref(&c), &trust());
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].kind, kind::RECORD_REJECTED);
        let r = RejectedRecord::of(&evs[0]);
        assert_eq!((r.key.as_str(), r.author.as_str()), ("DM-1", "mallory"));
        assert_eq!(r.why, "unlisted-writer");
        // The same comment planned again is the same fact.
        let again = plan_records("jira", "DM-1", &[c], &trust());
        assert_eq!(again[0].dedup_key, evs[0].dedup_key);
    }
}
