//! Lookout's own ingest metrics, registered in the process-wide Prometheus registry.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::{Protocol, Signal};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SignalLabels {
    signal: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RejectLabels {
    signal: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    protocol: &'static str,
    signal: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    protocol: &'static str,
    signal: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 100 µs to ~13 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

/// Counters and histograms of the OTLP receivers. Cheap to clone (shared inside).
#[derive(Clone, Debug)]
pub struct IngestMetrics {
    received: Family<SignalLabels, Counter>,
    accepted: Family<SignalLabels, Counter>,
    rejected: Family<RejectLabels, Counter>,
    truncated: Family<SignalLabels, Counter>,
    requests: Family<RequestLabels, Counter>,
    request_duration: HistogramFamily<LatencyLabels>,
    write_duration: HistogramFamily<SignalLabels>,
    inflight_bytes: Gauge,
}

impl IngestMetrics {
    pub fn new(registry: &mut Registry) -> Self {
        let m = IngestMetrics {
            received: Family::default(),
            accepted: Family::default(),
            rejected: Family::default(),
            truncated: Family::default(),
            requests: Family::default(),
            request_duration: Family::new_with_constructor(latency_histogram),
            write_duration: Family::new_with_constructor(latency_histogram),
            inflight_bytes: Gauge::default(),
        };
        registry.register(
            "lookout_ingest_received_items",
            "Items (spans, log records, data points) in decoded export requests",
            m.received.clone(),
        );
        registry.register(
            "lookout_ingest_accepted_items",
            "Items stored durably and acknowledged",
            m.accepted.clone(),
        );
        registry.register(
            "lookout_ingest_rejected_items",
            "Items refused, by reason (invalid items, or whole requests that failed to be stored)",
            m.rejected.clone(),
        );
        registry.register(
            "lookout_ingest_truncated_values",
            "Attribute values and log bodies cut to the configured limits",
            m.truncated.clone(),
        );
        registry.register(
            "lookout_ingest_requests",
            "Export requests by protocol, signal and outcome (ok, partial, or the error reason)",
            m.requests.clone(),
        );
        registry.register(
            "lookout_ingest_request_duration_seconds",
            "Time to answer an export request, from body received to response",
            m.request_duration.clone(),
        );
        registry.register(
            "lookout_storage_write_duration_seconds",
            "Time of one storage write batch",
            m.write_duration.clone(),
        );
        registry.register(
            "lookout_ingest_inflight_bytes",
            "Bytes of export requests being decoded and written now",
            m.inflight_bytes.clone(),
        );
        m
    }

    pub(crate) fn items(&self, signal: Signal, received: u64, accepted: u64) {
        let labels = SignalLabels {
            signal: signal.as_str(),
        };
        self.received.get_or_create(&labels).inc_by(received);
        self.accepted.get_or_create(&labels).inc_by(accepted);
    }

    pub(crate) fn rejected(&self, signal: Signal, reason: &'static str, count: u64) {
        if count > 0 {
            self.rejected
                .get_or_create(&RejectLabels {
                    signal: signal.as_str(),
                    reason,
                })
                .inc_by(count);
        }
    }

    pub(crate) fn truncated(&self, signal: Signal, count: u64) {
        if count > 0 {
            self.truncated
                .get_or_create(&SignalLabels {
                    signal: signal.as_str(),
                })
                .inc_by(count);
        }
    }

    pub(crate) fn request(
        &self,
        protocol: Protocol,
        signal: Signal,
        outcome: &'static str,
        seconds: f64,
    ) {
        self.requests
            .get_or_create(&RequestLabels {
                protocol: protocol.as_str(),
                signal: signal.as_str(),
                outcome,
            })
            .inc();
        self.request_duration
            .get_or_create(&LatencyLabels {
                protocol: protocol.as_str(),
                signal: signal.as_str(),
            })
            .observe(seconds);
    }

    /// A request refused before it was processed: counted, not timed.
    pub(crate) fn refused(&self, protocol: Protocol, signal: Signal, outcome: &'static str) {
        self.requests
            .get_or_create(&RequestLabels {
                protocol: protocol.as_str(),
                signal: signal.as_str(),
                outcome,
            })
            .inc();
    }

    pub(crate) fn write_duration(&self, signal: Signal, seconds: f64) {
        self.write_duration
            .get_or_create(&SignalLabels {
                signal: signal.as_str(),
            })
            .observe(seconds);
    }

    pub(crate) fn inflight_bytes(&self) -> &Gauge {
        &self.inflight_bytes
    }
}
