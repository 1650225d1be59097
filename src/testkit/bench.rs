//! What the benchmark examples share: finding the release binary next to them, and running it
//! with its wall time and peak memory (`VmHWM`, polled from `/proc`).

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

/// Run `cmd` to completion, capturing its output, timing it and polling its peak RSS.
pub fn run_measured(mut cmd: Command) -> anyhow::Result<Measured> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let t = Instant::now();
    let mut child = cmd.spawn()?;
    let status_path = format!("/proc/{}/status", child.id());
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
    let mut peak = 0u64;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_path) {
            if let Some(kb) = text
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse::<u64>().ok())
            {
                peak = peak.max(kb);
            }
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Ok(Measured {
        status,
        elapsed: t.elapsed(),
        peak_kib: peak,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}
