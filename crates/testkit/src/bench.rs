//! What the benchmark examples share: finding the release binary next to them, and running it
//! with its wall time and peak memory (the child's own accounting, from `wait4`).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The `portcullis` binary next to the running example (`target/release/examples/..`).
pub fn portcullis_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("portcullis"))
        .ok_or_else(|| anyhow::anyhow!("cannot locate the target directory"))?;
    if !bin.exists() {
        anyhow::bail!(
            "{} not found: run `cargo build --release --bins --examples` first",
            bin.display()
        );
    }
    Ok(bin)
}

/// One measured run.
#[derive(Debug)]
pub struct Measured {
    pub status: ExitStatus,
    pub elapsed: Duration,
    /// Peak resident memory of the child, KiB.
    pub peak_kib: u64,
    pub stdout: String,
    pub stderr: String,
}

/// Run `cmd` to completion, capturing its output, timing it and taking its peak RSS.
pub fn run_measured(mut cmd: Command) -> anyhow::Result<Measured> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let t = Instant::now();
    let mut child = cmd.spawn()?;
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut r) = r {
                let _ = r.read_to_string(&mut s);
            }
            s
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|o| Box::new(o) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|o| Box::new(o) as Box<dyn Read + Send>),
    );
    // wait4 reaps the child and gives its peak resident memory (`ru_maxrss`, KiB): exact, where
    // polling `/proc/PID/status` every few milliseconds added up to 5 ms to a 20 ms run and could
    // miss the last growth.
    let pid = child.id() as libc::pid_t;
    let mut raw = 0;
    #[allow(unsafe_code)]
    // SAFETY: `rusage` is plain data (zero is a valid value); wait4 writes it and the status.
    let (reaped, usage) = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        (libc::wait4(pid, &mut raw, 0, &mut usage), usage)
    };
    let elapsed = t.elapsed();
    if reaped != pid {
        anyhow::bail!(
            "cannot wait for the benchmarked process: {}",
            std::io::Error::last_os_error()
        );
    }
    let status = std::os::unix::process::ExitStatusExt::from_raw(raw);
    let peak = u64::try_from(usage.ru_maxrss).unwrap_or(0);
    Ok(Measured {
        status,
        elapsed,
        peak_kib: peak,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

/// A workspace for the benchmarks in `dir` (made with `portcullis init --from-policy v23` by the
/// binary `bin`) whose policy lists the generated repositories `dir/repos/<name>` instead of the
/// built-in ones. Releases do not mark tickets done (`mark_done_on_release = false`): that is a
/// tracker write per ticket, not part of what a cut costs. The policy is checked before it is
/// written.
pub fn workspace_with_repos(bin: &Path, dir: &Path, names: &[String]) -> anyhow::Result<()> {
    use anyhow::Context;
    let out = Command::new(bin)
        .arg("init")
        .arg(dir)
        .args(["--from-policy", "v23"])
        .output()
        .context("cannot run portcullis init")?;
    if !out.status.success() {
        anyhow::bail!(
            "portcullis init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut doc: toml_edit::DocumentMut = portcullis_core::policy::BUILTIN_V23
        .parse()
        .context("the built-in v23 policy")?;
    let mut tables = toml_edit::ArrayOfTables::new();
    for name in names {
        let mut t = toml_edit::Table::new();
        t["name"] = toml_edit::value(name.as_str());
        t["path"] = toml_edit::value(format!("repos/{name}"));
        t["main_branch"] = toml_edit::value("main");
        tables.push(t);
    }
    // Put the repositories back where the built-in policy has them (before [rules]).
    let rules = doc.remove("rules");
    doc.remove("repositories");
    doc.insert("repositories", toml_edit::Item::ArrayOfTables(tables));
    if let Some(r) = rules {
        doc.insert("rules", r);
    }
    if let Some(lines) = doc
        .get_mut("lines")
        .and_then(toml_edit::Item::as_array_of_tables_mut)
    {
        for line in lines.iter_mut() {
            line["mark_done_on_release"] = toml_edit::value(false);
        }
    }
    let text = doc.to_string();
    portcullis_core::policy::Policy::from_toml("policy.toml", &text).map_err(|errs| {
        let lines: Vec<String> = errs.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("the generated policy is invalid:\n{}", lines.join("\n"))
    })?;
    std::fs::write(dir.join("policy.toml"), text)?;
    Ok(())
}
