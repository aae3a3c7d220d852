//! `GET /lookout/v1/probes`: the latest result of every configured probe. The probes run in
//! the collector; the binary hands their results over through [`ProbesApi`].

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

/// What the API asks the probe side. Contract: `latest` answers at once (no I/O), with one
/// JSON object per probe as `openapi.json` describes `ProbeResult`, ordered by probe name.
pub trait ProbesApi: Send + Sync {
    fn latest(&self) -> Vec<serde_json::Value>;
}

/// The probe side (`None`: no probes are run, and the list is empty).
pub type Probes = Option<Arc<dyn ProbesApi>>;

pub async fn list(State(probes): State<Probes>) -> Response {
    let latest = probes.map(|p| p.latest()).unwrap_or_default();
    (
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({ "probes": latest }).to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::get;

    struct Fixed;

    impl ProbesApi for Fixed {
        fn latest(&self) -> Vec<serde_json::Value> {
            vec![serde_json::json!({"probe": "web", "success": true})]
        }
    }

    #[tokio::test]
    async fn lists_the_latest_results() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = crate::testing::state(crate::testing::store(dir.path()));
        let app = crate::router(state.clone());
        let (status, body) = get(&app, "/lookout/v1/probes").await;
        assert_eq!(status, 200);
        assert_eq!(body, serde_json::json!({"probes": []}));
        state.probes = Some(Arc::new(Fixed));
        let app = crate::router(state);
        let (status, body) = get(&app, "/lookout/v1/probes").await;
        assert_eq!(status, 200);
        assert_eq!(body["probes"][0]["probe"], "web");
    }
}
