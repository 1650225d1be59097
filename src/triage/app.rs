//! The triage screen's state and what each key does. No terminal here: keys come in as
//! crossterm events, decisions go straight to the ledger (so a crash loses nothing), and the
//! screen is drawn from this state by [`crate::triage::ui`].

use chrono::{Duration, NaiveDate};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};

use crate::triage::data::{self, GitFacts, Snapshot};
use portcullis_core::policy::LoadedPolicy;
use portcullis_core::workflow::{Decision, State};
use portcullis_ledger::Ledger;
use portcullis_ops::meeting;
use portcullis_ops::DecideRequest;
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
    fn index(self) -> usize {
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
}

impl Prompt {
    pub fn label(&self) -> String {
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

    fn set_cursor(&mut self, i: usize) {
        let n = self.rows();
        self.selected[self.view.index()] = if n == 0 { 0 } else { i.min(n - 1) };
    }

    fn move_by(&mut self, delta: isize) {
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

    /// The next meeting after this one (a week later, on the policy's meeting day).
    pub fn next_meeting(&self) -> NaiveDate {
        self.snap.meeting.date + Duration::days(7)
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

    /// Handle a key. Ledger writes happen here, one transaction each.
    pub fn key(
        &mut self,
        k: KeyEvent,
        ledger: &mut Ledger,
        policy: &LoadedPolicy,
    ) -> Result<Effect> {
        let effect = self.key_inner(k, ledger, policy)?;
        self.load_detail(ledger, policy)?;
        Ok(effect)
    }

    fn key_inner(
        &mut self,
        k: KeyEvent,
        ledger: &mut Ledger,
        policy: &LoadedPolicy,
    ) -> Result<Effect> {
        if k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c') {
            self.status = "Left without ending the meeting; `portcullis triage` resumes it".into();
            return Ok(Effect::Quit);
        }
        match self.mode.clone() {
            Mode::Prompt(p) => self.prompt_key(k, p, ledger, policy),
            Mode::Help => {
                self.mode = Mode::Normal;
                Ok(Effect::None)
            }
            Mode::Detail(_) => {
                match k.code {
                    KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') | KeyCode::Backspace => {
                        self.mode = Mode::Normal
                    }
                    KeyCode::Down | KeyCode::Char('j') => self.detail_scroll += 1,
                    KeyCode::Up | KeyCode::Char('k') => {
                        self.detail_scroll = self.detail_scroll.saturating_sub(1)
                    }
                    KeyCode::PageDown | KeyCode::Char(' ') => self.detail_scroll += self.page,
                    KeyCode::PageUp => {
                        self.detail_scroll = self.detail_scroll.saturating_sub(self.page)
                    }
                    KeyCode::Home | KeyCode::Char('g') => self.detail_scroll = 0,
                    _ => return self.decision_key(k, ledger, policy),
                }
                Ok(Effect::None)
            }
            Mode::End(Ending::Confirm) => {
                match k.code {
                    KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => {
                        meeting::close(ledger, policy, &self.snap.meeting, &self.actor)?;
                        self.reload(ledger, policy)?;
                        let mut messages = vec![format!(
                            "Meeting of {} ended: {} decision(s).",
                            self.snap.meeting.date, self.snap.decided_here
                        )];
                        messages.push(if self.tracker {
                            format!(
                                "{} decision(s) wait to be written to the tracker: p pushes them now.",
                                self.snap.pending_push
                            )
                        } else {
                            "No tracker is configured ([jira] in portcullis.toml): decisions stay in the ledger.".into()
                        });
                        messages.push("m writes the minutes; q leaves.".into());
                        self.mode = Mode::End(Ending::Ended { messages });
                    }
                    _ => {
                        self.mode = Mode::Normal;
                        self.status = "The meeting goes on".into();
                    }
                }
                Ok(Effect::None)
            }
            Mode::End(Ending::Ended { .. }) => Ok(match k.code {
                KeyCode::Char('p') if self.tracker => Effect::Push,
                KeyCode::Char('m') => Effect::Minutes,
                KeyCode::Char('q') | KeyCode::Esc | KeyCode::Enter => Effect::Quit,
                _ => Effect::None,
            }),
            Mode::Normal => self.normal_key(k, ledger, policy),
        }
    }

    /// Report the outcome of an effect on the end screen.
    pub fn report(&mut self, message: String) {
        if let Mode::End(Ending::Ended { messages }) = &mut self.mode {
            messages.push(message);
        } else {
            self.status = message;
        }
    }

    fn normal_key(
        &mut self,
        k: KeyEvent,
        ledger: &mut Ledger,
        policy: &LoadedPolicy,
    ) -> Result<Effect> {
        match k.code {
            KeyCode::Tab | KeyCode::Right => {
                self.view = View::ALL[(self.view.index() + 1) % View::ALL.len()]
            }
            KeyCode::BackTab | KeyCode::Left => {
                self.view = View::ALL[(self.view.index() + View::ALL.len() - 1) % View::ALL.len()]
            }
            KeyCode::Char(c @ '1'..='5') => {
                self.view = View::ALL[(c as u8 - b'1') as usize];
            }
            KeyCode::Down | KeyCode::Char('j') => self.move_by(1),
            KeyCode::Up | KeyCode::Char('k') => self.move_by(-1),
            KeyCode::PageDown => self.move_by(self.page as isize),
            KeyCode::PageUp => self.move_by(-(self.page as isize)),
            KeyCode::Home | KeyCode::Char('g') => self.set_cursor(0),
            KeyCode::End | KeyCode::Char('G') => self.set_cursor(usize::MAX),
            KeyCode::Char('?') => self.mode = Mode::Help,
            KeyCode::Char('/') => {
                self.mode = Mode::Prompt(Prompt {
                    ask: Ask::Search,
                    key: String::new(),
                    input: self.filter.clone(),
                    error: None,
                    from_detail: false,
                })
            }
            KeyCode::Esc if !self.filter.is_empty() => {
                self.filter.clear();
                self.status = "Filter cleared".into();
            }
            KeyCode::Char('s') => {
                self.sort = match self.sort {
                    Sort::Triage => Sort::Age,
                    Sort::Age => Sort::Key,
                    Sort::Key => Sort::Triage,
                };
                self.status = format!("Sorted by {}", self.sort.name());
            }
            KeyCode::Enter => {
                if let Some(key) = self.current_key() {
                    self.detail_scroll = 0;
                    self.mode = Mode::Detail(key);
                }
            }
            KeyCode::Char('q') => self.mode = Mode::End(Ending::Confirm),
            KeyCode::Char('r') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                self.reload(ledger, policy)?;
                self.status = "Reloaded".into();
            }
            _ => return self.decision_key(k, ledger, policy),
        }
        Ok(Effect::None)
    }

    /// a / r / d / i / n / u, in a list or in the detail view.
    fn decision_key(
        &mut self,
        k: KeyEvent,
        ledger: &mut Ledger,
        policy: &LoadedPolicy,
    ) -> Result<Effect> {
        if k.code == KeyCode::Char('u') {
            match meeting::undo_last(ledger, policy, &self.snap.meeting, &self.actor) {
                Ok(Some(e)) => {
                    self.status = format!(
                        "Took back: {} {}",
                        e.payload["decision"].as_str().unwrap_or("?"),
                        e.ticket.as_deref().unwrap_or("?")
                    );
                    self.reload(ledger, policy)?;
                }
                Ok(None) => self.status = "Nothing to take back in this meeting".into(),
                Err(e) => self.status = e.to_string(),
            }
            return Ok(Effect::None);
        }
        let ask = match k.code {
            KeyCode::Char('a') => Ask::Approve,
            KeyCode::Char('r') => Ask::Reject,
            KeyCode::Char('d') => Ask::DeferUntil,
            KeyCode::Char('i') => Ask::NeedsInfo,
            KeyCode::Char('n') => Ask::Note,
            _ => return Ok(Effect::None),
        };
        let key = match &self.mode {
            Mode::Detail(key) => Some(key.clone()),
            _ => self.current_key(),
        };
        let Some(key) = key else {
            self.status = "No ticket here".into();
            return Ok(Effect::None);
        };
        self.mode = Mode::Prompt(Prompt {
            ask,
            key,
            input: String::new(),
            error: None,
            from_detail: matches!(self.mode, Mode::Detail(_)),
        });
        Ok(Effect::None)
    }

    fn prompt_key(
        &mut self,
        k: KeyEvent,
        mut p: Prompt,
        ledger: &mut Ledger,
        policy: &LoadedPolicy,
    ) -> Result<Effect> {
        match k.code {
            KeyCode::Esc => {
                self.mode = Self::after_decision(&p);
                self.status = "Cancelled".into();
                return Ok(Effect::None);
            }
            KeyCode::Backspace => {
                p.input.pop();
            }
            KeyCode::Char(c) if !k.modifiers.contains(KeyModifiers::CONTROL) => p.input.push(c),
            KeyCode::Enter => return self.submit(p, ledger, policy),
            _ => {}
        }
        if p.ask == Ask::Search {
            self.filter = p.input.clone();
            let c = self.cursor();
            self.set_cursor(c);
        }
        self.mode = Mode::Prompt(p);
        Ok(Effect::None)
    }

    fn submit(
        &mut self,
        mut p: Prompt,
        ledger: &mut Ledger,
        policy: &LoadedPolicy,
    ) -> Result<Effect> {
        let text = p.input.trim().to_string();
        let decision = match &p.ask {
            Ask::Search => {
                self.filter = text;
                self.mode = Mode::Normal;
                self.set_cursor(0);
                return Ok(Effect::None);
            }
            Ask::Note => {
                match meeting::note(
                    ledger,
                    policy,
                    &self.snap.line,
                    Some(self.snap.meeting.date),
                    &p.key,
                    &text,
                    &self.actor,
                ) {
                    Ok(()) => {
                        self.status = format!("Note added to {}", p.key);
                        self.mode = Self::after_decision(&p);
                        if self.defer_reload {
                            self.stale = true;
                            self.detail = None;
                        } else {
                            self.reload(ledger, policy)?;
                        }
                    }
                    Err(e) => {
                        p.error = Some(e.to_string());
                        self.mode = Mode::Prompt(p);
                    }
                }
                return Ok(Effect::None);
            }
            Ask::DeferUntil => {
                let until = if text.is_empty() {
                    Some(self.next_meeting())
                } else {
                    NaiveDate::parse_from_str(&text, "%Y-%m-%d").ok()
                };
                match until {
                    Some(d) if d > self.snap.meeting.date => {
                        p.ask = Ask::DeferReason(d);
                        p.input.clear();
                        p.error = None;
                    }
                    Some(_) => p.error = Some("the date must be after this meeting".into()),
                    None => p.error = Some(format!("`{text}` is not a date like 2026-12-01")),
                }
                self.mode = Mode::Prompt(p);
                return Ok(Effect::None);
            }
            Ask::Approve => Decision::Approve,
            Ask::Reject => Decision::Reject,
            Ask::DeferReason(_) => Decision::Defer,
            Ask::NeedsInfo => Decision::NeedsInfo,
        };
        let until = match p.ask {
            Ask::DeferReason(d) => Some(d),
            _ => None,
        };
        let req = DecideRequest {
            key: p.key.clone(),
            line: Some(self.snap.line.clone()),
            decision,
            note: (!text.is_empty()).then(|| text.clone()),
            actor: self.actor.clone(),
            meeting: Some(self.snap.meeting.date),
            until,
            force: false,
            target: None,
        };
        match portcullis_ops::decide(ledger, policy, req) {
            Ok(out) => {
                self.status = format!(
                    "{} {}: {} → {} (event {}; u takes it back)",
                    out.decision,
                    out.key,
                    out.from.describe(),
                    out.to.describe(),
                    out.seq
                );
                self.mode = Self::after_decision(&p);
                if self.defer_reload {
                    self.apply_locally(&out.key, out.to);
                } else {
                    self.reload(ledger, policy)?;
                }
            }
            Err(e) => {
                p.error = Some(e.to_string().lines().next().unwrap_or("").to_string());
                self.mode = Mode::Prompt(p);
            }
        }
        Ok(Effect::None)
    }

    /// A decision's effect on the rows, before the full reload: the ticket leaves the queue
    /// (or changes state there), and the counts move.
    fn apply_locally(&mut self, key: &str, to: State) {
        match to {
            State::Requested | State::NeedsInfo => {
                for r in self.snap.queue.iter_mut().filter(|r| r.key == key) {
                    r.state = to;
                    r.new = false;
                }
            }
            _ => self.snap.queue.retain(|r| r.key != key),
        }
        self.snap.decided_here += 1;
        self.snap.pending_push += 1;
        self.detail = None;
        self.stale = true;
        let c = self.cursor();
        self.set_cursor(c);
    }

    /// After a decision: back to the detail if it was open there, else the list.
    fn after_decision(p: &Prompt) -> Mode {
        if p.from_detail {
            Mode::Detail(p.key.clone())
        } else {
            Mode::Normal
        }
    }

    /// Mouse: the wheel scrolls the list or the detail.
    pub fn mouse(&mut self, m: MouseEvent) {
        let delta: isize = match m.kind {
            MouseEventKind::ScrollDown => 3,
            MouseEventKind::ScrollUp => -3,
            _ => return,
        };
        match self.mode {
            Mode::Detail(_) => {
                self.detail_scroll = (self.detail_scroll as isize + delta).max(0) as usize
            }
            Mode::Normal => self.move_by(delta),
            _ => {}
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
