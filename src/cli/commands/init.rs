use std::path::Path;

use crate::cli::output::print;
use portcullis_core::Problem;
use portcullis_ledger::LedgerTarget;
use portcullis_ops::workspace::{builtin_policy, init_with};
use portcullis_ops::{Error, Result};

pub fn run(dir: &Path, from_policy: &str, user: Option<&str>, ledger: Option<&str>) -> Result<u8> {
    let text = match builtin_policy(from_policy) {
        Some(t) => t.to_string(),
        None => std::fs::read_to_string(from_policy).map_err(|e| {
            Error::Problem(
                Problem::input(format!(
                    "`{from_policy}` is neither a built-in policy nor a readable file"
                ))
                .because(e)
                .hint("use --from-policy default, v23 or github, or a path to a policy file"),
            )
        })?,
    };
    let config = init_with(dir, &text, user, ledger)?;
    let shown_ledger = match LedgerTarget::parse(ledger.unwrap_or("ledger.db")) {
        LedgerTarget::File(p) => dir.join(p).display().to_string(),
        pg => format!("the ledger {}", pg.shown()),
    };
    let shown = dir.display();
    print(&format!(
        "Created a portcullis workspace in {shown}:\n  {}\n  {}\n  {}\nNext: edit policy.toml, check it with `portcullis policy check {}`, then import tickets with `portcullis sync --from-file EXPORT.json`.\n",
        config.display(),
        dir.join("policy.toml").display(),
        shown_ledger,
        dir.join("policy.toml").display(),
    ))?;
    Ok(0)
}
