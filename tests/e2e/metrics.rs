//! The real OpenTelemetry SDK exports a counter, an up-down counter, a gauge, a histogram and
//! an exponential histogram over gRPC; PromQL over Prometheus's HTTP API answers with the
//! values computed by hand, under the names Prometheus's own OTLP receiver would give them.

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_otlp::{MetricExporter, WithExportConfig, WithTonicConfig};
use opentelemetry_sdk::metrics::{Aggregation, Instrument, SdkMeterProvider, Stream};
use opentelemetry_sdk::Resource;
use serde_json::Value;

use crate::common::{client, start};

fn send(endpoint: String) {
    let exporter = MetricExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .with_compression(opentelemetry_otlp::Compression::Gzip)
        .build()
        .expect("exporter builds");
    let provider = SdkMeterProvider::builder()
        .with_periodic_exporter(exporter)
        .with_resource(
            Resource::builder_empty()
                .with_service_name("shop")
                .with_attribute(KeyValue::new("service.instance.id", "i-1"))
                .with_attribute(KeyValue::new("host.name", "box-7"))
                .build(),
        )
        .with_view(|i: &Instrument| {
            (i.name() == "payload.size").then(|| {
                Stream::builder()
                    .with_aggregation(Aggregation::Base2ExponentialHistogram {
                        max_size: 160,
                        max_scale: 20,
                        record_min_max: true,
                    })
                    .build()
                    .expect("view builds")
            })
        })
        .build();
    let meter = provider.meter("e2e");
    let requests = meter
        .u64_counter("http.requests")
        .with_unit("{request}")
        .build();
    requests.add(3, &[KeyValue::new("http.route", "/a")]);
    requests.add(2, &[KeyValue::new("http.route", "/a")]);
    requests.add(7, &[KeyValue::new("http.route", "/b")]);
    let queue = meter.i64_up_down_counter("queue.size").build();
    queue.add(10, &[]);
    queue.add(-4, &[]);
    let temperature = meter.f64_gauge("room.temperature").with_unit("Cel").build();
    temperature.record(21.5, &[]);
    let duration = meter
        .f64_histogram("request.duration")
        .with_unit("s")
        .with_boundaries(vec![0.1, 0.5, 1.0])
        .build();
    for v in [0.05, 0.2, 0.7, 2.0] {
        duration.record(v, &[]);
    }
    let payload = meter.u64_histogram("payload.size").with_unit("By").build();
    for v in [1, 2, 4, 8, 1000] {
        payload.record(v, &[]);
    }
    provider.force_flush().expect("metrics flushed");
    provider.shutdown().expect("meter provider shut down");
}

async fn prom(server: &lookout::Server, path: &str, params: &[(&str, &str)]) -> Value {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    // Grafana POSTs forms where Prometheus accepts them; label values and metadata are GET only.
    let get_only = path.contains("/label/") || path.ends_with("/metadata");
    let request = if get_only {
        client().get(format!("http://{}{path}?{body}", server.http_addr))
    } else {
        client()
            .post(format!("http://{}{path}", server.http_addr))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
    };
    let response = request.send().await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{path} {params:?}: {body}");
    assert_eq!(body["status"], "success", "{body}");
    body["data"].clone()
}

/// The single value of an instant query.
async fn scalar_of(server: &lookout::Server, query: &str) -> f64 {
    let data = prom(server, "/api/v1/query", &[("query", query)]).await;
    let result = data["result"].as_array().expect("vector");
    assert_eq!(result.len(), 1, "{query}: {data}");
    result[0]["value"][1].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_metrics_answer_promql_as_computed_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), only_what_is_sent).await;
    let endpoint = format!("http://{}", server.otlp_grpc_addr);
    tokio::task::spawn_blocking(move || send(endpoint))
        .await
        .unwrap();

    // Counter: `_total`, job and instance from the resource, attributes sanitised.
    assert_eq!(
        scalar_of(
            &server,
            r#"http_requests_total{job="shop",instance="i-1",http_route="/a"}"#
        )
        .await,
        5.0
    );
    assert_eq!(scalar_of(&server, "sum(http_requests_total)").await, 12.0);
    // Up-down counter: a gauge without `_total`.
    assert_eq!(scalar_of(&server, "queue_size").await, 6.0);
    // Gauge with its unit as a word.
    assert_eq!(scalar_of(&server, "room_temperature_celsius").await, 21.5);
    // Histogram: cumulative buckets, sum, count; the median is interpolated in (0.1, 0.5].
    for (le, count) in [("0.1", 1.0), ("0.5", 2.0), ("1", 3.0), ("+Inf", 4.0)] {
        let q = format!(r#"request_duration_seconds_bucket{{le="{le}"}}"#);
        assert_eq!(scalar_of(&server, &q).await, count, "{q}");
    }
    assert_eq!(
        scalar_of(&server, "request_duration_seconds_count").await,
        4.0
    );
    let sum = scalar_of(&server, "request_duration_seconds_sum").await;
    assert!((sum - 2.95).abs() < 1e-9, "{sum}");
    let median = scalar_of(
        &server,
        "histogram_quantile(0.5, request_duration_seconds_bucket)",
    )
    .await;
    assert!((median - 0.5).abs() < 1e-9, "{median}");
    // Exponential histogram expanded to `le` buckets: count, sum and a median near 4.
    assert_eq!(scalar_of(&server, "payload_size_bytes_count").await, 5.0);
    assert_eq!(scalar_of(&server, "payload_size_bytes_sum").await, 1015.0);
    assert_eq!(
        scalar_of(&server, r#"payload_size_bytes_bucket{le="+Inf"}"#).await,
        5.0
    );
    let median = scalar_of(
        &server,
        "histogram_quantile(0.5, payload_size_bytes_bucket)",
    )
    .await;
    assert!(median > 3.6 && median <= 4.0 + 1e-9, "{median}");
    // The other resource attributes are on target_info.
    let series = prom(&server, "/api/v1/series", &[("match[]", "target_info")]).await;
    assert_eq!(
        series,
        serde_json::json!([{"__name__": "target_info", "host_name": "box-7", "instance": "i-1", "job": "shop"}])
    );

    // The metric browser: names, labels, metadata.
    let names = prom(&server, "/api/v1/label/__name__/values", &[]).await;
    for name in [
        "http_requests_total",
        "payload_size_bytes_bucket",
        "queue_size",
        "request_duration_seconds_bucket",
        "room_temperature_celsius",
        "target_info",
    ] {
        assert!(
            names.as_array().unwrap().iter().any(|n| n == name),
            "{name} in {names}"
        );
    }
    let labels = prom(
        &server,
        "/api/v1/labels",
        &[("match[]", "http_requests_total")],
    )
    .await;
    assert_eq!(
        labels,
        serde_json::json!(["__name__", "http_route", "instance", "job"])
    );
    // Metadata by the counter's family name and by its series name, the one every query uses.
    for name in ["http_requests", "http_requests_total"] {
        let metadata = prom(&server, "/api/v1/metadata", &[("metric", name)]).await;
        assert_eq!(
            metadata,
            serde_json::json!({name: [{"type": "counter", "help": "", "unit": "{request}"}]})
        );
    }
    // Grafana's metric browser asks `GET /api/v1/metadata?limit=40000` (its default series
    // limit), derives the metadata of histogram and summary series from their family's
    // (`fixSummariesMetadata`), then looks up each metric name of the `__name__` list: each
    // shows its type.
    let metadata = prom(&server, "/api/v1/metadata", &[("limit", "40000")]).await;
    let mut types: std::collections::HashMap<String, String> = Default::default();
    for (name, entries) in metadata.as_object().unwrap() {
        let kind = entries[0]["type"].as_str().unwrap().to_string();
        let derived: &[&str] = match kind.as_str() {
            "histogram" => &["_bucket", "_count", "_sum"],
            "summary" => &["_count", "_sum"],
            _ => &[],
        };
        for suffix in derived {
            types.insert(format!("{name}{suffix}"), "counter".into());
        }
        types.entry(name.clone()).or_insert(kind);
    }
    for (name, kind) in [
        ("http_requests_total", "counter"),
        ("queue_size", "gauge"),
        ("room_temperature_celsius", "gauge"),
        ("request_duration_seconds_bucket", "counter"),
        ("request_duration_seconds_count", "counter"),
        ("payload_size_bytes_bucket", "counter"),
        ("payload_size_bytes_sum", "counter"),
        ("target_info", "gauge"),
    ] {
        assert!(
            names.as_array().unwrap().iter().any(|n| n == name),
            "{name} in {names}"
        );
        assert_eq!(
            types.get(name).map(String::as_str),
            Some(kind),
            "{name} in {metadata}"
        );
    }
    assert_eq!(metadata["request_duration_seconds"][0]["type"], "histogram");

    // Range query over the last minute: the counter at every 15 s step since it was written.
    let now = lookout_proto::now_unix_nano() as f64 / 1e9;
    let (from, to) = (format!("{}", now - 60.0), format!("{now}"));
    let data = prom(
        &server,
        "/api/v1/query_range",
        &[
            ("query", "sum by (http_route) (http_requests_total)"),
            ("start", &from),
            ("end", &to),
            ("step", "15s"),
        ],
    )
    .await;
    assert_eq!(data["resultType"], "matrix");
    let result = data["result"].as_array().unwrap();
    assert_eq!(result.len(), 2, "{data}");
    for series in result {
        let last = series["values"].as_array().unwrap().last().unwrap();
        let want = if series["metric"]["http_route"] == "/a" {
            "5"
        } else {
            "7"
        };
        assert_eq!(last[1], want, "{series}");
    }

    // Wrong queries are Prometheus-style errors naming what is wrong.
    let response = client()
        .get(format!(
            "http://{}/api/v1/query?query=sum(",
            server.http_addr
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "error");
    assert_eq!(body["errorType"], "bad_data");
    assert!(body["error"].as_str().unwrap().contains("query"), "{body}");
    let response = client()
        .get(format!(
            "http://{}/api/v1/query_range?query=up&start=10&end=5&step=1",
            server.http_addr
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    // Grafana's connection test.
    let data = prom(
        &server,
        "/api/v1/query",
        &[("query", "1+1"), ("time", "1700000000")],
    )
    .await;
    assert_eq!(
        data,
        serde_json::json!({"resultType": "scalar", "result": [1700000000, "2"]})
    );

    // Nothing acknowledged is lost over a restart (the head is rebuilt from its log).
    let store_dir = dir.path().to_path_buf();
    server.shutdown().await.unwrap();
    let server = start(&store_dir, only_what_is_sent).await;
    assert_eq!(scalar_of(&server, "sum(http_requests_total)").await, 12.0);
    server.shutdown().await.unwrap();
}

/// Only the metrics the test sends: no span metrics, no host metrics (stored from the start).
fn only_what_is_sent(c: &mut lookout::Config) {
    c.span_metrics.enabled = false;
    c.host_metrics.enabled = false;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_server_shows_its_host_without_waiting_an_interval() {
    let dir = tempfile::tempdir().unwrap();
    // An interval far longer than the test: what shows comes from the passes at start.
    let server = start(dir.path(), |c| {
        c.host_metrics.interval = std::time::Duration::from_secs(3600);
    })
    .await;
    for query in [
        r#"sum(system_memory_usage_bytes{job="lookout"})"#,
        r#"system_cpu_utilization_ratio{job="lookout",cpu="total"}"#,
        "max(system_filesystem_utilization_ratio)",
        "process_memory_usage_bytes",
        "process_cpu_utilization_ratio",
    ] {
        let mut tries = 0;
        loop {
            let answer = prom(&server, "/api/v1/query", &[("query", query)]).await;
            if !answer["result"].as_array().unwrap().is_empty() {
                break;
            }
            tries += 1;
            assert!(tries < 300, "{query}: nothing 30 s after start");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    let cpu = scalar_of(
        &server,
        r#"system_cpu_utilization_ratio{job="lookout",cpu="total"}"#,
    )
    .await;
    assert!((0.0..=1.0).contains(&cpu), "{cpu}");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_and_own_metrics_appear_within_two_intervals() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |c| {
        c.host_metrics.interval = std::time::Duration::from_secs(1);
    })
    .await;
    // Some traffic for Lookout's own counters.
    let body = include_bytes!("data/trace.json");
    crate::common::post(&server, "/v1/traces", "application/json", &body[..], &[]).await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;

    let cpu = scalar_of(
        &server,
        r#"system_cpu_utilization_ratio{job="lookout",cpu="total"}"#,
    )
    .await;
    assert!((0.0..=1.0).contains(&cpu), "{cpu}");
    let memory = scalar_of(&server, r#"sum(system_memory_usage_bytes{job="lookout"})"#).await;
    assert!(memory > 64e6, "{memory}");
    let used = scalar_of(&server, r#"system_memory_utilization_ratio{state="used"}"#).await;
    assert!(used > 0.0 && used < 1.0, "{used}");
    let rss = scalar_of(&server, "process_memory_usage_bytes").await;
    assert!(rss > 1e6, "{rss}");
    let disk = scalar_of(&server, "max(system_filesystem_utilization_ratio)").await;
    assert!((0.0..=1.0).contains(&disk), "{disk}");
    let network = prom(
        &server,
        "/api/v1/query",
        &[("query", "system_network_io_bytes_total")],
    )
    .await;
    assert!(
        !network["result"].as_array().unwrap().is_empty(),
        "{network}"
    );
    // Lookout's own /metrics counters, with the host as instance.
    let accepted = scalar_of(
        &server,
        r#"sum(lookout_ingest_accepted_items_total{job="lookout",signal="traces"})"#,
    )
    .await;
    assert!(accepted >= 1.0, "{accepted}");
    let series = prom(
        &server,
        "/api/v1/series",
        &[("match[]", "process_memory_usage_bytes")],
    )
    .await;
    let instance = series[0]["instance"].as_str().unwrap().to_owned();
    assert!(!instance.is_empty());
    server.shutdown().await.unwrap();
}
