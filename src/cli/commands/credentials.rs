//! `portcullis credentials`: store secrets in the credentials file without putting them on a
//! command line, and show which file is used.

use std::io::Read;

use crate::cli::output::print;
use crate::cli::CredentialsCommand;
use portcullis_core::Problem;
use portcullis_ops::credentials::{credential_keys, credentials_target, store_credential};
use portcullis_ops::workspace::{Locations, Workspace};
use portcullis_ops::{Error, Result};

pub fn run(loc: &Locations, cmd: CredentialsCommand) -> Result<u8> {
    // The workspace's config may name the file; outside a workspace the default is used.
    let configured = Workspace::resolve(loc)
        .ok()
        .and_then(|ws| ws.credentials_file());
    let path = credentials_target(configured.as_deref())?;
    match cmd {
        CredentialsCommand::Set { table, key } => {
            let mut value = String::new();
            std::io::stdin()
                .take(64 * 1024)
                .read_to_string(&mut value)
                .map_err(|e| {
                    Error::Problem(Problem::input("cannot read standard input").because(e))
                })?;
            let (table, key, name) = match key {
                Some(k) => (table.clone(), k.clone(), format!("{table}.{k}")),
                None if table == "team_key" => (String::new(), table.clone(), table.clone()),
                None => {
                    return Err(Error::Problem(
                        Problem::input(format!("`credentials set {table}` needs a key")).hint(
                            "e.g. `credentials set jira token`; only `team_key` stands alone",
                        ),
                    ))
                }
            };
            store_credential(&path, &table, &key, &value)?;
            print(&format!(
                "stored {name} in {} (readable by you only)\n",
                path.display()
            ))?;
            Ok(0)
        }
        CredentialsCommand::Show => {
            if !path.exists() {
                print(&format!(
                    "{}: no credentials file yet (`portcullis credentials set` creates it)\n",
                    path.display()
                ))?;
                return Ok(0);
            }
            let keys = credential_keys(&path)?;
            let mut out = format!("{} (readable by you only)\n", path.display());
            for k in keys {
                out.push_str(&format!("  {k} = (set)\n"));
            }
            print(&out)?;
            Ok(0)
        }
    }
}
