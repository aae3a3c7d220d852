use std::time::Duration;

use bytesize::ByteSize;

/// Limits of the query API, each answered with a clear error when exceeded.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueryConfig {
    /// The longest time window a trace search, service map, dependency graph or error list may
    /// cover (a longer one is a 400).
    #[serde(with = "humantime_serde")]
    pub max_search_range: Duration,
    /// The most traces one search may ask for (a larger `limit` is a 400).
    pub max_search_limit: usize,
    /// A search, service map or error list still running after this is stopped (503).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// A trace with more spans is returned cut, with a warning on the trace.
    pub max_trace_spans: usize,
    /// A trace with more stored bytes is returned cut, with a warning on the trace.
    pub max_trace_bytes: ByteSize,
    /// The most error spans one error-groups request reads (the answer says when it was cut).
    pub max_error_spans: usize,
    /// Queries (of every API) evaluated at once; more wait for a slot (Prometheus's
    /// `query.max-concurrency`).
    pub max_concurrent_queries: usize,
}

impl Default for QueryConfig {
    fn default() -> Self {
        QueryConfig {
            max_search_range: Duration::from_secs(7 * 24 * 3600),
            max_search_limit: 1500,
            timeout: Duration::from_secs(30),
            max_trace_spans: 100_000,
            max_trace_bytes: ByteSize::mib(128),
            max_error_spans: 100_000,
            max_concurrent_queries: 20,
        }
    }
}

impl QueryConfig {
    /// Every problem, each with its path below `prefix`.
    pub fn validate(&self, prefix: &str, problems: &mut Vec<String>) {
        for (name, zero) in [
            ("max_search_range", self.max_search_range.is_zero()),
            ("max_search_limit", self.max_search_limit == 0),
            ("timeout", self.timeout.is_zero()),
            ("max_trace_spans", self.max_trace_spans == 0),
            ("max_trace_bytes", self.max_trace_bytes.as_u64() == 0),
            ("max_error_spans", self.max_error_spans == 0),
            ("max_concurrent_queries", self.max_concurrent_queries == 0),
        ] {
            if zero {
                problems.push(format!("{prefix}.{name}: must be greater than 0"));
            }
        }
    }
}
