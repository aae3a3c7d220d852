//! `tcp` probes: a connect, and with `tls: true` a TLS handshake verified against the system's
//! roots or the CA file (the chain's earliest expiry is reported).

use std::sync::Arc;

use rustls::pki_types::ServerName;

use super::config::{split_address, ProbeConfig};
use super::result::Outcome;
use super::tls;

pub(crate) struct TcpProbe {
    address: String,
    /// With TLS: the connector and the name the certificate must be valid for.
    tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
}

impl TcpProbe {
    pub(crate) fn new(config: &ProbeConfig) -> Result<TcpProbe, String> {
        let address = config.address.clone().unwrap_or_default();
        let tls = if config.tls {
            let (host, _) = split_address(&address)?;
            let name = ServerName::try_from(host.to_string())
                .map_err(|_| format!("{host:?} is not a valid TLS server name"))?;
            let client = tls::client_config(config.ca_file.as_deref(), &[])?;
            Some((tokio_rustls::TlsConnector::from(Arc::new(client)), name))
        } else {
            None
        };
        Ok(TcpProbe { address, tls })
    }

    pub(crate) async fn run(&self) -> Outcome {
        let stream = match tokio::net::TcpStream::connect(&self.address).await {
            Ok(stream) => stream,
            Err(e) => return Outcome::failed(format!("connect: {e}")),
        };
        let Some((connector, name)) = &self.tls else {
            return Outcome::default();
        };
        match connector.connect(name.clone(), stream).await {
            Ok(tls) => {
                let (_, session) = tls.get_ref();
                let expiry = session
                    .peer_certificates()
                    .and_then(|certs| tls::earliest_expiry(certs.iter().map(|c| c.as_ref())));
                Outcome {
                    cert_expiry_unix_seconds: expiry,
                    ..Default::default()
                }
            }
            Err(e) => Outcome::failed(format!("tls handshake: {}", tls::root_cause(&e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::tls::testing;

    fn config(address: &str, tls: bool, ca_file: Option<&std::path::Path>) -> ProbeConfig {
        serde_json::from_value(serde_json::json!({
            "name": "db", "service_name": "shop", "kind": "tcp", "address": address,
            "tls": tls, "ca_file": ca_file,
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn connects_and_verifies_tls() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let cert = testing::self_signed();
        let acceptor = tokio_rustls::TlsAcceptor::from(testing::server_config(&cert));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let _ = acceptor.accept(stream).await;
                });
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, &cert.cert_pem).unwrap();

        let plain = TcpProbe::new(&config(&addr, false, None))
            .unwrap()
            .run()
            .await;
        assert_eq!(plain, Outcome::default());
        let verified = TcpProbe::new(&config(&addr, true, Some(&ca)))
            .unwrap()
            .run()
            .await;
        assert_eq!(verified.error, None);
        assert_eq!(
            verified.cert_expiry_unix_seconds,
            Some(testing::NOT_AFTER_UNIX)
        );
        let unverified = TcpProbe::new(&config(&addr, true, None))
            .unwrap()
            .run()
            .await;
        let error = unverified.error.unwrap();
        assert!(error.starts_with("tls handshake: "), "{error}");
        assert!(error.contains("UnknownIssuer"), "{error}");

        drop(dir);
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gone = closed.local_addr().unwrap().to_string();
        drop(closed);
        let refused = TcpProbe::new(&config(&gone, false, None))
            .unwrap()
            .run()
            .await;
        assert!(refused.error.unwrap().starts_with("connect: "));
    }
}
