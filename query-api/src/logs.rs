//! Lookout's own log endpoints under `/lookout/v1`: search (full text, fields, severity,
//! time range, order, cursor) and the logs of a trace.

use axum::extract::{Path, RawQuery, State};
use axum::Json;
use lookout_storage::{FoundLog, LogKey, LogQuery};
use serde_json::json;

use crate::traces::analysis::{attributes_json, value_json};
use crate::traces::params::{self, get};
use crate::traces::{blocking, lookout::window, TraceApi};
use crate::ApiError;

/// The most records one page may hold.
const MAX_LIMIT: usize = 5000;
/// The most records returned for one trace.
const MAX_TRACE_LOGS: usize = 10_000;

/// OTLP severity numbers of the level names (the lowest number of each range).
fn severity(name: &str, text: &str) -> Result<u64, ApiError> {
    let number = match text.trim().to_ascii_lowercase().as_str() {
        "trace" => 1,
        "debug" => 5,
        "info" => 9,
        "warn" | "warning" => 13,
        "error" => 17,
        "fatal" | "critical" => 21,
        n => n.parse::<u64>().ok().filter(|n| (1..=24).contains(n)).ok_or_else(|| {
            ApiError::bad(format!(
                "malformed parameter {name}: {text:?} is not a severity (trace, debug, info, warn, error, fatal, or 1 to 24)"
            ))
        })?,
    };
    Ok(number)
}

fn cursor(name: &str, text: &str) -> Result<LogKey, ApiError> {
    let bad = || {
        ApiError::bad(format!(
            "malformed parameter {name}: {text:?} is not a cursor from a previous page"
        ))
    };
    let (time, seq) = text.split_once('-').ok_or_else(bad)?;
    Ok(LogKey {
        time_unix_nano: time.parse().map_err(|_| bad())?,
        seq: seq.parse().map_err(|_| bad())?,
    })
}

pub(crate) fn log_json(found: &FoundLog) -> serde_json::Value {
    let r = &found.log.record;
    json!({
        "time": params::format_rfc3339(found.log.time_unix_nano),
        "timeUnixNano": found.log.time_unix_nano.to_string(),
        "severity": r.severity_text,
        "severityNumber": r.severity_number,
        "service": found.log.resource.service_name().unwrap_or(lookout_storage::trace_index::UNKNOWN_SERVICE),
        "body": value_json(r.body.as_ref()),
        "attributes": attributes_json(&r.attributes),
        "resource": attributes_json(&found.log.resource.attributes),
        "scope": {"name": found.log.scope.name, "version": found.log.scope.version},
        "traceId": const_hex::encode(&r.trace_id),
        "spanId": const_hex::encode(&r.span_id),
    })
}

fn search_params(api: &TraceApi, pairs: &[(String, String)]) -> Result<LogQuery, ApiError> {
    let (start, end) = window(api, pairs)?;
    let limit = match get(pairs, &["limit"]) {
        Some(l) => params::integer::<usize>("limit", l)?,
        None => 100,
    };
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad(format!(
            "malformed parameter limit: must be 1 to {MAX_LIMIT}"
        )));
    }
    let oldest_first = match get(pairs, &["order", "direction"]) {
        None | Some("newest") | Some("backward") => false,
        Some("oldest") | Some("forward") => true,
        Some(other) => {
            return Err(ApiError::bad(format!(
                "malformed parameter order: {other:?} is not newest or oldest"
            )))
        }
    };
    Ok(LogQuery {
        query: get(pairs, &["query", "q"]).unwrap_or_default().to_string(),
        start_unix_nano: start,
        end_unix_nano: end,
        min_severity_number: get(pairs, &["min_severity", "severity"])
            .map(|s| severity("min_severity", s))
            .transpose()?,
        service: get(pairs, &["service"]).map(str::to_string),
        trace_id: get(pairs, &["trace_id", "traceId"])
            .map(|t| params::trace_id("trace_id", t).map(|id| id.to_hex()))
            .transpose()?,
        limit,
        oldest_first,
        after: get(pairs, &["cursor"])
            .map(|c| cursor("cursor", c))
            .transpose()?,
    })
}

fn run(api: &TraceApi, query: &LogQuery) -> Result<(Vec<FoundLog>, bool), ApiError> {
    api.logs
        .search_logs(query)?
        .map_err(|e| ApiError::bad(format!("malformed parameter {e}")))
}

pub async fn search(
    State(api): State<TraceApi>,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, ApiError> {
    let pairs = params::pairs(query.as_deref());
    let (found, more) = blocking(move || {
        let query = search_params(&api, &pairs)?;
        run(&api, &query)
    })
    .await?;
    let next = more
        .then(|| {
            found
                .last()
                .map(|f| format!("{}-{}", f.key.time_unix_nano, f.key.seq))
        })
        .flatten();
    Ok(Json(json!({
        "logs": found.iter().map(log_json).collect::<Vec<_>>(),
        "nextCursor": next,
    })))
}

/// Every record of a trace (up to 10 000), oldest first, whatever its age.
pub(crate) fn trace_logs(
    api: &TraceApi,
    trace_hex: &str,
) -> Result<(Vec<FoundLog>, bool), ApiError> {
    run(
        api,
        &LogQuery {
            start_unix_nano: 0,
            end_unix_nano: u64::MAX,
            trace_id: Some(trace_hex.to_string()),
            limit: MAX_TRACE_LOGS,
            oldest_first: true,
            ..Default::default()
        },
    )
}

pub async fn of_trace(
    State(api): State<TraceApi>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let trace_id = params::trace_id("trace_id", &id)?;
    let (found, more) = blocking(move || trace_logs(&api, &trace_id.to_hex())).await?;
    Ok(Json(json!({
        "traceId": trace_id.to_hex(),
        "logs": found.iter().map(log_json).collect::<Vec<_>>(),
        "truncated": more,
    })))
}
