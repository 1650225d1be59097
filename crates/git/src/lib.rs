//! Git verification: scanning release branches ([`scan`]), caching per-commit facts
//! ([`cache`]), the text rules of merges, trailers and tags ([`text`]), and the pure verdict per
//! ticket and repository with its drift ([`verify`]).
//!
//! Local clones only, read with libgit2 (vendored); the optional fetch runs `git fetch` as a
//! subprocess with arguments, never through a shell ([`fetch`]).

pub mod build;
pub mod cache;
pub mod campaign;
pub mod error;
pub mod fetch;
pub mod model;
pub mod scan;
pub mod text;
pub mod verify;

pub use error::{Error, GitContext, Result};
