//! Sessions (the Session Tracking API): each unit of work (usually a request) is one
//! session. Starts are counted per minute and published by the delivery thread every
//! `session_publish_interval` and at flush; events reported inside a session carry its id
//! and its handled/unhandled counts, this event included.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::json;

use crate::delivery::{Kind, Outgoing, NOTIFIER};
use crate::event::{App, Device};

/// One session, shared by the scope that started it and the events reported in it.
///
/// Starting one costs a few atomic operations: its id and start time are only formatted
/// when an event needs them, so requests that report nothing stay cheap.
#[derive(Debug)]
pub(crate) struct Session {
    id: OnceLock<String>,
    started: SystemTime,
    handled: AtomicU64,
    unhandled: AtomicU64,
}

/// A session as it appears on an event.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventSession {
    /// The session's id.
    pub id: String,
    /// When it started, RFC 3339.
    pub started_at: String,
    /// Events reported in it so far, this one included.
    pub events: SessionEvents,
}

/// Handled and unhandled event counts of a session.
#[derive(Debug, Clone, Serialize)]
pub struct SessionEvents {
    /// Handled events.
    pub handled: u64,
    /// Unhandled events.
    pub unhandled: u64,
}

impl Session {
    /// Counts one more event in this session and returns the event's view of it.
    pub(crate) fn count(&self, unhandled: bool) -> EventSession {
        let (handled, unhandled) = if unhandled {
            (self.handled.load(Ordering::Relaxed), self.unhandled.fetch_add(1, Ordering::Relaxed) + 1)
        } else {
            (self.handled.fetch_add(1, Ordering::Relaxed) + 1, self.unhandled.load(Ordering::Relaxed))
        };
        EventSession {
            id: self.id.get_or_init(|| uuid::Uuid::new_v4().to_string()).clone(),
            started_at: crate::delivery::format_time(self.started.into()),
            events: SessionEvents { handled, unhandled },
        }
    }
}

/// Session starts per minute, waiting to be published. The current minute is counted
/// with atomics; earlier minutes move to `closed` when the minute turns.
pub(crate) struct SessionTracker {
    enabled: bool,
    minute: AtomicU64,
    count: AtomicU64,
    closed: Mutex<BTreeMap<u64, u64>>,
    api_key: Option<String>,
    app: App,
    device: Arc<Mutex<Device>>,
}

impl SessionTracker {
    pub(crate) fn new(enabled: bool, api_key: Option<String>, app: App, device: Arc<Mutex<Device>>) -> Self {
        Self {
            enabled,
            minute: AtomicU64::new(0),
            count: AtomicU64::new(0),
            closed: Mutex::default(),
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
        Some(Session { id: OnceLock::new(), started, handled: AtomicU64::new(0), unhandled: AtomicU64::new(0) })
    }

    fn close(&self, minute: u64, count: u64) {
        if count > 0 {
            *self.closed.lock().unwrap_or_else(|p| p.into_inner()).entry(minute).or_default() += count;
        }
    }

    /// The counts so far as a Session Tracking payload, emptying them.
    pub(crate) fn take_payload(&self) -> Option<Outgoing> {
        self.close(self.minute.load(Ordering::Acquire), self.count.swap(0, Ordering::AcqRel));
        let counts = std::mem::take(&mut *self.closed.lock().unwrap_or_else(|p| p.into_inner()));
        let api_key = self.api_key.clone()?;
        if counts.is_empty() {
            return None;
        }
        let device = self.device.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let body = json!({
            "notifier": NOTIFIER,
            "app": self.app,
            "device": device,
            "sessionCounts": counts
                .into_iter()
                .map(|(minute, n)| json!({ "startedAt": minute_start(minute), "sessionsStarted": n }))
                .collect::<Vec<_>>(),
        });
        Some(Outgoing { kind: Kind::Sessions, api_key, body: serde_json::to_vec(&body).ok()? })
    }
}

/// The start of a minute counted since the epoch, as RFC 3339.
fn minute_start(minute: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp((minute * 60) as i64).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    crate::delivery::format_minute(t)
}
