//! The process-wide client and the free functions that use it, mirroring the Python
//! notifier's module-level `bugsnag.configure`, `bugsnag.notify`, `configure_request`...

use std::error::Error;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;
use std::time::Duration;

use serde_json::Value;

use crate::callbacks::Decision;
use crate::capture::{Options, Scope};
use crate::client::{Client, DropReason, Outcome};
use crate::config::Configuration;
use crate::model::{BreadcrumbType, Event};

static GLOBAL: RwLock<Option<Client>> = RwLock::new(None);
static WARNED_UNCONFIGURED: AtomicBool = AtomicBool::new(false);

/// Installs the process-wide client (and, when `auto_notify` is on, the panic hook and
/// the crash handlers, which also report the crashes earlier runs recorded).
///
/// Keep the returned guard alive for the life of the program, in a named binding:
/// dropping it waits up to `shutdown_timeout` for queued events to be sent and ends
/// reporting (`let _ = configure(..)` would drop it at once; later reports then return
/// [`DropReason::ShutDown`] and one line says why).
///
/// ```no_run
/// use bugsnag_core::Configuration;
///
/// let _bugsnag = bugsnag_core::configure(
///     Configuration::from_env().app_version("2.5.1").project_root("/srv/app"),
/// );
/// ```
pub fn configure(mut config: Configuration) -> Guard {
    // What could not be sent before the process ended is kept for the next start.
    if config.outbox && config.outbox_dir.is_none() {
        config.outbox_dir = crate::storage::program_dir();
        if config.outbox_dir.is_none() {
            crate::diagnostics::warn_once(crate::storage::NOTHING_KEPT);
        }
    }
    let client = Client::new(config);
    if client.config().auto_notify {
        client.install_panic_hook();
        crate::crash::install(&client);
    }
    *GLOBAL.write().unwrap_or_else(|p| p.into_inner()) = Some(client.clone());
    Guard { client }
}

/// The process-wide client, once [`configure`] has run.
pub fn client() -> Option<Client> {
    GLOBAL.read().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Ends the process-wide client when dropped: flushes what is queued (up to
/// `shutdown_timeout`), says what could not be sent, and refuses later reports. Returned
/// by [`configure`]; keep it in a named binding for the life of the program
/// (`let _bugsnag = configure(..)`): `let _ = configure(..)` drops it at once.
#[derive(Debug)]
#[must_use = "dropping the guard ends reporting: keep it in a named binding (`let _bugsnag = bugsnag_core::configure(..)`), not `let _`"]
pub struct Guard {
    client: Client,
}

impl Guard {
    /// The client this guard flushes.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Later reports are refused, with a line that names the likely mistake.
        self.client.close(crate::client::Closed::GuardDropped);
        let _ = self.client.shutdown(self.client.config().shutdown_timeout);
    }
}

fn with_client(f: impl FnOnce(&Client) -> Outcome) -> Outcome {
    match client() {
        Some(client) => f(&client),
        None => {
            if !WARNED_UNCONFIGURED.swap(true, Ordering::Relaxed) {
                tracing::warn!(target: "bugsnag_core", "bugsnag_core::notify called before bugsnag_core::configure; event dropped");
            }
            Outcome::Dropped(DropReason::NotConfigured)
        }
    }
}

/// Reports a handled error (severity `warning`) to the process-wide client.
///
/// ```no_run
/// let err = "x".parse::<u8>().unwrap_err();
/// bugsnag_core::notify(&err);
/// ```
#[track_caller]
pub fn notify<E: Error + ?Sized + 'static>(error: &E) -> Outcome {
    notify_with(error, Options::new())
}

/// Reports an error with per-call [`Options`].
#[track_caller]
pub fn notify_with<E: Error + ?Sized + 'static>(error: &E, options: Options) -> Outcome {
    let options = options.at(std::panic::Location::caller());
    with_client(|c| c.notify_with(error, options))
}

/// Reports a message with no error value (errorClass `Error`), severity `warning`.
///
/// ```no_run
/// bugsnag_core::notify_message("import skipped 3 rows");
/// ```
#[track_caller]
pub fn notify_message(message: impl Into<String>) -> Outcome {
    notify_message_with(message, Options::new())
}

/// Reports a message with per-call [`Options`].
#[track_caller]
pub fn notify_message_with(message: impl Into<String>, options: Options) -> Outcome {
    let options = options.at(std::panic::Location::caller());
    with_client(|c| c.notify_message_with(message, options))
}

/// Reports an `anyhow::Error`, given (`err`: cheaper, its backtrace is read on the
/// delivery thread) or borrowed (`&err`), with the backtrace it captured when there is
/// one; see [`AnyhowError`](crate::client::AnyhowError).
#[cfg(feature = "anyhow")]
#[track_caller]
pub fn notify_anyhow<'a>(error: impl Into<crate::client::AnyhowError<'a>>) -> Outcome {
    notify_anyhow_with(error, Options::new())
}

/// Reports an `anyhow::Error` with per-call [`Options`].
#[cfg(feature = "anyhow")]
#[track_caller]
pub fn notify_anyhow_with<'a>(error: impl Into<crate::client::AnyhowError<'a>>, options: Options) -> Outcome {
    let options = options.at(std::panic::Location::caller());
    with_client(|c| c.notify_anyhow_with(error, options))
}

/// Changes the current request's (or task's, or thread's) context, the Python
/// notifier's `bugsnag.configure_request`.
///
/// ```
/// use bugsnag_core::User;
///
/// bugsnag_core::configure_request(|scope| {
///     scope.set_context("/users");
///     scope.set_user(User::id("bob-hoskins").with_name("Bob Hoskins"));
/// });
/// ```
pub fn configure_request<R>(f: impl FnOnce(&Scope) -> R) -> R {
    f(&Scope::current())
}

/// Adds or updates a dashboard tab on the current request's events.
pub fn add_metadata_tab(name: impl Into<String>, value: Value) {
    Scope::current().add_metadata_tab(name, value);
}

/// Registers a callback on the process-wide client (see [`Client::before_notify`]).
pub fn before_notify(callback: impl Fn(&mut Event) -> Decision + Send + Sync + 'static) {
    match client() {
        Some(client) => client.before_notify(callback),
        None => crate::diagnostics::warn(
            "bugsnag_core::before_notify was called before bugsnag_core::configure; the callback is ignored (give it to the Configuration with `.before_notify(..)`, or call configure first)",
        ),
    }
}

/// Leaves a breadcrumb for the current request (or the process, outside one).
///
/// ```
/// use bugsnag_core::BreadcrumbType;
///
/// bugsnag_core::leave_breadcrumb("cache warmed", BreadcrumbType::State, serde_json::json!({"entries": 420}));
/// ```
pub fn leave_breadcrumb(name: impl Into<String>, kind: BreadcrumbType, metadata: Value) {
    if let Some(client) = client() {
        client.leave_breadcrumb(name, kind, metadata);
    }
}

/// Starts a session in the current scope (see [`Client::start_session`]).
pub fn start_session() {
    if let Some(client) = client() {
        client.start_session();
    }
}

/// Adds a feature flag to the current request's (or task's) scope, or, outside any,
/// to the process-wide client, so every later event carries it.
pub fn add_feature_flag(name: impl Into<String>, variant: Option<&str>) {
    match Scope::entered() {
        Some(scope) => scope.add_feature_flag(name, variant),
        None => {
            if let Some(client) = client() {
                client.add_feature_flag(name, variant);
            }
        }
    }
}

/// Removes a feature flag from the current request's scope, or, outside any, from the
/// process-wide client.
pub fn clear_feature_flag(name: &str) {
    match Scope::entered() {
        Some(scope) => scope.clear_feature_flag(name),
        None => {
            if let Some(client) = client() {
                client.clear_feature_flag(name);
            }
        }
    }
}

/// Removes every feature flag of the current request (or of the process, outside one).
pub fn clear_feature_flags() {
    match Scope::entered() {
        Some(scope) => scope.clear_feature_flags(),
        None => {
            if let Some(client) = client() {
                client.clear_feature_flags();
            }
        }
    }
}

/// Waits up to `timeout` for the process-wide client's queued events to be sent.
pub fn flush(timeout: Duration) -> bool {
    client().is_none_or(|c| c.flush(timeout))
}
