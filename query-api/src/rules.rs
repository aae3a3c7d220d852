//! Prometheus's `/api/v1/rules` and `/api/v1/alerts` (so Grafana's alert list works),
//! Lookout's alert history (`/lookout/v1/alerts/history`) and `POST /-/reload`. The alerting
//! side is behind [`RulesApi`], which the binary implements.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::traces::params::pairs;

/// What the API asks the alerting side. Contract: answers are Prometheus's `data` objects.
pub trait RulesApi: Send + Sync {
    /// `/api/v1/rules` data, filtered by `type` (`alert`/`record`), `rule_name[]`,
    /// `rule_group[]`, `file[]`.
    fn rules(
        &self,
        kind: Option<&str>,
        rules: &[String],
        groups: &[String],
        files: &[String],
    ) -> serde_json::Value;
    /// `/api/v1/alerts` data.
    fn alerts(&self) -> serde_json::Value;
    /// State changes in `[from_ms, to_ms]`, newest first.
    fn history(&self, from_ms: i64, to_ms: i64, limit: usize) -> Result<serde_json::Value, String>;
    /// Re-reads the rule files: the number of rules, or every problem (old rules kept).
    fn reload(&self) -> Result<usize, Vec<String>>;
}

/// The alerting side, when alerting is on.
pub type Rules = Option<Arc<dyn RulesApi>>;

fn json(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn disabled() -> Response {
    json(
        StatusCode::SERVICE_UNAVAILABLE,
        serde_json::json!({"status": "error", "errorType": "unavailable", "error": "alerting is disabled (alerting.enabled: false)"}),
    )
}

pub async fn rules(State(api): State<Rules>, RawQuery(raw): RawQuery) -> Response {
    let Some(api) = api else { return disabled() };
    let p = pairs(raw.as_deref());
    let all = |name: &str| -> Vec<String> {
        p.iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let kind = p.iter().find(|(k, _)| k == "type").map(|(_, v)| v.as_str());
    if let Some(k) = kind {
        if k != "alert" && k != "record" {
            return json(
                StatusCode::BAD_REQUEST,
                serde_json::json!({"status": "error", "errorType": "bad_data", "error": format!("invalid parameter \"type\": {k:?} is not \"alert\" or \"record\"")}),
            );
        }
    }
    let data = api.rules(
        kind,
        &all("rule_name[]"),
        &all("rule_group[]"),
        &all("file[]"),
    );
    json(
        StatusCode::OK,
        serde_json::json!({"status": "success", "data": data}),
    )
}

pub async fn alerts(State(api): State<Rules>) -> Response {
    let Some(api) = api else { return disabled() };
    json(
        StatusCode::OK,
        serde_json::json!({"status": "success", "data": api.alerts()}),
    )
}

pub async fn history(State(api): State<Rules>, RawQuery(raw): RawQuery) -> Response {
    let Some(api) = api else { return disabled() };
    let p = pairs(raw.as_deref());
    let now = (crate::traces::now_unix_nano() / 1_000_000) as i64;
    let get = |name: &str| p.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let since = match get("since") {
        None => 24 * 3_600_000,
        Some(s) => match crate::traces::params::go_duration("since", &s) {
            Ok(ns) => (ns / 1_000_000) as i64,
            Err(e) => return e.into_response(),
        },
    };
    let limit = match get("limit").map(|l| l.parse::<usize>()) {
        None => 1000,
        Some(Ok(l)) if l > 0 && l <= 10_000 => l,
        Some(_) => {
            return json(
                StatusCode::BAD_REQUEST,
                serde_json::json!({"error": "invalid parameter \"limit\": must be an integer from 1 to 10000"}),
            )
        }
    };
    // The history is read from storage: off the executor.
    match tokio::task::spawn_blocking(move || api.history(now - since, now, limit)).await {
        Ok(Ok(changes)) => json(StatusCode::OK, serde_json::json!({"changes": changes})),
        Ok(Err(e)) => json(
            StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::json!({"error": e}),
        ),
        Err(e) => json(
            StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::json!({"error": e.to_string()}),
        ),
    }
}

pub async fn reload(State(api): State<Rules>) -> Response {
    let Some(api) = api else { return disabled() };
    match tokio::task::spawn_blocking(move || api.reload()).await {
        Ok(Ok(n)) => json(
            StatusCode::OK,
            serde_json::json!({"status": "success", "rules": n}),
        ),
        Ok(Err(problems)) => json(
            StatusCode::BAD_REQUEST,
            serde_json::json!({"status": "error", "error": "rule files have problems; the previous rules keep running", "problems": problems}),
        ),
        Err(e) => json(
            StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::json!({"status": "error", "error": e.to_string()}),
        ),
    }
}
