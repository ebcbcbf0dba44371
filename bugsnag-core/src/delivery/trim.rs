//! Keeping payloads under the API's 1 MB limit: an event that serializes larger is
//! trimmed, step by step, in the order DESIGN.md fixes (long metadata strings, then code
//! snippets, then the oldest breadcrumbs, then frames past the first few dozen), and the
//! steps taken are noted in its metadata (`notifier.trimmed`). It is never refused.

use serde_json::{json, Map, Value};

use crate::event::Event;

/// The API refuses bodies over 1 MB; stay under it with room for headers.
pub(crate) const MAX_PAYLOAD_BYTES: usize = 1_000_000;
/// Metadata strings longer than this are cut first.
const LONG_STRING: usize = 1024;
/// Frames kept per exception when frames must go.
const KEPT_FRAMES: usize = 30;

/// Serializes with `to_bytes`, trimming `event` until the result fits.
pub(crate) fn fit(event: &mut Event, to_bytes: impl Fn(&Event) -> Option<Vec<u8>>) -> Option<Vec<u8>> {
    let body = to_bytes(event)?;
    if body.len() <= MAX_PAYLOAD_BYTES {
        return Some(body);
    }
    let original = body.len();
    let mut taken: Vec<&str> = Vec::new();
    for (step, apply) in STEPS {
        apply(event);
        taken.push(step);
        let note = json!({ "trimmed": taken, "originalBytes": original, "limitBytes": MAX_PAYLOAD_BYTES });
        event.metadata.insert("notifier".to_owned(), note);
        match to_bytes(event) {
            Some(body) if body.len() <= MAX_PAYLOAD_BYTES => {
                tracing::debug!(target: "bugsnag_core", "Bugsnag event trimmed from {original} bytes: {taken:?}");
                return Some(body);
            }
            _ => {}
        }
    }
    to_bytes(event)
}

/// One way of making an event smaller, named for the note.
type Step = (&'static str, fn(&mut Event));

/// The trimming steps, in order.
const STEPS: [Step; 5] = [
    ("long metaData strings truncated", |e| truncate_strings(&mut e.metadata, LONG_STRING)),
    ("code snippets removed", |e| e.frames_mut().for_each(|f| f.code = None)),
    ("breadcrumbs removed", |e| e.breadcrumbs.clear()),
    ("frames past the first 30 removed", |e| e.exceptions.iter_mut().for_each(|x| x.stacktrace.truncate(KEPT_FRAMES))),
    // Last resort: everything that can be arbitrarily large, cut hard.
    ("metaData and messages cut to 64 characters", |e| {
        truncate_strings(&mut e.metadata, 64);
        e.exceptions.iter_mut().for_each(|x| truncate_string(&mut x.message, 64));
    }),
];

fn truncate_string(s: &mut String, max: usize) {
    if s.len() > max {
        let cut = (0..=max).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
        let dropped = s.len() - cut;
        s.truncate(cut);
        s.push_str(&format!("…[{dropped} bytes trimmed]"));
    }
}

fn truncate_strings(map: &mut Map<String, Value>, max: usize) {
    fn value(v: &mut Value, max: usize) {
        match v {
            Value::String(s) => truncate_string(s, max),
            Value::Array(items) => items.iter_mut().for_each(|i| value(i, max)),
            Value::Object(map) => map.values_mut().for_each(|i| value(i, max)),
            _ => {}
        }
    }
    map.values_mut().for_each(|v| value(v, max));
}
