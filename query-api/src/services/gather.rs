//! What is known of each service, read from the series: the activity series the collector
//! writes (`lookout_service_*`), the span RED series (`traces_span_metrics_*`) and the
//! `process_*` metrics services send themselves.

use std::collections::{BTreeMap, HashMap};

use lookout_storage::Labels;

use crate::promql::{Engine, PromqlError, Value};
use crate::ApiError;

/// The activity series (written by `lookout_collector::activity`).
pub const ITEMS: &str = "lookout_service_items_total";
pub const LAST_SEEN: &str = "lookout_service_last_seen_timestamp_seconds";
pub const INSTANCE_INFO: &str = "lookout_service_instance_info";
const CALLS: &str = "traces_span_metrics_calls_total";
const BUCKETS: &str = "traces_span_metrics_duration_milliseconds_bucket";
/// The span kinds of a service's own requests; a service without any is judged by all its
/// spans (a batch job, a client-only service).
const ENTRY_KINDS: [&str; 2] = ["SPAN_KIND_SERVER", "SPAN_KIND_CONSUMER"];
pub const SIGNALS: [&str; 3] = ["spans", "logs", "metric_points"];

impl From<PromqlError> for ApiError {
    fn from(e: PromqlError) -> Self {
        match e.status() {
            503 => ApiError::Unavailable(e.to_string()),
            400 | 422 => ApiError::BadRequest(e.to_string()),
            _ => ApiError::Internal(e.to_string()),
        }
    }
}

/// A PromQL string literal.
pub fn quote(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// A PromQL duration of `ms` milliseconds.
pub fn duration(ms: i64) -> String {
    format!("{}ms", ms.max(1))
}

/// The samples of an instant query at `t_ms`.
pub fn vector(engine: &Engine, query: &str, t_ms: i64) -> Result<Vec<(Labels, f64)>, ApiError> {
    match engine.instant(query, t_ms)? {
        Value::Vector(samples) => Ok(samples
            .into_iter()
            .filter(|s| s.v.is_finite())
            .map(|s| (s.labels, s.v))
            .collect()),
        Value::Scalar(_, v) => Ok(vec![(Labels::default(), v)]),
        _ => Err(ApiError::Internal(format!("{query} is not a vector"))),
    }
}

fn label(labels: &Labels, name: &str) -> String {
    labels.get(name).unwrap_or("").to_string()
}

/// When one instance last sent each signal, in ms.
#[derive(Clone, Debug, Default)]
pub struct InstanceSeen {
    pub by_signal: BTreeMap<&'static str, i64>,
}

impl InstanceSeen {
    pub fn last_ms(&self) -> Option<i64> {
        self.by_signal.values().copied().max()
    }
}

/// Per service: its instances' last-seen times, and the items per signal in a window.
#[derive(Clone, Debug, Default)]
pub struct Activity {
    pub instances: BTreeMap<String, InstanceSeen>,
    /// Items per signal in the window.
    pub items: BTreeMap<&'static str, f64>,
}

impl Activity {
    pub fn last_ms(&self) -> Option<i64> {
        self.instances
            .values()
            .filter_map(InstanceSeen::last_ms)
            .max()
    }
}

fn signal_name(s: &str) -> Option<&'static str> {
    SIGNALS.into_iter().find(|x| *x == s)
}

/// The activity of every service (or of `service`) that sent anything in the `lookback_ms`
/// before `end_ms`, with its items per signal in the `window_ms` before `end_ms`.
pub fn activity(
    engine: &Engine,
    service: Option<&str>,
    end_ms: i64,
    window_ms: i64,
    lookback_ms: i64,
) -> Result<BTreeMap<String, Activity>, ApiError> {
    let selector = match service {
        Some(s) => format!("{{service_name={}}}", quote(s)),
        None => String::new(),
    };
    let mut out: BTreeMap<String, Activity> = BTreeMap::new();
    let seen = vector(
        engine,
        &format!(
            "max by (service_name, instance, signal) (max_over_time({LAST_SEEN}{selector}[{}]))",
            duration(lookback_ms)
        ),
        end_ms,
    )?;
    for (labels, v) in seen {
        let Some(signal) = signal_name(labels.get("signal").unwrap_or("")) else {
            continue;
        };
        let service = label(&labels, "service_name");
        let instance = label(&labels, "instance");
        let ms = (v * 1000.0) as i64;
        out.entry(service)
            .or_default()
            .instances
            .entry(instance)
            .or_default()
            .by_signal
            .insert(signal, ms);
    }
    let items = vector(
        engine,
        &format!(
            "sum by (service_name, signal) (increase({ITEMS}{selector}[{}]))",
            duration(window_ms)
        ),
        end_ms,
    )?;
    for (labels, v) in items {
        let Some(signal) = signal_name(labels.get("signal").unwrap_or("")) else {
            continue;
        };
        if let Some(a) = out.get_mut(labels.get("service_name").unwrap_or("")) {
            a.items.insert(signal, v);
        }
    }
    Ok(out)
}

/// The RED figures of a service (or of one of its operations) over a window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Red {
    pub calls: f64,
    pub errors: f64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub window_ms: i64,
}

impl Red {
    pub fn rate(&self) -> f64 {
        self.calls / (self.window_ms as f64 / 1000.0)
    }

    pub fn error_percent(&self) -> Option<f64> {
        (self.calls > 0.0).then(|| 100.0 * self.errors / self.calls)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "requests_per_second": self.rate(),
            "requests": self.calls,
            "errors": self.errors,
            "error_percent": self.error_percent(),
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
        })
    }
}

#[derive(Default)]
struct KindFigures {
    calls: f64,
    errors: f64,
    buckets: Vec<(f64, f64)>,
}

/// RED figures over `window_ms` before `end_ms`, per value of the `group` labels (beside
/// `service_name`), from the entry spans of each service when it has any in the window, else
/// from all its spans. Keys: the service name, then the `group` labels' values.
pub fn red(
    engine: &Engine,
    service: Option<&str>,
    group: &[&str],
    end_ms: i64,
    window_ms: i64,
) -> Result<BTreeMap<Vec<String>, Red>, ApiError> {
    let selector = match service {
        Some(s) => format!("service_name={}", quote(s)),
        None => String::new(),
    };
    let by: Vec<&str> = ["service_name", "span_kind"]
        .into_iter()
        .chain(group.iter().copied())
        .collect();
    let by = by.join(", ");
    let range = duration(window_ms);
    let key = |labels: &Labels| -> (Vec<String>, String) {
        let mut k = vec![label(labels, "service_name")];
        k.extend(group.iter().map(|g| label(labels, g)));
        (k, label(labels, "span_kind"))
    };
    let mut figures: HashMap<(Vec<String>, String), KindFigures> = HashMap::new();
    // Calls and errors in one query, by status.
    for (labels, v) in vector(
        engine,
        &format!("sum by ({by}, status_code) (increase({CALLS}{{{selector}}}[{range}]))"),
        end_ms,
    )? {
        let f = figures.entry(key(&labels)).or_default();
        f.calls += v;
        if labels.get("status_code") == Some("STATUS_CODE_ERROR") {
            f.errors += v;
        }
    }
    for (labels, v) in vector(
        engine,
        &format!("sum by ({by}, le) (increase({BUCKETS}{{{selector}}}[{range}]))"),
        end_ms,
    )? {
        let le = match labels.get("le") {
            Some("+Inf") => f64::INFINITY,
            Some(le) => match le.parse::<f64>() {
                Ok(le) => le,
                Err(_) => continue,
            },
            None => continue,
        };
        figures
            .entry(key(&labels))
            .or_default()
            .buckets
            .push((le, v));
    }
    // Services with entry spans are judged by those only.
    let mut has_entry: HashMap<String, bool> = HashMap::new();
    for ((k, kind), f) in &figures {
        if ENTRY_KINDS.contains(&kind.as_str()) && f.calls > 0.0 {
            has_entry.insert(k[0].clone(), true);
        }
    }
    let mut merged: BTreeMap<Vec<String>, KindFigures> = BTreeMap::new();
    for ((k, kind), f) in figures {
        let entry_only = has_entry.get(&k[0]).copied().unwrap_or(false);
        // Per operation (a group is asked for), every kind is kept: an operation is one kind.
        if entry_only && group.is_empty() && !ENTRY_KINDS.contains(&kind.as_str()) {
            continue;
        }
        let m = merged.entry(k).or_default();
        m.calls += f.calls;
        m.errors += f.errors;
        m.buckets.extend(f.buckets);
    }
    Ok(merged
        .into_iter()
        .map(|(k, mut f)| {
            let quantile = |q: f64, buckets: &mut Vec<(f64, f64)>| {
                let total: f64 = buckets
                    .iter()
                    .filter(|b| b.0.is_infinite())
                    .map(|b| b.1)
                    .sum();
                (total > 0.0)
                    .then(|| crate::promql::functions::bucket_quantile(q, buckets))
                    .filter(|v| v.is_finite())
            };
            let p50_ms = quantile(0.5, &mut f.buckets);
            let p99_ms = quantile(0.99, &mut f.buckets);
            (
                k,
                Red {
                    calls: f.calls,
                    errors: f.errors,
                    p50_ms,
                    p99_ms,
                    window_ms,
                },
            )
        })
        .collect())
}

/// The latest `lookout_service_instance_info` labels of each instance of `service` (without
/// the series' identifying labels).
pub fn instance_info(
    engine: &Engine,
    service: &str,
    end_ms: i64,
    lookback_ms: i64,
) -> Result<BTreeMap<String, BTreeMap<String, String>>, ApiError> {
    let mut out = BTreeMap::new();
    for (labels, _) in vector(
        engine,
        &format!(
            "last_over_time({INSTANCE_INFO}{{service_name={}}}[{}])",
            quote(service),
            duration(lookback_ms)
        ),
        end_ms,
    )? {
        let attrs: BTreeMap<String, String> = labels
            .0
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "__name__" | "service_name" | "instance"))
            .cloned()
            .collect();
        out.insert(label(&labels, "instance"), attrs);
    }
    Ok(out)
}

/// The `process.*` resource usage a service's SDK reports (OpenTelemetry's process and
/// runtime metrics), per instance: CPU in cores, memory in bytes, threads, open files.
pub fn process_usage(
    engine: &Engine,
    service: &str,
    end_ms: i64,
    window_ms: i64,
) -> Result<BTreeMap<String, BTreeMap<&'static str, f64>>, ApiError> {
    // `job` is `service.namespace/service.name`, or `service.name` alone.
    let job = format!(
        "job=~{}",
        quote(&format!("(.+/)?{}", regex::escape(service)))
    );
    let range = duration(window_ms.max(60_000));
    let queries: [(&str, String); 6] = [
        (
            "cpu_cores",
            format!("sum by (instance) (rate(process_cpu_time_seconds_total{{{job}}}[{range}]))"),
        ),
        (
            "cpu_utilization",
            format!("sum by (instance) (last_over_time(process_cpu_utilization_ratio{{{job}}}[{range}]))"),
        ),
        (
            "memory_bytes",
            format!("sum by (instance) (last_over_time(process_memory_usage_bytes{{{job}}}[{range}]))"),
        ),
        (
            "virtual_memory_bytes",
            format!("sum by (instance) (last_over_time(process_memory_virtual_bytes{{{job}}}[{range}]))"),
        ),
        (
            "threads",
            format!("sum by (instance) (last_over_time({{__name__=~\"process_thread_count|process_threads\",{job}}}[{range}]))"),
        ),
        (
            "open_file_descriptors",
            format!("sum by (instance) (last_over_time(process_open_file_descriptor_count{{{job}}}[{range}]))"),
        ),
    ];
    let mut out: BTreeMap<String, BTreeMap<&'static str, f64>> = BTreeMap::new();
    for (name, query) in queries {
        for (labels, v) in vector(engine, &query, end_ms)? {
            out.entry(label(&labels, "instance"))
                .or_default()
                .insert(name, v);
        }
    }
    Ok(out)
}
