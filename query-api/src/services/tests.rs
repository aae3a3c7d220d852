use axum::http::StatusCode;
use lookout_storage::series::NewSample;
use lookout_storage::Labels;

use crate::testing::get;

/// 2023-11-14T22:13:20Z, in ms.
const T0: i64 = 1_700_000_000_000;

fn sample(pairs: &[(&str, &str)], t: i64, v: f64) -> NewSample {
    NewSample {
        labels: Labels::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        series: None,
        key: 0,
        t,
        v,
        delta_start: None,
        point: u32::MAX,
    }
}

/// Five minutes of a service `api` (one instance, 10 requests a second, 10% errors, all
/// under 100 ms) and of `worker` (logs only, silent for the last 4 minutes), every 15 s.
/// Golden files: `tests/golden/lookout_services.json`, `lookout_service_detail.json`.
fn samples() -> Vec<NewSample> {
    let mut out = Vec::new();
    for step in 0..=20 {
        let t = T0 + step * 15_000;
        let n = step as f64 * 150.0;
        let calls = |status: &'static str| {
            vec![
                ("__name__", "traces_span_metrics_calls_total"),
                ("service_name", "api"),
                ("span_name", "GET /items"),
                ("span_kind", "SPAN_KIND_SERVER"),
                ("status_code", status),
            ]
        };
        out.push(sample(&calls("STATUS_CODE_UNSET"), t, n * 0.9));
        out.push(sample(&calls("STATUS_CODE_ERROR"), t, n * 0.1));
        for (le, share) in [("50", 0.5), ("100", 1.0), ("+Inf", 1.0)] {
            out.push(sample(
                &[
                    (
                        "__name__",
                        "traces_span_metrics_duration_milliseconds_bucket",
                    ),
                    ("service_name", "api"),
                    ("span_name", "GET /items"),
                    ("span_kind", "SPAN_KIND_SERVER"),
                    ("status_code", "STATUS_CODE_UNSET"),
                    ("le", le),
                ],
                t,
                n * share,
            ));
        }
        let activity = |name: &'static str, service: &'static str, signal: &'static str| {
            vec![
                ("__name__", name),
                ("service_name", service),
                ("instance", if service == "api" { "api-1" } else { "" }),
                ("signal", signal),
            ]
        };
        out.push(sample(
            &activity("lookout_service_items_total", "api", "spans"),
            t,
            n,
        ));
        out.push(sample(
            &activity(
                "lookout_service_last_seen_timestamp_seconds",
                "api",
                "spans",
            ),
            t,
            t as f64 / 1000.0,
        ));
        if step <= 4 {
            out.push(sample(
                &activity("lookout_service_items_total", "worker", "logs"),
                t,
                step as f64 * 30.0,
            ));
            out.push(sample(
                &activity(
                    "lookout_service_last_seen_timestamp_seconds",
                    "worker",
                    "logs",
                ),
                t,
                t as f64 / 1000.0,
            ));
        }
    }
    out.push(sample(
        &[
            ("__name__", "lookout_service_instance_info"),
            ("service_name", "api"),
            ("instance", "api-1"),
            ("process_runtime_name", "go"),
        ],
        T0,
        1.0,
    ));
    out
}

fn golden(name: &str, actual: &serde_json::Value) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    crate::golden::check(&dir, name, actual);
}

fn app(dir: &std::path::Path) -> axum::Router {
    let store = crate::testing::store(dir);
    store.append_samples(&samples()).unwrap();
    let mut state = crate::testing::state(store);
    // The worker is a batch job whose silence matters after 3 minutes.
    state.service_health.services.insert(
        "worker".into(),
        super::ThresholdOverrides {
            silence_after: Some(std::time::Duration::from_secs(180)),
            ..Default::default()
        },
    );
    crate::router(state)
}

#[tokio::test]
async fn services_and_a_service_match_golden_files() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    let end = (T0 + 300_000) / 1000;
    let (status, body) = get(&app, &format!("/lookout/v1/services?since=5m&end={end}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    golden("lookout_services", &body);
    let services = body["services"].as_array().unwrap();
    assert_eq!(services[0]["name"], "api");
    assert_eq!(services[0]["status"], "degraded");
    assert_eq!(services[1]["name"], "worker");
    assert_eq!(services[1]["status"], "unhealthy");
    let (status, body) = get(
        &app,
        &format!("/lookout/v1/services/api?since=5m&end={end}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    golden("lookout_service_detail", &body);

    // Every field the OpenAPI document requires is there.
    let (_, openapi) = get(&app, "/lookout/v1/openapi.json").await;
    let schemas = &openapi["components"]["schemas"];
    for field in schemas["Service"]["required"].as_array().unwrap() {
        assert!(
            services[0].get(field.as_str().unwrap()).is_some(),
            "{field}"
        );
    }
    for field in schemas["ServiceDetail"]["allOf"][1]["required"]
        .as_array()
        .unwrap()
    {
        assert!(body.get(field.as_str().unwrap()).is_some(), "{field}");
    }
}

#[tokio::test]
async fn bad_parameters_and_unknown_services_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    for (uri, names) in [
        ("/lookout/v1/services?since=5x", "since"),
        ("/lookout/v1/services?start=yesterday", "start"),
        ("/lookout/v1/services?service=api", "service"),
        ("/lookout/v1/services/api?since=-1h", "since"),
    ] {
        let (status, body) = get(&app, uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(names),
            "{uri}: {body}"
        );
    }
    let end = (T0 + 300_000) / 1000;
    let (status, body) = get(&app, &format!("/lookout/v1/services/nobody?end={end}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body["error"].as_str().unwrap().contains("\"nobody\""),
        "{body}"
    );
}
