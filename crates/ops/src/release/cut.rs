//! The cut of a release, step by step: what is asked (line, version, tag, the candidate to
//! promote), the gate, the manifest; then with `--apply` the tags, the ledger and the files,
//! and with `--push` the tags' push. A release already recorded is finished instead.

use std::path::Path;

use chrono::SubsecRound;

use super::files::write_files;
use super::gate::{self, Cut, Gated};
use super::options::{CutOptions, CutReport};
use super::record::{record_cut, record_failed, releases, Recorded};
use super::tagging::{create_tags, push_tags};
use crate::workspace::Workspace;
use crate::{Error, Result};
use portcullis_core::release::{check_version, Manifest};
use portcullis_core::time::now;
use portcullis_core::Problem;
use portcullis_git::text::tag_name;

/// Check, and with `apply` cut, a release.
pub fn cut(ws: &Workspace, opts: &CutOptions) -> Result<CutReport> {
    let line = ws.policy.resolve_line(opts.line.as_deref())?;
    let version = parse_version(&opts.version)?;
    let base = semver::Version::parse(&line.base_version)
        .map_err(|e| Problem::internal("bad base version").because(e))?;
    // One read connection for the whole gate (the verifier below writes through its own).
    let ledger = ws.open_ledger()?;
    let done = releases(&ledger, &line.name)?;
    let finals: Vec<&Recorded> = done.iter().filter(|r| r.manifest.rc.is_none()).collect();
    let previous_final = finals
        .iter()
        .filter_map(|r| semver::Version::parse(&r.manifest.version).ok())
        .max()
        .unwrap_or_else(|| base.clone());
    let tag_final = tag_name(line, &version, None);
    if let Some(r) = done.iter().find(|r| r.manifest.tag == tag_final) {
        return finish_recorded(ws, opts, r);
    }
    let rc = opts
        .rc
        .then(|| candidates_of(&done, &version).count() as u64 + 1);
    let tag = tag_name(line, &version, rc);
    let candidate = candidate_to_promote(opts, &done, &version)?;
    // The previous release of each repository: the last final manifest, else the base tag.
    let previous = finals.last().map(|r| &r.manifest);
    let previous_tag = previous
        .map(|m| m.tag.clone())
        .unwrap_or_else(|| tag_name(line, &base, None));
    let policy_dir = ws
        .policy_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let Gated {
        blockers,
        notes,
        repos,
        tags,
        tickets,
        withdrawn,
        mentioned,
        empty,
    } = gate::check(
        ws,
        &ledger,
        &Cut {
            opts,
            line,
            version: &version,
            tag: &tag,
            done: &done,
            previous_final: &previous_final,
            previous,
            previous_tag: &previous_tag,
            candidate,
            policy_dir: &policy_dir,
        },
    )?;
    let manifest = Manifest {
        line: line.name.clone(),
        version: version.to_string(),
        rc,
        tag: tag.clone(),
        build: Manifest::build_id(&repos),
        previous: previous
            .map(|m| m.tag.clone())
            .or(Some(previous_tag.clone())),
        tickets,
        repos,
        waivers: opts.waivers.clone(),
        skipped_versions: opts.allow_skip
            && check_version(&version, &previous_final, false).is_some(),
        withdrawn,
        mentioned,
        allowed_empty: empty && opts.allow_empty,
    };
    let hash = manifest.content_hash();
    let mut report = CutReport {
        manifest,
        hash,
        blockers,
        notes,
        tags,
        applied: false,
        files: Vec::new(),
        marked_done: Vec::new(),
        pushed: Vec::new(),
        resumed: false,
    };
    if opts.apply && !report.blockers.is_empty() {
        drop(ledger);
        record_failed(ws, &report)?;
        return Ok(report);
    }
    if !opts.apply {
        return Ok(report);
    }
    // Tags first, then the ledger, then the files: a rerun completes an interrupted cut.
    // In whole seconds, as the tags record it: a workspace that learns the release from its
    // tags records the same time.
    let cut_at = opts.at.unwrap_or_else(now).trunc_subsecs(0);
    create_tags(ws, &policy_dir, &report, cut_at)?;
    record_cut(ws, ledger, &mut report, cut_at)?;
    report.files = write_files(ws, opts, &report.manifest, &report.hash, cut_at)?;
    if opts.push {
        push_tags(ws, &mut report);
    }
    Ok(report)
}

fn parse_version(s: &str) -> Result<semver::Version> {
    semver::Version::parse(s.trim_start_matches('v')).map_err(|_| {
        Error::input(format!("`{s}` is not a version like 23.0.2"))
            .hint("give the patch release to cut, e.g. `portcullis cut 23.0.2`")
    })
}

/// A final release already recorded: with `--apply` or `--push`, finish an interrupted cut (its
/// tags were made before it was recorded, so write its files again and push its tags if
/// asked); otherwise it is an error to cut it again.
fn finish_recorded(ws: &Workspace, opts: &CutOptions, r: &Recorded) -> Result<CutReport> {
    if !(opts.push || opts.apply) || opts.rc {
        return Err(Error::input(format!("{} was already cut", r.manifest.tag))
            .hint("see it with `portcullis release show`; cut the next patch release instead"));
    }
    let mut report = CutReport {
        manifest: r.manifest.clone(),
        hash: r.hash.clone(),
        blockers: Vec::new(),
        notes: Vec::new(),
        tags: r
            .manifest
            .repos
            .iter()
            .map(|x| (x.repo.clone(), x.tag.clone(), x.commit.clone(), true))
            .collect(),
        applied: true,
        files: Vec::new(),
        marked_done: Vec::new(),
        pushed: Vec::new(),
        resumed: true,
    };
    if opts.apply {
        report.files = write_files(ws, opts, &r.manifest, &r.hash, r.at)?;
    }
    if opts.push {
        push_tags(ws, &mut report);
    }
    Ok(report)
}

/// The release candidates already cut of a version.
fn candidates_of<'a>(
    done: &'a [Recorded],
    version: &semver::Version,
) -> impl Iterator<Item = &'a Recorded> {
    let version = version.to_string();
    done.iter()
        .filter(move |r| r.manifest.version == version && r.manifest.rc.is_some())
}

/// `--promote`: the final release is the last candidate of this version, commit for commit.
fn candidate_to_promote<'a>(
    opts: &CutOptions,
    done: &'a [Recorded],
    version: &semver::Version,
) -> Result<Option<&'a Manifest>> {
    if !opts.promote {
        return Ok(None);
    }
    if opts.rc {
        return Err(Error::input(
            "--promote makes a final release; it does not go with --rc",
        ));
    }
    let last = candidates_of(done, version)
        .max_by_key(|r| r.manifest.rc)
        .map(|r| &r.manifest)
        .ok_or_else(|| {
            Error::input(format!(
                "there is no release candidate of {version} to promote"
            ))
            .hint(format!(
                "cut one first: `portcullis cut {version} --rc --apply`"
            ))
        })?;
    Ok(Some(last))
}
