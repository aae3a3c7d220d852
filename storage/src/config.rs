use std::time::Duration;

use bytesize::ByteSize;

/// How the RocksDB store is opened.
#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `false`: an acknowledged write is in the write-ahead log in the OS page cache: it survives
    /// a crash or kill -9 of Lookout, not a machine crash or power loss. `true`: every write
    /// batch is fsynced before it is acknowledged, which survives those too, at a cost in
    /// latency and throughput.
    pub sync: bool,
    /// Shared RocksDB block cache for reads.
    pub block_cache_size: ByteSize,
    /// Memory for memtables across all column families before they are flushed.
    pub write_buffer_size: ByteSize,
    /// What the trace search index holds.
    pub trace_index: TraceIndexConfig,
    /// Limits and durability of metric series.
    pub series: crate::SeriesConfig,
}

/// Which span, resource and event attributes the trace search index holds.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TraceIndexConfig {
    /// Attributes (and keys) whose text is longer are stored but not searchable by tag.
    pub max_value_length: usize,
    /// At most this many attributes of one span (span and event attributes together) and of
    /// one resource are indexed; the rest are stored but not searchable by tag.
    pub max_attributes_per_span: usize,
}

impl Default for TraceIndexConfig {
    fn default() -> Self {
        TraceIndexConfig {
            max_value_length: 256,
            max_attributes_per_span: 64,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            sync: false,
            block_cache_size: ByteSize::mib(64),
            write_buffer_size: ByteSize::mib(128),
            trace_index: TraceIndexConfig::default(),
            series: crate::SeriesConfig::default(),
        }
    }
}

/// How long each signal is kept, by the item's own timestamp.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Retention {
    #[serde(with = "humantime_serde")]
    pub traces: Duration,
    #[serde(with = "humantime_serde")]
    pub logs: Duration,
    #[serde(with = "humantime_serde")]
    pub metrics: Duration,
    /// How often expired data is looked for and deleted.
    #[serde(with = "humantime_serde")]
    pub check_interval: Duration,
}

const DAY: Duration = Duration::from_secs(24 * 3600);

impl Default for Retention {
    fn default() -> Self {
        Retention {
            traces: 7 * DAY,
            logs: 7 * DAY,
            metrics: 30 * DAY,
            check_interval: Duration::from_secs(300),
        }
    }
}

impl Retention {
    /// Every problem, each with its path below `prefix`.
    pub fn validate(&self, prefix: &str, problems: &mut Vec<String>) {
        for (name, value) in [
            ("traces", self.traces),
            ("logs", self.logs),
            ("metrics", self.metrics),
            ("check_interval", self.check_interval),
        ] {
            if value.is_zero() {
                problems.push(format!("{prefix}.{name}: must be greater than 0"));
            }
        }
    }
}
