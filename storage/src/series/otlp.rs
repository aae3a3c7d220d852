//! OTLP metric data points → Prometheus samples, as Prometheus's own OTLP receiver translates
//! them (`../shared/reference/prometheus-api.md`): names and units via
//! [`lookout_proto::prometheus`], `job`/`instance` from the resource and `target_info` for its
//! other attributes, histograms as `_bucket{le}`/`_sum`/`_count`, exponential histograms
//! expanded to `le` buckets, summaries as `quantile` series, `NoRecordedValue` as a stale
//! marker, delta sums and histograms accumulated into cumulative series.

use std::collections::HashMap;

use lookout_proto::model::{Batch, MetricItem, MetricKind, PointValue, Resource};
use lookout_proto::otlp::common::v1::{any_value::Value, AnyValue, KeyValue};
use lookout_proto::otlp::metrics::v1::{
    exemplar, AggregationTemporality, Exemplar as OtlpExemplar,
};
use lookout_proto::prometheus::{format_label_float, label_name, metric_name, PromType};
use prost::Message;

use super::{Exemplar, Labels, Metadata, NewSample, STALE_NAN_BITS};

/// FLAG_NO_RECORDED_VALUE of OTLP data points.
const NO_RECORDED_VALUE: u32 = 1;

/// The samples, metadata and exemplars of one batch.
#[derive(Debug, Default)]
pub struct Translated {
    pub samples: Vec<NewSample>,
    pub metadata: Vec<(String, Metadata)>,
    /// Exemplars with the index of the sample (in `samples`) they belong to.
    pub exemplars: Vec<(usize, Exemplar)>,
}

/// The text of an attribute value as a label value.
pub fn value_text(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        None => String::new(),
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::StringValueStrindex(_)) => String::new(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => format_label_float(*d),
        Some(Value::BytesValue(b)) => const_hex::encode(b),
        Some(Value::ArrayValue(a)) => {
            let items: Vec<String> = a
                .values
                .iter()
                .map(|v| format!("{:?}", value_text(Some(v))))
                .collect();
            format!("[{}]", items.join(","))
        }
        Some(Value::KvlistValue(kv)) => {
            let items: Vec<String> = kv
                .values
                .iter()
                .map(|kv| format!("{:?}:{:?}", kv.key, value_text(kv.value.as_ref())))
                .collect();
            format!("{{{}}}", items.join(","))
        }
    }
}

/// Attributes as labels; keys that collide after sanitising get their values joined with `;`
/// in key order (as Prometheus does).
fn push_attributes(out: &mut Vec<(String, String)>, attributes: &[KeyValue]) {
    let mut sorted: Vec<&KeyValue> = attributes.iter().collect();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    let start = out.len();
    for kv in sorted {
        let name = label_name(&kv.key);
        if name.is_empty() {
            continue;
        }
        let value = value_text(kv.value.as_ref());
        if let Some(existing) = out[start..].iter_mut().find(|(n, _)| *n == name) {
            existing.1.push(';');
            existing.1.push_str(&value);
        } else {
            out.push((name, value));
        }
    }
}

struct ResourceLabels {
    /// `job` and `instance`.
    identity: Vec<(String, String)>,
    /// `target_info`'s other labels (empty when the resource has nothing else).
    info: Vec<(String, String)>,
}

fn resource_labels(resource: &Resource) -> ResourceLabels {
    let attr = |key: &str| {
        resource
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .map(|kv| value_text(kv.value.as_ref()))
            .filter(|v| !v.is_empty())
    };
    let mut identity = Vec::new();
    let job = match (attr("service.namespace"), attr("service.name")) {
        (Some(ns), Some(name)) => Some(format!("{ns}/{name}")),
        (None, Some(name)) => Some(name),
        _ => None,
    };
    if let Some(job) = job {
        identity.push(("job".to_owned(), job));
    }
    if let Some(instance) = attr("service.instance.id") {
        identity.push(("instance".to_owned(), instance));
    }
    let rest: Vec<KeyValue> = resource
        .attributes
        .iter()
        .filter(|kv| {
            !matches!(
                kv.key.as_str(),
                "service.name" | "service.namespace" | "service.instance.id"
            )
        })
        .cloned()
        .collect();
    let mut info = Vec::new();
    push_attributes(&mut info, &rest);
    ResourceLabels { identity, info }
}

fn exemplar_of(e: &OtlpExemplar) -> Exemplar {
    let mut labels = Vec::new();
    push_attributes(&mut labels, &e.filtered_attributes);
    if e.trace_id.len() == 16 {
        labels.push(("trace_id".into(), const_hex::encode(&e.trace_id)));
    }
    if e.span_id.len() == 8 {
        labels.push(("span_id".into(), const_hex::encode(&e.span_id)));
    }
    Exemplar {
        t: (e.time_unix_nano / 1_000_000) as i64,
        value: match e.value {
            Some(exemplar::Value::AsDouble(d)) => d,
            Some(exemplar::Value::AsInt(i)) => i as f64,
            None => 0.0,
        },
        labels: Labels::new(labels),
    }
}

/// A histogram as cumulative `le` buckets (classic, or an exponential one expanded).
struct Buckets<'a> {
    /// (upper bound, cumulative count), ascending; a `+Inf` bucket is added when missing.
    bounds: Vec<(f64, u64)>,
    count: u64,
    sum: Option<f64>,
    exemplars: &'a [OtlpExemplar],
    start_ns: u64,
    flags: u32,
}

/// Emits one sample: (out, metric name, extra label, value, start ns, flags) → its index.
type Emit<'e> =
    dyn FnMut(&mut Translated, &str, Option<(&str, String)>, f64, u64, u32) -> usize + 'e;

impl Buckets<'_> {
    /// `_bucket{le}` samples, `_sum`, `_count`; each exemplar goes on the first bucket that
    /// holds its value.
    fn emit(self, name: &str, out: &mut Translated, emit: &mut Emit<'_>) {
        let bucket = format!("{name}_bucket");
        let mut placed: Vec<(f64, usize)> = Vec::with_capacity(self.bounds.len() + 1);
        for (le, cumulative) in &self.bounds {
            let i = emit(
                out,
                &bucket,
                Some(("le", format_label_float(*le))),
                *cumulative as f64,
                self.start_ns,
                self.flags,
            );
            placed.push((*le, i));
        }
        if self
            .bounds
            .last()
            .is_none_or(|(le, _)| *le != f64::INFINITY)
        {
            // No +Inf bucket among the counts: it holds the total count.
            let i = emit(
                out,
                &bucket,
                Some(("le", "+Inf".into())),
                self.count as f64,
                self.start_ns,
                self.flags,
            );
            placed.push((f64::INFINITY, i));
        }
        if let Some(sum) = self.sum {
            emit(
                out,
                &format!("{name}_sum"),
                None,
                sum,
                self.start_ns,
                self.flags,
            );
        }
        emit(
            out,
            &format!("{name}_count"),
            None,
            self.count as f64,
            self.start_ns,
            self.flags,
        );
        for e in self.exemplars {
            let ex = exemplar_of(e);
            if let Some((_, i)) = placed.iter().find(|(le, _)| ex.value <= *le) {
                out.exemplars.push((*i, ex));
            }
        }
    }
}

/// A key of a point's source (resource, Prometheus name, attributes as sent), from which the
/// keys of its samples are derived. 128 bits, so two sources colliding is not a concern.
fn point_key(resource_id: u64, name: &str, attributes: &[KeyValue]) -> xxhash_rust::xxh3::Xxh3 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(&resource_id.to_le_bytes());
    h.update(name.as_bytes());
    for kv in attributes {
        h.update(&[0xff]);
        h.update(kv.key.as_bytes());
        h.update(&[0xfe]);
        match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(Value::StringValue(s)) => {
                h.update(&[1]);
                h.update(s.as_bytes());
            }
            Some(Value::IntValue(i)) => {
                h.update(&[2]);
                h.update(&i.to_le_bytes());
            }
            Some(Value::DoubleValue(d)) => {
                h.update(&[3]);
                h.update(&d.to_bits().to_le_bytes());
            }
            Some(Value::BoolValue(b)) => h.update(&[4, u8::from(*b)]),
            other => {
                h.update(&[5]);
                h.update(format!("{other:?}").as_bytes());
            }
        }
    }
    h
}

/// Translates a batch. Points whose resource is not in the batch get no `job`/`instance`.
/// `known` maps a sample's source key to its series when it was seen before: such samples
/// carry the id and no labels (building labels is most of the translation's cost).
pub fn translate(batch: &Batch<MetricItem>, known: &dyn Fn(u128) -> Option<u64>) -> Translated {
    let mut resources: HashMap<u64, ResourceLabels> = HashMap::new();
    for r in &batch.resources {
        if let Ok(resource) = Resource::decode(r.encoded.as_slice()) {
            resources.insert(r.id, resource_labels(&resource));
        }
    }
    let mut out = Translated::default();
    // The newest point time per resource, for its `target_info` sample.
    let mut info_times: HashMap<u64, i64> = HashMap::new();
    let mut seen_metadata: HashMap<String, ()> = HashMap::new();

    for (index, item) in batch.items.iter().enumerate() {
        let point = &item.point;
        let Some(value) = &point.value else { continue };
        let kind = MetricKind::try_from(point.kind).unwrap_or(MetricKind::Unspecified);
        let delta = point.aggregation_temporality == AggregationTemporality::Delta as i32;
        let prom_type = match kind {
            MetricKind::Gauge => PromType::Gauge,
            MetricKind::Sum if point.is_monotonic => PromType::Counter,
            MetricKind::Sum => PromType::Gauge,
            MetricKind::Histogram | MetricKind::ExponentialHistogram => PromType::Histogram,
            MetricKind::Summary => PromType::Summary,
            MetricKind::Unspecified => PromType::Unknown,
        };
        let name = metric_name(&point.name, &point.unit, prom_type);
        let t_ns = item.time_unix_nano;
        let t = (t_ns / 1_000_000) as i64;
        let resource = resources.get(&point.resource_id);
        if let Some(r) = resource {
            if !r.info.is_empty() {
                let e = info_times.entry(point.resource_id).or_insert(t);
                *e = (*e).max(t);
            }
        }
        let family = match prom_type {
            PromType::Counter => name.strip_suffix("_total").unwrap_or(&name).to_owned(),
            _ => name.clone(),
        };
        if seen_metadata.insert(family.clone(), ()).is_none() {
            out.metadata.push((
                family,
                Metadata {
                    kind: prom_type.as_str().to_owned(),
                    unit: point.unit.clone(),
                    help: point.description.clone(),
                },
            ));
        }
        let source = point_key(point.resource_id, &name, value.attributes());
        let mut base: Option<Vec<(String, String)>> = None;
        let point_index = index as u32;
        let mut emit = |out: &mut Translated,
                        metric: &str,
                        extra: Option<(&str, String)>,
                        v: f64,
                        start_ns: u64,
                        flags: u32|
         -> usize {
            let mut h = source.clone();
            h.update(metric.as_bytes());
            if let Some((n, v)) = &extra {
                h.update(&[0xff]);
                h.update(n.as_bytes());
                h.update(&[0xfe]);
                h.update(v.as_bytes());
            }
            let key = h.digest128().max(1);
            let series = known(key);
            let labels = match series {
                Some(_) => Labels::default(),
                None => {
                    let base = base.get_or_insert_with(|| {
                        let mut base = Vec::new();
                        push_attributes(&mut base, value.attributes());
                        if let Some(r) = resource {
                            base.extend(r.identity.iter().cloned());
                        }
                        base
                    });
                    let mut pairs = base.clone();
                    pairs.push(("__name__".to_owned(), metric.to_owned()));
                    if let Some((n, v)) = extra {
                        pairs.push((n.to_owned(), v));
                    }
                    Labels::new(pairs)
                }
            };
            let stale = flags & NO_RECORDED_VALUE != 0;
            out.samples.push(NewSample {
                labels,
                t,
                v: if stale {
                    f64::from_bits(STALE_NAN_BITS)
                } else {
                    v
                },
                delta_start: (delta && !stale).then_some((start_ns / 1_000_000) as i64),
                point: point_index,
                series,
                key,
            });
            out.samples.len() - 1
        };
        match value {
            PointValue::Number(p) => {
                use lookout_proto::otlp::metrics::v1::number_data_point::Value as N;
                let v = match p.value {
                    Some(N::AsDouble(d)) => d,
                    Some(N::AsInt(i)) => i as f64,
                    None => f64::from_bits(STALE_NAN_BITS),
                };
                let i = emit(&mut out, &name, None, v, p.start_time_unix_nano, p.flags);
                for e in &p.exemplars {
                    out.exemplars.push((i, exemplar_of(e)));
                }
            }
            PointValue::Histogram(p) => {
                let mut cumulative = 0u64;
                let bounds = p
                    .bucket_counts
                    .iter()
                    .enumerate()
                    .map(|(i, count)| {
                        cumulative += count;
                        let le = p.explicit_bounds.get(i).copied().unwrap_or(f64::INFINITY);
                        (le, cumulative)
                    })
                    .collect();
                let buckets = Buckets {
                    bounds,
                    count: p.count,
                    sum: p.sum,
                    exemplars: &p.exemplars,
                    start_ns: p.start_time_unix_nano,
                    flags: p.flags,
                };
                buckets.emit(&name, &mut out, &mut emit);
            }
            PointValue::ExponentialHistogram(p) => {
                let base = 2f64.powf(2f64.powi(-p.scale));
                let mut cumulative = 0u64;
                let mut bounds: Vec<(f64, u64)> = Vec::new();
                if let Some(neg) = &p.negative {
                    // Negative buckets, most negative first: bucket i covers
                    // [-(base^(offset+i+1)), -(base^(offset+i))).
                    for (i, count) in neg.bucket_counts.iter().enumerate().rev() {
                        cumulative += count;
                        let upper = -base.powi(neg.offset + i as i32);
                        bounds.push((upper, cumulative));
                    }
                }
                cumulative += p.zero_count;
                // The zero bucket, when it or negative buckets hold anything.
                if cumulative > 0 {
                    bounds.push((p.zero_threshold, cumulative));
                }
                if let Some(pos) = &p.positive {
                    for (i, count) in pos.bucket_counts.iter().enumerate() {
                        cumulative += count;
                        bounds.push((base.powi(pos.offset + i as i32 + 1), cumulative));
                    }
                }
                let buckets = Buckets {
                    bounds,
                    count: p.count,
                    sum: p.sum,
                    exemplars: &p.exemplars,
                    start_ns: p.start_time_unix_nano,
                    flags: p.flags,
                };
                buckets.emit(&name, &mut out, &mut emit);
            }
            PointValue::Summary(p) => {
                for q in &p.quantile_values {
                    emit(
                        &mut out,
                        &name,
                        Some(("quantile", format_label_float(q.quantile))),
                        q.value,
                        p.start_time_unix_nano,
                        p.flags,
                    );
                }
                emit(&mut out, &format!("{name}_sum"), None, p.sum, 0, p.flags);
                emit(
                    &mut out,
                    &format!("{name}_count"),
                    None,
                    p.count as f64,
                    0,
                    p.flags,
                );
            }
        }
    }
    for (resource_id, t) in info_times {
        if let Some(r) = resources.get(&resource_id) {
            let mut pairs = r.info.clone();
            pairs.extend(r.identity.iter().cloned());
            pairs.push(("__name__".into(), "target_info".into()));
            out.samples.push(NewSample {
                labels: Labels::new(pairs),
                t,
                v: 1.0,
                delta_start: None,
                point: u32::MAX,
                series: None,
                key: 0,
            });
        }
    }
    let has_target_info = out.samples.iter().any(|s| s.point == u32::MAX);
    if has_target_info && !seen_metadata.contains_key("target_info") {
        out.metadata.push((
            "target_info".into(),
            Metadata {
                kind: "gauge".into(),
                unit: String::new(),
                help: "Target metadata".into(),
            },
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_proto::convert::{convert_metrics, Limits};
    use lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
    use lookout_proto::otlp::metrics::v1::{
        metric::Data, number_data_point, summary_data_point::ValueAtQuantile, Gauge, Histogram,
        HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary,
        SummaryDataPoint,
    };
    use lookout_proto::otlp::resource::v1::Resource as OtlpResource;
    use lookout_proto::requests::string_kv;

    fn request(metrics: Vec<Metric>) -> Batch<MetricItem> {
        let request = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(OtlpResource {
                    attributes: vec![
                        string_kv("service.name", "api"),
                        string_kv("service.namespace", "shop"),
                        string_kv("service.instance.id", "api-1"),
                        string_kv("k8s.pod.name", "api-7f"),
                    ],
                    ..Default::default()
                }),
                scope_metrics: vec![ScopeMetrics {
                    metrics,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        convert_metrics(request, &Limits::default()).batch
    }

    fn show(t: &Translated) -> Vec<String> {
        t.samples
            .iter()
            .map(|s| {
                let labels: Vec<String> =
                    s.labels.iter().map(|(n, v)| format!("{n}={v}")).collect();
                let v = if crate::series::is_stale(s.v) {
                    "stale".to_owned()
                } else {
                    s.v.to_string()
                };
                format!("{} {v}", labels.join(","))
            })
            .collect()
    }

    #[test]
    fn every_kind_translates_as_prometheus_does() {
        let t = 1_700_000_000_000_000_000u64;
        let batch = request(vec![
            Metric {
                name: "queue.depth".into(),
                data: Some(Data::Gauge(Gauge {
                    data_points: vec![NumberDataPoint {
                        attributes: vec![string_kv("queue.name", "q1")],
                        time_unix_nano: t,
                        value: Some(number_data_point::Value::AsInt(3)),
                        flags: 1,
                        ..Default::default()
                    }],
                })),
                ..Default::default()
            },
            Metric {
                name: "jobs".into(),
                data: Some(Data::Sum(Sum {
                    data_points: vec![NumberDataPoint {
                        start_time_unix_nano: t - 10,
                        time_unix_nano: t,
                        value: Some(number_data_point::Value::AsDouble(2.0)),
                        ..Default::default()
                    }],
                    aggregation_temporality: AggregationTemporality::Delta as i32,
                    is_monotonic: true,
                })),
                ..Default::default()
            },
            Metric {
                name: "rpc.duration".into(),
                unit: "ms".into(),
                data: Some(Data::Histogram(Histogram {
                    data_points: vec![HistogramDataPoint {
                        time_unix_nano: t,
                        count: 3,
                        sum: Some(12.0),
                        bucket_counts: vec![1, 2],
                        explicit_bounds: vec![5.0],
                        exemplars: vec![OtlpExemplar {
                            time_unix_nano: t,
                            value: Some(exemplar::Value::AsDouble(7.0)),
                            trace_id: vec![1; 16],
                            span_id: vec![2; 8],
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    aggregation_temporality: AggregationTemporality::Cumulative as i32,
                })),
                ..Default::default()
            },
            Metric {
                name: "gc.pause".into(),
                unit: "s".into(),
                data: Some(Data::Summary(Summary {
                    data_points: vec![SummaryDataPoint {
                        time_unix_nano: t,
                        count: 4,
                        sum: 0.5,
                        quantile_values: vec![ValueAtQuantile {
                            quantile: 0.99,
                            value: 0.2,
                        }],
                        ..Default::default()
                    }],
                })),
                ..Default::default()
            },
        ]);
        let out = translate(&batch, &|_| None);
        let id = "instance=api-1,job=shop/api";
        assert_eq!(
            show(&out),
            [
                format!("__name__=queue_depth,{id},queue_name=q1 stale"),
                format!("__name__=jobs_total,{id} 2"),
                format!("__name__=rpc_duration_milliseconds_bucket,{id},le=5 1"),
                format!("__name__=rpc_duration_milliseconds_bucket,{id},le=+Inf 3"),
                format!("__name__=rpc_duration_milliseconds_sum,{id} 12"),
                format!("__name__=rpc_duration_milliseconds_count,{id} 3"),
                format!("__name__=gc_pause_seconds,{id},quantile=0.99 0.2"),
                format!("__name__=gc_pause_seconds_sum,{id} 0.5"),
                format!("__name__=gc_pause_seconds_count,{id} 4"),
                format!("__name__=target_info,{id},k8s_pod_name=api-7f 1"),
            ]
        );
        // The delta sum is marked for accumulation; the exemplar sits on the +Inf bucket.
        assert_eq!(
            out.samples[1].delta_start,
            Some((t - 10) as i64 / 1_000_000)
        );
        assert_eq!(out.exemplars.len(), 1);
        assert_eq!(out.exemplars[0].0, 3);
        assert_eq!(
            out.exemplars[0].1.labels.get("trace_id"),
            Some("01010101010101010101010101010101")
        );
        let kinds: Vec<(&str, &str)> = out
            .metadata
            .iter()
            .map(|(n, m)| (n.as_str(), m.kind.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("queue_depth", "gauge"),
                ("jobs", "counter"),
                ("rpc_duration_milliseconds", "histogram"),
                ("gc_pause_seconds", "summary"),
                ("target_info", "gauge"),
            ]
        );
    }

    #[test]
    fn a_known_source_skips_the_labels_and_lands_in_the_same_series() {
        use crate::{MetricWriter, SeriesReader};
        let gauge = |t: u64, v: f64| Metric {
            name: "queue.depth".into(),
            data: Some(Data::Gauge(Gauge {
                data_points: vec![NumberDataPoint {
                    attributes: vec![string_kv("queue.name", "q1")],
                    time_unix_nano: t,
                    value: Some(number_data_point::Value::AsDouble(v)),
                    ..Default::default()
                }],
            })),
            ..Default::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::open(dir.path(), &Default::default()).unwrap();
        let t = 1_700_000_000_000_000_000u64;
        store
            .write_metric_points(&request(vec![gauge(t, 1.0)]))
            .unwrap();
        // The second time, the translation knows the series: no labels are built.
        let second = request(vec![gauge(t + 15_000_000_000, 2.0)]);
        let cache = store.series.translation();
        let out = translate(&second, &|k| cache.get(&k).copied());
        drop(cache);
        assert!(out.samples[0].series.is_some());
        assert!(out.samples[0].labels.0.is_empty());
        store.write_metric_points(&second).unwrap();
        let read = store
            .select(
                &[crate::Matcher::equal("__name__", "queue_depth")],
                0,
                i64::MAX / 2,
                crate::SelectLimits::NONE,
            )
            .unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].labels.get("queue_name"), Some("q1"));
        assert_eq!(read[0].samples.len(), 2);
    }
}
