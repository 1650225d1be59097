//! Patch releases, pure: the gate that says what blocks a cut, the manifest of a release with its
//! content hash, and the texts made from it (versiondb manifest, release notes, changelog).
//! The effects (tags, ledger, files) are in `portcullis_ops::release`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One repository in a release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestRepo {
    pub repo: String,
    pub branch: String,
    /// The commit tagged.
    pub commit: String,
    /// The commit of the previous release (or of the line's base tag), if known.
    pub previous_commit: Option<String>,
    pub tag: String,
    /// Tickets with commits since the previous release.
    pub tickets: Vec<String>,
    /// Non-merge commits since the previous release, oldest first.
    pub commits: Vec<String>,
}

/// A ticket in a release, for the notes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestTicket {
    pub key: String,
    pub summary: String,
    pub repos: Vec<String>,
}

/// A ticket with commits in a release that the release does not fix: its commits were reverted
/// within the release, or its approval was revoked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WithdrawnTicket {
    pub key: String,
    pub summary: String,
    pub repos: Vec<String>,
    /// `reverted in pkg`, `approval revoked (reason)`.
    pub why: String,
}

/// A landed-but-unapproved ticket let through with a reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Waiver {
    pub key: String,
    pub note: String,
}

/// The immutable record of a release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub line: String,
    pub version: String,
    /// `Some(n)` for release candidate n.
    pub rc: Option<u64>,
    pub tag: String,
    /// The build id that names the manifest in tag messages (`m` + 8 hex of the content).
    pub build: String,
    /// The previous release of the line (its tag), if any.
    pub previous: Option<String>,
    pub repos: Vec<ManifestRepo>,
    pub tickets: Vec<ManifestTicket>,
    pub waivers: Vec<Waiver>,
    /// Whether the version was allowed to skip patch numbers.
    pub skipped_versions: bool,
    /// Tickets with commits in the release that it does not fix (reverted within it, or whose
    /// approval was revoked). Absent from manifests cut before it existed, which hash as before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub withdrawn: Vec<WithdrawnTicket>,
    /// Keys only mentioned in the messages of the release's commits (none of them is its own).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentioned: Vec<ManifestTicket>,
    /// Cut with `--allow-empty`: nothing new since the previous release (or candidate).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allowed_empty: bool,
}

impl Manifest {
    /// SHA-256 of the canonical JSON of the manifest.
    pub fn content_hash(&self) -> String {
        let text = serde_json::to_string(self).expect("a manifest serialises");
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    /// The build id from what is released (repositories and commits), set before hashing.
    pub fn build_id(repos: &[ManifestRepo]) -> String {
        let mut h = Sha256::new();
        for r in repos {
            h.update(format!("{}={}\n", r.repo, r.commit));
        }
        format!("m{}", &hex::encode(h.finalize())[..8])
    }

    /// The annotated tag message, as the real releases word it.
    pub fn tag_message(&self) -> String {
        format!(
            "Version {} release from manifest {}",
            self.tag.trim_start_matches('v'),
            self.build
        )
    }
}

/// Why a cut cannot happen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
pub struct Blocker {
    /// `version`, `not_landed`, `unapproved`, `pending_push`, `violation`, `not_descendant`,
    /// `repository`, `tag_exists`, `already_cut`, `step_frozen`, `waiver` (a `--waive` key with
    /// no commit since the previous release), `empty` (nothing new; `--allow-empty`).
    pub kind: String,
    pub ticket: Option<String>,
    pub repo: Option<String>,
    pub message: String,
}

impl Blocker {
    pub fn new(kind: &str, ticket: Option<&str>, repo: Option<&str>, message: String) -> Blocker {
        Blocker {
            kind: kind.to_string(),
            ticket: ticket.map(str::to_string),
            repo: repo.map(str::to_string),
            message,
        }
    }
}

/// The version rule: the next patch of the previous final release (or of the base version).
pub fn check_version(
    wanted: &semver::Version,
    previous_final: &semver::Version,
    allow_skip: bool,
) -> Option<Blocker> {
    let Some(patch) = previous_final.patch.checked_add(1) else {
        return Some(Blocker::new(
            "version",
            None,
            None,
            format!("{previous_final} is the last patch release this line can have"),
        ));
    };
    let next = semver::Version::new(previous_final.major, previous_final.minor, patch);
    if *wanted == next
        || (allow_skip
            && wanted.major == next.major
            && wanted.minor == next.minor
            && wanted.patch > next.patch
            && wanted.pre.is_empty()
            && wanted.build.is_empty())
    {
        return None;
    }
    let hint =
        if wanted.major == next.major && wanted.minor == next.minor && wanted.patch > next.patch {
            " (pass --allow-skip to skip versions; it is recorded)"
        } else {
            ""
        };
    Some(Blocker::new(
        "version",
        None,
        None,
        format!(
            "{wanted} is not the next patch release: after {previous_final} comes {next}{hint}"
        ),
    ))
}

/// The versiondb text form of a manifest (as `../shared/formats/lsst/b6065.txt`).
pub fn render_versiondb(m: &Manifest) -> String {
    let mut out = String::from(
        "# product                 SHA1                                      Version                       \n",
    );
    out.push_str(&format!("BUILD={}\n", m.build));
    let mut repos: Vec<&ManifestRepo> = m.repos.iter().collect();
    repos.sort_by(|a, b| a.repo.cmp(&b.repo));
    for r in repos {
        let version = format!("g{}", &r.commit[..r.commit.len().min(10)]);
        out.push_str(&format!("{:<26}{}  {:<41}\n", r.repo, r.commit, version));
    }
    out
}

/// Release notes in Markdown: one line per ticket with its summary and repositories.
pub fn render_notes(m: &Manifest) -> String {
    let mut out = format!("# Release {}\n\n", m.tag);
    match &m.previous {
        Some(p) => out.push_str(&format!("Changes since {p}, manifest {}.\n\n", m.build)),
        None => out.push_str(&format!("Manifest {}.\n\n", m.build)),
    }
    let unchanged = m.repos.iter().all(|r| r.commits.is_empty());
    if m.tickets.is_empty() && unchanged {
        out.push_str(
            "No ticket changes: every repository is tagged at its previous release commit.\n",
        );
    } else if m.tickets.is_empty() {
        out.push_str("No ticket is fixed by this release.\n");
    }
    for t in &m.tickets {
        out.push_str(&entry(
            &t.key,
            &t.summary,
            &format!("[{}]", t.repos.join(", ")),
        ));
    }
    if !m.withdrawn.is_empty() {
        out.push_str("\nReverted or withdrawn (commits in this release that it does not fix):\n\n");
        for t in &m.withdrawn {
            out.push_str(&withdrawn_entry(t, '[', ']'));
        }
    }
    if !m.mentioned.is_empty() {
        out.push_str("\nAlso mentioned in commit messages (not fixed by this release):\n\n");
        for t in &m.mentioned {
            out.push_str(&entry(
                &t.key,
                &t.summary,
                &format!("[{}]", t.repos.join(", ")),
            ));
        }
    }
    if !m.waivers.is_empty() {
        out.push_str("\nLet through without approval:\n\n");
        for w in &m.waivers {
            out.push_str(&format!("- {}: {}\n", w.key, one_line(&w.note)));
        }
    }
    out
}

/// A Keep-a-Changelog section for the release.
pub fn render_changelog(m: &Manifest, date: &str) -> String {
    let mut out = format!("## [{}] - {date}\n\n### Fixed\n", m.tag);
    for t in &m.tickets {
        out.push_str(&entry(
            &t.key,
            &t.summary,
            &format!("({})", t.repos.join(", ")),
        ));
    }
    if m.tickets.is_empty() {
        if m.repos.iter().all(|r| r.commits.is_empty()) {
            out.push_str("- No changes; tagged again at the previous release commits.\n");
        } else {
            out.push_str("- No ticket is fixed by this release.\n");
        }
    }
    if !m.withdrawn.is_empty() {
        out.push_str("\n### Reverted or withdrawn\n");
        for t in &m.withdrawn {
            out.push_str(&withdrawn_entry(t, '(', ')'));
        }
    }
    if !m.mentioned.is_empty() {
        out.push_str("\n### Also mentioned\n");
        for t in &m.mentioned {
            out.push_str(&entry(
                &t.key,
                &t.summary,
                &format!("({})", t.repos.join(", ")),
            ));
        }
    }
    out
}

/// `- KEY: summary [repos]`, or `- KEY [repos]` when the summary is not known: never an entry
/// with an empty summary.
fn entry(key: &str, summary: &str, repos: &str) -> String {
    let summary = one_line(summary);
    if summary.is_empty() {
        format!("- {key} {repos}\n")
    } else {
        format!("- {key}: {summary} {repos}\n")
    }
}

fn withdrawn_entry(t: &WithdrawnTicket, open: char, close: char) -> String {
    let line = entry(
        &t.key,
        &t.summary,
        &format!("{open}{}{close}", t.repos.join(", ")),
    );
    format!("{}: {}\n", line.trim_end(), one_line(&t.why))
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Tickets of a release from its repositories, with summaries.
pub fn tickets_of(
    repos: &[ManifestRepo],
    summaries: &BTreeMap<String, String>,
) -> Vec<ManifestTicket> {
    let mut by: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for r in repos {
        for t in &r.tickets {
            by.entry(t).or_default().push(r.repo.clone());
        }
    }
    by.into_iter()
        .map(|(k, repos)| ManifestTicket {
            key: k.to_string(),
            summary: summaries.get(k).cloned().unwrap_or_default(),
            repos,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> semver::Version {
        semver::Version::parse(s).unwrap()
    }

    #[test]
    fn only_the_next_patch_passes_unless_skipping_is_allowed() {
        assert!(check_version(&v("23.0.1"), &v("23.0.0"), false).is_none());
        let b = check_version(&v("23.0.3"), &v("23.0.1"), false).unwrap();
        assert!(
            b.message.contains("after 23.0.1 comes 23.0.2") && b.message.contains("--allow-skip")
        );
        assert!(check_version(&v("23.0.3"), &v("23.0.1"), true).is_none());
        assert!(
            check_version(&v("23.0.1"), &v("23.0.1"), true).is_some(),
            "already cut"
        );
        assert!(
            check_version(&v("24.0.0"), &v("23.0.1"), true).is_some(),
            "another line"
        );
    }

    fn manifest() -> Manifest {
        let repos = vec![ManifestRepo {
            repo: "daf_butler".into(),
            branch: "v23.0.x".into(),
            commit: "952c50c189e16473ce738df4fdde126c298605c1".into(),
            previous_commit: None,
            tag: "23.0.1".into(),
            tickets: vec!["DM-33769".into()],
            commits: vec!["952c50c189e16473ce738df4fdde126c298605c1".into()],
        }];
        let summaries = BTreeMap::from([(
            "DM-33769".to_string(),
            "Improve timeout, retry and connexion persistence of webDAV client".to_string(),
        )]);
        Manifest {
            line: "v23".into(),
            version: "23.0.1".into(),
            rc: None,
            tag: "23.0.1".into(),
            build: Manifest::build_id(&repos),
            previous: Some("23.0.0".into()),
            tickets: tickets_of(&repos, &summaries),
            repos,
            waivers: vec![],
            skipped_versions: false,
            withdrawn: vec![],
            mentioned: vec![],
            allowed_empty: false,
        }
    }

    #[test]
    fn texts_of_a_manifest() {
        let m = manifest();
        let db = render_versiondb(&m);
        assert!(db.starts_with("# product                 SHA1"));
        assert!(db.contains(&format!("BUILD={}\n", m.build)));
        assert!(db.contains(
            "daf_butler                952c50c189e16473ce738df4fdde126c298605c1  g952c50c189"
        ));
        let notes = render_notes(&m);
        assert!(notes.contains(
            "- DM-33769: Improve timeout, retry and connexion persistence of webDAV client [daf_butler]"
        ));
        assert!(m
            .tag_message()
            .starts_with("Version 23.0.1 release from manifest m"));
        assert_eq!(m.content_hash(), manifest().content_hash(), "deterministic");
        assert!(render_changelog(&m, "2026-11-24").starts_with("## [23.0.1] - 2026-11-24"));
    }

    #[test]
    fn reverted_and_mentioned_keys_are_listed_apart_and_never_with_an_empty_summary() {
        let mut m = manifest();
        let hash = m.content_hash();
        m.withdrawn = vec![WithdrawnTicket {
            key: "DM-300".into(),
            summary: "Fix the cache".into(),
            repos: vec!["daf_butler".into()],
            why: "reverted in daf_butler".into(),
        }];
        m.mentioned = vec![ManifestTicket {
            key: "DM-28015".into(),
            summary: String::new(),
            repos: vec!["daf_butler".into(), "ctrl_bps".into()],
        }];
        assert_ne!(m.content_hash(), hash);
        for text in [render_notes(&m), render_changelog(&m, "2026-11-24")] {
            let (fixed, rest) = text.split_once("Reverted or withdrawn").unwrap();
            assert!(
                fixed.contains("DM-33769") && !fixed.contains("DM-300"),
                "{text}"
            );
            assert!(
                rest.contains("DM-300: Fix the cache") && rest.contains("reverted in daf_butler")
            );
            assert!(rest.contains("Also mentioned"), "{text}");
            assert!(rest.contains("- DM-28015 "), "{text}");
            assert!(!text.contains("DM-28015:"), "an empty summary: {text}");
        }
        // A manifest without them serialises (and hashes) as before they existed.
        let json = serde_json::to_string(&manifest()).unwrap();
        assert!(
            !json.contains("withdrawn")
                && !json.contains("mentioned")
                && !json.contains("allowed_empty")
        );
    }
}

/// A name (a tag, a line) made safe as one path component: anything but letters, digits and
/// `._+-` becomes `_`, and `.`/`..` cannot result. Written files stay in the directory the user
/// chose, whatever a policy's tag pattern or line name contains.
pub fn file_component(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.chars().all(|c| c == '.') {
        "_".repeat(s.len().max(1))
    } else {
        s
    }
}

#[cfg(test)]
mod file_component_tests {
    use super::file_component;

    #[test]
    fn names_cannot_leave_the_directory() {
        assert_eq!(file_component("23.0.1"), "23.0.1");
        assert_eq!(file_component("v23.0.2.rc1"), "v23.0.2.rc1");
        assert_eq!(file_component("../../etc/passwd"), ".._.._etc_passwd");
        assert_eq!(file_component(".."), "__");
        assert_eq!(file_component("release/23.0.1"), "release_23.0.1");
        assert_eq!(file_component("a\\b"), "a_b");
        assert_eq!(file_component(""), "_");
        for bad in ["..", "../x", "/abs", "a/../../b"] {
            let c = file_component(bad);
            assert!(!c.contains('/') && c != "..", "{bad} -> {c}");
        }
    }
}
