//! # portcullis
//!
//! The front ends of portcullis, over the operations of [`portcullis_ops`]:
//!
//! - [`cli`]: clap definitions, one function per command, output as table / JSON / CSV /
//!   Markdown, and the edge where errors become messages and exit codes;
//! - [`triage`]: the committee's terminal screen (ratatui);
//! - [`bot`]: the long-running service (tokio) that syncs, verifies and posts to chat;
//! - [`demo`]: the self-contained demo workspace and its git repositories;
//! - [`render`]: the text reports shared by the CLI and the demo.
//!
//! No front end owns a rule: they all call the same operations. See `docs/EXTENDING.md` for the
//! map of the workspace.

pub mod bot;
pub mod cli;
pub mod demo;
pub mod render;
pub mod triage;

pub use portcullis_ops::{Error, Result};
