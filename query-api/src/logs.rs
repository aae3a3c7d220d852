//! Lookout's own log endpoints under `/lookout/v1`: search (full text, fields, severity,
//! time range, order, cursor) and the logs of a trace.

use axum::extract::{Path, RawQuery, State};
use axum::Json;
use std::collections::{BTreeMap, HashMap};

use lookout_storage::{FoundLog, LogKey, LogQuery, VolumeBy};
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
        level: get(pairs, &["level"]).map(str::to_ascii_lowercase),
        trace_id: get(pairs, &["trace_id", "traceId"])
            .map(|t| params::trace_id("trace_id", t).map(|id| id.to_hex()))
            .transpose()?,
        limit,
        oldest_first,
        after: get(pairs, &["cursor"])
            .map(|c| cursor("cursor", c))
            .transpose()?,
        deadline: Some(api.deadline()),
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

/// Buckets a volume answer may have at most.
const MAX_BUCKETS: u64 = 2000;
/// Records the field lists are computed over.
const FIELDS_SAMPLE: usize = 10_000;

/// Counts of matching records over time, for the dashboard's histogram: `step` (a duration) or
/// `buckets` (default 60) over the window, optionally split by `by=severity` or `by=service`.
pub async fn volume(
    State(api): State<TraceApi>,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, ApiError> {
    let pairs = params::pairs(query.as_deref());
    let answer = blocking(move || {
        let query = search_params(&api, &pairs)?;
        let span = query.end_unix_nano - query.start_unix_nano;
        let step = match (get(&pairs, &["step"]), get(&pairs, &["buckets"])) {
            (Some(s), _) => params::go_duration("step", s)?,
            (None, Some(b)) => {
                let n: u64 = params::integer("buckets", b)?;
                if n == 0 || n > MAX_BUCKETS {
                    return Err(ApiError::bad(format!(
                        "malformed parameter buckets: must be 1 to {MAX_BUCKETS}"
                    )));
                }
                span.div_ceil(n)
            }
            (None, None) => span.div_ceil(60),
        };
        if step == 0 || span / step > MAX_BUCKETS {
            return Err(ApiError::bad(format!(
                "malformed parameter step: the window would have more than {MAX_BUCKETS} buckets"
            )));
        }
        let by = match get(&pairs, &["by"]) {
            None => VolumeBy::Nothing,
            Some("severity") | Some("level") => VolumeBy::Severity,
            Some("service") => VolumeBy::Service,
            Some(other) => {
                return Err(ApiError::bad(format!(
                    "malformed parameter by: {other:?} is not severity or service"
                )))
            }
        };
        let counts = api
            .logs
            .log_volume(&query, step, by)?
            .map_err(|e| ApiError::bad(format!("malformed parameter {e}")))?;
        let buckets = span.div_ceil(step);
        let mut per_bucket: Vec<BTreeMap<String, u64>> = vec![BTreeMap::new(); buckets as usize];
        for ((bucket, group), n) in counts {
            if let Some(b) = per_bucket.get_mut(bucket as usize) {
                *b.entry(group).or_insert(0) += n;
            }
        }
        let list: Vec<serde_json::Value> = per_bucket
            .into_iter()
            .enumerate()
            .map(|(i, groups)| {
                let start = query.start_unix_nano + i as u64 * step;
                let mut bucket = json!({
                    "start": params::format_rfc3339(start),
                    "startUnixNano": start.to_string(),
                    "count": groups.values().sum::<u64>(),
                });
                if by != VolumeBy::Nothing {
                    bucket["by"] = json!(groups);
                }
                bucket
            })
            .collect();
        Ok(json!({"stepSeconds": step as f64 / 1e9, "buckets": list}))
    })
    .await?;
    Ok(Json(answer))
}

/// The attribute keys of the newest matching records (up to 10 000), with how many records
/// have each; with `key`, the most frequent values of that key instead.
pub async fn fields(
    State(api): State<TraceApi>,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, ApiError> {
    let pairs = params::pairs(query.as_deref());
    let answer = blocking(move || {
        let mut query = search_params(&api, &pairs)?;
        query.limit = FIELDS_SAMPLE;
        let top = match get(&pairs, &["top"]) {
            Some(t) => params::integer::<usize>("top", t)?.max(1),
            None => 20,
        };
        let key = get(&pairs, &["key"]).map(str::to_string);
        let (found, more) = run(&api, &query)?;
        let mut counts: HashMap<String, u64> = HashMap::new();
        let mut text = String::new();
        for f in &found {
            for kv in f.log.resource.attributes.iter().chain(&f.log.record.attributes) {
                match &key {
                    None => *counts.entry(kv.key.clone()).or_insert(0) += 1,
                    Some(k) if *k == kv.key => {
                        text.clear();
                        if let serde_json::Value::String(s) = value_json(kv.value.as_ref()) {
                            text.push_str(&s);
                        } else {
                            text.push_str(&value_json(kv.value.as_ref()).to_string());
                        }
                        *counts.entry(text.clone()).or_insert(0) += 1;
                    }
                    Some(_) => {}
                }
            }
        }
        let mut list: Vec<(String, u64)> = counts.into_iter().collect();
        list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        if key.is_some() {
            list.truncate(top);
        }
        let name = if key.is_some() { "value" } else { "key" };
        Ok(json!({
            "sampled": found.len(),
            "sampleIsAll": !more,
            "key": key,
            "fields": list.into_iter().map(|(k, n)| json!({name: k, "count": n})).collect::<Vec<_>>(),
        }))
    })
    .await?;
    Ok(Json(answer))
}
