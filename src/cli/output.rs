//! Writing what a command prints to stdout.

use std::io::{self, Write};

use portcullis_core::Problem;

/// Write to stdout; a closed pipe (`portcullis status | head`) is not an error.
pub fn print(text: &str) -> Result<(), Problem> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Problem::internal("cannot write to standard output").because(e)),
        Ok(()) => Ok(()),
    }
}
