//! Tickets: a commit belongs to the ticket of the first-parent merge that brought it onto its
//! branch (`Merge pull request #N from org/tickets/DM-X-v23`); keys in its message are mentions.
//! Also the main-side commits since a base, each with its ticket.

use std::collections::{HashMap, HashSet};

use git2::Oid;

use super::reader::Scanner;
use super::target::Res;
use crate::model::MainCommit;
use crate::text;
use portcullis_core::policy::{KeySource, LoadedPolicy};

/// Who brought a commit onto a branch.
#[derive(Debug, Clone)]
pub(super) struct Attribution {
    pub(super) ticket: Option<String>,
    /// The first-parent merge that introduced it.
    pub(super) via: Option<Oid>,
    /// The first-parent commit at which it arrived (itself, or `via`).
    pub(super) arrived: Oid,
}

impl Default for Attribution {
    fn default() -> Self {
        Attribution {
            ticket: None,
            via: None,
            arrived: Oid::zero(),
        }
    }
}

impl Scanner<'_, '_, '_> {
    /// Tickets of the commits in `set` as brought in along `tip`'s first-parent chain, under
    /// the policy's ticket rules: a merge's ticket from its branch name, else its subject; a
    /// commit's from the merge that brought it in, else its own subject. `main`: whether this
    /// is main (rules may read one side only: a pull request's number in a release-branch merge
    /// is the backport's, not the ticket's).
    pub(super) fn attribute(
        &mut self,
        tip: Oid,
        set: &HashSet<Oid>,
        main: bool,
    ) -> Res<HashMap<Oid, Attribution>> {
        let policy = self.t.policy;
        let repo = self.t.repo.as_str();
        let first = |source: KeySource, text: &str| -> Option<String> {
            policy
                .ticket_keys(source, main, repo, text)
                .into_iter()
                .next()
        };
        let mut chain = Vec::new();
        let mut c = tip;
        while set.contains(&c) {
            chain.push(c);
            match self.facts(c)?.parents.first() {
                Some(p) => c = *p,
                None => break,
            }
        }
        let chain_set: HashSet<Oid> = chain.iter().copied().collect();
        let mut out: HashMap<Oid, Attribution> = HashMap::with_capacity(set.len());
        for &c in chain.iter().rev() {
            let f = self.facts(c)?.clone();
            if f.parents.len() < 2 {
                out.insert(
                    c,
                    Attribution {
                        ticket: first(KeySource::Subject, f.subject()),
                        via: None,
                        arrived: c,
                    },
                );
                continue;
            }
            let ticket = text::merged_branch(f.subject())
                .and_then(|b| first(KeySource::MergeBranch, b))
                .or_else(|| first(KeySource::MergeSubject, f.subject()));
            out.insert(
                c,
                Attribution {
                    ticket: ticket.clone(),
                    via: None,
                    arrived: c,
                },
            );
            let mut stack: Vec<Oid> = f.parents[1..].to_vec();
            while let Some(x) = stack.pop() {
                if !set.contains(&x) || chain_set.contains(&x) || out.contains_key(&x) {
                    continue;
                }
                let fx = self.facts(x)?;
                let parents = fx.parents.clone();
                // A merge that names no ticket leaves its commits their own subject's.
                let own = match &ticket {
                    Some(_) => None,
                    None if parents.len() < 2 => first(KeySource::Subject, fx.subject()),
                    None => None,
                };
                out.insert(
                    x,
                    Attribution {
                        ticket: ticket.clone().or(own),
                        via: Some(c),
                        arrived: c,
                    },
                );
                stack.extend(parents);
            }
        }
        Ok(out)
    }

    /// Main-side commits reachable from `main_tip` and not from `base`, with their tickets.
    pub(super) fn main_side(
        &mut self,
        main_tip: Oid,
        base: Oid,
    ) -> Res<(Vec<MainCommit>, HashMap<Oid, Attribution>)> {
        let order = self.walk(main_tip, &[base])?;
        let set: HashSet<Oid> = order.iter().copied().collect();
        let attr = self.attribute(main_tip, &set, true)?;
        let mut introduces: HashMap<Oid, Vec<String>> = HashMap::new();
        for (oid, a) in &attr {
            if let Some(v) = a.via {
                introduces.entry(v).or_default().push(oid.to_string());
            }
        }
        let mut out = Vec::with_capacity(order.len());
        for oid in order {
            let f = self.facts(oid)?.clone();
            let a = attr.get(&oid).cloned().unwrap_or_default();
            let mut intro = introduces.remove(&oid).unwrap_or_default();
            intro.sort();
            out.push(MainCommit {
                sha: oid.to_string(),
                subject: f.subject().to_string(),
                time: f.time,
                merge: f.parents.len() > 1,
                mentions: mentions(
                    self.t.policy,
                    &self.t.repo,
                    true,
                    &f.message,
                    a.ticket.as_deref(),
                ),
                ticket: a.ticket,
                via: a.via.map(|v| v.to_string()),
                introduces: intro,
                not_needed: None,
                content: None,
                outside_release: false,
            });
        }
        Ok((out, attr))
    }
}

/// Keys mentioned in a message of repository `repo` on main (`main`) or the release branch,
/// other than the commit's own ticket.
pub(super) fn mentions(
    policy: &LoadedPolicy,
    repo: &str,
    main: bool,
    message: &str,
    ticket: Option<&str>,
) -> Vec<String> {
    policy
        .ticket_keys(KeySource::Message, main, repo, message)
        .into_iter()
        .filter(|k| Some(k.as_str()) != ticket)
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::cache::{FactCache, NoStore};
    use crate::campaign::{CampaignRepo, FILES, MAIN, RELEASE};
    use crate::scan::{scan, ScanTarget};
    use portcullis_core::policy::{Policy, BUILTIN_GITHUB};

    /// Issue 20: "ticket = pull request number" could not be expressed; the `#N` of
    /// `Merge pull request #N from user/branch` and of a `(#N)` squash subject on main was
    /// dropped. Under `[verify] pull_request_key` they name the ticket of the main-side
    /// commits; release-side pull request numbers (the backport's own) do not.
    #[test]
    fn pull_request_numbers_on_main_name_tickets() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = CampaignRepo::new(&dir.path().join("pkg")).unwrap();
        r.b.branch("someone/fix", MAIN).unwrap();
        let merged = r
            .edit("someone/fix", "Fix the reader", FILES[1], 5, "fixed")
            .unwrap();
        r.b.merge(
            MAIN,
            "someone/fix",
            "Merge pull request #15551 from someone/fix",
        )
        .unwrap();
        let squashed = r
            .edit(MAIN, "Fix the writer (#15560)", FILES[0], 5, "fixed")
            .unwrap();
        let stray = r
            .edit(MAIN, "Work around WinError 1455", FILES[0], 6, "x")
            .unwrap();
        let picked = r.backport("DM-1-v23", &[merged]).unwrap();
        r.b.branch("other", RELEASE).unwrap();
        r.edit("other", "Pin numpy", FILES[2], 3, "pinned").unwrap();
        r.b.merge(
            RELEASE,
            "other",
            "Merge pull request #15600 from someone/other",
        )
        .unwrap();
        r.finish().unwrap();

        let text = format!("{BUILTIN_GITHUB}\n[verify]\npull_request_key = \"{{repo}}#{{n}}\"\n");
        let policy = Policy::from_toml("github.toml", &text).unwrap();
        let line = policy.line("v23").unwrap();
        let t = ScanTarget {
            repo: "pkg".into(),
            path: dir.path().join("pkg"),
            shown_path: "pkg".into(),
            main_branch: MAIN.into(),
            line,
            policy: &policy,
        };
        let s = scan(&t, &mut FactCache::new(Box::new(NoStore)));
        assert!(s.problems.is_empty(), "{:?}", s.problems);
        let ticket_of = |sha: git2::Oid| {
            s.main_commits
                .iter()
                .find(|m| m.sha == sha.to_string())
                .unwrap()
                .ticket
                .clone()
        };
        assert_eq!(ticket_of(merged).as_deref(), Some("pkg#15551"));
        assert_eq!(ticket_of(squashed).as_deref(), Some("pkg#15560"));
        assert_eq!(ticket_of(stray), None);
        // The release side keeps its own attribution: no key from the backport's number.
        let released = |sha: git2::Oid| {
            s.release_commits
                .iter()
                .find(|c| c.sha == sha.to_string())
                .unwrap()
        };
        assert_eq!(released(picked[0]).ticket, None);
        assert!(s
            .release_commits
            .iter()
            .all(|c| c.ticket.as_deref() != Some("pkg#15600")));

        // Without the key nothing changes.
        let plain = Policy::from_toml("github.toml", BUILTIN_GITHUB).unwrap();
        let t = ScanTarget {
            policy: &plain,
            line: plain.line("v23").unwrap(),
            ..t
        };
        let s = scan(&t, &mut FactCache::new(Box::new(NoStore)));
        assert!(s.main_commits.iter().all(|m| m.ticket.is_none()));
    }
}
