//! The command line: clap definitions in `args`, one function per command in [`commands`].
//!
//! Exit codes: 0 ok, 1 a check that does not pass (`audit`), 2 bad input or an error.

mod args;
pub mod commands;
pub mod output;

pub use args::{
    BackportArgs, Cli, Command, CredentialsCommand, LedgerCommand, MeetingCommand, PolicyCommand,
    ReleaseCommand, StepCommand, Verdict,
};

use std::process::ExitCode;

use clap::Parser;

use portcullis_core::error::Diagnostic;

/// Where log lines go: a file while a full-screen view is open, stderr otherwise.
static LOG_FILE: std::sync::Mutex<Option<std::fs::File>> = std::sync::Mutex::new(None);

struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut file = LOG_FILE.lock().unwrap_or_else(|e| e.into_inner());
        match file.as_mut() {
            Some(f) => f.write(buf),
            None => std::io::stderr().write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        let mut file = LOG_FILE.lock().unwrap_or_else(|e| e.into_inner());
        match file.as_mut() {
            Some(f) => f.flush(),
            None => std::io::stderr().flush(),
        }
    }
}

/// Send log lines to `path` (appending) until called with `None`: the triage screen owns the
/// terminal while it is open.
pub fn log_to_file(path: Option<&std::path::Path>) {
    let file = path.and_then(|p| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .ok()
    });
    *LOG_FILE.lock().unwrap_or_else(|e| e.into_inner()) = file;
}

/// Set up logging to stderr: `PORTCULLIS_LOG`, else `RUST_LOG`, else warnings only. Commands
/// that take over the terminal log to a file (plain text) while their screen is open.
fn init_logging(full_screen: bool, service: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = std::env::var("PORTCULLIS_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new(if service { "info" } else { "warn" }));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| LogWriter)
        .with_ansi(
            !full_screen
                && std::env::var_os("NO_COLOR").is_none()
                && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        )
        .try_init();
}

/// Parse arguments, run, and turn the result into an exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    init_logging(
        matches!(cli.command, Command::Triage { .. } | Command::Demo { .. }),
        matches!(cli.command, Command::Bot { .. }),
    );
    crate::render::set_width(output_width());
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprint!("{}", report(&e));
            ExitCode::from(e.exit_code())
        }
    }
}

/// How wide tables may be: the terminal's width, else `COLUMNS`, else as wide as they are.
fn output_width() -> Option<usize> {
    use std::io::IsTerminal;
    let terminal = std::io::stdout()
        .is_terminal()
        .then(|| crossterm::terminal::size().ok())
        .flatten()
        .map(|(cols, _)| usize::from(cols));
    terminal
        .or_else(|| std::env::var("COLUMNS").ok()?.trim().parse().ok())
        .filter(|w| *w >= 20)
}

/// An error as the user reads it: the message, each cause that adds something, and the hint.
pub fn report(e: &(dyn Diagnostic + 'static)) -> String {
    let top = e.to_string();
    let mut out = format!("error: {top}\n");
    let mut shown = top;
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !text.is_empty() && !shown.contains(&text) {
            out.push_str(&format!("  caused by: {text}\n"));
            shown.push_str(&text);
        }
        cause = c.source();
    }
    if let Some(h) = e.hint() {
        out.push_str(&format!("hint: {h}\n"));
    }
    out
}

#[cfg(test)]
mod tests;
