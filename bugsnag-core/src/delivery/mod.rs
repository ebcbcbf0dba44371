//! Delivery: one named OS thread owning a current-thread tokio runtime and one HTTP
//! client. Callers hand events over with a non-blocking `try_send` into a bounded queue;
//! the thread resolves stack traces, redacts, trims, serializes and POSTs them, retries
//! what is worth retrying, and keeps what it cannot send in the optional outbox.
//!
//! `flush` waits until no payload numbered before it is still unfinished, so it waits for
//! exactly the payloads queued before it, and never past its timeout, whatever the
//! endpoint does.

mod batch;
mod outbox;
mod progress;
mod redact;
mod retry;
mod send;
mod trim;
mod unresolved;
mod worker;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use crate::config::Configuration;
use crate::model::{Event, Outgoing};
use crate::sessions::SessionTracker;
use progress::{Barrier, Finish, Progress};
pub use redact::is_sensitive_header;

/// Events of quiet error groups that fit beside a full queue.
const FRESH_CAPACITY: usize = 64;

/// The delivery thread's name; the panic hook never reports from it.
pub(crate) const THREAD_NAME: &str = "bugsnag-delivery";

/// What a client has done with the events given to it.
///
/// Delivery is asynchronous: right after a report, `queued` counts it and `in_flight` holds
/// it, and nothing is delivered yet. The other counts settle once
/// [`Client::flush`](crate::Client::flush) returns `true`: by then every event queued
/// before the flush was delivered, kept in the outbox (`persisted`), or dropped (the
/// `dropped_*` counts, each with a log line saying why).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Events handed to the delivery thread.
    pub queued: u64,
    /// Events and session payloads still on their way: waiting in the queue, being
    /// resolved or sent, or waiting for a retry. Neither delivered nor lost yet.
    pub in_flight: u64,
    /// Events Bugsnag accepted (and session-count payloads, one each).
    pub delivered: u64,
    /// Events sent again after a retryable failure, once per attempt (like every other
    /// counter, in events: a retried batch of 10 counts 10).
    pub retried: u64,
    /// Events (and session-count payloads) written to the outbox for a later start.
    pub persisted: u64,
    /// Events dropped because the queue was full.
    pub dropped_queue_full: u64,
    /// Events (and session-count payloads) Bugsnag refused for good (4xx other than
    /// 408 and 429).
    pub dropped_rejected: u64,
    /// Events (and session-count payloads) given up on after their retries, with no
    /// outbox to keep them.
    pub dropped_undeliverable: u64,
    /// Events that could not be serialized or made to fit the API's size limit (a log
    /// line says which).
    pub dropped_invalid: u64,
    /// Events the outbox dropped, oldest first, to stay within `outbox_max_events` and
    /// `outbox_max_bytes` (a log line says which file).
    pub dropped_outbox_full: u64,
    /// Events held back by the per-error budget (not built, so not queued): their
    /// counts go out with their groups' next events.
    pub held_back: u64,
}

impl Stats {
    /// Everything dropped, for whatever reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_queue_full
            + self.dropped_rejected
            + self.dropped_undeliverable
            + self.dropped_invalid
            + self.dropped_outbox_full
    }
}

#[derive(Debug, Default)]
struct Counters {
    queued: AtomicU64,
    delivered: AtomicU64,
    retried: AtomicU64,
    persisted: AtomicU64,
    dropped_queue_full: AtomicU64,
    dropped_rejected: AtomicU64,
    dropped_undeliverable: AtomicU64,
    dropped_invalid: AtomicU64,
    dropped_outbox_full: AtomicU64,
    /// Events and payloads put in the queue, and taken out of it by the thread.
    handed: AtomicU64,
    taken: AtomicU64,
    /// Set while delivery fails, so an outage is logged once rather than per event.
    failing: AtomicBool,
}

fn bump(counter: &AtomicU64) {
    add(counter, 1);
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

enum Job {
    Event(Box<Event>),
    Ready(Outgoing),
    /// Opens once every job queued before it is done.
    Barrier(Arc<Barrier>),
}

/// The caller's side of the delivery thread.
pub(crate) struct Delivery {
    queue: mpsc::Sender<Job>,
    /// Room kept for errors of quiet groups, taken only when copies of other errors
    /// have filled `queue`; the delivery thread empties it first.
    fresh: mpsc::Sender<Job>,
    /// What the delivery thread has in hand (being prepared, sent or retried).
    progress: Arc<Progress>,
    /// Opens when the delivery thread has finished, after a shutdown.
    finished: Arc<Barrier>,
    counters: Arc<Counters>,
    sessions: Arc<SessionTracker>,
    stop: watch::Sender<bool>,
    has_outbox: bool,
}

impl Delivery {
    /// Validates the endpoints and starts the delivery thread.
    /// `api_key` is the configured key once validated.
    pub(crate) fn start(
        config: &Configuration,
        api_key: Option<String>,
        sessions: Arc<SessionTracker>,
    ) -> Result<Self, String> {
        let (queue, jobs) = mpsc::channel(config.queue_capacity.max(1));
        let (fresh, fresh_jobs) = mpsc::channel(FRESH_CAPACITY);
        let counters = Arc::new(Counters::default());
        let (stop, stopped) = watch::channel(false);
        let progress = Arc::new(Progress::default());
        let worker =
            worker::Worker::new(config, api_key, counters.clone(), sessions.clone(), progress.clone(), stopped)?;
        let has_outbox = worker.has_outbox();
        let finished = Arc::new(Barrier::default());
        worker::spawn(worker, worker::Queues { main: jobs, fresh: fresh_jobs }, finished.clone())?;
        Ok(Self { queue, fresh, progress, finished, counters, sessions, stop, has_outbox })
    }

    /// Hands an event over without blocking; `false` when the queue is full. An event
    /// of a quiet error group (`fresh`) may take the room kept for such groups.
    pub(crate) fn enqueue(&self, event: Box<Event>, fresh: bool) -> bool {
        let sent = match self.queue.try_send(Job::Event(event)) {
            Err(mpsc::error::TrySendError::Full(job)) if fresh => self.fresh.try_send(job).is_ok(),
            sent => sent.is_ok(),
        };
        if sent {
            bump(&self.counters.queued);
            bump(&self.counters.handed);
        } else {
            bump(&self.counters.dropped_queue_full);
        }
        sent
    }

    /// Sends the session counts gathered so far, then waits for everything queued.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        if let Some(outgoing) = self.sessions.take_payload() {
            if self.queue.try_send(Job::Ready(outgoing)).is_ok() {
                bump(&self.counters.handed);
            }
        }
        // A timeout too long to add to now waits as long as it takes.
        let deadline = Instant::now().checked_add(timeout);
        let barrier = Arc::new(Barrier::default());
        let mut job = Job::Barrier(barrier.clone());
        // The barrier needs a place in a full queue: wait for one, within the timeout.
        loop {
            match self.queue.try_send(job) {
                Ok(()) => break,
                Err(mpsc::error::TrySendError::Closed(_)) => return false,
                Err(mpsc::error::TrySendError::Full(back)) => job = back,
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        barrier.wait(deadline)
    }

    /// Flushes; what is still unsent when `timeout` runs out goes to the outbox. Every
    /// loss is told in one line: what was dropped during the client's life, and what
    /// was still unsent at the end, with where it went.
    pub(crate) fn shutdown(&self, timeout: Duration) -> bool {
        let flushed = self.flush(timeout);
        let unsent = if flushed { 0 } else { self.unsent() };
        let persisted_before = self.counters.persisted.load(Ordering::Relaxed);
        let mut done = flushed;
        if !flushed && self.has_outbox {
            let _ = self.stop.send(true);
            // Writing files is quick, but the thread may be waiting for a stack to be
            // resolved: give it a moment, bounded like everything else.
            done = self.finished.wait(Some(Instant::now() + Duration::from_secs(2)));
        }
        let kept = self.counters.persisted.load(Ordering::Relaxed) - persisted_before;
        let stats = self.stats();
        let mut losses = Vec::new();
        if unsent > 0 {
            losses.push(match (self.has_outbox, kept) {
                (false, _) => format!(
                    "{unsent} events were still unsent when the shutdown timeout ({timeout:?}) ran out and are lost if the process ends now (set outbox_dir to keep them for the next start)"
                ),
                (true, kept) if kept as usize >= unsent => format!(
                    "{unsent} events were still unsent when the shutdown timeout ({timeout:?}) ran out; they were written to the outbox and will be sent on the next start"
                ),
                (true, kept) => format!(
                    "{unsent} events were still unsent when the shutdown timeout ({timeout:?}) ran out; {kept} were written to the outbox for the next start, the others are lost"
                ),
            });
        }
        if stats.dropped() > 0 {
            losses.push(format!(
                "{} events were dropped during the run ({} on a full queue, {} refused by Bugsnag, {} undeliverable, {} invalid, {} pushed out of the full outbox)",
                stats.dropped(),
                stats.dropped_queue_full,
                stats.dropped_rejected,
                stats.dropped_undeliverable,
                stats.dropped_invalid,
                stats.dropped_outbox_full,
            ));
        }
        if !losses.is_empty() {
            crate::diagnostics::warn(&format!("Bugsnag shutdown: {}", losses.join("; ")));
        }
        done
    }

    /// Payloads queued or in hand: what a shutdown that ran out of time leaves behind.
    fn unsent(&self) -> usize {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let queued = load(&self.counters.handed).saturating_sub(load(&self.counters.taken));
        usize::try_from(queued).unwrap_or(usize::MAX).saturating_add(self.progress.unfinished())
    }

    pub(crate) fn stats(&self) -> Stats {
        let c = &self.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            queued: load(&c.queued),
            in_flight: self.unsent() as u64,
            delivered: load(&c.delivered),
            retried: load(&c.retried),
            persisted: load(&c.persisted),
            dropped_queue_full: load(&c.dropped_queue_full),
            dropped_rejected: load(&c.dropped_rejected),
            dropped_undeliverable: load(&c.dropped_undeliverable),
            dropped_invalid: load(&c.dropped_invalid),
            dropped_outbox_full: load(&c.dropped_outbox_full),
            held_back: 0,
        }
    }
}
