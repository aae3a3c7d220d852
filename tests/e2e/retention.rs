//! Retention deletes expired data of every signal, keeps the rest, and gives the disk space back.

use std::time::{Duration, Instant};

use lookout_proto::TraceId;
use lookout_storage::{LogReader, MetricReader, SpanReader, TimeRange};

use crate::common::no_span_metrics;
use crate::common::{post, start};

/// Incompressible text, so the expired data takes real space on disk.
fn noise(seed: &mut u64, len: usize) -> String {
    (0..len)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            char::from(b"0123456789abcdef"[(*seed % 16) as usize])
        })
        .collect()
}

fn logs(times: impl Iterator<Item = u64>, seed: &mut u64) -> String {
    let records: Vec<String> = times
        .map(|t| {
            format!(
                r#"{{"timeUnixNano":"{t}","body":{{"stringValue":"{}"}}}}"#,
                noise(seed, 2000)
            )
        })
        .collect();
    format!(
        r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{}]}}]}}]}}"#,
        records.join(",")
    )
}

fn span(trace: &str, start: u64) -> String {
    format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"{trace}","spanId":"00000000000000a1","name":"op","startTimeUnixNano":"{start}","endTimeUnixNano":"{}"}}]}}]}}]}}"#,
        start + 1000
    )
}

fn point(name: &str, time: u64) -> String {
    format!(
        r#"{{"resourceMetrics":[{{"scopeMetrics":[{{"metrics":[{{"name":"{name}","gauge":{{"dataPoints":[{{"asInt":"1","timeUnixNano":"{time}"}}]}}}}]}}]}}]}}"#
    )
}

const OLD_TRACE: &str = "000000000000000000000000000000a1";
const NEW_TRACE: &str = "000000000000000000000000000000a2";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_expired_data_and_frees_disk_space() {
    let dir = tempfile::tempdir().unwrap();
    let now = lookout_proto::now_unix_nano();
    let old = now - 2 * 86_400_000_000_000;
    let mut seed = 0x9e37_79b9_7f4a_7c15;

    // Phase 1: everything kept; ~10 MB of log bodies that will expire, and a few fresh items.
    let server = start(dir.path(), no_span_metrics).await;
    for batch in 0..10u64 {
        let body = logs((0..500).map(|i| old + batch * 1000 + i), &mut seed);
        assert_eq!(
            post(&server, "/v1/logs", "application/json", body, &[])
                .await
                .status(),
            200
        );
    }
    let fresh_logs = logs((0..3).map(|i| now + i), &mut seed);
    for (path, body) in [
        ("/v1/logs", fresh_logs),
        ("/v1/traces", span(OLD_TRACE, old)),
        ("/v1/traces", span(NEW_TRACE, now)),
        ("/v1/metrics", point("expired", old)),
        ("/v1/metrics", point("kept", now)),
    ] {
        assert_eq!(
            post(&server, path, "application/json", body, &[])
                .await
                .status(),
            200
        );
    }
    server.store().flush().unwrap();
    let before = server.store().disk_usage_bytes();
    assert!(
        before > 10_000_000,
        "{before} bytes on disk before retention"
    );
    assert_eq!(
        server.store().logs(TimeRange::ALL, 10_000).unwrap().len(),
        5003
    );
    server.shutdown().await.unwrap();

    // Phase 2: one hour of retention for every signal, checked often.
    let server = start(dir.path(), |c| {
        c.retention.traces = Duration::from_secs(3600);
        c.retention.logs = Duration::from_secs(3600);
        c.retention.metrics = Duration::from_secs(3600);
        c.retention.check_interval = Duration::from_millis(100);
        no_span_metrics(c);
    })
    .await;
    let store = server.store().clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    // A retention pass deletes one signal after another: wait for the last (metric points).
    let names = || -> Vec<String> {
        store
            .metric_points(TimeRange::ALL, 10)
            .unwrap()
            .into_iter()
            .map(|p| p.point.name)
            .collect()
    };
    while store.logs(TimeRange::ALL, 10_000).unwrap().len() != 3 || names().len() != 1 {
        assert!(
            Instant::now() < deadline,
            "expired logs or metric points were not deleted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let kept: Vec<u64> = store
        .logs(TimeRange::ALL, 10)
        .unwrap()
        .iter()
        .map(|l| l.time_unix_nano)
        .collect();
    assert_eq!(kept, vec![now, now + 1, now + 2]);
    assert_eq!(names(), vec!["kept"]);
    assert!(store
        .trace(&OLD_TRACE.parse::<TraceId>().unwrap())
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .trace(&NEW_TRACE.parse::<TraceId>().unwrap())
            .unwrap()
            .len(),
        1
    );

    store.flush().unwrap();
    let after = store.disk_usage_bytes();
    assert!(
        after * 4 < before,
        "disk usage went from {before} to only {after} bytes"
    );
    server.shutdown().await.unwrap();
}
