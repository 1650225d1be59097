//! The PostgreSQL ledger over TLS, against a real server that speaks it: the testkit's TLS
//! cluster (`ssl = on`, a server certificate for `localhost` and 127.0.0.1 signed by a CA made
//! at test time, TCP connections accepted with TLS only). `sslrootcert` names the private CA;
//! without it the certificate is refused; without TLS the server refuses; a CA file that cannot
//! be used is named. Each refusal exits 2, shows no password and writes nothing.

mod common;

use common::told;
use portcullis_testkit::postgres::{tls_server, TlsPgServer};

const ROLE: &str = "pc_tls";
const PASSWORD: &str = "tls-secret-horse";

/// The TLS cluster, with the role the tests log in as, and a fresh database it may write.
fn setup() -> (&'static TlsPgServer, String) {
    let s = tls_server();
    // Once: the tests run at the same time, and two creating the role at once collide.
    static ROLE_MADE: std::sync::Once = std::sync::Once::new();
    ROLE_MADE.call_once(|| s.admin.create_role(ROLE, PASSWORD));
    let db = s.admin.fresh_database();
    s.admin
        .sql(&db, &format!("GRANT ALL ON SCHEMA public TO {ROLE}"));
    (s, db)
}

/// Whether the database holds any table (a refused connection writes nothing).
fn tables(s: &TlsPgServer, db: &str) -> i64 {
    let sql = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'";
    s.admin.connect(db).query_one(sql, &[]).unwrap().get(0)
}

/// Whether every connection of `ROLE` to `db` is encrypted, as the server sees them (none: None).
fn role_connections_use_tls(s: &TlsPgServer, db: &str) -> Option<bool> {
    let sql = "SELECT bool_and(ssl.ssl) FROM pg_stat_ssl ssl JOIN pg_stat_activity a USING (pid)
               WHERE a.datname = $1 AND a.usename = $2";
    let row = s.admin.connect(db).query_one(sql, &[&db, &ROLE]).unwrap();
    row.get(0)
}

#[test]
fn verify_full_with_the_private_ca_connects_over_tls() {
    let (s, db) = setup();
    let ca = s.ca.display().to_string();
    for host in ["localhost", "127.0.0.1"] {
        let params = format!("sslmode=verify-full&sslrootcert={ca}");
        let url = s.url(host, &db, ROLE, PASSWORD, &params);
        let ledger = common::open(&url, None).unwrap_or_else(|e| panic!("{host}: {}", told(&e)));
        assert!(ledger.is_postgres());
        assert_eq!(ledger.event_count().unwrap(), 0, "{host}");
        // The server says the ledger's connection is encrypted.
        assert_eq!(role_connections_use_tls(s, &db), Some(true), "{host}");
        drop(ledger);
    }
    // A path written with URL escapes is decoded (here `/` as %2F).
    let escaped = ca.replace('/', "%2F");
    let params = format!("sslmode=verify-full&sslrootcert={escaped}");
    let url = s.url("localhost", &db, ROLE, PASSWORD, &params);
    common::open(&url, None).unwrap_or_else(|e| panic!("{}", told(&e)));
}

#[test]
fn require_without_the_ca_is_refused_with_a_certificate_error() {
    let (s, db) = setup();
    for mode in ["require", "verify-full", "prefer"] {
        let url = s.url("localhost", &db, ROLE, PASSWORD, &format!("sslmode={mode}"));
        let e = common::open_err(&url, None);
        let msg = told(&e);
        assert_eq!(e.exit_code(), 2, "{mode}: {msg}");
        assert!(msg.contains("TLS connection"), "{mode}: {msg}");
        assert!(msg.contains("certificate"), "{mode}: {msg}");
        assert!(
            msg.contains("sslrootcert"),
            "{mode}: the hint names the fix: {msg}"
        );
        assert!(!msg.contains(PASSWORD), "{mode}: {msg}");
    }
    assert_eq!(tables(s, &db), 0, "nothing was written");
}

#[test]
fn disable_against_a_tls_only_server_is_refused_clearly() {
    let (s, db) = setup();
    let url = s.url("127.0.0.1", &db, ROLE, PASSWORD, "sslmode=disable");
    let e = common::open_err(&url, None);
    let msg = told(&e);
    assert_eq!(e.exit_code(), 2, "{msg}");
    assert!(msg.contains("pg_hba.conf"), "{msg}");
    assert!(msg.contains("no encryption"), "the server's reason: {msg}");
    assert!(msg.contains("drop sslmode=disable"), "{msg}");
    assert!(!msg.contains(PASSWORD), "{msg}");
    assert_eq!(tables(s, &db), 0, "nothing was written");
}

#[test]
fn a_ca_file_that_cannot_be_used_is_named() {
    let (s, db) = setup();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-ca.pem");
    let not_pem = dir.path().join("notes.txt");
    std::fs::write(&not_pem, "this is not a certificate\n").unwrap();
    let bad_pem = dir.path().join("bad.pem");
    std::fs::write(
        &bad_pem,
        "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    for (file, says) in [
        (&missing, "cannot read the CA certificate file"),
        (&not_pem, "holds no PEM certificate"),
        (&bad_pem, "CA certificate file"),
    ] {
        let params = format!("sslmode=verify-full&sslrootcert={}", file.display());
        let e = common::open_err(&s.url("localhost", &db, ROLE, PASSWORD, &params), None);
        let msg = told(&e);
        assert_eq!(e.exit_code(), 2, "{msg}");
        assert!(msg.contains(&file.display().to_string()), "{msg}");
        assert!(msg.contains(says), "{msg}");
        assert!(!msg.contains(PASSWORD), "{msg}");
    }
    assert_eq!(tables(s, &db), 0, "nothing was written");
}
