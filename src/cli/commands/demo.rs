use std::path::PathBuf;

use portcullis_ops::Result;

pub fn run(dir: Option<PathBuf>, temp: bool, jira: bool, triage: bool, notify: bool) -> Result<u8> {
    crate::demo::run(dir, temp, jira, triage, notify)
}
