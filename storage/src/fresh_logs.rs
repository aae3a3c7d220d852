//! Log records just written, kept decoded for the log indexer: while it keeps up it takes
//! them from here instead of reading them back from `logs` and decoding them again (a
//! multi-get through the memtables and a protobuf decode for every record). A cache, never
//! the truth: `log_queue` says what is to be indexed, and a record not found here (not kept
//! because the bound was full, taken by a pass that then failed, or written before a restart)
//! is read from `logs`.

use std::collections::BTreeMap;
use std::mem::size_of;
use std::sync::Mutex;

use lookout_proto::model::LogRecord;
use lookout_proto::otlp::common::v1::{any_value::Value, AnyValue, KeyValue};

/// Memory kept at most, by [`footprint`]: about two seconds of realistic records (~1 KiB
/// each decoded) at 60 000 records/s, as the indexer takes them once a second and a pass
/// may take most of a second.
pub const FRESH_LOG_BYTES: usize = 128 << 20;

/// The memory a kept record owns beyond its slot: every buffer, by capacity.
pub(crate) fn footprint(record: &LogRecord) -> usize {
    let mut bytes = 0;
    if let Some(r) = &record.record {
        bytes += r.severity_text.capacity()
            + r.trace_id.capacity()
            + r.span_id.capacity()
            + r.event_name.capacity()
            + r.body.as_ref().map_or(0, any_value);
        bytes += key_values(&r.attributes);
    }
    bytes
}

fn key_values(kvs: &Vec<KeyValue>) -> usize {
    kvs.capacity() * size_of::<KeyValue>()
        + kvs
            .iter()
            .map(|kv| kv.key.capacity() + kv.value.as_ref().map_or(0, any_value))
            .sum::<usize>()
}

/// What an attribute value owns beyond itself (its parent holds it inline; its nesting is
/// bounded by the decoder's recursion limit).
fn any_value(v: &AnyValue) -> usize {
    match &v.value {
        Some(Value::StringValue(s)) => s.capacity(),
        Some(Value::BytesValue(b)) => b.capacity(),
        Some(Value::ArrayValue(a)) => {
            a.values.capacity() * size_of::<AnyValue>()
                + a.values.iter().map(any_value).sum::<usize>()
        }
        Some(Value::KvlistValue(l)) => key_values(&l.values),
        Some(
            Value::BoolValue(_)
            | Value::IntValue(_)
            | Value::DoubleValue(_)
            | Value::StringValueStrindex(_),
        )
        | None => 0,
    }
}

/// A write's records still kept, each with its footprint.
type Slots = Vec<Option<(usize, LogRecord)>>;

/// What a write still kept holds: its entry in the map, its slots and its records not taken.
fn cost_of(records: &Slots) -> usize {
    size_of::<(u64, Slots)>()
        + records.capacity() * size_of::<Option<(usize, LogRecord)>>()
        + records
            .iter()
            .flatten()
            .map(|(size, _)| size)
            .sum::<usize>()
}

#[derive(Debug, Default)]
pub(crate) struct FreshLogs {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Each write's records by the sequence number of its first: the records of a write are
    /// numbered consecutively.
    writes: BTreeMap<u64, Slots>,
    bytes: usize,
    /// A write was refused since the indexer last took records: while it is behind, the
    /// writes that follow are refused without measuring them first.
    refusing: bool,
}

impl FreshLogs {
    /// Keeps the records of a write, numbered from `first_seq`, unless that would pass the
    /// bound, or a write was refused since the indexer last took records. The kept ones stay: the indexer reads in sequence order, so the oldest are the
    /// ones it takes next, and while it is behind (the bound is full) it reads the newer ones
    /// back from `logs`, as their turn comes, rather than missing everything it keeps.
    pub(crate) fn put(&self, first_seq: u64, records: Vec<LogRecord>) {
        if records.is_empty()
            || self
                .inner
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .refusing
        {
            return;
        }
        let records: Slots = records
            .into_iter()
            .map(|r| Some((footprint(&r), r)))
            .collect();
        let size = cost_of(&records);
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.bytes + size > FRESH_LOG_BYTES {
            inner.refusing = true;
            // Freed after the lock is released: freeing a write's records takes longer than
            // anything done under it.
            drop(inner);
            drop(records);
            return;
        }
        inner.bytes += size;
        // Sequence numbers are never given twice; were they, the first write's are forgotten.
        let replaced = inner.writes.insert(first_seq, records);
        if let Some(replaced) = &replaced {
            inner.bytes -= cost_of(replaced);
        }
        drop(inner);
        drop(replaced);
    }

    /// Takes the records numbered `seqs` (ascending), `None` for those not kept. Writes wholly
    /// below the first are dropped: the indexer reads the queue in sequence order, so it has
    /// read them (a pass that fails reads them again from `logs`).
    pub(crate) fn take(&self, seqs: &[u64]) -> Vec<Option<LogRecord>> {
        let (mut passed, mut taken) = (Vec::new(), Vec::with_capacity(seqs.len()));
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let Inner {
            writes,
            bytes,
            refusing,
        } = &mut *inner;
        *refusing = false;
        if let Some(&first) = seqs.first() {
            while let Some(entry) = writes.first_entry() {
                if *entry.key() + entry.get().len() as u64 > first {
                    break;
                }
                let write = entry.remove();
                *bytes -= cost_of(&write);
                passed.push(write);
            }
        }
        taken.extend(seqs.iter().map(|&seq| {
            let (&start, records) = writes.range_mut(..=seq).next_back()?;
            let (size, record) = records
                .get_mut(usize::try_from(seq - start).ok()?)?
                .take()?;
            *bytes -= size;
            Some(record)
        }));
        drop(inner);
        drop(passed);
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_proto::otlp::logs::v1::LogRecord as OtlpLogRecord;

    fn record(i: usize, body: usize) -> LogRecord {
        LogRecord {
            resource_id: 1,
            scope_id: 2,
            record: Some(OtlpLogRecord {
                severity_number: i as i32,
                body: Some(AnyValue {
                    value: Some(Value::StringValue("x".repeat(body))),
                }),
                attributes: vec![KeyValue {
                    key: "user.id".into(),
                    value: Some(AnyValue {
                        value: Some(Value::IntValue(i as i64)),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
        }
    }

    fn records(n: usize, body: usize) -> Vec<LogRecord> {
        (0..n).map(|i| record(i, body)).collect()
    }

    #[test]
    fn records_are_taken_once_by_sequence_number() {
        let fresh = FreshLogs::default();
        fresh.put(10, records(3, 4));
        fresh.put(20, records(2, 4));
        let taken = fresh.take(&[11, 12, 13, 20]);
        assert_eq!(
            taken,
            [
                Some(record(1, 4)),
                Some(record(2, 4)),
                None,
                Some(record(0, 4))
            ]
        );
        assert_eq!(fresh.take(&[11, 21]), [None, Some(record(1, 4))]);
        // A read that ended in the middle of a write: the next one finds the rest of it.
        fresh.put(30, records(4, 4));
        assert_eq!(fresh.take(&[30, 31]).iter().flatten().count(), 2);
        assert_eq!(fresh.take(&[32, 33]).iter().flatten().count(), 2);
        assert_eq!(fresh.inner.lock().unwrap().bytes, cost_of(&vec![None; 4]));
    }

    #[test]
    fn writes_past_the_bound_are_not_kept_and_writes_read_past_are_dropped() {
        let fresh = FreshLogs::default();
        let one =
            |body: usize| cost_of(&vec![Some((footprint(&record(0, body)), record(0, body)))]);
        let body = FRESH_LOG_BYTES / 4 - one(0);
        assert_eq!(one(body), FRESH_LOG_BYTES / 4);
        for first in [0, 10, 20, 30, 40] {
            fresh.put(first, records(1, body));
        }
        assert!(fresh.take(&[0])[0].is_some());
        // A write all taken still holds its entry until a read passes it.
        let entry = cost_of(&vec![None]);
        assert_eq!(
            fresh.inner.lock().unwrap().bytes,
            FRESH_LOG_BYTES / 4 * 3 + entry
        );
        // Refused, and then, as nothing was taken since, so is a write that would fit.
        fresh.put(44, records(1, FRESH_LOG_BYTES / 2));
        fresh.put(45, records(1, 0));
        assert!(fresh.take(&[10])[0].is_some());
        // Room again: the next write is kept.
        fresh.put(50, records(1, body));
        // Reading from 30 drops 20, unread: the indexer passed it.
        assert!(fresh.take(&[30])[0].is_some());
        assert_eq!(fresh.take(&[10, 20]), [None, None]);
        let kept: Vec<bool> = fresh
            .take(&[40, 44, 45, 50])
            .iter()
            .map(Option::is_some)
            .collect();
        assert_eq!(
            kept,
            [false, false, false, true],
            "40 and 44 passed the bound"
        );
        // What stays counted: the entry of write 50, all taken, until a read passes it.
        assert_eq!(fresh.inner.lock().unwrap().bytes, entry);
    }

    #[test]
    fn a_record_counts_every_buffer_it_owns() {
        let small = footprint(&record(0, 0));
        assert_eq!(footprint(&record(0, 1000)), small + 1000);
        let mut nested = record(0, 0);
        let mut grown = 0;
        if let Some(r) = nested.record.as_mut() {
            let before = r.attributes.capacity();
            r.attributes.push(KeyValue {
                key: "k".into(),
                value: Some(AnyValue {
                    value: Some(Value::ArrayValue(
                        lookout_proto::otlp::common::v1::ArrayValue {
                            values: vec![AnyValue {
                                value: Some(Value::StringValue("y".repeat(500))),
                            }],
                        },
                    )),
                }),
                ..Default::default()
            });
            grown = r.attributes.capacity() - before;
        }
        // The new slots of `attributes`, the key, the array's one value and its text.
        assert_eq!(
            footprint(&nested),
            small + grown * size_of::<KeyValue>() + 1 + size_of::<AnyValue>() + 500
        );
    }
}
