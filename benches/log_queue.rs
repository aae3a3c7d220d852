//! Log queue benchmark: log records written in batches of 1 000 and, after each write, read
//! from the queue and cleared as the log indexer does (without tantivy), up to millions of
//! records. Printed: the time of one queue read (p50, p99, max) per million records cleared
//! so far, and how many deleted entries the last read stepped over (RocksDB's perf context):
//! reads must not slow down as cleared entries pile up.
//!
//!   cargo bench --bench log_queue                     # 3 000 000 records
//!   LOOKOUT_BENCH_RECORDS=500000 cargo bench --bench log_queue

use std::time::{Duration, Instant};

use lookout::query_bench::env_count;
use lookout_proto::convert::{convert_logs, Limits};
use lookout_proto::otlp::common::v1::{any_value::Value, AnyValue};
use lookout_proto::otlp::logs::v1::LogRecord;
use lookout_proto::requests;
use lookout_storage::{LogWriter, StorageConfig, Store};

const BATCH: usize = 1000;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1));
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e6)
}

fn main() {
    let total = env_count("LOOKOUT_BENCH_RECORDS", 3_000_000);
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Store::open(dir.path(), &StorageConfig::default()).expect("store");
    let t0 = 1_700_000_000_000_000_000u64;
    let mut reads: Vec<Duration> = Vec::new();
    let mut cleared = 0usize;
    let started = Instant::now();
    while cleared < total {
        let records = (0..BATCH)
            .map(|i| LogRecord {
                // Times out of order across batches, as several senders deliver them.
                time_unix_nano: t0 + ((cleared + i) as u64 % 7_919) * 1_000_003,
                body: Some(AnyValue {
                    value: Some(Value::StringValue(format!(
                        "request {} handled",
                        cleared + i
                    ))),
                }),
                ..Default::default()
            })
            .collect();
        let batch = convert_logs(requests::logs(Some("svc"), records), &Limits::default(), 0);
        store.write_logs(batch.batch).expect("write");
        let began = Instant::now();
        let pending = store.pending_logs(None, 20_000).expect("read");
        reads.push(began.elapsed());
        if let Some(last) = pending.last {
            store.clear_pending_logs(last, pending.read).expect("clear");
        }
        cleared += pending.read;
        if cleared.is_multiple_of(1_000_000) || cleared >= total {
            let mut sorted = reads.clone();
            sorted.sort();
            println!(
                "log_queue: {cleared} records cleared: one read p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs",
                percentile(&sorted, 0.5),
                percentile(&sorted, 0.99),
                percentile(&sorted, 1.0),
            );
            reads.clear();
        }
    }
    let batch = convert_logs(
        requests::logs(Some("svc"), vec![LogRecord::default()]),
        &Limits::default(),
        0,
    );
    store.write_logs(batch.batch).expect("write");
    rocksdb_perf(|| {
        let pending = store.pending_logs(None, 20_000).expect("read");
        assert_eq!(pending.read, 1);
    });
    println!(
        "log_queue: {cleared} records written, read and cleared in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Runs `read` and prints how many deleted or overwritten entries RocksDB stepped over.
fn rocksdb_perf(read: impl FnOnce()) {
    use rocksdb::perf::{set_perf_stats, PerfContext, PerfMetric, PerfStatsLevel};
    set_perf_stats(PerfStatsLevel::EnableCount);
    let mut perf = PerfContext::default();
    perf.reset();
    read();
    println!(
        "log_queue: a read after all that stepped over {} deleted entries and {} other hidden keys",
        perf.metric(PerfMetric::InternalDeleteSkippedCount),
        perf.metric(PerfMetric::InternalKeySkippedCount),
    );
    set_perf_stats(PerfStatsLevel::Disable);
}
