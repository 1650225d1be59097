//! Pure text rules of git history: the branch named by a merge subject, cherry-pick trailers,
//! revert messages, normalised subjects and release tag names. No I/O.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use regex::Regex;

use portcullis_core::policy::Line;

fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("static regex"))
}

/// The branch a merge commit brought in, from its subject:
/// - `Merge pull request #600 from lsst/tickets/DM-31956-v23` → `lsst/tickets/DM-31956-v23`
/// - `Merge branch 'tickets/DM-32624-v23' into v23.0.x` → `tickets/DM-32624-v23`
/// - `Merge remote-tracking branch 'origin/tickets/DM-1'` → `origin/tickets/DM-1`
/// - `Merge tickets/DM-1 into main` → `tickets/DM-1`
pub fn merged_branch(subject: &str) -> Option<&str> {
    static PR: OnceLock<Regex> = OnceLock::new();
    static BRANCH: OnceLock<Regex> = OnceLock::new();
    static PLAIN: OnceLock<Regex> = OnceLock::new();
    let subject = subject.trim();
    if let Some(c) = re(&PR, r"^Merge pull request #\d+ from (\S+)").captures(subject) {
        return c.get(1).map(|m| m.as_str());
    }
    if let Some(c) = re(
        &BRANCH,
        r#"^Merge (?:remote-tracking )?branch(?:es)? ['"]([^'"]+)['"]"#,
    )
    .captures(subject)
    {
        return c.get(1).map(|m| m.as_str());
    }
    re(&PLAIN, r"^Merge (\S+) into \S+")
        .captures(subject)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str())
}

/// The number of the pull request a main-side commit stands for, from its subject: a merge
/// `Merge pull request #N from …`, or a squash-merged commit `Fix the thing (#N)`.
pub fn pull_request_number(subject: &str, merge: bool) -> Option<u64> {
    static MERGE: OnceLock<Regex> = OnceLock::new();
    static SQUASH: OnceLock<Regex> = OnceLock::new();
    let subject = subject.trim();
    let re = if merge {
        re(&MERGE, r"^Merge pull request #(\d+)\b")
    } else {
        re(&SQUASH, r"\(#(\d+)\)$")
    };
    re.captures(subject).and_then(|c| c[1].parse().ok())
}

/// What a backport bot's branch name says (`merged_branch` of a release-side merge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BotBranch {
    /// meeseeksdev: `auto-backport-of-pr-15551-on-v6.0.x` backports pull request 15551.
    PullRequest(u64),
    /// miss-islington: `backport-0123abc-3.12` backports main-side commit `0123abc…`.
    Commit(String),
}

/// The backport a bot's branch name stands for, if it is one (an `owner/` prefix is allowed).
pub fn bot_branch(branch: &str) -> Option<BotBranch> {
    static MEESEEKS: OnceLock<Regex> = OnceLock::new();
    static MISS: OnceLock<Regex> = OnceLock::new();
    let name = branch.rsplit('/').next().unwrap_or(branch);
    if let Some(c) = re(&MEESEEKS, r"^auto-backport-of-pr-(\d+)-on-\S+$").captures(name) {
        return c[1].parse().ok().map(BotBranch::PullRequest);
    }
    re(&MISS, r"^backport-([0-9a-f]{7,40})-\d+(?:\.\d+)+$")
        .captures(name)
        .map(|c| BotBranch::Commit(c[1].to_string()))
}

/// The original pull request a backport bot's subject names: meeseeksdev's
/// `Backport PR #15551: …`, miss-islington's `[3.12] gh-1234: Fix … (GH-15551) (#15600)` (the
/// last `(#N)` is the backport's own pull request).
pub fn original_pull_request(subject: &str) -> Option<u64> {
    static MEESEEKS: OnceLock<Regex> = OnceLock::new();
    static MISS: OnceLock<Regex> = OnceLock::new();
    let subject = subject.trim();
    re(
        &MEESEEKS,
        r"(?i)^backport(?:ed)? (?:of )?(?:pr|pull request) #(\d+)",
    )
    .captures(subject)
    .or_else(|| re(&MISS, r"\(GH-(\d+)\)").captures(subject))
    .and_then(|c| c[1].parse().ok())
}

/// Commits named by `(cherry picked from commit X)` trailers.
pub fn cherry_picked_from(message: &str) -> Vec<String> {
    static CP: OnceLock<Regex> = OnceLock::new();
    re(&CP, r"\(cherry picked from commit ([0-9a-fA-F]{7,64})\)")
        .captures_iter(message)
        .map(|c| c[1].to_ascii_lowercase())
        .collect()
}

/// The commit a `git revert` message names (`This reverts commit X.`).
pub fn reverted_commit(message: &str) -> Option<String> {
    static RV: OnceLock<Regex> = OnceLock::new();
    re(&RV, r"This reverts commit ([0-9a-fA-F]{7,64})")
        .captures(message)
        .map(|c| c[1].to_ascii_lowercase())
}

/// A subject reduced to what survives a backport: case, spacing, `(#123)` and `(GH-123)`
/// pull-request suffixes,
/// and `Backport:` / `[v23]` / `Cherry-pick` prefixes do not count.
pub fn normalized_subject(subject: &str) -> String {
    normalized_subject_with(subject, None)
}

/// [`normalized_subject`], after stripping the configured prefixes `strip` (the policy's
/// `[verify] subject_prefixes`, e.g. `Backport PR #123: `) from the start, repeatedly.
pub fn normalized_subject_with(subject: &str, strip: Option<&Regex>) -> String {
    static PREFIX: OnceLock<Regex> = OnceLock::new();
    static SUFFIX: OnceLock<Regex> = OnceLock::new();
    let mut subject = subject.trim();
    if let Some(strip) = strip {
        while let Some(m) = strip
            .find(subject)
            .filter(|m| m.start() == 0 && !m.is_empty())
        {
            subject = subject[m.end()..].trim_start();
        }
    }
    let mut s = subject.to_lowercase();
    let prefix = re(
        &PREFIX,
        r"^(?:\[[^\]]*\]\s*|backport(?:ed)?(?: of)?\s*[:\-]?\s*|cherry[- ]pick(?:ed)?\s*[:\-]?\s*)",
    );
    loop {
        let next = prefix.replace(&s, "").into_owned();
        if next == s {
            break;
        }
        s = next;
    }
    let s = re(&SUFFIX, r"(?:\s*\((?:#|gh-)\d+\))+$").replace(&s, "");
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Path globs (`[verify] ignore_paths`) over a whole path: `**` any run of directories (`**/`
/// also none), `*` and `?` within one name; everything else literal.
#[derive(Debug, Clone)]
pub struct PathGlobs {
    globs: Vec<(String, Regex)>,
}

impl PathGlobs {
    pub fn new(patterns: &[String]) -> PathGlobs {
        PathGlobs {
            globs: patterns
                .iter()
                .filter(|p| !p.is_empty())
                .map(|p| (p.clone(), glob_regex(p)))
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.globs.is_empty()
    }

    /// The first glob that matches `path`.
    pub fn matching(&self, path: &str) -> Option<&str> {
        self.globs
            .iter()
            .find(|(_, re)| re.is_match(path))
            .map(|(p, _)| p.as_str())
    }

    /// When every one of `paths` (at least one) matches a glob: the globs that do, joined with
    /// `, ` (the rule to name).
    pub fn covering<'p>(&self, paths: impl IntoIterator<Item = &'p str>) -> Option<String> {
        let mut rules: Vec<&str> = Vec::new();
        for p in paths {
            let g = self.matching(p)?;
            if !rules.contains(&g) {
                rules.push(g);
            }
        }
        (!rules.is_empty()).then(|| rules.join(", "))
    }
}

fn glob_regex(glob: &str) -> Regex {
    let mut out = String::from("^");
    let mut rest = glob;
    while let Some(c) = rest.chars().next() {
        if let Some(r) = rest.strip_prefix("**/") {
            out.push_str("(?:[^/]*/)*");
            rest = r;
        } else if let Some(r) = rest.strip_prefix("**") {
            out.push_str(".*");
            rest = r;
        } else if let Some(r) = rest.strip_prefix('*') {
            out.push_str("[^/]*");
            rest = r;
        } else if let Some(r) = rest.strip_prefix('?') {
            out.push_str("[^/]");
            rest = r;
        } else {
            out.push_str(&regex::escape(&c.to_string()));
            rest = &rest[c.len_utf8()..];
        }
    }
    out.push('$');
    Regex::new(&out).expect("escaped glob")
}

/// Whether a normalised subject ([`normalized_subject`]) says too little to link two commits
/// by itself: a built-in list of generic subjects ("address review comments", "fix typo", …),
/// and any subject of fewer than three words or twelve characters.
pub fn is_generic_subject(normalized: &str) -> bool {
    const GENERIC: &[&str] = &[
        "address review comments",
        "address review",
        "address comments",
        "address feedback",
        "respond to review comments",
        "review comments",
        "apply suggestions from code review",
        "apply suggestion from code review",
        "fix typo",
        "fix typos",
        "fix tests",
        "fix test",
        "fix the tests",
        "fix lint",
        "fix linting",
        "fix flake8",
        "fix mypy",
        "fix build",
        "fix ci",
        "fix docs",
        "fix documentation",
        "update docs",
        "update documentation",
        "update changelog",
        "add changelog",
        "add changelog entry",
        "add news fragment",
        "add release notes",
        "update release notes",
        "minor fixes",
        "small fixes",
        "clean up",
        "cleanup",
        "fix formatting",
        "fix merge conflicts",
        "resolve merge conflicts",
        "run black",
        "run pre-commit",
        "bump version",
        "update version",
    ];
    let n = normalized.trim_end_matches(['.', '!']).trim();
    n.len() < 12 || n.split_whitespace().count() < 3 || GENERIC.contains(&n)
}

/// A release tag of a line: a final release (`23.0.1`) or a candidate (`v23.0.1.rc2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseTag {
    pub name: String,
    pub version: semver::Version,
    /// `Some(n)` for release candidate n.
    pub rc: Option<u64>,
}

impl ReleaseTag {
    /// Release order: rc1 < rc2 < final, then the next version.
    pub fn order(&self, other: &ReleaseTag) -> Ordering {
        self.version
            .cmp(&other.version)
            .then(
                self.rc
                    .unwrap_or(u64::MAX)
                    .cmp(&other.rc.unwrap_or(u64::MAX)),
            )
            .then(self.name.cmp(&other.name))
    }
}

/// Recognises a line's release tags from its `tag_pattern` and `rc_tag_pattern`: versions with
/// or without a patch number (`v5.3` is 5.3.0), and the separator before `rc` optional
/// (`v6.0.0rc1` under `v{version}.rc{n}`). Full versions are tried first, so that a final
/// `23.0.5` is never read as candidate 5 of 23.0.
#[derive(Debug, Clone)]
pub struct TagMatcher {
    final_re: Regex,
    rc_re: Regex,
    /// The same with a version of two numbers.
    final_short: Regex,
    rc_short: Regex,
    major: u64,
    minor: u64,
}

impl TagMatcher {
    /// The matcher of `line`'s patterns: compiled once per process (each repository's scan
    /// asks for it, and four regexes took longer to compile than a remembered scan to read).
    pub fn new(line: &Line) -> TagMatcher {
        type Known = Mutex<HashMap<(String, String, String), TagMatcher>>;
        static KNOWN: OnceLock<Known> = OnceLock::new();
        let key = (
            line.tag_pattern.clone(),
            line.rc_tag_pattern.clone(),
            line.base_version.clone(),
        );
        let known = KNOWN.get_or_init(Known::default);
        if let Some(m) = known.lock().ok().and_then(|k| k.get(&key).cloned()) {
            return m;
        }
        let m = TagMatcher::compile(line);
        if let Ok(mut k) = known.lock() {
            k.insert(key, m.clone());
        }
        m
    }

    fn compile(line: &Line) -> TagMatcher {
        let base =
            semver::Version::parse(&line.base_version).unwrap_or(semver::Version::new(0, 0, 0));
        TagMatcher {
            final_re: pattern_regex(&line.tag_pattern, VERSION),
            rc_re: pattern_regex(&line.rc_tag_pattern, VERSION),
            final_short: pattern_regex(&line.tag_pattern, SHORT_VERSION),
            rc_short: pattern_regex(&line.rc_tag_pattern, SHORT_VERSION),
            major: base.major,
            minor: base.minor,
        }
    }

    /// The release tag `name` stands for, if it is one of this line's.
    pub fn parse(&self, name: &str) -> Option<ReleaseTag> {
        let rc = |re: &Regex| {
            re.captures(name).map(|c| {
                Some((
                    c.name("version")?.as_str().to_string(),
                    Some(c.name("n")?.as_str().parse::<u64>().ok()?),
                ))
            })
        };
        let fin = |re: &Regex| {
            re.captures(name)
                .map(|c| Some((c.name("version")?.as_str().to_string(), None)))
        };
        let (version, rc) = rc(&self.rc_re)
            .or_else(|| fin(&self.final_re))
            .or_else(|| rc(&self.rc_short))
            .or_else(|| fin(&self.final_short))??;
        let version = if version.matches('.').count() == 1 {
            format!("{version}.0")
        } else {
            version
        };
        let version = semver::Version::parse(&version).ok()?;
        (version.major == self.major && version.minor == self.minor).then(|| ReleaseTag {
            name: name.to_string(),
            version,
            rc,
        })
    }
}

// ASCII digits: a Unicode `\d` made each of these take about a millisecond to compile, four
// per repository scanned, which was a fifth of a warm `verify` of twenty repositories.
const VERSION: &str = r"[0-9]+\.[0-9]+\.[0-9]+";
const SHORT_VERSION: &str = r"[0-9]+\.[0-9]+";

/// `v{version}.rc{n}` → `^v(?P<version>[0-9]+\.[0-9]+\.[0-9]+)[._-]?rc(?P<n>[0-9]+)$`
/// (`version`: the regex of the version): the separator before `rc` is optional.
fn pattern_regex(pattern: &str, version: &str) -> Regex {
    let mut out = String::from("^");
    let mut rest = pattern;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("{version}") {
            out.push_str(&format!("(?P<version>{version})"));
            rest = r;
        } else if let Some(r) = [".rc", "-rc", "_rc"]
            .iter()
            .find_map(|sep| rest.strip_prefix(sep))
        {
            out.push_str("[._-]?rc");
            rest = r;
        } else if let Some(r) = rest.strip_prefix("{n}") {
            out.push_str(r"(?P<n>[0-9]+)");
            rest = r;
        } else {
            let c = rest.chars().next().expect("non-empty");
            out.push_str(&regex::escape(&c.to_string()));
            rest = &rest[c.len_utf8()..];
        }
    }
    out.push('$');
    Regex::new(&out).expect("escaped pattern")
}

/// The tag name of `version` (and candidate `rc`) under a line's patterns.
pub fn tag_name(line: &Line, version: &semver::Version, rc: Option<u64>) -> String {
    match rc {
        Some(n) => line
            .rc_tag_pattern
            .replace("{version}", &version.to_string())
            .replace("{n}", &n.to_string()),
        None => line.tag_pattern.replace("{version}", &version.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line() -> Line {
        Line {
            name: "v23".into(),
            base_version: "23.0.0".into(),
            branch: "v23.0.x".into(),
            request_label: "backport-v23".into(),
            tag_pattern: "{version}".into(),
            rc_tag_pattern: "v{version}.rc{n}".into(),
            mark_done_on_release: false,
            ignore_paths: Vec::new(),
        }
    }

    #[test]
    fn configured_prefixes_are_stripped_and_generic_subjects_known() {
        let strip = Regex::new(r"(?i)^(?:(?:backport pr #\d+:\s*)|(?:\[[^\]]*\]\s*))").unwrap();
        let n = |s: &str| normalized_subject_with(s, Some(&strip));
        assert_eq!(
            n("Backport PR #15551: Fix the colorbar ticks"),
            "fix the colorbar ticks"
        );
        assert_eq!(
            n("[3.12] Backport PR #1: Fix the colorbar ticks"),
            "fix the colorbar ticks"
        );
        assert_eq!(
            n("Fix the colorbar ticks (#15551)"),
            "fix the colorbar ticks"
        );
        assert_eq!(
            normalized_subject("Backport PR #15551: Fix the colorbar ticks"),
            "pr #15551: fix the colorbar ticks",
            "without the configured prefix"
        );
        assert!(is_generic_subject("address review comments"));
        assert!(is_generic_subject("fix typo."));
        assert!(is_generic_subject("fix flux"), "short");
        assert!(is_generic_subject("refactor"), "short");
        assert!(!is_generic_subject("fix the colorbar ticks"));
        assert!(!is_generic_subject("improve timeout handling"));
    }

    #[test]
    fn path_globs_match_whole_paths() {
        let g = PathGlobs::new(&[
            "doc/changes/**".to_string(),
            ".github/**".to_string(),
            "**/towncrier.toml".to_string(),
            "*.cfg".to_string(),
            "v?.txt".to_string(),
        ]);
        assert_eq!(
            g.matching("doc/changes/DM-1.bugfix.md"),
            Some("doc/changes/**")
        );
        assert_eq!(g.matching(".github/workflows/ci.yaml"), Some(".github/**"));
        assert_eq!(g.matching("towncrier.toml"), Some("**/towncrier.toml"));
        assert_eq!(
            g.matching("python/towncrier.toml"),
            Some("**/towncrier.toml")
        );
        assert_eq!(g.matching("setup.cfg"), Some("*.cfg"));
        assert_eq!(
            g.matching("python/setup.cfg"),
            None,
            "`*` stays within one name"
        );
        assert_eq!(g.matching("v1.txt"), Some("v?.txt"));
        assert_eq!(g.matching("v10.txt"), None);
        assert_eq!(g.matching("doc/changesets/x"), None);
        assert_eq!(g.matching("python/pkg/core.py"), None);
        assert_eq!(
            g.covering(["doc/changes/a.md", ".github/ci.yaml"])
                .as_deref(),
            Some("doc/changes/**, .github/**")
        );
        assert_eq!(g.covering(["doc/changes/a.md", "python/x.py"]), None);
        assert_eq!(g.covering(std::iter::empty::<&str>()), None);
        assert!(PathGlobs::new(&[]).is_empty());
    }

    #[test]
    fn merge_subjects_name_their_branch() {
        let cases = [
            (
                "Merge pull request #600 from lsst/tickets/DM-31956-v23",
                Some("lsst/tickets/DM-31956-v23"),
            ),
            (
                "Merge branch 'tickets/DM-32624-v23' into v23.0.x",
                Some("tickets/DM-32624-v23"),
            ),
            (
                "Merge remote-tracking branch 'origin/tickets/DM-1' into main",
                Some("origin/tickets/DM-1"),
            ),
            (
                "Merge tickets/DM-7-forward-port into main",
                Some("tickets/DM-7-forward-port"),
            ),
            ("Merge branch 'main' of github.com:lsst/x", Some("main")),
            ("Fix the flux calibration", None),
            ("Mergeable thing", None),
        ];
        for (subject, want) in cases {
            assert_eq!(merged_branch(subject), want, "{subject}");
        }
    }

    #[test]
    fn pull_request_numbers_of_merges_and_squashes() {
        let pr = pull_request_number;
        assert_eq!(
            pr("Merge pull request #15551 from someone/fix", true),
            Some(15551)
        );
        assert_eq!(pr("Fix the colorbar ticks (#15551)", false), Some(15551));
        assert_eq!(pr("Fix the colorbar ticks (#15551)", true), None);
        assert_eq!(
            pr("Merge pull request #15551 from someone/fix", false),
            None
        );
        assert_eq!(pr("Fix WinError 1455 on import", false), None);
        assert_eq!(pr("Merge branch 'main' into fix", true), None);
    }

    /// Issue 20: the conventions of backport bots, understood out of the box.
    #[test]
    fn bot_branches_and_subjects() {
        assert_eq!(
            bot_branch("meeseeksmachine/auto-backport-of-pr-15551-on-v6.0.x"),
            Some(BotBranch::PullRequest(15551))
        );
        assert_eq!(
            bot_branch("backport-0123abc-3.12"),
            Some(BotBranch::Commit("0123abc".into()))
        );
        assert_eq!(bot_branch("tickets/DM-1-v23"), None);
        assert_eq!(bot_branch("backport-fix-3.12"), None);
        assert_eq!(
            original_pull_request("Backport PR #15551: Fix the ticks"),
            Some(15551)
        );
        assert_eq!(
            original_pull_request("[3.12] gh-1234: Fix the ticks (GH-15551) (#15600)"),
            Some(15551)
        );
        assert_eq!(original_pull_request("Fix the ticks (#15600)"), None);
        assert_eq!(original_pull_request("Work around WinError 1455"), None);
        assert_eq!(
            normalized_subject("[3.12] gh-1234: Fix the ticks (GH-15551) (#15600)"),
            normalized_subject("gh-1234: Fix the ticks (#15551)")
        );
    }

    #[test]
    fn trailers_and_reverts() {
        let m = "Fix\n\n(cherry picked from commit 0123456789abcdef0123456789abcdef01234567)\n";
        assert_eq!(
            cherry_picked_from(m),
            vec!["0123456789abcdef0123456789abcdef01234567"]
        );
        assert!(cherry_picked_from("no trailer").is_empty());
        let r = "Revert \"Fix\"\n\nThis reverts commit ABCDEF1234567.\n";
        assert_eq!(reverted_commit(r).as_deref(), Some("abcdef1234567"));
        assert_eq!(reverted_commit("Revert nothing"), None);
    }

    #[test]
    fn subjects_normalise() {
        assert_eq!(
            normalized_subject("Backport: Fix  the Thing (#12)"),
            "fix the thing"
        );
        assert_eq!(normalized_subject("[v23] fix the thing"), "fix the thing");
        assert_eq!(normalized_subject("Fix the thing"), "fix the thing");
        assert_ne!(
            normalized_subject("Fix the thing"),
            normalized_subject("Fix another thing")
        );
    }

    /// Issue 20: tags without a patch number (`v5.3`, `v5.3rc1`) and rc tags without a dot
    /// (`v6.0.0rc1`) were ignored.
    #[test]
    fn tags_without_a_patch_number_or_a_dot_before_rc() {
        let five = Line {
            base_version: "5.3.0".into(),
            tag_pattern: "v{version}".into(),
            rc_tag_pattern: "v{version}.rc{n}".into(),
            ..line()
        };
        let m = TagMatcher::new(&five);
        let t = m.parse("v5.3").unwrap();
        assert_eq!((t.version, t.rc), (semver::Version::new(5, 3, 0), None));
        let t = m.parse("v5.3rc1").unwrap();
        assert_eq!((t.version, t.rc), (semver::Version::new(5, 3, 0), Some(1)));
        let t = m.parse("v5.3.1rc2").unwrap();
        assert_eq!((t.version, t.rc), (semver::Version::new(5, 3, 1), Some(2)));
        assert_eq!(m.parse("v5.3.1").unwrap().rc, None);
        assert!(m.parse("v5.4").is_none(), "another line");
        assert!(m.parse("v5").is_none());
        let mut tags: Vec<ReleaseTag> = ["v5.3.1", "v5.3", "v5.3rc1", "v5.3.1rc1"]
            .iter()
            .map(|n| m.parse(n).unwrap())
            .collect();
        tags.sort_by(|a, b| a.order(b));
        let names: Vec<&str> = tags.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["v5.3rc1", "v5.3", "v5.3.1rc1", "v5.3.1"]);

        let six = Line {
            base_version: "6.0.0".into(),
            tag_pattern: "v{version}".into(),
            rc_tag_pattern: "v{version}.rc{n}".into(),
            ..line()
        };
        let t = TagMatcher::new(&six).parse("v6.0.0rc1").unwrap();
        assert_eq!((t.version, t.rc), (semver::Version::new(6, 0, 0), Some(1)));
        // The default spelling still parses, and so does a dash.
        assert_eq!(
            TagMatcher::new(&six).parse("v6.0.0.rc2").unwrap().rc,
            Some(2)
        );
        assert_eq!(
            TagMatcher::new(&six).parse("v6.0.0-rc3").unwrap().rc,
            Some(3)
        );
    }

    #[test]
    fn tags_of_the_line_parse_and_order() {
        let m = TagMatcher::new(&line());
        let t = |n: &str| m.parse(n);
        assert_eq!(t("23.0.1").unwrap().rc, None);
        assert_eq!(t("v23.0.1.rc2").unwrap().rc, Some(2));
        assert!(t("24.0.0").is_none(), "another line");
        assert!(t("w.2022.10").is_none());
        assert!(t("23.0.1x").is_none());
        let mut tags: Vec<ReleaseTag> = [
            "23.0.1",
            "v23.0.1.rc2",
            "v23.0.0.rc1",
            "23.0.0",
            "v23.0.1.rc1",
        ]
        .iter()
        .map(|n| t(n).unwrap())
        .collect();
        tags.sort_by(|a, b| a.order(b));
        let names: Vec<&str> = tags.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "v23.0.0.rc1",
                "23.0.0",
                "v23.0.1.rc1",
                "v23.0.1.rc2",
                "23.0.1"
            ]
        );
        let v = semver::Version::new(23, 0, 2);
        assert_eq!(tag_name(&line(), &v, Some(1)), "v23.0.2.rc1");
        // A final release is never read as a candidate of a shorter version.
        let dotted = Line {
            rc_tag_pattern: "{version}.{n}".into(),
            ..line()
        };
        assert_eq!(TagMatcher::new(&dotted).parse("23.0.5").unwrap().rc, None);
        assert_eq!(
            TagMatcher::new(&dotted).parse("23.0.5.2").unwrap().rc,
            Some(2)
        );
        assert_eq!(tag_name(&line(), &v, None), "23.0.2");
    }
}
