//! A `verify` run's two ways after the probes: the verdict remembered, or the scans read,
//! judged and recorded ([`Begun`]).

use std::time::Instant;

use super::scanning::{probe_repos, scan_repos, Probed};
use super::verdict::{self, VerdictKey};
use super::{
    chosen_repos, judge_line, record, recount, settle, Recorded, ScanProgress, ScanStats,
    VerifyOptions, VerifyOutcome,
};
use crate::workspace::Workspace;
use crate::Result;
use portcullis_core::policy::Line;
use portcullis_core::time::now;
use portcullis_ledger::git_cache::CacheReader;
use portcullis_ledger::Ledger;

/// A `verify` run up to the point where it either reports the verdict it remembers or reads
/// the scans: the repositories probed, the releases cut elsewhere learned, the verdict's key.
pub(super) struct Begun<'w> {
    started: Instant,
    line: &'w Line,
    ledger: Ledger,
    cache: CacheReader,
    probed: Probed<'w>,
    learned: crate::release::Learned,
    key: Option<VerdictKey>,
}

impl<'w> Begun<'w> {
    pub(super) fn begin(
        ws: &'w Workspace,
        opts: &VerifyOptions,
        progress: &dyn ScanProgress,
    ) -> Result<Self> {
        let started = Instant::now();
        let line = ws.policy.resolve_line(opts.line.as_deref())?;
        chosen_repos(ws, line, opts)?;
        let mut ledger = ws.open_ledger()?;
        // What the scans depend on first (tips and tags), then the releases cut elsewhere,
        // learned from the tags read (they settle drift and are the previous release). With
        // the ledger's head after that, a run that finds nothing changed reports the verdict it
        // remembers.
        // One reader of the caches for the probes and the verdict remembered.
        let cache = CacheReader::open(ledger.path());
        let probed = probe_repos(ws, &cache, line, opts, progress)?;
        let learned = crate::release::learn(ws, line, &mut ledger, &probed.read_tags())?;
        tracing::debug!(elapsed = ?started.elapsed(), "learned");
        let key = verdict::key(ws, line, opts, &probed, ledger.head()?);
        Ok(Begun {
            started,
            line,
            ledger,
            cache,
            probed,
            learned,
            key,
        })
    }

    /// The verdict remembered under this run's key, read by `read`.
    pub(super) fn recall<T>(
        &self,
        read: fn(&CacheReader, &str, &VerdictKey) -> Option<T>,
    ) -> Option<T> {
        let key = self.key.as_ref()?;
        read(&self.cache, &self.line.name, key)
    }

    /// Finish a run that reports the remembered verdict: what it recorded (only releases
    /// learned) and its statistics.
    pub(super) fn remembered(
        mut self,
        ws: &Workspace,
        progress: &dyn ScanProgress,
    ) -> Result<(Recorded, ScanStats)> {
        self.probed.repos().for_each(|r| progress.scanned(r));
        progress.finish();
        // Reference files that changed and came to the same probe (`git pack-refs`, say).
        let memos = self.probed.take_memos();
        if !memos.is_empty() {
            let mut tx = self.ledger.transaction()?;
            tx.store_git_cache(&[], &memos, &portcullis_core::time::fmt_utc(now()))?;
            tx.commit_with(&ws.policy)?;
        }
        tracing::debug!(elapsed = ?self.started.elapsed(), "remembered");
        Ok((
            Recorded {
                releases_learned: self.learned.releases,
                release_problems: self.learned.problems,
                ..Recorded::default()
            },
            ScanStats {
                elapsed_ms: self.started.elapsed().as_millis(),
                remembered: true,
                probes_remembered: self.probed.remembered,
                ..ScanStats::default()
            },
        ))
    }

    /// Read the scans, judge every ticket and record what changed.
    pub(super) fn judge(
        self,
        ws: &Workspace,
        opts: &VerifyOptions,
        progress: &dyn ScanProgress,
    ) -> Result<VerifyOutcome> {
        let Begun {
            started,
            line,
            mut ledger,
            cache,
            probed,
            learned,
            key,
        } = self;
        drop(cache);
        let probes_remembered = probed.remembered;
        let scanned = probed.scan(ledger.path(), opts, progress);
        // Judging only reads the ledger: a lost connection is opened again and the judging
        // retried once (reading the repositories again).
        let scanned = std::cell::RefCell::new(Some(scanned));
        let (verification, writes, stats) = ws.reread(&mut ledger, |ledger| {
            let scanned = match scanned.borrow_mut().take() {
                Some(s) => s,
                None => scan_repos(ws, ledger.path(), line, opts, progress)?,
            };
            let (mut verification, writes, stats) = judge_line(ws, ledger, line, opts, scanned)?;
            settle(ledger, &line.name, &mut verification)?;
            recount(&mut verification);
            Ok((verification, writes, stats))
        })?;
        tracing::debug!(elapsed = ?started.elapsed(), "judged");
        // Only backport events, which recording never writes, say which pull requests landed.
        let pull_requests = crate::backport::links::landing_pull_requests(&ledger, &verification)?;
        let keep = key.as_ref().map(|k| (k, pull_requests.as_slice()));
        let mut recorded = record(&mut ledger, ws, line, &verification, &writes, opts, keep)?;
        recorded.releases_learned = learned.releases;
        recorded.release_problems = learned.problems;
        tracing::debug!(elapsed = ?started.elapsed(), "recorded");
        Ok(VerifyOutcome {
            verification,
            recorded,
            pull_requests,
            stats: ScanStats {
                elapsed_ms: started.elapsed().as_millis(),
                probes_remembered,
                ..stats
            },
        })
    }
}
