//! What `flush` waits for, kept so that callers never take a lock the delivery thread
//! holds: `notify` only sends its event into the queue. The delivery thread numbers
//! each job as it takes it from the queue and tracks which numbers are unfinished;
//! `flush` sends a [`Barrier`] through the same queue, so when the thread takes it, every
//! job queued before it has a number, and the barrier opens once none below its own
//! number is unfinished. Only unfinished numbers are kept, so this stays bounded by the
//! jobs in hand, however many events an outage drops.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Unblocks one `flush` (or shutdown) when the work before it is done.
#[derive(Default)]
pub(crate) struct Barrier {
    open: Mutex<bool>,
    opened: Condvar,
}

impl Barrier {
    pub(crate) fn open(&self) {
        *self.open.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.opened.notify_all();
    }

    /// Waits until the barrier opens or `deadline` passes; `None` waits as long as it takes.
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> bool {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        while !*open {
            let left = deadline.map_or(Duration::from_secs(3600), |d| d.saturating_duration_since(Instant::now()));
            if left.is_zero() {
                return false;
            }
            open = self.opened.wait_timeout(open, left).unwrap_or_else(|p| p.into_inner()).0;
        }
        true
    }
}

#[derive(Default)]
struct Pending {
    next: u64,
    /// Unfinished numbers, each with the events its job carries.
    unfinished: BTreeMap<u64, u64>,
    /// The sum of those events.
    events: u64,
    barriers: Vec<(u64, Arc<Barrier>)>,
}

/// The delivery thread's numbering of the jobs it has in hand.
#[derive(Default)]
pub(crate) struct Progress {
    pending: Mutex<Pending>,
}

impl Progress {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Numbers a job of one event (or one session-count payload) taken in hand; the
    /// number finishes when the guard drops.
    pub(crate) fn start(self: &Arc<Self>) -> Finish {
        self.start_events(1)
    }

    /// Numbers a job carrying `events` (a batch read back from the outbox).
    pub(crate) fn start_events(self: &Arc<Self>, events: u64) -> Finish {
        let mut pending = self.lock();
        let seq = pending.next;
        pending.next += 1;
        pending.unfinished.insert(seq, events);
        pending.events += events;
        Finish { progress: self.clone(), seq }
    }

    /// Events in hand and not finished yet.
    pub(crate) fn unfinished(&self) -> usize {
        usize::try_from(self.lock().events).unwrap_or(usize::MAX)
    }

    /// Opens `barrier` once every job taken in hand before it has finished.
    pub(crate) fn barrier(&self, barrier: Arc<Barrier>) {
        let mut pending = self.lock();
        let target = pending.next;
        pending.barriers.push((target, barrier));
        open_reached(&mut pending);
    }

    fn finish(&self, seq: u64) {
        let mut pending = self.lock();
        if let Some(events) = pending.unfinished.remove(&seq) {
            pending.events -= events;
        }
        open_reached(&mut pending);
    }
}

fn open_reached(pending: &mut Pending) {
    let lowest = pending.unfinished.first_key_value().map_or(u64::MAX, |(seq, _)| *seq);
    pending.barriers.retain(|(target, barrier)| {
        let reached = lowest >= *target;
        if reached {
            barrier.open();
        }
        !reached
    });
}

/// A job's number, finished when dropped, however the work holding it ends.
pub(crate) struct Finish {
    progress: Arc<Progress>,
    seq: u64,
}

impl Drop for Finish {
    fn drop(&mut self) {
        self.progress.finish(self.seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn barriers_wait_for_earlier_jobs_only_and_memory_stays_bounded() {
        let progress = Arc::new(Progress::default());
        let stuck = progress.start(); // an event retrying through an outage
        for _ in 0..10_000 {
            drop(progress.start()); // events finished meanwhile
        }
        assert_eq!(progress.lock().unfinished.len(), 1, "memory stays bounded during a storm");
        let batch = progress.start_events(100);
        assert_eq!(progress.unfinished(), 101, "counted in events");
        drop(batch);
        let barrier = Arc::new(Barrier::default());
        progress.barrier(barrier.clone());
        assert!(!barrier.wait(Some(Instant::now() + Duration::from_millis(10))), "the stuck event is pending");
        let later = progress.start();
        drop(stuck);
        assert!(barrier.wait(Some(Instant::now())), "a later job does not hold the barrier");
        let next = Arc::new(Barrier::default());
        progress.barrier(next.clone());
        assert!(!next.wait(Some(Instant::now())));
        drop(later);
        assert!(next.wait(None));
    }
}
