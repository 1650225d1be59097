//! Helpers shared by the ledger crate's integration tests.

use portcullis_core::error::Diagnostic;
use portcullis_ledger::{Ledger, Secret};

/// Open the PostgreSQL ledger at `url` (its fact cache in a temporary directory).
pub fn open(url: &str, password: Option<&str>) -> portcullis_ledger::Result<Ledger> {
    let dir = tempfile::tempdir().unwrap();
    Ledger::open_postgres(
        url,
        password.map(Secret::new).as_ref(),
        &dir.path().join("cache.db"),
    )
}

/// The error of opening `url`, which must fail.
pub fn open_err(url: &str, password: Option<&str>) -> portcullis_ledger::Error {
    match open(url, password) {
        Ok(_) => panic!("{url} opened"),
        Err(e) => e,
    }
}

/// The whole message of an error, its causes and its hint.
pub fn told(e: &portcullis_ledger::Error) -> String {
    format!(
        "{}\nhint: {}",
        portcullis_core::error::chain(e),
        e.hint().unwrap_or_default()
    )
}
