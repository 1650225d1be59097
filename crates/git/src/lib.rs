//! # portcullis-git
//!
//! Git verification: scanning release branches ([`scan`]), caching per-commit facts
//! ([`cache`]), the text rules of merges, trailers and tags ([`text`]), and the pure verdict per
//! ticket and repository with its drift ([`verify`]). Also writing histories ([`build`],
//! [`campaign`]): the offline demo builds its repositories with them, so they are product code,
//! and the tests and benchmarks reuse them.
//!
//! Local clones only, read with libgit2 (vendored); the optional fetch runs `git fetch` as a
//! subprocess with arguments, never through a shell ([`fetch`]).
//!
//! Why the shape:
//! - The crate knows nothing of the ledger. Facts and scans are kept between runs through the
//!   [`cache::FactStore`] trait; `portcullis_ops::verify` implements it over the ledger's
//!   `git_cache` tables. libgit2 is the slowest part of the build, and this keeps it off the
//!   path of every crate that does not verify.
//! - [`model`] holds the types that [`scan`] produces and [`cache`] keeps, so neither imports the
//!   other, and [`verify`] judges scans without knowing how they were read.
//! - `scan` reads (`reader`, `attribution`, `counterpart`, `line`, `content`), with the lines of
//!   a change read as blob diffs of the files its own tree walk found (`blobdiff`, shared with
//!   [`moved`]); `verify` judges in three steps (`evidence`, `judge`, `drift`). What counts as
//!   a backport is in `../shared/docs/real-world-backports.md`: read it before changing
//!   either.

mod blobdiff;
pub mod build;
pub mod cache;
pub mod campaign;
pub mod error;
pub mod fetch;
pub mod model;
pub mod moved;
pub mod pick;
pub mod scan;
pub mod text;
pub mod verify;

pub use error::{Error, GitContext, Result};
