//! The demo's git repositories: `main` and `v23.0.x` in each repository of the v23 policy, with
//! the committee's decisions played out in git: backports of every kind seen in the real
//! campaign (clean picks, squashes, edited picks, trailers, carrier tickets, a branch merged into
//! both, a direct push, a release-only pin, a forward port), and the drift a verifier must find
//! (approved but not landed, done but missing somewhere, a revert, a rejected fix backported
//! anyway, a repository whose release branch was never made).

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use git2::Oid;

use crate::domain::workflow::State;
use crate::ledger::Ledger;
use crate::testkit::backports::{CampaignRepo, MAIN, RELEASE};
use crate::{Error, Result};

/// The repository that never got its release branch.
pub const NO_BRANCH: &str = "ctrl_bps";

struct Ticket {
    key: String,
    num: u32,
    state: State,
    repos: Vec<String>,
    requested: DateTime<Utc>,
    approved: Option<DateTime<Utc>>,
}

/// How a ticket's fix reaches (or fails to reach) the release branches.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Story {
    NotBackported,
    Clean,
    Squash,
    Edited,
    Trailer,
    Carrier,
    MergedIntoBoth,
    DirectPush,
    PinToo,
    ForwardPort,
    Reverted,
    MissingInOneRepo,
    BackportedAnyway,
}

fn err(e: anyhow::Error) -> Error {
    Error::internal(format!("cannot build the demo repositories: {e:#}"))
}

fn load(ledger: &Ledger) -> Result<Vec<Ticket>> {
    let mut stmt = ledger.conn().prepare(
        "SELECT l.ticket, l.state, t.components, l.requested_at, l.approved_at
         FROM line_states l JOIN tickets t ON t.key = l.ticket WHERE l.line = 'v23' ORDER BY l.ticket",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<String>>(3)?,
            r.get::<_, Option<String>>(4)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (key, state, comps, req, appr) = row?;
        let parse = |s: Option<String>| {
            s.and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
                .map(|d| d.with_timezone(&Utc))
        };
        out.push(Ticket {
            num: key.trim_start_matches("DM-").parse().unwrap_or(0),
            key,
            state: State::parse(&state).unwrap_or(State::None),
            repos: serde_json::from_str(&comps).unwrap_or_default(),
            requested: parse(req).unwrap_or_else(crate::domain::time::now),
            approved: parse(appr),
        });
    }
    Ok(out)
}

/// Decide each ticket's story, deterministically from the ledger.
fn stories(tickets: &[Ticket]) -> BTreeMap<String, Story> {
    let mut out = BTreeMap::new();
    let mut landed: Vec<&Ticket> = tickets
        .iter()
        .filter(|t| matches!(t.state, State::Approved | State::Done))
        .collect();
    landed.sort_by_key(|t| (t.approved, t.num));
    // The two most recent approvals have not been backported yet.
    for t in landed
        .iter()
        .rev()
        .filter(|t| t.state == State::Approved && t.repos.iter().any(|r| r != NO_BRANCH))
        .take(2)
    {
        out.insert(t.key.clone(), Story::NotBackported);
    }
    let done: Vec<&&Ticket> = landed.iter().filter(|t| t.state == State::Done).collect();
    if let Some(t) = done.iter().find(|t| t.repos.iter().any(|r| r != NO_BRANCH)) {
        out.insert(t.key.clone(), Story::Reverted);
    }
    if let Some(t) = done
        .iter()
        .skip(1)
        .find(|t| t.repos.iter().filter(|r| *r != NO_BRANCH).count() > 1)
    {
        out.insert(t.key.clone(), Story::MissingInOneRepo);
    }
    if let Some(t) = tickets.iter().find(|t| t.state == State::Rejected) {
        out.insert(t.key.clone(), Story::BackportedAnyway);
    }
    let kinds = [
        Story::Clean,
        Story::Squash,
        Story::Edited,
        Story::Trailer,
        Story::Carrier,
        Story::MergedIntoBoth,
        Story::DirectPush,
        Story::PinToo,
        Story::ForwardPort,
        Story::Clean,
        Story::Clean,
    ];
    let mut i = 0;
    for t in &landed {
        if out.contains_key(&t.key) {
            continue;
        }
        if t.repos.iter().all(|r| r == NO_BRANCH) {
            // Nothing can land for it: it waits for the release branch.
            out.insert(t.key.clone(), Story::Clean);
            continue;
        }
        out.insert(t.key.clone(), kinds[i % kinds.len()]);
        i += 1;
    }
    out
}

fn file_of(num: u32) -> String {
    format!("python/dm{num}.py")
}

/// Build `dir/repos/<name>` for every repository of the v23 demo policy.
pub fn build(dir: &Path, ledger: &Ledger, repos: &[&str]) -> Result<()> {
    let tickets = load(ledger)?;
    let stories = stories(&tickets);
    let start = crate::domain::time::now() - Duration::weeks(12);
    let mut built: BTreeMap<&str, CampaignRepo> = BTreeMap::new();
    for name in repos {
        let path = dir.join("repos").join(name);
        let r = if *name == NO_BRANCH {
            CampaignRepo::new_at(&path, start.timestamp()).and_then(|r| {
                r.b.repo()
                    .find_reference(&format!("refs/heads/{RELEASE}"))?
                    .delete()?;
                Ok(r)
            })
        } else {
            CampaignRepo::new_at(&path, start.timestamp())
        }
        .map_err(err)?;
        built.insert(name, r);
    }

    // Fixes on main, in request order.
    let mut by_request: Vec<&Ticket> = tickets.iter().collect();
    by_request.sort_by_key(|t| (t.requested, t.num));
    let mut fixes: BTreeMap<(String, String), Vec<Oid>> = BTreeMap::new();
    for t in &by_request {
        let story = stories.get(&t.key).copied();
        if matches!(story, Some(Story::MergedIntoBoth | Story::ForwardPort)) {
            continue; // these reach main from the release side below
        }
        for repo in &t.repos {
            let Some(r) = built.get_mut(repo.as_str()) else {
                continue;
            };
            r.b.set_time((t.requested - Duration::days(3)).timestamp());
            // A carrier's fix was made long ago under another ticket.
            let key = if story == Some(Story::Carrier) {
                format!("DM-{}", t.num - 4000)
            } else {
                t.key.clone()
            };
            let file = file_of(t.num);
            let subject = format!("Fix the dm{} computation", t.num);
            let check = format!("Check the dm{} result", t.num);
            let mut edits = vec![(
                file.as_str(),
                2usize,
                "    return fixed_value()",
                subject.as_str(),
            )];
            if story == Some(Story::Squash) {
                edits.push((file.as_str(), 5, "    check(fixed_value())", check.as_str()));
            }
            let f = r.fix_on_main(&key, &edits).map_err(err)?;
            fixes.insert((t.key.clone(), repo.clone()), f);
        }
    }

    // Backports, in approval order; the first half is released as 23.0.0.
    let mut by_approval: Vec<&Ticket> = tickets
        .iter()
        .filter(|t| stories.contains_key(&t.key))
        .collect();
    by_approval.sort_by_key(|t| (t.approved.unwrap_or(t.requested), t.num));
    let half = by_approval.len() / 2;
    let now = crate::domain::time::now();
    for (i, t) in by_approval.iter().enumerate() {
        if i == half {
            for (name, r) in built.iter_mut() {
                if *name != NO_BRANCH {
                    r.b.tag(
                        "23.0.0",
                        RELEASE,
                        "Version 23.0.0 release from manifest b5913",
                    )
                    .map_err(err)?;
                }
            }
        }
        let story = stories[&t.key];
        let when = (t.approved.unwrap_or(t.requested + Duration::days(8)) + Duration::days(2))
            .min(now - Duration::hours(2));
        let branch = format!("{}-v23", t.key);
        let target_repos: Vec<&String> =
            t.repos.iter().filter(|r| r.as_str() != NO_BRANCH).collect();
        for (j, repo) in target_repos.iter().enumerate() {
            let r = built.get_mut(repo.as_str()).expect("built");
            r.b.set_time(when.timestamp());
            let fix = fixes
                .get(&(t.key.clone(), repo.to_string()))
                .cloned()
                .unwrap_or_default();
            let file = file_of(t.num);
            match story {
                Story::NotBackported => {}
                Story::MissingInOneRepo if j > 0 => {}
                Story::Clean | Story::MissingInOneRepo | Story::BackportedAnyway => {
                    r.backport(&branch, &fix).map_err(err)?;
                }
                Story::Reverted => {
                    let picked = r.backport(&branch, &fix).map_err(err)?;
                    r.b.set_time(
                        (when + Duration::days(1))
                            .min(now - Duration::hours(1))
                            .timestamp(),
                    );
                    for p in picked {
                        r.b.revert(RELEASE, p).map_err(err)?;
                    }
                }
                Story::Squash => {
                    let f = file.clone();
                    r.on_release_branch(&branch, |r, br| {
                        r.edits(
                            br,
                            &format!(
                                "{}: fix the computation and add a check (squashed backport)",
                                t.key
                            ),
                            &[
                                (f.as_str(), 2, "    return fixed_value()"),
                                (f.as_str(), 5, "    check(fixed_value())"),
                            ],
                        )?;
                        Ok(())
                    })
                    .map_err(err)?;
                }
                Story::Edited => {
                    let f = file.clone();
                    r.on_release_branch(&branch, |r, br| {
                        r.edit(
                            br,
                            &format!("Fix the dm{} computation", t.num),
                            &f,
                            2,
                            "    return fixed_value(legacy=True)",
                        )?;
                        Ok(())
                    })
                    .map_err(err)?;
                }
                Story::Trailer => {
                    r.on_release_branch(&branch, |r, br| {
                        for c in &fix {
                            let msg = format!("Fix the dm{} computation for v23\n\n(cherry picked from commit {c})", t.num);
                            r.b.cherry_pick(br, *c, Some(&msg))?;
                        }
                        Ok(())
                    })
                    .map_err(err)?;
                }
                Story::Carrier => {
                    let original = format!("DM-{}", t.num - 4000);
                    r.on_release_branch(&branch, |r, br| {
                        for c in &fix {
                            r.b.cherry_pick(
                                br,
                                *c,
                                Some(&format!(
                                    "Backport {original}: fix the dm{} computation",
                                    t.num
                                )),
                            )?;
                        }
                        Ok(())
                    })
                    .map_err(err)?;
                }
                Story::MergedIntoBoth => {
                    let tb = format!("tickets/{}", t.key);
                    r.b.branch(&tb, "v23.0.0.rc1").map_err(err)?;
                    r.edit(
                        &tb,
                        &format!("Fix the dm{} computation", t.num),
                        &file,
                        2,
                        "    return fixed_value()",
                    )
                    .map_err(err)?;
                    r.b.merge(RELEASE, &tb, &format!("Merge branch '{tb}' into v23.0.x"))
                        .map_err(err)?;
                    r.merge_pr(MAIN, &tb).map_err(err)?;
                }
                Story::DirectPush => {
                    for c in &fix {
                        r.b.cherry_pick(RELEASE, *c, None).map_err(err)?;
                    }
                }
                Story::PinToo => {
                    let fx = fix.clone();
                    r.on_release_branch(&branch, |r, br| {
                        for c in &fx {
                            r.b.cherry_pick(br, *c, None)?;
                        }
                        r.b.write(
                            br,
                            "Pin moto<3 so that the S3 tests pass",
                            &[("requirements-v23.txt", "moto<3\n")],
                        )?;
                        Ok(())
                    })
                    .map_err(err)?;
                }
                Story::ForwardPort => {
                    let f = file.clone();
                    let mut notes = Vec::new();
                    r.on_release_branch(&branch, |r, br| {
                        notes.push(r.b.write(
                            br,
                            "Add release notes for this fix",
                            &[(&f, "release notes\n")],
                        )?);
                        Ok(())
                    })
                    .map_err(err)?;
                    r.b.set_time((when + Duration::minutes(40)).timestamp());
                    let fb = format!("tickets/{}-forward-port", t.key);
                    r.b.branch(&fb, MAIN).map_err(err)?;
                    for n in notes {
                        r.b.cherry_pick(&fb, n, None).map_err(err)?;
                    }
                    r.merge_pr(MAIN, &fb).map_err(err)?;
                }
            }
        }
    }
    for r in built.values_mut() {
        r.finish().map_err(err)?;
    }
    Ok(())
}
