//! The server's data: repositories with their label catalogs, issues and pull requests with
//! their timelines, the people who appear in them, and reading seed issues.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::User;

/// A GitHub account as the server knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Person {
    pub login: String,
    pub id: u64,
    /// `User` or `Bot` (logins ending in `[bot]`).
    pub kind: &'static str,
}

/// A label of a repository's catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LabelDef {
    pub id: u64,
    pub name: String,
    pub color: String,
    pub description: Option<String>,
    pub default: bool,
}

/// What happened in one timeline entry.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    /// `labeled` (added) or `unlabeled`; the name and color as they were at the time.
    Label {
        added: bool,
        name: String,
        color: String,
    },
    /// `commented`.
    Comment {
        body: String,
        updated_at: DateTime<Utc>,
    },
    /// `merged`, with the merge commit.
    Merged { sha: Option<String> },
    /// `closed`.
    Closed,
    /// Any other seeded event, served verbatim.
    Raw(Value),
}

/// One timeline entry (an issue event or a comment).
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub id: u64,
    pub at: DateTime<Utc>,
    pub actor: Arc<Person>,
    pub kind: Kind,
}

impl Entry {
    /// The event name, as the timeline and events APIs call it.
    pub fn event_name(&self) -> String {
        match &self.kind {
            Kind::Label { added: true, .. } => "labeled".into(),
            Kind::Label { added: false, .. } => "unlabeled".into(),
            Kind::Comment { .. } => "commented".into(),
            Kind::Merged { .. } => "merged".into(),
            Kind::Closed => "closed".into(),
            Kind::Raw(v) => v
                .get("event")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_string(),
        }
    }
}

/// One commit of a pull request.
#[derive(Debug, Clone)]
pub(crate) struct Commit {
    pub sha: String,
    pub message: String,
    pub author: Arc<Person>,
    pub date: DateTime<Utc>,
    pub parents: Vec<String>,
}

/// The pull-request side of an issue.
#[derive(Debug, Clone)]
pub(crate) struct Pull {
    pub id: u64,
    pub head_ref: String,
    pub head_sha: String,
    pub base_ref: String,
    pub base_sha: String,
    pub merge_commit_sha: Option<String>,
    pub merged_at: Option<DateTime<Utc>>,
    pub merged_by: Option<Arc<Person>>,
    pub draft: bool,
    pub commits: Vec<Commit>,
}

/// One issue or pull request.
#[derive(Debug, Clone)]
pub(crate) struct Issue {
    pub id: u64,
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub user: Arc<Person>,
    /// `open` or `closed`.
    pub state: String,
    pub state_reason: Option<String>,
    pub locked: bool,
    /// Names as in the repository's catalog, in the order they were added.
    pub labels: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Oldest first.
    pub entries: Vec<Entry>,
    pub pull: Option<Pull>,
}

impl Issue {
    /// The comments, oldest first.
    pub fn comments(&self) -> impl Iterator<Item = &Entry> {
        self.entries
            .iter()
            .filter(|e| matches!(e.kind, Kind::Comment { .. }))
    }

    fn has_label(&self, name: &str) -> Option<usize> {
        self.labels
            .iter()
            .position(|l| l.eq_ignore_ascii_case(name))
    }
}

/// One repository.
#[derive(Debug, Clone)]
pub(crate) struct Repo {
    pub id: u64,
    pub owner: Arc<Person>,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub labels: Vec<LabelDef>,
    pub issues: BTreeMap<u64, Issue>,
    /// Check states (`pending`, `success`, `failure`, `error`) by branch name or commit.
    pub checks: BTreeMap<String, String>,
}

impl Repo {
    /// `owner/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner.login, self.name)
    }

    /// The catalog entry of a label (any case).
    pub fn label(&self, name: &str) -> Option<&LabelDef> {
        self.labels
            .iter()
            .find(|l| l.name.eq_ignore_ascii_case(name))
    }
}

/// Labels to add and remove in one edit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LabelEdit<'a> {
    pub add: &'a [String],
    pub remove: &'a [String],
    /// Removing a label the issue does not carry fails (`NoLabel`) before anything changes.
    pub strict: bool,
}

/// Why a label edit failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EditError {
    NoIssue,
    NoLabel,
}

/// A pull request to open.
#[derive(Debug, Clone)]
pub(crate) struct NewPull {
    pub title: String,
    pub body: Option<String>,
    pub head: String,
    pub base: String,
    /// The head commit, when the caller knows it (else derived from the branch name).
    pub head_sha: Option<String>,
    /// The base branch's tip, when known.
    pub base_sha: Option<String>,
    /// The commits, when known.
    pub commits: Vec<Commit>,
    pub draft: bool,
    pub actor: Arc<Person>,
}

/// Why a pull request could not be opened or merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PullError {
    NoRepo,
    NoPull,
    /// An open pull request from the same head into the same base: its number.
    Exists(u64),
    /// Merged or closed already.
    NotMergeable,
}

/// Everything the server knows.
#[derive(Debug)]
pub(crate) struct Store {
    /// By lower-cased `owner/name`.
    pub repos: BTreeMap<String, Repo>,
    /// By lower-cased login.
    people: HashMap<String, Arc<Person>>,
    /// The configured users, by index.
    users: Vec<Arc<Person>>,
    next_person: u64,
    next_repo: u64,
    next_id: u64,
}

/// A fake but stable 40-hex-digit SHA derived from `seed`.
pub(crate) fn fake_sha(seed: &str) -> String {
    let mut h = Sha256::new();
    h.update(seed.as_bytes());
    let mut s = hex::encode(h.finalize());
    s.truncate(40);
    s
}

/// A label color derived from its name (6 hex digits, no `#`).
pub(crate) fn default_color(name: &str) -> String {
    fake_sha(&format!("label:{name}"))[..6].to_string()
}

/// GitHub's timestamp format: `2022-04-13T20:49:34Z`.
pub(crate) fn fmt_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Parse an ISO 8601 timestamp with a zone (`Z`, `+02:00`), or a bare date (midnight UTC).
pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
}

fn fallback_time() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default()
}

fn login_of(v: Option<&Value>) -> Option<&str> {
    match v? {
        Value::String(s) => Some(s.as_str()),
        Value::Object(o) => o.get("login").and_then(Value::as_str),
        _ => None,
    }
}

fn time_of(v: Option<&Value>) -> Result<Option<DateTime<Utc>>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => parse_time(s)
            .map(Some)
            .ok_or_else(|| format!("invalid time {s:?}")),
        Some(other) => Err(format!("invalid time {other}")),
    }
}

fn str_of<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

impl Store {
    /// A store knowing the configured users (with their ids) and nothing else.
    pub fn new(users: &[User]) -> Store {
        let mut store = Store {
            repos: BTreeMap::new(),
            people: HashMap::new(),
            users: Vec::new(),
            next_person: 100_001,
            next_repo: 500_001,
            next_id: 1_000_001,
        };
        for u in users {
            let p = Arc::new(Person {
                login: u.login.clone(),
                id: u.id,
                kind: if u.login.ends_with("[bot]") {
                    "Bot"
                } else {
                    "User"
                },
            });
            store
                .people
                .entry(u.login.to_ascii_lowercase())
                .or_insert_with(|| p.clone());
            store.users.push(p);
        }
        store
    }

    fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// The configured user at `index`.
    pub fn user(&self, index: usize) -> Option<Arc<Person>> {
        self.users.get(index).cloned()
    }

    /// The person with this login (any case), created on first mention.
    pub fn person(&mut self, login: &str) -> Arc<Person> {
        let key = login.to_ascii_lowercase();
        if let Some(p) = self.people.get(&key) {
            return p.clone();
        }
        let p = Arc::new(Person {
            login: login.to_string(),
            id: self.next_person,
            kind: if login.ends_with("[bot]") {
                "Bot"
            } else {
                "User"
            },
        });
        self.next_person += 1;
        self.people.insert(key, p.clone());
        p
    }

    /// The repository `owner/name` (any case).
    pub fn repo(&self, full: &str) -> Option<&Repo> {
        self.repos.get(&full.to_ascii_lowercase())
    }

    /// The repository `owner/name` (any case), mutable.
    pub fn repo_mut(&mut self, full: &str) -> Option<&mut Repo> {
        self.repos.get_mut(&full.to_ascii_lowercase())
    }

    /// The full name of the repository with this id.
    pub fn repo_by_id(&self, id: u64) -> Option<String> {
        self.repos
            .values()
            .find(|r| r.id == id)
            .map(Repo::full_name)
    }

    /// The repository `owner/name`, created if new.
    pub fn ensure_repo(&mut self, full: &str, now: DateTime<Utc>) -> Result<String, String> {
        let key = full.to_ascii_lowercase();
        if self.repos.contains_key(&key) {
            return Ok(key);
        }
        let (owner, name) = full
            .split_once('/')
            .filter(|(o, n)| !o.is_empty() && !n.is_empty() && !n.contains('/'))
            .ok_or_else(|| format!("invalid repository {full:?}: expected owner/name"))?;
        let owner = self.person(owner);
        let id = self.next_repo;
        self.next_repo += 1;
        self.repos.insert(
            key.clone(),
            Repo {
                id,
                owner,
                name: name.to_string(),
                created_at: now.min(fallback_time()),
                labels: Vec::new(),
                issues: BTreeMap::new(),
                checks: BTreeMap::new(),
            },
        );
        Ok(key)
    }

    /// The catalog name of a label, created (with `color` or a derived one) if new.
    fn ensure_label(
        &mut self,
        repo_key: &str,
        name: &str,
        color: Option<&str>,
        description: Option<&str>,
        default: Option<bool>,
    ) -> String {
        let exists = self
            .repos
            .get(repo_key)
            .is_some_and(|r| r.label(name).is_some());
        let id = if exists { 0 } else { self.next_id() };
        let Some(repo) = self.repos.get_mut(repo_key) else {
            return name.to_string();
        };
        if let Some(l) = repo
            .labels
            .iter_mut()
            .find(|l| l.name.eq_ignore_ascii_case(name))
        {
            // A seed may know more than an earlier mention did.
            if let Some(d) = description {
                if l.description.is_none() {
                    l.description = Some(d.to_string());
                }
            }
            if let Some(d) = default {
                l.default = l.default || d;
            }
            return l.name.clone();
        }
        repo.labels.push(LabelDef {
            id,
            name: name.to_string(),
            color: color
                .map(|c| c.trim_start_matches('#').to_string())
                .unwrap_or_else(|| default_color(name)),
            description: description.map(str::to_string),
            default: default.unwrap_or(false),
        });
        name.to_string()
    }

    /// Add (or replace, by repository and number) seed issues; returns how many.
    pub fn add_seeds(&mut self, seeds: &[Value], now: DateTime<Utc>) -> Result<usize, String> {
        for (i, s) in seeds.iter().enumerate() {
            self.add_seed(s, now)
                .map_err(|e| format!("seed issue #{}: {e}", i + 1))?;
        }
        Ok(seeds.len())
    }

    fn add_seed(&mut self, v: &Value, now: DateTime<Utc>) -> Result<(), String> {
        let o = v.as_object().ok_or("not a JSON object")?;
        let full = match o.get("repository") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Object(r)) => r
                .get("full_name")
                .and_then(Value::as_str)
                .ok_or("repository without full_name")?
                .to_string(),
            _ => o
                .get("repository_url")
                .and_then(Value::as_str)
                .and_then(|u| u.split_once("/repos/"))
                .map(|(_, rest)| rest.trim_end_matches('/').to_string())
                .ok_or("no repository: give \"repository\": \"owner/name\" or a repository_url")?,
        };
        let number = o
            .get("number")
            .and_then(Value::as_u64)
            .filter(|n| *n > 0)
            .ok_or("no positive \"number\"")?;
        let repo_key = self.ensure_repo(&full, now)?;
        let title = o
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let body = o.get("body").and_then(Value::as_str).map(str::to_string);

        // The timeline first: it gives times when the issue itself does not.
        let mut entries: Vec<Entry> = Vec::new();
        let timeline = match o.get("timeline") {
            None | Some(Value::Null) => &[][..],
            Some(Value::Array(a)) => a.as_slice(),
            Some(_) => return Err("\"timeline\" must be an array".into()),
        };
        for (k, e) in timeline.iter().enumerate() {
            let entry = self
                .seed_entry(&repo_key, e)
                .map_err(|m| format!("timeline event #{}: {m}", k + 1))?;
            entries.push(entry);
        }
        entries.sort_by_key(|e| e.at);

        let created_at = time_of(o.get("created_at"))?
            .or_else(|| entries.first().map(|e| e.at))
            .unwrap_or_else(fallback_time);
        let login = login_of(o.get("user"))
            .map(str::to_string)
            .or_else(|| entries.first().map(|e| e.actor.login.clone()))
            .unwrap_or_else(|| "octocat".to_string());
        let user = self.person(&login);

        let labels: Vec<String> = match o.get("labels") {
            Some(Value::Array(list)) => {
                let mut names = Vec::new();
                for l in list {
                    let name = match l {
                        Value::String(s) => self.ensure_label(&repo_key, s, None, None, None),
                        Value::Object(m) => {
                            let name = m
                                .get("name")
                                .and_then(Value::as_str)
                                .ok_or("a label without a name")?;
                            self.ensure_label(
                                &repo_key,
                                name,
                                m.get("color").and_then(Value::as_str),
                                m.get("description").and_then(Value::as_str),
                                m.get("default").and_then(Value::as_bool),
                            )
                        }
                        _ => return Err("labels must be names or label objects".into()),
                    };
                    if !names.iter().any(|n: &String| n.eq_ignore_ascii_case(&name)) {
                        names.push(name);
                    }
                }
                names
            }
            None | Some(Value::Null) => {
                // Replay the label events.
                let mut names: Vec<String> = Vec::new();
                for e in &entries {
                    if let Kind::Label { added, name, .. } = &e.kind {
                        let at = names.iter().position(|n| n.eq_ignore_ascii_case(name));
                        match (added, at) {
                            (true, None) => names.push(name.clone()),
                            (false, Some(i)) => {
                                names.remove(i);
                            }
                            _ => {}
                        }
                    }
                }
                names
            }
            Some(_) => return Err("\"labels\" must be an array".into()),
        };

        let pull_obj = o.get("pull").filter(|p| p.is_object());
        let is_pr = pull_obj.is_some() || o.get("pull_request").is_some_and(Value::is_object);
        let last_at = entries.iter().map(|e| e.at).max();
        let mut updated_at = time_of(o.get("updated_at"))?
            .or(last_at)
            .unwrap_or(created_at)
            .max(created_at);
        let pull = if is_pr {
            let p = pull_obj.cloned().unwrap_or(Value::Null);
            let merged_at = time_of(p.get("merged_at"))?.or(time_of(
                o.get("pull_request").and_then(|pr| pr.get("merged_at")),
            )?);
            let merge_commit_sha = str_of(&p, &["merge_commit_sha"]).map(str::to_string);
            let merged_flag = p.get("merged").and_then(Value::as_bool);
            let merged_at = match (merged_at, merged_flag) {
                (Some(t), _) => Some(t),
                (None, Some(true)) => Some(updated_at),
                _ => None,
            };
            let merged_by = login_of(p.get("merged_by")).map(|l| self.person(l));
            let head_ref = str_of(&p, &["head", "ref"])
                .map(str::to_string)
                .unwrap_or_else(|| format!("pr-{number}"));
            let base_ref = str_of(&p, &["base", "ref"]).unwrap_or("main").to_string();
            let base_sha = str_of(&p, &["base", "sha"])
                .map(str::to_string)
                .unwrap_or_else(|| fake_sha(&format!("{full}#{number}:base")));
            let commits_v = match o.get("commits") {
                Some(Value::Array(a)) => a.as_slice(),
                _ => &[][..],
            };
            let mut commits = Vec::new();
            let mut parent = base_sha.clone();
            for (k, c) in commits_v.iter().enumerate() {
                let sha = c
                    .get("sha")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("commit #{} without sha", k + 1))?
                    .to_string();
                let message = str_of(c, &["commit", "message"])
                    .or_else(|| str_of(c, &["message"]))
                    .unwrap_or_default()
                    .to_string();
                let author = login_of(c.get("author"))
                    .map(str::to_string)
                    .unwrap_or_else(|| user.login.clone());
                let author = self.person(&author);
                let date = time_of(
                    c.get("commit")
                        .and_then(|m| m.get("author"))
                        .and_then(|a| a.get("date")),
                )?
                .unwrap_or(created_at);
                let parents = match c.get("parents") {
                    Some(Value::Array(ps)) => ps
                        .iter()
                        .filter_map(|p| p.get("sha").and_then(Value::as_str))
                        .map(str::to_string)
                        .collect(),
                    _ => vec![parent.clone()],
                };
                parent = sha.clone();
                commits.push(Commit {
                    sha,
                    message,
                    author,
                    date,
                    parents,
                });
            }
            let head_sha = str_of(&p, &["head", "sha"])
                .map(str::to_string)
                .or_else(|| commits.last().map(|c| c.sha.clone()))
                .unwrap_or_else(|| fake_sha(&format!("{full}#{number}:head")));
            let id = p.get("id").and_then(Value::as_u64);
            let id = id.unwrap_or_else(|| self.next_id());
            Some(Pull {
                id,
                head_ref,
                head_sha,
                base_ref,
                base_sha,
                merge_commit_sha,
                merged_at,
                merged_by,
                draft: p.get("draft").and_then(Value::as_bool).unwrap_or(false),
                commits,
            })
        } else {
            None
        };
        let merged_at = pull.as_ref().and_then(|p| p.merged_at);
        if let Some(m) = merged_at {
            updated_at = updated_at.max(m);
        }
        let state = match o.get("state").and_then(Value::as_str) {
            Some(s) if s.eq_ignore_ascii_case("closed") => "closed",
            Some(s) if s.eq_ignore_ascii_case("open") => "open",
            Some(s) => return Err(format!("invalid state {s:?}")),
            None if merged_at.is_some() => "closed",
            None => "open",
        };
        let closed_at = if state == "closed" {
            Some(
                time_of(o.get("closed_at"))?
                    .or(merged_at)
                    .unwrap_or(updated_at),
            )
        } else {
            None
        };
        self.complete_timeline(&mut entries, &user, pull.as_ref(), closed_at);
        let id = match o.get("id").and_then(Value::as_u64) {
            Some(id) => id,
            None => self.next_id(),
        };
        let issue = Issue {
            id,
            number,
            title,
            body,
            user,
            state: state.to_string(),
            state_reason: o
                .get("state_reason")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| (state == "closed" && !is_pr).then(|| "completed".to_string())),
            locked: o.get("locked").and_then(Value::as_bool).unwrap_or(false),
            labels,
            created_at,
            updated_at,
            closed_at,
            entries,
            pull,
        };
        if let Some(repo) = self.repos.get_mut(&repo_key) {
            repo.issues.insert(number, issue);
        }
        Ok(())
    }

    /// What GitHub's timeline always has and a seed may leave out: a merged pull request's
    /// `merged` event (at `merged_at`, by `merged_by`, with the merge commit) and a closed
    /// issue's `closed` event (at `closed_at`).
    fn complete_timeline(
        &mut self,
        entries: &mut Vec<Entry>,
        author: &Arc<Person>,
        pull: Option<&Pull>,
        closed_at: Option<DateTime<Utc>>,
    ) {
        let has = |entries: &[Entry], name: &str| entries.iter().any(|e| e.event_name() == name);
        if let Some(p) = pull {
            if let (Some(at), false) = (p.merged_at, has(entries, "merged")) {
                entries.push(Entry {
                    id: self.next_id(),
                    at,
                    actor: p.merged_by.clone().unwrap_or_else(|| author.clone()),
                    kind: Kind::Merged {
                        sha: p.merge_commit_sha.clone(),
                    },
                });
            }
        }
        if let (Some(at), false) = (closed_at, has(entries, "closed")) {
            let actor = pull
                .and_then(|p| p.merged_by.clone())
                .unwrap_or_else(|| author.clone());
            entries.push(Entry {
                id: self.next_id(),
                at,
                actor,
                kind: Kind::Closed,
            });
        }
        entries.sort_by_key(|e| e.at);
    }

    fn seed_entry(&mut self, repo_key: &str, e: &Value) -> Result<Entry, String> {
        let event = e
            .get("event")
            .and_then(Value::as_str)
            .ok_or("no \"event\"")?;
        let at = time_of(e.get("created_at"))?;
        let id = match e.get("id").and_then(Value::as_u64) {
            Some(id) => id,
            None => self.next_id(),
        };
        let actor_login = login_of(e.get("actor"))
            .or_else(|| login_of(e.get("user")))
            .unwrap_or("ghost")
            .to_string();
        let actor = self.person(&actor_login);
        let kind = match event {
            "labeled" | "unlabeled" => {
                let (name, color) = match e.get("label") {
                    Some(Value::String(s)) => (s.as_str(), None),
                    Some(Value::Object(m)) => (
                        m.get("name")
                            .and_then(Value::as_str)
                            .ok_or("a label without a name")?,
                        m.get("color").and_then(Value::as_str),
                    ),
                    _ => return Err(format!("a {event} event without a label")),
                };
                let name = self.ensure_label(repo_key, name, color, None, None);
                let color = color.map(str::to_string).unwrap_or_else(|| {
                    self.repos
                        .get(repo_key)
                        .and_then(|r| r.label(&name))
                        .map(|l| l.color.clone())
                        .unwrap_or_else(|| default_color(&name))
                });
                Kind::Label {
                    added: event == "labeled",
                    name,
                    color,
                }
            }
            "commented" => {
                let body = e
                    .get("body")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let created = at.ok_or("a comment without created_at")?;
                Kind::Comment {
                    body,
                    updated_at: time_of(e.get("updated_at"))?.unwrap_or(created),
                }
            }
            "merged" => Kind::Merged {
                sha: e
                    .get("commit_id")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            },
            "closed" => Kind::Closed,
            _ => Kind::Raw(e.clone()),
        };
        let at = match (&kind, at) {
            (_, Some(t)) => t,
            (Kind::Raw(v), None) => time_of(v.get("submitted_at"))?
                .or(time_of(
                    v.get("committer")
                        .or_else(|| v.get("author"))
                        .and_then(|c| c.get("date")),
                )?)
                .unwrap_or_else(fallback_time),
            (_, None) => return Err(format!("a {event} event without created_at")),
        };
        Ok(Entry {
            id,
            at,
            actor,
            kind,
        })
    }

    /// Add and remove labels on an issue as `actor` at `now`, recording `labeled` /
    /// `unlabeled` events and bumping `updated_at` if anything changed. With `strict`, removing
    /// a label the issue does not carry fails (`NoLabel`) before anything changes.
    pub fn edit_labels(
        &mut self,
        repo: &str,
        number: u64,
        edit: LabelEdit<'_>,
        actor: Arc<Person>,
        now: DateTime<Utc>,
    ) -> Result<bool, EditError> {
        let LabelEdit {
            add,
            remove,
            strict,
        } = edit;
        let key = repo.to_ascii_lowercase();
        let issue = self
            .repos
            .get(&key)
            .and_then(|r| r.issues.get(&number))
            .ok_or(EditError::NoIssue)?;
        if strict && remove.iter().any(|l| issue.has_label(l).is_none()) {
            return Err(EditError::NoLabel);
        }
        let names: Vec<String> = add
            .iter()
            .map(|l| self.ensure_label(&key, l, None, None, None))
            .collect();
        let mut new_ids = Vec::new();
        for _ in 0..(names.len() + remove.len()) {
            new_ids.push(self.next_id());
        }
        let repo = self.repos.get_mut(&key).ok_or(EditError::NoIssue)?;
        let colors: HashMap<String, String> = repo
            .labels
            .iter()
            .map(|l| (l.name.to_ascii_lowercase(), l.color.clone()))
            .collect();
        let issue = repo.issues.get_mut(&number).ok_or(EditError::NoIssue)?;
        let mut ids = new_ids.into_iter();
        let mut changed = false;
        let color_of = |n: &str| {
            colors
                .get(&n.to_ascii_lowercase())
                .cloned()
                .unwrap_or_else(|| default_color(n))
        };
        for name in &names {
            if issue.has_label(name).is_none() {
                issue.labels.push(name.clone());
                issue.entries.push(Entry {
                    id: ids.next().unwrap_or_default(),
                    at: now,
                    actor: actor.clone(),
                    kind: Kind::Label {
                        added: true,
                        name: name.clone(),
                        color: color_of(name),
                    },
                });
                changed = true;
            }
        }
        for name in remove {
            if let Some(i) = issue.has_label(name) {
                let name = issue.labels.remove(i);
                issue.entries.push(Entry {
                    id: ids.next().unwrap_or_default(),
                    at: now,
                    actor: actor.clone(),
                    kind: Kind::Label {
                        added: false,
                        color: color_of(&name),
                        name,
                    },
                });
                changed = true;
            }
        }
        if changed {
            issue.updated_at = issue.updated_at.max(now);
        }
        Ok(changed)
    }

    /// Add a comment as `actor` at `now`; bumps `updated_at`.
    pub fn add_comment(
        &mut self,
        repo: &str,
        number: u64,
        body: String,
        actor: Arc<Person>,
        now: DateTime<Utc>,
    ) -> Option<Entry> {
        let id = self.next_id();
        let issue = self.repo_mut(repo)?.issues.get_mut(&number)?;
        let entry = Entry {
            id,
            at: now,
            actor,
            kind: Kind::Comment {
                body,
                updated_at: now,
            },
        };
        issue.entries.push(entry.clone());
        issue.updated_at = issue.updated_at.max(now);
        Some(entry)
    }

    /// Open a pull request from branch `head` into `base` as `actor`; its number, or why not
    /// (`Exists` with the open one's number when one from `head` into `base` is open).
    pub fn create_pull(
        &mut self,
        repo: &str,
        new: NewPull,
        now: DateTime<Utc>,
    ) -> Result<u64, PullError> {
        let (issue_id, pull_id) = (self.next_id(), self.next_id());
        let r = self.repo_mut(repo).ok_or(PullError::NoRepo)?;
        if let Some(open) = r.issues.values().find(|i| {
            i.state == "open"
                && i.pull
                    .as_ref()
                    .is_some_and(|p| p.head_ref == new.head && p.base_ref == new.base)
        }) {
            return Err(PullError::Exists(open.number));
        }
        let number = r.issues.keys().max().copied().unwrap_or(0) + 1;
        let full = r.full_name();
        r.issues.insert(
            number,
            Issue {
                id: issue_id,
                number,
                title: new.title,
                body: new.body,
                user: new.actor,
                state: "open".into(),
                state_reason: None,
                locked: false,
                labels: Vec::new(),
                created_at: now,
                updated_at: now,
                closed_at: None,
                entries: Vec::new(),
                pull: Some(Pull {
                    id: pull_id,
                    head_sha: new
                        .head_sha
                        .unwrap_or_else(|| fake_sha(&format!("head:{full}:{}", new.head))),
                    head_ref: new.head,
                    base_sha: new
                        .base_sha
                        .unwrap_or_else(|| fake_sha(&format!("base:{full}:{}", new.base))),
                    base_ref: new.base,
                    merge_commit_sha: None,
                    merged_at: None,
                    merged_by: None,
                    draft: new.draft,
                    commits: new.commits,
                }),
            },
        );
        Ok(number)
    }

    /// Merge an open pull request as `actor`; the merge commit's sha (`sha`, made in a hosted
    /// repository, or else a fake one).
    pub fn merge_pull(
        &mut self,
        repo: &str,
        number: u64,
        actor: Arc<Person>,
        now: DateTime<Utc>,
        sha: Option<String>,
    ) -> Result<String, PullError> {
        let id = self.next_id();
        let r = self.repo_mut(repo).ok_or(PullError::NoRepo)?;
        let full = r.full_name();
        let issue = r.issues.get_mut(&number).ok_or(PullError::NoPull)?;
        let state = issue.state.clone();
        let pull = issue.pull.as_mut().ok_or(PullError::NoPull)?;
        if pull.merged_at.is_some() || state != "open" {
            return Err(PullError::NotMergeable);
        }
        let sha = sha.unwrap_or_else(|| fake_sha(&format!("merge:{full}:{number}")));
        pull.merged_at = Some(now);
        pull.merged_by = Some(actor.clone());
        pull.merge_commit_sha = Some(sha.clone());
        issue.state = "closed".into();
        issue.closed_at = Some(now);
        issue.updated_at = now;
        issue.entries.push(Entry {
            id,
            at: now,
            actor,
            kind: Kind::Merged {
                sha: Some(sha.clone()),
            },
        });
        Ok(sha)
    }

    /// Delete the comment `id` of a repository's issues; whether it was there.
    pub fn remove_comment(&mut self, repo: &str, id: u64, now: DateTime<Utc>) -> bool {
        let Some(repo) = self.repo_mut(repo) else {
            return false;
        };
        for issue in repo.issues.values_mut() {
            let before = issue.entries.len();
            issue
                .entries
                .retain(|e| !(e.id == id && matches!(e.kind, Kind::Comment { .. })));
            if issue.entries.len() != before {
                issue.updated_at = issue.updated_at.max(now);
                return true;
            }
        }
        false
    }
}

/// Read seed issues from a JSON document: an array of issues, `{"issues": [...]}`, or one
/// issue.
pub(crate) fn seed_list(doc: Value) -> Result<Vec<Value>, String> {
    match doc {
        Value::Array(a) => Ok(a),
        Value::Object(mut o) => match o.remove("issues") {
            Some(Value::Array(a)) => Ok(a),
            Some(_) => Err("\"issues\" must be an array".into()),
            None => Ok(vec![Value::Object(o)]),
        },
        _ => Err("expected an array of issues, {\"issues\": [...]}, or one issue".into()),
    }
}
