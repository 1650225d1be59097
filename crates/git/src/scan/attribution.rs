//! Tickets: a commit belongs to the ticket of the first-parent merge that brought it onto its
//! branch (`Merge pull request #N from org/tickets/DM-X-v23`); keys in its message are mentions.
//! Also the main-side commits since a base, each with its ticket.

use std::collections::{HashMap, HashSet};

use git2::Oid;

use super::reader::Scanner;
use super::target::Res;
use crate::model::MainCommit;
use crate::text;
use portcullis_core::policy::LoadedPolicy;

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
    /// Tickets of the commits in `set` as brought in along `tip`'s first-parent chain.
    pub(super) fn attribute(
        &mut self,
        tip: Oid,
        set: &HashSet<Oid>,
    ) -> Res<HashMap<Oid, Attribution>> {
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
                        ticket: None,
                        via: None,
                        arrived: c,
                    },
                );
                continue;
            }
            let ticket = text::merged_branch(f.subject())
                .and_then(|b| self.t.policy.keys_in(b).into_iter().next());
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
                out.insert(
                    x,
                    Attribution {
                        ticket: ticket.clone(),
                        via: Some(c),
                        arrived: c,
                    },
                );
                stack.extend(self.facts(x)?.parents.iter().copied());
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
        let attr = self.attribute(main_tip, &set)?;
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
                mentions: mentions(self.t.policy, &f.message, a.ticket.as_deref()),
                ticket: a.ticket,
                via: a.via.map(|v| v.to_string()),
                introduces: intro,
                not_needed: None,
            });
        }
        Ok((out, attr))
    }
}

/// Keys mentioned in a message, other than the commit's own ticket.
pub(super) fn mentions(policy: &LoadedPolicy, message: &str, ticket: Option<&str>) -> Vec<String> {
    policy
        .keys_in(message)
        .into_iter()
        .filter(|k| Some(k.as_str()) != ticket)
        .collect()
}
