//! The panic hook: one per process, chained to the previous one (whose message still
//! prints).
//!
//! At the panic point, where the stack is still whole, it captures the message, the
//! location and an unresolved backtrace. Inside a scope whose adapter catches panics it
//! only stashes that capture in the scope, and the adapter reports one event after
//! `catch_unwind`. Elsewhere it reports an `unhandledPanic` event and waits, up to
//! `panic_timeout`, for its delivery, because the thread or process may be about to end
//! (not for a task's panic on an async runtime's worker, which ends the task only).
//!
//! A panic inside the notifier (a callback, the delivery thread) is never reported, so the
//! hook cannot recurse; it takes no lock it could already hold, so it cannot deadlock.

use std::panic::PanicHookInfo;
use std::sync::{Once, RwLock};

use crate::capture::panic::PanicCapture;
use crate::capture::Scope;
use crate::client::Client;
use crate::delivery::THREAD_NAME;
use crate::model::SeverityReason;
use crate::reentry;

static HOOK_CLIENT: RwLock<Option<Client>> = RwLock::new(None);
static INSTALL: Once = Once::new();

impl Client {
    /// Makes the panic hook report panics to this client (`configure` does this for the
    /// global client when `auto_notify` is on), installing the hook the first time.
    pub fn install_panic_hook(&self) {
        *HOOK_CLIENT.write().unwrap_or_else(|p| p.into_inner()) = Some(self.clone());
        ensure_hook();
    }
}

/// Installs the hook (once per process) without choosing a client for panics outside
/// adapters; adapters call it so that panics they catch carry the panic point's stack.
pub(crate) fn ensure_hook() {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            hook(info);
            previous(info);
        }));
    });
}

/// Whether this panic ends a task of an async runtime and nothing more: the runtime
/// catches it, and the worker thread and the process go on, so delivery need not be
/// awaited here, and awaiting it would stall every task of that worker (for up to
/// `panic_timeout` while Bugsnag is slow). The main thread's panic ends the program, and
/// under `panic = "abort"` every panic ends the process: those wait.
fn ends_a_task_only() -> bool {
    cfg!(panic = "unwind")
        && tokio::runtime::Handle::try_current().is_ok()
        && std::thread::current().name() != Some("main")
}

fn hook(info: &PanicHookInfo<'_>) {
    if reentry::is_quiet() || std::thread::current().name() == Some(THREAD_NAME) {
        return;
    }
    reentry::quietly(|| {
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
            // Under `panic = "abort"`, the abort that follows is this panic's end.
            crate::crash::panic_reported();
            if !ends_a_task_only() {
                client.flush(client.config().panic_timeout);
            }
        }
    });
}
