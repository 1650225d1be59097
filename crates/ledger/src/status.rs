//! The status views' queries: a line's [`StatusRow`]s and its violations.

use portcullis_core::event::{key_order, kind};
use portcullis_core::time::parse_utc;
use portcullis_core::workflow::{state_rank, State, Violation, ViolationKind};

use crate::db::{sql, Sql};
use crate::{Error, Ledger, Result};

const STATUS_ROWS: Sql = sql!("status_rows",
    sqlite: "SELECT s.ticket, COALESCE(t.summary, ''), s.line, s.state, s.since, s.requested_by, s.approved_by,
                    s.request_count, s.deferred_until, s.last_note,
                    (SELECT COUNT(*) FROM violations v WHERE v.ticket = s.ticket AND v.line = s.line AND v.resolved_by IS NULL),
                    EXISTS (SELECT 1 FROM events g WHERE g.ticket = s.ticket AND g.kind = ?2)
             FROM line_states s LEFT JOIN tickets t ON t.key = s.ticket
             WHERE s.line = ?1",
    postgres: "SELECT s.ticket, COALESCE(t.summary, ''), s.line, s.state, s.since, s.requested_by, s.approved_by,
                    s.request_count, s.deferred_until, s.last_note,
                    (SELECT COUNT(*) FROM violations v WHERE v.ticket = s.ticket AND v.line = s.line AND v.resolved_by IS NULL),
                    EXISTS (SELECT 1 FROM events g WHERE g.ticket = s.ticket AND g.kind = $2)
             FROM line_states s LEFT JOIN tickets t ON t.key = s.ticket
             WHERE s.line = $1");
const VIOLATIONS: Sql = sql!("violations",
    sqlite: "SELECT ticket, line, seq, kind, at, actor, message, resolved_by FROM violations
             WHERE (?1 IS NULL OR line = ?1) AND (?2 IS NULL OR ticket = ?2) ORDER BY at DESC, seq DESC",
    postgres: "SELECT ticket, line, seq, kind, at, actor, message, resolved_by FROM violations
             WHERE ($1::text IS NULL OR line = $1) AND ($2::text IS NULL OR ticket = $2) ORDER BY at DESC, seq DESC");

/// A row of `line_states` joined with its ticket, for status views.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StatusRow {
    pub key: String,
    pub summary: String,
    pub line: String,
    pub state: State,
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    pub requested_by: Option<String>,
    pub approved_by: Option<String>,
    pub request_count: u32,
    pub deferred_until: Option<chrono::NaiveDate>,
    pub last_note: Option<String>,
    pub open_violations: u32,
    /// Its tracker no longer has it (a `ticket.gone` event): deleted, or moved.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub gone: bool,
}

impl Ledger {
    /// The status rows of a line, ordered by state then key.
    pub fn status_rows(&self, line: &str) -> Result<Vec<StatusRow>> {
        let rows = self
            .db()
            .rows(&STATUS_ROWS, &[&line, &kind::TICKET_GONE], |r| {
                Ok((
                    r.get::<String>(0)?,
                    r.get::<String>(1)?,
                    r.get::<String>(2)?,
                    r.get::<String>(3)?,
                    r.get::<Option<String>>(4)?,
                    r.get::<Option<String>>(5)?,
                    r.get::<Option<String>>(6)?,
                    r.get::<i64>(7)? as u32,
                    r.get::<Option<String>>(8)?,
                    r.get::<Option<String>>(9)?,
                    r.get::<i64>(10)? as u32,
                    r.get::<bool>(11)?,
                ))
            })?;
        let mut out = Vec::new();
        for row in rows {
            let (
                key,
                summary,
                line,
                state,
                since,
                requested_by,
                approved_by,
                request_count,
                until,
                note,
                nv,
                gone,
            ) = row;
            out.push(StatusRow {
                key,
                summary,
                line,
                state: State::parse(&state).ok_or_else(|| {
                    Error::internal(format!("unknown state `{state}` in the ledger"))
                })?,
                since: since.as_deref().and_then(parse_utc),
                requested_by,
                approved_by,
                request_count,
                deferred_until: until.and_then(|u| u.parse().ok()),
                last_note: note,
                open_violations: nv,
                gone,
            });
        }
        out.sort_by(|a, b| {
            state_rank(a.state)
                .cmp(&state_rank(b.state))
                .then_with(|| key_order(&a.key, &b.key))
        });
        Ok(out)
    }

    /// The violations of a line (open and settled), newest first.
    pub fn violations(
        &self,
        line: Option<&str>,
        ticket: Option<&str>,
    ) -> Result<Vec<(String, String, Violation)>> {
        let rows = self.db().rows(&VIOLATIONS, &[&line, &ticket], |r| {
            Ok((
                r.get::<String>(0)?,
                r.get::<String>(1)?,
                r.get::<i64>(2)?,
                r.get::<String>(3)?,
                r.get::<String>(4)?,
                r.get::<Option<String>>(5)?,
                r.get::<String>(6)?,
                r.get::<Option<i64>>(7)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (t, l, seq, kind, at, actor, message, resolved_by) = row;
            out.push((
                t,
                l,
                Violation {
                    kind: ViolationKind::parse(&kind)
                        .ok_or_else(|| Error::internal(format!("unknown violation `{kind}`")))?,
                    seq,
                    at: parse_utc(&at)
                        .ok_or_else(|| Error::internal("malformed violation time"))?,
                    actor,
                    message,
                    resolved_by,
                },
            ));
        }
        Ok(out)
    }
}
