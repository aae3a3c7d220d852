//! Writing spans: the spans at once, their trace index entries just after.
//!
//! [`SpanWriter::write_spans`] writes a batch's spans, `trace_hours` entries, resources and
//! scopes, and a `Q` entry in `trace_index` listing the batch's span keys, as one write batch:
//! that is what an export waits for. It builds the batch's index entries in memory and queues
//! them; [`Store::index_queued_spans`] writes what is queued, several batches at a time in key
//! order, together with the deletion of their `Q` entries. A background task of the server
//! calls it as soon as something is queued; every read of the trace index first waits for what
//! was queued before it (`index_queued_spans_for_read`), so a search sees every span
//! acknowledged before it started. A crash loses at most queued entries, never spans: `open` builds the entries of the `Q` entries left from the stored
//! spans again (`storage/FORMAT.md`, "Trace index").

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use lookout_proto::model::{Batch, Interned, Resource, Scope, SpanItem, SpanRecord};
use lookout_proto::otlp::common::v1::KeyValue;
use lookout_proto::otlp::trace::v1::Span;
use lookout_proto::{now_unix_nano, TraceId};
use prost::Message;
use rocksdb::{ColumnFamily, WriteBatch, WriteOptions, DB};

use crate::error::{Result, StorageError};
use crate::keys;
use crate::service_graph::{self, LateMinutes};
use crate::store::{
    decode, hex, Store, CF_RESOURCES, CF_SCOPES, CF_SPANS, CF_TRACE_HOURS, CF_TRACE_INDEX,
};
use crate::trace_index::{self, Summary};
use crate::{SpanWriter, TraceIndexConfig};

/// Spans whose index entries may wait in memory. Past it, a write indexes what is queued
/// itself before it returns, so a server that cannot keep up slows its exporters down instead
/// of growing the queue (about 1 KiB of entries per span).
const MAX_QUEUED_SPANS: usize = 20_000;

/// Spans indexed per write batch when the queue is long: large enough for inserts in key
/// order to find their neighbours, small enough that a read or a waiting export is not held
/// up long by the write under way.
const SPANS_PER_INDEX_WRITE: usize = 2_048;

/// How long a read of the trace index waits for the spans queued before it to be indexed.
const READ_WAIT: Duration = Duration::from_secs(5);

/// How long an export waits for room in a full queue before it writes part of it itself
/// (should the background task have stopped).
const ROOM_WAIT: Duration = Duration::from_secs(2);

/// The queue of index entries built but not yet written.
pub(crate) struct SpanQueue {
    queued: Mutex<Queued>,
    /// Signalled when a batch is queued.
    ready: Condvar,
    /// Signalled when queued entries were written.
    room: Condvar,
    /// Whether a background task writes the queue (the server's; not in tools and tests).
    background: std::sync::atomic::AtomicBool,
    /// Held while queued entries are written: one writer at a time, in queue order.
    writing: Mutex<()>,
    /// The sequence number of the next `Q` entry.
    next: AtomicU64,
}

#[derive(Default)]
struct Queued {
    batches: VecDeque<QueuedBatch>,
    spans: usize,
    /// Batches queued, and of those written, since open: batches are written in queue
    /// order, so the first `n` queued are written once `written >= n`.
    pushed: u64,
    written: u64,
}

/// One write's index entries, waiting.
struct QueuedBatch {
    /// Its `Q` entry, deleted when these are written.
    key: [u8; 9],
    puts: SortedPuts,
    /// Minutes whose service graph aggregates the entries make stale.
    late: LateMinutes,
    /// The earliest minute of a span that was on time when the batch was written.
    first_on_time: Option<u32>,
    spans: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SpanQueue {
    /// The queue of a store just opened: `Q` entries are numbered after the last one left.
    pub(crate) fn open(db: &DB) -> Result<SpanQueue> {
        let cf = db
            .cf_handle(CF_TRACE_INDEX)
            .ok_or(StorageError::MissingColumnFamily(CF_TRACE_INDEX))?;
        let mut it = db.raw_iterator_cf(cf);
        it.seek_for_prev([
            trace_index::SPAN_QUEUE,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
        ]);
        let next = match it.key() {
            Some(key) if key.len() == 9 && key[0] == trace_index::SPAN_QUEUE => {
                queue_seq(key).saturating_add(1)
            }
            _ => 0,
        };
        it.status()?;
        Ok(SpanQueue {
            queued: Mutex::default(),
            ready: Condvar::new(),
            room: Condvar::new(),
            background: Default::default(),
            writing: Mutex::new(()),
            next: AtomicU64::new(next),
        })
    }

    fn next_key(&self) -> [u8; 9] {
        let mut key = [trace_index::SPAN_QUEUE; 9];
        key[1..].copy_from_slice(&self.next.fetch_add(1, Ordering::Relaxed).to_be_bytes());
        key
    }

    /// Spans whose index entries are not written yet.
    pub(crate) fn len(&self) -> usize {
        lock(&self.queued).spans
    }

    /// Waits, for at most `wait`, until `done` holds for the queue (checked again after each
    /// write of queued entries); returns whether it does.
    fn wait_for(&self, wait: Duration, done: impl Fn(&Queued) -> bool) -> bool {
        let deadline = std::time::Instant::now() + wait;
        let mut queued = lock(&self.queued);
        while !done(&queued) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            queued = self
                .room
                .wait_timeout(queued, left)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
        true
    }

    fn push(&self, batch: QueuedBatch) -> usize {
        let mut queued = lock(&self.queued);
        queued.spans += batch.spans;
        queued.pushed += 1;
        queued.batches.push_back(batch);
        self.ready.notify_all();
        queued.spans
    }
}

fn queue_seq(key: &[u8]) -> u64 {
    key.get(1..9)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_be_bytes)
}

impl SpanWriter for Store {
    fn write_spans(&self, batch: &Batch<SpanItem>) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut wb = WriteBatch::default();
        self.put_interned(&mut wb, &batch.resources, &batch.scopes)?;
        let (spans, hours) = (self.cf(CF_SPANS)?, self.cf(CF_TRACE_HOURS)?);
        let mut buf = Vec::with_capacity(512);
        let mut span_keys = Vec::with_capacity(batch.items.len() * 36);
        let mut contents = Vec::with_capacity(batch.items.len());
        let mut last_trace_hour = None;
        for item in &batch.items {
            let hour = keys::hour_of(item.start_time_unix_nano);
            buf.clear();
            item.record
                .encode(&mut buf)
                .map_err(|e| StorageError::Corrupt {
                    cf: CF_SPANS,
                    key: item.trace_id.to_hex(),
                    reason: e.to_string(),
                })?;
            // The content hash in the key keeps two different spans that share an id apart,
            // and stores an identical retried span once.
            let content = keys::content_hash(&buf);
            let key = keys::span_key(hour, &item.trace_id, &item.span_id, content);
            wb.put_cf(spans, key, &buf);
            span_keys.extend_from_slice(&key);
            contents.push(content);
            // Spans of a trace usually arrive together: skip repeats of the same index entry.
            if last_trace_hour != Some((item.trace_id, hour)) {
                wb.put_cf(hours, keys::trace_hour_key(&item.trace_id, hour), []);
                last_trace_hour = Some((item.trace_id, hour));
            }
        }
        let key = self.span_queue.next_key();
        let queued = self.build_index(key, batch, &contents)?;
        wb.put_cf(self.cf(CF_TRACE_INDEX)?, key, &span_keys);
        self.write(wb)?;
        if self.span_queue.push(queued) > MAX_QUEUED_SPANS {
            // The spans are stored and their entries queued: a failure to write the queue is
            // the indexing's to retry, not this export's.
            if let Err(e) = self.wait_for_room() {
                tracing::warn!(error = %e, "writing queued trace index entries failed, will retry");
            }
        }
        Ok(())
    }
}

impl Store {
    /// The index entries of `batch`, whose spans have the content hashes `contents`.
    fn build_index(
        &self,
        key: [u8; 9],
        batch: &Batch<SpanItem>,
        contents: &[u64],
    ) -> Result<QueuedBatch> {
        let mut index = IndexWriter::new(&self.index_config);
        for r in &batch.resources {
            index.resource(r)?;
        }
        for scope in &batch.scopes {
            index.scope(scope)?;
        }
        let late_below = service_graph::late_below(now_unix_nano());
        let mut late = LateMinutes::default();
        let mut first_on_time: Option<u32> = None;
        for (item, &content) in batch.items.iter().zip(contents) {
            let Some(span) = &item.record.span else {
                continue;
            };
            let minute = service_graph::minute_of(item.start_time_unix_nano);
            index.span(item, span, minute, content);
            if minute < late_below {
                // Its own minute, and those of its children (which start within it).
                let last = service_graph::minute_of(span.end_time_unix_nano);
                late.add(minute, last.clamp(minute, late_below - 1));
            } else {
                first_on_time = first_on_time.into_iter().chain([minute]).min();
            }
        }
        Ok(QueuedBatch {
            key,
            puts: index.puts,
            late,
            first_on_time,
            spans: batch.items.len(),
        })
    }

    /// Spans acknowledged whose index entries are not written yet.
    pub fn queued_spans(&self) -> usize {
        self.span_queue.len()
    }

    /// Waits up to `timeout` for spans to be queued, then writes the index entries of every
    /// queued span; returns how many. For the server's background indexer.
    pub fn index_queued_spans_when_ready(&self, timeout: Duration) -> Result<usize> {
        self.span_queue.background.store(true, Ordering::Relaxed);
        {
            let queued = lock(&self.span_queue.queued);
            if queued.batches.is_empty() {
                let (queued, _) = self
                    .span_queue
                    .ready
                    .wait_timeout(queued, timeout)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                if queued.batches.is_empty() {
                    return Ok(0);
                }
            }
        }
        self.index_queued_spans()
    }

    /// Writes the index entries of every span queued when it is called, then deletes their
    /// `Q` entries; returns how many spans. For the background task, shutdown (`flush`), and
    /// reads when there is no background task.
    pub fn index_queued_spans(&self) -> Result<usize> {
        let _writing = lock(&self.span_queue.writing);
        let mut batches = lock(&self.span_queue.queued).batches.len();
        let mut indexed = 0;
        while batches > 0 {
            let (taken, spans) = self.write_queued(batches, SPANS_PER_INDEX_WRITE)?;
            batches -= taken;
            indexed += spans;
        }
        Ok(indexed)
    }

    /// What a read of the index calls first: returns once the entries of every span queued
    /// when it was called are written, by the background task (or by this call, without
    /// one), or after [`READ_WAIT`] should the queue be that far behind (an overloaded server
    /// then answers without the last moments' spans rather than late).
    pub(crate) fn index_queued_spans_for_read(&self) -> Result<()> {
        if !self.span_queue.background.load(Ordering::Relaxed) {
            self.index_queued_spans()?;
            return Ok(());
        }
        let target = lock(&self.span_queue.queued).pushed;
        self.span_queue
            .wait_for(READ_WAIT, |queued| queued.written >= target);
        Ok(())
    }

    /// For a writer that found the queue full: waits until the background task has written
    /// enough of it, or, without one (or should it not have in [`ROOM_WAIT`]), writes parts
    /// itself until it is no longer full. Exporters then go at the pace of the indexing, each
    /// waiting about one write of the background task.
    fn wait_for_room(&self) -> Result<()> {
        if self.span_queue.background.load(Ordering::Relaxed)
            && self
                .span_queue
                .wait_for(ROOM_WAIT, |queued| queued.spans <= MAX_QUEUED_SPANS)
        {
            return Ok(());
        }
        let _writing = lock(&self.span_queue.writing);
        loop {
            let batches = {
                let queued = lock(&self.span_queue.queued);
                if queued.spans <= MAX_QUEUED_SPANS {
                    return Ok(());
                }
                queued.batches.len()
            };
            self.write_queued(batches, SPANS_PER_INDEX_WRITE)?;
        }
    }

    /// Writes the entries of the oldest queued batches, at most `batches` of them and of
    /// `max_spans` spans (at least one batch), in one write batch, in key order; returns how
    /// many batches and spans. The caller holds `writing`.
    fn write_queued(&self, batches: usize, max_spans: usize) -> Result<(usize, usize)> {
        let taken: Vec<QueuedBatch> = {
            let mut queued = lock(&self.span_queue.queued);
            let mut spans = 0;
            let take = queued
                .batches
                .iter()
                .take(batches)
                .take_while(|b| {
                    let fits = spans == 0 || spans + b.spans <= max_spans;
                    spans += b.spans;
                    fits
                })
                .count();
            queued.batches.drain(..take).collect()
        };
        let spans: usize = taken.iter().map(|b| b.spans).sum();
        let written =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.write_batches(&taken)))
                .unwrap_or_else(|_| {
                    Err(StorageError::Io(std::io::Error::other(
                        "writing trace index entries panicked",
                    )))
                });
        match written {
            Ok(()) => {
                let mut queued = lock(&self.span_queue.queued);
                queued.spans -= spans;
                queued.written += taken.len() as u64;
                drop(queued);
                self.span_queue.room.notify_all();
                Ok((taken.len(), spans))
            }
            Err(e) => {
                // Back at the front, in their order, for the next write.
                let mut queued = lock(&self.span_queue.queued);
                for batch in taken.into_iter().rev() {
                    queued.batches.push_front(batch);
                }
                Err(e)
            }
        }
    }

    fn write_batches(&self, batches: &[QueuedBatch]) -> Result<()> {
        let cf = self.cf(CF_TRACE_INDEX)?;
        let mut wb = WriteBatch::default();
        SortedPuts::write_all_to(batches.iter().map(|b| &b.puts), &mut wb, cf);
        let mut late = LateMinutes::default();
        let mut first_on_time: Option<u32> = None;
        for b in batches {
            wb.delete_cf(cf, b.key);
            late.extend(&b.late);
            first_on_time = first_on_time.into_iter().chain(b.first_on_time).min();
        }
        if late.is_empty() {
            self.write_index(wb)?;
        } else {
            // The aggregates of these minutes may be stored already: deleted with the write,
            // so the next read builds them again with these spans.
            late.delete_in(&mut wb, cf);
            self.graph.late_write(|| self.write_index(wb))?;
        }
        // Minutes that were on time when their spans were written but are late now: their
        // aggregates may have been built without these spans, so they go too.
        let late_below = service_graph::late_below(now_unix_nano());
        if let Some(first) = first_on_time.filter(|&m| m < late_below) {
            let mut late = LateMinutes::default();
            late.add(first, late_below - 1);
            let mut wb = WriteBatch::default();
            late.delete_in(&mut wb, cf);
            // With the write-ahead log: the entries above may be flushed (their `Q` entries'
            // deletion with them) before this is, and a crash must not keep an aggregate
            // built without them.
            self.graph.late_write(|| self.write(wb))?;
        }
        Ok(())
    }

    /// Writes index entries without the write-ahead log: should they be lost in a crash, so
    /// is the deletion of their `Q` entries (same column family, same write), and `open`
    /// builds them again from the spans.
    fn write_index(&self, wb: WriteBatch) -> Result<()> {
        let mut options = WriteOptions::default();
        options.disable_wal(true);
        options.set_memtable_insert_hint_per_batch(true);
        self.db.write_opt(wb, &options)?;
        Ok(())
    }

    /// Writes the index entries of the `Q` entries a crash left (index writes skip the
    /// write-ahead log, so every export since the index's last flush may be among them),
    /// rebuilt from the stored spans, a part at a time; returns how many spans. A span
    /// retention removed meanwhile is left out, and one that does not decode is skipped with
    /// a warning (it stays readable by trace id, as stored).
    pub(crate) fn index_left_queue(&self) -> Result<usize> {
        let cf = self.cf(CF_TRACE_INDEX)?;
        let mut requeued = 0;
        // The iterator reads the column family as it was when it was created, not the entries
        // written meanwhile.
        let mut it = self.db.raw_iterator_cf(cf);
        it.seek([trace_index::SPAN_QUEUE]);
        while let (Some(key), Some(value)) = (it.key(), it.value()) {
            if key.first() != Some(&trace_index::SPAN_QUEUE) {
                break;
            }
            let Ok(queue_key) = <[u8; 9]>::try_from(key) else {
                tracing::warn!(key = %hex(key), "span queue entry with a malformed key, left");
                it.next();
                continue;
            };
            let (batch, contents) = self.stored_batch(value)?;
            let queued = self.build_index(queue_key, &batch, &contents)?;
            requeued += queued.spans;
            if self.span_queue.push(queued) >= SPANS_PER_INDEX_WRITE {
                self.index_queued_spans()?;
            }
            it.next();
        }
        it.status()?;
        self.index_queued_spans()?;
        Ok(requeued)
    }

    /// The spans under `span_keys` (36 bytes each) as a batch, with their content hashes.
    fn stored_batch(&self, span_keys: &[u8]) -> Result<(Batch<SpanItem>, Vec<u64>)> {
        let spans_cf = self.cf(CF_SPANS)?;
        let mut batch = Batch::default();
        let mut contents = Vec::new();
        let (mut resources, mut scopes) = (HashMap::new(), HashMap::new());
        for span_key in span_keys.chunks(36) {
            let Some(stored) = self.db.get_pinned_cf(spans_cf, span_key)? else {
                continue;
            };
            let record = keys::span_of_key(span_key, &stored).and_then(|(span_id, content)| {
                let trace_id = TraceId::from_slice(span_key.get(4..20)?).ok()?;
                let record = SpanRecord::decode(&stored[..]).ok()?;
                Some((trace_id, span_id, content, record))
            });
            let Some((trace_id, span_id, content, record)) = record else {
                tracing::warn!(key = %hex(span_key), "stored span does not decode, not indexed");
                continue;
            };
            for (cf_name, cache, id) in [
                (CF_RESOURCES, &mut resources, record.resource_id),
                (CF_SCOPES, &mut scopes, record.scope_id),
            ] {
                if let std::collections::hash_map::Entry::Vacant(e) = cache.entry(id) {
                    e.insert(self.interned(cf_name, id)?);
                }
            }
            batch.items.push(SpanItem {
                trace_id,
                span_id,
                start_time_unix_nano: record.span.as_ref().map_or(0, |s| s.start_time_unix_nano),
                record,
            });
            contents.push(content);
        }
        batch.resources = resources.into_values().flatten().collect();
        batch.scopes = scopes.into_values().flatten().collect();
        Ok((batch, contents))
    }

    /// A resource or scope as stored (`None` when retention removed it, or, with a warning,
    /// when it does not decode: its spans are indexed as of `unknown_service`).
    fn interned(&self, cf_name: &'static str, id: u64) -> Result<Option<Interned>> {
        let Some(value) = self.db.get_pinned_cf(self.cf(cf_name)?, keys::id_key(id))? else {
            return Ok(None);
        };
        let encoded = keys::interned_message(&value);
        let decodes = match cf_name {
            CF_RESOURCES => Resource::decode(encoded).is_ok(),
            _ => Scope::decode(encoded).is_ok(),
        };
        if !decodes {
            tracing::warn!(cf = cf_name, id = %format!("{id:016x}"), "stored message does not decode");
            return Ok(None);
        }
        Ok(Some(Interned {
            id,
            encoded: encoded.to_vec(),
        }))
    }
}

/// Writes the `trace_index` entries of one batch (see `storage/FORMAT.md`).
struct IndexWriter<'a> {
    config: &'a TraceIndexConfig,
    /// Service of each resource of the batch, by resource id.
    services: HashMap<u64, Arc<str>>,
    /// Attributes of each scope of the batch, by scope id (indexed with each of its spans).
    scope_attributes: HashMap<u64, Arc<[KeyValue]>>,
    /// Hashes of the (service, kind, operation) entries already written in this batch.
    seen: std::collections::HashSet<u64>,
    key: Vec<u8>,
    value: Vec<u8>,
    text: String,
    /// The value of `S`, `O` and `R` entries: the hour until which they are kept.
    keep_until: [u8; 4],
    puts: SortedPuts,
}

/// Puts collected and then written in key order: the batch's write keeps its last position in
/// each memtable as a hint (`memtable_insert_hint_per_batch`), so the entries of one key range
/// (a service, a common attribute value) are inserted next to each other instead of each
/// searching the memtable's skiplist from the top, which was a third of the server's CPU.
#[derive(Default)]
struct SortedPuts {
    bytes: Vec<u8>,
    /// Start in `bytes`, key length, value length.
    entries: Vec<(usize, usize, usize)>,
}

impl SortedPuts {
    fn put(&mut self, key: &[u8], value: impl AsRef<[u8]>) {
        let value = value.as_ref();
        self.entries
            .push((self.bytes.len(), key.len(), value.len()));
        self.bytes.extend_from_slice(key);
        self.bytes.extend_from_slice(value);
    }

    /// Adds the puts of every one of `all` to `wb` in key order (of two puts of one key, the
    /// one of the later `SortedPuts`, or the later in one, is written last and wins).
    fn write_all_to<'p>(
        all: impl Iterator<Item = &'p SortedPuts>,
        wb: &mut WriteBatch,
        cf: &ColumnFamily,
    ) {
        let mut puts: Vec<(&[u8], &[u8])> = Vec::new();
        for p in all {
            puts.extend(p.entries.iter().map(|&(start, key_len, value_len)| {
                let value_start = start + key_len;
                (
                    &p.bytes[start..value_start],
                    &p.bytes[value_start..value_start + value_len],
                )
            }));
        }
        puts.sort_by(|a, b| a.0.cmp(b.0));
        for (key, value) in puts {
            wb.put_cf(cf, key, value);
        }
    }
}

impl<'a> IndexWriter<'a> {
    fn new(config: &'a TraceIndexConfig) -> Self {
        IndexWriter {
            config,
            keep_until: trace_index::keep_until_hour(now_unix_nano()).to_be_bytes(),
            services: HashMap::new(),
            scope_attributes: HashMap::new(),
            seen: Default::default(),
            key: Vec::with_capacity(128),
            value: Vec::with_capacity(64),
            text: String::new(),
            puts: SortedPuts::default(),
        }
    }

    /// Records the resource's service and indexes its attributes (`S`, `R` entries).
    fn resource(&mut self, interned: &Interned) -> Result<()> {
        let resource: Resource =
            decode(CF_RESOURCES, &keys::id_key(interned.id), &interned.encoded)?;
        let service: Arc<str> = resource
            .service_name()
            .filter(|s| !s.is_empty() && trace_index::keyable(s))
            .unwrap_or(trace_index::UNKNOWN_SERVICE)
            .into();
        self.key.clear();
        self.key.push(trace_index::SERVICE);
        self.key.extend_from_slice(service.as_bytes());
        self.puts.put(&self.key, self.keep_until);
        for kv in resource
            .attributes
            .iter()
            .take(self.config.max_attributes_per_span)
        {
            if !self.indexable(kv) {
                continue;
            }
            trace_index::prefix(
                &mut self.key,
                trace_index::RESOURCE_ATTRIBUTE,
                &[service.as_bytes(), kv.key.as_bytes(), self.text.as_bytes()],
            );
            self.key.extend_from_slice(&interned.id.to_be_bytes());
            self.puts.put(&self.key, self.keep_until);
        }
        self.services.insert(interned.id, service);
        Ok(())
    }

    /// Records the attributes of a scope of the batch, indexed with each of its spans.
    fn scope(&mut self, interned: &Interned) -> Result<()> {
        let scope: Scope = decode(CF_SCOPES, &keys::id_key(interned.id), &interned.encoded)?;
        if !scope.attributes.is_empty() {
            self.scope_attributes
                .insert(interned.id, scope.attributes.into());
        }
        Ok(())
    }

    /// Whether `kv` is indexed; leaves its text in `self.text`.
    fn indexable(&mut self, kv: &KeyValue) -> bool {
        trace_index::keyable(&kv.key)
            && kv.key.len() <= self.config.max_value_length
            && trace_index::attribute_text(kv, &mut self.text)
            && self.text.len() <= self.config.max_value_length
            && trace_index::keyable(&self.text)
    }

    fn span(&mut self, item: &SpanItem, span: &Span, minute: u32, content: u64) {
        let service = self
            .services
            .get(&item.record.resource_id)
            .cloned()
            .unwrap_or_else(|| trace_index::UNKNOWN_SERVICE.into());
        let (start, trace, id) = (item.start_time_unix_nano, &item.trace_id, &item.span_id);
        let summary = Summary::of(span, item.record.resource_id);
        let is_error = summary.is_error();
        let summary = summary.encode();
        let operation_ok = trace_index::keyable(&span.name);

        let operation_id = {
            let mut h = xxhash_rust::xxh3::Xxh3::new();
            h.update(service.as_bytes());
            h.update(&[0]);
            h.update(&span.kind.to_be_bytes());
            h.update(span.name.as_bytes());
            h.digest()
        };
        if operation_ok && self.seen.insert(operation_id) {
            trace_index::prefix(&mut self.key, trace_index::OPERATION, &[service.as_bytes()]);
            self.key.push(span.kind.clamp(0, 255) as u8);
            self.key.extend_from_slice(span.name.as_bytes());
            self.puts.put(&self.key, self.keep_until);
        }
        trace_index::hashed(
            &mut self.key,
            trace_index::SERVICE_TIME,
            &[service.as_bytes()],
        );
        trace_index::push_span_ref(&mut self.key, start, trace, id);
        trace_index::push_span_value(&mut self.value, &summary, trace);
        self.puts.put(&self.key, &self.value);
        if operation_ok {
            trace_index::hashed(
                &mut self.key,
                trace_index::OPERATION_TIME,
                &[service.as_bytes(), span.name.as_bytes()],
            );
            trace_index::push_span_ref(&mut self.key, start, trace, id);
            // Empty, as `A`: a search by operation reads the summary and trace id from `T`.
            self.puts.put(&self.key, []);
        }

        // Span attributes, then the scope's attributes, event names and attributes (Jaeger's
        // log fields) and link attributes: a tag matches any of them, as in Jaeger's own
        // store. `None` is an event's name.
        let mut budget = self.config.max_attributes_per_span;
        let scope_attributes = self
            .scope_attributes
            .get(&item.record.scope_id)
            .cloned()
            .unwrap_or_else(|| Arc::from([]));
        let events = span.events.iter().flat_map(|e| {
            std::iter::once((Some(e.name.as_str()), None))
                .chain(e.attributes.iter().map(|kv| (None, Some(kv))))
        });
        let candidates = span
            .attributes
            .iter()
            .chain(scope_attributes.iter())
            .map(|kv| (None, Some(kv)))
            .chain(events)
            .chain(
                span.links
                    .iter()
                    .flat_map(|l| l.attributes.iter().map(|kv| (None, Some(kv)))),
            );
        for (event_name, kv) in candidates {
            if budget == 0 {
                break;
            }
            let indexed = match (event_name, kv) {
                (_, Some(kv)) => self.indexable(kv).then_some(kv.key.as_str()),
                (Some(name), None) => {
                    self.text.clear();
                    self.text.push_str(name);
                    (self.text.len() <= self.config.max_value_length
                        && trace_index::keyable(&self.text))
                    .then_some("event")
                }
                (None, None) => None,
            };
            let Some(key) = indexed else { continue };
            budget -= 1;
            trace_index::hashed(
                &mut self.key,
                trace_index::ATTRIBUTE,
                &[service.as_bytes(), key.as_bytes(), self.text.as_bytes()],
            );
            trace_index::push_span_ref(&mut self.key, start, trace, id);
            // No summary or trace id here: a search driven by an attribute reads them from the
            // `T` entry (attribute entries are most of the index).
            self.puts.put(&self.key, []);
        }

        if is_error {
            trace_index::hashed(&mut self.key, trace_index::ERROR, &[service.as_bytes()]);
            trace_index::push_span_suffix(&mut self.key, start, trace, id);
            trace_index::encode_error_value(span, &mut self.value);
            self.puts.put(&self.key, &self.value);
        }
        trace_index::encode_graph_value(span, &service, &mut self.value);
        self.puts.put(
            &service_graph::graph_key(minute, trace, id, content),
            &self.value,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{StorageConfig, TimeRange, TraceQuery, TraceSearch};
    use lookout_proto::convert::{convert_traces, Limits};
    use lookout_proto::requests::shop_trace;
    use lookout_proto::SpanId;

    const T0: u64 = 480_000 * keys::HOUR_NS;

    fn open(dir: &std::path::Path) -> Store {
        Store::open(dir, &StorageConfig::default()).unwrap()
    }

    fn queue_entries(store: &Store) -> usize {
        let cf = store.cf(CF_TRACE_INDEX).unwrap();
        store
            .db
            .prefix_iterator_cf(cf, [trace_index::SPAN_QUEUE])
            .take_while(|e| {
                e.as_ref()
                    .is_ok_and(|(k, _)| k[0] == trace_index::SPAN_QUEUE)
            })
            .count()
    }

    fn found(store: &Store, service: &str) -> Vec<TraceId> {
        let mut query = TraceQuery::new(
            TimeRange {
                start_unix_nano: T0,
                end_unix_nano: T0 + keys::HOUR_NS,
            },
            100,
        );
        query.service = Some(service.into());
        store
            .find_traces(&query, &mut |_| Ok(true))
            .unwrap()
            .iter()
            .map(|m| m.trace_id)
            .collect()
    }

    #[test]
    fn a_search_right_after_a_write_finds_its_spans_and_clears_the_queue() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        for request in shop_trace(1, T0 + 1_000, false) {
            store
                .write_spans(&convert_traces(request, &Limits::default()).batch)
                .unwrap();
        }
        assert!(store.queued_spans() > 0);
        assert!(queue_entries(&store) > 0);
        assert_eq!(found(&store, "gateway").len(), 1);
        assert_eq!(store.queued_spans(), 0);
        assert_eq!(queue_entries(&store), 0);
    }

    #[test]
    fn with_a_background_indexer_a_search_waits_for_what_was_queued_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(open(dir.path()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let indexer = {
            let (store, stop) = (store.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    store
                        .index_queued_spans_when_ready(Duration::from_millis(20))
                        .unwrap();
                }
            })
        };
        for seed in 1..=20 {
            for request in shop_trace(seed, T0 + seed * 1_000, false) {
                store
                    .write_spans(&convert_traces(request, &Limits::default()).batch)
                    .unwrap();
            }
            assert_eq!(found(&store, "payment").len() as u64, seed);
        }
        stop.store(true, Ordering::Relaxed);
        indexer.join().unwrap();
    }

    #[test]
    fn index_entries_lost_in_a_crash_are_built_again_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let batches = {
            let store = open(dir.path());
            for seed in 1..=3 {
                for request in shop_trace(seed, T0 + seed * 1_000, seed == 2) {
                    store
                        .write_spans(&convert_traces(request, &Limits::default()).batch)
                        .unwrap();
                }
            }
            // A crash loses what is queued in memory; the `Q` entries stay.
            let mut queued = lock(&store.span_queue.queued);
            let batches = queued.batches.len();
            *queued = Queued::default();
            batches
        };
        assert!(batches > 0);
        let store = open(dir.path());
        assert_eq!(queue_entries(&store), 0, "indexed and deleted at open");
        for service in ["gateway", "cart", "payment"] {
            assert_eq!(found(&store, service).len(), 3, "{service}");
        }
        assert_eq!(store.services().unwrap().len(), 3);
        let errors = store
            .error_spans(
                None,
                TimeRange {
                    start_unix_nano: T0,
                    end_unix_nano: T0 + keys::HOUR_NS,
                },
                100,
                None,
            )
            .unwrap();
        assert!(!errors.is_empty(), "the failed trace's error spans");
    }

    #[test]
    fn a_queued_span_that_no_longer_decodes_is_skipped_at_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = open(dir.path());
            for seed in 1..=2 {
                for request in shop_trace(seed, T0 + seed * 1_000, false) {
                    store
                        .write_spans(&convert_traces(request, &Limits::default()).batch)
                        .unwrap();
                }
            }
            *lock(&store.span_queue.queued) = Queued::default();
            // The first span stored (trace 1's gateway root) is damaged.
            let spans = store.cf(CF_SPANS).unwrap();
            let (key, _) = store
                .db
                .iterator_cf(spans, rocksdb::IteratorMode::Start)
                .next()
                .unwrap()
                .unwrap();
            store.db.put_cf(spans, &key, b"\xff\xff\xff").unwrap();
        }
        let store = open(dir.path());
        assert_eq!(queue_entries(&store), 0);
        assert_eq!(found(&store, "cart").len(), 2);
        assert_eq!(found(&store, "payment").len(), 2);
    }

    #[test]
    fn a_writer_indexes_the_queue_itself_when_it_is_long() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let template = convert_traces(shop_trace(1, T0, false).remove(0), &Limits::default());
        let item = template.batch.items[0].clone();
        let mut n = 0u64;
        for _ in 0..30 {
            let mut batch = Batch {
                resources: template.batch.resources.clone(),
                scopes: template.batch.scopes.clone(),
                items: Vec::new(),
            };
            for _ in 0..1_000 {
                n += 1;
                let mut span = item.clone();
                let mut trace = [0xab; 16];
                trace[8..].copy_from_slice(&n.to_be_bytes());
                span.trace_id = TraceId(trace);
                span.span_id = SpanId(n.to_be_bytes());
                batch.items.push(span);
            }
            store.write_spans(&batch).unwrap();
            assert!(store.queued_spans() <= MAX_QUEUED_SPANS);
        }
        assert!(store.queued_spans() < 30_000, "some were indexed by writes");
        assert_eq!(store.count_records(crate::Records::Spans).unwrap(), 30_000);
    }

    #[test]
    fn sorted_puts_are_written_in_key_order_and_the_last_put_of_a_key_wins() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let cf = store.cf(CF_TRACE_INDEX).unwrap();
        let (mut older, mut newer) = (SortedPuts::default(), SortedPuts::default());
        older.put(b"zz", b"first");
        older.put(b"aa", []);
        older.put(b"zz", b"second");
        older.put(b"mm", b"x");
        older.put(b"bb", b"older");
        newer.put(b"bb", b"newer");
        newer.put(b"cc", b"y");
        let mut wb = WriteBatch::default();
        SortedPuts::write_all_to([&older, &newer].into_iter(), &mut wb, cf);
        assert_eq!(wb.len(), 7);
        store.write(wb).unwrap();
        let get = |k: &[u8]| store.db.get_cf(cf, k).unwrap();
        assert_eq!(get(b"zz").as_deref(), Some(&b"second"[..]));
        assert_eq!(get(b"aa").as_deref(), Some(&b""[..]));
        assert_eq!(get(b"mm").as_deref(), Some(&b"x"[..]));
        assert_eq!(get(b"bb").as_deref(), Some(&b"newer"[..]));
        assert_eq!(get(b"cc").as_deref(), Some(&b"y"[..]));
    }
}
