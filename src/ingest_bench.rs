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
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub disk_bytes_per_item: f64,
    /// "ok", or what did not read back.
    pub read_back: String,
    pub load: Summary,
}

impl Report {
    pub fn print(&self) {
        println!(
            "{:<14} {:>9.0} items/s {:>9.0} samples/s {:>7.1} MB/s  cpu {:>6.2} s/M items  peak rss {:>6.1} MiB  p50 {:>7.2} ms  p99 {:>7.2} ms  disk {:>6.1} B/item  refused {}  read-back {}",
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
            self.read_back,
        );
    }
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
        ..loadgen::Options::default()
    };
    let cpu_before = server.cpu_seconds()?;
    let load = loadgen::run(options).await?;
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
    for s in &load.signals {
        ensure!(
            s.sent == s.accepted + s.rejected + s.failed,
            "loadgen accounting is off: {s:?}"
        );
    }

    let (read_back, disk) = tokio::task::spawn_blocking({
        let dir = dir.clone();
        let load = load.clone();
        move || check_and_measure(&dir, &load)
    })
    .await??;
    drop(temp);
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
        read_back,
        load,
    })
}

/// Opens the stopped server's store, checks that every acknowledged item is there, compacts,
/// and returns the check's verdict and the bytes on disk.
fn check_and_measure(dir: &Path, load: &Summary) -> anyhow::Result<(String, u64)> {
    let store =
        Store::open(dir, &StorageConfig::default()).context("opening the benchmark's store")?;
    let mut problems = Vec::new();
    for s in &load.signals {
        let (kind, label) = match s.signal {
            Some(Signal::Traces) => (Records::Spans, "spans"),
            Some(Signal::Logs) => (Records::Logs, "logs"),
            Some(Signal::Metrics) => (Records::MetricPoints, "samples"),
            None => continue,
        };
        let stored = match kind {
            // Lookout's own series (RED metrics derived from the spans, service activity and
            // status, host and self metrics with job="lookout") and `target_info` (one per
            // resource per request, the same sample again) are stored too: not counted.
            Records::MetricPoints => store.count_samples(|l| {
                !l.name().starts_with("traces_span_metrics_")
                    && !l.name().starts_with("lookout_service_")
                    && l.name() != "target_info"
                    && l.get("job") != Some("lookout")
            })?,
            kind => store.count_records(kind)?,
        };
        let acknowledged = match kind {
            Records::MetricPoints => s.accepted_samples,
            _ => s.accepted,
        };
        if stored != acknowledged {
            problems.push(format!(
                "{label}: {acknowledged} acknowledged, {stored} stored"
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
    let verdict = if problems.is_empty() {
        "ok".to_string()
    } else {
        problems.join("; ")
    };
    Ok((verdict, disk))
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
    } else {
        // Collector-sized batches (5000 spans, ~1.5 MB) on 128 connections: more than the
        // in-flight budget, so some requests must be refused with a retry hint.
        let mut overload = Scenario::new("overload", &[Signal::Traces], d);
        overload.concurrency = 128;
        overload.batch = 5000;
        overload.overload = true;
        list.push(overload);
    }
    list
}
