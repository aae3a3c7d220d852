//! Prometheus's HTTP API over a real store fed OTLP metrics: answers compared with golden files
//! (`query-api/tests/golden/prom_*.json`; `UPDATE_GOLDEN=1` rewrites them), errors checked by
//! status, `errorType` and message.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use lookout_proto::convert::{convert_metrics, Limits};
use lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use lookout_proto::otlp::metrics::v1::{
    exemplar, metric::Data, number_data_point, AggregationTemporality, Exemplar, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use lookout_proto::otlp::resource::v1::Resource;
use lookout_proto::requests::string_kv;
use lookout_storage::MetricWriter;
use tower::ServiceExt;

/// 2026-01-01T00:00:00Z in seconds.
const T0: u64 = 1_767_225_600;

struct Api {
    router: axum::Router,
    _dir: tempfile::TempDir,
}

fn number(t: u64, v: f64, route: &str) -> NumberDataPoint {
    NumberDataPoint {
        attributes: vec![string_kv("http.route", route)],
        start_time_unix_nano: T0 * 1_000_000_000,
        time_unix_nano: t * 1_000_000_000,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    }
}

/// 21 exports 15 s apart from T0 (5 minutes): a counter on two routes (1/s and 2/s), a gauge,
/// and a latency histogram whose +Inf bucket has an exemplar.
fn shop() -> Api {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::testing::store(dir.path());
    for i in 0..=20u64 {
        let t = T0 + i * 15;
        let metrics = vec![
            Metric {
                name: "http.server.requests".into(),
                unit: "{request}".into(),
                description: "Requests served".into(),
                data: Some(Data::Sum(Sum {
                    data_points: vec![
                        number(t, (i * 15) as f64, "/cart"),
                        number(t, (i * 30) as f64, "/pay"),
                    ],
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                    is_monotonic: true,
                })),
                ..Default::default()
            },
            Metric {
                name: "queue.depth".into(),
                data: Some(Data::Gauge(Gauge {
                    data_points: vec![number(t, (i % 4) as f64, "/cart")],
                })),
                ..Default::default()
            },
            Metric {
                name: "http.server.request.duration".into(),
                unit: "s".into(),
                description: "Request latency".into(),
                data: Some(Data::Histogram(Histogram {
                    data_points: vec![HistogramDataPoint {
                        attributes: vec![string_kv("http.route", "/cart")],
                        start_time_unix_nano: T0 * 1_000_000_000,
                        time_unix_nano: t * 1_000_000_000,
                        count: i * 10,
                        sum: Some(i as f64 * 2.5),
                        bucket_counts: vec![i * 5, i * 4, i],
                        explicit_bounds: vec![0.1, 0.5],
                        exemplars: vec![Exemplar {
                            time_unix_nano: t * 1_000_000_000,
                            value: Some(exemplar::Value::AsDouble(1.75)),
                            trace_id: vec![0xab; 16],
                            span_id: vec![0xcd; 8],
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                })),
                ..Default::default()
            },
        ];
        let request = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(Resource {
                    attributes: vec![
                        string_kv("service.name", "shop"),
                        string_kv("service.instance.id", "shop-1"),
                        string_kv("cloud.region", "eu-west-1"),
                    ],
                    ..Default::default()
                }),
                scope_metrics: vec![ScopeMetrics {
                    metrics,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let converted = convert_metrics(request, &Limits::default());
        let rejected = store.write_metric_points(&converted.batch).unwrap();
        assert_eq!(rejected.total(), 0);
    }
    Api {
        router: crate::router(crate::testing::state(store)),
        _dir: dir,
    }
}

async fn call(api: &Api, request: Request<Body>) -> (StatusCode, serde_json::Value) {
    let uri = request.uri().to_string();
    let response = api.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{uri}: not JSON ({e}): {}", String::from_utf8_lossy(&body)));
    (status, json)
}

async fn get(api: &Api, uri: &str) -> (StatusCode, serde_json::Value) {
    call(api, Request::get(uri).body(Body::empty()).unwrap()).await
}

async fn post(api: &Api, uri: &str, form: &str) -> (StatusCode, serde_json::Value) {
    let request = Request::post(uri)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form.to_owned()))
        .unwrap();
    call(api, request).await
}

fn golden(name: &str, actual: &serde_json::Value) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    crate::golden::check(&dir, name, actual);
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn answers_have_prometheus_shapes() {
    let api = shop();
    let end = T0 + 300;
    let (status, body) = get(
        &api,
        &format!(
            "/api/v1/query?query={}&time={end}",
            enc("sum by (http_route) (rate(http_server_requests_total[1m]))")
        ),
    )
    .await;
    assert_eq!(status, 200);
    golden("prom_query_vector", &body);

    // Grafana's POST form, a range query.
    let (status, body) = post(
        &api,
        "/api/v1/query_range",
        &format!(
            "query={}&start={}&end={end}&step=60",
            enc("histogram_quantile(0.9, sum by (le) (rate(http_server_request_duration_seconds_bucket[2m])))"),
            T0 + 120
        ),
    )
    .await;
    assert_eq!(status, 200);
    golden("prom_query_range_matrix", &body);

    let (_, body) = get(&api, &format!("/api/v1/query?query=1%2B1&time={end}.5")).await;
    golden("prom_query_scalar", &body);
    let (_, body) = get(
        &api,
        &format!("/api/v1/query?query={}&time={end}", enc("queue_depth[1m]")),
    )
    .await;
    golden("prom_query_range_vector", &body);

    let (_, body) = get(
        &api,
        &format!(
            "/api/v1/series?match[]={}",
            enc("{job=\"shop\",__name__=~\"http_server_requests_total|target_info\"}")
        ),
    )
    .await;
    golden("prom_series", &body);
    let (_, body) = get(&api, "/api/v1/labels").await;
    golden("prom_labels", &body);
    let (_, body) = get(&api, "/api/v1/label/__name__/values").await;
    golden("prom_label_values", &body);
    let (_, body) = get(&api, "/api/v1/metadata").await;
    golden("prom_metadata", &body);
    let (_, body) = get(&api, "/api/v1/status/buildinfo").await;
    golden("prom_buildinfo", &body);
    let (_, body) = get(
        &api,
        &format!(
            "/api/v1/query_exemplars?query={}&start={}&end={}",
            enc("http_server_request_duration_seconds_bucket"),
            T0 + 280,
            end
        ),
    )
    .await;
    golden("prom_exemplars", &body);
}

#[tokio::test]
async fn values_are_the_ones_computed_by_hand() {
    let api = shop();
    let at = |q: &str| format!("/api/v1/query?query={}&time={}", enc(q), T0 + 300);
    let value = |body: &serde_json::Value| -> f64 {
        body["data"]["result"][0]["value"][1]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    // 1 request/s on /cart, 2 on /pay.
    let (_, b) = get(
        &api,
        &at(r#"rate(http_server_requests_total{http_route="/cart"}[1m])"#),
    )
    .await;
    assert!((value(&b) - 1.0).abs() < 1e-9, "{b}");
    let (_, b) = get(&api, &at("sum(increase(http_server_requests_total[1m]))")).await;
    assert!((value(&b) - 180.0).abs() < 1e-9, "{b}");
    // Per second: 5 ≤ 0.1 s, 4 in (0.1, 0.5], 1 above: p50 = 0.1, p95 = 0.5 (the last finite bound).
    let (_, b) = get(
        &api,
        &at("histogram_quantile(0.5, rate(http_server_request_duration_seconds_bucket[1m]))"),
    )
    .await;
    assert!((value(&b) - 0.1).abs() < 1e-9, "{b}");
    let (_, b) = get(
        &api,
        &at("histogram_quantile(0.95, rate(http_server_request_duration_seconds_bucket[1m]))"),
    )
    .await;
    assert!((value(&b) - 0.5).abs() < 1e-9, "{b}");
    // Series past the lookback delta are gone.
    let (_, b) = get(
        &api,
        &format!("/api/v1/query?query=queue_depth&time={}", T0 + 300 + 301),
    )
    .await;
    assert_eq!(b["data"]["result"], serde_json::json!([]));
}

#[tokio::test]
async fn metadata_answers_under_the_names_series_and_queries_use() {
    let api = shop();
    let names = |body: &serde_json::Value| -> Vec<String> {
        body["data"].as_object().unwrap().keys().cloned().collect()
    };
    let counter =
        serde_json::json!([{"type": "counter", "help": "Requests served", "unit": "{request}"}]);
    // By the counter's series name (what Grafana and every query use) and by its family name.
    for name in ["http_server_requests_total", "http_server_requests"] {
        let (status, body) = get(&api, &format!("/api/v1/metadata?metric={name}")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"], serde_json::json!({ name: counter }), "{name}");
    }
    // A histogram under its family name, as Prometheus lists a scraped one; not under the
    // names of its series (Grafana derives their metadata from the family's).
    let (_, body) = get(
        &api,
        "/api/v1/metadata?metric=http_server_request_duration_seconds",
    )
    .await;
    assert_eq!(
        body["data"]["http_server_request_duration_seconds"][0]["type"],
        "histogram"
    );
    for series in ["_bucket", "_sum", "_count"] {
        let (_, body) = get(
            &api,
            &format!("/api/v1/metadata?metric=http_server_request_duration_seconds{series}"),
        )
        .await;
        assert_eq!(body["data"], serde_json::json!({}), "{series}");
    }
    // What Grafana's Prometheus data source sends: the whole list, limited to its series limit.
    let (_, body) = get(&api, "/api/v1/metadata?limit=40000").await;
    assert_eq!(
        names(&body),
        [
            "http_server_request_duration_seconds",
            "http_server_requests",
            "http_server_requests_total",
            "queue_depth",
            "target_info"
        ]
    );
    let (_, body) = get(&api, "/api/v1/metadata?limit=2&limit_per_metric=1").await;
    assert_eq!(
        names(&body),
        [
            "http_server_request_duration_seconds",
            "http_server_requests"
        ]
    );
    let (status, body) = get(&api, "/api/v1/metadata?limit_per_metric=some").await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("limit_per_metric"),
        "{body}"
    );
}

#[tokio::test]
async fn wrong_requests_are_prometheus_errors_naming_the_problem() {
    let api = shop();
    for (uri, status, error_type, needle) in [
        ("/api/v1/query?query=sum(", 400, "bad_data", "query"),
        ("/api/v1/query", 400, "bad_data", "query"),
        (
            "/api/v1/query?query=up&time=yesterday",
            400,
            "bad_data",
            "\"time\"",
        ),
        (
            "/api/v1/query_range?query=up&start=10&end=5&step=1",
            400,
            "bad_data",
            "end timestamp",
        ),
        (
            "/api/v1/query_range?query=up&start=0&end=5&step=0",
            400,
            "bad_data",
            "step",
        ),
        (
            "/api/v1/query_range?query=up&start=0&end=100000&step=1",
            400,
            "bad_data",
            "11000 points",
        ),
        (
            "/api/v1/query_range?query=up&start=0&end=5&step=soon",
            400,
            "bad_data",
            "\"step\"",
        ),
        (
            "/api/v1/query_range?query=up[5m]&start=0&end=5&step=1",
            400,
            "bad_data",
            "range vector",
        ),
        ("/api/v1/series", 400, "bad_data", "match[]"),
        (
            "/api/v1/series?match[]=rate(up[5m])",
            400,
            "bad_data",
            "match[]",
        ),
        ("/api/v1/label/1bad/values", 400, "bad_data", "label name"),
        (
            "/api/v1/query?query=sort_by_label(up,%22a%22)",
            400,
            "bad_data",
            "experimental",
        ),
        (
            "/api/v1/query?query=up&timeout=-1s",
            400,
            "bad_data",
            "\"timeout\"",
        ),
    ] {
        let (got, body) = get(&api, uri).await;
        assert_eq!(got.as_u16(), status, "{uri}: {body}");
        assert_eq!(body["status"], "error", "{uri}");
        assert_eq!(body["errorType"], error_type, "{uri}: {body}");
        let message = body["error"].as_str().unwrap();
        assert!(message.contains(needle), "{uri}: {message}");
    }
    // A subquery too fine for its range is refused before it allocates.
    let (status, body) = get(
        &api,
        &format!(
            "/api/v1/query?query={}",
            enc("max_over_time(queue_depth[10y:1ms])")
        ),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("subquery"),
        "{body}"
    );
    // Many-to-many matching is an execution error (422).
    let (status, body) = get(
        &api,
        &format!(
            "/api/v1/query?query={}&time={}",
            enc("http_server_requests_total + on(job) http_server_requests_total"),
            T0 + 300
        ),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errorType"], "execution");
}
