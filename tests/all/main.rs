//! portcullis integration tests: one binary, shared helpers (see `harness`).

mod harness;

mod backport;
mod backport_dry_run;
mod backport_github;
mod bot;
mod cli;
mod concurrency;
mod crash;
mod github;
mod house;
mod import;
mod jira_live;
mod ledger;
mod meetings;
mod minutes_confluence;
mod notify;
mod policy;
mod props;
mod push_record;
mod readme;
mod records;
mod release;
mod release_truth;
mod team;
mod travel;
mod triage;
mod verify;
mod verify_conventions;
mod verify_identity;
mod verify_remembered;
mod verify_verdicts;
