//! Trace reads shared by every trace dialect: loading a trace (capped), searching, trace
//! summaries, the service graph and error groups. The dialects (`jaeger`, `lookout`) only
//! parse parameters and shape answers.

pub mod analysis;
pub(crate) mod jaeger;
pub mod lookout;
pub mod params;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lookout_proto::otlp::trace::v1::status::StatusCode;
use lookout_proto::TraceId;
use lookout_storage::{
    LogSearch, LogStreamReader, SpanReader, StoredSpan, TimeRange, TraceQuery, TraceSearch,
};

use crate::{ApiError, QueryConfig};

/// What the trace endpoints read from.
#[derive(Clone)]
pub struct TraceApi {
    pub reader: Arc<dyn SpanReader>,
    pub search: Arc<dyn TraceSearch>,
    /// Log search, for the logs of a trace and of each span.
    pub logs: Arc<dyn LogSearch>,
    /// The log streams of a time range (Loki's labels and series).
    pub log_streams: Arc<dyn LogStreamReader>,
    pub config: QueryConfig,
}

/// A trace as read for an answer.
#[derive(Clone, Debug)]
pub struct LoadedTrace {
    pub trace_id: TraceId,
    pub spans: Vec<StoredSpan>,
    pub warnings: Vec<String>,
}

/// A search in dialect-neutral form: the span filters plus trace-level root filters.
#[derive(Clone, Debug)]
pub struct Search {
    pub query: TraceQuery,
    /// The name of the service parameter in the request's dialect, for errors.
    pub service_param: String,
    pub root_service: Option<String>,
    pub root_operation: Option<String>,
}

/// Runs blocking storage work off the async executor; the work stops at its next deadline
/// check if the client goes away.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let (guard, flag) = lookout_storage::cancel::CancelOnDrop::new();
    let result = tokio::task::spawn_blocking(move || lookout_storage::cancel::cancellable(flag, f))
        .await
        .map_err(|e| ApiError::Internal(format!("query task failed: {e}")))?;
    guard.disarm();
    result
}

/// A dialect's parser of search parameters (query string pairs) into a [`Search`].
pub(crate) type SearchParser = fn(&TraceApi, &[(String, String)]) -> Result<Search, ApiError>;

/// Parses a search from the request's query string with `parse` and runs it off the executor.
pub(crate) async fn find_with(
    api: TraceApi,
    query: Option<String>,
    parse: SearchParser,
) -> Result<Vec<LoadedTrace>, ApiError> {
    let pairs = params::pairs(query.as_deref());
    blocking(move || {
        let search = parse(&api, &pairs)?;
        api.find(&search)
    })
    .await
}

pub(crate) fn now_unix_nano() -> u64 {
    lookout_proto::now_unix_nano()
}

impl TraceApi {
    /// Checks a window against `query.max_search_range` and returns it as a range.
    pub fn window(&self, start: u64, end: u64, start_name: &str) -> Result<TimeRange, ApiError> {
        if start >= end {
            return Err(ApiError::bad(format!(
                "malformed parameter {start_name}: the start of the time range must be before its end"
            )));
        }
        let max = self.config.max_search_range;
        if end - start > max.as_nanos() as u64 {
            return Err(ApiError::bad(format!(
                "time range of {} is longer than the maximum of {} (query.max_search_range)",
                humantime::format_duration(Duration::from_secs((end - start) / 1_000_000_000)),
                humantime::format_duration(max),
            )));
        }
        Ok(TimeRange {
            start_unix_nano: start,
            end_unix_nano: end,
        })
    }

    /// Checks a search limit against `query.max_search_limit`.
    pub fn limit(&self, name: &str, limit: usize) -> Result<usize, ApiError> {
        if limit == 0 {
            return Err(ApiError::bad(format!(
                "malformed parameter {name}: must be at least 1"
            )));
        }
        if limit > self.config.max_search_limit {
            return Err(ApiError::bad(format!(
                "malformed parameter {name}: {limit} is more than the maximum of {} (query.max_search_limit)",
                self.config.max_search_limit
            )));
        }
        Ok(limit)
    }

    /// A 400 naming `param` when no span of `service` was ever stored (a typo, usually).
    pub fn known_service(&self, param: &str, service: &str) -> Result<(), ApiError> {
        let services = self.search.services()?;
        if services
            .binary_search_by(|s| s.as_str().cmp(service))
            .is_ok()
        {
            return Ok(());
        }
        let mut known: Vec<&str> = services.iter().map(String::as_str).take(20).collect();
        if services.len() > known.len() {
            known.push("...");
        }
        Err(ApiError::bad(format!(
            "parameter {param}: unknown service {service:?} (known: {})",
            if known.is_empty() {
                "none yet".to_string()
            } else {
                known.join(", ")
            }
        )))
    }

    pub fn deadline(&self) -> Instant {
        Instant::now() + self.config.timeout
    }

    /// A trace by id, whatever its age; `None` when unknown.
    pub fn load(&self, trace_id: &TraceId) -> Result<Option<LoadedTrace>, ApiError> {
        let max_bytes = usize::try_from(self.config.max_trace_bytes.as_u64()).unwrap_or(usize::MAX);
        let read = self
            .reader
            .trace_capped(trace_id, self.config.max_trace_spans, max_bytes)?;
        if read.spans.is_empty() {
            return Ok(None);
        }
        let mut warnings = Vec::new();
        if read.truncated {
            warnings.push(format!(
                "trace is larger than the query limits (query.max_trace_spans {}, query.max_trace_bytes {}): only its first {} spans are shown",
                self.config.max_trace_spans,
                self.config.max_trace_bytes,
                read.spans.len()
            ));
        }
        Ok(Some(LoadedTrace {
            trace_id: *trace_id,
            spans: read.spans,
            warnings,
        }))
    }

    /// The traces a search finds, loaded, newest first.
    pub fn find(&self, search: &Search) -> Result<Vec<LoadedTrace>, ApiError> {
        if let Some(service) = &search.query.service {
            self.known_service(&search.service_param, service)?;
        }
        if let Some(service) = &search.root_service {
            self.known_service("rootService", service)?;
        }
        let mut loaded: HashMap<TraceId, LoadedTrace> = HashMap::new();
        let has_root_filter = search.root_service.is_some() || search.root_operation.is_some();
        let mut query = search.query.clone();
        let span_filters = query.operation.is_some()
            || query.span_kind.is_some()
            || query.status.is_some()
            || !query.attributes.is_empty()
            || query.min_duration_ns.is_some()
            || query.max_duration_ns.is_some();
        if has_root_filter && !span_filters && query.service.is_none() {
            // Only root filters: the root spans of the root service are the driver.
            query.service.clone_from(&search.root_service);
            query.operation.clone_from(&search.root_operation);
            query.root_only = true;
        }
        let mut error = None;
        let matches = self.search.find_traces(&query, &mut |id| {
            if !has_root_filter {
                return Ok(true);
            }
            match self.load(id) {
                Ok(Some(trace)) => {
                    let root = analysis::root(&trace.spans);
                    let ok = root.is_some_and(|(service, span)| {
                        search.root_service.as_deref().is_none_or(|s| s == service)
                            && search
                                .root_operation
                                .as_deref()
                                .is_none_or(|o| o == span.span.name)
                    });
                    if ok {
                        loaded.insert(*id, trace);
                    }
                    Ok(ok)
                }
                Ok(None) => Ok(false),
                Err(e) => {
                    error = Some(e);
                    Ok(false)
                }
            }
        })?;
        if let Some(e) = error {
            return Err(e);
        }
        let mut out = Vec::with_capacity(matches.len());
        for m in matches {
            let trace = match loaded.remove(&m.trace_id) {
                Some(t) => Some(t),
                None => self.load(&m.trace_id)?,
            };
            out.extend(trace);
        }
        Ok(out)
    }
}

/// The service of a stored span (`unknown_service` when its resource has none).
pub fn service_of(span: &StoredSpan) -> &str {
    span.resource
        .service_name()
        .filter(|s| !s.is_empty())
        .unwrap_or(lookout_storage::trace_index::UNKNOWN_SERVICE)
}

pub fn is_error(span: &StoredSpan) -> bool {
    span.span
        .status
        .as_ref()
        .is_some_and(|s| s.code == StatusCode::Error as i32)
}
