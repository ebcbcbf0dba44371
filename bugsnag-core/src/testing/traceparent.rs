//! W3C `traceparent` values for adapter tests: one a server links its events to, and
//! malformed ones (hostile input) it must ignore without failing.

use serde_json::{json, Value};

/// A valid, sampled `traceparent` (the W3C recommendation's example).
pub const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// `traceparent` values that give no link: malformed, forbidden or unsampled.
pub const MALFORMED_TRACEPARENTS: &[&str] = &[
    "",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
    "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
    "zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01, 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01;vendor=x",
    "'; DROP TABLE traces; --",
];

/// Asserts, for each event, that it links to [`TRACEPARENT`] if and only if its request
/// sent exactly that `traceparent` header; returns how many do.
pub fn assert_linked_to_traceparent(events: &[Value]) -> usize {
    let link = json!({"traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "spanId": "00f067aa0ba902b7"});
    let mut linked = 0;
    for event in events {
        let sent = &event["request"]["headers"]["traceparent"];
        if sent == TRACEPARENT {
            assert_eq!(event["correlation"], link, "the caller's trace: {event:#}");
            linked += 1;
        } else {
            assert!(event.get("correlation").is_none(), "no link from traceparent {sent}: {event:#}");
        }
    }
    linked
}
