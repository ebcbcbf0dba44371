//! Keeping event payloads under the API's 1 MB limit. A body that is too large is
//! trimmed, step by step, in the order DESIGN.md fixes: long metadata strings, code
//! snippets, the oldest breadcrumbs, frames past the first few dozen, then whatever else
//! is large (keys, tabs, arrays, numbers, user, request, feature flags, causes), down
//! to a last step that keeps only the outermost error's class, message and first
//! frames. The steps taken are noted in `metaData.notifier.trimmed`. Every body this
//! returns is at most the limit; an event that cannot be made to fit (it always can)
//! is dropped with a log line rather than sent to be refused.

use serde_json::{json, Map, Value};

/// The API refuses bodies over 1 MB.
pub(crate) const MAX_PAYLOAD_BYTES: usize = 1_000_000;
/// Frames kept per exception when frames must go.
const KEPT_FRAMES: usize = 30;

/// `body` (one serialized event) if it fits in `limit` bytes, else a trimmed copy.
pub(crate) fn fit(body: Vec<u8>, limit: usize) -> Option<Vec<u8>> {
    if body.len() <= limit {
        return Some(body);
    }
    let original = body.len();
    let mut payload: Value = serde_json::from_slice(&body).ok()?;
    drop(body);
    let mut taken: Vec<&str> = Vec::new();
    for (step, apply) in STEPS {
        let Some(event) = payload.as_object_mut() else { break };
        apply(event);
        taken.push(step);
        let note = json!({ "trimmed": taken, "originalBytes": original, "limitBytes": limit });
        let metadata = event.entry("metaData").or_insert(Value::Null);
        if !metadata.is_object() {
            *metadata = Value::Object(Map::new());
        }
        if let Some(metadata) = metadata.as_object_mut() {
            metadata.insert("notifier".to_owned(), note);
        }
        match serde_json::to_vec(&payload) {
            Ok(body) if body.len() <= limit => {
                tracing::debug!(target: "bugsnag_core", "Bugsnag event trimmed from {original} bytes: {taken:?}");
                return Some(body);
            }
            _ => {}
        }
    }
    tracing::error!(target: "bugsnag_core", "a Bugsnag event of {original} bytes could not be trimmed under {limit}; dropped");
    None
}

/// One way of making an event smaller, named for the note.
type Step = (&'static str, fn(&mut Map<String, Value>));

/// The trimming steps, in order; each keeps what the earlier ones left.
const STEPS: [Step; 8] = [
    ("long metaData strings truncated", |e| cut_strings(field(e, "metaData"), 1024)),
    ("code snippets removed", |e| frames(e, |frame| drop(frame.remove("code")))),
    ("oldest breadcrumbs removed", |e| {
        // Breadcrumbs are sent oldest first: keep the newest ten.
        if let Some(Value::Array(crumbs)) = e.get_mut("breadcrumbs") {
            let excess = crumbs.len().saturating_sub(10);
            crumbs.drain(..excess);
        }
    }),
    ("frames past the first 30 removed", |e| {
        exceptions(e, |x| {
            if let Some(Value::Array(frames)) = x.get_mut("stacktrace") {
                frames.truncate(KEPT_FRAMES);
            }
        })
    }),
    ("breadcrumbs removed", |e| drop(e.remove("breadcrumbs"))),
    ("every string cut to 256 characters and every list and object to 100 entries", |e| {
        e.values_mut().for_each(|v| shrink(v, 256, 100))
    }),
    ("metaData, request, user, feature flags and causes removed", |e| {
        for key in ["metaData", "request", "user", "featureFlags", "groupingHash"] {
            e.remove(key);
        }
        if let Some(Value::Array(list)) = e.get_mut("exceptions") {
            list.truncate(1);
        }
    }),
    ("all but the error's class, message and first frames removed", |e| {
        let keep = ["exceptions", "severity", "severityReason", "unhandled", "app", "device", "session", "context"];
        e.retain(|key, _| keep.contains(&key.as_str()));
        e.values_mut().for_each(|v| shrink(v, 128, 30));
    }),
];

fn field<'a>(event: &'a mut Map<String, Value>, name: &str) -> &'a mut Value {
    event.entry(name).or_insert(Value::Null)
}

fn exceptions(event: &mut Map<String, Value>, mut f: impl FnMut(&mut Map<String, Value>)) {
    if let Some(Value::Array(list)) = event.get_mut("exceptions") {
        list.iter_mut().filter_map(Value::as_object_mut).for_each(&mut f);
    }
}

fn frames(event: &mut Map<String, Value>, mut f: impl FnMut(&mut Map<String, Value>)) {
    exceptions(event, |x| {
        if let Some(Value::Array(frames)) = x.get_mut("stacktrace") {
            frames.iter_mut().filter_map(Value::as_object_mut).for_each(&mut f);
        }
    });
}

/// Cuts a string to `max` bytes (at a character boundary), saying how much went.
fn cut(s: &mut String, max: usize) {
    if s.len() > max {
        let at = (0..=max).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
        let dropped = s.len() - at;
        s.truncate(at);
        s.push_str(&format!("…[{dropped} bytes trimmed]"));
    }
}

fn cut_strings(value: &mut Value, max: usize) {
    // Depth is bounded: the body was parsed by serde_json, which refuses deep nesting.
    match value {
        Value::String(s) => cut(s, max),
        Value::Array(items) => items.iter_mut().for_each(|i| cut_strings(i, max)),
        Value::Object(map) => map.values_mut().for_each(|i| cut_strings(i, max)),
        _ => {}
    }
}

/// Cuts every string to `max_len` bytes, every list and object to `max_items` entries,
/// and every key to `max_len` bytes.
fn shrink(value: &mut Value, max_len: usize, max_items: usize) {
    match value {
        Value::String(s) => cut(s, max_len),
        Value::Array(items) => {
            items.truncate(max_items);
            items.iter_mut().for_each(|i| shrink(i, max_len, max_items));
        }
        Value::Object(map) => {
            let entries = std::mem::take(map);
            for (mut key, mut item) in entries.into_iter().take(max_items) {
                cut(&mut key, max_len);
                shrink(&mut item, max_len, max_items);
                map.insert(key, item);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(event: Value) -> Vec<u8> {
        serde_json::to_vec(&event).unwrap()
    }

    fn event_with(extra: Value) -> Value {
        let mut event = json!({
            "exceptions": [{"errorClass": "E", "message": "m", "stacktrace": []}],
            "severity": "warning", "unhandled": false, "severityReason": {"type": "handledError"},
            "app": {}, "device": {},
        });
        event.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        event
    }

    fn trimmed(body: &[u8]) -> Value {
        let value: Value = serde_json::from_slice(body).unwrap();
        value["metaData"]["notifier"]["trimmed"].clone()
    }

    #[test]
    fn whatever_is_large_the_body_fits() {
        let many_short: Map<String, Value> = (0..70_000).map(|i| (format!("k{i}"), json!("value"))).collect();
        let long_key = "k".repeat(1_500_000);
        let flags: Vec<Value> = (0..40_000).map(|i| json!({"featureFlag": format!("flag-{i}")})).collect();
        let crumbs: Vec<Value> =
            (0..20_000).map(|i| json!({"name": format!("crumb {i}"), "timestamp": "t", "type": "log"})).collect();
        let cases = [
            json!({"metaData": {"tab": many_short}}),
            json!({"metaData": {long_key.clone(): 1}}),
            json!({"featureFlags": flags}),
            json!({"breadcrumbs": crumbs}),
            json!({"context": "c".repeat(600_000), "groupingHash": "g".repeat(600_000)}),
            json!({"user": {"id": "u".repeat(600_000)}, "request": {"url": "u".repeat(600_000)}}),
        ];
        for (i, extra) in cases.into_iter().enumerate() {
            let body = fit(payload(event_with(extra)), MAX_PAYLOAD_BYTES).expect("every event can be made to fit");
            assert!(body.len() <= MAX_PAYLOAD_BYTES, "case {i}: {} bytes", body.len());
            assert!(trimmed(&body).as_array().is_some_and(|t| !t.is_empty()), "case {i} says what went");
        }
    }

    #[test]
    fn a_fitting_body_is_untouched_and_a_harder_limit_trims_more() {
        let body = payload(event_with(json!({"metaData": {"tab": {"note": "x".repeat(600_000)}}})));
        assert_eq!(fit(body.clone(), MAX_PAYLOAD_BYTES), Some(body.clone()));
        let harder = fit(body, MAX_PAYLOAD_BYTES / 2).unwrap();
        assert!(harder.len() <= MAX_PAYLOAD_BYTES / 2);
        assert_eq!(trimmed(&harder), json!(["long metaData strings truncated"]));
    }
}
