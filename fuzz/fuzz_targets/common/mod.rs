//! The HTTP API over a small real store (RocksDB and tantivy in a temporary directory), built
//! once per fuzzing process: a few traces, log records and metric series around `T0`.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::http::{Request, StatusCode};
use lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use lookout_proto::otlp::common::v1::{any_value, AnyValue};
use lookout_proto::otlp::logs::v1::LogRecord;
use lookout_proto::otlp::metrics::v1::{
    metric, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use lookout_proto::otlp::trace::v1::Span;
use lookout_proto::{convert_logs, convert_metrics, convert_traces, requests, Limits};
use lookout_query_api::{ApiState, PromApi, QueryConfig, TraceApi};
use lookout_storage::{
    LogIndex, LogIndexConfig, LogSearcher, LogWriter, MetricWriter, SpanWriter, StorageConfig,
    Store,
};
use tower::ServiceExt;

/// 2026-01-01T00:00:00Z, in seconds.
pub const T0: u64 = 1_767_225_600;
const NS: u64 = 1_000_000_000;

struct Api {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
    _dir: tempfile::TempDir,
}

fn build() -> Api {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Arc::new(Store::open(dir.path(), &StorageConfig::default()).expect("store opens"));
    let limits = Limits::default();
    let spans: Vec<Span> = (0..20u8)
        .map(|i| Span {
            trace_id: vec![i / 4 + 1; 16],
            span_id: vec![i + 1; 8],
            parent_span_id: if i % 4 == 0 { vec![] } else { vec![i; 8] },
            name: format!("GET /item/{}", i % 3),
            kind: 2,
            start_time_unix_nano: (T0 + u64::from(i)) * NS,
            end_time_unix_nano: (T0 + u64::from(i)) * NS + 5_000_000,
            ..Default::default()
        })
        .collect();
    store
        .write_spans(&convert_traces(requests::traces(Some("shop"), spans), &limits).batch)
        .expect("spans written");
    let logs: Vec<LogRecord> = (0..20u64)
        .map(|i| LogRecord {
            time_unix_nano: (T0 + i) * NS,
            severity_number: if i % 5 == 0 { 17 } else { 9 },
            severity_text: if i % 5 == 0 { "ERROR" } else { "INFO" }.into(),
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue(format!(
                    "user u-{i} checkout {} level=info",
                    if i % 5 == 0 { "failed" } else { "ok" }
                ))),
            }),
            trace_id: vec![(i / 4) as u8 + 1; 16],
            ..Default::default()
        })
        .collect();
    store
        .write_logs(convert_logs(requests::logs(Some("shop"), logs), &limits, 1).batch)
        .expect("logs written");
    let points: Vec<NumberDataPoint> = (0..60u64)
        .map(|i| NumberDataPoint {
            time_unix_nano: (T0 + i * 15) * NS,
            value: Some(number_data_point::Value::AsDouble((i * 7 % 11) as f64)),
            ..Default::default()
        })
        .collect();
    let metric = Metric {
        name: "queue_depth".into(),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: points,
        })),
        ..Default::default()
    };
    store
        .write_metric_points(&convert_metrics(metrics_request(metric), &limits).batch)
        .expect("metrics written");
    let index = Arc::new(
        LogIndex::open(&dir.path().join("log-index"), &LogIndexConfig::default()).expect("index"),
    );
    lookout_storage::log_index::index_pending(&store, &index, true, 1000).expect("indexed");
    let config = QueryConfig {
        timeout: Duration::from_secs(2),
        ..QueryConfig::default()
    };
    let promql = lookout_query_api::promql::PromqlConfig {
        timeout: Duration::from_secs(2),
        max_samples: 1_000_000,
        ..Default::default()
    };
    let state = ApiState {
        checks: Vec::new(),
        metrics: Arc::new(|| ("text/plain".into(), String::new())),
        traces: TraceApi {
            reader: store.clone(),
            search: store.clone(),
            log_streams: store.clone(),
            logs: Arc::new(LogSearcher {
                store: store.clone(),
                index,
            }),
            config,
        },
        prom: PromApi {
            engine: lookout_query_api::promql::Engine::new(store.clone(), promql),
            reader: store.clone(),
        },
        rules: None,
        probes: None,
        service_health: Default::default(),
        dashboards: lookout_query_api::dashboards::Dashboards {
            store,
            provisioned: Arc::new(Vec::new()),
        },
    };
    Api {
        runtime: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime"),
        router: lookout_query_api::router(state),
        _dir: dir,
    }
}

fn metrics_request(metric: Metric) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: requests::service(Some("shop")),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![metric],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

static API: OnceLock<Api> = OnceLock::new();

/// libFuzzer's panic hook aborts on every panic; Lookout catches the panics of tantivy's query
/// grammar (a third-party parser) and answers 400, so those alone are let through to the catch.
fn allow_caught_parser_panics() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let fuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let caught = info
                .location()
                .is_some_and(|l| l.file().contains("tantivy-query-grammar"));
            if !caught {
                fuzzer_hook(info);
            }
        }));
    });
}

/// GETs `uri`; a wrong request must be a 4xx (or a 503 past a deadline), never a 500.
pub fn get(uri: &str) {
    allow_caught_parser_panics();
    let Ok(request) = Request::get(uri).body(axum::body::Body::empty()) else {
        return;
    };
    let api = API.get_or_init(build);
    let status = api.runtime.block_on(async {
        let response = api
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let _ = http_body_util::BodyExt::collect(response.into_body()).await;
        status
    });
    assert!(
        status != StatusCode::INTERNAL_SERVER_ERROR,
        "{uri} answered 500"
    );
}

/// `text` as one query-string value.
#[allow(dead_code)] // not every target sends a query of its own
pub fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
