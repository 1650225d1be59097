//! The triage screen's state: the views, the modes, the rows as filtered and sorted, the cursor.
//! No terminal here: what each key does is in `triage::keys`, what a completed prompt
//! does in `triage::submit` (decisions go straight to the ledger, so a crash loses
//! nothing), and the screen is drawn from this state by [`crate::triage::ui`].

use chrono::NaiveDate;

use crate::triage::data::{self, GitFacts, Snapshot};
use portcullis_core::policy::LoadedPolicy;
use portcullis_core::workflow::State;
use portcullis_ledger::Ledger;
use portcullis_ops::Result;

/// The views, in tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Queue,
    Since,
    NotLanded,
    Drift,
    Readiness,
}

impl View {
    pub const ALL: [View; 5] = [
        View::Queue,
        View::Since,
        View::NotLanded,
        View::Drift,
        View::Readiness,
    ];
    pub fn title(self) -> &'static str {
        match self {
            View::Queue => "Queue",
            View::Since => "Since last meeting",
            View::NotLanded => "Approved, not landed",
            View::Drift => "Drift",
            View::Readiness => "Readiness",
        }
    }
    pub(super) fn index(self) -> usize {
        View::ALL.iter().position(|v| *v == self).unwrap_or(0)
    }
}

/// How the queue is sorted (`s` cycles).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// New since the last meeting first, then older requests, deferred, needs-info.
    Triage,
    Age,
    Key,
}

impl Sort {
    pub fn name(self) -> &'static str {
        match self {
            Sort::Triage => "triage order",
            Sort::Age => "oldest first",
            Sort::Key => "key",
        }
    }
}

/// What a text prompt is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// The approval's reason (optional).
    Approve,
    /// The rejection's reason (required).
    Reject,
    /// Until when to defer (empty: the next meeting).
    DeferUntil,
    /// The deferral's reason, once the date is known.
    DeferReason(NaiveDate),
    /// What information is needed (optional).
    NeedsInfo,
    /// A note (required).
    Note,
    /// Why the partial landing is what was wanted (required): `decide accept-partial`.
    AcceptPartial,
    /// The search filter.
    Search,
}

/// A text prompt in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub ask: Ask,
    pub key: String,
    pub input: String,
    pub error: Option<String>,
    /// Opened from the ticket detail (and returns there).
    pub from_detail: bool,
    /// A decision the policy refuses, to be recorded as a policy exception (like `--force`):
    /// the violations it will carry. Set by Ctrl-F after a refusal; the reason is then required.
    pub exception: Option<Vec<String>>,
}

impl Prompt {
    pub fn label(&self) -> String {
        if let Some(v) = &self.exception {
            return format!(
                "Policy exception on {} ({}): reason (required)",
                self.key,
                v.join("; ")
            );
        }
        match &self.ask {
            Ask::Approve => format!("Approve {}: reason (optional)", self.key),
            Ask::Reject => format!("Reject {}: reason (required)", self.key),
            Ask::DeferUntil => format!(
                "Defer {} until (YYYY-MM-DD, empty = next meeting)",
                self.key
            ),
            Ask::DeferReason(d) => format!("Defer {} until {d}: reason (optional)", self.key),
            Ask::NeedsInfo => format!("{} needs information: what? (optional)", self.key),
            Ask::Note => format!("Note on {}", self.key),
            Ask::AcceptPartial => format!(
                "Accept the partial landing of {} as what was wanted: reason (required)",
                self.key
            ),
            Ask::Search => "Filter (key, summary, person, repository)".to_string(),
        }
    }
}

/// The end of the meeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// "End the meeting?" (y / n).
    Confirm,
    /// Ended: offers push and minutes; shows what they did.
    Ended { messages: Vec<String> },
}

/// What the screen is doing besides showing a view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Prompt(Prompt),
    Help,
    Detail(String),
    End(Ending),
}

/// What the caller must do after a key (things that need the outside world).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    None,
    /// Leave the screen (the meeting was closed, or Ctrl-C: it stays open to resume).
    Quit,
    /// Push the decisions to the tracker, then report with [`App::report`].
    Push,
    /// Write the minutes, then report.
    Minutes,
}

/// The whole screen state.
pub struct App {
    pub snap: Snapshot,
    pub git: GitFacts,
    pub git_ready: bool,
    pub view: View,
    pub mode: Mode,
    pub selected: [usize; 5],
    pub detail_scroll: usize,
    pub filter: String,
    pub sort: Sort,
    /// The last thing that happened, shown on the bottom line.
    pub status: String,
    pub actor: String,
    pub color: bool,
    /// Whether a tracker is configured to push to.
    pub tracker: bool,
    /// Rows on screen for paging (set by the drawing code).
    pub page: usize,
    /// The ticket shown in the detail view, with its whole history.
    pub detail: Option<portcullis_ops::History>,
    /// A fixed clock for reloads (tests and benchmarks); `None`: the real one.
    pub clock: Option<chrono::DateTime<chrono::Utc>>,
    /// After a decision, update the rows in place and leave the full reload to the caller's
    /// idle time ([`App::stale`]), so the keypress redraws at once. Off: reload before returning.
    pub defer_reload: bool,
    /// The snapshot is behind the ledger (set after a decision with `defer_reload`).
    pub stale: bool,
}

impl App {
    pub fn new(snap: Snapshot, actor: String, tracker: bool, color: bool) -> App {
        App {
            snap,
            git: GitFacts::default(),
            git_ready: false,
            view: View::Queue,
            mode: Mode::Normal,
            selected: [0; 5],
            detail_scroll: 0,
            filter: String::new(),
            sort: Sort::Triage,
            status: String::new(),
            actor,
            color,
            tracker,
            page: 10,
            detail: None,
            clock: None,
            defer_reload: false,
            stale: false,
        }
    }

    /// The queue as shown: filtered and sorted.
    pub fn queue(&self) -> Vec<&data::QueueRow> {
        let mut rows: Vec<&data::QueueRow> = self
            .snap
            .queue
            .iter()
            .filter(|r| {
                self.shown(&[&r.key, &r.summary, r.requester.as_deref().unwrap_or("")])
                    || r.repos.iter().any(|x| self.shown(&[x]))
            })
            .collect();
        match self.sort {
            Sort::Triage => {}
            Sort::Age => rows.sort_by_key(|r| r.requested_at),
            Sort::Key => rows.sort_by(|a, b| portcullis_ledger::key_order(&a.key, &b.key)),
        }
        rows
    }

    /// Whether any of a row's fields contains the filter (case-insensitive; no filter: all).
    fn shown(&self, fields: &[&str]) -> bool {
        let f = self.filter.to_lowercase();
        f.is_empty() || fields.iter().any(|x| x.to_lowercase().contains(&f))
    }

    /// How many rows the current view has.
    pub fn rows(&self) -> usize {
        match self.view {
            View::Queue => self.queue().len(),
            View::Since => self.since().len(),
            View::NotLanded => self.not_landed().len(),
            View::Drift => self.drift().len(),
            View::Readiness => self.snap.readiness.len(),
        }
    }

    pub fn since(&self) -> Vec<&data::SinceRow> {
        self.snap
            .since
            .iter()
            .filter(|r| self.shown(&[r.key.as_deref().unwrap_or(""), &r.detail]))
            .collect()
    }

    pub fn not_landed(&self) -> Vec<&data::NotLandedRow> {
        self.snap
            .not_landed
            .iter()
            .filter(|r| self.shown(&[&r.key, &r.summary]))
            .collect()
    }

    pub fn drift(&self) -> Vec<&data::DriftRow> {
        self.snap
            .drift
            .iter()
            .filter(|r| self.shown(&[r.ticket.as_deref().unwrap_or(""), &r.message]))
            .collect()
    }

    pub fn cursor(&self) -> usize {
        self.selected[self.view.index()]
    }

    pub(super) fn set_cursor(&mut self, i: usize) {
        let n = self.rows();
        self.selected[self.view.index()] = if n == 0 { 0 } else { i.min(n - 1) };
    }

    pub(super) fn move_by(&mut self, delta: isize) {
        let i = self.cursor() as isize + delta;
        self.set_cursor(i.max(0) as usize);
    }

    /// The ticket under the cursor, if the view has tickets.
    pub fn current_key(&self) -> Option<String> {
        let i = self.cursor();
        match self.view {
            View::Queue => self.queue().get(i).map(|r| r.key.clone()),
            View::Since => self.since().get(i).and_then(|r| r.key.clone()),
            View::NotLanded => self.not_landed().get(i).map(|r| r.key.clone()),
            View::Drift => self.drift().get(i).and_then(|r| r.ticket.clone()),
            View::Readiness => None,
        }
    }

    /// The next meeting after this one: the policy's next meeting day (the same rule as the CLI).
    pub fn next_meeting(&self, policy: &LoadedPolicy) -> NaiveDate {
        portcullis_ops::meeting::next_meeting_date(policy, self.snap.meeting.date)
    }

    /// Take a new snapshot (after our own write, or another process's).
    pub fn reload(&mut self, ledger: &Ledger, policy: &LoadedPolicy) -> Result<()> {
        let now = self.clock.unwrap_or_else(portcullis_core::time::now);
        self.snap = data::load_at(ledger, policy, &self.snap.meeting, now)?;
        self.stale = false;
        let c = self.cursor();
        self.set_cursor(c);
        self.detail = None;
        self.load_detail(ledger, policy)
    }

    /// Load the detail view's ticket history when it is open and not loaded yet.
    pub fn load_detail(&mut self, ledger: &Ledger, policy: &LoadedPolicy) -> Result<()> {
        let key = match &self.mode {
            Mode::Detail(k) => k.clone(),
            Mode::Prompt(p) if p.from_detail => p.key.clone(),
            _ => {
                self.detail = None;
                return Ok(());
            }
        };
        if self.detail.as_ref().is_some_and(|d| d.key == key) {
            return Ok(());
        }
        self.detail = portcullis_ops::history(ledger, policy, &key)
            .ok()
            .map(|mut h| {
                h.info.summary = data::clean(&h.info.summary);
                h.info.labels = h.info.labels.iter().map(|l| data::clean(l)).collect();
                for e in &mut h.timeline {
                    e.what = data::clean(&e.what);
                    e.note = e.note.as_deref().map(data::clean);
                    e.actor = e.actor.as_deref().map(data::clean);
                }
                h
            });
        Ok(())
    }

    /// Report the outcome of an effect on the end screen.
    pub fn report(&mut self, message: String) {
        if let Mode::End(Ending::Ended { messages }) = &mut self.mode {
            messages.push(message);
        } else {
            self.status = message;
        }
    }
    /// Whether the state of a queued ticket allows a quick decision (for the help text).
    pub fn is_request(&self, key: &str) -> bool {
        self.snap
            .queue
            .iter()
            .any(|r| r.key == key && r.state == State::Requested)
    }
}
