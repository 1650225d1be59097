//! What portcullis keeps of GitHub's answers: lean types with only the fields it reads, built
//! from octocrab's typed models (`From` impls below), all optional where GitHub may omit them.
//! They still deserialize from GitHub's JSON (partial objects included), for tests and tools.

use chrono::{DateTime, Utc};
use octocrab::models;
use serde::{Deserialize, Serialize};

/// A user as GitHub embeds it; only the login matters.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct GhUser {
    #[serde(default)]
    pub login: String,
    /// Only `GET /user` has it.
    #[serde(default)]
    pub name: Option<String>,
}

/// A label: a full object in today's API, a bare name in some older answers.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum GhLabel {
    Object { name: String },
    Name(String),
}

impl GhLabel {
    pub fn name(&self) -> &str {
        match self {
            GhLabel::Object { name } | GhLabel::Name(name) => name,
        }
    }
}

/// The `pull_request` key that makes an issue a pull request.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct GhPullRef {
    /// GitHub's issues API has it, octocrab's `PullRequestLink` does not: the client fills it
    /// from the timeline's `merged` event instead.
    #[serde(default)]
    pub merged_at: Option<DateTime<Utc>>,
}

/// An issue or pull request as the issues API lists it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct GhIssue {
    pub number: u64,
    #[serde(default)]
    pub title: String,
    /// `open` or `closed`.
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub labels: Vec<GhLabel>,
    #[serde(default)]
    pub user: Option<GhUser>,
    #[serde(default)]
    pub assignee: Option<GhUser>,
    #[serde(default)]
    pub html_url: Option<String>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub pull_request: Option<GhPullRef>,
}

impl GhIssue {
    /// The current label names.
    pub fn label_names(&self) -> Vec<String> {
        self.labels.iter().map(|l| l.name().to_string()).collect()
    }

    /// Whether this is a pull request that was closed (merged or not).
    pub fn is_closed_pull(&self) -> bool {
        self.pull_request.is_some() && self.state == "closed"
    }
}

/// The label of a `labeled` / `unlabeled` event.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct GhEventLabel {
    #[serde(default)]
    pub name: String,
}

/// An entry of an issue's timeline (`GET …/issues/{n}/timeline`): `labeled`, `unlabeled`,
/// `merged`, `closed`, `commented`, `cross-referenced`, …
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct GhEvent {
    #[serde(default)]
    pub id: Option<u64>,
    #[serde(default)]
    pub event: String,
    #[serde(default)]
    pub actor: Option<GhUser>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub label: Option<GhEventLabel>,
    #[serde(default)]
    pub commit_id: Option<String>,
    /// A `commented` entry's text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// A `commented` entry's author (GitHub names it `user`, and sometimes `actor` too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<GhUser>,
}

impl GhEvent {
    /// `(added, label)` for a label event.
    pub fn label_change(&self) -> Option<(bool, &str)> {
        let added = match self.event.as_str() {
            "labeled" => true,
            "unlabeled" => false,
            _ => return None,
        };
        Some((added, self.label.as_ref()?.name.as_str()))
    }

    /// The actor's login (empty for a deleted account).
    pub fn actor_login(&self) -> Option<&str> {
        self.actor
            .as_ref()
            .map(|a| a.login.as_str())
            .filter(|l| !l.is_empty())
    }
}

/// When a timeline says the pull request was merged (its last `merged` event).
pub fn merged_at(events: &[GhEvent]) -> Option<DateTime<Utc>> {
    events
        .iter()
        .filter(|e| e.event == "merged")
        .filter_map(|e| e.created_at)
        .max()
}

/// A branch end of a pull request.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct GhBranch {
    #[serde(default, rename = "ref")]
    pub reference: String,
    /// The commit the branch pointed at.
    #[serde(default)]
    pub sha: String,
}

/// A pull request (`GET …/pulls/{n}`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct GhPull {
    #[serde(default)]
    pub merged: Option<bool>,
    #[serde(default)]
    pub merged_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
    #[serde(default)]
    pub merged_by: Option<GhUser>,
    #[serde(default)]
    pub base: Option<GhBranch>,
    #[serde(default)]
    pub head: Option<GhBranch>,
}

/// A commit of a pull request (`GET …/pulls/{n}/commits`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct GhCommit {
    pub sha: String,
}

/// An issue comment.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct GhComment {
    #[serde(default)]
    pub id: u64,
    #[serde(default)]
    pub body: Option<String>,
    /// The author's login.
    #[serde(default)]
    pub author: String,
}

// ---------------------------------------------------------------------------------------------
// From octocrab's models

impl From<models::Author> for GhUser {
    fn from(a: models::Author) -> Self {
        GhUser {
            login: a.login,
            name: a.name,
        }
    }
}

impl From<models::Label> for GhLabel {
    fn from(l: models::Label) -> Self {
        GhLabel::Object { name: l.name }
    }
}

/// The name GitHub gives a state or an event type (octocrab's enums serialize to it).
fn wire_name<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

impl From<models::issues::Issue> for GhIssue {
    fn from(i: models::issues::Issue) -> Self {
        GhIssue {
            number: i.number,
            title: i.title,
            state: wire_name(&i.state),
            labels: i.labels.into_iter().map(GhLabel::from).collect(),
            user: Some(i.user.into()),
            assignee: i.assignee.map(GhUser::from),
            html_url: Some(i.html_url.to_string()),
            created_at: Some(i.created_at),
            updated_at: Some(i.updated_at),
            // octocrab's `PullRequestLink` lacks `merged_at`: see `GhPullRef`.
            pull_request: i.pull_request.map(|_| GhPullRef::default()),
        }
    }
}

impl From<models::timelines::TimelineEvent> for GhEvent {
    fn from(e: models::timelines::TimelineEvent) -> Self {
        GhEvent {
            id: e.id.map(|id| id.into_inner()),
            event: wire_name(&e.event),
            actor: e.actor.map(GhUser::from),
            created_at: e.created_at,
            label: e.label.map(|l| GhEventLabel { name: l.name }),
            commit_id: e.commit_id,
            body: e.body,
            user: e.user.map(GhUser::from),
        }
    }
}

impl From<models::pulls::PullRequest> for GhPull {
    fn from(p: models::pulls::PullRequest) -> Self {
        GhPull {
            merged: p.merged,
            merged_at: p.merged_at,
            merge_commit_sha: p.merge_commit_sha,
            merged_by: p.merged_by.map(|a| GhUser::from(*a)),
            base: Some(GhBranch {
                reference: p.base.ref_field,
                sha: p.base.sha,
            }),
            head: Some(GhBranch {
                reference: p.head.ref_field,
                sha: p.head.sha,
            }),
        }
    }
}

impl From<models::repos::RepoCommit> for GhCommit {
    fn from(c: models::repos::RepoCommit) -> Self {
        GhCommit { sha: c.sha }
    }
}

impl From<models::issues::Comment> for GhComment {
    fn from(c: models::issues::Comment) -> Self {
        GhComment {
            id: c.id.into_inner(),
            body: c.body,
            author: c.user.login,
        }
    }
}
