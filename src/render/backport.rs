//! `backport` and `backports`: what was (or would be) picked where, conflicts with their hunks
//! and the commits they depend on, and where each approved ticket's backport stands.

use crate::render::{clean, Table};
use portcullis_ops::backport::list::Backports;
use portcullis_ops::backport::resume::{ResumeOutcome, Resumed};
use portcullis_ops::backport::trial::{RepoTrial, Trial, TrialResult};
use portcullis_ops::backport::{BackportOutcome, PlanStatus, RepoOutcome};

fn short(sha: &str) -> &str {
    sha.get(..10).unwrap_or(sha)
}

fn status_words(s: PlanStatus) -> &'static str {
    match s {
        PlanStatus::ToPick => "to pick",
        PlanStatus::Landed => "already on the release branch",
        PlanStatus::BranchMissing => "no release branch",
        PlanStatus::NotRequired => "not required here by the policy",
        PlanStatus::Unverifiable => "could not be read",
    }
}

/// The text of a backport (or its dry run).
pub fn outcome(o: &BackportOutcome) -> String {
    let p = &o.plan;
    let mut s = super::wrap(&format!(
        "{} {} ({}): {} onto {}{}",
        p.key,
        clean(&p.summary),
        p.state.describe(),
        p.branch,
        p.release_branch,
        if o.dry_run { ", dry run" } else { "" }
    ));
    s.push('\n');
    for v in &o.violations {
        s.push_str(&format!("recorded as a violation: {v}\n"));
    }
    if o.repos.is_empty() {
        s.push_str("no main-side commits of this ticket in any repository of the line\n");
    }
    for r in &o.repos {
        s.push('\n');
        repo_outcome(&mut s, r, &p.key, o.dry_run);
    }
    if !o.pushes.is_empty() {
        s.push('\n');
    }
    for p in &o.pushes {
        match &p.error {
            None => s.push_str(&format!(
                "{}: pushed {} to {}\n",
                p.repo, p.branch, p.remote
            )),
            Some(e) => s.push_str(&format!(
                "{}: push of {} to {} REJECTED: {}\n",
                p.repo,
                p.branch,
                p.remote,
                clean(e)
            )),
        }
    }
    for p in &o.pull_requests {
        match (&p.error, p.number) {
            (Some(e), _) => s.push_str(&format!(
                "{}: pull request not opened in {}: {}\n",
                p.repo,
                p.github_repo,
                clean(e)
            )),
            (None, Some(n)) => s.push_str(&format!(
                "{}: pull request {}#{n} {}{}{}\n",
                p.repo,
                p.github_repo,
                if p.existed { "already open" } else { "opened" },
                p.url
                    .as_deref()
                    .map(|u| format!(" ({u})"))
                    .unwrap_or_default(),
                p.link
                    .as_deref()
                    .map(|l| format!(", {l}"))
                    .unwrap_or_default()
            )),
            (None, None) => {}
        }
    }
    s
}

fn repo_outcome(s: &mut String, r: &RepoOutcome, key: &str, dry_run: bool) {
    match r {
        RepoOutcome::Picked {
            repo,
            branch,
            tip,
            picks,
            continued,
        } => {
            let what = if dry_run {
                format!("{} clean pick(s), would write {branch}", picks.len())
            } else {
                format!(
                    "{} pick(s), {branch} at {}",
                    picks.len(),
                    short(tip.as_deref().unwrap_or("-"))
                )
            };
            s.push_str(&format!("{repo}: {what}\n"));
            if let Some(c) = continued {
                s.push_str(&format!(
                    "  continued the existing branch at {}\n",
                    short(c)
                ));
            }
            for p in picks {
                if dry_run {
                    s.push_str(&format!(
                        "  {} {}\n",
                        short(&p.main_commit),
                        clean(&p.subject)
                    ));
                } else {
                    s.push_str(&format!(
                        "  {} -> {} {}\n",
                        short(&p.main_commit),
                        short(&p.commit),
                        clean(&p.subject)
                    ));
                }
            }
        }
        RepoOutcome::UpToDate { repo, branch } => {
            s.push_str(&format!(
                "{repo}: {branch} already holds every pick; nothing to do\n"
            ));
        }
        RepoOutcome::Conflict {
            repo,
            conflict,
            dependencies,
            worktree,
            ..
        } => {
            s.push_str(&format!(
                "{repo}: CONFLICT picking {} {}; no branch written\n",
                short(&conflict.main_commit),
                clean(&conflict.subject)
            ));
            for f in &conflict.files {
                s.push_str(&format!("  {} ({})\n", f.path, f.kind));
                for h in &f.hunks {
                    s.push_str(&format!("    at line {}:\n", h.line));
                    for l in &h.release {
                        s.push_str(&format!("      release: {}\n", clean(l)));
                    }
                    for l in &h.pick {
                        s.push_str(&format!("      pick:    {}\n", clean(l)));
                    }
                }
            }
            if dependencies.is_empty() {
                s.push_str("  no main-side commit that changed these lines is missing from the release branch\n");
            } else {
                s.push_str("  needs first (main-side commits that changed these lines, not on the release branch):\n");
                for d in dependencies {
                    s.push_str(&format!(
                        "    {} {}{}\n",
                        short(&d.sha),
                        d.ticket
                            .as_deref()
                            .map(|t| format!("{t}: "))
                            .unwrap_or_default(),
                        clean(&d.subject)
                    ));
                }
            }
            if let Some(w) = worktree {
                s.push_str(&format!(
                    "  the pick waits in {w}: resolve it there, `git add` the files, then\n  `portcullis backport {key} --continue` (or `--abort` to drop it)\n"
                ));
            }
        }
        RepoOutcome::Refused { repo, reason } => {
            s.push_str(&format!("{repo}: refused: {}\n", clean(reason)));
        }
        RepoOutcome::Skipped {
            repo,
            status,
            problems,
        } => {
            s.push_str(&format!("{repo}: {}\n", status_words(*status)));
            for p in problems {
                s.push_str(&format!("  {}\n", clean(p)));
            }
        }
    }
}

/// The text of `--continue` / `--abort`.
pub fn resumed(r: &Resumed) -> String {
    let mut s = String::new();
    for o in &r.repos {
        match o {
            ResumeOutcome::Picked {
                repo,
                branch,
                tip,
                picks,
            } => s.push_str(&format!(
                "{repo}: {branch} at {} ({} pick(s)); worktree dropped\n",
                short(tip),
                picks.len()
            )),
            ResumeOutcome::Unresolved {
                repo,
                worktree,
                files,
            } => s.push_str(&format!(
                "{repo}: still unmerged in {worktree}: {}\n",
                files.join(", ")
            )),
            ResumeOutcome::Conflict {
                repo,
                worktree,
                main_commit,
                files,
            } => s.push_str(&format!(
                "{repo}: CONFLICT picking {} ({}); resolve it in {worktree} and continue again\n",
                short(main_commit),
                files
                    .iter()
                    .map(|f| f.path.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            ResumeOutcome::Refused { repo, reason } => {
                s.push_str(&format!("{repo}: refused: {}\n", clean(reason)))
            }
            ResumeOutcome::Aborted { repo, worktree } => {
                s.push_str(&format!("{repo}: dropped the worktree {worktree}\n"))
            }
        }
    }
    s
}

/// The table of `backports`.
pub fn list(b: &Backports) -> Table {
    let mut t = Table::new(&["TICKET", "REPOSITORY", "STATE", "TO PICK", "SUMMARY"]).flex(&[4]);
    // The state names the pull request when there is one.
    for tk in &b.tickets {
        for r in &tk.repos {
            t.row(vec![
                tk.key.clone(),
                r.repo.clone(),
                r.describe(),
                r.missing.to_string(),
                clean(&tk.summary),
            ]);
        }
    }
    t
}

/// The table of `backports --dry-run`: per ticket and repository, clean (with its picks),
/// conflict (its files and the commits it needs first) or nothing to do, and why.
pub fn trial(tr: &Trial) -> Table {
    let mut t = Table::new(&["TICKET", "REPOSITORY", "RESULT", "DETAIL"]).flex(&[3]);
    for tk in &tr.tickets {
        if tk.repos.is_empty() {
            t.row(vec![
                tk.key.clone(),
                "-".into(),
                TrialResult::NothingToDo.as_str().into(),
                "no main-side commits in any repository of the line".into(),
            ]);
        }
        for r in &tk.repos {
            let result = match r.result {
                TrialResult::Clean => format!("clean ({} pick{})", r.picks, plural(r.picks)),
                other => other.as_str().to_string(),
            };
            t.row(vec![
                tk.key.clone(),
                r.repo.clone(),
                result,
                trial_detail(r, &tk.summary),
            ]);
        }
    }
    t
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn trial_detail(r: &RepoTrial, summary: &str) -> String {
    match r.result {
        TrialResult::Clean => clean(summary),
        TrialResult::Conflict => {
            let mut d = format!("in {}", r.files.join(", "));
            if r.dependencies.is_empty() {
                d.push_str("; no missing main-side commit changed these lines");
            } else {
                let needs: Vec<String> = r
                    .dependencies
                    .iter()
                    .map(|c| match &c.ticket {
                        Some(t) => format!("{} ({t})", short(&c.sha)),
                        None => short(&c.sha).to_string(),
                    })
                    .collect();
                d.push_str(&format!("; needs first {}", needs.join(", ")));
            }
            clean(&d)
        }
        TrialResult::NothingToDo | TrialResult::Blocked => {
            clean(r.reason.as_deref().unwrap_or_default())
        }
    }
}
