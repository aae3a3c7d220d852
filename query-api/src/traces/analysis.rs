//! What Lookout computes from spans: trace summaries, the trace tree (self time, critical path,
//! warnings), the service graph and error groups.

use std::collections::{BTreeMap, HashMap};

use lookout_proto::otlp::common::v1::any_value::Value;
use lookout_proto::otlp::common::v1::{AnyValue, KeyValue};
use lookout_storage::service_graph::pick_parent;
use lookout_storage::{ErrorSpan, ServiceGraph, StoredSpan};
use serde::Serialize;
use serde_json::{json, Map};

use super::params::kind_name;
use super::{is_error, service_of, LoadedTrace};

/// The root span of a trace: the earliest span without a parent, else the earliest span whose
/// parent is not in the trace.
pub fn root(spans: &[StoredSpan]) -> Option<(&str, &StoredSpan)> {
    let ids: std::collections::HashSet<&[u8]> =
        spans.iter().map(|s| s.span.span_id.as_slice()).collect();
    spans
        .iter()
        .find(|s| s.span.parent_span_id.is_empty())
        .or_else(|| {
            spans
                .iter()
                .find(|s| !ids.contains(s.span.parent_span_id.as_slice()))
        })
        .or(spans.first())
        .map(|s| (service_of(s), s))
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceCount {
    pub name: String,
    pub span_count: usize,
    pub error_count: usize,
}

/// One line of a trace list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceSummary {
    pub trace_id: String,
    pub root_service: String,
    pub root_operation: String,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    pub span_count: usize,
    pub error_count: usize,
    pub services: Vec<ServiceCount>,
}

pub fn summary(trace: &LoadedTrace) -> TraceSummary {
    let mut services: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let (mut start, mut end, mut errors) = (u64::MAX, 0, 0);
    for s in &trace.spans {
        let e = usize::from(is_error(s));
        let entry = services.entry(service_of(s)).or_default();
        entry.0 += 1;
        entry.1 += e;
        errors += e;
        start = start.min(s.span.start_time_unix_nano);
        end = end.max(s.span.end_time_unix_nano);
    }
    let (root_service, root_operation) = root(&trace.spans)
        .map(|(svc, s)| (svc.to_string(), s.span.name.clone()))
        .unwrap_or_default();
    TraceSummary {
        trace_id: trace.trace_id.to_hex(),
        root_service,
        root_operation,
        start_unix_nano: if start == u64::MAX { 0 } else { start },
        end_unix_nano: end,
        span_count: trace.spans.len(),
        error_count: errors,
        services: services
            .into_iter()
            .map(|(name, (span_count, error_count))| ServiceCount {
                name: name.to_string(),
                span_count,
                error_count,
            })
            .collect(),
    }
}

/// An OTLP value as plain JSON (strings, numbers, booleans, arrays, objects; bytes as hex).
pub fn value_json(value: Option<&AnyValue>) -> serde_json::Value {
    match value.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => json!(s),
        Some(Value::BoolValue(b)) => json!(b),
        Some(Value::IntValue(i)) => json!(i),
        Some(Value::DoubleValue(d)) => json!(d),
        Some(Value::BytesValue(b)) => json!(const_hex::encode(b)),
        Some(Value::ArrayValue(a)) => {
            serde_json::Value::Array(a.values.iter().map(|v| value_json(Some(v))).collect())
        }
        Some(Value::KvlistValue(kv)) => attributes_json(&kv.values),
        _ => serde_json::Value::Null,
    }
}

pub fn attributes_json(attributes: &[KeyValue]) -> serde_json::Value {
    let mut map = Map::new();
    for kv in attributes {
        map.insert(kv.key.clone(), value_json(kv.value.as_ref()));
    }
    serde_json::Value::Object(map)
}

/// Nesting deeper than this is flattened (with a warning), so a hostile trace cannot make
/// the answer's recursion overflow a stack.
const MAX_DEPTH: usize = 256;
/// At most this many spans are named in each kind of warning.
const MAX_NAMED: usize = 5;

/// The trace tree: spans nested under their parents, children by start time, with self time,
/// depth, the critical path and warnings for orphans, clock skew and truncation.
pub fn tree(trace: &LoadedTrace, log_counts: &HashMap<String, usize>) -> serde_json::Value {
    let spans = &trace.spans;
    // Spans by id: two spans may share one (the client and server halves of a Zipkin-style
    // shared span, or a client that reuses ids). Each is shown, under its own parent.
    let mut by_id: HashMap<&[u8], Vec<usize>> = HashMap::new();
    for (i, s) in spans.iter().enumerate() {
        by_id.entry(s.span.span_id.as_slice()).or_default().push(i);
    }
    let parents: Vec<Option<usize>> = (0..spans.len())
        .map(|i| {
            let s = &spans[i];
            if s.span.parent_span_id.is_empty() {
                return None;
            }
            let candidates = by_id.get(s.span.parent_span_id.as_slice())?;
            pick_parent(candidates, i, |p| service_of(&spans[p]) == service_of(s))
        })
        .collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); spans.len()];
    let mut roots = Vec::new();
    let mut orphans = Vec::new();
    for (i, s) in spans.iter().enumerate() {
        match parents[i] {
            Some(p) => children[p].push(i),
            None => {
                if !s.span.parent_span_id.is_empty() {
                    orphans.push(i);
                }
                roots.push(i);
            }
        }
    }
    // `spans` is sorted by start, so each child list already is.

    // Depths and a cycle guard: walk from the roots; spans never reached are in a cycle.
    let mut depth = vec![usize::MAX; spans.len()];
    let mut order = Vec::with_capacity(spans.len());
    let mut stack: Vec<(usize, usize)> = roots.iter().rev().map(|&r| (r, 0)).collect();
    let mut too_deep = 0;
    while let Some((i, d)) = stack.pop() {
        if depth[i] != usize::MAX {
            continue;
        }
        depth[i] = d;
        order.push(i);
        if d + 1 >= MAX_DEPTH {
            too_deep += children[i].len();
            for &c in &children[i] {
                roots.push(c);
                stack.push((c, 0));
            }
            children[i].clear();
            continue;
        }
        for &c in children[i].iter().rev() {
            stack.push((c, d + 1));
        }
    }
    let mut cyclic = 0;
    for (i, d) in depth.iter_mut().enumerate() {
        if *d == usize::MAX {
            *d = 0;
            roots.push(i);
            cyclic += 1;
            for list in children.iter_mut() {
                list.retain(|&c| c != i);
            }
        }
    }

    // Self time: the span's duration less the union of its children's time inside it.
    let self_time: Vec<u64> = (0..spans.len())
        .map(|i| {
            let (start, end) = bounds(&spans[i]);
            let mut covered = 0;
            let mut cursor = start;
            let mut intervals: Vec<(u64, u64)> = children[i]
                .iter()
                .map(|&c| {
                    let (cs, ce) = bounds(&spans[c]);
                    (cs.clamp(start, end), ce.clamp(start, end))
                })
                .collect();
            intervals.sort_unstable();
            for (cs, ce) in intervals {
                let cs = cs.max(cursor);
                if ce > cs {
                    covered += ce - cs;
                    cursor = ce;
                }
            }
            (end - start).saturating_sub(covered)
        })
        .collect();

    // Critical path: from each root, the last child to finish, then the last to finish before
    // that one started, and so on, recursively.
    let mut critical = vec![false; spans.len()];
    let mut stack: Vec<usize> = roots.clone();
    while let Some(i) = stack.pop() {
        critical[i] = true;
        let (_, mut cursor) = bounds(&spans[i]);
        let mut by_end = children[i].clone();
        by_end.sort_by_key(|&c| std::cmp::Reverse(bounds(&spans[c]).1));
        for c in by_end {
            let (cs, ce) = bounds(&spans[c]);
            if cs < cursor && ce.min(cursor) > cs {
                stack.push(c);
                cursor = cs;
            }
        }
    }

    let mut warnings = trace.warnings.clone();
    let name = |i: usize| {
        format!(
            "{} ({} {})",
            const_hex::encode(&spans[i].span.span_id),
            service_of(&spans[i]),
            spans[i].span.name
        )
    };
    if !orphans.is_empty() {
        let named: Vec<_> = orphans.iter().take(MAX_NAMED).map(|&i| name(i)).collect();
        warnings.push(format!(
            "{} span(s) whose parent is not in the trace, shown at the top level: {}",
            orphans.len(),
            named.join(", ")
        ));
    }
    let skewed: Vec<usize> = (0..spans.len())
        .filter(|&i| {
            parents[i].is_some_and(|p| {
                let ((ps, pe), (cs, ce)) = (bounds(&spans[p]), bounds(&spans[i]));
                cs < ps || ce > pe
            })
        })
        .collect();
    if !skewed.is_empty() {
        let named: Vec<_> = skewed.iter().take(MAX_NAMED).map(|&i| name(i)).collect();
        warnings.push(format!(
            "{} span(s) start before or end after their parent (clock skew between hosts?): {}",
            skewed.len(),
            named.join(", ")
        ));
    }
    let mut shared: Vec<&Vec<usize>> = by_id.values().filter(|v| v.len() > 1).collect();
    if !shared.is_empty() {
        shared.sort_unstable();
        let named: Vec<_> = shared
            .iter()
            .take(MAX_NAMED)
            .map(|same| {
                let who: Vec<_> = same
                    .iter()
                    .map(|&i| format!("{} {}", service_of(&spans[i]), spans[i].span.name))
                    .collect();
                format!(
                    "{} ({})",
                    const_hex::encode(&spans[same[0]].span.span_id),
                    who.join(", ")
                )
            })
            .collect();
        warnings.push(format!(
            "{} span id(s) are shared by more than one span (a Zipkin-style client/server pair, or a client reusing ids); each span is shown: {}",
            shared.len(),
            named.join("; ")
        ));
    }
    if too_deep > 0 {
        warnings.push(format!(
            "spans nested deeper than {MAX_DEPTH} levels are shown at the top level ({too_deep})"
        ));
    }
    if cyclic > 0 {
        warnings.push(format!(
            "{cyclic} span(s) are in a parent cycle and are shown at the top level"
        ));
    }

    let node = |i: usize| {
        let s = &spans[i];
        let (start, end) = bounds(s);
        let status = s.span.status.clone().unwrap_or_default();
        json!({
            "spanId": const_hex::encode(&s.span.span_id),
            "parentSpanId": const_hex::encode(&s.span.parent_span_id),
            "service": service_of(s),
            "name": s.span.name,
            "kind": kind_name(s.span.kind),
            "startTimeUnixNano": start.to_string(),
            "endTimeUnixNano": end.to_string(),
            "durationNs": (end - start).to_string(),
            "selfTimeNs": self_time[i].to_string(),
            "depth": depth[i],
            "criticalPath": critical[i],
            "logCount": log_counts.get(&const_hex::encode(&s.span.span_id)).copied().unwrap_or(0),
            "status": {
                "code": match status.code { 1 => "ok", 2 => "error", _ => "unset" },
                "message": status.message,
            },
            "attributes": attributes_json(&s.span.attributes),
            "resource": attributes_json(&s.resource.attributes),
            "scope": {"name": s.scope.name, "version": s.scope.version},
            "events": s.span.events.iter().map(|e| json!({
                "timeUnixNano": e.time_unix_nano.to_string(),
                "name": e.name,
                "attributes": attributes_json(&e.attributes),
            })).collect::<Vec<_>>(),
            "links": s.span.links.iter().map(|l| json!({
                "traceId": const_hex::encode(&l.trace_id),
                "spanId": const_hex::encode(&l.span_id),
                "attributes": attributes_json(&l.attributes),
            })).collect::<Vec<_>>(),
            "droppedCounts": {
                "attributes": s.span.dropped_attributes_count,
                "events": s.span.dropped_events_count,
                "links": s.span.dropped_links_count,
            },
        })
    };
    // Build bottom-up (reverse pre-order) so no recursion is needed.
    let mut built: Vec<Option<serde_json::Value>> = vec![None; spans.len()];
    for &i in order.iter().rev() {
        let mut n = node(i);
        let kids: Vec<_> = children[i]
            .iter()
            .filter_map(|&c| built[c].take())
            .collect();
        n["children"] = serde_json::Value::Array(kids);
        built[i] = Some(n);
    }
    for &r in &roots {
        if built[r].is_none() {
            let mut n = node(r);
            n["children"] = json!([]);
            built[r] = Some(n);
        }
    }
    let summary = summary(trace);
    json!({
        "traceId": summary.trace_id,
        "rootService": summary.root_service,
        "rootName": summary.root_operation,
        "startTimeUnixNano": summary.start_unix_nano.to_string(),
        "durationNs": summary.end_unix_nano.saturating_sub(summary.start_unix_nano).to_string(),
        "spanCount": summary.span_count,
        "errorCount": summary.error_count,
        "services": summary.services,
        "truncated": !trace.warnings.is_empty(),
        "warnings": warnings,
        "roots": roots.iter().filter_map(|&r| built[r].take()).collect::<Vec<_>>(),
    })
}

/// Start and end of a span, with an end before the start taken as the start.
fn bounds(s: &StoredSpan) -> (u64, u64) {
    let start = s.span.start_time_unix_nano;
    (start, s.span.end_time_unix_nano.max(start))
}

/// The service map as Lookout's API returns it.
pub fn service_map_json(graph: &ServiceGraph, window_seconds: f64) -> serde_json::Value {
    let nodes: Vec<_> = graph
        .nodes
        .iter()
        .map(|(name, n)| {
            let ms = |q: f64| n.duration_quantile_ns(q).map(|ns| ns / 1e6);
            json!({
                "service": name,
                "requests": n.requests,
                "errors": n.errors,
                "requestRate": n.requests as f64 / window_seconds,
                "errorRate": if n.requests == 0 { 0.0 } else { n.errors as f64 / n.requests as f64 },
                "p50Ms": ms(0.5),
                "p99Ms": ms(0.99),
            })
        })
        .collect();
    let edges: Vec<_> = graph
        .edges
        .iter()
        .map(|((from, to), e)| {
            json!({"caller": from, "callee": to, "calls": e.calls, "errors": e.errors})
        })
        .collect();
    json!({"nodes": nodes, "edges": edges})
}

/// Errors grouped by service, operation and exception type (else status message).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ErrorGroup {
    pub service: String,
    pub operation: String,
    pub exception_type: String,
    pub message: String,
    pub count: u64,
    pub first_seen: String,
    pub last_seen: String,
    #[serde(skip)]
    pub first_seen_unix_nano: u64,
    #[serde(skip)]
    pub last_seen_unix_nano: u64,
    pub trace_ids: Vec<String>,
    /// The failing span of each of `trace_ids`, in the same order.
    pub span_ids: Vec<String>,
    /// Occurrences per equal part of the window, oldest first (when asked for).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub buckets: Vec<u64>,
}

/// How [`error_groups`] counts occurrences over time: `count` equal buckets of the window
/// starting at `start_unix_nano` and `width` nanoseconds wide each.
#[derive(Clone, Copy, Debug)]
pub struct Buckets {
    pub start_unix_nano: u64,
    pub width: u64,
    pub count: usize,
}

/// Newest trace ids kept per group.
const TRACES_PER_GROUP: usize = 5;

pub fn error_groups(
    spans: &[ErrorSpan],
    by_recency: bool,
    buckets: Option<Buckets>,
) -> Vec<ErrorGroup> {
    let mut groups: HashMap<(&str, &str, &str), ErrorGroup> = HashMap::new();
    for s in spans {
        // Group by exception type; without one, by the status message.
        let kind = if s.exception_type.is_empty() {
            s.message.as_str()
        } else {
            s.exception_type.as_str()
        };
        let g = groups
            .entry((&s.service, &s.operation, kind))
            .or_insert_with(|| ErrorGroup {
                service: s.service.clone(),
                operation: s.operation.clone(),
                exception_type: s.exception_type.clone(),
                message: s.message.clone(),
                count: 0,
                first_seen: String::new(),
                last_seen: String::new(),
                first_seen_unix_nano: u64::MAX,
                last_seen_unix_nano: 0,
                trace_ids: Vec::new(),
                span_ids: Vec::new(),
                buckets: buckets.map_or_else(Vec::new, |b| vec![0; b.count]),
            });
        g.count += 1;
        if let Some(b) = buckets {
            let i = (s.start_unix_nano.saturating_sub(b.start_unix_nano) / b.width.max(1)) as usize;
            if let Some(n) = g.buckets.get_mut(i.min(b.count.saturating_sub(1))) {
                *n += 1;
            }
        }
        if s.start_unix_nano > g.last_seen_unix_nano {
            g.last_seen_unix_nano = s.start_unix_nano;
            g.message.clone_from(&s.message);
        }
        g.first_seen_unix_nano = g.first_seen_unix_nano.min(s.start_unix_nano);
        // Spans come newest first within a service.
        let id = s.trace_id.to_hex();
        if g.trace_ids.len() < TRACES_PER_GROUP && !g.trace_ids.contains(&id) {
            g.trace_ids.push(id);
            g.span_ids.push(s.span_id.to_hex());
        }
    }
    let mut out: Vec<ErrorGroup> = groups
        .into_values()
        .map(|mut g| {
            g.first_seen = super::params::format_rfc3339(g.first_seen_unix_nano);
            g.last_seen = super::params::format_rfc3339(g.last_seen_unix_nano);
            g
        })
        .collect();
    out.sort_by(|a, b| {
        let key = |g: &ErrorGroup| {
            if by_recency {
                (g.last_seen_unix_nano, g.count)
            } else {
                (g.count, g.last_seen_unix_nano)
            }
        };
        key(b)
            .cmp(&key(a))
            .then_with(|| (&a.service, &a.operation).cmp(&(&b.service, &b.operation)))
    });
    out
}
