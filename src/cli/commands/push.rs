use crate::cli::output::{print, print_json};
use crate::render::push::render;
use crate::render::{json, Format};
use portcullis_ops::tracker::{push, runtime, Choice, Trackers};
use portcullis_ops::workspace::Workspace;
use portcullis_ops::Result;
use portcullis_trackers::push::{tracker_name, PushReport};

/// `push`: send pending decisions to the tracker each ticket lives in: GitHub tickets
/// (`name#N`) to GitHub when `[github]` is configured, the others to Jira when `[jira]` is (or
/// `--url` / `--flavor` name one). Exit 1 when a pending decision was not written: a conflict, a
/// ticket gone from its tracker, or a tracker that is not configured.
pub fn run(
    ws: &Workspace,
    choice: &Choice,
    keys: &[String],
    dry_run: bool,
    format: Format,
) -> Result<u8> {
    let trackers = Trackers::of(ws, choice)?;
    let mut ledger = ws.open_ledger()?;
    let rt = runtime()?;
    let pushed = rt.block_on(push(ws, &mut ledger, &trackers, keys, dry_run))?;
    // Decisions on tickets of a tracker that is not configured stay pending: say so.
    for note in &pushed.notes {
        eprintln!("note: {note}");
    }
    let reports: Vec<(&str, PushReport)> = pushed
        .reports
        .iter()
        .map(|(t, r)| (tracker_name(t), r.clone()))
        .collect();
    match format {
        Format::Json => match reports.as_slice() {
            [(_, one)] => print(&json(one))?,
            many => {
                let all: std::collections::BTreeMap<String, &PushReport> = many
                    .iter()
                    .map(|(t, r)| (t.to_ascii_lowercase(), r))
                    .collect();
                print_json(&all)?
            }
        },
        _ => {
            for (tracker, report) in &reports {
                print(&render(report, format, tracker))?;
            }
        }
    }
    Ok(if pushed.incomplete() { 1 } else { 0 })
}
