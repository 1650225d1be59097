use crate::cli::output::print;
use crate::cli::PolicyCommand;
use crate::domain::policy::Policy;
use crate::{Error, Result};

pub fn run(cmd: PolicyCommand) -> Result<u8> {
    match cmd {
        PolicyCommand::Check { file } => {
            let shown = file.display().to_string();
            let text = std::fs::read_to_string(&file)
                .map_err(|e| Error::input(format!("cannot read {shown}: {e}")))?;
            match Policy::from_toml(&shown, &text) {
                Ok(p) => {
                    let pol = &p.policy;
                    print(&format!(
                        "{shown}: ok ({} line(s), {} step(s), {} committee member(s), {} repositories)\n",
                        pol.lines.len(),
                        pol.steps.len(),
                        pol.committee.members.len(),
                        pol.repositories.len()
                    ))?;
                    Ok(0)
                }
                Err(errs) => {
                    for e in &errs {
                        eprintln!("{e}");
                    }
                    Err(Error::input(format!(
                        "{shown}: {} problem(s); the policy was not accepted",
                        errs.len()
                    ))
                    .hint("see docs/policy.schema.json or policy/default.toml for every key"))
                }
            }
        }
        PolicyCommand::Schema => {
            print(&schema_json())?;
            Ok(0)
        }
    }
}

/// The published JSON schema of policy files (docs/policy.schema.json).
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(Policy);
    let mut s = serde_json::to_string_pretty(&schema).unwrap_or_default();
    s.push('\n');
    s
}
