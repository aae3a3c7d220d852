//! What each service sent, per instance and signal: the raw material of service health.
//!
//! [`ServiceActivity`] counts the items of every stored export by the service and instance of
//! their resource, and [`ServiceActivity::flush`] writes them as series, so that "which
//! services sent what, and when last" survives restarts and can be asked for any window:
//! - `lookout_service_items_total{service_name, instance, signal}`: items stored (a counter
//!   that starts again at 0 when Lookout restarts, as counters do);
//! - `lookout_service_last_seen_timestamp_seconds{service_name, instance, signal}`: when the
//!   last item arrived, written only while items arrive (its `max_over_time` is the last seen);
//! - `lookout_service_instance_info{service_name, instance, process_*, host_name} 1`: the
//!   instance's `process.*` and `host.name` resource attributes, as Prometheus's `target_info`.
//!
//! `signal` is `spans`, `logs` or `metric_points`. `instance` is the resource's
//! `service.instance.id`, else its `host.name` and `process.pid`, else `host.name`, else empty.
//! Instances are capped ([`ActivityConfig::max_instances`]); one that sent nothing for
//! [`ActivityConfig::forget_after`] is forgotten (its series are simply no longer written).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use lookout_proto::model::{
    string_attribute, Batch, Interned, LogItem, MetricItem, Resource, SpanItem,
};
use lookout_proto::otlp::common::v1::any_value;
use lookout_storage::series::NewSample;
use lookout_storage::Labels;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use prost::Message;

use crate::Signal;

pub const ITEMS_METRIC: &str = "lookout_service_items_total";
pub const LAST_SEEN_METRIC: &str = "lookout_service_last_seen_timestamp_seconds";
pub const INSTANCE_INFO_METRIC: &str = "lookout_service_instance_info";

/// Resource attributes copied to `lookout_service_instance_info` (as labels, `.` → `_`).
const INFO_ATTRIBUTES: [&str; 9] = [
    "host.name",
    "process.pid",
    "process.executable.name",
    "process.command",
    "process.owner",
    "process.runtime.name",
    "process.runtime.version",
    "process.runtime.description",
    "telemetry.sdk.language",
];

/// Limits of the activity tracker.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActivityConfig {
    /// Service instances tracked at most; items of further instances are not tracked (and
    /// counted in `lookout_service_activity_untracked_items_total`).
    pub max_instances: usize,
    /// An instance that sent nothing for this long is forgotten.
    #[serde(with = "humantime_serde")]
    pub forget_after: Duration,
    /// How often the counts are written as series.
    #[serde(with = "humantime_serde")]
    pub flush_interval: Duration,
}

impl Default for ActivityConfig {
    fn default() -> Self {
        ActivityConfig {
            max_instances: 10_000,
            forget_after: Duration::from_secs(3600),
            flush_interval: Duration::from_secs(15),
        }
    }
}

impl ActivityConfig {
    /// Every problem, each with its path below `prefix`.
    pub fn validate(&self, prefix: &str, problems: &mut Vec<String>) {
        if self.max_instances == 0 {
            problems.push(format!("{prefix}.max_instances: must be greater than 0"));
        }
        if self.forget_after.is_zero() {
            problems.push(format!("{prefix}.forget_after: must be greater than 0"));
        }
        if self.flush_interval.is_zero() {
            problems.push(format!("{prefix}.flush_interval: must be greater than 0"));
        }
    }
}

/// The label name of signal `signal` in the activity series.
pub fn signal_label(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "spans",
        Signal::Logs => "logs",
        Signal::Metrics => "metric_points",
    }
}

/// An item that points to its resource.
pub trait ResourceItem {
    fn resource_id(&self) -> u64;
}

/// A batch's items counted by resource, with those resources: what [`ServiceActivity::record`]
/// needs of a batch once storage has taken it.
#[derive(Debug, Default)]
pub struct Tally {
    per_resource: HashMap<u64, u64>,
    resources: Vec<Interned>,
}

impl Tally {
    /// Counts `batch`'s items by resource.
    pub fn of<T: ResourceItem>(batch: &Batch<T>) -> Tally {
        let mut per_resource: HashMap<u64, u64> = HashMap::new();
        for item in &batch.items {
            *per_resource.entry(item.resource_id()).or_default() += 1;
        }
        let resources = batch
            .resources
            .iter()
            .filter(|r| per_resource.contains_key(&r.id))
            .cloned()
            .collect();
        Tally {
            per_resource,
            resources,
        }
    }
}

impl ResourceItem for SpanItem {
    fn resource_id(&self) -> u64 {
        self.record.resource_id
    }
}

impl ResourceItem for LogItem {
    fn resource_id(&self) -> u64 {
        self.record.resource_id
    }
}

impl ResourceItem for MetricItem {
    fn resource_id(&self) -> u64 {
        self.point.resource_id
    }
}

#[derive(Debug, Default)]
struct SignalCounts {
    total: u64,
    last_seen_ms: i64,
    /// Items arrived since the last flush.
    dirty: bool,
}

#[derive(Debug)]
struct Instance {
    service: String,
    instance: String,
    info: Vec<(String, String)>,
    signals: [SignalCounts; 3],
    last_seen_ms: i64,
    info_written: bool,
}

#[derive(Debug, Default)]
struct State {
    /// By resource id: the (service, instance) key of each resource seen.
    resources: HashMap<u64, (String, String)>,
    instances: HashMap<(String, String), Instance>,
}

/// Per-service, per-instance activity; shared by the ingest pipeline and the flusher.
#[derive(Debug)]
pub struct ServiceActivity {
    config: ActivityConfig,
    state: Mutex<State>,
    untracked: Counter,
    tracked: Gauge,
}

fn signal_index(signal: Signal) -> usize {
    match signal {
        Signal::Traces => 0,
        Signal::Logs => 1,
        Signal::Metrics => 2,
    }
}

const SIGNALS: [Signal; 3] = [Signal::Traces, Signal::Logs, Signal::Metrics];

fn attribute_text(resource: &Resource, key: &str) -> Option<String> {
    let value = resource
        .attributes
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_ref()?
        .value
        .as_ref()?;
    match value {
        any_value::Value::StringValue(s) => Some(s.clone()),
        any_value::Value::IntValue(i) => Some(i.to_string()),
        any_value::Value::BoolValue(b) => Some(b.to_string()),
        any_value::Value::DoubleValue(d) => Some(d.to_string()),
        _ => None,
    }
    .filter(|s| !s.is_empty())
}

/// The service, instance and info labels of an encoded resource.
fn identify(encoded: &[u8]) -> (String, String, Vec<(String, String)>) {
    let resource = Resource::decode(encoded).unwrap_or_default();
    let service = resource
        .service_name()
        .filter(|s| !s.is_empty())
        .unwrap_or(lookout_storage::trace_index::UNKNOWN_SERVICE)
        .to_string();
    let host = attribute_text(&resource, "host.name");
    let pid = attribute_text(&resource, "process.pid");
    let instance = string_attribute(&resource.attributes, "service.instance.id")
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .or_else(|| match (&host, &pid) {
            (Some(h), Some(p)) => Some(format!("{h}:{p}")),
            (Some(h), None) => Some(h.clone()),
            _ => None,
        })
        .unwrap_or_default();
    let info = INFO_ATTRIBUTES
        .iter()
        .filter_map(|key| {
            let value = attribute_text(&resource, key)?;
            let mut value: String = value.chars().take(256).collect();
            value.shrink_to_fit();
            Some((key.replace('.', "_"), value))
        })
        .collect();
    (service, instance, info)
}

impl ServiceActivity {
    pub fn new(config: ActivityConfig, registry: &mut Registry) -> Self {
        let activity = ServiceActivity {
            config,
            state: Mutex::new(State::default()),
            untracked: Counter::default(),
            tracked: Gauge::default(),
        };
        registry.register(
            "lookout_service_activity_untracked_items",
            "Items of service instances past service_activity.max_instances, not tracked",
            activity.untracked.clone(),
        );
        registry.register(
            "lookout_service_activity_instances",
            "Service instances whose activity is tracked",
            activity.tracked.clone(),
        );
        activity
    }

    pub fn flush_interval(&self) -> Duration {
        self.config.flush_interval
    }

    /// Counts a stored batch's items (tallied before it was handed to storage) by the service
    /// and instance of their resource.
    pub fn record(&self, signal: Signal, tally: &Tally) {
        self.record_at(
            signal,
            tally,
            lookout_proto::now_unix_nano() as i64 / 1_000_000,
        );
    }

    fn record_at(&self, signal: Signal, tally: &Tally, now_ms: i64) {
        if tally.per_resource.is_empty() {
            return;
        }
        let per_resource = tally.per_resource.iter().map(|(id, count)| (*id, *count));
        let encoded: HashMap<u64, &Interned> = tally.resources.iter().map(|r| (r.id, r)).collect();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let mut untracked = 0;
        for (resource_id, count) in per_resource {
            let key = match state.resources.get(&resource_id) {
                Some(key) => key.clone(),
                None => {
                    let bytes = encoded
                        .get(&resource_id)
                        .map_or(&[][..], |r| &r.encoded[..]);
                    let (service, instance, info) = identify(bytes);
                    let key = (service.clone(), instance.clone());
                    if !state.instances.contains_key(&key) {
                        if state.instances.len() >= self.config.max_instances {
                            untracked += count;
                            continue;
                        }
                        state.instances.insert(
                            key.clone(),
                            Instance {
                                service,
                                instance,
                                info,
                                signals: Default::default(),
                                last_seen_ms: now_ms,
                                info_written: false,
                            },
                        );
                    }
                    // A cache: a client can send a new resource (one changing attribute) with
                    // every export for the same instance, so it is bounded on its own.
                    if state.resources.len() >= self.config.max_instances.saturating_mul(4) {
                        state.resources.clear();
                    }
                    state.resources.insert(resource_id, key.clone());
                    key
                }
            };
            if let Some(instance) = state.instances.get_mut(&key) {
                let counts = &mut instance.signals[signal_index(signal)];
                counts.total += count;
                counts.last_seen_ms = now_ms;
                counts.dirty = true;
                instance.last_seen_ms = now_ms;
            }
        }
        self.tracked.set(state.instances.len() as i64);
        drop(state);
        if untracked > 0 {
            self.untracked.inc_by(untracked);
        }
    }

    /// The samples of every instance that sent items since the last flush; forgets instances
    /// silent for `forget_after`.
    pub fn flush(&self) -> Vec<NewSample> {
        self.flush_at(lookout_proto::now_unix_nano() as i64 / 1_000_000)
    }

    fn flush_at(&self, now_ms: i64) -> Vec<NewSample> {
        let forget_ms = i64::try_from(self.config.forget_after.as_millis()).unwrap_or(i64::MAX);
        let mut out = Vec::new();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let State {
            resources,
            instances,
        } = &mut *state;
        instances.retain(|_, i| now_ms.saturating_sub(i.last_seen_ms) < forget_ms);
        resources.retain(|_, key| instances.contains_key(key));
        for i in instances.values_mut() {
            let base = |name: &str| {
                vec![
                    ("__name__".to_string(), name.to_string()),
                    ("service_name".to_string(), i.service.clone()),
                    ("instance".to_string(), i.instance.clone()),
                ]
            };
            let sample = |pairs: Vec<(String, String)>, v: f64| NewSample {
                labels: Labels::new(pairs),
                series: None,
                key: 0,
                t: now_ms,
                v,
                delta_start: None,
                point: u32::MAX,
            };
            let mut any = false;
            for signal in SIGNALS {
                let counts = &mut i.signals[signal_index(signal)];
                if !counts.dirty {
                    continue;
                }
                counts.dirty = false;
                any = true;
                let label = ("signal".to_string(), signal_label(signal).to_string());
                let mut pairs = base(ITEMS_METRIC);
                pairs.push(label.clone());
                out.push(sample(pairs, counts.total as f64));
                let mut pairs = base(LAST_SEEN_METRIC);
                pairs.push(label);
                out.push(sample(pairs, counts.last_seen_ms as f64 / 1000.0));
            }
            if any || !i.info_written {
                i.info_written = true;
                let mut pairs = base(INSTANCE_INFO_METRIC);
                pairs.extend(i.info.iter().cloned());
                out.push(sample(pairs, 1.0));
            }
        }
        self.tracked.set(instances.len() as i64);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_proto::model::{LogRecord, Resource};
    use lookout_proto::requests::string_kv as kv;

    fn logs(resources: &[&[(&str, &str)]], per_resource: usize) -> Batch<LogItem> {
        let mut batch = Batch::default();
        for attrs in resources {
            let r = Interned::new(&Resource {
                attributes: attrs.iter().map(|(k, v)| kv(k, v)).collect(),
                ..Default::default()
            });
            for _ in 0..per_resource {
                batch.items.push(LogItem {
                    time_unix_nano: 1,
                    record: LogRecord {
                        resource_id: r.id,
                        ..Default::default()
                    },
                });
            }
            batch.resources.push(r);
        }
        batch
    }

    fn find<'a>(
        samples: &'a [NewSample],
        name: &str,
        pairs: &[(&str, &str)],
    ) -> Option<&'a NewSample> {
        samples.iter().find(|s| {
            s.labels.name() == name && pairs.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
        })
    }

    #[test]
    fn counts_items_per_service_instance_and_signal() {
        let activity = ServiceActivity::new(ActivityConfig::default(), &mut Registry::default());
        let batch = logs(
            &[
                &[
                    ("service.name", "api"),
                    ("service.instance.id", "api-1"),
                    ("process.pid", "7"),
                ],
                &[
                    ("service.name", "api"),
                    ("host.name", "h2"),
                    ("process.pid", "9"),
                ],
                &[],
            ],
            3,
        );
        activity.record_at(Signal::Logs, &Tally::of(&batch), 10_000);
        activity.record_at(Signal::Logs, &Tally::of(&batch), 12_000);
        let samples = activity.flush_at(15_000);
        let total = find(
            &samples,
            ITEMS_METRIC,
            &[("instance", "api-1"), ("signal", "logs")],
        )
        .unwrap();
        assert_eq!((total.v, total.t), (6.0, 15_000));
        let seen = find(&samples, LAST_SEEN_METRIC, &[("instance", "h2:9")]).unwrap();
        assert_eq!(seen.labels.get("service_name"), Some("api"));
        assert_eq!(seen.v, 12.0);
        assert!(find(
            &samples,
            ITEMS_METRIC,
            &[("service_name", "unknown_service")]
        )
        .is_some());
        let info = find(&samples, INSTANCE_INFO_METRIC, &[("instance", "api-1")]).unwrap();
        assert_eq!(info.labels.get("process_pid"), Some("7"));
        // Nothing new: nothing written, not even the info series.
        assert!(activity.flush_at(20_000).is_empty());
        // Silent past forget_after: forgotten, and counted again from 0 when it comes back.
        activity.flush_at(12_000 + 3_600_000);
        activity.record_at(Signal::Logs, &Tally::of(&batch), 4_000_000);
        let samples = activity.flush_at(4_000_000);
        let total = find(&samples, ITEMS_METRIC, &[("instance", "api-1")]).unwrap();
        assert_eq!(total.v, 3.0);
    }

    #[test]
    fn instances_past_the_cap_are_not_tracked() {
        let config = ActivityConfig {
            max_instances: 1,
            ..Default::default()
        };
        let activity = ServiceActivity::new(config, &mut Registry::default());
        let batch = logs(&[&[("service.name", "a")], &[("service.name", "b")]], 2);
        activity.record_at(Signal::Logs, &Tally::of(&batch), 1_000);
        let samples = activity.flush_at(2_000);
        let services: std::collections::HashSet<_> = samples
            .iter()
            .filter_map(|s| s.labels.get("service_name"))
            .collect();
        assert_eq!(services.len(), 1);
        assert_eq!(activity.untracked.get(), 2);
    }

    #[test]
    fn resources_changing_every_export_stay_bounded() {
        let config = ActivityConfig {
            max_instances: 2,
            ..Default::default()
        };
        let activity = ServiceActivity::new(config, &mut Registry::default());
        for n in 0..100 {
            let request = n.to_string();
            let batch = logs(&[&[("service.name", "a"), ("request.id", &request)]], 1);
            activity.record_at(Signal::Logs, &Tally::of(&batch), 1_000 + n);
        }
        let state = activity.state.lock().unwrap();
        assert!(state.resources.len() <= 8, "{}", state.resources.len());
        assert_eq!(state.instances.len(), 1);
        let counted: u64 = state.instances.values().map(|i| i.signals[1].total).sum();
        assert_eq!(counted, 100);
    }
}
