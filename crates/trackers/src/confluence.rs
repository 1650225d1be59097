//! A Confluence client for the meeting minutes portcullis publishes (issue 17): find a page by
//! title in a space, create it under a parent, update it as a new version (re-reading and
//! retrying on a stale version's 409), and list a space's pages with their storage-format
//! bodies, following `_links.next`.
//!
//! - **Data Center / Server** ([`Flavor::DataCenter`], the default): `/rest/api/content`, found
//!   by `spaceKey` and `title`, paged by `start`/`limit`.
//! - **Cloud** ([`Flavor::Cloud`]): REST v2 under `/wiki/api/v2` (the site root as the URL):
//!   the numeric space id looked up once from its key, pages by `space-id`, cursor paging.
//!
//! Every request goes through the one HTTP client and retry policy (`portcullis_http`): 429
//! waits as asked, 5xx and transport failures back off. The token is sent in a header only and
//! never reaches a message or a log line.

use std::sync::Mutex;
use std::time::Duration;

use portcullis_http::{Retry, RetryPolicy, Step};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tracing::Instrument;

use crate::credentials::ConfluenceCredentials;
use crate::{Error, Result};
use portcullis_core::Problem;

/// How many times a stale version (409) is re-read and retried before giving up.
pub const STALE_RETRIES: u32 = 5;

/// Which Confluence API to speak.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    /// Data Center / Server: `/rest/api/content`.
    #[default]
    #[serde(alias = "server")]
    DataCenter,
    /// Cloud: REST v2 under `/wiki/api/v2`.
    Cloud,
}

/// Where and how to reach Confluence.
#[derive(Debug, Clone)]
pub struct ConfluenceOptions {
    /// The site, e.g. `https://wiki.example.org` (Data Center) or
    /// `https://example.atlassian.net/wiki`.
    pub url: String,
    /// The space key, e.g. `DM`.
    pub space: String,
    pub flavor: Flavor,
    pub timeout: Duration,
    /// Retries of one request on rate limits, 5xx and transport failures.
    pub max_retries: u32,
    /// The first backoff; it doubles (with jitter) on each retry.
    pub backoff: Duration,
}

impl ConfluenceOptions {
    /// The retry schedule of one request.
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.max_retries.saturating_add(1),
            first_backoff: self.backoff,
            ..RetryPolicy::default()
        }
    }
}

/// A page as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageInfo {
    pub id: String,
    pub title: String,
    pub version: u64,
    /// Who wrote its latest version (Data Center user name, Cloud account id; empty when the
    /// server does not say).
    pub author: String,
    /// The storage-format body (empty when not asked for).
    pub body: String,
}

/// What [`Confluence::publish`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub id: String,
    /// The page's version now.
    pub version: u64,
    /// A new page (else an update, or nothing when the body was the same).
    pub created: bool,
    /// The body was already the page's: nothing written.
    pub unchanged: bool,
    /// Stale versions (409) re-read and retried.
    pub stale_retries: u32,
}

enum Auth {
    None,
    Basic(String, portcullis_core::secret::Secret),
    Bearer(portcullis_core::secret::Secret),
}

/// A Confluence client for one space.
pub struct Confluence {
    http: reqwest::Client,
    opts: ConfluenceOptions,
    auth: Auth,
    origin: String,
    /// Cloud: the space's numeric id, once looked up.
    space_id: Mutex<Option<String>>,
}

/// Why an attempt is retried.
#[derive(Debug)]
enum Trouble {
    Transport(reqwest::Error),
    Status(StatusCode),
}

impl std::fmt::Display for Trouble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trouble::Transport(e) if e.is_timeout() => f.write_str("no answer in time"),
            Trouble::Transport(e) if e.is_connect() => f.write_str("cannot connect"),
            Trouble::Transport(_) => f.write_str("the connection failed"),
            Trouble::Status(s) => write!(f, "HTTP {}", s.as_u16()),
        }
    }
}

impl Confluence {
    /// A client; `credentials` `None` is anonymous.
    pub fn new(
        opts: ConfluenceOptions,
        credentials: Option<ConfluenceCredentials>,
    ) -> Result<Self> {
        let http = portcullis_http::client(&portcullis_http::ClientConfig::new(opts.timeout))
            .map_err(|e| Problem::internal("cannot set up the HTTP client").because(e))?;
        let (auth, origin) = match credentials {
            None => (Auth::None, "no credentials".to_string()),
            Some(c) => (
                match c.user {
                    Some(u) => Auth::Basic(u, c.token),
                    None => Auth::Bearer(c.token),
                },
                c.origin,
            ),
        };
        Ok(Confluence {
            http,
            opts: ConfluenceOptions {
                url: opts.url.trim_end_matches('/').to_string(),
                ..opts
            },
            auth,
            origin,
            space_id: Mutex::new(None),
        })
    }

    fn site(&self) -> &str {
        &self.opts.url
    }

    /// One request, retried as the policy says; the status and JSON of the answer (every
    /// status but 429, 5xx and transport failures is handed back).
    async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value)> {
        let url = format!("{}{path_and_query}", self.opts.url);
        let span = tracing::warn_span!("confluence", path = %path_and_query.split('?').next().unwrap_or(""));
        let attempt = |_n: u32| {
            let mut req = self.http.request(method.clone(), &url);
            req = match &self.auth {
                Auth::None => req,
                Auth::Basic(u, t) => req.basic_auth(u, Some(t.expose())),
                Auth::Bearer(t) => req.bearer_auth(t.expose()),
            };
            req = req.header("accept", "application/json");
            if let Some(b) = body {
                req = req.json(b);
            }
            async move {
                let resp = match req.send().await {
                    Ok(r) => r,
                    Err(e) => {
                        return Step::Retry {
                            retry: Retry::Backoff,
                            why: Trouble::Transport(e),
                        }
                    }
                };
                let status = resp.status();
                let headers = resp.headers().clone();
                let bytes = match resp.bytes().await {
                    Ok(b) => b,
                    Err(e) => {
                        return Step::Retry {
                            retry: Retry::Backoff,
                            why: Trouble::Transport(e),
                        }
                    }
                };
                if status == StatusCode::TOO_MANY_REQUESTS {
                    return Step::Retry {
                        retry: Retry::After(portcullis_http::retry_after_now(status, &headers)),
                        why: Trouble::Status(status),
                    };
                }
                if status.is_server_error() {
                    return Step::Retry {
                        retry: Retry::Backoff,
                        why: Trouble::Status(status),
                    };
                }
                Step::Done((
                    status,
                    serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null),
                ))
            }
        };
        let (status, value) = portcullis_http::run(&self.opts.retry_policy(), attempt, |_| {})
            .instrument(span)
            .await
            .map_err(|stopped| {
                let p = Problem::input(format!(
                    "Confluence at {} did not answer after {} attempt(s)",
                    self.site(),
                    stopped.attempts
                ))
                .hint("check confluence.url and the network; portcullis retries rate limits and server errors");
                match stopped.why {
                    Trouble::Transport(e) => p.because(e),
                    Trouble::Status(s) => p.because(StatusError(s.as_u16())),
                }
            })?;
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(Error::input(format!(
                "Confluence at {} refused the credentials from {} (HTTP {})",
                self.site(),
                self.origin,
                status.as_u16()
            ))
            .hint("check the token in PORTCULLIS_CONFLUENCE_TOKEN or the credentials file's [confluence] table (with `user` for Basic auth), and that it may write to the space"));
        }
        Ok((status, value))
    }

    fn failed(&self, what: &str, status: StatusCode, v: &Value) -> Error {
        let message = v["message"].as_str().unwrap_or("").to_string();
        Error::input(format!(
            "Confluence at {} refused to {what} (HTTP {}){}",
            self.site(),
            status.as_u16(),
            if message.is_empty() {
                String::new()
            } else {
                format!(": {message}")
            }
        ))
    }

    /// Cloud: the space's numeric id (`GET /wiki/api/v2/spaces?keys=`), looked up once.
    async fn space_id(&self) -> Result<String> {
        if let Some(id) = self
            .space_id
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Ok(id);
        }
        let path = format!("/wiki/api/v2/spaces?keys={}", encode(&self.opts.space));
        let (status, v) = self.call(Method::GET, &path, None).await?;
        if !status.is_success() {
            return Err(self.failed(&format!("find the space {}", self.opts.space), status, &v));
        }
        let id = match &v["results"][0]["id"] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => {
                return Err(Error::input(format!(
                    "Confluence at {} has no space with the key {}",
                    self.site(),
                    self.opts.space
                ))
                .hint("check `space` in [confluence] (the space key, e.g. DM)"))
            }
        };
        *self.space_id.lock().unwrap_or_else(|e| e.into_inner()) = Some(id.clone());
        Ok(id)
    }

    /// The page titled `title` in the space, with its body and version.
    pub async fn find(&self, title: &str) -> Result<Option<PageInfo>> {
        let path = match self.opts.flavor {
            Flavor::DataCenter => format!(
                "/rest/api/content?type=page&spaceKey={}&title={}&expand=body.storage,version",
                encode(&self.opts.space),
                encode(title)
            ),
            Flavor::Cloud => format!(
                "/wiki/api/v2/pages?space-id={}&title={}&body-format=storage",
                encode(&self.space_id().await?),
                encode(title)
            ),
        };
        let (status, v) = self.call(Method::GET, &path, None).await?;
        if !status.is_success() {
            return Err(self.failed(&format!("find the page {title:?}"), status, &v));
        }
        Ok(v["results"]
            .as_array()
            .and_then(|r| r.first())
            .map(page_info))
    }

    /// A page by id, with its body and version.
    pub async fn get(&self, id: &str) -> Result<PageInfo> {
        let path = match self.opts.flavor {
            Flavor::DataCenter => {
                format!(
                    "/rest/api/content/{}?expand=body.storage,version",
                    encode(id)
                )
            }
            Flavor::Cloud => format!("/wiki/api/v2/pages/{}?body-format=storage", encode(id)),
        };
        let (status, v) = self.call(Method::GET, &path, None).await?;
        if !status.is_success() {
            return Err(self.failed(&format!("read page {id}"), status, &v));
        }
        Ok(page_info(&v))
    }

    /// Every page of the space, with bodies, following `_links.next`.
    pub async fn pages(&self) -> Result<Vec<PageInfo>> {
        let mut path = match self.opts.flavor {
            Flavor::DataCenter => format!(
                "/rest/api/content?type=page&spaceKey={}&expand=body.storage,version&limit=50",
                encode(&self.opts.space)
            ),
            Flavor::Cloud => format!(
                "/wiki/api/v2/spaces/{}/pages?body-format=storage&limit=50",
                encode(&self.space_id().await?)
            ),
        };
        let mut out = Vec::new();
        loop {
            let (status, v) = self.call(Method::GET, &path, None).await?;
            if !status.is_success() {
                return Err(self.failed("list the pages of the space", status, &v));
            }
            let results = v["results"].as_array().cloned().unwrap_or_default();
            out.extend(results.iter().map(page_info));
            match v["_links"]["next"].as_str() {
                // `next` is relative to the site (its context path included in `base`).
                Some(next) if !results.is_empty() => {
                    path = match v["_links"]["context"].as_str() {
                        Some(ctx) if !ctx.is_empty() => {
                            next.strip_prefix(ctx).unwrap_or(next).to_string()
                        }
                        _ => next.to_string(),
                    }
                }
                _ => return Ok(out),
            }
        }
    }

    /// Create `title` with `body` under `parent` (a page id), or update it as a new version:
    /// on a stale version (409) re-read the page and retry, up to [`STALE_RETRIES`] times.
    pub async fn publish(
        &self,
        title: &str,
        parent: Option<&str>,
        body: &str,
    ) -> Result<Published> {
        let mut stale_retries = 0;
        loop {
            let page = match self.find(title).await? {
                Some(p) => p,
                None => {
                    let (path, doc) = match self.opts.flavor {
                        Flavor::DataCenter => {
                            let mut doc = json!({
                                "type": "page",
                                "title": title,
                                "space": {"key": self.opts.space},
                                "body": {"storage": {"value": body, "representation": "storage"}},
                            });
                            if let Some(p) = parent {
                                doc["ancestors"] = json!([{ "id": p }]);
                            }
                            ("/rest/api/content", doc)
                        }
                        Flavor::Cloud => {
                            let mut doc = json!({
                                "spaceId": self.space_id().await?,
                                "status": "current",
                                "title": title,
                                "body": {"representation": "storage", "value": body},
                            });
                            if let Some(p) = parent {
                                doc["parentId"] = json!(p);
                            }
                            ("/wiki/api/v2/pages", doc)
                        }
                    };
                    let (status, v) = self.call(Method::POST, path, Some(&doc)).await?;
                    if status.is_success() {
                        let p = page_info(&v);
                        return Ok(Published {
                            id: p.id,
                            version: p.version,
                            created: true,
                            unchanged: false,
                            stale_retries,
                        });
                    }
                    // Someone created it meanwhile: update theirs.
                    if status == StatusCode::BAD_REQUEST
                        && v["message"]
                            .as_str()
                            .is_some_and(|m| m.contains("already exists"))
                        && stale_retries < STALE_RETRIES
                    {
                        stale_retries += 1;
                        continue;
                    }
                    return Err(self.failed(&format!("create the page {title:?}"), status, &v));
                }
            };
            if page.body == body {
                return Ok(Published {
                    id: page.id,
                    version: page.version,
                    created: false,
                    unchanged: true,
                    stale_retries,
                });
            }
            let version =
                json!({"number": page.version + 1, "message": "portcullis minutes --publish"});
            let (path, doc) = match self.opts.flavor {
                Flavor::DataCenter => (
                    format!("/rest/api/content/{}", encode(&page.id)),
                    json!({
                        "id": page.id,
                        "type": "page",
                        "title": title,
                        "version": version,
                        "body": {"storage": {"value": body, "representation": "storage"}},
                    }),
                ),
                Flavor::Cloud => (
                    format!("/wiki/api/v2/pages/{}", encode(&page.id)),
                    json!({
                        "id": page.id,
                        "status": "current",
                        "title": title,
                        "version": version,
                        "body": {"representation": "storage", "value": body},
                    }),
                ),
            };
            let (status, v) = self.call(Method::PUT, &path, Some(&doc)).await?;
            if status.is_success() {
                return Ok(Published {
                    id: page.id,
                    version: page_info(&v).version,
                    created: false,
                    unchanged: false,
                    stale_retries,
                });
            }
            if status == StatusCode::CONFLICT && stale_retries < STALE_RETRIES {
                stale_retries += 1;
                tracing::warn!(page = %page.id, attempt = stale_retries, "stale page version; re-reading");
                continue;
            }
            return Err(self.failed(&format!("update the page {title:?}"), status, &v));
        }
    }
}

/// An HTTP status as an error source.
#[derive(Debug)]
struct StatusError(u16);

impl std::fmt::Display for StatusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {}", self.0)
    }
}

impl std::error::Error for StatusError {}

fn page_info(v: &Value) -> PageInfo {
    PageInfo {
        id: match &v["id"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        },
        title: v["title"].as_str().unwrap_or("").to_string(),
        version: v["version"]["number"].as_u64().unwrap_or(0),
        author: [
            "/version/by/username",
            "/version/by/accountId",
            "/version/authorId",
        ]
        .iter()
        .find_map(|p| v.pointer(p).and_then(Value::as_str))
        .unwrap_or("")
        .to_string(),
        body: v["body"]["storage"]["value"]
            .as_str()
            .unwrap_or("")
            .to_string(),
    }
}

/// Percent-encode a query value or path segment.
fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Escape text for storage format (XHTML): `&`, `<`, `>`, `"` and `'`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in XML 1.0.
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_leaves_no_markup() {
        assert_eq!(
            escape("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
    }
}
