//! Searching and paging: search pages (Cloud's page tokens, Data Center's `startAt`), the
//! completion of truncated changelogs, and an issue's comments page by page.

use reqwest::Method;
use serde_json::{json, Value};

use super::errors::Failure;
use super::{comment_text, Flavor, JiraClient, KeySearch, Page, PageRequest, FIELDS};
use crate::jira::wire::{
    quoted_keys, Changelog, Comment, Comments, History, JiraIssue, SearchPage,
};
use crate::{Error, Result};

impl JiraClient {
    /// One search page. Changelogs that the search cut short are completed.
    pub async fn search(&self, jql: &str, at: &PageRequest, page_size: u32) -> Result<Page> {
        self.search_page(jql, at, page_size, false)
            .await
            .map_err(Error::from)
    }

    /// One page of a search that names issue keys, some of which Jira may not have (deleted,
    /// moved): Data Center is asked to warn about them (`validateQuery`) and the page says
    /// which; Cloud's `search/jql` has no such switch, and its 400 becomes
    /// [`KeySearch::Unknown`] with the keys its messages quote.
    pub async fn search_keys(
        &self,
        jql: &str,
        at: &PageRequest,
        page_size: u32,
    ) -> Result<KeySearch> {
        match self.search_page(jql, at, page_size, true).await {
            Ok(page) => Ok(KeySearch::Page(page)),
            Err(f) if f.status == Some(400) => Ok(KeySearch::Unknown(quoted_keys(&f.messages))),
            Err(f) => Err(f.error),
        }
    }

    async fn search_page(
        &self,
        jql: &str,
        at: &PageRequest,
        page_size: u32,
        warn_keys: bool,
    ) -> Result<Page, Failure> {
        let mut warnings = Vec::new();
        let (page, next, total): (SearchPage, Option<PageRequest>, Option<u64>) = match self
            .flavor()
        {
            Flavor::Cloud => {
                let mut body = json!({
                    "jql": jql,
                    "maxResults": page_size,
                    "fields": FIELDS,
                    "expand": "changelog",
                });
                if let PageRequest::Token(t) = at {
                    body["nextPageToken"] = json!(t);
                }
                let page: SearchPage = self
                    .call_as(
                        true,
                        Method::POST,
                        &["rest", "api", "3", "search", "jql"],
                        &[],
                        Some(body),
                        "searching Jira",
                    )
                    .await?;
                let token = page.next_page_token.clone().filter(|t| !t.is_empty());
                let next = match (page.is_last, token) {
                    (Some(true), _) => None,
                    (_, Some(t)) => {
                        if matches!(at, PageRequest::Token(prev) if *prev == t) {
                            return Err(Error::internal(format!(
                                "Jira at {} returned the same page token twice; stopping to avoid a loop",
                                self.site()
                            ))
                            .into());
                        }
                        Some(PageRequest::Token(t))
                    }
                    (Some(false), None) => {
                        warnings.push(
                            "Jira said more results follow (isLast: false) but sent no nextPageToken; treating this page as the last".to_string(),
                        );
                        None
                    }
                    (None, None) => None,
                };
                (page, next, None)
            }
            Flavor::DataCenter => {
                let start = match at {
                    PageRequest::StartAt(n) => *n,
                    _ => 0,
                };
                let mut body = json!({
                    "jql": jql,
                    "startAt": start,
                    "maxResults": page_size,
                    "fields": FIELDS,
                    "expand": ["changelog"],
                });
                if warn_keys {
                    // The POST body's legacy boolean: false is `warn`.
                    body["validateQuery"] = json!(false);
                }
                let page: SearchPage = self
                    .call_as(
                        true,
                        Method::POST,
                        &["rest", "api", "2", "search"],
                        &[],
                        Some(body),
                        "searching Jira",
                    )
                    .await?;
                let got = page.issues.len() as u64;
                let from = page.start_at.unwrap_or(start);
                let next_start = from + got;
                let next = match page.total {
                    _ if got == 0 => None,
                    Some(t) if next_start >= t => None,
                    _ => Some(PageRequest::StartAt(next_start)),
                };
                let total = page.total;
                (page, next, total)
            }
        };
        let unknown_keys = quoted_keys(page.warning_messages.as_deref().unwrap_or_default());
        let mut issues = page.issues;
        let changelog_requests = self.complete_changelogs(&mut issues).await?
            + self.complete_comments(&mut issues).await?;
        Ok(Page {
            issues,
            next,
            total,
            changelog_requests,
            warnings,
            unknown_keys,
        })
    }

    /// Replace every truncated embedded changelog by the complete one. Returns the requests made.
    async fn complete_changelogs(&self, issues: &mut [JiraIssue]) -> Result<u64> {
        use futures_util::stream::{self, StreamExt, TryStreamExt};
        let truncated: Vec<usize> = issues
            .iter()
            .enumerate()
            .filter(|(_, i)| i.changelog.as_ref().is_some_and(Changelog::is_truncated))
            .map(|(n, _)| n)
            .collect();
        if truncated.is_empty() {
            return Ok(0);
        }
        let keys: Vec<(usize, String)> = truncated
            .into_iter()
            .map(|n| (n, issues[n].key.clone()))
            .collect();
        let fetched: Vec<(usize, Vec<History>, u64)> = stream::iter(keys)
            .map(|(n, key)| async move {
                let (h, reqs) = self.full_changelog(&key).await?;
                Ok::<_, Error>((n, h, reqs))
            })
            .buffer_unordered(8)
            .try_collect()
            .await?;
        let mut requests = 0;
        for (n, histories, reqs) in fetched {
            requests += reqs;
            let total = histories.len() as u64;
            issues[n].changelog = Some(Changelog {
                histories: Some(histories),
                values: None,
                total: Some(total),
                start_at: Some(0),
                max_results: Some(total),
                is_last: Some(true),
            });
        }
        Ok(requests)
    }

    /// Replace every truncated embedded comment list by the complete one. Returns the requests
    /// made.
    async fn complete_comments(&self, issues: &mut [JiraIssue]) -> Result<u64> {
        use futures_util::stream::{self, StreamExt, TryStreamExt};
        let truncated: Vec<(usize, String)> = issues
            .iter()
            .enumerate()
            .filter(|(_, i)| {
                i.fields
                    .as_ref()
                    .and_then(|f| f.comment.as_ref())
                    .is_some_and(Comments::is_truncated)
            })
            .map(|(n, i)| (n, i.key.clone()))
            .collect();
        let fetched: Vec<(usize, Vec<Value>, u64)> = stream::iter(truncated)
            .map(|(n, key)| async move {
                let (c, reqs) = self.comments(&key).await?;
                Ok::<_, Error>((n, c, reqs))
            })
            .buffer_unordered(8)
            .try_collect()
            .await?;
        let mut requests = 0;
        for (n, comments, reqs) in fetched {
            requests += reqs;
            let comments: Vec<Comment> = comments
                .into_iter()
                .filter_map(|c| serde_json::from_value(c).ok())
                .collect();
            if let Some(f) = issues[n].fields.as_mut() {
                f.comment = Some(Comments {
                    total: Some(comments.len() as u64),
                    comments,
                });
            }
        }
        Ok(requests)
    }

    /// An issue's whole changelog, oldest first, and the number of requests it took.
    pub async fn full_changelog(&self, key: &str) -> Result<(Vec<History>, u64)> {
        match self.flavor() {
            Flavor::Cloud => {
                let mut all: Vec<History> = Vec::new();
                let mut requests = 0;
                loop {
                    let start = all.len().to_string();
                    let page: Changelog = self
                        .call(
                            Method::GET,
                            &["rest", "api", "3", "issue", key, "changelog"],
                            &[("startAt", start), ("maxResults", "100".into())],
                            None,
                            "reading a changelog",
                        )
                        .await?;
                    requests += 1;
                    let got = page.entries().len();
                    let total = page.total;
                    let is_last = page.is_last;
                    all.extend(page.values.unwrap_or_default());
                    all.extend(page.histories.unwrap_or_default());
                    let done = got == 0
                        || is_last == Some(true)
                        || total.is_some_and(|t| all.len() as u64 >= t);
                    if done {
                        break;
                    }
                    if requests > 10_000 {
                        return Err(Error::internal(format!(
                            "{key}: the changelog does not end after 10,000 pages"
                        )));
                    }
                }
                Ok((all, requests))
            }
            Flavor::DataCenter => {
                let issue: JiraIssue = self
                    .call(
                        Method::GET,
                        &["rest", "api", "2", "issue", key],
                        &[("fields", "labels".into()), ("expand", "changelog".into())],
                        None,
                        "reading an issue's changelog",
                    )
                    .await?;
                let mut h: Vec<History> = issue
                    .changelog
                    .map(|c| {
                        let mut v = c.histories.unwrap_or_default();
                        v.extend(c.values.unwrap_or_default());
                        v
                    })
                    .unwrap_or_default();
                h.reverse();
                Ok((h, 1))
            }
        }
    }

    /// Every comment body of an issue (plain text), paging when there are many.
    pub async fn comment_bodies(&self, key: &str) -> Result<Vec<String>> {
        Ok(self
            .comments(key)
            .await?
            .0
            .iter()
            .map(comment_text)
            .collect())
    }

    /// Every comment of an issue as Jira sends it, and the number of requests it took.
    pub async fn comments(&self, key: &str) -> Result<(Vec<Value>, u64)> {
        let mut out = Vec::new();
        let mut requests = 0;
        loop {
            let page: Value = self
                .call(
                    Method::GET,
                    &["rest", "api", "2", "issue", key, "comment"],
                    &[
                        ("startAt", out.len().to_string()),
                        ("maxResults", "100".into()),
                    ],
                    None,
                    "reading comments",
                )
                .await?;
            requests += 1;
            let comments = page
                .get("comments")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let got = comments.len();
            out.extend(comments);
            let total = page.get("total").and_then(Value::as_u64).unwrap_or(0);
            if got == 0 || out.len() as u64 >= total {
                return Ok((out, requests));
            }
        }
    }
}
