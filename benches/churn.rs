//! Churn soak: pods come and go for two hours of simulated time with a short metrics
//! retention, as under a rolling Kubernetes deployment. Each simulated minute a new generation
//! of pods replaces the last; each pod exports 20 series (5 gauges × 4 label combinations) every
//! 15 s through the OTLP path (`write_metric_points`), and retention runs every simulated
//! minute. Series whose newest sample is past retention are collected, so after the first
//! retention cycle the series in the index, the head and the process's RSS stay flat while the
//! distinct series written keep growing.
//!
//!   cargo bench --bench churn                              # 120 minutes × 1 000 pods
//!   LOOKOUT_BENCH_MINUTES=30 LOOKOUT_BENCH_PODS=200 cargo test --release --bench churn
//!
//! Printed every 10 simulated minutes: distinct series written so far, series in the index
//! and in the head, the index and head's estimated bytes, RSS, and data directory bytes.

use std::time::{Duration, Instant};

use lookout::query_bench::env_count;
use lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use lookout_proto::otlp::metrics::v1::{
    metric::Data, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use lookout_proto::otlp::resource::v1::Resource;
use lookout_proto::requests::string_kv;
use lookout_proto::{convert_metrics, Limits};
use lookout_storage::{MetricWriter, Retention, StorageConfig, Store};

const MINUTE_NS: u64 = 60_000_000_000;
const GAUGES: [&str; 5] = [
    "process_cpu_utilization",
    "process_memory_usage",
    "http_server_active_requests",
    "jvm_threads_count",
    "queue_depth",
];
const ROUTES: [&str; 4] = ["/", "/cart", "/checkout", "/search"];

fn rss_bytes() -> u64 {
    lookout::process::status_bytes(std::process::id(), "VmRSS:").unwrap_or(0)
}

fn dir_bytes(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_bytes(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

/// One scrape of every pod of `generation` at `t`.
fn scrape(generation: u64, pods: u64, t: u64) -> ExportMetricsServiceRequest {
    let resource_metrics = (0..pods)
        .map(|p| {
            let pod = format!("checkout-{generation:05}-{p:04}");
            let metrics = GAUGES
                .iter()
                .map(|name| Metric {
                    name: (*name).into(),
                    data: Some(Data::Gauge(Gauge {
                        data_points: ROUTES
                            .iter()
                            .enumerate()
                            .map(|(i, route)| NumberDataPoint {
                                attributes: vec![string_kv("http.route", route)],
                                time_unix_nano: t,
                                value: Some(number_data_point::Value::AsDouble(
                                    (t / 1_000_000_000 % 97) as f64 + i as f64,
                                )),
                                ..Default::default()
                            })
                            .collect(),
                    })),
                    ..Default::default()
                })
                .collect();
            ResourceMetrics {
                resource: Some(Resource {
                    attributes: vec![
                        string_kv("service.name", "checkout"),
                        string_kv("service.instance.id", &pod),
                        string_kv("k8s.pod.name", &pod),
                        string_kv("k8s.namespace.name", "shop"),
                        string_kv("host.name", &format!("node-{}", p % 7)),
                    ],
                    ..Default::default()
                }),
                scope_metrics: vec![ScopeMetrics {
                    metrics,
                    ..Default::default()
                }],
                ..Default::default()
            }
        })
        .collect();
    ExportMetricsServiceRequest { resource_metrics }
}

fn main() {
    let minutes = env_count("LOOKOUT_BENCH_MINUTES", 120) as u64;
    let pods = env_count("LOOKOUT_BENCH_PODS", 1000) as u64;
    let retention_minutes = 10;
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Store::open(dir.path(), &StorageConfig::default()).expect("store");
    let retention = Retention {
        metrics: Duration::from_secs(retention_minutes * 60),
        ..Retention::default()
    };
    let series_per_pod = (GAUGES.len() * ROUTES.len()) as u64;
    println!(
        "churn: {minutes} simulated minutes, a new generation of {pods} pods every minute ({} series each), retention {retention_minutes}m",
        series_per_pod
    );
    println!("| minute | distinct series written | in index | in head | index+head MiB | RSS MiB | disk MiB | wall s |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    let start = lookout_proto::now_unix_nano() / MINUTE_NS * MINUTE_NS;
    let began = Instant::now();
    let limits = Limits::default();
    let mut peak_after_first_cycle = (0usize, 0u64);
    for minute in 0..minutes {
        for scrape_in_minute in 0..4 {
            let t = start + minute * MINUTE_NS + scrape_in_minute * 15_000_000_000;
            let converted = convert_metrics(scrape(minute, pods, t), &limits);
            let rejected = store
                .write_metric_points(&converted.batch)
                .expect("written");
            assert_eq!(rejected.total(), 0, "nothing refused");
        }
        let now = start + (minute + 1) * MINUTE_NS;
        store.enforce_retention(&retention, now).expect("retention");
        store.checkpoint_series().expect("checkpoint");
        let in_index = store.series_count();
        let rss = rss_bytes();
        if minute > retention_minutes + 1 {
            peak_after_first_cycle.0 = peak_after_first_cycle.0.max(in_index);
            peak_after_first_cycle.1 = peak_after_first_cycle.1.max(rss);
        }
        if (minute + 1) % 10 == 0 || minute + 1 == minutes {
            println!(
                "| {} | {} | {} | {} | {:.1} | {:.0} | {:.0} | {:.0} |",
                minute + 1,
                (minute + 1) * pods * series_per_pod,
                in_index,
                store.active_series(),
                store.series_memory_bytes() as f64 / (1 << 20) as f64,
                rss as f64 / (1 << 20) as f64,
                dir_bytes(dir.path()) as f64 / (1 << 20) as f64,
                began.elapsed().as_secs_f64(),
            );
        }
    }
    let live_bound = (retention_minutes + 2) * pods * series_per_pod;
    println!(
        "after the first retention cycle: at most {} series in the index (bound {live_bound}: {} minutes of pods), peak RSS {:.0} MiB",
        peak_after_first_cycle.0,
        retention_minutes + 2,
        peak_after_first_cycle.1 as f64 / (1 << 20) as f64
    );
    assert!(
        peak_after_first_cycle.0 as u64 <= live_bound,
        "series are collected"
    );
}
