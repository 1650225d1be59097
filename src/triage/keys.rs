//! What each key does on the triage screen, by mode (list, detail, prompt, help, end of the
//! meeting), and the mouse wheel.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};

use crate::triage::app::{App, Ask, Effect, Ending, Mode, Prompt, Sort, View};
use portcullis_core::policy::LoadedPolicy;
use portcullis_ledger::Ledger;
use portcullis_ops::meeting;
use portcullis_ops::Result;

impl App {
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
                    exception: None,
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

    /// a / r / d / i / n / p / u, in a list or in the detail view.
    fn decision_key(
        &mut self,
        k: KeyEvent,
        ledger: &mut Ledger,
        policy: &LoadedPolicy,
    ) -> Result<Effect> {
        if k.code == KeyCode::Char('R') {
            match meeting::ratify(ledger, policy, &self.snap.line, &self.actor) {
                Ok(done) if done.is_empty() => {
                    self.status = "Nothing to ratify: no provisional decision waits".into()
                }
                Ok(done) => {
                    self.status = format!(
                        "Ratified {} provisional decision(s) in {}",
                        done.len(),
                        self.snap.meeting.name()
                    );
                    self.reload(ledger, policy)?;
                }
                Err(e) => self.status = portcullis_core::error::chain(&e),
            }
            return Ok(Effect::None);
        }
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
                Err(e) => self.status = portcullis_core::error::chain(&e),
            }
            return Ok(Effect::None);
        }
        let ask = match k.code {
            KeyCode::Char('a') => Ask::Approve,
            KeyCode::Char('r') => Ask::Reject,
            KeyCode::Char('d') => Ask::DeferUntil,
            KeyCode::Char('i') => Ask::NeedsInfo,
            KeyCode::Char('n') => Ask::Note,
            KeyCode::Char('p') => Ask::AcceptPartial,
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
            exception: None,
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
            // After a refusal, Ctrl-F turns the decision into a policy exception.
            KeyCode::Char('f') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                match self.refusal(&p, ledger, policy) {
                    Some(v) => {
                        p.exception = Some(v);
                        p.error = None;
                    }
                    None => p.error = Some("nothing to except: the policy allows it".into()),
                }
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
}
