use std::io::IsTerminal;

use crate::cli::output::{print, print_json};
use crate::render::verify::{drift_table, markdown, table};
use crate::render::Format;
use portcullis_ops::verify::{verify, ScanProgress, VerifyOptions};
use portcullis_ops::workspace::Workspace;
use portcullis_ops::Result;

/// A progress bar over repositories on a terminal; nothing otherwise.
struct Bar(indicatif::ProgressBar);

impl ScanProgress for Bar {
    fn start(&self, repos: usize) {
        self.0.set_length(repos as u64);
    }
    fn scanned(&self, repo: &str) {
        self.0.set_message(repo.to_string());
        self.0.inc(1);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

pub fn run(ws: &Workspace, opts: VerifyOptions, commits: bool, format: Format) -> Result<u8> {
    let bar = if std::io::stderr().is_terminal() {
        let pb = indicatif::ProgressBar::new(0);
        pb.set_style(
            indicatif::ProgressStyle::with_template("verifying [{bar:30}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        pb
    } else {
        indicatif::ProgressBar::hidden()
    };
    let out = verify(ws, &opts, &Bar(bar))?;
    tracing::info!(
        elapsed_ms = out.stats.elapsed_ms as u64,
        facts_cached = out.stats.facts_cached,
        facts_computed = out.stats.facts_computed,
        remembered = out.stats.remembered,
        probes_remembered = out.stats.probes_remembered,
        "verify finished"
    );
    let code = if out.verification.blocks() { 1 } else { 0 };
    let text = match format {
        Format::Json => return print_json(&out).map(|()| code).map_err(Into::into),
        Format::Csv => drift_table(&out.verification).render_csv(),
        Format::Md => markdown(&out, commits),
        Format::Table => table(&out, commits),
    };
    print(&text)?;
    Ok(code)
}
