//! `portcullis triage`: the committee's weekly meeting in one terminal screen.
//!
//! - [`data`] reads what the screen shows from the ledger (a snapshot) and computes the git facts
//!   beside it (would a backport pick cleanly, what blocks the next cut);
//! - [`app`] is the screen's state; `keys` says what each key does, and `submit` what a
//!   completed prompt does: decisions are written to the ledger at once, one transaction each;
//! - [`ui`] draws a frame from the state (pure, snapshot-tested on `TestBackend`);
//! - [`term`] owns the terminal: raw mode, the alternate screen, mouse, restoring it on every way
//!   out, picking up other processes' writes, and logging to a file while the screen is open.

pub mod app;
pub mod data;
mod keys;
mod submit;
pub mod term;
pub mod ui;

pub use term::{run, TriageOptions};
