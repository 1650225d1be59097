//! `backport --push`: `git push <remote> <branch>` run as a subprocess with arguments (never
//! through a shell), prompts off. What git says of a rejection is reported with any
//! credentials in URLs masked.

use std::path::Path;
use std::process::{Command, Stdio};

use regex::Regex;

use crate::error::{Error, Result};

/// Push the local branch `branch` of the clone at `path` to the same name on `remote`.
/// `Ok(Err(why))` when git refused (rejected, unreachable, no such remote).
pub fn push(path: &Path, remote: &str, branch: &str) -> Result<std::result::Result<(), String>> {
    let spec = format!("refs/heads/{branch}:refs/heads/{branch}");
    let out = Command::new("git")
        .arg("-C")
        .arg(path)
        .args(["push", "--quiet", "--", remote, &spec])
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::io("run git push in", path, e).hint("is git installed and on PATH?"))?;
    if out.status.success() {
        return Ok(Ok(()));
    }
    let said = String::from_utf8_lossy(&out.stderr);
    Ok(Err(mask_credentials(said.trim())))
}

/// `https://user:token@host/…` → `https://***@host/…`.
pub fn mask_credentials(text: &str) -> String {
    match Regex::new(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@") {
        Ok(re) => re.replace_all(text, "${1}***@").into_owned(),
        Err(_) => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_urls_are_masked() {
        assert_eq!(
            mask_credentials("fatal: unable to access 'https://bot:s3cret@example.org/x.git/'"),
            "fatal: unable to access 'https://***@example.org/x.git/'"
        );
        assert_eq!(
            mask_credentials("! [rejected] (non-fast-forward)"),
            "! [rejected] (non-fast-forward)"
        );
    }
}
