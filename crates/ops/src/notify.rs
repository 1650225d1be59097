//! `portcullis notify`: post the digest (and alerts) of a line to the chat targets of
//! `portcullis.toml`, recording what was posted in the ledger so nothing is posted twice.
//!
//! # The post-and-record sequence, and what it guarantees
//! For each target and message: (1) if a `digest.posted` / `alert.posted` event with the
//! message's id and the target exists, skip; (2) append `digest.sending` (id, target, window);
//! (3) post every part; (4) append `digest.posted`. A crash can fall between any two steps:
//! - before (2): nothing was sent or recorded; the next run posts it.
//! - between (2) and (4), on a service with an idempotency key (Matrix: the transaction id;
//!   the generic webhook: `Idempotency-Key`), the next run posts again with the same key, and
//!   the service keeps one message: **exactly once**.
//! - between (2) and (4), on Slack, Mattermost or Teams (no idempotency key), the next run cannot
//!   tell whether the post arrived. It does not post again: it records `digest.posted` with
//!   `"unconfirmed": true` and a warning. **At most once**: a digest can be lost to a crash in
//!   that window, never duplicated. The next digest starts after it.
//! - after (4): already posted; skipped.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use crate::digest::{self, Since, ALERT_POSTED, DIGEST_POSTED, DIGEST_SENDING};
use portcullis_chat::{Kind, Message, Poster, Secret, Target};
use portcullis_core::event::{source, NewEvent};
use portcullis_ledger::Ledger;

/// A post that the service refused outright (nothing delivered): the next run may send it again.
pub const DIGEST_FAILED: &str = "digest.failed";
use crate::workspace::Workspace;
use crate::{Error, OpFuture, Result};

pub use crate::config::TargetConfig;

fn env_name(name: &str, what: &str) -> String {
    let n: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("PORTCULLIS_NOTIFY_{n}_{what}")
}

/// The targets of the workspace with their secrets resolved.
pub fn targets(ws: &Workspace) -> Result<Vec<Target>> {
    let Some(cfg) = ws.config.as_ref() else {
        return Ok(Vec::new());
    };
    let file = crate::credentials::credentials_path(ws.credentials_file().as_deref());
    let table = match &file {
        Some(p) if p.is_file() => Some(crate::credentials::read_credentials_file(p)?),
        _ => None,
    };
    let mut out = Vec::new();
    for t in &cfg.notify {
        let from_file = |what: &str| -> Option<String> {
            table
                .as_ref()?
                .get("notify")?
                .get(&t.name)?
                .get(what)?
                .as_str()
                .map(str::to_string)
        };
        let url = std::env::var(env_name(&t.name, "URL"))
            .ok()
            .filter(|s| !s.trim().is_empty())
            .or_else(|| from_file("url"))
            .ok_or_else(|| {
                Error::input(format!("no URL for the chat target `{}`", t.name)).hint(format!(
                    "set {} or `url` under [notify.{}] in the credentials file; webhook URLs are secrets and do not go in portcullis.toml",
                    env_name(&t.name, "URL"),
                    t.name
                ))
            })?;
        let token = std::env::var(env_name(&t.name, "TOKEN"))
            .ok()
            .filter(|s| !s.trim().is_empty())
            .or_else(|| from_file("token"));
        if t.kind == Kind::Matrix && (t.room.is_none() || token.is_none()) {
            return Err(Error::input(format!(
                "the Matrix target `{}` needs `room` in portcullis.toml and a token",
                t.name
            ))
            .hint(format!(
                "set {} or `token` under [notify.{}] in the credentials file",
                env_name(&t.name, "TOKEN"),
                t.name
            )));
        }
        out.push(Target {
            name: t.name.clone(),
            kind: t.kind,
            url: Secret::new(url),
            room: t.room.clone(),
            token: token.map(Secret::new),
            min_interval: t.min_interval_ms.map(std::time::Duration::from_millis),
        });
    }
    Ok(out)
}

/// Where a run of `notify` may be made to stop, to test the post-and-record sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailPoint {
    /// After `digest.sending` is recorded, before posting.
    AfterSending,
    /// After posting, before `digest.posted` is recorded.
    AfterPost,
}

impl FailPoint {
    /// From `PORTCULLIS_FAILPOINT` (`notify.after_sending`, `notify.after_post`).
    pub fn from_env() -> Option<FailPoint> {
        match std::env::var("PORTCULLIS_FAILPOINT").ok()?.as_str() {
            "notify.after_sending" => Some(FailPoint::AfterSending),
            "notify.after_post" => Some(FailPoint::AfterPost),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct NotifyOptions {
    pub line: Option<String>,
    /// Default: since the last digest posted to each target.
    pub since: Option<Since>,
    pub dry_run: bool,
    /// Only these targets (names); default all.
    pub only: Vec<String>,
    /// Post a digest even when nothing happened.
    pub force: bool,
    pub fail_at: Option<FailPoint>,
    /// Skip the alerts (`digest_only`) or the digest (`alerts_only`); the bot runs them apart.
    pub alerts_only: bool,
    pub digest_only: bool,
}

/// What happened to one message at one target.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub target: String,
    pub id: String,
    /// posted, already posted, unconfirmed, nothing new, failed, dry run
    pub result: String,
    pub parts: usize,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NotifyReport {
    pub line: String,
    /// The digest as the first target would get it (for `--dry-run` and the terminal).
    pub digest: Option<Message>,
    pub outcomes: Vec<Outcome>,
}

impl NotifyReport {
    pub fn failed(&self) -> bool {
        self.outcomes.iter().any(|o| o.result == "failed")
    }
}

fn count(ledger: &Ledger, kind: &str, id: &str, target: &str) -> Result<usize> {
    Ok(ledger
        .events_of_kinds(&[kind])?
        .iter()
        .filter(|e| {
            e.payload.get("id").and_then(Value::as_str) == Some(id)
                && e.payload.get("target").and_then(Value::as_str) == Some(target)
        })
        .count())
}

fn posted_before(ledger: &Ledger, kind: &str, id: &str, target: &str) -> Result<bool> {
    Ok(count(ledger, kind, id, target)? > 0)
}

fn record(
    ledger: &mut Ledger,
    ws: &Workspace,
    kind: &'static str,
    line: &str,
    payload: Value,
) -> Result<()> {
    ledger.append_all(
        &ws.policy,
        [NewEvent {
            ticket: None,
            line: Some(line.to_string()),
            kind,
            source: source::LOCAL.into(),
            actor: Some("portcullis-bot".into()),
            at: portcullis_core::time::now(),
            meeting: None,
            note: None,
            payload,
            dedup_key: None,
        }],
    )?;
    Ok(())
}

/// Post one message to one target with the post-and-record sequence.
#[allow(clippy::too_many_arguments)]
async fn deliver(
    ledger: &mut Ledger,
    ws: &Workspace,
    poster: &Poster,
    target: &Target,
    line: &str,
    m: &Message,
    posted_kind: &'static str,
    window: Value,
    fail_at: Option<FailPoint>,
) -> Result<Outcome> {
    let mut out = Outcome {
        target: target.name.clone(),
        id: m.id.clone(),
        result: String::new(),
        parts: 0,
        error: None,
    };
    if posted_before(ledger, posted_kind, &m.id, &target.name)? {
        out.result = "already posted".into();
        return Ok(out);
    }
    let idempotent = matches!(target.kind, Kind::Matrix | Kind::Webhook);
    // Sent before, with no answer recorded either way (a refusal is recorded as failed).
    let interrupted = count(ledger, DIGEST_SENDING, &m.id, &target.name)?
        > count(ledger, DIGEST_FAILED, &m.id, &target.name)?;
    let mut payload = json!({ "id": m.id, "target": target.name, "kind": target.kind });
    if let (Value::Object(p), Value::Object(w)) = (&mut payload, &window) {
        p.extend(w.clone());
    }
    if interrupted && !idempotent {
        // An earlier run recorded the intent and stopped: the post may have arrived. Without an
        // idempotency key, posting again could duplicate it: at most once.
        tracing::warn!(target = %target.name, id = %m.id, "an earlier post may or may not have arrived; not posting it again");
        payload["unconfirmed"] = json!(true);
        record(ledger, ws, posted_kind, line, payload)?;
        out.result = "unconfirmed".into();
        return Ok(out);
    }
    if !interrupted {
        record(ledger, ws, DIGEST_SENDING, line, payload.clone())?;
    }
    if fail_at == Some(FailPoint::AfterSending) {
        std::process::exit(137);
    }
    match poster.post(target, m).await {
        Ok(r) => {
            if fail_at == Some(FailPoint::AfterPost) {
                std::process::exit(137);
            }
            payload["parts"] = json!(r.parts);
            record(ledger, ws, posted_kind, line, payload)?;
            out.parts = r.parts;
            out.result = "posted".into();
        }
        Err(e) => {
            use portcullis_chat::NotifyError as N;
            // The message with its causes (a transport error, stripped of its URL).
            let shown = portcullis_core::error::chain(&e);
            tracing::warn!(target = %target.name, error = %shown, "post failed");
            // Refused before anything was delivered: safe to send again next time. A timeout or
            // a failure after some parts went out stays "sending" (at most once).
            let nothing_delivered = match &e {
                N::Rejected { part, .. } | N::RateLimited { part, .. } => *part <= 1,
                N::Config { .. } | N::Client(_) => true,
                N::GaveUp { .. } => false,
            };
            if nothing_delivered {
                record(ledger, ws, DIGEST_FAILED, line, payload)?;
            }
            out.result = "failed".into();
            out.error = Some(shown);
        }
    }
    Ok(out)
}

/// Build and post the digest and alerts of a line.
pub fn notify<'a>(
    ws: &'a Workspace,
    poster: &'a Poster,
    targets: &'a [Target],
    opts: &'a NotifyOptions,
    now: DateTime<Utc>,
) -> OpFuture<'a, NotifyReport> {
    Box::pin(notify_all(ws, poster, targets, opts, now))
}

async fn notify_all(
    ws: &Workspace,
    poster: &Poster,
    targets: &[Target],
    opts: &NotifyOptions,
    now: DateTime<Utc>,
) -> Result<NotifyReport> {
    let line = ws.policy.resolve_line(opts.line.as_deref())?.name.clone();
    let cfgs: Vec<TargetConfig> = ws
        .config
        .as_ref()
        .map(|c| c.notify.clone())
        .unwrap_or_default();
    let chosen: Vec<&Target> = targets
        .iter()
        .filter(|t| opts.only.is_empty() || opts.only.contains(&t.name))
        .filter(|t| {
            cfgs.iter()
                .find(|c| c.name == t.name)
                .and_then(|c| c.lines.as_ref())
                .is_none_or(|ls| ls.contains(&line))
        })
        .collect();
    let mut report = NotifyReport {
        line: line.clone(),
        digest: None,
        outcomes: Vec::new(),
    };
    // Without targets (or in a dry run), show the digest since the last one posted anywhere.
    if chosen.is_empty() || opts.dry_run {
        // Read-only: a lost connection is retried once.
        let since = opts.since.unwrap_or(Since::Last);
        let d = ws.read_ledger(|l| digest::build(l, &ws.policy, Some(&line), since, now))?;
        report.digest = Some(digest::to_message(&d));
        for t in &chosen {
            report.outcomes.push(Outcome {
                target: t.name.clone(),
                id: d.id(),
                result: "dry run".into(),
                parts: portcullis_chat::render(t.kind, &digest::to_message(&d)).len(),
                error: None,
            });
        }
        return Ok(report);
    }
    let mut ledger = ws.open_ledger()?;
    for t in chosen {
        // Alerts first: they are urgent.
        // Alerts for urgent events after the last alert or digest this target got.
        let after = last_alert(&ledger, &line, &t.name)?.max(digest::last_posted(
            &ledger,
            &line,
            Some(&t.name),
        )?);
        let alerts = if opts.digest_only {
            Vec::new()
        } else {
            digest::alerts(&ledger, &ws.policy, &line, after)?
        };
        for (seq, m) in alerts {
            let o = deliver(
                &mut ledger,
                ws,
                poster,
                t,
                &line,
                &m,
                ALERT_POSTED,
                json!({ "event": seq }),
                opts.fail_at,
            )
            .await?;
            report.outcomes.push(o);
        }
        if opts.alerts_only {
            continue;
        }
        let since = opts.since.unwrap_or(Since::Last);
        let mut d = digest::build(&ledger, &ws.policy, Some(&line), since, now)?;
        if since == Since::Last {
            // Each target's window starts after the last digest it got.
            let from = digest::last_posted(&ledger, &line, Some(&t.name))?;
            if from > 0 && from != d.from_seq {
                d = digest::build_window(&ledger, &ws.policy, &line, from, now)?;
            }
        }
        let m = digest::to_message(&d);
        if report.digest.is_none() {
            report.digest = Some(m.clone());
        }
        if d.is_empty() && !opts.force {
            report.outcomes.push(Outcome {
                target: t.name.clone(),
                id: m.id.clone(),
                result: "nothing new".into(),
                parts: 0,
                error: None,
            });
            continue;
        }
        let o = deliver(
            &mut ledger,
            ws,
            poster,
            t,
            &line,
            &m,
            DIGEST_POSTED,
            json!({ "from_seq": d.from_seq, "to_seq": d.to_seq }),
            opts.fail_at,
        )
        .await?;
        report.outcomes.push(o);
    }
    Ok(report)
}

/// The event the last alert posted to a target was about (0 if none).
fn last_alert(ledger: &Ledger, line: &str, target: &str) -> Result<i64> {
    Ok(ledger
        .events_of_kinds(&[ALERT_POSTED])?
        .iter()
        .filter(|e| {
            e.line.as_deref() == Some(line)
                && e.payload.get("target").and_then(Value::as_str) == Some(target)
        })
        .filter_map(|e| e.payload.get("event").and_then(Value::as_i64))
        .max()
        .unwrap_or(0))
}
