//! Exact retries of log records: a record identical to one stored recently (same resource,
//! scope, time, body, attributes, severity and ids: the same encoded bytes) is acknowledged
//! and not stored again, as Loki drops a line identical in stream, time and content. Bounded:
//! at least the last [`RECENT_RECORDS`] records written are remembered (a retry comes seconds
//! after the original); what is older, or from before a restart, can be stored twice.

use std::sync::Mutex;

use rustc_hash::FxHashSet;

/// Records surely remembered. Two generations of about this many are kept (16 bytes each,
/// about 8 MiB with the sets' overhead): once the newer is full, the older is dropped whole.
pub const RECENT_RECORDS: usize = 131_072;

#[derive(Debug, Default)]
pub(crate) struct Recent {
    inner: Mutex<Inner>,
}

/// The hashes are xxh3's, uniform already: a set hashes them with Fx, not SipHash.
#[derive(Debug, Default)]
struct Inner {
    newer: FxHashSet<u128>,
    older: FxHashSet<u128>,
}

impl Recent {
    /// For each hash, whether it is new (to store): a hash already remembered, or met earlier
    /// in `hashes`, is not. The new ones are remembered at once, so a concurrent identical
    /// export is not stored twice either; [`Recent::forget`] them if the write fails.
    pub(crate) fn claim(&self, hashes: &[u128]) -> Vec<bool> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        // Between claims only: a batch is checked against itself whole, however large (the
        // newer generation passes its size by at most one export's records).
        let dropped = (inner.newer.len() >= RECENT_RECORDS).then(|| {
            let newer = std::mem::replace(
                &mut inner.newer,
                FxHashSet::with_capacity_and_hasher(RECENT_RECORDS, Default::default()),
            );
            std::mem::replace(&mut inner.older, newer)
        });
        // Only records written join the newer generation: a retry does not push out others.
        let fresh = hashes
            .iter()
            .map(|h| !inner.older.contains(h) && inner.newer.insert(*h))
            .collect();
        // Freed after the lock is released: exports wait on it.
        drop(inner);
        drop(dropped);
        fresh
    }

    /// Forgets claimed hashes whose write failed (a retry must store them).
    pub(crate) fn forget(&self, hashes: impl Iterator<Item = u128>) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for h in hashes {
            inner.newer.remove(&h);
            inner.older.remove(&h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_refused_within_a_batch_and_across_batches_and_failures_are_forgotten() {
        let r = Recent::default();
        assert_eq!(r.claim(&[1, 2, 1]), [true, true, false]);
        assert_eq!(r.claim(&[2, 3]), [false, true]);
        r.forget([3].into_iter());
        assert_eq!(r.claim(&[3]), [true]);
    }

    #[test]
    fn memory_is_bounded_and_the_last_records_written_are_remembered() {
        let r = Recent::default();
        let n = RECENT_RECORDS as u128;
        let mut written = 0;
        while written < 3 * n {
            let batch: Vec<u128> = (written..(written + 1000).min(3 * n)).collect();
            assert!(r.claim(&batch).iter().all(|new| *new));
            // Retries of remembered records do not push out others.
            r.claim(&batch[..10]);
            written += batch.len() as u128;
        }
        let last: Vec<u128> = (2 * n..3 * n).collect();
        assert!(
            r.claim(&last).iter().all(|new| !new),
            "the last RECENT_RECORDS are remembered"
        );
        assert_eq!(r.claim(&[0]), [true], "the oldest were forgotten");
        let inner = r.inner.lock().unwrap();
        assert!(inner.newer.len() <= RECENT_RECORDS + 1000);
        assert!(inner.older.len() <= RECENT_RECORDS + 1000);
    }

    #[test]
    fn a_batch_larger_than_both_generations_is_checked_against_itself_whole() {
        let r = Recent::default();
        let mut batch: Vec<u128> = (0..2 * RECENT_RECORDS as u128 + 5).collect();
        batch.push(0);
        let fresh = r.claim(&batch);
        assert_eq!(fresh.iter().filter(|new| **new).count(), batch.len() - 1);
        assert_eq!(fresh.last(), Some(&false));
    }
}
