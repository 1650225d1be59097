//! # portcullis-core
//!
//! The pure core of portcullis: what a release line, a decision, a landing and a release *are*,
//! and the rules that connect them. No I/O: no files, network, database or git. Everything here
//! is a function over data, tested without any of those.
//!
//! - [`policy`]: the policy file (lines, labels, steps, committee, repositories, rules), loaded
//!   and validated with precise `file:line: key` errors.
//! - [`workflow`]: the state machine of a request on a line, and its transition table.
//! - [`event`]: events, their hash chain, and the derivation of a ticket's state from them.
//! - [`landing`]: the vocabulary of landings and drift.
//! - [`record`]: the decision records pushed into a tracker's comments, and how they are read back.
//! - [`release`]: manifests, the version rule and the release texts.
//! - [`time`], [`text`], [`secret`]: the clock, text that reaches a person, values that never do.
//! - [`error`]: the shape every crate's errors take ([`Problem`], [`Diagnostic`]).
//!
//! Nothing in the workspace sits below this crate; every other crate may use it.

pub mod error;
pub mod event;
pub mod landing;
pub mod policy;
pub mod record;
pub mod release;
pub mod secret;
pub mod text;
pub mod time;
pub mod workflow;

pub use error::{Diagnostic, Error, ErrorKind, Problem, Result};
