//! Log records sent by the real OpenTelemetry SDK log exporter become searchable through
//! Lookout's log API: words, phrases, boolean operators, severity, attributes, trace ids, in
//! order, page by page; and records acknowledged before a SIGKILL are searchable after the
//! restart.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use lookout::process::ServerProcess;
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_otlp::{LogExporter, WithExportConfig};
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::Resource;
use serde_json::Value;

use crate::common::{client, metrics_text, sample, start};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN: &str = "00f067aa0ba902b7";

/// (seconds after the base time, severity, body, user id, linked to TRACE)
const RECORDS: [(u64, Severity, &str, &str, bool); 8] = [
    (
        1,
        Severity::Info,
        "user alice logged in from Paris",
        "u-1",
        false,
    ),
    (2, Severity::Debug, "cache warmed in 120 ms", "", false),
    (3, Severity::Warn, "disk almost full on /var/lib", "", false),
    (
        4,
        Severity::Info,
        "checkout started for order 42",
        "u-2",
        true,
    ),
    (
        5,
        Severity::Error,
        "payment declined: card expired",
        "u-2",
        true,
    ),
    (
        6,
        Severity::Info,
        "user bob logged in from Lyon",
        "u-3",
        false,
    ),
    (
        7,
        Severity::Error,
        "connection refused by db-primary",
        "",
        false,
    ),
    (
        8,
        Severity::Fatal,
        "out of memory: killing worker 7",
        "",
        false,
    ),
];

/// Sends RECORDS through the SDK's gRPC log exporter (on a blocking thread: the batch
/// processor blocks). Returns the base time.
fn send(endpoint: String) -> SystemTime {
    let exporter = LogExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .expect("exporter builds");
    let provider = SdkLoggerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder_empty().with_service_name("shop").build())
        .build();
    let logger = provider.logger("e2e");
    let base = SystemTime::now() - Duration::from_secs(60);
    let trace = TraceId::from_hex(TRACE).unwrap();
    let span = SpanId::from_hex(SPAN).unwrap();
    for (offset, severity, body, user, linked) in RECORDS {
        let mut record = logger.create_log_record();
        record.set_timestamp(base + Duration::from_secs(offset));
        record.set_severity_number(severity);
        record.set_severity_text(severity.name());
        record.set_body(AnyValue::from(body.to_string()));
        if !user.is_empty() {
            record.add_attribute("user.id", user.to_string());
        }
        if linked {
            record.set_trace_context(trace, span, None);
        }
        logger.emit(record);
    }
    provider.force_flush().expect("logs flushed");
    provider.shutdown().expect("provider shut down");
    base
}

async fn search(http: &str, params: &str) -> Value {
    let response = client()
        .get(format!("http://{http}/lookout/v1/logs?since=1h&{params}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{params}");
    response.json().await.unwrap()
}

fn bodies(answer: &Value) -> Vec<String> {
    answer["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["body"].as_str().unwrap().to_string())
        .collect()
}

/// Polls until `want` records match everything (indexing is asynchronous by design).
async fn wait_for(http: &str, want: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = bodies(&search(http, "limit=1000").await).len();
        if found >= want {
            assert_eq!(found, want);
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {found} of {want} records searchable"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_logs_are_searchable_by_words_phrases_fields_and_trace() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let endpoint = format!("http://{}", server.otlp_grpc_addr);
    tokio::task::spawn_blocking(move || send(endpoint))
        .await
        .unwrap();
    let http = server.http_addr.to_string();
    wait_for(&http, RECORDS.len()).await;

    for (params, expected) in [
        (
            "query=logged",
            vec![
                "user bob logged in from Lyon",
                "user alice logged in from Paris",
            ],
        ),
        (
            "query=%22logged%20in%20from%20Paris%22",
            vec!["user alice logged in from Paris"],
        ),
        (
            "query=logged%20AND%20NOT%20bob",
            vec!["user alice logged in from Paris"],
        ),
        (
            "query=declined%20OR%20refused",
            vec![
                "connection refused by db-primary",
                "payment declined: card expired",
            ],
        ),
        (
            "query=severity:error",
            vec![
                "connection refused by db-primary",
                "payment declined: card expired",
            ],
        ),
        (
            "min_severity=error",
            vec![
                "out of memory: killing worker 7",
                "connection refused by db-primary",
                "payment declined: card expired",
            ],
        ),
        (
            "query=attributes.user.id:u-2",
            vec![
                "payment declined: card expired",
                "checkout started for order 42",
            ],
        ),
        (
            &format!("trace_id={TRACE}&order=oldest"),
            vec![
                "checkout started for order 42",
                "payment declined: card expired",
            ],
        ),
        (
            &format!("query=trace_id:{TRACE}%20AND%20card"),
            vec!["payment declined: card expired"],
        ),
        (
            "query=service:shop%20AND%20disk",
            vec!["disk almost full on /var/lib"],
        ),
    ] {
        assert_eq!(bodies(&search(&http, params).await), expected, "{params}");
    }

    // Pages of 3, newest first: every record once, in order.
    let mut seen = Vec::new();
    let mut params = "limit=3".to_string();
    loop {
        let page = search(&http, &params).await;
        seen.extend(bodies(&page));
        match page["nextCursor"].as_str() {
            Some(cursor) => params = format!("limit=3&cursor={cursor}"),
            None => break,
        }
    }
    let expected: Vec<String> = RECORDS.iter().rev().map(|r| r.2.to_string()).collect();
    assert_eq!(seen, expected);

    // A hit has everything a user reads.
    let page = search(&http, "query=expired").await;
    let hit = &page["logs"][0];
    assert_eq!(hit["severity"], "ERROR");
    assert_eq!(hit["severityNumber"], 17);
    assert_eq!(hit["service"], "shop");
    assert_eq!(hit["traceId"], TRACE);
    assert_eq!(hit["spanId"], SPAN);
    assert_eq!(hit["attributes"]["user.id"], "u-2");
    assert_eq!(hit["resource"]["service.name"], "shop");

    let response = client()
        .get(format!("http://{http}/lookout/v1/traces/{TRACE}/logs"))
        .send()
        .await
        .unwrap();
    let trace_logs: Value = response.json().await.unwrap();
    assert_eq!(
        bodies(&trace_logs),
        [
            "checkout started for order 42",
            "payment declined: card expired"
        ]
    );

    // Operators see the index's lag in readiness and metrics.
    let ready: Value = client()
        .get(format!("http://{http}/ready"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["checks"]["log_index"]["status"], "healthy", "{ready}");
    let metrics = metrics_text(&http).await;
    assert!(
        sample(&metrics, "lookout_log_index_pending_records").is_some(),
        "{metrics}"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_acknowledged_before_sigkill_are_searchable_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let binary = Path::new(env!("CARGO_BIN_EXE_lookout"));
    let env = [
        ("LOOKOUT_HEALTH__MIN_FREE_DISK", "1MiB"),
        // Nothing gets indexed before the kill: the index commits once an hour.
        ("LOOKOUT_LOG_INDEX__COMMIT_INTERVAL", "1h"),
    ];
    let running = ServerProcess::spawn(binary, dir.path(), &env).unwrap();
    // Let the start-up indexing pass (over an empty store) finish before anything is sent.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let endpoint = format!("http://{}", running.otlp_grpc);
    tokio::task::spawn_blocking(move || send(endpoint))
        .await
        .unwrap();
    let http = running.http.clone();
    assert!(
        bodies(&search(&http, "limit=100").await).is_empty(),
        "acknowledged but not yet indexed"
    );
    running.kill().unwrap(); // SIGKILL

    let running = ServerProcess::spawn(binary, dir.path(), &env[..1]).unwrap();
    wait_for(&running.http, RECORDS.len()).await;
    // Recovery wrote the records' write-ahead log to table files: the disk shows it by part.
    let metrics = metrics_text(&running.http).await;
    let logs_bytes = sample(
        &metrics,
        "lookout_storage_table_bytes{column_family=\"logs\"}",
    );
    assert!(logs_bytes.is_some_and(|b| b > 0.0), "{metrics}");
    for debt in [
        "lookout_storage_compaction_pending_bytes",
        "lookout_storage_background_jobs_running",
    ] {
        assert!(sample(&metrics, debt).is_some(), "{debt}: {metrics}");
    }
    running.terminate().unwrap();
}
