//! A decode-only OTLP/gRPC sink, the benchmark's yardstick: the three OTLP services decode each
//! request into OTLP's types (tonic and prost, as any OTLP receiver does), count its items and
//! answer, with no validation, conversion or storage. `cargo bench --bench ingest` drives it
//! with the same traffic as Lookout in the same run and prints the ratio.

use std::net::SocketAddr;

use lookout_proto::otlp::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use lookout_proto::otlp::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use lookout_proto::otlp::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use lookout_proto::otlp::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use lookout_proto::otlp::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use lookout_proto::otlp::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::{Request, Response, Status};

/// Requests as large as Lookout accepts by default.
const MAX_MESSAGE: usize = 64 << 20;

#[derive(Clone, Copy)]
struct Sink;

#[tonic::async_trait]
impl TraceService for Sink {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let spans: usize = request
            .get_ref()
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        std::hint::black_box(spans);
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Sink {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let records: usize = request
            .get_ref()
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .map(|s| s.log_records.len())
            .sum();
        std::hint::black_box(records);
        Ok(Response::new(ExportLogsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Sink {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let metrics: usize = request
            .get_ref()
            .resource_metrics
            .iter()
            .flat_map(|r| &r.scope_metrics)
            .map(|s| s.metrics.len())
            .sum();
        std::hint::black_box(metrics);
        Ok(Response::new(ExportMetricsServiceResponse::default()))
    }
}

/// Serves the sink on `addr` until the process ends; logs the bound address as `lookout serve`
/// does (`{"message":"lookout is serving","otlp_grpc":...}` on stderr), for the benchmark.
pub async fn serve(addr: SocketAddr) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    eprintln!(
        "{}",
        serde_json::json!({"message": "lookout is serving", "otlp_grpc": bound.to_string()})
    );
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .add_service(TraceServiceServer::new(Sink).max_decoding_message_size(MAX_MESSAGE))
        .add_service(LogsServiceServer::new(Sink).max_decoding_message_size(MAX_MESSAGE))
        .add_service(MetricsServiceServer::new(Sink).max_decoding_message_size(MAX_MESSAGE))
        .serve_with_incoming(incoming)
        .await?;
    Ok(())
}
