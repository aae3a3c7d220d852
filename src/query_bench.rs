//! Shared parts of the query benchmarks (`benches/traces.rs`, `benches/logs.rs`): timing a
//! series of HTTP GETs against a running `lookout serve` and printing one table row.

use std::time::Instant;

use anyhow::Context;

use crate::process::ServerProcess;

/// Latencies and server CPU of one kind of query.
#[derive(Clone, Debug)]
pub struct Measured {
    pub name: String,
    pub n: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub server_cpu_ms: f64,
    /// What the first answer held (for the reader to check the query did something).
    pub answer: String,
}

impl Measured {
    /// `| name | n | p50 | p99 | max | cpu | answer |`
    pub fn row(&self) -> String {
        format!(
            "| {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {} |",
            self.name,
            self.n,
            self.p50_ms,
            self.p99_ms,
            self.max_ms,
            self.server_cpu_ms,
            self.answer
        )
    }
}

/// A count from the environment variable `name`, else `default`.
pub fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// A fresh temporary directory under `LOOKOUT_BENCH_DIR`, else the system's temp directory.
pub fn bench_dir() -> anyhow::Result<tempfile::TempDir> {
    let base = std::env::var_os("LOOKOUT_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    Ok(tempfile::tempdir_in(base)?)
}

/// The `q` quantile (nearest rank) of sorted values.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// Runs `n` GETs of `path(i)` one at a time (after one warm-up whose answer `summarize`
/// describes) and measures them; a non-2xx answer is an error.
pub fn measure(
    server: &ServerProcess,
    client: &reqwest::blocking::Client,
    name: &str,
    n: usize,
    path: impl Fn(usize) -> String,
    summarize: impl Fn(&serde_json::Value) -> String,
) -> anyhow::Result<Measured> {
    let first: serde_json::Value = client
        .get(format!("http://{}{}", server.http, path(0)))
        .send()?
        .error_for_status()
        .with_context(|| format!("{name}: {}", path(0)))?
        .json()?;
    let cpu_before = server.cpu_seconds()?;
    let mut latencies = Vec::with_capacity(n);
    for i in 0..n {
        let url = format!("http://{}{}", server.http, path(i));
        let started = Instant::now();
        let response = client.get(&url).send()?;
        let status = response.status();
        let _ = response.bytes()?;
        latencies.push(started.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(status.is_success(), "{name}: {url} answered {status}");
    }
    let cpu = server.cpu_seconds()? - cpu_before;
    latencies.sort_by(f64::total_cmp);
    Ok(Measured {
        name: name.into(),
        n,
        p50_ms: percentile(&latencies, 0.5),
        p99_ms: percentile(&latencies, 0.99),
        max_ms: latencies.last().copied().unwrap_or(f64::NAN),
        server_cpu_ms: cpu * 1e3 / n.max(1) as f64,
        answer: summarize(&first),
    })
}
