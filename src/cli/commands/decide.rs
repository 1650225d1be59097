use crate::cli::output::print;
use crate::render::{json, Format};
use portcullis_ops::Result;
use portcullis_ops::{self as ops, workspace::Workspace, DecideRequest};

pub fn run(ws: &Workspace, req: DecideRequest, format: Format) -> Result<u8> {
    let mut ledger = ws.open_ledger()?;
    let out = ops::decide(&mut ledger, &ws.policy, req)?;
    match format {
        Format::Json => print(&json(&out))?,
        _ => {
            let target = out
                .target
                .as_ref()
                .map(|t| format!(" for {t}"))
                .unwrap_or_default();
            let mut s = format!(
                "{} {}: {} → {} ({}{target}, {}, event {})\n",
                out.key,
                out.line,
                out.from.describe(),
                out.to.describe(),
                out.decision,
                out.place(),
                out.seq
            );
            if out.provisional {
                s.push_str("provisional: the meeting is below quorum; it counts once a quorate meeting ratifies it (`portcullis meeting ratify`)\n");
            }
            for v in &out.violations {
                s.push_str(&format!("recorded as a violation: {v}\n"));
            }
            print(&s)?;
        }
    }
    Ok(0)
}
