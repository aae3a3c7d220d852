//! Lookout's HTTP API on the API port: liveness (`/health`), readiness with component checks
//! (`/ready`), Lookout's own metrics (`/metrics`), Jaeger's query API (v1 `/api/...` and
//! `/api/v3/...`), Loki's (`/loki/api/v1/...`) and Lookout's own query API under `/lookout/v1` (its OpenAPI document is at
//! `/lookout/v1/openapi.json`). The Prometheus and Loki dialects are added here as they are
//! built.
//!
//! Contract: handlers never block the async executor (storage reads run on blocking threads),
//! answer bad parameters with a 4xx naming the parameter, and a query past its time limit
//! with a 503.

mod config;
pub mod dashboards;
mod error;
pub mod golden;
mod health;
mod logql;
mod logs;
mod loki;
mod probes;
pub mod prom;
pub mod promql;
mod rules;
pub mod services;
pub mod traces;
mod ui;

use std::sync::Arc;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

pub use config::QueryConfig;
pub use error::ApiError;
pub use health::{CheckResult, CheckStatus, ReadinessCheck};
pub use probes::ProbesApi;
pub use prom::PromApi;
pub use rules::RulesApi;
pub use services::{ServiceHealthConfig, ServicesApi};
pub use traces::TraceApi;

/// Renders Lookout's own metrics: the content type and the exposition text.
pub type MetricsRenderer = Arc<dyn Fn() -> (String, String) + Send + Sync>;

/// What the HTTP API needs from the rest of Lookout.
#[derive(Clone)]
pub struct ApiState {
    pub checks: Vec<Arc<dyn ReadinessCheck>>,
    pub metrics: MetricsRenderer,
    pub traces: TraceApi,
    pub prom: prom::PromApi,
    /// The alerting side (`None` when alerting is off).
    pub rules: rules::Rules,
    /// The latest probe results (`None`: no probes).
    pub probes: probes::Probes,
    /// How service statuses are decided.
    pub service_health: ServiceHealthConfig,
    pub dashboards: dashboards::Dashboards,
}

impl ApiState {
    /// The service-health side of the API.
    pub fn services(&self) -> ServicesApi {
        ServicesApi {
            engine: self.prom.engine.clone(),
            traces: self.traces.clone(),
            rules: self.rules.clone(),
            probes: self.probes.clone(),
            config: self.service_health.clone(),
        }
    }
}

/// The prefix of Lookout's own API: it collides with none of Jaeger's (`/api/...`),
/// Prometheus's (`/api/v1/...`) or Loki's (`/loki/...`) paths.
pub const OWN_PREFIX: &str = "/lookout/v1";

const OPENAPI: &str = include_str!("../openapi.json");

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

/// The HTTP API routes.
pub fn router(state: ApiState) -> Router {
    use traces::{jaeger, lookout};
    // One budget for every query path (traces, logs, Loki, PromQL, services): past it,
    // requests wait for a slot, as Prometheus's `query.max-concurrency`.
    let queries = tower::limit::GlobalConcurrencyLimitLayer::with_semaphore(Arc::new(
        tokio::sync::Semaphore::new(state.traces.config.max_concurrent_queries.max(1)),
    ));
    let trace_routes = Router::new()
        .route("/api/services", get(jaeger::services))
        .route(
            "/api/services/{service}/operations",
            get(jaeger::service_operations),
        )
        .route("/api/operations", get(jaeger::operations))
        .route("/api/traces", get(jaeger::find_traces))
        .route("/api/traces/{id}", get(jaeger::trace))
        .route("/api/dependencies", get(jaeger::dependencies))
        .route("/api/v3/services", get(jaeger::v3_services))
        .route("/api/v3/operations", get(jaeger::v3_operations))
        .route("/api/v3/traces", get(jaeger::v3_find_traces))
        .route("/api/v3/traces/{id}", get(jaeger::v3_trace))
        .route("/api/v3/trace-summaries", get(jaeger::v3_trace_summaries))
        .route("/lookout/v1/traces", get(lookout::search))
        .route("/lookout/v1/traces/{id}", get(lookout::trace_tree))
        .route("/lookout/v1/service-map", get(lookout::service_map))
        .route("/lookout/v1/errors", get(lookout::errors))
        .route("/lookout/v1/traces/{id}/logs", get(logs::of_trace))
        .route("/lookout/v1/logs", get(logs::search))
        .route("/lookout/v1/logs/volume", get(logs::volume))
        .route("/lookout/v1/logs/fields", get(logs::fields))
        .route(
            "/loki/api/v1/query_range",
            get(loki::query_range).post(loki::query_range),
        )
        .route("/loki/api/v1/query", get(loki::query).post(loki::query))
        .route("/loki/api/v1/labels", get(loki::labels))
        .route("/loki/api/v1/label/{name}/values", get(loki::label_values))
        .route("/loki/api/v1/series", get(loki::series).post(loki::series))
        .route("/loki/api/v1/index/stats", get(loki::index_stats))
        .with_state(state.traces.clone())
        .layer(queries.clone());
    let prom_routes = Router::new()
        .route("/api/v1/query", get(prom::query).post(prom::query))
        .route(
            "/api/v1/query_range",
            get(prom::query_range).post(prom::query_range),
        )
        .route("/api/v1/series", get(prom::series).post(prom::series))
        .route("/api/v1/labels", get(prom::labels).post(prom::labels))
        .route("/api/v1/label/{name}/values", get(prom::label_values))
        .route("/api/v1/metadata", get(prom::metadata))
        .route("/api/v1/status/buildinfo", get(prom::buildinfo))
        .route(
            "/api/v1/query_exemplars",
            get(prom::query_exemplars).post(prom::query_exemplars),
        )
        .with_state(state.prom.clone())
        .layer(queries.clone());
    let rule_routes = Router::new()
        .route("/api/v1/rules", get(rules::rules))
        .route("/api/v1/alerts", get(rules::alerts))
        .route("/lookout/v1/alerts/history", get(rules::history))
        .route("/lookout/v1/alerts/evidence", get(rules::evidence))
        .route("/-/reload", axum::routing::post(rules::reload))
        .with_state(state.rules.clone());
    let probe_routes = Router::new()
        .route("/lookout/v1/probes", get(probes::list))
        .with_state(state.probes.clone());
    let service_routes = Router::new()
        .route("/lookout/v1/services", get(services::list))
        .route("/lookout/v1/services/{name}", get(services::detail))
        .with_state(state.services())
        .layer(queries.clone());
    let dashboard_routes = Router::new()
        .route(
            "/lookout/v1/dashboards",
            get(dashboards::list).post(dashboards::create),
        )
        .route(
            "/lookout/v1/dashboards/{id}",
            get(dashboards::get)
                .put(dashboards::replace)
                .delete(dashboards::delete),
        )
        .with_state(state.dashboards.clone());
    Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/metrics", get(health::metrics))
        .route("/lookout/v1/openapi.json", get(openapi))
        .route("/", get(ui::root))
        .route("/ui", get(ui::root))
        .route("/ui/", get(ui::app))
        .route("/ui/{*path}", get(ui::path))
        .with_state(state)
        .merge(trace_routes)
        .merge(prom_routes)
        .merge(rule_routes)
        .merge(probe_routes)
        .merge(service_routes)
        .merge(dashboard_routes)
        .fallback(error::not_found)
}

#[cfg(test)]
pub(crate) mod testing {
    use std::path::Path;
    use std::sync::Arc;

    use lookout_storage::{LogIndex, LogIndexConfig, LogSearcher, StorageConfig, Store};

    use crate::{ApiState, QueryConfig, TraceApi};

    pub fn store(dir: &Path) -> Arc<Store> {
        Arc::new(Store::open(dir, &StorageConfig::default()).unwrap())
    }

    /// GETs `uri` from `app`: the status and the JSON body.
    pub async fn get(app: &axum::Router, uri: &str) -> (axum::http::StatusCode, serde_json::Value) {
        use http_body_util::BodyExt;
        use tower::ServiceExt;
        let response = app
            .clone()
            .oneshot(
                axum::http::Request::get(uri)
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!("{uri}: not JSON ({e}): {}", String::from_utf8_lossy(&body))
        });
        (status, json)
    }

    /// The log index of a store made by [`store`], with everything pending indexed.
    pub fn log_index(store: &Store) -> Arc<LogIndex> {
        let index = Arc::new(
            LogIndex::open(&store.path().join("log-index"), &LogIndexConfig::default()).unwrap(),
        );
        lookout_storage::log_index::index_pending(store, &index, true, 1000).unwrap();
        index
    }

    /// An API over `store`, with no readiness checks.
    pub fn state(store: Arc<Store>) -> ApiState {
        let index = log_index(&store);
        let store_for_dashboards = store.clone();
        ApiState {
            checks: Vec::new(),
            metrics: Arc::new(|| ("text/plain".into(), String::new())),
            traces: TraceApi {
                reader: store.clone(),
                search: store.clone(),
                log_streams: store.clone(),
                logs: Arc::new(LogSearcher {
                    store: store.clone(),
                    index,
                }),
                config: QueryConfig::default(),
            },
            prom: crate::PromApi {
                engine: crate::promql::Engine::new(
                    store.clone(),
                    crate::promql::PromqlConfig::default(),
                ),
                reader: store,
            },
            rules: None,
            probes: None,
            service_health: crate::ServiceHealthConfig::default(),
            dashboards: crate::dashboards::Dashboards {
                store: store_for_dashboards,
                provisioned: Arc::new(
                    crate::dashboards::load_files(&Default::default()).unwrap_or_default(),
                ),
            },
        }
    }
}
