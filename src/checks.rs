//! The readiness checks of `/ready`: storage accepts writes, the disk has room, receivers are up.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytesize::ByteSize;
use lookout_query_api::{CheckResult, CheckStatus, ReadinessCheck};
use lookout_storage::Store;

/// Storage takes a write and reads it back.
pub struct StorageCheck(pub Arc<Store>);

impl ReadinessCheck for StorageCheck {
    fn name(&self) -> &'static str {
        "storage"
    }
    fn check(&self) -> CheckResult {
        match self.0.probe_writable() {
            Ok(()) => CheckResult {
                status: CheckStatus::Healthy,
                details: format!(
                    "writable, {} on disk in {}",
                    ByteSize(self.0.disk_usage_bytes()),
                    self.0.path().display()
                ),
            },
            Err(e) => CheckResult {
                status: CheckStatus::Unhealthy,
                details: format!("not writable: {e}"),
            },
        }
    }
}

/// Log records waiting for the log index: degraded when searches miss more than a few
/// seconds of ingest (the index lags; nothing is lost).
pub struct LogIndexCheck(pub Arc<Store>);

/// Pending records above which the log index is reported lagging.
const LOG_INDEX_LAG: u64 = 200_000;

impl ReadinessCheck for LogIndexCheck {
    fn name(&self) -> &'static str {
        "log_index"
    }
    fn check(&self) -> CheckResult {
        match self.0.pending_logs_estimate() {
            Ok(n) if n <= LOG_INDEX_LAG => CheckResult {
                status: CheckStatus::Healthy,
                details: format!("about {n} records waiting to be indexed"),
            },
            Ok(n) => CheckResult {
                status: CheckStatus::Degraded,
                details: format!(
                    "about {n} records waiting to be indexed: recent logs are searchable with a delay (nothing is lost)"
                ),
            },
            Err(e) => CheckResult {
                status: CheckStatus::Unhealthy,
                details: format!("cannot read the pending records: {e}"),
            },
        }
    }
}

/// Free space on the file system of the data directory.
pub struct DiskCheck {
    pub path: PathBuf,
    pub min_free: ByteSize,
}

impl ReadinessCheck for DiskCheck {
    fn name(&self) -> &'static str {
        "disk"
    }
    fn check(&self) -> CheckResult {
        let path = self
            .path
            .canonicalize()
            .unwrap_or_else(|_| self.path.clone());
        let disks = match sysinfo::Disks::new_with_refreshed_list() {
            Ok(disks) => disks,
            Err(e) => {
                return CheckResult {
                    status: CheckStatus::Degraded,
                    details: format!("cannot list file systems: {e}"),
                }
            }
        };
        let Some(disk) = disks
            .iter()
            .filter(|d| path.starts_with(d.mount_point()))
            .max_by_key(|d| d.mount_point().as_os_str().len())
        else {
            return CheckResult {
                status: CheckStatus::Degraded,
                details: format!("no mounted file system found for {}", path.display()),
            };
        };
        let free = disk.available_space();
        let min = self.min_free.as_u64();
        let status = if free < min {
            CheckStatus::Unhealthy
        } else if free < min.saturating_mul(2) {
            CheckStatus::Degraded
        } else {
            CheckStatus::Healthy
        };
        CheckResult {
            status,
            details: format!(
                "{} free of {} on {} (minimum {})",
                ByteSize(free),
                ByteSize(disk.total_space()),
                disk.mount_point().display(),
                self.min_free
            ),
        }
    }
}

/// Whether each receiver is serving.
#[derive(Clone, Default)]
pub struct ReceiverFlags {
    pub grpc: Arc<AtomicBool>,
    pub http: Arc<AtomicBool>,
}

pub struct ReceiversCheck {
    pub flags: ReceiverFlags,
    pub grpc_addr: std::net::SocketAddr,
    pub http_addr: std::net::SocketAddr,
}

impl ReadinessCheck for ReceiversCheck {
    fn name(&self) -> &'static str {
        "receivers"
    }
    fn check(&self) -> CheckResult {
        let state = |up: &AtomicBool| {
            if up.load(Ordering::Relaxed) {
                "up"
            } else {
                "down"
            }
        };
        let all_up =
            self.flags.grpc.load(Ordering::Relaxed) && self.flags.http.load(Ordering::Relaxed);
        CheckResult {
            status: if all_up {
                CheckStatus::Healthy
            } else {
                CheckStatus::Unhealthy
            },
            details: format!(
                "otlp grpc {} on {}, otlp http {} on {}",
                state(&self.flags.grpc),
                self.grpc_addr,
                state(&self.flags.http),
                self.http_addr
            ),
        }
    }
}
