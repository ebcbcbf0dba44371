//! The trace an event belongs to, read where the event is made: the active OpenTelemetry
//! span (feature `opentelemetry`; `tracing-opentelemetry` makes a `tracing` span's
//! context the active one when the span is entered), else the one a future carried with
//! [`in_current_scope`](super::InCurrentScope::in_current_scope) took from where it was
//! made; and, when the user opted in, the fields of the current `tracing` spans.

use std::cell::Cell;
use std::sync::OnceLock;

use serde_json::Value;

use crate::model::Correlation;

thread_local! {
    /// The link a [`Carried`] future restores while it is polled.
    static CARRIED: Cell<Option<Correlation>> = const { Cell::new(None) };
}

/// The trace of an event made now on this thread.
pub(crate) fn current() -> Option<Correlation> {
    active_span().or_else(|| CARRIED.try_with(Cell::get).ok().flatten())
}

impl Correlation {
    /// The trace an event made here would link to, before its options and its request's
    /// `traceparent` are looked at: the active OpenTelemetry span (feature
    /// `opentelemetry`), else the one a future carried here. To show the ids elsewhere,
    /// in a response header or an error page, say.
    ///
    /// ```
    /// assert_eq!(bugsnag_core::Correlation::current(), None); // no span is active
    /// ```
    pub fn current() -> Option<Self> {
        current()
    }
}

/// The active OpenTelemetry span, when it is valid and sampled.
#[cfg(feature = "opentelemetry")]
fn active_span() -> Option<Correlation> {
    use opentelemetry::trace::TraceContextExt;
    let read = || {
        opentelemetry::Context::map_current(|cx| {
            let span = cx.span();
            let context = span.span_context();
            if !context.is_valid() || !context.is_sampled() {
                return None;
            }
            let (trace, span) = (context.trace_id().to_bytes(), context.span_id().to_bytes());
            Correlation::new(u128::from_be_bytes(trace), u64::from_be_bytes(span))
        })
    };
    // `map_current` panics once OpenTelemetry's thread-local is gone: a report made from
    // another thread-local's destructor as the thread exits. No link then, rather than a
    // panic in a destructor, which aborts the process.
    crate::reentry::quietly(|| std::panic::catch_unwind(read)).ok().flatten()
}

#[cfg(not(feature = "opentelemetry"))]
fn active_span() -> Option<Correlation> {
    None
}

/// The trace current where a future was wrapped, restored on this thread while the
/// future is polled.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Carried(Option<Correlation>);

impl Carried {
    /// What is current now.
    pub(crate) fn here() -> Self {
        Self(current())
    }

    /// Makes this the carried trace until the returned guard is dropped.
    pub(crate) fn enter(self) -> Restore {
        let Some(link) = self.0 else { return Restore(None) };
        Restore(CARRIED.try_with(|carried| carried.replace(Some(link))).ok())
    }
}

/// Puts back the carried trace a poll found.
pub(crate) struct Restore(Option<Option<Correlation>>);

impl Drop for Restore {
    fn drop(&mut self) {
        if let Some(previous) = self.0 {
            let _ = CARRIED.try_with(|carried| carried.set(previous));
        }
    }
}

/// The metaData tab of span fields.
pub(crate) const SPANS_TAB: &str = "spans";

/// Reads the fields of the current `tracing` spans, outermost first, when the `tracing`
/// bridge was asked to record them; set once, by the bridge.
static SPAN_FIELDS: OnceLock<fn() -> Option<Value>> = OnceLock::new();

/// Registers the function that reads the current spans' fields.
#[cfg(feature = "tracing")]
pub(crate) fn read_span_fields_with(read: fn() -> Option<Value>) {
    let _ = SPAN_FIELDS.set(read);
}

/// The `spans` tab of an event made now, when span fields are recorded.
pub(crate) fn span_fields() -> Option<Value> {
    SPAN_FIELDS.get().and_then(|read| read())
}
