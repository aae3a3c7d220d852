//! The RocksDB implementation of every signal's writer and reader.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use lookout_proto::convert::{RejectReason, Rejections};
use lookout_proto::model::{
    Batch, Interned, LogItem, LogRecord, MetricItem, MetricPoint, Resource, Scope, SpanRecord,
};
use lookout_proto::otlp::trace::v1::Span;
use lookout_proto::{now_unix_nano, TraceId};
use prost::Message;
use rocksdb::{
    BlockBasedIndexType, BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor,
    DBCompressionType, Options, ReadOptions, SliceTransform, WriteBatch, WriteOptions, DB,
};

use crate::error::{Result, StorageError};
use crate::keys;
use crate::log_index::LogKey;
use crate::series::{
    self, Exemplar, Labels, Matcher, Metadata, SampleRejection, SelectLimits, SeriesData, SeriesDb,
    CF_CHUNKS, CF_CHUNKS_OOO, CF_EXEMPLARS, CF_SERIES, CF_SERIES_WAL,
};
use crate::trace_index;
use crate::{
    LogReader, LogWriter, MetricReader, MetricWriter, Retention, SeriesReader, SpanReader,
    StorageConfig, StoredLog, StoredMetricPoint, StoredSpan, TimeRange, TraceIndexConfig,
    TraceRead,
};

/// The on-disk format this build writes and reads (`storage/FORMAT.md`).
pub const FORMAT_VERSION: u32 = 10;

/// The log index's directory in the data directory.
pub const LOG_INDEX_DIR: &str = "log-index";

/// The oldest format opened: upgraded at open. It differs in `log_pending` (keyed by time,
/// dropped: the log index is rebuilt from every record), and in `spans` and `G` keys without a
/// content hash, which reads accept as they are.
const FORMAT_VERSION_3: u32 = 3;
/// Version 4 reads as version 5: 5 only adds kept-until hours to `resources`, `scopes` and the
/// `S`/`O`/`R` trace-index values, and reads values without them as before.
const FORMAT_VERSION_4: u32 = 4;
/// Version 5 reads as version 6: 6 writes the service graph's span entries by minute (`g`)
/// with per-minute aggregates (`M`), and reads the hour-keyed `G` entries of 5 as they are.
const FORMAT_VERSION_5: u32 = 5;
/// Version 6 reads as version 7: 7 creates new days of the log index with `time` and `seq`
/// as fast fields only, and opens the days of 6 with their own schema.
const FORMAT_VERSION_6: u32 = 6;
/// Version 7 reads as version 8: 8 queues trace index entries behind `Q` entries.
const FORMAT_VERSION_7: u32 = 7;
/// Version 8 reads as version 9: 9 writes the trace index's `T`, `P` and `A` keys with a short
/// span reference (the trace id in the `T` value, the `P` value empty), and reads the long keys of 8 as
/// they are.
const FORMAT_VERSION_8: u32 = 8;
/// Version 9 reads as version 10 but for the log index: 10 builds it with tantivy's SSTable
/// term dictionary, which cannot read the FST dictionaries of 9 and before, so opening an
/// older directory queues every stored record again and rebuilds the index from `logs`.
const FORMAT_VERSION_9: u32 = 9;

const CF_META: &str = "default";
pub(crate) const CF_RESOURCES: &str = "resources";
pub(crate) const CF_SCOPES: &str = "scopes";
pub(crate) const CF_SPANS: &str = "spans";
pub(crate) const CF_TRACE_HOURS: &str = "trace_hours";
const CF_LOGS: &str = "logs";
/// Format 3's pending logs, keyed by time · sequence: moved to `log_queue` at open.
const CF_LOG_PENDING_V3: &str = "log_pending";
const CF_LOG_QUEUE: &str = "log_queue";
const CF_LOG_STREAMS: &str = "log_streams";
const CF_METRIC_POINTS: &str = "metric_points";
pub(crate) const CF_TRACE_INDEX: &str = "trace_index";
const CF_ALERTS: &str = "alerts";
const ALL_CFS: [&str; 16] = [
    CF_ALERTS,
    CF_SERIES,
    CF_SERIES_WAL,
    CF_CHUNKS,
    CF_CHUNKS_OOO,
    CF_EXEMPLARS,
    CF_META,
    CF_RESOURCES,
    CF_SCOPES,
    CF_SPANS,
    CF_TRACE_HOURS,
    CF_LOGS,
    CF_METRIC_POINTS,
    CF_TRACE_INDEX,
    CF_LOG_QUEUE,
    CF_LOG_STREAMS,
];

const FORMAT_KEY: &[u8] = b"format_version";
const PROBE_KEY: &[u8] = b"ready_probe";
/// Above every log sequence number cleared from the queue (8 bytes, big-endian), written with
/// each clearing: see [`Store::open`].
const LOG_SEQ_FLOOR_KEY: &[u8] = b"log_seq_floor";
/// The last `logs` key an upgrade to format 10 has queued again, and `log_seq_floor` then
/// (while it runs): an upgrade cut short resumes after that key, unless the floor moved (an
/// older build ran in between and indexed, then cleared, records into the index set aside).
const LOG_REQUEUED_THROUGH_KEY: &[u8] = b"log_requeued_through";
/// Where an upgrade to format 10 moves the log index it cannot read, until it is deleted.
const OLD_LOG_INDEX_DIR: &str = "log-index.old";

/// A kind of stored record, for [`Store::count_records`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Records {
    Spans,
    Logs,
    MetricPoints,
}

/// What one retention pass deleted up to (exclusive), per signal, in Unix nanoseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetentionReport {
    pub traces_before: u64,
    pub logs_before: u64,
    pub metrics_before: u64,
    /// Metric series collected: their newest sample was past retention.
    pub series_collected: usize,
}

/// Lookout's embedded store: one RocksDB database with a column family per kind of record.
///
/// Every write method writes its whole batch (items, their resources and scopes, their index
/// entries) as one atomic RocksDB write batch, and returns after it is in the write-ahead log
/// (fsynced too when [`StorageConfig::sync`] is set).
pub struct Store {
    pub(crate) db: DB,
    path: PathBuf,
    write_options: WriteOptions,
    pub(crate) index_config: TraceIndexConfig,
    /// Unique suffix for time-ordered keys; seeded from the clock at open, so it never repeats
    /// across restarts unless more than one item per nanosecond was written.
    seq: AtomicU64,
    /// Hours before this are expired for traces: `trace_hours` entries below it are dropped by
    /// compaction and ignored by reads.
    pub(crate) trace_cutoff_hour: Arc<AtomicU32>,
    /// Resources and scopes kept until an hour before this are dropped by compaction: every
    /// item that could refer to them is past its signal's retention.
    interned_cutoff_hour: Arc<AtomicU32>,
    pub(crate) series: SeriesDb,
    keep_otlp_points: bool,
    series_compacted_ms: AtomicI64,
    log_queue: LogQueue,
    /// Log records written lately, to store an exact retry once (see `recent`).
    recent_logs: crate::recent::Recent,
    /// Log records written lately, for the log indexer (see `fresh_logs`).
    fresh_logs: crate::fresh_logs::FreshLogs,
    /// Log records acknowledged but not stored again: exact retries.
    logs_deduplicated: AtomicU64,
    pub(crate) graph: crate::service_graph::GraphState,
    /// Trace index entries built but not yet written (`span_write`).
    pub(crate) span_queue: crate::span_write::SpanQueue,
}

/// One read of the log queue.
#[derive(Debug, Default)]
pub struct PendingLogs {
    /// The records, in write order (those that retention removed meanwhile are left out).
    pub records: Vec<(LogKey, StoredLog)>,
    /// Queue entries read (with or without a record).
    pub read: usize,
    /// The last entry read: where the next read starts, and what a clear covers.
    pub last: Option<LogKey>,
}

/// Where the log index stands in `log_queue` (see `storage/FORMAT.md`, "Log index").
#[derive(Default)]
struct LogQueue {
    /// Log writes in progress, by their first sequence number: the indexer reads the queue
    /// only below the oldest, so it never passes a record whose write has not committed yet.
    writing: Mutex<BTreeSet<u64>>,
    /// Everything in the queue below this sequence number was indexed and range-deleted: reads
    /// start here, so they never step over deleted keys one by one.
    floor: AtomicU64,
    /// Entries in the queue (exact at open; an estimate once retention removed records that
    /// were still queued).
    len: AtomicU64,
    /// `log_seq_floor` at open: the floor written with each clearing never goes below it
    /// (after an upgrade the queue is read again from its oldest record).
    persisted_floor: u64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating if needed) the store in `path`.
    pub fn open(path: &Path, config: &StorageConfig) -> Result<Store> {
        std::fs::create_dir_all(path)?;
        let cache = Cache::new_lru_cache(config.block_cache_size.as_u64() as usize);
        let trace_cutoff_hour = Arc::new(AtomicU32::new(0));
        let interned_cutoff_hour = Arc::new(AtomicU32::new(0));
        let series_cutoff_ms = Arc::new(AtomicI64::new(i64::MIN));

        let mut db_opts = Options::default();
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        db_opts.set_max_background_jobs(2);
        // Compactions yield the CPU to exports and to the log indexer: on two cores, a
        // compaction running at the same priority held recent logs out of search for seconds.
        // They still run whenever a core is free, and RocksDB's write stall triggers slow
        // exports down should they fall behind.
        let mut env = rocksdb::Env::new()?;
        env.lower_thread_pool_cpu_priority();
        db_opts.set_env(&env);
        // Concurrent exports insert into the memtables without waiting for each other's order
        // (+15% spans/s with the trace index). Durability and recovery are unchanged: the
        // write-ahead log is still appended in order and each batch recovers whole. What is
        // relaxed: a concurrent read may see part of a batch still being inserted.
        db_opts.set_unordered_write(true);
        db_opts.set_db_write_buffer_size(config.write_buffer_size.as_u64() as usize);
        db_opts.set_keep_log_file_num(5);
        db_opts.set_max_total_wal_size(256 << 20);

        let cf_options = |name: &'static str| {
            let mut opts = Options::default();
            opts.set_compression_type(DBCompressionType::Lz4);
            opts.set_bottommost_compression_type(DBCompressionType::Zstd);
            opts.set_level_compaction_dynamic_level_bytes(true);
            let mut table = BlockBasedOptions::default();
            table.set_block_cache(&cache);
            table.set_block_size(16 * 1024);
            table.set_cache_index_and_filter_blocks(true);
            table.set_pin_l0_filter_and_index_blocks_in_cache(true);
            match name {
                CF_SPANS => {
                    zstd_dictionary(&mut opts);
                    // Bloom filters on hour | trace id: a trace read seeks only files with it.
                    table.set_bloom_filter(10.0, false);
                    table.set_whole_key_filtering(false);
                    opts.set_prefix_extractor(SliceTransform::create_fixed_prefix(20));
                    opts.set_memtable_prefix_bloom_ratio(0.05);
                }
                CF_TRACE_HOURS => {
                    table.set_bloom_filter(10.0, false);
                    table.set_whole_key_filtering(false);
                    opts.set_prefix_extractor(SliceTransform::create_fixed_prefix(16));
                    opts.set_memtable_prefix_bloom_ratio(0.05);
                    let cutoff = Arc::clone(&trace_cutoff_hour);
                    opts.set_compaction_filter(
                        "lookout_trace_hours_retention",
                        move |_level: u32, key: &[u8], _value: &[u8]| match keys::trace_hour_of_key(
                            key,
                        ) {
                            Some(hour) if hour < cutoff.load(Ordering::Relaxed) => {
                                rocksdb::compaction_filter::Decision::Remove
                            }
                            _ => rocksdb::compaction_filter::Decision::Keep,
                        },
                    );
                }
                CF_TRACE_INDEX => {
                    // Most of what is written (~700 bytes per span): with RocksDB's default of
                    // two memtables, one filling while the other is flushed, a flush slower
                    // than the ingest stops every write of the database, acknowledgements
                    // included. Four absorb a slow flush; past `storage.write_buffer_size`
                    // (all column families together) RocksDB flushes the largest.
                    opts.set_max_write_buffer_number(4);
                    // Point lookups of attribute entries (does this span have k=v?) use the
                    // whole-key bloom filter; scans are by prefix and time window. LZ4 on every
                    // level: searches decompress blocks on their hot path, and Zstd's slower
                    // decompression doubled a point lookup that missed the cache.
                    table.set_bloom_filter(10.0, false);
                    opts.set_bottommost_compression_type(DBCompressionType::Lz4);
                    // Partitioned filters and index: a lookup loads one small filter partition
                    // into the block cache instead of a whole table's filter (megabytes), which
                    // scans kept evicting; the top level stays pinned.
                    table.set_index_type(BlockBasedIndexType::TwoLevelIndexSearch);
                    table.set_partition_filters(true);
                    table.set_metadata_block_size(4096);
                    table.set_pin_top_level_index_and_filter(true);
                    let cutoff = Arc::clone(&trace_cutoff_hour);
                    opts.set_compaction_filter(
                        "lookout_trace_index_retention",
                        move |_level: u32, key: &[u8], value: &[u8]| {
                            let cutoff = cutoff.load(Ordering::Relaxed);
                            let expired = match trace_index::entry_time(key) {
                                Some(t) => t < u64::from(cutoff) * keys::HOUR_NS,
                                // `S`, `O`, `R`: kept until the hour in their value.
                                None => trace_index::kept_until(key, value)
                                    .is_some_and(|hour| hour < cutoff),
                            };
                            if expired {
                                rocksdb::compaction_filter::Decision::Remove
                            } else {
                                rocksdb::compaction_filter::Decision::Keep
                            }
                        },
                    );
                }
                CF_CHUNKS | CF_CHUNKS_OOO | CF_EXEMPLARS => {
                    // Keys end in the newest sample's time: expired chunks go at compaction.
                    let cutoff = Arc::clone(&series_cutoff_ms);
                    opts.set_compaction_filter(
                        "lookout_series_retention",
                        move |_level: u32, key: &[u8], _value: &[u8]| match series::chunk_key_time(
                            key,
                        ) {
                            Some(t) if t < cutoff.load(Ordering::Relaxed) => {
                                rocksdb::compaction_filter::Decision::Remove
                            }
                            _ => rocksdb::compaction_filter::Decision::Keep,
                        },
                    );
                    // Files are compacted at least daily, so expired chunks do not linger.
                    opts.set_periodic_compaction_seconds(24 * 3600);
                }
                CF_SERIES => {
                    table.set_bloom_filter(10.0, false);
                }
                CF_RESOURCES | CF_SCOPES => {
                    table.set_bloom_filter(10.0, false);
                    // Rewritten by every batch that refers to them: one not written for longer
                    // than every signal's retention is referenced by nothing stored.
                    let cutoff = Arc::clone(&interned_cutoff_hour);
                    opts.set_compaction_filter(
                        "lookout_interned_retention",
                        move |_level: u32, _key: &[u8], value: &[u8]| {
                            match keys::interned_kept_until(value) {
                                Some(hour) if hour < cutoff.load(Ordering::Relaxed) => {
                                    rocksdb::compaction_filter::Decision::Remove
                                }
                                _ => rocksdb::compaction_filter::Decision::Keep,
                            }
                        },
                    );
                }
                CF_LOGS => zstd_dictionary(&mut opts),
                _ => {}
            }
            opts.set_block_based_table_factory(&table);
            ColumnFamilyDescriptor::new(name, opts)
        };

        let mut descriptors: Vec<_> = ALL_CFS.iter().map(|name| cf_options(name)).collect();
        let existing = DB::list_cf(&db_opts, path).unwrap_or_default();
        let legacy_queue = existing.iter().any(|cf| cf == CF_LOG_PENDING_V3);
        if legacy_queue {
            descriptors.push(cf_options(CF_LOG_PENDING_V3));
        }
        let mut db = DB::open_cf_descriptors(&db_opts, path, descriptors)?;
        for name in [CF_SPANS, CF_LOGS] {
            let cf = db
                .cf_handle(name)
                .ok_or(StorageError::MissingColumnFamily(name))?;
            db.set_options_cf(cf, &[("bottommost_compression_opts", DICTIONARY_BUFFER)])?;
        }

        let mut write_options = WriteOptions::default();
        write_options.set_sync(config.sync);
        // Each batch writes its trace index entries in key order (`SortedPuts`).
        write_options.set_memtable_insert_hint_per_batch(true);

        Self::check_format_version(&mut db, path)?;
        // Format 3's queue: its entries were queued again by the upgrade, so whenever the
        // version is current it can go (an upgrade may have stopped just before this).
        if legacy_queue {
            db.drop_cf(CF_LOG_PENDING_V3)?;
        }
        // What an upgrade set aside and did not get to delete.
        remove_dir_if_present(&path.join(OLD_LOG_INDEX_DIR))?;
        let log_queue = LogQueue {
            len: AtomicU64::new(count_keys(&db, CF_LOG_QUEUE)?),
            persisted_floor: log_seq_floor(&db)?,
            ..Default::default()
        };
        // Sequence numbers continue above every record ever queued, even if the clock went
        // back since they were written: the indexer reads the queue in sequence order from
        // where it last cleared and must not pass new records by, and after a crash it takes a
        // day's records up to the highest sequence number that day's index holds as indexed.
        let seq = now_unix_nano()
            .max(last_queued_seq(&db)?.map_or(0, |s| s.saturating_add(1)))
            .max(log_seq_floor(&db)?);
        let series = SeriesDb::open(&db, config.series.clone(), series_cutoff_ms)?;
        let span_queue = crate::span_write::SpanQueue::open(&db)?;
        let store = Store {
            db,
            path: path.to_path_buf(),
            write_options,
            index_config: config.trace_index.clone(),
            seq: AtomicU64::new(seq),
            trace_cutoff_hour,
            interned_cutoff_hour,
            series,
            keep_otlp_points: config.series.keep_otlp_points,
            series_compacted_ms: AtomicI64::new(i64::MIN),
            log_queue,
            recent_logs: crate::recent::Recent::default(),
            fresh_logs: Default::default(),
            graph: Default::default(),
            logs_deduplicated: AtomicU64::new(0),
            span_queue,
        };
        // What a crash left queued is indexed before the first read.
        let requeued = store.index_left_queue()?;
        if requeued > 0 {
            tracing::info!(spans = requeued, "trace index caught up");
        }
        Ok(store)
    }

    /// Checks the directory's format version. A version 3 to 9 directory becomes the current
    /// version: every stored log record is queued for the log index again and the old index is
    /// set aside (this build cannot read it; see [`FORMAT_VERSION_9`]).
    fn check_format_version(db: &mut DB, path: &Path) -> Result<()> {
        let meta = db
            .cf_handle(CF_META)
            .ok_or(StorageError::MissingColumnFamily(CF_META))?;
        let found = db.get_cf(meta, FORMAT_KEY)?;
        let current = FORMAT_VERSION.to_string();
        match found {
            None => {
                db.put_cf(meta, FORMAT_KEY, current.as_bytes())?;
                db.flush_wal(true)?;
                Ok(())
            }
            Some(found) if found == current.as_bytes() => Ok(()),
            Some(found)
                if [
                    FORMAT_VERSION_3,
                    FORMAT_VERSION_4,
                    FORMAT_VERSION_5,
                    FORMAT_VERSION_6,
                    FORMAT_VERSION_7,
                    FORMAT_VERSION_8,
                    FORMAT_VERSION_9,
                ]
                .iter()
                .any(|v| found == v.to_string().as_bytes()) =>
            {
                // Queued before the old index is set aside (durably: renamed, then the data
                // directory synced), and the version recorded last: an upgrade cut short, by a
                // crash or a power loss, resumes at the next open and never leaves the new
                // version beside the old index.
                let queued = queue_every_log(db)?;
                let (index, old) = (path.join(LOG_INDEX_DIR), path.join(OLD_LOG_INDEX_DIR));
                remove_dir_if_present(&old)?;
                match std::fs::rename(&index, &old) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                    _ => {}
                }
                std::fs::File::open(path)?.sync_all()?;
                // Recorded so that an older build refuses the directory instead of misreading
                // the entries written from now on.
                let meta = db
                    .cf_handle(CF_META)
                    .ok_or(StorageError::MissingColumnFamily(CF_META))?;
                let mut wb = WriteBatch::default();
                wb.put_cf(meta, FORMAT_KEY, current.as_bytes());
                wb.delete_cf(meta, LOG_REQUEUED_THROUGH_KEY);
                db.write(wb)?;
                db.flush_wal(true)?;
                tracing::info!(
                    from = %String::from_utf8_lossy(&found),
                    log_records = queued,
                    "data directory upgraded to format version {FORMAT_VERSION}; the log index is rebuilt from the stored records"
                );
                Ok(())
            }
            Some(found) => Err(StorageError::FormatVersion {
                path: path.display().to_string(),
                found: String::from_utf8_lossy(&found).into_owned(),
                expected: FORMAT_VERSION,
            }),
        }
    }

    pub(crate) fn cf(&self, name: &'static str) -> Result<&ColumnFamily> {
        self.db
            .cf_handle(name)
            .ok_or(StorageError::MissingColumnFamily(name))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes and reads back a probe key: the readiness check that storage accepts writes.
    pub fn probe_writable(&self) -> Result<()> {
        let meta = self.cf(CF_META)?;
        let value = now_unix_nano().to_be_bytes();
        self.db.put_cf(meta, PROBE_KEY, value)?;
        match self.db.get_cf(meta, PROBE_KEY)? {
            Some(read) if read == value => Ok(()),
            _ => Err(StorageError::Corrupt {
                cf: CF_META,
                key: "ready_probe".into(),
                reason: "probe value read back differs from the one written".into(),
            }),
        }
    }

    /// Bytes of all files in the data directory (tables, write-ahead log, manifest, and the
    /// log index below it).
    pub fn disk_usage_bytes(&self) -> u64 {
        crate::disk_usage_bytes(&self.path)
    }

    /// The bytes of each column family's live table files (RocksDB's `live-sst-files-size`),
    /// by column family name: where the disk goes. Memtables not yet flushed are not counted.
    pub fn table_bytes(&self) -> Result<Vec<(&'static str, u64)>> {
        self.per_column_family("rocksdb.live-sst-files-size")
    }

    /// The bytes of each column family's memtables, the one being written and those waiting
    /// to be flushed (RocksDB's `cur-size-all-mem-tables`), by column family name.
    pub fn memtable_bytes(&self) -> Result<Vec<(&'static str, u64)>> {
        self.per_column_family("rocksdb.cur-size-all-mem-tables")
    }

    /// Work RocksDB's background threads still have to do: the bytes compactions are
    /// estimated to rewrite (over every column family) and the compactions and flushes running.
    pub fn background_work(&self) -> Result<(u64, u64)> {
        let pending = self
            .per_column_family("rocksdb.estimate-pending-compaction-bytes")?
            .iter()
            .map(|(_, bytes)| bytes)
            .sum();
        let mut running = 0;
        for property in [
            "rocksdb.num-running-compactions",
            "rocksdb.num-running-flushes",
        ] {
            running += self.db.property_int_value(property)?.unwrap_or(0);
        }
        Ok((pending, running))
    }

    fn per_column_family(&self, property: &str) -> Result<Vec<(&'static str, u64)>> {
        ALL_CFS
            .iter()
            .map(|&name| {
                let value = self.db.property_int_value_cf(self.cf(name)?, property)?;
                Ok((name, value.unwrap_or(0)))
            })
            .collect()
    }

    /// Flushes memtables to table files (used before measuring disk usage, and at shutdown).
    pub fn flush(&self) -> Result<()> {
        self.index_queued_spans()?;
        for name in ALL_CFS {
            self.db.flush_cf(self.cf(name)?)?;
        }
        self.db.flush_wal(true)?;
        Ok(())
    }

    /// Compacts every column family fully (benchmarks, after bulk loads).
    pub fn compact_all(&self) -> Result<()> {
        self.index_queued_spans()?;
        for name in ALL_CFS {
            self.db
                .compact_range_cf(self.cf(name)?, None::<&[u8]>, None::<&[u8]>);
        }
        Ok(())
    }

    /// The exact number of stored records of a kind (a scan of keys: for checks and tools,
    /// not for hot paths).
    pub fn count_records(&self, kind: Records) -> Result<u64> {
        let name = match kind {
            Records::Spans => CF_SPANS,
            Records::Logs => CF_LOGS,
            Records::MetricPoints => CF_METRIC_POINTS,
        };
        count_keys(&self.db, name)
    }

    /// The number of stored metric points for which `keep` is true (a scan that decodes every
    /// point: for checks and tools, not for hot paths).
    pub fn count_metric_points(&self, keep: impl Fn(&MetricPoint) -> bool) -> Result<u64> {
        let mut n = 0;
        self.scan_time(
            CF_METRIC_POINTS,
            TimeRange::ALL,
            usize::MAX,
            |_, p: MetricPoint| {
                n += u64::from(keep(&p));
                Ok(())
            },
        )?;
        Ok(n)
    }

    fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn put_interned(
        &self,
        wb: &mut WriteBatch,
        resources: &[Interned],
        scopes: &[Interned],
    ) -> Result<()> {
        let (rcf, scf) = (self.cf(CF_RESOURCES)?, self.cf(CF_SCOPES)?);
        let keep_until = trace_index::keep_until_hour(now_unix_nano());
        let mut value = Vec::with_capacity(256);
        for (cf, interned) in resources
            .iter()
            .map(|r| (rcf, r))
            .chain(scopes.iter().map(|s| (scf, s)))
        {
            keys::interned_value(keep_until, &interned.encoded, &mut value);
            wb.put_cf(cf, keys::id_key(interned.id), &value);
        }
        Ok(())
    }

    pub(crate) fn write(&self, wb: WriteBatch) -> Result<()> {
        self.db.write_opt(wb, &self.write_options)?;
        Ok(())
    }

    /// Deletes what `retention` says has expired at `now_unix_nano`, and compacts the deleted
    /// ranges so their disk space comes back.
    pub fn enforce_retention(
        &self,
        retention: &Retention,
        now_unix_nano: u64,
    ) -> Result<RetentionReport> {
        let before =
            |keep: std::time::Duration| now_unix_nano.saturating_sub(keep.as_nanos() as u64);
        let mut report = RetentionReport {
            // Spans are kept in hour buckets: a bucket goes once all of it is past the cutoff.
            traces_before: u64::from(keys::hour_of(before(retention.traces))) * keys::HOUR_NS,
            logs_before: before(retention.logs),
            metrics_before: before(retention.metrics),
            series_collected: 0,
        };

        let longest = retention.traces.max(retention.logs).max(retention.metrics);
        self.interned_cutoff_hour
            .fetch_max(keys::hour_of(before(longest)), Ordering::Relaxed);
        let cutoff_hour = keys::hour_of(report.traces_before);
        self.trace_cutoff_hour
            .fetch_max(cutoff_hour, Ordering::Relaxed);
        self.delete_and_compact(CF_SPANS, &0u32.to_be_bytes(), &cutoff_hour.to_be_bytes())?;
        // Stream entries go with the last hour wholly past the logs cutoff.
        self.delete_and_compact(
            CF_LOG_STREAMS,
            &0u32.to_be_bytes(),
            &keys::hour_of(report.logs_before).to_be_bytes(),
        )?;
        // Series chunks: reads skip expired ones at once; compaction drops them (forced here
        // when the cutoff moved an hour since the last forced compaction).
        let cutoff_ms = (report.metrics_before / 1_000_000) as i64;
        let previous = self
            .series
            .cutoff_ms
            .fetch_max(cutoff_ms, Ordering::Relaxed);
        let compacted = self.series_compacted_ms.load(Ordering::Relaxed);
        if previous != i64::MIN && cutoff_ms - compacted >= 3_600_000 {
            self.series_compacted_ms.store(cutoff_ms, Ordering::Relaxed);
            for name in [
                CF_CHUNKS,
                CF_CHUNKS_OOO,
                CF_EXEMPLARS,
                CF_RESOURCES,
                CF_SCOPES,
            ] {
                self.db
                    .compact_range_cf(self.cf(name)?, None::<&[u8]>, None::<&[u8]>);
            }
        } else if previous == i64::MIN {
            self.series_compacted_ms.store(cutoff_ms, Ordering::Relaxed);
        }
        report.series_collected = self.series.collect_expired(&self.db, cutoff_ms)?;
        for (cf, before) in [
            (CF_LOGS, report.logs_before),
            (CF_METRIC_POINTS, report.metrics_before),
        ] {
            self.delete_and_compact(cf, &0u64.to_be_bytes(), &before.to_be_bytes())?;
        }
        Ok(report)
    }

    fn delete_and_compact(&self, name: &'static str, from: &[u8], to: &[u8]) -> Result<()> {
        let cf = self.cf(name)?;
        // Nothing to do when the range holds no key: skip the tombstone and the compaction.
        let mut it = self.db.raw_iterator_cf(cf);
        it.seek(from);
        let has_expired = it.valid() && it.key().is_some_and(|k| k < to);
        it.status()?;
        drop(it);
        if !has_expired {
            return Ok(());
        }
        self.db.delete_range_cf(cf, from, to)?;
        self.db.compact_range_cf(cf, Some(from), Some(to));
        Ok(())
    }

    /// Loads resources or scopes by id, each once per call.
    pub(crate) fn resolve<M: Message + Default>(
        &self,
        cf_name: &'static str,
        cache: &mut HashMap<u64, Arc<M>>,
        id: u64,
    ) -> Result<Arc<M>> {
        if let Some(found) = cache.get(&id) {
            return Ok(Arc::clone(found));
        }
        let cf = self.cf(cf_name)?;
        let bytes = self
            .db
            .get_pinned_cf(cf, keys::id_key(id))?
            .ok_or_else(|| StorageError::Corrupt {
                cf: cf_name,
                key: format!("{id:016x}"),
                reason: "referenced but not stored".into(),
            })?;
        let bytes = match cf_name {
            CF_RESOURCES | CF_SCOPES => keys::interned_message(&bytes),
            _ => &bytes,
        };
        let message = Arc::new(decode::<M>(cf_name, &keys::id_key(id), bytes)?);
        cache.insert(id, Arc::clone(&message));
        Ok(message)
    }

    /// Reads `[start, end)` of a time-keyed column family, oldest first, at most `limit` items.
    fn scan_time<M: Message + Default>(
        &self,
        cf_name: &'static str,
        range: TimeRange,
        limit: usize,
        mut each: impl FnMut(u64, M) -> Result<()>,
    ) -> Result<()> {
        let cf = self.cf(cf_name)?;
        let mut opts = ReadOptions::default();
        opts.set_iterate_lower_bound(range.start_unix_nano.to_be_bytes().to_vec());
        opts.set_iterate_upper_bound(range.end_unix_nano.to_be_bytes().to_vec());
        let mut it = self.db.raw_iterator_cf_opt(cf, opts);
        it.seek_to_first();
        let mut n = 0;
        while n < limit {
            let (Some(key), Some(value)) = (it.key(), it.value()) else {
                break;
            };
            let time = keys::time_of_key(key).ok_or_else(|| StorageError::Corrupt {
                cf: cf_name,
                key: hex(key),
                reason: "key is not time | sequence".into(),
            })?;
            each(time, decode::<M>(cf_name, key, value)?)?;
            n += 1;
            it.next();
        }
        it.status()?;
        Ok(())
    }
}

/// How much of a bottommost file's blocks RocksDB holds to build its dictionary: by default
/// the whole file (64 MiB) before compressing any block, charged to the shared block cache,
/// whose index and filter blocks searches need. And how it builds it: Zstd's
/// `ZDICT_finalizeDictionary` over the samples instead of its trainer, which made files as
/// small at no measurable cost (the trainer added ~15% CPU per span at 30 000 spans/s).
const DICTIONARY_BUFFER: &str = "{max_dict_buffer_bytes=4194304;use_zstd_dict_trainer=false}";

/// Spans and log records repeat their attribute keys, resources' values and much of their
/// text from block to block: a Zstd dictionary built for each bottommost file (16 KiB, from up
/// to 1.6 MiB of its blocks) keeps that out of every 16 KiB block (`spans` 148 -> 105 bytes per
/// span of the ingest bench's traffic).
fn zstd_dictionary(opts: &mut Options) {
    // (`DICTIONARY_BUFFER` is set after open: the Rust crate has no setter for it.)
    const DICTIONARY: i32 = 16 * 1024;
    // RocksDB's defaults for the window and strategy; 32767 is its "default level" (Zstd's 3).
    opts.set_bottommost_compression_options(-14, 32767, 0, DICTIONARY, true);
    opts.set_bottommost_zstd_max_train_bytes(100 * DICTIONARY, true);
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn decode<M: Message + Default>(
    cf: &'static str,
    key: &[u8],
    bytes: &[u8],
) -> Result<M> {
    M::decode(bytes).map_err(|e| StorageError::Corrupt {
        cf,
        key: hex(key),
        reason: e.to_string(),
    })
}

impl Store {
    /// The hours in which spans of the trace started, oldest first (expired hours left out).
    pub(crate) fn trace_hours(&self, trace_id: &TraceId) -> Result<Vec<u32>> {
        let hours_cf = self.cf(CF_TRACE_HOURS)?;
        let cutoff = self.trace_cutoff_hour.load(Ordering::Relaxed);
        let mut hours = Vec::new();
        for entry in self.db.prefix_iterator_cf(hours_cf, trace_id.as_bytes()) {
            let (key, _) = entry?;
            if !key.starts_with(trace_id.as_bytes()) {
                break;
            }
            match keys::trace_hour_of_key(&key) {
                Some(hour) if hour >= cutoff => hours.push(hour),
                Some(_) => {}
                None => {
                    return Err(StorageError::Corrupt {
                        cf: CF_TRACE_HOURS,
                        key: hex(&key),
                        reason: "key is not trace id | hour".into(),
                    })
                }
            }
        }
        Ok(hours)
    }
}

impl SpanReader for Store {
    fn trace_capped(
        &self,
        trace_id: &TraceId,
        max_spans: usize,
        max_bytes: usize,
    ) -> Result<TraceRead> {
        let hours = self.trace_hours(trace_id)?;
        let spans_cf = self.cf(CF_SPANS)?;
        let (mut resources, mut scopes) = (HashMap::new(), HashMap::new());
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let (mut bytes, mut truncated) = (0usize, false);
        'hours: for hour in hours {
            let prefix = keys::span_prefix(hour, trace_id);
            let mut opts = ReadOptions::default();
            opts.set_prefix_same_as_start(true);
            let mut it = self.db.raw_iterator_cf_opt(spans_cf, opts);
            it.seek(prefix);
            while let (Some(key), Some(value)) = (it.key(), it.value()) {
                if !key.starts_with(&prefix) {
                    break;
                }
                let (span_id, content) =
                    keys::span_of_key(key, value).ok_or_else(|| StorageError::Corrupt {
                        cf: CF_SPANS,
                        key: hex(key),
                        reason: "key is not hour | trace id | span id [| content hash]".into(),
                    })?;
                // A span stored in format 3 and written again (a retry) after the upgrade to
                // format 4 is there under both layouts: read once.
                if !seen.insert((span_id, content)) {
                    it.next();
                    continue;
                }
                bytes = bytes.saturating_add(value.len());
                if out.len() >= max_spans || bytes > max_bytes {
                    truncated = true;
                    break 'hours;
                }
                let record: SpanRecord = decode(CF_SPANS, key, value)?;
                let mut span: Span = record.span.unwrap_or_default();
                span.trace_id = trace_id.as_bytes().to_vec();
                span.span_id = span_id.as_bytes().to_vec();
                out.push(StoredSpan {
                    resource: self.resolve::<Resource>(
                        CF_RESOURCES,
                        &mut resources,
                        record.resource_id,
                    )?,
                    scope: self.resolve::<Scope>(CF_SCOPES, &mut scopes, record.scope_id)?,
                    span,
                });
                it.next();
            }
            it.status()?;
        }
        // Spans sharing an id keep their key order (by content hash), so the order is stable.
        out.sort_by(|a, b| {
            (a.span.start_time_unix_nano, &a.span.span_id)
                .cmp(&(b.span.start_time_unix_nano, &b.span.span_id))
        });
        Ok(TraceRead {
            spans: out,
            truncated,
        })
    }
}

impl LogWriter for Store {
    fn write_logs(&self, batch: Batch<LogItem>) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        // Encoded once: hashed here, written below.
        let mut encoded = Vec::with_capacity(batch.items.len());
        let mut hashes = Vec::with_capacity(batch.items.len());
        for item in &batch.items {
            let mut buf = Vec::with_capacity(item.record.encoded_len() + 8);
            item.record
                .encode(&mut buf)
                .map_err(|e| StorageError::Corrupt {
                    cf: CF_LOGS,
                    key: item.time_unix_nano.to_string(),
                    reason: e.to_string(),
                })?;
            let mut hasher = xxhash_rust::xxh3::Xxh3::new();
            hasher.update(&buf);
            hasher.update(&item.time_unix_nano.to_be_bytes());
            hashes.push(hasher.digest128());
            encoded.push(buf);
        }
        let fresh = self.recent_logs.claim(&hashes);
        let n = fresh.iter().filter(|f| **f).count() as u64;
        self.logs_deduplicated
            .fetch_add(batch.items.len() as u64 - n, Ordering::Relaxed);
        if n == 0 {
            return Ok(());
        }
        let first_seq = {
            let mut writing = self.log_queue.lock_writing();
            let first = self.seq.fetch_add(n, Ordering::SeqCst);
            writing.insert(first);
            first
        };
        let result = self.write_logs_from(&batch, &encoded, &fresh, first_seq);
        drop(encoded);
        if result.is_ok() {
            // Before the write counts as done: the indexer reads past it only after that.
            let kept = batch.items.into_iter().zip(&fresh).filter(|(_, f)| **f);
            self.fresh_logs
                .put(first_seq, kept.map(|(item, _)| item.record).collect());
        }
        self.log_queue.lock_writing().remove(&first_seq);
        match &result {
            Ok(()) => {
                self.log_queue.len.fetch_add(n, Ordering::Relaxed);
            }
            Err(_) => self.recent_logs.forget(
                hashes
                    .iter()
                    .zip(&fresh)
                    .filter(|(_, f)| **f)
                    .map(|(h, _)| *h),
            ),
        }
        result
    }
}

impl Store {
    /// Log records acknowledged but not stored again, because they were exact retries.
    pub fn logs_deduplicated(&self) -> u64 {
        self.logs_deduplicated.load(Ordering::Relaxed)
    }

    /// Writes the items of `batch` marked in `keep` (`encoded`: each item's record, encoded),
    /// with sequence numbers from `first_seq` on.
    fn write_logs_from(
        &self,
        batch: &Batch<LogItem>,
        encoded: &[Vec<u8>],
        keep: &[bool],
        first_seq: u64,
    ) -> Result<()> {
        let mut wb = WriteBatch::default();
        self.put_interned(&mut wb, &batch.resources, &batch.scopes)?;
        let (logs, queue) = (self.cf(CF_LOGS)?, self.cf(CF_LOG_QUEUE)?);
        let streams = self.cf(CF_LOG_STREAMS)?;
        let mut seen_streams = std::collections::HashSet::new();
        let kept = batch
            .items
            .iter()
            .zip(encoded)
            .zip(keep)
            .filter(|(_, k)| **k)
            .map(|(item, _)| item);
        for ((item, buf), seq) in kept.zip(first_seq..) {
            let level = item.record.record.as_ref().map_or("unknown", |r| {
                log_level(&r.severity_text, r.severity_number)
            });
            let hour = keys::hour_of(item.time_unix_nano);
            if seen_streams.insert((hour, item.record.resource_id, level)) {
                let mut key = Vec::with_capacity(20);
                key.extend_from_slice(&hour.to_be_bytes());
                key.extend_from_slice(&item.record.resource_id.to_be_bytes());
                key.extend_from_slice(level.as_bytes());
                wb.put_cf(streams, key, []);
            }
            wb.put_cf(logs, keys::time_key(item.time_unix_nano, seq), buf);
            // Until the log index has it (see `log_index`).
            wb.put_cf(queue, queue_key(seq, item.time_unix_nano), []);
        }
        self.write(wb)
    }
}

impl LogQueue {
    fn lock_writing(&self) -> std::sync::MutexGuard<'_, BTreeSet<u64>> {
        self.writing.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `log_queue`: sequence (8) · time (8): in write order, whatever the records' times.
fn queue_key(seq: u64, time_unix_nano: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&seq.to_be_bytes());
    key[8..].copy_from_slice(&time_unix_nano.to_be_bytes());
    key
}

/// The sequence number above every one cleared from the log queue (0 if none was).
fn log_seq_floor(db: &DB) -> Result<u64> {
    let meta = db
        .cf_handle(CF_META)
        .ok_or(StorageError::MissingColumnFamily(CF_META))?;
    match db.get_cf(meta, LOG_SEQ_FLOOR_KEY)? {
        None => Ok(0),
        Some(value) => be_u64_at(&value, 0).ok_or_else(|| StorageError::Corrupt {
            cf: CF_META,
            key: hex(LOG_SEQ_FLOOR_KEY),
            reason: "log sequence floor is not 8 bytes".into(),
        }),
    }
}

/// The sequence number of the newest entry of the log queue.
fn last_queued_seq(db: &DB) -> Result<Option<u64>> {
    let cf = db
        .cf_handle(CF_LOG_QUEUE)
        .ok_or(StorageError::MissingColumnFamily(CF_LOG_QUEUE))?;
    let mut it = db.raw_iterator_cf(cf);
    it.seek_to_last();
    let last = it.key().and_then(|k| be_u64_at(k, 0));
    it.status()?;
    Ok(last)
}

/// Keys in a column family (a scan; the log queue's deleted ranges are skipped whole).
fn count_keys(db: &DB, name: &'static str) -> Result<u64> {
    let cf = db
        .cf_handle(name)
        .ok_or(StorageError::MissingColumnFamily(name))?;
    let mut it = db.raw_iterator_cf(cf);
    it.seek_to_first();
    let mut n = 0;
    while it.valid() {
        n += 1;
        it.next();
    }
    it.status()?;
    Ok(n)
}

/// Puts every record of `logs` in `log_queue` (again, for those still queued: the same key),
/// for the log index to be rebuilt in sequence order; the number of records queued. Each batch
/// records how far it got (`log_requeued_through`), so an upgrade cut short resumes there.
fn queue_every_log(db: &DB) -> Result<u64> {
    let (logs, queue, meta) = (
        db.cf_handle(CF_LOGS)
            .ok_or(StorageError::MissingColumnFamily(CF_LOGS))?,
        db.cf_handle(CF_LOG_QUEUE)
            .ok_or(StorageError::MissingColumnFamily(CF_LOG_QUEUE))?,
        db.cf_handle(CF_META)
            .ok_or(StorageError::MissingColumnFamily(CF_META))?,
    );
    let floor = log_seq_floor(db)?.to_be_bytes();
    let resume = db
        .get_cf(meta, LOG_REQUEUED_THROUGH_KEY)?
        .filter(|v| v.len() == 24 && v[16..] == floor)
        .map(|v| v[..16].to_vec());
    tracing::info!(
        resuming = resume.is_some(),
        "queueing every stored log record for the log index to be rebuilt (the index format changed)"
    );
    let mut opts = rocksdb::ReadOptions::default();
    opts.fill_cache(false);
    let mut it = db.raw_iterator_cf_opt(logs, opts);
    match &resume {
        Some(last) => {
            it.seek(last);
            if it.key() == Some(last.as_slice()) {
                it.next();
            }
        }
        None => it.seek_to_first(),
    }
    let (mut wb, mut queued) = (WriteBatch::default(), 0u64);
    while let Some(key) = it.key() {
        let k = log_key(CF_LOGS, key)?;
        wb.put_cf(queue, queue_key(k.seq, k.time_unix_nano), []);
        queued += 1;
        if queued % 100_000 == 0 {
            wb.put_cf(meta, LOG_REQUEUED_THROUGH_KEY, [key, &floor[..]].concat());
            db.write(std::mem::take(&mut wb))?;
            if queued % 10_000_000 == 0 {
                tracing::info!(queued, "log records queued for the log index so far");
            }
        }
        it.next();
    }
    it.status()?;
    db.write(wb)?;
    db.flush_wal(true)?;
    Ok(queued)
}

/// Removes a directory and what it holds, if it is there.
fn remove_dir_if_present(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

/// The `level` of a log record as Loki names it: the severity text in lower case when it is
/// a known level, else the level of the severity number, else `unknown`.
pub fn log_level(severity_text: &str, severity_number: i32) -> &'static str {
    const LEVELS: [&str; 8] = [
        "trace", "debug", "info", "warn", "error", "fatal", "critical", "warning",
    ];
    if let Some(level) = LEVELS
        .iter()
        .find(|l| l.eq_ignore_ascii_case(severity_text))
    {
        return match *level {
            "warning" => "warn",
            "critical" => "fatal",
            l => l,
        };
    }
    match severity_number {
        1..=4 => "trace",
        5..=8 => "debug",
        9..=12 => "info",
        13..=16 => "warn",
        17..=20 => "error",
        21..=24 => "fatal",
        _ => "unknown",
    }
}

/// A log stream seen in a time range: a resource and a level.
#[derive(Clone, Debug, PartialEq)]
pub struct LogStream {
    pub resource: Arc<Resource>,
    pub level: String,
}

impl crate::LogStreamReader for Store {
    /// The streams (resource, level) with records in the hours of `range`.
    fn log_streams(&self, range: TimeRange) -> Result<Vec<LogStream>> {
        let cf = self.cf(CF_LOG_STREAMS)?;
        let mut opts = ReadOptions::default();
        opts.set_iterate_lower_bound(keys::hour_of(range.start_unix_nano).to_be_bytes().to_vec());
        let end_hour = keys::hour_of(range.end_unix_nano.saturating_sub(1)).saturating_add(1);
        opts.set_iterate_upper_bound(end_hour.to_be_bytes().to_vec());
        let mut it = self.db.raw_iterator_cf_opt(cf, opts);
        it.seek_to_first();
        let mut seen = std::collections::HashSet::new();
        let mut resources = HashMap::new();
        let mut out = Vec::new();
        while let Some(key) = it.key() {
            let id = key
                .get(4..12)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
                .ok_or_else(|| StorageError::Corrupt {
                    cf: CF_LOG_STREAMS,
                    key: hex(key),
                    reason: "key is not hour | resource id | level".into(),
                })?;
            let level = String::from_utf8_lossy(&key[12..]).into_owned();
            if seen.insert((id, level.clone())) {
                out.push(LogStream {
                    resource: self.resolve::<Resource>(CF_RESOURCES, &mut resources, id)?,
                    level,
                });
            }
            it.next();
        }
        it.status()?;
        Ok(out)
    }
}

impl Store {
    /// About how many log records wait for the log index (exact but for records that
    /// retention removed while they waited).
    pub fn pending_logs_estimate(&self) -> Result<u64> {
        Ok(self.log_queue.len.load(Ordering::Relaxed))
    }

    /// Records written but not yet in the log index, in write order, after `after`
    /// (exclusive; `None`: from the first not cleared), at most `limit` (more when the last
    /// shares its sequence number with the next). Only records whose
    /// writes and every earlier log write have committed are returned, so the next call after
    /// the last key returned never misses one.
    pub fn pending_logs(&self, after: Option<LogKey>, limit: usize) -> Result<PendingLogs> {
        let queue = self.cf(CF_LOG_QUEUE)?;
        let from = match after {
            Some(k) => k.seq.saturating_add(1),
            None => self.log_queue.floor.load(Ordering::SeqCst),
        };
        let end = {
            let writing = self.log_queue.lock_writing();
            writing
                .first()
                .copied()
                .unwrap_or_else(|| self.seq.load(Ordering::SeqCst))
        };
        if from >= end {
            return Ok(PendingLogs::default());
        }
        let mut opts = rocksdb::ReadOptions::default();
        opts.set_iterate_lower_bound(from.to_be_bytes().to_vec());
        opts.set_iterate_upper_bound(end.to_be_bytes().to_vec());
        let mut it = self.db.raw_iterator_cf_opt(queue, opts);
        it.seek(from.to_be_bytes());
        let mut keys = Vec::new();
        while let Some(key) = it.key() {
            let (Some(seq), Some(time)) = (be_u64_at(key, 0), be_u64_at(key, 8)) else {
                return Err(StorageError::Corrupt {
                    cf: CF_LOG_QUEUE,
                    key: hex(key),
                    reason: "key is not sequence | time".into(),
                });
            };
            // Never between two entries of one sequence number (records of builds that could
            // number two alike, after the clock went back): the next read starts above it.
            if keys.len() >= limit && keys.last().is_none_or(|k: &LogKey| k.seq != seq) {
                break;
            }
            keys.push(LogKey {
                time_unix_nano: time,
                seq,
            });
            it.next();
        }
        it.status()?;
        drop(it);
        let seqs: Vec<u64> = keys.iter().map(|k| k.seq).collect();
        let records = self.logs_at(&keys, self.fresh_logs.take(&seqs))?;
        Ok(PendingLogs {
            read: keys.len(),
            last: keys.last().copied(),
            records: keys
                .into_iter()
                .zip(records)
                .filter_map(|(k, r)| Some((k, r?)))
                .collect(),
        })
    }

    /// Numbers new log records above `seq` (the log index's highest committed sequence
    /// number, at start: a directory whose clock went back before `log_seq_floor` existed may
    /// hold numbers above the clock).
    pub fn raise_log_seq(&self, seq: u64) {
        self.seq.fetch_max(seq.saturating_add(1), Ordering::SeqCst);
    }

    /// Forgets queued entries once the log index has committed them: everything from the
    /// first not cleared up to `last` (the last key [`Store::pending_logs`] returned and the
    /// index committed), `count` records, with one range deletion.
    pub fn clear_pending_logs(&self, last: LogKey, count: usize) -> Result<()> {
        let queue = self.cf(CF_LOG_QUEUE)?;
        let from = self.log_queue.floor.load(Ordering::SeqCst);
        let to = last.seq.saturating_add(1);
        if to <= from {
            return Ok(());
        }
        let mut wb = WriteBatch::default();
        wb.delete_range_cf(queue, from.to_be_bytes(), to.to_be_bytes());
        let persisted = to.max(self.log_queue.persisted_floor);
        wb.put_cf(
            self.cf(CF_META)?,
            LOG_SEQ_FLOOR_KEY,
            persisted.to_be_bytes(),
        );
        self.write(wb)?;
        self.log_queue.floor.store(to, Ordering::SeqCst);
        let _ = self
            .log_queue
            .len
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(count as u64))
            });
        Ok(())
    }

    /// The records at `keys`, in the same order; `None` for a key with no record (deleted by
    /// retention since it was found).
    pub fn logs_by_key(&self, keys: &[LogKey]) -> Result<Vec<Option<StoredLog>>> {
        self.logs_at(keys, vec![None; keys.len()])
    }

    /// As [`Store::logs_by_key`], given the records of some keys (`known`, in the same
    /// order): only the others are read.
    fn logs_at(
        &self,
        keys: &[LogKey],
        known: Vec<Option<LogRecord>>,
    ) -> Result<Vec<Option<StoredLog>>> {
        let logs = self.cf(CF_LOGS)?;
        let (mut resources, mut scopes) = (HashMap::new(), HashMap::new());
        let raw: Vec<[u8; 16]> = keys
            .iter()
            .map(|k| keys::time_key(k.time_unix_nano, k.seq))
            .collect();
        let unknown = raw.iter().zip(&known).filter(|(_, v)| v.is_none());
        let mut read = self
            .db
            .batched_multi_get_cf(logs, unknown.map(|(key, _)| key), false)
            .into_iter();
        let mut out = Vec::with_capacity(keys.len());
        for ((key, raw), known) in keys.iter().zip(&raw).zip(known) {
            let record: Option<LogRecord> = match known {
                Some(record) => Some(record),
                None => match read.next().transpose()?.flatten() {
                    Some(value) => Some(decode(CF_LOGS, raw, &value)?),
                    None => None,
                },
            };
            out.push(match record {
                Some(record) => Some(self.stored_log(
                    key.time_unix_nano,
                    record,
                    &mut resources,
                    &mut scopes,
                )?),
                None => None,
            });
        }
        Ok(out)
    }
}

impl Store {
    /// A stored record with its resource and scope (resolved through the caches).
    fn stored_log(
        &self,
        time_unix_nano: u64,
        record: LogRecord,
        resources: &mut HashMap<u64, Arc<Resource>>,
        scopes: &mut HashMap<u64, Arc<Scope>>,
    ) -> Result<StoredLog> {
        Ok(StoredLog {
            time_unix_nano,
            resource: self.resolve::<Resource>(CF_RESOURCES, resources, record.resource_id)?,
            scope: self.resolve::<Scope>(CF_SCOPES, scopes, record.scope_id)?,
            record: record.record.unwrap_or_default(),
        })
    }
}

fn be_u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    bytes
        .get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
}

fn log_key(cf: &'static str, key: &[u8]) -> Result<LogKey> {
    match (
        keys::time_of_key(key),
        key.get(8..16).and_then(|b| <[u8; 8]>::try_from(b).ok()),
    ) {
        (Some(time), Some(seq)) if key.len() == 16 => Ok(LogKey {
            time_unix_nano: time,
            seq: u64::from_be_bytes(seq),
        }),
        _ => Err(StorageError::Corrupt {
            cf,
            key: hex(key),
            reason: "key is not time | sequence".into(),
        }),
    }
}

impl LogReader for Store {
    fn logs(&self, range: TimeRange, limit: usize) -> Result<Vec<StoredLog>> {
        let (mut resources, mut scopes) = (HashMap::new(), HashMap::new());
        let mut out = Vec::new();
        self.scan_time(CF_LOGS, range, limit, |time, record: LogRecord| {
            out.push(self.stored_log(time, record, &mut resources, &mut scopes)?);
            Ok(())
        })?;
        Ok(out)
    }
}

impl MetricWriter for Store {
    fn write_metric_points(&self, batch: &Batch<MetricItem>) -> Result<Rejections> {
        let mut rejections = Rejections::default();
        if batch.is_empty() {
            return Ok(rejections);
        }
        let mut wb = WriteBatch::default();
        if self.keep_otlp_points {
            self.put_otlp_points(&mut wb, batch)?;
        }
        let translated = {
            let cache = self.series.translation();
            series::otlp::translate(batch, &|key| cache.get(&key).copied())
        };
        let report = self.series.append(
            &self.db,
            wb,
            &translated.samples,
            &translated.metadata,
            &translated.exemplars,
            &|wb| self.write(wb),
        )?;
        let mut counted = std::collections::HashSet::new();
        for (point, reason, message) in report.rejected_points {
            if point != u32::MAX && counted.insert(point) {
                let reason = match reason {
                    SampleRejection::SeriesLimit => RejectReason::SeriesLimit,
                    SampleRejection::OutOfOrder => RejectReason::OutOfOrderSample,
                };
                rejections.reject(reason, 1, || message);
            }
        }
        Ok(rejections)
    }
}

impl Store {
    fn put_otlp_points(&self, wb: &mut WriteBatch, batch: &Batch<MetricItem>) -> Result<()> {
        self.put_interned(wb, &batch.resources, &batch.scopes)?;
        let points = self.cf(CF_METRIC_POINTS)?;
        let mut buf = Vec::with_capacity(256);
        for item in &batch.items {
            buf.clear();
            item.point
                .encode(&mut buf)
                .map_err(|e| StorageError::Corrupt {
                    cf: CF_METRIC_POINTS,
                    key: item.time_unix_nano.to_string(),
                    reason: e.to_string(),
                })?;
            wb.put_cf(
                points,
                keys::time_key(item.time_unix_nano, self.next_seq()),
                &buf,
            );
        }
        Ok(())
    }
}

impl Store {
    /// Snapshots the series head and drops the write-ahead records it covers; returns the
    /// series snapshotted. Run periodically and at shutdown.
    pub fn checkpoint_series(&self) -> Result<usize> {
        self.series.checkpoint(&self.db)
    }

    /// Series in the index.
    pub fn series_count(&self) -> usize {
        self.series.series_count()
    }

    /// Series with samples in the in-memory head.
    pub fn active_series(&self) -> usize {
        self.series.active_series()
    }

    /// Approximate heap bytes of the series head and index.
    pub fn series_memory_bytes(&self) -> usize {
        self.series.memory_bytes()
    }

    /// Appends samples directly (rule tests, the PromQL test-script runner, recording rules).
    pub fn append_samples(&self, samples: &[series::NewSample]) -> Result<series::AppendReport> {
        self.series
            .append(&self.db, WriteBatch::default(), samples, &[], &[], &|wb| {
                self.write(wb)
            })
    }

    /// Stored samples of the series `keep` accepts (a scan: for tests and tools).
    pub fn count_samples(&self, keep: impl Fn(&Labels) -> bool) -> Result<u64> {
        self.series.count_samples(&self.db, &keep)
    }
}

/// The key prefix of saved dashboards in the `default` column family.
const DASHBOARD_PREFIX: &[u8] = b"dashboard/";

fn dashboard_key(id: &str) -> Vec<u8> {
    let mut k = DASHBOARD_PREFIX.to_vec();
    k.extend_from_slice(id.as_bytes());
    k
}

impl crate::DashboardStore for Store {
    fn dashboards(&self) -> Result<Vec<(String, Vec<u8>)>> {
        let cf = self.cf(CF_META)?;
        let mut it = self.db.raw_iterator_cf(cf);
        it.seek(DASHBOARD_PREFIX);
        let mut out = Vec::new();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            let Some(id) = k.strip_prefix(DASHBOARD_PREFIX) else {
                break;
            };
            out.push((String::from_utf8_lossy(id).into_owned(), v.to_vec()));
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    fn dashboard(&self, id: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get_cf(self.cf(CF_META)?, dashboard_key(id))?)
    }

    fn put_dashboard(&self, id: &str, document: &[u8]) -> Result<()> {
        let mut wb = WriteBatch::default();
        wb.put_cf(self.cf(CF_META)?, dashboard_key(id), document);
        self.write(wb)
    }

    fn delete_dashboard(&self, id: &str) -> Result<bool> {
        let cf = self.cf(CF_META)?;
        let key = dashboard_key(id);
        if self.db.get_cf(cf, &key)?.is_none() {
            return Ok(false);
        }
        let mut wb = WriteBatch::default();
        wb.delete_cf(cf, key);
        self.write(wb)?;
        Ok(true)
    }
}

/// Alert state and history (`alerts`): opaque values the alerting crate encodes.
impl Store {
    /// Every stored alert state, by key.
    pub fn alert_states(&self) -> Result<Vec<(String, Vec<u8>)>> {
        let cf = self.cf(CF_ALERTS)?;
        let mut it = self.db.raw_iterator_cf(cf);
        it.seek(b"s");
        let mut out = Vec::new();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if k.first() != Some(&b's') {
                break;
            }
            out.push((String::from_utf8_lossy(&k[1..]).into_owned(), v.to_vec()));
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    /// Replaces the state under `key` (durable when this returns).
    pub fn put_alert_state(&self, key: &str, value: &[u8]) -> Result<()> {
        let mut k = vec![b's'];
        k.extend_from_slice(key.as_bytes());
        let mut wb = WriteBatch::default();
        wb.put_cf(self.cf(CF_ALERTS)?, k, value);
        self.write(wb)
    }

    pub fn delete_alert_state(&self, key: &str) -> Result<()> {
        let mut k = vec![b's'];
        k.extend_from_slice(key.as_bytes());
        let mut wb = WriteBatch::default();
        wb.delete_cf(self.cf(CF_ALERTS)?, k);
        self.write(wb)
    }

    /// Appends an alert history entry at `at_ms`.
    pub fn record_alert_change(&self, at_ms: i64, entry: &[u8]) -> Result<()> {
        let mut k = vec![b'h'];
        k.extend_from_slice(&((at_ms as u64) ^ (1 << 63)).to_be_bytes());
        k.extend_from_slice(&self.next_seq().to_be_bytes());
        let mut wb = WriteBatch::default();
        wb.put_cf(self.cf(CF_ALERTS)?, k, entry);
        self.write(wb)
    }

    /// History entries in `[from_ms, to_ms]`, newest first, at most `limit`.
    pub fn alert_history(
        &self,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Vec<u8>)>> {
        let cf = self.cf(CF_ALERTS)?;
        let key = |t: i64| {
            let mut k = vec![b'h'];
            k.extend_from_slice(&((t as u64) ^ (1 << 63)).to_be_bytes());
            k
        };
        let mut it = self.db.raw_iterator_cf(cf);
        let mut upper = key(to_ms.saturating_add(1));
        upper.extend_from_slice(&[0; 8]);
        it.seek_for_prev(&upper);
        let mut out = Vec::new();
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if k.first() != Some(&b'h') || k.len() < 9 || out.len() >= limit {
                break;
            }
            let t = (u64::from_be_bytes(k[1..9].try_into().unwrap_or([0; 8])) ^ (1 << 63)) as i64;
            if t < from_ms {
                break;
            }
            if t <= to_ms {
                out.push((t, v.to_vec()));
            }
            it.prev();
        }
        it.status()?;
        Ok(out)
    }
}

impl SeriesReader for Store {
    fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        limits: SelectLimits,
    ) -> Result<Vec<SeriesData>> {
        self.series.select(&self.db, matchers, mint, maxt, limits)
    }

    fn series(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        limits: SelectLimits,
    ) -> Result<Vec<Arc<Labels>>> {
        self.series.series(&self.db, matchers, mint, maxt, limits)
    }

    fn metadata(&self) -> Result<Vec<(String, Metadata)>> {
        Ok(self.series.metadata())
    }

    fn label_values(&self, name: &str) -> Result<Vec<String>> {
        self.series.label_values(&self.db, name)
    }

    fn label_names(&self) -> Result<Vec<String>> {
        self.series.label_names(&self.db)
    }

    fn exemplars(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        limits: SelectLimits,
    ) -> Result<Vec<(Arc<Labels>, Vec<Exemplar>)>> {
        self.series
            .exemplars(&self.db, matchers, mint, maxt, limits)
    }
}

impl MetricReader for Store {
    fn metric_points(&self, range: TimeRange, limit: usize) -> Result<Vec<StoredMetricPoint>> {
        let (mut resources, mut scopes) = (HashMap::new(), HashMap::new());
        let mut out = Vec::new();
        self.scan_time(
            CF_METRIC_POINTS,
            range,
            limit,
            |time, point: MetricPoint| {
                out.push(StoredMetricPoint {
                    time_unix_nano: time,
                    resource: self.resolve::<Resource>(
                        CF_RESOURCES,
                        &mut resources,
                        point.resource_id,
                    )?,
                    scope: self.resolve::<Scope>(CF_SCOPES, &mut scopes, point.scope_id)?,
                    point,
                });
                Ok(())
            },
        )?;
        Ok(out)
    }
}

/// The whole of the store as an iterator over keys, for tests of the layout.
#[cfg(test)]
impl Store {
    fn count(&self, name: &'static str) -> usize {
        let cf = self.cf(name).expect("cf");
        self.db
            .iterator_cf(cf, rocksdb::IteratorMode::Start)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SpanWriter, TraceSearch};
    use lookout_proto::convert::{convert_logs, convert_traces, Limits};
    use lookout_proto::otlp::collector::logs::v1::ExportLogsServiceRequest;
    use lookout_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
    use lookout_proto::otlp::logs::v1::LogRecord as OtlpLog;
    use lookout_proto::requests;

    const DAY_NS: u64 = 24 * keys::HOUR_NS;

    fn span(trace: u8, id: u8, start: u64) -> Span {
        Span {
            trace_id: vec![trace; 16],
            span_id: vec![id; 8],
            name: format!("op-{id}"),
            start_time_unix_nano: start,
            end_time_unix_nano: start + 1_000,
            ..Default::default()
        }
    }

    fn spans_request(spans: Vec<Span>) -> ExportTraceServiceRequest {
        requests::traces(Some("checkout"), spans)
    }

    fn logs_request(times: &[u64]) -> ExportLogsServiceRequest {
        let records = times
            .iter()
            .map(|&t| OtlpLog {
                time_unix_nano: t,
                ..Default::default()
            })
            .collect();
        requests::logs(Some("checkout"), records)
    }

    fn open(dir: &Path) -> Store {
        Store::open(dir, &StorageConfig::default()).unwrap()
    }

    #[test]
    fn trace_spanning_hours_is_read_whole_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let t0 = 1_000 * keys::HOUR_NS - 10;
        let batch = convert_traces(
            spans_request(vec![span(1, 2, t0 + 20), span(1, 1, t0), span(2, 1, t0)]),
            &Limits::default(),
        );
        store.write_spans(&batch.batch).unwrap();
        let trace = store.trace(&TraceId([1; 16])).unwrap();
        let ids: Vec<_> = trace.iter().map(|s| s.span.span_id[0]).collect();
        assert_eq!(ids, vec![1, 2]);
        assert_eq!(trace[0].span.trace_id, vec![1; 16]);
        assert_eq!(trace[0].resource.service_name(), Some("checkout"));
        assert!(store.trace(&TraceId([3; 16])).unwrap().is_empty());
    }

    #[test]
    fn retried_spans_are_not_duplicated() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let batch = convert_traces(spans_request(vec![span(1, 1, DAY_NS)]), &Limits::default());
        store.write_spans(&batch.batch).unwrap();
        store.write_spans(&batch.batch).unwrap();
        assert_eq!(store.trace(&TraceId([1; 16])).unwrap().len(), 1);
        assert_eq!(store.count(CF_RESOURCES), 1);
        assert_eq!(store.count(CF_SCOPES), 1);
        // Kept while anything written lately may refer to them...
        let now = now_unix_nano();
        store.enforce_retention(&Retention::default(), now).unwrap();
        store.compact_all().unwrap();
        assert_eq!(store.count(CF_RESOURCES), 1);
        // ...and collected once nothing written for longer than every retention can.
        let later = now + 31 * DAY_NS;
        store
            .enforce_retention(&Retention::default(), later)
            .unwrap();
        store.compact_all().unwrap();
        assert_eq!((store.count(CF_RESOURCES), store.count(CF_SCOPES)), (0, 0));
    }

    /// Reads the whole queue as the indexer does and clears it; returns the records' times.
    fn drain_queue(store: &Store, batch: usize) -> Vec<u64> {
        let (mut times, mut after, mut read) = (Vec::new(), None, 0);
        loop {
            let pending = store.pending_logs(after, batch).unwrap();
            times.extend(pending.records.iter().map(|(k, _)| k.time_unix_nano));
            read += pending.read;
            after = pending.last.or(after);
            if pending.read < batch {
                break;
            }
        }
        if let Some(last) = after {
            store.clear_pending_logs(last, read).unwrap();
        }
        times
    }

    #[test]
    fn the_log_queue_is_read_in_write_order_and_never_past_a_write_in_progress() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let write = |times: &[u64]| {
            let batch = convert_logs(logs_request(times), &Limits::default(), 0);
            store.write_logs(batch.batch).unwrap();
        };
        // Times out of order across writes: the queue follows the writes, not the times.
        write(&[DAY_NS + 50, DAY_NS + 10]);
        write(&[DAY_NS + 5]);
        assert_eq!(store.pending_logs_estimate().unwrap(), 3);
        assert_eq!(
            drain_queue(&store, 2),
            [DAY_NS + 50, DAY_NS + 10, DAY_NS + 5]
        );
        assert_eq!(store.pending_logs_estimate().unwrap(), 0);
        assert_eq!(drain_queue(&store, 2), Vec::<u64>::new());

        // A write that took its sequence numbers but has not committed holds back the reader,
        // so a later write that committed first is not read (and cleared) ahead of it.
        let in_progress = store.seq.fetch_add(1, Ordering::SeqCst);
        store.log_queue.lock_writing().insert(in_progress);
        write(&[DAY_NS + 7]);
        assert_eq!(drain_queue(&store, 10), Vec::<u64>::new());
        store.log_queue.lock_writing().remove(&in_progress);
        assert_eq!(drain_queue(&store, 10), [DAY_NS + 7]);

        // Across a restart: what was queued and not cleared is read again.
        write(&[DAY_NS + 1, DAY_NS + 2]);
        drop(store);
        let store = open(dir.path());
        assert_eq!(store.pending_logs_estimate().unwrap(), 2);
        assert_eq!(drain_queue(&store, 10), [DAY_NS + 1, DAY_NS + 2]);

        // Records queued by a process whose clock was ahead (sequence numbers seeded from the
        // clock): after a restart, new records still come after them and are read.
        store.seq.store(u64::MAX / 2, Ordering::SeqCst);
        let write = |store: &Store, times: &[u64]| {
            let batch = convert_logs(logs_request(times), &Limits::default(), 0);
            store.write_logs(batch.batch).unwrap();
        };
        write(&store, &[DAY_NS + 3]);
        drop(store);
        let store = open(dir.path());
        write(&store, &[DAY_NS + 4]);
        assert_eq!(drain_queue(&store, 1), [DAY_NS + 3, DAY_NS + 4]);
        write(&store, &[DAY_NS + 5]);
        assert_eq!(drain_queue(&store, 1), [DAY_NS + 5]);

        // And once all of them are cleared too: the next start still numbers above them, so a
        // day's highest indexed sequence number never hides a newer record (log_index).
        let cleared = store.seq.load(Ordering::SeqCst);
        drop(store);
        let store = open(dir.path());
        write(&store, &[DAY_NS + 6]);
        let pending = store.pending_logs(None, 10).unwrap();
        assert_eq!(pending.records.len(), 1);
        assert!(
            pending.records[0].0.seq >= cleared,
            "{:?}",
            pending.records[0].0
        );

        // Above what the log index holds, too (directories from before `log_seq_floor`).
        store.raise_log_seq(u64::MAX - 10);
        write(&store, &[DAY_NS + 7]);
        let pending = store.pending_logs(pending.last, 10).unwrap();
        assert_eq!(pending.records.len(), 1);
        assert!(
            pending.records[0].0.seq > u64::MAX - 10,
            "{:?}",
            pending.records[0].0
        );
    }

    #[test]
    fn reading_the_log_queue_does_not_step_over_cleared_entries() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        // 400 writes of 250 records, indexed as they come: 100 000 entries cleared.
        for round in 0..400u64 {
            let times: Vec<u64> = (0..250).map(|i| DAY_NS + round * 1000 + i).collect();
            let batch = convert_logs(logs_request(&times), &Limits::default(), 0);
            store.write_logs(batch.batch).unwrap();
            assert_eq!(drain_queue(&store, 1000).len(), 250);
        }
        let batch = convert_logs(logs_request(&[DAY_NS + 999]), &Limits::default(), 0);
        store.write_logs(batch.batch).unwrap();
        rocksdb::perf::set_perf_stats(rocksdb::perf::PerfStatsLevel::EnableCount);
        let mut perf = rocksdb::perf::PerfContext::default();
        perf.reset();
        assert_eq!(store.pending_logs(None, 1000).unwrap().read, 1);
        let skipped = perf.metric(rocksdb::perf::PerfMetric::InternalDeleteSkippedCount)
            + perf.metric(rocksdb::perf::PerfMetric::InternalKeySkippedCount);
        rocksdb::perf::set_perf_stats(rocksdb::perf::PerfStatsLevel::Disable);
        // One entry per cleared key (100 000) before the queue had a floor and range deletions.
        assert!(skipped < 10, "{skipped} deleted entries stepped over");
    }

    #[test]
    fn a_format_3_directory_queues_its_records_and_drops_log_pending() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = open(dir.path());
            let batch = convert_logs(
                logs_request(&[DAY_NS + 9, DAY_NS + 3]),
                &Limits::default(),
                0,
            );
            store.write_logs(batch.batch).unwrap();
        }
        {
            // Make it a version 3 directory: the queue's entries in `log_pending` by time.
            let mut opts = rocksdb::Options::default();
            opts.create_missing_column_families(true);
            let mut cfs = ALL_CFS.to_vec();
            cfs.push(CF_LOG_PENDING_V3);
            let db = DB::open_cf(&opts, dir.path(), cfs).unwrap();
            let (queue, pending) = (
                db.cf_handle(CF_LOG_QUEUE).unwrap(),
                db.cf_handle(CF_LOG_PENDING_V3).unwrap(),
            );
            let entries: Vec<_> = db
                .iterator_cf(queue, rocksdb::IteratorMode::Start)
                .map(|e| e.unwrap().0)
                .collect();
            assert_eq!(entries.len(), 2);
            for key in entries {
                let (seq, time) = (be_u64_at(&key, 0).unwrap(), be_u64_at(&key, 8).unwrap());
                db.put_cf(pending, keys::time_key(time, seq), []).unwrap();
                db.delete_cf(queue, &key).unwrap();
            }
            db.put_cf(db.cf_handle(CF_META).unwrap(), FORMAT_KEY, b"3")
                .unwrap();
        }
        let store = open(dir.path());
        assert_eq!(store.pending_logs_estimate().unwrap(), 2);
        let mut times = drain_queue(&store, 10);
        times.sort();
        assert_eq!(times, [DAY_NS + 3, DAY_NS + 9]);
        let meta = store.cf(CF_META).unwrap();
        assert_eq!(
            store.db.get_cf(meta, FORMAT_KEY).unwrap().unwrap(),
            FORMAT_VERSION.to_string().as_bytes()
        );
        drop(store);
        let cfs = DB::list_cf(&rocksdb::Options::default(), dir.path()).unwrap();
        assert!(!cfs.iter().any(|c| c == CF_LOG_PENDING_V3), "{cfs:?}");
    }

    /// The hour the test spans start in.
    fn day() -> TimeRange {
        TimeRange {
            start_unix_nano: DAY_NS,
            end_unix_nano: DAY_NS + keys::HOUR_NS,
        }
    }

    /// The client and server halves of a Zipkin-style shared span: one trace id and span id,
    /// two services and kinds.
    fn shared_halves() -> Vec<ExportTraceServiceRequest> {
        let mut client = span(1, 7, DAY_NS);
        client.kind = 3;
        client.parent_span_id = vec![6; 8];
        let mut server = span(1, 7, DAY_NS + 10);
        server.kind = 2;
        server.parent_span_id = vec![6; 8];
        vec![
            requests::traces(Some("frontend"), vec![client]),
            requests::traces(Some("backend"), vec![server]),
        ]
    }

    #[test]
    fn spans_sharing_an_id_are_both_kept_and_retries_of_each_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        for _ in 0..2 {
            for request in shared_halves() {
                let batch = convert_traces(request, &Limits::default());
                store.write_spans(&batch.batch).unwrap();
            }
        }
        let trace = store.trace(&TraceId([1; 16])).unwrap();
        let halves: Vec<_> = trace
            .iter()
            .map(|s| (s.resource.service_name(), s.span.kind, s.span.span_id[0]))
            .collect();
        assert_eq!(
            halves,
            [(Some("frontend"), 3, 7), (Some("backend"), 2, 7)],
            "both halves, in start order, each once"
        );
        assert_eq!(store.count(CF_SPANS), 2);
        let graph = store.service_graph(day(), None).unwrap();
        let nodes: Vec<_> = graph.nodes.keys().collect();
        assert_eq!(nodes, ["backend", "frontend"]);
    }

    #[test]
    fn a_format_3_directory_is_read_as_it_is_and_marked_current() {
        let dir = tempfile::tempdir().unwrap();
        let requests = shared_halves();
        let server = convert_traces(requests[1].clone(), &Limits::default()).batch;
        {
            // A span written as format 3 wrote it: keys without the content hash.
            let store = open(dir.path());
            let mut wb = WriteBatch::default();
            store
                .put_interned(&mut wb, &server.resources, &server.scopes)
                .unwrap();
            let item = &server.items[0];
            let value = item.record.encode_to_vec();
            let hour = keys::hour_of(item.start_time_unix_nano);
            let key = keys::span_key(hour, &item.trace_id, &item.span_id, 0);
            wb.put_cf(store.cf(CF_SPANS).unwrap(), &key[..28], &value);
            wb.put_cf(
                store.cf(CF_TRACE_HOURS).unwrap(),
                keys::trace_hour_key(&item.trace_id, hour),
                [],
            );
            let mut graph = Vec::new();
            let span = item.record.span.as_ref().unwrap();
            trace_index::encode_graph_value(span, "backend", &mut graph);
            let key = trace_index::graph_key(hour, &item.trace_id, &item.span_id, 0);
            wb.put_cf(store.cf(CF_TRACE_INDEX).unwrap(), &key[..29], &graph);
            let meta = store.cf(CF_META).unwrap();
            wb.put_cf(meta, FORMAT_KEY, b"3");
            store.write(wb).unwrap();
        }
        let store = open(dir.path());
        let meta = store.cf(CF_META).unwrap();
        assert_eq!(
            store.db.get_cf(meta, FORMAT_KEY).unwrap().as_deref(),
            Some(FORMAT_VERSION.to_string().as_bytes())
        );
        assert_eq!(store.trace(&TraceId([1; 16])).unwrap().len(), 1);
        // The exporter retries the old span after the upgrade, and sends the client half.
        store.write_spans(&server).unwrap();
        let client = convert_traces(requests[0].clone(), &Limits::default()).batch;
        store.write_spans(&client).unwrap();
        let trace = store.trace(&TraceId([1; 16])).unwrap();
        let services: Vec<_> = trace.iter().map(|s| s.resource.service_name()).collect();
        assert_eq!(services, [Some("frontend"), Some("backend")]);
        let graph = store.service_graph(day(), None).unwrap();
        assert_eq!(
            graph.nodes["backend"].requests, 1,
            "the retried server span is counted once"
        );
    }

    #[test]
    fn an_upgrade_cut_short_resumes_where_it_got_to_unless_an_older_build_ran_since() {
        for (older_build_ran, queued) in [(false, 2), (true, 3)] {
            let dir = tempfile::tempdir().unwrap();
            let old_index = dir.path().join(OLD_LOG_INDEX_DIR);
            {
                let store = open(dir.path());
                let times = [DAY_NS + 1, DAY_NS + 2, DAY_NS + 3];
                let batch = convert_logs(logs_request(&times), &Limits::default(), 0);
                store.write_logs(batch.batch).unwrap();
                // Indexed and cleared by the build before the upgrade.
                let pending = store.pending_logs(None, 10).unwrap();
                store.clear_pending_logs(pending.last.unwrap(), 3).unwrap();
                // The upgrade queued the first record again, then the power went.
                let first = pending.records[0].0;
                let mut floor = log_seq_floor(&store.db).unwrap();
                if older_build_ran {
                    floor -= 1;
                }
                let mut cursor = keys::time_key(first.time_unix_nano, first.seq).to_vec();
                cursor.extend(floor.to_be_bytes());
                let meta = store.cf(CF_META).unwrap();
                store
                    .db
                    .put_cf(meta, LOG_REQUEUED_THROUGH_KEY, cursor)
                    .unwrap();
                store.db.put_cf(meta, FORMAT_KEY, b"9").unwrap();
                std::fs::create_dir_all(old_index.join("20000")).unwrap();
            }
            let store = open(dir.path());
            assert_eq!(store.pending_logs_estimate().unwrap(), queued);
            assert!(!old_index.exists(), "the index set aside is deleted");
            let meta = store.cf(CF_META).unwrap();
            assert_eq!(
                store.db.get_cf(meta, LOG_REQUEUED_THROUGH_KEY).unwrap(),
                None
            );
        }
    }

    #[test]
    fn a_read_of_the_queue_never_ends_between_records_numbered_alike() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let times = [DAY_NS + 1, DAY_NS + 2];
        let batch = convert_logs(logs_request(&times), &Limits::default(), 0);
        store.write_logs(batch.batch).unwrap();
        // A record an old build numbered like the first after its clock went back.
        let first = store.pending_logs(None, 1).unwrap().records[0].0;
        let value = store
            .db
            .get_cf(
                store.cf(CF_LOGS).unwrap(),
                keys::time_key(first.time_unix_nano, first.seq),
            )
            .unwrap()
            .unwrap();
        let twin = DAY_NS + 7;
        let mut wb = WriteBatch::default();
        wb.put_cf(
            store.cf(CF_LOGS).unwrap(),
            keys::time_key(twin, first.seq),
            value,
        );
        wb.put_cf(
            store.cf(CF_LOG_QUEUE).unwrap(),
            queue_key(first.seq, twin),
            [],
        );
        store.write(wb).unwrap();
        let read = store.pending_logs(None, 1).unwrap();
        assert_eq!(read.read, 2, "both records of the first sequence number");
        assert_eq!(store.pending_logs(read.last, 1).unwrap().read, 1);
    }

    #[test]
    fn the_indexer_gets_each_record_as_stored_whether_kept_in_memory_or_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        // The repeat is not stored: the records after it are numbered without it.
        let times = [DAY_NS + 5, DAY_NS + 5, DAY_NS + 3, DAY_NS + 9];
        let batch = convert_logs(logs_request(&times), &Limits::default(), 0);
        store.write_logs(batch.batch).unwrap();
        let pending = store.pending_logs(None, 100).unwrap();
        let times: Vec<u64> = pending
            .records
            .iter()
            .map(|(_, l)| l.time_unix_nano)
            .collect();
        assert_eq!(times, [DAY_NS + 5, DAY_NS + 3, DAY_NS + 9]);
        let keys: Vec<LogKey> = pending.records.iter().map(|(k, _)| *k).collect();
        let stored = store.logs_by_key(&keys).unwrap();
        for ((key, log), stored) in pending.records.iter().zip(stored) {
            assert_eq!(
                (key.time_unix_nano, Some(log)),
                (log.time_unix_nano, stored.as_ref())
            );
        }
        // A pass that failed reads them again: from `logs` this time, the same.
        assert_eq!(
            store.pending_logs(None, 100).unwrap().records,
            pending.records
        );
    }

    #[test]
    fn logs_scan_by_time_range() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let batch = convert_logs(logs_request(&[30, 10, 20, 10]), &Limits::default(), 99);
        store.write_logs(batch.batch.clone()).unwrap();
        let range = TimeRange {
            start_unix_nano: 10,
            end_unix_nano: 30,
        };
        let times: Vec<_> = store
            .logs(range, 100)
            .unwrap()
            .iter()
            .map(|l| l.time_unix_nano)
            .collect();
        // The two records at 10 are identical: stored once, as Loki does.
        assert_eq!(times, vec![10, 20]);
        assert_eq!(store.logs_deduplicated(), 1);
        assert_eq!(store.logs(TimeRange::ALL, 2).unwrap().len(), 2);
        // An exact retry of the whole export is acknowledged and stores nothing.
        store.write_logs(batch.batch).unwrap();
        assert_eq!(store.logs(TimeRange::ALL, 100).unwrap().len(), 3);
        assert_eq!(store.logs_deduplicated(), 5);
    }

    #[test]
    fn retention_deletes_expired_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let now = 100 * DAY_NS;
        let old = now - 10 * DAY_NS;
        let recent = now - DAY_NS;
        let traces = convert_traces(
            spans_request(vec![span(1, 1, old), span(2, 1, recent)]),
            &Limits::default(),
        );
        store.write_spans(&traces.batch).unwrap();
        store
            .write_logs(convert_logs(logs_request(&[old, recent]), &Limits::default(), 0).batch)
            .unwrap();
        store.enforce_retention(&Retention::default(), now).unwrap();
        assert!(store.trace(&TraceId([1; 16])).unwrap().is_empty());
        assert_eq!(store.trace(&TraceId([2; 16])).unwrap().len(), 1);
        let logs = store.logs(TimeRange::ALL, 10).unwrap();
        assert_eq!(
            logs.iter().map(|l| l.time_unix_nano).collect::<Vec<_>>(),
            vec![recent]
        );
        assert_eq!(store.count(CF_SPANS), 1);
    }

    /// A store in `dir` holding span 1 of trace 1.
    fn store_with_one_span(dir: &Path) -> Store {
        let store = open(dir);
        let batch = convert_traces(spans_request(vec![span(1, 1, DAY_NS)]), &Limits::default());
        store.write_spans(&batch.batch).unwrap();
        store
    }

    #[test]
    fn a_format_8_directory_is_upgraded_and_marked_10() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = store_with_one_span(dir.path());
            let meta = store.cf(CF_META).unwrap();
            store.db.put_cf(meta, FORMAT_KEY, b"8").unwrap();
        }
        let store = open(dir.path());
        let meta = store.cf(CF_META).unwrap();
        assert_eq!(
            store.db.get_cf(meta, FORMAT_KEY).unwrap().as_deref(),
            Some(&b"10"[..])
        );
        assert_eq!(store.trace(&TraceId([1; 16])).unwrap().len(), 1);
    }

    #[test]
    fn a_format_9_directory_rebuilds_its_log_index_from_the_stored_records() {
        use crate::log_index::{index_pending, LogIndex, LogIndexConfig, LogQuery};
        let dir = tempfile::tempdir().unwrap();
        let index_dir = dir.path().join(LOG_INDEX_DIR);
        let found = |index: &LogIndex| {
            let query = LogQuery {
                end_unix_nano: u64::MAX,
                limit: 10,
                ..Default::default()
            };
            index.search(&query).unwrap().unwrap().keys.len()
        };
        let mark_9 = |store: &Store| {
            let meta = store.cf(CF_META).unwrap();
            store.db.put_cf(meta, FORMAT_KEY, b"9").unwrap();
        };
        {
            let store = open(dir.path());
            let times = [DAY_NS + 1, DAY_NS + 2, 3 * DAY_NS];
            let batch = convert_logs(logs_request(&times), &Limits::default(), 0);
            store.write_logs(batch.batch).unwrap();
            let index = LogIndex::open(&index_dir, &LogIndexConfig::default()).unwrap();
            assert_eq!(index_pending(&store, &index, false, 100).unwrap(), 3);
            assert_eq!(
                (found(&index), store.pending_logs_estimate().unwrap()),
                (3, 0)
            );
            mark_9(&store);
        }
        {
            let store = open(dir.path());
            assert!(!index_dir.exists(), "the old index is removed");
            assert_eq!(store.pending_logs_estimate().unwrap(), 3);
            // As if the upgrade had been cut short before recording the version: done again.
            mark_9(&store);
        }
        let store = open(dir.path());
        assert_eq!(store.pending_logs_estimate().unwrap(), 3, "queued once");
        let meta = store.cf(CF_META).unwrap();
        assert_eq!(
            store.db.get_cf(meta, FORMAT_KEY).unwrap().as_deref(),
            Some(&b"10"[..])
        );
        let index = LogIndex::open(&index_dir, &LogIndexConfig::default()).unwrap();
        assert_eq!(index_pending(&store, &index, true, 100).unwrap(), 3);
        assert_eq!(
            (found(&index), store.pending_logs_estimate().unwrap()),
            (3, 0)
        );
    }

    #[test]
    fn reopen_keeps_data_and_rejects_other_format_versions() {
        let dir = tempfile::tempdir().unwrap();
        drop(store_with_one_span(dir.path()));
        {
            let store = open(dir.path());
            assert_eq!(store.trace(&TraceId([1; 16])).unwrap().len(), 1);
            store.probe_writable().unwrap();
            let meta = store.cf(CF_META).unwrap();
            store.db.put_cf(meta, FORMAT_KEY, b"99").unwrap();
        }
        let err = Store::open(dir.path(), &StorageConfig::default()).unwrap_err();
        assert!(matches!(err, StorageError::FormatVersion { .. }), "{err}");
        for refused in ["1", "2", "11"] {
            {
                let db = DB::open_cf(&Options::default(), dir.path(), ALL_CFS).unwrap();
                let meta = db.cf_handle(CF_META).unwrap();
                db.put_cf(meta, FORMAT_KEY, refused.as_bytes()).unwrap();
            }
            let err = Store::open(dir.path(), &StorageConfig::default()).unwrap_err();
            assert!(
                matches!(err, StorageError::FormatVersion { .. }),
                "{refused}: {err}"
            );
        }
    }
}
