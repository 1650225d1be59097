use crate::cli::output::print;
use crate::cli::PolicyCommand;
use portcullis_core::policy::Policy;
use portcullis_core::Problem;
use portcullis_ops::{Error, Result};

pub fn run(cmd: PolicyCommand) -> Result<u8> {
    match cmd {
        PolicyCommand::Check { file } => {
            let shown = file.display().to_string();
            let text = std::fs::read_to_string(&file).map_err(|e| {
                Error::Problem(Problem::input(format!("cannot read {shown}")).because(e))
            })?;
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
            print(portcullis_core::policy::SCHEMA_JSON)?;
            Ok(0)
        }
    }
}
