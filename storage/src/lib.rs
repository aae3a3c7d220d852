//! Lookout's durable storage: every accepted span, log record and metric data point, with its
//! resource and scope, in one embedded RocksDB database (`storage/FORMAT.md` has the layout).
//!
//! Writers and readers are separate traits per signal, so the receivers need only a writer and
//! the query side only a reader. [`Store`] implements all of them.
//!
//! Durability contract of every writer: when a `write_*` call returns `Ok`, the whole batch is
//! in RocksDB's write-ahead log, so it survives a crash of the process; with
//! [`StorageConfig::sync`] it was also fsynced and survives a machine crash. A batch is atomic:
//! after a crash either all of it is there or none of it. The trace index entries of a span
//! batch are the exception: they are written just after it (every read of the index waits for
//! what was queued before it, at most 5 s), and rebuilt from the stored spans at open if a
//! crash lost them.

pub mod cancel;
mod config;
mod error;
mod fresh_logs;
pub mod keys;
mod log_doc;
pub mod log_index;
mod recent;
pub mod series;
pub mod service_graph;
mod span_write;
mod store;
pub mod trace_index;
mod trace_search;

use std::sync::Arc;

use lookout_proto::convert::Rejections;
use lookout_proto::model::{Batch, LogItem, MetricItem, MetricPoint, Resource, Scope, SpanItem};
use lookout_proto::otlp::logs::v1::LogRecord;
use lookout_proto::otlp::trace::v1::Span;
use lookout_proto::{SpanId, TraceId};

pub use config::{Retention, StorageConfig, TraceIndexConfig};
pub use error::{Result, StorageError};
pub use log_index::{
    BadLogQuery, FoundLog, LogIndex, LogIndexConfig, LogKey, LogQuery, LogSearch, LogSearcher,
    VolumeBy,
};
pub use series::{
    Exemplar, Labels, MatchOp, Matcher, Metadata, PickAt, SampleBudget, SelectLimits, SeriesConfig,
    SeriesData,
};
pub use service_graph::ServiceGraph;
pub use store::{
    log_level, LogStream, PendingLogs, Records, RetentionReport, Store, FORMAT_VERSION,
    LOG_INDEX_DIR,
};
pub use trace_index::GraphSpan;

/// Bytes of all files below `dir` (0 for what cannot be read).
pub fn disk_usage_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => disk_usage_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

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

/// Stores spans. A span identical to a stored one (a retried export) is stored once, so
/// retries do not duplicate spans; a different span with the same trace id and span id (the
/// halves of a Zipkin-style shared span, a client that reuses ids) is kept beside it.
pub trait SpanWriter: Send + Sync {
    fn write_spans(&self, batch: &Batch<SpanItem>) -> Result<()>;
}

/// Dashboards saved through the API: opaque documents (JSON, the query API's format) by id.
/// Contract: a put is durable when it returns; ids are compared byte for byte.
pub trait DashboardStore: Send + Sync {
    /// Every saved dashboard, ordered by id.
    fn dashboards(&self) -> Result<Vec<(String, Vec<u8>)>>;
    fn dashboard(&self, id: &str) -> Result<Option<Vec<u8>>>;
    fn put_dashboard(&self, id: &str, document: &[u8]) -> Result<()>;
    /// Deletes it; false when there was none.
    fn delete_dashboard(&self, id: &str) -> Result<bool>;
}

/// Reads spans.
pub trait SpanReader: Send + Sync {
    /// All spans of a trace, ordered by start time, whatever their age, as long as retention
    /// keeps them. Empty when the trace is unknown.
    fn trace(&self, trace_id: &TraceId) -> Result<Vec<StoredSpan>> {
        Ok(self.trace_capped(trace_id, usize::MAX, usize::MAX)?.spans)
    }

    /// Like [`SpanReader::trace`], but stops reading after `max_spans` spans or `max_bytes`
    /// of stored span records, and says so.
    fn trace_capped(
        &self,
        trace_id: &TraceId,
        max_spans: usize,
        max_bytes: usize,
    ) -> Result<TraceRead>;
}

/// A trace as read back, at most as large as the caller allowed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TraceRead {
    pub spans: Vec<StoredSpan>,
    /// True when the trace has more spans (or bytes) than were read.
    pub truncated: bool,
}

/// A trace search. Each filter must hold for one span of the trace (as Jaeger's tag and
/// duration filters do); the trace is then returned whole.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceQuery {
    /// `None`: every service.
    pub service: Option<String>,
    pub operation: Option<String>,
    /// OTLP `SpanKind` number.
    pub span_kind: Option<i32>,
    /// OTLP `StatusCode` number.
    pub status: Option<i32>,
    /// Span, resource, scope, event or link attribute key = value (values compared as text).
    pub attributes: Vec<(String, String)>,
    pub min_duration_ns: Option<u64>,
    pub max_duration_ns: Option<u64>,
    /// Only root spans (no parent) match.
    pub root_only: bool,
    /// Span start times searched.
    pub range: TimeRange,
    /// At most this many traces.
    pub limit: usize,
    /// The search fails with [`StorageError::Timeout`] past this instant.
    pub deadline: Option<std::time::Instant>,
}

impl TraceQuery {
    pub fn new(range: TimeRange, limit: usize) -> Self {
        TraceQuery {
            service: None,
            operation: None,
            span_kind: None,
            status: None,
            attributes: Vec::new(),
            min_duration_ns: None,
            max_duration_ns: None,
            root_only: false,
            range,
            limit,
            deadline: None,
        }
    }
}

/// A trace found by a search, with the start of its newest matching span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceMatch {
    pub trace_id: TraceId,
    pub start_unix_nano: u64,
}

/// An operation of a service: a span name with its span kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    pub name: String,
    pub span_kind: i32,
}

/// A span with status error, as the error index has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorSpan {
    pub service: String,
    pub operation: String,
    /// From the span's `exception` event; empty when it has none.
    pub exception_type: String,
    /// The exception message, else the status message.
    pub message: String,
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub start_unix_nano: u64,
}

/// Searches traces through the trace index, without reading spans it does not return.
///
/// Contract: every method reads only index entries of its services, filters and time window,
/// so its cost grows with the matches, not with what is stored; methods that take a deadline
/// fail with [`StorageError::Timeout`] once it has passed.
pub trait TraceSearch: Send + Sync {
    /// Every service that has sent spans (and not only within retention), sorted.
    fn services(&self) -> Result<Vec<String>>;
    /// The operations of a service, sorted by name then kind.
    fn operations(&self, service: &str) -> Result<Vec<Operation>>;
    /// Traces with a span matching `query`, newest first, at most `query.limit`; `accept` is
    /// asked about each candidate trace once and can refuse it (trace-level filters).
    fn find_traces(
        &self,
        query: &TraceQuery,
        accept: &mut dyn FnMut(&TraceId) -> Result<bool>,
    ) -> Result<Vec<TraceMatch>>;
    /// The service graph of the spans that started in `range`: calls between services
    /// (a span whose parent, wherever stored, is in another service) and requests into each.
    /// Its cost follows the minutes of the window, not its spans, once they are aggregated
    /// (`service_graph`).
    fn service_graph(
        &self,
        range: TimeRange,
        deadline: Option<std::time::Instant>,
    ) -> Result<ServiceGraph>;
    /// Error spans that started in `range` (of one service or all), newest first per service,
    /// at most `limit` (when there are `limit`, there may be more).
    fn error_spans(
        &self,
        service: Option<&str>,
        range: TimeRange,
        limit: usize,
        deadline: Option<std::time::Instant>,
    ) -> Result<Vec<ErrorSpan>>;
}

/// Stores log records (each write adds records; a retried export adds them again). Takes the
/// batch: its records may be kept, as they are, for indexing.
pub trait LogWriter: Send + Sync {
    fn write_logs(&self, batch: Batch<LogItem>) -> Result<()>;
}

/// Reads log records.
pub trait LogReader: Send + Sync {
    /// Records in `range`, oldest first, at most `limit`.
    fn logs(&self, range: TimeRange, limit: usize) -> Result<Vec<StoredLog>>;
}

/// Lists the log streams (a resource and a level) that have records in a time range, for
/// label and series lists. Contract: cost follows the streams and hours of the range, not the
/// records.
pub trait LogStreamReader: Send + Sync {
    fn log_streams(&self, range: TimeRange) -> Result<Vec<LogStream>>;
}

/// Stores metric data points, as Prometheus series (`series::otlp` translates them). Returns
/// the points that were not stored (over a series limit, out of order) by reason; the rest of
/// the batch is durable when this returns `Ok`.
pub trait MetricWriter: Send + Sync {
    fn write_metric_points(&self, batch: &Batch<MetricItem>) -> Result<Rejections>;
}

/// Reads Prometheus series. Times are Unix milliseconds, ranges inclusive. Contract: a
/// selector's cost follows the postings of its matchers and the samples of the series found,
/// not all series; `limits` are checked while reading, giving [`StorageError::Limit`] or
/// [`StorageError::Timeout`].
pub trait SeriesReader: Send + Sync {
    /// Series matching every matcher, with their samples in `[mint, maxt]`; series without
    /// samples there are left out.
    fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        limits: SelectLimits,
    ) -> Result<Vec<SeriesData>>;
    /// Label sets of matching series with samples in `[mint, maxt]`.
    fn series(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        limits: SelectLimits,
    ) -> Result<Vec<Arc<Labels>>>;
    /// Metadata per metric family name, sorted by name.
    fn metadata(&self) -> Result<Vec<(String, Metadata)>>;
    /// Distinct values of a label over every indexed series, sorted (index only: series whose
    /// samples all expired are still listed).
    fn label_values(&self, name: &str) -> Result<Vec<String>>;
    /// Distinct label names over every indexed series, sorted (index only).
    fn label_names(&self) -> Result<Vec<String>>;
    /// Exemplars of matching series in `[mint, maxt]`.
    fn exemplars(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        limits: SelectLimits,
    ) -> Result<Vec<(Arc<Labels>, Vec<Exemplar>)>>;
}

/// Reads metric data points.
pub trait MetricReader: Send + Sync {
    /// Points in `range`, oldest first, at most `limit`.
    fn metric_points(&self, range: TimeRange, limit: usize) -> Result<Vec<StoredMetricPoint>>;
}
