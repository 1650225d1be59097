//! One ticket's push: re-read the ticket, refuse on a conflict (a withdrawn request, moved
//! labels, a decision record this workspace has not synced), write what is not already true,
//! and record it.

use std::collections::{BTreeSet, HashSet};

use serde_json::{json, Value};

use crate::plan::gone;
use crate::tracker::{Account, Missing, Remote, RemoteChange, RemoteComment, Tracker};
use crate::Result;
use portcullis_core::event::{kind, label_set_after, source, LabelFact, NewEvent};
use portcullis_core::policy::LoadedPolicy;
use portcullis_core::time::{fmt_utc, now};
use portcullis_core::workflow::Decision;
use portcullis_ledger::Ledger;

use super::{tracker_name, Outcome, PendingDecision, PushItem, TicketPlan};

/// One ticket's push in progress.
pub(super) struct TicketPush<'a, T: Tracker> {
    pub(super) ledger: &'a mut Ledger,
    pub(super) policy: &'a LoadedPolicy,
    pub(super) tracker: &'a T,
    pub(super) me: &'a Account,
    pub(super) plan: &'a TicketPlan,
    pub(super) dry_run: bool,
}

impl<T: Tracker> TicketPush<'_, T> {
    /// Re-read the ticket, check for conflicts, write what is not already true, record it.
    /// Returns the item and the number of events recorded.
    pub(super) async fn run(&mut self) -> Result<(PushItem, u64)> {
        let plan = self.plan;
        let mut item = PushItem {
            key: plan.key.clone(),
            tracker: self.tracker.source().to_string(),
            decisions: plan
                .decisions
                .iter()
                .map(|d| format!("{} {} (#{})", d.decision, d.line, d.seq))
                .collect(),
            add: Vec::new(),
            remove: Vec::new(),
            comments: 0,
            outcome: Outcome::WouldPush,
            detail: None,
        };
        let remote = match self.tracker.remote(&plan.key).await? {
            Ok(r) => r,
            Err(missing) => return self.missing(item, missing),
        };
        let (mut foreign, why) = self.moved(&remote)?;
        for f in self.foreign(&remote.changes)? {
            if !foreign.iter().any(|g| g.id == f.id) {
                foreign.push(f);
            }
        }
        // Another workspace pushed a decision here that this one has not synced: deciding
        // over it would leave two outcomes in the tracker.
        let unknown = self.unknown_records(&remote.comments, None)?;
        let mut why = why;
        for (change, w) in unknown {
            if !why.contains(&w) {
                why.push(w);
            }
            foreign.push(change);
        }
        if !foreign.is_empty() || !why.is_empty() {
            return self.conflict(item, &foreign, &why);
        }
        // Only what is not already true in the tracker.
        for (label, present) in &plan.labels {
            match (present, remote.labels.contains(label)) {
                (true, false) => item.add.push(label.clone()),
                (false, true) => item.remove.push(label.clone()),
                _ => {}
            }
        }
        let to_post: Vec<&(String, String)> = plan
            .comments
            .iter()
            .filter(|(marker, _)| {
                !remote
                    .comments
                    .iter()
                    .any(|c| c.body.contains(marker.as_str()))
            })
            .collect();
        item.comments = to_post.len();
        if self.dry_run {
            return Ok((item, 0));
        }
        // The comments first: each carries its decision's record, a claim on the ticket. Then
        // the ticket is read again: when another workspace's record came first (a push at the
        // same time, after this one's first read), this one takes its comments back and
        // writes nothing; the first claim is the outcome.
        let mut posted = 0;
        let mut ids = Vec::new();
        for (_, body) in &to_post {
            ids.push(self.tracker.comment(&plan.key, body).await?);
            posted += 1;
        }
        if let Some((marker, _)) = to_post.first() {
            if let Ok(now_there) = self.tracker.remote(&plan.key).await? {
                let mine = now_there
                    .comments
                    .iter()
                    .position(|c| c.body.contains(marker.as_str()));
                let earlier = self.unknown_records(&now_there.comments, mine)?;
                if !earlier.is_empty() {
                    for id in ids.iter().flatten() {
                        self.tracker.delete_comment(&plan.key, id).await?;
                    }
                    let (changes, why): (Vec<RemoteChange>, Vec<String>) =
                        earlier.into_iter().unzip();
                    return self.conflict(item, &changes, &why);
                }
            }
        }
        self.tracker
            .set_labels(&plan.key, &item.add, &item.remove)
            .await?;
        item.outcome = if item.add.is_empty() && item.remove.is_empty() && to_post.is_empty() {
            Outcome::AlreadyInTracker
        } else {
            Outcome::Pushed
        };
        let already = item.outcome == Outcome::AlreadyInTracker;
        let events = plan.decisions.iter().map(|d| {
            // The comment that holds this decision's record, so a later sync can tell when it
            // is deleted.
            let marker = d.marker();
            let comment_ids: Vec<&String> = to_post
                .iter()
                .zip(&ids)
                .filter(|(c, _)| c.0 == marker)
                .filter_map(|(_, id)| id.as_ref())
                .collect();
            let mut payload = self.tracker.push_details(&plan.key);
            payload.extend([
                ("decision_seq".into(), json!(d.seq)),
                ("decision".into(), json!(d.decision.as_str())),
                ("added".into(), json!(item.add)),
                ("removed".into(), json!(item.remove)),
                ("comments_posted".into(), json!(posted)),
                ("comment_ids".into(), json!(comment_ids)),
                ("already_in_tracker".into(), json!(already)),
            ]);
            self.event(
                d,
                kind::PUSHED,
                Value::Object(payload),
                format!("push:{}", d.hash),
            )
        });
        let mut events: Vec<NewEvent> = events.collect();
        events.extend(self.superseded());
        let n = self.ledger.append_all(self.policy, events)?;
        Ok((item, n))
    }

    /// The `decision.superseded` events of the decisions the pushed ones replace.
    fn superseded(&self) -> Vec<NewEvent> {
        let mut out = Vec::new();
        for d in &self.plan.decisions {
            for old in &d.supersedes {
                out.push(NewEvent {
                    ticket: Some(self.plan.key.clone()),
                    line: Some(d.line.clone()),
                    kind: kind::DECISION_SUPERSEDED,
                    source: source::LOCAL.into(),
                    actor: d.actor.clone(),
                    at: now(),
                    meeting: d.meeting,
                    note: None,
                    payload: json!({ "decision_seq": old, "superseded_by": d.seq }),
                    dedup_key: Some(format!("superseded:{old}")),
                });
            }
        }
        out
    }

    /// The tracker does not have the ticket: report it, and record it as gone (once) when the
    /// tracker says it was deleted or moved.
    fn missing(&mut self, mut item: PushItem, missing: Missing) -> Result<(PushItem, u64)> {
        item.outcome = Outcome::Missing;
        let todo = match (&missing.moved_to, missing.gone) {
            (Some(to), _) => format!("decide again on {to}, its key now"),
            (None, true) => "if it was moved, decide again on its new key; if it is gone for good, take the decisions back in their meeting".to_string(),
            (None, false) => "make it reachable and push again".to_string(),
        };
        item.detail = Some(format!(
            "{}; nothing was written and its decisions stay pending: {todo}",
            missing.reason
        ));
        if self.dry_run || !missing.gone {
            return Ok((item, 0));
        }
        let event = gone(
            self.tracker.source(),
            &self.plan.key,
            &missing.reason,
            missing.moved_to.as_deref(),
            now(),
        );
        let n = self.ledger.append_all(self.policy, vec![event])?;
        Ok((item, n))
    }

    /// The decision records in the ticket's comments (before comment `before`, when given)
    /// that this ledger does not know, on a line the plan writes: decisions another workspace
    /// pushed that this one has not synced. Each as a change standing for it, and why.
    ///
    /// Only records sync would apply count: written by a listed writer or by the account
    /// pushing now (a team's workspaces push as one account), signed when the team has a key,
    /// and decisions (a note claims nothing). Anything else that looks like a record is sync's
    /// to report as forged; it never holds up a push.
    fn unknown_records(
        &self,
        comments: &[RemoteComment],
        before: Option<usize>,
    ) -> Result<Vec<(RemoteChange, String)>> {
        let trust = self.tracker.records();
        let mut writers = trust.writers.clone();
        writers.push(self.me.id.clone());
        let mut known: HashSet<String> = HashSet::new();
        for e in self.ledger.events_for_ticket(&self.plan.key)? {
            if let Some(h) = e
                .dedup_key
                .as_deref()
                .and_then(|k| k.strip_prefix("record:"))
            {
                known.insert(h.to_string());
            }
            known.insert(e.hash);
        }
        known.extend(self.plan.decisions.iter().map(|d| d.hash.clone()));
        let lines: BTreeSet<&str> = self
            .plan
            .decisions
            .iter()
            .map(|d| d.line.as_str())
            .collect();
        let mut out: Vec<(RemoteChange, String)> = Vec::new();
        let upto = before.unwrap_or(comments.len()).min(comments.len());
        for c in &comments[..upto] {
            for block in portcullis_core::record::find_blocks(&c.body) {
                let Ok(r) = portcullis_core::record::check(
                    &block,
                    &self.plan.key,
                    &c.author,
                    &writers,
                    trust.key.as_ref(),
                ) else {
                    continue;
                };
                if r.kind.decision().is_none() {
                    continue;
                }
                let same_ticket = r.ticket.eq_ignore_ascii_case(&self.plan.key);
                let same_line = r.line.as_deref().is_none_or(|l| lines.contains(l));
                if !same_ticket || !same_line || known.contains(&r.event) {
                    continue;
                }
                if out.iter().any(|(c, _)| c.id.ends_with(&r.event)) {
                    continue;
                }
                let kind = serde_json::to_value(r.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                let who = r.member.clone().unwrap_or_default();
                out.push((
                    RemoteChange {
                        id: format!("record:{}", r.event),
                        at: r.at,
                        actor: who.clone(),
                        added: Vec::new(),
                        removed: Vec::new(),
                        ledger_keys: Vec::new(),
                    },
                    format!(
                        "another workspace pushed a decision on it ({kind}{}, {}) that this                          workspace has not synced",
                        if who.is_empty() { String::new() } else { format!(" by {who}") },
                        fmt_utc(r.at)
                    ),
                ));
            }
        }
        Ok(out)
    }

    /// The ticket's labels as the ledger knew them when decision `seq` was taken.
    fn labels_known_at(&self, facts: &[LabelFact], seq: i64) -> BTreeSet<String> {
        label_set_after(facts.iter().filter(|f| f.seq < seq))
    }

    /// Whether the latest change of `label` in the tracker was made by the account pushing (an
    /// earlier push, perhaps interrupted before it was recorded).
    fn changed_by_me(&self, remote: &Remote, label: &str) -> bool {
        remote
            .changes
            .iter()
            .filter(|c| c.added.iter().chain(&c.removed).any(|l| l == label))
            .max_by_key(|c| c.at)
            .is_some_and(|c| c.actor.eq_ignore_ascii_case(&self.me.id))
    }

    /// The change in the tracker that last touched `label` (made by someone else), or one that
    /// stands for it when the tracker's history does not say.
    fn change_of(&self, remote: &Remote, label: &str, added: bool) -> RemoteChange {
        let touches = |c: &&RemoteChange| {
            if added {
                c.added.iter().any(|l| l == label)
            } else {
                c.removed.iter().any(|l| l == label)
            }
        };
        let (added_l, removed_l) = if added {
            (vec![label.to_string()], Vec::new())
        } else {
            (Vec::new(), vec![label.to_string()])
        };
        match remote.changes.iter().filter(touches).max_by_key(|c| c.at) {
            Some(c) => RemoteChange {
                added: added_l,
                removed: removed_l,
                ..c.clone()
            },
            None => RemoteChange {
                id: format!("labels:{}{label}", if added { '+' } else { '-' }),
                at: now(),
                actor: String::new(),
                added: added_l,
                removed: removed_l,
                ledger_keys: Vec::new(),
            },
        }
    }

    /// How the ticket moved since the decisions, compared with what the ledger knew when each
    /// was taken: the request it assumed is gone, or a label it writes is not as it was (nor as
    /// the decision wants it). Returns the changes and what they mean.
    fn moved(&self, remote: &Remote) -> Result<(Vec<RemoteChange>, Vec<String>)> {
        let facts: Vec<LabelFact> = self
            .ledger
            .events_for_ticket(&self.plan.key)?
            .into_iter()
            .filter(|e| e.kind == kind::LABEL_ADDED || e.kind == kind::LABEL_REMOVED)
            .filter_map(|e| {
                Some(LabelFact {
                    at: e.at,
                    seq: e.seq,
                    added: e.kind == kind::LABEL_ADDED,
                    label: e.payload.get("label")?.as_str()?.to_string(),
                })
            })
            .collect();
        let mut changes: Vec<RemoteChange> = Vec::new();
        let mut why: Vec<String> = Vec::new();
        let mut note = |c: RemoteChange, w: Option<String>| {
            if let Some(w) = w {
                if !why.contains(&w) {
                    why.push(w);
                }
            }
            if !changes
                .iter()
                .any(|x| x.id == c.id && x.added == c.added && x.removed == c.removed)
            {
                changes.push(c);
            }
        };
        for d in &self.plan.decisions {
            let known = self.labels_known_at(&facts, d.seq);
            let request = self.policy.line(&d.line).map(|l| l.request_label.clone());
            if let Some(r) = request.filter(|_| d.decision != Decision::Request) {
                if known.contains(&r)
                    && !remote.labels.contains(&r)
                    && !self.changed_by_me(remote, &r)
                {
                    note(
                        self.change_of(remote, &r, false),
                        Some(format!(
                            "the request (`{r}`) was withdrawn after the {} of #{}",
                            d.decision, d.seq
                        )),
                    );
                }
            }
            for (label, want) in &self.plan.labels {
                let (was, is) = (known.contains(label), remote.labels.contains(label));
                if was != is && is != *want && !self.changed_by_me(remote, label) {
                    note(self.change_of(remote, label, is), None);
                }
            }
        }
        Ok((changes, why))
    }

    /// The changes to labels the plan writes, made by someone else after the latest pending
    /// decision, or not yet seen by the ledger.
    fn foreign(&self, changes: &[RemoteChange]) -> Result<Vec<RemoteChange>> {
        let latest = self
            .plan
            .decisions
            .iter()
            .map(|d| d.at)
            .max()
            .unwrap_or_else(now);
        let seen: HashSet<String> = self
            .ledger
            .events_for_ticket(&self.plan.key)?
            .into_iter()
            .filter_map(|e| e.dedup_key)
            .collect();
        let relevant = |l: &String| self.plan.labels.contains_key(l);
        Ok(changes
            .iter()
            .filter(|c| !c.actor.eq_ignore_ascii_case(&self.me.id))
            .filter(|c| c.at > latest || c.ledger_keys.iter().any(|k| !seen.contains(k)))
            .filter_map(|c| {
                let added: Vec<String> = c.added.iter().filter(|l| relevant(l)).cloned().collect();
                let removed: Vec<String> =
                    c.removed.iter().filter(|l| relevant(l)).cloned().collect();
                (!added.is_empty() || !removed.is_empty()).then(|| RemoteChange {
                    added,
                    removed,
                    ..c.clone()
                })
            })
            .collect())
    }

    /// Report and record a conflict: nothing is written to the tracker.
    fn conflict(
        &mut self,
        mut item: PushItem,
        foreign: &[RemoteChange],
        why: &[String],
    ) -> Result<(PushItem, u64)> {
        item.outcome = Outcome::Conflict;
        let what: Vec<String> = foreign
            .iter()
            .map(|f| {
                let mut parts: Vec<String> = f.added.iter().map(|l| format!("+{l}")).collect();
                parts.extend(f.removed.iter().map(|l| format!("-{l}")));
                let who = if f.actor.is_empty() {
                    "someone"
                } else {
                    &f.actor
                };
                let what = if parts.is_empty() {
                    "a decision record".to_string()
                } else {
                    parts.join(" ")
                };
                format!("{what} by {who} at {}", fmt_utc(f.at))
            })
            .collect();
        let mut why = why.join("; ");
        if !why.is_empty() {
            why.push_str("; ");
        }
        item.detail = Some(format!(
            "{why}labels changed in {} after the decision or since the last sync: {}; nothing was written. Sync, review, and decide again to push",
            tracker_name(self.tracker.source()),
            what.join("; ")
        ));
        if self.dry_run {
            return Ok((item, 0));
        }
        let mut events = Vec::new();
        for d in &self.plan.decisions {
            for f in foreign {
                let mut payload = self.tracker.push_details(&self.plan.key);
                payload.extend([
                    ("decision_seq".into(), json!(d.seq)),
                    ("change".into(), json!(f.id)),
                    ("changed_by".into(), json!(f.actor)),
                    ("changed_at".into(), json!(fmt_utc(f.at))),
                    ("added".into(), json!(f.added)),
                    ("removed".into(), json!(f.removed)),
                ]);
                let key = self.tracker.conflict_key(&d.hash, f);
                events.push(self.event(d, kind::PUSH_CONFLICT, Value::Object(payload), key));
            }
        }
        let n = self.ledger.append_all(self.policy, events)?;
        Ok((item, n))
    }

    /// The ledger event for what push did about one decision, from the tracker.
    fn event(
        &self,
        d: &PendingDecision,
        kind: &'static str,
        payload: Value,
        dedup_key: String,
    ) -> NewEvent {
        NewEvent {
            ticket: Some(self.plan.key.clone()),
            line: Some(d.line.clone()),
            kind,
            source: self.tracker.source().into(),
            actor: Some(self.me.id.clone()),
            at: now(),
            meeting: d.meeting,
            note: None,
            payload,
            dedup_key: Some(dedup_key),
        }
    }
}
