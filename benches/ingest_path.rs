//! The ingest hot path without the network: decode an OTLP export request, convert it to the
//! model, and write it as one RocksDB batch. Reports items per second for each signal, so a
//! regression in any step shows. Run with `cargo bench --bench ingest_path`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use lookout_proto::otlp::collector::logs::v1::ExportLogsServiceRequest;
use lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use lookout_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use lookout_proto::otlp::common::v1::{any_value::Value, AnyValue, KeyValue};
use lookout_proto::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use lookout_proto::otlp::metrics::v1::{
    metric, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use lookout_proto::otlp::resource::v1::Resource;
use lookout_proto::otlp::trace::v1::{span, ResourceSpans, ScopeSpans, Span};
use lookout_proto::{convert_logs, convert_metrics, convert_traces, Limits};
use lookout_storage::{LogWriter, MetricWriter, SpanWriter, StorageConfig, Store};
use prost::Message;

const ITEMS: usize = 1000;
const T0: u64 = 1_700_000_000_000_000_000;

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn s(v: &str) -> Value {
    Value::StringValue(v.into())
}

fn resource() -> Option<Resource> {
    Some(Resource {
        attributes: vec![
            kv("service.name", s("checkout")),
            kv("service.version", s("1.4.2")),
            kv("host.name", s("node-7")),
            kv("k8s.pod.name", s("checkout-7d9f8c-x2x9q")),
            kv("telemetry.sdk.language", s("rust")),
        ],
        ..Default::default()
    })
}

fn traces(round: u64) -> Vec<u8> {
    let spans = (0..ITEMS as u64)
        .map(|i| Span {
            trace_id: [
                (round * 1_000_000 + i / 10).to_be_bytes(),
                7u64.to_be_bytes(),
            ]
            .concat(),
            span_id: (i + 1).to_be_bytes().to_vec(),
            parent_span_id: if i % 10 == 0 {
                vec![]
            } else {
                (i - i % 10 + 1).to_be_bytes().to_vec()
            },
            name: format!("GET /api/orders/{{id}} {}", i % 20),
            kind: 2,
            start_time_unix_nano: T0 + i * 1_000_000,
            end_time_unix_nano: T0 + i * 1_000_000 + 250_000,
            attributes: vec![
                kv("http.request.method", s("GET")),
                kv("http.route", s("/api/orders/{id}")),
                kv("http.response.status_code", Value::IntValue(200)),
                kv(
                    "url.full",
                    s("https://shop.example.com/api/orders/12345?expand=items"),
                ),
                kv("user.id", s(&format!("user-{}", i * 7919 % 10_000))),
                kv("net.peer.port", Value::IntValue(443)),
            ],
            events: if i % 10 == 3 {
                vec![span::Event {
                    name: "exception".into(),
                    time_unix_nano: T0 + i * 1_000_000 + 100,
                    attributes: vec![kv("exception.type", s("TimeoutError"))],
                    ..Default::default()
                }]
            } else {
                vec![]
            },
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn logs() -> Vec<u8> {
    let records = (0..ITEMS as u64)
        .map(|i| LogRecord {
            time_unix_nano: T0 + i * 1_000_000,
            severity_number: 9,
            severity_text: "INFO".into(),
            body: Some(AnyValue {
                value: Some(s(&format!(
                    "order {i} accepted for user-{} after {} ms, items=3 total=59.90 EUR",
                    i * 7919 % 10_000,
                    i % 250
                ))),
            }),
            attributes: vec![
                kv("code.function", s("accept_order")),
                kv("order.id", Value::IntValue(i as i64)),
            ],
            trace_id: [i.to_be_bytes(), 9u64.to_be_bytes()].concat(),
            span_id: (i + 1).to_be_bytes().to_vec(),
            ..Default::default()
        })
        .collect();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(),
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn metrics() -> Vec<u8> {
    let metrics = (0..10)
        .map(|m| Metric {
            name: format!("queue.depth.{m}"),
            unit: "{item}".into(),
            data: Some(metric::Data::Gauge(Gauge {
                data_points: (0..ITEMS as u64 / 10)
                    .map(|i| NumberDataPoint {
                        time_unix_nano: T0 + m * 1000 + i,
                        attributes: vec![
                            kv("queue", s(&format!("q{i}"))),
                            kv("region", s("eu-west-1")),
                        ],
                        value: Some(number_data_point::Value::AsDouble(i as f64 * 1.5)),
                        ..Default::default()
                    })
                    .collect(),
            })),
            ..Default::default()
        })
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn bench(c: &mut Criterion) {
    let limits = Limits::default();
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Store::open(dir.path(), &StorageConfig::default()).expect("store opens");
    let trace_body = traces(0);
    let log_body = logs();
    let metric_body = metrics();

    let mut group = c.benchmark_group("traces");
    group.throughput(Throughput::Elements(ITEMS as u64));
    group.bench_function("decode+convert", |b| {
        b.iter(|| {
            let request = ExportTraceServiceRequest::decode(&trace_body[..]).expect("decodes");
            convert_traces(request, &limits)
        })
    });
    let mut round = 0;
    group.bench_function("decode+convert+write", |b| {
        b.iter_batched(
            || {
                round += 1;
                traces(round)
            },
            |body| {
                let request = ExportTraceServiceRequest::decode(&body[..]).expect("decodes");
                store
                    .write_spans(&convert_traces(request, &limits).batch)
                    .expect("written")
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();

    let mut group = c.benchmark_group("logs");
    group.throughput(Throughput::Elements(ITEMS as u64));
    group.bench_function("decode+convert+write", |b| {
        b.iter(|| {
            let request = ExportLogsServiceRequest::decode(&log_body[..]).expect("decodes");
            store
                .write_logs(convert_logs(request, &limits, T0).batch)
                .expect("written")
        })
    });
    group.finish();

    let mut group = c.benchmark_group("metrics");
    group.throughput(Throughput::Elements(ITEMS as u64));
    group.bench_function("decode+convert+write", |b| {
        b.iter(|| {
            let request = ExportMetricsServiceRequest::decode(&metric_body[..]).expect("decodes");
            store
                .write_metric_points(&convert_metrics(request, &limits).batch)
                .expect("written")
        })
    });
    group.finish();

    store.flush().expect("flushed");
    println!(
        "bytes on disk after the run: {} ({})",
        store.disk_usage_bytes(),
        dir.path().display()
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
