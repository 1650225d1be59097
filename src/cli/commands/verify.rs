use std::io::IsTerminal;

use crate::cli::output::print;
use crate::render::verify::{drift_table, markdown, table};
use crate::render::Format;
use portcullis_ops::verify::{
    verify, verify_json, ScanProgress, ScanStats, VerifyOptions, VerifyOutcome,
};
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
    let render: fn(&VerifyOutcome, bool) -> String = match format {
        Format::Json => return json(ws, &opts, &Bar(bar)),
        Format::Csv => |out, _| drift_table(&out.verification).render_csv(),
        Format::Md => markdown,
        Format::Table => table,
    };
    let out = verify(ws, &opts, &Bar(bar))?;
    log_finished(&out.stats);
    print(&render(&out, commits))?;
    Ok(u8::from(out.verification.blocks()))
}

/// `verify --format json`: a remembered verdict is printed as it was kept, not read and
/// written out again.
fn json(ws: &Workspace, opts: &VerifyOptions, progress: &dyn ScanProgress) -> Result<u8> {
    let mut report = verify_json(ws, opts, progress)?;
    log_finished(&report.stats);
    report.text.push('\n');
    print(&report.text)?;
    Ok(u8::from(report.blocks))
}

fn log_finished(stats: &ScanStats) {
    tracing::info!(
        elapsed_ms = stats.elapsed_ms as u64,
        facts_cached = stats.facts_cached,
        facts_computed = stats.facts_computed,
        remembered = stats.remembered,
        probes_remembered = stats.probes_remembered,
        "verify finished"
    );
}
