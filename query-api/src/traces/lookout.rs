//! Lookout's own trace endpoints under `/lookout/v1` (described in `openapi.json`): the trace
//! tree, a richer search, the service map and error groups.

use axum::extract::{Path, RawQuery, State};
use axum::Json;
use lookout_storage::TraceQuery;
use serde_json::json;

use super::analysis;
use super::params::{self, get};
use super::{blocking, find_with, now_unix_nano, Search, TraceApi};
use crate::ApiError;

const HOUR_NS: u64 = 3_600_000_000_000;

/// `start`/`end` (RFC 3339 or Unix seconds), default the last hour.
pub(crate) fn window(api: &TraceApi, pairs: &[(String, String)]) -> Result<(u64, u64), ApiError> {
    let end = get(pairs, &["end"])
        .map(|t| params::time("end", t))
        .transpose()?
        .unwrap_or_else(now_unix_nano);
    let start = match get(pairs, &["start"]) {
        Some(t) => params::time("start", t)?,
        None => match get(pairs, &["since"]) {
            Some(d) => end.saturating_sub(params::go_duration("since", d)?),
            None => end.saturating_sub(HOUR_NS),
        },
    };
    let range = api.window(start, end, "start")?;
    Ok((range.start_unix_nano, range.end_unix_nano))
}

pub async fn trace_tree(
    State(api): State<TraceApi>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let trace_id = params::trace_id("trace_id", &id)?;
    let tree = blocking(move || {
        let Some(trace) = api.load(&trace_id)? else {
            return Ok(None);
        };
        let (logs, _) = crate::logs::trace_logs(&api, &trace_id.to_hex())?;
        let mut counts = std::collections::HashMap::new();
        for log in &logs {
            *counts
                .entry(const_hex::encode(&log.log.record.span_id))
                .or_insert(0) += 1;
        }
        Ok(Some(analysis::tree(&trace, &counts)))
    })
    .await?;
    tree.map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("trace not found: {}", trace_id.to_hex())))
}

fn search_params(api: &TraceApi, pairs: &[(String, String)]) -> Result<Search, ApiError> {
    let (start, end) = window(api, pairs)?;
    let limit = match get(pairs, &["limit"]) {
        Some(l) => api.limit("limit", params::integer("limit", l)?)?,
        None => 20,
    };
    let mut query = TraceQuery::new(
        lookout_storage::TimeRange {
            start_unix_nano: start,
            end_unix_nano: end,
        },
        limit,
    );
    query.deadline = Some(api.deadline());
    query.service = get(pairs, &["service"]).map(str::to_string);
    query.operation = get(pairs, &["operation"]).map(str::to_string);
    query.span_kind = get(pairs, &["kind"])
        .map(|k| params::kind("kind", k))
        .transpose()?;
    query.status = get(pairs, &["status"])
        .map(|s| params::status("status", s))
        .transpose()?;
    for (k, v) in pairs {
        if k == "attr" && !v.is_empty() {
            query.attributes.push(params::key_value("attr", v, '=')?);
        }
    }
    if let Some(attrs) = get(pairs, &["attributes"]) {
        query
            .attributes
            .extend(params::json_map("attributes", attrs)?);
    }
    for (name, slot) in [
        ("minDuration", &mut query.min_duration_ns),
        ("maxDuration", &mut query.max_duration_ns),
    ] {
        *slot = get(pairs, &[name])
            .map(|d| params::go_duration(name, d))
            .transpose()?;
    }
    if let (Some(min), Some(max)) = (query.min_duration_ns, query.max_duration_ns) {
        if max < min {
            return Err(ApiError::bad(
                "malformed parameter maxDuration: must not be less than minDuration",
            ));
        }
    }
    Ok(Search {
        query,
        service_param: "service".into(),
        root_service: get(pairs, &["rootService"]).map(str::to_string),
        root_operation: get(pairs, &["rootOperation"]).map(str::to_string),
    })
}

pub async fn search(
    State(api): State<TraceApi>,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, ApiError> {
    let traces = find_with(api, query, search_params).await?;
    let results: Vec<_> = traces
        .iter()
        .map(|t| {
            let s = analysis::summary(t);
            json!({
                "traceId": s.trace_id,
                "rootService": s.root_service,
                "rootName": s.root_operation,
                "startTime": params::format_rfc3339(s.start_unix_nano),
                "startTimeUnixNano": s.start_unix_nano.to_string(),
                "durationMs": s.end_unix_nano.saturating_sub(s.start_unix_nano) as f64 / 1e6,
                "spanCount": s.span_count,
                "errorCount": s.error_count,
                "services": s.services,
                "warnings": t.warnings,
            })
        })
        .collect();
    Ok(Json(json!({ "traces": results })))
}

pub async fn service_map(
    State(api): State<TraceApi>,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, ApiError> {
    let pairs = params::pairs(query.as_deref());
    let (start, end) = window(&api, &pairs)?;
    let graph = blocking(move || {
        let range = lookout_storage::TimeRange {
            start_unix_nano: start,
            end_unix_nano: end,
        };
        Ok(api.search.service_graph(range, Some(api.deadline()))?)
    })
    .await?;
    let mut body = analysis::service_map_json(&graph, (end - start) as f64 / 1e9);
    body["start"] = json!(params::format_rfc3339(start));
    body["end"] = json!(params::format_rfc3339(end));
    Ok(Json(body))
}

pub async fn errors(
    State(api): State<TraceApi>,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, ApiError> {
    let pairs = params::pairs(query.as_deref());
    let (start, end) = window(&api, &pairs)?;
    let by_recency = match get(&pairs, &["sort"]) {
        None | Some("count") => false,
        Some("recent") => true,
        Some(other) => {
            return Err(ApiError::bad(format!(
                "malformed parameter sort: {other:?} is not count or recent"
            )))
        }
    };
    let limit = match get(&pairs, &["limit"]) {
        Some(l) => params::integer::<usize>("limit", l)?.max(1),
        None => 100,
    };
    let service = get(&pairs, &["service"]).map(str::to_string);
    let buckets = match get(&pairs, &["buckets"]) {
        Some(n) => {
            let count = params::integer::<usize>("buckets", n)?;
            if !(1..=1000).contains(&count) {
                return Err(ApiError::bad(
                    "malformed parameter buckets: must be 1 to 1000",
                ));
            }
            Some(analysis::Buckets {
                start_unix_nano: start,
                width: (end - start).div_ceil(count as u64),
                count,
            })
        }
        None => None,
    };
    let max = api.config.max_error_spans;
    let (mut groups, truncated) = blocking(move || {
        if let Some(s) = &service {
            api.known_service("service", s)?;
        }
        let range = lookout_storage::TimeRange {
            start_unix_nano: start,
            end_unix_nano: end,
        };
        let spans = api
            .search
            .error_spans(service.as_deref(), range, max, Some(api.deadline()))?;
        let truncated = spans.len() >= max;
        Ok((
            analysis::error_groups(&spans, by_recency, buckets),
            truncated,
        ))
    })
    .await?;
    groups.truncate(limit);
    Ok(Json(json!({
        "start": params::format_rfc3339(start),
        "end": params::format_rfc3339(end),
        "truncated": truncated,
        "groups": groups,
    })))
}
