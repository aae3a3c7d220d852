//! Loki's query API (`../shared/reference/loki-api.md`) over Lookout's logs, for Grafana's Loki
//! data source and LogQL scripts: `query_range`, `query`, `labels`, `label/<name>/values`,
//! `series`, `index/stats`.
//!
//! Labels follow Loki's own OTLP mapping: `service_name`, `level`, and the resource attributes
//! Loki makes labels by default (dots become underscores); the other resource attributes, the
//! record's attributes and `trace_id`/`span_id` are structured metadata, which label filters
//! (`| trace_id="..."`) see but which do not split streams.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use lookout_proto::model::Resource;
use lookout_storage::{log_level, FoundLog, LogQuery, TimeRange};
use serde_json::{json, Value};

use crate::logql::{self, AggOp, Expr, LogExpr, MatchOp, MetricExpr, RangeFn, Stage};
use crate::traces::analysis::value_json;
use crate::traces::params::{self, get};
use crate::traces::{blocking, now_unix_nano, TraceApi};
use crate::ApiError;

/// Resource attributes that Loki's OTLP ingestion makes stream labels by default.
const LABEL_ATTRIBUTES: [&str; 17] = [
    "cloud.availability_zone",
    "cloud.region",
    "container.name",
    "deployment.environment",
    "k8s.cluster.name",
    "k8s.container.name",
    "k8s.cronjob.name",
    "k8s.daemonset.name",
    "k8s.deployment.name",
    "k8s.job.name",
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.replicaset.name",
    "k8s.statefulset.name",
    "service.instance.id",
    "service.name",
    "service.namespace",
];
/// Records one query may read at most (a 400 past it: narrow the selector or the range).
const MAX_RECORDS_READ: usize = 1_000_000;
/// Records read from the index at a time.
const PAGE: usize = 5000;

/// A Loki error: `{"status":"error","errorType":...,"error":...}` with the HTTP status.
pub struct LokiError(ApiError);

impl From<ApiError> for LokiError {
    fn from(e: ApiError) -> Self {
        LokiError(e)
    }
}

impl IntoResponse for LokiError {
    fn into_response(self) -> Response {
        let status = self.0.http_status();
        let kind = match status {
            StatusCode::BAD_REQUEST => "bad_data",
            StatusCode::SERVICE_UNAVAILABLE => "unavailable",
            _ => "internal",
        };
        let message = self.0.to_string();
        (
            status,
            Json(
                json!({"status": "error", "errorType": kind, "error": message, "message": message}),
            ),
        )
            .into_response()
    }
}

type Labels = BTreeMap<String, String>;

fn label_name(key: &str) -> String {
    key.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// The stream labels of a resource and level.
fn stream_labels(resource: &Resource, level: &str) -> Labels {
    let mut labels = Labels::new();
    for kv in &resource.attributes {
        if LABEL_ATTRIBUTES.contains(&kv.key.as_str()) {
            labels.insert(label_name(&kv.key), text(kv.value.as_ref()));
        }
    }
    labels
        .entry("service_name".into())
        .or_insert_with(|| lookout_storage::trace_index::UNKNOWN_SERVICE.into());
    labels.insert("level".into(), level.to_string());
    labels
}

fn text(value: Option<&lookout_proto::otlp::common::v1::AnyValue>) -> String {
    match value_json(value) {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// One record as LogQL sees it: its line, stream labels and all labels (stream, structured
/// metadata and parsed).
struct Entry {
    time: u64,
    line: String,
    stream: Labels,
}

/// Evaluates the pipeline on a record; `None` when filtered out.
fn evaluate(
    expr: &LogExpr,
    found: &FoundLog,
    streams: &mut HashMap<(usize, String), Labels>,
) -> Option<Entry> {
    let log = &found.log;
    let r = &log.record;
    let level = log_level(&r.severity_text, r.severity_number);
    let key = (Arc::as_ptr(&log.resource) as usize, level.to_string());
    let stream = streams
        .entry(key)
        .or_insert_with(|| stream_labels(&log.resource, level))
        .clone();
    if !expr
        .matchers
        .iter()
        .all(|m| m.matches(stream.get(&m.name).map(String::as_str)))
    {
        return None;
    }
    let line = text(r.body.as_ref());
    let mut labels: Option<Labels> = None;
    let mut parsed = Labels::new();
    let all = |parsed: &Labels| {
        let mut all = stream.clone();
        for kv in log.resource.attributes.iter().chain(&r.attributes) {
            all.entry(label_name(&kv.key))
                .or_insert_with(|| text(kv.value.as_ref()));
        }
        if !r.trace_id.is_empty() {
            all.insert("trace_id".into(), const_hex::encode(&r.trace_id));
        }
        if !r.span_id.is_empty() {
            all.insert("span_id".into(), const_hex::encode(&r.span_id));
        }
        all.extend(parsed.iter().map(|(k, v)| (k.clone(), v.clone())));
        all
    };
    for stage in &expr.stages {
        match stage {
            Stage::Line {
                negate,
                text,
                regex,
            } => {
                let hit = match regex {
                    Some(re) => re.is_match(&line),
                    None => line.contains(text.as_str()),
                };
                if hit == *negate {
                    return None;
                }
            }
            Stage::Json => {
                if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&line) {
                    flatten_json("", &map, &mut parsed);
                }
                labels = None;
            }
            Stage::Logfmt => {
                parse_logfmt(&line, &mut parsed);
                labels = None;
            }
            Stage::Label(filter) => {
                let current = labels.get_or_insert_with(|| all(&parsed));
                if !filter.matches(current.get(&filter.name).map(String::as_str)) {
                    return None;
                }
            }
        }
    }
    let mut stream = stream;
    stream.extend(parsed);
    Some(Entry {
        time: log.time_unix_nano,
        line,
        stream,
    })
}

fn flatten_json(prefix: &str, map: &serde_json::Map<String, Value>, out: &mut Labels) {
    for (k, v) in map {
        let name = if prefix.is_empty() {
            label_name(k)
        } else {
            format!("{prefix}_{}", label_name(k))
        };
        match v {
            Value::Object(inner) => flatten_json(&name, inner, out),
            Value::String(s) => {
                out.insert(name, s.clone());
            }
            Value::Null => {}
            other => {
                out.insert(name, other.to_string());
            }
        }
    }
}

fn parse_logfmt(line: &str, out: &mut Labels) {
    let mut rest = line.trim_start();
    while !rest.is_empty() {
        let key_end = rest
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(rest.len());
        let key = &rest[..key_end];
        rest = &rest[key_end..];
        let value = if let Some(after) = rest.strip_prefix('=') {
            if let Some(quoted) = after.strip_prefix('"') {
                let end = quoted.find('"').unwrap_or(quoted.len());
                rest = quoted.get(end + 1..).unwrap_or("");
                quoted[..end].to_string()
            } else {
                let end = after.find(char::is_whitespace).unwrap_or(after.len());
                rest = &after[end..];
                after[..end].to_string()
            }
        } else {
            String::new()
        };
        if !key.is_empty() {
            out.insert(label_name(key), value);
        }
        rest = rest.trim_start();
    }
}

/// Reads every record of `range` that the selector could match, in order, and calls `each`
/// with those the whole pipeline keeps, until it returns false.
fn scan(
    api: &TraceApi,
    expr: &LogExpr,
    range: TimeRange,
    oldest_first: bool,
    mut each: impl FnMut(Entry) -> bool,
) -> Result<(), ApiError> {
    let service = expr
        .matchers
        .iter()
        .find(|m| m.name == "service_name" && m.op == MatchOp::Eq)
        .map(|m| m.value.clone());
    let mut query = LogQuery {
        start_unix_nano: range.start_unix_nano,
        end_unix_nano: range.end_unix_nano,
        service,
        limit: PAGE,
        oldest_first,
        ..Default::default()
    };
    let deadline = api.deadline();
    let mut streams = HashMap::new();
    let mut read = 0;
    loop {
        let (page, more) = api
            .logs
            .search_logs(&query)?
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        read += page.len();
        for found in &page {
            if let Some(entry) = evaluate(expr, found, &mut streams) {
                if !each(entry) {
                    return Ok(());
                }
            }
        }
        if !more {
            return Ok(());
        }
        if read >= MAX_RECORDS_READ {
            return Err(ApiError::bad(format!(
                "the query would read more than {MAX_RECORDS_READ} log records: narrow the stream selector or the time range"
            )));
        }
        if lookout_storage::cancel::expired(Some(deadline)) {
            return Err(ApiError::Unavailable(
                "query ran past its time limit (query.timeout): narrow the stream selector or the time range".into(),
            ));
        }
        query.after = page.last().map(|f| f.key);
    }
}

/// Loki times: nanoseconds, or RFC 3339 (also seconds with a fraction, as Grafana may send).
fn loki_time(name: &str, text: &str) -> Result<u64, ApiError> {
    let t = text.trim();
    if let Ok(n) = t.parse::<u64>() {
        // Loki takes integers as nanoseconds; small ones are seconds (as from Grafana).
        return Ok(if n < 100_000_000_000 {
            n * 1_000_000_000
        } else {
            n
        });
    }
    params::time(name, t)
}

fn step_ns(text: &str) -> Result<u64, ApiError> {
    let ns = match text.trim().parse::<f64>() {
        Ok(seconds) if seconds > 0.0 && seconds.is_finite() => (seconds * 1e9) as u64,
        Ok(_) => 0,
        Err(_) => params::go_duration("step", text)?,
    };
    if ns == 0 {
        return Err(ApiError::bad(
            "malformed parameter step: must be greater than 0",
        ));
    }
    Ok(ns)
}

/// The request's parameters, from the query string and a form body.
fn all_pairs(query: Option<String>, body: &[u8]) -> Vec<(String, String)> {
    let mut pairs = params::pairs(query.as_deref());
    pairs.extend(form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())));
    pairs
}

fn parse_query(pairs: &[(String, String)]) -> Result<Expr, ApiError> {
    let text =
        get(pairs, &["query"]).ok_or_else(|| ApiError::bad("parameter query is required"))?;
    logql::parse(text).map_err(|e| ApiError::bad(e.to_string()))
}

fn limit(pairs: &[(String, String)]) -> Result<usize, ApiError> {
    match get(pairs, &["limit"]) {
        Some(l) => match params::integer::<usize>("limit", l)? {
            0 => Ok(100),
            n if n > 50_000 => Err(ApiError::bad("malformed parameter limit: at most 50000")),
            n => Ok(n),
        },
        None => Ok(100),
    }
}

fn backward(pairs: &[(String, String)]) -> Result<bool, ApiError> {
    match get(pairs, &["direction"]) {
        None | Some("backward") | Some("BACKWARD") => Ok(true),
        Some("forward") | Some("FORWARD") => Ok(false),
        Some(other) => Err(ApiError::bad(format!(
            "malformed parameter direction: {other:?} is not forward or backward"
        ))),
    }
}

fn streams_answer(
    api: &TraceApi,
    expr: &LogExpr,
    range: TimeRange,
    limit: usize,
    backward: bool,
) -> Result<Value, ApiError> {
    let mut streams: BTreeMap<Labels, Vec<(u64, String)>> = BTreeMap::new();
    let mut n = 0;
    scan(api, expr, range, !backward, |entry| {
        streams
            .entry(entry.stream)
            .or_default()
            .push((entry.time, entry.line));
        n += 1;
        n < limit
    })?;
    let result: Vec<Value> = streams
        .into_iter()
        .map(|(labels, values)| {
            json!({
                "stream": labels,
                "values": values.into_iter().map(|(t, line)| json!([t.to_string(), line])).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(json!({
        "status": "success",
        "data": {"resultType": "streams", "result": result, "stats": {"summary": {"totalEntriesReturned": n}}},
    }))
}

/// One series of a metric query: its labels and a value per step.
type Series = BTreeMap<Labels, Vec<Option<f64>>>;

/// `sum [by (level|service_name)] (count_over_time|rate({service_name="…", level="…"}[r]))`
/// with no pipeline, counted from the index alone (Grafana's log volume query), or `None`
/// when the query needs the records.
fn index_counted(
    api: &TraceApi,
    expr: &MetricExpr,
    steps: &[u64],
) -> Result<Option<Series>, ApiError> {
    let MetricExpr::Aggregate {
        op: AggOp::Sum,
        labels,
        without: false,
        inner,
    } = expr
    else {
        return Ok(None);
    };
    let MetricExpr::Range {
        func,
        log,
        range_ns,
    } = inner.as_ref()
    else {
        return Ok(None);
    };
    let (by, label) = match labels.as_slice() {
        [] => (lookout_storage::VolumeBy::Nothing, None),
        [l] if l == "level" => (lookout_storage::VolumeBy::Severity, Some("level")),
        [l] if l == "service_name" => (lookout_storage::VolumeBy::Service, Some("service_name")),
        _ => return Ok(None),
    };
    if *func == RangeFn::BytesOverTime || !log.stages.is_empty() {
        return Ok(None);
    }
    let (mut service, mut level) = (None, None);
    for m in &log.matchers {
        let slot = match m.name.as_str() {
            "service_name" => &mut service,
            "level" => &mut level,
            _ => return Ok(None),
        };
        if m.op != MatchOp::Eq || slot.is_some() {
            return Ok(None);
        }
        *slot = Some(m.value.clone());
    }
    let (Some(&first), Some(&last)) = (steps.first(), steps.last()) else {
        return Ok(Some(Series::new()));
    };
    let step = steps.get(1).map_or(*range_ns, |s| s - first);
    if step == 0 || range_ns % step != 0 {
        return Ok(None);
    }
    // Bucket k is (first - range + k·step, first - range + (k+1)·step]: the window of step i,
    // (t_i - range, t_i], is buckets i .. i + range/step.
    let start = (first + 1).saturating_sub(*range_ns);
    let query = LogQuery {
        start_unix_nano: start,
        end_unix_nano: last + 1,
        service,
        level,
        deadline: Some(api.deadline()),
        ..Default::default()
    };
    let counts = api
        .logs
        .log_volume(&query, step, by)?
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    // Only non-empty buckets are held (a `[30d]` range at a 1s step has millions of buckets,
    // nearly all empty): each step sums its window's buckets with two moving pointers.
    let per = range_ns / step;
    let mut groups: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
    for ((bucket, group), n) in counts {
        groups.entry(group).or_default().push((bucket, n));
    }
    let seconds = *range_ns as f64 / 1e9;
    Ok(Some(
        groups
            .into_iter()
            .map(|(group, mut buckets)| {
                buckets.sort_unstable();
                let labels: Labels = label.map(|l| (l.to_string(), group)).into_iter().collect();
                let (mut lo, mut hi, mut n) = (0, 0, 0u64);
                let values = (0..steps.len() as u64)
                    .map(|i| {
                        while hi < buckets.len() && buckets[hi].0 < i + per {
                            n += buckets[hi].1;
                            hi += 1;
                        }
                        while lo < hi && buckets[lo].0 < i {
                            n -= buckets[lo].1;
                            lo += 1;
                        }
                        (n > 0).then(|| match func {
                            RangeFn::Rate => n as f64 / seconds,
                            _ => n as f64,
                        })
                    })
                    .collect();
                (labels, values)
            })
            .collect(),
    ))
}

/// Refuses a metric query whose data window (its steps plus its range) is longer than
/// `query.max_search_range`, before anything is read or allocated, as Loki's
/// `max_query_length`.
fn check_length(api: &TraceApi, expr: &MetricExpr, steps: &[u64]) -> Result<(), ApiError> {
    let range_ns = match expr {
        MetricExpr::Range { range_ns, .. } => *range_ns,
        MetricExpr::Aggregate { inner, .. } => return check_length(api, inner, steps),
    };
    let span = match (steps.first(), steps.last()) {
        (Some(first), Some(last)) => last - first,
        _ => 0,
    };
    let length = span.saturating_add(range_ns);
    let limit = api.config.max_search_range;
    if u128::from(length) > limit.as_nanos() {
        return Err(ApiError::bad(format!(
            "the query time range exceeds the limit (query length: {}, limit: {})",
            humantime::format_duration(std::time::Duration::from_nanos(length)),
            humantime::format_duration(limit)
        )));
    }
    Ok(())
}

fn metric_series(api: &TraceApi, expr: &MetricExpr, steps: &[u64]) -> Result<Series, ApiError> {
    check_length(api, expr, steps)?;
    if let Some(series) = index_counted(api, expr, steps)? {
        return Ok(series);
    }
    match expr {
        MetricExpr::Range {
            func,
            log,
            range_ns,
        } => {
            let (Some(&first), Some(&last)) = (steps.first(), steps.last()) else {
                return Ok(Series::new());
            };
            let range = TimeRange {
                start_unix_nano: first.saturating_sub(*range_ns) + 1,
                end_unix_nano: last + 1,
            };
            let mut by_stream: BTreeMap<Labels, Vec<(u64, usize)>> = BTreeMap::new();
            scan(api, log, range, true, |entry| {
                by_stream
                    .entry(entry.stream)
                    .or_default()
                    .push((entry.time, entry.line.len()));
                true
            })?;
            let seconds = *range_ns as f64 / 1e9;
            Ok(by_stream
                .into_iter()
                .map(|(labels, entries)| {
                    // Entries are oldest first: a sliding window over (t - range, t].
                    let (mut lo, mut hi, mut bytes) = (0, 0, 0usize);
                    let values = steps
                        .iter()
                        .map(|&t| {
                            while hi < entries.len() && entries[hi].0 <= t {
                                bytes += entries[hi].1;
                                hi += 1;
                            }
                            while lo < hi && entries[lo].0 <= t.saturating_sub(*range_ns) {
                                bytes -= entries[lo].1;
                                lo += 1;
                            }
                            let count = hi - lo;
                            (count > 0).then(|| match func {
                                RangeFn::CountOverTime => count as f64,
                                RangeFn::Rate => count as f64 / seconds,
                                RangeFn::BytesOverTime => bytes as f64,
                            })
                        })
                        .collect();
                    (labels, values)
                })
                .collect())
        }
        MetricExpr::Aggregate {
            op,
            labels,
            without,
            inner,
        } => {
            let inner = metric_series(api, inner, steps)?;
            let mut groups: BTreeMap<Labels, Vec<Vec<f64>>> = BTreeMap::new();
            for (series_labels, values) in inner {
                let key: Labels = series_labels
                    .into_iter()
                    .filter(|(k, _)| labels.contains(k) != *without)
                    .collect();
                let group = groups
                    .entry(key)
                    .or_insert_with(|| vec![Vec::new(); steps.len()]);
                for (i, v) in values.into_iter().enumerate() {
                    if let Some(v) = v {
                        group[i].push(v);
                    }
                }
            }
            Ok(groups
                .into_iter()
                .map(|(k, per_step)| {
                    let values = per_step
                        .into_iter()
                        .map(|vs| {
                            (!vs.is_empty()).then(|| match op {
                                AggOp::Sum => vs.iter().sum(),
                                AggOp::Count => vs.len() as f64,
                                AggOp::Min => vs.iter().copied().fold(f64::INFINITY, f64::min),
                                AggOp::Max => vs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                                AggOp::Avg => vs.iter().sum::<f64>() / vs.len() as f64,
                            })
                        })
                        .collect();
                    (k, values)
                })
                .collect())
        }
    }
}

fn format_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn seconds(t: u64) -> Value {
    let s = t as f64 / 1e9;
    if t.is_multiple_of(1_000_000_000) {
        json!(t / 1_000_000_000)
    } else {
        json!(s)
    }
}

/// Parses the request's LogQL and answers it with `answer` off the executor (the shared part
/// of `query_range` and `query`).
async fn evaluate_query(
    api: TraceApi,
    query: Option<String>,
    body: axum::body::Bytes,
    answer: impl FnOnce(&TraceApi, &[(String, String)], Expr) -> Result<Value, ApiError>
        + Send
        + 'static,
) -> Result<Json<Value>, LokiError> {
    let pairs = all_pairs(query, &body);
    let value = blocking(move || {
        let expr = parse_query(&pairs)?;
        answer(&api, &pairs, expr)
    })
    .await?;
    Ok(Json(value))
}

pub async fn query_range(
    State(api): State<TraceApi>,
    RawQuery(query): RawQuery,
    body: axum::body::Bytes,
) -> Result<Json<Value>, LokiError> {
    evaluate_query(api, query, body, |api, pairs, expr| {
        // Loki's default range for queries: the last hour.
        let range = time_window(api, pairs, 3_600_000_000_000)?;
        let (start, end) = (range.start_unix_nano, range.end_unix_nano);
        match expr {
            Expr::Log(log) => streams_answer(api, &log, range, limit(pairs)?, backward(pairs)?),
            Expr::Metric(metric) => {
                let step = match get(pairs, &["step"]) {
                    Some(s) => step_ns(s)?,
                    // Loki's default: about 250 points, at least a second.
                    None => (((end - start) / 250) / 1_000_000_000).max(1) * 1_000_000_000,
                };
                if (end - start) / step > 11_000 {
                    return Err(ApiError::bad(
                        "exceeded maximum resolution of 11,000 points per timeseries: try decreasing the query resolution (?step=XX)",
                    ));
                }
                let steps: Vec<u64> = (0..).map(|i| start + i * step).take_while(|&t| t <= end).collect();
                let series = metric_series(api, &metric, &steps)?;
                let result: Vec<Value> = series
                    .into_iter()
                    .map(|(labels, values)| {
                        let points: Vec<Value> = steps
                            .iter()
                            .zip(values)
                            .filter_map(|(&t, v)| v.map(|v| json!([seconds(t), format_value(v)])))
                            .collect();
                        json!({"metric": labels, "values": points})
                    })
                    .collect();
                Ok(json!({"status": "success", "data": {"resultType": "matrix", "result": result, "stats": {}}}))
            }
        }
    })
    .await
}

pub async fn query(
    State(api): State<TraceApi>,
    RawQuery(query): RawQuery,
    body: axum::body::Bytes,
) -> Result<Json<Value>, LokiError> {
    evaluate_query(api, query, body, |api, pairs, expr| {
        let time = get(pairs, &["time"])
            .map(|t| loki_time("time", t))
            .transpose()?
            .unwrap_or_else(now_unix_nano);
        match expr {
            Expr::Log(log) => {
                let range = api.window(time.saturating_sub(3_600_000_000_000), time + 1, "time")?;
                streams_answer(api, &log, range, limit(pairs)?, backward(pairs)?)
            }
            Expr::Metric(metric) => {
                let series = metric_series(api, &metric, &[time])?;
                let result: Vec<Value> = series
                    .into_iter()
                    .filter_map(|(labels, values)| {
                        values.first().copied().flatten().map(|v| json!({"metric": labels, "value": [seconds(time), format_value(v)]}))
                    })
                    .collect();
                Ok(json!({"status": "success", "data": {"resultType": "vector", "result": result, "stats": {}}}))
            }
        }
    })
    .await
}

/// `start`/`end` (or `since`) of a request; without them, the `default_ns` before now.
fn time_window(
    api: &TraceApi,
    pairs: &[(String, String)],
    default_ns: u64,
) -> Result<TimeRange, ApiError> {
    let end = get(pairs, &["end"])
        .map(|t| loki_time("end", t))
        .transpose()?
        .unwrap_or_else(now_unix_nano);
    let start = match (get(pairs, &["start"]), get(pairs, &["since"])) {
        (Some(t), _) => loki_time("start", t)?,
        (None, Some(d)) => end.saturating_sub(params::go_duration("since", d)?),
        (None, None) => end.saturating_sub(default_ns),
    };
    api.window(start, end.max(start + 1), "start")
}

/// `start`/`end` of the label and series endpoints (default the last 6 hours, as Loki).
fn label_window(api: &TraceApi, pairs: &[(String, String)]) -> Result<TimeRange, ApiError> {
    time_window(api, pairs, 6 * 3_600_000_000_000)
}

fn streams_in(api: &TraceApi, range: TimeRange) -> Result<Vec<Labels>, ApiError> {
    let mut out: Vec<Labels> = api
        .log_streams
        .log_streams(range)?
        .into_iter()
        .map(|s| stream_labels(&s.resource, &s.level))
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

pub async fn labels(
    State(api): State<TraceApi>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, LokiError> {
    let pairs = params::pairs(query.as_deref());
    let names = blocking(move || {
        let range = label_window(&api, &pairs)?;
        let mut names: Vec<String> = streams_in(&api, range)?
            .into_iter()
            .flat_map(|l| l.into_keys())
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    })
    .await?;
    Ok(Json(json!({"status": "success", "data": names})))
}

pub async fn label_values(
    State(api): State<TraceApi>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, LokiError> {
    let pairs = params::pairs(query.as_deref());
    let values = blocking(move || {
        let range = label_window(&api, &pairs)?;
        let selector = get(&pairs, &["query"]).map(selector).transpose()?;
        let mut values: Vec<String> = streams_in(&api, range)?
            .into_iter()
            .filter(|l| selector.as_ref().is_none_or(|s| selects(s, l)))
            .filter_map(|mut l| l.remove(&name))
            .collect();
        values.sort();
        values.dedup();
        Ok(values)
    })
    .await?;
    Ok(Json(json!({"status": "success", "data": values})))
}

fn selector(text: &str) -> Result<LogExpr, ApiError> {
    match logql::parse(text).map_err(|e| ApiError::bad(e.to_string()))? {
        Expr::Log(log) => Ok(log),
        Expr::Metric(_) => Err(ApiError::bad(format!("{text:?} is not a stream selector"))),
    }
}

fn selects(selector: &LogExpr, labels: &Labels) -> bool {
    selector
        .matchers
        .iter()
        .all(|m| m.matches(labels.get(&m.name).map(String::as_str)))
}

pub async fn series(
    State(api): State<TraceApi>,
    RawQuery(query): RawQuery,
    body: axum::body::Bytes,
) -> Result<Json<Value>, LokiError> {
    let pairs = all_pairs(query, &body);
    let found = blocking(move || {
        let range = label_window(&api, &pairs)?;
        let selectors: Vec<LogExpr> = pairs
            .iter()
            .filter(|(k, _)| k == "match[]" || k == "match")
            .map(|(_, v)| selector(v))
            .collect::<Result<_, _>>()?;
        Ok(streams_in(&api, range)?
            .into_iter()
            .filter(|l| selectors.is_empty() || selectors.iter().any(|s| selects(s, l)))
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(Json(json!({"status": "success", "data": found})))
}

pub async fn index_stats(
    State(api): State<TraceApi>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, LokiError> {
    let pairs = params::pairs(query.as_deref());
    let stats = blocking(move || {
        let range = label_window(&api, &pairs)?;
        let selector = get(&pairs, &["query"]).map(selector).transpose()?;
        let streams = streams_in(&api, range)?
            .into_iter()
            .filter(|l| selector.as_ref().is_none_or(|s| selects(s, l)))
            .count();
        // Entries: the records of the selected service (all services without one) in the
        // range, counted from the index; other matchers are not applied, so it is an upper
        // bound. Bytes are not tracked by the index.
        let service = selector.as_ref().and_then(|s| {
            s.matchers
                .iter()
                .find(|m| m.name == "service_name" && m.op == MatchOp::Eq)
                .map(|m| m.value.clone())
        });
        let query = LogQuery {
            start_unix_nano: range.start_unix_nano,
            end_unix_nano: range.end_unix_nano,
            service,
            ..Default::default()
        };
        let span = range.end_unix_nano - range.start_unix_nano;
        let entries: u64 = api
            .logs
            .log_volume(&query, span.max(1), lookout_storage::VolumeBy::Nothing)?
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .values()
            .sum();
        Ok(json!({"streams": streams, "chunks": streams, "entries": entries, "bytes": 0}))
    })
    .await?;
    Ok(Json(stats))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logfmt_and_json_become_labels() {
        let mut out = Labels::new();
        parse_logfmt(
            r#"level=info msg="user logged in" status=200 dur=1.5ms flag"#,
            &mut out,
        );
        assert_eq!(out["msg"], "user logged in");
        assert_eq!(out["status"], "200");
        assert_eq!(out["flag"], "");
        let mut out = Labels::new();
        let Value::Object(map) =
            serde_json::from_str(r#"{"a":{"b.c":1},"s":"x","n":null}"#).unwrap()
        else {
            panic!()
        };
        flatten_json("", &map, &mut out);
        assert_eq!(out["a_b_c"], "1");
        assert_eq!(out["s"], "x");
        assert!(!out.contains_key("n"));
    }
}
