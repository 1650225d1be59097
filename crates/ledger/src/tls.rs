//! TLS for the PostgreSQL ledger: rustls with the ring provider (as the HTTP clients), trusting
//! the system's roots or the CA file a URL names (`sslrootcert`, as libpq), and what a failed
//! handshake was.

use std::path::Path;
use std::sync::Arc;

use portcullis_core::Problem;

use crate::error::{Error, Result};

/// The certificates of a CA file (`sslrootcert`): every PEM certificate in it, at least one.
fn ca_file_certs(path: &Path) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>> {
    use rustls::pki_types::pem::PemObject;
    let shown = path.display();
    let hint = "name a readable PEM file of the CA that signed the server's certificate \
                (sslrootcert=/path/to/ca.pem); nothing was written";
    let bytes = std::fs::read(path).map_err(|e| {
        Error::Problem(
            Problem::input(format!(
                "cannot read the CA certificate file {shown} (sslrootcert)"
            ))
            .because(e)
            .hint(hint),
        )
    })?;
    let certs: std::result::Result<Vec<_>, _> =
        rustls::pki_types::CertificateDer::pem_slice_iter(&bytes).collect();
    match certs {
        Ok(certs) if !certs.is_empty() => Ok(certs),
        Ok(_) => Err(Error::input(format!(
            "the CA certificate file {shown} (sslrootcert) holds no PEM certificate"
        ))
        .hint(hint)),
        Err(e) => Err(Error::Problem(
            Problem::input(format!(
                "the CA certificate file {shown} (sslrootcert) is not a valid PEM file"
            ))
            .because(e)
            .hint(hint),
        )),
    }
}

/// The TLS client: the server's certificate must chain to `root_cert`'s authorities when given
/// (as libpq's `sslrootcert`), else to the system's, and name the host connected to.
pub(crate) fn rustls_config(root_cert: Option<&Path>) -> Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    match root_cert {
        Some(path) => {
            let (_, unusable) = roots.add_parsable_certificates(ca_file_certs(path)?);
            if roots.is_empty() {
                return Err(Error::input(format!(
                    "the CA certificate file {} (sslrootcert) holds no certificate usable as a CA ({unusable} unusable)",
                    path.display()
                ))
                .hint("name the PEM file of the CA that signed the server's certificate; nothing was written"));
            }
        }
        None => {
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Problem(Problem::internal("cannot set up TLS").because(e)))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

/// The TLS error under a failed connection (a certificate refused, a handshake that failed), if
/// that is what it was: rustls's error, inside the I/O error the TLS stream returned.
pub(crate) fn tls_error(e: &postgres::Error) -> Option<String> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<rustls::Error>() {
            return Some(t.to_string());
        }
        let inner = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref());
        if let Some(t) = inner.and_then(|i| i.downcast_ref::<rustls::Error>()) {
            return Some(t.to_string());
        }
        cur = err.source();
    }
    None
}
