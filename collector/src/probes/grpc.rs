//! `grpc` probes: `grpc.health.v1.Health/Check` for `grpc_service` (empty: the whole server);
//! success is `SERVING`.

use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use super::config::{split_address, ProbeConfig};
use super::result::Outcome;
use super::tls;

pub(crate) struct GrpcProbe {
    endpoint: Endpoint,
    service: String,
}

impl GrpcProbe {
    pub(crate) fn new(config: &ProbeConfig) -> Result<GrpcProbe, String> {
        let address = config.address.clone().unwrap_or_default();
        let (host, _) = split_address(&address)?;
        let scheme = if config.tls { "https" } else { "http" };
        let mut endpoint = Endpoint::from_shared(format!("{scheme}://{address}"))
            .map_err(|e| format!("address: {}", tls::root_cause(&e)))?
            .connect_timeout(config.timeout)
            .timeout(config.timeout);
        if config.tls {
            let mut tls_config = ClientTlsConfig::new().domain_name(host);
            tls_config = match &config.ca_file {
                Some(path) => {
                    let pem = std::fs::read(path)
                        .map_err(|e| format!("reading {}: {e}", path.display()))?;
                    tls_config.ca_certificate(Certificate::from_pem(pem))
                }
                None => tls_config.with_native_roots(),
            };
            endpoint = endpoint
                .tls_config(tls_config)
                .map_err(|e| format!("tls configuration: {}", tls::root_cause(&e)))?;
        }
        Ok(GrpcProbe {
            endpoint,
            service: config.grpc_service.clone(),
        })
    }

    pub(crate) async fn run(&self) -> Outcome {
        let channel = match self.endpoint.connect().await {
            Ok(channel) => channel,
            Err(e) => return Outcome::failed(format!("connect: {}", tls::root_cause(&e))),
        };
        let request = HealthCheckRequest {
            service: self.service.clone(),
        };
        match HealthClient::new(channel).check(request).await {
            Ok(response) => match response.into_inner().status() {
                ServingStatus::Serving => Outcome::default(),
                other => Outcome::failed(format!("not serving ({})", other.as_str_name())),
            },
            Err(status) => Outcome::failed(format!(
                "health check: {:?}: {}",
                status.code(),
                status.message()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(address: &str, service: &str) -> ProbeConfig {
        serde_json::from_value(serde_json::json!({
            "name": "rpc", "service_name": "shop", "kind": "grpc", "address": address,
            "grpc_service": service, "timeout": "2s",
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn serving_and_not_serving() {
        let (reporter, service) = tonic_health::server::health_reporter();
        reporter
            .set_service_status("shop.Cart", tonic_health::ServingStatus::Serving)
            .await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        let probe = GrpcProbe::new(&config(&addr, "shop.Cart")).unwrap();
        assert_eq!(probe.run().await, Outcome::default());
        reporter
            .set_service_status("shop.Cart", tonic_health::ServingStatus::NotServing)
            .await;
        assert_eq!(
            probe.run().await.error.as_deref(),
            Some("not serving (NOT_SERVING)")
        );
        let unknown = GrpcProbe::new(&config(&addr, "shop.Nope"))
            .unwrap()
            .run()
            .await;
        let error = unknown.error.unwrap();
        assert!(error.starts_with("health check: NotFound"), "{error}");
    }
}
