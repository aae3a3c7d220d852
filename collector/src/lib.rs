//! The OTLP receivers: OTLP/gRPC and OTLP/HTTP (protobuf and JSON, gzip), admission control,
//! Lookout's ingest metrics, and the RED metrics derived from spans ([`span_metrics`]).
//!
//! Both receivers hand the request body to one [`Ingest`] pipeline, which bounds the bytes in
//! flight, decodes and converts on a blocking thread, writes one storage batch per request and
//! answers with OTLP's `partial_success` for invalid items. Its contract: an export is
//! acknowledged only once everything accepted from it is durably stored.

pub mod activity;
mod config;
mod error;
pub mod grpc;
pub mod host_metrics;
pub mod http;
mod ingest;
mod metrics;
pub mod probes;
pub mod span_metrics;
pub mod tls;

pub use activity::{ActivityConfig, ServiceActivity};
pub use config::OtlpConfig;
pub use error::IngestError;
pub use host_metrics::{HostMetrics, HostMetricsConfig, MIN_UTILISATION_DELTA};
pub use ingest::{
    response_json, response_protobuf, Admission, Encoding, ExportOutcome, Ingest, Protocol, Signal,
    Writers,
};
pub use metrics::IngestMetrics;
pub use span_metrics::{SpanMetrics, SpanMetricsConfig, SpanMetricsWriter};
