use crate::cli::output::{print, print_json};
use crate::render::status::{csv_table, render_md, render_table};
use crate::render::Format;
use portcullis_core::workflow::State;
use portcullis_ops::{self as ops, workspace::Workspace};
use portcullis_ops::{Error, Result};

pub fn run(ws: &Workspace, line: Option<&str>, state: Option<&str>, format: Format) -> Result<u8> {
    let filter = match state {
        Some(s) => Some(State::parse(s).ok_or_else(|| {
            Error::input(format!("unknown state `{s}`")).hint(
                "one of: requested, deferred, needs-info, approved, done, rejected, withdrawn",
            )
        })?),
        None => None,
    };
    let st = ws.read_ledger(|ledger| ops::status(ledger, &ws.policy, line, filter))?;
    let text = match format {
        Format::Json => return print_json(&st).map(|()| 0).map_err(Into::into),
        Format::Csv => csv_table(&st).render_csv(),
        Format::Md => render_md(&st),
        Format::Table => render_table(&st),
    };
    print(&text)?;
    Ok(0)
}
