//! The server's data: issues with their histories and comments, the people who appear in them,
//! reading seed issues, and Jira's timestamp format.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, Timelike, Utc};
use serde_json::{json, Value};

use super::jql::{self, Subject};
use super::User;

/// A person as the server knows them; rendered in the flavor's shape (Cloud: `accountId`,
/// Data Center: `name` and `key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Person {
    pub name: String,
    /// Data Center user key (`JIRAUSER10000` style).
    pub key: String,
    pub account_id: String,
    pub display_name: String,
    pub email: String,
}

/// One changelog entry.
#[derive(Debug, Clone)]
pub(crate) struct History {
    pub id: String,
    pub author: Option<Arc<Person>>,
    pub created: DateTime<Utc>,
    /// Items exactly as seeded or recorded (`field`, `fieldtype`, `fieldId`, `from`, …).
    pub items: Vec<Value>,
}

/// One comment; the body is kept as plain text and rendered as a string (v2) or an Atlassian
/// Document Format document (v3).
#[derive(Debug, Clone)]
pub(crate) struct Comment {
    pub id: String,
    pub author: Option<Arc<Person>>,
    pub body: String,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

/// One issue.
#[derive(Debug, Clone)]
pub(crate) struct Issue {
    pub id: u64,
    pub key: String,
    /// Upper-cased project key.
    pub project: String,
    pub number: u64,
    pub project_id: u64,
    pub summary: String,
    pub status: String,
    pub labels: Vec<String>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub assignee: Option<Arc<Person>>,
    pub reporter: Option<Arc<Person>>,
    pub components: Vec<String>,
    pub fix_versions: Value,
    pub issuelinks: Value,
    pub issuetype: Option<Value>,
    /// Any other seeded field, served as given.
    pub extra: BTreeMap<String, Value>,
    /// Oldest first.
    pub histories: Vec<History>,
    /// Oldest first.
    pub comments: Vec<Comment>,
    /// The keys it had before it was moved to another project (project, number), oldest
    /// first: Jira still finds it by them.
    pub former_keys: Vec<(String, u64)>,
}

impl Subject for Issue {
    fn comment_has_word(&self, word: &str) -> bool {
        self.comments.iter().any(|c| {
            c.body
                .split(|ch: char| !ch.is_alphanumeric())
                .any(|w| w.eq_ignore_ascii_case(word))
        })
    }
    fn project(&self) -> &str {
        &self.project
    }
    fn number(&self) -> u64 {
        self.number
    }
    fn labels(&self) -> &[String] {
        &self.labels
    }
    fn status(&self) -> &str {
        &self.status
    }
    fn summary(&self) -> &str {
        &self.summary
    }
    fn created(&self) -> DateTime<Utc> {
        self.created
    }
    fn updated(&self) -> DateTime<Utc> {
        self.updated
    }
    fn former_keys(&self) -> &[(String, u64)] {
        &self.former_keys
    }
}

/// All issues, their indexes, id counters and the people seen so far.
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub issues: Vec<Arc<Issue>>,
    /// Upper-cased key → index.
    by_key: HashMap<String, usize>,
    by_id: HashMap<u64, usize>,
    projects: HashMap<String, u64>,
    next_issue_id: u64,
    next_history_id: u64,
    next_comment_id: u64,
    /// The configured users, first; then people met in seeds and edits, by name.
    users: Vec<Arc<Person>>,
    people: HashMap<String, Arc<Person>>,
    /// Remote links (`POST …/issue/{key}/remotelink`) by issue key (upper case), in order.
    pub remote_links: BTreeMap<String, Vec<Value>>,
}

/// The outcome of applying label operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LabelOp {
    Set(Vec<String>),
    Add(String),
    Remove(String),
}

impl Store {
    /// An empty store that knows the configured users.
    pub fn new(users: &[User]) -> Store {
        let users: Vec<Arc<Person>> = users
            .iter()
            .enumerate()
            .map(|(i, u)| {
                Arc::new(Person {
                    name: u.name.clone(),
                    key: format!("JIRAUSER{}", 10000 + i),
                    account_id: u.account_id.clone(),
                    display_name: u.display_name.clone(),
                    email: u.email.clone(),
                })
            })
            .collect();
        Store {
            next_issue_id: 10000,
            next_history_id: 10000,
            next_comment_id: 10000,
            people: users.iter().map(|p| (p.name.clone(), p.clone())).collect(),
            users,
            ..Store::default()
        }
    }

    /// The configured user at `index` (as authenticated).
    pub fn user(&self, index: usize) -> Option<Arc<Person>> {
        self.users.get(index).cloned()
    }

    /// The person called `name`: a configured user, someone seen before, or a new person whose
    /// Cloud account id is `557058:<name>`.
    pub fn person_named(&mut self, name: &str) -> Arc<Person> {
        if let Some(p) = self.people.get(name) {
            return p.clone();
        }
        self.new_person(name, None, None, None, None)
    }

    fn new_person(
        &mut self,
        name: &str,
        key: Option<&str>,
        account_id: Option<&str>,
        display: Option<&str>,
        email: Option<&str>,
    ) -> Arc<Person> {
        let n = self.people.len();
        let p = Arc::new(Person {
            name: name.to_string(),
            key: key
                .map(str::to_string)
                .unwrap_or_else(|| format!("JIRAUSER{}", 20000 + n)),
            account_id: account_id
                .map(str::to_string)
                .unwrap_or_else(|| format!("557058:{name}")),
            display_name: display.unwrap_or(name).to_string(),
            email: email
                .map(str::to_string)
                .unwrap_or_else(|| format!("{name}@example.org")),
        });
        self.people.insert(name.to_string(), p.clone());
        p
    }

    /// The person a seeded user object (or bare name string) stands for. Configured users are
    /// recognised by name, account id or email.
    fn person_from(&mut self, v: &Value) -> Option<Arc<Person>> {
        if let Value::String(s) = v {
            return Some(self.person_named(s));
        }
        let o = v.as_object()?;
        let get = |k: &str| o.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
        let (name, key, account, display, email) = (
            get("name"),
            get("key"),
            get("accountId"),
            get("displayName"),
            get("emailAddress"),
        );
        if let Some(u) = self.users.iter().find(|u| {
            name == Some(u.name.as_str())
                || account == Some(u.account_id.as_str())
                || email.is_some_and(|e| e.eq_ignore_ascii_case(&u.email))
        }) {
            return Some(u.clone());
        }
        let id = name.or(key).or(account).or(display)?;
        if let Some(p) = self.people.get(id) {
            return Some(p.clone());
        }
        Some(self.new_person(id, key, account, display, email))
    }

    /// Look an issue up by key (any case) or numeric id.
    pub fn index_of(&self, key_or_id: &str) -> Option<usize> {
        if let Some(i) = self.by_key.get(&key_or_id.to_ascii_uppercase()) {
            return Some(*i);
        }
        key_or_id
            .parse::<u64>()
            .ok()
            .and_then(|id| self.by_id.get(&id).copied())
    }

    /// Look an issue up by key (any case) or numeric id.
    pub fn get(&self, key_or_id: &str) -> Option<&Arc<Issue>> {
        self.index_of(key_or_id).map(|i| &self.issues[i])
    }

    /// Add seed issues (a replaced key keeps its place). Returns the number added or replaced.
    pub fn add_seeds(&mut self, seeds: Vec<Value>, now: DateTime<Utc>) -> Result<usize, String> {
        // Ids given in the seed win; assigned ids continue above the largest one seen.
        for s in &seeds {
            bump(&mut self.next_issue_id, s.get("id"));
            for h in histories_of(s) {
                bump(&mut self.next_history_id, h.get("id"));
            }
            for c in comments_of(s) {
                bump(&mut self.next_comment_id, c.get("id"));
            }
        }
        let mut parsed = Vec::with_capacity(seeds.len());
        for (n, s) in seeds.into_iter().enumerate() {
            let issue = self
                .parse_seed(s, now)
                .map_err(|e| format!("seed issue #{n}: {e}"))?;
            parsed.push(issue);
        }
        let count = parsed.len();
        for issue in parsed {
            let upper = issue.key.to_ascii_uppercase();
            if let Some(&i) = self.by_key.get(&upper) {
                self.by_id.remove(&self.issues[i].id);
                self.by_id.insert(issue.id, i);
                self.issues[i] = Arc::new(issue);
            } else {
                self.by_key.insert(upper, self.issues.len());
                self.by_id.insert(issue.id, self.issues.len());
                self.issues.push(Arc::new(issue));
            }
        }
        Ok(count)
    }

    fn parse_seed(&mut self, mut s: Value, now: DateTime<Utc>) -> Result<Issue, String> {
        // Histories are moved out of the seed (there may be hundreds of thousands of items).
        let (raw_histories, newest_first) = take_histories(&mut s);
        let s = &s;
        let key = s
            .get("key")
            .and_then(Value::as_str)
            .ok_or("no \"key\"")?
            .to_string();
        let (project, number) =
            jql::parse_key(&key).ok_or_else(|| format!("invalid issue key {key:?}"))?;
        let id = match s.get("id") {
            None | Some(Value::Null) => {
                self.next_issue_id += 1;
                self.next_issue_id - 1
            }
            Some(v) => id_number(v).ok_or_else(|| format!("{key}: invalid id {v}"))?,
        };
        let empty = serde_json::Map::new();
        let fields = match s.get("fields") {
            Some(Value::Object(o)) => o,
            None | Some(Value::Null) => &empty,
            Some(_) => return Err(format!("{key}: \"fields\" is not an object")),
        };
        let str_field = |name: &str| fields.get(name).and_then(Value::as_str);
        let summary = str_field("summary").unwrap_or_default().to_string();
        let status = match fields.get("status") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Object(o)) => o
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("Open")
                .to_string(),
            _ => "Open".to_string(),
        };
        let labels = match fields.get("labels") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|l| l.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| format!("{key}: labels must be strings"))?,
            Some(_) => return Err(format!("{key}: labels must be an array")),
        };

        let mut histories = Vec::new();
        for mut h in raw_histories {
            let created = h
                .get("created")
                .and_then(parse_time_value)
                .ok_or_else(|| format!("{key}: a history without a valid \"created\""))?;
            let id = match h.get("id") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(v) => Some(v.to_string()),
            };
            let author = h.get("author").and_then(|a| self.person_from(a));
            let items = match h.get_mut("items").map(Value::take) {
                Some(Value::Array(a)) => a,
                _ => Vec::new(),
            };
            histories.push((id, author, created, items));
        }
        // Stored oldest first. The order of the input is read from its first and last times; when
        // they are equal, from where the histories came from (see `take_histories`). A
        // newest-first input is reversed before the stable sort so that ties keep their order.
        let reverse = match (histories.first(), histories.last()) {
            (Some(first), Some(last)) if first.2 != last.2 => first.2 > last.2,
            _ => newest_first,
        };
        if reverse {
            histories.reverse();
        }
        histories.sort_by_key(|h| h.2);
        let histories: Vec<History> = histories
            .into_iter()
            .map(|(id, author, created, items)| History {
                id: id.unwrap_or_else(|| {
                    self.next_history_id += 1;
                    (self.next_history_id - 1).to_string()
                }),
                author,
                created,
                items,
            })
            .collect();

        let mut comments = Vec::new();
        for c in comments_of(s) {
            let created = c.get("created").and_then(parse_time_value).unwrap_or(now);
            let updated = c
                .get("updated")
                .and_then(parse_time_value)
                .unwrap_or(created);
            let id = match c.get("id") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => {
                    self.next_comment_id += 1;
                    (self.next_comment_id - 1).to_string()
                }
            };
            let author = c.get("author").and_then(|a| self.person_from(a));
            let body = match c.get("body") {
                Some(Value::String(s)) => s.clone(),
                Some(doc @ Value::Object(_)) => adf_to_text(doc),
                _ => String::new(),
            };
            comments.push(Comment {
                id,
                author,
                body,
                created,
                updated,
            });
        }
        comments.sort_by_key(|c| c.created);

        let first_event = histories.first().map(|h| h.created);
        let created = match fields.get("created") {
            None | Some(Value::Null) => first_event.unwrap_or(now),
            Some(v) => parse_time_value(v).ok_or_else(|| format!("{key}: invalid created {v}"))?,
        };
        let last_event = histories
            .last()
            .map(|h| h.created)
            .into_iter()
            .chain(comments.iter().map(|c| c.updated))
            .max();
        let updated = match fields.get("updated") {
            None | Some(Value::Null) => last_event.unwrap_or(created).max(created),
            Some(v) => parse_time_value(v).ok_or_else(|| format!("{key}: invalid updated {v}"))?,
        };
        let assignee = fields.get("assignee").and_then(|a| self.person_from(a));
        let reporter = fields.get("reporter").and_then(|a| self.person_from(a));
        let components = match fields.get("components") {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|c| match c {
                    Value::String(s) => Some(s.clone()),
                    Value::Object(o) => o.get("name").and_then(Value::as_str).map(str::to_string),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let array = |name: &str| match fields.get(name) {
            Some(v @ Value::Array(_)) => v.clone(),
            _ => json!([]),
        };
        let fix_versions = array("fixVersions");
        let issuelinks = array("issuelinks");
        let issuetype = fields.get("issuetype").filter(|v| v.is_object()).cloned();
        const KNOWN: &[&str] = &[
            "summary",
            "status",
            "labels",
            "created",
            "updated",
            "assignee",
            "reporter",
            "components",
            "fixVersions",
            "issuelinks",
            "issuetype",
            "project",
            "comment",
        ];
        let extra = fields
            .iter()
            .filter(|(k, _)| !KNOWN.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let next_project = 10000 + self.projects.len() as u64;
        let project_id = *self.projects.entry(project.clone()).or_insert(next_project);
        Ok(Issue {
            id,
            key,
            project,
            number,
            project_id,
            summary,
            status,
            labels,
            created,
            updated,
            assignee,
            reporter,
            components,
            fix_versions,
            issuelinks,
            issuetype,
            extra,
            histories,
            comments,
            former_keys: Vec::new(),
        })
    }

    /// Delete an issue, as Jira does: its key (and any former key) is unknown from then on.
    /// Returns whether there was one.
    pub fn delete(&mut self, key: &str) -> bool {
        let Some(i) = self.index_of(key) else {
            return false;
        };
        self.issues.remove(i);
        self.by_key.clear();
        self.by_id.clear();
        for (n, issue) in self.issues.iter().enumerate() {
            self.by_key.insert(issue.key.to_ascii_uppercase(), n);
            for (p, num) in &issue.former_keys {
                self.by_key.insert(format!("{p}-{num}"), n);
            }
            self.by_id.insert(issue.id, n);
        }
        true
    }

    /// Move an issue to `project` as `author` at `now`: it takes the project's next number,
    /// records the change of key and project in its changelog, and keeps answering its old key.
    /// Returns the new key; `None` when there is no such issue.
    pub fn move_to(
        &mut self,
        key: &str,
        project: &str,
        author: Option<Arc<Person>>,
        now: DateTime<Utc>,
    ) -> Option<String> {
        let i = self.index_of(key)?;
        let project = project.to_ascii_uppercase();
        let number = self
            .issues
            .iter()
            .filter(|x| x.project == project)
            .map(|x| x.number)
            .max()
            .unwrap_or(0)
            + 1;
        let next_project = 10000 + self.projects.len() as u64;
        let project_id = *self.projects.entry(project.clone()).or_insert(next_project);
        let new_key = format!("{project}-{number}");
        let old_key = self.issues[i].key.clone();
        let old_project = self.issues[i].project.clone();
        let id = self.next_history_id();
        let issue = Arc::make_mut(&mut self.issues[i]);
        issue.histories.push(History {
            id,
            author,
            created: now,
            items: vec![
                change_item("Key", &old_key, &new_key),
                change_item("project", &old_project, &project),
            ],
        });
        issue.updated = now;
        issue
            .former_keys
            .push((issue.project.clone(), issue.number));
        issue.key = new_key.clone();
        issue.project = project;
        issue.number = number;
        issue.project_id = project_id;
        self.by_key.insert(new_key.clone(), i);
        Some(new_key)
    }

    /// Apply label operations to an issue as `author` at `now`: records one history (the whole
    /// set before and after, space-joined) and bumps `updated` when the set changed. Returns
    /// whether it changed; `None` when there is no such issue.
    pub fn edit_labels(
        &mut self,
        key: &str,
        ops: &[LabelOp],
        author: Option<Arc<Person>>,
        now: DateTime<Utc>,
    ) -> Option<bool> {
        let i = self.index_of(key)?;
        let old = self.issues[i].labels.clone();
        let mut new = old.clone();
        for op in ops {
            match op {
                LabelOp::Set(v) => {
                    new.clear();
                    for l in v {
                        if !new.contains(l) {
                            new.push(l.clone());
                        }
                    }
                }
                LabelOp::Add(l) => {
                    if !new.contains(l) {
                        new.push(l.clone());
                    }
                }
                LabelOp::Remove(l) => new.retain(|x| x != l),
            }
        }
        let mut a = old.clone();
        let mut b = new.clone();
        a.sort();
        b.sort();
        if a == b {
            return Some(false);
        }
        let item = change_item("labels", &old.join(" "), &new.join(" "));
        self.record_change(i, item, author, now).labels = new;
        Some(true)
    }

    /// Append a one-item history to issue `i` and bump its `updated`; returns the issue to edit.
    fn record_change(
        &mut self,
        i: usize,
        item: Value,
        author: Option<Arc<Person>>,
        now: DateTime<Utc>,
    ) -> &mut Issue {
        let id = self.next_history_id();
        let issue = Arc::make_mut(&mut self.issues[i]);
        issue.histories.push(History {
            id,
            author,
            created: now,
            items: vec![item],
        });
        issue.updated = now;
        issue
    }

    /// Set the summary (recording a history) as `author` at `now`.
    pub fn edit_summary(
        &mut self,
        key: &str,
        summary: &str,
        author: Option<Arc<Person>>,
        now: DateTime<Utc>,
    ) -> Option<bool> {
        let i = self.index_of(key)?;
        if self.issues[i].summary == summary {
            return Some(false);
        }
        let item = change_item("summary", &self.issues[i].summary, summary);
        self.record_change(i, item, author, now).summary = summary.to_string();
        Some(true)
    }

    /// Add a comment; bumps `updated`.
    pub fn add_comment(
        &mut self,
        key: &str,
        body: String,
        author: Option<Arc<Person>>,
        now: DateTime<Utc>,
    ) -> Option<Comment> {
        let i = self.index_of(key)?;
        self.next_comment_id += 1;
        let comment = Comment {
            id: (self.next_comment_id - 1).to_string(),
            author,
            body,
            created: now,
            updated: now,
        };
        let issue = Arc::make_mut(&mut self.issues[i]);
        issue.comments.push(comment.clone());
        issue.updated = now;
        Some(comment)
    }

    /// Delete a comment: `None` when the issue is not there, `Some(false)` when the comment
    /// is not.
    pub fn remove_comment(&mut self, key: &str, id: &str, now: DateTime<Utc>) -> Option<bool> {
        let i = self.index_of(key)?;
        let issue = Arc::make_mut(&mut self.issues[i]);
        let before = issue.comments.len();
        issue.comments.retain(|c| c.id != id);
        let removed = issue.comments.len() != before;
        if removed {
            issue.updated = now;
        }
        Some(removed)
    }

    fn next_history_id(&mut self) -> String {
        self.next_history_id += 1;
        (self.next_history_id - 1).to_string()
    }
}

/// Raise a counter above a numeric id found in a seed.
fn bump(counter: &mut u64, id: Option<&Value>) {
    if let Some(n) = id.and_then(id_number) {
        *counter = (*counter).max(n.saturating_add(1));
    }
}

fn id_number(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

fn histories_of(s: &Value) -> impl Iterator<Item = &Value> {
    let c = s.get("changelog");
    let list = match c {
        Some(Value::Array(a)) => Some(a),
        Some(Value::Object(o)) => o
            .get("histories")
            .or_else(|| o.get("values"))
            .and_then(Value::as_array),
        _ => None,
    };
    list.into_iter().flatten()
}

/// Move the histories out of a seed issue. The flag tells the order to assume when their times
/// cannot: `changelog.histories` is newest first (as Jira embeds it), `changelog.values` (a
/// changelog page) and a bare array oldest first.
fn take_histories(s: &mut Value) -> (Vec<Value>, bool) {
    let (list, newest_first) = match s.get_mut("changelog") {
        Some(Value::Array(a)) => (Some(a), false),
        Some(Value::Object(o)) => match o.get_mut("histories") {
            Some(Value::Array(a)) => (Some(a), true),
            _ => (o.get_mut("values").and_then(Value::as_array_mut), false),
        },
        _ => (None, false),
    };
    (list.map(std::mem::take).unwrap_or_default(), newest_first)
}

fn comments_of(s: &Value) -> impl Iterator<Item = &Value> {
    let c = s.get("fields").and_then(|f| f.get("comment"));
    let list = match c {
        Some(Value::Array(a)) => Some(a),
        Some(Value::Object(o)) => o.get("comments").and_then(Value::as_array),
        _ => None,
    };
    list.into_iter().flatten()
}

/// The issues of a seed document: an array of issues, a search page `{"issues": [...]}`, or a
/// single issue object.
pub(crate) fn seed_list(doc: Value) -> Result<Vec<Value>, String> {
    match doc {
        Value::Array(a) => Ok(a),
        Value::Object(mut o) => match o.remove("issues") {
            Some(Value::Array(a)) => Ok(a),
            Some(_) => Err("\"issues\" is not an array".into()),
            None if o.contains_key("key") => Ok(vec![Value::Object(o)]),
            None => Err("expected an array of issues or an object with \"issues\"".into()),
        },
        _ => Err("expected an array of issues or an object with \"issues\"".into()),
    }
}

/// A changelog item in Jira's shape (`from`/`to` are ids Jira leaves null for these fields).
fn change_item(field: &str, from: &str, to: &str) -> Value {
    json!({
        "field": field,
        "fieldtype": "jira",
        "fieldId": field,
        "from": null,
        "fromString": from,
        "to": null,
        "toString": to,
    })
}

/// Parse a timestamp: Jira's `2026-11-24T07:00:00.000-0500`, or RFC 3339.
pub(crate) use portcullis_core::time::parse_tracker_time as parse_time;

use portcullis_trackers::jira::wire::time_value as parse_time_value;

/// Format like Jira: `2026-11-24T07:00:00.000-0500` (milliseconds, no colon in the offset).
pub(crate) fn fmt_time(t: DateTime<Utc>, zone: FixedOffset) -> String {
    JiraTime(t, zone).to_string()
}

/// [`fmt_time`] as a `Display`, to write timestamps without allocating.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JiraTime(pub DateTime<Utc>, pub FixedOffset);

impl std::fmt::Display for JiraTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use chrono::Datelike;
        let local = self.0.with_timezone(&self.1).naive_local();
        let offset = self.1.local_minus_utc() / 60;
        let (sign, offset) = if offset < 0 {
            ('-', -offset)
        } else {
            ('+', offset)
        };
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}{}{:02}{:02}",
            local.year(),
            local.month(),
            local.day(),
            local.hour(),
            local.minute(),
            local.second(),
            local.nanosecond() / 1_000_000 % 1000,
            sign,
            offset / 60,
            offset % 60
        )
    }
}

/// An IANA-style zone name for a fixed offset (`Etc/GMT+5` is five hours *behind* UTC).
pub(crate) fn zone_name(offset_minutes: i32) -> String {
    if offset_minutes == 0 || offset_minutes % 60 != 0 {
        return "UTC".into();
    }
    let hours = -offset_minutes / 60;
    if hours > 0 {
        format!("Etc/GMT+{hours}")
    } else {
        format!("Etc/GMT{hours}")
    }
}

/// The plain text of an Atlassian Document Format document: text nodes concatenated, blocks
/// (paragraphs, headings, list items…) separated by newlines, `hardBreak` as a newline.
pub(crate) fn adf_to_text(doc: &Value) -> String {
    fn walk(v: &Value, out: &mut String, first: &mut bool) {
        let Some(o) = v.as_object() else { return };
        match o.get("type").and_then(Value::as_str).unwrap_or("") {
            "text" => out.push_str(o.get("text").and_then(Value::as_str).unwrap_or("")),
            "hardBreak" => out.push('\n'),
            kind => {
                if matches!(kind, "paragraph" | "heading" | "codeBlock") {
                    if !*first {
                        out.push('\n');
                    }
                    *first = false;
                }
                for c in o
                    .get("content")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    walk(c, out, first);
                }
            }
        }
    }
    let mut out = String::new();
    walk(doc, &mut out, &mut true);
    out
}

/// A minimal Atlassian Document Format document for plain text: one paragraph per line.
pub(crate) fn text_to_adf(text: &str) -> Value {
    let paragraphs: Vec<Value> = text
        .split('\n')
        .map(|line| {
            if line.is_empty() {
                json!({"type": "paragraph", "content": []})
            } else {
                json!({"type": "paragraph", "content": [{"type": "text", "text": line}]})
            }
        })
        .collect();
    json!({"type": "doc", "version": 1, "content": paragraphs})
}

/// Whether a value is an Atlassian Document Format document (`{"type":"doc", "version":1, …}`).
pub(crate) fn is_adf(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("doc")
        && v.get("content").is_some_and(Value::is_array)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jira_time_format_round_trips() {
        let t = parse_time("2026-11-24T12:00:00.123Z").expect("rfc3339");
        let zone = FixedOffset::west_opt(5 * 3600).expect("zone");
        let s = fmt_time(t, zone);
        assert_eq!(s, "2026-11-24T07:00:00.123-0500");
        assert_eq!(parse_time(&s), Some(t));
        for (text, want) in [
            ("2026-11-24T07:00:00.123-05:00", "2026-11-24T12:00:00.123Z"),
            ("2026-11-24T12:00:00Z", "2026-11-24T12:00:00Z"),
            ("2026-11-24T13:30:00+0130", "2026-11-24T12:00:00Z"),
            ("2026-11-24T12:00:00.5+00:00", "2026-11-24T12:00:00.500Z"),
        ] {
            let want = DateTime::parse_from_rfc3339(want).expect("rfc3339");
            assert_eq!(parse_time(text), Some(want.with_timezone(&Utc)), "{text}");
        }
        assert_eq!(parse_time("2026-11-24"), None);
        assert_eq!(parse_time("2026-13-24T12:00:00Z"), None);
        let plus = FixedOffset::east_opt(5 * 3600 + 30 * 60).expect("zone");
        assert_eq!(fmt_time(t, plus), "2026-11-24T17:30:00.123+0530");
        assert_eq!(zone_name(-300), "Etc/GMT+5");
        assert_eq!(zone_name(120), "Etc/GMT-2");
    }

    #[test]
    fn adf_text_round_trip() {
        for text in ["one line", "two\nlines", "gap\n\nline"] {
            assert_eq!(adf_to_text(&text_to_adf(text)), text);
        }
        let doc = json!({"type":"doc","version":1,"content":[
            {"type":"paragraph","content":[{"type":"text","text":"a "},{"type":"text","text":"b"},
                {"type":"hardBreak"},{"type":"text","text":"c"}]},
            {"type":"paragraph","content":[{"type":"text","text":"d"}]}]});
        assert_eq!(adf_to_text(&doc), "a b\nc\nd");
    }
}
