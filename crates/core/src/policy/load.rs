//! Loading a policy: parsing its TOML and validating it, each error located at its
//! `file:line: key`.

use std::collections::BTreeSet;

use regex::Regex;

use super::{keys, weekday, KeyFinder, LoadedPolicy, Policy, PolicyError, TicketKey};

impl Policy {
    /// Parse and validate a policy; `file` names it in messages.
    pub fn from_toml(file: &str, text: &str) -> Result<LoadedPolicy, Vec<PolicyError>> {
        let policy = parse(file, text)?;
        let mut errors = Vec::new();
        let mut err = |key: String, message: String| {
            errors.push(PolicyError {
                file: file.to_string(),
                line: locate(text, &key),
                column: None,
                key,
                message,
            });
        };

        let (finders, key_alternatives) = compile_ticket_key(&policy, &mut err);
        let key_re = match key_alternatives
            .as_ref()
            .map(|alts| Regex::new(&format!("^(?:{alts})$")))
        {
            Some(Ok(re)) => Some(re),
            Some(Err(e)) => {
                // Each rule compiled: together they clash (a group name used twice).
                err(
                    "ticket_key".into(),
                    format!(
                        "the keys of the rules together are not a valid regular expression: {}",
                        first_line(&e.to_string())
                    ),
                );
                None
            }
            None => None,
        };
        if let (Some(re), Some(preset)) = (&key_re, policy.verify.preset) {
            let sample = "daf_butler#123";
            if !re.is_match(sample) {
                err(
                    "verify.preset".into(),
                    format!(
                        "preset `{}` keys tickets like `{sample}`, which ticket_key `{}` does not accept: add `[A-Za-z0-9_.-]+#[0-9]+` to it (joined with `|`)",
                        preset.as_str(),
                        policy.ticket_key
                    ),
                );
            }
        }
        let (names, mut labels) = check_lines(&policy, &mut err);
        for (k, label) in [
            ("labels.approved", &policy.labels.approved),
            ("labels.done", &policy.labels.done),
        ] {
            if !valid_label(label) {
                err(
                    k.into(),
                    format!("`{label}` is not a valid Jira label (no spaces, not empty)"),
                );
            }
            if !labels.insert(label.clone()) {
                err(k.into(), format!("label `{label}` is used twice"));
            }
        }
        check_steps(&policy, &names, &mut err);
        check_committee(&policy, &mut err);
        check_repositories(&policy, &names, &mut err);
        check_backport(&policy, &mut err);
        let subject_prefix = check_verify(&policy, &mut err);
        // Half word boundaries: a key may start or end with a non-word character
        // (`.github#12`), and is still not found inside a longer word.
        let key_search = key_alternatives.as_ref().and_then(|alts| {
            Regex::new(&format!(r"\b{{start-half}}(?:{alts})\b{{end-half}}")).ok()
        });
        match (key_re, key_search) {
            (Some(key_re), Some(key_search)) if errors.is_empty() => Ok(LoadedPolicy {
                policy,
                key_re,
                key_search,
                subject_prefix,
                finders,
                source: file.to_string(),
            }),
            _ => Err(errors),
        }
    }
}

/// The policy's TOML deserialised, an error located at its `file:line: key`.
fn parse(file: &str, text: &str) -> Result<Policy, Vec<PolicyError>> {
    let de = toml::Deserializer::new(text);
    match serde_path_to_error::deserialize(de) {
        Ok(p) => Ok(p),
        Err(err) => {
            let key = clean_path(&err.path().to_string());
            let inner = err.inner();
            let (line, column) = match inner.span() {
                Some(span) => {
                    let (l, c) = line_col(text, span.start);
                    (Some(l), Some(c))
                }
                None => (locate(text, &key), None),
            };
            Err(vec![PolicyError {
                file: file.to_string(),
                line,
                column,
                key,
                message: first_line(inner.message()),
            }])
        }
    }
}

/// The release lines: names, versions, labels, branches and tag patterns. Returns the lines'
/// names and the request labels seen (labels must be unique across the policy).
fn check_lines(
    policy: &Policy,
    err: &mut impl FnMut(String, String),
) -> (BTreeSet<String>, BTreeSet<String>) {
    if policy.lines.is_empty() {
        err(
            "lines".into(),
            "at least one release line is required".into(),
        );
    }
    let mut names = BTreeSet::new();
    let mut labels = BTreeSet::new();
    for (i, line) in policy.lines.iter().enumerate() {
        let at = |k: &str| format!("lines[{i}].{k}");
        if !valid_name(&line.name) {
            err(
                at("name"),
                format!(
                    "`{}` is not a valid name (letters, digits, `.`, `_`, `-`)",
                    line.name
                ),
            );
        }
        if !names.insert(line.name.clone()) {
            err(
                at("name"),
                format!("release line `{}` is defined twice", line.name),
            );
        }
        if let Err(e) = semver::Version::parse(&line.base_version) {
            err(
                at("base_version"),
                format!(
                    "`{}` is not a semantic version like 23.0.0: {e}",
                    line.base_version
                ),
            );
        }
        if !valid_label(&line.request_label) {
            err(
                at("request_label"),
                format!(
                    "`{}` is not a valid Jira label (no spaces, not empty)",
                    line.request_label
                ),
            );
        }
        if !labels.insert(line.request_label.clone()) {
            err(
                at("request_label"),
                format!("label `{}` is used twice", line.request_label),
            );
        }
        if line.branch.trim().is_empty()
            || line.branch.starts_with('-')
            || line.branch.contains(char::is_whitespace)
        {
            err(
                at("branch"),
                format!("`{}` is not a valid branch name", line.branch),
            );
        }
        if !line.tag_pattern.contains("{version}") {
            err(at("tag_pattern"), "must contain `{version}`".into());
        }
        if !line.rc_tag_pattern.contains("{version}") || !line.rc_tag_pattern.contains("{n}") {
            err(
                at("rc_tag_pattern"),
                "must contain `{version}` and `{n}`".into(),
            );
        }
    }
    (names, labels)
}

/// `[verify]`: the pull request key's form and the subject prefixes, compiled into one
/// expression (`None` when there are none or one is invalid).
fn check_verify(policy: &Policy, err: &mut impl FnMut(String, String)) -> Option<Regex> {
    if let Some(k) = &policy.verify.pull_request_key {
        if !k.contains("{n}") {
            err(
                "verify.pull_request_key".into(),
                format!("`{k}` does not name the pull request number: use `{{n}}`, e.g. `{{repo}}#{{n}}`"),
            );
        }
    }
    let mut subject_prefix = None;
    for (i, p) in policy.verify.subject_prefixes.iter().enumerate() {
        if let Err(e) = Regex::new(p) {
            err(
                format!("verify.subject_prefixes[{i}]"),
                format!(
                    "not a valid regular expression: {}",
                    first_line(&e.to_string())
                ),
            );
        }
    }
    if !policy.verify.subject_prefixes.is_empty() {
        let any = policy
            .verify
            .subject_prefixes
            .iter()
            .map(|p| format!("(?:{p})"))
            .collect::<Vec<_>>()
            .join("|");
        subject_prefix = Regex::new(&format!("(?i)^(?:{any})")).ok();
    }
    subject_prefix
}

/// `ticket_key`'s rules compiled, then those of `[verify] pull_request_key`; and the keys
/// `ticket_key` names as alternatives of one regular expression (`None` after an error).
fn compile_ticket_key(
    policy: &Policy,
    err: &mut impl FnMut(String, String),
) -> (Vec<KeyFinder>, Option<String>) {
    let mut finders = Vec::new();
    let mut alternatives = Vec::new();
    let mut ok = true;
    let rules = policy.ticket_key.rules();
    for (i, rule) in rules.iter().enumerate() {
        let at = match &policy.ticket_key {
            TicketKey::Rules(_) => format!("ticket_key[{i}]"),
            _ => "ticket_key".to_string(),
        };
        match KeyFinder::new(rule) {
            Ok(f) => {
                alternatives.push(f.key_pattern.clone());
                finders.push(f);
            }
            Err(e) => {
                ok = false;
                err(at, e);
            }
        }
    }
    if rules.is_empty() {
        ok = false;
        err("ticket_key".into(), "at least one rule is required".into());
    }
    let preset_form = policy.verify.preset.map(|_| "{repo}#{n}");
    if let Some(form) = policy.verify.pull_request_key.as_deref().or(preset_form) {
        finders.extend(
            keys::pull_request_rules(form)
                .iter()
                .filter_map(|r| KeyFinder::new(r).ok()),
        );
    }
    if let Some(preset) = policy.verify.preset {
        finders.extend(
            keys::preset_rules(preset)
                .iter()
                .filter_map(|r| KeyFinder::new(r).ok()),
        );
    }
    let alternatives = alternatives
        .iter()
        .map(|a| format!("(?:{a})"))
        .collect::<Vec<_>>()
        .join("|");
    (finders, ok.then_some(alternatives))
}

/// The validation of the steps: unique valid names, on release lines among `names`.
fn check_steps(policy: &Policy, names: &BTreeSet<String>, err: &mut impl FnMut(String, String)) {
    let mut step_names = BTreeSet::new();
    for (i, step) in policy.steps.iter().enumerate() {
        if !valid_name(&step.name) {
            err(
                format!("steps[{i}].name"),
                format!("`{}` is not a valid name", step.name),
            );
        }
        if !step_names.insert(step.name.clone()) {
            err(
                format!("steps[{i}].name"),
                format!("step `{}` is defined twice", step.name),
            );
        }
        if !names.contains(&step.line) {
            err(
                format!("steps[{i}].line"),
                format!("unknown release line `{}`", step.line),
            );
        }
    }
}

/// The validation of the committee: at least one member, named members, each once; a quorum they can reach; a
/// meeting day that is a weekday. `err` takes the key and the message of each error.
fn check_committee(policy: &Policy, err: &mut impl FnMut(String, String)) {
    if policy.committee.members.is_empty() {
        err(
            "committee.members".into(),
            "the committee needs at least one member".into(),
        );
    }
    let mut member_names = BTreeSet::new();
    for (i, m) in policy.committee.members.iter().enumerate() {
        if m.name.trim().is_empty() {
            err(
                format!("committee.members[{i}].name"),
                "must not be empty".into(),
            );
        }
        if !member_names.insert(m.name.to_lowercase()) {
            err(
                format!("committee.members[{i}].name"),
                format!("member `{}` is listed twice", m.name),
            );
        }
    }
    if let Some(q) = policy.committee.quorum {
        if q == 0 || q as usize > policy.committee.members.len() {
            err(
                "committee.quorum".into(),
                format!(
                    "quorum {q} must be between 1 and the number of members ({})",
                    policy.committee.members.len()
                ),
            );
        }
    }
    if weekday(&policy.committee.meeting_day).is_none() {
        err(
            "committee.meeting_day".into(),
            format!(
                "`{}` is not a weekday (monday … sunday)",
                policy.committee.meeting_day
            ),
        );
    }
}

/// The validation of the repositories: unique valid names, valid branch names, and release
/// lines among `names` (the policy's). `err` takes the key and the message of each error.
fn check_repositories(
    policy: &Policy,
    names: &BTreeSet<String>,
    err: &mut impl FnMut(String, String),
) {
    let mut repo_names = BTreeSet::new();
    for (i, r) in policy.repositories.iter().enumerate() {
        if !valid_name(&r.name) {
            err(
                format!("repositories[{i}].name"),
                format!("`{}` is not a valid name", r.name),
            );
        }
        if !repo_names.insert(r.name.clone()) {
            err(
                format!("repositories[{i}].name"),
                format!("repository `{}` is listed twice", r.name),
            );
        }
        if r.path.trim().is_empty() {
            err(
                format!("repositories[{i}].path"),
                "must not be empty".into(),
            );
        }
        if r.main_branch.starts_with('-')
            || r.main_branch.trim().is_empty()
            || r.main_branch.contains(char::is_whitespace)
        {
            err(
                format!("repositories[{i}].main_branch"),
                format!("`{}` is not a valid branch name", r.main_branch),
            );
        }
        for l in r.lines.iter().flatten() {
            if !names.contains(l) {
                err(
                    format!("repositories[{i}].lines"),
                    format!("unknown release line `{l}`"),
                );
            }
        }
    }
}

/// The validation of `[backport]`: a branch pattern that names the ticket and makes a branch
/// name git accepts.
fn check_backport(policy: &Policy, err: &mut impl FnMut(String, String)) {
    let p = &policy.backport.branch_pattern;
    if !p.contains("{key}") {
        err(
            "backport.branch_pattern".into(),
            "must contain `{key}`".into(),
        );
    }
    let bad = p.is_empty()
        || p.starts_with(['-', '/'])
        || p.ends_with(['/', '.'])
        || p.ends_with(".lock")
        || p.contains("..")
        || p.contains("//")
        || p.contains("@{")
        || p.chars()
            .any(|c| c.is_whitespace() || c.is_control() || "~^:?*[\\".contains(c));
    if bad {
        err(
            "backport.branch_pattern".into(),
            format!("`{p}` does not make a valid branch name"),
        );
    }
    let r = &policy.backport.push_remote;
    if r.trim().is_empty() || r.starts_with('-') || r.contains(char::is_whitespace) {
        err(
            "backport.push_remote".into(),
            format!("`{r}` is not a valid remote name"),
        );
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn valid_label(s: &str) -> bool {
    !s.is_empty() && !s.contains(char::is_whitespace)
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").trim().to_string()
}

/// serde_path_to_error prints `lines[0].name`; `.` alone means the root.
fn clean_path(p: &str) -> String {
    if p == "." {
        String::new()
    } else {
        p.to_string()
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|s| s.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

/// Find the line of a key path like `lines[1].base_version` in the TOML source.
fn locate(text: &str, path: &str) -> Option<usize> {
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let mut span = None;
    let mut item: &toml_edit::Item = doc.as_item();
    for segment in path.split('.').filter(|s| !s.is_empty()) {
        let (name, index) = match segment.split_once('[') {
            Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (segment, None),
        };
        let table = item.as_table_like()?;
        let (key, next) = table.get_key_value(name)?;
        span = key.span().or(span);
        item = next;
        if let Some(i) = index {
            if let Some(aot) = item.as_array_of_tables() {
                let t = aot.get(i)?;
                span = t.span().or(span);
                // An array-of-tables element is itself a table item.
                return locate_in_table(
                    text,
                    t,
                    path.split_once(&format!("{segment}.")).map(|x| x.1),
                    span,
                );
            } else if let Some(arr) = item.as_array() {
                let v = arr.get(i)?;
                span = v.span().or(span);
                if let Some(t) = v.as_inline_table() {
                    let rest = path.split_once(&format!("{segment}.")).map(|x| x.1);
                    return match rest {
                        Some(rest) => t
                            .get_key_value(rest.split('.').next().unwrap_or(rest))
                            .and_then(|(k, _)| k.span())
                            .or(span)
                            .map(|s| line_col(text, s.start).0),
                        None => span.map(|s| line_col(text, s.start).0),
                    };
                }
                return span.map(|s| line_col(text, s.start).0);
            }
        }
    }
    span.map(|s| line_col(text, s.start).0)
}

fn locate_in_table(
    text: &str,
    table: &toml_edit::Table,
    rest: Option<&str>,
    fallback: Option<std::ops::Range<usize>>,
) -> Option<usize> {
    let span = match rest {
        Some(rest) => {
            let first = rest.split(['.', '[']).next().unwrap_or(rest);
            table
                .get_key_value(first)
                .and_then(|(k, _)| k.span())
                .or(fallback)
        }
        None => fallback,
    };
    span.map(|s| line_col(text, s.start).0)
}
