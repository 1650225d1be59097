//! # portcullis-trackers
//!
//! Tracker adapters: wire types, the import of saved Jira responses, the live Jira and GitHub
//! clients, sync and write-back.
//!
//! Every adapter follows the same shape: fetch → plan (pure, [`import::plan_issue`]) → apply in
//! one ledger transaction (per file, or per search page).

pub mod credentials;
pub mod error;
pub mod github;
pub mod github_client;
pub mod import;
pub mod jira_client;
pub mod jira_wire;
pub mod live;
pub mod push;

pub use error::{Error, Result};
