//! Decision records: the machine-readable block every pushed decision carries in the tracker,
//! beside its human-readable comment, so that another workspace syncing the same tracker can
//! record the same decision (issue 17).
//!
//! ## What a block holds (version `v1`)
//!
//! A [`Record`]: the ticket, the kind (request, approve, reject, defer with its date,
//! needs-info, done, revoke, note, undo), its standing under the meeting rules (final,
//! provisional, ratified), the line and target, the deciding committee member (canonical name),
//! the meeting date and sitting or "out of meeting", the reason, the ledger event's hash and the
//! original time. For an undo, the hash of the decision it takes back; for a ratified decision,
//! the sitting that first took it provisionally.
//!
//! ## How it is written
//!
//! The record is serialised to JSON (fields in a fixed order, absent ones left out: one text
//! per record) and encoded as base64url without padding; when the team has a key, an
//! HMAC-SHA256 of that text under the key follows (hex); last comes a digest of everything
//! before it (the first 16 bytes of its SHA-256, in hex):
//!
//! ```text
//! portcullisrecord v1 <base64url JSON>[.<hmac>].<digest>
//! ```
//!
//! The digest comes last so that a block cut anywhere has lost it, or part of it.
//!
//! - **Jira**: the line is the comment's last, inside `{noformat}…{noformat}`. That is the only
//!   wiki-markup construct whose content Jira never interprets (base64url's `-` and `_` would
//!   otherwise turn into strike-through and italics), and Jira converts it to an ADF code block,
//!   so both renderings show one grey monospace line under the comment and keep the text
//!   intact. The marker is one word, `portcullisrecord`, because Jira's text search ignores
//!   punctuation: `comment ~ "portcullisrecord"` finds every ticket carrying a block.
//! - **GitHub**: an HTML comment, `<!-- portcullis-record v1 … -->`, which Markdown does not
//!   render at all.
//!
//! ## How it is read
//!
//! [`find_blocks`] finds every block in a comment body (either marker, whatever the tracker:
//! a block pasted into the wrong kind of tracker is still a block) and decodes each, and
//! [`check`] applies the trust rules: the comment's author must be a listed writer, the block
//! must name the ticket it sits on, and with a team key it must carry a valid HMAC. Everything
//! that looks like a block and fails is a [`Rejection`] that says why: truncated, an unknown
//! version, a digest that does not match (edited by hand), content that is not a record, a bad
//! or missing signature, another ticket's block, an unlisted writer. The digest is no security
//! (anyone can compute one): it catches edits by hand; the HMAC catches a block copied or made
//! by someone without the team key.

use chrono::{DateTime, NaiveDate, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::secret::Secret;
use crate::workflow::Decision;

pub mod meeting;

/// The version this code writes and reads.
pub const VERSION: u32 = 1;
/// The marker word of a block in Jira (one word: Jira's text search ignores punctuation).
pub const JIRA_MARKER: &str = "portcullisrecord";
/// The marker of a block in GitHub (inside an HTML comment).
pub const GITHUB_MARKER: &str = "portcullis-record";
/// Hex characters of the digest (16 bytes of SHA-256).
const DIGEST_HEX: usize = 32;
/// Hex characters of the HMAC-SHA256.
const MAC_HEX: usize = 64;

/// What a record says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecordKind {
    Request,
    Approve,
    Reject,
    Defer,
    NeedsInfo,
    Done,
    Revoke,
    /// A note on the ticket (the reason holds its text).
    Note,
    /// A decision taken back in its meeting (`undoes` names it).
    Undo,
}

impl RecordKind {
    pub const ALL: [RecordKind; 9] = [
        RecordKind::Request,
        RecordKind::Approve,
        RecordKind::Reject,
        RecordKind::Defer,
        RecordKind::NeedsInfo,
        RecordKind::Done,
        RecordKind::Revoke,
        RecordKind::Note,
        RecordKind::Undo,
    ];

    /// The decision this kind is, if it is one.
    pub fn decision(self) -> Option<Decision> {
        Some(match self {
            RecordKind::Request => Decision::Request,
            RecordKind::Approve => Decision::Approve,
            RecordKind::Reject => Decision::Reject,
            RecordKind::Defer => Decision::Defer,
            RecordKind::NeedsInfo => Decision::NeedsInfo,
            RecordKind::Done => Decision::Done,
            RecordKind::Revoke => Decision::Revoke,
            RecordKind::Note | RecordKind::Undo => return None,
        })
    }
}

impl From<Decision> for RecordKind {
    fn from(d: Decision) -> RecordKind {
        match d {
            Decision::Request => RecordKind::Request,
            Decision::Approve => RecordKind::Approve,
            Decision::Reject => RecordKind::Reject,
            Decision::Defer => RecordKind::Defer,
            Decision::NeedsInfo => RecordKind::NeedsInfo,
            Decision::Done => RecordKind::Done,
            Decision::Revoke => RecordKind::Revoke,
        }
    }
}

/// A decision's standing under the meeting rules (docs/COMMITTEE.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// Counts from the start (a quorate sitting, out of meeting, or no meeting rules).
    #[default]
    Final,
    /// Taken below quorum: shown, not counted.
    Provisional,
    /// Taken below quorum and ratified since: counts as a decision of the ratifying sitting.
    Ratified,
}

/// A sitting of a meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sitting {
    pub date: NaiveDate,
    pub sitting: u32,
}

/// What an approval is for (the event payload's `target`: `{"step": …}` or `{"release": …}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Step(String),
    Release(String),
}

/// One decision (or note, or undo) as the tracker carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// The ticket's key: a block copied to another ticket is caught.
    pub ticket: String,
    pub kind: RecordKind,
    #[serde(default, skip_serializing_if = "is_final")]
    pub standing: Standing,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// A deferral's date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<NaiveDate>,
    /// The deciding member (canonical name); for a request or done, whoever recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// The sitting it belongs to (for a ratified decision, the ratifying one); `None` is
    /// "out of meeting".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting: Option<Sitting>,
    /// A ratified decision's own sitting, where it was taken provisionally.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisional_in: Option<Sitting>,
    /// The reason (a note's text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The hash of the ledger event it records.
    pub event: String,
    /// For an undo: the hash of the decision it takes back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undoes: Option<String>,
    /// When it was decided (the event's time).
    pub at: DateTime<Utc>,
}

fn is_final(s: &Standing) -> bool {
    *s == Standing::Final
}

impl Record {
    /// Whether it was taken outside a meeting.
    pub fn out_of_meeting(&self) -> bool {
        self.meeting.is_none()
    }
}

/// Which tracker's form a block takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `{noformat}portcullisrecord v1 …{noformat}`.
    Jira,
    /// `<!-- portcullis-record v1 … -->`.
    Github,
}

/// The record's JSON: fields in declaration order, absent ones left out.
fn canonical(r: &Record) -> String {
    // Serialising a plain struct to a string cannot fail.
    serde_json::to_string(r).unwrap_or_default()
}

fn digest_of(payload: &str) -> String {
    hex::encode(&Sha256::digest(payload.as_bytes())[..DIGEST_HEX / 2])
}

fn mac_of(key: &Secret, payload: &str) -> Hmac<Sha256> {
    // HMAC takes a key of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(key.expose().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(b"v1.");
    mac.update(payload.as_bytes());
    mac
}

/// The encoded block's text: `v1 <payload>.<digest>[.<hmac>]`, without marker or wrapping.
fn encode_token(r: &Record, key: Option<&Secret>) -> String {
    let mut signed = b64::encode(canonical(r).as_bytes());
    if let Some(k) = key {
        let mac = hex::encode(mac_of(k, &signed).finalize().into_bytes());
        signed.push('.');
        signed.push_str(&mac);
    }
    let digest = digest_of(&signed);
    format!("v{VERSION} {signed}.{digest}")
}

/// The block for a comment, in the tracker's form (signed when a team key is given). It goes
/// on a line of its own at the end of the comment.
pub fn encode(r: &Record, form: Form, key: Option<&Secret>) -> String {
    let token = encode_token(r, key);
    match form {
        Form::Jira => format!("{{noformat}}{JIRA_MARKER} {token}{{noformat}}"),
        Form::Github => format!("<!-- {GITHUB_MARKER} {token} -->"),
    }
}

/// Why something that looks like a block is not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The block stops short: its digest (or all after the marker) is missing or cut.
    Truncated,
    /// A version this portcullis does not read.
    UnknownVersion(String),
    /// The digest does not match the content: the block was edited by hand.
    Edited,
    /// The digest matches, but the content is no record (made by something else).
    NotARecord,
    /// A team key is set and the block carries no HMAC.
    Unsigned,
    /// The HMAC does not match under the team key: copied or made without it.
    BadSignature,
    /// The block names another ticket: copied from it.
    OtherTicket(String),
    /// Written by an account not listed in `writers`.
    UnlistedWriter,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::Truncated => f.write_str("the block is truncated"),
            Rejection::UnknownVersion(v) => write!(f, "the block has an unknown version ({v})"),
            Rejection::Edited => {
                f.write_str("the block's digest does not match its content (edited by hand)")
            }
            Rejection::NotARecord => f.write_str("the block's content is not a decision record"),
            Rejection::Unsigned => {
                f.write_str("the block is not signed, and this team signs its records")
            }
            Rejection::BadSignature => {
                f.write_str("the block's signature does not match the team key")
            }
            Rejection::OtherTicket(t) => write!(f, "the block is about another ticket ({t})"),
            Rejection::UnlistedWriter => f.write_str("the comment's author is not a listed writer"),
        }
    }
}

impl Rejection {
    /// A short name for reports and the ledger (`edited`, `unlisted-writer`, …).
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::Truncated => "truncated",
            Rejection::UnknownVersion(_) => "unknown-version",
            Rejection::Edited => "edited",
            Rejection::NotARecord => "not-a-record",
            Rejection::Unsigned => "unsigned",
            Rejection::BadSignature => "bad-signature",
            Rejection::OtherTicket(_) => "other-ticket",
            Rejection::UnlistedWriter => "unlisted-writer",
        }
    }
}

/// A block found in a comment: its record if it decodes, and its signature for [`check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The text of the block after the marker (`v1 …`): the same block is the same text.
    pub token: String,
    pub decoded: Result<Record, Rejection>,
    payload: String,
    mac: Option<String>,
}

fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'
}

/// Every block in a comment body, in order, decoded (digest and content checked; the trust
/// rules are [`check`]'s).
pub fn find_blocks(body: &str) -> Vec<Block> {
    let lower = body.to_ascii_lowercase();
    let mut starts: Vec<(usize, usize)> = Vec::new();
    for marker in [GITHUB_MARKER, JIRA_MARKER] {
        let mut from = 0;
        while let Some(i) = lower[from..].find(marker) {
            let at = from + i;
            // `portcullisrecord` is not inside `portcullis-record`, and vice versa.
            starts.push((at, at + marker.len()));
            from = at + marker.len();
        }
    }
    starts.sort_unstable();
    starts
        .into_iter()
        .map(|(_, end)| decode_after(&body[end..]))
        .collect()
}

/// Decode the text that follows a marker.
fn decode_after(rest: &str) -> Block {
    let rest = rest.trim_start_matches([' ', '\t']);
    let version: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
    let after = rest[version.len()..].trim_start_matches([' ', '\t']);
    let body: String = after.chars().take_while(|&c| token_char(c)).collect();
    let token = format!("{version} {body}").trim().to_string();
    let fail = |why: Rejection| Block {
        token: token.clone(),
        decoded: Err(why),
        payload: String::new(),
        mac: None,
    };
    match version.as_str() {
        "v1" => {}
        "" => return fail(Rejection::Truncated),
        v if v.starts_with('v') && v.len() > 1 && v[1..].chars().all(|c| c.is_ascii_digit()) => {
            return fail(Rejection::UnknownVersion(v.to_string()))
        }
        // Whatever follows the marker is no version: a block cut right after it, or mangled.
        _ => return fail(Rejection::Truncated),
    }
    // The digest comes last and covers all before it: a block cut anywhere loses it.
    let Some((signed, digest)) = body.rsplit_once('.') else {
        return fail(Rejection::Truncated);
    };
    let is_hex = |s: &str| s.chars().all(|c| c.is_ascii_hexdigit());
    // Part of a digest, or a signature with its digest cut off.
    if digest.len() < DIGEST_HEX
        || digest.len() <= MAC_HEX && is_hex(digest) && digest.len() != DIGEST_HEX
    {
        return fail(Rejection::Truncated);
    }
    if digest.len() != DIGEST_HEX || !is_hex(digest) || digest_of(signed) != digest {
        return fail(Rejection::Edited);
    }
    let (payload, mac) = match signed.split_once('.') {
        Some((p, m)) if m.len() == MAC_HEX && is_hex(m) => (p, Some(m)),
        Some(_) => return fail(Rejection::NotARecord),
        None => (signed, None),
    };
    // The one text a record encodes to: anything else was not written by portcullis.
    let decoded = b64::decode(payload)
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|json| {
            serde_json::from_str::<Record>(&json)
                .ok()
                .filter(|r| canonical(r) == json)
        })
        .ok_or(Rejection::NotARecord);
    Block {
        token,
        decoded,
        payload: payload.to_string(),
        mac: mac.map(str::to_string),
    }
}

/// Whether a block on `ticket`, in a comment by `author`, is to be applied: the author is one
/// of `writers` (compared without case), with a team `key` its HMAC is valid, and the block
/// names this ticket. The content's own failures come first, then these, in this order.
pub fn check(
    block: &Block,
    ticket: &str,
    author: &str,
    writers: &[String],
    key: Option<&Secret>,
) -> Result<Record, Rejection> {
    let record = block.decoded.clone()?;
    if !writers.iter().any(|w| w.eq_ignore_ascii_case(author)) {
        return Err(Rejection::UnlistedWriter);
    }
    if let Some(k) = key {
        let Some(m) = &block.mac else {
            return Err(Rejection::Unsigned);
        };
        let bytes = hex::decode(m).map_err(|_| Rejection::BadSignature)?;
        mac_of(k, &block.payload)
            .verify_slice(&bytes)
            .map_err(|_| Rejection::BadSignature)?;
    }
    if record.ticket != ticket {
        return Err(Rejection::OtherTicket(record.ticket));
    }
    Ok(record)
}

/// base64url without padding (RFC 4648 §5), the payload's alphabet.
mod b64 {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    pub fn encode(bytes: &[u8]) -> String {
        let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
            for i in 0..=chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            }
        }
        out
    }

    fn value(c: u8) -> Option<u32> {
        ALPHABET.iter().position(|&a| a == c).map(|p| p as u32)
    }

    /// `None` for a character outside the alphabet or a length no encoding has.
    pub fn decode(s: &str) -> Option<Vec<u8>> {
        let bytes = s.as_bytes();
        if bytes.len() % 4 == 1 {
            return None;
        }
        let mut out = Vec::with_capacity(bytes.len() / 4 * 3 + 2);
        for chunk in bytes.chunks(4) {
            let mut n = 0u32;
            for (i, &c) in chunk.iter().enumerate() {
                n |= value(c)? << (18 - 6 * i);
            }
            for i in 0..chunk.len() - 1 {
                out.push((n >> (16 - 8 * i)) as u8);
            }
        }
        // Only the canonical encoding: the unused low bits of the last character are zero.
        (encode(&out) == s).then_some(out)
    }
}

#[cfg(test)]
mod tests;
