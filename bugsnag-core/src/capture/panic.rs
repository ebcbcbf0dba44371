//! What the panic hook captures at the panic point.

use std::any::Any;
use std::panic::PanicHookInfo;

use serde_json::{json, Value};

use crate::model::{Correlation, Exception};
use crate::stacktrace::Stacktrace;

/// The errorClass of every panic.
pub(crate) const PANIC_CLASS: &str = "panic";

/// What the hook saw at the panic point.
#[derive(Debug)]
pub(crate) struct PanicCapture {
    message: String,
    location: Option<String>,
    thread: Option<String>,
    stacktrace: Stacktrace,
    correlation: Option<Correlation>,
}

impl PanicCapture {
    /// Message, location, thread and the unresolved stack, at the panic point.
    pub(crate) fn new(info: &PanicHookInfo<'_>) -> Self {
        Self {
            message: payload_message(info.payload()),
            location: info.location().map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column())),
            thread: std::thread::current().name().map(str::to_owned),
            stacktrace: Stacktrace::capture(),
            correlation: super::span_context::current(),
        }
    }

    /// For a panic the hook did not see (another hook replaced ours).
    pub(crate) fn from_payload(payload: &(dyn Any + Send)) -> Self {
        Self {
            message: payload_message(payload),
            location: None,
            thread: std::thread::current().name().map(str::to_owned),
            stacktrace: Stacktrace::empty(),
            correlation: None,
        }
    }

    /// Where it panicked, for the per-error budget.
    pub(crate) fn site(&self) -> Option<u64> {
        self.location.as_deref().map(|location| super::site_of(location, 0, 0))
    }

    /// The trace the panic happened in.
    pub(crate) fn correlation(&self) -> Option<Correlation> {
        self.correlation
    }

    /// The `panic` metaData tab.
    pub(crate) fn metadata(&self) -> Value {
        json!({ "location": self.location, "thread": self.thread })
    }

    /// The stack at the panic point, and a function making the exception around it.
    pub(crate) fn into_parts(self) -> (Stacktrace, impl FnOnce(Stacktrace) -> Vec<Exception>) {
        let message = self.message;
        (self.stacktrace, move |stacktrace| {
            vec![Exception { error_class: PANIC_CLASS.to_owned(), message, stacktrace }]
        })
    }
}

/// The text of a panic payload (`&str` and `String` payloads; others are named).
pub fn payload_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}
