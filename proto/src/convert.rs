//! The one conversion from OTLP export requests to model batches.
//!
//! Contract: every item of the request is either in the returned batch or counted in
//! [`Converted::rejections`] with a reason; nothing is dropped silently. Values over the
//! [`Limits`] are truncated (counted in [`Converted::truncated`]), never rejected.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::time::Duration;

use crate::ids::{SpanId, TraceId};
use crate::model::{
    Batch, Interned, LogItem, LogRecord, MetricItem, MetricKind, MetricPoint, PointValue, Resource,
    Scope, SpanItem, SpanRecord,
};
use crate::otlp::collector::logs::v1::ExportLogsServiceRequest;
use crate::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use crate::otlp::collector::trace::v1::ExportTraceServiceRequest;
use crate::otlp::common::v1::{any_value::Value, AnyValue, InstrumentationScope, KeyValue};
use crate::otlp::metrics::v1::metric::Data;
use crate::otlp::resource::v1::Resource as OtlpResource;

/// Defensive limits applied to every item at ingest. SDK limits bind only SDKs: a backend must
/// protect itself from a client that sends a megabyte attribute or a million events.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Longer string and bytes attribute values are truncated to this many bytes (at a UTF-8
    /// character boundary).
    pub max_attribute_value_length: usize,
    /// Attributes beyond this many per item (span, event, link, log record, data point, resource,
    /// scope) are dropped and added to the item's `dropped_attributes_count`.
    pub max_attributes_per_item: usize,
    /// Span events beyond this many are dropped and added to `dropped_events_count`.
    pub max_events_per_span: usize,
    /// Span links beyond this many are dropped and added to `dropped_links_count`.
    pub max_links_per_span: usize,
    /// Longer log bodies are truncated to this many bytes.
    pub max_log_body_length: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_attribute_value_length: 8 * 1024,
            max_attributes_per_item: 256,
            max_events_per_span: 1024,
            max_links_per_span: 128,
            max_log_body_length: 256 * 1024,
        }
    }
}

impl Limits {
    /// Every problem, each with its path below `prefix`.
    pub fn validate(&self, prefix: &str, problems: &mut Vec<String>) {
        for (name, value) in [
            (
                "max_attribute_value_length",
                self.max_attribute_value_length,
            ),
            ("max_attributes_per_item", self.max_attributes_per_item),
            ("max_log_body_length", self.max_log_body_length),
        ] {
            if value == 0 {
                problems.push(format!("{prefix}.{name}: must be greater than 0"));
            }
        }
    }
}

/// Why an item was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectReason {
    InvalidTraceId,
    InvalidSpanId,
    InvalidParentSpanId,
    MissingName,
    MissingTimestamp,
    MissingMetricName,
    SeriesLimit,
    OutOfOrderSample,
    /// Dated further ahead of the server's clock than the accepted margin.
    TooFarInFuture,
    /// Dated before its signal's retention: it would be deleted at once.
    TooOld,
}

impl RejectReason {
    pub const ALL: [RejectReason; 10] = [
        RejectReason::InvalidTraceId,
        RejectReason::InvalidSpanId,
        RejectReason::InvalidParentSpanId,
        RejectReason::MissingName,
        RejectReason::MissingTimestamp,
        RejectReason::MissingMetricName,
        RejectReason::SeriesLimit,
        RejectReason::OutOfOrderSample,
        RejectReason::TooFarInFuture,
        RejectReason::TooOld,
    ];

    /// A stable snake_case name, used as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::InvalidTraceId => "invalid_trace_id",
            RejectReason::InvalidSpanId => "invalid_span_id",
            RejectReason::InvalidParentSpanId => "invalid_parent_span_id",
            RejectReason::MissingName => "missing_name",
            RejectReason::MissingTimestamp => "missing_timestamp",
            RejectReason::MissingMetricName => "missing_metric_name",
            RejectReason::SeriesLimit => "series_limit",
            RejectReason::OutOfOrderSample => "out_of_order_sample",
            RejectReason::TooFarInFuture => "too_far_in_future",
            RejectReason::TooOld => "too_old",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            RejectReason::InvalidTraceId => "invalid trace_id",
            RejectReason::InvalidSpanId => "invalid span_id",
            RejectReason::InvalidParentSpanId => "invalid parent_span_id",
            RejectReason::MissingName => "missing name",
            RejectReason::MissingTimestamp => "missing timestamp",
            RejectReason::MissingMetricName => "missing metric name",
            RejectReason::SeriesLimit => "series limit reached",
            RejectReason::OutOfOrderSample => "out of order sample",
            RejectReason::TooFarInFuture => "too far in the future",
            RejectReason::TooOld => "older than retention",
        }
    }
}

/// Counts of rejected items by reason, and the first rejection in full.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rejections {
    counts: [u64; RejectReason::ALL.len()],
    first: Option<String>,
}

impl Rejections {
    pub fn reject(&mut self, reason: RejectReason, count: u64, detail: impl FnOnce() -> String) {
        self.counts[reason as usize] += count;
        if self.first.is_none() {
            self.first = Some(detail());
        }
    }

    /// Adds `other`'s counts (its first rejection is kept when this has none).
    pub fn merge(&mut self, other: Rejections) {
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a += b;
        }
        if self.first.is_none() {
            self.first = other.first;
        }
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    pub fn count(&self, reason: RejectReason) -> u64 {
        self.counts[reason as usize]
    }

    /// Non-zero counts by reason.
    pub fn iter(&self) -> impl Iterator<Item = (RejectReason, u64)> + '_ {
        RejectReason::ALL
            .into_iter()
            .map(|r| (r, self.counts[r as usize]))
            .filter(|(_, n)| *n > 0)
    }

    /// The `partial_success.error_message`: counts by reason and the first rejection in full;
    /// `None` when nothing was rejected.
    pub fn message(&self, received: u64, noun: &str) -> Option<String> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let mut msg = format!("rejected {total} of {received} {noun}: ");
        for (i, (reason, n)) in self.iter().enumerate() {
            if i > 0 {
                msg.push_str(", ");
            }
            let _ = write!(msg, "{} ({n})", reason.describe());
        }
        if let Some(first) = &self.first {
            let _ = write!(msg, "; first: {first}");
        }
        Some(msg)
    }
}

/// The result of converting one export request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Converted<T> {
    pub batch: Batch<T>,
    /// Items in the request (accepted + rejected).
    pub received: u64,
    pub rejections: Rejections,
    /// Attribute values and log bodies cut to the limits.
    pub truncated: u64,
}

/// The times an item may have to be stored: not after `not_after` (the server's clock plus a
/// margin for clock skew), not before `not_before` (the signal's retention). A client that
/// sends milliseconds where nanoseconds belong lands in 1970 and is told so, instead of
/// creating partitions and series state nothing will ever read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeWindow {
    pub not_before_unix_nano: u64,
    pub not_after_unix_nano: u64,
}

impl TimeWindow {
    /// `now` minus `max_age` to `now` plus `future`.
    pub fn around(now_unix_nano: u64, max_age: Duration, future: Duration) -> TimeWindow {
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        TimeWindow {
            not_before_unix_nano: now_unix_nano.saturating_sub(nanos(max_age)),
            not_after_unix_nano: now_unix_nano.saturating_add(nanos(future)),
        }
    }
}

/// An item's own time, the one its storage and retention go by.
pub trait Timed {
    fn time_unix_nano(&self) -> u64;
}

impl Timed for SpanItem {
    fn time_unix_nano(&self) -> u64 {
        self.start_time_unix_nano
    }
}

impl Timed for LogItem {
    fn time_unix_nano(&self) -> u64 {
        self.time_unix_nano
    }
}

impl Timed for MetricItem {
    fn time_unix_nano(&self) -> u64 {
        self.time_unix_nano
    }
}

impl<T: Timed> Converted<T> {
    /// Rejects the items dated outside `window`, counted by reason.
    pub fn reject_outside(&mut self, window: TimeWindow) {
        let rejections = &mut self.rejections;
        self.batch.items.retain(|item| {
            let t = item.time_unix_nano();
            let (reason, detail) = if t > window.not_after_unix_nano {
                (RejectReason::TooFarInFuture, "after")
            } else if t < window.not_before_unix_nano {
                (RejectReason::TooOld, "before")
            } else {
                return true;
            };
            rejections.reject(reason, 1, || {
                let bound = match reason {
                    RejectReason::TooOld => window.not_before_unix_nano,
                    _ => window.not_after_unix_nano,
                };
                format!(
                    "time {} is {detail} the accepted window (bound {})",
                    format_time(t),
                    format_time(bound)
                )
            });
            false
        });
    }
}

/// An RFC 3339 time for a message, or the raw nanoseconds when out of range.
fn format_time(unix_nano: u64) -> String {
    match jiff::Timestamp::from_nanosecond(i128::from(unix_nano)) {
        Ok(t) => t.to_string(),
        Err(_) => format!("{unix_nano}ns"),
    }
}

/// Builds a batch: interns resources and scopes, applies limits.
struct Builder<'a, T> {
    limits: &'a Limits,
    out: Converted<T>,
    resource_ids: HashSet<u64>,
    scope_ids: HashSet<u64>,
}

impl<'a, T> Builder<'a, T> {
    fn new(limits: &'a Limits) -> Self {
        Builder {
            limits,
            out: Converted {
                batch: Batch::default(),
                received: 0,
                rejections: Rejections::default(),
                truncated: 0,
            },
            resource_ids: HashSet::new(),
            scope_ids: HashSet::new(),
        }
    }

    fn resource(&mut self, resource: Option<OtlpResource>, schema_url: String) -> u64 {
        let resource = resource.unwrap_or_default();
        let mut stored = Resource {
            attributes: resource.attributes,
            dropped_attributes_count: resource.dropped_attributes_count,
            schema_url,
        };
        self.attributes(&mut stored.attributes, &mut stored.dropped_attributes_count);
        let interned = Interned::new(&stored);
        let id = interned.id;
        if self.resource_ids.insert(id) {
            self.out.batch.resources.push(interned);
        }
        id
    }

    fn scope(&mut self, scope: Option<InstrumentationScope>, schema_url: String) -> u64 {
        let scope = scope.unwrap_or_default();
        let mut stored = Scope {
            name: scope.name,
            version: scope.version,
            attributes: scope.attributes,
            dropped_attributes_count: scope.dropped_attributes_count,
            schema_url,
        };
        self.attributes(&mut stored.attributes, &mut stored.dropped_attributes_count);
        let interned = Interned::new(&stored);
        let id = interned.id;
        if self.scope_ids.insert(id) {
            self.out.batch.scopes.push(interned);
        }
        id
    }

    fn attributes(&mut self, attributes: &mut Vec<KeyValue>, dropped: &mut u32) {
        let max = self.limits.max_attributes_per_item;
        if attributes.len() > max {
            *dropped = dropped.saturating_add((attributes.len() - max) as u32);
            attributes.truncate(max);
        }
        let max_len = self.limits.max_attribute_value_length;
        for kv in attributes.iter_mut() {
            if let Some(value) = kv.value.as_mut() {
                self.out.truncated += truncate_any_value(value, max_len);
            }
        }
    }
}

/// Cuts every string and bytes value inside `value` to `max` bytes; returns how many were cut.
fn truncate_any_value(value: &mut AnyValue, max: usize) -> u64 {
    match value.value.as_mut() {
        Some(Value::StringValue(s)) => truncate_string(s, max),
        Some(Value::BytesValue(b)) if b.len() > max => {
            b.truncate(max);
            1
        }
        Some(Value::ArrayValue(array)) => array
            .values
            .iter_mut()
            .map(|v| truncate_any_value(v, max))
            .sum(),
        Some(Value::KvlistValue(list)) => list
            .values
            .iter_mut()
            .filter_map(|kv| kv.value.as_mut())
            .map(|v| truncate_any_value(v, max))
            .sum(),
        _ => 0,
    }
}

fn truncate_string(s: &mut String, max: usize) -> u64 {
    if s.len() <= max {
        return 0;
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    1
}

/// Converts a trace export. Rejects spans with an invalid trace id, span id or parent span id
/// (a parent of eight zero bytes means none), an empty name, or a missing start or end time.
pub fn convert_traces(request: ExportTraceServiceRequest, limits: &Limits) -> Converted<SpanItem> {
    let mut b = Builder::new(limits);
    for (ri, rs) in request.resource_spans.into_iter().enumerate() {
        let resource_id = b.resource(rs.resource, rs.schema_url);
        for (si, ss) in rs.scope_spans.into_iter().enumerate() {
            let scope_id = b.scope(ss.scope, ss.schema_url);
            b.out.received += ss.spans.len() as u64;
            b.out.batch.items.reserve(ss.spans.len());
            for (pi, mut span) in ss.spans.into_iter().enumerate() {
                let path = || format!("resource_spans[{ri}].scope_spans[{si}].spans[{pi}]");
                let trace_id = match TraceId::from_slice(&span.trace_id) {
                    Ok(id) => id,
                    Err(e) => {
                        b.out
                            .rejections
                            .reject(RejectReason::InvalidTraceId, 1, || {
                                format!("{}: trace_id {e}", path())
                            });
                        continue;
                    }
                };
                let span_id = match SpanId::from_slice(&span.span_id) {
                    Ok(id) => id,
                    Err(e) => {
                        b.out.rejections.reject(RejectReason::InvalidSpanId, 1, || {
                            format!("{}: span_id {e}", path())
                        });
                        continue;
                    }
                };
                if span.parent_span_id.iter().all(|&byte| byte == 0) {
                    span.parent_span_id.clear();
                } else if let Err(e) = SpanId::from_slice(&span.parent_span_id) {
                    b.out
                        .rejections
                        .reject(RejectReason::InvalidParentSpanId, 1, || {
                            format!("{}: parent_span_id {e}", path())
                        });
                    continue;
                }
                if span.name.is_empty() {
                    b.out.rejections.reject(RejectReason::MissingName, 1, || {
                        format!("{}: name is required", path())
                    });
                    continue;
                }
                if span.start_time_unix_nano == 0 || span.end_time_unix_nano == 0 {
                    b.out
                        .rejections
                        .reject(RejectReason::MissingTimestamp, 1, || {
                            format!(
                                "{}: start_time_unix_nano and end_time_unix_nano are required",
                                path()
                            )
                        });
                    continue;
                }
                span.trace_id = Vec::new();
                span.span_id = Vec::new();
                b.attributes(&mut span.attributes, &mut span.dropped_attributes_count);
                if span.events.len() > limits.max_events_per_span {
                    let extra = span.events.len() - limits.max_events_per_span;
                    span.dropped_events_count =
                        span.dropped_events_count.saturating_add(extra as u32);
                    span.events.truncate(limits.max_events_per_span);
                }
                for event in &mut span.events {
                    b.attributes(&mut event.attributes, &mut event.dropped_attributes_count);
                }
                // A link to an invalid span context carries nothing to follow: drop it, counted.
                let links_before = span.links.len();
                span.links.retain(|link| {
                    TraceId::from_slice(&link.trace_id).is_ok()
                        && SpanId::from_slice(&link.span_id).is_ok()
                });
                if span.links.len() > limits.max_links_per_span {
                    span.links.truncate(limits.max_links_per_span);
                }
                let dropped_links = links_before - span.links.len();
                span.dropped_links_count = span
                    .dropped_links_count
                    .saturating_add(dropped_links as u32);
                for link in &mut span.links {
                    b.attributes(&mut link.attributes, &mut link.dropped_attributes_count);
                }
                let start_time_unix_nano = span.start_time_unix_nano;
                b.out.batch.items.push(SpanItem {
                    trace_id,
                    span_id,
                    start_time_unix_nano,
                    record: SpanRecord {
                        resource_id,
                        scope_id,
                        span: Some(span),
                    },
                });
            }
        }
    }
    b.out
}

/// Converts a logs export. Log records have no required fields: an invalid trace or span id is
/// cleared (OTLP: the record then has none), and a record without a time gets its observed time,
/// else `received_unix_nano`, as its storage time.
pub fn convert_logs(
    request: ExportLogsServiceRequest,
    limits: &Limits,
    received_unix_nano: u64,
) -> Converted<LogItem> {
    let mut b = Builder::new(limits);
    for rl in request.resource_logs {
        let resource_id = b.resource(rl.resource, rl.schema_url);
        for sl in rl.scope_logs {
            let scope_id = b.scope(sl.scope, sl.schema_url);
            b.out.received += sl.log_records.len() as u64;
            b.out.batch.items.reserve(sl.log_records.len());
            for mut record in sl.log_records {
                if !record.trace_id.is_empty() && TraceId::from_slice(&record.trace_id).is_err() {
                    record.trace_id.clear();
                }
                if !record.span_id.is_empty() && SpanId::from_slice(&record.span_id).is_err() {
                    record.span_id.clear();
                }
                b.attributes(&mut record.attributes, &mut record.dropped_attributes_count);
                if let Some(body) = record.body.as_mut() {
                    b.out.truncated += truncate_any_value(body, limits.max_log_body_length);
                }
                let time_unix_nano = [record.time_unix_nano, record.observed_time_unix_nano]
                    .into_iter()
                    .find(|&t| t != 0)
                    .unwrap_or(received_unix_nano);
                b.out.batch.items.push(LogItem {
                    time_unix_nano,
                    record: LogRecord {
                        resource_id,
                        scope_id,
                        record: Some(record),
                    },
                });
            }
        }
    }
    b.out
}

/// Converts a metrics export, one item per data point. Rejects the points of a metric without a
/// name, and points without `time_unix_nano`.
pub fn convert_metrics(
    request: ExportMetricsServiceRequest,
    limits: &Limits,
) -> Converted<MetricItem> {
    let mut b = Builder::new(limits);
    for (ri, rm) in request.resource_metrics.into_iter().enumerate() {
        let resource_id = b.resource(rm.resource, rm.schema_url);
        for (si, sm) in rm.scope_metrics.into_iter().enumerate() {
            let scope_id = b.scope(sm.scope, sm.schema_url);
            for (mi, metric) in sm.metrics.into_iter().enumerate() {
                let path = || format!("resource_metrics[{ri}].scope_metrics[{si}].metrics[{mi}]");
                let Some(data) = metric.data else { continue };
                let (kind, temporality, monotonic, points): (_, _, _, Vec<PointValue>) = match data
                {
                    Data::Gauge(g) => (
                        MetricKind::Gauge,
                        0,
                        false,
                        g.data_points.into_iter().map(PointValue::Number).collect(),
                    ),
                    Data::Sum(s) => (
                        MetricKind::Sum,
                        s.aggregation_temporality,
                        s.is_monotonic,
                        s.data_points.into_iter().map(PointValue::Number).collect(),
                    ),
                    Data::Histogram(h) => (
                        MetricKind::Histogram,
                        h.aggregation_temporality,
                        false,
                        h.data_points
                            .into_iter()
                            .map(PointValue::Histogram)
                            .collect(),
                    ),
                    Data::ExponentialHistogram(h) => (
                        MetricKind::ExponentialHistogram,
                        h.aggregation_temporality,
                        false,
                        h.data_points
                            .into_iter()
                            .map(PointValue::ExponentialHistogram)
                            .collect(),
                    ),
                    Data::Summary(s) => (
                        MetricKind::Summary,
                        0,
                        false,
                        s.data_points.into_iter().map(PointValue::Summary).collect(),
                    ),
                };
                b.out.received += points.len() as u64;
                if metric.name.is_empty() {
                    b.out.rejections.reject(
                        RejectReason::MissingMetricName,
                        points.len() as u64,
                        || format!("{}: name is required", path()),
                    );
                    continue;
                }
                b.out.batch.items.reserve(points.len());
                for (pi, mut value) in points.into_iter().enumerate() {
                    let time_unix_nano = value.time_unix_nano();
                    if time_unix_nano == 0 {
                        b.out
                            .rejections
                            .reject(RejectReason::MissingTimestamp, 1, || {
                                format!("{}.data_points[{pi}]: time_unix_nano is required", path())
                            });
                        continue;
                    }
                    // Data points have no dropped-attributes counter: count drops as truncation.
                    let mut dropped = 0;
                    b.attributes(point_attributes_mut(&mut value), &mut dropped);
                    b.out.truncated += u64::from(dropped);
                    b.out.batch.items.push(MetricItem {
                        time_unix_nano,
                        point: MetricPoint {
                            resource_id,
                            scope_id,
                            name: metric.name.clone(),
                            description: metric.description.clone(),
                            unit: metric.unit.clone(),
                            metadata: metric.metadata.clone(),
                            kind: kind as i32,
                            aggregation_temporality: temporality,
                            is_monotonic: monotonic,
                            value: Some(value),
                        },
                    });
                }
            }
        }
    }
    b.out
}

fn point_attributes_mut(value: &mut PointValue) -> &mut Vec<KeyValue> {
    match value {
        PointValue::Number(p) => &mut p.attributes,
        PointValue::Histogram(p) => &mut p.attributes,
        PointValue::ExponentialHistogram(p) => &mut p.attributes,
        PointValue::Summary(p) => &mut p.attributes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otlp::logs::v1::LogRecord as OtlpLog;
    use crate::otlp::trace::v1::span::{Event, Link};
    use crate::otlp::trace::v1::Span;

    use crate::requests::{string_kv as kv, traces as request};

    fn span() -> Span {
        Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            name: "op".into(),
            start_time_unix_nano: 10,
            end_time_unix_nano: 20,
            ..Default::default()
        }
    }

    fn traces(spans: Vec<Span>) -> ExportTraceServiceRequest {
        request(None, spans)
    }

    #[test]
    fn limits_cut_values_at_char_boundaries_and_count_drops() {
        let limits = Limits {
            max_attribute_value_length: 4,
            max_attributes_per_item: 2,
            max_events_per_span: 1,
            max_links_per_span: 1,
            ..Limits::default()
        };
        let mut s = span();
        // "héllo": 'é' is two bytes at 1..3, so a 4-byte cut keeps "hél".
        s.attributes = vec![kv("a", "héllo"), kv("b", "ok"), kv("c", "dropped")];
        s.events = vec![Event::default(), Event::default()];
        s.links = vec![
            Link {
                trace_id: vec![0; 16],
                span_id: vec![1; 8],
                ..Default::default()
            },
            Link {
                trace_id: vec![3; 16],
                span_id: vec![1; 8],
                ..Default::default()
            },
            Link {
                trace_id: vec![4; 16],
                span_id: vec![1; 8],
                ..Default::default()
            },
        ];
        let out = convert_traces(traces(vec![s]), &limits);
        assert_eq!(out.truncated, 1);
        let span = out.batch.items[0].record.span.as_ref().unwrap();
        assert_eq!(span.attributes, vec![kv("a", "hél"), kv("b", "ok")]);
        assert_eq!(span.dropped_attributes_count, 1);
        assert_eq!((span.events.len(), span.dropped_events_count), (1, 1));
        assert_eq!(span.links.len(), 1);
        assert_eq!(span.links[0].trace_id, vec![3; 16]);
        assert_eq!(
            span.dropped_links_count, 2,
            "one invalid, one over the limit"
        );
        assert!(
            span.trace_id.is_empty() && span.span_id.is_empty(),
            "ids live in the key"
        );
    }

    #[test]
    fn every_invalid_span_is_counted_by_reason() {
        let mut bad_parent = span();
        bad_parent.parent_span_id = vec![1, 2, 3];
        let mut zero_parent = span();
        zero_parent.parent_span_id = vec![0; 8];
        let mut no_end = span();
        no_end.end_time_unix_nano = 0;
        let out = convert_traces(
            traces(vec![bad_parent, zero_parent, no_end, span()]),
            &Limits::default(),
        );
        assert_eq!(out.received, 4);
        assert_eq!(out.batch.items.len(), 2);
        assert_eq!(out.rejections.count(RejectReason::InvalidParentSpanId), 1);
        assert_eq!(out.rejections.count(RejectReason::MissingTimestamp), 1);
        let root = out.batch.items[0].record.span.as_ref().unwrap();
        assert!(
            root.parent_span_id.is_empty(),
            "eight zero bytes mean no parent"
        );
        assert_eq!(
            out.rejections.message(4, "spans").unwrap(),
            "rejected 2 of 4 spans: invalid parent_span_id (1), missing timestamp (1); \
             first: resource_spans[0].scope_spans[0].spans[0]: parent_span_id must be 8 bytes, got 3"
        );
    }

    #[test]
    fn resources_and_scopes_are_stored_once_per_batch() {
        let mut request = traces(vec![span(), span()]);
        request
            .resource_spans
            .push(request.resource_spans[0].clone());
        let out = convert_traces(request, &Limits::default());
        assert_eq!(out.batch.items.len(), 4);
        assert_eq!(out.batch.resources.len(), 1);
        assert_eq!(out.batch.scopes.len(), 1);
        assert_eq!(
            out.batch.items[0].record.resource_id,
            out.batch.resources[0].id
        );
    }

    #[test]
    fn logs_keep_records_with_bad_ids_and_fall_back_on_times() {
        let request = crate::requests::logs(
            None,
            vec![
                OtlpLog {
                    trace_id: vec![7; 3],
                    span_id: vec![0; 8],
                    time_unix_nano: 5,
                    ..Default::default()
                },
                OtlpLog {
                    observed_time_unix_nano: 6,
                    ..Default::default()
                },
                OtlpLog::default(),
            ],
        );
        let out = convert_logs(request, &Limits::default(), 99);
        assert_eq!(out.rejections.total(), 0);
        let times: Vec<_> = out.batch.items.iter().map(|i| i.time_unix_nano).collect();
        assert_eq!(times, vec![5, 6, 99]);
        let first = out.batch.items[0].record.record.as_ref().unwrap();
        assert!(first.trace_id.is_empty() && first.span_id.is_empty());
    }
}
