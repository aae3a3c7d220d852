//! Log records just written, kept encoded for the log indexer: while it keeps up it takes
//! them from here instead of reading them back from `logs` (a multi-get through the memtables
//! for every record). A cache, never the truth: `log_queue` says what is to be indexed, and a
//! record not found here (evicted, taken by a pass that then failed, or written before a
//! restart) is read from `logs`.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Memory kept at most (about half a second of records at 100 000 records/s).
pub const FRESH_LOG_BYTES: usize = 32 << 20;

/// What a kept record holds: its buffer and its slot.
fn cost(record: &Vec<u8>) -> usize {
    record.capacity() + std::mem::size_of::<Option<Vec<u8>>>()
}

/// What the records of a write still kept hold.
fn cost_of(records: &[Option<Vec<u8>>]) -> usize {
    records.iter().flatten().map(cost).sum()
}

#[derive(Debug, Default)]
pub(crate) struct FreshLogs {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Each write's records by the sequence number of its first: the records of a write are
    /// numbered consecutively.
    writes: BTreeMap<u64, Vec<Option<Vec<u8>>>>,
    bytes: usize,
}

impl FreshLogs {
    /// Keeps the encoded records of a write, numbered from `first_seq`; the oldest writes go
    /// when the bound is passed.
    pub(crate) fn put(&self, first_seq: u64, records: Vec<Vec<u8>>) {
        let records: Vec<Option<Vec<u8>>> = records.into_iter().map(Some).collect();
        let size = cost_of(&records);
        if size > FRESH_LOG_BYTES || records.is_empty() {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.bytes += size;
        // Sequence numbers are never given twice; were they, the first write's are forgotten.
        if let Some(replaced) = inner.writes.insert(first_seq, records) {
            inner.bytes -= cost_of(&replaced);
        }
        while inner.bytes > FRESH_LOG_BYTES {
            let Some((_, oldest)) = inner.writes.pop_first() else {
                break;
            };
            inner.bytes -= cost_of(&oldest);
        }
    }

    /// Takes the records numbered `seqs` (ascending), `None` for those not kept. Writes wholly
    /// below the first are dropped: the indexer reads the queue in sequence order, so it has
    /// read them (a pass that fails reads them again from `logs`).
    pub(crate) fn take(&self, seqs: &[u64]) -> Vec<Option<Vec<u8>>> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let Inner { writes, bytes } = &mut *inner;
        if let Some(&first) = seqs.first() {
            while let Some(entry) = writes.first_entry() {
                if *entry.key() + entry.get().len() as u64 > first {
                    break;
                }
                *bytes -= cost_of(&entry.remove());
            }
        }
        seqs.iter()
            .map(|&seq| {
                let (&start, records) = writes.range_mut(..=seq).next_back()?;
                let record = records
                    .get_mut(usize::try_from(seq - start).ok()?)?
                    .take()?;
                *bytes -= cost(&record);
                Some(record)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(n: usize, size: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| vec![i as u8; size]).collect()
    }

    #[test]
    fn records_are_taken_once_by_sequence_number() {
        let fresh = FreshLogs::default();
        fresh.put(10, records(3, 4));
        fresh.put(20, records(2, 4));
        let taken = fresh.take(&[11, 12, 13, 20]);
        assert_eq!(
            taken,
            [Some(vec![1; 4]), Some(vec![2; 4]), None, Some(vec![0; 4])]
        );
        assert_eq!(fresh.take(&[11, 21]), [None, Some(vec![1; 4])]);
        // A read that ended in the middle of a write: the next one finds the rest of it.
        fresh.put(30, records(4, 4));
        assert_eq!(fresh.take(&[30, 31]).iter().flatten().count(), 2);
        assert_eq!(fresh.take(&[32, 33]).iter().flatten().count(), 2);
        assert_eq!(fresh.inner.lock().unwrap().bytes, 0);
    }

    #[test]
    fn the_oldest_writes_go_past_the_bound_and_writes_read_past_are_dropped() {
        let fresh = FreshLogs::default();
        let size = FRESH_LOG_BYTES / 4 - std::mem::size_of::<Option<Vec<u8>>>();
        for first in [0, 10, 20, 30, 40] {
            fresh.put(first, records(1, size));
        }
        assert_eq!(fresh.take(&[0]), [None], "evicted");
        assert!(fresh.take(&[10])[0].is_some());
        // Reading from 40 drops 20 and 30, unread: the indexer passed them.
        assert!(fresh.take(&[40])[0].is_some());
        assert_eq!(fresh.take(&[20, 30]), [None, None]);
        assert_eq!(fresh.inner.lock().unwrap().bytes, 0);
    }
}
