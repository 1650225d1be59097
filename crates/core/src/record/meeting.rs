//! Meeting records (issue 17): the machine-readable copy of a meeting day that `minutes
//! --publish` embeds in its Confluence page, so that another workspace can record the same
//! sittings and attendance (`minutes --import`).
//!
//! The same approach as decision records: the [`MeetingRecord`] is serialised to JSON (fields in
//! a fixed order, absent ones left out), encoded as base64url without padding, and followed by
//! a digest of that text (the first 16 bytes of its SHA-256, in hex):
//!
//! ```text
//! portcullismeeting v1 <base64url JSON>[.<hmac>].<digest>
//! ```
//!
//! With a team key the payload is signed (HMAC-SHA256, as decision records are). A record
//! edited by hand, cut short, of an unknown version or not made by portcullis is a
//! [`Rejection`] when read, never applied; so is, under a team key, one unsigned or signed
//! without it.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use hmac::Mac;

use super::{b64, digest_of, mac_of, Rejection, DIGEST_HEX};
use crate::secret::Secret;

/// The marker of a meeting record (one word, like the decision records' Jira marker).
pub const MEETING_MARKER: &str = "portcullismeeting";

/// A meeting day of one line: every sitting, as recorded by the workspace that held it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeetingRecord {
    pub line: String,
    pub date: NaiveDate,
    pub sittings: Vec<SittingRecord>,
}

/// One sitting: who attended when it opened, who arrived and left since, the quorum and chair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SittingRecord {
    pub sitting: u32,
    pub attendees: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chair: Option<String>,
    pub opened_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<AttendanceRecord>,
}

/// An arrival (`joined`) or a departure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttendanceRecord {
    pub who: String,
    pub joined: bool,
    pub at: DateTime<Utc>,
}

fn canonical(r: &MeetingRecord) -> String {
    // Serialising a plain struct to a string cannot fail.
    serde_json::to_string(r).unwrap_or_default()
}

/// The record's text: `portcullismeeting v1 <payload>[.<hmac>].<digest>`, on one line, signed
/// when a team key is given.
pub fn encode_meeting(r: &MeetingRecord, key: Option<&Secret>) -> String {
    let mut signed = b64::encode(canonical(r).as_bytes());
    if let Some(k) = key {
        let mac = hex::encode(mac_of(k, &signed).finalize().into_bytes());
        signed.push('.');
        signed.push_str(&mac);
    }
    let digest = digest_of(&signed);
    format!("{MEETING_MARKER} v{} {signed}.{digest}", super::VERSION)
}

/// Every meeting record in a text (a page body), in order, each decoded or the reason it is
/// not applied; under a team key, only those it signed are applied.
pub fn find_meetings(text: &str, key: Option<&Secret>) -> Vec<Result<MeetingRecord, Rejection>> {
    let lower = text.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = lower[from..].find(MEETING_MARKER) {
        let end = from + i + MEETING_MARKER.len();
        out.push(decode_after(&text[end..], key));
        from = end;
    }
    out
}

fn decode_after(rest: &str, key: Option<&Secret>) -> Result<MeetingRecord, Rejection> {
    let rest = rest.trim_start_matches([' ', '\t']);
    let version: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
    let after = rest[version.len()..].trim_start_matches([' ', '\t']);
    let body: String = after
        .chars()
        .take_while(|&c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        .collect();
    match version.as_str() {
        "v1" => {}
        v if v.starts_with('v') && v.len() > 1 && v[1..].chars().all(|c| c.is_ascii_digit()) => {
            return Err(Rejection::UnknownVersion(v.to_string()))
        }
        _ => return Err(Rejection::Truncated),
    }
    let Some((signed, digest)) = body.rsplit_once('.') else {
        return Err(Rejection::Truncated);
    };
    if digest.len() < DIGEST_HEX {
        return Err(Rejection::Truncated);
    }
    if digest.len() != DIGEST_HEX || digest_of(signed) != digest {
        return Err(Rejection::Edited);
    }
    let (payload, mac) = match signed.split_once('.') {
        Some((p, m)) => (p, Some(m)),
        None => (signed, None),
    };
    if let Some(k) = key {
        let bytes = mac
            .ok_or(Rejection::Unsigned)
            .and_then(|m| hex::decode(m).map_err(|_| Rejection::BadSignature))?;
        mac_of(k, payload)
            .verify_slice(&bytes)
            .map_err(|_| Rejection::BadSignature)?;
    }
    b64::decode(payload)
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|json| {
            serde_json::from_str::<MeetingRecord>(&json)
                .ok()
                .filter(|r| canonical(r) == json)
        })
        .ok_or(Rejection::NotARecord)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> MeetingRecord {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        MeetingRecord {
            line: "23".into(),
            date: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
            sittings: vec![SittingRecord {
                sitting: 1,
                attendees: vec!["Priya Raman".into(), "Tomás Ortega".into()],
                quorum: Some(2),
                chair: Some("Priya Raman".into()),
                opened_at: t("2026-12-01T09:00:00Z"),
                closed_at: Some(t("2026-12-01T10:00:00Z")),
                changes: vec![AttendanceRecord {
                    who: "Tomás Ortega".into(),
                    joined: false,
                    at: t("2026-12-01T09:30:00Z"),
                }],
            }],
        }
    }

    #[test]
    fn a_meeting_record_reads_back_from_a_page() {
        let text = format!("<p>x</p><![CDATA[{}]]>", encode_meeting(&sample(), None));
        assert_eq!(find_meetings(&text, None), vec![Ok(sample())]);
    }

    #[test]
    fn an_edited_truncated_or_unknown_record_is_rejected() {
        let good = encode_meeting(&sample(), None);
        let (head, digest) = good.rsplit_once('.').unwrap();
        let mut edited = head.to_string();
        edited.insert(head.len() - 3, 'A');
        edited.push('.');
        edited.push_str(digest);
        assert_eq!(find_meetings(&edited, None), vec![Err(Rejection::Edited)]);
        assert_eq!(
            find_meetings(&good[..good.len() - 5], None),
            vec![Err(Rejection::Truncated)]
        );
        let v2 = good.replace(" v1 ", " v2 ");
        assert_eq!(
            find_meetings(&v2, None),
            vec![Err(Rejection::UnknownVersion("v2".into()))]
        );
        assert!(find_meetings("no record here", None).is_empty());
    }

    #[test]
    fn under_a_team_key_only_a_record_it_signed_is_applied() {
        let key = Secret::new("team-key-1".to_string());
        let other = Secret::new("another-key".to_string());
        let signed = encode_meeting(&sample(), Some(&key));
        assert_eq!(find_meetings(&signed, Some(&key)), vec![Ok(sample())]);
        // A signed record still reads without a key (the key only adds a check).
        assert_eq!(find_meetings(&signed, None), vec![Ok(sample())]);
        assert_eq!(
            find_meetings(&signed, Some(&other)),
            vec![Err(Rejection::BadSignature)]
        );
        assert_eq!(
            find_meetings(&encode_meeting(&sample(), None), Some(&key)),
            vec![Err(Rejection::Unsigned)]
        );
    }
}
