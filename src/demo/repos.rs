//! The demo's git repositories: `main` and `v23.0.x` in each repository of the v23 policy, with
//! the committee's decisions played out in git: backports of every kind seen in the real
//! campaign (clean picks, squashes, edited picks, trailers, carrier tickets, a branch merged into
//! both, a direct push, a release-only pin, a forward port, a news fragment on main that needs no
//! backport, a backport made by hand that only its content shows), and the drift a verifier must find
//! (approved but not landed, done but missing somewhere, a revert, a rejected fix backported
//! anyway).
//!
//! The history is built in two phases around the first patch release: [`Builder::advance`]
//! plays everything up to a moment, so that the demo can cut 23.0.1 there and go on. The drift
//! stories go to tickets approved after that moment; what 23.0.1 contains is clean.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use git2::Oid;

use portcullis_core::workflow::State;
use portcullis_git::campaign::{CampaignRepo, FILES, MAIN, RELEASE};
use portcullis_ledger::Ledger;
use portcullis_ops::{Error, Result};

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

fn err(e: portcullis_git::Error) -> Error {
    e.context("cannot build the demo repositories").into()
}

fn load(ledger: &Ledger) -> Result<Vec<Ticket>> {
    let mut out = Vec::new();
    for t in ledger.line_tickets("v23", &[])? {
        out.push(Ticket {
            num: t.ticket.trim_start_matches("DM-").parse().unwrap_or(0),
            key: t.ticket,
            state: t.state,
            repos: t.components,
            requested: t.requested_at.unwrap_or_else(portcullis_core::time::now),
            approved: t.approved_at,
        });
    }
    Ok(out)
}

/// When a ticket's backport lands: two days after its approval (or, for one never approved, ten
/// days after the request), and never later than two hours ago.
fn landing_time(t: &Ticket, now: DateTime<Utc>) -> DateTime<Utc> {
    (t.approved.unwrap_or(t.requested + Duration::days(8)) + Duration::days(2))
        .min(now - Duration::hours(2))
}

/// Decide each ticket's story and when it lands, deterministically from the ledger. Drift goes
/// to tickets approved after `first_cut`.
fn stories(
    tickets: &[Ticket],
    first_cut: DateTime<Utc>,
    now: DateTime<Utc>,
) -> BTreeMap<String, (Story, DateTime<Utc>)> {
    let mut out: BTreeMap<String, Story> = BTreeMap::new();
    let mut landed: Vec<&Ticket> = tickets
        .iter()
        .filter(|t| matches!(t.state, State::Approved | State::Done))
        .collect();
    landed.sort_by_key(|t| (t.approved, t.num));
    let late = |t: &&&Ticket| t.approved.is_some_and(|a| a > first_cut);
    // The two most recent approvals have not been backported yet.
    for t in landed
        .iter()
        .rev()
        .filter(late)
        .filter(|t| t.state == State::Approved)
        .take(2)
    {
        out.insert(t.key.clone(), Story::NotBackported);
    }
    let done: Vec<&&Ticket> = landed
        .iter()
        .filter(late)
        .filter(|t| t.state == State::Done)
        .collect();
    if let Some(t) = done.first() {
        out.insert(t.key.clone(), Story::Reverted);
    }
    if let Some(t) = landed
        .iter()
        .filter(late)
        .find(|t| t.repos.len() > 1 && !out.contains_key(&t.key))
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
        out.insert(t.key.clone(), kinds[i % kinds.len()]);
        i += 1;
    }
    let by_key: BTreeMap<&str, &Ticket> = tickets.iter().map(|t| (t.key.as_str(), t)).collect();
    out.into_iter()
        .map(|(k, story)| {
            let t = by_key[k.as_str()];
            let mut when = landing_time(t, now);
            if story == Story::BackportedAnyway {
                // Never approved, so nothing holds 23.0.1 for it: it lands after.
                when = when
                    .max(first_cut + Duration::days(1))
                    .min(now - Duration::hours(2));
            }
            (k, (story, when))
        })
        .collect()
}

/// What the demo's repositories will go through: every ticket's story, in order.
pub struct Plan {
    tickets: Vec<Ticket>,
    stories: BTreeMap<String, (Story, DateTime<Utc>)>,
    /// Ticket indexes in request order (their fixes on main).
    by_request: Vec<usize>,
    /// Ticket indexes in landing order (their backports).
    by_landing: Vec<usize>,
    /// 23.0.0 is tagged before this many backports.
    base_release_after: usize,
    /// What the demo shows `portcullis backport` doing (see [`Showcase`]).
    showcase: Option<Showcase>,
    /// A clean backport whose fix on main also added a news fragment (`doc/changes/`), which
    /// needs no backport: `verify` shows it as not needed.
    news: Option<String>,
    /// A clean story backported instead by hand, in one release-only commit with a v23
    /// adaptation: `verify` finds it by content.
    by_hand: Option<String>,
}

/// The two approvals not backported yet, for `portcullis backport`: the earlier one picks
/// cleanly; the later one's fix in its first repository also changes a line of
/// `python/pkg/core.py` that a fix of an unapproved ticket (`dependency`) changed just before on
/// main, so its pick conflicts there and names that fix as the one it needs first.
#[derive(Debug, Clone)]
pub struct Showcase {
    pub clean: String,
    pub conflict: String,
    pub conflict_repo: String,
    pub dependency: String,
}

/// The line of `python/pkg/core.py` the showcase's conflict is about.
const CONFLICT_LINE: usize = 10;

fn showcase(
    tickets: &[Ticket],
    stories: &BTreeMap<String, (Story, DateTime<Utc>)>,
) -> Option<Showcase> {
    let mut waiting: Vec<&Ticket> = tickets
        .iter()
        .filter(|t| {
            stories
                .get(&t.key)
                .is_some_and(|s| s.0 == Story::NotBackported)
        })
        .collect();
    waiting.sort_by_key(|t| (t.approved, t.num));
    let [clean, conflict] = waiting.as_slice() else {
        return None;
    };
    let repo = conflict.repos.first()?.clone();
    // A ticket never backported, requested before the conflicting one; one of the same
    // repository first, then the most recent request.
    let dependency = tickets
        .iter()
        .filter(|t| !stories.contains_key(&t.key) && t.requested < conflict.requested)
        .max_by_key(|t| (t.repos.contains(&repo), t.requested, t.num))?;
    Some(Showcase {
        clean: clean.key.clone(),
        conflict: conflict.key.clone(),
        conflict_repo: repo,
        dependency: dependency.key.clone(),
    })
}

impl Plan {
    /// Plan from the campaign's final ledger, with the first patch release at `first_cut`.
    pub fn new(ledger: &Ledger, first_cut: DateTime<Utc>) -> Result<Plan> {
        let tickets = load(ledger)?;
        let now = portcullis_core::time::now();
        let stories = stories(&tickets, first_cut, now);
        let mut by_request: Vec<usize> = (0..tickets.len()).collect();
        by_request.sort_by_key(|&i| (tickets[i].requested, tickets[i].num));
        let mut by_landing: Vec<usize> = (0..tickets.len())
            .filter(|&i| stories.contains_key(&tickets[i].key))
            .collect();
        by_landing.sort_by_key(|&i| (stories[&tickets[i].key].1, tickets[i].num));
        let before_cut = by_landing
            .iter()
            .filter(|&&i| stories[&tickets[i].key].1 <= first_cut)
            .count();
        let showcase = showcase(&tickets, &stories);
        // The first two clean backports, in landing order: one with a news fragment on main,
        // one made by hand.
        let mut clean = by_landing
            .iter()
            .map(|&i| &tickets[i])
            .filter(|t| stories[&t.key].0 == Story::Clean)
            .map(|t| t.key.clone());
        let news = clean.next();
        let by_hand = clean.next();
        Ok(Plan {
            news,
            by_hand,
            showcase,
            tickets,
            stories,
            by_request,
            by_landing,
            base_release_after: before_cut / 2,
        })
    }

    /// The tickets the demo backports, when the campaign has them.
    pub fn showcase(&self) -> Option<&Showcase> {
        self.showcase.as_ref()
    }

    fn story(&self, t: &Ticket) -> Option<Story> {
        self.stories.get(&t.key).map(|s| s.0)
    }
}

fn file_of(num: u32) -> String {
    format!("python/dm{num}.py")
}

/// The demo's repositories under construction.
pub struct Builder {
    built: BTreeMap<String, CampaignRepo>,
    fixes: BTreeMap<(String, String), Vec<Oid>>,
    next_fix: usize,
    next_backport: usize,
}

impl Builder {
    /// `dir/repos/<name>` for every repository of the v23 demo policy: `main` and `v23.0.x`.
    pub fn create(dir: &Path, repos: &[&str]) -> Result<Builder> {
        let start = portcullis_core::time::now() - Duration::weeks(12);
        let mut built = BTreeMap::new();
        for name in repos {
            let path = dir.join("repos").join(name);
            let r = CampaignRepo::new_at(&path, start.timestamp()).map_err(err)?;
            built.insert(name.to_string(), r);
        }
        Ok(Builder {
            built,
            fixes: BTreeMap::new(),
            next_fix: 0,
            next_backport: 0,
        })
    }

    /// Play the plan up to `until`: the fixes on main requested by then, the backports that
    /// land by then (tagging 23.0.0 halfway through those before the first patch release),
    /// then check out `main` in every repository.
    pub fn advance(&mut self, plan: &Plan, until: DateTime<Utc>) -> Result<()> {
        while let Some(&i) = plan.by_request.get(self.next_fix) {
            let t = &plan.tickets[i];
            if t.requested - Duration::days(3) > until {
                break;
            }
            self.fix(plan, t)?;
            self.next_fix += 1;
        }
        while let Some(&i) = plan.by_landing.get(self.next_backport) {
            let t = &plan.tickets[i];
            let (story, when) = plan.stories[&t.key];
            if when > until {
                break;
            }
            if self.next_backport == plan.base_release_after {
                for r in self.built.values_mut() {
                    r.b.tag(
                        "23.0.0",
                        RELEASE,
                        "Version 23.0.0 release from manifest b5913",
                    )
                    .map_err(err)?;
                }
            }
            self.backport(plan, t, story, when)?;
            self.next_backport += 1;
        }
        for r in self.built.values_mut() {
            r.finish().map_err(err)?;
        }
        Ok(())
    }

    /// A ticket's fix on main, in every repository it touches.
    fn fix(&mut self, plan: &Plan, t: &Ticket) -> Result<()> {
        let story = plan.story(t);
        if matches!(story, Some(Story::MergedIntoBoth | Story::ForwardPort)) {
            return Ok(()); // these reach main from the release side
        }
        for repo in &t.repos {
            let Some(r) = self.built.get_mut(repo.as_str()) else {
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
            let core = format!("Use the fixed dm{} value in the core scale", t.num);
            let mut edits = vec![(
                file.as_str(),
                2usize,
                "    return fixed_value()",
                subject.as_str(),
            )];
            if story == Some(Story::Squash) {
                edits.push((file.as_str(), 5, "    check(fixed_value())", check.as_str()));
            }
            if let Some(sc) = plan
                .showcase()
                .filter(|sc| sc.conflict == t.key && &sc.conflict_repo == repo)
            {
                // The fix this one builds on, merged on main just before it (never backported).
                r.fix_on_main(
                    &sc.dependency,
                    &[(
                        FILES[0],
                        CONFLICT_LINE,
                        "    scale = calibrated_scale()",
                        "Compute the core scale from the calibration",
                    )],
                )
                .map_err(err)?;
                edits.push((
                    FILES[0],
                    CONFLICT_LINE,
                    "    scale = calibrated_scale(fixed_value())",
                    core.as_str(),
                ));
            }
            let f = if plan.news.as_deref() == Some(t.key.as_str()) {
                // The fix, then its news fragment, on one ticket branch.
                let branch = format!("tickets/{key}");
                r.b.branch(&branch, MAIN).map_err(err)?;
                let mut f = Vec::new();
                for (file, line, text, subject) in &edits {
                    f.push(r.edit(&branch, subject, file, *line, text).map_err(err)?);
                }
                r.b.write(
                    &branch,
                    &format!("Add a news fragment for {key}"),
                    &[(
                        &format!("doc/changes/{key}.bugfix.md"),
                        &format!("Fixed the dm{} computation.\n", t.num),
                    )],
                )
                .map_err(err)?;
                r.merge_pr(MAIN, &branch).map_err(err)?;
                f
            } else {
                r.fix_on_main(&key, &edits).map_err(err)?
            };
            self.fixes.insert((t.key.clone(), repo.clone()), f);
        }
        Ok(())
    }

    /// A ticket's backport (or what happens instead), in every repository it touches.
    fn backport(
        &mut self,
        plan: &Plan,
        t: &Ticket,
        story: Story,
        when: DateTime<Utc>,
    ) -> Result<()> {
        let by_hand = plan.by_hand.as_deref() == Some(t.key.as_str());
        let now = portcullis_core::time::now();
        let branch = format!("{}-v23", t.key);
        for (j, repo) in t.repos.iter().enumerate() {
            let Some(r) = self.built.get_mut(repo.as_str()) else {
                continue;
            };
            r.b.set_time(when.timestamp());
            let fix = self
                .fixes
                .get(&(t.key.clone(), repo.to_string()))
                .cloned()
                .unwrap_or_default();
            let file = file_of(t.num);
            match story {
                Story::NotBackported => {}
                Story::MissingInOneRepo if j > 0 => {}
                Story::Clean if by_hand => backport_by_hand(r, &branch, t.num, &file)?,
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
                Story::Squash => squashed(r, &branch, &t.key, &file)?,
                Story::Edited => edited(r, &branch, t.num, &file)?,
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
                Story::PinToo => pinned_too(r, &branch, &fix)?,
                Story::ForwardPort => forward_port(r, &branch, &t.key, &file, when)?,
            }
        }
        Ok(())
    }
}

/// A backport made by hand, with a v23 adaptation, in one commit: no pick to match.
fn backport_by_hand(r: &mut CampaignRepo, branch: &str, num: u32, file: &str) -> Result<()> {
    r.on_release_branch(branch, |r, br| {
        r.edits(
            br,
            &format!("Backport the dm{num} fix by hand, with the v23 default"),
            &[
                (file, 2, "    return fixed_value()"),
                (file, 8, "    # v23 keeps the legacy default"),
            ],
        )?;
        Ok(())
    })
    .map(|_| ())
    .map_err(err)
}

/// A backport squashed into one commit that also adds a check.
fn squashed(r: &mut CampaignRepo, branch: &str, key: &str, file: &str) -> Result<()> {
    r.on_release_branch(branch, |r, br| {
        r.edits(
            br,
            &format!("{key}: fix the computation and add a check (squashed backport)"),
            &[
                (file, 2, "    return fixed_value()"),
                (file, 5, "    check(fixed_value())"),
            ],
        )?;
        Ok(())
    })
    .map(|_| ())
    .map_err(err)
}

/// A backport edited on its way to the release branch.
fn edited(r: &mut CampaignRepo, branch: &str, num: u32, file: &str) -> Result<()> {
    r.on_release_branch(branch, |r, br| {
        r.edit(
            br,
            &format!("Fix the dm{num} computation"),
            file,
            2,
            "    return fixed_value(legacy=True)",
        )?;
        Ok(())
    })
    .map(|_| ())
    .map_err(err)
}

/// A clean pick plus a pin that only the release branch needs.
fn pinned_too(r: &mut CampaignRepo, branch: &str, fix: &[Oid]) -> Result<()> {
    r.on_release_branch(branch, |r, br| {
        for c in fix {
            r.b.cherry_pick(br, *c, None)?;
        }
        r.b.write(
            br,
            "Pin moto<3 so that the S3 tests pass",
            &[("requirements-v23.txt", "moto<3\n")],
        )?;
        Ok(())
    })
    .map(|_| ())
    .map_err(err)
}

/// Release notes written on the release branch, then forward-ported to main.
fn forward_port(
    r: &mut CampaignRepo,
    branch: &str,
    key: &str,
    file: &str,
    when: DateTime<Utc>,
) -> Result<()> {
    let mut notes = Vec::new();
    r.on_release_branch(branch, |r, br| {
        notes.push(r.b.write(
            br,
            "Add release notes for this fix",
            &[(file, "release notes\n")],
        )?);
        Ok(())
    })
    .map_err(err)?;
    r.b.set_time((when + Duration::minutes(40)).timestamp());
    let fb = format!("tickets/{key}-forward-port");
    r.b.branch(&fb, MAIN).map_err(err)?;
    for n in notes {
        r.b.cherry_pick(&fb, n, None).map_err(err)?;
    }
    r.merge_pr(MAIN, &fb).map_err(err)?;
    Ok(())
}
