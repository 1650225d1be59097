//! Rendering issues, people, histories and comments as Jira does, straight to JSON (no
//! intermediate `serde_json::Value`, so that large search pages stay cheap).
//!
//! Shapes follow the captured bodies in `fixtures/jira`: issues carry `expand`, `id`, `self`
//! (with the numeric id) and `key`; users carry the flavor's identity fields; timestamps use the
//! server's zone without a colon in the offset.

use std::collections::HashSet;

use chrono::{DateTime, FixedOffset, Utc};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::{json, Value};

use super::model::{adf_to_text, fmt_time, text_to_adf, Comment, History, Issue, JiraTime, Person};
use super::Flavor;

/// What every rendering needs: where the server is, which API version and flavor, which zone.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx<'a> {
    /// `http://127.0.0.1:PORT`
    pub base: &'a str,
    pub flavor: Flavor,
    /// `2` or `3`.
    pub api: u8,
    pub zone: FixedOffset,
    pub zone_name: &'a str,
}

impl Ctx<'_> {
    pub fn time(&self, t: DateTime<Utc>) -> String {
        fmt_time(t, self.zone)
    }

    /// A timestamp to serialize without allocating.
    fn at(&self, t: DateTime<Utc>) -> JiraTime {
        JiraTime(t, self.zone)
    }

    fn api_url(&self, rest: &str) -> String {
        format!("{}/rest/api/{}/{rest}", self.base, self.api)
    }

    /// A comment body: plain text on v2, an ADF document on v3.
    pub fn body(&self, text: &str) -> Value {
        if self.api == 3 {
            text_to_adf(text)
        } else {
            Value::String(text.to_string())
        }
    }
}

/// A percent-encoded URL query value, as a `Display`.
pub(crate) struct Pct<'a>(pub &'a str);

impl std::fmt::Display for Pct<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in self.0.bytes() {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                std::fmt::Write::write_char(f, b as char)?;
            } else {
                write!(f, "%{b:02X}")?;
            }
        }
        Ok(())
    }
}

/// A user object in the flavor's shape.
pub(crate) struct PersonOut<'a> {
    pub ctx: Ctx<'a>,
    pub person: &'a Person,
}

/// `avatarUrls` of a person.
struct Avatars<'a> {
    base: &'a str,
    owner: &'a str,
}

impl Serialize for Avatars<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(4))?;
        for (key, size) in [
            ("48x48", "large"),
            ("24x24", "small"),
            ("16x16", "xsmall"),
            ("32x32", "medium"),
        ] {
            m.serialize_entry(
                key,
                &format_args!(
                    "{}/secure/useravatar?size={size}&ownerId={}",
                    self.base,
                    Pct(self.owner)
                ),
            )?;
        }
        m.end()
    }
}

impl Serialize for PersonOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (c, p) = (self.ctx, self.person);
        let mut m = s.serialize_map(None)?;
        let owner = match c.flavor {
            Flavor::Cloud => {
                m.serialize_entry(
                    "self",
                    &format_args!(
                        "{}/rest/api/{}/user?accountId={}",
                        c.base,
                        c.api,
                        Pct(&p.account_id)
                    ),
                )?;
                m.serialize_entry("accountId", &p.account_id)?;
                &p.account_id
            }
            Flavor::DataCenter => {
                m.serialize_entry(
                    "self",
                    &format_args!(
                        "{}/rest/api/{}/user?username={}",
                        c.base,
                        c.api,
                        Pct(&p.name)
                    ),
                )?;
                m.serialize_entry("name", &p.name)?;
                m.serialize_entry("key", &p.key)?;
                &p.name
            }
        };
        m.serialize_entry("emailAddress", &p.email)?;
        m.serialize_entry(
            "avatarUrls",
            &Avatars {
                base: c.base,
                owner,
            },
        )?;
        m.serialize_entry("displayName", &p.display_name)?;
        m.serialize_entry("active", &true)?;
        m.serialize_entry("timeZone", c.zone_name)?;
        if c.flavor == Flavor::Cloud {
            m.serialize_entry("accountType", "atlassian")?;
        }
        m.end()
    }
}

/// One changelog history.
pub(crate) struct HistoryOut<'a> {
    pub ctx: Ctx<'a>,
    pub history: &'a History,
}

impl Serialize for HistoryOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let h = self.history;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", &h.id)?;
        if let Some(p) = &h.author {
            m.serialize_entry(
                "author",
                &PersonOut {
                    ctx: self.ctx,
                    person: p,
                },
            )?;
        }
        m.serialize_entry("created", &format_args!("{}", self.ctx.at(h.created)))?;
        m.serialize_entry("items", &h.items)?;
        m.end()
    }
}

/// A list of histories in the given order.
pub(crate) struct HistoriesOut<'a, I: Iterator<Item = &'a History> + Clone> {
    pub ctx: Ctx<'a>,
    pub iter: I,
}

impl<'a, I: Iterator<Item = &'a History> + Clone> Serialize for HistoriesOut<'a, I> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for h in self.iter.clone() {
            seq.serialize_element(&HistoryOut {
                ctx: self.ctx,
                history: h,
            })?;
        }
        seq.end()
    }
}

/// One comment.
pub(crate) struct CommentOut<'a> {
    pub ctx: Ctx<'a>,
    pub issue_id: u64,
    pub comment: &'a Comment,
}

impl Serialize for CommentOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (c, cm) = (self.ctx, self.comment);
        let mut m = s.serialize_map(None)?;
        m.serialize_entry(
            "self",
            &c.api_url(&format!("issue/{}/comment/{}", self.issue_id, cm.id)),
        )?;
        m.serialize_entry("id", &cm.id)?;
        if let Some(p) = &cm.author {
            let author = PersonOut { ctx: c, person: p };
            m.serialize_entry("author", &author)?;
        }
        m.serialize_entry("body", &c.body(&cm.body))?;
        if let Some(p) = &cm.author {
            let author = PersonOut { ctx: c, person: p };
            m.serialize_entry("updateAuthor", &author)?;
        }
        m.serialize_entry("created", &c.time(cm.created))?;
        m.serialize_entry("updated", &c.time(cm.updated))?;
        if c.flavor == Flavor::Cloud {
            m.serialize_entry("jsdPublic", &true)?;
        }
        m.end()
    }
}

/// A page of comments `{startAt, maxResults, total, comments}` (the `comment` field adds `self`).
pub(crate) struct CommentsOut<'a> {
    pub ctx: Ctx<'a>,
    pub issue: &'a Issue,
    pub start_at: usize,
    pub max_results: usize,
    pub with_self: bool,
}

impl Serialize for CommentsOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let all = &self.issue.comments;
        let page: Vec<CommentOut<'_>> = all
            .iter()
            .skip(self.start_at)
            .take(self.max_results)
            .map(|c| CommentOut {
                ctx: self.ctx,
                issue_id: self.issue.id,
                comment: c,
            })
            .collect();
        let mut m = s.serialize_map(None)?;
        if self.with_self {
            m.serialize_entry(
                "self",
                &self
                    .ctx
                    .api_url(&format!("issue/{}/comment", self.issue.id)),
            )?;
        }
        m.serialize_entry("startAt", &self.start_at)?;
        m.serialize_entry("maxResults", &self.max_results)?;
        m.serialize_entry("total", &all.len())?;
        m.serialize_entry("comments", &page)?;
        m.end()
    }
}

/// Which fields to render: `*all`, `*navigable`, explicit names, `-name` exclusions.
#[derive(Debug, Clone, Default)]
pub(crate) struct FieldSel {
    all: bool,
    navigable: bool,
    include: HashSet<String>,
    exclude: HashSet<String>,
}

impl FieldSel {
    /// No fields at all (Cloud's `search/jql` default: issues carry `id`, `key`, `self` only).
    pub fn none() -> FieldSel {
        FieldSel::default()
    }

    pub fn all() -> FieldSel {
        FieldSel {
            all: true,
            ..FieldSel::default()
        }
    }

    pub fn navigable() -> FieldSel {
        FieldSel {
            navigable: true,
            ..FieldSel::default()
        }
    }

    /// Parse `fields` values (each may be a comma-separated list). `None` when nothing was given.
    pub fn parse<'s>(items: impl IntoIterator<Item = &'s str>) -> Option<FieldSel> {
        let mut sel = FieldSel::default();
        let mut any = false;
        for item in items.into_iter().flat_map(|s| s.split(',')) {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            any = true;
            match item {
                "*all" => sel.all = true,
                "*navigable" => sel.navigable = true,
                "id" | "key" | "self" | "-id" | "-key" => {}
                _ => match item.strip_prefix('-') {
                    Some(x) => {
                        sel.exclude.insert(x.to_string());
                    }
                    None => {
                        sel.include.insert(item.to_string());
                    }
                },
            }
        }
        any.then_some(sel)
    }

    fn is_none(&self) -> bool {
        !self.all && !self.navigable && self.include.is_empty()
    }

    fn wants(&self, name: &str, navigable: bool) -> bool {
        !self.exclude.contains(name)
            && (self.all || (self.navigable && navigable) || self.include.contains(name))
    }
}

/// The fields of an issue, as selected.
struct FieldsOut<'a> {
    ctx: Ctx<'a>,
    issue: &'a Issue,
    sel: &'a FieldSel,
}

fn status_object(ctx: Ctx<'_>, name: &str) -> Value {
    let lower = name.to_ascii_lowercase();
    let id = match lower.as_str() {
        "open" => "1",
        "in progress" => "3",
        "reopened" => "4",
        "resolved" => "5",
        "closed" => "6",
        "to do" => "10000",
        "done" => "10001",
        _ => "10100",
    };
    let (cat_id, cat_key, color, cat_name) = match lower.as_str() {
        "done" | "closed" | "resolved" => (3, "done", "green", "Done"),
        "in progress" | "in review" => (4, "indeterminate", "yellow", "In Progress"),
        _ => (2, "new", "blue-gray", "To Do"),
    };
    json!({
        "self": ctx.api_url(&format!("status/{id}")),
        "description": "",
        "iconUrl": format!("{}/images/icons/statuses/generic.png", ctx.base),
        "name": name,
        "id": id,
        "statusCategory": {
            "self": ctx.api_url(&format!("statuscategory/{cat_id}")),
            "id": cat_id,
            "key": cat_key,
            "colorName": color,
            "name": cat_name,
        }
    })
}

fn person_out<'b>(ctx: Ctx<'b>, p: &'b Option<std::sync::Arc<Person>>) -> Option<PersonOut<'b>> {
    p.as_deref().map(|person| PersonOut { ctx, person })
}

/// A small stable number for a name (component ids).
fn name_id(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    10000 + h % 90000
}

impl Serialize for FieldsOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (c, i, sel) = (self.ctx, self.issue, self.sel);
        let mut m = s.serialize_map(None)?;
        if sel.wants("summary", true) {
            m.serialize_entry("summary", &i.summary)?;
        }
        if sel.wants("issuetype", true) {
            let default = json!({
                "self": c.api_url("issuetype/10002"),
                "id": "10002",
                "description": "A task that needs to be done.",
                "iconUrl": format!("{}/images/icons/issuetypes/task.svg", c.base),
                "name": "Task",
                "subtask": false,
            });
            m.serialize_entry("issuetype", i.issuetype.as_ref().unwrap_or(&default))?;
        }
        if sel.wants("project", true) {
            m.serialize_entry(
                "project",
                &json!({
                    "self": c.api_url(&format!("project/{}", i.project_id)),
                    "id": i.project_id.to_string(),
                    "key": i.project,
                    "name": i.project,
                    "projectTypeKey": "software",
                    "simplified": false,
                }),
            )?;
        }
        if sel.wants("status", true) {
            m.serialize_entry("status", &status_object(c, &i.status))?;
        }
        if sel.wants("labels", true) {
            m.serialize_entry("labels", &i.labels)?;
        }
        if sel.wants("components", true) {
            let comps: Vec<Value> = i
                .components
                .iter()
                .map(|n| {
                    let id = name_id(n);
                    json!({"self": c.api_url(&format!("component/{id}")), "id": id.to_string(), "name": n})
                })
                .collect();
            m.serialize_entry("components", &comps)?;
        }
        if sel.wants("fixVersions", true) {
            m.serialize_entry("fixVersions", &i.fix_versions)?;
        }
        if sel.wants("issuelinks", true) {
            m.serialize_entry("issuelinks", &i.issuelinks)?;
        }
        if sel.wants("assignee", true) {
            m.serialize_entry("assignee", &person_out(c, &i.assignee))?;
        }
        if sel.wants("reporter", true) {
            m.serialize_entry("reporter", &person_out(c, &i.reporter))?;
        }
        if sel.wants("created", true) {
            m.serialize_entry("created", &format_args!("{}", c.at(i.created)))?;
        }
        if sel.wants("updated", true) {
            m.serialize_entry("updated", &format_args!("{}", c.at(i.updated)))?;
        }
        if sel.wants("comment", false) {
            m.serialize_entry(
                "comment",
                &CommentsOut {
                    ctx: c,
                    issue: i,
                    start_at: 0,
                    max_results: i.comments.len(),
                    with_self: true,
                },
            )?;
        }
        for (k, v) in &i.extra {
            if sel.wants(k, true) {
                m.serialize_entry(k, v)?;
            }
        }
        m.end()
    }
}

/// An issue as a search page or issue GET carries it.
pub(crate) struct IssueOut<'a> {
    pub ctx: Ctx<'a>,
    pub issue: &'a Issue,
    pub fields: &'a FieldSel,
    /// Embed the changelog, newest first, at most this many (`None`: no changelog).
    pub changelog: Option<usize>,
}

impl Serialize for IssueOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (c, i) = (self.ctx, self.issue);
        let mut m = s.serialize_map(None)?;
        let expand = match c.flavor {
            Flavor::Cloud => {
                "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations"
            }
            Flavor::DataCenter => {
                "operations,versionedRepresentations,editmeta,changelog,renderedFields"
            }
        };
        m.serialize_entry("expand", expand)?;
        m.serialize_entry("id", &i.id.to_string())?;
        m.serialize_entry("self", &c.api_url(&format!("issue/{}", i.id)))?;
        m.serialize_entry("key", &i.key)?;
        if !self.fields.is_none() {
            m.serialize_entry(
                "fields",
                &FieldsOut {
                    ctx: c,
                    issue: i,
                    sel: self.fields,
                },
            )?;
        }
        if let Some(limit) = self.changelog {
            let n = limit.min(i.histories.len());
            m.serialize_entry(
                "changelog",
                &ChangelogOut {
                    ctx: c,
                    histories: &i.histories,
                    n,
                },
            )?;
        }
        m.end()
    }
}

/// An embedded changelog: the newest `n` histories, newest first, with the total.
struct ChangelogOut<'a> {
    ctx: Ctx<'a>,
    histories: &'a [History],
    n: usize,
}

impl Serialize for ChangelogOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("startAt", &0)?;
        m.serialize_entry("maxResults", &self.n)?;
        m.serialize_entry("total", &self.histories.len())?;
        m.serialize_entry(
            "histories",
            &HistoriesOut {
                ctx: self.ctx,
                iter: self.histories.iter().rev().take(self.n),
            },
        )?;
        m.end()
    }
}

/// Serialize a list of issues.
pub(crate) struct IssuesOut<'a> {
    pub ctx: Ctx<'a>,
    pub issues: &'a [std::sync::Arc<Issue>],
    pub fields: &'a FieldSel,
    pub changelog: Option<usize>,
}

impl Serialize for IssuesOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.issues.len()))?;
        for i in self.issues {
            seq.serialize_element(&IssueOut {
                ctx: self.ctx,
                issue: i,
                fields: self.fields,
                changelog: self.changelog,
            })?;
        }
        seq.end()
    }
}

/// The plain text of a comment body as a client sent it (string or ADF).
pub(crate) fn body_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(_) => Some(adf_to_text(v)),
        _ => None,
    }
}
