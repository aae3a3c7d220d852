//! A stopped and restarted Lookout finds everything it acknowledged before.

use lookout_proto::TraceId;
use lookout_storage::{LogReader, MetricReader, SpanReader, TimeRange};

use crate::common::no_span_metrics;
use crate::common::{post, start};

pub const TRACES: &str = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"billing"}}]},
  "scopeSpans":[{"spans":[
    {"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","name":"charge","kind":2,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000250000000"},
    {"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203332","parentSpanId":"b7ad6b7169203331","name":"db","kind":3,"startTimeUnixNano":"1700000000010000000","endTimeUnixNano":"1700000000200000000"}]}]}]}"#;
pub const LOGS: &str = r#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"billing"}}]},
  "scopeLogs":[{"logRecords":[{"timeUnixNano":"1700000000100000000","severityNumber":17,"body":{"stringValue":"card declined"}}]}]}]}"#;
pub const METRICS: &str = r#"{"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"billing"}}]},
  "scopeMetrics":[{"metrics":[{"name":"charges","sum":{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[{"asInt":"12","timeUnixNano":"1700000000000000000"}]}}]}]}]}"#;
pub const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";

/// What [`TRACES`], [`LOGS`] and [`METRICS`] put in a store, as (spans, logs, points).
pub fn stored(store: &lookout_storage::Store) -> (Vec<String>, Vec<u64>, Vec<String>) {
    let trace_id: TraceId = TRACE_ID.parse().unwrap();
    let spans = store
        .trace(&trace_id)
        .unwrap()
        .into_iter()
        .map(|s| s.span.name)
        .collect();
    let logs = store
        .logs(TimeRange::ALL, 100)
        .unwrap()
        .into_iter()
        .map(|l| l.time_unix_nano)
        .collect();
    let points = store
        .metric_points(TimeRange::ALL, 100)
        .unwrap()
        .into_iter()
        .map(|p| p.point.name)
        .collect();
    (spans, logs, points)
}

pub fn expected() -> (Vec<String>, Vec<u64>, Vec<String>) {
    (
        vec!["charge".into(), "db".into()],
        vec![1_700_000_000_100_000_000],
        vec!["charges".into()],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_on_the_same_data_dir_finds_everything() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), no_span_metrics).await;
    for (path, body) in [
        ("/v1/traces", TRACES),
        ("/v1/logs", LOGS),
        ("/v1/metrics", METRICS),
    ] {
        assert_eq!(
            post(&server, path, "application/json", body, &[])
                .await
                .status(),
            200
        );
    }
    assert_eq!(stored(server.store()), expected());
    server.shutdown().await.unwrap();

    let server = start(dir.path(), no_span_metrics).await;
    assert_eq!(stored(server.store()), expected());
    server.shutdown().await.unwrap();
}
