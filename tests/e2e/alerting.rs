//! Alerting end to end: spans from the real OpenTelemetry SDK with a rising error rate drive
//! the error-rate rule through pending and firing to a webhook and back to resolved; the
//! `for` clock and notifications survive restarts; a real Alertmanager receives alerts.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::post;
use opentelemetry::trace::{Span as _, SpanKind, Status, Tracer as _, TracerProvider as _};
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use serde_json::Value;

use crate::common::{client, get_json, metrics_text, sample, start};

/// A webhook receiver on loopback that keeps every body it gets.
struct Hook {
    url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
}

async fn hook() -> Hook {
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&bodies);
    let app = axum::Router::new().route(
        "/hook",
        post(
            move |headers: axum::http::HeaderMap, axum::Json(mut body): axum::Json<Value>| {
                let kept = Arc::clone(&kept);
                async move {
                    // Keep the token header next to the body, for the test to check.
                    if let Some(token) = headers.get("authorization").and_then(|v| v.to_str().ok())
                    {
                        body["_authorization"] = token.into();
                    }
                    kept.lock().unwrap().push(body);
                    "ok"
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Hook {
        url: format!("http://{addr}/hook"),
        bodies,
    }
}

impl Hook {
    fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().unwrap().clone()
    }
    async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        ok: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let bodies = self.bodies();
            if ok(&bodies) {
                return bodies;
            }
            assert!(Instant::now() < deadline, "{what}: webhook got {bodies:#?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn write_rules(dir: &Path, text: &str) -> String {
    let path = dir.join("rules.yaml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn webhook(url: &str) -> lookout_alerting::notify::WebhookConfig {
    serde_json::from_value(serde_json::json!({
        "name": "test",
        "url": url,
        "headers": {"Authorization": "Bearer e2e-token"},
        "group_wait": "1s",
        "group_interval": "1s",
        "repeat_interval": "1h",
    }))
    .unwrap()
}

async fn alerts(server: &lookout::Server) -> Vec<Value> {
    let (_, body) = get_json(server, "/api/v1/alerts").await;
    assert_eq!(body["status"], "success");
    body["data"]["alerts"].as_array().unwrap().clone()
}

/// Sends `n` server spans of `checkout`, every `fail_every`-th one failing, 50 ms apart.
fn send_spans(endpoint: String, n: usize, fail_every: usize) {
    let exporter = SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .unwrap();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter)
        .with_resource(
            Resource::builder_empty()
                .with_service_name("checkout")
                .build(),
        )
        .build();
    let tracer = provider.tracer("e2e");
    for i in 0..n {
        let mut span = tracer
            .span_builder("POST /checkout")
            .with_kind(SpanKind::Server)
            .start(&tracer);
        if fail_every > 0 && i % fail_every == 0 {
            span.set_status(Status::error("card declined"));
        }
        span.end();
        std::thread::sleep(Duration::from_millis(50));
    }
    provider.shutdown().unwrap();
}

const RULES: &str = r#"
groups:
  - name: e2e
    interval: 1s
    rules:
      - alert: CheckoutErrors
        expr: sum by (service_name) (rate(traces_span_metrics_calls_total{status_code="STATUS_CODE_ERROR"}[4s])) > 0
        for: 3s
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.service_name }} fails {{ $value | printf \"%.1f\" }} times a second"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rising_error_rate_fires_then_resolves_through_a_webhook() {
    let dir = tempfile::tempdir().unwrap();
    let hook = hook().await;
    let rules = write_rules(dir.path(), RULES);
    let url = hook.url.clone();
    let server = start(dir.path(), move |c| {
        c.span_metrics.flush_interval = Duration::from_secs(1);
        c.host_metrics.enabled = false;
        c.alerting.default_rules = false;
        c.alerting.rule_files = vec![rules];
        c.alerting.webhooks = vec![webhook(&url)];
    })
    .await;
    let endpoint = format!("http://{}", server.otlp_grpc_addr);

    // Healthy traffic first: no alert.
    let e = endpoint.clone();
    tokio::task::spawn_blocking(move || send_spans(e, 20, 0))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(alerts(&server).await.is_empty());

    // Errors start: pending first, then firing once `for` (3s) has passed.
    let e = endpoint.clone();
    let errors = tokio::task::spawn_blocking(move || send_spans(e, 120, 2));
    let deadline = Instant::now() + Duration::from_secs(20);
    let pending_at = loop {
        let a = alerts(&server).await;
        if let Some(a) = a.first() {
            assert_eq!(a["state"], "pending", "{a}");
            break Instant::now();
        }
        assert!(Instant::now() < deadline, "no pending alert");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let bodies = hook
        .wait_for("firing", Duration::from_secs(20), |b| !b.is_empty())
        .await;
    assert!(
        pending_at.elapsed() >= Duration::from_secs(2),
        "fired {:?} after pending",
        pending_at.elapsed()
    );
    let firing = &bodies[0];
    assert_eq!(firing["status"], "firing");
    let alert = &firing["alerts"][0];
    let started = alert["startsAt"].as_str().unwrap().to_owned();
    let fingerprint = alert["fingerprint"].as_str().unwrap().to_owned();
    assert!(
        alert["evidence"]["traceIds"]
            .as_array()
            .is_some_and(|t| !t.is_empty()),
        "{alert}"
    );
    // The evidence link opens the service's error groups in this server's API.
    let link = alert["evidence"]["links"][0].as_str().unwrap();
    let path = &link[link.find("/lookout/v1/errors").unwrap()..];
    let (status, groups) = get_json(&server, path).await;
    assert_eq!(status, 200, "{link}: {groups}");
    assert!(!groups["groups"].as_array().unwrap().is_empty(), "{groups}");
    let summary = alert["annotations"]["summary"].as_str().unwrap().to_owned();
    assert!(summary.starts_with("checkout fails "), "{summary}");
    // Alertmanager's webhook body, exactly (times, fingerprint, value and evidence aside).
    let mut normalized = firing.clone();
    normalized["alerts"][0]["evidence"] = Value::Null;
    // The configured header came along.
    assert_eq!(normalized["_authorization"], "Bearer e2e-token");
    normalized.as_object_mut().unwrap().remove("_authorization");
    assert_eq!(
        normalized,
        serde_json::json!({
            "version": "4",
            "groupKey": "{}:{alertname=\"CheckoutErrors\"}",
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "test",
            "groupLabels": {"alertname": "CheckoutErrors"},
            "commonLabels": {"alertname": "CheckoutErrors", "service_name": "checkout", "severity": "page"},
            "commonAnnotations": {"summary": summary},
            "externalURL": "http://localhost:8080",
            "alerts": [{
                "status": "firing",
                "labels": {"alertname": "CheckoutErrors", "service_name": "checkout", "severity": "page"},
                "annotations": {"summary": summary},
                "startsAt": started,
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://localhost:8080/graph?g0.expr=ALERTS%7Balertname%3D%22CheckoutErrors%22%7D&g0.tab=1",
                "fingerprint": fingerprint,
                "evidence": null,
            }],
        })
    );
    let firing_alerts = alerts(&server).await;
    assert_eq!(firing_alerts[0]["state"], "firing");
    // ALERTS is a series like any other.
    let body: Value = client()
        .get(format!(
            "http://{}/api/v1/query?query=ALERTS",
            server.http_addr
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["data"]["result"][0]["metric"]["alertstate"], "firing",
        "{body}"
    );

    // Errors stop: the alert resolves and the resolved notification arrives.
    errors.await.unwrap();
    let e = endpoint.clone();
    tokio::task::spawn_blocking(move || send_spans(e, 40, 0))
        .await
        .unwrap();
    let bodies = hook
        .wait_for("resolved", Duration::from_secs(30), |b| {
            b.iter().any(|b| b["status"] == "resolved")
        })
        .await;
    let resolved = bodies.iter().find(|b| b["status"] == "resolved").unwrap();
    assert_eq!(resolved["alerts"][0]["status"], "resolved");
    assert_eq!(resolved["alerts"][0]["fingerprint"], fingerprint.as_str());
    assert_ne!(resolved["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(
        bodies.iter().filter(|b| b["status"] == "firing").count(),
        1,
        "{bodies:#?}"
    );

    // The history has every state change.
    let history: Value = client()
        .get(format!(
            "http://{}/lookout/v1/alerts/history?since=1h",
            server.http_addr
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let steps: Vec<String> = history["changes"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|c| {
            format!(
                "{}->{}",
                c["from"].as_str().unwrap(),
                c["to"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        steps,
        ["inactive->pending", "pending->firing", "firing->inactive"]
    );
    server.shutdown().await.unwrap();
}

const ALWAYS: &str = r#"
groups:
  - name: always
    interval: 1s
    rules:
      - alert: Always
        expr: vector(1) > 0
        for: 6s
        labels:
          team: shop
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_keep_the_for_clock_and_send_no_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let hook = hook().await;
    let rules = write_rules(dir.path(), ALWAYS);
    let url = hook.url.clone();
    let tweak = move |c: &mut lookout::Config| {
        c.host_metrics.enabled = false;
        c.alerting.default_rules = false;
        c.alerting.rule_files = vec![rules.clone()];
        c.alerting.webhooks = vec![webhook(&url)];
    };
    let server = start(dir.path(), tweak.clone()).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let active_at = loop {
        if let Some(a) = alerts(&server).await.first() {
            assert_eq!(a["state"], "pending");
            break a["activeAt"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Restart during `for`: the alert keeps its activeAt and fires on the original clock.
    server.shutdown().await.unwrap();
    let server = start(dir.path(), tweak.clone()).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let a = alerts(&server).await;
    assert_eq!(a[0]["activeAt"], active_at.as_str(), "{a:?}");
    hook.wait_for("firing", Duration::from_secs(15), |b| !b.is_empty())
        .await;
    let a = alerts(&server).await;
    assert_eq!(a[0]["state"], "firing");
    assert_eq!(a[0]["activeAt"], active_at.as_str());

    // Restart while firing: no second "firing", no "resolved".
    server.shutdown().await.unwrap();
    let server = start(dir.path(), tweak).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let bodies = hook.bodies();
    assert_eq!(bodies.len(), 1, "{bodies:#?}");
    assert_eq!(bodies[0]["status"], "firing");
    assert_eq!(alerts(&server).await[0]["state"], "firing");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_alertmanager_receives_alerts() {
    let binary = Path::new("/usr/bin/prometheus-alertmanager");
    if !binary.exists() {
        assert!(
            std::env::var_os("LOOKOUT_REQUIRE_ALERTMANAGER").is_none(),
            "prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager)"
        );
        println!("skipped: prometheus-alertmanager is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config = dir.path().join("alertmanager.yml");
    std::fs::write(
        &config,
        "route:\n  receiver: none\nreceivers:\n  - name: none\n",
    )
    .unwrap();
    let mut am = std::process::Command::new(binary)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("am").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let am_url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while client()
        .get(format!("{am_url}/-/ready"))
        .send()
        .await
        .map_or(true, |r| !r.status().is_success())
    {
        assert!(Instant::now() < deadline, "alertmanager did not start");
        if let Ok(Some(status)) = am.try_wait() {
            panic!("alertmanager exited: {status}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let am = Kill(am);
    let rules = write_rules(dir.path(), &ALWAYS.replace("for: 6s", "for: 0s"));
    let url = am_url.clone();
    let server = start(dir.path(), move |c| {
        c.host_metrics.enabled = false;
        c.alerting.default_rules = false;
        c.alerting.rule_files = vec![rules];
        c.alerting.alertmanagers = vec![url];
        c.alerting.external_labels = [("cluster".to_owned(), "e2e".to_owned())].into();
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let got = loop {
        let body: Value = client()
            .get(format!("{am_url}/api/v2/alerts"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if body.as_array().is_some_and(|a| !a.is_empty()) {
            break body;
        }
        assert!(Instant::now() < deadline, "alertmanager has no alerts");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let alert = &got[0];
    assert_eq!(
        alert["labels"],
        serde_json::json!({"alertname": "Always", "team": "shop", "cluster": "e2e"})
    );
    assert_eq!(alert["status"]["state"], "active");
    server.shutdown().await.unwrap();
    drop(am);
}

#[test]
fn shipped_default_rules_pass_their_unit_tests() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("alerting/rules/default.test.yaml");
    let outcome =
        lookout_alerting::unittest::run(&path, &lookout::alerts::TempStores::new()).unwrap();
    assert!(outcome.failures.is_empty(), "{:#?}", outcome.failures);
    assert!(outcome.passed >= 11, "{}", outcome.passed);
}

#[test]
fn rules_commands_name_every_problem_and_failure() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: rate(x[5m]\n        for: 1x\n      - alert: B\n        expr: up\n        annotations:\n          summary: '{{ $labels.x | nope }}'\n",
    )
    .unwrap();
    let lookout = || std::process::Command::new(env!("CARGO_BIN_EXE_lookout"));
    let out = lookout()
        .args(["rules", "check"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let name = bad.display().to_string();
    assert!(
        text.contains(&format!("{name}:5:15: could not parse expression")),
        "{text}"
    );
    assert!(
        text.contains(&format!("{name}:6:14: for: not a valid duration")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{name}:10:20: annotation summary: function \"nope\" not defined"
        )),
        "{text}"
    );

    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("alerting/rules/default.yaml");
    let out = lookout()
        .args(["rules", "check"])
        .arg(&rules)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    std::fs::copy(&rules, dir.path().join("default.yaml")).unwrap();
    let test = dir.path().join("t.yaml");
    std::fs::write(
        &test,
        "rule_files: [default.yaml]\ntests:\n  - interval: 1m\n    input_series:\n      - series: 'system_cpu_utilization_ratio{cpu=\"total\",instance=\"box\"}'\n        values: '0.95x30'\n    alert_rule_test:\n      - eval_time: 20m\n        alertname: HostHighCpu\n        exp_alerts: []\n",
    )
    .unwrap();
    let out = lookout()
        .args(["rules", "test"])
        .arg(&test)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("alertname: HostHighCpu, time: 20m"), "{text}");
    assert!(text.contains("exp: []"), "{text}");
    assert!(
        text.contains("got: [0: labels:{alertname=\"HostHighCpu\""),
        "{text}"
    );
}

async fn rules_api(server: &lookout::Server, query: &str) -> Value {
    let (_, body) = get_json(server, &format!("/api/v1/rules{query}")).await;
    assert_eq!(body["status"], "success", "{body}");
    body["data"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_refuses_a_bad_file_and_a_failing_rule_is_unhealthy() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write_rules(
        dir.path(),
        r#"
groups:
  - name: g
    interval: 1s
    rules:
      - record: job:one
        expr: vector(1)
      - alert: Up
        expr: vector(1) > 0
        annotations: {summary: up}
      - alert: Broken
        expr: sort_by_label(vector(1), "a")
"#,
    );
    let file = rules.clone();
    let server = start(dir.path(), move |c| {
        c.host_metrics.enabled = false;
        c.alerting.default_rules = false;
        c.alerting.rule_files = vec![file];
        c.http.enable_lifecycle = true;
        // Nobody listens on port 1: deliveries fail, are retried and counted.
        c.alerting.webhooks = vec![webhook("http://127.0.0.1:1/hook")];
    })
    .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let metrics = metrics_text(&server.http_addr.to_string()).await;
    let failed = sample(
        &metrics,
        "lookout_alert_notifications_total{outcome=\"failed\"}",
    )
    .unwrap_or(0.0);
    assert!(failed >= 1.0, "{metrics}");
    let data = rules_api(&server, "").await;
    let group = &data["groups"][0];
    assert_eq!(group["name"], "g");
    assert_eq!(group["file"], rules.as_str());
    assert_eq!(group["interval"], 1.0);
    let names: Vec<&str> = group["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["job:one", "Up", "Broken"]);
    let up = &group["rules"][1];
    let mut keys: Vec<&str> = up.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "alerts",
            "annotations",
            "duration",
            "evaluationTime",
            "health",
            "keepFiringFor",
            "labels",
            "lastError",
            "lastEvaluation",
            "name",
            "query",
            "state",
            "type"
        ]
    );
    assert_eq!(up["type"], "alerting");
    assert_eq!(up["health"], "ok");
    assert_eq!(up["state"], "firing");
    assert_eq!(up["alerts"][0]["labels"]["alertname"], "Up");
    let broken = &group["rules"][2];
    assert_eq!(broken["health"], "err");
    assert!(
        broken["lastError"]
            .as_str()
            .unwrap()
            .contains("experimental"),
        "{broken}"
    );
    assert_eq!(group["rules"][0]["type"], "recording");
    // The recording rule's series is stored.
    let body: Value = client()
        .get(format!(
            "http://{}/api/v1/query?query=job:one",
            server.http_addr
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"]["result"][0]["value"][1], "1", "{body}");
    // Filters.
    let data = rules_api(&server, "?type=record").await;
    assert_eq!(data["groups"][0]["rules"].as_array().unwrap().len(), 1);
    let data = rules_api(&server, "?rule_name[]=Up").await;
    assert_eq!(data["groups"][0]["rules"][0]["name"], "Up");

    // A broken file is refused with its problems; the running rules stay.
    std::fs::write(
        &rules,
        "groups:\n  - name: g\n    rules:\n      - alert: X\n        expr: rate(x[5m]\n",
    )
    .unwrap();
    let response = client()
        .post(format!("http://{}/-/reload", server.http_addr))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    let problem = body["problems"][0].as_str().unwrap();
    assert!(
        problem.starts_with(&format!("{rules}:5:15: could not parse expression")),
        "{problem}"
    );
    assert_eq!(
        rules_api(&server, "").await["groups"][0]["rules"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // A good file is taken.
    std::fs::write(&rules, "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - alert: Down\n        expr: vector(0) > 1\n").unwrap();
    let response = client()
        .post(format!("http://{}/-/reload", server.http_addr))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let data = rules_api(&server, "").await;
    assert_eq!(data["groups"][0]["rules"][0]["name"], "Down");
    assert_eq!(data["groups"][0]["rules"].as_array().unwrap().len(), 1);
    server.shutdown().await.unwrap();
}
