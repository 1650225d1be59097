//! Property-based tests for hostile input ("Prove it holds", item 3).
//!
//! Everything portcullis reads but did not write is driven with generated and mutated input:
//! Jira and GitHub responses (mutated from the real fixtures in `tests/fixtures/`), policy files
//! (mutated from `policy/*.toml` and `tests/invalid_policies/`), commit subjects, tag names,
//! and ticket text on its way to a terminal or a chat room. Nothing may panic, and where there
//! is a contract (label diffs, tag round trips, sanitising, mention defusing) it must hold.
//!
//! Each block runs few cases so that the module takes seconds in CI. For a longer hunt set
//! `PROPTEST_CASES`, which proptest reads for its defaults and [`config`] for the counts below:
//!
//! ```text
//! PROPTEST_CASES=20000 cargo test --test all props::
//! ```
//!
//! Failures are not persisted to files: proptest prints the minimal failing input, and a bug it
//! finds is kept as a plain `#[test]` with that input (at the end of this module).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::OnceLock;

use chrono::{TimeZone, Utc};
use portcullis_chat::{render, Item, Kind, Message, Section};
use portcullis_core::event::{label_set_after, LabelFact};
use portcullis_core::policy::{
    Line, LoadedPolicy, Policy, BUILTIN_DEFAULT, BUILTIN_GITHUB, BUILTIN_V23,
};
use portcullis_core::release::{check_version, file_component};
use portcullis_core::text::clean;
use portcullis_git::text::{
    cherry_picked_from, merged_branch, normalized_subject, reverted_commit, tag_name, ReleaseTag,
    TagMatcher,
};
use portcullis_trackers::file::parse_export;
use portcullis_trackers::github::client::{
    GhComment, GhCommit, GhEvent, GhIssue, GhLabel, GhPull, GhUser,
};
use portcullis_trackers::jira::plan::plan_issue;
use portcullis_trackers::jira::wire::{label_diff, label_set};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use serde_json::Value;

use crate::harness::{fixtures, repo_root};

/// `cases` cases, or `PROPTEST_CASES` when set; no regression files are written.
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Generators shared by the properties

/// Characters that have broken parsers and terminals before, mixed into generated text.
const NASTY: &[char] = &[
    '\0',
    '\n',
    '\r',
    '\t',
    '\u{7}',
    '\u{8}',
    '\u{1b}',
    '\u{7f}',
    '\u{85}',
    '\u{9b}',
    '\u{a0}',
    '\u{200b}',
    '\u{200e}',
    '\u{200f}',
    '\u{2028}',
    '\u{2029}',
    '\u{202a}',
    '\u{202b}',
    '\u{202c}',
    '\u{202d}',
    '\u{202e}',
    '\u{2060}',
    '\u{2066}',
    '\u{2067}',
    '\u{2068}',
    '\u{2069}',
    '\u{3000}',
    '\u{feff}',
    '\u{fffd}',
    '\u{10ffff}',
    '@',
    '<',
    '>',
    '!',
    '&',
    '"',
    '\'',
    '\\',
    '/',
    '.',
    '#',
    '[',
    ']',
    '(',
    ')',
    '*',
    '_',
    '`',
    '~',
    '{',
    '}',
    '|',
    ':',
    ';',
    ',',
    '-',
    '=',
    'é',
    'İ',
    'ß',
    'ﬁ',
    '٣',
    '🦀',
];

fn nasty_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => any::<char>(),
        3 => prop::char::range(' ', '~'),
        3 => select(NASTY),
    ]
}

/// Any text: arbitrary Unicode with control, bidi and markup characters mixed in.
fn text(max: usize) -> impl Strategy<Value = String> {
    vec(nasty_char(), 0..max).prop_map(String::from_iter)
}

/// A JSON value whose object keys are mostly `keys` and strings often `strings`.
fn json_value(
    keys: &'static [&'static str],
    strings: &'static [&'static str],
) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        select(&[i64::MIN, i64::MAX, -1, 0][..]).prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        text(12).prop_map(Value::String),
        select(strings).prop_map(|s| Value::String(s.to_string())),
    ];
    let key = prop_oneof![3 => select(keys).prop_map(str::to_string), 1 => text(6)];
    leaf.prop_recursive(3, 24, 4, move |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            vec((key.clone(), inner), 0..4).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A byte-level change to a response body.
#[derive(Debug, Clone)]
enum Mutation {
    Truncate(Index),
    Flip(Index, u8),
    Insert(Index, Vec<u8>),
    /// The text of a JSON value, inserted.
    Splice(Index, String),
    /// A span replaced by the text of a JSON value.
    Overwrite(Index, usize, String),
    Delete(Index, usize),
}

fn mutation(
    keys: &'static [&'static str],
    strings: &'static [&'static str],
) -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), 1..=255u8).prop_map(|(i, x)| Mutation::Flip(i, x)),
        (any::<Index>(), vec(any::<u8>(), 1..8)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<Index>(), json_value(keys, strings))
            .prop_map(|(i, v)| Mutation::Splice(i, v.to_string())),
        (any::<Index>(), 1..64usize, json_value(keys, strings))
            .prop_map(|(i, n, v)| Mutation::Overwrite(i, n, v.to_string())),
        (any::<Index>(), 1..64usize).prop_map(|(i, n)| Mutation::Delete(i, n)),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let n = bytes.len();
        match m {
            Mutation::Truncate(i) => bytes.truncate(i.index(n + 1)),
            Mutation::Flip(i, x) => {
                if n > 0 {
                    bytes[i.index(n)] ^= x;
                }
            }
            Mutation::Insert(i, b) => {
                let at = i.index(n + 1);
                bytes.splice(at..at, b.iter().copied());
            }
            Mutation::Splice(i, s) => {
                let at = i.index(n + 1);
                bytes.splice(at..at, s.bytes());
            }
            Mutation::Overwrite(i, len, s) => {
                let at = i.index(n + 1);
                bytes.splice(at..(at + len).min(n), s.bytes());
            }
            Mutation::Delete(i, len) => {
                let at = i.index(n + 1);
                bytes.drain(at..(at + len).min(n));
            }
        }
    }
    bytes
}

/// A structural change to a parsed response: a node replaced or removed, a key added.
#[derive(Debug, Clone)]
enum Edit {
    Replace(Index, Value),
    Remove(Index),
    Add(Index, String, Value),
}

fn edit(
    keys: &'static [&'static str],
    strings: &'static [&'static str],
) -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<Index>(), json_value(keys, strings)).prop_map(|(i, v)| Edit::Replace(i, v)),
        any::<Index>().prop_map(Edit::Remove),
        (any::<Index>(), select(keys), json_value(keys, strings)).prop_map(|(i, k, v)| Edit::Add(
            i,
            k.to_string(),
            v
        )),
    ]
}

/// JSON pointers of every node of `v`, the root (`""`) first.
fn pointers(v: &Value, at: &str, out: &mut Vec<String>) {
    out.push(at.to_string());
    match v {
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                pointers(x, &format!("{at}/{i}"), out);
            }
        }
        Value::Object(o) => {
            for (k, x) in o {
                let k = k.replace('~', "~0").replace('/', "~1");
                pointers(x, &format!("{at}/{k}"), out);
            }
        }
        _ => {}
    }
}

fn apply_edits(mut v: Value, edits: &[Edit]) -> Value {
    for e in edits {
        let mut ptrs = Vec::new();
        pointers(&v, "", &mut ptrs);
        match e {
            Edit::Replace(i, new) => {
                if let Some(node) = v.pointer_mut(&ptrs[i.index(ptrs.len())]) {
                    *node = new.clone();
                }
            }
            Edit::Remove(i) => {
                let p = &ptrs[i.index(ptrs.len())];
                let Some((parent, last)) = p.rsplit_once('/') else {
                    continue;
                };
                let last = last.replace("~1", "/").replace("~0", "~");
                match v.pointer_mut(parent) {
                    Some(Value::Object(o)) => {
                        o.remove(&last);
                    }
                    Some(Value::Array(a)) => {
                        if let Ok(k) = last.parse::<usize>() {
                            if k < a.len() {
                                a.remove(k);
                            }
                        }
                    }
                    _ => {}
                }
            }
            Edit::Add(i, key, new) => match v.pointer_mut(&ptrs[i.index(ptrs.len())]) {
                Some(Value::Object(o)) => {
                    o.insert(key.clone(), new.clone());
                }
                Some(Value::Array(a)) => a.push(new.clone()),
                _ => {}
            },
        }
    }
    v
}

/// The `.json` files under `dir` (one level of subdirectories too), by relative name.
fn json_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                let name = path.strip_prefix(dir).unwrap().display().to_string();
                out.push((name, std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    assert!(!out.is_empty(), "no fixtures in {}", dir.display());
    out
}

// ---------------------------------------------------------------------------------------------
// 1. Jira responses: `parse_export` (and the pure import plan of whatever it accepts)

const JIRA_KEYS: &[&str] = &[
    "issues",
    "key",
    "id",
    "self",
    "fields",
    "summary",
    "status",
    "name",
    "labels",
    "assignee",
    "reporter",
    "components",
    "created",
    "updated",
    "changelog",
    "histories",
    "items",
    "field",
    "fieldId",
    "fieldtype",
    "from",
    "fromString",
    "to",
    "toString",
    "author",
    "accountId",
    "displayName",
    "startAt",
    "maxResults",
    "total",
    "isLast",
    "nextPageToken",
    "errorMessages",
    "errors",
    "values",
    "expand",
];

const JIRA_STRINGS: &[&str] = &[
    "labels",
    "Labels",
    "backport-v23",
    "backport-approved backport-v23",
    "backport-v23 backport-v23  backport-done",
    "",
    " ",
    "DM-1",
    "2018-04-13T08:07:40.815-0500",
    "2022-04-13T20:49:34Z",
    "2018-04-13T08:07:40.815-05:00",
    "2018-04-13T08:07:40.1234567890123-0500",
    "9999-12-31T23:59:59.999+9959",
    "0000-01-01T00:00:00.000-9959",
    "2016-02-29T23:59:60.000Z",
    "2018-13-45T99:99:99.999+0000",
    "<html>",
];

fn jira_fixtures() -> &'static [(String, Vec<u8>)] {
    static F: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    F.get_or_init(|| json_files(&fixtures().join("jira")))
}

fn default_policy() -> &'static LoadedPolicy {
    static P: OnceLock<LoadedPolicy> = OnceLock::new();
    P.get_or_init(|| Policy::from_toml("default.toml", BUILTIN_DEFAULT).unwrap())
}

/// `parse_export` does not panic; what it accepts plans without panicking, and what it refuses
/// it refuses with a message that names the file.
fn check_export(name: &str, bytes: &[u8]) -> Result<(), TestCaseError> {
    match parse_export(name, bytes) {
        Ok(issues) => {
            for issue in &issues {
                plan_issue(default_policy(), issue, &[], &mut Vec::new());
            }
        }
        Err(e) => prop_assert!(
            e.to_string().contains(name),
            "the message does not name {name}: {}",
            e
        ),
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn jira_parse_survives_byte_mutations(
        f in 0..jira_fixtures().len(),
        ms in vec(mutation(JIRA_KEYS, JIRA_STRINGS), 1..4),
    ) {
        let (name, bytes) = &jira_fixtures()[f];
        check_export(name, &mutate(bytes.clone(), &ms))?;
    }

    #[test]
    fn jira_parse_survives_structural_mutations(
        f in 0..jira_fixtures().len(),
        edits in vec(edit(JIRA_KEYS, JIRA_STRINGS), 1..4),
    ) {
        let (name, bytes) = &jira_fixtures()[f];
        let v: Value = serde_json::from_slice(bytes).unwrap();
        let mutated = serde_json::to_vec(&apply_edits(v, &edits)).unwrap();
        check_export(name, &mutated)?;
    }

    #[test]
    fn jira_parse_survives_arbitrary_bytes(bytes in vec(any::<u8>(), 0..512)) {
        check_export("export.json", &bytes)?;
    }

    #[test]
    fn jira_parse_survives_arbitrary_json(v in json_value(JIRA_KEYS, JIRA_STRINGS)) {
        check_export("export.json", v.to_string().as_bytes())?;
    }
}

proptest! {
    #![proptest_config(config(128))]

    /// A login page or a proxy error saved instead of the response is refused as HTML.
    #[test]
    fn jira_parse_refuses_html(
        lead in "[ \t\r\n]{0,3}",
        page in select(&[
            "<!DOCTYPE html>",
            "<html>",
            "<HTML><head><title>Log in - Jira</title>",
            "<?xml version=\"1.0\"?>",
            "<",
        ][..]),
        rest in text(64),
    ) {
        let body = format!("{lead}{page}{rest}");
        let err = parse_export("saved.json", body.as_bytes()).unwrap_err();
        prop_assert!(err.to_string().contains("saved.json"), "{}", err);
        prop_assert!(err.to_string().contains("HTML"), "{}", err);
    }
}

// ---------------------------------------------------------------------------------------------
// 2. GitHub responses: the wire types of the client

const GH_KEYS: &[&str] = &[
    "number",
    "title",
    "state",
    "labels",
    "name",
    "user",
    "login",
    "assignee",
    "html_url",
    "created_at",
    "updated_at",
    "pull_request",
    "merged_at",
    "id",
    "event",
    "actor",
    "label",
    "commit_id",
    "merged",
    "merge_commit_sha",
    "merged_by",
    "base",
    "head",
    "ref",
    "sha",
    "body",
];

const GH_STRINGS: &[&str] = &[
    "labeled",
    "unlabeled",
    "merged",
    "closed",
    "open",
    "backport-v23",
    "v23.0.x",
    "6dcb09b5b57875f334f61aebed695e2e4193db5e",
    "2022-04-13T20:49:34Z",
    "2022-04-13T20:49:34.123456789+14:00",
    "2016-12-31T23:59:60Z",
    "0000-01-01T00:00:00Z",
    "9999-12-31T23:59:59-23:59",
    "2022-04-13 20:49:34",
    "",
];

/// Bodies of the kinds portcullis reads that the fixtures lack (issues, a pull, comments).
const GH_SEEDS: &[&str] = &[
    r#"[{"number":600,"title":"Fix the thing","state":"closed","labels":[{"name":"backport-v23","color":"99dd88"},"backport-approved"],"user":{"login":"mara"},"assignee":null,"html_url":"https://github.com/lsst/daf_butler/pull/600","created_at":"2022-04-13T20:49:34Z","updated_at":"2022-04-14T08:00:00Z","pull_request":{"merged_at":"2022-04-14T08:00:00Z"}}]"#,
    r#"{"merged":true,"merged_at":"2022-04-14T08:00:00Z","merge_commit_sha":"6dcb09b5b57875f334f61aebed695e2e4193db5e","merged_by":{"login":"mara"},"base":{"ref":"v23.0.x"},"head":{"ref":"tickets/DM-1-v23"}}"#,
    r#"[{"id":1,"event":"labeled","actor":{"login":"mara"},"created_at":"2022-04-13T20:49:34Z","label":{"name":"backport-v23"},"commit_id":null},{"id":2,"event":"unlabeled","actor":null,"created_at":"2022-04-14T20:49:34Z","label":{"name":"backport-v23"}}]"#,
    r#"[{"id":7,"body":"Backport requested @here"},{"id":8,"body":null}]"#,
];

fn github_seeds() -> &'static [(String, Vec<u8>)] {
    static F: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    F.get_or_init(|| {
        let mut all = json_files(&fixtures().join("github"));
        all.extend(
            GH_SEEDS
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("seed{i}.json"), s.as_bytes().to_vec())),
        );
        all
    })
}

/// Every wire type parses `bytes` or refuses it without panicking; what parses answers its
/// accessors.
fn check_github(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(events) = serde_json::from_slice::<Vec<GhEvent>>(bytes) {
        for e in &events {
            if let Some((added, _)) = e.label_change() {
                prop_assert_eq!(added, e.event == "labeled");
            }
            prop_assert!(e.actor_login() != Some(""));
        }
    }
    if let Ok(issues) = serde_json::from_slice::<Vec<GhIssue>>(bytes) {
        for i in &issues {
            prop_assert_eq!(i.label_names().len(), i.labels.len());
        }
    }
    if let Ok(issue) = serde_json::from_slice::<GhIssue>(bytes) {
        issue.label_names();
    }
    let _ = serde_json::from_slice::<GhPull>(bytes);
    let _ = serde_json::from_slice::<Vec<GhCommit>>(bytes);
    if let Ok(labels) = serde_json::from_slice::<Vec<GhLabel>>(bytes) {
        labels.iter().for_each(|l| {
            l.name();
        });
    }
    let _ = serde_json::from_slice::<Vec<GhComment>>(bytes);
    let _ = serde_json::from_slice::<GhUser>(bytes);
    Ok(())
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn github_parse_survives_byte_mutations(
        f in 0..github_seeds().len(),
        ms in vec(mutation(GH_KEYS, GH_STRINGS), 1..4),
    ) {
        check_github(&mutate(github_seeds()[f].1.clone(), &ms))?;
    }

    #[test]
    fn github_parse_survives_structural_mutations(
        f in 0..github_seeds().len(),
        edits in vec(edit(GH_KEYS, GH_STRINGS), 1..4),
    ) {
        let v: Value = serde_json::from_slice(&github_seeds()[f].1).unwrap();
        check_github(&serde_json::to_vec(&apply_edits(v, &edits)).unwrap())?;
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Jira changelog label sets: `label_set` / `label_diff`

/// A changelog `fromString`/`toString`: labels separated by assorted whitespace, or anything.
fn label_string() -> impl Strategy<Value = Option<String>> {
    let word = prop_oneof![
        "[a-z0-9-]{1,10}",
        select(
            &[
                "backport-v23",
                "backport-approved",
                "backport-done",
                "Backport-V23"
            ][..]
        )
        .prop_map(str::to_string),
        text(6),
    ];
    let space = select(
        &[
            " ", " ", "  ", "\t", "\n", "\r\n", "\u{a0}", "\u{3000}", "\u{2028}", "",
        ][..],
    );
    prop_oneof![
        1 => Just(None),
        6 => vec((space.clone(), word), 0..6).prop_map(|ws| {
            Some(ws.into_iter().map(|(s, w)| format!("{s}{w}")).collect::<String>())
        }),
        2 => text(24).prop_map(Some),
    ]
}

proptest! {
    #![proptest_config(config(1024))]

    /// The diff of two label sets, applied to the first as the import applies it, gives the
    /// second; no label is empty or holds whitespace; added and removed are disjoint.
    #[test]
    fn label_diff_applied_to_from_gives_to(a in label_string(), b in label_string()) {
        let (from, to) = (a.as_deref(), b.as_deref());
        let (added, removed) = label_diff(from, to);
        let (set_a, set_b) = (label_set(from), label_set(to));
        for l in added.iter().chain(&removed).chain(&set_a).chain(&set_b) {
            prop_assert!(!l.is_empty() && !l.contains(char::is_whitespace), "label {l:?}");
        }
        let added_set: BTreeSet<String> = added.iter().cloned().collect();
        prop_assert_eq!(added_set.len(), added.len(), "repeats in {:?}", added);
        prop_assert!(removed.iter().all(|r| !added_set.contains(r)));

        let t0 = Utc.with_ymd_and_hms(2022, 1, 1, 0, 0, 0).unwrap();
        let t1 = Utc.with_ymd_and_hms(2022, 1, 2, 0, 0, 0).unwrap();
        let fact = |at, seq, added, label: &String| LabelFact {
            at,
            seq,
            added,
            label: label.clone(),
        };
        let mut facts: Vec<LabelFact> = set_a
            .iter()
            .enumerate()
            .map(|(i, l)| fact(t0, i as i64, true, l))
            .collect();
        facts.extend(removed.iter().map(|l| fact(t1, 0, false, l)));
        facts.extend(added.iter().map(|l| fact(t1, 1, true, l)));
        prop_assert_eq!(label_set_after(&facts), set_b);

        prop_assert_eq!(label_diff(to, from), (removed, added));
        prop_assert_eq!(label_diff(from, from), (vec![], vec![]));
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Policy files: `Policy::from_toml` (what `portcullis policy check` runs)

/// A change to a policy's text.
#[derive(Debug, Clone)]
enum TextEdit {
    Truncate(Index),
    DeleteLine(Index),
    DuplicateLine(Index),
    InsertLine(Index, String),
    InsertText(Index, String),
    /// The value of a `key = value` line replaced.
    ReplaceValue(Index, String),
    ReplaceChar(Index, char),
}

const TOML_LINES: &[&str] = &[
    "[lines]",
    "[[lines]]",
    "[[steps]]",
    "[committee]",
    "[labels]",
    "[rules]",
    "[[repositories]]",
    "[[lines]]\nname = \"v24\"\nbase_version = \"24.0.0\"\nbranch = \"v24.0.x\"\nrequest_label = \"backport-v24\"",
    "ticket_key = '('",
    "ticket_key = '\\'",
    "ticket_key = \"\"",
    "ticket_key = 'x)|(.*'",
    "base_version = \"18446744073709551616.0.0\"",
    "tag_pattern = \"\"",
    "rc_tag_pattern = \"{n}{version}{n}\"",
    "quorum = -1",
    "quorum = 99999999999999999999",
    "meeting_day = \"caturday\"",
    "name = \"\"",
    "name = \"..\"",
    "a.b.c = 1",
    "\"\" = 1",
    "x = \"\"\"",
    "x = '''",
    "x = [",
    "x = {",
    "x = 1979-05-27T07:32:00Z",
    "x = inf",
    "x = nan",
    "x = 0x10",
    "lines = []",
    "= 1",
    "[a.\"b\"]",
    "\u{feff}",
];

const TOML_VALUES: &[&str] = &[
    "\"str\"",
    "'lit'",
    "\"\"",
    "1",
    "-1",
    "1.5",
    "1e999",
    "true",
    "[]",
    "[1, \"a\"]",
    "{}",
    "{ a = 1 }",
    "1979-05-27",
    "\"\\u0000\"",
    "\"\\uD800\"",
    "\"unterminated",
    "'",
    "18446744073709551616",
    "\"\u{202e}\u{1b}[2J\"",
];

fn text_edit() -> impl Strategy<Value = TextEdit> {
    let line = prop_oneof![3 => select(TOML_LINES).prop_map(str::to_string), 1 => text(20)];
    let value = prop_oneof![3 => select(TOML_VALUES).prop_map(str::to_string), 1 => text(12)];
    prop_oneof![
        any::<Index>().prop_map(TextEdit::Truncate),
        any::<Index>().prop_map(TextEdit::DeleteLine),
        any::<Index>().prop_map(TextEdit::DuplicateLine),
        (any::<Index>(), line).prop_map(|(i, l)| TextEdit::InsertLine(i, l)),
        (any::<Index>(), text(8)).prop_map(|(i, t)| TextEdit::InsertText(i, t)),
        (any::<Index>(), value).prop_map(|(i, v)| TextEdit::ReplaceValue(i, v)),
        (any::<Index>(), nasty_char()).prop_map(|(i, c)| TextEdit::ReplaceChar(i, c)),
    ]
}

fn apply_text_edits(text: &str, edits: &[TextEdit]) -> String {
    let mut s = text.to_string();
    for e in edits {
        let mut lines: Vec<String> = s.split('\n').map(str::to_string).collect();
        let mut chars: Vec<char> = s.chars().collect();
        let (n, c) = (lines.len(), chars.len());
        s = match e {
            TextEdit::Truncate(i) => chars[..i.index(c + 1)].iter().collect(),
            TextEdit::DeleteLine(i) => {
                lines.remove(i.index(n));
                lines.join("\n")
            }
            TextEdit::DuplicateLine(i) => {
                let k = i.index(n);
                lines.insert(k, lines[k].clone());
                lines.join("\n")
            }
            TextEdit::InsertLine(i, l) => {
                lines.insert(i.index(n + 1), l.clone());
                lines.join("\n")
            }
            TextEdit::InsertText(i, t) => {
                let at = i.index(c + 1);
                chars.splice(at..at, t.chars());
                chars.into_iter().collect()
            }
            TextEdit::ReplaceValue(i, v) => {
                let with_value: Vec<usize> = (0..n).filter(|&k| lines[k].contains('=')).collect();
                if let Some(&k) = with_value.get(i.index(with_value.len().max(1))) {
                    let key = lines[k].split_once('=').map_or("", |x| x.0).to_string();
                    lines[k] = format!("{key}= {v}");
                }
                lines.join("\n")
            }
            TextEdit::ReplaceChar(i, ch) => {
                if c > 0 {
                    chars[i.index(c)] = *ch;
                }
                chars.into_iter().collect()
            }
        };
    }
    s
}

fn policy_seeds() -> &'static [(String, String)] {
    static P: OnceLock<Vec<(String, String)>> = OnceLock::new();
    P.get_or_init(|| {
        let mut all = vec![
            ("default.toml".to_string(), BUILTIN_DEFAULT.to_string()),
            ("v23.toml".to_string(), BUILTIN_V23.to_string()),
            ("github.toml".to_string(), BUILTIN_GITHUB.to_string()),
        ];
        let dir = repo_root().join("tests/invalid_policies");
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            all.push((name, std::fs::read_to_string(&path).unwrap()));
        }
        all.sort();
        all
    })
}

/// `from_toml` does not panic; its errors name the file, and a file that is not TOML at all
/// gets an error with a line number in the file.
fn check_policy(name: &str, text: &str) -> Result<(), TestCaseError> {
    let syntax_error = toml::from_str::<toml::Table>(text).is_err();
    match Policy::from_toml(name, text) {
        Ok(loaded) => {
            prop_assert!(!syntax_error, "accepted broken TOML");
            for key in loaded.keys_in(text) {
                prop_assert!(text.contains(&key));
            }
            for line in &loaded.policy.lines {
                let m = TagMatcher::new(line);
                let v = semver::Version::new(1, 2, 3);
                m.parse(&tag_name(line, &v, None));
                m.parse(&tag_name(line, &v, Some(2)));
            }
        }
        Err(errors) => {
            prop_assert!(!errors.is_empty());
            let lines = text.split('\n').count();
            for e in &errors {
                prop_assert_eq!(&e.file, name);
                prop_assert!(e.to_string().starts_with(name));
                if let Some(l) = e.line {
                    prop_assert!((1..=lines).contains(&l), "line {} of {}: {}", l, lines, e);
                }
            }
            if syntax_error {
                prop_assert!(
                    errors.iter().all(|e| e.line.is_some()),
                    "no line number: {:?}",
                    errors
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn policy_loader_survives_mutated_policies(
        f in 0..policy_seeds().len(),
        edits in vec(text_edit(), 1..4),
    ) {
        let (name, text) = &policy_seeds()[f];
        check_policy(name, &apply_text_edits(text, &edits))?;
    }

    #[test]
    fn policy_loader_survives_arbitrary_text(text in text(200)) {
        check_policy("policy.toml", &text)?;
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Ticket keys and commit messages

/// The built-in policies: default (`[A-Z][A-Z0-9_]*-\d+`), v23 (`DM-\d+`), GitHub (`name#123`).
fn builtin_policies() -> &'static [LoadedPolicy] {
    static P: OnceLock<Vec<LoadedPolicy>> = OnceLock::new();
    P.get_or_init(|| {
        vec![
            default_policy().clone(),
            Policy::from_toml("v23.toml", BUILTIN_V23).unwrap(),
            Policy::from_toml("github.toml", BUILTIN_GITHUB).unwrap(),
        ]
    })
}

/// A key of builtin policy `p`.
fn ticket_key(p: usize) -> BoxedStrategy<String> {
    match p {
        0 => ("[A-Z][A-Z0-9_]{0,6}", 0..1_000_000u64)
            .prop_map(|(a, n)| format!("{a}-{n}"))
            .boxed(),
        1 => (0..1_000_000u64).prop_map(|n| format!("DM-{n}")).boxed(),
        _ => ("[A-Za-z0-9_.-]{1,12}", 0..1_000_000u64)
            .prop_map(|(a, n)| format!("{a}#{n}"))
            .boxed(),
    }
}

/// Whitespace that separates a key from its neighbours.
const SPACE: &[&str] = &[" ", "\n", "\t", "\u{a0}", "\u{3000}", "\r\n"];

proptest! {
    #![proptest_config(config(512))]

    /// Keys found in any text are in the text, are keys under the policy, and are not repeated.
    #[test]
    fn keys_in_finds_only_keys(p in 0..3usize, text in text(120)) {
        let policy = &builtin_policies()[p];
        let keys = policy.keys_in(&text);
        let unique: BTreeSet<&String> = keys.iter().collect();
        prop_assert_eq!(unique.len(), keys.len());
        for k in &keys {
            prop_assert!(text.contains(k.as_str()));
            prop_assert!(policy.key_matches(k), "{k:?} found but not a key");
        }
    }

    /// A key standing between whitespace in any text is found, whole.
    #[test]
    fn keys_in_finds_a_key_between_spaces(
        (p, key) in (0..3usize).prop_flat_map(|p| (Just(p), ticket_key(p))),
        before in text(20),
        after in text(20),
        s1 in select(SPACE),
        s2 in select(SPACE),
    ) {
        let policy = &builtin_policies()[p];
        prop_assert!(policy.key_matches(&key));
        let text = format!("{before}{s1}{key}{s2}{after}");
        let keys = policy.keys_in(&text);
        prop_assert!(keys.contains(&key), "{:?} not among {:?} in {:?}", key, keys, text);
    }

    /// The commit-message rules never panic on any text, and what they return comes from it.
    #[test]
    fn commit_message_rules_survive_any_text(s in text(160)) {
        if let Some(b) = merged_branch(&s) {
            prop_assert!(!b.is_empty() && s.contains(b));
        }
        for c in cherry_picked_from(&s) {
            prop_assert!((7..=64).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_hexdigit()));
            prop_assert!(s.to_ascii_lowercase().contains(&c));
        }
        if let Some(c) = reverted_commit(&s) {
            prop_assert!(s.to_ascii_lowercase().contains(&c));
        }
        let n = normalized_subject(&s);
        prop_assert!(!n.starts_with(char::is_whitespace) && !n.ends_with(char::is_whitespace));
        prop_assert!(!n.contains("  "));
    }

    /// Well-formed merge subjects name their branch.
    #[test]
    fn merged_branch_reads_well_formed_subjects(
        n in 1..100_000u32,
        org in "[A-Za-z0-9][A-Za-z0-9-]{0,10}",
        branch in prop_oneof![
            (1..100_000u32, prop::option::of("-v[0-9]{1,2}"))
                .prop_map(|(k, v)| format!("tickets/DM-{k}{}", v.unwrap_or_default())),
            "[A-Za-z0-9._-][A-Za-z0-9._/-]{0,30}",
        ],
        target in "(main|master|v[0-9]{1,2}\\.0\\.x)",
        form in 0..5usize,
        pad in "[ \t]{0,2}",
    ) {
        let (subject, want) = match form {
            0 => (
                format!("Merge pull request #{n} from {org}/{branch}"),
                format!("{org}/{branch}"),
            ),
            1 => (format!("Merge branch '{branch}' into {target}"), branch.clone()),
            2 => (format!("Merge branch \"{branch}\""), branch.clone()),
            3 => (
                format!("Merge remote-tracking branch 'origin/{branch}' into {target}"),
                format!("origin/{branch}"),
            ),
            _ => (format!("Merge {branch} into {target}"), branch.clone()),
        };
        let padded = format!("{pad}{subject}{pad}");
        prop_assert_eq!(merged_branch(&padded), Some(want.as_str()));
    }

    /// Cherry-pick trailers and revert lines give their commits, lower-cased, in order.
    #[test]
    fn trailers_name_their_commits(
        shas in vec("[0-9a-fA-F]{7,64}", 0..4),
        filler in vec("[^()]{0,20}", 4),
        reverted in "[0-9a-fA-F]{7,64}",
    ) {
        let mut message = filler[0].clone();
        for (i, sha) in shas.iter().enumerate() {
            let next = &filler[(i + 1) % 4];
            message.push_str(&format!("\n(cherry picked from commit {sha})\n{next}"));
        }
        let lower: Vec<String> = shas.iter().map(|s| s.to_ascii_lowercase()).collect();
        prop_assert_eq!(cherry_picked_from(&message), lower);
        let message = format!("Revert \"x\"\n\nThis reverts commit {reverted}.\n{}", filler[1]);
        prop_assert_eq!(reverted_commit(&message), Some(reverted.to_ascii_lowercase()));
    }

    /// What a backport adds to a subject (a prefix, a pull-request suffix, case and spacing)
    /// does not change its normalised form.
    #[test]
    fn backport_decorations_do_not_count(
        mut subject in text(40),
        prefix in select(&[
            "",
            "Backport: ",
            "[v23] ",
            "[v23.0.x] Backport of: ",
            "Cherry-pick: ",
            "cherry picked - ",
            "BACKPORTED: ",
            "Backport - ",
        ][..]),
        pr in prop::option::of(1..100_000u32),
        own in prop::option::of(1..100_000u32),
        upper in any::<bool>(),
    ) {
        // The subject may carry its own pull request's suffix, as a squash merge on main writes.
        if let Some(n) = own {
            subject.push_str(&format!(" (#{n})"));
        }
        let mut decorated = format!("{prefix}{subject}");
        if let Some(n) = pr {
            decorated.push_str(&format!(" (#{n})"));
        }
        if upper {
            decorated = decorated.to_uppercase();
        }
        let plain = if upper { subject.to_uppercase() } else { subject.clone() };
        prop_assert_eq!(normalized_subject(&decorated), normalized_subject(&plain));
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Versions and release tags

/// A version component, often at the edges.
fn component() -> impl Strategy<Value = u64> {
    prop_oneof![4 => 0..30u64, 1 => any::<u64>(), 1 => Just(u64::MAX)]
}

/// Any semantic version, with a pre-release or build part now and then.
fn version() -> impl Strategy<Value = semver::Version> {
    (
        component(),
        component(),
        component(),
        prop::option::weighted(0.2, "(alpha|rc|[0-9a-z-]{1,6})(\\.[1-9][0-9]{0,2})?"),
        prop::option::weighted(0.1, "[0-9a-z-]{1,6}"),
    )
        .prop_map(|(major, minor, patch, pre, build)| {
            let mut v = semver::Version::new(major, minor, patch);
            if let Some(p) = pre.and_then(|p| semver::Prerelease::new(&p).ok()) {
                v.pre = p;
            }
            if let Some(b) = build.and_then(|b| semver::BuildMetadata::new(&b).ok()) {
                v.build = b;
            }
            v
        })
}

/// A line whose tags are `{version}` / `v{version}.rc{n}` (the built-ins) or carry other literal
/// text around the version and the candidate number.
fn line() -> impl Strategy<Value = Line> {
    let affix = "[a-zA-Z_-]{0,3}";
    prop_oneof![
        Just(("{version}".to_string(), "v{version}.rc{n}".to_string())),
        (affix, affix, affix, "[a-zA-Z._-]{1,4}", affix).prop_map(|(p, s, p2, s2, s3)| {
            (
                format!("{p}{{version}}{s}"),
                format!("{p2}{{version}}{s2}{{n}}{s3}"),
            )
        }),
    ]
    .prop_map(|(tag_pattern, rc_tag_pattern)| Line {
        name: "v23".into(),
        base_version: "23.0.0".into(),
        branch: "v23.0.x".into(),
        request_label: "backport-v23".into(),
        tag_pattern,
        rc_tag_pattern,
        mark_done_on_release: false,
        ignore_paths: Vec::new(),
    })
}

proptest! {
    #![proptest_config(config(1024))]

    /// A release of the line rendered as a tag parses back to the same version and candidate;
    /// a version of another line is not one of this line's tags.
    #[test]
    fn tag_names_parse_back(
        line in line(),
        patch in component(),
        other in version(),
        rc in prop::option::of(component()),
    ) {
        prop_assert_eq!(semver::Version::parse(&other.to_string()).ok(), Some(other.clone()));
        let m = TagMatcher::new(&line);
        let v = semver::Version::new(23, 0, patch);
        let name = tag_name(&line, &v, rc);
        prop_assert_eq!(m.parse(&name), Some(ReleaseTag { name: name.clone(), version: v, rc }));
        if (other.major, other.minor) != (23, 0) {
            prop_assert_eq!(m.parse(&tag_name(&line, &other, rc)), None);
        }
    }

    /// Tag parsing never panics on any name.
    #[test]
    fn tag_parse_survives_any_name(line in line(), name in text(40), digits in "[0-9]{1,30}") {
        let m = TagMatcher::new(&line);
        m.parse(&name);
        m.parse(&format!("v23.0.{digits}.rc{digits}"));
        m.parse(&format!("23.0.{digits}"));
    }

    /// The version rule never panics; what it accepts is a later patch of the same line, the
    /// very next one without `--allow-skip`, a plain release whose tag parses back; and the next
    /// patch is always accepted.
    #[test]
    fn version_rule_accepts_only_later_patches(
        wanted in version(),
        previous in version(),
        allow_skip in any::<bool>(),
    ) {
        if check_version(&wanted, &previous, allow_skip).is_none() {
            prop_assert_eq!((wanted.major, wanted.minor), (previous.major, previous.minor));
            prop_assert!(wanted.patch > previous.patch);
            prop_assert!(allow_skip || wanted.patch == previous.patch + 1);
            prop_assert!(wanted.pre.is_empty() && wanted.build.is_empty(), "accepted {}", wanted);
            let line = Line {
                base_version: format!("{}.{}.0", wanted.major, wanted.minor),
                ..default_policy().policy.lines[0].clone()
            };
            let tag = tag_name(&line, &wanted, None);
            prop_assert_eq!(
                TagMatcher::new(&line).parse(&tag).map(|t| t.version),
                Some(wanted.clone()),
                "{} is accepted but its tag {} is not a release tag", wanted, tag
            );
        }
        if previous.patch < u64::MAX {
            let next = semver::Version::new(previous.major, previous.minor, previous.patch + 1);
            prop_assert!(check_version(&next, &previous, allow_skip).is_none());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 7. Output sanitising

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

proptest! {
    #![proptest_config(config(1024))]

    /// Cleaned text has no control character and no bidi override or isolate; every other
    /// character is kept, one for one.
    #[test]
    fn clean_leaves_no_control_or_bidi(s in text(80)) {
        let out = clean(&s);
        prop_assert_eq!(out.chars().count(), s.chars().count());
        for (a, b) in s.chars().zip(out.chars()) {
            prop_assert!(!b.is_control() && !is_bidi_control(b), "{:?} in {:?}", b, out);
            if !a.is_control() && !is_bidi_control(a) {
                prop_assert_eq!(a, b);
            }
        }
    }

    /// A file component never leaves its directory: no separator, never `.` or `..`, never empty.
    #[test]
    fn file_component_stays_in_its_directory(
        s in prop_oneof![text(24), "[./\\\\]{0,4}", "[.]{1,3}"],
    ) {
        let out = file_component(&s);
        prop_assert!(!out.is_empty());
        prop_assert!(!out.contains('/') && !out.contains('\\'), "{:?}", out);
        prop_assert!(out != "." && out != "..", "{:?}", out);
        prop_assert!(out.chars().all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c)));
        prop_assert_eq!(file_component(&out), out.clone(), "not idempotent");
    }
}

// ---------------------------------------------------------------------------------------------
// 8. Chat messages: mentions from ticket text never ping

/// The mentions that notify a whole channel or room, in any case.
const MENTIONS: &[&str] = &[
    "@here",
    "@channel",
    "@room",
    "@everyone",
    "@Here",
    "@CHANNEL",
    "@Room",
    "<!channel>",
    "<!here>",
    "<!everyone>",
];

/// What a mention is pinged after: the start of a word, i.e. after any character that is not
/// a letter, a digit or `_` (Matrix: "any character not in [A-Z], [a-z], [0-9] or _";
/// Mattermost splits words on punctuation too).
const WORD_START: &[&str] = &[
    " ", "\n", "\t", "\r", "\u{a0}", "\u{3000}", "\u{1b}", "\u{0}", "\u{202e}", "(", "[", "\"",
    "'", ",", ";", ":", "*", ".", "-", "/", "!", "?", "<", ">", "@", "&", "\u{2060}", "\u{200b}",
    "~", "`", "|", "{", "}", "=", "+", "#", "%",
];

/// Text from a ticket with mentions at the starts of words, between any other text without `@`.
fn text_with_mentions() -> impl Strategy<Value = String> {
    let filler = text(16).prop_map(|s| s.replace('@', "a"));
    let token = prop_oneof![select(MENTIONS).prop_map(str::to_string), filler];
    (any::<bool>(), vec((select(WORD_START), token), 0..6)).prop_map(|(at_start, parts)| {
        let mut s = String::new();
        for (i, (sep, token)) in parts.into_iter().enumerate() {
            if i > 0 || !at_start {
                s.push_str(sep);
            }
            s.push_str(&token);
        }
        s
    })
}

fn message() -> impl Strategy<Value = Message> {
    let link = prop::option::of(text(12).prop_map(|s| {
        let s: String = s
            .chars()
            .filter(|c| *c != '@' && !is_bidi_control(*c))
            .collect();
        format!("https://jira.example.org/browse/{s}")
    }));
    let item = (text_with_mentions(), link).prop_map(|(text, link)| Item { text, link });
    let section = (text_with_mentions(), vec(item, 0..5))
        .prop_map(|(heading, items)| Section { heading, items });
    (text_with_mentions(), vec(section, 0..4)).prop_map(|(title, sections)| Message {
        title,
        sections,
        id: "m1".into(),
    })
}

/// Every string in a rendered body.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// For every kind of chat service, no rendered text holds a channel-wide mention that the
    /// service would act on, nor a control character (other than the renderer's own line
    /// breaks, `\n` and Teams' `\r`) or a bidi override.
    #[test]
    fn rendered_chat_messages_do_not_ping(m in message()) {
        for kind in Kind::ALL {
            for body in render(kind, &m) {
                let mut all = Vec::new();
                strings(&body, &mut all);
                for s in &all {
                    let lower = s.to_lowercase();
                    for mention in MENTIONS {
                        prop_assert!(
                            !lower.contains(&mention.to_lowercase()),
                            "{}: {} in {:?}", kind, mention, s
                        );
                    }
                    let bad = |c: char| {
                        (c.is_control() && !matches!(c, '\n' | '\r')) || is_bidi_control(c)
                    };
                    prop_assert!(
                        !s.chars().any(bad),
                        "{}: control character in {:?}", kind, s
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Regression cases: bugs the properties above found, minimised. Each fails until it is fixed.

/// `check_version` adds 1 to the previous patch unchecked: after a final release at patch
/// `u64::MAX` (a recorded release or a policy's `base_version`) a debug build panics, and a
/// release build wraps to `23.0.0` and accepts it.
#[test]
fn version_rule_does_not_overflow_after_the_largest_patch() {
    let previous = semver::Version::new(23, 0, u64::MAX);
    let wanted = semver::Version::new(23, 0, 0);
    assert!(check_version(&wanted, &previous, false).is_some());
    assert!(check_version(&wanted, &previous, true).is_some());
}

/// With `--allow-skip` the version rule accepts a pre-release or a build of a later patch, whose
/// tag (`23.0.2-alpha`) is then not a release tag of the line.
#[test]
fn version_rule_refuses_prereleases_and_builds_with_allow_skip() {
    let previous = semver::Version::new(23, 0, 0);
    for wanted in ["23.0.2-alpha", "23.0.2+build5"] {
        let wanted = semver::Version::parse(wanted).unwrap();
        assert!(
            check_version(&wanted, &previous, true).is_some(),
            "{wanted} accepted"
        );
    }
}

/// The squash-merged backport of a squash-merged commit carries two pull-request suffixes; only
/// the last is stripped, so it no longer matches its original by subject.
#[test]
fn normalized_subject_strips_every_pull_request_suffix() {
    assert_eq!(normalized_subject("Fix the thing (#10)"), "fix the thing");
    assert_eq!(
        normalized_subject("Fix the thing (#10) (#12)"),
        "fix the thing"
    );
}

/// `keys_in` looks for keys between `\b`s, so a key that starts with a character that is not a
/// word character loses it: GitHub's `.github` repository's `.github#12` is found as `github#12`.
#[test]
fn keys_in_keeps_a_leading_dot_of_a_repository_name() {
    let github = &builtin_policies()[2];
    assert!(github.key_matches(".github#12"));
    assert_eq!(
        github.keys_in("see .github#12"),
        vec![".github#12".to_string()]
    );
}

/// A mention after punctuation is not defused. Matrix's `@room` rule fires after any character
/// but a letter, a digit or `_`, and Mattermost splits words on punctuation such as `*`.
#[test]
fn mentions_after_punctuation_do_not_ping() {
    let m = Message {
        title: "digest".into(),
        id: "m1".into(),
        sections: vec![Section {
            heading: "New requests".into(),
            items: vec![Item::text("*@here @@room x.@channel mail dev@example.org")],
        }],
    };
    for kind in Kind::ALL {
        for body in render(kind, &m) {
            let mut all = Vec::new();
            strings(&body, &mut all);
            let text = all.join("\n");
            for ping in ["@here", "@room", "@channel"] {
                assert!(!text.contains(ping), "{kind}: {ping} in {text}");
            }
            assert!(text.contains("dev@example.org"), "{kind}: e-mail changed");
        }
    }
}
