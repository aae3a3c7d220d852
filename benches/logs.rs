//! Log benchmark: at least a million records written straight into a data directory, indexed
//! by the log indexer (records/s, MB/s, CPU per million, bytes on disk per record), then a
//! release `lookout serve` on it, searched over HTTP: a rare term, a common term (limit 100), a
//! phrase, a trace id, a severity filter, volume, and Loki queries; p50/p99 each.
//!
//!   cargo bench --bench logs                      # 1 000 000 records
//!   LOOKOUT_BENCH_RECORDS=200000 cargo bench --bench logs
//!   LOOKOUT_BENCH_PROFILE=realistic cargo bench --bench logs   # `lookout loadgen`'s records
//!   LOOKOUT_BENCH_INDEX_ONLY=1 cargo bench --bench logs        # stop after indexing
//!
//! The default records are sentences of common words with a user and a request id. The
//! realistic ones are the load generator's (a logging bridge's eight attributes, resources
//! of five). Both get the rare word on 1 in 10 000 records, so every search has its answer.

use std::path::Path;
use std::time::{Duration, Instant};

use lookout::loadgen::{Profile, Rng};
use lookout::process::ServerProcess;
use lookout::query_bench::{bench_dir, env_count, measure};
use lookout_proto::convert::{convert_logs, Limits};
use lookout_proto::otlp::collector::logs::v1::ExportLogsServiceRequest;
use lookout_proto::otlp::common::v1::{any_value::Value, AnyValue};
use lookout_proto::otlp::logs::v1::LogRecord;
use lookout_proto::requests::{self, string_kv};
use lookout_storage::{LogIndex, LogIndexConfig, LogWriter, StorageConfig, Store};

const SERVICES: [&str; 6] = [
    "frontend", "checkout", "cart", "payment", "shipping", "email",
];
const WORDS: [&str; 24] = [
    "request",
    "handled",
    "user",
    "order",
    "cache",
    "miss",
    "hit",
    "database",
    "query",
    "slow",
    "retry",
    "connection",
    "timeout",
    "session",
    "started",
    "completed",
    "payment",
    "card",
    "shipping",
    "label",
    "email",
    "sent",
    "queue",
    "worker",
];

fn cpu_seconds() -> f64 {
    // utime + stime of this process, from /proc (Linux).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: f64 = fields.get(11..13).map_or(0.0, |f| {
        f.iter().filter_map(|v| v.parse::<f64>().ok()).sum()
    });
    ticks / 100.0
}

/// Writes `n` records over the hour before `end`, 1 000 per write, 1 in 10 000 with a rare
/// word: the load generator's realistic records, or else sentences of common words with a
/// user id and a request id on each and a trace id on half. Returns trace ids to search for
/// and the bytes of the bodies.
fn generate(
    store: &Store,
    n: usize,
    end: u64,
    realistic: bool,
) -> anyhow::Result<(Vec<String>, u64)> {
    let mut rng = Rng::new(7);
    let mut traces = Vec::new();
    let mut bytes = 0u64;
    let mut written = 0;
    while written < n {
        let batch_size = 1000.min(n - written);
        let requests = if realistic {
            vec![realistic_batch(
                &mut rng,
                batch_size,
                end,
                &mut traces,
                &mut bytes,
            )]
        } else {
            sentence_batch(&mut rng, batch_size, end, &mut traces, &mut bytes)
        };
        for request in requests {
            store.write_logs(convert_logs(request, &Limits::default(), end).batch)?;
        }
        written += batch_size;
    }
    Ok((traces, bytes))
}

/// `size` of the load generator's realistic records.
fn realistic_batch(
    rng: &mut Rng,
    size: usize,
    end: u64,
    traces: &mut Vec<String>,
    bytes: &mut u64,
) -> ExportLogsServiceRequest {
    let mut request = lookout::loadgen::log_records(rng, size, Profile::Realistic);
    for record in request
        .resource_logs
        .iter_mut()
        .flat_map(|r| &mut r.scope_logs)
        .flat_map(|s| &mut s.log_records)
    {
        record.time_unix_nano = end - 3_600_000_000_000 + rng.below(3_600_000_000_000);
        record.observed_time_unix_nano = record.time_unix_nano;
        if let Some(AnyValue {
            value: Some(Value::StringValue(body)),
        }) = &mut record.body
        {
            if rng.chance(0.0001) {
                body.push_str(" zanzibar");
            }
            *bytes += body.len() as u64;
        }
        if traces.len() < 10_000 && !record.trace_id.is_empty() && rng.chance(0.1) {
            traces.push(const_hex::encode(&record.trace_id));
        }
    }
    request
}

/// `size` records of sentences, one request per service.
fn sentence_batch(
    rng: &mut Rng,
    size: usize,
    end: u64,
    traces: &mut Vec<String>,
    bytes: &mut u64,
) -> Vec<ExportLogsServiceRequest> {
    let mut by_service: Vec<Vec<LogRecord>> = vec![Vec::new(); SERVICES.len()];
    for _ in 0..size {
        let mut body = String::new();
        for i in 0..(6 + rng.below(10)) {
            if i > 0 {
                body.push(' ');
            }
            body.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
        }
        if rng.chance(0.0001) {
            body.push_str(" zanzibar");
        }
        let request = format!("req-{:016x}", rng.next_u64());
        body.push_str(&format!(" id={request}"));
        let severity = match rng.below(100) {
            0..=2 => 17,
            3..=9 => 13,
            10..=29 => 5,
            _ => 9,
        };
        let trace: Vec<u8> = if rng.chance(0.5) {
            let mut t = [0u8; 16];
            t[..8].copy_from_slice(&rng.next_u64().to_be_bytes());
            t[8..].copy_from_slice(&rng.next_u64().to_be_bytes());
            if traces.len() < 10_000 {
                traces.push(const_hex::encode(t));
            }
            t.to_vec()
        } else {
            Vec::new()
        };
        *bytes += body.len() as u64;
        let service = rng.below(SERVICES.len() as u64) as usize;
        by_service[service].push(LogRecord {
            time_unix_nano: end - 3_600_000_000_000 + rng.below(3_600_000_000_000),
            severity_number: severity,
            severity_text: match severity {
                17 => "ERROR",
                13 => "WARN",
                5 => "DEBUG",
                _ => "INFO",
            }
            .into(),
            body: Some(AnyValue {
                value: Some(Value::StringValue(body)),
            }),
            attributes: vec![
                string_kv("user.id", &format!("u-{}", rng.below(50_000))),
                string_kv("request.id", &request),
            ],
            span_id: if trace.is_empty() {
                Vec::new()
            } else {
                rng.next_u64().to_be_bytes().to_vec()
            },
            trace_id: trace,
            ..Default::default()
        });
    }
    by_service
        .into_iter()
        .enumerate()
        .filter(|(_, records)| !records.is_empty())
        .map(|(i, records)| requests::logs(Some(SERVICES[i]), records))
        .collect()
}

/// How many records (or series) the first answer held.
fn hits(v: &serde_json::Value) -> String {
    v["logs"]
        .as_array()
        .or_else(|| v["data"]["result"].as_array())
        .map_or(0, Vec::len)
        .to_string()
}

fn main() -> anyhow::Result<()> {
    let n = env_count("LOOKOUT_BENCH_RECORDS", 1_000_000);
    let dir = bench_dir()?;
    let end = lookout_proto::now_unix_nano() - 60_000_000_000;
    println!(
        "generating {n} log records over 1 h in {}",
        dir.path().display()
    );
    let store = Store::open(dir.path(), &StorageConfig::default())?;
    let realistic = std::env::var("LOOKOUT_BENCH_PROFILE").is_ok_and(|p| p == "realistic");
    let (traces, body_bytes) = generate(&store, n, end, realistic)?;
    // The writes' flushes and compactions done first: the figures below are the indexer's.
    store.flush()?;
    store.compact_all()?;
    let config = LogIndexConfig::default();
    let index = LogIndex::open(&dir.path().join(lookout_storage::LOG_INDEX_DIR), &config)?;
    let (cpu, started) = (cpu_seconds(), Instant::now());
    let indexed = lookout_storage::log_index::index_pending(&store, &index, false, 20_000)?;
    let (seconds, cpu) = (started.elapsed().as_secs_f64(), cpu_seconds() - cpu);
    store.flush()?;
    store.compact_all()?;
    drop(index);
    let disk = store.disk_usage_bytes();
    let index_disk =
        lookout_storage::disk_usage_bytes(&dir.path().join(lookout_storage::LOG_INDEX_DIR));
    drop(store);
    println!(
        "indexed {indexed} records in {seconds:.1} s (one indexer, {} writer threads): {:.0} records/s, {:.1} MB/s of bodies, {:.1} CPU s per million; {:.0} B/record on disk ({:.0} B/record of it the index)",
        config.writer_threads,
        indexed as f64 / seconds,
        body_bytes as f64 / seconds / 1e6,
        cpu * 1e6 / indexed as f64,
        disk as f64 / indexed as f64,
        index_disk as f64 / indexed as f64
    );
    if std::env::var_os("LOOKOUT_BENCH_INDEX_ONLY").is_some() {
        return Ok(());
    }

    let server = ServerProcess::spawn(
        Path::new(env!("CARGO_BIN_EXE_lookout")),
        dir.path(),
        &[
            ("LOOKOUT_HEALTH__MIN_FREE_DISK", "1MiB"),
            ("LOOKOUT_LOG__LEVEL", "warn,lookout=info"),
        ],
    )?;
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let window = "since=2h";
    let loki = |q: &str| -> String { form_urlencoded::byte_serialize(q.as_bytes()).collect() };
    let mut rows = Vec::new();
    rows.push(measure(
        &server,
        &client,
        "rare term (1 in 10 000), limit 100",
        200,
        |_| format!("/lookout/v1/logs?{window}&query=zanzibar&limit=100"),
        hits,
    )?);
    rows.push(measure(
        &server,
        &client,
        "common term, limit 100",
        200,
        |i| {
            format!(
                "/lookout/v1/logs?{window}&query={}&limit=100",
                WORDS[i % WORDS.len()]
            )
        },
        hits,
    )?);
    rows.push(measure(
        &server,
        &client,
        "phrase, limit 100",
        200,
        |i| {
            format!(
                "/lookout/v1/logs?{window}&query=%22{}%20{}%22&limit=100",
                WORDS[i % 24],
                WORDS[(i * 7 + 3) % 24]
            )
        },
        hits,
    )?);
    rows.push(measure(
        &server,
        &client,
        "trace id",
        200,
        |i| {
            format!(
                "/lookout/v1/logs?{window}&trace_id={}",
                traces[(i * 31) % traces.len()]
            )
        },
        hits,
    )?);
    rows.push(measure(
        &server,
        &client,
        "attribute (user.id), limit 100",
        200,
        |i| {
            format!(
                "/lookout/v1/logs?{window}&query=attributes.user.id:u-{}",
                i * 13
            )
        },
        hits,
    )?);
    rows.push(measure(
        &server,
        &client,
        "errors of a service, limit 100",
        200,
        |i| {
            format!(
                "/lookout/v1/logs?{window}&service={}&min_severity=error&limit=100",
                SERVICES[i % 6]
            )
        },
        hits,
    )?);
    rows.push(measure(
        &server,
        &client,
        "volume by level, 60 buckets, all records",
        20,
        |_| format!("/lookout/v1/logs/volume?{window}&by=severity"),
        hits,
    )?);
    rows.push(measure(
        &server,
        &client,
        "Loki: {service_name=\"payment\"} |= \"timeout\", limit 100",
        50,
        |_| {
            format!(
                "/loki/api/v1/query_range?{window}&limit=100&query={}",
                loki(r#"{service_name="payment"} |= "timeout""#)
            )
        },
        hits,
    )?);
    rows.push(measure(
        &server,
        &client,
        "Loki: sum by (level) (count_over_time(...[5m])), 1 h",
        5,
        |_| {
            format!(
                "/loki/api/v1/query_range?since=1h&step=60&query={}",
                loki(r#"sum by (level) (count_over_time({service_name="cart"}[5m]))"#)
            )
        },
        hits,
    )?);
    let rss = server.peak_rss_bytes()? as f64 / (1 << 20) as f64;
    server.terminate()?;
    println!();
    println!("| query | n | p50 ms | p99 ms | max ms | server CPU ms/query | hits (first) |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        println!("{}", row.row());
    }
    println!("\nserver peak RSS {rss:.0} MiB");
    Ok(())
}
