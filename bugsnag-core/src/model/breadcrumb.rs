//! Breadcrumbs: what happened before an error.
//!
//! A [`Scope`](crate::Scope) made with `Scope::new()` (each request or job) keeps its own
//! ring, so concurrent requests never see each other's breadcrumbs; breadcrumbs left
//! outside such a scope go to the client's ring. An event carries both, merged by time,
//! at most `max_breadcrumbs` (25 by default, 0 to 100).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::ser::{SerializeSeq, Serializer};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The most breadcrumbs the API accepts on one event.
pub(crate) const MAX_BREADCRUMBS: usize = 100;

/// What kind of thing a breadcrumb records (the API's `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BreadcrumbType {
    /// A change of page or route, such as a request being served.
    Navigation,
    /// An outgoing request.
    Request,
    /// A process or job event.
    Process,
    /// A log message.
    Log,
    /// A user action.
    User,
    /// A change of state.
    State,
    /// An error that was reported.
    Error,
    /// Anything else; the default.
    Manual,
}

/// One breadcrumb.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Breadcrumb {
    /// When it happened, RFC 3339 in UTC.
    pub timestamp: String,
    /// A short summary.
    pub name: String,
    /// What kind of thing it records.
    #[serde(rename = "type")]
    pub kind: BreadcrumbType,
    /// Details; redacted by `params_filters` like event metadata.
    #[serde(rename = "metaData", skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
}

impl Breadcrumb {
    /// A breadcrumb that happened now; `metadata` objects become its details, other values
    /// land under the key `value`, and `null` means none.
    pub fn new(name: impl Into<String>, kind: BreadcrumbType, mut metadata: Value) -> Self {
        crate::limits::cap_depth(&mut metadata);
        let metadata = match metadata {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            other => Map::from_iter([("value".to_owned(), other)]),
        };
        Self { timestamp: crate::time::now_rfc3339(), name: name.into(), kind, metadata }
    }

    /// Sets when it happened.
    pub fn at(mut self, time: std::time::SystemTime) -> Self {
        self.timestamp = crate::time::format_time(time.into());
        self
    }
}

/// Breadcrumbs a thread keeps written (see [`serialize_shared`]); past this it starts again.
const WRITTEN_BREADCRUMBS: usize = 256;

/// An event's breadcrumbs, each written once while it is shared: every event carries the
/// last 25, so each would otherwise be written (and its text escaped) 25 times. Kept per
/// thread (the delivery thread's), by address, with the breadcrumb itself: while held
/// here it can be neither freed (so its address is not reused) nor changed in place
/// (`Arc::make_mut` copies a shared value, as redaction does).
pub(crate) fn serialize_shared<S: Serializer>(crumbs: &[Arc<Breadcrumb>], serializer: S) -> Result<S::Ok, S::Error> {
    /// A breadcrumb, held, and its text.
    type Written = (Arc<Breadcrumb>, Box<RawValue>);
    thread_local! {
        static WRITTEN: RefCell<FxHashMap<usize, Written>> = RefCell::default();
    }
    let mut seq = serializer.serialize_seq(Some(crumbs.len()))?;
    for crumb in crumbs {
        let key = Arc::as_ptr(crumb) as usize;
        let written = WRITTEN.try_with(|written| {
            let mut written = written.try_borrow_mut().ok()?;
            if !written.contains_key(&key) {
                let json = serde_json::value::to_raw_value(&**crumb).ok()?;
                if written.len() >= WRITTEN_BREADCRUMBS {
                    written.clear();
                }
                written.insert(key, (crumb.clone(), json));
            }
            written.get(&key).map(|(_, json)| seq.serialize_element(json))
        });
        match written.ok().flatten() {
            Some(result) => result?,
            None => seq.serialize_element(&**crumb)?,
        }
    }
    seq.end()
}

/// A ring of the most recent breadcrumbs. They are shared (`Arc`) with the events that
/// carry them, so building an event copies no breadcrumb.
#[derive(Debug, Default, Clone)]
pub(crate) struct Ring(VecDeque<Arc<Breadcrumb>>);

impl Ring {
    /// A ring that never allocates again until it holds more than `max`.
    pub(crate) fn with_capacity(max: usize) -> Self {
        Self(VecDeque::with_capacity(max))
    }

    /// Adds a breadcrumb, returning the one it pushed out: the caller drops it after
    /// releasing the ring's lock, so nothing is freed under it.
    #[must_use = "drop the breadcrumb pushed out after releasing the lock"]
    pub(crate) fn push(&mut self, crumb: Arc<Breadcrumb>, max: usize) -> Option<Arc<Breadcrumb>> {
        if max == 0 {
            return Some(crumb);
        }
        let evicted = if self.0.len() >= max { self.0.pop_front() } else { None };
        // A lower limit than before (never, in practice) shortens the ring here.
        while self.0.len() >= max {
            self.0.pop_front();
        }
        self.0.push_back(crumb);
        evicted
    }

    /// Newest first.
    pub(crate) fn newest_first(&self) -> impl Iterator<Item = &Arc<Breadcrumb>> {
        self.0.iter().rev()
    }

    /// Copies the newest `max` breadcrumbs (pointers only) into `out`, newest first; with
    /// room made beforehand, this allocates nothing.
    pub(crate) fn copy_newest(&self, max: usize, out: &mut Vec<Arc<Breadcrumb>>) {
        out.extend(self.newest_first().take(max).cloned());
    }
}

/// Merges a scope's breadcrumbs (preceded by the one that started its unit of work) and
/// the client's (newest first) into one list, newest first, at most `max` long.
pub(crate) fn merge(
    scope: Option<&Ring>,
    start: Option<Breadcrumb>,
    client: &[Arc<Breadcrumb>],
    max: usize,
) -> Vec<Arc<Breadcrumb>> {
    let start = start.map(Arc::new);
    let mut a = scope.into_iter().flat_map(Ring::newest_first).chain(start.as_ref()).peekable();
    let mut b = client.iter().peekable();
    let mut out = Vec::with_capacity(max.min(a.size_hint().0 + b.size_hint().0));
    while out.len() < max {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x.timestamp >= y.timestamp => a.next(),
            (Some(_), Some(_)) => b.next(),
            (Some(_), None) => a.next(),
            (None, _) => b.next(),
        };
        match next {
            Some(crumb) => out.push(crumb.clone()),
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(crumbs: &[Arc<Breadcrumb>]) -> String {
        let mut out = Vec::new();
        serialize_shared(crumbs, &mut serde_json::Serializer::new(&mut out)).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Written once, a breadcrumb is held with its text: one changed afterwards (a
    /// callback's `Arc::make_mut`, redaction) is a copy, written anew, never the stale text.
    #[test]
    fn a_breadcrumb_changed_after_it_was_written_is_written_changed() {
        let mut crumbs = vec![Arc::new(crumb("before", "2026-01-01T00:00:00.000Z"))];
        let first = written(&crumbs);
        assert!(first.contains("\"before\""), "{first}");
        // The event's is the only handle but the one written ones are kept by.
        Arc::make_mut(&mut crumbs[0]).name = "after".into();
        let second = written(&crumbs);
        assert!(second.contains("\"after\"") && !second.contains("before"), "{second}");
        assert_eq!(written(&crumbs), second, "written once, the same text");
    }

    fn crumb(name: &str, at: &str) -> Breadcrumb {
        Breadcrumb { timestamp: at.into(), name: name.into(), kind: BreadcrumbType::Manual, metadata: Map::new() }
    }

    #[test]
    fn the_ring_keeps_the_newest_and_merging_orders_by_time() {
        let mut client = Ring::default();
        let mut scope = Ring::default();
        let mut evicted = Vec::new();
        for (i, at) in ["01", "03", "05"].iter().enumerate() {
            evicted.extend(client.push(Arc::new(crumb(&format!("c{i}"), at)), 2));
        }
        assert_eq!(evicted.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["c0"], "handed back, not freed");
        assert!(scope.push(Arc::new(crumb("s0", "04")), 2).is_none());
        let start = crumb("start", "02");
        let mut newest = Vec::new();
        client.copy_newest(25, &mut newest);
        let names: Vec<String> = merge(Some(&scope), Some(start), &newest, 25).iter().map(|c| c.name.clone()).collect();
        assert_eq!(names, ["c2", "s0", "c1", "start"], "c0 left the ring of 2");
        assert_eq!(merge(Some(&scope), None, &newest, 1).len(), 1);
    }
}
