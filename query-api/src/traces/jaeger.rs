//! Jaeger's query API: the v1 routes Grafana's Jaeger data source and scripts call, and the
//! api_v3 routes current Jaeger UI calls (`../shared/reference/jaeger-api.md`).

use std::collections::HashMap;

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use lookout_proto::otlp::common::v1::any_value::Value;
use lookout_proto::otlp::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use lookout_proto::otlp::resource::v1::Resource as OtlpResource;
use lookout_proto::otlp::trace::v1::span::Link;
use lookout_proto::otlp::trace::v1::span::SpanKind;
use lookout_proto::otlp::trace::v1::status::StatusCode as OtlpStatus;
use lookout_proto::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, TracesData};
use lookout_proto::TraceId;
use lookout_storage::{StoredSpan, TraceQuery};
use serde::Serialize;
use serde_json::json;

use super::analysis;
use super::params::{self, get};
use super::{blocking, find_with, now_unix_nano, LoadedTrace, Search, TraceApi};
use crate::ApiError;

const HOUR_NS: u64 = 3_600_000_000_000;

/// An error in Jaeger v1's envelope: `{"data": null, "errors": [{"code", "msg"}]}`.
pub struct V1Error(ApiError);

impl From<ApiError> for V1Error {
    fn from(e: ApiError) -> Self {
        V1Error(e)
    }
}

impl IntoResponse for V1Error {
    fn into_response(self) -> Response {
        let status = self.0.http_status();
        let body = json!({
            "data": null, "total": 0, "limit": 0, "offset": 0,
            "errors": [{"code": status.as_u16(), "msg": self.0.to_string()}],
        });
        (status, Json(body)).into_response()
    }
}

/// An error as api_v3 answers it: `{"error": {"httpCode", "message"}}`.
pub struct V3Error(ApiError);

impl From<ApiError> for V3Error {
    fn from(e: ApiError) -> Self {
        V3Error(e)
    }
}

impl IntoResponse for V3Error {
    fn into_response(self) -> Response {
        let status = self.0.http_status();
        let body = json!({"error": {"httpCode": status.as_u16(), "message": self.0.to_string()}});
        (status, Json(body)).into_response()
    }
}

/// The v1 envelope around `data`.
fn envelope<T: Serialize>(data: T, total: usize) -> Json<serde_json::Value> {
    Json(json!({"data": data, "total": total, "limit": 0, "offset": 0, "errors": null}))
}

// ---- v1 ----

pub async fn services(State(api): State<TraceApi>) -> Result<Json<serde_json::Value>, V1Error> {
    let services = blocking(move || Ok(api.search.services()?)).await?;
    let total = services.len();
    Ok(envelope(services, total))
}

pub async fn service_operations(
    State(api): State<TraceApi>,
    Path(service): Path<String>,
) -> Result<Json<serde_json::Value>, V1Error> {
    let ops = blocking(move || {
        api.known_service("service", &service)?;
        Ok(api.search.operations(&service)?)
    })
    .await?;
    let mut names: Vec<String> = ops.into_iter().map(|o| o.name).collect();
    names.dedup();
    let total = names.len();
    Ok(envelope(names, total))
}

/// `[{name, spanKind}]` of a service, optionally of one kind.
fn operations_of(
    api: &TraceApi,
    pairs: &[(String, String)],
) -> Result<Vec<serde_json::Value>, ApiError> {
    let service =
        get(pairs, &["service"]).ok_or_else(|| ApiError::bad("parameter service is required"))?;
    let kind = get(pairs, &["spanKind", "span_kind"])
        .map(|k| params::kind("spanKind", k))
        .transpose()?;
    api.known_service("service", service)?;
    Ok(api
        .search
        .operations(service)?
        .into_iter()
        .filter(|o| kind.is_none_or(|k| k == o.span_kind))
        .map(|o| json!({"name": o.name, "spanKind": params::kind_name(o.span_kind)}))
        .collect())
}

pub async fn operations(
    State(api): State<TraceApi>,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, V1Error> {
    let pairs = params::pairs(query.as_deref());
    let ops = blocking(move || operations_of(&api, &pairs)).await?;
    let total = ops.len();
    Ok(envelope(ops, total))
}

pub async fn trace(
    State(api): State<TraceApi>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, V1Error> {
    let trace_id = params::trace_id("traceID", &id)?;
    let trace = blocking(move || api.load(&trace_id)).await?;
    match trace {
        Some(t) => Ok(envelope([to_jaeger(&t)], 1)),
        None => Err(ApiError::NotFound(format!("trace not found: {}", trace_id.to_hex())).into()),
    }
}

/// Special tags Jaeger shows on spans that are fields, not attributes, in OTLP.
fn special_tag(query: &mut TraceQuery, key: &str, value: &str) -> Result<bool, ApiError> {
    match key {
        "error" => match value {
            "true" => query.status = Some(OtlpStatus::Error as i32),
            // Jaeger writes no `error` tag on spans without an error.
            _ => return Ok(false),
        },
        "span.kind" => query.span_kind = Some(params::kind("tag span.kind", value)?),
        "otel.status_code" => query.status = Some(params::status("tag otel.status_code", value)?),
        _ => return Ok(false),
    }
    Ok(true)
}

fn add_tag(query: &mut TraceQuery, key: String, value: String) -> Result<(), ApiError> {
    if !special_tag(query, &key, &value)? {
        query.attributes.push((key, value));
    }
    Ok(())
}

/// Parses a v1 `/api/traces` search.
pub fn v1_search(api: &TraceApi, pairs: &[(String, String)]) -> Result<Search, ApiError> {
    let now = now_unix_nano();
    let micros = |name: &str| -> Result<Option<u64>, ApiError> {
        get(pairs, &[name])
            .map(|v| params::integer::<u64>(name, v).map(|us| us.saturating_mul(1000)))
            .transpose()
    };
    let end = micros("end")?.unwrap_or(now);
    let start = micros("start")?.unwrap_or(end.saturating_sub(48 * HOUR_NS));
    let range = api.window(start, end, "start")?;
    let limit = match get(pairs, &["limit"]) {
        // Jaeger treats 0 as "no limit given".
        Some(l) => match params::integer::<usize>("limit", l)? {
            0 => 100,
            n => api.limit("limit", n)?,
        },
        None => 100,
    };
    let mut query = TraceQuery::new(range, limit);
    query.deadline = Some(api.deadline());
    query.service = Some(
        get(pairs, &["service"])
            .ok_or_else(|| ApiError::bad("parameter service is required"))?
            .to_string(),
    );
    query.operation = get(pairs, &["operation"]).map(str::to_string);
    for (k, v) in pairs {
        if k == "tag" && !v.is_empty() {
            let (key, value) = params::key_value("tag", v, ':')?;
            add_tag(&mut query, key, value)?;
        }
    }
    if let Some(tags) = get(pairs, &["tags"]) {
        for (key, value) in params::json_map("tags", tags)? {
            add_tag(&mut query, key, value)?;
        }
    }
    durations(pairs, &mut query, ["minDuration", "maxDuration"])?;
    Ok(Search {
        query,
        service_param: "service".into(),
        root_service: None,
        root_operation: None,
    })
}

fn durations(
    pairs: &[(String, String)],
    query: &mut TraceQuery,
    names: [&str; 2],
) -> Result<(), ApiError> {
    query.min_duration_ns = get(pairs, &[names[0]])
        .map(|d| params::go_duration(names[0], d))
        .transpose()?;
    query.max_duration_ns = get(pairs, &[names[1]])
        .map(|d| params::go_duration(names[1], d))
        .transpose()?;
    if let (Some(min), Some(max)) = (query.min_duration_ns, query.max_duration_ns) {
        if max < min {
            return Err(ApiError::bad(format!(
                "malformed parameter {}: must not be less than {}",
                names[1], names[0]
            )));
        }
    }
    Ok(())
}

pub async fn find_traces(
    State(api): State<TraceApi>,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, V1Error> {
    let pairs = params::pairs(query.as_deref());
    let ids: Vec<TraceId> = pairs
        .iter()
        .filter(|(k, v)| k == "traceID" && !v.is_empty())
        .map(|(_, v)| params::trace_id("traceID", v))
        .collect::<Result<_, _>>()?;
    let traces = blocking(move || {
        if !ids.is_empty() {
            let mut out = Vec::new();
            for id in &ids {
                out.extend(api.load(id)?);
            }
            return Ok(out);
        }
        let search = v1_search(&api, &pairs)?;
        api.find(&search)
    })
    .await?;
    let data: Vec<_> = traces.iter().map(to_jaeger).collect();
    let total = data.len();
    Ok(envelope(data, total))
}

pub async fn dependencies(
    State(api): State<TraceApi>,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, V1Error> {
    let pairs = params::pairs(query.as_deref());
    let now_ms = now_unix_nano() / 1_000_000;
    let end_ms = get(&pairs, &["endTs"])
        .map(|v| params::integer::<u64>("endTs", v))
        .transpose()?
        .unwrap_or(now_ms);
    let lookback_ms = get(&pairs, &["lookback"])
        .map(|v| params::integer::<u64>("lookback", v))
        .transpose()?
        .unwrap_or(24 * 3_600_000);
    let end = end_ms.saturating_mul(1_000_000);
    let range = api.window(
        end.saturating_sub(lookback_ms.saturating_mul(1_000_000)),
        end,
        "lookback",
    )?;
    let graph =
        blocking(move || Ok(api.search.service_graph(range, Some(api.deadline()))?)).await?;
    let links: Vec<_> = graph
        .edges
        .iter()
        .map(|((parent, child), e)| json!({"parent": parent, "child": child, "callCount": e.calls}))
        .collect();
    let total = links.len();
    Ok(envelope(links, total))
}

/// A trace in Jaeger's JSON model.
pub fn to_jaeger(trace: &LoadedTrace) -> serde_json::Value {
    let mut processes = serde_json::Map::new();
    let mut process_ids: HashMap<u64, String> = HashMap::new();
    let spans: Vec<_> = trace
        .spans
        .iter()
        .map(|s| {
            let key = std::sync::Arc::as_ptr(&s.resource) as u64;
            let pid = match process_ids.get(&key) {
                Some(p) => p.clone(),
                None => {
                    let pid = format!("p{}", process_ids.len() + 1);
                    let tags: Vec<_> = s
                        .resource
                        .attributes
                        .iter()
                        .filter(|kv| kv.key != "service.name")
                        .map(kv_json)
                        .collect();
                    processes.insert(
                        pid.clone(),
                        json!({"serviceName": super::service_of(s), "tags": tags}),
                    );
                    process_ids.insert(key, pid.clone());
                    pid
                }
            };
            span_json(&trace.trace_id, s, &pid)
        })
        .collect();
    json!({
        "traceID": trace.trace_id.to_hex(),
        "spans": spans,
        "processes": processes,
        "warnings": if trace.warnings.is_empty() { serde_json::Value::Null } else { json!(trace.warnings) },
    })
}

/// The link attribute that carries an OpenTracing reference type (`child_of`, `follows_from`).
const REF_TYPE: &str = "opentracing.ref_type";

/// A Jaeger span reference type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RefType {
    ChildOf,
    FollowsFrom,
}

impl RefType {
    /// As Jaeger's OTLP translator reads a link: `CHILD_OF` when its `opentracing.ref_type`
    /// is `child_of`, else (any other value, or none) `FOLLOWS_FROM`.
    fn of(link: &Link) -> RefType {
        match lookout_proto::model::string_attribute(&link.attributes, REF_TYPE) {
            Some("child_of") => RefType::ChildOf,
            _ => RefType::FollowsFrom,
        }
    }

    fn jaeger(self) -> &'static str {
        match self {
            RefType::ChildOf => "CHILD_OF",
            RefType::FollowsFrom => "FOLLOWS_FROM",
        }
    }

    fn attribute(self) -> &'static str {
        match self {
            RefType::ChildOf => "child_of",
            RefType::FollowsFrom => "follows_from",
        }
    }
}

/// Whether `link` points at the span's own parent.
fn links_parent(trace_id: &TraceId, span: &Span, link: &Link) -> bool {
    !span.parent_span_id.is_empty()
        && link.span_id == span.parent_span_id
        && link.trace_id == trace_id.as_bytes()
}

/// The span's references as Jaeger's OTLP translator makes them: the parent first as
/// `CHILD_OF`, then each link with the type its `opentracing.ref_type` says; a link to the
/// parent is merged into the parent's reference and gives it its type.
fn references(trace_id: &TraceId, span: &Span) -> Vec<serde_json::Value> {
    let mut refs = Vec::with_capacity(span.links.len() + 1);
    if !span.parent_span_id.is_empty() {
        refs.push(json!({
            "refType": RefType::ChildOf.jaeger(),
            "traceID": trace_id.to_hex(),
            "spanID": const_hex::encode(&span.parent_span_id),
        }));
    }
    for link in &span.links {
        let ref_type = RefType::of(link).jaeger();
        if links_parent(trace_id, span, link) {
            refs[0]["refType"] = json!(ref_type);
            continue;
        }
        refs.push(json!({
            "refType": ref_type,
            "traceID": const_hex::encode(&link.trace_id),
            "spanID": const_hex::encode(&link.span_id),
        }));
    }
    refs
}

/// The span as api_v3 answers it, the OTLP form of [`references`]: a link to the span's own
/// parent that says `child_of` is left out (the parent span id says it already), and every
/// other link carries its type in `opentracing.ref_type`, as Jaeger's translator writes it.
fn v3_span(trace_id: &TraceId, span: &Span) -> Span {
    let mut out = span.clone();
    if span.links.is_empty() {
        return out;
    }
    out.links = span
        .links
        .iter()
        .filter(|l| !(RefType::of(l) == RefType::ChildOf && links_parent(trace_id, span, l)))
        .map(|l| {
            let mut link = l.clone();
            let value = Some(AnyValue {
                value: Some(Value::StringValue(RefType::of(l).attribute().into())),
            });
            match link.attributes.iter_mut().find(|kv| kv.key == REF_TYPE) {
                Some(kv) => kv.value = value,
                None => link.attributes.push(KeyValue {
                    key: REF_TYPE.into(),
                    value,
                    ..Default::default()
                }),
            }
            link
        })
        .collect();
    out
}

fn span_json(trace_id: &TraceId, s: &StoredSpan, pid: &str) -> serde_json::Value {
    let span = &s.span;
    let references = references(trace_id, span);
    let mut tags: Vec<_> = span.attributes.iter().map(kv_json).collect();
    if !s.scope.name.is_empty() {
        tags.push(tag("otel.scope.name", json!(s.scope.name), "string"));
    }
    if !s.scope.version.is_empty() {
        tags.push(tag("otel.scope.version", json!(s.scope.version), "string"));
    }
    let kind = params::kind_name(span.kind);
    if !kind.is_empty() && span.kind != SpanKind::Unspecified as i32 {
        tags.push(tag("span.kind", json!(kind), "string"));
    }
    if let Some(status) = &span.status {
        match OtlpStatus::try_from(status.code) {
            Ok(OtlpStatus::Error) => {
                tags.push(tag("error", json!(true), "bool"));
                tags.push(tag("otel.status_code", json!("ERROR"), "string"));
            }
            Ok(OtlpStatus::Ok) => tags.push(tag("otel.status_code", json!("OK"), "string")),
            _ => {}
        }
        if !status.message.is_empty() {
            tags.push(tag(
                "otel.status_description",
                json!(status.message),
                "string",
            ));
        }
    }
    if !span.trace_state.is_empty() {
        tags.push(tag("w3c.tracestate", json!(span.trace_state), "string"));
    }
    let logs: Vec<_> = span
        .events
        .iter()
        .map(|e| {
            let mut fields = vec![tag("event", json!(e.name), "string")];
            fields.extend(e.attributes.iter().map(kv_json));
            json!({"timestamp": e.time_unix_nano / 1000, "fields": fields})
        })
        .collect();
    let start = span.start_time_unix_nano;
    json!({
        "traceID": trace_id.to_hex(),
        "spanID": const_hex::encode(&span.span_id),
        "flags": span.flags & 0xff,
        "operationName": span.name,
        "references": references,
        "startTime": start / 1000,
        "duration": span.end_time_unix_nano.saturating_sub(start) / 1000,
        "tags": tags,
        "logs": logs,
        "processID": pid,
        "warnings": null,
    })
}

fn tag(key: &str, value: serde_json::Value, kind: &str) -> serde_json::Value {
    json!({"key": key, "type": kind, "value": value})
}

/// Integers beyond 2^53 lose precision as JSON numbers in browsers: they go as strings.
const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

fn kv_json(kv: &KeyValue) -> serde_json::Value {
    let (kind, value) = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => ("string", json!(s)),
        Some(Value::BoolValue(b)) => ("bool", json!(b)),
        Some(Value::IntValue(i)) if i.abs() <= MAX_SAFE_INTEGER => ("int64", json!(i)),
        Some(Value::IntValue(i)) => ("int64", json!(i.to_string())),
        Some(Value::DoubleValue(d)) => ("float64", json!(d)),
        Some(Value::BytesValue(b)) => (
            "binary",
            json!(base64::engine::general_purpose::STANDARD.encode(b)),
        ),
        Some(other) => (
            "string",
            json!(analysis::value_json(Some(&AnyValue {
                value: Some(other.clone())
            }))
            .to_string()),
        ),
        None => ("string", json!("")),
    };
    tag(&kv.key, value, kind)
}

// ---- api_v3 ----

pub async fn v3_services(State(api): State<TraceApi>) -> Result<Json<serde_json::Value>, V3Error> {
    let services = blocking(move || Ok(api.search.services()?)).await?;
    Ok(Json(json!({ "services": services })))
}

pub async fn v3_operations(
    State(api): State<TraceApi>,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, V3Error> {
    let pairs = params::pairs(query.as_deref());
    let ops = blocking(move || operations_of(&api, &pairs)).await?;
    Ok(Json(json!({ "operations": ops })))
}

pub async fn v3_trace(
    State(api): State<TraceApi>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, V3Error> {
    let trace_id = params::trace_id("trace_id", &id)?;
    let pairs = params::pairs(query.as_deref());
    // Accepted and checked, but the lookup is not bound to them: an id finds its trace
    // whatever its age.
    for name in ["startTime", "endTime"] {
        if let Some(t) = get(&pairs, &[name]) {
            params::rfc3339(name, t)?;
        }
    }
    let trace = blocking(move || api.load(&trace_id)).await?;
    match trace {
        Some(t) => Ok(otlp_json(&[t])),
        None => Err(ApiError::NotFound(format!("trace not found: {}", trace_id.to_hex())).into()),
    }
}

/// Parses an api_v3 search (`query.*` parameters, with their snake_case aliases).
pub fn v3_search(api: &TraceApi, pairs: &[(String, String)]) -> Result<Search, ApiError> {
    let required_time = |names: &[&str]| -> Result<u64, ApiError> {
        let value = get(pairs, names)
            .ok_or_else(|| ApiError::bad(format!("parameter {} is required", names[0])))?;
        params::rfc3339(names[0], value)
    };
    let start = required_time(&["query.startTimeMin", "query.start_time_min"])?;
    let end = required_time(&["query.startTimeMax", "query.start_time_max"])?;
    let range = api.window(start, end, "query.startTimeMin")?;
    let limit = match get(
        pairs,
        &[
            "query.searchDepth",
            "query.search_depth",
            "query.num_traces",
        ],
    ) {
        Some(l) => match params::integer::<usize>("query.searchDepth", l)? {
            0 => 100,
            n => api.limit("query.searchDepth", n)?,
        },
        None => 100,
    };
    let mut query = TraceQuery::new(range, limit);
    query.deadline = Some(api.deadline());
    query.service = Some(
        get(pairs, &["query.serviceName", "query.service_name"])
            .ok_or_else(|| ApiError::bad("parameter query.serviceName is required"))?
            .to_string(),
    );
    query.operation =
        get(pairs, &["query.operationName", "query.operation_name"]).map(str::to_string);
    if let Some(attrs) = get(pairs, &["query.attributes"]) {
        for (key, value) in params::json_map("query.attributes", attrs)? {
            add_tag(&mut query, key, value)?;
        }
    }
    let min = get(pairs, &["query.durationMin", "query.duration_min"]);
    let max = get(pairs, &["query.durationMax", "query.duration_max"]);
    let dpairs: Vec<(String, String)> = [("query.durationMin", min), ("query.durationMax", max)]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), v.to_string())))
        .collect();
    durations(
        &dpairs,
        &mut query,
        ["query.durationMin", "query.durationMax"],
    )?;
    Ok(Search {
        query,
        service_param: "query.serviceName".into(),
        root_service: None,
        root_operation: None,
    })
}

pub async fn v3_find_traces(
    State(api): State<TraceApi>,
    RawQuery(query): RawQuery,
) -> Result<Response, V3Error> {
    let traces = find_with(api, query, v3_search).await?;
    Ok(otlp_json(&traces))
}

pub async fn v3_trace_summaries(
    State(api): State<TraceApi>,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, V3Error> {
    let traces = find_with(api, query, v3_search).await?;
    let summaries: Vec<_> = traces
        .iter()
        .map(|t| {
            let s = analysis::summary(t);
            json!({
                "traceId": s.trace_id,
                "rootServiceName": s.root_service,
                "rootOperationName": s.root_operation,
                "minStartTimeUnixNano": s.start_unix_nano.to_string(),
                "maxEndTimeUnixNano": s.end_unix_nano.to_string(),
                "spanCount": s.span_count,
                "errorSpanCount": s.error_count,
                "services": s.services.iter().map(|c| json!({
                    "name": c.name, "spanCount": c.span_count, "errorSpanCount": c.error_count,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Json(json!({ "summaries": summaries })))
}

/// Traces as OTLP/JSON `{"result": {"resourceSpans": [...]}}`, spans grouped by resource
/// and scope.
fn otlp_json(traces: &[LoadedTrace]) -> Response {
    let mut data = TracesData::default();
    let mut groups: HashMap<(usize, usize), (usize, usize)> = HashMap::new();
    let mut resources: HashMap<usize, usize> = HashMap::new();
    for trace in traces {
        for s in &trace.spans {
            let rkey = std::sync::Arc::as_ptr(&s.resource) as usize;
            let skey = std::sync::Arc::as_ptr(&s.scope) as usize;
            let ri = *resources.entry(rkey).or_insert_with(|| {
                data.resource_spans.push(ResourceSpans {
                    resource: Some(OtlpResource {
                        attributes: s.resource.attributes.clone(),
                        dropped_attributes_count: s.resource.dropped_attributes_count,
                        entity_refs: Vec::new(),
                    }),
                    scope_spans: Vec::new(),
                    schema_url: s.resource.schema_url.clone(),
                });
                data.resource_spans.len() - 1
            });
            let (ri, si) = *groups.entry((rkey, skey)).or_insert_with(|| {
                let rs = &mut data.resource_spans[ri];
                rs.scope_spans.push(ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: s.scope.name.clone(),
                        version: s.scope.version.clone(),
                        attributes: s.scope.attributes.clone(),
                        dropped_attributes_count: s.scope.dropped_attributes_count,
                    }),
                    spans: Vec::new(),
                    schema_url: s.scope.schema_url.clone(),
                });
                (ri, rs.scope_spans.len() - 1)
            });
            data.resource_spans[ri].scope_spans[si]
                .spans
                .push(v3_span(&trace.trace_id, &s.span));
        }
    }
    match serde_json::to_value(&data) {
        Ok(value) => Json(json!({ "result": value })).into_response(),
        Err(e) => V3Error(ApiError::Internal(format!("encoding traces: {e}"))).into_response(),
    }
}
