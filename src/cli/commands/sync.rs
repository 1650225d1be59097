use std::path::PathBuf;

use crate::cli::output::{json, print, Format};
use crate::ops::workspace::Workspace;
use crate::sync::import::import_files;
use crate::{Error, Result};

pub fn run(ws: &Workspace, files: &[PathBuf], format: Format) -> Result<u8> {
    let mut loaded = Vec::new();
    for f in files {
        let bytes = std::fs::read(f)
            .map_err(|e| Error::input(format!("cannot read {}: {e}", f.display())))?;
        loaded.push((f.display().to_string(), bytes));
    }
    let mut ledger = ws.open_ledger()?;
    let summary = import_files(&mut ledger, &ws.policy, &loaded)?;
    match format {
        Format::Json => print(&json(&summary))?,
        _ => {
            for w in &summary.warnings {
                eprintln!("warning: {}", crate::cli::output::clean(w));
            }
            print(&format!(
                "imported {} file(s): {} ticket(s), {} new event(s), {} new violation(s)\n",
                summary.files, summary.tickets, summary.new_events, summary.new_violations
            ))?;
        }
    }
    Ok(0)
}
