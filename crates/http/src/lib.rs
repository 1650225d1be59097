//! # portcullis-http
//!
//! One HTTP policy for every client portcullis runs (Jira, chat; GitHub goes through octocrab):
//! the reqwest client with rustls and ring, timeouts, and one implementation of retries, backoff
//! and `Retry-After`.
