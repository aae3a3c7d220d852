//! Starting and stopping a whole Lookout: storage, receivers, API, background tasks.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use lookout_collector::probes::{ProbeResults, Prober};
use lookout_collector::{
    Ingest, IngestMetrics, ServiceActivity, SpanMetrics, SpanMetricsWriter, Writers,
};
use lookout_query_api::{ApiState, ReadinessCheck, TraceApi};
use lookout_storage::{LogIndex, LogSearcher, Store};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::checks::{DiskCheck, LogIndexCheck, ReceiverFlags, ReceiversCheck, StorageCheck};
use crate::config::Config;
use crate::request_id;
use crate::self_metrics::ProcessCollector;

/// A running Lookout. Stop it with [`Server::shutdown`]; dropping it stops nothing.
pub struct Server {
    pub otlp_grpc_addr: SocketAddr,
    pub otlp_http_addr: SocketAddr,
    pub http_addr: SocketAddr,
    store: Arc<Store>,
    log_index: Arc<LogIndex>,
    /// Set once a first indexing pass has run to its end: until then queued records may be
    /// in the index already (committed just before a crash) and must be checked, not added.
    log_index_recovered: Arc<AtomicBool>,
    span_metrics: Option<Arc<SpanMetrics>>,
    activity: Arc<ServiceActivity>,
    prober: Arc<Prober>,
    stop: watch::Sender<bool>,
    tasks: Vec<Task>,
}

async fn bind(what: &str, addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the {what} listener on {addr}"))
}

type Task = (&'static str, JoinHandle<anyhow::Result<()>>);

/// Runs a receiver's server, with `up` telling readiness whether it serves.
fn spawn_receiver<F, E>(name: &'static str, up: &Arc<AtomicBool>, server: F) -> Task
where
    F: std::future::IntoFuture<Output = Result<(), E>>,
    F::IntoFuture: Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    let up = Arc::clone(up);
    up.store(true, Ordering::Relaxed);
    let server = server.into_future();
    let task = tokio::spawn(async move {
        let result = server.await.with_context(|| format!("{name} server"));
        up.store(false, Ordering::Relaxed);
        result
    });
    (name, task)
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

impl Server {
    /// Opens storage and starts serving; returns once every listener is bound.
    pub async fn start(config: Config) -> anyhow::Result<Server> {
        let data_dir = config.data_dir.clone();
        let storage_config = config.storage.clone();
        let store = tokio::task::spawn_blocking(move || Store::open(&data_dir, &storage_config))
            .await?
            .with_context(|| format!("opening storage in {}", config.data_dir.display()))?;
        let store = Arc::new(store);
        let index_dir = config.data_dir.join(lookout_storage::LOG_INDEX_DIR);
        let index_config = config.log_index.clone();
        let (log_index, highest) = tokio::task::spawn_blocking(move || {
            let index = LogIndex::open(&index_dir, &index_config)?;
            let highest = index.highest_committed()?;
            Ok::<_, lookout_storage::StorageError>((index, highest))
        })
        .await?
        .context("opening the log index")?;
        if let Some(seq) = highest {
            store.raise_log_seq(seq);
        }
        let log_index = Arc::new(log_index);

        let mut registry = Registry::default();
        let ingest_metrics = IngestMetrics::new(&mut registry);
        registry.register_collector(Box::new(ProcessCollector::new(Arc::clone(&store))));
        let span_metrics = config
            .span_metrics
            .enabled
            .then(|| SpanMetrics::new(config.span_metrics.clone(), store.clone(), &mut registry));
        let notification_stats = Arc::new(lookout_alerting::notify::Stats::default());
        registry.register_collector(Box::new(crate::self_metrics::NotificationCollector(
            Arc::clone(&notification_stats),
        )));
        let activity = Arc::new(ServiceActivity::new(
            config.service_activity.clone(),
            &mut registry,
        ));
        let registry = Arc::new(registry);

        let spans: Arc<dyn lookout_storage::SpanWriter> = match &span_metrics {
            Some(metrics) => Arc::new(SpanMetricsWriter {
                inner: store.clone(),
                metrics: Arc::clone(metrics),
            }),
            None => store.clone(),
        };
        let writers = Writers {
            spans,
            logs: store.clone(),
            metrics: store.clone(),
            activity: Some(Arc::clone(&activity)),
        };
        let ingest = Ingest::new(
            writers,
            config.limits.clone(),
            config.retention.clone(),
            config.otlp.clone(),
            ingest_metrics,
        );

        let grpc_listener = bind("otlp grpc", config.otlp.grpc_addr).await?;
        let otlp_http_listener = bind("otlp http", config.otlp.http_addr).await?;
        let http_listener = bind("http api", config.http.addr).await?;
        let otlp_grpc_addr = grpc_listener.local_addr()?;
        let otlp_http_addr = otlp_http_listener.local_addr()?;
        let http_addr = http_listener.local_addr()?;

        let (stop, stop_rx) = watch::channel(false);
        let flags = ReceiverFlags::default();
        let mut tasks = Vec::new();

        let tokens = config.auth.load()?;
        if tokens.is_none() {
            for (name, addr) in [
                ("otlp.grpc_addr", config.otlp.grpc_addr),
                ("otlp.http_addr", config.otlp.http_addr),
                ("http.addr", config.http.addr),
            ] {
                if !addr.ip().is_loopback() {
                    tracing::warn!(
                        listener = name,
                        %addr,
                        "listening beyond loopback without authentication: anyone who can reach it can send and read data; configure auth.tokens"
                    );
                }
            }
        }
        let otlp_tls = config
            .otlp
            .tls
            .as_ref()
            .map(crate::listener::Tls::new)
            .transpose()
            .context("otlp.tls")?;
        let http_tls = config
            .http
            .tls
            .as_ref()
            .map(crate::listener::Tls::new)
            .transpose()
            .context("http.tls")?;
        let reloadable: Vec<Arc<crate::listener::Tls>> =
            otlp_tls.iter().chain(&http_tls).cloned().collect();
        if !reloadable.is_empty() {
            tasks.push((
                "certificate reload on SIGHUP",
                tokio::spawn(on_hangup(hangup_signal()?, stop_rx.clone(), move || {
                    reload_certificates(&reloadable)
                })),
            ));
        }
        let grpc = tonic::transport::Server::builder()
            .http2_max_header_list_size(Some(MAX_HEADER_LIST_SIZE))
            .layer(request_id::grpc_layers())
            .layer(tonic::service::InterceptorLayer::new(
                crate::auth::ingest_grpc(tokens.clone()),
            ))
            .add_routes(lookout_collector::grpc::routes(ingest.clone()))
            .serve_with_incoming_shutdown(
                crate::listener::accept(
                    "otlp grpc",
                    grpc_listener,
                    otlp_tls.clone(),
                    config.otlp.max_connections,
                )?
                .into_stream(),
                stopped(stop_rx.clone()),
            );
        tasks.push(spawn_receiver("otlp grpc", &flags.grpc, grpc));

        let otlp_http = axum::serve(
            crate::listener::accept(
                "otlp http",
                otlp_http_listener,
                otlp_tls,
                config.otlp.max_connections,
            )?,
            lookout_collector::http::router(ingest)
                .layer(axum::middleware::from_fn_with_state(
                    tokens.clone(),
                    crate::auth::ingest_http,
                ))
                .layer(request_id::http_layers()),
        )
        .with_graceful_shutdown(stopped(stop_rx.clone()));
        tasks.push(spawn_receiver("otlp http", &flags.http, otlp_http));

        let checks: Vec<Arc<dyn ReadinessCheck>> = vec![
            Arc::new(StorageCheck(Arc::clone(&store))),
            Arc::new(LogIndexCheck(Arc::clone(&store))),
            Arc::new(DiskCheck {
                path: config.data_dir.clone(),
                min_free: config.health.min_free_disk,
            }),
            Arc::new(ReceiversCheck {
                flags: flags.clone(),
                grpc_addr: otlp_grpc_addr,
                http_addr: otlp_http_addr,
            }),
        ];
        // One engine for the API and the rules: its clones share the samples-in-memory budget.
        let engine = lookout_query_api::promql::Engine::new(store.clone(), config.promql.clone());
        let rules_api = if config.alerting.enabled {
            let groups = crate::alerts::load_rules(&config.alerting).map_err(|problems| {
                let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
                anyhow::anyhow!("alert rules have problems:\n{}", list.join("\n"))
            })?;
            let state: Arc<dyn lookout_alerting::StateStore> =
                Arc::new(crate::alerts::StoreState(Arc::clone(&store)));
            let evidence: Arc<dyn lookout_alerting::EvidenceSource> =
                Arc::new(crate::alerts::StoreEvidence {
                    search: store.clone(),
                    logs: Arc::new(LogSearcher {
                        store: store.clone(),
                        index: log_index.clone(),
                    }),
                    external_url: config.alerting.external_url.clone(),
                });
            let (notifier, notifier_task) = lookout_alerting::notify::Notifier::start(
                &config.alerting,
                Arc::clone(&state),
                Some(Arc::clone(&evidence)),
                Arc::clone(&notification_stats),
                stop_rx.clone(),
            );
            let manager = Arc::new(lookout_alerting::Manager::new(
                config.alerting.clone(),
                groups,
                Arc::new(crate::alerts::EngineQueries(engine.clone())),
                Arc::new(crate::alerts::StoreSamples(Arc::clone(&store))),
                state,
                Some(notifier),
            ));
            let rules_stop = stop_rx.clone();
            let running = Arc::clone(&manager);
            tasks.push((
                "alert rules",
                tokio::spawn(async move {
                    running.run(rules_stop).await;
                    Ok(())
                }),
            ));
            tasks.push((
                "notifier",
                tokio::spawn(async move {
                    notifier_task
                        .await
                        .map_err(|e| anyhow::anyhow!("notifier task failed: {e}"))
                }),
            ));
            let api = Arc::new(crate::alerts::AlertsApi {
                manager,
                config: config.alerting.clone(),
                reloading: std::sync::Mutex::new(()),
                evidence,
            });
            tasks.push((
                "rule reload on SIGHUP",
                tokio::spawn(on_hangup(hangup_signal()?, stop_rx.clone(), {
                    // A bad file is refused and the old rules keep running.
                    let api = Arc::clone(&api);
                    move || {
                        let _ = api.reload();
                    }
                })),
            ));
            let api: Arc<dyn lookout_query_api::RulesApi> = api;
            Some(api)
        } else {
            None
        };
        // Probes run on their own tasks: a hanging target holds only its own probe.
        let prober = Arc::new(Prober::start(
            &config.probes,
            store.clone(),
            stop_rx.clone(),
        ));
        let exposition_registry = Arc::clone(&registry);
        let api_state = ApiState {
            checks,
            metrics: Arc::new(move || {
                let mut text = String::new();
                if let Err(e) =
                    prometheus_client::encoding::text::encode(&mut text, &exposition_registry)
                {
                    tracing::warn!(error = %e, "encoding metrics failed");
                }
                (
                    "application/openmetrics-text; version=1.0.0; charset=utf-8".to_string(),
                    text,
                )
            }),
            traces: TraceApi {
                reader: store.clone(),
                search: store.clone(),
                log_streams: store.clone(),
                logs: Arc::new(LogSearcher {
                    store: store.clone(),
                    index: log_index.clone(),
                }),
                config: config.query.clone(),
            },
            rules: rules_api,
            prom: lookout_query_api::PromApi {
                engine,
                reader: store.clone(),
            },
            probes: Some(Arc::new(ProbesView(prober.results()))),
            service_health: config.service_health.clone(),
            dashboards: lookout_query_api::dashboards::Dashboards {
                store: store.clone(),
                provisioned: Arc::new(
                    lookout_query_api::dashboards::load_files(&config.dashboards).map_err(
                        |problems| anyhow::anyhow!("dashboards: {}", problems.join("; ")),
                    )?,
                ),
            },
        };
        let services_api = api_state.services();
        let api = axum::serve(
            crate::listener::accept(
                "http api",
                http_listener,
                http_tls,
                config.http.max_connections,
            )?,
            lookout_query_api::router(api_state)
                .layer(axum::middleware::from_fn_with_state(
                    crate::auth::ApiAuth {
                        tokens: tokens.clone(),
                        enable_lifecycle: config.http.enable_lifecycle,
                    },
                    crate::auth::api,
                ))
                .layer(request_id::http_layers()),
        )
        .with_graceful_shutdown(stopped(stop_rx.clone()));
        tasks.push((
            "http api",
            tokio::spawn(async move { api.await.context("http api server") }),
        ));

        if let Some(metrics) = &span_metrics {
            tasks.push((
                "span metrics",
                tokio::spawn({
                    let metrics = Arc::clone(metrics);
                    every(
                        "span metrics",
                        metrics.flush_interval(),
                        false,
                        stop_rx.clone(),
                        move || Ok(metrics.flush()?),
                        |points| tracing::debug!(points, "span metrics written"),
                    )
                }),
            ));
        }
        tasks.push((
            "service activity",
            tokio::spawn({
                let activity = Arc::clone(&activity);
                let store = Arc::clone(&store);
                every(
                    "service activity",
                    activity.flush_interval(),
                    false,
                    stop_rx.clone(),
                    move || {
                        let samples = activity.flush();
                        store.append_samples(&samples)?;
                        Ok(samples.len())
                    },
                    |samples| tracing::debug!(samples, "service activity written"),
                )
            }),
        ));
        tasks.push((
            "service status",
            tokio::spawn({
                let store = Arc::clone(&store);
                every(
                    "service status",
                    config.service_health.evaluation_interval,
                    false,
                    stop_rx.clone(),
                    move || {
                        let now_ms = lookout_proto::now_unix_nano() as i64 / 1_000_000;
                        let statuses =
                            lookout_query_api::services::statuses(&services_api, now_ms)?;
                        let samples =
                            lookout_query_api::services::status_samples(&statuses, now_ms);
                        store.append_samples(&samples)?;
                        Ok(statuses.len())
                    },
                    |services| tracing::debug!(services, "service statuses written"),
                )
            }),
        ));
        let log_index_recovered = Arc::new(AtomicBool::new(false));
        tasks.push((
            "log indexer",
            tokio::spawn(log_index_loop(
                Arc::clone(&store),
                Arc::clone(&log_index),
                Arc::clone(&log_index_recovered),
                config.log_index.commit_interval,
                stop_rx.clone(),
            )),
        ));
        if config.host_metrics.enabled {
            tasks.push((
                "host metrics",
                tokio::spawn(host_metrics_loop(
                    Arc::clone(&store),
                    Arc::clone(&registry),
                    config.host_metrics.interval,
                    config.limits.clone(),
                    stop_rx.clone(),
                )),
            ));
        }
        tasks.push((
            "series checkpoint",
            tokio::spawn({
                let store = Arc::clone(&store);
                every(
                    "series checkpoint",
                    config.storage.series.checkpoint_interval,
                    false,
                    stop_rx.clone(),
                    move || Ok(store.checkpoint_series()?),
                    |series| tracing::debug!(series, "series head checkpointed"),
                )
            }),
        ));
        tasks.push((
            "trace indexer",
            tokio::spawn({
                let store = Arc::clone(&store);
                // Each pass waits for spans to be queued, then writes their index entries:
                // searchable within milliseconds when idle, in larger sorted batches under load.
                every(
                    "trace indexer",
                    std::time::Duration::from_millis(1),
                    true,
                    stop_rx.clone(),
                    move || match store.index_queued_spans_when_ready(TRACE_INDEX_WAIT) {
                        Ok(spans) => Ok(spans),
                        Err(e) => {
                            // Retried after a pause, not at once: exports wait for room
                            // meanwhile, then write the queue themselves.
                            std::thread::sleep(std::time::Duration::from_secs(1));
                            Err(e.into())
                        }
                    },
                    |spans| tracing::trace!(spans, "trace index entries written"),
                )
            }),
        ));
        tasks.push((
            "service graph",
            tokio::spawn({
                let store = Arc::clone(&store);
                every(
                    "service graph",
                    SERVICE_GRAPH_INTERVAL,
                    true,
                    stop_rx.clone(),
                    move || {
                        let until = std::time::Instant::now() + SERVICE_GRAPH_PASS;
                        Ok(store.build_service_graph(SERVICE_GRAPH_BACK, Some(until))?)
                    },
                    |built| tracing::debug!(built, "service graph minutes aggregated"),
                )
            }),
        ));
        tasks.push((
            "retention",
            tokio::spawn({
                let (store, log_index) = (Arc::clone(&store), Arc::clone(&log_index));
                let retention = config.retention.clone();
                every(
                    "retention",
                    retention.check_interval,
                    true,
                    stop_rx,
                    move || {
                        let report =
                            store.enforce_retention(&retention, lookout_proto::now_unix_nano())?;
                        log_index.drop_before(report.logs_before)?;
                        Ok(report)
                    },
                    |report| tracing::debug!(?report, "retention applied"),
                )
            }),
        ));

        tracing::info!(
            otlp_grpc = %otlp_grpc_addr,
            otlp_http = %otlp_http_addr,
            http = %http_addr,
            data_dir = %config.data_dir.display(),
            "lookout is serving"
        );
        Ok(Server {
            otlp_grpc_addr,
            otlp_http_addr,
            http_addr,
            store,
            log_index,
            log_index_recovered,
            span_metrics,
            activity,
            prober,
            stop,
            tasks,
        })
    }

    /// The running probes: their latest results, and [`Prober::reload`] for a new list.
    pub fn prober(&self) -> &Arc<Prober> {
        &self.prober
    }

    /// The store, for tests and tools that read back what was ingested.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Stops accepting connections, lets requests in flight finish, flushes and closes storage.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        tracing::info!("shutting down");
        let _ = self.stop.send(true);
        let mut first_error = None;
        for (name, task) in self.tasks {
            let result = match task.await {
                Ok(result) => result,
                Err(e) => Err(anyhow::anyhow!("{name} task failed: {e}")),
            };
            if let Err(e) = result {
                tracing::error!(task = name, error = %format!("{e:#}"), "task ended with an error");
                first_error.get_or_insert(e);
            }
        }
        // The receivers have finished their requests: count their spans in the last flush.
        if let Some(metrics) = self.span_metrics {
            match tokio::task::spawn_blocking(move || metrics.flush()).await? {
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "writing span metrics failed"),
            }
        }
        let (store, activity) = (Arc::clone(&self.store), self.activity);
        match tokio::task::spawn_blocking(move || store.append_samples(&activity.flush())).await? {
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "writing service activity failed"),
        }
        // Index what the receivers stored last, so a clean restart has little to catch up,
        // but for a bounded time: a backlog left by overload stays queued (durably) and is
        // indexed at the next start, rather than holding the shutdown past a supervisor's
        // grace period.
        let (store, index) = (Arc::clone(&self.store), self.log_index);
        let recovering = !self.log_index_recovered.load(Ordering::Acquire);
        let until = std::time::Instant::now() + SHUTDOWN_INDEXING;
        let out_of_time = move || std::time::Instant::now() >= until;
        match tokio::task::spawn_blocking(move || {
            index_logs(&store, &index, recovering, &out_of_time)
        })
        .await?
        {
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "indexing logs at shutdown failed"),
        }
        let store = self.store;
        tokio::task::spawn_blocking(move || {
            // A clean restart then has no write-ahead records to replay.
            store.checkpoint_series()?;
            store.flush()
        })
        .await?
        .context("flushing storage")?;
        tracing::info!("shutdown complete");
        first_error.map_or(Ok(()), Err)
    }
}

/// Runs `pass` on a blocking thread every `interval` until stopped: first at once when
/// `immediately`, else after one interval. A failing pass is logged and runs again at the next
/// tick; `done` logs what a pass did.
async fn every<T: Send + 'static>(
    what: &'static str,
    interval: std::time::Duration,
    immediately: bool,
    mut stop: watch::Receiver<bool>,
    pass: impl Fn() -> anyhow::Result<T> + Send + Sync + 'static,
    done: impl Fn(T),
) -> anyhow::Result<()> {
    let pass = Arc::new(pass);
    let mut interval = tokio::time::interval(interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    if !immediately {
        interval.tick().await;
    }
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.wait_for(|s| *s) => return Ok(()),
        }
        let pass = Arc::clone(&pass);
        match tokio::task::spawn_blocking(move || pass()).await {
            Ok(Ok(result)) => done(result),
            Ok(Err(e)) => {
                tracing::warn!(task = what, error = %format!("{e:#}"), "periodic task failed, will retry")
            }
            Err(e) => tracing::warn!(task = what, error = %e, "periodic task panicked, will retry"),
        }
    }
}

/// How long one pass of the trace indexer waits for spans before it returns (and the task
/// looks whether the server is stopping).
const TRACE_INDEX_WAIT: std::time::Duration = std::time::Duration::from_millis(200);

/// The service graph's minutes are aggregated in the background this often, for at most
/// `SERVICE_GRAPH_PASS` each time (reads build what is missing themselves), going back at most
/// `SERVICE_GRAPH_BACK` minutes.
const SERVICE_GRAPH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);
const SERVICE_GRAPH_PASS: std::time::Duration = std::time::Duration::from_secs(1);
const SERVICE_GRAPH_BACK: u32 = 24 * 60;

/// How many pending log records one indexing step reads at a time.
const LOG_INDEX_BATCH: usize = 20_000;

fn index_logs(
    store: &Store,
    index: &LogIndex,
    recovering: bool,
    stop: &dyn Fn() -> bool,
) -> lookout_storage::Result<usize> {
    lookout_storage::log_index::index_pending_until(store, index, recovering, LOG_INDEX_BATCH, stop)
}

/// How long a shutdown spends indexing queued log records before it leaves the rest to the
/// next start.
const SHUTDOWN_INDEXING: std::time::Duration = std::time::Duration::from_secs(5);

/// Indexes new log records every `interval` until stopped. The first pass catches up with
/// what was acknowledged but not indexed before a crash.
async fn log_index_loop(
    store: Arc<Store>,
    index: Arc<LogIndex>,
    recovered: Arc<AtomicBool>,
    interval: std::time::Duration,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait_for(|s| *s) => return Ok(()),
        }
        let (pass_store, pass_index) = (Arc::clone(&store), Arc::clone(&index));
        // A pass over a long backlog ends early when the server stops.
        let stopping = stop.clone();
        let stopped = move || *stopping.borrow();
        let recovering = !recovered.load(Ordering::Acquire);
        match tokio::task::spawn_blocking(move || {
            index_logs(&pass_store, &pass_index, recovering, &stopped)
        })
        .await
        {
            // A pass cut short by the stop may have left records of the recovery unchecked:
            // the shutdown's pass then still checks them.
            Ok(Ok(_)) if *stop.borrow() => {}
            Ok(Ok(n)) => {
                if recovering && n > 0 {
                    tracing::info!(records = n, "log index caught up");
                }
                recovered.store(true, Ordering::Release);
            }
            // The next pass checks again what the failed one may have committed.
            Ok(Err(e)) => {
                recovered.store(false, Ordering::Release);
                tracing::warn!(error = %e, "indexing logs failed, will retry")
            }
            // A panicked pass did not drop what it added uncommitted, as a failed one does.
            Err(e) => {
                index.discard_uncommitted();
                recovered.store(false, Ordering::Release);
                tracing::warn!(error = %e, "log indexing task failed, will retry")
            }
        }
    }
}

/// Every `interval`: the host's and the process's metrics (as OTLP, so they are translated as
/// any OTLP metric) and Lookout's own `/metrics` counters, stored as series.
async fn host_metrics_loop(
    store: Arc<Store>,
    registry: Arc<Registry>,
    interval: std::time::Duration,
    limits: lookout_proto::Limits,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let host = std::sync::Mutex::new(
        tokio::task::spawn_blocking(lookout_collector::HostMetrics::new).await?,
    );
    let pass = move || -> anyhow::Result<()> {
        let mut host = host
            .lock()
            .map_err(|_| anyhow::anyhow!("host metrics poisoned"))?;
        let request = host.collect();
        let converted = lookout_proto::convert_metrics(request, &limits);
        let rejected =
            lookout_storage::MetricWriter::write_metric_points(store.as_ref(), &converted.batch)?;
        if rejected.total() > 0 {
            tracing::warn!(rejected = rejected.total(), "host metrics were rejected");
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry)?;
        let now = (lookout_proto::now_unix_nano() / 1_000_000) as i64;
        let samples = crate::self_metrics::exposition_samples(&text, host.host(), now);
        store.append_samples(&samples)?;
        Ok(())
    };
    // A fresh start shows its host at once: what needs no earlier reading now, the CPU
    // utilisations after a first short delta, then every interval.
    let pass = Arc::new(pass);
    for delay in [
        std::time::Duration::ZERO,
        lookout_collector::MIN_UTILISATION_DELTA * 2,
    ] {
        let mut stopped = stop.clone();
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stopped.wait_for(|s| *s) => return Ok(()),
        }
        let pass = Arc::clone(&pass);
        if let Err(e) = tokio::task::spawn_blocking(move || pass()).await? {
            tracing::warn!(task = "host metrics", error = %format!("{e:#}"), "periodic task failed, will retry");
        }
    }
    every(
        "host metrics",
        interval,
        false,
        stop,
        move || pass(),
        |()| {},
    )
    .await
}

/// The probe results as the API shows them.
struct ProbesView(ProbeResults);

impl lookout_query_api::ProbesApi for ProbesView {
    fn latest(&self) -> Vec<serde_json::Value> {
        self.0
            .latest()
            .iter()
            .filter_map(|r| serde_json::to_value(r).ok())
            .collect()
    }
}

/// The largest header block of a gRPC request (HTTP/1.1 headers are bounded by hyper's
/// buffer, about 400 KiB).
const MAX_HEADER_LIST_SIZE: u32 = 64 * 1024;

/// Listens for SIGHUP from now on: created before the server says it is serving, so that a
/// SIGHUP sent right after is not missed (as it was, when the task listened only once it ran).
fn hangup_signal() -> anyhow::Result<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("listening for SIGHUP")
}

/// Runs `on_hangup` (on a blocking thread) at every SIGHUP until `stop`.
async fn on_hangup(
    mut hangup: tokio::signal::unix::Signal,
    mut stop: watch::Receiver<bool>,
    on_hangup: impl Fn() + Clone + Send + 'static,
) -> anyhow::Result<()> {
    loop {
        tokio::select! {
            _ = hangup.recv() => {}
            _ = stop.wait_for(|s| *s) => return Ok(()),
        }
        let _ = tokio::task::spawn_blocking(on_hangup.clone()).await;
    }
}

/// Re-reads the listeners' certificates and keys (on a problem the old ones stay).
fn reload_certificates(tls: &[Arc<crate::listener::Tls>]) {
    for t in tls {
        match t.reload() {
            Ok(()) => tracing::info!("TLS certificates re-read"),
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "re-reading TLS certificates failed: the old ones stay")
            }
        }
    }
}
