//! Session counts for the Session Tracking API: each unit of work (usually a request) is
//! one session. Starts are counted per minute and published by the delivery thread every
//! `session_publish_interval` and at flush.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::model::{App, Device, Kind, Outgoing, Session, NOTIFIER};
use crate::shared::Shared;

/// Session starts per minute, waiting to be published. The current minute is counted
/// with atomics; earlier minutes move to `closed` when the minute turns.
pub(crate) struct SessionTracker {
    enabled: bool,
    minute: AtomicU64,
    count: AtomicU64,
    closed: Mutex<BTreeMap<u64, u64>>,
    /// When counts were last taken to be sent (ms since the epoch; 0: never).
    last_taken: AtomicU64,
    api_key: Option<String>,
    app: App,
    device: Arc<Shared<Device>>,
}

impl SessionTracker {
    pub(crate) fn new(enabled: bool, api_key: Option<String>, app: App, device: Arc<Shared<Device>>) -> Self {
        Self {
            enabled,
            minute: AtomicU64::new(0),
            count: AtomicU64::new(0),
            closed: Mutex::default(),
            last_taken: AtomicU64::new(0),
            api_key,
            app,
            device,
        }
    }

    /// Starts a session, or `None` when sessions are off for this client.
    pub(crate) fn start(&self) -> Option<Session> {
        if !self.enabled {
            return None;
        }
        let started = SystemTime::now();
        let minute = started.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() / 60;
        let seen = self.minute.load(Ordering::Acquire);
        if seen != minute && self.minute.compare_exchange(seen, minute, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            self.close(seen, self.count.swap(1, Ordering::AcqRel));
        } else {
            self.count.fetch_add(1, Ordering::AcqRel);
        }
        Some(Session::new(started))
    }

    fn close(&self, minute: u64, count: u64) {
        if count > 0 {
            *self.closed.lock().unwrap_or_else(|p| p.into_inner()).entry(minute).or_default() += count;
        }
    }

    /// Whether counts wait to be sent and none were sent for `interval`.
    pub(crate) fn due(&self, interval: std::time::Duration) -> bool {
        let waiting =
            self.count.load(Ordering::Acquire) > 0 || !self.closed.lock().unwrap_or_else(|p| p.into_inner()).is_empty();
        let since = now_ms().saturating_sub(self.last_taken.load(Ordering::Acquire));
        waiting && u128::from(since) >= interval.as_millis()
    }

    /// The counts so far as a Session Tracking payload, emptying them.
    pub(crate) fn take_payload(&self) -> Option<Outgoing> {
        self.close(self.minute.load(Ordering::Acquire), self.count.swap(0, Ordering::AcqRel));
        let counts = std::mem::take(&mut *self.closed.lock().unwrap_or_else(|p| p.into_inner()));
        let api_key = self.api_key.clone()?;
        if counts.is_empty() {
            return None;
        }
        self.last_taken.store(now_ms(), Ordering::Release);
        let device = self.device.get();
        let body = json!({
            "notifier": NOTIFIER,
            "app": self.app,
            "device": *device,
            "sessionCounts": counts
                .into_iter()
                .map(|(minute, n)| json!({ "startedAt": crate::time::minute_start(minute), "sessionsStarted": n }))
                .collect::<Vec<_>>(),
        });
        Some(Outgoing { kind: Kind::Sessions, api_key, body: serde_json::to_vec(&body).ok()?.into(), count: 1 })
    }
}

fn now_ms() -> u64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
}
