//! A session as events see it: one unit of work (usually a request), shared by the scope
//! that started it and the events reported in it, which carry its id and its handled and
//! unhandled counts, their own included.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::SystemTime;

use serde::Serialize;

/// One session. Starting one costs a few atomic operations: its id and start time are
/// only formatted when an event needs them, so requests that report nothing stay cheap.
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
#[non_exhaustive]
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
#[non_exhaustive]
pub struct SessionEvents {
    /// Handled events.
    pub handled: u64,
    /// Unhandled events.
    pub unhandled: u64,
}

impl Session {
    /// A session that started at `started`.
    pub(crate) fn new(started: SystemTime) -> Self {
        Self { id: OnceLock::new(), started, handled: AtomicU64::new(0), unhandled: AtomicU64::new(0) }
    }

    /// Its id (when an event made one), start (ms since the epoch) and event counts, read
    /// without allocating: what a crash handler records.
    pub(crate) fn as_recorded(&self) -> Option<(&str, u64, u64, u64)> {
        let started = self.started.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as u64;
        let counts = (self.handled.load(Ordering::Relaxed), self.unhandled.load(Ordering::Relaxed));
        Some((self.id.get()?.as_str(), started, counts.0, counts.1))
    }

    /// A session as a crash record kept it, with the crash counted.
    pub(crate) fn recorded(id: String, started_ms: u64, handled: u64, unhandled: u64) -> EventSession {
        let started = std::time::UNIX_EPOCH + std::time::Duration::from_millis(started_ms);
        EventSession {
            id,
            started_at: crate::time::format_time(started.into()),
            events: SessionEvents { handled, unhandled: unhandled + 1 },
        }
    }

    /// Counts one more event in this session and returns the event's view of it.
    pub(crate) fn count(&self, unhandled: bool) -> EventSession {
        let (handled, unhandled) = if unhandled {
            (self.handled.load(Ordering::Relaxed), self.unhandled.fetch_add(1, Ordering::Relaxed) + 1)
        } else {
            (self.handled.fetch_add(1, Ordering::Relaxed) + 1, self.unhandled.load(Ordering::Relaxed))
        };
        EventSession {
            id: self.id.get_or_init(|| uuid::Uuid::new_v4().to_string()).clone(),
            started_at: crate::time::format_time(self.started.into()),
            events: SessionEvents { handled, unhandled },
        }
    }
}
