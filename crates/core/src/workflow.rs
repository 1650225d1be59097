//! The workflow engine: pure functions from a ticket's actions on one release line to its state.
//!
//! States: `none → requested → approved → done`, plus `rejected`, `deferred`, `needs-info` and
//! `withdrawn` ("request withdrawn or rejected: unrecorded": the request label disappeared from the
//! tracker and nobody recorded why). Every action is applied in time order by [`step`]; an action
//! the policy forbids still takes effect where the tracker says it happened (labels are facts), but
//! it is kept as a [`Violation`] with its evidence. Nothing is dropped.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a ticket stands on one release line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    None,
    Requested,
    Approved,
    Done,
    Rejected,
    Deferred,
    NeedsInfo,
    /// The request label was removed in the tracker with no decision recorded.
    Withdrawn,
}

impl State {
    pub const ALL: [State; 8] = [
        State::Requested,
        State::Deferred,
        State::NeedsInfo,
        State::Approved,
        State::Done,
        State::Rejected,
        State::Withdrawn,
        State::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::None => "none",
            State::Requested => "requested",
            State::Approved => "approved",
            State::Done => "done",
            State::Rejected => "rejected",
            State::Deferred => "deferred",
            State::NeedsInfo => "needs-info",
            State::Withdrawn => "withdrawn",
        }
    }

    /// The words a person reads.
    pub fn describe(self) -> &'static str {
        match self {
            State::Withdrawn => "request withdrawn or rejected: unrecorded",
            State::None => "not requested",
            other => other.as_str(),
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Waiting for the committee.
    pub fn is_pending(self) -> bool {
        matches!(
            self,
            State::Requested | State::Deferred | State::NeedsInfo | State::Withdrawn
        )
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A decision on a ticket for a line, taken locally or implied by a tracker label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    Request,
    Approve,
    Reject,
    Defer,
    NeedsInfo,
    Done,
    Revoke,
}

impl Decision {
    pub const ALL: [Decision; 7] = [
        Decision::Request,
        Decision::Approve,
        Decision::Reject,
        Decision::Defer,
        Decision::NeedsInfo,
        Decision::Done,
        Decision::Revoke,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Request => "request",
            Decision::Approve => "approve",
            Decision::Reject => "reject",
            Decision::Defer => "defer",
            Decision::NeedsInfo => "needs-info",
            Decision::Done => "done",
            Decision::Revoke => "revoke",
        }
    }

    pub fn parse(s: &str) -> Option<Decision> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// Decisions only the committee may take.
    pub fn needs_committee(self) -> bool {
        matches!(
            self,
            Decision::Approve
                | Decision::Reject
                | Decision::Defer
                | Decision::NeedsInfo
                | Decision::Revoke
        )
    }
}

impl Decision {
    /// "approved", "marked needs-info", …: for messages about a decision someone made.
    pub fn past_tense(self) -> &'static str {
        match self {
            Decision::Request => "requested",
            Decision::Approve => "approved",
            Decision::Reject => "rejected",
            Decision::Defer => "deferred",
            Decision::NeedsInfo => "asked for more information",
            Decision::Done => "marked done",
            Decision::Revoke => "revoked",
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a label means to the workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LabelRole {
    Request,
    Approved,
    Done,
}

/// A transition the policy forbids, or a tracker change nobody explained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ViolationKind {
    /// Marked done (label or decision) while not approved.
    DoneWithoutApproval,
    /// Approved while no request was open.
    ApproveWithoutRequest,
    /// Approved by someone who is not on the committee.
    ApprovedByNonMember,
    /// Rejected, deferred, revoked or asked for information by someone not on the committee.
    DecidedByNonMember,
    /// A label was removed in the tracker with no decision recorded.
    UnrecordedRemoval,
    /// Reject, defer or needs-info with no open request.
    DecisionWithoutRequest,
    /// Any other transition that is not allowed from the current state.
    InvalidTransition,
    /// Backported (`portcullis backport --force`) while not approved.
    BackportUnapproved,
}

impl ViolationKind {
    pub const ALL: [ViolationKind; 8] = [
        ViolationKind::DoneWithoutApproval,
        ViolationKind::ApproveWithoutRequest,
        ViolationKind::ApprovedByNonMember,
        ViolationKind::DecidedByNonMember,
        ViolationKind::UnrecordedRemoval,
        ViolationKind::DecisionWithoutRequest,
        ViolationKind::InvalidTransition,
        ViolationKind::BackportUnapproved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ViolationKind::DoneWithoutApproval => "done_without_approval",
            ViolationKind::ApproveWithoutRequest => "approve_without_request",
            ViolationKind::ApprovedByNonMember => "approved_by_non_member",
            ViolationKind::DecidedByNonMember => "decided_by_non_member",
            ViolationKind::UnrecordedRemoval => "unrecorded_removal",
            ViolationKind::DecisionWithoutRequest => "decision_without_request",
            ViolationKind::InvalidTransition => "invalid_transition",
            ViolationKind::BackportUnapproved => "backport_unapproved",
        }
    }

    pub fn parse(s: &str) -> Option<ViolationKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for ViolationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who or what produced an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// A label change from a tracker changelog, with its actor.
    Tracker,
    /// A label difference seen in a tracker snapshot with no changelog: actor unknown.
    Snapshot,
    /// A decision recorded in portcullis.
    Local,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ActionKind {
    Decision {
        decision: Decision,
    },
    LabelAdded {
        role: LabelRole,
        label: String,
    },
    LabelRemoved {
        role: LabelRole,
        label: String,
    },
    /// A backport carried out while not approved (`backport --force`): a violation, and no
    /// change of state.
    ForcedBackport,
}

/// One input to the engine: an event of the ledger, seen from one release line.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    /// The ledger event it comes from (evidence).
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: Option<String>,
    pub origin: Origin,
    pub kind: ActionKind,
    pub note: Option<String>,
    pub meeting: Option<NaiveDate>,
    pub until: Option<NaiveDate>,
}

/// A violation with its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub kind: ViolationKind,
    /// The event that caused it.
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: Option<String>,
    pub message: String,
    /// The later committee decision that settled it, if any.
    pub resolved_by: Option<i64>,
}

/// The derived state of a ticket on one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineState {
    pub state: State,
    /// When the current state began.
    pub since: Option<DateTime<Utc>>,
    pub requested_by: Option<String>,
    pub requested_at: Option<DateTime<Utc>>,
    pub approved_by: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
    /// How many times it was requested (re-requests after rejection count).
    pub request_count: u32,
    pub deferred_until: Option<NaiveDate>,
    pub last_note: Option<String>,
    pub last_meeting: Option<NaiveDate>,
    pub last_seq: i64,
    pub violations: Vec<Violation>,
}

impl Default for LineState {
    fn default() -> Self {
        LineState {
            state: State::None,
            since: None,
            requested_by: None,
            requested_at: None,
            approved_by: None,
            approved_at: None,
            request_count: 0,
            deferred_until: None,
            last_note: None,
            last_meeting: None,
            last_seq: 0,
            violations: Vec::new(),
        }
    }
}

impl LineState {
    pub fn open_violations(&self) -> impl Iterator<Item = &Violation> {
        self.violations.iter().filter(|v| v.resolved_by.is_none())
    }
}

/// The outcome of checking one decision against a state, without applying it.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub to: State,
    pub violations: Vec<(ViolationKind, String)>,
}

/// Is the actor on the committee? Supplied by the policy; `None` actor means unknown.
pub trait Committee {
    fn is_member(&self, actor: &str) -> bool;
}

/// What a decision does from a state: the next state and the violations it raises.
/// This is the transition table of the workflow.
pub fn check(
    from: State,
    decision: Decision,
    actor: Option<&str>,
    committee: &dyn Committee,
) -> Check {
    use State::*;
    let mut v: Vec<(ViolationKind, String)> = Vec::new();
    let who = actor.unwrap_or("unknown");
    let member = actor.is_none_or(|a| committee.is_member(a));
    let to = match decision {
        Decision::Request => match from {
            None | Rejected | Withdrawn => Requested,
            other => other,
        },
        Decision::Approve => match from {
            Requested | Deferred | NeedsInfo => Approved,
            None | Rejected | Withdrawn => {
                v.push((
                    ViolationKind::ApproveWithoutRequest,
                    format!(
                        "approved by {who} while {} (no open request)",
                        from.describe()
                    ),
                ));
                Approved
            }
            Approved | Done => from,
        },
        Decision::Reject => match from {
            Requested | Deferred | NeedsInfo | Approved | Withdrawn => Rejected,
            None => {
                v.push((
                    ViolationKind::DecisionWithoutRequest,
                    format!("rejected by {who} but never requested"),
                ));
                None
            }
            Rejected => Rejected,
            Done => {
                v.push((
                    ViolationKind::InvalidTransition,
                    format!("rejected by {who} after it was done; revert it instead"),
                ));
                Done
            }
        },
        Decision::Defer | Decision::NeedsInfo => {
            let target = if decision == Decision::Defer {
                Deferred
            } else {
                NeedsInfo
            };
            match from {
                Requested | Deferred | NeedsInfo => target,
                None | Rejected | Withdrawn => {
                    v.push((
                        ViolationKind::DecisionWithoutRequest,
                        format!(
                            "{decision} by {who} while {} (no open request)",
                            from.describe()
                        ),
                    ));
                    from
                }
                Approved | Done => {
                    v.push((
                        ViolationKind::InvalidTransition,
                        format!(
                            "{decision} by {who} while already {from}; revoke the approval first"
                        ),
                    ));
                    from
                }
            }
        }
        Decision::Done => match from {
            Approved | Done => Done,
            other => {
                v.push((
                    ViolationKind::DoneWithoutApproval,
                    format!(
                        "marked done by {who} while {} (never approved)",
                        other.describe()
                    ),
                ));
                Done
            }
        },
        Decision::Revoke => match from {
            Approved | Done => Requested,
            other => {
                v.push((
                    ViolationKind::InvalidTransition,
                    format!(
                        "revoke by {who} while {}: nothing to revoke",
                        other.describe()
                    ),
                ));
                other
            }
        },
    };
    let changes = to != from;
    if decision.needs_committee()
        && !member
        && (changes || decision == Decision::Approve && from != Done && from != Approved)
    {
        let kind = if decision == Decision::Approve {
            ViolationKind::ApprovedByNonMember
        } else {
            ViolationKind::DecidedByNonMember
        };
        v.push((
            kind,
            format!(
                "{} by {who}, who is not on the committee",
                decision.past_tense()
            ),
        ));
    }
    Check { to, violations: v }
}

/// Apply one action to a line's state. Pure.
pub fn step(mut st: LineState, action: &Action, committee: &dyn Committee) -> LineState {
    let from = st.state;
    let actor = action.actor.as_deref();
    let mut raised: Vec<(ViolationKind, String)> = Vec::new();

    let to = match &action.kind {
        ActionKind::Decision { decision } => {
            let c = check(from, *decision, actor, committee);
            raised = c.violations;
            c.to
        }
        ActionKind::LabelAdded { role, .. } => {
            let decision = match role {
                LabelRole::Request => Decision::Request,
                LabelRole::Approved => Decision::Approve,
                LabelRole::Done => Decision::Done,
            };
            let c = check(from, decision, actor, committee);
            raised = c.violations;
            c.to
        }
        ActionKind::LabelRemoved { role, label } => {
            let who = actor.unwrap_or("unknown");
            match (role, from) {
                (
                    LabelRole::Request,
                    State::Requested | State::Deferred | State::NeedsInfo | State::Approved,
                ) => {
                    raised.push((
                        ViolationKind::UnrecordedRemoval,
                        format!(
                            "`{label}` removed by {who} while {from}, with no decision recorded"
                        ),
                    ));
                    State::Withdrawn
                }
                (LabelRole::Approved, State::Approved) => {
                    raised.push((
                        ViolationKind::UnrecordedRemoval,
                        format!("`{label}` removed by {who} with no revocation recorded"),
                    ));
                    State::Requested
                }
                (LabelRole::Done, State::Done) => {
                    raised.push((
                        ViolationKind::UnrecordedRemoval,
                        format!("`{label}` removed by {who} with no decision recorded"),
                    ));
                    State::Approved
                }
                // Consistent with what was recorded (a pushed rejection, a cleanup after done).
                _ => from,
            }
        }
        ActionKind::ForcedBackport => return forced_backport(st, action),
    };

    // A committee decision recorded locally settles the open violations before it.
    if action.origin == Origin::Local && actor.is_some_and(|a| committee.is_member(a)) {
        if let ActionKind::Decision { decision } = &action.kind {
            if decision.needs_committee() || *decision == Decision::Done {
                for v in st.violations.iter_mut().filter(|v| v.resolved_by.is_none()) {
                    v.resolved_by = Some(action.seq);
                }
            }
        }
    }

    for (kind, message) in raised {
        st.violations.push(Violation {
            kind,
            seq: action.seq,
            at: action.at,
            actor: action.actor.clone(),
            message,
            resolved_by: None,
        });
    }

    if to != from {
        st.state = to;
        st.since = Some(action.at);
        match to {
            State::Requested
                if matches!(from, State::None | State::Rejected | State::Withdrawn) =>
            {
                st.request_count += 1;
                st.requested_by = action.actor.clone();
                st.requested_at = Some(action.at);
                st.approved_by = None;
                st.approved_at = None;
            }
            State::Requested => {
                // A revoked approval goes back to the queue.
                st.approved_by = None;
                st.approved_at = None;
            }
            State::Approved if from != State::Done => {
                st.approved_by = action.actor.clone();
                st.approved_at = Some(action.at);
            }
            _ => {}
        }
        if to != State::Deferred {
            st.deferred_until = None;
        }
    }
    if let ActionKind::Decision {
        decision: Decision::Defer,
    } = action.kind
    {
        if st.state == State::Deferred {
            st.deferred_until = action.until;
        }
    }
    if action.origin == Origin::Local {
        if action.note.is_some() {
            st.last_note = action.note.clone();
        }
        if action.meeting.is_some() {
            st.last_meeting = action.meeting;
        }
    }
    st.last_seq = st.last_seq.max(action.seq);
    st
}

/// A backport `--force` carried out: a violation when the ticket is not approved (the
/// derivation, not the event, says so), and nothing else (state, note, last event unchanged).
fn forced_backport(mut st: LineState, action: &Action) -> LineState {
    if !matches!(st.state, State::Approved | State::Done) {
        let who = action.actor.as_deref().unwrap_or("unknown");
        st.violations.push(Violation {
            kind: ViolationKind::BackportUnapproved,
            seq: action.seq,
            at: action.at,
            actor: action.actor.clone(),
            message: format!("backported by {who} while {}, with --force", st.state),
            resolved_by: None,
        });
    }
    st
}

/// Fold a line's actions, in time order (ties by ledger sequence), into its state.
pub fn fold(actions: &mut [Action], committee: &dyn Committee) -> LineState {
    actions.sort_by(|a, b| a.at.cmp(&b.at).then(a.seq.cmp(&b.seq)));
    actions
        .iter()
        .fold(LineState::default(), |st, a| step(st, a, committee))
}

/// One step of a traced fold: what an event did to the state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceStep {
    pub seq: i64,
    pub from: State,
    pub to: State,
    pub violations: Vec<ViolationKind>,
}

/// Like [`fold`], also returning what each action did (for timelines).
pub fn fold_traced(
    actions: &mut [Action],
    committee: &dyn Committee,
) -> (LineState, Vec<TraceStep>) {
    actions.sort_by(|a, b| a.at.cmp(&b.at).then(a.seq.cmp(&b.seq)));
    let mut st = LineState::default();
    let mut trace = Vec::with_capacity(actions.len());
    for a in actions.iter() {
        let from = st.state;
        let before = st.violations.len();
        st = step(st, a, committee);
        trace.push(TraceStep {
            seq: a.seq,
            from,
            to: st.state,
            violations: st.violations[before..].iter().map(|v| v.kind).collect(),
        });
    }
    (st, trace)
}

/// Order in which states are listed: what needs attention first.
pub fn state_rank(s: State) -> usize {
    State::ALL
        .iter()
        .position(|x| *x == s)
        .unwrap_or(usize::MAX)
}

#[cfg(test)]
#[path = "workflow/tests.rs"]
mod tests;
