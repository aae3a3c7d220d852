//! Export requests around items, for tests, benchmarks and tools that make their own data: one
//! resource and one instrumentation scope around the given spans or log records.

use crate::otlp::collector::logs::v1::ExportLogsServiceRequest;
use crate::otlp::collector::trace::v1::ExportTraceServiceRequest;
use crate::otlp::common::v1::{any_value::Value, AnyValue, KeyValue};
use crate::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use crate::otlp::resource::v1::Resource;
use crate::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span};

/// A string attribute.
pub fn string_kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

/// A resource with only `service.name`, or none.
pub fn service(name: Option<&str>) -> Option<Resource> {
    name.map(|name| Resource {
        attributes: vec![string_kv("service.name", name)],
        ..Default::default()
    })
}

/// A trace export of `spans` from the service `service` (no resource when `None`).
pub fn traces(service_name: Option<&str>, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: service(service_name),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// A logs export of `records` from the service `service` (no resource when `None`).
pub fn logs(service_name: Option<&str>, log_records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: service(service_name),
            scope_logs: vec![ScopeLogs {
                log_records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// An int attribute.
pub fn int_kv(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::IntValue(value)),
        }),
        ..Default::default()
    }
}

/// One trace of a small shop, as its three services export it (one request each): `gateway`
/// serves `GET /checkout` and calls `cart` (`POST /cart`) then `payment` (`POST /pay`). With
/// `fail`, payment fails with a `CardDeclined` exception and the gateway answers 500. Ids are
/// derived from `seed`; the trace lasts 100 ms from `start_unix_nano`.
pub fn shop_trace(seed: u64, start_unix_nano: u64, fail: bool) -> Vec<ExportTraceServiceRequest> {
    use crate::otlp::trace::v1::span::{Event, SpanKind};
    use crate::otlp::trace::v1::{status::StatusCode, Status};
    let mut trace_id = [0u8; 16];
    trace_id[..8].copy_from_slice(&0x5eed_u64.to_be_bytes());
    trace_id[8..].copy_from_slice(&seed.to_be_bytes());
    let span_id = |n: u8| {
        let mut id = [n; 8];
        id[..4].copy_from_slice(&(seed as u32).to_be_bytes());
        id.to_vec()
    };
    let ms = 1_000_000;
    let t = start_unix_nano;
    let error = |message: &str| Status {
        code: StatusCode::Error as i32,
        message: message.into(),
    };
    let span = |id: u8, parent: Option<u8>, name: &str, kind: SpanKind, from: u64, to: u64| Span {
        trace_id: trace_id.to_vec(),
        span_id: span_id(id),
        parent_span_id: parent.map(span_id).unwrap_or_default(),
        name: name.into(),
        kind: kind as i32,
        start_time_unix_nano: t + from * ms,
        end_time_unix_nano: t + to * ms,
        ..Default::default()
    };
    let mut root = span(1, None, "GET /checkout", SpanKind::Server, 0, 100);
    root.attributes = vec![
        string_kv("http.request.method", "GET"),
        string_kv("http.route", "/checkout"),
        int_kv("http.response.status_code", if fail { 500 } else { 200 }),
    ];
    let cart_call = span(2, Some(1), "POST /cart", SpanKind::Client, 5, 25);
    let pay_call = span(3, Some(1), "POST /pay", SpanKind::Client, 30, 95);
    let mut cart = span(4, Some(2), "POST /cart", SpanKind::Server, 7, 23);
    cart.attributes = vec![int_kv("cart.items", 3)];
    let mut pay = span(5, Some(3), "POST /pay", SpanKind::Server, 32, 93);
    pay.attributes = vec![string_kv("payment.method", "card")];
    if fail {
        root.status = Some(error("payment failed"));
        pay.status = Some(error("card declined"));
        pay.events = vec![Event {
            time_unix_nano: t + 90 * ms,
            name: "exception".into(),
            attributes: vec![
                string_kv("exception.type", "CardDeclined"),
                string_kv("exception.message", "card declined"),
            ],
            ..Default::default()
        }];
    }
    let request = |service: &str, spans: Vec<Span>| {
        let mut r = traces(Some(service), spans);
        if let Some(resource) = r.resource_spans[0].resource.as_mut() {
            resource.attributes.push(string_kv("host.name", "host-a"));
        }
        r.resource_spans[0].scope_spans[0].scope =
            Some(crate::otlp::common::v1::InstrumentationScope {
                name: "shop".into(),
                version: "1.0.0".into(),
                ..Default::default()
            });
        r
    };
    vec![
        request("gateway", vec![root, cart_call, pay_call]),
        request("cart", vec![cart]),
        request("payment", vec![pay]),
    ]
}
