//! The export path shared by both receivers: admit, decode, convert, write, answer.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use lookout_proto::convert::Rejections;
use lookout_proto::model::{Batch, LogItem, MetricItem, SpanItem};
use lookout_proto::otlp::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use lookout_proto::otlp::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use lookout_proto::otlp::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use lookout_proto::{
    convert_logs, convert_metrics, convert_traces, Converted, Limits, TimeWindow, Timed,
};
use lookout_storage::{LogWriter, MetricWriter, Retention, SpanWriter};
use prost::Message;
use tokio::sync::Semaphore;

use crate::activity::Tally;
use crate::{IngestError, IngestMetrics, OtlpConfig};

/// The least a request is charged against `max_inflight_bytes`.
const MIN_CHARGE: usize = 64 * 1024;

/// The three OTLP signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Signal {
    Traces,
    Metrics,
    Logs,
}

impl Signal {
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }

    /// What the items of this signal are called in messages.
    pub fn items(self) -> &'static str {
        match self {
            Signal::Traces => "spans",
            Signal::Metrics => "data points",
            Signal::Logs => "log records",
        }
    }
}

/// The transport an export came over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    Grpc,
    Http,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::Http => "http",
        }
    }
}

/// The encoding of an export body (and of its answer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

/// Where accepted items go.
#[derive(Clone)]
pub struct Writers {
    pub spans: Arc<dyn SpanWriter>,
    pub logs: Arc<dyn LogWriter>,
    pub metrics: Arc<dyn MetricWriter>,
    /// Counts what each service sent (`None`: not tracked).
    pub activity: Option<Arc<crate::activity::ServiceActivity>>,
}

/// The result of an accepted export: how many items were invalid and why.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportOutcome {
    pub rejected: u64,
    pub message: Option<String>,
}

/// The ingest pipeline. Cheap to clone.
///
/// Contract: [`Ingest::export`] returns `Ok` only after every accepted item is durably stored
/// (see `lookout_storage`); on `Err` nothing of the request was stored.
#[derive(Clone)]
pub struct Ingest {
    inner: Arc<Inner>,
}

struct Inner {
    writers: Writers,
    limits: Limits,
    /// How old each signal's items may be: its retention.
    retention: Retention,
    config: OtlpConfig,
    metrics: IngestMetrics,
    inflight: Arc<Semaphore>,
    /// One permit per worker: bounds how many requests are decoded at once.
    workers: Arc<Semaphore>,
    /// Per signal, one permit per worker: bounds how many batches of that signal are decoded
    /// or written at once. Separate from the decode permits and per signal, so a write that
    /// waits (many new series, a RocksDB stall) holds up only requests of its own signal.
    writes: [Arc<Semaphore>; 3],
}

/// A request's share of the in-flight byte budget, returned when it is dropped. Taken before
/// a body is read where possible, and grown as the body turns out larger.
pub struct Admission {
    permit: tokio::sync::OwnedSemaphorePermit,
    budget: Arc<Semaphore>,
    charged: usize,
    limit: u64,
    retry_after: std::time::Duration,
    metrics: IngestMetrics,
}

impl Admission {
    /// Charges the budget up to `bytes` in all (each request counts at least MIN_CHARGE);
    /// refuses with [`IngestError::Overloaded`] when the budget has no room.
    pub fn grow_to(&mut self, bytes: usize) -> Result<(), IngestError> {
        let wanted = bytes.max(MIN_CHARGE).min(self.limit as usize);
        if wanted <= self.charged {
            return Ok(());
        }
        let extra = (wanted - self.charged) as u32;
        let more = Arc::clone(&self.budget)
            .try_acquire_many_owned(extra)
            .map_err(|_| IngestError::Overloaded {
                inflight_limit: self.limit,
                retry_after: self.retry_after,
            })?;
        self.permit.merge(more);
        self.charged = wanted;
        self.metrics.inflight_bytes().inc_by(i64::from(extra));
        Ok(())
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.metrics.inflight_bytes().dec_by(self.charged as i64);
    }
}

impl Ingest {
    pub fn new(
        writers: Writers,
        limits: Limits,
        retention: Retention,
        config: OtlpConfig,
        metrics: IngestMetrics,
    ) -> Self {
        let budget = config.max_inflight_bytes.as_u64().min(u64::from(u32::MAX)) as usize;
        let workers = Arc::new(Semaphore::new(config.effective_workers()));
        let writes = [(); 3].map(|()| Arc::new(Semaphore::new(config.effective_workers())));
        Ingest {
            inner: Arc::new(Inner {
                workers,
                writes,
                writers,
                limits,
                retention,
                config,

                metrics,
                inflight: Arc::new(Semaphore::new(budget)),
            }),
        }
    }

    pub fn config(&self) -> &OtlpConfig {
        &self.inner.config
    }

    /// Stores one export request whose (decompressed) body is `body`.
    pub async fn export(
        &self,
        protocol: Protocol,
        signal: Signal,
        encoding: Encoding,
        body: Bytes,
    ) -> Result<ExportOutcome, IngestError> {
        match self.admit(body.len()) {
            Ok(admission) => {
                self.export_admitted(admission, protocol, signal, encoding, false, body)
                    .await
            }
            Err(error) => {
                self.record_refused(protocol, signal, &error);
                Err(error)
            }
        }
    }

    /// Counts a request refused before it reached [`Ingest::export`] (too large, bad media type).
    pub fn record_refused(&self, protocol: Protocol, signal: Signal, error: &IngestError) {
        self.inner.metrics.refused(protocol, signal, error.reason());
    }

    /// Takes `bytes` (at least MIN_CHARGE, so the budget also bounds how many requests wait,
    /// however small) of the in-flight budget, or refuses at once with a retry hint.
    pub fn admit(&self, bytes: usize) -> Result<Admission, IngestError> {
        let config = &self.inner.config;
        let limit = config.max_inflight_bytes.as_u64().min(u64::from(u32::MAX));
        let cost = bytes.max(MIN_CHARGE).min(limit as usize).max(1);
        let permit = Arc::clone(&self.inner.inflight)
            .try_acquire_many_owned(cost as u32)
            .map_err(|_| IngestError::Overloaded {
                inflight_limit: limit,
                retry_after: config.retry_after,
            })?;
        self.inner.metrics.inflight_bytes().inc_by(cost as i64);
        Ok(Admission {
            permit,
            budget: Arc::clone(&self.inner.inflight),
            charged: cost,
            limit,
            retry_after: config.retry_after,
            metrics: self.inner.metrics.clone(),
        })
    }

    /// Like [`Ingest::export`] for a request admitted beforehand, whose body was read under
    /// that admission. A `gzip` body is inflated by the worker, within the size limit, and the
    /// admission grows to the inflated size.
    pub async fn export_admitted(
        &self,
        admission: Admission,
        protocol: Protocol,
        signal: Signal,
        encoding: Encoding,
        gzip: bool,
        body: Bytes,
    ) -> Result<ExportOutcome, IngestError> {
        let started = Instant::now();
        let result = self
            .process_admitted(admission, signal, encoding, gzip, body)
            .await;
        let outcome = match &result {
            Ok(o) if o.rejected > 0 => "partial",
            Ok(_) => "ok",
            Err(e) => e.reason(),
        };
        self.inner
            .metrics
            .request(protocol, signal, outcome, started.elapsed().as_secs_f64());
        result
    }

    async fn process_admitted(
        &self,
        mut admission: Admission,
        signal: Signal,
        encoding: Encoding,
        gzip: bool,
        body: Bytes,
    ) -> Result<ExportOutcome, IngestError> {
        let limit = self.inner.config.max_message_size.as_u64();
        if body.len() as u64 > limit {
            return Err(IngestError::TooLarge { limit });
        }
        admission.grow_to(body.len())?;
        // Decoding, conversion and the RocksDB write are CPU and I/O work: keep them off the
        // async workers so a large batch does not stall other connections. A write permit of
        // the request's signal is taken first, then a decode permit (one per worker), which is
        // given back as soon as the batch is decoded: a write can wait on work of unbounded
        // length (creating many series, a RocksDB write stall), and then holds up only writes
        // of its own signal, never the decoding of others. Waiting requests stay compact bytes,
        // and at most one decoded batch per write permit exists at once.
        // Both waits together are bounded by `max_queue_wait`.
        let config = &self.inner.config;
        let deadline = tokio::time::Instant::now() + config.max_queue_wait;
        let backlogged = || IngestError::Backlogged {
            waited: config.max_queue_wait,
            retry_after: config.retry_after,
        };
        let writer = tokio::time::timeout_at(
            deadline,
            Arc::clone(&self.inner.writes[signal as usize]).acquire_owned(),
        )
        .await
        .map_err(|_| backlogged())?
        .map_err(|_| IngestError::Internal("ingest writers closed".into()))?;
        let worker =
            tokio::time::timeout_at(deadline, Arc::clone(&self.inner.workers).acquire_owned())
                .await
                .map_err(|_| backlogged())?
                .map_err(|_| IngestError::Internal("ingest workers closed".into()))?;
        let inner = Arc::clone(&self.inner);
        // Logs of the blocking part carry the request's span (and so its request id).
        let span = tracing::Span::current();
        // The permits move into the blocking task: they are held until the work is done even
        // if the client goes away and this future is dropped.
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let _writer = writer;
            let decoded = {
                let _worker = worker;
                let inflated;
                let bytes: &[u8] = if gzip {
                    inflated = inflate(&body, limit)?;
                    admission.grow_to(inflated.len())?;
                    &inflated
                } else {
                    &body
                };
                inner.decode(signal, encoding, bytes)?
            };
            let _admission = admission;
            inner.write(decoded)
        })
        .await
        .map_err(|e| IngestError::Internal(format!("request processing failed: {e}")))?
    }
}

/// A request decoded and converted, ready to be written.
enum Decoded {
    Traces(Converted<SpanItem>),
    Logs(Converted<LogItem>),
    Metrics(Converted<MetricItem>),
}

/// Inflates a gzip body, refusing it as soon as it passes `limit` bytes (decompression bombs).
fn inflate(body: &[u8], limit: u64) -> Result<Vec<u8>, IngestError> {
    use std::io::Read;
    let mut inflated = Vec::with_capacity((body.len() * 4).min(limit as usize));
    flate2::read::MultiGzDecoder::new(body)
        .take(limit + 1)
        .read_to_end(&mut inflated)
        .map_err(|e| IngestError::Malformed(format!("invalid gzip body: {e}")))?;
    if inflated.len() as u64 > limit {
        return Err(IngestError::TooLarge { limit });
    }
    Ok(inflated)
}

fn decode<M>(encoding: Encoding, body: &[u8]) -> Result<M, IngestError>
where
    M: Message + Default + serde::de::DeserializeOwned,
{
    match encoding {
        Encoding::Protobuf => {
            M::decode(body).map_err(|e| IngestError::Malformed(format!("invalid protobuf: {e}")))
        }
        Encoding::Json => serde_json::from_slice(body)
            .map_err(|e| IngestError::Malformed(format!("invalid OTLP/JSON: {e}"))),
    }
}

impl Inner {
    fn decode(
        &self,
        signal: Signal,
        encoding: Encoding,
        body: &[u8],
    ) -> Result<Decoded, IngestError> {
        Ok(match signal {
            Signal::Traces => {
                let request: ExportTraceServiceRequest = decode(encoding, body)?;
                Decoded::Traces(convert_traces(request, &self.limits))
            }
            Signal::Logs => {
                let request: ExportLogsServiceRequest = decode(encoding, body)?;
                Decoded::Logs(convert_logs(
                    request,
                    &self.limits,
                    lookout_proto::now_unix_nano(),
                ))
            }
            Signal::Metrics => {
                let request: ExportMetricsServiceRequest = decode(encoding, body)?;
                Decoded::Metrics(convert_metrics(request, &self.limits))
            }
        })
    }

    fn write(&self, decoded: Decoded) -> Result<ExportOutcome, IngestError> {
        match decoded {
            Decoded::Traces(converted) => self.store(Signal::Traces, converted, |b| {
                self.writers
                    .spans
                    .write_spans(&b)
                    .map(|()| Rejections::default())
            }),
            Decoded::Logs(converted) => self.store(Signal::Logs, converted, |b| {
                self.writers
                    .logs
                    .write_logs(b)
                    .map(|()| Rejections::default())
            }),
            Decoded::Metrics(converted) => self.store(Signal::Metrics, converted, |b| {
                self.writers.metrics.write_metric_points(&b)
            }),
        }
    }

    fn store<T: crate::activity::ResourceItem + Timed>(
        &self,
        signal: Signal,
        mut converted: Converted<T>,
        write: impl FnOnce(Batch<T>) -> lookout_storage::Result<Rejections>,
    ) -> Result<ExportOutcome, IngestError> {
        let metrics = &self.metrics;
        let max_age = match signal {
            Signal::Traces => self.retention.traces,
            Signal::Logs => self.retention.logs,
            Signal::Metrics => self.retention.metrics,
        };
        converted.reject_outside(TimeWindow::around(
            lookout_proto::now_unix_nano(),
            max_age,
            self.config.future_grace_period,
        ));
        let accepted = converted.batch.items.len() as u64;
        metrics.truncated(signal, converted.truncated);
        // Storage takes the batch (logs keep their records for the indexer).
        let tally = self
            .writers
            .activity
            .as_ref()
            .map(|_| Tally::of(&converted.batch));
        let started = Instant::now();
        match write(std::mem::take(&mut converted.batch)) {
            Ok(stored) => {
                converted.rejections.merge(stored);
                if let (Some(activity), Some(tally)) = (&self.writers.activity, &tally) {
                    activity.record(signal, tally);
                }
            }
            Err(e) => {
                let error = IngestError::from_storage(e, self.config.retry_after);
                tracing::warn!(signal = signal.as_str(), error = %error, "storage write failed");
                for (reason, count) in converted.rejections.iter() {
                    metrics.rejected(signal, reason.as_str(), count);
                }
                metrics.items(signal, converted.received, 0);
                metrics.rejected(signal, error.reason(), accepted);
                return Err(error);
            }
        }
        for (reason, count) in converted.rejections.iter() {
            metrics.rejected(signal, reason.as_str(), count);
        }
        let rejected = converted.rejections.total();
        let message = converted
            .rejections
            .message(converted.received, signal.items());
        if let Some(message) = &message {
            tracing::debug!(
                signal = signal.as_str(),
                rejected,
                message,
                "items rejected"
            );
        }
        metrics.write_duration(signal, started.elapsed().as_secs_f64());
        metrics.items(
            signal,
            converted.received,
            converted.received.saturating_sub(rejected),
        );
        Ok(ExportOutcome { rejected, message })
    }
}

/// The `Export*ServiceResponse` for `outcome`, protobuf-encoded; `partial_success` is set only
/// when items were rejected.
pub fn response_protobuf(signal: Signal, outcome: &ExportOutcome) -> Vec<u8> {
    let partial = outcome.rejected > 0 || outcome.message.is_some();
    let rejected = outcome.rejected as i64;
    let error_message = outcome.message.clone().unwrap_or_default();
    match signal {
        Signal::Traces => ExportTraceServiceResponse {
            partial_success: partial.then_some(ExportTracePartialSuccess {
                rejected_spans: rejected,
                error_message,
            }),
        }
        .encode_to_vec(),
        Signal::Metrics => ExportMetricsServiceResponse {
            partial_success: partial.then_some(ExportMetricsPartialSuccess {
                rejected_data_points: rejected,
                error_message,
            }),
        }
        .encode_to_vec(),
        Signal::Logs => ExportLogsServiceResponse {
            partial_success: partial.then_some(ExportLogsPartialSuccess {
                rejected_log_records: rejected,
                error_message,
            }),
        }
        .encode_to_vec(),
    }
}

/// The same response in OTLP/JSON (64-bit counts as decimal strings, as proto3 JSON has them).
pub fn response_json(signal: Signal, outcome: &ExportOutcome) -> Vec<u8> {
    if outcome.rejected == 0 && outcome.message.is_none() {
        return b"{}".to_vec();
    }
    let field = match signal {
        Signal::Traces => "rejectedSpans",
        Signal::Metrics => "rejectedDataPoints",
        Signal::Logs => "rejectedLogRecords",
    };
    let mut partial = serde_json::Map::new();
    partial.insert(field.into(), outcome.rejected.to_string().into());
    if let Some(message) = &outcome.message {
        partial.insert("errorMessage".into(), message.clone().into());
    }
    serde_json::json!({ "partialSuccess": partial })
        .to_string()
        .into_bytes()
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::mpsc;
    use std::sync::Mutex;

    use axum::response::IntoResponse;
    use bytesize::ByteSize;
    use lookout_proto::model::{LogItem, MetricItem, SpanItem};
    use lookout_proto::otlp::trace::v1::Span;
    use lookout_storage::StorageError;
    use prometheus_client::registry::Registry;

    use super::*;

    /// A writer that holds every write of one signal until released (or fails them); the
    /// other signals' writes succeed at once.
    struct Gate {
        held: Signal,
        entered: Mutex<mpsc::Sender<()>>,
        release: Mutex<mpsc::Receiver<()>>,
        fail: bool,
        /// Writes of the held signal that reached the gate.
        writes: std::sync::atomic::AtomicUsize,
    }

    impl Gate {
        fn write(&self, signal: Signal) -> lookout_storage::Result<()> {
            if signal != self.held {
                return Ok(());
            }
            self.writes
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if self.fail {
                return Err(StorageError::Io(std::io::Error::other("disk on fire")));
            }
            let _ = self.entered.lock().unwrap().send(());
            self.release.lock().unwrap().recv().unwrap();
            Ok(())
        }
    }

    impl SpanWriter for Gate {
        fn write_spans(&self, _: &Batch<SpanItem>) -> lookout_storage::Result<()> {
            self.write(Signal::Traces)
        }
    }
    impl LogWriter for Gate {
        fn write_logs(&self, _: Batch<LogItem>) -> lookout_storage::Result<()> {
            self.write(Signal::Logs)
        }
    }
    impl MetricWriter for Gate {
        fn write_metric_points(
            &self,
            _: &Batch<MetricItem>,
        ) -> lookout_storage::Result<lookout_proto::convert::Rejections> {
            self.write(Signal::Metrics).map(|()| Default::default())
        }
    }

    pub(crate) fn body() -> Bytes {
        // Whole seconds, so that every body has the same length.
        let now = lookout_proto::now_unix_nano() / 1_000_000_000 * 1_000_000_000;
        let spans = (1..=10u8)
            .map(|i| Span {
                trace_id: vec![1; 16],
                span_id: vec![i; 8],
                name: "x".repeat(40),
                start_time_unix_nano: now,
                end_time_unix_nano: now + 1,
                ..Default::default()
            })
            .collect();
        Bytes::from(lookout_proto::requests::traces(None, spans).encode_to_vec())
    }

    /// An ingest with `config` whose writes of `held` wait at a gate until released (or fail),
    /// with the gate (to count writes), its "entered" receiver and its release sender.
    fn gated(
        held: Signal,
        fail: bool,
        config: OtlpConfig,
    ) -> (Ingest, Arc<Gate>, mpsc::Receiver<()>, mpsc::Sender<()>) {
        let (entered_tx, entered_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel();
        let gate = Arc::new(Gate {
            held,
            entered: Mutex::new(entered_tx),
            release: Mutex::new(release_rx),
            fail,
            writes: Default::default(),
        });
        let writers = Writers {
            spans: gate.clone(),
            logs: gate.clone(),
            metrics: gate.clone(),
            activity: None,
        };
        let metrics = IngestMetrics::new(&mut Registry::default());
        let ingest = Ingest::new(
            writers,
            Limits::default(),
            Retention::default(),
            config,
            metrics,
        );
        (ingest, gate, entered_rx, release_tx)
    }

    /// An ingest whose budget fits one [`body`], writing traces through a gate that holds each
    /// write until released (or fails it).
    pub(crate) fn ingest(fail: bool) -> (Ingest, mpsc::Receiver<()>, mpsc::Sender<()>) {
        let config = OtlpConfig {
            max_message_size: ByteSize::b(body().len() as u64 + 100),
            max_inflight_bytes: ByteSize::b(body().len() as u64 + 100),
            ..Default::default()
        };
        let (ingest, _, entered, release) = gated(Signal::Traces, fail, config);
        (ingest, entered, release)
    }

    /// Starts a traces export and returns once it is held at the gate.
    async fn export_held_at_the_gate(
        ingest: &Ingest,
        protocol: Protocol,
        entered: mpsc::Receiver<()>,
    ) -> tokio::task::JoinHandle<Result<ExportOutcome, IngestError>> {
        let ingest = ingest.clone();
        let export = tokio::spawn(async move {
            ingest
                .export(protocol, Signal::Traces, Encoding::Protobuf, body())
                .await
        });
        tokio::task::spawn_blocking(move || entered.recv().unwrap())
            .await
            .unwrap();
        export
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn overload_is_refused_with_a_retry_hint_not_queued() {
        let (ingest, entered, release) = ingest(false);
        let first = export_held_at_the_gate(&ingest, Protocol::Http, entered).await;

        let refused = ingest
            .export(Protocol::Grpc, Signal::Traces, Encoding::Protobuf, body())
            .await
            .unwrap_err();
        assert!(
            matches!(refused, IngestError::Overloaded { .. }),
            "{refused}"
        );
        assert_eq!(refused.grpc_code(), tonic::Code::Unavailable);
        assert_eq!(refused.http_status(), http::StatusCode::TOO_MANY_REQUESTS);
        let response = refused.into_response();
        assert_eq!(response.headers()["retry-after"], "1");

        release.send(()).unwrap();
        assert_eq!(first.await.unwrap().unwrap(), ExportOutcome::default());
        // The budget came back: the next export goes through.
        release.send(()).unwrap();
        ingest
            .export(Protocol::Grpc, Signal::Traces, Encoding::Protobuf, body())
            .await
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_waiting_past_max_queue_wait_is_refused_with_a_retry_hint_unwritten() {
        // One write at a time, and a short wait for it.
        let config = OtlpConfig {
            workers: 1,
            max_queue_wait: std::time::Duration::from_millis(300),
            ..Default::default()
        };
        let (ingest, gate, entered, release) = gated(Signal::Traces, false, config);
        let writes = || gate.writes.load(std::sync::atomic::Ordering::SeqCst);
        let first = export_held_at_the_gate(&ingest, Protocol::Grpc, entered).await;
        // Admitted (the byte budget has room) but its turn does not come within the wait.
        let second = ingest.export(Protocol::Grpc, Signal::Traces, Encoding::Protobuf, body());
        let refused = tokio::time::timeout(std::time::Duration::from_secs(30), second)
            .await
            .expect("the export waited for its turn without bound")
            .unwrap_err();
        assert!(
            matches!(refused, IngestError::Backlogged { .. }),
            "{refused}"
        );
        assert_eq!(refused.grpc_code(), tonic::Code::Unavailable);
        assert_eq!(refused.http_status(), http::StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            refused.retry_after(),
            Some(std::time::Duration::from_secs(1))
        );
        assert_eq!(
            refused.to_string(),
            "overloaded: waited 300ms for a turn to be written, retry later"
        );
        // Only the held write reached storage.
        assert_eq!(writes(), 1);
        release.send(()).unwrap();
        assert_eq!(first.await.unwrap().unwrap(), ExportOutcome::default());
        // With the writer free, the retry goes through.
        release.send(()).unwrap();
        ingest
            .export(Protocol::Grpc, Signal::Traces, Encoding::Protobuf, body())
            .await
            .unwrap();
        assert_eq!(writes(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slow_metric_writes_do_not_hold_up_traces_and_logs() {
        // Metric writes wait until released, as a write creating a million series would.
        let workers = 2;
        let config = OtlpConfig {
            workers,
            // The metric exports queued behind the held ones wait for the whole test.
            max_queue_wait: std::time::Duration::from_secs(600),
            ..Default::default()
        };
        let (ingest, _, entered, release) = gated(Signal::Metrics, false, config);
        // Twice as many metric exports as workers: every metric write permit is taken and more
        // metric batches wait behind them.
        let empty_metrics = Bytes::from(ExportMetricsServiceRequest::default().encode_to_vec());
        let pending: Vec<_> = (0..2 * workers)
            .map(|_| {
                let (ingest, body) = (ingest.clone(), empty_metrics.clone());
                tokio::spawn(async move {
                    ingest
                        .export(Protocol::Grpc, Signal::Metrics, Encoding::Protobuf, body)
                        .await
                })
            })
            .collect();
        tokio::task::spawn_blocking(move || {
            for _ in 0..workers {
                entered.recv().unwrap();
            }
        })
        .await
        .unwrap();
        // Traces and logs are decoded and written meanwhile (before the decode permit was given
        // back ahead of the write, they waited for the metric writes: an ingest outage).
        let wait = std::time::Duration::from_secs(60);
        let traces = ingest.export(Protocol::Http, Signal::Traces, Encoding::Protobuf, body());
        tokio::time::timeout(wait, traces)
            .await
            .expect("a trace export waited for metric writes")
            .unwrap();
        let logs = Bytes::from(ExportLogsServiceRequest::default().encode_to_vec());
        let logs = ingest.export(Protocol::Grpc, Signal::Logs, Encoding::Protobuf, logs);
        tokio::time::timeout(wait, logs)
            .await
            .expect("a log export waited for metric writes")
            .unwrap();
        assert!(
            pending.iter().all(|p| !p.is_finished()),
            "the metric writes were still held"
        );
        for _ in 0..2 * workers {
            release.send(()).unwrap();
        }
        for p in pending {
            assert_eq!(p.await.unwrap().unwrap(), ExportOutcome::default());
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn storage_failure_is_unavailable_with_a_retry_hint() {
        let (ingest, _entered, _release) = ingest(true);
        let error = ingest
            .export(Protocol::Http, Signal::Traces, Encoding::Protobuf, body())
            .await
            .unwrap_err();
        assert_eq!(error.http_status(), http::StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(error.grpc_code(), tonic::Code::Unavailable);
        assert_eq!(error.retry_after(), Some(std::time::Duration::from_secs(1)));
        let status = error.to_grpc_status();
        use tonic_types::StatusExt;
        assert_eq!(
            status.get_details_retry_info().and_then(|r| r.retry_delay),
            Some(std::time::Duration::from_secs(1))
        );
    }
}
