//! The end-to-end ingest benchmark: a real `lookout serve` process on a temporary data
//! directory, driven by the load generator, measured from outside, and checked afterwards:
//! everything acknowledged must be readable.
//!
//! `cargo bench --bench ingest` runs it with the release binary; the test suite runs its quick
//! mode with the debug binary as a smoke test (it checks that nothing is lost, never a speed).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{ensure, Context};
use lookout_proto::TraceId;
use lookout_storage::{Records, SpanReader, StorageConfig, Store};
use serde::Serialize;

use crate::loadgen::{self, Signal, Summary, Transport};
use crate::process::ServerProcess;

/// One benchmark run: which signals, how, for how long.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    pub signals: Vec<Signal>,
    pub transport: Transport,
    pub concurrency: usize,
    pub batch: usize,
    pub duration: Duration,
    /// Overload runs expect refusals and do not count them as loss.
    pub overload: bool,
    /// Concurrent query clients during the run (0: none).
    pub queriers: usize,
    /// Items per second the generator keeps to (0: as fast as the server answers). A paced
    /// run measures export latency at a stated load rather than the queueing of saturation.
    pub rate: u64,
}

impl Scenario {
    pub fn new(name: &str, signals: &[Signal], duration: Duration) -> Scenario {
        Scenario {
            name: name.to_string(),
            signals: signals.to_vec(),
            transport: Transport::Grpc,
            concurrency: 4,
            batch: 500,
            duration,
            overload: false,
            queriers: 0,
            rate: 0,
        }
    }
}

/// What a run measured.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub scenario: String,
    pub seconds: f64,
    pub accepted: u64,
    pub refused: u64,
    pub items_per_second: f64,
    /// Prometheus samples per second of the metrics in the run (0 without metrics).
    pub samples_per_second: f64,
    pub megabytes_per_second: f64,
    pub server_cpu_seconds_per_million: f64,
    pub server_peak_rss_mib: f64,
    /// The server's resident memory once a second through the load, in MiB: whether it
    /// levels off or keeps growing.
    pub rss_timeline_mib: Vec<u32>,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub disk_bytes_per_item: f64,
    /// Where those bytes are: each RocksDB column family's table files, then the rest (the
    /// log index, write-ahead log, manifests), in bytes per item, largest first.
    pub disk_by_part: Vec<(String, f64)>,
    /// Queries answered, refused as overloaded (503/429, retryable), and failed otherwise.
    pub queries_answered: u64,
    pub queries_refused: u64,
    pub queries_failed: u64,
    pub query_p99_ms: f64,
    /// The decode-only sink's items/s with the same traffic in the same run (0: not measured).
    pub sink_items_per_second: f64,
    /// Log records of the run over the seconds until all were searchable (the run and the log
    /// index's catch-up after it); 0 without logs.
    pub logs_searchable_per_second: f64,
    /// Seconds the log index needed after the load to have every record.
    pub index_catch_up_seconds: f64,
    /// "ok" (with notes on requests the client gave up on that were stored anyway), or what
    /// did not read back.
    pub read_back: String,
    pub load: Summary,
}

impl Report {
    /// The peak resident MiB of the first and of the second half of the run.
    pub fn rss_halves_mib(&self) -> (u32, u32) {
        let (first, second) = self
            .rss_timeline_mib
            .split_at(self.rss_timeline_mib.len() / 2);
        let peak = |half: &[u32]| half.iter().copied().max().unwrap_or(0);
        (peak(first), peak(second))
    }

    pub fn print(&self) {
        let (first, second) = self.rss_halves_mib();
        println!(
            "{:<14} rss peak by half {first} / {second} MiB, each second: {:?}",
            self.scenario, self.rss_timeline_mib
        );
        println!(
            "{:<14} {:>9.0} items/s {:>9.0} samples/s {:>7.1} MB/s  cpu {:>6.2} s/M items  peak rss {:>6.1} MiB  p50 {:>7.2} ms  p99 {:>7.2} ms  disk {:>6.1} B/item  refused {}  queries {}/{} refused, p99 {:.0} ms  logs searchable {:.0}/s (index caught up {:.1} s after)  read-back {}",
            self.scenario,
            self.items_per_second,
            self.samples_per_second,
            self.megabytes_per_second,
            self.server_cpu_seconds_per_million,
            self.server_peak_rss_mib,
            self.latency_p50_ms,
            self.latency_p99_ms,
            self.disk_bytes_per_item,
            self.refused,
            self.queries_answered,
            self.queries_refused,
            self.query_p99_ms,
            self.logs_searchable_per_second,
            self.index_catch_up_seconds,
            self.read_back,
        );
        let parts: Vec<String> = self
            .disk_by_part
            .iter()
            .map(|(part, bytes)| format!("{part} {bytes:.1}"))
            .collect();
        println!(
            "{:<14} disk by part, B/item after compaction: {}",
            self.scenario,
            parts.join(", ")
        );
    }
}

/// Runs `scenario`'s traffic against the decode-only sink (`lookout sink`, gRPC) and returns
/// its items/s: the yardstick for the same scenario against Lookout.
pub async fn run_sink(binary: &Path, scenario: &Scenario) -> anyhow::Result<f64> {
    let sink = ServerProcess::spawn_sink(binary)?;
    let options = loadgen::Options {
        endpoint: Some(format!("http://{}", sink.otlp_grpc)),
        protocol: Transport::Grpc,
        signals: scenario.signals.clone(),
        duration: scenario.duration,
        concurrency: scenario.concurrency,
        batch: scenario.batch,
        progress: loadgen::Progress::Never,
        ..loadgen::Options::default()
    };
    let load = loadgen::run(options).await?;
    drop(sink);
    ensure!(
        load.lost() == 0,
        "the sink refused items: {:?}",
        load.signals
    );
    Ok(load.signals.iter().map(|s| s.accepted).sum::<u64>() as f64 / load.seconds)
}

/// Runs `scenario` against a fresh server started from `binary`.
pub async fn run(binary: &Path, scenario: &Scenario) -> anyhow::Result<Report> {
    let base = std::env::var_os("LOOKOUT_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
    let temp = tempfile::Builder::new()
        .prefix("lookout-bench-")
        .tempdir_in(&base)
        .with_context(|| format!("creating a data directory in {}", base.display()))?;
    let dir = temp.path().to_path_buf();
    let server = ServerProcess::spawn(
        binary,
        &dir,
        &[
            ("LOOKOUT_HEALTH__MIN_FREE_DISK", "1MiB"),
            ("LOOKOUT_LOG__LEVEL", "warn,lookout=info"),
        ],
    )?;
    let endpoint = match scenario.transport {
        Transport::Grpc => format!("http://{}", server.otlp_grpc),
        _ => format!("http://{}", server.otlp_http),
    };
    let options = loadgen::Options {
        endpoint: Some(endpoint),
        protocol: scenario.transport,
        signals: scenario.signals.clone(),
        duration: scenario.duration,
        concurrency: scenario.concurrency,
        batch: scenario.batch,
        progress: loadgen::Progress::Never,
        allow_loss: scenario.overload,
        rate: scenario.rate,
        ..loadgen::Options::default()
    };
    let cpu_before = server.cpu_seconds()?;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let queriers: Vec<_> = (0..scenario.queriers)
        .map(|i| tokio::spawn(query_load(server.http.clone(), i, done.clone())))
        .collect();
    let sampler = tokio::spawn(sample_rss(server.pid(), done.clone()));
    let load = loadgen::run(options).await?;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let rss_timeline_mib = sampler.await?;
    let mut queries = QueryTally::default();
    for q in queriers {
        queries.add(q.await??);
    }
    let accepted_of = |signal: Signal| -> u64 {
        load.signals
            .iter()
            .filter(|s| s.signal == Some(signal))
            .map(|s| s.accepted)
            .sum()
    };
    let (log_records, spans) = (accepted_of(Signal::Logs), accepted_of(Signal::Traces));
    // Logs are searchable once the log index has them: how long after the load it needs.
    let index_catch_up = if log_records > 0 && !scenario.overload {
        wait_until_zero(&server.http, &["lookout_log_index_pending_records"]).await?
    } else {
        0.0
    };
    // The trace index's queue is short (its entries are written within the load), but what
    // is left of it is part of the run's cost too.
    if spans > 0 {
        wait_until_zero(&server.http, &["lookout_trace_index_queued_spans"]).await?;
    }
    // And the compactions of what the run wrote (they run at a lower priority, so part of
    // them may come after the load): part of its cost too. Both at once: a flush still
    // running may leave work for a compaction.
    let background = [
        "lookout_storage_compaction_pending_bytes",
        "lookout_storage_background_jobs_running",
    ];
    wait_until_zero(&server.http, &background).await?;
    // After the catch-up: the indexing of the run's records is part of its cost.
    let cpu = server.cpu_seconds()? - cpu_before;
    let peak_rss = server.peak_rss_bytes()?;
    let status = server.terminate()?;
    ensure!(status.success(), "lookout exited with {status}");

    let accepted: u64 = load.signals.iter().map(|s| s.accepted).sum();
    let refused: u64 = load.signals.iter().map(|s| s.failed).sum();
    let rejected: u64 = load.signals.iter().map(|s| s.rejected).sum();
    ensure!(
        rejected == 0,
        "{rejected} generated items were rejected as invalid"
    );
    if !scenario.overload {
        ensure!(
            refused == 0,
            "{refused} items were refused: {:?}",
            load.signals.iter().map(|s| &s.failures).collect::<Vec<_>>()
        );
    }
    ensure!(
        queries.failed == 0,
        "{} queries failed other than as retryable: {:?}",
        queries.failed,
        queries.errors
    );
    for s in &load.signals {
        ensure!(
            s.sent == s.accepted + s.rejected + s.failed,
            "loadgen accounting is off: {s:?}"
        );
    }

    let (read_back, disk, tables) = tokio::task::spawn_blocking({
        let dir = dir.clone();
        let load = load.clone();
        move || check_and_measure(&dir, &load)
    })
    .await??;
    // A store that did not read back as it should is kept for a look.
    let read_back = if read_back.starts_with("ok") {
        drop(temp);
        read_back
    } else {
        format!("{read_back} (data kept in {})", temp.keep().display())
    };
    let seconds = load.seconds;
    Ok(Report {
        scenario: scenario.name.clone(),
        seconds,
        accepted,
        refused,
        items_per_second: accepted as f64 / seconds,
        samples_per_second: load
            .signals
            .iter()
            .filter(|s| s.signal == Some(Signal::Metrics))
            .map(|s| s.samples_per_second)
            .fold(0.0, |a, b| a + b),
        megabytes_per_second: load.signals.iter().map(|s| s.bytes).sum::<u64>() as f64
            / 1e6
            / seconds,
        server_cpu_seconds_per_million: cpu / (accepted.max(1) as f64 / 1e6),
        server_peak_rss_mib: peak_rss as f64 / (1 << 20) as f64,
        rss_timeline_mib,
        latency_p50_ms: load
            .signals
            .iter()
            .map(|s| s.latency_p50_ms)
            .fold(0.0, f64::max),
        latency_p99_ms: load
            .signals
            .iter()
            .map(|s| s.latency_p99_ms)
            .fold(0.0, f64::max),
        disk_bytes_per_item: disk as f64 / accepted.max(1) as f64,
        disk_by_part: disk_by_part(disk, &tables, accepted),
        queries_answered: queries.answered,
        queries_refused: queries.refused,
        queries_failed: queries.failed,
        query_p99_ms: queries.p99_ms(),
        sink_items_per_second: 0.0,
        logs_searchable_per_second: if log_records > 0 && !scenario.overload {
            log_records as f64 / (seconds + index_catch_up)
        } else {
            0.0
        },
        index_catch_up_seconds: index_catch_up,
        read_back,
        load,
    })
}

/// Seconds until the server's gauges `metrics` (queues not yet indexed, work not yet done)
/// are all 0 in one scrape (at most 10 minutes).
async fn wait_until_zero(http: &str, metrics: &[&str]) -> anyhow::Result<f64> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let started = std::time::Instant::now();
    loop {
        let text = client
            .get(format!("http://{http}/metrics"))
            .send()
            .await?
            .text()
            .await?;
        let mut left = Vec::new();
        for metric in metrics {
            let value = text
                .lines()
                .find_map(|l| l.strip_prefix(metric)?.strip_prefix(' '))
                .and_then(|v| v.trim().parse::<f64>().ok())
                .with_context(|| format!("no {metric} in /metrics"))?;
            if value != 0.0 {
                left.push(format!("{metric} {value}"));
            }
        }
        if left.is_empty() {
            return Ok(started.elapsed().as_secs_f64());
        }
        ensure!(
            started.elapsed() < Duration::from_secs(600),
            "still not zero after 10 minutes: {}",
            left.join(", ")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The process's resident MiB once a second until `done`.
async fn sample_rss(pid: u32, done: std::sync::Arc<std::sync::atomic::AtomicBool>) -> Vec<u32> {
    let mut timeline = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    while !done.load(std::sync::atomic::Ordering::Relaxed) {
        tick.tick().await;
        if let Ok(bytes) = crate::process::status_bytes(pid, "VmRSS:") {
            timeline.push((bytes >> 20) as u32);
        }
    }
    timeline
}

#[derive(Default)]
struct QueryTally {
    answered: u64,
    refused: u64,
    failed: u64,
    errors: Vec<String>,
    millis: Vec<f64>,
}

impl QueryTally {
    fn add(&mut self, other: QueryTally) {
        self.answered += other.answered;
        self.refused += other.refused;
        self.failed += other.failed;
        self.errors.extend(other.errors.into_iter().take(5));
        self.millis.extend(other.millis);
    }

    fn p99_ms(&mut self) -> f64 {
        self.millis.sort_by(f64::total_cmp);
        self.millis
            .get(self.millis.len() * 99 / 100)
            .copied()
            .unwrap_or(0.0)
    }
}

/// What dashboards and people ask while the load runs: PromQL over the RED metrics and the
/// loadgen's series, trace and log searches, the service map; one after another until `done`.
async fn query_load(
    http: String,
    offset: usize,
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> anyhow::Result<QueryTally> {
    let client = reqwest::Client::builder()
        // Longer than the server's own deadlines (PromQL's 2 minutes), so that a slow query
        // ends with the server's answer (a 503 `timeout`), not with the client giving up.
        .timeout(Duration::from_secs(150))
        .build()?;
    let enc = |q: &str| form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>();
    let paths = [
        format!(
            "/api/v1/query_range?query={}&start={{start}}&end={{end}}&step=15",
            enc("sum by (service_name) (rate(traces_span_metrics_calls_total[1m]))")
        ),
        format!("/api/v1/query?query={}", enc("count({__name__=~\".+\"})")),
        "/api/traces?service=checkout&limit=20&lookback=1h".to_string(),
        format!(
            "/loki/api/v1/query_range?query={}&limit=100&since=10m",
            enc("{service_name=\"checkout\"} |= \"error\"")
        ),
        "/api/dependencies?lookback=3600000".to_string(),
        format!(
            "/loki/api/v1/query_range?query={}&since=10m&step=15",
            enc("sum by (service_name) (count_over_time({service_name=~\".+\"}[1m]))")
        ),
    ];
    let mut tally = QueryTally::default();
    // As a person would: search a service once it is listed.
    while !done.load(std::sync::atomic::Ordering::Relaxed) {
        let services = client
            .get(format!("http://{http}/api/services"))
            .send()
            .await?
            .text()
            .await?;
        if services.contains("\"checkout\"") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut i = offset;
    while !done.load(std::sync::atomic::Ordering::Relaxed) {
        let end = lookout_proto::now_unix_nano() / 1_000_000_000;
        let path = paths[i % paths.len()]
            .replace("{start}", &(end - 600).to_string())
            .replace("{end}", &end.to_string());
        i += 1;
        let started = std::time::Instant::now();
        match client.get(format!("http://{http}{path}")).send().await {
            Ok(r) if r.status().is_success() => {
                r.bytes().await?;
                tally.answered += 1;
                tally.millis.push(started.elapsed().as_secs_f64() * 1e3);
            }
            Ok(r) if r.status() == 503 || r.status() == 429 => {
                tally.refused += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok(r) => {
                tally.failed += 1;
                let status = r.status();
                if tally.errors.len() < 5 {
                    let text = r.text().await.unwrap_or_default();
                    tally.errors.push(format!("{path}: {status} {text}"));
                }
            }
            Err(e) => {
                tally.failed += 1;
                if tally.errors.len() < 5 {
                    tally.errors.push(format!("{path}: {e}"));
                }
            }
        }
    }
    Ok(tally)
}

/// Each RocksDB column family's table bytes ([`Store::table_bytes`]).
type TableBytes = Vec<(&'static str, u64)>;

/// Each column family's bytes per item, and the rest of `disk`, largest first, without zeros.
fn disk_by_part(disk: u64, tables: &[(&'static str, u64)], items: u64) -> Vec<(String, f64)> {
    let in_tables: u64 = tables.iter().map(|(_, b)| b).sum();
    let mut parts: Vec<(String, f64)> = tables
        .iter()
        .map(|(cf, b)| (cf.to_string(), *b))
        .chain([(
            "log index and other files".to_string(),
            disk.saturating_sub(in_tables),
        )])
        .filter(|(_, b)| *b > 0)
        .map(|(part, b)| (part, b as f64 / items.max(1) as f64))
        .collect();
    parts.sort_by(|a, b| b.1.total_cmp(&a.1));
    parts
}

/// Opens the stopped server's store, checks that every acknowledged item is there, compacts,
/// and returns the check's verdict, the bytes on disk and each column family's table bytes.
fn check_and_measure(dir: &Path, load: &Summary) -> anyhow::Result<(String, u64, TableBytes)> {
    let store =
        Store::open(dir, &StorageConfig::default()).context("opening the benchmark's store")?;
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    for s in &load.signals {
        let (kind, label) = match s.signal {
            Some(Signal::Traces) => (Records::Spans, "spans"),
            Some(Signal::Logs) => (Records::Logs, "logs"),
            Some(Signal::Metrics) => (Records::MetricPoints, "samples"),
            None => continue,
        };
        let stored = match kind {
            // Lookout's own series (RED metrics derived from the spans, service activity and
            // status, host and self metrics with job="lookout"), `target_info` (one per
            // resource per request, the same sample again) and the state of alerts the
            // shipped rules raise on the load (`ALERTS`, `ALERTS_FOR_STATE`) are stored too:
            // not counted.
            Records::MetricPoints => store.count_samples(|l| {
                !l.name().starts_with("traces_span_metrics_")
                    && !l.name().starts_with("lookout_service_")
                    && !["target_info", "ALERTS", "ALERTS_FOR_STATE"].contains(&l.name())
                    && l.get("job") != Some("lookout")
            })?,
            kind => store.count_records(kind)?,
        };
        let acknowledged = match kind {
            Records::MetricPoints => s.accepted_samples,
            _ => s.accepted,
        };
        // A request the client gave up on (timeout, cut connection) may still have been
        // stored: more than acknowledged is right only when there were such requests.
        let cut: u64 = s
            .failures
            .iter()
            .filter(|(status, _)| {
                ["Cancelled", "DeadlineExceeded", "timeout", "connection"]
                    .iter()
                    .any(|kind| status.contains(kind))
            })
            .map(|(_, requests)| requests)
            .sum();
        if stored < acknowledged || (stored > acknowledged && cut == 0) {
            problems.push(format!(
                "{label}: {acknowledged} acknowledged, {stored} stored"
            ));
        } else if stored > acknowledged {
            notes.push(format!(
                "{label}: {} more stored than acknowledged, of {cut} requests the client gave up on",
                stored - acknowledged
            ));
        }
        for (trace, spans) in &s.sampled_traces {
            let id: TraceId = trace
                .parse()
                .map_err(|e| anyhow::anyhow!("sampled trace id {trace}: {e}"))?;
            let found = store.trace(&id)?.len() as u64;
            if found != *spans {
                problems.push(format!(
                    "trace {trace}: {spans} spans sent, {found} read back"
                ));
            }
        }
    }
    store.compact_all()?;
    store.flush()?;
    let disk = store.disk_usage_bytes();
    let tables = store.table_bytes()?;
    let verdict = if problems.is_empty() && notes.is_empty() {
        "ok".to_string()
    } else if problems.is_empty() {
        format!("ok ({})", notes.join("; "))
    } else {
        problems.join("; ")
    };
    Ok((verdict, disk, tables))
}

/// The scenarios of a full run (`seconds` per run) or of the quick smoke test.
pub fn scenarios(seconds: u64, quick: bool) -> Vec<Scenario> {
    let d = Duration::from_secs(seconds);
    let mut list = vec![
        Scenario::new("traces", &[Signal::Traces], d),
        Scenario::new("logs", &[Signal::Logs], d),
        Scenario::new("metrics", &[Signal::Metrics], d),
        Scenario::new("mix", &[Signal::Traces, Signal::Logs, Signal::Metrics], d),
    ];
    if quick {
        for (scenario, transport) in list.iter_mut().zip([
            Transport::Grpc,
            Transport::HttpProtobuf,
            Transport::HttpJson,
            Transport::Grpc,
        ]) {
            scenario.transport = transport;
            scenario.concurrency = 2;
            scenario.batch = 200;
        }
        // The mix is queried while it is written.
        list[3].queriers = 2;
    } else {
        // Export latency at a steady rate below what the two cores absorb (~65 000 spans/s
        // with the generator beside the server since the trace index is written after the
        // acknowledgement; ~45 000 before), not at saturation.
        let mut paced = Scenario::new("traces-paced", &[Signal::Traces], d);
        paced.rate = 30_000;
        list.push(paced);
        // Collector-sized batches (5000 spans, ~1.5 MB) on 128 connections: more than the
        // in-flight budget, so some requests must be refused with a retry hint.
        let mut overload = Scenario::new("overload", &[Signal::Traces], d);
        overload.concurrency = 128;
        overload.batch = 5000;
        overload.overload = true;
        list.push(overload);
        // All three signals past capacity, with people querying meanwhile.
        let mut both = Scenario::new(
            "overload+queries",
            &[Signal::Traces, Signal::Logs, Signal::Metrics],
            d,
        );
        both.concurrency = 128;
        both.batch = 5000;
        both.overload = true;
        both.queriers = 8;
        list.push(both);
    }
    list
}
