//! What a completed prompt does on the triage screen: a decision or a note written to the
//! ledger at once (one transaction each), a deferral's date checked, a filter applied.

use chrono::NaiveDate;

use crate::triage::app::{App, Ask, Effect, Mode, Prompt};
use portcullis_core::policy::LoadedPolicy;
use portcullis_core::workflow::{Decision, State};
use portcullis_ledger::Ledger;
use portcullis_ops::meeting;
use portcullis_ops::Result;
use portcullis_ops::{AcceptPartialRequest, DecideRequest};

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
            Ask::Note => return self.submit_note(p, &text, ledger, policy),
            Ask::AcceptPartial => return self.submit_accept_partial(p, text, ledger, policy),
            Ask::DeferUntil => {
                let until = if text.is_empty() {
                    Some(self.next_meeting(policy))
                } else {
                    NaiveDate::parse_from_str(&text, "%Y-%m-%d").ok()
                };
                match until.map(|d| (d, meeting::check_defer_until(d, self.snap.meeting.date))) {
                    Some((d, Ok(()))) => {
                        p.ask = Ask::DeferReason(d);
                        p.input.clear();
                        p.error = None;
                    }
                    Some((_, Err(e))) => p.error = Some(portcullis_core::error::chain(&e)),
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
        if p.exception.is_some() && text.is_empty() {
            p.error = Some("a policy exception needs a reason".into());
            self.mode = Mode::Prompt(p);
            return Ok(Effect::None);
        }
        let mut req = self.request(&p, decision);
        req.note = (!text.is_empty()).then(|| text.clone());
        if p.exception.is_none() {
            // Refused by the policy: say why, and how to record it as an exception.
            match portcullis_ops::decision_violations(ledger, policy, &req) {
                Ok(v) if !v.is_empty() => {
                    p.error = Some(format!(
                        "The policy does not allow it: {}. Ctrl-F records it as a policy exception",
                        v.join("; ")
                    ));
                    self.mode = Mode::Prompt(p);
                    return Ok(Effect::None);
                }
                Ok(_) => {}
                Err(e) => {
                    let why = portcullis_core::error::chain(&e);
                    p.error = Some(why.lines().next().unwrap_or("").to_string());
                    self.mode = Mode::Prompt(p);
                    return Ok(Effect::None);
                }
            }
        }
        match portcullis_ops::decide(ledger, policy, req) {
            Ok(out) => {
                self.status = format!(
                    "{} {}: {} → {} ({}{}; event {}; u takes it back)",
                    out.decision,
                    out.key,
                    out.from.describe(),
                    out.to.describe(),
                    out.place(),
                    if out.violations.is_empty() {
                        String::new()
                    } else {
                        format!(", policy exception: {}", out.violations.join("; "))
                    },
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

    /// A note, written to the ledger at once.
    fn submit_note(
        &mut self,
        mut p: Prompt,
        text: &str,
        ledger: &mut Ledger,
        policy: &LoadedPolicy,
    ) -> Result<Effect> {
        match meeting::note(
            ledger,
            policy,
            &self.snap.line,
            Some(self.snap.meeting.date),
            &p.key,
            text,
            &self.actor,
        ) {
            Ok(()) => {
                self.status = format!("Note added to {}", p.key);
                self.recorded(&p, ledger, policy)?;
            }
            Err(e) => {
                p.error = Some(portcullis_core::error::chain(&e));
                self.mode = Mode::Prompt(p);
            }
        }
        Ok(Effect::None)
    }

    /// A partial landing accepted as what was wanted, with its reason.
    fn submit_accept_partial(
        &mut self,
        mut p: Prompt,
        text: String,
        ledger: &mut Ledger,
        policy: &LoadedPolicy,
    ) -> Result<Effect> {
        let req = AcceptPartialRequest {
            key: p.key.clone(),
            line: Some(self.snap.line.clone()),
            repos: Vec::new(),
            note: Some(text),
            actor: self.actor.clone(),
        };
        match portcullis_ops::accept_partial(ledger, policy, req) {
            Ok(out) => {
                let repos: Vec<&str> = out.accepted.iter().map(|a| a.repo.as_str()).collect();
                self.status = format!(
                    "Partial landing of {} accepted in {}: it counts as landed there",
                    out.key,
                    repos.join(", ")
                );
                self.recorded(&p, ledger, policy)?;
            }
            Err(e) => {
                let why = portcullis_core::error::chain(&e);
                p.error = Some(why.lines().next().unwrap_or("").to_string());
                self.mode = Mode::Prompt(p);
            }
        }
        Ok(Effect::None)
    }

    /// After something other than a decision was recorded: leave the prompt, and reload (or
    /// mark the screen stale while reloads are deferred).
    fn recorded(&mut self, p: &Prompt, ledger: &mut Ledger, policy: &LoadedPolicy) -> Result<()> {
        self.mode = Self::after_decision(p);
        if self.defer_reload {
            self.stale = true;
            self.detail = None;
        } else {
            self.reload(ledger, policy)?;
        }
        Ok(())
    }

    /// The request a decision prompt makes (a policy exception is a forced decision).
    fn request(&self, p: &Prompt, decision: Decision) -> DecideRequest {
        DecideRequest {
            key: p.key.clone(),
            line: Some(self.snap.line.clone()),
            decision,
            note: (!p.input.trim().is_empty()).then(|| p.input.trim().to_string()),
            actor: self.actor.clone(),
            meeting: Some(self.snap.meeting.date),
            until: match p.ask {
                Ask::DeferReason(d) => Some(d),
                _ => None,
            },
            force: p.exception.is_some(),
            target: None,
        }
    }

    /// The violations the policy would refuse a prompt's decision for (`None`: it allows it,
    /// or the prompt is no decision).
    pub(super) fn refusal(
        &self,
        p: &Prompt,
        ledger: &Ledger,
        policy: &LoadedPolicy,
    ) -> Option<Vec<String>> {
        let decision = match p.ask {
            Ask::Approve => Decision::Approve,
            Ask::Reject => Decision::Reject,
            Ask::DeferReason(_) => Decision::Defer,
            Ask::NeedsInfo => Decision::NeedsInfo,
            _ => return None,
        };
        portcullis_ops::decision_violations(ledger, policy, &self.request(p, decision))
            .ok()
            .filter(|v| !v.is_empty())
    }

    /// A decision's effect on the rows, before the full reload: the ticket leaves the queue
    /// (or changes state there), and the counts move.
    fn apply_locally(&mut self, key: &str, to: State) {
        match to {
            State::Requested => {
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
