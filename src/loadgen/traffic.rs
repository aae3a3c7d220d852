//! Realistic OTLP traffic: requests through a small shop of microservices.
//!
//! A request enters the `gateway` (a server span), which calls two to four backends (a client
//! span in the gateway, a server span in the backend, often a database client span below it).
//! About 3% of requests fail in one backend: its span gets an error status and an `exception`
//! event, and the error propagates up to a 500 at the gateway. Logs are the access and
//! application lines of those requests, with their trace and span ids. Metrics cover every
//! OTLP type over a configurable number of series.

use lookout_proto::otlp::collector::logs::v1::ExportLogsServiceRequest;
use lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use lookout_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use lookout_proto::otlp::common::v1::{any_value::Value, AnyValue, InstrumentationScope, KeyValue};
use lookout_proto::otlp::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use lookout_proto::otlp::metrics::v1::{
    exponential_histogram_data_point::Buckets, metric::Data, number_data_point,
    summary_data_point::ValueAtQuantile, AggregationTemporality, ExponentialHistogram,
    ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use lookout_proto::otlp::resource::v1::Resource;
use lookout_proto::otlp::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span, Status};

use super::template::{Markers, Rng};

/// The backends, each with the RPCs it serves and whether it talks to a database.
const BACKENDS: &[(&str, &[&str], Option<&str>)] = &[
    (
        "cart",
        &[
            "CartService/GetCart",
            "CartService/AddItem",
            "CartService/EmptyCart",
        ],
        Some("redis"),
    ),
    (
        "catalog",
        &[
            "CatalogService/ListProducts",
            "CatalogService/GetProduct",
            "CatalogService/Search",
        ],
        Some("postgresql"),
    ),
    (
        "checkout",
        &["CheckoutService/PlaceOrder"],
        Some("postgresql"),
    ),
    (
        "payment",
        &["PaymentService/Charge", "PaymentService/Refund"],
        None,
    ),
    (
        "shipping",
        &["ShippingService/GetQuote", "ShippingService/ShipOrder"],
        Some("postgresql"),
    ),
    (
        "currency",
        &[
            "CurrencyService/Convert",
            "CurrencyService/GetSupportedCurrencies",
        ],
        None,
    ),
    (
        "recommendation",
        &["RecommendationService/ListRecommendations"],
        Some("redis"),
    ),
    (
        "users",
        &["UserService/GetUser", "UserService/Authenticate"],
        Some("postgresql"),
    ),
];

const ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/product/{id}"),
    ("GET", "/cart"),
    ("POST", "/cart"),
    ("POST", "/cart/checkout"),
    ("GET", "/search"),
    ("GET", "/api/recommendations"),
    ("POST", "/api/login"),
    ("GET", "/api/currencies"),
    ("GET", "/api/shipping/quote"),
];

const EXCEPTIONS: &[(&str, &str)] = &[
    (
        "TimeoutError",
        "deadline exceeded after 2000ms calling downstream",
    ),
    ("ConnectionResetError", "connection reset by peer"),
    ("PaymentDeclined", "card declined: insufficient funds"),
    (
        "sqlx::Error::PoolTimedOut",
        "timed out waiting for a database connection",
    ),
    (
        "NullPointerException",
        "Cannot invoke \"Order.getId()\" because \"order\" is null",
    ),
];

/// The shape of the generated traffic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// As OpenTelemetry's HTTP, RPC and database instrumentations send it: 11 to 17 attributes
    /// per span (method, route, status, user id, peer address and port, thread, request id,
    /// cache hit, body sizes...), 5% failing requests with an `exception` event and a stack
    /// trace of a dozen frames, log records of 8 to 9 attributes and access lines of ~200 bytes.
    #[default]
    Realistic,
    /// Fewer attributes (4 to 8 per span, 1 to 2 per log record), 3% failing requests: the
    /// shape of the figures recorded before the realistic profile.
    Light,
}

pub(super) fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

pub(super) fn s(value: impl Into<String>) -> Value {
    Value::StringValue(value.into())
}

fn i(value: i64) -> Value {
    Value::IntValue(value)
}

pub(super) fn resource(service: &str, instance: u64) -> Option<Resource> {
    Some(Resource {
        attributes: vec![
            kv("service.name", s(service)),
            kv("service.namespace", s("shop")),
            kv("service.version", s("2.14.1")),
            kv("service.instance.id", s(format!("{service}-{instance}"))),
            kv("host.name", s(format!("node-{}", instance % 4))),
            kv(
                "k8s.pod.name",
                s(format!("{service}-7d9f8c-{instance:05x}")),
            ),
            kv("deployment.environment.name", s("production")),
            kv("telemetry.sdk.name", s("opentelemetry")),
            kv("telemetry.sdk.language", s("rust")),
            kv("telemetry.sdk.version", s("0.33.0")),
        ],
        ..Default::default()
    })
}

pub(super) fn scope() -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: "lookout-loadgen".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..Default::default()
    })
}

/// Spans (or logs) grouped by the service that produced them.
struct ByService<T> {
    groups: Vec<(String, Vec<T>)>,
}

impl<T> ByService<T> {
    fn new() -> Self {
        ByService { groups: Vec::new() }
    }

    fn push(&mut self, service: &str, item: T) {
        match self.groups.iter_mut().find(|(name, _)| name == service) {
            Some((_, items)) => items.push(item),
            None => self.groups.push((service.to_string(), vec![item])),
        }
    }
}

struct Request {
    spans: Vec<(&'static str, Span)>,
    logs: Vec<(&'static str, LogRecord)>,
}

/// A log line of a request, at `at` ns after the payload's base time.
struct Line<'a> {
    at: u64,
    severity: (i32, &'a str),
    body: String,
    trace_id: &'a [u8],
    span_id: &'a [u8],
    attributes: Vec<KeyValue>,
}

fn log(m: &mut Markers, rng: &mut Rng, line: Line<'_>) -> LogRecord {
    let Line {
        at,
        severity,
        body,
        trace_id,
        span_id,
        attributes,
    } = line;
    let time = m.time(rng, at);
    LogRecord {
        time_unix_nano: time,
        observed_time_unix_nano: time,
        severity_number: severity.0,
        severity_text: severity.1.into(),
        body: Some(AnyValue {
            value: Some(s(body)),
        }),
        attributes,
        trace_id: trace_id.to_vec(),
        span_id: span_id.to_vec(),
        flags: 1,
        ..Default::default()
    }
}

/// The attributes real instrumentations add to every span (and `Server` spans' body sizes).
fn enrich_span(rng: &mut Rng, span: &mut Span) {
    let server = span.kind == span::SpanKind::Server as i32;
    span.attributes.extend([
        kv("thread.id", i(rng.range(10, 64) as i64)),
        kv("thread.name", s("tokio-runtime-worker")),
        kv(
            "network.protocol.version",
            s(if server { "2" } else { "1.1" }),
        ),
        kv("network.peer.address", s(ip(rng))),
        kv("network.peer.port", i(rng.range(30_000, 61_000) as i64)),
        kv("app.request.id", s(request_id(rng))),
        kv("app.cache.hit", Value::BoolValue(rng.chance(0.7))),
    ]);
    if server {
        span.attributes.extend([
            kv("http.request.body.size", i(rng.range(0, 4_000) as i64)),
            kv("http.response.body.size", i(rng.range(200, 60_000) as i64)),
        ]);
    }
    for event in span.events.iter_mut().filter(|e| e.name == "exception") {
        if let Some(trace) = event
            .attributes
            .iter_mut()
            .find(|a| a.key == "exception.stacktrace")
            .and_then(|a| a.value.as_mut())
        {
            let mut text = match trace.value.take() {
                Some(Value::StringValue(text)) => text,
                _ => String::new(),
            };
            for frame in STACK {
                text.push_str("\n    at ");
                text.push_str(frame);
            }
            trace.value = Some(s(text));
        }
    }
}

/// Frames below the handler in a realistic stack trace.
const STACK: &[&str] = &[
    "tokio::runtime::task::core::Core<T,S>::poll (tokio-1.48.0/src/runtime/task/core.rs:331)",
    "tokio::runtime::task::harness::Harness<T,S>::poll_inner (tokio-1.48.0/src/runtime/task/harness.rs:205)",
    "tokio::runtime::scheduler::multi_thread::worker::Context::run_task (worker.rs:591)",
    "tokio::runtime::scheduler::multi_thread::worker::Context::run (worker.rs:526)",
    "tokio::runtime::context::scoped::Scoped<T>::set (scoped.rs:40)",
    "tokio::runtime::scheduler::multi_thread::worker::run (worker.rs:491)",
    "tokio::runtime::blocking::task::BlockingTask<T>::poll (task.rs:42)",
    "std::sys::pal::unix::thread::Thread::new::thread_start (thread.rs:105)",
    "start_thread (pthread_create.c:447)",
];

/// The attributes a logging bridge adds to every record.
fn enrich_log(rng: &mut Rng, record: &mut LogRecord) {
    let line = rng.range(30, 900) as i64;
    record.attributes.extend([
        kv("thread.id", i(rng.range(10, 64) as i64)),
        kv("thread.name", s("tokio-runtime-worker")),
        kv("logger.name", s("shop::handler")),
        kv("code.file.path", s("src/handler.rs")),
        kv("code.line.number", i(line)),
        kv("app.request.id", s(request_id(rng))),
    ]);
    if !record
        .attributes
        .iter()
        .any(|a| a.key == "code.function.name")
    {
        record
            .attributes
            .push(kv("code.function.name", s("handle")));
    }
}

fn ip(rng: &mut Rng) -> String {
    format!(
        "10.{}.{}.{}",
        rng.below(256),
        rng.below(256),
        rng.below(256)
    )
}

fn request_id(rng: &mut Rng) -> String {
    format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64())
}

/// One request through the shop, starting `start` ns after the payload's base time.
fn request(m: &mut Markers, rng: &mut Rng, start: u64, profile: Profile) -> Request {
    let trace_id = m.trace_id(rng);
    let (method, route) = *rng.pick(ROUTES);
    let user = rng.below(50_000);
    let fails = rng.chance(match profile {
        Profile::Realistic => 0.05,
        Profile::Light => 0.03,
    });
    let calls = rng.range(2, 4) as usize;
    let failing_call = rng.below(calls as u64) as usize;
    let root_id = m.span_id(rng);
    let mut spans = Vec::new();
    let mut logs = Vec::new();

    let mut at = start + rng.range(100_000, 500_000);
    for call in 0..calls {
        let (service, rpcs, db) = *rng.pick(BACKENDS);
        let rpc = *rng.pick(rpcs);
        let failed = fails && call == failing_call;
        let client_id = m.span_id(rng);
        let server_id = m.span_id(rng);
        let latency = rng.range(800_000, 40_000_000);
        let (rpc_service, rpc_method) = rpc.split_once('/').unwrap_or((rpc, rpc));
        let rpc_attrs = vec![
            kv("rpc.system", s("grpc")),
            kv("rpc.service", s(format!("shop.{rpc_service}"))),
            kv("rpc.method", s(rpc_method)),
            kv(
                "server.address",
                s(format!("{service}.shop.svc.cluster.local")),
            ),
            kv("server.port", i(50051)),
        ];
        let error = failed.then(|| {
            let (kind, message) = *rng.pick(EXCEPTIONS);
            (kind, message)
        });
        let status = |failed: bool, message: &str| {
            failed.then(|| Status {
                code: status::StatusCode::Error as i32,
                message: message.into(),
            })
        };
        spans.push((
            "gateway",
            Span {
                trace_id: trace_id.clone(),
                span_id: client_id.clone(),
                parent_span_id: root_id.clone(),
                name: format!("shop.{rpc}"),
                kind: span::SpanKind::Client as i32,
                start_time_unix_nano: m.time(rng, at),
                end_time_unix_nano: m.time(rng, at + latency + 400_000),
                attributes: rpc_attrs.clone(),
                status: status(failed, error.map_or("", |e| e.1)),
                ..Default::default()
            },
        ));
        let mut server = Span {
            trace_id: trace_id.clone(),
            span_id: server_id.clone(),
            parent_span_id: client_id,
            name: format!("shop.{rpc}"),
            kind: span::SpanKind::Server as i32,
            start_time_unix_nano: m.time(rng, at + 200_000),
            end_time_unix_nano: m.time(rng, at + 200_000 + latency),
            attributes: [
                rpc_attrs,
                vec![kv("rpc.grpc.status_code", i(if failed { 2 } else { 0 }))],
            ]
            .concat(),
            status: status(failed, error.map_or("", |e| e.1)),
            ..Default::default()
        };
        if let Some((kind, message)) = error {
            server.events.push(span::Event {
                time_unix_nano: m.time(rng, at + 200_000 + latency - 50_000),
                name: "exception".into(),
                attributes: vec![
                    kv("exception.type", s(kind)),
                    kv("exception.message", s(message)),
                    kv(
                        "exception.stacktrace",
                        s(format!(
                            "{kind}: {message}\n    at shop::{service}::handler::{rpc_method} (src/handler.rs:{})\n    at shop::server::dispatch (src/server.rs:212)\n    at tokio::runtime::task::harness::poll",
                            rng.range(40, 400)
                        )),
                    ),
                ],
                ..Default::default()
            });
            logs.push((
                service,
                log(
                    m,
                    rng,
                    Line {
                        at: at + 200_000 + latency - 40_000,
                        severity: (17, "ERROR"),
                        body: format!("{rpc_method} failed for user-{user}: {kind}: {message}"),
                        trace_id: &trace_id,
                        span_id: &server_id,
                        attributes: vec![
                            kv("exception.type", s(kind)),
                            kv("user.id", s(format!("user-{user}"))),
                        ],
                    },
                ),
            ));
        }
        if let Some(system) = db {
            let db_id = m.span_id(rng);
            let query = match system {
                "redis" => format!("HGETALL cart:user-{user}"),
                _ => "SELECT id, sku, quantity, price FROM order_items WHERE order_id = $1"
                    .to_string(),
            };
            let db_latency = rng.range(100_000, latency / 2);
            spans.push((
                service,
                Span {
                    trace_id: trace_id.clone(),
                    span_id: db_id,
                    parent_span_id: server_id.clone(),
                    name: if system == "redis" {
                        "HGETALL".into()
                    } else {
                        "SELECT order_items".into()
                    },
                    kind: span::SpanKind::Client as i32,
                    start_time_unix_nano: m.time(rng, at + 300_000),
                    end_time_unix_nano: m.time(rng, at + 300_000 + db_latency),
                    attributes: vec![
                        kv("db.system.name", s(system)),
                        kv("db.query.text", s(query)),
                        kv(
                            "db.operation.name",
                            s(if system == "redis" {
                                "HGETALL"
                            } else {
                                "SELECT"
                            }),
                        ),
                        kv(
                            "server.address",
                            s(format!("{system}.shop.svc.cluster.local")),
                        ),
                    ],
                    ..Default::default()
                },
            ));
        }
        if rng.chance(0.3) {
            let cached = rng.below(40);
            let line = Line {
                at: at + 250_000,
                severity: (5, "DEBUG"),
                body: format!("handling {rpc_method} for user-{user} ({cached} items in cache)"),
                trace_id: &trace_id,
                span_id: &server_id,
                attributes: vec![kv("code.function.name", s(rpc_method))],
            };
            logs.push((service, log(m, rng, line)));
        }
        spans.push((service, server));
        at += latency + rng.range(100_000, 2_000_000);
    }

    let status_code = if fails {
        500
    } else {
        *rng.pick(&[200, 200, 200, 200, 201, 304, 404])
    };
    let duration = at - start;
    spans.push((
        "gateway",
        Span {
            trace_id: trace_id.clone(),
            span_id: root_id.clone(),
            name: format!("{method} {route}"),
            kind: span::SpanKind::Server as i32,
            start_time_unix_nano: m.time(rng, start),
            end_time_unix_nano: m.time(rng, at),
            attributes: vec![
                kv("http.request.method", s(method)),
                kv("http.route", s(route)),
                kv("url.path", s(route.replace("{id}", &format!("{}", rng.below(5000))))),
                kv("url.scheme", s("https")),
                kv("http.response.status_code", i(status_code)),
                kv("client.address", s(format!("10.{}.{}.{}", rng.below(256), rng.below(256), rng.below(256)))),
                kv("user_agent.original", s("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36")),
                kv("user.id", s(format!("user-{user}"))),
            ],
            status: fails.then(|| Status {
                code: status::StatusCode::Error as i32,
                message: String::new(),
            }),
            ..Default::default()
        },
    ));
    let severity = match status_code {
        500 => (17, "ERROR"),
        404 => (13, "WARN"),
        _ => (9, "INFO"),
    };
    let body = match profile {
                    Profile::Light => format!(
                        "{method} {route} {status_code} {}ms user=user-{user}",
                        duration / 1_000_000
                    ),
                    // An access line as a reverse proxy or a web framework writes it.
                    Profile::Realistic => format!(
                        "{} - user-{user} \"{method} {route} HTTP/2.0\" {status_code} {} {}ms \"https://shop.example.com/\" \"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36\" upstream=gateway:8080",
                        ip(rng),
                        rng.range(200, 60_000),
                        duration / 1_000_000
                    ),
                };
    logs.push((
        "gateway",
        log(
            m,
            rng,
            Line {
                at,
                severity,
                body,
                trace_id: &trace_id,
                span_id: &root_id,
                attributes: vec![
                    kv("http.request.method", s(method)),
                    kv("http.response.status_code", i(status_code)),
                ],
            },
        ),
    ));
    if profile == Profile::Realistic {
        for (_, span) in &mut spans {
            enrich_span(rng, span);
        }
        for (_, record) in &mut logs {
            enrich_log(rng, record);
        }
    }
    Request { spans, logs }
}

/// Items of whole requests, grouped by service, until there are `items` (or, with `cut`, exactly
/// `items`), and how many there are.
fn generate<T>(
    m: &mut Markers,
    rng: &mut Rng,
    items: usize,
    cut: bool,
    profile: Profile,
    of: impl Fn(Request) -> Vec<(&'static str, T)>,
) -> (Vec<(String, Vec<T>)>, u64) {
    let mut by_service = ByService::new();
    let mut count = 0;
    let mut start = 0;
    while count < items {
        let produced = of(request(m, rng, start, profile));
        let take = if cut { items - count } else { produced.len() };
        for (service, item) in produced.into_iter().take(take) {
            by_service.push(service, item);
            count += 1;
        }
        start += rng.range(10_000, 2_000_000);
    }
    (by_service.groups, count as u64)
}

/// A trace export of `items` spans or a few more: traces are never cut.
pub fn traces(
    m: &mut Markers,
    rng: &mut Rng,
    items: usize,
    profile: Profile,
) -> (ExportTraceServiceRequest, u64) {
    let (groups, count) = generate(m, rng, items, false, profile, |r| r.spans);
    let resource_spans = groups
        .into_iter()
        .enumerate()
        .map(|(n, (service, spans))| ResourceSpans {
            resource: resource(&service, n as u64),
            scope_spans: vec![ScopeSpans {
                scope: scope(),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    (ExportTraceServiceRequest { resource_spans }, count)
}

/// A logs export of exactly `items` records.
pub fn logs(
    m: &mut Markers,
    rng: &mut Rng,
    items: usize,
    profile: Profile,
) -> (ExportLogsServiceRequest, u64) {
    let (groups, count) = generate(m, rng, items, true, profile, |r| r.logs);
    let resource_logs = groups
        .into_iter()
        .enumerate()
        .map(|(n, (service, log_records))| ResourceLogs {
            resource: resource(&service, n as u64),
            scope_logs: vec![ScopeLogs {
                scope: scope(),
                log_records,
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    (ExportLogsServiceRequest { resource_logs }, count)
}

/// A metrics export with one data point for each of `items` series, starting at series
/// `first` of `series` in all. Series cycle through every OTLP metric type. Returns the request,
/// its data points and their Prometheus samples (a histogram point is its buckets, sum and count).
pub fn metrics(
    m: &mut Markers,
    rng: &mut Rng,
    items: usize,
    first: u64,
    series: u64,
) -> (ExportMetricsServiceRequest, u64, u64) {
    let mut by_service: ByService<Metric> = ByService::new();
    let mut samples = 0;
    let temporality = AggregationTemporality::Cumulative as i32;
    for k in 0..items as u64 {
        let id = (first + k) % series;
        let (service, _, _) = BACKENDS[(id % BACKENDS.len() as u64) as usize];
        let route = ROUTES[((id / 8) % ROUTES.len() as u64) as usize].1;
        // With the service, the shard makes each id its own series.
        let shard = id / BACKENDS.len() as u64;
        let attributes = vec![
            kv("http.route", s(route)),
            kv("shard", s(format!("s{shard}"))),
        ];
        let start = m.time(rng, 0);
        let time = m.time(rng, 1_000_000);
        let data = match (id / 8 / ROUTES.len() as u64) % 6 {
            0 => Data::Sum(Sum {
                data_points: vec![NumberDataPoint {
                    attributes,
                    start_time_unix_nano: start,
                    time_unix_nano: time,
                    value: Some(number_data_point::Value::AsInt(rng.below(1_000_000) as i64)),
                    ..Default::default()
                }],
                aggregation_temporality: temporality,
                is_monotonic: true,
            }),
            1 => Data::Gauge(Gauge {
                data_points: vec![NumberDataPoint {
                    attributes,
                    time_unix_nano: time,
                    value: Some(number_data_point::Value::AsDouble(
                        rng.below(10_000) as f64 / 100.0,
                    )),
                    ..Default::default()
                }],
            }),
            2 => Data::Sum(Sum {
                data_points: vec![NumberDataPoint {
                    attributes,
                    start_time_unix_nano: start,
                    time_unix_nano: time,
                    value: Some(number_data_point::Value::AsInt(rng.below(64) as i64)),
                    ..Default::default()
                }],
                aggregation_temporality: temporality,
                is_monotonic: false,
            }),
            3 => {
                let counts: Vec<u64> = (0..8).map(|_| rng.below(500)).collect();
                Data::Histogram(Histogram {
                    data_points: vec![HistogramDataPoint {
                        attributes,
                        start_time_unix_nano: start,
                        time_unix_nano: time,
                        count: counts.iter().sum(),
                        sum: Some(rng.below(100_000) as f64 / 10.0),
                        bucket_counts: counts,
                        explicit_bounds: vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5],
                        ..Default::default()
                    }],
                    aggregation_temporality: temporality,
                })
            }
            4 => {
                let counts: Vec<u64> = (0..12).map(|_| rng.below(300)).collect();
                Data::ExponentialHistogram(ExponentialHistogram {
                    data_points: vec![ExponentialHistogramDataPoint {
                        attributes,
                        start_time_unix_nano: start,
                        time_unix_nano: time,
                        count: counts.iter().sum(),
                        sum: Some(rng.below(100_000) as f64 / 10.0),
                        scale: 3,
                        positive: Some(Buckets {
                            offset: -20,
                            bucket_counts: counts,
                        }),
                        ..Default::default()
                    }],
                    aggregation_temporality: temporality,
                })
            }
            _ => Data::Summary(Summary {
                data_points: vec![SummaryDataPoint {
                    attributes,
                    start_time_unix_nano: start,
                    time_unix_nano: time,
                    count: rng.below(10_000),
                    sum: rng.below(100_000) as f64,
                    quantile_values: [0.5, 0.9, 0.99]
                        .into_iter()
                        .map(|quantile| ValueAtQuantile {
                            quantile,
                            value: rng.below(2000) as f64 / 1000.0,
                        })
                        .collect(),
                    ..Default::default()
                }],
            }),
        };
        samples += match &data {
            Data::Histogram(h) => h
                .data_points
                .iter()
                .map(|p| p.bucket_counts.len() as u64 + 2)
                .sum(),
            Data::ExponentialHistogram(h) => h
                .data_points
                .iter()
                .map(|p| {
                    p.positive
                        .as_ref()
                        .map_or(0, |b| b.bucket_counts.len() as u64)
                        + 3
                })
                .sum(),
            Data::Summary(summary) => summary
                .data_points
                .iter()
                .map(|p| p.quantile_values.len() as u64 + 2)
                .sum(),
            _ => 1,
        };
        let (name, unit) = match &data {
            Data::Sum(sum) if sum.is_monotonic => ("http.server.request.count", "{request}"),
            Data::Gauge(_) => ("process.memory.utilization", "1"),
            Data::Sum(_) => ("db.client.connection.count", "{connection}"),
            Data::Histogram(_) => ("http.server.request.duration", "s"),
            Data::ExponentialHistogram(_) => ("rpc.server.duration", "ms"),
            _ => ("legacy.request.latency", "s"),
        };
        by_service.push(
            service,
            Metric {
                name: name.into(),
                unit: unit.into(),
                description: format!("{name} of the shop's services"),
                data: Some(data),
                ..Default::default()
            },
        );
    }
    let request = ExportMetricsServiceRequest {
        resource_metrics: by_service
            .groups
            .into_iter()
            // One resource per service, so a series is the same series in every payload.
            .map(|(service, metrics)| ResourceMetrics {
                resource: resource(&service, 0),
                scope_metrics: vec![ScopeMetrics {
                    scope: scope(),
                    metrics,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    };
    (request, items as u64, samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The realistic profile has the shape the ingest issue asks for; the light one stays light.
    #[test]
    fn realistic_spans_and_records_carry_what_instrumentations_send() {
        let mut rng = Rng::new(7);
        let (request, _) = traces(
            &mut Markers::default(),
            &mut rng,
            20_000,
            Profile::Realistic,
        );
        let spans: Vec<&Span> = request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .collect();
        let attributes: Vec<usize> = spans.iter().map(|s| s.attributes.len()).collect();
        assert!(
            attributes.iter().all(|n| (10..=20).contains(n)),
            "{attributes:?}"
        );
        let roots = spans.iter().filter(|s| s.parent_span_id.is_empty());
        let (failed, all) = roots.fold((0, 0), |(f, a), s| {
            (f + usize::from(s.status.is_some()), a + 1)
        });
        let rate = failed as f64 / all as f64;
        assert!(
            (0.03..0.07).contains(&rate),
            "{failed} of {all} requests failed"
        );
        let stack = spans
            .iter()
            .flat_map(|s| &s.events)
            .flat_map(|e| &e.attributes)
            .find(|a| a.key == "exception.stacktrace")
            .and_then(|a| a.value.as_ref()?.value.as_ref());
        let Some(Value::StringValue(stack)) = stack else {
            panic!("no exception event with a stack trace");
        };
        assert!(stack.lines().count() >= 10, "{stack}");
        let first = &request.resource_spans[0]
            .resource
            .as_ref()
            .unwrap()
            .attributes;
        assert!((5..=10).contains(&first.len()));

        let (request, _) = logs(&mut Markers::default(), &mut rng, 5_000, Profile::Realistic);
        let records: Vec<&LogRecord> = request
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
            .collect();
        assert!(records
            .iter()
            .all(|r| (6..=10).contains(&r.attributes.len())));

        let (request, _) = traces(&mut Markers::default(), &mut rng, 2_000, Profile::Light);
        let most = request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
            .map(|s| s.attributes.len())
            .max();
        assert!(most <= Some(8), "{most:?}");
    }
}
