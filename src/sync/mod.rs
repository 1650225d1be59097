//! Tracker adapters: wire types, and the import of saved Jira responses.
//!
//! Every adapter follows the same shape: fetch → plan (pure, [`import::plan`]) → apply in one
//! ledger transaction.

pub mod import;
pub mod jira_wire;
