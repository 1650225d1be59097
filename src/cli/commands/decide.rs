use crate::cli::output::{print, print_json};
use crate::render::Format;
use portcullis_ops::Result;
use portcullis_ops::{self as ops, workspace::Workspace, AcceptPartialRequest, DecideRequest};

pub fn run(ws: &Workspace, req: DecideRequest, format: Format) -> Result<u8> {
    let mut ledger = ws.open_ledger()?;
    let out = ops::decide(&mut ledger, &ws.policy, req)?;
    match format {
        Format::Json => print_json(&out)?,
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

/// `decide accept-partial`.
pub fn accept(ws: &Workspace, req: AcceptPartialRequest, format: Format) -> Result<u8> {
    let mut ledger = ws.open_ledger()?;
    let out = ops::accept_partial(&mut ledger, &ws.policy, req)?;
    match format {
        Format::Json => print_json(&out)?,
        _ => {
            let mut s = String::new();
            for a in &out.accepted {
                s.push_str(&format!(
                    "{} {}: partial landing in {} accepted by {} (event {}): {}\n",
                    out.key, out.line, a.repo, out.by, a.seq, out.note
                ));
                if !a.left_out.is_empty() {
                    let left: Vec<String> = a
                        .left_out
                        .iter()
                        .map(|c| crate::render::verify::short(c))
                        .collect();
                    s.push_str(&format!("  left out: {}\n", left.join(", ")));
                }
            }
            s.push_str("verify now counts it as landed there\n");
            print(&s)?;
        }
    }
    Ok(0)
}
