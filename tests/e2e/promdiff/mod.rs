//! Differential test against a real Prometheus: the same generated data, loaded into Debian's
//! Prometheus (2.42) with `promtool tsdb create-blocks-from openmetrics` and into Lookout over
//! OTLP/HTTP, then about 1400 PromQL instant and range queries asked of both and compared series
//! by series, timestamp by timestamp (timestamps and raw values exactly, computed values within
//! a relative 1e-9).
//!
//! The data imitates real scrapes: five targets (two jobs) scraped every 15 s with a few hundred
//! milliseconds of jitter (irregular delta-of-deltas: a timestamp decoding bug of chunks showed
//! only with jitter), missed scrapes, outages shorter and longer than the lookback delta, a
//! target that starts late and one that stops early, series that start late, stop early or
//! pause, and counter resets from target restarts; gauges, counters (integer and float) and one
//! classic histogram. Lookout gets them as OTLP gauges, monotonic cumulative sums and
//! histograms; the OpenMetrics file carries the names and labels Lookout makes of them.
//!
//! Lookout follows Prometheus 3.x; the Prometheus here is 2.42. Their differences are kept out
//! of the comparison by construction, never by loosening it:
//! - Range windows and the lookback delta are closed `[t-r, t]` in 2.x and left-open
//!   `(t-r, t]` in 3.x (Prometheus's `docs/migration.md`, "Range selectors and lookback exclude
//!   samples coinciding with the left boundary"). Every sample time here is off whole seconds
//!   (`ms % 1000 != 0`) while query times, ranges, offsets and steps are whole seconds, so no
//!   raw sample ever sits on a window's edge. Subqueries produce points on multiples of their
//!   step, so for them every query time is ≡ 2 s (mod 15 s) and every range, offset and
//!   (sub)query step a multiple of 15 s: `t - range - offset` is then never a multiple of a
//!   subquery step, and no subquery point sits on an edge either (see [`at`]).
//! - `rate`/`increase` extrapolation towards a counter's zero point changed after 2.42
//!   (prometheus/prometheus#13725, March 2024): the data never has a window where the two rules
//!   differ, which the test checks before it starts (see [`extrapolation_ambiguity`]).
//! - `stddev`/`stdvar` of a lone NaN (NaN in 3.x): the data has no NaN, and no query feeds a
//!   value that can be NaN (a ratio of two rates) to `stddev`/`stdvar`.
//! - Summation order (Kahan summation in 3.x's `sum` (prometheus/prometheus#14074, 2.54), `avg`,
//!   `sum_over_time`, ...; plain or incremental-mean sums in 2.42): every raw value is a dyadic
//!   rational of small magnitude (integers, multiples of 1/8, 1/64, 1/256 or 1/1024), so sums
//!   of raw values are exact in any order and are compared exactly. Computed values (rates, averages, regressions) are compared
//!   within a relative 1e-9; the sums over them add non-negative terms, where a different
//!   summation order changes at most the last bits (n·ε ≈ 1e-13 for the few hundred terms here).
//! - `histogram_quantile`: 3.x takes neighbouring bucket counts within a relative 1e-12 as equal
//!   (`ensureMonotonicAndIgnoreSmallDeltas`, prometheus/prometheus#13153), 2.42 does not. Every
//!   bucket here gets observations in every scrape interval (see [`BUCKET_WEIGHTS`]), so
//!   neighbouring buckets' counts, increases and rates differ by far more than that.
//! - `le` label values: 3.x normalizes them on scrape (`le="1.0"`); Lookout names OTLP buckets
//!   as Prometheus's OTLP receiver does (`le="1"`), and the OpenMetrics file carries exactly
//!   those strings, which `promtool` stores as written.
//!
//! Run with `LOOKOUT_REQUIRE_PROMETHEUS=1` (as `scripts/test` does) to fail instead of skipping
//! when Prometheus is not installed.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lookout_proto::otlp::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use lookout_proto::otlp::common::v1::{any_value, AnyValue, KeyValue};
use lookout_proto::otlp::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use lookout_proto::otlp::resource::v1::Resource;
use lookout_proto::requests::string_kv;
use prost::Message;
use serde_json::Value;

use crate::common::{client, post, start};

mod compare;
mod data;
mod prometheus;
mod queries;

use compare::*;
use data::*;
use prometheus::*;
use queries::*;

const PROMETHEUS: &str = "/usr/bin/prometheus";
const PROMTOOL: &str = "/usr/bin/promtool";

const SEED: u64 = 0x5eed_0242_d1ff_0001;
/// The data starts here (2025-06-01T00:00:00Z) and lasts `HOURS`.
const T0: i64 = 1_748_736_000_000;
const HOURS: i64 = 3;
const MINUTE: i64 = 60_000;
const SCRAPE_MS: i64 = 15_000;
/// Scrape times wander this far (ms) either way from the target's schedule. Kept under 357 ms
/// so that consecutive intervals differ by less than 10% (see [`extrapolation_ambiguity`]).
const JITTER_MS: i64 = 300;
/// A counter's first samples after it starts or restarts: no scrape of its target is missed and
/// it does not pause before it has this many (see [`extrapolation_ambiguity`]).
const YOUNG_SAMPLES: u32 = 12;
/// The longest range of `rate`/`increase` in the queries (ms).
const LONGEST_RATE_RANGE: i64 = 15 * MINUTE;
/// Lookout gets the data in export requests of this many milliseconds of scrapes each.
const BATCH_MS: i64 = 5 * MINUTE;

/// Out-of-order delivery to Lookout: `OUT_OF_ORDER_PERCENT` of the data points (the same ones
/// whatever the seed's other draws) are held back from their batch and sent
/// `OUT_OF_ORDER_DELAY` batches later, after newer points of their series (at most 20 minutes
/// older than the series' newest, inside the default 30 minute
/// `storage.series.out_of_order_window`). Prometheus gets the data in order; every answer must
/// be the same.
const OUT_OF_ORDER: bool = true;
const OUT_OF_ORDER_PERCENT: u64 = 10;
const OUT_OF_ORDER_DELAY: usize = 3;

/// Computed values agree to this relative difference; raw values, timestamps and counts exactly.
const RELATIVE_TOLERANCE: f64 = 1e-9;

/// The classic histogram's bucket bounds and their `le` labels as Lookout writes them.
const BOUNDS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
const LE: [&str; 11] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf",
];

// The Prometheus names Lookout gives the OTLP metrics below (as Prometheus's OTLP receiver).
const REQUESTS: &str = "http_server_requests_total";
const CPU: &str = "app_cpu_time_seconds_total";
const QUEUE: &str = "queue_length";
const MEMORY: &str = "app_memory_usage_bytes";
const TEMPERATURE: &str = "room_temperature_celsius";
const HIT_RATIO: &str = "cache_hit_ratio";
const DURATION: &str = "http_server_request_duration_seconds";
const DURATION_BUCKET: &str = "http_server_request_duration_seconds_bucket";
const DURATION_SUM: &str = "http_server_request_duration_seconds_sum";
const DURATION_COUNT: &str = "http_server_request_duration_seconds_count";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promql_answers_equal_a_real_prometheus() {
    if !Path::new(PROMETHEUS).exists() || !Path::new(PROMTOOL).exists() {
        assert!(
            std::env::var_os("LOOKOUT_REQUIRE_PROMETHEUS").is_none(),
            "Prometheus is not installed (apt-get install prometheus)"
        );
        println!("skipped: Prometheus is not installed (apt-get install prometheus)");
        return;
    }
    let began = Instant::now();
    let data = generate();
    let all = data.series();
    let series: usize = all.values().map(BTreeMap::len).sum();
    let samples: usize = all.values().flat_map(BTreeMap::values).map(Vec::len).sum();
    // The data must not fall in the one case where 2.42 and 3.x extrapolate rates differently
    // (see `extrapolation_ambiguity`): for raw windows, and for `rate(...[5m:15s])`.
    for (family, series) in &all {
        let counter = |f: &&Family| f.prom == *family && f.kind != Kind::Gauge;
        if !data.families.iter().any(|f| counter(&f)) {
            continue;
        }
        for (labels, points) in series {
            let sub = if labels.starts_with(DURATION_COUNT) {
                extrapolation_ambiguity(&subquery_points(points, 15_000), 5 * MINUTE)
            } else {
                None
            };
            if let Some(what) = extrapolation_ambiguity(points, LONGEST_RATE_RANGE).or(sub) {
                panic!("generated data where Prometheus 2.42 and 3.x extrapolate differently: {labels}: {what}");
            }
        }
    }
    let openmetrics = data.openmetrics(&all);
    drop(all);
    let dir = tempfile::tempdir().unwrap();

    // Prometheus: blocks from the OpenMetrics file, while Lookout gets the same over OTLP.
    let prom_dir = dir.path().join("prometheus");
    std::fs::create_dir_all(&prom_dir).unwrap();
    let prometheus = tokio::spawn(async move { start_prometheus(&prom_dir, openmetrics).await });

    let config = |c: &mut lookout::Config| {
        // Only the data sent: no host or self metrics, RED metrics or alert rules.
        c.host_metrics.enabled = false;
        c.span_metrics.enabled = false;
        c.alerting.default_rules = false;
        // Checkpoints while loading: open chunks and late samples go to disk as they come.
        c.storage.series.checkpoint_interval = Duration::from_millis(500);
    };
    let lookout_dir = dir.path().join("lookout");
    let server = start(&lookout_dir, config).await;
    let http = client();
    let (requests, late_points) = data.batches();
    assert!(!OUT_OF_ORDER || late_points > 0, "no point was sent late");
    for (i, request) in requests.into_iter().enumerate() {
        let response = post(
            &server,
            "/v1/metrics",
            "application/x-protobuf",
            request.encode_to_vec(),
            &[],
        )
        .await;
        assert_eq!(response.status(), 200, "export {i}");
        let body = response.bytes().await.unwrap();
        let answer = ExportMetricsServiceResponse::decode(body).expect("an export response");
        if let Some(partial) = answer.partial_success {
            assert_eq!(
                partial.rejected_data_points, 0,
                "export {i}: Lookout rejected points: {}",
                partial.error_message
            );
        }
    }
    // Asked after a restart: what the shutdown checkpoint wrote (late samples as out-of-order
    // chunks, open chunks as snapshots) is read back from disk.
    server.shutdown().await.unwrap();
    let server = start(&lookout_dir, config).await;
    let loaded = began.elapsed();
    let prometheus = match prometheus.await {
        Ok(p) => p,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    };
    let version = Command::new(PROMETHEUS)
        .arg("--version")
        .output()
        .map(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned()
                + &String::from_utf8_lossy(&o.stderr);
            text.lines().next().unwrap_or_default().to_owned()
        })
        .unwrap_or_default();

    let lookout_url = format!("http://{}", server.http_addr);
    let cases = cases();
    let mut differences = Vec::new();
    let mut both_failed = Vec::new();
    let mut empty = Vec::new();
    let mut values = 0;
    let (mut instant_n, mut range_n) = (0, 0);
    for case in &cases {
        match case.when {
            When::Instant(_) => instant_n += 1,
            When::Range { .. } => range_n += 1,
        }
        let (ours, ours_text) = ask(&http, &lookout_url, case).await;
        let (theirs, theirs_text) = ask(&http, &prometheus.url, case).await;
        values += size(&theirs);
        if size(&ours) == 0 && size(&theirs) == 0 {
            empty.push(format!("{} ({})", case.query, case.when));
        }
        if let (Answer::Error(a), Answer::Error(b)) = (&ours, &theirs) {
            both_failed.push(format!(
                "{} ({}): Lookout {a}; Prometheus {b}",
                case.query, case.when
            ));
        }
        if let Some(what) = difference(case, &ours, &theirs) {
            differences.push(format!(
                "query: {}\n  at: {}\n{what}  Lookout answered: {}\n  Prometheus answered: {}\n",
                case.query,
                case.when,
                cut(&ours_text, 1500),
                cut(&theirs_text, 1500)
            ));
        }
    }
    println!(
        "promdiff: {series} series, {samples} samples ({late_points} sent to Lookout out of order), {} queries compared ({instant_n} instant, {range_n} range, {} empty), {values} values, with {version}: {} differ; loaded in {:.1} s, {:.1} s in all",
        cases.len(),
        empty.len(),
        differences.len(),
        loaded.as_secs_f64(),
        began.elapsed().as_secs_f64()
    );
    server.shutdown().await.unwrap();
    drop(prometheus);
    // Most queries must have something to compare (not both empty because nothing loaded).
    assert!(
        empty.len() * 10 < cases.len(),
        "{} of {} queries are empty in both, among them: {:?}",
        empty.len(),
        cases.len(),
        &empty[..empty.len().min(10)]
    );
    assert!(
        both_failed.is_empty(),
        "queries that both refused (a broken template):\n{}",
        both_failed.join("\n")
    );
    if !differences.is_empty() {
        let shown: Vec<&String> = differences.iter().take(25).collect();
        panic!(
            "{} of {} queries answer differently from Prometheus (first {} shown):\n\n{}",
            differences.len(),
            cases.len(),
            shown.len(),
            shown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
