//! Names and addresses: a repository `owner/name`, the ticket keys made from it, the API root,
//! and percent-encoded path segments.

use portcullis_core::error::Problem;
use serde::Serialize;

use crate::{Error, Result};

/// A repository, `owner/name`. Its `name` makes the ticket keys (`name#123`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct RepoRef {
    pub owner: String,
    pub name: String,
}

impl RepoRef {
    /// Parse `owner/name` (GitHub's characters only).
    pub fn parse(s: &str) -> Result<RepoRef> {
        let ok = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        };
        match s.trim().split_once('/') {
            Some((owner, name)) if ok(owner) && ok(name) => Ok(RepoRef {
                owner: owner.to_string(),
                name: name.to_string(),
            }),
            _ => Err(Error::input(format!(
                "`{s}` in github.repos is not a repository like `owner/name`"
            ))
            .hint("list repositories as e.g. repos = [\"lsst/daf_butler\", \"lsst/pipe_tasks\"]")),
        }
    }

    /// `owner/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    /// The ticket key of an issue or pull request of this repository.
    pub fn key(&self, number: u64) -> String {
        format!("{}#{number}", self.name)
    }
}

/// Split a GitHub ticket key `name#123` into the repository name and the number.
pub fn split_key(key: &str) -> Option<(&str, u64)> {
    let (name, number) = key.rsplit_once('#')?;
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    let n = number.parse::<u64>().ok()?;
    (valid && !number.starts_with('+')).then_some((name, n))
}

/// Check the configured API root: http(s), no credentials, no query. Returns it without a
/// trailing slash.
pub fn parse_api_url(url: &str) -> Result<String> {
    let mut u = reqwest::Url::parse(url.trim()).map_err(|e| {
        Error::from(
            Problem::input("the GitHub address is not a URL")
                .because(e)
                .hint("set github.url in portcullis.toml to https://api.github.com or https://HOST/api/v3"),
        )
    })?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(Error::input(format!(
            "the GitHub address must be http or https, not `{}`",
            u.scheme()
        )));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(Error::input("the GitHub address contains credentials").hint(
            "remove them from the URL; put the token in PORTCULLIS_GITHUB_TOKEN or the credentials file",
        ));
    }
    u.set_query(None);
    u.set_fragment(None);
    Ok(u.as_str().trim_end_matches('/').to_string())
}

/// A percent-encoded path segment (label names may hold spaces, `/`, `#`, …); unreserved
/// characters (`-_.~`) stay as they are.
pub fn pct_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
