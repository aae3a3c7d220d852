//! TLS for probes: the client configuration (the system's roots, or those of a CA file), and
//! the expiry of the certificates a target presented.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

/// The CA certificates of a PEM file (at least one).
pub(crate) fn load_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let display = path.display();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("reading {display}: {}", pem_error(&e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("reading {display}: {}", pem_error(&e)))?;
    if certs.is_empty() {
        return Err(format!("{display} holds no PEM certificate"));
    }
    Ok(certs)
}

fn pem_error(e: &rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => io.to_string(),
        other => format!("{other:?}"),
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A client configuration verifying servers against the certificates of `ca_file`, or the
/// system's roots without one; `alpn` protocols offered (empty: none).
pub(crate) fn client_config(
    ca_file: Option<&Path>,
    alpn: &[&[u8]],
) -> Result<ClientConfig, String> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            for cert in load_ca_file(path)? {
                roots
                    .add(cert)
                    .map_err(|e| format!("{}: not a usable CA certificate: {e}", path.display()))?;
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(native.certs);
            if added == 0 {
                return Err("no usable CA certificates in the system's store".into());
            }
        }
    }
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls configuration: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// When the earliest of `certs` expires, in seconds since the Unix epoch.
pub(crate) fn earliest_expiry<'a>(certs: impl IntoIterator<Item = &'a [u8]>) -> Option<i64> {
    certs
        .into_iter()
        .filter_map(|der| {
            x509_parser::parse_x509_certificate(der)
                .ok()
                .map(|(_, cert)| cert.validity().not_after.timestamp())
        })
        .min()
}

/// The innermost cause of `error`: what went wrong, without the layers that wrapped it.
pub(crate) fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

#[cfg(test)]
pub(crate) mod testing {
    //! A self-signed certificate for `localhost` and `127.0.0.1`, and a TLS server config.

    use super::*;

    pub struct TestCert {
        pub cert_pem: String,
        pub cert_der: CertificateDer<'static>,
        pub key_der: rustls::pki_types::PrivateKeyDer<'static>,
        pub not_after_unix: i64,
    }

    /// 2031-01-01T00:00:00Z, when the test certificate expires.
    pub const NOT_AFTER_UNIX: i64 = 1_924_992_000;

    pub fn self_signed() -> TestCert {
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
                .expect("certificate parameters");
        params.not_after = rcgen::date_time_ymd(2031, 1, 1);
        let key = rcgen::KeyPair::generate().expect("key pair");
        let cert = params.self_signed(&key).expect("self-signed certificate");
        TestCert {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            key_der: rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            not_after_unix: NOT_AFTER_UNIX,
        }
    }

    pub fn server_config(cert: &TestCert) -> Arc<rustls::ServerConfig> {
        Arc::new(
            rustls::ServerConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .expect("protocol versions")
                .with_no_client_auth()
                .with_single_cert(vec![cert.cert_der.clone()], cert.key_der.clone_key())
                .expect("server config"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_is_read_and_its_expiry_known() {
        let cert = testing::self_signed();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, &cert.cert_pem).unwrap();
        assert_eq!(load_ca_file(&path).unwrap().len(), 1);
        assert!(client_config(Some(&path), &[]).is_ok());
        assert_eq!(
            earliest_expiry([cert.cert_der.as_ref()]),
            Some(cert.not_after_unix)
        );

        std::fs::write(&path, "not pem").unwrap();
        let err = load_ca_file(&path).unwrap_err();
        assert!(err.contains("holds no PEM certificate"), "{err}");
        let err = load_ca_file(&dir.path().join("missing.pem")).unwrap_err();
        assert!(err.starts_with("reading "), "{err}");
    }
}
