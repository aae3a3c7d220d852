//! Running the probes: one task per probe, at most [`MAX_IN_FLIGHT`] probes running at once,
//! each cut off at its timeout, results kept in [`ProbeResults`] and written as series. The
//! tasks share nothing with ingestion or rule evaluation but the store's write path (on a
//! blocking thread), so a hanging target delays only its own probe.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use lookout_storage::series::NewSample;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

use super::config::{ProbeConfig, ProbeKind};
use super::grpc::GrpcProbe;
use super::http::HttpProbe;
use super::result::{Outcome, ProbeResult, ProbeResults};
use super::tcp::TcpProbe;

/// Probes running at the same time, at most; the others wait for a free slot (their timeout
/// counts from the start of the probe, not from the wait).
pub const MAX_IN_FLIGHT: usize = 16;

/// Where results go as series (the store, in Lookout).
pub trait SampleSink: Send + Sync + 'static {
    /// Appends samples; an error is logged and the next run writes again.
    fn append(&self, samples: &[NewSample]) -> Result<(), String>;
}

impl SampleSink for lookout_storage::Store {
    fn append(&self, samples: &[NewSample]) -> Result<(), String> {
        self.append_samples(samples)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// A probe's task, the configuration it runs, and whether its results are still wanted.
struct Running {
    config: ProbeConfig,
    active: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

/// The running probes. Dropping it stops nothing: stop it with the `stop` channel it was
/// started with (or [`Prober::reload`] to an empty list).
pub struct Prober {
    results: ProbeResults,
    sink: Arc<dyn SampleSink>,
    slots: Arc<Semaphore>,
    stop: watch::Receiver<bool>,
    running: Mutex<HashMap<String, Running>>,
}

impl Prober {
    /// Starts a task for each of `probes` (which [`super::validate_probes`] accepted); the
    /// first run of each is at once.
    pub fn start(
        probes: &[ProbeConfig],
        sink: Arc<dyn SampleSink>,
        stop: watch::Receiver<bool>,
    ) -> Prober {
        let prober = Prober {
            results: ProbeResults::default(),
            sink,
            slots: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            stop,
            running: Mutex::new(HashMap::new()),
        };
        prober.reload(probes);
        prober
    }

    /// The latest result of each probe.
    pub fn results(&self) -> ProbeResults {
        self.results.clone()
    }

    /// Runs `probes` from now on: unchanged probes keep running with their results, changed
    /// ones restart (their old result dropped), removed ones stop. Returns how many probes
    /// were started or restarted.
    pub fn reload(&self, probes: &[ProbeConfig]) -> usize {
        let mut running = match self.running.lock() {
            Ok(running) => running,
            Err(poisoned) => poisoned.into_inner(),
        };
        let wanted: HashMap<&str, &ProbeConfig> =
            probes.iter().map(|p| (p.name.as_str(), p)).collect();
        running.retain(|name, probe| {
            let keep = wanted.get(name.as_str()) == Some(&&probe.config);
            if !keep {
                probe.active.store(false, Ordering::SeqCst);
                probe.task.abort();
            }
            keep
        });
        self.results.retain(|name| running.contains_key(name));
        let mut started = 0;
        for probe in probes {
            if running.contains_key(&probe.name) {
                continue;
            }
            let active = Arc::new(AtomicBool::new(true));
            let task = tokio::spawn(probe_loop(
                probe.clone(),
                Arc::clone(&active),
                self.results.clone(),
                Arc::clone(&self.sink),
                Arc::clone(&self.slots),
                self.stop.clone(),
            ));
            running.insert(
                probe.name.clone(),
                Running {
                    config: probe.clone(),
                    active,
                    task,
                },
            );
            started += 1;
        }
        started
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        if let Ok(running) = self.running.lock() {
            for probe in running.values() {
                probe.task.abort();
            }
        }
    }
}

/// A probe ready to run, built once from its configuration; when it cannot be built (an
/// unreadable CA file, say) every run fails with the reason.
enum Runner {
    Http(Box<HttpProbe>),
    Tcp(TcpProbe),
    Grpc(Box<GrpcProbe>),
    Broken(String),
}

impl Runner {
    fn new(config: &ProbeConfig) -> Runner {
        let built = match config.kind {
            ProbeKind::Http => HttpProbe::new(config).map(|p| Runner::Http(Box::new(p))),
            ProbeKind::Tcp => TcpProbe::new(config).map(Runner::Tcp),
            ProbeKind::Grpc => GrpcProbe::new(config).map(|p| Runner::Grpc(Box::new(p))),
        };
        built.unwrap_or_else(Runner::Broken)
    }

    async fn run(&self) -> Outcome {
        match self {
            Runner::Http(p) => p.run().await,
            Runner::Tcp(p) => p.run().await,
            Runner::Grpc(p) => p.run().await,
            Runner::Broken(reason) => Outcome::failed(reason.clone()),
        }
    }
}

/// One run of `runner` for `config`, cut off at its timeout.
async fn run_once(config: &ProbeConfig, runner: &Runner) -> ProbeResult {
    let time_unix_ms = (lookout_proto::now_unix_nano() / 1_000_000) as i64;
    let started = Instant::now();
    let outcome = match tokio::time::timeout(config.timeout, runner.run()).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::failed("timeout"),
    };
    let duration = started.elapsed().as_secs_f64();
    outcome.into_result(config, time_unix_ms, duration)
}

async fn probe_loop(
    config: ProbeConfig,
    active: Arc<AtomicBool>,
    results: ProbeResults,
    sink: Arc<dyn SampleSink>,
    slots: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) {
    let runner = Runner::new(&config);
    let mut ticks = tokio::time::interval(config.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let result = {
            let Ok(_slot) = slots.acquire().await else {
                return;
            };
            tokio::select! {
                result = run_once(&config, &runner) => result,
                _ = stop.wait_for(|s| *s) => return,
            }
        };
        if !result.success {
            tracing::debug!(probe = %config.name, error = result.error.as_deref().unwrap_or(""), "probe failed");
        }
        let samples = result.samples();
        results.record(result, &active);
        let sink = Arc::clone(&sink);
        match tokio::task::spawn_blocking(move || sink.append(&samples)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(probe = %config.name, error = %e, "writing probe results failed")
            }
            Err(e) => {
                tracing::warn!(probe = %config.name, error = %e, "writing probe results failed")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[derive(Default)]
    struct Collect(Mutex<Vec<NewSample>>);

    impl SampleSink for Collect {
        fn append(&self, samples: &[NewSample]) -> Result<(), String> {
            self.0.lock().unwrap().extend_from_slice(samples);
            Ok(())
        }
    }

    fn tcp(name: &str, address: &str, timeout: &str) -> ProbeConfig {
        serde_json::from_value(serde_json::json!({
            "name": name, "service_name": "shop", "kind": "tcp", "address": address,
            "interval": "1s", "timeout": timeout,
        }))
        .unwrap()
    }

    async fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ok() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn a_hanging_target_times_out_and_reload_keeps_unchanged_results() {
        // A TLS handshake against a listener that accepts and never answers hangs.
        let hanging = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hanging_addr = hanging.local_addr().unwrap().to_string();
        let open = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open_addr = open.local_addr().unwrap().to_string();
        let mut slow = tcp("slow", &hanging_addr, "300ms");
        slow.tls = true;
        let sink = Arc::new(Collect::default());
        let (_stop_tx, stop) = watch::channel(false);
        let prober = Prober::start(
            &[slow.clone(), tcp("db", &open_addr, "1s")],
            sink.clone(),
            stop,
        );
        let results = prober.results();
        wait_for("both results", || results.latest().len() == 2).await;
        let slow_result = results.get("slow").unwrap();
        assert_eq!(slow_result.error.as_deref(), Some("timeout"));
        assert!(slow_result.duration_seconds >= 0.3, "{slow_result:?}");
        assert!(results.get("db").unwrap().success);
        assert!(sink
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|s| s.labels.name() == "probe_success"));

        // Unchanged: kept with its result; changed: restarted; gone: dropped.
        let mut changed = tcp("db2", &open_addr, "1s");
        changed.interval = Duration::from_secs(2);
        assert_eq!(prober.reload(&[slow.clone(), changed]), 1);
        assert!(results.get("db").is_none());
        assert!(results.get("slow").is_some());
        wait_for("db2", || results.get("db2").is_some()).await;
        assert_eq!(prober.reload(&[]), 0);
        assert!(results.latest().is_empty());
        drop(hanging);
    }
}
