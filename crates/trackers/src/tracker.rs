//! The one shape of a tracker: what [`crate::sync`] and [`crate::push`] need of Jira and of
//! GitHub, and nothing else.
//!
//! A tracker lists its tickets in **scopes** (a Jira site is one scope; each GitHub repository
//! is one), each keeping its own cursor. Within a scope, a sync runs the **label queries** (every
//! ticket carrying one of the policy's labels), then the **known** query (tickets the ledger
//! knows, or `--key` names, that carry none of them any more, so that a removed label is seen).
//! The tracker pages through them and hands each page to a [`Sink`]: the sync loop, which plans
//! each ticket's events with [`Tracker::plan`] (pure) and commits the page with its checkpoint.
//!
//! Push re-reads a ticket as a [`Remote`] (its labels, who changed them and when, its comments),
//! then writes labels and comments.

use std::collections::BTreeSet;
use std::future::Future;

use chrono::{DateTime, Utc};
use serde::Serialize;

use portcullis_core::event::{LabelFact, NewEvent};
use portcullis_core::policy::LoadedPolicy;
use portcullis_core::record::Form;
use portcullis_ledger::Ledger;

use crate::records::RecordTrust;
use crate::Result;

/// The account a tracker client is logged in as.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Account {
    /// The identity the tracker records as the actor: Jira Data Center user name, Jira Cloud
    /// account id, GitHub login.
    pub id: String,
    pub display_name: Option<String>,
}

/// A part of a tracker that keeps its own sync cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The name its cursor is kept under in the ledger's `sync_state`.
    pub name: String,
    /// How messages name it (`lsst/daf_butler: …`); empty for a tracker with one scope.
    pub prefix: String,
    /// Which part of the tracker it is (the tracker's own index: a repository).
    pub index: usize,
    /// The policy's labels, which the label queries look for.
    pub labels: Vec<String>,
    /// The label queries, in order.
    pub label_queries: Vec<Query>,
    /// What the known query reads, for progress messages.
    pub known_query: String,
}

/// One label query of a scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// What it reads, for progress messages.
    pub what: String,
    /// What the tracker asks (a JQL clause, a label).
    pub ask: String,
}

/// One page of tickets, as a tracker hands it to the sync loop.
#[derive(Debug)]
pub struct Page<T> {
    pub tickets: Vec<T>,
    /// Tickets the tracker listed for this page (some may have been left out as already read).
    pub listed: u64,
    /// The newest update time among the listed tickets: where a resumed run starts again.
    pub newest: Option<DateTime<Utc>>,
    /// Requests made besides the listing (complete changelogs, events, commits).
    pub requests: u64,
    /// How many tickets the whole query holds, when the tracker says (Jira Data Center).
    pub total: Option<u64>,
    pub warnings: Vec<String>,
}

impl<T> Page<T> {
    pub fn new(tickets: Vec<T>) -> Page<T> {
        Page {
            listed: tickets.len() as u64,
            tickets,
            newest: None,
            requests: 0,
            total: None,
            warnings: Vec::new(),
        }
    }
}

/// Where a tracker hands the pages it reads: the sync loop.
pub trait Sink<T> {
    /// Plan and commit one page. With `checkpoint`, a resumed run starts after it.
    fn page(&mut self, page: Page<T>, checkpoint: bool) -> Result<()>;
    /// A new query was started (for the report).
    fn query_started(&mut self, queries: usize);
    /// Whether this run has already read `key` (a ticket under two labels is read once).
    fn seen(&self, key: &str) -> bool;
    /// The ledger as it stands, for what a tracker need not read again.
    fn ledger(&self) -> &Ledger;
    /// The tracker does not have `key` (deleted, moved to `moved_to`, never existed): a ticket
    /// the ledger knows is recorded as gone (once); one it does not is reported as unknown.
    fn missing(&mut self, key: &str, reason: &str, moved_to: Option<&str>) -> Result<()>;
}

/// A label change on a ticket as the tracker tells it, for push's conflict check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteChange {
    /// The tracker's id of the change (a Jira history, a GitHub event).
    pub id: String,
    pub at: DateTime<Utc>,
    /// Who made it (empty when the tracker does not say).
    pub actor: String,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// The dedup keys this change's events have in a ledger that has synced it.
    pub ledger_keys: Vec<String>,
}

/// A ticket as push re-reads it before writing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Remote {
    pub labels: BTreeSet<String>,
    pub changes: Vec<RemoteChange>,
    /// Its comments, oldest first.
    pub comments: Vec<RemoteComment>,
}

/// A comment as push re-reads it: who wrote it (the tracker's identity, as `writers` names
/// accounts; empty when it does not say) and its text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemoteComment {
    pub author: String,
    pub body: String,
}

/// A tracker portcullis syncs from and pushes to.
pub trait Tracker: Sync {
    /// A ticket as the tracker's listing returns it, with what its plan needs.
    type Ticket: Send;

    /// `jira` or `github`: the source of the events its sync and push write.
    fn source(&self) -> &'static str;
    /// The site, for messages and cursor names (never holds a secret).
    fn site(&self) -> &str;
    /// `cloud`, `datacenter`, `github`.
    fn flavor(&self) -> String;
    /// Warnings to give before a sync (an anonymous client, …).
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
    /// Check the keys a user named (`--key`) before anything is read.
    fn check_keys(&self, _keys: &[String]) -> Result<()> {
        Ok(())
    }
    /// The scopes to sync, and their queries.
    fn scopes(&self, policy: &LoadedPolicy) -> Result<Vec<Scope>>;
    /// Those of `keys` that are tickets of `scope`, as the tracker spells them.
    fn scope_keys(&self, scope: &Scope, keys: Vec<String>, ledger: &Ledger) -> Result<Vec<String>>;
    /// Read label query `query` of `scope`, updated at or after `since`, page by page.
    fn labelled(
        &self,
        scope: &Scope,
        query: usize,
        since: Option<DateTime<Utc>>,
        sink: &mut dyn Sink<Self::Ticket>,
    ) -> impl Future<Output = Result<()>>;
    /// Read the tickets of `scope` that the label queries did not return: `keys`, those the
    /// ledger knows (updated at or after `since`, when given), and `named`, those the user named
    /// (`--key`, whenever updated); page by page. Keys the tracker does not have go to
    /// [`Sink::missing`], and never fail the read.
    fn known(
        &self,
        scope: &Scope,
        keys: Vec<String>,
        named: Vec<String>,
        since: Option<DateTime<Utc>>,
        sink: &mut dyn Sink<Self::Ticket>,
    ) -> impl Future<Output = Result<()>>;
    /// The ticket's key.
    fn key(&self, ticket: &Self::Ticket) -> String;
    /// The events of one ticket, given the label changes the ledger already has for it. Pure.
    fn plan(
        &self,
        policy: &LoadedPolicy,
        ticket: &Self::Ticket,
        known: &[LabelFact],
        warnings: &mut Vec<String>,
    ) -> Vec<NewEvent>;

    /// Those of `keys` that live in this tracker (their shape, or a sync saw them here).
    fn own_keys(&self, keys: BTreeSet<String>, ledger: &Ledger) -> Result<BTreeSet<String>>;
    /// The ticket as it stands now, or why it cannot be written here ([`Missing`]).
    fn remote(&self, key: &str) -> impl Future<Output = Result<Result<Remote, Missing>>>;
    /// Add and remove labels (only those not already so).
    fn set_labels(
        &self,
        key: &str,
        add: &[String],
        remove: &[String],
    ) -> impl Future<Output = Result<()>>;
    /// Post a comment; its id when the tracker gives one.
    fn comment(&self, key: &str, body: &str) -> impl Future<Output = Result<Option<String>>>;
    /// Delete a comment push posted (by the id [`Tracker::comment`] gave): the decision of a
    /// push that lost the race for a ticket is taken back.
    fn delete_comment(&self, key: &str, id: &str) -> impl Future<Output = Result<()>>;
    /// The dedup key of the conflict between a pending decision (by its event hash) and a
    /// change made by someone else.
    fn conflict_key(&self, decision_hash: &str, change: &RemoteChange) -> String;
    /// What a `push` or `push.conflict` event records about where it was written.
    fn push_details(&self, key: &str) -> serde_json::Map<String, serde_json::Value>;
    /// Whose decision records sync applies, and the team key push signs them with.
    /// The ids of every comment the ticket has now, when the tracker returned all of them
    /// (`None` when it cannot say): a record comment missing from them was deleted.
    fn comment_ids(&self, _ticket: &Self::Ticket) -> Option<BTreeSet<String>> {
        None
    }

    fn records(&self) -> &RecordTrust {
        &crate::records::NO_TRUST
    }
    /// The form decision records take in this tracker's comments.
    fn record_form(&self) -> Form;
}

/// Why push cannot write a ticket: not in the tracker (deleted, moved, not visible), or not
/// reachable from this workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// What is wrong, for the report.
    pub reason: String,
    /// The tracker says it does not have the ticket (deleted or moved): it is gone.
    pub gone: bool,
    /// The key it has now, when the tracker says it moved.
    pub moved_to: Option<String>,
}

impl Missing {
    /// The tracker does not have the ticket (deleted, or not visible).
    pub fn gone(reason: impl Into<String>) -> Missing {
        Missing {
            reason: reason.into(),
            gone: true,
            moved_to: None,
        }
    }

    /// The tracker has the ticket under another key now.
    pub fn moved(reason: impl Into<String>, to: impl Into<String>) -> Missing {
        Missing {
            reason: reason.into(),
            gone: true,
            moved_to: Some(to.into()),
        }
    }

    /// The ticket is out of this workspace's reach (its tracker is not set up for it).
    pub fn unreachable(reason: impl Into<String>) -> Missing {
        Missing {
            reason: reason.into(),
            gone: false,
            moved_to: None,
        }
    }
}
