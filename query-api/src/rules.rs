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
    /// What a notification about `service` carries for `[from_ms, to_ms]`: its newest error
    /// trace ids and error log lines, and a link (`{"traceIds", "logLines", "links"}`).
    /// Reads storage: call off the executor.
    fn evidence(&self, service: &str, from_ms: i64, to_ms: i64) -> serde_json::Value;
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

/// `GET /lookout/v1/alerts/evidence?service=...&since=1h` (or `start`/`end`).
pub async fn evidence(State(api): State<Rules>, RawQuery(raw): RawQuery) -> Response {
    let Some(api) = api else { return disabled() };
    let p = pairs(raw.as_deref());
    let get = |name: &str| p.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let Some(service) = get("service").filter(|s| !s.is_empty()) else {
        return json(
            StatusCode::BAD_REQUEST,
            serde_json::json!({"error": "missing parameter service"}),
        );
    };
    let window = (|| -> Result<(i64, i64), crate::ApiError> {
        use crate::traces::params;
        let end = match get("end") {
            Some(t) => params::time("end", &t)?,
            None => crate::traces::now_unix_nano(),
        };
        let start = match (get("start"), get("since")) {
            (Some(t), _) => params::time("start", &t)?,
            (None, Some(d)) => end.saturating_sub(params::go_duration("since", &d)?),
            (None, None) => end.saturating_sub(3_600_000_000_000),
        };
        if start >= end {
            return Err(crate::ApiError::bad(
                "malformed parameter start: the start of the time range must be before its end",
            ));
        }
        Ok(((start / 1_000_000) as i64, (end / 1_000_000) as i64))
    })();
    let (from, to) = match window {
        Ok(w) => w,
        Err(e) => return e.into_response(),
    };
    match tokio::task::spawn_blocking(move || api.evidence(&service, from, to)).await {
        Ok(evidence) => json(StatusCode::OK, evidence),
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
