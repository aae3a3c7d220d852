//! Metrics benchmark: a release `lookout serve` ingests regular scrapes over OTLP/HTTP
//! (protobuf): counters, gauges and histograms of many series at 15 s intervals for the last
//! 90 minutes. Printed: samples/s, server CPU per million samples, peak RSS and memory per
//! active series, bytes per sample on disk after compaction; then `query_range` over 1 000
//! series for 1 h at a 15 s step (`sum by (x) (rate(...[5m]))` and `histogram_quantile`),
//! p50/p99.
//!
//!   cargo bench --bench metrics                        # 20 000 series
//!   LOOKOUT_BENCH_SERIES=100000 cargo bench --bench metrics

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lookout::loadgen::Rng;
use lookout::process::ServerProcess;
use lookout::query_bench::{bench_dir, env_count, measure};
use lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use lookout_proto::otlp::common::v1::KeyValue;
use lookout_proto::otlp::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use lookout_proto::otlp::resource::v1::Resource;
use lookout_proto::requests::string_kv;
use prost::Message;

const STEP_S: u64 = 15;
/// Scrapes per series (`LOOKOUT_BENCH_SCRAPES`, default 360: 90 minutes at 15 s).
fn scrapes() -> u64 {
    env_count("LOOKOUT_BENCH_SCRAPES", 360) as u64
}
const BOUNDS: [f64; 8] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];
const WORKERS: usize = 4;

fn point(attributes: Vec<KeyValue>, start: u64, t: u64, v: f64) -> NumberDataPoint {
    NumberDataPoint {
        attributes,
        start_time_unix_nano: start,
        time_unix_nano: t,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    }
}

/// The state of one instance's series: counters and a histogram per `x`, filler gauges.
struct Instance {
    id: usize,
    counters: Vec<f64>,
    buckets: Vec<Vec<u64>>,
    sums: Vec<f64>,
    gauges: Vec<f64>,
}

/// One scrape of one instance at `t`: 10 counters, 10 histograms (11 buckets incl. +Inf, sum,
/// count: 13 samples each) and `gauges` gauges.
fn scrape(
    inst: &mut Instance,
    rng: &mut Rng,
    start: u64,
    t: u64,
) -> (ExportMetricsServiceRequest, u64) {
    let instance = format!("i{}", inst.id);
    let mut counters = Vec::new();
    let mut histograms = Vec::new();
    for x in 0..10 {
        inst.counters[x] += rng.below(20) as f64;
        counters.push(point(
            vec![string_kv("x", &format!("x{x}"))],
            start,
            t,
            inst.counters[x],
        ));
        if inst.id < 10 {
            for _ in 0..rng.below(40) {
                let b = (rng.below(1000) as usize * rng.below(1000) as usize) / 111_112;
                inst.buckets[x][b.min(BOUNDS.len())] += 1;
                inst.sums[x] += BOUNDS[b.min(BOUNDS.len() - 1)] * 0.7;
            }
            histograms.push(HistogramDataPoint {
                attributes: vec![string_kv("x", &format!("x{x}"))],
                start_time_unix_nano: start,
                time_unix_nano: t,
                count: inst.buckets[x].iter().sum(),
                sum: Some(inst.sums[x]),
                bucket_counts: inst.buckets[x].clone(),
                explicit_bounds: BOUNDS.to_vec(),
                ..Default::default()
            });
        }
    }
    let gauges: Vec<NumberDataPoint> = inst
        .gauges
        .iter_mut()
        .enumerate()
        .map(|(k, g)| {
            // A slow random walk in steps of 0.5, as memory or queue gauges move.
            *g = (*g + (rng.below(3) as f64 - 1.0) * 0.5).max(0.0);
            point(vec![string_kv("k", &format!("k{k}"))], start, t, *g)
        })
        .collect();
    let samples = (counters.len() + histograms.len() * (BOUNDS.len() + 3) + gauges.len()) as u64;
    let mut metrics = vec![
        Metric {
            name: "bench.requests".into(),
            unit: "{request}".into(),
            data: Some(Data::Sum(Sum {
                data_points: counters,
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: true,
            })),
            ..Default::default()
        },
        Metric {
            name: "bench.level".into(),
            data: Some(Data::Gauge(Gauge {
                data_points: gauges,
            })),
            ..Default::default()
        },
    ];
    if !histograms.is_empty() {
        metrics.push(Metric {
            name: "bench.latency".into(),
            unit: "s".into(),
            data: Some(Data::Histogram(Histogram {
                data_points: histograms,
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            })),
            ..Default::default()
        });
    }
    let request = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    string_kv("service.name", "bench"),
                    string_kv("service.instance.id", &instance),
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
    (request, samples)
}

fn main() -> anyhow::Result<()> {
    let series_wanted = env_count("LOOKOUT_BENCH_SERIES", 20_000);
    // 100 instances: 10 counters each (1 000 counter series), 10 of them with 10 histograms
    // (1 300 series), the rest of the series as gauges spread over the instances.
    let instances = 100usize;
    let gauges_per_instance = series_wanted
        .saturating_sub(2_300)
        .div_ceil(instances)
        .max(1);
    let series = instances * (10 + gauges_per_instance) + 10 * 10 * (BOUNDS.len() + 3);
    let dir = bench_dir()?;
    let server = ServerProcess::spawn(
        Path::new(env!("CARGO_BIN_EXE_lookout")),
        dir.path(),
        &[
            ("LOOKOUT_HEALTH__MIN_FREE_DISK", "1MiB"),
            ("LOOKOUT_LOG__LEVEL", "warn,lookout=info"),
            ("LOOKOUT_HOST_METRICS__ENABLED", "false"),
        ],
    )?;
    std::thread::sleep(Duration::from_millis(500));
    let rss_idle = current_rss(server.pid());

    // Pre-encode every request, per worker (a worker owns whole instances, so each series'
    // samples arrive in time order).
    let now_s = lookout_proto::now_unix_nano() / 1_000_000_000;
    let first_s = now_s - scrapes() * STEP_S;
    let start_ns = (first_s - 60) * 1_000_000_000;
    let mut rng = Rng::new(7);
    let mut state: Vec<Instance> = (0..instances)
        .map(|id| Instance {
            id,
            counters: vec![0.0; 10],
            buckets: vec![vec![0; BOUNDS.len() + 1]; 10],
            sums: vec![0.0; 10],
            gauges: (0..gauges_per_instance).map(|k| (k % 50) as f64).collect(),
        })
        .collect();
    let mut per_worker: Vec<Vec<Vec<u8>>> = vec![Vec::new(); WORKERS];
    let mut samples = 0u64;
    let mut bytes = 0u64;
    for s in 0..scrapes() {
        let t = (first_s + s * STEP_S) * 1_000_000_000;
        for inst in state.iter_mut() {
            let (request, n) = scrape(inst, &mut rng, start_ns, t);
            samples += n;
            let body = request.encode_to_vec();
            bytes += body.len() as u64;
            per_worker[inst.id % WORKERS].push(body);
        }
    }
    println!(
        "metrics bench: {series} series ({instances} instances), {} scrapes at {STEP_S}s, {samples} samples in {} requests ({:.1} MB protobuf)",
        scrapes(),
        per_worker.iter().map(Vec::len).sum::<usize>(),
        bytes as f64 / 1e6
    );

    let url = Arc::new(format!("http://{}/v1/metrics", server.otlp_http));
    let cpu_before = server.cpu_seconds()?;
    let started = Instant::now();
    let handles: Vec<_> = per_worker
        .into_iter()
        .map(|bodies| {
            let url = Arc::clone(&url);
            std::thread::spawn(move || -> anyhow::Result<Vec<f64>> {
                let client = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(60))
                    .build()?;
                let mut latencies = Vec::with_capacity(bodies.len());
                for body in bodies {
                    let t = Instant::now();
                    let response = client
                        .post(url.as_str())
                        .header("content-type", "application/x-protobuf")
                        .body(body)
                        .send()?;
                    let status = response.status();
                    let answer = response.bytes()?;
                    anyhow::ensure!(status.is_success(), "export answered {status}");
                    let decoded = lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceResponse::decode(answer)?;
                    if let Some(p) = decoded.partial_success {
                        anyhow::ensure!(p.rejected_data_points == 0, "rejected: {}", p.error_message);
                    }
                    latencies.push(t.elapsed().as_secs_f64() * 1e3);
                }
                Ok(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for h in handles {
        latencies.extend(h.join().map_err(|_| anyhow::anyhow!("worker panicked"))??);
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = server.cpu_seconds()? - cpu_before;
    latencies.sort_by(f64::total_cmp);
    let rss_loaded = current_rss(server.pid());
    let own: String = reqwest::blocking::get(format!("http://{}/metrics", server.http))?.text()?;
    let gauge = |name: &str| -> f64 {
        own.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or(f64::NAN)
    };
    let estimate = gauge("lookout_series_memory_bytes") / gauge("lookout_series_active");
    let peak = server.peak_rss_bytes()?;
    println!(
        "ingest: {:.0} samples/s, server CPU {:.2} s per million samples, request p50 {:.2} ms p99 {:.2} ms, peak RSS {:.0} MiB, memory per active series {:.0} B by RSS growth ({:.0} MiB, memtables included), {estimate:.0} B by the store's own count of index and head",
        samples as f64 / seconds,
        cpu / (samples as f64 / 1e6),
        lookout::query_bench::percentile(&latencies, 0.5),
        lookout::query_bench::percentile(&latencies, 0.99),
        peak as f64 / (1u64 << 20) as f64,
        (rss_loaded.saturating_sub(rss_idle)) as f64 / series as f64,
        (rss_loaded.saturating_sub(rss_idle)) as f64 / (1u64 << 20) as f64,
    );

    // Queries: 1 000 counter series and 1 100 histogram series, the last hour at 15 s.
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let end = now_s;
    let range = |q: &str| -> String {
        format!(
            "/api/v1/query_range?query={}&start={}&end={end}&step=15",
            form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>(),
            end - 3600
        )
    };
    let summarize = |v: &serde_json::Value| {
        let result = v["data"]["result"].as_array().map_or(0, Vec::len);
        let points = v["data"]["result"][0]["values"]
            .as_array()
            .map_or(0, Vec::len);
        format!("{result} series × {points} points")
    };
    let rows = [
        measure(
            &server,
            &client,
            "sum by (x) (rate(bench_requests_total[5m])), 1 000 series, 1h/15s",
            30,
            |_| range("sum by (x) (rate(bench_requests_total[5m]))"),
            summarize,
        )?,
        measure(
            &server,
            &client,
            "histogram_quantile(0.99, sum by (le, x) (rate(..._bucket[5m]))), 900 series, 1h/15s",
            30,
            |_| {
                range("histogram_quantile(0.99, sum by (le, x) (rate(bench_latency_seconds_bucket[5m])))")
            },
            summarize,
        )?,
        measure(
            &server,
            &client,
            "instant: sum(rate(bench_requests_total[5m]))",
            50,
            |_| {
                format!(
                    "/api/v1/query?query={}&time={end}",
                    form_urlencoded::byte_serialize(b"sum(rate(bench_requests_total[5m]))")
                        .collect::<String>()
                )
            },
            summarize,
        )?,
        measure(
            &server,
            &client,
            "label values of __name__",
            50,
            |_| "/api/v1/label/__name__/values".into(),
            |v| format!("{} names", v["data"].as_array().map_or(0, Vec::len)),
        )?,
    ];
    println!();
    println!("| query | n | p50 ms | p99 ms | max ms | server CPU ms | answer |");
    println!("|---|---:|---:|---:|---:|---:|---|");
    for r in &rows {
        println!("{}", r.row());
    }

    // Bytes on disk per sample, after a clean shutdown (checkpoint, flush) and a compaction.
    server.terminate()?;
    let store =
        lookout_storage::Store::open(dir.path(), &lookout_storage::StorageConfig::default())?;
    store.compact_all()?;
    store.flush()?;
    let stored = store.count_samples(|_| true)?;
    drop(store);
    let disk = lookout_storage::disk_usage_bytes(dir.path());
    println!();
    println!(
        "disk: {stored} samples stored, {:.1} MiB in the data directory, {:.2} bytes per sample",
        disk as f64 / (1u64 << 20) as f64,
        disk as f64 / stored.max(1) as f64
    );
    Ok(())
}

/// Current resident memory of `pid` (Linux `/proc`), 0 when unknown.
fn current_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}
