//! Git verification: scanning release branches ([`scan`]), caching per-commit facts
//! ([`cache`]), the text rules of merges, trailers and tags ([`text`]), and the pure verdict per
//! ticket and repository with its drift ([`verify`]).
//!
//! Local clones only, read with libgit2 (vendored); the optional fetch runs `git fetch` as a
//! subprocess with arguments, never through a shell ([`fetch`]).

pub mod cache;
pub mod fetch;
pub mod scan;
pub mod text;
pub mod verify;
