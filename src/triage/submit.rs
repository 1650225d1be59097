//! What a completed prompt does on the triage screen: a decision or a note written to the
//! ledger at once (one transaction each), a deferral's date checked, a filter applied.

use chrono::NaiveDate;

use crate::triage::app::{App, Ask, Effect, Mode, Prompt};
use portcullis_core::policy::LoadedPolicy;
use portcullis_core::workflow::{Decision, State};
use portcullis_ledger::Ledger;
use portcullis_ops::meeting;
use portcullis_ops::DecideRequest;
use portcullis_ops::Result;

impl App {
    pub(super) fn submit(
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
                        p.error = Some(portcullis_core::error::chain(&e));
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
                let why = portcullis_core::error::chain(&e);
                p.error = Some(why.lines().next().unwrap_or("").to_string());
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
    pub(super) fn after_decision(p: &Prompt) -> Mode {
        if p.from_detail {
            Mode::Detail(p.key.clone())
        } else {
            Mode::Normal
        }
    }
}
