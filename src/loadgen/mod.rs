//! `lookout loadgen`: realistic OTLP traffic for any OTLP endpoint (Lookout, an OpenTelemetry
//! Collector, Jaeger, Tempo...), at a target rate or as fast as the endpoint takes it, with an
//! exact account of what was acknowledged.
//!
//! Payloads are generated once per run from the seed ([`traffic`]) and pre-encoded
//! ([`template`]); each send patches fresh ids and current times into a copy, so the generator
//! costs little more than a memcpy per request.

mod business;
mod template;
pub use template::Rng;
mod traffic;
pub use traffic::Profile;

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write as _};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use lookout_proto::otlp::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceResponse;
use lookout_proto::otlp::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use serde::Serialize;
use template::{splitmix, Markers, Template};

/// How payloads are sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    Grpc,
    HttpProtobuf,
    HttpJson,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoding {
    Protobuf,
    Json,
}

/// The signals to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Signal {
    Traces,
    Logs,
    Metrics,
}

impl Signal {
    fn http_path(self) -> &'static str {
        match self {
            Signal::Traces => "/v1/traces",
            Signal::Logs => "/v1/logs",
            Signal::Metrics => "/v1/metrics",
        }
    }

    fn grpc_path(self) -> &'static str {
        match self {
            Signal::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            Signal::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
            Signal::Metrics => "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
        }
    }

    fn items(self) -> &'static str {
        match self {
            Signal::Traces => "spans",
            Signal::Logs => "logs",
            Signal::Metrics => "points",
        }
    }
}

/// When to print the live progress line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Progress {
    /// On a terminal only.
    Auto,
    Always,
    Never,
}

/// `lookout loadgen` options.
#[derive(Clone, Debug, clap::Args)]
pub struct Options {
    /// Base URL of the receiver [default: http://127.0.0.1:4317 for grpc,
    /// http://127.0.0.1:4318 for http-*]. HTTP paths /v1/{traces,logs,metrics} are appended.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Transport and encoding.
    #[arg(long, value_enum, default_value = "grpc")]
    pub protocol: Transport,
    /// Compress requests with gzip.
    #[arg(long)]
    pub gzip: bool,
    /// Signals to send, comma-separated; each gets its share of the workers and the rate.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "traces")]
    pub signals: Vec<Signal>,
    /// Target items per second over all signals; 0 sends as fast as the endpoint answers.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// How long to send.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Stop each signal after this many items (whichever of this and --duration comes first).
    #[arg(long)]
    pub items: Option<u64>,
    /// Concurrent requests (workers), shared among the signals.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Items (spans, log records, data points) per request.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    /// Seed of the generated traffic: the same seed gives the same payloads.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Distinct pre-encoded payloads per signal (ids and times are fresh on every send).
    #[arg(long, default_value_t = 16)]
    pub payloads: usize,
    /// Metric series in all (cardinality), spread over every OTLP metric type.
    #[arg(long, default_value_t = 10_000)]
    pub series: u64,
    /// Timeout of one export request.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Extra request header, `name=value` (repeatable), for example for authentication:
    /// `--header "authorization=Bearer <token>"`.
    #[arg(long = "header", value_parser = parse_header)]
    pub headers: Vec<(String, String)>,
    /// The shape of spans and log records: `realistic` (as OpenTelemetry's HTTP, RPC and
    /// database instrumentations send them) or `light` (fewer attributes).
    #[arg(long, value_enum, default_value = "realistic")]
    pub profile: Profile,
    /// PEM certificates trusted, besides the system's roots, for an `https://` endpoint.
    #[arg(long)]
    pub ca_file: Option<std::path::PathBuf>,
    /// Exit 0 even when items were rejected or requests failed.
    #[arg(long)]
    pub allow_loss: bool,
    /// The live progress line on stderr.
    #[arg(long, value_enum, default_value = "auto")]
    pub progress: Progress,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Do not send the shop's business metrics (`shop.*`, once a second, with the metrics
    /// signal; counted among the metric data points).
    #[arg(long)]
    pub no_business: bool,
}

fn parse_header(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("header {text:?} must be name=value"))
}

impl Default for Options {
    fn default() -> Self {
        Options {
            endpoint: None,
            protocol: Transport::Grpc,
            gzip: false,
            signals: vec![Signal::Traces],
            rate: 0,
            duration: Duration::from_secs(10),
            items: None,
            concurrency: 4,
            batch: 500,
            seed: 1,
            payloads: 16,
            series: 10_000,
            timeout: Duration::from_secs(30),
            headers: Vec::new(),
            ca_file: None,
            profile: Profile::Realistic,
            allow_loss: false,
            progress: Progress::Auto,
            json: false,
            no_business: false,
        }
    }
}

/// What one signal's run achieved.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SignalSummary {
    pub signal: Option<Signal>,
    pub requests: u64,
    /// Items in requests that got an answer of any kind.
    pub sent: u64,
    /// Items acknowledged: in successful requests and not in `partial_success`.
    pub accepted: u64,
    /// Items a successful request reported in `partial_success`.
    pub rejected: u64,
    /// Items of requests that failed (error status, timeout, connection error).
    pub failed: u64,
    /// Failed requests by status (`grpc UNAVAILABLE`, `http 429`, `connection`...).
    pub failures: BTreeMap<String, u64>,
    pub bytes: u64,
    pub items_per_second: f64,
    /// Prometheus samples acknowledged per second (metrics: a histogram point is many samples).
    pub samples_per_second: f64,
    /// Prometheus samples acknowledged.
    pub accepted_samples: u64,
    pub megabytes_per_second: f64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub latency_max_ms: f64,
    /// Trace ids (hex) of some acknowledged traces with their span counts, for read-back checks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sampled_traces: Vec<(String, u64)>,
}

/// The whole run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    pub transport: Option<Transport>,
    pub seconds: f64,
    pub signals: Vec<SignalSummary>,
}

impl Summary {
    /// Items not acknowledged: rejected or in failed requests.
    pub fn lost(&self) -> u64 {
        self.signals.iter().map(|s| s.rejected + s.failed).sum()
    }

    pub fn print_human(&self) {
        println!(
            "loadgen: {:.1}s over {:?}",
            self.seconds,
            self.transport.unwrap_or(Transport::Grpc)
        );
        for s in &self.signals {
            let name = s.signal.map_or("?", Signal::items);
            println!(
                "  {name:<6} sent {} accepted {} rejected {} failed {} in {} requests",
                s.sent, s.accepted, s.rejected, s.failed, s.requests
            );
            println!(
                "         {:.0} {name}/s  {:.2} MB/s  latency p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
                s.items_per_second, s.megabytes_per_second, s.latency_p50_ms, s.latency_p99_ms, s.latency_max_ms
            );
            if s.signal == Some(Signal::Metrics) {
                println!("         {:.0} Prometheus samples/s", s.samples_per_second);
            }
            for (status, count) in &s.failures {
                println!("         failed requests: {status}: {count}");
            }
        }
    }
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    sent: AtomicU64,
    accepted: AtomicU64,
    accepted_samples: AtomicU64,
    rejected: AtomicU64,
    failed: AtomicU64,
    bytes: AtomicU64,
    sends: AtomicU64,
    claimed: AtomicU64,
    failures: Mutex<BTreeMap<String, u64>>,
    latencies_us: Mutex<Vec<u32>>,
    samples: Mutex<Vec<(String, u64)>>,
}

struct SignalRun {
    signal: Signal,
    templates: Vec<Template>,
    counters: Counters,
    /// The base time of the latest send, nanoseconds.
    last_base_ns: AtomicU64,
}

impl SignalRun {
    /// The base time of a send: now, except that metric sends of a run are at least 1 ms
    /// apart, since payloads share series and two values of a series in the same millisecond
    /// are a conflict Prometheus (and Lookout) rejects.
    fn base_ns(&self) -> u64 {
        let now = lookout_proto::now_unix_nano();
        if self.signal != Signal::Metrics {
            return now;
        }
        let step = 1_000_000;
        let previous = self
            .last_base_ns
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
                Some(now.max(last.saturating_add(step)))
            })
            .unwrap_or(now);
        now.max(previous.saturating_add(step))
    }
}

enum Client {
    Grpc(tonic::client::Grpc<tonic::transport::Channel>),
    Http(reqwest::Client),
}

/// A logs export of `items` records of `profile`'s traffic, for benches that write records
/// straight into a store: ids are random, and times are arbitrary (set them before writing).
pub fn log_records(rng: &mut Rng, items: usize, profile: Profile) -> ExportLogsServiceRequest {
    traffic::logs(&mut Markers::default(), rng, items, profile).0
}

/// Generates and encodes the payloads of one signal.
fn build_templates(signal: Signal, options: &Options) -> anyhow::Result<Vec<Template>> {
    let encoding = match options.protocol {
        Transport::HttpJson => Encoding::Json,
        _ => Encoding::Protobuf,
    };
    let mut rng = Rng::new(splitmix(options.seed ^ signal as u64));
    let count = match signal {
        // Enough payloads to cover every series once, so each series gets samples.
        Signal::Metrics => options
            .payloads
            .max(options.series.div_ceil(options.batch as u64) as usize)
            .min(4096),
        _ => options.payloads,
    };
    (0..count)
        .map(|n| {
            let mut markers = Markers::default();
            let (bytes, items, samples) = match signal {
                Signal::Traces => {
                    let (request, items) =
                        traffic::traces(&mut markers, &mut rng, options.batch, options.profile);
                    (encode(&request, encoding), items, items)
                }
                Signal::Logs => {
                    let (request, items) =
                        traffic::logs(&mut markers, &mut rng, options.batch, options.profile);
                    (encode(&request, encoding), items, items)
                }
                Signal::Metrics => {
                    let first = n as u64 * options.batch as u64;
                    let series = options.series.max(1);
                    let (request, items, samples) =
                        traffic::metrics(&mut markers, &mut rng, options.batch, first, series);
                    (encode(&request, encoding), items, samples)
                }
            };
            Ok(Template::new(bytes, items, samples, encoding, &markers)?)
        })
        .collect()
}

fn encode<M: Message + Serialize>(message: &M, encoding: Encoding) -> Vec<u8> {
    match encoding {
        Encoding::Protobuf => message.encode_to_vec(),
        // Serializing generated OTLP messages to a Vec cannot fail.
        Encoding::Json => serde_json::to_vec(message).unwrap_or_default(),
    }
}

async fn connect(options: &Options, endpoint: &str) -> anyhow::Result<Client> {
    Ok(match options.protocol {
        Transport::Grpc => {
            let mut channel = tonic::transport::Endpoint::from_shared(endpoint.to_string())
                .with_context(|| format!("bad endpoint {endpoint}"))?
                .timeout(options.timeout);
            if endpoint.starts_with("https://") {
                let mut tls = tonic::transport::ClientTlsConfig::new().with_native_roots();
                if let Some(path) = &options.ca_file {
                    let pem = std::fs::read(path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(pem));
                }
                channel = channel.tls_config(tls).context("TLS configuration")?;
            }
            let channel = channel.connect_lazy();
            let mut grpc = tonic::client::Grpc::new(channel)
                .max_decoding_message_size(usize::MAX)
                .max_encoding_message_size(usize::MAX);
            if options.gzip {
                grpc = grpc.send_compressed(tonic::codec::CompressionEncoding::Gzip);
            }
            Client::Grpc(grpc)
        }
        _ => {
            let mut builder = reqwest::Client::builder().timeout(options.timeout);
            if let Some(path) = &options.ca_file {
                let pem =
                    std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
                let certs = reqwest::Certificate::from_pem_bundle(&pem)
                    .with_context(|| format!("{}: not PEM certificates", path.display()))?;
                builder = builder.tls_certs_merge(certs);
            }
            Client::Http(builder.build().context("building the http client")?)
        }
    })
}

/// The number of rejected items in an export response body.
fn rejected_in(signal: Signal, encoding: Encoding, body: &[u8]) -> Result<u64, String> {
    if body.is_empty() {
        return Ok(0);
    }
    match encoding {
        Encoding::Protobuf => {
            let rejected = match signal {
                Signal::Traces => ExportTraceServiceResponse::decode(body)
                    .map(|r| r.partial_success.map_or(0, |p| p.rejected_spans)),
                Signal::Logs => ExportLogsServiceResponse::decode(body)
                    .map(|r| r.partial_success.map_or(0, |p| p.rejected_log_records)),
                Signal::Metrics => ExportMetricsServiceResponse::decode(body)
                    .map(|r| r.partial_success.map_or(0, |p| p.rejected_data_points)),
            };
            rejected.map(|n| n.max(0) as u64).map_err(|e| e.to_string())
        }
        Encoding::Json => {
            let value: serde_json::Value =
                serde_json::from_slice(body).map_err(|e| e.to_string())?;
            let field = match signal {
                Signal::Traces => "rejectedSpans",
                Signal::Logs => "rejectedLogRecords",
                Signal::Metrics => "rejectedDataPoints",
            };
            let n = &value["partialSuccess"][field];
            Ok(n.as_u64()
                .or_else(|| n.as_str().and_then(|s| s.parse().ok()))
                .unwrap_or(0))
        }
    }
}

enum Outcome {
    Answered {
        rejected: u64,
    },
    /// `retry_after` is set for retryable refusals (overload): the worker waits that long before
    /// its next request, as OTLP exporters do.
    Failed {
        status: String,
        retry_after: Option<Duration>,
    },
}

impl Outcome {
    fn failed(status: impl Into<String>) -> Outcome {
        Outcome::Failed {
            status: status.into(),
            retry_after: None,
        }
    }
}

/// The longest a worker honours a retry hint.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

async fn send(
    client: &mut Client,
    options: &Options,
    endpoint: &str,
    signal: Signal,
    body: Vec<u8>,
) -> Outcome {
    match client {
        Client::Grpc(grpc) => {
            if let Err(e) = grpc.ready().await {
                return Outcome::failed(format!("connection: {e}"));
            }
            let mut request = tonic::Request::new(Bytes::from(body));
            for (name, value) in &options.headers {
                if let (Ok(name), Ok(value)) = (
                    name.to_ascii_lowercase()
                        .parse::<tonic::metadata::MetadataKey<_>>(),
                    value.parse(),
                ) {
                    request.metadata_mut().insert(name, value);
                }
            }
            let path = http::uri::PathAndQuery::from_static(signal.grpc_path());
            match grpc
                .unary(request, path, lookout_collector::grpc::RawCodec)
                .await
            {
                Ok(response) => {
                    match rejected_in(signal, Encoding::Protobuf, &response.into_inner()) {
                        Ok(rejected) => Outcome::Answered { rejected },
                        Err(e) => Outcome::failed(format!("bad response: {e}")),
                    }
                }
                Err(status) => {
                    use tonic_types::StatusExt;
                    let retryable = matches!(
                        status.code(),
                        tonic::Code::Unavailable | tonic::Code::ResourceExhausted
                    );
                    let hint = status.get_details_retry_info().and_then(|r| r.retry_delay);
                    // Lookout refuses with a retry hint; an UNAVAILABLE without one is the
                    // client's transport failing (a reset or closed connection), after which
                    // the request may still have been stored.
                    let transport = status.code() == tonic::Code::Unavailable && hint.is_none();
                    Outcome::Failed {
                        status: if transport {
                            "grpc Unavailable (connection)".to_string()
                        } else {
                            format!("grpc {:?}", status.code())
                        },
                        retry_after: retryable.then(|| hint.unwrap_or(Duration::from_secs(1))),
                    }
                }
            }
        }
        Client::Http(http) => {
            let (content_type, encoding) = match options.protocol {
                Transport::HttpJson => ("application/json", Encoding::Json),
                _ => ("application/x-protobuf", Encoding::Protobuf),
            };
            let body = if options.gzip {
                let mut encoder = flate2::write::GzEncoder::new(
                    Vec::with_capacity(body.len() / 4),
                    flate2::Compression::fast(),
                );
                if encoder.write_all(&body).is_err() {
                    return Outcome::failed("gzip");
                }
                match encoder.finish() {
                    Ok(compressed) => compressed,
                    Err(_) => return Outcome::failed("gzip"),
                }
            } else {
                body
            };
            let mut request = http
                .post(format!(
                    "{}{}",
                    endpoint.trim_end_matches('/'),
                    signal.http_path()
                ))
                .header("content-type", content_type)
                .body(body);
            if options.gzip {
                request = request.header("content-encoding", "gzip");
            }
            for (name, value) in &options.headers {
                request = request.header(name, value);
            }
            match request.send().await {
                Ok(response) if response.status().is_success() => match response.bytes().await {
                    Ok(body) => match rejected_in(signal, encoding, &body) {
                        Ok(rejected) => Outcome::Answered { rejected },
                        Err(e) => Outcome::failed(format!("bad response: {e}")),
                    },
                    Err(_) => Outcome::failed("connection"),
                },
                Ok(response) => {
                    let code = response.status().as_u16();
                    let hint = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    Outcome::Failed {
                        status: format!("http {code}"),
                        retry_after: matches!(code, 429 | 503)
                            .then(|| hint.unwrap_or(Duration::from_secs(1))),
                    }
                }
                Err(e) if e.is_timeout() => Outcome::failed("timeout"),
                Err(_) => Outcome::failed("connection"),
            }
        }
    }
}

async fn worker(
    run: Arc<SignalRun>,
    options: Arc<Options>,
    endpoint: String,
    deadline: Instant,
    interval: Option<Duration>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let mut client = connect(&options, &endpoint).await?;
    let mut ticker = interval.map(|every| {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker
    });
    let c = &run.counters;
    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        if let Some(ticker) = ticker.as_mut() {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = tokio::time::sleep_until(deadline.into()) => break,
            }
        }
        let n = c.sends.fetch_add(1, Ordering::Relaxed);
        let template = &run.templates[(n % run.templates.len() as u64) as usize];
        if let Some(limit) = options.items {
            if c.claimed.fetch_add(template.items, Ordering::Relaxed) >= limit {
                break;
            }
        }
        // The body is handed to the client, so each send renders into a buffer of its own.
        let mut body = Vec::with_capacity(template.bytes.len());
        let mask = splitmix(options.seed.wrapping_mul(31) ^ n ^ ((run.signal as u64) << 56));
        template.render(mask, run.base_ns(), &mut body);
        // Sampled trace ids are read back by the benchmark: only trace payloads have spans.
        let sample = (run.signal == Signal::Traces && n.is_multiple_of(64))
            .then(|| template.sample_trace(&body))
            .flatten();
        let bytes = body.len() as u64;
        let started = Instant::now();
        let outcome = send(&mut client, &options, &endpoint, run.signal, body).await;
        let micros = started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
        c.requests.fetch_add(1, Ordering::Relaxed);
        c.sent.fetch_add(template.items, Ordering::Relaxed);
        c.bytes.fetch_add(bytes, Ordering::Relaxed);
        if let Ok(mut latencies) = c.latencies_us.lock() {
            latencies.push(micros);
        }
        match outcome {
            Outcome::Answered { rejected } => {
                let accepted = template.items.saturating_sub(rejected);
                c.accepted.fetch_add(accepted, Ordering::Relaxed);
                // Rejections are not expected here: scale the samples by the accepted items.
                let samples = template.samples * accepted / template.items.max(1);
                c.accepted_samples.fetch_add(samples, Ordering::Relaxed);
                c.rejected
                    .fetch_add(rejected.min(template.items), Ordering::Relaxed);
                if let (Some(sample), Ok(mut samples)) = (sample, c.samples.lock()) {
                    if rejected == 0 && samples.len() < 100 {
                        samples.push(sample);
                    }
                }
            }
            Outcome::Failed {
                status,
                retry_after,
            } => {
                c.failed.fetch_add(template.items, Ordering::Relaxed);
                if let Ok(mut failures) = c.failures.lock() {
                    *failures.entry(status).or_default() += 1;
                }
                if let Some(delay) = retry_after {
                    let until = (Instant::now() + delay.min(MAX_BACKOFF)).min(deadline);
                    tokio::time::sleep_until(until.into()).await;
                }
            }
        }
    }
    Ok(())
}

/// Sends the shop's business metrics once a second until the deadline, counted in `run`.
async fn business(
    run: Arc<SignalRun>,
    options: Arc<Options>,
    endpoint: String,
    deadline: Instant,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let mut client = connect(&options, &endpoint).await?;
    let mut shop = business::Shop::new(options.seed, lookout_proto::now_unix_nano());
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let encoding = match options.protocol {
        Transport::HttpJson => Encoding::Json,
        _ => Encoding::Protobuf,
    };
    let c = &run.counters;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = tokio::time::sleep_until(deadline.into()) => break,
        }
        if stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
            break;
        }
        shop.tick();
        let (request, points) = shop.export(lookout_proto::now_unix_nano());
        let body = encode(&request, encoding);
        c.requests.fetch_add(1, Ordering::Relaxed);
        c.sent.fetch_add(points, Ordering::Relaxed);
        c.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
        match send(&mut client, &options, &endpoint, Signal::Metrics, body).await {
            Outcome::Answered { rejected } => {
                let accepted = points.saturating_sub(rejected);
                c.accepted.fetch_add(accepted, Ordering::Relaxed);
                c.accepted_samples.fetch_add(accepted, Ordering::Relaxed);
                c.rejected
                    .fetch_add(rejected.min(points), Ordering::Relaxed);
            }
            Outcome::Failed { status, .. } => {
                c.failed.fetch_add(points, Ordering::Relaxed);
                if let Ok(mut failures) = c.failures.lock() {
                    *failures.entry(status).or_default() += 1;
                }
            }
        }
    }
    Ok(())
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    f64::from(sorted[rank - 1]) / 1000.0
}

fn summarize(run: &SignalRun, seconds: f64) -> SignalSummary {
    let c = &run.counters;
    let mut latencies = c.latencies_us.lock().map(|l| l.clone()).unwrap_or_default();
    latencies.sort_unstable();
    let accepted = c.accepted.load(Ordering::Relaxed);
    let bytes = c.bytes.load(Ordering::Relaxed);
    SignalSummary {
        signal: Some(run.signal),
        requests: c.requests.load(Ordering::Relaxed),
        sent: c.sent.load(Ordering::Relaxed),
        accepted,
        rejected: c.rejected.load(Ordering::Relaxed),
        failed: c.failed.load(Ordering::Relaxed),
        failures: c.failures.lock().map(|f| f.clone()).unwrap_or_default(),
        bytes,
        items_per_second: accepted as f64 / seconds.max(1e-9),
        samples_per_second: c.accepted_samples.load(Ordering::Relaxed) as f64 / seconds.max(1e-9),
        accepted_samples: c.accepted_samples.load(Ordering::Relaxed),
        megabytes_per_second: bytes as f64 / 1e6 / seconds.max(1e-9),
        latency_p50_ms: percentile(&latencies, 0.50),
        latency_p99_ms: percentile(&latencies, 0.99),
        latency_max_ms: latencies.last().map_or(0.0, |&m| f64::from(m) / 1000.0),
        sampled_traces: c.samples.lock().map(|s| s.clone()).unwrap_or_default(),
    }
}

/// Runs the load and returns what it achieved.
pub async fn run(options: Options) -> anyhow::Result<Summary> {
    anyhow::ensure!(options.batch > 0, "--batch must be at least 1");
    anyhow::ensure!(options.concurrency > 0, "--concurrency must be at least 1");
    anyhow::ensure!(options.payloads > 0, "--payloads must be at least 1");
    let mut signals = options.signals.clone();
    signals.sort_unstable();
    signals.dedup();
    anyhow::ensure!(
        !signals.is_empty(),
        "--signals must name at least one signal"
    );
    let endpoint = options
        .endpoint
        .clone()
        .unwrap_or_else(|| match options.protocol {
            Transport::Grpc => "http://127.0.0.1:4317".into(),
            _ => "http://127.0.0.1:4318".into(),
        });

    let runs: Vec<Arc<SignalRun>> = {
        let options = options.clone();
        let signals = signals.clone();
        tokio::task::spawn_blocking(move || {
            signals
                .into_iter()
                .map(|signal| {
                    Ok(Arc::new(SignalRun {
                        signal,
                        templates: build_templates(signal, &options)?,
                        counters: Counters::default(),
                        last_base_ns: AtomicU64::new(0),
                    }))
                })
                .collect::<anyhow::Result<_>>()
        })
        .await??
    };

    let workers = options.concurrency.max(runs.len());
    // Each worker sends one request every `interval`, so all of them together make the rate.
    let interval = (options.rate > 0).then(|| {
        let requests_per_second = options.rate as f64 / options.batch as f64;
        Duration::from_secs_f64(workers as f64 / requests_per_second)
    });
    let options = Arc::new(options);
    let started = Instant::now();
    let deadline = started + options.duration;
    let stop = Arc::new(AtomicBool::new(false));

    let progress = match options.progress {
        Progress::Always => true,
        Progress::Never => false,
        Progress::Auto => std::io::stderr().is_terminal(),
    };
    let reporter = progress.then(|| {
        let runs = runs.clone();
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            loop {
                tick.tick().await;
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let seconds = started.elapsed().as_secs_f64();
                let mut line = format!("\r{seconds:>5.0}s");
                for run in &runs {
                    let s = summarize(run, seconds);
                    line.push_str(&format!(
                        "  {} {:.0}/s acc {} rej {} err {} p99 {:.1}ms",
                        run.signal.items(),
                        s.items_per_second,
                        s.accepted,
                        s.rejected,
                        s.failed,
                        s.latency_p99_ms
                    ));
                }
                eprint!("{line}   ");
            }
        })
    });

    let mut tasks = Vec::new();
    for w in 0..workers {
        let run = Arc::clone(&runs[w % runs.len()]);
        tasks.push(tokio::spawn(worker(
            run,
            Arc::clone(&options),
            endpoint.clone(),
            deadline,
            interval,
            Arc::clone(&stop),
        )));
    }
    if !options.no_business {
        if let Some(run) = runs.iter().find(|r| r.signal == Signal::Metrics) {
            tasks.push(tokio::spawn(business(
                Arc::clone(run),
                Arc::clone(&options),
                endpoint.clone(),
                deadline,
                Arc::clone(&stop),
            )));
        }
    }
    let mut first_error = None;
    for task in tasks {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(e) => {
                first_error.get_or_insert(anyhow::anyhow!("worker failed: {e}"));
            }
        }
    }
    // The run ends when the workers do, not when the progress line next ticks.
    let seconds = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    if let Some(reporter) = reporter {
        reporter.abort();
        let _ = reporter.await;
        eprintln!();
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    Ok(Summary {
        transport: Some(options.protocol),
        seconds,
        signals: runs.iter().map(|run| summarize(run, seconds)).collect(),
    })
}
