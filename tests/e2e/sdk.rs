//! The real OpenTelemetry Rust SDK exports spans, logs and metrics over gRPC (gzip), HTTP
//! protobuf and HTTP JSON; everything is read back from storage.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lookout_proto::model::{MetricKind, PointValue};
use lookout_proto::otlp::common::v1::any_value::Value;
use lookout_proto::otlp::metrics::v1::number_data_point;
use lookout_proto::TraceId;
use lookout_storage::{LogReader, MetricReader, SpanReader, TimeRange};
use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{
    Span as _, SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{
    Compression, LogExporter, MetricExporter, Protocol, SpanExporter, WithExportConfig,
    WithTonicConfig,
};
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;

use crate::common::{attr, start, string};

#[derive(Clone, Copy, Debug)]
enum Transport {
    Grpc,
    HttpProtobuf,
    HttpJson,
}

fn resource(transport: Transport) -> Resource {
    Resource::builder_empty()
        .with_service_name("checkout")
        .with_attribute(KeyValue::new(
            "deployment.environment",
            format!("{transport:?}"),
        ))
        .build()
}

struct Sent {
    trace_id: TraceId,
    root_span_id: Vec<u8>,
    child_span_id: Vec<u8>,
    log_time: SystemTime,
}

macro_rules! exporter {
    ($kind:ident, $transport:expr, $endpoint:expr, $path:literal) => {
        match $transport {
            Transport::Grpc => $kind::builder()
                .with_tonic()
                .with_endpoint($endpoint)
                .with_compression(Compression::Gzip)
                .build(),
            Transport::HttpProtobuf => $kind::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(format!("{}{}", $endpoint, $path))
                .build(),
            Transport::HttpJson => $kind::builder()
                .with_http()
                .with_protocol(Protocol::HttpJson)
                .with_endpoint(format!("{}{}", $endpoint, $path))
                .build(),
        }
        .expect("exporter builds")
    };
}

/// Runs on a blocking thread: the SDK's batch processors block, and the blocking HTTP client
/// must not be created or dropped on an async worker.
fn send_everything(transport: Transport, endpoint: String) -> Sent {
    let spans = exporter!(SpanExporter, transport, endpoint.clone(), "/v1/traces");
    let tracer_provider = SdkTracerProvider::builder()
        .with_batch_exporter(spans)
        .with_resource(resource(transport))
        .build();
    let tracer = tracer_provider.tracer("e2e");
    let root = tracer
        .span_builder("GET /checkout")
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("http.response.status_code", 500),
        ])
        .start(&tracer);
    let cx = Context::current_with_span(root);
    let mut child = tracer
        .span_builder("SELECT orders")
        .with_kind(SpanKind::Client)
        .start_with_context(&tracer, &cx);
    child.add_event("cache miss", vec![KeyValue::new("cache.key", "orders:1")]);
    child.set_status(Status::error("timeout after 2s"));
    let trace_id = TraceId(cx.span().span_context().trace_id().to_bytes());
    let root_span_id = cx.span().span_context().span_id().to_bytes().to_vec();
    let child_span_id = child.span_context().span_id().to_bytes().to_vec();
    let child_context = child.span_context().clone();
    child.end();
    cx.span().end();
    tracer_provider.force_flush().expect("spans flushed");
    tracer_provider
        .shutdown()
        .expect("tracer provider shut down");

    let logs = exporter!(LogExporter, transport, endpoint.clone(), "/v1/logs");
    let logger_provider = SdkLoggerProvider::builder()
        .with_batch_exporter(logs)
        .with_resource(resource(transport))
        .build();
    let logger = logger_provider.logger("e2e");
    let log_time = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
    let mut record = logger.create_log_record();
    record.set_timestamp(log_time);
    record.set_severity_number(Severity::Error);
    record.set_severity_text("ERROR");
    record.set_body("payment declined for order 42".into());
    record.add_attribute("order.id", 42);
    record.set_trace_context(child_context.trace_id(), child_context.span_id(), None);
    logger.emit(record);
    logger_provider.force_flush().expect("logs flushed");
    logger_provider
        .shutdown()
        .expect("logger provider shut down");

    let metrics = exporter!(MetricExporter, transport, endpoint, "/v1/metrics");
    let meter_provider = SdkMeterProvider::builder()
        .with_periodic_exporter(metrics)
        .with_resource(resource(transport))
        .build();
    let meter = meter_provider.meter("e2e");
    let orders = meter.u64_counter("orders").with_unit("{order}").build();
    orders.add(3, &[KeyValue::new("region", "eu")]);
    orders.add(2, &[KeyValue::new("region", "eu")]);
    let depth = meter.f64_gauge("queue.depth").build();
    depth.record(7.5, &[]);
    let duration = meter
        .f64_histogram("request.duration")
        .with_unit("s")
        .with_boundaries(vec![0.1, 0.5, 1.0])
        .build();
    for value in [0.2, 0.7, 2.0] {
        duration.record(value, &[]);
    }
    meter_provider.force_flush().expect("metrics flushed");
    meter_provider.shutdown().expect("meter provider shut down");

    Sent {
        trace_id,
        root_span_id,
        child_span_id,
        log_time,
    }
}

async fn round_trip(transport: Transport) {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), crate::common::keep_otlp_points).await;
    let endpoint = match transport {
        Transport::Grpc => format!("http://{}", server.otlp_grpc_addr),
        _ => format!("http://{}", server.otlp_http_addr),
    };
    let sent = tokio::task::spawn_blocking(move || send_everything(transport, endpoint))
        .await
        .unwrap();
    let store = server.store().clone();
    let environment = string(&format!("{transport:?}"));

    // Traces: both spans, the tree, attributes, events, status, resource, timestamps.
    let trace = store.trace(&sent.trace_id).unwrap();
    assert_eq!(trace.len(), 2, "{trace:#?}");
    let root = trace
        .iter()
        .find(|s| s.span.span_id == sent.root_span_id)
        .expect("root span");
    let child = trace
        .iter()
        .find(|s| s.span.span_id == sent.child_span_id)
        .expect("child span");
    assert_eq!(root.span.name, "GET /checkout");
    assert_eq!(root.span.kind, 2, "server");
    assert!(root.span.parent_span_id.is_empty());
    assert_eq!(
        attr(&root.span.attributes, "http.request.method"),
        Some(&string("GET"))
    );
    assert_eq!(
        attr(&root.span.attributes, "http.response.status_code"),
        Some(&Value::IntValue(500))
    );
    assert_eq!(child.span.name, "SELECT orders");
    assert_eq!(child.span.kind, 3, "client");
    assert_eq!(child.span.parent_span_id, sent.root_span_id);
    assert_eq!(child.span.trace_id, sent.trace_id.as_bytes().to_vec());
    let status = child.span.status.as_ref().expect("status");
    assert_eq!(
        (status.code, status.message.as_str()),
        (2, "timeout after 2s")
    );
    assert_eq!(child.span.events.len(), 1);
    assert_eq!(child.span.events[0].name, "cache miss");
    assert_eq!(
        attr(&child.span.events[0].attributes, "cache.key"),
        Some(&string("orders:1"))
    );
    for span in &trace {
        assert_eq!(span.resource.service_name(), Some("checkout"));
        assert_eq!(
            attr(&span.resource.attributes, "deployment.environment"),
            Some(&environment)
        );
        assert_eq!(span.scope.name, "e2e");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        assert!(span.span.start_time_unix_nano > now - 60_000_000_000);
        assert!(span.span.end_time_unix_nano >= span.span.start_time_unix_nano);
    }

    // Logs: body, severity, attributes, trace context, time.
    let logs = store.logs(TimeRange::ALL, 100).unwrap();
    assert_eq!(logs.len(), 1, "{logs:#?}");
    let log = &logs[0];
    let expected_time = sent.log_time.duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
    assert_eq!(log.time_unix_nano, expected_time);
    assert_eq!(log.record.time_unix_nano, expected_time);
    assert_eq!(log.record.severity_number, 17);
    assert_eq!(log.record.severity_text, "ERROR");
    assert_eq!(
        log.record.body.as_ref().and_then(|b| b.value.clone()),
        Some(string("payment declined for order 42"))
    );
    assert_eq!(
        attr(&log.record.attributes, "order.id"),
        Some(&Value::IntValue(42))
    );
    assert_eq!(log.record.trace_id, sent.trace_id.as_bytes().to_vec());
    assert_eq!(log.record.span_id, sent.child_span_id);
    assert_eq!(log.resource.service_name(), Some("checkout"));

    // Metrics: a counter, a gauge and a histogram with their values.
    let points = store.metric_points(TimeRange::ALL, 1000).unwrap();
    let find = |name: &str| {
        points
            .iter()
            .find(|p| p.point.name == name)
            .unwrap_or_else(|| panic!("no {name} in {points:#?}"))
    };
    let orders = find("orders");
    assert_eq!(orders.point.kind, MetricKind::Sum as i32);
    assert!(orders.point.is_monotonic);
    assert_eq!(orders.point.aggregation_temporality, 2, "cumulative");
    assert_eq!(orders.point.unit, "{order}");
    let Some(PointValue::Number(n)) = &orders.point.value else {
        panic!("orders is a number")
    };
    assert_eq!(n.value, Some(number_data_point::Value::AsInt(5)));
    assert_eq!(attr(&n.attributes, "region"), Some(&string("eu")));
    assert_eq!(orders.resource.service_name(), Some("checkout"));

    let depth = find("queue.depth");
    assert_eq!(depth.point.kind, MetricKind::Gauge as i32);
    let Some(PointValue::Number(n)) = &depth.point.value else {
        panic!("queue.depth is a number")
    };
    assert_eq!(n.value, Some(number_data_point::Value::AsDouble(7.5)));

    let duration = find("request.duration");
    assert_eq!(duration.point.kind, MetricKind::Histogram as i32);
    assert_eq!(duration.point.unit, "s");
    let Some(PointValue::Histogram(h)) = &duration.point.value else {
        panic!("histogram")
    };
    assert_eq!(h.count, 3);
    assert!((h.sum.unwrap() - 2.9).abs() < 1e-9);
    assert_eq!(h.explicit_bounds, vec![0.1, 0.5, 1.0]);
    assert_eq!(h.bucket_counts, vec![0, 1, 1, 1]);
    assert!(duration.time_unix_nano > 0);

    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_export_over_grpc_with_gzip_is_stored_whole() {
    round_trip(Transport::Grpc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_export_over_http_protobuf_is_stored_whole() {
    round_trip(Transport::HttpProtobuf).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_export_over_http_json_is_stored_whole() {
    round_trip(Transport::HttpJson).await;
}
