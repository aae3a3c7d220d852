//! Bad input over both transports: each case gets its exact OTLP status, and the server stays
//! healthy and keeps accepting good data afterwards.

use std::io::Write;

use bytes::Bytes;
use lookout::Server;
use lookout_collector::grpc::RawCodec;
use lookout_collector::http::RpcStatus;
use lookout_proto::otlp::collector::logs::v1::logs_service_client::LogsServiceClient;
use lookout_proto::otlp::collector::logs::v1::ExportLogsServiceRequest;
use lookout_proto::otlp::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use lookout_proto::otlp::collector::trace::v1::trace_service_client::TraceServiceClient;
use lookout_proto::otlp::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use lookout_proto::otlp::trace::v1::Span;
use lookout_proto::TraceId;
use lookout_storage::SpanReader;
use prost::Message;
use tonic::codec::CompressionEncoding;
use tonic::{Code, Status};

use crate::common::{assert_ready, post, start};

async fn channel(server: &Server) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{}", server.otlp_grpc_addr))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

async fn grpc_raw(server: &Server, body: Bytes, gzip: bool) -> Result<Bytes, Status> {
    let mut grpc =
        tonic::client::Grpc::new(channel(server).await).max_encoding_message_size(usize::MAX);
    if gzip {
        grpc = grpc.send_compressed(CompressionEncoding::Gzip);
    }
    grpc.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static(
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    );
    grpc.unary(tonic::Request::new(body), path, RawCodec)
        .await
        .map(|r| r.into_inner())
}

fn spans(trace: u8, count: u8) -> Vec<Span> {
    (1..=count)
        .map(|i| Span {
            trace_id: vec![trace; 16],
            span_id: vec![i; 8],
            name: format!("op {i}"),
            start_time_unix_nano: 1_700_000_000_000_000_000 + u64::from(i),
            end_time_unix_nano: 1_700_000_000_100_000_000,
            ..Default::default()
        })
        .collect()
}

fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    lookout_proto::requests::traces(None, spans)
}

/// 100 spans of one trace, three of them invalid in different ways.
fn hundred_with_three_invalid(trace: u8) -> ExportTraceServiceRequest {
    let mut spans = spans(trace, 100);
    spans[9].trace_id.truncate(15);
    spans[19].span_id = vec![0; 8];
    spans[29].name.clear();
    request(spans)
}

/// Still ready, and a valid export is stored.
async fn assert_still_serving(server: &Server, trace: u8) {
    assert_ready(server).await;
    let response = post(
        server,
        "/v1/traces",
        "application/x-protobuf",
        request(spans(trace, 1)).encode_to_vec(),
        &[],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        server.store().trace(&TraceId([trace; 16])).unwrap().len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_are_invalid_argument_and_400() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let garbage = Bytes::from_static(b"\xff\xff\xff\xff not protobuf");

    let response = post(
        &server,
        "/v1/traces",
        "application/x-protobuf",
        garbage.clone(),
        &[],
    )
    .await;
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["content-type"], "application/x-protobuf");
    let status = RpcStatus::decode(response.bytes().await.unwrap()).unwrap();
    assert_eq!(status.code, Code::InvalidArgument as i32);
    assert!(
        status
            .message
            .starts_with("malformed request: invalid protobuf"),
        "{}",
        status.message
    );

    let response = post(
        &server,
        "/v1/logs",
        "application/json",
        r#"{"resourceLogs": ["#,
        &[],
    )
    .await;
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], Code::InvalidArgument as i32);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("invalid OTLP/JSON"),
        "{body}"
    );

    let response = post(
        &server,
        "/v1/traces",
        "application/json",
        r#"{"resourceSpans": 7}"#,
        &[],
    )
    .await;
    assert_eq!(response.status(), 400);

    let status = grpc_raw(&server, garbage, false).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");

    assert_still_serving(&server, 201).await;
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_items_are_dropped_and_counted_in_partial_success() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let store = server.store().clone();

    let mut client = TraceServiceClient::new(channel(&server).await);
    let response = client
        .export(hundred_with_three_invalid(1))
        .await
        .unwrap()
        .into_inner();
    let partial = response.partial_success.expect("partial_success is set");
    assert_eq!(partial.rejected_spans, 3);
    assert!(
        partial.error_message.starts_with(
            "rejected 3 of 100 spans: invalid trace_id (1), invalid span_id (1), missing name (1); first: resource_spans[0].scope_spans[0].spans[9]: trace_id must be 16 bytes, got 15"
        ),
        "{}",
        partial.error_message
    );
    assert_eq!(store.trace(&TraceId([1; 16])).unwrap().len(), 97);

    let response = post(
        &server,
        "/v1/traces",
        "application/x-protobuf",
        hundred_with_three_invalid(2).encode_to_vec(),
        &[],
    )
    .await;
    assert_eq!(response.status(), 200);
    let body = ExportTraceServiceResponse::decode(response.bytes().await.unwrap()).unwrap();
    assert_eq!(body.partial_success.unwrap().rejected_spans, 3);
    assert_eq!(store.trace(&TraceId([2; 16])).unwrap().len(), 97);

    // Metrics: points of a metric without a name are rejected, counted as data points.
    let metrics: ExportMetricsServiceRequest = serde_json::from_str(
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[
            {"name":"","gauge":{"dataPoints":[{"asInt":"1","timeUnixNano":"1"},{"asInt":"2","timeUnixNano":"2"}]}},
            {"name":"ok","gauge":{"dataPoints":[{"asInt":"3","timeUnixNano":"3"},{"asInt":"4"}]}}]}]}]}"#,
    )
    .unwrap();
    let mut client = MetricsServiceClient::new(channel(&server).await);
    let partial = client
        .export(metrics)
        .await
        .unwrap()
        .into_inner()
        .partial_success
        .unwrap();
    assert_eq!(partial.rejected_data_points, 3);
    assert!(
        partial
            .error_message
            .contains("missing timestamp (1), missing metric name (2)"),
        "{}",
        partial.error_message
    );

    assert_still_serving(&server, 202).await;
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_requests_succeed_without_partial_success() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    for path in ["/v1/traces", "/v1/metrics", "/v1/logs"] {
        let response = post(
            &server,
            path,
            "application/x-protobuf",
            Vec::<u8>::new(),
            &[],
        )
        .await;
        assert_eq!(response.status(), 200, "{path}");
        assert!(
            response.bytes().await.unwrap().is_empty(),
            "{path}: no partial_success"
        );
        let response = post(&server, path, "application/json", "{}", &[]).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.text().await.unwrap(), "{}");
    }
    let channel = channel(&server).await;
    let traces = TraceServiceClient::new(channel.clone())
        .export(ExportTraceServiceRequest::default())
        .await
        .unwrap();
    assert_eq!(traces.into_inner().partial_success, None);
    let metrics = MetricsServiceClient::new(channel.clone())
        .export(ExportMetricsServiceRequest::default())
        .await
        .unwrap();
    assert_eq!(metrics.into_inner().partial_success, None);
    let logs = LogsServiceClient::new(channel)
        .export(ExportLogsServiceRequest::default())
        .await
        .unwrap();
    assert_eq!(logs.into_inner().partial_success, None);
    assert_still_serving(&server, 203).await;
    server.shutdown().await.unwrap();
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_inflating_bodies_are_refused_as_too_large() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |c| {
        c.otlp.max_message_size = bytesize::ByteSize::mib(1);
        c.otlp.max_inflight_bytes = bytesize::ByteSize::mib(8);
    })
    .await;
    let big = Bytes::from(vec![0u8; 2 << 20]);
    let bomb = Bytes::from(gzip(&vec![0u8; 32 << 20]));
    assert!(
        bomb.len() < 1 << 20,
        "the compressed bomb is under the limit itself"
    );

    let response = post(
        &server,
        "/v1/traces",
        "application/x-protobuf",
        big.clone(),
        &[],
    )
    .await;
    assert_eq!(response.status(), 413);
    let status = RpcStatus::decode(response.bytes().await.unwrap()).unwrap();
    assert_eq!(status.code, Code::ResourceExhausted as i32);

    // Without a content-length the limit is applied while reading.
    let chunks: Vec<Result<Bytes, std::io::Error>> = (0..4)
        .map(|_| Ok(Bytes::from(vec![0u8; 512 << 10])))
        .collect();
    let streamed = reqwest::Body::wrap_stream(futures_stream(chunks));
    let response = post(
        &server,
        "/v1/traces",
        "application/x-protobuf",
        streamed,
        &[],
    )
    .await;
    assert_eq!(response.status(), 413);

    let response = post(
        &server,
        "/v1/logs",
        "application/json",
        bomb.clone(),
        &[("content-encoding", "gzip")],
    )
    .await;
    assert_eq!(response.status(), 413);
    assert!(response.text().await.unwrap().contains("request too large"));

    let status = grpc_raw(&server, big, false).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let status = grpc_raw(&server, Bytes::from(vec![0u8; 32 << 20]), true)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");

    // A valid gzip body under the limit is accepted.
    let body = gzip(&request(spans(204, 3)).encode_to_vec());
    let response = post(
        &server,
        "/v1/traces",
        "application/x-protobuf",
        body,
        &[("content-encoding", "gzip")],
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(server.store().trace(&TraceId([204; 16])).unwrap().len(), 3);

    assert_still_serving(&server, 205).await;
    server.shutdown().await.unwrap();
}

fn futures_stream<T: Send + 'static>(
    items: Vec<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::iter(items)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_media_types_are_415() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let response = post(&server, "/v1/traces", "text/plain", "hello", &[]).await;
    assert_eq!(response.status(), 415);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("content-type \"text/plain\" is not supported"),
        "{body}"
    );

    let response = post(
        &server,
        "/v1/traces",
        "application/json",
        "{}",
        &[("content-encoding", "br")],
    )
    .await;
    assert_eq!(response.status(), 415);

    let response = post(
        &server,
        "/v1/traces",
        "application/json; charset=utf-8",
        "{}",
        &[],
    )
    .await;
    assert_eq!(
        response.status(),
        200,
        "parameters of the media type are ignored"
    );
    assert_still_serving(&server, 206).await;
    server.shutdown().await.unwrap();
}
