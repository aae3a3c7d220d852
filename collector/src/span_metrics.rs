//! RED metrics derived from spans at ingest, named and labelled as the OpenTelemetry
//! Collector's spanmetrics connector names them, so that dashboards and alert rules written for
//! it work unchanged: `traces.span.metrics.calls` (a monotonic cumulative sum, unit `{call}`;
//! `traces_span_metrics_calls_total` in Prometheus) and `traces.span.metrics.duration` (a
//! cumulative histogram in milliseconds with the connector's default buckets;
//! `traces_span_metrics_duration_milliseconds`), with the data point attributes
//! `service.name`, `span.name`, `span.kind` and `status.code`.
//!
//! [`SpanMetricsWriter`] wraps the span writer: after a batch is stored it adds the batch's
//! spans to in-memory cumulative series; [`SpanMetrics::flush`] writes every series' current
//! value as ordinary metric data points (the binary calls it on an interval and at shutdown).
//! The distinct span names per service are capped; spans past the cap are counted in one
//! overflow series per service (attribute `otel.metric.overflow=true`, no `span.name`, the
//! service's name as its only resource attribute, whatever instance sent them). A series not
//! updated for `metrics_expiration` is forgotten (its next span starts it again with a new
//! start time, a counter reset to PromQL), as the Collector's connector expires them.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use lookout_proto::model::{
    Batch, Interned, MetricItem, MetricKind, MetricPoint, PointValue, Resource, Scope, SpanItem,
};
use lookout_proto::otlp::common::v1::{any_value, AnyValue, KeyValue};
use lookout_proto::otlp::metrics::v1::{
    exemplar, number_data_point, AggregationTemporality, Exemplar, HistogramDataPoint,
    NumberDataPoint,
};
use lookout_proto::otlp::trace::v1::span::SpanKind;
use lookout_proto::otlp::trace::v1::status::StatusCode;
use lookout_storage::{MetricWriter, SpanWriter};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use prost::Message;

/// The spanmetrics connector's default histogram buckets, in milliseconds.
pub const DURATION_BUCKETS_MS: [f64; 16] = [
    2.0, 4.0, 6.0, 8.0, 10.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1000.0, 1400.0, 2000.0, 5000.0,
    10000.0, 15000.0,
];
pub const CALLS_METRIC: &str = "traces.span.metrics.calls";
pub const DURATION_METRIC: &str = "traces.span.metrics.duration";

/// How span metrics are derived.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpanMetricsConfig {
    pub enabled: bool,
    /// How often the series' current values are written as data points.
    #[serde(with = "humantime_serde")]
    pub flush_interval: Duration,
    /// Distinct span names per service with their own series; spans of further names are
    /// counted in the service's overflow series.
    pub max_span_names_per_service: usize,
    /// Series in memory at most (each is a calls counter and a duration histogram: 20
    /// Prometheus series, with 17 `le` buckets, `_sum` and `_count`); past it, new series fold
    /// into their service's overflow series. The default, 10 000, is 200 000 Prometheus series
    /// (170 000 of them buckets), within `storage.series.max_series_per_metric`.
    pub max_series: usize,
    /// A series without spans for this long is dropped from memory (the Collector's
    /// `metrics_expiration`).
    #[serde(with = "humantime_serde")]
    pub metrics_expiration: Duration,
}

impl Default for SpanMetricsConfig {
    fn default() -> Self {
        SpanMetricsConfig {
            enabled: true,
            flush_interval: Duration::from_secs(15),
            max_span_names_per_service: 1000,
            max_series: 10_000,
            metrics_expiration: Duration::from_secs(600),
        }
    }
}

impl SpanMetricsConfig {
    /// Every problem, each with its path below `prefix`.
    pub fn validate(&self, prefix: &str, problems: &mut Vec<String>) {
        if self.flush_interval.is_zero() {
            problems.push(format!("{prefix}.flush_interval: must be greater than 0"));
        }
        if self.max_span_names_per_service == 0 {
            problems.push(format!(
                "{prefix}.max_span_names_per_service: must be greater than 0"
            ));
        }
        if self.metrics_expiration.is_zero() {
            problems.push(format!(
                "{prefix}.metrics_expiration: must be greater than 0"
            ));
        }
        if self.max_series == 0 {
            problems.push(format!("{prefix}.max_series: must be greater than 0"));
        }
    }
}

/// (resource id, span name hash or 0 for overflow, kind, status code); an overflow series'
/// resource is its service's (see [`service_resource`]).
type SeriesKey = (u64, u64, i32, i32);

#[derive(Debug)]
struct Series {
    service: String,
    /// `None` for the overflow series.
    span_name: Option<String>,
    kind: i32,
    status: i32,
    start_unix_nano: u64,
    calls: u64,
    sum_ms: f64,
    buckets: [u64; DURATION_BUCKETS_MS.len() + 1],
    /// The latest span of each bucket since the last flush, written as that point's exemplar
    /// (so a latency chart can open a trace of each latency band).
    exemplars: [Option<SpanExemplar>; DURATION_BUCKETS_MS.len() + 1],
    dirty: bool,
    /// When a span last counted in it.
    last_seen_unix_nano: u64,
}

#[derive(Clone, Copy, Debug)]
struct SpanExemplar {
    trace_id: lookout_proto::TraceId,
    span_id: lookout_proto::SpanId,
    time_unix_nano: u64,
    ms: f64,
}

#[derive(Debug, Default)]
struct State {
    series: HashMap<SeriesKey, Series>,
    /// Span name hashes with their own series, per service.
    names: HashMap<String, HashSet<u64>>,
    /// Encoded resources of the series, by id.
    resources: HashMap<u64, Interned>,
}

/// The span-derived series, shared by the writer wrapper and the flusher.
pub struct SpanMetrics {
    config: SpanMetricsConfig,
    state: Mutex<State>,
    scope: Interned,
    out: Arc<dyn MetricWriter>,
    overflow_spans: Counter,
    dropped_spans: Counter,
    series_gauge: Gauge,
}

/// The resource of a service's overflow series: only its name.
fn service_resource(service: &str) -> Interned {
    Interned::new(&Resource {
        attributes: vec![string_kv("service.name", service)],
        ..Default::default()
    })
}

impl std::fmt::Debug for SpanMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanMetrics")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn kind_label(kind: i32) -> &'static str {
    SpanKind::try_from(kind)
        .unwrap_or(SpanKind::Unspecified)
        .as_str_name()
}

fn status_label(code: i32) -> &'static str {
    StatusCode::try_from(code)
        .unwrap_or(StatusCode::Unset)
        .as_str_name()
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn string_kv(key: &str, value: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.into()))
}

impl SpanMetrics {
    pub fn new(
        config: SpanMetricsConfig,
        out: Arc<dyn MetricWriter>,
        registry: &mut Registry,
    ) -> Arc<Self> {
        let m = SpanMetrics {
            config,
            state: Mutex::new(State::default()),
            scope: Interned::new(&Scope {
                name: "lookout/spanmetrics".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                ..Default::default()
            }),
            out,
            overflow_spans: Counter::default(),
            dropped_spans: Counter::default(),
            series_gauge: Gauge::default(),
        };
        registry.register(
            "lookout_span_metrics_dropped_spans",
            "Spans not counted in span metrics: the series in memory were at twice span_metrics.max_series",
            m.dropped_spans.clone(),
        );
        registry.register(
            "lookout_span_metrics_overflow_spans",
            "Spans counted in a service's overflow series because of span_metrics limits",
            m.overflow_spans.clone(),
        );
        registry.register(
            "lookout_span_metrics_series",
            "Span-derived RED series in memory",
            m.series_gauge.clone(),
        );
        Arc::new(m)
    }

    /// Adds a stored batch's spans to the series.
    pub fn record(&self, batch: &Batch<SpanItem>) {
        let mut services: HashMap<u64, String> = HashMap::new();
        for r in &batch.resources {
            let service = Resource::decode(r.encoded.as_slice())
                .ok()
                .and_then(|res| res.service_name().map(str::to_string))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| lookout_storage::trace_index::UNKNOWN_SERVICE.to_string());
            services.insert(r.id, service);
        }
        let now = lookout_proto::now_unix_nano();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        for r in &batch.resources {
            state.resources.entry(r.id).or_insert_with(|| r.clone());
        }
        let (mut overflowed, mut dropped) = (0, 0);
        for item in &batch.items {
            let Some(span) = &item.record.span else {
                continue;
            };
            let resource_id = item.record.resource_id;
            let status = span.status.as_ref().map_or(0, |s| s.code);
            let name_hash = xxhash_rust::xxh3::xxh3_64(span.name.as_bytes()) | 1;
            let mut key = (resource_id, name_hash, span.kind, status);
            if !state.series.contains_key(&key) {
                let service = services
                    .get(&resource_id)
                    .cloned()
                    .unwrap_or_else(|| lookout_storage::trace_index::UNKNOWN_SERVICE.into());
                let full = state.series.len() >= self.config.max_series;
                let names = state.names.entry(service.clone()).or_default();
                let known = names.contains(&name_hash);
                let admit =
                    known || (!full && names.len() < self.config.max_span_names_per_service);
                if admit {
                    names.insert(name_hash);
                } else {
                    let resource = service_resource(&service);
                    key = (resource.id, 0, span.kind, status);
                    overflowed += 1;
                    if !state.series.contains_key(&key) {
                        // Overflow series are per service: bound them too.
                        if state.series.len() >= 2 * self.config.max_series {
                            dropped += 1;
                            continue;
                        }
                        state.resources.entry(resource.id).or_insert(resource);
                    }
                }
                state.series.entry(key).or_insert_with(|| Series {
                    service,
                    span_name: admit.then(|| span.name.clone()),
                    kind: span.kind,
                    status,
                    start_unix_nano: now,
                    calls: 0,
                    sum_ms: 0.0,
                    buckets: [0; DURATION_BUCKETS_MS.len() + 1],
                    exemplars: [None; DURATION_BUCKETS_MS.len() + 1],
                    dirty: false,
                    last_seen_unix_nano: now,
                });
            }
            let Some(series) = state.series.get_mut(&key) else {
                continue;
            };
            let ms = span
                .end_time_unix_nano
                .saturating_sub(span.start_time_unix_nano) as f64
                / 1e6;
            series.calls += 1;
            series.sum_ms += ms;
            let bucket = DURATION_BUCKETS_MS.partition_point(|&le| le < ms);
            series.buckets[bucket] += 1;
            series.exemplars[bucket] = Some(SpanExemplar {
                trace_id: item.trace_id,
                span_id: item.span_id,
                time_unix_nano: span.end_time_unix_nano,
                ms,
            });
            series.dirty = true;
            series.last_seen_unix_nano = now;
        }
        self.series_gauge.set(state.series.len() as i64);
        drop(state);
        if overflowed > 0 {
            self.overflow_spans.inc_by(overflowed);
        }
        if dropped > 0 {
            self.dropped_spans.inc_by(dropped);
        }
    }

    /// Forgets the series without spans for `metrics_expiration`, and the span names and
    /// resources only they used.
    fn expire(&self, state: &mut State, now: u64) {
        let ttl = u64::try_from(self.config.metrics_expiration.as_nanos()).unwrap_or(u64::MAX);
        let before = state.series.len();
        state
            .series
            .retain(|_, s| s.dirty || now.saturating_sub(s.last_seen_unix_nano) < ttl);
        if state.series.len() == before {
            return;
        }
        let mut names: HashMap<String, HashSet<u64>> = HashMap::new();
        let mut resources = HashSet::new();
        for ((resource_id, name_hash, ..), s) in &state.series {
            resources.insert(*resource_id);
            if *name_hash != 0 {
                names
                    .entry(s.service.clone())
                    .or_default()
                    .insert(*name_hash);
            }
        }
        state.names = names;
        state.resources.retain(|id, _| resources.contains(id));
        self.series_gauge.set(state.series.len() as i64);
    }

    /// Writes the current value of every series that changed since the last flush.
    pub fn flush(&self) -> lookout_storage::Result<usize> {
        let now = lookout_proto::now_unix_nano();
        let mut batch = Batch::<MetricItem> {
            scopes: vec![self.scope.clone()],
            ..Default::default()
        };
        {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            self.expire(&mut state, now);
            let State {
                series, resources, ..
            } = &mut *state;
            let mut used = HashSet::new();
            for ((resource_id, ..), s) in series.iter_mut() {
                if !s.dirty {
                    continue;
                }
                s.dirty = false;
                if used.insert(*resource_id) {
                    if let Some(r) = resources.get(resource_id) {
                        batch.resources.push(r.clone());
                    }
                }
                let mut attributes = vec![string_kv("service.name", &s.service)];
                match &s.span_name {
                    Some(name) => attributes.push(string_kv("span.name", name)),
                    None => attributes.push(kv(
                        "otel.metric.overflow",
                        any_value::Value::BoolValue(true),
                    )),
                }
                attributes.push(string_kv("span.kind", kind_label(s.kind)));
                attributes.push(string_kv("status.code", status_label(s.status)));
                let point =
                    |name: &str, unit: &str, kind: MetricKind, value: PointValue| MetricItem {
                        time_unix_nano: now,
                        point: MetricPoint {
                            resource_id: *resource_id,
                            scope_id: self.scope.id,
                            name: name.into(),
                            description: String::new(),
                            unit: unit.into(),
                            metadata: Vec::new(),
                            kind: kind as i32,
                            aggregation_temporality: AggregationTemporality::Cumulative as i32,
                            is_monotonic: kind == MetricKind::Sum,
                            value: Some(value),
                        },
                    };
                batch.items.push(point(
                    CALLS_METRIC,
                    "{call}",
                    MetricKind::Sum,
                    PointValue::Number(NumberDataPoint {
                        attributes: attributes.clone(),
                        start_time_unix_nano: s.start_unix_nano,
                        time_unix_nano: now,
                        value: Some(number_data_point::Value::AsInt(
                            i64::try_from(s.calls).unwrap_or(i64::MAX),
                        )),
                        ..Default::default()
                    }),
                ));
                batch.items.push(point(
                    DURATION_METRIC,
                    "ms",
                    MetricKind::Histogram,
                    PointValue::Histogram(HistogramDataPoint {
                        attributes,
                        start_time_unix_nano: s.start_unix_nano,
                        time_unix_nano: now,
                        count: s.calls,
                        sum: Some(s.sum_ms),
                        bucket_counts: s.buckets.to_vec(),
                        explicit_bounds: DURATION_BUCKETS_MS.to_vec(),
                        exemplars: s
                            .exemplars
                            .iter_mut()
                            .filter_map(Option::take)
                            .map(|e| Exemplar {
                                time_unix_nano: e.time_unix_nano,
                                span_id: e.span_id.as_bytes().to_vec(),
                                trace_id: e.trace_id.as_bytes().to_vec(),
                                value: Some(exemplar::Value::AsDouble(e.ms)),
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    }),
                ));
            }
        }
        let points = batch.items.len();
        if points > 0 {
            self.out.write_metric_points(&batch)?;
        }
        Ok(points)
    }

    pub fn flush_interval(&self) -> Duration {
        self.config.flush_interval
    }
}

/// A span writer that feeds [`SpanMetrics`] with every batch it stores.
pub struct SpanMetricsWriter {
    pub inner: Arc<dyn SpanWriter>,
    pub metrics: Arc<SpanMetrics>,
}

impl SpanWriter for SpanMetricsWriter {
    fn write_spans(&self, batch: &Batch<SpanItem>) -> lookout_storage::Result<()> {
        self.inner.write_spans(batch)?;
        self.metrics.record(batch);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_proto::convert::{convert_traces, Limits};
    use lookout_proto::otlp::trace::v1::{Span, Status};
    use lookout_proto::requests;
    use lookout_storage::{MetricReader, StorageConfig, Store, TimeRange};

    fn span(id: u8, name: &str, ms: u64, error: bool) -> Span {
        Span {
            trace_id: vec![1; 16],
            span_id: vec![id; 8],
            name: name.into(),
            kind: SpanKind::Server as i32,
            start_time_unix_nano: 1_000_000_000,
            end_time_unix_nano: 1_000_000_000 + ms * 1_000_000,
            status: error.then(|| Status {
                code: StatusCode::Error as i32,
                message: String::new(),
            }),
            ..Default::default()
        }
    }

    fn value(p: &lookout_storage::StoredMetricPoint) -> Option<&PointValue> {
        p.point.value.as_ref()
    }

    #[test]
    fn counts_calls_errors_and_durations_and_caps_span_names() {
        let dir = tempfile::tempdir().unwrap();
        let mut storage = StorageConfig::default();
        storage.series.keep_otlp_points = true;
        let store = Arc::new(Store::open(dir.path(), &storage).unwrap());
        let config = SpanMetricsConfig {
            max_span_names_per_service: 2,
            ..Default::default()
        };
        let metrics = SpanMetrics::new(config, store.clone(), &mut Registry::default());
        let writer = SpanMetricsWriter {
            inner: store.clone(),
            metrics: metrics.clone(),
        };
        let spans = vec![
            span(1, "GET /a", 1, false),
            span(2, "GET /a", 3, true),
            span(3, "GET /a", 20_000, false),
            span(4, "GET /b", 5, false),
            span(5, "GET /c", 5, false),
            span(6, "GET /d", 5, false),
        ];
        let batch = convert_traces(requests::traces(Some("shop"), spans), &Limits::default());
        writer.write_spans(&batch.batch).unwrap();
        assert_eq!(metrics.flush().unwrap(), 8, "4 series, 2 points each");
        assert_eq!(metrics.flush().unwrap(), 0, "nothing changed");

        let points = store.metric_points(TimeRange::ALL, 100).unwrap();
        let attr = |p: &lookout_storage::StoredMetricPoint, k: &str| {
            lookout_proto::model::string_attribute(value(p).unwrap().attributes(), k)
                .map(str::to_string)
        };
        let calls = |name: Option<&str>, status: &str| -> i64 {
            points
                .iter()
                .filter(|p| p.point.name == CALLS_METRIC)
                .filter(|p| attr(p, "span.name").as_deref() == name)
                .filter(|p| attr(p, "status.code").as_deref() == Some(status))
                .map(|p| match value(p) {
                    Some(PointValue::Number(n)) => match n.value {
                        Some(number_data_point::Value::AsInt(i)) => i,
                        _ => 0,
                    },
                    _ => 0,
                })
                .sum()
        };
        assert_eq!(calls(Some("GET /a"), "STATUS_CODE_UNSET"), 2);
        assert_eq!(calls(Some("GET /a"), "STATUS_CODE_ERROR"), 1);
        assert_eq!(calls(Some("GET /b"), "STATUS_CODE_UNSET"), 1);
        assert_eq!(
            calls(None, "STATUS_CODE_UNSET"),
            2,
            "GET /c and /d overflow"
        );
        let hist = points
            .iter()
            .find(|p| {
                p.point.name == DURATION_METRIC
                    && attr(p, "span.name").as_deref() == Some("GET /a")
                    && attr(p, "status.code").as_deref() == Some("STATUS_CODE_UNSET")
            })
            .unwrap();
        let Some(PointValue::Histogram(h)) = value(hist) else {
            panic!("not a histogram")
        };
        assert_eq!(h.count, 2);
        assert_eq!(h.bucket_counts[0], 1, "1 ms in le=2");
        assert_eq!(h.bucket_counts[16], 1, "20 s in +Inf");
        assert_eq!(attr(hist, "span.kind").as_deref(), Some("SPAN_KIND_SERVER"));
        assert_eq!(attr(hist, "service.name").as_deref(), Some("shop"));
        // The latest span of each bucket is the bucket's exemplar, once.
        let exemplars: Vec<(f64, Vec<u8>)> = h
            .exemplars
            .iter()
            .map(|e| match e.value {
                Some(exemplar::Value::AsDouble(ms)) => (ms, e.span_id.clone()),
                _ => (f64::NAN, Vec::new()),
            })
            .collect();
        assert_eq!(exemplars, [(1.0, vec![1; 8]), (20_000.0, vec![3; 8])]);
        assert_eq!(h.exemplars[0].trace_id, vec![1; 16]);
        writer.write_spans(&batch.batch).unwrap();
        metrics.flush().unwrap();
        let points = store.metric_points(TimeRange::ALL, 100).unwrap();
        let newest = points
            .iter()
            .filter(|p| p.point.name == DURATION_METRIC)
            .filter_map(|p| match value(p) {
                Some(PointValue::Histogram(h)) => Some(h.exemplars.len()),
                _ => None,
            })
            .collect::<Vec<_>>();
        assert_eq!(newest.len(), 8, "two flushes of 4 series");
        assert!(newest.iter().all(|n| *n <= 2), "{newest:?}");
    }

    #[test]
    fn overflow_is_per_service_and_idle_series_expire() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path(), &StorageConfig::default()).unwrap());
        let config = SpanMetricsConfig {
            max_span_names_per_service: 1,
            metrics_expiration: Duration::from_nanos(1),
            ..Default::default()
        };
        let metrics = SpanMetrics::new(config, store.clone(), &mut Registry::default());
        // Two instances of one service, each with names past the cap.
        for instance in ["pod-1", "pod-2"] {
            let mut request = requests::traces(
                Some("shop"),
                vec![
                    span(1, "GET /a", 1, false),
                    span(2, &format!("GET /{instance}"), 1, false),
                ],
            );
            request.resource_spans[0]
                .resource
                .as_mut()
                .unwrap()
                .attributes
                .push(lookout_proto::requests::string_kv(
                    "service.instance.id",
                    instance,
                ));
            metrics.record(&convert_traces(request, &Limits::default()).batch);
        }
        {
            let state = metrics.state.lock().unwrap();
            let overflow: Vec<_> = state.series.keys().filter(|k| k.1 == 0).collect();
            assert_eq!(
                overflow.len(),
                1,
                "one overflow series for the service, not per pod"
            );
            assert_eq!(
                state.series.len(),
                3,
                "GET /a of each pod, and the overflow"
            );
        }
        assert_eq!(metrics.flush().unwrap(), 6);
        // Nothing since: every series has been idle past the expiration.
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(metrics.flush().unwrap(), 0);
        let state = metrics.state.lock().unwrap();
        assert!(state.series.is_empty());
        assert!(state.names.is_empty() && state.resources.is_empty());
    }
}
