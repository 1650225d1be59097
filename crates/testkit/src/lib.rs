//! # portcullis-testkit
//!
//! Test doubles that behave like the real services, over real TCP, and the tools the tests and
//! benchmarks share. A dev-dependency only (`publish = false`): nothing here reaches the shipped
//! binary unless it is built with the `test-servers` feature for `demo --jira` / `demo --notify`.
//!
//! - [`jira_server`], [`github_server`], [`chat_server`]: stateful, paginated, rate-limited
//!   servers shaped like the captures in `tests/fixtures/`, runnable on their own as examples.
//! - [`confluence_server`]: spaces and versioned pages in storage format, where `minutes
//!   --publish` writes and `minutes --import` reads.
//! - [`gitrepo`]: synthetic campaigns of large repositories for the benchmarks, packs, shallow
//!   and damaged clones (building histories is the product's `portcullis_git::build`).
//! - [`postgres`](mod@postgres): a throwaway PostgreSQL cluster (or the server
//!   `PORTCULLIS_TEST_POSTGRES_URL` names), a fresh database per test.
//! - [`pty`]: a pseudo-terminal driver for the triage screen's end-to-end tests.
//! - [`bench`](mod@bench): what the benchmark examples share.

pub mod bench;
pub mod chat_server;
pub mod confluence_server;
pub mod github_server;
pub mod gitrepo;
pub mod jira_server;
pub mod postgres;
pub mod pty;
pub mod serve;

/// The campaign histories of `portcullis_git::campaign`, where the tests have always found them.
pub use portcullis_git::campaign as backports;
