//! What a tracker client needs to log in. Where the values come from (the environment, the
//! credentials file) is the workspace's business: `portcullis_ops::credentials`.

use portcullis_core::secret::Secret;

/// Credentials for Jira.
#[derive(Debug, Clone)]
pub struct JiraCredentials {
    /// Jira Cloud's account email (Basic auth `email:token`); unused on Data Center.
    pub email: Option<String>,
    pub token: Secret,
    /// Where they came from, for messages (never the value).
    pub origin: String,
}

/// Credentials for GitHub: a personal access token (or any token GitHub takes as Bearer).
#[derive(Debug, Clone)]
pub struct GithubCredentials {
    pub token: Secret,
    /// Where it came from, for messages (never the value).
    pub origin: String,
}

/// Credentials for Confluence: a personal access token (Bearer) on Data Center, or with a
/// `user` (Cloud's account email, or a Data Center user name) Basic `user:token`.
#[derive(Debug, Clone)]
pub struct ConfluenceCredentials {
    pub user: Option<String>,
    pub token: Secret,
    /// Where they came from, for messages (never the value).
    pub origin: String,
}
