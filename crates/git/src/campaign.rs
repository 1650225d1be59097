//! Release-campaign histories in small real repositories: the building blocks of the verifier's
//! scenario tests and of the demo. A [`CampaignRepo`] starts with `main`, a tag
//! `v23.0.0.rc1` and the release branch `v23.0.x` made from it; fixes land on `main` through
//! ticket branches merged as pull requests, and backports go through `tickets/DM-X-v23`
//! branches merged into the release branch, as in `../shared/docs/real-world-backports.md`.

use std::path::Path;

use git2::Oid;

use crate::build::{Change, RepoBuilder};
use crate::error::{GitContext, Result};

/// The files every campaign repository starts with (30 numbered lines each).
pub const FILES: [&str; 3] = [
    "python/pkg/core.py",
    "python/pkg/io.py",
    "tests/test_core.py",
];

pub const MAIN: &str = "main";
pub const RELEASE: &str = "v23.0.x";

/// A repository of a release campaign under construction.
pub struct CampaignRepo {
    pub b: RepoBuilder,
    pr: u32,
}

fn initial(file: &str) -> String {
    (1..=30).map(|i| format!("line {i} of {file}\n")).collect()
}

impl CampaignRepo {
    /// `main` with three commits, `v23.0.0.rc1` on its tip and `v23.0.x` branched there.
    pub fn new(path: &Path) -> Result<CampaignRepo> {
        CampaignRepo::new_at(path, crate::build::DEFAULT_START)
    }

    /// [`CampaignRepo::new`] with the first commit at `epoch_secs`.
    pub fn new_at(path: &Path, epoch_secs: i64) -> Result<CampaignRepo> {
        let mut b = RepoBuilder::init(path)?;
        b.set_time(epoch_secs);
        let files: Vec<(String, String)> =
            FILES.iter().map(|f| (f.to_string(), initial(f))).collect();
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_str()))
            .collect();
        b.write(MAIN, "Initial import", &refs)?;
        let mut r = CampaignRepo { b, pr: 100 };
        r.edit(MAIN, "Tidy core", FILES[0], 2, "tidied line 2")?;
        r.edit(MAIN, "Tidy io", FILES[1], 2, "tidied line 2")?;
        r.b.tag("v23.0.0.rc1", MAIN, "Version 23.0.0.rc1")?;
        r.b.branch(RELEASE, "v23.0.0.rc1")?;
        Ok(r)
    }

    /// A repository with only `main` (for one whose release branch was never made).
    pub fn main_only(path: &Path) -> Result<CampaignRepo> {
        let r = CampaignRepo::new(path)?;
        r.b.repo()
            .find_reference(&format!("refs/heads/{RELEASE}"))?
            .delete()?;
        Ok(r)
    }

    /// Replace line `line` (1-based) of `file` on `branch` with `text`, as one commit.
    pub fn edit(
        &mut self,
        branch: &str,
        message: &str,
        file: &str,
        line: usize,
        text: &str,
    ) -> Result<Oid> {
        self.edits(branch, message, &[(file, line, text)])
    }

    /// Several line edits in one commit.
    pub fn edits(
        &mut self,
        branch: &str,
        message: &str,
        edits: &[(&str, usize, &str)],
    ) -> Result<Oid> {
        let mut contents: Vec<(String, String)> = Vec::new();
        for (file, line, text) in edits {
            let current = match contents.iter().position(|(f, _)| f == file) {
                Some(i) => contents.remove(i).1,
                None => self.b.read(branch, file).unwrap_or_else(|_| initial(file)),
            };
            let mut lines: Vec<String> = current.lines().map(str::to_string).collect();
            while lines.len() < *line {
                lines.push(String::new());
            }
            lines[line - 1] = text.to_string();
            contents.push((file.to_string(), lines.join("\n") + "\n"));
        }
        let changes: Vec<Change<'_>> = contents.iter().map(|(f, c)| Change::Write(f, c)).collect();
        self.b.commit(branch, message, &changes)
    }

    /// Merge `branch` into `into` as a pull request (`Merge pull request #N from lsst/<branch>`)
    /// and delete it.
    pub fn merge_pr(&mut self, into: &str, branch: &str) -> Result<Oid> {
        self.pr += 1;
        let msg = format!(
            "Merge pull request #{} from lsst/{branch}\n\n{branch}",
            self.pr
        );
        let m = self.b.merge(into, branch, &msg)?;
        self.b.delete_branch(branch)?;
        Ok(m)
    }

    /// A fix for `key` on main: branch `tickets/KEY`, one commit per edit, merged as a PR.
    /// Returns the fix commits (not the merge).
    pub fn fix_on_main(
        &mut self,
        key: &str,
        edits: &[(&str, usize, &str, &str)],
    ) -> Result<Vec<Oid>> {
        let branch = format!("tickets/{key}");
        self.b.branch(&branch, MAIN)?;
        let mut out = Vec::new();
        for (file, line, text, subject) in edits {
            out.push(self.edit(&branch, subject, file, *line, text)?);
        }
        self.merge_pr(MAIN, &branch)?;
        Ok(out)
    }

    /// Backport `commits` by cherry-picking them onto `tickets/<branch>` made from the release
    /// branch, merged as a PR. Returns the picked commits.
    pub fn backport(&mut self, branch: &str, commits: &[Oid]) -> Result<Vec<Oid>> {
        let branch = format!("tickets/{branch}");
        self.b.branch(&branch, RELEASE)?;
        let mut out = Vec::new();
        for c in commits {
            out.push(
                self.b
                    .cherry_pick(&branch, *c, None)
                    .ctx(|| format!("backporting {c}"))?,
            );
        }
        self.merge_pr(RELEASE, &branch)?;
        Ok(out)
    }

    /// Commits written on a release ticket branch by `f`, merged as a PR.
    pub fn on_release_branch(
        &mut self,
        branch: &str,
        f: impl FnOnce(&mut CampaignRepo, &str) -> Result<()>,
    ) -> Result<Oid> {
        let branch = format!("tickets/{branch}");
        self.b.branch(&branch, RELEASE)?;
        f(self, &branch)?;
        self.merge_pr(RELEASE, &branch)
    }

    /// Check out `main` so that the clone looks like a developer's.
    pub fn finish(&mut self) -> Result<()> {
        self.b.finish(MAIN)
    }
}
