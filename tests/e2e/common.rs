use std::path::Path;
use std::time::Duration;

use lookout::{Config, Server};
use lookout_proto::otlp::common::v1::{any_value::Value, AnyValue, KeyValue};

/// Starts Lookout on ephemeral ports with its data in `dir`.
pub async fn start(dir: &Path, tweak: impl FnOnce(&mut Config)) -> Server {
    let mut config = Config {
        data_dir: dir.to_path_buf(),
        ..Config::default()
    };
    config.otlp.grpc_addr = "127.0.0.1:0".parse().unwrap();
    config.otlp.http_addr = "127.0.0.1:0".parse().unwrap();
    config.http.addr = "127.0.0.1:0".parse().unwrap();
    // Tests use fixed timestamps from the past: keep everything unless a test says otherwise.
    config.retention.traces = Duration::from_secs(100 * 365 * 86400);
    config.retention.logs = config.retention.traces;
    config.retention.metrics = config.retention.traces;
    config.health.min_free_disk = bytesize_mib(1);
    tweak(&mut config);
    Server::start(config).await.expect("server starts")
}

/// For tests that compare the stored metric points with those sent, one for one: no RED
/// metrics derived from the spans they send.
pub fn no_span_metrics(config: &mut Config) {
    config.span_metrics.enabled = false;
    keep_otlp_points(config);
}

/// For tests that read back the OTLP metric points as received (series hold the rest): no
/// host metrics among them (they are stored from the start).
pub fn keep_otlp_points(config: &mut Config) {
    config.storage.series.keep_otlp_points = true;
    config.host_metrics.enabled = false;
}

pub fn bytesize_mib(n: u64) -> bytesize::ByteSize {
    bytesize::ByteSize::mib(n)
}

pub fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// Lookout's `/metrics` text from the HTTP API at `http` (host:port).
pub async fn metrics_text(http: &str) -> String {
    client()
        .get(format!("http://{http}/metrics"))
        .send()
        .await
        .expect("request sent")
        .text()
        .await
        .expect("a text body")
}

/// The value of the sample whose series is written exactly `series` in `metrics`.
pub fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// GETs `path` from the HTTP API: the status and the JSON body.
pub async fn get_json(server: &Server, path: &str) -> (u16, serde_json::Value) {
    let response = client()
        .get(format!("http://{}{path}", server.http_addr))
        .send()
        .await
        .expect("request sent");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON body"))
}

/// POSTs `body` to the OTLP/HTTP receiver.
pub async fn post(
    server: &Server,
    path: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = client()
        .post(format!("http://{}{path}", server.otlp_http_addr))
        .header("content-type", content_type)
        .body(body);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    request.send().await.expect("request sent")
}

/// `GET /ready` answers 200 with status healthy.
pub async fn assert_ready(server: &Server) {
    let response = client()
        .get(format!("http://{}/ready", server.http_addr))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "healthy", "{body}");
}

pub fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v: &AnyValue| v.value.as_ref())
}

pub fn string(s: &str) -> Value {
    Value::StringValue(s.to_string())
}
