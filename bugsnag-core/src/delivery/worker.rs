//! The delivery thread: prepares events, sends payloads with retries, publishes session
//! counts on a timer, replays the outbox at start, and persists what is left on shutdown.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;

use super::outbox::{Claimed, Outbox};
use super::retry::{classify, RetryPolicy, Verdict};
use super::{bump, trim, Counters, Job, Kind, Outgoing, Progress, NOTIFIER, THREAD_NAME};
use crate::config::Configuration;
use crate::event::Event;
use crate::redact::Filters;
use crate::session::SessionTracker;
use crate::stacktrace::{FrameRules, Resolver, Stacktrace};

/// Set once debug information has been loaded in this process.
static SYMBOLS_LOADED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// The longest a new client waits for that load.
const SYMBOL_LOAD_WAIT: Duration = Duration::from_secs(3);

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Payload<'a> {
    api_key: &'a str,
    payload_version: &'static str,
    notifier: &'a super::Notifier,
    events: [&'a Event; 1],
}

pub(crate) struct Worker {
    http: reqwest::Client,
    notify_url: reqwest::Url,
    sessions_url: Option<reqwest::Url>,
    api_key: Option<String>,
    filters: Filters,
    rules: FrameRules,
    retry: RetryPolicy,
    max_in_flight: usize,
    session_interval: Duration,
    outbox: Option<Outbox>,
    progress: Arc<Progress>,
    counters: Arc<Counters>,
    sessions: Arc<SessionTracker>,
    stopped: watch::Receiver<bool>,
}

fn parse_url(config: &Configuration, what: &str, text: &str) -> Result<reqwest::Url, String> {
    let text = config.with_scheme(text);
    reqwest::Url::parse(&text)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| format!("the {what} {text:?} is not an http(s) URL"))
}

impl Worker {
    pub(crate) fn new(
        config: &Configuration,
        api_key: Option<String>,
        progress: Arc<Progress>,
        counters: Arc<Counters>,
        sessions: Arc<SessionTracker>,
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
            let proxy = reqwest::Proxy::all(config.with_scheme(proxy))
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
            notify_url,
            sessions_url,
            api_key,
            filters: Filters::new(&config.params_filters),
            rules: FrameRules {
                project_root: config.project_root.clone(),
                project_packages: config.project_packages.clone(),
                exclude_modules: config.exclude_modules.clone(),
                send_code: config.send_code,
            },
            retry: RetryPolicy {
                max_retries: config.max_retries,
                initial_backoff: config.retry_initial_backoff,
                max_backoff: config.retry_max_backoff,
            },
            max_in_flight: config.max_in_flight.max(1),
            session_interval: config.session_publish_interval,
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

    /// Claims what earlier runs left in the outbox, numbering each payload now so that a
    /// `flush` right after the client starts waits for them too.
    pub(crate) fn claim_outbox(&self) -> Vec<(u64, Claimed)> {
        let claimed = self.outbox.as_ref().map(Outbox::claim_all).unwrap_or_default();
        claimed.into_iter().map(|c| (self.progress.issue(), c)).collect()
    }
}

/// Starts the thread, and waits (once per process, bounded) for debug information to
/// load: backtrace-rs serialises capture and resolution behind one process-wide lock,
/// and the first resolution holds it while the load runs; doing it here keeps it off
/// every later `notify`.
pub(crate) fn spawn(worker: Worker, jobs: mpsc::Receiver<Job>) -> Result<(), String> {
    let (warmed, warm) = std::sync::mpsc::channel();
    let replay = worker.claim_outbox();
    std::thread::Builder::new()
        .name(THREAD_NAME.into())
        .spawn(move || run(worker, jobs, replay, warmed))
        .map_err(|e| format!("could not start the delivery thread: {e}"))?;
    if !SYMBOLS_LOADED.load(Ordering::Acquire) {
        let _ = warm.recv_timeout(SYMBOL_LOAD_WAIT);
    }
    Ok(())
}

fn run(
    worker: Worker,
    mut jobs: mpsc::Receiver<Job>,
    replay: Vec<(u64, Claimed)>,
    warmed: std::sync::mpsc::Sender<()>,
) {
    let mut resolver = Resolver::default();
    Stacktrace::capture().resolve(&worker.rules, &mut resolver);
    SYMBOLS_LOADED.store(true, Ordering::Release);
    let _ = warmed.send(());
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(target: "bugsnag_core", "Bugsnag delivery thread could not start a runtime: {e}");
            // Finish every job so that flush never waits on this thread.
            replay.iter().for_each(|(seq, _)| worker.progress.finish(*seq));
            while let Some(Job::Event { seq, .. } | Job::Ready { seq, .. }) = jobs.blocking_recv() {
                worker.progress.finish(seq);
            }
            return;
        }
    };
    runtime.block_on(Arc::new(worker).serve(jobs, replay, resolver));
}

impl Worker {
    async fn serve(
        self: Arc<Self>,
        mut jobs: mpsc::Receiver<Job>,
        replay: Vec<(u64, Claimed)>,
        mut resolver: Resolver,
    ) {
        let slots = Arc::new(Semaphore::new(self.max_in_flight));
        let mut tasks = JoinSet::new();
        let mut stopped = self.stopped.clone();
        for (seq, Claimed { path, outgoing }) in replay {
            self.dispatch(&slots, &mut tasks, seq, outgoing, Some(path)).await;
        }
        let mut ticker = tokio::time::interval(self.session_interval);
        ticker.tick().await; // the first tick is immediate
        loop {
            tokio::select! {
                job = jobs.recv() => match job {
                    None => break,
                    Some(Job::Event { seq, mut event }) => match self.prepare(&mut event, &mut resolver) {
                        Some(outgoing) => self.dispatch(&slots, &mut tasks, seq, outgoing, None).await,
                        None => self.progress.finish(seq),
                    },
                    Some(Job::Ready { seq, outgoing }) => self.dispatch(&slots, &mut tasks, seq, outgoing, None).await,
                },
                _ = ticker.tick() => {
                    if let Some(outgoing) = self.sessions.take_payload() {
                        let seq = self.progress.issue();
                        self.dispatch(&slots, &mut tasks, seq, outgoing, None).await;
                    }
                }
                _ = stopped.wait_for(|stop| *stop) => {
                    // Shutdown ran out of time: everything still queued goes to the outbox.
                    while let Ok(job) = jobs.try_recv() {
                        match job {
                            Job::Event { seq, mut event } => {
                                if let Some(outgoing) = self.prepare(&mut event, &mut resolver) {
                                    self.keep(&outgoing);
                                }
                                self.progress.finish(seq);
                            }
                            Job::Ready { seq, outgoing } => {
                                self.keep(&outgoing);
                                self.progress.finish(seq);
                            }
                        }
                    }
                    break;
                }
            }
            while tasks.try_join_next().is_some() {}
        }
        while tasks.join_next().await.is_some() {}
    }

    /// Waits for a free slot (or shutdown), then sends in a task of its own.
    async fn dispatch(
        self: &Arc<Self>,
        slots: &Arc<Semaphore>,
        tasks: &mut JoinSet<()>,
        seq: u64,
        outgoing: Outgoing,
        claimed: Option<std::path::PathBuf>,
    ) {
        let mut stopped = self.stopped.clone();
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.ok(),
            _ = stopped.wait_for(|stop| *stop) => None,
        };
        let worker = self.clone();
        tasks.spawn(async move {
            match slot {
                Some(_slot) => worker.deliver(&outgoing).await,
                None => worker.keep(&outgoing),
            }
            if let Some(path) = claimed {
                Outbox::remove(&path);
            }
            worker.progress.finish(seq);
        });
    }

    /// Resolves, redacts, trims and serializes an event; `None` if it cannot be sent.
    fn prepare(&self, event: &mut Event, resolver: &mut Resolver) -> Option<Outgoing> {
        for exception in &mut event.exceptions {
            exception.stacktrace.resolve(&self.rules, resolver);
        }
        self.filters.event(event);
        let api_key = event.api_key.take().or_else(|| self.api_key.clone())?;
        let body = trim::fit(event, |event| {
            let payload = Payload { api_key: &api_key, payload_version: "4.0", notifier: &NOTIFIER, events: [event] };
            serde_json::to_vec(&payload)
                .map_err(|e| tracing::error!(target: "bugsnag_core", "could not serialize a Bugsnag event: {e}"))
                .ok()
        })?;
        Some(Outgoing { kind: Kind::Event, api_key, body })
    }

    /// Sends with retries; what cannot be sent is kept in the outbox or dropped.
    async fn deliver(&self, outgoing: &Outgoing) {
        let mut stopped = self.stopped.clone();
        for retry in 0.. {
            let verdict = tokio::select! {
                verdict = self.attempt(outgoing) => verdict,
                _ = stopped.wait_for(|stop| *stop) => return self.keep(outgoing),
            };
            let (reason, retry_after) = match verdict {
                Verdict::Delivered => {
                    bump(&self.counters.delivered);
                    self.counters.failing.store(false, Ordering::Relaxed);
                    return;
                }
                Verdict::Rejected(status) => {
                    bump(&self.counters.dropped_rejected);
                    tracing::warn!(target: "bugsnag_core", "Bugsnag refused a {:?} payload with {status}; it will not be retried", outgoing.kind);
                    return;
                }
                Verdict::Retry { reason, retry_after } => (reason, retry_after),
            };
            if !self.counters.failing.swap(true, Ordering::Relaxed) {
                tracing::warn!(target: "bugsnag_core", "{reason}; retrying");
            }
            if retry >= self.retry.max_retries {
                break;
            }
            bump(&self.counters.retried);
            tokio::select! {
                _ = tokio::time::sleep(self.retry.delay(retry, retry_after)) => {}
                _ = stopped.wait_for(|stop| *stop) => break,
            }
        }
        self.keep(outgoing);
    }

    async fn attempt(&self, outgoing: &Outgoing) -> Verdict {
        let url = match outgoing.kind {
            Kind::Event => &self.notify_url,
            Kind::Sessions => match &self.sessions_url {
                Some(url) => url,
                None => return Verdict::Rejected(0),
            },
        };
        let result = self
            .http
            .post(url.clone())
            .header("Bugsnag-Api-Key", &outgoing.api_key)
            .header("Bugsnag-Payload-Version", outgoing.kind.payload_version())
            .header("Bugsnag-Sent-At", super::now_rfc3339())
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
