//! `verify --fetch`: update a clone with `git fetch`, run as a subprocess with arguments (never
//! through a shell), with terminal prompts off so that a credential prompt cannot hang a run.

use std::path::Path;
use std::process::{Command, Stdio};

/// Fetch `origin` (branches and tags) into the clone at `path`. The error says what git said.
pub fn fetch(path: &Path) -> std::result::Result<(), String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(path)
        .args(["fetch", "--quiet", "--tags", "--prune", "origin"])
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `git fetch`: {e}; is git installed?"))?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(format!(
            "`git fetch` failed in {}: {}",
            path.display(),
            err.trim()
        ))
    }
}
