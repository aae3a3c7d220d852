use std::net::SocketAddr;
use std::time::Duration;

use bytesize::ByteSize;

/// The OTLP receivers.
#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpConfig {
    /// OTLP/gRPC listen address.
    pub grpc_addr: SocketAddr,
    /// OTLP/HTTP listen address.
    pub http_addr: SocketAddr,
    /// Largest export request accepted, measured after decompression. Larger ones are answered
    /// RESOURCE_EXHAUSTED / 413 and are not retried by clients.
    pub max_message_size: ByteSize,
    /// Bytes of export requests being decoded and written at once (each request counts at least
    /// 64 KiB). A request that would pass it is refused at once with UNAVAILABLE / 429 and a
    /// retry hint, so memory and queued work stay bounded however many clients send.
    pub max_inflight_bytes: ByteSize,
    /// Requests decoded, converted and written at the same time; 0 means one per CPU core.
    /// Admitted requests beyond it wait as raw bytes (decoded, a request takes several times
    /// its encoded size), so memory follows `max_inflight_bytes` rather than the client count.
    pub workers: usize,
    /// How long an admitted request may wait for its turn to be decoded and written (behind
    /// other writes of its signal). Past it the request is refused with UNAVAILABLE / 429 and
    /// a retry hint, nothing of it written: under sustained overload a client learns to back
    /// off within this time instead of waiting past its own timeout (the Collector's exporter
    /// gives up after 5 s) and sending the same batch again.
    #[serde(with = "humantime_serde")]
    pub max_queue_wait: Duration,
    /// The retry hint given with every retryable refusal.
    #[serde(with = "humantime_serde")]
    pub retry_after: Duration,
    /// Items dated more than this ahead of the server's clock are rejected (`partial_success`,
    /// reason `too_far_in_future`), as Loki's `creation_grace_period`: one such item would open
    /// a log-index day or move a series' head years ahead. Items older than their signal's
    /// retention are rejected too (`too_old`).
    #[serde(with = "humantime_serde")]
    pub future_grace_period: Duration,
    /// TLS of both OTLP listeners (off when unset).
    pub tls: Option<crate::tls::TlsConfig>,
    /// Connections open at once on each OTLP listener; more wait to be accepted.
    pub max_connections: usize,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 4317)),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 4318)),
            max_message_size: ByteSize::mib(64),
            max_inflight_bytes: ByteSize::mib(128),
            workers: 0,
            max_queue_wait: Duration::from_secs(2),
            retry_after: Duration::from_secs(1),
            future_grace_period: Duration::from_secs(3600),
            tls: None,
            max_connections: 1024,
        }
    }
}

impl OtlpConfig {
    /// [`OtlpConfig::workers`], with 0 resolved to the number of CPU cores.
    pub fn effective_workers(&self) -> usize {
        match self.workers {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        }
    }

    /// Every problem, each with its path below `prefix`.
    pub fn validate(&self, prefix: &str, problems: &mut Vec<String>) {
        if self.max_message_size.as_u64() == 0 {
            problems.push(format!("{prefix}.max_message_size: must be greater than 0"));
        }
        if self.max_message_size.as_u64() > u32::MAX as u64 {
            problems.push(format!(
                "{prefix}.max_message_size: must be at most 4GiB (gRPC frames carry a 32-bit length)"
            ));
        }
        if self.max_inflight_bytes < self.max_message_size {
            problems.push(format!(
                "{prefix}.max_inflight_bytes: must be at least max_message_size ({}), or the largest request could never be accepted",
                self.max_message_size
            ));
        }
        if self.max_inflight_bytes.as_u64() > u32::MAX as u64 {
            problems.push(format!("{prefix}.max_inflight_bytes: must be at most 4GiB"));
        }
        if self.max_queue_wait.is_zero() {
            problems.push(format!("{prefix}.max_queue_wait: must be greater than 0"));
        }
        if let Some(tls) = &self.tls {
            tls.validate(&format!("{prefix}.tls"), problems);
        }
        if self.max_connections == 0 {
            problems.push(format!("{prefix}.max_connections: must be greater than 0"));
        }
        if self.grpc_addr == self.http_addr && self.grpc_addr.port() != 0 {
            problems.push(format!(
                "{prefix}.http_addr: must differ from {prefix}.grpc_addr ({})",
                self.grpc_addr
            ));
        }
    }
}
