//! `portcullis bot`: a long-running service that syncs, verifies and posts to chat on the
//! schedules of `[bot]` in `portcullis.toml`, without anyone running a command.
//!
//! ```toml
//! [bot]
//! sync_every = "10m"        # Jira sync (when [jira] is configured)
//! verify_every = "30m"      # git verification
//! alerts_every = "1m"       # urgent events, posted at once
//! backport_every = "10m"    # backports of new approvals, with `[backport] bot = true` in the policy
//! digest = "mon 09:00"      # or "daily 09:00"
//! utc_offset = "-07:00"     # the digest's clock (default UTC)
//! healthz = "127.0.0.1:9187"
//! ```
//!
//! Each job runs on its own schedule; a failure is logged (one line) and retried with a backoff
//! that doubles up to the job's interval, so tracker and chat outages are ridden out. The ledger
//! is shared safely with triage sessions and CLI runs (SQLite WAL, a busy timeout, one
//! transaction per write). SIGTERM or Ctrl-C stops scheduling; a job that is running finishes
//! first. `/healthz` answers with each job's last run.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Datelike, FixedOffset, NaiveTime, TimeZone, Utc, Weekday};
use serde::Serialize;

mod healthz;

use portcullis_core::error::chain;
use portcullis_core::Problem;
use portcullis_ops::tracker::{Choice, Trackers};
use portcullis_ops::workspace::Workspace;
use portcullis_ops::{Error, Result};

pub use portcullis_ops::config::BotConfig;

/// `30s`, `10m`, `2h`, `1d`.
pub fn parse_every(s: &str) -> Result<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| Error::input(format!("`{s}` is not a duration like 30s, 10m, 2h or 1d")))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        _ => {
            return Err(Error::input(format!(
                "`{s}` is not a duration like 30s, 10m, 2h or 1d"
            )))
        }
    };
    if secs == 0 {
        return Err(Error::input(format!(
            "`{s}`: the interval must be positive"
        )));
    }
    Ok(Duration::from_secs(secs))
}

/// When a digest is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestSchedule {
    /// `None`: every day.
    pub day: Option<Weekday>,
    pub time: NaiveTime,
    pub offset: FixedOffset,
}

impl DigestSchedule {
    pub fn parse(s: &str, offset: Option<&str>) -> Result<DigestSchedule> {
        let bad = || {
            Error::input(format!(
                "`{s}` is not a digest schedule like `mon 09:00` or `daily 09:00`"
            ))
        };
        let mut parts = s.split_whitespace();
        let (day, time) = match (parts.next(), parts.next(), parts.next()) {
            (Some(d), Some(t), None) => (d, t),
            _ => return Err(bad()),
        };
        let day = if day.eq_ignore_ascii_case("daily") {
            None
        } else {
            Some(portcullis_core::policy::weekday(day).ok_or_else(bad)?)
        };
        let time = NaiveTime::parse_from_str(time, "%H:%M").map_err(|_| bad())?;
        let offset = match offset {
            None => FixedOffset::east_opt(0).expect("UTC"),
            Some(o) => {
                DateTime::parse_from_str(&format!("2000-01-01T00:00:00{o}"), "%Y-%m-%dT%H:%M:%S%:z")
                    .map(|d| *d.offset())
                    .map_err(|_| Error::input(format!("`{o}` is not a UTC offset like -07:00")))?
            }
        };
        Ok(DigestSchedule { day, time, offset })
    }

    /// The first due time strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> DateTime<Utc> {
        let local = after.with_timezone(&self.offset);
        let mut date = local.date_naive();
        for _ in 0..9 {
            let at = self
                .offset
                .from_local_datetime(&date.and_time(self.time))
                .single()
                .map(|d| d.with_timezone(&Utc));
            if let Some(at) = at {
                if at > after && self.day.is_none_or(|d| date.weekday() == d) {
                    return at;
                }
            }
            date = date.succ_opt().expect("a next day");
        }
        after + chrono::Duration::days(7)
    }
}

/// A job's last runs, for `/healthz` and the logs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct JobHealth {
    pub runs: u64,
    pub failures: u64,
    pub last_ok: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
}

type Health = Arc<Mutex<BTreeMap<&'static str, JobHealth>>>;

fn note(health: &Health, job: &'static str, result: &Result<String>) {
    let mut h = health.lock().unwrap_or_else(|e| e.into_inner());
    let e = h.entry(job).or_default();
    e.runs += 1;
    match result {
        Ok(what) => {
            e.last_ok = Some(Utc::now());
            tracing::info!(job, "{what}");
        }
        Err(err) => {
            e.failures += 1;
            let why = chain(err);
            tracing::warn!(job, error = %why, "job failed; retrying with backoff");
            e.last_error = Some(why);
            e.last_error_at = Some(Utc::now());
        }
    }
}

/// The jobs, each one run to completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    Sync,
    Verify,
    Alerts,
    Digest,
    /// Backports of newly approved tickets (policy `[backport] bot = true`).
    Backport,
}

impl Job {
    fn name(self) -> &'static str {
        match self {
            Job::Sync => "sync",
            Job::Verify => "verify",
            Job::Alerts => "alerts",
            Job::Digest => "digest",
            Job::Backport => "backport",
        }
    }
}

/// Run one job (blocking; call from a blocking thread).
pub fn run_job(ws: &Workspace, job: Job) -> Result<String> {
    match job {
        Job::Sync => {
            let trackers = Trackers::of(ws, &Choice::default())?;
            if trackers.is_empty() {
                return Ok("no [jira] or [github] configured; nothing to sync".into());
            }
            let rt = portcullis_ops::tracker::runtime()?;
            let mut ledger = ws.open_ledger()?;
            let reports = rt.block_on(portcullis_ops::tracker::sync(
                ws,
                &mut ledger,
                &trackers,
                false,
                &[],
                &portcullis_trackers::sync::Quiet,
            ))?;
            let parts: Vec<String> = reports
                .iter()
                .map(|r| {
                    format!(
                        "{} {} issue(s) in {} page(s), {} new event(s)",
                        if r.flavor == "github" {
                            "GitHub"
                        } else {
                            "Jira"
                        },
                        r.fetched,
                        r.pages,
                        r.new_events
                    )
                })
                .collect();
            Ok(format!("synced: {}", parts.join("; ")))
        }
        Job::Verify => {
            let v = portcullis_ops::verify::verify(
                ws,
                &portcullis_ops::verify::VerifyOptions::default(),
                &portcullis_ops::verify::Quiet,
            )?;
            let s = &v.verification.summary;
            Ok(format!(
                "verified {} repositories: {} tickets, {} landed, {} drift",
                s.repositories, s.tickets, s.landed, s.drift
            ))
        }
        Job::Backport => {
            let targets = portcullis_ops::notify::targets(ws)?;
            let poster = portcullis_chat::Poster::new(portcullis_chat::PosterConfig::default())?;
            let round = portcullis_ops::backport::bot::round(ws, &poster, &targets)?;
            Ok(round.summary())
        }
        Job::Alerts | Job::Digest => {
            let targets = portcullis_ops::notify::targets(ws)?;
            if targets.is_empty() {
                return Ok("no [[notify]] target configured".into());
            }
            let poster = portcullis_chat::Poster::new(portcullis_chat::PosterConfig::default())?;
            let rt = portcullis_ops::tracker::runtime()?;
            let mut posted = 0;
            let mut failed = Vec::new();
            for line in ws.policy.line_names() {
                let opts = portcullis_ops::notify::NotifyOptions {
                    line: Some(line.to_string()),
                    alerts_only: job == Job::Alerts,
                    digest_only: job == Job::Digest,
                    fail_at: portcullis_ops::notify::FailPoint::from_env(),
                    ..Default::default()
                };
                let r = rt.block_on(portcullis_ops::notify::notify(
                    ws,
                    &poster,
                    &targets,
                    &opts,
                    portcullis_core::time::now(),
                ))?;
                for o in &r.outcomes {
                    match o.result.as_str() {
                        "posted" => posted += 1,
                        "failed" => failed.push(format!(
                            "{} to {}: {}",
                            o.id,
                            o.target,
                            o.error.as_deref().unwrap_or("?")
                        )),
                        _ => {}
                    }
                }
            }
            if !failed.is_empty() {
                return Err(Error::input(format!(
                    "{} post(s) failed: {}",
                    failed.len(),
                    failed.join("; ")
                )));
            }
            Ok(format!("{} {} posted", posted, job.name()))
        }
    }
}

/// A job that panicked (or was cancelled), with the join error kept as the cause.
fn panicked(e: tokio::task::JoinError) -> Error {
    Error::Problem(Problem::internal("job panicked").because(e))
}

/// Options of `portcullis bot`.
#[derive(Debug, Clone, Default)]
pub struct BotOptions {
    /// Run every job once (sync, verify, alerts, digest), then exit.
    pub once: bool,
}

/// `portcullis bot`.
pub fn run(ws: Workspace, opts: BotOptions) -> Result<u8> {
    let cfg = ws
        .config
        .as_ref()
        .and_then(|c| c.bot.clone())
        .unwrap_or_default();
    let mut every = vec![
        (Job::Sync, parse_every(&cfg.sync_every)?),
        (Job::Verify, parse_every(&cfg.verify_every)?),
        (Job::Alerts, parse_every(&cfg.alerts_every)?),
    ];
    let backport_every = parse_every(&cfg.backport_every)?;
    if ws.policy.policy.backport.bot {
        every.push((Job::Backport, backport_every));
    }
    let digest = cfg
        .digest
        .as_deref()
        .map(|d| DigestSchedule::parse(d, cfg.utc_offset.as_deref()))
        .transpose()?;
    let ws = Arc::new(ws);
    if opts.once {
        let mut failed = 0;
        for job in [
            Job::Sync,
            Job::Verify,
            Job::Backport,
            Job::Alerts,
            Job::Digest,
        ] {
            let r = run_job(&ws, job);
            match &r {
                Ok(what) => tracing::info!(job = job.name(), "{what}"),
                Err(e) => {
                    failed += 1;
                    let why = chain(e);
                    tracing::error!(job = job.name(), error = %why, "job failed");
                    crate::cli::output::print(&format!("{}: {why}\n", job.name()))?;
                }
            }
            if let Ok(what) = r {
                crate::cli::output::print(&format!("{}: {what}\n", job.name()))?;
            }
        }
        return Ok(if failed > 0 { 1 } else { 0 });
    }
    let health: Health = Arc::new(Mutex::new(BTreeMap::new()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            Error::Problem(Problem::internal("cannot start the async runtime").because(e))
        })?;
    rt.block_on(async move {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        if let Some(addr) = &cfg.healthz {
            let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                Error::Problem(
                    Problem::input(format!("cannot listen on {addr} for /healthz"))
                        .because(e)
                        .hint("choose another address for `healthz` in the [bot] table"),
                )
            })?;
            tokio::spawn(healthz::serve(listener, health.clone(), stop_rx.clone()));
            tracing::info!(addr = %addr, "healthz listening");
        }
        let mut tasks = Vec::new();
        for (job, interval) in every {
            let ws = ws.clone();
            let health = health.clone();
            let mut stop = stop_rx.clone();
            tasks.push(tokio::spawn(async move {
                let mut wait = Duration::ZERO;
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = stop.changed() => break,
                    }
                    let w = ws.clone();
                    let r = tokio::task::spawn_blocking(move || run_job(&w, job))
                        .await
                        .unwrap_or_else(|e| Err(panicked(e)));
                    // Failures back off: 5 s, doubling, up to the interval.
                    wait = match &r {
                        Ok(_) => interval,
                        Err(_) if wait.is_zero() || wait >= interval => {
                            Duration::from_secs(5).min(interval)
                        }
                        Err(_) => (wait * 2).min(interval),
                    };
                    note(&health, job.name(), &r);
                    if *stop.borrow() {
                        break;
                    }
                }
            }));
        }
        if let Some(sched) = digest {
            let ws = ws.clone();
            let health = health.clone();
            let mut stop = stop_rx.clone();
            tasks.push(tokio::spawn(async move {
                let mut due = sched.next_after(portcullis_core::time::now());
                tracing::info!(next = %due, "digest scheduled");
                loop {
                    let wait = (due - portcullis_core::time::now())
                        .to_std()
                        .unwrap_or(Duration::ZERO);
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = stop.changed() => break,
                    }
                    let w = ws.clone();
                    let r = tokio::task::spawn_blocking(move || run_job(&w, Job::Digest))
                        .await
                        .unwrap_or_else(|e| Err(panicked(e)));
                    due = match &r {
                        Ok(_) => sched.next_after(portcullis_core::time::now()),
                        Err(_) => portcullis_core::time::now() + chrono::Duration::minutes(5),
                    };
                    note(&health, "digest", &r);
                }
            }));
        }
        tracing::info!("bot started");
        shutdown_signal().await;
        tracing::info!("shutting down: waiting for running jobs");
        let _ = stop_tx.send(true);
        for t in tasks {
            let _ = t.await;
        }
        tracing::info!("bot stopped");
        Ok::<_, Error>(())
    })?;
    Ok(0)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_schedules_parse() {
        assert_eq!(parse_every("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_every("2h").unwrap(), Duration::from_secs(7200));
        assert!(parse_every("10").is_err());
        assert!(parse_every("0s").is_err());
        assert!(parse_every("soon").is_err());
        let s = DigestSchedule::parse("mon 09:00", Some("-07:00")).unwrap();
        // 2026-11-24 is a Tuesday: the next Monday 09:00 at -07:00 is 2026-11-30 16:00 UTC.
        let now = DateTime::parse_from_rfc3339("2026-11-24T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(s.next_after(now).to_rfc3339(), "2026-11-30T16:00:00+00:00");
        let d = DigestSchedule::parse("daily 13:00", None).unwrap();
        assert_eq!(d.next_after(now).to_rfc3339(), "2026-11-24T13:00:00+00:00");
        assert!(DigestSchedule::parse("someday", None).is_err());
        assert!(DigestSchedule::parse("mon 9am", None).is_err());
    }

    /// A panicking job's message was once flattened into "job panicked: …"; the join error is
    /// now its cause.
    #[test]
    fn a_panicked_job_keeps_the_join_error_as_its_cause() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let join = rt
            .block_on(async {
                tokio::task::spawn_blocking(|| std::panic::resume_unwind(Box::new("boom"))).await
            })
            .unwrap_err();
        let e = panicked(join);
        assert_eq!(e.to_string(), "job panicked");
        let cause = std::error::Error::source(&e).expect("the join error is kept");
        assert!(cause.to_string().contains("panic"), "{cause}");
    }

    /// A failed job's log line and `/healthz` entry show the whole chain, not only the top
    /// message.
    #[test]
    fn a_failed_job_records_its_whole_cause_chain() {
        let health: Health = Arc::new(Mutex::new(BTreeMap::new()));
        let io = std::io::Error::other("disk on fire");
        let err = Error::Problem(Problem::internal("cannot write the ledger").because(io));
        note(&health, "verify", &Err(err));
        let h = health.lock().unwrap();
        assert_eq!(h["verify"].failures, 1);
        assert_eq!(
            h["verify"].last_error.as_deref(),
            Some("cannot write the ledger: disk on fire")
        );
    }
}
