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
