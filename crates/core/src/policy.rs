//! The policy model: release lines, labels, steps, committee, repositories and rules.
//!
//! A policy is data (`policy/*.toml`). [`Policy::from_toml`] parses strictly (unknown keys are
//! rejected) and then validates what serde cannot (regexes, versions, duplicates, references),
//! reporting every problem as `file:line: key: message`.

use std::fmt;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::landing::DriftKind;
use crate::workflow::ViolationKind;

mod keys;
mod load;

pub use keys::{KeyFinder, KeyRule, KeySide, KeySource, TicketKey};

/// The whole policy file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// What a ticket key looks like and where git history names one: a regular expression a
    /// key matches as a whole, e.g. `DM-\d+` (anchored automatically; found in merge branch
    /// names and message mentions), or rules with capture groups and a normal form, e.g.
    /// `{ pattern = '#(\d+)', key = '{repo}#{1}', in = ["merge_subject"], side = "main" }`.
    pub ticket_key: TicketKey,
    /// Labels shared by every release line.
    #[serde(default)]
    pub labels: SharedLabels,
    /// Release lines under change control.
    pub lines: Vec<Line>,
    /// The steps of the production campaign, in the order they run.
    #[serde(default)]
    pub steps: Vec<Step>,
    /// Who decides.
    pub committee: Committee,
    /// Git repositories that carry the release lines.
    #[serde(default)]
    pub repositories: Vec<Repository>,
    /// What counts as blocking.
    #[serde(default)]
    pub rules: Rules,
    /// How `portcullis verify` reads the history.
    #[serde(default, skip_serializing_if = "VerifySettings::is_default")]
    pub verify: VerifySettings,
    /// How `portcullis backport` writes its branches.
    #[serde(default)]
    pub backport: Backport,
}

/// How `portcullis verify` reads the history (`[verify]`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct VerifySettings {
    /// Paths whose main-side changes never need a backport, as globs over the whole path (`**`
    /// any directories, `*` and `?` within one name), e.g. `["doc/changes/**", ".github/**"]`.
    /// A main-side commit that touches only such paths never makes a ticket partial; it is
    /// reported as `not_needed`, naming the rule. Lines and repositories add their own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_paths: Vec<String>,
    /// Subject prefixes stripped before subjects are compared, as regular expressions matched
    /// at the start (case-insensitive, repeatedly). Default: bot prefixes such as
    /// `Backport PR #123: ` and `[3.12] `.
    #[serde(default = "default_subject_prefixes")]
    pub subject_prefixes: Vec<String>,
    /// The ticket of a pull request merged on main, `{repo}` (the repository's name) and `{n}`
    /// (its number) replaced, e.g. `{repo}#{n}` when the ticket is the pull request: the
    /// commits a `Merge pull request #N` merge brings onto main (when its branch names no
    /// ticket), and a squash-merged commit whose subject ends `(#N)`, belong to it. Unset: no
    /// ticket from pull request numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request_key: Option<String>,
    /// Built-in conventions to read the history with. `github-pr`: tickets are pull requests,
    /// keyed `{repo}#N` (`ticket_key` must accept such keys), as in GitHub-centric projects
    /// with backport bots. It stands for `pull_request_key = "{repo}#{n}"` (main-side `Merge
    /// pull request #N` and `(#N)` squashes; meeseeksdev and miss-islington branches and
    /// subjects) and adds mentions `PR #N`, `backport of #N`, `pull request #N` in messages.
    /// Explicit keys win: a `pull_request_key` set here is used instead, and the `ticket_key`
    /// rules are tried before the preset's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<Preset>,
}

/// A built-in set of conventions (`[verify] preset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum Preset {
    /// Tickets are pull requests (`{repo}#N`), backports made by bots or by hand.
    #[serde(rename = "github-pr")]
    GithubPr,
}

fn default_subject_prefixes() -> Vec<String> {
    vec![
        r"backport(?:ed)? (?:of )?(?:pr|pull request) #\d+\s*[:\-]?\s*".into(),
        r"\[[^\]]*\]\s*".into(),
    ]
}

impl Default for VerifySettings {
    fn default() -> Self {
        VerifySettings {
            ignore_paths: Vec::new(),
            subject_prefixes: default_subject_prefixes(),
            pull_request_key: None,
            preset: None,
        }
    }
}

impl Preset {
    pub fn as_str(self) -> &'static str {
        match self {
            Preset::GithubPr => "github-pr",
        }
    }
}

/// How `portcullis backport` writes the branches it picks a ticket onto.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Backport {
    /// The branch made from the release branch for a ticket; `{key}` (required) and `{line}`
    /// are replaced. Default `tickets/{key}-{line}` (e.g. `tickets/DM-33891-v23`).
    #[serde(default = "default_backport_branch")]
    pub branch_pattern: String,
    /// Whether each pick's message ends with `(cherry picked from commit …)`, as
    /// `git cherry-pick -x` writes it. Default true.
    #[serde(default = "default_true")]
    pub cherry_pick_trailer: bool,
    /// The remote `backport --push` pushes ticket branches to. Default `origin`.
    #[serde(default = "default_push_remote")]
    pub push_remote: String,
    /// The title of a backport pull request (`backport --pr`). Placeholders: `{key}`,
    /// `{summary}`, `{line}`, `{branch}`, `{release_branch}`, `{repo}`.
    #[serde(default = "default_pr_title")]
    pub pr_title: String,
    /// Its body; also `{commits}` (the main-side commits picked, one per line) and
    /// `{approval}` (who approved it, when, in which meeting, and why).
    #[serde(default = "default_pr_body")]
    pub pr_body: String,
    /// Whether `portcullis bot` backports newly approved tickets whose picks are all clean
    /// (with `--push --pr` when `[github]` is configured) and posts their conflicts to chat.
    /// Default false.
    #[serde(default)]
    pub bot: bool,
}

fn default_pr_title() -> String {
    "[{release_branch}] {key}: {summary}".into()
}

fn default_pr_body() -> String {
    "Backport of {key} ({summary}) to {release_branch}.\n\nMain-side commits:\n{commits}\n\n{approval}\n"
        .into()
}

fn default_backport_branch() -> String {
    "tickets/{key}-{line}".into()
}

fn default_push_remote() -> String {
    "origin".into()
}

impl Default for Backport {
    fn default() -> Self {
        Backport {
            branch_pattern: default_backport_branch(),
            cherry_pick_trailer: true,
            push_remote: default_push_remote(),
            pr_title: default_pr_title(),
            pr_body: default_pr_body(),
            bot: false,
        }
    }
}

impl VerifySettings {
    fn is_default(&self) -> bool {
        *self == VerifySettings::default()
    }
}

impl Backport {
    /// `template` with each `{name}` of `values` replaced.
    pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
        let mut out = template.to_string();
        for (k, v) in values {
            out = out.replace(&format!("{{{k}}}"), v);
        }
        out
    }

    /// The branch of ticket `key` on line `line`.
    pub fn branch(&self, key: &str, line: &str) -> String {
        Self::fill(&self.branch_pattern, &[("key", key), ("line", line)])
    }
}

/// Labels that mean the same on every line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SharedLabels {
    /// Added when the committee approves a request.
    #[serde(default = "default_approved")]
    pub approved: String,
    /// Added when the backport has landed everywhere.
    #[serde(default = "default_done")]
    pub done: String,
    /// Labels with this prefix that are not a line's request label are reported as unknown.
    #[serde(default = "default_prefix")]
    pub request_prefix: String,
}

fn default_approved() -> String {
    "backport-approved".into()
}
fn default_done() -> String {
    "backport-done".into()
}
fn default_prefix() -> String {
    "backport-".into()
}

impl Default for SharedLabels {
    fn default() -> Self {
        SharedLabels {
            approved: default_approved(),
            done: default_done(),
            request_prefix: default_prefix(),
        }
    }
}

/// A release line such as `v23`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Line {
    /// Short name, e.g. `v23`.
    pub name: String,
    /// The version the line was released at, e.g. `23.0.0` (semver).
    pub base_version: String,
    /// Release branch name in every repository, e.g. `v23.0.x`.
    pub branch: String,
    /// The label that requests a backport to this line, e.g. `backport-v23`.
    pub request_label: String,
    /// Tag name of a final release; `{version}` is replaced, e.g. `{version}` → `23.0.1`.
    #[serde(default = "default_tag")]
    pub tag_pattern: String,
    /// Tag name of a release candidate, e.g. `v{version}.rc{n}`.
    #[serde(default = "default_rc_tag")]
    pub rc_tag_pattern: String,
    /// Whether a final release marks its approved tickets done (a `done` decision each, written
    /// to the tracker by `push`).
    #[serde(default)]
    pub mark_done_on_release: bool,
    /// Paths whose main-side changes never need a backport to this line (globs, added to
    /// `[verify] ignore_paths`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_paths: Vec<String>,
}

fn default_tag() -> String {
    "{version}".into()
}
fn default_rc_tag() -> String {
    "v{version}.rc{n}".into()
}

/// A stage of the production campaign.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Identifier used on the command line, e.g. `sfp`.
    pub name: String,
    /// Human title, e.g. "Single-frame processing".
    pub title: String,
    /// The release line the step runs on.
    pub line: String,
}

/// The steering committee.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Committee {
    /// Who may approve or reject.
    pub members: Vec<Member>,
    /// Members that must attend a meeting for its decisions to count, if set.
    #[serde(default)]
    pub quorum: Option<u32>,
    /// The weekday the committee meets (`monday` … `sunday`); default meeting date of a decision.
    #[serde(default = "default_meeting_day")]
    pub meeting_day: String,
}

fn default_meeting_day() -> String {
    "tuesday".into()
}

/// One committee member and the names they appear under in trackers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// Display name.
    pub name: String,
    /// Other identities: Jira user names, account ids, GitHub logins, e-mail addresses.
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// A git repository that carries the release branches.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Repository {
    /// Package name, e.g. `daf_butler`.
    pub name: String,
    /// Path of a local clone, relative to the policy file or absolute.
    pub path: String,
    /// The development branch backports come from.
    #[serde(default = "default_main")]
    pub main_branch: String,
    /// The release lines this repository carries (default: every line). A repository that does
    /// not carry a line is not scanned for it and never holds up its tickets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<Vec<String>>,
    /// Whether a ticket that touched this repository on `main` counts as landed only once it is
    /// here too (default true). When false, a missing landing is reported but does not hold the
    /// ticket up (e.g. a repository whose release branch only takes pins).
    #[serde(default = "default_true")]
    pub require_landing: bool,
    /// Tickets whose main-side commits here need not land on the release branches, e.g. code
    /// that moved here on `main` and was backported by hand in its old repository.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip_tickets: Vec<String>,
    /// Paths of this repository whose main-side changes never need a backport (globs, added to
    /// `[verify] ignore_paths`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_paths: Vec<String>,
}

fn default_true() -> bool {
    true
}

impl Repository {
    /// Whether this repository carries release line `line`.
    pub fn carries(&self, line: &str) -> bool {
        self.lines
            .as_ref()
            .is_none_or(|ls| ls.iter().any(|l| l == line))
    }
}

fn default_main() -> String {
    "main".into()
}

/// Rules about violations.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// Violation kinds that block a patch release until resolved.
    #[serde(default)]
    pub blocking: Vec<ViolationKind>,
    /// Drift kinds (from `portcullis verify`) that make verification fail (exit 1). Default:
    /// `done_not_landed`, `landed_not_approved`, `reverted`, `unverifiable`.
    #[serde(default = "default_drift_blocking")]
    pub drift_blocking: Vec<DriftKind>,
    /// Digests list approvals older than this many days that have not landed everywhere, with
    /// their owners. Default 14.
    #[serde(default = "default_stale_after_days")]
    pub stale_after_days: i64,
    /// What is posted to chat at once as an alert, not only in the next digest: drift kinds
    /// (`reverted`, `landed_not_approved`, …) and `cut_failed`. Default: `reverted`,
    /// `landed_not_approved`, `cut_failed`.
    #[serde(default = "default_alert")]
    pub alert: Vec<String>,
}

fn default_drift_blocking() -> Vec<DriftKind> {
    DriftKind::DEFAULT_BLOCKING.to_vec()
}

fn default_stale_after_days() -> i64 {
    14
}

fn default_alert() -> Vec<String> {
    vec![
        "reverted".into(),
        "landed_not_approved".into(),
        "cut_failed".into(),
    ]
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            blocking: Vec::new(),
            drift_blocking: default_drift_blocking(),
            stale_after_days: default_stale_after_days(),
            alert: default_alert(),
        }
    }
}

/// One problem found in a policy file, located precisely.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyError {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub key: String,
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        if self.key.is_empty() {
            write!(f, ": {}", self.message)
        } else {
            write!(f, ": key `{}`: {}", self.key, self.message)
        }
    }
}

/// A compiled, validated policy plus its compiled ticket-key regex.
#[derive(Debug, Clone)]
pub struct LoadedPolicy {
    pub policy: Policy,
    key_re: Regex,
    /// The ticket key pattern unanchored, between word boundaries: finds keys inside text.
    key_search: Regex,
    /// `[verify] subject_prefixes` as one regex anchored at the start; `None` when empty.
    subject_prefix: Option<Regex>,
    /// Where git text names tickets: `ticket_key`'s rules, then `[verify] pull_request_key`'s.
    finders: Vec<KeyFinder>,
    /// Where it came from (file name), for messages.
    pub source: String,
}

impl LoadedPolicy {
    /// The campaign steps of release line `line`, in policy order.
    pub fn steps_of<'a>(&'a self, line: &'a str) -> impl Iterator<Item = &'a Step> + 'a {
        self.policy.steps.iter().filter(move |s| s.line == line)
    }

    /// The labels sync looks for: the lines' request labels, the approval and done labels.
    pub fn labels(&self) -> std::collections::BTreeSet<String> {
        let mut labels: std::collections::BTreeSet<String> = self
            .policy
            .lines
            .iter()
            .map(|l| l.request_label.clone())
            .collect();
        labels.insert(self.policy.labels.approved.clone());
        labels.insert(self.policy.labels.done.clone());
        labels
    }

    /// Whether `key` is a ticket key under this policy.
    pub fn key_matches(&self, key: &str) -> bool {
        self.key_re.is_match(key)
    }

    /// Every ticket key in `text` (branch names, commit messages), in order, without repeats.
    pub fn keys_in(&self, text: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for m in self.key_search.find_iter(text) {
            if !out.iter().any(|k| k == m.as_str()) {
                out.push(m.as_str().to_string());
            }
        }
        out
    }

    /// The ticket keys that `text`, read as `source` on main (`main`) or the release branch of
    /// repository `repo`, names under `ticket_key`, `[verify] pull_request_key` and the
    /// preset: in rule order, then in order of appearance, without repeats.
    pub fn ticket_keys(
        &self,
        source: KeySource,
        main: bool,
        repo: &str,
        text: &str,
    ) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for f in self.finders.iter().filter(|f| f.reads(source, main)) {
            for k in f.keys(repo, text) {
                if !out.contains(&k) {
                    out.push(k);
                }
            }
        }
        out
    }

    /// Whether drift of this kind fails a verification.
    pub fn is_drift_blocking(&self, kind: DriftKind) -> bool {
        self.policy.rules.drift_blocking.contains(&kind)
    }

    /// The subject prefixes stripped before subjects are compared (`[verify] subject_prefixes`),
    /// as one case-insensitive regex anchored at the start.
    pub fn subject_prefix(&self) -> Option<&Regex> {
        self.subject_prefix.as_ref()
    }

    /// The globs of paths that never need a backport in repository `repo` on line `line`: the
    /// policy's, the line's and the repository's.
    pub fn ignore_paths(&self, line: &Line, repo: &str) -> Vec<String> {
        let mut out = self.policy.verify.ignore_paths.clone();
        out.extend(line.ignore_paths.iter().cloned());
        for r in self.policy.repositories.iter().filter(|r| r.name == repo) {
            out.extend(r.ignore_paths.iter().cloned());
        }
        out.dedup();
        out
    }

    /// The repositories that carry release line `line`.
    pub fn repositories_for(&self, line: &str) -> Vec<&Repository> {
        self.policy
            .repositories
            .iter()
            .filter(|r| r.carries(line))
            .collect()
    }

    pub fn line(&self, name: &str) -> Option<&Line> {
        self.policy.lines.iter().find(|l| l.name == name)
    }

    /// The line whose request label is `label`.
    pub fn line_for_request_label(&self, label: &str) -> Option<&Line> {
        self.policy.lines.iter().find(|l| l.request_label == label)
    }

    /// Resolve an actor (any alias) to a committee member's display name.
    pub fn committee_member(&self, actor: &str) -> Option<&Member> {
        let actor = actor.trim();
        self.policy.committee.members.iter().find(|m| {
            m.name.eq_ignore_ascii_case(actor)
                || m.aliases.iter().any(|a| a.eq_ignore_ascii_case(actor))
        })
    }

    pub fn is_blocking(&self, kind: ViolationKind) -> bool {
        self.policy.rules.blocking.contains(&kind)
    }

    /// Whether a label is one portcullis interprets (a request label or a shared label).
    pub fn is_known_label(&self, label: &str) -> bool {
        label == self.policy.labels.approved
            || label == self.policy.labels.done
            || self.line_for_request_label(label).is_some()
    }

    /// A label that looks like a backport label but is not in the policy.
    pub fn is_unknown_backport_label(&self, label: &str) -> bool {
        !self.policy.labels.request_prefix.is_empty()
            && label.starts_with(&self.policy.labels.request_prefix)
            && !self.is_known_label(label)
    }

    /// The default line for commands that take `--line`: the only line, or an error naming the choices.
    pub fn resolve_line(&self, requested: Option<&str>) -> crate::Result<&Line> {
        match requested {
            Some(name) => self.line(name).ok_or_else(|| {
                crate::Error::input(format!("unknown release line `{name}`")).hint(format!(
                    "the policy {} defines: {}",
                    self.source,
                    self.line_names().join(", ")
                ))
            }),
            None if self.policy.lines.len() == 1 => Ok(&self.policy.lines[0]),
            None => Err(
                crate::Error::input("this policy has several release lines; say which").hint(
                    format!("pass --line with one of: {}", self.line_names().join(", ")),
                ),
            ),
        }
    }

    pub fn line_names(&self) -> Vec<String> {
        self.policy.lines.iter().map(|l| l.name.clone()).collect()
    }
}

/// The built-in policies, embedded so that `init` and `demo` work from any directory.
pub const BUILTIN_DEFAULT: &str = include_str!("../../../policy/default.toml");
pub const BUILTIN_V23: &str = include_str!("../../../policy/v23.toml");
/// The v23 line tracked in GitHub issues and pull requests (keys like `daf_butler#123`).
pub const BUILTIN_GITHUB: &str = include_str!("../../../policy/github.toml");

/// The weekday named in a policy.
pub fn weekday(name: &str) -> Option<chrono::Weekday> {
    name.parse::<chrono::Weekday>().ok()
}

/// The published JSON schema of policy files (docs/policy.schema.json), as
/// `portcullis policy schema` prints it. It is generated from the types below by
/// `schema_json` (feature `schema`); the test `policy::schema_is_up_to_date` keeps the
/// file and the types in step, so the shipped binary carries the text and not the generator.
pub const SCHEMA_JSON: &str = include_str!("../../../docs/policy.schema.json");

/// The JSON schema of policy files, generated from the types (feature `schema`).
#[cfg(feature = "schema")]
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(Policy);
    let mut s = serde_json::to_string_pretty(&schema).unwrap_or_default();
    s.push('\n');
    s
}

impl crate::workflow::Committee for LoadedPolicy {
    fn is_member(&self, actor: &str) -> bool {
        self.committee_member(actor).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_policies_are_valid() {
        Policy::from_toml("default.toml", BUILTIN_DEFAULT).unwrap();
        let p = Policy::from_toml("v23.toml", BUILTIN_V23).unwrap();
        assert!(p.key_matches("DM-33360"));
        assert!(!p.key_matches("DM-"));
        assert!(!p.key_matches("XDM-1"));
        assert_eq!(p.line("v23").unwrap().branch, "v23.0.x");
        let g = Policy::from_toml("github.toml", BUILTIN_GITHUB).unwrap();
        assert!(g.key_matches("daf_butler#123"));
        assert!(g.key_matches("obs-base.py#7"));
        assert!(!g.key_matches("daf_butler#"));
        assert!(!g.key_matches("DM-33360"));
        assert_eq!(g.line("v23").unwrap().request_label, "backport-v23");
    }

    #[test]
    fn ignore_paths_add_up_from_policy_line_and_repository() {
        let text = format!(
            "{}\n[verify]\nignore_paths = [\"doc/changes/**\"]\n",
            BUILTIN_V23.replacen(
                "request_label = \"backport-v23\"",
                "request_label = \"backport-v23\"\nignore_paths = [\"ups/**\"]",
                1,
            )
        );
        let mut p = Policy::from_toml("p.toml", &text).unwrap();
        p.policy.repositories.push(Repository {
            name: "pkg".into(),
            path: "pkg".into(),
            main_branch: "main".into(),
            lines: None,
            require_landing: true,
            skip_tickets: Vec::new(),
            ignore_paths: vec![".github/**".into()],
        });
        let line = p.line("v23").unwrap().clone();
        assert_eq!(
            p.ignore_paths(&line, "pkg"),
            ["doc/changes/**", "ups/**", ".github/**"]
        );
        assert_eq!(p.ignore_paths(&line, "other"), ["doc/changes/**", "ups/**"]);
        let plain = Policy::from_toml("v23.toml", BUILTIN_V23).unwrap();
        assert!(plain
            .ignore_paths(plain.line("v23").unwrap(), "pkg")
            .is_empty());
    }

    #[test]
    fn subject_prefixes_default_and_bad_ones_are_located() {
        let plain = Policy::from_toml("v23.toml", BUILTIN_V23).unwrap();
        let re = plain.subject_prefix().unwrap();
        assert_eq!(
            re.find("Backport PR #15551: Fix x").unwrap().as_str(),
            "Backport PR #15551: "
        );
        assert_eq!(re.find("[3.12] Fix x").unwrap().as_str(), "[3.12] ");
        assert!(re.find("Fix x [3.12]").is_none());
        let text = format!("{BUILTIN_V23}\n[verify]\nsubject_prefixes = [\"(unclosed\"]\n");
        let errs = Policy::from_toml("p.toml", &text).unwrap_err();
        assert_eq!(errs[0].key, "verify.subject_prefixes[0]", "{}", errs[0]);
        let text = format!("{BUILTIN_V23}\n[verify]\npull_request_key = \"{{repo}}#\"\n");
        let errs = Policy::from_toml("p.toml", &text).unwrap_err();
        assert_eq!(errs[0].key, "verify.pull_request_key", "{}", errs[0]);
        let text = format!("{BUILTIN_V23}\n[verify]\nsubject_prefixes = []\n");
        assert!(Policy::from_toml("p.toml", &text)
            .unwrap()
            .subject_prefix()
            .is_none());
    }

    /// Issue 20: `ticket_key`'s whole match was the key, so `pr-15551`, `#15551` and
    /// `auto-backport-of-pr-15551-on-v6.0.x` were different tickets. Rules with a capture group
    /// and a normal form name one ticket; the plain form works as before.
    #[test]
    fn ticket_key_rules_name_one_ticket_in_its_normal_form() {
        let with = |key: &str| BUILTIN_V23.replacen("ticket_key = 'DM-\\d+'", key, 1);
        let text = with(
            r#"ticket_key = [
  { pattern = 'DM-\d+' },
  { pattern = '(?:pr-|#)(\d+)', key = '{repo}#{1}', in = ["merge_branch", "message"] },
  { pattern = '^Merge pull request #(\d+)', key = '{repo}#{1}', in = ["merge_subject"], side = "main" },
]"#,
        );
        assert_ne!(text, BUILTIN_V23, "the plain form was replaced");
        let p = Policy::from_toml("p.toml", &text).unwrap();
        let keys = |source, main, text: &str| p.ticket_keys(source, main, "pkg", text);
        assert_eq!(
            keys(
                KeySource::MergeBranch,
                false,
                "auto-backport-of-pr-15551-on-v6.0.x"
            ),
            ["pkg#15551"]
        );
        assert_eq!(
            keys(KeySource::MergeBranch, true, "someone/pr-15551"),
            ["pkg#15551"]
        );
        assert_eq!(
            keys(KeySource::Message, true, "See #15551, not WinError 1455"),
            ["pkg#15551"]
        );
        assert_eq!(
            keys(
                KeySource::MergeSubject,
                true,
                "Merge pull request #15551 from x/y"
            ),
            ["pkg#15551"]
        );
        assert!(
            keys(
                KeySource::MergeSubject,
                false,
                "Merge pull request #15600 from x/y"
            )
            .is_empty(),
            "a release-side pull request is the backport's"
        );
        assert_eq!(
            keys(KeySource::MergeBranch, true, "tickets/DM-7-v23"),
            ["DM-7"],
            "the first rule first"
        );
        assert!(p.key_matches("DM-7"));
        assert!(p.key_matches("daf_butler#15551"));
        assert!(!p.key_matches("#15551"));
        assert!(!p.key_matches("pkg#x"));
        assert_eq!(
            p.keys_in("see daf_butler#12 and DM-3"),
            ["daf_butler#12", "DM-3"]
        );

        // One rule as an inline table.
        let one = with(r#"ticket_key = { pattern = '#(\d+)', key = '{repo}#{1}' }"#);
        let p = Policy::from_toml("p.toml", &one).unwrap();
        assert_eq!(
            p.ticket_keys(KeySource::Subject, false, "pkg", "Fix it (#12)"),
            ["pkg#12"]
        );
        assert!(p.key_matches("pkg#12"));
        assert!(!p.key_matches("DM-1"));

        // The plain form: found whole, in merge branch names and messages only.
        let p = Policy::from_toml("v23.toml", BUILTIN_V23).unwrap();
        assert_eq!(
            p.ticket_keys(KeySource::MergeBranch, false, "pkg", "tickets/DM-1-v23"),
            ["DM-1"]
        );
        assert!(p
            .ticket_keys(KeySource::Subject, true, "pkg", "DM-1: fix")
            .is_empty());
        assert_eq!(p.policy.ticket_key.to_string(), "DM-\\d+");

        // Errors name the rule.
        let bad = with(
            r#"ticket_key = [{ pattern = 'DM-\d+' }, { pattern = '#(\d+)', key = '{repo}#{2}' }]"#,
        );
        let errs = Policy::from_toml("p.toml", &bad).unwrap_err();
        assert_eq!(errs[0].key, "ticket_key[1]", "{}", errs[0]);
        assert!(errs[0].message.contains("capture group"), "{}", errs[0]);
        // Each rule is valid, but their keys clash as one expression.
        let bad = with(
            r#"ticket_key = [{ pattern = '#(?P<n>\d+)', key = '{0}' }, { pattern = 'x(?P<n>\d+)' }]"#,
        );
        let errs = Policy::from_toml("p.toml", &bad).unwrap_err();
        assert_eq!(errs[0].key, "ticket_key", "{}", errs[0]);
        let bad = with(r#"ticket_key = { pattern = '#(\d+)', in = [] }"#);
        let errs = Policy::from_toml("p.toml", &bad).unwrap_err();
        assert_eq!(errs[0].key, "ticket_key", "{}", errs[0]);
    }

    /// Issue 20: the `github-pr` preset; explicit keys win over it.
    #[test]
    fn github_pr_preset_composes_with_explicit_keys() {
        let text = format!("{BUILTIN_GITHUB}\n[verify]\npreset = \"github-pr\"\n");
        let p = Policy::from_toml("p.toml", &text).unwrap();
        let keys =
            |p: &LoadedPolicy, source, main, text: &str| p.ticket_keys(source, main, "pkg", text);
        assert_eq!(
            keys(
                &p,
                KeySource::MergeSubject,
                true,
                "Merge pull request #12 from a/b"
            ),
            ["pkg#12"]
        );
        assert_eq!(
            keys(
                &p,
                KeySource::MergeBranch,
                false,
                "auto-backport-of-pr-12-on-v6.0.x"
            ),
            ["pkg#12"]
        );
        assert_eq!(
            keys(&p, KeySource::Message, false, "Notes for PR #12"),
            ["pkg#12"]
        );
        // An explicit pull_request_key is used instead of the preset's.
        let text = format!(
            "{BUILTIN_GITHUB}\n[verify]\npreset = \"github-pr\"\npull_request_key = \"gh-{{n}}\"\n"
        )
        .replace(
            "ticket_key = \"[A-Za-z0-9_.-]+#[0-9]+\"",
            "ticket_key = \"[A-Za-z0-9_.-]+#[0-9]+|gh-[0-9]+\"",
        );
        let p = Policy::from_toml("p.toml", &text).unwrap();
        assert_eq!(
            keys(
                &p,
                KeySource::MergeSubject,
                true,
                "Merge pull request #12 from a/b"
            ),
            ["gh-12"]
        );
        // A ticket_key that refuses the preset's keys is an error.
        let text = format!("{BUILTIN_V23}\n[verify]\npreset = \"github-pr\"\n");
        let errs = Policy::from_toml("p.toml", &text).unwrap_err();
        assert_eq!(errs[0].key, "verify.preset", "{}", errs[0]);
        let text = format!("{BUILTIN_V23}\n[verify]\npreset = \"gitlab\"\n");
        assert!(Policy::from_toml("p.toml", &text).is_err());
    }

    #[test]
    fn unknown_key_is_located() {
        let text = BUILTIN_V23.replacen(
            "request_label = \"backport-v23\"",
            "request_label = \"backport-v23\"\ncolour = \"red\"",
            1,
        );
        let errs = Policy::from_toml("p.toml", &text).unwrap_err();
        assert_eq!(errs.len(), 1);
        let e = &errs[0];
        assert!(e.message.contains("unknown field `colour`"), "{e}");
        assert_eq!(e.key, "lines[0].colour", "{e}");
        let expected = text.lines().position(|l| l.starts_with("colour")).unwrap() + 1;
        assert_eq!(e.line, Some(expected), "{e}");
    }

    #[test]
    fn backport_branch_pattern_defaults_and_is_checked() {
        let p = Policy::from_toml("v23.toml", BUILTIN_V23).unwrap();
        assert_eq!(
            p.policy.backport.branch("DM-33891", "v23"),
            "tickets/DM-33891-v23"
        );
        assert!(p.policy.backport.cherry_pick_trailer);
        let text = format!(
            "{BUILTIN_V23}\n[backport]\nbranch_pattern = \"backport/{{line}}\"\ncherry_pick_trailer = false\n"
        );
        let errs = Policy::from_toml("p.toml", &text).unwrap_err();
        assert_eq!(errs[0].key, "backport.branch_pattern");
        assert!(errs[0].message.contains("{key}"), "{}", errs[0]);
        let text = format!("{BUILTIN_V23}\n[backport]\nbranch_pattern = \"t/{{key}} x\"\n");
        let errs = Policy::from_toml("p.toml", &text).unwrap_err();
        assert!(errs[0].message.contains("valid branch name"), "{}", errs[0]);
        let text = format!(
            "{BUILTIN_V23}\n[backport]\nbranch_pattern = \"bp/{{line}}/{{key}}\"\ncherry_pick_trailer = false\n"
        );
        let p = Policy::from_toml("p.toml", &text).unwrap();
        assert_eq!(p.policy.backport.branch("DM-1", "v23"), "bp/v23/DM-1");
        assert!(!p.policy.backport.cherry_pick_trailer);
        assert_eq!(p.policy.backport.push_remote, "origin");
        assert_eq!(
            Backport::fill(
                &p.policy.backport.pr_title,
                &[
                    ("key", "DM-1"),
                    ("summary", "Fix"),
                    ("release_branch", "v23.0.x")
                ]
            ),
            "[v23.0.x] DM-1: Fix"
        );
        let text = format!("{BUILTIN_V23}\n[backport]\npush_remote = \"--upload-pack=x\"\n");
        let errs = Policy::from_toml("p.toml", &text).unwrap_err();
        assert_eq!(errs[0].key, "backport.push_remote");
    }

    #[test]
    fn semantic_errors_are_located() {
        let text = BUILTIN_V23.replacen("base_version = \"23.0.0\"", "base_version = \"23.0\"", 1);
        let errs = Policy::from_toml("p.toml", &text).unwrap_err();
        assert_eq!(errs[0].key, "lines[0].base_version");
        let expected = text
            .lines()
            .position(|l| l.starts_with("base_version"))
            .unwrap()
            + 1;
        assert_eq!(errs[0].line, Some(expected));
    }
}
