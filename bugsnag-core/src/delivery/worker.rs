//! The delivery thread: prepares events, sends payloads with retries, publishes session
//! counts on a timer, replays the outbox at start, and persists what is left on shutdown.
//!
//! Events and sessions each have their own endpoint state: request slots, and the time
//! before which its `Retry-After` says not to call it. A payload takes a slot only for
//! the length of one attempt, never while it waits out a backoff, so a failing sessions
//! endpoint cannot hold up events, nor the other way round.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::outbox::{Claimed, Held, Outbox, HEARTBEAT};
use super::redact::Filters;
use super::retry::{classify, RetryPolicy, Verdict};
use super::{bump, trim, Barrier, Counters, Finish, Job, Progress, THREAD_NAME};
use crate::config::Configuration;
use crate::model::{Event, Kind, Notifier, Outgoing, NOTIFIER};
use crate::sessions::SessionTracker;
use crate::stacktrace::{FrameRules, Stacktrace};

/// Payloads in hand (being sent or waiting out a backoff) before the thread stops taking
/// jobs from the queue, so an outage keeps memory bounded.
const MAX_IN_HAND: usize = 256;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Payload<'a> {
    api_key: &'a str,
    payload_version: &'static str,
    notifier: &'a Notifier,
    events: [&'a Event; 1],
}

/// One API endpoint: where it is, how many requests it may have in flight, and when its
/// last `Retry-After` lets it be called again.
struct Endpoint {
    url: Option<reqwest::Url>,
    slots: Semaphore,
    not_before: Mutex<Option<Instant>>,
}

impl Endpoint {
    fn new(url: Option<reqwest::Url>, slots: usize) -> Self {
        Self { url, slots: Semaphore::new(slots), not_before: Mutex::default() }
    }

    fn not_before(&self) -> Option<Instant> {
        *self.not_before.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wait_at_least(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut not_before = self.not_before.lock().unwrap_or_else(|p| p.into_inner());
        *not_before = Some(not_before.map_or(until, |t| t.max(until)));
    }
}

pub(crate) struct Worker {
    http: reqwest::Client,
    events: Endpoint,
    sessions_endpoint: Endpoint,
    api_key: Option<String>,
    filters: Filters,
    rules: Arc<FrameRules>,
    retry: RetryPolicy,
    session_interval: Duration,
    debug: bool,
    root_warned: std::sync::atomic::AtomicBool,
    outbox: Option<Outbox>,
    progress: Arc<Progress>,
    counters: Arc<Counters>,
    sessions: Arc<SessionTracker>,
    stopped: watch::Receiver<bool>,
}

fn parse_url(config: &Configuration, what: &str, text: &str) -> Result<reqwest::Url, String> {
    let text = config.with_scheme(what, text);
    reqwest::Url::parse(&text)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| format!("the {what} {text:?} is not an http(s) URL"))
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
        let notify_url = parse_url(config, "endpoint", &config.endpoint)?;
        let sessions_url = match parse_url(config, "session_endpoint", &config.session_endpoint) {
            Ok(url) => Some(url),
            Err(e) => {
                tracing::warn!(target: "bugsnag_core", "{e}; sessions will not be sent");
                None
            }
        };
        let mut http =
            reqwest::Client::builder().timeout(config.delivery_timeout).pool_max_idle_per_host(config.max_in_flight);
        if let Some(proxy) = &config.proxy_host {
            let proxy = reqwest::Proxy::all(config.with_scheme("proxy_host", proxy))
                .map_err(|e| format!("the proxy_host {proxy:?} is not usable: {e}"))?;
            http = http.proxy(proxy);
        }
        let http = http.build().map_err(|e| format!("could not build the HTTP client: {e}"))?;
        let outbox = config.outbox_dir.as_ref().and_then(|dir| {
            Outbox::new(dir.clone(), config.outbox_max_files, config.outbox_max_bytes)
                .map_err(|e| tracing::error!(target: "bugsnag_core", "Bugsnag outbox {} unusable: {e}", dir.display()))
                .ok()
        });
        Ok(Self {
            http,
            events: Endpoint::new(Some(notify_url), config.max_in_flight),
            // Session counts are one small payload per interval: one request at a time.
            sessions_endpoint: Endpoint::new(sessions_url, 1),
            api_key,
            filters: Filters::from_config(config),
            rules: Arc::new(FrameRules {
                project_root: config.project_root.clone(),
                project_packages: config.project_packages.clone(),
                exclude_modules: config.exclude_modules.clone(),
                send_code: config.send_code,
                main_crate: crate::stacktrace::main_crate(),
            }),
            retry: RetryPolicy {
                max_retries: config.max_retries,
                initial_backoff: config.retry_initial_backoff,
                max_backoff: config.retry_max_backoff,
            },
            session_interval: config.session_publish_interval,
            debug: config.debug,
            root_warned: Default::default(),
            outbox,
            progress,
            counters,
            sessions,
            stopped,
        })
    }

    pub(crate) fn has_outbox(&self) -> bool {
        self.outbox.is_some()
    }

    fn endpoint(&self, kind: Kind) -> &Endpoint {
        match kind {
            Kind::Event => &self.events,
            Kind::Sessions => &self.sessions_endpoint,
        }
    }
}

/// Starts the thread; `finished` opens when it ends.
pub(crate) fn spawn(worker: Worker, jobs: mpsc::Receiver<Job>, finished: Arc<Barrier>) -> Result<(), String> {
    std::thread::Builder::new()
        .name(THREAD_NAME.into())
        .spawn(move || {
            run(worker, jobs);
            finished.open();
        })
        .map(drop)
        .map_err(|e| format!("could not start the delivery thread: {e}"))
}

fn run(worker: Worker, mut jobs: mpsc::Receiver<Job>) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(target: "bugsnag_core", "Bugsnag delivery thread could not start a runtime: {e}");
            // Open every barrier so that flush never waits on this thread.
            while let Some(job) = jobs.blocking_recv() {
                if let Job::Barrier(barrier) = job {
                    barrier.open();
                }
            }
            return;
        }
    };
    runtime.block_on(Arc::new(worker).serve(jobs));
}

impl Worker {
    async fn serve(self: Arc<Self>, mut jobs: mpsc::Receiver<Job>) {
        let mut tasks = JoinSet::new();
        let mut stopped = self.stopped.clone();
        // Claimed here, off the caller's thread (reading the directory may be slow), and
        // numbered before any job, so the first flush waits for them.
        for Claimed { held, outgoing } in self.outbox.as_ref().map(Outbox::claim_all).unwrap_or_default() {
            let done = self.progress.start();
            self.dispatch(&mut tasks, done, outgoing, Some(held));
        }
        let mut ticker = tokio::time::interval(self.session_interval);
        ticker.tick().await; // the first tick is immediate
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        loop {
            tokio::select! {
                // In order: the last branch runs only when nothing else is ready.
                biased;
                _ = stopped.wait_for(|stop| *stop) => {
                    // Shutdown ran out of time: everything still queued goes to the outbox.
                    while let Ok(job) = jobs.try_recv() {
                        match job {
                            Job::Event(mut event) => {
                                if let Some(outgoing) = self.prepare(&mut event).await {
                                    self.keep(&outgoing);
                                }
                            }
                            Job::Ready(outgoing) => self.keep(&outgoing),
                            Job::Barrier(barrier) => barrier.open(),
                        }
                    }
                    break;
                }
                job = jobs.recv(), if tasks.len() < MAX_IN_HAND => match job {
                    None => break,
                    Some(Job::Event(event)) => {
                        let done = self.progress.start();
                        bump(&self.counters.taken);
                        let worker = self.clone();
                        tasks.spawn(async move {
                            worker.prepare_and_deliver(event).await;
                            drop(done);
                        });
                    }
                    Some(Job::Ready(outgoing)) => {
                        let done = self.progress.start();
                        bump(&self.counters.taken);
                        self.dispatch(&mut tasks, done, outgoing, None);
                    }
                    Some(Job::Barrier(barrier)) => self.progress.barrier(barrier),
                },
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                _ = ticker.tick() => {
                    if let Some(outgoing) = self.sessions.take_payload() {
                        let done = self.progress.start();
                        self.dispatch(&mut tasks, done, outgoing, None);
                    }
                }
                _ = heartbeat.tick() => {
                    if let Some(outbox) = &self.outbox {
                        outbox.heartbeat();
                    }
                }
            }
        }
        while tasks.join_next().await.is_some() {}
    }

    /// Sends in a task of its own; `done` finishes when the task does.
    fn dispatch(self: &Arc<Self>, tasks: &mut JoinSet<()>, done: Finish, outgoing: Outgoing, held: Option<Held>) {
        let worker = self.clone();
        tasks.spawn(async move {
            worker.deliver(outgoing, held).await;
            drop(done);
        });
    }

    /// One event's work: prepared, on disk first when it is unhandled (it may be the
    /// process's last words, so an abort cannot lose it), then sent.
    async fn prepare_and_deliver(&self, mut event: Box<Event>) {
        let persist_first = event.unhandled;
        if let Some(outgoing) = self.prepare(&mut event).await {
            let held = if persist_first { self.hold(&outgoing) } else { None };
            self.deliver(outgoing, held).await;
        }
    }

    /// Resolves, redacts, trims and serializes an event; `None` (counted, with a log
    /// line) if it cannot be sent.
    async fn prepare(&self, event: &mut Event) -> Option<Outgoing> {
        let mut traces: Vec<&mut Stacktrace> = event.exceptions.iter_mut().map(|e| &mut e.stacktrace).collect();
        crate::stacktrace::resolve(&mut traces, &self.rules).await;
        self.check_project_root(event);
        self.filters.event(event);
        // The caller's gate makes sure there is a key; an event without one is counted.
        let api_key = event.api_key.take().or_else(|| self.api_key.clone()).unwrap_or_default();
        let payload = Payload { api_key: &api_key, payload_version: "4.0", notifier: &NOTIFIER, events: [event] };
        let body = match serde_json::to_vec(&payload) {
            Ok(_) if api_key.is_empty() => None,
            Ok(body) => trim::fit(body, trim::MAX_PAYLOAD_BYTES),
            Err(e) => {
                tracing::error!(target: "bugsnag_core", "could not serialize a Bugsnag event ({e}); dropped");
                None
            }
        };
        if body.is_none() {
            bump(&self.counters.dropped_invalid);
        }
        Some(Outgoing { kind: Kind::Event, api_key, body: body? })
    }

    /// Warns once when a report's frames have files but none is in-project: a
    /// `project_root` copied as is from documentation, or the wrong directory.
    fn check_project_root(&self, event: &Event) {
        // A returned error is reported where middleware received it: no code of the
        // user's is expected on that stack.
        if event.severity_reason.kind == "unhandledErrorMiddleware" {
            return;
        }
        let frames = event.exceptions.first().and_then(|e| e.stacktrace.frames()).unwrap_or_default();
        let with_files = frames.iter().any(|f| f.file != "<unknown>");
        if with_files && !frames.iter().any(|f| f.in_project) && !self.root_warned.swap(true, Ordering::Relaxed) {
            crate::diagnostics::warn(&format!(
                "no frame of this Bugsnag report is under project_root {} (nor in project_packages): check the setting, or the report's stack will show no code of yours",
                self.rules.project_root.display()
            ));
        }
    }

    /// Sends with retries; what cannot be sent is kept in the outbox or dropped. `held` is
    /// the outbox file of this payload when it has one.
    async fn deliver(&self, mut outgoing: Outgoing, mut held: Option<Held>) {
        let endpoint = self.endpoint(outgoing.kind);
        let mut stopped = self.stopped.clone();
        let mut trimmed_harder = false;
        let mut retry = 0;
        loop {
            let verdict = tokio::select! {
                verdict = self.attempt(endpoint, &outgoing) => verdict,
                _ = stopped.wait_for(|stop| *stop) => break,
            };
            crate::diagnostics::trace(self.debug, || {
                format!("{:?} payload of {} bytes: {verdict:?}", outgoing.kind, outgoing.body.len())
            });
            let (reason, retry_after) = match verdict {
                Verdict::Delivered => {
                    bump(&self.counters.delivered);
                    self.counters.failing.store(false, Ordering::Relaxed);
                    return self.forget(held);
                }
                Verdict::Rejected(413) if !trimmed_harder && outgoing.kind == Kind::Event => {
                    // The API measures differently than we do: one harder trim, one retry.
                    trimmed_harder = true;
                    if let Some(body) = trim::fit(outgoing.body.clone(), trim::MAX_PAYLOAD_BYTES / 2) {
                        tracing::warn!(target: "bugsnag_core", "Bugsnag answered 413; retrying once with the event trimmed to {} bytes", body.len());
                        outgoing.body = body;
                        continue;
                    }
                    bump(&self.counters.dropped_rejected);
                    return self.forget(held);
                }
                Verdict::Rejected(status) => {
                    bump(&self.counters.dropped_rejected);
                    tracing::warn!(target: "bugsnag_core", "Bugsnag refused a {:?} payload with {status}; it will not be retried", outgoing.kind);
                    return self.forget(held);
                }
                Verdict::Retry { reason, retry_after } => (reason, retry_after),
            };
            if let Some(wait) = retry_after {
                endpoint.wait_at_least(wait);
            }
            if !self.counters.failing.swap(true, Ordering::Relaxed) {
                tracing::warn!(target: "bugsnag_core", "{reason}; retrying");
            }
            // On disk before it waits, so a crash during the wait cannot lose it.
            if held.is_none() {
                held = self.hold(&outgoing);
            }
            if retry >= self.retry.max_retries {
                break;
            }
            retry += 1;
            bump(&self.counters.retried);
            // After a `Retry-After` the endpoint itself says when; otherwise back off.
            let backoff = if retry_after.is_some() { Duration::ZERO } else { self.retry.delay(retry - 1, None) };
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stopped.wait_for(|stop| *stop) => break,
            }
        }
        match held {
            Some(held) => self.release(held),
            None => self.keep(&outgoing),
        }
    }

    /// One request: waits out the endpoint's `Retry-After`, then for a slot, and holds
    /// the slot for this request only.
    async fn attempt(&self, endpoint: &Endpoint, outgoing: &Outgoing) -> Verdict {
        let Some(url) = &endpoint.url else { return Verdict::Rejected(0) };
        while let Some(until) = endpoint.not_before().filter(|t| *t > Instant::now()) {
            tokio::time::sleep_until(until).await;
        }
        let Ok(_slot) = endpoint.slots.acquire().await else { return Verdict::Rejected(0) };
        let result = self
            .http
            .post(url.clone())
            .header("Bugsnag-Api-Key", &outgoing.api_key)
            .header("Bugsnag-Payload-Version", outgoing.kind.payload_version())
            .header("Bugsnag-Sent-At", crate::time::now_rfc3339())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(outgoing.body.clone())
            .send()
            .await;
        match result {
            Ok(response) => {
                let retry_after = response.headers().get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok());
                classify(response.status().as_u16(), retry_after)
            }
            // Connection refused or reset, timeouts: all worth another try.
            Err(e) => Verdict::Retry { reason: format!("could not reach Bugsnag: {e}"), retry_after: None },
        }
    }

    /// Writes a payload to the outbox as held by this process, when there is an outbox.
    fn hold(&self, outgoing: &Outgoing) -> Option<Held> {
        let outbox = self.outbox.as_ref()?;
        outbox
            .hold(outgoing)
            .map_err(|e| tracing::error!(target: "bugsnag_core", "could not write to the Bugsnag outbox: {e}"))
            .ok()
    }

    fn forget(&self, held: Option<Held>) {
        if let (Some(outbox), Some(held)) = (&self.outbox, held) {
            outbox.remove(held);
        }
    }

    /// Gives a held payload back to the outbox for the next start.
    fn release(&self, held: Held) {
        let Some(outbox) = &self.outbox else { return };
        match outbox.release(held) {
            Ok(()) => bump(&self.counters.persisted),
            Err(e) => {
                bump(&self.counters.dropped_undeliverable);
                tracing::error!(target: "bugsnag_core", "could not keep a payload in the Bugsnag outbox: {e}; dropped");
            }
        }
    }

    /// Keeps a payload for the next start, or drops it when there is no outbox.
    fn keep(&self, outgoing: &Outgoing) {
        match &self.outbox {
            Some(outbox) => match outbox.write(outgoing) {
                Ok(()) => bump(&self.counters.persisted),
                Err(e) => {
                    bump(&self.counters.dropped_undeliverable);
                    tracing::error!(target: "bugsnag_core", "could not write to the Bugsnag outbox: {e}; payload dropped");
                }
            },
            None => bump(&self.counters.dropped_undeliverable),
        }
    }
}
