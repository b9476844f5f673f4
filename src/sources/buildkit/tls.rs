//! TLS to a standalone buildkitd, as buildctl's `--tlscacert/--tlscert/--tlskey` do,
//! and to a Docker daemon on `tcp://` (docker's `--tlsverify`, `DOCKER_CERT_PATH`, a
//! context's TLS files): the server must present a certificate signed by the CA, and
//! the client presents its own when given. Every error names the file (or the
//! address) and says why.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{AlertDescription, CertificateError, ClientConfig, RootCertStore};

use super::address::{TlsFiles, authority_host};
use super::errors::find_cause;
use crate::sources::{ErrorKind, SourceError};

/// A certificate or key file is a few KiB; a CA bundle a few hundred.
const MAX_PEM_BYTES: u64 = 4 << 20;

/// ALPN for gRPC servers (grpc-go insists on h2).
pub(crate) const ALPN_H2: &[&[u8]] = &[b"h2"];
/// ALPN for the Engine API, spoken in HTTP/1.1 (its upgrades need it).
pub(crate) const ALPN_HTTP1: &[&[u8]] = &[b"http/1.1"];

/// The client configuration for `files`, and the name the server must prove.
pub(crate) fn client_config(
    files: &TlsFiles,
    authority: &str,
    alpn: &[&[u8]],
) -> Result<(Arc<ClientConfig>, ServerName<'static>), SourceError> {
    let mut roots = RootCertStore::empty();
    let ca = read_pem(&files.ca, "CA certificate (--tlscacert)")?;
    let mut found = 0;
    for cert in CertificateDer::pem_slice_iter(&ca) {
        let cert = cert.map_err(|e| bad_file(&files.ca, "CA certificate (--tlscacert)", &e))?;
        roots.add(cert).map_err(|e| {
            bad_file(
                &files.ca,
                "CA certificate (--tlscacert)",
                format!("not a usable CA certificate: {e}"),
            )
        })?;
        found += 1;
    }
    if found == 0 {
        return Err(bad_file(
            &files.ca,
            "CA certificate (--tlscacert)",
            "no PEM CERTIFICATE block in it",
        ));
    }
    let provider = crate::sources::crypto::provider();
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| SourceError::new(ErrorKind::Other, format!("TLS setup failed: {e}")))?
        .with_root_certificates(roots);
    let mut config = match (&files.cert, &files.key) {
        (Some(cert_path), Some(key_path)) => {
            let chain = read_chain(cert_path)?;
            let key_pem = read_pem(key_path, "private key (--tlskey)")?;
            let key = PrivateKeyDer::from_pem_slice(&key_pem)
                .map_err(|e| bad_file(key_path, "private key (--tlskey)", &e))?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                SourceError::new(
                    ErrorKind::Auth,
                    format!(
                        "the client certificate {} (--tlscert) and the key {} (--tlskey) cannot \
                         be used together: {e}",
                        cert_path.display(),
                        key_path.display()
                    ),
                )
            })?
        }
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let name = files
        .server_name
        .clone()
        .unwrap_or_else(|| authority_host(authority).to_string());
    let server_name = ServerName::try_from(name.clone()).map_err(|_| {
        SourceError::new(
            ErrorKind::Unsupported,
            format!("{name:?} is not a host name or IP address a TLS certificate can name"),
        )
    })?;
    Ok((Arc::new(config), server_name))
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, SourceError> {
    let what = "client certificate (--tlscert)";
    let pem = read_pem(path, what)?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad_file(path, what, &e))?;
    if chain.is_empty() {
        return Err(bad_file(path, what, "no PEM CERTIFICATE block in it"));
    }
    Ok(chain)
}

/// A PEM file, read up to [`MAX_PEM_BYTES`].
fn read_pem(path: &Path, what: &str) -> Result<Vec<u8>, SourceError> {
    let file = std::fs::File::open(path).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "it does not exist".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ => e.to_string(),
        };
        let kind = if e.kind() == std::io::ErrorKind::PermissionDenied {
            ErrorKind::PermissionDenied
        } else {
            ErrorKind::Other
        };
        SourceError::new(
            kind,
            format!("cannot read the TLS {what} {}: {why}", path.display()),
        )
    })?;
    let mut buf = Vec::new();
    file.take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| bad_file(path, what, &e))?;
    if buf.len() as u64 > MAX_PEM_BYTES {
        return Err(bad_file(
            path,
            what,
            "larger than 4 MiB, which no certificate or key is",
        ));
    }
    Ok(buf)
}

fn bad_file(path: &Path, what: &str, why: impl std::fmt::Display) -> SourceError {
    SourceError::new(
        ErrorKind::Other,
        format!("the TLS {what} {} cannot be used: {why}", path.display()),
    )
}

/// Says what a failed TLS handshake (or a TLS alert right after it, when the server
/// refuses the client certificate) means, naming the file to look at. `peer` names
/// the server, e.g. "the BuildKit at tcp://h:1234".
pub(crate) fn explain(
    err: &(dyn std::error::Error + 'static),
    files: &TlsFiles,
    peer: &str,
) -> Option<SourceError> {
    find_cause::<rustls::Error>(err).map(|tls| explain_rustls(tls, files, peer))
}

fn explain_rustls(err: &rustls::Error, files: &TlsFiles, peer: &str) -> SourceError {
    let ca = files.ca.display();
    let (kind, why) = match err {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => (
            ErrorKind::Auth,
            format!(
                "its certificate is not signed by the CA in {ca} (--tlscacert); give the CA \
                 that signed the server's certificate"
            ),
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => (
            ErrorKind::Auth,
            "its certificate is not valid for that host name; connect by the name the \
             certificate carries, or set the server name"
                .to_string(),
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => (ErrorKind::Auth, "its certificate has expired".to_string()),
        rustls::Error::InvalidCertificate(other) => (
            ErrorKind::Auth,
            format!("its certificate was refused: {other}"),
        ),
        rustls::Error::AlertReceived(
            alert @ (AlertDescription::CertificateRequired
            | AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::AccessDenied),
        ) => (
            ErrorKind::Auth,
            match &files.cert {
                Some(cert) => format!(
                    "it refused the client certificate {} (--tlscert): {alert:?}",
                    cert.display()
                ),
                None => {
                    format!("it wants a client certificate (--tlscert and --tlskey): {alert:?}")
                }
            },
        ),
        other => (ErrorKind::Unsupported, format!("TLS failed: {other}")),
    };
    SourceError::new(kind, format!("{peer} (TLS): {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> TlsFiles {
        TlsFiles {
            ca: dir.join("ca.pem"),
            cert: Some(dir.join("cert.pem")),
            key: Some(dir.join("key.pem")),
            server_name: None,
        }
    }

    #[test]
    fn a_missing_ca_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let e = client_config(&files(dir.path()), "127.0.0.1:1", ALPN_H2).unwrap_err();
        assert!(
            e.message.contains("CA certificate (--tlscacert)"),
            "{}",
            e.message
        );
        assert!(e.message.contains("ca.pem"), "{}", e.message);
        assert!(e.message.contains("does not exist"), "{}", e.message);
    }

    #[test]
    fn a_file_without_certificates_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), "not a certificate\n").unwrap();
        let e = client_config(&files(dir.path()), "127.0.0.1:1", ALPN_H2).unwrap_err();
        assert!(e.message.contains("ca.pem"), "{}", e.message);
        assert!(e.message.contains("no PEM CERTIFICATE"), "{}", e.message);
        let broken = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        std::fs::write(dir.path().join("ca.pem"), broken).unwrap();
        let e = client_config(&files(dir.path()), "127.0.0.1:1", ALPN_H2).unwrap_err();
        assert!(e.message.contains("ca.pem cannot be used"), "{}", e.message);
    }

    #[test]
    fn huge_files_are_not_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let f = std::fs::File::create(dir.path().join("ca.pem")).unwrap();
        f.set_len(MAX_PEM_BYTES + 10).unwrap();
        let e = client_config(&files(dir.path()), "127.0.0.1:1", ALPN_H2).unwrap_err();
        assert!(e.message.contains("larger than 4 MiB"), "{}", e.message);
    }

    #[test]
    fn handshake_failures_say_which_file_to_look_at() {
        let f = files(Path::new("/certs"));
        let e = explain_rustls(
            &rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
            &f,
            "the BuildKit at tcp://127.0.0.1:1",
        );
        assert_eq!(e.kind, ErrorKind::Auth);
        assert!(
            e.message.contains("not signed by the CA in /certs/ca.pem"),
            "{}",
            e.message
        );
        let e = explain_rustls(
            &rustls::Error::AlertReceived(AlertDescription::CertificateRequired),
            &f,
            "the BuildKit at tcp://127.0.0.1:1",
        );
        assert!(
            e.message
                .contains("refused the client certificate /certs/cert.pem"),
            "{}",
            e.message
        );
        let wrapped = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::Expired),
        );
        let e = explain(&wrapped, &f, "tcp://h:1").unwrap();
        assert!(e.message.contains("expired"), "{}", e.message);
        assert!(explain(&std::io::Error::other("x"), &f, "tcp://h:1").is_none());
    }
}
