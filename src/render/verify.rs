use crate::render::{clean, truncate, Table};
use portcullis_core::landing::{Direction, MatchKind, RepoLandingStatus, Settlement};
use portcullis_git::scan::ScanStatus;
use portcullis_git::verify::{RepoLanding, Verification};
use portcullis_ops::backport::links::LandingPullRequest;
use portcullis_ops::verify::VerifyOutcome;

pub fn short(sha: &str) -> String {
    sha.chars().take(10).collect()
}

pub fn headline(v: &Verification) -> String {
    let s = &v.summary;
    format!(
        "{} ({}): {} repositories{}, {} release commits ({} release-only), {} tickets: {} landed, {} not",
        v.line,
        v.branch,
        s.repositories,
        if s.unverifiable > 0 {
            format!(" ({} could not be checked)", s.unverifiable)
        } else {
            String::new()
        },
        s.release_commits,
        s.release_only,
        s.tickets,
        s.landed,
        s.not_landed
    )
}

pub fn repo_table(v: &Verification) -> Table {
    let mut t = Table::new(&[
        "REPOSITORY",
        "BRANCH POINT",
        "COMMITS",
        "MATCHED",
        "RELEASE-ONLY",
        "LAST TAG",
        "STATUS",
    ]);
    for r in &v.repositories {
        let bp = r
            .branch_point
            .as_ref()
            // Its tag when it has one (the sha is in the JSON), else the commit.
            .map(|b| match b.tags.first() {
                Some(t) => t.clone(),
                None => short(&b.sha),
            })
            .unwrap_or_else(|| "-".into());
        let non_merge: Vec<_> = r.release_commits.iter().filter(|c| !c.merge).collect();
        let matched = non_merge.iter().filter(|c| c.matched.is_some()).count();
        let release_only = non_merge.iter().filter(|c| c.is_release_only()).count();
        let status = match r.status {
            ScanStatus::Ok => "ok".to_string(),
            ScanStatus::BranchMissing => format!("no {} yet", r.release_branch),
            ScanStatus::Unverifiable => "could not be checked".to_string(),
        };
        t.row(vec![
            r.repo.clone(),
            bp,
            non_merge.len().to_string(),
            matched.to_string(),
            release_only.to_string(),
            r.tags
                .last()
                .map(|t| t.name.clone())
                .unwrap_or_else(|| "-".into()),
            status,
        ]);
    }
    t
}

pub fn landing_text(r: &RepoLanding) -> String {
    let mut s = format!("{} {}", r.repo, r.status.as_str().replace('_', " "));
    match r.status {
        RepoLandingStatus::Landed => {
            let how = r
                .how
                .map(|h| format!("{h:?}").to_lowercase())
                .unwrap_or_default();
            s.push_str(&format!(" ({how}"));
            if let Some(t) = &r.first_tag {
                s.push_str(&format!(", {t}"));
            }
            if let Some(a) = &r.accepted_partial {
                s.push_str(&format!(
                    ", {}/{}, accepted by {}",
                    r.landed.len(),
                    r.main_commits.len(),
                    clean(&a.by)
                ));
            }
            s.push(')');
        }
        RepoLandingStatus::Partial | RepoLandingStatus::Missing => {
            s.push_str(&format!(" {}/{}", r.landed.len(), r.main_commits.len()));
        }
        _ => {}
    }
    if !r.required {
        s.push_str(" [not required]");
    }
    s
}

/// The tickets, each landing followed by the backport pull request it came through, if any
/// (`pkg landed (exact) through lsst/pkg#2`).
pub fn ticket_table(v: &Verification, prs: &[LandingPullRequest]) -> Table {
    let mut t = Table::new(&["TICKET", "STATE", "LANDING", "REPOSITORIES", "SUMMARY"]).flex(&[3]);
    for k in &v.tickets {
        t.row(vec![
            k.key.clone(),
            k.state.clone().unwrap_or_else(|| "not in ledger".into()),
            k.status.as_str().replace('_', " "),
            k.repos
                .iter()
                .map(|r| {
                    let mut s = landing_text(r);
                    if let Some(p) = prs.iter().find(|p| p.ticket == k.key && p.repo == r.repo) {
                        s.push_str(&format!(" through {}", p.pull_request));
                    }
                    s
                })
                .collect::<Vec<_>>()
                .join("; "),
            clean(&k.summary),
        ]);
    }
    t
}

/// The landings that are not a plain match, one row per commit: by content, in another
/// repository (moved code), not needed (paths that never need a backport), unchecked (missing
/// objects), and partial landings a person accepted. Narrow columns, the reason last, so that
/// it reads at 80 columns.
pub fn evidence_table(v: &Verification) -> Table {
    let mut t = Table::new(&["TICKET", "REPOSITORY", "COMMIT", "EVIDENCE", "WHY"]);
    let problem = |repo: &str, sha: &str| -> String {
        v.repositories
            .iter()
            .filter(|s| s.repo == repo)
            .flat_map(|s| s.unchecked.iter())
            .find(|u| u.sha == sha)
            .map(|u| clean(&u.problem))
            .unwrap_or_else(|| "could not be read".into())
    };
    for k in &v.tickets {
        for r in &k.repos {
            for l in &r.landed {
                let kind = match l.confidence {
                    Some(c) => format!("{} {c:.2}", l.kind.as_str()),
                    None => l.kind.as_str().to_string(),
                };
                let why = match (&l.moved_to, &l.moved_from) {
                    (Some(to), _) => format!("moved: {to} has {}", short(&l.release_commit)),
                    (_, Some(from)) => format!("moved: from {from}"),
                    _ if l.kind == MatchKind::Content => {
                        format!("in {}", short(&l.release_commit))
                    }
                    _ => continue,
                };
                t.row(vec![
                    k.key.clone(),
                    r.repo.clone(),
                    short(&l.main_commit),
                    kind,
                    why,
                ]);
            }
            for n in &r.not_needed {
                t.row(vec![
                    k.key.clone(),
                    r.repo.clone(),
                    short(&n.main_commit),
                    "not needed".into(),
                    format!("only {}", n.rule),
                ]);
            }
            for u in &r.unchecked {
                t.row(vec![
                    k.key.clone(),
                    r.repo.clone(),
                    short(u),
                    "unchecked".into(),
                    problem(&r.repo, u),
                ]);
            }
            if let Some(a) = &r.accepted_partial {
                t.row(vec![
                    k.key.clone(),
                    r.repo.clone(),
                    "-".into(),
                    "accepted".into(),
                    format!("partial, by {}: {}", a.by, a.note),
                ]);
            }
        }
    }
    t
}

/// The evidence table with its heading, or nothing.
fn evidence_section(v: &Verification) -> String {
    let t = evidence_table(v);
    if t.is_empty() {
        return String::new();
    }
    format!(
        "\nEVIDENCE TO READ ({}): by content, moved, not needed, unchecked, accepted\n{}",
        t.len(),
        t.render()
    )
}

pub fn drift_table(v: &Verification) -> Table {
    let mut t = Table::new(&["BLOCKING", "KIND", "REPOSITORY", "TICKET", "WHAT"]);
    for d in &v.drift {
        let (blocking, what) = match &d.settled {
            Some(s) => (
                "settled".to_string(),
                format!("{} (settled: {})", clean(&d.message), settled_text(s)),
            ),
            None => (
                if d.blocking { "yes" } else { "no" }.to_string(),
                clean(&d.message),
            ),
        };
        t.row(vec![
            blocking,
            d.kind.as_str().into(),
            d.repo.clone().unwrap_or_else(|| "-".into()),
            d.ticket.clone().unwrap_or_else(|| "-".into()),
            what,
        ]);
    }
    t
}

/// `event 12 (release.cut, 23.0.1): waived into 23.0.1: pin`.
pub fn settled_text(s: &Settlement) -> String {
    let mut head = format!("event {} ({}", s.seq, s.kind);
    if let Some(r) = &s.release {
        head.push_str(&format!(", {r}"));
    }
    format!("{head}): {}", clean(&s.why))
}

pub fn commit_table(v: &Verification) -> Vec<(String, Table)> {
    v.repositories
        .iter()
        .filter(|r| !r.release_commits.is_empty())
        .map(|r| {
            // Eight-character shas here: two sha columns and a subject fit 80 columns.
            let sha8 = |s: &str| s.chars().take(8).collect::<String>();
            let mut t = Table::new(&[
                "COMMIT",
                "TICKET",
                "MATCH",
                "MAIN",
                "DIRECTION",
                "TAG",
                "SUBJECT",
            ])
            .flex(&[2, 1]);
            for c in &r.release_commits {
                let m = match (&c.matched, c.merge, &c.reverts) {
                    (_, true, _) => "merge".to_string(),
                    (Some(m), _, _) => format!("{} {:.2}", m.kind.as_str(), m.confidence),
                    (None, _, Some(r)) => format!("reverts {}", short(r)),
                    (None, _, None) => "release-only".to_string(),
                };
                let mut m = m;
                if !c.candidates.is_empty() {
                    m.push_str(&format!(" (+{} candidates)", c.candidates.len()));
                }
                if let Some(by) = &c.reverted_by {
                    m.push_str(&format!(", reverted by {}", short(by)));
                }
                let mut ticket = c.ticket.clone().unwrap_or_else(|| "-".into());
                if !c.mentions.is_empty() {
                    ticket.push_str(&format!(" ({})", c.mentions.join(", ")));
                }
                t.row(vec![
                    sha8(&c.sha),
                    ticket,
                    m,
                    c.matched
                        .as_ref()
                        .map(|m| sha8(&m.main_commit))
                        .unwrap_or_else(|| "-".into()),
                    c.direction
                        .map(|d| match d {
                            Direction::Backport => "backport".to_string(),
                            // On the release branch first: short, so the table fits 80 columns.
                            Direction::ForwardPort => "forward".to_string(),
                        })
                        .unwrap_or_else(|| "-".into()),
                    c.first_tag.clone().unwrap_or_else(|| "-".into()),
                    truncate(&clean(&c.subject), 50),
                ]);
            }
            (r.repo.clone(), t)
        })
        .collect()
}

pub fn footer(out: &VerifyOutcome) -> String {
    let v = &out.verification;
    let r = &out.recorded;
    let verdict = if v.blocks() {
        format!(
            "BLOCKED: {} blocking drift item(s) (rules.drift_blocking in the policy)",
            v.summary.blocking
        )
    } else if v.drift.is_empty() {
        "clean: no drift".to_string()
    } else {
        let settled = v.drift.iter().filter(|d| d.settled.is_some()).count();
        let mut s = format!("ok: {} drift item(s), none blocking", v.drift.len());
        if settled > 0 {
            s.push_str(&format!(" ({settled} settled)"));
        }
        s
    };
    let mut s = format!(
        "{verdict}\nrecorded: {} landing(s), {} drift found, {} drift resolved\n",
        r.landings, r.drift_found, r.drift_cleared
    );
    if !r.releases_learned.is_empty() {
        s.push_str(&format!(
            "learned {} release(s) cut elsewhere: {}\n",
            r.releases_learned.len(),
            r.releases_learned.join(", ")
        ));
    }
    for p in &r.release_problems {
        s.push_str(&format!("release not learned: {p}\n"));
    }
    s
}

/// Repositories, the tickets that have not landed everywhere, and the drift.
pub fn summary(out: &VerifyOutcome) -> String {
    let v = &out.verification;
    let mut s = format!(
        "{}\n\n{}",
        crate::render::wrap(&headline(v)),
        repo_table(v).render()
    );
    let mut pending = v.clone();
    pending.tickets.retain(|t| !t.status.has_landed());
    if !pending.tickets.is_empty() {
        s.push_str(&format!(
            "\nNOT LANDED EVERYWHERE ({})\n",
            pending.tickets.len()
        ));
        s.push_str(&ticket_table(&pending, &out.pull_requests).render());
    }
    s.push_str(&evidence_section(v));
    s.push_str(&drift_and_footer(out));
    s
}

/// The drift table (if any) and the verdict, the end of both text views.
pub fn drift_and_footer(out: &VerifyOutcome) -> String {
    let v = &out.verification;
    let mut s = String::new();
    if !v.drift.is_empty() {
        s.push_str(&format!(
            "\nDRIFT ({}, {} blocking)\n{}",
            v.drift.len(),
            v.summary.blocking,
            drift_table(v).render()
        ));
    }
    s.push('\n');
    s.push_str(&footer(out));
    s
}

pub fn table(out: &VerifyOutcome, commits: bool) -> String {
    let v = &out.verification;
    let mut s = format!(
        "{}\n\n{}",
        crate::render::wrap(&headline(v)),
        repo_table(v).render()
    );
    if commits {
        for (repo, t) in commit_table(v) {
            s.push_str(&format!("\n{repo}: {}\n{}", v.branch, t.render()));
        }
    }
    if !v.tickets.is_empty() {
        s.push('\n');
        s.push_str(&ticket_table(v, &out.pull_requests).render());
    }
    s.push_str(&evidence_section(v));
    s.push_str(&drift_and_footer(out));
    s
}

pub fn markdown(out: &VerifyOutcome, commits: bool) -> String {
    let v = &out.verification;
    let mut s = format!(
        "## Verification of {}\n\n{}\n\n### Repositories\n\n{}",
        v.line,
        headline(v),
        repo_table(v).render_md()
    );
    if commits {
        for (repo, t) in commit_table(v) {
            s.push_str(&format!("\n### {repo}: {}\n\n{}", v.branch, t.render_md()));
        }
    }
    s.push_str(&format!(
        "\n### Tickets\n\n{}",
        ticket_table(v, &out.pull_requests).render_md()
    ));
    let pending = v.tickets.iter().filter(|t| !t.status.has_landed()).count();
    s.push_str(&format!("\n{pending} ticket(s) not landed everywhere.\n"));
    s.push_str(&format!(
        "\n### Drift\n\n{}",
        if v.drift.is_empty() {
            "None.\n".to_string()
        } else {
            drift_table(v).render_md()
        }
    ));
    s.push('\n');
    s.push_str(&footer(out));
    s
}
