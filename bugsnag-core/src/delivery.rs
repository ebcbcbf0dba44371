//! Delivery: one named OS thread owning a current-thread tokio runtime and one HTTP
//! client. Callers hand events over with a non-blocking `try_send` into a bounded queue;
//! the thread resolves stack traces, redacts, serializes and POSTs them.
//!
//! `flush` waits on a watermark of finished sequence numbers, so it waits for exactly the
//! events queued before it, and never past its timeout, whatever the endpoint does.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{mpsc, Semaphore};

use crate::config::Configuration;
use crate::event::Event;
use crate::redact::Filters;
use crate::stacktrace::{FrameRules, SourceCache, Stacktrace};

/// The delivery thread's name; the panic hook never reports from it.
pub(crate) const THREAD_NAME: &str = "bugsnag-delivery";
/// Set once debug information has been loaded in this process.
static SYMBOLS_LOADED: AtomicBool = AtomicBool::new(false);
/// The longest a new client waits for that load.
const SYMBOL_LOAD_WAIT: Duration = Duration::from_secs(3);
/// Requests in flight at once, so one slow request does not stall the queue.
const MAX_IN_FLIGHT: usize = 4;

/// The notifier block of every payload.
#[derive(Serialize)]
pub(crate) struct Notifier {
    name: &'static str,
    version: &'static str,
    url: &'static str,
}

pub(crate) const NOTIFIER: Notifier = Notifier {
    name: "Rust Bugsnag Notifier",
    version: env!("CARGO_PKG_VERSION"),
    url: "https://github.com/bugsnag-rust/bugsnag-rust",
};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Payload<'a> {
    api_key: &'a str,
    payload_version: &'static str,
    notifier: &'a Notifier,
    events: [&'a Event; 1],
}

/// What a client has done with the events given to it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Events handed to the delivery thread.
    pub queued: u64,
    /// Events Bugsnag accepted (2xx).
    pub delivered: u64,
    /// Events Bugsnag refused or that could not be sent.
    pub failed: u64,
    /// Events dropped because the queue was full.
    pub dropped_queue_full: u64,
}

#[derive(Default)]
struct Counters {
    queued: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
    dropped_queue_full: AtomicU64,
    failing: AtomicBool,
}

/// Sequence numbers finished: all below `low`, plus those in `ahead`.
#[derive(Default)]
struct Watermark {
    low: u64,
    ahead: BTreeSet<u64>,
}

#[derive(Default)]
struct Progress {
    issued: AtomicU64,
    done: Mutex<Watermark>,
    changed: Condvar,
}

impl Progress {
    fn finish(&self, seq: u64) {
        let mut done = self.done.lock().unwrap_or_else(|p| p.into_inner());
        done.ahead.insert(seq);
        while done.ahead.first() == Some(&done.low) {
            done.ahead.pop_first();
            done.low += 1;
        }
        self.changed.notify_all();
    }

    fn wait(&self, timeout: Duration) -> bool {
        let target = self.issued.load(Ordering::SeqCst);
        let deadline = Instant::now() + timeout;
        let mut done = self.done.lock().unwrap_or_else(|p| p.into_inner());
        while done.low < target {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            done = self.changed.wait_timeout(done, left).unwrap_or_else(|p| p.into_inner()).0;
        }
        true
    }
}

struct Job {
    seq: u64,
    event: Box<Event>,
}

/// The caller's side of the delivery thread.
pub(crate) struct Delivery {
    queue: mpsc::Sender<Job>,
    progress: Arc<Progress>,
    counters: Arc<Counters>,
}

/// What the delivery thread needs from the configuration.
struct Worker {
    http: reqwest::Client,
    endpoint: reqwest::Url,
    api_key: Option<String>,
    filters: Filters,
    rules: FrameRules,
    progress: Arc<Progress>,
    counters: Arc<Counters>,
}

impl Delivery {
    /// Validates the endpoint and starts the delivery thread.
    pub(crate) fn start(config: &Configuration) -> Result<Self, String> {
        let endpoint_text = config.with_scheme(&config.endpoint);
        let endpoint = reqwest::Url::parse(&endpoint_text)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| format!("the endpoint {endpoint_text:?} is not an http(s) URL"))?;
        let mut http =
            reqwest::Client::builder().timeout(config.delivery_timeout).pool_max_idle_per_host(MAX_IN_FLIGHT);
        if let Some(proxy) = &config.proxy_host {
            let proxy = reqwest::Proxy::all(config.with_scheme(proxy))
                .map_err(|e| format!("the proxy_host {proxy:?} is not usable: {e}"))?;
            http = http.proxy(proxy);
        }
        let http = http.build().map_err(|e| format!("could not build the HTTP client: {e}"))?;
        let (queue, jobs) = mpsc::channel(config.queue_capacity.max(1));
        let progress = Arc::new(Progress::default());
        let counters = Arc::new(Counters::default());
        let worker = Worker {
            http,
            endpoint,
            api_key: config.api_key.clone(),
            filters: Filters::new(&config.params_filters),
            rules: FrameRules {
                project_root: config.project_root.clone(),
                project_packages: config.project_packages.clone(),
                exclude_modules: config.exclude_modules.clone(),
                send_code: config.send_code,
            },
            progress: progress.clone(),
            counters: counters.clone(),
        };
        let (warmed, warm) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name(THREAD_NAME.into())
            .spawn(move || worker.run(jobs, warmed))
            .map_err(|e| format!("could not start the delivery thread: {e}"))?;
        // backtrace-rs serialises capture and resolution behind one process-wide lock, and
        // the first resolution holds it while debug information loads. Waiting for that
        // here, once per process, keeps it off every later `notify`.
        if !SYMBOLS_LOADED.load(Ordering::Acquire) {
            let _ = warm.recv_timeout(SYMBOL_LOAD_WAIT);
        }
        Ok(Self { queue, progress, counters })
    }

    /// Hands an event over without blocking; `false` when the queue is full.
    pub(crate) fn enqueue(&self, event: Box<Event>) -> bool {
        let seq = self.progress.issued.fetch_add(1, Ordering::SeqCst);
        match self.queue.try_send(Job { seq, event }) {
            Ok(()) => {
                self.counters.queued.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(_) => {
                self.counters.dropped_queue_full.fetch_add(1, Ordering::Relaxed);
                self.progress.finish(seq);
                false
            }
        }
    }

    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        self.progress.wait(timeout)
    }

    pub(crate) fn stats(&self) -> Stats {
        let c = &self.counters;
        Stats {
            queued: c.queued.load(Ordering::Relaxed),
            delivered: c.delivered.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            dropped_queue_full: c.dropped_queue_full.load(Ordering::Relaxed),
        }
    }
}

impl Worker {
    fn run(self, mut jobs: mpsc::Receiver<Job>, warmed: std::sync::mpsc::Sender<()>) {
        let mut sources = SourceCache::default();
        Stacktrace::capture().resolve(&self.rules, &mut sources);
        SYMBOLS_LOADED.store(true, Ordering::Release);
        let _ = warmed.send(());
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!(target: "bugsnag_core", "Bugsnag delivery thread could not start a runtime: {e}");
                // Finish every job so that flush never waits on this thread.
                while let Some(job) = jobs.blocking_recv() {
                    self.progress.finish(job.seq);
                }
                return;
            }
        };
        runtime.block_on(async move {
            let worker = Arc::new(self);
            let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
            let mut tasks = tokio::task::JoinSet::new();
            while let Some(Job { seq, mut event }) = jobs.recv().await {
                let body = worker.prepare(&mut event, &mut sources);
                let Ok(slot) = slots.clone().acquire_owned().await else { break };
                let worker = worker.clone();
                tasks.spawn(async move {
                    if let Some((api_key, body)) = body {
                        worker.send(&api_key, body).await;
                    }
                    worker.progress.finish(seq);
                    drop(slot);
                });
                while tasks.try_join_next().is_some() {}
            }
            while tasks.join_next().await.is_some() {}
        });
    }

    /// Resolves, redacts and serializes an event; `None` if it cannot be sent.
    fn prepare(&self, event: &mut Event, sources: &mut SourceCache) -> Option<(String, Vec<u8>)> {
        for exception in &mut event.exceptions {
            exception.stacktrace.resolve(&self.rules, sources);
        }
        self.filters.event(event);
        let api_key = event.api_key.take().or_else(|| self.api_key.clone())?;
        let payload = Payload { api_key: &api_key, payload_version: "4.0", notifier: &NOTIFIER, events: [&*event] };
        match serde_json::to_vec(&payload) {
            Ok(body) => Some((api_key, body)),
            Err(e) => {
                tracing::error!(target: "bugsnag_core", "could not serialize a Bugsnag event: {e}");
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    async fn send(&self, api_key: &str, body: Vec<u8>) {
        let result = self
            .http
            .post(self.endpoint.clone())
            .header("Bugsnag-Api-Key", api_key)
            .header("Bugsnag-Payload-Version", "4.0")
            .header("Bugsnag-Sent-At", now_rfc3339())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        let counters = &self.counters;
        let problem = match result {
            Ok(response) if response.status().is_success() => {
                counters.delivered.fetch_add(1, Ordering::Relaxed);
                counters.failing.store(false, Ordering::Relaxed);
                return;
            }
            Ok(response) => format!("Bugsnag answered {}", response.status()),
            Err(e) => format!("could not reach Bugsnag: {e}"),
        };
        counters.failed.fetch_add(1, Ordering::Relaxed);
        // Warn when delivery starts failing, not for every event of an outage.
        if !counters.failing.swap(true, Ordering::Relaxed) {
            tracing::warn!(target: "bugsnag_core", "{problem}; event dropped");
        } else {
            tracing::debug!(target: "bugsnag_core", "{problem}; event dropped");
        }
    }
}

/// The current time as RFC 3339 with milliseconds, in UTC.
pub(crate) fn now_rfc3339() -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    time::OffsetDateTime::now_utc().format(&format).unwrap_or_default()
}
