//! Panic capture: one process-wide hook, chained to the previous one.
//!
//! At the panic point, where the stack is still whole, the hook captures the message, the
//! location and an unresolved backtrace. Inside a scope whose adapter catches panics
//! ([`Scope::catch_panics`]) it only stashes that capture in the scope, and the adapter
//! reports one event after `catch_unwind` ([`Client::notify_panic`]). Elsewhere it reports
//! an `unhandledPanic` event and waits, up to `panic_timeout`, for its delivery, because
//! the thread or process may be about to end.
//!
//! A panic inside the notifier (a callback, the delivery thread) is never reported, so the
//! hook cannot recurse; it takes no lock it could already hold, so it cannot deadlock.

use std::any::Any;
use std::cell::Cell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe, PanicHookInfo};
use std::pin::Pin;
use std::sync::{Once, RwLock};
use std::task::{Context, Poll};

use serde_json::{json, Value};

use crate::client::Client;
use crate::delivery::THREAD_NAME;
use crate::event::{Exception, SeverityReason};
use crate::scope::{Scope, Scoped};
use crate::stacktrace::Stacktrace;

/// The errorClass of every panic.
pub const PANIC_CLASS: &str = "panic";

static HOOK_CLIENT: RwLock<Option<Client>> = RwLock::new(None);
static INSTALL: Once = Once::new();

thread_local! {
    /// Set while this thread runs notifier code that may panic (callbacks, the hook).
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// What the hook saw at the panic point.
#[derive(Debug)]
pub(crate) struct PanicCapture {
    message: String,
    location: Option<String>,
    thread: Option<String>,
    stacktrace: Stacktrace,
}

impl PanicCapture {
    fn new(info: &PanicHookInfo<'_>) -> Self {
        Self {
            message: payload_message(info.payload()),
            location: info.location().map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column())),
            thread: std::thread::current().name().map(str::to_owned),
            stacktrace: Stacktrace::capture(),
        }
    }

    /// For a panic the hook did not see (another hook replaced ours).
    pub(crate) fn from_payload(payload: &(dyn Any + Send)) -> Self {
        Self {
            message: payload_message(payload),
            location: None,
            thread: std::thread::current().name().map(str::to_owned),
            stacktrace: Stacktrace::empty(),
        }
    }

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

/// Routes panics to `client`, installing the hook the first time.
pub(crate) fn install(client: Client) {
    *HOOK_CLIENT.write().unwrap_or_else(|p| p.into_inner()) = Some(client);
    ensure_hook();
}

/// Installs the hook (once per process) without choosing a client for panics outside
/// adapters; adapters call it so that panics they catch carry the panic point's stack.
pub fn ensure_hook() {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            hook(info);
            previous(info);
        }));
    });
}

/// Whether this thread is running notifier code (a callback, the hook), whose panics and
/// log records must not be reported.
pub(crate) fn is_quiet() -> bool {
    QUIET.try_with(Cell::get).unwrap_or(true)
}

/// Runs `f` with this thread's panics kept out of reports.
pub(crate) fn quietly<R>(f: impl FnOnce() -> R) -> R {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            let _ = QUIET.try_with(|q| q.set(self.0));
        }
    }
    let _reset = Reset(QUIET.try_with(|q| q.replace(true)).unwrap_or(true));
    f()
}

fn hook(info: &PanicHookInfo<'_>) {
    if is_quiet() || std::thread::current().name() == Some(THREAD_NAME) {
        return;
    }
    quietly(|| {
        let capture = PanicCapture::new(info);
        let scope = Scope::current();
        let readable = match scope.try_lock() {
            Some(mut data) if data.catches_panics.is_some() => {
                data.stashed_panic = Some(capture);
                return;
            }
            Some(_) => true,
            None => false,
        };
        // The scope's lock is held (this thread panicked inside configure_request):
        // report without its data rather than wait on it forever.
        let scope = if readable { scope } else { Scope::new() };
        let Some(client) = HOOK_CLIENT.try_read().ok().and_then(|c| c.clone()) else { return };
        if !client.config().auto_notify {
            return;
        }
        if client.report_panic(capture, SeverityReason::unhandled_panic(), &scope).is_queued() {
            client.flush(client.config().panic_timeout);
        }
    });
}

pin_project_lite::pin_project! {
    /// A future run in a scope whose panics are caught: it resolves to `Err(payload)` if
    /// polling panicked. Made by [`Scope::run_catching`]; must not be polled after that.
    pub struct CatchUnwind<F: Future> {
        #[pin]
        inner: Scoped<F>,
    }
}

impl<F: Future> CatchUnwind<F> {
    pub(crate) fn new(inner: Scoped<F>) -> Self {
        Self { inner }
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut inner = self.project().inner;
        match catch_unwind(AssertUnwindSafe(|| inner.as_mut().poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}
