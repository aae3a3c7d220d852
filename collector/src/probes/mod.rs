//! Synthetic probes of services, in the style of Prometheus's blackbox exporter: `http`
//! (status, body, health JSON), `tcp` (connect, optional TLS) and `grpc`
//! (`grpc.health.v1.Health/Check`). Each result is stored as blackbox exporter's series
//! (`probe_success`, `probe_duration_seconds`, `probe_http_status_code`,
//! `probe_ssl_earliest_cert_expiry`, plus `probe_health_status{status}`), labelled `probe`,
//! `service_name` and `instance`, and the latest result of each probe is kept in
//! [`ProbeResults`] for the API.

mod config;
mod grpc;
mod health;
mod http;
mod result;
mod runner;
mod tcp;
pub(crate) mod tls;

pub use config::{validate_probes, ProbeConfig, ProbeKind};
pub use health::{Check, HealthStatus};
pub use result::{ProbeResult, ProbeResults};
pub use runner::{Prober, SampleSink, MAX_IN_FLIGHT};
