use crate::cli::output::print;
use crate::cli::LedgerCommand;
use portcullis_ops::Result;
use portcullis_ops::{self as ops, workspace::Workspace};

pub fn run(ws: &Workspace, cmd: LedgerCommand) -> Result<u8> {
    match cmd {
        LedgerCommand::Rebuild => {
            let mut ledger = ws.open_ledger()?;
            let r = ops::rebuild(&mut ledger, &ws.policy)?;
            let mut s = format!(
                "rebuilt the derived state of {} ticket(s) from events ({} rows): ",
                r.tickets, r.rows
            );
            if r.identical {
                s.push_str("identical to what was there\n");
            } else {
                s.push_str(&format!(
                    "{} row(s) differed and were corrected:\n",
                    r.differences.len()
                ));
                for d in r.differences.iter().take(20) {
                    s.push_str(&format!("  {d}\n"));
                }
            }
            print(&s)?;
            Ok(0)
        }
        LedgerCommand::Copy { to } => {
            let r = ops::copy_ledger(ws, &to)?;
            let mut s = format!("copied {} event(s) to {}\n", r.events, r.to);
            if r.audit.problems.is_empty() {
                s.push_str("audit of the copy: hash chain ok, derived state ok\n");
                print(&s)?;
                Ok(0)
            } else {
                s.push_str("audit of the copy: PROBLEMS\n");
                for p in &r.audit.problems {
                    s.push_str(&format!("  {p}\n"));
                }
                print(&s)?;
                Ok(1)
            }
        }
    }
}
