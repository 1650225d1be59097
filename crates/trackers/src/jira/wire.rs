//! Jira's wire types: what `/rest/api/2/search`, `/rest/api/3/search/jql` and issue GET return.
//!
//! Tolerant where real responses vary (fields may be absent or null, `updated` may be a number in
//! Atlassian's own examples), strict where portcullis depends on the value (a ticket key).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use portcullis_core::time::{from_epoch_ms, parse_tracker_time};

/// A search response page, of either API.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchPage {
    pub issues: Vec<JiraIssue>,
    #[serde(default)]
    pub start_at: Option<u64>,
    #[serde(default)]
    pub max_results: Option<u64>,
    #[serde(default)]
    pub total: Option<u64>,
    #[serde(default)]
    pub is_last: Option<bool>,
    #[serde(default)]
    pub next_page_token: Option<String>,
    /// Data Center with `validateQuery` warn: what the query named that does not exist.
    #[serde(default)]
    pub warning_messages: Option<Vec<String>>,
}

/// The issue keys a Jira message quotes (`An issue with key 'DM-35' does not exist for field
/// 'key'.`), in order.
pub fn quoted_keys(messages: &[String]) -> Vec<String> {
    let looks_like_key = |s: &str| {
        let Some((project, number)) = s.rsplit_once('-') else {
            return false;
        };
        project
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && project
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !number.is_empty()
            && number.chars().all(|c| c.is_ascii_digit())
    };
    let mut out: Vec<String> = Vec::new();
    for m in messages {
        for (i, part) in m.split('\'').enumerate() {
            if i % 2 == 1 && looks_like_key(part) && !out.iter().any(|k| k == part) {
                out.push(part.to_string());
            }
        }
    }
    out
}

#[derive(Debug, Clone, Deserialize)]
pub struct JiraIssue {
    pub key: String,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(rename = "self", default)]
    pub self_url: Option<String>,
    #[serde(default)]
    pub fields: Option<Fields>,
    #[serde(default)]
    pub changelog: Option<Changelog>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Fields {
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub status: Option<Named>,
    /// `None` when the response did not include the field (then labels are unknown, not empty).
    #[serde(default)]
    pub labels: Option<Vec<String>>,
    #[serde(default)]
    pub assignee: Option<User>,
    #[serde(default)]
    pub reporter: Option<User>,
    #[serde(default)]
    pub components: Option<Vec<Named>>,
    #[serde(default)]
    pub created: Option<Value>,
    #[serde(default)]
    pub updated: Option<Value>,
    /// The issue's comments (the `comment` field: a page of them, completed when cut short).
    /// Read leniently: a shape it does not know is no comments, never a failed import.
    #[serde(default, deserialize_with = "lenient_comments")]
    pub comment: Option<Comments>,
}

/// The `comment` field as Jira pages it (`{comments, total}`), or as a bare list of comments;
/// anything else is `None`.
fn lenient_comments<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Comments>, D::Error> {
    let v = Value::deserialize(d)?;
    let each = |list: &Vec<Value>| -> Vec<Comment> {
        list.iter()
            .filter_map(|c| serde_json::from_value(c.clone()).ok())
            .collect()
    };
    Ok(match &v {
        Value::Object(m) => Some(Comments {
            comments: m
                .get("comments")
                .and_then(Value::as_array)
                .map(each)
                .unwrap_or_default(),
            total: m.get("total").and_then(Value::as_u64),
        }),
        Value::Array(list) => Some(Comments {
            comments: each(list),
            total: None,
        }),
        _ => None,
    })
}

/// The `comment` field of an issue: its comments, and how many there are in all.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Comments {
    #[serde(default)]
    pub comments: Vec<Comment>,
    #[serde(default)]
    pub total: Option<u64>,
}

impl Comments {
    /// Whether Jira embedded only some of them.
    pub fn is_truncated(&self) -> bool {
        self.total.is_some_and(|t| t > self.comments.len() as u64)
    }
}

/// One comment: a v2 string body or a v3 ADF document.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Comment {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub author: Option<User>,
    #[serde(default)]
    pub body: Value,
    #[serde(default)]
    pub created: Option<Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Named {
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
}

impl User {
    /// The stable identity: Data Center user name, else Cloud account id, else display name.
    pub fn id(&self) -> Option<String> {
        [&self.name, &self.account_id, &self.key, &self.display_name]
            .into_iter()
            .flatten()
            .find(|s| !s.trim().is_empty())
            .cloned()
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Changelog {
    #[serde(default)]
    pub histories: Option<Vec<History>>,
    /// Cloud's `/issue/{key}/changelog` pages call them `values`.
    #[serde(default)]
    pub values: Option<Vec<History>>,
    #[serde(default)]
    pub total: Option<u64>,
    #[serde(default)]
    pub start_at: Option<u64>,
    #[serde(default)]
    pub max_results: Option<u64>,
    #[serde(default)]
    pub is_last: Option<bool>,
}

impl Changelog {
    pub fn entries(&self) -> &[History] {
        self.histories
            .as_deref()
            .or(self.values.as_deref())
            .unwrap_or(&[])
    }

    /// Whether the embedded changelog is cut short (`total > histories.len()`).
    pub fn is_truncated(&self) -> bool {
        self.total
            .is_some_and(|t| t as usize > self.entries().len())
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct History {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub author: Option<User>,
    #[serde(default)]
    pub created: Option<Value>,
    #[serde(default)]
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    #[serde(default)]
    pub field: Option<String>,
    #[serde(default)]
    pub field_id: Option<String>,
    #[serde(default)]
    pub from_string: Option<String>,
    #[serde(default)]
    pub to_string: Option<String>,
}

impl Item {
    pub fn is_labels(&self) -> bool {
        self.field_id.as_deref() == Some("labels")
            || self
                .field
                .as_deref()
                .is_some_and(|f| f.eq_ignore_ascii_case("labels"))
    }
}

/// A label set as Jira writes it in a changelog: the whole set, space-separated; `""`/null is empty.
pub fn label_set(s: Option<&str>) -> BTreeSet<String> {
    s.unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Labels added and removed between two label-set strings.
pub fn label_diff(from: Option<&str>, to: Option<&str>) -> (Vec<String>, Vec<String>) {
    let from = label_set(from);
    let to = label_set(to);
    (
        to.difference(&from).cloned().collect(),
        from.difference(&to).cloned().collect(),
    )
}

/// The messages of a Jira error body, `{"errorMessages":[…],"errors":{"field":"message"}}`:
/// the general ones, then `field: message` for each field error. Empty for any other JSON.
pub fn error_messages(body: &Value) -> Vec<String> {
    let mut parts: Vec<String> = body
        .get("errorMessages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.as_str().map(str::to_string))
        .collect();
    if let Some(Value::Object(errs)) = body.get("errors") {
        parts.extend(errs.iter().map(|(k, v)| {
            format!(
                "{k}: {}",
                v.as_str().map_or_else(|| v.to_string(), str::to_string)
            )
        }));
    }
    parts
}

/// A timestamp field: Jira's `…-0500` form, RFC 3339, or epoch milliseconds.
pub fn time_value(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::String(s) => parse_tracker_time(s),
        Value::Number(n) => n.as_i64().and_then(from_epoch_ms),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_sets_are_space_separated_whole_sets() {
        let (added, removed) = label_diff(
            Some("a backport-v23"),
            Some("a backport-approved backport-v23"),
        );
        assert_eq!(added, vec!["backport-approved"]);
        assert!(removed.is_empty());
        let (added, removed) = label_diff(Some("backport-v23"), None);
        assert!(added.is_empty());
        assert_eq!(removed, vec!["backport-v23"]);
        let (added, removed) = label_diff(Some(""), Some("  x   y "));
        assert_eq!(added, vec!["x", "y"]);
        assert!(removed.is_empty());
    }

    #[test]
    fn the_keys_jira_messages_quote() {
        let msgs = vec![
            "An issue with key 'DM-35' does not exist for field 'key'.".to_string(),
            "The issue key 'ops_2-7' for field 'key' is invalid.".to_string(),
            "An issue with key 'DM-35' does not exist for field 'key'.".to_string(),
            "Field 'labels' does not exist or you do not have permission to view it.".to_string(),
        ];
        assert_eq!(quoted_keys(&msgs), vec!["DM-35", "ops_2-7"]);
        assert!(quoted_keys(&["The value 'x-y' is bad".to_string()]).is_empty());
    }
}
