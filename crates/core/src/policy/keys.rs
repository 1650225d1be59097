//! Ticket identity: the policy's `ticket_key`, as a plain pattern (the key as a whole, found in
//! merge branch names and messages) or as rules with capture groups and a normal form
//! (`{ pattern = '#(\d+)', key = '{repo}#{1}' }`), each looked for in the places of git text it
//! names. Compiled once when the policy loads ([`KeyFinder`]).

use std::fmt;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// `ticket_key`: what a ticket key looks like, and where git history names one.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum TicketKey {
    /// A regular expression a key matches as a whole, e.g. `DM-\d+` (anchored automatically).
    /// Found in merge branch names (the ticket of the commits a merge brings in) and in
    /// messages (mentions), on both branches.
    Pattern(String),
    /// One rule with a capture group and a normal form.
    Rule(KeyRule),
    /// Several rules, tried in order: the first that names a key wins.
    Rules(Vec<KeyRule>),
}

/// One way git text names a ticket.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct KeyRule {
    /// A regular expression, found between word boundaries (it does not start or end inside a
    /// word), e.g. `#(\d+)` or `DM-\d+`. Give numbers their context (`#`, `PR `, `GH-`): a bare
    /// `(\d+)` would read `WinError 1455` as a ticket.
    pub pattern: String,
    /// The key it names: `{0}` the whole match, `{1}`… its capture groups, `{repo}` the
    /// repository's name from the policy. Default `{0}`. Keys of this form must be what
    /// trackers call the ticket (`daf_butler#123`).
    #[serde(default = "default_key_form")]
    pub key: String,
    /// Where it is looked for. Default: everywhere.
    #[serde(default = "KeySource::all", rename = "in")]
    pub sources: Vec<KeySource>,
    /// On which branches. Default `both`. A pull request number in a release-branch merge is
    /// the backport's own, not the ticket's: rules reading merge subjects as pull requests
    /// belong to `main`.
    #[serde(default)]
    pub side: KeySide,
}

fn default_key_form() -> String {
    "{0}".into()
}

/// Where in git text a ticket key is looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum KeySource {
    /// The branch a merge brought in (`tickets/DM-1-v23`, `auto-backport-of-pr-15551-on-v6.0.x`):
    /// the ticket of every commit it brought.
    MergeBranch,
    /// A merge's subject (`Merge pull request #15551 from someone/fix`), when its branch names
    /// no ticket.
    MergeSubject,
    /// A commit's own subject (`Fix the ticks (#15551)`, `Backport PR #15551: …`), when no merge
    /// gave it a ticket.
    Subject,
    /// Anywhere in a message: mentions (a carrier ticket naming the ticket it carries).
    Message,
}

impl KeySource {
    fn all() -> Vec<KeySource> {
        vec![
            KeySource::MergeBranch,
            KeySource::MergeSubject,
            KeySource::Subject,
            KeySource::Message,
        ]
    }
}

/// The branches a rule reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum KeySide {
    Main,
    Release,
    #[default]
    Both,
}

impl KeySide {
    fn reads(self, main: bool) -> bool {
        match self {
            KeySide::Both => true,
            KeySide::Main => main,
            KeySide::Release => !main,
        }
    }
}

impl TicketKey {
    /// The rules, the plain form as the one rule it stands for.
    pub fn rules(&self) -> Vec<KeyRule> {
        match self {
            TicketKey::Pattern(p) => vec![KeyRule {
                pattern: p.clone(),
                key: default_key_form(),
                sources: vec![KeySource::MergeBranch, KeySource::Message],
                side: KeySide::Both,
            }],
            TicketKey::Rule(r) => vec![r.clone()],
            TicketKey::Rules(rs) => rs.clone(),
        }
    }
}

impl fmt::Display for TicketKey {
    /// The plain pattern as written; rules as `pattern → key`, joined by `; `.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TicketKey::Pattern(p) => f.write_str(p),
            _ => {
                let rules: Vec<String> = self
                    .rules()
                    .iter()
                    .map(|r| format!("{} → {}", r.pattern, r.key))
                    .collect();
                f.write_str(&rules.join("; "))
            }
        }
    }
}

/// One part of a key's normal form.
#[derive(Debug, Clone, PartialEq)]
enum FormPart {
    Text(String),
    Group(usize),
    Repo,
}

/// A compiled [`KeyRule`].
#[derive(Debug, Clone)]
pub struct KeyFinder {
    search: Regex,
    form: Vec<FormPart>,
    sources: Vec<KeySource>,
    side: KeySide,
    /// The keys it names, as a regular expression (for validating keys).
    pub(super) key_pattern: String,
}

/// What a `{repo}` of a key form stands for when keys are validated: a repository name.
const REPO_NAME: &str = "[A-Za-z0-9_.-]+";

impl KeyFinder {
    /// Compile `rule`; the error says what is wrong with it.
    pub fn new(rule: &KeyRule) -> Result<KeyFinder, String> {
        let search = Regex::new(&format!(
            r"\b{{start-half}}(?:{})\b{{end-half}}",
            rule.pattern
        ))
        .map_err(|e| {
            format!(
                "not a valid regular expression: {}",
                e.to_string().lines().next().unwrap_or("").trim()
            )
        })?;
        let groups = capture_groups(&rule.pattern);
        let form = parse_form(&rule.key)?;
        let mut key_pattern = String::new();
        for part in &form {
            match part {
                FormPart::Text(t) => key_pattern.push_str(&regex::escape(t)),
                FormPart::Repo => key_pattern.push_str(REPO_NAME),
                FormPart::Group(0) => key_pattern.push_str(&format!("(?:{})", rule.pattern)),
                FormPart::Group(n) => match groups.get(n - 1) {
                    Some(g) => key_pattern.push_str(&format!("(?:{g})")),
                    None => {
                        return Err(format!(
                            "key `{}` uses `{{{n}}}`, but `{}` has {} capture group(s)",
                            rule.key,
                            rule.pattern,
                            groups.len()
                        ))
                    }
                },
            }
        }
        if rule.sources.is_empty() {
            return Err(
                "`in` names no place to look (merge_branch, merge_subject, subject, message)"
                    .into(),
            );
        }
        Ok(KeyFinder {
            search,
            form,
            sources: rule.sources.clone(),
            side: rule.side,
            key_pattern,
        })
    }

    /// Whether it reads `source` on main (`main`) or the release branch.
    pub fn reads(&self, source: KeySource, main: bool) -> bool {
        self.side.reads(main) && self.sources.contains(&source)
    }

    /// The keys it finds in `text` of repository `repo`, in order.
    pub fn keys<'t>(&'t self, repo: &'t str, text: &'t str) -> impl Iterator<Item = String> + 't {
        self.search.captures_iter(text).filter_map(move |c| {
            let mut key = String::new();
            for part in &self.form {
                match part {
                    FormPart::Text(t) => key.push_str(t),
                    FormPart::Repo => key.push_str(repo),
                    FormPart::Group(n) => key.push_str(c.get(*n)?.as_str()),
                }
            }
            Some(key)
        })
    }
}

/// `{repo}#{1}` → [Repo, Text("#"), Group(1)].
fn parse_form(form: &str) -> Result<Vec<FormPart>, String> {
    let mut out = Vec::new();
    let mut rest = form;
    while !rest.is_empty() {
        match rest.find('{') {
            Some(0) => {
                let end = rest
                    .find('}')
                    .ok_or_else(|| format!("key `{form}` has an unclosed `{{`"))?;
                let name = &rest[1..end];
                out.push(match name {
                    "repo" => FormPart::Repo,
                    n => FormPart::Group(n.parse().map_err(|_| {
                        format!("key `{form}`: `{{{n}}}` is neither `{{repo}}` nor a group number")
                    })?),
                });
                rest = &rest[end + 1..];
            }
            Some(i) => {
                out.push(FormPart::Text(rest[..i].to_string()));
                rest = &rest[i..];
            }
            None => {
                out.push(FormPart::Text(rest.to_string()));
                rest = "";
            }
        }
    }
    if out.is_empty() {
        return Err("key is empty".into());
    }
    Ok(out)
}

/// The text of each capture group of a regular expression, in group order (named groups count):
/// `#(\d+)` → [`\d+`]. Escapes and character classes are skipped.
fn capture_groups(pattern: &str) -> Vec<String> {
    let b = pattern.as_bytes();
    let mut groups: Vec<(usize, Option<usize>)> = Vec::new();
    // Open parentheses: the index into `groups` of a capturing one.
    let mut stack: Vec<Option<usize>> = Vec::new();
    let mut i = 0;
    let mut class = 0usize;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'[' => class += 1,
            b']' if class > 0 => class -= 1,
            b'(' if class == 0 => {
                let rest = &pattern[i + 1..];
                let capturing = !rest.starts_with('?')
                    || rest.starts_with("?P<")
                    || (rest.starts_with("?<")
                        && !rest.starts_with("?<=")
                        && !rest.starts_with("?<!"));
                if capturing {
                    let start = match rest.find('>').filter(|_| rest.starts_with('?')) {
                        Some(gt) => i + 1 + gt + 1,
                        None => i + 1,
                    };
                    groups.push((start, None));
                    stack.push(Some(groups.len() - 1));
                } else {
                    stack.push(None);
                }
            }
            b')' if class == 0 => {
                if let Some(Some(g)) = stack.pop() {
                    groups[g].1 = Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    groups
        .into_iter()
        .map(|(s, e)| pattern[s..e.unwrap_or(pattern.len()).max(s)].to_string())
        .collect()
}

/// The ticket rules of a preset (`[verify] preset`).
pub(super) fn preset_rules(preset: super::Preset) -> Vec<KeyRule> {
    let rule = |pattern: &str, sources: &[KeySource], side: KeySide| KeyRule {
        pattern: pattern.into(),
        key: "{repo}#{1}".into(),
        sources: sources.to_vec(),
        side,
    };
    match preset {
        super::Preset::GithubPr => vec![
            // A mention of a pull request in a message: `PR #N`, `backport of #N`,
            // `pull request #N`. A bare `#N` is an issue as often as a pull request.
            rule(
                r"(?i:(?:pr|pull request|backport(?:ed)?(?: of)?(?: pr)?|forward[- ]port(?: of)?) ?#(\d+))",
                &[KeySource::Message],
                KeySide::Both,
            ),
        ],
    }
}

/// The rules of `[verify] pull_request_key` (`form`, with `{n}` the number): on main, a pull
/// request's own merge `Merge pull request #N from …` (when its branch names no ticket) and a
/// squash subject `… (#N)`; and the conventions of backport bots, whose numbers are the
/// original pull request's:
/// - meeseeksdev: branch `auto-backport-of-pr-15551-on-v6.0.x`, subject `Backport PR #15551: …`
///   (also a mention);
/// - miss-islington: subject `[3.12] gh-1234: Fix … (GH-15551) (#15600)` on the release branch
///   (the last `(#N)` is the backport's own pull request).
pub(super) fn pull_request_rules(form: &str) -> Vec<KeyRule> {
    let key = form.replace("{n}", "{1}");
    let rule = |pattern: &str, sources: &[KeySource], side: KeySide| KeyRule {
        pattern: pattern.into(),
        key: key.clone(),
        sources: sources.to_vec(),
        side,
    };
    vec![
        rule(
            r"^Merge pull request #(\d+)",
            &[KeySource::MergeSubject],
            KeySide::Main,
        ),
        rule(r"\(#(\d+)\)$", &[KeySource::Subject], KeySide::Main),
        rule(
            r"auto-backport-of-pr-(\d+)-on-\S+",
            &[KeySource::MergeBranch],
            KeySide::Both,
        ),
        rule(
            r"(?i:^backport(?:ed)? (?:of )?(?:pr|pull request) #(\d+))",
            &[KeySource::Subject, KeySource::Message],
            KeySide::Both,
        ),
        rule(r"\(GH-(\d+)\)", &[KeySource::Subject], KeySide::Release),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_groups_are_read_from_the_pattern() {
        assert_eq!(capture_groups(r"#(\d+)"), [r"\d+"]);
        assert_eq!(
            capture_groups(r"(?:pr-|#)(?P<n>\d+)-(x[()]y)\(z\)"),
            [r"\d+", "x[()]y"]
        );
        assert!(capture_groups(r"DM-\d+").is_empty());
    }

    #[test]
    fn rules_name_keys_in_their_normal_form() {
        let f = KeyFinder::new(&KeyRule {
            pattern: r"(?:pr-|#)(\d+)".into(),
            key: "{repo}#{1}".into(),
            sources: KeySource::all(),
            side: KeySide::Main,
        })
        .unwrap();
        let keys: Vec<String> = f
            .keys("pkg", "pr-15551, #15551 and WinError 1455 in x#3")
            .collect();
        assert_eq!(keys, ["pkg#15551", "pkg#15551"]);
        assert_eq!(f.key_pattern, r"[A-Za-z0-9_.-]+\#(?:\d+)");
        assert!(f.reads(KeySource::Subject, true));
        assert!(!f.reads(KeySource::Subject, false));
        let bad = |pattern: &str, key: &str| {
            KeyFinder::new(&KeyRule {
                pattern: pattern.into(),
                key: key.into(),
                sources: KeySource::all(),
                side: KeySide::Both,
            })
            .unwrap_err()
        };
        assert!(bad("#(\\d+)", "{repo}#{2}").contains("1 capture group"));
        assert!(bad("#(\\d+)", "{n}").contains("neither"));
        assert!(bad("#(\\d+", "{1}").contains("not a valid regular expression"));
    }
}
