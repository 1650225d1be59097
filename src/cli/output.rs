//! Writing what a command prints to stdout.

use std::io::{self, Write};

use portcullis_core::Problem;
use serde::Serialize;

/// Write to stdout; a closed pipe (`portcullis status | head`) is not an error.
pub fn print(text: &str) -> Result<(), Problem> {
    let mut out = io::stdout().lock();
    written(out.write_all(text.as_bytes()).and_then(|_| out.flush()))
}

/// A write to stdout as the command reports it: a closed pipe is not an error.
fn written(result: io::Result<()>) -> Result<(), Problem> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Problem::internal("cannot write to standard output").because(e)),
        Ok(()) => Ok(()),
    }
}

/// Write `value` to stdout as indented JSON (what `render::json` makes), streamed: a large
/// report (`status`, `verify`) is not built in memory first. A closed pipe is not an error.
pub fn print_json<T: Serialize>(value: &T) -> Result<(), Problem> {
    let mut out = io::BufWriter::with_capacity(64 * 1024, io::stdout().lock());
    written(
        serde_json::to_writer_pretty(&mut out, value)
            .map_err(io::Error::from)
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush()),
    )
}
