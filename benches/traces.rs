//! Trace query benchmark: at least a million spans stored (written straight into a data
//! directory by the generator below), then a real release `lookout serve` on it, queried over
//! HTTP as Jaeger UI and Grafana do: trace by id, Jaeger searches (service + tag, 1 h window,
//! limit 20), the service map and dependency graph of 1 h, error groups.
//!
//!   cargo bench --bench traces                     # 1 000 000 spans
//!   LOOKOUT_BENCH_SPANS=200000 cargo bench --bench traces
//!
//! Prints the ingest cost of the generated load (with the trace index), bytes on disk per span,
//! and per query kind p50/p99/max latency, server CPU per query and the server's peak RSS.

use std::path::Path;
use std::time::{Duration, Instant};

use lookout::loadgen::Rng;
use lookout::process::ServerProcess;
use lookout::query_bench::{bench_dir, env_count, measure};
use lookout_proto::convert::{convert_traces, Limits};
use lookout_proto::otlp::common::v1::InstrumentationScope;
use lookout_proto::otlp::trace::v1::span::{Event, SpanKind};
use lookout_proto::otlp::trace::v1::status::StatusCode;
use lookout_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use lookout_proto::requests::{int_kv, service, string_kv};
use lookout_storage::{SpanWriter, StorageConfig, Store};

const SERVICES: [&str; 8] = [
    "frontend",
    "checkout",
    "cart",
    "payment",
    "shipping",
    "email",
    "currency",
    "recommendation",
];
const HOUR: u64 = 3_600_000_000_000;
const SPANS_PER_TRACE: usize = 5;

/// A frontend request calling two backends (client + server span each), 1 % failing in the
/// second backend with an exception; ids random, start times spread over `[from, to)`.
fn trace(rng: &mut Rng, from: u64, to: u64, out: &mut Vec<(usize, Span)>) -> [u8; 16] {
    let mut trace_id = [0u8; 16];
    trace_id[..8].copy_from_slice(&rng.next_u64().to_be_bytes());
    trace_id[8..].copy_from_slice(&rng.next_u64().to_be_bytes());
    let start = from + rng.below(to - from);
    let fail = rng.chance(0.01);
    let route = format!("/api/route-{}", rng.below(20));
    let mut id = || rng.next_u64().to_be_bytes().to_vec();
    let (root_id, ids): (Vec<u8>, Vec<Vec<u8>>) = (id(), (0..4).map(|_| id()).collect());
    let user = format!("user-{}", rng.below(100_000));
    let ms = 1_000_000;
    let span =
        |span_id: &[u8], parent: &[u8], name: &str, kind: SpanKind, from_ms: u64, to_ms: u64| {
            Span {
                trace_id: trace_id.to_vec(),
                span_id: span_id.to_vec(),
                parent_span_id: parent.to_vec(),
                name: name.into(),
                kind: kind as i32,
                start_time_unix_nano: start + from_ms * ms,
                end_time_unix_nano: start + to_ms * ms,
                ..Default::default()
            }
        };
    let mut root = span(
        &root_id,
        &[],
        &format!("GET {route}"),
        SpanKind::Server,
        0,
        120,
    );
    root.attributes = vec![
        string_kv("http.request.method", "GET"),
        string_kv("http.route", &route),
        int_kv("http.response.status_code", if fail { 500 } else { 200 }),
        string_kv("user.id", &user),
        string_kv("url.path", &format!("{route}/{}", rng.below(1000))),
    ];
    let a = 1 + rng.below(SERVICES.len() as u64 - 1) as usize;
    let b = 1 + rng.below(SERVICES.len() as u64 - 1) as usize;
    out.push((0, root));
    for (i, (svc, from_ms, to_ms)) in [(a, 5, 40), (b, 45, 110)].into_iter().enumerate() {
        let name = format!("{} /{}", if i == 0 { "GET" } else { "POST" }, SERVICES[svc]);
        let (client_id, server_id) = (&ids[2 * i], &ids[2 * i + 1]);
        let mut client = span(client_id, &root_id, &name, SpanKind::Client, from_ms, to_ms);
        client.attributes = vec![string_kv("peer.service", SERVICES[svc])];
        let mut server = span(
            server_id,
            client_id,
            &name,
            SpanKind::Server,
            from_ms + 1,
            to_ms - 1,
        );
        server.attributes = vec![
            string_kv("db.system", "postgresql"),
            int_kv("db.rows", rng.below(100) as i64),
        ];
        if fail && i == 1 {
            server.status = Some(Status {
                code: StatusCode::Error as i32,
                message: "upstream refused".into(),
            });
            server.events = vec![Event {
                time_unix_nano: start + (to_ms - 2) * ms,
                name: "exception".into(),
                attributes: vec![
                    string_kv("exception.type", "ConnectionRefused"),
                    string_kv("exception.message", "upstream refused"),
                ],
                ..Default::default()
            }];
        }
        out.push((0, client));
        out.push((svc, server));
    }
    trace_id
}

struct Generated {
    trace_ids: Vec<[u8; 16]>,
    seconds: f64,
    spans: usize,
}

/// Writes `spans` spans over the two hours before `end` into `dir`, as exporters would: one
/// request per service per batch of traces.
fn generate(dir: &Path, spans: usize, end: u64) -> anyhow::Result<Generated> {
    let store = Store::open(dir, &StorageConfig::default())?;
    let mut rng = Rng::new(42);
    let traces = spans / SPANS_PER_TRACE;
    let mut trace_ids = Vec::with_capacity(traces);
    let started = Instant::now();
    let mut buffer = Vec::new();
    let mut written = 0;
    while trace_ids.len() < traces {
        buffer.clear();
        for _ in 0..(200.min(traces - trace_ids.len())) {
            trace_ids.push(trace(&mut rng, end - 2 * HOUR, end, &mut buffer));
        }
        let mut request =
            lookout_proto::otlp::collector::trace::v1::ExportTraceServiceRequest::default();
        for (i, name) in SERVICES.iter().enumerate() {
            let mut resource = service(Some(name)).unwrap_or_default();
            resource.attributes.extend([
                string_kv("host.name", &format!("host-{}", i % 3)),
                string_kv("service.version", "1.4.2"),
                string_kv("telemetry.sdk.language", "rust"),
            ]);
            let spans: Vec<Span> = buffer
                .iter()
                .filter(|(s, _)| *s == i)
                .map(|(_, span)| span.clone())
                .collect();
            request.resource_spans.push(ResourceSpans {
                resource: Some(resource),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "shop".into(),
                        ..Default::default()
                    }),
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            });
        }
        let converted = convert_traces(request, &Limits::default());
        written += converted.batch.items.len();
        store.write_spans(&converted.batch)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    // What the server does in the background two minutes after each minute ends.
    let aggregating = Instant::now();
    let minutes = store.build_service_graph(3 * 60, None)?;
    println!(
        "service graph: {minutes} minutes aggregated in {:.2} s",
        aggregating.elapsed().as_secs_f64()
    );
    store.flush()?;
    store.compact_all()?;
    Ok(Generated {
        trace_ids,
        seconds,
        spans: written,
    })
}

fn main() -> anyhow::Result<()> {
    let spans = env_count("LOOKOUT_BENCH_SPANS", 1_000_000);
    let dir = bench_dir()?;
    // The data ends ten minutes ago, so the UI's default windows see it.
    let end = lookout_proto::now_unix_nano() - 600_000_000_000;
    println!(
        "generating {spans} spans over 2 h in {}",
        dir.path().display()
    );
    let generated = generate(dir.path(), spans, end)?;
    let disk = {
        let store = Store::open(dir.path(), &StorageConfig::default())?;
        store.disk_usage_bytes()
    };
    println!(
        "written: {} spans in {:.1} s = {:.0} spans/s (one thread, straight to storage, with the trace index); {:.1} bytes on disk per span after compaction",
        generated.spans,
        generated.seconds,
        generated.spans as f64 / generated.seconds,
        disk as f64 / generated.spans as f64
    );

    let binary = Path::new(env!("CARGO_BIN_EXE_lookout"));
    let server = ServerProcess::spawn(
        binary,
        dir.path(),
        &[
            ("LOOKOUT_HEALTH__MIN_FREE_DISK", "1MiB"),
            ("LOOKOUT_LOG__LEVEL", "warn,lookout=info"),
        ],
    )?;
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let us = |ns: u64| ns / 1000;
    let window = format!("start={}&end={}", us(end - HOUR), us(end));
    let ids = &generated.trace_ids;
    let count_traces =
        |v: &serde_json::Value| format!("{} traces", v["data"].as_array().map_or(0, Vec::len));
    let mut results = Vec::new();
    results.push(measure(
        &server,
        &client,
        "trace by id (Jaeger /api/traces/{id})",
        2000,
        |i| {
            format!(
                "/api/traces/{}",
                const_hex::encode(ids[(i * 7919) % ids.len()])
            )
        },
        |v| {
            format!(
                "{} spans",
                v["data"][0]["spans"].as_array().map_or(0, Vec::len)
            )
        },
    )?);
    results.push(measure(
        &server,
        &client,
        "trace tree (/lookout/v1/traces/{id})",
        1000,
        |i| {
            format!(
                "/lookout/v1/traces/{}",
                const_hex::encode(ids[(i * 104_729) % ids.len()])
            )
        },
        |v| format!("{} spans", v["spanCount"]),
    )?);
    results.push(measure(&server, &client, "search service + common tag, 1 h, limit 20", 200, |i| {
        format!("/api/traces?service=frontend&tags=%7B%22http.route%22%3A%22%2Fapi%2Froute-{}%22%7D&{window}&limit=20&lookback=custom", i % 20)
    }, count_traces)?);
    results.push(measure(
        &server,
        &client,
        "search service + rare tag (user.id), 1 h, limit 20",
        200,
        |i| {
            format!(
                "/api/traces?service=frontend&tag=user.id:user-{}&{window}&limit=20",
                (i * 37) % 100_000
            )
        },
        count_traces,
    )?);
    results.push(measure(
        &server,
        &client,
        "search errors (service + error=true), 1 h, limit 20",
        200,
        |_| {
            format!(
                "/api/traces?service=payment&tags=%7B%22error%22%3A%22true%22%7D&{window}&limit=20"
            )
        },
        count_traces,
    )?);
    results.push(measure(&server, &client, "search two tags + minDuration, 1 h, limit 20", 200, |i| {
        format!("/api/traces?service=frontend&tags=%7B%22http.route%22%3A%22%2Fapi%2Froute-{}%22%2C%22http.response.status_code%22%3A%22500%22%7D&minDuration=100ms&{window}&limit=20", i % 20)
    }, count_traces)?);
    results.push(measure(
        &server,
        &client,
        "service + operation, 1 h, limit 20",
        200,
        |i| {
            format!(
                "/api/traces?service=frontend&operation=GET%20%2Fapi%2Froute-{}&{window}&limit=20",
                i % 20
            )
        },
        count_traces,
    )?);
    results.push(measure(
        &server,
        &client,
        "service map, 1 h",
        10,
        |_| {
            format!(
                "/lookout/v1/service-map?start={}&end={}",
                (end - HOUR) as f64 / 1e9,
                end as f64 / 1e9
            )
        },
        |v| {
            format!(
                "{} nodes, {} edges",
                v["nodes"].as_array().map_or(0, Vec::len),
                v["edges"].as_array().map_or(0, Vec::len)
            )
        },
    )?);
    results.push(measure(
        &server,
        &client,
        "dependencies (Jaeger), 1 h",
        10,
        |_| {
            format!(
                "/api/dependencies?endTs={}&lookback=3600000",
                end / 1_000_000
            )
        },
        |v| format!("{} links", v["data"].as_array().map_or(0, Vec::len)),
    )?);
    results.push(measure(
        &server,
        &client,
        "error groups, 1 h",
        50,
        |_| {
            format!(
                "/lookout/v1/errors?start={}&end={}",
                (end - HOUR) as f64 / 1e9,
                end as f64 / 1e9
            )
        },
        |v| format!("{} groups", v["groups"].as_array().map_or(0, Vec::len)),
    )?);
    let peak_rss = server.peak_rss_bytes()? as f64 / (1 << 20) as f64;
    server.terminate()?;

    println!();
    println!("| query | n | p50 ms | p99 ms | max ms | server CPU ms/query | answer |");
    println!("|---|---:|---:|---:|---:|---:|---|");
    for r in &results {
        println!("{}", r.row());
    }
    println!(
        "\nserver peak RSS: {peak_rss:.0} MiB; {} spans stored, {:.1} B/span on disk",
        generated.spans,
        disk as f64 / generated.spans as f64
    );
    Ok(())
}
