//! Prometheus-style series: a label set → series id index with postings, samples in Gorilla
//! chunks, an in-memory head of open chunks made durable by a write-ahead record per write.
//!
//! Write path (one lock, the head's): new series get their index entries, and the batch's
//! samples one `series_wal` record, in one RocksDB write batch; then the samples go into the
//! series' open chunks. A chunk of [`CHUNK_SAMPLES`] samples is written to `chunks` (and its
//! head snapshot deleted). A checkpoint ([`SeriesDb::checkpoint`]) writes every changed open
//! chunk to `h` snapshots and deletes the write-ahead records before it, atomically. On open,
//! snapshots are loaded and the remaining write-ahead records replayed, skipping samples that
//! are already in chunks or snapshots, so nothing acknowledged is lost and nothing doubles.

pub mod chunk;
pub mod otlp;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use rocksdb::{WriteBatch, DB};

use crate::error::{Result, StorageError};
use chunk::ChunkEncoder;

/// New series written (and made visible) together when a batch creates many.
const CREATE_SLICE: usize = 20_000;

/// Samples per closed chunk (Prometheus's number: past it, compression gains little).
pub const CHUNK_SAMPLES: usize = 120;

/// Prometheus's stale marker: a NaN with this exact bit pattern.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

pub fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

pub(crate) const CF_SERIES: &str = "series";
pub(crate) const CF_SERIES_WAL: &str = "series_wal";
pub(crate) const CF_CHUNKS: &str = "chunks";
/// Chunks of samples accepted out of order (same layout as `chunks`), written at checkpoints.
pub(crate) const CF_CHUNKS_OOO: &str = "chunks_ooo";
pub(crate) const CF_EXEMPLARS: &str = "exemplars";

const SEP: u8 = 0xff;

/// Marks a write-ahead sample accepted out of order (series ids never reach bit 63).
const OOO_FLAG: u64 = 1 << 63;

/// The longest time an out-of-order chunk covers (ms): reads of `[mint, maxt]` stop at chunks
/// whose newest sample is past `maxt` by more than this.
const OOO_CHUNK_SPAN_MS: i64 = 3_600_000;

/// A hasher for keys that are already hashes or sequential ids (SipHash costs more than the
/// rest of a lookup here).
#[derive(Clone, Copy, Default)]
pub(crate) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn write_u128(&mut self, n: u128) {
        self.0 = ((n as u64) ^ ((n >> 64) as u64)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type IdMap<V> = HashMap<u64, V, std::hash::BuildHasherDefault<IdHasher>>;

const NONE: (i64, f64) = (i64::MIN, f64::NAN);

/// A series' labels, sorted by name, `__name__` included.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(pub Vec<(String, String)>);

impl Labels {
    /// Sorts by name; the last of repeated names wins.
    pub fn new(mut pairs: Vec<(String, String)>) -> Labels {
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        pairs.dedup_by(|later, earlier| {
            if later.0 == earlier.0 {
                std::mem::swap(later, earlier);
                true
            } else {
                false
            }
        });
        pairs.retain(|(_, v)| !v.is_empty());
        Labels(pairs)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].1.as_str())
    }

    pub fn name(&self) -> &str {
        self.get("__name__").unwrap_or("")
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.0.iter().map(|(n, v)| n.len() + v.len() + 2).sum());
        for (n, v) in &self.0 {
            out.extend_from_slice(n.as_bytes());
            out.push(SEP);
            out.extend_from_slice(v.as_bytes());
            out.push(SEP);
        }
        out
    }

    fn decode(bytes: &[u8]) -> Option<Labels> {
        let mut parts = bytes.split(|b| *b == SEP);
        let mut pairs = Vec::new();
        while let Some(name) = parts.next() {
            if name.is_empty() {
                break;
            }
            let value = parts.next()?;
            pairs.push((
                String::from_utf8(name.to_vec()).ok()?,
                String::from_utf8(value.to_vec()).ok()?,
            ));
        }
        Some(Labels(pairs))
    }

    fn hash(&self) -> u64 {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        for (n, v) in &self.0 {
            h.update(n.as_bytes());
            h.update(&[SEP]);
            h.update(v.as_bytes());
            h.update(&[SEP]);
        }
        h.digest()
    }
}

/// A label matcher of a selector. Regexes are fully anchored by whoever builds them.
#[derive(Clone, Debug)]
pub enum MatchOp {
    Equal(String),
    NotEqual(String),
    Re(regex::Regex),
    NotRe(regex::Regex),
}

#[derive(Clone, Debug)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
}

impl Matcher {
    pub fn equal(name: &str, value: &str) -> Matcher {
        Matcher {
            name: name.into(),
            op: MatchOp::Equal(value.into()),
        }
    }

    pub fn matches(&self, value: &str) -> bool {
        match &self.op {
            MatchOp::Equal(v) => v == value,
            MatchOp::NotEqual(v) => v != value,
            MatchOp::Re(r) => r.is_match(value),
            MatchOp::NotRe(r) => !r.is_match(value),
        }
    }
}

/// Metric metadata, per metric name (the family name: without `_bucket`, `_total`...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metadata {
    pub kind: String,
    pub unit: String,
    pub help: String,
}

/// An exemplar of a sample: a trace that explains it.
#[derive(Clone, Debug, PartialEq)]
pub struct Exemplar {
    pub t: i64,
    pub value: f64,
    /// Labels such as `trace_id` and `span_id`.
    pub labels: Labels,
}

/// A series and its samples (milliseconds, oldest first).
#[derive(Clone, Debug)]
pub struct SeriesData {
    pub labels: Arc<Labels>,
    pub samples: Vec<(i64, f64)>,
}

/// Bounds on one read, checked inside its loops.
#[derive(Clone, Debug)]
pub struct SelectLimits {
    pub max_series: usize,
    pub max_samples: usize,
    pub deadline: Option<Instant>,
    /// Shared by every query of a server: the samples a read loads are taken from it.
    pub budget: Option<Arc<SampleBudget>>,
    /// Keep only the samples an instant selector evaluated at these times reads.
    pub at: Option<Arc<PickAt>>,
}

/// The times (ascending, Unix ms) an instant vector selector is evaluated at, and its
/// lookback: of a series' samples, only the latest at or before each time and within the
/// lookback is read, so a query holds series × steps samples, not every sample of the range
/// (as Prometheus's engine does).
#[derive(Clone, Debug)]
pub struct PickAt {
    pub times: Vec<i64>,
    pub lookback_ms: i64,
}

impl PickAt {
    /// The samples (sorted by time) read at `self.times`, each once.
    pub fn pick(&self, samples: Vec<(i64, f64)>) -> Vec<(i64, f64)> {
        let mut out: Vec<(i64, f64)> = Vec::new();
        for &t in &self.times {
            let i = samples.partition_point(|(st, _)| *st <= t);
            let Some(&(st, v)) = i.checked_sub(1).and_then(|i| samples.get(i)) else {
                continue;
            };
            if st > t - self.lookback_ms && out.last().is_none_or(|(last, _)| *last < st) {
                out.push((st, v));
            }
        }
        out
    }
}

impl SelectLimits {
    pub const NONE: SelectLimits = SelectLimits {
        max_series: usize::MAX,
        max_samples: usize::MAX,
        deadline: None,
        budget: None,
        at: None,
    };
}

/// Samples that all running queries of a server may hold in memory at once, so that their
/// memory is bounded however many run together. A read takes the samples of each series it
/// loads and fails with [`StorageError::Busy`] (retryable) when the budget is spent, giving
/// back what it took; samples a read returned are given back by its caller, with
/// [`SampleBudget::give_back`], when it drops them.
#[derive(Debug)]
pub struct SampleBudget {
    max: usize,
    used: AtomicUsize,
}

impl SampleBudget {
    pub fn new(max: usize) -> Arc<SampleBudget> {
        Arc::new(SampleBudget {
            max,
            used: AtomicUsize::new(0),
        })
    }

    /// Takes `n` samples; `false`, taking nothing, when that would pass the budget.
    pub fn take(&self, n: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|&total| total <= self.max)
            })
            .is_ok()
    }

    pub fn give_back(&self, n: usize) {
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_sub(n))
            });
    }

    /// Samples held now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    pub fn max(&self) -> usize {
        self.max
    }
}

/// What one read took from a [`SampleBudget`]: given back if the read fails, since its
/// samples are dropped with it.
struct Taken<'a> {
    budget: Option<&'a SampleBudget>,
    samples: usize,
}

impl<'a> Taken<'a> {
    fn new(budget: Option<&'a SampleBudget>) -> Taken<'a> {
        Taken { budget, samples: 0 }
    }

    fn take(&mut self, n: usize) -> Result<()> {
        let Some(budget) = self.budget else {
            return Ok(());
        };
        if budget.take(n) {
            self.samples += n;
            return Ok(());
        }
        Err(self.fail(StorageError::Busy(format!(
            "queries running now hold {} samples in memory, the most allowed at once (query.max_samples_in_memory): try again shortly or narrow the query",
            budget.max()
        ))))
    }

    fn fail(&mut self, error: StorageError) -> StorageError {
        if let Some(budget) = self.budget {
            budget.give_back(std::mem::take(&mut self.samples));
        }
        error
    }

    /// The read succeeded: its caller now holds the samples.
    fn keep(mut self) {
        self.samples = 0;
    }
}

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        if let Some(budget) = self.budget {
            budget.give_back(self.samples);
        }
    }
}

/// Limits of the series store.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SeriesConfig {
    /// Series in the store; samples of new series past it are rejected.
    pub max_series: usize,
    /// Series of one metric name; samples of new series past it are rejected.
    pub max_series_per_metric: usize,
    /// Also keep every OTLP metric data point as received (for re-export and debugging); off by
    /// default, as series hold everything Prometheus queries need in a fraction of the space.
    pub keep_otlp_points: bool,
    /// How often open chunks are snapshotted and the write-ahead records before them deleted.
    #[serde(with = "humantime_serde")]
    pub checkpoint_interval: std::time::Duration,
    /// Samples up to this much older than their series' newest are accepted out of order
    /// (Prometheus's `out_of_order_time_window`: several senders, retries and Collector
    /// replicas deliver a series' points out of order); older ones are rejected. 0 disables.
    #[serde(with = "humantime_serde")]
    pub out_of_order_window: std::time::Duration,
}

impl Default for SeriesConfig {
    fn default() -> Self {
        SeriesConfig {
            max_series: 2_000_000,
            max_series_per_metric: 200_000,
            keep_otlp_points: false,
            checkpoint_interval: std::time::Duration::from_secs(300),
            out_of_order_window: std::time::Duration::from_secs(30 * 60),
        }
    }
}

impl SeriesConfig {
    pub fn validate(&self, prefix: &str, problems: &mut Vec<String>) {
        if self.max_series == 0 {
            problems.push(format!("{prefix}.max_series: must be greater than 0"));
        }
        if self.max_series_per_metric == 0 {
            problems.push(format!(
                "{prefix}.max_series_per_metric: must be greater than 0"
            ));
        }
        if self.checkpoint_interval.is_zero() {
            problems.push(format!(
                "{prefix}.checkpoint_interval: must be greater than 0"
            ));
        }
    }
}

/// One sample to append, with the series' labels.
#[derive(Clone, Debug, Default)]
pub struct NewSample {
    /// The series' labels; may be empty when `series` is known.
    pub labels: Labels,
    /// The series id when the caller already knows it (the OTLP translation cache).
    pub series: Option<u64>,
    /// The translation-cache key of the sample's source (0: none): once the series is known,
    /// `key` → id is remembered, so the next point skips building labels.
    pub key: u128,
    pub t: i64,
    pub v: f64,
    /// OTLP delta temporality: `v` is added to the series' last value, unless `start` (ms) is
    /// after it (a gap: the accumulation starts again).
    pub delta_start: Option<i64>,
    /// The OTLP data point the sample came from (for rejection counts).
    pub point: u32,
}

/// Why samples were not appended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleRejection {
    SeriesLimit,
    OutOfOrder,
}

/// What an append did not take: per data point, the first reason.
#[derive(Debug, Default)]
pub struct AppendReport {
    pub rejected_points: Vec<(u32, SampleRejection, String)>,
    pub appended: u64,
}

struct HeadSeries {
    open: ChunkEncoder,
    /// Samples accepted out of order since the last checkpoint (which writes them to
    /// `chunks_ooo`), by time; the first written of a time is kept.
    ooo: std::collections::BTreeMap<i64, f64>,
    /// The newest sample written to `chunks` ((i64::MIN, NaN): none).
    persisted_last: (i64, f64),
    /// Changed since the last checkpoint.
    dirty: bool,
}

struct Head {
    series: IdMap<HeadSeries>,
    wal_seq: u64,
}

#[derive(Default)]
struct Index {
    by_hash: IdMap<Vec<u64>>,
    labels: IdMap<Arc<Labels>>,
    per_metric: HashMap<String, usize>,
    metadata: HashMap<String, Metadata>,
    next_id: u64,
}

impl Index {
    fn find(&self, labels: &Labels, hash: u64) -> Option<u64> {
        self.by_hash
            .get(&hash)?
            .iter()
            .copied()
            .find(|id| self.labels.get(id).is_some_and(|l| **l == *labels))
    }

    fn remove(&mut self, id: u64, labels: &Labels) {
        let hash = labels.hash();
        if let Some(ids) = self.by_hash.get_mut(&hash) {
            ids.retain(|i| *i != id);
            if ids.is_empty() {
                self.by_hash.remove(&hash);
            }
        }
        if let Some(n) = self.per_metric.get_mut(labels.name()) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_metric.remove(labels.name());
            }
        }
        self.labels.remove(&id);
    }

    fn insert(&mut self, id: u64, labels: Arc<Labels>) {
        self.by_hash.entry(labels.hash()).or_default().push(id);
        *self.per_metric.entry(labels.name().to_owned()).or_default() += 1;
        self.labels.insert(id, labels);
        self.next_id = self.next_id.max(id + 1);
    }
}

/// The series store. Shares the RocksDB database of [`crate::Store`].
pub(crate) struct SeriesDb {
    config: SeriesConfig,
    /// Held while new series are created.
    creating: Mutex<()>,
    /// The OTLP translation cache: a sample's source key → its series.
    translation: RwLock<HashMap<u128, u64, std::hash::BuildHasherDefault<IdHasher>>>,
    head: Mutex<Head>,
    index: RwLock<Index>,
    /// Chunks ending before this (ms) are past retention: reads skip them, compaction drops them.
    pub(crate) cutoff_ms: Arc<AtomicI64>,
    /// A failed write could not be undone in the head (see [`SeriesDb::reopen_chunks`]):
    /// checkpoints wait for a restart, whose replay of the write-ahead log is exact.
    checkpoint_blocked: std::sync::atomic::AtomicBool,
    /// Bumped by every collection of expired series: an append that resolved its series ids
    /// before one checks them again (see [`SeriesDb::collect_expired`]).
    collections: std::sync::atomic::AtomicU64,
    /// Series without any sample at the last collection: collected at the next one if still
    /// empty (a series is created just before its first sample is appended).
    empty_at_last_collection: Mutex<BTreeSet<u64>>,
}

fn id_key(prefix: u8, id: u64) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[0] = prefix;
    key[1..].copy_from_slice(&id.to_be_bytes());
    key
}

/// `chunks`: series id (8) | newest sample time (8, sign bit flipped so byte order is numeric).
fn chunk_key(id: u64, max_t: i64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&id.to_be_bytes());
    key[8..].copy_from_slice(&((max_t as u64) ^ (1 << 63)).to_be_bytes());
    key
}

/// The newest sample time in a `chunks` (or `exemplars`) key.
pub(crate) fn chunk_key_time(key: &[u8]) -> Option<i64> {
    let bytes: [u8; 8] = key.get(8..16)?.try_into().ok()?;
    Some((u64::from_be_bytes(bytes) ^ (1 << 63)) as i64)
}

/// A big-endian u64 at `at` in `bytes` (series ids in keys, value bits), if there is one.
fn be_u64(bytes: &[u8], at: usize) -> Option<u64> {
    bytes
        .get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
}

/// `series` key of the next series id, written by each collection of expired series.
const NEXT_ID_KEY: u8 = b'z';

fn posting_prefix(name: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(name.len() + 2);
    key.push(b'p');
    key.extend_from_slice(name.as_bytes());
    key.push(SEP);
    key
}

fn corrupt(cf: &'static str, key: &[u8], reason: &str) -> StorageError {
    StorageError::Corrupt {
        cf,
        key: crate::store::hex(key),
        reason: reason.into(),
    }
}

fn cf<'a>(db: &'a DB, name: &'static str) -> Result<&'a rocksdb::ColumnFamily> {
    db.cf_handle(name)
        .ok_or(StorageError::MissingColumnFamily(name))
}

impl SeriesDb {
    /// Loads the index and rebuilds the head from snapshots and write-ahead records.
    pub(crate) fn open(
        db: &DB,
        config: SeriesConfig,
        cutoff_ms: Arc<AtomicI64>,
    ) -> Result<SeriesDb> {
        let series_cf = cf(db, CF_SERIES)?;
        let mut index = Index::default();
        let mut head = Head {
            series: IdMap::default(),
            wal_seq: 0,
        };
        let mut it = db.raw_iterator_cf(series_cf);
        it.seek([b'i']);
        while let (Some(key), Some(value)) = (it.key(), it.value()) {
            if key.first() != Some(&b'i') {
                break;
            }
            let id = be_u64(key, 1).ok_or_else(|| corrupt(CF_SERIES, key, "bad series key"))?;
            let labels =
                Labels::decode(value).ok_or_else(|| corrupt(CF_SERIES, key, "bad labels"))?;
            index.insert(id, Arc::new(labels));
            it.next();
        }
        // Ids are never reused, even those of collected series (whose chunks may still be on
        // disk until compaction drops them).
        it.seek([NEXT_ID_KEY]);
        if let (Some([NEXT_ID_KEY]), Some(value)) = (it.key(), it.value()) {
            let next = be_u64(value, 0)
                .ok_or_else(|| corrupt(CF_SERIES, &[NEXT_ID_KEY], "bad next id"))?;
            index.next_id = index.next_id.max(next);
        }
        it.seek([b'm']);
        while let (Some(key), Some(value)) = (it.key(), it.value()) {
            if key.first() != Some(&b'm') {
                break;
            }
            let name = String::from_utf8_lossy(&key[1..]).into_owned();
            let mut parts = value.split(|b| *b == SEP);
            let mut next =
                || String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
            let (kind, unit, help) = (next(), next(), next());
            index.metadata.insert(name, Metadata { kind, unit, help });
            it.next();
        }
        it.seek([b'h']);
        while let (Some(key), Some(value)) = (it.key(), it.value()) {
            if key.first() != Some(&b'h') {
                break;
            }
            let id = be_u64(key, 1).ok_or_else(|| corrupt(CF_SERIES, key, "bad head key"))?;
            let open = ChunkEncoder::from_encoded(value)
                .ok_or_else(|| corrupt(CF_SERIES, key, "bad head chunk"))?;
            head.series.insert(
                id,
                HeadSeries {
                    open,
                    ooo: Default::default(),
                    persisted_last: NONE,
                    dirty: false,
                },
            );
            it.next();
        }
        it.status()?;
        drop(it);

        let chunks = cf(db, CF_CHUNKS)?;
        let persisted = |id: u64| -> Result<(i64, f64)> {
            let mut it = db.raw_iterator_cf(chunks);
            it.seek_for_prev(chunk_key(id, i64::MAX));
            let last = match (it.key(), it.value()) {
                (Some(k), Some(v)) if k.get(..8) == Some(&id.to_be_bytes()[..]) => chunk::decode(v)
                    .and_then(|s| s.last().copied())
                    .ok_or_else(|| corrupt(CF_CHUNKS, k, "bad chunk"))?,
                _ => NONE,
            };
            it.status()?;
            Ok(last)
        };
        for (id, s) in head.series.iter_mut() {
            s.persisted_last = persisted(*id)?;
        }

        // Replay the write-ahead records after the last checkpoint.
        let wal = cf(db, CF_SERIES_WAL)?;
        let mut it = db.raw_iterator_cf(wal);
        it.seek_to_first();
        let mut replayed = 0u64;
        while let (Some(key), Some(value)) = (it.key(), it.value()) {
            let seq = key
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| corrupt(CF_SERIES_WAL, key, "bad key"))?;
            head.wal_seq = head.wal_seq.max(seq);
            for sample in WalRecord(value) {
                let (id, t, v) = sample.ok_or_else(|| corrupt(CF_SERIES_WAL, key, "bad record"))?;
                let (id, out_of_order) = (id & !OOO_FLAG, id & OOO_FLAG != 0);
                if !index.labels.contains_key(&id) {
                    continue; // a series collected after this record was written
                }
                let entry = match head.series.entry(id) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(e) => e.insert(HeadSeries {
                        open: ChunkEncoder::new(),
                        ooo: Default::default(),
                        persisted_last: persisted(id)?,
                        dirty: false,
                    }),
                };
                let last = entry.open.last_time().unwrap_or(i64::MIN);
                if out_of_order {
                    // Since the last checkpoint (which wrote the earlier ones to chunks_ooo).
                    entry.ooo.entry(t).or_insert(v);
                    replayed += 1;
                } else if t > last.max(entry.persisted_last.0) {
                    entry.open.append(t, v);
                    entry.dirty = true;
                    replayed += 1;
                }
            }
            it.next();
        }
        it.status()?;
        drop(it);
        if replayed > 0 {
            tracing::info!(samples = replayed, "replayed series write-ahead records");
        }
        Ok(SeriesDb {
            config,
            creating: Mutex::new(()),
            translation: RwLock::new(HashMap::default()),
            head: Mutex::new(head),
            index: RwLock::new(index),
            cutoff_ms,
            checkpoint_blocked: std::sync::atomic::AtomicBool::new(false),
            collections: std::sync::atomic::AtomicU64::new(0),
            empty_at_last_collection: Mutex::new(BTreeSet::new()),
        })
    }

    fn head(&self) -> std::sync::MutexGuard<'_, Head> {
        self.head.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn index_read(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(|p| p.into_inner())
    }

    fn index_write(&self) -> std::sync::RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The translation cache, for [`otlp::translate`].
    pub(crate) fn translation(
        &self,
    ) -> std::sync::RwLockReadGuard<'_, HashMap<u128, u64, std::hash::BuildHasherDefault<IdHasher>>>
    {
        self.translation.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn active_series(&self) -> usize {
        self.head().series.len()
    }

    pub(crate) fn series_count(&self) -> usize {
        self.index_read().labels.len()
    }

    /// Appends samples: `wb` (which may already hold other writes of the same request) gets the
    /// new series and the write-ahead record and is written by `write`; then the head takes the
    /// samples. Metadata changes are written in the same batch.
    pub(crate) fn append(
        &self,
        db: &DB,
        mut wb: WriteBatch,
        samples: &[NewSample],
        metadata: &[(String, Metadata)],
        exemplars: &[(usize, Exemplar)],
        write: &dyn Fn(WriteBatch) -> Result<()>,
    ) -> Result<AppendReport> {
        let series_cf = cf(db, CF_SERIES)?;
        let mut report = AppendReport::default();
        let mut new_metadata = Vec::new();
        let collections = self.collections.load(Ordering::Acquire);
        // Series ids, outside the head lock: most series exist (an index read).
        let mut sample_ids: Vec<Option<u64>> = Vec::with_capacity(samples.len());
        let mut missing: Vec<usize> = Vec::new();
        {
            let index = self.index_read();
            for (name, meta) in metadata {
                if index.metadata.get(name) != Some(meta) {
                    let mut value = Vec::new();
                    for part in [&meta.kind, &meta.unit, &meta.help] {
                        value.extend_from_slice(part.as_bytes());
                        value.push(SEP);
                    }
                    let mut key = vec![b'm'];
                    key.extend_from_slice(name.as_bytes());
                    wb.put_cf(series_cf, key, value);
                    new_metadata.push((name.clone(), meta.clone()));
                }
            }
            for (i, s) in samples.iter().enumerate() {
                let id = match s.series {
                    Some(id) => Some(id),
                    None => index.find(&s.labels, s.labels.hash()),
                };
                if id.is_none() {
                    missing.push(i);
                }
                sample_ids.push(id);
            }
        }
        if !missing.is_empty() {
            self.create_series(db, samples, &missing, &mut sample_ids, &mut report, write)?;
        }
        // Remember where the translated samples went.
        let learned: Vec<(u128, u64)> = samples
            .iter()
            .zip(&sample_ids)
            .filter(|(s, _)| s.key != 0 && s.series.is_none())
            .filter_map(|(s, id)| Some((s.key, (*id)?)))
            .collect();
        if !learned.is_empty() {
            let mut cache = self.translation.write().unwrap_or_else(|p| p.into_inner());
            if cache.len() + learned.len() > self.config.max_series.saturating_mul(4) {
                cache.clear();
            }
            cache.extend(learned);
        }
        let mut head = self.head();
        if self.collections.load(Ordering::Acquire) != collections {
            // Expired series were collected since the ids were resolved: one of them may be
            // gone (its samples would have no labels). Refused as retryable: the retry
            // creates the series again.
            let index = self.index_read();
            if sample_ids
                .iter()
                .flatten()
                .any(|id| !index.labels.contains_key(id))
            {
                return Err(StorageError::Io(std::io::Error::other(
                    "a series of this export was collected as expired while it was written: retry",
                )));
            }
        }
        // The newest (t, v) per series within this batch.
        let mut staged: IdMap<(i64, f64)> = IdMap::default();
        let mut accepted: Vec<(u64, i64, f64)> = Vec::with_capacity(samples.len());
        let mut out_of_order: Vec<(u64, i64, f64)> = Vec::new();
        let window = i64::try_from(self.config.out_of_order_window.as_millis()).unwrap_or(i64::MAX);
        {
            for (s, id) in samples.iter().zip(&sample_ids) {
                let Some(id) = *id else { continue };
                let last = staged.get(&id).copied().or_else(|| {
                    head.series
                        .get(&id)
                        .map(|h| match (h.open.last_time(), h.open.last_value()) {
                            (Some(t), Some(v)) => (t, v),
                            _ => h.persisted_last,
                        })
                });
                let mut v = s.v;
                if let Some(start) = s.delta_start {
                    if let Some((lt, lv)) = last {
                        if start <= lt && !lv.is_nan() {
                            v += lv;
                        }
                    }
                }
                if let Some((lt, lv)) = last {
                    // Within the window (not deltas: they add to the newest value).
                    if s.t < lt && s.delta_start.is_none() && s.t >= lt.saturating_sub(window) {
                        let earlier = head.series.get(&id).and_then(|h| h.ooo.get(&s.t));
                        match earlier {
                            // The same sample again (a retried export).
                            Some(e) if e.to_bits() == v.to_bits() => {}
                            Some(_) => report.rejected_points.push((
                                s.point,
                                SampleRejection::OutOfOrder,
                                format!(
                                    "sample {}at {} ms has another value than the one already stored for that time",
                                    self.of_metric(s, id),
                                    s.t
                                ),
                            )),
                            None => out_of_order.push((id, s.t, v)),
                        }
                        continue;
                    }
                    if s.t < lt
                        || (s.t == lt && lv.to_bits() != v.to_bits() && s.delta_start.is_none())
                    {
                        report.rejected_points.push((
                            s.point,
                            SampleRejection::OutOfOrder,
                            format!(
                                "sample {}at {} ms is older than its series' newest at {lt} ms{}",
                                self.of_metric(s, id),
                                s.t,
                                if s.t == lt {
                                    " (with another value)".to_owned()
                                } else if window > 0 && s.delta_start.is_none() {
                                    format!(
                                        " by more than storage.series.out_of_order_window ({})",
                                        humantime_serde::re::humantime::format_duration(
                                            self.config.out_of_order_window
                                        )
                                    )
                                } else {
                                    String::new()
                                }
                            ),
                        ));
                        continue;
                    }
                    if s.t == lt {
                        continue; // the same sample again (a retried export)
                    }
                }
                staged.insert(id, (s.t, v));
                accepted.push((id, s.t, v));
            }
        }
        if !accepted.is_empty() || !out_of_order.is_empty() {
            head.wal_seq += 1;
            let flagged = out_of_order
                .iter()
                .map(|(id, t, v)| (id | OOO_FLAG, *t, *v));
            let record: Vec<_> = accepted.iter().copied().chain(flagged).collect();
            wb.put_cf(
                cf(db, CF_SERIES_WAL)?,
                head.wal_seq.to_be_bytes(),
                WalRecord::encode(&record),
            );
        }
        if !exemplars.is_empty() {
            let ex_cf = cf(db, CF_EXEMPLARS)?;
            for (i, (sample, ex)) in exemplars.iter().enumerate() {
                let Some(Some(id)) = sample_ids.get(*sample) else {
                    continue;
                };
                let mut key = chunk_key(*id, ex.t).to_vec();
                key.extend_from_slice(&(i as u32).to_be_bytes());
                let mut value = ex.value.to_bits().to_be_bytes().to_vec();
                value.extend_from_slice(&ex.labels.encode());
                wb.put_cf(ex_cf, key, value);
            }
        }
        // Into the head now, under the lock, in write-ahead order; closed chunks go in the same
        // write batch. The write itself runs outside the lock, so concurrent exports commit
        // together (the records' sequence numbers keep replay in head order; a checkpoint
        // taken meanwhile snapshots these samples and its range deletion does not cover the
        // record written after it).
        report.appended = (accepted.len() + out_of_order.len()) as u64;
        for (id, t, v) in out_of_order {
            let s = head.series.entry(id).or_insert_with(|| HeadSeries {
                open: ChunkEncoder::new(),
                ooo: Default::default(),
                persisted_last: NONE,
                dirty: false,
            });
            s.ooo.entry(t).or_insert(v);
        }
        let chunks = cf(db, CF_CHUNKS)?;
        // Chunks closed by this batch, kept until its write succeeds (see `reopen_chunks`).
        let mut closed: Vec<(u64, ChunkEncoder, (i64, f64))> = Vec::new();
        for (id, t, v) in accepted {
            let s = head.series.entry(id).or_insert_with(|| HeadSeries {
                open: ChunkEncoder::new(),
                ooo: Default::default(),
                persisted_last: NONE,
                dirty: false,
            });
            s.open.append(t, v);
            s.dirty = true;
            if s.open.len() >= CHUNK_SAMPLES {
                wb.put_cf(chunks, chunk_key(id, t), s.open.encode());
                wb.delete_cf(series_cf, id_key(b'h', id));
                let full = std::mem::replace(&mut s.open, ChunkEncoder::new());
                closed.push((id, full, s.persisted_last));
                s.persisted_last = (t, v);
                s.dirty = false;
            }
        }
        drop(head);
        // On failure the export is not acknowledged; what the head took stays queryable, and
        // the chunks it closed are opened again: their earlier, acknowledged samples were
        // never written as a chunk, and a checkpoint must still snapshot them.
        if let Err(e) = write(wb) {
            self.reopen_chunks(closed);
            return Err(e);
        }
        if !new_metadata.is_empty() {
            let mut index = self.index_write();
            for (name, meta) in new_metadata {
                index.metadata.insert(name, meta);
            }
        }
        Ok(report)
    }

    /// Undoes the chunk closes of a batch whose write failed: each closed chunk becomes the
    /// series' open chunk again, followed by what was appended since. When another batch has
    /// closed a later chunk of the series meanwhile, the head cannot be put back exactly, and
    /// checkpoints stop until a restart replays the write-ahead log.
    fn reopen_chunks(&self, closed: Vec<(u64, ChunkEncoder, (i64, f64))>) {
        if closed.is_empty() {
            return;
        }
        let mut head = self.head();
        for (id, full, previous_last) in closed {
            let Some(s) = head.series.get_mut(&id) else {
                continue;
            };
            let since = chunk::decode(&s.open.encode()).unwrap_or_default();
            let untouched = full.last_time().is_some_and(|t| s.persisted_last.0 == t);
            if !untouched {
                self.checkpoint_blocked.store(true, Ordering::Relaxed);
                tracing::error!(
                    series = id,
                    "a failed write could not be undone in the series head: checkpoints stop until a restart"
                );
                continue;
            }
            let mut reopened = full;
            for (t, v) in since {
                reopened.append(t, v);
            }
            s.open = reopened;
            s.persisted_last = previous_last;
            s.dirty = true;
        }
    }

    /// "of <metric name> " for a rejection message: from the sample's labels, or from the index
    /// for a sample the translation cache sent without them.
    fn of_metric(&self, s: &NewSample, id: u64) -> String {
        let from_index;
        let name = match s.labels.name() {
            "" => {
                from_index = self.index_read().labels.get(&id).cloned();
                from_index.as_deref().map_or("", Labels::name)
            }
            name => name,
        };
        match name {
            "" => String::new(),
            name => format!("of {name} "),
        }
    }

    /// Creates the series of `samples[missing]` (those over a limit are rejected), durably
    /// and before any sample refers to them, and fills in their ids.
    ///
    /// Linear in the number of new series (one map of the batch's new label sets), and written
    /// in slices of [`CREATE_SLICE`] series, each made visible once durable: a batch creating a
    /// million series neither holds one huge RocksDB write (which every other writer of the
    /// database would queue behind) nor the index lock for its whole length.
    fn create_series(
        &self,
        db: &DB,
        samples: &[NewSample],
        missing: &[usize],
        sample_ids: &mut [Option<u64>],
        report: &mut AppendReport,
        write: &dyn Fn(WriteBatch) -> Result<()>,
    ) -> Result<()> {
        let series_cf = cf(db, CF_SERIES)?;
        // The batch's new label sets → their ids (a sample may name a series created earlier
        // in the same batch).
        let mut created_in_batch: HashMap<&Labels, u64> = HashMap::new();
        let mut pending = missing;
        while !pending.is_empty() {
            // One creator at a time per slice (ids are allocated in order): another batch that
            // creates series waits for one slice, not for all of this batch. Readers of the
            // index are blocked only by each slice's insert.
            let _creating = self.creating.lock().unwrap_or_else(|p| p.into_inner());
            // New series of this slice per metric (earlier slices are in the index by now).
            let mut per_metric_new: HashMap<&str, usize> = HashMap::new();
            let mut wb = WriteBatch::default();
            let mut created: Vec<(u64, Arc<Labels>)> = Vec::new();
            {
                let index = self.index_read();
                let mut next_id = index.next_id;
                let mut taken = 0;
                for &i in pending {
                    if created.len() == CREATE_SLICE {
                        break;
                    }
                    taken += 1;
                    let s = &samples[i];
                    let known = index
                        .find(&s.labels, s.labels.hash())
                        .or_else(|| created_in_batch.get(&s.labels).copied());
                    if let Some(id) = known {
                        sample_ids[i] = Some(id);
                        continue;
                    }
                    let name = s.labels.name();
                    let metric_count = index.per_metric.get(name).copied().unwrap_or(0)
                        + per_metric_new.get(name).copied().unwrap_or(0);
                    if index.labels.len() + created.len() >= self.config.max_series {
                        report.rejected_points.push((
                            s.point,
                            SampleRejection::SeriesLimit,
                            format!(
                                "series limit of {} reached (storage.series.max_series)",
                                self.config.max_series
                            ),
                        ));
                        continue;
                    }
                    if metric_count >= self.config.max_series_per_metric {
                        report.rejected_points.push((
                            s.point,
                            SampleRejection::SeriesLimit,
                            format!(
                                "metric {name} has {} series (storage.series.max_series_per_metric)",
                                self.config.max_series_per_metric
                            ),
                        ));
                        continue;
                    }
                    let id = next_id;
                    next_id += 1;
                    *per_metric_new.entry(name).or_default() += 1;
                    let labels = Arc::new(s.labels.clone());
                    let encoded = labels.encode();
                    let mut key = vec![b'n'];
                    key.extend_from_slice(&encoded);
                    wb.put_cf(series_cf, key, id.to_be_bytes());
                    wb.put_cf(series_cf, id_key(b'i', id), &encoded);
                    for (n, v) in labels.iter() {
                        let mut key = posting_prefix(n);
                        key.extend_from_slice(v.as_bytes());
                        key.push(SEP);
                        key.extend_from_slice(&id.to_be_bytes());
                        wb.put_cf(series_cf, key, []);
                    }
                    created.push((id, labels));
                    created_in_batch.insert(&s.labels, id);
                    sample_ids[i] = Some(id);
                }
                pending = &pending[taken..];
            }
            if created.is_empty() {
                continue;
            }
            write(wb)?;
            let mut index = self.index_write();
            for (id, labels) in created {
                index.insert(id, labels);
            }
        }
        Ok(())
    }

    /// Collects the series whose newest sample is before `cutoff_ms` (past retention), as
    /// Prometheus's head garbage collection: their index entries (label set, postings, labels)
    /// and head snapshot are deleted and they leave memory, so label names and values no longer
    /// list them and `max_series` counts only live series. Their chunks are past retention and
    /// go with compaction. Returns how many were collected.
    pub(crate) fn collect_expired(&self, db: &DB, cutoff_ms: i64) -> Result<usize> {
        // No series is created meanwhile (a new series may have the label set of one being
        // collected: its `n` key must not be deleted after it was written).
        let _creating = self.creating.lock().unwrap_or_else(|p| p.into_inner());
        let chunks = cf(db, CF_CHUNKS)?;
        let newest_chunk = |id: u64| -> Result<Option<i64>> {
            let mut it = db.raw_iterator_cf(chunks);
            it.seek_for_prev(chunk_key(id, i64::MAX));
            let found = match it.key() {
                Some(k) if k.get(..8) == Some(&id.to_be_bytes()[..]) => chunk_key_time(k),
                _ => None,
            };
            it.status()?;
            Ok(found)
        };
        let head_newest = |s: &HeadSeries| -> Option<i64> {
            [
                s.open.last_time(),
                s.ooo.keys().next_back().copied(),
                (s.persisted_last.0 != NONE.0).then_some(s.persisted_last.0),
            ]
            .into_iter()
            .flatten()
            .max()
        };
        // Candidates, without the head lock for the disk reads.
        let ids: Vec<u64> = self.index_read().labels.keys().copied().collect();
        let mut candidates = Vec::new();
        let mut empty = BTreeSet::new();
        for id in ids {
            let in_head = self.head().series.get(&id).map(head_newest);
            let newest = match in_head {
                Some(newest) => newest,
                None => newest_chunk(id)?,
            };
            match newest {
                Some(t) if t < cutoff_ms => candidates.push(id),
                Some(_) => {}
                None => {
                    empty.insert(id);
                }
            }
        }
        {
            let mut last = self
                .empty_at_last_collection
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            candidates.extend(empty.intersection(&last).copied());
            *last = empty;
        }
        if candidates.is_empty() {
            return Ok(0);
        }
        // Under the head lock: a candidate that got a sample since is kept.
        let mut head = self.head();
        let series_cf = cf(db, CF_SERIES)?;
        let mut wb = WriteBatch::default();
        let mut collected = Vec::with_capacity(candidates.len());
        {
            let index = self.index_read();
            for id in candidates {
                if let Some(s) = head.series.get(&id) {
                    if head_newest(s).is_some_and(|t| t >= cutoff_ms) {
                        continue;
                    }
                }
                let Some(labels) = index.labels.get(&id).cloned() else {
                    continue;
                };
                let encoded = labels.encode();
                let mut key = vec![b'n'];
                key.extend_from_slice(&encoded);
                wb.delete_cf(series_cf, key);
                wb.delete_cf(series_cf, id_key(b'i', id));
                wb.delete_cf(series_cf, id_key(b'h', id));
                for (n, v) in labels.iter() {
                    let mut key = posting_prefix(n);
                    key.extend_from_slice(v.as_bytes());
                    key.push(SEP);
                    key.extend_from_slice(&id.to_be_bytes());
                    wb.delete_cf(series_cf, key);
                }
                collected.push((id, labels));
            }
            wb.put_cf(series_cf, [NEXT_ID_KEY], index.next_id.to_be_bytes());
        }
        if collected.is_empty() {
            return Ok(0);
        }
        db.write(wb)?;
        {
            let mut index = self.index_write();
            for (id, labels) in &collected {
                index.remove(*id, labels);
                head.series.remove(id);
            }
        }
        self.collections.fetch_add(1, Ordering::AcqRel);
        drop(head);
        // Cached translations may name collected series: learn them again.
        self.translation
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        Ok(collected.len())
    }

    /// Snapshots changed open chunks and deletes the write-ahead records they cover.
    pub(crate) fn checkpoint(&self, db: &DB) -> Result<usize> {
        if self.checkpoint_blocked.load(Ordering::Relaxed) {
            return Err(StorageError::Io(std::io::Error::other(
                "series checkpoints are stopped after a failed write: restart to replay the write-ahead log",
            )));
        }
        let series_cf = cf(db, CF_SERIES)?;
        let mut head = self.head();
        let mut wb = WriteBatch::default();
        let mut n = 0;
        for (id, s) in head.series.iter_mut().filter(|(_, s)| s.dirty) {
            if s.open.is_empty() {
                wb.delete_cf(series_cf, id_key(b'h', *id));
            } else {
                wb.put_cf(series_cf, id_key(b'h', *id), s.open.encode());
            }
            s.dirty = false;
            n += 1;
        }
        // Out-of-order samples become chunks, in the same batch as the deletion of the
        // write-ahead records that hold them.
        let ooo_cf = cf(db, CF_CHUNKS_OOO)?;
        let mut taken = Vec::new();
        for (id, s) in head.series.iter_mut().filter(|(_, s)| !s.ooo.is_empty()) {
            let samples = std::mem::take(&mut s.ooo);
            for (max_t, chunk) in ooo_chunks(&samples) {
                wb.put_cf(ooo_cf, chunk_key(*id, max_t), chunk);
            }
            taken.push((*id, samples));
        }
        wb.delete_range_cf(
            cf(db, CF_SERIES_WAL)?,
            0u64.to_be_bytes(),
            (head.wal_seq + 1).to_be_bytes(),
        );
        if let Err(e) = db.write(wb) {
            for s in head.series.values_mut() {
                s.dirty = true;
            }
            for (id, samples) in taken {
                if let Some(s) = head.series.get_mut(&id) {
                    s.ooo.extend(samples);
                }
            }
            return Err(e.into());
        }
        Ok(n + taken.len())
    }

    /// Ids of the series matching every matcher (at least one must not match the empty string).
    fn matching_ids(
        &self,
        db: &DB,
        matchers: &[Matcher],
        deadline: Option<Instant>,
    ) -> Result<Vec<u64>> {
        let series_cf = cf(db, CF_SERIES)?;
        let mut positive: Option<BTreeSet<u64>> = None;
        let mut scans = 0usize;
        let mut scan =
            |name: &str, keep: &dyn Fn(&str) -> bool, out: &mut BTreeSet<u64>| -> Result<()> {
                let prefix = posting_prefix(name);
                let mut it = db.raw_iterator_cf(series_cf);
                it.seek(&prefix);
                let mut last_value: Vec<u8> = Vec::new();
                let mut last_keep = false;
                while let Some(key) = it.key() {
                    if !key.starts_with(&prefix) || key.len() < prefix.len() + 9 {
                        break;
                    }
                    scans += 1;
                    if scans.is_multiple_of(4096) && crate::cancel::expired(deadline) {
                        return Err(StorageError::Timeout);
                    }
                    let value = &key[prefix.len()..key.len() - 9];
                    if value != last_value.as_slice() {
                        last_value.clear();
                        last_value.extend_from_slice(value);
                        last_keep = keep(&String::from_utf8_lossy(value));
                    }
                    if last_keep {
                        if let Ok(b) = key[key.len() - 8..].try_into() {
                            out.insert(u64::from_be_bytes(b));
                        }
                    }
                    it.next();
                }
                it.status()?;
                Ok(())
            };
        // Positive matchers first (they do not match ""): intersect their postings.
        for m in matchers.iter().filter(|m| !m.matches("")) {
            let mut ids = BTreeSet::new();
            if let MatchOp::Equal(v) = &m.op {
                let wanted = v.clone();
                scan(&m.name, &move |x| x == wanted, &mut ids)?;
            } else {
                scan(&m.name, &|x| m.matches(x), &mut ids)?;
            }
            positive = Some(match positive {
                None => ids,
                Some(p) => p.intersection(&ids).copied().collect(),
            });
        }
        let mut result = match positive {
            Some(p) => p,
            None => self.index_read().labels.keys().copied().collect(),
        };
        // Matchers that match "": drop series that have the label with a value they reject.
        for m in matchers.iter().filter(|m| m.matches("")) {
            let mut rejected = BTreeSet::new();
            scan(&m.name, &|x| !m.matches(x), &mut rejected)?;
            result.retain(|id| !rejected.contains(id));
        }
        Ok(result.into_iter().collect())
    }

    /// Matching series with their samples in `[mint, maxt]` (ms); series without samples there
    /// are left out.
    pub(crate) fn select(
        &self,
        db: &DB,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        limits: SelectLimits,
    ) -> Result<Vec<SeriesData>> {
        let ids = self.matching_ids(db, matchers, limits.deadline)?;
        let mint = mint.max(self.cutoff_ms.load(Ordering::Relaxed));
        let chunks = cf(db, CF_CHUNKS)?;
        let mut out = Vec::new();
        let mut total = 0usize;
        let mut taken = Taken::new(limits.budget.as_deref());
        for id in ids {
            if crate::cancel::expired(limits.deadline) {
                return Err(StorageError::Timeout);
            }
            let Some(labels) = self.index_read().labels.get(&id).cloned() else {
                continue;
            };
            let mut samples = Vec::new();
            let mut it = db.raw_iterator_cf(chunks);
            it.seek(chunk_key(id, mint));
            while let (Some(key), Some(value)) = (it.key(), it.value()) {
                if key.get(..8) != Some(&id.to_be_bytes()[..]) {
                    break;
                }
                let decoded =
                    chunk::decode(value).ok_or_else(|| corrupt(CF_CHUNKS, key, "bad chunk"))?;
                let past_end = decoded.first().is_some_and(|(t, _)| *t > maxt);
                samples.extend(
                    decoded
                        .into_iter()
                        .filter(|(t, _)| *t >= mint && *t <= maxt),
                );
                if past_end {
                    break;
                }
                it.next();
            }
            it.status()?;
            drop(it);
            let mut ooo = ooo_chunk_samples(db, id, mint, maxt)?;
            let (open, ooo_head) = match self.head().series.get(&id) {
                Some(s) => (
                    Some(s.open.encode()),
                    s.ooo
                        .range(mint..=maxt)
                        .map(|(t, v)| (*t, *v))
                        .collect::<Vec<_>>(),
                ),
                None => (None, Vec::new()),
            };
            ooo.extend(ooo_head);
            if let Some(open) = open {
                let decoded = chunk::decode(&open).unwrap_or_default();
                let after = samples.last().map(|(t, _)| *t).unwrap_or(i64::MIN);
                samples.extend(
                    decoded
                        .into_iter()
                        .filter(|(t, _)| *t >= mint && *t <= maxt && *t > after),
                );
            }
            let mut samples = merge_out_of_order(samples, ooo);
            if let Some(at) = &limits.at {
                samples = at.pick(samples);
            }
            if samples.is_empty() {
                continue;
            }
            total += samples.len();
            if total > limits.max_samples {
                return Err(taken.fail(StorageError::Limit(format!(
                    "query loads more than {} samples",
                    limits.max_samples
                ))));
            }
            taken.take(samples.len())?;
            out.push(SeriesData { labels, samples });
            if out.len() > limits.max_series {
                return Err(taken.fail(StorageError::Limit(format!(
                    "query selects more than {} series",
                    limits.max_series
                ))));
            }
        }
        taken.keep();
        Ok(out)
    }

    /// Matching series that have samples in `[mint, maxt]` (label sets only).
    pub(crate) fn series(
        &self,
        db: &DB,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        limits: SelectLimits,
    ) -> Result<Vec<Arc<Labels>>> {
        let ids = self.matching_ids(db, matchers, limits.deadline)?;
        let chunks = cf(db, CF_CHUNKS)?;
        let mint = mint.max(self.cutoff_ms.load(Ordering::Relaxed));
        let mut out = Vec::new();
        for id in ids {
            if crate::cancel::expired(limits.deadline) {
                return Err(StorageError::Timeout);
            }
            let in_head = self.head().series.get(&id).is_some_and(|s| {
                let in_open = match (s.open.first_time(), s.open.last_time()) {
                    (Some(a), Some(b)) => a <= maxt && b >= mint,
                    _ => false,
                };
                in_open || s.ooo.range(mint..=maxt).next().is_some()
            });
            let in_chunks = !in_head && {
                let mut it = db.raw_iterator_cf(chunks);
                it.seek(chunk_key(id, mint));
                let found = match (it.key(), it.value()) {
                    (Some(k), Some(v)) if k.get(..8) == Some(&id.to_be_bytes()[..]) => v
                        .get(2..10)
                        .and_then(|b| b.try_into().ok())
                        .map(i64::from_be_bytes)
                        .is_some_and(|first| first <= maxt),
                    _ => false,
                };
                it.status()?;
                found || !ooo_chunk_samples(db, id, mint, maxt)?.is_empty()
            };
            if in_head || in_chunks {
                if let Some(labels) = self.index_read().labels.get(&id) {
                    out.push(Arc::clone(labels));
                }
                if out.len() >= limits.max_series {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Distinct values of label `name` over every series in the index, from the postings
    /// (one seek per value, no samples read).
    pub(crate) fn label_values(&self, db: &DB, name: &str) -> Result<Vec<String>> {
        let prefix = posting_prefix(name);
        let mut it = db.raw_iterator_cf(cf(db, CF_SERIES)?);
        it.seek(&prefix);
        let mut out = Vec::new();
        while let Some(key) = it.key() {
            if !key.starts_with(&prefix) {
                break;
            }
            let rest = &key[prefix.len()..];
            let Some(end) = rest.iter().position(|b| *b == SEP) else {
                break;
            };
            out.push(String::from_utf8_lossy(&rest[..end]).into_owned());
            // Past every id of this value.
            let mut next = key[..prefix.len() + end + 1].to_vec();
            next.extend_from_slice(&[0xff; 9]);
            it.seek(&next);
        }
        it.status()?;
        Ok(out)
    }

    /// Distinct label names over every series in the index (one seek per name).
    pub(crate) fn label_names(&self, db: &DB) -> Result<Vec<String>> {
        let mut it = db.raw_iterator_cf(cf(db, CF_SERIES)?);
        it.seek([b'p']);
        let mut out = Vec::new();
        while let Some(key) = it.key() {
            if key.first() != Some(&b'p') {
                break;
            }
            let Some(end) = key[1..].iter().position(|b| *b == SEP) else {
                break;
            };
            out.push(String::from_utf8_lossy(&key[1..1 + end]).into_owned());
            let mut next = key[..1 + end + 1].to_vec();
            next.push(0xff);
            it.seek(&next);
        }
        it.status()?;
        Ok(out)
    }

    pub(crate) fn metadata(&self) -> Vec<(String, Metadata)> {
        let mut out: Vec<_> = self
            .index_read()
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    pub(crate) fn exemplars(
        &self,
        db: &DB,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        limits: SelectLimits,
    ) -> Result<Vec<(Arc<Labels>, Vec<Exemplar>)>> {
        let ids = self.matching_ids(db, matchers, limits.deadline)?;
        let ex_cf = cf(db, CF_EXEMPLARS)?;
        let mut out = Vec::new();
        for id in ids {
            let mut found = Vec::new();
            let mut it = db.raw_iterator_cf(ex_cf);
            it.seek(chunk_key(id, mint));
            while let (Some(key), Some(value)) = (it.key(), it.value()) {
                if key.get(..8) != Some(&id.to_be_bytes()[..]) {
                    break;
                }
                let t = chunk_key_time(key).unwrap_or(i64::MAX);
                if t > maxt {
                    break;
                }
                let v = be_u64(value, 0)
                    .map(f64::from_bits)
                    .ok_or_else(|| corrupt(CF_EXEMPLARS, key, "bad exemplar"))?;
                let labels = Labels::decode(&value[8..])
                    .ok_or_else(|| corrupt(CF_EXEMPLARS, key, "bad exemplar labels"))?;
                found.push(Exemplar {
                    t,
                    value: v,
                    labels,
                });
                it.next();
            }
            it.status()?;
            if !found.is_empty() {
                if let Some(labels) = self.index_read().labels.get(&id) {
                    out.push((Arc::clone(labels), found));
                }
            }
        }
        Ok(out)
    }

    /// Samples in the head and in chunks (a scan: tests and tools).
    pub(crate) fn count_samples(&self, db: &DB, keep: &dyn Fn(&Labels) -> bool) -> Result<u64> {
        let index = self.index_read();
        let kept = |id: u64| index.labels.get(&id).is_some_and(|l| keep(l));
        let mut n: u64 = self
            .head()
            .series
            .iter()
            .filter(|(id, _)| kept(**id))
            .map(|(_, s)| (s.open.len() + s.ooo.len()) as u64)
            .sum();
        for name in [CF_CHUNKS, CF_CHUNKS_OOO] {
            let mut it = db.raw_iterator_cf(cf(db, name)?);
            it.seek_to_first();
            while let (Some(k), Some(v)) = (it.key(), it.value()) {
                let id = be_u64(k, 0).unwrap_or(u64::MAX);
                if !kept(id) {
                    it.next();
                    continue;
                }
                n += v
                    .get(..2)
                    .and_then(|b| b.try_into().ok())
                    .map(u16::from_be_bytes)
                    .unwrap_or(0) as u64;
                it.next();
            }
            it.status()?;
        }
        Ok(n)
    }

    /// Approximate heap bytes of the head and the in-memory index.
    pub(crate) fn memory_bytes(&self) -> usize {
        let head: usize = self
            .head()
            .series
            .values()
            .map(|s| {
                s.open.heap_bytes() + s.ooo.len() * 40 + std::mem::size_of::<HeadSeries>() + 16
            })
            .sum();
        let index = self.index_read();
        let labels: usize = index
            .labels
            .values()
            .map(|l| {
                64 + l.0.len() * 48 + l.0.iter().map(|(n, v)| n.len() + v.len()).sum::<usize>()
            })
            .sum();
        head + labels + index.by_hash.len() * 48
    }
}

/// Out-of-order samples (sorted by time) as chunks of at most [`CHUNK_SAMPLES`] samples over
/// at most [`OOO_CHUNK_SPAN_MS`], each with its newest time (its key).
fn ooo_chunks(samples: &std::collections::BTreeMap<i64, f64>) -> Vec<(i64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut chunk = ChunkEncoder::new();
    for (&t, &v) in samples {
        let full = chunk.len() >= CHUNK_SAMPLES
            || chunk
                .first_time()
                .is_some_and(|first| t.saturating_sub(first) > OOO_CHUNK_SPAN_MS);
        if full {
            if let Some(last) = chunk.last_time() {
                out.push((last, chunk.encode()));
            }
            chunk = ChunkEncoder::new();
        }
        chunk.append(t, v);
    }
    if let Some(last) = chunk.last_time() {
        out.push((last, chunk.encode()));
    }
    out
}

/// Samples of series `id` in `[mint, maxt]` from its out-of-order chunks (unsorted).
fn ooo_chunk_samples(db: &DB, id: u64, mint: i64, maxt: i64) -> Result<Vec<(i64, f64)>> {
    let mut out = Vec::new();
    let mut it = db.raw_iterator_cf(cf(db, CF_CHUNKS_OOO)?);
    it.seek(chunk_key(id, mint));
    while let (Some(key), Some(value)) = (it.key(), it.value()) {
        if key.get(..8) != Some(&id.to_be_bytes()[..]) {
            break;
        }
        if chunk_key_time(key).is_some_and(|newest| newest > maxt.saturating_add(OOO_CHUNK_SPAN_MS))
        {
            break;
        }
        let decoded =
            chunk::decode(value).ok_or_else(|| corrupt(CF_CHUNKS_OOO, key, "bad chunk"))?;
        out.extend(
            decoded
                .into_iter()
                .filter(|(t, _)| *t >= mint && *t <= maxt),
        );
        it.next();
    }
    it.status()?;
    Ok(out)
}

/// Merges out-of-order samples into a series' in-order samples (both within one range): by
/// time; of samples with the same time, an in-order one wins, else the first written.
fn merge_out_of_order(in_order: Vec<(i64, f64)>, mut ooo: Vec<(i64, f64)>) -> Vec<(i64, f64)> {
    if ooo.is_empty() {
        return in_order;
    }
    ooo.sort_by_key(|(t, _)| *t);
    ooo.dedup_by_key(|(t, _)| *t);
    let mut out = Vec::with_capacity(in_order.len() + ooo.len());
    let mut late = ooo.into_iter().peekable();
    for (t, v) in in_order {
        while let Some(&(lt, lv)) = late.peek() {
            if lt > t {
                break;
            }
            if lt < t {
                out.push((lt, lv));
            }
            late.next();
        }
        out.push((t, v));
    }
    out.extend(late);
    out
}

/// A write-ahead record: samples as (series id, time ms, value bits), 24 bytes each; the id's
/// top bit marks a sample accepted out of order.
struct WalRecord<'a>(&'a [u8]);

impl WalRecord<'_> {
    fn encode(samples: &[(u64, i64, f64)]) -> Vec<u8> {
        let mut out = Vec::with_capacity(samples.len() * 24);
        for (id, t, v) in samples {
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&t.to_be_bytes());
            out.extend_from_slice(&v.to_bits().to_be_bytes());
        }
        out
    }
}

impl Iterator for WalRecord<'_> {
    type Item = Option<(u64, i64, f64)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let Some((head, rest)) = self.0.split_at_checked(24) else {
            self.0 = &[];
            return Some(None);
        };
        self.0 = rest;
        let word = |i: usize| u64::from_be_bytes(head[i..i + 8].try_into().unwrap_or([0; 8]));
        Some(Some((word(0), word(8) as i64, f64::from_bits(word(16)))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SeriesReader, StorageConfig, Store};

    fn open(dir: &std::path::Path, config: SeriesConfig) -> Store {
        let storage = StorageConfig {
            series: config,
            ..Default::default()
        };
        Store::open(dir, &storage).unwrap()
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::new(
            pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn sample(l: &Labels, t: i64, v: f64) -> NewSample {
        NewSample {
            labels: l.clone(),
            t,
            v,
            delta_start: None,
            point: 0,
            ..Default::default()
        }
    }

    fn re(s: &str) -> regex::Regex {
        regex::Regex::new(&format!("^(?:{s})$")).unwrap()
    }

    fn names(store: &Store, matchers: &[Matcher]) -> Vec<String> {
        let mut out: Vec<String> = store
            .select(matchers, i64::MIN / 2, i64::MAX / 2, SelectLimits::NONE)
            .unwrap()
            .into_iter()
            .map(|s| {
                s.labels
                    .iter()
                    .map(|(n, v)| format!("{n}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn an_instant_selector_reads_one_sample_per_step_within_the_lookback() {
        let samples: Vec<(i64, f64)> = (0..10).map(|i| (i * 10, i as f64)).collect();
        let at = |times: &[i64], lookback_ms| {
            PickAt {
                times: times.to_vec(),
                lookback_ms,
            }
            .pick(samples.clone())
        };
        // The latest at or before each time; one read by two times is kept once.
        assert_eq!(at(&[25, 29, 50], 100), vec![(20, 2.0), (50, 5.0)]);
        // Older than the lookback (t - lookback < st is required) is not read.
        assert_eq!(at(&[39], 9), vec![]);
        assert_eq!(at(&[39], 10), vec![(30, 3.0)]);
        // Before the first sample nothing, after the last the last.
        assert_eq!(at(&[-5, 1000], 1000), vec![(90, 9.0)]);
    }

    #[test]
    fn selectors_use_postings_with_prometheus_semantics() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), SeriesConfig::default());
        let a = labels(&[("__name__", "up"), ("job", "api"), ("env", "prod")]);
        let b = labels(&[("__name__", "up"), ("job", "web")]);
        let c = labels(&[("__name__", "down"), ("job", "api")]);
        store
            .append_samples(&[sample(&a, 1, 1.0), sample(&b, 1, 1.0), sample(&c, 1, 1.0)])
            .unwrap();
        let eq = |n: &str, v: &str| Matcher::equal(n, v);
        let m = |n: &str, op: MatchOp| Matcher { name: n.into(), op };
        assert_eq!(
            names(&store, &[eq("__name__", "up")]),
            ["__name__=up,env=prod,job=api", "__name__=up,job=web"]
        );
        assert_eq!(
            names(
                &store,
                &[
                    eq("__name__", "up"),
                    m("job", MatchOp::NotEqual("api".into()))
                ]
            ),
            ["__name__=up,job=web"]
        );
        assert_eq!(
            names(&store, &[m("job", MatchOp::Re(re("a.*")))]),
            ["__name__=down,job=api", "__name__=up,env=prod,job=api"]
        );
        assert_eq!(
            names(
                &store,
                &[eq("__name__", "up"), m("job", MatchOp::NotRe(re("w.*")))]
            ),
            ["__name__=up,env=prod,job=api"]
        );
        // A matcher that matches "" also matches series without the label.
        assert_eq!(
            names(&store, &[eq("__name__", "up"), eq("env", "")]),
            ["__name__=up,job=web"]
        );
        assert_eq!(
            names(
                &store,
                &[eq("__name__", "up"), m("env", MatchOp::Re(re("prod|")))]
            ),
            ["__name__=up,env=prod,job=api", "__name__=up,job=web"]
        );
    }

    #[test]
    fn expired_series_are_collected_from_memory_postings_and_label_values() {
        let dir = tempfile::tempdir().unwrap();
        let old = |pod: &str| labels(&[("__name__", "up"), ("pod", pod)]);
        let live = labels(&[("__name__", "up"), ("pod", "live")]);
        let cutoff = 1_700_100_000_000;
        let ids_before;
        {
            let store = open(dir.path(), SeriesConfig::default());
            // Pods gone before the cutoff: one with a closed chunk, one only in the head.
            let mut samples: Vec<_> = (0..130)
                .map(|i| sample(&old("a"), 1_700_000_000_000 + i * 15_000, 1.0))
                .collect();
            samples.push(sample(&old("b"), 1_700_000_000_000, 1.0));
            samples.push(sample(&live, cutoff + 60_000, 1.0));
            for batch in samples.chunks(40) {
                store.append_samples(batch).unwrap();
            }
            assert_eq!(store.series_count(), 3);
            ids_before = store.series.index_read().next_id;
            assert_eq!(store.series.collect_expired(&store.db, cutoff).unwrap(), 2);
            assert_eq!(store.series_count(), 1);
            assert_eq!(store.label_values("pod").unwrap(), ["live"]);
            assert_eq!(
                names(&store, &[Matcher::equal("__name__", "up")]),
                ["__name__=up,pod=live"]
            );
            // A pod that comes back is a new series, with a new id.
            store
                .append_samples(&[sample(&old("a"), cutoff + 120_000, 2.0)])
                .unwrap();
            assert_eq!(store.series_count(), 2);
            // Crash (no checkpoint): the write-ahead records of collected series are skipped.
        }
        let store = open(dir.path(), SeriesConfig::default());
        assert_eq!(store.series_count(), 2);
        assert!(
            store.series.index_read().next_id > ids_before,
            "ids are not reused"
        );
        let read = store
            .select(
                &[Matcher::equal("pod", "a")],
                i64::MIN / 2,
                i64::MAX / 2,
                SelectLimits::NONE,
            )
            .unwrap();
        assert_eq!(read.len(), 1);
        assert!(
            read[0].samples.iter().all(|(t, _)| *t >= cutoff),
            "the collected series' samples do not come back under the new one: {:?}",
            &read[0].samples[..read[0].samples.len().min(3)]
        );
        assert_eq!(store.series.collect_expired(&store.db, cutoff).unwrap(), 0);
    }

    #[test]
    fn a_failed_write_that_closed_a_chunk_loses_nothing_acknowledged_at_the_next_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let l = labels(&[("__name__", "requests_total"), ("job", "api")]);
        let at = |i: i64| sample(&l, 1_700_000_000_000 + i * 15_000, i as f64);
        let acknowledged: Vec<_> = (0..CHUNK_SAMPLES as i64 - 1).map(at).collect();
        {
            let store = open(dir.path(), SeriesConfig::default());
            for batch in acknowledged.chunks(10) {
                store.append_samples(batch).unwrap();
            }
            // The next sample closes the chunk; its write fails (the disk is full, say), so
            // that export is not acknowledged.
            let failing = store.series.append(
                &store.db,
                WriteBatch::default(),
                &[at(CHUNK_SAMPLES as i64 - 1)],
                &[],
                &[],
                &|_| Err(StorageError::Io(std::io::Error::other("injected"))),
            );
            assert!(failing.is_err());
            // A checkpoint now must still hold the chunk's earlier samples: it deletes the
            // write-ahead records that hold them.
            store.checkpoint_series().unwrap();
            // Crash.
        }
        let store = open(dir.path(), SeriesConfig::default());
        let read = store
            .select(
                &[Matcher::equal("job", "api")],
                i64::MIN / 2,
                i64::MAX / 2,
                SelectLimits::NONE,
            )
            .unwrap();
        let got: Vec<(i64, f64)> = read[0].samples.clone();
        let want: Vec<(i64, f64)> = acknowledged.iter().map(|s| (s.t, s.v)).collect();
        assert!(
            got.starts_with(&want),
            "{} of {} acknowledged samples after the failed write and a checkpoint",
            got.iter().filter(|s| want.contains(s)).count(),
            want.len()
        );
    }

    #[test]
    fn acknowledged_samples_survive_a_crash_and_chunks_stay_small() {
        let dir = tempfile::tempdir().unwrap();
        let l = labels(&[("__name__", "requests_total"), ("job", "api")]);
        // 500 samples at 15 s: four closed chunks and an open head, no checkpoint.
        let samples: Vec<_> = (0..500)
            .map(|i| sample(&l, 1_700_000_000_000 + i * 15_000, (i * 7) as f64))
            .collect();
        {
            let store = open(dir.path(), SeriesConfig::default());
            for batch in samples.chunks(37) {
                store.append_samples(batch).unwrap();
            }
            // Dropped without a checkpoint: as a crash, the head is only in the write-ahead log.
        }
        let store = open(dir.path(), SeriesConfig::default());
        let read = store
            .select(
                &[Matcher::equal("job", "api")],
                i64::MIN / 2,
                i64::MAX / 2,
                SelectLimits::NONE,
            )
            .unwrap();
        assert_eq!(read.len(), 1);
        let want: Vec<(i64, f64)> = samples.iter().map(|s| (s.t, s.v)).collect();
        assert_eq!(read[0].samples, want);
        // Checkpoint, more samples, reopen: still exact, nothing doubled.
        store.checkpoint_series().unwrap();
        store
            .append_samples(&[sample(&l, 1_800_000_000_000, 1.0)])
            .unwrap();
        drop(store);
        let store = open(dir.path(), SeriesConfig::default());
        assert_eq!(store.count_samples(|_| true).unwrap(), 501);
        // A time range reads only what is in it.
        let some = store
            .select(
                &[Matcher::equal("job", "api")],
                1_700_000_000_000 + 100 * 15_000,
                1_700_000_000_000 + 130 * 15_000,
                SelectLimits::NONE,
            )
            .unwrap();
        assert_eq!(some[0].samples.len(), 31);
    }

    /// Scrapes every 15 s with up to ±700 ms of jitter, off whole seconds: every bucket of the
    /// chunks' delta-of-delta encoding, edges included, over a few hundred samples.
    fn jittered(l: &Labels, n: i64, seed: u64) -> Vec<NewSample> {
        let mut state = seed | 1;
        let mut t = 1_700_000_000_137i64;
        (0..n)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let jitter = match state % 8 {
                    0 => 64,
                    1 => 256,
                    2 => -256,
                    3 => 2048 % 701,
                    _ => (state >> 8) as i64 % 1401 - 700,
                };
                t += 15_000 + jitter;
                sample(l, t, (i * 3) as f64 + (state % 5) as f64)
            })
            .collect()
    }

    fn read_all(store: &Store, job: &str) -> Vec<(i64, f64)> {
        let read = store
            .select(
                &[Matcher::equal("job", job)],
                i64::MIN / 2,
                i64::MAX / 2,
                SelectLimits::NONE,
            )
            .unwrap();
        assert_eq!(read.len(), 1, "{job}");
        read[0].samples.clone()
    }

    #[test]
    fn jittered_samples_survive_head_snapshots_and_write_ahead_replay() {
        let dir = tempfile::tempdir().unwrap();
        let series: Vec<(String, Vec<NewSample>)> = (0..3)
            .map(|k| {
                let job = format!("job{k}");
                let l = labels(&[("__name__", "up"), ("job", &job)]);
                let samples = jittered(&l, 100 + 150 * k, 0x9e37_79b9 + k as u64);
                (job, samples)
            })
            .collect();
        let want = |samples: &[NewSample]| -> Vec<(i64, f64)> {
            samples.iter().map(|s| (s.t, s.v)).collect()
        };
        let check = |store: &Store, upto: usize| {
            for (job, samples) in &series {
                let upto = upto.min(samples.len());
                assert_eq!(read_all(store, job), want(&samples[..upto]), "{job}");
            }
        };
        let append = |store: &Store, from: usize, to: usize| {
            for (_, samples) in &series {
                let (from, to) = (from.min(samples.len()), to.min(samples.len()));
                for batch in samples[from..to].chunks(7) {
                    store.append_samples(batch).unwrap();
                }
            }
        };
        {
            let store = open(dir.path(), SeriesConfig::default());
            append(&store, 0, 170);
            check(&store, 170);
            // Open chunks go to head snapshots; more samples only to the write-ahead log.
            store.checkpoint_series().unwrap();
            append(&store, 170, 230);
        }
        // Reopened from snapshots plus replay (a crash: no checkpoint at the end).
        let store = open(dir.path(), SeriesConfig::default());
        check(&store, 230);
        // Snapshots rebuilt from decoded chunks take further jittered samples exactly.
        append(&store, 230, 300);
        store.checkpoint_series().unwrap();
        append(&store, 300, 400);
        drop(store);
        let store = open(dir.path(), SeriesConfig::default());
        check(&store, 400);
        drop(store);
        let store = open(dir.path(), SeriesConfig::default());
        check(&store, 400);
    }

    #[test]
    fn out_of_order_and_limits_are_rejected_with_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(
            dir.path(),
            SeriesConfig {
                max_series: 3,
                max_series_per_metric: 2,
                ..Default::default()
            },
        );
        let s = |name: &str, i: &str| labels(&[("__name__", name), ("i", i)]);
        let mut batch = vec![
            sample(&s("a", "1"), 10, 1.0),
            sample(&s("a", "2"), 10, 1.0),
            sample(&s("a", "3"), 10, 1.0),
            sample(&s("b", "1"), 10, 1.0),
            sample(&s("c", "1"), 10, 1.0),
        ];
        for (k, b) in batch.iter_mut().enumerate() {
            b.point = k as u32;
        }
        let report = store.append_samples(&batch).unwrap();
        assert_eq!(report.appended, 3);
        let reasons: Vec<_> = report.rejected_points.iter().map(|r| (r.0, r.1)).collect();
        assert_eq!(
            reasons,
            [
                (2, SampleRejection::SeriesLimit),
                (4, SampleRejection::SeriesLimit)
            ]
        );
        // Older than the newest sample by more than the out-of-order window (30m): rejected;
        // the same sample again: accepted silently.
        let newest = 40 * 60_000;
        store
            .append_samples(&[sample(&s("a", "1"), newest, 2.0)])
            .unwrap();
        let report = store
            .append_samples(&[
                sample(&s("a", "1"), newest - 30 * 60_000 - 1, 2.0),
                sample(&s("a", "2"), 10, 1.0),
            ])
            .unwrap();
        assert_eq!(report.rejected_points.len(), 1);
        assert_eq!(report.rejected_points[0].1, SampleRejection::OutOfOrder);
        assert!(
            report.rejected_points[0]
                .2
                .contains("by more than storage.series.out_of_order_window (30m)"),
            "{}",
            report.rejected_points[0].2
        );
        assert_eq!(store.count_samples(|_| true).unwrap(), 4);
    }

    #[test]
    fn samples_within_the_out_of_order_window_are_merged_into_reads() {
        let dir = tempfile::tempdir().unwrap();
        let l = labels(&[("__name__", "up"), ("job", "late")]);
        let t0 = 1_700_000_000_137i64;
        // 400 scrapes; every third arrives 10 scrapes late (150 s), the rest in order: closed
        // chunks, the open chunk and out-of-order samples all hold part of the series.
        let all: Vec<NewSample> = (0..400)
            .map(|i| sample(&l, t0 + i * 15_000 + (i * 37) % 500, i as f64))
            .collect();
        let mut arrival: Vec<&NewSample> = Vec::new();
        for i in 0..all.len() + 10 {
            if i < all.len() && i % 3 != 0 {
                arrival.push(&all[i]);
            }
            if i >= 10 && (i - 10) % 3 == 0 && i - 10 < all.len() {
                arrival.push(&all[i - 10]);
            }
        }
        let want: Vec<(i64, f64)> = all.iter().map(|s| (s.t, s.v)).collect();
        let config = SeriesConfig::default();
        {
            let store = open(dir.path(), config.clone());
            for (k, batch) in arrival.chunks(5).enumerate() {
                let batch: Vec<NewSample> = batch.iter().map(|s| (*s).clone()).collect();
                let report = store.append_samples(&batch).unwrap();
                assert!(
                    report.rejected_points.is_empty(),
                    "{:?}",
                    report.rejected_points
                );
                if k == 30 {
                    store.checkpoint_series().unwrap();
                }
            }
            assert_eq!(read_all(&store, "late"), want);
            // A range inside the series, and the series list of a range that only an
            // out-of-order sample covers.
            let some = store
                .select(
                    &[Matcher::equal("job", "late")],
                    all[100].t,
                    all[130].t,
                    SelectLimits::NONE,
                )
                .unwrap();
            assert_eq!(some[0].samples, want[100..=130]);
            // Another value at the time of a late sample still in memory: rejected; the same
            // value again: accepted and stored once.
            let late_one = &all[393];
            let report = store
                .append_samples(&[sample(&l, late_one.t, -2.0)])
                .unwrap();
            assert_eq!(report.rejected_points[0].1, SampleRejection::OutOfOrder);
            let report = store
                .append_samples(std::slice::from_ref(late_one))
                .unwrap();
            assert!(report.rejected_points.is_empty());
            // Another value at the time of an in-order sample: the first written stays.
            let again = sample(&l, all[391].t, -1.0);
            assert_eq!(store.append_samples(&[again]).unwrap().appended, 1);
            assert_eq!(read_all(&store, "late"), want);
            // Deltas add to the newest value: not accepted out of order.
            let delta = NewSample {
                delta_start: Some(all[395].t - 1),
                ..sample(&l, all[395].t, 1.0)
            };
            let report = store.append_samples(&[delta]).unwrap();
            assert_eq!(report.rejected_points[0].1, SampleRejection::OutOfOrder);
            // Dropped without a checkpoint: the late samples since the last one are replayed.
        }
        let store = open(dir.path(), config.clone());
        assert_eq!(read_all(&store, "late"), want);
        // A checkpoint writes them as out-of-order chunks; nothing doubles across reopening.
        store.checkpoint_series().unwrap();
        let late = sample(&l, all[399].t - 1, 7.0);
        store.append_samples(std::slice::from_ref(&late)).unwrap();
        drop(store);
        let store = open(dir.path(), config);
        let mut with_late = want.clone();
        with_late.insert(399, (late.t, late.v));
        assert_eq!(read_all(&store, "late"), with_late);
        store.checkpoint_series().unwrap();
        drop(store);
        let store = open(dir.path(), SeriesConfig::default());
        assert_eq!(read_all(&store, "late"), with_late);
        let listed = store
            .series(
                &[Matcher::equal("job", "late")],
                late.t,
                late.t,
                SelectLimits::NONE,
            )
            .unwrap();
        assert_eq!(listed.len(), 1);
        // With the window at 0, a late sample is rejected as before.
        drop(store);
        let strict = SeriesConfig {
            out_of_order_window: std::time::Duration::ZERO,
            ..Default::default()
        };
        let store = open(dir.path(), strict);
        let report = store
            .append_samples(&[sample(&l, all[399].t - 2, 1.0)])
            .unwrap();
        assert_eq!(report.rejected_points[0].1, SampleRejection::OutOfOrder);
    }

    #[test]
    fn delta_samples_accumulate_and_restart_after_a_gap() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), SeriesConfig::default());
        let l = labels(&[("__name__", "jobs_total")]);
        let delta = |start: i64, t: i64, v: f64| NewSample {
            delta_start: Some(start),
            ..sample(&l, t, v)
        };
        store
            .append_samples(&[delta(0, 10, 2.0), delta(10, 20, 3.0), delta(20, 30, 1.0)])
            .unwrap();
        // A gap (start after the last sample): the accumulation starts again, as a reset.
        store.append_samples(&[delta(50, 60, 4.0)]).unwrap();
        let read = store
            .select(
                &[Matcher::equal("__name__", "jobs_total")],
                0,
                100,
                SelectLimits::NONE,
            )
            .unwrap();
        assert_eq!(
            read[0].samples,
            [(10, 2.0), (20, 5.0), (30, 6.0), (60, 4.0)]
        );
    }

    #[test]
    fn retention_hides_and_then_drops_expired_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), SeriesConfig::default());
        let l = labels(&[("__name__", "old")]);
        let day = 86_400_000i64;
        let samples: Vec<_> = (0..240).map(|i| sample(&l, i * 60_000, 1.0)).collect();
        store.append_samples(&samples).unwrap();
        let retention = crate::Retention {
            metrics: std::time::Duration::from_secs(3600),
            ..Default::default()
        };
        store
            .enforce_retention(&retention, (10 * day as u64) * 1_000_000)
            .unwrap();
        store
            .enforce_retention(&retention, (20 * day as u64) * 1_000_000)
            .unwrap();
        let read = store
            .select(
                &[Matcher::equal("__name__", "old")],
                0,
                i64::MAX / 2,
                SelectLimits::NONE,
            )
            .unwrap();
        assert!(read.is_empty(), "{read:?}");
        let mut it = store.db.raw_iterator_cf(store.cf(CF_CHUNKS).unwrap());
        it.seek_to_first();
        assert!(!it.valid(), "expired chunks were compacted away");
    }
}
