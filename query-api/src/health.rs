use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::ApiState;

/// The state of one component, or of Lookout as a whole (the worst of its components).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Healthy,
    Degraded,
    Unhealthy,
}

/// The result of one check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckResult {
    pub status: CheckStatus,
    pub details: String,
}

/// One component's readiness check, run on every `GET /ready`.
///
/// Contract: `check` may block (it runs on a blocking thread) but must finish quickly, and
/// reports problems in its result rather than panicking.
pub trait ReadinessCheck: Send + Sync {
    fn name(&self) -> &'static str;
    fn check(&self) -> CheckResult;
}

#[derive(Serialize)]
struct CheckReport {
    status: CheckStatus,
    details: String,
    duration_ms: f64,
}

#[derive(Serialize)]
struct ReadyReport {
    status: CheckStatus,
    checks: BTreeMap<&'static str, CheckReport>,
}

pub(crate) async fn health() -> &'static str {
    "ok\n"
}

pub(crate) async fn ready(State(state): State<ApiState>) -> Response {
    let mut checks = BTreeMap::new();
    for check in &state.checks {
        let check = Arc::clone(check);
        let name = check.name();
        let started = Instant::now();
        let result = tokio::task::spawn_blocking(move || check.check())
            .await
            .unwrap_or_else(|e| CheckResult {
                status: CheckStatus::Unhealthy,
                details: format!("check failed: {e}"),
            });
        checks.insert(
            name,
            CheckReport {
                status: result.status,
                details: result.details,
                duration_ms: started.elapsed().as_secs_f64() * 1000.0,
            },
        );
    }
    let status = checks
        .values()
        .map(|c| c.status)
        .max()
        .unwrap_or(CheckStatus::Healthy);
    let code = if status == CheckStatus::Unhealthy {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (code, Json(ReadyReport { status, checks })).into_response()
}

pub(crate) async fn metrics(State(state): State<ApiState>) -> Response {
    // Rendering reads /proc and walks the data directory: keep it off the async workers.
    let render = state.metrics.clone();
    let Ok((content_type, body)) = tokio::task::spawn_blocking(move || render()).await else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "rendering metrics failed\n",
        )
            .into_response();
    };
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    struct Fixed(&'static str, CheckStatus);

    impl ReadinessCheck for Fixed {
        fn name(&self) -> &'static str {
            self.0
        }
        fn check(&self) -> CheckResult {
            CheckResult {
                status: self.1,
                details: "fixed".into(),
            }
        }
    }

    async fn get_ready(checks: Vec<Arc<dyn ReadinessCheck>>) -> (StatusCode, serde_json::Value) {
        let dir = tempfile::tempdir().unwrap();
        let mut state = crate::testing::state(crate::testing::store(dir.path()));
        state.checks = checks;
        let response = crate::router(state)
            .oneshot(Request::get("/ready").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn ready_reports_the_worst_component() {
        let (status, body) = get_ready(vec![
            Arc::new(Fixed("storage", CheckStatus::Healthy)),
            Arc::new(Fixed("disk", CheckStatus::Degraded)),
        ])
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["status"], "degraded");
        assert_eq!(body["checks"]["disk"]["status"], "degraded");
        assert_eq!(body["checks"]["storage"]["details"], "fixed");
        assert!(body["checks"]["storage"]["duration_ms"].is_number());

        let (status, body) =
            get_ready(vec![Arc::new(Fixed("storage", CheckStatus::Unhealthy))]).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["status"], "unhealthy");
    }
}
