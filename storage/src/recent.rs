//! Exact retries of log records: a record identical to one stored recently (same resource,
//! scope, time, body, attributes, severity and ids: the same encoded bytes) is acknowledged
//! and not stored again, as Loki drops a line identical in stream, time and content. Bounded:
//! the last [`RECENT_RECORDS`] records written are remembered (a retry comes seconds after the
//! original); what is older, or from before a restart, can be stored twice.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

/// Records remembered (16 bytes each, about 8 MiB with the set's overhead).
pub const RECENT_RECORDS: usize = 262_144;

#[derive(Debug, Default)]
pub(crate) struct Recent {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    set: HashSet<u128>,
    order: VecDeque<u128>,
}

impl Recent {
    /// For each hash, whether it is new (to store): a hash already remembered, or met earlier
    /// in `hashes`, is not. The new ones are remembered at once, so a concurrent identical
    /// export is not stored twice either; [`Recent::forget`] them if the write fails.
    pub(crate) fn claim(&self, hashes: &[u128]) -> Vec<bool> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let fresh: Vec<bool> = hashes.iter().map(|h| inner.set.insert(*h)).collect();
        for (h, new) in hashes.iter().zip(&fresh) {
            if *new {
                inner.order.push_back(*h);
            }
        }
        while inner.order.len() > RECENT_RECORDS {
            if let Some(old) = inner.order.pop_front() {
                inner.set.remove(&old);
            }
        }
        fresh
    }

    /// Forgets claimed hashes whose write failed (a retry must store them).
    pub(crate) fn forget(&self, hashes: impl Iterator<Item = u128>) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for h in hashes {
            inner.set.remove(&h);
        }
        let Inner { set, order } = &mut *inner;
        order.retain(|h| set.contains(h));
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
        let many: Vec<u128> = (0..RECENT_RECORDS as u128 + 10).collect();
        r.claim(&many);
        assert_eq!(r.claim(&[0]), [true], "the oldest were forgotten");
        let inner = r.inner.lock().unwrap();
        assert!(inner.set.len() <= RECENT_RECORDS && inner.order.len() <= RECENT_RECORDS);
    }
}
