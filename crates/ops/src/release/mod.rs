//! `cut`, `releases`, `release show`, `step`: the gate and the cut of a patch release, and the
//! campaign's steps.
//!
//! Order of effects, so that a rerun completes what an interrupted cut left: everything is
//! checked first (nothing written while anything blocks); then the tags (an existing tag at the
//! same commit is kept, at another commit it blocks); then the manifest event in one ledger
//! transaction (deduplicated by line and tag); then the files.
//!
//! - `cut`: the cut itself, step by step, over the modules below.
//! - `options`: what a cut is asked to do ([`CutOptions`]) and what it reports ([`CutReport`]).
//! - `gate`: the checks that block a cut (versions, steps, landings, repositories, drift,
//!   pending tracker writes, violations).
//! - `tagging`: creating the tags and pushing them.
//! - `record`: the releases in the ledger: reading them, recording a cut or a refused one.
//! - `files`: the manifest files written after a cut.
//! - `learn`: the releases cut on other machines, learned from published manifests or tags.
//! - `steps`: the campaign's steps, approval targets and the readiness of a line.

mod cut;
mod files;
mod gate;
mod learn;
mod options;
mod record;
mod steps;
mod tagging;

pub use cut::cut;
pub use learn::{learn, Learned};
pub use options::{CutOptions, CutReport};
pub use record::{releases, show, Recorded, CUT_FAILED, RELEASE_CUT};
pub use steps::{
    check_target, readiness, step_event, steps, steps_in, target_of, targets, targets_from,
    Readiness, ReleaseReadiness, StepRow, STEP_FINISHED, STEP_STARTED,
};
