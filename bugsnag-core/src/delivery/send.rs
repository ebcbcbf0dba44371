//! [`Sender`]: sends payloads with retries, and keeps in the outbox what cannot be sent.
//!
//! Events and sessions each have their own endpoint state: request slots, and the time
//! before which its `Retry-After` says not to call it. A payload takes a slot only for
//! the length of one attempt, never while it waits out a backoff, so a failing sessions
//! endpoint cannot hold up events, nor the other way round.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

mod split;

use super::batch::{self, ENVELOPE_BYTES};
use super::outbox::{Claimed, Held, Outbox};
use super::retry::{classify, RetryPolicy, Verdict};
use super::unresolved::Unresolved;
use super::{add, trim, Counters};
use crate::config::Configuration;
use crate::model::{Kind, Outgoing};

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

/// How a payload's sending ended.
enum Sent {
    /// Delivered, or refused for good: nothing more to do.
    Done,
    /// Still to send (stopped, or out of retries): these events.
    Unsent(Outgoing),
}

/// The outbox files that hold a payload's events while it is being sent: one file
/// holding exactly the payload, and files holding some of its events (unhandled events
/// written to disk before they were batched).
#[derive(Default)]
pub(super) struct OnDisk {
    pub(super) whole: Option<Held>,
    pub(super) parts: Vec<Held>,
}

pub(super) struct Sender {
    http: reqwest::Client,
    events: Endpoint,
    sessions: Endpoint,
    retry: RetryPolicy,
    debug: bool,
    outbox: Option<Outbox>,
    counters: Arc<Counters>,
    stopped: watch::Receiver<bool>,
}

fn parse_url(config: &Configuration, what: &str, text: &str) -> Result<reqwest::Url, String> {
    let text = config.with_scheme(what, text);
    reqwest::Url::parse(&text)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| format!("the {what} {text:?} is not an http(s) URL"))
}

impl Sender {
    /// `api_key`: the configured key, under which what earlier runs kept is sent.
    pub(super) fn new(
        config: &Configuration,
        api_key: Option<&str>,
        counters: Arc<Counters>,
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
        let outbox = config.outbox_dir.as_ref().filter(|_| config.outbox).and_then(|dir| {
            let (max_events, max_bytes, key) =
                (config.outbox_max_events, config.outbox_max_bytes, api_key.unwrap_or_default().to_owned());
            Outbox::new(dir.clone(), max_events, max_bytes, counters.clone(), key)
                .map_err(|e| tracing::error!(target: "bugsnag_core", "Bugsnag outbox {} unusable: {e}", dir.display()))
                .ok()
        });
        Ok(Self {
            http,
            events: Endpoint::new(Some(notify_url), config.max_in_flight),
            // Session counts are one small payload per interval: one request at a time.
            sessions: Endpoint::new(sessions_url, 1),
            retry: RetryPolicy {
                max_retries: config.max_retries,
                initial_backoff: config.retry_initial_backoff,
                max_backoff: config.retry_max_backoff,
            },
            debug: config.debug,
            outbox,
            counters,
            stopped,
        })
    }

    pub(super) fn has_outbox(&self) -> bool {
        self.outbox.is_some()
    }

    fn endpoint(&self, kind: Kind) -> &Endpoint {
        match kind {
            Kind::Event => &self.events,
            Kind::Sessions => &self.sessions,
        }
    }

    /// What earlier runs left in the outbox, claimed for this process.
    pub(super) fn claim_outbox(&self) -> Vec<Claimed> {
        self.outbox.as_ref().map(Outbox::claim_all).unwrap_or_default()
    }

    /// Tells other processes sharing the outbox that this one still holds its files.
    pub(super) fn heartbeat(&self) {
        if let Some(outbox) = &self.outbox {
            outbox.heartbeat();
        }
    }

    /// Sends with retries; what cannot be sent is kept in the outbox or dropped. `lane`
    /// is given up after the first attempt (the worker forms the next batch then). A
    /// batch the API refuses whole (400, 413) is sent again in halves (`split`).
    pub(super) async fn deliver(&self, outgoing: Outgoing, mut disk: OnDisk, lane: Option<OwnedSemaphorePermit>) {
        match self.send(outgoing, &mut disk, false, lane).await {
            Sent::Done => self.forget(disk),
            Sent::Unsent(outgoing) => self.keep_on_disk(&outgoing, disk),
        }
    }

    /// Sends with retries. On disk before it waits for a retry (in `disk.whole`), unless
    /// `covered`: a file holding more than it (a batch being split) already does.
    async fn send(
        &self,
        mut outgoing: Outgoing,
        disk: &mut OnDisk,
        covered: bool,
        lane: Option<OwnedSemaphorePermit>,
    ) -> Sent {
        let endpoint = self.endpoint(outgoing.kind);
        let mut stopped = self.stopped.clone();
        let mut lane = lane;
        let mut trimmed_harder = false;
        let mut retry = 0;
        loop {
            let verdict = tokio::select! {
                verdict = self.attempt(endpoint, &outgoing) => verdict,
                _ = stopped.wait_for(|stop| *stop) => break,
            };
            lane.take();
            crate::diagnostics::trace(self.debug, || {
                format!("{:?} payload of {} bytes: {verdict:?}", outgoing.kind, outgoing.body.len())
            });
            let (reason, retry_after) = match verdict {
                Verdict::Delivered => {
                    add(&self.counters.delivered, outgoing.count);
                    self.counters.failing.store(false, Ordering::Relaxed);
                    return Sent::Done;
                }
                // One bad event must not take the others with it.
                Verdict::Rejected(400 | 413) if outgoing.count > 1 => {
                    return Box::pin(self.split(outgoing, disk, covered)).await;
                }
                Verdict::Rejected(413) if !trimmed_harder && outgoing.kind == Kind::Event => {
                    // The API measures differently than we do: one harder trim, one retry.
                    trimmed_harder = true;
                    if let Some(harder) = trimmed_harder_payload(&outgoing) {
                        tracing::warn!(target: "bugsnag_core", "Bugsnag answered 413; retrying once with the event trimmed to {} bytes", harder.body.len());
                        outgoing = harder;
                        continue;
                    }
                    add(&self.counters.dropped_rejected, outgoing.count);
                    return Sent::Done;
                }
                Verdict::Rejected(status) => {
                    add(&self.counters.dropped_rejected, outgoing.count);
                    tracing::warn!(target: "bugsnag_core", "Bugsnag refused a {:?} payload with {status}; it will not be retried", outgoing.kind);
                    return Sent::Done;
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
            if disk.whole.is_none() && !covered {
                disk.whole = self.hold(&outgoing);
                if disk.whole.is_some() {
                    self.forget(OnDisk { whole: None, parts: std::mem::take(&mut disk.parts) });
                }
            }
            if retry >= self.retry.max_retries {
                break;
            }
            retry += 1;
            add(&self.counters.retried, outgoing.count);
            // After a `Retry-After` the endpoint itself says when; otherwise back off.
            let backoff = if retry_after.is_some() { Duration::ZERO } else { self.retry.delay(retry - 1, None) };
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stopped.wait_for(|stop| *stop) => break,
            }
        }
        Sent::Unsent(outgoing)
    }

    /// Keeps an unsent payload for the next start: its own outbox file is given back,
    /// or it is written now (and the files of its events, which it covers, removed).
    pub(super) fn keep_on_disk(&self, outgoing: &Outgoing, mut disk: OnDisk) {
        match disk.whole.take() {
            Some(held) => self.release(held, outgoing.count),
            None => self.keep(outgoing),
        }
        self.forget(disk);
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
            .header("Bugsnag-Integrity", outgoing.integrity())
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
    pub(super) fn hold(&self, outgoing: &Outgoing) -> Option<Held> {
        let outbox = self.outbox.as_ref()?;
        outbox
            .hold(outgoing)
            .map_err(|e| tracing::error!(target: "bugsnag_core", "could not write to the Bugsnag outbox: {e}"))
            .ok()
    }

    /// Removes the files of a payload sent, refused for good, or dropped on purpose.
    pub(super) fn forget(&self, disk: OnDisk) {
        if let Some(outbox) = &self.outbox {
            disk.whole.into_iter().chain(disk.parts).for_each(|held| outbox.remove(held));
        }
    }

    /// Keeps an event whose stacks are not resolved yet for the next start; `false` when
    /// there is no outbox (or it failed, which is logged).
    pub(super) fn keep_unresolved(&self, api_key: &str, event: &Unresolved) -> bool {
        let Some(outbox) = &self.outbox else { return false };
        match outbox.write_unresolved(api_key, event) {
            Ok(()) => {
                add(&self.counters.persisted, 1);
                true
            }
            Err(e) => {
                tracing::error!(target: "bugsnag_core", "could not write to the Bugsnag outbox: {e}");
                false
            }
        }
    }

    /// Gives a held payload back to the outbox for the next start.
    pub(super) fn release(&self, held: Held, count: u64) {
        let Some(outbox) = &self.outbox else { return };
        match outbox.release(held) {
            Ok(()) => add(&self.counters.persisted, count),
            Err(e) => {
                add(&self.counters.dropped_undeliverable, count);
                tracing::error!(target: "bugsnag_core", "could not keep a payload in the Bugsnag outbox: {e}; dropped");
            }
        }
    }

    /// Keeps a payload for the next start, or drops it when there is no outbox.
    pub(super) fn keep(&self, outgoing: &Outgoing) {
        match &self.outbox {
            Some(outbox) => match outbox.write(outgoing) {
                Ok(()) => add(&self.counters.persisted, outgoing.count),
                Err(e) => {
                    add(&self.counters.dropped_undeliverable, outgoing.count);
                    tracing::error!(target: "bugsnag_core", "could not write to the Bugsnag outbox: {e}; payload dropped");
                }
            },
            None => add(&self.counters.dropped_undeliverable, outgoing.count),
        }
    }
}

/// A one-event payload with its event trimmed to half the limit, for a 413.
fn trimmed_harder_payload(outgoing: &Outgoing) -> Option<Outgoing> {
    let event = batch::events(&outgoing.body).pop()?;
    let event = trim::fit(event, trim::MAX_PAYLOAD_BYTES / 2 - ENVELOPE_BYTES)?;
    batch::payload(&outgoing.api_key, &[&event])
}
