//! Lookout's durable storage: every accepted span, log record and metric data point, with its
//! resource and scope, in one embedded RocksDB database (`storage/FORMAT.md` has the layout).
//!
//! Writers and readers are separate traits per signal, so the receivers need only a writer and
//! the query side only a reader. [`Store`] implements all of them.
//!
//! Durability contract of every writer: when a `write_*` call returns `Ok`, the whole batch is
//! in RocksDB's write-ahead log, so it survives a crash of the process; with
//! [`StorageConfig::sync`] it was also fsynced and survives a machine crash. A batch is atomic:
//! after a crash either all of it is there or none of it.

mod config;
mod error;
pub mod keys;
mod store;

use std::sync::Arc;

use lookout_proto::model::{Batch, LogItem, MetricItem, MetricPoint, Resource, Scope, SpanItem};
use lookout_proto::otlp::logs::v1::LogRecord;
use lookout_proto::otlp::trace::v1::Span;
use lookout_proto::TraceId;

pub use config::{Retention, StorageConfig};
pub use error::{Result, StorageError};
pub use store::{Records, RetentionReport, Store, FORMAT_VERSION};

/// A half-open time range `[start, end)` in Unix nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeRange {
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
}

impl TimeRange {
    pub const ALL: TimeRange = TimeRange {
        start_unix_nano: 0,
        end_unix_nano: u64::MAX,
    };
}

/// A span as read back, with its resource and scope.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredSpan {
    pub resource: Arc<Resource>,
    pub scope: Arc<Scope>,
    pub span: Span,
}

/// A log record as read back. `time_unix_nano` is the time it is stored under.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredLog {
    pub time_unix_nano: u64,
    pub resource: Arc<Resource>,
    pub scope: Arc<Scope>,
    pub record: LogRecord,
}

/// A metric data point as read back.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredMetricPoint {
    pub time_unix_nano: u64,
    pub resource: Arc<Resource>,
    pub scope: Arc<Scope>,
    pub point: MetricPoint,
}

/// Stores spans. Writing a span whose trace id and span id are already stored (a retried
/// export) replaces it, so retries do not duplicate spans.
pub trait SpanWriter: Send + Sync {
    fn write_spans(&self, batch: &Batch<SpanItem>) -> Result<()>;
}

/// Reads spans.
pub trait SpanReader: Send + Sync {
    /// All spans of a trace, ordered by start time, whatever their age, as long as retention
    /// keeps them. Empty when the trace is unknown.
    fn trace(&self, trace_id: &TraceId) -> Result<Vec<StoredSpan>>;
}

/// Stores log records (each write adds records; a retried export adds them again).
pub trait LogWriter: Send + Sync {
    fn write_logs(&self, batch: &Batch<LogItem>) -> Result<()>;
}

/// Reads log records.
pub trait LogReader: Send + Sync {
    /// Records in `range`, oldest first, at most `limit`.
    fn logs(&self, range: TimeRange, limit: usize) -> Result<Vec<StoredLog>>;
}

/// Stores metric data points.
pub trait MetricWriter: Send + Sync {
    fn write_metric_points(&self, batch: &Batch<MetricItem>) -> Result<()>;
}

/// Reads metric data points.
pub trait MetricReader: Send + Sync {
    /// Points in `range`, oldest first, at most `limit`.
    fn metric_points(&self, range: TimeRange, limit: usize) -> Result<Vec<StoredMetricPoint>>;
}
