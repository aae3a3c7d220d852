//! Metrics of the host Lookout runs on and of its own process, read with `sysinfo` and named
//! as OpenTelemetry's system and process semantic conventions (the Collector's hostmetrics
//! receiver) name them: `system.cpu.utilization`, `system.cpu.load_average.1m`,
//! `system.memory.usage`/`.utilization`, `system.paging.usage`/`.utilization`,
//! `system.network.io`/`.packets`, `system.filesystem.usage`/`.utilization`, `system.disk.io`,
//! `process.cpu.time`/`.utilization`, `process.memory.usage`,
//! `process.open_file_descriptor.count`. They are made into an OTLP export request, so they are
//! stored as any OTLP metric is (here with `job="lookout"` and the host name as `instance`).

use std::time::Duration;

use lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use lookout_proto::otlp::common::v1::KeyValue;
use lookout_proto::otlp::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, Gauge, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};
use lookout_proto::otlp::resource::v1::Resource;
use sysinfo::{Disks, Networks, Pid, ProcessRefreshKind, ProcessesToUpdate, System};

/// Whether and how often host metrics are collected.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostMetricsConfig {
    pub enabled: bool,
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
}

impl Default for HostMetricsConfig {
    fn default() -> Self {
        HostMetricsConfig {
            enabled: true,
            interval: Duration::from_secs(15),
        }
    }
}

impl HostMetricsConfig {
    pub fn validate(&self, prefix: &str, problems: &mut Vec<String>) {
        if self.interval < Duration::from_secs(1) {
            problems.push(format!("{prefix}.interval: must be at least 1s"));
        }
    }
}

use lookout_proto::requests::string_kv as kv;

/// Reads the host and the process; keeps `sysinfo`'s state between collections (CPU usage is
/// measured between two refreshes).
pub struct HostMetrics {
    system: Option<System>,
    networks: Option<Networks>,
    disks: Option<Disks>,
    pid: Option<Pid>,
    host: String,
    start_unix_nano: u64,
    /// When CPU times were last read: utilisations are measured from there.
    cpu_read_at: std::time::Instant,
}

/// The shortest interval a CPU utilisation is measured over (sysinfo needs 200 ms; shorter
/// readings are mostly noise).
pub const MIN_UTILISATION_DELTA: Duration = Duration::from_millis(500);

impl std::fmt::Debug for HostMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostMetrics")
            .field("host", &self.host)
            .finish()
    }
}

struct Builder {
    time: u64,
    start: u64,
    metrics: Vec<Metric>,
}

impl Builder {
    fn point(&self, value: f64, attributes: Vec<KeyValue>) -> NumberDataPoint {
        NumberDataPoint {
            attributes,
            start_time_unix_nano: self.start,
            time_unix_nano: self.time,
            value: Some(number_data_point::Value::AsDouble(value)),
            ..Default::default()
        }
    }

    fn gauge(&mut self, name: &str, unit: &str, help: &str, points: Vec<(f64, Vec<KeyValue>)>) {
        if points.is_empty() {
            return;
        }
        let data_points = points.into_iter().map(|(v, a)| self.point(v, a)).collect();
        self.metrics.push(Metric {
            name: name.into(),
            unit: unit.into(),
            description: help.into(),
            data: Some(Data::Gauge(Gauge { data_points })),
            ..Default::default()
        });
    }

    /// A cumulative sum (`monotonic`: a counter).
    fn sum(
        &mut self,
        name: &str,
        unit: &str,
        help: &str,
        monotonic: bool,
        points: Vec<(f64, Vec<KeyValue>)>,
    ) {
        if points.is_empty() {
            return;
        }
        let data_points = points.into_iter().map(|(v, a)| self.point(v, a)).collect();
        self.metrics.push(Metric {
            name: name.into(),
            unit: unit.into(),
            description: help.into(),
            data: Some(Data::Sum(Sum {
                data_points,
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: monotonic,
            })),
            ..Default::default()
        });
    }
}

impl HostMetrics {
    pub fn new() -> HostMetrics {
        let mut system = System::new().ok();
        let pid = sysinfo::get_current_pid().ok();
        if let Some(s) = system.as_mut() {
            // The first CPU readings (host and process) are a baseline for the next.
            s.refresh_cpu_usage();
            if let Some(pid) = pid {
                s.refresh_processes_specifics(
                    ProcessesToUpdate::Some(&[pid]),
                    false,
                    ProcessRefreshKind::nothing().with_cpu(),
                );
            }
        }
        HostMetrics {
            cpu_read_at: std::time::Instant::now(),
            system,
            networks: Networks::new_with_refreshed_list().ok(),
            disks: Disks::new_with_refreshed_list().ok(),
            pid,
            host: System::host_name().unwrap_or_else(|_| "localhost".into()),
            start_unix_nano: lookout_proto::now_unix_nano(),
        }
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// Whether [`HostMetrics::collect`] would include CPU utilisations now (the last reading
    /// of CPU times is at least [`MIN_UTILISATION_DELTA`] old).
    pub fn utilisation_ready(&self) -> bool {
        self.cpu_read_at.elapsed() >= MIN_UTILISATION_DELTA
    }

    /// One export request with every metric read now. CPU utilisations (host and process)
    /// are left out when the previous reading of CPU times is too recent to measure them
    /// ([`HostMetrics::utilisation_ready`]); everything else needs no earlier reading.
    pub fn collect(&mut self) -> ExportMetricsServiceRequest {
        let mut b = Builder {
            time: lookout_proto::now_unix_nano(),
            start: self.start_unix_nano,
            metrics: Vec::new(),
        };
        let utilisation = self.utilisation_ready();
        if let Some(system) = self.system.as_mut() {
            if utilisation {
                system.refresh_cpu_usage();
                self.cpu_read_at = std::time::Instant::now();
            }
            system.refresh_memory();
            let cpus = system.cpus();
            let mut per_core: Vec<(f64, Vec<KeyValue>)> = cpus
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    (
                        f64::from(c.usage()) / 100.0,
                        vec![kv("cpu", &format!("cpu{i}"))],
                    )
                })
                .collect();
            if !cpus.is_empty() {
                let total = cpus.iter().map(|c| f64::from(c.usage())).sum::<f64>()
                    / cpus.len() as f64
                    / 100.0;
                per_core.push((total, vec![kv("cpu", "total")]));
            }
            if utilisation {
                b.gauge(
                    "system.cpu.utilization",
                    "1",
                    "Share of CPU time not idle, per logical CPU and in total (cpu=\"total\")",
                    per_core,
                );
            }
            b.gauge(
                "system.cpu.logical.count",
                "{cpu}",
                "Logical CPUs",
                vec![(cpus.len() as f64, vec![])],
            );
            let (total, used) = (system.total_memory() as f64, system.used_memory() as f64);
            b.gauge(
                "system.memory.usage",
                "By",
                "Memory in use and free",
                vec![
                    (used, vec![kv("state", "used")]),
                    ((total - used).max(0.0), vec![kv("state", "free")]),
                ],
            );
            if total > 0.0 {
                b.gauge(
                    "system.memory.utilization",
                    "1",
                    "Share of memory in use",
                    vec![(used / total, vec![kv("state", "used")])],
                );
            }
            let (swap_total, swap_used) = (system.total_swap() as f64, system.used_swap() as f64);
            b.gauge(
                "system.paging.usage",
                "By",
                "Swap in use and free",
                vec![
                    (swap_used, vec![kv("state", "used")]),
                    ((swap_total - swap_used).max(0.0), vec![kv("state", "free")]),
                ],
            );
            if swap_total > 0.0 {
                b.gauge(
                    "system.paging.utilization",
                    "1",
                    "Share of swap in use",
                    vec![(swap_used / swap_total, vec![kv("state", "used")])],
                );
            }
            if let Ok(load) = System::load_average() {
                for (name, v) in [("1m", load.one), ("5m", load.five), ("15m", load.fifteen)] {
                    b.gauge(
                        &format!("system.cpu.load_average.{name}"),
                        "{thread}",
                        "Load average",
                        vec![(v, vec![])],
                    );
                }
            }
            if let Some(pid) = self.pid {
                let refresh = ProcessRefreshKind::nothing().with_memory();
                system.refresh_processes_specifics(
                    ProcessesToUpdate::Some(&[pid]),
                    false,
                    if utilisation {
                        refresh.with_cpu()
                    } else {
                        refresh
                    },
                );
                if let Some(p) = system.process(pid) {
                    b.sum(
                        "process.cpu.time",
                        "s",
                        "CPU time of the Lookout process",
                        true,
                        vec![(p.accumulated_cpu_time() as f64 / 1000.0, vec![])],
                    );
                    if utilisation {
                        b.gauge(
                            "process.cpu.utilization",
                            "1",
                            "CPU share of the Lookout process (1 = one CPU)",
                            vec![(f64::from(p.cpu_usage()) / 100.0, vec![])],
                        );
                    }
                    b.sum(
                        "process.memory.usage",
                        "By",
                        "Resident memory of the Lookout process",
                        false,
                        vec![(p.memory() as f64, vec![])],
                    );
                    if let Some(files) = p.open_files() {
                        b.sum(
                            "process.open_file_descriptor.count",
                            "{count}",
                            "Open files of the Lookout process",
                            false,
                            vec![(files as f64, vec![])],
                        );
                    }
                }
            }
        }
        if let Some(networks) = self.networks.as_mut() {
            networks.refresh(true);
            let mut io = Vec::new();
            let mut packets = Vec::new();
            let mut names: Vec<_> = networks.iter().collect();
            names.sort_by(|a, b| a.0.cmp(b.0));
            for (name, data) in names {
                let device = name.to_string_lossy();
                io.push((
                    data.total_received() as f64,
                    vec![kv("device", &device), kv("direction", "receive")],
                ));
                io.push((
                    data.total_transmitted() as f64,
                    vec![kv("device", &device), kv("direction", "transmit")],
                ));
                packets.push((
                    data.total_packets_received() as f64,
                    vec![kv("device", &device), kv("direction", "receive")],
                ));
                packets.push((
                    data.total_packets_transmitted() as f64,
                    vec![kv("device", &device), kv("direction", "transmit")],
                ));
            }
            b.sum(
                "system.network.io",
                "By",
                "Bytes received and sent per interface",
                true,
                io,
            );
            b.sum(
                "system.network.packets",
                "{packet}",
                "Packets received and sent per interface",
                true,
                packets,
            );
        }
        if let Some(disks) = self.disks.as_mut() {
            disks.refresh(true);
            let (mut usage, mut utilization, mut io) = (Vec::new(), Vec::new(), Vec::new());
            for d in disks.iter() {
                let device = d.name().to_string_lossy();
                let mount = d.mount_point().to_string_lossy();
                let fs = d.file_system().to_string_lossy();
                let (total, free) = (d.total_space() as f64, d.available_space() as f64);
                let attrs = |state: Option<&str>| {
                    let mut a = vec![
                        kv("device", &device),
                        kv("mountpoint", &mount),
                        kv("type", &fs),
                    ];
                    if let Some(s) = state {
                        a.push(kv("state", s));
                    }
                    a
                };
                usage.push(((total - free).max(0.0), attrs(Some("used"))));
                usage.push((free, attrs(Some("free"))));
                if total > 0.0 {
                    utilization.push(((total - free).max(0.0) / total, attrs(None)));
                }
                let u = d.usage();
                io.push((
                    u.total_read_bytes as f64,
                    vec![kv("device", &device), kv("direction", "read")],
                ));
                io.push((
                    u.total_written_bytes as f64,
                    vec![kv("device", &device), kv("direction", "write")],
                ));
            }
            b.sum(
                "system.filesystem.usage",
                "By",
                "Filesystem space used and free per mount",
                false,
                usage,
            );
            b.gauge(
                "system.filesystem.utilization",
                "1",
                "Share of filesystem space used per mount",
                utilization,
            );
            // Several mounts of one device report the same counters: keep one per device.
            io.sort_by(|a, b| format!("{:?}", a.1).cmp(&format!("{:?}", b.1)));
            io.dedup_by(|a, b| a.1 == b.1);
            b.sum(
                "system.disk.io",
                "By",
                "Bytes read and written per disk",
                true,
                io,
            );
        }
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(Resource {
                    attributes: vec![
                        kv("service.name", "lookout"),
                        kv("service.instance.id", &self.host),
                        kv("host.name", &self.host),
                    ],
                    ..Default::default()
                }),
                scope_metrics: vec![ScopeMetrics {
                    metrics: b.metrics,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }
}

impl Default for HostMetrics {
    fn default() -> Self {
        HostMetrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(request: &ExportMetricsServiceRequest) -> Vec<&str> {
        request.resource_metrics[0].scope_metrics[0]
            .metrics
            .iter()
            .map(|m| m.name.as_str())
            .collect()
    }

    #[test]
    fn what_needs_no_earlier_reading_is_collected_at_once() {
        let mut host = HostMetrics::new();
        let first = host.collect();
        let names = names(&first);
        for name in [
            "system.memory.usage",
            "system.filesystem.usage",
            "system.network.io",
            "process.memory.usage",
        ] {
            assert!(names.contains(&name), "{name} missing at once: {names:?}");
        }
        assert!(!names.contains(&"system.cpu.utilization"), "{names:?}");
        assert!(!names.contains(&"process.cpu.utilization"), "{names:?}");
    }

    #[test]
    fn host_metrics_have_sane_values() {
        let mut host = HostMetrics::new();
        std::thread::sleep(MIN_UTILISATION_DELTA);
        let request = host.collect();
        assert!(names(&request).contains(&"process.cpu.utilization"));
        let metrics = &request.resource_metrics[0].scope_metrics[0].metrics;
        let values = |name: &str| -> Vec<f64> {
            let m = metrics
                .iter()
                .find(|m| m.name == name)
                .unwrap_or_else(|| panic!("{name}"));
            let points = match m.data.as_ref().unwrap() {
                Data::Gauge(g) => &g.data_points,
                Data::Sum(s) => &s.data_points,
                _ => panic!("{name}"),
            };
            points
                .iter()
                .map(|p| match p.value {
                    Some(number_data_point::Value::AsDouble(d)) => d,
                    _ => panic!("{name}"),
                })
                .collect()
        };
        for v in values("system.cpu.utilization") {
            assert!((0.0..=1.0).contains(&v), "cpu {v}");
        }
        let memory = values("system.memory.usage");
        assert!(memory.iter().sum::<f64>() > 64e6, "{memory:?}");
        let used = values("system.memory.utilization")[0];
        assert!(used > 0.0 && used < 1.0, "{used}");
        assert!(values("process.memory.usage")[0] > 1e6);
        assert!(!values("system.network.io").is_empty());
        for v in values("system.filesystem.utilization") {
            assert!((0.0..=1.0).contains(&v));
        }
    }
}
