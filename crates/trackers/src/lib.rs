//! # portcullis-trackers
//!
//! Jira, GitHub and export files, in one shape ([`tracker::Tracker`]):
//!
//! - [`sync`]: the one sync loop: read a page → plan each ticket (pure) → apply the page in one
//!   ledger transaction with its checkpoint; resumable, incremental, idempotent.
//! - [`push`]: the one write-back loop: the committee's pending decisions, planned per ticket
//!   (pure), checked against the ticket as it stands, written as labels and a comment each.
//! - [`jira`], [`github`]: the adapters: a REST client, wire types, the pure plan of a ticket's
//!   events, and the [`tracker::Tracker`] implementation.
//! - [`file`](mod@file): saved Jira search responses, imported all or nothing with Jira's plan.
//! - [`plan`]: what every plan shares.
//! - [`records`]: decision records read back from comments (trust, applied and rejected blocks).
//!
//! Credentials are passed in ([`credentials`]); where they come from is the workspace's
//! business (`portcullis_ops::credentials`).

pub mod confluence;
pub mod credentials;
pub mod error;
pub mod file;
pub mod github;
pub mod jira;
pub mod plan;
pub mod push;
pub mod records;
pub mod sync;
pub mod tracker;

pub use error::{Error, Result};
pub use tracker::{Account, Tracker};
