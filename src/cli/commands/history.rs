use crate::cli::output::{print, print_json};
use crate::render::history::{render, timeline};
use crate::render::{clean, Format};
use portcullis_ops::Result;
use portcullis_ops::{self as ops, workspace::Workspace};

pub fn run(ws: &Workspace, key: &str, all: bool, format: Format) -> Result<u8> {
    let mut h = ws.read_ledger(|ledger| ops::history(ledger, &ws.policy, key))?;
    if !all && format != Format::Json {
        h.timeline.retain(|e| e.relevant);
    }
    let text = match format {
        Format::Json => return print_json(&h).map(|()| 0).map_err(Into::into),
        Format::Csv => timeline(&h).render_csv(),
        Format::Md => format!(
            "## {} {}\n\n{}",
            h.key,
            clean(&h.info.summary),
            timeline(&h).render_md()
        ),
        Format::Table => render(&h),
    };
    print(&text)?;
    Ok(0)
}
