//! Three services instrumented with the real OpenTelemetry SDK (gRPC exporter, W3C trace
//! context propagated between them as over HTTP): `gateway` serves `GET /checkout` and calls
//! `cart` and `payment`; payment fails on every fourth request. Everything is read back through
//! the HTTP API as Jaeger UI, Grafana and a user of Lookout's own API would.

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{
    Span as _, SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use serde_json::Value;

use crate::common::{client, start};

const REQUESTS: usize = 12;

fn provider(service: &str, endpoint: &str) -> SdkTracerProvider {
    let exporter = SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .expect("exporter builds");
    SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder_empty()
                .with_service_name(service.to_string())
                .with_attribute(KeyValue::new("deployment.environment", "e2e"))
                .build(),
        )
        .build()
}

/// Runs the shop on a blocking thread (the SDK's batch processors block); returns the trace
/// ids, each with whether that request failed.
fn run_shop(endpoint: String) -> Vec<(String, bool)> {
    let providers: Vec<_> = ["gateway", "cart", "payment"]
        .iter()
        .map(|s| provider(s, &endpoint))
        .collect();
    let (gateway, cart, payment) = (
        providers[0].tracer("shop"),
        providers[1].tracer("shop"),
        providers[2].tracer("shop"),
    );
    let propagator = TraceContextPropagator::new();
    // What a server does with the headers of a request it receives.
    let serve = |tracer: &opentelemetry_sdk::trace::SdkTracer,
                 headers: &HashMap<String, String>,
                 name: &str,
                 fail: bool| {
        let parent = propagator.extract(headers);
        let mut span = tracer
            .span_builder(name.to_string())
            .with_kind(SpanKind::Server)
            .start_with_context(tracer, &parent);
        std::thread::sleep(Duration::from_millis(2));
        if fail {
            span.add_event(
                "exception",
                vec![
                    KeyValue::new("exception.type", "CardDeclined"),
                    KeyValue::new("exception.message", "card declined"),
                ],
            );
            span.set_status(Status::error("card declined"));
        }
        span.end();
    };
    let mut sent = Vec::new();
    for i in 0..REQUESTS {
        let fail = i % 4 == 3;
        let root = gateway
            .span_builder("GET /checkout")
            .with_kind(SpanKind::Server)
            .with_attributes([
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("http.response.status_code", if fail { 500 } else { 200 }),
            ])
            .start(&gateway);
        let cx = Context::current_with_span(root);
        for (callee, name, tracer) in [
            ("cart", "POST /cart", &cart),
            ("payment", "POST /pay", &payment),
        ] {
            let call = gateway
                .span_builder(name)
                .with_kind(SpanKind::Client)
                .with_attributes([KeyValue::new("peer.service", callee)])
                .start_with_context(&gateway, &cx);
            let call_cx = cx.with_span(call);
            let mut headers = HashMap::new();
            propagator.inject_context(&call_cx, &mut headers);
            serve(tracer, &headers, name, fail && callee == "payment");
            call_cx.span().end();
        }
        if fail {
            cx.span().set_status(Status::error("payment failed"));
        }
        sent.push((cx.span().span_context().trace_id().to_string(), fail));
        cx.span().end();
    }
    for p in providers {
        p.force_flush().expect("spans flushed");
        p.shutdown().expect("provider shut down");
    }
    sent
}

async fn get(base: &str, path: &str) -> (u16, Value) {
    let response = client().get(format!("{base}{path}")).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Replaces what differs between runs (ids, times, durations, SDK version) with stable
/// placeholders, keeping the shape and every other value.
fn normalize(value: &mut Value, ids: &mut HashMap<String, String>, t0: u64) {
    match value {
        Value::Object(map) => {
            let is_sdk_version =
                map.get("key").and_then(Value::as_str) == Some("telemetry.sdk.version");
            for (k, v) in map.iter_mut() {
                match (k.as_str(), &v) {
                    ("traceID" | "spanID", Value::String(s)) => {
                        let n = ids.len();
                        *v = Value::String(
                            ids.entry(s.clone())
                                .or_insert_with(|| format!("<id {n}>"))
                                .clone(),
                        );
                    }
                    ("startTime" | "timestamp", Value::Number(n)) => {
                        let rel = n.as_u64().unwrap_or(0).saturating_sub(t0);
                        *v = Value::String(if rel < 60_000_000 {
                            "<recent>".into()
                        } else {
                            "<old>".into()
                        });
                    }
                    ("duration", Value::Number(_)) => *v = Value::String("<duration>".into()),
                    ("value", _) if is_sdk_version => *v = Value::String("<version>".into()),
                    _ => normalize(v, ids, t0),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| normalize(v, ids, t0)),
        _ => {}
    }
}

fn golden(name: &str, actual: &Value) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/golden");
    lookout_query_api::golden::check(&dir, name, actual);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_services_through_the_real_sdk() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |c| {
        // Only the flush at shutdown writes span metrics: counters are then exact totals.
        c.span_metrics.flush_interval = Duration::from_secs(3600);
    })
    .await;
    let endpoint = format!("http://{}", server.otlp_grpc_addr);
    let before_us = lookout_proto::now_unix_nano() / 1000 - 1_000_000;
    let sent = tokio::task::spawn_blocking(move || run_shop(endpoint))
        .await
        .unwrap();
    let failed: Vec<&str> = sent
        .iter()
        .rev()
        .filter(|(_, f)| *f)
        .map(|(id, _)| id.as_str())
        .collect();
    let base = format!("http://{}", server.http_addr);
    let now_us = lookout_proto::now_unix_nano() / 1000 + 1_000_000;

    // Grafana's connection test and service list; Jaeger UI's operation list.
    let (status, body) = get(&base, "/api/services").await;
    assert_eq!(status, 200);
    assert_eq!(
        body["data"],
        serde_json::json!(["cart", "gateway", "payment"])
    );
    let (_, body) = get(&base, "/api/services/gateway/operations").await;
    assert_eq!(
        body["data"],
        serde_json::json!(["GET /checkout", "POST /cart", "POST /pay"])
    );
    let (_, body) = get(&base, "/api/v3/operations?service=payment&spanKind=server").await;
    assert_eq!(
        body["operations"],
        serde_json::json!([{"name": "POST /pay", "spanKind": "server"}])
    );

    // Searches exactly as Jaeger UI and Grafana send them.
    let ids = |body: &Value| -> Vec<String> {
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["traceID"].as_str().unwrap().to_string())
            .collect()
    };
    for query in [
        // Jaeger UI: lookback=1h, empty duration fields, tags as logfmt → `tags` JSON.
        format!("end={now_us}&limit=20&lookback=1h&maxDuration&minDuration&service=payment&start={before_us}&tags=%7B%22error%22%3A%22true%22%7D"),
        // Grafana: lookback=custom with µs bounds.
        format!("service=gateway&operation=GET%20%2Fcheckout&tags=%7B%22http.response.status_code%22%3A%22500%22%7D&limit=20&start={before_us}&end={now_us}&lookback=custom"),
        format!("service=payment&tag=exception.type:CardDeclined&start={before_us}&end={now_us}"),
        "service=payment&tag=otel.status_code:ERROR&tag=deployment.environment:e2e".to_string(),
    ] {
        let (status, body) = get(&base, &format!("/api/traces?{query}")).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(ids(&body), failed, "{query}");
    }
    let (_, body) = get(&base, "/api/traces?service=cart&limit=5").await;
    assert_eq!(ids(&body).len(), 5, "limit is a number of traces");
    let (_, body) = get(&base, "/api/traces?service=gateway&minDuration=1h").await;
    assert!(ids(&body).is_empty());

    // The whole of one failed trace, in Jaeger's model.
    let (status, mut body) = get(&base, &format!("/api/traces/{}", failed[0])).await;
    assert_eq!(status, 200);
    let spans = body["data"][0]["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 5);
    normalize(&mut body, &mut HashMap::new(), before_us);
    golden("jaeger_trace_from_sdk", &body);
    let (status, body) = get(&base, "/api/traces/0af7651916cd43dd8448eb211c80319c").await;
    assert_eq!(status, 404);
    assert_eq!(body["errors"][0]["code"], 404);

    // The dependency graph and the service map.
    let (_, body) = get(&base, "/api/dependencies?lookback=3600000").await;
    assert_eq!(
        body["data"],
        serde_json::json!([
            {"parent": "gateway", "child": "cart", "callCount": REQUESTS},
            {"parent": "gateway", "child": "payment", "callCount": REQUESTS},
        ])
    );
    let (_, body) = get(&base, "/lookout/v1/service-map?since=1h").await;
    let edge = |to: &str| {
        body["edges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["callee"] == to)
            .cloned()
            .unwrap()
    };
    assert_eq!(edge("payment")["errors"], failed.len());
    assert_eq!(edge("cart")["errors"], 0);
    let node = |s: &str| {
        body["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["service"] == s)
            .cloned()
            .unwrap()
    };
    assert_eq!(node("gateway")["requests"], REQUESTS);
    assert_eq!(node("payment")["errors"], failed.len());
    assert!(
        node("payment")["p99Ms"].as_f64().unwrap() >= 2.0,
        "payment sleeps 2 ms"
    );

    // Error groups.
    let (_, body) = get(&base, "/lookout/v1/errors?since=1h").await;
    let groups = body["groups"].as_array().unwrap();
    let payment = groups.iter().find(|g| g["service"] == "payment").unwrap();
    assert_eq!(payment["exceptionType"], "CardDeclined");
    assert_eq!(payment["operation"], "POST /pay");
    assert_eq!(payment["count"], failed.len());
    assert_eq!(payment["traceIds"], serde_json::json!(failed));
    let gateway = groups.iter().find(|g| g["service"] == "gateway").unwrap();
    assert_eq!(gateway["message"], "payment failed");

    // The tree of a failed trace.
    let (_, tree) = get(&base, &format!("/lookout/v1/traces/{}", failed[0])).await;
    assert_eq!(tree["warnings"], serde_json::json!([]));
    let root = &tree["roots"][0];
    assert_eq!(
        (root["service"].as_str(), root["name"].as_str()),
        (Some("gateway"), Some("GET /checkout"))
    );
    assert_eq!(root["criticalPath"], true);
    let calls: Vec<_> = root["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["children"][0]["service"].as_str().unwrap().to_string(),
                c["children"][0]["depth"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        calls,
        [
            ("POST /cart".into(), "cart".into(), 2),
            ("POST /pay".into(), "payment".into(), 2)
        ]
    );
    assert_eq!(
        root["children"][1]["children"][0]["status"]["code"],
        "error"
    );
    assert_eq!(
        root["children"][1]["children"][0]["events"][0]["attributes"]["exception.type"],
        "CardDeclined"
    );

    // Lookout's own search: by root, status and kind; summaries name the services.
    let (_, body) = get(
        &base,
        "/lookout/v1/traces?since=1h&rootService=gateway&status=error&kind=server&limit=50",
    )
    .await;
    let found: Vec<&str> = body["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["traceId"].as_str().unwrap())
        .collect();
    assert_eq!(found, failed);
    assert_eq!(body["traces"][0]["errorCount"], 2);
    assert_eq!(body["traces"][0]["spanCount"], 5);

    // RED metrics: counters equal what was sent once the last flush is written at shutdown.
    let store = server.store().clone();
    server.shutdown().await.unwrap();
    // Asked in PromQL, under the spanmetrics connector's Prometheus names.
    let engine = lookout_query_api::promql::Engine::new(store.clone(), Default::default());
    let now_ms = (lookout_proto::now_unix_nano() / 1_000_000) as i64;
    let calls = |service: &str, span: &str, status: &str| -> i64 {
        let query = format!(
            r#"traces_span_metrics_calls_total{{service_name="{service}",span_name="{span}",span_kind="SPAN_KIND_SERVER",status_code="{status}"}}"#
        );
        match engine.instant(&query, now_ms).unwrap() {
            lookout_query_api::promql::Value::Vector(v) if v.len() == 1 => v[0].v as i64,
            lookout_query_api::promql::Value::Vector(v) if v.is_empty() => 0,
            other => panic!("{query}: {other:?}"),
        }
    };
    let errors = failed.len() as i64;
    assert_eq!(
        calls("payment", "POST /pay", "STATUS_CODE_UNSET"),
        REQUESTS as i64 - errors
    );
    assert_eq!(calls("payment", "POST /pay", "STATUS_CODE_ERROR"), errors);
    assert_eq!(
        calls("cart", "POST /cart", "STATUS_CODE_UNSET"),
        REQUESTS as i64
    );
    assert_eq!(
        calls("gateway", "GET /checkout", "STATUS_CODE_ERROR"),
        errors
    );
}

/// An OTLP/JSON export (as over OTLP/HTTP) of one trace: `orders` receives a request (span 1),
/// consumes a message in a span (2) whose links say `child_of` its parent and point at the
/// producer's span in another trace, and calls `stock` (span 3); `stock` reports its server
/// half of the call under the same span id, as Zipkin-instrumented services do, and does a
/// query (span 4) under it. The `orders` spans come from a scope with attributes.
fn shared_and_linked(trace: &str, producer: &str, now: u64) -> Value {
    let span = |id: &str, parent: &str, name: &str, kind: u8, from_ms: u64, to_ms: u64| {
        serde_json::json!({
            "traceId": trace, "spanId": id, "parentSpanId": parent, "name": name, "kind": kind,
            "startTimeUnixNano": (now + from_ms * 1_000_000).to_string(),
            "endTimeUnixNano": (now + to_ms * 1_000_000).to_string(),
        })
    };
    let kv = |k: &str, v: &str| serde_json::json!({"key": k, "value": {"stringValue": v}});
    let mut consume = span("0000000000000002", "0000000000000001", "consume", 5, 5, 20);
    consume["links"] = serde_json::json!([
        {"traceId": trace, "spanId": "0000000000000001",
         "attributes": [kv("opentracing.ref_type", "child_of")]},
        {"traceId": producer, "spanId": "00000000000000f1",
         "attributes": [kv("messaging.message.id", "m-42")]},
    ]);
    let resource = |service: &str| serde_json::json!({"attributes": [kv("service.name", service)]});
    serde_json::json!({"resourceSpans": [
        {"resource": resource("orders"), "scopeSpans": [{
            "scope": {"name": "orders-consumer", "version": "2.1",
                      "attributes": [kv("messaging.system", "kafka")]},
            "spans": [
                span("0000000000000001", "", "GET /orders", 2, 0, 100),
                consume,
                span("0000000000000003", "0000000000000001", "GET /stock", 3, 30, 80),
            ]}]},
        {"resource": resource("stock"), "scopeSpans": [{"spans": [
            span("0000000000000003", "0000000000000001", "GET /stock", 2, 32, 78),
            span("0000000000000004", "0000000000000003", "SELECT stock", 3, 40, 60),
        ]}]},
    ]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_scope_attributes_and_shared_span_ids_over_otlp_http() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), crate::common::no_span_metrics).await;
    let base = format!("http://{}", server.http_addr);
    let trace = "5b8efff798038103d269b633813fc60c";
    let producer = "0af7651916cd43dd8448eb211c80319c";
    let body = shared_and_linked(
        trace,
        producer,
        // A second ago: searches end at now, and must see spans that start up to 80 ms later.
        lookout_proto::now_unix_nano() - 1_000_000_000,
    )
    .to_string();
    // Sent twice, as an exporter retrying after a lost answer.
    for _ in 0..2 {
        let response =
            crate::common::post(&server, "/v1/traces", "application/json", body.clone(), &[]).await;
        assert_eq!(response.status(), 200);
    }

    // Jaeger's model: every span once, both halves of span 3, the links as references.
    let (status, body) = get(&base, &format!("/api/traces/{trace}")).await;
    assert_eq!(status, 200, "{body}");
    let jaeger = &body["data"][0];
    let spans = jaeger["spans"].as_array().unwrap();
    let service =
        |s: &Value| jaeger["processes"][s["processID"].as_str().unwrap()]["serviceName"].clone();
    let mut seen: Vec<(String, Value)> = spans
        .iter()
        .map(|s| (s["spanID"].as_str().unwrap().to_string(), service(s)))
        .collect();
    seen.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.to_string().cmp(&b.1.to_string())));
    assert_eq!(
        seen,
        [
            ("0000000000000001".to_string(), Value::from("orders")),
            ("0000000000000002".into(), "orders".into()),
            ("0000000000000003".into(), "orders".into()),
            ("0000000000000003".into(), "stock".into()),
            ("0000000000000004".into(), "stock".into()),
        ]
    );
    let consume = spans
        .iter()
        .find(|s| s["operationName"] == "consume")
        .unwrap();
    assert_eq!(
        consume["references"],
        serde_json::json!([
            {"refType": "CHILD_OF", "traceID": trace, "spanID": "0000000000000001"},
            {"refType": "FOLLOWS_FROM", "traceID": producer, "spanID": "00000000000000f1"},
        ])
    );

    // Found by a scope attribute and by a link attribute, as Jaeger's own store finds them.
    let found = |query: String| {
        let base = base.clone();
        async move {
            let (status, body) = get(&base, &format!("/api/traces?{query}&lookback=1h")).await;
            assert_eq!(status, 200, "{query}: {body}");
            body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["traceID"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        found("service=orders&tag=messaging.system:kafka".into()).await,
        [trace]
    );
    assert_eq!(
        found("service=orders&tags=%7B%22messaging.message.id%22%3A%22m-42%22%7D".into()).await,
        [trace]
    );
    assert!(found("service=orders&tag=messaging.message.id:m-43".into())
        .await
        .is_empty());
    assert_eq!(
        found("service=stock&tag=span.kind:server".into()).await,
        [trace]
    );

    // api_v3: the `child_of` link to the parent is the parent; the other link says its type.
    let (_, body) = get(&base, &format!("/api/v3/traces/{trace}")).await;
    let consume = body["result"]["resourceSpans"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|rs| rs["scopeSpans"][0]["spans"].as_array().unwrap())
        .find(|s| s["name"] == "consume")
        .cloned()
        .unwrap();
    assert_eq!(consume["parentSpanId"], "0000000000000001");
    let links = consume["links"].as_array().unwrap();
    assert_eq!(links.len(), 1, "{consume}");
    assert_eq!(links[0]["spanId"], "00000000000000f1");
    let mut keys: Vec<_> = links[0]["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|kv| {
            format!(
                "{}={}",
                kv["key"].as_str().unwrap(),
                kv["value"]["stringValue"].as_str().unwrap()
            )
        })
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "messaging.message.id=m-42",
            "opentracing.ref_type=follows_from"
        ]
    );

    // The tree: both halves under the root, the query under the stock half, a warning.
    let (_, tree) = get(&base, &format!("/lookout/v1/traces/{trace}")).await;
    assert_eq!(tree["spanCount"], 5);
    let root = &tree["roots"][0];
    let halves: Vec<_> = root["children"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["spanId"] == "0000000000000003")
        .map(|c| {
            (
                c["service"].clone(),
                c["children"].as_array().unwrap().len(),
            )
        })
        .collect();
    assert_eq!(
        halves,
        [(Value::from("orders"), 0), (Value::from("stock"), 1)]
    );
    let warnings = tree["warnings"].to_string();
    assert!(
        warnings.contains("0000000000000003 (orders GET /stock, stock GET /stock)"),
        "{warnings}"
    );
    server.shutdown().await.unwrap();
}
