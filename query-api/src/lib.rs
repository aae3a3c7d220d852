//! Lookout's HTTP API on the API port: liveness (`/health`), readiness with component checks
//! (`/ready`) and Lookout's own metrics (`/metrics`). The query dialects (Jaeger, Prometheus,
//! Loki) and Lookout's own query endpoints are added here as they are built.

mod error;
mod health;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;

pub use error::ApiError;
pub use health::{CheckResult, CheckStatus, ReadinessCheck};

/// Renders Lookout's own metrics: the content type and the exposition text.
pub type MetricsRenderer = Arc<dyn Fn() -> (String, String) + Send + Sync>;

/// What the HTTP API needs from the rest of Lookout.
#[derive(Clone)]
pub struct ApiState {
    pub checks: Vec<Arc<dyn ReadinessCheck>>,
    pub metrics: MetricsRenderer,
}

/// The HTTP API routes.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/metrics", get(health::metrics))
        .fallback(error::not_found)
        .with_state(state)
}
