//! The delivery thread: prepares events (resolve, redact, serialize, trim), sends what
//! waits in batches, publishes session counts on a timer, replays the outbox at start,
//! and keeps what is left on shutdown.
//!
//! Events are prepared in tasks of their own (a stack waits on the symbols thread), then
//! wait in `pending` until a lane is free: up to `max_in_flight` batches are in their
//! first attempt at once, and whatever waits meanwhile goes out together in the next
//! batch. So a slow endpoint gets fewer, larger requests, and a fast one gets each event
//! at once.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

mod keep;

use super::batch::{self, Serialized, ENVELOPE_BYTES};
use super::outbox::{Claimed, Content, Held, HEARTBEAT};
use super::redact::Filters;
use super::send::{OnDisk, Sender};
use super::{bump, trim, Barrier, Counters, Finish, Job, Progress, THREAD_NAME};
use crate::config::Configuration;
use crate::model::{Event, Outgoing};
use crate::sessions::SessionTracker;
use crate::stacktrace::{FrameRules, LoadedModule};

/// Events and payloads in hand (being prepared, waiting for a batch, being sent or
/// waiting out a backoff) before the thread stops taking jobs from the queue, so an
/// outage keeps memory bounded.
const MAX_IN_HAND: usize = 256;

/// One event, prepared, with its number for `flush` and its outbox file when it was
/// written to disk before being sent.
struct Prepared {
    event: Serialized,
    held: Option<Held>,
    done: Finish,
}

pub(crate) struct Worker {
    sender: Sender,
    api_key: Option<String>,
    filters: Filters,
    rules: Arc<FrameRules>,
    session_interval: Duration,
    root_warned: AtomicBool,
    /// Bytes to make room for when serializing the next event.
    typical_size: AtomicUsize,
    /// Batches in their first attempt.
    lanes: Arc<Semaphore>,
    /// The process's modules, read once, when the first event is kept unresolved.
    modules: std::sync::OnceLock<Vec<LoadedModule>>,
    progress: Arc<Progress>,
    counters: Arc<Counters>,
    sessions: Arc<SessionTracker>,
    stopped: watch::Receiver<bool>,
}

impl Worker {
    pub(crate) fn new(
        config: &Configuration,
        api_key: Option<String>,
        counters: Arc<Counters>,
        sessions: Arc<SessionTracker>,
        progress: Arc<Progress>,
        stopped: watch::Receiver<bool>,
    ) -> Result<Self, String> {
        Ok(Self {
            sender: Sender::new(config, api_key.as_deref(), counters.clone(), stopped.clone())?,
            api_key,
            filters: Filters::from_config(config),
            rules: Arc::new(FrameRules::new(
                config.project_root.clone(),
                config.project_packages.clone(),
                config.exclude_modules.clone(),
                config.send_code,
            )),
            session_interval: config.session_publish_interval,
            root_warned: AtomicBool::new(false),
            typical_size: AtomicUsize::new(0),
            lanes: Arc::new(Semaphore::new(config.max_in_flight)),
            modules: std::sync::OnceLock::new(),
            progress,
            counters,
            sessions,
            stopped,
        })
    }

    pub(crate) fn has_outbox(&self) -> bool {
        self.sender.has_outbox()
    }
}

/// The two queues callers fill: events of quiet error groups first.
pub(crate) struct Queues {
    pub(crate) main: mpsc::Receiver<Job>,
    pub(crate) fresh: mpsc::Receiver<Job>,
}

impl Queues {
    async fn recv(&mut self) -> Option<Job> {
        tokio::select! {
            biased;
            Some(job) = self.fresh.recv() => Some(job),
            job = self.main.recv() => job,
        }
    }

    fn try_recv(&mut self) -> Option<Job> {
        self.fresh.try_recv().or_else(|_| self.main.try_recv()).ok()
    }
}

/// Starts the thread; `finished` opens when it ends.
pub(crate) fn spawn(worker: Worker, queues: Queues, finished: Arc<Barrier>) -> Result<(), String> {
    std::thread::Builder::new()
        .name(THREAD_NAME.into())
        .spawn(move || {
            run(worker, queues);
            finished.open();
        })
        .map(drop)
        .map_err(|e| format!("could not start the delivery thread: {e}"))
}

fn run(worker: Worker, mut queues: Queues) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(target: "bugsnag_core", "Bugsnag delivery thread could not start a runtime: {e}");
            // Open every barrier so that flush never waits on this thread.
            while let Some(job) = queues.main.blocking_recv() {
                if let Job::Barrier(barrier) = job {
                    barrier.open();
                }
            }
            return;
        }
    };
    runtime.block_on(Arc::new(worker).serve(queues));
}

impl Worker {
    async fn serve(self: Arc<Self>, mut queues: Queues) {
        let mut preparing: JoinSet<Option<Prepared>> = JoinSet::new();
        let mut sending = JoinSet::new();
        let mut pending: VecDeque<Prepared> = VecDeque::new();
        let mut stopped = self.stopped.clone();
        // Claimed here, off the caller's thread (reading the directory may be slow), and
        // numbered before any job, so the first flush waits for them.
        for Claimed { held, content } in self.sender.claim_outbox() {
            match content {
                Content::Payload(outgoing) => {
                    let done = self.progress.start_events(outgoing.count);
                    self.send(&mut sending, outgoing, OnDisk { whole: Some(held), parts: Vec::new() }, done)
                }
                Content::Unresolved(api_key, event) => {
                    let done = self.progress.start();
                    let worker = self.clone();
                    preparing.spawn(async move { worker.prepare_kept(held, api_key, event, done).await });
                }
            }
        }
        let mut ticker = tokio::time::interval(self.session_interval);
        ticker.tick().await; // the first tick is immediate
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        loop {
            // Counted by event (a batch in a retry holds many), so an outage keeps
            // memory bounded however events were batched.
            let in_hand = self.progress.unfinished();
            tokio::select! {
                // In order: the first branch ready runs.
                biased;
                _ = stopped.wait_for(|stop| *stop) => break,
                Some(prepared) = preparing.join_next(), if !preparing.is_empty() => {
                    pending.extend(prepared.ok().flatten());
                    self.send_batches(&mut sending, &mut pending);
                }
                Some(_) = sending.join_next(), if !sending.is_empty() => self.send_batches(&mut sending, &mut pending),
                // A lane freed by a batch past its first attempt (now waiting to retry).
                Ok(lane) = self.lanes.clone().acquire_owned(), if !pending.is_empty() => {
                    self.send_batch(&mut sending, &mut pending, lane);
                    self.send_batches(&mut sending, &mut pending);
                }
                job = queues.recv(), if in_hand < MAX_IN_HAND => match job {
                    None => break,
                    Some(Job::Event(event)) => {
                        let done = self.progress.start();
                        bump(&self.counters.taken);
                        let worker = self.clone();
                        preparing.spawn(async move { worker.prepare(event, done).await });
                    }
                    Some(Job::Ready(outgoing)) => {
                        let done = self.progress.start();
                        bump(&self.counters.taken);
                        self.send(&mut sending, outgoing, OnDisk::default(), done);
                    }
                    Some(Job::Barrier(barrier)) => self.progress.barrier(barrier),
                },
                _ = ticker.tick() => {
                    if let Some(outgoing) = self.sessions.take_payload() {
                        let done = self.progress.start();
                        self.send(&mut sending, outgoing, OnDisk::default(), done);
                    }
                }
                _ = heartbeat.tick() => self.sender.heartbeat(),
            }
        }
        if *self.stopped.borrow() {
            self.keep_everything(queues, preparing, pending).await;
        } else {
            // The queue closed (the client is gone): what is in hand is still sent.
            while let Some(prepared) = preparing.join_next().await {
                pending.extend(prepared.ok().flatten());
            }
            while !pending.is_empty() {
                self.send_batches(&mut sending, &mut pending);
                if sending.join_next().await.is_none() {
                    break;
                }
            }
        }
        while sending.join_next().await.is_some() {}
    }

    /// Starts as many batches as there are free lanes.
    fn send_batches(self: &Arc<Self>, sending: &mut JoinSet<()>, pending: &mut VecDeque<Prepared>) {
        while !pending.is_empty() {
            let Ok(lane) = self.lanes.clone().try_acquire_owned() else { break };
            self.send_batch(sending, pending, lane);
        }
    }

    /// Starts one batch from what waits, in `lane` for its first attempt.
    fn send_batch(
        self: &Arc<Self>,
        sending: &mut JoinSet<()>,
        pending: &mut VecDeque<Prepared>,
        lane: OwnedSemaphorePermit,
    ) {
        let Some((outgoing, disk, done)) = take_batch(pending) else { return };
        let worker = self.clone();
        sending.spawn(async move {
            worker.sender.deliver(outgoing, disk, Some(lane)).await;
            drop(done);
        });
    }

    /// Sends one payload in a task of its own; `done` finishes when the task does.
    fn send(self: &Arc<Self>, sending: &mut JoinSet<()>, outgoing: Outgoing, disk: OnDisk, done: Finish) {
        let worker = self.clone();
        sending.spawn(async move {
            worker.sender.deliver(outgoing, disk, None).await;
            drop(done);
        });
    }

    /// Resolves, redacts, serializes and trims an event; `None` (counted, with a log
    /// line) if it cannot be sent. An unhandled event may be the process's last words:
    /// it is on disk before it waits for a batch.
    async fn prepare(&self, mut event: Box<Event>, done: Finish) -> Option<Prepared> {
        if !self.resolve_or_keep(&mut event).await {
            return None;
        }
        name_allocation_failure(&mut event);
        self.check_project_root(&event);
        self.filters.event(&mut event);
        // The caller's gate makes sure there is a key; an event without one is counted.
        let api_key = event.api_key.take().or_else(|| self.api_key.clone()).unwrap_or_default();
        // Room for an event as large as the last one, up front: growing a small buffer
        // step by step made allocation the thread's largest cost.
        let typical = self.typical_size.load(Ordering::Relaxed);
        let mut body = Vec::with_capacity(typical.clamp(4096, trim::MAX_PAYLOAD_BYTES));
        let body = match serde_json::to_writer(&mut body, &event).map(|()| body) {
            Ok(_) if api_key.is_empty() => None,
            Ok(body) => trim::fit(body, trim::MAX_PAYLOAD_BYTES - ENVELOPE_BYTES),
            Err(e) => {
                tracing::error!(target: "bugsnag_core", "could not serialize a Bugsnag event ({e}); dropped");
                None
            }
        };
        let record = event.crash_record.take().map(Held::claimed);
        let Some(body) = body else {
            bump(&self.counters.dropped_invalid);
            self.sender.forget(OnDisk { whole: record, parts: Vec::new() });
            return None;
        };
        self.typical_size.store(body.len() + body.len() / 4, Ordering::Relaxed);
        let unhandled = event.unhandled;
        let event = Serialized { api_key, body };
        let held = if unhandled {
            batch::payload(&event.api_key, &[&event.body]).and_then(|alone| self.sender.hold(&alone))
        } else {
            None
        };
        // A crash record is gone once its event is in the outbox; until then it stands
        // for it (removed when sent, given back when kept).
        let held = match (held, record) {
            (Some(held), record) => {
                self.sender.forget(OnDisk { whole: record, parts: Vec::new() });
                Some(held)
            }
            (None, record) => record,
        };
        Some(Prepared { event, held, done })
    }

    /// Warns once when a report's frames have files but none is in-project: a
    /// `project_root` copied as is from documentation, or the wrong directory.
    fn check_project_root(&self, event: &Event) {
        // A returned error is reported where middleware received it: no code of the
        // user's is expected on that stack.
        if event.severity_reason.kind == "unhandledErrorMiddleware" {
            return;
        }
        let frames = event.exceptions.first().and_then(|e| e.stacktrace.sent_frames()).unwrap_or_default();
        let with_files = frames.iter().any(|f| f.file != "<unknown>");
        if with_files && !frames.iter().any(|f| f.in_project) && !self.root_warned.swap(true, Ordering::Relaxed) {
            crate::diagnostics::warn(&match &self.rules.project_root {
                Some(root) => format!(
                    "no frame of this Bugsnag report is under project_root {} (nor in project_packages): check the setting, or the report's stack will show no code of yours",
                    root.display()
                ),
                None => "no frame of this Bugsnag report is in your workspace as the program's debug information records it (nor in project_packages): build with debug information (at least `debug = \"line-tables-only\"`), or set project_packages".to_owned(),
            });
        }
    }
}

/// A recorded abort whose stack passes through Rust's allocation-failure handler is a
/// failed allocation: said once the stack is known.
fn name_allocation_failure(event: &mut Event) {
    let Some(exception) = event.exceptions.first_mut() else { return };
    if event.severity_reason.kind != "signal" || exception.message != "abort" {
        return;
    }
    let frames = exception.stacktrace.sent_frames().unwrap_or_default();
    if frames.iter().any(|f| f.method.contains("handle_alloc_error")) {
        exception.message = "memory allocation failed".to_owned();
    }
}

/// The next batch from the front of `pending`: its payload, the outbox files of its
/// events, and their numbers.
fn take_batch(pending: &mut VecDeque<Prepared>) -> Option<(Outgoing, OnDisk, Vec<Finish>)> {
    let count = batch::take_count(pending.iter().map(|p| &p.event));
    if count == 0 {
        return None;
    }
    let taken: Vec<Prepared> = pending.drain(..count).collect();
    let bodies: Vec<&[u8]> = taken.iter().map(|p| p.event.body.as_slice()).collect();
    let outgoing = batch::payload(&taken[0].event.api_key, &bodies)?;
    let mut disk = OnDisk::default();
    let mut done = Vec::with_capacity(taken.len());
    for prepared in taken {
        disk.parts.extend(prepared.held);
        done.push(prepared.done);
    }
    // A one-event batch's file holds exactly it.
    if outgoing.count == 1 {
        disk.whole = disk.parts.pop();
    }
    Some((outgoing, disk, done))
}
