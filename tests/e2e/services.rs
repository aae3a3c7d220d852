//! Service health from traffic, against the real server: services fed over OTLP/HTTP with a
//! low and a high error rate, a slow one, one that stops sending and one named by a firing
//! alert each get the expected status and reasons in `/lookout/v1/services`, in
//! `/lookout/v1/services/{name}` and in the `lookout_service_status` series.

use std::time::{Duration, Instant};

use lookout::Server;
use serde_json::{json, Value};

use crate::common::{get_json as get, post, start};

const RULES: &str = r#"
groups:
  - name: services
    interval: 1s
    rules:
      - alert: BillingLedgerUnreachable
        expr: vector(1)
        labels:
          service_name: billing
          severity: critical
"#;

fn resource(service: &str, instance: &str) -> Value {
    json!({"attributes": [
        {"key": "service.name", "value": {"stringValue": service}},
        {"key": "service.instance.id", "value": {"stringValue": instance}},
        {"key": "process.pid", "value": {"intValue": "4242"}},
        {"key": "process.runtime.name", "value": {"stringValue": "OpenJDK Runtime Environment"}},
    ]})
}

fn hex(n: u64, width: usize) -> String {
    format!("{n:0width$x}")
}

/// One server span (kind 2) of `ms` milliseconds ending now.
fn span(trace: u64, id: u64, parent: Option<u64>, name: &str, ms: u64, error: bool) -> Value {
    let end = lookout_proto::now_unix_nano();
    let mut s = json!({
        "traceId": hex(trace, 32), "spanId": hex(id, 16), "name": name, "kind": 2,
        "startTimeUnixNano": (end - ms * 1_000_000).to_string(),
        "endTimeUnixNano": end.to_string(),
        "status": {"code": if error { 2 } else { 1 }},
    });
    if let Some(p) = parent {
        s["parentSpanId"] = json!(hex(p, 16));
    }
    s
}

async fn send(server: &Server, path: &str, body: Value) {
    let response = post(server, path, "application/json", body.to_string(), &[]).await;
    assert_eq!(response.status(), 200, "{path}");
}

/// One round of traffic: 20 requests each to frontend (calling checkout, 30% of whose
/// requests fail), slow (1.5 s each) and billing; logs of `batch` in the first round only.
async fn round(server: &Server, round: u64) {
    let mut by_service: Vec<(&str, Vec<Value>)> = vec![
        ("frontend", vec![]),
        ("checkout", vec![]),
        ("slow", vec![]),
        ("billing", vec![]),
    ];
    for i in 0..20u64 {
        let trace = round * 1000 + i + 1;
        let root = trace * 10;
        by_service[0]
            .1
            .push(span(trace, root, None, "GET /cart", 20, false));
        by_service[1].1.push(span(
            trace,
            root + 1,
            Some(root),
            "POST /pay",
            10,
            i % 10 < 3,
        ));
        by_service[2].1.push(span(
            trace + 500_000,
            root + 2,
            None,
            "GET /report",
            1500,
            false,
        ));
        by_service[3].1.push(span(
            trace + 900_000,
            root + 3,
            None,
            "POST /invoice",
            5,
            false,
        ));
    }
    let resource_spans: Vec<Value> = by_service
        .into_iter()
        .map(|(service, spans)| {
            json!({"resource": resource(service, &format!("{service}-1")),
                   "scopeSpans": [{"spans": spans}]})
        })
        .collect();
    send(
        server,
        "/v1/traces",
        json!({"resourceSpans": resource_spans}),
    )
    .await;
    if round == 0 {
        let now = lookout_proto::now_unix_nano().to_string();
        send(
            server,
            "/v1/logs",
            json!({"resourceLogs": [{"resource": resource("batch", "batch-1"),
                "scopeLogs": [{"logRecords": [{"timeUnixNano": now, "body": {"stringValue": "nightly run"}}]}]}]}),
        )
        .await;
    }
    let now = lookout_proto::now_unix_nano().to_string();
    send(
        server,
        "/v1/metrics",
        json!({"resourceMetrics": [{"resource": resource("checkout", "checkout-1"),
            "scopeMetrics": [{"metrics": [{"name": "process.memory.usage", "unit": "By",
                "sum": {"aggregationTemporality": 2, "isMonotonic": false,
                    "dataPoints": [{"asInt": "123456789", "timeUnixNano": now}]}}]}]}]}),
    )
    .await;
}

fn by_name(body: &Value) -> std::collections::BTreeMap<String, Value> {
    body["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_string(), s.clone()))
        .collect()
}

fn reason_kinds(service: &Value) -> Vec<(String, String)> {
    service["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_service_gets_the_status_its_traffic_alerts_and_silence_call_for() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("services.rules.yaml");
    std::fs::write(&rules, RULES).unwrap();
    let server = start(dir.path(), move |c| {
        c.span_metrics.flush_interval = Duration::from_secs(1);
        c.service_activity.flush_interval = Duration::from_secs(1);
        c.service_health.evaluation_interval = Duration::from_secs(1);
        c.service_health.services.insert(
            "batch".into(),
            lookout_query_api::services::ThresholdOverrides {
                silence_after: Some(Duration::from_secs(3)),
                ..Default::default()
            },
        );
        c.host_metrics.enabled = false;
        c.alerting.default_rules = false;
        c.alerting.rule_files = vec![rules.display().to_string()];
    })
    .await;
    for r in 0..4 {
        round(&server, r).await;
        tokio::time::sleep(Duration::from_millis(1200)).await;
    }

    let expected = [
        ("frontend", "healthy", vec![]),
        ("checkout", "unhealthy", vec![("error_rate", "unhealthy")]),
        ("slow", "degraded", vec![("latency", "degraded")]),
        ("billing", "unhealthy", vec![("alert", "unhealthy")]),
        ("batch", "unhealthy", vec![("silence", "unhealthy")]),
    ];
    let deadline = Instant::now() + Duration::from_secs(30);
    let services = loop {
        let (status, body) = get(&server, "/lookout/v1/services?since=15m").await;
        assert_eq!(status, 200, "{body}");
        let services = by_name(&body);
        let matches = expected.iter().all(|(name, status, reasons)| {
            services.get(*name).is_some_and(|s| {
                s["status"] == *status
                    && reason_kinds(s)
                        == reasons
                            .iter()
                            .map(|(k, s)| (k.to_string(), s.to_string()))
                            .collect::<Vec<_>>()
            })
        });
        if matches {
            break services;
        }
        assert!(
            Instant::now() < deadline,
            "statuses not reached: {}",
            serde_json::to_string_pretty(&body).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };

    let checkout = &services["checkout"];
    let percent = checkout["error_percent"].as_f64().unwrap();
    assert!((25.0..=35.0).contains(&percent), "{checkout}");
    let message = checkout["reasons"][0]["message"].as_str().unwrap();
    assert!(message.starts_with("error rate "), "{message}");
    assert!(message.ends_with("over the last 5m (≥ 20%)"), "{message}");
    assert_eq!(checkout["instances"], 1);
    assert!(checkout["activity"]["spans_per_second"].as_f64().unwrap() > 0.0);
    assert!(
        checkout["activity"]["metric_points_per_second"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert!(checkout["last_seen"].is_string());
    let slow = &services["slow"];
    let p99 = slow["p99_ms"].as_f64().unwrap();
    assert!((1400.0..=2000.0).contains(&p99), "{slow}");
    assert!(slow["p50_ms"].as_f64().unwrap() >= 1400.0, "{slow}");
    let billing = &services["billing"];
    assert_eq!(
        billing["reasons"][0]["message"],
        "alert BillingLedgerUnreachable is firing (critical)"
    );
    assert_eq!(
        billing["alerts"][0]["labels"]["alertname"],
        "BillingLedgerUnreachable"
    );
    let batch = &services["batch"];
    assert!(batch["reasons"][0]["message"]
        .as_str()
        .unwrap()
        .starts_with("no telemetry for "));
    assert!(batch["activity"]["logs_per_second"].as_f64().unwrap() >= 0.0);
    assert_eq!(services["frontend"]["status"], "healthy");

    // The detail: operations, callers, instances with their process attributes and usage.
    let (status, detail) = get(&server, "/lookout/v1/services/checkout?since=15m").await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["status"], "unhealthy");
    let op = &detail["operations"][0];
    assert_eq!(op["name"], "POST /pay");
    assert_eq!(op["span_kind"], "SPAN_KIND_SERVER");
    let op_percent = op["error_percent"].as_f64().unwrap();
    assert!((25.0..=35.0).contains(&op_percent), "{op}");
    assert_eq!(detail["callers"][0]["service"], "frontend");
    assert_eq!(detail["callers"][0]["calls"], 80);
    assert_eq!(detail["callees"], json!([]));
    let instance = &detail["instance_details"][0];
    assert_eq!(instance["instance"], "checkout-1");
    assert!(instance["signals"]["spans"].is_string(), "{instance}");
    assert!(
        instance["signals"]["metric_points"].is_string(),
        "{instance}"
    );
    assert_eq!(instance["attributes"]["process_pid"], "4242");
    assert_eq!(instance["process"]["memory_bytes"], 123456789.0);
    let (_, frontend) = get(&server, "/lookout/v1/services/frontend?since=15m").await;
    assert_eq!(frontend["callees"][0]["service"], "checkout");

    // The statuses as series, for rules and Grafana.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, body) = get(&server, "/api/v1/query?query=lookout_service_status%3D%3D1").await;
        let got: std::collections::BTreeMap<String, String> = body["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["metric"]["service_name"].as_str().unwrap().to_string(),
                    r["metric"]["status"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let want = expected
            .iter()
            .all(|(name, status, _)| got.get(*name).map(String::as_str) == Some(*status));
        if want {
            break;
        }
        assert!(Instant::now() < deadline, "series: {got:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Bad parameters name themselves; an unknown service is a 404 naming it.
    let (status, body) = get(&server, "/lookout/v1/services?since=soon").await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("since"), "{body}");
    let (status, body) = get(&server, "/lookout/v1/services?window=1h").await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("window"), "{body}");
    let (status, body) = get(&server, "/lookout/v1/services/nobody?since=15m").await;
    assert_eq!(status, 404);
    assert!(
        body["error"].as_str().unwrap().contains("\"nobody\""),
        "{body}"
    );
    server.shutdown().await.unwrap();
}
