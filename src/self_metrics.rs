//! Metrics read at scrape time: process CPU, memory and open files, and bytes on disk.

use std::sync::{Arc, Mutex};

use lookout_storage::Store;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

#[derive(Debug)]
pub struct ProcessCollector {
    system: Option<Mutex<System>>,
    pid: Option<Pid>,
    store: Arc<Store>,
}

impl ProcessCollector {
    pub fn new(store: Arc<Store>) -> Self {
        ProcessCollector {
            system: System::new().ok().map(Mutex::new),
            pid: sysinfo::get_current_pid().ok(),
            store,
        }
    }
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if let (Some(pid), Some(Ok(mut system))) =
            (self.pid, self.system.as_ref().map(|s| s.lock()))
        {
            system.refresh_processes_specifics(
                ProcessesToUpdate::Some(&[pid]),
                false,
                ProcessRefreshKind::nothing().with_cpu().with_memory(),
            );
            if let Some(process) = system.process(pid) {
                let cpu = ConstCounter::new(process.accumulated_cpu_time() as f64 / 1000.0);
                cpu.encode(encoder.encode_descriptor(
                    "process_cpu_seconds",
                    "User and system CPU time of the Lookout process",
                    None,
                    cpu.metric_type(),
                )?)?;
                let rss = ConstGauge::new(process.memory() as i64);
                rss.encode(encoder.encode_descriptor(
                    "process_resident_memory_bytes",
                    "Resident memory of the Lookout process",
                    None,
                    rss.metric_type(),
                )?)?;
                if let Some(files) = process.open_files() {
                    let open = ConstGauge::new(files as i64);
                    open.encode(encoder.encode_descriptor(
                        "process_open_fds",
                        "Open file descriptors of the Lookout process",
                        None,
                        open.metric_type(),
                    )?)?;
                }
            }
        }
        if let Ok(pending) = self.store.pending_logs_estimate() {
            let pending = ConstGauge::new(i64::try_from(pending).unwrap_or(i64::MAX));
            pending.encode(encoder.encode_descriptor(
                "lookout_log_index_pending_records",
                "Log records stored but not yet searchable (estimate): the log index's lag",
                None,
                pending.metric_type(),
            )?)?;
        }
        for (name, help, value) in [
            (
                "lookout_series",
                "Metric series in the index",
                self.store.series_count(),
            ),
            (
                "lookout_series_active",
                "Metric series with samples in the in-memory head",
                self.store.active_series(),
            ),
            (
                "lookout_series_memory_bytes",
                "Estimated heap bytes of the series index and head",
                self.store.series_memory_bytes(),
            ),
            (
                "lookout_trace_index_queued_spans",
                "Spans stored whose trace index entries are not written yet: the trace index's lag",
                self.store.queued_spans(),
            ),
        ] {
            let gauge = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        let deduplicated = ConstCounter::new(self.store.logs_deduplicated());
        deduplicated.encode(encoder.encode_descriptor(
            "lookout_logs_deduplicated",
            "Log records acknowledged but not stored again: exact retries of recent records",
            None,
            deduplicated.metric_type(),
        )?)?;
        for (name, help, sizes) in [
            (
                "lookout_storage_table_bytes",
                "Bytes of each RocksDB column family's live table files (storage/FORMAT.md says what each holds); the rest of lookout_storage_disk_bytes is the log index, the write-ahead log and RocksDB's manifests",
                self.store.table_bytes(),
            ),
            (
                "lookout_storage_memtable_bytes",
                "Bytes of each RocksDB column family's memtables, written and waiting to be flushed (past storage.write_buffer_size in all, the largest is flushed)",
                self.store.memtable_bytes(),
            ),
        ] {
            let Ok(sizes) = sizes else { continue };
            let mut family = encoder.encode_descriptor(
                name,
                help,
                None,
                prometheus_client::metrics::MetricType::Gauge,
            )?;
            for (column_family, bytes) in sizes {
                let gauge = ConstGauge::new(i64::try_from(bytes).unwrap_or(i64::MAX));
                gauge.encode(family.encode_family(&[("column_family", column_family)])?)?;
            }
        }
        if let Ok((pending, running)) = self.store.background_work() {
            for (name, help, value) in [
                (
                    "lookout_storage_compaction_pending_bytes",
                    "Bytes RocksDB estimates its compactions still have to rewrite (compactions run at a lower CPU priority than exports and indexing; a debt that keeps growing ends in write stalls)",
                    pending,
                ),
                (
                    "lookout_storage_background_jobs_running",
                    "RocksDB compactions and flushes running now",
                    running,
                ),
            ] {
                let gauge = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
                gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
            }
        }
        let disk = ConstGauge::new(self.store.disk_usage_bytes() as i64);
        disk.encode(encoder.encode_descriptor(
            "lookout_storage_disk_bytes",
            "Bytes of all files in the data directory",
            None,
            disk.metric_type(),
        )?)?;
        Ok(())
    }
}

/// Lookout's own exposition text (OpenMetrics, as rendered for `/metrics`) as samples of
/// series with `job="lookout"` and `instance`, at `t` (ms). Counters keep their `_total`
/// samples; `_created` samples and comments are skipped.
pub fn exposition_samples(
    text: &str,
    instance: &str,
    t: i64,
) -> Vec<lookout_storage::series::NewSample> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let Some((series, value)) = split_sample(line) else {
            continue;
        };
        let Ok(v) = value.split_whitespace().next().unwrap_or("").parse::<f64>() else {
            continue;
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.strip_suffix('}').unwrap_or(rest)),
            None => (series, ""),
        };
        if name.ends_with("_created") {
            continue;
        }
        let mut pairs = parse_labels(labels);
        pairs.retain(|(n, _)| n != "job" && n != "instance");
        pairs.push(("__name__".into(), name.to_owned()));
        pairs.push(("job".into(), "lookout".into()));
        pairs.push(("instance".into(), instance.to_owned()));
        out.push(lookout_storage::series::NewSample {
            labels: lookout_storage::Labels::new(pairs),
            t,
            v,
            delta_start: None,
            point: u32::MAX,
            series: None,
            key: 0,
        });
    }
    out
}

/// `name{labels} value` → (`name{labels}`, `value`), minding quoted `}` and spaces.
fn split_sample(line: &str) -> Option<(&str, &str)> {
    let mut in_quote = false;
    let mut escaped = false;
    let mut brace = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quote => escaped = true,
            '"' if brace => in_quote = !in_quote,
            '{' if !in_quote => brace = true,
            '}' if !in_quote => brace = false,
            ' ' if !in_quote && !brace => return Some((&line[..i], &line[i + 1..])),
            _ => {}
        }
    }
    None
}

fn parse_labels(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while let Some((name, after)) = rest.split_once("=\"") {
        let name = name.trim().trim_start_matches(',').trim().to_owned();
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, other)) => value.push(other),
                    None => {}
                },
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        out.push((name, value));
        rest = after[end..].trim_start_matches(',').trim();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_lines_become_series() {
        let text = "# HELP lookout_items_received Items received.\n\
            # TYPE lookout_items_received counter\n\
            lookout_items_received_total{signal=\"spans\",path=\"a \\\"b\\\" }\"} 42\n\
            lookout_items_received_created{signal=\"spans\"} 1.7e9\n\
            process_resident_memory_bytes 1048576\n\
            # EOF\n";
        let samples = exposition_samples(text, "box", 5);
        assert_eq!(samples.len(), 2);
        let first = &samples[0];
        assert_eq!(first.v, 42.0);
        assert_eq!(first.labels.name(), "lookout_items_received_total");
        assert_eq!(first.labels.get("signal"), Some("spans"));
        assert_eq!(first.labels.get("path"), Some("a \"b\" }"));
        assert_eq!(first.labels.get("job"), Some("lookout"));
        assert_eq!(first.labels.get("instance"), Some("box"));
        assert_eq!(samples[1].v, 1_048_576.0);
    }
}

/// Alert notification deliveries (webhooks and Alertmanager), by outcome.
#[derive(Debug)]
pub struct NotificationCollector(pub Arc<lookout_alerting::notify::Stats>);

impl Collector for NotificationCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use std::sync::atomic::Ordering;
        let mut family = encoder.encode_descriptor(
            "lookout_alert_notifications",
            "Alert notification deliveries (webhooks and Alertmanager) by outcome; a failed attempt is retried with backoff, dropped counts alerts refused by a full queue",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (outcome, value) in [
            ("sent", self.0.sent.load(Ordering::Relaxed)),
            ("failed", self.0.failed.load(Ordering::Relaxed)),
            ("dropped", self.0.dropped.load(Ordering::Relaxed)),
        ] {
            let counter = ConstCounter::new(value);
            counter.encode(family.encode_family(&[("outcome", outcome)])?)?;
        }
        Ok(())
    }
}
