//! Prometheus's HTTP API (`/api/v1/...`, shapes in `../shared/reference/prometheus-api.md`):
//! instant and range queries (GET and form POST), series, label names and values, metadata,
//! exemplars and build information, with Prometheus's envelope, value formatting (values as
//! strings, `"NaN"`, `"+Inf"`; timestamps as seconds with milliseconds) and error types.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use lookout_storage::cancel::{cancellable, CancelOnDrop};
use lookout_storage::{Labels, MatchOp, Matcher, SelectLimits, SeriesReader};
use promql_parser::parser::Expr;

use crate::promql::{Engine, PromqlError, Range, Value};
use crate::traces::params::pairs;

/// What the Prometheus API needs.
#[derive(Clone)]
pub struct PromApi {
    pub engine: Engine,
    pub reader: Arc<dyn SeriesReader>,
}

/// The version Grafana sees: Grafana turns features on by Prometheus version, so Lookout
/// reports the Prometheus release whose API it implements (its own version is in `revision`).
const PROMETHEUS_VERSION: &str = "2.53.0";

/// An error in Prometheus's envelope.
pub struct PromError(PromqlError);

impl From<PromqlError> for PromError {
    fn from(e: PromqlError) -> Self {
        PromError(e)
    }
}

fn bad(message: impl Into<String>) -> PromError {
    PromError(PromqlError::BadData(message.into()))
}

impl IntoResponse for PromError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::BAD_REQUEST);
        if status.is_server_error() {
            tracing::warn!(error = %self.0, "prometheus query failed");
        }
        let body = serde_json::json!({
            "status": "error",
            "errorType": self.0.error_type(),
            "error": self.0.to_string(),
        });
        (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    }
}

fn success(data: String) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        format!("{{\"status\":\"success\",\"data\":{data}}}"),
    )
        .into_response()
}

/// Query-string and form-body parameters together (Grafana POSTs forms).
fn params(query: Option<String>, headers: &HeaderMap, body: &[u8]) -> Vec<(String, String)> {
    let mut all = pairs(query.as_deref());
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if form || (!body.is_empty() && all.is_empty()) {
        all.extend(form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())));
    }
    all
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, v)| k == name && !v.is_empty())
        .map(|(_, v)| v.as_str())
}

const MIN_TIME: i64 = i64::MIN / 2;
const MAX_TIME: i64 = i64::MAX / 2;

/// A Prometheus time parameter: Unix seconds (float) or RFC 3339, in milliseconds.
fn time_param(name: &str, text: &str) -> Result<i64, PromError> {
    if let Ok(seconds) = text.parse::<f64>() {
        if seconds.is_finite() {
            return Ok((seconds * 1000.0).round() as i64);
        }
    }
    // Prometheus's own spellings of the minimum and maximum time.
    match text {
        "-292273086-05-16T16:47:06Z" => return Ok(MIN_TIME),
        "292277025-08-18T07:12:54.999999999Z" => return Ok(MAX_TIME),
        _ => {}
    }
    text.parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .map_err(|_| {
            bad(format!(
                "invalid parameter \"{name}\": cannot parse \"{text}\" to a valid timestamp"
            ))
        })
}

/// A Prometheus duration parameter: seconds (float) or a duration such as `15s`, in ms.
fn duration_param(name: &str, text: &str) -> Result<i64, PromError> {
    if let Ok(seconds) = text.parse::<f64>() {
        if seconds.is_finite() && seconds.abs() < (i64::MAX / 1000) as f64 {
            return Ok((seconds * 1000.0).round() as i64);
        }
    }
    promql_parser::util::parse_duration(text)
        .map(|d| d.as_millis() as i64)
        .map_err(|_| {
            bad(format!(
                "invalid parameter \"{name}\": cannot parse \"{text}\" to a valid duration"
            ))
        })
}

/// The `timeout` parameter: a positive duration.
fn timeout_param(text: &str) -> Result<std::time::Duration, PromError> {
    match duration_param("timeout", text)? {
        ms if ms > 0 => Ok(std::time::Duration::from_millis(ms as u64)),
        _ => Err(bad(format!(
            "invalid parameter \"timeout\": {text:?} is not a positive duration"
        ))),
    }
}

fn now_ms() -> i64 {
    (crate::traces::now_unix_nano() / 1_000_000) as i64
}

fn write_json_str(out: &mut String, s: &str) {
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()));
}

fn write_labels(out: &mut String, labels: &Labels) {
    out.push('{');
    for (i, (n, v)) in labels.0.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_str(out, n);
        out.push(':');
        write_json_str(out, v);
    }
    out.push('}');
}

/// Prometheus's `MarshalTimestamp`: seconds, and milliseconds when not zero.
fn write_time(out: &mut String, t: i64) {
    let (sign, t) = if t < 0 { ("-", -t) } else { ("", t) };
    let _ = write!(out, "{sign}{}", t / 1000);
    let ms = t % 1000;
    if ms != 0 {
        let _ = write!(out, ".{ms:03}");
    }
}

fn write_value(out: &mut String, v: f64) {
    out.push('"');
    out.push_str(&lookout_proto::prometheus::format_label_float(v));
    out.push('"');
}

fn write_point(out: &mut String, t: i64, v: f64) {
    out.push('[');
    write_time(out, t);
    out.push(',');
    write_value(out, v);
    out.push(']');
}

fn render(value: &Value) -> String {
    let mut out = String::with_capacity(256);
    match value {
        Value::Scalar(t, v) => {
            out.push_str("{\"resultType\":\"scalar\",\"result\":");
            write_point(&mut out, *t, *v);
        }
        Value::String(t, s) => {
            out.push_str("{\"resultType\":\"string\",\"result\":[");
            write_time(&mut out, *t);
            out.push(',');
            write_json_str(&mut out, s);
            out.push(']');
        }
        Value::Vector(samples) => {
            out.push_str("{\"resultType\":\"vector\",\"result\":[");
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                write_labels(&mut out, &s.labels);
                out.push_str(",\"value\":");
                write_point(&mut out, s.t, s.v);
                out.push('}');
            }
            out.push(']');
        }
        Value::Matrix(series) => {
            out.push_str("{\"resultType\":\"matrix\",\"result\":[");
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                write_labels(&mut out, &s.labels);
                out.push_str(",\"values\":[");
                for (k, (t, v)) in s.points.iter().enumerate() {
                    if k > 0 {
                        out.push(',');
                    }
                    write_point(&mut out, *t, *v);
                }
                out.push_str("]}");
            }
            out.push(']');
        }
    }
    out.push('}');
    out
}

/// Runs a query off the executor; it stops at its next deadline check if the client goes away.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, PromError> + Send + 'static,
) -> Result<T, PromError> {
    let (guard, flag) = CancelOnDrop::new();
    let result = tokio::task::spawn_blocking(move || cancellable(flag, f))
        .await
        .map_err(|e| PromError(PromqlError::Execution(format!("query task failed: {e}"))))?;
    guard.disarm();
    result
}

pub async fn query(
    State(api): State<PromApi>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, PromError> {
    let p = params(raw, &headers, &body);
    let query = param(&p, "query")
        .ok_or_else(|| bad("invalid parameter \"query\": query must not be empty"))?
        .to_owned();
    let time = match param(&p, "time") {
        Some(t) => time_param("time", t)?,
        None => now_ms(),
    };
    let engine = match param(&p, "timeout") {
        Some(t) => api.engine.with_timeout(timeout_param(t)?),
        None => api.engine.clone(),
    };
    let value = blocking(move || {
        let value = engine.instant(&query, time)?;
        Ok(render(&value))
    })
    .await?;
    Ok(success(value))
}

pub async fn query_range(
    State(api): State<PromApi>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, PromError> {
    let p = params(raw, &headers, &body);
    let query = param(&p, "query")
        .ok_or_else(|| bad("invalid parameter \"query\": query must not be empty"))?
        .to_owned();
    let start = time_param(
        "start",
        param(&p, "start").ok_or_else(|| {
            bad("invalid parameter \"start\": cannot parse \"\" to a valid timestamp")
        })?,
    )?;
    let end = time_param(
        "end",
        param(&p, "end").ok_or_else(|| {
            bad("invalid parameter \"end\": cannot parse \"\" to a valid timestamp")
        })?,
    )?;
    if end < start {
        return Err(bad(
            "invalid parameter \"end\": end timestamp must not be before start time",
        ));
    }
    let step = duration_param(
        "step",
        param(&p, "step").ok_or_else(|| {
            bad("invalid parameter \"step\": cannot parse \"\" to a valid duration")
        })?,
    )?;
    if step <= 0 {
        return Err(bad("invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer"));
    }
    let engine = match param(&p, "timeout") {
        Some(t) => api.engine.with_timeout(timeout_param(t)?),
        None => api.engine.clone(),
    };
    let value = blocking(move || {
        let value = engine.range(&query, Range { start, end, step })?;
        Ok(render(&value))
    })
    .await?;
    Ok(success(value))
}

/// The matchers of each `match[]` selector.
fn match_params(p: &[(String, String)]) -> Result<Vec<Vec<Matcher>>, PromError> {
    let mut out = Vec::new();
    for (k, v) in p {
        if k != "match[]" {
            continue;
        }
        let expr = promql_parser::parser::parse(v)
            .map_err(|e| bad(format!("invalid parameter \"match[]\": {e}")))?;
        let Expr::VectorSelector(vs) = expr else {
            return Err(bad(format!(
                "invalid parameter \"match[]\": {v} is not a series selector"
            )));
        };
        out.push(selector_matchers(&vs));
    }
    Ok(out)
}

pub(crate) fn selector_matchers(vs: &promql_parser::parser::VectorSelector) -> Vec<Matcher> {
    use promql_parser::label::MatchOp as P;
    let mut out: Vec<Matcher> = vs
        .matchers
        .matchers
        .iter()
        .map(|m| Matcher {
            name: m.name.clone(),
            op: match &m.op {
                P::Equal => MatchOp::Equal(m.value.clone()),
                P::NotEqual => MatchOp::NotEqual(m.value.clone()),
                P::Re(r) => MatchOp::Re(r.clone()),
                P::NotRe(r) => MatchOp::NotRe(r.clone()),
            },
        })
        .collect();
    if let Some(name) = &vs.name {
        if !out.iter().any(|m| m.name == "__name__") {
            out.push(Matcher::equal("__name__", name));
        }
    }
    out
}

fn window(p: &[(String, String)]) -> Result<(i64, i64), PromError> {
    let start = param(p, "start")
        .map(|t| time_param("start", t))
        .transpose()?
        .unwrap_or(MIN_TIME);
    let end = param(p, "end")
        .map(|t| time_param("end", t))
        .transpose()?
        .unwrap_or(MAX_TIME);
    if end < start {
        return Err(bad(
            "invalid parameter \"end\": end timestamp must not be before start time",
        ));
    }
    Ok((start, end))
}

fn limit(p: &[(String, String)]) -> Result<usize, PromError> {
    match param(p, "limit") {
        None => Ok(usize::MAX),
        Some(l) => match l.parse::<i64>() {
            Ok(0) => Ok(usize::MAX),
            Ok(n) if n > 0 => Ok(n as usize),
            _ => Err(bad(format!(
                "invalid parameter \"limit\": cannot parse \"{l}\" to a valid limit"
            ))),
        },
    }
}

/// Series matching any of `sets` (all series when `sets` is empty), sorted, at most `limit`.
fn matching_series(
    api: &PromApi,
    sets: &[Vec<Matcher>],
    start: i64,
    end: i64,
    limit: usize,
) -> Result<Vec<Labels>, PromError> {
    let all = [vec![Matcher {
        name: "__name__".into(),
        op: MatchOp::Re(regex::Regex::new("^(?:.+)$").map_err(|e| bad(e.to_string()))?),
    }]];
    let sets = if sets.is_empty() { &all[..] } else { sets };
    let limits = SelectLimits {
        max_series: api.engine.config().max_series,
        max_samples: usize::MAX,
        deadline: Some(Instant::now() + api.engine.config().timeout),
        budget: None,
        at: None,
    };
    let mut out: std::collections::BTreeSet<Labels> = Default::default();
    for matchers in sets {
        for labels in api
            .reader
            .series(matchers, start, end, limits.clone())
            .map_err(PromqlError::from)?
        {
            out.insert((*labels).clone());
        }
    }
    Ok(out.into_iter().take(limit).collect())
}

pub async fn series(
    State(api): State<PromApi>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, PromError> {
    let p = params(raw, &headers, &body);
    let sets = match_params(&p)?;
    if sets.is_empty() {
        return Err(bad("no match[] parameter provided"));
    }
    let (start, end) = window(&p)?;
    let limit = limit(&p)?;
    let data = blocking(move || {
        let series = matching_series(&api, &sets, start, end, limit)?;
        let mut out = String::from("[");
        for (i, s) in series.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_labels(&mut out, s);
        }
        out.push(']');
        Ok(out)
    })
    .await?;
    Ok(success(data))
}

fn string_list<'a>(items: impl Iterator<Item = &'a String>) -> String {
    let mut out = String::from("[");
    for (i, s) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_str(&mut out, s);
    }
    out.push(']');
    out
}

pub async fn labels(
    State(api): State<PromApi>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, PromError> {
    let p = params(raw, &headers, &body);
    let sets = match_params(&p)?;
    let (start, end) = window(&p)?;
    let limit = limit(&p)?;
    let data = blocking(move || {
        if sets.is_empty() {
            // No selector: the names come from the index alone (fast; the time range is not
            // applied, as series expire from it only with their label postings).
            let names = api.reader.label_names().map_err(PromqlError::from)?;
            return Ok(string_list(names.iter().take(limit)));
        }
        let series = matching_series(&api, &sets, start, end, usize::MAX)?;
        let names: std::collections::BTreeSet<String> = series
            .iter()
            .flat_map(|l| l.0.iter().map(|(n, _)| n.clone()))
            .collect();
        Ok(string_list(names.iter().take(limit)))
    })
    .await?;
    Ok(success(data))
}

pub async fn label_values(
    State(api): State<PromApi>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PromError> {
    let p = params(raw, &HeaderMap::new(), &[]);
    if !crate::promql::is_label_name(&name) {
        return Err(bad(format!("invalid label name: \"{name}\"")));
    }
    let sets = match_params(&p)?;
    let (start, end) = window(&p)?;
    let limit = limit(&p)?;
    let data = blocking(move || {
        if sets.is_empty() {
            // No selector: the values come from the index's postings (Grafana's metric
            // browser asks for `__name__` this way).
            let values = api.reader.label_values(&name).map_err(PromqlError::from)?;
            return Ok(string_list(values.iter().take(limit)));
        }
        let series = matching_series(&api, &sets, start, end, usize::MAX)?;
        let values: std::collections::BTreeSet<String> = series
            .iter()
            .filter_map(|l| l.get(&name).map(str::to_owned))
            .collect();
        Ok(string_list(values.iter().take(limit)))
    })
    .await?;
    Ok(success(data))
}

pub async fn metadata(
    State(api): State<PromApi>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PromError> {
    let p = params(raw, &HeaderMap::new(), &[]);
    let metric = param(&p, "metric").map(str::to_owned);
    let limit = limit(&p)?;
    let per_metric = match param(&p, "limit_per_metric") {
        None => usize::MAX,
        Some(l) => match l.parse::<i64>() {
            Ok(n) if n > 0 => n as usize,
            Ok(_) => usize::MAX,
            Err(_) => {
                return Err(bad(format!(
                    "invalid parameter \"limit_per_metric\": cannot parse \"{l}\" to a valid limit"
                )))
            }
        },
    };
    let data = blocking(move || {
        let all = api.reader.metadata().map_err(PromqlError::from)?;
        let by_name = metadata_by_name(all);
        let mut out = serde_json::Map::new();
        for (name, entries) in by_name {
            if metric.as_ref().is_some_and(|m| *m != name) {
                continue;
            }
            if out.len() >= limit {
                break;
            }
            let entries: Vec<_> = entries
                .iter()
                .take(per_metric)
                .map(|m| serde_json::json!({"type": m.kind, "help": m.help, "unit": m.unit}))
                .collect();
            out.insert(name, serde_json::Value::Array(entries));
        }
        Ok(serde_json::Value::Object(out).to_string())
    })
    .await?;
    Ok(success(data))
}

/// Metadata under every name it is asked by. The store keeps it per metric family (a counter
/// as `orders_placed`, as OpenMetrics names the family), but a counter's series, every query
/// and Grafana's metric browser (which looks up each `__name__` in the whole list) use
/// `orders_placed_total`, which is also the family name Prometheus's own OTLP translator
/// gives it: a counter is listed under both. A histogram or summary is listed under its
/// family name only, as Prometheus lists a scraped one (`http_server_request_duration_seconds`,
/// not its `_bucket`, `_sum` and `_count` series, whose metadata Grafana derives from it).
fn metadata_by_name(
    all: Vec<(String, lookout_storage::Metadata)>,
) -> std::collections::BTreeMap<String, Vec<lookout_storage::Metadata>> {
    let mut by_name: std::collections::BTreeMap<String, Vec<lookout_storage::Metadata>> =
        Default::default();
    let mut add = |name: String, meta: &lookout_storage::Metadata| {
        let entries = by_name.entry(name).or_default();
        if !entries.contains(meta) {
            entries.push(meta.clone());
        }
    };
    for (family, meta) in all {
        if meta.kind == "counter" {
            add(format!("{family}_total"), &meta);
        }
        add(family, &meta);
    }
    by_name
}

pub async fn buildinfo() -> Response {
    success(
        serde_json::json!({
            "version": PROMETHEUS_VERSION,
            "revision": format!("lookout-{}", env!("CARGO_PKG_VERSION")),
            "branch": "",
            "buildUser": "",
            "buildDate": "",
            "goVersion": "",
        })
        .to_string(),
    )
}

fn selectors(expr: &Expr, out: &mut Vec<promql_parser::parser::VectorSelector>) {
    match expr {
        Expr::VectorSelector(vs) => out.push(vs.clone()),
        Expr::MatrixSelector(ms) => out.push(ms.vs.clone()),
        Expr::Aggregate(a) => selectors(&a.expr, out),
        Expr::Unary(u) => selectors(&u.expr, out),
        Expr::Binary(b) => {
            selectors(&b.lhs, out);
            selectors(&b.rhs, out);
        }
        Expr::Paren(p) => selectors(&p.expr, out),
        Expr::Subquery(s) => selectors(&s.expr, out),
        Expr::Call(c) => c.args.args.iter().for_each(|a| selectors(a, out)),
        _ => {}
    }
}

pub async fn query_exemplars(
    State(api): State<PromApi>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, PromError> {
    let p = params(raw, &headers, &body);
    let query = param(&p, "query")
        .ok_or_else(|| bad("invalid parameter \"query\": query must not be empty"))?;
    let expr = crate::promql::parse(query)?;
    let (start, end) = window(&p)?;
    let mut found = Vec::new();
    selectors(&expr, &mut found);
    let data = blocking(move || {
        let limits = SelectLimits {
            max_series: api.engine.config().max_series,
            max_samples: usize::MAX,
            deadline: Some(Instant::now() + api.engine.config().timeout),
            budget: None,
            at: None,
        };
        let mut out = String::from("[");
        let mut first = true;
        for vs in found {
            let matchers = selector_matchers(&vs);
            for (labels, exemplars) in api
                .reader
                .exemplars(&matchers, start, end, limits.clone())
                .map_err(PromqlError::from)?
            {
                if !first {
                    out.push(',');
                }
                first = false;
                out.push_str("{\"seriesLabels\":");
                write_labels(&mut out, &labels);
                out.push_str(",\"exemplars\":[");
                for (i, e) in exemplars.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str("{\"labels\":");
                    write_labels(&mut out, &e.labels);
                    out.push_str(",\"value\":");
                    write_value(&mut out, e.value);
                    out.push_str(",\"timestamp\":");
                    write_time(&mut out, e.t);
                    out.push('}');
                }
                out.push_str("]}");
            }
        }
        out.push(']');
        Ok(out)
    })
    .await?;
    Ok(success(data))
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod format_tests {
    use super::*;

    #[test]
    fn times_and_values_are_formatted_as_prometheus_does() {
        let mut s = String::new();
        write_time(&mut s, 1_435_781_451_781);
        s.push(' ');
        write_time(&mut s, 1_500);
        s.push(' ');
        write_time(&mut s, 2_000);
        s.push(' ');
        write_time(&mut s, 5);
        assert_eq!(s, "1435781451.781 1.500 2 0.005");
        let mut s = String::new();
        for v in [
            1.0,
            0.1,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e21,
            -2.5,
        ] {
            write_value(&mut s, v);
        }
        assert_eq!(
            s,
            r#""1""0.1""NaN""+Inf""-Inf""1000000000000000000000""-2.5""#
        );
    }

    #[test]
    fn parameters_parse_like_prometheus() {
        assert_eq!(
            time_param("t", "1435781451.781").ok(),
            Some(1_435_781_451_781)
        );
        assert_eq!(
            time_param("t", "2015-07-01T20:10:51.781Z").ok(),
            Some(1_435_781_451_781)
        );
        assert!(time_param("t", "soon").is_err());
        assert_eq!(duration_param("step", "15").ok(), Some(15_000));
        assert_eq!(duration_param("step", "1m30s").ok(), Some(90_000));
        assert_eq!(duration_param("step", "0.5").ok(), Some(500));
        assert!(duration_param("step", "fast").is_err());
    }
}
