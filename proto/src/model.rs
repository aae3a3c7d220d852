//! What Lookout stores: protobuf messages of its own that embed OTLP's item types.
//!
//! A span, log record or metric data point is stored with the content hashes of its resource and
//! instrumentation scope ([`resource_id`], [`scope_id`]) instead of copies of them, so a batch of
//! ten thousand spans from one service stores its resource once. Field numbers are the on-disk
//! format (see `storage/FORMAT.md`): never reuse one.

use crate::otlp::common::v1::KeyValue;
use crate::otlp::logs::v1 as otlp_logs;
use crate::otlp::metrics::v1 as otlp_metrics;
use crate::otlp::trace::v1 as otlp_trace;
use prost::Message;

/// The entity that produced telemetry (a service instance, a host), as OTLP describes it.
#[derive(Clone, PartialEq, Message)]
pub struct Resource {
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
    #[prost(uint32, tag = "2")]
    pub dropped_attributes_count: u32,
    #[prost(string, tag = "3")]
    pub schema_url: String,
}

impl Resource {
    /// The value of the `service.name` attribute, if it is a string.
    pub fn service_name(&self) -> Option<&str> {
        string_attribute(&self.attributes, "service.name")
    }
}

/// The instrumentation scope (library) that produced an item.
#[derive(Clone, PartialEq, Message)]
pub struct Scope {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub version: String,
    #[prost(message, repeated, tag = "3")]
    pub attributes: Vec<KeyValue>,
    #[prost(uint32, tag = "4")]
    pub dropped_attributes_count: u32,
    #[prost(string, tag = "5")]
    pub schema_url: String,
}

/// A stored span. `span.trace_id` and `span.span_id` are left empty on disk (they are in the
/// key) and filled in again when read.
#[derive(Clone, PartialEq, Message)]
pub struct SpanRecord {
    #[prost(fixed64, tag = "1")]
    pub resource_id: u64,
    #[prost(fixed64, tag = "2")]
    pub scope_id: u64,
    #[prost(message, optional, tag = "3")]
    pub span: Option<otlp_trace::Span>,
}

/// A stored log record.
#[derive(Clone, PartialEq, Message)]
pub struct LogRecord {
    #[prost(fixed64, tag = "1")]
    pub resource_id: u64,
    #[prost(fixed64, tag = "2")]
    pub scope_id: u64,
    #[prost(message, optional, tag = "3")]
    pub record: Option<otlp_logs::LogRecord>,
}

/// The kind of metric a data point belongs to, as in OTLP's `Metric.data`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MetricKind {
    Unspecified = 0,
    Gauge = 1,
    Sum = 2,
    Histogram = 3,
    ExponentialHistogram = 4,
    Summary = 5,
}

/// One stored metric data point with its metric's name, description, unit and kind.
#[derive(Clone, PartialEq, Message)]
pub struct MetricPoint {
    #[prost(fixed64, tag = "1")]
    pub resource_id: u64,
    #[prost(fixed64, tag = "2")]
    pub scope_id: u64,
    #[prost(string, tag = "3")]
    pub name: String,
    #[prost(string, tag = "4")]
    pub description: String,
    #[prost(string, tag = "5")]
    pub unit: String,
    #[prost(message, repeated, tag = "6")]
    pub metadata: Vec<KeyValue>,
    #[prost(enumeration = "MetricKind", tag = "7")]
    pub kind: i32,
    /// `AggregationTemporality` of a sum, histogram or exponential histogram.
    #[prost(int32, tag = "8")]
    pub aggregation_temporality: i32,
    #[prost(bool, tag = "9")]
    pub is_monotonic: bool,
    #[prost(oneof = "PointValue", tags = "10, 11, 12, 13")]
    pub value: Option<PointValue>,
}

/// The data point itself, in OTLP's own form.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum PointValue {
    #[prost(message, tag = "10")]
    Number(otlp_metrics::NumberDataPoint),
    #[prost(message, tag = "11")]
    Histogram(otlp_metrics::HistogramDataPoint),
    #[prost(message, tag = "12")]
    ExponentialHistogram(otlp_metrics::ExponentialHistogramDataPoint),
    #[prost(message, tag = "13")]
    Summary(otlp_metrics::SummaryDataPoint),
}

impl PointValue {
    pub fn time_unix_nano(&self) -> u64 {
        match self {
            PointValue::Number(p) => p.time_unix_nano,
            PointValue::Histogram(p) => p.time_unix_nano,
            PointValue::ExponentialHistogram(p) => p.time_unix_nano,
            PointValue::Summary(p) => p.time_unix_nano,
        }
    }

    pub fn attributes(&self) -> &[KeyValue] {
        match self {
            PointValue::Number(p) => &p.attributes,
            PointValue::Histogram(p) => &p.attributes,
            PointValue::ExponentialHistogram(p) => &p.attributes,
            PointValue::Summary(p) => &p.attributes,
        }
    }
}

/// A resource or scope with its id: the xxh3-64 hash of its protobuf encoding.
#[derive(Clone, Debug, PartialEq)]
pub struct Interned {
    pub id: u64,
    pub encoded: Vec<u8>,
}

impl Interned {
    pub fn new<M: Message>(message: &M) -> Self {
        let encoded = message.encode_to_vec();
        Interned {
            id: xxhash_rust::xxh3::xxh3_64(&encoded),
            encoded,
        }
    }
}

/// A span ready to be written, with the parts of its key.
#[derive(Clone, Debug, PartialEq)]
pub struct SpanItem {
    pub trace_id: crate::TraceId,
    pub span_id: crate::SpanId,
    pub start_time_unix_nano: u64,
    pub record: SpanRecord,
}

/// A log record ready to be written. `time_unix_nano` is the record's time, else its observed
/// time, else the time it was received.
#[derive(Clone, Debug, PartialEq)]
pub struct LogItem {
    pub time_unix_nano: u64,
    pub record: LogRecord,
}

/// A metric data point ready to be written.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricItem {
    pub time_unix_nano: u64,
    pub point: MetricPoint,
}

/// The items of one export request and the resources and scopes they point to (each once).
#[derive(Clone, Debug, PartialEq)]
pub struct Batch<T> {
    pub resources: Vec<Interned>,
    pub scopes: Vec<Interned>,
    pub items: Vec<T>,
}

impl<T> Default for Batch<T> {
    fn default() -> Self {
        Batch {
            resources: Vec::new(),
            scopes: Vec::new(),
            items: Vec::new(),
        }
    }
}

impl<T> Batch<T> {
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// The string value of attribute `key`, if present and a string.
pub fn string_attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    use crate::otlp::common::v1::any_value::Value;
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        }
    })
}
