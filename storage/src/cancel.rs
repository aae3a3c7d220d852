//! Cancellation of a query's blocking work when the client that asked for it goes away.
//!
//! A query runs on one blocking thread; [`cancellable`] marks that thread with the query's flag
//! for the duration, and every deadline check on that thread ([`expired`]) also answers true
//! once the flag is set. The async side holds a [`CancelOnDrop`]: when the request's future is
//! dropped (the client disconnected, or the server's own timeout fired) the work stops at its
//! next check instead of running to its deadline.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

thread_local! {
    static CURRENT: RefCell<Option<Arc<AtomicBool>>> = const { RefCell::new(None) };
}

/// Sets its flag when dropped, unless [`CancelOnDrop::disarm`]ed.
#[derive(Debug)]
pub struct CancelOnDrop(Option<Arc<AtomicBool>>);

impl CancelOnDrop {
    /// A guard and the flag it sets.
    pub fn new() -> (CancelOnDrop, Arc<AtomicBool>) {
        let flag = Arc::new(AtomicBool::new(false));
        (CancelOnDrop(Some(Arc::clone(&flag))), flag)
    }

    /// The work finished: dropping the guard no longer cancels anything.
    pub fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(flag) = self.0.take() {
            flag.store(true, Ordering::Relaxed);
        }
    }
}

/// Runs `f` with `flag` as this thread's cancellation flag.
pub fn cancellable<T>(flag: Arc<AtomicBool>, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<Arc<AtomicBool>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = previous);
        }
    }
    let _restore = Restore(CURRENT.with(|c| c.borrow_mut().replace(flag)));
    f()
}

/// Whether the work on this thread was cancelled.
pub fn cancelled() -> bool {
    CURRENT.with(|c| {
        c.borrow()
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
    })
}

/// Whether `deadline` has passed or the work on this thread was cancelled.
pub fn expired(deadline: Option<Instant>) -> bool {
    cancelled() || deadline.is_some_and(|d| Instant::now() >= d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_guard_cancels_only_the_work_it_guards() {
        let (guard, flag) = CancelOnDrop::new();
        let (other, other_flag) = CancelOnDrop::new();
        drop(guard);
        assert!(cancellable(flag, cancelled));
        assert!(!cancellable(other_flag, cancelled));
        assert!(!cancelled(), "the flag is removed after the work");
        other.disarm();
    }

    #[test]
    fn a_disarmed_guard_cancels_nothing() {
        let (guard, flag) = CancelOnDrop::new();
        guard.disarm();
        assert!(!cancellable(flag, || expired(None)));
    }
}
