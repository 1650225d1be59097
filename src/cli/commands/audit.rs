use crate::cli::output::{print, print_json};
use crate::render::Format;
use portcullis_ops::Result;
use portcullis_ops::{self as ops, workspace::Workspace};

pub fn run(ws: &Workspace, format: Format) -> Result<u8> {
    let report = ws.read_ledger(|ledger| ops::audit(ledger, &ws.policy))?;
    match format {
        Format::Json => print_json(&report)?,
        _ => {
            let mut s = format!(
                "events: {}\nhash chain: {}\nderived state: {}\n",
                report.events,
                if report.chain_ok { "ok" } else { "BROKEN" },
                if report.derived_ok {
                    "ok (equals a rebuild from events)"
                } else {
                    "DIFFERS from a rebuild"
                }
            );
            for p in &report.problems {
                s.push_str(&format!("problem: {p}\n"));
            }
            if !report.derived_ok && report.chain_ok {
                s.push_str("hint: `portcullis ledger rebuild` recomputes the derived state from the events\n");
            }
            print(&s)?;
        }
    }
    Ok(if report.problems.is_empty() { 0 } else { 1 })
}
