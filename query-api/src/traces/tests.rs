//! The trace APIs against a real store holding the shop fixture: answers compared with golden
//! files (`query-api/tests/golden/`; `UPDATE_GOLDEN=1` rewrites them), errors checked by
//! status and message.

use axum::http::StatusCode;
use lookout_proto::convert::{convert_traces, Limits};
use lookout_proto::requests::shop_trace;
use lookout_storage::SpanWriter;

/// 2026-01-01T00:00:00Z.
const T0: u64 = 1_767_225_600_000_000_000;
const MINUTE: u64 = 60_000_000_000;

struct Api {
    router: axum::Router,
    _dir: tempfile::TempDir,
}

/// Ten shop traces a minute apart from T0; seeds 3 and 7 fail.
fn shop() -> Api {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::testing::store(dir.path());
    for seed in 0..10u64 {
        for request in shop_trace(seed, T0 + seed * MINUTE, seed % 4 == 3) {
            store
                .write_spans(&convert_traces(request, &Limits::default()).batch)
                .unwrap();
        }
    }
    Api {
        router: crate::router(crate::testing::state(store)),
        _dir: dir,
    }
}

async fn get(api: &Api, uri: &str) -> (StatusCode, serde_json::Value) {
    crate::testing::get(&api.router, uri).await
}

fn golden(name: &str, actual: &serde_json::Value) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    crate::golden::check(&dir, name, actual);
}

fn trace_hex(seed: u64) -> String {
    format!("{:016x}{seed:016x}", 0x5eed)
}

fn us(ns: u64) -> u64 {
    ns / 1000
}

#[tokio::test]
async fn jaeger_v1_answers_match_golden_files() {
    let api = shop();
    let window = format!("start={}&end={}", us(T0), us(T0 + 60 * MINUTE));
    for (name, uri) in [
        ("jaeger_services", "/api/services".to_string()),
        ("jaeger_service_operations", "/api/services/gateway/operations".into()),
        ("jaeger_operations_client", "/api/operations?service=gateway&spanKind=client".into()),
        ("jaeger_trace", format!("/api/traces/{}", trace_hex(3))),
        (
            // As Jaeger UI sends it.
            "jaeger_search_error_tag",
            format!("/api/traces?service=payment&operation=POST%20%2Fpay&tag=error%3Atrue&{window}&limit=20&lookback=custom&maxDuration&minDuration"),
        ),
        (
            "jaeger_dependencies",
            format!("/api/dependencies?endTs={}&lookback={}", (T0 + 60 * MINUTE) / 1_000_000, 3_600_000),
        ),
    ] {
        let (status, body) = get(&api, &uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        golden(name, &body);
    }
}

#[tokio::test]
async fn jaeger_v1_search_filters() {
    let api = shop();
    let window = format!("start={}&end={}", us(T0), us(T0 + 60 * MINUTE));
    let ids = |body: &serde_json::Value| -> Vec<String> {
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["traceID"].as_str().unwrap().to_string())
            .collect()
    };
    let failed = vec![trace_hex(7), trace_hex(3)];
    // Grafana converts its logfmt tag box to `tags` JSON and sends µs bounds.
    for query in [
        "service=gateway&tags=%7B%22http.response.status_code%22%3A%22500%22%7D".to_string(),
        "service=gateway&tag=http.response.status_code:500".into(),
        "service=payment&tags=%7B%22exception.type%22%3A%22CardDeclined%22%7D".into(),
        "service=payment&tag=otel.status_code:ERROR".into(),
        "service=gateway&operation=GET%20%2Fcheckout&tag=error:true&minDuration=50ms&maxDuration=1s".into(),
    ] {
        let (status, body) = get(&api, &format!("/api/traces?{query}&{window}&lookback=custom&limit=20")).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        assert_eq!(ids(&body), failed, "{query}");
        assert_eq!(body["total"], 2);
    }
    let (_, body) = get(
        &api,
        &format!("/api/traces?service=cart&tag=host.name:host-a&{window}&limit=3"),
    )
    .await;
    assert_eq!(ids(&body), [trace_hex(9), trace_hex(8), trace_hex(7)]);
    let (_, body) = get(
        &api,
        &format!("/api/traces?service=cart&minDuration=17ms&{window}"),
    )
    .await;
    assert!(ids(&body).is_empty(), "cart spans last 16 ms");
    let (_, body) = get(
        &api,
        &format!(
            "/api/traces?traceID={}&traceID={}",
            trace_hex(1),
            trace_hex(2)
        ),
    )
    .await;
    assert_eq!(ids(&body), [trace_hex(1), trace_hex(2)]);
    // The lookup by id is not bound to any window.
    let (status, _) = get(&api, &format!("/api/traces/{}?start=1&end=2", trace_hex(1))).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn jaeger_v1_errors_name_the_parameter() {
    let api = shop();
    for (uri, status, needle) in [
        (
            "/api/traces/00000000000000000000000000000bad",
            StatusCode::NOT_FOUND,
            "trace not found",
        ),
        ("/api/traces/xyz", StatusCode::BAD_REQUEST, "traceID"),
        (
            "/api/traces?service=gateway&minDuration=fast",
            StatusCode::BAD_REQUEST,
            "minDuration",
        ),
        (
            "/api/traces?service=gateway&minDuration=2s&maxDuration=1s",
            StatusCode::BAD_REQUEST,
            "maxDuration",
        ),
        (
            "/api/traces?service=gateway&start=abc",
            StatusCode::BAD_REQUEST,
            "start",
        ),
        (
            "/api/traces?service=gateway&start=10&end=5",
            StatusCode::BAD_REQUEST,
            "start",
        ),
        (
            "/api/traces?service=gateway&start=0&end=999999999999",
            StatusCode::BAD_REQUEST,
            "max_search_range",
        ),
        (
            "/api/traces?service=gateway&limit=100000",
            StatusCode::BAD_REQUEST,
            "limit",
        ),
        (
            "/api/traces?service=gateway&tag=nocolon",
            StatusCode::BAD_REQUEST,
            "tag",
        ),
        (
            "/api/traces?service=gateway&tags=%7Bbad",
            StatusCode::BAD_REQUEST,
            "tags",
        ),
        (
            "/api/traces?operation=x",
            StatusCode::BAD_REQUEST,
            "service",
        ),
        ("/api/operations", StatusCode::BAD_REQUEST, "service"),
        (
            "/api/operations?service=gateway&spanKind=sideways",
            StatusCode::BAD_REQUEST,
            "spanKind",
        ),
        (
            "/api/dependencies?endTs=soon",
            StatusCode::BAD_REQUEST,
            "endTs",
        ),
    ] {
        let (got, body) = get(&api, uri).await;
        assert_eq!(got, status, "{uri}: {body}");
        let msg = body["errors"][0]["msg"].as_str().unwrap_or_default();
        assert!(msg.contains(needle), "{uri}: {msg:?} should name {needle}");
        assert_eq!(body["errors"][0]["code"], status.as_u16());
        assert!(body["data"].is_null());
    }
}

#[tokio::test]
async fn jaeger_v3_answers_match_golden_files() {
    let api = shop();
    let start = "2026-01-01T00:00:00Z";
    let end = "2026-01-01T01:00:00.000000000Z";
    for (name, uri) in [
        ("v3_services", "/api/v3/services".to_string()),
        ("v3_operations", "/api/v3/operations?service=payment".into()),
        ("v3_trace", format!("/api/v3/traces/{}", trace_hex(3))),
        (
            "v3_trace_summaries",
            format!("/api/v3/trace-summaries?query.serviceName=gateway&query.startTimeMin={start}&query.startTimeMax={end}&query.searchDepth=2"),
        ),
    ] {
        let (status, body) = get(&api, &uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        golden(name, &body);
    }
    // Search, with the older snake_case aliases and attributes JSON.
    let (status, body) = get(
        &api,
        &format!("/api/v3/traces?query.service_name=payment&query.start_time_min={start}&query.start_time_max={end}&query.attributes=%7B%22payment.method%22%3A%22card%22%7D&query.duration_min=60ms&query.num_traces=20"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let spans: usize = body["result"]["resourceSpans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rs| rs["scopeSpans"][0]["spans"].as_array().unwrap().len())
        .sum();
    assert_eq!(spans, 50, "ten whole traces");

    for (uri, status, needle) in [
        ("/api/v3/traces/00000000000000000000000000000bad".to_string(), StatusCode::NOT_FOUND, "trace not found"),
        (format!("/api/v3/traces?query.serviceName=x&query.startTimeMax={end}"), StatusCode::BAD_REQUEST, "query.startTimeMin"),
        (format!("/api/v3/traces?query.serviceName=x&query.startTimeMin=yesterday&query.startTimeMax={end}"), StatusCode::BAD_REQUEST, "query.startTimeMin"),
        (format!("/api/v3/traces?query.serviceName=x&query.startTimeMin={end}&query.startTimeMax={start}"), StatusCode::BAD_REQUEST, "query.startTimeMin"),
        (format!("/api/v3/traces?query.serviceName=x&query.startTimeMin={start}&query.startTimeMax={end}&query.durationMin=1parsec"), StatusCode::BAD_REQUEST, "query.durationMin"),
    ] {
        let (got, body) = get(&api, &uri).await;
        assert_eq!(got, status, "{uri}: {body}");
        assert_eq!(body["error"]["httpCode"], status.as_u16());
        let msg = body["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(needle), "{uri}: {msg:?} should name {needle}");
    }
}

/// One trace (id 0x11...) of services `front` and `back`: a root (span 1), three children of
/// it with links of each kind, and span id 5 used twice (a Zipkin-style shared span: client
/// half in `front`, server half in `back`, both under the root) with a child in `back`.
fn links_and_shared_ids() -> Api {
    use lookout_proto::otlp::trace::v1::{span::Link, Span};
    use lookout_proto::requests::{string_kv, traces};
    let dir = tempfile::tempdir().unwrap();
    let store = crate::testing::store(dir.path());
    let trace = vec![0x11; 16];
    let ms = 1_000_000;
    let span = |id: u8, parent: Option<u8>, kind: i32, from: u64, to: u64| Span {
        trace_id: trace.clone(),
        span_id: vec![id; 8],
        parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
        name: format!("op-{id}"),
        kind,
        start_time_unix_nano: T0 + from * ms,
        end_time_unix_nano: T0 + to * ms,
        ..Default::default()
    };
    let link = |trace: &[u8], id: u8, attributes| Link {
        trace_id: trace.to_vec(),
        span_id: vec![id; 8],
        attributes,
        ..Default::default()
    };
    let child_of = || vec![string_kv("opentracing.ref_type", "child_of")];
    let mut c2 = span(2, Some(1), 1, 1, 2);
    c2.links = vec![link(&trace, 1, child_of())];
    let mut c3 = span(3, Some(1), 1, 2, 3);
    c3.links = vec![link(&trace, 1, vec![])];
    let mut c4 = span(4, Some(1), 1, 3, 4);
    c4.links = vec![
        link(&[0x99; 16], 9, child_of()),
        link(&[0x99; 16], 8, vec![string_kv("batch", "b-1")]),
    ];
    let front = traces(
        Some("front"),
        vec![
            span(1, None, 2, 0, 100),
            c2,
            c3,
            c4,
            span(5, Some(1), 3, 10, 50),
        ],
    );
    let back = traces(
        Some("back"),
        vec![span(5, Some(1), 2, 12, 48), span(6, Some(5), 1, 20, 30)],
    );
    // Sent twice, as an exporter retrying: nothing is stored twice.
    for request in [front.clone(), back.clone(), front, back] {
        store
            .write_spans(&convert_traces(request, &Limits::default()).batch)
            .unwrap();
    }
    Api {
        router: crate::router(crate::testing::state(store)),
        _dir: dir,
    }
}

#[tokio::test]
async fn links_are_references_of_their_ref_type_and_shared_span_ids_keep_both_spans() {
    let api = links_and_shared_ids();
    let id = "11".repeat(16);
    let (status, body) = get(&api, &format!("/api/traces/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let spans = body["data"][0]["spans"].as_array().unwrap();
    let refs = |span_id: &str| -> Vec<Vec<String>> {
        let span = spans
            .iter()
            .find(|s| s["spanID"] == span_id)
            .unwrap_or_else(|| panic!("span {span_id}"));
        span["references"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                ["refType", "traceID", "spanID"]
                    .iter()
                    .map(|k| r[*k].as_str().unwrap().to_string())
                    .collect()
            })
            .collect()
    };
    let r = |t: &str, trace: &str, span: &str| -> Vec<String> {
        vec![t.into(), trace.repeat(16), span.repeat(8)]
    };
    assert_eq!(refs(&"02".repeat(8)), [r("CHILD_OF", "11", "01")], "merged");
    assert_eq!(
        refs(&"03".repeat(8)),
        [r("FOLLOWS_FROM", "11", "01")],
        "the parent takes its link's type"
    );
    assert_eq!(
        refs(&"04".repeat(8)),
        [
            r("CHILD_OF", "11", "01"),
            r("CHILD_OF", "99", "09"),
            r("FOLLOWS_FROM", "99", "08")
        ]
    );
    // Both halves of span 5, each once.
    assert_eq!(spans.len(), 7, "{body}");
    let halves: Vec<_> = spans
        .iter()
        .filter(|s| s["spanID"] == "05".repeat(8))
        .map(|s| {
            body["data"][0]["processes"][s["processID"].as_str().unwrap()]["serviceName"].clone()
        })
        .collect();
    assert_eq!(halves, ["front", "back"]);

    // api_v3: the same in OTLP.
    let (status, body) = get(&api, &format!("/api/v3/traces/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let otlp: Vec<&serde_json::Value> = body["result"]["resourceSpans"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|rs| rs["scopeSpans"][0]["spans"].as_array().unwrap())
        .collect();
    assert_eq!(otlp.len(), 7);
    let links = |span_id: &str| -> Vec<(String, serde_json::Value)> {
        let span = otlp.iter().find(|s| s["spanId"] == span_id).unwrap();
        span["links"]
            .as_array()
            .map(|l| {
                l.iter()
                    .map(|l| {
                        let attrs: serde_json::Map<String, serde_json::Value> = l["attributes"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|kv| {
                                (
                                    kv["key"].as_str().unwrap().into(),
                                    kv["value"]["stringValue"].clone(),
                                )
                            })
                            .collect();
                        (l["spanId"].as_str().unwrap().to_string(), attrs.into())
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    assert!(links(&"02".repeat(8)).is_empty(), "said by the parent id");
    assert_eq!(
        links(&"03".repeat(8)),
        [(
            "01".repeat(8),
            serde_json::json!({"opentracing.ref_type": "follows_from"})
        )]
    );
    assert_eq!(
        links(&"04".repeat(8)),
        [
            (
                "09".repeat(8),
                serde_json::json!({"opentracing.ref_type": "child_of"})
            ),
            (
                "08".repeat(8),
                serde_json::json!({"batch": "b-1", "opentracing.ref_type": "follows_from"})
            ),
        ]
    );

    // Search finds the trace by the server half's service and kind.
    let window = format!("start={}&end={}", us(T0), us(T0 + 60 * MINUTE));
    let (_, body) = get(
        &api,
        &format!("/api/traces?service=back&tag=span.kind:server&{window}"),
    )
    .await;
    assert_eq!(body["data"][0]["traceID"], id, "{body}");

    // The tree: both halves under the root, the back child under the back half, a warning.
    let (status, tree) = get(&api, &format!("/lookout/v1/traces/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{tree}");
    let root = &tree["roots"][0];
    assert_eq!(tree["roots"].as_array().unwrap().len(), 1, "{tree}");
    let children: Vec<(String, String)> = root["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["spanId"].as_str().unwrap().into(),
                c["service"].as_str().unwrap().into(),
            )
        })
        .collect();
    let five = "05".repeat(8);
    assert_eq!(
        children,
        [
            ("02".repeat(8), "front".into()),
            ("03".repeat(8), "front".into()),
            ("04".repeat(8), "front".into()),
            (five.clone(), "front".into()),
            (five.clone(), "back".into()),
        ]
    );
    assert!(root["children"][3]["children"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(root["children"][4]["children"][0]["spanId"], "06".repeat(8));
    let warnings = tree["warnings"].as_array().unwrap();
    assert!(
        warnings.iter().any(|w| w
            .as_str()
            .unwrap()
            .contains(&format!("{five} (front op-5, back op-5)"))),
        "{warnings:?}"
    );
    assert_eq!(tree["spanCount"], 7);

    // The service map counts the call from front to back once.
    let window = "start=2026-01-01T00:00:00Z&end=2026-01-01T01:00:00Z";
    let (_, map) = get(&api, &format!("/lookout/v1/service-map?{window}")).await;
    assert_eq!(
        map["edges"],
        serde_json::json!([{"caller": "front", "callee": "back", "calls": 1, "errors": 0}]),
        "{map}"
    );
}

#[tokio::test]
async fn lookout_endpoints_match_golden_files() {
    let api = shop();
    let window = "start=2026-01-01T00:00:00Z&end=2026-01-01T01:00:00Z";
    for (name, uri) in [
        (
            "lookout_trace_tree",
            format!("/lookout/v1/traces/{}", trace_hex(3)),
        ),
        (
            "lookout_service_map",
            format!("/lookout/v1/service-map?{window}"),
        ),
        ("lookout_errors", format!("/lookout/v1/errors?{window}")),
        (
            "lookout_search",
            format!("/lookout/v1/traces?{window}&status=error&limit=5"),
        ),
    ] {
        let (status, body) = get(&api, &uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        golden(name, &body);
    }
    let ids = |body: &serde_json::Value| -> Vec<String> {
        body["traces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["traceId"].as_str().unwrap().to_string())
            .collect()
    };
    let failed = vec![trace_hex(7), trace_hex(3)];
    for query in [
        "service=payment&kind=server&status=error",
        "attr=exception.type=CardDeclined",
        "rootService=gateway&rootOperation=GET%20%2Fcheckout&status=error",
        "service=gateway&attributes=%7B%22http.response.status_code%22%3A500%7D",
    ] {
        let (status, body) = get(&api, &format!("/lookout/v1/traces?{window}&{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        assert_eq!(ids(&body), failed, "{query}");
    }
    let (_, body) = get(
        &api,
        &format!("/lookout/v1/traces?{window}&rootService=cart"),
    )
    .await;
    assert!(ids(&body).is_empty(), "cart is never the root");
    let (_, body) = get(
        &api,
        &format!("/lookout/v1/traces?{window}&rootService=gateway&limit=2"),
    )
    .await;
    assert_eq!(ids(&body), [trace_hex(9), trace_hex(8)]);
    let (_, body) = get(
        &api,
        &format!("/lookout/v1/errors?{window}&sort=recent&service=payment"),
    )
    .await;
    assert_eq!(body["groups"][0]["count"], 2);
    // Occurrences over time, and the failing span of each sample trace.
    let (_, body) = get(&api, &format!("/lookout/v1/errors?{window}&buckets=6")).await;
    for g in body["groups"].as_array().unwrap() {
        let buckets: Vec<u64> = serde_json::from_value(g["buckets"].clone()).unwrap();
        assert_eq!(buckets.len(), 6);
        assert_eq!(
            buckets.iter().sum::<u64>(),
            g["count"].as_u64().unwrap(),
            "{g}"
        );
        let spans = g["spanIds"].as_array().unwrap();
        assert_eq!(spans.len(), g["traceIds"].as_array().unwrap().len());
        assert!(spans.iter().all(|s| s.as_str().unwrap().len() == 16));
    }
    let (status, body) = get(&api, &format!("/lookout/v1/errors?{window}&buckets=0")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("buckets"));
    let (status, body) = get(&api, &format!("/lookout/v1/errors?{window}&sort=sideways")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("sort"));
    let (status, body) = get(&api, "/lookout/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        "/lookout/v1/traces",
        "/lookout/v1/traces/{trace_id}",
        "/lookout/v1/service-map",
        "/lookout/v1/errors",
    ] {
        assert!(body["paths"][path].is_object(), "openapi documents {path}");
    }
}

#[tokio::test]
async fn unknown_services_limits_and_timeouts_are_clear_errors() {
    let api = shop();
    for uri in [
        "/api/traces?service=gatewey",
        "/api/services/gatewey/operations",
        "/api/operations?service=gatewey",
    ] {
        let (status, body) = get(&api, uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        let msg = body["errors"][0]["msg"].as_str().unwrap();
        assert!(
            msg.contains("unknown service \"gatewey\"") && msg.contains("gateway"),
            "{msg}"
        );
    }
    let (status, body) = get(&api, "/lookout/v1/traces?since=1h&rootService=nope").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("rootService"));

    // A search past query.timeout is a 503; a trace past query.max_trace_spans is cut, with a
    // warning on the trace.
    let dir = tempfile::tempdir().unwrap();
    let store = crate::testing::store(dir.path());
    for request in shop_trace(1, T0, true) {
        store
            .write_spans(&convert_traces(request, &Limits::default()).batch)
            .unwrap();
    }
    let mut state = crate::testing::state(store);
    state.traces.config.timeout = std::time::Duration::from_nanos(1);
    state.traces.config.max_trace_spans = 2;
    let api = Api {
        router: crate::router(state),
        _dir: dir,
    };
    let window = format!("start={}&end={}", us(T0), us(T0 + MINUTE));
    let (status, body) = get(&api, &format!("/api/traces?service=gateway&{window}")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body["errors"][0]["msg"]
        .as_str()
        .unwrap()
        .contains("query.timeout"));
    let (status, body) = get(&api, &format!("/api/traces/{}", trace_hex(1))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"][0]["spans"].as_array().unwrap().len(), 2);
    let warning = body["data"][0]["warnings"][0].as_str().unwrap();
    assert!(warning.contains("query.max_trace_spans"), "{warning}");
    let (_, tree) = get(&api, &format!("/lookout/v1/traces/{}", trace_hex(1))).await;
    assert_eq!(tree["truncated"], true);
}

/// Shop traces plus logs: for seeds 3 and 7 (failed) an error record linked to the payment
/// span, and an info record per trace linked to the root span.
fn shop_with_logs() -> Api {
    use lookout_proto::convert::convert_logs;
    use lookout_proto::otlp::common::v1::{any_value::Value, AnyValue};
    use lookout_proto::otlp::logs::v1::LogRecord;
    use lookout_storage::LogWriter;
    let dir = tempfile::tempdir().unwrap();
    let store = crate::testing::store(dir.path());
    let mut records = Vec::new();
    for seed in 0..10u64 {
        for request in shop_trace(seed, T0 + seed * MINUTE, seed % 4 == 3) {
            store
                .write_spans(&convert_traces(request, &Limits::default()).batch)
                .unwrap();
        }
        let trace = hex_bytes(&trace_hex(seed));
        let span = |n: u8| {
            let mut id = [n; 8];
            id[..4].copy_from_slice(&(seed as u32).to_be_bytes());
            id.to_vec()
        };
        let body = |s: String| {
            Some(AnyValue {
                value: Some(Value::StringValue(s)),
            })
        };
        records.push(LogRecord {
            time_unix_nano: T0 + seed * MINUTE + 1_000_000,
            severity_number: 9,
            severity_text: "INFO".into(),
            body: body(format!("checkout started for order {seed}")),
            trace_id: trace.clone(),
            span_id: span(1),
            ..Default::default()
        });
        if seed % 4 == 3 {
            records.push(LogRecord {
                time_unix_nano: T0 + seed * MINUTE + 90_000_000,
                severity_number: 17,
                severity_text: "ERROR".into(),
                body: body(format!("card declined for order {seed}")),
                attributes: vec![lookout_proto::requests::string_kv("payment.method", "card")],
                trace_id: trace,
                span_id: span(5),
                ..Default::default()
            });
        }
    }
    records.push(LogRecord {
        time_unix_nano: T0 + 30 * MINUTE,
        severity_number: 13,
        severity_text: "WARN".into(),
        body: Some(AnyValue {
            value: Some(Value::StringValue(
                r#"{"status":503,"path":"/pay","upstream":{"host":"bank"}}"#.into(),
            )),
        }),
        ..Default::default()
    });
    let batch = convert_logs(
        lookout_proto::requests::logs(Some("payment"), records),
        &Limits::default(),
        T0,
    );
    store.write_logs(batch.batch).unwrap();
    Api {
        router: crate::router(crate::testing::state(store)),
        _dir: dir,
    }
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    const_hex::decode(hex).unwrap()
}

#[tokio::test]
async fn logs_search_pages_and_links_to_traces() {
    let api = shop_with_logs();
    let window = "start=2026-01-01T00:00:00Z&end=2026-01-01T01:00:00Z";
    let bodies = |body: &serde_json::Value| -> Vec<String> {
        body["logs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["body"].as_str().unwrap().to_string())
            .collect()
    };
    let (status, body) = get(
        &api,
        &format!("/lookout/v1/logs?{window}&query=%22card%20declined%22"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        bodies(&body),
        ["card declined for order 7", "card declined for order 3"]
    );
    golden("lookout_logs_search", &body);
    let (_, body) = get(
        &api,
        &format!("/lookout/v1/logs?{window}&min_severity=warn&order=oldest"),
    )
    .await;
    assert_eq!(
        bodies(&body),
        [
            "card declined for order 3",
            "card declined for order 7",
            r#"{"status":503,"path":"/pay","upstream":{"host":"bank"}}"#
        ]
    );
    let (_, body) = get(&api, &format!("/lookout/v1/logs?{window}&query=attributes.payment.method:card%20AND%20NOT%20%22order%207%22")).await;
    assert_eq!(bodies(&body), ["card declined for order 3"]);

    // Pages of 3 return every record once.
    let mut seen = Vec::new();
    let mut uri = format!("/lookout/v1/logs?{window}&limit=3");
    loop {
        let (_, body) = get(&api, &uri).await;
        seen.extend(bodies(&body));
        match body["nextCursor"].as_str() {
            Some(c) => uri = format!("/lookout/v1/logs?{window}&limit=3&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 13);
    let unique: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), 13);

    // The logs of a trace, and the count on each span of its tree.
    let (_, body) = get(&api, &format!("/lookout/v1/traces/{}/logs", trace_hex(3))).await;
    assert_eq!(
        bodies(&body),
        ["checkout started for order 3", "card declined for order 3"]
    );
    let (_, tree) = get(&api, &format!("/lookout/v1/traces/{}", trace_hex(3))).await;
    assert_eq!(tree["roots"][0]["logCount"], 1);
    assert_eq!(
        tree["roots"][0]["children"][1]["children"][0]["logCount"],
        1
    );
    assert_eq!(tree["roots"][0]["children"][0]["logCount"], 0);

    for (uri, needle) in [
        (format!("/lookout/v1/logs?{window}&query=body:("), "query"),
        (
            format!("/lookout/v1/logs?{window}&min_severity=loud"),
            "min_severity",
        ),
        (format!("/lookout/v1/logs?{window}&cursor=abc"), "cursor"),
        (format!("/lookout/v1/logs?{window}&order=sideways"), "order"),
        (format!("/lookout/v1/logs?{window}&limit=0"), "limit"),
    ] {
        let (status, body) = get(&api, &uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        assert!(
            body["error"].as_str().unwrap().contains(needle),
            "{uri}: {body}"
        );
    }
}

#[tokio::test]
async fn loki_api_answers_logql_as_loki_does() {
    let api = shop_with_logs();
    let (start, end) = (T0, T0 + 60 * MINUTE);
    let range = format!("start={start}&end={end}");
    let q = |logql: &str| -> String { form_urlencoded::byte_serialize(logql.as_bytes()).collect() };
    let lines = |body: &serde_json::Value| -> Vec<String> {
        let mut all: Vec<(String, String)> = body["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["values"].as_array().unwrap().iter())
            .map(|v| {
                (
                    v[0].as_str().unwrap().to_string(),
                    v[1].as_str().unwrap().to_string(),
                )
            })
            .collect();
        all.sort();
        all.into_iter().map(|(_, line)| line).collect()
    };

    let (status, body) = get(
        &api,
        &format!(
            "/loki/api/v1/query_range?query={}&{range}&limit=100&direction=backward",
            q(r#"{service_name="payment", level="error"}"#)
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    golden("loki_query_range_streams", &body);

    for (logql, expected) in [
        (
            r#"{service_name="payment"} |= "declined""#,
            vec!["card declined for order 3", "card declined for order 7"],
        ),
        (
            r#"{service_name="payment"} != "checkout" != "status""#,
            vec!["card declined for order 3", "card declined for order 7"],
        ),
        (
            r#"{service_name="payment"} |~ "order [37]$" != "card""#,
            vec![
                "checkout started for order 3",
                "checkout started for order 7",
            ],
        ),
        (
            r#"{service_name="payment"} | payment_method="card" |= "7""#,
            vec!["card declined for order 7"],
        ),
        (
            &format!(
                r#"{{service_name="payment"}} | trace_id="{}" "#,
                trace_hex(3)
            ),
            vec!["checkout started for order 3", "card declined for order 3"],
        ),
        (
            r#"{level=~"err.*|warn"} | json | status >= 500 | upstream_host="bank""#,
            vec![r#"{"status":503,"path":"/pay","upstream":{"host":"bank"}}"#],
        ),
        (
            r#"{service_name="payment", level!="info"} !~ `^\{`"#,
            vec!["card declined for order 3", "card declined for order 7"],
        ),
        (r#"{service_name="nope"}"#, vec![]),
    ] {
        let (status, body) = get(
            &api,
            &format!("/loki/api/v1/query_range?query={}&{range}", q(logql)),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{logql}: {body}");
        assert_eq!(lines(&body), expected, "{logql}");
    }

    // limit and direction: the oldest three, or the newest three.
    let (_, body) = get(
        &api,
        &format!(
            "/loki/api/v1/query_range?query={}&{range}&limit=3&direction=forward",
            q(r#"{service_name="payment", level="info"}"#)
        ),
    )
    .await;
    assert_eq!(
        lines(&body),
        [
            "checkout started for order 0",
            "checkout started for order 1",
            "checkout started for order 2"
        ]
    );
    let (_, body) = get(
        &api,
        &format!(
            "/loki/api/v1/query_range?query={}&{range}&limit=2",
            q(r#"{service_name="payment", level="info"}"#)
        ),
    )
    .await;
    assert_eq!(
        lines(&body),
        [
            "checkout started for order 8",
            "checkout started for order 9"
        ]
    );

    // Metric queries: a matrix per level over 10-minute steps, and an instant vector.
    let (status, body) = get(
        &api,
        &format!(
            "/loki/api/v1/query_range?query={}&{range}&step=600",
            q(r#"sum by (level) (count_over_time({service_name="payment"}[10m]))"#)
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    golden("loki_query_range_matrix", &body);
    // The same counts whether taken from the index (no pipeline) or from the records (an
    // empty line filter forces reading them), for each grouping and both functions.
    for (fast, slow) in [
        (
            r#"sum by (level) (count_over_time({service_name="payment"}[10m]))"#,
            r#"sum by (level) (count_over_time({service_name="payment"} |= "" [10m]))"#,
        ),
        (
            r#"sum(rate({service_name="payment", level="info"}[20m]))"#,
            r#"sum(rate({service_name="payment", level="info"} |= "" [20m]))"#,
        ),
        (
            r#"sum by (service_name) (count_over_time({level="error"}[30m]))"#,
            r#"sum by (service_name) (count_over_time({level="error"} |= "" [30m]))"#,
        ),
    ] {
        let answer = |logql: &'static str| {
            let api = &api;
            let range = &range;
            async move {
                get(
                    api,
                    &format!(
                        "/loki/api/v1/query_range?query={}&{range}&step=600",
                        q(logql)
                    ),
                )
                .await
                .1
            }
        };
        let (a, b) = (answer(fast).await, answer(slow).await);
        assert_eq!(a["data"]["result"], b["data"]["result"], "{fast}");
        assert!(
            !a["data"]["result"].as_array().unwrap().is_empty(),
            "{fast}"
        );
    }
    let (_, body) = get(
        &api,
        &format!(
            "/loki/api/v1/query?query={}&time={end}",
            q(r#"sum by (level) (count_over_time({service_name="payment"}[1h]))"#)
        ),
    )
    .await;
    assert_eq!(body["data"]["resultType"], "vector");
    let counts: Vec<(String, String)> = body["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["metric"]["level"].as_str().unwrap().to_string(),
                r["value"][1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [
            ("error".into(), "2".into()),
            ("info".into(), "10".into()),
            ("warn".into(), "1".into())
        ]
    );
    let (_, body) = get(
        &api,
        &format!(
            "/loki/api/v1/query?query={}&time={end}",
            q(r#"rate({level="error"}[1h])"#)
        ),
    )
    .await;
    assert_eq!(
        body["data"]["result"][0]["value"][1],
        format!("{}", 2.0 / 3600.0)
    );

    // Labels, values, series, stats.
    let (_, body) = get(&api, &format!("/loki/api/v1/labels?{range}")).await;
    assert_eq!(
        body,
        serde_json::json!({"status": "success", "data": ["level", "service_name"]})
    );
    let (_, body) = get(&api, &format!("/loki/api/v1/label/level/values?{range}")).await;
    assert_eq!(body["data"], serde_json::json!(["error", "info", "warn"]));
    let (_, body) = get(
        &api,
        &format!(
            "/loki/api/v1/series?{range}&match[]={}",
            q(r#"{level=~"error|warn"}"#)
        ),
    )
    .await;
    assert_eq!(
        body["data"],
        serde_json::json!([{"level": "error", "service_name": "payment"}, {"level": "warn", "service_name": "payment"}])
    );
    let (_, body) = get(
        &api,
        &format!(
            "/loki/api/v1/index/stats?{range}&query={}",
            q(r#"{service_name="payment"}"#)
        ),
    )
    .await;
    assert_eq!(body["streams"], 3);
    assert_eq!(body["entries"], 13);

    // Bad LogQL: a 400 naming the position and the problem.
    for (logql, needle) in [
        (r#"{service_name="payment""#, "col 24"),
        (r#"{service_name="payment"} |= 42"#, "expected a string"),
        (r#"topk(3, {a="b"})"#, "unsupported function"),
    ] {
        let (status, body) = get(
            &api,
            &format!("/loki/api/v1/query_range?query={}&{range}", q(logql)),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{logql}");
        assert_eq!(body["status"], "error");
        assert!(
            body["error"].as_str().unwrap().contains(needle),
            "{logql}: {body}"
        );
    }
    let (status, _) = get(
        &api,
        &format!(
            "/loki/api/v1/query_range?query={}&{range}&direction=up",
            q(r#"{a="b"}"#)
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn log_volume_and_fields() {
    let api = shop_with_logs();
    let window = "start=2026-01-01T00:00:00Z&end=2026-01-01T01:00:00Z";
    let (status, body) = get(
        &api,
        &format!("/lookout/v1/logs/volume?{window}&step=10m&by=severity"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    golden("lookout_logs_volume", &body);
    let counts: Vec<u64> = body["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, [12, 0, 0, 1, 0, 0]);
    assert_eq!(
        body["buckets"][0]["by"],
        serde_json::json!({"error": 2, "info": 10})
    );
    let (_, body) = get(
        &api,
        &format!("/lookout/v1/logs/volume?{window}&buckets=2&query=declined"),
    )
    .await;
    let counts: Vec<u64> = body["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, [2, 0]);
    let (status, _) = get(&api, &format!("/lookout/v1/logs/volume?{window}&step=1ms")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (_, body) = get(&api, &format!("/lookout/v1/logs/fields?{window}")).await;
    assert_eq!(
        body["fields"],
        serde_json::json!([{"key": "service.name", "count": 13}, {"key": "payment.method", "count": 2}])
    );
    let (_, body) = get(
        &api,
        &format!("/lookout/v1/logs/fields?{window}&key=payment.method"),
    )
    .await;
    assert_eq!(
        body["fields"],
        serde_json::json!([{"value": "card", "count": 2}])
    );
    assert_eq!(body["sampleIsAll"], true);
}
