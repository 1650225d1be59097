//! Real git repositories built quickly, for the tests, the demo and the benchmarks.
//!
//! [`RepoBuilder`] writes commits straight into the object database through git2: the tree of a
//! new commit is an in-memory [`git2::Index`] read from the parent's tree, the changed files are
//! written as blobs and the index is written back as trees with `write_tree_to`. Nothing is
//! checked out while building (that is what makes thousands of commits quick); [`RepoBuilder::finish`]
//! checks out the wanted branch once at the end. Merges, cherry-picks and reverts use git2's
//! in-memory `merge_commits`, `cherrypick_commit` and `revert_commit`, so they behave like git's,
//! conflicts included.
//!
//! Objects are written loose (git2's default), so that [`remove_loose_object`] can simulate a
//! damaged repository. [`synthetic_campaign`] builds many large repositories for the benchmarks;
//! it keeps their objects in memory and writes one pack per repository instead (indexed by
//! `git index-pack` when git is installed, which is much faster than libgit2's indexer).
//!
//! Commit and tag messages are stored the way `git commit` stores them: trailing whitespace
//! trimmed and exactly one final newline.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{anyhow, bail, Context, Result};
use git2::{Oid, Repository};
use rand::distributions::WeightedIndex;
use rand::prelude::*;
use rand_chacha::ChaCha8Rng;

pub use portcullis_git::build::{apply_changes, Change, RepoBuilder, COMMIT_STEP, DEFAULT_START};

/// What the tests and benchmarks do to a built repository beyond what the product needs.
pub trait RepoBuilderExt {
    /// Write every object reachable from the references into one pack in `objects/pack`, as
    /// `git repack` would; with `prune_loose`, delete the loose objects afterwards (as
    /// `git prune-packed` plus `git prune` would: unreachable loose objects go too).
    fn pack_objects(&self, prune_loose: bool) -> Result<()>;
}

impl RepoBuilderExt for RepoBuilder {
    fn pack_objects(&self, prune_loose: bool) -> Result<()> {
        write_pack(self.repo())?;
        if prune_loose {
            let objects = self.repo().path().join("objects");
            for entry in std::fs::read_dir(&objects)? {
                let entry = entry?;
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.len() == 2 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
                    std::fs::remove_dir_all(entry.path())?;
                }
            }
        }
        Ok(())
    }
}

/// One pack of everything reachable from the references (annotated tags included), in the
/// repository's `objects/pack`.
///
/// libgit2 builds the pack (with deltas) in memory; `git index-pack` indexes it, several times
/// faster than libgit2's indexer, which maps the pack window by window for every object and
/// spends most of its time in mmap/munmap when several repositories are packed at once.
/// Without a `git` command, libgit2's indexer does it.
fn write_pack(repo: &Repository) -> Result<()> {
    write_pack_via(repo, true)
}

/// [`write_pack`], indexing with `git index-pack` (when `use_git` and git is installed) or
/// with libgit2.
fn write_pack_via(repo: &Repository, use_git: bool) -> Result<()> {
    let mut walk = repo.revwalk()?;
    walk.push_glob("refs/*")?;
    let mut pb = repo.packbuilder()?;
    pb.set_threads(1);
    pb.insert_walk(&mut walk)?;
    for r in repo.references_glob("refs/tags/*")? {
        let r = r?;
        if let Some(id) = r.target() {
            if repo.find_tag(id).is_ok() {
                pb.insert_object(id, None)?;
            }
        }
    }
    let dir = repo.path().join("objects").join("pack");
    std::fs::create_dir_all(&dir)?;
    let mut buf = git2::Buf::new();
    pb.write_buf(&mut buf)?;
    if use_git {
        let spawned = std::process::Command::new("git")
            .arg("--git-dir")
            .arg(repo.path())
            .args(["index-pack", "--stdin", "--threads=1"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn();
        match spawned {
            Ok(mut child) => {
                if let Some(mut stdin) = child.stdin.take() {
                    std::io::Write::write_all(&mut stdin, &buf)?;
                }
                let out = child.wait_with_output()?;
                if !out.status.success() {
                    bail!(
                        "git index-pack failed in {}: {}",
                        repo.path().display(),
                        String::from_utf8_lossy(&out.stderr).trim()
                    );
                }
                return Ok(());
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(anyhow::Error::new(e).context("cannot run git index-pack")),
        }
    }
    let mut indexer = git2::Indexer::new(None, &dir, 0, false)?;
    std::io::Write::write_all(&mut indexer, &buf)?;
    indexer.commit()?;
    Ok(())
}

/// Make `dst` a shallow copy of `src`: copy the repository directory (worktree and `.git`),
/// then write `.git/shallow` listing `graft`, so that `Repository::is_shallow()` is true.
///
/// Only the shallow file is written; the objects of the commits older than `graft` stay in the
/// copy. That is enough: both git and libgit2 (≥ 1.7) read the shallow file as grafts and treat
/// `graft` as a commit without parents, so `git log`, `rev-list` and git2 revwalks stop there,
/// exactly as in a `git clone --depth` clone.
pub fn make_shallow(src: &Path, dst: &Path, graft: Oid) -> Result<()> {
    if dst.exists() && std::fs::read_dir(dst)?.next().is_some() {
        bail!("{} exists and is not empty", dst.display());
    }
    copy_dir(src, dst)
        .with_context(|| format!("cannot copy {} to {}", src.display(), dst.display()))?;
    let repo = Repository::open(dst)?;
    repo.find_commit(graft)
        .with_context(|| format!("{graft} is not a commit of {}", src.display()))?;
    std::fs::write(repo.path().join("shallow"), format!("{graft}\n"))?;
    Ok(())
}

fn copy_dir(src: &Path, dst: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dst)?;
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let to = dst.join(entry.file_name());
        let ty = entry.file_type()?;
        if ty.is_dir() {
            copy_dir(&entry.path(), &to)?;
        } else if ty.is_symlink() {
            #[cfg(unix)]
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &to)?;
        } else {
            std::fs::copy(entry.path(), &to)?;
        }
    }
    Ok(())
}

/// Delete the loose object file of `oid` in the repository at `path` (to simulate missing
/// objects). Error if it is not loose.
pub fn remove_loose_object(path: &Path, oid: Oid) -> Result<()> {
    let repo = Repository::open(path)
        .with_context(|| format!("no git repository at {}", path.display()))?;
    let hex = oid.to_string();
    let file = repo.path().join("objects").join(&hex[..2]).join(&hex[2..]);
    if !file.is_file() {
        bail!("{oid} is not a loose object of {}", path.display());
    }
    std::fs::remove_file(&file).with_context(|| format!("cannot delete {}", file.display()))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Synthetic release campaign
// ---------------------------------------------------------------------------------------------

/// What a synthetic repository got; see [`synthetic_campaign_stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepoStats {
    pub name: String,
    pub main_commits: usize,
    pub main_tickets: usize,
    /// Non-merge commits on the release branch after the branch point.
    pub release_commits: usize,
    pub backport_tickets: usize,
    pub clean_picks: usize,
    pub edited_picks: usize,
    pub release_only: usize,
    /// Backport pull requests whose 2–3 picks were squashed into one release commit (counted
    /// once in `release_commits`, and not in `clean_picks`/`edited_picks`).
    pub squashed: usize,
}

/// How a synthetic history differs from the default campaign ([`synthetic_history`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistoryShape {
    /// The chance that a backport of a multi-commit ticket is squashed into one release commit.
    pub squash: f64,
    /// Multiplies the time between pull requests (1: minutes to hours; 3: a release branch of
    /// 3,600 main-side commits lives about a year).
    pub gap_scale: i64,
}

impl Default for HistoryShape {
    fn default() -> HistoryShape {
        HistoryShape {
            squash: 0.0,
            gap_scale: 1,
        }
    }
}

/// Build `repos` repositories `dir/repos/pkg_00`, `dir/repos/pkg_01`, … of a synthetic release
/// campaign, deterministically from `seed`; returns their paths. See
/// [`synthetic_campaign_stats`] for what they contain.
pub fn synthetic_campaign(
    dir: &Path,
    repos: usize,
    main_commits: usize,
    backports: usize,
    seed: u64,
) -> Result<Vec<PathBuf>> {
    Ok(
        synthetic_campaign_stats(dir, repos, main_commits, backports, seed)?
            .into_iter()
            .map(|s| dir.join("repos").join(s.name))
            .collect(),
    )
}

/// [`synthetic_campaign`], returning what each repository got.
///
/// Each repository has `main` of exactly `main_commits` commits (a root commit, direct commits
/// and ticket branches `tickets/DM-<n>` of 1–3 commits merged with `--no-ff` merges
/// `Merge pull request #<k> from lsst/tickets/DM-<n>`; about 60 % of the non-merge commits are
/// on tickets), about 50 files in a few directories, each commit editing a few lines of 1–3
/// files. `v23.0.0.rc1` tags the main commit about 70 % along, where `v23.0.x` branches off.
/// The release branch then gets backports while main goes on: pull requests from
/// `tickets/DM-<n>-v23` (made from the release tip) with cherry-picks of a main ticket's commits
/// (about 10 % edited while picking), or release-only commits (about 8 %, such as "Pin moto<3
/// for tests"), merged with `Merge pull request #<k> from lsst/tickets/DM-<n>-v23`. Unedited
/// picks apply cleanly and have the same patch id as their original (`git cherry` shows `-`);
/// edited picks and release-only commits do not (`+`). Tags `23.0.0` (at 40 % of the
/// repository's backports) and `23.0.1` (at 80 %) are on the release branch. Across the
/// repositories there are exactly `backports` non-merge commits on the release branches,
/// spread unevenly. Only `main`, `v23.0.x` and the tags remain as references (ticket branches
/// are gone, as after merging on GitHub); HEAD is `main`, checked out. Author and committer
/// times advance by minutes to hours between pull requests, from 2021-06-01.
///
/// The commits are built detached (branch tips kept in memory, references written at the end)
/// with the objects in memory, then written as one pack per repository with deltas, as in a
/// fresh clone (so [`remove_loose_object`] does not apply to these). Repositories are built in
/// parallel, one per core.
pub fn synthetic_campaign_stats(
    dir: &Path,
    repos: usize,
    main_commits: usize,
    backports: usize,
    seed: u64,
) -> Result<Vec<RepoStats>> {
    synthetic_campaign_sized(dir, &vec![main_commits; repos], backports, seed)
}

/// [`synthetic_campaign_stats`] with a size of `main` for each repository (`sizes[i]` commits
/// for `pkg_<i>`), for campaigns where a few repositories are much larger than the rest.
pub fn synthetic_campaign_sized(
    dir: &Path,
    sizes: &[usize],
    backports: usize,
    seed: u64,
) -> Result<Vec<RepoStats>> {
    synthetic_history(dir, sizes, backports, seed, HistoryShape::default())
}

/// [`synthetic_campaign_sized`] with another [`HistoryShape`]: some multi-commit backports
/// squashed into one release commit, and a release branch that lives longer. With the default
/// shape the repositories are exactly those of [`synthetic_campaign_sized`].
pub fn synthetic_history(
    dir: &Path,
    sizes: &[usize],
    backports: usize,
    seed: u64,
    shape: HistoryShape,
) -> Result<Vec<RepoStats>> {
    let repos = sizes.len();
    if sizes.iter().any(|&n| n < 10) {
        bail!("a synthetic repository needs at least 10 commits on main");
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let quotas = split_backports(&mut rng, repos, backports);
    let jobs: Vec<(usize, u64, usize)> = (0..repos).map(|i| (i, rng.gen(), quotas[i])).collect();
    // Largest first, so that the biggest repository does not start last on its own core.
    let mut order: Vec<usize> = (0..repos).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(sizes[i]));
    let jobs: Vec<(usize, u64, usize)> = order.into_iter().map(|i| jobs[i]).collect();
    let root = dir.join("repos");
    std::fs::create_dir_all(&root)?;

    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(repos.max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<RepoStats>>>> =
        Mutex::new((0..repos).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(&(idx, repo_seed, quota)) = jobs.get(i) else {
                    break;
                };
                let name = format!("pkg_{idx:02}");
                let r = build_synthetic_repo(
                    &root.join(&name),
                    &name,
                    sizes[idx],
                    quota,
                    repo_seed,
                    shape,
                )
                .with_context(|| format!("building {name}"));
                let failed = r.is_err();
                if let Ok(mut all) = results.lock() {
                    all[idx] = Some(r);
                }
                if failed {
                    next.store(usize::MAX / 2, Ordering::SeqCst);
                }
            });
        }
    });
    let results = results
        .into_inner()
        .map_err(|_| anyhow!("a generator thread panicked"))?;
    let mut out = Vec::with_capacity(repos);
    for r in results {
        match r {
            Some(r) => out.push(r?),
            None => bail!("a repository was not generated (an earlier one failed)"),
        }
    }
    Ok(out)
}

/// Spread `total` release commits over `repos`, unevenly (a few repositories get most).
fn split_backports(rng: &mut ChaCha8Rng, repos: usize, total: usize) -> Vec<usize> {
    let mut quotas = vec![0usize; repos];
    if repos == 0 {
        return quotas;
    }
    let weights: Vec<f64> = (0..repos)
        .map(|_| 0.05 + rng.gen::<f64>().powi(3))
        .collect();
    let dist = WeightedIndex::new(&weights).expect("positive weights");
    for _ in 0..total {
        quotas[dist.sample(rng)] += 1;
    }
    quotas
}

const NOUNS: &[&str] = &[
    "bbox",
    "exposure",
    "psf",
    "catalog",
    "dataset",
    "visit",
    "detector",
    "wcs",
    "mask",
    "variance",
    "background",
    "footprint",
    "flux",
    "aperture",
    "schema",
    "collection",
    "registry",
    "datastore",
    "template",
    "coadd",
    "warp",
    "source",
    "flat",
    "bias",
    "dark",
    "fringe",
    "skymap",
    "tract",
    "patch",
    "band",
    "pixel",
    "kernel",
    "metadata",
    "quantum",
    "graph",
    "pipeline",
    "connection",
    "refcat",
    "astrometry",
    "photometry",
    "centroid",
    "shape",
    "ellipse",
    "image",
    "amplifier",
    "crosstalk",
    "defect",
    "overscan",
    "gain",
    "noise",
];
const VERBS: &[&str] = &[
    "compute",
    "get",
    "make",
    "run",
    "read",
    "write",
    "apply",
    "fit",
    "measure",
    "select",
    "match",
    "load",
    "build",
    "check",
    "update",
    "transform",
    "merge",
    "find",
    "scale",
    "clip",
];
const WORDS: &[&str] = &[
    "the", "a", "of", "to", "is", "for", "with", "when", "not", "if", "in", "and", "this", "that",
    "must", "be", "are", "from", "each", "per", "only", "all", "no", "value", "values", "input",
    "output", "result", "default", "missing", "invalid", "expected", "number", "list",
];
const DEVS: &[(&str, &str)] = &[
    ("Mara Lindqvist", "mlindqvist@example.org"),
    ("Tomas Okafor", "tokafor@example.org"),
    ("Priya Raman", "praman@example.org"),
    ("Hugo Brandt", "hbrandt@example.org"),
    ("Elena Sato", "esato@example.org"),
    ("Ana Ruiz", "aruiz@example.org"),
    ("Kofi Mensah", "kmensah@example.org"),
    ("Lena Fischer", "lfischer@example.org"),
    ("Ravi Iyer", "riyer@example.org"),
    ("Jonas Berg", "jberg@example.org"),
];
const RELEASE_ONLY: &[(&str, FileKind)] = &[
    ("Pin moto<3 for tests", FileKind::Requirements),
    (
        "Pin numpy<1.22 on the release branch",
        FileKind::Requirements,
    ),
    ("Skip test that needs a newer astropy", FileKind::Test),
    (
        "Relax tolerance in test for older compilers",
        FileKind::Test,
    ),
    ("Update ups table for the v23 release", FileKind::Table),
    (
        "Work around deprecation warning on the release branch",
        FileKind::Python,
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Python,
    Test,
    Doc,
    Config,
    Requirements,
    Table,
    Other,
}

struct SynthFile {
    path: String,
    kind: FileKind,
    lines: Vec<String>,
    /// Per line: 0 when it is the same on `main` and on the release branch, else the id of the
    /// change on `main` that made it differ (a ticket number, or 1 for a direct commit). A
    /// ticket meant for backporting edits only where lines are 0 or its own, so that its
    /// cherry-picks apply cleanly (and with the same patch id) as most real backports do.
    owner: Vec<u32>,
}

/// Lines within this distance of a backportable hunk must be unchanged since the branch point
/// (git's diff context, so that `git cherry` also finds the pick equivalent).
const CONTEXT: usize = 3;

fn window_free(owner: &[u32], lo: usize, hi: usize, t: u32) -> bool {
    let lo = lo.saturating_sub(CONTEXT);
    let hi = (hi + CONTEXT).min(owner.len());
    owner[lo..hi].iter().all(|&o| o == 0 || o == t)
}

struct Synth {
    rng: ChaCha8Rng,
    files: Vec<SynthFile>,
    weights: WeightedIndex<f64>,
}

impl Synth {
    fn new(pkg: &str, seed: u64) -> Synth {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut nouns: Vec<&str> = NOUNS.to_vec();
        nouns.shuffle(&mut rng);
        let mut specs: Vec<(String, FileKind)> = Vec::new();
        for n in &nouns[..22] {
            specs.push((format!("python/lsst/{pkg}/{n}.py"), FileKind::Python));
        }
        for n in &nouns[22..28] {
            specs.push((
                format!("python/lsst/{pkg}/tasks/{n}Task.py"),
                FileKind::Python,
            ));
        }
        for n in &nouns[..12] {
            specs.push((format!("tests/test_{n}.py"), FileKind::Test));
        }
        for n in &nouns[28..33] {
            specs.push((format!("doc/lsst.{pkg}/{n}.rst"), FileKind::Doc));
        }
        for n in &nouns[33..36] {
            specs.push((format!("config/{n}.py"), FileKind::Config));
        }
        specs.push(("README.rst".into(), FileKind::Doc));
        specs.push(("requirements.txt".into(), FileKind::Requirements));
        specs.push((format!("ups/{pkg}.table"), FileKind::Table));
        specs.push(("setup.cfg".into(), FileKind::Other));
        specs.push(("pyproject.toml".into(), FileKind::Other));
        specs.push((".github/workflows/build.yaml".into(), FileKind::Other));
        let weights: Vec<f64> = specs
            .iter()
            .map(|(_, k)| match k {
                FileKind::Python => 3.0,
                FileKind::Test => 2.0,
                FileKind::Doc => 1.0,
                FileKind::Config => 1.0,
                _ => 0.3,
            })
            .collect();
        let mut synth = Synth {
            rng,
            files: Vec::new(),
            weights: WeightedIndex::new(&weights).expect("positive weights"),
        };
        for (path, kind) in specs {
            let n = match kind {
                FileKind::Python => synth.rng.gen_range(40..180),
                FileKind::Test => synth.rng.gen_range(30..110),
                FileKind::Doc => synth.rng.gen_range(15..60),
                FileKind::Config => synth.rng.gen_range(10..40),
                _ => synth.rng.gen_range(5..20),
            };
            let lines = (0..n).map(|_| synth.line(kind)).collect();
            synth.files.push(SynthFile {
                path,
                kind,
                lines,
                owner: vec![0; n],
            });
        }
        synth
    }

    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[self.rng.gen_range(0..list.len())]
    }

    fn ident(&mut self) -> String {
        let a = self.pick(VERBS);
        let b = self.pick(NOUNS);
        format!("{a}_{b}")
    }

    fn var(&mut self) -> String {
        let a = self.pick(NOUNS);
        if self.rng.gen_bool(0.3) {
            let b = self.pick(NOUNS);
            format!("{a}_{b}")
        } else {
            a.to_string()
        }
    }

    fn phrase(&mut self, n: usize) -> String {
        let mut w: Vec<&str> = Vec::with_capacity(n);
        for i in 0..n {
            w.push(if i % 3 == 1 {
                self.pick(NOUNS)
            } else {
                self.pick(WORDS)
            });
        }
        w.join(" ")
    }

    fn class(&mut self) -> String {
        let n = self.pick(NOUNS);
        let mut c = n[..1].to_uppercase();
        c.push_str(&n[1..]);
        c
    }

    /// One line of a file of this kind.
    fn line(&mut self, kind: FileKind) -> String {
        let ind = ["    ", "        ", "            "][self.rng.gen_range(0..3)];
        let num = self.rng.gen_range(0..2048);
        match kind {
            FileKind::Python | FileKind::Test | FileKind::Config => {
                if self.rng.gen_bool(0.08) {
                    return String::new();
                }
                let roll = self.rng.gen_range(0..12);
                if kind == FileKind::Test && roll < 4 {
                    let v = self.var();
                    return match roll {
                        0 => format!("{ind}self.assertEqual({v}, {num})"),
                        1 => format!("{ind}self.assertIsNotNone({v})"),
                        2 => {
                            let f = self.ident();
                            format!("    def test_{f}(self):")
                        }
                        _ => format!("{ind}self.assertAlmostEqual({v}, {num}.{num}, places=5)"),
                    };
                }
                if kind == FileKind::Config && roll < 6 {
                    let v = self.var();
                    return format!("config.{v}.{} = {num}", self.var());
                }
                match roll {
                    0 => {
                        let (v, f, w) = (self.var(), self.ident(), self.var());
                        format!("{ind}{v} = self.{f}({w}, {num})")
                    }
                    1 => format!("{ind}if {} is None:", self.var()),
                    2 => format!("{ind}    raise RuntimeError(\"{}\")", self.phrase(5)),
                    3 => format!("{ind}# {}", self.phrase(7)),
                    4 => format!("{ind}return {}", self.var()),
                    5 => {
                        let p = self.phrase(4);
                        format!("{ind}self.log.info(\"{p}: %s\", {})", self.var())
                    }
                    6 => {
                        let (f, v, w) = (self.ident(), self.var(), self.var());
                        format!("    def {f}(self, {v}, {w}=None):")
                    }
                    7 => {
                        let (v, w, a) = (self.var(), self.var(), self.pick(NOUNS));
                        format!("{ind}{v} = {w}.{a}[{num}]")
                    }
                    8 => format!("{ind}for {} in {}:", self.pick(NOUNS), self.var()),
                    9 => format!("class {}Task(pipeBase.PipelineTask):", self.class()),
                    10 => {
                        let (v, c) = (self.var(), self.class());
                        format!("{ind}{v} = {c}Config().{}", self.pick(NOUNS))
                    }
                    _ => format!("{ind}\"\"\"{}.\"\"\"", self.phrase(6)),
                }
            }
            FileKind::Doc => match self.rng.gen_range(0..6) {
                0 => String::new(),
                1 => format!("* ``{}``: {}.", self.ident(), self.phrase(6)),
                _ => {
                    let p = self.phrase(10);
                    let mut s = p[..1].to_uppercase();
                    s.push_str(&p[1..]);
                    s.push('.');
                    s
                }
            },
            FileKind::Requirements => {
                let n = self.pick(NOUNS);
                format!("{n}-lib>={}.{}", num % 7, num % 23)
            }
            FileKind::Table => format!("setupRequired({}_{})", self.pick(VERBS), self.pick(NOUNS)),
            FileKind::Other => format!("{} = {}", self.ident(), num),
        }
    }

    /// Edit a few lines (1–2 hunks replacing, inserting or deleting a run of lines), marking
    /// them with `id` in `owner` (parallel to `lines`). With `only`, a hunk goes only where the
    /// lines around it are owned by 0 or `only`. Returns whether anything changed.
    fn edit_lines(
        &mut self,
        lines: &mut Vec<String>,
        owner: &mut Vec<u32>,
        kind: FileKind,
        id: u32,
        only: Option<u32>,
    ) -> bool {
        let hunks = self.rng.gen_range(1..=2);
        let mut changed = false;
        for _ in 0..hunks {
            let len = lines.len();
            let op = if len < 8 {
                1
            } else if len > 300 {
                2
            } else {
                self.rng.gen_range(0..5)
            };
            let n = match op {
                1 => self.rng.gen_range(1..=4),
                2 => self.rng.gen_range(1..=2),
                _ => self.rng.gen_range(1..=3),
            };
            let mut at = None;
            for _try in 0..if only.is_some() { 40 } else { 1 } {
                let a = if op == 1 {
                    self.rng.gen_range(0..=len)
                } else {
                    self.rng.gen_range(0..len - n + 1)
                };
                let hi = if op == 1 { a } else { a + n };
                if only.is_none_or(|t| window_free(owner, a, hi, t)) {
                    at = Some(a);
                    break;
                }
            }
            let Some(at) = at else { continue };
            match op {
                1 => {
                    for k in 0..n {
                        let l = self.line(kind);
                        lines.insert(at + k, l);
                        owner.insert(at + k, id);
                    }
                }
                2 => {
                    lines.drain(at..at + n);
                    owner.drain(at..at + n);
                    if at > 0 {
                        owner[at - 1] = id;
                    }
                    if at < owner.len() {
                        owner[at] = id;
                    }
                }
                _ => {
                    for k in 0..n {
                        lines[at + k] = self.line(kind);
                        owner[at + k] = id;
                    }
                }
            }
            changed = true;
        }
        changed
    }

    /// Edit 1–3 distinct files of the model (see [`Synth::edit_lines`]); their indices.
    fn edit_some(&mut self, id: u32, only: Option<u32>) -> Vec<usize> {
        let n = [1, 1, 1, 2, 2, 3][self.rng.gen_range(0..6)];
        let mut chosen: Vec<usize> = Vec::with_capacity(n);
        for _try in 0..30 {
            if chosen.len() == n {
                break;
            }
            let i = self.weights.sample(&mut self.rng);
            if chosen.contains(&i) {
                continue;
            }
            let kind = self.files[i].kind;
            let mut lines = std::mem::take(&mut self.files[i].lines);
            let mut owner = std::mem::take(&mut self.files[i].owner);
            let changed = self.edit_lines(&mut lines, &mut owner, kind, id, only);
            self.files[i].lines = lines;
            self.files[i].owner = owner;
            if changed {
                chosen.push(i);
            }
        }
        if chosen.is_empty() {
            // Nowhere free: an ordinary edit (its backport may then conflict).
            return self.edit_some(id, None);
        }
        chosen
    }

    /// A ticket's lines became the same on both branches (it was backported unchanged).
    fn settle(&mut self, id: u32) {
        for f in &mut self.files {
            for o in &mut f.owner {
                if *o == id {
                    *o = 0;
                }
            }
        }
    }

    fn content(&self, i: usize) -> String {
        let mut s = self.files[i].lines.join("\n");
        s.push('\n');
        s
    }

    fn subject(&mut self) -> String {
        let f = self.ident();
        let n = self.pick(NOUNS);
        let c = self.class();
        match self.rng.gen_range(0..10) {
            0 => format!("Fix off-by-one error in {f}"),
            1 => format!("Add {n} option to {c}Config"),
            2 => format!("Remove deprecated {f}"),
            3 => format!("Use {n} bounding box in {f}"),
            4 => format!("Refactor {f} for clarity"),
            5 => format!("Update docs for {f}"),
            6 => format!("Add test for {f}"),
            7 => format!("Improve logging in {c}Task"),
            8 => format!("Handle missing {n} in {f}"),
            _ => format!("Fix flake8 warnings in {n} module"),
        }
    }

    fn title(&mut self) -> String {
        let n = self.pick(NOUNS);
        let c = self.class();
        match self.rng.gen_range(0..5) {
            0 => format!("{c}Task fails when the {n} is empty"),
            1 => format!("Support {n} in {c}Task"),
            2 => format!("Wrong {n} units in {c} outputs"),
            3 => format!("Speed up {n} handling"),
            _ => format!("Clean up {c} {n} code"),
        }
    }

    fn message(&mut self) -> String {
        let s = self.subject();
        if self.rng.gen_bool(0.4) {
            let p = self.phrase(12);
            format!("{s}\n\nThe {p}.")
        } else {
            s
        }
    }

    fn dev(&mut self) -> (&'static str, &'static str) {
        DEVS[self.rng.gen_range(0..DEVS.len())]
    }
}

struct MainTicket {
    number: u32,
    title: String,
    commits: Vec<(Oid, Vec<String>)>,
}

const RELEASE: &str = "v23.0.x";

/// A repository under construction: branch tips are kept here and published at the end, so
/// that building writes no reference files.
struct Campaign {
    b: RepoBuilder,
    s: Synth,
    main: Oid,
    release: Option<Oid>,
    ticket_no: u32,
    pr: u32,
    quota: usize,
    done: usize,
    tagged: [bool; 2],
    stats: RepoStats,
    shape: HistoryShape,
}

impl Campaign {
    /// Commit the edited files `idx` of the model on top of `parent`.
    fn commit_files(&mut self, parent: Option<Oid>, msg: &str, idx: &[usize]) -> Result<Oid> {
        let contents: Vec<(String, String)> = idx
            .iter()
            .map(|&i| (self.s.files[i].path.clone(), self.s.content(i)))
            .collect();
        let changes: Vec<Change<'_>> = contents.iter().map(|(p, c)| Change::Write(p, c)).collect();
        Ok(self.b.commit_on(parent, msg, &changes)?)
    }

    fn next_ticket(&mut self) -> u32 {
        self.ticket_no += self.s.rng.gen_range(1..6);
        self.ticket_no
    }

    fn next_pr(&mut self) -> u32 {
        self.pr += self.s.rng.gen_range(1..4);
        self.pr
    }

    fn set_dev(&mut self) {
        let (name, email) = self.s.dev();
        self.b.set_identity(name, email);
    }

    /// A ticket of `k` commits on `main`, merged as a pull request. `backportable`: its
    /// changes avoid what differs from the release branch.
    fn main_ticket(
        &mut self,
        k: usize,
        post_branch: bool,
        backportable: bool,
    ) -> Result<MainTicket> {
        let number = self.next_ticket();
        let id = if post_branch { number } else { 0 };
        let only = backportable.then_some(number);
        let mut tip = self.main;
        let mut commits = Vec::with_capacity(k);
        for _ in 0..k {
            let idx = self.s.edit_some(id, only);
            let msg = self.s.message();
            tip = self.commit_files(Some(tip), &msg, &idx)?;
            let paths = idx.iter().map(|&i| self.s.files[i].path.clone()).collect();
            commits.push((tip, paths));
        }
        let pr = self.next_pr();
        let title = self.s.title();
        self.main = self.b.merge_on(
            self.main,
            tip,
            &format!(
                "Merge pull request #{pr} from lsst/tickets/DM-{number}\n\nDM-{number}: {title}"
            ),
        )?;
        self.stats.main_tickets += 1;
        Ok(MainTicket {
            number,
            title,
            commits,
        })
    }

    fn direct_commit(&mut self, post_branch: bool) -> Result<()> {
        let idx = self.s.edit_some(u32::from(post_branch), None);
        let msg = self.s.message();
        self.main = self.commit_files(Some(self.main), &msg, &idx)?;
        Ok(())
    }

    /// `23.0.0` once 40 % of the repository's backports are in, `23.0.1` at 80 %.
    fn tag_releases(&mut self, all: bool) -> Result<()> {
        let Some(rel) = self.release else {
            return Ok(());
        };
        for (i, (name, share)) in [("23.0.0", 0.4), ("23.0.1", 0.8)].into_iter().enumerate() {
            if !self.tagged[i] && (all || self.done as f64 >= share * self.quota as f64) {
                self.b.tag_commit(name, rel, &format!("Version {name}"))?;
                self.tagged[i] = true;
            }
        }
        Ok(())
    }

    /// One backport pull request: cherry-picks of a backportable main ticket (the most recent
    /// ones first), else a release-only fix.
    fn backport_step(&mut self, pending: &mut Vec<MainTicket>) -> Result<()> {
        let rel = self.release.context("no release branch yet")?;
        let left = self.quota - self.done;
        self.set_dev();
        if !self.s.rng.gen_bool(0.15) {
            for _attempt in 0..4 {
                let fits: Vec<usize> = (0..pending.len())
                    .rev()
                    .filter(|&i| pending[i].commits.len() <= left)
                    .take(4)
                    .collect();
                if fits.is_empty() {
                    break;
                }
                let t = pending.remove(fits[self.s.rng.gen_range(0..fits.len())]);
                let squash = self.shape.squash > 0.0
                    && t.commits.len() > 1
                    && self.s.rng.gen_bool(self.shape.squash);
                match self.pick_ticket(rel, &t)? {
                    Some((tip, edited)) if squash => {
                        // One release commit with the whole ticket's change.
                        let tree = self.b.repo().find_commit(tip)?.tree_id();
                        let n = t.number;
                        let msg = format!("DM-{n}: {} (squashed backport)", t.title);
                        let one = {
                            let sig = self.b.signature()?;
                            let repo = self.b.repo();
                            let tree = repo.find_tree(tree)?;
                            let parent = repo.find_commit(rel)?;
                            repo.commit(None, &sig, &sig, &msg, &tree, &[&parent])?
                        };
                        let pr = self.next_pr();
                        self.release = Some(self.b.merge_on(
                            rel,
                            one,
                            &format!(
                                "Merge pull request #{pr} from lsst/tickets/DM-{n}-v23\n\nDM-{n}: {} (v23 backport)",
                                t.title
                            ),
                        )?);
                        if edited == 0 {
                            self.s.settle(n);
                        }
                        self.done += 1;
                        self.stats.backport_tickets += 1;
                        self.stats.squashed += 1;
                        return Ok(());
                    }
                    Some((tip, edited)) => {
                        let pr = self.next_pr();
                        let n = t.number;
                        self.release = Some(self.b.merge_on(
                            rel,
                            tip,
                            &format!(
                                "Merge pull request #{pr} from lsst/tickets/DM-{n}-v23\n\nDM-{n}: {} (v23 backport)",
                                t.title
                            ),
                        )?);
                        if edited == 0 {
                            self.s.settle(n);
                        }
                        self.done += t.commits.len();
                        self.stats.backport_tickets += 1;
                        self.stats.clean_picks += t.commits.len() - edited;
                        self.stats.edited_picks += edited;
                        return Ok(());
                    }
                    None => continue, // conflicts with the release branch: try another
                }
            }
        }
        self.release_only(rel)
    }

    /// Cherry-pick the ticket's commits on top of `rel`; about 10 % are edited while picking.
    /// `None` if one conflicts.
    fn pick_ticket(&mut self, rel: Oid, t: &MainTicket) -> Result<Option<(Oid, usize)>> {
        let mut tip = rel;
        let mut edited = 0;
        for (id, paths) in &t.commits {
            let r = if self.s.rng.gen_bool(0.10) {
                edited += 1;
                let p = paths[self.s.rng.gen_range(0..paths.len())].clone();
                let kind = self
                    .s
                    .files
                    .iter()
                    .find(|f| f.path == p)
                    .map_or(FileKind::Other, |f| f.kind);
                let s = &mut self.s;
                self.b.pick_on(tip, *id, None, |repo, index| {
                    let entry = index.get_path(Path::new(&p), 0).ok_or_else(|| {
                        portcullis_git::Error::internal(format!("{p} vanished in the pick"))
                    })?;
                    let blob = repo.find_blob(entry.id)?;
                    let text = String::from_utf8_lossy(blob.content()).into_owned();
                    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
                    let at = s.rng.gen_range(0..=lines.len());
                    lines.insert(at, s.line(kind));
                    let content = format!("{}\n", lines.join("\n"));
                    apply_changes(repo, index, &[Change::Write(&p, &content)])
                })
            } else {
                self.b.cherry_pick_on(tip, *id, None)
            };
            match r {
                Ok(id) => tip = id,
                Err(_) => return Ok(None),
            }
        }
        Ok(Some((tip, edited)))
    }

    /// A release-only fix (a pin, a skipped test…) in its own pull request.
    fn release_only(&mut self, rel: Oid) -> Result<()> {
        let (subject, kind) = RELEASE_ONLY[self.s.rng.gen_range(0..RELEASE_ONLY.len())];
        let path = self
            .s
            .files
            .iter()
            .filter(|f| f.kind == kind)
            .map(|f| f.path.clone())
            .choose(&mut self.s.rng)
            .unwrap_or_else(|| "requirements.txt".into());
        let text = self.b.read_at(rel, &path)?;
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        if kind == FileKind::Requirements {
            lines.push(
                subject
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("moto<3")
                    .to_string(),
            );
        } else {
            let mut owner = vec![0; lines.len()];
            self.s.edit_lines(&mut lines, &mut owner, kind, 1, None);
        }
        let content = format!("{}\n", lines.join("\n"));
        let n = self.next_ticket();
        let fix = self
            .b
            .commit_on(Some(rel), subject, &[Change::Write(&path, &content)])?;
        let pr = self.next_pr();
        self.release = Some(self.b.merge_on(
            rel,
            fix,
            &format!("Merge pull request #{pr} from lsst/tickets/DM-{n}-v23\n\nDM-{n}: {subject}"),
        )?);
        self.done += 1;
        self.stats.backport_tickets += 1;
        self.stats.release_only += 1;
        Ok(())
    }
}

fn build_synthetic_repo(
    path: &Path,
    name: &str,
    main_commits: usize,
    quota: usize,
    seed: u64,
    shape: HistoryShape,
) -> Result<RepoStats> {
    let mut b = RepoBuilder::init(path)?;
    // Objects go to memory while building, then into one pack (see write_pack).
    let odb = git2::Odb::new()?;
    let mempack = odb.add_new_mempack_backend(1000)?;
    b.repo().set_odb(&odb)?;

    let mut s = Synth::new(name, seed);
    let ticket_no = 28_000 + s.rng.gen_range(0..400);
    let pr = s.rng.gen_range(100..900);
    let (dn, de) = s.dev();
    b.set_identity(dn, de);
    let mut c = Campaign {
        b,
        s,
        main: Oid::zero(),
        release: None,
        ticket_no,
        pr,
        quota,
        done: 0,
        tagged: [false, false],
        shape,
        stats: RepoStats {
            name: name.to_string(),
            ..RepoStats::default()
        },
    };
    let all: Vec<usize> = (0..c.s.files.len()).collect();
    c.main = c.commit_files(None, "Initial commit", &all)?;
    let mut count = 1usize;

    let branch_at = (main_commits * 7 / 10).max(2);
    // What main does after the branch point, in pull requests and direct commits ("units":
    // 43 % tickets of 2 commits + merge, else 1 commit); backport steps are spread over them,
    // and about twice as many tickets as needed are made backportable.
    let post_units = ((main_commits - branch_at) as f64 / 1.86).max(1.0);
    let steps_needed = quota as f64 / 1.85;
    let step_p = (steps_needed / post_units).clamp(0.0, 1.0);
    let backportable_p = (2.0 * steps_needed / (0.43 * post_units)).clamp(0.05, 1.0);
    let mut pending: Vec<MainTicket> = Vec::new();

    while count < main_commits {
        let gap = c.s.rng.gen_range(5 * 60..180 * 60);
        c.b.set_time(c.b.time() + gap * c.shape.gap_scale);
        c.set_dev();
        let remaining = main_commits - count;
        let post = c.release.is_some();
        if remaining >= 2 && c.s.rng.gen_bool(0.43) {
            let k = c.s.rng.gen_range(1..=3).min(remaining - 1);
            let backportable = post && c.s.rng.gen_bool(backportable_p);
            let t = c.main_ticket(k, post, backportable)?;
            count += k + 1;
            if backportable {
                pending.push(t);
            }
        } else {
            c.direct_commit(post)?;
            count += 1;
        }
        if !post && count >= branch_at {
            c.b.tag_commit("v23.0.0.rc1", c.main, "Version 23.0.0 release candidate 1")?;
            c.release = Some(c.main);
        } else if post && c.done < c.quota && c.s.rng.gen_bool(step_p) {
            c.backport_step(&mut pending)?;
            c.tag_releases(false)?;
        }
    }
    while c.done < c.quota {
        let gap = c.s.rng.gen_range(30 * 60..600 * 60);
        c.b.set_time(c.b.time() + gap);
        c.backport_step(&mut pending)?;
        c.tag_releases(false)?;
    }
    c.tag_releases(true)?;
    c.stats.main_commits = count;
    c.stats.release_commits = c.done;
    let release = c.release.context("the release branch was never made")?;
    c.b.set_branch("main", c.main, "synthetic campaign", false)?;
    c.b.set_branch(RELEASE, release, "synthetic campaign", false)?;
    c.b.finish("main")?;
    write_pack(c.b.repo())?;
    mempack.reset()?;
    Ok(c.stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn shallow_copy_stops_at_the_graft() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        let mut b = RepoBuilder::init(&src).unwrap();
        let mut ids = Vec::new();
        for i in 0..5 {
            ids.push(
                b.write("main", &format!("C{i}"), &[("a", &format!("{i}\n"))])
                    .unwrap(),
            );
        }
        b.finish("main").unwrap();
        let dst = dir.path().join("dst");
        make_shallow(&src, &dst, ids[2]).unwrap();
        let repo = Repository::open(&dst).unwrap();
        assert!(repo.is_shallow());
        assert!(!Repository::open(&src).unwrap().is_shallow());
        let mut walk = repo.revwalk().unwrap();
        walk.push_head().unwrap();
        let seen: Vec<Oid> = walk.map(|r| r.unwrap()).collect();
        assert_eq!(seen, vec![ids[4], ids[3], ids[2]]);
        assert_eq!(repo.find_commit(ids[2]).unwrap().parent_count(), 0);
        assert_eq!(git(&dst, &["rev-list", "--count", "main"]).trim(), "3");
        assert_eq!(
            git(&dst, &["rev-parse", "--is-shallow-repository"]).trim(),
            "true"
        );
        assert_eq!(git(&dst, &["status", "--porcelain"]), "");
        assert!(make_shallow(&src, &dst, ids[1]).is_err(), "dst not empty");
    }

    #[test]
    fn missing_loose_object() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = RepoBuilder::init(dir.path()).unwrap();
        b.write("main", "One", &[("a", "1\n")]).unwrap();
        let c2 = b.write("main", "Two", &[("a", "2\n")]).unwrap();
        let blob = b.repo().revparse_single("main:a").unwrap().id();
        b.finish("main").unwrap();
        remove_loose_object(dir.path(), blob).unwrap();
        assert!(
            remove_loose_object(dir.path(), blob).is_err(),
            "already gone"
        );
        let repo = Repository::open(dir.path()).unwrap();
        assert!(repo.find_blob(blob).is_err());
        assert!(repo.find_commit(c2).is_ok());
        remove_loose_object(dir.path(), c2).unwrap();
        let repo = Repository::open(dir.path()).unwrap();
        assert!(repo.find_commit(c2).is_err());
        let bad = Command::new("git")
            .arg("-C")
            .arg(dir.path())
            .args(["fsck", "--no-dangling"])
            .output()
            .unwrap();
        assert!(!bad.status.success(), "fsck notices the missing objects");
    }

    #[test]
    fn pack_objects_keeps_history_readable() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = RepoBuilder::init(dir.path()).unwrap();
        let c1 = b.write("main", "One", &[("a", "1\n")]).unwrap();
        b.write("main", "Two", &[("a", "2\n")]).unwrap();
        b.tag("v1", &c1.to_string(), "v1").unwrap();
        b.finish("main").unwrap();
        b.pack_objects(true).unwrap();
        assert!(remove_loose_object(dir.path(), c1).is_err(), "packed now");
        assert_eq!(
            git(dir.path(), &["rev-list", "--count", "--all"]).trim(),
            "2"
        );
        git(dir.path(), &["fsck", "--strict"]);
        assert_eq!(
            git(dir.path(), &["count-objects"]).trim(),
            "0 objects, 0 kilobytes"
        );
    }

    #[test]
    fn packs_indexed_by_libgit2_alone_are_readable() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = RepoBuilder::init(dir.path()).unwrap();
        let c1 = b.write("main", "One", &[("d/a", "1\n")]).unwrap();
        b.write("main", "Two", &[("d/a", "2\n"), ("b", "b\n")])
            .unwrap();
        b.tag("v1", &c1.to_string(), "v1").unwrap();
        b.finish("main").unwrap();
        write_pack_via(b.repo(), false).unwrap();
        let packs: Vec<String> = std::fs::read_dir(b.repo().path().join("objects/pack"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(packs.iter().any(|p| p.ends_with(".idx")), "{packs:?}");
        for oid in [c1, b.repo().revparse_single("v1").unwrap().id()] {
            let hex = oid.to_string();
            std::fs::remove_file(
                b.repo()
                    .path()
                    .join("objects")
                    .join(&hex[..2])
                    .join(&hex[2..]),
            )
            .unwrap();
        }
        let repo = Repository::open(dir.path()).unwrap();
        assert_eq!(repo.find_commit(c1).unwrap().summary(), Some("One"));
        assert_eq!(git(dir.path(), &["cat-file", "-t", "v1"]).trim(), "tag");
        git(dir.path(), &["fsck", "--strict"]);
    }

    #[test]
    fn synthetic_campaign_is_deterministic_and_counts_add_up() {
        let dir = tempfile::tempdir().unwrap();
        let stats = synthetic_campaign_stats(dir.path(), 3, 120, 17, 23).unwrap();
        assert_eq!(stats.len(), 3);
        assert_eq!(stats.iter().map(|s| s.release_commits).sum::<usize>(), 17);
        assert!(
            stats.iter().map(|s| s.clean_picks).sum::<usize>() >= 8,
            "{stats:?}"
        );
        let mut heads = Vec::new();
        for s in &stats {
            let p = dir.path().join("repos").join(&s.name);
            assert_eq!(git(&p, &["rev-list", "--count", "main"]).trim(), "120");
            let rel = git(&p, &["rev-list", "--count", "--no-merges", "main..v23.0.x"]);
            assert_eq!(rel.trim().parse::<usize>().unwrap(), s.release_commits);
            assert_eq!(
                s.release_commits,
                s.clean_picks + s.edited_picks + s.release_only,
                "{s:?}"
            );
            let tags = git(&p, &["tag", "--list"]);
            assert_eq!(tags, "23.0.0\n23.0.1\nv23.0.0.rc1\n");
            let branches = git(&p, &["branch", "--format=%(refname:short)"]);
            assert_eq!(branches, "main\nv23.0.x\n");
            assert_eq!(
                git(&p, &["merge-base", "main", "v23.0.x"]),
                git(&p, &["rev-parse", "v23.0.0.rc1^{}"])
            );
            assert_eq!(git(&p, &["status", "--porcelain"]), "");
            let merges = git(&p, &["log", "--merges", "--format=%s", "main"]);
            assert!(
                merges
                    .lines()
                    .all(|l| l.starts_with("Merge pull request #")),
                "{merges}"
            );
            let rel_merges = git(&p, &["log", "--merges", "--format=%s", "main..v23.0.x"]);
            assert_eq!(rel_merges.lines().count(), s.backport_tickets);
            assert!(
                rel_merges
                    .lines()
                    .all(|l| l.starts_with("Merge pull request #") && l.ends_with("-v23")),
                "{rel_merges}"
            );
            // Clean picks avoid what differs between the branches, context included, so git
            // finds (nearly all of) them equivalent; edited picks and release-only fixes are
            // new patches.
            let cherry = git(&p, &["cherry", "main", "v23.0.x"]);
            let minus = cherry.lines().filter(|l| l.starts_with('-')).count();
            assert!(
                minus <= s.clean_picks && minus * 10 >= s.clean_picks * 8,
                "{s:?}\n{cherry}"
            );
            assert_eq!(cherry.lines().count(), s.release_commits);
            git(&p, &["fsck", "--no-dangling"]);
            heads.push(git(&p, &["rev-parse", "main", "v23.0.x"]));
        }
        let again = tempfile::tempdir().unwrap();
        let paths = synthetic_campaign(again.path(), 3, 120, 17, 23).unwrap();
        for (p, h) in paths.iter().zip(&heads) {
            assert_eq!(
                &git(p, &["rev-parse", "main", "v23.0.x"]),
                h,
                "same seed, same repositories"
            );
        }
    }
}
