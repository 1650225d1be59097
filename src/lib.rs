//! # portcullis
//!
//! Release change control and backport tracking. portcullis keeps a local SQLite **ledger** of
//! every backport request, committee decision and label change for a release line (`v23` on
//! `v23.0.x` branches), derives where each request stands, and keeps what the policy forbids as
//! **violations** with their evidence.
//!
//! ## Map
//! - [`domain`]: the pure core: [`domain::policy`] (the policy file), [`domain::workflow`] (the
//!   state machine and its transition table), [`domain::event`] (events and the derivation of a
//!   ticket's state), [`domain::time`].
//! - [`ledger`]: SQLite: opening safely, numbered migrations, the append-only hash-chained event
//!   log, derived tables, rebuild and chain verification.
//! - [`sync`]: tracker adapters: Jira wire types and the import of saved search responses
//!   (parse → pure plan → one transaction).
//! - [`git`]: the verifier: scanning release branches with libgit2 ([`git::scan`]), the
//!   per-commit and per-scan caches ([`git::cache`]), merge/trailer/tag text rules
//!   ([`git::text`]) and the pure verdict per ticket and repository with its drift
//!   ([`git::verify`]).
//! - [`release`]: patch releases, pure: the manifest and its hash, the version rule, the texts
//!   (versiondb, notes, changelog); the gate and the cut are in `ops::release`.
//! - [`ops`]: the operations every front end calls (status, decide, history, audit, rebuild,
//!   meetings and minutes in [`ops::meeting`]) and the workspace (config + policy + ledger).
//! - [`triage`]: the committee's terminal screen (ratatui): a snapshot of the ledger, a state
//!   machine of keys, pure drawing, and the terminal loop.
//! - [`cli`]: clap definitions, one function per command, output as table / JSON / CSV / Markdown.
//! - [`demo`]: the self-contained demo workspace, with its git repositories.
//! - [`testkit`]: test doubles over real TCP and real git repositories (Jira server, repository
//!   builders, synthetic campaigns, a pseudo-terminal driver), shared by tests, demo and
//!   benchmarks.
//!
//! Data flows one way: trackers, files and git → events → derived state → operations → front ends.

pub mod bot;
pub mod cli;
pub mod demo;
pub mod domain;
pub mod error;
pub mod git;
pub mod ledger;
pub mod notify;
pub mod ops;
pub mod release;
pub mod sync;
pub mod testkit;
pub mod triage;

pub use error::{Error, ErrorKind, Result};
