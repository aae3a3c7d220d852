//! Exact retries of log records: a record identical to one stored recently (same resource,
//! scope, time, body, attributes, severity and ids: the same encoded bytes) is acknowledged
//! and not stored again, as Loki drops a line identical in stream, time and content. Bounded:
//! at least the last [`RECENT_RECORDS`] records written are remembered (a retry comes seconds
//! after the original); what is older, or from before a restart, can be stored twice.

use std::sync::Mutex;

use rustc_hash::FxHashSet;

/// Records surely remembered. Two generations of this many are kept (16 bytes each, about
/// 8 MiB with the sets' overhead): when the newer is full, the older is dropped whole.
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
        let mut dropped = None;
        let fresh = {
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            let mut fresh = Vec::with_capacity(hashes.len());
            for h in hashes {
                // A retry remembered by the older generation only is remembered again.
                let known = inner.older.contains(h);
                fresh.push(inner.newer.insert(*h) && !known);
                if inner.newer.len() >= RECENT_RECORDS {
                    let newer = std::mem::replace(
                        &mut inner.newer,
                        FxHashSet::with_capacity_and_hasher(RECENT_RECORDS, Default::default()),
                    );
                    dropped = Some(std::mem::replace(&mut inner.older, newer));
                }
            }
            fresh
        };
        // Freed after the lock is released: exports wait on it.
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
    fn memory_is_bounded() {
        let r = Recent::default();
        let n = RECENT_RECORDS as u128;
        let many: Vec<u128> = (0..2 * n + 10).collect();
        assert!(r.claim(&many).iter().all(|new| *new));
        assert_eq!(
            r.claim(&[0, 2 * n - RECENT_RECORDS as u128, 2 * n + 9]),
            [true, false, false],
            "the oldest were forgotten, the last RECENT_RECORDS are remembered"
        );
        let inner = r.inner.lock().unwrap();
        assert!(inner.newer.len() <= RECENT_RECORDS && inner.older.len() <= RECENT_RECORDS);
    }
}
